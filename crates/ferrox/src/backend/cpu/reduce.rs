//! Reduction kernels. Three shapes of work, fastest first:
//! - reduced axes innermost and contiguous: each output reduces one contiguous run,
//!   with many independent accumulators so the loop vectorises;
//! - kept axes innermost and contiguous: rows are combined into the output row;
//! - anything else: each output walks its reduced elements by offset.
//!
//! f16/bf16 accumulate in f32.

use super::arith::Arith;
use super::strided::{collapse, for_each_offset};
use crate::array::Data;
use crate::dtype::{Dtype, Element};
use crate::primitives::reduce::{ArgReduceOp, ReduceOp};
use crate::Result;
use half::{bf16, f16};
use multiversion::multiversion;

/// Accumulation of one reduction: the accumulator type `A` for elements `T`.
#[derive(Clone, Copy)]
struct Fold<T, A> {
    init: A,
    load: fn(T) -> A,
    combine: fn(A, A) -> A,
    store: fn(A) -> T,
}

const LANES: usize = 16;

#[multiversion(targets = "simd")]
fn fold_run<T: Copy, A: Copy>(x: &[T], f: &Fold<T, A>) -> A {
    let mut acc = [f.init; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            acc[j] = (f.combine)(acc[j], (f.load)(c[j]));
        }
    }
    let mut r = f.init;
    for &a in &acc {
        r = (f.combine)(r, a);
    }
    for &t in tail {
        r = (f.combine)(r, (f.load)(t));
    }
    r
}

#[multiversion(targets = "simd")]
fn fold_rows<T: Copy, A: Copy>(acc: &mut [A], row: &[T], f: &Fold<T, A>) {
    for (a, &x) in acc.iter_mut().zip(row) {
        *a = (f.combine)(*a, (f.load)(x));
    }
}

#[derive(Clone, Copy)]
struct Ptr(usize);

/// Reduces `a` (shape `shape`) over `axes` into `out`, all of element type `T`.
fn run<T: Element, A: Copy + Send + Sync>(
    shape: &[usize],
    axes: &[usize],
    a: &Data,
    out: &Data,
    f: Fold<T, A>,
) {
    let n_out: usize = out_size(shape, axes);
    let kept: Vec<usize> = (0..shape.len()).filter(|i| !axes.contains(i)).collect();
    // Split the view into kept and reduced axes, each merged where contiguous.
    let red_shape: Vec<usize> = axes.iter().map(|&i| shape[i]).collect();
    let red_strides: Vec<isize> = axes.iter().map(|&i| a.strides[i]).collect();
    let kept_shape: Vec<usize> = kept.iter().map(|&i| shape[i]).collect();
    let kept_strides: Vec<isize> = kept.iter().map(|&i| a.strides[i]).collect();
    let n_red: usize = red_shape.iter().product();
    let pa = Ptr(a.ptr::<T>() as usize);
    let po = Ptr(out.ptr::<T>() as usize);
    let (rs, rst) = collapse(&red_shape, &[&red_strides]);
    let (ks, kst) = collapse(&kept_shape, &[&kept_strides]);

    if n_red == 0 || n_out == 0 {
        for i in 0..n_out {
            // SAFETY: out has n_out elements.
            unsafe { *(po.0 as *mut T).add(i) = (f.store)(f.init) };
        }
        return;
    }

    // Reduced elements form one contiguous run per output.
    if rs.len() <= 1 && rst[0].first().copied().unwrap_or(1) == 1 {
        par_items(n_out, n_red, |s: usize, e: usize| {
            for i in s..e {
                let off = super::strided::offset_of(i, &kept_shape, &kept_strides);
                // SAFETY: a run of n_red elements inside the input view.
                let run =
                    unsafe { std::slice::from_raw_parts((pa.0 as *const T).offset(off), n_red) };
                let r = fold_run(run, &f);
                unsafe { *(po.0 as *mut T).add(i) = (f.store)(r) };
            }
        });
        return;
    }

    // Kept elements contiguous innermost: combine whole rows into the output.
    if ks.len() == 1 && kst[0][0] == 1 {
        let k = ks[0];
        par_items(k, n_red, |s, e| {
            let mut acc = vec![f.init; e - s];
            for_each_offset(&rs, &rst[0], |roff| {
                // SAFETY: row [s, e) of the kept run at this reduced offset.
                let row = unsafe {
                    std::slice::from_raw_parts((pa.0 as *const T).offset(roff).add(s), e - s)
                };
                fold_rows(&mut acc, row, &f);
            });
            for (i, v) in acc.into_iter().enumerate() {
                unsafe { *(po.0 as *mut T).add(s + i) = (f.store)(v) };
            }
        });
        return;
    }

    // General: walk each output's reduced elements.
    par_items(n_out, n_red, |s, e| {
        for i in s..e {
            let base = super::strided::offset_of(i, &kept_shape, &kept_strides);
            let mut acc = f.init;
            for_each_offset(&rs, &rst[0], |roff| {
                let x = unsafe { *(pa.0 as *const T).offset(base + roff) };
                acc = (f.combine)(acc, (f.load)(x));
            });
            unsafe { *(po.0 as *mut T).add(i) = (f.store)(acc) };
        }
    });
}

/// Runs `body(start, end)` over `n` items of `work` elements each, split across threads
/// when the total is large.
fn par_items(n: usize, work: usize, body: impl Fn(usize, usize) + Sync) {
    use rayon::prelude::*;
    if n <= 1 || n * work < super::PARALLEL_THRESHOLD {
        body(0, n);
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    let grain = (n / (threads * 4)).max((super::PARALLEL_THRESHOLD / 4 / work).max(1));
    (0..n.div_ceil(grain))
        .into_par_iter()
        .for_each(|c| body(c * grain, ((c + 1) * grain).min(n)));
}

fn out_size(shape: &[usize], axes: &[usize]) -> usize {
    shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &n)| n)
        .product()
}

fn fold_for<T: Element + Arith>(op: ReduceOp) -> Fold<T, T> {
    let id = |x: T| x;
    match op {
        ReduceOp::Sum => Fold {
            init: T::zero(),
            load: id,
            combine: |a, b| a.add(b),
            store: id,
        },
        ReduceOp::Prod => Fold {
            init: T::one(),
            load: id,
            combine: |a, b| a.mul(b),
            store: id,
        },
        ReduceOp::Max => Fold {
            init: T::lowest(),
            load: id,
            combine: |a, b| a.max(b),
            store: id,
        },
        ReduceOp::Min => Fold {
            init: T::highest(),
            load: id,
            combine: |a, b| a.min(b),
            store: id,
        },
        ReduceOp::And | ReduceOp::Or => unreachable!("bool reductions use fold_bool"),
    }
}

macro_rules! half_fold {
    ($t:ty, $op:expr) => {{
        let f32f = fold_for::<f32>($op);
        Fold::<$t, f32> {
            init: f32f.init,
            load: |x: $t| x.to_f32(),
            combine: f32f.combine,
            store: |a: f32| <$t>::from_f32(a),
        }
    }};
}

/// Reduces `a` over `axes` into `out`. Sum/prod/max/min keep the input dtype (the op
/// casts beforehand); and/or read any dtype and write bool.
pub fn reduce(
    op: ReduceOp,
    axes: &[usize],
    shape: &[usize],
    dtype: Dtype,
    a: &Data,
    out: &Data,
) -> Result<()> {
    match op {
        ReduceOp::And | ReduceOp::Or => {
            // Convert to bool first: a boolean view reduces with byte-wide lanes.
            let b = Data::alloc(shape, Dtype::Bool)?;
            super::copy::copy_cast(shape, a, dtype, &b, Dtype::Bool);
            let f = if op == ReduceOp::And {
                Fold::<bool, bool> {
                    init: true,
                    load: |x| x,
                    combine: |a, b| a & b,
                    store: |x| x,
                }
            } else {
                Fold::<bool, bool> {
                    init: false,
                    load: |x| x,
                    combine: |a, b| a | b,
                    store: |x| x,
                }
            };
            run::<bool, bool>(shape, axes, &b, out, f);
        }
        _ => match dtype {
            Dtype::Float16 => run::<f16, f32>(shape, axes, a, out, half_fold!(f16, op)),
            Dtype::Bfloat16 => run::<bf16, f32>(shape, axes, a, out, half_fold!(bf16, op)),
            _ => {
                crate::dispatch_dtype!(dtype, T => run::<T, T>(shape, axes, a, out, fold_for::<T>(op)))
            }
        },
    }
    Ok(())
}

/// Index of the first maximum (or minimum) along `axis`, as uint32. NaN counts as the
/// extreme, as in NumPy.
pub fn arg_reduce(
    op: ArgReduceOp,
    axis: usize,
    shape: &[usize],
    dtype: Dtype,
    a: &Data,
    out: &Data,
) {
    let n = shape[axis];
    let stride = a.strides[axis];
    let kept: Vec<usize> = (0..shape.len()).filter(|&i| i != axis).collect();
    let kshape: Vec<usize> = kept.iter().map(|&i| shape[i]).collect();
    let kstrides: Vec<isize> = kept.iter().map(|&i| a.strides[i]).collect();
    let n_out: usize = kshape.iter().product();
    let pa = Ptr(a.byte_ptr(dtype.size()) as usize);
    let po = Ptr(out.ptr::<u32>() as usize);
    crate::dispatch_dtype!(dtype, T => {
        par_items(n_out, n.max(1), |s, e| {
            for i in s..e {
                let base = super::strided::offset_of(i, &kshape, &kstrides);
                let p = (pa.0 as *const T).wrapping_offset(base);
                let mut best = 0usize;
                if n > 0 {
                    // SAFETY: offsets along the axis inside the view.
                    let mut bv = unsafe { *p };
                    for j in 1..n {
                        let v = unsafe { *p.offset(j as isize * stride) };
                        if bv.is_nan() {
                            break;
                        }
                        let better = match op {
                            ArgReduceOp::ArgMax => bv.lt(v) || v.is_nan(),
                            ArgReduceOp::ArgMin => v.lt(bv) || v.is_nan(),
                        };
                        if better {
                            bv = v;
                            best = j;
                        }
                    }
                }
                unsafe { *(po.0 as *mut u32).add(i) = best as u32 };
            }
        });
    });
}
