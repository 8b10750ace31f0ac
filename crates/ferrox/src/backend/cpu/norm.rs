//! RMS and layer normalisation over the last axis, one row at a time: the row's
//! statistics from a first read, then the normalised, scaled write from a second read
//! that hits the cache. Weight and bias are widened once per call.

use super::rows::{par_rows, sum_map, widened, Acc, OutPtr, RowElem, Rows};
use crate::array::Data;
use crate::dtype::Dtype;
use crate::{Error, Result};
use half::{bf16, f16};
use multiversion::multiversion;

/// Which normalisation, and its `eps`.
#[derive(Clone, Copy, Debug)]
pub enum Norm {
    /// `x / sqrt(mean(x²) + eps) * w`
    Rms(f64),
    /// `(x - mean) / sqrt(var + eps) * w + b`
    Layer(f64),
}

/// `out = norm(x) * weight + bias` over the last axis of `shape`. `weight` and `bias` are
/// 1-D with the row's length (absent: 1 and 0). `out` is row-major; all share `dtype`.
pub fn norm(
    kind: Norm,
    shape: &[usize],
    dtype: Dtype,
    x: &Data,
    weight: Option<&Data>,
    bias: Option<&Data>,
    out: &Data,
) -> Result<()> {
    match dtype {
        Dtype::Float32 => run::<f32>(kind, shape, x, weight, bias, out),
        Dtype::Float64 => run::<f64>(kind, shape, x, weight, bias, out),
        Dtype::Float16 => run::<f16>(kind, shape, x, weight, bias, out),
        Dtype::Bfloat16 => run::<bf16>(kind, shape, x, weight, bias, out),
        d => {
            return Err(Error::Invalid(format!(
                "[{kind:?}] The fused kernel takes floating point input, not {d}."
            )))
        }
    }
    Ok(())
}

fn run<T: RowElem>(
    kind: Norm,
    shape: &[usize],
    x: &Data,
    weight: Option<&Data>,
    bias: Option<&Data>,
    out: &Data,
) {
    let rows = Rows::new(shape, x);
    let n = rows.len;
    if n == 0 {
        return;
    }
    let w = widened::<T>(weight, n, T::A::ONE);
    let b = widened::<T>(bias, n, T::A::ZERO);
    let po = OutPtr(out.ptr::<T>());
    par_rows(rows.count, n, |first, end| {
        let mut gather = Vec::new();
        for r in first..end {
            // SAFETY: `r` is a row of `x`; each row of `out` is written by one thread.
            let (xr, o) = unsafe { (rows.read(x, r, &mut gather), po.row(r, n)) };
            match kind {
                Norm::Rms(eps) => rms_row(xr, &w, T::A::of(eps), o),
                Norm::Layer(eps) => layer_row(xr, &w, &b, T::A::of(eps), o),
            }
        }
    });
}

#[multiversion(targets = "simd")]
fn rms_row<T: RowElem>(x: &[T], w: &[T::A], eps: T::A, out: &mut [T]) {
    let n = T::A::of(x.len() as f64);
    let inv = T::A::ONE / (sum_map(x, |v| v * v) / n + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(w) {
        *o = T::narrow(v.widen() * inv * w);
    }
}

#[multiversion(targets = "simd")]
fn layer_row<T: RowElem>(x: &[T], w: &[T::A], b: &[T::A], eps: T::A, out: &mut [T]) {
    let n = T::A::of(x.len() as f64);
    let mean = sum_map(x, |v| v) / n;
    // Centred before squaring (a second read from the cache), which keeps the variance
    // of rows with a large mean accurate.
    let var = sum_map(x, |v| (v - mean) * (v - mean)) / n;
    let inv = T::A::ONE / (var + eps).sqrt();
    for (((o, &v), &w), &b) in out.iter_mut().zip(x).zip(w).zip(b) {
        *o = T::narrow((v.widen() - mean) * inv * w + b);
    }
}
