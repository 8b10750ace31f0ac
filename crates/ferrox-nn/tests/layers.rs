//! Each layer against reference math in f64 loops on small random inputs.

mod common;
use common::*;
use ferrox::{ops, Array, Dtype};
use ferrox_nn::activations as act;
use ferrox_nn::*;

#[test]
fn linear_matches_reference() {
    let mut rng = Rng::new(1);
    let (x, xv) = random(&mut rng, &[3, 5]);
    let (w, wv) = random(&mut rng, &[4, 5]);
    let (b, bv) = random(&mut rng, &[4]);
    let mut layer = Linear::new(5, 4, true).unwrap();
    layer.weight = w.clone();
    layer.bias = Some(b);
    assert_close(
        &values(&layer.forward(&x).unwrap()),
        &linear_ref(&xv, &wv, Some(&bv), 3, 5, 4),
        1e-6,
    );
    layer.bias = None;
    assert_close(
        &values(&layer.forward(&x).unwrap()),
        &linear_ref(&xv, &wv, None, 3, 5, 4),
        1e-6,
    );
    // Leading batch axes pass through.
    let x3 = ops::reshape(&x, &[3, 1, 5]).unwrap();
    assert_eq!(layer.forward(&x3).unwrap().shape(), &[3, 1, 4]);
    // A wrong input width is an error, not a panic.
    assert!(layer.forward(&ops::zeros(&[2, 3], None).unwrap()).is_err());
}

#[test]
fn linear_init_is_bounded() {
    let layer = Linear::new(16, 3, true).unwrap();
    assert_eq!(layer.weight.shape(), &[3, 16]);
    assert!(values(&layer.weight).iter().all(|v| v.abs() <= 0.25));
}

#[test]
fn embedding_gathers_rows_and_ties() {
    let mut rng = Rng::new(2);
    let (w, wv) = random(&mut rng, &[6, 3]);
    let mut emb = Embedding::new(6, 3).unwrap();
    emb.weight = w;
    let idx = Array::from_slice(&[5i32, 0, 2, 2], &[2, 2]).unwrap();
    let y = emb.forward(&idx).unwrap();
    assert_eq!(y.shape(), &[2, 2, 3]);
    let want: Vec<f64> = [5, 0, 2, 2]
        .iter()
        .flat_map(|&r| wv[r * 3..r * 3 + 3].to_vec())
        .collect();
    assert_eq!(values(&y), want);
    let (x, xv) = random(&mut rng, &[2, 3]);
    assert_close(
        &values(&emb.as_linear(&x).unwrap()),
        &linear_ref(&xv, &wv, None, 2, 3, 6),
        1e-6,
    );
}

#[test]
fn layer_norm_and_rms_norm_match_reference() {
    let mut rng = Rng::new(3);
    let (x, xv) = random(&mut rng, &[4, 6]);
    let (w, wv) = random(&mut rng, &[6]);
    let (b, bv) = random(&mut rng, &[6]);
    let mut ln = LayerNorm::new(6).unwrap();
    ln.weight = Some(w.clone());
    ln.bias = Some(b);
    assert_close(
        &values(&ln.forward(&x).unwrap()),
        &layer_norm_ref(&xv, &wv, &bv, 6, 1e-5),
        1e-5,
    );
    let plain = LayerNorm::with_options(6, 1e-5, false, false).unwrap();
    let ones = vec![1.0; 6];
    let zeros = vec![0.0; 6];
    assert_close(
        &values(&plain.forward(&x).unwrap()),
        &layer_norm_ref(&xv, &ones, &zeros, 6, 1e-5),
        1e-5,
    );
    let mut rms = RMSNorm::new(6).unwrap();
    rms.weight = w;
    let mut want = vec![0.0; xv.len()];
    for (row, out) in xv.chunks(6).zip(want.chunks_mut(6)) {
        let ms = row.iter().map(|v| v * v).sum::<f64>() / 6.0;
        for k in 0..6 {
            out[k] = row[k] / (ms + 1e-5).sqrt() * wv[k];
        }
    }
    assert_close(&values(&rms.forward(&x).unwrap()), &want, 1e-5);
}

fn softmax_ref(v: &mut [f64]) {
    let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = v.iter().map(|x| (x - m).exp()).sum();
    v.iter_mut().for_each(|x| *x = (*x - m).exp() / s);
}

#[test]
fn multi_head_attention_matches_reference() {
    let (b, l, s, d, h) = (2, 3, 4, 8, 2);
    let hd = d / h;
    let mut rng = Rng::new(4);
    let (q_in, qv) = random(&mut rng, &[b, l, d]);
    let (kv_in, kvv) = random(&mut rng, &[b, s, d]);
    let mha = MultiHeadAttention::new(d, h, false).unwrap();
    let w: Vec<Vec<f64>> = [
        &mha.query_proj,
        &mha.key_proj,
        &mha.value_proj,
        &mha.out_proj,
    ]
    .iter()
    .map(|p| values(&p.weight))
    .collect();
    // A causal-style additive mask [l, s] (query i sees keys 0..=i+1).
    let mask_v: Vec<f64> = (0..l * s)
        .map(|i| if i % s > i / s + 1 { -1e9 } else { 0.0 })
        .collect();
    let mask = f32_array(&mask_v, &[l, s]);
    let got = values(&mha.forward(&q_in, &kv_in, &kv_in, Some(&mask)).unwrap());

    let q = linear_ref(&qv, &w[0], None, b * l, d, d);
    let k = linear_ref(&kvv, &w[1], None, b * s, d, d);
    let v = linear_ref(&kvv, &w[2], None, b * s, d, d);
    let scale = 1.0 / (hd as f64).sqrt();
    let mut attn = vec![0.0; b * l * d];
    for bi in 0..b {
        for hi in 0..h {
            for i in 0..l {
                let mut scores: Vec<f64> = (0..s)
                    .map(|j| {
                        let dot: f64 = (0..hd)
                            .map(|c| {
                                q[(bi * l + i) * d + hi * hd + c]
                                    * k[(bi * s + j) * d + hi * hd + c]
                            })
                            .sum();
                        dot * scale + mask_v[i * s + j]
                    })
                    .collect();
                softmax_ref(&mut scores);
                for c in 0..hd {
                    attn[(bi * l + i) * d + hi * hd + c] = (0..s)
                        .map(|j| scores[j] * v[(bi * s + j) * d + hi * hd + c])
                        .sum();
                }
            }
        }
    }
    let want = linear_ref(&attn, &w[3], None, b * l, d, d);
    assert_close(&got, &want, 1e-5);
    // Bad ranks and head counts are errors.
    assert!(mha
        .forward(&ops::zeros(&[3, 8], None).unwrap(), &kv_in, &kv_in, None)
        .is_err());
    assert!(MultiHeadAttention::new(8, 3, false).is_err());
}

#[test]
fn causal_mask_is_zero_on_and_below_diagonal() {
    let m = MultiHeadAttention::create_additive_causal_mask(3, Dtype::Float32).unwrap();
    let min = f32::MIN as f64;
    assert_eq!(
        values(&m),
        vec![0.0, min, min, 0.0, 0.0, min, 0.0, 0.0, 0.0]
    );
}

#[test]
fn rope_matches_reference() {
    let (l, d, dims) = (3, 6, 4);
    let mut rng = Rng::new(5);
    let (x, xv) = random(&mut rng, &[1, l, d]);
    for traditional in [false, true] {
        let rope = RoPE::new(dims, traditional);
        let got = values(&rope.forward(&x, 2).unwrap());
        let mut want = xv.clone();
        for p in 0..l {
            for i in 0..dims / 2 {
                let theta = 10000f64.powf(-2.0 * i as f64 / dims as f64);
                let a = (p + 2) as f64 * theta;
                let (i1, i2) = if traditional {
                    (2 * i, 2 * i + 1)
                } else {
                    (i, i + dims / 2)
                };
                let (x1, x2) = (xv[p * d + i1], xv[p * d + i2]);
                want[p * d + i1] = x1 * a.cos() - x2 * a.sin();
                want[p * d + i2] = x1 * a.sin() + x2 * a.cos();
            }
        }
        assert_close(&got, &want, 1e-5);
    }
}

#[test]
fn activations_match_reference() {
    let mut rng = Rng::new(6);
    let (x, xv) = random(&mut rng, &[2, 5]);
    let x = ops::multiply(&x, 3.0).unwrap();
    let xv: Vec<f64> = xv.iter().map(|v| (v * 3.0) as f32 as f64).collect();
    let erf = |v: f64| {
        // Abramowitz-Stegun 7.1.26 is too coarse; integrate instead (Simpson, fine grid).
        let n = 2000;
        let hstep = v / n as f64;
        let f = |t: f64| (-t * t).exp();
        let mut s = f(0.0) + f(v);
        for k in 1..n {
            s += f(k as f64 * hstep) * if k % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * hstep / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    };
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    type F = fn(&Array) -> ferrox::Result<Array>;
    let cases: Vec<(F, Box<dyn Fn(f64) -> f64>)> = vec![
        (act::relu as F, Box::new(|v: f64| v.max(0.0))),
        (act::sigmoid as F, Box::new(sig)),
        (act::tanh as F, Box::new(f64::tanh)),
        (act::silu as F, Box::new(move |v: f64| v * sig(v))),
        (act::softplus as F, Box::new(|v: f64| (1.0 + v.exp()).ln())),
        (
            act::gelu as F,
            Box::new(move |v: f64| v * (1.0 + erf(v / 2f64.sqrt())) / 2.0),
        ),
        (
            act::gelu_approx as F,
            Box::new(|v: f64| {
                0.5 * v
                    * (1.0
                        + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh())
            }),
        ),
        (
            act::gelu_fast_approx as F,
            Box::new(move |v: f64| v * sig(1.702 * v)),
        ),
    ];
    for (f, r) in cases {
        let want: Vec<f64> = xv.iter().map(|&v| r(v)).collect();
        assert_close(&values(&f(&x).unwrap()), &want, 1e-5);
    }
    let want: Vec<f64> = xv
        .iter()
        .map(|&v| if v > 0.0 { v } else { 0.1 * v })
        .collect();
    assert_close(&values(&act::leaky_relu(&x, 0.1).unwrap()), &want, 1e-6);
    let want: Vec<f64> = xv
        .iter()
        .map(|&v| if v > 0.0 { v } else { 0.5 * (v.exp() - 1.0) })
        .collect();
    assert_close(&values(&act::elu(&x, 0.5).unwrap()), &want, 1e-6);
    // softmax, softmin and log_softmax along the last axis.
    let neg = ops::negative(&x).unwrap();
    assert_close(
        &values(&act::softmin(&neg, -1).unwrap()),
        &values(&act::softmax(&x, -1).unwrap()),
        1e-7,
    );
    let mut sm = xv.clone();
    sm.chunks_mut(5).for_each(softmax_ref);
    assert_close(&values(&act::softmax(&x, -1).unwrap()), &sm, 1e-6);
    let lsm: Vec<f64> = sm.iter().map(|v| v.ln()).collect();
    assert_close(&values(&act::log_softmax(&x, -1).unwrap()), &lsm, 1e-5);
}

#[test]
fn dropout_scales_kept_elements_and_is_identity_in_eval() {
    let x = ops::ones(&[1000], None).unwrap();
    let mut d = Dropout::new(0.25).unwrap();
    assert!(d.training, "a new module is in training mode, as in Python");
    let y = values(&d.forward(&x).unwrap());
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
    let kept = y.iter().filter(|&&v| v != 0.0).count();
    assert!((650..850).contains(&kept), "kept {kept} of 1000");
    d.set_training(false);
    assert_eq!(values(&d.forward(&x).unwrap()), vec![1.0; 1000]);
    assert!(Dropout::new(1.0).is_err());
    assert!(Dropout::new(-0.1).is_err());
}

#[test]
fn conv1d_matches_reference() {
    let (n, l, cin, cout, k, p) = (2, 5, 3, 4, 3, 1);
    let mut rng = Rng::new(7);
    let (x, xv) = random(&mut rng, &[n, l, cin]);
    let mut conv = Conv1d::with_options(cin, cout, k, 1, p, 1, 1, true).unwrap();
    assert_eq!(conv.weight.shape(), &[cout, k, cin]);
    let (b, bv) = random(&mut rng, &[cout]);
    conv.bias = Some(b);
    let wv = values(&conv.weight);
    let lout = l + 2 * p - k + 1;
    let mut want = vec![0.0; n * lout * cout];
    for ni in 0..n {
        for t in 0..lout {
            for o in 0..cout {
                let mut s = bv[o];
                for kk in 0..k {
                    let pos = t as isize + kk as isize - p as isize;
                    if pos < 0 || pos >= l as isize {
                        continue;
                    }
                    for c in 0..cin {
                        s += xv[(ni * l + pos as usize) * cin + c] * wv[(o * k + kk) * cin + c];
                    }
                }
                want[(ni * lout + t) * cout + o] = s;
            }
        }
    }
    assert_close(&values(&conv.forward(&x).unwrap()), &want, 1e-5);
    assert!(Conv1d::with_options(3, 4, 3, 1, 0, 1, 2, true).is_err());
}

#[test]
fn conv2d_matches_reference() {
    let (hgt, wid, cin, cout, k) = (4, 5, 2, 3, 3);
    let mut rng = Rng::new(8);
    let (x, xv) = random(&mut rng, &[1, hgt, wid, cin]);
    let conv = Conv2d::with_options(cin, cout, [k, k], [1, 1], [1, 1], [1, 1], 1, false).unwrap();
    assert_eq!(conv.weight.shape(), &[cout, k, k, cin]);
    let wv = values(&conv.weight);
    let mut want = vec![0.0; hgt * wid * cout];
    for i in 0..hgt {
        for j in 0..wid {
            for o in 0..cout {
                let mut s = 0.0;
                for a in 0..k {
                    for bb in 0..k {
                        let (y, z) = (i as isize + a as isize - 1, j as isize + bb as isize - 1);
                        if y < 0 || z < 0 || y >= hgt as isize || z >= wid as isize {
                            continue;
                        }
                        for c in 0..cin {
                            s += xv[(y as usize * wid + z as usize) * cin + c]
                                * wv[((o * k + a) * k + bb) * cin + c];
                        }
                    }
                }
                want[(i * wid + j) * cout + o] = s;
            }
        }
    }
    assert_close(&values(&conv.forward(&x).unwrap()), &want, 1e-5);
}

#[test]
fn encoder_layer_matches_composed_reference() {
    // The post-norm path built by hand from the already-tested pieces.
    let mut rng = Rng::new(9);
    let (x, _) = random(&mut rng, &[1, 3, 8]);
    let opts = TransformerOptions {
        norm_first: false,
        mlp_dims: Some(16),
        ..Default::default()
    };
    let layer = TransformerEncoderLayer::new(8, 2, opts).unwrap();
    let a = layer.attention.forward(&x, &x, &x, None).unwrap();
    let h = layer.ln1.forward(&ops::add(&x, &a).unwrap()).unwrap();
    let m = layer
        .linear2
        .forward(&act::relu(&layer.linear1.forward(&h).unwrap()).unwrap())
        .unwrap();
    let want = layer.ln2.forward(&ops::add(&h, &m).unwrap()).unwrap();
    assert_eq!(values(&layer.forward(&x, None).unwrap()), values(&want));
}

#[test]
fn training_flag_reaches_every_dropout() {
    let opts = TransformerOptions {
        dropout: 0.5,
        mlp_dims: Some(8),
        ..Default::default()
    };
    let mut enc = TransformerEncoder::new(2, 4, 2, opts).unwrap();
    let x = ops::ones(&[1, 3, 4], None).unwrap();
    assert!(enc
        .layers
        .iter()
        .all(|l| l.dropout1.training && l.dropout2.training));
    enc.set_training(false);
    assert!(enc
        .layers
        .iter()
        .all(|l| !l.dropout1.training && !l.dropout2.training));
    // Eval mode is deterministic.
    assert_eq!(
        values(&enc.forward(&x, None).unwrap()),
        values(&enc.forward(&x, None).unwrap())
    );
    let mut seq = Sequential::new().add(Dropout::new(0.5).unwrap());
    seq.set_training(false);
    assert_eq!(values(&seq.forward(&x).unwrap()), vec![1.0; 12]);
}

#[test]
fn group_norm_matches_reference() {
    let (n, p, c, g) = (2, 3, 4, 2);
    let mut rng = Rng::new(15);
    let (x, xv) = random(&mut rng, &[n, p, c]);
    for pytorch in [false, true] {
        let mut gn = GroupNorm::with_options(g, c, 1e-5, true, pytorch).unwrap();
        let (w, wv) = random(&mut rng, &[c]);
        let (b, bv) = random(&mut rng, &[c]);
        gn.weight = Some(w);
        gn.bias = Some(b);
        let group_of = |ch: usize| if pytorch { ch / (c / g) } else { ch % g };
        let mut want = vec![0.0; xv.len()];
        for ni in 0..n {
            for gi in 0..g {
                let idx: Vec<usize> = (0..p)
                    .flat_map(|pi| {
                        (0..c)
                            .filter(move |&ch| group_of(ch) == gi)
                            .map(move |ch| (ni * p + pi) * c + ch)
                    })
                    .collect();
                let mean = idx.iter().map(|&i| xv[i]).sum::<f64>() / idx.len() as f64;
                let var =
                    idx.iter().map(|&i| (xv[i] - mean).powi(2)).sum::<f64>() / idx.len() as f64;
                for &i in &idx {
                    want[i] = (xv[i] - mean) / (var + 1e-5).sqrt() * wv[i % c] + bv[i % c];
                }
            }
        }
        assert_close(&values(&gn.forward(&x).unwrap()), &want, 1e-5);
    }
    assert!(GroupNorm::new(3, 4).is_err());
    // Python holds bias before weight.
    let keys: Vec<String> = GroupNorm::new(2, 4)
        .unwrap()
        .parameters()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["bias", "weight"]);
}

#[test]
fn batch_norm_matches_reference_and_tracks_statistics() {
    let (n, c) = (5, 3);
    let mut rng = Rng::new(16);
    let (x, xv) = random(&mut rng, &[n, c]);
    let mut bn = BatchNorm::new(c).unwrap();
    let keys: Vec<String> = bn.parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["weight", "bias", "running_mean", "running_var"]);
    let mean: Vec<f64> = (0..c)
        .map(|j| (0..n).map(|i| xv[i * c + j]).sum::<f64>() / n as f64)
        .collect();
    let var: Vec<f64> = (0..c)
        .map(|j| {
            (0..n)
                .map(|i| (xv[i * c + j] - mean[j]).powi(2))
                .sum::<f64>()
                / n as f64
        })
        .collect();
    let want: Vec<f64> = (0..n * c)
        .map(|i| (xv[i] - mean[i % c]) / (var[i % c] + 1e-5).sqrt())
        .collect();
    assert_close(&values(&bn.forward(&x).unwrap()), &want, 1e-5);
    let rm: Vec<f64> = mean.iter().map(|m| 0.1 * m).collect();
    let rv: Vec<f64> = var
        .iter()
        .map(|v| 0.9 + 0.1 * v * n as f64 / (n as f64 - 1.0))
        .collect();
    assert_close(&values(bn.running_mean.as_ref().unwrap()), &rm, 1e-6);
    assert_close(&values(bn.running_var.as_ref().unwrap()), &rv, 1e-6);
    // Eval mode uses (and keeps) the running statistics.
    bn.set_training(false);
    let want: Vec<f64> = (0..n * c)
        .map(|i| (xv[i] - rm[i % c]) / (rv[i % c] + 1e-5).sqrt())
        .collect();
    assert_close(&values(&bn.forward(&x).unwrap()), &want, 1e-5);
    assert_close(&values(bn.running_mean.as_ref().unwrap()), &rm, 1e-6);
    assert!(bn.forward(&ops::zeros(&[3], None).unwrap()).is_err());
}

#[test]
fn embedding_rejects_bad_indices_without_panicking() {
    let emb = Embedding::new(6, 3).unwrap();
    // Float indices are an error.
    assert!(emb.forward(&ops::zeros(&[2], None).unwrap()).is_err());
    // Out-of-range indices: whatever the core does (MLX does not check them), it must
    // not bring the process down.
    let idx = Array::from_slice(&[7i32, -1], &[2]).unwrap();
    if let Ok(y) = emb.forward(&idx) {
        let _ = y.to_vec::<f32>();
    }
}
