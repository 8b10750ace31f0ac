//! The `Primitive` trait: the closed set of operations the backends implement.
//!
//! A primitive's semantics (output shapes and dtypes, checked by the op that builds it)
//! live in `ops/`; its CPU kernel in `backend/cpu/`; its transform rules (`vjp`, `jvp`,
//! `vmap`) are methods of this trait, written beside the primitive. The rules build more
//! lazy ops and evaluate nothing, so the transforms in `transforms/` compose (a
//! derivative of a derivative is the same walk over a graph the first one built).

use crate::array::{Array, Data, Shape};
use crate::dtype::Dtype;
use crate::{Error, Result};
use std::fmt::Debug;

/// The error of a rule a primitive does not have (yet).
pub fn not_implemented(name: &str, rule: &str) -> Error {
    Error::Invalid(format!("[{name}] {rule} is not implemented."))
}

/// In a `jvp` rule: the tangent of input `i` (`tangents[j]` for `argnums[j] == i`), or
/// zeros like the primal when it has none.
pub fn tangent_or_zeros(
    primals: &[Array],
    tangents: &[Array],
    argnums: &[usize],
    i: usize,
) -> Result<Array> {
    match argnums.iter().position(|&a| a == i) {
        Some(j) => Ok(tangents[j].clone()),
        None => crate::ops::zeros_like(&primals[i], None),
    }
}

/// Outputs of a batched primitive and the batch axis of each (`None`: not batched).
pub type Batched = (Vec<Array>, Vec<Option<usize>>);

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
            // (The scheduler found the buffer held by the input's node alone before the
            // kernel ran; the kernel's own clones of it are the reads it is allowed.)
            if let Some(d) = input.ready_data() {
                if d.offset == 0 && d.buffer.len() == nbytes && d.is_row_contiguous(shape) {
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
    /// `scheduler::fusable_product`) and `compile`'s fusion. `None` (the default) opts
    /// out of them.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }

    /// A string equal for two instances exactly when they compute the same function of
    /// their inputs (name and parameters), for `compile`'s common-subexpression merge.
    /// `None` opts out: primitives holding closures, whose `Debug` cannot tell two apart.
    fn cse_key(&self) -> Option<String> {
        Some(format!("{}:{self:?}", self.name()))
    }

    /// Whether `vjp` is a rule of this primitive's math, written for real arrays, to which
    /// the reverse walk applies MLX's convention for complex outputs (see
    /// `transforms::vjp::backward`). `false` for rules that are whole functions of their
    /// own (custom functions, checkpoints), whose cotangents pass through unchanged.
    fn conjugates_complex_vjp(&self) -> bool {
        true
    }

    /// Vector-Jacobian product: from the cotangents of the outputs (one per output, zeros
    /// where an output has none), the cotangent of each input listed in `argnums`, in that
    /// order. `outputs` are this primitive's own outputs, which some rules reuse (`exp`).
    /// Inputs that carry no derivative (integer indices, keys, comparison operands) get
    /// zeros, as in MLX.
    fn vjp(
        &self,
        primals: &[Array],
        cotangents: &[Array],
        argnums: &[usize],
        outputs: &[Array],
    ) -> Result<Vec<Array>> {
        let _ = (primals, cotangents, argnums, outputs);
        Err(not_implemented(self.name(), "vjp"))
    }

    /// Jacobian-vector product: `tangents[i]` is the tangent of input `argnums[i]` (the
    /// inputs not listed have zero tangent); returns the tangent of each output.
    fn jvp(
        &self,
        primals: &[Array],
        tangents: &[Array],
        argnums: &[usize],
        outputs: &[Array],
    ) -> Result<Vec<Array>> {
        let _ = (primals, tangents, argnums, outputs);
        Err(not_implemented(self.name(), "jvp"))
    }

    /// Batching: input `i` carries an extra axis at `axes[i]` (`None`: it is shared by the
    /// whole batch; at least one input is batched). Returns the batched outputs and the
    /// axis each carries the batch on. `outputs` are the unbatched outputs (for shapes).
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], outputs: &[Array]) -> Result<Batched> {
        let _ = (inputs, axes, outputs);
        Err(not_implemented(self.name(), "vmap"))
    }

    /// Whether the primitive is `stop_gradient`: the transforms do not differentiate
    /// through it (nothing behind it depends on the traced inputs).
    fn is_stop_gradient(&self) -> bool {
        false
    }

    /// For `compile(shapeless)`: the output shapes on `inputs` of new shapes (same
    /// ndims and dtypes as the node was built with), given the shapes it was built with
    /// (`traced`: its inputs', then its outputs'). `None` when they cannot be inferred
    /// (the default: most shape parameters are fixed when an op is built) or the inputs
    /// do not fit; the compiled function then traces again for the new shapes.
    fn output_shapes(&self, inputs: &[&[usize]], traced: &TracedShapes) -> Option<Vec<Shape>> {
        let _ = (inputs, traced);
        None
    }

    /// For `export_function`: the primitive's name in the table of
    /// `transforms::export` and its parameters. `None` (the default): it cannot be
    /// saved (it holds closures). Written by [`exportable!`].
    fn export(&self) -> Option<(&'static str, serde_json::Value)> {
        None
    }

    /// For `export_function`: when each output of this primitive is one of its inputs
    /// (a custom function's call node, which matters only to transforms), the index of
    /// that input per output, given how many inputs the node has. Export saves the
    /// inputs instead of the node.
    fn forwards(&self, n_inputs: usize) -> Option<Vec<usize>> {
        let _ = n_inputs;
        None
    }
}

/// Implements [`Primitive::export`] for a primitive that derives `Serialize`, under its
/// type's name (which `transforms::export`'s table maps back to the type).
#[macro_export]
#[doc(hidden)]
macro_rules! exportable {
    ($t:ident) => {
        fn export(&self) -> Option<(&'static str, serde_json::Value)> {
            Some((stringify!($t), serde_json::to_value(self).ok()?))
        }
    };
}

/// Implements `vjp`, `jvp` and `vmap` for a primitive without inputs (data made from
/// nothing, or read from a file): nothing to differentiate or batch. The walks never
/// call these with a traced input; they are here so that every primitive answers
/// every rule.
#[macro_export]
#[doc(hidden)]
macro_rules! no_input_rules {
    () => {
        fn vjp(
            &self,
            _: &[$crate::Array],
            _: &[$crate::Array],
            _: &[usize],
            _: &[$crate::Array],
        ) -> $crate::Result<Vec<$crate::Array>> {
            Ok(vec![])
        }
        fn jvp(
            &self,
            _: &[$crate::Array],
            _: &[$crate::Array],
            _: &[usize],
            out: &[$crate::Array],
        ) -> $crate::Result<Vec<$crate::Array>> {
            out.iter()
                .map(|o| $crate::ops::zeros_like(o, None))
                .collect()
        }
        fn vmap(
            &self,
            _: &[$crate::Array],
            _: &[Option<usize>],
            out: &[$crate::Array],
        ) -> $crate::Result<$crate::primitive::Batched> {
            Ok((out.to_vec(), vec![None; out.len()]))
        }
    };
}

/// The shapes a node was traced with, for [`Primitive::output_shapes`].
pub struct TracedShapes<'a> {
    pub inputs: &'a [&'a [usize]],
    pub outputs: &'a [&'a [usize]],
}

/// [`Primitive::output_shapes`] of an elementwise primitive: its inputs (broadcast to
/// one shape when it was built) still share one shape, which its outputs have.
pub fn same_shape(inputs: &[&[usize]], n_outputs: usize) -> Option<Vec<Shape>> {
    let first = inputs.first()?;
    inputs
        .iter()
        .all(|s| s == first)
        .then(|| vec![first.to_vec(); n_outputs])
}
