//! `mlx.core.fast`: `rms_norm`, `layer_norm` and `scaled_dot_product_attention`, each one
//! fused primitive with MLX's checks, messages and output dtypes.
//!
//! ```
//! use ferrox::{ops, ops::fast};
//! let x = ops::arange(0.0, 8.0, 1.0, None)?.reshape(&[2, 4])?;
//! let y = fast::rms_norm(&x, None, 1e-5)?;
//! let row: Vec<f32> = y.to_vec()?;
//! assert!((row[3] - 3.0 / (14.0f32 / 4.0).sqrt()).abs() < 1e-5);
//! # Ok::<(), ferrox::Error>(())
//! ```

mod gated_delta;
pub use gated_delta::gated_delta_update;

use super::{astype, broadcast_to, result_type, stream};
use crate::array::Array;
use crate::dtype::{finfo, promote, Dtype};
use crate::primitives::attention::{MaskKind, ScaledDotProductAttention};
use crate::primitives::norm::{LayerNorm, RmsNorm};
use crate::{Error, Result};

/// A shape as MLX prints it in messages: `(2,3,4)`.
fn shape_str(s: &[usize]) -> String {
    let v: Vec<String> = s.iter().map(usize::to_string).collect();
    format!("({})", v.join(","))
}

/// Checks that `v` (a weight or bias of `name`) is 1-D with `x`'s last extent.
fn check_affine(op: &str, what: &str, v: Option<&Array>, x: &Array) -> Result<()> {
    let Some(v) = v else { return Ok(()) };
    if v.ndim() != 1 {
        return Err(Error::Invalid(format!(
            "[{op}] {what} must have 1 dimension but has {} dimensions.",
            v.ndim()
        )));
    }
    if v.size() != x.shape()[x.ndim() - 1] {
        return Err(Error::Invalid(format!(
            "[{op}] {what} must have the same size as the last dimension of x but has {} \
             elements.",
            v.size()
        )));
    }
    Ok(())
}

fn check_input(op: &str, x: &Array) -> Result<()> {
    if x.ndim() == 0 {
        return Err(Error::Invalid(format!(
            "[{op}] Input must have at least 1 dimension but got input with 0 dimensions."
        )));
    }
    Ok(())
}

fn check_floating(op: &str, dtype: Dtype) -> Result<()> {
    if !dtype.is_floating() {
        return Err(Error::Invalid(format!(
            "[{op}] Received unsupported type {dtype}."
        )));
    }
    Ok(())
}

/// `x / sqrt(mean(x², axis=-1) + eps) * weight` (MLX's `fast.rms_norm`). The output
/// dtype is that of `x` and `weight` promoted, which must be floating point.
pub fn rms_norm(x: &Array, weight: Option<&Array>, eps: f32) -> Result<Array> {
    check_input("rms_norm", x)?;
    // MLX's message names the argument this way.
    check_affine("rms_norm", "(*weight)", weight, x)?;
    let dtype = match weight {
        Some(w) => promote(x.dtype(), w.dtype()),
        None => x.dtype(),
    };
    check_floating("rms_norm", dtype)?;
    let mut inputs = vec![astype(x, dtype)?];
    inputs.extend(weight.map(|w| astype(w, dtype)).transpose()?);
    let prim = RmsNorm { eps: eps as f64 };
    Ok(Array::from_op(
        x.shape().to_vec(),
        dtype,
        prim,
        inputs,
        stream(),
    ))
}

/// `(x - mean) / sqrt(var + eps) * weight + bias` over the last axis (MLX's
/// `fast.layer_norm`). The output dtype is that of the given arrays promoted.
pub fn layer_norm(
    x: &Array,
    weight: Option<&Array>,
    bias: Option<&Array>,
    eps: f32,
) -> Result<Array> {
    check_input("layer_norm", x)?;
    check_affine("layer_norm", "weight", weight, x)?;
    check_affine("layer_norm", "bias", bias, x)?;
    // As in MLX, a bias without a weight does not take part in the promotion.
    let dtype = match (weight, bias) {
        (Some(w), Some(b)) => result_type(&[x, w, b]),
        (Some(w), None) => promote(x.dtype(), w.dtype()),
        _ => x.dtype(),
    };
    check_floating("layer_norm", dtype)?;
    let mut inputs = vec![astype(x, dtype)?];
    inputs.extend(weight.map(|w| astype(w, dtype)).transpose()?);
    inputs.extend(bias.map(|b| astype(b, dtype)).transpose()?);
    let prim = LayerNorm {
        eps: eps as f64,
        has_weight: weight.is_some(),
        has_bias: bias.is_some(),
    };
    Ok(Array::from_op(
        x.shape().to_vec(),
        dtype,
        prim,
        inputs,
        stream(),
    ))
}

/// The mask of [`scaled_dot_product_attention`].
#[derive(Clone, Copy, Debug)]
pub enum AttentionMask<'a> {
    None,
    /// Lower-right aligned: the last query sees every key.
    Causal,
    /// Boolean (true keeps a score) or additive, broadcastable to `[B, Hq, Lq, Lk]`.
    Array(&'a Array),
}

/// `softmax(scale · q kᵀ + mask) v` per batch and head (MLX's
/// `fast.scaled_dot_product_attention`): `q` `[B, Hq, Lq, D]`, `k` `[B, Hkv, Lk, D]`,
/// `v` `[B, Hkv, Lk, Dv]`, with `Hq` a multiple of `Hkv` (grouped-query attention).
/// `sinks` (`[Hq]`) adds one logit per head to each softmax. The softmax runs in f32
/// (f64 for f64).
pub fn scaled_dot_product_attention(
    q: &Array,
    k: &Array,
    v: &Array,
    scale: f32,
    mask: AttentionMask,
    sinks: Option<&Array>,
) -> Result<Array> {
    const OP: &str = "scaled_dot_product_attention";
    for t in [q, k, v] {
        if t.ndim() != 4 {
            return Err(Error::Invalid(format!(
                "[{OP}] input with shape {} expected to be rank 4",
                shape_str(t.shape())
            )));
        }
    }
    if let AttentionMask::Array(m) = mask {
        if m.ndim() > 4 {
            return Err(Error::Invalid(format!(
                "[{OP}] the mask with shape {} expected to have at most rank 4.",
                shape_str(m.shape())
            )));
        }
    }
    for t in [k, v] {
        if t.shape()[0] != q.shape()[0] {
            return Err(Error::Invalid(format!(
                "[{OP}] mismatching batch dimension for input with shape {}.",
                shape_str(t.shape())
            )));
        }
    }
    if q.shape()[3] != k.shape()[3] {
        return Err(Error::Invalid(format!(
            "[{OP}] query, keys expected to have matching last dimension; found query shape \
             {} for keys shape {}.",
            shape_str(q.shape()),
            shape_str(k.shape())
        )));
    }
    if k.shape()[1] != v.shape()[1] {
        return Err(Error::Invalid(format!(
            "[{OP}] keys, values expected to have matching n_kv_heads; found keys with n_heads \
             {} for values with n_heads {}.",
            k.shape()[1],
            v.shape()[1]
        )));
    }
    let (hq, hkv) = (q.shape()[1], k.shape()[1]);
    if hkv == 0 || hq % hkv != 0 {
        return Err(Error::Invalid(format!(
            "[{OP}] n_heads must be a multiple of n_kv_heads, found n_heads {hq} for \
             n_kv_heads {hkv}."
        )));
    }
    if k.shape()[2] != v.shape()[2] {
        // What MLX reports: its product of the scores with v (grouped heads split out)
        // fails.
        let (b, lq, lk) = (q.shape()[0], q.shape()[2], k.shape()[2]);
        let (scores, vs) = if hq > hkv {
            let mut vs = v.shape().to_vec();
            vs.insert(2, 1);
            (vec![b, hkv, hq / hkv, lq, lk], vs)
        } else {
            (vec![b, hq, lq, lk], v.shape().to_vec())
        };
        return Err(Error::Invalid(format!(
            "[matmul] Last dimension of first input with shape {} must match second to last \
             dimension of second input with shape {}.",
            shape_str(&scores),
            shape_str(&vs)
        )));
    }
    let dtype = result_type(&[q, k, v]);
    check_floating(OP, dtype)?;
    let (b, lq, lk, dv) = (q.shape()[0], q.shape()[2], k.shape()[2], v.shape()[3]);
    let mut inputs = vec![astype(q, dtype)?, astype(k, dtype)?, astype(v, dtype)?];
    let (causal, kind) = match mask {
        AttentionMask::None => (false, MaskKind::None),
        AttentionMask::Causal => (true, MaskKind::None),
        AttentionMask::Array(m) => {
            if promote(m.dtype(), dtype) != dtype {
                return Err(Error::Invalid(format!(
                    "[{OP}] Mask type must promote to output type {dtype}."
                )));
            }
            let full = [b, hq, lq, lk];
            match crate::shape::broadcast_shapes(m.shape(), &full) {
                Err(_) => {
                    return Err(Error::Invalid(format!(
                        "[broadcast_shapes] Shapes {} and {} cannot be broadcast.",
                        shape_str(m.shape()),
                        shape_str(&full)
                    )))
                }
                Ok(s) if s != full => {
                    return Err(Error::Invalid(format!(
                        "Cannot broadcast array of shape {} into shape {}.",
                        shape_str(m.shape()),
                        shape_str(&full)
                    )))
                }
                Ok(_) => {}
            }
            let (m, kind) = if m.dtype() == Dtype::Bool {
                (m.clone(), MaskKind::Keep)
            } else {
                (astype(m, dtype)?, MaskKind::Add)
            };
            inputs.push(broadcast_to(&m, &full)?);
            (false, kind)
        }
    };
    if let Some(s) = sinks {
        if promote(s.dtype(), dtype) != dtype {
            return Err(Error::Invalid(format!(
                "[{OP}] Type of sinks must promote to output type {dtype}."
            )));
        }
        if s.ndim() != 1 || s.shape()[0] != hq {
            return Err(Error::Invalid(format!(
                "[{OP}] Received invalid shape for sinks {}.",
                shape_str(s.shape())
            )));
        }
        inputs.push(astype(s, dtype)?);
    }
    let prim = ScaledDotProductAttention {
        scale: scale as f64,
        causal,
        mask: kind,
        has_sinks: sinks.is_some(),
    };
    Ok(Array::from_op(
        vec![b, hq, lq, dv],
        dtype,
        prim,
        inputs,
        stream(),
    ))
}

/// Attention from separate ops (MLX's fallback), which the fused primitive's derivative
/// rules differentiate. `mask` is already broadcast to `[B, Hq, Lq, Lk]` (bool: keep; else
/// added); `sinks` has the operands' dtype.
pub(crate) fn attention_from_ops(
    q: &Array,
    k: &Array,
    v: &Array,
    scale: f64,
    causal: bool,
    mask: Option<&Array>,
    sinks: Option<&Array>,
) -> Result<Array> {
    use super::*;
    let (hq, hkv) = (q.shape()[1], k.shape()[1]);
    let rep = hq / hkv.max(1);
    let dtype = q.dtype();
    let mut q = multiply(q, Array::scalar_of(crate::Scalar::Float(scale), dtype))?;
    let (mut k, mut v) = (k.clone(), v.clone());
    let grouped = |a: &Array, axis: isize| unflatten(a, axis, &[hkv as isize, rep as isize]);
    if rep > 1 {
        q = grouped(&q, 1)?;
        k = expand_dims(&k, &[2])?;
        v = expand_dims(&v, &[2])?;
    }
    let mut scores = matmul(&q, &swapaxes(&k, -1, -2)?)?;
    let (lq, lk) = (q.shape()[q.ndim() - 2], k.shape()[k.ndim() - 2]);
    let lowest = Array::scalar_of(crate::Scalar::Float(finfo(dtype)?.min), dtype);
    if causal {
        let off = lk as f64 - lq as f64;
        let qi = arange(off, lq as f64 + off, 1.0, Some(Dtype::Int32))?.reshape(&[lq, 1])?;
        let ki = arange(0.0, lk as f64, 1.0, Some(Dtype::Int32))?.reshape(&[1, lk])?;
        scores = where_(&greater_equal(&qi, &ki)?, &scores, &lowest)?;
    }
    if let Some(m) = mask {
        let m = if rep > 1 { grouped(m, -3)? } else { m.clone() };
        scores = if m.dtype() == Dtype::Bool {
            where_(&m, &scores, &lowest)?
        } else {
            add(&scores, &m)?
        };
    }
    if let Some(s) = sinks {
        let mut s = expand_dims(s, &[0, 2, 3])?;
        if rep > 1 {
            s = grouped(&s, 1)?;
        }
        let mut col = scores.shape().to_vec();
        let last = col.len() - 1;
        col[last] = 1;
        scores = concatenate(&[broadcast_to(&s, &col)?, scores], Some(-1))?;
    }
    let mut p = softmax(&scores, &[-1], true)?;
    if sinks.is_some() {
        let nd = p.ndim();
        let mut start = vec![0isize; nd];
        start[nd - 1] = 1;
        let stop: Vec<isize> = p.shape().iter().map(|&n| n as isize).collect();
        p = slice(&p, &start, &stop, &vec![1; nd])?;
    }
    let out = matmul(&p, &v)?;
    if rep > 1 {
        flatten(&out, 1, 2)
    } else {
        Ok(out)
    }
}

/// Rotary position embedding (MLX's `fast.rope`) of `a` (`[..., L, D]`, at least 3-D):
/// the first `dims` features of the row at position `p = offset + l` are rotated in
/// pairs by the angles `scale · p · θ_i`, `θ_i = base^(-2i/dims)` (or `1 / freqs[i]`);
/// the remaining features pass through. Pairs are `(x[2i], x[2i+1])` when
/// `traditional`, else `(x[i], x[i + dims/2])`. `offset` is an integer scalar, or one
/// per entry of the leading axis. Computed in float32 (float64 stays float64); the
/// result has `a`'s dtype.
pub fn rope(
    a: &Array,
    dims: usize,
    traditional: bool,
    base: Option<f64>,
    scale: f64,
    offset: &Array,
    freqs: Option<&Array>,
) -> Result<Array> {
    use super::{add, concatenate, cos, divide, multiply, sin, slice, stack, subtract};
    let nd = a.ndim();
    if nd < 3 {
        return Err(Error::Invalid(format!(
            "[rope] Input must have at least 3 dimensions but got input with {nd} dimensions."
        )));
    }
    let d = a.shape()[nd - 1];
    if dims % 2 != 0 || dims > d || dims == 0 {
        return Err(Error::Invalid(format!(
            "[rope] dims must be even, positive and at most the last axis ({d}) but got {dims}."
        )));
    }
    if base.is_some() == freqs.is_some() {
        return Err(Error::Invalid(
            "[rope] Only one of base or freqs can have a value.".into(),
        ));
    }
    let (h, l) = (dims / 2, a.shape()[nd - 2]);
    let ft = if a.dtype() == Dtype::Float64 {
        Dtype::Float64
    } else {
        Dtype::Float32
    };
    let inv = match (freqs, base) {
        (Some(f), _) => {
            if f.shape() != [h] {
                return Err(Error::Invalid(format!(
                    "[rope] freqs must be one-dimensional of size {h} but got shape {:?}.",
                    f.shape()
                )));
            }
            divide(1.0, &astype(f, ft)?)?
        }
        (None, Some(b)) => {
            let v: Vec<f64> = (0..h)
                .map(|i| b.powf(-2.0 * i as f64 / dims as f64))
                .collect();
            astype(&Array::from_slice(&v, &[h])?, ft)?
        }
        (None, None) => unreachable!("checked above"),
    };
    // Positions: offset + l, shaped to broadcast over [..., L, 1].
    let off = astype(offset, ft)?;
    let off = match off.ndim() {
        0 => off,
        1 if off.size() == a.shape()[0] => {
            let mut s = vec![1; nd];
            s[0] = off.size();
            off.reshape(&s)?
        }
        _ => {
            return Err(Error::Invalid(format!(
                "[rope] offset must be a scalar or have one entry per leading index ({}), \
                 got shape {:?}.",
                a.shape()[0],
                offset.shape()
            )))
        }
    };
    let pos = add(
        &super::arange(0.0, l as f64, 1.0, Some(ft))?.reshape(&[l, 1])?,
        &off,
    )?;
    let theta = multiply(&multiply(&pos, scale)?, &inv)?;
    let (c, s) = (cos(&theta)?, sin(&theta)?);
    let x = astype(a, ft)?;
    let lead: Vec<isize> = a.shape()[..nd - 1].iter().map(|&n| n as isize).collect();
    let part = |from: usize, to: usize, step: usize| {
        let mut start = vec![0; nd];
        let mut stop = lead.clone();
        let mut steps = vec![1; nd];
        start[nd - 1] = from as isize;
        stop.push(to as isize);
        steps[nd - 1] = step as isize;
        slice(&x, &start, &stop, &steps)
    };
    let (x1, x2) = if traditional {
        (part(0, dims, 2)?, part(1, dims, 2)?)
    } else {
        (part(0, h, 1)?, part(h, dims, 1)?)
    };
    let o1 = subtract(&multiply(&x1, &c)?, &multiply(&x2, &s)?)?;
    let o2 = add(&multiply(&x1, &s)?, &multiply(&x2, &c)?)?;
    let rotated = if traditional {
        let mut shape = o1.shape().to_vec();
        shape[nd - 1] = dims;
        stack(&[o1, o2], -1)?.reshape(&shape)?
    } else {
        concatenate(&[o1, o2], Some(-1))?
    };
    let out = if dims < d {
        concatenate(&[rotated, part(dims, d, 1)?], Some(-1))?
    } else {
        rotated
    };
    astype(&out, a.dtype())
}

/// Cross entropy with class indices (MLX's `fast.cross_entropy`):
/// `logsumexp(logits, -1) - logits[..., targets]`, one loss per entry of `targets`
/// (whose shape is `logits`' without its last axis), as float32. Reduces in the logits'
/// dtype, as MLX's CPU path does.
pub fn cross_entropy(logits: &Array, targets: &Array) -> Result<Array> {
    use super::{expand_dims, logsumexp, squeeze, subtract, take_along_axis};
    let nd = logits.ndim();
    if nd == 0 || targets.shape() != &logits.shape()[..nd - 1] {
        return Err(Error::Invalid(format!(
            "[cross_entropy] targets shape {:?} does not match logits shape {:?} with the \
             last axis removed.",
            targets.shape(),
            logits.shape()
        )));
    }
    if !targets.dtype().is_integer() {
        return Err(Error::Invalid(format!(
            "[cross_entropy] targets must be integer class indices but got {}.",
            targets.dtype()
        )));
    }
    let picked = take_along_axis(logits, &expand_dims(targets, &[-1])?, Some(-1))?;
    let loss = subtract(&logsumexp(logits, &[-1], false)?, &squeeze(&picked, &[-1])?)?;
    astype(&loss, Dtype::Float32)
}
