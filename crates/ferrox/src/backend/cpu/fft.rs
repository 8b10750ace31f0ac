//! Discrete Fourier transforms along one axis, unnormalized, with `rustfft`: each line is
//! gathered through the input's strides, transformed, and written to the row-major
//! output; lines run in parallel. The plan is made once per call (one length) and
//! shared by the threads, each with its own scratch space.

use super::strided::offset_of;
use crate::array::Data;
use num_complex::Complex32;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Which transform: complex to complex, real to half-spectrum, half-spectrum to real.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    C2C,
    R2C,
    C2R,
}

#[derive(Clone, Copy)]
struct Ptr(usize);

/// Transforms `a` (shape `shape`, any strides) along `axis` into the row-major `out`.
/// `n` is the transform length: the input extent for `C2C`/`R2C`, the output extent for
/// `C2R` (whose input has `n / 2 + 1` bins). Input and output element types: `C2C`
/// complex64 → complex64, `R2C` float32 → complex64, `C2R` complex64 → float32.
/// `inverse` picks the sign `e^{+2πi jk/n}`; no `1/n` is applied.
pub fn fft(
    kind: Kind,
    inverse: bool,
    axis: usize,
    n: usize,
    shape: &[usize],
    a: &Data,
    out: &Data,
) {
    use rayon::prelude::*;
    let n_in = shape[axis];
    let n_out = match kind {
        Kind::C2C => n,
        Kind::R2C => n / 2 + 1,
        Kind::C2R => n,
    };
    let n_lines = shape.iter().product::<usize>() / n_in.max(1);
    if n == 0 || n_in == 0 || n_lines == 0 {
        return;
    }
    let plan: Arc<dyn Fft<f32>> = if inverse {
        FftPlanner::new().plan_fft_inverse(n)
    } else {
        FftPlanner::new().plan_fft_forward(n)
    };
    let inner: usize = shape[axis + 1..].iter().product();
    let other: Vec<usize> = (0..shape.len()).filter(|&i| i != axis).collect();
    let oshape: Vec<usize> = other.iter().map(|&i| shape[i]).collect();
    let ostrides: Vec<isize> = other.iter().map(|&i| a.strides[i]).collect();
    let sa = a.strides[axis];
    // Typed by the input's element type (the offset counts its elements).
    let pa = match kind {
        Kind::R2C => Ptr(a.ptr::<f32>() as usize),
        _ => Ptr(a.ptr::<Complex32>() as usize),
    };
    let po = match kind {
        Kind::C2R => Ptr(out.ptr::<f32>() as usize),
        _ => Ptr(out.ptr::<Complex32>() as usize),
    };
    let body = |s: usize, e: usize| {
        let mut line = vec![Complex32::new(0.0, 0.0); n];
        let mut scratch = vec![Complex32::new(0.0, 0.0); plan.get_inplace_scratch_len()];
        for l in s..e {
            let base = offset_of(l, &oshape, &ostrides);
            let at = |j: usize| base + j as isize * sa;
            // SAFETY (all reads): offsets along the axis inside the input view.
            match kind {
                Kind::C2C => {
                    for (j, v) in line.iter_mut().enumerate() {
                        *v = unsafe { *(pa.0 as *const Complex32).offset(at(j)) };
                    }
                }
                Kind::R2C => {
                    for (j, v) in line.iter_mut().enumerate() {
                        *v = Complex32::new(unsafe { *(pa.0 as *const f32).offset(at(j)) }, 0.0);
                    }
                }
                Kind::C2R => {
                    // The full spectrum of a real signal: X[n-k] = conj(X[k]). The
                    // imaginary parts of X[0] (and X[n/2]) only reach the imaginary part
                    // of the result, which is dropped, as in NumPy.
                    let m = n_in.min(n / 2 + 1);
                    for (j, v) in line.iter_mut().enumerate().take(m) {
                        *v = unsafe { *(pa.0 as *const Complex32).offset(at(j)) };
                    }
                    for k in m..n {
                        line[k] = line[n - k].conj();
                    }
                }
            }
            plan.process_with_scratch(&mut line, &mut scratch);
            let (o, i) = (l / inner, l % inner);
            let ob = o * n_out * inner + i;
            // SAFETY (all writes): line l of the row-major output; lines are disjoint.
            match kind {
                Kind::C2C | Kind::R2C => {
                    for (j, v) in line.iter().take(n_out).enumerate() {
                        unsafe { *(po.0 as *mut Complex32).add(ob + j * inner) = *v };
                    }
                }
                Kind::C2R => {
                    for (j, v) in line.iter().enumerate() {
                        unsafe { *(po.0 as *mut f32).add(ob + j * inner) = v.re };
                    }
                }
            }
        }
    };
    // FFT costs about n·log n per line: split the lines by that work.
    let work = n * (usize::BITS - n.leading_zeros()) as usize;
    if n_lines * work < super::PARALLEL_THRESHOLD {
        body(0, n_lines);
    } else {
        let grain = (super::PARALLEL_THRESHOLD / work).max(1);
        (0..n_lines.div_ceil(grain))
            .into_par_iter()
            .for_each(|c| body(c * grain, ((c + 1) * grain).min(n_lines)));
    }
}
