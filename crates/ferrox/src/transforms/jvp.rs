//! Forward mode: `jvp` traces the function, then walks the ops between the inputs and
//! the outputs from the inputs forward, calling each primitive's `jvp` rule on the
//! tangents of its inputs.

use super::{check_count, check_inexact, op_outputs, output_ids, tape, trace, tracers, IdMap};
use crate::array::Array;
use crate::{ops, Error, Result};

/// The outputs of `f(primals)` and the Jacobian-vector products `J·t`, one per output,
/// where `t` are `tangents` (one per primal, of its shape). Builds lazy arrays only.
///
/// ```
/// use ferrox::{ops, transforms::jvp, Array};
/// let x = Array::from_slice(&[1.0f32, 2.0], &[2])?;
/// let t = Array::from_slice(&[1.0f32, 0.0], &[2])?;
/// let (_, jvps) = jvp(|x| Ok(vec![ops::square(&x[0])?]), &[x], &[t])?;
/// assert_eq!(jvps[0].to_vec::<f32>()?, vec![2.0, 0.0]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn jvp<F>(f: F, primals: &[Array], tangents: &[Array]) -> Result<(Vec<Array>, Vec<Array>)>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    jvp_dyn(&f, primals, tangents)
}

pub(crate) fn jvp_dyn(
    f: &dyn Fn(&[Array]) -> Result<Vec<Array>>,
    primals: &[Array],
    tangents: &[Array],
) -> Result<(Vec<Array>, Vec<Array>)> {
    if primals.len() != tangents.len() {
        return Err(Error::Invalid(format!(
            "[jvp] Number of inputs does not match number of tangents: {} primals, {} \
             tangents.",
            primals.len(),
            tangents.len()
        )));
    }
    for (i, (p, t)) in primals.iter().zip(tangents).enumerate() {
        if p.shape() != t.shape() {
            return Err(Error::Invalid(format!(
                "[jvp] Primal {i} has shape {:?} but its tangent has shape {:?}.",
                p.shape(),
                t.shape()
            )));
        }
    }
    check_inexact("jvp", primals, None)?;
    let traced = tracers(primals);
    let outputs = trace(f, &traced)?;
    let (ops_, _) = tape(&outputs, &traced, true);
    let mut tan: IdMap<Array> = IdMap::default();
    for (x, t) in traced.iter().zip(tangents) {
        tan.insert(x.id(), ops::astype(t, x.dtype())?);
    }
    for op in &ops_ {
        let mut argnums = Vec::new();
        let mut tans = Vec::new();
        for (i, a) in op.inputs.iter().enumerate() {
            if let Some(t) = tan.get(&a.id()) {
                argnums.push(i);
                tans.push(t.clone());
            }
        }
        if argnums.is_empty() {
            continue;
        }
        let outs = op_outputs(op)?;
        let r = op.primitive.jvp(&op.inputs, &tans, &argnums, &outs)?;
        check_count(op, "jvp", r.len(), op.outputs.len())?;
        for (id, t) in output_ids(op).into_iter().zip(r) {
            if let Some(id) = id {
                tan.insert(id, t);
            }
        }
    }
    let jvps = outputs
        .iter()
        .map(|o| match tan.get(&o.id()) {
            Some(t) => Ok(t.clone()),
            None => ops::zeros_like(o, None),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((outputs, jvps))
}
