"""Spatial upsampling: ``Upsample`` and the functions ``upsample_nearest``,
``upsample_linear`` and ``upsample_cubic``, with the output sizes and sampling
positions MLX uses (observed from MLX 0.32.4 and checked against it in the tests).

Inputs are channels-last, ``(N, *spatial, C)``; spatial axis ``d`` of size ``n``
becomes ``floor(n * scale_factor[d])``. The interpolation is separable: each axis
is resampled in turn. For every output position the source taps and weights are
computed in NumPy (float64) from the static shapes alone, so the array work is one
gather per tap and a weighted sum, and gradients flow through ``take``.

Sampling positions (``n`` input samples, ``m`` outputs, scale ``s``):

- linear and cubic: ``src = (i + 0.5 + (n*s - m) / 2) / s - 0.5`` (pixel centers,
  the output grid centered in the scaled input), or ``i * (n - 1) / (m - 1)`` with
  ``align_corners``; out-of-range taps are clamped to the border (replicate).
- cubic uses Keys' kernel with ``a = -0.75`` (``-0.5`` with ``antialias``).
- nearest: ``floor(i * n / m)`` when shrinking, else the half-even rounding of
  ``(i + 0.5) * n / m - 0.5``, both in float32 as MLX computes them (so that
  exact ties fall as in MLX).
- ``antialias`` (linear and cubic): where ``s < 1`` the kernel is stretched by
  ``1 / s``, so that shrinking averages over the pixels an output covers instead
  of skipping them; taps outside the input are dropped (not clamped) and the
  weights normalized to sum to one.

Known difference: where a cubic source position is an integer in exact arithmetic,
MLX 0.32.4 (computing it in float32) sometimes returns an all-zero sample (seen
for n=33, s=1.316 at output 21); ferrox returns the input sample there.
"""

import math
from typing import Literal, Tuple, Union

import numpy as np

import ferrox.core as mx

from .base import Module

__all__ = ["Upsample", "upsample_nearest", "upsample_linear", "upsample_cubic"]


def _out_size(n, s):
    return int(math.floor(n * s))


def _source_positions(n, m, s, align_corners):
    i = np.arange(m, dtype=np.float64)
    if align_corners:
        return i * ((n - 1) / (m - 1)) if m > 1 else np.zeros(m)
    return (i + 0.5 + (n * s - m) / 2) / s - 0.5


def _linear_kernel(x):
    return np.maximum(1 - np.abs(x), 0)


def _cubic_kernel(x, a=-0.75):
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = a * (((x - 5) * x + 8) * x - 4)
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _taps(n, s, kernel, support, align_corners, antialias):
    """(indices, weights), both ``(m, k)``: output ``i`` is ``sum_k w[i, k] * x[idx[i, k]]``."""
    m = _out_size(n, s)
    src = _source_positions(n, m, s, align_corners)
    stretch = 1.0 / s if (antialias and s < 1) else 1.0
    radius = support * stretch
    first = np.floor(src - radius) + 1
    k = int(math.ceil(2 * radius)) + 1
    idx = first[:, None] + np.arange(k)[None, :]
    w = kernel((idx - src[:, None]) / stretch)
    if antialias:
        # The filtering form drops taps outside the input instead of replicating
        # the border, then normalizes the remaining weights to sum to one.
        w = np.where((idx >= 0) & (idx <= n - 1), w, 0.0)
        w = w / w.sum(axis=1, keepdims=True)
    return np.clip(idx, 0, n - 1).astype(np.int32), w


def _nearest_indices(n, s):
    # In float32, as MLX computes them: the ties (a source position of exactly k + 0.5
    # in exact arithmetic) then fall the way MLX's do.
    m = _out_size(n, s)
    i = np.arange(m, dtype=np.float32)
    ratio = np.float32(n / m)
    if s < 1:
        idx = np.floor(i * ratio)
    else:
        idx = np.round((i + np.float32(0.5)) * ratio - np.float32(0.5))  # half-to-even
    return np.clip(idx, 0, n - 1).astype(np.int32)


def _check_antialias(align_corners, antialias):
    if antialias and align_corners:
        raise ValueError(
            "[Upsample] antialias=True with align_corners=True is not supported. "
            "Use align_corners=False for antialiased interpolation."
        )


def _check(x, scale_factor):
    if len(scale_factor) != x.ndim - 2:
        raise ValueError("A scale needs to be provided for each spatial dimension")


def upsample_nearest(x: mx.array, scale_factor: Tuple) -> mx.array:
    """Nearest-neighbour resampling of every spatial axis of ``x`` (dtype kept)."""
    _check(x, scale_factor)
    for d, s in enumerate(scale_factor):
        axis = d + 1
        n = x.shape[axis]
        if float(s) == int(s) and s >= 1:
            # Integer factors copy each sample s times; a repeat is the same gather.
            x = mx.repeat(x, int(s), axis=axis)
        else:
            x = mx.take(x, mx.array(_nearest_indices(n, s)), axis=axis)
    return x


def _interpolate(x, scale_factor, kernel, support, align_corners, antialias):
    _check_antialias(align_corners, antialias)
    _check(x, scale_factor)
    # MLX computes in (at least) float32: integer and half inputs come back float32.
    dtype = x.dtype if x.dtype in (mx.float32, mx.float64) else mx.float32
    x = x.astype(dtype)
    for d, s in enumerate(scale_factor):
        axis = d + 1
        idx, w = _taps(x.shape[axis], s, kernel, support, align_corners, antialias)
        wshape = [1] * x.ndim
        wshape[axis] = idx.shape[0]
        y = None
        for t in range(idx.shape[1]):
            term = mx.take(x, mx.array(idx[:, t]), axis=axis) * mx.array(w[:, t].reshape(wshape), dtype)
            y = term if y is None else y + term
        x = y
    return x


def upsample_linear(x: mx.array, scale_factor: Tuple, align_corners: bool = False, antialias: bool = False):
    """(Bi/tri)linear resampling of every spatial axis of ``x``."""
    return _interpolate(x, scale_factor, _linear_kernel, 1.0, align_corners, antialias)


def upsample_cubic(x: mx.array, scale_factor: Tuple, align_corners: bool = False, antialias: bool = False):
    """(Bi/tri)cubic resampling of every spatial axis of ``x``: Keys' kernel with
    ``a = -0.75``, or ``a = -0.5`` when ``antialias`` (the filtering convention)."""
    a = -0.5 if antialias else -0.75
    return _interpolate(x, scale_factor, lambda t: _cubic_kernel(t, a), 2.0, align_corners, antialias)


class Upsample(Module):
    """Upsample the spatial axes of channels-last inputs.

    Args:
        scale_factor: one float for every spatial axis, or a tuple with one per axis.
        mode: ``"nearest"``, ``"linear"`` or ``"cubic"``.
        align_corners: map the corner samples of input and output onto each other
            (linear and cubic only).
        antialias: filter when shrinking (linear and cubic only).
    """

    def __init__(
        self,
        scale_factor: Union[float, Tuple],
        mode: Literal["nearest", "linear", "cubic"] = "nearest",
        align_corners: bool = False,
        antialias: bool = False,
    ):
        super().__init__()
        if mode not in ("nearest", "linear", "cubic"):
            raise ValueError(f"[Upsample] Got unsupported upsampling algorithm: {mode}")
        _check_antialias(align_corners, antialias)
        if isinstance(scale_factor, (list, tuple)):
            self.scale_factor = tuple(map(float, scale_factor))
        else:
            self.scale_factor = float(scale_factor)
        self.mode = mode
        self.align_corners = align_corners
        self.antialias = antialias

    def _extra_repr(self):
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}, align_corners={self.align_corners}"

    def __call__(self, x):
        dims = x.ndim - 2
        if dims <= 0:
            raise ValueError(
                "[Upsample] The input should have at least 1 spatial dimension which means it "
                f"should be at least 3D but {x.ndim}D was provided"
            )
        scale = self.scale_factor
        if not isinstance(scale, tuple):
            scale = (scale,) * dims
        elif len(scale) != dims:
            raise ValueError(
                "[Upsample] One scale per spatial dimension is required but "
                f"scale_factor={scale} and the number of spatial dimensions were {dims}"
            )
        if self.mode == "nearest":
            return upsample_nearest(x, scale)
        if self.mode == "linear":
            return upsample_linear(x, scale, self.align_corners, self.antialias)
        return upsample_cubic(x, scale, self.align_corners, self.antialias)
