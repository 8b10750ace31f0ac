//! The floating-point quantization modes (`mxfp4`, `mxfp8`, `nvfp4`): `FpQuantize`
//! (floats to packed codes and scale bytes), `FpDequantize`, and `QuantizedMatmulNd`,
//! the quantized product for any mode with batched weights (the 2-D affine product keeps
//! its own primitive, `QuantizedMatmul`). The ops that build them are in
//! `ops/quantize_fp.rs`; kernels in `backend/cpu/quantized_fp.rs`.

use super::quantized::{affine_param_grad, float_weight_grad, no_weight_gradient, param_tangents};
use super::{narrowed, row_major};
use crate::array::{Array, Data};
use crate::backend::cpu::{quantized as affine, quantized_fp as kernels};
use crate::dtype::Dtype;
use crate::primitive::{Batched, EvalContext, Primitive};
use crate::transforms::vmap::by_loop;
use crate::{ops, Error, Result};

pub use kernels::FpMode;

/// The scalar global scale (input `i`, one float32 value, checked by the op) if there
/// is one.
fn global(inputs: &[Array], i: usize) -> Result<Option<f32>> {
    match inputs.get(i) {
        Some(g) => {
            let d = row_major(g, Dtype::Float32)?;
            // SAFETY: the op layer checked that it holds one value.
            Ok(Some(unsafe { d.as_slice::<f32>(1)[0] }))
        }
        None => Ok(None),
    }
}

/// Float weights `[.., cols]` to packed codes `[.., cols * bits / 32]` (uint32) and scale
/// bytes `[.., cols / group_size]` (uint8). Inputs: w, and the global scale (nvfp4).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct FpQuantize {
    pub mode: FpMode,
}

impl Primitive for FpQuantize {
    crate::exportable!(FpQuantize);

    fn name(&self) -> &'static str {
        "FpQuantize"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (wshape, _) = ctx.outputs[0].clone();
        let (sshape, _) = ctx.outputs[1].clone();
        let w = row_major(&inputs[0], Dtype::Float32)?;
        let cols = inputs[0].shape().last().copied().unwrap_or(0);
        let words = Data::alloc(&wshape, Dtype::Uint32)?;
        let scales = Data::alloc(&sshape, Dtype::Uint8)?;
        let g = global(inputs, 1)?;
        let src = match inputs[0].dtype() {
            Dtype::Float16 => kernels::Source::F16,
            Dtype::Bfloat16 => kernels::Source::Bf16,
            _ => kernels::Source::F32,
        };
        let (nw, ns) = (
            wshape.iter().product::<usize>(),
            sshape.iter().product::<usize>(),
        );
        // SAFETY: row-major buffers of the lengths the op layer checked.
        unsafe {
            kernels::quantize(
                w.as_slice(inputs[0].size()),
                cols,
                self.mode,
                g,
                src,
                words.as_mut_slice(nw),
                scales.as_mut_slice(ns),
            );
        }
        Ok(vec![words, scales])
    }
    fn vjp(&self, p: &[Array], _: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        // Rounding is flat almost everywhere: MLX's gradient through quantize is zero.
        argnums
            .iter()
            .map(|&i| ops::zeros_like(&p[i], None))
            .collect()
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let mode = self.mode;
        by_loop(inputs, axes, move |a| {
            let q = ops::quantize_fp(&a[0], mode, a.get(1))?;
            Ok(vec![q.wq, q.scales])
        })
    }
}

/// Packed codes and scale bytes to floats of the output dtype. Inputs: w, scales, and
/// the global scale (nvfp4).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct FpDequantize {
    pub mode: FpMode,
}

impl Primitive for FpDequantize {
    crate::exportable!(FpDequantize);

    fn name(&self) -> &'static str {
        "FpDequantize"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        let words = row_major(&inputs[0], Dtype::Uint32)?;
        let scales = row_major(&inputs[1], Dtype::Uint8)?;
        let cols = shape.last().copied().unwrap_or(0);
        let size: usize = shape.iter().product();
        let rows = if cols == 0 { 0 } else { size / cols };
        let out = Data::alloc(&shape, Dtype::Float32)?;
        // SAFETY: row-major buffers of the lengths the op layer checked.
        unsafe {
            let w = kernels::FpPacked {
                words: words.as_slice(inputs[0].size()),
                scales: scales.as_slice(inputs[1].size()),
                rows,
                cols,
                mode: self.mode,
                global: global(inputs, 2)?,
            };
            let dst = out.as_mut_slice(size);
            match dtype {
                Dtype::Float16 => kernels::dequantize(&w, dst, |v| half::f16::from_f32(v).to_f32()),
                Dtype::Bfloat16 => {
                    kernels::dequantize(&w, dst, |v| half::bf16::from_f32(v).to_f32())
                }
                _ => kernels::dequantize(&w, dst, |v| v),
            }
        }
        Ok(vec![narrowed(out, &shape, dtype)?])
    }
    fn vjp(&self, _: &[Array], _: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Err(Error::Invalid(format!(
            "[dequantize] Cannot compute the gradient with respect to the quantized weights \
             or scales in {} quantization.",
            self.mode.name()
        )))
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], outs: &[Array]) -> Result<Batched> {
        let (mode, dtype) = (self.mode, outs[0].dtype());
        by_loop(inputs, axes, move |a| {
            Ok(vec![ops::dequantize_fp(
                &a[0],
                &a[1],
                mode,
                a.get(2),
                dtype,
            )?])
        })
    }
}

/// The quantization of a `QuantizedMatmulNd`'s weights.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum QMode {
    Affine { group_size: usize, bits: usize },
    Fp(FpMode),
}

impl QMode {
    pub fn bits(self) -> usize {
        match self {
            QMode::Affine { bits, .. } => bits,
            QMode::Fp(m) => m.bits(),
        }
    }
}

/// `x @ dequantize(w).T` (`transpose`) or `x @ dequantize(w)` matrix by matrix over
/// batch axes that the op layer has made equal: x `[B.., m, k]`, w `[B.., rows, words]`,
/// scales (and biases, affine) `[B.., rows, groups]`. Inputs: x, w, scales, then biases
/// (affine) or, for nvfp4, optionally a float32 global scale per matrix (`[B..]`). `op`
/// names it in errors as MLX does (`QuantizedMatmul`, `GatherQMM`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct QuantizedMatmulNd {
    pub mode: QMode,
    pub transpose: bool,
    pub op: QmmName,
}

/// The op a [`QuantizedMatmulNd`] stands for, named in its errors as MLX names it.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub enum QmmName {
    QuantizedMatmul,
    GatherQMM,
}

impl std::fmt::Display for QmmName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl QuantizedMatmulNd {
    /// The group size and bits of affine weights; the fp modes' scales (uint8 exponents)
    /// have no gradient, as in MLX.
    fn affine_params(&self, rule: &str) -> Result<(usize, usize)> {
        match self.mode {
            QMode::Affine { group_size, bits } => Ok((group_size, bits)),
            QMode::Fp(m) => Err(Error::Invalid(format!(
                "[{}::{rule}] no gradient wrt scales in {} quantization.",
                self.op,
                m.name()
            ))),
        }
    }
}

impl Primitive for QuantizedMatmulNd {
    crate::exportable!(QuantizedMatmulNd);

    fn name(&self) -> &'static str {
        "QuantizedMatmulNd"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        let (x, w) = (&inputs[0], &inputs[1]);
        let nd = w.ndim();
        let (rows, wcols) = (w.shape()[nd - 2], w.shape()[nd - 1]);
        let cols = wcols * 32 / self.mode.bits();
        let batch: usize = w.shape()[..nd - 2].iter().product();
        let (m, k) = (x.shape()[x.ndim() - 2], x.shape()[x.ndim() - 1]);
        let n = shape[shape.len() - 1];
        let xd = row_major(x, Dtype::Float32)?;
        let words = row_major(w, Dtype::Uint32)?;
        let out = Data::alloc(&shape, Dtype::Float32)?;
        let groups = inputs[2].shape()[nd - 1];
        // SAFETY: row-major buffers of the lengths the op layer checked; each batch entry
        // reads and writes its own slice.
        unsafe {
            let xs = xd.as_slice(x.size());
            let ws = words.as_slice(w.size());
            let os = out.as_mut_slice(shape.iter().product());
            match self.mode {
                QMode::Affine { group_size, bits } => {
                    let scales = row_major(&inputs[2], Dtype::Float32)?;
                    let biases = row_major(&inputs[3], Dtype::Float32)?;
                    let (ss, bs) = (
                        scales.as_slice(inputs[2].size()),
                        biases.as_slice(inputs[3].size()),
                    );
                    for b in 0..batch {
                        let packed = affine::Packed {
                            words: &ws[b * rows * wcols..(b + 1) * rows * wcols],
                            scales: &ss[b * rows * groups..(b + 1) * rows * groups],
                            biases: &bs[b * rows * groups..(b + 1) * rows * groups],
                            rows,
                            cols,
                            bits,
                            group_size,
                        };
                        affine::qmm(
                            &xs[b * m * k..(b + 1) * m * k],
                            m,
                            &packed,
                            self.transpose,
                            &mut os[b * m * n..(b + 1) * m * n],
                        );
                    }
                }
                QMode::Fp(mode) => {
                    let scales = row_major(&inputs[2], Dtype::Uint8)?;
                    let ss = scales.as_slice(inputs[2].size());
                    let globals = match inputs.get(3) {
                        Some(g) => Some(row_major(g, Dtype::Float32)?),
                        None => None,
                    };
                    let gs = globals.as_ref().map(|g| g.as_slice::<f32>(batch));
                    for b in 0..batch {
                        let packed = kernels::FpPacked {
                            words: &ws[b * rows * wcols..(b + 1) * rows * wcols],
                            scales: &ss[b * rows * groups..(b + 1) * rows * groups],
                            rows,
                            cols,
                            mode,
                            global: gs.map(|g| g[b]),
                        };
                        kernels::qmm(
                            &xs[b * m * k..(b + 1) * m * k],
                            m,
                            &packed,
                            self.transpose,
                            &mut os[b * m * n..(b + 1) * m * n],
                        );
                    }
                }
            }
        }
        Ok(vec![narrowed(out, &shape, dtype)?])
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
                // d(x @ W.T)/dx: cot @ W, the same weights the other way round.
                0 => {
                    let prim = QuantizedMatmulNd {
                        transpose: !self.transpose,
                        ..self.clone()
                    };
                    let g = ops::quantized_matmul_nd(&cot[0], &p[1..], prim)?;
                    ops::astype(&g, p[0].dtype())
                }
                1 => Err(no_weight_gradient(self.op, "vjp")),
                _ => {
                    let (group_size, bits) = self.affine_params("vjp")?;
                    let dw = float_weight_grad(&p[0], &cot[0], self.transpose)?;
                    affine_param_grad(&dw, &p[1], &p[i], group_size, bits, i == 3)
                }
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
        if argnums.contains(&1) {
            return Err(no_weight_gradient(self.op, "jvp"));
        }
        // Bilinear in x and (scales, biases): one product per side that has tangents.
        let mut acc = None;
        if let Some(j) = argnums.iter().position(|&i| i == 0) {
            acc = Some(ops::quantized_matmul_nd(&tan[j], &p[1..], self.clone())?);
        }
        let (ts, tb) = param_tangents(p, tan, argnums, 2)?;
        if ts.is_some() || tb.is_some() {
            self.affine_params("jvp")?;
            let zeros = |a: &Array| ops::zeros_like(a, None);
            let ts = ts.map_or_else(|| zeros(&p[2]), Ok)?;
            let tb = tb.map_or_else(|| zeros(&p[3]), Ok)?;
            let t = ops::quantized_matmul_nd(&p[0], &[p[1].clone(), ts, tb], self.clone())?;
            acc = Some(match acc {
                Some(a) => ops::add(&a, &t)?,
                None => t,
            });
        }
        let t = acc.ok_or_else(|| Error::Runtime(format!("[{}] jvp without tangents", self.op)))?;
        Ok(vec![t])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let prim = self.clone();
        by_loop(inputs, axes, move |a| {
            Ok(vec![ops::quantized_matmul_nd(
                &a[0],
                &a[1..],
                prim.clone(),
            )?])
        })
    }
}
