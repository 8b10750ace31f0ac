//! Optimizer steps against their formulas, losses against reference math, and a tiny
//! MLP whose loss goes down.

mod common;
use common::*;
use ferrox::Array;
use ferrox_nn::losses::{self, Reduction};
use ferrox_nn::optim::{Optimizer, Params};
use ferrox_nn::*;

fn one(name: &str, a: &Array) -> Params {
    [(name.to_string(), a.clone())].into()
}

/// Runs `steps` updates of `opt` on `w` with the fixed gradient `g`.
fn steps(opt: &mut dyn Optimizer, w: &Array, g: &Array, n: usize) -> Vec<f64> {
    let mut p = one("w", w);
    for _ in 0..n {
        p = opt.apply_gradients(&one("w", g), &p).unwrap();
    }
    values(&p["w"])
}

#[test]
fn sgd_matches_formula() {
    let mut rng = Rng::new(11);
    let (w, wv) = random(&mut rng, &[5]);
    let (g, gv) = random(&mut rng, &[5]);
    let lr = 0.1f32 as f64; // the rate is held as a float32, as in Python
                            // Plain.
    let got = steps(&mut SGD::new(0.1), &w, &g, 1);
    let want: Vec<f64> = wv.iter().zip(&gv).map(|(w, g)| w - lr * g).collect();
    assert_close(&got, &want, 1e-6);
    // Momentum, weight decay, dampening, Nesterov: three steps.
    for (damp, nesterov) in [(0.0, false), (0.2, false), (0.0, true)] {
        let (mu, wd) = (0.9, 0.01);
        let mut opt = SGD::with_options(0.1, mu, wd, damp, nesterov).unwrap();
        let got = steps(&mut opt, &w, &g, 3);
        let (mut wr, mut v) = (wv.clone(), vec![0.0; 5]);
        for _ in 0..3 {
            for i in 0..5 {
                let gi = gv[i] + wd * wr[i];
                v[i] = mu * v[i] + if damp > 0.0 { (1.0 - damp) * gi } else { gi };
                let u = if nesterov { gi + mu * v[i] } else { v[i] };
                wr[i] -= lr * u;
            }
        }
        assert_close(&got, &wr, 1e-5);
    }
    assert!(SGD::with_options(0.1, 0.0, 0.0, 0.0, true).is_err());
}

#[test]
fn adam_and_adamw_match_formula() {
    let mut rng = Rng::new(12);
    let (w, wv) = random(&mut rng, &[6]);
    let (g, gv) = random(&mut rng, &[6]);
    let lr = 0.01f32 as f64;
    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
    for (decay, bias_correction) in [(None, false), (None, true), (Some(0.05), false)] {
        let got = match decay {
            None => steps(
                &mut Adam::with_options(0.01, [b1, b2], eps, bias_correction).unwrap(),
                &w,
                &g,
                3,
            ),
            Some(wd) => steps(
                &mut AdamW::with_options(0.01, [b1, b2], eps, wd, false).unwrap(),
                &w,
                &g,
                3,
            ),
        };
        let (mut wr, mut m, mut v) = (wv.clone(), vec![0.0; 6], vec![0.0; 6]);
        for t in 1..=3 {
            for i in 0..6 {
                if let Some(wd) = decay {
                    wr[i] *= 1.0 - lr * wd;
                }
                m[i] = b1 * m[i] + (1.0 - b1) * gv[i];
                v[i] = b2 * v[i] + (1.0 - b2) * gv[i] * gv[i];
                if bias_correction {
                    let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
                    wr[i] -= lr / c1 * m[i] / (v[i].sqrt() / c2.sqrt() + eps);
                } else {
                    wr[i] -= lr * m[i] / (v[i].sqrt() + eps);
                }
            }
        }
        assert_close(&got, &wr, 1e-5);
    }
    assert!(Adam::with_options(0.1, [1.0, 0.9], 1e-8, false).is_err());
    // A gradient with no parameter is an error naming it.
    let e = Adam::new(0.1)
        .apply_gradients(&one("x", &g), &one("w", &w))
        .unwrap_err();
    assert!(e.to_string().contains('x'));
}

#[test]
fn losses_match_reference() {
    let mut rng = Rng::new(13);
    let (logits, lv) = random(&mut rng, &[3, 4]);
    let targets = Array::from_slice(&[2i32, 0, 3], &[3]).unwrap();
    let lse: Vec<f64> = lv
        .chunks(4)
        .map(|r| r.iter().map(|v| v.exp()).sum::<f64>().ln())
        .collect();
    let ce: Vec<f64> = (0..3).map(|i| lse[i] - lv[i * 4 + [2, 0, 3][i]]).collect();
    let got = losses::cross_entropy(&logits, &targets, None, -1, 0.0, Reduction::None).unwrap();
    assert_close(&values(&got), &ce, 1e-6);
    let mean = ce.iter().sum::<f64>() / 3.0;
    let got = losses::cross_entropy(&logits, &targets, None, -1, 0.0, Reduction::Mean).unwrap();
    assert_close(&values(&got), &[mean], 1e-6);
    // Probabilities as targets (one-hot) give the same; label smoothing mixes in the mean logit.
    let mut onehot = vec![0.0; 12];
    for (i, t) in [2, 0, 3].iter().enumerate() {
        onehot[i * 4 + t] = 1.0;
    }
    let probs = f32_array(&onehot, &[3, 4]);
    let got = losses::cross_entropy(&logits, &probs, None, -1, 0.0, Reduction::Sum).unwrap();
    assert_close(&values(&got), &[ce.iter().sum()], 1e-6);
    let s = 0.1;
    let smooth: Vec<f64> = (0..3)
        .map(|i| {
            lse[i]
                - ((1.0 - s) * lv[i * 4 + [2, 0, 3][i]]
                    + s * lv[i * 4..i * 4 + 4].iter().sum::<f64>() / 4.0)
        })
        .collect();
    let got = losses::cross_entropy(&logits, &targets, None, -1, s, Reduction::None).unwrap();
    assert_close(&values(&got), &smooth, 1e-6);
    let w = f32_array(&[1.0, 0.0, 2.0], &[3]);
    let got = losses::cross_entropy(&logits, &targets, Some(&w), -1, 0.0, Reduction::Sum).unwrap();
    assert_close(&values(&got), &[ce[0] + 2.0 * ce[2]], 1e-6);
    assert!(losses::cross_entropy(&logits, &targets, None, -1, 1.0, Reduction::None).is_err());
    assert!(losses::cross_entropy(
        &logits,
        &f32_array(&[0.0; 4], &[4]),
        None,
        -1,
        0.0,
        Reduction::None
    )
    .is_err());

    // nll on log-probabilities equals cross entropy.
    let logp = activations::log_softmax(&logits, -1).unwrap();
    let got = losses::nll_loss(&logp, &targets, -1, Reduction::None).unwrap();
    assert_close(&values(&got), &ce, 1e-5);

    let (p, pv) = random(&mut rng, &[2, 3]);
    let (t, tv) = random(&mut rng, &[2, 3]);
    let mse = pv
        .iter()
        .zip(&tv)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        / 6.0;
    assert_close(
        &values(&losses::mse_loss(&p, &t, Reduction::Mean).unwrap()),
        &[mse],
        1e-6,
    );
    let l1: Vec<f64> = pv.iter().zip(&tv).map(|(a, b)| (a - b).abs()).collect();
    assert_close(
        &values(&losses::l1_loss(&p, &t, Reduction::None).unwrap()),
        &l1,
        1e-6,
    );
    assert!(losses::mse_loss(&p, &logits, Reduction::Mean).is_err());

    // Binary cross entropy, from logits and from probabilities (clipped logs).
    let t01: Vec<f64> = tv.iter().map(|v| (v + 1.0) / 2.0).collect();
    let tt = f32_array(&t01, &[2, 3]);
    let t01: Vec<f64> = values(&tt);
    let bce: Vec<f64> = pv
        .iter()
        .zip(&t01)
        .map(|(x, t)| (1.0 + x.exp()).ln() - x * t)
        .collect();
    let got = losses::binary_cross_entropy(&p, &tt, None, true, Reduction::None).unwrap();
    assert_close(&values(&got), &bce, 1e-6);
    let probs = f32_array(&[0.0, 0.25, 1.0], &[3]);
    let tgt = f32_array(&[0.0, 1.0, 0.0], &[3]);
    let got = losses::binary_cross_entropy(&probs, &tgt, None, false, Reduction::None).unwrap();
    assert_close(&values(&got), &[0.0, -(0.25f64.ln()), 100.0], 1e-6);
}

#[test]
fn tiny_mlp_training_decreases_the_loss() {
    ferrox::random::seed(0);
    let mut model = Sequential::new()
        .add(Linear::new(2, 16, true).unwrap())
        .add(Activation(activations::relu))
        .add(Linear::new(16, 1, true).unwrap());
    // y = x0 - 2 x1 on a fixed batch.
    let mut rng = Rng::new(14);
    let (x, xv) = random(&mut rng, &[32, 2]);
    let yv: Vec<f64> = xv.chunks(2).map(|r| r[0] - 2.0 * r[1]).collect();
    let y = f32_array(&yv, &[32, 1]);
    let loss_fn = |m: &Sequential| losses::mse_loss(&m.forward(&x)?, &y, Reduction::Mean);
    let mut opt = Adam::new(0.02);
    let mut history = Vec::new();
    for _ in 0..60 {
        let (loss, grads) = value_and_grad(&mut model, loss_fn).unwrap();
        assert_eq!(grads.len(), 4);
        opt.update(&mut model, &grads).unwrap();
        ferrox::eval(
            &model
                .parameters()
                .into_iter()
                .map(|(_, p)| p)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        history.push(loss.item::<f32>().unwrap());
    }
    let (first, last) = (history[0], *history.last().unwrap());
    assert!(last < first * 0.2, "loss went from {first} to {last}");
    // A plain SGD step also lowers it. The model gets its own arrays back after
    // differentiation (not the stand-ins the trace used).
    let mut sgd = SGD::new(0.05);
    let held = model.parameters();
    let (before, grads) = value_and_grad(&mut model, loss_fn).unwrap();
    for ((k, a), (_, b)) in held.iter().zip(model.parameters()) {
        assert!(a.same_node(&b), "{k} was not restored");
    }
    sgd.update(&mut model, &grads).unwrap();
    let after = loss_fn(&model).unwrap();
    assert!(after.item::<f32>().unwrap() < before.item::<f32>().unwrap());
}

#[test]
fn clip_grad_norm_scales_to_the_bound() {
    use ferrox_nn::optim::clip_grad_norm;
    let a = f32_array(&[3.0, 0.0], &[2]);
    let b = f32_array(&[4.0], &[1]);
    let grads: Params = [("a".to_string(), a), ("b".to_string(), b)].into();
    let (clipped, norm) = clip_grad_norm(&grads, 1.0).unwrap();
    assert_close(&values(&norm), &[5.0], 1e-7);
    let s = 1.0 / (5.0 + 1e-6);
    assert_close(&values(&clipped["a"]), &[3.0 * s, 0.0], 1e-6);
    assert_close(&values(&clipped["b"]), &[4.0 * s], 1e-6);
    // Within the bound: unchanged.
    let (same, _) = clip_grad_norm(&grads, 10.0).unwrap();
    assert_eq!(values(&same["b"]), vec![4.0]);
}

#[test]
fn more_losses_match_reference() {
    let mut rng = Rng::new(17);
    let (p, pv) = random(&mut rng, &[2, 3]);
    let (t, tv) = random(&mut rng, &[2, 3]);
    let p2 = ferrox::ops::multiply(&p, 3.0).unwrap();
    let p2v = values(&p2);
    let sl1: Vec<f64> = p2v
        .iter()
        .zip(&tv)
        .map(|(a, b)| {
            let d = (a - b).abs();
            if d < 0.5 {
                0.5 * d * d / 0.5
            } else {
                d - 0.25
            }
        })
        .collect();
    let got = losses::smooth_l1_loss(&p2, &t, 0.5, Reduction::None).unwrap();
    assert_close(&values(&got), &sl1, 1e-6);
    let hub: Vec<f64> = p2v
        .iter()
        .zip(&tv)
        .map(|(a, b)| {
            let e = (a - b).abs();
            if e <= 1.0 {
                0.5 * e * e
            } else {
                e - 0.5
            }
        })
        .collect();
    let got = losses::huber_loss(&p2, &t, 1.0, Reduction::None).unwrap();
    assert_close(&values(&got), &hub, 1e-6);
    let hinge: Vec<f64> = pv
        .iter()
        .zip(&tv)
        .map(|(a, b)| (1.0 - a * b).max(0.0))
        .collect();
    assert_close(
        &values(&losses::hinge_loss(&p, &t, Reduction::None).unwrap()),
        &hinge,
        1e-6,
    );
    // KL between two log-softmaxes.
    let lp = activations::log_softmax(&p, -1).unwrap();
    let lt = activations::log_softmax(&t, -1).unwrap();
    let (lpv, ltv) = (values(&lp), values(&lt));
    let kl: Vec<f64> = (0..2)
        .map(|r| {
            (0..3)
                .map(|c| ltv[r * 3 + c].exp() * (ltv[r * 3 + c] - lpv[r * 3 + c]))
                .sum()
        })
        .collect();
    assert_close(
        &values(&losses::kl_div_loss(&lp, &lt, -1, Reduction::None).unwrap()),
        &kl,
        1e-6,
    );
}

#[test]
fn rmsprop_and_adagrad_match_formula() {
    let mut rng = Rng::new(18);
    let (w, wv) = random(&mut rng, &[4]);
    let (g, gv) = random(&mut rng, &[4]);
    let (lr, eps) = (0.01f32 as f64, 1e-8);
    for rms in [true, false] {
        let got = if rms {
            steps(&mut RMSprop::new(0.01, 0.99, eps).unwrap(), &w, &g, 3)
        } else {
            steps(&mut Adagrad::new(0.01, eps).unwrap(), &w, &g, 3)
        };
        let (mut wr, mut v) = (wv.clone(), vec![0.0; 4]);
        for _ in 0..3 {
            for i in 0..4 {
                v[i] = if rms {
                    0.99 * v[i] + 0.01 * gv[i] * gv[i]
                } else {
                    v[i] + gv[i] * gv[i]
                };
                wr[i] -= lr * gv[i] / (v[i].sqrt() + eps);
            }
        }
        assert_close(&got, &wr, 1e-5);
    }
    assert!(RMSprop::new(0.1, -1.0, 1e-8).is_err());
    assert!(Adagrad::new(0.1, 0.0).is_err());
}
