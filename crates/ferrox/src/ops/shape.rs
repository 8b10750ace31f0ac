//! Shape manipulation that needs no data movement: reshape, transpose, broadcast,
//! strided slicing, squeeze, expand_dims. All are views when the input allows.

use super::stream;
use crate::array::Array;
use crate::primitives::view::{AsStrided, Broadcast, Reshape, Slice, Transpose};
use crate::shape::{
    broadcast_shapes as broadcast_pair, checked_size, normalize_axes, normalize_axis,
};
use crate::{Error, Result};

/// Resolves one `-1` in a requested shape.
fn infer_shape(size: usize, shape: &[isize]) -> Result<Vec<usize>> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &n) in shape.iter().enumerate() {
        if n == -1 {
            if infer.is_some() {
                return Err(Error::Invalid(
                    "[reshape] Can only infer one dimension.".into(),
                ));
            }
            infer = Some(i);
        } else if n < 0 {
            return Err(Error::Invalid(format!(
                "[reshape] Invalid dimension {n} in shape {shape:?}."
            )));
        } else {
            known = known.checked_mul(n as usize).ok_or_else(|| {
                Error::Invalid(format!("[reshape] Shape {shape:?} is too large."))
            })?;
        }
    }
    let mut out: Vec<usize> = shape.iter().map(|&n| n.max(0) as usize).collect();
    if let Some(i) = infer {
        if known == 0 || size % known != 0 {
            return Err(Error::Invalid(format!(
                "[reshape] Cannot infer the shape of an array of size {size} into shape {shape:?}."
            )));
        }
        out[i] = size / known;
    } else if known != size {
        return Err(Error::Invalid(format!(
            "[reshape] Cannot reshape array of size {size} into shape {shape:?}."
        )));
    }
    Ok(out)
}

/// `a` with a new shape of the same size; one extent may be -1 (inferred).
pub fn reshape(a: &Array, shape: &[isize]) -> Result<Array> {
    let shape = infer_shape(a.size(), shape)?;
    if shape == a.shape() {
        return Ok(a.clone());
    }
    Ok(Array::from_op(
        shape,
        a.dtype(),
        Reshape,
        vec![a.clone()],
        stream(),
    ))
}

impl Array {
    /// `a` with a new shape of the same size.
    pub fn reshape(&self, shape: &[usize]) -> Result<Array> {
        let s: Vec<isize> = shape.iter().map(|&n| n as isize).collect();
        reshape(self, &s)
    }
}

/// Axes `start_axis..=end_axis` merged into one.
pub fn flatten(a: &Array, start_axis: isize, end_axis: isize) -> Result<Array> {
    if a.ndim() == 0 {
        return a.reshape(&[1]);
    }
    let s = normalize_axis(start_axis, a.ndim())?;
    let e = normalize_axis(end_axis, a.ndim())?;
    if s > e {
        return Err(Error::Invalid(format!(
            "[flatten] start_axis {start_axis} must not be after end_axis {end_axis}."
        )));
    }
    let mut shape = a.shape()[..s].to_vec();
    shape.push(a.shape()[s..=e].iter().product());
    shape.extend_from_slice(&a.shape()[e + 1..]);
    a.reshape(&shape)
}

/// Axis `axis` split into `shape` (one extent may be -1).
pub fn unflatten(a: &Array, axis: isize, shape: &[isize]) -> Result<Array> {
    let ax = normalize_axis(axis, a.ndim())?;
    if shape.is_empty() {
        return Err(Error::Invalid(
            "[unflatten] Shape to unflatten to cannot be empty.".into(),
        ));
    }
    let inner = infer_shape(a.shape()[ax], shape)?;
    let mut out = a.shape()[..ax].to_vec();
    out.extend(inner);
    out.extend_from_slice(&a.shape()[ax + 1..]);
    a.reshape(&out)
}

/// `a` without the given size-1 axes (all size-1 axes when `axes` is empty).
pub fn squeeze(a: &Array, axes: &[isize]) -> Result<Array> {
    let axes = if axes.is_empty() {
        (0..a.ndim()).filter(|&i| a.shape()[i] == 1).collect()
    } else {
        let v = normalize_axes(axes, a.ndim())?;
        if let Some(&bad) = v.iter().find(|&&i| a.shape()[i] != 1) {
            return Err(Error::Invalid(format!(
                "[squeeze] Cannot squeeze axis {bad} with size {} which is not equal to 1.",
                a.shape()[bad]
            )));
        }
        v
    };
    let shape: Vec<usize> = a
        .shape()
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &n)| n)
        .collect();
    a.reshape(&shape)
}

/// `a` with size-1 axes inserted at `axes` (positions in the result).
pub fn expand_dims(a: &Array, axes: &[isize]) -> Result<Array> {
    let nd = a.ndim() + axes.len();
    let axes = normalize_axes(axes, nd)?;
    let mut shape = Vec::with_capacity(nd);
    let mut src = a.shape().iter();
    for i in 0..nd {
        if axes.contains(&i) {
            shape.push(1);
        } else if let Some(&n) = src.next() {
            shape.push(n);
        }
    }
    a.reshape(&shape)
}

/// Axes permuted to `axes` (reversed when empty).
pub fn transpose(a: &Array, axes: &[isize]) -> Result<Array> {
    let axes: Vec<usize> = if axes.is_empty() {
        (0..a.ndim()).rev().collect()
    } else {
        if axes.len() != a.ndim() {
            return Err(Error::Invalid(format!(
                "[transpose] Recived {} axes for array with {} dimensions.",
                axes.len(),
                a.ndim()
            )));
        }
        normalize_axes(axes, a.ndim())?
    };
    if axes.iter().enumerate().all(|(i, &a)| i == a) {
        return Ok(a.clone());
    }
    let shape = axes.iter().map(|&i| a.shape()[i]).collect();
    Ok(Array::from_op(
        shape,
        a.dtype(),
        Transpose(axes),
        vec![a.clone()],
        stream(),
    ))
}

/// Alias of [`transpose`].
pub fn permute_dims(a: &Array, axes: &[isize]) -> Result<Array> {
    transpose(a, axes)
}

/// Axes `axis1` and `axis2` exchanged.
pub fn swapaxes(a: &Array, axis1: isize, axis2: isize) -> Result<Array> {
    let (i, j) = (
        normalize_axis(axis1, a.ndim())?,
        normalize_axis(axis2, a.ndim())?,
    );
    let mut axes: Vec<isize> = (0..a.ndim() as isize).collect();
    axes.swap(i, j);
    transpose(a, &axes)
}

/// Axis `source` moved to position `destination`.
pub fn moveaxis(a: &Array, source: isize, destination: isize) -> Result<Array> {
    let (s, d) = (
        normalize_axis(source, a.ndim())?,
        normalize_axis(destination, a.ndim())?,
    );
    let mut axes: Vec<isize> = (0..a.ndim() as isize)
        .filter(|&i| i != s as isize)
        .collect();
    axes.insert(d, s as isize);
    transpose(a, &axes)
}

/// The last two axes swapped.
pub fn matrix_transpose(a: &Array) -> Result<Array> {
    if a.ndim() < 2 {
        return Err(Error::Invalid(
            "[matrix_transpose] Array must be at least 2-D.".into(),
        ));
    }
    swapaxes(a, -1, -2)
}

/// `a` broadcast to `shape` (a view: broadcast axes repeat without copying).
pub fn broadcast_to(a: &Array, shape: &[usize]) -> Result<Array> {
    if a.shape() == shape {
        return Ok(a.clone());
    }
    let b = broadcast_pair(a.shape(), shape)?;
    if b != shape {
        return Err(Error::Invalid(format!(
            "[broadcast_to] Cannot broadcast array of shape {:?} to shape {shape:?}.",
            a.shape()
        )));
    }
    checked_size(shape)?;
    Ok(Array::from_op(
        shape.to_vec(),
        a.dtype(),
        Broadcast,
        vec![a.clone()],
        stream(),
    ))
}

/// The shape several shapes broadcast to.
pub fn broadcast_shapes(shapes: &[&[usize]]) -> Result<Vec<usize>> {
    shapes
        .iter()
        .try_fold(Vec::new(), |acc, s| broadcast_pair(&acc, s))
}

/// The arrays broadcast to their common shape.
pub fn broadcast_arrays(arrays: &[Array]) -> Result<Vec<Array>> {
    let shapes: Vec<&[usize]> = arrays.iter().map(|a| a.shape()).collect();
    let shape = broadcast_shapes(&shapes)?;
    arrays.iter().map(|a| broadcast_to(a, &shape)).collect()
}

/// `a[start:stop:step]` along every axis, with Python's rules for negative and
/// out-of-range bounds. A view.
pub fn slice(a: &Array, start: &[isize], stop: &[isize], step: &[isize]) -> Result<Array> {
    let nd = a.ndim();
    if start.len() != nd || stop.len() != nd || step.len() != nd {
        return Err(Error::Invalid(format!(
            "[slice] Invalid number of indices or strides for array with dimension {nd}."
        )));
    }
    let mut starts = Vec::with_capacity(nd);
    let mut shape = Vec::with_capacity(nd);
    for ax in 0..nd {
        let n = a.shape()[ax] as isize;
        let k = step[ax];
        if k == 0 {
            return Err(Error::Invalid("[slice] slice step cannot be zero.".into()));
        }
        let clamp = |v: isize, lo: isize, hi: isize| v.max(lo).min(hi);
        let norm = |v: isize| if v < 0 { v + n } else { v };
        let (s, e) = if k > 0 {
            (clamp(norm(start[ax]), 0, n), clamp(norm(stop[ax]), 0, n))
        } else {
            (
                clamp(norm(start[ax]), -1, n - 1),
                clamp(norm(stop[ax]), -1, n - 1),
            )
        };
        let len = if k > 0 {
            (e - s + k - 1).div_euclid(k)
        } else {
            (s - e - k - 1).div_euclid(-k)
        };
        let len = len.max(0) as usize;
        starts.push(if len == 0 { 0 } else { s as usize });
        shape.push(len);
    }
    if shape == a.shape() && step.iter().all(|&k| k == 1) {
        return Ok(a.clone());
    }
    Ok(Array::from_op(
        shape,
        a.dtype(),
        Slice {
            start: starts,
            step: step.to_vec(),
        },
        vec![a.clone()],
        stream(),
    ))
}

/// A view with explicit `shape`, element `strides` and `offset` over the row-contiguous
/// data of `a`. Like NumPy's, it does not check bounds: the caller vouches for them,
/// but the view may not reach outside `a`'s elements.
pub fn as_strided(a: &Array, shape: &[usize], strides: &[isize], offset: usize) -> Result<Array> {
    if shape.len() != strides.len() {
        return Err(Error::Invalid(format!(
            "[as_strided] shape {shape:?} and strides {strides:?} differ in length."
        )));
    }
    // Reject views that would read outside the buffer: safety is not optional.
    if checked_size(shape)? > 0 {
        let (mut lo, mut hi) = (offset as isize, offset as isize);
        for (&n, &s) in shape.iter().zip(strides) {
            let reach = (n as isize - 1) * s;
            if reach < 0 {
                lo += reach;
            } else {
                hi += reach;
            }
        }
        if lo < 0 || hi >= a.size() as isize {
            return Err(Error::Invalid(format!(
                "[as_strided] shape {shape:?}, strides {strides:?} and offset {offset} reach \
                 outside an array of {} elements.",
                a.size()
            )));
        }
    }
    Ok(Array::from_op(
        shape.to_vec(),
        a.dtype(),
        AsStrided {
            strides: strides.to_vec(),
            offset,
        },
        vec![a.clone()],
        stream(),
    ))
}

/// `a` with at least `n` dimensions (size-1 axes added as NumPy's `atleast_nd`).
fn atleast(a: &Array, n: usize) -> Result<Array> {
    match (n, a.ndim()) {
        (_, d) if d >= n => Ok(a.clone()),
        (1, _) => a.reshape(&[1]),
        (2, 0) => a.reshape(&[1, 1]),
        (2, 1) => a.reshape(&[1, a.shape()[0]]),
        (3, 0) => a.reshape(&[1, 1, 1]),
        (3, 1) => a.reshape(&[1, a.shape()[0], 1]),
        (3, _) => a.reshape(&[a.shape()[0], a.shape()[1], 1]),
        _ => Ok(a.clone()),
    }
}
pub fn atleast_1d(a: &Array) -> Result<Array> {
    atleast(a, 1)
}
pub fn atleast_2d(a: &Array) -> Result<Array> {
    atleast(a, 2)
}
pub fn atleast_3d(a: &Array) -> Result<Array> {
    atleast(a, 3)
}
