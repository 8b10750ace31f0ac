"""`Module`: the base class of every layer, with `mlx.nn.Module`'s semantics.

A module is a ``dict``: attributes whose values are arrays, dicts, lists or tuples are
stored as dict entries (so a model *is* its parameter tree, and child modules are
nested dicts); everything else is a plain Python attribute. Traversals produce nested
dict/list trees whose flattened, dotted keys (``layers.0.weight``) are the checkpoint
format shared with MLX.
"""

import textwrap

import ferrox.core as mx

from .._tree import tree_flatten, tree_unflatten


def _is_floating(dtype):
    return mx.issubdtype(dtype, mx.floating)


def _default_is_leaf(module, key, value):
    return not isinstance(value, (Module, dict, list))


class Module(dict):
    """Base class for layers and models.

    Subclasses call ``super().__init__()`` first, then assign arrays and child modules
    as attributes. Keys starting with ``_`` are kept out of `parameters`.
    """

    def __init__(self):
        # Plain attributes (not dict entries): they are not parameters.
        self._no_grad = set()
        self._training = True

    # -- attribute <-> dict entry -------------------------------------------------------

    def __getattr__(self, key):
        # Only reached when normal attribute lookup failed.
        if key in self:
            return self[key]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")

    def __setattr__(self, key, value):
        if isinstance(value, (mx.array, dict, list, tuple)):
            # A value that becomes a dict entry must not be shadowed by an old attribute.
            if key in self.__dict__:
                del self.__dict__[key]
            self[key] = value
        else:
            if key in self:
                del self[key]
            super().__setattr__(key, value)

    def __delattr__(self, key):
        if key in self:
            del self[key]
        else:
            super().__delattr__(key)

    # -- flags ---------------------------------------------------------------------------

    @property
    def training(self):
        """Whether the module is in training mode (see `train` and `eval`)."""
        return self._training

    @property
    def state(self):
        """Everything the module holds as dict entries (parameters, buffers, private
        arrays): the module itself, so that `mx.compile` can capture it as state."""
        return self

    def _extra_repr(self):
        return ""

    def __repr__(self):
        children = tree_flatten(self.children(), is_leaf=self.is_module)
        text = f"{type(self).__name__}({self._extra_repr()}"
        for key, child in children:
            text += "\n" + textwrap.indent(f"({key}): {child!r}", prefix="  ")
        if children:
            text += "\n"
        return text + ")"

    # -- filters -------------------------------------------------------------------------

    @staticmethod
    def is_module(value):
        return isinstance(value, Module)

    @staticmethod
    def valid_child_filter(module, key, value):
        return isinstance(value, (dict, list))

    @staticmethod
    def valid_parameter_filter(module, key, value):
        return isinstance(value, (dict, list, mx.array)) and not key.startswith("_")

    @staticmethod
    def trainable_parameter_filter(module, key, value):
        return Module.valid_parameter_filter(module, key, value) and key not in module._no_grad

    # -- traversal -----------------------------------------------------------------------

    def filter_and_map(self, filter_fn, map_fn=None, is_leaf_fn=None):
        """A tree of this module's entries kept by ``filter_fn(module, key, value)``,
        with ``map_fn`` applied at the leaves (``is_leaf_fn`` decides what a leaf is).

        Keys inside nested dicts and lists are passed to ``filter_fn`` dotted relative to
        the owning module (``"layers.0"``), which is what lets `freeze` name them.
        A dropped element of a list or nested dict becomes ``{}`` so indices line up.
        """
        map_fn = map_fn if map_fn is not None else (lambda x: x)
        is_leaf_fn = is_leaf_fn if is_leaf_fn is not None else _default_is_leaf

        def walk(module, key, value):
            if is_leaf_fn(module, key, value):
                return map_fn(value)
            if isinstance(value, Module):
                return {k: walk(value, k, v) for k, v in value.items() if filter_fn(value, k, v)}
            if isinstance(value, dict):
                out = {}
                for k, v in value.items():
                    sub = f"{key}.{k}"
                    out[k] = walk(module, sub, v) if filter_fn(module, sub, v) else {}
                return out
            if isinstance(value, list):
                out = []
                for i, v in enumerate(value):
                    sub = f"{key}.{i}"
                    out.append(walk(module, sub, v) if filter_fn(module, sub, v) else {})
                return out
            raise RuntimeError("Unexpected leaf found while traversing the module")

        return {k: walk(self, k, v) for k, v in self.items() if filter_fn(self, k, v)}

    def parameters(self):
        """All arrays (in nested dicts/lists) of this module and its children, except
        entries whose key starts with ``_``."""
        return self.filter_and_map(self.valid_parameter_filter)

    def trainable_parameters(self):
        """`parameters` minus the frozen ones."""
        return self.filter_and_map(self.trainable_parameter_filter)

    def children(self):
        """The direct child modules, in the (dict/list) structure that holds them."""
        return self.filter_and_map(self.valid_child_filter, is_leaf_fn=lambda m, k, v: isinstance(v, Module))

    def leaf_modules(self):
        """The descendant modules that have no children of their own."""

        def is_leaf(m, k, v):
            return isinstance(v, Module) and len(tree_flatten(v.children())) == 0

        return self.filter_and_map(self.valid_child_filter, is_leaf_fn=is_leaf)

    def apply_to_modules(self, apply_fn):
        """Call ``apply_fn(name, module)`` on this module and every descendant, depth
        first (a stack, so later children are visited first, as MLX does)."""
        stack = [("", self)]
        while stack:
            prefix, module = stack.pop()
            apply_fn(prefix, module)
            prefix = "." + prefix if prefix else ""
            stack.extend(tree_flatten(module.children(), prefix=prefix, is_leaf=self.is_module))
        return self

    def named_modules(self):
        """``[(dotted_name, module), ...]`` for this module (name ``""``) and all descendants."""
        out = []
        self.apply_to_modules(lambda name, m: out.append((name, m)))
        return out

    def modules(self):
        """This module and all its descendants (order of `named_modules`)."""
        return [m for _, m in self.named_modules()]

    # -- updating ------------------------------------------------------------------------

    def update(self, parameters, strict=True):
        """Replace arrays with those of the tree ``parameters`` (e.g. from an optimizer).

        With ``strict``, a key the module lacks or a non-array where an array is expected
        is a ``ValueError``; shapes are not checked (as in MLX)."""

        def set_entry(dst, k, new):
            cur = dst[k]
            if isinstance(cur, mx.array):
                if strict and not isinstance(new, mx.array):
                    raise ValueError(f"Received invalid type: {type(new).__name__}.")
                dst[k] = new
            else:
                merge(cur, new)

        def merge(dst, params):
            if isinstance(params, dict):
                for k, new in params.items():
                    if k in dst:
                        set_entry(dst, k, new)
                    elif strict:
                        raise ValueError(f'Module does not have parameter named "{k}".')
            elif isinstance(params, list):
                for i, new in enumerate(params):
                    if i >= len(dst):
                        raise ValueError(f"List index {i} is out of bounds for destination of length {len(dst)}.")
                    set_entry(dst, i, new)
            elif strict:
                raise ValueError(f"Received invalid type: {type(params).__name__}.")

        merge(self, parameters)
        return self

    def update_modules(self, modules, strict=True):
        """Replace child modules with those of the tree ``modules`` (e.g. a quantized
        layer for a linear one)."""

        def set_entry(dst, k, new):
            cur = dst[k]
            if isinstance(cur, Module) and isinstance(new, Module):
                dst[k] = new
            elif isinstance(cur, (dict, list)):
                merge(cur, new)
            elif strict and not isinstance(new, Module):
                raise ValueError(f"Received invalid type: {type(new).__name__}.")

        def merge(dst, mods):
            if isinstance(mods, dict):
                for k, new in mods.items():
                    if k in dst:
                        set_entry(dst, k, new)
                    elif strict:
                        raise ValueError(f'Module does not have sub-module named "{k}".')
            elif isinstance(mods, list):
                for i, new in enumerate(mods):
                    if i >= len(dst):
                        raise ValueError(f"List index {i} is out of bounds for destination of length {len(dst)}.")
                    set_entry(dst, i, new)
            elif strict:
                raise ValueError(f"Received invalid type: {type(mods).__name__}.")

        merge(self, modules)
        return self

    def apply(self, map_fn, filter_fn=None):
        """Map the parameters (or the entries ``filter_fn`` keeps) through ``map_fn`` in
        place, e.g. ``model.apply(lambda x: x.astype(mx.float16))``."""
        filter_fn = filter_fn if filter_fn is not None else self.valid_parameter_filter
        self.update(self.filter_and_map(filter_fn, map_fn), strict=False)
        return self

    def set_dtype(self, dtype, predicate=_is_floating):
        """Cast the parameters whose dtype satisfies ``predicate`` (default: floating
        point; ``None``: all) to ``dtype``."""
        predicate = predicate if predicate is not None else (lambda _: True)
        self.apply(lambda x: x.astype(dtype) if predicate(x.dtype) else x)

    # -- freezing ------------------------------------------------------------------------

    def _local_parameter_keys(self):
        # Dotted keys of this module's own arrays (not those of child modules).
        own = self.filter_and_map(lambda m, k, v: not isinstance(v, Module) and m.valid_parameter_filter(m, k, v))
        return [k for k, _ in tree_flatten(own)]

    def _set_frozen(self, frozen, recurse, keys, strict):
        if isinstance(keys, str):
            keys = [keys]
        targets = self.modules() if recurse else [self]
        if strict and keys is not None:
            # A key is valid if some visited module holds it as a direct entry.
            for k in keys:
                if not any(k in m for m in targets):
                    raise KeyError(f"Module doesn't contain member {k}.")
        for m in targets:
            local = keys if keys is not None else m._local_parameter_keys()
            if frozen:
                m._no_grad.update(local)
            else:
                m._no_grad.difference_update(local)
        return self

    def freeze(self, *, recurse=True, keys=None, strict=False):
        """Exclude parameters from `trainable_parameters`: all of them, or those named by
        ``keys`` (in this module and, with ``recurse``, in every descendant)."""
        return self._set_frozen(True, recurse, keys, strict)

    def unfreeze(self, *, recurse=True, keys=None, strict=False):
        """Undo `freeze` for all parameters or those named by ``keys``."""
        return self._set_frozen(False, recurse, keys, strict)

    def train(self, mode=True):
        """Set training mode (Dropout, BatchNorm behave differently) on all modules."""

        self.apply_to_modules(lambda _, m: m._set_training_mode(mode))
        return self

    def _set_training_mode(self, mode):
        # A hook: layers whose storage depends on the mode (QQLinear) override it.
        self._training = mode

    def eval(self):
        """Same as ``train(False)``."""
        return self.train(False)

    # -- checkpoints ---------------------------------------------------------------------

    def load_weights(self, file_or_weights, strict=True):
        """Load a ``.safetensors``/``.npz`` file or a list of ``(dotted_key, array)``.

        With ``strict``, the keys must be exactly `parameters`' keys and every shape must
        match (``ValueError`` otherwise); without it, whatever is given is set."""
        weights = file_or_weights
        if isinstance(weights, str):
            weights = list(mx.load(weights).items())
        if strict:
            new = dict(weights)
            cur = dict(tree_flatten(self.parameters()))
            extras = new.keys() - cur.keys()
            if extras:
                names = ",\n".join(sorted(extras))
                raise ValueError(f"Received {len(extras)} parameters not in model: \n{names}.")
            missing = cur.keys() - new.keys()
            if missing:
                names = ",\n".join(sorted(missing))
                raise ValueError(f"Missing {len(missing)} parameters: \n{names}.")
            for k, v in cur.items():
                v_new = new[k]
                if not isinstance(v_new, mx.array):
                    raise ValueError(f"Expected mx.array but received {type(v_new)} for parameter {k}")
                if v_new.shape != v.shape:
                    raise ValueError(f"Expected shape {v.shape} but received shape {v_new.shape} for parameter {k}")
        if len(weights) != 0:
            self.update(tree_unflatten(list(weights)), strict=False)
        return self

    def save_weights(self, file):
        """Save `parameters` under their dotted keys to ``.npz`` or ``.safetensors``."""
        flat = dict(tree_flatten(self.parameters()))
        if file.endswith(".npz"):
            mx.savez(file, **flat)
        elif file.endswith(".safetensors"):
            mx.save_safetensors(file, flat)
        else:
            raise ValueError(f"Unsupported file extension for {file}. Use '.npz' or '.safetensors'.")
