//! Unary elementwise primitives and `astype`.

use crate::array::{Array, Data, Shape};
use crate::backend::cpu;
use crate::dtype::{Dtype, Scalar};
use crate::primitive::{same_shape, Batched, EvalContext, Primitive, TracedShapes};
use crate::transforms::vmap::align_elementwise;
use crate::{ops, Result};

/// The unary elementwise operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum UnaryOp {
    Abs,
    Negative,
    Sign,
    Square,
    Sqrt,
    Rsqrt,
    Reciprocal,
    Exp,
    Expm1,
    Log,
    Log2,
    Log10,
    Log1p,
    Sin,
    Cos,
    Tan,
    Arcsin,
    Arccos,
    Arctan,
    Sinh,
    Cosh,
    Tanh,
    Arcsinh,
    Arccosh,
    Arctanh,
    Sigmoid,
    Erf,
    Erfinv,
    Ceil,
    Floor,
    Trunc,
    Round,
    Real,
    Imag,
    Conj,
    IsNan,
    IsInf,
    IsPosInf,
    IsNegInf,
    LogicalNot,
    BitwiseInvert,
}

impl UnaryOp {
    /// Ops that have no complex form (as in MLX): a complex input is an error at the call.
    pub fn is_real_only(self) -> bool {
        use UnaryOp::*;
        matches!(self, Expm1 | Sigmoid | Erf | Erfinv | Ceil | Floor | Trunc)
    }

    /// Ops that compute in floating point: integer and bool inputs are cast to float32.
    pub fn needs_inexact(self) -> bool {
        use UnaryOp::*;
        matches!(
            self,
            Sqrt | Rsqrt
                | Reciprocal
                | Exp
                | Expm1
                | Log
                | Log2
                | Log10
                | Log1p
                | Sin
                | Cos
                | Tan
                | Arcsin
                | Arccos
                | Arctan
                | Sinh
                | Cosh
                | Tanh
                | Arcsinh
                | Arccosh
                | Arctanh
                | Sigmoid
                | Erf
                | Erfinv
        )
    }

    /// The output dtype for an input of `dtype` (after any cast to float).
    pub fn output_dtype(self, dtype: Dtype) -> Dtype {
        use UnaryOp::*;
        match self {
            IsNan | IsInf | IsPosInf | IsNegInf | LogicalNot => Dtype::Bool,
            Abs | Real | Imag if dtype == Dtype::Complex64 => Dtype::Float32,
            _ => dtype,
        }
    }
}

/// An elementwise unary op.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Unary(pub UnaryOp);

impl Unary {
    /// `v` times the derivative at `x` (whose image is `y`): the Jacobian is diagonal, so
    /// this one function is both the vjp (`v` a cotangent) and the jvp (`v` a tangent).
    /// Built from lazy ops, so it differentiates again. Ops with a zero derivative
    /// (rounding, predicates, sign) give `None`.
    fn times_derivative(&self, x: &Array, y: &Array, v: &Array) -> Result<Option<Array>> {
        use std::f64::consts::{LN_10, LN_2, PI};
        use UnaryOp::*;
        let one_minus_square = |a: &Array| ops::subtract(1.0, &ops::square(a)?);
        let d = match self.0 {
            Negative => return ops::negative(v).map(Some),
            Real | Imag | Conj => return self.linear(v).map(Some),
            Sign | Ceil | Floor | Trunc | Round | IsNan | IsInf | IsPosInf | IsNegInf
            | LogicalNot | BitwiseInvert => return Ok(None),
            // For complex z, d|z| = Re(conj(z)·dz)/|z|: a real tangent. (Backward, the
            // cotangent is real and the rule is c·z/|z|, MLX's convention.)
            Abs if x.dtype().is_complex() && v.dtype().is_complex() => {
                return ops::real(&ops::multiply(&ops::conj(&ops::sign(x)?)?, v)?).map(Some)
            }
            Abs => ops::sign(x)?,
            Square => ops::multiply(x, 2.0)?,
            Sqrt => ops::divide(0.5, y)?,
            Rsqrt => ops::multiply(&ops::divide(y, x)?, -0.5)?,
            Reciprocal => ops::negative(&ops::square(y)?)?,
            Exp => y.clone(),
            Expm1 => ops::add(y, 1.0)?,
            Log => ops::reciprocal(x)?,
            Log2 => ops::reciprocal(&ops::multiply(x, LN_2)?)?,
            Log10 => ops::reciprocal(&ops::multiply(x, LN_10)?)?,
            Log1p => ops::reciprocal(&ops::add(x, 1.0)?)?,
            Sin => ops::cos(x)?,
            Cos => ops::negative(&ops::sin(x)?)?,
            Tan => ops::add(&ops::square(y)?, 1.0)?,
            Arcsin => ops::rsqrt(&one_minus_square(x)?)?,
            Arccos => ops::negative(&ops::rsqrt(&one_minus_square(x)?)?)?,
            Arctan => ops::reciprocal(&ops::add(&ops::square(x)?, 1.0)?)?,
            Sinh => ops::cosh(x)?,
            Cosh => ops::sinh(x)?,
            Tanh => one_minus_square(y)?,
            Arcsinh => ops::rsqrt(&ops::add(&ops::square(x)?, 1.0)?)?,
            // 1/sqrt(x-1)/sqrt(x+1), not 1/sqrt(x²-1): the same for real x, and the
            // derivative of the principal branch for complex x.
            Arccosh => ops::multiply(
                &ops::rsqrt(&ops::subtract(x, 1.0)?)?,
                &ops::rsqrt(&ops::add(x, 1.0)?)?,
            )?,
            Arctanh => ops::reciprocal(&one_minus_square(x)?)?,
            Sigmoid => ops::multiply(y, &ops::subtract(1.0, y)?)?,
            Erf => ops::multiply(
                &ops::exp(&ops::negative(&ops::square(x)?)?)?,
                2.0 / PI.sqrt(),
            )?,
            Erfinv => ops::multiply(&ops::exp(&ops::square(y)?)?, PI.sqrt() / 2.0)?,
        };
        ops::multiply(v, &d).map(Some)
    }

    /// The linear complex ops applied to a tangent (forward) or cotangent (backward). The
    /// transposes of `real` and `imag` follow MLX's convention for complex gradients
    /// (`∂L/∂x + i·∂L/∂y`): `c` and `i·c`.
    fn linear(&self, v: &Array) -> Result<Array> {
        match (self.0, v.dtype().is_complex()) {
            (UnaryOp::Real, true) => ops::real(v),
            (UnaryOp::Imag, true) => ops::imag(v),
            (UnaryOp::Conj, _) => ops::conj(v),
            (UnaryOp::Real, false) => ops::astype(v, Dtype::Complex64),
            (UnaryOp::Imag, false) => ops::multiply(
                &ops::astype(v, Dtype::Complex64)?,
                &Array::scalar_of(Scalar::Complex(0.0, 1.0), Dtype::Complex64),
            ),
            _ => Ok(v.clone()),
        }
    }
}

impl Primitive for Unary {
    crate::exportable!(Unary);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        same_shape(inputs, 1)
    }
    fn name(&self) -> &'static str {
        "Unary"
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        let out = ctx.output(0, inputs, &[0])?;
        cpu::unary::eval(self.0, inputs[0].shape(), inputs[0].dtype(), &a, &out)?;
        Ok(vec![out])
    }
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        match self.times_derivative(&p[0], &out[0], &cot[0])? {
            Some(g) => Ok(vec![g]),
            None => Ok(vec![ops::zeros_like(&p[0], None)?]),
        }
    }
    fn jvp(&self, p: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        match self.times_derivative(&p[0], &out[0], &tan[0])? {
            Some(t) => Ok(vec![t]),
            None => Ok(vec![ops::zeros_like(&out[0], None)?]),
        }
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let x = &inputs[0];
        let o = Array::from_op(
            x.shape().to_vec(),
            out[0].dtype(),
            Unary(self.0),
            vec![x.clone()],
            ops::stream(),
        );
        Ok((vec![o], axes.to_vec()))
    }
}

/// Conversion to another dtype, with `astype`'s rules.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct AsType(pub Dtype);

impl Primitive for AsType {
    crate::exportable!(AsType);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        same_shape(inputs, 1)
    }
    fn name(&self) -> &'static str {
        "AsType"
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        let out = ctx.output(0, inputs, &[0])?;
        cpu::copy::copy_cast(inputs[0].shape(), &a, inputs[0].dtype(), &out, self.0);
        Ok(vec![out])
    }
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::astype(&cot[0], p[0].dtype())?])
    }
    fn jvp(&self, _: &[Array], tan: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::astype(&tan[0], self.0)?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let (v, ax) = align_elementwise(inputs, axes)?;
        Ok((vec![ops::astype(&v[0], self.0)?], vec![Some(ax)]))
    }
}
