//! Sorting and selection along an axis: `sort`, `argsort`, `partition`,
//! `argpartition`, `topk`, `searchsorted`, `unique`, and `median`. NaN sorts last, as
//! in MLX.
//!
//! `partition` and `argpartition` select (O(n) per line) rather than sort; MLX leaves
//! the order inside each side of `kth` unspecified. `topk` partitions, then sorts only
//! the `k` largest, which come out in ascending order. `searchsorted` is one binary
//! search per value.

use super::{astype, stream};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::primitives::sort::{ArgPartition, ArgSort, Partition, SearchSorted, Sort};
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

/// Checks `kth` against the extent of `axis`, MLX's way (`-n <= kth < n`), and
/// returns it as a position.
fn check_kth(op: &str, a: &Array, axis: usize, kth: isize) -> Result<usize> {
    let n = a.shape().get(axis).copied().unwrap_or(1) as isize;
    if kth < -n || kth >= n {
        return Err(Error::Invalid(format!(
            "[{op}] Received invalid kth {kth} along axis {axis} for array with shape: {:?}",
            a.shape()
        )));
    }
    Ok(kth.rem_euclid(n.max(1)) as usize)
}

/// `a` rearranged along `axis` (`None`: flattened) so that the element at `kth` is the
/// one a sort puts there, none after it smaller and none before it larger.
pub fn partition(a: &Array, kth: isize, axis: Option<isize>) -> Result<Array> {
    let (a, axis) = line_axis("partition", a, axis)?;
    let kth = check_kth("partition", &a, axis, kth)?;
    Ok(partition_at(&a, axis, kth))
}

fn partition_at(a: &Array, axis: usize, kth: usize) -> Array {
    Array::from_op(
        a.shape().to_vec(),
        a.dtype(),
        Partition { axis, kth },
        vec![a.clone()],
        stream(),
    )
}

/// The indices (uint32) that [`partition`] `a` along `axis`.
pub fn argpartition(a: &Array, kth: isize, axis: Option<isize>) -> Result<Array> {
    let (a, axis) = line_axis("argpartition", a, axis)?;
    let kth = check_kth("argpartition", &a, axis, kth)?;
    Ok(Array::from_op(
        a.shape().to_vec(),
        Dtype::Uint32,
        ArgPartition { axis, kth },
        vec![a.clone()],
        stream(),
    ))
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
    let k = k as usize;
    // The k largest gathered at the end of each line, then sorted among themselves:
    // O(n + k log k) per line.
    let split = if k == 0 || k == n {
        a.clone()
    } else {
        partition_at(&a, axis, n - k)
    };
    let nd = a.ndim();
    let mut start = vec![0isize; nd];
    let stop: Vec<isize> = a.shape().iter().map(|&d| d as isize).collect();
    start[axis] = (n - k) as isize;
    let largest = super::slice(&split, &start, &stop, &vec![1; nd])?;
    sort_along_axis(&largest, axis)
}

/// For each of `values`, the index at which it would be inserted into the 1-D ascending
/// `sorted_sequence` to keep it sorted: before equal elements (`right` false, NumPy's
/// `side="left"`) or after them. NaN sorts last, as in NumPy. The result (uint32) has
/// `values`' shape; both compare in their promoted dtype.
pub fn searchsorted(sorted_sequence: &Array, values: &Array, right: bool) -> Result<Array> {
    if sorted_sequence.ndim() != 1 {
        return Err(Error::Invalid(format!(
            "[searchsorted] sorted_sequence must be 1-D, got shape {:?}.",
            sorted_sequence.shape()
        )));
    }
    let dtype = super::result_type(&[sorted_sequence, values]);
    let (s, v) = (astype(sorted_sequence, dtype)?, astype(values, dtype)?);
    Ok(Array::from_op(
        v.shape().to_vec(),
        Dtype::Uint32,
        SearchSorted { right },
        vec![s, v],
        stream(),
    ))
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

/// What [`unique`] returns: the values, and whichever of the rest were asked for.
#[derive(Clone, Debug)]
pub struct Unique {
    /// The distinct values of the flattened input in ascending order (each NaN counts
    /// as distinct, and they come last), cut or padded to `size`.
    pub values: Array,
    /// For each value, the flat index of its first occurrence (uint32; padding: the
    /// first value's).
    pub index: Option<Array>,
    /// For each input element, the position of its value in `values` (uint32, the
    /// input's shape; values cut off by `size` map to `size - 1`).
    pub inverse: Option<Array>,
    /// How often each value occurs (int32; padding: 0).
    pub counts: Option<Array>,
}

/// The distinct values of `a` (flattened), sorted, in an array of the static length
/// `size`: MLX's `unique`, whose output shape cannot depend on the data. Past the
/// distinct values it is padded with `fill_value` (default: the smallest value).
///
/// ```
/// use ferrox::{ops, Array};
/// let a = Array::from_slice(&[3i32, 1, 2, 3, 1, 5], &[6])?;
/// let u = ops::unique(&a, 6, None, false, false, true)?;
/// assert_eq!(u.values.to_vec::<i32>()?, [1, 2, 3, 5, 1, 1]);
/// assert_eq!(u.counts.unwrap().to_vec::<i32>()?, [2, 1, 2, 1, 0, 0]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn unique(
    a: &Array,
    size: usize,
    fill_value: Option<&Array>,
    return_index: bool,
    return_inverse: bool,
    return_counts: bool,
) -> Result<Unique> {
    use super::{concatenate, full, ones, put_along_axis, scatter_add, slice, take, where_};
    let n = a.size();
    let x = a.reshape(&[n])?;
    let fill = match fill_value {
        Some(f) => astype(f, a.dtype())?.reshape(&[])?,
        None if n > 0 => slice(&sort_along_axis(&x, 0)?, &[0], &[1], &[1])?.reshape(&[])?,
        None if size > 0 => {
            return Err(Error::Invalid(
                "[unique] A fill value is required for an empty input with a non-zero size.".into(),
            ))
        }
        None => super::zeros(&[], Some(a.dtype()))?,
    };
    let head = |v: &Array| slice(v, &[0], &[size as isize], &[1]);
    if n == 0 {
        return Ok(Unique {
            values: super::broadcast_to(&fill, &[size])?,
            index: return_index
                .then(|| full(&[size], 0, Some(Dtype::Uint32)))
                .transpose()?,
            inverse: return_inverse
                .then(|| super::zeros(a.shape(), Some(Dtype::Uint32)))
                .transpose()?,
            counts: return_counts
                .then(|| super::zeros(&[size], Some(Dtype::Int32)))
                .transpose()?,
        });
    }
    // Sort; an element starts a new value where it differs from the one before (NaN
    // differs from NaN); its value's rank is the count of starts up to it, minus one.
    let perm = argsort(&x, Some(0))?;
    let s = take(&x, &perm, Some(0))?;
    let n_i = n as isize;
    let differs = super::not_equal(
        &slice(&s, &[1], &[n_i], &[1])?,
        &slice(&s, &[0], &[n_i - 1], &[1])?,
    )?;
    let starts = concatenate(&[ones(&[1], Some(Dtype::Bool))?, differs], Some(0))?;
    let rank = super::subtract(
        &super::cumsum(&starts, Some(0), false, true, Some(Dtype::Int32))?,
        1,
    )?;
    // Writes go to slot `size` (dropped) unless they start a value that fits.
    let kept = super::less(&rank, size as i32)?;
    let dump = full(&[n], size as i32, Some(Dtype::Int32))?;
    let slot = where_(&super::logical_and(&starts, &kept)?, &rank, &dump)?;
    let padded = |base: &Array| super::broadcast_to(base, &[size + 1]);
    let values = head(&put_along_axis(&padded(&fill)?, &slot, &s, Some(0))?)?;
    let index = if return_index {
        let first = slice(&perm, &[0], &[1], &[1])?.reshape(&[])?;
        Some(head(&put_along_axis(
            &padded(&first)?,
            &slot,
            &perm,
            Some(0),
        )?)?)
    } else {
        None
    };
    let counts = if return_counts {
        let to = where_(&kept, &rank, &dump)?;
        let zeros = super::zeros(&[size + 1], Some(Dtype::Int32))?;
        let one = ones(&[n, 1], Some(Dtype::Int32))?;
        Some(head(&scatter_add(&zeros, &[to], &one, &[0])?)?)
    } else {
        None
    };
    let inverse = if return_inverse {
        let r = super::minimum(&rank, size.saturating_sub(1) as i32)?;
        let r = astype(&r, Dtype::Uint32)?;
        let zeros = super::zeros(&[n], Some(Dtype::Uint32))?;
        Some(put_along_axis(&zeros, &perm, &r, Some(0))?.reshape(a.shape())?)
    } else {
        None
    };
    Ok(Unique {
        values,
        index,
        inverse,
        counts,
    })
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
