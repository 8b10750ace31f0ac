//! `grad` and `value_and_grad`: `vjp` of a function with one scalar output, with respect
//! to the arguments listed in `argnums`, returned as closures so that they nest
//! (`grad(grad(f))`) and compose with `vmap`.

use super::check_inexact;
use super::vjp::vjp_named;
use crate::array::Array;
use crate::{ops, Error, Result};

/// Checks `argnums` against the number of arguments, as MLX does.
fn check_argnums(name: &str, argnums: &[usize], n: usize) -> Result<()> {
    if argnums.is_empty() {
        return Err(Error::Invalid(format!(
            "[{name}] Must specify at least one argument."
        )));
    }
    for (k, &a) in argnums.iter().enumerate() {
        if a >= n {
            return Err(Error::Invalid(format!(
                "[{name}] Invalid argument number {a} for a function called with {n} arguments."
            )));
        }
        if argnums[..k].contains(&a) {
            return Err(Error::Invalid(format!(
                "[{name}] Duplicate argument number {a} in argnums {argnums:?}."
            )));
        }
    }
    Ok(())
}

/// `f(args)` and the gradient of its first output (a scalar) with respect to each
/// argument in `argnums`. Further outputs are returned too but not differentiated (they
/// pass through `stop_gradient`), as in MLX.
///
/// ```
/// use ferrox::{ops, transforms::value_and_grad, Array};
/// let f = |x: &[Array]| Ok(vec![ops::sum(&ops::multiply(&x[0], &x[1])?, &[], false)?]);
/// let (x, y) = (Array::from_slice(&[1.0f32, 2.0], &[2])?, Array::from_slice(&[3.0f32, 4.0], &[2])?);
/// let (value, grads) = value_and_grad(f, &[0, 1])(&[x, y])?;
/// assert_eq!(value[0].item::<f32>()?, 11.0);
/// assert_eq!(grads[0].to_vec::<f32>()?, vec![3.0, 4.0]);
/// assert_eq!(grads[1].to_vec::<f32>()?, vec![1.0, 2.0]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn value_and_grad<F>(
    f: F,
    argnums: &[usize],
) -> impl Fn(&[Array]) -> Result<(Vec<Array>, Vec<Array>)>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    let argnums = argnums.to_vec();
    move |args: &[Array]| value_and_grad_named("value_and_grad", &f, &argnums, args)
}

/// The gradient of `f`'s first output (a scalar) with respect to each argument in
/// `argnums`.
///
/// ```
/// use ferrox::{ops, transforms::grad, Array};
/// // d²/dx² sin(x) = -sin(x)
/// let f = |x: &[Array]| Ok(vec![ops::sin(&x[0])?]);
/// let d2f = grad(grad(f, &[0]), &[0]);
/// let x = Array::scalar(0.5f64);
/// assert!((d2f(&[x])?[0].item::<f64>()? + 0.5f64.sin()).abs() < 1e-12);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn grad<F>(f: F, argnums: &[usize]) -> impl Fn(&[Array]) -> Result<Vec<Array>>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    let argnums = argnums.to_vec();
    move |args: &[Array]| Ok(value_and_grad_named("grad", &f, &argnums, args)?.1)
}

fn value_and_grad_named(
    name: &str,
    f: &dyn Fn(&[Array]) -> Result<Vec<Array>>,
    argnums: &[usize],
    args: &[Array],
) -> Result<(Vec<Array>, Vec<Array>)> {
    check_argnums(name, argnums, args.len())?;
    let primals: Vec<Array> = argnums.iter().map(|&i| args[i].clone()).collect();
    check_inexact(name, &primals, Some(argnums))?;
    // The function of the differentiated arguments alone, the others held fixed.
    let g = |traced: &[Array]| -> Result<Vec<Array>> {
        let mut full = args.to_vec();
        for (&i, t) in argnums.iter().zip(traced) {
            full[i] = t.clone();
        }
        let mut outs = f(&full)?;
        let Some(first) = outs.first() else {
            return Err(Error::Invalid(format!(
                "[{name}] The function must return at least one array."
            )));
        };
        if first.ndim() != 0 {
            return Err(Error::Invalid(format!(
                "[{name}] The function whose gradient is taken must return a scalar (a 0-d \
                 array), but its first output has shape {:?}.",
                first.shape()
            )));
        }
        for o in outs.iter_mut().skip(1) {
            *o = ops::stop_gradient(o)?;
        }
        Ok(outs)
    };
    // A float32 one; the walk casts it to the output's dtype.
    vjp_named(name, &g, &primals, &[Array::scalar(1.0f32)])
}
