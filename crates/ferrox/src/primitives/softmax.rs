//! `Softmax` over the last axis, fused (`ops::softmax` uses it when it can bring the
//! softmax axes last). Rules from ops, using the output `y`: the derivative applied to
//! `c` is `y · (c - sum(c · y))`.

use crate::array::{Array, Data, Shape};
use crate::backend::cpu;
use crate::primitive::{same_shape, Batched, EvalContext, Primitive, TracedShapes};
use crate::{ops, Result};

/// `exp(x - max) / sum(exp(x - max))` over the last axis, of a float `x`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Softmax;

/// `y · (c - sum(c · y, -1))`.
fn through(y: &Array, c: &Array) -> Result<Array> {
    let s = ops::sum(&ops::multiply(c, y)?, &[-1], true)?;
    ops::multiply(y, &ops::subtract(c, &s)?)
}

impl Primitive for Softmax {
    crate::exportable!(Softmax);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        same_shape(inputs, 1)
    }
    fn name(&self) -> &'static str {
        "Softmax"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let x = inputs[0].data()?;
        let (shape, dtype) = ctx.outputs[0].clone();
        let out = Data::alloc(&shape, dtype)?;
        cpu::softmax::softmax(&shape, dtype, &x, &out)?;
        Ok(vec![out])
    }
    fn vjp(&self, _: &[Array], cot: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![through(&out[0], &cot[0])?])
    }
    fn jvp(&self, _: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![through(&out[0], &tan[0])?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let (x, b) = (&inputs[0], axes[0].unwrap_or(0));
        // The softmax axis must stay last.
        let (x, b) = if b + 1 == x.ndim() {
            (ops::moveaxis(x, b as isize, 0)?, 0)
        } else {
            (x.clone(), b)
        };
        let y = Array::from_op(
            x.shape().to_vec(),
            x.dtype(),
            Softmax,
            vec![x],
            ops::stream(),
        );
        Ok((vec![y], vec![Some(b)]))
    }
}
