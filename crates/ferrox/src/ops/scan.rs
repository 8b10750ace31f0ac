//! Cumulative ops: `cumsum`, `cumprod`, `cummax`, `cummin`, `logcumsumexp`, and the
//! array-API aliases `cumulative_sum`, `cumulative_prod`.
//!
//! `axis: None` scans the flattened array. Result dtypes follow MLX: the input's (after
//! `dtype=` if given), except that `cumsum` of bool counts in int32 and `logcumsumexp`
//! of integers or bool computes in float32.

use super::{astype, stream};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::primitives::scan::{Scan, ScanOp};
use crate::{Error, Result};

fn scan(
    name: &str,
    op: ScanOp,
    a: &Array,
    axis: Option<isize>,
    reverse: bool,
    inclusive: bool,
) -> Result<Array> {
    let (a, axis) = match axis {
        None => (a.reshape(&[a.size()])?, 0),
        Some(ax) => {
            let nd = a.ndim() as isize;
            if ax < -nd || ax >= nd {
                return Err(Error::Index(format!(
                    "[{name}] Axis {ax} is out of bounds for array with {nd} dimensions."
                )));
            }
            (a.clone(), if ax < 0 { ax + nd } else { ax } as usize)
        }
    };
    let (shape, dtype) = (a.shape().to_vec(), a.dtype());
    Ok(Array::from_op(
        shape,
        dtype,
        Scan {
            op,
            axis,
            reverse,
            inclusive,
        },
        vec![a],
        stream(),
    ))
}

/// Cumulative sum along `axis` (of the flattened array when `None`). With `dtype`, the
/// input is cast first; bool counts in int32. `reverse` sums from the end; without
/// `inclusive`, element `i` excludes itself (the first is 0).
pub fn cumsum(
    a: &Array,
    axis: Option<isize>,
    reverse: bool,
    inclusive: bool,
    dtype: Option<Dtype>,
) -> Result<Array> {
    let a = astype(a, dtype.unwrap_or(a.dtype()))?;
    let a = if a.dtype() == Dtype::Bool {
        astype(&a, Dtype::Int32)?
    } else {
        a
    };
    scan("cumsum", ScanOp::Sum, &a, axis, reverse, inclusive)
}

/// Cumulative product along `axis`; like [`cumsum`], but bool stays bool (logical and).
pub fn cumprod(
    a: &Array,
    axis: Option<isize>,
    reverse: bool,
    inclusive: bool,
    dtype: Option<Dtype>,
) -> Result<Array> {
    let a = astype(a, dtype.unwrap_or(a.dtype()))?;
    scan("cumprod", ScanOp::Prod, &a, axis, reverse, inclusive)
}

/// Cumulative maximum along `axis`; NaN propagates. An exclusive scan starts at the
/// dtype's lowest value (−inf for floats).
pub fn cummax(a: &Array, axis: Option<isize>, reverse: bool, inclusive: bool) -> Result<Array> {
    scan("cummax", ScanOp::Max, a, axis, reverse, inclusive)
}

/// Cumulative minimum along `axis`; NaN propagates. An exclusive scan starts at the
/// dtype's highest value (inf for floats).
pub fn cummin(a: &Array, axis: Option<isize>, reverse: bool, inclusive: bool) -> Result<Array> {
    scan("cummin", ScanOp::Min, a, axis, reverse, inclusive)
}

/// Cumulative `log(sum(exp(a)))` along `axis`, computed stably; integers and bool
/// compute in float32. An exclusive scan starts at −inf.
pub fn logcumsumexp(
    a: &Array,
    axis: Option<isize>,
    reverse: bool,
    inclusive: bool,
) -> Result<Array> {
    let a = astype(a, a.dtype().to_inexact())?;
    scan(
        "logcumsumexp",
        ScanOp::LogAddExp,
        &a,
        axis,
        reverse,
        inclusive,
    )
}

/// The array-API name of [`cumsum`].
pub fn cumulative_sum(
    a: &Array,
    axis: Option<isize>,
    reverse: bool,
    inclusive: bool,
    dtype: Option<Dtype>,
) -> Result<Array> {
    cumsum(a, axis, reverse, inclusive, dtype)
}

/// The array-API name of [`cumprod`].
pub fn cumulative_prod(
    a: &Array,
    axis: Option<isize>,
    reverse: bool,
    inclusive: bool,
    dtype: Option<Dtype>,
) -> Result<Array> {
    cumprod(a, axis, reverse, inclusive, dtype)
}
