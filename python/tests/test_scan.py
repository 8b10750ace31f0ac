"""Cumulative ops, median, print options and the matching array methods, against NumPy
(values) and MLX (values, dtypes, exception types)."""

import numpy as np
import pytest

import ferrox.core as mx

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None

NP = {
    mx.bool_: np.bool_, mx.uint8: np.uint8, mx.uint16: np.uint16, mx.uint32: np.uint32,
    mx.uint64: np.uint64, mx.int8: np.int8, mx.int16: np.int16, mx.int32: np.int32,
    mx.int64: np.int64, mx.float16: np.float16, mx.float32: np.float32,
    mx.float64: np.float64, mx.complex64: np.complex64,
}
ALL = [mx.bool_, mx.uint8, mx.uint16, mx.uint32, mx.uint64, mx.int8, mx.int16, mx.int32,
       mx.int64, mx.float16, mx.bfloat16, mx.float32, mx.float64, mx.complex64]
SHAPES_AXES = [((7,), None), ((7,), 0), ((7,), -1), ((3, 5), None), ((3, 5), 0),
               ((3, 5), 1), ((3, 5), -2), ((2, 3, 4), 1), ((2, 3, 4), -1), ((), None),
               ((0, 3), 0), ((4, 0), 1)]


def to_np(a):
    if a.dtype == mx.bfloat16:
        return np.array(a.astype(mx.float32))
    return np.array(a)


def rand(rng, shape, dtype, lo=-3.0, hi=3.0):
    if dtype == mx.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if dtype in (mx.uint8, mx.uint16, mx.uint32, mx.uint64):
        return rng.integers(0, 5, shape).astype(NP[dtype])
    if dtype in (mx.int8, mx.int16, mx.int32, mx.int64):
        return rng.integers(-4, 5, shape).astype(NP[dtype])
    x = rng.uniform(lo, hi, shape)
    if dtype == mx.bfloat16:
        return np.round(x * 8) / 8
    return x.astype(NP[dtype])


def tol(dtype):
    return {mx.float16: 1e-2, mx.bfloat16: 5e-2, mx.float64: 1e-12}.get(dtype, 2e-5)


def scan_ref(x, axis, reverse, inclusive, ufunc, identity):
    """NumPy reference of an MLX scan (flattening when `axis` is None)."""
    if axis is None:
        x = x.reshape(-1)
        axis = 0
    if reverse:
        x = np.flip(x, axis)
    out = ufunc.accumulate(x, axis=axis) if x.size else x.copy()
    if not inclusive:
        pad = np.full_like(np.take(out, [0], axis=axis) if x.shape[axis] else out, identity)
        out = np.concatenate([pad, np.take(out, range(x.shape[axis] - 1), axis=axis)], axis)
        out = out[tuple(slice(0, n) for n in x.shape)]
    if reverse:
        out = np.flip(out, axis)
    return out


def close(got, want, dtype):
    got = to_np(got)
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if got.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=tol(dtype), atol=tol(dtype))
    else:
        np.testing.assert_array_equal(got, want.astype(got.dtype))


# ---------------------------------------------------------------- scans against NumPy

@pytest.mark.parametrize("dtype", [mx.float32, mx.float64, mx.float16, mx.bfloat16, mx.int32,
                                   mx.int8, mx.uint8, mx.int64, mx.complex64])
@pytest.mark.parametrize("shape,axis", SHAPES_AXES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("inclusive", [True, False])
def test_cumsum_cumprod_against_numpy(dtype, shape, axis, reverse, inclusive, rng):
    x = rand(rng, shape, dtype, 0.5, 1.5)
    if dtype == mx.complex64:
        x = x + 1j * rand(rng, shape, mx.float32, -0.5, 0.5).astype(np.complex64)
    a = mx.array(x, dtype=dtype)
    xv = to_np(a)
    wide = xv.astype(np.complex128 if dtype == mx.complex64 else
                     np.float64 if xv.dtype.kind == "f" else xv.dtype)
    s = mx.cumsum(a, axis, reverse=reverse, inclusive=inclusive)
    assert s.dtype == dtype
    close(s, scan_ref(wide, axis, reverse, inclusive, np.add, 0), dtype)
    p = mx.cumprod(a, axis=axis, reverse=reverse, inclusive=inclusive)
    assert p.dtype == dtype
    close(p, scan_ref(wide, axis, reverse, inclusive, np.multiply, 1), dtype)
    # Aliases and methods agree exactly with the functions.
    for alias in (mx.cumulative_sum(a, axis, reverse=reverse, inclusive=inclusive),
                  a.cumsum(axis, reverse=reverse, inclusive=inclusive)):
        np.testing.assert_array_equal(to_np(alias), to_np(s))
    for alias in (mx.cumulative_prod(a, axis, reverse=reverse, inclusive=inclusive),
                  a.cumprod(axis, reverse=reverse, inclusive=inclusive)):
        np.testing.assert_array_equal(to_np(alias), to_np(p))


@pytest.mark.parametrize("dtype", [mx.float32, mx.float16, mx.int16, mx.uint32, mx.bool_,
                                   mx.float64])
@pytest.mark.parametrize("shape,axis", SHAPES_AXES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("inclusive", [True, False])
def test_cummax_cummin_against_numpy(dtype, shape, axis, reverse, inclusive, rng):
    a = mx.array(rand(rng, shape, dtype), dtype=dtype)
    x = to_np(a)
    if dtype == mx.bool_:
        lo, hi = False, True
    elif x.dtype.kind == "f":
        lo, hi = -np.inf, np.inf
    else:
        lo, hi = np.iinfo(x.dtype).min, np.iinfo(x.dtype).max
    mxv = mx.cummax(a, axis, reverse=reverse, inclusive=inclusive)
    mnv = mx.cummin(a, axis=axis, reverse=reverse, inclusive=inclusive)
    assert mxv.dtype == dtype and mnv.dtype == dtype
    close(mxv, scan_ref(x, axis, reverse, inclusive, np.maximum, lo), dtype)
    close(mnv, scan_ref(x, axis, reverse, inclusive, np.minimum, hi), dtype)
    np.testing.assert_array_equal(
        to_np(a.cummax(axis, reverse=reverse, inclusive=inclusive)), to_np(mxv))
    np.testing.assert_array_equal(
        to_np(a.cummin(axis, reverse=reverse, inclusive=inclusive)), to_np(mnv))


@pytest.mark.parametrize("dtype", [mx.float32, mx.float64, mx.float16, mx.int32, mx.bool_])
@pytest.mark.parametrize("shape,axis", SHAPES_AXES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("inclusive", [True, False])
def test_logcumsumexp_against_numpy(dtype, shape, axis, reverse, inclusive, rng):
    a = mx.array(rand(rng, shape, dtype), dtype=dtype)
    x = to_np(a).astype(np.float64)
    out = mx.logcumsumexp(a, axis, reverse=reverse, inclusive=inclusive)
    want_dtype = dtype if dtype in (mx.float32, mx.float64, mx.float16) else mx.float32
    assert out.dtype == want_dtype
    want = scan_ref(x, axis, reverse, inclusive, np.logaddexp, -np.inf)
    close(out, want, want_dtype)
    np.testing.assert_array_equal(
        to_np(a.logcumsumexp(axis, reverse=reverse, inclusive=inclusive)), to_np(out))


@pytest.mark.parametrize("src,dst", [(mx.int8, mx.int32), (mx.int32, mx.float32),
                                     (mx.bool_, mx.int8), (mx.float32, mx.float16),
                                     (mx.uint8, mx.float64), (mx.float32, mx.int32)])
def test_cumsum_cumprod_dtype_argument(src, dst, rng):
    a = mx.array(rand(rng, (4, 5), src), dtype=src)
    x = to_np(a).astype(NP[dst])
    s = mx.cumsum(a, 1, dtype=dst)
    assert s.dtype == dst
    close(s, np.cumsum(x, 1, dtype=NP[dst]), dst)
    p = mx.cumprod(a, axis=0, dtype=dst)
    assert p.dtype == dst
    close(p, np.cumprod(x, 0, dtype=NP[dst]), dst)


def test_integer_cumsum_wraps_in_its_dtype():
    a = mx.array([100, 100, 100], mx.int8)
    close(mx.cumsum(a), np.cumsum(np.array([100] * 3, np.int8), dtype=np.int8), mx.int8)


def test_nan_propagates_in_cummax_and_cumsum():
    a = mx.array([1.0, np.nan, 3.0, 0.5])
    assert np.isnan(to_np(mx.cummax(a))[1:]).all()
    assert np.isnan(to_np(mx.cumsum(a))[1:]).all()
    assert to_np(mx.cummax(a))[0] == 1.0


# ---------------------------------------------------------------- median

@pytest.mark.parametrize("dtype", [mx.float32, mx.float64, mx.float16, mx.int32, mx.uint8,
                                   mx.bool_])
@pytest.mark.parametrize("shape,axis", [((7,), None), ((6,), 0), ((3, 4), 1), ((3, 4), -2),
                                        ((2, 3, 4), (0, 2)), ((2, 3, 4), [-1, 0, 1]),
                                        ((), None), ((5, 1), None)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_median_against_numpy(dtype, shape, axis, keepdims, rng):
    a = mx.array(rand(rng, shape, dtype), dtype=dtype)
    x = to_np(a).astype(np.float64)
    out = mx.median(a, axis, keepdims=keepdims)
    want_dtype = dtype if dtype in (mx.float32, mx.float64, mx.float16) else mx.float32
    assert out.dtype == want_dtype
    want = np.median(x, axis=tuple(axis) if isinstance(axis, list) else axis,
                     keepdims=keepdims)
    close(out, want, want_dtype)


def test_median_nan():
    a = mx.array([[1.0, np.nan, 2.0], [3.0, 1.0, 2.0]])
    out = to_np(mx.median(a, axis=1))
    assert np.isnan(out[0]) and out[1] == 2.0


# ---------------------------------------------------------------- against MLX

def on_both(f):
    if mlx is None:
        pytest.skip("mlx is not installed")
    return f(mx), f(mlx)


@pytest.mark.parametrize("dtype", ["bool_", "uint8", "uint16", "uint32", "uint64", "int8",
                                   "int16", "int32", "int64", "float16", "bfloat16",
                                   "float32", "float64", "complex64"])
@pytest.mark.parametrize("name", ["cumsum", "cumprod", "cummax", "cummin", "logcumsumexp",
                                  "cumulative_sum", "cumulative_prod", "median"])
def test_result_dtypes_match_mlx(dtype, name):
    def f(m):
        d = getattr(m, dtype)
        return getattr(m, name)(m.ones((2, 3), d)).dtype
    ours, theirs = on_both(f)
    assert str(ours) == str(theirs)


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"])
@pytest.mark.parametrize("axis,reverse,inclusive", [(None, False, True), (1, True, False),
                                                    (-2, False, False), (0, True, True)])
def test_scan_values_match_mlx(name, axis, reverse, inclusive):
    x = np.random.default_rng(3).uniform(-2, 2, (3, 4, 5)).astype(np.float32)

    def f(m):
        return getattr(m, name)(m.array(x), axis, reverse=reverse, inclusive=inclusive)
    ours, theirs = on_both(f)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(to_np(ours), np.array(theirs), rtol=1e-5, atol=1e-5)


ERRORS = [
    ("cumsum_axis", lambda m: m.cumsum(m.zeros((3, 4)), 2), IndexError),
    ("cumsum_neg_axis", lambda m: m.cumsum(m.zeros((3, 4)), -3), IndexError),
    ("cumsum_scalar_axis", lambda m: m.cumsum(m.array(3), 0), IndexError),
    ("cumprod_axis", lambda m: m.cumprod(m.zeros((3, 4)), axis=5), IndexError),
    ("cummax_axis", lambda m: m.cummax(m.zeros((3, 4)), 2), IndexError),
    ("cummin_axis", lambda m: m.cummin(m.zeros((3,)), -2), IndexError),
    ("logcumsumexp_axis", lambda m: m.logcumsumexp(m.zeros((3,)), 1), IndexError),
    ("cumsum_positional_reverse", lambda m: m.cumsum(m.zeros((3, 4)), 1, True), TypeError),
    ("cummax_dtype", lambda m: m.cummax(m.zeros((3, 4)), dtype=m.float32), TypeError),
    ("method_cumsum_dtype", lambda m: m.zeros((3, 4)).cumsum(dtype=m.float32), TypeError),
    ("cumsum_float_axis", lambda m: m.cumsum(m.zeros((3, 4)), 1.0), TypeError),
    ("median_axis", lambda m: m.median(m.zeros((3, 4)), 2), IndexError),
    ("median_dup", lambda m: m.median(m.zeros((3, 4)), [0, 0]), ValueError),
    ("median_empty", lambda m: m.median(m.zeros((0, 3)), 0), ValueError),
    ("median_empty_axes", lambda m: m.median(m.zeros((2, 3)), []), ValueError),
]


@pytest.mark.parametrize("name,f,exc", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_arguments_raise_mlx_exception_types(name, f, exc):
    with pytest.raises(exc):
        f(mx)
    if mlx is not None:
        with pytest.raises(exc):
            f(mlx)


def test_cumsum_of_scalar_is_one_element():
    out = mx.cumsum(mx.array(3))
    assert out.shape == (1,) and out.tolist() == [3]


# ---------------------------------------------------------------- array methods

def test_array_methods_match_functions(rng):
    x = rng.uniform(-2, 2, (4, 6)).astype(np.float32)
    a = mx.array(x)
    np.testing.assert_array_equal(np.array(a.diag()), np.diag(x))
    np.testing.assert_array_equal(np.array(a.diagonal(1, 1, 0)), np.diagonal(x, 1, 1, 0))
    parts = a.split([2, 5], axis=1)
    assert isinstance(parts, list)
    for p, w in zip(parts, np.split(x, [2, 5], 1)):
        np.testing.assert_array_equal(np.array(p), w)
    np.testing.assert_array_equal(np.array(a.view(mx.int32)), x.view(np.int32))
    np.testing.assert_array_equal(np.array(a.moveaxis(0, 1)), np.moveaxis(x, 0, 1))
    np.testing.assert_array_equal(np.array(a.flatten()), x.ravel())
    np.testing.assert_array_equal(np.array(a.T), x.T)
    b = mx.array(rng.uniform(size=(2, 3, 4)).astype(np.float32))
    np.testing.assert_array_equal(np.array(b.mT), np.swapaxes(np.array(b), -1, -2))
    np.testing.assert_array_equal(np.array(b.T), np.array(b).T)


def test_array_methods_exist_like_mlx():
    names = ["cummax", "cummin", "cumprod", "cumsum", "diag", "diagonal", "flatten",
             "logcumsumexp", "moveaxis", "split", "view", "T", "mT"]
    a = mx.zeros((2, 2))
    for n in names:
        assert hasattr(a, n), n
    if mlx is not None:
        for n in names:
            assert hasattr(mlx.zeros((2, 2)), n), n
        # MLX has no array.median / array.take: neither does ferrox.
        for n in ["median", "take"]:
            assert hasattr(mlx.zeros((2, 2)), n) == hasattr(a, n), n


# ---------------------------------------------------------------- print options

@pytest.fixture
def restore_print():
    yield
    mx.set_printoptions(precision=-1)


def test_get_printoptions(restore_print):
    p = mx.get_printoptions()
    assert isinstance(p, mx.PrintOptions) and p.precision == -1
    mx.set_printoptions(precision=3)
    assert mx.get_printoptions().precision == 3
    # The object is a snapshot: changing it changes nothing.
    p.precision = 5
    assert mx.get_printoptions().precision == 3


def test_printoptions_context(restore_print):
    a = mx.array([1.23456, 2.0])
    default = str(a)
    ctx = mx.printoptions(precision=2)
    assert mx.get_printoptions().precision == -1  # creating it sets nothing
    with ctx as c:
        assert c is ctx
        assert mx.get_printoptions().precision == 2
        assert str(a) == "array([1.23, 2.00], dtype=float32)"
        with mx.printoptions():
            assert mx.get_printoptions().precision == -1
        assert mx.get_printoptions().precision == 2
    assert mx.get_printoptions().precision == -1
    assert str(a) == default
    with pytest.raises(KeyError):
        with mx.printoptions(precision=4):
            raise KeyError("x")
    assert mx.get_printoptions().precision == -1
    mx.set_printoptions(precision=1)
    with mx.printoptions(precision=3):
        pass
    assert mx.get_printoptions().precision == 1


def test_printoptions_match_mlx_output(restore_print):
    if mlx is None:
        pytest.skip("mlx is not installed")
    x = np.array([[1.23456, -2.5], [1e-4, 1234.5678]], np.float32)
    for p in [0, 2, 4]:
        with mx.printoptions(precision=p), mlx.printoptions(precision=p):
            assert str(mx.array(x)) == str(mlx.array(x))
    with pytest.raises(TypeError):
        mx.printoptions(foo=1)
    with pytest.raises(TypeError):
        mx.set_printoptions(3.5)
