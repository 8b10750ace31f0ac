//! Sorting-based ops: `median`. The sort along an axis is internal for now (NaN last,
//! as `mx.sort`).

use super::{astype, stream};
use crate::array::Array;
use crate::primitives::sort::Sort;
use crate::shape::normalize_axes;
use crate::{Error, Result};

/// `a` sorted along `axis` (ascending, NaN last).
pub(crate) fn sort_along_axis(a: &Array, axis: usize) -> Result<Array> {
    Ok(Array::from_op(
        a.shape().to_vec(),
        a.dtype(),
        Sort { axis },
        vec![a.clone()],
        stream(),
    ))
}

/// One position `i` along the last axis, kept as an axis of extent 1.
fn take_last(a: &Array, i: usize) -> Result<Array> {
    let nd = a.ndim();
    let mut start = vec![0isize; nd];
    let mut stop: Vec<isize> = a.shape().iter().map(|&n| n as isize).collect();
    start[nd - 1] = i as isize;
    stop[nd - 1] = i as isize + 1;
    super::slice(a, &start, &stop, &vec![1; nd])
}

/// The median over `axes` (all when empty), as NumPy: the middle element, or the mean
/// of the two middle ones, of each sorted slice; NaN if the slice holds a NaN. Integers
/// and bool compute in float32. An empty slice is an error.
pub fn median(a: &Array, axes: &[isize], keepdims: bool) -> Result<Array> {
    let nd = a.ndim();
    let mut red = if axes.is_empty() {
        (0..nd).collect()
    } else {
        normalize_axes(axes, nd).map_err(|e| e.map_message(|m| format!("[median] {m}")))?
    };
    red.sort_unstable();
    let m: usize = red.iter().map(|&i| a.shape()[i]).product();
    if m == 0 {
        return Err(Error::Invalid(
            "[median] Cannot take median along empty axis.".into(),
        ));
    }
    let x = astype(a, a.dtype().to_inexact())?;
    // Kept axes first, then the reduced ones merged into one last axis.
    let kept: Vec<usize> = (0..nd).filter(|i| !red.contains(i)).collect();
    let perm: Vec<isize> = kept.iter().chain(&red).map(|&i| i as isize).collect();
    let mut line_shape: Vec<usize> = kept.iter().map(|&i| a.shape()[i]).collect();
    line_shape.push(m);
    let x = if nd == 0 {
        x
    } else {
        super::transpose(&x, &perm)?
    };
    let x = x.reshape(&line_shape)?;
    let sorted = sort_along_axis(&x, line_shape.len() - 1)?;
    let med = if m % 2 == 1 {
        take_last(&sorted, m / 2)?
    } else {
        let s = super::add(&take_last(&sorted, m / 2 - 1)?, &take_last(&sorted, m / 2)?)?;
        super::divide(&s, 2.0)?
    };
    // NaN sorts last: a slice holds one exactly when its last element is NaN.
    let last = take_last(&sorted, m - 1)?;
    let med = super::where_(&super::isnan(&last)?, &last, &med)?;
    let shape: Vec<usize> = (0..nd)
        .filter_map(|i| match (red.contains(&i), keepdims) {
            (true, true) => Some(1),
            (true, false) => None,
            (false, _) => Some(a.shape()[i]),
        })
        .collect();
    med.reshape(&shape)
}
