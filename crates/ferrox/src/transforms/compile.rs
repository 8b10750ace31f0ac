//! `compile(f)`: trace `f` once per input signature (the shapes and dtypes of its
//! arguments, plus a key the caller derives from its other arguments), keep the traced
//! graph as a [`Program`], and replay it on later calls: building the nodes of a
//! replay skips running `f` (and, from Python, the interpreter).
//!
//! Before it is kept, a program is simplified: ops are deduplicated (common
//! sub-expressions: the same primitive with the same parameters on the same inputs) and
//! equal scalar constants merged; ops no output reads were never traced into it. Then
//! regions of elementwise ops are fused into one primitive each (`fuse.rs`).
//!
//! A shapeless compiled function keeps a program under the ndims (not the shapes) of its
//! arguments when every step can infer its output shapes from its inputs'
//! ([`Primitive::output_shapes`]), and replays it for new shapes; where a step cannot,
//! the new shapes are traced as usual.
//!
//! The cache of programs is bounded and evicts the least recently used signature (MLX's
//! never evicts, which grows without bound with variable-length batches).
//!
//! A replay builds ordinary lazy nodes from the traced primitives, so a compiled
//! function composes with `grad` and `vmap` like any other.

use super::{output_ids, tape, trace_symbolic, tracers};
use crate::array::Array;
use crate::array::Shape;
use crate::device::Stream;
use crate::dtype::Dtype;
use crate::primitive::{Primitive, TracedShapes};
use crate::primitives::binary::{Binary, Select};
use crate::primitives::view::Broadcast;
use crate::{Error, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Where a value of a program comes from.
#[derive(Clone, Debug)]
pub(super) enum Ref {
    /// Argument `k` of the call.
    Arg(usize),
    /// Output `o` of step `s`.
    Step(usize, usize),
    /// An array the function captured (weights, constants): the same array every call.
    Const(Array),
}

/// One op of a program.
#[derive(Clone)]
pub(super) struct Step {
    pub(super) primitive: Arc<dyn Primitive>,
    pub(super) inputs: Vec<Ref>,
    pub(super) outputs: Vec<(Vec<usize>, Dtype)>,
    pub(super) stream: Stream,
}

/// A traced function, ready to replay on arguments of its signature.
pub struct Program {
    steps: Vec<Step>,
    outputs: Vec<Ref>,
    /// The shapes of the arguments it was traced with.
    arg_shapes: Vec<Shape>,
    /// Whether every step can infer its output shapes for arguments of new shapes
    /// ([`Primitive::output_shapes`]): a shapeless function then replays it for them.
    shapeless: bool,
    /// For each broadcast step, what its result was broadcast against (see
    /// [`Program::find_partners`]).
    partners: Vec<Vec<Ref>>,
}

impl Program {
    /// Traces `f` on `args`, simplifies the graph and fuses its elementwise regions.
    fn trace(f: &dyn Fn(&[Array]) -> Result<Vec<Array>>, args: &[Array]) -> Result<Program> {
        let mut program = Program::trace_unfused(f, args)?;
        let dtypes: Vec<Dtype> = args.iter().map(Array::dtype).collect();
        program.finish(&dtypes, true);
        Ok(program)
    }

    /// Traces `f` on `args` and simplifies the graph (what `export_function` saves).
    pub(super) fn trace_unfused(
        f: &dyn Fn(&[Array]) -> Result<Vec<Array>>,
        args: &[Array],
    ) -> Result<Program> {
        let traced = tracers(args);
        let outputs = trace_symbolic(f, &traced)?;
        let (ops, _) = tape(&outputs, &traced, false);
        let mut refs: HashMap<usize, Ref> = traced
            .iter()
            .enumerate()
            .map(|(k, a)| (a.id(), Ref::Arg(k)))
            .collect();
        let mut steps = Vec::with_capacity(ops.len());
        for op in &ops {
            let inputs = op
                .inputs
                .iter()
                .map(|a| operand(&mut refs, &mut steps, a))
                .collect();
            for (o, id) in output_ids(op).into_iter().enumerate() {
                if let Some(id) = id {
                    refs.insert(id, Ref::Step(steps.len(), o));
                }
            }
            steps.push(Step {
                primitive: op.primitive.clone(),
                inputs,
                outputs: op.outputs.clone(),
                stream: op.stream,
            });
        }
        let outputs = outputs
            .iter()
            .map(|a| operand(&mut refs, &mut steps, a))
            .collect();
        let arg_shapes = args.iter().map(|a| a.shape().to_vec()).collect();
        let mut program = Program::from_parts(steps, outputs, arg_shapes);
        program.simplify();
        Ok(program)
    }

    /// A program of `steps` computing `outputs` from arguments of `arg_shapes`, not yet
    /// [`finish`](Program::finish)ed.
    pub(super) fn from_parts(steps: Vec<Step>, outputs: Vec<Ref>, arg_shapes: Vec<Shape>) -> Self {
        Program {
            steps,
            outputs,
            arg_shapes,
            shapeless: false,
            partners: Vec::new(),
        }
    }

    /// Readies a program for replays on arguments of `dtypes`: fuses its elementwise
    /// regions (`fuse`) and finds whether it is shapeless.
    pub(super) fn finish(&mut self, dtypes: &[Dtype], fuse: bool) {
        let program = self;
        if fuse {
            if let Some((steps, outputs)) =
                super::fuse::fuse(&program.steps, &program.outputs, dtypes)
            {
                program.steps = steps;
                program.outputs = outputs;
            }
        }
        // Shapeless when every step infers its traced output shapes from its traced
        // input shapes.
        program.partners = program.find_partners();
        program.shapeless = (0..program.steps.len()).all(|s| {
            let step = &program.steps[s];
            let inputs: Vec<&[usize]> = step
                .inputs
                .iter()
                .map(|r| program.traced_shape(r))
                .collect();
            let partners: Vec<&[usize]> = program.partners[s]
                .iter()
                .map(|r| program.traced_shape(r))
                .collect();
            let traced = step.outputs.iter().map(|(s, _)| s.as_slice());
            program
                .step_shapes(s, &inputs, &partners)
                .is_some_and(|shapes| shapes.iter().map(Vec::as_slice).eq(traced))
        });
    }

    /// The program's ops, in order.
    pub(super) fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Where each output of the program comes from.
    pub(super) fn outputs(&self) -> &[Ref] {
        &self.outputs
    }

    /// For each broadcast step: the operands its first elementwise reader combines it
    /// with (read through their own broadcasts), when they come before it. A binary op
    /// broadcasts its operands to their common shape; a shapeless replay recomputes that
    /// shape from theirs (a bias against a new batch, a mean's count against new rows)
    /// instead of keeping the traced one.
    fn find_partners(&self) -> Vec<Vec<Ref>> {
        let is = |s: usize, check: &dyn Fn(&dyn std::any::Any) -> bool| {
            self.steps[s].primitive.as_any().is_some_and(check)
        };
        let is_broadcast = |s: usize| is(s, &|p| p.is::<Broadcast>());
        let elementwise = |s: usize| is(s, &|p| p.is::<Binary>() || p.is::<Select>());
        let source = |r: &Ref| match r {
            Ref::Step(p, 0) if is_broadcast(*p) => self.steps[*p].inputs[0].clone(),
            _ => r.clone(),
        };
        // One pass in order: the first elementwise reader of a broadcast sets its
        // partners.
        let mut partners: Vec<Option<Vec<Ref>>> = vec![None; self.steps.len()];
        for (c, step) in self.steps.iter().enumerate() {
            if !elementwise(c) {
                continue;
            }
            for r in &step.inputs {
                let Ref::Step(s, 0) = *r else { continue };
                if !is_broadcast(s) || partners[s].is_some() {
                    continue;
                }
                let me = |r: &Ref| matches!(r, Ref::Step(p, 0) if *p == s);
                partners[s] = Some(
                    step.inputs
                        .iter()
                        .filter(|r| !me(r))
                        .map(source)
                        .filter(|r| !matches!(r, Ref::Step(p, _) if *p >= s))
                        .collect(),
                );
            }
        }
        let partners: Vec<Vec<Ref>> = partners
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
        partners
    }

    /// The output shapes of step `s` on inputs of shapes `inputs`, `partners` the shapes
    /// of its broadcast partners ([`Program::find_partners`]).
    fn step_shapes(
        &self,
        s: usize,
        inputs: &[&[usize]],
        partners: &[&[usize]],
    ) -> Option<Vec<Shape>> {
        let step = &self.steps[s];
        let outputs: Vec<&[usize]> = step.outputs.iter().map(|(s, _)| s.as_slice()).collect();
        if !self.partners[s].is_empty() {
            // The common shape of the broadcast input and its partners.
            let mut to = inputs[0].to_vec();
            for p in partners {
                to = crate::shape::broadcast_shapes(&to, p).ok()?;
            }
            return (to.len() == outputs[0].len()).then(|| vec![to]);
        }
        let was: Vec<&[usize]> = step.inputs.iter().map(|r| self.traced_shape(r)).collect();
        let traced = TracedShapes {
            inputs: &was,
            outputs: &outputs,
        };
        step.primitive.output_shapes(inputs, &traced)
    }

    /// The shape `r` had when the program was traced.
    fn traced_shape<'a>(&'a self, r: &'a Ref) -> &'a [usize] {
        match r {
            Ref::Arg(k) => &self.arg_shapes[*k],
            Ref::Step(s, o) => &self.steps[*s].outputs[*o].0,
            Ref::Const(a) => a.shape(),
        }
    }

    /// Common sub-expressions and equal scalar constants, merged in one forward pass:
    /// a step whose primitive (name and parameters) and inputs equal an earlier one's
    /// reads that one's outputs instead.
    fn simplify(&mut self) {
        let mut consts: HashMap<String, Array> = HashMap::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        // remap[s] = the step that step s's outputs come from.
        let mut remap: Vec<usize> = Vec::with_capacity(self.steps.len());
        let mut kept: Vec<Step> = Vec::with_capacity(self.steps.len());
        let steps = std::mem::take(&mut self.steps);
        for step in steps {
            let inputs: Vec<Ref> = step
                .inputs
                .iter()
                .map(|r| resolve(r, &remap, &mut consts))
                .collect();
            let key = step
                .primitive
                .cse_key()
                .map(|k| format!("{k}|{:?}|{:?}", ref_keys(&inputs), step.outputs));
            if let Some(&s) = key.as_ref().and_then(|k| seen.get(k)) {
                remap.push(s);
                continue;
            }
            let s = kept.len();
            if let Some(k) = key {
                seen.insert(k, s);
            }
            remap.push(s);
            kept.push(Step { inputs, ..step });
        }
        self.outputs = self
            .outputs
            .iter()
            .map(|r| resolve(r, &remap, &mut consts))
            .collect();
        self.steps = kept;
    }

    /// Builds the program's graph on `args` (of the traced signature).
    pub(super) fn replay(&self, args: &[Array]) -> Result<Vec<Array>> {
        // (At the traced shapes nothing is inferred, so nothing can fail.)
        self.build(args, false)
            .ok_or_else(|| Error::Runtime("[compile] a replay failed to build.".into()))
    }

    /// Builds the program's graph on `args` of new shapes (same ndims and dtypes), each
    /// step's output shapes inferred from its inputs'; `None` when a step cannot infer
    /// them (the function must be traced for these shapes).
    pub(super) fn replay_reshaped(&self, args: &[Array]) -> Option<Vec<Array>> {
        self.build(args, true)
    }

    /// The graph on `args`: each step with its traced output shapes, or (`reshaped`) with
    /// those inferred from its inputs' shapes.
    fn build(&self, args: &[Array], reshaped: bool) -> Option<Vec<Array>> {
        let mut values: Vec<Vec<Array>> = Vec::with_capacity(self.steps.len());
        let get = |values: &Vec<Vec<Array>>, r: &Ref| match r {
            Ref::Arg(k) => args[*k].clone(),
            Ref::Step(s, o) => values[*s][*o].clone(),
            Ref::Const(a) => a.clone(),
        };
        for (s, step) in self.steps.iter().enumerate() {
            let inputs: Vec<Array> = step.inputs.iter().map(|r| get(&values, r)).collect();
            let outputs = if reshaped {
                let shapes: Vec<&[usize]> = inputs.iter().map(Array::shape).collect();
                let partners: Vec<Array> =
                    self.partners[s].iter().map(|r| get(&values, r)).collect();
                let partners: Vec<&[usize]> = partners.iter().map(Array::shape).collect();
                let new = self.step_shapes(s, &shapes, &partners)?;
                new.into_iter()
                    .zip(&step.outputs)
                    .map(|(s, (_, d))| (s, *d))
                    .collect()
            } else {
                step.outputs.clone()
            };
            values.push(Array::from_shared_op(
                outputs,
                step.primitive.clone(),
                inputs,
                step.stream,
            ));
        }
        Some(self.outputs.iter().map(|r| get(&values, r)).collect())
    }

    /// Whether a shapeless function replays this program for arguments of other shapes.
    pub fn is_shapeless(&self) -> bool {
        self.shapeless
    }

    /// The name of each op a replay builds, in order (`Compiled` for a fused region).
    pub fn op_names(&self) -> Vec<&'static str> {
        self.steps.iter().map(|s| s.primitive.name()).collect()
    }

    /// How many ops a replay builds.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the program builds no op (returns arguments or constants).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// What a traced array is to the program: an argument, a step's output, or a constant.
/// A constant that is a pending broadcast (a scalar operand spread to a traced shape)
/// becomes a broadcast step of its source, so that fusion reads the source and a
/// shapeless replay spreads it to new shapes.
fn operand(refs: &mut HashMap<usize, Ref>, steps: &mut Vec<Step>, a: &Array) -> Ref {
    if let Some(r) = refs.get(&a.id()) {
        return r.clone();
    }
    let broadcast = match a.is_evaluated() {
        true => None,
        false => a.graph_op().filter(|(op, _)| {
            op.primitive
                .as_any()
                .is_some_and(|p| p.downcast_ref::<Broadcast>().is_some())
        }),
    };
    let Some((op, _)) = broadcast else {
        return Ref::Const(a.clone());
    };
    steps.push(Step {
        primitive: op.primitive.clone(),
        inputs: vec![Ref::Const(op.inputs[0].clone())],
        outputs: op.outputs.clone(),
        stream: op.stream,
    });
    let r = Ref::Step(steps.len() - 1, 0);
    refs.insert(a.id(), r.clone());
    r
}

/// A reference with earlier merges applied; constants that are the same value (equal
/// evaluated scalars, or small lazy graphs of them, such as a broadcast scalar) are
/// merged into one.
fn resolve(r: &Ref, remap: &[usize], consts: &mut HashMap<String, Array>) -> Ref {
    match r {
        Ref::Step(s, o) => Ref::Step(remap[*s], *o),
        Ref::Const(a) => match const_key(a, 4) {
            Some(k) => Ref::Const(consts.entry(k).or_insert_with(|| a.clone()).clone()),
            None => r.clone(),
        },
        _ => r.clone(),
    }
}

/// A key equal for constants of equal value: an evaluated scalar by dtype and bits, a
/// pending op by its primitive and its inputs' keys (at most `depth` ops deep); `None`
/// for anything else (an array's identity then tells constants apart).
fn const_key(a: &Array, depth: usize) -> Option<String> {
    if a.is_evaluated() {
        if a.ndim() != 0 {
            return None;
        }
        let v = a.to_vec::<f64>().ok()?;
        return Some(format!("{}:{}", a.dtype(), v.first()?.to_bits()));
    }
    if depth == 0 {
        return None;
    }
    let (op, index) = a.graph_op()?;
    let mut key = format!("{}#{index}{:?}(", op.primitive.cse_key()?, a.shape());
    for x in &op.inputs {
        key += &const_key(x, depth - 1)?;
        key.push(',');
    }
    key.push(')');
    Some(key)
}

fn ref_keys(inputs: &[Ref]) -> Vec<(u8, usize, usize)> {
    inputs
        .iter()
        .map(|r| match r {
            Ref::Arg(k) => (0, *k, 0),
            Ref::Step(s, o) => (1, *s, *o),
            Ref::Const(a) => (2, a.id(), 0),
        })
        .collect()
}

/// The signature a program is kept under: the arguments' shapes (or only their ndims,
/// for a shapeless program) and dtypes, and the caller's key.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Signature {
    args: Vec<(Vec<usize>, Dtype)>,
    shapeless: bool,
    key: u64,
}

impl Signature {
    fn of(args: &[Array], key: u64, shapeless: bool) -> Signature {
        let shape = |a: &Array| match shapeless {
            true => vec![0; a.ndim()],
            false => a.shape().to_vec(),
        };
        Signature {
            args: args.iter().map(|a| (shape(a), a.dtype())).collect(),
            shapeless,
            key,
        }
    }
}

static ENABLED: AtomicBool = AtomicBool::new(true);
static DEFAULT_CAPACITY: AtomicUsize = AtomicUsize::new(64);

/// Turns compilation on (the default): compiled functions trace and replay.
pub fn enable_compile() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Turns compilation off: compiled functions just call the function.
pub fn disable_compile() {
    ENABLED.store(false, Ordering::Relaxed);
}

/// How many signatures a newly compiled function keeps (64 unless set).
pub fn set_compile_cache_size(n: usize) {
    DEFAULT_CAPACITY.store(n.max(1), Ordering::Relaxed);
}

/// A compiled function: call it with [`Compiled::call`] or [`Compiled::call_keyed`].
///
/// ```
/// use ferrox::{ops, transforms::compile, Array};
/// let f = compile(|x: &[Array]| Ok(vec![ops::exp(&ops::multiply(&x[0], 2.0)?)?]));
/// let x = Array::from_slice(&[0.0f32, 1.0], &[2])?;
/// let y = f.call(&[x.clone()])?;          // traced
/// let z = f.call(&[ops::add(&x, 1.0)?])?; // replayed
/// assert_eq!(y[0].to_vec::<f32>()?[0], 1.0);
/// assert_eq!(f.cached(), 1);
/// # Ok::<(), ferrox::Error>(())
/// ```
#[derive(Clone)]
pub struct Compiled {
    f: Arc<dyn Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync>,
    cache: Arc<Mutex<Lru>>,
    shapeless: bool,
}

/// Programs by signature, most recently used last.
struct Lru {
    capacity: usize,
    entries: Vec<(Signature, Arc<Program>)>,
}

/// Compiles `f` (see the module documentation).
pub fn compile<F>(f: F) -> Compiled
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + 'static,
{
    Compiled {
        f: Arc::new(f),
        cache: Arc::new(Mutex::new(Lru {
            capacity: DEFAULT_CAPACITY.load(Ordering::Relaxed),
            entries: Vec::new(),
        })),
        shapeless: false,
    }
}

impl Compiled {
    /// Makes the function shapeless (MLX's `shapeless=True`): a trace is replayed for
    /// arguments of any shapes with the same ndims and dtypes, each op's output shapes
    /// inferred from its inputs'. Shapes the function reads while traced (`x.shape()[0]`
    /// made into a constant or a reshape target) stay as traced, as in MLX. Where ferrox
    /// cannot infer a shape (a slice whose bounds depended on a length that changed, a
    /// broadcast to a shape given as numbers, an op without the rule), it traces again
    /// for the new shapes instead of failing. Operands that elementwise ops broadcast
    /// against each other are broadcast to their new common shape.
    ///
    /// ```
    /// use ferrox::{ops, transforms::compile, Array};
    /// let f = compile(|x: &[Array]| Ok(vec![ops::sum(&ops::exp(&x[0])?, &[-1], false)?]))
    ///     .shapeless(true);
    /// f.call(&[ops::zeros(&[2, 3], None)?])?;
    /// let y = f.call(&[ops::zeros(&[4, 5], None)?])?; // replayed, not traced
    /// assert_eq!(y[0].to_vec::<f32>()?, vec![5.0; 4]);
    /// assert_eq!(f.cached(), 1);
    /// # Ok::<(), ferrox::Error>(())
    /// ```
    pub fn shapeless(mut self, on: bool) -> Compiled {
        self.shapeless = on;
        self
    }

    /// Calls the function on `args`.
    pub fn call(&self, args: &[Array]) -> Result<Vec<Array>> {
        self.call_keyed(args, 0)
    }

    /// Calls the function on `args`, with `key` standing for whatever else the traced
    /// graph depends on (a front end hashes the non-array arguments into it).
    pub fn call_keyed(&self, args: &[Array], key: u64) -> Result<Vec<Array>> {
        if !ENABLED.load(Ordering::Relaxed) {
            return (self.f)(args);
        }
        let sig = Signature::of(args, key, false);
        if let Some(p) = self.lookup(&sig) {
            return p.replay(args);
        }
        let any_shape = Signature::of(args, key, true);
        if self.shapeless {
            if let Some(out) = self
                .lookup(&any_shape)
                .and_then(|p| p.replay_reshaped(args))
            {
                return Ok(out);
            }
        }
        let program = Arc::new(Program::trace(&*self.f, args)?);
        let out = program.replay(args)?;
        let sig = match self.shapeless && program.shapeless {
            true => any_shape,
            false => sig,
        };
        let mut lru = self.lock();
        lru.entries.retain(|(s, _)| *s != sig);
        lru.entries.push((sig, program));
        if lru.entries.len() > lru.capacity {
            lru.entries.remove(0);
        }
        Ok(out)
    }

    /// How many signatures are cached.
    pub fn cached(&self) -> usize {
        self.lock().entries.len()
    }

    /// Keeps at most `n` signatures (evicting the least recently used now if needed).
    pub fn set_cache_size(&self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::Invalid(
                "[compile] The cache size must be at least 1.".into(),
            ));
        }
        let mut lru = self.lock();
        lru.capacity = n;
        let excess = lru.entries.len().saturating_sub(n);
        lru.entries.drain(..excess);
        Ok(())
    }

    /// The ops a call with `args`' signature replays (traced now if it is not cached).
    pub fn program(&self, args: &[Array]) -> Result<Arc<Program>> {
        self.call(args)?;
        self.lookup(&Signature::of(args, 0, false))
            .or_else(|| self.lookup(&Signature::of(args, 0, true)))
            .ok_or_else(|| Error::Runtime("[compile] the program was evicted.".into()))
    }

    fn lookup(&self, sig: &Signature) -> Option<Arc<Program>> {
        let mut lru = self.lock();
        let i = lru.entries.iter().position(|(s, _)| s == sig)?;
        let entry = lru.entries.remove(i);
        let p = entry.1.clone();
        lru.entries.push(entry);
        Some(p)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}
