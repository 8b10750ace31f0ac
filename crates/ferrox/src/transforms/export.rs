//! `export_function` / `import_function`: a function traced as `compile` traces it,
//! saved to a file with the arrays it captured, and loaded back as a callable by any
//! ferrox program (Rust or Python) without the code that made it.
//!
//! A file holds one or more traces of the function (one per signature the exporter was
//! called with), the user's metadata string and whether the function is shapeless. Its
//! layout: the 8 bytes `FERROXFN`, the header's length as a little-endian `u64`, the
//! header (JSON), then the captured arrays' bytes. Each step of a trace names its
//! primitive by [`Primitive::export`] and is rebuilt through [`primitive_of`]'s table,
//! so adding a primitive to export touches its `exportable!` line and that table.
//!
//! An imported function replays a trace with `compile`'s machinery (fused, and for a
//! shapeless export on arguments of new shapes where every step infers its shapes).

use super::compile::{Program, Ref, Step};
use crate::array::{Array, Shape};
use crate::device::{default_stream, Device};
use crate::dtype::Dtype;
use crate::primitive::Primitive;
use crate::primitives::*;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"FERROXFN";
const VERSION: u32 = 1;

/// Where a value of a saved trace comes from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
enum Source {
    Arg(usize),
    Step(usize, usize),
    Const(usize),
}

#[derive(Serialize, Deserialize, Clone)]
struct SavedStep {
    primitive: String,
    params: serde_json::Value,
    inputs: Vec<Source>,
    outputs: Vec<(Shape, Dtype)>,
}

/// One traced signature: arguments (the last `keywords.len()` passed by name), steps,
/// outputs.
#[derive(Serialize, Deserialize, Clone)]
struct SavedTrace {
    args: Vec<(Shape, Dtype)>,
    keywords: Vec<String>,
    steps: Vec<SavedStep>,
    outputs: Vec<Source>,
}

#[derive(Serialize, Deserialize)]
struct SavedConst {
    shape: Shape,
    dtype: Dtype,
    offset: usize,
}

#[derive(Serialize, Deserialize)]
struct Header {
    version: u32,
    metadata: String,
    shapeless: bool,
    traces: Vec<SavedTrace>,
    constants: Vec<SavedConst>,
}

type Function = Box<dyn Fn(&[Array]) -> Result<Vec<Array>>>;

/// Traces `f` on `args` and saves it to `path` (see [`Exporter`] for several
/// signatures in one file).
///
/// ```
/// use ferrox::{ops, transforms::{export_function, import_function}, Array};
/// let path = std::env::temp_dir().join("ferrox_doc_export.fxfn");
/// let x = Array::from_slice(&[1.0f32, 2.0], &[2])?;
/// export_function(&path, |a| Ok(vec![ops::exp(&a[0])?]), &[x.clone()], false, "")?;
/// let f = import_function(&path)?;
/// assert_eq!(f.call(&[x])?[0].to_vec::<f32>()?, vec![1f32.exp(), 2f32.exp()]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn export_function(
    path: impl AsRef<Path>,
    f: impl Fn(&[Array]) -> Result<Vec<Array>> + 'static,
    args: &[Array],
    shapeless: bool,
    metadata: &str,
) -> Result<()> {
    let mut exporter = Exporter::new(path, f, shapeless, metadata);
    exporter.add(args, &[])
}

/// Saves traces of one function for several signatures in one file: each
/// [`Exporter::add`] traces the function on new arguments and rewrites the file, which
/// is complete after every call.
pub struct Exporter {
    path: PathBuf,
    f: Function,
    shapeless: bool,
    metadata: String,
    traces: Vec<SavedTrace>,
    /// The captured arrays, each saved once however many traces read it.
    constants: Vec<Array>,
    const_index: HashMap<usize, usize>,
}

impl Exporter {
    /// An exporter writing to `path`; nothing is written before the first `add`.
    pub fn new(
        path: impl AsRef<Path>,
        f: impl Fn(&[Array]) -> Result<Vec<Array>> + 'static,
        shapeless: bool,
        metadata: &str,
    ) -> Exporter {
        Exporter {
            path: path.as_ref().to_path_buf(),
            f: Box::new(f),
            shapeless,
            metadata: metadata.to_string(),
            traces: Vec::new(),
            constants: Vec::new(),
            const_index: HashMap::new(),
        }
    }

    /// Traces the function on `args`, the last `keywords.len()` of which it is given
    /// under those names, and saves the file with this trace added.
    pub fn add(&mut self, args: &[Array], keywords: &[String]) -> Result<()> {
        let trace = self.trace(args, keywords)?;
        self.traces.push(trace);
        self.write()
    }

    /// The trace on `args`, in saved form.
    fn trace(&mut self, args: &[Array], keywords: &[String]) -> Result<SavedTrace> {
        if keywords.len() > args.len() {
            return Err(Error::Invalid(
                "[export_function] more keyword names than arguments".into(),
            ));
        }
        let program = Program::trace_unfused(&*self.f, args)?;
        // Steps whose outputs are inputs (custom functions' call nodes) are left out:
        // `alias[s]` tells where each of their outputs comes from.
        let mut index: Vec<Option<usize>> = Vec::with_capacity(program.steps().len());
        let mut alias: HashMap<(usize, usize), Source> = HashMap::new();
        let mut steps = Vec::new();
        for (s, step) in program.steps().iter().enumerate() {
            let inputs: Vec<Source> = step
                .inputs
                .iter()
                .map(|r| self.source(r, &index, &alias))
                .collect::<Result<_>>()?;
            if let Some(forwards) = step.primitive.forwards(inputs.len()) {
                for (o, &i) in forwards.iter().enumerate() {
                    alias.insert((s, o), inputs[i]);
                }
                index.push(None);
                continue;
            }
            let (name, params) = step.primitive.export().ok_or_else(|| {
                Error::Invalid(format!(
                    "[export_function] The primitive {} cannot be exported.",
                    step.primitive.name()
                ))
            })?;
            index.push(Some(steps.len()));
            steps.push(SavedStep {
                primitive: name.to_string(),
                params,
                inputs,
                outputs: step.outputs.clone(),
            });
        }
        let outputs = program
            .outputs()
            .iter()
            .map(|r| self.source(r, &index, &alias))
            .collect::<Result<_>>()?;
        Ok(SavedTrace {
            args: args
                .iter()
                .map(|a| (a.shape().to_vec(), a.dtype()))
                .collect(),
            keywords: keywords.to_vec(),
            steps,
            outputs,
        })
    }

    fn source(
        &mut self,
        r: &Ref,
        index: &[Option<usize>],
        alias: &HashMap<(usize, usize), Source>,
    ) -> Result<Source> {
        Ok(match r {
            Ref::Arg(k) => Source::Arg(*k),
            Ref::Step(s, o) => match index[*s] {
                Some(i) => Source::Step(i, *o),
                None => alias[&(*s, *o)],
            },
            Ref::Const(a) => {
                let next = self.constants.len();
                let c = *self.const_index.entry(a.id()).or_insert(next);
                if c == next {
                    a.eval()?;
                    self.constants.push(a.clone());
                }
                Source::Const(c)
            }
        })
    }

    fn write(&self) -> Result<()> {
        let mut blob = Vec::new();
        let mut constants = Vec::with_capacity(self.constants.len());
        for a in &self.constants {
            constants.push(SavedConst {
                shape: a.shape().to_vec(),
                dtype: a.dtype(),
                offset: blob.len(),
            });
            blob.extend_from_slice(&a.to_bytes()?);
        }
        let header = Header {
            version: VERSION,
            metadata: self.metadata.clone(),
            shapeless: self.shapeless,
            traces: self.traces.clone(),
            constants,
        };
        let json = serde_json::to_vec(&header)
            .map_err(|e| Error::Runtime(format!("[export_function] {e}")))?;
        let io = |e: std::io::Error| {
            Error::Runtime(format!(
                "[export_function] Failed to write {}: {e}",
                self.path.display()
            ))
        };
        let mut file = std::io::BufWriter::new(std::fs::File::create(&self.path).map_err(io)?);
        file.write_all(MAGIC).map_err(io)?;
        file.write_all(&(json.len() as u64).to_le_bytes())
            .map_err(io)?;
        file.write_all(&json).map_err(io)?;
        file.write_all(&blob).map_err(io)?;
        file.flush().map_err(io)
    }
}

/// How many inputs and outputs a step of a primitive must have: its `eval_cpu` and
/// rules index them as the op that built it laid them out, so a hostile file that gives
/// a step other counts must be refused when loaded (it would panic when run).
struct Arity {
    inputs: RangeInclusive<usize>,
    outputs: usize,
}

/// Exactly `inputs` inputs and `outputs` outputs.
fn io(inputs: usize, outputs: usize) -> Arity {
    Arity {
        inputs: inputs..=inputs,
        outputs,
    }
}

/// `lo..=hi` inputs (optional trailing ones) and `outputs` outputs.
fn io_range(lo: usize, hi: usize, outputs: usize) -> Arity {
    Arity {
        inputs: lo..=hi,
        outputs,
    }
}

/// The primitive saved as `name` with `params`, for a step with `n_in` inputs and
/// `n_out` outputs (an error unless the primitive takes those counts).
fn primitive_of(
    name: &str,
    params: serde_json::Value,
    n_in: usize,
    n_out: usize,
) -> Result<Arc<dyn Primitive>> {
    macro_rules! table {
        ($($module:ident::$t:ident => $arity:expr),* $(,)?) => {
            match name {
                $(stringify!($t) => {
                    let p = serde_json::from_value::<$module::$t>(params)
                        .map_err(|e| invalid(format!("bad parameters of {name}: {e}")))?;
                    let arity: fn(&$module::$t) -> Arity = $arity;
                    let want = arity(&p);
                    if !want.inputs.contains(&n_in) || want.outputs != n_out {
                        let (lo, hi) = (want.inputs.start(), want.inputs.end());
                        let ins = if lo == hi {
                            lo.to_string()
                        } else if *hi == usize::MAX {
                            format!("at least {lo}")
                        } else {
                            format!("{lo} to {hi}")
                        };
                        return Err(invalid(format!(
                            "a {name} step takes {ins} inputs and gives {} outputs, \
                             not {n_in} and {n_out}",
                            want.outputs
                        )));
                    }
                    Ok(Arc::new(p) as Arc<dyn Primitive>)
                })*
                _ => Err(invalid(format!("unknown primitive {name}"))),
            }
        };
    }
    const MANY: usize = usize::MAX;
    table!(
        // q, k, v, then the mask and the sinks where it has them.
        attention::ScaledDotProductAttention => |p| {
            let n = 3 + (p.mask != attention::MaskKind::None) as usize + p.has_sinks as usize;
            io(n, 1)
        },
        binary::Binary => |_| io(2, 1),
        binary::Select => |_| io(3, 1),
        conv::Convolution => |_| io(2, 1),
        conv::ConvWeightGrad => |_| io(2, 1),
        creation::Arange => |_| io(0, 1),
        fft::Fft => |_| io(1, 1),
        gathered::GatherMm => |_| io(4, 1),
        indexing::Concatenate => |_| io_range(1, MANY, 1),
        indexing::Gather => |_| io(2, 1),
        // The array, then one index array per axis.
        indexing::GatherNd => |p| io(1 + p.axes.len(), 1),
        indexing::MaskedScatter => |_| io(3, 1),
        // The array and the updates, then one index array per axis.
        indexing::Scatter => |p| io(2 + p.axes.len(), 1),
        indexing::SliceUpdate => |_| io(2, 1),
        indexing::DynamicSlice => |_| io(2, 1),
        indexing::DynamicSliceUpdate => |_| io(3, 1),
        indexing::Diagonal => |_| io(1, 1),
        indexing::BitCast => |_| io(1, 1),
        linalg::Lu => |_| io(1, 3),
        linalg::Cholesky => |_| io(1, 1),
        linalg::Qr => |_| io(1, 2),
        linalg::Svd => |p| io(1, if p.compute_uv { 3 } else { 1 }),
        linalg::Eigh => |p| io(1, 1 + p.vectors as usize),
        linalg::Eig => |p| io(1, 1 + p.vectors as usize),
        linalg::Inverse => |_| io(1, 1),
        linalg::Det => |p| io(1, 1 + p.log as usize),
        // a, b, and an optional addend.
        matmul::Matmul => |_| io_range(2, 3, 1),
        norm::RmsNorm => |_| io_range(1, 2, 1),
        norm::LayerNorm => |p| io(1 + p.has_weight as usize + p.has_bias as usize, 1),
        quantized::PackBits => |_| io(1, 1),
        quantized::Dequantize => |_| io(3, 1),
        quantized::QuantizedMatmul => |_| io(4, 1),
        // The weights, and the global scale (nvfp4) where given.
        quantized_fp::FpQuantize => |_| io_range(1, 2, 2),
        quantized_fp::FpDequantize => |_| io_range(2, 3, 1),
        // x, w, scales, then the biases (affine) or an optional global scale.
        quantized_fp::QuantizedMatmulNd => |p| match p.mode {
            quantized_fp::QMode::Affine { .. } => io(4, 1),
            quantized_fp::QMode::Fp(_) => io_range(3, 4, 1),
        },
        random::RandomBits => |_| io(1, 1),
        random::MlxSpecial => |_| io(1, 1),
        random::ArgsortBits => |_| io(1, 1),
        random::TakePermutation => |_| io(2, 1),
        random::SymmetricSqrt => |_| io(1, 1),
        reduce::Reduce => |_| io(1, 1),
        reduce::ArgReduce => |_| io(1, 1),
        reduce::NumberOfElements => |_| io(1, 1),
        scan::Scan => |_| io(1, 1),
        softmax::Softmax => |_| io(1, 1),
        sort::Sort => |_| io(1, 1),
        sort::ArgSort => |_| io(1, 1),
        sort::Partition => |_| io(1, 1),
        sort::ArgPartition => |_| io(1, 1),
        sort::SearchSorted => |_| io(2, 1),
        unary::Unary => |_| io(1, 1),
        unary::AsType => |_| io(1, 1),
        view::Reshape => |_| io(1, 1),
        view::Transpose => |_| io(1, 1),
        view::Broadcast => |_| io(1, 1),
        view::Slice => |_| io(1, 1),
        view::AsStrided => |_| io(1, 1),
        view::Copy => |_| io(1, 1),
        view::StopGradient => |_| io(1, 1),
        // Its outputs are its first n inputs; the rest are dependencies.
        view::Depends => |p| Arity { inputs: p.n..=MANY, outputs: p.n },
    )
}

fn invalid(what: String) -> Error {
    Error::Invalid(format!("[import_function] Invalid file: {what}."))
}

/// A function loaded by [`import_function`]: call it with arguments of a signature it
/// was exported with (or, exported shapeless, of the same ndims).
pub struct Imported {
    traces: Vec<ImportedTrace>,
    metadata: String,
    shapeless: bool,
}

struct ImportedTrace {
    args: Vec<(Shape, Dtype)>,
    keywords: Vec<String>,
    program: Program,
}

/// Loads a function saved by [`export_function`] or an [`Exporter`].
pub fn import_function(path: impl AsRef<Path>) -> Result<Imported> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| {
        Error::Runtime(format!(
            "[import_function] Failed to open {}: {e}",
            path.display()
        ))
    })?;
    Imported::from_bytes(&bytes)
}

impl Imported {
    /// Parses a saved function from the file's bytes.
    fn from_bytes(bytes: &[u8]) -> Result<Imported> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(invalid("not a ferrox function file".into()));
        }
        let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let blob_start = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(16))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| invalid("header length past the end".into()))?;
        let header: Header = serde_json::from_slice(&bytes[16..blob_start])
            .map_err(|e| invalid(format!("header: {e}")))?;
        if header.version != VERSION {
            return Err(invalid(format!("unsupported version {}", header.version)));
        }
        let blob = &bytes[blob_start..];
        let constants = header
            .constants
            .iter()
            .map(|c| {
                let n = crate::shape::checked_size(&c.shape)?
                    .checked_mul(c.dtype.size())
                    .ok_or_else(|| invalid("constant too large".into()))?;
                let data = c
                    .offset
                    .checked_add(n)
                    .and_then(|end| blob.get(c.offset..end))
                    .ok_or_else(|| invalid("constant data past the end".into()))?;
                Array::from_bytes(data, &c.shape, c.dtype)
            })
            .collect::<Result<Vec<_>>>()?;
        let traces = header
            .traces
            .into_iter()
            .map(|t| ImportedTrace::load(t, &constants))
            .collect::<Result<_>>()?;
        Ok(Imported {
            traces,
            metadata: header.metadata,
            shapeless: header.shapeless,
        })
    }

    /// The metadata string it was exported with.
    pub fn metadata(&self) -> &str {
        &self.metadata
    }

    /// Calls it on positional arguments.
    pub fn call(&self, args: &[Array]) -> Result<Vec<Array>> {
        self.call_with_keywords(args, &[])
    }

    /// Calls it on positional arguments and arguments by name (in any order).
    pub fn call_with_keywords(
        &self,
        args: &[Array],
        keywords: &[(String, Array)],
    ) -> Result<Vec<Array>> {
        let fits = |t: &ImportedTrace| {
            t.args.len() == args.len() + keywords.len()
                && t.keywords.len() == keywords.len()
                && keywords.iter().all(|(k, _)| t.keywords.contains(k))
                && t.keywords
                    .iter()
                    .all(|k| keywords.iter().any(|(n, _)| n == k))
        };
        let ordered = |t: &ImportedTrace| -> Vec<Array> {
            let mut all = args.to_vec();
            for name in &t.keywords {
                let (_, a) = keywords.iter().find(|(k, _)| k == name).expect("fits");
                all.push(a.clone());
            }
            all
        };
        // The exact signature first, then (shapeless) one of the same ndims.
        for t in self.traces.iter().filter(|t| fits(t)) {
            let all = ordered(t);
            let same = |shape: bool| {
                t.args.iter().zip(&all).all(|((s, d), a)| {
                    *d == a.dtype()
                        && if shape {
                            s == a.shape()
                        } else {
                            s.len() == a.ndim()
                        }
                })
            };
            if same(true) {
                return t.program.replay(&all);
            }
            if self.shapeless && same(false) {
                if let Some(out) = t.program.replay_reshaped(&all) {
                    return Ok(out);
                }
            }
        }
        Err(self.no_match(args, keywords))
    }

    fn no_match(&self, args: &[Array], keywords: &[(String, Array)]) -> Error {
        // (MLX indents the saved signatures by three spaces, the call's by two.)
        let line = |indent: &str, name: String, shape: &[usize], dtype: Dtype| {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("{indent}{name}: ({}) {dtype}\n", dims.join(","))
        };
        let mut msg = String::from(
            "[import_function::call] No imported function found which matches the given \
             positional and keyword arguments. Possible functions include:\n",
        );
        for (i, t) in self.traces.iter().enumerate() {
            let n_pos = t.args.len() - t.keywords.len();
            msg += &format!(
                " {}. Function with {n_pos} positional inputs and {} keyword inputs:\n",
                i + 1,
                t.keywords.len()
            );
            for (k, (s, d)) in t.args.iter().enumerate() {
                let name = match k.checked_sub(n_pos) {
                    Some(j) => format!("\"{}\"", t.keywords[j]),
                    None => (k + 1).to_string(),
                };
                msg += &line("   ", name, s, *d);
            }
        }
        msg += &format!(
            "\nCalled with {} positional inputs and {} keyword inputs:\n",
            args.len(),
            keywords.len()
        );
        for (k, a) in args.iter().enumerate() {
            msg += &line("  ", (k + 1).to_string(), a.shape(), a.dtype());
        }
        for (name, a) in keywords {
            msg += &line("  ", format!("\"{name}\""), a.shape(), a.dtype());
        }
        Error::Invalid(msg)
    }
}

impl ImportedTrace {
    fn load(t: SavedTrace, constants: &[Array]) -> Result<ImportedTrace> {
        let stream = default_stream(Device::cpu())?;
        let n_args = t.args.len();
        if t.keywords.len() > n_args {
            return Err(invalid("more keywords than arguments".into()));
        }
        let mut steps: Vec<Step> = Vec::with_capacity(t.steps.len());
        let resolve = |s: &Source, steps: &[Step]| -> Result<Ref> {
            Ok(match *s {
                Source::Arg(k) if k < n_args => Ref::Arg(k),
                Source::Step(i, o) if steps.get(i).is_some_and(|s| o < s.outputs.len()) => {
                    Ref::Step(i, o)
                }
                Source::Const(c) if c < constants.len() => Ref::Const(constants[c].clone()),
                _ => return Err(invalid(format!("reference {s:?} out of range"))),
            })
        };
        for saved in t.steps {
            let inputs: Vec<Ref> = saved
                .inputs
                .iter()
                .map(|s| resolve(s, &steps))
                .collect::<Result<_>>()?;
            let n_in = inputs.len();
            for (shape, _) in &saved.outputs {
                crate::shape::checked_size(shape)?;
            }
            steps.push(Step {
                primitive: primitive_of(&saved.primitive, saved.params, n_in, saved.outputs.len())?,
                inputs,
                outputs: saved.outputs,
                stream,
            });
        }
        let outputs = t
            .outputs
            .iter()
            .map(|s| resolve(s, &steps))
            .collect::<Result<_>>()?;
        let arg_shapes = t.args.iter().map(|(s, _)| s.clone()).collect();
        let dtypes: Vec<Dtype> = t.args.iter().map(|(_, d)| *d).collect();
        let mut program = Program::from_parts(steps, outputs, arg_shapes);
        program.finish(&dtypes, true);
        Ok(ImportedTrace {
            args: t.args,
            keywords: t.keywords,
            program,
        })
    }
}

/// A traced function described value by value, for a callback instead of a file
/// (Python's `export_function(callback, ...)`). Values are named `A`, `B`, ... in the
/// order: arguments, outputs, constants, then the other steps' outputs.
pub struct ExportedGraph {
    /// Positional arguments, then keyword arguments: (value name, shape, dtype).
    pub inputs: Vec<(String, Shape, Dtype)>,
    /// The keyword names of the last `keywords.len()` inputs.
    pub keywords: Vec<String>,
    pub outputs: Vec<(String, Shape, Dtype)>,
    pub constants: Vec<(String, Array)>,
    pub nodes: Vec<ExportedNode>,
}

/// One op of an [`ExportedGraph`].
pub struct ExportedNode {
    /// MLX's name for the op (`Add`, `Exp`, `Matmul`).
    pub name: String,
    /// The primitive's name in the file format.
    pub primitive: String,
    /// Its parameters, as JSON.
    pub params: String,
    pub inputs: Vec<(String, Shape, Dtype)>,
    pub outputs: Vec<(String, Shape, Dtype)>,
}

/// Traces `f` on `args` (the last `keywords.len()` passed by name) and describes the
/// graph that `export_function` would save.
pub fn export_graph(
    f: impl Fn(&[Array]) -> Result<Vec<Array>> + 'static,
    args: &[Array],
    keywords: &[String],
) -> Result<ExportedGraph> {
    let mut exporter = Exporter::new("", f, false, "");
    let trace = exporter.trace(args, keywords)?;
    let mut names: HashMap<String, String> = HashMap::new();
    let key = |s: &Source| format!("{s:?}");
    let name_of = |s: &Source, names: &mut HashMap<String, String>| {
        let n = names.len();
        names.entry(key(s)).or_insert_with(|| letters(n)).clone()
    };
    let shape_of = |s: &Source| -> (Shape, Dtype) {
        match *s {
            Source::Arg(k) => trace.args[k].clone(),
            Source::Step(i, o) => trace.steps[i].outputs[o].clone(),
            Source::Const(c) => {
                let a = &exporter.constants[c];
                (a.shape().to_vec(), a.dtype())
            }
        }
    };
    let described = |s: &Source, names: &mut HashMap<String, String>| {
        let (shape, dtype) = shape_of(s);
        (name_of(s, names), shape, dtype)
    };
    let inputs: Vec<_> = (0..args.len())
        .map(|k| described(&Source::Arg(k), &mut names))
        .collect();
    let outputs: Vec<_> = trace
        .outputs
        .iter()
        .map(|s| described(s, &mut names))
        .collect();
    let mut constants = Vec::new();
    for step in &trace.steps {
        for s in &step.inputs {
            if let Source::Const(c) = s {
                if !names.contains_key(&key(s)) {
                    constants.push((name_of(s, &mut names), exporter.constants[*c].clone()));
                }
            }
        }
    }
    let mut nodes = Vec::with_capacity(trace.steps.len());
    for (i, step) in trace.steps.iter().enumerate() {
        let primitive = primitive_of(
            &step.primitive,
            step.params.clone(),
            step.inputs.len(),
            step.outputs.len(),
        )?;
        nodes.push(ExportedNode {
            name: label(&*primitive),
            primitive: step.primitive.clone(),
            params: step.params.to_string(),
            inputs: step
                .inputs
                .iter()
                .map(|s| described(s, &mut names))
                .collect(),
            outputs: (0..step.outputs.len())
                .map(|o| described(&Source::Step(i, o), &mut names))
                .collect(),
        });
    }
    Ok(ExportedGraph {
        inputs,
        keywords: keywords.to_vec(),
        outputs,
        constants,
        nodes,
    })
}

/// MLX's name for the op a primitive computes: the op of an elementwise family
/// (`Binary(Add)` is `Add`), else the primitive's name.
fn label(p: &dyn Primitive) -> String {
    match p.name() {
        family @ ("Binary" | "Unary") => format!("{p:?}")
            .trim_start_matches(family)
            .trim_matches(|c| c == '(' || c == ')')
            .to_string(),
        name => name.to_string(),
    }
}

/// `A`, ..., `Z`, `AA`, `AB`, ...: the name of value `n`.
fn letters(mut n: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).expect("ASCII")
}

/// Writes the graph that computes `outputs` (and the `named` arrays) in Graphviz's DOT
/// language: values are called by their name in `named` or `A`, `B`, ... in the order
/// they are met; arrays with no pending op are sources, the outputs sinks.
pub fn export_to_dot(
    out: &mut dyn Write,
    outputs: &[Array],
    named: &[(String, Array)],
) -> Result<()> {
    let mut names: HashMap<usize, String> =
        named.iter().map(|(n, a)| (a.id(), n.clone())).collect();
    let roots: Vec<Array> = outputs
        .iter()
        .chain(named.iter().map(|(_, a)| a))
        .cloned()
        .collect();
    let sinks: std::collections::HashSet<usize> = roots.iter().map(Array::id).collect();
    // The name of value `id`, the next letter when it has none yet.
    let mut count = 0usize;
    let mut name = |id: usize, names: &mut HashMap<usize, String>| {
        names
            .entry(id)
            .or_insert_with(|| {
                count += 1;
                letters(count - 1)
            })
            .clone()
    };
    let mut text = String::from("digraph {\n");
    let mut seen_ops = std::collections::HashSet::new();
    let mut seen_leaves = std::collections::HashSet::new();
    // Depth first, inputs before readers.
    let mut stack: Vec<(Array, bool)> = roots.iter().rev().map(|a| (a.clone(), false)).collect();
    while let Some((a, expanded)) = stack.pop() {
        let op = match a.is_evaluated() {
            true => None,
            false => a.graph_op().map(|(op, _)| op),
        };
        let Some(op) = op else {
            if seen_leaves.insert(a.id()) {
                text += &format!("{{ rank=source; \"{}\"; }}\n", name(a.id(), &mut names));
            }
            continue;
        };
        let key = Arc::as_ptr(&op) as usize;
        if seen_ops.contains(&key) {
            continue;
        }
        if !expanded {
            stack.push((a.clone(), true));
            for x in op.inputs.iter().rev() {
                stack.push((x.clone(), false));
            }
            continue;
        }
        seen_ops.insert(key);
        text += &format!(
            "{{ {key} [label =\"{}\", shape=rectangle]; }}\n",
            label(&*op.primitive)
        );
        for x in &op.inputs {
            text += &format!("\"{}\" -> {key}\n", name(x.id(), &mut names));
        }
        for id in super::output_ids(&op).into_iter().flatten() {
            let n = name(id, &mut names);
            let rank = if sinks.contains(&id) {
                "rank=sink; "
            } else {
                ""
            };
            text += &format!("{{ {rank}\"{n}\"; }}\n{key} -> \"{n}\"\n");
        }
    }
    text += "}\n";
    out.write_all(text.as_bytes())
        .map_err(|e| Error::Runtime(format!("[export_to_dot] {e}")))
}
