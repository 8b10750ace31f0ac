//! Primitives of the indexing family: `Concatenate`, `Gather` (take / take_along_axis),
//! `GatherNd` (MLX's general gather), `Scatter`, `MaskedScatter`, `SliceUpdate`, the
//! dynamic slices, and the views `Diagonal` and `BitCast`.
//! Argument checks and shape inference live in `ops/indexing.rs` and `ops/layout.rs`.

use super::row_major;
use crate::array::{row_major_strides, Array, Data};
use crate::backend::cpu::{self, indexing::ScatterReduce};
use crate::dtype::Dtype;
use crate::primitive::{not_implemented, tangent_or_zeros, Batched, EvalContext, Primitive};
use crate::transforms::vmap::{all_to_front, batch_size, by_loop, to_front, with_batch};
use crate::{ops, Error, Result};

/// A one-output op built from a primitive, for the rules.
fn build(
    shape: Vec<usize>,
    dtype: Dtype,
    prim: impl Primitive + 'static,
    inputs: Vec<Array>,
) -> Array {
    Array::from_op(shape, dtype, prim, inputs, ops::stream())
}

/// Zeros for each entry of `argnums` that carries no derivative (indices, starts).
fn zeros_for(primals: &[Array], i: usize) -> Result<Array> {
    ops::zeros_like(&primals[i], None)
}

/// The slices a scatter with `indices` (one per axis in `axes`, of one index shape `I`)
/// writes, read back from `x`: shape `I ++ slice`. Elements the scatter would skip (an
/// index out of range, or past the end of an axis) read as zero. The transpose of a
/// scatter-add of updates, built from integer arithmetic and one flat `take`.
fn gather_slices(x: &Array, indices: &[Array], axes: &[usize], slice: &[usize]) -> Result<Array> {
    let index_shape: Vec<usize> = indices.first().map_or(vec![], |i| i.shape().to_vec());
    let (k, nd) = (index_shape.len(), x.ndim());
    let mut linear = Array::scalar(0i64);
    let mut valid = Array::scalar(true);
    for d in 0..nd {
        let n = x.shape()[d] as i64;
        let mut s_shape = vec![1usize; k + nd];
        s_shape[k + d] = slice[d];
        let offsets =
            ops::arange(0.0, slice[d] as f64, 1.0, Some(Dtype::Int64))?.reshape(&s_shape)?;
        let pos = match axes.iter().position(|&a| a == d) {
            Some(j) => {
                let idx = ops::astype(&indices[j], Dtype::Int64)?;
                let idx = ops::where_(&ops::less(&idx, 0i64)?, &ops::add(&idx, n)?, &idx)?;
                valid = ops::logical_and(
                    &valid,
                    &ops::greater_equal(&idx, 0i64)?.reshape(&pad_to(&index_shape, nd))?,
                )?;
                ops::add(&idx.reshape(&pad_to(&index_shape, nd))?, &offsets)?
            }
            None => offsets,
        };
        valid = ops::logical_and(&valid, &ops::less(&pos, n)?)?;
        linear = ops::add(&ops::multiply(&linear, n)?, &pos)?;
    }
    let mut full = index_shape.clone();
    full.extend_from_slice(slice);
    let linear = ops::broadcast_to(&linear, &full)?;
    let flat = x.reshape(&[x.size()])?;
    let values = ops::take(&flat, &linear, Some(0))?;
    let zero = ops::zeros(&[], Some(x.dtype()))?;
    ops::where_(&valid, &values, &zero)
}

/// `shape` followed by `nd` ones.
fn pad_to(shape: &[usize], nd: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    s.extend(std::iter::repeat_n(1, nd));
    s
}

/// The cotangent of `take(a, idx, axis)` (or `take_along_axis` when `along_axis`) for
/// `a`: the cotangents added into the positions they were read from.
fn gather_vjp(a: &Array, idx: &Array, cot: &Array, axis: usize, along_axis: bool) -> Result<Array> {
    let zeros = ops::zeros_like(a, None)?;
    let nd = a.ndim();
    if along_axis {
        let out = cot.shape();
        let mut indices = Vec::with_capacity(nd);
        for d in 0..nd {
            if d == axis {
                indices.push(idx.clone());
            } else if a.shape()[d] == out[d] {
                let mut s = vec![1usize; nd];
                s[d] = out[d];
                indices
                    .push(ops::arange(0.0, out[d] as f64, 1.0, Some(Dtype::Int64))?.reshape(&s)?);
            } else {
                // `a` was broadcast along d: every output position reads position 0.
                indices.push(Array::scalar(0i64));
            }
        }
        let updates = cot.reshape(&pad_to(out, nd))?;
        let all: Vec<isize> = (0..nd as isize).collect();
        return ops::scatter_add(&zeros, &indices, &updates, &all);
    }
    let k = idx.ndim();
    // cot: a[..axis] ++ idx.shape ++ a[axis+1..] -> idx.shape ++ a[..axis] ++ [1] ++ a[axis+1..]
    let mut perm: Vec<isize> = (axis..axis + k).map(|i| i as isize).collect();
    perm.extend((0..axis).map(|i| i as isize));
    perm.extend((axis + k..cot.ndim()).map(|i| i as isize));
    let mut shape = idx.shape().to_vec();
    shape.extend_from_slice(a.shape());
    shape[k + axis] = 1;
    let updates = ops::transpose(cot, &perm)?.reshape(&shape)?;
    ops::scatter_add(
        &zeros,
        std::slice::from_ref(idx),
        &updates,
        &[axis as isize],
    )
}

/// A window of `out` (row-major, of `out_shape`) starting at `start` with steps `step`.
fn window(out: &Data, start: &[usize], step: &[isize]) -> Data {
    let offset: isize = start
        .iter()
        .zip(&out.strides)
        .map(|(&s, &st)| s as isize * st)
        .sum();
    Data {
        buffer: out.buffer.clone(),
        offset: (out.offset as isize + offset) as usize,
        // Wrapping: a step too large to multiply only occurs on an axis of extent 1,
        // where the stride is never used.
        strides: out
            .strides
            .iter()
            .zip(step)
            .map(|(&s, &k)| s.wrapping_mul(k))
            .collect(),
    }
}

/// The output buffer of an op that starts as a copy of input 0: input 0's own buffer
/// when it may be donated, else a fresh copy of it.
fn copy_of_first(inputs: &[Array], ctx: &mut EvalContext) -> Result<Data> {
    // Ask for the output first: holding input 0's data here would count as a reader of
    // its buffer and stop the donation.
    let out = ctx.output(0, inputs, &[0])?;
    let a = inputs[0].data()?;
    if out.buffer.as_ptr() != a.buffer.as_ptr() {
        cpu::copy::copy_cast(
            inputs[0].shape(),
            &a,
            inputs[0].dtype(),
            &out,
            ctx.outputs[0].1,
        );
    }
    Ok(out)
}

/// Start positions of a dynamic slice: wrapped like Python indices, then clamped so that
/// a window of `sizes[k]` along `axes[k]` fits (MLX does not check; clamping keeps every
/// read and write inside the array).
fn dynamic_starts(
    start: &Array,
    axes: &[usize],
    shape: &[usize],
    sizes: &[usize],
) -> Result<Vec<usize>> {
    let d = start.data()?;
    let raw = cpu::indexing::read_indices(start.shape(), &d, start.dtype());
    let mut starts = vec![0usize; shape.len()];
    for (k, &ax) in axes.iter().enumerate() {
        let n = shape[ax] as i64;
        let s = raw.get(k).copied().unwrap_or(0);
        let s = if s < 0 { s.saturating_add(n) } else { s };
        starts[ax] = s.clamp(0, (n - sizes[ax] as i64).max(0)) as usize;
    }
    Ok(starts)
}

/// Inputs joined along `axis`; each is cast to the output dtype as it is copied.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Concatenate {
    pub axis: usize,
}

impl Primitive for Concatenate {
    crate::exportable!(Concatenate);

    fn name(&self) -> &'static str {
        "Concatenate"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        let out = Data::alloc(&shape, dtype)?;
        let mut start = vec![0usize; shape.len()];
        let step = vec![1isize; shape.len()];
        for input in inputs {
            if input.size() > 0 {
                let d = input.data()?;
                let view = window(&out, &start, &step);
                cpu::indexing::copy_into(input.shape(), &d, input.dtype(), &view, dtype);
            }
            start[self.axis] += input.shape()[self.axis];
        }
        Ok(vec![out])
    }
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        let c = &cot[0];
        let mut offsets = vec![0isize];
        for x in p {
            offsets.push(offsets[offsets.len() - 1] + x.shape()[self.axis] as isize);
        }
        argnums
            .iter()
            .map(|&i| {
                let mut start = vec![0isize; c.ndim()];
                let mut stop: Vec<isize> = c.shape().iter().map(|&n| n as isize).collect();
                start[self.axis] = offsets[i];
                stop[self.axis] = offsets[i + 1];
                let piece = ops::slice(c, &start, &stop, &vec![1; c.ndim()])?;
                ops::astype(&piece, p[i].dtype())
            })
            .collect()
    }
    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        out: &[Array],
    ) -> Result<Vec<Array>> {
        let mut parts = Vec::with_capacity(p.len());
        for (i, x) in p.iter().enumerate() {
            parts.push(match argnums.iter().position(|&a| a == i) {
                Some(j) => tan[j].clone(),
                None => ops::zeros_like(x, Some(out[0].dtype()))?,
            });
        }
        Ok(vec![ops::concatenate(&parts, Some(self.axis as isize))?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let v = all_to_front(inputs, axes)?;
        Ok((
            vec![ops::concatenate(&v, Some(self.axis as isize + 1))?],
            vec![Some(0)],
        ))
    }
}

/// Gathers along `axis` of input 0 with the integer input 1.
///
/// `along_axis == false` is `take`: the output shape is
/// `a[..axis] ++ indices.shape ++ a[axis+1..]`. `along_axis == true` is
/// `take_along_axis`: indices have `a`'s rank, and both broadcast to the output shape
/// except along `axis`, where the output has the indices' extent.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Gather {
    pub axis: usize,
    pub along_axis: bool,
}

impl Primitive for Gather {
    crate::exportable!(Gather);

    fn name(&self) -> &'static str {
        "Gather"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (a, idx) = (&inputs[0], &inputs[1]);
        let (ad, id) = (a.data()?, idx.data()?);
        let (shape, dtype) = ctx.outputs[0].clone();
        let indices = cpu::indexing::read_indices(idx.shape(), &id, idx.dtype());
        let idx_rm = row_major_strides(idx.shape());
        let ax = self.axis;
        let (src_strides, idx_strides) = if self.along_axis {
            let src: Vec<isize> = (0..shape.len())
                .map(|d| {
                    if d == ax || a.shape()[d] == 1 {
                        0
                    } else {
                        ad.strides[d]
                    }
                })
                .collect();
            let ids = cpu::strided::broadcast_strides(idx.shape(), &idx_rm, &shape);
            (src, ids)
        } else {
            let k = idx.ndim();
            let mut src = ad.strides[..ax].to_vec();
            src.extend(std::iter::repeat_n(0, k));
            src.extend_from_slice(&ad.strides[ax + 1..]);
            let mut ids = vec![0isize; ax];
            ids.extend_from_slice(&idx_rm);
            ids.extend(std::iter::repeat_n(0, a.ndim() - ax - 1));
            (src, ids)
        };
        // The indices are read out before the kernel writes, so their buffer may be reused
        // (once our own handle on it is gone).
        drop(id);
        let out = ctx.output(0, inputs, &[1])?;
        crate::dispatch_dtype!(dtype, T => cpu::indexing::gather::<T>(
            &shape,
            &ad,
            &src_strides,
            ad.strides[ax],
            a.shape()[ax],
            &indices,
            &idx_strides,
            &out,
        ));
        Ok(vec![out])
    }
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        argnums
            .iter()
            .map(|&i| match i {
                0 => gather_vjp(&p[0], &p[1], &cot[0], self.axis, self.along_axis),
                _ => zeros_for(p, i),
            })
            .collect()
    }
    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        out: &[Array],
    ) -> Result<Vec<Array>> {
        let o = &out[0];
        match argnums.iter().position(|&a| a == 0) {
            Some(j) => {
                let prim = Gather {
                    axis: self.axis,
                    along_axis: self.along_axis,
                };
                Ok(vec![build(
                    o.shape().to_vec(),
                    o.dtype(),
                    prim,
                    vec![tan[j].clone(), p[1].clone()],
                )])
            }
            None => Ok(vec![ops::zeros_like(o, None)?]),
        }
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let (a, idx) = (&inputs[0], &inputs[1]);
        let n = batch_size(inputs, axes);
        let ax = self.axis as isize;
        let r = match (axes[0], axes[1], self.along_axis) {
            (Some(_), None, false) => (ops::take(&to_front(a, axes[0], n)?, idx, Some(ax + 1))?, 0),
            // The index axes land where the gathered axis was: so does the batch axis.
            (None, Some(_), false) => (
                ops::take(a, &to_front(idx, axes[1], n)?, Some(ax))?,
                self.axis,
            ),
            (_, _, false) => {
                // Each batch element gathers with its own indices: a gather along the axis
                // with the index axes flattened into it.
                let (a, idx) = (to_front(a, axes[0], n)?, to_front(idx, axes[1], n)?);
                let m = idx.size() / n.max(1);
                let mut s = vec![1usize; a.ndim()];
                s[0] = n;
                s[self.axis + 1] = m;
                let g = ops::take_along_axis(&a, &idx.reshape(&s)?, Some(ax + 1))?;
                (g.reshape(&with_batch(out[0].shape(), 0, n))?, 0)
            }
            (_, _, true) => {
                // Indices broadcast with the array off the axis: a missing batch axis is
                // an axis of extent 1.
                let lift = |x: &Array, b: Option<usize>| match b {
                    Some(b) => ops::moveaxis(x, b as isize, 0),
                    None => ops::expand_dims(x, &[0]),
                };
                let g =
                    ops::take_along_axis(&lift(a, axes[0])?, &lift(idx, axes[1])?, Some(ax + 1))?;
                (g, 0)
            }
        };
        Ok((vec![r.0], vec![Some(r.1)]))
    }
}

/// MLX's general gather: input 0 read through the integer inputs 1.. (one per axis in
/// `axes`, all of one index shape), giving for each index position the window of extents
/// `slice_sizes`. The output shape is `index_shape ++ slice_sizes`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct GatherNd {
    pub axes: Vec<usize>,
    pub slice_sizes: Vec<usize>,
}

impl Primitive for GatherNd {
    crate::exportable!(GatherNd);

    fn name(&self) -> &'static str {
        "GatherNd"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        let a = &inputs[0];
        let mut indices = Vec::with_capacity(self.axes.len());
        for ix in &inputs[1..] {
            indices.push(cpu::indexing::read_indices(
                ix.shape(),
                &ix.data()?,
                ix.dtype(),
            ));
        }
        let ad = a.data()?;
        let out = ctx.output(0, inputs, &[])?;
        crate::dispatch_dtype!(dtype, T => cpu::indexing::gather_nd::<T>(
            &ad,
            a.shape(),
            &indices,
            &self.axes,
            &self.slice_sizes,
            &shape,
            &out,
        ));
        Ok(vec![out])
    }
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        // The transpose of a gather is a scatter-add of the windows to where they came
        // from. A window that does not fit read zeros, so it gets no gradient: its index
        // is moved past the end, where the scatter skips it (rather than clip it).
        argnums
            .iter()
            .map(|&i| match i {
                0 => {
                    let mut inputs = vec![ops::zeros_like(&p[0], None)?, cot[0].clone()];
                    inputs.extend(self.fitting_indices(p[0].shape(), &p[1..])?);
                    let prim = Scatter {
                        axes: self.axes.clone(),
                        reduce: ScatterReduce::Sum,
                    };
                    Ok(build(p[0].shape().to_vec(), p[0].dtype(), prim, inputs))
                }
                _ => zeros_for(p, i),
            })
            .collect()
    }
    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        out: &[Array],
    ) -> Result<Vec<Array>> {
        let o = &out[0];
        match argnums.iter().position(|&a| a == 0) {
            Some(j) => {
                let mut inputs = vec![tan[j].clone()];
                inputs.extend_from_slice(&p[1..]);
                let prim = GatherNd {
                    axes: self.axes.clone(),
                    slice_sizes: self.slice_sizes.clone(),
                };
                Ok(vec![build(o.shape().to_vec(), o.dtype(), prim, inputs)])
            }
            None => Ok(vec![ops::zeros_like(o, None)?]),
        }
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let n = batch_size(inputs, axes);
        let a = to_front(&inputs[0], axes[0], n)?;
        let mut new_axes: Vec<usize> = self.axes.iter().map(|&x| x + 1).collect();
        let mut sizes = vec![n];
        sizes.extend_from_slice(&self.slice_sizes);
        let k = out[0].ndim() - self.slice_sizes.len();
        if axes[1..].iter().all(Option::is_none) {
            // Shared indices: the batch is one more axis of every window, landing after
            // the index axes.
            let prim = GatherNd {
                axes: new_axes,
                slice_sizes: sizes,
            };
            let shape = with_batch(out[0].shape(), k, n);
            let g = build(shape, a.dtype(), prim, [&[a], &inputs[1..]].concat());
            return Ok((vec![g], vec![Some(k)]));
        }
        // Per-element indices: the batch position becomes one more index, so element `b`
        // reads only from batch `b` of the array.
        let mut idx: Vec<Array> = inputs[1..]
            .iter()
            .zip(&axes[1..])
            .map(|(x, &ax)| to_front(x, ax, n))
            .collect::<Result<_>>()?;
        let index_shape = idx[0].shape().to_vec();
        let mut s = vec![1usize; index_shape.len()];
        s[0] = n;
        let positions = ops::arange(0.0, n as f64, 1.0, Some(Dtype::Int64))?.reshape(&s)?;
        idx.insert(0, ops::broadcast_to(&positions, &index_shape)?);
        new_axes.insert(0, 0);
        sizes[0] = 1;
        let mut shape = index_shape;
        shape.extend_from_slice(&sizes);
        let prim = GatherNd {
            axes: new_axes,
            slice_sizes: sizes,
        };
        let g = build(shape, a.dtype(), prim, [&[a], &idx[..]].concat());
        let g = ops::squeeze(&g, &[k as isize + 1])?;
        Ok((vec![g], vec![Some(0)]))
    }
}

impl GatherNd {
    /// `indices` with every window that does not fit inside `shape` aimed past the end.
    fn fitting_indices(&self, shape: &[usize], indices: &[Array]) -> Result<Vec<Array>> {
        let mut fits = Array::scalar(true);
        for (ix, &ax) in indices.iter().zip(&self.axes) {
            let (n, size) = (shape[ax] as i64, self.slice_sizes[ax] as i64);
            let ix = ops::astype(ix, Dtype::Int64)?;
            let j = ops::where_(&ops::less(&ix, 0i64)?, &ops::add(&ix, n)?, &ix)?;
            let ok = ops::logical_and(
                &ops::greater_equal(&j, 0i64)?,
                &ops::less_equal(&j, n - size)?,
            )?;
            fits = ops::logical_and(&fits, &ok)?;
        }
        indices
            .iter()
            .zip(&self.axes)
            .map(|(ix, &ax)| ops::where_(&fits, &ops::astype(ix, Dtype::Int64)?, shape[ax] as i64))
            .collect()
    }
}

/// A copy of input 0 where input 1 (a bool array of input 0's shape) is true, filled in
/// row-major order with the elements of input 2 (of input 0's dtype, any shape, read
/// row-major). Errors when input 2 has fewer elements than the mask has trues.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct MaskedScatter;

impl Primitive for MaskedScatter {
    crate::exportable!(MaskedScatter);

    fn name(&self) -> &'static str {
        "MaskedScatter"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        let (mask, src) = (&inputs[1], &inputs[2]);
        let md = mask.data()?;
        if cpu::indexing::count_true(&shape, &md) > src.size() {
            return Err(crate::Error::Runtime(
                "[MaskedScatter::eval_cpu] Source does not have enough elements for mask.".into(),
            ));
        }
        let sd = row_major(src, src.dtype())?;
        let out = copy_of_first(inputs, ctx)?;
        crate::dispatch_dtype!(dtype, T => {
            // SAFETY: `sd` is row-contiguous with `src.size()` elements of `T` (the op casts
            // the source to the output dtype).
            let values: &[T] = if src.size() == 0 {
                &[]
            } else {
                unsafe { sd.as_slice::<T>(src.size()) }
            };
            cpu::indexing::masked_scatter::<T>(&shape, &md, values, &out)
        });
        Ok(vec![out])
    }
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        let (mask, src, c) = (&p[1], &p[2], &cot[0]);
        argnums
            .iter()
            .map(|&i| match i {
                // Positions the mask overwrote take nothing from the array.
                0 => ops::where_(mask, &ops::zeros(&[], Some(c.dtype()))?, c),
                // The j-th true position of the mask (row-major) came from source element
                // j: a scatter-add of the cotangent to the ranks of the trues, where every
                // false position aims past the end (and is skipped).
                2 => {
                    let m = src.size();
                    let flat_mask = mask.reshape(&[mask.size()])?;
                    let rank = ops::cumsum(&flat_mask, Some(0), false, false, Some(Dtype::Int64))?;
                    let index = ops::where_(&flat_mask, &rank, m as i64)?;
                    let updates = c.reshape(&[c.size(), 1])?;
                    let prim = Scatter {
                        axes: vec![0],
                        reduce: ScatterReduce::Sum,
                    };
                    let zeros = ops::zeros(&[m], Some(src.dtype()))?;
                    build(vec![m], src.dtype(), prim, vec![zeros, updates, index])
                        .reshape(src.shape())
                }
                _ => zeros_for(p, i),
            })
            .collect()
    }
    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        out: &[Array],
    ) -> Result<Vec<Array>> {
        let tangent = |i: usize| tangent_or_zeros(p, tan, argnums, i);
        let o = &out[0];
        let inputs = vec![tangent(0)?, p[1].clone(), tangent(2)?];
        Ok(vec![build(
            o.shape().to_vec(),
            o.dtype(),
            MaskedScatter,
            inputs,
        )])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        // Each batch element fills from its own source from the start, and how much of it
        // an element uses depends on its mask's values: one masked scatter per element.
        by_loop(inputs, axes, |x| {
            Ok(vec![build(
                x[0].shape().to_vec(),
                x[0].dtype(),
                MaskedScatter,
                x.to_vec(),
            )])
        })
    }
}

/// A copy of input 0 with input 1 (the updates, of shape `index_shape ++ slice_shape`)
/// combined in at the positions given by inputs 2.. (one integer array per axis in
/// `axes`, all of `index_shape`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Scatter {
    pub axes: Vec<usize>,
    pub reduce: ScatterReduce,
}

impl Primitive for Scatter {
    crate::exportable!(Scatter);

    fn name(&self) -> &'static str {
        "Scatter"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        let upd = &inputs[1];
        let k = upd.ndim() - shape.len();
        let index_shape = &upd.shape()[..k];
        let mut indices = Vec::with_capacity(self.axes.len());
        for ix in &inputs[2..] {
            indices.push(cpu::indexing::read_indices(
                ix.shape(),
                &ix.data()?,
                ix.dtype(),
            ));
        }
        let ud = upd.data()?;
        let out = copy_of_first(inputs, ctx)?;
        crate::dispatch_dtype!(dtype, T => cpu::indexing::scatter::<T>(
            &out,
            &shape,
            &indices,
            &self.axes,
            index_shape,
            &ud,
            &upd.shape()[k..],
            self.reduce,
        ));
        Ok(vec![out])
    }
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        out: &[Array],
    ) -> Result<Vec<Array>> {
        let (a, upd, idx, c) = (&p[0], &p[1], &p[2..], &cot[0]);
        let slice = &upd.shape()[upd.ndim() - a.ndim()..];
        let gather = |x: &Array| gather_slices(x, idx, &self.axes, slice);
        let zero = || ops::zeros(&[], Some(c.dtype()));
        argnums
            .iter()
            .map(|&i| match (self.reduce, i) {
                (_, 2..) => zeros_for(p, i),
                (ScatterReduce::Prod, _) => Err(Error::Invalid(
                    "[scatter_prod] vjp is not implemented (as in MLX).".into(),
                )),
                // Overwritten positions take nothing from `a`.
                (ScatterReduce::None, 0) => {
                    let mut inputs = vec![c.clone(), ops::zeros_like(upd, None)?];
                    inputs.extend_from_slice(idx);
                    let prim = Scatter {
                        axes: self.axes.clone(),
                        reduce: ScatterReduce::None,
                    };
                    Ok(build(a.shape().to_vec(), a.dtype(), prim, inputs))
                }
                (ScatterReduce::None | ScatterReduce::Sum, _) => {
                    if i == 0 {
                        Ok(c.clone())
                    } else {
                        gather(c)
                    }
                }
                // max/min: the derivative goes where the result came from.
                (_, 0) => ops::where_(&ops::equal(&out[0], a)?, c, &zero()?),
                (_, _) => ops::where_(&ops::equal(&gather(&out[0])?, upd)?, &gather(c)?, &zero()?),
            })
            .collect()
    }
    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        out: &[Array],
    ) -> Result<Vec<Array>> {
        let (a, upd, idx, o) = (&p[0], &p[1], &p[2..], &out[0]);
        let tangent = |i: usize| tangent_or_zeros(p, tan, argnums, i);
        let (ta, tu) = (tangent(0)?, tangent(1)?);
        let scatter = |reduce, base: Array, u: Array| {
            let mut inputs = vec![base, u];
            inputs.extend_from_slice(idx);
            build(
                a.shape().to_vec(),
                a.dtype(),
                Scatter {
                    axes: self.axes.clone(),
                    reduce,
                },
                inputs,
            )
        };
        match self.reduce {
            ScatterReduce::None | ScatterReduce::Sum => Ok(vec![scatter(self.reduce, ta, tu)]),
            ScatterReduce::Prod => Err(not_implemented("scatter_prod", "jvp")),
            ScatterReduce::Max | ScatterReduce::Min => {
                let slice = &upd.shape()[upd.ndim() - a.ndim()..];
                let zero = ops::zeros(&[], Some(o.dtype()))?;
                let from_a = ops::where_(&ops::equal(o, a)?, &ta, &zero)?;
                let won = ops::equal(&gather_slices(o, idx, &self.axes, slice)?, upd)?;
                let from_u = ops::where_(&won, &tu, &zero)?;
                let base = ops::zeros_like(a, None)?;
                Ok(vec![ops::add(
                    &from_a,
                    &scatter(ScatterReduce::Sum, base, from_u),
                )?])
            }
        }
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        // A scatter over one more axis (the batch), indexed by the batch position.
        let n = batch_size(inputs, axes);
        let v = all_to_front(inputs, axes)?;
        let (a, upd) = (&v[0], &v[1]);
        let k = upd.ndim() - a.ndim();
        let index_shape = upd.shape()[..k + 1].to_vec();
        let mut ushape = index_shape.clone();
        ushape.push(1);
        ushape.extend_from_slice(&upd.shape()[k + 1..]);
        let mut bshape = vec![1usize; k + 1];
        bshape[0] = n;
        let positions = ops::arange(0.0, n as f64, 1.0, Some(Dtype::Int64))?.reshape(&bshape)?;
        let mut new_inputs = vec![a.clone(), upd.reshape(&ushape)?];
        new_inputs.push(ops::broadcast_to(&positions, &index_shape)?);
        new_inputs.extend_from_slice(&v[2..]);
        let mut new_axes = vec![0];
        new_axes.extend(self.axes.iter().map(|&x| x + 1));
        let prim = Scatter {
            axes: new_axes,
            reduce: self.reduce,
        };
        Ok((
            vec![build(a.shape().to_vec(), a.dtype(), prim, new_inputs)],
            vec![Some(0)],
        ))
    }
}

/// A copy of input 0 with the strided window `start`, `step` (of input 1's shape)
/// replaced by input 1.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SliceUpdate {
    pub start: Vec<usize>,
    pub step: Vec<isize>,
}

impl Primitive for SliceUpdate {
    crate::exportable!(SliceUpdate);

    fn name(&self) -> &'static str {
        "SliceUpdate"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let upd = &inputs[1];
        let ud = upd.data()?;
        let out = copy_of_first(inputs, ctx)?;
        if upd.size() > 0 {
            let view = window(&out, &self.start, &self.step);
            cpu::indexing::copy_into(upd.shape(), &ud, upd.dtype(), &view, ctx.outputs[0].1);
        }
        Ok(vec![out])
    }
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        let (a, upd, c) = (&p[0], &p[1], &cot[0]);
        argnums
            .iter()
            .map(|&i| {
                if i == 0 {
                    let z = ops::zeros_like(upd, Some(c.dtype()))?;
                    Ok(build(
                        a.shape().to_vec(),
                        c.dtype(),
                        self.same(),
                        vec![c.clone(), z],
                    ))
                } else {
                    let s = crate::primitives::view::Slice {
                        start: self.start.clone(),
                        step: self.step.clone(),
                    };
                    ops::astype(
                        &build(upd.shape().to_vec(), c.dtype(), s, vec![c.clone()]),
                        upd.dtype(),
                    )
                }
            })
            .collect()
    }
    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        out: &[Array],
    ) -> Result<Vec<Array>> {
        let t = |i: usize| tangent_or_zeros(p, tan, argnums, i);
        let o = &out[0];
        Ok(vec![build(
            o.shape().to_vec(),
            o.dtype(),
            self.same(),
            vec![t(0)?, t(1)?],
        )])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let n = batch_size(inputs, axes);
        let v = all_to_front(inputs, axes)?;
        let mut start = vec![0];
        start.extend_from_slice(&self.start);
        let mut step = vec![1];
        step.extend_from_slice(&self.step);
        let shape = with_batch(out[0].shape(), 0, n);
        Ok((
            vec![build(shape, out[0].dtype(), SliceUpdate { start, step }, v)],
            vec![Some(0)],
        ))
    }
}

impl SliceUpdate {
    fn same(&self) -> SliceUpdate {
        SliceUpdate {
            start: self.start.clone(),
            step: self.step.clone(),
        }
    }
}

/// A window of input 0 of the output's shape, starting on `axes` at the positions held
/// by input 1 (an integer array) and at 0 elsewhere. A view.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DynamicSlice {
    pub axes: Vec<usize>,
}

impl Primitive for DynamicSlice {
    crate::exportable!(DynamicSlice);

    fn name(&self) -> &'static str {
        "DynamicSlice"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        if shape.contains(&0) {
            return Ok(vec![Data::alloc(&shape, dtype)?]);
        }
        let starts = dynamic_starts(&inputs[1], &self.axes, inputs[0].shape(), &shape)?;
        let d = inputs[0].data()?;
        let step = vec![1isize; shape.len()];
        Ok(vec![window(&d, &starts, &step)])
    }
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        argnums
            .iter()
            .map(|&i| match i {
                0 => {
                    let prim = DynamicSliceUpdate {
                        axes: self.axes.clone(),
                    };
                    let z = ops::zeros_like(&p[0], None)?;
                    Ok(build(
                        p[0].shape().to_vec(),
                        p[0].dtype(),
                        prim,
                        vec![z, cot[0].clone(), p[1].clone()],
                    ))
                }
                _ => zeros_for(p, i),
            })
            .collect()
    }
    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        out: &[Array],
    ) -> Result<Vec<Array>> {
        let o = &out[0];
        match argnums.iter().position(|&a| a == 0) {
            Some(j) => {
                let prim = DynamicSlice {
                    axes: self.axes.clone(),
                };
                Ok(vec![build(
                    o.shape().to_vec(),
                    o.dtype(),
                    prim,
                    vec![tan[j].clone(), p[1].clone()],
                )])
            }
            None => Ok(vec![ops::zeros_like(o, None)?]),
        }
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        if axes[1].is_some() {
            // A start per batch element: one window each.
            let (axes_, shape) = (self.axes.clone(), out[0].shape().to_vec());
            return by_loop(inputs, axes, move |x| {
                let prim = DynamicSlice {
                    axes: axes_.clone(),
                };
                Ok(vec![build(shape.clone(), x[0].dtype(), prim, x.to_vec())])
            });
        }
        let n = batch_size(inputs, axes);
        let a = to_front(&inputs[0], axes[0], n)?;
        let prim = DynamicSlice {
            axes: self.axes.iter().map(|&x| x + 1).collect(),
        };
        let shape = with_batch(out[0].shape(), 0, n);
        Ok((
            vec![build(shape, a.dtype(), prim, vec![a, inputs[1].clone()])],
            vec![Some(0)],
        ))
    }
}

/// A copy of input 0 with input 1 written at the window starting on `axes` at the
/// positions held by input 2 (and at 0 elsewhere).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DynamicSliceUpdate {
    pub axes: Vec<usize>,
}

impl Primitive for DynamicSliceUpdate {
    crate::exportable!(DynamicSliceUpdate);

    fn name(&self) -> &'static str {
        "DynamicSliceUpdate"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let upd = &inputs[1];
        let starts = dynamic_starts(&inputs[2], &self.axes, inputs[0].shape(), upd.shape())?;
        let ud = upd.data()?;
        let out = copy_of_first(inputs, ctx)?;
        if upd.size() > 0 {
            let step = vec![1isize; starts.len()];
            let view = window(&out, &starts, &step);
            cpu::indexing::copy_into(upd.shape(), &ud, upd.dtype(), &view, ctx.outputs[0].1);
        }
        Ok(vec![out])
    }
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        let (a, upd, start, c) = (&p[0], &p[1], &p[2], &cot[0]);
        argnums
            .iter()
            .map(|&i| match i {
                0 => {
                    let z = ops::zeros_like(upd, Some(c.dtype()))?;
                    let prim = DynamicSliceUpdate {
                        axes: self.axes.clone(),
                    };
                    Ok(build(
                        a.shape().to_vec(),
                        c.dtype(),
                        prim,
                        vec![c.clone(), z, start.clone()],
                    ))
                }
                1 => {
                    let prim = DynamicSlice {
                        axes: self.axes.clone(),
                    };
                    let s = build(
                        upd.shape().to_vec(),
                        c.dtype(),
                        prim,
                        vec![c.clone(), start.clone()],
                    );
                    ops::astype(&s, upd.dtype())
                }
                _ => zeros_for(p, i),
            })
            .collect()
    }
    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        out: &[Array],
    ) -> Result<Vec<Array>> {
        let t = |i: usize| tangent_or_zeros(p, tan, argnums, i);
        let o = &out[0];
        let prim = DynamicSliceUpdate {
            axes: self.axes.clone(),
        };
        Ok(vec![build(
            o.shape().to_vec(),
            o.dtype(),
            prim,
            vec![t(0)?, t(1)?, p[2].clone()],
        )])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        if axes[2].is_some() {
            let (axes_, shape) = (self.axes.clone(), out[0].shape().to_vec());
            return by_loop(inputs, axes, move |x| {
                let prim = DynamicSliceUpdate {
                    axes: axes_.clone(),
                };
                Ok(vec![build(shape.clone(), x[0].dtype(), prim, x.to_vec())])
            });
        }
        let n = batch_size(inputs, axes);
        let a = to_front(&inputs[0], axes[0], n)?;
        let u = to_front(&inputs[1], axes[1], n)?;
        let prim = DynamicSliceUpdate {
            axes: self.axes.iter().map(|&x| x + 1).collect(),
        };
        let shape = with_batch(out[0].shape(), 0, n);
        Ok((
            vec![build(shape, a.dtype(), prim, vec![a, u, inputs[2].clone()])],
            vec![Some(0)],
        ))
    }
}

/// The diagonal `offset` of the plane `axis1`, `axis2`, as a last axis. A view.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Diagonal {
    pub offset: isize,
    pub axis1: usize,
    pub axis2: usize,
}

impl Primitive for Diagonal {
    crate::exportable!(Diagonal);

    fn name(&self) -> &'static str {
        "Diagonal"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        if shape.contains(&0) {
            return Ok(vec![Data::alloc(&shape, dtype)?]);
        }
        let d = inputs[0].data()?;
        let (s1, s2) = (d.strides[self.axis1], d.strides[self.axis2]);
        let mut strides: Vec<isize> = (0..d.strides.len())
            .filter(|&i| i != self.axis1 && i != self.axis2)
            .map(|i| d.strides[i])
            .collect();
        strides.push(s1 + s2);
        let start = if self.offset >= 0 {
            self.offset * s2
        } else {
            -self.offset * s1
        };
        Ok(vec![Data {
            offset: (d.offset as isize + start) as usize,
            strides,
            buffer: d.buffer,
        }])
    }
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        // Add the cotangent (other axes ++ [len]) back onto the diagonal positions.
        let (a, c) = (&p[0], &cot[0]);
        let len = c.shape()[c.ndim() - 1];
        let (r0, c0) = if self.offset >= 0 {
            (0, self.offset as usize)
        } else {
            (self.offset.unsigned_abs(), 0)
        };
        let range =
            |first: usize| ops::arange(first as f64, (first + len) as f64, 1.0, Some(Dtype::Int64));
        let mut shape = vec![len];
        shape.extend(a.shape().iter().enumerate().map(|(d, &n)| {
            if d == self.axis1 || d == self.axis2 {
                1
            } else {
                n
            }
        }));
        let updates = ops::moveaxis(c, -1, 0)?.reshape(&shape)?;
        let g = ops::scatter_add(
            &ops::zeros_like(a, None)?,
            &[range(r0)?, range(c0)?],
            &updates,
            &[self.axis1 as isize, self.axis2 as isize],
        )?;
        Ok(vec![g])
    }
    fn jvp(&self, _: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let o = &out[0];
        let prim = Diagonal {
            offset: self.offset,
            axis1: self.axis1,
            axis2: self.axis2,
        };
        Ok(vec![build(
            o.shape().to_vec(),
            o.dtype(),
            prim,
            vec![tan[0].clone()],
        )])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let n = batch_size(inputs, axes);
        let a = to_front(&inputs[0], axes[0], n)?;
        let prim = Diagonal {
            offset: self.offset,
            axis1: self.axis1 + 1,
            axis2: self.axis2 + 1,
        };
        let shape = with_batch(out[0].shape(), 0, n);
        Ok((vec![build(shape, a.dtype(), prim, vec![a])], vec![Some(0)]))
    }
}

/// The input's bytes read as the output dtype (`view`). A view when the item sizes
/// match or the data is row-contiguous at a suitably aligned offset; a copy otherwise.
/// Viewing as bool maps every nonzero byte to `true`: a Rust `bool` must be 0 or 1.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct BitCast;

impl Primitive for BitCast {
    crate::exportable!(BitCast);

    fn name(&self) -> &'static str {
        "BitCast"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        let a = &inputs[0];
        let (isz, osz) = (a.dtype().size(), dtype.size());
        if dtype == Dtype::Bool && a.dtype() != Dtype::Bool {
            let c = row_major(a, a.dtype())?;
            let out = Data::alloc(&shape, dtype)?;
            let n = a.size() * isz;
            // SAFETY: `c` is row-contiguous with `a.size()` elements of `isz` bytes each,
            // and `out` holds exactly `n` one-byte bools.
            unsafe {
                let src = std::slice::from_raw_parts(c.buffer.as_ptr().add(c.offset * isz), n);
                let dst = out.as_mut_slice::<u8>(n);
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = (s != 0) as u8;
                }
            }
            return Ok(vec![out]);
        }
        if isz == osz {
            return Ok(vec![a.data()?]);
        }
        let c = row_major(a, a.dtype())?;
        if (c.offset * isz) % osz == 0 {
            return Ok(vec![Data {
                offset: c.offset * isz / osz,
                strides: row_major_strides(&shape),
                buffer: c.buffer,
            }]);
        }
        let out = Data::alloc(&shape, dtype)?;
        let n = a.size() * isz;
        // SAFETY: both regions hold `n` bytes and belong to different buffers.
        unsafe {
            std::ptr::copy_nonoverlapping(
                c.buffer.as_ptr().add(c.offset * isz),
                out.buffer.as_ptr(),
                n,
            );
        }
        Ok(vec![out])
    }
    // Reinterpreting bits has no derivative: MLX does not differentiate `view` either.
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let n = batch_size(inputs, axes);
        let a = to_front(&inputs[0], axes[0], n)?;
        Ok((vec![ops::view(&a, out[0].dtype())?], vec![Some(0)]))
    }
}
