//! `GatherMm`: `out[i] = a[lhs[i]] @ b[rhs[i]]` over flattened batches (`a [ba, m, k]`,
//! `b [bb, k, n]`, int64 `lhs`, `rhs` `[items]`, out `[items, m, n]`). Each product reads
//! its matrices in place: nothing is gathered into a copy, which for a mixture of experts
//! would be a copy of an expert's weights per token.

use crate::array::{Array, Data, Shape};
use crate::backend::cpu;
use crate::dtype::Dtype;
use crate::ops::{self, gather_mm_flat};
use crate::primitive::{Batched, EvalContext, Primitive, TracedShapes};
use crate::transforms::vmap::{batch_size, to_front};
use crate::Result;
use rayon::prelude::*;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct GatherMm;

/// Matrix `i` of a `[batch, rows, cols]` operand, as a 2-D view (`i` clamped into the
/// batch, so that no index can read outside the buffer).
fn matrix(d: &Data, batch: usize, i: i64) -> Data {
    let i = i.clamp(0, batch as i64 - 1) as usize;
    Data {
        buffer: d.buffer.clone(),
        offset: (d.offset as isize + i as isize * d.strides[0]) as usize,
        strides: d.strides[1..].to_vec(),
    }
}

/// Every item's cotangent of one operand, scattered (added) into that operand's batch.
fn scatter_items(like: &Array, items: &Array, index: &Array) -> Result<Array> {
    let zeros = ops::zeros(like.shape(), Some(like.dtype()))?;
    let mut shape = vec![items.shape()[0], 1];
    shape.extend_from_slice(&like.shape()[1..]);
    ops::scatter_add(&zeros, &[index.clone()], &items.reshape(&shape)?, &[0])
}

/// `0, 1, .., n - 1` as int64: the identity route.
fn identity(n: usize) -> Result<Array> {
    ops::arange(0.0, n as f64, 1.0, Some(Dtype::Int64))
}

impl Primitive for GatherMm {
    crate::exportable!(GatherMm);

    fn name(&self) -> &'static str {
        "GatherMM"
    }
    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        let (a, b, lhs, rhs) = (inputs[0], inputs[1], inputs[2], inputs[3]);
        (a[2] == b[1] && lhs == rhs).then(|| vec![vec![lhs[0], a[1], b[2]]])
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        let out = Data::alloc(&shape, dtype)?;
        let (a, b) = (inputs[0].data()?, inputs[1].data()?);
        let (lhs, rhs) = (inputs[2].to_vec::<i64>()?, inputs[3].to_vec::<i64>()?);
        let (ba, bb) = (inputs[0].shape()[0], inputs[1].shape()[0]);
        let (m, k, n) = (shape[1], inputs[0].shape()[2], shape[2]);
        let product = |i: usize| {
            let dst = Data {
                buffer: out.buffer.clone(),
                offset: i * m * n,
                strides: vec![n as isize, 1],
            };
            cpu::matmul::matmul(
                &[m, n],
                k,
                dtype,
                &matrix(&a, ba, lhs[i]),
                &matrix(&b, bb, rhs[i]),
                &dst,
                1.0,
                0.0,
            )
        };
        // Many small products (a token each): one per task. Few large ones: in turn,
        // each split over the threads by the GEMM.
        if lhs.len() >= rayon::current_num_threads() && m * n * k < (1 << 20) {
            (0..lhs.len()).into_par_iter().try_for_each(product)?;
        } else {
            (0..lhs.len()).try_for_each(product)?;
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
        let (a, b, lhs, rhs) = (&p[0], &p[1], &p[2], &p[3]);
        let c = &cot[0];
        let items = identity(lhs.size())?;
        argnums
            .iter()
            .map(|&i| match i {
                // d a[lhs[i]] += c[i] @ b[rhs[i]]^T
                0 => {
                    let bt = ops::swapaxes(b, -1, -2)?;
                    scatter_items(a, &gather_mm_flat(c, &bt, &items, rhs)?, lhs)
                }
                // d b[rhs[i]] += a[lhs[i]]^T @ c[i]
                1 => {
                    let at = ops::swapaxes(a, -1, -2)?;
                    scatter_items(b, &gather_mm_flat(&at, c, lhs, &items)?, rhs)
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
        _: &[Array],
    ) -> Result<Vec<Array>> {
        let mut acc: Option<Array> = None;
        for (&i, t) in argnums.iter().zip(tan) {
            let d = match i {
                0 => gather_mm_flat(t, &p[1], &p[2], &p[3])?,
                1 => gather_mm_flat(&p[0], t, &p[2], &p[3])?,
                _ => continue,
            };
            acc = Some(match acc {
                Some(a) => ops::add(&a, &d)?,
                None => d,
            });
        }
        match acc {
            Some(a) => Ok(vec![a]),
            None => {
                let (m, n) = (p[0].shape()[1], p[1].shape()[2]);
                Ok(vec![ops::zeros(&[p[2].size(), m, n], Some(p[0].dtype()))?])
            }
        }
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        // Batch v of an operand becomes matrices v * batch .. (v + 1) * batch of one
        // flattened operand, and its routes shift by v * batch.
        let v = batch_size(inputs, axes);
        let flat_operand = |x: &Array, ax: Option<usize>| -> Result<(Array, Option<usize>)> {
            match ax {
                None => Ok((x.clone(), None)),
                Some(ax) => {
                    let f = to_front(x, Some(ax), v)?;
                    let per = f.shape()[1];
                    let mut shape = vec![v * per];
                    shape.extend_from_slice(&f.shape()[2..]);
                    Ok((f.reshape(&shape)?, Some(per)))
                }
            }
        };
        let (a, a_per) = flat_operand(&inputs[0], axes[0])?;
        let (b, b_per) = flat_operand(&inputs[1], axes[1])?;
        let route = |idx: &Array, ax: Option<usize>, per: Option<usize>| -> Result<Array> {
            let idx = to_front(idx, ax, v)?;
            let idx = match per {
                Some(per) => {
                    let step = per as f64;
                    let shift = ops::arange(0.0, v as f64 * step, step, Some(Dtype::Int64))?;
                    ops::add(&idx, &shift.reshape(&[v, 1])?)?
                }
                None => idx,
            };
            idx.reshape(&[idx.size()])
        };
        let lhs = route(&inputs[2], axes[2], a_per)?;
        let rhs = route(&inputs[3], axes[3], b_per)?;
        let y = gather_mm_flat(&a, &b, &lhs, &rhs)?;
        let items = inputs[2].shape()[0];
        let (m, n) = (y.shape()[1], y.shape()[2]);
        Ok((vec![y.reshape(&[v, items, m, n])?], vec![Some(0)]))
    }
}
