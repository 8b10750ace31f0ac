//! Reductions: `sum`, `prod`, `max`, `min`, `all`, `any`, `mean`, `var`, `std`,
//! `argmax`, `argmin`, `logsumexp`, `softmax`.
//!
//! `axes` empty means all axes, as `axis=None` does in mlx.core.

use super::{astype, stream};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::primitives::reduce::{ArgReduce, ArgReduceOp, NumberOfElements, Reduce, ReduceOp};
use crate::shape::{normalize_axes, normalize_axis};
use crate::{Error, Result};

/// The axes to reduce: all when `axes` is empty.
fn resolve_axes(a: &Array, axes: &[isize]) -> Result<Vec<usize>> {
    if axes.is_empty() {
        Ok((0..a.ndim()).collect())
    } else {
        let mut v = normalize_axes(axes, a.ndim())?;
        v.sort_unstable();
        Ok(v)
    }
}

/// The shape after reducing `axes`, kept as 1 or dropped.
fn reduced_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &n)| match (axes.contains(&i), keepdims) {
            (true, true) => Some(1),
            (true, false) => None,
            (false, _) => Some(n),
        })
        .collect()
}

fn build(op: ReduceOp, a: &Array, axes: &[isize], keepdims: bool, dtype: Dtype) -> Result<Array> {
    let axes = resolve_axes(a, axes)?;
    let a = if matches!(op, ReduceOp::And | ReduceOp::Or) {
        a.clone()
    } else {
        astype(a, dtype)?
    };
    let kept = reduced_shape(a.shape(), &axes, true);
    let r = Array::from_op(
        kept,
        dtype,
        Reduce {
            op,
            axes: axes.clone(),
        },
        vec![a.clone()],
        stream(),
    );
    if keepdims {
        Ok(r)
    } else {
        r.reshape(&reduced_shape(a.shape(), &axes, false))
    }
}

/// Sum over `axes` (all when empty). Small integer types sum in int32/uint32.
pub fn sum(a: &Array, axes: &[isize], keepdims: bool) -> Result<Array> {
    build(ReduceOp::Sum, a, axes, keepdims, a.dtype().sum_dtype())
}

/// Product over `axes` (all when empty).
pub fn prod(a: &Array, axes: &[isize], keepdims: bool) -> Result<Array> {
    build(ReduceOp::Prod, a, axes, keepdims, a.dtype().sum_dtype())
}

fn extreme(op: ReduceOp, name: &str, a: &Array, axes: &[isize], keepdims: bool) -> Result<Array> {
    let ax = resolve_axes(a, axes)?;
    if ax.iter().any(|&i| a.shape()[i] == 0) || (a.size() == 0 && a.ndim() == 0) {
        return Err(Error::Invalid(format!(
            "[{name}] Cannot {name} reduce zero size array with shape {:?}.",
            a.shape()
        )));
    }
    build(op, a, axes, keepdims, a.dtype())
}

/// Maximum over `axes`; NaN propagates. Reducing an empty axis is an error.
pub fn max(a: &Array, axes: &[isize], keepdims: bool) -> Result<Array> {
    extreme(ReduceOp::Max, "max", a, axes, keepdims)
}

/// Minimum over `axes`; NaN propagates. Reducing an empty axis is an error.
pub fn min(a: &Array, axes: &[isize], keepdims: bool) -> Result<Array> {
    extreme(ReduceOp::Min, "min", a, axes, keepdims)
}

/// `(min, max)` over `axes`.
pub fn minmax(a: &Array, axes: &[isize], keepdims: bool) -> Result<(Array, Array)> {
    Ok((min(a, axes, keepdims)?, max(a, axes, keepdims)?))
}

/// Whether all elements are true (nonzero).
pub fn all(a: &Array, axes: &[isize], keepdims: bool) -> Result<Array> {
    build(ReduceOp::And, a, axes, keepdims, Dtype::Bool)
}

/// Whether any element is true (nonzero).
pub fn any(a: &Array, axes: &[isize], keepdims: bool) -> Result<Array> {
    build(ReduceOp::Or, a, axes, keepdims, Dtype::Bool)
}

/// The number of elements of `a` over `axes`, less `ddof` (NaN at or below zero), as a
/// scalar of `dtype` computed from `a`'s shape when evaluated (see [`NumberOfElements`]).
fn number_of_elements(a: &Array, axes: &[isize], ddof: usize, dtype: Dtype) -> Result<Array> {
    let axes = resolve_axes(a, axes)?;
    Ok(Array::from_op(
        vec![],
        dtype,
        NumberOfElements { axes, ddof },
        vec![a.clone()],
        stream(),
    ))
}

/// Mean over `axes`; integers average in float32.
pub fn mean(a: &Array, axes: &[isize], keepdims: bool) -> Result<Array> {
    let dtype = a.dtype().to_inexact();
    let s = sum(&astype(a, dtype)?, axes, keepdims)?;
    super::divide(&s, &number_of_elements(a, axes, 0, dtype)?)
}

/// Variance over `axes` with `ddof` delta degrees of freedom.
pub fn var(a: &Array, axes: &[isize], keepdims: bool, ddof: usize) -> Result<Array> {
    let dtype = a.dtype().to_inexact();
    let a = astype(a, dtype)?;
    let mu = mean(&a, axes, true)?;
    let d = super::subtract(&a, &mu)?;
    let sq = if dtype.is_complex() {
        super::real(&super::multiply(&d, &super::conj(&d)?)?)?
    } else {
        super::square(&d)?
    };
    let s = sum(&sq, axes, keepdims)?;
    super::divide(&s, &number_of_elements(&a, axes, ddof, s.dtype())?)
}

/// Standard deviation over `axes`.
pub fn std(a: &Array, axes: &[isize], keepdims: bool, ddof: usize) -> Result<Array> {
    super::sqrt(&var(a, axes, keepdims, ddof)?)
}

fn arg(
    op: ArgReduceOp,
    name: &str,
    a: &Array,
    axis: Option<isize>,
    keepdims: bool,
) -> Result<Array> {
    if a.size() == 0 {
        return Err(Error::Invalid(format!(
            "[{name}] Cannot {name} of an empty array."
        )));
    }
    let (ndim, flattened) = (a.ndim(), axis.is_none());
    let (a, axis) = match axis {
        Some(ax) => (a.clone(), normalize_axis(ax, a.ndim())?),
        None => (a.reshape(&[a.size()])?, 0),
    };
    let mut kept = a.shape().to_vec();
    kept[axis] = 1;
    let r = Array::from_op(
        kept,
        Dtype::Uint32,
        ArgReduce { op, axis },
        vec![a.clone()],
        stream(),
    );
    match (keepdims, flattened) {
        (true, false) => Ok(r),
        // Over all axes with keepdims: every axis kept, as size 1 (MLX's shape).
        (true, true) => r.reshape(&vec![1; ndim]),
        (false, _) => r.reshape(&reduced_shape(a.shape(), &[axis], false)),
    }
}

/// Index (uint32) of the first maximum along `axis` (of the flattened array when `None`).
pub fn argmax(a: &Array, axis: Option<isize>, keepdims: bool) -> Result<Array> {
    arg(ArgReduceOp::ArgMax, "argmax", a, axis, keepdims)
}

/// Index (uint32) of the first minimum along `axis` (of the flattened array when `None`).
pub fn argmin(a: &Array, axis: Option<isize>, keepdims: bool) -> Result<Array> {
    arg(ArgReduceOp::ArgMin, "argmin", a, axis, keepdims)
}

/// Number of nonzero elements over `axes`, as int32 (MLX's dtype for it).
pub fn count_nonzero(a: &Array, axes: &[isize], keepdims: bool) -> Result<Array> {
    let nz = super::not_equal(
        a,
        &Array::scalar_of(crate::dtype::Scalar::Int(0), a.dtype()),
    )?;
    astype(&sum(&nz, axes, keepdims)?, Dtype::Int32)
}

/// `log(sum(exp(a)))` over `axes`, computed stably.
pub fn logsumexp(a: &Array, axes: &[isize], keepdims: bool) -> Result<Array> {
    let a = astype(a, a.dtype().to_inexact())?;
    let m = max(&a, axes, true)?;
    // An all -inf (or inf) slice would give inf - inf = NaN; shift by 0 there instead.
    let m = super::where_(&super::isinf(&m)?, 0.0, &m)?;
    let s = sum(&super::exp(&super::subtract(&a, &m)?)?, axes, true)?;
    let r = super::add(&super::log(&s)?, &m)?;
    if keepdims {
        Ok(r)
    } else {
        let ax = resolve_axes(&a, axes)?;
        r.reshape(&reduced_shape(a.shape(), &ax, false))
    }
}

/// `exp(a) / sum(exp(a))` over `axes` (all when empty). With `precise`, f16/bf16
/// compute in float32; the fused kernel (real floats, axes that can be brought last)
/// always does.
pub fn softmax(a: &Array, axes: &[isize], precise: bool) -> Result<Array> {
    let in_dtype = a.dtype().to_inexact();
    if in_dtype.is_floating() {
        let ax = resolve_axes(a, axes)?;
        let x = astype(a, in_dtype)?;
        let nd = a.ndim();
        let trailing = ax.iter().enumerate().all(|(i, &v)| v == nd - ax.len() + i);
        if trailing {
            // The softmax axes are the last ones: one row each once they are merged.
            let mut rows = a.shape()[..nd - ax.len()].to_vec();
            rows.push(ax.iter().map(|&i| a.shape()[i]).product());
            return fused_softmax(&x.reshape(&rows)?)?.reshape(a.shape());
        }
        if let [axis] = ax[..] {
            let moved = super::moveaxis(&x, axis as isize, -1)?;
            return super::moveaxis(&fused_softmax(&moved)?, -1, axis as isize);
        }
    }
    let x = if precise && matches!(in_dtype, Dtype::Float16 | Dtype::Bfloat16) {
        astype(a, Dtype::Float32)?
    } else {
        astype(a, in_dtype)?
    };
    let m = max(&x, axes, true)?;
    let e = super::exp(&super::subtract(&x, &m)?)?;
    let s = sum(&e, axes, true)?;
    astype(&super::divide(&e, &s)?, in_dtype)
}

/// The `Softmax` primitive over the last axis of a float array.
fn fused_softmax(x: &Array) -> Result<Array> {
    Ok(Array::from_op(
        x.shape().to_vec(),
        x.dtype(),
        crate::primitives::softmax::Softmax,
        vec![x.clone()],
        stream(),
    ))
}
