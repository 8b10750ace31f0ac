"""Parameter initializers, with the names and semantics of ``mlx.nn.init``.

Each function takes the initializer's settings (and a ``dtype``) and returns a
function of an array ``a`` that returns a new array of ``a``'s shape; ``a``'s
values and dtype are ignored. Randomness comes from ``ferrox.core.random``'s
global key, so ``mx.random.seed`` makes initialization reproducible.

Fans follow MLX's channels-last weight layouts (``Linear``: ``[out, in]``,
``ConvNd``: ``[out, *kernel, in]``): ``fan_in = shape[-1] * receptive``,
``fan_out = shape[0] * receptive``, with ``receptive`` the product of the
dimensions in between.
"""

import math
from typing import Callable, Literal

import ferrox.core as mx

__all__ = [
    "constant",
    "normal",
    "uniform",
    "identity",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "orthogonal",
    "sparse",
]


def constant(value: float, dtype: mx.Dtype = mx.float32) -> Callable[[mx.array], mx.array]:
    """Fill with ``value``."""

    def initializer(a: mx.array) -> mx.array:
        return mx.full(a.shape, value, dtype=dtype)

    return initializer


def normal(mean: float = 0.0, std: float = 1.0, dtype: mx.Dtype = mx.float32) -> Callable[[mx.array], mx.array]:
    """Samples from Normal(``mean``, ``std``)."""

    def initializer(a: mx.array) -> mx.array:
        return mx.random.normal(shape=a.shape, dtype=dtype, loc=mean, scale=std)

    return initializer


def uniform(low: float = 0.0, high: float = 1.0, dtype: mx.Dtype = mx.float32) -> Callable[[mx.array], mx.array]:
    """Samples from Uniform[``low``, ``high``)."""

    def initializer(a: mx.array) -> mx.array:
        return mx.random.uniform(low, high, a.shape, dtype=dtype)

    return initializer


def identity(dtype: mx.Dtype = mx.float32) -> Callable[[mx.array], mx.array]:
    """The identity matrix; ``a`` must be square."""

    def initializer(arr: mx.array) -> mx.array:
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise ValueError(f"The input array must be a square matrix but got shape {arr.shape}.")
        return mx.eye(arr.shape[0], dtype=dtype)

    return initializer


def _fans(x: mx.array):
    """(fan_in, fan_out) of a channels-last weight."""
    if x.ndim < 2:
        raise ValueError(
            "Glorot / He initialization requires at least 2 dimensional input"
            f" but input with {x.ndim} dimensions."
        )
    receptive = math.prod(x.shape[1:-1])
    return x.shape[-1] * receptive, x.shape[0] * receptive


def _fan_for_mode(a: mx.array, mode: str) -> int:
    fan_in, fan_out = _fans(a)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"Invalid mode: {mode}. Valid modes are: fan_in, fan_out")


def glorot_normal(dtype: mx.Dtype = mx.float32) -> Callable[[mx.array, float], mx.array]:
    """Normal with ``std = gain * sqrt(2 / (fan_in + fan_out))`` (Glorot & Bengio)."""

    def initializer(a: mx.array, gain: float = 1.0) -> mx.array:
        fan_in, fan_out = _fans(a)
        std = gain * math.sqrt(2.0 / (fan_in + fan_out))
        return mx.random.normal(shape=a.shape, dtype=dtype) * std

    return initializer


def glorot_uniform(dtype: mx.Dtype = mx.float32) -> Callable[[mx.array, float], mx.array]:
    """Uniform on ``[-l, l]`` with ``l = gain * sqrt(6 / (fan_in + fan_out))``."""

    def initializer(a: mx.array, gain: float = 1.0) -> mx.array:
        fan_in, fan_out = _fans(a)
        limit = gain * math.sqrt(6.0 / (fan_in + fan_out))
        return mx.random.uniform(-limit, limit, a.shape, dtype=dtype)

    return initializer


def he_normal(
    dtype: mx.Dtype = mx.float32,
) -> Callable[[mx.array, Literal["fan_in", "fan_out"], float], mx.array]:
    """Normal with ``std = gain / sqrt(fan)`` (He et al.), ``fan`` chosen by ``mode``."""

    def initializer(a: mx.array, mode: Literal["fan_in", "fan_out"] = "fan_in", gain: float = 1.0) -> mx.array:
        std = gain / math.sqrt(_fan_for_mode(a, mode))
        return mx.random.normal(shape=a.shape, dtype=dtype) * std

    return initializer


def he_uniform(
    dtype: mx.Dtype = mx.float32,
) -> Callable[[mx.array, Literal["fan_in", "fan_out"], float], mx.array]:
    """Uniform on ``[-l, l]`` with ``l = gain * sqrt(3 / fan)``, ``fan`` chosen by ``mode``."""

    def initializer(a: mx.array, mode: Literal["fan_in", "fan_out"] = "fan_in", gain: float = 1.0) -> mx.array:
        limit = gain * math.sqrt(3.0 / _fan_for_mode(a, mode))
        return mx.random.uniform(-limit, limit, a.shape, dtype=dtype)

    return initializer


def orthogonal(gain: float = 1.0, dtype: mx.Dtype = mx.float32) -> Callable[[mx.array], mx.array]:
    """A (semi-)orthogonal matrix times ``gain``: orthonormal rows when the matrix
    is wide, orthonormal columns when it is tall."""

    def initializer(a: mx.array) -> mx.array:
        if a.ndim != 2:
            raise ValueError(f"Orthogonal initialization requires a 2D array but got a {a.ndim}D array.")
        rows, cols = a.shape
        n = max(rows, cols)
        # Q of a Gaussian matrix, with column signs fixed by diag(R) so that Q
        # is Haar-distributed rather than biased by the QR convention.
        q, r = mx.linalg.qr(mx.random.normal(shape=(n, n)), stream=mx.cpu)
        q = q * mx.sign(mx.diag(r))
        q = q[:rows, :] if rows < cols else q[:, :cols]
        return (gain * q).astype(dtype)

    return initializer


def sparse(
    sparsity: float, mean: float = 0.0, std: float = 1.0, dtype: mx.Dtype = mx.float32
) -> Callable[[mx.array], mx.array]:
    """Normal(``mean``, ``std``) values with ``ceil(sparsity * cols)`` zeros at
    random positions in every row of a 2-D array."""

    def initializer(a: mx.array) -> mx.array:
        if a.ndim != 2:
            raise ValueError("Only tensors with 2 dimensions are supported")
        rows, cols = a.shape
        num_zeros = int(math.ceil(sparsity * cols))
        # A random permutation per row: rank of uniform keys; the lowest
        # num_zeros ranks become zeros.
        keys = mx.random.uniform(shape=(rows, cols))
        ranks = mx.argsort(mx.argsort(keys, axis=1), axis=1)
        values = mx.random.normal(shape=a.shape, dtype=dtype, loc=mean, scale=std)
        return mx.where(ranks < num_zeros, mx.array(0, dtype), values)

    return initializer
