//! The fused kernels (`softmax`, `fast::rms_norm`, `fast::layer_norm`,
//! `fast::scaled_dot_product_attention`) against float64 references written out here,
//! on random inputs of several shapes, every float dtype, strided views and the edge
//! cases (empty rows, masked-out rows, grouped heads); and their errors.
//! Derivatives are checked in `transforms.rs` (`fast_ops`).

mod common;

use common::{random_array, Lcg};
use ferrox::ops::fast::{self, AttentionMask};
use ferrox::{ops, Array, Dtype};

const FLOATS: [Dtype; 4] = [
    Dtype::Float32,
    Dtype::Float64,
    Dtype::Float16,
    Dtype::Bfloat16,
];

/// Tolerance for a kernel that accumulates a row: a few roundings of the dtype, and for
/// f32 the row length's worth of summation error.
fn tol_of(dtype: Dtype) -> f64 {
    match dtype {
        Dtype::Float64 => 1e-12,
        Dtype::Float32 => 2e-5,
        Dtype::Float16 => 4e-3,
        _ => 3e-2,
    }
}

fn check(got: &Array, want: &[f64], dtype: Dtype, what: &str) {
    assert_eq!(got.dtype(), dtype, "{what}: dtype");
    let g = got.to_vec::<f64>().unwrap();
    let tol = tol_of(dtype);
    assert_eq!(g.len(), want.len(), "{what}: size");
    for (i, (&g, &w)) in g.iter().zip(want).enumerate() {
        if w.is_nan() {
            assert!(g.is_nan(), "{what}[{i}]: got {g}, want NaN");
            continue;
        }
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

// ---- references, row-major f64 -------------------------------------------------------

fn softmax_rows(x: &[f64], n: usize) -> Vec<f64> {
    x.chunks(n)
        .flat_map(|r| {
            let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = r.iter().map(|v| (v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(move |v| v / s)
        })
        .collect()
}

fn norm_rows(x: &[f64], n: usize, centred: bool, w: &[f64], b: &[f64], eps: f64) -> Vec<f64> {
    x.chunks(n)
        .flat_map(|r| {
            let mean = if centred {
                r.iter().sum::<f64>() / n as f64
            } else {
                0.0
            };
            let var = r.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
            let inv = 1.0 / (var + eps).sqrt();
            r.iter()
                .enumerate()
                .map(move |(j, v)| (v - mean) * inv * w[j] + b[j])
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Attention in f64: `q` `[B,Hq,Lq,D]`, `k` `[B,Hkv,Lk,D]`, `v` `[B,Hkv,Lk,Dv]`; `mask`
/// gives (keep, add) for (b, h, i, j).
#[allow(clippy::too_many_arguments)]
fn attention_ref(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    [b, hq, lq, d]: [usize; 4],
    [hkv, lk, dv]: [usize; 3],
    scale: f64,
    mask: &dyn Fn(usize, usize, usize, usize) -> (bool, f64),
    sinks: Option<&[f64]>,
) -> Vec<f64> {
    let mut out = vec![0.0; b * hq * lq * dv];
    for bi in 0..b {
        for h in 0..hq {
            let hk = h / (hq / hkv);
            for i in 0..lq {
                let mut s: Vec<f64> = (0..lk)
                    .map(|j| {
                        let dotp: f64 = (0..d)
                            .map(|c| {
                                q[((bi * hq + h) * lq + i) * d + c]
                                    * k[((bi * hkv + hk) * lk + j) * d + c]
                            })
                            .sum();
                        let (keep, add) = mask(bi, h, i, j);
                        if keep {
                            dotp * scale + add
                        } else {
                            -1e300
                        }
                    })
                    .collect();
                if let Some(sk) = sinks {
                    s.insert(0, sk[h]);
                }
                let mut p = softmax_rows(&s, s.len().max(1));
                if sinks.is_some() {
                    p.remove(0);
                }
                for c in 0..dv {
                    out[((bi * hq + h) * lq + i) * dv + c] = (0..lk)
                        .map(|j| p[j] * v[((bi * hkv + hk) * lk + j) * dv + c])
                        .sum();
                }
            }
        }
    }
    out
}

// ---- softmax ---------------------------------------------------------------------------

#[test]
fn softmax_matches_reference() {
    let mut rng = Lcg(1);
    for dtype in FLOATS {
        for shape in [&[1][..], &[7], &[3, 33], &[2, 3, 64], &[5, 1000]] {
            let (x, xv) = random_array(shape, dtype, -4.0, 4.0, &mut rng);
            let n = shape[shape.len() - 1];
            let want = softmax_rows(&xv, n);
            check(
                &ops::softmax(&x, &[-1], false).unwrap(),
                &want,
                dtype,
                "softmax",
            );
            check(
                &ops::softmax(&x, &[-1], true).unwrap(),
                &want,
                dtype,
                "precise",
            );
        }
    }
}

#[test]
fn softmax_over_other_axes_and_views() {
    let mut rng = Lcg(2);
    let (x, xv) = random_array(&[6, 9], Dtype::Float32, -3.0, 3.0, &mut rng);
    // Over axis 0: the transposed problem.
    let t = ops::transpose(&x, &[1, 0]).unwrap();
    let tv = t.to_vec::<f64>().unwrap();
    let want_t = softmax_rows(&tv, 6);
    let got = ops::softmax(&x, &[0], false).unwrap();
    let got_t = ops::transpose(&got, &[1, 0]).unwrap();
    check(&got_t, &want_t, Dtype::Float32, "softmax axis 0");
    // A strided input row (the transposed view) over its last axis.
    check(
        &ops::softmax(&t, &[-1], false).unwrap(),
        &want_t,
        Dtype::Float32,
        "transposed view",
    );
    // All axes: one row.
    check(
        &ops::softmax(&x, &[], false).unwrap(),
        &softmax_rows(&xv, 54),
        Dtype::Float32,
        "all axes",
    );
    // Two trailing axes of a 3-D array.
    let (y, yv) = random_array(&[2, 3, 4], Dtype::Float64, -3.0, 3.0, &mut rng);
    check(
        &ops::softmax(&y, &[1, 2], false).unwrap(),
        &softmax_rows(&yv, 12),
        Dtype::Float64,
        "trailing axes",
    );
    // Integers compute in float32; a scalar is 1.
    let i = Array::from_slice(&[1i32, 2, 3], &[3]).unwrap();
    check(
        &ops::softmax(&i, &[-1], false).unwrap(),
        &softmax_rows(&[1.0, 2.0, 3.0], 3),
        Dtype::Float32,
        "int32",
    );
    let s = ops::softmax(&Array::scalar(3.0f32), &[], false).unwrap();
    assert_eq!(s.to_vec::<f32>().unwrap(), vec![1.0]);
    // Empty rows and no rows.
    let e = ops::softmax(&ops::zeros(&[2, 0], None).unwrap(), &[-1], false).unwrap();
    assert_eq!(e.shape(), &[2, 0]);
    let e = ops::softmax(&ops::zeros(&[0, 3], None).unwrap(), &[-1], false).unwrap();
    assert_eq!(e.shape(), &[0, 3]);
}

#[test]
fn softmax_of_infinities_and_nans_is_mlxs() {
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    let x = Array::from_slice(
        &[
            -inf, -inf, -inf, 1.0, inf, 2.0, 1.0, nan, 2.0, 1.0, -inf, 2.0,
        ],
        &[4, 3],
    )
    .unwrap();
    let y = ops::softmax(&x, &[-1], false)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert!(y[..9].iter().all(|v| v.is_nan()), "{y:?}");
    let e = (1.0f32).exp();
    assert!((y[9] - 1.0 / (1.0 + e)).abs() < 1e-6 && y[10] == 0.0);
    // Large values: shifted by the maximum, no overflow.
    let big = Array::from_slice(&[1000.0f32, 1000.0], &[2]).unwrap();
    assert_eq!(
        ops::softmax(&big, &[-1], false)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![0.5, 0.5]
    );
}

// ---- normalisations --------------------------------------------------------------------

#[test]
fn norms_match_reference() {
    let mut rng = Lcg(3);
    let eps = 1e-5;
    for dtype in FLOATS {
        for shape in [&[4][..], &[3, 17], &[2, 3, 64], &[4, 300]] {
            let n = shape[shape.len() - 1];
            let (x, xv) = random_array(shape, dtype, -3.0, 5.0, &mut rng);
            let (w, wv) = random_array(&[n], dtype, 0.5, 1.5, &mut rng);
            let (b, bv) = random_array(&[n], dtype, -1.0, 1.0, &mut rng);
            let (ones, zeros) = (vec![1.0; n], vec![0.0; n]);
            let eps32 = eps as f32 as f64;
            let rms = fast::rms_norm(&x, Some(&w), eps as f32).unwrap();
            check(
                &rms,
                &norm_rows(&xv, n, false, &wv, &zeros, eps32),
                dtype,
                "rms",
            );
            let rms = fast::rms_norm(&x, None, eps as f32).unwrap();
            check(
                &rms,
                &norm_rows(&xv, n, false, &ones, &zeros, eps32),
                dtype,
                "rms 1",
            );
            let ln = fast::layer_norm(&x, Some(&w), Some(&b), eps as f32).unwrap();
            check(&ln, &norm_rows(&xv, n, true, &wv, &bv, eps32), dtype, "ln");
            let ln = fast::layer_norm(&x, None, Some(&b), eps as f32).unwrap();
            check(
                &ln,
                &norm_rows(&xv, n, true, &ones, &bv, eps32),
                dtype,
                "ln b",
            );
            let ln = fast::layer_norm(&x, Some(&w), None, eps as f32).unwrap();
            check(
                &ln,
                &norm_rows(&xv, n, true, &wv, &zeros, eps32),
                dtype,
                "ln w",
            );
        }
    }
}

#[test]
fn norms_of_views_and_promotion() {
    let mut rng = Lcg(4);
    // x transposed (rows strided), weight every other element of a longer vector.
    let (x, _) = random_array(&[8, 5], Dtype::Float32, -2.0, 2.0, &mut rng);
    let xt = ops::transpose(&x, &[1, 0]).unwrap();
    let xtv = xt.to_vec::<f64>().unwrap();
    let (w2, _) = random_array(&[16], Dtype::Float32, 0.5, 1.5, &mut rng);
    let w = ops::slice(&w2, &[0], &[16], &[2]).unwrap();
    let wv = w.to_vec::<f64>().unwrap();
    let zeros = vec![0.0; 8];
    let want = norm_rows(&xtv, 8, true, &wv, &zeros, 1e-6f32 as f64);
    check(
        &fast::layer_norm(&xt, Some(&w), None, 1e-6).unwrap(),
        &want,
        Dtype::Float32,
        "ln of views",
    );
    let want = norm_rows(&xtv, 8, false, &wv, &zeros, 1e-6f32 as f64);
    check(
        &fast::rms_norm(&xt, Some(&w), 1e-6).unwrap(),
        &want,
        Dtype::Float32,
        "rms of views",
    );
    // Output dtypes as MLX: promoted with the weight; a bias alone does not promote.
    let h = ops::astype(&x, Dtype::Float16).unwrap();
    let w64 = ops::ones(&[5], Some(Dtype::Float64)).unwrap();
    let r = fast::rms_norm(&h, Some(&w64), 1e-5).unwrap();
    assert_eq!(r.dtype(), Dtype::Float64);
    let l = fast::layer_norm(&h, None, Some(&w64), 1e-5).unwrap();
    assert_eq!(l.dtype(), Dtype::Float16);
    let i = ops::astype(&x, Dtype::Int32).unwrap();
    let w32 = ops::ones(&[5], None).unwrap();
    assert_eq!(
        fast::rms_norm(&i, Some(&w32), 1e-5).unwrap().dtype(),
        Dtype::Float32
    );
    // A large mean does not spoil the variance (centred before squaring).
    let big = Array::from_slice(&[1e4f32 + 1.0, 1e4 - 1.0, 1e4 + 1.0, 1e4 - 1.0], &[4]).unwrap();
    let y = fast::layer_norm(&big, None, None, 0.0).unwrap();
    check(&y, &[1.0, -1.0, 1.0, -1.0], Dtype::Float32, "large mean");
    // Empty.
    let e = fast::rms_norm(&ops::zeros(&[0, 4], None).unwrap(), None, 1e-5).unwrap();
    assert_eq!(e.shape(), &[0, 4]);
    let e = fast::layer_norm(&ops::zeros(&[3, 0], None).unwrap(), None, None, 1e-5).unwrap();
    assert_eq!(e.shape(), &[3, 0]);
}

#[test]
fn rows_split_across_threads() {
    // Enough rows that the kernels split them into chunks (each chunk pipelines its
    // rows), dense and strided.
    let mut rng = Lcg(8);
    let (x, xv) = random_array(&[300, 257], Dtype::Float32, -3.0, 3.0, &mut rng);
    let (w, wv) = random_array(&[257], Dtype::Float32, 0.5, 1.5, &mut rng);
    let (b, bv) = random_array(&[257], Dtype::Float32, -1.0, 1.0, &mut rng);
    let zeros = vec![0.0; 257];
    check(
        &ops::softmax(&x, &[-1], false).unwrap(),
        &softmax_rows(&xv, 257),
        Dtype::Float32,
        "softmax",
    );
    let ln = fast::layer_norm(&x, Some(&w), Some(&b), 1e-5).unwrap();
    check(
        &ln,
        &norm_rows(&xv, 257, true, &wv, &bv, 1e-5f32 as f64),
        Dtype::Float32,
        "ln",
    );
    let rms = fast::rms_norm(&x, Some(&w), 1e-5).unwrap();
    check(
        &rms,
        &norm_rows(&xv, 257, false, &wv, &zeros, 1e-5f32 as f64),
        Dtype::Float32,
        "rms",
    );
    let t = ops::transpose(&x, &[1, 0]).unwrap();
    let tv = t.to_vec::<f64>().unwrap();
    check(
        &ops::softmax(&t, &[-1], false).unwrap(),
        &softmax_rows(&tv, 300),
        Dtype::Float32,
        "strided",
    );
    let ones = vec![1.0; 300];
    let ln = fast::layer_norm(&t, None, None, 1e-5).unwrap();
    check(
        &ln,
        &norm_rows(
            &tv,
            300,
            true,
            &ones,
            &ones.iter().map(|_| 0.0).collect::<Vec<_>>(),
            1e-5f32 as f64,
        ),
        Dtype::Float32,
        "ln strided",
    );
}

#[test]
fn norm_errors_are_mlxs() {
    let x = ops::zeros(&[3, 4], None).unwrap();
    let msg = |r: ferrox::Result<Array>| r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg(fast::rms_norm(&Array::scalar(1.0f32), None, 1e-5))
        .contains("[rms_norm] Input must have at least 1 dimension"));
    let w2 = ops::zeros(&[2, 4], None).unwrap();
    assert!(msg(fast::rms_norm(&x, Some(&w2), 1e-5))
        .contains("(*weight) must have 1 dimension but has 2 dimensions."));
    let w5 = ops::zeros(&[5], None).unwrap();
    assert!(msg(fast::rms_norm(&x, Some(&w5), 1e-5)).contains("but has 5 elements."));
    let xi = ops::zeros(&[3, 4], Some(Dtype::Int32)).unwrap();
    assert!(msg(fast::rms_norm(&xi, None, 1e-5)).contains("Received unsupported type int32."));
    assert!(msg(fast::layer_norm(&x, None, Some(&w5), 1e-5))
        .contains("[layer_norm] bias must have the same size"));
    assert!(msg(fast::layer_norm(&x, Some(&w2), None, 1e-5))
        .contains("[layer_norm] weight must have 1 dimension"));
    let xc = ops::zeros(&[3, 4], Some(Dtype::Complex64)).unwrap();
    assert!(msg(fast::layer_norm(&xc, None, None, 1e-5)).contains("unsupported type complex64"));
}

// ---- attention -------------------------------------------------------------------------

struct Case {
    b: usize,
    hq: usize,
    hkv: usize,
    lq: usize,
    lk: usize,
    d: usize,
    dv: usize,
}

#[test]
fn attention_matches_reference() {
    let mut rng = Lcg(5);
    let cases = [
        Case {
            b: 1,
            hq: 1,
            hkv: 1,
            lq: 1,
            lk: 1,
            d: 4,
            dv: 4,
        },
        Case {
            b: 2,
            hq: 4,
            hkv: 2,
            lq: 3,
            lk: 5,
            d: 8,
            dv: 6,
        },
        Case {
            b: 1,
            hq: 3,
            hkv: 1,
            lq: 70,
            lk: 70,
            d: 16,
            dv: 16,
        },
        Case {
            b: 2,
            hq: 2,
            hkv: 2,
            lq: 7,
            lk: 5,
            d: 8,
            dv: 3,
        },
    ];
    for dtype in FLOATS {
        for c in &cases {
            let (q, qv) = random_array(&[c.b, c.hq, c.lq, c.d], dtype, -1.0, 1.0, &mut rng);
            let (k, kv) = random_array(&[c.b, c.hkv, c.lk, c.d], dtype, -1.0, 1.0, &mut rng);
            let (v, vv) = random_array(&[c.b, c.hkv, c.lk, c.dv], dtype, -1.0, 1.0, &mut rng);
            let dims = [c.b, c.hq, c.lq, c.d];
            let kdims = [c.hkv, c.lk, c.dv];
            let scale = 1.0 / (c.d as f64).sqrt();
            let s32 = scale as f32;
            let sf = s32 as f64;
            let what = format!(
                "{dtype} b{} hq{} hkv{} lq{} lk{}",
                c.b, c.hq, c.hkv, c.lq, c.lk
            );
            let none = |_, _, _, _| (true, 0.0);
            let got =
                fast::scaled_dot_product_attention(&q, &k, &v, s32, AttentionMask::None, None)
                    .unwrap();
            assert_eq!(got.shape(), &[c.b, c.hq, c.lq, c.dv]);
            let want = attention_ref(&qv, &kv, &vv, dims, kdims, sf, &none, None);
            check(&got, &want, dtype, &format!("{what} plain"));

            // Causal, lower-right aligned: queries before the first key see no key.
            let off = c.lk as isize - c.lq as isize;
            let causal = |_, _, i: usize, j: usize| (j as isize <= i as isize + off, 0.0);
            let got =
                fast::scaled_dot_product_attention(&q, &k, &v, s32, AttentionMask::Causal, None)
                    .unwrap();
            // Rows with every key masked average the values, in both.
            let want = attention_ref(&qv, &kv, &vv, dims, kdims, sf, &causal, None);
            check(&got, &want, dtype, &format!("{what} causal"));

            // A boolean mask broadcast over batch and heads; an additive one per head.
            let (bm, bmv) = random_array(&[c.lq, c.lk], Dtype::Float32, 0.0, 1.0, &mut rng);
            let keep = ops::greater(&bm, 0.3).unwrap();
            let kept = |_, _, i: usize, j: usize| (bmv[i * c.lk + j] > 0.3, 0.0);
            let got = fast::scaled_dot_product_attention(
                &q,
                &k,
                &v,
                s32,
                AttentionMask::Array(&keep),
                None,
            )
            .unwrap();
            let want = attention_ref(&qv, &kv, &vv, dims, kdims, sf, &kept, None);
            check(&got, &want, dtype, &format!("{what} bool mask"));
            let (am, amv) = random_array(&[c.hq, c.lq, c.lk], dtype, -2.0, 2.0, &mut rng);
            let add = |_, h: usize, i: usize, j: usize| (true, amv[(h * c.lq + i) * c.lk + j]);
            let (sk, skv) = random_array(&[c.hq], dtype, -1.0, 1.0, &mut rng);
            let got = fast::scaled_dot_product_attention(
                &q,
                &k,
                &v,
                s32,
                AttentionMask::Array(&am),
                Some(&sk),
            )
            .unwrap();
            let want = attention_ref(&qv, &kv, &vv, dims, kdims, sf, &add, Some(&skv));
            check(&got, &want, dtype, &format!("{what} additive mask, sinks"));
        }
    }
}

#[test]
fn attention_of_strided_views_and_empty_keys() {
    let mut rng = Lcg(6);
    // q, k, v laid out [B, L, H, D] and viewed as [B, H, L, D], as models do.
    let (q, _) = random_array(&[2, 5, 4, 8], Dtype::Float32, -1.0, 1.0, &mut rng);
    let (k, _) = random_array(&[2, 6, 2, 8], Dtype::Float32, -1.0, 1.0, &mut rng);
    let (v, _) = random_array(&[2, 6, 2, 8], Dtype::Float32, -1.0, 1.0, &mut rng);
    let t = |a: &Array| ops::swapaxes(a, 1, 2).unwrap();
    let (qt, kt, vt) = (t(&q), t(&k), t(&v));
    let vals = |a: &Array| a.to_vec::<f64>().unwrap();
    let want = attention_ref(
        &vals(&qt),
        &vals(&kt),
        &vals(&vt),
        [2, 4, 5, 8],
        [2, 6, 8],
        0.25,
        &|_, _, _, _| (true, 0.0),
        None,
    );
    let got =
        fast::scaled_dot_product_attention(&qt, &kt, &vt, 0.25, AttentionMask::None, None).unwrap();
    check(&got, &want, Dtype::Float32, "strided views");
    // No keys: zeros (the product with an empty v).
    let k0 = ops::zeros(&[2, 2, 0, 8], None).unwrap();
    let got =
        fast::scaled_dot_product_attention(&qt, &k0, &k0, 0.25, AttentionMask::None, None).unwrap();
    assert_eq!(got.shape(), &[2, 4, 5, 8]);
    assert!(got.to_vec::<f32>().unwrap().iter().all(|&v| v == 0.0));
    // Zero head dimension: every score is 0, so each output is the mean of v.
    let q0 = ops::zeros(&[1, 1, 2, 0], None).unwrap();
    let k1 = ops::zeros(&[1, 1, 3, 0], None).unwrap();
    let v1 = Array::from_slice(&[1.0f32, 2.0, 3.0], &[1, 1, 3, 1]).unwrap();
    let got =
        fast::scaled_dot_product_attention(&q0, &k1, &v1, 1.0, AttentionMask::None, None).unwrap();
    assert_eq!(got.to_vec::<f32>().unwrap(), vec![2.0, 2.0]);
}

#[test]
fn attention_errors_are_mlxs() {
    let z = |s: &[usize]| ops::zeros(s, None).unwrap();
    let (q, k, v) = (z(&[2, 4, 3, 8]), z(&[2, 2, 5, 8]), z(&[2, 2, 5, 6]));
    let msg = |r: ferrox::Result<Array>| r.err().map(|e| e.to_string()).unwrap_or_default();
    let sdpa = |q: &Array, k: &Array, v: &Array, m: AttentionMask, s: Option<&Array>| {
        msg(fast::scaled_dot_product_attention(q, k, v, 0.5, m, s))
    };
    let none = AttentionMask::None;
    assert!(sdpa(&z(&[4, 3, 8]), &k, &v, none, None)
        .contains("input with shape (4,3,8) expected to be rank 4"));
    assert!(sdpa(&q, &z(&[1, 2, 5, 8]), &v, none, None)
        .contains("mismatching batch dimension for input with shape (1,2,5,8)."));
    assert!(sdpa(&q, &z(&[2, 2, 5, 4]), &v, none, None)
        .contains("query, keys expected to have matching last dimension"));
    assert!(sdpa(&q, &k, &z(&[2, 1, 5, 6]), none, None)
        .contains("keys, values expected to have matching n_kv_heads"));
    assert!(sdpa(&q, &z(&[2, 3, 5, 8]), &z(&[2, 3, 5, 6]), none, None)
        .contains("n_heads must be a multiple of n_kv_heads, found n_heads 4 for n_kv_heads 3."));
    let qi = ops::zeros(&[2, 4, 3, 8], Some(Dtype::Int32)).unwrap();
    let ki = ops::astype(&k, Dtype::Int32).unwrap();
    let vi = ops::astype(&v, Dtype::Int32).unwrap();
    assert!(sdpa(&qi, &ki, &vi, none, None).contains("Received unsupported type int32."));
    let m5 = z(&[1, 1, 1, 3, 5]);
    assert!(sdpa(&q, &k, &v, AttentionMask::Array(&m5), None)
        .contains("the mask with shape (1,1,1,3,5) expected to have at most rank 4."));
    let m44 = z(&[4, 4]);
    assert!(sdpa(&q, &k, &v, AttentionMask::Array(&m44), None)
        .contains("Shapes (4,4) and (2,4,3,5) cannot be broadcast."));
    let m64 = ops::zeros(&[3, 5], Some(Dtype::Float64)).unwrap();
    assert!(sdpa(&q, &k, &v, AttentionMask::Array(&m64), None)
        .contains("Mask type must promote to output type float32."));
    assert!(
        sdpa(&q, &k, &v, none, Some(&z(&[2]))).contains("Received invalid shape for sinks (2).")
    );
    let s64 = ops::zeros(&[4], Some(Dtype::Float64)).unwrap();
    assert!(sdpa(&q, &k, &v, none, Some(&s64))
        .contains("Type of sinks must promote to output type float32."));
    // Integer masks promote to the output type: additive.
    let mi = ops::ones(&[3, 5], Some(Dtype::Int32)).unwrap();
    assert!(
        fast::scaled_dot_product_attention(&q, &k, &v, 0.5, AttentionMask::Array(&mi), None)
            .is_ok()
    );
}

#[test]
fn half_inputs_give_half_outputs() {
    let mut rng = Lcg(7);
    let (x, _) = random_array(&[3, 8], Dtype::Float16, -1.0, 1.0, &mut rng);
    assert_eq!(
        ops::softmax(&x, &[-1], false).unwrap().dtype(),
        Dtype::Float16
    );
    let q = ops::reshape(&x, &[1, 1, 3, 8]).unwrap();
    let k = ops::astype(&q, Dtype::Bfloat16).unwrap();
    // f16 with bf16 promotes to f32, as in MLX.
    let o = fast::scaled_dot_product_attention(&q, &k, &q, 0.3, AttentionMask::None, None).unwrap();
    assert_eq!(o.dtype(), Dtype::Float32);
}

/// rope against its definition in f64: pairs (x[i], x[i + dims/2]) (or (x[2i], x[2i+1])
/// when traditional) rotated by (offset + l) · scale · base^(-2i/dims); the rest kept.
#[test]
fn rope_rotates_feature_pairs_by_position() {
    let (b, l, d, dims) = (2usize, 3usize, 6usize, 4usize);
    let x: Vec<f64> = (0..b * l * d)
        .map(|i| ((i * 37) % 17) as f64 / 8.0 - 1.0)
        .collect();
    let a = Array::from_slice(&x, &[b, l, d]).unwrap();
    for traditional in [false, true] {
        let offset = Array::scalar(2i32);
        let got = ferrox::ops::fast::rope(&a, dims, traditional, Some(100.0), 0.5, &offset, None)
            .unwrap()
            .to_vec::<f64>()
            .unwrap();
        for row in 0..b * l {
            let p = (2 + row % l) as f64 * 0.5;
            let r = &x[row * d..(row + 1) * d];
            let mut want = r.to_vec();
            for i in 0..dims / 2 {
                let th = p * 100f64.powf(-2.0 * i as f64 / dims as f64);
                let (j, k) = if traditional {
                    (2 * i, 2 * i + 1)
                } else {
                    (i, i + dims / 2)
                };
                want[j] = r[j] * th.cos() - r[k] * th.sin();
                want[k] = r[j] * th.sin() + r[k] * th.cos();
            }
            for (g, w) in got[row * d..(row + 1) * d].iter().zip(&want) {
                assert!(
                    (g - w).abs() < 1e-12,
                    "traditional {traditional} row {row}: {g} vs {w}"
                );
            }
        }
    }
    let bad = ferrox::ops::fast::rope(&a, 5, false, Some(10.0), 1.0, &Array::scalar(0i32), None);
    assert!(bad.is_err());
}

/// cross_entropy against logsumexp minus the target's logit, in f64; float32 out.
#[test]
fn cross_entropy_is_logsumexp_minus_the_target_logit() {
    let x: Vec<f64> = (0..12).map(|i| ((i * 5) % 7) as f64 / 3.0 - 1.0).collect();
    let logits = Array::from_slice(&x, &[3, 4]).unwrap();
    let t = [2i32, 0, 3];
    let targets = Array::from_slice(&t, &[3]).unwrap();
    let out = fast::cross_entropy(&logits, &targets).unwrap();
    assert_eq!((out.dtype(), out.shape()), (Dtype::Float32, &[3usize][..]));
    let got = out.to_vec::<f32>().unwrap();
    for r in 0..3 {
        let row = &x[r * 4..(r + 1) * 4];
        let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
        let want = lse - row[t[r] as usize];
        assert!(
            (got[r] as f64 - want).abs() < 1e-6,
            "row {r}: {} vs {want}",
            got[r]
        );
    }
    assert!(fast::cross_entropy(&logits, &Array::from_slice(&[0i32, 1], &[2]).unwrap()).is_err());
    let float_targets = Array::from_slice(&[0.0f32, 1.0, 2.0], &[3]).unwrap();
    assert!(fast::cross_entropy(&logits, &float_targets).is_err());
}
