//! Sorting along one axis, partitioning around one position, and binary search in a
//! sorted sequence. NaN sorts last; complex numbers order by real part, then imaginary
//! part, as in MLX. `ArgSort` (`ArgPartition`) gives the permutation, which the
//! derivative of `Sort` (`Partition`) uses.

use crate::array::{Array, Data, Shape};
use crate::backend::cpu;
use crate::dtype::Dtype;
use crate::primitive::{same_shape, Batched, EvalContext, Primitive, TracedShapes};
use crate::primitives::row_major;
use crate::transforms::vmap::by_loop;
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

/// Partitions each line along `axis` around position `kth` (`0 <= kth <` the axis'
/// extent): the element a sort puts at `kth` goes there, none greater before it, none
/// smaller after it (the order on each side is unspecified, as in MLX). Values
/// (`Partition`) or the uint32 permutation that gives them (`ArgPartition`); both
/// arrange a line the same way, ties by index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Partition {
    pub axis: usize,
    pub kth: usize,
}

/// The indices (uint32) that [`Partition`] each line along `axis` around `kth`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ArgPartition {
    pub axis: usize,
    pub kth: usize,
}

fn argpartition(x: &Array, axis: usize, kth: usize) -> Array {
    Array::from_op(
        x.shape().to_vec(),
        Dtype::Uint32,
        ArgPartition { axis, kth },
        vec![x.clone()],
        ops::stream(),
    )
}

/// Shapes for a shapeless compile: `kth` was checked against the traced extent of
/// `axis`, so that extent must stay.
fn partition_shapes(axis: usize, inputs: &[&[usize]], traced: &TracedShapes) -> Option<Vec<Shape>> {
    (inputs.first()?.get(axis) == traced.inputs.first()?.get(axis))
        .then(|| same_shape(inputs, 1))
        .flatten()
}

impl Primitive for Partition {
    crate::exportable!(Partition);

    fn output_shapes(&self, inputs: &[&[usize]], traced: &TracedShapes) -> Option<Vec<Shape>> {
        partition_shapes(self.axis, inputs, traced)
    }
    fn name(&self) -> &'static str {
        "Partition"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        let (shape, dtype) = &ctx.outputs[0];
        let out = Data::alloc(shape, *dtype)?;
        let (x, axis, kth) = (&inputs[0], self.axis, self.kth);
        cpu::sort::partition(axis, kth, false, x.shape(), x.dtype(), &a, &out);
        Ok(vec![out])
    }
    // As for `Sort`: the derivative moves cotangents (tangents) by the permutation.
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let perm = argpartition(&p[0], self.axis, self.kth);
        let zeros = ops::zeros_like(&p[0], None)?;
        Ok(vec![ops::put_along_axis(
            &zeros,
            &perm,
            &cot[0],
            Some(self.axis as isize),
        )?])
    }
    fn jvp(&self, p: &[Array], tan: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let perm = argpartition(&p[0], self.axis, self.kth);
        Ok(vec![ops::take_along_axis(
            &tan[0],
            &perm,
            Some(self.axis as isize),
        )?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let (x, b) = (&inputs[0], axes[0].unwrap_or(0));
        let prim = Partition {
            axis: shifted(self.axis, b),
            kth: self.kth,
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

impl Primitive for ArgPartition {
    crate::exportable!(ArgPartition);

    fn output_shapes(&self, inputs: &[&[usize]], traced: &TracedShapes) -> Option<Vec<Shape>> {
        partition_shapes(self.axis, inputs, traced)
    }
    fn name(&self) -> &'static str {
        "ArgPartition"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        let out = Data::alloc(&ctx.outputs[0].0, Dtype::Uint32)?;
        let (x, axis, kth) = (&inputs[0], self.axis, self.kth);
        cpu::sort::partition(axis, kth, true, x.shape(), x.dtype(), &a, &out);
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
            vec![argpartition(&inputs[0], shifted(self.axis, b), self.kth)],
            vec![Some(b)],
        ))
    }
}

/// For each element of `values` (input 1, any shape), its insertion point (uint32) in
/// the ascending 1-D input 0 of the same dtype: before equal elements, or after them if
/// `right`. NaN sorts last, so a NaN value goes before the sequence's first NaN (left)
/// or at its end (right), as in NumPy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SearchSorted {
    pub right: bool,
}

impl Primitive for SearchSorted {
    crate::exportable!(SearchSorted);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        (inputs.len() == 2 && inputs[0].len() == 1).then(|| vec![inputs[1].to_vec()])
    }
    fn name(&self) -> &'static str {
        "SearchSorted"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (seq, values) = (&inputs[0], &inputs[1]);
        let dtype = seq.dtype();
        let (s, v) = (row_major(seq, dtype)?, row_major(values, dtype)?);
        let out = Data::alloc(&ctx.outputs[0].0, Dtype::Uint32)?;
        let (n, m) = (seq.size(), values.size());
        cpu::sort::searchsorted(dtype, &s, n, &v, m, self.right, &out);
        Ok(vec![out])
    }
    // A step function of both inputs: zero derivative.
    fn vjp(&self, p: &[Array], _: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        argnums
            .iter()
            .map(|&i| ops::zeros_like(&p[i], None))
            .collect()
    }
    fn jvp(&self, _: &[Array], _: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(&out[0], None)?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        match axes {
            // Only the values batched: the search is elementwise over them.
            [None, Some(b)] => {
                let v = &inputs[1];
                let o = Array::from_op(
                    v.shape().to_vec(),
                    out[0].dtype(),
                    self.clone(),
                    inputs.to_vec(),
                    ops::stream(),
                );
                Ok((vec![o], vec![Some(*b)]))
            }
            // A batch of sequences: one search per sequence.
            _ => {
                let prim = self.clone();
                by_loop(inputs, axes, move |a| {
                    Ok(vec![Array::from_op(
                        a[1].shape().to_vec(),
                        Dtype::Uint32,
                        prim.clone(),
                        a.to_vec(),
                        ops::stream(),
                    )])
                })
            }
        }
    }
}
