//! Sorting and selection along an axis: `sort`, `argsort`, `partition`,
//! `argpartition`, `topk`, `searchsorted`, and `median`. NaN sorts last, as in MLX.
//!
//! `partition` and `topk` sort the whole line: a sorted line is a valid partition for
//! every `kth` (MLX leaves the order inside each side unspecified), and `topk`'s `k`
//! largest come out in ascending order. A selection in linear time is left for when a
//! benchmark asks for it.

use super::{astype, stream};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::primitives::sort::{ArgSort, Sort};
use crate::shape::{normalize_axes, normalize_axis};
use crate::{Error, Result};

/// The array and axis an op along one axis works on: `None` flattens `a` first.
fn line_axis(op: &str, a: &Array, axis: Option<isize>) -> Result<(Array, usize)> {
    match axis {
        None => Ok((a.reshape(&[a.size()])?, 0)),
        Some(ax) => {
            let nd = a.ndim();
            let axis = normalize_axis(ax, nd).map_err(|_| {
                Error::Index(format!(
                    "[{op}] Axis {ax} is out of bounds for array with {nd} dimensions."
                ))
            })?;
            Ok((a.clone(), axis))
        }
    }
}

/// `a` sorted in ascending order along `axis` (`None`: the flattened array), NaN last.
///
/// ```
/// use ferrox::{ops, Array};
/// let a = Array::from_slice(&[3.0f32, 1.0, 2.0], &[3])?;
/// assert_eq!(ops::sort(&a, Some(-1))?.to_vec::<f32>()?, [1.0, 2.0, 3.0]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn sort(a: &Array, axis: Option<isize>) -> Result<Array> {
    let (a, axis) = line_axis("sort", a, axis)?;
    sort_along_axis(&a, axis)
}

/// The indices (uint32) that sort `a` along `axis` (`None`: the flattened array):
/// stable, NaN last.
pub fn argsort(a: &Array, axis: Option<isize>) -> Result<Array> {
    let (a, axis) = line_axis("argsort", a, axis)?;
    Ok(Array::from_op(
        a.shape().to_vec(),
        Dtype::Uint32,
        ArgSort { axis },
        vec![a.clone()],
        stream(),
    ))
}

/// Checks `kth` against the extent of `axis`, MLX's way (`-n <= kth < n`).
fn check_kth(op: &str, a: &Array, axis: usize, kth: isize) -> Result<()> {
    let n = a.shape().get(axis).copied().unwrap_or(1) as isize;
    if kth < -n || kth >= n {
        return Err(Error::Invalid(format!(
            "[{op}] Received invalid kth {kth} along axis {axis} for array with shape: {:?}",
            a.shape()
        )));
    }
    Ok(())
}

/// `a` rearranged along `axis` (`None`: flattened) so that the element at `kth` is the
/// one a sort puts there, none after it smaller and none before it larger.
pub fn partition(a: &Array, kth: isize, axis: Option<isize>) -> Result<Array> {
    let (a, axis) = line_axis("partition", a, axis)?;
    check_kth("partition", &a, axis, kth)?;
    sort_along_axis(&a, axis)
}

/// The indices (uint32) that [`partition`] `a` along `axis`.
pub fn argpartition(a: &Array, kth: isize, axis: Option<isize>) -> Result<Array> {
    let (b, ax) = line_axis("argpartition", a, axis)?;
    check_kth("argpartition", &b, ax, kth)?;
    argsort(&b, Some(ax as isize))
}

/// The `k` largest elements of `a` along `axis` (`None`: flattened), in ascending
/// order; `0 <= k <= n`.
pub fn topk(a: &Array, k: isize, axis: Option<isize>) -> Result<Array> {
    let (a, axis) = line_axis("topk", a, axis)?;
    let n = a.shape().get(axis).copied().unwrap_or(1);
    if k < 0 || k as usize > n {
        return Err(Error::Invalid(format!(
            "[topk] Received invalid k={k} along axis {axis} for array with shape: {:?}",
            a.shape()
        )));
    }
    let sorted = sort_along_axis(&a, axis)?;
    let nd = a.ndim();
    let mut start = vec![0isize; nd];
    let stop: Vec<isize> = a.shape().iter().map(|&d| d as isize).collect();
    start[axis] = (n - k as usize) as isize;
    super::slice(&sorted, &start, &stop, &vec![1; nd])
}

/// For each of `values`, the index at which it would be inserted into the 1-D ascending
/// `sorted_sequence` to keep it sorted: before equal elements (`right` false, NumPy's
/// `side="left"`) or after them. The result (uint32) has `values`' shape.
pub fn searchsorted(sorted_sequence: &Array, values: &Array, right: bool) -> Result<Array> {
    if sorted_sequence.ndim() != 1 {
        return Err(Error::Invalid(format!(
            "[searchsorted] sorted_sequence must be 1-D, got shape {:?}.",
            sorted_sequence.shape()
        )));
    }
    // The count of elements below (or not above) each value: one comparison per pair,
    // summed along the sequence.
    let v = super::expand_dims(values, &[-1])?;
    let below = if right {
        super::less_equal(sorted_sequence, &v)?
    } else {
        super::less(sorted_sequence, &v)?
    };
    astype(&super::sum(&below, &[-1], false)?, Dtype::Uint32)
}

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
