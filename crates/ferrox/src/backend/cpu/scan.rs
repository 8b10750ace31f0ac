//! Scan kernels. The input may be any strided view; the output is row-major. Two shapes
//! of work:
//! - scan along the last (non-trivial) axis: each line is a sequential loop, lines run
//!   in parallel;
//! - scan along an outer axis: the contiguous inner block is carried as a row of
//!   accumulators and each step combines a whole input row into it, which vectorises;
//!   (outer index, inner chunk) pairs run in parallel.
//!
//! f16/bf16 accumulate in f32, so a long cumsum does not stall at 2048.

use super::arith::Arith;
use super::strided::{collapse, offset_of};
use crate::array::Data;
use crate::dtype::{Dtype, Element};
use crate::primitives::scan::{Scan, ScanOp};
use crate::{Error, Result};
use half::{bf16, f16};
use num_complex::Complex32;

/// An element type and the type it accumulates in.
pub trait Accumulate: Element {
    type Acc: Copy + Send + Sync + Arith;
    fn load(self) -> Self::Acc;
    fn store(a: Self::Acc) -> Self;
}

macro_rules! accumulate_self {
    ($($t:ty),*) => {$(
        impl Accumulate for $t {
            type Acc = $t;
            #[inline(always)] fn load(self) -> $t { self }
            #[inline(always)] fn store(a: $t) -> $t { a }
        }
    )*};
}
accumulate_self!(bool, u8, u16, u32, u64, i8, i16, i32, i64, f32, f64, Complex32);

macro_rules! accumulate_f32 {
    ($($t:ty),*) => {$(
        impl Accumulate for $t {
            type Acc = f32;
            #[inline(always)] fn load(self) -> f32 { self.to_f32() }
            #[inline(always)] fn store(a: f32) -> $t { <$t>::from_f32(a) }
        }
    )*};
}
accumulate_f32!(f16, bf16);

/// How a scan combines: the identity (what an exclusive scan starts with) and the step.
pub trait Combine<A>: Copy + Send + Sync {
    fn init() -> A;
    fn combine(acc: A, x: A) -> A;
}

#[derive(Clone, Copy)]
struct SumC;
#[derive(Clone, Copy)]
struct ProdC;
#[derive(Clone, Copy)]
struct MaxC;
#[derive(Clone, Copy)]
struct MinC;
#[derive(Clone, Copy)]
struct LogAddExpC;

impl<A: Arith> Combine<A> for SumC {
    #[inline(always)]
    fn init() -> A {
        A::zero()
    }
    #[inline(always)]
    fn combine(acc: A, x: A) -> A {
        acc.add(x)
    }
}
impl<A: Arith> Combine<A> for ProdC {
    #[inline(always)]
    fn init() -> A {
        A::one()
    }
    #[inline(always)]
    fn combine(acc: A, x: A) -> A {
        acc.mul(x)
    }
}
// Max/min propagate NaN (Arith's max/min keep a NaN operand).
impl<A: Arith> Combine<A> for MaxC {
    #[inline(always)]
    fn init() -> A {
        A::lowest()
    }
    #[inline(always)]
    fn combine(acc: A, x: A) -> A {
        acc.max(x)
    }
}
impl<A: Arith> Combine<A> for MinC {
    #[inline(always)]
    fn init() -> A {
        A::highest()
    }
    #[inline(always)]
    fn combine(acc: A, x: A) -> A {
        acc.min(x)
    }
}

/// `log(exp(a) + exp(b))` without overflow, for the inexact accumulator types.
pub trait LogAddExp: Copy + Send + Sync {
    fn neg_inf() -> Self;
    fn log_add_exp(self, o: Self) -> Self;
}

macro_rules! log_add_exp_float {
    ($($t:ty),*) => {$(
        impl LogAddExp for $t {
            #[inline(always)]
            fn neg_inf() -> $t { <$t>::NEG_INFINITY }
            #[inline(always)]
            fn log_add_exp(self, o: $t) -> $t {
                if self.is_nan() || o.is_nan() {
                    return <$t>::NAN;
                }
                let (hi, lo) = if self > o { (self, o) } else { (o, self) };
                // -inf + -inf and inf + x would give inf - inf = NaN below.
                if lo == <$t>::NEG_INFINITY || hi == <$t>::INFINITY {
                    return hi;
                }
                hi + (lo - hi).exp().ln_1p()
            }
        }
    )*};
}
log_add_exp_float!(f32, f64);

impl LogAddExp for Complex32 {
    fn neg_inf() -> Complex32 {
        Complex32::new(f32::NEG_INFINITY, 0.0)
    }
    fn log_add_exp(self, o: Complex32) -> Complex32 {
        // Shift by the larger real part so that exp does not overflow.
        let (hi, lo) = if self.re > o.re { (self, o) } else { (o, self) };
        if lo.re == f32::NEG_INFINITY {
            return hi;
        }
        hi + (Complex32::new(1.0, 0.0) + (lo - hi).exp()).ln()
    }
}

impl<A: LogAddExp> Combine<A> for LogAddExpC {
    #[inline(always)]
    fn init() -> A {
        A::neg_inf()
    }
    #[inline(always)]
    fn combine(acc: A, x: A) -> A {
        acc.log_add_exp(x)
    }
}

/// A raw pointer that may cross threads: each task writes a disjoint part of the output.
#[derive(Clone, Copy)]
struct Ptr(usize);

simd_kernel! {
    /// One step of an outer-axis scan: combines input row `x` into `acc` and writes `y`.
    /// `x` and `y` may be the same memory (a donated input): each element is read before
    /// it is written.
    fn step_rows<T: Accumulate, C: Combine<T::Acc>>(
        acc: &mut [T::Acc],
        x: *const T,
        y: *mut T,
        inclusive: bool,
    ) {
        // SAFETY (both loops): the caller passes rows of acc.len() elements.
        if inclusive {
            for (i, a) in acc.iter_mut().enumerate() {
                unsafe {
                    *a = C::combine(*a, (*x.add(i)).load());
                    *y.add(i) = T::store(*a);
                }
            }
        } else {
            for (i, a) in acc.iter_mut().enumerate() {
                unsafe {
                    let v = (*x.add(i)).load();
                    *y.add(i) = T::store(*a);
                    *a = C::combine(*a, v);
                }
            }
        }
    }
}

/// Scans one line of `n` elements: input at stride `sx`, output contiguous.
#[inline(always)]
unsafe fn scan_line<T: Accumulate, C: Combine<T::Acc>>(
    x: *const T,
    sx: isize,
    y: *mut T,
    n: usize,
    reverse: bool,
    inclusive: bool,
) {
    let mut acc = C::init();
    let mut step = |j: usize| {
        let v = (*x.offset(j as isize * sx)).load();
        if inclusive {
            acc = C::combine(acc, v);
            *y.add(j) = T::store(acc);
        } else {
            *y.add(j) = T::store(acc);
            acc = C::combine(acc, v);
        }
    };
    if reverse {
        for j in (0..n).rev() {
            step(j);
        }
    } else {
        for j in 0..n {
            step(j);
        }
    }
}

/// Runs `body(start, end)` over `n` tasks of `work` elements each, split across threads
/// when the total is large.
fn par_tasks(n: usize, work: usize, body: impl Fn(usize, usize) + Sync) {
    use rayon::prelude::*;
    if n <= 1 || n.saturating_mul(work) < super::PARALLEL_THRESHOLD {
        body(0, n);
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    let grain = (n / (threads * 4)).max((super::PARALLEL_THRESHOLD / 4 / work.max(1)).max(1));
    (0..n.div_ceil(grain))
        .into_par_iter()
        .for_each(|c| body(c * grain, ((c + 1) * grain).min(n)));
}

/// Inner-block chunk per task in an outer-axis scan: big enough to vectorise and to pay
/// for a task, small enough that the accumulators stay in L1.
const INNER_CHUNK: usize = 2048;

fn run<T: Accumulate, C: Combine<T::Acc>>(p: &Scan, shape: &[usize], a: &Data, out: &Data) {
    let axis = p.axis;
    let n = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer_shape = &shape[..axis];
    let outer_strides = &a.strides[..axis];
    let n_outer: usize = outer_shape.iter().product();
    let sa = a.strides[axis];
    let pa = Ptr(a.ptr::<T>() as usize);
    let po = Ptr(out.ptr::<T>() as usize);
    let (reverse, inclusive) = (p.reverse, p.inclusive);

    if inner == 1 {
        par_tasks(n_outer, n, |s, e| {
            for o in s..e {
                let base = offset_of(o, outer_shape, outer_strides);
                // SAFETY: line o of the input view and of the row-major output.
                unsafe {
                    scan_line::<T, C>(
                        (pa.0 as *const T).offset(base),
                        sa,
                        (po.0 as *mut T).add(o * n),
                        n,
                        reverse,
                        inclusive,
                    )
                };
            }
        });
        return;
    }

    // The caller made the inner block one contiguous run.
    let chunks = inner.div_ceil(INNER_CHUNK);
    par_tasks(n_outer * chunks, n * INNER_CHUNK.min(inner), |s, e| {
        let mut acc: Vec<T::Acc> = Vec::with_capacity(INNER_CHUNK.min(inner));
        for t in s..e {
            let (o, c) = (t / chunks, t % chunks);
            let (i0, i1) = (c * INNER_CHUNK, ((c + 1) * INNER_CHUNK).min(inner));
            let in_base = offset_of(o, outer_shape, outer_strides) + i0 as isize;
            let out_base = o * n * inner + i0;
            acc.clear();
            acc.resize(i1 - i0, C::init());
            let mut step = |j: usize| {
                // SAFETY: row j of this chunk in the input view and in the output.
                unsafe {
                    step_rows::<T, C>(
                        &mut acc,
                        (pa.0 as *const T).offset(in_base + j as isize * sa),
                        (po.0 as *mut T).add(out_base + j * inner),
                        inclusive,
                    )
                }
            };
            if reverse {
                (0..n).rev().for_each(&mut step);
            } else {
                (0..n).for_each(&mut step);
            }
        }
    });
}

fn dispatch<C>(p: &Scan, shape: &[usize], dtype: Dtype, a: &Data, out: &Data)
where
    C: Combine<bool>
        + Combine<u8>
        + Combine<u16>
        + Combine<u32>
        + Combine<u64>
        + Combine<i8>
        + Combine<i16>
        + Combine<i32>
        + Combine<i64>
        + Combine<f32>
        + Combine<f64>
        + Combine<Complex32>,
{
    crate::dispatch_dtype!(dtype, T => run::<T, C>(p, shape, a, out))
}

/// Scans `a` (shape `shape`, any strides) into the row-major `out` of the same dtype.
pub fn scan(p: &Scan, shape: &[usize], dtype: Dtype, a: &Data, out: &Data) -> Result<()> {
    if shape.iter().product::<usize>() == 0 {
        return Ok(());
    }
    let inner_shape = &shape[p.axis + 1..];
    let (is, ist) = collapse(inner_shape, &[&a.strides[p.axis + 1..]]);
    let inner_ok = is.is_empty() || (is.len() == 1 && ist[0][0] == 1);
    let copied;
    let a = if inner_ok {
        a
    } else {
        // A strided inner block: make it contiguous once rather than gather per step.
        copied = Data::alloc(shape, dtype)?;
        super::copy::copy_cast(shape, a, dtype, &copied, dtype);
        &copied
    };
    match p.op {
        ScanOp::Sum => dispatch::<SumC>(p, shape, dtype, a, out),
        ScanOp::Prod => dispatch::<ProdC>(p, shape, dtype, a, out),
        ScanOp::Max => dispatch::<MaxC>(p, shape, dtype, a, out),
        ScanOp::Min => dispatch::<MinC>(p, shape, dtype, a, out),
        ScanOp::LogAddExp => match dtype {
            Dtype::Float16 => run::<f16, LogAddExpC>(p, shape, a, out),
            Dtype::Bfloat16 => run::<bf16, LogAddExpC>(p, shape, a, out),
            Dtype::Float32 => run::<f32, LogAddExpC>(p, shape, a, out),
            Dtype::Float64 => run::<f64, LogAddExpC>(p, shape, a, out),
            Dtype::Complex64 => run::<Complex32, LogAddExpC>(p, shape, a, out),
            _ => {
                return Err(Error::Invalid(format!(
                    "[logcumsumexp] expects an inexact dtype, got {dtype}."
                )))
            }
        },
    }
    Ok(())
}
