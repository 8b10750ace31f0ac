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
    mx.random.seed(0)  # fixed weights: the MLX comparison below sums in another order
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
        np.testing.assert_allclose(np.array(theirs.as_linear(mlx.array(x))), np.array(emb.as_linear(mx.array(x))), rtol=1e-5, atol=1e-6)


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


# -- quantized layers --------------------------------------------------------------------

QMODES = [("affine", 64, 4), ("affine", 32, 8), ("mxfp4", None, None), ("nvfp4", None, None), ("mxfp8", None, None)]


@pytest.mark.parametrize("mode,gs,bits", QMODES)
def test_quantized_linear_from_linear(mode, gs, bits, rng):
    lin = nn.Linear(128, 6)
    ql = lin.to_quantized(group_size=gs, bits=bits, mode=mode)
    assert isinstance(ql, nn.QuantizedLinear)
    assert keys_of(ql) == (["weight", "scales", "biases", "bias"] if mode == "affine" else ["weight", "scales", "bias"])
    assert keys_of(ql.trainable_parameters()) == []  # packed weights start frozen
    ql.unfreeze(keys="bias")
    assert keys_of(ql.trainable_parameters()) == ["bias"]
    ql.unfreeze()  # MLX 0.32.4 does not keep them frozen against an explicit unfreeze
    assert keys_of(ql.trainable_parameters()) == keys_of(ql)
    ql.freeze()
    x = f32(rng, 3, 128)
    y = np.array(ql(mx.array(x)))
    # float64 reference on the dequantized weight.
    w = np.array(mx.dequantize(ql.weight, scales=ql.scales, biases=ql.get("biases"), group_size=ql.group_size, bits=ql.bits, mode=mode, dtype=mx.float32), np.float64)
    np.testing.assert_allclose(y, x @ w.T + np.array(lin.bias), rtol=1e-4, atol=1e-4)
    if mlx is not None:
        theirs = mlx_nn.Linear(128, 6)
        theirs.load_weights([(k, mlx.array(v)) for k, v in params(lin).items()])
        tq = theirs.to_quantized(group_size=gs, bits=bits, mode=mode)
        assert repr(ql) == repr(tq)
        for (k, a), (k2, b) in zip(params(ql).items(), mlx_flatten(tq.parameters())):
            assert k == k2
            np.testing.assert_array_equal(a, np.array(b))  # bit-identical packing
        np.testing.assert_allclose(y, np.array(tq(mlx.array(x))), rtol=1e-5, atol=1e-5)


def keys_of(m):
    return [k for k, _ in tree_flatten(m.parameters() if isinstance(m, nn.Module) else m)]


@pytest.mark.parametrize("mode,gs,bits", QMODES)
def test_quantized_embedding(mode, gs, bits, rng):
    emb = nn.Embedding(12, 64)
    qe = emb.to_quantized(group_size=gs, bits=bits, mode=mode)
    assert isinstance(qe, nn.QuantizedEmbedding)
    w = mx.dequantize(qe.weight, scales=qe.scales, biases=qe.get("biases"), group_size=qe.group_size, bits=qe.bits, mode=mode)
    assert qe(mx.array([0])).dtype == w.dtype  # the dequantize default (bfloat16 for the fp modes)
    w = np.array(w.astype(mx.float32))
    idx = np.array([[0, 11, 3], [3, 3, 7]])
    np.testing.assert_array_equal(np.array(qe(mx.array(idx)).astype(mx.float32)), w[idx])
    np.testing.assert_allclose(np.abs(w - np.array(emb.weight)).max(), 0, atol=0.2)  # close to the original
    x = f32(rng, 2, 64)
    np.testing.assert_allclose(np.array(qe.as_linear(mx.array(x))), x.astype(np.float64) @ w.T, rtol=1e-4, atol=1e-4)
    assert keys_of(qe.trainable_parameters()) == []
    if mlx is not None:
        theirs = mlx_nn.Embedding(12, 64)
        theirs.load_weights([("weight", mlx.array(np.array(emb.weight)))])
        tq = theirs.to_quantized(group_size=gs, bits=bits, mode=mode)
        assert repr(qe) == repr(tq) and keys_of(qe) == [k for k, _ in mlx_flatten(tq.parameters())]
        z = tq(mlx.array(idx))
        assert str(z.dtype) == str(qe(mx.array(idx)).dtype)
        np.testing.assert_array_equal(np.array(qe(mx.array(idx)).astype(mx.float32)), np.array(z.astype(mlx.float32)))


def test_nn_quantize_swaps_layers_in_place(tmp_path):
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), [nn.Embedding(10, 64), nn.Linear(32, 8)])
    assert nn.quantize(model, group_size=32, bits=8) is None
    assert isinstance(model.layers[0], nn.QuantizedLinear) and model.layers[0].bits == 8
    assert isinstance(model.layers[2][0], nn.QuantizedEmbedding) and model.layers[2][0].group_size == 32
    assert isinstance(model.layers[1], nn.ReLU)
    # A predicate choosing layers by path, with per-layer arguments.
    model = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 64), nn.Embedding(4, 64))
    seen = []

    def pred(path, m):
        seen.append(path)
        return {"bits": 2} if path == "layers.1" else False

    nn.quantize(model, class_predicate=pred)
    assert seen == ["layers.0", "layers.1", "layers.2"]
    assert type(model.layers[0]) is nn.Linear and model.layers[1].bits == 2 and type(model.layers[2]) is nn.Embedding
    with pytest.raises(ValueError, match="must return a bool or a dict"):
        nn.quantize(model, class_predicate=lambda p, m: 3 if type(m) is nn.Linear else False)
    with pytest.raises(ValueError, match="Unable to quantize model of type"):
        nn.quantize(nn.Sequential(nn.ReLU()), class_predicate=lambda p, m: True)
    with pytest.raises(ValueError, match="only supported for 'nvfp4' and 'mxfp8'"):
        nn.Linear(64, 8).to_quantized(quantize_input=True)
    with pytest.raises(ValueError, match="Quantized input is not supported"):
        nn.Embedding(4, 64).to_quantized(quantize_input=True)
    with pytest.raises(NotImplementedError, match="does not support bias"):
        nn.Linear(64, 8).to_quantized(mode="nvfp4", quantize_input=True)


@pytest.mark.skipif(mlx is None, reason="mlx is not installed")
def test_quantized_checkpoint_loads_in_mlx(tmp_path, rng):
    ours = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4))
    nn.quantize(ours, group_size=32, bits=4)
    theirs = mlx_nn.Sequential(mlx_nn.Linear(64, 32), mlx_nn.ReLU(), mlx_nn.Linear(32, 4))
    mlx_nn.quantize(theirs, group_size=32, bits=4)
    ours.save_weights(str(tmp_path / "q.safetensors"))
    theirs.load_weights(str(tmp_path / "q.safetensors"))
    x = f32(rng, 3, 64)
    np.testing.assert_allclose(np.array(ours(mx.array(x))), np.array(theirs(mlx.array(x))), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["nvfp4", "mxfp8"])
def test_qqlinear_train_eval_storage(mode):
    lin = nn.Linear(64, 8, bias=False)
    qq = lin.to_quantized(mode=mode, quantize_input=True)
    assert isinstance(qq, nn.QQLinear) and qq.weight.dtype == mx.float32 and keys_of(qq) == ["weight"]
    qq.eval()  # quantized storage
    assert keys_of(qq) == ["weight", "scales"] and qq.weight.dtype == mx.uint32 and qq.scales.dtype == mx.uint8
    packed = np.array(qq.weight)
    qq.train()  # back to a (bfloat16) float weight
    assert keys_of(qq) == ["weight"] and qq.weight.dtype == mx.bfloat16 and qq.weight.shape == (8, 64)
    if mlx is not None:
        theirs = mlx_nn.Linear(64, 8, bias=False)
        theirs.weight = mlx.array(np.array(lin.weight))
        tq = theirs.to_quantized(mode=mode, quantize_input=True)
        assert repr(tq) == repr(qq)
        tq.eval()
        np.testing.assert_array_equal(packed, np.array(tq.weight))
        tq.train()
        np.testing.assert_array_equal(np.array(qq.weight.astype(mx.float32)), np.array(tq.weight.astype(mlx.float32)))
    # A parent's eval reaches it too.
    seq = nn.Sequential(qq)
    seq.eval()
    assert qq.weight.dtype == mx.uint32


# -- attention and positional encodings against NumPy -------------------------------------


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_mha(p, q, k, v, heads, mask=None, prefix=""):
    """float64 multi-head attention with MLX's key names for the projections."""
    W = lambda n: p[f"{prefix}{n}.weight"].astype(np.float64)  # noqa: E731
    Q, K, V = q @ W("query_proj").T, k @ W("key_proj").T, v @ W("value_proj").T
    B, L, D = Q.shape
    S = K.shape[1]
    Q = Q.reshape(B, L, heads, -1).transpose(0, 2, 1, 3)
    K = K.reshape(B, S, heads, -1).transpose(0, 2, 1, 3)
    V = V.reshape(B, S, heads, -1).transpose(0, 2, 1, 3)
    scores = Q @ K.transpose(0, 1, 3, 2) / np.sqrt(Q.shape[-1])
    if mask is not None:
        scores = scores + mask
    out = (np_softmax(scores) @ V).transpose(0, 2, 1, 3).reshape(B, L, -1)
    return out @ W("out_proj").T


@pytest.mark.parametrize("causal", [False, True])
def test_multihead_attention_against_numpy(causal, rng):
    mha = nn.MultiHeadAttention(12, 3)
    x, mem = f32(rng, 2, 5, 12), f32(rng, 2, 5, 12)
    mask = nn.MultiHeadAttention.create_additive_causal_mask(5) if causal else None
    y = np.array(mha(mx.array(x), mx.array(mem), mx.array(mem), mask))
    np_mask = None if mask is None else np.array(mask).astype(np.float64)
    np.testing.assert_allclose(y, np_mha(params(mha), x, mem, mem, 3, np_mask), rtol=1e-4, atol=1e-5)
    if causal:
        # Position 0 sees only key 0: changing later keys does not change it.
        mem2 = mem.copy()
        mem2[:, 1:] += 1
        y2 = np.array(mha(mx.array(x), mx.array(mem2), mx.array(mem2), mask))
        np.testing.assert_allclose(y2[:, 0], y[:, 0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"divisible by the number of heads \(6 % 4\) != 0"):
        nn.MultiHeadAttention(6, 4)


def test_additive_causal_mask():
    m = nn.MultiHeadAttention.create_additive_causal_mask(3)
    assert m.dtype == mx.float32
    lo = np.finfo(np.float32).min
    np.testing.assert_array_equal(np.array(m), [[0, lo, lo], [0, 0, lo], [0, 0, 0]])
    m16 = nn.MultiHeadAttention.create_additive_causal_mask(2, mx.float16)
    assert m16.dtype == mx.float16 and np.array(m16)[0, 1] == np.finfo(np.float16).min
    if mlx is not None:
        z = mlx_nn.MultiHeadAttention.create_additive_causal_mask(4)
        np.testing.assert_array_equal(np.array(nn.MultiHeadAttention.create_additive_causal_mask(4)), np.array(z))


@needs_mlx
@pytest.mark.parametrize("norm_first", [True, False])
def test_transformer_with_masks_matches_mlx(norm_first, rng):
    kw = dict(dims=8, num_heads=2, num_encoder_layers=2, num_decoder_layers=1, mlp_dims=12, norm_first=norm_first)
    ours = nn.Transformer(**kw)
    theirs = to_mlx(ours, mlx_nn.Transformer(**kw))
    src, tgt = f32(rng, 2, 6, 8), f32(rng, 2, 4, 8)
    src_mask = np.zeros((6, 6), np.float32)
    src_mask[:, -1] = -1e9  # nobody attends to the last source position
    tgt_mask = np.array(nn.MultiHeadAttention.create_additive_causal_mask(4))
    y = ours(mx.array(src), mx.array(tgt), mx.array(src_mask), mx.array(tgt_mask), None)
    z = theirs(mlx.array(src), mlx.array(tgt), mlx.array(src_mask), mlx.array(tgt_mask), None)
    np.testing.assert_allclose(np.array(y), np.array(z), rtol=1e-4, atol=1e-5)


def test_encoder_layer_against_numpy(rng):
    layer = nn.TransformerEncoderLayer(8, 2, mlp_dims=16)
    layer.update({"ln1": {"weight": mx.array(f32(rng, 8))}, "linear2": {"bias": mx.array(f32(rng, 8))}})
    p = {k: v.astype(np.float64) for k, v in params(layer).items()}
    x = f32(rng, 2, 5, 8).astype(np.float64)

    def ln(h, n):
        return np_norm(h, -1, 1e-5) * p[f"{n}.weight"] + p[f"{n}.bias"]

    y = ln(x, "ln1")
    x1 = x + np_mha(p, y, y, y, 2, prefix="attention.")
    h = np.maximum(ln(x1, "ln2") @ p["linear1.weight"].T + p["linear1.bias"], 0)
    ref = x1 + h @ p["linear2.weight"].T + p["linear2.bias"]
    np.testing.assert_allclose(np.array(layer(mx.array(x.astype(np.float32)), None)), ref, rtol=1e-4, atol=1e-4)


def test_encoder_checkpoint_gives_same_values_and_gradients(rng):
    enc = nn.TransformerEncoder(2, 8, 2, checkpoint=False)
    enc_ck = nn.TransformerEncoder(2, 8, 2, checkpoint=True)
    enc_ck.update(enc.parameters())
    x = mx.array(f32(rng, 2, 3, 8))
    v1, g1 = nn.value_and_grad(enc, lambda x: enc(x, None).sum())(x)
    v2, g2 = nn.value_and_grad(enc_ck, lambda x: enc_ck(x, None).sum())(x)
    np.testing.assert_allclose(v1.item(), v2.item(), rtol=1e-5)
    for (k1, a), (k2, b) in zip(tree_flatten(g1), tree_flatten(g2)):
        assert k1 == k2
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-6)


def test_transformer_dropout_only_in_training(rng):
    enc = nn.TransformerEncoder(1, 8, 2, dropout=0.5)
    x = mx.array(f32(rng, 2, 4, 8))
    enc.eval()
    a, b = np.array(enc(x, None)), np.array(enc(x, None))
    np.testing.assert_array_equal(a, b)
    enc.train()
    assert not np.allclose(np.array(enc(x, None)), a)


def np_rope(x, dims, traditional, base, scale, offset):
    x = x.astype(np.float64)
    L = x.shape[-2]
    pos = (np.arange(L) + offset)[:, None] * scale
    freqs = base ** (-np.arange(0, dims, 2) / dims)
    theta = pos * freqs  # (L, dims/2)
    c, s = np.cos(theta), np.sin(theta)
    r, rest = x[..., :dims], x[..., dims:]
    if traditional:
        a, b = r[..., 0::2], r[..., 1::2]
        out = np.stack([a * c - b * s, a * s + b * c], -1).reshape(r.shape)
    else:
        a, b = r[..., : dims // 2], r[..., dims // 2 :]
        out = np.concatenate([a * c - b * s, a * s + b * c], -1)
    return np.concatenate([out, rest], -1)


@pytest.mark.parametrize("dims,traditional,base,scale,offset", [(8, False, 10000, 1.0, 0), (4, True, 100.0, 0.5, 3), (6, False, 500.0, 2.0, 1)])
def test_rope_against_numpy(dims, traditional, base, scale, offset, rng):
    x = f32(rng, 2, 5, 8)
    rope = nn.RoPE(dims, traditional=traditional, base=base, scale=scale)
    y = np.array(rope(mx.array(x), offset=offset))
    np.testing.assert_allclose(y, np_rope(x, dims, traditional, base, scale, offset), rtol=1e-4, atol=1e-5)
    if mlx is not None:
        z = mlx_nn.RoPE(dims, traditional=traditional, base=base, scale=scale)(mlx.array(x), offset=offset)
        np.testing.assert_allclose(y, np.array(z), rtol=1e-5, atol=1e-6)


def test_sinusoidal_against_numpy(rng):
    pe = nn.SinusoidalPositionalEncoding(8, min_freq=1e-3, max_freq=2.0)
    assert list(pe.keys()) == ["_sigmas"] and pe.parameters() == {}
    pos = np.arange(5, dtype=np.float32)
    freqs = np.exp(np.linspace(np.log(2.0), np.log(1e-3), 4))
    y = pos[:, None] * freqs
    ref = np.concatenate([np.sin(y), np.cos(y)], -1) * np.sqrt(2 / 8)
    np.testing.assert_allclose(np.array(pe(mx.array(pos))), ref, rtol=1e-5, atol=1e-6)
    pe = nn.SinusoidalPositionalEncoding(8, scale=1.0, cos_first=True, full_turns=True)
    y = pos[:, None] * np.exp(np.linspace(0, np.log(1e-4), 4)) * 2 * np.pi
    np.testing.assert_allclose(np.array(pe(mx.array(pos))), np.concatenate([np.cos(y), np.sin(y)], -1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("offset", [0, 2])
def test_alibi_against_numpy(offset, rng):
    heads, L, S = 4, 3, 5
    scores = f32(rng, 2, heads, L, S)
    mask = f32(rng, L, S)
    slopes = 2.0 ** (-8.0 * np.arange(1, heads + 1) / heads)
    q = np.arange(offset, L + offset)
    dist = -np.abs(q[:, None] - np.arange(S)[None])
    ref = scores + slopes[:, None, None] * dist + mask
    y = nn.ALiBi()(mx.array(scores), offset=offset, mask=mx.array(mask))
    np.testing.assert_allclose(np.array(y), ref, rtol=1e-5, atol=1e-5)
    slope16 = nn.ALiBi.create_alibi_slope(heads, mx.float16)
    assert slope16.dtype == mx.float16 and slope16.shape == (heads, 1, 1)
    y16 = nn.ALiBi()(mx.array(scores.astype(np.float16)), offset=offset)
    assert y16.dtype == mx.float16
    if mlx is not None:
        z = mlx_nn.ALiBi()(mlx.array(scores), offset=offset, mask=mlx.array(mask))
        np.testing.assert_allclose(np.array(y), np.array(z), rtol=1e-6, atol=1e-6)


HALF_CASES = [
    ("Linear", (8, 4), [(3, 8)]),
    ("LayerNorm", (8,), [(3, 8)]),
    ("RMSNorm", (8,), [(3, 8)]),
    ("GroupNorm", (2, 8), [(2, 3, 8)]),
    ("BatchNorm", (8,), [(4, 8)]),
    ("MultiHeadAttention", (8, 2), [(2, 3, 8)] * 3),
    ("Embedding", (5, 8), None),
]


@needs_mlx
@pytest.mark.parametrize("weights_half", [True, False])
@pytest.mark.parametrize("name,args,shapes", HALF_CASES, ids=[c[0] for c in HALF_CASES])
def test_half_precision_dtypes_match_mlx(name, args, shapes, weights_half, rng):
    ours = getattr(nn, name)(*args)
    theirs = to_mlx(ours, getattr(mlx_nn, name)(*args))
    if weights_half:
        ours.set_dtype(mx.float16)
        theirs.set_dtype(mlx.float16)
    if shapes is None:
        xs = [np.array([[0, 4, 2]])]
    else:
        xs = [x.astype(np.float16) for x in make_inputs(rng, shapes)]
    y = ours(*[mx.array(x) for x in xs])
    z = theirs(*[mlx.array(x) for x in xs])
    assert str(y.dtype) == str(z.dtype)
    np.testing.assert_allclose(np.array(y.astype(mx.float32)), np.array(z.astype(mlx.float32)), rtol=2e-3, atol=2e-3)
