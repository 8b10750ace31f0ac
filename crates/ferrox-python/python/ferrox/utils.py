"""Trees of parameters: ``mlx.utils``'s functions over nested lists, tuples and dicts.

A tree is a list, tuple or dict whose values are trees or leaves; anything else (an
array, a number, ``None``, a string) is a leaf. Paths name leaves by their keys and
indices joined with dots, as checkpoints do: ``{"layers": [{"w": x}]}`` holds ``x`` at
``"layers.0.w"``. The semantics follow MLX 0.32, including its corner cases (noted
where they are surprising), so that code written against ``mlx.utils`` behaves the same.
"""

from collections import defaultdict

__all__ = [
    "tree_flatten",
    "tree_map",
    "tree_map_with_path",
    "tree_merge",
    "tree_reduce",
    "tree_unflatten",
]


def _is_node(tree):
    return isinstance(tree, (list, tuple, dict))


def _children(tree):
    """(key, child) pairs of a list, tuple or dict."""
    return tree.items() if isinstance(tree, dict) else enumerate(tree)


def tree_map(fn, tree, *rest, is_leaf=None):
    """Applies ``fn`` to the leaves of ``tree``, returning a tree of the same structure.

    With ``rest``, ``fn(leaf, *others)`` gets the values at the same place in each of
    the other trees, which must have ``tree``'s structure (or be deeper: their subtrees
    at ``tree``'s leaves are passed whole). ``is_leaf(node)`` returning True makes
    ``node`` a leaf.

    Example::

        tree_map(lambda x: x * 2, {"a": [1, 2]})  # {"a": [2, 4]}
    """
    if is_leaf is not None and is_leaf(tree):
        return fn(tree, *rest)
    if isinstance(tree, dict):
        return {
            k: tree_map(fn, child, *(r[k] for r in rest), is_leaf=is_leaf)
            for k, child in tree.items()
        }
    if isinstance(tree, (list, tuple)):
        return type(tree)(
            tree_map(fn, child, *(r[i] for r in rest), is_leaf=is_leaf)
            for i, child in enumerate(tree)
        )
    return fn(tree, *rest)


def tree_map_with_path(fn, tree, *rest, is_leaf=None, path=None):
    """Like :func:`tree_map`, with ``fn(path, leaf, *others)`` also given the leaf's
    dotted path (``"a.0.b"``). ``path`` is the path of ``tree`` itself: a leaf at the
    top gets ``path`` (``None`` by default)."""
    if is_leaf is not None and is_leaf(tree):
        return fn(path, tree, *rest)

    def sub(k):
        return f"{path}.{k}" if path else str(k)

    if isinstance(tree, dict):
        return {
            k: tree_map_with_path(fn, child, *(r[k] for r in rest), is_leaf=is_leaf, path=sub(k))
            for k, child in tree.items()
        }
    if isinstance(tree, (list, tuple)):
        return type(tree)(
            tree_map_with_path(fn, child, *(r[i] for r in rest), is_leaf=is_leaf, path=sub(i))
            for i, child in enumerate(tree)
        )
    return fn(path, tree, *rest)


def tree_flatten(tree, prefix="", is_leaf=None, destination=None):
    """The leaves of ``tree`` as ``(path, leaf)`` pairs, in order.

    ``destination`` may be a list (pairs are appended) or a dict (``path -> leaf``
    entries are set); it is returned. Empty lists and dicts contribute nothing.

    The paths are built as ``prefix + "." + key`` at each level, then the first
    character is dropped: with the default ``prefix=""`` that is the leading dot, so
    ``tree_flatten([[x]])`` gives ``[("0.0", x)]`` and a leaf at the top gets ``""``.
    (A non-empty ``prefix`` loses its first character too, as in MLX: pass ``".name"``
    to get ``"name.…"`` paths.)
    """
    if destination is None:
        destination = []
    add = destination.__setitem__ if isinstance(destination, dict) else (
        lambda k, v: destination.append((k, v))
    )
    _flatten(tree, prefix, is_leaf, add)
    return destination


def _flatten(tree, prefix, is_leaf, add):
    if (is_leaf is None or not is_leaf(tree)) and _is_node(tree):
        for k, child in _children(tree):
            _flatten(child, f"{prefix}.{k}", is_leaf, add)
    else:
        add(prefix[1:], tree)


def tree_unflatten(tree):
    """The tree that :func:`tree_flatten` flattened: the inverse of it.

    ``tree`` is a list of ``(path, value)`` pairs or a dict ``path -> value``. At each
    level the first components of the paths become keys; where all of them read as
    integers (and no two read as the same one) the level is a list, ordered by index,
    with ``{}`` standing in for missing indices. Otherwise it is a dict in first-seen
    order. A single pair with the empty path is the value itself.

    Example::

        tree_unflatten([("a.0", 1), ("a.1", 2), ("b", 3)])  # {"a": [1, 2], "b": 3}
    """
    items = list(tree.items() if isinstance(tree, dict) else tree)
    if len(items) == 1 and items[0][0] == "":
        return items[0][1]

    groups = defaultdict(list)  # first component -> (rest of path, value); insertion-ordered
    for path, value in items:
        head, _, tail = path.partition(".")
        groups[head].append((tail, value))

    indices = _as_indices(list(groups))
    if indices is None:
        return {k: tree_unflatten(v) for k, v in groups.items()}
    out = []
    for i, k in sorted(zip(indices, groups), key=lambda p: p[0]):
        while len(out) < i:  # a gap: MLX fills it with empty dicts
            out.append({})
        out.append(tree_unflatten(groups[k]))
    return out


def _as_indices(keys):
    """The keys as integers (as ``int()`` reads them), or None if any is not one or
    two keys read as the same integer (``"1"`` and ``"01"``): then the level is a dict."""
    try:
        ints = [int(k) for k in keys]
    except ValueError:
        return None
    return ints if len(set(ints)) == len(ints) else None


def _is_empty_node(t):
    return _is_node(t) and len(t) == 0


def tree_merge(tree_a, tree_b, merge_fn=None):
    """Merges two trees into one.

    Where one side is missing (``None`` or an empty list, tuple or dict) the other is
    taken. Two lists or tuples merge element by element (the result has ``tree_a``'s
    type and the longer length); two dicts merge key by key. Anywhere else both sides
    hold something: ``merge_fn(a, b)`` decides, and without it that is a ``ValueError``.

    Example::

        tree_merge({"a": [1, None]}, {"a": [None, 2], "b": 3})  # {"a": [1, 2], "b": 3}
    """
    if tree_a is None or _is_empty_node(tree_a):
        return tree_b
    if tree_b is None or _is_empty_node(tree_b):
        return tree_a
    if isinstance(tree_a, (list, tuple)) and isinstance(tree_b, (list, tuple)):
        n = max(len(tree_a), len(tree_b))
        merged = [
            tree_merge(
                tree_a[i] if i < len(tree_a) else None,
                tree_b[i] if i < len(tree_b) else None,
                merge_fn,
            )
            for i in range(n)
        ]
        return type(tree_a)(merged)
    if isinstance(tree_a, dict) and isinstance(tree_b, dict):
        # (MLX iterates a set of the keys, so its order varies run to run; this keeps
        # tree_a's order, then tree_b's new keys.)
        keys = list(tree_a) + [k for k in tree_b if k not in tree_a]
        return {k: tree_merge(tree_a.get(k), tree_b.get(k), merge_fn) for k in keys}
    if merge_fn is None:
        raise ValueError(
            "Trees contain elements at the same locations but no merge function was provided"
        )
    return merge_fn(tree_a, tree_b)


def tree_reduce(fn, tree, initializer=None, is_leaf=None):
    """Folds the leaves of ``tree`` in order: ``acc = fn(acc, leaf)``.

    Without an ``initializer`` (or while the accumulator is still ``None``) the next
    leaf becomes the accumulator instead, so leading ``None`` leaves are skipped and an
    empty tree gives ``None``.

    Example::

        tree_reduce(lambda acc, x: acc + x, {"a": [1, 2], "b": 3})  # 6
    """
    acc = initializer
    for _, leaf in tree_flatten(tree, is_leaf=is_leaf):
        acc = leaf if acc is None else fn(acc, leaf)
    return acc
