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

/// Accumulation of one reduction: accumulator type `Acc` for elements `T`.
///
/// A trait over zero-sized types rather than a struct of function pointers: the kernels
/// are generic over it, so `combine` inlines and the loops vectorise. (With function
/// pointers every element cost two indirect calls: a 4096x4096 f32 sum took ~65 ms,
/// against ~5 ms for NumPy.)
trait Fold<T>: Copy + Send + Sync {
    type Acc: Copy + Send + Sync;
    fn init(self) -> Self::Acc;
    fn load(self, x: T) -> Self::Acc;
    fn combine(self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
    fn store(self, a: Self::Acc) -> T;
}

/// The four arithmetic reductions as types (bool's `all`/`any` are `Prod`/`Sum`, since
/// bool's `mul` is `&` and its `add` is `|`).
#[derive(Clone, Copy)]
struct Sum;
#[derive(Clone, Copy)]
struct Prod;
#[derive(Clone, Copy)]
struct Max;
#[derive(Clone, Copy)]
struct Min;

macro_rules! fold_same_type {
    ($op:ident, $init:ident, $combine:ident) => {
        impl<T: Arith + Send + Sync> Fold<T> for $op {
            type Acc = T;
            #[inline(always)]
            fn init(self) -> T {
                T::$init()
            }
            #[inline(always)]
            fn load(self, x: T) -> T {
                x
            }
            #[inline(always)]
            fn combine(self, a: T, b: T) -> T {
                a.$combine(b)
            }
            #[inline(always)]
            fn store(self, a: T) -> T {
                a
            }
        }
    };
}
fold_same_type!(Sum, zero, add);
fold_same_type!(Prod, one, mul);
fold_same_type!(Max, lowest, max);
fold_same_type!(Min, highest, min);

/// f16/bf16 elements folded in f32 with `F`'s f32 rule.
#[derive(Clone, Copy)]
struct Widen<F>(F);

macro_rules! fold_widen {
    ($t:ty) => {
        impl<F: Fold<f32, Acc = f32>> Fold<$t> for Widen<F> {
            type Acc = f32;
            #[inline(always)]
            fn init(self) -> f32 {
                self.0.init()
            }
            #[inline(always)]
            fn load(self, x: $t) -> f32 {
                x.to_f32()
            }
            #[inline(always)]
            fn combine(self, a: f32, b: f32) -> f32 {
                self.0.combine(a, b)
            }
            #[inline(always)]
            fn store(self, a: f32) -> $t {
                <$t>::from_f32(a)
            }
        }
    };
}
fold_widen!(f16);
fold_widen!(bf16);

/// Independent accumulators per run: enough that the add latency is hidden (4 zmm
/// registers of f32) and the loop vectorises into whole vectors.
const LANES: usize = 64;

simd_kernel! {
    fn fold_run<T: Copy, F: Fold<T>>(x: &[T], f: F) -> F::Acc {
        let mut acc = [f.init(); LANES];
        let chunks = x.chunks_exact(LANES);
        let tail = chunks.remainder();
        for c in chunks {
            for j in 0..LANES {
                acc[j] = f.combine(acc[j], f.load(c[j]));
            }
        }
        // Pairwise, which keeps the rounding error of the final combine small.
        let mut width = LANES;
        while width > 1 {
            width /= 2;
            for j in 0..width {
                acc[j] = f.combine(acc[j], acc[j + width]);
            }
        }
        let mut r = acc[0];
        for &t in tail {
            r = f.combine(r, f.load(t));
        }
        r
    }
}

simd_kernel! {
    fn fold_rows<T: Copy, F: Fold<T>>(acc: &mut [F::Acc], row: &[T], f: F) {
        for (a, &x) in acc.iter_mut().zip(row) {
            *a = f.combine(*a, f.load(x));
        }
    }
}

/// Elements per parallel chunk of one long run (a multiple of [`LANES`]): 256 KB of f32.
const RUN_CHUNK: usize = 1 << 16;
/// Outputs up to which long contiguous runs are split into chunks rather than shared out
/// whole between threads.
const FEW_RUNS: usize = 8;

#[derive(Clone, Copy)]
struct Ptr(usize);

/// Reduces `a` (shape `shape`) over `axes` into `out`, all of element type `T`.
fn run<T: Element, F: Fold<T>>(shape: &[usize], axes: &[usize], a: &Data, out: &Data, f: F) {
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
            unsafe { *(po.0 as *mut T).add(i) = f.store(f.init()) };
        }
        return;
    }

    // Reduced elements form one contiguous run per output.
    if rs.len() <= 1 && rst[0].first().copied().unwrap_or(1) == 1 {
        let run_of = |i: usize| {
            let off = super::strided::offset_of(i, &kept_shape, &kept_strides);
            // SAFETY: a run of n_red elements inside the input view.
            unsafe { std::slice::from_raw_parts((pa.0 as *const T).offset(off), n_red) }
        };
        if n_out <= FEW_RUNS && n_red >= 2 * RUN_CHUNK {
            // Too few outputs to go round the threads (a full sum): split each run into
            // fixed chunks folded in parallel and combined in order. The choice and the
            // chunks depend on the shape alone, so the result does not depend on the
            // number of threads. (One thread read 256 MB in 8.4 ms, two in 4.2.)
            use rayon::prelude::*;
            for i in 0..n_out {
                let parts: Vec<F::Acc> = run_of(i)
                    .par_chunks(RUN_CHUNK)
                    .map(|c| fold_run(c, f))
                    .collect();
                let r = parts.into_iter().fold(f.init(), |a, b| f.combine(a, b));
                unsafe { *(po.0 as *mut T).add(i) = f.store(r) };
            }
            return;
        }
        par_items(n_out, n_red, |s: usize, e: usize| {
            for i in s..e {
                let r = fold_run(run_of(i), f);
                unsafe { *(po.0 as *mut T).add(i) = f.store(r) };
            }
        });
        return;
    }

    // The reduced elements' offsets, listed once: walking them again for every output
    // (or row) re-derived the same list each time, allocating as it went.
    let red_offsets: Option<Vec<isize>> = (n_red <= 1 << 16).then(|| {
        let mut v = Vec::with_capacity(n_red);
        for_each_offset(&rs, &rst[0], |o| v.push(o));
        v
    });
    let each_reduced = |g: &mut dyn FnMut(isize)| match &red_offsets {
        Some(v) => v.iter().for_each(|&o| g(o)),
        None => for_each_offset(&rs, &rst[0], g),
    };

    // Kept elements contiguous innermost: combine whole rows into the output.
    if ks.len() == 1 && kst[0][0] == 1 {
        let k = ks[0];
        par_items(k, n_red, |s, e| {
            let mut acc = vec![f.init(); e - s];
            each_reduced(&mut |roff| {
                // SAFETY: row [s, e) of the kept run at this reduced offset.
                let row = unsafe {
                    std::slice::from_raw_parts((pa.0 as *const T).offset(roff).add(s), e - s)
                };
                fold_rows(&mut acc, row, f);
            });
            for (i, v) in acc.into_iter().enumerate() {
                unsafe { *(po.0 as *mut T).add(s + i) = f.store(v) };
            }
        });
        return;
    }

    // The innermost kept axis contiguous, with kept axes outside it too (a middle axis
    // reduced, as pooling windows are): the same row combine for each outer position.
    if kst[0].last() == Some(&1) {
        let inner = ks[ks.len() - 1];
        let (outer_shape, outer_strides) = (&ks[..ks.len() - 1], &kst[0][..ks.len() - 1]);
        par_items(n_out / inner, n_red * inner, |s, e| {
            let mut acc = vec![f.init(); inner];
            for o in s..e {
                let base = super::strided::offset_of(o, outer_shape, outer_strides);
                acc.iter_mut().for_each(|a| *a = f.init());
                each_reduced(&mut |roff| {
                    // SAFETY: the kept row at this outer position and reduced offset.
                    let row = unsafe {
                        std::slice::from_raw_parts((pa.0 as *const T).offset(base + roff), inner)
                    };
                    fold_rows(&mut acc, row, f);
                });
                for (i, &v) in acc.iter().enumerate() {
                    unsafe { *(po.0 as *mut T).add(o * inner + i) = f.store(v) };
                }
            }
        });
        return;
    }

    // General: walk each output's reduced elements.
    par_items(n_out, n_red, |s, e| {
        for i in s..e {
            let base = super::strided::offset_of(i, &kept_shape, &kept_strides);
            let mut acc = f.init();
            each_reduced(&mut |roff| {
                let x = unsafe { *(pa.0 as *const T).offset(base + roff) };
                acc = f.combine(acc, f.load(x));
            });
            unsafe { *(po.0 as *mut T).add(i) = f.store(acc) };
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

/// Runs `run` with the fold of `op` for an element type that folds in its own type.
fn run_same<T: Element + Arith>(
    op: ReduceOp,
    shape: &[usize],
    axes: &[usize],
    a: &Data,
    out: &Data,
) {
    match op {
        ReduceOp::Sum | ReduceOp::Or => run::<T, _>(shape, axes, a, out, Sum),
        ReduceOp::Prod | ReduceOp::And => run::<T, _>(shape, axes, a, out, Prod),
        ReduceOp::Max => run::<T, _>(shape, axes, a, out, Max),
        ReduceOp::Min => run::<T, _>(shape, axes, a, out, Min),
    }
}

/// Runs `run` for f16/bf16 elements, folding in f32.
fn run_widened<T: Element>(op: ReduceOp, shape: &[usize], axes: &[usize], a: &Data, out: &Data)
where
    Widen<Sum>: Fold<T>,
    Widen<Prod>: Fold<T>,
    Widen<Max>: Fold<T>,
    Widen<Min>: Fold<T>,
{
    match op {
        ReduceOp::Sum | ReduceOp::Or => run::<T, _>(shape, axes, a, out, Widen(Sum)),
        ReduceOp::Prod | ReduceOp::And => run::<T, _>(shape, axes, a, out, Widen(Prod)),
        ReduceOp::Max => run::<T, _>(shape, axes, a, out, Widen(Max)),
        ReduceOp::Min => run::<T, _>(shape, axes, a, out, Widen(Min)),
    }
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
            // Convert to bool first: a boolean view reduces with byte-wide lanes. On
            // bool, `Prod` is `&` (all) and `Sum` is `|` (any).
            let b = Data::alloc(shape, Dtype::Bool)?;
            super::copy::copy_cast(shape, a, dtype, &b, Dtype::Bool);
            run_same::<bool>(op, shape, axes, &b, out);
        }
        _ => match dtype {
            Dtype::Float16 => run_widened::<f16>(op, shape, axes, a, out),
            Dtype::Bfloat16 => run_widened::<bf16>(op, shape, axes, a, out),
            _ => crate::dispatch_dtype!(dtype, T => run_same::<T>(op, shape, axes, a, out)),
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
    macro_rules! each_row {
        ($t:ty, |$p:ident| $arg:expr) => {
            par_items(n_out, n.max(1), |s, e| {
                for i in s..e {
                    let base = super::strided::offset_of(i, &kshape, &kstrides);
                    let $p = (pa.0 as *const $t).wrapping_offset(base);
                    let best: usize = if n == 0 { 0 } else { $arg };
                    // SAFETY: one u32 per output.
                    unsafe { *(po.0 as *mut u32).add(i) = best as u32 };
                }
            })
        };
    }
    macro_rules! contiguous {
        ($t:ty) => {
            // SAFETY: a contiguous run of n elements inside the view.
            each_row!($t, |p| arg_extreme_run(
                unsafe { std::slice::from_raw_parts(p, n) },
                op
            ))
        };
    }
    match (stride, dtype) {
        (1, Dtype::Float32) => contiguous!(f32),
        (1, Dtype::Float64) => contiguous!(f64),
        (1, Dtype::Int32) => contiguous!(i32),
        (1, Dtype::Int64) => contiguous!(i64),
        _ => crate::dispatch_dtype!(dtype, T => {
            each_row!(T, |p| {
                // SAFETY: offsets along the axis inside the view.
                let mut bv = unsafe { *p };
                let mut best = 0usize;
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
                best
            })
        }),
    }
}

/// The first extreme of a contiguous non-empty run, with the same rule as the strided
/// loop above, but skipping chunks whose extreme (a vectorised fold, NaN-propagating)
/// cannot beat the best so far: only chunks that hold a new best are scanned one
/// element at a time. (The element-by-element loop never vectorises, as it stops at a
/// NaN: argmax over rows of 4096² f32 took 16 ms, five times NumPy's.)
fn arg_extreme_run<T: Arith + Send + Sync>(run: &[T], op: ArgReduceOp) -> usize {
    const CHUNK: usize = 256;
    let better = |bv: T, v: T| match op {
        ArgReduceOp::ArgMax => Arith::lt(bv, v) || Arith::is_nan(v),
        ArgReduceOp::ArgMin => Arith::lt(v, bv) || Arith::is_nan(v),
    };
    let (mut bv, mut best) = (run[0], 0);
    let mut start = 1;
    while start < run.len() && !Arith::is_nan(bv) {
        let chunk = &run[start..(start + CHUNK).min(run.len())];
        let extreme = match op {
            ArgReduceOp::ArgMax => fold_run(chunk, Max),
            ArgReduceOp::ArgMin => fold_run(chunk, Min),
        };
        if better(bv, extreme) {
            for (k, &v) in chunk.iter().enumerate() {
                if better(bv, v) {
                    (bv, best) = (v, start + k);
                    if Arith::is_nan(v) {
                        break;
                    }
                }
            }
        }
        start += chunk.len();
    }
    best
}
