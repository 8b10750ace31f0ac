//! Ops whose output shape depends on the input's values: `nonzero` and boolean-mask
//! reads (`a[mask]`). MLX leaves them out so that every graph has static shapes; ferrox
//! offers them as an explicit escape hatch that evaluates its input, like `item()`. Inside
//! `compile` or `vmap` the values of a traced array are not known, so there they raise.

use super::{astype, take};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::transforms::values_unknown;
use crate::{Error, Result};

fn refuse_traced(op: &str, a: &Array) -> Result<()> {
    if values_unknown(a) {
        return Err(Error::Invalid(format!(
            "[{op}] The output's shape depends on the values of the input, which are not \
             known inside compile or vmap. Call {op} outside the transformed function, or \
             use a static-shape form (where, or a mask multiplied in)."
        )));
    }
    Ok(())
}

/// The flat (row-major) positions of the nonzero elements of `a`; evaluates `a`.
fn flat_nonzero(op: &str, a: &Array) -> Result<Vec<u32>> {
    refuse_traced(op, a)?;
    if a.size() > u32::MAX as usize {
        return Err(Error::Invalid(format!(
            "[{op}] Arrays of more than 2^32 elements are not supported (size {}).",
            a.size()
        )));
    }
    let truth = astype(a, Dtype::Bool)?.to_vec::<bool>()?;
    Ok((0..truth.len() as u32)
        .filter(|&i| truth[i as usize])
        .collect())
}

/// The indices of the nonzero (true) elements of `a`, one uint32 array per axis, in
/// row-major order (NumPy's `nonzero`). Evaluates `a`; raises inside `compile`/`vmap`.
///
/// ```
/// use ferrox::{ops, Array};
/// let a = Array::from_slice(&[0.0f32, 3.0, 0.0, 5.0], &[2, 2])?;
/// let ix = ops::nonzero(&a)?;
/// assert_eq!(ix[0].to_vec::<u32>()?, [0, 1]);
/// assert_eq!(ix[1].to_vec::<u32>()?, [1, 1]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn nonzero(a: &Array) -> Result<Vec<Array>> {
    if a.ndim() == 0 {
        return Err(Error::Invalid(
            "[nonzero] Calling nonzero on a 0-d array is not allowed; use atleast_1d first.".into(),
        ));
    }
    let flat = flat_nonzero("nonzero", a)?;
    let shape = a.shape();
    let mut axes = vec![Vec::with_capacity(flat.len()); shape.len()];
    for &p in &flat {
        let mut rest = p as usize;
        for (ax, &n) in shape.iter().enumerate().rev() {
            axes[ax].push((rest % n) as u32);
            rest /= n;
        }
    }
    axes.into_iter()
        .map(|v| {
            let n = v.len();
            Array::from_slice(&v, &[n])
        })
        .collect()
}

/// `a[mask]`: the elements (or, for a mask over the leading axes, the sub-arrays) of `a`
/// where the boolean `mask` is true, in row-major order, stacked along one new first
/// axis. `mask.shape` must equal the leading axes of `a`. Evaluates `mask`; raises
/// inside `compile`/`vmap`.
///
/// ```
/// use ferrox::{ops, Array};
/// let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
/// let big = ops::greater(&a, 1.5)?;
/// assert_eq!(ops::boolean_mask(&a, &big)?.to_vec::<f32>()?, [2.0, 3.0, 4.0]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn boolean_mask(a: &Array, mask: &Array) -> Result<Array> {
    const OP: &str = "boolean_mask";
    if mask.dtype() != Dtype::Bool {
        return Err(Error::Invalid(format!(
            "[{OP}] The mask must be boolean, got {}.",
            mask.dtype()
        )));
    }
    let k = mask.ndim();
    if k > a.ndim() || mask.shape() != &a.shape()[..k] {
        return Err(Error::Index(format!(
            "[{OP}] The boolean index of shape {:?} does not match the indexed array of shape \
             {:?} (it must equal its leading axes).",
            mask.shape(),
            a.shape()
        )));
    }
    let flat = flat_nonzero(OP, mask)?;
    let mut shape = vec![mask.size()];
    shape.extend_from_slice(&a.shape()[k..]);
    let rows = a.reshape(&shape)?;
    let n = flat.len();
    take(&rows, &Array::from_slice(&flat, &[n])?, Some(0))
}
