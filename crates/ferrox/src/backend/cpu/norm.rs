//! RMS and layer normalisation over the last axis, one row at a time, pipelined: the
//! loop that writes row `r` also sums row `r + 1` (read from memory while `r` is
//! written), whose variance and write then read it from the cache. Weight and bias are
//! widened once per call.

use super::rows::{par_rows, sum_map, widened, Acc, OutPtr, RowElem, Rows};
use crate::array::Data;
use crate::dtype::Dtype;
use crate::{Error, Result};
use half::{bf16, f16};

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
        let mut stats = None;
        // SAFETY: rows of `x` in range; each row of `out` is written by one thread.
        unsafe {
            rows.pipeline::<T>(x, first, end, |row, next, r| {
                let (mean, inv) = stats.unwrap_or_else(|| match kind {
                    Norm::Rms(_) => row_stats(kind, row, sum_map(row, |v| v * v)),
                    Norm::Layer(_) => row_stats(kind, row, sum_map(row, |v| v)),
                });
                let o = po.row(r, n);
                stats = Some(match kind {
                    Norm::Rms(_) => row_stats(
                        kind,
                        next,
                        write_row::<T, true>(row, mean, inv, &w, &b, o, next),
                    ),
                    Norm::Layer(_) => row_stats(
                        kind,
                        next,
                        write_row::<T, false>(row, mean, inv, &w, &b, o, next),
                    ),
                });
            })
        }
    });
}

/// `(mean, 1/σ)` of a row from its sum (of squares, for RMS). Layer norm's variance is
/// a second read of the row, centred first (which keeps rows with a large mean
/// accurate); the row is in cache by then.
fn row_stats<T: RowElem>(kind: Norm, row: &[T], sum: T::A) -> (T::A, T::A) {
    let n = T::A::of(row.len() as f64);
    match kind {
        Norm::Rms(eps) => (T::A::ZERO, T::A::ONE / (sum / n + T::A::of(eps)).sqrt()),
        Norm::Layer(eps) => {
            let mean = sum / n;
            let var = centred_squares(row, mean) / n;
            (mean, T::A::ONE / (var + T::A::of(eps)).sqrt())
        }
    }
}

simd_kernel! {
    fn centred_squares<T: RowElem>(x: &[T], mean: T::A) -> T::A {
        sum_map(x, |v| (v - mean) * (v - mean))
    }
}

simd_kernel! {
    /// `out = (x - mean) · inv · w + b`, and in the same loop (so that the next row's read
    /// from memory overlaps this row's write) the sum of the next row, or of its squares.
    #[allow(clippy::too_many_arguments)]
    fn write_row<T: RowElem, const SQUARES: bool>(
        x: &[T],
        mean: T::A,
        inv: T::A,
        w: &[T::A],
        b: &[T::A],
        out: &mut [T],
        next: &[T],
    ) -> T::A {
        const L: usize = 16;
        let mut acc = [T::A::ZERO; L];
        let f = |v: T::A| if SQUARES { v * v } else { v };
        let n = x.len() / L * L;
        for j0 in (0..n).step_by(L) {
            let (xc, oc, nc) = (&x[j0..j0 + L], &mut out[j0..j0 + L], &next[j0..j0 + L]);
            let (wc, bc) = (&w[j0..j0 + L], &b[j0..j0 + L]);
            for j in 0..L {
                oc[j] = T::narrow((xc[j].widen() - mean) * inv * wc[j] + bc[j]);
                acc[j] = acc[j] + f(nc[j].widen());
            }
        }
        let mut s = acc.iter().fold(T::A::ZERO, |s, &a| s + a);
        for j in n..x.len() {
            out[j] = T::narrow((x[j].widen() - mean) * inv * w[j] + b[j]);
            s = s + f(next[j].widen());
        }
        s
    }
}
