"""Transposed convolution layers ``ConvTranspose1d/2d/3d`` (channels-last, as MLX).

Inputs are ``(N, *spatial, C_in)``; the weight is ``(C_out, *kernel, C_in)`` and the
optional bias ``(C_out,)``. The weight starts uniform in ``[-s, s]`` with
``s = sqrt(1 / (C_in * prod(kernel)))`` and the bias at zero, as in MLX.
"""

import math

import ferrox.core as mx

from .base import Module
from .convolution import _ntuple


class _ConvTransposeNd(Module):
    """Shared construction and call; ``_n`` is the number of spatial dimensions."""

    _n = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding, bias):
        super().__init__()
        n = self._n
        kernel = _ntuple(kernel_size, n)
        scale = math.sqrt(1.0 / (in_channels * math.prod(kernel)))
        self.weight = mx.random.uniform(low=-scale, high=scale, shape=(out_channels, *kernel, in_channels))
        if bias:
            self.bias = mx.zeros((out_channels,))
        if n == 1:
            # MLX keeps the 1-D settings as given (ints), the N-D ones as tuples.
            self.padding, self.dilation, self.stride, self.output_padding = padding, dilation, stride, output_padding
        else:
            self.padding = _ntuple(padding, n)
            self.stride = _ntuple(stride, n)
            self.output_padding = _ntuple(output_padding, n)
            self.dilation = dilation

    def _extra_repr(self):
        w = self.weight
        kernel = w.shape[1] if self._n == 1 else tuple(w.shape[1:-1])
        return (
            f"{w.shape[-1]}, {w.shape[0]}, kernel_size={kernel}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, "
            f"output_padding={self.output_padding}, bias={'bias' in self}"
        )

    def __call__(self, x):
        op = (mx.conv_transpose1d, mx.conv_transpose2d, mx.conv_transpose3d)[self._n - 1]
        y = op(x, self["weight"], self.stride, self.padding, self.dilation, self.output_padding)
        if "bias" in self:
            y = y + self["bias"]
        return y


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over ``(N, L, C_in)`` inputs."""

    _n = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, output_padding=0,
                 bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding, bias)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution over ``(N, H, W, C_in)`` inputs; sizes are ints or pairs."""

    _n = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, output_padding=0,
                 bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding, bias)


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution over ``(N, D, H, W, C_in)`` inputs; sizes are ints or triples."""

    _n = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, output_padding=0,
                 bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding, bias)
