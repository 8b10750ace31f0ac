//! Softmax over the last axis, one row at a time, pipelined: `exp(x - max)` of row `r`
//! (in the cache) into a row-sized buffer while it is summed, then one loop that writes
//! row `r` scaled and finds the maximum of row `r + 1` (read from memory while `r` is
//! written). Each row crosses memory once each way.

use super::rows::{max_of, par_rows, Acc, OutPtr, RowElem, Rows};
use crate::array::Data;
use crate::dtype::Dtype;
use crate::{Error, Result};
use half::{bf16, f16};

/// `out = softmax(x)` over the last axis of `shape`; `out` is row-major.
pub fn softmax(shape: &[usize], dtype: Dtype, x: &Data, out: &Data) -> Result<()> {
    match dtype {
        Dtype::Float32 => run::<f32>(shape, x, out),
        Dtype::Float64 => run::<f64>(shape, x, out),
        Dtype::Float16 => run::<f16>(shape, x, out),
        Dtype::Bfloat16 => run::<bf16>(shape, x, out),
        d => {
            return Err(Error::Invalid(format!(
                "[softmax] The fused kernel takes floating point input, not {d}."
            )))
        }
    }
    Ok(())
}

fn run<T: RowElem>(shape: &[usize], x: &Data, out: &Data) {
    let rows = Rows::new(shape, x);
    let n = rows.len;
    if n == 0 {
        return;
    }
    let po = OutPtr(out.ptr::<T>());
    par_rows(rows.count, n, |first, end| {
        let mut exps = vec![T::A::ZERO; n];
        let mut max = None;
        // SAFETY: rows of `x` in range; each row of `out` is written by one thread.
        unsafe {
            rows.pipeline::<T>(x, first, end, |row, next, r| {
                let m = max.unwrap_or_else(|| max_of(row));
                let s = exp_row(row, m, &mut exps);
                max = Some(write_row(&exps, T::A::ONE / s, po.row(r, n), next));
            })
        }
    });
}

simd_kernel! {
    /// `exps = exp(x - m)`; returns their sum. Reads `x` from the cache: compute only.
    fn exp_row<T: RowElem>(x: &[T], m: T::A, exps: &mut [T::A]) -> T::A {
        const L: usize = 16;
        let mut acc = [T::A::ZERO; L];
        let n = x.len() / L * L;
        for (xc, ec) in x[..n].chunks_exact(L).zip(exps[..n].chunks_exact_mut(L)) {
            for j in 0..L {
                let e = (xc[j].widen() - m).exp();
                ec[j] = e;
                acc[j] = acc[j] + e;
            }
        }
        let mut s = acc.iter().fold(T::A::ZERO, |s, &a| s + a);
        for (xv, ev) in x[n..].iter().zip(exps[n..].iter_mut()) {
            *ev = (xv.widen() - m).exp();
            s = s + *ev;
        }
        s
    }
}

simd_kernel! {
    /// `out = exps · inv`, and the maximum of the next row, read in the same loop so that
    /// the memory read of one row overlaps the write of the other.
    fn write_row<T: RowElem>(exps: &[T::A], inv: T::A, out: &mut [T], next: &[T]) -> T::A {
        const L: usize = 16;
        let first = next[0].widen();
        let mut acc = [first; L];
        let pick = |m: T::A, v: T::A| if v > m { v } else { m };
        let n = out.len() / L * L;
        let chunks = exps[..n]
            .chunks_exact(L)
            .zip(out[..n].chunks_exact_mut(L))
            .zip(next[..n].chunks_exact(L));
        for ((ec, oc), nc) in chunks {
            for j in 0..L {
                oc[j] = T::narrow(ec[j] * inv);
                acc[j] = pick(acc[j], nc[j].widen());
            }
        }
        for ((&e, o), &v) in exps[n..].iter().zip(&mut out[n..]).zip(&next[n..]) {
            *o = T::narrow(e * inv);
            acc[0] = pick(acc[0], v.widen());
        }
        acc.iter().fold(first, |m, &v| pick(m, v))
    }
}

simd_kernel! {
    /// Softmax of a row of scores in place, with an optional extra logit (an attention
    /// sink) that takes part in the normalisation but has no output.
    pub fn softmax_in_place<A: Acc + RowElem<A = A>>(s: &mut [A], sink: Option<A>) {
        if s.is_empty() {
            return;
        }
        let mut m = max_of(s);
        if let Some(k) = sink {
            m = if k > m { k } else { m };
        }
        let mut total = A::ZERO;
        const L: usize = 16;
        let mut acc = [A::ZERO; L];
        let n = s.len() / L * L;
        for c in s[..n].chunks_exact_mut(L) {
            for j in 0..L {
                c[j] = (c[j] - m).exp();
                acc[j] = acc[j] + c[j];
            }
        }
        for v in &mut s[n..] {
            *v = (*v - m).exp();
            total = total + *v;
        }
        total = acc.iter().fold(total, |t, &a| t + a);
        if let Some(k) = sink {
            total = total + (k - m).exp();
        }
        let inv = A::ONE / total;
        for v in s.iter_mut() {
            *v = *v * inv;
        }
    }
}
