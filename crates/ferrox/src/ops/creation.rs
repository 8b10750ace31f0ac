//! Creation and conversion: `zeros`, `ones`, `full`, `arange`, `linspace`, `eye`, `astype`, ...

use super::{stream, Operand};
use crate::array::Array;
use crate::dtype::{Dtype, Scalar};
use crate::primitives::{creation::Arange, unary::AsType, view};
use crate::shape::checked_size;
use crate::{Error, Result};

/// `a` converted to `dtype` (floats truncate toward zero into integers, integers wrap).
pub fn astype(a: &Array, dtype: Dtype) -> Result<Array> {
    if a.dtype() == dtype {
        return Ok(a.clone());
    }
    Ok(Array::from_op(
        a.shape().to_vec(),
        dtype,
        AsType(dtype),
        vec![a.clone()],
        stream(),
    ))
}

/// An array of `shape` filled with `value` (an array broadcast to `shape`, or a scalar).
/// `dtype` defaults to the value's.
pub fn full(shape: &[usize], value: impl Into<Operand>, dtype: Option<Dtype>) -> Result<Array> {
    checked_size(shape)?;
    let v = value.into().to_array();
    let v = match dtype {
        Some(d) => astype(&v, d)?,
        None => v,
    };
    let b = super::broadcast_to(&v, shape)?;
    Ok(Array::from_op(
        shape.to_vec(),
        b.dtype(),
        view::Copy,
        vec![b],
        stream(),
    ))
}

/// Zeros of `shape` (float32 by default).
pub fn zeros(shape: &[usize], dtype: Option<Dtype>) -> Result<Array> {
    full(shape, Scalar::Int(0), Some(dtype.unwrap_or(Dtype::Float32)))
}

/// Ones of `shape` (float32 by default).
pub fn ones(shape: &[usize], dtype: Option<Dtype>) -> Result<Array> {
    full(shape, Scalar::Int(1), Some(dtype.unwrap_or(Dtype::Float32)))
}

pub fn zeros_like(a: &Array, dtype: Option<Dtype>) -> Result<Array> {
    zeros(a.shape(), Some(dtype.unwrap_or(a.dtype())))
}
pub fn ones_like(a: &Array, dtype: Option<Dtype>) -> Result<Array> {
    ones(a.shape(), Some(dtype.unwrap_or(a.dtype())))
}
pub fn full_like(a: &Array, value: impl Into<Operand>, dtype: Option<Dtype>) -> Result<Array> {
    full(a.shape(), value, Some(dtype.unwrap_or(a.dtype())))
}

/// Values `start, start + step, ...` below `stop`. `dtype` defaults to float32
/// (pass `Some(Dtype::Int32)` for integers, as MLX infers from Python ints).
pub fn arange(start: f64, stop: f64, step: f64, dtype: Option<Dtype>) -> Result<Array> {
    let dtype = dtype.unwrap_or(Dtype::Float32);
    if step == 0.0 {
        return Err(Error::Invalid(
            "[arange] Cannot compute length with step 0.".into(),
        ));
    }
    if !(start.is_finite() && stop.is_finite() && step.is_finite()) {
        return Err(Error::Invalid(
            "[arange] Cannot compute length with non-finite values.".into(),
        ));
    }
    if dtype == Dtype::Bool {
        return Err(Error::Invalid("[arange] Cannot use bool dtype.".into()));
    }
    let n = ((stop - start) / step).ceil().max(0.0);
    if n > (i32::MAX as f64) {
        return Err(Error::Invalid(format!(
            "[arange] Maximum size exceeded: {n} elements."
        )));
    }
    Ok(Array::from_op(
        vec![n as usize],
        dtype,
        Arange {
            start,
            step,
            last: None,
        },
        vec![],
        stream(),
    ))
}

/// `num` evenly spaced values from `start` to `stop` (inclusive).
pub fn linspace(start: f64, stop: f64, num: usize, dtype: Option<Dtype>) -> Result<Array> {
    let dtype = dtype.unwrap_or(Dtype::Float32);
    let step = if num > 1 {
        (stop - start) / (num - 1) as f64
    } else {
        0.0
    };
    // The last value is exactly `stop`, as in NumPy.
    let last = (num > 1).then_some(stop);
    let r = Array::from_op(
        vec![num],
        Dtype::Float64,
        Arange { start, step, last },
        vec![],
        stream(),
    );
    astype(&r, dtype)
}

/// An `n x m` matrix with ones on diagonal `k`.
pub fn eye(n: usize, m: Option<usize>, k: isize, dtype: Option<Dtype>) -> Result<Array> {
    let m = m.unwrap_or(n);
    let rows = arange(0.0, n as f64, 1.0, Some(Dtype::Int64))?.reshape(&[n, 1])?;
    let cols = arange(0.0, m as f64, 1.0, Some(Dtype::Int64))?;
    let d = super::equal(&super::add(&rows, k as i64)?, &cols)?;
    astype(&d, dtype.unwrap_or(Dtype::Float32))
}

/// The `n x n` identity.
pub fn identity(n: usize, dtype: Option<Dtype>) -> Result<Array> {
    eye(n, None, 0, dtype)
}

/// Ones on and below diagonal `k` of an `n x m` matrix.
pub fn tri(n: usize, m: Option<usize>, k: isize, dtype: Option<Dtype>) -> Result<Array> {
    let m = m.unwrap_or(n);
    let rows = arange(0.0, n as f64, 1.0, Some(Dtype::Int64))?.reshape(&[n, 1])?;
    let cols = arange(0.0, m as f64, 1.0, Some(Dtype::Int64))?;
    let t = super::greater_equal(&super::add(&rows, k as i64)?, &cols)?;
    astype(&t, dtype.unwrap_or(Dtype::Float32))
}

/// The lower triangle of the last two axes (elements above diagonal `k` zeroed).
pub fn tril(x: &Array, k: isize) -> Result<Array> {
    if x.ndim() < 2 {
        return Err(Error::Invalid("[tril] array must be at least 2-D".into()));
    }
    let (n, m) = (x.shape()[x.ndim() - 2], x.shape()[x.ndim() - 1]);
    let mask = tri(n, Some(m), k, Some(Dtype::Bool))?;
    super::where_(&mask, x, &zeros(&[], Some(x.dtype()))?)
}

/// The upper triangle of the last two axes (elements below diagonal `k` zeroed).
pub fn triu(x: &Array, k: isize) -> Result<Array> {
    if x.ndim() < 2 {
        return Err(Error::Invalid("[triu] array must be at least 2-D".into()));
    }
    let (n, m) = (x.shape()[x.ndim() - 2], x.shape()[x.ndim() - 1]);
    let mask = tri(n, Some(m), k - 1, Some(Dtype::Bool))?;
    super::where_(&mask, &zeros(&[], Some(x.dtype()))?, x)
}

/// A row-contiguous copy of `a` (a view when it already is).
pub fn contiguous(a: &Array) -> Result<Array> {
    Ok(Array::from_op(
        a.shape().to_vec(),
        a.dtype(),
        view::Copy,
        vec![a.clone()],
        stream(),
    ))
}
