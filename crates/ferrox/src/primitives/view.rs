//! Primitives whose output is a view of the input's buffer (no copy): reshape of
//! row-contiguous data, transpose, broadcast, strided slices, `as_strided`; and `Copy`,
//! which makes any view row-contiguous.

use crate::array::{row_major_strides, Array, Data};
use crate::backend::cpu;
use crate::primitive::{EvalContext, Primitive};
use crate::Result;

/// A row-contiguous copy of the input (a no-op view when it already is one).
fn contiguous(input: &Array) -> Result<Data> {
    let d = input.data()?;
    if d.is_row_contiguous(input.shape()) {
        return Ok(d);
    }
    let out = Data::alloc(input.shape(), input.dtype())?;
    cpu::copy::copy_cast(input.shape(), &d, input.dtype(), &out, input.dtype());
    Ok(out)
}

/// A new shape for the same elements; copies only when the input is not row-contiguous.
#[derive(Debug)]
pub struct Reshape;

impl Primitive for Reshape {
    fn name(&self) -> &'static str {
        "Reshape"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let d = contiguous(&inputs[0])?;
        Ok(vec![Data {
            strides: row_major_strides(&ctx.outputs[0].0),
            ..d
        }])
    }
}

/// Permuted axes.
#[derive(Debug)]
pub struct Transpose(pub Vec<usize>);

impl Primitive for Transpose {
    fn name(&self) -> &'static str {
        "Transpose"
    }
    fn eval_cpu(&self, inputs: &[Array], _: &mut EvalContext) -> Result<Vec<Data>> {
        let d = inputs[0].data()?;
        let strides = self.0.iter().map(|&a| d.strides[a]).collect();
        Ok(vec![Data { strides, ..d }])
    }
}

/// The input broadcast to the output shape: broadcast axes get stride 0.
#[derive(Debug)]
pub struct Broadcast;

impl Primitive for Broadcast {
    fn name(&self) -> &'static str {
        "Broadcast"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let d = inputs[0].data()?;
        let strides =
            cpu::strided::broadcast_strides(inputs[0].shape(), &d.strides, &ctx.outputs[0].0);
        Ok(vec![Data { strides, ..d }])
    }
}

/// A strided slice: `start` and `step` per axis (step may be negative); the output
/// shape holds the extents.
#[derive(Debug)]
pub struct Slice {
    pub start: Vec<usize>,
    pub step: Vec<isize>,
}

impl Primitive for Slice {
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
}

/// `as_strided`: explicit strides and offset over the row-contiguous input.
#[derive(Debug)]
pub struct AsStrided {
    pub strides: Vec<isize>,
    pub offset: usize,
}

impl Primitive for AsStrided {
    fn name(&self) -> &'static str {
        "AsStrided"
    }
    fn eval_cpu(&self, inputs: &[Array], _: &mut EvalContext) -> Result<Vec<Data>> {
        let d = contiguous(&inputs[0])?;
        Ok(vec![Data {
            offset: d.offset + self.offset,
            strides: self.strides.clone(),
            buffer: d.buffer,
        }])
    }
}

/// A row-contiguous copy.
#[derive(Debug)]
pub struct Copy;

impl Primitive for Copy {
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
}
