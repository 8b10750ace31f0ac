//! Helpers shared by the tests: deterministic random inputs and comparisons in f64.
#![allow(dead_code)]

use ferrox::Array;

/// A small deterministic generator (xorshift), so tests need no extra crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Uniform in [-1, 1).
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// An f32 array of `values` (given in f64, rounded once).
pub fn f32_array(values: &[f64], shape: &[usize]) -> Array {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Array::from_slice(&v, shape).unwrap()
}

/// Random f32 array and the f64 values it holds exactly.
pub fn random(rng: &mut Rng, shape: &[usize]) -> (Array, Vec<f64>) {
    let n = shape.iter().product();
    let v: Vec<f64> = rng.vec(n).iter().map(|&x| x as f32 as f64).collect();
    (f32_array(&v, shape), v)
}

pub fn values(a: &Array) -> Vec<f64> {
    a.to_vec::<f64>().unwrap()
}

/// Asserts `|a - b| <= tol * (1 + |b|)` elementwise.
pub fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "element {i}: got {g}, want {w}"
        );
    }
}

/// Reference `x @ w.T + b` with `x` `[n, i]`, `w` `[o, i]`.
pub fn linear_ref(
    x: &[f64],
    w: &[f64],
    b: Option<&[f64]>,
    n: usize,
    i: usize,
    o: usize,
) -> Vec<f64> {
    let mut y = vec![0.0; n * o];
    for r in 0..n {
        for c in 0..o {
            let mut s = b.map_or(0.0, |b| b[c]);
            for k in 0..i {
                s += x[r * i + k] * w[c * i + k];
            }
            y[r * o + c] = s;
        }
    }
    y
}

/// Reference LayerNorm over rows of length `d`.
pub fn layer_norm_ref(x: &[f64], w: &[f64], b: &[f64], d: usize, eps: f64) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for (row, out) in x.chunks(d).zip(y.chunks_mut(d)) {
        let mean = row.iter().sum::<f64>() / d as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
        for k in 0..d {
            out[k] = (row[k] - mean) / (var + eps).sqrt() * w[k] + b[k];
        }
    }
    y
}
