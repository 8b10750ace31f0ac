"""Affine layers: `Identity`, `Linear`, `Bilinear`."""

import math

import ferrox.core as mx

from .base import Module


class Identity(Module):
    """Returns its input; accepts and ignores any constructor arguments."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def __call__(self, x):
        return x


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape ``(output_dims, input_dims)``.

    Weights and bias start uniform in ``[-1/sqrt(input_dims), 1/sqrt(input_dims)]``."""

    def __init__(self, input_dims, output_dims, bias=True):
        super().__init__()
        scale = math.sqrt(1.0 / input_dims)
        self.weight = mx.random.uniform(low=-scale, high=scale, shape=(output_dims, input_dims))
        if bias:
            self.bias = mx.random.uniform(low=-scale, high=scale, shape=(output_dims,))

    def _extra_repr(self):
        out, inp = self.weight.shape
        return f"input_dims={inp}, output_dims={out}, bias={'bias' in self}"

    def __call__(self, x):
        if "bias" in self:
            return mx.addmm(self["bias"], x, self["weight"].T)
        return x @ self["weight"].T

    def to_quantized(self, group_size=None, bits=None, mode="affine", quantize_input=False):
        """A `QuantizedLinear` (or, with ``quantize_input``, a `QQLinear`) of this layer."""
        from .quantized import QQLinear, QuantizedLinear

        if quantize_input:
            if mode not in ("nvfp4", "mxfp8"):
                raise ValueError(f"Quantized activations are only supported for 'nvfp4' and 'mxfp8' modes, got {mode}.")
            return QQLinear.from_linear(self, group_size, bits, mode)
        return QuantizedLinear.from_linear(self, group_size, bits, mode)


class Bilinear(Module):
    """``y[..., o] = sum_ij x1[..., i] * weight[o, j, i] * x2[..., j] + bias[o]``,
    ``weight`` of shape ``(output_dims, input2_dims, input1_dims)``."""

    def __init__(self, input1_dims, input2_dims, output_dims, bias=True):
        super().__init__()
        scale = math.sqrt(1.0 / input1_dims)
        self.weight = mx.random.uniform(low=-scale, high=scale, shape=(output_dims, input2_dims, input1_dims))
        if bias:
            self.bias = mx.random.uniform(low=-scale, high=scale, shape=(output_dims,))

    def _extra_repr(self):
        out, in2, in1 = self.weight.shape
        return f"input1_dims={in1}, input2_dims={in2}, output_dims={out}, bias={'bias' in self}"

    def __call__(self, x1, x2):
        out, in2, in1 = self["weight"].shape
        lead = x1.shape[:-1]
        # Two matmuls: first contract x1 with the (out*in2, in1) weight, then x2 with the
        # (in2) axis of that result, one row of the batch at a time.
        t = x1.reshape(-1, in1) @ self["weight"].reshape(out * in2, in1).T  # (B, out*in2)
        t = t.reshape(-1, out, in2)
        y = (x2.reshape(-1, 1, in2) @ t.swapaxes(-1, -2)).squeeze(1)  # (B, out)
        if "bias" in self:
            y = y + self["bias"]
        return y.reshape(*lead, out)
