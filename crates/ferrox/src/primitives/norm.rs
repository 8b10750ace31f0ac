//! Fused normalisations over the last axis: `RmsNorm` (inputs `x`, optional `weight`)
//! and `LayerNorm` (inputs `x`, optional `weight`, optional `bias`), all of one float
//! dtype (the op casts them). The derivative rules are built from ops, in f32 for
//! f16/bf16, so they differentiate again.

use crate::array::{Array, Data, Shape};
use crate::backend::cpu::norm::{norm, Norm};
use crate::dtype::Dtype;
use crate::primitive::{Batched, EvalContext, Primitive, TracedShapes};
use crate::transforms::vmap::{batch_size, to_front};
use crate::{ops, Result};

/// `x / sqrt(mean(x²) + eps) * weight`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct RmsNorm {
    pub eps: f64,
}

/// `(x - mean) / sqrt(var + eps) * weight + bias`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct LayerNorm {
    pub eps: f64,
    pub has_weight: bool,
    pub has_bias: bool,
}

/// What the two have in common: whether the mean is removed, and where the weight and
/// bias are among the inputs.
#[derive(Clone, Copy)]
struct Affine {
    centred: bool,
    eps: f64,
    weight: Option<usize>,
    bias: Option<usize>,
}

impl RmsNorm {
    fn affine(&self, n_inputs: usize) -> Affine {
        Affine {
            centred: false,
            eps: self.eps,
            weight: (n_inputs > 1).then_some(1),
            bias: None,
        }
    }
}

impl LayerNorm {
    /// (The input count is implied by the flags; taken for symmetry with `RmsNorm`.)
    fn affine(&self, _n_inputs: usize) -> Affine {
        Affine {
            centred: true,
            eps: self.eps,
            weight: self.has_weight.then_some(1),
            bias: self.has_bias.then_some(1 + self.has_weight as usize),
        }
    }
}

/// The dtype the rules compute in.
fn wide(d: Dtype) -> Dtype {
    match d {
        Dtype::Float16 | Dtype::Bfloat16 => Dtype::Float32,
        d => d,
    }
}

/// Sum over every axis but the last (the shape of a weight).
fn sum_leading(a: &Array) -> Result<Array> {
    if a.ndim() <= 1 {
        return Ok(a.clone());
    }
    let axes: Vec<isize> = (0..a.ndim() as isize - 1).collect();
    ops::sum(a, &axes, false)
}

impl Affine {
    fn kind(&self) -> Norm {
        if self.centred {
            Norm::Layer(self.eps)
        } else {
            Norm::Rms(self.eps)
        }
    }

    /// `(x̂, 1/σ)` from ops: the normalised input and the inverse scale of each row.
    fn stats(&self, x: &Array) -> Result<(Array, Array)> {
        let mut xc = ops::astype(x, wide(x.dtype()))?;
        if self.centred {
            xc = ops::subtract(&xc, &ops::mean(&xc, &[-1], true)?)?;
        }
        let ms = ops::mean(&ops::square(&xc)?, &[-1], true)?;
        let inv = ops::rsqrt(&ops::add(&ms, self.eps)?)?;
        Ok((ops::multiply(&xc, &inv)?, inv))
    }

    /// `inv · (g - mean(g) - x̂ · mean(g · x̂))`, without the `mean(g)` when not centred:
    /// the derivative of the normalisation applied to `g`.
    fn through(&self, g: &Array, xhat: &Array, inv: &Array) -> Result<Array> {
        let mut d = ops::subtract(
            g,
            &ops::multiply(xhat, &ops::mean(&ops::multiply(g, xhat)?, &[-1], true)?)?,
        )?;
        if self.centred {
            d = ops::subtract(&d, &ops::mean(g, &[-1], true)?)?;
        }
        ops::multiply(&d, inv)
    }

    fn vjp(&self, p: &[Array], cot: &[Array], argnums: &[usize]) -> Result<Vec<Array>> {
        let x = &p[0];
        let (xhat, inv) = self.stats(x)?;
        let c = ops::astype(&cot[0], xhat.dtype())?;
        argnums
            .iter()
            .map(|&i| {
                let g = if i == 0 {
                    let gw = match self.weight {
                        Some(w) => ops::multiply(&c, &ops::astype(&p[w], c.dtype())?)?,
                        None => c.clone(),
                    };
                    self.through(&gw, &xhat, &inv)?
                } else if Some(i) == self.weight {
                    sum_leading(&ops::multiply(&c, &xhat)?)?
                } else {
                    sum_leading(&c)?
                };
                ops::astype(&g, p[i].dtype())
            })
            .collect()
    }

    fn jvp(&self, p: &[Array], tan: &[Array], argnums: &[usize]) -> Result<Array> {
        let (xhat, inv) = self.stats(&p[0])?;
        let mut acc: Option<Array> = None;
        for (&i, t) in argnums.iter().zip(tan) {
            let t = ops::astype(t, xhat.dtype())?;
            let d = if i == 0 {
                let d = self.through(&t, &xhat, &inv)?;
                match self.weight {
                    Some(w) => ops::multiply(&d, &ops::astype(&p[w], d.dtype())?)?,
                    None => d,
                }
            } else if Some(i) == self.weight {
                ops::multiply(&t, &xhat)?
            } else {
                t
            };
            acc = Some(match acc {
                Some(a) => ops::add(&a, &d)?,
                None => d,
            });
        }
        match acc {
            Some(a) => ops::astype(&a, p[0].dtype()),
            None => ops::zeros_like(&p[0], None),
        }
    }

    /// The fused primitive on `inputs` (`x`, then the weight and bias this one has).
    fn build(&self, inputs: Vec<Array>) -> Array {
        let (shape, dtype) = (inputs[0].shape().to_vec(), inputs[0].dtype());
        let stream = ops::stream();
        if self.centred {
            let prim = LayerNorm {
                eps: self.eps,
                has_weight: self.weight.is_some(),
                has_bias: self.bias.is_some(),
            };
            Array::from_op(shape, dtype, prim, inputs, stream)
        } else {
            Array::from_op(shape, dtype, RmsNorm { eps: self.eps }, inputs, stream)
        }
    }

    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>]) -> Result<Batched> {
        let x = &inputs[0];
        if axes[1..].iter().all(Option::is_none) {
            // Only x is batched: the batch may stay where it is unless it is the last
            // axis, which must remain the normalised one.
            let b = axes[0].unwrap_or(0);
            let (x, b) = if b + 1 == x.ndim() {
                (ops::moveaxis(x, b as isize, 0)?, 0)
            } else {
                (x.clone(), b)
            };
            let mut v = vec![x];
            v.extend_from_slice(&inputs[1..]);
            return Ok((vec![self.build(v)], vec![Some(b)]));
        }
        // A batched weight or bias: normalise with the fused kernel, then scale and
        // shift with ops, the batch in front.
        let n = batch_size(inputs, axes);
        let x = to_front(x, axes[0], n)?;
        let plain = Affine {
            weight: None,
            bias: None,
            ..*self
        };
        let mut y = plain.build(vec![x.clone()]);
        let per_row = |i: usize| -> Result<Array> {
            let v = &inputs[i];
            match axes[i] {
                Some(b) => {
                    let mut shape = vec![1; x.ndim()];
                    shape[0] = n;
                    shape[x.ndim() - 1] = v.shape()[1 - b];
                    to_front(v, Some(b), n)?.reshape(&shape)
                }
                None => Ok(v.clone()),
            }
        };
        if let Some(w) = self.weight {
            y = ops::multiply(&y, &per_row(w)?)?;
        }
        if let Some(b) = self.bias {
            y = ops::add(&y, &per_row(b)?)?;
        }
        Ok((vec![y], vec![Some(0)]))
    }
}

/// Runs the kernel: inputs `x`, then the weight and bias `affine` names.
fn eval(affine: Affine, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
    let x = inputs[0].data()?;
    let w = affine.weight.map(|i| inputs[i].data()).transpose()?;
    let b = affine.bias.map(|i| inputs[i].data()).transpose()?;
    let (shape, dtype) = ctx.outputs[0].clone();
    let out = Data::alloc(&shape, dtype)?;
    norm(
        affine.kind(),
        &shape,
        dtype,
        &x,
        w.as_ref(),
        b.as_ref(),
        &out,
    )?;
    Ok(vec![out])
}

/// Both norms are an [`Affine`] normalisation of their inputs: its kernel and rules.
macro_rules! affine_primitive {
    ($t:ident, $name:literal) => {
        impl Primitive for $t {
            crate::exportable!($t);

            fn name(&self) -> &'static str {
                $name
            }
            fn output_shapes(
                &self,
                inputs: &[&[usize]],
                traced: &TracedShapes,
            ) -> Option<Vec<Shape>> {
                // Over the last axis: it and the weight and bias keep their lengths.
                let (x, was) = (inputs[0], traced.inputs[0]);
                let same = x.last() == was.last() && inputs[1..] == traced.inputs[1..];
                same.then(|| vec![x.to_vec()])
            }
            fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
                eval(self.affine(inputs.len()), inputs, ctx)
            }
            fn vjp(
                &self,
                p: &[Array],
                cot: &[Array],
                argnums: &[usize],
                _: &[Array],
            ) -> Result<Vec<Array>> {
                self.affine(p.len()).vjp(p, cot, argnums)
            }
            fn jvp(
                &self,
                p: &[Array],
                tan: &[Array],
                argnums: &[usize],
                _: &[Array],
            ) -> Result<Vec<Array>> {
                Ok(vec![self.affine(p.len()).jvp(p, tan, argnums)?])
            }
            fn vmap(
                &self,
                inputs: &[Array],
                axes: &[Option<usize>],
                _: &[Array],
            ) -> Result<Batched> {
                self.affine(inputs.len()).vmap(inputs, axes)
            }
        }
    };
}
affine_primitive!(RmsNorm, "RMSNorm");
affine_primitive!(LayerNorm, "LayerNorm");
