//! Primitives of the indexing family: `Concatenate`, `Gather` (take / take_along_axis),
//! `GatherNd` (MLX's general gather), `Scatter`, `MaskedScatter`, `SliceUpdate`, the
//! dynamic slices, and the views `Diagonal` and `BitCast`.
//! Argument checks and shape inference live in `ops/indexing.rs` and `ops/layout.rs`.

use crate::array::{row_major_strides, Array, Data};
use crate::backend::cpu::{self, indexing::ScatterReduce};
use crate::dtype::Dtype;
use crate::primitive::{EvalContext, Primitive};
use crate::Result;

/// The input's data, copied to a fresh row-contiguous buffer when it is not one.
fn contiguous(input: &Array) -> Result<Data> {
    let d = input.data()?;
    if d.is_row_contiguous(input.shape()) {
        return Ok(d);
    }
    let out = Data::alloc(input.shape(), input.dtype())?;
    cpu::copy::copy_cast(input.shape(), &d, input.dtype(), &out, input.dtype());
    Ok(out)
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
#[derive(Debug)]
pub struct Concatenate {
    pub axis: usize,
}

impl Primitive for Concatenate {
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
}

/// Gathers along `axis` of input 0 with the integer input 1.
///
/// `along_axis == false` is `take`: the output shape is
/// `a[..axis] ++ indices.shape ++ a[axis+1..]`. `along_axis == true` is
/// `take_along_axis`: indices have `a`'s rank, and both broadcast to the output shape
/// except along `axis`, where the output has the indices' extent.
#[derive(Debug)]
pub struct Gather {
    pub axis: usize,
    pub along_axis: bool,
}

impl Primitive for Gather {
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
}

/// MLX's general gather: input 0 read through the integer inputs 1.. (one per axis in
/// `axes`, all of one index shape), giving for each index position the window of extents
/// `slice_sizes`. The output shape is `index_shape ++ slice_sizes`.
#[derive(Debug)]
pub struct GatherNd {
    pub axes: Vec<usize>,
    pub slice_sizes: Vec<usize>,
}

impl Primitive for GatherNd {
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
}

/// A copy of input 0 where input 1 (a bool array of input 0's shape) is true, filled in
/// row-major order with the elements of input 2 (of input 0's dtype, any shape, read
/// row-major). Errors when input 2 has fewer elements than the mask has trues.
#[derive(Debug)]
pub struct MaskedScatter;

impl Primitive for MaskedScatter {
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
        let sd = contiguous(src)?;
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
}

/// A copy of input 0 with input 1 (the updates, of shape `index_shape ++ slice_shape`)
/// combined in at the positions given by inputs 2.. (one integer array per axis in
/// `axes`, all of `index_shape`).
#[derive(Debug)]
pub struct Scatter {
    pub axes: Vec<usize>,
    pub reduce: ScatterReduce,
}

impl Primitive for Scatter {
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
}

/// A copy of input 0 with the strided window `start`, `step` (of input 1's shape)
/// replaced by input 1.
#[derive(Debug)]
pub struct SliceUpdate {
    pub start: Vec<usize>,
    pub step: Vec<isize>,
}

impl Primitive for SliceUpdate {
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
}

/// A window of input 0 of the output's shape, starting on `axes` at the positions held
/// by input 1 (an integer array) and at 0 elsewhere. A view.
#[derive(Debug)]
pub struct DynamicSlice {
    pub axes: Vec<usize>,
}

impl Primitive for DynamicSlice {
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
}

/// A copy of input 0 with input 1 written at the window starting on `axes` at the
/// positions held by input 2 (and at 0 elsewhere).
#[derive(Debug)]
pub struct DynamicSliceUpdate {
    pub axes: Vec<usize>,
}

impl Primitive for DynamicSliceUpdate {
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
}

/// The diagonal `offset` of the plane `axis1`, `axis2`, as a last axis. A view.
#[derive(Debug)]
pub struct Diagonal {
    pub offset: isize,
    pub axis1: usize,
    pub axis2: usize,
}

impl Primitive for Diagonal {
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
}

/// The input's bytes read as the output dtype (`view`). A view when the item sizes
/// match or the data is row-contiguous at a suitably aligned offset; a copy otherwise.
/// Viewing as bool maps every nonzero byte to `true`: a Rust `bool` must be 0 or 1.
#[derive(Debug)]
pub struct BitCast;

impl Primitive for BitCast {
    fn name(&self) -> &'static str {
        "BitCast"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        let a = &inputs[0];
        let (isz, osz) = (a.dtype().size(), dtype.size());
        if dtype == Dtype::Bool && a.dtype() != Dtype::Bool {
            let c = contiguous(a)?;
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
        let c = contiguous(a)?;
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
}
