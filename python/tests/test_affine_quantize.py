"""Affine quantization: quantize bit for bit against MLX and an explicit NumPy statement
of the rule (codes read back from the packed words), dequantize and quantized_matmul
against float64 math on the dequantized weights and against MLX, the gradients with
respect to x, scales and biases, and MLX's errors."""

import numpy as np
import pytest

import ferrox.core as mx
from numeric import fd_grad

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None


def rule(w, gs, bits):
    """MLX's affine rule in NumPy float32: (codes, scales, biases)."""
    g = np.asarray(w, np.float32).reshape(*w.shape[:-1], -1, gs)
    nb = np.float32(2**bits - 1)
    hi, lo = g.max(-1, keepdims=True), g.min(-1, keepdims=True)
    scales = np.maximum((hi - lo) / nb, np.float32(1e-7))
    if bits == 1:
        # One bit: the two codes are the group's minimum and maximum.
        codes = np.clip(np.round((g - lo) / scales), 0, nb).astype(np.int64)
        return codes.reshape(w.shape), scales[..., 0], lo[..., 0]
    low_end = np.abs(lo) > np.abs(hi)
    scales = np.where(low_end, scales, -scales)
    edge = np.where(low_end, lo, hi)
    q0 = np.round(edge / scales)
    scales = np.where(q0 != 0, edge / np.where(q0 == 0, 1, q0), scales).astype(np.float32)
    biases = np.where(q0 != 0, edge, 0).astype(np.float32)
    codes = np.clip(np.round((g - biases) / scales), 0, nb).astype(np.int64)
    return codes.reshape(w.shape), scales[..., 0], biases[..., 0]


def unpack(wq, bits, cols):
    """Codes from packed uint32 words: a little-endian bit stream along each row."""
    words = np.asarray(wq, np.uint32)
    stream = np.unpackbits(words.view(np.uint8).reshape(*words.shape[:-1], -1), axis=-1, bitorder="little")
    codes = np.zeros(words.shape[:-1] + (cols,), np.int64)
    for t in range(bits):
        codes |= stream[..., t::bits][..., :cols].astype(np.int64) << t
    return codes


def deq(codes, scales, biases, gs):
    s = np.repeat(np.asarray(scales, np.float64), gs, axis=-1)
    b = np.repeat(np.asarray(biases, np.float64), gs, axis=-1)
    return codes * s + b


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 8])
@pytest.mark.parametrize("gs", [32, 64, 128])
def test_quantize_follows_the_rule_and_matches_mlx(bits, gs, rng):
    w = rng.standard_normal((6, 256)).astype(np.float32)
    wq, scales, biases = mx.quantize(mx.array(w), group_size=gs, bits=bits)
    assert wq.dtype == mx.uint32 and wq.shape == (6, 256 * bits // 32)
    assert scales.shape == biases.shape == (6, 256 // gs) and scales.dtype == mx.float32
    codes, s, b = rule(w, gs, bits)
    np.testing.assert_array_equal(unpack(np.array(wq), bits, 256), codes)
    np.testing.assert_array_equal(np.array(scales), s)
    np.testing.assert_array_equal(np.array(biases), b)
    # Reconstruction error within one step (the grid is anchored at the group's edge, not centred).
    back = np.array(mx.dequantize(wq, scales, biases, group_size=gs, bits=bits))
    np.testing.assert_allclose(back, deq(codes, s, b, gs), rtol=1e-6, atol=1e-6)
    assert np.all(np.abs(back - w) <= np.repeat(np.abs(s), gs, -1) + 1e-5)
    if mlx is not None:
        theirs = mlx.quantize(mlx.array(w), group_size=gs, bits=bits)
        for a, t in zip((wq, scales, biases), theirs):
            np.testing.assert_array_equal(np.array(a), np.array(t))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_quantize_half_precision_like_mlx(dtype, rng):
    if mlx is None:
        pytest.skip("MLX is not installed")
    w = rng.standard_normal((2, 3, 128)).astype(np.float32)
    ours = mx.quantize(mx.array(w).astype(getattr(mx, dtype)), 64, 4)
    theirs = mlx.quantize(mlx.array(w).astype(getattr(mlx, dtype)), 64, 4)
    for a, t in zip(ours, theirs):
        assert a.shape == t.shape and str(a.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        np.testing.assert_array_equal(np.array(a.astype(mx.float32)) if a.dtype != mx.uint32 else np.array(a),
                                      np.array(t.astype(mlx.float32)) if t.dtype != mlx.uint32 else np.array(t))
    d = mx.dequantize(*ours, 64, 4)
    dt = mlx.dequantize(*theirs, 64, 4)
    assert d.dtype == getattr(mx, dtype)
    np.testing.assert_allclose(np.array(d.astype(mx.float32)), np.array(dt.astype(mlx.float32)), rtol=1e-2, atol=1e-2)
    assert mx.dequantize(*ours, 64, 4, dtype=mx.float32).dtype == mx.float32


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("xshape", [(64 * 3,), (1, 64 * 3), (3, 64 * 3), (2, 5, 64 * 3), (70, 64 * 3)])
def test_quantized_matmul_transposed(bits, xshape, rng):
    n, k, gs = 37, 64 * 3, 64
    w = rng.standard_normal((n, k)).astype(np.float32)
    x = rng.standard_normal(xshape).astype(np.float32)
    wq, s, b = mx.quantize(mx.array(w), gs, bits)
    out = mx.quantized_matmul(mx.array(x), wq, s, b, transpose=True, group_size=gs, bits=bits)
    full = deq(unpack(np.array(wq), bits, k), np.array(s), np.array(b), gs)
    want = x.astype(np.float64) @ full.T
    assert out.shape == want.shape and out.dtype == mx.float32
    np.testing.assert_allclose(np.array(out), want, rtol=1e-4, atol=1e-3)
    if mlx is not None:
        theirs = mlx.quantized_matmul(mlx.array(x), *mlx.quantize(mlx.array(w), gs, bits), transpose=True,
                                      group_size=gs, bits=bits)
        np.testing.assert_allclose(np.array(out), np.array(theirs), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("m", [1, 6])
def test_quantized_matmul_not_transposed(m, rng):
    k, n, gs, bits = 48, 128, 32, 4
    w = rng.standard_normal((k, n)).astype(np.float32)
    x = rng.standard_normal((m, k)).astype(np.float32)
    wq, s, b = mx.quantize(mx.array(w), gs, bits)
    out = mx.quantized_matmul(mx.array(x), wq, s, b, transpose=False, group_size=gs, bits=bits)
    full = deq(unpack(np.array(wq), bits, n), np.array(s), np.array(b), gs)
    np.testing.assert_allclose(np.array(out), x.astype(np.float64) @ full, rtol=1e-4, atol=1e-3)


def test_quantized_matmul_dtypes(rng):
    w = mx.array(rng.standard_normal((16, 64)).astype(np.float32))
    x = mx.array(rng.standard_normal((2, 64)).astype(np.float32))
    q = mx.quantize(w)
    assert mx.quantized_matmul(x.astype(mx.float16), *q).dtype == mx.float32
    qh = mx.quantize(w.astype(mx.float16))
    out = mx.quantized_matmul(x.astype(mx.float16), *qh)
    assert out.dtype == mx.float16
    ref = np.array(x) @ np.array(mx.dequantize(*qh).astype(mx.float32)).T
    np.testing.assert_allclose(np.array(out.astype(mx.float32)), ref, rtol=2e-2, atol=5e-2)


def test_quantized_matmul_gradient_and_vmap(rng):
    w = rng.standard_normal((8, 64)).astype(np.float32)
    q = mx.quantize(mx.array(w), 32, 4)
    full = np.array(mx.dequantize(*q, 32, 4)).astype(np.float64)
    x = rng.standard_normal((3, 64))
    probe = rng.standard_normal((3, 8))
    f = lambda a: (mx.quantized_matmul(a, *q, True, 32, 4) * mx.array(probe)).sum()
    g = mx.grad(f)(mx.array(x, mx.float32))
    np.testing.assert_allclose(np.array(g), fd_grad(lambda a: float(((a @ full.T) * probe).sum()), x),
                               rtol=1e-4, atol=1e-4)
    _, (t,) = mx.jvp(lambda a: [mx.quantized_matmul(a, *q, True, 32, 4)], [mx.array(x, mx.float32)],
                     [mx.array(probe[:, :1] * np.ones((3, 64)), mx.float32)])
    np.testing.assert_allclose(np.array(t), (probe[:, :1] * np.ones((3, 64))) @ full.T, rtol=1e-4, atol=1e-4)
    xs = rng.standard_normal((4, 3, 64)).astype(np.float32)
    out = mx.vmap(lambda a: mx.quantized_matmul(a, *q, True, 32, 4), in_axes=1)(mx.array(xs))
    np.testing.assert_allclose(np.array(out), np.transpose(xs, (1, 0, 2)) @ full.T, rtol=1e-4, atol=1e-4)


def codes_of(q, gs, bits):
    """The integer codes of packed weights, as float64 `[.., rows, groups, gs]`."""
    cols = q[0].shape[-1] * 32 // bits
    c = unpack(np.array(q[0]).reshape(-1, q[0].shape[-1]), bits, cols).astype(np.float64)
    return c.reshape(*q[0].shape[:-1], cols // gs, gs)


@pytest.mark.parametrize("transpose", [True, False])
@pytest.mark.parametrize("xshape", [(64,), (3, 64), (2, 3, 64)])
@pytest.mark.parametrize("gs,bits", [(32, 4), (64, 8), (32, 3)])
def test_quantized_matmul_gradient_of_scales_and_biases(rng, transpose, xshape, gs, bits):
    # y = x @ W.T with W = code * scale + bias per group: the gradient of scales and
    # biases in float64 from dW = probe.T @ x, against finite differences and MLX.
    w = rng.standard_normal((64, 64)).astype(np.float32)
    q = mx.quantize(mx.array(w), gs, bits)
    s0, b0 = np.array(q[1]).astype(np.float64), np.array(q[2]).astype(np.float64)
    codes = codes_of(q, gs, bits)
    x = rng.standard_normal(xshape)
    probe = rng.standard_normal(xshape[:-1] + (64,))

    def f64(s, b):
        full = (codes * s[..., None] + b[..., None]).reshape(64, 64)
        return float(((x @ (full.T if transpose else full)) * probe).sum())

    def f(s, b):
        y = mx.quantized_matmul(mx.array(x, mx.float32), q[0], s, b, transpose, gs, bits)
        return (y * mx.array(probe, mx.float32)).sum()

    gs_, gb_ = mx.grad(f, argnums=(0, 1))(q[1], q[2])
    assert gs_.shape == q[1].shape and gb_.shape == q[2].shape
    np.testing.assert_allclose(np.array(gs_), fd_grad(lambda s: f64(s, b0), s0), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(np.array(gb_), fd_grad(lambda b: f64(s0, b), b0), rtol=1e-3, atol=1e-3)
    if mlx is not None and len(xshape) > 1:  # MLX 0.32 fails to flatten a 1-D x here
        ql = [mlx.array(np.array(a)) for a in q]
        xl, pl = mlx.array(x.astype(np.float32)), mlx.array(probe.astype(np.float32))
        fl = lambda s, b: (mlx.quantized_matmul(xl, ql[0], s, b, transpose, gs, bits) * pl).sum()
        ts, tb = mlx.grad(fl, argnums=(0, 1))(ql[1], ql[2])
        np.testing.assert_allclose(np.array(gs_), np.array(ts), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(np.array(gb_), np.array(tb), rtol=1e-4, atol=1e-3)


def test_quantized_parameter_gradients_keep_their_dtype_and_jvp_is_linear(rng):
    w = mx.array(rng.standard_normal((16, 64)).astype(np.float32))
    q = mx.quantize(w.astype(mx.float16), 32, 4)
    x = mx.array(rng.standard_normal((2, 64)).astype(np.float16))
    g = mx.grad(lambda s, b: mx.quantized_matmul(x, q[0], s, b, True, 32, 4).sum(), argnums=(0, 1))(q[1], q[2])
    assert g[0].dtype == mx.float16 and g[1].dtype == mx.float16
    # The product is linear in (scales, biases): the jvp is the product with the tangents.
    q = mx.quantize(w, 32, 4)
    x = x.astype(mx.float32)
    ts, tb = (mx.array(rng.standard_normal(q[1].shape).astype(np.float32)) for _ in range(2))
    tx = mx.array(rng.standard_normal(x.shape).astype(np.float32))
    _, (t,) = mx.jvp(lambda x, s, b: [mx.quantized_matmul(x, q[0], s, b, True, 32, 4)],
                     [x, q[1], q[2]], [tx, ts, tb])
    ref = mx.quantized_matmul(x, q[0], ts, tb, True, 32, 4) + mx.quantized_matmul(tx, *q, True, 32, 4)
    np.testing.assert_allclose(np.array(t), np.array(ref), rtol=1e-5, atol=1e-5)
    _, (t,) = mx.jvp(lambda s: [mx.dequantize(q[0], s, q[2], 32, 4)], [q[1]], [ts])
    np.testing.assert_allclose(np.array(t), np.array(mx.dequantize(q[0], ts, mx.zeros_like(tb), 32, 4)))


def test_dequantize_gradients(rng):
    w = rng.standard_normal((4, 8, 64)).astype(np.float32)
    q = mx.quantize(mx.array(w), 32, 4)
    codes = codes_of(q, 32, 4)
    probe = rng.standard_normal(w.shape)
    f = lambda s, b: (mx.dequantize(q[0], s, b, 32, 4) * mx.array(probe, mx.float32)).sum()
    gs_, gb_ = mx.grad(f, argnums=(0, 1))(q[1], q[2])
    grouped = probe.reshape(codes.shape)
    np.testing.assert_allclose(np.array(gs_), (grouped * codes).sum(-1), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.array(gb_), grouped.sum(-1), rtol=1e-5, atol=1e-4)


def test_batched_and_gathered_quantized_gradients_match_mlx(rng):
    w = rng.standard_normal((3, 8, 64)).astype(np.float32)
    x = rng.standard_normal((4, 1, 64)).astype(np.float32)
    idx = np.array([0, 2, 2, 1], np.uint32)
    q = mx.quantize(mx.array(w), 32, 4)
    full = np.array(mx.dequantize(*q, 32, 4)).astype(np.float64)
    codes = codes_of(q, 32, 4)

    def ours(s, b):
        y = mx.gather_qmm(mx.array(x), q[0], s, b, rhs_indices=mx.array(idx), group_size=32, bits=4)
        return (y * y).sum()

    gs_, gb_ = mx.grad(ours, argnums=(0, 1))(q[1], q[2])
    # float64: y = x @ W[idx].T; dW[e] sums 2 y.T x over the rows that picked e.
    y = x.astype(np.float64) @ np.swapaxes(full[idx], -1, -2)
    dw = np.zeros_like(full)
    np.add.at(dw, idx, np.swapaxes(2 * y, -1, -2) @ x)
    dw = dw.reshape(codes.shape)
    np.testing.assert_allclose(np.array(gs_), (dw * codes).sum(-1), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.array(gb_), dw.sum(-1), rtol=1e-4, atol=1e-3)
    # Batched weights without a gather: (2, 3, 64) @ (2, 8, 64).T.
    xb = mx.array(rng.standard_normal((2, 3, 64)).astype(np.float32))
    f = lambda s, b: (mx.quantized_matmul(xb, q[0][:2], s, b, group_size=32, bits=4) ** 2).sum()
    gb = mx.grad(f, argnums=(0, 1))(q[1][:2], q[2][:2])
    if mlx is not None:
        ql = [mlx.array(np.array(a)) for a in q]
        fl = lambda s, b: (mlx.quantized_matmul(mlx.array(np.array(xb)), ql[0][:2], s, b,
                                                group_size=32, bits=4) ** 2).sum()
        for a, b in zip(gb, mlx.grad(fl, argnums=(0, 1))(ql[1][:2], ql[2][:2])):
            np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-3)


ERRORS = [
    lambda m: m.quantize(m.ones((64,))),
    lambda m: m.quantize(m.ones((2, 48))),
    lambda m: m.quantize(m.ones((2, 64)), bits=7),
    lambda m: m.quantize(m.ones((2, 64)), group_size=16),
    lambda m: m.quantize(m.ones((2, 64), m.int32)),
    lambda m: m.quantize(m.ones((2, 64)), mode="bad"),
    lambda m: m.quantized_matmul(m.ones((3, 32)), *m.quantize(m.ones((8, 64)))),
    lambda m: m.quantized_matmul(m.ones((3, 64)), *m.quantize(m.ones((8, 64))), transpose=False),
    lambda m: m.quantized_matmul(m.ones((3, 64)), *m.quantize(m.ones((8, 64)))[:2]),
    lambda m: (lambda q: m.dequantize(q[0], q[1][:, :0], q[2]))(m.quantize(m.ones((8, 64)))),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_quantize_errors_like_mlx(i):
    with pytest.raises(ValueError) as ours:
        ERRORS[i](mx)
    if mlx is not None:
        with pytest.raises(ValueError) as theirs:
            mlx.eval(ERRORS[i](mlx))
        assert str(ours.value) == str(theirs.value)
