//! Unary elementwise ops. Float math on integer or bool inputs computes in float32.

use super::{astype, stream, zeros_like};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::primitives::unary::{Unary, UnaryOp};
use crate::{Error, Result};

/// Builds `op(a)`, casting integer inputs of float ops to float32.
fn build(op: UnaryOp, a: &Array) -> Result<Array> {
    if op == UnaryOp::Negative && a.dtype() == Dtype::Bool {
        return Err(Error::Invalid(
            "[negative] Not supported for bool, use logical_not instead.".into(),
        ));
    }
    if a.dtype().is_complex() && op.is_real_only() {
        return Err(Error::Invalid(format!(
            "[{}] Not supported for complex64.",
            format!("{op:?}").to_lowercase()
        )));
    }
    let a = if op.needs_inexact() {
        astype(a, a.dtype().to_inexact())?
    } else {
        a.clone()
    };
    let out = op.output_dtype(a.dtype());
    Ok(Array::from_op(
        a.shape().to_vec(),
        out,
        Unary(op),
        vec![a],
        stream(),
    ))
}

macro_rules! unary_ops {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(a: &Array) -> Result<Array> {
            build(UnaryOp::$op, a)
        }
    )*};
}

unary_ops! {
    /// `|a|` (complex: magnitude as float32; `abs(INT_MIN)` wraps).
    abs => Abs;
    /// `-a`.
    negative => Negative;
    /// -1, 0 or 1 by sign.
    sign => Sign;
    /// `a * a`.
    square => Square;
    sqrt => Sqrt;
    /// `1 / sqrt(a)`.
    rsqrt => Rsqrt;
    /// `1 / a`.
    reciprocal => Reciprocal;
    exp => Exp;
    /// `exp(a) - 1`, accurate near 0.
    expm1 => Expm1;
    log => Log;
    log2 => Log2;
    log10 => Log10;
    /// `log(1 + a)`, accurate near 0.
    log1p => Log1p;
    sin => Sin;
    cos => Cos;
    tan => Tan;
    arcsin => Arcsin;
    arccos => Arccos;
    arctan => Arctan;
    sinh => Sinh;
    cosh => Cosh;
    tanh => Tanh;
    arcsinh => Arcsinh;
    arccosh => Arccosh;
    arctanh => Arctanh;
    /// `1 / (1 + exp(-a))`.
    sigmoid => Sigmoid;
    erf => Erf;
    /// Inverse of `erf`.
    erfinv => Erfinv;
}

/// Aliases, as in mlx.core.
pub fn asin(a: &Array) -> Result<Array> {
    arcsin(a)
}
pub fn acos(a: &Array) -> Result<Array> {
    arccos(a)
}
pub fn atan(a: &Array) -> Result<Array> {
    arctan(a)
}
pub fn asinh(a: &Array) -> Result<Array> {
    arcsinh(a)
}
pub fn acosh(a: &Array) -> Result<Array> {
    arccosh(a)
}
pub fn atanh(a: &Array) -> Result<Array> {
    arctanh(a)
}

/// `a` itself (`+a`).
pub fn positive(a: &Array) -> Result<Array> {
    Ok(a.clone())
}

/// Rounding ops leave integers as they are.
fn rounding(op: UnaryOp, a: &Array) -> Result<Array> {
    if !a.dtype().is_inexact() {
        return Ok(a.clone());
    }
    build(op, a)
}
pub fn ceil(a: &Array) -> Result<Array> {
    rounding(UnaryOp::Ceil, a)
}
pub fn floor(a: &Array) -> Result<Array> {
    rounding(UnaryOp::Floor, a)
}
pub fn trunc(a: &Array) -> Result<Array> {
    rounding(UnaryOp::Trunc, a)
}

/// Rounds half to even at `decimals` decimal places.
pub fn round(a: &Array, decimals: i32) -> Result<Array> {
    if decimals == 0 || !a.dtype().is_inexact() {
        return rounding(UnaryOp::Round, a);
    }
    let scale = 10f64.powi(decimals);
    let scaled = super::multiply(a, scale)?;
    super::divide(&rounding(UnaryOp::Round, &scaled)?, scale)
}

/// Real part (the array itself for real dtypes).
pub fn real(a: &Array) -> Result<Array> {
    if a.dtype().is_complex() {
        build(UnaryOp::Real, a)
    } else {
        Ok(a.clone())
    }
}
/// Imaginary part (zeros for real dtypes).
pub fn imag(a: &Array) -> Result<Array> {
    if a.dtype().is_complex() {
        build(UnaryOp::Imag, a)
    } else {
        zeros_like(a, None)
    }
}
/// Complex conjugate (the array itself for real dtypes).
pub fn conj(a: &Array) -> Result<Array> {
    if a.dtype().is_complex() {
        build(UnaryOp::Conj, a)
    } else {
        Ok(a.clone())
    }
}
pub fn conjugate(a: &Array) -> Result<Array> {
    conj(a)
}

fn float_predicate(op: UnaryOp, a: &Array) -> Result<Array> {
    if a.dtype().is_inexact() {
        build(op, a)
    } else {
        zeros_like(a, Some(Dtype::Bool))
    }
}
pub fn isnan(a: &Array) -> Result<Array> {
    float_predicate(UnaryOp::IsNan, a)
}
pub fn isinf(a: &Array) -> Result<Array> {
    float_predicate(UnaryOp::IsInf, a)
}
pub fn isposinf(a: &Array) -> Result<Array> {
    float_predicate(UnaryOp::IsPosInf, a)
}
pub fn isneginf(a: &Array) -> Result<Array> {
    float_predicate(UnaryOp::IsNegInf, a)
}
/// Neither NaN nor infinite.
pub fn isfinite(a: &Array) -> Result<Array> {
    super::logical_not(&super::logical_or(isnan(a)?, isinf(a)?)?)
}

/// `!a` as bool.
pub fn logical_not(a: &Array) -> Result<Array> {
    build(UnaryOp::LogicalNot, a)
}

/// `~a` for integer and bool arrays.
pub fn bitwise_invert(a: &Array) -> Result<Array> {
    if a.dtype().is_inexact() {
        return Err(Error::Invalid(format!(
            "[bitwise_invert] Bitwise inverse is only allowed on integer types, got {}.",
            a.dtype()
        )));
    }
    build(UnaryOp::BitwiseInvert, a)
}

/// Radians to degrees.
pub fn degrees(a: &Array) -> Result<Array> {
    super::multiply(
        &astype(a, a.dtype().to_inexact())?,
        180.0 / std::f64::consts::PI,
    )
}
/// Degrees to radians.
pub fn radians(a: &Array) -> Result<Array> {
    super::multiply(
        &astype(a, a.dtype().to_inexact())?,
        std::f64::consts::PI / 180.0,
    )
}

/// `a` with each element clipped to `[a_min, a_max]` (either bound optional).
pub fn clip(a: &Array, a_min: Option<&Array>, a_max: Option<&Array>) -> Result<Array> {
    if a_min.is_none() && a_max.is_none() {
        return Err(Error::Invalid(
            "[clip] At most one of a_min and a_max may be None".into(),
        ));
    }
    let mut r = a.clone();
    if let Some(lo) = a_min {
        r = super::maximum(&r, lo)?;
    }
    if let Some(hi) = a_max {
        r = super::minimum(&r, hi)?;
    }
    Ok(r)
}

/// NaN to `nan`, infinities to `posinf`/`neginf` (default: the dtype's extremes).
pub fn nan_to_num(a: &Array, nan: f64, posinf: Option<f64>, neginf: Option<f64>) -> Result<Array> {
    if !a.dtype().is_inexact() {
        return Ok(a.clone());
    }
    let info = crate::dtype::finfo(a.dtype())?;
    let posinf = posinf.unwrap_or(info.max);
    let neginf = neginf.unwrap_or(info.min);
    let r = super::where_(&isnan(a)?, nan, a)?;
    let r = super::where_(&isposinf(a)?, posinf, &r)?;
    super::where_(&isneginf(a)?, neginf, &r)
}

/// `inputs` unchanged (the same buffers), made to depend on `dependencies`: evaluating
/// the results evaluates the dependencies too. Gradients pass through to `inputs`.
pub fn depends(inputs: &[Array], dependencies: &[Array]) -> Result<Vec<Array>> {
    if inputs.is_empty() {
        return Err(crate::Error::Invalid(
            "[depends] Expected at least one input array.".into(),
        ));
    }
    let outputs = inputs
        .iter()
        .map(|a| (a.shape().to_vec(), a.dtype()))
        .collect();
    let all: Vec<Array> = inputs.iter().chain(dependencies).cloned().collect();
    let n = inputs.len();
    Ok(Array::from_multi_op(
        outputs,
        crate::primitives::view::Depends { n },
        all,
        stream(),
    ))
}

/// The data unchanged (a view); the transforms do not differentiate through it, so its
/// gradient is zero.
pub fn stop_gradient(a: &Array) -> Result<Array> {
    Ok(Array::from_op(
        a.shape().to_vec(),
        a.dtype(),
        crate::primitives::view::StopGradient,
        vec![a.clone()],
        stream(),
    ))
}
