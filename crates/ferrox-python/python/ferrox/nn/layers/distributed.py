"""Layers for training and running a model across a `mx.distributed` group.

Tensor parallelism splits one linear layer over the group's members:

* `AllToShardedLinear` takes the full input and gives each member a slice of the output
  features (its weight is a slice of the rows of the full weight);
* `ShardedToAllLinear` takes each member's slice of the input features and sums the
  partial products over the group, so every member ends with the full output.

Stacked, all-to-sharded then sharded-to-all, they make an MLP that needs one
communication per forward pass. `shard_linear` builds either from an existing
(`Quantized`)`Linear`; `shard_inplace` slices any module's parameters in place.

Fully sharded data parallelism (`FullyShardedModule`, `fully_shard`) keeps only a slice
of every parameter on each member, gathers the full parameters for the forward pass and
scatters the summed gradients back to the slices.

On one process (ferrox's default group has size 1) every communication is the identity
and every "slice" is the whole array, so these layers compute what `Linear`,
`QuantizedLinear` and the wrapped module compute; the semantics follow MLX 0.32.4.
"""

import math

import ferrox.core as mx

from ...utils import tree_flatten, tree_unflatten
from .base import Module
from .linear import Linear
from .quantized import _Quantized

_SHARDINGS = ("all-to-sharded", "sharded-to-all")


def _group(group):
    return group if group is not None else mx.distributed.init()


def sum_gradients(group):
    """An identity function whose gradient is summed over ``group``.

    An all-to-sharded layer sees the same input on every member, but each member's
    gradient for that input only covers its own output slice: the sum is the true one.
    """
    if group.size() == 1:
        return lambda x: x

    @mx.custom_function
    def identity(x):
        return x

    @identity.vjp
    def identity_vjp(primals, cotangent, output):
        return mx.distributed.all_sum(cotangent, group=group)

    return identity


# ---- slicing parameters ----------------------------------------------------------------


def _check_sharding(sharding):
    if sharding not in _SHARDINGS:
        raise ValueError(
            f"Sharding type {sharding=} not supported, choose one of 'all-to-sharded' or 'sharded-to-all'"
        )


def _predicate(sharding, segments):
    """The sharding rule a string names, as a ``(path, weight) -> axis/None`` callable."""
    _check_sharding(sharding)
    if sharding == "all-to-sharded":
        # Slice the output features: axis 0 of a (out, in) weight, of its bias and of a
        # quantized weight's scales/biases; for stacked (..., out, in) weights, axis -2.
        return lambda path, w: (max(w.ndim - 2, 0), segments)
    # Slice the input features (the last axis); the bias is added once, after the sum.
    return lambda path, w: None if path.endswith("bias") else (-1, segments)


def _split(weight, segments, axis, group):
    """This member's slice of ``weight`` along ``axis``.

    A weight can be several matrices concatenated (a fused QKV projection is 3): each
    segment is sliced separately so every member holds a slice of each. ``segments`` is
    a count of equal segments or a list of split points as fractions of the axis.
    """
    n, rank = group.size(), group.rank()
    if isinstance(segments, int):
        parts = mx.split(weight, segments, axis=axis)
    else:
        size = weight.shape[axis]
        parts = mx.split(weight, [int(f * size) for f in segments], axis=axis)
    mine = [mx.split(part, n, axis=axis)[rank] for part in parts]
    return mx.concatenate(mine, axis=axis) if len(mine) > 1 else mine[0]


def _shard(parameters, predicate, group):
    """The tree ``parameters`` with each leaf the predicate names replaced by its slice."""
    out = []
    for path, w in tree_flatten(parameters):
        rule = predicate(path, w)
        if rule is not None:
            axis, segments = rule if isinstance(rule, tuple) else (rule, 1)
            w = _split(w, segments, axis, group)
        out.append((path, w))
    return tree_unflatten(out)


def shard_inplace(module, sharding, *, segments=1, group=None):
    """Replaces ``module``'s parameters by this member's slices of them.

    ``sharding`` is "all-to-sharded", "sharded-to-all", or a callable
    ``(path, weight) -> None | axis | (axis, segments)``. Only the parameters change:
    the module communicates only if it was written to.
    """
    group = _group(group)
    predicate = sharding if callable(sharding) else _predicate(sharding, segments)
    module.update(_shard(module.parameters(), predicate, group))


def shard_linear(module, sharding, *, segments=1, group=None):
    """A new sharded layer built from ``module`` (a `Linear` or `QuantizedLinear`),
    which is left unchanged: "all-to-sharded" gives an `AllToShardedLinear` (or its
    quantized form), "sharded-to-all" a `ShardedToAllLinear`."""
    _check_sharding(sharding)
    quantized = not isinstance(module, Linear)
    cls = {
        ("all-to-sharded", False): AllToShardedLinear,
        ("sharded-to-all", False): ShardedToAllLinear,
        ("all-to-sharded", True): QuantizedAllToShardedLinear,
        ("sharded-to-all", True): QuantizedShardedToAllLinear,
    }[(sharding, quantized)]
    if quantized:
        return cls.from_quantized_linear(module, segments=segments, group=group)
    return cls.from_linear(module, segments=segments, group=group)


# ---- tensor-parallel linear layers --------------------------------------------------------


def _init_weight(input_dims, output_dims, bias, shape):
    """A weight of ``shape`` (this member's slice) and a bias of ``output_dims``, drawn
    as `Linear` draws them: same order, and the scale of the full layer's input_dims."""
    scale = math.sqrt(1.0 / input_dims)
    w = mx.random.uniform(low=-scale, high=scale, shape=shape)
    b = mx.random.uniform(low=-scale, high=scale, shape=(output_dims,)) if bias else None
    return w, b


def _check_divisible(dims, n, what):
    if dims % n != 0:
        raise ValueError(what.format(dims=dims, n=n))


class AllToShardedLinear(Module):
    """Each member applies its slice of the output features of a linear layer to the
    full input; the outputs stay sharded. Input gradients are summed over the group."""

    def __init__(self, input_dims, output_dims, bias=True, group=None):
        super().__init__()
        self.group = _group(group)
        n = self.group.size()
        _check_divisible(output_dims, n, "Cannot shard the output of size {dims} across {n} devices.")
        w, b = _init_weight(input_dims, output_dims // n, bias, (output_dims // n, input_dims))
        self.weight = w
        if bias:
            self.bias = b

    def _extra_repr(self):
        out, inp = self.weight.shape
        return f"input_dims={inp}, output_dims={out * self.group.size()}, bias={'bias' in self}"

    def __call__(self, x):
        x = sum_gradients(self.group)(x)
        if "bias" in self:
            return mx.addmm(self["bias"], x, self["weight"].T)
        return x @ self["weight"].T

    @classmethod
    def from_linear(cls, linear_layer, *, segments=1, group=None):
        group = _group(group)
        output_dims, input_dims = linear_layer.weight.shape
        layer = cls(input_dims, output_dims, "bias" in linear_layer, group=group)
        layer.update(_shard(linear_layer.parameters(), _predicate("all-to-sharded", segments), group))
        return layer


class ShardedToAllLinear(Module):
    """Each member multiplies its slice of the input features by the matching columns
    of the weight; the partial products are summed over the group, then the bias added."""

    def __init__(self, input_dims, output_dims, bias=True, group=None):
        super().__init__()
        self.group = _group(group)
        n = self.group.size()
        _check_divisible(input_dims, n, "The input of size {dims} cannot be sharded across {n} devices.")
        # The scale is that of the full layer: the sum over members is one full product.
        w, b = _init_weight(input_dims, output_dims, bias, (output_dims, input_dims // n))
        self.weight = w
        if bias:
            self.bias = b

    def _extra_repr(self):
        out, inp = self.weight.shape
        return f"input_dims={inp * self.group.size()}, output_dims={out}, bias={'bias' in self}"

    def __call__(self, x):
        x = x @ self["weight"].T
        x = mx.distributed.all_sum(x, group=self.group)
        if "bias" in self:
            x = x + self["bias"]
        return x

    @classmethod
    def from_linear(cls, linear_layer, *, segments=1, group=None):
        group = _group(group)
        output_dims, input_dims = linear_layer.weight.shape
        layer = cls(input_dims, output_dims, "bias" in linear_layer, group=group)
        layer.update(_shard(linear_layer.parameters(), _predicate("sharded-to-all", segments), group))
        return layer


class _QuantizedSharded(_Quantized):
    """The packed weight and scales of a sharded quantized layer; frozen, and kept frozen
    by `unfreeze` (which only reaches modules it might contain), as in MLX."""

    def _setup(self, weight, bias, group_size, bits, mode, group):
        self.group_size, self.bits, self.mode, self.group = group_size, bits, mode, group
        self._set_quantized(weight)
        if bias:
            self.bias = mx.zeros((weight.shape[0],))
        self.freeze()

    def unfreeze(self, *args, **kwargs):
        super().unfreeze(*args, **kwargs)
        self.freeze(recurse=False)
        return self

    def _dims(self):
        return self.weight.shape[1] * 32 // self.bits, self.weight.shape[0]

    def _repr(self, input_dims, output_dims):
        return (
            f"input_dims={input_dims}, output_dims={output_dims}, bias={'bias' in self}, "
            f"group_size={self.group_size}, bits={self.bits}, mode={self.mode}"
        )

    def _matmul(self, x):
        return mx.quantized_matmul(
            x, self["weight"], scales=self["scales"], biases=self.get("biases"), transpose=True, **self._qargs()
        )

    @classmethod
    def from_quantized_linear(cls, quantized_linear_layer, *, segments=1, group=None):
        group = _group(group)
        layer_in = quantized_linear_layer
        output_dims = layer_in.weight.shape[0]
        input_dims = layer_in.weight.shape[1] * 32 // layer_in.bits
        layer = cls(
            input_dims, output_dims, "bias" in layer_in, group_size=layer_in.group_size,
            bits=layer_in.bits, mode=layer_in.mode, group=group,
        )
        layer.update(_shard(layer_in.parameters(), _predicate(cls._sharding, segments), group))
        return layer


class QuantizedAllToShardedLinear(_QuantizedSharded):
    """`AllToShardedLinear` with a quantized weight (frozen, like `QuantizedLinear`)."""

    _sharding = "all-to-sharded"

    def __init__(self, input_dims, output_dims, bias=True, group_size=64, bits=4, mode="affine", group=None):
        super().__init__()
        group = _group(group)
        n = group.size()
        _check_divisible(output_dims, n, "Cannot shard the output of size {dims} across {n} devices.")
        w, _ = _init_weight(input_dims, output_dims // n, False, (output_dims // n, input_dims))
        self._setup(w, bias, group_size, bits, mode, group)

    def _extra_repr(self):
        inp, out = self._dims()
        return self._repr(inp, out * self.group.size())

    def __call__(self, x):
        x = sum_gradients(self.group)(x)
        y = self._matmul(x)
        if "bias" in self:
            y = y + self["bias"]
        return y


class QuantizedShardedToAllLinear(_QuantizedSharded):
    """`ShardedToAllLinear` with a quantized weight (frozen, like `QuantizedLinear`)."""

    _sharding = "sharded-to-all"

    def __init__(self, input_dims, output_dims, bias=True, group_size=64, bits=4, mode="affine", group=None):
        super().__init__()
        group = _group(group)
        n = group.size()
        _check_divisible(input_dims, n, "The input of size {dims} cannot be sharded across {n} devices.")
        w, _ = _init_weight(input_dims, output_dims, False, (output_dims, input_dims // n))
        self._setup(w, bias, group_size, bits, mode, group)

    def _extra_repr(self):
        inp, out = self._dims()
        return self._repr(inp * self.group.size(), out)

    def __call__(self, x):
        y = mx.distributed.all_sum(self._matmul(x), group=self.group)
        if "bias" in self:
            y = y + self["bias"]
        return y


# ---- fully sharded data parallelism -------------------------------------------------------


def _gather_fn(group):
    """all_gather along axis 0, whose gradient is the matching slice of the summed
    gradient (a reduce-scatter), so each member's optimizer updates only its slice."""
    if group.size() == 1:
        return lambda x: x

    @mx.custom_function
    def gather(x):
        return mx.distributed.all_gather(x, group=group)

    @gather.vjp
    def gather_vjp(primals, cotangent, output):
        return mx.distributed.sum_scatter(cotangent, group=group)

    return gather


class FullyShardedModule(Module):
    """Wraps ``module`` so that each member of ``group`` stores only a slice (along
    axis 0) of each of its parameters; calls gather the full parameters (cast to
    ``compute_dtype`` when given) and run ``module`` with them. Parameters keep their
    paths under ``module.``."""

    def __init__(self, module, group=None, compute_dtype=None):
        super().__init__()
        self.group = _group(group)
        self.compute_dtype = compute_dtype
        self.module = module
        n, rank = self.group.size(), self.group.rank()
        flat = tree_flatten(module.parameters())
        self._paths = [path for path, _ in flat]
        if n > 1:
            for path, w in flat:
                if w.ndim == 0 or w.shape[0] % n != 0:
                    raise ValueError(
                        f"Cannot shard parameter {path!r} of shape {tuple(w.shape)} along axis 0 across {n} devices."
                    )
            module.update(tree_unflatten([(p, mx.split(w, n, axis=0)[rank]) for p, w in flat]))

    def _extra_repr(self):
        return f"num_sharded_params={len(self._paths)}"

    def _gathered_call(self, fn, *args, **kwargs):
        """Runs ``fn`` with the module's parameters swapped for the gathered ones, then
        puts the slices back, so the module only ever stores its slices."""
        gather = _gather_fn(self.group)
        slices = tree_flatten(self.module.parameters())
        full = []
        for path, w in slices:
            w = gather(w)
            if self.compute_dtype is not None and mx.issubdtype(w.dtype, mx.floating):
                w = w.astype(self.compute_dtype)
            full.append((path, w))
        self.module.update(tree_unflatten(full))
        try:
            return fn(*args, **kwargs)
        finally:
            self.module.update(tree_unflatten(slices))

    def __call__(self, *args, **kwargs):
        return self._gathered_call(self.module, *args, **kwargs)

    def as_linear(self, *args, **kwargs):
        return self._gathered_call(self.module.as_linear, *args, **kwargs)


def fully_shard(module, *, group=None, compute_dtype=None):
    """``module`` wrapped in a `FullyShardedModule`; on a group of one process there
    is nothing to shard and ``module`` comes back unchanged."""
    group = _group(group)
    if group.size() == 1:
        return module
    return FullyShardedModule(module, group=group, compute_dtype=compute_dtype)
