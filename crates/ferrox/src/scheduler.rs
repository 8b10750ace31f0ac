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
use crate::dtype::Dtype;
use crate::primitive::EvalContext;
use crate::primitives::binary::{Binary, BinaryOp};
use crate::{Error, Result};
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Hashes an op's address: a multiply and a shift, instead of SipHash, whose cost
/// showed up in the per-op overhead of long lazy chains. Addresses are not chosen by an
/// attacker, so there is nothing to defend against.
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        // Fibonacci hashing; the top bits (which hashbrown uses) mix every input bit.
        self.0 = (n as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(26);
    }
}

/// The pending ops `outputs` depend on, inputs before readers (iterative DFS).
fn topological_order(outputs: &[Array]) -> Vec<Arc<Op>> {
    let mut order = Vec::new();
    let mut seen: HashSet<*const Op, BuildHasherDefault<AddressHasher>> = HashSet::default();
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

/// Which inputs of `op` the kernel may write into: each input whose node is held by this
/// op's input list alone (one reference), listed once.
fn donatable(op: &Op) -> Vec<bool> {
    op.inputs
        .iter()
        .map(|a| {
            // One reference: this op's input list. Anything more is a reader or a user.
            // Checked before the kernel runs: a kernel clones the data it reads, so the
            // buffer's count can only be judged here.
            Arc::strong_count(&a.0) == 1
                && op.inputs.iter().filter(|b| b.same_node(a)).count() == 1
                && a.owns_buffer_alone()
        })
        .collect()
}

/// Stores the results of `op` in its output nodes. `tracing`: whether the thread that
/// called `eval` is inside a traced function (the eval loop may run on another thread).
fn store(op: &Op, results: Vec<crate::array::Data>, tracing: bool) {
    debug_assert_eq!(results.len(), op.outputs.len());
    if let Some(nodes) = op.nodes.get() {
        for (node, data) in nodes.iter().zip(results) {
            if let Some(node) = node.upgrade() {
                let before = std::mem::replace(&mut *node.lock(), State::Ready(data));
                // A node a transform is tracing keeps its op (and so its inputs), so the
                // transform can walk the graph through an `eval` inside the traced
                // function, as MLX keeps the graph of tracer arrays.
                if node.tracer && tracing {
                    if let State::Pending { op, index } = before {
                        let _ = node.traced.set((op, index));
                    }
                }
            }
        }
    }
}

fn check_cpu(op: &Op) -> Result<()> {
    if op.stream.device.kind != DeviceType::Cpu {
        return Err(Error::Runtime(format!(
            "[eval] {} has no backend in this build",
            op.stream.device
        )));
    }
    Ok(())
}

fn run(op: &Op, tracing: bool) -> Result<()> {
    check_cpu(op)?;
    let mut ctx = EvalContext {
        outputs: &op.outputs,
        donatable: donatable(op),
    };
    let results = op.primitive.eval_cpu(&op.inputs, &mut ctx)?;
    store(op, results, tracing);
    Ok(())
}

fn binary_op(op: &Op) -> Option<BinaryOp> {
    op.primitive
        .as_any()
        .and_then(|p| p.downcast_ref::<Binary>())
        .map(|b| b.0)
}

/// The one peephole rule of `eval`: `x * y + z` (or `- z`, or `z - x * y`) in f32/f64,
/// whose product node nobody but this op reads, runs as one pass over memory instead
/// of two; on large arrays that halves the memory traffic, which is all such an op
/// costs. Returns which input of `op` is the product, and the product's op.
///
/// The product is never observable: its node is referenced by `op`'s input list alone
/// (no user handle, no other reader), so skipping its evaluation changes nothing but
/// time and peak memory. The kernel rounds the product before adding, so results are
/// bit-identical to the two ops. Everything else is left to `compile`.
fn fusable_product(op: &Op) -> Option<(usize, Arc<Op>)> {
    if !matches!(binary_op(op)?, BinaryOp::Add | BinaryOp::Subtract)
        || !matches!(op.outputs[0].1, Dtype::Float32 | Dtype::Float64)
        || op.inputs.len() != 2
        || op.inputs[0].same_node(&op.inputs[1])
        || op.inputs[0].dtype() != op.inputs[1].dtype()
    {
        return None;
    }
    for (j, input) in op.inputs.iter().enumerate() {
        if Arc::strong_count(&input.0) != 1 {
            continue;
        }
        let Some(m) = input.pending_op() else {
            continue;
        };
        if m.outputs.len() == 1
            && m.inputs.len() == 2
            && binary_op(&m) == Some(BinaryOp::Multiply)
            && m.outputs[0] == op.outputs[0]
            && m.stream == op.stream
        {
            return Some((j, m));
        }
    }
    None
}

/// Runs `op` fused with its product input `j` (see [`fusable_product`]).
fn run_fused(op: &Op, j: usize, product: &Op, tracing: bool) -> Result<()> {
    check_cpu(op)?;
    let mut ctx = EvalContext {
        outputs: &op.outputs,
        donatable: donatable(op),
    };
    let (x, y) = (product.inputs[0].data()?, product.inputs[1].data()?);
    let z = op.inputs[1 - j].data()?;
    // The addend's buffer may take the result; the product's node has no data to give.
    let out = ctx.output(0, &op.inputs, &[1 - j])?;
    let (shape, dtype) = &op.outputs[0];
    let kind = binary_op(op).unwrap_or(BinaryOp::Add);
    crate::backend::cpu::binary::multiply_then(kind, j == 0, shape, *dtype, &x, &y, &z, &out)?;
    store(op, vec![out], tracing);
    Ok(())
}

/// How many `eval`s are running, on any thread (see [`eval`]).
static EVALS: AtomicUsize = AtomicUsize::new(0);

/// Counts one running eval in [`EVALS`] until dropped, panics included.
struct Running;

impl Running {
    /// Counts an eval; true when no other was running.
    fn start() -> (Running, bool) {
        (Running, EVALS.fetch_add(1, Ordering::AcqRel) == 0)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        EVALS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Computes `outputs` and everything they depend on that is not yet computed.
///
/// Called from outside the thread pool, the loop moves onto a pool thread: every
/// parallel kernel then starts with a work-stealing `join` on a running worker instead
/// of a job the calling thread injects and sleeps on, which took ~10 % of an MLP
/// training step in thread wake-ups (see docs/performance-notes.md).
///
/// Only an eval that starts while no other runs goes there. A worker that waits inside
/// a kernel's `join` may pick up any pool job: were an eval such a job, it could block
/// on an op (`Op::running`) held by another eval whose kernel waits for the very
/// `join` beneath it on that worker's stack. An eval that starts alone finds no other
/// eval's work in the pool and so runs at the bottom of its worker's stack; evals
/// that start while it runs stay on their callers' threads, where blocking is safe.
///
/// While it runs, the pool's other workers spin, stealing the kernels' splits as they
/// come, instead of sleeping between kernels: a sleeping worker takes ~25 µs to wake on
/// this 2-core VM, and an MLP training step has ~20 parallel kernels (best of 300 steps
/// 4.05-4.18 -> 3.82-3.83 ms). This is OpenMP's active wait, for one eval at most.
///
/// A graph with fewer than two parallel kernels stays on the calling thread: the hop
/// costs a thread wake-up (~5-30 µs), as much as a small eval itself.
pub fn eval(outputs: &[Array]) -> Result<()> {
    // A value of a function `compile`, `vmap` or `export_function` traces is not known
    // yet: computing it from the example arguments would bake them into the trace.
    if outputs.iter().any(crate::transforms::values_unknown) {
        return Err(Error::Invalid(
            "[eval] Attempting to eval an array during function transformations like \
             compile or vmap is not allowed."
                .into(),
        ));
    }
    let tracing = crate::transforms::is_tracing();
    let (_running, alone) = Running::start();
    let order = topological_order(outputs);
    if alone
        && rayon::current_num_threads() > 1
        && rayon::current_thread_index().is_none()
        && parallel_kernels(&order) >= 2
    {
        // (`scope` runs its closure on a pool thread when called from outside it.)
        let done = AtomicBool::new(false);
        let done = &done;
        return rayon::scope(move |s| {
            let me = rayon::current_thread_index();
            s.spawn_broadcast(move |_, worker| {
                if Some(worker.index()) != me {
                    keep_stealing(done);
                }
            });
            let _finish = SetOnDrop(done);
            eval_loop(order, tracing)
        });
    }
    eval_loop(order, tracing)
}

/// Sets its flag when dropped (also when unwinding).
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// How long a spinning worker (see [`keep_stealing`]) waits without finding a job
/// before it gives up and leaves waiting to rayon (which sleeps after a few µs). The
/// MLP step kept its gain with 1 and 3 ms, and lost all of it with 0.2 ms: the
/// second worker does sit idle that long between kernels.
const SPIN_IDLE: Duration = Duration::from_millis(3);

/// Runs the pool's jobs as they come until `done`, spinning in between instead of
/// sleeping, so that a kernel's split is picked up at once rather than after a wake-up.
/// Gives up after [`SPIN_IDLE`] without work: a worker may take this broadcast job
/// while it waits inside another job's `join` (rayon looks for work there too), and
/// that `join`'s rest may be what the eval waits for. The eval's own worker skips it.
fn keep_stealing(done: &AtomicBool) {
    let mut idle_since = None;
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            idle_since = None;
            continue;
        }
        let since = *idle_since.get_or_insert_with(Instant::now);
        if since.elapsed() > SPIN_IDLE {
            return;
        }
        for _ in 0..32 {
            std::hint::spin_loop();
        }
    }
}

/// How many ops of `order` write enough elements to split over threads (stopping at 2).
fn parallel_kernels(order: &[Arc<Op>]) -> usize {
    let big = |op: &&Arc<Op>| {
        op.outputs.iter().any(|(shape, _)| {
            shape.iter().product::<usize>() >= crate::backend::cpu::PARALLEL_THRESHOLD
        })
    };
    order.iter().filter(big).take(2).count()
}

/// Runs the ops of `order` (dependencies first) on the current thread.
fn eval_loop(order: Vec<Arc<Op>>, tracing: bool) -> Result<()> {
    // Products that a later op reads alone are computed inside that op (see
    // `fusable_product`); they are skipped in their own turn.
    let mut fused: Vec<Option<(usize, Arc<Op>)>> = Vec::new();
    let mut skip: HashSet<*const Op, BuildHasherDefault<AddressHasher>> = HashSet::default();
    if order.len() > 1 {
        fused = order.iter().map(|op| fusable_product(op)).collect();
        skip.extend(fused.iter().flatten().map(|(_, m)| Arc::as_ptr(m)));
    }
    for (i, op) in order.into_iter().enumerate() {
        if !skip.is_empty() && skip.contains(&Arc::as_ptr(&op)) {
            continue;
        }
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
        match fused.get_mut(i).and_then(Option::take) {
            Some((j, product)) => run_fused(&op, j, &product, tracing)?,
            None => run(&op, tracing)?,
        }
        // `op` drops here; when no node still points at it, its inputs go with it.
    }
    Ok(())
}

/// Starts computing `outputs` on a background thread and returns at once. A later
/// `eval` of the same arrays finds them computed, or computes what is still missing.
pub fn async_eval(outputs: &[Array]) {
    let outputs: Vec<Array> = outputs.to_vec();
    // A thread of its own, not a pool job: an eval must not run as a job that a
    // worker picks up while it waits inside another eval's kernel (see `eval`).
    std::thread::spawn(move || {
        let _ = eval(&outputs);
    });
}

#[cfg(test)]
mod tests {
    use crate::{ops, Array};

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 37.0 - 13.0
            })
            .collect()
    }

    /// `x * y + z` (and the other fused forms) gives bit for bit what the two ops give
    /// when the product is evaluated on its own.
    #[test]
    fn fused_multiply_add_matches_separate_ops() {
        let n = 100_003;
        let x = Array::from_slice(&values(n, 1), &[n]).unwrap();
        let y = Array::from_slice(&values(n, 2), &[n]).unwrap();
        let z = Array::from_slice(&values(n, 3), &[n]).unwrap();
        let forms: [fn(Array, &Array) -> Array; 3] = [
            |p, z| ops::add(p, z).unwrap(),
            |p, z| ops::add(z, p).unwrap(),
            |p, z| ops::subtract(z, p).unwrap(),
        ];
        for form in forms {
            let fused = form(ops::multiply(&x, &y).unwrap(), &z);
            fused.eval().unwrap();
            let product = ops::multiply(&x, &y).unwrap();
            product.eval().unwrap();
            let separate = form(product.clone(), &z);
            let (a, b) = (
                fused.to_vec::<f32>().unwrap(),
                separate.to_vec::<f32>().unwrap(),
            );
            assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
        }
        // A product that a user still holds is computed and kept.
        let p = ops::multiply(&x, &y).unwrap();
        let s = ops::subtract(&p, &z).unwrap();
        s.eval().unwrap();
        assert!(p.is_evaluated());
        let (xs, ys, zs) = (values(n, 1), values(n, 2), values(n, 3));
        let expect: Vec<f32> = (0..n).map(|i| xs[i] * ys[i] - zs[i]).collect();
        assert_eq!(s.to_vec::<f32>().unwrap(), expect);
    }

    /// Evals from several threads at once, sharing an unevaluated intermediate whose
    /// kernels run in parallel, give the right values and do not block each other
    /// (one runs its loop on the pool, the others on their own threads).
    #[test]
    fn concurrent_evals_share_a_graph() {
        let n = 256;
        let a = Array::from_slice(&values(n * n, 7), &[n, n]).unwrap();
        let b = ops::full(&[n, n], 0.5f32, None).unwrap();
        let shared = ops::matmul(&a, &b).unwrap();
        let expect: Vec<f32> = a
            .to_vec::<f32>()
            .unwrap()
            .chunks(n)
            .map(|row| row.iter().sum::<f32>() * 0.5)
            .collect();
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let mine = ops::add(&shared, t as f32).unwrap();
                    let first_col = ops::slice(&mine, &[0, 0], &[n as isize, 1], &[1, 1]).unwrap();
                    first_col.eval().unwrap();
                    first_col.to_vec::<f32>().unwrap()
                })
            })
            .collect();
        let pending = ops::multiply(&shared, 2.0f32).unwrap();
        crate::async_eval(&[pending.clone()]);
        for (t, h) in handles.into_iter().enumerate() {
            let got = h.join().unwrap();
            for (g, e) in got.iter().zip(&expect) {
                assert!(
                    (g - (e + t as f32)).abs() <= 1e-3 * e.abs().max(1.0),
                    "{g} vs {e} + {t}"
                );
            }
        }
        pending.eval().unwrap();
        let doubled = pending.to_vec::<f32>().unwrap();
        for (r, e) in expect.iter().enumerate() {
            assert!((doubled[r * n] - 2.0 * e).abs() <= 2e-3 * e.abs().max(1.0));
        }
    }

    fn buffer_address(a: &Array) -> usize {
        a.data().unwrap().buffer.as_ptr() as usize
    }

    /// An evaluated input that nothing else holds gives its buffer to the output (for
    /// unary, binary, fused-product and compiled-region kernels), with the same values;
    /// one still held does not.
    #[test]
    fn an_unshared_input_is_donated() {
        let n = 50_000;
        let g = Array::from_slice(&values(n, 5), &[n]).unwrap();
        let region =
            crate::transforms::compile(|x: &[Array]| Ok(vec![ops::exp(&ops::add(&x[0], &x[1])?)?]));
        let kinds: [Box<dyn Fn(&Array, &Array) -> Array>; 5] = [
            Box::new(|t, _| ops::add(t, 1.0f32).unwrap()),
            Box::new(|t, g| {
                let c = ops::greater(g, 0.0f32).unwrap();
                ops::where_(&c, t, g).unwrap()
            }),
            // In place as a unary op's input, then as a binary op's second operand.
            Box::new(|t, g| ops::subtract(g, &ops::exp(t).unwrap()).unwrap()),
            Box::new(|t, g| ops::add(t, &ops::multiply(g, 2.0f32).unwrap()).unwrap()),
            Box::new(|t, g| region.call(&[t.clone(), g.clone()]).unwrap().remove(0)),
        ];
        for (k, kind) in kinds.into_iter().enumerate() {
            let t = ops::multiply(&g, 0.5f32).unwrap();
            t.eval().unwrap();
            let before = buffer_address(&t);
            let expect: Vec<f32> = {
                let kept = kind(&t, &g);
                kept.eval().unwrap();
                assert_ne!(
                    buffer_address(&kept),
                    before,
                    "kind {k}: a held input was donated"
                );
                kept.to_vec::<f32>().unwrap()
            };
            let out = kind(&t, &g);
            drop(t);
            out.eval().unwrap();
            assert_eq!(buffer_address(&out), before, "kind {k}: not donated");
            assert_eq!(out.to_vec::<f32>().unwrap(), expect);
        }
    }
}
