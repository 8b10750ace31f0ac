//! Binary elementwise ops (broadcasting, weak scalars) and `where`.

use super::{astype, broadcast_arrays, stream, to_arrays, Operand};
use crate::array::Array;
use crate::dtype::{promote, Dtype};
use crate::primitives::binary::{Binary, BinaryOp, Select};
use crate::{Error, Result};

/// Builds `op(a, b)`: inputs promoted to `dtype`, broadcast to one shape.
fn build(op: BinaryOp, a: &Array, b: &Array, dtype: Dtype, out_dtype: Dtype) -> Result<Array> {
    let (a, b) = (astype(a, dtype)?, astype(b, dtype)?);
    let v = broadcast_arrays(&[a, b])?;
    let shape = v[0].shape().to_vec();
    Ok(Array::from_op(shape, out_dtype, Binary(op), v, stream()))
}

fn arith(op: BinaryOp, a: Operand, b: Operand) -> Result<Array> {
    let (a, b) = to_arrays(&a, &b)?;
    let d = promote(a.dtype(), b.dtype());
    build(op, &a, &b, d, d)
}

fn inexact(op: BinaryOp, a: Operand, b: Operand) -> Result<Array> {
    let (a, b) = to_arrays(&a, &b)?;
    let d = promote(a.dtype(), b.dtype()).to_inexact();
    build(op, &a, &b, d, d)
}

fn compare(op: BinaryOp, a: Operand, b: Operand) -> Result<Array> {
    let (a, b) = to_arrays(&a, &b)?;
    build(op, &a, &b, promote(a.dtype(), b.dtype()), Dtype::Bool)
}

fn bitwise(op: BinaryOp, name: &str, a: Operand, b: Operand) -> Result<Array> {
    let (a, b) = to_arrays(&a, &b)?;
    let d = promote(a.dtype(), b.dtype());
    if d.is_inexact() {
        // A RuntimeError in MLX (not ValueError), so Runtime here.
        return Err(Error::Runtime(format!(
            "[{name}] Bitwise operations are only allowed on integer or boolean types, got {} and {}.",
            a.dtype(),
            b.dtype()
        )));
    }
    // Shifting bools shifts them as uint8, as MLX does.
    let d = if d == Dtype::Bool && matches!(op, BinaryOp::LeftShift | BinaryOp::RightShift) {
        Dtype::Uint8
    } else {
        d
    };
    build(op, &a, &b, d, d)
}

macro_rules! binary_ops {
    ($($(#[$doc:meta])* $name:ident => $kind:ident($op:ident);)*) => {$(
        $(#[$doc])*
        pub fn $name(a: impl Into<Operand>, b: impl Into<Operand>) -> Result<Array> {
            $kind(BinaryOp::$op, a.into(), b.into())
        }
    )*};
}

binary_ops! {
    /// `a + b`.
    add => arith(Add);
    /// `a - b`.
    subtract => arith(Subtract);
    /// `a * b`.
    multiply => arith(Multiply);
    /// `a // b`, flooring (`-3 // 2 == -2`); integer division by zero gives 0.
    floor_divide => arith(FloorDivide);
    /// `a % b` with the divisor's sign; integer `% 0` returns the dividend.
    remainder => arith(Remainder);
    /// `a ** b`; integers to a negative power give 0.
    power => arith(Power);
    /// Elementwise maximum; NaN propagates.
    maximum => arith(Maximum);
    /// Elementwise minimum; NaN propagates.
    minimum => arith(Minimum);
    /// True division: integers divide in float32.
    divide => inexact(Divide);
    /// `atan2(a, b)`.
    arctan2 => inexact(Arctan2);
    /// `log(exp(a) + exp(b))` without overflow.
    logaddexp => inexact(LogAddExp);
    equal => compare(Equal);
    not_equal => compare(NotEqual);
    greater => compare(Greater);
    greater_equal => compare(GreaterEqual);
    less => compare(Less);
    less_equal => compare(LessEqual);
    logical_and => compare(LogicalAnd);
    logical_or => compare(LogicalOr);
    logical_xor => compare(LogicalXor);
}

/// Alias of [`power`].
pub fn pow(a: impl Into<Operand>, b: impl Into<Operand>) -> Result<Array> {
    power(a, b)
}
/// Alias of [`arctan2`].
pub fn atan2(a: impl Into<Operand>, b: impl Into<Operand>) -> Result<Array> {
    arctan2(a, b)
}

pub fn bitwise_and(a: impl Into<Operand>, b: impl Into<Operand>) -> Result<Array> {
    bitwise(BinaryOp::BitwiseAnd, "bitwise_and", a.into(), b.into())
}
pub fn bitwise_or(a: impl Into<Operand>, b: impl Into<Operand>) -> Result<Array> {
    bitwise(BinaryOp::BitwiseOr, "bitwise_or", a.into(), b.into())
}
pub fn bitwise_xor(a: impl Into<Operand>, b: impl Into<Operand>) -> Result<Array> {
    bitwise(BinaryOp::BitwiseXor, "bitwise_xor", a.into(), b.into())
}
pub fn left_shift(a: impl Into<Operand>, b: impl Into<Operand>) -> Result<Array> {
    bitwise(BinaryOp::LeftShift, "left_shift", a.into(), b.into())
}
pub fn right_shift(a: impl Into<Operand>, b: impl Into<Operand>) -> Result<Array> {
    bitwise(BinaryOp::RightShift, "right_shift", a.into(), b.into())
}

/// `(a // b, a % b)`.
pub fn divmod(a: impl Into<Operand>, b: impl Into<Operand>) -> Result<(Array, Array)> {
    let (a, b) = (a.into(), b.into());
    Ok((floor_divide(a.clone(), b.clone())?, remainder(a, b)?))
}

/// Elements of `x` where `condition` is true, else of `y`, all broadcast together.
pub fn where_(
    condition: impl Into<Operand>,
    x: impl Into<Operand>,
    y: impl Into<Operand>,
) -> Result<Array> {
    let c = astype(&condition.into().to_array(), Dtype::Bool)?;
    let (x, y) = to_arrays(&x.into(), &y.into())?;
    let d = promote(x.dtype(), y.dtype());
    let v = broadcast_arrays(&[c, astype(&x, d)?, astype(&y, d)?])?;
    let shape = v[0].shape().to_vec();
    Ok(Array::from_op(shape, d, Select, v, stream()))
}

/// Elementwise `|a - b| <= atol + rtol * |b|` (NaNs equal when `equal_nan`).
pub fn isclose(a: &Array, b: &Array, rtol: f64, atol: f64, equal_nan: bool) -> Result<Array> {
    let diff = super::abs(&subtract(a, b)?)?;
    let tol = add(multiply(super::abs(b)?, rtol)?, atol)?;
    let close = less_equal(&diff, &tol)?;
    // Equal infinities are close; an infinity beside anything else is not.
    let both_eq = equal(a, b)?;
    let finite = logical_and(super::isfinite(a)?, super::isfinite(b)?)?;
    let close = logical_or(logical_and(close, finite)?, both_eq)?;
    if equal_nan {
        let nans = logical_and(super::isnan(a)?, super::isnan(b)?)?;
        return logical_or(close, nans);
    }
    Ok(close)
}

/// Whether all elements are close (see [`isclose`]).
pub fn allclose(a: &Array, b: &Array, rtol: f64, atol: f64, equal_nan: bool) -> Result<Array> {
    super::all(&isclose(a, b, rtol, atol, equal_nan)?, &[], false)
}

/// Whether two arrays have the same shape and elements.
pub fn array_equal(a: &Array, b: &Array, equal_nan: bool) -> Result<Array> {
    if a.shape() != b.shape() {
        return Ok(Array::scalar(false));
    }
    let d = promote(a.dtype(), b.dtype());
    let op = if equal_nan {
        BinaryOp::NanEqual
    } else {
        BinaryOp::Equal
    };
    super::all(&build(op, a, b, d, Dtype::Bool)?, &[], false)
}
