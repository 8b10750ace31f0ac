"""Dropout: zero elements (`Dropout`) or whole channels (`Dropout2d`, `Dropout3d`) with
probability ``p`` in training mode, scaling the rest by ``1/(1-p)``; identity in eval."""

import ferrox.core as mx

from .base import Module


class _DropoutBase(Module):
    def __init__(self, p=0.5):
        super().__init__()
        if p < 0 or p >= 1:
            raise ValueError(f"The dropout probability {p} is not in [0, 1)")
        self._p_1 = 1 - p  # keep probability

    def _extra_repr(self):
        return f"p={1 - self._p_1}"

    def _mask_shape(self, x):
        return x.shape

    def __call__(self, x):
        if self._p_1 == 1 or not self.training:
            return x
        mask = mx.random.bernoulli(self._p_1, self._mask_shape(x))
        return (mask * x) * (1 / self._p_1)


class Dropout(_DropoutBase):
    """Zero each element independently with probability ``p``."""


class Dropout2d(_DropoutBase):
    """Zero whole channels of ``(N, H, W, C)`` or ``(H, W, C)`` inputs."""

    def _mask_shape(self, x):
        if x.ndim not in (3, 4):
            raise ValueError(f"Received input with {x.ndim} dimensions. Expected 3 or 4 dimensions.")
        shape = list(x.shape)
        shape[-2] = shape[-3] = 1
        return shape


class Dropout3d(_DropoutBase):
    """Zero whole channels of ``(N, D, H, W, C)`` or ``(D, H, W, C)`` inputs."""

    def _mask_shape(self, x):
        if x.ndim not in (4, 5):
            raise ValueError(f"Received input with {x.ndim} dimensions. Expected 4 or 5 dimensions.")
        shape = list(x.shape)
        shape[-2] = shape[-3] = shape[-4] = 1
        return shape
