//! Reductions over axes (`sum`, `prod`, `max`, `min`, `all`, `any`) and arg-reductions
//! (`argmax`, `argmin`). Outputs keep the reduced axes with extent 1; the ops squeeze
//! them unless `keepdims`.

use crate::array::{Array, Data};
use crate::backend::cpu;
use crate::primitive::{EvalContext, Primitive};
use crate::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Prod,
    Max,
    Min,
    /// `all`: output bool.
    And,
    /// `any`: output bool.
    Or,
}

/// A reduction over `axes`.
#[derive(Debug)]
pub struct Reduce {
    pub op: ReduceOp,
    pub axes: Vec<usize>,
}

impl Primitive for Reduce {
    fn name(&self) -> &'static str {
        "Reduce"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        let (shape, dtype) = &ctx.outputs[0];
        let out = Data::alloc(shape, *dtype)?;
        cpu::reduce::reduce(
            self.op,
            &self.axes,
            inputs[0].shape(),
            inputs[0].dtype(),
            &a,
            &out,
        )?;
        Ok(vec![out])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgReduceOp {
    ArgMax,
    ArgMin,
}

/// The index (uint32) of the first extreme element along `axis`.
#[derive(Debug)]
pub struct ArgReduce {
    pub op: ArgReduceOp,
    pub axis: usize,
}

impl Primitive for ArgReduce {
    fn name(&self) -> &'static str {
        "ArgReduce"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        let (shape, dtype) = &ctx.outputs[0];
        let out = Data::alloc(shape, *dtype)?;
        cpu::reduce::arg_reduce(
            self.op,
            self.axis,
            inputs[0].shape(),
            inputs[0].dtype(),
            &a,
            &out,
        );
        Ok(vec![out])
    }
}
