//! Batching: `vmap(f, in_axes, out_axes)` traces `f` on unbatched stand-ins for the
//! batched arguments, then walks the graph from them forward, calling each primitive's
//! `vmap` rule on batched inputs. The helpers at the end are shared by the rules.

use super::{check_count, op_outputs, output_ids, tape, trace_symbolic, IdMap};
use crate::array::{Array, Data};
use crate::primitive::{Batched, EvalContext, Primitive};
use crate::{ops, Error, Result};

/// The unbatched stand-in for a batched argument while `f` is traced: it has a shape and
/// dtype but no data, so evaluating it inside `vmap` is an error (as in MLX).
#[derive(Debug)]
struct Placeholder;

impl Primitive for Placeholder {
    fn name(&self) -> &'static str {
        "Placeholder"
    }
    /// Each stand-in is a distinct input, though they have no inputs of their own.
    fn cse_key(&self) -> Option<String> {
        None
    }
    fn eval_cpu(&self, _: &[Array], _: &mut EvalContext) -> Result<Vec<Data>> {
        Err(Error::Invalid(
            "[vmap] Cannot evaluate an array that depends on a vmapped input inside the \
             vmapped function."
                .into(),
        ))
    }
}

/// `f` mapped over axis `in_axes[i]` of argument `i` (`None`: the argument is shared by
/// the whole batch); output `j` carries the batch on axis `out_axes[j]` (`None`: the
/// output must not depend on a batched argument). A single entry in either list applies
/// to every argument or output. Nestable: `vmap(vmap(f, ..), ..)`.
///
/// ```
/// use ferrox::{ops, transforms::vmap, Array};
/// let x = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
/// let y = Array::from_slice(&[10.0f32, 20.0], &[2])?;
/// // Row i of x plus y, stacked along axis 1.
/// let f = vmap(|a: &[Array]| Ok(vec![ops::add(&a[0], &a[1])?]), &[Some(0), None], &[Some(1)]);
/// assert_eq!(f(&[x, y])?[0].to_vec::<f32>()?, vec![11.0, 13.0, 22.0, 24.0]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn vmap<F>(
    f: F,
    in_axes: &[Option<usize>],
    out_axes: &[Option<usize>],
) -> impl Fn(&[Array]) -> Result<Vec<Array>>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    let (in_axes, out_axes) = (in_axes.to_vec(), out_axes.to_vec());
    move |args: &[Array]| vmap_dyn(&f, args, &in_axes, &out_axes)
}

/// One entry per item: `axes` itself, or its single entry repeated.
fn per_item(name: &str, axes: &[Option<usize>], n: usize) -> Result<Vec<Option<usize>>> {
    match axes.len() {
        1 => Ok(vec![axes[0]; n]),
        k if k == n => Ok(axes.to_vec()),
        k => Err(Error::Invalid(format!(
            "[vmap] The number of {name} axes ({k}) must match the number of {name}puts ({n})."
        ))),
    }
}

pub(crate) fn vmap_dyn(
    f: &dyn Fn(&[Array]) -> Result<Vec<Array>>,
    args: &[Array],
    in_axes: &[Option<usize>],
    out_axes: &[Option<usize>],
) -> Result<Vec<Array>> {
    vmap_with_out_axes(f, args, in_axes, &|outs: &[Array]| {
        per_item("out", out_axes, outs.len())
    })
}

/// [`vmap`] applied at once, with the output axes chosen after `f` has been traced:
/// `out_axes` gets `f`'s (unbatched) outputs and gives one axis per output. For front
/// ends whose functions return nested structures whose size is known only then.
pub fn vmap_with_out_axes(
    f: &dyn Fn(&[Array]) -> Result<Vec<Array>>,
    args: &[Array],
    in_axes: &[Option<usize>],
    out_axes: &dyn Fn(&[Array]) -> Result<Vec<Option<usize>>>,
) -> Result<Vec<Array>> {
    let in_axes = per_item("in", in_axes, args.len())?;
    let mut size: Option<(usize, usize)> = None;
    for (i, (a, ax)) in args.iter().zip(&in_axes).enumerate() {
        let Some(ax) = *ax else { continue };
        if ax >= a.ndim() {
            return Err(Error::Invalid(format!(
                "[vmap] Axis {ax} is out of bounds for input {i} of shape {:?}.",
                a.shape()
            )));
        }
        let n = a.shape()[ax];
        match size {
            Some((m, j)) if m != n => {
                return Err(Error::Invalid(format!(
                    "[vmap] Inconsistent axis sizes: input {j} has {m} elements along its \
                     mapped axis but input {i} has {n} (axis {ax} of shape {:?}).",
                    a.shape()
                )))
            }
            Some(_) => {}
            None => size = Some((n, i)),
        }
    }
    let Some((n, _)) = size else {
        return Err(Error::Invalid(
            "[vmap] At least one of in_axes must be non-None.".into(),
        ));
    };
    // Unbatched stand-ins for the batched arguments; shared arguments go in as they are.
    let mut stand_ins = Vec::with_capacity(args.len());
    let mut batched: IdMap<(Array, Option<usize>)> = IdMap::default();
    let mut traced = Vec::new();
    for (a, ax) in args.iter().zip(&in_axes) {
        match *ax {
            Some(ax) => {
                let mut shape = a.shape().to_vec();
                shape.remove(ax);
                let p = Array::placeholder(shape, a.dtype(), Placeholder);
                batched.insert(p.id(), (a.clone(), Some(ax)));
                traced.push(p.clone());
                stand_ins.push(p);
            }
            None => stand_ins.push(a.clone()),
        }
    }
    let outputs = trace_symbolic(f, &stand_ins)?;
    let out_axes = out_axes(&outputs)?;
    if out_axes.len() != outputs.len() {
        return Err(Error::Invalid(format!(
            "[vmap] The number of out axes ({}) must match the number of outputs ({}).",
            out_axes.len(),
            outputs.len()
        )));
    }
    let (ops_, _) = tape(&outputs, &traced, false);
    for op in &ops_ {
        let mut ins = Vec::with_capacity(op.inputs.len());
        let mut axes = Vec::with_capacity(op.inputs.len());
        for a in &op.inputs {
            match batched.get(&a.id()) {
                Some((b, ax)) => {
                    ins.push(b.clone());
                    axes.push(*ax);
                }
                None => {
                    ins.push(a.clone());
                    axes.push(None);
                }
            }
        }
        let outs = op_outputs(op)?;
        let (r, r_axes) = if axes.iter().all(Option::is_none) {
            // Unbatched inputs; one a rule replaced (an unbatched result computed from a
            // batched input, such as a count of elements) needs the op built again on it.
            let replaced = ins.iter().zip(&op.inputs).any(|(a, b)| a.id() != b.id());
            let outs = match replaced {
                true => {
                    Array::from_shared_op(op.outputs.clone(), op.primitive.clone(), ins, op.stream)
                }
                false => outs,
            };
            (outs, vec![None; op.outputs.len()])
        } else {
            op.primitive.vmap(&ins, &axes, &outs)?
        };
        check_count(op, "vmap", r.len(), op.outputs.len())?;
        check_count(op, "vmap", r_axes.len(), op.outputs.len())?;
        for ((id, a), ax) in output_ids(op).into_iter().zip(r).zip(r_axes) {
            // Rules index shapes with these axes: a bad one (say, from a custom rule) is
            // an error here rather than a panic later.
            if let Some(ax) = ax.filter(|&ax| ax >= a.ndim()) {
                return Err(Error::Invalid(format!(
                    "[vmap] The {} rule gave batch axis {ax} for an output of shape {:?}.",
                    op.primitive.name(),
                    a.shape()
                )));
            }
            if let Some(id) = id {
                batched.insert(id, (a, ax));
            }
        }
    }
    outputs
        .iter()
        .zip(&out_axes)
        .enumerate()
        .map(|(i, (o, want))| {
            let (a, have) = batched.get(&o.id()).cloned().unwrap_or((o.clone(), None));
            match (have, *want) {
                (Some(h), Some(w)) => {
                    if w >= a.ndim() {
                        return Err(Error::Invalid(format!(
                            "[vmap] Axis {w} for output {i} is out of bounds for its batched \
                             shape {:?}.",
                            a.shape()
                        )));
                    }
                    ops::moveaxis(&a, h as isize, w as isize)
                }
                (Some(_), None) => Err(Error::Invalid(format!(
                    "[vmap] Output {i} depends on a mapped input, so its out_axes entry \
                     cannot be None."
                ))),
                (None, Some(w)) => {
                    if w > a.ndim() {
                        return Err(Error::Invalid(format!(
                            "[vmap] Axis {w} for output {i} is out of bounds for its batched \
                             shape ({} dimensions).",
                            a.ndim() + 1
                        )));
                    }
                    let mut shape = a.shape().to_vec();
                    shape.insert(w, n);
                    ops::broadcast_to(&ops::expand_dims(&a, &[w as isize])?, &shape)
                }
                (None, None) => Ok(a),
            }
        })
        .collect()
}

// ---- helpers for the rules -------------------------------------------------------------

/// The batch size: the extent of the first batched input along its batch axis.
pub(crate) fn batch_size(inputs: &[Array], axes: &[Option<usize>]) -> usize {
    inputs
        .iter()
        .zip(axes)
        .find_map(|(a, ax)| ax.map(|ax| a.shape()[ax]))
        .unwrap_or(1)
}

/// `x` with its batch axis moved to 0; an unbatched `x` broadcast along a new axis 0 of
/// extent `n`.
pub(crate) fn to_front(x: &Array, axis: Option<usize>, n: usize) -> Result<Array> {
    match axis {
        Some(0) => Ok(x.clone()),
        Some(ax) => ops::moveaxis(x, ax as isize, 0),
        None => {
            let mut shape = vec![n];
            shape.extend_from_slice(x.shape());
            ops::broadcast_to(&ops::expand_dims(x, &[0])?, &shape)
        }
    }
}

/// Every input batched along axis 0 (the unbatched ones broadcast).
pub(crate) fn all_to_front(inputs: &[Array], axes: &[Option<usize>]) -> Result<Vec<Array>> {
    let n = batch_size(inputs, axes);
    inputs
        .iter()
        .zip(axes)
        .map(|(x, &ax)| to_front(x, ax, n))
        .collect()
}

/// Inputs of one (unbatched) shape, as elementwise primitives take them, brought to one
/// batched shape: where every batched input has the batch on one axis it stays there
/// (no copy, no transpose), else all move it to 0. Returns the inputs and the axis.
pub(crate) fn align_elementwise(
    inputs: &[Array],
    axes: &[Option<usize>],
) -> Result<(Vec<Array>, usize)> {
    let mut batched = axes.iter().flatten();
    let first = batched.next().copied().unwrap_or(0);
    if batched.all(|&a| a == first) {
        let shape = inputs
            .iter()
            .zip(axes)
            .find(|(_, ax)| ax.is_some())
            .map(|(a, _)| a.shape().to_vec())
            .unwrap_or_default();
        let v = inputs
            .iter()
            .zip(axes)
            .map(|(x, ax)| match ax {
                Some(_) => Ok(x.clone()),
                None => ops::broadcast_to(&ops::expand_dims(x, &[first as isize])?, &shape),
            })
            .collect::<Result<Vec<_>>>()?;
        return Ok((v, first));
    }
    Ok((all_to_front(inputs, axes)?, 0))
}

/// `shape` with the batch extent `n` inserted at `axis`.
pub(crate) fn with_batch(shape: &[usize], axis: usize, n: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    s.insert(axis, n);
    s
}

/// A primitive with no batching rule of its own mapped by a loop: the primitive, built
/// by `apply`, runs on each batch element and the results are stacked along axis 0.
pub(crate) fn by_loop(
    inputs: &[Array],
    axes: &[Option<usize>],
    apply: impl Fn(&[Array]) -> Result<Vec<Array>>,
) -> Result<Batched> {
    let n = batch_size(inputs, axes);
    if n == 0 {
        // No element to run: the primitive is built (never run) on one element of zeros
        // for its output shapes and dtypes, and each output is empty along the batch.
        let item = inputs
            .iter()
            .zip(axes)
            .map(|(x, ax)| match ax {
                Some(ax) => {
                    let mut s = x.shape().to_vec();
                    s.remove(*ax);
                    ops::zeros(&s, Some(x.dtype()))
                }
                None => Ok(x.clone()),
            })
            .collect::<Result<Vec<_>>>()?;
        let outs = apply(&item)?
            .iter()
            .map(|o| ops::zeros(&with_batch(o.shape(), 0, 0), Some(o.dtype())))
            .collect::<Result<Vec<_>>>()?;
        let k = outs.len();
        return Ok((outs, vec![Some(0); k]));
    }
    let mut per_output: Vec<Vec<Array>> = Vec::new();
    for b in 0..n {
        let item = inputs
            .iter()
            .zip(axes)
            .map(|(x, ax)| match ax {
                Some(ax) => ops::take(x, &Array::scalar(b as i64), Some(*ax as isize)),
                None => Ok(x.clone()),
            })
            .collect::<Result<Vec<_>>>()?;
        let outs = apply(&item)?;
        if per_output.is_empty() {
            per_output = vec![Vec::with_capacity(n); outs.len()];
        }
        for (acc, o) in per_output.iter_mut().zip(outs) {
            acc.push(o);
        }
    }
    let outs = per_output
        .iter()
        .map(|v| ops::stack(v, 0))
        .collect::<Result<Vec<_>>>()?;
    let k = outs.len();
    Ok((outs, vec![Some(0); k]))
}
