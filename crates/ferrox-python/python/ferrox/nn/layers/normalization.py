"""Normalization layers: `LayerNorm`, `RMSNorm`, `GroupNorm`, `InstanceNorm`, `BatchNorm`.

All normalize over features in the last axis (channels-last, as everywhere in MLX)."""

import ferrox.core as mx

from .base import Module


class LayerNorm(Module):
    """Normalize over the last axis, then ``* weight + bias`` (``affine``, ``bias``)."""

    def __init__(self, dims, eps=1e-5, affine=True, bias=True):
        super().__init__()
        if affine:
            self.weight = mx.ones((dims,))
            if bias:
                self.bias = mx.zeros((dims,))
        self.eps = eps
        self.dims = dims

    def _extra_repr(self):
        return f"{self.dims}, eps={self.eps}, affine={'weight' in self}"

    def __call__(self, x):
        weight = self["weight"] if "weight" in self else None
        bias = self["bias"] if "bias" in self else None
        return mx.fast.layer_norm(x, weight, bias, self.eps)


class RMSNorm(Module):
    """``x / sqrt(mean(x**2) + eps) * weight`` over the last axis."""

    def __init__(self, dims, eps=1e-5):
        super().__init__()
        self.weight = mx.ones((dims,))
        self.eps = eps

    def _extra_repr(self):
        return f"{self.weight.shape[0]}, eps={self.eps}"

    def __call__(self, x):
        return mx.fast.rms_norm(x, self["weight"], self.eps)


def _normalize(x, axes, eps):
    mean = mx.mean(x, axis=axes, keepdims=True)
    var = mx.var(x, axis=axes, keepdims=True)
    return (x - mean) * mx.rsqrt(var + eps)


class GroupNorm(Module):
    """Normalize each sample over all positions and a group of channels.

    MLX's default grouping is strided (channel ``c`` is in group ``c % num_groups``);
    ``pytorch_compatible=True`` uses contiguous blocks of channels as PyTorch does."""

    def __init__(self, num_groups, dims, eps=1e-5, affine=True, pytorch_compatible=False):
        super().__init__()
        if dims % num_groups != 0:
            raise ValueError(
                f"The number of features ({dims}) must be evenly divisible by the number of groups ({num_groups})."
            )
        if affine:
            # bias before weight: the entry order MLX saves in.
            self.bias = mx.zeros((dims,))
            self.weight = mx.ones((dims,))
        self.num_groups = num_groups
        self.dims = dims
        self.eps = eps
        self.pytorch_compatible = pytorch_compatible

    def _extra_repr(self):
        return (
            f"{self.num_groups}, {self.dims}, eps={self.eps}, "
            f"affine={'weight' in self}, pytorch_compatible={self.pytorch_compatible}"
        )

    def __call__(self, x):
        shape = x.shape
        batch, dims, g = shape[0], shape[-1], self.num_groups
        if self.pytorch_compatible:
            # (B, P, G, D/G): each group is a contiguous block of channels.
            y = x.reshape(batch, -1, g, dims // g)
        else:
            # (B, P, D/G, G): channel c = k*G + g lands in group g.
            y = x.reshape(batch, -1, dims // g, g)
        axes = (1, 3) if self.pytorch_compatible else (1, 2)
        y = _normalize(y, axes, self.eps).reshape(shape)
        if "weight" in self:
            y = self["weight"] * y + self["bias"]
        return y


class InstanceNorm(Module):
    """Normalize each sample and channel over the spatial axes (all but first and last)."""

    def __init__(self, dims, eps=1e-5, affine=False):
        super().__init__()
        if affine:
            self.weight = mx.ones((dims,))
            self.bias = mx.zeros((dims,))
        self.dims = dims
        self.eps = eps

    def _extra_repr(self):
        return f"{self.dims}, eps={self.eps}, affine={'weight' in self}"

    def __call__(self, x):
        y = _normalize(x, tuple(range(1, x.ndim - 1)), self.eps)
        if "weight" in self:
            y = self["weight"] * y + self["bias"]
        return y


class BatchNorm(Module):
    """Normalize over the batch (and spatial) axes, per feature in the last axis.

    In training mode the batch statistics are used and, with ``track_running_stats``,
    folded into ``running_mean``/``running_var`` (unbiased variance) with ``momentum``;
    in eval mode the running statistics are used. The running statistics are
    parameters for checkpoints but always frozen."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = mx.ones((num_features,))
            self.bias = mx.zeros((num_features,))
        if track_running_stats:
            self.running_mean = mx.zeros((num_features,))
            self.running_var = mx.ones((num_features,))
            self.freeze(keys=["running_mean", "running_var"], recurse=False)

    def unfreeze(self, *args, **kwargs):
        """As `Module.unfreeze`, but the running statistics stay frozen."""
        super().unfreeze(*args, **kwargs)
        if self.track_running_stats:
            self.freeze(keys=["running_mean", "running_var"], recurse=False)
        return self

    def _extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={'weight' in self}, track_running_stats={self.track_running_stats}"
        )

    def __call__(self, x):
        if x.ndim < 2 or x.ndim > 4:
            raise ValueError(f"Expected input tensor to have 2, 3 or 4 dimensions, but got {x.ndim}")
        if self.training or not self.track_running_stats:
            axes = tuple(range(x.ndim - 1))
            mean = mx.mean(x, axis=axes)
            var = mx.var(x, axis=axes)
            if self.training and self.track_running_stats:
                mu = self.momentum
                n = x.size / x.shape[-1]
                self.running_mean = (1 - mu) * self["running_mean"] + mu * mean
                self.running_var = (1 - mu) * self["running_var"] + mu * var * (n / (n - 1))
        else:
            mean, var = self["running_mean"], self["running_var"]
        y = (x - mean) * mx.rsqrt(var + self.eps)
        if "weight" in self:
            y = self["weight"] * y + self["bias"]
        return y
