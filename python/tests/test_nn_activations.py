"""The 27 functional activations of `ferrox.nn` against float64 NumPy formulas and
against MLX (values and result dtypes), and the 25 module classes against them."""

import math

import numpy as np
import pytest

import ferrox.core as mx
import ferrox.nn as nn

try:
    import mlx.core as mlx
    import mlx.nn as mlx_nn
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None

try:
    from scipy.special import erf as _erf
except Exception:  # NumPy has no erf: the float64 reference from math.erf
    _erf = np.vectorize(math.erf)


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(x, 0)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _elu(x, a=1.0):
    return np.where(x > 0, x, a * (np.exp(x) - 1))


# name -> (float64 NumPy reference, extra keyword arguments)
REF = {
    "relu": (lambda x: np.maximum(x, 0), {}),
    "relu2": (lambda x: np.maximum(x, 0) ** 2, {}),
    "relu6": (lambda x: np.clip(x, 0, 6), {}),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.2 * x), {"negative_slope": 0.2}),
    "sigmoid": (_sig, {}),
    "log_sigmoid": (lambda x: np.log(_sig(x)), {}),
    "elu": (lambda x: _elu(x, 0.7), {"alpha": 0.7}),
    "celu": (lambda x: np.maximum(x, 0) + 1.3 * (np.exp(np.minimum(x, 0) / 1.3) - 1), {"alpha": 1.3}),
    "selu": (lambda x: 1.0507 * _elu(x, 1.67326), {}),
    "silu": (lambda x: x * _sig(x), {}),
    "gelu": (lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), {}),
    "gelu_approx": (lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))), {}),
    "gelu_fast_approx": (lambda x: x * _sig(1.702 * x), {}),
    "glu": (lambda x: x[..., :3] * _sig(x[..., 3:]), {}),
    "hard_shrink": (lambda x: np.where(np.abs(x) > 0.3, x, 0), {"lambd": 0.3}),
    "hard_tanh": (lambda x: np.clip(x, -0.5, 2.0), {"min_val": -0.5, "max_val": 2.0}),
    "hardswish": (lambda x: x * np.clip(x + 3, 0, 6) / 6, {}),
    "mish": (lambda x: x * np.tanh(_softplus(x)), {}),
    "softmax": (lambda x: _softmax(x, 0), {"axis": 0}),
    "softmin": (lambda x: _softmax(-x), {}),
    "log_softmax": (lambda x: np.log(_softmax(x)), {}),
    "softplus": (_softplus, {}),
    "softshrink": (lambda x: np.where(np.abs(x) > 0.5, x - np.sign(x) * 0.5, 0), {}),
    "softsign": (lambda x: x / (1 + np.abs(x)), {}),
    "step": (lambda x: (x > 0.1).astype(np.int32), {"threshold": 0.1}),
    "tanh": (np.tanh, {}),
}


def test_all_27_functional_activations_are_tested():
    assert len(REF) + 1 == 27  # + prelu, tested on its own
    for name in list(REF) + ["prelu"]:
        assert callable(getattr(nn, name))


@pytest.mark.parametrize("name", sorted(REF))
@pytest.mark.parametrize("shape", [(7,), (4, 6)])
def test_activation_against_numpy_and_mlx(name, shape, rng):
    ref, kw = REF[name]
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    if name == "glu" and shape[-1] % 2:
        pytest.skip("glu needs an even last axis")
    if name == "glu":
        x = x[..., :6] if shape[-1] >= 6 else x
    y = getattr(nn, name)(mx.array(x), **kw)
    expect = ref(x.astype(np.float64))
    assert y.shape == expect.shape
    np.testing.assert_allclose(np.array(y), expect, rtol=2e-5, atol=2e-6)
    if mlx is not None:
        z = getattr(mlx_nn, name)(mlx.array(x), **kw)
        assert str(y.dtype) == str(z.dtype)
        np.testing.assert_allclose(np.array(y), np.array(z), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(mlx is None, reason="mlx is not installed")
@pytest.mark.parametrize("name", sorted(REF))
def test_activation_dtypes_match_mlx_for_half_inputs(name, rng):
    _, kw = REF[name]
    x = rng.standard_normal((2, 6)).astype(np.float16)
    y = getattr(nn, name)(mx.array(x), **kw)
    z = getattr(mlx_nn, name)(mlx.array(x), **kw)
    assert str(y.dtype) == str(z.dtype)
    np.testing.assert_allclose(np.array(y).astype(np.float32), np.array(z).astype(np.float32), rtol=1e-2, atol=1e-2)


def test_prelu(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    a = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    np.testing.assert_allclose(np.array(nn.prelu(mx.array(x), mx.array(a))), np.where(x > 0, x, a * x), rtol=1e-6)
    m = nn.PReLU(4, init=0.3)
    assert list(m.parameters()) == ["weight"] and np.allclose(np.array(m.weight), 0.3)
    np.testing.assert_allclose(np.array(m(mx.array(x))), np.where(x > 0, x, np.float32(0.3) * x), rtol=1e-6)


# module class -> (constructor kwargs, the functional form it must equal)
MODULES = {
    "ReLU": ({}, lambda x: nn.relu(x)),
    "ReLU2": ({}, lambda x: nn.relu2(x)),
    "ReLU6": ({}, lambda x: nn.relu6(x)),
    "LeakyReLU": ({"negative_slope": 0.3}, lambda x: nn.leaky_relu(x, 0.3)),
    "PReLU": ({}, lambda x: nn.prelu(x, mx.array([0.25]))),
    "ELU": ({"alpha": 0.5}, lambda x: nn.elu(x, 0.5)),
    "CELU": ({"alpha": 2.0}, lambda x: nn.celu(x, 2.0)),
    "SELU": ({}, nn.selu),
    "GELU": ({}, nn.gelu),
    "GLU": ({"axis": 0}, lambda x: nn.glu(x, 0)),
    "SiLU": ({}, nn.silu),
    "Sigmoid": ({}, nn.sigmoid),
    "LogSigmoid": ({}, nn.log_sigmoid),
    "Tanh": ({}, nn.tanh),
    "HardTanh": ({}, nn.hard_tanh),
    "Hardswish": ({}, nn.hardswish),
    "Mish": ({}, nn.mish),
    "Softmax": ({}, nn.softmax),
    "Softmin": ({}, nn.softmin),
    "LogSoftmax": ({}, nn.log_softmax),
    "Softplus": ({}, nn.softplus),
    "Softsign": ({}, nn.softsign),
    "Softshrink": ({"lambd": 0.7}, lambda x: nn.softshrink(x, 0.7)),
    "HardShrink": ({"lambd": 0.7}, lambda x: nn.hard_shrink(x, 0.7)),
    "Step": ({"threshold": 0.5}, lambda x: nn.step(x, 0.5)),
}


def test_25_module_classes():
    assert len(MODULES) == 25


@pytest.mark.parametrize("name", sorted(MODULES))
def test_activation_module(name, rng):
    kw, fn = MODULES[name]
    x = (rng.standard_normal((4, 6)) * 2).astype(np.float32)
    m = getattr(nn, name)(**kw)
    assert isinstance(m, nn.Module) and type(m).__name__ == name
    np.testing.assert_array_equal(np.array(m(mx.array(x))), np.array(fn(mx.array(x))))
    if mlx is not None:
        theirs = getattr(mlx_nn, name)(**kw)
        assert repr(m) == repr(theirs)
        np.testing.assert_allclose(np.array(m(mx.array(x))), np.array(theirs(mlx.array(x))), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("approx,fn", [("none", nn.gelu), ("precise", nn.gelu_approx), ("tanh", nn.gelu_approx), ("fast", nn.gelu_fast_approx)])
def test_gelu_approximations(approx, fn, rng):
    x = mx.array(rng.standard_normal((5,)).astype(np.float32))
    np.testing.assert_array_equal(np.array(nn.GELU(approx)(x)), np.array(fn(x)))


def test_gelu_bad_approx():
    with pytest.raises(ValueError, match="The approximation should be in"):
        nn.GELU("bad")
