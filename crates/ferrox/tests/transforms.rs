//! The transforms against finite differences (float64), each other (`<J·v, u> =
//! <v, Jᵀ·u>`) and plain loops (`vmap`), for every differentiable op; higher
//! derivatives against closed forms; composition; checkpoint memory; errors.

mod common;

use ferrox::transforms::{checkpoint, custom_function, grad, jvp, value_and_grad, vjp, vmap};
use ferrox::{ops, Array, Dtype, Error, Result};

// ---- helpers ---------------------------------------------------------------------------

/// Deterministic values in `[lo, hi)`.
fn values(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    common::random_values(n, Dtype::Float64, lo, hi, &mut common::Lcg(seed))
}

fn rand(shape: &[usize], seed: u64, lo: f64, hi: f64) -> Array {
    let n = shape.iter().product();
    Array::from_slice(&values(n, seed, lo, hi), shape).unwrap()
}

fn vec64(a: &Array) -> Vec<f64> {
    a.to_vec::<f64>().unwrap()
}

fn dot(a: &Array, b: &Array) -> f64 {
    vec64(a).iter().zip(vec64(b)).map(|(x, y)| x * y).sum()
}

fn close(name: &str, what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: {what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs() / (1.0 + w.abs());
        assert!(
            err < tol,
            "{name}: {what}: element {i}: got {g}, want {w}\n got {got:?}\nwant {want:?}"
        );
    }
}

type F = dyn Fn(&[Array]) -> Result<Array>;

fn as_vec(f: &F) -> impl Fn(&[Array]) -> Result<Vec<Array>> + '_ {
    move |x: &[Array]| Ok(vec![f(x)?])
}

/// The gradient of `sum(f(x) * w)` against central differences.
fn check_grad(name: &str, f: &F, inputs: &[Array]) {
    let out = f(inputs).unwrap();
    let w = rand(out.shape(), 99, -1.0, 1.0);
    let loss = |x: &[Array]| -> Result<Vec<Array>> {
        Ok(vec![ops::sum(&ops::multiply(&f(x)?, &w)?, &[], false)?])
    };
    let argnums: Vec<usize> = (0..inputs.len()).collect();
    let grads = grad(loss, &argnums)(inputs).unwrap();
    let eps = 1e-6;
    for (k, x) in inputs.iter().enumerate() {
        assert_eq!(grads[k].shape(), x.shape(), "{name}: gradient shape");
        let base = vec64(x);
        let mut numeric = vec![0.0; base.len()];
        for i in 0..base.len() {
            let at = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                let mut args = inputs.to_vec();
                args[k] = Array::from_slice(&v, x.shape()).unwrap();
                loss(&args).unwrap()[0].item::<f64>().unwrap()
            };
            numeric[i] = (at(eps) - at(-eps)) / (2.0 * eps);
        }
        close(name, &format!("d/dx{k}"), &vec64(&grads[k]), &numeric, 1e-5);
    }
}

/// `<J·v, u> = <v, Jᵀ·u>` on random `v`, `u`.
fn check_jvp_vjp(name: &str, f: &F, inputs: &[Array]) {
    let g = as_vec(f);
    let tangents: Vec<Array> = inputs
        .iter()
        .enumerate()
        .map(|(i, x)| rand(x.shape(), 10 + i as u64, -1.0, 1.0))
        .collect();
    let (out, jv) = jvp(&g, inputs, &tangents).unwrap();
    let u = rand(out[0].shape(), 77, -1.0, 1.0);
    let (out2, vjps) = vjp(&g, inputs, std::slice::from_ref(&u)).unwrap();
    close(name, "outputs", &vec64(&out[0]), &vec64(&out2[0]), 1e-12);
    let lhs = dot(&jv[0], &u);
    let rhs: f64 = tangents.iter().zip(&vjps).map(|(v, j)| dot(v, j)).sum();
    close(name, "<Jv,u> vs <v,J'u>", &[lhs], &[rhs], 1e-9);
}

/// `vmap(f)` equals stacking `f` over the batch, batching input `k` along `axis` (the
/// others shared) and every input at once.
fn check_vmap(name: &str, f: &F, inputs: &[Array]) {
    let n = 3;
    let g = as_vec(f);
    let mut plans: Vec<Vec<Option<usize>>> = vec![vec![Some(0); inputs.len()]];
    for k in 0..inputs.len() {
        if inputs[k].ndim() >= 1 {
            let mut p = vec![None; inputs.len()];
            p[k] = Some(1);
            plans.push(p);
        }
        if inputs.len() > 1 {
            let mut p = vec![None; inputs.len()];
            p[k] = Some(0);
            plans.push(p);
        }
    }
    for (pi, plan) in plans.iter().enumerate() {
        // Per-example inputs: fresh values for batched inputs, the input itself if shared.
        let items: Vec<Vec<Array>> = (0..n)
            .map(|b| {
                inputs
                    .iter()
                    .zip(plan)
                    .enumerate()
                    .map(|(i, (x, ax))| match ax {
                        Some(_) if b == 0 => x.clone(),
                        Some(_) => {
                            let v = vec64(x);
                            let mut w = values(v.len(), 1000 + 17 * b as u64 + i as u64, 0.9, 1.1);
                            for (w, v) in w.iter_mut().zip(&v) {
                                *w *= v;
                            }
                            Array::from_slice(&w, x.shape()).unwrap()
                        }
                        None => x.clone(),
                    })
                    .collect()
            })
            .collect();
        let batched: Vec<Array> = (0..inputs.len())
            .map(|i| match plan[i] {
                Some(ax) => {
                    let per: Vec<Array> = items.iter().map(|it| it[i].clone()).collect();
                    ops::stack(&per, ax as isize).unwrap()
                }
                None => inputs[i].clone(),
            })
            .collect();
        let got = vmap(&g, plan, &[Some(0)])(&batched)
            .unwrap_or_else(|e| panic!("{name}: vmap plan {plan:?}: {e}"));
        let want: Vec<Array> = items.iter().map(|it| f(it).unwrap()).collect();
        let want = ops::stack(&want, 0).unwrap();
        assert_eq!(
            got[0].shape(),
            want.shape(),
            "{name}: vmap plan {pi} {plan:?}: shape"
        );
        close(
            name,
            &format!("vmap plan {plan:?}"),
            &vec64(&got[0]),
            &vec64(&want),
            1e-12,
        );
    }
}

fn check_all(name: &str, f: &F, inputs: &[Array]) {
    check_grad(name, f, inputs);
    check_jvp_vjp(name, f, inputs);
    check_vmap(name, f, inputs);
}

// ---- per-op checks ---------------------------------------------------------------------

#[test]
fn unary_ops() {
    type U = fn(&Array) -> Result<Array>;
    let cases: Vec<(&str, U, f64, f64)> = vec![
        ("abs", ops::abs, 0.2, 2.0),
        ("negative", ops::negative, -2.0, 2.0),
        ("square", ops::square, -2.0, 2.0),
        ("sqrt", ops::sqrt, 0.5, 3.0),
        ("rsqrt", ops::rsqrt, 0.5, 3.0),
        ("reciprocal", ops::reciprocal, 0.5, 3.0),
        ("exp", ops::exp, -2.0, 2.0),
        ("expm1", ops::expm1, -2.0, 2.0),
        ("log", ops::log, 0.5, 3.0),
        ("log2", ops::log2, 0.5, 3.0),
        ("log10", ops::log10, 0.5, 3.0),
        ("log1p", ops::log1p, -0.5, 3.0),
        ("sin", ops::sin, -3.0, 3.0),
        ("cos", ops::cos, -3.0, 3.0),
        ("tan", ops::tan, -1.0, 1.0),
        ("arcsin", ops::arcsin, -0.9, 0.9),
        ("arccos", ops::arccos, -0.9, 0.9),
        ("arctan", ops::arctan, -3.0, 3.0),
        ("sinh", ops::sinh, -2.0, 2.0),
        ("cosh", ops::cosh, -2.0, 2.0),
        ("tanh", ops::tanh, -2.0, 2.0),
        ("arcsinh", ops::arcsinh, -2.0, 2.0),
        ("arccosh", ops::arccosh, 1.2, 3.0),
        ("arctanh", ops::arctanh, -0.9, 0.9),
        ("sigmoid", ops::sigmoid, -3.0, 3.0),
        ("erf", ops::erf, -2.0, 2.0),
        ("erfinv", ops::erfinv, -0.9, 0.9),
        ("sign", ops::sign, 0.1, 2.0),
        ("floor", ops::floor, 0.1, 0.9),
        ("ceil", ops::ceil, 0.1, 0.9),
        ("round", |a| ops::round(a, 0), 0.1, 0.4),
        ("degrees", ops::degrees, -1.0, 1.0),
        ("stop_gradient", ops::stop_gradient, -1.0, 1.0),
    ];
    for (i, (name, op, lo, hi)) in cases.into_iter().enumerate() {
        let f = move |x: &[Array]| op(&x[0]);
        for shape in [&[][..], &[5], &[2, 3]] {
            let x = rand(shape, i as u64, lo, hi);
            if name == "stop_gradient" {
                let g = grad(
                    |x: &[Array]| Ok(vec![ops::sum(&op(&x[0])?, &[], false)?]),
                    &[0],
                )(&[x.clone()])
                .unwrap();
                assert!(vec64(&g[0]).iter().all(|&v| v == 0.0));
                check_vmap(name, &f, &[x]);
                continue;
            }
            check_all(name, &f, &[x]);
        }
    }
}

#[test]
fn binary_ops_with_broadcasting() {
    type B = fn(&Array, &Array) -> Result<Array>;
    let cases: Vec<(&str, B, (f64, f64), (f64, f64))> = vec![
        ("add", |a, b| ops::add(a, b), (-2.0, 2.0), (-2.0, 2.0)),
        (
            "subtract",
            |a, b| ops::subtract(a, b),
            (-2.0, 2.0),
            (-2.0, 2.0),
        ),
        (
            "multiply",
            |a, b| ops::multiply(a, b),
            (-2.0, 2.0),
            (-2.0, 2.0),
        ),
        ("divide", |a, b| ops::divide(a, b), (-2.0, 2.0), (0.5, 2.0)),
        ("power", |a, b| ops::power(a, b), (0.5, 2.0), (-2.0, 2.0)),
        (
            "maximum",
            |a, b| ops::maximum(a, b),
            (-2.0, 2.0),
            (-2.0, 2.0),
        ),
        (
            "minimum",
            |a, b| ops::minimum(a, b),
            (-2.0, 2.0),
            (-2.0, 2.0),
        ),
        (
            "arctan2",
            |a, b| ops::arctan2(a, b),
            (-2.0, 2.0),
            (0.5, 2.0),
        ),
        (
            "logaddexp",
            |a, b| ops::logaddexp(a, b),
            (-2.0, 2.0),
            (-2.0, 2.0),
        ),
        (
            "remainder",
            |a, b| ops::remainder(a, b),
            (0.2, 0.8),
            (1.0, 1.5),
        ),
        (
            "where",
            |a, b| ops::where_(&ops::greater(a, 0.0)?, a, b),
            (-2.0, 2.0),
            (-2.0, 2.0),
        ),
        (
            "inner_compare",
            |a, b| ops::multiply(a, &ops::less(a, b)?),
            (-2.0, 2.0),
            (-2.0, 2.0),
        ),
    ];
    let shapes: [(&[usize], &[usize]); 4] = [
        (&[2, 3], &[2, 3]),
        (&[3, 1], &[1, 4]),
        (&[2, 3], &[3]),
        (&[], &[4]),
    ];
    for (i, (name, op, ra, rb)) in cases.into_iter().enumerate() {
        let f = move |x: &[Array]| op(&x[0], &x[1]);
        for (j, (sa, sb)) in shapes.iter().enumerate() {
            let a = rand(sa, (10 * i + j) as u64, ra.0, ra.1);
            let b = rand(sb, (10 * i + j + 500) as u64, rb.0, rb.1);
            check_all(&format!("{name} {sa:?} {sb:?}"), &f, &[a, b]);
        }
    }
}

#[test]
fn reductions_and_composites() {
    type R = Box<dyn Fn(&Array) -> Result<Array>>;
    let cases: Vec<(&str, R, (f64, f64))> = vec![
        ("sum", Box::new(|a| ops::sum(a, &[], false)), (-1.0, 1.0)),
        ("sum1", Box::new(|a| ops::sum(a, &[1], false)), (-1.0, 1.0)),
        ("sum0k", Box::new(|a| ops::sum(a, &[0], true)), (-1.0, 1.0)),
        ("prod", Box::new(|a| ops::prod(a, &[1], false)), (0.5, 1.5)),
        (
            "prod_all",
            Box::new(|a| ops::prod(a, &[], false)),
            (-1.5, 1.5),
        ),
        ("max", Box::new(|a| ops::max(a, &[1], false)), (-1.0, 1.0)),
        (
            "min",
            Box::new(|a| ops::min(a, &[0, 2], false)),
            (-1.0, 1.0),
        ),
        (
            "mean",
            Box::new(|a| ops::mean(a, &[-1], false)),
            (-1.0, 1.0),
        ),
        (
            "var",
            Box::new(|a| ops::var(a, &[1], false, 0)),
            (-1.0, 1.0),
        ),
        (
            "var_ddof",
            Box::new(|a| ops::var(a, &[], false, 1)),
            (-1.0, 1.0),
        ),
        ("std", Box::new(|a| ops::std(a, &[0], true, 0)), (-1.0, 1.0)),
        (
            "logsumexp",
            Box::new(|a| ops::logsumexp(a, &[1], false)),
            (-2.0, 2.0),
        ),
        (
            "logsumexp_all",
            Box::new(|a| ops::logsumexp(a, &[], false)),
            (-2.0, 2.0),
        ),
        (
            "softmax",
            Box::new(|a| ops::softmax(a, &[-1], false)),
            (-2.0, 2.0),
        ),
        (
            "cumsum",
            Box::new(|a| ops::cumsum(a, Some(1), false, true, None)),
            (-1.0, 1.0),
        ),
        (
            "cumsum_rev_excl",
            Box::new(|a| ops::cumsum(a, Some(0), true, false, None)),
            (-1.0, 1.0),
        ),
        (
            "cumprod",
            Box::new(|a| ops::cumprod(a, Some(1), false, true, None)),
            (0.5, 1.5),
        ),
        (
            "cumprod_rev_excl",
            Box::new(|a| ops::cumprod(a, Some(-1), true, false, None)),
            (0.5, 1.5),
        ),
        (
            "cummax",
            Box::new(|a| ops::cummax(a, Some(1), false, true)),
            (-1.0, 1.0),
        ),
        (
            "cummin_rev",
            Box::new(|a| ops::cummin(a, Some(0), true, true)),
            (-1.0, 1.0),
        ),
        (
            // The first output of an exclusive max is -inf: clipped for finite differences.
            "cummax_excl",
            Box::new(|a| ops::maximum(&ops::cummax(a, Some(1), false, false)?, -5.0)),
            (-1.0, 1.0),
        ),
        (
            "cummin_rev_excl",
            Box::new(|a| ops::minimum(&ops::cummin(a, Some(2), true, false)?, 5.0)),
            (-1.0, 1.0),
        ),
        (
            "logcumsumexp",
            Box::new(|a| ops::logcumsumexp(a, Some(1), false, true)),
            (-2.0, 2.0),
        ),
        (
            "logcumsumexp_rev",
            Box::new(|a| ops::logcumsumexp(a, Some(2), true, true)),
            (-2.0, 2.0),
        ),
        (
            "median",
            Box::new(|a| ops::median(a, &[1], false)),
            (-1.0, 1.0),
        ),
        (
            "median_all",
            Box::new(|a| ops::median(a, &[], false)),
            (-1.0, 1.0),
        ),
    ];
    for (i, (name, op, (lo, hi))) in cases.into_iter().enumerate() {
        let f = move |x: &[Array]| op(&x[0]);
        let x = rand(&[2, 4, 3], 300 + i as u64, lo, hi);
        check_all(name, &f, &[x]);
    }
}

/// `cumprod` with zeros in its lines (one, two, at the ends), where `y_i / x_j` is not
/// defined; `cummax`/`cummin` with ties, where the derivative goes to the latest of the
/// tied inputs, as in MLX.
#[test]
fn scans_at_zeros_and_ties() {
    let x = Array::from_slice(
        &[
            2.0f64, 0.0, 3.0, 0.0, 4.0, 1.5, //
            0.0, 1.2, -0.7, 2.0, 0.9, 1.1, //
            1.3, 0.8, -1.1, 0.6, 1.4, 0.0,
        ],
        &[3, 6],
    )
    .unwrap();
    for (rev, incl) in [(false, true), (false, false), (true, true), (true, false)] {
        let f = move |a: &[Array]| ops::cumprod(&a[0], Some(1), rev, incl, None);
        check_all(
            &format!("cumprod zeros rev={rev} incl={incl}"),
            &f,
            &[x.clone()],
        );
    }
    // MLX 0.32: grad of sum(cumprod(x) * [1..6]) at [2, 0, 3, 0, 4, 1].
    let z = Array::from_slice(&[2.0f64, 0.0, 3.0, 0.0, 4.0, 1.0], &[6]).unwrap();
    let w = Array::from_slice(&[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], &[6]).unwrap();
    for (rev, incl, want) in [
        (false, true, [1.0, 22.0, 0.0, 0.0, 0.0, 0.0]),
        (false, false, [2.0, 30.0, 0.0, 0.0, 0.0, 0.0]),
        (true, true, [0.0, 0.0, 0.0, 52.0, 5.0, 26.0]),
    ] {
        let w = w.clone();
        let f = move |a: &[Array]| {
            let y = ops::cumprod(&a[0], None, rev, incl, None)?;
            Ok(vec![ops::sum(&ops::multiply(&y, &w)?, &[], false)?])
        };
        let g = grad(f, &[0])(&[z.clone()]).unwrap();
        close(
            "cumprod vs MLX",
            &format!("rev={rev} incl={incl}"),
            &vec64(&g[0]),
            &want,
            1e-12,
        );
    }
    // Ties: MLX gives [1, 2, 7, 0, 5, 6] for cummax at [1, 3, 3, 2, 5, 5], and the same
    // for cummin at its negation.
    let t = Array::from_slice(&[1.0f64, 3.0, 3.0, 2.0, 5.0, 5.0], &[6]).unwrap();
    for neg in [false, true] {
        let w = w.clone();
        let f = move |a: &[Array]| {
            let y = if neg {
                ops::cummin(&ops::negative(&a[0])?, None, false, true)?
            } else {
                ops::cummax(&a[0], None, false, true)?
            };
            Ok(vec![ops::sum(&ops::multiply(&y, &w)?, &[], false)?])
        };
        let g = grad(f, &[0])(&[t.clone()]).unwrap();
        let sign = if neg { -1.0 } else { 1.0 };
        let want: Vec<f64> = [1.0, 2.0, 7.0, 0.0, 5.0, 6.0]
            .iter()
            .map(|v| v * sign)
            .collect();
        close(
            "cummax ties vs MLX",
            &format!("neg={neg}"),
            &vec64(&g[0]),
            &want,
            1e-12,
        );
    }
}

#[test]
fn matmul_and_products() {
    let cases: Vec<(&str, &[usize], &[usize])> = vec![
        ("2d", &[3, 4], &[4, 2]),
        ("batched", &[2, 3, 4], &[4, 5]),
        ("broadcast_batch", &[2, 1, 3, 4], &[3, 4, 2]),
        ("vector_matrix", &[4], &[4, 3]),
        ("matrix_vector", &[3, 4], &[4]),
    ];
    for (i, (name, sa, sb)) in cases.into_iter().enumerate() {
        let f = |x: &[Array]| ops::matmul(&x[0], &x[1]);
        let (a, b) = (
            rand(sa, 40 + i as u64, -1.0, 1.0),
            rand(sb, 60 + i as u64, -1.0, 1.0),
        );
        check_all(&format!("matmul {name}"), &f, &[a, b]);
    }
    let f = |x: &[Array]| ops::addmm(&x[2], &x[0], &x[1], 0.5, 2.0);
    let inputs = [
        rand(&[3, 4], 1, -1.0, 1.0),
        rand(&[4, 2], 2, -1.0, 1.0),
        rand(&[2], 3, -1.0, 1.0),
    ];
    check_all("addmm", &f, &inputs);
    let f = |x: &[Array]| ops::tensordot(&x[0], &x[1], 2);
    check_all(
        "tensordot",
        &f,
        &[
            rand(&[2, 3, 4], 4, -1.0, 1.0),
            rand(&[3, 4, 2], 5, -1.0, 1.0),
        ],
    );
    let f = |x: &[Array]| ops::outer(&x[0], &x[1]);
    check_all(
        "outer",
        &f,
        &[rand(&[3], 6, -1.0, 1.0), rand(&[4], 7, -1.0, 1.0)],
    );
}

#[test]
fn convolutions() {
    // Strides, both paddings (one negative), both dilations, groups and flip.
    let f = |x: &[Array]| ops::conv_general(&x[0], &x[1], &[2], &[1], &[-1], &[2], &[1], 2, true);
    let inputs = [
        rand(&[2, 9, 4], 90, -1.0, 1.0),
        rand(&[4, 2, 2], 91, -1.0, 1.0),
    ];
    check_all("conv_general 1d", &f, &inputs);
    let f = |x: &[Array]| {
        ops::conv_general(
            &x[0],
            &x[1],
            &[1, 2],
            &[0, 1],
            &[1, 0],
            &[1],
            &[2, 1],
            1,
            false,
        )
    };
    let inputs = [
        rand(&[1, 3, 5, 2], 92, -1.0, 1.0),
        rand(&[3, 2, 2, 2], 93, -1.0, 1.0),
    ];
    check_all("conv_general 2d", &f, &inputs);
    let f = |x: &[Array]| ops::conv_transpose2d(&x[0], &x[1], [2, 1], [1, 0], [1, 1], [1, 0], 1);
    let inputs = [
        rand(&[1, 3, 3, 2], 94, -1.0, 1.0),
        rand(&[2, 3, 2, 2], 95, -1.0, 1.0),
    ];
    check_all("conv_transpose2d", &f, &inputs);
    let f = |x: &[Array]| ops::convolve(&x[0], &x[1], "same");
    let inputs = [rand(&[6], 96, -1.0, 1.0), rand(&[3], 97, -1.0, 1.0)];
    check_all("convolve", &f, &inputs);
}

#[test]
fn fast_ops() {
    use ferrox::ops::fast::{self, AttentionMask};
    let x = || rand(&[3, 5], 80, -2.0, 2.0);
    let w = || rand(&[5], 81, 0.5, 1.5);
    let b = || rand(&[5], 82, -1.0, 1.0);
    let f = |a: &[Array]| fast::rms_norm(&a[0], Some(&a[1]), 1e-5);
    check_all("rms_norm", &f, &[x(), w()]);
    let f = |a: &[Array]| fast::rms_norm(&a[0], None, 1e-5);
    check_all(
        "rms_norm unweighted",
        &f,
        &[rand(&[2, 3, 4], 83, -2.0, 2.0)],
    );
    let f = |a: &[Array]| fast::layer_norm(&a[0], Some(&a[1]), Some(&a[2]), 1e-5);
    check_all("layer_norm", &f, &[x(), w(), b()]);
    let f = |a: &[Array]| fast::layer_norm(&a[0], None, Some(&a[1]), 1e-5);
    check_all("layer_norm bias", &f, &[x(), b()]);
    let f = |a: &[Array]| fast::layer_norm(&a[0], None, None, 1e-5);
    check_all("layer_norm plain", &f, &[rand(&[4], 84, -2.0, 2.0)]);
    let f = |a: &[Array]| ops::softmax(&a[0], &[0], false);
    check_all("softmax axis 0", &f, &[x()]);

    // Attention: grouped heads, a query count unlike the key count.
    let q = || rand(&[2, 4, 3, 4], 85, -1.0, 1.0);
    let k = || rand(&[2, 2, 5, 4], 86, -1.0, 1.0);
    let v = || rand(&[2, 2, 5, 3], 87, -1.0, 1.0);
    let f = |a: &[Array]| {
        fast::scaled_dot_product_attention(&a[0], &a[1], &a[2], 0.5, AttentionMask::None, None)
    };
    check_all("sdpa", &f, &[q(), k(), v()]);
    let f = |a: &[Array]| {
        fast::scaled_dot_product_attention(&a[0], &a[1], &a[2], 0.5, AttentionMask::Causal, None)
    };
    check_all("sdpa causal", &f, &[q(), k(), v()]);
    // An additive mask and sinks are differentiable inputs too.
    let f = |a: &[Array]| {
        let m = AttentionMask::Array(&a[3]);
        fast::scaled_dot_product_attention(&a[0], &a[1], &a[2], 0.5, m, Some(&a[4]))
    };
    let (m, s) = (rand(&[3, 5], 88, -1.0, 1.0), rand(&[4], 89, -1.0, 1.0));
    check_all("sdpa mask sinks", &f, &[q(), k(), v(), m, s]);
    let keep = ops::greater(&rand(&[4, 3, 5], 90, 0.0, 1.0), 0.3).unwrap();
    let f = move |a: &[Array]| {
        let m = AttentionMask::Array(&keep);
        fast::scaled_dot_product_attention(&a[0], &a[1], &a[2], 0.5, m, None)
    };
    check_all("sdpa bool mask", &f, &[q(), k(), v()]);
}

#[test]
fn views_and_shapes() {
    type V = Box<dyn Fn(&Array) -> Result<Array>>;
    let cases: Vec<(&str, V)> = vec![
        ("reshape", Box::new(|a| a.reshape(&[4, 6]))),
        ("transpose", Box::new(|a| ops::transpose(a, &[2, 0, 1]))),
        ("swapaxes", Box::new(|a| ops::swapaxes(a, 0, 2))),
        ("moveaxis", Box::new(|a| ops::moveaxis(a, 0, -1))),
        (
            "broadcast_to",
            Box::new(|a| ops::broadcast_to(&a.reshape(&[2, 1, 12])?, &[3, 2, 5, 12])),
        ),
        (
            "slice",
            Box::new(|a| ops::slice(a, &[0, 1, 0], &[2, 4, 3], &[1, 2, 2])),
        ),
        (
            "slice_neg",
            Box::new(|a| ops::slice(a, &[-1, -1, 2], &[-3, -5, -4], &[-1, -2, -1])),
        ),
        ("flip", Box::new(|a| ops::flip(a, Some(&[1])))),
        ("flatten", Box::new(|a| ops::flatten(a, 1, 2))),
        (
            "squeeze_expand",
            Box::new(|a| ops::squeeze(&ops::expand_dims(a, &[1])?, &[1])),
        ),
        (
            "as_strided",
            Box::new(|a| ops::as_strided(a, &[3, 4], &[2, 3], 1)),
        ),
        (
            "contiguous",
            Box::new(|a| ops::contiguous(&ops::transpose(a, &[])?)),
        ),
        (
            "astype",
            Box::new(|a| ops::astype(&ops::astype(a, Dtype::Float32)?, Dtype::Float64)),
        ),
        ("diagonal", Box::new(|a| ops::diagonal(a, 1, 1, 2))),
        ("diagonal_neg", Box::new(|a| ops::diagonal(a, -1, 0, 1))),
        ("trace", Box::new(|a| ops::trace(a, 0, 1, 2, None))),
        ("tril", Box::new(|a| ops::tril(a, 0))),
        ("diff", Box::new(|a| ops::diff(a, 2, 1))),
    ];
    for (i, (name, op)) in cases.into_iter().enumerate() {
        let f = move |x: &[Array]| op(&x[0]);
        let x = rand(&[2, 4, 3], 700 + i as u64, -1.0, 1.0);
        if name == "astype" {
            // Rounded through float32: finite differences would measure the rounding.
            let g = grad(|a: &[Array]| Ok(vec![ops::sum(&f(a)?, &[], false)?]), &[0]);
            assert_eq!(vec64(&g(&[x.clone()]).unwrap()[0]), vec![1.0; 24]);
            check_vmap(name, &f, &[x]);
            continue;
        }
        check_all(name, &f, &[x]);
    }
}

#[test]
fn indexing_ops() {
    let idx = Array::from_slice(&[2i32, 0, -1, 2], &[2, 2]).unwrap();
    let along = Array::from_slice(&[0i32, 2, 1, 1, 0, 2, 2, 2], &[2, 4, 1]).unwrap();
    let rows = Array::from_slice(&[1i64, 0, 1], &[3]).unwrap();
    let cols = Array::from_slice(&[2i64, 0, 1], &[3]).unwrap();
    let start = Array::from_slice(&[1i32, 1], &[2]).unwrap();
    type I = Box<dyn Fn(&[Array]) -> Result<Array>>;
    let (i1, i2, i3, i4, i5, i6, i7) = (
        idx.clone(),
        along.clone(),
        rows.clone(),
        cols.clone(),
        start.clone(),
        start.clone(),
        rows.clone(),
    );
    let cases: Vec<(&str, I, Vec<Vec<usize>>)> = vec![
        (
            "take_axis",
            Box::new(move |x| ops::take(&x[0], &i1, Some(2))),
            vec![vec![2, 4, 3]],
        ),
        (
            "take_flat",
            Box::new(move |x| ops::take(&x[0], &idx, None)),
            vec![vec![2, 4, 3]],
        ),
        (
            "take_along_axis",
            Box::new(move |x| ops::take_along_axis(&x[0], &i2, Some(2))),
            vec![vec![2, 4, 3]],
        ),
        (
            "take_along_axis_bcast",
            Box::new(move |x| ops::take_along_axis(&x[0], &along, Some(2))),
            vec![vec![2, 1, 3]],
        ),
        (
            "scatter",
            Box::new(move |x| {
                let upd = x[1].reshape(&[3, 1, 1, 3])?;
                ops::scatter(&x[0], &[i3.clone(), i4.clone()], &upd, &[0, 1])
            }),
            vec![vec![2, 4, 3], vec![3, 3]],
        ),
        (
            "scatter_add_dup",
            Box::new(move |x| {
                let r = Array::from_slice(&[1i64, 1, 0], &[3]).unwrap();
                let upd = x[1].reshape(&[3, 1, 1, 3])?;
                ops::scatter_add(&x[0], &[r], &upd, &[1])
            }),
            vec![vec![2, 4, 3], vec![3, 3]],
        ),
        (
            "scatter_max",
            Box::new(move |x| {
                let upd = x[1].reshape(&[3, 1, 1, 3])?;
                ops::scatter_max(&x[0], &[i7.clone()], &upd, &[0])
            }),
            vec![vec![2, 4, 3], vec![3, 3]],
        ),
        (
            "put_along_axis",
            Box::new(move |x| {
                let ix = Array::from_slice(&[3i32, 0, 1, 2], &[1, 4, 1]).unwrap();
                ops::put_along_axis(&x[0], &ix, &x[1], Some(1))
            }),
            vec![vec![2, 4, 3], vec![1, 4, 3]],
        ),
        (
            "slice_update",
            Box::new(|x| ops::slice_update(&x[0], &x[1], &[0, 1, 0], &[2, 4, 3], &[1, 2, 2])),
            vec![vec![2, 4, 3], vec![2, 2, 2]],
        ),
        (
            "slice_dynamic",
            Box::new(move |x| ops::slice_dynamic(&x[0], &i5, &[0, 1], &[1, 2, 3])),
            vec![vec![2, 4, 3]],
        ),
        (
            "slice_update_dynamic",
            Box::new(move |x| ops::slice_update_dynamic(&x[0], &x[1], &i6, &[1, 2])),
            vec![vec![2, 4, 3], vec![2, 2, 2]],
        ),
        (
            "pad_constant",
            Box::new(|x| {
                ops::pad(
                    &x[0],
                    &[(1, 0), (0, 2), (1, 1)],
                    ops::PadMode::Constant,
                    0.5,
                )
            }),
            vec![vec![2, 4, 3]],
        ),
        (
            "pad_reflect",
            Box::new(|x| ops::pad(&x[0], &[(0, 0), (2, 1), (1, 2)], ops::PadMode::Reflect, 0.0)),
            vec![vec![2, 4, 3]],
        ),
        (
            "pad_edge",
            Box::new(|x| ops::pad(&x[0], &[(1, 1)], ops::PadMode::Edge, 0.0)),
            vec![vec![2, 4, 3]],
        ),
        (
            "concatenate",
            Box::new(|x| ops::concatenate(&[x[0].clone(), x[1].clone()], Some(1))),
            vec![vec![2, 4, 3], vec![2, 2, 3]],
        ),
        (
            "stack",
            Box::new(|x| ops::stack(&[x[0].clone(), x[1].clone()], -1)),
            vec![vec![2, 4, 3], vec![2, 4, 3]],
        ),
        (
            "split",
            Box::new(|x| Ok(ops::split(&x[0], vec![1, 3], 1)?[1].clone())),
            vec![vec![2, 4, 3]],
        ),
        (
            "tile",
            Box::new(|x| ops::tile(&x[0], &[2, 1, 2])),
            vec![vec![2, 4, 3]],
        ),
        (
            "repeat",
            Box::new(|x| ops::repeat(&x[0], 2, Some(1))),
            vec![vec![2, 4, 3]],
        ),
        (
            "roll",
            Box::new(|x| ops::roll(&x[0], &[1, -2], Some(&[1, 2]))),
            vec![vec![2, 4, 3]],
        ),
        ("diag_1d", Box::new(|x| ops::diag(&x[0], 1)), vec![vec![4]]),
        (
            // Windows of 2x2 at (row, col) pairs, one of them repeated and one of them
            // hanging over the edge (read as zero, so no gradient flows there).
            "gather_windows",
            Box::new(move |x| {
                let r = Array::from_slice(&[0i32, 2, 0, 3], &[4]).unwrap();
                let c = Array::from_slice(&[1i32, 0, 1, 2], &[4]).unwrap();
                ops::gather(&x[0], &[r, c], &[0, 1], &[2, 2])
            }),
            vec![vec![4, 3]],
        ),
        (
            "masked_scatter",
            Box::new(move |x| {
                let mask = ops::greater(&rand(&[3, 4], 77, -1.0, 1.0), 0.0)?;
                ops::masked_scatter(&x[0], &mask, &x[1])
            }),
            vec![vec![3, 4], vec![2, 7]],
        ),
    ];
    for (i, (name, op, shapes)) in cases.into_iter().enumerate() {
        let inputs: Vec<Array> = shapes
            .iter()
            .enumerate()
            .map(|(k, s)| rand(s, 900 + 10 * i as u64 + k as u64, -1.0, 1.0))
            .collect();
        check_all(name, &*op, &inputs);
    }
}

/// Indices (and starts) batched by vmap, not just the arrays they index.
#[test]
fn vmap_over_indices() {
    let x = rand(&[4, 3], 1, -1.0, 1.0);
    let idx = Array::from_slice(&[0i32, 3, 1, 2, 2, 0], &[3, 2]).unwrap();
    let f = |a: &[Array]| Ok(vec![ops::take(&a[0], &a[1], Some(0))?]);
    for plan in [[None, Some(0)], [Some(1), Some(0)]] {
        let xb = if plan[0].is_some() {
            ops::stack(
                &[
                    x.clone(),
                    ops::multiply(&x, 2.0).unwrap(),
                    ops::negative(&x).unwrap(),
                ],
                1,
            )
            .unwrap()
        } else {
            x.clone()
        };
        let got = vmap(f, &plan, &[Some(0)])(&[xb.clone(), idx.clone()]).unwrap();
        let want: Vec<Array> = (0..3)
            .map(|b| {
                let xi = match plan[0] {
                    Some(ax) => {
                        ops::take(&xb, &Array::scalar(b as i32), Some(ax as isize)).unwrap()
                    }
                    None => x.clone(),
                };
                let ii = ops::take(&idx, &Array::scalar(b as i32), Some(0)).unwrap();
                ops::take(&xi, &ii, Some(0)).unwrap()
            })
            .collect();
        let want = ops::stack(&want, 0).unwrap();
        close(
            "vmap take indices",
            "values",
            &vec64(&got[0]),
            &vec64(&want),
            1e-12,
        );
    }
    // Per-example gather indices, the array shared or batched too.
    let r = Array::from_slice(&[0i32, 3, 1, 2, 2, 0], &[3, 2]).unwrap();
    let gat = |a: &[Array]| Ok(vec![ops::gather(&a[0], &[a[1].clone()], &[0], &[1, 2])?]);
    let xb = ops::stack(
        &[x.clone(), ops::exp(&x).unwrap(), ops::negative(&x).unwrap()],
        0,
    )
    .unwrap();
    for (arr, plan) in [
        (&x, [None, Some(0)]),
        (&xb, [Some(0), Some(0)]),
        (&xb, [Some(0), None]),
    ] {
        let ri = if plan[1].is_some() {
            r.clone()
        } else {
            ops::take(&r, &Array::scalar(0i32), Some(0)).unwrap()
        };
        let got = vmap(gat, &plan, &[Some(0)])(&[arr.clone(), ri.clone()]).unwrap();
        let want: Vec<Array> = (0..3)
            .map(|b| {
                let pick = |v: &Array, ax: Option<usize>| match ax {
                    Some(_) => ops::take(v, &Array::scalar(b as i32), Some(0)).unwrap(),
                    None => v.clone(),
                };
                gat(&[pick(arr, plan[0]), pick(&ri, plan[1])])
                    .unwrap()
                    .remove(0)
            })
            .collect();
        close(
            "vmap gather",
            &format!("{plan:?}"),
            &vec64(&got[0]),
            &vec64(&ops::stack(&want, 0).unwrap()),
            1e-12,
        );
    }
    // A batch of zero elements keeps the output shape.
    let empty = ops::zeros(&[0, 4, 3], Some(Dtype::Float64)).unwrap();
    let mask = ops::greater(&x, 0.0).unwrap();
    let ms = |a: &[Array]| Ok(vec![ops::masked_scatter(&a[0], &mask, &a[0])?]);
    let got = vmap(ms, &[Some(0)], &[Some(0)])(&[empty]).unwrap();
    assert_eq!(got[0].shape(), &[0, 4, 3]);
    // Per-example dynamic slice starts.
    let starts = Array::from_slice(&[0i32, 1, 2], &[3, 1]).unwrap();
    let g = |a: &[Array]| Ok(vec![ops::slice_dynamic(&a[0], &a[1], &[0], &[2, 3])?]);
    let got = vmap(g, &[None, Some(0)], &[Some(0)])(&[x.clone(), starts]).unwrap();
    let want: Vec<Array> = (0..3)
        .map(|b| ops::slice(&x, &[b, 0], &[b + 2, 3], &[1, 1]).unwrap())
        .collect();
    close(
        "vmap slice_dynamic starts",
        "values",
        &vec64(&got[0]),
        &vec64(&ops::stack(&want, 0).unwrap()),
        1e-12,
    );
}

// ---- higher derivatives and composition ------------------------------------------------

#[test]
fn higher_derivatives_match_closed_forms() {
    type U = fn(&Array) -> Result<Array>;
    // f, f', f'', f''' at x.
    let cases: Vec<(&str, U, fn(f64) -> [f64; 3])> = vec![
        ("sin", ops::sin, |x| [x.cos(), -x.sin(), -x.cos()]),
        ("exp", ops::exp, |x| [x.exp(), x.exp(), x.exp()]),
        ("tanh", ops::tanh, |x| {
            let t = x.tanh();
            let d1 = 1.0 - t * t;
            [d1, -2.0 * t * d1, d1 * (6.0 * t * t - 2.0)]
        }),
        ("log", ops::log, |x| {
            [1.0 / x, -1.0 / (x * x), 2.0 / (x * x * x)]
        }),
        (
            "cube",
            |a| ops::power(a, 3.0),
            |x| [3.0 * x * x, 6.0 * x, 6.0],
        ),
    ];
    for (name, op, want) in cases {
        let f = move |x: &[Array]| Ok(vec![op(&x[0])?]);
        let d1 = grad(f, &[0]);
        let d2 = grad(&d1, &[0]);
        let d3 = grad(&d2, &[0]);
        for x in [0.3, 0.7, 1.9] {
            let a = [Array::scalar(x)];
            let got = [
                d1(&a).unwrap()[0].item::<f64>().unwrap(),
                d2(&a).unwrap()[0].item::<f64>().unwrap(),
                d3(&a).unwrap()[0].item::<f64>().unwrap(),
            ];
            close(name, &format!("derivatives at {x}"), &got, &want(x), 1e-12);
        }
    }
}

#[test]
fn transforms_compose() {
    // vmap(grad(f)): per-example gradients of sum(sin(x) * x).
    let f = |x: &[Array]| {
        Ok(vec![ops::sum(
            &ops::multiply(&ops::sin(&x[0])?, &x[0])?,
            &[],
            false,
        )?])
    };
    let x = rand(&[4, 3], 5, -1.0, 1.0);
    let per_example = vmap(grad(f, &[0]), &[Some(0)], &[Some(0)])(&[x.clone()]).unwrap();
    let xs = vec64(&x);
    let want: Vec<f64> = xs.iter().map(|v| v.sin() + v * v.cos()).collect();
    close(
        "vmap(grad)",
        "values",
        &vec64(&per_example[0]),
        &want,
        1e-12,
    );
    // vmap over axis 1 of grad of a function of two arguments, one shared.
    let h = |a: &[Array]| {
        Ok(vec![ops::sum(
            &ops::multiply(&ops::exp(&a[0])?, &a[1])?,
            &[],
            false,
        )?])
    };
    let w = rand(&[4], 6, -1.0, 1.0);
    let g = vmap(grad(h, &[0, 1]), &[Some(1), None], &[Some(1), Some(0)])(&[x.clone(), w.clone()])
        .unwrap();
    assert_eq!(g[0].shape(), &[4, 3]);
    assert_eq!(g[1].shape(), &[3, 4]);
    let ws = vec64(&w);
    let want0: Vec<f64> = (0..12).map(|k| xs[k].exp() * ws[k / 3]).collect();
    close("vmap(grad) axis 1", "d/dx", &vec64(&g[0]), &want0, 1e-12);
    // jvp of vjp: the Hessian-vector product of sum(x^3)/3 is 2 x v.
    let cube = |a: &[Array]| {
        Ok(vec![ops::divide(
            &ops::sum(&ops::power(&a[0], 3.0)?, &[], false)?,
            3.0,
        )?])
    };
    let gradient = move |a: &[Array]| Ok(vjp(cube, a, &[Array::scalar(1.0f64)])?.1);
    let v = rand(&[4, 3], 7, -1.0, 1.0);
    let (_, hv) = jvp(gradient, &[x.clone()], &[v.clone()]).unwrap();
    let vs = vec64(&v);
    let want: Vec<f64> = (0..12).map(|k| 2.0 * xs[k] * vs[k]).collect();
    close("jvp(vjp)", "Hv", &vec64(&hv[0]), &want, 1e-12);
    // vmap(vmap(f)) equals f on the whole array for an elementwise f.
    let sq = |a: &[Array]| Ok(vec![ops::square(&a[0])?]);
    let nested = vmap(vmap(sq, &[Some(0)], &[Some(0)]), &[Some(1)], &[Some(1)]);
    let got = nested(&[x.clone()]).unwrap();
    let want: Vec<f64> = xs.iter().map(|v| v * v).collect();
    close("vmap(vmap)", "values", &vec64(&got[0]), &want, 1e-12);
    // grad of a mixed second derivative: d/dy d/dx (x^2 y^3) = 6 x y^2.
    let p = |a: &[Array]| {
        Ok(vec![ops::multiply(
            &ops::square(&a[0])?,
            &ops::power(&a[1], 3.0)?,
        )?])
    };
    let dx = grad(p, &[0]);
    let dxy = grad(dx, &[1]);
    let r = dxy(&[Array::scalar(1.5f64), Array::scalar(0.5f64)]).unwrap();
    close(
        "d/dy d/dx",
        "value",
        &[r[0].item::<f64>().unwrap()],
        &[6.0 * 1.5 * 0.25],
        1e-12,
    );
}

#[test]
fn value_and_grad_returns_aux_outputs_undifferentiated() {
    let f = |a: &[Array]| {
        let y = ops::multiply(&a[0], &a[0])?;
        Ok(vec![ops::sum(&y, &[], false)?, y])
    };
    let x = rand(&[3], 1, -1.0, 1.0);
    let (vals, grads) = value_and_grad(f, &[0])(&[x.clone()]).unwrap();
    assert_eq!(vals.len(), 2);
    close(
        "aux",
        "value",
        &vec64(&vals[1]),
        &vec64(&ops::square(&x).unwrap()),
        1e-15,
    );
    close(
        "aux",
        "grad",
        &vec64(&grads[0]),
        &vec64(&ops::multiply(&x, 2.0).unwrap()),
        1e-15,
    );
}

/// Outputs that read one another: `s = sum(x * x)` and `t = s * 2`. The tape must
/// order the op making `s` before the one making `t` whichever output is listed first.
#[test]
fn vjp_of_outputs_that_read_each_other() {
    let x = rand(&[4], 8, -1.0, 1.0);
    let xs = vec64(&x);
    for s_first in [true, false] {
        let f = move |a: &[Array]| {
            let s = ops::sum(&ops::multiply(&a[0], &a[0])?, &[], false)?;
            let t = ops::multiply(&s, 2.0f64)?;
            Ok(if s_first { vec![s, t] } else { vec![t, s] })
        };
        let one = Array::scalar(1.0f64);
        let (_, g) = vjp(f, &[x.clone()], &[one.clone(), one]).unwrap();
        // d(s + t)/dx = 3 * 2x.
        let want: Vec<f64> = xs.iter().map(|v| 6.0 * v).collect();
        close(
            "outputs reading outputs",
            "grad",
            &vec64(&g[0]),
            &want,
            1e-12,
        );
    }
}

/// `eval` inside a traced function keeps the graph of the traced arrays, so the
/// gradient still flows through what was evaluated.
#[test]
fn grad_through_eval_inside_the_function() {
    let f = |a: &[Array]| {
        let y = ops::sin(&a[0])?;
        y.eval()?;
        let z = ops::multiply(&y, &a[0])?;
        ferrox::eval(std::slice::from_ref(&z))?;
        let _ = z.to_vec::<f64>()?;
        Ok(vec![ops::sum(&z, &[], false)?])
    };
    let x = rand(&[5], 3, -1.0, 1.0);
    let g = grad(f, &[0])(&[x.clone()]).unwrap();
    let want: Vec<f64> = vec64(&x).iter().map(|v| v.sin() + v * v.cos()).collect();
    close("grad through eval", "values", &vec64(&g[0]), &want, 1e-12);
    // Outside a transform an evaluated node still drops its inputs.
    let y = ops::sin(&x).unwrap();
    y.eval().unwrap();
    assert!(!y.is_tracer());
}

#[test]
fn custom_function_overrides() {
    // Forward sin, vjp "2 * cot", jvp "3 * t", vmap by the function itself.
    let f = custom_function(|x: &[Array]| Ok(vec![ops::sin(&x[0])?]))
        .vjp(|_, cot, _| Ok(vec![ops::multiply(&cot[0], 2.0)?]))
        .jvp(|_, tan| Ok(vec![ops::multiply(&tan[0], 3.0)?]));
    let x = rand(&[3], 1, -1.0, 1.0);
    let call = f.clone().into_fn();
    let out = call(&[x.clone()]).unwrap();
    close(
        "custom",
        "forward",
        &vec64(&out[0]),
        &vec64(&ops::sin(&x).unwrap()),
        1e-15,
    );
    let ones = ops::ones(&[3], Some(Dtype::Float64)).unwrap();
    let (_, v) = vjp(&call, &[x.clone()], &[ones.clone()]).unwrap();
    assert_eq!(vec64(&v[0]), vec![2.0; 3]);
    let (_, t) = jvp(&call, &[x.clone()], &[ones.clone()]).unwrap();
    assert_eq!(vec64(&t[0]), vec![3.0; 3]);
    // Default rules: those of the function.
    let plain = custom_function(|x: &[Array]| Ok(vec![ops::sin(&x[0])?])).into_fn();
    let (_, v) = vjp(&plain, &[x.clone()], &[ones.clone()]).unwrap();
    close(
        "custom default",
        "vjp",
        &vec64(&v[0]),
        &vec64(&ops::cos(&x).unwrap()),
        1e-15,
    );
    let (_, t) = jvp(&plain, &[x.clone()], &[ones]).unwrap();
    close(
        "custom default",
        "jvp",
        &vec64(&t[0]),
        &vec64(&ops::cos(&x).unwrap()),
        1e-15,
    );
    let xb = rand(&[2, 3], 2, -1.0, 1.0);
    let b = vmap(&plain, &[Some(1)], &[Some(1)])(&[xb.clone()]).unwrap();
    close(
        "custom default",
        "vmap",
        &vec64(&b[0]),
        &vec64(&ops::sin(&xb).unwrap()),
        1e-15,
    );
    // A vmap override is used.
    let marked = custom_function(|x: &[Array]| Ok(vec![ops::sin(&x[0])?]))
        .vmap(|x, axes| Ok((vec![ops::cos(&x[0])?], axes.to_vec())))
        .into_fn();
    let b = vmap(marked, &[Some(0)], &[Some(0)])(&[xb.clone()]).unwrap();
    close(
        "custom vmap",
        "override",
        &vec64(&b[0]),
        &vec64(&ops::cos(&xb).unwrap()),
        1e-15,
    );
    // A rule's bad batch axis is an error, not a panic.
    let bad = custom_function(|x: &[Array]| Ok(vec![ops::sin(&x[0])?]))
        .vmap(|x, _| Ok((vec![x[0].clone()], vec![Some(7)])))
        .into_fn();
    let r = vmap(
        move |x: &[Array]| Ok(vec![ops::sum(&bad(x)?[0], &[], false)?]),
        &[Some(0)],
        &[Some(0)],
    )(&[xb.clone()]);
    assert!(matches!(r, Err(Error::Invalid(m)) if m.contains("batch axis 7")));
}

// ---- checkpoint ------------------------------------------------------------------------

/// A deep chain of small MLP-like blocks; each keeps several intermediates alive for
/// its backward pass unless checkpointed.
fn deep_chain_peak(use_checkpoint: bool) -> (usize, Vec<f32>) {
    let (n, depth) = (256usize, 12usize);
    let w = Array::from_slice(
        &values(n * n, 3, -0.05, 0.05)
            .iter()
            .map(|&v| v as f32)
            .collect::<Vec<_>>(),
        &[n, n],
    )
    .unwrap();
    let block = move |x: &[Array]| -> Result<Vec<Array>> {
        let h = ops::matmul(&x[0], &x[1])?;
        let a = ops::tanh(&h)?;
        let b = ops::sigmoid(&ops::multiply(&h, 2.0)?)?;
        let c = ops::multiply(&ops::exp(&ops::multiply(&a, 0.1)?)?, &b)?;
        Ok(vec![ops::add(&c, &x[0])?])
    };
    let ck = checkpoint(block);
    let loss = move |p: &[Array]| -> Result<Vec<Array>> {
        let mut h = p[0].clone();
        for _ in 0..depth {
            h = if use_checkpoint {
                ck(&[h, p[1].clone()])?.remove(0)
            } else {
                block(&[h, p[1].clone()])?.remove(0)
            };
        }
        Ok(vec![ops::sum(&h, &[], false)?])
    };
    let x = Array::from_slice(
        &values(n * n, 4, -1.0, 1.0)
            .iter()
            .map(|&v| v as f32)
            .collect::<Vec<_>>(),
        &[n, n],
    )
    .unwrap();
    ferrox::memory::clear_cache();
    ferrox::memory::reset_peak_memory();
    let before = ferrox::memory::get_active_memory();
    let g = grad(loss, &[1])(&[x, w]).unwrap();
    g[0].eval().unwrap();
    let peak = ferrox::memory::get_peak_memory() - before;
    (peak, g[0].to_vec::<f32>().unwrap())
}

#[test]
fn checkpoint_lowers_peak_memory() {
    let (plain, g1) = deep_chain_peak(false);
    let (ck, g2) = deep_chain_peak(true);
    // Same gradient; at most about half the memory.
    for (a, b) in g1.iter().zip(&g2) {
        assert!((a - b).abs() <= 1e-3 * (1.0 + a.abs()), "{a} vs {b}");
    }
    assert!(
        (ck as f64) < 0.6 * plain as f64,
        "checkpointed peak {ck} bytes vs plain {plain} bytes"
    );
}

// ---- errors ----------------------------------------------------------------------------

fn invalid(r: Result<Vec<Array>>, needle: &str) {
    match r {
        Err(Error::Invalid(msg)) => {
            assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}")
        }
        Err(e) => panic!("expected Invalid containing {needle:?}, got {e:?}"),
        Ok(_) => panic!("expected an error containing {needle:?}"),
    }
}

#[test]
fn errors_are_values() {
    let x = rand(&[3], 1, -1.0, 1.0);
    let id = |a: &[Array]| Ok(vec![a[0].clone()]);
    let sum = |a: &[Array]| Ok(vec![ops::sum(&a[0], &[], false)?]);
    invalid(grad(id, &[0])(&[x.clone()]), "scalar");
    invalid(grad(sum, &[1])(&[x.clone()]), "Invalid argument number 1");
    invalid(grad(sum, &[])(&[x.clone()]), "at least one argument");
    invalid(
        grad(sum, &[0, 0])(&[x.clone()]),
        "Duplicate argument number 0",
    );
    let xi = Array::from_slice(&[1i32, 2, 3], &[3]).unwrap();
    invalid(grad(sum, &[0])(&[xi.clone()]), "int32");
    invalid(
        vjp(sum, &[xi.clone()], &[Array::scalar(1.0f32)]).map(|r| r.1),
        "int32",
    );
    invalid(
        vjp(sum, &[x.clone()], &[x.clone()]).map(|r| r.1),
        "cotangent has shape",
    );
    invalid(
        jvp(sum, &[x.clone()], &[]).map(|r| r.1),
        "number of tangents",
    );
    invalid(
        jvp(sum, &[x.clone()], &[Array::scalar(1.0f64)]).map(|r| r.1),
        "tangent has shape",
    );
    let y = rand(&[4], 2, -1.0, 1.0);
    let add = |a: &[Array]| Ok(vec![ops::add(&a[0], &a[1])?]);
    invalid(
        vmap(add, &[Some(0), Some(0)], &[Some(0)])(&[x.clone(), y.clone()]),
        "Inconsistent axis sizes",
    );
    invalid(
        vmap(id, &[Some(1)], &[Some(0)])(&[x.clone()]),
        "out of bounds",
    );
    invalid(
        vmap(id, &[None], &[Some(0)])(&[x.clone()]),
        "At least one of in_axes",
    );
    invalid(
        vmap(add, &[Some(0), None, None], &[Some(0)])(&[x.clone(), y.clone()]),
        "number of in axes",
    );
    invalid(
        vmap(id, &[Some(0)], &[None])(&[x.clone()]),
        "cannot be None",
    );
    invalid(
        vmap(id, &[Some(0)], &[Some(1)])(&[x.clone()]),
        "out of bounds",
    );
    let evals = |a: &[Array]| {
        a[0].eval()?;
        Ok(vec![a[0].clone()])
    };
    invalid(
        vmap(evals, &[Some(0)], &[Some(0)])(&[x.clone()]),
        "Attempting to eval an array",
    );
    // Nothing was harmed: the inputs still evaluate.
    assert_eq!(x.to_vec::<f64>().unwrap().len(), 3);
    // An op without a rule reports it by name.
    let bits = |a: &[Array]| {
        Ok(vec![ops::sum(
            &ops::astype(&ops::view(&a[0], Dtype::Int64)?, Dtype::Float64)?,
            &[],
            false,
        )?])
    };
    invalid(
        grad(bits, &[0])(&[x.clone()]),
        "[BitCast] vjp is not implemented",
    );
}

/// `depends`: the outputs are the inputs' buffers, and evaluating them evaluates the
/// dependencies; gradients reach the inputs only.
#[test]
fn depends_evaluates_its_dependencies_and_passes_gradients_through() {
    let a = Array::from_slice(&[1.0f32, 2.0], &[2]).unwrap();
    let dep = ops::multiply(&a, 5.0f32).unwrap();
    let x = ops::add(&a, 1.0f32).unwrap();
    let out = ops::depends(std::slice::from_ref(&x), std::slice::from_ref(&dep)).unwrap();
    out[0].eval().unwrap();
    assert!(dep.is_evaluated(), "the dependency was not evaluated");
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [2.0, 3.0]);
    let g = grad(
        |xs: &[Array]| {
            let y = ops::multiply(&xs[0], 2.0f32)?;
            let d = ops::multiply(&xs[0], 7.0f32)?;
            Ok(vec![ops::sum(&ops::depends(&[y], &[d])?[0], &[], false)?])
        },
        &[0],
    );
    assert_eq!(
        g(&[a.clone()]).unwrap()[0].to_vec::<f32>().unwrap(),
        [2.0, 2.0]
    );
    assert!(ops::depends(&[], &[a]).is_err());
}
