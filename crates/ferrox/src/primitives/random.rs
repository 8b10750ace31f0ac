//! The random family: `RandomBits` (threefry2x32 counter-mode bits, MLX's layout), and
//! the private helpers `ops::random` builds its distributions from so that they give
//! MLX's numbers bit for bit: MLX's float32 `erf`/`erfinv` approximations, a stable
//! argsort of bits, a gather along one axis and a symmetric matrix square root.

use crate::array::{Array, Data};
use crate::backend::cpu::random as kernels;
use crate::dtype::Dtype;
use crate::primitive::{Batched, EvalContext, Primitive};
use crate::transforms::vmap::{batch_size, by_loop, to_front, with_batch};
use crate::{ops, Error, Result};

/// Zeros for the cotangent of each listed input: keys, bits and permutations carry no
/// derivative.
fn no_vjp(p: &[Array], argnums: &[usize]) -> Result<Vec<Array>> {
    argnums
        .iter()
        .map(|&i| ops::zeros_like(&p[i], None))
        .collect()
}

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
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct RandomBits {
    pub width: usize,
}

impl Primitive for RandomBits {
    crate::exportable!(RandomBits);

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
    fn vjp(&self, p: &[Array], _: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        no_vjp(p, argnums)
    }
    fn jvp(&self, _: &[Array], _: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(&out[0], None)?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        // One key per batch element: one draw each.
        let (width, shape, dtype) = (self.width, out[0].shape().to_vec(), out[0].dtype());
        by_loop(inputs, axes, move |k| {
            let key = ops::contiguous(&k[0])?;
            Ok(vec![Array::from_op(
                shape.clone(),
                dtype,
                RandomBits { width },
                vec![key],
                ops::stream(),
            )])
        })
    }
}

/// A special function computed with MLX's CPU float32 approximation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MlxSpecialOp {
    Erf,
    Erfinv,
}

/// `erf`/`erfinv` exactly as MLX's CPU backend computes them (in f32 for every float
/// type), which the sampling code needs to reproduce MLX's samples.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct MlxSpecial(pub MlxSpecialOp);

impl Primitive for MlxSpecial {
    crate::exportable!(MlxSpecial);

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
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::multiply(
            &cot[0],
            &self.derivative(&p[0], &out[0])?,
        )?])
    }
    fn jvp(&self, p: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::multiply(
            &tan[0],
            &self.derivative(&p[0], &out[0])?,
        )?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let x = &inputs[0];
        let o = Array::from_op(
            x.shape().to_vec(),
            out[0].dtype(),
            MlxSpecial(self.0),
            vec![x.clone()],
            ops::stream(),
        );
        Ok((vec![o], axes.to_vec()))
    }
}

impl MlxSpecial {
    /// The derivative at `x` (image `y`), as for `erf`/`erfinv`.
    fn derivative(&self, x: &Array, y: &Array) -> Result<Array> {
        use std::f64::consts::PI;
        match self.0 {
            MlxSpecialOp::Erf => ops::multiply(
                &ops::exp(&ops::negative(&ops::square(x)?)?)?,
                2.0 / PI.sqrt(),
            ),
            MlxSpecialOp::Erfinv => ops::multiply(&ops::exp(&ops::square(y)?)?, PI.sqrt() / 2.0),
        }
    }
}

/// The indices (uint32) that sort a 1-D row-contiguous uint32 array, ties by index.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ArgsortBits;

impl Primitive for ArgsortBits {
    crate::exportable!(ArgsortBits);

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
    fn vjp(&self, p: &[Array], _: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        no_vjp(p, argnums)
    }
    fn jvp(&self, _: &[Array], _: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(&out[0], None)?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        // The kernel takes one contiguous line.
        let shape = out[0].shape().to_vec();
        by_loop(inputs, axes, move |x| {
            let line = ops::contiguous(&x[0])?;
            Ok(vec![Array::from_op(
                shape.clone(),
                Dtype::Uint32,
                ArgsortBits,
                vec![line],
                ops::stream(),
            )])
        })
    }
}

/// `x` (row-contiguous) gathered along `axis` by a 1-D uint32 index whose values are
/// known to be in range (a permutation).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct TakePermutation {
    pub axis: usize,
}

impl Primitive for TakePermutation {
    crate::exportable!(TakePermutation);

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
    // Semantically `take(x, idx, axis)`: the rules are take's (which accepts any strides).
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
                    let inverse = ops::zeros_like(&p[0], None)?;
                    let mut shape = vec![1usize; p[0].ndim()];
                    shape[self.axis] = p[1].size();
                    let idx = p[1].reshape(&shape)?;
                    let idx = ops::broadcast_to(&idx, cot[0].shape())?;
                    ops::put_along_axis(&inverse, &idx, &cot[0], Some(self.axis as isize))
                }
                _ => ops::zeros_like(&p[i], None),
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
        match argnums.iter().position(|&a| a == 0) {
            Some(j) => Ok(vec![ops::take(&tan[j], &p[1], Some(self.axis as isize))?]),
            None => Ok(vec![ops::zeros_like(&out[0], None)?]),
        }
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        if axes[1].is_some() {
            let axis = self.axis as isize;
            return by_loop(inputs, axes, move |x| {
                Ok(vec![ops::take(&x[0], &x[1], Some(axis))?])
            });
        }
        let n = batch_size(inputs, axes);
        let x = to_front(&inputs[0], axes[0], n)?;
        Ok((
            vec![ops::take(&x, &inputs[1], Some(self.axis as isize + 1))?],
            vec![Some(0)],
        ))
    }
}

/// The symmetric square root of each `n x n` float32 matrix of a row-contiguous
/// `(..., n, n)` array (negative eigenvalues clipped to 0).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SymmetricSqrt;

impl Primitive for SymmetricSqrt {
    crate::exportable!(SymmetricSqrt);

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
    // An eigendecomposition inside sampling: no derivative (MLX has none either).
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let n = batch_size(inputs, axes);
        let x = ops::contiguous(&to_front(&inputs[0], axes[0], n)?)?;
        let shape = with_batch(out[0].shape(), 0, n);
        Ok((
            vec![Array::from_op(
                shape,
                Dtype::Float32,
                SymmetricSqrt,
                vec![x],
                ops::stream(),
            )],
            vec![Some(0)],
        ))
    }
}
