//! `ScaledDotProductAttention`, fused. Inputs: `q`, `k`, `v`, then the mask (already
//! broadcast to `[B, Hq, Lq, Lk]`) if any, then the sinks if any. As in MLX, the
//! derivatives are those of the same attention written with separate ops
//! (`ops::fast::attention_from_ops`), so they are exact and differentiate again; vmap
//! folds the batch into the leading axis and keeps the fused kernel.

use crate::array::{Array, Data};
use crate::backend::cpu::attention::{attention, Attention};
use crate::dtype::finfo;
use crate::ops::fast::attention_from_ops;
use crate::primitive::{Batched, EvalContext, Primitive};
use crate::transforms::vmap::{all_to_front, batch_size, by_loop};
use crate::transforms::{jvp, vjp};
use crate::{ops, Result};

/// How the mask input, if there is one, applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MaskKind {
    None,
    /// Boolean: a false entry masks its score out.
    Keep,
    /// Float: added to the scores.
    Add,
}

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct ScaledDotProductAttention {
    pub scale: f64,
    pub causal: bool,
    pub mask: MaskKind,
    pub has_sinks: bool,
}

fn dims(a: &Array) -> [usize; 4] {
    let s = a.shape();
    [s[0], s[1], s[2], s[3]]
}

impl ScaledDotProductAttention {
    fn mask_index(&self) -> Option<usize> {
        (self.mask != MaskKind::None).then_some(3)
    }
    fn sinks_index(&self) -> Option<usize> {
        self.has_sinks
            .then_some(3 + (self.mask != MaskKind::None) as usize)
    }

    /// The inputs that have a derivative (a boolean mask has none), and the same
    /// attention from ops as a function of them.
    fn differentiable(&self, p: &[Array]) -> (Vec<usize>, impl Fn(&[Array]) -> Result<Vec<Array>>) {
        let slots: Vec<usize> = (0..p.len())
            .filter(|&i| !(Some(i) == self.mask_index() && self.mask == MaskKind::Keep))
            .collect();
        let keep = (self.mask == MaskKind::Keep).then(|| p[3].clone());
        let (mi, si) = (self.mask_index(), self.sinks_index());
        let (scale, causal) = (self.scale, self.causal);
        let slots2 = slots.clone();
        let f = move |x: &[Array]| -> Result<Vec<Array>> {
            let at = |i: Option<usize>| i.and_then(|i| slots2.iter().position(|&s| s == i));
            let mask = at(mi).map(|j| x[j].clone()).or_else(|| keep.clone());
            let sinks = at(si).map(|j| &x[j]);
            let o = attention_from_ops(&x[0], &x[1], &x[2], scale, causal, mask.as_ref(), sinks)?;
            Ok(vec![o])
        };
        (slots, f)
    }
}

impl Primitive for ScaledDotProductAttention {
    crate::exportable!(ScaledDotProductAttention);

    fn name(&self) -> &'static str {
        "ScaledDotProductAttention"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (q, k, v) = (inputs[0].data()?, inputs[1].data()?, inputs[2].data()?);
        let mask = self.mask_index().map(|i| inputs[i].data()).transpose()?;
        let sinks = self.sinks_index().map(|i| inputs[i].data()).transpose()?;
        let (shape, dtype) = ctx.outputs[0].clone();
        let out = Data::alloc(&shape, dtype)?;
        let mask_dtype = self.mask_index().map(|i| inputs[i].dtype());
        let a = Attention {
            q: (&q, dims(&inputs[0])),
            k: (&k, dims(&inputs[1])),
            v: (&v, dims(&inputs[2])),
            mask: mask.as_ref().zip(mask_dtype),
            sinks: sinks.as_ref(),
            scale: self.scale,
            causal: self.causal,
            fill: finfo(dtype)?.min,
        };
        attention(&a, dtype, &out)?;
        Ok(vec![out])
    }
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        let (slots, f) = self.differentiable(p);
        let primals: Vec<Array> = slots.iter().map(|&i| p[i].clone()).collect();
        let (_, grads) = vjp(f, &primals, &cot[..1])?;
        argnums
            .iter()
            .map(|&i| match slots.iter().position(|&s| s == i) {
                Some(j) => Ok(grads[j].clone()),
                None => ops::zeros_like(&p[i], None),
            })
            .collect()
    }
    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        let (slots, f) = self.differentiable(p);
        let primals: Vec<Array> = slots.iter().map(|&i| p[i].clone()).collect();
        let tangents = slots
            .iter()
            .map(|&i| match argnums.iter().position(|&a| a == i) {
                Some(j) => Ok(tan[j].clone()),
                None => ops::zeros_like(&p[i], None),
            })
            .collect::<Result<Vec<_>>>()?;
        let (_, t) = jvp(f, &primals, &tangents)?;
        Ok(t)
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let rebuild = |v: &[Array]| -> Result<Vec<Array>> {
            let [b, h, l, _] = dims(&v[0]);
            let shape = vec![b, h, l, v[2].shape()[3]];
            let prim = *self;
            Ok(vec![Array::from_op(
                shape,
                out[0].dtype(),
                prim,
                v.to_vec(),
                ops::stream(),
            )])
        };
        // Per-head sinks differ along the batch: no single call can take them.
        if self.sinks_index().is_some_and(|i| axes[i].is_some()) {
            return by_loop(inputs, axes, rebuild);
        }
        // Fold the batch into the leading axis of q, k, v and the mask.
        let n = batch_size(inputs, axes);
        let front = all_to_front(inputs, axes)?;
        let folded = front
            .iter()
            .enumerate()
            .map(|(i, x)| {
                if Some(i) == self.sinks_index() {
                    return Ok(inputs[i].clone());
                }
                let mut s = x.shape()[1..].to_vec();
                s[0] *= n;
                x.reshape(&s)
            })
            .collect::<Result<Vec<_>>>()?;
        let o = rebuild(&folded)?.remove(0);
        let mut shape = vec![n];
        shape.extend_from_slice(out[0].shape());
        Ok((vec![o.reshape(&shape)?], vec![Some(0)]))
    }
}
