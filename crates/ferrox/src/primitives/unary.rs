//! Unary elementwise primitives and `astype`.

use crate::array::{Array, Data};
use crate::backend::cpu;
use crate::dtype::Dtype;
use crate::primitive::{EvalContext, Primitive};
use crate::Result;

/// The unary elementwise operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
#[derive(Debug)]
pub struct Unary(pub UnaryOp);

impl Primitive for Unary {
    fn name(&self) -> &'static str {
        "Unary"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        let out = ctx.output(0, inputs, &[0])?;
        cpu::unary::eval(self.0, inputs[0].shape(), inputs[0].dtype(), &a, &out)?;
        Ok(vec![out])
    }
}

/// Conversion to another dtype, with `astype`'s rules.
#[derive(Debug)]
pub struct AsType(pub Dtype);

impl Primitive for AsType {
    fn name(&self) -> &'static str {
        "AsType"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        let out = ctx.output(0, inputs, &[0])?;
        cpu::copy::copy_cast(inputs[0].shape(), &a, inputs[0].dtype(), &out, self.0);
        Ok(vec![out])
    }
}
