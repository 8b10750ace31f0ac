//! Times ferrox on the workloads of `docs/performance.md` and prints JSON, one object
//! keyed by workload: `{"best_s": .., "median_s": .., "reps": ..}` (seconds per call;
//! for `chain_add_*`, seconds per op). `bench/run.py` runs this beside NumPy, MLX and
//! JAX and writes the table.
//!
//! Usage: `ferrox-bench [--reps N] [--only NAME[,NAME..]]`
//!
//! Each timed call builds the lazy graph and evaluates it, and drops the result before
//! the next call, so a steady state with a warm buffer cache is what gets measured
//! (as in a training loop); the first call warms that cache and is not timed.

use ferrox::{ops, Array, Result};
use std::time::Instant;

/// Deterministic values in [-1, 1): the numbers only need to be finite and varied.
fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn array(shape: &[usize], seed: u64) -> Result<Array> {
    let n = shape.iter().product();
    Array::from_slice(&random(n, seed), shape)
}

/// Best and median of `reps` timed calls of `f` (after one untimed warm-up), divided by
/// `per` (the number of ops a call does).
fn time(reps: usize, per: usize, mut f: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    f()?;
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        f()?;
        t.push(start.elapsed().as_secs_f64() / per as f64);
    }
    t.sort_by(|a, b| a.total_cmp(b));
    Ok((t[0], t[t.len() / 2]))
}

/// Builds and evaluates `n` chained lazy adds `a = a + b` on arrays of `shape`.
fn chain_add(shape: &[usize], n: usize, a: &Array, b: &Array) -> Result<()> {
    debug_assert_eq!(a.shape(), shape);
    let mut x = a.clone();
    for _ in 0..n {
        x = ops::add(&x, b)?;
    }
    x.eval()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mut reps = 10usize;
    let mut only: Option<Vec<String>> = None;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--reps" => {
                reps = args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(reps);
                i += 1;
            }
            "--only" => {
                only = args
                    .get(i + 1)
                    .map(|s| s.split(',').map(String::from).collect());
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    let want = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == name));
    let mut results: Vec<(String, (f64, f64), usize)> = vec![];

    if want("matmul_2048_f32") {
        let (a, b) = (array(&[2048, 2048], 1)?, array(&[2048, 2048], 2)?);
        let r = time(reps, 1, || ops::matmul(&a, &b)?.eval())?;
        results.push(("matmul_2048_f32".into(), r, reps));
    }
    if want("fma_16m_f32") {
        let n = 1 << 24;
        let (x, y, z) = (array(&[n], 3)?, array(&[n], 4)?, array(&[n], 5)?);
        let r = time(reps, 1, || {
            let r = ops::add(ops::multiply(&x, &y)?, &z)?;
            r.eval()
        })?;
        results.push(("fma_16m_f32".into(), r, reps));
    }
    if want("fma_16m_f32_product_kept") {
        // The same, with the product held by the caller: it must be computed and kept,
        // so the scheduler cannot fuse the two ops (two passes over memory).
        let n = 1 << 24;
        let (x, y, z) = (array(&[n], 3)?, array(&[n], 4)?, array(&[n], 5)?);
        let r = time(reps, 1, || {
            let p = ops::multiply(&x, &y)?;
            let r = ops::add(&p, &z)?;
            r.eval()
        })?;
        results.push(("fma_16m_f32_product_kept".into(), r, reps));
    }
    if want("sum_last_4096_f32") {
        let a = array(&[4096, 4096], 6)?;
        let r = time(reps, 1, || ops::sum(&a, &[-1], false)?.eval())?;
        results.push(("sum_last_4096_f32".into(), r, reps));
    }
    for (name, shape) in [
        ("chain_add_1000_f32_1", [1usize]),
        ("chain_add_1000_f32_16", [16]),
    ] {
        if want(name) {
            let (a, b) = (array(&shape, 7)?, array(&shape, 8)?);
            let r = time(reps * 5, 1000, || chain_add(&shape, 1000, &a, &b))?;
            results.push((name.into(), r, reps * 5));
        }
    }

    if want("read_bw_256mb_f32") {
        let a = array(&[1 << 26], 41)?;
        let r = time(reps, 1, || ops::sum(&a, &[], false)?.eval())?;
        results.push(("read_bw_256mb_f32".into(), r, reps));
    }
    if want("qmv_q4_4096x14336") {
        // x @ W.T, W (14336, 4096) quantized to 4 bits in groups of 64 (outside the timing).
        let x = array(&[1, 4096], 42)?;
        let q = ops::quantize(
            &array(&[14336, 4096], 43)?,
            Some(64),
            Some(4),
            "affine",
            None,
        )?;
        ferrox::eval(&[q.wq.clone(), q.scales.clone()])?;
        let biases = q.biases.expect("affine quantization has biases");
        biases.eval()?;
        let (w, s, b) = (&q.wq, &q.scales, Some(&biases));
        let r = time(reps * 5, 1, || {
            ops::quantized_matmul(&x, w, s, b, true, Some(64), Some(4), "affine")?.eval()
        })?;
        results.push(("qmv_q4_4096x14336".into(), r, reps * 5));
    }
    if want("grad_sin_x_10_f32") {
        // Per-call overhead of a transform: trace, walk, build and evaluate the backward
        // graph of sum(sin(x) * x) on 10 elements, uncompiled.
        let x = array(&[10], 9)?;
        let f = |a: &[Array]| -> Result<Vec<Array>> {
            Ok(vec![ops::sum(
                &ops::multiply(&ops::sin(&a[0])?, &a[0])?,
                &[],
                false,
            )?])
        };
        let g = ferrox::transforms::grad(f, &[0]);
        let r = time(reps * 100, 1, || {
            let d = g(std::slice::from_ref(&x))?;
            ferrox::eval(&d)
        })?;
        results.push(("grad_sin_x_10_f32".into(), r, reps * 100));
    }

    let body: Vec<String> = results
        .iter()
        .map(|(name, (best, median), reps)| {
            format!("  \"{name}\": {{\"best_s\": {best:.9e}, \"median_s\": {median:.9e}, \"reps\": {reps}}}")
        })
        .collect();
    println!("{{\n{}\n}}", body.join(",\n"));
    Ok(())
}
