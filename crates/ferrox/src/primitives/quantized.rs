//! Affine quantization: `PackBits` (codes to uint32 words), `Dequantize` (words to
//! `code * scale + bias`) and `QuantizedMatmul` (`x @ dequantize(w).T` without the float
//! weights). The ops that build them, and the choice of scales and biases, are in
//! `ops/quantize.rs`.

use super::{narrowed, row_major};
use crate::array::{Array, Data};
use crate::backend::cpu::quantized as kernels;
use crate::dtype::Dtype;
use crate::primitive::{Batched, EvalContext, Primitive};
use crate::transforms::vmap::by_loop;
use crate::{ops, Error, Result};

/// MLX's error for a gradient with respect to packed codes, which are not differentiable.
pub(crate) fn no_weight_gradient(op: impl std::fmt::Display, rule: &str) -> Error {
    Error::Runtime(format!(
        "[{op}::{rule}] no gradient wrt the quantized weights."
    ))
}

/// The gradient of an affine matrix's `param` (its scales, or its biases when `biases`)
/// from `dw`, the gradient of the float matrix `[.., rows, cols]` that the packed `w`
/// stands for. Each value is `code * scale + bias` of its group of `group_size`, so a
/// scale's gradient is its group's `Σ dw·code` and a bias's `Σ dw`.
pub(crate) fn affine_param_grad(
    dw: &Array,
    w: &Array,
    param: &Array,
    group_size: usize,
    bits: usize,
    biases: bool,
) -> Result<Array> {
    let mut grouped = param.shape().to_vec();
    grouped.push(group_size);
    // Summed in at least float32, whatever the parameters' precision.
    let wide = match dw.dtype() {
        Dtype::Float64 => Dtype::Float64,
        _ => Dtype::Float32,
    };
    let dw = ops::astype(dw, wide)?.reshape(&grouped)?;
    let per_value = if biases {
        dw
    } else {
        let codes = ops::dequantize(
            w,
            &ops::ones_like(param, Some(Dtype::Float32))?,
            Some(&ops::zeros_like(param, Some(Dtype::Float32))?),
            Some(group_size),
            Some(bits),
            "affine",
            None,
            Some(Dtype::Float32),
        )?;
        ops::multiply(&dw, &codes.reshape(&grouped)?)?
    };
    ops::astype(&ops::sum(&per_value, &[-1], false)?, param.dtype())
}

/// The gradient of the float weights in `y = x @ W.T` (`transpose`) or `y = x @ W` from
/// the output's cotangent: `cot.T @ x` or `x.T @ cot`, matrix by matrix over batch axes.
pub(crate) fn float_weight_grad(x: &Array, cot: &Array, transpose: bool) -> Result<Array> {
    let (a, b) = if transpose { (cot, x) } else { (x, cot) };
    ops::matmul(&ops::swapaxes(a, -1, -2)?, b)
}

/// The tangents of the scales and biases, inputs `first` and `first + 1`, where given.
pub(crate) fn param_tangents(
    p: &[Array],
    tan: &[Array],
    argnums: &[usize],
    first: usize,
) -> Result<(Option<Array>, Option<Array>)> {
    let of = |i: usize| -> Result<Option<Array>> {
        match argnums.iter().position(|&a| a == i) {
            Some(j) => Ok(Some(ops::astype(&tan[j], p[i].dtype())?)),
            None => Ok(None),
        }
    };
    Ok((of(first)?, of(first + 1)?))
}

/// `x` (`[.., k]`) as the matrix of its rows, `[rows, k]`.
fn rows_of(x: &Array) -> Result<Array> {
    let k = x.shape().last().copied().unwrap_or(1).max(1);
    x.reshape(&[x.size() / k, k])
}

/// Codes (uint32, each `< 2^bits`, last axis `n`) packed into `n * bits / 32` words.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct PackBits {
    pub bits: usize,
}

impl Primitive for PackBits {
    crate::exportable!(PackBits);

    fn name(&self) -> &'static str {
        "PackBits"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, _) = ctx.outputs[0].clone();
        let codes = row_major(&inputs[0], Dtype::Uint32)?;
        let n = inputs[0].shape().last().copied().unwrap_or(0);
        let out = Data::alloc(&shape, Dtype::Uint32)?;
        let (len_in, len_out) = (inputs[0].size(), shape.iter().product());
        // SAFETY: row-major buffers of these lengths.
        unsafe {
            kernels::pack(
                codes.as_slice(len_in),
                n,
                self.bits,
                out.as_mut_slice(len_out),
            )
        };
        Ok(vec![out])
    }
    fn vjp(&self, p: &[Array], _: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        argnums
            .iter()
            .map(|&i| ops::zeros_like(&p[i], None))
            .collect()
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let bits = self.bits;
        by_loop(inputs, axes, move |a| {
            Ok(vec![ops::pack_bits(&a[0], bits)?])
        })
    }
}

/// The float values of packed weights `[.., rows, cols * bits / 32]` with `scales` and
/// `biases` `[.., rows, cols / group_size]`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Dequantize {
    pub group_size: usize,
    pub bits: usize,
}

impl Primitive for Dequantize {
    crate::exportable!(Dequantize);

    fn name(&self) -> &'static str {
        "Dequantize"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        let words = row_major(&inputs[0], Dtype::Uint32)?;
        let scales = row_major(&inputs[1], Dtype::Float32)?;
        let biases = row_major(&inputs[2], Dtype::Float32)?;
        let cols = shape.last().copied().unwrap_or(0);
        let rows = if cols == 0 {
            0
        } else {
            shape.iter().product::<usize>() / cols
        };
        let out = Data::alloc(&shape, Dtype::Float32)?;
        // SAFETY: row-major buffers of the lengths the op layer checked.
        unsafe {
            let packed = kernels::Packed {
                words: words.as_slice(inputs[0].size()),
                scales: scales.as_slice(inputs[1].size()),
                biases: biases.as_slice(inputs[2].size()),
                rows,
                cols,
                bits: self.bits,
                group_size: self.group_size,
            };
            let dst = out.as_mut_slice(rows * cols);
            match dtype {
                Dtype::Float16 => {
                    kernels::dequantize(&packed, dst, |v| half::f16::from_f32(v).to_f32())
                }
                Dtype::Bfloat16 => {
                    kernels::dequantize(&packed, dst, |v| half::bf16::from_f32(v).to_f32())
                }
                _ => kernels::dequantize(&packed, dst, |v| v),
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
        let (gs, bits) = (self.group_size, self.bits);
        argnums
            .iter()
            .map(|&i| match i {
                // Codes are integers: as in MLX, their gradient is zero.
                0 => ops::zeros_like(&p[0], None),
                _ => affine_param_grad(&cot[0], &p[0], &p[i], gs, bits, i == 2),
            })
            .collect()
    }
    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        outs: &[Array],
    ) -> Result<Vec<Array>> {
        // Linear in (scales, biases) together: the tangent is the dequantization of the
        // same codes with the tangents (zero where none) as scales and biases.
        let (ts, tb) = param_tangents(p, tan, argnums, 1)?;
        if ts.is_none() && tb.is_none() {
            return Ok(vec![ops::zeros_like(&outs[0], None)?]);
        }
        let zeros = |a: &Array| ops::zeros_like(a, None);
        let ts = ts.map_or_else(|| zeros(&p[1]), Ok)?;
        let tb = tb.map_or_else(|| zeros(&p[2]), Ok)?;
        let t = ops::dequantize(
            &p[0],
            &ts,
            Some(&tb),
            Some(self.group_size),
            Some(self.bits),
            "affine",
            None,
            Some(outs[0].dtype()),
        )?;
        Ok(vec![t])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let (gs, bits) = (self.group_size, self.bits);
        by_loop(inputs, axes, move |a| {
            Ok(vec![ops::dequantize(
                &a[0],
                &a[1],
                Some(&a[2]),
                Some(gs),
                Some(bits),
                "affine",
                None,
                None,
            )?])
        })
    }
}

/// `x @ dequantize(w).T` (`transpose`) or `x @ dequantize(w)`, for `x` `[.., k]` and a
/// 2-D quantized `w`. Inputs: x, w, scales, biases.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct QuantizedMatmul {
    pub group_size: usize,
    pub bits: usize,
    pub transpose: bool,
}

impl Primitive for QuantizedMatmul {
    crate::exportable!(QuantizedMatmul);

    fn name(&self) -> &'static str {
        "QuantizedMatmul"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        let (x, w) = (&inputs[0], &inputs[1]);
        let xd = row_major(x, Dtype::Float32)?;
        let words = row_major(w, Dtype::Uint32)?;
        let scales = row_major(&inputs[2], Dtype::Float32)?;
        let biases = row_major(&inputs[3], Dtype::Float32)?;
        let rows = w.shape()[0];
        let cols = w.shape()[1] * 32 / self.bits;
        let k = x.shape().last().copied().unwrap_or(0);
        let m = if k == 0 {
            x.shape()[..x.ndim() - 1].iter().product()
        } else {
            x.size() / k
        };
        let out = Data::alloc(&shape, Dtype::Float32)?;
        // SAFETY: row-major buffers of the lengths the op layer checked.
        unsafe {
            let packed = kernels::Packed {
                words: words.as_slice(w.size()),
                scales: scales.as_slice(inputs[2].size()),
                biases: biases.as_slice(inputs[3].size()),
                rows,
                cols,
                bits: self.bits,
                group_size: self.group_size,
            };
            kernels::qmm(
                xd.as_slice(x.size()),
                m,
                &packed,
                self.transpose,
                out.as_mut_slice(shape.iter().product()),
            );
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
                    let prim = QuantizedMatmul {
                        transpose: !self.transpose,
                        ..self.clone()
                    };
                    let g = ops::quantized_matmul_with(&cot[0], &p[1], &p[2], &p[3], prim)?;
                    ops::astype(&g, p[0].dtype())
                }
                1 => Err(no_weight_gradient("QuantizedMatmul", "vjp")),
                _ => {
                    let dw =
                        float_weight_grad(&rows_of(&p[0])?, &rows_of(&cot[0])?, self.transpose)?;
                    affine_param_grad(&dw, &p[1], &p[i], self.group_size, self.bits, i == 3)
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
            return Err(no_weight_gradient("QuantizedMatmul", "jvp"));
        }
        // Bilinear in x and (scales, biases): one product per side that has tangents.
        let mut acc = None;
        if let Some(j) = argnums.iter().position(|&i| i == 0) {
            acc = Some(ops::quantized_matmul_with(
                &tan[j],
                &p[1],
                &p[2],
                &p[3],
                self.clone(),
            )?);
        }
        let (ts, tb) = param_tangents(p, tan, argnums, 2)?;
        if ts.is_some() || tb.is_some() {
            let zeros = |a: &Array| ops::zeros_like(a, None);
            let ts = ts.map_or_else(|| zeros(&p[2]), Ok)?;
            let tb = tb.map_or_else(|| zeros(&p[3]), Ok)?;
            let t = ops::quantized_matmul_with(&p[0], &p[1], &ts, &tb, self.clone())?;
            acc = Some(match acc {
                Some(a) => ops::add(&a, &t)?,
                None => t,
            });
        }
        let t =
            acc.ok_or_else(|| Error::Runtime("[QuantizedMatmul] jvp without tangents".into()))?;
        Ok(vec![t])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let prim = self.clone();
        match axes {
            // A batch of inputs is more rows of x.
            [Some(ax), None, None, None] => {
                let x = ops::moveaxis(&inputs[0], *ax as isize, 0)?;
                let y = ops::quantized_matmul_with(&x, &inputs[1], &inputs[2], &inputs[3], prim)?;
                Ok((vec![y], vec![Some(0)]))
            }
            _ => by_loop(inputs, axes, move |a| {
                Ok(vec![ops::quantized_matmul_with(
                    &a[0],
                    &a[1],
                    &a[2],
                    &a[3],
                    prim.clone(),
                )?])
            }),
        }
    }
}
