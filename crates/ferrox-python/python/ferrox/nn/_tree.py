"""The few pytree helpers `ferrox.nn` needs, with `mlx.utils`' semantics.

Kept private to `nn` so that this package does not depend on a `ferrox.utils` written
elsewhere; the dotted key names are the checkpoint format, so they must match MLX's.
"""


def tree_flatten(tree, prefix="", is_leaf=None):
    """List of ``(dotted_key, leaf)`` pairs; list indices become key components."""
    out = []
    _flatten(tree, prefix, is_leaf, out)
    return out


def _flatten(tree, prefix, is_leaf, out):
    if is_leaf is not None and is_leaf(tree):
        out.append((prefix[1:], tree))
    elif isinstance(tree, (list, tuple)):
        for i, t in enumerate(tree):
            _flatten(t, f"{prefix}.{i}", is_leaf, out)
    elif isinstance(tree, dict):
        for k, t in tree.items():
            _flatten(t, f"{prefix}.{k}", is_leaf, out)
    else:
        out.append((prefix[1:], tree))


def tree_unflatten(pairs):
    """Inverse of `tree_flatten`: a key level made only of integers becomes a list,
    with holes filled by empty dicts (as MLX does)."""
    if isinstance(pairs, dict):
        pairs = list(pairs.items())
    if len(pairs) == 1 and pairs[0][0] == "":
        return pairs[0][1]
    groups = {}
    for key, value in pairs:
        head, _, rest = key.partition(".")
        groups.setdefault(head, []).append((rest, value))
    if groups and all(k.isdigit() for k in groups):
        out = []
        for i, k in sorted((int(k), k) for k in groups):
            out.extend({} for _ in range(i - len(out)))
            out.append(tree_unflatten(groups[k]))
        return out
    return {k: tree_unflatten(v) for k, v in groups.items()}


def tree_map(fn, tree, *rest, is_leaf=None):
    """Apply ``fn`` to the leaves of ``tree`` (and the matching leaves of ``rest``)."""
    if is_leaf is not None and is_leaf(tree):
        return fn(tree, *rest)
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, c, *(r[i] for r in rest), is_leaf=is_leaf) for i, c in enumerate(tree))
    if isinstance(tree, dict):
        return {k: tree_map(fn, c, *(r[k] for r in rest), is_leaf=is_leaf) for k, c in tree.items()}
    return fn(tree, *rest)
