//! Scaled dot-product attention, fused: for each (batch, head) and tile of query rows,
//! the scores `scale · q kᵀ` (GEMM), the mask, the softmax of each row in place and the
//! product with `v` (GEMM). Only one tile of scores exists at a time per thread, never
//! the whole `[B, H, Lq, Lk]` block the separate ops would make.
//!
//! f16 and bf16 are computed in f32 (inputs widened once), f64 in f64.

use super::rows::{widened, Acc, OutPtr, RowElem};
use super::softmax::softmax_in_place;
use crate::array::Data;
use crate::dtype::{Dtype, Element};
use crate::{Error, Result};
use gemm::{gemm, Parallelism};
use half::{bf16, f16};
use rayon::prelude::*;

/// Scores per task (f32: 256 KB): a tile of `rows × Lk` scores stays in L2 while its
/// two products run; more rows per tile make those products more efficient.
const TILE_SCORES: usize = 64 * 1024;

/// The operands: `q` `[B, Hq, Lq, D]`, `k` `[B, Hkv, Lk, D]`, `v` `[B, Hkv, Lk, Dv]` (any
/// strides), a mask (bool: keep where true; else added to the scores) broadcast to
/// `[B, Hq, Lq, Lk]`, and one sink logit per query head.
pub struct Attention<'a> {
    pub q: (&'a Data, [usize; 4]),
    pub k: (&'a Data, [usize; 4]),
    pub v: (&'a Data, [usize; 4]),
    pub mask: Option<(&'a Data, Dtype)>,
    pub sinks: Option<&'a Data>,
    pub scale: f64,
    /// Lower-right aligned: query `i` sees keys `j <= i + Lk - Lq`.
    pub causal: bool,
    /// The score of a masked-out key (the dtype's lowest finite value, as in MLX, so a
    /// row with every key masked averages them rather than giving NaN).
    pub fill: f64,
}

/// Computes the attention of `a` into the row-major `[B, Hq, Lq, Dv]` output `out`, all
/// of float `dtype`.
pub fn attention(a: &Attention, dtype: Dtype, out: &Data) -> Result<()> {
    match dtype {
        Dtype::Float32 => run::<f32>(a, a.sinks.map(|s| widened::<f32>(Some(s), hq(a), 0.0)), out),
        Dtype::Float64 => run::<f64>(a, a.sinks.map(|s| widened::<f64>(Some(s), hq(a), 0.0)), out),
        Dtype::Float16 => widen_and_run::<f16>(a, dtype, out)?,
        Dtype::Bfloat16 => widen_and_run::<bf16>(a, dtype, out)?,
        d => {
            return Err(Error::Invalid(format!(
                "[scaled_dot_product_attention] Received unsupported type {d}."
            )))
        }
    }
    Ok(())
}

/// The matrix `[rows, cols]` of `x` at element offset `off`, as a pointer with its row
/// and column strides: in place when its rows are dense and adjacent, else copied to
/// `buf`. Rows far apart (heads split off a `[B, L, H·D]` projection lie `H·D` apart)
/// fall on a few cache sets, which the products then thrash: one copy per task costs
/// less (its reads are `1/rows` of the task's multiply-adds).
///
/// # Safety
/// `off` and `x`'s last two strides address the matrix inside `x`'s buffer.
unsafe fn dense_rows<A: Copy>(
    x: &Data,
    off: isize,
    rows: usize,
    cols: usize,
    buf: &mut Vec<A>,
) -> (*const A, isize, isize) {
    let (rs, cs) = (x.strides[2], x.strides[3]);
    let p = x.ptr::<A>().offset(off) as *const A;
    if (cs == 1 || cols <= 1) && (rs == cols as isize || rows <= 1) {
        return (p, rs, cs);
    }
    buf.clear();
    buf.reserve(rows * cols);
    for r in 0..rows as isize {
        let row = p.offset(r * rs);
        buf.extend((0..cols as isize).map(|c| *row.offset(c * cs)));
    }
    (buf.as_ptr(), cols as isize, 1)
}

fn hq(a: &Attention) -> usize {
    a.q.1[1]
}

/// Half-precision inputs: q, k, v widened to f32 once, the result narrowed once.
fn widen_and_run<T: RowElem<A = f32>>(a: &Attention, dtype: Dtype, out: &Data) -> Result<()> {
    let widen = |(d, shape): (&Data, [usize; 4])| -> Result<Data> {
        let w = Data::alloc(&shape, Dtype::Float32)?;
        super::copy::copy_cast(&shape, d, dtype, &w, Dtype::Float32);
        Ok(w)
    };
    let (q, k, v) = (widen(a.q)?, widen(a.k)?, widen(a.v)?);
    let sinks = a.sinks.map(|s| widened::<T>(Some(s), hq(a), 0.0));
    let wide = Attention {
        q: (&q, a.q.1),
        k: (&k, a.k.1),
        v: (&v, a.v.1),
        mask: a.mask,
        sinks: None,
        scale: a.scale,
        causal: a.causal,
        fill: a.fill,
    };
    let [b, h, l, _] = a.q.1;
    let shape = [b, h, l, a.v.1[3]];
    let o32 = Data::alloc(&shape, Dtype::Float32)?;
    run::<f32>(&wide, sinks, &o32);
    super::copy::copy_cast(&shape, &o32, Dtype::Float32, out, dtype);
    Ok(())
}

fn run<A: Acc + RowElem<A = A>>(a: &Attention, sinks: Option<Vec<A>>, out: &Data) {
    let ([b, hq, lq, d], [_, hkv, lk, _], [_, _, _, dv]) = (a.q.1, a.k.1, a.v.1);
    if b * hq * lq * dv == 0 {
        return;
    }
    let (q, k, v) = (a.q.0, a.k.0, a.v.0);
    let group = hq / hkv.max(1);
    let tile = (TILE_SCORES / lk.max(1)).clamp(16, 512);
    let tiles = lq.div_ceil(tile);
    let tasks = b * hq * tiles;
    let threads = rayon::current_num_threads().max(1);
    // Few tasks: run them one after another with each GEMM using every thread.
    let par = if tasks < threads {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    let (scale, fill) = (A::of(a.scale), A::of(a.fill));
    let po = OutPtr(out.ptr::<A>());
    let task = |t: usize| {
        let (bh, t_in_head) = (t / tiles, t % tiles);
        let (bi, h) = (bh / hq, bh % hq);
        let hk = h / group;
        let (i0, rows) = (t_in_head * tile, tile.min(lq - t_in_head * tile));
        let at = |x: &Data, i: usize, j: usize, r: usize| -> isize {
            let s = &x.strides;
            i as isize * s[0] + j as isize * s[1] + r as isize * s[2]
        };
        // SAFETY: offsets come from the views' shapes and strides; each task writes its
        // own rows of the output.
        unsafe {
            let dst = po.get().add(((bi * hq + h) * lq + i0) * dv);
            if lk == 0 {
                std::ptr::write_bytes(dst, 0, rows * dv);
                return;
            }
            let mut s = vec![A::ZERO; rows * lk];
            let (mut qbuf, mut kbuf, mut vbuf) = (Vec::new(), Vec::new(), Vec::new());
            if d > 0 {
                let (qp, q_rs, q_cs) = dense_rows(q, at(q, bi, h, i0), rows, d, &mut qbuf);
                let (kp, k_rs, k_cs) = dense_rows(k, at(k, bi, hk, 0), lk, d, &mut kbuf);
                gemm(
                    rows,
                    lk,
                    d,
                    s.as_mut_ptr(),
                    1,
                    lk as isize,
                    false,
                    qp,
                    q_cs,
                    q_rs,
                    kp,
                    k_rs,
                    k_cs,
                    A::ZERO,
                    scale,
                    false,
                    false,
                    false,
                    par,
                );
            }
            for (r, row) in s.chunks_exact_mut(lk).enumerate() {
                let i = i0 + r;
                if a.causal {
                    // Keys past `i + lk - lq` are in the future of query `i`.
                    let seen = (i as isize + lk as isize - lq as isize + 1).clamp(0, lk as isize);
                    let seen = seen as usize;
                    row[seen..].iter_mut().for_each(|x| *x = fill);
                }
                if let Some((m, mdtype)) = a.mask {
                    apply_mask(row, m, mdtype, at(m, bi, h, i), fill);
                }
                softmax_in_place(row, sinks.as_ref().map(|s| s[h]));
            }
            let (vp, v_rs, v_cs) = dense_rows(v, at(v, bi, hk, 0), lk, dv, &mut vbuf);
            gemm(
                rows,
                dv,
                lk,
                dst,
                1,
                dv as isize,
                false,
                s.as_ptr(),
                1,
                lk as isize,
                vp,
                v_cs,
                v_rs,
                A::ZERO,
                A::ONE,
                false,
                false,
                false,
                par,
            );
        }
    };
    if tasks < threads {
        (0..tasks).for_each(task);
    } else {
        (0..tasks).into_par_iter().for_each(task);
    }
}

/// Applies one row of the mask at element offset `off` (its last stride steps along the
/// keys): a false boolean replaces the score with `fill`, a number is added to it.
///
/// # Safety
/// `off` and the mask's last stride address the row inside the mask's buffer.
unsafe fn apply_mask<A: Acc>(row: &mut [A], m: &Data, dtype: Dtype, off: isize, fill: A) {
    let step = m.strides[3];
    if dtype == Dtype::Bool {
        let p = m.ptr::<bool>().offset(off);
        for (j, x) in row.iter_mut().enumerate() {
            if !*p.offset(j as isize * step) {
                *x = fill;
            }
        }
        return;
    }
    crate::dispatch_dtype!(dtype, M => {
        let p = m.ptr::<M>().offset(off);
        for (j, x) in row.iter_mut().enumerate() {
            *x = *x + A::of((*p.offset(j as isize * step)).to_f64());
        }
    })
}
