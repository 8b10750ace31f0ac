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

fn not_differentiable(what: &str) -> Error {
    Error::Invalid(format!("[{what}] Cannot compute the gradient with respect to the quantized weights, scales or biases."))
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
    fn vjp(&self, _: &[Array], _: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Err(not_differentiable("dequantize"))
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
                _ => Err(not_differentiable("quantized_matmul")),
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
        if argnums != [0] {
            return Err(not_differentiable("quantized_matmul"));
        }
        Ok(vec![ops::quantized_matmul_with(
            &tan[0],
            &p[1],
            &p[2],
            &p[3],
            self.clone(),
        )?])
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
