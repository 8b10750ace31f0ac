//! to_fp8 / from_fp8 (E4M3) against the format's definition; affine quantization against
//! its packing and rounding rule and the product with the dequantized weights.

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
    ];
    let got = ops::to_fp8(&Array::from_slice(&odd, &[odd.len()]).unwrap()).unwrap();
    assert_eq!(
        got.to_vec::<u8>().unwrap(),
        [56, 58, 0, 2, 126, 126, 254, 126]
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
            let q = ops::quantize(&w, Some(gs), Some(bits), "affine").unwrap();
            assert_eq!(q.wq.shape(), &[3, 256 * bits / 32]);
            assert_eq!(q.scales.shape(), &[3, 256 / gs]);
            let words = q.wq.to_vec::<u32>().unwrap();
            let scales = q.scales.to_vec::<f32>().unwrap();
            let biases = q.biases.as_ref().unwrap().to_vec::<f32>().unwrap();
            let back = ops::dequantize(
                &q.wq,
                &q.scales,
                q.biases.as_ref(),
                Some(gs),
                Some(bits),
                "affine",
                None,
            )
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
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
    for bits in [3usize, 4, 8] {
        for (m, transpose) in [
            (1usize, true),
            (3, true),
            (70, true),
            (1, false),
            (5, false),
        ] {
            let (rows, cols) = (40usize, 128usize);
            let (w, _) = common::random_array(&[rows, cols], Dtype::Float32, -1.0, 1.0, &mut rng);
            let q = ops::quantize(&w, Some(32), Some(bits), "affine").unwrap();
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

#[test]
fn affine_quantization_errors() {
    let w = ops::ones(&[8, 64], None).unwrap();
    let err = |r: Result<ops::Quantized, Error>, needle: &str| match r {
        Err(Error::Invalid(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected {needle:?}, got {other:?}"),
    };
    err(
        ops::quantize(&ops::ones(&[64], None).unwrap(), None, None, "affine"),
        "at least 2 dimension",
    );
    err(
        ops::quantize(&ops::ones(&[2, 48], None).unwrap(), None, None, "affine"),
        "divisible",
    );
    err(ops::quantize(&w, None, Some(7), "affine"), "bits 7");
    err(ops::quantize(&w, Some(16), None, "affine"), "group size 16");
    err(ops::quantize(&w, None, None, "mxfp4"), "not implemented");
    err(
        ops::quantize(&w, None, None, "bad"),
        "Invalid quantization mode",
    );
    let q = ops::quantize(&w, None, None, "affine").unwrap();
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
