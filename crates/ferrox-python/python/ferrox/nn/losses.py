"""Loss functions, with the names, defaults and semantics of ``mlx.nn.losses``.

Every loss returns the per-element (or per-sample) loss reduced according to
``reduction``: ``"none"`` keeps it, ``"mean"`` averages all of it and ``"sum"``
adds all of it. User errors (mismatched shapes, bad arguments) raise
``ValueError`` with MLX's messages.
"""

import math
from typing import Literal, Optional

import ferrox.core as mx

Reduction = Literal["none", "mean", "sum"]

__all__ = [
    "binary_cross_entropy",
    "cosine_similarity_loss",
    "cross_entropy",
    "gaussian_nll_loss",
    "hinge_loss",
    "huber_loss",
    "kl_div_loss",
    "l1_loss",
    "log_cosh_loss",
    "margin_ranking_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
    "triplet_loss",
]


def _reduce(loss: mx.array, reduction: Reduction = "none") -> mx.array:
    if reduction == "mean":
        return mx.mean(loss)
    if reduction == "sum":
        return mx.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError("Invalid reduction. Must be one of ('none', 'mean', 'sum').")


def _check_same_shape(a, b, what_a="Predictions", what_b="targets"):
    if a.shape != b.shape:
        raise ValueError(f"{what_a} shape {a.shape} does not match {what_b} shape {b.shape}.")


def _apply_weights(loss, weights):
    # MLX requires the weights to have exactly the loss's shape (no broadcasting).
    if weights is None:
        return loss
    if weights.shape != loss.shape:
        raise ValueError(
            f"Weights with shape {weights.shape} is not the same as "
            f"output loss with shape {loss.shape}."
        )
    return loss * weights


def cross_entropy(
    logits: mx.array,
    targets: mx.array,
    weights: Optional[mx.array] = None,
    axis: int = -1,
    label_smoothing: float = 0.0,
    reduction: Reduction = "none",
) -> mx.array:
    """Cross entropy between ``logits`` (unnormalized) and ``targets``.

    ``targets`` are class indices (one dimension fewer than ``logits``) or
    probabilities (the same shape as ``logits``). With label smoothing ``s``
    the target distribution is ``(1 - s) * target + s / num_classes``.
    """
    if label_smoothing < 0 or label_smoothing >= 1:
        raise ValueError(f"Label smoothing must be in [0, 1), got {label_smoothing}.")

    as_probs = targets.ndim == logits.ndim
    if as_probs:
        expected = logits.shape
    else:
        # Class indices: the logits' shape without the class axis.
        ax = axis % logits.ndim if logits.ndim else 0
        expected = logits.shape[:ax] + logits.shape[ax + 1 :]
    if targets.shape != tuple(expected):
        raise ValueError(f"Targets shape {targets.shape} does not match logits shape {logits.shape}.")

    if as_probs:
        score = mx.sum(logits * targets, axis=axis)
    else:
        score = mx.take_along_axis(logits, mx.expand_dims(targets, axis), axis=axis)
        score = mx.squeeze(score, axis=axis)

    # -log softmax(logits)[target] = logsumexp(logits) - logits[target].
    lse = mx.logsumexp(logits, axis=axis)
    if label_smoothing > 0:
        # The uniform part of the smoothed target contributes the mean logit.
        score = (1 - label_smoothing) * score + label_smoothing * mx.mean(logits, axis=axis)
    loss = lse - score

    return _reduce(_apply_weights(loss, weights), reduction)


def binary_cross_entropy(
    inputs: mx.array,
    targets: mx.array,
    weights: Optional[mx.array] = None,
    with_logits: bool = True,
    reduction: Reduction = "mean",
) -> mx.array:
    """Binary cross entropy of ``inputs`` (logits, or probabilities when
    ``with_logits=False``) against ``targets`` in [0, 1]."""
    if inputs.shape != targets.shape:
        raise ValueError(f"Inputs shape {inputs.shape} does not match targets shape {targets.shape}.")
    if with_logits:
        # log(1 + exp(x)) - x * t, written without overflow for large |x|.
        loss = mx.logaddexp(mx.zeros_like(inputs), inputs) - inputs * targets
    else:
        # Logs are clipped at -100 (as MLX and PyTorch do) so that a
        # probability of exactly 0 or 1 gives a finite loss.
        log_p = mx.maximum(mx.log(inputs), -100)
        log_1mp = mx.maximum(mx.log(1 - inputs), -100)
        loss = -(targets * log_p + (1 - targets) * log_1mp)
    return _reduce(_apply_weights(loss, weights), reduction)


def l1_loss(predictions: mx.array, targets: mx.array, reduction: Reduction = "mean") -> mx.array:
    """Mean absolute error."""
    _check_same_shape(predictions, targets)
    return _reduce(mx.abs(predictions - targets), reduction)


def mse_loss(predictions: mx.array, targets: mx.array, reduction: Reduction = "mean") -> mx.array:
    """Mean squared error."""
    _check_same_shape(predictions, targets)
    return _reduce(mx.square(predictions - targets), reduction)


def nll_loss(inputs: mx.array, targets: mx.array, axis: int = -1, reduction: Reduction = "none") -> mx.array:
    """Negative log likelihood of class indices ``targets`` under log-probabilities ``inputs``."""
    picked = mx.take_along_axis(inputs, mx.expand_dims(targets, axis), axis=axis)
    return _reduce(-mx.squeeze(picked, axis=axis), reduction)


def gaussian_nll_loss(
    inputs: mx.array,
    targets: mx.array,
    vars: mx.array,
    full: bool = False,
    eps: float = 1e-6,
    reduction: Reduction = "mean",
) -> mx.array:
    """Negative log likelihood of ``targets`` under Normal(``inputs``, ``vars``).

    Variances are clamped below at ``eps`` for stability; ``full`` adds the
    constant ``0.5 * log(2 * pi)``.
    """
    _check_same_shape(inputs, targets, "Inputs", "targets")
    _check_same_shape(inputs, vars, "Inputs", "vars")
    vars = mx.maximum(vars, eps)
    loss = 0.5 * (mx.log(vars) + mx.square(targets - inputs) / vars)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def kl_div_loss(inputs: mx.array, targets: mx.array, axis: int = -1, reduction: Reduction = "none") -> mx.array:
    """KL(targets || inputs) where both are log-probabilities along ``axis``."""
    loss = mx.sum(mx.exp(targets) * (targets - inputs), axis=axis)
    return _reduce(loss, reduction)


def smooth_l1_loss(
    predictions: mx.array, targets: mx.array, beta: float = 1.0, reduction: Reduction = "mean"
) -> mx.array:
    """Quadratic below ``beta``, linear above: ``0.5 d^2 / beta`` or ``d - 0.5 beta``."""
    _check_same_shape(predictions, targets)
    diff = mx.abs(predictions - targets)
    loss = mx.where(diff < beta, 0.5 * mx.square(diff) / beta, diff - 0.5 * beta)
    return _reduce(loss, reduction)


def triplet_loss(
    anchors: mx.array,
    positives: mx.array,
    negatives: mx.array,
    axis: int = -1,
    p: int = 2,
    margin: float = 1.0,
    eps: float = 1e-6,
    reduction: Reduction = "none",
) -> mx.array:
    """``max(d(a, p) - d(a, n) + margin, 0)``.

    The distance is the p-norm with ``eps`` added under the root,
    ``(sum(|a - b| ** p) + eps) ** (1 / p)``, as MLX computes it (the ``eps``
    keeps the gradient finite at zero distance).
    """

    def dist(a, b):
        return mx.power(mx.sum(mx.power(mx.abs(a - b), p), axis=axis) + eps, 1.0 / p)

    loss = mx.maximum(dist(anchors, positives) - dist(anchors, negatives) + margin, 0)
    return _reduce(loss, reduction)


def hinge_loss(inputs: mx.array, targets: mx.array, reduction: Reduction = "none") -> mx.array:
    """``max(1 - inputs * targets, 0)`` for targets in {-1, 1}."""
    return _reduce(mx.maximum(1 - inputs * targets, 0), reduction)


def huber_loss(
    inputs: mx.array, targets: mx.array, delta: float = 1.0, reduction: Reduction = "none"
) -> mx.array:
    """``0.5 e^2`` for ``|e| <= delta``, ``delta (|e| - 0.5 delta)`` beyond."""
    abs_err = mx.abs(inputs - targets)
    quadratic = mx.minimum(abs_err, delta)
    linear = abs_err - quadratic
    return _reduce(0.5 * mx.square(quadratic) + delta * linear, reduction)


def log_cosh_loss(inputs: mx.array, targets: mx.array, reduction: Reduction = "none") -> mx.array:
    """``log(cosh(inputs - targets))``, computed as ``logaddexp(e, -e) - log 2``
    so that large errors do not overflow."""
    err = inputs - targets
    return _reduce(mx.logaddexp(err, -err) - math.log(2), reduction)


def cosine_similarity_loss(
    x1: mx.array, x2: mx.array, axis: int = 1, eps: float = 1e-8, reduction: Reduction = "none"
) -> mx.array:
    """Cosine similarity ``x1 . x2 / max(|x1| |x2|, eps)`` along ``axis``."""
    n1 = mx.linalg.norm(x1, axis=axis)
    n2 = mx.linalg.norm(x2, axis=axis)
    loss = mx.sum(x1 * x2, axis=axis) / mx.maximum(n1 * n2, eps)
    return _reduce(loss, reduction)


def margin_ranking_loss(
    inputs1: mx.array,
    inputs2: mx.array,
    targets: mx.array,
    margin: float = 0.0,
    reduction: Reduction = "none",
) -> mx.array:
    """``max(-targets * (inputs1 - inputs2) + margin, 0)`` for targets in {-1, 1}."""
    if not (inputs1.shape == inputs2.shape == targets.shape):
        raise ValueError(
            "The shapes of the arguments do not match. The provided shapes are "
            f"inputs1.shape={inputs1.shape}, inputs2.shape={inputs2.shape}, "
            f"and targets.shape={targets.shape}."
        )
    loss = mx.maximum(-targets * (inputs1 - inputs2) + margin, 0)
    return _reduce(loss, reduction)
