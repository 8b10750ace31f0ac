//! Sorting and selection along an axis: each line is gathered, sorted (or partitioned
//! around one position) and written to the row-major output; lines run in parallel.
//! Binary search in a sorted sequence. NaN sorts last.

use super::arith::Arith;
use super::strided::offset_of;
use crate::array::Data;
use crate::dtype::{Dtype, Element};
use std::cmp::Ordering;

/// Ascending order with NaN after everything else.
#[inline]
fn nan_last<T: Arith>(a: &T, b: &T) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => {
            if a.lt(*b) {
                Ordering::Less
            } else if b.lt(*a) {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Ptr(usize);

fn run<T: Element + Arith>(axis: usize, shape: &[usize], a: &Data, out: &Data) {
    use rayon::prelude::*;
    let n = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let n_lines = shape.iter().product::<usize>() / n.max(1);
    if n == 0 || n_lines == 0 {
        return;
    }
    // Lines are indexed by (outer, inner) over the axes other than `axis`.
    let other: Vec<usize> = (0..shape.len()).filter(|&i| i != axis).collect();
    let oshape: Vec<usize> = other.iter().map(|&i| shape[i]).collect();
    let ostrides: Vec<isize> = other.iter().map(|&i| a.strides[i]).collect();
    let sa = a.strides[axis];
    let pa = Ptr(a.ptr::<T>() as usize);
    let po = Ptr(out.ptr::<T>() as usize);
    let body = |s: usize, e: usize| {
        let mut line: Vec<T> = Vec::with_capacity(n);
        for l in s..e {
            let base = offset_of(l, &oshape, &ostrides);
            line.clear();
            // SAFETY: offsets along the axis inside the input view.
            line.extend(
                (0..n).map(|j| unsafe { *(pa.0 as *const T).offset(base + j as isize * sa) }),
            );
            line.sort_unstable_by(nan_last);
            let (o, i) = (l / inner, l % inner);
            let ob = o * n * inner + i;
            for (j, &v) in line.iter().enumerate() {
                // SAFETY: line l of the row-major output; lines are disjoint.
                unsafe { *(po.0 as *mut T).add(ob + j * inner) = v };
            }
        }
    };
    if n_lines * n < super::PARALLEL_THRESHOLD {
        body(0, n_lines);
    } else {
        let grain = (super::PARALLEL_THRESHOLD / n).max(1);
        (0..n_lines.div_ceil(grain))
            .into_par_iter()
            .for_each(|c| body(c * grain, ((c + 1) * grain).min(n_lines)));
    }
}

/// Sorts `a` (shape `shape`, any strides) along `axis` into the row-major `out`.
pub fn sort(axis: usize, shape: &[usize], dtype: Dtype, a: &Data, out: &Data) {
    crate::dispatch_dtype!(dtype, T => run::<T>(axis, shape, a, out))
}

/// Each line along `axis` of `a`, gathered as (value, index) pairs, put in order by
/// `order`, then written to line l of the row-major `out` as `pick` of each pair.
fn run_pairs<T: Element + Arith, O: Copy>(
    axis: usize,
    shape: &[usize],
    a: &Data,
    out: &Data,
    order: impl Fn(&mut [(T, u32)]) + Sync,
    pick: impl Fn(&(T, u32)) -> O + Sync,
) {
    let n = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let n_lines = shape.iter().product::<usize>() / n.max(1);
    if n == 0 || n_lines == 0 {
        return;
    }
    let other: Vec<usize> = (0..shape.len()).filter(|&i| i != axis).collect();
    let oshape: Vec<usize> = other.iter().map(|&i| shape[i]).collect();
    let ostrides: Vec<isize> = other.iter().map(|&i| a.strides[i]).collect();
    let sa = a.strides[axis];
    let pa = Ptr(a.ptr::<T>() as usize);
    let po = Ptr(out.ptr::<O>() as usize);
    let body = |s: usize, e: usize| {
        let mut line: Vec<(T, u32)> = Vec::with_capacity(n);
        for l in s..e {
            let base = offset_of(l, &oshape, &ostrides);
            line.clear();
            // SAFETY: offsets along the axis inside the input view.
            line.extend((0..n).map(|j| {
                let v = unsafe { *(pa.0 as *const T).offset(base + j as isize * sa) };
                (v, j as u32)
            }));
            order(&mut line);
            let (o, i) = (l / inner, l % inner);
            let ob = o * n * inner + i;
            for (j, p) in line.iter().enumerate() {
                // SAFETY: line l of the row-major output; lines are disjoint.
                unsafe { *(po.0 as *mut O).add(ob + j * inner) = pick(p) };
            }
        }
    };
    if n_lines * n < super::PARALLEL_THRESHOLD {
        body(0, n_lines);
    } else {
        use rayon::prelude::*;
        let grain = (super::PARALLEL_THRESHOLD / n).max(1);
        (0..n_lines.div_ceil(grain))
            .into_par_iter()
            .for_each(|c| body(c * grain, ((c + 1) * grain).min(n_lines)));
    }
}

/// The indices (uint32, row-major `out`) that sort `a` along `axis`: stable, NaN last.
pub fn argsort(axis: usize, shape: &[usize], dtype: Dtype, a: &Data, out: &Data) {
    crate::dispatch_dtype!(dtype, T => run_pairs::<T, u32>(
        axis,
        shape,
        a,
        out,
        // Stable: equal values keep their order.
        |line| line.sort_by(|x, y| nan_last(&x.0, &y.0)),
        |p| p.1,
    ))
}

/// NaN-last order, ties broken by index: a total order on a line's pairs, under which
/// a selection has one outcome. `partition` and `argpartition` therefore arrange a line
/// identically, which the derivative of `partition` (moving cotangents by
/// `argpartition`'s permutation) needs; with ties left unordered, the two would place
/// equal values differently and their neighbours with them.
#[inline]
fn by_value_then_index<T: Arith>(a: &(T, u32), b: &(T, u32)) -> Ordering {
    nan_last(&a.0, &b.0).then(a.1.cmp(&b.1))
}

/// `a` partitioned along `axis` into the row-major `out` (values, `indices` false, or
/// uint32 positions): position `kth` of each line holds what a sort puts there, the
/// positions before it nothing greater, those after it nothing smaller. A selection
/// (introselect, O(n) per line) rather than a sort.
pub fn partition(
    axis: usize,
    kth: usize,
    indices: bool,
    shape: &[usize],
    dtype: Dtype,
    a: &Data,
    out: &Data,
) {
    macro_rules! select {
        () => {
            |line: &mut [_]| {
                line.select_nth_unstable_by(kth, by_value_then_index);
            }
        };
    }
    if indices {
        crate::dispatch_dtype!(dtype, T => run_pairs::<T, u32>(
            axis, shape, a, out, select!(), |p| p.1
        ))
    } else {
        crate::dispatch_dtype!(dtype, T => run_pairs::<T, T>(
            axis, shape, a, out, select!(), |p| p.0
        ))
    }
}

fn run_search<T: Element + Arith>(seq: &[T], values: &[T], right: bool, out: &mut [u32]) {
    use rayon::prelude::*;
    // The first position whose element is not below (left) / is above (right) the
    // value, in NaN-last order: NumPy's answer, NaN values included.
    let place = |v: &T| {
        let i = if right {
            seq.partition_point(|x| nan_last(x, v) != Ordering::Greater)
        } else {
            seq.partition_point(|x| nan_last(x, v) == Ordering::Less)
        };
        i as u32
    };
    let log_n = (usize::BITS - seq.len().leading_zeros()) as usize;
    let grain = (super::PARALLEL_THRESHOLD / log_n.max(1)).max(1);
    if values.len() <= grain {
        out.iter_mut().zip(values).for_each(|(o, v)| *o = place(v));
    } else {
        out.par_chunks_mut(grain)
            .zip(values.par_chunks(grain))
            .for_each(|(o, v)| o.iter_mut().zip(v).for_each(|(o, v)| *o = place(v)));
    }
}

/// For each of the row-major `values`, its insertion point (uint32, into the row-major
/// `out`) in the ascending row-major `seq`: before equal elements, or after them if
/// `right`. One binary search per value.
pub fn searchsorted(
    dtype: Dtype,
    seq: &Data,
    n: usize,
    values: &Data,
    m: usize,
    right: bool,
    out: &Data,
) {
    // SAFETY: row-major buffers of these lengths; `out` is this kernel's to fill.
    crate::dispatch_dtype!(dtype, T => unsafe {
        run_search::<T>(seq.as_slice(n), values.as_slice(m), right, out.as_mut_slice(m))
    })
}
