"""Function transforms with MLX's Python API: ``grad``, ``value_and_grad``, ``vjp``,
``jvp``, ``vmap``, ``checkpoint`` and ``custom_function``.

The transforms themselves are Rust (``core._vjp``, ``core._value_and_grad``, ...), over
flat lists of arrays. This module does what MLX's Python layer does around them: it
flattens pytree arguments (nested lists, tuples and dicts of arrays), picks the
differentiated ones (``argnums``/``argnames``), rebuilds the structures for the user's
function, and maps ``in_axes``/``out_axes`` onto the flat lists.
"""

import collections
import functools

from . import core

__all__ = [
    "grad",
    "value_and_grad",
    "vjp",
    "jvp",
    "vmap",
    "checkpoint",
    "custom_function",
    "compile",
]

_array = core.array


# ---- pytrees ------------------------------------------------------------------------


# The tree walks are module-level recursions, not nested functions that call
# themselves: such a closure is a reference cycle (function -> cell -> function) that
# keeps the arrays it saw alive until the garbage collector runs, which made every
# transformed call hold its outputs' memory for a while.


def _flatten_into(t, out, strict):
    if isinstance(t, _array):
        out.append(t)
    elif isinstance(t, (list, tuple)):
        for x in t:
            _flatten_into(x, out, strict)
    elif isinstance(t, dict):
        for x in t.values():
            _flatten_into(x, out, strict)
    elif strict:
        raise ValueError("[tree_flatten] The argument should contain only arrays")


def _tree_flatten(tree, strict=True):
    """The arrays of ``tree`` in order. With ``strict``, any other leaf is an error (as
    in MLX); otherwise other leaves are skipped."""
    out = []
    _flatten_into(tree, out, strict)
    return out


def _tree_unflatten(t, leaves):
    """``t`` with each array replaced by the next of the iterator ``leaves``; other
    leaves are kept."""
    if isinstance(t, _array):
        return next(leaves)
    if isinstance(t, list):
        return [_tree_unflatten(x, leaves) for x in t]
    if isinstance(t, tuple):
        items = [_tree_unflatten(x, leaves) for x in t]
        return type(t)(*items) if hasattr(t, "_fields") else tuple(items)
    if isinstance(t, dict):
        return {k: _tree_unflatten(v, leaves) for k, v in t.items()}
    return t


def _prefix_error():
    return ValueError(
        "[tree_map] Additional input tree is not a valid prefix of the first tree."
    )


def _flat_axes(tree, axes):
    """One axis (an int or None) per array of ``tree``, with ``axes`` a prefix of
    ``tree``: an int or None applies to a whole subtree."""
    if axes is None or (isinstance(axes, int) and not isinstance(axes, bool)):
        return [axes] * len(_tree_flatten(tree))
    if isinstance(axes, (list, tuple)):
        if not isinstance(tree, (list, tuple)) or isinstance(tree, list) != isinstance(
            axes, list
        ):
            raise _prefix_error()
        if len(tree) != len(axes):
            raise _prefix_error()
        return [a for t, ax in zip(tree, axes) for a in _flat_axes(t, ax)]
    if isinstance(axes, dict):
        if not isinstance(tree, dict) or set(tree) != set(axes):
            raise _prefix_error()
        return [a for k, t in tree.items() for a in _flat_axes(t, axes[k])]
    raise ValueError(
        f"[vmap] The axes must be ints, None, or lists, tuples and dicts of them; got "
        f"{type(axes).__name__}."
    )


# ---- vjp, jvp -----------------------------------------------------------------------


def _outputs_as_list(out):
    return _tree_flatten(out)


def vjp(fun, primals, cotangents):
    """Computes the vector-Jacobian product of ``fun`` at ``primals``: returns
    ``(outputs, vjps)``, the outputs of ``fun(*primals)`` and the cotangents of the
    primals given those of the outputs."""
    primals, cotangents = list(primals), list(cotangents)
    n_out = [0]

    def flat(xs):
        outs = _outputs_as_list(fun(*xs))
        n_out[0] = len(outs)
        # MLX ignores cotangents past the last output: give them constant outputs (which
        # contribute nothing) and drop those afterwards.
        return outs + cotangents[len(outs) :]

    outs, vjps = core._vjp(flat, primals, cotangents)
    return list(outs)[: n_out[0]], list(vjps)


def jvp(fun, primals, tangents):
    """Computes the Jacobian-vector product of ``fun`` at ``primals``: returns
    ``(outputs, jvps)``, the outputs of ``fun(*primals)`` and their tangents given the
    tangents of the primals."""
    primals, tangents = list(primals), list(tangents)

    def flat(xs):
        return _outputs_as_list(fun(*xs))

    outs, jvps = core._jvp(flat, primals, tangents)
    return list(outs), list(jvps)


# ---- grad, value_and_grad -----------------------------------------------------------


def _normalize_argnums(name, argnums, argnames):
    if isinstance(argnames, str):
        argnames = [argnames]
    elif isinstance(argnames, (list, tuple)) and all(isinstance(a, str) for a in argnames):
        argnames = list(argnames)
    else:
        raise TypeError(f"{name}(): argnames must be a string or a sequence of strings.")
    if argnums is None:
        argnums = [] if argnames else [0]
    elif isinstance(argnums, int) and not isinstance(argnums, bool):
        argnums = [argnums]
    elif isinstance(argnums, (list, tuple)) and all(
        isinstance(a, int) and not isinstance(a, bool) for a in argnums
    ):
        argnums = list(argnums)
    else:
        raise TypeError(
            f"{name}(): argnums must be an int, a sequence of ints or None."
        )
    if not argnums and not argnames:
        raise ValueError(f"[{name}] Gradient wrt no argument requested")
    for k, a in enumerate(argnums):
        if a < 0:
            raise ValueError(
                f"[{name}] Can't compute the gradient of negative argument index {a}"
            )
        if a in argnums[:k]:
            raise ValueError(f"[{name}] Duplicate argument index {a} is not allowed.")
    return argnums, argnames


def _value_and_grad(name, fun, argnums, argnames, scalar_only):
    argnums, argnames = _normalize_argnums(name, argnums, argnames)

    def wrapper(*args, **kwargs):
        for a in argnums:
            if a >= len(args):
                raise ValueError(
                    f"[{name}] Can't compute the gradient of argument index {a} because "
                    f"the function is called with only {len(args)} positional arguments."
                )
        for k in argnames:
            if k not in kwargs:
                raise ValueError(
                    f"[{name}] Can't compute the gradient of keyword argument '{k}' "
                    f"because the function is called with the following keyword "
                    f"arguments {{{', '.join(kwargs)}}}"
                )
        trees = [args[a] for a in argnums] + [kwargs[k] for k in argnames]
        leaves = [x for t in trees for x in _tree_flatten(t)]
        returned = [None]

        def flat(xs):
            it = iter(xs)
            new_args, new_kwargs = list(args), dict(kwargs)
            for a in argnums:
                new_args[a] = _tree_unflatten(args[a], it)
            for k in argnames:
                new_kwargs[k] = _tree_unflatten(kwargs[k], it)
            out = fun(*new_args, **new_kwargs)
            returned[0] = out
            if isinstance(out, _array):
                return [out]
            if (
                not scalar_only
                and isinstance(out, tuple)
                and len(out) > 0
                and isinstance(out[0], _array)
            ):
                return [out[0]] + _tree_flatten(out[1:], strict=False)
            if scalar_only:
                raise ValueError(
                    f"[{name}] The return value of the function whose gradient we want "
                    f"to compute should be a scalar array; but {type(out).__name__} was "
                    f"returned."
                )
            raise ValueError(
                f"[{name}] The return value of the function whose gradient we want to "
                f"compute should be either a scalar array or a tuple with the first value "
                f"being a scalar array (Union[array, tuple[array, Any, ...]]); but "
                f"{type(out).__name__} was returned."
            )

        outs, grads = core._value_and_grad(flat, leaves)
        out = returned[0]
        if isinstance(out, _array):
            value = outs[0]
        else:
            value = (outs[0],) + _tree_unflatten(out[1:], iter(outs[1:]))
        it = iter(grads)
        pos = [_tree_unflatten(args[a], it) for a in argnums]
        kw = {k: _tree_unflatten(kwargs[k], it) for k in argnames}
        if len(argnums) == 1:
            pos = pos[0]
        elif argnums:
            pos = tuple(pos)
        else:
            pos = None
        g = (pos, kw) if argnames else pos
        return value, g

    return wrapper


def value_and_grad(fun, argnums=None, argnames=[]):
    """Returns a function computing ``fun``'s value and its gradient with respect to the
    arguments ``argnums`` (positions) and ``argnames`` (keywords). ``fun`` returns a
    scalar array, or a tuple whose first item is one (the rest are passed through)."""
    inner = _value_and_grad("value_and_grad", fun, argnums, argnames, False)
    return functools.wraps(fun)(inner) if callable(fun) else inner


def grad(fun, argnums=None, argnames=[]):
    """Returns a function computing the gradient of ``fun`` (which returns a scalar
    array) with respect to the arguments ``argnums`` (positions, default 0) and
    ``argnames`` (keywords)."""
    inner = _value_and_grad("grad", fun, argnums, argnames, True)

    def wrapper(*args, **kwargs):
        return inner(*args, **kwargs)[1]

    return functools.wraps(fun)(wrapper) if callable(fun) else wrapper


# ---- vmap ---------------------------------------------------------------------------


def _check_axes_type(axes, what):
    if axes is None:
        raise TypeError(
            f"vmap(): incompatible function arguments: {what} cannot be None at the top "
            f"level."
        )


def vmap(fun, in_axes=0, out_axes=0):
    """Returns a vectorized version of ``fun``: mapped over axis ``in_axes`` of the
    arguments, with the results stacked along ``out_axes``. Axes are ints, None (not
    mapped), or trees matching the arguments (a tuple) or outputs."""
    _check_axes_type(in_axes, "in_axes")
    _check_axes_type(out_axes, "out_axes")

    def wrapper(*args, **kwargs):
        if kwargs:
            raise TypeError("[vmap] Keyword arguments are not supported.")
        leaves = _tree_flatten(args)
        axes = _flat_axes(args, in_axes)
        for x, ax in zip(leaves, axes):
            if ax is None:
                continue
            if not -x.ndim <= ax < x.ndim:
                shape = ",".join(str(s) for s in x.shape)
                raise IndexError(
                    f"[vmap] Invalid vectorization axis {ax} for array with shape "
                    f"({shape})"
                )
        axes = [None if ax is None else ax % x.ndim for x, ax in zip(leaves, axes)]
        returned = [None]

        def flat(xs):
            out = fun(*_tree_unflatten(args, iter(xs)))
            returned[0] = out
            outs = _tree_flatten(out)
            oaxes = _flat_axes(out, out_axes)
            oaxes = [
                ax if ax is None or ax >= 0 else ax + o.ndim + 1
                for o, ax in zip(outs, oaxes)
            ]
            for o, ax in zip(outs, oaxes):
                if ax is not None and ax < 0:
                    raise ValueError(
                        f"[vmap] Axis {ax - o.ndim - 1} is out of bounds for an output of "
                        f"{o.ndim + 1} dimensions (batched)."
                    )
            return outs, oaxes

        outs = core._vmap(flat, leaves, axes)
        return _tree_unflatten(returned[0], iter(outs))

    return functools.wraps(fun)(wrapper) if callable(fun) else wrapper


# ---- checkpoint, custom_function ----------------------------------------------------


def checkpoint(fun):
    """Returns ``fun`` with gradient checkpointing: its backward pass recomputes ``fun``
    instead of keeping its intermediate arrays."""

    def wrapper(*args, **kwargs):
        tree = (args, kwargs)
        returned = [None]

        def flat(xs):
            a, kw = _tree_unflatten(tree, iter(xs))
            out = fun(*a, **kw)
            returned[0] = out
            return _tree_flatten(out)

        outs = core._checkpoint(flat)(_tree_flatten(tree, strict=False))
        return _tree_unflatten(returned[0], iter(outs))

    return functools.wraps(fun)(wrapper) if callable(fun) else wrapper


def _structure(tree):
    """A hashable description of ``tree`` with its arrays left out: calls with equal
    structures (and array signatures) replay one trace."""
    if isinstance(tree, _array):
        return "A"
    if isinstance(tree, (list, tuple)):
        return (type(tree).__name__,) + tuple(_structure(x) for x in tree)
    if isinstance(tree, dict):
        return ("dict",) + tuple((k, _structure(v)) for k, v in tree.items())
    return (type(tree).__name__, repr(tree))


def _tree_fill(tree, leaves):
    """Puts the next of ``leaves`` in place of each array of ``tree``, in place (lists
    and dicts, as captured state is: a model, an optimizer's state)."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for k, v in list(items):
        if isinstance(v, _array):
            tree[k] = next(leaves)
        elif isinstance(v, (list, dict)):
            _tree_fill(v, leaves)
        elif isinstance(v, tuple):
            tree[k] = _tree_unflatten(v, leaves)


def _slots(tree, out=None):
    """Where ``tree``'s arrays sit: ``(container, key, value)`` for each array or tuple
    held in a list or dict (a tuple, immutable, is put back whole). Putting these back
    undoes a trace's writes even when the trace added entries (an optimizer's state,
    created lazily on its first update)."""
    out = [] if out is None else out
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for k, v in items:
        if isinstance(v, (_array, tuple)):
            out.append((tree, k, v))
        elif isinstance(v, (list, dict)):
            _slots(v, out)
    return out


def compile(fun=None, inputs=None, outputs=None, shapeless=False):
    """Returns a compiled ``fun``: traced once per signature of its arguments (array
    shapes and dtypes, and the values of its other arguments), then replayed. ``inputs``
    and ``outputs`` are state (pytrees of lists and dicts, e.g. a model and an
    optimizer) that ``fun`` reads and writes besides its arguments. The cache of traces
    is bounded (least recently used evicted). With ``shapeless=True`` a trace is
    replayed for arrays of new shapes (same ndims and dtypes), each op's output shapes
    inferred from its inputs'; shapes ``fun`` reads while traced (``x.shape[0]``) stay
    as traced, as in MLX. Where an op cannot infer them (a slice whose bounds depended
    on a length that changed), ferrox traces again instead of raising as MLX does."""
    if fun is None:
        return lambda f: compile(f, inputs, outputs, shapeless)
    current = [None]
    # The output structure of each cached trace, by signature. Bounded like the
    # compiled programs: both see the same calls, so the most recent `cached()`
    # signatures are exactly the ones whose programs are kept.
    returned = collections.OrderedDict()

    def flat(xs):
        tree, sig = current[0]
        it = iter(xs)
        a, kw = _tree_unflatten(tree, it)
        if inputs is not None:
            _tree_fill(inputs, it)
        out = fun(*a, **kw)
        returned[sig] = out
        state = _tree_flatten(outputs, strict=False) if outputs is not None else []
        # Other leaves (None, numbers, strings) come back as they were traced, as in MLX.
        return _tree_flatten(out, strict=False) + state

    compiled = core._compile(flat, shapeless)

    def wrapper(*args, **kwargs):
        tree = (args, kwargs)
        leaves = _tree_flatten(tree, strict=False)
        before = _tree_flatten(inputs, strict=False) if inputs is not None else []
        slots = _slots(inputs) if inputs is not None else []
        key = hash((_structure(tree), len(before))) & 0xFFFF_FFFF_FFFF_FFFF
        # (For a shapeless function, calls of other shapes share a trace's structure.)
        shape = (lambda x: x.ndim) if shapeless else (lambda x: tuple(x.shape))
        sig = (key, tuple((shape(x), x.dtype) for x in leaves + before))
        current[0] = (tree, sig)
        try:
            outs = compiled(leaves + before, key)
        finally:
            current[0] = None
            # A trace left tracers in the state: the caller's arrays go back. Entries
            # the trace added keep their tracers until `outputs` replaces them below.
            for container, k, v in slots:
                container[k] = v
        n_state = len(_tree_flatten(outputs, strict=False)) if outputs is not None else 0
        n_out = len(outs) - n_state
        if outputs is not None:
            _tree_fill(outputs, iter(outs[n_out:]))
        structure = returned[sig]
        returned.move_to_end(sig)
        while len(returned) > max(compiled.cached(), 1):
            returned.popitem(last=False)
        return _tree_unflatten(structure, iter(outs[:n_out]))

    wrapper.cached = compiled.cached
    wrapper.set_cache_size = compiled.set_cache_size
    wrapper.__wrapped_structures__ = returned  # for tests: bounded with the cache
    return functools.wraps(fun)(wrapper)


class custom_function:
    """Set up a function for custom gradient and vmap definitions.

    Decorate a function with it, then give any of its ``vjp``, ``jvp`` and ``vmap``
    rules with the decorators of the same names::

        @mx.custom_function
        def f(x, y):
            return mx.sin(x) * y

        @f.vjp
        def f_vjp(primals, cotangent, output):
            x, y = primals
            return cotangent * mx.cos(x) * y, cotangent * mx.sin(x)

    ``vjp(primals, cotangents, outputs)`` returns one cotangent per primal;
    ``jvp(primals, tangents)`` returns the tangents of the outputs;
    ``vmap(inputs, axes)`` returns ``(outputs, out_axes)``. Transforms without a rule
    transform the function itself.
    """

    def __init__(self, f):
        self._fun = f
        self._vjp = None
        self._jvp = None
        self._vmap = None
        functools.update_wrapper(self, f)

    def vjp(self, f):
        """Sets the vector-Jacobian product rule: ``f(primals, cotangents, outputs)``."""
        self._vjp = f
        return self

    def jvp(self, f):
        """Sets the Jacobian-vector product rule: ``f(primals, tangents)``."""
        self._jvp = f
        return self

    def vmap(self, f):
        """Sets the batching rule: ``f(inputs, axes) -> (outputs, out_axes)``."""
        self._vmap = f
        return self

    def __call__(self, *args, **kwargs):
        returned = [None]

        def unflat_args(xs):
            return _tree_unflatten(args, iter(xs))

        def unflat_out(xs):
            return _tree_unflatten(returned[0], iter(xs))

        def fun(xs):
            out = self._fun(*unflat_args(xs), **kwargs)
            returned[0] = out
            return _tree_flatten(out)

        rules = {}
        if self._vjp is not None:
            user_vjp = self._vjp

            def vjp_rule(primals, cotangents, outputs):
                r = user_vjp(unflat_args(primals), unflat_out(cotangents), unflat_out(outputs))
                return _tree_flatten(r, strict=False)

            rules["vjp"] = vjp_rule
        if self._jvp is not None:
            user_jvp = self._jvp

            def jvp_rule(primals, tangents):
                r = user_jvp(unflat_args(primals), unflat_args(tangents))
                return _tree_flatten(r, strict=False)

            rules["jvp"] = jvp_rule
        if self._vmap is not None:
            user_vmap = self._vmap

            def vmap_rule(inputs, axes):
                outs, oaxes = user_vmap(unflat_args(inputs), unflat_args(axes))
                flat_outs = _tree_flatten(outs)
                flat_axes = _flat_axes(outs, oaxes)
                flat_axes = [
                    ax if ax is None or ax >= 0 else ax + o.ndim
                    for o, ax in zip(flat_outs, flat_axes)
                ]
                if any(ax is not None and ax < 0 for ax in flat_axes):
                    raise ValueError("[custom_function] The vmap rule gave an out-of-bounds axis.")
                return flat_outs, flat_axes

            rules["vmap"] = vmap_rule
        f = core._custom_function(fun, **rules)
        outs = f(_tree_flatten(args, strict=False))
        return unflat_out(outs)
