"""`ferrox.nn`'s distributed layers against MLX 0.32.4's on one process: the same
weights from the same seed, the same outputs, parameter keys, reprs and errors.

One process gives a group of size 1, where every collective is the identity. To check
how parameters are sliced across a larger group, `FakeGroup` stands in for a member of
a group of two: sharding only asks a group for its size and rank (no communication),
and MLX accepts the same stand-in, so both slice the same weight and must agree.
"""

import numpy as np
import pytest

import ferrox.core as mx
import ferrox.nn as nn
from ferrox.nn.layers import distributed as dist
from ferrox.utils import tree_flatten

try:
    import mlx.core as mlx
    import mlx.nn as mlx_nn
    from mlx.nn.layers import distributed as mlx_dist
    from mlx.utils import tree_flatten as mlx_flatten
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None

needs_mlx = pytest.mark.skipif(mlx is None, reason="mlx is not installed")

DISTRIBUTED = [
    "AllToShardedLinear", "ShardedToAllLinear", "QuantizedAllToShardedLinear",
    "QuantizedShardedToAllLinear", "FullyShardedModule", "fully_shard", "distributed",
]


class FakeGroup:
    """Member ``rank`` of a group of ``size``, for slicing only (see the module doc)."""

    def __init__(self, size, rank):
        self._size, self._rank = size, rank

    def size(self):
        return self._size

    def rank(self):
        return self._rank


def params(m, flatten=tree_flatten):
    return {k: np.array(v) for k, v in flatten(m.parameters())}


def trainable(m, flatten=tree_flatten):
    return [k for k, _ in flatten(m.trainable_parameters())]


def assert_same_params(ours, theirs):
    a, b = params(ours), params(theirs, mlx_flatten)
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def both(make):
    """``make(nn)`` built in ferrox and in MLX from the same seed."""
    mx.random.seed(7)
    mlx.random.seed(7)
    return make(nn), make(mlx_nn)


@needs_mlx
def test_exported_as_mlx_exports_them():
    for name in DISTRIBUTED:
        assert hasattr(nn, name) and hasattr(mlx_nn, name), name
    assert nn.distributed is dist
    # shard_linear and shard_inplace live in the module only, in both.
    assert not hasattr(mlx_nn, "shard_linear") and not hasattr(nn, "shard_linear")
    assert callable(dist.shard_linear) and callable(dist.shard_inplace)


@needs_mlx
@pytest.mark.parametrize("name", ["AllToShardedLinear", "ShardedToAllLinear"])
@pytest.mark.parametrize("bias", [True, False])
def test_sharded_linear_matches_mlx(name, bias):
    ours, theirs = both(lambda m: getattr(m, name)(8, 16, bias=bias))
    assert_same_params(ours, theirs)  # same draws: Linear's scale and order
    assert repr(ours) == repr(theirs) == f"{name}(input_dims=8, output_dims=16, bias={bias})"
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_allclose(np.array(ours(mx.array(x))), np.array(theirs(mlx.array(x))), rtol=1e-5, atol=1e-6)


@needs_mlx
def test_sharded_linear_gradients_match_a_linear():
    """On one process the input's gradient is the plain one (the sum over one member)."""
    mx.random.seed(1)
    layer = nn.AllToShardedLinear(4, 6)
    x = mx.array(np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32))
    gx = mx.grad(lambda x: layer(x).sum())(x)
    w = np.array(layer.weight)
    np.testing.assert_allclose(np.array(gx), np.tile(w.sum(0), (2, 1)), rtol=1e-5)
    loss = lambda model, x: (model(x) ** 2).sum()  # noqa: E731
    ours = nn.value_and_grad(layer, loss)(layer, x)[1]
    theirs = mlx_nn.value_and_grad(layer_mlx := mlx_nn.AllToShardedLinear(4, 6), loss)
    layer_mlx.update({k: mlx.array(np.array(v)) for k, v in layer.parameters().items()})
    theirs = theirs(layer_mlx, mlx.array(np.array(x)))[1]
    for k in ("weight", "bias"):
        np.testing.assert_allclose(np.array(ours[k]), np.array(theirs[k]), rtol=1e-5, atol=1e-6)


@needs_mlx
@pytest.mark.parametrize("name", ["QuantizedAllToShardedLinear", "QuantizedShardedToAllLinear"])
@pytest.mark.parametrize("mode,group_size", [("affine", 64), ("mxfp4", 32)])
def test_quantized_sharded_linear_matches_mlx(name, mode, group_size):
    ours, theirs = both(lambda m: getattr(m, name)(64, 16, group_size=group_size, mode=mode))
    assert_same_params(ours, theirs)
    assert repr(ours) == repr(theirs)
    assert trainable(ours) == trainable(theirs, mlx_flatten) == []  # frozen ...
    ours.unfreeze()
    theirs.unfreeze()
    assert trainable(ours) == trainable(theirs, mlx_flatten) == []  # ... and stays so
    x = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    np.testing.assert_allclose(np.array(ours(mx.array(x))), np.array(theirs(mlx.array(x))), rtol=1e-5, atol=1e-5)


@needs_mlx
@pytest.mark.parametrize("sharding", ["all-to-sharded", "sharded-to-all"])
def test_shard_linear_keeps_the_function(sharding):
    """A sharded copy of a layer computes what it did; the original is not changed."""
    mx.random.seed(3)
    for layer, width in [(nn.Linear(8, 16), 8), (nn.QuantizedLinear(64, 16), 64)]:
        before = params(layer)
        sharded = dist.shard_linear(layer, sharding)
        want = {"all-to-sharded": "AllToShardedLinear", "sharded-to-all": "ShardedToAllLinear"}[sharding]
        assert type(sharded).__name__ == ("Quantized" + want if width == 64 else want)
        assert list(params(sharded)) == list(before)
        x = mx.array(np.random.default_rng(0).standard_normal((3, width)).astype(np.float32))
        np.testing.assert_allclose(np.array(sharded(x)), np.array(layer(x)), rtol=1e-5, atol=1e-5)
        for k, v in params(layer).items():
            np.testing.assert_array_equal(v, before[k])


@needs_mlx
@pytest.mark.parametrize("sharding", ["all-to-sharded", "sharded-to-all"])
@pytest.mark.parametrize("segments", [1, 2, [0.25]])
@pytest.mark.parametrize("rank", [0, 1])
def test_slices_match_mlx_across_two_members(sharding, segments, rank):
    ours, theirs = both(lambda m: m.Linear(8, 6))
    theirs.update({k: mlx.array(v) for k, v in params(ours).items()})

    def shard(d, layer):
        try:
            return d.shard_linear(layer, sharding, segments=segments, group=FakeGroup(2, rank))
        except ValueError:
            return ValueError

    a, b = shard(dist, ours), shard(mlx_dist, theirs)
    if b is ValueError:  # 6 rows in 2 segments of 3 cannot be halved
        assert a is ValueError
        return
    assert_same_params(a, b)
    assert repr(a) == repr(b)  # the full layer's dims


@needs_mlx
def test_quantized_slices_match_mlx_across_two_members():
    ours, theirs = both(lambda m: m.QuantizedLinear(128, 8))
    for sharding in ["all-to-sharded", "sharded-to-all"]:
        a = dist.shard_linear(ours, sharding, group=FakeGroup(2, 1))
        b = mlx_dist.shard_linear(theirs, sharding, group=FakeGroup(2, 1))
        assert_same_params(a, b)
        assert repr(a) == repr(b)


@needs_mlx
@pytest.mark.parametrize("sharding", ["all-to-sharded", "sharded-to-all", "callable"])
def test_shard_inplace_matches_mlx(sharding):
    ours, theirs = both(lambda m: m.Sequential(m.Linear(4, 8), m.Linear(8, 4)))
    seen = []

    def rule(path, w):  # axis and segments, as MLX's callables return them
        seen.append((path, tuple(w.shape)))
        return None if path.endswith("bias") else (0, 2)

    arg = rule if sharding == "callable" else sharding
    assert dist.shard_inplace(ours, arg, group=FakeGroup(2, 1)) is None
    ours_seen, seen[:] = list(seen), []
    mlx_dist.shard_inplace(theirs, arg, group=FakeGroup(2, 1))
    assert_same_params(ours, theirs)
    if sharding == "callable":
        assert ours_seen == seen and [p for p, _ in seen] == [
            "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]


@needs_mlx
def test_errors_match_mlx():
    def error(f):
        with pytest.raises(Exception) as info:
            f()
        return info.type, str(info.value)

    cases = [
        lambda d, m: d.shard_linear(m.Linear(8, 16), "foo"),
        lambda d, m: d.shard_inplace(m.Linear(8, 16), "foo"),
        lambda d, m: d.shard_linear(m.ReLU(), "all-to-sharded"),
        lambda d, m: d.shard_linear(m.Embedding(4, 4), "all-to-sharded"),
        lambda d, m: m.AllToShardedLinear.from_linear(m.QuantizedLinear(64, 16)),
        lambda d, m: m.AllToShardedLinear(8, 5, group=FakeGroup(2, 0)),
        lambda d, m: m.ShardedToAllLinear(5, 8, group=FakeGroup(2, 0)),
        lambda d, m: m.QuantizedAllToShardedLinear(64, 5, group=FakeGroup(2, 0)),
    ]
    for case in cases:
        assert error(lambda: case(dist, nn)) == error(lambda: case(mlx_dist, mlx_nn))
    # An uneven split: the same type; the messages of ferrox's and MLX's split differ.
    t, msg = error(lambda: dist.shard_linear(nn.Linear(8, 16), "all-to-sharded", segments=3))
    assert t is ValueError and "equal size" in msg


@needs_mlx
def test_fully_shard_on_one_process_returns_the_module():
    layer = nn.Linear(4, 8)
    assert nn.fully_shard(layer) is layer
    assert nn.fully_shard(layer, group=mx.distributed.init()) is layer
    assert type(mlx_nn.fully_shard(mlx_nn.Linear(4, 8))) is mlx_nn.Linear


@needs_mlx
@pytest.mark.parametrize("compute_dtype", [None, "float16"])
def test_fully_sharded_module_matches_mlx(compute_dtype):
    ours, theirs = both(lambda m: m.Linear(4, 8))
    a = nn.FullyShardedModule(ours, compute_dtype=compute_dtype and getattr(mx, compute_dtype))
    b = mlx_nn.FullyShardedModule(theirs, compute_dtype=compute_dtype and getattr(mlx, compute_dtype))
    assert_same_params(a, b)
    assert list(params(a)) == ["module.weight", "module.bias"]
    assert repr(a) == repr(b) == (
        "FullyShardedModule(num_sharded_params=2\n  (module): Linear(input_dims=4, output_dims=8, bias=True)\n)")
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    ya, yb = a(mx.array(x)), b(mlx.array(x))
    assert str(ya.dtype) == str(yb.dtype)
    np.testing.assert_allclose(np.array(ya), np.array(yb), rtol=1e-3 if compute_dtype else 1e-5, atol=1e-6)
    assert_same_params(a, b)  # the call put the stored parameters back

    loss = lambda model, x: (model(x) ** 2).sum()  # noqa: E731
    ga = nn.value_and_grad(a, loss)(a, mx.array(x))[1]
    gb = mlx_nn.value_and_grad(b, loss)(b, mlx.array(x))[1]
    for (ka, va), (kb, vb) in zip(tree_flatten(ga), mlx_flatten(gb)):
        assert ka == kb and va.dtype == mx.float32
        np.testing.assert_allclose(np.array(va), np.array(vb), rtol=1e-2 if compute_dtype else 1e-5, atol=1e-4)


@needs_mlx
def test_fully_sharded_module_wraps_any_module():
    ours, theirs = both(lambda m: m.Embedding(10, 4))
    a, b = nn.FullyShardedModule(ours), mlx_nn.FullyShardedModule(theirs)
    assert repr(a) == repr(b)
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(np.array(a.as_linear(mx.array(x))), np.array(b.as_linear(mlx.array(x))), rtol=1e-5)
    assert repr(nn.FullyShardedModule(nn.ReLU())) == repr(mlx_nn.FullyShardedModule(mlx_nn.ReLU()))
    # Frozen parameters are sharded too, and stay frozen.
    ours, theirs = both(lambda m: m.Linear(4, 4))
    ours.freeze(keys=["bias"])
    theirs.freeze(keys=["bias"])
    a, b = nn.FullyShardedModule(ours), mlx_nn.FullyShardedModule(theirs)
    assert repr(a) == repr(b)
    assert trainable(a) == trainable(b, mlx_flatten) == ["module.weight"]


def test_fully_sharded_module_needs_divisible_axis_0():
    with pytest.raises(ValueError, match="axis 0"):
        nn.FullyShardedModule(nn.Linear(4, 3), group=FakeGroup(2, 0))


@needs_mlx
def test_fully_sharded_module_keeps_a_slice_of_axis_0():
    ours, theirs = both(lambda m: m.Sequential(m.Linear(4, 6), m.LayerNorm(6)))
    full = params(ours)
    a = nn.FullyShardedModule(ours, group=FakeGroup(2, 1))
    b = mlx_nn.FullyShardedModule(theirs, group=FakeGroup(2, 1))
    assert_same_params(a, b)
    for k, v in params(a).items():
        np.testing.assert_array_equal(v, np.split(full[k[len("module."):]], 2)[1])


@pytest.fixture
def two_identical_members(monkeypatch):
    """Collectives as seen by rank 0 of two members that hold identical data: a sum
    doubles, a gather repeats, a reduce-scatter doubles the first half. This checks
    where the layers communicate (forward or backward), which one process cannot."""
    monkeypatch.setattr(mx.distributed, "all_sum", lambda x, group=None, stream=None: 2 * x)
    monkeypatch.setattr(mx.distributed, "all_gather",
                        lambda x, group=None, stream=None: mx.concatenate([x, x], axis=0))
    monkeypatch.setattr(mx.distributed, "sum_scatter",
                        lambda x, group=None, stream=None: 2 * x[: x.shape[0] // 2])
    return FakeGroup(2, 0)


def test_communication_happens_where_it_should(two_identical_members):
    group = two_identical_members
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4)).astype(np.float32)

    # all-to-sharded: the forward is local, the input's gradient is summed.
    layer = nn.AllToShardedLinear(4, 6, group=group)
    w, b = np.array(layer.weight, np.float64), np.array(layer.bias, np.float64)
    assert w.shape == (3, 4)
    np.testing.assert_allclose(np.array(layer(mx.array(x))), x @ w.T + b, rtol=1e-5, atol=1e-6)
    gx = mx.grad(lambda x: layer(x).sum())(mx.array(x))
    np.testing.assert_allclose(np.array(gx), 2 * np.tile(w.sum(0), (3, 1)), rtol=1e-5)

    # sharded-to-all: the partial products are summed in the forward, then the bias added.
    layer = nn.ShardedToAllLinear(8, 5, group=group)
    w, b = np.array(layer.weight, np.float64), np.array(layer.bias, np.float64)
    assert w.shape == (5, 4)
    np.testing.assert_allclose(np.array(layer(mx.array(x))), 2 * (x @ w.T) + b, rtol=1e-5, atol=1e-6)

    # fully sharded: the forward sees the gathered weight, the gradient is scattered.
    full = nn.Linear(4, 4)
    wf, bf = np.array(full.weight, np.float64), np.array(full.bias, np.float64)
    fsdp = nn.FullyShardedModule(full, group=group)
    assert params(fsdp)["module.weight"].shape == (2, 4)
    wg, bg = np.concatenate([wf[:2]] * 2), np.concatenate([bf[:2]] * 2)  # as gathered
    y = x @ wg.T + bg
    np.testing.assert_allclose(np.array(fsdp(mx.array(x))), y, rtol=1e-5, atol=1e-6)
    loss = lambda model, x: (model(x) ** 2).sum()  # noqa: E731
    grads = dict(tree_flatten(nn.value_and_grad(fsdp, loss)(fsdp, mx.array(x))[1]))
    dw, db = 2 * y.T @ x, 2 * y.sum(0)  # gradients for the gathered parameters
    np.testing.assert_allclose(np.array(grads["module.weight"]), 2 * dw[:2], rtol=1e-4)
    np.testing.assert_allclose(np.array(grads["module.bias"]), 2 * db[:2], rtol=1e-4)
    assert params(fsdp)["module.weight"].shape == (2, 4)  # the slices are back
