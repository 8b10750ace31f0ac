//! The `Primitive` trait: the closed set of operations the backends implement.
//!
//! A primitive's semantics (output shapes and dtypes, checked by the op that builds it)
//! live in `ops/`; its CPU kernel in `backend/cpu/`. Transform rules (vjp, jvp, vmap)
//! join this trait as the transforms land.

use crate::array::{Array, Data, Shape};
use crate::dtype::Dtype;
use crate::Result;
use std::fmt::Debug;

/// What a kernel gets besides its inputs: the outputs to make and which inputs it may
/// write into (donation).
pub struct EvalContext<'a> {
    pub outputs: &'a [(Shape, Dtype)],
    /// `donatable[i]`: input `i` has no other reader and no view shares its buffer, so
    /// its buffer may become an output's.
    pub donatable: Vec<bool>,
}

impl EvalContext<'_> {
    /// A buffer for output `out`: a donatable input's buffer when one fits exactly
    /// (row-contiguous, same byte size, offset 0), else a fresh one from the cache.
    pub fn output(&mut self, out: usize, inputs: &[Array], candidates: &[usize]) -> Result<Data> {
        let (shape, dtype) = &self.outputs[out];
        let nbytes = shape.iter().product::<usize>() * dtype.size();
        for &i in candidates {
            if !self.donatable.get(i).copied().unwrap_or(false) {
                continue;
            }
            let input = &inputs[i];
            if input.shape() != shape.as_slice() || input.dtype().size() != dtype.size() {
                continue;
            }
            if let Some(d) = input.ready_data() {
                // Two references: the input node's and ours.
                if d.offset == 0
                    && d.buffer.len() == nbytes
                    && std::sync::Arc::strong_count(&d.buffer) == 2
                    && d.is_row_contiguous(shape)
                {
                    self.donatable[i] = false;
                    return Ok(Data {
                        buffer: d.buffer,
                        offset: 0,
                        strides: crate::array::row_major_strides(shape),
                    });
                }
            }
        }
        Data::alloc(shape, *dtype)
    }
}

/// An operation the backends implement.
pub trait Primitive: Send + Sync + Debug {
    /// MLX's name for it (`Add`, `Reduce`, ...), for errors and graph dumps.
    fn name(&self) -> &'static str;

    /// Computes the outputs on the CPU from evaluated inputs.
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>>;

    /// The concrete primitive, for the scheduler's few peephole rules (see
    /// `scheduler::fusable_product`). `None` (the default) opts out of them.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}
