"""Transforms of functions of a model: gradients w.r.t. its trainable parameters,
gradient checkpointing, and gradient averaging across processes."""

from functools import wraps

import ferrox.core as mx

from ._tree import tree_map


def value_and_grad(model, fn):
    """Return ``f(*args, **kwargs) -> (fn(*args, **kwargs), grads)`` where ``grads`` is
    the gradient with respect to ``model.trainable_parameters()`` (same tree).

    ``fn`` calls the model as usual; the model's parameters are swapped for the traced
    ones while ``fn`` runs."""

    def inner(params, *args, **kwargs):
        model.update(params)
        return fn(*args, **kwargs)

    traced = mx.value_and_grad(inner)

    @wraps(fn)
    def wrapped(*args, **kwargs):
        params = model.trainable_parameters()
        try:
            return traced(params, *args, **kwargs)
        finally:
            # Put the caller's arrays back rather than leave traced ones in the model.
            model.update(params)

    return wrapped


def checkpoint(module, fn=None):
    """Wrap ``fn`` (default: the module's ``__call__``) so that its intermediate values
    are recomputed in the backward pass instead of stored (``mx.checkpoint``), with the
    module's trainable parameters as explicit inputs so their gradients flow."""
    if fn is None:
        fn = module.__call__

    def inner(params, *args, **kwargs):
        module.update(params)
        return fn(*args, **kwargs)

    checkpointed = mx.checkpoint(inner)

    @wraps(fn)
    def wrapped(*args, **kwargs):
        return checkpointed(module.trainable_parameters(), *args, **kwargs)

    return wrapped


def average_gradients(gradients, group=None, all_reduce_size=32 * 1024**2, communication_stream=None):
    """Average a gradient tree over the processes of ``group`` (the global group by
    default). With a single process this returns ``gradients`` unchanged."""
    group = group if group is not None else mx.distributed.init()
    n = group.size()
    if n == 1:
        return gradients
    # Without batching into all_reduce_size chunks: one all_sum per array is correct,
    # only less efficient for many small arrays.
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / n, gradients)
