"""ferrox.utils: the tree functions, by their stated results on nested trees and
against mlx.utils on the same inputs (including MLX's corner cases: prefixes, integer
keys, gaps, merges, reductions that skip leading None)."""

import numpy as np
import pytest

import ferrox.core as mx
from ferrox.utils import (
    tree_flatten,
    tree_map,
    tree_map_with_path,
    tree_merge,
    tree_reduce,
    tree_unflatten,
)

try:
    import mlx.utils as mlx_utils
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx_utils = None

needs_mlx = pytest.mark.skipif(mlx_utils is None, reason="mlx is not installed")

# Leaves are plain Python values so the same tree goes to both libraries.
TREE = {"a": [1, (2, 3), {"b": None}], "c": {}, "d": [], "e": 5.0, "f": "s"}


def test_flatten_paths_and_order():
    assert tree_flatten(TREE) == [
        ("a.0", 1), ("a.1.0", 2), ("a.1.1", 3), ("a.2.b", None), ("e", 5.0), ("f", "s"),
    ]
    assert tree_flatten(7) == [("", 7)]
    assert tree_flatten({"layers": [{"w": 1}, {"w": 2}]}) == [("layers.0.w", 1), ("layers.1.w", 2)]


def test_flatten_prefix_destination_is_leaf():
    # MLX drops the first character of prefix + "." + key: ".name" gives "name.".
    assert tree_flatten([7, 8], prefix=".m") == [("m.0", 7), ("m.1", 8)]
    assert tree_flatten([7, 8], prefix="m") == [(".0", 7), (".1", 8)]
    d = {"z": 0}
    assert tree_flatten([1, [2]], destination=d) is d
    assert d == {"z": 0, "0": 1, "1.0": 2}
    lst = [("z", 0)]
    assert tree_flatten([1], destination=lst) is lst and lst == [("z", 0), ("0", 1)]
    assert tree_flatten(TREE, is_leaf=lambda x: isinstance(x, tuple))[1] == ("a.1", (2, 3))
    assert tree_flatten(TREE, is_leaf=lambda x: isinstance(x, dict)) == [("", TREE)]


def test_flatten_arrays_roundtrip(rng):
    tree = {"w": [mx.array(rng.standard_normal((2, 3)).astype(np.float32)), {"b": mx.zeros((4,))}]}
    flat = tree_flatten(tree)
    assert [k for k, _ in flat] == ["w.0", "w.1.b"]
    back = tree_unflatten(flat)
    assert back["w"][0] is tree["w"][0] and back["w"][1]["b"] is tree["w"][1]["b"]


@pytest.mark.parametrize(
    "pairs, expected",
    [
        ([("a.0", 1), ("a.1", 2), ("b", 3)], {"a": [1, 2], "b": 3}),
        ([("1.x", 1), ("0.y", 2)], [{"y": 2}, {"x": 1}]),
        ([("2", 1), ("0", 2), ("1", 3)], [2, 3, 1]),
        ([("0", 1), ("2", 2)], [1, {}, 2]),  # gaps are empty dicts
        ([("10", 1), ("9", 2)], [{}] * 9 + [2, 1]),
        ([("-1", 1), ("0", 2)], [1, 2]),
        ([("1", 1), ("01", 2)], {"1": 1, "01": 2}),  # two keys, one index: a dict
        ([("1", 1), ("a", 2)], {"1": 1, "a": 2}),
        ([("a", 1), ("a.b", 2)], {"a": {"": 1, "b": 2}}),
        ([("x.", 1)], {"x": 1}),
        ([("", 1)], 1),
        ([], []),
        ({"a.1": 1, "a.0": 2}, {"a": [2, 1]}),
    ],
)
def test_unflatten(pairs, expected):
    assert tree_unflatten(pairs) == expected
    if mlx_utils is not None:
        assert mlx_utils.tree_unflatten(pairs) == expected


def test_map_structure_and_rest():
    double = lambda x: x * 2 if x is not None else None
    out = tree_map(double, TREE)
    assert out == {"a": [2, (4, 6), {"b": None}], "c": {}, "d": [], "e": 10.0, "f": "ss"}
    assert isinstance(out["a"][1], tuple)
    pair = lambda x, y: (x, y)
    assert tree_map(pair, {"a": 1, "b": [2]}, {"a": 10, "b": [20], "c": 3}) == {"a": (1, 10), "b": [(2, 20)]}
    # A deeper second tree: its subtree is passed whole at the first tree's leaf.
    assert tree_map(pair, {"a": 1}, {"a": {"x": 2}}) == {"a": (1, {"x": 2})}
    assert tree_map(lambda t: sum(t), {"a": (1, 2)}, is_leaf=lambda x: isinstance(x, tuple)) == {"a": 3}


def test_map_errors_like_mlx():
    pair = lambda x, y: (x, y)
    with pytest.raises(KeyError):
        tree_map(pair, {"a": 1, "b": [2]}, {"a": 10})
    with pytest.raises(TypeError):
        tree_map(pair, {"a": 1, "b": [2]}, {"a": 10, "b": 5})
    with pytest.raises(IndexError):
        tree_map(pair, [1, 2], [1])


def test_map_with_path():
    paths = tree_map_with_path(lambda p, x: p, TREE)
    assert paths == {"a": ["a.0", ("a.1.0", "a.1.1"), {"b": "a.2.b"}], "c": {}, "d": [], "e": "e", "f": "f"}
    assert tree_map_with_path(lambda p, x: p, 3) is None
    assert tree_map_with_path(lambda p, x: p, [3, {"a": 1}], path="pre") == ["pre.0", {"a": "pre.1.a"}]
    assert tree_map_with_path(lambda p, x, y: (p, x + y), [3, {"a": 1}], [4, {"a": 2}]) == [("0", 7), {"a": ("1.a", 3)}]


def test_merge():
    assert tree_merge({"a": 1, "b": [1, None]}, {"c": 2, "b": [None, 3, 4]}) == {"a": 1, "b": [1, 3, 4], "c": 2}
    assert tree_merge({"a": 1}, {"a": 2}, lambda x, y: x + y) == {"a": 3}
    assert tree_merge(None, {"a": 2}) == {"a": 2}
    assert tree_merge({}, [1]) == [1] and tree_merge(1, None) == 1
    assert tree_merge((1, None), (None, 2)) == (1, 2)
    assert tree_merge([1, None], (None, 2)) == [1, 2]  # the first tree's type
    assert tree_merge({"a": None}, {"a": {"b": 1}}) == {"a": {"b": 1}}
    assert tree_merge({"a": [1, 2]}, {"a": {}}) == {"a": [1, 2]}
    for a, b in [({"a": 1}, {"a": 2}), ([1, 2], {"a": 2}), ({"a": 1}, {"a": {"b": 1}}), (0, 1)]:
        with pytest.raises(ValueError, match="no merge function"):
            tree_merge(a, b)


def test_reduce():
    add = lambda acc, x: acc + x
    assert tree_reduce(add, {"a": [1, 2], "b": 3}) == 6
    assert tree_reduce(add, {"a": [1, 2], "b": 3}, 10) == 16
    assert tree_reduce(add, {}) is None
    assert tree_reduce(add, {}, 0) == 0
    # Without an initializer, leading None leaves are skipped (the accumulator is None).
    assert tree_reduce(lambda a, x: str(a) + str(x), {"a": [None, 2, 3]}) == "23"
    with pytest.raises(TypeError):
        tree_reduce(add, {"a": None, "b": 1}, 0)
    appended = tree_reduce(lambda a, x: a + [x], {"a": (1, 2), "b": [3]}, [], is_leaf=lambda x: isinstance(x, tuple))
    assert appended == [(1, 2), 3]
    total = tree_reduce(add, [mx.array(1.5), {"x": mx.array([2.0, 3.0])}])
    np.testing.assert_array_equal(np.array(total), [3.5, 4.5])


@needs_mlx
def test_against_mlx_on_nested_trees():
    calls = [
        lambda u: u.tree_flatten(TREE),
        lambda u: u.tree_flatten(TREE, prefix="foo"),
        lambda u: u.tree_flatten(TREE, prefix=".foo", destination={}),
        lambda u: u.tree_flatten([TREE, (TREE,)], is_leaf=lambda x: isinstance(x, list) and len(x) == 0),
        lambda u: u.tree_unflatten(u.tree_flatten([TREE, {"x": [TREE]}])),
        lambda u: u.tree_unflatten([("b", 0), ("a", 1), ("c.1", 2), ("c.0", 3), ("1.5", 4)]),
        lambda u: u.tree_map(lambda x: (x, x), TREE),
        lambda u: u.tree_map(lambda x, y: [x, y], TREE, TREE),
        lambda u: u.tree_map_with_path(lambda p, x: (p, x), [TREE, {"k": TREE}]),
        lambda u: u.tree_map_with_path(lambda p, x: p, {"a": [1]}, path=""),
        lambda u: u.tree_merge([{"a": 1}, None, [2]], [{"b": 1}, (3,), [None, 4], 5]),
        lambda u: u.tree_reduce(lambda a, x: a + [x], TREE, []),
        lambda u: u.tree_reduce(lambda a, x: f"{a}{x}", [None, None, 1, [2, None]]),
    ]
    import ferrox.utils as fu

    for call in calls:
        assert call(fu) == call(mlx_utils)
