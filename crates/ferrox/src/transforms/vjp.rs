//! Reverse mode: `vjp` traces the function, then walks the ops between the inputs and
//! the outputs from the outputs back, calling each primitive's `vjp` rule and summing the
//! cotangents that reach a node from its several readers.

use super::{check_count, check_inexact, op_outputs, output_ids, tape, trace, tracers, IdMap};
use crate::array::Array;
use crate::{ops, Error, Result};

/// The outputs of `f(primals)` and the vector-Jacobian products: for each primal, the
/// cotangent `Jᵀ·c` where `c` are `cotangents` (one per output of `f`, or fewer: outputs
/// past the last cotangent are not differentiated). Builds lazy arrays only.
///
/// ```
/// use ferrox::{ops, transforms::vjp, Array};
/// let x = Array::from_slice(&[1.0f32, 2.0], &[2])?;
/// let (out, vjps) = vjp(|x| Ok(vec![ops::multiply(&x[0], 3.0)?]), &[x], &[ops::ones(&[2], None)?])?;
/// assert_eq!(vjps[0].to_vec::<f32>()?, vec![3.0, 3.0]);
/// assert_eq!(out[0].to_vec::<f32>()?, vec![3.0, 6.0]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn vjp<F>(f: F, primals: &[Array], cotangents: &[Array]) -> Result<(Vec<Array>, Vec<Array>)>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    vjp_named("vjp", &f, primals, cotangents)
}

/// `vjp` with the transform's name for its errors (`grad` reports as `[grad]`).
pub(crate) fn vjp_named(
    name: &str,
    f: &dyn Fn(&[Array]) -> Result<Vec<Array>>,
    primals: &[Array],
    cotangents: &[Array],
) -> Result<(Vec<Array>, Vec<Array>)> {
    if name == "vjp" {
        check_inexact(name, primals, None)?;
    }
    let traced = tracers(primals);
    let outputs = trace(f, &traced)?;
    if cotangents.len() > outputs.len() {
        return Err(Error::Invalid(format!(
            "[{name}] Got {} cotangents for a function with {} outputs.",
            cotangents.len(),
            outputs.len()
        )));
    }
    for (i, (o, c)) in outputs.iter().zip(cotangents).enumerate() {
        if o.shape() != c.shape() {
            return Err(Error::Invalid(format!(
                "[{name}] Output {i} has shape {:?} but its cotangent has shape {:?}.",
                o.shape(),
                c.shape()
            )));
        }
    }
    let vjps = backward(&traced, &outputs[..cotangents.len()], cotangents)?;
    Ok((outputs, vjps))
}

/// Adds `v` to the cotangent collected for node `id`.
fn accumulate(map: &mut IdMap<Array>, id: usize, v: Array) -> Result<()> {
    let v = match map.remove(&id) {
        Some(prev) => ops::add(&prev, &v)?,
        None => v,
    };
    map.insert(id, v);
    Ok(())
}

/// The cotangents of `inputs` given those of `outputs`: the reverse walk.
pub(crate) fn backward(
    inputs: &[Array],
    outputs: &[Array],
    cotangents: &[Array],
) -> Result<Vec<Array>> {
    let (ops_, depends) = tape(outputs, inputs, true);
    let mut cot: IdMap<Array> = IdMap::default();
    for (o, c) in outputs.iter().zip(cotangents) {
        if depends.contains(&o.id()) {
            accumulate(&mut cot, o.id(), ops::astype(c, o.dtype())?)?;
        }
    }
    for op in ops_.iter().rev() {
        let ids = output_ids(op);
        if !ids.iter().flatten().any(|id| cot.contains_key(id)) {
            continue;
        }
        let mut cots = Vec::with_capacity(ids.len());
        for (id, (shape, dtype)) in ids.iter().zip(&op.outputs) {
            match id.and_then(|id| cot.remove(&id)) {
                Some(c) => cots.push(c),
                None => cots.push(ops::zeros(shape, Some(*dtype))?),
            }
        }
        let argnums: Vec<usize> = (0..op.inputs.len())
            .filter(|&i| depends.contains(&op.inputs[i].id()))
            .collect();
        let outs = op_outputs(op)?;
        // Complex outputs: the rules give `c·f'(z)`, MLX's convention is `c·conj(f'(z))`
        // (for a real loss, the gradient `∂L/∂x + i·∂L/∂y`). That is conj(rule(conj(c))),
        // which leaves real-linear ops (sums, views, gathers) as they are.
        let complex =
            op.primitive.conjugates_complex_vjp() && op.outputs.iter().any(|o| o.1.is_complex());
        if complex {
            cots = cots.iter().map(ops::conj).collect::<Result<_>>()?;
        }
        let mut vjps = op.primitive.vjp(&op.inputs, &cots, &argnums, &outs)?;
        if complex {
            vjps = vjps.iter().map(ops::conj).collect::<Result<_>>()?;
        }
        check_count(op, "vjp", vjps.len(), argnums.len())?;
        for (&i, v) in argnums.iter().zip(vjps) {
            accumulate(&mut cot, op.inputs[i].id(), v)?;
        }
    }
    inputs
        .iter()
        .map(|x| match cot.remove(&x.id()) {
            Some(c) => Ok(c),
            None => ops::zeros_like(x, None),
        })
        .collect()
}
