//! Primitives whose output is a view of the input's buffer (no copy): reshape of
//! row-contiguous data, transpose, broadcast, strided slices, `as_strided`; and `Copy`,
//! which makes any view row-contiguous.

use super::row_major;
use crate::array::{row_major_strides, Array, Data, Shape};
use crate::backend::cpu;
use crate::primitive::{same_shape, Batched, EvalContext, Primitive, TracedShapes};
use crate::transforms::vmap::{batch_size, to_front, with_batch};
use crate::{ops, Result};

/// `x` summed down to `shape`, which broadcasts to `x.shape()`: the transpose of a
/// broadcast (leading axes summed away, stretched axes of extent 1 summed and kept).
pub(crate) fn sum_to_shape(x: &Array, shape: &[usize]) -> Result<Array> {
    if x.shape() == shape {
        return Ok(x.clone());
    }
    let extra = x.ndim() - shape.len();
    let mut axes: Vec<isize> = (0..extra as isize).collect();
    for (i, &n) in shape.iter().enumerate() {
        if n == 1 && x.shape()[extra + i] != 1 {
            axes.push((extra + i) as isize);
        }
    }
    let s = if axes.is_empty() {
        x.clone()
    } else {
        ops::sum(x, &axes, true)?
    };
    s.reshape(shape)
}

/// Input 0 moved to batch axis 0, and the batch size.
fn front(inputs: &[Array], axes: &[Option<usize>]) -> Result<(Array, usize)> {
    let n = batch_size(inputs, axes);
    Ok((to_front(&inputs[0], axes[0], n)?, n))
}

/// A new shape for the same elements; copies only when the input is not row-contiguous.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Reshape;

/// For `compile(shapeless)`: the shape a reshape traced from `from` to `to` gives an input
/// of shape `now`, each axis keeping its role. The axes are split into groups whose
/// lengths multiply to the same number on both sides; a group of input axes that became
/// one axis (a flatten, a dropped unit axis) gives that axis their new product, one input
/// axis that became several of which all but one have length 1 (an added unit axis)
/// gives that one its new length, and any other group must keep its traced lengths.
/// `None` when the roles are ambiguous (or a length is 0).
pub(crate) fn reshaped(from: &[usize], to: &[usize], now: &[usize]) -> Option<Shape> {
    if from.contains(&0) || to.contains(&0) {
        return (from == now).then(|| to.to_vec());
    }
    let mut out = to.to_vec();
    let (mut i, mut j) = (0, 0);
    while i < from.len() || j < to.len() {
        // The next group: each side takes an axis (while it has one), then the side of
        // the smaller product takes more until the products agree.
        let (i0, j0) = (i, j);
        let (mut pf, mut pt) = (1usize, 1usize);
        if i < from.len() {
            pf *= from[i];
            i += 1;
        }
        if j < to.len() {
            pt *= to[j];
            j += 1;
        }
        while pf != pt {
            if pf < pt && i < from.len() {
                pf *= from[i];
                i += 1;
            } else if pt < pf && j < to.len() {
                pt *= to[j];
                j += 1;
            } else {
                return None;
            }
        }
        // Unit axes left at the end of both sides belong to the last group.
        if from[i..].iter().all(|&d| d == 1) && to[j..].iter().all(|&d| d == 1) {
            i = from.len();
            j = to.len();
        }
        let (f, t, n) = (&from[i0..i], &to[j0..j], &now[i0..i]);
        if f == n {
            continue;
        }
        if t.len() == 1 {
            out[j0] = n.iter().product();
        } else if f.len() == 1 && t.iter().filter(|&&d| d != 1).count() <= 1 {
            let k = t.iter().position(|&d| d != 1).unwrap_or(0);
            out[j0 + k] = n[0];
        } else {
            return None;
        }
    }
    Some(out)
}

impl Primitive for Reshape {
    crate::exportable!(Reshape);

    fn output_shapes(&self, inputs: &[&[usize]], traced: &TracedShapes) -> Option<Vec<Shape>> {
        Some(vec![reshaped(
            traced.inputs[0],
            traced.outputs[0],
            inputs[0],
        )?])
    }
    fn name(&self) -> &'static str {
        "Reshape"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let d = row_major(&inputs[0], inputs[0].dtype())?;
        Ok(vec![Data {
            strides: row_major_strides(&ctx.outputs[0].0),
            ..d
        }])
    }
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![cot[0].reshape(p[0].shape())?])
    }
    fn jvp(&self, _: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![tan[0].reshape(out[0].shape())?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let (x, n) = front(inputs, axes)?;
        Ok((
            vec![x.reshape(&with_batch(out[0].shape(), 0, n))?],
            vec![Some(0)],
        ))
    }
}

/// Permuted axes.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Transpose(pub Vec<usize>);

impl Primitive for Transpose {
    crate::exportable!(Transpose);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        Some(vec![self.0.iter().map(|&a| inputs[0][a]).collect()])
    }
    fn name(&self) -> &'static str {
        "Transpose"
    }
    fn eval_cpu(&self, inputs: &[Array], _: &mut EvalContext) -> Result<Vec<Data>> {
        let d = inputs[0].data()?;
        let strides = self.0.iter().map(|&a| d.strides[a]).collect();
        Ok(vec![Data { strides, ..d }])
    }
    fn vjp(&self, _: &[Array], cot: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let mut inverse = vec![0isize; self.0.len()];
        for (i, &a) in self.0.iter().enumerate() {
            inverse[a] = i as isize;
        }
        Ok(vec![ops::transpose(&cot[0], &inverse)?])
    }
    fn jvp(&self, _: &[Array], tan: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let perm: Vec<isize> = self.0.iter().map(|&a| a as isize).collect();
        Ok(vec![ops::transpose(&tan[0], &perm)?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let (x, _) = front(inputs, axes)?;
        let mut perm = vec![0isize];
        perm.extend(self.0.iter().map(|&a| a as isize + 1));
        Ok((vec![ops::transpose(&x, &perm)?], vec![Some(0)]))
    }
}

/// The input broadcast to the output shape: broadcast axes get stride 0.
///
/// (It has no `output_shapes`: its target may have come from any array's shape. A
/// shapeless `compile` recomputes it from the operands it was broadcast against.)
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Broadcast;

impl Primitive for Broadcast {
    crate::exportable!(Broadcast);

    fn name(&self) -> &'static str {
        "Broadcast"
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let d = inputs[0].data()?;
        let strides =
            cpu::strided::broadcast_strides(inputs[0].shape(), &d.strides, &ctx.outputs[0].0);
        Ok(vec![Data { strides, ..d }])
    }
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![sum_to_shape(&cot[0], p[0].shape())?])
    }
    fn jvp(&self, _: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::broadcast_to(&tan[0], out[0].shape())?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let (x, n) = front(inputs, axes)?;
        // Align the input's axes to the right of the output's, behind the batch axis.
        let mut shape = vec![n];
        // (Only called with the input batched: it is the one input.)
        let ones = (out[0].ndim() + 1).saturating_sub(inputs[0].ndim());
        shape.extend(std::iter::repeat_n(1, ones));
        shape.extend_from_slice(&x.shape()[1..]);
        let x = x.reshape(&shape)?;
        Ok((
            vec![ops::broadcast_to(&x, &with_batch(out[0].shape(), 0, n))?],
            vec![Some(0)],
        ))
    }
}

/// A strided slice: `start` and `step` per axis (step may be negative); the output
/// shape holds the extents.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Slice {
    pub start: Vec<usize>,
    pub step: Vec<isize>,
}

impl Primitive for Slice {
    crate::exportable!(Slice);

    fn output_shapes(&self, inputs: &[&[usize]], traced: &TracedShapes) -> Option<Vec<Shape>> {
        // An axis taken whole keeps following the input; a sliced one needs the input's
        // traced length (its bounds were resolved against it).
        let (from, to, now) = (traced.inputs[0], traced.outputs[0], inputs[0]);
        let mut out = to.to_vec();
        for d in 0..from.len() {
            let whole = self.start[d] == 0 && self.step[d] == 1 && to[d] == from[d];
            if whole {
                out[d] = now[d];
            } else if now[d] != from[d] {
                return None;
            }
        }
        Some(vec![out])
    }
    fn name(&self) -> &'static str {
        "Slice"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let d = inputs[0].data()?;
        if ctx.outputs[0].0.contains(&0) {
            return Ok(vec![Data::alloc(&ctx.outputs[0].0, ctx.outputs[0].1)?]);
        }
        let mut offset = d.offset as isize;
        for (ax, &s) in self.start.iter().enumerate() {
            offset += s as isize * d.strides[ax];
        }
        let strides = d
            .strides
            .iter()
            .zip(&self.step)
            .map(|(&s, &k)| s * k)
            .collect();
        Ok(vec![Data {
            offset: offset as usize,
            strides,
            buffer: d.buffer,
        }])
    }
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let zeros = ops::zeros_like(&p[0], None)?;
        let update = crate::primitives::indexing::SliceUpdate {
            start: self.start.clone(),
            step: self.step.clone(),
        };
        Ok(vec![Array::from_op(
            p[0].shape().to_vec(),
            p[0].dtype(),
            update,
            vec![zeros, ops::astype(&cot[0], p[0].dtype())?],
            ops::stream(),
        )])
    }
    fn jvp(&self, _: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let s = Slice {
            start: self.start.clone(),
            step: self.step.clone(),
        };
        let shape = out[0].shape().to_vec();
        Ok(vec![Array::from_op(
            shape,
            tan[0].dtype(),
            s,
            vec![tan[0].clone()],
            ops::stream(),
        )])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let (x, n) = front(inputs, axes)?;
        let mut start = vec![0];
        start.extend_from_slice(&self.start);
        let mut step = vec![1];
        step.extend_from_slice(&self.step);
        let shape = with_batch(out[0].shape(), 0, n);
        let o = Array::from_op(
            shape,
            x.dtype(),
            Slice { start, step },
            vec![x],
            ops::stream(),
        );
        Ok((vec![o], vec![Some(0)]))
    }
}

/// `as_strided`: explicit strides and offset over the row-contiguous input.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct AsStrided {
    pub strides: Vec<isize>,
    pub offset: usize,
}

impl Primitive for AsStrided {
    crate::exportable!(AsStrided);

    fn name(&self) -> &'static str {
        "AsStrided"
    }
    fn eval_cpu(&self, inputs: &[Array], _: &mut EvalContext) -> Result<Vec<Data>> {
        let d = row_major(&inputs[0], inputs[0].dtype())?;
        Ok(vec![Data {
            offset: d.offset + self.offset,
            strides: self.strides.clone(),
            buffer: d.buffer,
        }])
    }
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        // Each output element reads one input element (some read the same one): add the
        // cotangents into the positions they were read from.
        let n = p[0].size();
        let positions = ops::arange(0.0, n as f64, 1.0, Some(crate::Dtype::Int64))?;
        let read = ops::as_strided(&positions, out[0].shape(), &self.strides, self.offset)?;
        let m = out[0].size();
        let g = ops::scatter_add(
            &ops::zeros(&[n], Some(p[0].dtype()))?,
            &[read.reshape(&[m])?],
            &cot[0].reshape(&[m, 1])?,
            &[0],
        )?;
        Ok(vec![g.reshape(p[0].shape())?])
    }
    fn jvp(&self, _: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::as_strided(
            &tan[0],
            out[0].shape(),
            &self.strides,
            self.offset,
        )?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let (x, n) = front(inputs, axes)?;
        // Batch element b is the b-th row-major block of the (contiguous) input.
        let block = inputs[0].size() / n.max(1);
        let mut strides = vec![block as isize];
        strides.extend_from_slice(&self.strides);
        let shape = with_batch(out[0].shape(), 0, n);
        let prim = AsStrided {
            strides,
            offset: self.offset,
        };
        Ok((
            vec![Array::from_op(
                shape,
                x.dtype(),
                prim,
                vec![x],
                ops::stream(),
            )],
            vec![Some(0)],
        ))
    }
}

/// A row-contiguous copy.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Copy;

impl Primitive for Copy {
    crate::exportable!(Copy);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        same_shape(inputs, 1)
    }
    fn name(&self) -> &'static str {
        "Copy"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let d = inputs[0].data()?;
        let out = ctx.output(0, inputs, &[0])?;
        if out.buffer.as_ptr() != d.buffer.as_ptr() {
            cpu::copy::copy_cast(
                inputs[0].shape(),
                &d,
                inputs[0].dtype(),
                &out,
                inputs[0].dtype(),
            );
        }
        Ok(vec![out])
    }
    fn vjp(&self, _: &[Array], cot: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![cot[0].clone()])
    }
    fn jvp(&self, _: &[Array], tan: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![tan[0].clone()])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        Ok((vec![ops::contiguous(&inputs[0])?], axes.to_vec()))
    }
}

/// `stop_gradient`: the input unchanged (a view), through which the transforms do not
/// differentiate.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct StopGradient;

impl Primitive for StopGradient {
    crate::exportable!(StopGradient);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        same_shape(inputs, 1)
    }
    fn name(&self) -> &'static str {
        "StopGradient"
    }
    fn eval_cpu(&self, inputs: &[Array], _: &mut EvalContext) -> Result<Vec<Data>> {
        Ok(vec![inputs[0].data()?])
    }
    fn is_stop_gradient(&self) -> bool {
        true
    }
    fn vjp(&self, p: &[Array], _: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(&p[0], None)?])
    }
    fn jvp(&self, _: &[Array], _: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(&out[0], None)?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        Ok((vec![ops::stop_gradient(&inputs[0])?], axes.to_vec()))
    }
}

/// `depends`: its outputs are its first `n` inputs (the same buffers); evaluating them
/// evaluates the other inputs, the dependencies, first.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Depends {
    pub n: usize,
}

impl Primitive for Depends {
    crate::exportable!(Depends);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        Some(inputs[..self.n].iter().map(|s| s.to_vec()).collect())
    }
    fn name(&self) -> &'static str {
        "Depends"
    }
    fn eval_cpu(&self, inputs: &[Array], _: &mut EvalContext) -> Result<Vec<Data>> {
        inputs[..self.n].iter().map(|a| a.data()).collect()
    }
    // The outputs are the inputs: their cotangents pass through; dependencies get none.
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        argnums
            .iter()
            .map(|&i| {
                if i < self.n {
                    Ok(cot[i].clone())
                } else {
                    ops::zeros_like(&p[i], None)
                }
            })
            .collect()
    }
    fn jvp(
        &self,
        _: &[Array],
        tan: &[Array],
        argnums: &[usize],
        out: &[Array],
    ) -> Result<Vec<Array>> {
        (0..self.n)
            .map(|j| match argnums.iter().position(|&i| i == j) {
                Some(t) => Ok(tan[t].clone()),
                None => ops::zeros_like(&out[j], None),
            })
            .collect()
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let outputs = inputs[..self.n]
            .iter()
            .map(|a| (a.shape().to_vec(), a.dtype()))
            .collect();
        let arrays = Array::from_multi_op(outputs, self.clone(), inputs.to_vec(), ops::stream());
        Ok((arrays, axes[..self.n].to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::reshaped;

    #[test]
    fn a_reshape_keeps_each_axis_role_for_new_shapes() {
        // Flatten, squeeze and unsqueeze follow the new lengths.
        assert_eq!(reshaped(&[2, 3, 4], &[6, 4], &[5, 3, 4]), Some(vec![15, 4]));
        assert_eq!(reshaped(&[3, 1], &[3], &[7, 1]), Some(vec![7]));
        assert_eq!(reshaped(&[1, 4], &[4], &[1, 9]), Some(vec![9]));
        assert_eq!(reshaped(&[3, 4], &[1, 3, 4], &[5, 4]), Some(vec![1, 5, 4]));
        assert_eq!(reshaped(&[3, 4], &[3, 4, 1], &[3, 8]), Some(vec![3, 8, 1]));
        assert_eq!(reshaped(&[3, 1, 4], &[3, 4], &[2, 1, 4]), Some(vec![2, 4]));
        assert_eq!(reshaped(&[], &[1, 1], &[]), Some(vec![1, 1]));
        // A split of an axis that kept its length (attention heads) follows the others.
        assert_eq!(
            reshaped(&[2, 5, 8], &[2, 5, 2, 4], &[3, 7, 8]),
            Some(vec![3, 7, 2, 4])
        );
        // A split of an axis whose length changed, or a regrouping, is ambiguous.
        assert_eq!(reshaped(&[2, 5, 8], &[2, 5, 2, 4], &[2, 5, 6]), None);
        assert_eq!(reshaped(&[2, 3], &[3, 2], &[4, 3]), None);
        assert_eq!(reshaped(&[2, 3], &[3, 2], &[2, 3]), Some(vec![3, 2]));
        assert_eq!(reshaped(&[0, 3], &[3, 0], &[2, 3]), None);
    }
}
