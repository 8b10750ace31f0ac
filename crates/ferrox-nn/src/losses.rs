//! Loss functions with MLX's formulas, defaults and reductions (same ops, same order as
//! Python's `ferrox.nn.losses`).

use ferrox::{ops, Array, Error, Result};

/// How a loss's elements are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// The per-element losses.
    None,
    Mean,
    Sum,
}

fn reduce(loss: Array, reduction: Reduction) -> Result<Array> {
    match reduction {
        Reduction::None => Ok(loss),
        Reduction::Mean => ops::mean(&loss, &[], false),
        Reduction::Sum => ops::sum(&loss, &[], false),
    }
}

fn check_same_shape(a: &Array, b: &Array, what_a: &str, what_b: &str) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::Invalid(format!(
            "{what_a} shape {:?} does not match {what_b} shape {:?}.",
            a.shape(),
            b.shape()
        )));
    }
    Ok(())
}

fn apply_weights(loss: Array, weights: Option<&Array>) -> Result<Array> {
    match weights {
        None => Ok(loss),
        // MLX requires the weights to have exactly the loss's shape (no broadcasting).
        Some(w) if w.shape() != loss.shape() => Err(Error::Invalid(format!(
            "Weights with shape {:?} is not the same as output loss with shape {:?}.",
            w.shape(),
            loss.shape()
        ))),
        Some(w) => ops::multiply(&loss, w),
    }
}

/// Cross entropy of unnormalised `logits` against `targets`: class indices (one axis
/// fewer than `logits`) or probabilities (the same shape). With label smoothing `s`
/// the target is `(1 - s) * target + s / num_classes`. MLX's default reduction is
/// [`Reduction::None`].
pub fn cross_entropy(
    logits: &Array,
    targets: &Array,
    weights: Option<&Array>,
    axis: isize,
    label_smoothing: f64,
    reduction: Reduction,
) -> Result<Array> {
    if !(0.0..1.0).contains(&label_smoothing) {
        return Err(Error::Invalid(format!(
            "Label smoothing must be in [0, 1), got {label_smoothing}."
        )));
    }
    let nd = logits.ndim();
    let as_probs = targets.ndim() == nd;
    let expected: Vec<usize> = if as_probs {
        logits.shape().to_vec()
    } else {
        let ax = if nd == 0 {
            0
        } else {
            axis.rem_euclid(nd as isize) as usize
        };
        let mut s = logits.shape().to_vec();
        if ax < s.len() {
            s.remove(ax);
        }
        s
    };
    if targets.shape() != expected.as_slice() {
        return Err(Error::Invalid(format!(
            "Targets shape {:?} does not match logits shape {:?}.",
            targets.shape(),
            logits.shape()
        )));
    }
    let mut score = if as_probs {
        ops::sum(&ops::multiply(logits, targets)?, &[axis], false)?
    } else {
        let picked =
            ops::take_along_axis(logits, &ops::expand_dims(targets, &[axis])?, Some(axis))?;
        ops::squeeze(&picked, &[axis])?
    };
    // -log softmax(logits)[target] = logsumexp(logits) - logits[target].
    let lse = ops::logsumexp(logits, &[axis], false)?;
    if label_smoothing > 0.0 {
        // The uniform part of the smoothed target contributes the mean logit.
        let uniform = ops::multiply(label_smoothing, ops::mean(logits, &[axis], false)?)?;
        score = ops::add(ops::multiply(1.0 - label_smoothing, &score)?, uniform)?;
    }
    let loss = ops::subtract(&lse, &score)?;
    reduce(apply_weights(loss, weights)?, reduction)
}

/// Binary cross entropy of `inputs` (logits, or probabilities when `with_logits` is
/// false) against `targets` in `[0, 1]`. MLX's default reduction is [`Reduction::Mean`].
pub fn binary_cross_entropy(
    inputs: &Array,
    targets: &Array,
    weights: Option<&Array>,
    with_logits: bool,
    reduction: Reduction,
) -> Result<Array> {
    check_same_shape(inputs, targets, "Inputs", "targets")?;
    let loss = if with_logits {
        // log(1 + exp(x)) - x * t, without overflow for large |x|.
        let softplus = ops::logaddexp(ops::zeros_like(inputs, None)?, inputs)?;
        ops::subtract(softplus, ops::multiply(inputs, targets)?)?
    } else {
        // Logs clipped at -100 (as MLX and PyTorch do) so that a probability of exactly
        // 0 or 1 gives a finite loss.
        let log_p = ops::maximum(ops::log(inputs)?, -100i32)?;
        let log_1mp = ops::maximum(ops::log(&ops::subtract(1i32, inputs)?)?, -100i32)?;
        let a = ops::multiply(targets, &log_p)?;
        let b = ops::multiply(ops::subtract(1i32, targets)?, &log_1mp)?;
        ops::negative(&ops::add(a, b)?)?
    };
    reduce(apply_weights(loss, weights)?, reduction)
}

/// Mean absolute error (MLX's default reduction: [`Reduction::Mean`]).
pub fn l1_loss(predictions: &Array, targets: &Array, reduction: Reduction) -> Result<Array> {
    check_same_shape(predictions, targets, "Predictions", "targets")?;
    reduce(ops::abs(&ops::subtract(predictions, targets)?)?, reduction)
}

/// Mean squared error (MLX's default reduction: [`Reduction::Mean`]).
pub fn mse_loss(predictions: &Array, targets: &Array, reduction: Reduction) -> Result<Array> {
    check_same_shape(predictions, targets, "Predictions", "targets")?;
    reduce(
        ops::square(&ops::subtract(predictions, targets)?)?,
        reduction,
    )
}

/// Negative log likelihood of class indices `targets` under log-probabilities
/// `inputs` (MLX's default reduction: [`Reduction::None`]).
pub fn nll_loss(
    inputs: &Array,
    targets: &Array,
    axis: isize,
    reduction: Reduction,
) -> Result<Array> {
    let picked = ops::take_along_axis(inputs, &ops::expand_dims(targets, &[axis])?, Some(axis))?;
    reduce(ops::negative(&ops::squeeze(&picked, &[axis])?)?, reduction)
}

/// `KL(targets || inputs)`, both log-probabilities along `axis` (MLX's default
/// reduction: [`Reduction::None`]).
pub fn kl_div_loss(
    inputs: &Array,
    targets: &Array,
    axis: isize,
    reduction: Reduction,
) -> Result<Array> {
    let terms = ops::multiply(ops::exp(targets)?, ops::subtract(targets, inputs)?)?;
    reduce(ops::sum(&terms, &[axis], false)?, reduction)
}

/// Quadratic below `beta`, linear above: `0.5 d² / beta` or `d - 0.5 beta` (MLX's
/// default reduction: [`Reduction::Mean`]).
pub fn smooth_l1_loss(
    predictions: &Array,
    targets: &Array,
    beta: f64,
    reduction: Reduction,
) -> Result<Array> {
    check_same_shape(predictions, targets, "Predictions", "targets")?;
    let diff = ops::abs(&ops::subtract(predictions, targets)?)?;
    let quadratic = ops::divide(ops::multiply(0.5, ops::square(&diff)?)?, beta)?;
    let linear = ops::subtract(&diff, 0.5 * beta)?;
    reduce(
        ops::where_(ops::less(&diff, beta)?, quadratic, linear)?,
        reduction,
    )
}

/// `0.5 e²` for `|e| <= delta`, `delta (|e| - 0.5 delta)` beyond (MLX's default
/// reduction: [`Reduction::None`]).
pub fn huber_loss(
    inputs: &Array,
    targets: &Array,
    delta: f64,
    reduction: Reduction,
) -> Result<Array> {
    let abs_err = ops::abs(&ops::subtract(inputs, targets)?)?;
    let quadratic = ops::minimum(&abs_err, delta)?;
    let linear = ops::subtract(&abs_err, &quadratic)?;
    let loss = ops::add(
        ops::multiply(0.5, ops::square(&quadratic)?)?,
        ops::multiply(delta, &linear)?,
    )?;
    reduce(loss, reduction)
}

/// `max(1 - inputs * targets, 0)` for targets in {-1, 1} (MLX's default reduction:
/// [`Reduction::None`]).
pub fn hinge_loss(inputs: &Array, targets: &Array, reduction: Reduction) -> Result<Array> {
    let margin = ops::subtract(1i32, ops::multiply(inputs, targets)?)?;
    reduce(ops::maximum(margin, 0i32)?, reduction)
}
