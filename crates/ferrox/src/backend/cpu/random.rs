//! Kernels of the random family: threefry2x32 bits, and the few helpers `ops::random`
//! needs to give MLX's numbers bit for bit (MLX's float32 `erf`/`erfinv` approximations,
//! a stable argsort of bits, a gather along one axis, a symmetric square root).
//!
//! The constants are MLX's literals digit for digit: rounding them differently to f32
//! would change the samples.
//!
//! Every kernel is a pure function of its inputs and the element index, so the output does
//! not depend on how many threads ran it.

#![allow(clippy::excessive_precision)]

use super::elementwise::unary;
use crate::array::Data;
use crate::dtype::Dtype;
use crate::{Error, Result};
use half::{bf16, f16};
use rayon::prelude::*;

/// The threefry2x32 block cipher with 20 rounds (Salmon et al. 2011), keyed by `key`,
/// applied to the counter `count`, exactly as MLX and JAX compute it.
#[inline]
pub fn threefry2x32(key: [u32; 2], count: [u32; 2]) -> [u32; 2] {
    const ROTATIONS: [[u32; 4]; 2] = [[13, 15, 26, 6], [17, 29, 16, 24]];
    let ks = [key[0], key[1], key[0] ^ key[1] ^ 0x1BD1_1BDA];
    let mut x0 = count[0].wrapping_add(ks[0]);
    let mut x1 = count[1].wrapping_add(ks[1]);
    for i in 0..5usize {
        for &r in &ROTATIONS[i % 2] {
            x0 = x0.wrapping_add(x1);
            x1 = x1.rotate_left(r) ^ x0;
        }
        x0 = x0.wrapping_add(ks[(i + 1) % 3]);
        x1 = x1.wrapping_add(ks[(i + 2) % 3]).wrapping_add(i as u32 + 1);
    }
    [x0, x1]
}

/// Fills `words` with the random words MLX's `RandomBits` makes for one key.
///
/// The `n` words are split in two halves (the first one word longer when `n` is odd):
/// counter `(j, h + j)` fills word `j` and word `h + j` of the second half, where `h` is
/// the first half's length; an odd middle word comes from counter `(n / 2, 0)`.
pub fn fill_words(key: [u32; 2], words: &mut [u32]) {
    let n = words.len();
    let half = n / 2;
    let odd = n % 2;
    let (first, rest) = words.split_at_mut(half);
    let (middle, second) = rest.split_at_mut(odd);
    if let Some(m) = middle.first_mut() {
        *m = threefry2x32(key, [half as u32, 0])[0];
    }
    let body = |start: usize, a: &mut [u32], b: &mut [u32]| {
        for (j, (x, y)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
            let c = (start + j) as u32;
            let [r0, r1] = threefry2x32(key, [c, c.wrapping_add((half + odd) as u32)]);
            *x = r0;
            *y = r1;
        }
    };
    if half < super::PARALLEL_THRESHOLD {
        body(0, first, second);
    } else {
        let chunk = super::PARALLEL_THRESHOLD / 4;
        first
            .par_chunks_mut(chunk)
            .zip(second.par_chunks_mut(chunk))
            .enumerate()
            .for_each(|(c, (a, b))| body(c * chunk, a, b));
    }
}

/// Writes `nbytes` random bytes for `key` into `out` (row-major, fresh), as MLX's
/// `RandomBits`: little-endian words, the last one cut short when `nbytes % 4 != 0`.
pub fn random_bits(key: [u32; 2], out: &Data, nbytes: usize) {
    let nwords = nbytes.div_ceil(4);
    if nbytes % 4 == 0 {
        // SAFETY: a fresh row-major buffer of nbytes bytes, 4-aligned by the allocator.
        let words = unsafe { out.as_mut_slice::<u32>(nwords) };
        fill_words(key, words);
    } else {
        let mut words = vec![0u32; nwords];
        fill_words(key, &mut words);
        // SAFETY: a fresh row-major buffer of nbytes bytes.
        let bytes = unsafe { out.as_mut_slice::<u8>(nbytes) };
        for (chunk, w) in bytes.chunks_mut(4).zip(&words) {
            chunk.copy_from_slice(&w.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// MLX's CPU `exp` (a Cephes polynomial on `2^x`), which its `erf` uses.
#[inline]
#[allow(clippy::approx_constant)] // MLX's own literal, kept as written
fn mlx_exp(x_init: f32) -> f32 {
    let x = x_init * 1.442695_f32;
    // MLX adds a double 0.5, so the rounding happens in f64.
    let ipart = ((x as f64) + 0.5).floor() as f32;
    let fpart = x - ipart;
    let mut p = 1.535336188319500e-4_f32;
    for c in [
        1.339887440266574e-3_f32,
        9.618437357674640e-3,
        5.550332471162809e-2,
        2.402264791363012e-1,
        6.931472028550421e-1,
        1.0,
    ] {
        p = p.mul_add(fpart, c);
    }
    let epart = (ipart as i32).wrapping_add(127).wrapping_shl(23);
    let result = if x_init.is_nan() {
        x_init
    } else {
        f32::from_bits(epart as u32) * p
    };
    if x_init > 88.0 {
        f32::INFINITY
    } else if x_init < -88.0 {
        0.0
    } else {
        result
    }
}

/// MLX's CPU `erf` (Abramowitz-Stegun 7.1.26 as PyTorch vectorises it), in f32.
#[inline]
pub fn mlx_erf(v: f32) -> f32 {
    let t = 1.0 / 0.3275911_f32.mul_add(v.abs(), 1.0);
    let mut r = 1.061405429_f32.mul_add(t, -1.453152027);
    r = r.mul_add(t, 1.421413741);
    r = r.mul_add(t, -0.284496736);
    r = r.mul_add(t, 0.254829592);
    let e = -mlx_exp(-v * v);
    let result = (e * t).mul_add(r, 1.0);
    if v > 0.0 {
        result
    } else {
        -result
    }
}

/// MLX's CPU `erfinv` (Giles' single-precision polynomials), in f32.
#[inline]
pub fn mlx_erfinv(a: f32) -> f32 {
    let t = a.mul_add(0.0 - a, 1.0).ln();
    let p = if t.abs() > 6.125 {
        let mut p = 3.03697567e-10_f32;
        for c in [
            2.93243101e-8_f32,
            1.22150334e-6,
            2.84108955e-5,
            3.93552968e-4,
            3.02698812e-3,
            4.83185798e-3,
            -2.64646143e-1,
            8.40016484e-1,
        ] {
            p = p.mul_add(t, c);
        }
        p
    } else {
        let mut p = 5.43877832e-9_f32;
        for c in [
            1.43285448e-7_f32,
            1.22774793e-6,
            1.12963626e-7,
            -5.61530760e-5,
            -1.47697632e-4,
            2.31468678e-3,
            1.15392581e-2,
            -2.32015476e-1,
            8.86226892e-1,
        ] {
            p = p.mul_add(t, c);
        }
        p
    };
    a * p
}

/// `out = f(a)` over a float view, computing in f32 as MLX does for every float type.
pub fn float_map(
    shape: &[usize],
    dtype: Dtype,
    a: &Data,
    out: &Data,
    f: impl Fn(f32) -> f32 + Sync + Copy,
) -> Result<()> {
    match dtype {
        Dtype::Float32 => unary::<f32, f32>(shape, a, out, f),
        Dtype::Float64 => unary::<f64, f64>(shape, a, out, move |x| f(x as f32) as f64),
        Dtype::Float16 => unary::<f16, f16>(shape, a, out, move |x| f16::from_f32(f(x.to_f32()))),
        Dtype::Bfloat16 => {
            unary::<bf16, bf16>(shape, a, out, move |x| bf16::from_f32(f(x.to_f32())))
        }
        d => {
            return Err(Error::Invalid(format!(
                "[random] expected a floating point array, got {d}"
            )))
        }
    }
    Ok(())
}

/// The indices that sort `values` ascending, ties by index (as MLX's stable argsort).
pub fn argsort_u32(values: &[u32], out: &mut [u32]) {
    let mut pairs: Vec<(u32, u32)> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (v, i as u32))
        .collect();
    // The pairs are distinct, so an unstable sort gives the one stable order.
    if pairs.len() >= super::PARALLEL_THRESHOLD {
        pairs.par_sort_unstable();
    } else {
        pairs.sort_unstable();
    }
    for (o, (_, i)) in out.iter_mut().zip(pairs) {
        *o = i;
    }
}

/// Gathers blocks along one axis of row-major `src`, viewed as `[outer, n, inner]` bytes:
/// `dst[o, j, :] = src[o, index[j], :]`. Indices are checked by the caller.
pub fn take_axis(src: &[u8], dst: &mut [u8], outer: usize, n: usize, inner: usize, index: &[u32]) {
    if inner == 0 {
        return;
    }
    dst.par_chunks_mut(n * inner)
        .zip(src.par_chunks(n * inner))
        .take(outer)
        .for_each(|(d, s)| {
            for (j, &i) in index.iter().enumerate() {
                let i = i as usize;
                d[j * inner..(j + 1) * inner].copy_from_slice(&s[i * inner..(i + 1) * inner]);
            }
        });
}

/// The symmetric square root `Q sqrt(max(L, 0)) Q^T` of each symmetric `n x n` matrix in
/// `a` (row-major, `batch` of them), with cyclic Jacobi eigendecomposition in f64.
pub fn sym_sqrt(a: &[f32], out: &mut [f32], n: usize) {
    let nn = n * n;
    if nn == 0 {
        return;
    }
    out.par_chunks_mut(nn)
        .zip(a.par_chunks(nn))
        .for_each(|(o, m)| {
            let s = sym_sqrt_f64(&m.iter().map(|&x| x as f64).collect::<Vec<_>>(), n);
            for (d, v) in o.iter_mut().zip(s) {
                *d = v as f32;
            }
        });
}

fn sym_sqrt_f64(m: &[f64], n: usize) -> Vec<f64> {
    // Symmetrise, so that rounding in the input does not bias the rotation.
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = 0.5 * (m[i * n + j] + m[j * n + i]);
        }
    }
    let mut q = vec![0.0; n * n];
    for i in 0..n {
        q[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * scale || off == 0.0 {
            break;
        }
        for p in 0..n {
            for r in p + 1..n {
                let apr = a[p * n + r];
                if apr == 0.0 {
                    continue;
                }
                let (app, arr) = (a[p * n + p], a[r * n + r]);
                let theta = (arr - app) / (2.0 * apr);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A <- J^T A J, rotating rows and columns p and r.
                for k in 0..n {
                    let (akp, akr) = (a[k * n + p], a[k * n + r]);
                    a[k * n + p] = c * akp - s * akr;
                    a[k * n + r] = s * akp + c * akr;
                }
                for k in 0..n {
                    let (apk, ark) = (a[p * n + k], a[r * n + k]);
                    a[p * n + k] = c * apk - s * ark;
                    a[r * n + k] = s * apk + c * ark;
                }
                for k in 0..n {
                    let (qkp, qkr) = (q[k * n + p], q[k * n + r]);
                    q[k * n + p] = c * qkp - s * qkr;
                    q[k * n + r] = s * qkp + c * qkr;
                }
            }
        }
    }
    let root: Vec<f64> = (0..n).map(|i| a[i * n + i].max(0.0).sqrt()).collect();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = (0..n).map(|k| q[i * n + k] * root[k] * q[j * n + k]).sum();
        }
    }
    out
}
