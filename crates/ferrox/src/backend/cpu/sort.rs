//! Sorting along an axis: each line is gathered, sorted and written to the row-major
//! output; lines run in parallel. NaN sorts last.

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

fn run_arg<T: Element + Arith>(axis: usize, shape: &[usize], a: &Data, out: &Data) {
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
    let po = Ptr(out.ptr::<u32>() as usize);
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
            // Stable: equal values keep their order.
            line.sort_by(|x, y| nan_last(&x.0, &y.0));
            let (o, i) = (l / inner, l % inner);
            let ob = o * n * inner + i;
            for (j, &(_, k)) in line.iter().enumerate() {
                // SAFETY: line l of the row-major output; lines are disjoint.
                unsafe { *(po.0 as *mut u32).add(ob + j * inner) = k };
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
    crate::dispatch_dtype!(dtype, T => run_arg::<T>(axis, shape, a, out))
}
