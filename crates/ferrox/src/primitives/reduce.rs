//! Reductions over axes (`sum`, `prod`, `max`, `min`, `all`, `any`) and arg-reductions
//! (`argmax`, `argmin`). Outputs keep the reduced axes with extent 1; the ops squeeze
//! them unless `keepdims`.

use crate::array::{Array, Data, Shape};
use crate::backend::cpu;
use crate::primitive::{Batched, EvalContext, Primitive, TracedShapes};
use crate::transforms::vmap::with_batch;
use crate::{ops, Result};

/// Axes `axes` of an unbatched array, renumbered for a batch axis inserted at `b`.
pub(crate) fn shift_axes(axes: &[usize], b: usize) -> Vec<usize> {
    axes.iter()
        .map(|&a| if a < b { a } else { a + 1 })
        .collect()
}

/// For each element of `x`, the product of the other elements of its group over `axes`
/// (the derivative of `prod`), computed with exclusive products from both ends so that
/// zeros need no division.
fn products_of_others(x: &Array, axes: &[usize]) -> Result<Array> {
    let nd = x.ndim();
    let kept: Vec<usize> = (0..nd).filter(|i| !axes.contains(i)).collect();
    let perm: Vec<isize> = kept.iter().chain(axes).map(|&i| i as isize).collect();
    let moved = ops::transpose(x, &perm)?;
    let mut flat: Vec<usize> = kept.iter().map(|&i| x.shape()[i]).collect();
    flat.push(axes.iter().map(|&i| x.shape()[i]).product());
    let lines = moved.reshape(&flat)?;
    let before = ops::cumprod(&lines, Some(-1), false, false, None)?;
    let after = ops::cumprod(&lines, Some(-1), true, false, None)?;
    let others = ops::multiply(&before, &after)?.reshape(moved.shape())?;
    let mut inverse = vec![0isize; nd];
    for (i, &a) in perm.iter().enumerate() {
        inverse[a as usize] = i as isize;
    }
    ops::transpose(&others, &inverse)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Reduce {
    pub op: ReduceOp,
    pub axes: Vec<usize>,
}

impl Reduce {
    /// For `max`/`min`: where `x` attains the extreme of its group, and how many times,
    /// so that ties share the derivative equally (as in MLX).
    fn extreme_mask(&self, x: &Array, out: &Array) -> Result<(Array, Array)> {
        let mask = ops::astype(&ops::equal(x, out)?, x.dtype())?;
        let axes: Vec<isize> = self.axes.iter().map(|&a| a as isize).collect();
        let count = ops::sum(&mask, &axes, true)?;
        Ok((mask, count))
    }
}

impl Primitive for Reduce {
    crate::exportable!(Reduce);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        let mut out = inputs[0].to_vec();
        for &a in &self.axes {
            out[a] = 1;
        }
        Some(vec![out])
    }
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
    // The output keeps the reduced axes (extent 1), so it broadcasts against the input.
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let (x, cot) = (&p[0], &cot[0]);
        let spread = || ops::broadcast_to(cot, x.shape());
        let g = match self.op {
            ReduceOp::Sum => spread()?,
            ReduceOp::Prod => ops::multiply(&spread()?, &products_of_others(x, &self.axes)?)?,
            ReduceOp::Max | ReduceOp::Min => {
                let (mask, count) = self.extreme_mask(x, &out[0])?;
                ops::multiply(&spread()?, &ops::divide(&mask, &count)?)?
            }
            ReduceOp::And | ReduceOp::Or => ops::zeros_like(x, None)?,
        };
        Ok(vec![g])
    }
    fn jvp(&self, p: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let (x, t) = (&p[0], &tan[0]);
        let axes: Vec<isize> = self.axes.iter().map(|&a| a as isize).collect();
        let r = match self.op {
            ReduceOp::Sum => ops::sum(t, &axes, true)?,
            ReduceOp::Prod => ops::sum(
                &ops::multiply(t, &products_of_others(x, &self.axes)?)?,
                &axes,
                true,
            )?,
            ReduceOp::Max | ReduceOp::Min => {
                let (mask, count) = self.extreme_mask(x, &out[0])?;
                ops::divide(&ops::sum(&ops::multiply(t, &mask)?, &axes, true)?, &count)?
            }
            ReduceOp::And | ReduceOp::Or => ops::zeros_like(&out[0], None)?,
        };
        Ok(vec![r])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let (x, b) = (&inputs[0], axes[0].unwrap_or(0));
        let prim = Reduce {
            op: self.op,
            axes: shift_axes(&self.axes, b),
        };
        let shape = with_batch(out[0].shape(), b, x.shape()[b]);
        let o = Array::from_op(shape, out[0].dtype(), prim, vec![x.clone()], ops::stream());
        Ok((vec![o], vec![Some(b)]))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ArgReduceOp {
    ArgMax,
    ArgMin,
}

/// The index (uint32) of the first extreme element along `axis`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ArgReduce {
    pub op: ArgReduceOp,
    pub axis: usize,
}

impl Primitive for ArgReduce {
    crate::exportable!(ArgReduce);

    fn output_shapes(&self, inputs: &[&[usize]], traced: &TracedShapes) -> Option<Vec<Shape>> {
        let mut out = inputs[0].to_vec();
        if traced.outputs[0].len() == out.len() {
            out[self.axis] = 1;
        } else {
            out.remove(self.axis);
        }
        Some(vec![out])
    }
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
    fn vjp(&self, p: &[Array], _: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(&p[0], None)?])
    }
    fn jvp(&self, _: &[Array], _: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(&out[0], None)?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let (x, b) = (&inputs[0], axes[0].unwrap_or(0));
        let axis = if self.axis < b {
            self.axis
        } else {
            self.axis + 1
        };
        let prim = ArgReduce { op: self.op, axis };
        let shape = with_batch(out[0].shape(), b, x.shape()[b]);
        let o = Array::from_op(shape, out[0].dtype(), prim, vec![x.clone()], ops::stream());
        Ok((vec![o], vec![Some(b)]))
    }
}

/// The count `mean` and `var` divide by: the product of the input's lengths over `axes`,
/// less `ddof` (NaN at or below zero), as a scalar. A node rather than a constant so that
/// `compile(shapeless)` counts again for new shapes (MLX's `NumberOfElements`); it reads
/// only its input's shape.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct NumberOfElements {
    pub axes: Vec<usize>,
    pub ddof: usize,
}

impl NumberOfElements {
    fn count(&self, shape: &[usize]) -> f64 {
        let n = self.axes.iter().map(|&a| shape[a]).product::<usize>();
        match n.checked_sub(self.ddof) {
            Some(k) if k > 0 => k as f64,
            _ => f64::NAN,
        }
    }
}

impl Primitive for NumberOfElements {
    crate::exportable!(NumberOfElements);

    fn name(&self) -> &'static str {
        "NumberOfElements"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let n = crate::dtype::Scalar::Float(self.count(inputs[0].shape()));
        Ok(vec![Array::scalar_of(n, ctx.outputs[0].1).data()?])
    }
    fn output_shapes(&self, _: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        Some(vec![vec![]])
    }
    fn vjp(&self, p: &[Array], _: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(&p[0], None)?])
    }
    fn jvp(&self, _: &[Array], _: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(&out[0], None)?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        // Every member of the batch has the same count, known now: a constant (a node
        // on the batched input would tie it to the vmapped tracer).
        let axes = shift_axes(&self.axes, axes[0].unwrap_or(0));
        let n = NumberOfElements {
            axes,
            ddof: self.ddof,
        }
        .count(inputs[0].shape());
        let c = Array::scalar_of(crate::dtype::Scalar::Float(n), out[0].dtype());
        Ok((vec![c], vec![None]))
    }
}
