"""gather_mm, segmented_mm and block_masked_mm: values against NumPy loops over random
shapes, batch broadcasts, dtypes and index patterns; MLX's shapes, dtypes and errors;
gradients against finite differences; vmap and compile."""

import math

import numpy as np
import pytest

import ferrox.core as mx
from numeric import fd_grad

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None

rng = np.random.default_rng(7)


def gather_ref(a, b, lhs, rhs):
    """float64 reference: a loop over the broadcast index pairs."""
    a2 = a if a.ndim > 1 else a[None]
    b2 = b if b.ndim > 1 else b[:, None]
    af = a2.reshape(-1, *a2.shape[-2:]).astype(np.float64)
    bf = b2.reshape(-1, *b2.shape[-2:]).astype(np.float64)
    if lhs is None:
        lhs = np.arange(af.shape[0]).reshape(a2.shape[:-2])
    if rhs is None:
        rhs = np.arange(bf.shape[0]).reshape(b2.shape[:-2])
    lhs, rhs = np.broadcast_arrays(lhs, rhs)
    out = np.stack([af[i] @ bf[j] for i, j in zip(lhs.ravel(), rhs.ravel())]) if lhs.size else np.zeros((0, af.shape[1], bf.shape[2]))
    out = out.reshape(*lhs.shape, af.shape[1], bf.shape[2])
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


GATHER_CASES = [
    # a shape, b shape, lhs, rhs
    ((3, 4, 5), (2, 5, 6), [0, 2], [1, 0]),
    ((3, 4, 5), (2, 5, 6), None, [[1], [0]]),
    ((3, 4, 5), (2, 5, 6), [2], None),
    ((4, 5), (6, 5, 3), None, [5, 0, 0, 3, 1]),
    ((7, 1, 5), (4, 5, 3), [[0, 6, 2], [1, 1, 3]], [[3, 0, 2], [1, 1, 0]]),
    ((2, 3, 1, 8), (3, 8, 2), [1, 5], [2, 2]),
    ((2, 4, 5), (2, 5, 6), None, None),
    ((5,), (3, 5, 4), [0], [2]),
    ((2, 3, 5), (5,), [1, 0], [0, 0]),
]


@pytest.mark.parametrize("ashape,bshape,lhs,rhs", GATHER_CASES)
def test_gather_mm_values(ashape, bshape, lhs, rhs):
    a = rng.standard_normal(ashape).astype(np.float32)
    b = rng.standard_normal(bshape).astype(np.float32)
    li = None if lhs is None else np.array(lhs, dtype=np.uint32)
    ri = None if rhs is None else np.array(rhs, dtype=np.int32)
    got = mx.gather_mm(
        mx.array(a), mx.array(b),
        None if li is None else mx.array(li), None if ri is None else mx.array(ri),
    )
    ref = gather_ref(a, b, li, ri)
    assert got.shape == ref.shape
    assert got.dtype == mx.float32
    np.testing.assert_allclose(np.array(got), ref, rtol=1e-5, atol=1e-5)
    if mlx is not None:
        m = mlx.gather_mm(
            mlx.array(a), mlx.array(b),
            None if li is None else mlx.array(li), None if ri is None else mlx.array(ri),
        )
        assert tuple(m.shape) == got.shape
        np.testing.assert_allclose(np.array(got), np.array(m), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dt", ["float16", "bfloat16", "float64"])
def test_gather_mm_dtypes(dt):
    a = rng.standard_normal((3, 4, 8)).astype(np.float32)
    b = rng.standard_normal((2, 8, 5)).astype(np.float32)
    li, ri = np.array([2, 0, 1]), np.array([1, 1, 0])
    d = getattr(mx, dt)
    got = mx.gather_mm(mx.array(a).astype(d), mx.array(b).astype(d), mx.array(li), mx.array(ri))
    assert got.dtype == d
    tol = 1e-9 if dt == "float64" else 5e-2
    np.testing.assert_allclose(np.array(got.astype(mx.float64) if dt != "float64" else got), gather_ref(a, b, li, ri), rtol=tol, atol=tol)
    # mixed: promoted as matmul does
    mixed = mx.gather_mm(mx.array(a).astype(mx.float16), mx.array(b), mx.array(li), mx.array(ri))
    assert mixed.dtype == mx.float32


def test_gather_mm_large_parallel():
    # Enough items for the parallel path, and products large enough for the serial one.
    a = rng.standard_normal((64, 1, 96)).astype(np.float32)
    b = rng.standard_normal((8, 96, 128)).astype(np.float32)
    ri = rng.integers(0, 8, size=(64,))
    got = mx.gather_mm(mx.array(a), mx.array(b), None, mx.array(ri))
    np.testing.assert_allclose(np.array(got), gather_ref(a, b, None, ri), rtol=1e-4, atol=1e-4)
    big_a = rng.standard_normal((2, 128, 128)).astype(np.float32)
    big_b = rng.standard_normal((2, 128, 128)).astype(np.float32)
    got = mx.gather_mm(mx.array(big_a), mx.array(big_b), mx.array([1, 0, 1]), mx.array([0, 0, 1]))
    ref = gather_ref(big_a, big_b, np.array([1, 0, 1]), np.array([0, 0, 1]))
    np.testing.assert_allclose(np.array(got), ref, rtol=1e-4, atol=1e-3)


def test_gather_mm_errors():
    a, b = mx.ones((3, 4, 5)), mx.ones((2, 5, 6))
    with pytest.raises(ValueError, match="Indices must be integral"):
        mx.gather_mm(a, b, mx.array([0.5]))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        mx.gather_mm(a, b)
    with pytest.raises(ValueError, match="Last dimension of first input"):
        mx.gather_mm(mx.ones((4, 5)), mx.ones((6, 5)))
    with pytest.raises(ValueError, match="real floating point"):
        mx.gather_mm(a.astype(mx.int32), b.astype(mx.int32), mx.array([0]), mx.array([1]))
    if mlx is not None:
        for args in [(mlx.ones((3, 4, 5)), mlx.ones((2, 5, 6)), mlx.array([0.5]))]:
            with pytest.raises(ValueError):
                mlx.gather_mm(*args)


def test_gather_mm_grad():
    a = rng.standard_normal((3, 2, 4))
    b = rng.standard_normal((2, 4, 3))
    li, ri = mx.array([0, 2, 2, 1]), mx.array([1, 0, 1, 1])
    w = rng.standard_normal((4, 2, 3))

    def loss(a_, b_, lib=mx):
        return (lib.gather_mm(a_, b_, li, ri) * lib.array(w)).sum()

    ga, gb = mx.grad(loss, argnums=(0, 1))(mx.array(a), mx.array(b))
    fa = fd_grad(lambda x: (gather_ref(x, b, np.array(li), np.array(ri)) * w).sum(), a)
    fb = fd_grad(lambda x: (gather_ref(a, x, np.array(li), np.array(ri)) * w).sum(), b)
    np.testing.assert_allclose(np.array(ga), fa, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.array(gb), fb, rtol=1e-6, atol=1e-6)
    # jvp equals the directional derivative
    ta, tb = rng.standard_normal(a.shape), rng.standard_normal(b.shape)
    _, (t,) = mx.jvp(lambda x, y: [mx.gather_mm(x, y, li, ri)], [mx.array(a), mx.array(b)], [mx.array(ta), mx.array(tb)])
    ref = gather_ref(ta, b, np.array(li), np.array(ri)) + gather_ref(a, tb, np.array(li), np.array(ri))
    np.testing.assert_allclose(np.array(t), ref, rtol=1e-5, atol=1e-5)


def test_gather_mm_vmap_and_compile():
    a = rng.standard_normal((5, 3, 2, 4)).astype(np.float32)
    b = rng.standard_normal((2, 4, 3)).astype(np.float32)
    ri = rng.integers(0, 2, size=(5, 4))
    li = np.array([0, 1, 2, 2])
    f = lambda x, r: mx.gather_mm(x, mx.array(b), mx.array(li), r)
    got = mx.vmap(f)(mx.array(a), mx.array(ri))
    ref = np.stack([gather_ref(a[v], b, li, ri[v]) for v in range(5)])
    np.testing.assert_allclose(np.array(got), ref, rtol=1e-5, atol=1e-5)
    # batched b, shared a
    bb = rng.standard_normal((5, 2, 4, 3)).astype(np.float32)
    got = mx.vmap(lambda y: mx.gather_mm(mx.array(a[0]), y, mx.array(li), mx.array(ri[0])))(mx.array(bb))
    ref = np.stack([gather_ref(a[0], bb[v], li, ri[0]) for v in range(5)])
    np.testing.assert_allclose(np.array(got), ref, rtol=1e-5, atol=1e-5)
    c = mx.compile(lambda x, y, r: mx.gather_mm(x, y, None, r))
    np.testing.assert_allclose(
        np.array(c(mx.array(a[0, :2]), mx.array(b), mx.array(ri[0, :2]))),
        gather_ref(a[0, :2], b, None, ri[0, :2]), rtol=1e-5, atol=1e-5,
    )


def seg_ref(a, b, seg):
    seg = np.asarray(seg)
    flat = seg.reshape(-1, 2)
    k = a.shape[1]
    outs = []
    for s, e in flat:
        s, e = max(0, min(s, k)), max(0, min(e, k))
        outs.append(a[:, s:e].astype(np.float64) @ b[s:e].astype(np.float64) if e > s else np.zeros((a.shape[0], b.shape[1])))
    return np.stack(outs).reshape(*seg.shape[:-1], a.shape[0], b.shape[1])


@pytest.mark.parametrize("seg", [[[0, 3], [3, 10], [5, 5]], [0, 10], [[[0, 4]], [[2, 9]]], [[3, 0]], [[0, 12], [-2, 4]]])
def test_segmented_mm(seg):
    a = rng.standard_normal((4, 10)).astype(np.float32)
    b = rng.standard_normal((10, 3)).astype(np.float32)
    got = mx.segmented_mm(mx.array(a), mx.array(b), mx.array(seg))
    ref = seg_ref(a, b, seg)
    assert got.shape == ref.shape
    np.testing.assert_allclose(np.array(got), ref, rtol=1e-5, atol=1e-5)
    in_range = all(0 <= v <= 10 for v in np.ravel(seg))
    if mlx is not None and in_range:
        m = mlx.segmented_mm(mlx.array(a), mlx.array(b), mlx.array(seg))
        assert tuple(m.shape) == got.shape
        np.testing.assert_allclose(np.array(got), np.array(m), rtol=1e-5, atol=1e-5)


def test_segmented_mm_errors_and_grad():
    a, b = mx.ones((4, 10)), mx.ones((10, 3))
    with pytest.raises(ValueError, match="Segments must be integral"):
        mx.segmented_mm(a, b, mx.array([[0.0, 3.0]]))
    with pytest.raises(ValueError, match="Batched matmul not supported"):
        mx.segmented_mm(mx.ones((2, 4, 10)), mx.ones((2, 10, 3)), mx.array([[0, 3]]))
    with pytest.raises(ValueError, match="real floating point"):
        mx.segmented_mm(a.astype(mx.int32), b.astype(mx.int32), mx.array([[0, 3]]))
    with pytest.raises(ValueError, match="Last dimension"):
        mx.segmented_mm(mx.ones((4, 9)), b, mx.array([[0, 3]]))
    # Beyond MLX (which has no vjp for it): gradients.
    an = rng.standard_normal((3, 6))
    bn = rng.standard_normal((6, 2))
    seg = [[0, 2], [1, 6]]
    g = mx.grad(lambda x: mx.segmented_mm(x, mx.array(bn), mx.array(seg)).sum())(mx.array(an))
    np.testing.assert_allclose(np.array(g), fd_grad(lambda x: seg_ref(x, bn, seg).sum(), an), rtol=1e-6, atol=1e-6)


def block_ref(a, b, bs, mo, ml, mr):
    def ex(m, r, c):
        if m is None:
            return np.ones((r, c))
        m = np.asarray(m, dtype=np.float64)
        return np.repeat(np.repeat(m, bs, -2), bs, -1)[..., :r, :c]

    M, K = a.shape[-2:]
    N = b.shape[-1]
    return (a * ex(ml, M, K)) @ (b * ex(mr, K, N)) * ex(mo, M, N)


@pytest.mark.parametrize("bs", [32, 64])
@pytest.mark.parametrize("shape", [(64, 96, 70), (33, 40, 65), (2, 64, 64, 64)])
@pytest.mark.parametrize("kind", ["bool", "float", "partial"])
def test_block_masked_mm(bs, shape, kind):
    *batch, M, K, N = shape
    a = rng.standard_normal((*batch, M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    c = lambda x: math.ceil(x / bs)
    def mk(r, cc):
        m = rng.uniform(size=(*batch, c(r), c(cc)))
        return (m > 0.3) if kind != "float" else m.astype(np.float32)
    mo, ml, mr = mk(M, N), mk(M, K), mk(K, N)[..., :, :] if not batch else mk(K, N)[0]
    if kind == "partial":
        ml = None
    got = mx.block_masked_mm(mx.array(a), mx.array(b), bs, mx.array(mo), None if ml is None else mx.array(ml), mx.array(mr))
    ref = block_ref(a.astype(np.float64), b.astype(np.float64), bs, mo, ml, mr)
    np.testing.assert_allclose(np.array(got), ref, rtol=1e-4, atol=1e-4)
    if mlx is not None:
        m = mlx.block_masked_mm(mlx.array(a), mlx.array(b), bs, mlx.array(mo), None if ml is None else mlx.array(ml), mlx.array(mr))
        assert m.dtype == mlx.float32 and got.dtype == mx.float32
        np.testing.assert_allclose(np.array(got), np.array(m), rtol=1e-4, atol=1e-4)


def test_block_masked_mm_nonfinite_masked_blocks_and_errors():
    a = np.ones((64, 64), np.float32)
    a[:32, 32:] = np.inf
    keep = np.array([[True, False], [True, True]])
    got = np.array(mx.block_masked_mm(mx.array(a), mx.array(np.ones((64, 64), np.float32)), 32, None, mx.array(keep), None))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got[:32], 32.0)
    with pytest.raises(ValueError, match="Only block_sizes 32, 64"):
        mx.block_masked_mm(mx.ones((64, 64)), mx.ones((64, 64)), 16)
    with pytest.raises(ValueError):
        mx.block_masked_mm(mx.ones((64, 96)), mx.ones((96, 70)), 32, mx.ones((2, 2)))
    with pytest.raises(ValueError, match="inexact"):
        mx.block_masked_mm(mx.ones((64, 64), mx.int32), mx.ones((64, 64), mx.int32), 32)


def test_block_masked_mm_grad():
    a = rng.standard_normal((40, 33))
    b = rng.standard_normal((33, 35))
    ml = rng.uniform(size=(2, 2))
    mo = rng.uniform(size=(2, 2)) > 0.3
    mr = rng.uniform(size=(2, 2))
    f = lambda x, y, m: mx.block_masked_mm(x, y, 32, mx.array(mo), m, mx.array(mr)).sum()
    ga, gb, gm = mx.grad(f, argnums=(0, 1, 2))(mx.array(a), mx.array(b), mx.array(ml))
    np.testing.assert_allclose(np.array(ga), fd_grad(lambda x: block_ref(x, b, 32, mo, ml, mr).sum(), a), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.array(gb), fd_grad(lambda x: block_ref(a, x, 32, mo, ml, mr).sum(), b), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.array(gm), fd_grad(lambda x: block_ref(a, b, 32, mo, x, mr).sum(), ml), rtol=1e-5, atol=1e-5)


def test_matrix_norm_is_norm():
    x = rng.standard_normal((3, 4)).astype(np.float32)
    assert mx.matrix_norm is mx.linalg.norm
    np.testing.assert_allclose(np.array(mx.matrix_norm(mx.array(x), "fro")), np.linalg.norm(x, "fro"), rtol=1e-6)
