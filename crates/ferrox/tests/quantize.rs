//! to_fp8 / from_fp8 (E4M3) against the format's definition; affine quantization against
//! its packing and rounding rule and the product with the dequantized weights; the fp
//! modes (mxfp4, mxfp8, nvfp4) against values MLX 0.32.4 gives; batched weights,
//! gather_qmm and qqmm.

mod common;
use ferrox::{ops, Array, Dtype, Error};

/// Every finite code decodes to its value and encodes back to itself; halfway values
/// round to the even code; large values, infinities and NaN saturate.
#[test]
fn fp8_codes_round_trip_and_ties_go_to_even() {
    let codes: Vec<u8> = (0..=255).collect();
    let values = ops::from_fp8(&Array::from_slice(&codes, &[256]).unwrap(), Dtype::Float32)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    for (c, v) in values.iter().enumerate() {
        let (e, m) = ((c >> 3) & 15, c & 7);
        if (e, m) == (15, 7) {
            assert!(v.is_nan(), "code {c}");
            continue;
        }
        let mag = if e == 0 {
            m as f32 / 512.0
        } else {
            (1.0 + m as f32 / 8.0) * 2f32.powi(e as i32 - 7)
        };
        assert_eq!(v.abs(), mag, "code {c}");
        assert_eq!(v.is_sign_negative(), c >= 128, "code {c}");
    }
    let finite: Vec<f32> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let back = ops::to_fp8(&Array::from_slice(&finite, &[finite.len()]).unwrap()).unwrap();
    let want: Vec<u8> = codes.iter().copied().filter(|c| c & 0x7f != 0x7f).collect();
    assert_eq!(back.to_vec::<u8>().unwrap(), want);
    let odd = [
        1.0625f32,
        1.1875,
        0.0009765625,
        0.0029296875,
        449.0,
        f32::INFINITY,
        -1e9,
        f32::NAN,
        -f32::NAN,
    ];
    let got = ops::to_fp8(&Array::from_slice(&odd, &[odd.len()]).unwrap()).unwrap();
    // A NaN keeps its sign, as in MLX: -NaN is the code of -448.
    assert_eq!(
        got.to_vec::<u8>().unwrap(),
        [56, 58, 0, 2, 126, 126, 254, 126, 254]
    );
}

#[test]
fn fp8_rejects_other_dtypes() {
    let ints = Array::from_slice(&[1i32, 2], &[2]).unwrap();
    assert!(matches!(ops::to_fp8(&ints), Err(Error::Invalid(_))));
    assert!(matches!(
        ops::from_fp8(&ints, Dtype::Float32),
        Err(Error::Invalid(_))
    ));
    let codes = Array::from_slice(&[1u8], &[1]).unwrap();
    assert!(matches!(
        ops::from_fp8(&codes, Dtype::Int32),
        Err(Error::Invalid(_))
    ));
}

// ---- affine quantization ---------------------------------------------------------------

/// Codes of a packed row: a little-endian bit stream, `bits` per code.
fn unpack(words: &[u32], bits: usize, n: usize) -> Vec<u32> {
    (0..n)
        .map(|j| {
            let mut c = 0;
            for t in 0..bits {
                let b = j * bits + t;
                c |= ((words[b / 32] >> (b % 32)) & 1) << t;
            }
            c
        })
        .collect()
}

#[test]
fn affine_quantize_represents_each_value_within_one_step() {
    for bits in [1usize, 2, 3, 4, 5, 6, 8] {
        for gs in [32usize, 64, 128] {
            let mut rng = common::Lcg(bits as u64 * 131 + gs as u64);
            let (w, wv) = common::random_array(&[3, 256], Dtype::Float32, -2.0, 2.0, &mut rng);
            let q = ops::quantize(&w, Some(gs), Some(bits), "affine", None).unwrap();
            assert_eq!(q.wq.shape(), &[3, 256 * bits / 32]);
            assert_eq!(q.scales.shape(), &[3, 256 / gs]);
            let words = q.wq.to_vec::<u32>().unwrap();
            let scales = q.scales.to_vec::<f32>().unwrap();
            let biases = q.biases.as_ref().unwrap().to_vec::<f32>().unwrap();
            let back = affine_full(&q, gs, bits);
            let per_row = 256 * bits / 32;
            for r in 0..3 {
                let codes = unpack(&words[r * per_row..(r + 1) * per_row], bits, 256);
                for j in 0..256 {
                    let g = r * (256 / gs) + j / gs;
                    assert!(codes[j] < 1 << bits);
                    let v = codes[j] as f32 * scales[g] + biases[g];
                    assert!((back[r * 256 + j] - v).abs() <= 1e-6 * (1.0 + v.abs()));
                    let err = (v as f64 - wv[r * 256 + j]).abs();
                    assert!(
                        err <= scales[g].abs() as f64 + 1e-5,
                        "bits {bits} gs {gs}: {err}"
                    );
                }
            }
        }
    }
}

#[test]
fn quantized_matmul_equals_the_product_with_the_dequantized_weights() {
    let mut rng = common::Lcg(77);
    for bits in [2usize, 3, 4, 8] {
        // Up to 64 rows of x: matrix-vector passes of 4 rows (9: a partial last one);
        // 70: the weights expanded for a GEMM.
        for (m, transpose) in [
            (1usize, true),
            (3, true),
            (9, true),
            (64, true),
            (70, true),
            (1, false),
            (5, false),
        ] {
            let (rows, cols) = (40usize, 128usize);
            let (w, _) = common::random_array(&[rows, cols], Dtype::Float32, -1.0, 1.0, &mut rng);
            let q = ops::quantize(&w, Some(32), Some(bits), "affine", None).unwrap();
            let k = if transpose { cols } else { rows };
            let (x, _) = common::random_array(&[m, k], Dtype::Float32, -1.0, 1.0, &mut rng);
            let y = ops::quantized_matmul(
                &x,
                &q.wq,
                &q.scales,
                q.biases.as_ref(),
                transpose,
                Some(32),
                Some(bits),
                "affine",
            )
            .unwrap();
            let full = ops::dequantize(
                &q.wq,
                &q.scales,
                q.biases.as_ref(),
                Some(32),
                Some(bits),
                "affine",
                None,
                None,
            )
            .unwrap();
            let full = if transpose {
                ops::transpose(&full, &[1, 0]).unwrap()
            } else {
                full
            };
            let want = ops::matmul(&x, &full).unwrap().to_vec::<f32>().unwrap();
            let got = y.to_vec::<f32>().unwrap();
            assert_eq!(got.len(), want.len());
            for (g, e) in got.iter().zip(&want) {
                assert!(
                    (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                    "bits {bits} m {m}: {g} vs {e}"
                );
            }
        }
    }
}

/// The product for a few rows of `x` (the matrix-vector kernels: AVX-512 VNNI for 4
/// bits, AVX-512 float lanes for 2 and 8, the portable lanes and code-by-code kernels
/// elsewhere) against float64 sums over the dequantized weights, on odd row counts,
/// 1 to 4 rows of `x`, widths that fit a kernel's span and widths that do not (and 68
/// groups: the VNNI kernel's scales come 16 groups at a time), and rows of `x` whose
/// spans differ in magnitude by up to 1e6 (or are zero): within a few float32 roundings
/// of `sum |w * x|`.
/// The floats that affine weights `q` stand for.
fn affine_full(q: &ops::Quantized, gs: usize, bits: usize) -> Vec<f32> {
    let biases = q.biases.as_ref();
    ops::dequantize(
        &q.wq,
        &q.scales,
        biases,
        Some(gs),
        Some(bits),
        "affine",
        None,
        None,
    )
    .unwrap()
    .to_vec::<f32>()
    .unwrap()
}

/// `x @ w.T` for affine weights `q` of `w`, as floats.
fn affine_matvec(x: &Array, q: &ops::Quantized, gs: usize, bits: usize) -> Vec<f32> {
    let biases = q.biases.as_ref();
    ops::quantized_matmul(
        x,
        &q.wq,
        &q.scales,
        biases,
        true,
        Some(gs),
        Some(bits),
        "affine",
    )
    .unwrap()
    .to_vec::<f32>()
    .unwrap()
}

/// Asserts that `got` (`m x n`) is `xv` (`m x k`) times the transpose of `full`
/// (`n x k`) within `tol` of float64 sums, relative to each sum of |products|.
fn assert_products_close(
    got: &[f32],
    full: &[f32],
    xv: &[f32],
    (m, n, k): (usize, usize, usize),
    tol: f64,
    what: &str,
) {
    for i in 0..m {
        for r in 0..n {
            let (mut want, mut size) = (0.0f64, 0.0f64);
            for j in 0..k {
                let p = full[r * k + j] as f64 * xv[i * k + j] as f64;
                want += p;
                size += p.abs();
            }
            let g = got[i * n + r] as f64;
            assert!(
                (g - want).abs() <= tol * size,
                "{what} ({i}, {r}): {g} vs {want} (size {size})"
            );
        }
    }
}

#[test]
fn quantized_matvec_matches_a_float64_reference() {
    let mut rng = common::Lcg(2024);
    for bits in [2usize, 3, 4, 5, 6, 8] {
        for gs in [32usize, 64, 128] {
            for (n, k) in [
                (37usize, 512usize),
                (129, 4096),
                (5, 384),
                (3, 2176),
                (3, 64),
                (1, 128),
            ] {
                if k % gs != 0 {
                    continue;
                }
                let (w, _) = common::random_array(&[n, k], Dtype::Float32, -1.0, 1.0, &mut rng);
                let q = ops::quantize(&w, Some(gs), Some(bits), "affine", None).unwrap();
                let full = affine_full(&q, gs, bits);
                for m in 1..=4usize {
                    let mut xv: Vec<f32> =
                        (0..m * k).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
                    // Spans of 128 values at different scales, one of them all zero.
                    for (c, chunk) in xv.chunks_mut(128).enumerate() {
                        let f = [1.0f32, 1e-3, 1e3, 0.0, 1e-6, 7.5][(c + m) % 6];
                        chunk.iter_mut().for_each(|v| *v *= f);
                    }
                    let x = Array::from_slice(&xv, &[m, k]).unwrap();
                    let got = affine_matvec(&x, &q, gs, bits);
                    assert_eq!(got.len(), m * n);
                    let what = format!("bits {bits} gs {gs} n {n} k {k} m {m}");
                    assert_products_close(&got, &full, &xv, (m, n, k), 1e-5, &what);
                }
            }
        }
    }
}

/// Rows of `x` near float32's smallest normal values keep their precision (the kernels'
/// scaled copies of `x` would be subnormal; such rows run scaled up), beside an ordinary
/// row.
#[test]
fn quantized_matvec_of_tiny_rows_is_accurate() {
    let mut rng = common::Lcg(5);
    for bits in [2usize, 3, 4, 8] {
        for k in [256usize, 192] {
            let n = 7;
            let (w, _) = common::random_array(&[n, k], Dtype::Float32, -1.0, 1.0, &mut rng);
            let q = ops::quantize(&w, Some(64), Some(bits), "affine", None).unwrap();
            let full = affine_full(&q, 64, bits);
            for tiny in [1e-30f32, 1e-34, 1e-36, 1e-37] {
                let xv: Vec<f32> = (0..2 * k)
                    .map(|i| rng.uniform(-1.0, 1.0) as f32 * if i < k { tiny } else { 1.0 })
                    .collect();
                let x = Array::from_slice(&xv, &[2, k]).unwrap();
                let got = affine_matvec(&x, &q, 64, bits);
                let what = format!("bits {bits} k {k} x {tiny}");
                assert_products_close(&got, &full, &xv, (2, n, k), 1e-5, &what);
            }
        }
    }
}

/// The fp modes' matrix-vector product (a few rows of `x`: on AVX-512 the E2M1 table
/// permute for k a multiple of 128, E4M3 decoded from its bits, 16 groups' scales at a
/// time, so k = 1024 crosses a window) against float64 sums over the dequantized
/// weights. Rows at magnitudes 2^-20..2^20 give many scale bytes.
#[test]
fn fp_quantized_matvec_matches_a_float64_reference() {
    let mut rng = common::Lcg(7);
    for mode in ["mxfp4", "mxfp8", "nvfp4"] {
        for (n, k) in [(37usize, 128usize), (5, 384), (3, 1024), (9, 64)] {
            let wv: Vec<f32> = (0..n * k)
                .map(|i| rng.uniform(-1.0, 1.0) as f32 * 2f32.powi((i / k % 41) as i32 - 20))
                .collect();
            let w = Array::from_slice(&wv, &[n, k]).unwrap();
            let q = ops::quantize(&w, None, None, mode, None).unwrap();
            let full = ops::dequantize(&q.wq, &q.scales, None, None, None, mode, None, None)
                .unwrap()
                .to_vec::<f32>()
                .unwrap();
            for m in 1..=4usize {
                let xv: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
                let x = Array::from_slice(&xv, &[m, k]).unwrap();
                let got = ops::quantized_matmul(&x, &q.wq, &q.scales, None, true, None, None, mode)
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap();
                let what = format!("{mode} n {n} k {k} m {m}");
                assert_products_close(&got, &full, &xv, (m, n, k), 1e-6, &what);
            }
        }
    }
}

/// A NaN or infinity in a row of `x` reaches that row's outputs (the integer kernel
/// hands such rows to the float one), and the other rows stay finite.
#[test]
fn quantized_matvec_propagates_nan_and_infinity() {
    let mut rng = common::Lcg(99);
    for bits in [2usize, 4, 8] {
        let (n, k) = (9usize, 256usize);
        let (w, _) = common::random_array(&[n, k], Dtype::Float32, -1.0, 1.0, &mut rng);
        let q = ops::quantize(&w, Some(64), Some(bits), "affine", None).unwrap();
        for bad in [f32::NAN, f32::INFINITY] {
            let mut xv: Vec<f32> = (0..2 * k).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
            xv[k + 77] = bad;
            let x = Array::from_slice(&xv, &[2, k]).unwrap();
            let got = affine_matvec(&x, &q, 64, bits);
            assert!(
                got[..n].iter().all(|v| v.is_finite()),
                "bits {bits}: {got:?}"
            );
            assert!(
                got[n..].iter().all(|v| !v.is_finite()),
                "bits {bits}: {got:?}"
            );
        }
    }
}

#[test]
fn affine_quantization_errors() {
    let w = ops::ones(&[8, 64], None).unwrap();
    let err = |r: Result<ops::Quantized, Error>, needle: &str| match r {
        Err(Error::Invalid(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected {needle:?}, got {other:?}"),
    };
    err(
        ops::quantize(&ops::ones(&[64], None).unwrap(), None, None, "affine", None),
        "at least 2 dimension",
    );
    err(
        ops::quantize(
            &ops::ones(&[2, 48], None).unwrap(),
            None,
            None,
            "affine",
            None,
        ),
        "divisible",
    );
    err(ops::quantize(&w, None, Some(7), "affine", None), "bits 7");
    err(
        ops::quantize(&w, Some(16), None, "affine", None),
        "group size 16",
    );
    err(
        ops::quantize(&w, None, None, "bad", None),
        "Invalid quantization mode",
    );
    let q = ops::quantize(&w, None, None, "affine", None).unwrap();
    let x = ops::ones(&[3, 32], None).unwrap();
    let r = ops::quantized_matmul(
        &x,
        &q.wq,
        &q.scales,
        q.biases.as_ref(),
        true,
        None,
        None,
        "affine",
    );
    assert!(matches!(r, Err(Error::Invalid(m)) if m.contains("does not match")));
    let r = ops::quantized_matmul(&x, &q.wq, &q.scales, None, true, None, None, "affine");
    assert!(matches!(r, Err(Error::Invalid(m)) if m.contains("Biases must be provided")));
}

// ---- fp modes: values MLX 0.32.4 returns (probed on its CPU build) ------------------------

/// The 4-bit codes of packed words, in order.
fn codes4(wq: &Array) -> Vec<u32> {
    wq.to_vec::<u32>()
        .unwrap()
        .iter()
        .flat_map(|w| (0..8).map(move |i| (w >> (4 * i)) & 15))
        .collect()
}

fn row32(vals: &[f32]) -> Array {
    let mut v = vals.to_vec();
    v.resize(32, 0.0);
    Array::from_slice(&v, &[1, 32]).unwrap()
}

#[test]
fn mxfp4_rounds_ties_toward_zero_with_power_of_two_scales() {
    let w = row32(&[
        6.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.25, -0.75, -5.0, 0.2, 0.3, 5.9, 0.1, -0.0,
        1e-8,
    ]);
    let q = ops::quantize(&w, None, None, "mxfp4", None).unwrap();
    assert!(q.biases.is_none());
    assert_eq!(
        (q.wq.shape(), q.scales.dtype()),
        (&[1usize, 4][..], Dtype::Uint8)
    );
    assert_eq!(q.scales.to_vec::<u8>().unwrap(), [127]);
    assert_eq!(
        codes4(&q.wq)[..17],
        [7, 0, 1, 2, 3, 4, 5, 6, 0, 9, 14, 0, 1, 7, 0, 0, 0]
    );
    // (amax, scale byte, code of amax): the exponent is ceil(log2(amax / 6)) exactly,
    // wraps in its byte below 2^-127, and a non-finite maximum gives byte 128, codes 0.
    for (amax, byte, code) in [
        (6144.0007f32, 138u8, 5u32),
        (6143.9995, 137, 7),
        (1e-40, 248, 6),
        (0.0, 127, 0),
        (f32::INFINITY, 128, 0),
        (f32::NAN, 128, 0),
    ] {
        let q = ops::quantize(&row32(&[amax]), None, None, "mxfp4", None).unwrap();
        assert_eq!(q.scales.to_vec::<u8>().unwrap(), [byte], "amax {amax}");
        assert_eq!(codes4(&q.wq)[0], code, "amax {amax}");
    }
}

#[test]
fn mxfp8_codes_are_e4m3_and_nonfinite_groups_saturate() {
    let q = ops::quantize(
        &row32(&[448.0, 0.0, 1.0, -1e-30]),
        None,
        None,
        "mxfp8",
        None,
    )
    .unwrap();
    assert_eq!(q.wq.shape(), &[1, 8]);
    assert_eq!(q.scales.to_vec::<u8>().unwrap(), [127]);
    assert_eq!(
        q.wq.to_vec::<u32>().unwrap()[0].to_le_bytes(),
        [126, 0, 56, 128]
    );
    let q = ops::quantize(
        &row32(&[f32::INFINITY, 1.0, 0.0, -1.0]),
        None,
        None,
        "mxfp8",
        None,
    )
    .unwrap();
    assert_eq!(q.scales.to_vec::<u8>().unwrap(), [128]);
    assert_eq!(
        q.wq.to_vec::<u32>().unwrap()[0].to_le_bytes(),
        [126, 126, 254, 254]
    );
    let q = ops::quantize(&row32(&[1e-40]), None, None, "mxfp8", None).unwrap();
    assert_eq!(q.scales.to_vec::<u8>().unwrap(), [242]);
    assert_eq!(q.wq.to_vec::<u32>().unwrap()[0] & 255, 121);
}

#[test]
fn nvfp4_with_a_global_scale() {
    let mut v = vec![0.0f32; 32];
    (v[0], v[1], v[16], v[17]) = (6.0, 3.0, 1.2, -0.7);
    let w = Array::from_slice(&v, &[1, 32]).unwrap();
    let g = Array::scalar(10.0f32);
    let q = ops::quantize(&w, None, None, "nvfp4", Some(&g)).unwrap();
    assert_eq!(q.scales.to_vec::<u8>().unwrap(), [120, 101]);
    let c = codes4(&q.wq);
    assert_eq!([c[0], c[1], c[16], c[17]], [7, 5, 7, 14]);
    let d = ops::dequantize(
        &q.wq,
        &q.scales,
        None,
        None,
        None,
        "nvfp4",
        Some(&g),
        Some(Dtype::Float32),
    )
    .unwrap()
    .to_vec::<f32>()
    .unwrap();
    assert_eq!(
        [d[0], d[1], d[16], d[17]],
        [5.714286, 2.857143, 1.1607144, -0.77380955]
    );
    // Without it: 6 / 6 -> scale 1.0 (code 56), 1.2 / 6 = 0.2 -> 0.203125 (code 37).
    let q = ops::quantize(&w, None, None, "nvfp4", None).unwrap();
    assert_eq!(q.scales.to_vec::<u8>().unwrap(), [56, 37]);
}

/// Values far above a saturated scale (448): MLX 0.32.4's codes, which come from
/// float32 distances to its E2M1 table that round to ties (first entry wins), with
/// `x / scale` computed before the global factor.
#[test]
fn nvfp4_codes_of_huge_values_are_mlxs() {
    let cases: [(f32, Option<f32>, u32); 8] = [
        (1.505016e10, None, 4),
        (1.5084874e10, None, 7),
        (3.0108678e10, None, 6),
        (6.023408e10, None, 0),
        (-1e12, None, 0),
        (-5e9, None, 15),
        (2.2104852e6, Some(0.37), 7),
        (-2.333117e6, Some(0.37), 12),
    ];
    for (x, g, want) in cases {
        let g = g.map(Array::scalar);
        let q = ops::quantize(&row32(&[x, 3000.0]), None, None, "nvfp4", g.as_ref()).unwrap();
        assert_eq!(q.scales.to_vec::<u8>().unwrap()[0], 126, "{x}");
        assert_eq!(codes4(&q.wq)[0], want, "{x} with global scale {g:?}");
    }
}

/// `x @ w.T` in float64 from the dequantized (float32) weights.
fn reference_product(x: &[f32], w: &[f32], m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k)
                .map(|t| x[i * k + t] as f64 * w[j * k + t] as f64)
                .sum();
        }
    }
    out
}

#[test]
fn fp_modes_dequantize_to_bfloat16_and_multiply() {
    let mut rng = common::Lcg(7);
    for mode in ["mxfp4", "mxfp8", "nvfp4"] {
        let (w, wv) = common::random_array(&[2, 12, 64], Dtype::Float32, -3.0, 3.0, &mut rng);
        let q = ops::quantize(&w, None, None, mode, None).unwrap();
        let d = ops::dequantize(&q.wq, &q.scales, None, None, None, mode, None, None).unwrap();
        assert_eq!(
            (d.dtype(), d.shape()),
            (Dtype::Bfloat16, &[2usize, 12, 64][..])
        );
        let dv = common::values(&d);
        let step = if mode == "mxfp8" { 0.07 } else { 0.5 };
        for (a, b) in dv.iter().zip(&wv) {
            assert!((a - b).abs() <= step * 3.0 + 1e-6, "{mode}: {a} vs {b}");
        }
        let full = ops::dequantize(
            &q.wq,
            &q.scales,
            None,
            None,
            None,
            mode,
            None,
            Some(Dtype::Float32),
        )
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
        // x (2, 3, 64) against the batch of two weight matrices.
        let (x, _) = common::random_array(&[2, 3, 64], Dtype::Float32, -1.0, 1.0, &mut rng);
        let y = ops::quantized_matmul(&x, &q.wq, &q.scales, None, true, None, None, mode).unwrap();
        assert_eq!(
            (y.shape(), y.dtype()),
            (&[2usize, 3, 12][..], Dtype::Float32)
        );
        let (xv, yv) = (x.to_vec::<f32>().unwrap(), y.to_vec::<f32>().unwrap());
        for b in 0..2 {
            let want = reference_product(
                &xv[b * 192..(b + 1) * 192],
                &full[b * 768..(b + 1) * 768],
                3,
                12,
                64,
            );
            for (g, e) in yv[b * 36..(b + 1) * 36].iter().zip(&want) {
                assert!(
                    (*g as f64 - e).abs() <= 1e-4 * (1.0 + e.abs()),
                    "{mode}: {g} vs {e}"
                );
            }
        }
    }
}

#[test]
fn gather_qmm_picks_matrices_by_index() {
    let mut rng = common::Lcg(11);
    let (w, _) = common::random_array(&[4, 8, 64], Dtype::Float32, -1.0, 1.0, &mut rng);
    let q = ops::quantize(&w, None, None, "mxfp4", None).unwrap();
    let (x, _) = common::random_array(&[2, 1, 64], Dtype::Float32, -1.0, 1.0, &mut rng);
    let rhs = Array::from_slice(&[1u32, 3], &[2, 1]).unwrap();
    let y = ops::gather_qmm(
        &x,
        &q.wq,
        &q.scales,
        None,
        None,
        Some(&rhs),
        true,
        None,
        None,
        "mxfp4",
        None,
        false,
    )
    .unwrap();
    assert_eq!(y.shape(), &[2, 2, 1, 8]);
    let yv = y.to_vec::<f32>().unwrap();
    // The indices broadcast to (2, 2): lhs (every x, [0, 1]) along the last axis, rhs
    // ([[1], [3]]) along the first, so out[i, j] = x[j] @ w[rhs[i]].T.
    for (i, j) in [(0usize, 0usize), (0, 1), (1, 0), (1, 1)] {
        let xi = ops::take(&x, &Array::scalar(j as u32), Some(0)).unwrap();
        let widx = Array::scalar([1u32, 3][i]);
        let pick = |a: &Array| ops::take(a, &widx, Some(0)).unwrap();
        let want = ops::quantized_matmul(
            &xi,
            &pick(&q.wq),
            &pick(&q.scales),
            None,
            true,
            None,
            None,
            "mxfp4",
        )
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
        assert_eq!(&yv[(i * 2 + j) * 8..(i * 2 + j + 1) * 8], &want[..]);
    }
}

#[test]
fn fp_mode_errors_are_mlx_messages() {
    let w = ops::ones(&[4, 64], None).unwrap();
    let msg = |e: Error| e.to_string();
    let q = |gs, bits, mode| {
        ops::quantize(&w, gs, bits, mode, None)
            .map(|_| ())
            .unwrap_err()
    };
    assert_eq!(
        msg(q(Some(16), None, "mxfp4")),
        "[quantize] mxfp4 quantization requires group size 32 but got 16."
    );
    assert_eq!(
        msg(q(None, Some(4), "mxfp8")),
        "[quantize] mxfp8 quantization requires bits to be 8 but got 4."
    );
    let odd = ops::ones(&[3, 16], None).unwrap();
    assert_eq!(
        msg(ops::quantize(&odd, None, None, "nvfp4", None).unwrap_err()),
        "[reshape] Cannot reshape array of size 48 into shape (1,4,8)."
    );
    let g = Array::scalar(1.0f32);
    assert_eq!(
        msg(ops::quantize(&w, None, None, "mxfp4", Some(&g)).unwrap_err()),
        "[quantize] Global scale is only supported for 'nvfp4' quantization mode."
    );
    let fq = ops::quantize(&w, None, None, "mxfp4", None).unwrap();
    let e = ops::dequantize(
        &fq.wq,
        &fq.scales,
        Some(&fq.scales),
        None,
        None,
        "mxfp4",
        None,
        None,
    );
    assert_eq!(
        msg(e.unwrap_err()),
        "[dequantize] Biases must be null for quantization mode 'mxfp4'."
    );
    let x = ops::ones(&[3, 64], None).unwrap();
    let r = ops::qqmm(&x, &w, None, None, None, "nvfp4", None, None);
    assert!(matches!(r, Err(Error::Runtime(m)) if m == "[QQMatmul] NYI for the general case"));
    let r = ops::gather_qqmm(
        &x, &w, None, None, None, None, None, "nvfp4", None, None, false,
    );
    assert!(matches!(r, Err(Error::Runtime(m)) if m == "[GatherQQMM] NYI"));
}

/// Each weight is `code * scale + bias` of its group, so for `sum(x @ W.T)` a bias's
/// gradient is its group's sum of `dW = colsum(x)` and a scale's the sum of `dW * code`.
#[test]
fn quantized_matmul_gradients_of_scales_and_biases() {
    let mut rng = common::Lcg(91);
    let (rows, cols, m, gs) = (6usize, 64usize, 3usize, 32usize);
    let (w, _) = common::random_array(&[rows, cols], Dtype::Float32, -1.0, 1.0, &mut rng);
    let (x, xs) = common::random_array(&[m, cols], Dtype::Float32, -1.0, 1.0, &mut rng);
    let q = ops::quantize(&w, Some(gs), Some(4), "affine", None).unwrap();
    let (wq, biases) = (q.wq.clone(), q.biases.clone().unwrap());
    let f = move |a: &[Array]| -> ferrox::Result<Vec<Array>> {
        let y = ops::quantized_matmul(
            &x,
            &wq,
            &a[0],
            Some(&a[1]),
            true,
            Some(gs),
            Some(4),
            "affine",
        )?;
        Ok(vec![ops::sum(&y, &[], false)?])
    };
    let g = ferrox::transforms::grad(f, &[0, 1])(&[q.scales.clone(), biases.clone()]).unwrap();
    let ones = ops::ones_like(&q.scales, None).unwrap();
    let zeros = ops::zeros_like(&biases, None).unwrap();
    let codes = ops::dequantize(
        &q.wq,
        &ones,
        Some(&zeros),
        Some(gs),
        Some(4),
        "affine",
        None,
        None,
    )
    .unwrap()
    .to_vec::<f32>()
    .unwrap();
    let colsum: Vec<f64> = (0..cols)
        .map(|k| (0..m).map(|i| xs[i * cols + k]).sum())
        .collect();
    let (dscale, dbias) = (g[0].to_vec::<f32>().unwrap(), g[1].to_vec::<f32>().unwrap());
    for r in 0..rows {
        for grp in 0..cols / gs {
            let ks = grp * gs..(grp + 1) * gs;
            let want_b: f64 = ks.clone().map(|k| colsum[k]).sum();
            let want_s: f64 = ks.map(|k| colsum[k] * codes[r * cols + k] as f64).sum();
            let i = r * (cols / gs) + grp;
            assert!(
                (dbias[i] as f64 - want_b).abs() < 1e-4,
                "{} vs {want_b}",
                dbias[i]
            );
            assert!(
                (dscale[i] as f64 - want_s).abs() < 1e-3,
                "{} vs {want_s}",
                dscale[i]
            );
        }
    }
}
