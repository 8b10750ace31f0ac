"""Quantized layers (`QuantizedLinear`, `QuantizedEmbedding`, `QQLinear`) and
`quantize`, which swaps a model's `Linear`/`Embedding` layers for them in place.

The packed ``weight``, ``scales`` and (affine mode only) ``biases`` are frozen
parameters: they are saved and loaded under those keys, as in MLX, but not trained.
"""

import math

import ferrox.core as mx

from .base import Module

# (group_size, bits) used when the caller leaves them None, per mode.
_DEFAULTS = {"affine": (64, 4), "mxfp4": (32, 4), "nvfp4": (16, 4), "mxfp8": (32, 8)}


def _defaults(group_size, bits, mode):
    gs, b = _DEFAULTS.get(mode, (64, 4))
    return (gs if group_size is None else group_size), (b if bits is None else bits)


class _Quantized(Module):
    """Holds ``weight``/``scales``/``biases`` from ``mx.quantize`` and keeps them frozen."""

    def _set_quantized(self, w):
        self.weight, self.scales, *biases = mx.quantize(w, self.group_size, self.bits, mode=self.mode)
        # Only affine mode has biases; the others store None as a plain attribute.
        self.biases = biases[0] if biases else None

    def _qargs(self):
        return dict(group_size=self.group_size, bits=self.bits, mode=self.mode)

    def unfreeze(self, *args, **kwargs):
        """As `Module.unfreeze` for children, but the quantized parameters stay frozen."""
        super().unfreeze(*args, **kwargs)
        self.freeze(recurse=False)
        return self


class QuantizedLinear(_Quantized):
    """`Linear` with a quantized weight: ``quantized_matmul(x, weight.T) + bias``."""

    def __init__(self, input_dims, output_dims, bias=True, group_size=None, bits=None, mode="affine"):
        super().__init__()
        self.group_size, self.bits = _defaults(group_size, bits, mode)
        self.mode = mode
        scale = math.sqrt(1.0 / input_dims)
        self._set_quantized(mx.random.uniform(low=-scale, high=scale, shape=(output_dims, input_dims)))
        if bias:
            self.bias = mx.zeros((output_dims,))
        self.freeze()

    def _extra_repr(self):
        out = self.weight.shape[0]
        inp = self.weight.shape[1] * 32 // self.bits
        return (
            f"input_dims={inp}, output_dims={out}, bias={'bias' in self}, "
            f"group_size={self.group_size}, bits={self.bits}, mode={self.mode}"
        )

    def __call__(self, x):
        y = mx.quantized_matmul(
            x, self["weight"], scales=self["scales"], biases=self.get("biases"), transpose=True, **self._qargs()
        )
        if "bias" in self:
            y = y + self["bias"]
        return y

    @classmethod
    def from_linear(cls, linear_layer, group_size=None, bits=None, mode="affine"):
        """A `QuantizedLinear` holding ``linear_layer``'s weight quantized (and its bias)."""
        output_dims, input_dims = linear_layer.weight.shape
        ql = cls(input_dims, output_dims, False, group_size, bits, mode=mode)
        ql._set_quantized(linear_layer.weight)
        if "bias" in linear_layer:
            ql.bias = linear_layer.bias
        ql.freeze()
        return ql


class QuantizedEmbedding(_Quantized):
    """`Embedding` with a quantized table; rows are dequantized on lookup."""

    def __init__(self, num_embeddings, dims, group_size=None, bits=None, mode="affine"):
        super().__init__()
        self.group_size, self.bits = _defaults(group_size, bits, mode)
        self.mode = mode
        self.num_embeddings = num_embeddings
        self.dims = dims
        self._set_quantized(mx.random.normal(shape=(num_embeddings, dims), scale=math.sqrt(1.0 / dims)))
        self.freeze()

    def _extra_repr(self):
        return f"{self.num_embeddings}, {self.dims}, group_size={self.group_size}, bits={self.bits}, mode={self.mode}"

    def __call__(self, x):
        shape = x.shape
        idx = x.flatten()
        biases = self.get("biases")
        out = mx.dequantize(
            self["weight"][idx],
            scales=self["scales"][idx],
            biases=None if biases is None else biases[idx],
            **self._qargs(),
        )
        return out.reshape(*shape, -1)

    def as_linear(self, x):
        """The table as a tied output projection: ``x @ dequantized_weight.T``."""
        return mx.quantized_matmul(
            x, self["weight"], scales=self["scales"], biases=self.get("biases"), transpose=True, **self._qargs()
        )

    @classmethod
    def from_embedding(cls, embedding_layer, group_size=None, bits=None, mode="affine"):
        """A `QuantizedEmbedding` holding ``embedding_layer``'s table quantized."""
        num_embeddings, dims = embedding_layer.weight.shape
        qe = cls(num_embeddings, dims, group_size, bits, mode=mode)
        qe._set_quantized(embedding_layer.weight)
        qe.freeze()
        return qe


class QQLinear(Module):
    """A bias-free linear layer that quantizes both its inputs and its weight
    (``mx.qqmm``). In training mode the weight is kept in floating point (quantized on
    the fly); `eval` stores it quantized (``weight`` + ``scales``), `train` restores a
    bfloat16 weight."""

    def __init__(self, input_dims, output_dims, group_size=None, bits=None, mode="nvfp4"):
        super().__init__()
        self.group_size, self.bits = _defaults(group_size, bits, mode)
        self.mode = mode
        scale = math.sqrt(1.0 / input_dims)
        self.weight = mx.random.uniform(low=-scale, high=scale, shape=(output_dims, input_dims))
        self._quantized = False

    def _extra_repr(self):
        out, inp = self.weight.shape
        if self._quantized:
            inp = inp * 32 // self.bits
        return f"input_dims={inp}, output_dims={out}, group_size={self.group_size}, bits={self.bits}, mode={self.mode}"

    def quantize(self):
        """Store the weight quantized (no-op if it already is)."""
        if not self._quantized:
            self.weight, self.scales = mx.quantize(self["weight"], self.group_size, self.bits, mode=self.mode)
            self._quantized = True

    def dequantize(self):
        """Store the weight in bfloat16 again (no-op if it is not quantized)."""
        if self._quantized:
            self.weight = mx.dequantize(
                self["weight"], scales=self.pop("scales"), group_size=self.group_size, bits=self.bits,
                mode=self.mode, dtype=mx.bfloat16,
            )
            self._quantized = False

    def _set_training_mode(self, mode):
        super()._set_training_mode(mode)
        if mode:
            self.dequantize()
        else:
            self.quantize()

    def __call__(self, x):
        # Note: on the CPU, MLX 0.32.4's qqmm is "NYI for the general case" (at eval);
        # ferrox.core.qqmm raises the same error when called.
        return mx.qqmm(x, self["weight"], self.get("scales"), group_size=self.group_size, bits=self.bits, mode=self.mode)

    @classmethod
    def from_linear(cls, linear_layer, group_size=None, bits=None, mode="nvfp4"):
        """A `QQLinear` with ``linear_layer``'s weight (which must have no bias)."""
        if "bias" in linear_layer:
            raise NotImplementedError("QQLinear does not support bias yet.")
        output_dims, input_dims = linear_layer.weight.shape
        ql = cls(input_dims, output_dims, group_size, bits, mode=mode)
        ql.weight = linear_layer.weight
        ql.train(linear_layer.training)
        return ql


def quantize(model, group_size=None, bits=None, *, mode="affine", quantize_input=False, class_predicate=None):
    """Replace, in place, the leaf modules that have ``to_quantized`` (`Linear`,
    `Embedding`) and that ``class_predicate(path, module)`` accepts with their quantized
    versions. The predicate may return a dict of arguments for ``to_quantized``."""
    if class_predicate is None:
        class_predicate = lambda _, m: hasattr(m, "to_quantized")  # noqa: E731

    def maybe_quantize(path, m):
        choice = class_predicate(path, m)
        if not choice:
            return m
        if not hasattr(m, "to_quantized"):
            raise ValueError(f"Unable to quantize model of type {type(m)}")
        if isinstance(choice, bool):
            kwargs = {"group_size": group_size, "bits": bits, "mode": mode}
            if quantize_input:
                kwargs["quantize_input"] = True
            return m.to_quantized(**kwargs)
        if isinstance(choice, dict):
            return m.to_quantized(**choice)
        raise ValueError("``class_predicate`` must return a bool or a dict of parameters to pass to ``to_quantized``")

    def walk(tree, path):
        if isinstance(tree, Module):
            return maybe_quantize(path, tree)
        if isinstance(tree, dict):
            return {k: walk(v, f"{path}.{k}" if path else k) for k, v in tree.items()}
        if isinstance(tree, list):
            return [walk(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(tree)]
        return tree

    model.update_modules(walk(model.leaf_modules(), ""))
