//! `custom_function`: a function whose transforms may be given by hand. It runs as one
//! primitive, `CustomTransforms`, whose inputs are the arguments and the function's own
//! outputs (behind `stop_gradient`): evaluating it just hands those outputs on, and its
//! rules call the given closures, or else transform the function itself.
//!
//! `Depends` is the small primitive `checkpoint` needs: its outputs are its first inputs
//! unchanged, but it cannot run before its other inputs have, which orders a
//! recomputation after the cotangents it serves.

use super::jvp::jvp_dyn;
use super::vjp::vjp_named;
use super::vmap::vmap_dyn;
use crate::array::{Array, Data};
use crate::primitive::{Batched, EvalContext, Primitive};
use crate::{ops, Error, Result};
use std::sync::Arc;

/// A function of arrays, shareable across threads (a primitive holds it).
pub type Fun = Arc<dyn Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync>;
/// `(primals, cotangents, outputs) -> one cotangent per primal`.
pub type VjpFun = Arc<dyn Fn(&[Array], &[Array], &[Array]) -> Result<Vec<Array>> + Send + Sync>;
/// `(primals, tangents) -> one tangent per output`; every primal has a tangent (zeros
/// for those not being differentiated).
pub type JvpFun = Arc<dyn Fn(&[Array], &[Array]) -> Result<Vec<Array>> + Send + Sync>;
/// `(inputs, in_axes) -> (outputs, out_axes)`.
pub type VmapFun = Arc<dyn Fn(&[Array], &[Option<usize>]) -> Result<Batched> + Send + Sync>;

/// A function with optional hand-written `vjp`, `jvp` and `vmap` rules (MLX's
/// `mx.custom_function`). Call it with [`CustomFunction::call`].
///
/// ```
/// use ferrox::{ops, transforms::{custom_function, grad}, Array};
/// // Identity forward, gradient clipped to [-1, 1].
/// let f = custom_function(|x: &[Array]| Ok(vec![x[0].clone()]))
///     .vjp(|_, cot, _| Ok(vec![ops::clip(&cot[0], Some(&Array::scalar(-1.0f32)), Some(&Array::scalar(1.0f32)))?]));
/// let g = grad(move |x: &[Array]| Ok(vec![ops::sum(&ops::multiply(&f.call(x)?[0], 5.0)?, &[], false)?]), &[0]);
/// let x = Array::from_slice(&[1.0f32, 2.0], &[2])?;
/// assert_eq!(g(&[x])?[0].to_vec::<f32>()?, vec![1.0, 1.0]);
/// # Ok::<(), ferrox::Error>(())
/// ```
#[derive(Clone)]
pub struct CustomFunction {
    fun: Fun,
    vjp: Option<VjpFun>,
    jvp: Option<JvpFun>,
    vmap: Option<VmapFun>,
}

/// Wraps `f` so that its transforms can be overridden (see [`CustomFunction`]).
pub fn custom_function<F>(f: F) -> CustomFunction
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + 'static,
{
    CustomFunction {
        fun: Arc::new(f),
        vjp: None,
        jvp: None,
        vmap: None,
    }
}

impl CustomFunction {
    /// Sets the vector-Jacobian product: `(primals, cotangents, outputs)` to one
    /// cotangent per primal.
    pub fn vjp<F>(mut self, f: F) -> Self
    where
        F: Fn(&[Array], &[Array], &[Array]) -> Result<Vec<Array>> + Send + Sync + 'static,
    {
        self.vjp = Some(Arc::new(f));
        self
    }

    /// Sets the Jacobian-vector product: `(primals, tangents)` to one tangent per output.
    pub fn jvp<F>(mut self, f: F) -> Self
    where
        F: Fn(&[Array], &[Array]) -> Result<Vec<Array>> + Send + Sync + 'static,
    {
        self.jvp = Some(Arc::new(f));
        self
    }

    /// Sets the batching rule: `(inputs, in_axes)` to `(outputs, out_axes)`.
    pub fn vmap<F>(mut self, f: F) -> Self
    where
        F: Fn(&[Array], &[Option<usize>]) -> Result<Batched> + Send + Sync + 'static,
    {
        self.vmap = Some(Arc::new(f));
        self
    }

    /// Applies the function: its outputs, as outputs of one `CustomTransforms` node.
    pub fn call(&self, args: &[Array]) -> Result<Vec<Array>> {
        let outputs = (self.fun)(args)?;
        if outputs.is_empty() {
            return Ok(outputs);
        }
        let shapes = outputs
            .iter()
            .map(|o| (o.shape().to_vec(), o.dtype()))
            .collect();
        let mut inputs = args.to_vec();
        for o in &outputs {
            inputs.push(ops::stop_gradient(o)?);
        }
        let prim = CustomTransforms {
            f: self.clone(),
            n_args: args.len(),
        };
        Ok(Array::from_multi_op(
            shapes,
            prim,
            inputs,
            crate::device::current_stream(),
        ))
    }

    /// The function as a closure, for the other transforms.
    pub fn into_fn(self) -> impl Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + Clone {
        move |args: &[Array]| self.call(args)
    }
}

/// The primitive of a [`CustomFunction`] call. Inputs: the `n_args` arguments, then the
/// function's outputs.
struct CustomTransforms {
    f: CustomFunction,
    n_args: usize,
}

impl std::fmt::Debug for CustomTransforms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomTransforms(args={})", self.n_args)
    }
}

impl Primitive for CustomTransforms {
    fn name(&self) -> &'static str {
        "CustomTransforms"
    }
    fn conjugates_complex_vjp(&self) -> bool {
        false
    }
    fn cse_key(&self) -> Option<String> {
        None
    }
    fn eval_cpu(&self, inputs: &[Array], _: &mut EvalContext) -> Result<Vec<Data>> {
        inputs[self.n_args..].iter().map(Array::data).collect()
    }
    fn forwards(&self, n_inputs: usize) -> Option<Vec<usize>> {
        Some((self.n_args..n_inputs).collect())
    }
    fn vjp(
        &self,
        primals: &[Array],
        cotangents: &[Array],
        argnums: &[usize],
        outputs: &[Array],
    ) -> Result<Vec<Array>> {
        let args = &primals[..self.n_args];
        let all = match &self.f.vjp {
            Some(v) => v(args, cotangents, outputs)?,
            None => vjp_named("custom_function", &*self.f.fun, args, cotangents)?.1,
        };
        if all.len() != self.n_args {
            return Err(Error::Invalid(format!(
                "[custom_function] The vjp returned {} cotangents for {} primals.",
                all.len(),
                self.n_args
            )));
        }
        argnums
            .iter()
            .map(|&i| match all.get(i) {
                Some(c) => Ok(c.clone()),
                None => ops::zeros_like(&primals[i], None),
            })
            .collect()
    }
    fn jvp(
        &self,
        primals: &[Array],
        tangents: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        let args = &primals[..self.n_args];
        let mut tans = args
            .iter()
            .map(|a| ops::zeros_like(a, None))
            .collect::<Result<Vec<_>>>()?;
        for (&i, t) in argnums.iter().zip(tangents) {
            if i < self.n_args {
                tans[i] = t.clone();
            }
        }
        match &self.f.jvp {
            Some(j) => j(args, &tans),
            None => Ok(jvp_dyn(&*self.f.fun, args, &tans)?.1),
        }
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], outputs: &[Array]) -> Result<Batched> {
        let (args, in_axes) = (&inputs[..self.n_args], &axes[..self.n_args]);
        match &self.f.vmap {
            Some(v) => v(args, in_axes),
            None => {
                let out_axes = vec![Some(0); outputs.len()];
                let r = vmap_dyn(&*self.f.fun, args, in_axes, &out_axes)?;
                Ok((r, out_axes))
            }
        }
    }
}

/// `arrays` unchanged, as outputs of a node that also reads `deps`, so that whatever is
/// computed from the result runs after `deps` are computed.
pub(crate) fn depends(arrays: &[Array], deps: &[Array]) -> Vec<Array> {
    let shapes = arrays
        .iter()
        .map(|a| (a.shape().to_vec(), a.dtype()))
        .collect();
    let mut inputs = arrays.to_vec();
    inputs.extend_from_slice(deps);
    Array::from_multi_op(
        shapes,
        Depends { n: arrays.len() },
        inputs,
        crate::device::current_stream(),
    )
}

/// See [`depends`]: outputs are inputs `0..n` unchanged (views of their data).
#[derive(Debug)]
struct Depends {
    n: usize,
}

impl Primitive for Depends {
    fn name(&self) -> &'static str {
        "Depends"
    }
    fn conjugates_complex_vjp(&self) -> bool {
        false
    }
    fn cse_key(&self) -> Option<String> {
        None
    }
    fn eval_cpu(&self, inputs: &[Array], _: &mut EvalContext) -> Result<Vec<Data>> {
        inputs[..self.n].iter().map(Array::data).collect()
    }
    fn forwards(&self, _: usize) -> Option<Vec<usize>> {
        Some((0..self.n).collect())
    }
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        argnums
            .iter()
            .map(|&i| match cot.get(i).filter(|_| i < self.n) {
                Some(c) => Ok(c.clone()),
                None => ops::zeros_like(&p[i], None),
            })
            .collect()
    }
    fn jvp(
        &self,
        _: &[Array],
        tan: &[Array],
        argnums: &[usize],
        outs: &[Array],
    ) -> Result<Vec<Array>> {
        outs.iter()
            .enumerate()
            .map(|(k, o)| match argnums.iter().position(|&i| i == k) {
                Some(j) => Ok(tan[j].clone()),
                None => ops::zeros_like(o, None),
            })
            .collect()
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        Ok((inputs[..self.n].to_vec(), axes[..self.n].to_vec()))
    }
}
