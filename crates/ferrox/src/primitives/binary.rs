//! Binary elementwise primitives and `where` (select). Inputs arrive broadcast to the
//! output's shape (as stride-0 views) and, except for shifts, of one dtype.

use crate::array::{Array, Data};
use crate::backend::cpu;
use crate::primitive::{EvalContext, Primitive};
use crate::Result;

/// The binary elementwise operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    FloorDivide,
    Remainder,
    Power,
    Maximum,
    Minimum,
    Arctan2,
    LogAddExp,
    Equal,
    NotEqual,
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    /// Equal, with NaN equal to NaN (`array_equal(equal_nan=True)`).
    NanEqual,
    LogicalAnd,
    LogicalOr,
    LogicalXor,
    BitwiseAnd,
    BitwiseOr,
    BitwiseXor,
    LeftShift,
    RightShift,
}

impl BinaryOp {
    /// Comparisons and logical ops give bool.
    pub fn is_predicate(self) -> bool {
        use BinaryOp::*;
        matches!(
            self,
            Equal
                | NotEqual
                | Greater
                | GreaterEqual
                | Less
                | LessEqual
                | NanEqual
                | LogicalAnd
                | LogicalOr
                | LogicalXor
        )
    }
}

/// An elementwise binary op.
#[derive(Debug)]
pub struct Binary(pub BinaryOp);

impl Primitive for Binary {
    fn name(&self) -> &'static str {
        "Binary"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (a, b) = (inputs[0].data()?, inputs[1].data()?);
        let out = ctx.output(0, inputs, &[0, 1])?;
        let shape = ctx.outputs[0].0.clone();
        cpu::binary::eval(self.0, &shape, inputs[0].dtype(), &a, &b, &out)?;
        Ok(vec![out])
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// `where(condition, x, y)`.
#[derive(Debug)]
pub struct Select;

impl Primitive for Select {
    fn name(&self) -> &'static str {
        "Select"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (c, x, y) = (inputs[0].data()?, inputs[1].data()?, inputs[2].data()?);
        let out = ctx.output(0, inputs, &[1, 2])?;
        let shape = ctx.outputs[0].0.clone();
        crate::dispatch_dtype!(inputs[1].dtype(), T => {
            cpu::elementwise::ternary::<bool, T, T, T>(&shape, &c, &x, &y, &out, |c, x, y| if c { x } else { y })
        });
        Ok(vec![out])
    }
}
