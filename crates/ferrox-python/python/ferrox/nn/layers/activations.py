"""The 27 functional activations of `mlx.nn` and the 25 module classes wrapping them.

Scalars are Python numbers so that they stay "weak" and the result keeps the input's
dtype (a float16 input gives a float16 output), as in MLX.
"""

import math

import ferrox.core as mx

from .base import Module


def sigmoid(x):
    """``1 / (1 + exp(-x))``."""
    return mx.sigmoid(x)


def relu(x):
    """``max(x, 0)``."""
    return mx.maximum(x, 0)


def relu2(x):
    """``max(x, 0) ** 2``."""
    return mx.square(mx.maximum(x, 0))


def relu6(x):
    """``min(max(x, 0), 6)``."""
    return mx.minimum(mx.maximum(x, 0), 6.0)


def leaky_relu(x, negative_slope=0.01):
    """``max(negative_slope * x, x)``."""
    return mx.maximum(negative_slope * x, x)


def softplus(x):
    """``log(1 + exp(x))``, computed stably as ``logaddexp(x, 0)``."""
    return mx.logaddexp(x, 0)


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return -softplus(-x)


def elu(x, alpha=1.0):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    return mx.where(x > 0, x, alpha * (mx.exp(x) - 1))


def celu(x, alpha=1.0):
    """``max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1)``."""
    return mx.maximum(x, 0.0) + alpha * (mx.exp(mx.minimum(x, 0.0) / alpha) - 1)


def selu(x):
    """Scaled ELU with the self-normalising constants (alpha 1.67326, scale 1.0507)."""
    return elu(x, 1.67326) * 1.0507


def prelu(x, alpha):
    """``max(0, x) + alpha * min(0, x)`` with a learnable (broadcast) ``alpha``."""
    return mx.maximum(0, x) + alpha * mx.minimum(0, x)


def silu(x):
    """``x * sigmoid(x)``."""
    return x * mx.sigmoid(x)


def gelu(x):
    """Exact GELU: ``x * (1 + erf(x / sqrt(2))) / 2``."""
    return x * (1 + mx.erf(x / math.sqrt(2))) / 2


def gelu_approx(x):
    """GELU with the tanh approximation."""
    return 0.5 * x * (1 + mx.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def gelu_fast_approx(x):
    """GELU approximated as ``x * sigmoid(1.702 * x)``."""
    return x * mx.sigmoid(1.702 * x)


def glu(x, axis=-1):
    """Split ``x`` in two halves ``a, b`` along ``axis``; return ``a * sigmoid(b)``."""
    a, b = mx.split(x, indices_or_sections=2, axis=axis)
    return a * mx.sigmoid(b)


def hard_shrink(x, lambd=0.5):
    """``x`` where ``|x| > lambd``, else 0."""
    return mx.where(mx.abs(x) > lambd, x, 0)


def hard_tanh(x, min_val=-1.0, max_val=1.0):
    """``x`` clipped to ``[min_val, max_val]``."""
    return mx.minimum(mx.maximum(x, min_val), max_val)


def hardswish(x):
    """``x * min(max(x + 3, 0), 6) / 6``."""
    return x * mx.minimum(mx.maximum(x + 3, 0), 6) / 6


def mish(x):
    """``x * tanh(softplus(x))``."""
    return x * mx.tanh(softplus(x))


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``."""
    return mx.softmax(x, axis=axis)


def softmin(x, axis=-1):
    """``softmax(-x)``."""
    return mx.softmax(-x, axis=axis)


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``."""
    return x - mx.logsumexp(x, axis=axis, keepdims=True)


def softshrink(x, lambd=0.5):
    """``x - sign(x) * lambd`` where ``|x| > lambd``, else 0."""
    return mx.where(mx.abs(x) > lambd, x - mx.sign(x) * lambd, 0)


def softsign(x):
    """``x / (1 + |x|)``."""
    return mx.divide(x, 1 + mx.abs(x))


def step(x, threshold=0.0):
    """1 where ``x > threshold``, else 0 (an int32 array, as in MLX)."""
    return mx.where(x > threshold, 1, 0)


def tanh(x):
    """Hyperbolic tangent."""
    return mx.tanh(x)


# -- module classes ------------------------------------------------------------------------


def _stateless(fn, name):
    """A parameterless module class calling ``fn``."""

    def __call__(self, x):
        return fn(x)

    return type(name, (Module,), {"__call__": __call__, "__doc__": f"Applies ``{fn.__name__}``."})


ReLU = _stateless(relu, "ReLU")
ReLU2 = _stateless(relu2, "ReLU2")
ReLU6 = _stateless(relu6, "ReLU6")
SELU = _stateless(selu, "SELU")
SiLU = _stateless(silu, "SiLU")
Sigmoid = _stateless(sigmoid, "Sigmoid")
LogSigmoid = _stateless(log_sigmoid, "LogSigmoid")
Tanh = _stateless(tanh, "Tanh")
HardTanh = _stateless(hard_tanh, "HardTanh")
Hardswish = _stateless(hardswish, "Hardswish")
Mish = _stateless(mish, "Mish")
Softmax = _stateless(softmax, "Softmax")
Softmin = _stateless(softmin, "Softmin")
LogSoftmax = _stateless(log_softmax, "LogSoftmax")
Softplus = _stateless(softplus, "Softplus")
Softsign = _stateless(softsign, "Softsign")


class LeakyReLU(Module):
    """Applies `leaky_relu`."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self._negative_slope = negative_slope

    def __call__(self, x):
        return leaky_relu(x, self._negative_slope)


class ELU(Module):
    """Applies `elu`."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self._alpha = alpha

    def __call__(self, x):
        return elu(x, self._alpha)


class CELU(Module):
    """Applies `celu`."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self._alpha = alpha

    def __call__(self, x):
        return celu(x, self._alpha)


class PReLU(Module):
    """Applies `prelu` with a learned ``weight`` of ``num_parameters`` slopes."""

    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.weight = mx.full([num_parameters], init)

    def __call__(self, x):
        return prelu(x, self["weight"])


_GELU = {"none": gelu, "precise": gelu_approx, "tanh": gelu_approx, "fast": gelu_fast_approx}


class GELU(Module):
    """Applies `gelu` (``approx='none'``), `gelu_approx` (``'precise'`` or ``'tanh'``)
    or `gelu_fast_approx` (``'fast'``)."""

    def __init__(self, approx="none"):
        super().__init__()
        if approx not in _GELU:
            raise ValueError(f"The approximation should be in {list(_GELU)} but '{approx}' was given")
        self._approx = approx

    def __call__(self, x):
        return _GELU[self._approx](x)


class GLU(Module):
    """Applies `glu` along ``axis``."""

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def __call__(self, x):
        return glu(x, self.axis)


class Softshrink(Module):
    """Applies `softshrink`."""

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def __call__(self, x):
        return softshrink(x, self.lambd)


class HardShrink(Module):
    """Applies `hard_shrink`."""

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def __call__(self, x):
        return hard_shrink(x, self.lambd)


class Step(Module):
    """Applies `step`."""

    def __init__(self, threshold=0.0):
        super().__init__()
        self.threshold = threshold

    def __call__(self, x):
        return step(x, self.threshold)
