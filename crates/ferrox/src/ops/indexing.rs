//! Gather and scatter: `take`, `take_along_axis`, the general `gather`, `put_along_axis`,
//! `scatter` and its reducing forms, `masked_scatter`, and slice updates (static and
//! dynamic).
//!
//! As in MLX, integer indices are not bounds-checked when the op is called (their values
//! are data). Negative indices wrap like Python's; an index still out of range after
//! wrapping reads as 0 in a gather and is skipped by a scatter, so no index can read or
//! write outside an array. Dynamic slice starts are wrapped and then clamped so that the
//! window fits.

use super::{broadcast_to, reshape, stream};
use crate::array::Array;
use crate::backend::cpu::indexing::ScatterReduce;
use crate::primitives::indexing::{
    DynamicSlice, DynamicSliceUpdate, Gather, GatherNd, MaskedScatter, Scatter, SliceUpdate,
};
use crate::shape::{broadcast_shapes, checked_size, normalize_axes, normalize_axis};
use crate::{invalid, Result};

/// Errors unless `idx` has an integer dtype.
fn check_indices(op: &str, idx: &Array) -> Result<()> {
    if !idx.dtype().is_integer() {
        invalid!(
            "[{op}] indices must have an integer dtype, got {} (shape {:?}).",
            idx.dtype(),
            idx.shape()
        );
    }
    Ok(())
}

/// Elements of `a` at `indices` along `axis` (of the flattened `a` when `None`). The
/// output shape is `a.shape[..axis] ++ indices.shape ++ a.shape[axis+1..]`.
pub fn take(a: &Array, indices: &Array, axis: Option<isize>) -> Result<Array> {
    check_indices("take", indices)?;
    let (a, ax) = match axis {
        None => (reshape(a, &[-1])?, 0),
        Some(axis) => {
            let ax = normalize_axis(axis, a.ndim()).map_err(|e| {
                e.map_message(|m| format!("[take] {m} (array of shape {:?})", a.shape()))
            })?;
            (a.clone(), ax)
        }
    };
    let mut shape = a.shape()[..ax].to_vec();
    shape.extend_from_slice(indices.shape());
    shape.extend_from_slice(&a.shape()[ax + 1..]);
    checked_size(&shape)?;
    Ok(Array::from_op(
        shape,
        a.dtype(),
        Gather {
            axis: ax,
            along_axis: false,
        },
        vec![a.clone(), indices.clone()],
        stream(),
    ))
}

/// `out[..., j, ...] = a[..., indices[..., j, ...], ...]` along `axis` (of the flattened
/// arrays when `None`); `indices` has `a`'s rank and broadcasts with it off `axis`.
pub fn take_along_axis(a: &Array, indices: &Array, axis: Option<isize>) -> Result<Array> {
    check_indices("take_along_axis", indices)?;
    let (a, indices, ax) = match axis {
        None => (reshape(a, &[-1])?, reshape(indices, &[-1])?, 0),
        Some(axis) => (
            a.clone(),
            indices.clone(),
            normalize_axis(axis, a.ndim()).map_err(|e| {
                e.map_message(|m| format!("[take_along_axis] {m} (array of shape {:?})", a.shape()))
            })?,
        ),
    };
    if indices.ndim() != a.ndim() {
        invalid!(
            "[take_along_axis] indices of shape {:?} must have as many dimensions as the \
             array (shape {:?}).",
            indices.shape(),
            a.shape()
        );
    }
    let mut shape = Vec::with_capacity(a.ndim());
    for d in 0..a.ndim() {
        let (n, m) = (a.shape()[d], indices.shape()[d]);
        shape.push(if d == ax {
            m
        } else if n == m || m == 1 {
            n
        } else if n == 1 {
            m
        } else {
            invalid!(
                "[take_along_axis] indices of shape {:?} do not broadcast with the array of \
                 shape {:?} off axis {ax}.",
                indices.shape(),
                a.shape()
            );
        });
    }
    checked_size(&shape)?;
    Ok(Array::from_op(
        shape,
        a.dtype(),
        Gather {
            axis: ax,
            along_axis: true,
        },
        vec![a, indices],
        stream(),
    ))
}

/// MLX's general `gather`: `indices` (one integer array per axis in `axes`, broadcast
/// together to an index shape `I`) pick, for each position of `I`, the window of `a` of
/// extents `slice_sizes` (one per axis of `a`) whose corner is at the index along each of
/// `axes` and at 0 elsewhere. The output shape is `I ++ slice_sizes`. Negative indices
/// wrap; a window that does not fit reads as zeros.
pub fn gather(
    a: &Array,
    indices: &[Array],
    axes: &[isize],
    slice_sizes: &[usize],
) -> Result<Array> {
    if indices.len() != axes.len() {
        invalid!(
            "[gather] got {} index arrays but {} axes {axes:?}; there must be one per axis.",
            indices.len(),
            axes.len()
        );
    }
    let axes = normalize_axes(axes, a.ndim()).map_err(|e| {
        crate::Error::Invalid(format!("[gather] {e} (array of shape {:?})", a.shape()))
    })?;
    for ix in indices {
        check_indices("gather", ix)?;
    }
    if slice_sizes.len() != a.ndim() || slice_sizes.iter().zip(a.shape()).any(|(&s, &n)| s > n) {
        invalid!(
            "[gather] slice_sizes {slice_sizes:?} must have one extent per axis of the array \
             (shape {:?}), none larger than the axis.",
            a.shape()
        );
    }
    let shapes: Vec<&[usize]> = indices.iter().map(|i| i.shape()).collect();
    let index_shape = super::broadcast_shapes(&shapes)?;
    let mut shape = index_shape.clone();
    shape.extend_from_slice(slice_sizes);
    checked_size(&shape)?;
    let mut inputs = vec![a.clone()];
    for ix in indices {
        inputs.push(broadcast_to(ix, &index_shape)?);
    }
    Ok(Array::from_op(
        shape,
        a.dtype(),
        GatherNd {
            axes,
            slice_sizes: slice_sizes.to_vec(),
        },
        inputs,
        stream(),
    ))
}

/// A copy of `a` where `mask` (bool, broadcast to `a`'s shape) is true, filled in
/// row-major order with the elements of `src` (any shape, read row-major, cast to `a`'s
/// dtype). How many elements are needed depends on the mask's values, so a `src` with
/// fewer elements than the mask has trues is an error when the result is evaluated.
pub fn masked_scatter(a: &Array, mask: &Array, src: &Array) -> Result<Array> {
    if mask.dtype() != crate::Dtype::Bool {
        invalid!(
            "[masked_scatter] The mask has to be boolean but it is {}.",
            mask.dtype()
        );
    }
    let mask = broadcast_to(mask, a.shape()).map_err(|_| {
        crate::Error::Invalid(format!(
            "[masked_scatter] The mask of shape {:?} does not broadcast to the array's shape \
             {:?}.",
            mask.shape(),
            a.shape()
        ))
    })?;
    let src = super::astype(src, a.dtype())?;
    Ok(Array::from_op(
        a.shape().to_vec(),
        a.dtype(),
        MaskedScatter,
        vec![a.clone(), mask, src],
        stream(),
    ))
}

fn scatter_impl(
    op: &str,
    a: &Array,
    indices: &[Array],
    updates: &Array,
    axes: &[isize],
    reduce: ScatterReduce,
) -> Result<Array> {
    if indices.len() != axes.len() {
        invalid!(
            "[{op}] got {} index arrays but {} axes {axes:?}; there must be one per axis.",
            indices.len(),
            axes.len()
        );
    }
    let axes = normalize_axes(axes, a.ndim())
        .map_err(|e| e.map_message(|m| format!("[{op}] {m} (array of shape {:?})", a.shape())))?;
    for ix in indices {
        check_indices(op, ix)?;
    }
    let shapes: Vec<&[usize]> = indices.iter().map(|i| i.shape()).collect();
    let index_shape = super::broadcast_shapes(&shapes).map_err(|_| {
        crate::Error::Invalid(format!(
            "[{op}] index arrays of shapes {shapes:?} do not broadcast."
        ))
    })?;
    let k = index_shape.len();
    if updates.ndim() != k + a.ndim() {
        invalid!(
            "[{op}] updates of shape {:?} must have {} dimensions: the index shape \
             {index_shape:?} followed by one slice extent per axis of the array (shape {:?}).",
            updates.shape(),
            k + a.ndim(),
            a.shape()
        );
    }
    let slice = &updates.shape()[k..];
    if slice.iter().zip(a.shape()).any(|(&s, &n)| s > n) {
        invalid!(
            "[{op}] the update slice shape {slice:?} (of updates shape {:?}) is larger than \
             the array's shape {:?}.",
            updates.shape(),
            a.shape()
        );
    }
    let mut full = index_shape.clone();
    full.extend_from_slice(slice);
    let updates = broadcast_to(updates, &full).map_err(|_| {
        crate::Error::Invalid(format!(
            "[{op}] updates of shape {:?} do not match the index shape {index_shape:?}.",
            updates.shape()
        ))
    })?;
    let updates = super::astype(&updates, a.dtype())?;
    let mut inputs = vec![a.clone(), updates];
    for ix in indices {
        inputs.push(broadcast_to(ix, &index_shape)?);
    }
    Ok(Array::from_op(
        a.shape().to_vec(),
        a.dtype(),
        Scatter { axes, reduce },
        inputs,
        stream(),
    ))
}

/// A copy of `a` with slices of `updates` written at `indices` (one integer array per
/// axis in `axes`, broadcast together to an index shape `I`). `updates` has shape
/// `I ++ slice_shape`, with one slice extent per axis of `a`. With duplicate indices the
/// last update in row-major order wins.
pub fn scatter(a: &Array, indices: &[Array], updates: &Array, axes: &[isize]) -> Result<Array> {
    scatter_impl("scatter", a, indices, updates, axes, ScatterReduce::None)
}

/// As [`scatter`], adding updates (duplicates accumulate): `a.at[idx].add(v)`.
pub fn scatter_add(a: &Array, indices: &[Array], updates: &Array, axes: &[isize]) -> Result<Array> {
    scatter_impl("scatter_add", a, indices, updates, axes, ScatterReduce::Sum)
}

/// As [`scatter`], multiplying: `a.at[idx].multiply(v)`.
pub fn scatter_prod(
    a: &Array,
    indices: &[Array],
    updates: &Array,
    axes: &[isize],
) -> Result<Array> {
    scatter_impl(
        "scatter_prod",
        a,
        indices,
        updates,
        axes,
        ScatterReduce::Prod,
    )
}

/// As [`scatter`], keeping the maximum: `a.at[idx].maximum(v)`.
pub fn scatter_max(a: &Array, indices: &[Array], updates: &Array, axes: &[isize]) -> Result<Array> {
    scatter_impl("scatter_max", a, indices, updates, axes, ScatterReduce::Max)
}

/// As [`scatter`], keeping the minimum: `a.at[idx].minimum(v)`.
pub fn scatter_min(a: &Array, indices: &[Array], updates: &Array, axes: &[isize]) -> Result<Array> {
    scatter_impl("scatter_min", a, indices, updates, axes, ScatterReduce::Min)
}

/// A copy of `a` with `values` written at `indices` along `axis` (of the flattened `a`
/// when `None`): the inverse of [`take_along_axis`]. `indices` has `a`'s rank and
/// broadcasts with it off `axis`; `values` broadcasts to the indices' shape.
pub fn put_along_axis(
    a: &Array,
    indices: &Array,
    values: &Array,
    axis: Option<isize>,
) -> Result<Array> {
    check_indices("put_along_axis", indices)?;
    let Some(axis) = axis else {
        let flat = reshape(a, &[-1])?;
        let r = put_along_axis(
            &flat,
            &reshape(indices, &[-1])?,
            &reshape(values, &[-1])?,
            Some(0),
        )?;
        return r.reshape(a.shape());
    };
    let ax = normalize_axis(axis, a.ndim()).map_err(|e| {
        e.map_message(|m| format!("[put_along_axis] {m} (array of shape {:?})", a.shape()))
    })?;
    if indices.ndim() != a.ndim() {
        invalid!(
            "[put_along_axis] indices of shape {:?} must have as many dimensions as the array \
             (shape {:?}).",
            indices.shape(),
            a.shape()
        );
    }
    let nd = a.ndim();
    let mut off_axis = a.shape().to_vec();
    off_axis[ax] = indices.shape()[ax];
    let index_shape = broadcast_shapes(&off_axis, indices.shape()).map_err(|_| {
        crate::Error::Invalid(format!(
            "[put_along_axis] indices of shape {:?} do not broadcast with the array of shape \
             {:?} off axis {ax}.",
            indices.shape(),
            a.shape()
        ))
    })?;
    if values.ndim() > nd {
        invalid!(
            "[put_along_axis] values of shape {:?} have more dimensions than the indices \
             (shape {index_shape:?}).",
            values.shape()
        );
    }
    let mut idx = Vec::with_capacity(nd);
    for d in 0..nd {
        if d == ax {
            idx.push(indices.clone());
        } else {
            let mut s = vec![1usize; nd];
            s[d] = a.shape()[d];
            idx.push(
                super::arange(0.0, a.shape()[d] as f64, 1.0, Some(crate::Dtype::Int64))?
                    .reshape(&s)?,
            );
        }
    }
    // Values become updates of shape `values ++ [1; nd]`, broadcast to the index shape.
    let mut vshape = vec![1usize; nd - values.ndim()];
    vshape.extend_from_slice(values.shape());
    let vfull = broadcast_to(&values.reshape(&vshape)?, &index_shape).map_err(|_| {
        crate::Error::Invalid(format!(
            "[put_along_axis] values of shape {:?} do not broadcast to the indices' shape \
             {index_shape:?}.",
            values.shape()
        ))
    })?;
    let mut ushape = vfull.shape().to_vec();
    ushape.extend(std::iter::repeat_n(1, nd));
    let updates = vfull.reshape(&ushape)?;
    let axes: Vec<isize> = (0..nd as isize).collect();
    scatter_impl(
        "put_along_axis",
        a,
        &idx,
        &updates,
        &axes,
        ScatterReduce::None,
    )
}

/// Start offsets and extents of `a[start:stop:step]` per axis, with Python's rules.
fn slice_bounds(
    op: &str,
    shape: &[usize],
    start: &[isize],
    stop: &[isize],
    step: &[isize],
) -> Result<(Vec<usize>, Vec<usize>)> {
    let nd = shape.len();
    if start.len() != nd || stop.len() != nd || step.len() != nd {
        invalid!(
            "[{op}] got start {start:?}, stop {stop:?} and strides {step:?} for an array of \
             shape {shape:?}: each needs {nd} entries."
        );
    }
    let mut starts = Vec::with_capacity(nd);
    let mut out = Vec::with_capacity(nd);
    for ax in 0..nd {
        let n = shape[ax] as isize;
        let k = step[ax];
        if k == 0 {
            invalid!("[{op}] slice step cannot be zero (axis {ax}).");
        }
        let norm = |v: isize| if v < 0 { v.saturating_add(n) } else { v };
        let (s, e) = if k > 0 {
            (norm(start[ax]).clamp(0, n), norm(stop[ax]).clamp(0, n))
        } else {
            (
                norm(start[ax]).clamp(-1, n - 1),
                norm(stop[ax]).clamp(-1, n - 1),
            )
        };
        let span = if k > 0 { e - s } else { s - e }.max(0) as usize;
        let len = span.div_ceil(k.unsigned_abs());
        starts.push(if len == 0 { 0 } else { s as usize });
        out.push(len);
    }
    Ok((starts, out))
}

/// A copy of `a` with `a[start:stop:strides]` (Python slice rules per axis) replaced by
/// `update`, broadcast to the window's shape and cast to `a`'s dtype.
pub fn slice_update(
    a: &Array,
    update: &Array,
    start: &[isize],
    stop: &[isize],
    strides: &[isize],
) -> Result<Array> {
    let (starts, shape) = slice_bounds("slice_update", a.shape(), start, stop, strides)?;
    let update = broadcast_to(update, &shape).map_err(|_| {
        crate::Error::Invalid(format!(
            "[slice_update] update of shape {:?} does not broadcast to the slice's shape \
             {shape:?}.",
            update.shape()
        ))
    })?;
    Ok(Array::from_op(
        a.shape().to_vec(),
        a.dtype(),
        SliceUpdate {
            start: starts,
            step: strides.to_vec(),
        },
        vec![a.clone(), update],
        stream(),
    ))
}

fn dynamic_axes(op: &str, a: &Array, start: &Array, axes: &[isize]) -> Result<Vec<usize>> {
    check_indices(op, start)?;
    let axes = normalize_axes(axes, a.ndim())
        .map_err(|e| e.map_message(|m| format!("[{op}] {m} (array of shape {:?})", a.shape())))?;
    if start.size() != axes.len() {
        invalid!(
            "[{op}] start_indices of shape {:?} must hold one start per axis in {axes:?}.",
            start.shape()
        );
    }
    Ok(axes)
}

/// MLX's `mx.slice`: the window of shape `slice_size` (one extent per axis of `a`) that
/// starts on `axes` at the positions held by `start_indices` (data, so they may be
/// computed) and at 0 on the other axes. Starts wrap like Python indices and are then
/// clamped so that the window fits. A view.
pub fn slice_dynamic(
    a: &Array,
    start_indices: &Array,
    axes: &[isize],
    slice_size: &[usize],
) -> Result<Array> {
    let axes = dynamic_axes("slice", a, start_indices, axes)?;
    if slice_size.len() != a.ndim() || slice_size.iter().zip(a.shape()).any(|(&s, &n)| s > n) {
        invalid!(
            "[slice] slice_size {slice_size:?} must have one extent per axis of the array \
             (shape {:?}), none larger than the axis.",
            a.shape()
        );
    }
    Ok(Array::from_op(
        slice_size.to_vec(),
        a.dtype(),
        DynamicSlice { axes },
        vec![a.clone(), start_indices.clone()],
        stream(),
    ))
}

/// MLX's `mx.slice_update`: a copy of `a` with `update` written at the window that starts
/// on `axes` at the positions held by `start_indices` and at 0 on other axes. Starts wrap
/// and are clamped as in [`slice_dynamic`].
pub fn slice_update_dynamic(
    a: &Array,
    update: &Array,
    start_indices: &Array,
    axes: &[isize],
) -> Result<Array> {
    let axes = dynamic_axes("slice_update", a, start_indices, axes)?;
    if update.ndim() > a.ndim() {
        invalid!(
            "[slice_update] update of shape {:?} has more dimensions than the array (shape {:?}).",
            update.shape(),
            a.shape()
        );
    }
    let mut ushape = vec![1usize; a.ndim() - update.ndim()];
    ushape.extend_from_slice(update.shape());
    if ushape.iter().zip(a.shape()).any(|(&u, &n)| u > n) {
        invalid!(
            "[slice_update] update of shape {:?} does not fit in the array of shape {:?}.",
            update.shape(),
            a.shape()
        );
    }
    let update = update.reshape(&ushape)?;
    Ok(Array::from_op(
        a.shape().to_vec(),
        a.dtype(),
        DynamicSliceUpdate { axes },
        vec![a.clone(), update, start_indices.clone()],
        stream(),
    ))
}
