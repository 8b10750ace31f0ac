"""nn.init: shapes, dtypes and statistics of every initializer on large arrays, MLX's
fan-in/fan-out convention for channels-last weights, orthogonality, the sparsity
pattern, reproducibility under mx.random.seed, and MLX's errors."""

import math

import numpy as np
import pytest

import ferrox.core as mx
from ferrox.nn import init

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


# Conv2d-like weight [out, kh, kw, in]: fan_in = 32*9 = 288, fan_out = 64*9 = 576.
CONV_SHAPE = (64, 3, 3, 32)
FAN_IN, FAN_OUT = 288, 576


def stats(a):
    v = np.array(a, np.float64)
    return v.mean(), v.std()


def test_constant_normal_uniform_identity():
    a = mx.zeros((300, 400), mx.int32)
    c = init.constant(2.5)(a)
    assert c.shape == (300, 400) and c.dtype == mx.float32
    assert np.all(np.array(c) == 2.5)
    assert init.constant(3, mx.float16)(a).dtype == mx.float16

    mean, std = stats(init.normal(mean=1.5, std=0.5)(a))
    assert abs(mean - 1.5) < 0.01 and abs(std - 0.5) < 0.01
    assert init.normal(dtype=mx.bfloat16)(a).dtype == mx.bfloat16

    u = np.array(init.uniform(-2.0, 4.0)(a))
    assert u.min() >= -2.0 and u.max() < 4.0
    assert abs(u.mean() - 1.0) < 0.02 and abs(u.std() - 6 / math.sqrt(12)) < 0.02
    assert init.uniform(dtype=mx.float16)(a).dtype == mx.float16

    eye = init.identity()(mx.zeros((5, 5)))
    np.testing.assert_array_equal(np.array(eye), np.eye(5))
    assert init.identity(mx.int32)(mx.zeros((2, 2))).dtype == mx.int32


def test_identity_errors():
    with pytest.raises(ValueError, match="square matrix"):
        init.identity()(mx.zeros((2, 3)))
    with pytest.raises(ValueError, match="square matrix"):
        init.identity()(mx.zeros((2,)))


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_glorot(gain):
    a = mx.zeros(CONV_SHAPE)
    _, std = stats(init.glorot_normal()(a, gain=gain))
    assert abs(std / (gain * math.sqrt(2 / (FAN_IN + FAN_OUT))) - 1) < 0.02
    u = np.array(init.glorot_uniform()(a, gain))
    limit = gain * math.sqrt(6 / (FAN_IN + FAN_OUT))
    assert u.min() >= -limit and u.max() <= limit and u.max() > 0.99 * limit
    assert abs(u.std() / (limit / math.sqrt(3)) - 1) < 0.02
    assert init.glorot_uniform(mx.float16)(a).dtype == mx.float16


@pytest.mark.parametrize("mode,fan", [("fan_in", FAN_IN), ("fan_out", FAN_OUT)])
def test_he(mode, fan):
    a = mx.zeros(CONV_SHAPE)
    mean, std = stats(init.he_normal()(a, mode=mode, gain=1.5))
    assert abs(mean) < 0.01 and abs(std / (1.5 / math.sqrt(fan)) - 1) < 0.02
    u = np.array(init.he_uniform()(a, mode))
    limit = math.sqrt(3 / fan)
    assert u.min() >= -limit and u.max() <= limit and u.max() > 0.99 * limit
    assert abs(u.std() / (limit / math.sqrt(3)) - 1) < 0.02


def test_he_default_mode_is_fan_in_for_linear():
    # Linear weight [out=1000, in=100]: fan_in is the last axis.
    _, std = stats(init.he_normal()(mx.zeros((1000, 100))))
    assert abs(std / math.sqrt(1 / 100) - 1) < 0.02


def test_fan_errors():
    with pytest.raises(ValueError, match="at least 2 dimensional"):
        init.glorot_normal()(mx.zeros((5,)))
    with pytest.raises(ValueError, match="at least 2 dimensional"):
        init.he_uniform()(mx.zeros((5,)))
    with pytest.raises(ValueError, match="Invalid mode"):
        init.he_normal()(mx.zeros((5, 5)), mode="fan_avg")


@pytest.mark.parametrize("shape", [(6, 6), (4, 9), (9, 4)])
def test_orthogonal(shape):
    q = np.array(init.orthogonal(gain=2.0)(mx.zeros(shape)), np.float64)
    assert q.shape == shape
    small = min(shape)
    gram = q @ q.T if shape[0] <= shape[1] else q.T @ q
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-5)
    assert init.orthogonal(dtype=mx.float16)(mx.zeros(shape)).dtype == mx.float16
    with pytest.raises(ValueError, match="2D array"):
        init.orthogonal()(mx.zeros((2, 3, 4)))


@pytest.mark.parametrize("sparsity,shape", [(0.3, (200, 7)), (0.5, (100, 10)), (0.0, (10, 4)), (1.5, (3, 3))])
def test_sparse(sparsity, shape):
    s = np.array(init.sparse(sparsity, mean=5.0, std=0.1)(mx.zeros(shape)))
    zeros_per_row = min(math.ceil(sparsity * shape[1]), shape[1])
    np.testing.assert_array_equal((s == 0).sum(axis=1), zeros_per_row)
    nz = s[s != 0]
    if nz.size > 100:
        assert abs(nz.mean() - 5.0) < 0.02 and abs(nz.std() - 0.1) < 0.02
        # the zeros land at random columns, not always the same ones
        assert len(set(map(tuple, (s == 0).astype(int)))) > 1
    with pytest.raises(ValueError, match="2 dimensions"):
        init.sparse(0.5)(mx.zeros((2, 3, 4)))


def test_seeded_initialization_is_reproducible():
    a = mx.zeros((8, 8))
    mx.random.seed(7)
    first = np.array(init.he_uniform()(a))
    mx.random.seed(7)
    np.testing.assert_array_equal(np.array(init.he_uniform()(a)), first)


@pytest.mark.skipif(mlx is None, reason="mlx is not installed")
def test_signatures_and_statistics_match_mlx():
    import inspect

    for name in init.__all__:
        ours, theirs = inspect.signature(getattr(init, name)), inspect.signature(getattr(mlx_nn.init, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        assert [p.default for p in ours.parameters.values() if p.name != "dtype"] == [
            p.default for p in theirs.parameters.values() if p.name != "dtype"
        ], name
    # the returned initializers take the same arguments too
    for name in ["glorot_normal", "glorot_uniform", "he_normal", "he_uniform"]:
        ours = inspect.signature(getattr(init, name)())
        theirs = inspect.signature(getattr(mlx_nn.init, name)())
        assert list(ours.parameters) == list(theirs.parameters), name
    shape = (128, 3, 5, 16)
    for mode in ["fan_in", "fan_out"]:
        ours = np.array(init.he_normal()(mx.zeros(shape), mode)).std()
        theirs = np.array(mlx_nn.init.he_normal()(mlx.zeros(shape), mode)).std()
        assert abs(ours / theirs - 1) < 0.03, mode
