"""Convolution layers ``Conv1d``, ``Conv2d``, ``Conv3d`` (channels-last, as MLX).

Inputs are ``(N, *spatial, C_in)``; the weight is ``(C_out, *kernel, C_in // groups)``
and the optional bias ``(C_out,)``. The weight starts uniform in ``[-s, s]`` with
``s = sqrt(1 / (C_in // groups * prod(kernel)))`` and the bias at zero, as in MLX.
The parameter names (``weight``, ``bias``) match MLX's checkpoints.
"""

import math

import ferrox.core as mx

from .base import Module


def _ntuple(value, n):
    """An int repeated ``n`` times, or a given tuple as is."""
    return (value,) * n if isinstance(value, int) else tuple(value)


def _init_conv(module, in_channels, out_channels, kernel_size, groups, bias):
    if in_channels % groups != 0:
        raise ValueError(
            f"The number of input channels ({in_channels}) must be divisible by "
            f"the number of groups ({groups})"
        )
    fan_in = in_channels // groups * math.prod(kernel_size)
    scale = math.sqrt(1.0 / fan_in)
    module.weight = mx.random.uniform(
        low=-scale, high=scale, shape=(out_channels, *kernel_size, in_channels // groups)
    )
    if bias:
        module.bias = mx.zeros((out_channels,))


def _conv_repr(module, n, groups=True):
    w = module.weight
    kernel = w.shape[1:-1]
    in_channels = w.shape[-1] * getattr(module, "groups", 1)
    kernel = kernel[0] if n == 1 else tuple(kernel)
    text = (
        f"{in_channels}, {w.shape[0]}, kernel_size={kernel}, stride={module.stride}, "
        f"padding={module.padding}, dilation={module.dilation}, "
    )
    if groups:
        text += f"groups={module.groups}, "
    return text + f"bias={'bias' in module}"


class Conv1d(Module):
    """1-D convolution over ``(N, L, C_in)`` inputs.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: the window length.
        stride, padding, dilation: as in ``mx.conv1d``.
        groups: split channels into this many independent groups.
        bias: add a learned bias.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True):
        super().__init__()
        _init_conv(self, in_channels, out_channels, (kernel_size,), groups, bias)
        self.padding = padding
        self.dilation = dilation
        self.stride = stride
        self.groups = groups

    def _extra_repr(self):
        return _conv_repr(self, 1)

    def __call__(self, x):
        y = mx.conv1d(x, self["weight"], self.stride, self.padding, self.dilation, self.groups)
        if "bias" in self:
            y = y + self["bias"]
        return y


class Conv2d(Module):
    """2-D convolution over ``(N, H, W, C_in)`` inputs; ``kernel_size``, ``stride``,
    ``padding`` and ``dilation`` are ints or pairs."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True):
        super().__init__()
        kernel_size, stride, padding = (_ntuple(v, 2) for v in (kernel_size, stride, padding))
        _init_conv(self, in_channels, out_channels, kernel_size, groups, bias)
        self.padding = padding
        self.stride = stride
        self.dilation = dilation
        self.groups = groups

    def _extra_repr(self):
        return _conv_repr(self, 2)

    def __call__(self, x):
        y = mx.conv2d(x, self["weight"], self.stride, self.padding, self.dilation, self.groups)
        if "bias" in self:
            y = y + self["bias"]
        return y


class Conv3d(Module):
    """3-D convolution over ``(N, D, H, W, C_in)`` inputs; ``kernel_size``, ``stride``,
    ``padding`` and ``dilation`` are ints or triples. No groups, as in MLX."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True):
        super().__init__()
        kernel_size, stride, padding = (_ntuple(v, 3) for v in (kernel_size, stride, padding))
        _init_conv(self, in_channels, out_channels, kernel_size, 1, bias)
        self.padding = padding
        self.stride = stride
        self.dilation = dilation

    def _extra_repr(self):
        return _conv_repr(self, 3, groups=False)

    def __call__(self, x):
        y = mx.conv3d(x, self["weight"], self.stride, self.padding, self.dilation)
        if "bias" in self:
            y = y + self["bias"]
        return y
