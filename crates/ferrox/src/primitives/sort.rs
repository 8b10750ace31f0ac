//! Sorting along one axis. NaN sorts last; complex numbers order by real part, then
//! imaginary part, as in MLX.

use crate::array::{Array, Data};
use crate::backend::cpu;
use crate::primitive::{EvalContext, Primitive};
use crate::Result;

/// Sorts each line along `axis` in ascending order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sort {
    pub axis: usize,
}

impl Primitive for Sort {
    fn name(&self) -> &'static str {
        "Sort"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        let (shape, dtype) = &ctx.outputs[0];
        let out = Data::alloc(shape, *dtype)?;
        cpu::sort::sort(self.axis, inputs[0].shape(), inputs[0].dtype(), &a, &out);
        Ok(vec![out])
    }
}
