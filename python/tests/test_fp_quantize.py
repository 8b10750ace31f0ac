"""The floating-point quantization modes (mxfp4, mxfp8, nvfp4), batched quantized weights,
gather_qmm, and qqmm / gather_qqmm, against MLX's CPU build (codes and scales bit for bit,
dequantized values equal, errors with the same type and message) and against an
independent NumPy decoding of the formats (products within float tolerance of float64
math on the dequantized weights). Gradients in x against finite differences."""

import numpy as np
import pytest

import ferrox.core as mx
from numeric import fd_grad

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None

MODES = ["mxfp4", "mxfp8", "nvfp4"]
DTYPES = ["float32", "float16", "bfloat16"]
E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], np.float64)


def fp8_value(c):
    """E4M3 codes (uint8) to float64: 4 exponent bits (bias 7), 3 mantissa bits."""
    c = np.asarray(c, np.int64)
    e, m = (c >> 3) & 15, c & 7
    v = np.where(e == 0, m / 512.0, (1 + m / 8.0) * 2.0 ** (e - 7))
    v = np.where((e == 15) & (m == 7), np.nan, v)
    return np.where(c & 0x80, -v, v)


def decode(wq, scales, mode, global_scale=None, half=False):
    """The float64 matrix packed weights stand for, from the formats' definitions
    (`half`: in float16, the scale rounded to float16 before the product, as MLX)."""
    words = np.asarray(wq, np.uint32)
    bits = 8 if mode == "mxfp8" else 4
    per = 32 // bits
    codes = np.stack([(words >> (bits * i)) & (2**bits - 1) for i in range(per)], -1)
    codes = codes.reshape(*words.shape[:-1], -1).astype(np.int64)
    if bits == 8:
        vals = fp8_value(codes)
    else:
        vals = np.where(codes & 8, -1, 1) * E2M1[codes & 7]
    s = np.asarray(scales, np.int64)
    s = fp8_value(s) if mode == "nvfp4" else 2.0 ** (s - 127)
    gs = 16 if mode == "nvfp4" else 32
    if half:
        with np.errstate(over="ignore", invalid="ignore"):
            return vals.astype(np.float16) * np.repeat(s, gs, axis=-1).astype(np.float16)
    out = vals * np.repeat(s, gs, axis=-1)
    if global_scale is not None:
        out = out * global_scale / 2688.0
    return out


def data(rng, shape, spread=True):
    """Normal values with a random magnitude per group-ish row, and some exact zeros."""
    w = rng.standard_normal(shape)
    if spread:
        w *= np.exp(rng.standard_normal(shape[:-1] + (1,)) * 4)
        w[rng.random(shape) < 0.1] = 0
    return w.astype(np.float32)


def f32(a):
    return np.array(a.astype(mx.float32)) if a.dtype not in (mx.uint32, mx.uint8) else np.array(a)


def m32(a):
    return np.array(a.astype(mlx.float32)) if a.dtype not in (mlx.uint32, mlx.uint8) else np.array(a)


needs_mlx = pytest.mark.skipif(mlx is None, reason="MLX is not installed")


@needs_mlx
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 64), (3, 2, 96), (1, 32), (2, 3, 160)])
def test_quantize_bit_for_bit_like_mlx(mode, dtype, shape, rng):
    w = data(rng, shape)
    wq, s = mx.quantize(mx.array(w).astype(getattr(mx, dtype)), mode=mode)
    twq, ts = mlx.quantize(mlx.array(w).astype(getattr(mlx, dtype)), mode=mode)
    assert wq.dtype == mx.uint32 and s.dtype == mx.uint8
    assert wq.shape == twq.shape and s.shape == ts.shape
    np.testing.assert_array_equal(np.array(wq), np.array(twq))
    np.testing.assert_array_equal(np.array(s), np.array(ts))
    # The codes decode close to w: within half a step of the group's grid.
    back = decode(wq, s, mode)
    w64 = np.array(mx.array(w).astype(getattr(mx, dtype)).astype(mx.float32), np.float64)
    gs = 16 if mode == "nvfp4" else 32
    amax = np.repeat(np.abs(w64).reshape(*shape[:-1], -1, gs).max(-1), gs, -1)
    rel = {"mxfp4": 0.5, "mxfp8": 0.07, "nvfp4": 0.3}[mode]
    # nvfp4 without a global scale: E4M3 scales saturate (amax > 6 * 448) and lose
    # precision when subnormal, so only groups in between are checked.
    ok = (amax >= 0.1) & (amax <= 2688) if mode == "nvfp4" else np.isfinite(amax)
    assert np.all((np.abs(back - w64) <= rel * amax + 1e-30)[ok])


@needs_mlx
@pytest.mark.parametrize("mode", MODES)
def test_quantize_edge_values_like_mlx(mode):
    rows = [
        [6, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, -0.25, -0.75, -5, 5.9, -0.0, 1e-8],  # ties
        [6 * 2.0**10 * (1 + 2.0**-23), 1, -1],  # amax / 6 just above a power of two
        [6 * 2.0**10 * (1 - 2.0**-24), 1, -1],
        [448 * 2.0**-3 * (1 + 2.0**-23), 3, -3],
        [1e-40, 3e-41, -1e-42],  # subnormal maxima (MLX wraps the exponent byte)
        [1e-45],
        [3e38 if mode != "nvfp4" else 1e6, -1e38 if mode != "nvfp4" else -1e6, 1],
        [0.0],
        [np.inf, 1, 0, -1],
        [-np.inf, 2],
        [np.nan, 1, 0, -1, -0.0],
    ]
    w = np.zeros((len(rows), 32), np.float32)
    for i, r in enumerate(rows):
        w[i, : len(r)] = r
    w[len(rows) - 1, 20] = np.float32(np.array([0xFFC00000], np.uint32).view(np.float32)[0])
    wq, s = mx.quantize(mx.array(w), mode=mode)
    twq, ts = mlx.quantize(mlx.array(w), mode=mode)
    np.testing.assert_array_equal(np.array(s), np.array(ts))
    np.testing.assert_array_equal(np.array(wq), np.array(twq))


@needs_mlx
@pytest.mark.parametrize("dtype", DTYPES)
def test_nvfp4_huge_and_extreme_values_like_mlx(dtype, rng):
    """Values far above a saturated scale (448): MLX picks the code whose float32
    distance |x / scale - v| is least, first in its table on ties, after rounding
    x / scale to the weights' type; past about 2^25 the rounded distances tie (codes
    4, 6, 0 where 6 would be). Also random bit patterns: NaN, infinities, subnormals."""
    mags = np.geomspace(1, 1e12, 32 * 64).astype(np.float32) * 448
    signs = rng.choice([-1, 1], mags.shape).astype(np.float32)
    w = (mags * signs).reshape(-1, 16)
    w[:, 1] = 3000  # the group's scale saturates even where w[:, 0] is small
    bits = rng.integers(0, 2**32, 64 * 64, dtype=np.uint32)
    w = np.concatenate([w.reshape(-1, 64), bits.view(np.float32).reshape(-1, 64)])
    for g in [None, 0.37]:
        extra = {} if g is None else {"global_scale": mx.array(g)}
        mextra = {} if g is None else {"global_scale": mlx.array(g)}
        wq, s = mx.quantize(mx.array(w).astype(getattr(mx, dtype)), mode="nvfp4", **extra)
        twq, ts = mlx.quantize(mlx.array(w).astype(getattr(mlx, dtype)), mode="nvfp4", **mextra)
        np.testing.assert_array_equal(np.array(s), np.array(ts))
        np.testing.assert_array_equal(np.array(wq), np.array(twq))


@needs_mlx
@pytest.mark.parametrize("g", [1.0, 0.37, 25.0, None])
def test_nvfp4_global_scale_like_mlx(g, rng):
    w = data(rng, (6, 64))
    if g is None:
        g = float(np.abs(w).max() / 2688)  # the usual choice: amax / (448 * 6)
    gs, tgs = mx.array(g, mx.float32), mlx.array(g, mlx.float32)
    wq, s = mx.quantize(mx.array(w), mode="nvfp4", global_scale=gs)
    twq, ts = mlx.quantize(mlx.array(w), mode="nvfp4", global_scale=tgs)
    np.testing.assert_array_equal(np.array(wq), np.array(twq))
    np.testing.assert_array_equal(np.array(s), np.array(ts))
    for dt in [None, "float32", "float16"]:
        d = mx.dequantize(wq, s, mode="nvfp4", global_scale=gs, dtype=dt and getattr(mx, dt))
        t = mlx.dequantize(twq, ts, mode="nvfp4", global_scale=tgs, dtype=dt and getattr(mlx, dt))
        assert str(d.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        np.testing.assert_array_equal(f32(d), m32(t))
    d = np.array(mx.dequantize(wq, s, mode="nvfp4", global_scale=gs, dtype=mx.float32))
    np.testing.assert_allclose(d, decode(wq, s, "nvfp4", np.float32(g)), rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [None, "float32", "float16", "bfloat16"])
def test_dequantize_values_and_default_dtype(mode, dtype, rng):
    # Random codes and scale bytes: every code, exponents over the whole range.
    bits = 8 if mode == "mxfp8" else 4
    gs = 16 if mode == "nvfp4" else 32
    wq = rng.integers(0, 2**32, (3, 2, 128 * bits // 32), dtype=np.uint32)
    if mode == "mxfp8":  # no NaN codes (0x7f / 0xff) in the weights
        b = wq.view(np.uint8)
        b[(b & 0x7F) == 0x7F] = 0x11
    lo, hi = (0, 127) if mode == "nvfp4" else (100, 150)
    s = rng.integers(lo, hi, (3, 2, 128 // gs), dtype=np.uint8)
    if mode == "nvfp4":
        s |= rng.integers(0, 2, s.shape, dtype=np.uint8) << 7
    d = mx.dequantize(mx.array(wq), mx.array(s), mode=mode, dtype=dtype and getattr(mx, dtype))
    assert d.dtype == (getattr(mx, dtype) if dtype else mx.bfloat16) and d.shape == (3, 2, 128)
    want = decode(wq, s, mode).astype(np.float32)
    if dtype in (None, "bfloat16"):
        np.testing.assert_array_equal(f32(d), np.array(mx.array(want).astype(mx.bfloat16).astype(mx.float32)))
    else:
        if dtype == "float16":
            want = decode(wq, s, mode, half=True)
        np.testing.assert_array_equal(f32(d), want.astype(getattr(np, dtype)).astype(np.float32))
    if mlx is not None:
        t = mlx.dequantize(mlx.array(wq), mlx.array(s), mode=mode, dtype=dtype and getattr(mlx, dtype))
        np.testing.assert_array_equal(f32(d), m32(t))


def reference_qmm(x, wq, s, mode, transpose):
    full = decode(wq, s, mode)
    if transpose:
        full = np.swapaxes(full, -1, -2)
    return np.asarray(x, np.float64) @ full


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xshape", [(64,), (1, 64), (5, 64), (2, 3, 64), (33, 64)])
def test_quantized_matmul_2d(mode, dtype, xshape, rng):
    w = data(rng, (24, 64), spread=False)
    x = rng.standard_normal(xshape).astype(np.float32)
    wq, s = mx.quantize(mx.array(w), mode=mode)
    xa = mx.array(x).astype(getattr(mx, dtype))
    out = mx.quantized_matmul(xa, wq, s, mode=mode)
    assert out.dtype == xa.dtype and out.shape == xshape[:-1] + (24,)
    want = reference_qmm(f32(xa), wq, s, mode, True)
    tol = 1e-4 if dtype == "float32" else 2e-2
    np.testing.assert_allclose(f32(out), want, rtol=tol, atol=tol * 10)
    if mlx is not None:
        t = mlx.quantized_matmul(mlx.array(x).astype(getattr(mlx, dtype)), mlx.array(np.array(wq)),
                                 mlx.array(np.array(s)), mode=mode)
        np.testing.assert_allclose(f32(out), m32(t), rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("k", [64, 128, 384, 1024])
def test_quantized_matvec_kernels(mode, m, k, rng):
    # A few rows of x take the matrix-vector kernels (on AVX-512: 4-bit codes by a table
    # permute when k is a multiple of 128, 8-bit codes decoded from their bits, scales
    # gathered 16 groups at a time, so k = 1024 crosses a 16-group window); n = 37 is
    # no multiple of anything. The weights' magnitudes spread over many binades (many
    # scale bytes); a NaN in one row of x reaches that row only.
    n = 37
    w = data(rng, (n, k))
    wq, s = mx.quantize(mx.array(w), mode=mode)
    x = rng.standard_normal((m, k)).astype(np.float32)
    out = np.array(mx.quantized_matmul(mx.array(x), wq, s, mode=mode))
    full = decode(wq, s, mode)
    want = x.astype(np.float64) @ full.T
    scale = np.abs(x).astype(np.float64) @ np.abs(full).T
    assert np.all(np.abs(out - want) <= 1e-6 * scale), np.max(np.abs(out - want) / scale)
    if m > 1:
        x[1, k // 3] = np.nan
        out = np.array(mx.quantized_matmul(mx.array(x), wq, s, mode=mode))
        assert np.isnan(out[1]).all() and np.isfinite(out[np.arange(m) != 1]).all()


@pytest.mark.parametrize("mode", MODES)
def test_quantized_matmul_not_transposed(mode, rng):
    w = data(rng, (40, 96), spread=False)  # (k, n): quantized along n
    x = rng.standard_normal((3, 40)).astype(np.float32)
    wq, s = mx.quantize(mx.array(w), mode=mode)
    out = mx.quantized_matmul(mx.array(x), wq, s, transpose=False, mode=mode)
    np.testing.assert_allclose(np.array(out), reference_qmm(x, wq, s, mode, False), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("mode", ["affine"] + MODES)
@pytest.mark.parametrize(
    "xshape,wbatch,transpose",
    [((2, 1, 5, 64), (3,), True), ((3, 4, 64), (3,), True), ((1, 2, 64), (2, 3), True),
     ((4, 2, 32), (4,), False), ((2, 2, 4, 64), (2, 1), True)],
)
def test_batched_weights(mode, xshape, wbatch, transpose, rng):
    n = 16
    k = xshape[-1]
    wshape = wbatch + ((n, k) if transpose else (k, 64))
    w = data(rng, wshape, spread=False)
    x = rng.standard_normal(xshape).astype(np.float32)
    q = mx.quantize(mx.array(w), mode=mode)
    out = mx.quantized_matmul(mx.array(x), *q, transpose=transpose, mode=mode)
    if mode == "affine":
        full = np.array(mx.dequantize(*q, dtype=mx.float32), np.float64)
        want = x.astype(np.float64) @ (np.swapaxes(full, -1, -2) if transpose else full)
    else:
        want = reference_qmm(x, q[0], q[1], mode, transpose)
    assert out.shape == want.shape
    np.testing.assert_allclose(np.array(out), want, rtol=1e-4, atol=1e-3)
    if mlx is not None:
        t = mlx.quantized_matmul(mlx.array(x), *(mlx.array(np.array(a)) for a in q), transpose=transpose, mode=mode)
        assert t.shape == out.shape
        np.testing.assert_allclose(np.array(out), np.array(t), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("mode", ["affine", "mxfp4"])
def test_batched_weights_with_few_axes_of_x_use_the_first_matrix(mode, rng):
    # MLX's rule: an x of one or two axes meets only w[0] of a batched w.
    w = data(rng, (3, 8, 64), spread=False)
    q = mx.quantize(mx.array(w), mode=mode)
    x = rng.standard_normal((5, 64)).astype(np.float32)
    out = mx.quantized_matmul(mx.array(x), *q, mode=mode)
    first = mx.quantized_matmul(mx.array(x), *(a[0] for a in q), mode=mode)
    assert out.shape == (5, 8)
    np.testing.assert_array_equal(np.array(out), np.array(first))
    if mlx is not None:
        t = mlx.quantized_matmul(mlx.array(x), *(mlx.array(np.array(a)) for a in q), mode=mode)
        np.testing.assert_allclose(np.array(out), np.array(t), rtol=1e-4, atol=1e-3)


def gather_reference(x, full, lhs, rhs, transpose):
    xb = x.reshape(-1, *x.shape[-2:])
    wb = full.reshape(-1, *full.shape[-2:])
    lhs = np.arange(xb.shape[0]).reshape(x.shape[:-2]) if lhs is None else np.asarray(lhs)
    rhs = np.arange(wb.shape[0]).reshape(full.shape[:-2]) if rhs is None else np.asarray(rhs)
    lhs, rhs = np.broadcast_arrays(lhs, rhs)
    ws = wb[rhs]
    return xb[lhs].astype(np.float64) @ (np.swapaxes(ws, -1, -2) if transpose else ws)


GATHERS = [
    ((2, 1, 64), None, [[1], [3]], True),
    ((4, 1, 64), None, None, True),
    ((2, 1, 64), [0, 1, 1], [0, 2, 3], True),
    ((1, 64), None, [0, 2, 3], True),
    ((3, 64), None, [3, 3, 0, 1], True),
    ((2, 5, 64), None, [[1], [3]], True),
    ((2, 3, 2, 32), [[5], [0]], [1, 2, 0], False),
]


@pytest.mark.parametrize("mode", ["affine"] + MODES)
@pytest.mark.parametrize("xshape,lhs,rhs,transpose", GATHERS)
def test_gather_qmm(mode, xshape, lhs, rhs, transpose, rng):
    k = xshape[-1]
    w = data(rng, (4, 16, k) if transpose else (4, k, 64), spread=False)
    x = rng.standard_normal(xshape).astype(np.float32)
    q = mx.quantize(mx.array(w), mode=mode)
    li = None if lhs is None else mx.array(lhs, mx.uint32)
    ri = None if rhs is None else mx.array(rhs, mx.int32)
    out = mx.gather_qmm(mx.array(x), *q, lhs_indices=li, rhs_indices=ri, transpose=transpose, mode=mode)
    if mode == "affine":
        full = np.array(mx.dequantize(*q, dtype=mx.float32), np.float64)
    else:
        full = decode(q[0], q[1], mode)
    want = gather_reference(x, full, lhs, rhs, transpose)
    assert out.shape == want.shape
    np.testing.assert_allclose(np.array(out), want, rtol=1e-4, atol=1e-3)
    if mlx is not None:
        t = mlx.gather_qmm(mlx.array(x), *(mlx.array(np.array(a)) for a in q),
                           lhs_indices=None if lhs is None else mlx.array(lhs, mlx.uint32),
                           rhs_indices=None if rhs is None else mlx.array(rhs, mlx.int32),
                           transpose=transpose, mode=mode, sorted_indices=False)
        assert t.shape == out.shape
        np.testing.assert_allclose(np.array(out), np.array(t), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("mode", MODES)
def test_gradients_in_x(mode, rng):
    w = data(rng, (3, 8, 64), spread=False)
    wq, s = mx.quantize(mx.array(w), mode=mode)
    full = np.swapaxes(decode(wq, s, mode), -1, -2)
    # Batched weights: x (2, 1, 1, 64) against (3, 8, 64) -> (2, 3, 1, 8).
    x = rng.standard_normal((2, 1, 1, 64))
    probe = rng.standard_normal((2, 3, 1, 8))
    f = lambda a: (mx.quantized_matmul(a, wq, s, mode=mode) * mx.array(probe, mx.float32)).sum()
    g = mx.grad(f)(mx.array(x, mx.float32))
    ref = fd_grad(lambda a: float(((a @ full) * probe).sum()), x)
    np.testing.assert_allclose(np.array(g), ref, rtol=1e-4, atol=1e-4)
    # gather_qmm: x (2, 1, 64), rhs [[1], [2]] -> (2, 2, 1, 8).
    x = rng.standard_normal((2, 1, 64))
    rhs = mx.array([[1], [2]])
    probe = rng.standard_normal((2, 2, 1, 8))
    f = lambda a: (mx.gather_qmm(a, wq, s, rhs_indices=rhs, mode=mode) * mx.array(probe, mx.float32)).sum()
    g = mx.grad(f)(mx.array(x, mx.float32))
    ref = fd_grad(lambda a: float((gather_reference(a, decode(wq, s, mode), None, [[1], [2]], True) * probe).sum()), x)
    np.testing.assert_allclose(np.array(g), ref, rtol=1e-4, atol=1e-4)
    # 2-D weights, not transposed, through vjp and jvp.
    w2 = data(rng, (64, 32), spread=False)
    q2 = mx.quantize(mx.array(w2), mode=mode)
    x = rng.standard_normal((3, 64))
    t = rng.standard_normal((3, 64)).astype(np.float32)
    _, (jt,) = mx.jvp(lambda a: [mx.quantized_matmul(a, *q2, transpose=False, mode=mode)],
                      [mx.array(x, mx.float32)], [mx.array(t)])
    np.testing.assert_allclose(np.array(jt), t.astype(np.float64) @ decode(*q2, mode), rtol=1e-4, atol=1e-4)


def q4(m, mode="mxfp4", shape=(8, 64)):
    return m.quantize(m.ones(shape), mode=mode)


ERRORS = [
    (ValueError, lambda m: m.quantize(m.ones((4, 64)), mode="mxfp4", bits=8)),
    (ValueError, lambda m: m.quantize(m.ones((4, 64)), mode="mxfp8", bits=4)),
    (ValueError, lambda m: m.quantize(m.ones((4, 64)), mode="nvfp4", group_size=32)),
    (ValueError, lambda m: m.quantize(m.ones((4, 64)), mode="mxfp4", group_size=64, bits=8)),
    (ValueError, lambda m: m.quantize(m.ones((4, 64)), mode="mxfp4", global_scale=m.array(1.0))),
    (ValueError, lambda m: m.quantize(m.ones((4, 64)), global_scale=m.array(1.0))),
    (ValueError, lambda m: m.quantize(m.ones((4, 64)), mode="nvfp4", global_scale=m.array([1.0, 2.0]))),
    (ValueError, lambda m: m.quantize(m.ones((4, 64)), mode="nvfp4", global_scale=m.array(1.0, m.float16))),
    (ValueError, lambda m: m.quantize(m.ones((4, 48)), mode="mxfp4")),
    (ValueError, lambda m: m.quantize(m.ones((3, 16)), mode="nvfp4")),
    (ValueError, lambda m: m.quantize(m.ones((64,)), mode="mxfp8")),
    (ValueError, lambda m: m.quantize(m.ones((4, 64), m.int32), mode="nvfp4")),
    (ValueError, lambda m: m.dequantize(*q4(m), q4(m, "affine")[1][:, :2], mode="mxfp4")),
    (ValueError, lambda m: m.dequantize(q4(m)[0], q4(m)[1].astype(m.float32), mode="mxfp4")),
    (ValueError, lambda m: m.dequantize(*q4(m), group_size=16, mode="mxfp4")),
    (ValueError, lambda m: m.dequantize(*q4(m), bits=8, mode="mxfp4")),
    (ValueError, lambda m: m.dequantize(q4(m)[0], q4(m)[1][:, :1], mode="mxfp4")),
    (ValueError, lambda m: m.dequantize(*q4(m), mode="mxfp4", global_scale=m.array(1.0))),
    (ValueError, lambda m: m.dequantize(*q4(m), mode="mxfp4", dtype=m.int32)),
    (ValueError, lambda m: m.dequantize(q4(m)[0].astype(m.int32), q4(m)[1], mode="mxfp4")),
    (ValueError, lambda m: m.dequantize(q4(m)[0][0], q4(m)[1][0], mode="mxfp4")),
    (ValueError, lambda m: m.dequantize(*q4(m), mode="mxfp9")),
    (ValueError, lambda m: m.quantized_matmul(m.ones((3, 64)), *q4(m), q4(m, "affine")[1][:, :2], mode="mxfp4")),
    (ValueError, lambda m: m.quantized_matmul(m.ones((3, 32)), *q4(m), mode="mxfp4")),
    (ValueError, lambda m: m.quantized_matmul(m.ones((3, 64)), *q4(m), group_size=64, mode="mxfp4")),
    (ValueError, lambda m: m.quantized_matmul(m.ones((3, 64)), *q4(m, "nvfp4"), group_size=32, mode="nvfp4")),
    (ValueError, lambda m: m.quantized_matmul(m.ones((3, 64)), q4(m)[0], q4(m)[1].astype(m.float32), mode="mxfp4")),
    (ValueError, lambda m: m.quantized_matmul(m.ones((3, 64), m.int32), *q4(m), mode="mxfp4")),
    (RuntimeError, lambda m: m.quantized_matmul(m.ones((3, 64), m.float64), *q4(m), mode="mxfp4")),
    (ValueError, lambda m: m.quantized_matmul(m.ones((3, 64)), *q4(m), mode="foo")),
    (ValueError, lambda m: m.quantized_matmul(m.ones((3, 3, 64)), *q4(m, "mxfp4", (4, 8, 64)), mode="mxfp4")),
    (ValueError, lambda m: m.quantized_matmul(m.ones((4, 3, 64)), *(lambda q: (q[0], q[1][:2], q[2][:2]))(
        q4(m, "affine", (4, 8, 64))))),
    (ValueError, lambda m: m.quantized_matmul(m.ones((3, 64)), *(lambda q: (q[0], q[1][:, :1], q[2][:, :1]))(
        q4(m, "affine", (8, 64))), group_size=32)),
    (ValueError, lambda m: m.gather_qmm(m.ones((64,)), *q4(m, "mxfp4", (4, 8, 64)), rhs_indices=m.array([1]),
                                        mode="mxfp4")),
    (ValueError, lambda m: m.gather_qmm(m.ones((2, 64)), *q4(m, "mxfp4", (4, 8, 64)), mode="mxfp4",
                                        global_scale=m.array(1.0))),
    (ValueError, lambda m: m.gather_qmm(m.ones((2, 64)), *q4(m, "nvfp4", (4, 8, 64)), mode="nvfp4",
                                        rhs_indices=m.array([1]), global_scale=m.array(1.0))),
    (ValueError, lambda m: m.gather_qmm(m.ones((2, 64)), *q4(m, "mxfp4", (4, 8, 64)), mode="mxfp4",
                                        rhs_indices=m.array([1]), global_scale=m.ones((4,)))),
    # A valid per-matrix global scale: MLX's CPU build refuses it.
    (ValueError, lambda m: m.gather_qmm(m.ones((2, 64)), *m.quantize(m.ones((4, 8, 64)), mode="nvfp4"),
                                        mode="nvfp4", rhs_indices=m.array([1]), global_scale=m.ones((4,)))),
    (ValueError, lambda m: m.gather_qmm(m.ones((2, 1, 64)), *q4(m, "mxfp4", (4, 8, 64)), mode="mxfp4")),
    (ValueError, lambda m: m.gather_qmm(m.ones((2, 1, 64)), *q4(m, "affine", (4, 8, 64)),
                                        rhs_indices=m.array([0.0]))),
    (ValueError, lambda m: m.gather_qmm(m.ones((2, 1, 32)), *q4(m, "affine", (4, 8, 64)),
                                        rhs_indices=m.array([1, 2]))),
    (ValueError, lambda m: m.gather_qmm(m.ones((2, 1, 64)), *q4(m, "mxfp4", (4, 8, 64)),
                                        lhs_indices=m.array([0, 1]), rhs_indices=m.array([0, 2, 3]), mode="mxfp4")),
    (RuntimeError, lambda m: m.qqmm(m.ones((3, 64)), m.ones((8, 64)))),
    (RuntimeError, lambda m: m.qqmm(m.ones((3, 64)), m.ones((8, 64)), mode="mxfp8")),
    (RuntimeError, lambda m: m.qqmm(m.ones((3, 64)), m.ones((8, 64)), mode="affine")),
    (RuntimeError, lambda m: m.qqmm(m.ones((3, 64)), *q4(m, "nvfp4"))),
    (RuntimeError, lambda m: m.qqmm(m.ones((3, 64), m.bfloat16), m.ones((8, 64), m.bfloat16), group_size=32)),
    (ValueError, lambda m: m.qqmm(m.ones((3, 64)), m.ones((8, 64)), mode="foo")),
    (ValueError, lambda m: m.qqmm(m.ones((3, 32)), m.ones((8, 64)))),
    (ValueError, lambda m: m.qqmm(m.ones((3, 64), m.int32), m.ones((8, 64)))),
    (ValueError, lambda m: m.qqmm(m.ones((3, 64), m.float64), m.ones((8, 64)))),
    (ValueError, lambda m: m.qqmm(m.ones((3, 64)), m.ones((8, 64), m.int32))),
    (ValueError, lambda m: m.qqmm(m.ones((3, 64)), q4(m, "nvfp4")[0])),
    (RuntimeError, lambda m: m.gather_qqmm(m.ones((3, 64)), m.ones((8, 64)))),
    (RuntimeError, lambda m: m.gather_qqmm(m.ones((2, 3, 64)), m.ones((4, 8, 64)), rhs_indices=m.array([0, 1]))),
    (RuntimeError, lambda m: m.gather_qqmm(m.ones((3, 64)), *q4(m, "nvfp4"))),
    (ValueError, lambda m: m.gather_qqmm(m.ones((3, 64)), m.ones((8, 64)), mode="foo")),
    (ValueError, lambda m: m.gather_qqmm(m.ones((3, 32)), m.ones((8, 64)))),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_like_mlx(i):
    kind, f = ERRORS[i]
    with pytest.raises(kind) as ours:
        mx.eval(f(mx))
    if mlx is not None:
        with pytest.raises(kind) as theirs:
            mlx.eval(f(mlx))
        assert str(ours.value) == str(theirs.value)


def test_gradients_with_respect_to_quantized_arguments_raise(rng):
    # MLX raises in QuantizedMatmul::vjp ("no gradient wrt scales in mxfp4
    # quantization." / "no gradient wrt the quantized weights."); ferrox refuses earlier,
    # as it does for every integer argument: the scales are uint8 and w uint32.
    w = rng.standard_normal((8, 64)).astype(np.float32)
    wq, s = mx.quantize(mx.array(w), mode="mxfp4")
    x = mx.ones((3, 64))
    with pytest.raises(ValueError, match="floating point"):
        mx.grad(lambda a: mx.quantized_matmul(x, wq, a, mode="mxfp4").sum())(s)
    with pytest.raises(ValueError, match="floating point"):
        mx.vjp(lambda a: mx.quantized_matmul(x, a, s, mode="mxfp4"), [wq], [mx.ones((3, 8))])
