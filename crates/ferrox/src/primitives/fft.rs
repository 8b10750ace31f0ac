//! The discrete Fourier transform along one axis, unnormalized (the ops in `ops/fft.rs`
//! crop, pad, cast and scale around it, and chain it over several axes). It is linear,
//! so its derivatives are transforms too.

use crate::array::Shape;
use crate::array::{Array, Data};
use crate::backend::cpu;
use crate::backend::cpu::fft::Kind;
use crate::dtype::Dtype;
use crate::primitive::{Batched, EvalContext, Primitive, TracedShapes};
use crate::{ops, Result};

/// `X[k] = Σ_j x[j]·e^{∓2πi jk/n}` along `axis` (`-` forward, `+` for `inverse`), with no
/// `1/n`. `real` with `!inverse`: float32 input of extent `n`, the `n / 2 + 1`
/// non-negative frequencies out (complex64). `real` with `inverse`: those `n / 2 + 1`
/// bins in (complex64, read as the half of a Hermitian spectrum), `n` float32 out.
/// Otherwise complex64 of extent `n` in and out.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Fft {
    pub axis: usize,
    pub n: usize,
    pub inverse: bool,
    pub real: bool,
}

impl Fft {
    fn kind(&self) -> Kind {
        match (self.real, self.inverse) {
            (false, _) => Kind::C2C,
            (true, false) => Kind::R2C,
            (true, true) => Kind::C2R,
        }
    }

    /// The output extent along the axis.
    fn n_out(&self) -> usize {
        match self.kind() {
            Kind::R2C => self.n / 2 + 1,
            _ => self.n,
        }
    }

    /// This transform of `x` (already of the input extent along the axis).
    pub fn apply(&self, x: &Array) -> Array {
        let mut shape = x.shape().to_vec();
        shape[self.axis] = self.n_out();
        let dtype = match self.kind() {
            Kind::C2R => Dtype::Float32,
            _ => Dtype::Complex64,
        };
        Array::from_op(shape, dtype, self.clone(), vec![x.clone()], ops::stream())
    }
}

impl Primitive for Fft {
    crate::exportable!(Fft);

    fn name(&self) -> &'static str {
        "FFT"
    }
    // For `compile(shapeless=True)`: the other axes follow the input, but `n` (and the
    // ops that cropped or padded to it) were fixed at trace time, so a new extent along
    // the transformed axis (or a new rank, which moves `axis`) traces again. MLX raises
    // here instead.
    fn output_shapes(&self, inputs: &[&[usize]], traced: &TracedShapes) -> Option<Vec<Shape>> {
        let (now, then) = (inputs.first()?, traced.inputs.first()?);
        if now.len() != then.len() || now.get(self.axis)? != then.get(self.axis)? {
            return None;
        }
        let mut out = now.to_vec();
        out[self.axis] = self.n_out();
        Some(vec![out])
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let a = inputs[0].data()?;
        let (shape, dtype) = &ctx.outputs[0];
        let out = Data::alloc(shape, *dtype)?;
        cpu::fft::fft(
            self.kind(),
            self.inverse,
            self.axis,
            self.n,
            inputs[0].shape(),
            &a,
            &out,
        );
        Ok(vec![out])
    }
    // Written as for real arrays, `c·Aᵀ` (the reverse walk conjugates around it for
    // complex outputs, which makes it `A^H`): the transform matrix is symmetric.
    fn vjp(&self, _: &[Array], cot: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let c = &cot[0];
        Ok(vec![match self.kind() {
            Kind::C2C => self.apply(c),
            // Rows 0..n/2+1 of the n×n transform, transposed: the full transform of the
            // zero-padded cotangent; the input was real, so is its cotangent.
            Kind::R2C => {
                let mut widths = vec![(0, 0); c.ndim()];
                widths[self.axis] = (0, self.n - self.n_out());
                let padded = ops::pad(c, &widths, ops::PadMode::Constant, 0.0f32)?;
                let full = Fft {
                    real: false,
                    ..self.clone()
                };
                ops::real(&full.apply(&padded))?
            }
            // y = Σ_k w_k·Re(X_k e^{2πi jk/n}) with w_k = 2 for the bins that stand for a
            // conjugate pair too, 1 for X_0 (and X_{n/2} when n is even): in MLX's
            // convention (∂/∂Re + i·∂/∂Im) the cotangent is w·rfft(c).
            Kind::C2R => {
                let half = Fft {
                    inverse: false,
                    ..self.clone()
                };
                let m = self.n / 2 + 1;
                let w: Vec<f32> = (0..m)
                    .map(|k| if k == 0 || 2 * k == self.n { 1.0 } else { 2.0 })
                    .collect();
                let mut wshape = vec![1; c.ndim()];
                wshape[self.axis] = m;
                let w = Array::from_slice(&w, &wshape)?;
                ops::multiply(&half.apply(c), &w)?
            }
        }])
    }
    fn jvp(&self, _: &[Array], tan: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        // Linear: the same transform of the tangent.
        let t = match self.kind() {
            Kind::R2C => ops::astype(&tan[0], Dtype::Float32)?,
            _ => ops::astype(&tan[0], Dtype::Complex64)?,
        };
        Ok(vec![self.apply(&t)])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let b = axes[0].unwrap_or(0);
        let prim = Fft {
            axis: if self.axis < b {
                self.axis
            } else {
                self.axis + 1
            },
            ..self.clone()
        };
        Ok((vec![prim.apply(&inputs[0])], vec![Some(b)]))
    }
}
