"""Pooling layers ``MaxPool1d/2d/3d`` and ``AvgPool1d/2d/3d`` (channels-last, as MLX).

Inputs are ``(N, *spatial, C)``.
Each spatial axis is padded by ``padding`` on both sides (with the dtype's lowest
value for max pooling and with zeros for average pooling, so padded zeros count
in the average, as in MLX), then windows of ``kernel_size`` taken every
``stride`` (default: ``kernel_size``) are reduced. The windows are a strided view
of the padded input (``as_strided``), so no window data is copied before the
reduction.
"""

import math

import ferrox.core as mx

from .base import Module


def _lowest(dtype):
    """The padding value that never wins a max: -inf, or an integer type's minimum.

    Deliberate difference: MLX 0.32.4 pads with -inf cast to the input dtype, which
    is 0 for int8/int16 (so a border window of negatives returns 0 there); padding
    must never win a max, so ferrox uses the type's minimum for every integer type.
    """
    if mx.issubdtype(dtype, mx.floating):
        return -math.inf
    if dtype == mx.bool_:
        return False
    return mx.iinfo(dtype).min


def _sliding_windows(x, window, strides):
    """View of ``x`` (``(N, *spatial, C)``) as ``(N, *out, *window, C)``."""
    n = len(window)
    if x.ndim < 3:
        raise ValueError(
            "To extract sliding windows at least 1 spatial dimension (3 total) is needed "
            f"but the input only has {x.ndim} dimensions."
        )
    if x.ndim - 2 != n:
        raise ValueError(
            "To extract sliding windows the window shapes and strides must have the same number of "
            f"spatial dimensions as the signal but the signal has {x.ndim - 2} dims and the window "
            f"shape has {n} and strides have {n}."
        )
    spatial = x.shape[1:-1]
    out = [(size - w) // s + 1 if size >= w else 0 for size, w, s in zip(spatial, window, strides)]
    # Element strides of the row-contiguous input (as_strided reads the data as
    # if it were row-contiguous, which is what MLX's as_strided does too).
    elem = [1] * x.ndim
    for i in range(x.ndim - 2, -1, -1):
        elem[i] = elem[i + 1] * x.shape[i + 1]
    sp = elem[1:-1]
    shape = (x.shape[0], *out, *window, x.shape[-1])
    strides = (elem[0], *(st * s for st, s in zip(sp, strides)), *sp, 1)
    return mx.as_strided(x, shape, strides)


def _as_tuple(name, cls, value, n):
    """MLX's argument check: an int, or a tuple/list of ``n`` ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(isinstance(v, int) for v in value):
        return tuple(value)
    raise ValueError(f"[{cls}] '{name}' must be an integer or a tuple containing {n} integers")


class _Pool(Module):
    """Shared machinery; subclasses set ``_n`` (spatial dims) and ``_kind``."""

    _n = 1
    _kind = "max"

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        cls = type(self).__name__
        n = self._n
        kernel_size = _as_tuple("kernel_size", cls, kernel_size, n)
        stride = kernel_size if stride is None else _as_tuple("stride", cls, stride, n)
        padding = _as_tuple("padding", cls, padding, n)
        if any(k <= 0 for k in kernel_size):
            raise ValueError(f"[{cls}] 'kernel_size' must be positive but got {kernel_size}.")
        if any(s <= 0 for s in stride):
            raise ValueError(f"[{cls}] 'stride' must be positive but got {stride}.")
        if any(p < 0 for p in padding):
            raise ValueError(f"[{cls}] 'padding' must be non-negative but got {padding}.")
        # Private (underscore) entries: never parameters, as in MLX.
        self._kernel_size = kernel_size
        self._stride = stride
        self._padding = padding

    def _extra_repr(self):
        return f"kernel_size={self._kernel_size}, stride={self._stride}, padding={self._padding}"

    def __call__(self, x):
        n = self._n
        if any(self._padding):
            value = _lowest(x.dtype) if self._kind == "max" else 0
            if x.ndim == n + 2:  # otherwise _sliding_windows raises MLX's error
                widths = [(0, 0)] + [(p, p) for p in self._padding] + [(0, 0)]
                x = mx.pad(x, widths, constant_values=value)
        windows = _sliding_windows(x, self._kernel_size, self._stride)
        axes = tuple(range(-n - 1, -1))
        if self._kind == "max":
            return mx.max(windows, axis=axes)
        return mx.mean(windows, axis=axes)


class MaxPool1d(_Pool):
    """Max over windows of ``(N, L, C)`` inputs."""

    _n, _kind = 1, "max"


class MaxPool2d(_Pool):
    """Max over windows of ``(N, H, W, C)`` inputs."""

    _n, _kind = 2, "max"


class MaxPool3d(_Pool):
    """Max over windows of ``(N, D, H, W, C)`` inputs."""

    _n, _kind = 3, "max"


class AvgPool1d(_Pool):
    """Mean over windows of ``(N, L, C)`` inputs."""

    _n, _kind = 1, "avg"


class AvgPool2d(_Pool):
    """Mean over windows of ``(N, H, W, C)`` inputs."""

    _n, _kind = 2, "avg"


class AvgPool3d(_Pool):
    """Mean over windows of ``(N, D, H, W, C)`` inputs."""

    _n, _kind = 3, "avg"
