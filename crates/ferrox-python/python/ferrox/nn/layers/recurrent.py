"""Recurrent layers ``RNN``, ``GRU`` and ``LSTM`` with MLX's parameter names and
layouts, so MLX checkpoints load unchanged.

Inputs are ``(L, D)`` or ``(N, L, D)`` (time on the second-to-last axis); the
outputs hold the hidden state of every step, ``(..., L, H)``. All weights and
biases start uniform in ``[-1/sqrt(H), 1/sqrt(H)]``. The input projection of all
steps is one matmul before the time loop; only the hidden-to-hidden product is
sequential.
"""

import math

import ferrox.core as mx

from .base import Module


def _uniform(scale, shape):
    return mx.random.uniform(low=-scale, high=scale, shape=shape)


def _project(x, weight, bias):
    """``x @ weight.T (+ bias)`` over every time step at once."""
    if bias is not None:
        return mx.addmm(bias, x, weight.T)
    return x @ weight.T


class RNN(Module):
    """Elman RNN: ``h_t = nonlinearity(x_t @ Wxh.T + bias + h_{t-1} @ Whh.T)``.

    Args:
        input_size: features of the input ``D``.
        hidden_size: features of the hidden state ``H``.
        bias: whether to learn ``bias``.
        nonlinearity: a callable; ``tanh`` when ``None``.
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity=None):
        super().__init__()
        self.nonlinearity = nonlinearity or mx.tanh
        if not callable(self.nonlinearity):
            raise ValueError(f"Nonlinearity must be callable. Current value: {nonlinearity}.")
        scale = 1.0 / math.sqrt(hidden_size)
        self.hidden_size = hidden_size
        self.Wxh = _uniform(scale, (hidden_size, input_size))
        self.Whh = _uniform(scale, (hidden_size, hidden_size))
        self.bias = _uniform(scale, (hidden_size,)) if bias else None

    def _extra_repr(self):
        return (
            f"input_dims={self.Wxh.shape[1]}, hidden_size={self.hidden_size}, "
            f"nonlinearity={self.nonlinearity}, bias={self.bias is not None}"
        )

    def __call__(self, x, hidden=None):
        x = _project(x, self.Wxh, self.bias)
        outputs = []
        for t in range(x.shape[-2]):
            h = x[..., t, :]
            if hidden is not None:
                h = mx.addmm(h, hidden, self.Whh.T)
            hidden = self.nonlinearity(h)
            outputs.append(hidden)
        return mx.stack(outputs, axis=-2)


class GRU(Module):
    """Gated recurrent unit with gates ordered ``r, z, n`` in ``Wx`` ``(3H, D)``,
    ``Wh`` ``(3H, H)`` and ``b`` ``(3H,)``; ``bhn`` ``(H,)`` is the hidden bias of
    the candidate, applied inside the reset gate:

    ``r, z = sigmoid(x W_{r,z} + b_{r,z} + h Wh_{r,z})``,
    ``n = tanh(x W_n + b_n + r * (h Wh_n + bhn))``, ``h' = (1 - z) n + z h``.
    """

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.hidden_size = hidden_size
        scale = 1.0 / math.sqrt(hidden_size)
        self.Wx = _uniform(scale, (3 * hidden_size, input_size))
        self.Wh = _uniform(scale, (3 * hidden_size, hidden_size))
        self.b = _uniform(scale, (3 * hidden_size,)) if bias else None
        self.bhn = _uniform(scale, (hidden_size,)) if bias else None

    def _extra_repr(self):
        return f"input_dims={self.Wx.shape[1]}, hidden_size={self.hidden_size}, bias={self.b is not None}"

    def __call__(self, x, hidden=None):
        H = self.hidden_size
        x = _project(x, self.Wx, self.b)
        x_rz, x_n = x[..., : 2 * H], x[..., 2 * H :]
        W_rz, W_n = self.Wh[: 2 * H], self.Wh[2 * H :]
        outputs = []
        for t in range(x.shape[-2]):
            rz = x_rz[..., t, :]
            h_n = self.bhn  # the hidden contribution to the candidate, before the reset gate
            if hidden is not None:
                rz = rz + hidden @ W_rz.T
                h_n = hidden @ W_n.T if h_n is None else mx.addmm(h_n, hidden, W_n.T)
            r, z = mx.split(mx.sigmoid(rz), 2, axis=-1)
            n = x_n[..., t, :]
            if h_n is not None:
                n = n + r * h_n
            n = mx.tanh(n)
            # (1 - z) n + z h, with h = 0 before the first step
            hidden = (1 - z) * n if hidden is None else (1 - z) * n + z * hidden
            outputs.append(hidden)
        return mx.stack(outputs, axis=-2)


class LSTM(Module):
    """Long short-term memory with gates ordered ``i, f, g, o`` in ``Wx`` ``(4H, D)``,
    ``Wh`` ``(4H, H)`` and ``bias`` ``(4H,)``.

    Returns ``(hidden_states, cell_states)``, each ``(..., L, H)``.
    """

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.hidden_size = hidden_size
        scale = 1.0 / math.sqrt(hidden_size)
        self.Wx = _uniform(scale, (4 * hidden_size, input_size))
        self.Wh = _uniform(scale, (4 * hidden_size, hidden_size))
        self.bias = _uniform(scale, (4 * hidden_size,)) if bias else None

    def _extra_repr(self):
        return f"input_dims={self.Wx.shape[1]}, hidden_size={self.hidden_size}, bias={self.bias is not None}"

    def __call__(self, x, hidden=None, cell=None):
        x = _project(x, self.Wx, self.bias)
        all_hidden, all_cell = [], []
        for t in range(x.shape[-2]):
            gates = x[..., t, :]
            if hidden is not None:
                gates = mx.addmm(gates, hidden, self.Wh.T)
            i, f, g, o = mx.split(gates, 4, axis=-1)
            i, f, g, o = mx.sigmoid(i), mx.sigmoid(f), mx.tanh(g), mx.sigmoid(o)
            cell = i * g if cell is None else f * cell + i * g
            hidden = o * mx.tanh(cell)
            all_hidden.append(hidden)
            all_cell.append(cell)
        return mx.stack(all_hidden, axis=-2), mx.stack(all_cell, axis=-2)
