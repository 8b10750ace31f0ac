//! What the row kernels (`softmax`, `rms_norm`, `layer_norm`, attention) share: the float
//! they compute in, lane-wise reductions the compiler vectorises, and a driver that
//! splits rows across threads.
//!
//! A row kernel reads one row (the last axis) at a time: the row stays in L1/L2 while it
//! is read a second time, so the array crosses memory once each way.

use super::PARALLEL_THRESHOLD;
use crate::array::Data;
use crate::dtype::Element;
use half::{bf16, f16};
use rayon::prelude::*;
use std::ops::{Add, Div, Mul, Sub};

/// The float a row is computed in: f32 for f32, f16 and bf16; f64 for f64.
pub trait Acc:
    Copy
    + Send
    + Sync
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    fn of(v: f64) -> Self;
    fn exp(self) -> Self;
    fn sqrt(self) -> Self;
}

impl Acc for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    #[inline(always)]
    fn of(v: f64) -> f32 {
        v as f32
    }
    /// Plain arithmetic (not libm), so that a row loop over it vectorises.
    #[inline(always)]
    fn exp(self) -> f32 {
        super::vmath::exp_f32(self)
    }
    #[inline(always)]
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
}

impl Acc for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    #[inline(always)]
    fn of(v: f64) -> f64 {
        v
    }
    #[inline(always)]
    fn exp(self) -> f64 {
        f64::exp(self)
    }
    #[inline(always)]
    fn sqrt(self) -> f64 {
        f64::sqrt(self)
    }
}

/// A float element and the float it is computed in.
pub trait RowElem: Element {
    type A: Acc;
    fn widen(self) -> Self::A;
    fn narrow(a: Self::A) -> Self;
}

macro_rules! row_elem {
    ($t:ty, $a:ty, |$x:ident| $widen:expr, |$y:ident| $narrow:expr) => {
        impl RowElem for $t {
            type A = $a;
            #[inline(always)]
            fn widen(self) -> $a {
                let $x = self;
                $widen
            }
            #[inline(always)]
            fn narrow($y: $a) -> $t {
                $narrow
            }
        }
    };
}
row_elem!(f32, f32, |x| x, |y| y);
row_elem!(f64, f64, |x| x, |y| y);
row_elem!(f16, f32, |x| x.to_f32(), |y| f16::from_f32(y));
row_elem!(bf16, f32, |x| x.to_f32(), |y| bf16::from_f32(y));

/// Independent accumulators: enough to hide the add latency and fill whole vectors.
const LANES: usize = 32;

/// `sum(f(x))` over a row, in lanes (so it vectorises) folded pairwise.
#[inline(always)]
pub fn sum_map<T: RowElem>(x: &[T], f: impl Fn(T::A) -> T::A) -> T::A {
    let mut acc = [T::A::ZERO; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            acc[j] = acc[j] + f(c[j].widen());
        }
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for j in 0..width {
            acc[j] = acc[j] + acc[j + width];
        }
    }
    tail.iter().fold(acc[0], |s, &t| s + f(t.widen()))
}

/// The largest element of a non-empty row. NaNs are skipped here; the callers' sums
/// carry them into the result.
#[inline(always)]
pub fn max_of<T: RowElem>(x: &[T]) -> T::A {
    let first = x[0].widen();
    let mut acc = [first; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    let pick = |m: T::A, v: T::A| if v > m { v } else { m };
    for c in chunks {
        for j in 0..LANES {
            acc[j] = pick(acc[j], c[j].widen());
        }
    }
    let m = acc.iter().fold(first, |m, &v| pick(m, v));
    tail.iter().fold(m, |m, &t| pick(m, t.widen()))
}

/// The rows of a view: its last axis is the row.
pub struct Rows {
    outer_shape: Vec<usize>,
    outer_strides: Vec<isize>,
    /// Number of rows and elements per row.
    pub count: usize,
    pub len: usize,
    /// Step between neighbours within a row.
    pub stride: isize,
}

impl Rows {
    pub fn new(shape: &[usize], d: &Data) -> Rows {
        let nd = shape.len();
        let (len, stride) = match nd {
            0 => (1, 1),
            _ => (shape[nd - 1], d.strides[nd - 1]),
        };
        let outer = &shape[..nd.saturating_sub(1)];
        Rows {
            outer_shape: outer.to_vec(),
            outer_strides: d.strides[..nd.saturating_sub(1)].to_vec(),
            count: outer.iter().product(),
            len,
            stride,
        }
    }

    /// Row `r` of `d`: a slice of the buffer when the row is dense, else gathered into
    /// `scratch`.
    ///
    /// # Safety
    /// `d` is the view these rows describe, of element type `T`, and `r < count`. The
    /// slice is valid while `d`'s buffer lives and `scratch` is not touched again (its
    /// lifetime is the caller's to respect, so that a pipeline can hold two rows
    /// gathered into two scratch vectors).
    pub unsafe fn read<'a, T: Copy>(&self, d: &Data, r: usize, scratch: &mut Vec<T>) -> &'a [T] {
        let off = super::strided::offset_of(r, &self.outer_shape, &self.outer_strides);
        let p = d.ptr::<T>().offset(off);
        if self.stride == 1 {
            return std::slice::from_raw_parts(p, self.len);
        }
        scratch.clear();
        scratch.extend((0..self.len as isize).map(|i| *p.offset(i * self.stride)));
        std::slice::from_raw_parts(scratch.as_ptr(), self.len)
    }

    /// Calls `body(row, next, r)` for each row `r` of `[first, end)` with the row after it
    /// (the row itself for the last one), so that a kernel can gather the next row's
    /// statistics while it writes this one: the next row's read from memory then
    /// overlaps this row's write, and the next step finds the row in cache.
    ///
    /// # Safety
    /// `d` is the view these rows describe, of element type `T`, and `end <= count`.
    pub unsafe fn pipeline<T: Copy>(
        &self,
        d: &Data,
        first: usize,
        end: usize,
        mut body: impl FnMut(&[T], &[T], usize),
    ) {
        if first >= end {
            return;
        }
        // Two scratch rows, alternating, so that a gathered row outlives the next gather.
        let mut scratch = [Vec::new(), Vec::new()];
        let mut row: &[T] = self.read(d, first, &mut scratch[0]);
        for r in first..end {
            let next: &[T] = if r + 1 < end {
                self.read(d, r + 1, &mut scratch[(r + 1 - first) % 2])
            } else {
                row
            };
            body(row, next, r);
            row = next;
        }
    }
}

/// A 1-D view (a weight or bias) widened into a vector; `fill` where there is none.
pub fn widened<T: RowElem>(v: Option<&Data>, n: usize, fill: T::A) -> Vec<T::A> {
    match v {
        // SAFETY: the op checked that a weight has `n` elements along its one axis.
        Some(d) => (0..n as isize)
            .map(|i| unsafe { *d.ptr::<T>().offset(i * d.strides[0]) }.widen())
            .collect(),
        None => vec![fill; n],
    }
}

/// A pointer to an output that threads fill in disjoint rows.
#[derive(Clone, Copy)]
pub struct OutPtr<T>(pub *mut T);
unsafe impl<T> Send for OutPtr<T> {}
unsafe impl<T> Sync for OutPtr<T> {}

impl<T> OutPtr<T> {
    /// The pointer (a method, so that closures capture the `Sync` wrapper, not the field).
    pub fn get(&self) -> *mut T {
        self.0
    }

    /// Row `r` (of `len` elements) of a row-major output.
    ///
    /// # Safety
    /// The row lies inside the output and no other thread writes it.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn row(&self, r: usize, len: usize) -> &mut [T] {
        std::slice::from_raw_parts_mut(self.0.add(r * len), len)
    }
}

/// Runs `body(first, end)` over the rows `[0, count)`, split across threads when there
/// is enough work, in chunks of whole rows.
pub fn par_rows(count: usize, len: usize, body: impl Fn(usize, usize) + Sync) {
    let total = count.saturating_mul(len.max(1));
    if total < PARALLEL_THRESHOLD || count < 2 {
        body(0, count);
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    let at_least = (PARALLEL_THRESHOLD / 2 / len.max(1)).max(1);
    let chunk = (count / (threads * 4)).max(at_least);
    let chunks = count.div_ceil(chunk);
    (0..chunks)
        .into_par_iter()
        .for_each(|c| body(c * chunk, ((c + 1) * chunk).min(count)));
}
