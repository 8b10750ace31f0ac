"""sort, argsort, partition, argpartition, topk, searchsorted and unique: values against NumPy,
dtypes and exception types against MLX, gradients against finite differences."""

import numpy as np
import pytest

import ferrox.core as mx
from numeric import fd_grad

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None

NP = {
    mx.bool_: np.bool_, mx.uint8: np.uint8, mx.uint32: np.uint32, mx.int8: np.int8,
    mx.int32: np.int32, mx.int64: np.int64, mx.float16: np.float16,
    mx.float32: np.float32, mx.float64: np.float64,
}
DTYPES = list(NP) + [mx.bfloat16]
SHAPES_AXES = [((7,), -1), ((7,), None), ((3, 5), 0), ((3, 5), 1), ((3, 5), None),
               ((2, 3, 4), 1), ((2, 3, 4), -1), ((2, 3, 4), 0), ((0, 3), 0), ((4, 0), 1),
               ((1, 9), -1)]


def to_np(a):
    if a.dtype == mx.bfloat16:
        return np.array(a.astype(mx.float32))
    return np.array(a)


def rand(rng, shape, dtype):
    """Random values with ties (small integers) so that stability shows."""
    if dtype == mx.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if dtype in (mx.uint8, mx.uint32):
        return rng.integers(0, 6, shape).astype(NP[dtype])
    if dtype in (mx.int8, mx.int32, mx.int64):
        return rng.integers(-5, 6, shape).astype(NP[dtype])
    x = np.round(rng.uniform(-3, 3, shape) * 4) / 4
    return x if dtype == mx.bfloat16 else x.astype(NP[dtype])


def arr(x, dtype):
    return mx.array(x, dtype=dtype) if dtype == mx.bfloat16 else mx.array(x)


def np_axis(x, axis):
    return (x.reshape(-1), 0) if axis is None else (x, axis)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape,axis", SHAPES_AXES)
def test_sort_and_argsort_against_numpy(dtype, shape, axis, rng):
    x = rand(rng, shape, dtype)
    a = arr(x, dtype)
    s, i = mx.sort(a, axis=axis), mx.argsort(a, axis=axis)
    xn, ax = np_axis(np.asarray(x, np.float64) if dtype == mx.bfloat16 else x, axis)
    assert s.dtype == a.dtype and i.dtype == mx.uint32
    np.testing.assert_array_equal(to_np(s), np.sort(xn, axis=ax))
    # Stable: equal values keep their order, as NumPy's stable sort.
    np.testing.assert_array_equal(to_np(i), np.argsort(xn, axis=ax, kind="stable"))


def test_default_axis_is_last_and_nan_sorts_last():
    x = np.array([[3.0, np.nan, 1.0], [np.nan, -2.0, 5.0]], np.float32)
    np.testing.assert_array_equal(to_np(mx.sort(mx.array(x))), np.sort(x, axis=-1))
    np.testing.assert_array_equal(to_np(mx.argsort(mx.array(x))), np.argsort(x, axis=-1))
    np.testing.assert_array_equal(to_np(mx.sort(mx.array(x), axis=None)), np.sort(x, None))


def check_partition(p, x, kth, axis):
    """`p` is a partition of `x` at `kth` along `axis`: the same elements per line, the
    sorted element at kth, nothing smaller after it or larger before it."""
    xs = np.sort(x, axis=axis)
    np.testing.assert_array_equal(np.sort(p, axis=axis), xs)
    n = x.shape[axis]
    k = kth % n
    pk = np.take(p, [k], axis=axis)
    np.testing.assert_array_equal(pk, np.take(xs, [k], axis=axis))
    assert (np.take(p, range(k), axis=axis) <= pk).all()
    assert (np.take(p, range(k + 1, n), axis=axis) >= pk).all()


@pytest.mark.parametrize("dtype", [mx.int32, mx.float32, mx.float64], ids=str)
@pytest.mark.parametrize("shape,axis,kth", [((9,), -1, 4), ((9,), None, 0), ((4, 6), 1, -1),
                                            ((4, 6), 0, 2), ((2, 5, 3), 1, -5)])
def test_partition_and_argpartition(dtype, shape, axis, kth, rng):
    x = rand(rng, shape, dtype)
    a = mx.array(x)
    xn, ax = np_axis(x, axis)
    p = to_np(mx.partition(a, kth, axis=axis))
    check_partition(p, xn, kth, ax)
    i = mx.argpartition(a, kth, axis=axis)
    assert i.dtype == mx.uint32
    check_partition(np.take_along_axis(xn, to_np(i).astype(np.int64), axis=ax), xn, kth, ax)


@pytest.mark.parametrize("dtype", [mx.int32, mx.float16, mx.float32], ids=str)
@pytest.mark.parametrize("shape,axis,k", [((9,), -1, 3), ((9,), None, 9), ((4, 6), 1, 1),
                                          ((4, 6), 0, 4), ((2, 5, 3), 1, 0)])
def test_topk_is_the_k_largest(dtype, shape, axis, k, rng):
    x = rand(rng, shape, dtype)
    xn, ax = np_axis(x, axis)
    t = to_np(mx.topk(mx.array(x), k, axis=axis))
    want = np.take(np.sort(xn, axis=ax), range(xn.shape[ax] - k, xn.shape[ax]), axis=ax)
    np.testing.assert_array_equal(np.sort(t, axis=ax), want)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("dtype", [mx.int32, mx.float32], ids=str)
@pytest.mark.parametrize("vshape", [(), (5,), (3, 4)])
def test_searchsorted_against_numpy(side, dtype, vshape, rng):
    seq = np.sort(rand(rng, (11,), dtype))
    v = rand(rng, vshape, dtype)
    out = mx.searchsorted(mx.array(seq), mx.array(v), side=side)
    assert out.shape == v.shape
    np.testing.assert_array_equal(to_np(out), np.searchsorted(seq, v, side=side))


def nan_ties(rng, shape, dtype):
    """Few distinct values and about one NaN in six (integers: no NaN)."""
    x = np.round(rng.uniform(-3, 3, shape) * 2) / 2
    if dtype == mx.int32:
        return (x * 2).astype(np.int32)
    x[rng.uniform(size=shape) < 1 / 6] = np.nan
    return x.astype(NP[dtype])


def check_partition_nan(p, x, kth, axis):
    """`check_partition` where NaN sorts last (the data hold no infinities)."""
    xs = np.sort(x, axis=axis)
    np.testing.assert_array_equal(np.sort(p, axis=axis), xs)
    n = x.shape[axis]
    k = kth % n
    pk = np.take(p, [k], axis=axis)
    np.testing.assert_array_equal(pk, np.take(xs, [k], axis=axis))
    key = lambda v: np.where(np.isnan(v), np.inf, v)
    assert (key(np.take(p, range(k), axis=axis)) <= key(pk)).all()
    assert (key(np.take(p, range(k + 1, n), axis=axis)) >= key(pk)).all()


@pytest.mark.parametrize("dtype", [mx.int32, mx.float16, mx.float32, mx.float64], ids=str)
@pytest.mark.parametrize("shape,axis,kth", [((50,), -1, -1), ((50,), -1, -50), ((6, 41), 1, -9),
                                            ((41, 6), 0, 20), ((3, 301, 2), 1, -151),
                                            ((2000,), None, 1000)])
def test_partition_with_nan_ties_and_negative_kth(dtype, shape, axis, kth, rng):
    x = nan_ties(rng, shape, dtype)
    a = mx.array(x)
    xn, ax = np_axis(x, axis)
    p = to_np(mx.partition(a, kth, axis=axis))
    check_partition_nan(p, xn, kth, ax)
    i = to_np(mx.argpartition(a, kth, axis=axis)).astype(np.int64)
    # argpartition's permutation gives exactly partition's arrangement.
    np.testing.assert_array_equal(np.take_along_axis(xn, i, axis=ax), p)
    np.testing.assert_array_equal(np.sort(i, axis=ax),
                                  np.broadcast_to(np.arange(xn.shape[ax]).reshape(
                                      [-1 if d == ax % xn.ndim else 1 for d in range(xn.ndim)]),
                                      xn.shape))


@pytest.mark.parametrize("dtype", [mx.int32, mx.float32], ids=str)
@pytest.mark.parametrize("shape,axis,k", [((60,), -1, 7), ((4, 33), 1, 32), ((33, 4), 0, 1),
                                          ((3, 400), -1, 400)])
def test_topk_with_nan_and_ties_is_the_sorted_tail(dtype, shape, axis, k, rng):
    x = nan_ties(rng, shape, dtype)
    t = to_np(mx.topk(mx.array(x), k, axis=axis))
    n = x.shape[axis]
    np.testing.assert_array_equal(t, np.take(np.sort(x, axis=axis), range(n - k, n), axis=axis))


def test_partition_gradient_with_ties_follows_argpartition(rng):
    x0 = np.round(rng.uniform(-2, 2, (5, 16))).astype(np.float32)  # many ties
    w = rng.uniform(-1, 1, x0.shape).astype(np.float32)
    for kth in (0, 7, -1):
        g = mx.grad(lambda x: mx.sum(mx.partition(x, kth, axis=1) * mx.array(w)))(mx.array(x0))
        idx = np.array(mx.argpartition(mx.array(x0), kth, axis=1)).astype(np.int64)
        want = np.zeros_like(x0)
        np.put_along_axis(want, idx, w, axis=1)
        np.testing.assert_array_equal(np.array(g), want)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("dtype", [mx.int32, mx.float32, mx.float64], ids=str)
@pytest.mark.parametrize("n,vshape", [(0, (4,)), (1, (7,)), (5000, (3000,)), (777, (40, 50))])
def test_searchsorted_large_random_with_nan_against_numpy(side, dtype, n, vshape, rng):
    seq = np.sort(nan_ties(rng, (n,), dtype))
    v = nan_ties(rng, vshape, dtype)
    out = mx.searchsorted(mx.array(seq), mx.array(v), side=side)
    assert out.shape == v.shape and out.dtype == mx.uint32
    np.testing.assert_array_equal(to_np(out), np.searchsorted(seq, v, side=side))


def test_searchsorted_under_vmap(rng):
    seqs = np.sort(nan_ties(rng, (4, 30), mx.float32), axis=1)
    v = nan_ties(rng, (4, 9), mx.float32)
    per_seq = mx.vmap(lambda s: mx.searchsorted(s, mx.array(v[0])))(mx.array(seqs))
    np.testing.assert_array_equal(np.array(per_seq),
                                  np.stack([np.searchsorted(s, v[0]) for s in seqs]))
    per_values = mx.vmap(lambda q: mx.searchsorted(mx.array(seqs[0]), q, side="right"))(
        mx.array(v))
    np.testing.assert_array_equal(np.array(per_values),
                                  np.searchsorted(seqs[0], v, side="right"))


# ---------------------------------------------------------------- gradients


GRADS = {
    "sort": (lambda m, x: m.sort(x, axis=1), lambda x: np.sort(x, axis=1)),
    "sort_flat": (lambda m, x: m.sort(x, axis=None), lambda x: np.sort(x, axis=None)),
    # The order inside each side of kth is unspecified: the reference takes ferrox's
    # arrangement (fixed under small perturbations of distinct values).
    "partition": (lambda m, x: m.partition(x, 2, axis=0),
                  lambda x: np.take_along_axis(x, np.array(
                      mx.argpartition(mx.array(x), 2, axis=0)).astype(np.int64), axis=0)),
    "topk": (lambda m, x: m.topk(x, 2, axis=-1), lambda x: np.sort(x, axis=-1)[:, -2:]),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_match_finite_differences(name, rng):
    f, ref = GRADS[name]
    x0 = rng.permutation(np.linspace(-2, 2, 12)).reshape(3, 4)  # distinct values
    w = rng.uniform(-1, 1, ref(x0).shape)
    loss = lambda x: mx.sum(f(mx, x) * mx.array(w))
    g = mx.grad(loss)(mx.array(x0))
    np.testing.assert_allclose(np.array(g), fd_grad(lambda x: (ref(x) * w).sum(), x0),
                               atol=1e-6)


def test_sort_gradient_under_vmap(rng):
    x0 = rng.permutation(np.linspace(-2, 2, 12)).reshape(3, 4)
    w = rng.uniform(-1, 1, 4)
    g = mx.vmap(mx.grad(lambda r: mx.sum(mx.sort(r) * mx.array(w))))(mx.array(x0))
    rows = np.stack([fd_grad(lambda r: (np.sort(r) * w).sum(), r) for r in x0])
    np.testing.assert_allclose(np.array(g), rows, atol=1e-6)


def test_compiled_equals_uncompiled(rng):
    x = mx.array(rng.uniform(-1, 1, (5, 8)).astype(np.float32))
    f = lambda x: mx.topk(x, 3) + mx.sort(x, axis=0)[:, :3] + mx.argsort(x)[:, :3]
    np.testing.assert_array_equal(np.array(mx.compile(f)(x)), np.array(f(x)))


# ---------------------------------------------------------------- against MLX

def on_both(f):
    if mlx is None:
        pytest.skip("mlx is not installed")
    return f(mx), f(mlx)


@pytest.mark.parametrize("dtype", ["bool_", "uint8", "int32", "float16", "bfloat16",
                                   "float32"])
@pytest.mark.parametrize("name", ["sort", "argsort", "partition", "argpartition", "topk"])
def test_result_dtypes_match_mlx(dtype, name):
    def f(m):
        a = m.ones((2, 3), getattr(m, dtype))
        return (getattr(m, name)(a, 1) if name in ("partition", "argpartition", "topk")
                else getattr(m, name)(a)).dtype
    ours, theirs = on_both(f)
    assert str(ours) == str(theirs)


def test_values_match_mlx():
    x = np.random.default_rng(5).uniform(-2, 2, (4, 6)).astype(np.float32)

    def f(m):
        a = m.array(x)
        return [m.sort(a), m.argsort(a, axis=0), m.sort(a, axis=None), m.topk(a, 3),
                m.searchsorted(m.sort(a, axis=None), a, side="right")]
    for ours, theirs in zip(*on_both(f)):
        assert ours.shape == theirs.shape and str(ours.dtype) == str(theirs.dtype)
        np.testing.assert_array_equal(to_np(ours), np.array(theirs))


ERRORS = [
    ("sort_axis", lambda m: m.sort(m.zeros((3, 4)), 2), IndexError),
    ("argsort_axis", lambda m: m.argsort(m.zeros((3,)), -2), IndexError),
    ("partition_axis", lambda m: m.partition(m.zeros((3, 4)), 1, 3), IndexError),
    ("partition_kth", lambda m: m.partition(m.zeros((3, 4)), 4), ValueError),
    ("partition_neg_kth", lambda m: m.partition(m.zeros((3, 4)), -5), ValueError),
    ("argpartition_kth", lambda m: m.argpartition(m.zeros((5,)), 7), ValueError),
    ("topk_k", lambda m: m.topk(m.zeros((5,)), 7), ValueError),
    ("topk_neg_k", lambda m: m.topk(m.zeros((5,)), -1), ValueError),
    ("topk_axis", lambda m: m.topk(m.zeros((5,)), 1, axis=1), IndexError),
    ("searchsorted_side", lambda m: m.searchsorted(m.zeros((5,)), m.zeros((2,)), side="mid"),
     ValueError),
]


@pytest.mark.parametrize("name,f,exc", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_arguments_raise_mlx_exception_types(name, f, exc):
    with pytest.raises(exc):
        f(mx)
    if mlx is not None:
        with pytest.raises(exc):
            f(mlx)


# ---------------------------------------------------------------- unique

def unique_ref(x, size, fill=None):
    """NumPy's unique (each NaN distinct) cut or padded to `size`, as MLX pads."""
    flat = x.reshape(-1)
    u, idx, inv, cnt = np.unique(flat, return_index=True, return_inverse=True,
                                 return_counts=True, equal_nan=False)
    k = len(u)
    fill = u[0] if fill is None else fill
    pad = max(size - k, 0)
    vals = np.concatenate([u[:size], np.full(pad, fill, dtype=flat.dtype)])
    idx = np.concatenate([idx[:size], np.full(pad, idx[0])])
    cnt = np.concatenate([cnt[:size], np.zeros(pad, int)])
    inv = np.minimum(inv, max(size - 1, 0)).reshape(x.shape)
    return vals, idx, inv, cnt


@pytest.mark.parametrize("dtype", [mx.int32, mx.uint8, mx.float32, mx.float64], ids=str)
@pytest.mark.parametrize("shape", [(9,), (3, 4), (2, 2, 5), (1,)])
@pytest.mark.parametrize("extra", [-2, 0, 3])
def test_unique_against_numpy(dtype, shape, extra, rng):
    x = rand(rng, shape, dtype)
    k = len(np.unique(x))
    size = max(k + extra, 0)
    vals, idx, inv, cnt = mx.unique(mx.array(x), size, return_index=True,
                                    return_inverse=True, return_counts=True)
    want = unique_ref(x, size)
    assert (vals.dtype, idx.dtype, inv.dtype, cnt.dtype) == (
        mx.array(x).dtype, mx.uint32, mx.uint32, mx.int32)
    for got, ref in zip((vals, idx, inv, cnt), want):
        assert got.shape == ref.shape
        np.testing.assert_array_equal(to_np(got), ref)
    only = mx.unique(mx.array(x), size, fill_value=7)
    np.testing.assert_array_equal(to_np(only), unique_ref(x, size, fill=7)[0])


def test_unique_nan_each_distinct_and_errors():
    x = np.array([1.0, np.nan, np.nan, 0.0], np.float32)
    np.testing.assert_array_equal(to_np(mx.unique(mx.array(x), 4)), [0, 1, np.nan, np.nan])
    with pytest.raises(ValueError, match="negative size"):
        mx.unique(mx.array(x), -1)
    with pytest.raises(ValueError, match="fill value"):
        mx.unique(mx.array([], mx.float32), 2)
    with pytest.raises(TypeError):
        mx.unique(mx.array(x))
    out = mx.unique(mx.array([], mx.float32), 2, fill_value=7, return_counts=True)
    np.testing.assert_array_equal(to_np(out[0]), [7, 7])
    np.testing.assert_array_equal(to_np(out[1]), [0, 0])


@pytest.mark.parametrize("size", [0, 2, 4, 8])
def test_unique_matches_mlx(size):
    x = np.array([[3, 1, 2], [3, 1, 5]], np.int32)

    def f(m):
        return m.unique(m.array(x), size, return_index=True, return_inverse=True,
                        return_counts=True, fill_value=-1)
    for ours, theirs in zip(*on_both(f)):
        assert ours.shape == theirs.shape and str(ours.dtype) == str(theirs.dtype)
        np.testing.assert_array_equal(to_np(ours), np.array(theirs))
