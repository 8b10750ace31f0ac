//! Optimizers over named parameters: SGD, Adam, AdamW, RMSprop and Adagrad, with the
//! update formulas of Python's `ferrox.optimizers` (MLX's: Adam without bias correction
//! by default).
//!
//! Gradients come by name, as `value_and_grad` over a model's parameters gives them
//! once zipped with [`Module::parameters`] names; [`Optimizer::update`] applies them to
//! a model.

use crate::module::Module;
use ferrox::{ops, Array, Error, Result};
use std::collections::BTreeMap;

/// Named arrays (parameters, gradients).
pub type Params = BTreeMap<String, Array>;

/// One update rule, and the per-parameter state it keeps.
pub trait Optimizer {
    /// The buffers of one parameter, made when it is first seen.
    fn init_single(&self, parameter: &Array) -> Result<Vec<Array>>;

    /// The updated parameter; `state` is updated in place. `step` counts updates
    /// including this one (1 on the first).
    fn apply_single(
        &self,
        gradient: &Array,
        parameter: &Array,
        state: &mut [Array],
        step: u64,
    ) -> Result<Array>;

    /// The per-parameter buffers and the step counter.
    fn state_mut(&mut self) -> &mut OptimizerState;

    /// The parameters after one update with `gradients` (`parameters` may hold more
    /// entries; those are left out of the result). A gradient without a parameter is an
    /// error naming it.
    fn apply_gradients(&mut self, gradients: &Params, parameters: &Params) -> Result<Params> {
        // Take the state out so `apply_single(&self)` can run while it is changed.
        let mut state = std::mem::take(self.state_mut());
        let result = (|| {
            state.step += 1;
            let mut out = Params::new();
            for (name, g) in gradients {
                let p = parameters.get(name).ok_or_else(|| {
                    Error::Invalid(format!("[Optimizer] Gradient for {name} has no parameter."))
                })?;
                if !state.buffers.contains_key(name) {
                    state.buffers.insert(name.clone(), self.init_single(p)?);
                }
                let buffers = state
                    .buffers
                    .get_mut(name)
                    .map(Vec::as_mut_slice)
                    .unwrap_or_default();
                out.insert(name.clone(), self.apply_single(g, p, buffers, state.step)?);
            }
            Ok(out)
        })();
        *self.state_mut() = state;
        result
    }

    /// Applies `gradients` to `model`'s parameters.
    fn update(&mut self, model: &mut dyn Module, gradients: &Params) -> Result<()> {
        let params: Params = model.parameters().into_iter().collect();
        let new = self.apply_gradients(gradients, &params)?;
        model.update(&new)
    }
}

/// What an optimizer remembers between steps.
#[derive(Default, Clone)]
pub struct OptimizerState {
    /// Updates made so far.
    pub step: u64,
    /// Per parameter name, the rule's buffers (SGD: `[v]`; Adam: `[m, v]`).
    pub buffers: BTreeMap<String, Vec<Array>>,
}

/// The learning rate as Python holds it: a float32 array (`mx.array(lr)`), cast to the
/// gradient's dtype so that a bfloat16 parameter stays bfloat16.
fn lr_like(lr: f64, like: &Array) -> Result<Array> {
    ops::astype(&Array::scalar(lr as f32), like.dtype())
}

/// Stochastic gradient descent with optional momentum, weight decay, dampening and
/// Nesterov momentum:
/// `g += wd·w; v = μ·v + (1-τ)·g; w -= lr·(nesterov ? g + μ·v : v)`, and
/// `w -= lr·g` without momentum.
pub struct SGD {
    pub learning_rate: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub state: OptimizerState,
}

impl SGD {
    pub fn new(learning_rate: f64) -> Self {
        Self {
            learning_rate,
            momentum: 0.0,
            weight_decay: 0.0,
            dampening: 0.0,
            nesterov: false,
            state: OptimizerState::default(),
        }
    }

    /// With every option; Nesterov needs a momentum and zero dampening.
    pub fn with_options(
        learning_rate: f64,
        momentum: f64,
        weight_decay: f64,
        dampening: f64,
        nesterov: bool,
    ) -> Result<Self> {
        if nesterov && (momentum <= 0.0 || dampening != 0.0) {
            return Err(Error::Invalid(
                "Nesterov momentum requires a momentum and zero dampening.".into(),
            ));
        }
        Ok(Self {
            learning_rate,
            momentum,
            weight_decay,
            dampening,
            nesterov,
            state: OptimizerState::default(),
        })
    }
}

impl Optimizer for SGD {
    fn init_single(&self, parameter: &Array) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(parameter, None)?])
    }

    fn apply_single(
        &self,
        gradient: &Array,
        parameter: &Array,
        state: &mut [Array],
        _step: u64,
    ) -> Result<Array> {
        let mut g = gradient.clone();
        if self.weight_decay != 0.0 {
            g = ops::add(&g, ops::multiply(self.weight_decay, parameter)?)?;
        }
        let lr = lr_like(self.learning_rate, &g)?;
        if self.momentum <= 0.0 {
            return ops::subtract(parameter, ops::multiply(&lr, &g)?);
        }
        let v_old = state
            .first()
            .ok_or_else(|| Error::Runtime("[SGD] missing state".into()))?;
        let mut v = ops::multiply(self.momentum, v_old)?;
        v = if self.dampening > 0.0 {
            ops::add(&v, ops::multiply(1.0 - self.dampening, &g)?)?
        } else {
            ops::add(&v, &g)?
        };
        state[0] = v.clone();
        let update = if self.nesterov {
            ops::add(&g, ops::multiply(self.momentum, &v)?)?
        } else {
            v
        };
        ops::subtract(parameter, ops::multiply(&lr, &update)?)
    }

    fn state_mut(&mut self) -> &mut OptimizerState {
        &mut self.state
    }
}

/// Adam: `m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²; w -= lr·m / (sqrt(v) + eps)`.
/// With `bias_correction` the moments are divided by `1 - β^t` (MLX's default: off).
pub struct Adam {
    pub learning_rate: f64,
    pub betas: [f64; 2],
    pub eps: f64,
    pub bias_correction: bool,
    pub state: OptimizerState,
}

fn check_adam(name: &str, betas: [f64; 2], eps: f64) -> Result<()> {
    for (i, b) in betas.iter().enumerate() {
        if !(0.0..1.0).contains(b) {
            return Err(Error::Invalid(format!(
                "{name} beta{} should be in [0, 1), {b} was provided instead",
                i + 1
            )));
        }
    }
    if eps < 0.0 {
        return Err(Error::Invalid(format!(
            "{name} epsilon should be >=0, {eps} was provided instead"
        )));
    }
    Ok(())
}

impl Adam {
    /// `betas` `[0.9, 0.999]`, `eps` `1e-8`, no bias correction (Python's defaults).
    pub fn new(learning_rate: f64) -> Self {
        Self {
            learning_rate,
            betas: [0.9, 0.999],
            eps: 1e-8,
            bias_correction: false,
            state: OptimizerState::default(),
        }
    }

    pub fn with_options(
        learning_rate: f64,
        betas: [f64; 2],
        eps: f64,
        bias_correction: bool,
    ) -> Result<Self> {
        check_adam("Adam", betas, eps)?;
        Ok(Self {
            learning_rate,
            betas,
            eps,
            bias_correction,
            state: OptimizerState::default(),
        })
    }
}

/// The Adam step shared by Adam and AdamW.
fn adam_step(
    lr_value: f64,
    [b1, b2]: [f64; 2],
    eps: f64,
    bias_correction: bool,
    gradient: &Array,
    parameter: &Array,
    state: &mut [Array],
    step: u64,
) -> Result<Array> {
    let [m_old, v_old] = state else {
        return Err(Error::Runtime("[Adam] missing state".into()));
    };
    let m = ops::add(
        ops::multiply(b1, &*m_old)?,
        ops::multiply(1.0 - b1, gradient)?,
    )?;
    let v = ops::add(
        ops::multiply(b2, &*v_old)?,
        ops::multiply(1.0 - b2, ops::square(gradient)?)?,
    )?;
    *m_old = m.clone();
    *v_old = v.clone();
    let lr = lr_like(lr_value, gradient)?;
    if bias_correction {
        // As Python: the step is a uint64 array, so `b ** step` is a float32 array.
        let t = Array::scalar(step);
        let c1 = ops::subtract(1i32, ops::power(b1, &t)?)?;
        let c2 = ops::subtract(1i32, ops::power(b2, &t)?)?;
        let numerator = ops::multiply(ops::divide(&lr, &c1)?, &m)?;
        let denominator = ops::add(ops::divide(ops::sqrt(&v)?, ops::sqrt(&c2)?)?, eps)?;
        let delta = ops::astype(&ops::divide(&numerator, &denominator)?, gradient.dtype())?;
        return ops::subtract(parameter, &delta);
    }
    let delta = ops::divide(ops::multiply(&lr, &m)?, ops::add(ops::sqrt(&v)?, eps)?)?;
    ops::subtract(parameter, &delta)
}

impl Optimizer for Adam {
    fn init_single(&self, parameter: &Array) -> Result<Vec<Array>> {
        Ok(vec![
            ops::zeros_like(parameter, None)?,
            ops::zeros_like(parameter, None)?,
        ])
    }

    fn apply_single(
        &self,
        gradient: &Array,
        parameter: &Array,
        state: &mut [Array],
        step: u64,
    ) -> Result<Array> {
        adam_step(
            self.learning_rate,
            self.betas,
            self.eps,
            self.bias_correction,
            gradient,
            parameter,
            state,
            step,
        )
    }

    fn state_mut(&mut self) -> &mut OptimizerState {
        &mut self.state
    }
}

/// Adam with decoupled weight decay: `w = w·(1 - lr·λ)` before the Adam step.
pub struct AdamW {
    pub learning_rate: f64,
    pub betas: [f64; 2],
    pub eps: f64,
    pub weight_decay: f64,
    pub bias_correction: bool,
    pub state: OptimizerState,
}

impl AdamW {
    /// `betas` `[0.9, 0.999]`, `eps` `1e-8`, `weight_decay` `0.01`, no bias correction.
    pub fn new(learning_rate: f64) -> Self {
        Self {
            learning_rate,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.01,
            bias_correction: false,
            state: OptimizerState::default(),
        }
    }

    pub fn with_options(
        learning_rate: f64,
        betas: [f64; 2],
        eps: f64,
        weight_decay: f64,
        bias_correction: bool,
    ) -> Result<Self> {
        check_adam("Adam", betas, eps)?;
        Ok(Self {
            learning_rate,
            betas,
            eps,
            weight_decay,
            bias_correction,
            state: OptimizerState::default(),
        })
    }
}

impl Optimizer for AdamW {
    fn init_single(&self, parameter: &Array) -> Result<Vec<Array>> {
        Ok(vec![
            ops::zeros_like(parameter, None)?,
            ops::zeros_like(parameter, None)?,
        ])
    }

    fn apply_single(
        &self,
        gradient: &Array,
        parameter: &Array,
        state: &mut [Array],
        step: u64,
    ) -> Result<Array> {
        let lr = lr_like(self.learning_rate, gradient)?;
        let decay = ops::subtract(1i32, ops::multiply(&lr, self.weight_decay)?)?;
        let decayed = ops::multiply(parameter, &decay)?;
        adam_step(
            self.learning_rate,
            self.betas,
            self.eps,
            self.bias_correction,
            gradient,
            &decayed,
            state,
            step,
        )
    }

    fn state_mut(&mut self) -> &mut OptimizerState {
        &mut self.state
    }
}

/// Scales `gradients` so that their global L2 norm is at most `max_norm`; returns them
/// with the norm before clipping (Python's `optimizers.clip_grad_norm`). The squares
/// are summed in name order (Python sums in the model's order, so the norm may differ
/// in the last bit).
pub fn clip_grad_norm(gradients: &Params, max_norm: f64) -> Result<(Params, Array)> {
    let mut total: Option<Array> = None;
    for g in gradients.values() {
        let s = ops::sum(&ops::square(g)?, &[], false)?;
        total = Some(match total {
            Some(t) => ops::add(&t, &s)?,
            None => s,
        });
    }
    let total = total.unwrap_or_else(|| Array::scalar(0.0f32));
    let norm = ops::sqrt(&total)?;
    // The 1e-6 keeps an all-zero gradient finite.
    let scale = ops::minimum(ops::divide(max_norm, ops::add(&norm, 1e-6)?)?, 1.0)?;
    let clipped = gradients
        .iter()
        .map(|(k, g)| Ok((k.clone(), ops::multiply(g, &scale)?)))
        .collect::<Result<Params>>()?;
    Ok((clipped, norm))
}

/// `p - lr·g / (sqrt(v) + eps)`, the step RMSprop and Adagrad share.
fn scaled_step(lr: f64, eps: f64, gradient: &Array, parameter: &Array, v: &Array) -> Result<Array> {
    let lr = lr_like(lr, gradient)?;
    let step = ops::divide(ops::multiply(&lr, gradient)?, ops::add(ops::sqrt(v)?, eps)?)?;
    ops::subtract(parameter, &step)
}

/// RMSprop: `v = α·v + (1-α)·g²; w -= lr·g / (sqrt(v) + eps)`.
pub struct RMSprop {
    pub learning_rate: f64,
    pub alpha: f64,
    pub eps: f64,
    pub state: OptimizerState,
}

impl RMSprop {
    /// `alpha` 0.99 and `eps` 1e-8 are Python's defaults.
    pub fn new(learning_rate: f64, alpha: f64, eps: f64) -> Result<Self> {
        if alpha < 0.0 {
            return Err(Error::Invalid(format!(
                "RMSprop alpha should be >=0, {alpha} was provided instead"
            )));
        }
        if eps <= 0.0 {
            return Err(Error::Invalid(format!(
                "RMSprop epsilon should be >0, {eps} was provided instead"
            )));
        }
        Ok(Self {
            learning_rate,
            alpha,
            eps,
            state: OptimizerState::default(),
        })
    }
}

impl Optimizer for RMSprop {
    fn init_single(&self, parameter: &Array) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(parameter, None)?])
    }

    fn apply_single(
        &self,
        gradient: &Array,
        parameter: &Array,
        state: &mut [Array],
        _step: u64,
    ) -> Result<Array> {
        let [v_old] = state else {
            return Err(Error::Runtime("[RMSprop] missing state".into()));
        };
        let v = ops::add(
            ops::multiply(self.alpha, &*v_old)?,
            ops::multiply(1.0 - self.alpha, ops::square(gradient)?)?,
        )?;
        *v_old = v.clone();
        scaled_step(self.learning_rate, self.eps, gradient, parameter, &v)
    }

    fn state_mut(&mut self) -> &mut OptimizerState {
        &mut self.state
    }
}

/// Adagrad: `v = v + g²; w -= lr·g / (sqrt(v) + eps)`.
pub struct Adagrad {
    pub learning_rate: f64,
    pub eps: f64,
    pub state: OptimizerState,
}

impl Adagrad {
    /// `eps` 1e-8 is Python's default.
    pub fn new(learning_rate: f64, eps: f64) -> Result<Self> {
        if eps <= 0.0 {
            return Err(Error::Invalid(format!(
                "Adagrad epsilon should be >0, {eps} was provided instead"
            )));
        }
        Ok(Self {
            learning_rate,
            eps,
            state: OptimizerState::default(),
        })
    }
}

impl Optimizer for Adagrad {
    fn init_single(&self, parameter: &Array) -> Result<Vec<Array>> {
        Ok(vec![ops::zeros_like(parameter, None)?])
    }

    fn apply_single(
        &self,
        gradient: &Array,
        parameter: &Array,
        state: &mut [Array],
        _step: u64,
    ) -> Result<Array> {
        let [v_old] = state else {
            return Err(Error::Runtime("[Adagrad] missing state".into()));
        };
        let v = ops::add(&*v_old, ops::square(gradient)?)?;
        *v_old = v.clone();
        scaled_step(self.learning_rate, self.eps, gradient, parameter, &v)
    }

    fn state_mut(&mut self) -> &mut OptimizerState {
        &mut self.state
    }
}
