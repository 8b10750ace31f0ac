"""`Embedding`: a lookup table of vectors, also usable as the tied output projection."""

import math

import ferrox.core as mx

from .base import Module


class Embedding(Module):
    """``weight`` of shape ``(num_embeddings, dims)``, initialised normal with standard
    deviation ``1/sqrt(dims)``; calling it gathers rows by integer index."""

    def __init__(self, num_embeddings, dims):
        super().__init__()
        scale = math.sqrt(1.0 / dims)
        self.weight = mx.random.normal(shape=(num_embeddings, dims), scale=scale)

    def _extra_repr(self):
        return f"{self.weight.shape[0]}, {self.weight.shape[1]}"

    def __call__(self, x):
        return self["weight"][x]

    def as_linear(self, x):
        """Use the table as a linear layer (``x @ weight.T``), e.g. to tie input and
        output embeddings."""
        return x @ self["weight"].T

    def to_quantized(self, group_size=None, bits=None, mode="affine", quantize_input=False):
        """A `QuantizedEmbedding` of this layer."""
        from .quantized import QuantizedEmbedding

        if quantize_input:
            raise ValueError("Quantized input is not supported.")
        return QuantizedEmbedding.from_embedding(self, group_size, bits, mode)
