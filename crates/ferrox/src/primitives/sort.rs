//! Sorting along one axis. NaN sorts last; complex numbers order by real part, then
//! imaginary part, as in MLX. `ArgSort` gives the sorting permutation, which the
//! derivative of `Sort` uses.

use crate::array::{Array, Data, Shape};
use crate::backend::cpu;
use crate::dtype::Dtype;
use crate::primitive::{same_shape, Batched, EvalContext, Primitive, TracedShapes};
use crate::{ops, Result};

/// Sorts each line along `axis` in ascending order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Sort {
    pub axis: usize,
}

/// `x` sorted along `axis` moves element `perm[j]` to `j`: the permutation.
fn argsort(x: &Array, axis: usize) -> Array {
    Array::from_op(
        x.shape().to_vec(),
        Dtype::Uint32,
        ArgSort { axis },
        vec![x.clone()],
        ops::stream(),
    )
}

/// The axis of an unbatched input renumbered for a batch axis at `b`.
fn shifted(axis: usize, b: usize) -> usize {
    if axis < b {
        axis
    } else {
        axis + 1
    }
}

impl Primitive for Sort {
    crate::exportable!(Sort);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        same_shape(inputs, 1)
    }
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
    // Sorting moves elements: the derivative moves the tangents (cotangents) the same way
    // (back).
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let perm = argsort(&p[0], self.axis);
        let zeros = ops::zeros_like(&p[0], None)?;
        Ok(vec![ops::put_along_axis(
            &zeros,
            &perm,
            &cot[0],
            Some(self.axis as isize),
        )?])
    }
    fn jvp(&self, p: &[Array], tan: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let perm = argsort(&p[0], self.axis);
        Ok(vec![ops::take_along_axis(
            &tan[0],
            &perm,
            Some(self.axis as isize),
        )?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let (x, b) = (&inputs[0], axes[0].unwrap_or(0));
        let prim = Sort {
            axis: shifted(self.axis, b),
        };
        let o = Array::from_op(
            x.shape().to_vec(),
            out[0].dtype(),
            prim,
            vec![x.clone()],
            ops::stream(),
        );
        Ok((vec![o], vec![Some(b)]))
    }
}

/// The indices (uint32) that sort each line along `axis`; stable, NaN last.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ArgSort {
    pub axis: usize,
}

impl Primitive for ArgSort {
    crate::exportable!(ArgSort);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        same_shape(inputs, 1)
    }
    fn name(&self) -> &'static str {
        "ArgSort"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        let out = Data::alloc(&ctx.outputs[0].0, Dtype::Uint32)?;
        cpu::sort::argsort(self.axis, inputs[0].shape(), inputs[0].dtype(), &a, &out);
        Ok(vec![out])
    }
    fn vjp(&self, p: &[Array], _: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(&p[0], None)?])
    }
    fn jvp(&self, _: &[Array], _: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(&out[0], None)?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let b = axes[0].unwrap_or(0);
        Ok((
            vec![argsort(&inputs[0], shifted(self.axis, b))],
            vec![Some(b)],
        ))
    }
}
