//! Helpers shared by the integration tests: pseudo-random arrays and comparisons.
#![allow(dead_code)]

use ferrox::dtype::{Element, Wide};
use ferrox::{Array, Dtype};

/// A small deterministic generator (no test dependency needed).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u32() as f64 / 4294967296.0)
    }
}

/// Random values suited to `dtype`: small signed values for signed types, small
/// non-negative for unsigned, 0/1 for bool, floats in [lo, hi).
pub fn random_values(n: usize, dtype: Dtype, lo: f64, hi: f64, rng: &mut Lcg) -> Vec<f64> {
    (0..n)
        .map(|_| match dtype {
            Dtype::Bool => (rng.next_u32() % 2) as f64,
            d if d.is_unsigned() => (rng.next_u32() % 20) as f64,
            d if d.is_signed_int() => (rng.next_u32() % 21) as f64 - 10.0,
            _ => {
                let v = rng.uniform(lo, hi);
                // Round through the dtype so the reference sees exactly the stored value.
                ferrox::dispatch_dtype!(dtype, T => T::from_f64(v).to_f64())
            }
        })
        .collect()
}

/// An evaluated array of `dtype` and `shape` from f64 values.
pub fn array_of(values: &[f64], shape: &[usize], dtype: Dtype) -> Array {
    ferrox::dispatch_dtype!(dtype, T => {
        let v: Vec<T> = values.iter().map(|&x| T::from_wide(Wide::Float(x))).collect();
        Array::from_slice(&v, shape).unwrap()
    })
}

/// A random array plus its values (row-major).
pub fn random_array(
    shape: &[usize],
    dtype: Dtype,
    lo: f64,
    hi: f64,
    rng: &mut Lcg,
) -> (Array, Vec<f64>) {
    let n = shape.iter().product();
    let v = random_values(n, dtype, lo, hi, rng);
    (array_of(&v, shape, dtype), v)
}

/// Values of an array as f64 (complex: real part).
pub fn values(a: &Array) -> Vec<f64> {
    a.to_vec::<f64>().unwrap()
}

/// Tolerance of a dtype's arithmetic relative to the magnitude.
pub fn rtol(dtype: Dtype) -> f64 {
    match dtype {
        Dtype::Float16 => 2e-3,
        Dtype::Bfloat16 => 1.6e-2,
        Dtype::Float32 | Dtype::Complex64 => 2e-6,
        _ => 1e-12,
    }
}

/// Asserts that `got` matches `want` within the dtype's tolerance (NaNs must match).
pub fn assert_close(got: &[f64], want: &[f64], dtype: Dtype, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let tol = rtol(dtype);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if w.is_nan() {
            assert!(g.is_nan(), "{what}[{i}]: got {g}, want NaN");
            continue;
        }
        if w.is_infinite() {
            assert_eq!(g, w, "{what}[{i}]");
            continue;
        }
        let err = (g - w).abs();
        assert!(
            err <= tol * (1.0 + w.abs()) * 4.0,
            "{what}[{i}]: got {g}, want {w} ({dtype})"
        );
    }
}

/// Row-major index → offsets of a broadcast operand of `shape` inside `out_shape`.
pub fn broadcast_index(flat: usize, out_shape: &[usize], shape: &[usize]) -> usize {
    let pad = out_shape.len() - shape.len();
    let mut rem = flat;
    let mut idx = vec![0; out_shape.len()];
    for ax in (0..out_shape.len()).rev() {
        idx[ax] = rem % out_shape[ax];
        rem /= out_shape[ax];
    }
    let mut off = 0;
    for (ax, &n) in shape.iter().enumerate() {
        let i = if n == 1 { 0 } else { idx[ax + pad] };
        off = off * n + i;
    }
    off
}
