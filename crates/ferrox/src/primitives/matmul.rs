//! Matrix products: `matmul` and `addmm` (`alpha * a @ b + beta * c`). Inputs arrive with
//! their batch axes broadcast to the output's; transposed operands are strided views, not
//! copies.

use crate::array::{Array, Data};
use crate::backend::cpu;
use crate::primitive::{EvalContext, Primitive};
use crate::Result;

/// `alpha * (a @ b) + beta * c`, with `c` present only when there is a third input.
#[derive(Debug)]
pub struct Matmul {
    pub alpha: f64,
    pub beta: f64,
}

impl Primitive for Matmul {
    fn name(&self) -> &'static str {
        "Matmul"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (a, b) = (inputs[0].data()?, inputs[1].data()?);
        let (shape, dtype) = ctx.outputs[0].clone();
        let out = Data::alloc(&shape, dtype)?;
        let addend = match inputs.get(2) {
            Some(c) => {
                let cd = c.data()?;
                cpu::copy::copy_cast(&shape, &cd, c.dtype(), &out, dtype);
                true
            }
            None => false,
        };
        let k = inputs[0].shape()[inputs[0].ndim() - 1];
        cpu::matmul::matmul(
            &shape,
            k,
            dtype,
            &a,
            &b,
            &out,
            self.alpha,
            if addend { self.beta } else { 0.0 },
        )?;
        Ok(vec![out])
    }
}
