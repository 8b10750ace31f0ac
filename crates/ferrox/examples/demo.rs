//! ferrox in one minute: lazy arrays, MLX-style promotion and printing, function
//! transforms, and speed.
//!
//! Run with `./scripts/demo.sh` (or `cargo run --release --example demo`).

use ferrox::ops::*;
use ferrox::transforms::{grad, vmap};
use ferrox::{array, eval, memory, Array, Dtype, Result};
use std::time::Instant;

fn main() -> Result<()> {
    println!("== Lazy by default ==");
    let a = array!([[1.0f32, 2.0], [3.0, 4.0]]);
    let b = (&matmul(&a, &a)? + 1.0)?; // nothing computed yet
    println!("built b = a @ a + 1 (evaluated: {})", b.is_evaluated());
    println!("{b}"); // printing evaluates
    println!("evaluated: {}", b.is_evaluated());

    println!("\n== MLX's promotion rules and weak scalars ==");
    let i8s = Array::from_vec(vec![1i8, 2, 3])?;
    println!("int8 + 1   -> {}", (&i8s + 1)?.dtype());
    println!("int8 + 1.0 -> {}", (&i8s + 1.0)?.dtype());
    println!("int8 / int8 -> {}", divide(&i8s, &i8s)?.dtype());
    match &i8s + &zeros(&[2], None)? {
        Err(e) => println!("a shape mismatch is an error at the call: {e}"),
        Ok(_) => unreachable!(),
    }

    println!("\n== One graph, freed as it runs ==");
    let n = 4 << 20;
    let x = full(&[n], 1.0, Some(Dtype::Float32))?;
    let mut y = x.clone();
    for _ in 0..50 {
        y = add(&multiply(&y, 0.5)?, 1.0)?;
    }
    memory::reset_peak_memory();
    let t = Instant::now();
    eval(&[y.clone()])?;
    println!(
        "100 ops over {} MB arrays in {:.1} ms; peak memory {} MB (the graph needs only a few buffers)",
        n * 4 >> 20,
        t.elapsed().as_secs_f64() * 1e3,
        memory::get_peak_memory() >> 20
    );
    println!("y[:4] = {}", slice(&y, &[0], &[4], &[1])?);

    println!("\n== Function transforms ==");
    // d/dx sum(sin(x) * x) = sin(x) + x cos(x), and its derivative again.
    let f = |x: &[Array]| Ok(vec![sum(&multiply(&sin(&x[0])?, &x[0])?, &[], false)?]);
    let x = array!([0.0f32, 1.0, 2.0]);
    println!(
        "grad of sum(sin(x) * x) at {x}: {}",
        grad(f, &[0])(&[x.clone()])?[0]
    );
    let d2 = grad(
        |x: &[Array]| Ok(vec![sum(&grad(f, &[0])(x)?[0], &[], false)?]),
        &[0],
    );
    println!("and its derivative: {}", d2(&[x.clone()])?[0]);
    let rows = reshape(&arange(0.0, 6.0, 1.0, None)?, &[2, 3])?;
    let norms = vmap(
        |r: &[Array]| Ok(vec![sqrt(&sum(&square(&r[0])?, &[], false)?)?]),
        &[Some(0)],
        &[Some(0)],
    );
    println!(
        "vmap'd norm of each row of {rows}: {}",
        norms(&[rows.clone()])?[0]
    );

    println!("\n== Reductions and matmul ==");
    let m = reshape(&arange(0.0, 12.0, 1.0, None)?, &[3, 4])?;
    println!("m = {m}");
    println!("sum(m, axis=1) = {}", sum(&m, &[1], false)?);
    println!("softmax(m, axis=-1) = {}", softmax(&m, &[-1], false)?);
    let k = 1024;
    let p = full(&[k, k], 0.001, None)?;
    p.eval()?;
    let t = Instant::now();
    let q = matmul(&p, &p)?;
    q.eval()?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "matmul {k}x{k} f32: {:.1} ms ({:.0} GFLOP/s)",
        s * 1e3,
        2.0 * (k as f64).powi(3) / s / 1e9
    );
    Ok(())
}
