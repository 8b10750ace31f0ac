"""Shape and indexing functions of ferrox.core against NumPy (values) and MLX (values,
dtypes, exception types)."""

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
DTYPES = [mx.float32, mx.int32, mx.int8, mx.uint8, mx.bool_, mx.float16, mx.bfloat16,
          mx.float64, mx.complex64]


def to_np(a):
    if a.dtype == mx.bfloat16:
        return np.array(a.astype(mx.float32))
    return np.array(a)


def rand(rng, shape, dtype):
    if dtype == mx.bool_:
        x = rng.integers(0, 2, shape).astype(np.bool_)
    elif dtype in (mx.uint8, mx.uint16, mx.uint32, mx.uint64):
        x = rng.integers(0, 50, shape).astype(NP[dtype])
    elif dtype in (mx.int8, mx.int16, mx.int32, mx.int64):
        x = rng.integers(-50, 50, shape).astype(NP[dtype])
    elif dtype == mx.complex64:
        x = (rng.uniform(-3, 3, shape) + 1j * rng.uniform(-3, 3, shape)).astype(np.complex64)
    elif dtype == mx.bfloat16:
        # Values exact in bfloat16, so NumPy sees what ferrox holds.
        x = np.round(rng.uniform(-3, 3, shape) * 8) / 8
    else:
        x = rng.uniform(-3, 3, shape).astype(NP[dtype])
    return x


def pair(rng, shape, dtype):
    """A ferrox array and the NumPy array of its values."""
    x = rand(rng, shape, dtype)
    a = mx.array(x, dtype=dtype)
    return a, to_np(a)


def check(out, want, dtype=None):
    got = to_np(out)
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if dtype is not None:
        assert out.dtype == dtype
    if got.dtype.kind in "fc":
        np.testing.assert_allclose(got, want.astype(got.dtype), rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, want)


def on_both(f):
    """Runs `f(module)` on ferrox and MLX; returns the two results (arrays or tuples)."""
    if mlx is None:
        pytest.skip("mlx is not installed")
    return f(mx), f(mlx)


def same(ours, theirs):
    if isinstance(ours, (list, tuple)):
        assert type(ours) is type(theirs), (type(ours), type(theirs))
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            same(o, t)
        return
    assert str(ours.dtype) == str(theirs.dtype), (ours.dtype, theirs.dtype)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    t = theirs.astype(mlx.float32) if theirs.dtype == mlx.bfloat16 else theirs
    want = np.array(t)
    got = to_np(ours)
    if got.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- joining and cutting

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb,axis", [
    ((2, 3), (4, 3), 0), ((3, 2, 4), (3, 5, 4), 1), ((3, 2, 4), (3, 2, 1), -1),
    ((5,), (0,), 0), ((2, 3), (1, 3), -2), ((2, 3), (4, 1), None),
])
def test_concatenate_against_numpy(dtype, sa, sb, axis, rng):
    a, x = pair(rng, sa, dtype)
    b, y = pair(rng, sb, dtype)
    want = np.concatenate([x.ravel(), y.ravel()]) if axis is None else np.concatenate([x, y], axis)
    check(mx.concatenate([a, b], axis=axis), want, dtype)
    check(mx.concat((a, b), axis), want, dtype)
    if axis == 0:
        check(mx.concatenate([a, b]), want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", [((3,), 0), ((3,), 1), ((2, 3), -1), ((2, 3), 1),
                                        ((), 0), ((2, 0, 3), 2)])
def test_stack_unstack_against_numpy(dtype, shape, axis, rng):
    parts = [pair(rng, shape, dtype) for _ in range(3)]
    want = np.stack([p[1] for p in parts], axis)
    s = mx.stack([p[0] for p in parts], axis=axis)
    check(s, want, dtype)
    back = mx.unstack(s, axis=axis)
    assert isinstance(back, tuple) and len(back) == 3
    for b, (_, x) in zip(back, parts):
        check(b, x, dtype)


@pytest.mark.parametrize("dtype", [mx.float32, mx.int16, mx.bool_])
@pytest.mark.parametrize("shape,how,axis", [
    ((6, 4), 3, 0), ((6, 4), 2, -1), ((6, 4), [1, 3], 0), ((6, 4), [-1], 1),
    ((6, 4), [2, 10], 0), ((6, 4), [4, 1], 0), ((6, 4), [], 1), ((6, 4), (0, 6), 0),
    ((2, 3, 4), [1, 2], 2),
])
def test_split_against_numpy(dtype, shape, how, axis, rng):
    a, x = pair(rng, shape, dtype)
    want = np.split(x, how, axis) if isinstance(how, int) else np.split(x, list(how), axis)
    got = mx.split(a, how, axis=axis)
    assert isinstance(got, list) and len(got) == len(want)
    for g, w in zip(got, want):
        check(g, w, dtype)
    for g, w in zip(a.split(how, axis), want):
        check(g, w, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,reps", [((3,), 2), ((2, 3), (2, 1)), ((2, 3), (2, 1, 3)),
                                        ((2, 1, 3), (3,)), ((), (2, 2)), ((2, 3), 0)])
def test_tile_against_numpy(dtype, shape, reps, rng):
    a, x = pair(rng, shape, dtype)
    check(mx.tile(a, reps), np.tile(x, reps), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,repeats,axis", [((3,), 2, None), ((2, 3), 3, 1),
                                                ((2, 3), 2, -2), ((2, 3), 0, 0),
                                                ((2, 3), 2, None), ((), 3, None)])
def test_repeat_against_numpy(dtype, shape, repeats, axis, rng):
    a, x = pair(rng, shape, dtype)
    check(mx.repeat(a, repeats, axis), np.repeat(x, repeats, axis), dtype)


PADS = [1, (2,), (1, 2), [(1, 2), (0, 3)], [[2, 0], [1, 1]], ((0, 0), (3, 1))]


@pytest.mark.parametrize("dtype", [mx.float32, mx.int32, mx.uint8, mx.float16, mx.bool_,
                                   mx.complex64])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
@pytest.mark.parametrize("width", PADS)
def test_pad_against_numpy(dtype, mode, width, rng):
    a, x = pair(rng, (3, 4), dtype)
    np_width = width
    if isinstance(width, tuple) and len(width) == 2 and isinstance(width[0], int):
        np_width = [width, width]
    want = np.pad(x, np_width, mode=mode)
    check(mx.pad(a, width, mode), want, dtype)


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "edge"])
@pytest.mark.parametrize("n,lo,hi", [(1, 2, 2), (2, 5, 3), (3, 7, 7), (4, 0, 9)])
def test_pad_wide_mirrors_against_numpy(mode, n, lo, hi):
    x = np.arange(n, dtype=np.int32)
    if mode == "reflect" and n == 1:
        want = np.full(n + lo + hi, x[0])  # NumPy and MLX agree: one point repeats
    else:
        want = np.pad(x, (lo, hi), mode=mode)
    check(mx.pad(mx.array(x), (lo, hi), mode), want, mx.int32)


@pytest.mark.parametrize("dtype,value", [(mx.int32, 7), (mx.int32, 2.5), (mx.float16, 1.5),
                                         (mx.uint8, 255), (mx.float32, -np.inf),
                                         (mx.bool_, True)])
def test_pad_constant_values(dtype, value, rng):
    a, x = pair(rng, (2, 3), dtype)
    out = mx.pad(a, [(1, 0), (0, 2)], constant_values=value)
    want = np.pad(x, [(1, 0), (0, 2)], constant_values=np.array(value).astype(x.dtype))
    check(out, want, dtype)
    check(mx.pad(a, 1, "constant", mx.array(value)),
          np.pad(x, 1, constant_values=np.array(value).astype(x.dtype)), dtype)


@pytest.mark.parametrize("dtype", [mx.float32, mx.int64, mx.bool_, mx.bfloat16])
@pytest.mark.parametrize("shape,shift,axis", [
    ((7,), 2, None), ((7,), -9, 0), ((3, 4), 5, None), ((3, 4), 1, 1), ((3, 4), -1, -2),
    ((3, 4), (1, 2), (0, 1)), ((3, 4), 1, (0, 1)), ((3, 4), (1, 2), None),
    ((2, 3, 4), (1, -1, 2), (2, 0, 1)), ((3, 4), (1, 2, 3), (0, 1)),
])
def test_roll_against_numpy(dtype, shape, shift, axis, rng):
    a, x = pair(rng, shape, dtype)
    if axis is None:
        want = np.roll(x, int(np.sum(shift)))
    elif isinstance(shift, tuple) and isinstance(axis, tuple):
        want = np.roll(x, shift[: len(axis)], axis)
    else:
        want = np.roll(x, shift, axis)
    check(mx.roll(a, shift, axis), want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", [((5,), None), ((3, 4), None), ((3, 4), 0),
                                        ((3, 4), -1), ((2, 3, 4), (0, 2)), ((2, 3, 4), [])])
def test_flip_against_numpy(dtype, shape, axis, rng):
    a, x = pair(rng, shape, dtype)
    want = np.flip(x, axis) if axis != [] else x
    check(mx.flip(a, axis), want, dtype)


def test_flip_repeated_axis_flips_once():
    a = mx.arange(12).reshape(3, 4)
    check(mx.flip(a, [0, 0]), np.flip(np.arange(12).reshape(3, 4), 0))
    check(mx.flip(a, [1, -1, 0]), np.arange(12)[::-1].reshape(3, 4))


# ---------------------------------------------------------------- gathers and scatters

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,ishape,axis", [((10,), (4,), None), ((3, 4), (2, 2), None),
                                               ((3, 4), (5,), 1), ((3, 4), (2, 3), -2),
                                               ((2, 3, 4), (), 2)])
def test_take_against_numpy(dtype, shape, ishape, axis, rng):
    a, x = pair(rng, shape, dtype)
    n = x.size if axis is None else x.shape[axis]
    idx = rng.integers(-n, n, ishape).astype(np.int32)
    check(mx.take(a, mx.array(idx), axis), np.take(x, idx, axis), dtype)
    check(mx.take(a, mx.array(idx.astype(np.int64)), axis=axis), np.take(x, idx, axis))


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_take_int_index(axis, rng):
    a, x = pair(rng, (3, 4), mx.float32)
    for i in range(3):
        check(mx.take(a, i, axis), np.take(x, i, axis))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,ishape,axis", [((3, 4), (3, 2), 1), ((3, 4), (1, 4), 0),
                                               ((3, 4), (2, 1), 0), ((2, 3, 4), (2, 3, 1), -1),
                                               ((3, 4), (5,), None)])
def test_take_along_axis_against_numpy(dtype, shape, ishape, axis, rng):
    a, x = pair(rng, shape, dtype)
    n = x.size if axis is None else x.shape[axis]
    idx = rng.integers(0, n, ishape).astype(np.int32)
    if axis is None:
        want = np.take_along_axis(x.ravel(), idx.ravel(), 0)
    else:
        want = np.take_along_axis(x, idx, axis)
    check(mx.take_along_axis(a, mx.array(idx), axis=axis), want, dtype)


def test_take_along_axis_default_axis_is_last(rng):
    a, x = pair(rng, (3, 4), mx.float32)
    idx = np.argsort(x, axis=-1).astype(np.int32)
    check(mx.take_along_axis(a, mx.array(idx)), np.sort(x, -1))


@pytest.mark.parametrize("dtype", [mx.float32, mx.int32, mx.int8, mx.bool_, mx.complex64])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_put_along_axis_against_numpy(dtype, axis, rng):
    a, x = pair(rng, (4, 5), dtype)
    n = x.shape[axis]
    # One distinct index per line: no duplicate writes, whose winner is unspecified.
    perm = np.argsort(rng.uniform(size=x.shape), axis=axis)
    idx = np.take(perm, [0, 1], axis=axis).astype(np.int32)
    v, vals = pair(rng, idx.shape, dtype)
    want = x.copy()
    np.put_along_axis(want, idx, vals, axis)
    check(mx.put_along_axis(a, mx.array(idx), v, axis=axis), want, dtype)
    assert n > 1


def test_put_along_axis_flat_and_cast(rng):
    a = mx.arange(12).reshape(3, 4)
    out = mx.put_along_axis(a, mx.array([0, 5]), mx.array([-1.7, -2.2]))
    want = np.arange(12)
    want[[0, 5]] = [-1, -2]
    check(out, want.reshape(3, 4), mx.int32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_slice_and_slice_update_against_python_slices(dtype, rng):
    a, x = pair(rng, (4, 5, 3), dtype)
    out = mx.slice(a, mx.array([1, 2]), [0, 1], [2, 3, 3])
    check(out, x[1:3, 2:5, :], dtype)
    out = mx.slice(a, mx.array([1]), (-1,), (4, 5, 2))
    check(out, x[:, :, 1:3], dtype)
    u, y = pair(rng, (2, 2), dtype)
    got = mx.slice_update(a, u, mx.array([2, 1]), [0, 2])
    want = x.copy()
    # The update keeps its shape (ones prepended), placed at the starts (0 elsewhere).
    want[2:3, 0:2, 1:3] = y[None]
    check(got, want, dtype)


def test_slice_update_casts_to_the_array_dtype():
    a = mx.zeros((3, 4), mx.int32)
    out = mx.slice_update(a, mx.array([[1.5, 2.5]]), mx.array([1, 1]), [0, 1])
    want = np.zeros((3, 4), np.int32)
    want[1, 1:3] = [1, 2]
    check(out, want, mx.int32)


# ---------------------------------------------------------------- diagonals, diff

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [0, 1, -2, 7])
def test_diag_against_numpy(dtype, k, rng):
    a, x = pair(rng, (4,), dtype)
    check(mx.diag(a, k), np.diag(x, k), dtype)
    b, y = pair(rng, (3, 5), dtype)
    check(mx.diag(b, k=k), np.diag(y, k), dtype)
    check(b.diag(k), np.diag(y, k), dtype)


@pytest.mark.parametrize("dtype", [mx.float32, mx.int16, mx.bool_, mx.complex64])
@pytest.mark.parametrize("shape,offset,a1,a2", [((3, 4), 0, 0, 1), ((3, 4), 1, 1, 0),
                                                ((2, 3, 4), -1, 0, 2), ((2, 3, 4), 2, -1, 1),
                                                ((4, 4), 9, 0, 1)])
def test_diagonal_and_trace_against_numpy(dtype, shape, offset, a1, a2, rng):
    a, x = pair(rng, shape, dtype)
    check(mx.diagonal(a, offset, a1, a2), np.diagonal(x, offset, a1, a2), dtype)
    check(a.diagonal(offset, a1, a2), np.diagonal(x, offset, a1, a2), dtype)
    want = np.trace(x, offset, a1, a2)
    t = mx.trace(a, offset, a1, a2)
    np.testing.assert_allclose(to_np(t), want, rtol=1e-5, atol=1e-5)
    t32 = mx.trace(a, offset=offset, axis1=a1, axis2=a2, dtype=mx.float32)
    assert t32.dtype == mx.float32
    np.testing.assert_allclose(to_np(t32), np.real(want) if dtype == mx.complex64 else want,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [mx.float32, mx.int32, mx.int8, mx.uint8, mx.bool_,
                                   mx.float16])
@pytest.mark.parametrize("shape,n,axis", [((6,), 1, -1), ((3, 5), 2, -1), ((3, 5), 1, 0),
                                          ((2, 3, 4), 3, 1), ((4,), 0, 0), ((4,), 9, 0)])
def test_diff_against_numpy(dtype, shape, n, axis, rng):
    a, x = pair(rng, shape, dtype)
    check(mx.diff(a, n, axis), np.diff(x, n, axis), dtype)


@pytest.mark.parametrize("indexing", ["xy", "ij"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("sizes", [(3,), (2, 3), (2, 3, 4), (1, 5, 2)])
def test_meshgrid_against_numpy(indexing, sparse, sizes, rng):
    xs = [pair(rng, (n,), mx.float32) for n in sizes]
    got = mx.meshgrid(*[a for a, _ in xs], sparse=sparse, indexing=indexing)
    want = np.meshgrid(*[x for _, x in xs], sparse=sparse, indexing=indexing)
    assert isinstance(got, tuple) and len(got) == len(want)
    for g, w in zip(got, want):
        check(g, w, mx.float32)


@pytest.mark.parametrize("name", ["bartlett", "blackman", "hamming", "hanning"])
@pytest.mark.parametrize("m", [0, 1, 2, 5, 12])
def test_windows_against_numpy(name, m):
    out = getattr(mx, name)(m)
    assert out.dtype == mx.float32
    np.testing.assert_allclose(to_np(out), getattr(np, name)(m), atol=1e-6)


@pytest.mark.parametrize("src,dst", [(mx.float32, mx.int32), (mx.float32, mx.uint8),
                                     (mx.int16, mx.uint8), (mx.uint8, mx.int16),
                                     (mx.int32, mx.float32), (mx.float16, mx.int16),
                                     (mx.int64, mx.float64), (mx.uint8, mx.bool_)])
def test_view_against_numpy(src, dst, rng):
    a, x = pair(rng, (3, 4), src)
    want = x.view(NP[dst])
    check(mx.view(a, dst), want, dst)
    check(a.view(dst), want, dst)


# ---------------------------------------------------------------- against MLX

CASES = {
    "concat_promote": lambda m: m.concatenate(
        [m.array([1, 2], m.int8), m.array([1.5], m.float16), m.array([True])]),
    "concat_u8_bool": lambda m: m.concatenate([m.array([True]), m.array([2], m.uint8)]),
    "concat_array_rows": lambda m: m.concatenate(m.arange(12).reshape(3, 4)),
    "stack_array_rows": lambda m: m.stack(m.arange(12).reshape(3, 4), axis=1),
    "stack_promote": lambda m: m.stack([m.array([1], m.int8), m.array([1.5])], axis=-1),
    "stack_none": lambda m: m.stack([m.arange(3), m.arange(3)], None),
    "unstack": lambda m: m.unstack(m.arange(12).reshape(3, 4), axis=-1),
    "unstack_empty": lambda m: m.unstack(m.zeros((0, 2))),
    "split_idx": lambda m: m.split(m.arange(12).reshape(3, 4), [1, -1, 9], axis=1),
    "split_dec": lambda m: m.split(m.arange(12).reshape(3, 4), [3, 1], axis=1),
    "tile": lambda m: m.tile(m.arange(6).reshape(2, 3), (2, 1, 2)),
    "repeat": lambda m: m.repeat(m.arange(6).reshape(2, 3), 2, axis=1),
    "pad_edge": lambda m: m.pad(m.arange(6).reshape(2, 3), ((1, 2), (3, 0)), "edge"),
    "pad_cv_float_int": lambda m: m.pad(m.arange(3), 1, constant_values=2.5),
    "pad_cv_f16": lambda m: m.pad(m.array([1.0], m.float16), 1, constant_values=1e6),
    "pad_cv_complex": lambda m: m.pad(m.arange(3).astype(m.float32), 1, constant_values=1j),
    "pad_scalar": lambda m: m.pad(m.array(1), 1),
    "roll_flat_tuple": lambda m: m.roll(m.arange(12).reshape(3, 4), (1, 2)),
    "roll_dup_axes": lambda m: m.roll(m.arange(12).reshape(3, 4), 1, (1, 1)),
    "roll_scalar": lambda m: m.roll(m.array(3), 1),
    "roll_empty_axes": lambda m: m.roll(m.arange(4), 1, ()),
    "take_int": lambda m: m.take(m.arange(12).reshape(3, 4), 2, 1),
    "take_int_flat": lambda m: m.take(m.arange(12).reshape(3, 4), 10),
    "take_bool": lambda m: m.take(m.arange(12).reshape(3, 4), True),
    "take_uint": lambda m: m.take(m.arange(12).reshape(3, 4), m.array([0, 2], m.uint8), 0),
    "take_neg_array": lambda m: m.take(m.arange(12).reshape(3, 4), m.array([-1, -4]), 1),
    "take_scalar": lambda m: m.take(m.array(5), m.array([0])),
    "tal_bcast": lambda m: m.take_along_axis(m.arange(12).reshape(3, 4), m.array([[0, 1]]), 1),
    "pal_default_flat": lambda m: m.put_along_axis(
        m.arange(12).reshape(3, 4), m.array([0, 5]), m.array([-1, -2])),
    "slice": lambda m: m.slice(m.arange(12).reshape(3, 4), m.array([1]), [1], [3, 2]),
    "slice_update_bcast": lambda m: m.slice_update(
        m.arange(12).reshape(3, 4), m.array([-1]), m.array([1]), [0]),
    "diag_big_k": lambda m: m.diag(m.arange(12).reshape(3, 4), 10),
    "trace_int8": lambda m: m.trace(m.diag(m.array([100, 100], m.int8))),
    "trace_uint8": lambda m: m.trace(m.ones((3, 3), m.uint8)),
    "trace_bool": lambda m: m.trace(m.ones((3, 3), m.bool_)),
    "trace_int8_dtype": lambda m: m.trace(m.ones((3, 3), m.int32), dtype=m.int8),
    "trace_f16_as_f32": lambda m: m.trace(
        m.diag(m.array([2048.0, 1.0, 1.0, 1.0], m.float16)), dtype=m.float32),
    "trace_f16": lambda m: m.trace(m.diag(m.array([2048.0, 1.0, 1.0, 1.0], m.float16))),
    "diff_bool": lambda m: m.diff(m.array([True, False, False])),
    "diff_u8": lambda m: m.diff(m.array([3, 1], m.uint8)),
    "diff_big_n": lambda m: m.diff(m.arange(12).reshape(3, 4), 10),
    "meshgrid_scalar": lambda m: m.meshgrid(m.array(1), m.arange(2)),
    "meshgrid_2d": lambda m: m.meshgrid(m.zeros((2, 2)), m.arange(3)),
    "meshgrid_dtypes": lambda m: m.meshgrid(m.arange(2), m.zeros(2, m.float16)),
    "meshgrid_none": lambda m: m.meshgrid(),
    "window_neg": lambda m: m.hamming(-3),
    "blackman": lambda m: m.blackman(7),
    "hanning": lambda m: m.hanning(6),
    "view_pyfloat": lambda m: m.view(1.0, m.int32),
    "view_pyint": lambda m: m.view(1, m.float32),
    "view_bool": lambda m: m.view(m.array([256], m.int16), m.bool_),
    "as_strided": lambda m: m.as_strided(m.arange(12).reshape(3, 4), (2, 2), (1, 1), 1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_mlx(name):
    ours, theirs = on_both(CASES[name])
    same(ours, theirs)


ERRORS = [
    ("concat_axis", lambda m: m.concatenate([m.zeros((2, 2))] * 2, axis=2), IndexError),
    ("concat_neg_axis", lambda m: m.concatenate([m.zeros((2, 2))] * 2, axis=-3), IndexError),
    ("concat_empty", lambda m: m.concatenate([]), ValueError),
    ("concat_scalars", lambda m: m.concatenate([m.array(1), m.array(2)]), IndexError),
    ("concat_shapes", lambda m: m.concatenate([m.zeros((3, 4)), m.zeros((2, 3))]), ValueError),
    ("concat_not_sequence", lambda m: m.concatenate(m.array(1.0)), TypeError),
    ("stack_axis", lambda m: m.stack([m.zeros((2, 2))] * 2, axis=3), IndexError),
    ("stack_empty", lambda m: m.stack([]), ValueError),
    ("stack_shapes", lambda m: m.stack([m.zeros((3, 4)), m.zeros((2, 3))]), ValueError),
    ("unstack_axis", lambda m: m.unstack(m.zeros((2, 2)), axis=2), IndexError),
    ("unstack_scalar", lambda m: m.unstack(m.array(1)), IndexError),
    ("unstack_positional_axis", lambda m: m.unstack(m.zeros((2, 2)), 1), TypeError),
    ("split_unequal", lambda m: m.split(m.zeros((3, 4)), 5), ValueError),
    ("split_zero", lambda m: m.split(m.zeros((3, 4)), 0), ValueError),
    ("split_negative", lambda m: m.split(m.zeros((3, 4)), -1), ValueError),
    ("split_axis", lambda m: m.split(m.zeros((3, 4)), 2, axis=2), IndexError),
    ("split_scalar", lambda m: m.split(m.array(1), 1), IndexError),
    ("tile_negative", lambda m: m.tile(m.zeros((3, 4)), -1), ValueError),
    ("tile_float", lambda m: m.tile(m.zeros((3, 4)), 1.5), TypeError),
    ("repeat_negative", lambda m: m.repeat(m.zeros((3, 4)), -1), ValueError),
    ("repeat_axis", lambda m: m.repeat(m.zeros((3, 4)), 2, 2), IndexError),
    ("pad_count", lambda m: m.pad(m.zeros((3, 4)), [(1, 2), (0, 1), (1, 1)]), ValueError),
    ("pad_negative", lambda m: m.pad(m.zeros((3, 4)), -1), ValueError),
    ("pad_negative_pair", lambda m: m.pad(m.zeros((3, 4)), [(0, 0), (-1, 0)]), ValueError),
    ("pad_mode", lambda m: m.pad(m.zeros((3, 4)), 1, "wrap"), ValueError),
    ("pad_int_overflow", lambda m: m.pad(m.zeros((3,), m.int8), 1, constant_values=300),
     ValueError),
    ("pad_uint_negative", lambda m: m.pad(m.zeros((3,), m.uint8), 1, constant_values=-1),
     ValueError),
    ("pad_reflect_empty", lambda m: m.pad(m.zeros((0,)), (1, 1), "reflect"), ValueError),
    ("pad_float_width", lambda m: m.pad(m.zeros((3,)), 1.5), TypeError),
    ("pad_three_ints", lambda m: m.pad(m.zeros((3, 4)), [1, 2, 3]), TypeError),
    ("roll_axis", lambda m: m.roll(m.zeros((3, 4)), 1, 2), IndexError),
    ("roll_few_shifts", lambda m: m.roll(m.zeros((3, 4)), (1,), (0, 1)), ValueError),
    ("roll_float_shift", lambda m: m.roll(m.zeros((3, 4)), 1.5), TypeError),
    ("flip_axis", lambda m: m.flip(m.zeros((3, 4)), 2), IndexError),
    ("take_axis", lambda m: m.take(m.zeros((3, 4)), m.array([1]), 2), IndexError),
    ("take_scalar_axis", lambda m: m.take(m.array(5), m.array([0]), 0), IndexError),
    ("take_float_indices", lambda m: m.take(m.zeros((3, 4)), m.array([1.0])), ValueError),
    ("take_bool_indices", lambda m: m.take(m.zeros((3, 4)), m.array([True]), 0), ValueError),
    ("take_float", lambda m: m.take(m.zeros((3, 4)), 1.5), TypeError),
    ("take_int_negative", lambda m: m.take(m.zeros((3, 4)), -1, 1), ValueError),
    ("take_int_out_of_range", lambda m: m.take(m.zeros((3, 4)), 10, 0), ValueError),
    ("tal_ndim", lambda m: m.take_along_axis(m.zeros((3, 4)), m.array([0]), 1), ValueError),
    ("tal_axis", lambda m: m.take_along_axis(m.zeros((3, 4)), m.array([[0]]), 2), IndexError),
    ("tal_bcast", lambda m: m.take_along_axis(m.zeros((3, 4)), m.array([[0], [1]]), 1),
     ValueError),
    ("pal_axis", lambda m: m.put_along_axis(m.zeros((3, 4)), m.array([[0]]), m.array(1), 2),
     IndexError),
    ("pal_ndim", lambda m: m.put_along_axis(m.zeros((3, 4)), m.array([0]), m.array(1), 1),
     ValueError),
    ("slice_size_big", lambda m: m.slice(m.zeros((3, 4)), m.array([0]), [0], [4, 4]),
     ValueError),
    ("slice_size_short", lambda m: m.slice(m.zeros((3, 4)), m.array([0]), [0], [2]),
     ValueError),
    ("slice_axis", lambda m: m.slice(m.zeros((3, 4)), m.array([0]), [2], [2, 2]), IndexError),
    ("slice_count", lambda m: m.slice(m.zeros((3, 4)), m.array([0, 1]), [0], [2, 2]),
     ValueError),
    ("slice_float_start", lambda m: m.slice(m.zeros((3, 4)), m.array([0.0]), [0], [2, 2]),
     ValueError),
    ("slice_update_big", lambda m: m.slice_update(m.zeros((3, 4)), m.zeros((4, 4)),
                                                  m.array([0]), [0]), ValueError),
    ("slice_update_axis", lambda m: m.slice_update(m.zeros((3, 4)), m.zeros((1, 1)),
                                                   m.array([0]), [3]), IndexError),
    ("diag_3d", lambda m: m.diag(m.zeros((2, 2, 2))), ValueError),
    ("diag_0d", lambda m: m.diag(m.array(1)), ValueError),
    ("diagonal_1d", lambda m: m.diagonal(m.array([1, 2])), ValueError),
    ("diagonal_same", lambda m: m.diagonal(m.zeros((3, 4)), 0, 1, -1), ValueError),
    ("diagonal_axis", lambda m: m.diagonal(m.zeros((3, 4)), 0, 0, 2), IndexError),
    ("trace_1d", lambda m: m.trace(m.array([1, 2])), ValueError),
    ("trace_axis", lambda m: m.trace(m.zeros((3, 4)), 0, 0, 5), IndexError),
    ("diff_negative", lambda m: m.diff(m.zeros((3, 4)), -1), ValueError),
    ("diff_scalar", lambda m: m.diff(m.array(1)), IndexError),
    ("diff_axis", lambda m: m.diff(m.zeros((3, 4)), 1, 2), IndexError),
    ("meshgrid_indexing", lambda m: m.meshgrid(m.arange(2), indexing="ab"), ValueError),
    ("meshgrid_sparse_none", lambda m: m.meshgrid(m.arange(2), sparse=None), TypeError),
    ("window_float", lambda m: m.hanning(5.0), TypeError),
    ("view_up", lambda m: m.view(m.zeros((3,), m.uint8), m.int16), ValueError),
    ("view_scalar", lambda m: m.view(m.array(1.0), m.int16), ValueError),
]


@pytest.mark.parametrize("name,f,exc", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_arguments_raise_mlx_exception_types(name, f, exc):
    with pytest.raises(exc):
        f(mx)
    if mlx is not None:  # the expected type is MLX's own
        with pytest.raises(exc):
            f(mlx)


def test_signatures_take_mlx_keywords():
    a = mx.arange(12).reshape(3, 4)
    assert mx.concatenate(arrays=[a, a], axis=1).shape == (3, 8)
    assert mx.stack(arrays=[a, a], axis=-1).shape == (3, 4, 2)
    assert len(mx.split(a, indices_or_sections=2, axis=1)) == 2
    assert mx.repeat(a, 2, axis=1).shape == (3, 8)
    assert mx.pad(a, pad_width=1, mode="edge", constant_values=0).shape == (5, 6)
    assert mx.roll(a, 1, axis=1).shape == (3, 4)
    assert mx.take(a, indices=mx.array([0]), axis=1).shape == (3, 1)
    assert mx.take_along_axis(a, indices=mx.array([[0]]), axis=None).shape == (1,)
    assert mx.diag(a, k=1).shape == (3,)
    assert mx.diagonal(a, offset=1, axis1=0, axis2=1).shape == (3,)
    assert mx.trace(a, offset=0, axis1=1, axis2=0, dtype=mx.float32).dtype == mx.float32
    assert mx.diff(a, n=2, axis=0).shape == (1, 4)
    assert mx.view(a, dtype=mx.uint8).shape == (3, 16)
    assert [g.shape for g in mx.meshgrid(mx.arange(2), mx.arange(3), indexing="ij")] == [
        (2, 3), (2, 3)]
    for s in [mx.cpu, mx.default_device(), mx.default_stream(mx.cpu)]:
        assert mx.flip(a, stream=s).shape == (3, 4)
        assert mx.unstack(a, axis=1, stream=s)[0].shape == (3,)
        assert mx.hanning(4, stream=s).shape == (4,)


def test_results_are_lazy_graph_inputs():
    # Each result feeds further ops and evaluates like any array.
    a = mx.arange(6).reshape(2, 3)
    r = mx.sum(mx.concatenate([mx.flip(a, 0), mx.roll(a, 1)], 1) * 2)
    assert r.item() == 2 * 2 * 15


@pytest.mark.parametrize("shape,k,axis", [((16, 8), 3, 0), ((3, 8), 2, 0), ((4, 6), 4, 1)])
def test_uneven_split_message_is_mlxs(shape, k, axis):
    with pytest.raises(ValueError) as ours:
        mx.split(mx.zeros(shape), k, axis=axis)
    assert str(ours.value) == (
        "Array split does not result in sub arrays with equal size: "
        f"attempting {k} splits along axis {axis} for shape ({','.join(map(str, shape))})."
    )
