"""``mx.fast`` (``rms_norm``, ``layer_norm``, ``scaled_dot_product_attention``, ``rope``) and the fused
``mx.softmax`` against real MLX and NumPy: values, dtypes, gradients through ``mx.grad``,
and errors of MLX's exception types.
"""

import numpy as np
import pytest

import ferrox.core as mx
from numeric import fd_grad

mlx = pytest.importorskip("mlx.core")

F32, F16, BF16, F64 = "float32", "float16", "bfloat16", "float64"
DTYPES = [F32, F16, BF16, F64]
# MLX computes these in float32 even for float64 (its CPU fallback casts), hence F64's.
TOL = {F16: 5e-3, BF16: 4e-2, F32: 2e-5, F64: 2e-6}


def both(a, dtype=F32):
    """The same values as a ferrox and an MLX array of `dtype`."""
    a = np.asarray(a)
    return mx.array(a, dtype=getattr(mx, dtype)), mlx.array(a, dtype=getattr(mlx, dtype))


def np_of(a):
    if str(a.dtype).endswith("bfloat16"):
        a = a.astype(mx.float32 if isinstance(a, mx.array) else mlx.float32)
    return np.array(a, dtype=np.float64)


def close(got, want, dtype):
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    assert got.shape == want.shape
    np.testing.assert_allclose(np_of(got), np_of(want), rtol=TOL[dtype], atol=TOL[dtype])


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---- softmax ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (3, 33), (2, 3, 130)])
def test_softmax_matches_mlx_and_numpy(rng, dtype, shape):
    x = rng.uniform(-4, 4, shape).astype(np.float32)
    a, b = both(x, dtype)
    for axis in (-1, 0, None):
        for precise in (False, True):
            close(mx.softmax(a, axis=axis, precise=precise), mlx.softmax(b, axis=axis, precise=precise), dtype)
    if dtype in (F32, F64):
        np.testing.assert_allclose(np.array(mx.softmax(a, axis=-1)), np_softmax(np_of(a)), rtol=1e-5, atol=1e-7)


def test_softmax_special_values_and_views():
    inf, nan = float("inf"), float("nan")
    x = np.array([[-inf, -inf, -inf], [1, inf, 2], [1, nan, 2], [1, -inf, 2]], np.float32)
    a, b = both(x)
    np.testing.assert_array_equal(np.array(mx.softmax(a, axis=-1)), np.array(mlx.softmax(b, axis=-1)))
    y = np.arange(24, dtype=np.float32).reshape(4, 6) / 7
    a, b = both(y)
    close(mx.softmax(a.T, axis=-1), mlx.softmax(b.T, axis=-1), F32)
    close(mx.softmax(a[:, ::2], axis=1), mlx.softmax(b[:, ::2], axis=1), F32)
    close(mx.softmax(mx.array([1, 2, 3])), mlx.softmax(mlx.array([1, 2, 3])), F32)


# ---- normalisations --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5,), (3, 16), (2, 3, 300)])
def test_norms_match_mlx(rng, dtype, shape):
    n = shape[-1]
    x = rng.uniform(-3, 5, shape).astype(np.float32)
    w = rng.uniform(0.5, 1.5, n).astype(np.float32)
    bias = rng.uniform(-1, 1, n).astype(np.float32)
    (a, b), (wa, wb), (ba, bb) = both(x, dtype), both(w, dtype), both(bias, dtype)
    for eps in (1e-5, 0.1):
        close(mx.fast.rms_norm(a, wa, eps), mlx.fast.rms_norm(b, wb, eps), dtype)
        close(mx.fast.rms_norm(a, None, eps=eps), mlx.fast.rms_norm(b, None, eps=eps), dtype)
        close(mx.fast.layer_norm(a, wa, ba, eps), mlx.fast.layer_norm(b, wb, bb, eps), dtype)
        close(mx.fast.layer_norm(a, None, ba, eps), mlx.fast.layer_norm(b, None, bb, eps), dtype)
        close(mx.fast.layer_norm(a, wa, None, eps), mlx.fast.layer_norm(b, wb, None, eps), dtype)
        close(mx.fast.layer_norm(a, None, None, eps), mlx.fast.layer_norm(b, None, None, eps), dtype)
    if dtype == F64:
        xc = x - x.mean(-1, keepdims=True)
        want = xc / np.sqrt((xc**2).mean(-1, keepdims=True) + 1e-5) * w + bias
        np.testing.assert_allclose(np.array(mx.fast.layer_norm(a, wa, ba, 1e-5)), want, rtol=1e-6, atol=1e-6)


def test_norms_of_views_and_mixed_dtypes(rng):
    x = rng.uniform(-2, 2, (8, 6)).astype(np.float32)
    w = rng.uniform(0.5, 1.5, 16).astype(np.float32)
    (a, b), (wa, wb) = both(x), both(w)
    close(mx.fast.rms_norm(a.T, wa[::2], 1e-5), mlx.fast.rms_norm(b.T, wb[::2], 1e-5), F32)
    close(mx.fast.layer_norm(a.T, wa[::2], wa[1::2], 1e-5), mlx.fast.layer_norm(b.T, wb[::2], wb[1::2], 1e-5), F32)
    h, hb = a.astype(mx.float16), b.astype(mlx.float16)
    w64, w64b = mx.ones((6,), mx.float64), mlx.ones((6,), mlx.float64)
    for f in (lambda m, x, w: m.fast.rms_norm(x, w, 1e-5), lambda m, x, w: m.fast.layer_norm(x, None, w, 1e-5)):
        assert str(f(mx, h, w64).dtype) == str(f(mlx, hb, w64b).dtype)
    i, ib = a.astype(mx.int32), b.astype(mlx.int32)
    close(mx.fast.rms_norm(i, mx.ones((6,)), 1e-5), mlx.fast.rms_norm(ib, mlx.ones((6,)), 1e-5), F32)


# ---- attention -------------------------------------------------------------------------

ATTN_CASES = [
    # B, Hq, Hkv, Lq, Lk, D, Dv
    (1, 1, 1, 1, 1, 4, 4),
    (2, 4, 2, 3, 5, 8, 6),
    (1, 3, 1, 70, 70, 16, 16),
    (2, 2, 2, 7, 5, 8, 3),
]


def attn_inputs(rng, case, dtype):
    b, hq, hkv, lq, lk, d, dv = case
    q = rng.uniform(-1, 1, (b, hq, lq, d)).astype(np.float32)
    k = rng.uniform(-1, 1, (b, hkv, lk, d)).astype(np.float32)
    v = rng.uniform(-1, 1, (b, hkv, lk, dv)).astype(np.float32)
    return both(q, dtype), both(k, dtype), both(v, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ATTN_CASES)
def test_attention_matches_mlx(rng, dtype, case):
    (qa, qb), (ka, kb), (va, vb) = attn_inputs(rng, case, dtype)
    b, hq, hkv, lq, lk, d, dv = case
    scale = d**-0.5
    keep = rng.uniform(0, 1, (lq, lk)) > 0.3
    add = rng.uniform(-2, 2, (hq, lq, lk)).astype(np.float32)
    sinks = rng.uniform(-1, 1, (hq,)).astype(np.float32)
    (kma, kmb), (ama, amb), (sa, sb) = both(keep, "bool_"), both(add, dtype), both(sinks, dtype)
    tol = dtype
    for mask_a, mask_b in [(None, None), ("causal", "causal"), (kma, kmb), (ama, amb)]:
        for s_a, s_b in [(None, None), (sa, sb)]:
            got = mx.fast.scaled_dot_product_attention(qa, ka, va, scale=scale, mask=mask_a, sinks=s_a)
            want = mlx.fast.scaled_dot_product_attention(qb, kb, vb, scale=scale, mask=mask_b, sinks=s_b)
            close(got, want, tol)


def test_attention_views_and_promotion(rng):
    q = rng.uniform(-1, 1, (2, 5, 4, 8)).astype(np.float32)
    k = rng.uniform(-1, 1, (2, 6, 2, 8)).astype(np.float32)
    (qa, qb), (ka, kb) = both(q), both(k)
    t = lambda a: a.swapaxes(1, 2)
    got = mx.fast.scaled_dot_product_attention(t(qa), t(ka), t(ka), scale=0.3, mask="causal")
    want = mlx.fast.scaled_dot_product_attention(t(qb), t(kb), t(kb), scale=0.3, mask="causal")
    close(got, want, F32)
    # float16 with bfloat16 promotes to float32; an int mask adds.
    got = mx.fast.scaled_dot_product_attention(t(qa).astype(mx.float16), t(ka).astype(mx.bfloat16), t(ka), scale=1,
                                              mask=mx.ones((5, 6), mx.int32))
    want = mlx.fast.scaled_dot_product_attention(t(qb).astype(mlx.float16), t(kb).astype(mlx.bfloat16), t(kb), scale=1,
                                                mask=mlx.ones((5, 6), mlx.int32))
    close(got, want, F32)
    got = mx.fast.scaled_dot_product_attention(t(qa), t(ka), t(ka), scale=0.3, force_fused=True)
    close(got, mlx.fast.scaled_dot_product_attention(t(qb), t(kb), t(kb), scale=0.3), F32)


# ---- gradients -------------------------------------------------------------------------


def grads_of(lib, f, args):
    return lib.grad(lambda *a: lib.sum(f(lib, *a) * lib.cos(lib.arange(f(lib, *a).size).reshape(f(lib, *a).shape))),
                    argnums=tuple(range(len(args))))(*args)


GRAD_CASES = {
    "softmax": (lambda m, x: m.softmax(x, axis=-1), [(3, 7)]),
    "softmax axis 0": (lambda m, x: m.softmax(x, axis=0), [(3, 7)]),
    "rms_norm": (lambda m, x, w: m.fast.rms_norm(x, w, 1e-5), [(3, 7), (7,)]),
    "rms_norm none": (lambda m, x: m.fast.rms_norm(x, None, 1e-5), [(2, 3, 7)]),
    "layer_norm": (lambda m, x, w, b: m.fast.layer_norm(x, w, b, 1e-5), [(3, 7), (7,), (7,)]),
    "layer_norm none": (lambda m, x: m.fast.layer_norm(x, None, None, 1e-5), [(4, 7)]),
    "sdpa": (lambda m, q, k, v: m.fast.scaled_dot_product_attention(q, k, v, scale=0.5),
             [(2, 4, 3, 8), (2, 2, 5, 8), (2, 2, 5, 6)]),
    "sdpa causal": (lambda m, q, k, v: m.fast.scaled_dot_product_attention(q, k, v, scale=0.5, mask="causal"),
                    [(1, 2, 6, 4), (1, 2, 4, 4), (1, 2, 4, 4)]),
    "sdpa mask sinks": (lambda m, q, k, v, a, s: m.fast.scaled_dot_product_attention(q, k, v, scale=0.5, mask=a,
                                                                                     sinks=s),
                        [(1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4), (3, 5), (2,)]),
}


@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_gradients_match_mlx(rng, name):
    f, shapes = GRAD_CASES[name]
    xs = [rng.uniform(0.5, 1.5, s).astype(np.float32) for s in shapes]
    got = grads_of(mx, f, [mx.array(x) for x in xs])
    want = grads_of(mlx, f, [mlx.array(x) for x in xs])
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.array(g), np.array(w), rtol=1e-4, atol=1e-5)


def test_second_derivative_and_vmap(rng):
    x = rng.uniform(-1, 1, (3, 5)).astype(np.float32)
    w = rng.uniform(0.5, 1.5, 5).astype(np.float32)

    def g(lib):
        inner = lib.grad(lambda x, w: lib.sum(lib.fast.layer_norm(x, w, None, 1e-5) ** 3))
        return lib.grad(lambda x, w: lib.sum(inner(x, w) ** 2))(lib.array(x), lib.array(w))

    np.testing.assert_allclose(np.array(g(mx)), np.array(g(mlx)), rtol=1e-3, atol=1e-4)
    w2 = rng.uniform(0.5, 1.5, (5, 3)).astype(np.float32)
    # x batched along its last axis, one weight per batch element.
    vm = lambda lib: lib.vmap(lambda x, w: lib.fast.rms_norm(x, w, 1e-5), in_axes=(1, 0))(lib.array(x), lib.array(w2))
    assert vm(mx).shape == (5, 3)
    np.testing.assert_allclose(np.array(vm(mx)), np.array(vm(mlx)), rtol=1e-5, atol=1e-6)
    vm = lambda lib: lib.vmap(lambda x: lib.softmax(x, axis=-1), in_axes=1)(lib.array(x))
    np.testing.assert_allclose(np.array(vm(mx)), np.array(vm(mlx)), rtol=1e-5, atol=1e-6)


# ---- errors ----------------------------------------------------------------------------

x34 = lambda lib, dtype="float32": lib.zeros((3, 4), getattr(lib, dtype))
ERRORS = [
    lambda m: m.fast.rms_norm(m.array(1.0), None, 1e-5),
    lambda m: m.fast.rms_norm(x34(m), m.ones((2, 4)), 1e-5),
    lambda m: m.fast.rms_norm(x34(m), m.ones((5,)), 1e-5),
    lambda m: m.fast.rms_norm(x34(m, "int32"), None, 1e-5),
    lambda m: m.fast.rms_norm(x34(m, "complex64"), None, 1e-5),
    lambda m: m.fast.rms_norm(x34(m), 1.0, 1e-5),
    lambda m: m.fast.rms_norm([1.0, 2.0], None, 1e-5),
    lambda m: m.fast.rms_norm(np.ones((2, 3), np.float32), None, 1e-5),
    lambda m: m.fast.rms_norm(x34(m), None, "a"),
    lambda m: m.fast.layer_norm(x34(m), None, None),
    lambda m: m.fast.layer_norm(m.array(1.0), None, None, 1e-5),
    lambda m: m.fast.layer_norm(x34(m), None, m.ones((5,)), 1e-5),
    lambda m: m.fast.layer_norm(x34(m), None, m.ones((1, 4)), 1e-5),
    lambda m: m.fast.layer_norm(x34(m, "int32"), None, None, 1e-5),
]
Q, K, V = (2, 4, 3, 8), (2, 2, 5, 8), (2, 2, 5, 6)
sd = lambda m, q=Q, k=K, v=V, **kw: m.fast.scaled_dot_product_attention(m.zeros(q), m.zeros(k), m.zeros(v), **kw)
ERRORS += [
    lambda m: sd(m, q=(4, 3, 8), scale=0.3),
    lambda m: sd(m, scale=0.3, mask="foo"),
    lambda m: sd(m, k=(1, 2, 5, 8), scale=0.3),
    lambda m: sd(m, k=(2, 2, 5, 4), scale=0.3),
    lambda m: sd(m, v=(2, 1, 5, 6), scale=0.3),
    lambda m: sd(m, k=(2, 3, 5, 8), v=(2, 3, 5, 6), scale=0.3),
    lambda m: sd(m, v=(2, 2, 4, 6), scale=0.3),
    lambda m: sd(m, scale=0.3, mask=m.zeros((1, 1, 1, 3, 5))),
    lambda m: sd(m, scale=0.3, mask=m.zeros((4, 4))),
    lambda m: sd(m, scale=0.3, mask=m.zeros((3, 5), m.float64)),
    lambda m: sd(m, scale=0.3, mask=5),
    lambda m: sd(m, scale=0.3, mask=np.ones((3, 5), bool)),
    lambda m: sd(m, scale=0.3, sinks=m.zeros((2,))),
    lambda m: sd(m, scale=0.3, sinks=m.zeros((4,), m.float64)),
    lambda m: m.fast.scaled_dot_product_attention(m.zeros(Q), m.zeros(K), m.zeros(V), 0.3),
    lambda m: m.fast.scaled_dot_product_attention(m.zeros(Q), m.zeros(K), m.zeros(V)),
    lambda m: m.fast.scaled_dot_product_attention(m.zeros(Q, m.int32), m.zeros(K, m.int32), m.zeros(V, m.int32),
                                                  scale=1.0),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_match_mlx(i):
    make = ERRORS[i]
    with pytest.raises(Exception) as want:
        mlx.eval(make(mlx))
    with pytest.raises(type(want.value)) as got:
        mx.eval(make(mx))
    if isinstance(want.value, ValueError):
        assert str(got.value) == str(want.value)


# ---------------------------------------------------------------- rope

def rope_ref(x, dims, traditional, base, scale, offset, freqs=None):
    """Rotary embedding in float64, from its definition."""
    x = np.asarray(x, np.float64)
    L = x.shape[-2]
    off = np.asarray(offset, np.float64)
    if off.ndim == 1:
        off = off.reshape((-1,) + (1,) * (x.ndim - 1))
    pos = (off + np.arange(L)[:, None]) * scale
    inv = 1.0 / np.asarray(freqs, np.float64) if freqs is not None else \
        base ** (-np.arange(0, dims, 2) / dims)
    th = pos * inv
    c, s = np.cos(th), np.sin(th)
    out = x.copy()
    i1, i2 = ((slice(0, dims, 2), slice(1, dims, 2)) if traditional
              else (slice(0, dims // 2), slice(dims // 2, dims)))
    x1, x2 = x[..., i1], x[..., i2]
    out[..., i1], out[..., i2] = x1 * c - x2 * s, x1 * s + x2 * c
    return out


ROPE_CASES = [
    ((2, 3, 5, 8), 8, False, 10000.0, 1.0, 0),
    ((2, 3, 5, 8), 8, True, 10000.0, 1.0, 3),
    ((2, 5, 8), 6, False, 500.0, 0.5, 2),
    ((1, 4, 16), 4, True, 10.0, 2.0, 1),
    ((3, 4, 8), 8, False, 10000.0, 1.0, np.array([0, 5, 9])),
]


@pytest.mark.parametrize("shape,dims,traditional,base,scale,offset", ROPE_CASES)
def test_rope_against_its_definition_and_mlx(shape, dims, traditional, base, scale, offset):
    x = np.random.default_rng(1).standard_normal(shape)
    off = mx.array(offset) if isinstance(offset, np.ndarray) else offset
    got = mx.fast.rope(mx.array(x.astype(np.float32)), dims, traditional=traditional,
                       base=base, scale=scale, offset=off)
    want = rope_ref(x, dims, traditional, base, scale, offset)
    np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-5)
    got64 = mx.fast.rope(mx.array(x, dtype=mx.float64), dims, traditional=traditional, base=base, scale=scale,
                         offset=off)
    assert got64.dtype == mx.float64
    np.testing.assert_allclose(np.array(got64), want, rtol=1e-12, atol=1e-12)
    if mlx is not None:
        moff = mlx.array(offset) if isinstance(offset, np.ndarray) else offset
        theirs = mlx.fast.rope(mlx.array(x.astype(np.float32)), dims, traditional=traditional,
                               base=base, scale=scale, offset=moff)
        np.testing.assert_allclose(np.array(got), np.array(theirs), rtol=1e-5, atol=1e-5)


def test_rope_with_freqs_half_types_and_gradient():
    x = np.random.default_rng(2).standard_normal((2, 4, 8))
    fr = np.array([1.0, 2.0, 4.0, 8.0])
    got = mx.fast.rope(mx.array(x, dtype=mx.float64), 8, traditional=False, base=None,
                       scale=1.0, offset=1,
                       freqs=mx.array(fr))
    np.testing.assert_allclose(np.array(got), rope_ref(x, 8, False, None, 1.0, 1, fr), atol=1e-12)
    h = mx.fast.rope(mx.array(x, dtype=mx.float16), 8, traditional=True, base=10000.0,
                     scale=1.0, offset=0)
    assert h.dtype == mx.float16
    # Linear in x: the gradient of sum(w * rope(x)) is rope's transpose applied to w.
    w = np.random.default_rng(3).standard_normal((2, 4, 8))
    f = lambda a: mx.sum(mx.fast.rope(a, 6, traditional=True, base=100.0, scale=1.0, offset=2)
                         * mx.array(w))
    g = np.array(mx.grad(f)(mx.array(x, dtype=mx.float64)))
    eps, num = 1e-6, np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = ((rope_ref(xp, 6, True, 100.0, 1.0, 2) - rope_ref(xm, 6, True, 100.0, 1.0, 2))
                  * w).sum() / (2 * eps)
    np.testing.assert_allclose(g, num, atol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    (dict(dims=7, base=10.0), "even"),
    (dict(dims=8, base=10.0, freqs=[1.0, 2.0, 3.0, 4.0]), "Only one"),
    (dict(dims=8, base=None), "Only one"),
])
def test_rope_bad_arguments_raise_value_error(kwargs, match):
    x = mx.ones((1, 2, 8))
    if "freqs" in kwargs:
        kwargs["freqs"] = mx.array(kwargs["freqs"])
    dims = kwargs.pop("dims")
    with pytest.raises(ValueError, match=match):
        mx.fast.rope(x, dims, traditional=False, scale=1.0, offset=0, **kwargs)
    with pytest.raises(ValueError, match="3 dimensions"):
        mx.fast.rope(mx.ones((8,)), 8, traditional=False, base=10.0, scale=1.0, offset=0)


# ---------------------------------------------------------------- cross_entropy

@pytest.mark.parametrize("dtype", [F32, F16, BF16])
@pytest.mark.parametrize("shape", [(7,), (4, 10), (2, 3, 5)])
def test_cross_entropy_matches_mlx_and_numpy(dtype, shape):
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape)
    t = rng.integers(0, shape[-1], shape[:-1]).astype(np.int32)
    ours = mx.fast.cross_entropy(mx.array(x).astype(getattr(mx, dtype)), mx.array(t))
    theirs = mlx.fast.cross_entropy(mlx.array(x).astype(getattr(mlx, dtype)), mlx.array(t))
    assert ours.dtype == mx.float32 and ours.shape == t.shape
    m = x.max(-1, keepdims=True)
    want = (np.log(np.exp(x - m).sum(-1)) + m[..., 0]
            - np.take_along_axis(x, t[..., None], -1)[..., 0])
    tol = TOL[dtype] * 4
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=tol, atol=tol)
    if dtype == F32:
        np.testing.assert_allclose(np.array(ours), want, rtol=1e-5, atol=1e-5)


def test_cross_entropy_gradient_and_errors():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4))
    t = np.array([0, 3, 1], np.int32)
    g = mx.grad(lambda a: mx.sum(mx.fast.cross_entropy(a, mx.array(t))))(
        mx.array(x, dtype=mx.float64))
    p = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    np.testing.assert_allclose(np.array(g), p - np.eye(4)[t], atol=1e-12)
    logits = mx.zeros((2, 3))
    for m in (mx, mlx):
        with pytest.raises(ValueError):
            m.fast.cross_entropy(m.zeros((2, 3)), m.array([0, 1, 2]))
        with pytest.raises(ValueError):
            m.fast.cross_entropy(m.zeros((2, 3)), m.array([0.0, 1.0]))
    assert mx.fast.cross_entropy(logits, mx.array([0, 1], mx.uint8)).shape == (2,)


def _gated_delta_ref(q, k, v, g, beta, state=None, mask=None):
    """float64 reference of the gated delta recurrence, step by step."""
    B, T, Hk, Dk = q.shape
    Hv, Dv = v.shape[2:]
    q, k = np.repeat(q, Hv // Hk, 2), np.repeat(k, Hv // Hk, 2)
    S = np.zeros((B, Hv, Dv, Dk)) if state is None else state.astype(np.float64)
    ys = []
    for t in range(T):
        old = S
        decay = g[:, t, :, None, None] if g.ndim == 3 else g[:, t, :, None, :]
        S = S * decay
        kv = (S * k[:, t, :, None, :]).sum(-1)
        d = (v[:, t] - kv) * beta[:, t, :, None]
        S = S + k[:, t, :, None, :] * d[..., None]
        y = (S * q[:, t, :, None, :]).sum(-1)
        if mask is not None:
            S = np.where(mask[:, t, None, None, None], S, old)
            y = np.where(mask[:, t, None, None], y, 0)
        ys.append(y)
    return np.stack(ys, 1), S


@pytest.mark.parametrize("heads", [(2, 2), (2, 4), (1, 3)])
@pytest.mark.parametrize("per_channel_gamma", [False, True])
@pytest.mark.parametrize("with_state_and_mask", [False, True])
def test_gated_delta_update(heads, per_channel_gamma, with_state_and_mask):
    rng = np.random.default_rng(11)
    B, T, Dk, Dv = 2, 5, 8, 6
    Hk, Hv = heads
    q = rng.standard_normal((B, T, Hk, Dk)).astype(np.float32)
    k = (rng.standard_normal((B, T, Hk, Dk)) * 0.3).astype(np.float32)
    v = rng.standard_normal((B, T, Hv, Dv)).astype(np.float32)
    g = rng.uniform(0.5, 1, (B, T, Hv) + ((Dk,) if per_channel_gamma else ())).astype(np.float32)
    beta = rng.uniform(0, 1, (B, T, Hv)).astype(np.float32)
    S0 = rng.standard_normal((B, Hv, Dv, Dk)).astype(np.float32) if with_state_and_mask else None
    mask = (rng.uniform(size=(B, T)) > 0.3) if with_state_and_mask else None
    kw = {} if S0 is None else dict(initial_state=mx.array(S0), mask=mx.array(mask))
    y, s = mx.fast.gated_delta_update(*[mx.array(t) for t in (q, k, v, g, beta)], **kw)
    ry, rs = _gated_delta_ref(q, k, v, g, beta, S0, mask)
    assert y.shape == (B, T, Hv, Dv) and s.shape == (B, Hv, Dv, Dk)
    assert y.dtype == mx.float32 and s.dtype == mx.float32
    np.testing.assert_allclose(np.array(y), ry, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.array(s), rs, rtol=1e-4, atol=1e-4)
    if mlx is not None:
        my, ms = mlx.fast.gated_delta_update(*[mlx.array(t) for t in (q, k, v, g, beta)],
                                              **({} if S0 is None else dict(initial_state=mlx.array(S0), mask=mlx.array(mask))))
        np.testing.assert_allclose(np.array(y), np.array(my), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(np.array(s), np.array(ms), rtol=1e-4, atol=1e-4)


def test_gated_delta_update_dtypes_errors_and_grad():
    rng = np.random.default_rng(12)
    B, T, H, D = 1, 3, 2, 4
    q, k, v = (rng.standard_normal((B, T, H, D)) * 0.5 for _ in range(3))
    g = rng.uniform(0.5, 1, (B, T, H))
    beta = rng.uniform(0, 1, (B, T, H))
    y, s = mx.fast.gated_delta_update(*[mx.array(t).astype(mx.float16) for t in (q, k, v, g, beta)])
    assert y.dtype == mx.float16 and s.dtype == mx.float32
    with pytest.raises(ValueError):
        mx.fast.gated_delta_update(*[mx.array(t) for t in (q, k, v, g, beta[:, :, :1, None])])
    with pytest.raises(ValueError, match="multiple of the key heads"):
        mx.fast.gated_delta_update(*[mx.array(t) for t in (q, k, v[:, :, :1].repeat(3, 2), g, beta)])
    with pytest.raises(TypeError):
        mx.fast.gated_delta_update(q, k, v, g, beta)
    # Gradient in q against finite differences of the float64 reference.
    w = rng.standard_normal((B, T, H, D))
    f = lambda qq: (mx.fast.gated_delta_update(qq, *[mx.array(t) for t in (k, v, g, beta)])[0] * mx.array(w)).sum()
    gq = mx.grad(f)(mx.array(q))
    ref = fd_grad(lambda qq: (_gated_delta_ref(qq, k, v, g, beta)[0] * w).sum(), q)
    np.testing.assert_allclose(np.array(gq), ref, rtol=1e-3, atol=1e-3)
