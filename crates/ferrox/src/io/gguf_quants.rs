//! GGUF's Q4_0, Q4_1 and Q8_0 blocks as MLX's affine quantization, decoded lazily.
//!
//! Each block holds 32 weights of one row and a float16 scale `d` (and, for Q4_1, a
//! float16 minimum `m`); the weights are `(q - 8)·d` (Q4_0), `q·d + m` (Q4_1) or
//! `q·d` with signed `q` (Q8_0). Affine quantization with group size 32 stores
//! unsigned `q` with `w = q·scale + bias`, so the scale is `d` and the bias `-8·d`,
//! `m`, or `-128·d` (with `q + 128` stored): exact in float16, since the factors are
//! powers of two. What changes is the packing: Q4_0/Q4_1 put weight `i` and `i + 16`
//! in one byte; MLX packs 8 consecutive 4-bit (or 4 consecutive 8-bit) weights per
//! `uint32`, lowest bits first.

use super::source::Source;
use crate::array::Data;
use crate::device::{default_stream, Device};
use crate::dtype::Dtype;
use crate::primitive::{EvalContext, Primitive};
use crate::{Array, Result};
use half::f16;
use rayon::prelude::*;
use std::sync::Arc;

/// Weights per block, in every supported type.
const BLOCK: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantKind {
    Q4_0,
    Q4_1,
    Q8_0,
}

impl QuantKind {
    pub fn from_ggml(t: u32) -> Option<QuantKind> {
        match t {
            2 => Some(QuantKind::Q4_0),
            3 => Some(QuantKind::Q4_1),
            8 => Some(QuantKind::Q8_0),
            _ => None,
        }
    }
    pub fn block(self) -> usize {
        BLOCK
    }
    pub fn block_bytes(self) -> usize {
        match self {
            QuantKind::Q4_0 => 2 + 16,
            QuantKind::Q4_1 => 2 + 2 + 16,
            QuantKind::Q8_0 => 2 + 32,
        }
    }
    pub fn bits(self) -> usize {
        match self {
            QuantKind::Q8_0 => 8,
            _ => 4,
        }
    }
}

/// Decodes the blocks at `source[offset..]` into (packed weights, scales, biases).
#[derive(Debug)]
pub struct GgufQuant {
    source: Arc<Source>,
    offset: usize,
    kind: QuantKind,
}

impl GgufQuant {
    /// The three lazy arrays of a quantized tensor of `shape` (GGUF's dimensions
    /// reversed), whose byte range the caller has checked.
    pub fn arrays(
        source: &Arc<Source>,
        offset: usize,
        shape: &[usize],
        kind: QuantKind,
    ) -> Result<[Array; 3]> {
        let (&cols, batch) = shape.split_last().unwrap_or((&1, &[]));
        let with_last = |n: usize| [batch, &[n]].concat();
        let outputs = vec![
            (with_last(cols * kind.bits() / 32), Dtype::Uint32),
            (with_last(cols / BLOCK), Dtype::Float16),
            (with_last(cols / BLOCK), Dtype::Float16),
        ];
        let primitive = GgufQuant {
            source: source.clone(),
            offset,
            kind,
        };
        let arrays =
            Array::from_multi_op(outputs, primitive, vec![], default_stream(Device::cpu())?);
        let [w, s, b]: [Array; 3] = arrays.try_into().expect("three outputs");
        Ok([w, s, b])
    }
}

impl Primitive for GgufQuant {
    fn name(&self) -> &'static str {
        "GgufQuant"
    }

    fn eval_cpu(&self, _: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let outs: Vec<Data> = ctx
            .outputs
            .iter()
            .map(|(shape, dtype)| Data::alloc(shape, *dtype))
            .collect::<Result<_>>()?;
        let n_blocks = ctx.outputs[1].0.iter().product::<usize>();
        let words = BLOCK * self.kind.bits() / 32;
        let bytes = self.kind.block_bytes();
        // SAFETY: `GgufQuant::arrays`' caller checked that the blocks lie in the
        // source; the outputs are fresh buffers of these sizes.
        let (src, w, s, b) = unsafe {
            (
                std::slice::from_raw_parts(
                    self.source.bytes().as_ptr().add(self.offset),
                    n_blocks * bytes,
                ),
                outs[0].as_mut_slice::<u32>(n_blocks * words),
                outs[1].as_mut_slice::<f16>(n_blocks),
                outs[2].as_mut_slice::<f16>(n_blocks),
            )
        };
        // Blocks are independent; chunks of them keep the scheduling cost negligible.
        const CHUNK: usize = 1024;
        w.par_chunks_mut(CHUNK * words)
            .zip(s.par_chunks_mut(CHUNK).zip(b.par_chunks_mut(CHUNK)))
            .zip(src.par_chunks(CHUNK * bytes))
            .for_each(|((w, (s, b)), src)| {
                for (i, block) in src.chunks_exact(bytes).enumerate() {
                    let (scale, bias) =
                        decode_block(self.kind, block, &mut w[i * words..(i + 1) * words]);
                    s[i] = scale;
                    b[i] = bias;
                }
            });
        Ok(outs)
    }

    fn cse_key(&self) -> Option<String> {
        Some(format!(
            "GgufQuant:{:p}:{}:{:?}",
            Arc::as_ptr(&self.source),
            self.offset,
            self.kind
        ))
    }

    crate::no_input_rules!();
}

/// Repacks one block into `words` and returns its (scale, bias).
fn decode_block(kind: QuantKind, block: &[u8], words: &mut [u32]) -> (f16, f16) {
    let d = f16::from_le_bytes([block[0], block[1]]);
    match kind {
        QuantKind::Q4_0 | QuantKind::Q4_1 => {
            let qs = &block[block.len() - 16..];
            // Weight i is qs[i]'s low nibble for i < 16, qs[i - 16]'s high one after.
            let q = |i: usize| if i < 16 { qs[i] & 0xf } else { qs[i - 16] >> 4 } as u32;
            for (j, word) in words.iter_mut().enumerate() {
                *word = (0..8).fold(0, |acc, k| acc | q(8 * j + k) << (4 * k));
            }
            let bias = if kind == QuantKind::Q4_0 {
                f16::from_f32(-8.0 * d.to_f32())
            } else {
                f16::from_le_bytes([block[2], block[3]])
            };
            (d, bias)
        }
        QuantKind::Q8_0 => {
            let qs = &block[2..];
            for (j, word) in words.iter_mut().enumerate() {
                // Signed q + 128 is q's bits with the sign bit flipped.
                *word = (0..4).fold(0, |acc, k| acc | ((qs[4 * j + k] ^ 0x80) as u32) << (8 * k));
            }
            (d, f16::from_f32(-128.0 * d.to_f32()))
        }
    }
}
