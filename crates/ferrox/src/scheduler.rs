//! `eval` and `async_eval`: order the graph without recursion, run each op on its
//! stream, and let buffers go as soon as their last reader has run.
//!
//! Reader counting falls out of ownership: a pending op owns its inputs; once all of an
//! op's outputs are set the op is dropped, and with it the last reference to any input
//! no one else holds, whose buffer returns to the allocator's cache at once. An input
//! whose node and buffer are held by this op alone is donated: the kernel may write its
//! output into that buffer.
//!
//! ```
//! use ferrox::ops::{add, arange};
//! let a = arange(0.0, 3.0, 1.0, None)?;
//! let b = add(&a, 1.0)?;
//! let c = add(&b, &b)?;
//! ferrox::eval(&[b.clone(), c.clone()])?;     // one pass computes both
//! assert!(b.is_evaluated() && c.is_evaluated());
//! # Ok::<(), ferrox::Error>(())
//! ```

use crate::array::{Array, Op, State};
use crate::device::DeviceType;
use crate::primitive::EvalContext;
use crate::{Error, Result};
use std::collections::HashSet;
use std::sync::Arc;

/// The pending ops `outputs` depend on, inputs before readers (iterative DFS).
fn topological_order(outputs: &[Array]) -> Vec<Arc<Op>> {
    let mut order = Vec::new();
    let mut seen: HashSet<*const Op> = HashSet::new();
    let mut stack: Vec<(Arc<Op>, usize)> = Vec::new();
    for a in outputs {
        if let Some(op) = a.pending_op() {
            if seen.insert(Arc::as_ptr(&op)) {
                stack.push((op, 0));
            }
        }
    }
    while let Some((op, next)) = stack.last_mut() {
        if *next < op.inputs.len() {
            let child = op.inputs[*next].pending_op();
            *next += 1;
            if let Some(child) = child {
                if seen.insert(Arc::as_ptr(&child)) {
                    stack.push((child, 0));
                }
            }
        } else if let Some((op, _)) = stack.pop() {
            order.push(op);
        }
    }
    order
}

fn run(op: &Op) -> Result<()> {
    if op.stream.device.kind != DeviceType::Cpu {
        return Err(Error::Runtime(format!(
            "[eval] {} has no backend in this build",
            op.stream.device
        )));
    }
    let donatable = op
        .inputs
        .iter()
        .map(|a| {
            // One reference: this op's input list. Anything more is a reader or a user.
            Arc::strong_count(&a.0) == 1 && op.inputs.iter().filter(|b| b.same_node(a)).count() == 1
        })
        .collect();
    let mut ctx = EvalContext {
        outputs: &op.outputs,
        donatable,
    };
    let results = op.primitive.eval_cpu(&op.inputs, &mut ctx)?;
    debug_assert_eq!(results.len(), op.outputs.len());
    if let Some(nodes) = op.nodes.get() {
        for (node, data) in nodes.iter().zip(results) {
            if let Some(node) = node.upgrade() {
                *node.lock() = State::Ready(data);
            }
        }
    }
    Ok(())
}

/// Computes `outputs` and everything they depend on that is not yet computed.
pub fn eval(outputs: &[Array]) -> Result<()> {
    let order = topological_order(outputs);
    for op in order {
        let _running = op.running.lock().unwrap_or_else(|e| e.into_inner());
        // A concurrent eval on another thread may have computed it already.
        let done = op
            .nodes
            .get()
            .map(|n| {
                n.iter().all(|w| {
                    w.upgrade()
                        .is_none_or(|n| matches!(*n.lock(), State::Ready(_)))
                })
            })
            .unwrap_or(false);
        if done {
            continue;
        }
        run(&op)?;
        // `op` drops here; when no node still points at it, its inputs go with it.
    }
    Ok(())
}

/// Starts computing `outputs` on a background thread and returns at once. A later
/// `eval` of the same arrays finds them computed, or computes what is still missing.
pub fn async_eval(outputs: &[Array]) {
    let outputs: Vec<Array> = outputs.to_vec();
    rayon::spawn(move || {
        let _ = eval(&outputs);
    });
}
