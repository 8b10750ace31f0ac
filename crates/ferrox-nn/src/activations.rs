//! Activation functions, written with the same ops in the same order as Python's
//! `ferrox.nn` (so that values agree bit for bit). Scalars are weak, as Python numbers
//! are: a float16 input gives a float16 output.

use crate::module::{Module, Unary};
use crate::module_parameters;
use ferrox::{ops, Array, Result};

/// `max(x, 0)`.
pub fn relu(x: &Array) -> Result<Array> {
    ops::maximum(x, 0i32)
}

/// `max(negative_slope * x, x)`.
pub fn leaky_relu(x: &Array, negative_slope: f64) -> Result<Array> {
    ops::maximum(ops::multiply(negative_slope, x)?, x)
}

/// `1 / (1 + exp(-x))`.
pub fn sigmoid(x: &Array) -> Result<Array> {
    ops::sigmoid(x)
}

/// Hyperbolic tangent.
pub fn tanh(x: &Array) -> Result<Array> {
    ops::tanh(x)
}

/// `x * sigmoid(x)`.
pub fn silu(x: &Array) -> Result<Array> {
    ops::multiply(x, ops::sigmoid(x)?)
}

/// `log(1 + exp(x))`, computed stably as `logaddexp(x, 0)`.
pub fn softplus(x: &Array) -> Result<Array> {
    ops::logaddexp(x, 0i32)
}

/// Exact GELU: `x * (1 + erf(x / sqrt(2))) / 2`.
pub fn gelu(x: &Array) -> Result<Array> {
    let e = ops::erf(&ops::divide(x, std::f64::consts::SQRT_2)?)?;
    ops::divide(ops::multiply(x, ops::add(1i32, e)?)?, 2i32)
}

/// GELU with the tanh approximation:
/// `0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x³)))`.
pub fn gelu_approx(x: &Array) -> Result<Array> {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let cube = ops::power(x, 3i32)?;
    let inner = ops::add(x, ops::multiply(0.044715, cube)?)?;
    let t = ops::tanh(&ops::multiply(c, inner)?)?;
    ops::multiply(ops::multiply(0.5, x)?, ops::add(1i32, t)?)
}

/// `x * sigmoid(1.702 * x)`.
pub fn gelu_fast_approx(x: &Array) -> Result<Array> {
    ops::multiply(x, ops::sigmoid(&ops::multiply(1.702, x)?)?)
}

/// `exp(x) / sum(exp(x))` along `axis`.
pub fn softmax(x: &Array, axis: isize) -> Result<Array> {
    ops::softmax(x, &[axis], false)
}

/// `x - logsumexp(x)` along `axis`.
pub fn log_softmax(x: &Array, axis: isize) -> Result<Array> {
    ops::subtract(x, ops::logsumexp(x, &[axis], true)?)
}

/// `min(max(x, 0), 6)`.
pub fn relu6(x: &Array) -> Result<Array> {
    ops::minimum(ops::maximum(x, 0i32)?, 6.0)
}

/// `x` for `x > 0`, else `alpha * (exp(x) - 1)`.
pub fn elu(x: &Array, alpha: f64) -> Result<Array> {
    let negative = ops::multiply(alpha, ops::subtract(ops::exp(x)?, 1i32)?)?;
    ops::where_(ops::greater(x, 0i32)?, x, negative)
}

/// Scaled ELU with the self-normalising constants (alpha 1.67326, scale 1.0507).
pub fn selu(x: &Array) -> Result<Array> {
    ops::multiply(elu(x, 1.67326)?, 1.0507)
}

/// `log(sigmoid(x)) = -softplus(-x)`.
pub fn log_sigmoid(x: &Array) -> Result<Array> {
    ops::negative(&softplus(&ops::negative(x)?)?)
}

/// `x / (1 + |x|)`.
pub fn softsign(x: &Array) -> Result<Array> {
    ops::divide(x, ops::add(1i32, ops::abs(x)?)?)
}

/// `x` clipped to `[-1, 1]`.
pub fn hard_tanh(x: &Array) -> Result<Array> {
    ops::minimum(ops::maximum(x, -1.0)?, 1.0)
}

/// `x * min(max(x + 3, 0), 6) / 6`.
pub fn hardswish(x: &Array) -> Result<Array> {
    let gate = ops::minimum(ops::maximum(ops::add(x, 3i32)?, 0i32)?, 6i32)?;
    ops::divide(ops::multiply(x, gate)?, 6i32)
}

/// `x * tanh(softplus(x))`.
pub fn mish(x: &Array) -> Result<Array> {
    ops::multiply(x, ops::tanh(&softplus(x)?)?)
}

/// `softmax(-x)` along `axis`.
pub fn softmin(x: &Array, axis: isize) -> Result<Array> {
    ops::softmax(&ops::negative(x)?, &[axis], false)
}

/// A parameterless layer applying an activation function, for [`crate::Sequential`]
/// (Python's `nn.ReLU()`, `nn.GELU()`, ...).
#[derive(Clone, Copy)]
pub struct Activation(pub fn(&Array) -> Result<Array>);

impl Module for Activation {
    module_parameters!();
}

impl Unary for Activation {
    fn forward(&self, x: &Array) -> Result<Array> {
        (self.0)(x)
    }
}
