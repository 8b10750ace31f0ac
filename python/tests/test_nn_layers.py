"""`ferrox.nn` layers: each against float64 NumPy math and against MLX's same layer
with identical weights (copied through NumPy), parameter key names identical to MLX's
(checkpoint compatibility), train/eval behaviour and MLX's errors."""

import math

import numpy as np
import pytest

import ferrox.core as mx
import ferrox.nn as nn
from ferrox.nn._tree import tree_flatten

try:
    import mlx.core as mlx
    import mlx.nn as mlx_nn
    from mlx.utils import tree_flatten as mlx_flatten
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None

needs_mlx = pytest.mark.skipif(mlx is None, reason="mlx is not installed")


def params(m):
    return {k: np.array(v) for k, v in tree_flatten(m.parameters())}


def to_mlx(ours, theirs):
    """Give the MLX layer ``theirs`` exactly the parameters of ``ours``; the strict load
    also asserts the two have the same keys and shapes."""
    theirs.load_weights([(k, mlx.array(v)) for k, v in params(ours).items()])
    return theirs


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# (name, constructor arguments, input shapes): built in both frameworks by name.
CASES = [
    ("Linear", (5, 3), [(4, 5)]),
    ("Linear", (5, 3), [(2, 3, 5)]),
    ("Linear", (5, 3, False), [(7, 5)]),
    ("Bilinear", (4, 3, 2), [(5, 4), (5, 3)]),
    ("Bilinear", (4, 3, 2, False), [(2, 3, 4), (2, 3, 3)]),
    ("Identity", (1, 2), [(3, 2)]),
    ("LayerNorm", (6,), [(4, 6)]),
    ("LayerNorm", (6, 1e-3, True, False), [(2, 3, 6)]),
    ("LayerNorm", (6, 1e-5, False), [(2, 6)]),
    ("RMSNorm", (6,), [(2, 3, 6)]),
    ("GroupNorm", (2, 6), [(2, 5, 6)]),
    ("GroupNorm", (3, 6, 1e-5, True, True), [(2, 4, 4, 6)]),
    ("InstanceNorm", (4,), [(2, 3, 5, 4)]),
    ("InstanceNorm", (4, 1e-5, True), [(2, 7, 4)]),
    ("BatchNorm", (5,), [(8, 5)]),
    ("BatchNorm", (5,), [(2, 3, 4, 5)]),
    ("BatchNorm", (5, 1e-5, 0.1, False, False), [(3, 4, 5)]),
    ("PReLU", (3, 0.1), [(4, 3)]),
    ("MultiHeadAttention", (8, 2), [(2, 5, 8), (2, 6, 8), (2, 6, 8)]),
    ("MultiHeadAttention", (8, 4, 3, 5, 6, 12, 7, True), [(2, 4, 3), (2, 6, 5), (2, 6, 6)]),
    ("TransformerEncoderLayer", (8, 2, 16), [(2, 5, 8), None]),
    ("TransformerEncoderLayer", (8, 2, None, 0.0, "gelu", False), [(2, 5, 8), None]),
    ("TransformerDecoderLayer", (8, 2), [(2, 5, 8), (2, 4, 8), None, None]),
    ("TransformerEncoder", (2, 8, 2), [(2, 5, 8), None]),
    ("TransformerDecoder", (2, 8, 2, 16, 0.0, "gelu", False), [(2, 5, 8), (2, 4, 8), None, None]),
    ("Transformer", (8, 2, 1, 2), [(2, 5, 8), (2, 4, 8), None, None, None]),
    ("RoPE", (8,), [(2, 3, 8)]),
    ("RoPE", (4, True, 100.0, 0.5), [(2, 5, 6)]),
    ("SinusoidalPositionalEncoding", (8,), [(3, 5)]),
    ("SinusoidalPositionalEncoding", (6, 1e-3, 2.0, 1.0, True, True), [(7,)]),
    ("ALiBi", (), [(2, 4, 3, 3)]),
]


def make_inputs(rng, shapes):
    return [None if s is None else f32(rng, *s) for s in shapes]


@needs_mlx
@pytest.mark.parametrize("name,args,shapes", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_matches_mlx_and_keys(name, args, shapes, rng):
    # "gelu" stands for each framework's own activation function.
    ours = getattr(nn, name)(*[nn.gelu if a == "gelu" else a for a in args])
    theirs = to_mlx(ours, getattr(mlx_nn, name)(*[mlx_nn.gelu if a == "gelu" else a for a in args]))
    assert list(params(ours)) == [k for k, _ in mlx_flatten(theirs.parameters())]
    assert repr(ours) == repr(theirs)
    xs = make_inputs(rng, shapes)
    y = ours(*[None if x is None else mx.array(x) for x in xs])
    z = theirs(*[None if x is None else mlx.array(x) for x in xs])
    assert y.shape == z.shape and y.dtype == getattr(mx, str(z.dtype).split(".")[-1])
    np.testing.assert_allclose(np.array(y), np.array(z), rtol=2e-5, atol=2e-5)
    # Running statistics, where there are any, also agree.
    np.testing.assert_allclose(
        np.concatenate([v.ravel() for v in params(ours).values()] or [np.zeros(1)]),
        np.concatenate([np.array(v).ravel() for _, v in mlx_flatten(theirs.parameters())] or [np.zeros(1)]),
        rtol=1e-5, atol=1e-6,
    )


def test_linear_and_bilinear_against_numpy(rng):
    lin = nn.Linear(5, 3)
    p = {k: v.astype(np.float64) for k, v in params(lin).items()}
    assert p["weight"].shape == (3, 5) and np.abs(p["weight"]).max() <= 1 / math.sqrt(5)
    x = f32(rng, 2, 4, 5)
    np.testing.assert_allclose(np.array(lin(mx.array(x))), x @ p["weight"].T + p["bias"], rtol=1e-5, atol=1e-6)
    nb = nn.Linear(5, 3, bias=False)
    assert list(params(nb)) == ["weight"]
    np.testing.assert_allclose(np.array(nb(mx.array(x))), x @ np.array(nb.weight, np.float64).T, rtol=1e-5, atol=1e-6)

    bil = nn.Bilinear(4, 3, 2)
    p = {k: v.astype(np.float64) for k, v in params(bil).items()}
    assert p["weight"].shape == (2, 3, 4)
    x1, x2 = f32(rng, 2, 5, 4), f32(rng, 2, 5, 3)
    ref = np.einsum("...i,oji,...j->...o", x1, p["weight"], x2) + p["bias"]
    np.testing.assert_allclose(np.array(bil(mx.array(x1), mx.array(x2))), ref, rtol=1e-5, atol=1e-5)


def test_embedding_lookup_and_as_linear(rng):
    emb = nn.Embedding(10, 4)
    w = np.array(emb.weight, np.float64)
    assert w.shape == (10, 4) and 0.3 < w.std() < 0.7  # normal with std 1/sqrt(4)
    idx = np.array([[1, 9, 0], [3, 3, 2]])
    np.testing.assert_array_equal(np.array(emb(mx.array(idx))), w[idx].astype(np.float32))
    x = f32(rng, 2, 4)
    np.testing.assert_allclose(np.array(emb.as_linear(mx.array(x))), x @ w.T, rtol=1e-5, atol=1e-6)
    assert repr(emb) == "Embedding(10, 4)"
    if mlx is not None:
        theirs = to_mlx(emb, mlx_nn.Embedding(10, 4))
        np.testing.assert_array_equal(np.array(theirs(mlx.array(idx))), np.array(emb(mx.array(idx))))
        np.testing.assert_allclose(np.array(theirs.as_linear(mlx.array(x))), np.array(emb.as_linear(mx.array(x))), rtol=1e-6)


def test_sequential_composes(rng):
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), lambda x: x * 2)
    x = f32(rng, 5, 3)
    p = {k: v.astype(np.float64) for k, v in params(seq).items()}
    h = np.maximum(x @ p["layers.0.weight"].T + p["layers.0.bias"], 0)
    ref = 2 * (h @ p["layers.2.weight"].T + p["layers.2.bias"])
    np.testing.assert_allclose(np.array(seq(mx.array(x))), ref, rtol=1e-5, atol=1e-5)
    assert list(p) == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]


def np_norm(x, axes, eps):
    x = x.astype(np.float64)
    return (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)


def test_norms_against_numpy(rng):
    x = f32(rng, 2, 3, 6)
    ln = nn.LayerNorm(6)
    ln.update({"weight": mx.array(f32(rng, 6)), "bias": mx.array(f32(rng, 6))})
    p = params(ln)
    np.testing.assert_allclose(np.array(ln(mx.array(x))), np_norm(x, -1, 1e-5) * p["weight"] + p["bias"], rtol=1e-4, atol=1e-5)
    rms = nn.RMSNorm(6, eps=1e-3)
    ref = x / np.sqrt((x.astype(np.float64) ** 2).mean(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(np.array(rms(mx.array(x))), ref, rtol=1e-5, atol=1e-6)
    # GroupNorm: MLX groups channels with a stride, PyTorch in blocks.
    g = np.array(nn.GroupNorm(2, 6)(mx.array(x)))
    for grp in ([0, 2, 4], [1, 3, 5]):
        np.testing.assert_allclose(g[..., grp], np_norm(x[..., grp], (1, 2), 1e-5), rtol=1e-4, atol=1e-5)
    g = np.array(nn.GroupNorm(2, 6, pytorch_compatible=True)(mx.array(x)))
    for grp in ([0, 1, 2], [3, 4, 5]):
        np.testing.assert_allclose(g[..., grp], np_norm(x[..., grp], (1, 2), 1e-5), rtol=1e-4, atol=1e-5)
    x4 = f32(rng, 2, 3, 4, 5)
    np.testing.assert_allclose(np.array(nn.InstanceNorm(5)(mx.array(x4))), np_norm(x4, (1, 2), 1e-5), rtol=1e-4, atol=1e-5)


def test_batchnorm_running_stats_and_eval(rng):
    bn = nn.BatchNorm(3, momentum=0.2)
    assert list(tree_flatten(bn.trainable_parameters())) and [k for k, _ in tree_flatten(bn.trainable_parameters())] == ["weight", "bias"]
    bn.unfreeze()
    assert [k for k, _ in tree_flatten(bn.trainable_parameters())] == ["weight", "bias"]  # stats stay frozen
    x = f32(rng, 4, 5, 3)
    y = np.array(bn(mx.array(x)))
    np.testing.assert_allclose(y, np_norm(x, (0, 1), 1e-5), rtol=1e-4, atol=1e-5)
    flat = x.reshape(-1, 3).astype(np.float64)
    rm, rv = 0.2 * flat.mean(0), 0.8 + 0.2 * flat.var(0, ddof=1)  # unbiased variance
    np.testing.assert_allclose(np.array(bn.running_mean), rm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(bn.running_var), rv, rtol=1e-5)
    bn.eval()
    x2 = f32(rng, 2, 3)
    np.testing.assert_allclose(np.array(bn(mx.array(x2))), (x2 - rm) / np.sqrt(rv + 1e-5), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.array(bn.running_mean), rm, rtol=1e-5, atol=1e-6)  # eval does not update
    with pytest.raises(ValueError, match="2, 3 or 4 dimensions, but got 5"):
        bn(mx.zeros((1, 1, 1, 1, 3)))
    assert sorted(nn.BatchNorm(3, affine=False, track_running_stats=False).keys()) == []


def test_dropout_train_and_eval(rng):
    x = mx.ones((200, 50))
    d = nn.Dropout(0.25)
    assert repr(d) == "Dropout(p=0.25)"
    y = np.array(d(x))
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.2 < (y == 0).mean() < 0.3
    d.eval()
    assert d(x) is x
    d2 = nn.Dropout2d(0.5)
    y = np.array(d2(mx.ones((4, 3, 5, 16))))
    assert (y == y[:, :1, :1, :]).all()  # whole channels dropped
    assert 0 < (y == 0).mean() < 1
    y = np.array(nn.Dropout3d(0.5)(mx.ones((2, 2, 3, 3, 8))))
    assert (y == y[:, :1, :1, :1, :]).all() and set(np.unique(y)) <= {0.0, 2.0}
    assert nn.Dropout(0.0)(x) is x
    for cls in (nn.Dropout, nn.Dropout2d, nn.Dropout3d):
        with pytest.raises(ValueError, match=r"not in \[0, 1\)"):
            cls(1.0)
    with pytest.raises(ValueError, match="Expected 3 or 4 dimensions"):
        nn.Dropout2d()(mx.ones((2, 3)))
    with pytest.raises(ValueError, match="Expected 4 or 5 dimensions"):
        nn.Dropout3d()(mx.ones((2, 3, 4)))


def test_groupnorm_error():
    with pytest.raises(ValueError, match="evenly divisible by the number of groups"):
        nn.GroupNorm(3, 4)
