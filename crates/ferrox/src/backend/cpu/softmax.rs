//! Softmax over the last axis, one row at a time: the maximum, then `exp(x - max)` kept
//! in a row-sized buffer while it is summed, then the scaled write. The input row is read
//! from memory once (the second read hits the cache) and the output written once.

use super::rows::{max_of, par_rows, Acc, OutPtr, RowElem, Rows};
use crate::array::Data;
use crate::dtype::Dtype;
use crate::{Error, Result};
use half::{bf16, f16};
use multiversion::multiversion;

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
        let (mut gather, mut exps) = (Vec::new(), vec![T::A::ZERO; n]);
        for r in first..end {
            // SAFETY: `r` is a row of `x`; each row of `out` is written by one thread.
            let (xr, o) = unsafe { (rows.read(x, r, &mut gather), po.row(r, n)) };
            softmax_row(xr, o, &mut exps);
        }
    });
}

#[multiversion(targets = "simd")]
fn softmax_row<T: RowElem>(x: &[T], out: &mut [T], exps: &mut [T::A]) {
    let m = max_of(x);
    let s = exp_sum(x, m, exps);
    let inv = T::A::ONE / s;
    for (o, &e) in out.iter_mut().zip(exps.iter()) {
        *o = T::narrow(e * inv);
    }
}

/// `exps = exp(x - m)` and their sum, in lanes so that the loop vectorises.
#[inline(always)]
fn exp_sum<T: RowElem>(x: &[T], m: T::A, exps: &mut [T::A]) -> T::A {
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

/// Softmax of a row of scores in place, with an optional extra logit (an attention
/// sink) that takes part in the normalisation but has no output.
#[multiversion(targets = "simd")]
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
