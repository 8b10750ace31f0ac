//! The random family: `RandomBits` (threefry2x32 counter-mode bits, MLX's layout), and
//! the private helpers `ops::random` builds its distributions from so that they give
//! MLX's numbers bit for bit: MLX's float32 `erf`/`erfinv` approximations, a stable
//! argsort of bits, a gather along one axis and a symmetric matrix square root.

use crate::array::{Array, Data};
use crate::backend::cpu::random as kernels;
use crate::dtype::Dtype;
use crate::primitive::{EvalContext, Primitive};
use crate::{Error, Result};

/// Reads a key (`uint32`, shape `[2]`, any strides) from an evaluated array.
fn read_key(key: &Array) -> Result<[u32; 2]> {
    let d = key.data()?;
    let s = d.strides.first().copied().unwrap_or(1);
    // SAFETY: the op layer checked shape [2] and dtype uint32; offsets follow the view.
    unsafe {
        let p = d.ptr::<u32>();
        Ok([*p, *p.offset(s)])
    }
}

/// Random bits for one key: `width` bytes per element (1, 2 or 4), output dtype
/// uint8/uint16/uint32, laid out as MLX's `RandomBits` lays them out.
#[derive(Debug)]
pub struct RandomBits {
    pub width: usize,
}

impl Primitive for RandomBits {
    fn name(&self) -> &'static str {
        "RandomBits"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let key = read_key(&inputs[0])?;
        let (shape, dtype) = &ctx.outputs[0];
        let out = Data::alloc(shape, *dtype)?;
        let n: usize = shape.iter().product();
        kernels::random_bits(key, &out, n * self.width);
        Ok(vec![out])
    }
}

/// A special function computed with MLX's CPU float32 approximation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MlxSpecialOp {
    Erf,
    Erfinv,
}

/// `erf`/`erfinv` exactly as MLX's CPU backend computes them (in f32 for every float
/// type), which the sampling code needs to reproduce MLX's samples.
#[derive(Debug)]
pub struct MlxSpecial(pub MlxSpecialOp);

impl Primitive for MlxSpecial {
    fn name(&self) -> &'static str {
        match self.0 {
            MlxSpecialOp::Erf => "Erf",
            MlxSpecialOp::Erfinv => "ErfInv",
        }
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        let out = ctx.output(0, inputs, &[0])?;
        let f = match self.0 {
            MlxSpecialOp::Erf => kernels::mlx_erf,
            MlxSpecialOp::Erfinv => kernels::mlx_erfinv,
        };
        kernels::float_map(inputs[0].shape(), inputs[0].dtype(), &a, &out, f)?;
        Ok(vec![out])
    }
}

/// The indices (uint32) that sort a 1-D row-contiguous uint32 array, ties by index.
#[derive(Debug)]
pub struct ArgsortBits;

impl Primitive for ArgsortBits {
    fn name(&self) -> &'static str {
        "ArgSort"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        let n = inputs[0].size();
        if !a.is_row_contiguous(inputs[0].shape()) {
            return Err(Error::Runtime(
                "[ArgsortBits] expects contiguous input".into(),
            ));
        }
        let out = Data::alloc(&ctx.outputs[0].0, Dtype::Uint32)?;
        // SAFETY: contiguous input of n u32; fresh output of n u32.
        unsafe { kernels::argsort_u32(a.as_slice::<u32>(n), out.as_mut_slice::<u32>(n)) };
        Ok(vec![out])
    }
}

/// `x` (row-contiguous) gathered along `axis` by a 1-D uint32 index whose values are
/// known to be in range (a permutation).
#[derive(Debug)]
pub struct TakePermutation {
    pub axis: usize,
}

impl Primitive for TakePermutation {
    fn name(&self) -> &'static str {
        "Take"
    }
    fn eval_cpu(&self, inputs: &[Array], _ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (x, idx) = (&inputs[0], &inputs[1]);
        let (xd, id) = (x.data()?, idx.data()?);
        if !xd.is_row_contiguous(x.shape()) || !id.is_row_contiguous(idx.shape()) {
            return Err(Error::Runtime(
                "[TakePermutation] expects contiguous inputs".into(),
            ));
        }
        let shape = x.shape();
        let outer: usize = shape[..self.axis].iter().product();
        let n = shape[self.axis];
        let inner: usize = shape[self.axis + 1..].iter().product::<usize>() * x.itemsize();
        let out = Data::alloc(shape, x.dtype())?;
        let total = x.nbytes();
        // SAFETY: both row-contiguous with `total` bytes; the index has n entries < n.
        unsafe {
            kernels::take_axis(
                xd.as_slice::<u8>(total),
                out.as_mut_slice::<u8>(total),
                outer,
                n,
                inner,
                id.as_slice::<u32>(idx.size()),
            )
        };
        Ok(vec![out])
    }
}

/// The symmetric square root of each `n x n` float32 matrix of a row-contiguous
/// `(..., n, n)` array (negative eigenvalues clipped to 0).
#[derive(Debug)]
pub struct SymmetricSqrt;

impl Primitive for SymmetricSqrt {
    fn name(&self) -> &'static str {
        "SymmetricSqrt"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        if !a.is_row_contiguous(inputs[0].shape()) {
            return Err(Error::Runtime(
                "[SymmetricSqrt] expects contiguous input".into(),
            ));
        }
        let size = inputs[0].size();
        let n = inputs[0].shape().last().copied().unwrap_or(0);
        let out = Data::alloc(&ctx.outputs[0].0, Dtype::Float32)?;
        // SAFETY: contiguous f32 input and fresh f32 output of `size` elements.
        unsafe { kernels::sym_sqrt(a.as_slice::<f32>(size), out.as_mut_slice::<f32>(size), n) };
        Ok(vec![out])
    }
}
