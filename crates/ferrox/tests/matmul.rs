//! Batched matmul against float64 loops, over the kernel's three ways of running a
//! batch: folded into the rows of one product (a shared `b`), one product per thread
//! (many products), and one product at a time split over the threads (with a
//! column-major `b` first copied row-major).

mod common;

use common::*;
use ferrox::{ops, Array, Dtype};

/// `a @ b` in f64 for `a` `[batch, m, k]` and `b` `[batch, k, n]` given as values.
fn reference(a: &[f64], b: &[f64], (batch, m, k, n): (usize, usize, usize, usize)) -> Vec<f64> {
    let mut out = vec![0.0; batch * m * n];
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                out[(bi * m + i) * n + j] = (0..k)
                    .map(|l| a[(bi * m + i) * k + l] * b[(bi * k + l) * n + j])
                    .sum();
            }
        }
    }
    out
}

fn check(a: &Array, b: &Array, what: &str) {
    let got = ops::matmul(a, b).unwrap();
    let shape = got.shape().to_vec();
    let nd = shape.len();
    let (m, n, k) = (shape[nd - 2], shape[nd - 1], a.shape()[a.ndim() - 1]);
    let batch = &shape[..nd - 2];
    let full = |x: &Array, rows: usize, cols: usize| {
        let s: Vec<usize> = batch.iter().copied().chain([rows, cols]).collect();
        values(&ops::broadcast_to(x, &s).unwrap())
    };
    let want = reference(
        &full(a, m, k),
        &full(b, k, n),
        (batch.iter().product(), m, k, n),
    );
    assert_close(&values(&got), &want, a.dtype(), what);
}

#[test]
fn batched_products_of_every_layout_match_float64() {
    let mut rng = Lcg(7);
    for dtype in [Dtype::Float32, Dtype::Float64] {
        let r = |shape: &[usize], rng: &mut Lcg| random_array(shape, dtype, -1.0, 1.0, rng).0;
        // A shared weight: the batch folds into rows (also of a 2-axis batch).
        check(&r(&[3, 4, 5, 6], &mut rng), &r(&[6, 7], &mut rng), "folded");
        check(
            &r(&[8, 64, 96], &mut rng),
            &r(&[96, 80], &mut rng),
            "folded, split over threads",
        );
        // A batch view whose axes do not step evenly over rows: not folded.
        let a = ops::swapaxes(&r(&[4, 3, 5, 6], &mut rng), 0, 1).unwrap();
        check(&a, &r(&[6, 7], &mut rng), "shared weight, transposed batch");
        // A transposed `a` matrix (column-major rows) with a shared weight.
        let a = ops::swapaxes(&r(&[3, 6, 5], &mut rng), 1, 2).unwrap();
        check(
            &a,
            &r(&[6, 7], &mut rng),
            "shared weight, transposed matrices",
        );
        // Many products: one per thread, with a broadcast `a`.
        check(
            &r(&[6, 40, 50], &mut rng),
            &r(&[6, 50, 30], &mut rng),
            "batch parallel",
        );
        check(
            &r(&[40, 50], &mut rng),
            &r(&[6, 50, 30], &mut rng),
            "batch parallel, shared a",
        );
        // A column-major `b` (`x @ w.T`) large enough to split: copied row-major first,
        // alone and with a batch folded into rows.
        let wt = ops::transpose(&r(&[150, 140], &mut rng), &[1, 0]).unwrap();
        check(&r(&[130, 140], &mut rng), &wt, "x @ w.T, packed");
        check(
            &r(&[2, 80, 140], &mut rng),
            &wt,
            "x @ w.T, folded and packed",
        );
        // Attention-like: a transposed `b` per batch.
        let k = ops::swapaxes(&r(&[2, 4, 33, 16], &mut rng), -1, -2).unwrap();
        check(&r(&[2, 4, 33, 16], &mut rng), &k, "q @ k^T");
    }
}

#[test]
fn matrix_vector_products_match_float64() {
    let mut rng = Lcg(8);
    let r = |shape: &[usize], rng: &mut Lcg| random_array(shape, Dtype::Float32, -1.0, 1.0, rng).0;
    // One thread, split over threads, a batch folded into rows, k not a multiple of
    // the dot product's 32 lanes.
    check(&r(&[300, 700], &mut rng), &r(&[700, 1], &mut rng), "gemv");
    check(
        &r(&[3000, 801], &mut rng),
        &r(&[801, 1], &mut rng),
        "gemv, split",
    );
    check(
        &r(&[2, 40, 65], &mut rng),
        &r(&[65, 1], &mut rng),
        "gemv, folded",
    );
    // A strided vector (a column of a wider matrix) and a row-strided `a` (a slice).
    let wide = r(&[700, 3], &mut rng);
    let col = ops::slice(&wide, &[0, 1], &[700, 2], &[1, 1]).unwrap();
    let a = ops::slice(&r(&[50, 900], &mut rng), &[0, 100], &[50, 800], &[1, 1]).unwrap();
    check(&a, &col, "gemv, strided");
    // alpha and beta.
    let (a, x, c) = (
        r(&[64, 96], &mut rng),
        r(&[96, 1], &mut rng),
        r(&[64, 1], &mut rng),
    );
    let got = values(&ops::addmm(&c, &a, &x, 0.5, 2.0).unwrap());
    let (av, xv, cv) = (values(&a), values(&x), values(&c));
    let want: Vec<f64> = (0..64)
        .map(|i| 0.5 * (0..96).map(|l| av[i * 96 + l] * xv[l]).sum::<f64>() + 2.0 * cv[i])
        .collect();
    assert_close(&got, &want, Dtype::Float32, "addmm gemv");
}
