//! Function transforms: `vjp`, `jvp`, `grad`, `value_and_grad`, `vmap`, `checkpoint`,
//! `custom_function`.
//!
//! As in MLX, a transform runs the function on traced arrays and walks the lazy graph the
//! function built, calling each primitive's rule (`Primitive::{vjp, jvp, vmap}`), which
//! builds more lazy ops. Nothing is recorded while kernels run and nothing is evaluated,
//! so the result of a transform is an ordinary graph that another transform can walk:
//! `grad(grad(f))`, `vmap(grad(f))` and `jvp` of a `vjp` need nothing special.
//!
//! ```
//! use ferrox::{ops, transforms::grad, Array};
//! let f = |x: &[Array]| Ok(vec![ops::sum(&ops::multiply(&x[0], &x[0])?, &[], false)?]);
//! let df = grad(f, &[0]);
//! let x = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
//! assert_eq!(df(&[x])?[0].to_vec::<f32>()?, vec![2.0, 4.0, 6.0]);
//! # Ok::<(), ferrox::Error>(())
//! ```
//!
//! One module per idea: `vjp.rs` (reverse mode), `jvp.rs` (forward mode), `grad.rs`
//! (`grad`/`value_and_grad` over `vjp`), `vmap.rs` (batching, and the helpers the batching
//! rules share), `custom.rs` (a primitive wrapping a closure with optional rules),
//! `checkpoint.rs` (recompute in the backward pass). This file holds what they share:
//! the tracing state and the walk that finds the ops between inputs and outputs.

mod checkpoint;
mod compile;
mod custom;
mod export;
mod fuse;
mod grad;
mod jvp;
mod vjp;
pub(crate) mod vmap;

pub use checkpoint::checkpoint;
pub use compile::{
    compile, disable_compile, enable_compile, set_compile_cache_size, Compiled, Program,
};
pub use custom::{custom_function, CustomFunction};
pub use export::{
    export_function, export_graph, export_to_dot, import_function, ExportedGraph, ExportedNode,
    Exporter, Imported,
};
pub use grad::{grad, value_and_grad};
pub use jvp::jvp;
pub use vjp::vjp;
pub use vmap::{vmap, vmap_with_out_axes};

pub(crate) use custom::depends;

use crate::array::{Array, Data, Op};
use crate::primitive::{Batched, EvalContext, Primitive};
use crate::scheduler::AddressHasher;
use crate::{Error, Result};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

/// A hash map keyed by node id (an address): the scheduler's cheap hasher.
pub(crate) type IdMap<V> = HashMap<usize, V, BuildHasherDefault<AddressHasher>>;
pub(crate) type IdSet = HashSet<usize, BuildHasherDefault<AddressHasher>>;

thread_local! {
    /// How many traced functions this thread is inside (transforms nest).
    static TRACING: Cell<usize> = const { Cell::new(0) };
    /// How many of those are `compile` or `vmap` traces, whose traced arrays stand for
    /// values not known yet (a later call's, or a batch's).
    static SYMBOLIC: Cell<usize> = const { Cell::new(0) };
}

/// Whether `a`'s values are unknown while it is traced: it depends on an argument of a
/// function `compile` or `vmap` is tracing. Ops whose output shape depends on values
/// (`nonzero`, boolean-mask reads) refuse such arrays.
pub fn values_unknown(a: &Array) -> bool {
    a.is_tracer() && SYMBOLIC.with(|t| t.get() > 0)
}

/// Runs `f` on `inputs` as a traced function whose arguments stand for values not known
/// yet (`compile`, `vmap`).
pub(crate) fn trace_symbolic(
    f: &dyn Fn(&[Array]) -> Result<Vec<Array>>,
    inputs: &[Array],
) -> Result<Vec<Array>> {
    struct Symbolic;
    impl Drop for Symbolic {
        fn drop(&mut self) {
            SYMBOLIC.with(|t| t.set(t.get().saturating_sub(1)));
        }
    }
    SYMBOLIC.with(|t| t.set(t.get() + 1));
    let _symbolic = Symbolic;
    trace(f, inputs)
}

/// Whether this thread is running a function a transform traces. While it is, evaluating
/// a tracer node keeps its graph (see `scheduler::store`).
pub(crate) fn is_tracing() -> bool {
    TRACING.with(|t| t.get() > 0)
}

/// Marks this thread as tracing until dropped (also on an early return or panic).
pub(crate) struct Tracing;

impl Tracing {
    pub(crate) fn enter() -> Tracing {
        TRACING.with(|t| t.set(t.get() + 1));
        Tracing
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        TRACING.with(|t| t.set(t.get().saturating_sub(1)));
    }
}

/// Runs `f` on `inputs` as a traced function.
pub(crate) fn trace(
    f: &dyn Fn(&[Array]) -> Result<Vec<Array>>,
    inputs: &[Array],
) -> Result<Vec<Array>> {
    let _tracing = Tracing::enter();
    f(inputs)
}

/// The identity op that stands for an argument of a traced function: a node of its own
/// (so the walk can tell it from the caller's array, even when the caller passes one
/// array twice) that shares the argument's data.
#[derive(Debug)]
pub(crate) struct TracerInput;

impl Primitive for TracerInput {
    fn name(&self) -> &'static str {
        "TracerInput"
    }
    fn eval_cpu(&self, inputs: &[Array], _: &mut EvalContext) -> Result<Vec<Data>> {
        Ok(vec![inputs[0].data()?])
    }
    fn forwards(&self, _: usize) -> Option<Vec<usize>> {
        Some(vec![0])
    }
    fn vjp(&self, _: &[Array], cot: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![cot[0].clone()])
    }
    fn jvp(&self, _: &[Array], tan: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![tan[0].clone()])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        Ok((vec![inputs[0].clone()], vec![axes[0]]))
    }
}

/// A traced stand-in for each argument.
pub(crate) fn tracers(args: &[Array]) -> Vec<Array> {
    args.iter().map(|a| a.new_tracer(TracerInput)).collect()
}

/// The outputs of `op` as arrays. An output nobody holds any more has no node; it gets
/// zeros of its shape (rules only read an output's shape or value, never its identity).
pub(crate) fn op_outputs(op: &Op) -> Result<Vec<Array>> {
    let nodes = op.nodes.get().map(|n| n.as_slice()).unwrap_or(&[]);
    op.outputs
        .iter()
        .enumerate()
        .map(
            |(i, (shape, dtype))| match nodes.get(i).and_then(|w| w.upgrade()) {
                Some(node) => Ok(Array(node)),
                None => crate::ops::zeros(shape, Some(*dtype)),
            },
        )
        .collect()
}

/// Node ids of the live outputs of `op` (in output order; `None` for a dropped one).
pub(crate) fn output_ids(op: &Op) -> Vec<Option<usize>> {
    let nodes = op.nodes.get().map(|n| n.as_slice()).unwrap_or(&[]);
    (0..op.outputs.len())
        .map(|i| {
            nodes
                .get(i)
                .and_then(|w| w.upgrade())
                .map(|n| Array(n).id())
        })
        .collect()
}

/// The ops on a path from `inputs` to `outputs`, inputs before readers, and the ids of
/// every node that depends on an input (the inputs included). With `differentiate`, a
/// `stop_gradient` cuts the path.
///
/// The walk is iterative (graphs are deep) and stops at the inputs and at evaluated
/// nodes that kept no graph, so a long evaluated history is not visited.
pub(crate) fn tape(
    outputs: &[Array],
    inputs: &[Array],
    differentiate: bool,
) -> (Vec<Arc<Op>>, IdSet) {
    let mut depends: IdSet = inputs.iter().map(Array::id).collect();
    let mut order: Vec<Arc<Op>> = Vec::new();
    let mut seen: IdSet = IdSet::default();
    let mut stack: Vec<(Arc<Op>, usize)> = Vec::new();
    let visit = |a: &Array, seen: &mut IdSet, stack: &mut Vec<(Arc<Op>, usize)>| {
        if depends.contains(&a.id()) {
            return;
        }
        if let Some((op, _)) = a.graph_op() {
            if seen.insert(Arc::as_ptr(&op) as usize) {
                stack.push((op, 0));
            }
        }
    };
    // One depth-first walk per output, each to its end before the next starts: pushing
    // every output first would let an output that reads another (`s` and `s * 2`) finish
    // before the op making the one it reads, breaking the inputs-first order.
    for a in outputs {
        visit(a, &mut seen, &mut stack);
        while let Some((op, next)) = stack.last_mut() {
            if *next < op.inputs.len() {
                let child = op.inputs[*next].clone();
                *next += 1;
                visit(&child, &mut seen, &mut stack);
            } else if let Some((op, _)) = stack.pop() {
                order.push(op);
            }
        }
    }
    let mut tape = Vec::new();
    for op in order {
        if differentiate && op.primitive.is_stop_gradient() {
            continue;
        }
        if op.inputs.iter().any(|a| depends.contains(&a.id())) {
            depends.extend(output_ids(&op).into_iter().flatten());
            tape.push(op);
        }
    }
    (tape, depends)
}

/// Checks that a rule gave one array per expected slot.
pub(crate) fn check_count(op: &Op, rule: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::Runtime(format!(
            "[{}] {rule} rule returned {got} arrays, expected {want}.",
            op.primitive.name()
        )));
    }
    Ok(())
}

/// Errors unless every array in `args` is floating point (or complex): derivatives are
/// taken only with respect to inexact inputs.
pub(crate) fn check_inexact(name: &str, args: &[Array], argnums: Option<&[usize]>) -> Result<()> {
    for (k, a) in args.iter().enumerate() {
        if !a.dtype().is_inexact() {
            let n = argnums.map_or(k, |v| v[k]);
            return Err(Error::Invalid(format!(
                "[{name}] Cannot differentiate with respect to argument {n} of dtype {} (shape \
                 {:?}): derivatives are taken only with respect to floating point inputs.",
                a.dtype(),
                a.shape()
            )));
        }
    }
    Ok(())
}
