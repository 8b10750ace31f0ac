"""Attention and the Transformer stacks: `MultiHeadAttention`,
`TransformerEncoderLayer`, `TransformerDecoderLayer`, `TransformerEncoder`,
`TransformerDecoder`, `Transformer` (inputs are ``(batch, length, dims)``)."""

import math

import ferrox.core as mx

from ..utils import checkpoint as _checkpoint
from .activations import relu
from .base import Module
from .dropout import Dropout
from .linear import Linear
from .normalization import LayerNorm


class MultiHeadAttention(Module):
    """Scaled dot-product attention over ``num_heads`` heads with input projections
    ``query_proj``, ``key_proj``, ``value_proj`` and output projection ``out_proj``.

    ``mask`` is added to the attention scores (see `create_additive_causal_mask`) or
    is a boolean mask, as `mx.fast.scaled_dot_product_attention` takes it."""

    def __init__(
        self,
        dims,
        num_heads,
        query_input_dims=None,
        key_input_dims=None,
        value_input_dims=None,
        value_dims=None,
        value_output_dims=None,
        bias=False,
    ):
        super().__init__()
        if dims % num_heads != 0:
            raise ValueError(
                "The input feature dimensions should be divisible by the "
                f"number of heads ({dims} % {num_heads}) != 0"
            )
        query_input_dims = query_input_dims or dims
        key_input_dims = key_input_dims or dims
        value_input_dims = value_input_dims or key_input_dims
        value_dims = value_dims or dims
        value_output_dims = value_output_dims or dims
        self.num_heads = num_heads
        self.query_proj = Linear(query_input_dims, dims, bias=bias)
        self.key_proj = Linear(key_input_dims, dims, bias=bias)
        self.value_proj = Linear(value_input_dims, value_dims, bias=bias)
        self.out_proj = Linear(value_dims, value_output_dims, bias=bias)

    def __call__(self, queries, keys, values, mask=None):
        q = self.query_proj(queries)
        k = self.key_proj(keys)
        v = self.value_proj(values)
        h = self.num_heads
        B, L, _ = q.shape
        S = k.shape[1]
        # (B, L, D) -> (B, heads, L, D/heads)
        q = q.reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        k = k.reshape(B, S, h, -1).transpose(0, 2, 1, 3)
        v = v.reshape(B, S, h, -1).transpose(0, 2, 1, 3)
        scale = math.sqrt(1.0 / q.shape[-1])
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)
        out = out.transpose(0, 2, 1, 3).reshape(B, L, -1)
        return self.out_proj(out)

    @staticmethod
    def create_additive_causal_mask(N, dtype=mx.float32):
        """``(N, N)`` mask: 0 on and below the diagonal, the dtype's most negative
        finite value above it (position i may not attend to j > i)."""
        idx = mx.arange(N)
        future = idx[:, None] < idx[None]
        return future.astype(dtype) * mx.finfo(dtype).min


class TransformerEncoderLayer(Module):
    """Self-attention then an MLP, each with a residual connection; LayerNorm before
    each block (``norm_first``) or after each residual sum."""

    def __init__(self, dims, num_heads, mlp_dims=None, dropout=0.0, activation=relu, norm_first=True):
        super().__init__()
        mlp_dims = mlp_dims or dims * 4
        self.attention = MultiHeadAttention(dims, num_heads)
        self.ln1 = LayerNorm(dims)
        self.ln2 = LayerNorm(dims)
        self.linear1 = Linear(dims, mlp_dims)
        self.linear2 = Linear(mlp_dims, dims)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = activation
        self.norm_first = norm_first

    def _mlp(self, x):
        return self.linear2(self.dropout2(self.activation(self.linear1(x))))

    def __call__(self, x, mask):
        if self.norm_first:
            y = self.ln1(x)
            x = x + self.dropout1(self.attention(y, y, y, mask))
            return x + self._mlp(self.ln2(x))
        x = self.ln1(x + self.dropout1(self.attention(x, x, x, mask)))
        return self.ln2(x + self._mlp(x))


class TransformerDecoderLayer(Module):
    """Self-attention, cross-attention over ``memory``, then an MLP, each with a
    residual connection and a LayerNorm (before, with ``norm_first``, or after)."""

    def __init__(self, dims, num_heads, mlp_dims=None, dropout=0.0, activation=relu, norm_first=True):
        super().__init__()
        mlp_dims = mlp_dims or dims * 4
        self.self_attention = MultiHeadAttention(dims, num_heads)
        self.cross_attention = MultiHeadAttention(dims, num_heads)
        self.ln1 = LayerNorm(dims)
        self.ln2 = LayerNorm(dims)
        self.ln3 = LayerNorm(dims)
        self.linear1 = Linear(dims, mlp_dims)
        self.linear2 = Linear(mlp_dims, dims)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = activation
        self.norm_first = norm_first

    def _mlp(self, x):
        return self.linear2(self.dropout3(self.activation(self.linear1(x))))

    def __call__(self, x, memory, x_mask, memory_mask):
        if self.norm_first:
            y = self.ln1(x)
            x = x + self.dropout1(self.self_attention(y, y, y, x_mask))
            y = self.ln2(x)
            x = x + self.dropout2(self.cross_attention(y, memory, memory, memory_mask))
            return x + self._mlp(self.ln3(x))
        x = self.ln1(x + self.dropout1(self.self_attention(x, x, x, x_mask)))
        x = self.ln2(x + self.dropout2(self.cross_attention(x, memory, memory, memory_mask)))
        return self.ln3(x + self._mlp(x))


def _run(layer, use_checkpoint, *args):
    # Gradient checkpointing recomputes the layer in the backward pass to save memory.
    return _checkpoint(layer)(*args) if use_checkpoint else layer(*args)


class TransformerEncoder(Module):
    """``num_layers`` encoder layers (``layers.i``) followed by a LayerNorm (``ln``)."""

    def __init__(
        self, num_layers, dims, num_heads, mlp_dims=None, dropout=0.0, activation=relu, norm_first=True, checkpoint=False
    ):
        super().__init__()
        self.layers = [
            TransformerEncoderLayer(dims, num_heads, mlp_dims, dropout, activation, norm_first) for _ in range(num_layers)
        ]
        self.ln = LayerNorm(dims)
        self.checkpoint = checkpoint

    def __call__(self, x, mask):
        for layer in self.layers:
            x = _run(layer, self.checkpoint, x, mask)
        return self.ln(x)


class TransformerDecoder(Module):
    """``num_layers`` decoder layers (``layers.i``) followed by a LayerNorm (``ln``)."""

    def __init__(
        self, num_layers, dims, num_heads, mlp_dims=None, dropout=0.0, activation=relu, norm_first=True, checkpoint=False
    ):
        super().__init__()
        self.layers = [
            TransformerDecoderLayer(dims, num_heads, mlp_dims, dropout, activation, norm_first) for _ in range(num_layers)
        ]
        self.ln = LayerNorm(dims)
        self.checkpoint = checkpoint

    def __call__(self, x, memory, x_mask, memory_mask):
        for layer in self.layers:
            x = _run(layer, self.checkpoint, x, memory, x_mask, memory_mask)
        return self.ln(x)


class Transformer(Module):
    """An encoder over ``src`` whose output is the memory of a decoder over ``tgt``."""

    def __init__(
        self,
        dims=512,
        num_heads=8,
        num_encoder_layers=6,
        num_decoder_layers=6,
        mlp_dims=None,
        dropout=0.0,
        activation=relu,
        custom_encoder=None,
        custom_decoder=None,
        norm_first=True,
        checkpoint=False,
    ):
        super().__init__()
        self.encoder = custom_encoder or TransformerEncoder(
            num_encoder_layers, dims, num_heads, mlp_dims, dropout, activation, norm_first, checkpoint
        )
        self.decoder = custom_decoder or TransformerDecoder(
            num_decoder_layers, dims, num_heads, mlp_dims, dropout, activation, norm_first, checkpoint
        )

    def __call__(self, src, tgt, src_mask, tgt_mask, memory_mask):
        memory = self.encoder(src, src_mask)
        return self.decoder(tgt, memory, tgt_mask, memory_mask)
