"""Affine quantization: quantize bit for bit against MLX and an explicit NumPy statement
of the rule (codes read back from the packed words), dequantize and quantized_matmul
against float64 math on the dequantized weights and against MLX, the gradient with
respect to x, and MLX's errors."""

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
    with pytest.raises(ValueError):
        mx.grad(lambda s: mx.quantized_matmul(mx.array(x, mx.float32), q[0], s, q[2]).sum())(q[1])


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
