//! Cumulative operations along one axis (`cumsum`, `cumprod`, `cummax`, `cummin`,
//! `logcumsumexp`). The output has the input's shape and dtype: the ops cast beforehand
//! (`cumsum` of bool to int32, `logcumsumexp` of integers to float32).

use crate::array::{Array, Data};
use crate::backend::cpu;
use crate::primitive::{EvalContext, Primitive};
use crate::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScanOp {
    Sum,
    Prod,
    Max,
    Min,
    /// `log(exp(a) + exp(b))`, for `logcumsumexp`.
    LogAddExp,
}

/// A scan of `op` along `axis`. `reverse` runs from the end of the axis; without
/// `inclusive` element `i` combines only the elements before it (the first gets the
/// identity).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scan {
    pub op: ScanOp,
    pub axis: usize,
    pub reverse: bool,
    pub inclusive: bool,
}

impl Primitive for Scan {
    fn name(&self) -> &'static str {
        "Scan"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        // The output buffer first: holding the input's data would block donating it.
        let out = ctx.output(0, inputs, &[0])?;
        let a = inputs[0].data()?;
        cpu::scan::scan(self, inputs[0].shape(), inputs[0].dtype(), &a, &out)?;
        Ok(vec![out])
    }
}
