"""nn.losses: every loss against a NumPy float64 statement of its formula and against
mlx.nn.losses (all reductions, weights, label smoothing, with_logits, axis), gradients of
a few losses against finite differences, and MLX's errors for bad arguments."""

import math

import numpy as np
import pytest

import ferrox.core as mx
from ferrox.nn import losses as F
from numeric import fd_grad

try:
    import mlx.core as mlx
    import mlx.nn as mlx_nn
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None


@pytest.fixture(autouse=True)
def _seeded():
    # Layer and initializer draws come from the global key: seed it, so that every
    # run checks the same numbers.
    mx.random.seed(0)
    if mlx is not None:
        mlx.random.seed(0)


REDUCTIONS = ["none", "mean", "sum"]


def reduce_np(loss, reduction):
    return {"none": loss, "mean": np.mean(loss), "sum": np.sum(loss)}[reduction]


def logsumexp_np(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def check(name, args, kwargs, expected, rtol=1e-5, atol=1e-6):
    """Run ferrox's loss on float32 copies of args, compare to the float64 reference and,
    when MLX is present, to MLX's loss on the same inputs."""
    ours = getattr(F, name)(*[mx.array(a) for a in args], **kwargs)
    np.testing.assert_allclose(np.array(ours), expected, rtol=rtol, atol=atol)
    if mlx is not None:
        theirs = getattr(mlx_nn.losses, name)(*[mlx.array(a) for a in args], **kwargs)
        assert ours.shape == theirs.shape
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=rtol, atol=atol)
    return ours


def f32(*arrays):
    return [np.asarray(a, np.float32) for a in arrays]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_class_indices(reduction, axis, smoothing, rng):
    logits = rng.standard_normal((6, 5)).astype(np.float32) * 3
    n_cls = logits.shape[axis]
    targets = rng.integers(0, n_cls, size=logits.shape[1 - (axis % 2)]).astype(np.int32)
    x = logits.astype(np.float64)
    logp = x - np.expand_dims(logsumexp_np(x, axis), axis)
    picked = np.squeeze(np.take_along_axis(logp, np.expand_dims(targets, axis), axis), axis)
    ref = -(1 - smoothing) * picked - smoothing * np.mean(logp, axis=axis)
    check("cross_entropy", [logits, targets], dict(axis=axis, label_smoothing=smoothing, reduction=reduction),
          reduce_np(ref, reduction))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_probabilities_and_weights(smoothing, rng):
    logits = rng.standard_normal((4, 7)).astype(np.float32)
    probs = rng.random((4, 7)).astype(np.float32)
    probs /= probs.sum(-1, keepdims=True)
    weights = rng.random(4).astype(np.float32)
    x = logits.astype(np.float64)
    logp = x - logsumexp_np(x, -1)[:, None]
    ref = -(1 - smoothing) * np.sum(logp * probs, -1) - smoothing * logp.mean(-1)
    for reduction in REDUCTIONS:
        check("cross_entropy", [logits, probs, weights], dict(label_smoothing=smoothing, reduction=reduction),
              reduce_np(ref * weights, reduction))


def test_cross_entropy_errors():
    logits = mx.zeros((2, 3))
    with pytest.raises(ValueError, match="Label smoothing"):
        F.cross_entropy(logits, mx.array([0, 1]), label_smoothing=1.0)
    with pytest.raises(ValueError, match="Label smoothing"):
        F.cross_entropy(logits, mx.array([0, 1]), label_smoothing=-0.1)
    with pytest.raises(ValueError, match="Targets shape"):
        F.cross_entropy(logits, mx.array([0, 1, 2]))
    with pytest.raises(ValueError, match="Targets shape"):
        F.cross_entropy(logits, mx.zeros((1, 2)))
    with pytest.raises(ValueError, match="Weights with shape"):
        F.cross_entropy(logits, mx.array([0, 1]), weights=mx.ones((3,)))
    with pytest.raises(ValueError, match="Invalid reduction"):
        F.cross_entropy(logits, mx.array([0, 1]), reduction="avg")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(reduction, weighted, rng):
    logits = (rng.standard_normal((3, 4)) * 4).astype(np.float32)
    logits[0, 0], logits[0, 1] = 60.0, -60.0  # no overflow far from zero
    targets = rng.random((3, 4)).astype(np.float32)
    w = rng.random((3, 4)).astype(np.float32) if weighted else None
    x, t = logits.astype(np.float64), targets.astype(np.float64)
    ref = np.logaddexp(0, x) - x * t
    ref = ref * w if weighted else ref
    args = [logits, targets] + ([w] if weighted else [])
    check("binary_cross_entropy", args, dict(reduction=reduction), reduce_np(ref, reduction))

    probs = 1 / (1 + np.exp(-x))
    probs[0, 0], probs[0, 1] = 1.0, 0.0  # logs clipped at -100, not inf
    with np.errstate(divide="ignore"):
        ref = -(t * np.maximum(np.log(probs), -100) + (1 - t) * np.maximum(np.log1p(-probs), -100))
    ref = ref * w if weighted else ref
    args = [probs.astype(np.float32), targets] + ([w] if weighted else [])
    check("binary_cross_entropy", args, dict(with_logits=False, reduction=reduction),
          reduce_np(ref, reduction), rtol=1e-4, atol=1e-5)


def test_binary_cross_entropy_errors():
    with pytest.raises(ValueError, match="Inputs shape"):
        F.binary_cross_entropy(mx.zeros((2, 3)), mx.zeros((3,)))
    with pytest.raises(ValueError, match="Weights with shape"):
        F.binary_cross_entropy(mx.zeros((2, 3)), mx.zeros((2, 3)), weights=mx.ones((3,)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(reduction, rng):
    p, t = f32(rng.standard_normal((5, 3)) * 2, rng.standard_normal((5, 3)))
    d = p.astype(np.float64) - t
    ad = np.abs(d)
    check("mse_loss", [p, t], dict(reduction=reduction), reduce_np(d**2, reduction))
    check("l1_loss", [p, t], dict(reduction=reduction), reduce_np(ad, reduction))
    for beta in [1.0, 0.5]:
        ref = np.where(ad < beta, 0.5 * d**2 / beta, ad - 0.5 * beta)
        check("smooth_l1_loss", [p, t], dict(beta=beta, reduction=reduction), reduce_np(ref, reduction))
    for delta in [1.0, 2.0]:
        ref = np.where(ad <= delta, 0.5 * d**2, delta * (ad - 0.5 * delta))
        check("huber_loss", [p, t], dict(delta=delta, reduction=reduction), reduce_np(ref, reduction))
    check("log_cosh_loss", [p, t], dict(reduction=reduction), reduce_np(np.log(np.cosh(d)), reduction))
    # far from zero log(cosh(e)) ~ |e| - log 2 and must not overflow
    big = F.log_cosh_loss(mx.array([200.0, -200.0]), mx.array([0.0, 0.0]))
    np.testing.assert_allclose(np.array(big), [200 - math.log(2)] * 2, rtol=1e-6)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss"])
def test_regression_shape_errors(name):
    with pytest.raises(ValueError, match="Predictions shape"):
        getattr(F, name)(mx.zeros((2, 3)), mx.zeros((3,)))
    with pytest.raises(ValueError, match="Invalid reduction"):
        getattr(F, name)(mx.zeros((3,)), mx.zeros((3,)), reduction="max")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("axis", [-1, 0])
def test_nll_and_kl(reduction, axis, rng):
    x = rng.standard_normal((4, 6))
    logp = (x - np.expand_dims(logsumexp_np(x, axis), axis)).astype(np.float32)
    y = rng.standard_normal((4, 6))
    logq = (y - np.expand_dims(logsumexp_np(y, axis), axis)).astype(np.float32)
    targets = rng.integers(0, logp.shape[axis], size=logp.shape[1 - (axis % 2)]).astype(np.int32)
    ref = -np.squeeze(np.take_along_axis(logp.astype(np.float64), np.expand_dims(targets, axis), axis), axis)
    check("nll_loss", [logp, targets], dict(axis=axis, reduction=reduction), reduce_np(ref, reduction))
    lp, lq = logp.astype(np.float64), logq.astype(np.float64)
    ref = np.sum(np.exp(lq) * (lq - lp), axis=axis)
    check("kl_div_loss", [logp, logq], dict(axis=axis, reduction=reduction), reduce_np(ref, reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll(reduction, full, rng):
    mu, t = f32(rng.standard_normal((4, 3)), rng.standard_normal((4, 3)))
    var = rng.random((4, 3)).astype(np.float32) + 0.1
    var[0, 0] = 1e-9  # clamped to eps
    v = np.maximum(var.astype(np.float64), 1e-6)
    ref = 0.5 * (np.log(v) + (t - mu.astype(np.float64)) ** 2 / v) + (0.5 * np.log(2 * np.pi) if full else 0)
    check("gaussian_nll_loss", [mu, t, var], dict(full=full, reduction=reduction), reduce_np(ref, reduction),
          rtol=1e-4)
    with pytest.raises(ValueError, match="Inputs shape"):
        F.gaussian_nll_loss(mx.zeros((2, 3)), mx.zeros((3,)), mx.ones((2, 3)))
    with pytest.raises(ValueError, match="vars shape"):
        F.gaussian_nll_loss(mx.zeros((2, 3)), mx.zeros((2, 3)), mx.ones((3,)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hinge_margin_ranking(reduction, rng):
    x1, x2 = f32(rng.standard_normal(8), rng.standard_normal(8))
    y = np.where(rng.random(8) < 0.5, -1, 1).astype(np.float32)
    check("hinge_loss", [x1, y], dict(reduction=reduction), reduce_np(np.maximum(1 - x1 * y, 0), reduction))
    for margin in [0.0, 0.5]:
        ref = np.maximum(-y * (x1.astype(np.float64) - x2) + margin, 0)
        check("margin_ranking_loss", [x1, x2, y], dict(margin=margin, reduction=reduction),
              reduce_np(ref, reduction))
    with pytest.raises(ValueError, match="shapes of the arguments"):
        F.margin_ranking_loss(mx.zeros((2,)), mx.zeros((3,)), mx.zeros((2,)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("axis", [-1, 0])
def test_triplet(reduction, p, axis, rng):
    a, pos, neg = f32(*(rng.standard_normal((4, 5)) for _ in range(3)))

    def dist(u, v):
        return (np.sum(np.abs(u.astype(np.float64) - v) ** p, axis=axis) + 1e-6) ** (1 / p)

    ref = np.maximum(dist(a, pos) - dist(a, neg) + 2.0, 0)
    check("triplet_loss", [a, pos, neg], dict(axis=axis, p=p, margin=2.0, reduction=reduction),
          reduce_np(ref, reduction), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis", [1, 0, -1])
def test_cosine_similarity(axis, rng):
    x1, x2 = f32(rng.standard_normal((4, 5)), rng.standard_normal((4, 5)))
    x1[0] = 1e-6  # tiny norms: the denominator is clamped at eps
    a, b = x1.astype(np.float64), x2.astype(np.float64)
    n = np.linalg.norm(a, axis=axis) * np.linalg.norm(b, axis=axis)
    ref = np.sum(a * b, axis=axis) / np.maximum(n, 1e-8)
    for reduction in REDUCTIONS:
        check("cosine_similarity_loss", [x1, x2], dict(axis=axis, reduction=reduction),
              reduce_np(ref, reduction), rtol=1e-4, atol=1e-6)


def test_half_precision_keeps_dtype(rng):
    logits = mx.array(rng.standard_normal((3, 4)).astype(np.float16))
    assert F.cross_entropy(logits, mx.array([0, 1, 2])).dtype == mx.float16
    assert F.mse_loss(logits, logits).dtype == mx.float16
    assert F.binary_cross_entropy(logits, mx.zeros((3, 4), mx.float16)).dtype == mx.float16


def test_gradients_against_finite_differences(rng):
    # Everything in float64 (ferrox computes it on the CPU), so central differences
    # with a small step are accurate to ~1e-9 and the tolerance can be tight.
    logits = rng.standard_normal((3, 5))
    targets = mx.array(np.array([1, 4, 0], np.int32))
    # (mx.array of a float64 NumPy array is float32, as in MLX: ask for float64)
    probs = mx.array(rng.random((3, 5)), mx.float64)
    t = mx.array(rng.standard_normal((3, 5)), mx.float64)
    w = mx.array(rng.random(3), mx.float64)
    cases = [
        lambda v: F.cross_entropy(v, targets, weights=w, label_smoothing=0.1, reduction="mean"),
        lambda v: F.cross_entropy(v, probs, axis=0, reduction="sum"),
        lambda v: F.binary_cross_entropy(v, probs, reduction="sum"),
        lambda v: F.binary_cross_entropy(mx.sigmoid(v), probs, with_logits=False, reduction="mean"),
        lambda v: F.huber_loss(v, t, delta=0.7, reduction="sum"),
        lambda v: F.smooth_l1_loss(v, t, beta=0.5, reduction="sum"),
        lambda v: F.log_cosh_loss(v, t, reduction="mean"),
        lambda v: F.gaussian_nll_loss(t, probs, mx.exp(v), full=True),
        lambda v: F.triplet_loss(v, t, mx.zeros((3, 5), mx.float64), p=3, reduction="sum"),
        lambda v: F.cosine_similarity_loss(v, t, reduction="sum"),
        lambda v: F.kl_div_loss(v, t / 4, reduction="sum"),
    ]
    for k, loss_of in enumerate(cases):
        g = mx.grad(loss_of)(mx.array(logits, mx.float64))
        assert g.dtype == mx.float64
        num = fd_grad(lambda v: loss_of(mx.array(v, mx.float64)).item(), logits)
        np.testing.assert_allclose(np.array(g), num, rtol=1e-6, atol=1e-8, err_msg=f"case {k}")
    # cross entropy's gradient in closed form: w * (softmax - smoothed one-hot) / batch
    p = np.exp(logits - logsumexp_np(logits, -1)[:, None])
    onehot = np.eye(5)[[1, 4, 0]]
    expected = np.array(w)[:, None] * (p - (0.9 * onehot + 0.1 / 5)) / 3
    np.testing.assert_allclose(np.array(mx.grad(cases[0])(mx.array(logits, mx.float64))), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.skipif(mlx is None, reason="mlx is not installed")
def test_signatures_match_mlx():
    import inspect

    assert sorted(F.__all__) == sorted(
        n for n in dir(mlx_nn.losses) if n.endswith("loss") or n.endswith("entropy")
    )
    for name in F.__all__:
        ours = inspect.signature(getattr(F, name)).parameters
        theirs = inspect.signature(getattr(mlx_nn.losses, name)).parameters
        assert list(ours) == list(theirs), name
        assert [p.default for p in ours.values()] == [p.default for p in theirs.values()], name
