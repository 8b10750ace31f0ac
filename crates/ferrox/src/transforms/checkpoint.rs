//! `checkpoint(f)`: gradient checkpointing. The forward pass keeps only `f`'s inputs and
//! outputs; the backward pass runs `f` again to rebuild what its vjp needs. Peak memory
//! drops from every intermediate of every checkpointed block to those of one block,
//! for the price of a second forward pass.

use super::custom::custom_function;
use super::depends;
use super::vjp::vjp_named;
use crate::array::Array;
use crate::Result;
use std::sync::Arc;

/// `f`, with its backward pass recomputing `f` instead of keeping its intermediates.
///
/// ```
/// use ferrox::{ops, transforms::{checkpoint, grad}, Array};
/// let block = checkpoint(|x: &[Array]| Ok(vec![ops::tanh(&ops::exp(&x[0])?)?]));
/// let g = grad(move |x: &[Array]| Ok(vec![ops::sum(&block(x)?[0], &[], false)?]), &[0]);
/// let x = Array::from_slice(&[0.1f32, 0.2], &[2])?;
/// assert_eq!(g(&[x])?[0].shape(), &[2]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn checkpoint<F>(f: F) -> impl Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + Clone
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let recompute = f.clone();
    custom_function(move |x: &[Array]| f(x))
        .vjp(move |primals, cotangents, outputs| {
            // The recomputation reads the primals through a node that also waits for the
            // cotangents: the scheduler orders graphs inputs-first, and without this the
            // recomputed intermediates could be computed early, with the forward pass,
            // and held until the backward pass reaches them, which is what we avoid.
            let mut deps = cotangents.to_vec();
            deps.extend_from_slice(outputs);
            let primals = depends(primals, &deps);
            Ok(vjp_named("checkpoint", &*recompute, &primals, cotangents)?.1)
        })
        .into_fn()
}
