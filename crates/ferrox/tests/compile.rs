//! `compile`: replayed results equal uncompiled ones, programs are simplified, the cache
//! is bounded, and compile composes with grad and vmap.

mod common;

use ferrox::transforms::{compile, disable_compile, enable_compile, grad, vmap};
use ferrox::{memory, ops, Array, Result};
use std::sync::{Mutex, MutexGuard};

/// The tests run one at a time: one switches compilation off for the process, and one
/// measures the process's active memory.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn rand(shape: &[usize], seed: u64) -> Array {
    common::random_array(
        shape,
        ferrox::Dtype::Float32,
        -1.0,
        1.0,
        &mut common::Lcg(seed),
    )
    .0
}

fn values(a: &Array) -> Vec<f32> {
    a.to_vec::<f32>().unwrap()
}

/// Elementwise ops with broadcasting, a reduction, a matmul, indexing and a captured
/// constant: a graph that mixes what fusion will and will not take.
fn mixed(w: Array) -> impl Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + Clone {
    move |x: &[Array]| {
        let h = ops::tanh(&ops::add(&ops::matmul(&x[0], &w)?, &x[1])?)?;
        let g = ops::multiply(&ops::sigmoid(&h)?, &ops::exp(&ops::negative(&h)?)?)?;
        let s = ops::sum(&g, &[-1], true)?;
        let idx = Array::from_slice(&[1i32, 0], &[2]).unwrap();
        let picked = ops::take(&g, &idx, Some(0))?;
        Ok(vec![ops::divide(&g, &ops::add(&s, 1.0)?)?, picked])
    }
}

#[test]
fn compiled_equals_uncompiled_across_calls_and_shapes() {
    let _serial = serial();
    let w = rand(&[4, 3], 1);
    let f = mixed(w);
    let cf = compile(f.clone());
    for (n, seed) in [(5, 2), (5, 3), (2, 4), (5, 5)] {
        let args = [rand(&[n, 4], seed), rand(&[3], seed + 10)];
        let want = f(&args).unwrap();
        let got = cf.call(&args).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.shape(), w.shape());
            assert_eq!(values(g), values(w), "n={n} seed={seed}");
        }
    }
    // Two shapes of the first argument: two programs.
    assert_eq!(cf.cached(), 2);
}

#[test]
fn programs_merge_common_subexpressions_and_scalars() {
    let _serial = serial();
    // sin(x) twice, and x * 2 twice (two distinct scalar arrays of equal value).
    let f = compile(|x: &[Array]| {
        let a = ops::add(&ops::sin(&x[0])?, &ops::sin(&x[0])?)?;
        let b = ops::add(
            &ops::multiply(&x[0], 2.0f32)?,
            &ops::multiply(&x[0], 2.0f32)?,
        )?;
        Ok(vec![ops::add(&a, &b)?])
    });
    // In complex64, which fusion leaves alone (a real float dtype would fuse it all into
    // one op).
    let xc = ops::astype(&rand(&[3], 7), ferrox::Dtype::Complex64).unwrap();
    let p = f.program(&[xc]).unwrap();
    // sin, add, the 2.0 spread to x's shape, multiply, add, add.
    assert_eq!(
        p.op_names(),
        ["Unary", "Binary", "Broadcast", "Binary", "Binary", "Binary"]
    );
    let x = rand(&[3], 7);
    assert_eq!(f.program(&[x.clone()]).unwrap().op_names(), ["Compiled"]);
    let got = values(&f.call(&[x.clone()]).unwrap()[0]);
    let want: Vec<f32> = values(&x).iter().map(|v| 2.0 * v.sin() + 4.0 * v).collect();
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-6);
    }
}

#[test]
fn the_cache_evicts_the_least_recently_used() {
    let _serial = serial();
    let f = compile(|x: &[Array]| Ok(vec![ops::exp(&ops::multiply(&x[0], 0.5)?)?]));
    f.set_cache_size(8).unwrap();
    assert!(f.set_cache_size(0).is_err());
    let x = rand(&[3], 1);
    f.call(&[x.clone()]).unwrap();
    let before = memory::get_active_memory();
    for n in 1..=1000 {
        let y = f.call(&[ops::zeros(&[n], None).unwrap()]).unwrap();
        y[0].eval().unwrap();
        // Keep the first signature in use: it must survive every eviction.
        f.call(&[x.clone()]).unwrap();
    }
    assert!(f.cached() <= 8);
    let after = memory::get_active_memory();
    assert!(
        after <= before + (1 << 16),
        "active memory grew from {before} to {after}"
    );
    // The first signature is still cached (used every round): calling it adds nothing.
    let n = f.cached();
    f.call(&[x]).unwrap();
    assert_eq!(f.cached(), n);
}

/// `sum(sin(x) * x)`, whose gradient is `sin(x) + x cos(x)`.
fn sum_of_sin_x_times_x(x: &[Array]) -> Result<Vec<Array>> {
    Ok(vec![ops::sum(
        &ops::multiply(&ops::sin(&x[0])?, &x[0])?,
        &[],
        false,
    )?])
}

#[test]
fn compile_composes_with_grad_and_vmap() {
    let _serial = serial();
    let f = sum_of_sin_x_times_x;
    let cf = compile(f);
    let x = rand(&[6], 3);
    let want: Vec<f32> = values(&x).iter().map(|v| v.sin() + v * v.cos()).collect();
    // grad of a compiled function.
    let c1 = cf.clone();
    let g = grad(move |a: &[Array]| c1.call(a), &[0])(&[x.clone()]).unwrap();
    // a compiled grad.
    let cg = compile(grad(f, &[0]));
    let g2 = cg.call(&[x.clone()]).unwrap();
    let g3 = cg.call(&[x.clone()]).unwrap();
    for got in [&g[0], &g2[0], &g3[0]] {
        for (a, b) in values(got).iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
    // vmap of a compiled function: one sum per row.
    let c2 = cf.clone();
    let rows = rand(&[4, 6], 9);
    let v = vmap(move |a: &[Array]| c2.call(a), &[Some(0)], &[Some(0)])(&[rows.clone()]).unwrap();
    let want: Vec<f32> = (0..4)
        .map(|r| {
            let row = ops::take(&rows, &Array::scalar(r as i32), Some(0)).unwrap();
            values(&f(&[row]).unwrap()[0])[0]
        })
        .collect();
    for (a, b) in values(&v[0]).iter().zip(&want) {
        assert!((a - b).abs() < 1e-5);
    }
}

#[test]
fn disabled_compile_calls_the_function() {
    let _serial = serial();
    let f = compile(|x: &[Array]| Ok(vec![ops::add(&x[0], 1.0)?]));
    disable_compile();
    let y = f.call(&[rand(&[2], 1)]);
    enable_compile();
    assert!(y.is_ok());
    assert_eq!(f.cached(), 0);
}

/// How many times `f` ran (traced), counted by the closure itself.
fn counted(
    f: impl Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + 'static,
) -> (
    impl Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + 'static,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = std::sync::Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    let g = move |x: &[Array]| {
        m.fetch_add(1, Ordering::SeqCst);
        f(x)
    };
    (g, n)
}

fn assert_close(got: &[Array], want: &[Array], what: &str) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.shape(), w.shape(), "{what}");
        let w64 = w.to_vec::<f64>().unwrap();
        for (a, b) in g.to_vec::<f64>().unwrap().iter().zip(&w64) {
            let same = (a - b).abs() <= 1e-5 * (1.0 + b.abs()) || a.is_nan() && b.is_nan();
            assert!(same, "{what}: {a} vs {b}");
        }
    }
}

/// Elementwise ops, a bias broadcast, a matmul, softmax, layer_norm, a mean, a
/// flatten and a select against a scalar: every op can infer its shapes, so one trace
/// serves every batch and length.
fn shape_polymorphic(w: Array) -> impl Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + Clone {
    move |x: &[Array]| {
        let h = ops::tanh(&ops::add(&ops::matmul(&x[0], &w)?, &x[1])?)?;
        let p = ops::softmax(&ops::multiply(&h, 2.0)?, &[-1], false)?;
        let n = ops::fast::layer_norm(&p, None, None, 1e-5)?;
        let m = ops::mean(&n, &[-1], false)?;
        let v = ops::var(&h, &[0], true, 1)?;
        let flat = ops::reshape(&ops::exp(&h)?, &[-1])?;
        let relu = ops::where_(&ops::greater(&h, 0.0)?, &h, 0.0)?;
        Ok(vec![ops::add(&m, 1.0)?, v, flat, relu])
    }
}

#[test]
fn shapeless_compile_replays_one_trace_for_new_shapes() {
    let _serial = serial();
    let f = shape_polymorphic(rand(&[4, 3], 1));
    let (g, traces) = counted(f.clone());
    let cf = compile(g).shapeless(true);
    for (i, n) in [5usize, 2, 7, 5, 1].into_iter().enumerate() {
        let args = [rand(&[n, 4], i as u64 + 2), rand(&[3], i as u64 + 20)];
        assert_close(
            &cf.call(&args).unwrap(),
            &f(&args).unwrap(),
            &format!("n={n}"),
        );
    }
    assert_eq!(traces.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(cf.cached(), 1);
    assert!(cf
        .program(&[rand(&[3, 4], 1), rand(&[3], 1)])
        .unwrap()
        .is_shapeless());
    // A new ndim or dtype is a new signature.
    let args = [rand(&[2, 5, 4], 3), rand(&[3], 4)];
    assert_close(&cf.call(&args).unwrap(), &f(&args).unwrap(), "ndim 3");
    assert_eq!(traces.load(std::sync::atomic::Ordering::SeqCst), 2);
    // Without `shapeless`, each shape is traced.
    let (g, traces) = counted(f);
    let cf = compile(g);
    for n in [5, 2, 7] {
        cf.call(&[rand(&[n, 4], 1), rand(&[3], 2)]).unwrap();
    }
    assert_eq!(traces.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[test]
fn shapeless_compile_traces_again_where_shapes_cannot_be_inferred() {
    let _serial = serial();
    use std::sync::atomic::Ordering::SeqCst;
    // `x[:, 1:3]`: a new length on the sliced axis is traced (its bounds were resolved
    // against the traced length; MLX raises instead); one on the whole axis replays.
    let f = |x: &[Array]| {
        let s = ops::slice(&x[0], &[0, 1], &[isize::MAX, 3], &[1, 1])?;
        Ok(vec![ops::exp(&s)?])
    };
    let (g, traces) = counted(f);
    let cf = compile(g).shapeless(true);
    let shapes = [
        ([4, 5], 1),
        ([6, 5], 1),
        ([6, 7], 2),
        ([9, 7], 2),
        ([9, 5], 3),
    ];
    for (shape, want_traces) in shapes {
        let x = rand(&shape, 5);
        assert_close(&cf.call(&[x.clone()]).unwrap(), &f(&[x]).unwrap(), "slice");
        assert_eq!(traces.load(SeqCst), want_traces, "{shape:?}");
    }
    // A lone op is not fused: the bias's broadcast step is spread again to the new batch
    // (the shape of what it was added to), one trace for all. A broadcast to a shape
    // given as numbers (which may have been read from any array) traces new shapes.
    let f = |x: &[Array]| Ok(vec![ops::add(&x[0], &x[1])?]);
    let (g, traces) = counted(f);
    let cf = compile(g).shapeless(true);
    let f64s = |s: &[usize], seed| ops::astype(&rand(s, seed), ferrox::Dtype::Float64).unwrap();
    for n in [3, 5, 1, 5] {
        let args = [f64s(&[n, 4], n as u64), f64s(&[4], 9)];
        assert_close(&cf.call(&args).unwrap(), &f(&args).unwrap(), "bias f64");
    }
    assert_eq!(traces.load(SeqCst), 1);
    let f = |x: &[Array]| {
        Ok(vec![ops::sum(
            &ops::broadcast_to(&x[0], &[3, 4])?,
            &[],
            false,
        )?])
    };
    let (g, traces) = counted(f);
    let cf = compile(g).shapeless(true);
    for (n, want_traces) in [(4, 1), (1, 2), (4, 2)] {
        let x = rand(&[n], 3);
        assert_close(
            &cf.call(&[x.clone()]).unwrap(),
            &f(&[x]).unwrap(),
            "literal",
        );
        assert_eq!(traces.load(SeqCst), want_traces, "n={n}");
    }
    // The gradient of a sum is its cotangent broadcast to the input's shape: right for
    // every shape.
    let total = |x: &[Array]| Ok(vec![ops::sum(&x[0], &[], false)?]);
    let cg = compile(grad(total, &[0])).shapeless(true);
    for n in [3, 6] {
        let x = rand(&[n, 2], n as u64);
        assert_close(
            &cg.call(&[x]).unwrap(),
            &[ops::ones(&[n, 2], None).unwrap()],
            "d sum",
        );
    }
    // A gradient under a shapeless compile: right for every shape.
    let loss = sum_of_sin_x_times_x;
    let cg = compile(grad(loss, &[0])).shapeless(true);
    for n in [3, 6, 2] {
        let x = rand(&[n, 2], n as u64);
        let want = grad(loss, &[0])(&[x.clone()]).unwrap();
        assert_close(&cg.call(&[x]).unwrap(), &want, "grad");
    }
}

#[test]
fn shapeless_compile_replays_an_fft_for_new_batch_shapes() {
    let _serial = serial();
    use std::sync::atomic::Ordering::SeqCst;
    // The FFT infers its output shape from a new batch; its length along the transformed
    // axis was fixed at trace time, so a new one traces again.
    let f = |x: &[Array]| {
        let spec = ops::fft::rfft(&x[0], None, -1, "ortho")?;
        let back = ops::fft::irfft(&spec, None, -1, "ortho")?;
        let full = ops::fft::fft(&x[0], None, 1, "backward")?;
        Ok(vec![ops::abs(&spec)?, back, ops::abs(&full)?])
    };
    let (g, traces) = counted(f);
    let cf = compile(g).shapeless(true);
    for (shape, want_traces) in [
        ([2, 4, 8], 1),
        ([5, 4, 8], 1),
        ([1, 4, 8], 1),
        ([3, 4, 6], 2),
    ] {
        let x = rand(&shape, shape[0] as u64);
        let got = cf.call(&[x.clone()]).unwrap();
        assert_close(&got, &f(&[x.clone()]).unwrap(), "fft");
        assert_close(&got[1..2], &[x], "irfft(rfft(x))");
        assert_eq!(traces.load(SeqCst), want_traces, "{shape:?}");
    }
}
