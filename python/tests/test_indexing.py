"""Indexing: `a[key]`, `a[key] = v`, `a.at[key]`, against NumPy (values) and MLX (values,
shapes, dtypes, exception types) over random keys."""

import numpy as np
import pytest

import ferrox.core as mx

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover - oracle tests skip without MLX
    mlx = None

INDEX_DTYPES = [np.int32, np.int64, np.int16, np.uint8, np.uint32]


# ---------------------------------------------------------------- random keys

def rand_key(rng, shape, arrays=True, ints=True, nones=True, ellipsis=True, distinct=True, empty=True):
    """A random key spec for `shape`: a list of entries ("int", i), ("slice", s),
    ("arr", ndarray), None, Ellipsis; all indices in range. Index arrays hold distinct
    positions (so writes never hit one element twice), some written as negatives. Empty
    slices and bounds past the ends only if `empty` (MLX crashes on some empty ones with
    index arrays, and its writes misplace some out-of-range bounds)."""
    nd = len(shape)
    per_axis = []
    for ax in range(nd):
        n = shape[ax]
        r = rng.random()
        if ints and r < 0.25:
            per_axis.append(("int", int(rng.integers(-n, n))))
        elif arrays and r < 0.55:
            ishape = tuple(int(d) for d in rng.integers(1, 3, size=rng.integers(0, 3)))
            size = int(np.prod(ishape))
            if distinct:
                if size > n:
                    ishape, size = (), 1
                pos = rng.permutation(n)[:size]
            else:
                pos = rng.integers(0, n, size=size)
            neg = rng.random(size) < 0.4
            vals = np.where(neg, pos - n, pos).reshape(ishape)
            per_axis.append(("arr", vals))
        else:
            while True:
                lo, hi = (-n - 1, n + 2) if empty else (-n, n + 1)
                st = [None, int(rng.integers(lo, hi))][rng.integers(0, 2)]
                sp = [None, int(rng.integers(lo, hi))][rng.integers(0, 2)]
                step = [None, 1, 2, -1, -2, 3][rng.integers(0, 6)]
                if len(range(*slice(st, sp, step).indices(n))) > 0 or (empty and rng.random() < 0.1):
                    break
            per_axis.append(("slice", slice(st, sp, step)))
    k = int(rng.integers(0, nd + 1))
    if ellipsis and rng.random() < 0.3:
        m = int(rng.integers(0, nd - k + 1))
        key = per_axis[:k] + [Ellipsis] + per_axis[nd - m:]
    else:
        key = per_axis[:k]
    if nones:
        for _ in range(int(rng.integers(0, 3)) if rng.random() < 0.35 else 0):
            key.insert(int(rng.integers(0, len(key) + 1)), None)
    return key


def materialize(spec, lib, rng=None, single_ok=True):
    """The key for `lib` ("np", "mlx", or "fx"; for "fx" index arrays take a random form:
    ferrox array of a random integer dtype, nested list, or NumPy array)."""
    out = []
    for e in spec:
        if e is None or e is Ellipsis:
            out.append(e)
        elif e[0] == "int":
            out.append(e[1])
        elif e[0] == "slice":
            out.append(e[1])
        else:
            a = e[1]
            if lib == "np":
                out.append(a)
            elif lib == "mlx":
                out.append(mlx.array(a.astype(np.int32)))
            else:
                form = rng.integers(0, 3) if rng is not None else 0
                # (A 0-d NumPy array would be an int, as in MLX: keep it an array.)
                if form == 0 or a.ndim == 0:
                    dts = [d for d in INDEX_DTYPES if a.min(initial=0) >= 0 or np.issubdtype(d, np.signedinteger)]
                    out.append(mx.array(a.astype(dts[rng.integers(0, len(dts))] if rng is not None else np.int32)))
                elif form == 1 and a.ndim > 0:
                    out.append(a.tolist())
                else:
                    out.append(a)
    if single_ok and len(out) == 1:
        return out[0]
    return tuple(out)


def rand_shape(rng):
    return tuple(int(d) for d in rng.integers(1, 5, size=rng.integers(1, 5)))


def ellipsis_between_advanced(spec):
    """Whether `...` stands between two advanced entries (with an index array present):
    MLX then keeps them adjacent even where NumPy does not (an empty `...`)."""
    kinds = [e if e is Ellipsis else (e[0] if isinstance(e, tuple) else None) for e in spec]
    if "arr" not in kinds or Ellipsis not in kinds:
        return False
    adv = [i for i, k in enumerate(kinds) if k in ("int", "arr")]
    return bool(adv) and adv[0] < kinds.index(Ellipsis) < adv[-1]


def numpy_layout(spec):
    """Whether MLX writes through `spec` with NumPy's value layout: keys without index
    arrays, and keys whose arrays are adjacent with no int, None or `...` around."""
    kinds = [e if e is Ellipsis else (e[0] if isinstance(e, tuple) else None) for e in spec]
    if "arr" not in kinds:
        return True
    if "int" in kinds or None in kinds or Ellipsis in kinds:
        return False
    arrs = [i for i, k in enumerate(kinds) if k == "arr"]
    return arrs[-1] - arrs[0] == len(arrs) - 1


def has_int_and_array(spec):
    kinds = {e[0] for e in spec if isinstance(e, tuple)}
    return "int" in kinds and "arr" in kinds


# ---------------------------------------------------------------- reads

@pytest.mark.parametrize("seed", range(8))
def test_getitem_random_keys_match_numpy(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        shape = rand_shape(rng)
        x = rng.normal(size=shape).astype(np.float32)
        a = mx.array(x)
        spec = rand_key(rng, shape)
        if ellipsis_between_advanced(spec):
            continue
        single = len(spec) == 1 and rng.random() < 0.5
        want = x[materialize(spec, "np", single_ok=single)]
        got = a[materialize(spec, "fx", rng, single_ok=single)]
        assert got.shape == want.shape, (shape, spec)
        assert got.dtype == mx.float32
        np.testing.assert_array_equal(np.array(got), want, err_msg=str((shape, spec)))


@pytest.mark.parametrize("seed", range(4))
def test_getitem_random_keys_match_mlx(seed, oracle):
    rng = np.random.default_rng(100 + seed)
    for _ in range(60):
        shape = rand_shape(rng)
        dt = [np.int32, np.float32, np.uint8, np.bool_, np.float16][rng.integers(0, 5)]
        x = (rng.normal(size=shape) * 10).astype(dt)
        spec = rand_key(rng, shape, empty=False)
        want = oracle.array(x)[materialize(spec, "mlx")]
        got = mx.array(x)[materialize(spec, "fx", rng)]
        assert got.shape == want.shape, (shape, spec)
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal(np.array(got), np.array(want), err_msg=str((shape, spec)))


@pytest.mark.parametrize(
    "key, shape",
    [
        # Adjacent advanced entries stay in place; separated ones (by a slice or None) go
        # first; ints count as advanced when arrays are present.
        ((slice(None), 0, [1, 2]), (2, 3, 4)),
        ((0, slice(None), [1, 2]), (2, 3, 4)),
        (([0], slice(None), [1, 2]), (2, 3, 4)),
        ((slice(None), [0, 1], [1, 2]), (2, 3, 4)),
        ((None, [0, 1], slice(None), [0, 2]), (2, 3, 4)),
        (([0, 1], None, [0, 1]), (2, 3, 4)),
        (([0, 1], [0, 1], None), (2, 3, 4)),
        ((None, [0, 1], [0, 1]), (2, 3, 4)),
        ((slice(None), None, [0, 1]), (2, 3, 4)),
        (([[0, 1]], slice(None), [[0], [1]]), (2, 3, 4)),
        (([[0, 1], [1, 0]], None, [0, 2]), (2, 3, 4)),
        ((Ellipsis, [0, 1]), (2, 3, 4)),
        (([0, 1], Ellipsis, [0, 1]), (2, 3, 4)),
        (([0, 1], 1, slice(1, None), [0, 3]), (2, 3, 4, 5)),
        ((slice(None), [0, 1], slice(None), 2), (2, 3, 4, 5)),
        ((slice(None, None, -1), [[0], [2]], [1, 3]), (2, 3, 4)),
        ((1, [[0], [2]], slice(None, None, 2)), (2, 3, 4)),
    ],
)
def test_getitem_advanced_placement(key, shape, rng):
    x = rng.normal(size=shape).astype(np.float32)
    npkey = tuple(np.array(k) if isinstance(k, list) else k for k in key)
    want = x[npkey]
    got = mx.array(x)[key]
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.array(got), want)


def test_getitem_index_forms():
    x = np.arange(60).reshape(5, 3, 4).astype(np.int32)
    a = mx.array(x)
    idx = [3, -1, 0, -5]
    for form in [idx, np.array(idx), mx.array(idx), mx.array(idx, dtype=mx.int64), mx.array(idx, dtype=mx.int8)]:
        np.testing.assert_array_equal(np.array(a[form]), x[np.array(idx)])
    # Unsigned index arrays, 0-d arrays, NumPy scalars and 0-d NumPy arrays.
    np.testing.assert_array_equal(np.array(a[mx.array([4, 0], dtype=mx.uint64)]), x[[4, 0]])
    np.testing.assert_array_equal(np.array(a[mx.array([4, 0], dtype=mx.uint8)]), x[[4, 0]])
    assert a[mx.array(2)].shape == (3, 4)
    np.testing.assert_array_equal(np.array(a[mx.array(2)]), x[2])
    np.testing.assert_array_equal(np.array(a[0, :, mx.array(1)]), x[0, :, 1])
    np.testing.assert_array_equal(np.array(a[np.int64(-2)]), x[-2])
    np.testing.assert_array_equal(np.array(a[np.array(1)]), x[1])
    np.testing.assert_array_equal(np.array(a[np.int32(1), np.uint8(2)]), x[1, 2])
    # Nested lists and a tuple inside the key are index arrays.
    np.testing.assert_array_equal(np.array(a[[[0, 1], [2, 3]]]), x[np.array([[0, 1], [2, 3]])])
    np.testing.assert_array_equal(np.array(a[(0, 1), 2]), x[(0, 1), 2])
    # Empty index arrays and empty slices.
    assert a[mx.array([], dtype=mx.int32)].shape == (0, 3, 4)
    assert a[0:0, [0]].shape == (0, 1, 4)
    # A non-contiguous source (transposed, negatively strided).
    t = a.transpose(2, 0, 1)[::-1]
    xt = x.transpose(2, 0, 1)[::-1]
    np.testing.assert_array_equal(np.array(t[[0, 3], :, [2, 1]]), xt[[0, 3], :, [2, 1]])
    # 0-d arrays: only None and ... apply.
    s = mx.array(5)
    assert s[None].shape == (1,) and s[...].shape == () and s[()].item() == 5
    assert s[..., None].shape == (1,)


def test_getitem_index_arrays_are_data_not_checked():
    # Out-of-range values in an index array read 0 (MLX: no bounds check, 0 on CPU);
    # negative ones wrap.
    a = mx.arange(1, 7).reshape(2, 3)
    assert a[[5]].tolist() == [[0, 0, 0]]
    assert a[[-1]].tolist() == [[4, 5, 6]]
    assert a[:, [2, 7, -3, -9]].tolist() == [[3, 0, 1, 0], [6, 0, 4, 0]]


def test_getitem_out_of_range_python_int_raises():
    # A Python int is checked (MLX reads out of bounds; NumPy raises IndexError).
    a = mx.arange(6).reshape(2, 3)
    for key in [2, -3, (0, 3), (slice(None), -4), ([0, 1], 9), (Ellipsis, 3)]:
        with pytest.raises(IndexError):
            a[key]


# Boolean-mask reads, which MLX refuses, are ferrox's escape hatch (beyond MLX; see
# test_data_dependent.py), so they are not among the errors to match.
ERROR_KEYS = [
    lambda lib: True,
    lambda lib: 1.0,
    lambda lib: [1.0],
    lambda lib: [],
    lambda lib: lib.array([1.0]),
    lambda lib: "x",
    lambda lib: {},
    lambda lib: (0, 0, 0),
    lambda lib: (Ellipsis, Ellipsis),
    lambda lib: ([0, 1], [1, 2, 0]),
    lambda lib: slice(1.0, 2),
    lambda lib: slice(lib.array(1), 2),
    lambda lib: (0, slice(None, None, 1.5)),
]


@pytest.mark.parametrize("make_key", ERROR_KEYS)
def test_getitem_errors_match_mlx(make_key, oracle):
    with pytest.raises(Exception) as want:
        oracle.arange(6).reshape(2, 3)[make_key(oracle)]
    with pytest.raises(Exception) as got:
        mx.arange(6).reshape(2, 3)[make_key(mx)]
    assert got.type is want.type, (got.value, want.value)


def test_getitem_error_messages():
    a = mx.arange(6).reshape(2, 3)
    with pytest.raises(ValueError, match="Indices must be integral"):
        a[[0.5]]
    with pytest.raises(ValueError, match="Too many indices for array with 2 dimensions"):
        a[0, 0, 0]
    with pytest.raises(ValueError, match="single ellipsis"):
        a[..., 0, ...]
    with pytest.raises(ValueError, match="Slice indices must be integers or None"):
        a[0.5:]
    with pytest.raises(ValueError, match="Cannot index mlx array using the given type"):
        a[True]
    with pytest.raises(ValueError, match="0-dimensional"):
        mx.array(5)[0]
    with pytest.raises(ValueError, match="0-dimensional"):
        mx.array(5)[[0]]
    with pytest.raises(ValueError, match="0 dimensions"):
        mx.array(5)[(0,)]


# ---------------------------------------------------------------- writes

def np_set(x, key, v):
    """NumPy's assignment, after dropping the value's extra leading unit axes (which
    NumPy refuses for a single element and MLX drops)."""
    y = x.copy()
    v = np.asarray(v)
    while v.ndim > y[key].ndim and v.shape[0] == 1:
        v = v[0]
    y[key] = v
    return y


def value_shapes(rng, target):
    """Value shapes that broadcast to `target`: itself, with some axes 1, with leading
    axes dropped or a leading 1 added, and a scalar."""
    shapes = [tuple(target), ()]
    if target:
        shapes.append(tuple(1 if rng.random() < 0.5 else d for d in target))
        shapes.append(tuple(target[int(rng.integers(0, len(target) + 1)):]))
    shapes.append((1,) + tuple(target))
    return shapes


@pytest.mark.parametrize("seed", range(6))
def test_setitem_random_keys_match_numpy(seed):
    # Keys where MLX's update layout is NumPy's (see `numpy_layout`).
    rng = np.random.default_rng(200 + seed)
    checked = 0
    for _ in range(80):
        shape = rand_shape(rng)
        x = rng.integers(-50, 50, size=shape).astype(np.int32)
        spec = rand_key(rng, shape)
        if not numpy_layout(spec):
            continue
        # (As tuples: a lone `None` key is MLX's special case, tested elsewhere.)
        target = x[materialize(spec, "np", single_ok=False)].shape
        for vs in value_shapes(rng, target):
            v = rng.integers(100, 200, size=vs).astype(np.int32)
            a = mx.array(x)
            a[materialize(spec, "fx", rng, single_ok=False)] = mx.array(v) if vs else int(v)
            np.testing.assert_array_equal(np.array(a), np_set(x, materialize(spec, "np", single_ok=False), v),
                                          err_msg=str((shape, spec, vs)))
            checked += 1
    assert checked > 50


@pytest.mark.parametrize("seed", range(6))
def test_setitem_random_keys_match_mlx(seed, oracle):
    rng = np.random.default_rng(300 + seed)
    compared = 0
    for _ in range(80):
        shape = rand_shape(rng)
        x = rng.integers(-50, 50, size=shape).astype(np.int32)
        spec = rand_key(rng, shape, empty=False)
        target = x[materialize(spec, "np")].shape
        cands = value_shapes(rng, target) + [tuple(rng.permutation(np.array(target, dtype=int)))]
        for vs in cands:
            v = rng.integers(100, 200, size=vs).astype(np.int32)
            b = oracle.array(x)
            try:
                b[materialize(spec, "mlx")] = oracle.array(v)
                want, err = np.array(b), None
            except Exception as e:  # noqa: BLE001 - compared below
                want, err = None, type(e)
            a = mx.array(x)
            if err is not None:
                # Where MLX refuses a value NumPy takes for a key without index arrays
                # (MLX keeps extra leading unit axes there), ferrox does what NumPy does;
                # anything else must raise as in MLX.
                basic = spec != [None] and not any(isinstance(e, tuple) and e[0] == "arr" for e in spec)
                try:
                    expected = np_set(x, materialize(spec, "np"), v) if basic else None
                except Exception:  # noqa: BLE001 - NumPy refuses too
                    expected = None
                if expected is None:
                    with pytest.raises(err):
                        a[materialize(spec, "fx", rng)] = mx.array(v)
                else:
                    a[materialize(spec, "fx", rng)] = mx.array(v)
                    np.testing.assert_array_equal(np.array(a), expected, err_msg=str((shape, spec, vs)))
                continue
            a[materialize(spec, "fx", rng)] = mx.array(v)
            np.testing.assert_array_equal(np.array(a), want, err_msg=str((shape, spec, vs)))
            compared += 1
    assert compared > 100


@pytest.mark.parametrize(
    "key, vshape",
    [
        # MLX lays the update out with ints not moving the array dims (unlike its reads
        # and NumPy): a[0, :, [1, 2]] takes a (3, 2) value.
        ((0, slice(None), [1, 2]), (3, 2, 5)),
        ((slice(None), 1, slice(None), [1, 2]), (2, 4, 2)),
        ((slice(None), [0, 1], slice(None), 0), (2, 2, 4)),
        ((0, slice(0, 3, 2), [1, 2]), (2, 2, 5)),
        ((None, slice(None), [0, 1], slice(None), 1), (1, 2, 2, 4)),
        (([0, 1], slice(None), None, 1), (2, 1, 3, 5)),
        (([0, 1], slice(None, None, 2), [0, 1]), (2, 2, 5)),
        ((slice(1, 3), [1, 2], slice(None, None, -1)), (1, 2, 4, 5)),
        (([[0], [1]], slice(None), [0, 1, 2]), (2, 3, 3, 5)),
    ],
)
def test_setitem_mlx_update_layout(key, vshape, oracle, rng):
    x = np.zeros((2, 3, 4, 5), np.int32)
    v = rng.integers(1, 100, size=vshape).astype(np.int32)
    b = oracle.array(x)
    b[tuple(oracle.array(k) if isinstance(k, list) else k for k in key)] = oracle.array(v)
    a = mx.array(x)
    a[key] = mx.array(v)
    np.testing.assert_array_equal(np.array(a), np.array(b))


def test_setitem_basic_keys_and_broadcasting():
    x = np.arange(24).reshape(2, 3, 4).astype(np.float32)
    cases = [
        (0, 7.0), (-1, np.arange(4)), (slice(None), np.arange(4)), ((slice(None, None, -1), 1), np.arange(8).reshape(2, 4)),
        ((Ellipsis, 0), np.ones((2, 3))), ((0, None), np.ones((1, 1, 4))), ((slice(None), None, 1), np.ones((2, 1, 4))),
        ((), 3.0), ((None,), np.ones((1, 2, 3, 4))), ((slice(1, None), slice(None, None, 2), slice(3, 0, -2)), np.array([[1, 2]])),
        (0, np.ones((1, 1, 1, 1, 4))),  # extra leading unit axes are dropped
        (slice(0, 0), 5.0),
    ]
    for key, v in cases:
        a = mx.array(x)
        a[key] = mx.array(v) if isinstance(v, np.ndarray) else v
        np.testing.assert_array_equal(np.array(a), np_set(x, key, v), err_msg=str(key))


def test_setitem_values_are_cast_like_mlx(oracle):
    cases = [
        (mx.int32, 2.7), (mx.uint8, -2.7), (mx.float16, 3.5), (mx.float32, 1 + 2j), (mx.bool_, 2), (mx.bool_, 3.5),
        (mx.int32, np.int64(2 ** 40)), (mx.int32, np.array([1.5, 2, 3, 4])), (mx.int8, np.float32(-3.9)),
        (mx.float32, True), (mx.uint32, 7),
    ]
    for dt, v in cases:
        name = str(dt).split(".")[-1]
        odt = getattr(oracle, "bool_" if name == "bool" else name)
        a = mx.arange(8).reshape(2, 4).astype(dt)
        b = oracle.arange(8).reshape(2, 4).astype(odt)
        a[0] = v
        b[0] = v
        assert a.dtype == dt
        assert a.tolist() == b.tolist(), (dt, v)
    # Arrays of another dtype are cast to the array's.
    a = mx.zeros((2, 2), dtype=mx.int32)
    a[0] = mx.array([1.9, -1.9])
    assert a.dtype == mx.int32 and a.tolist() == [[1, -1], [0, 0]]


def test_setitem_value_errors_match_mlx(oracle):
    for dt, v in [("uint8", 300), ("uint8", -1), ("int32", 2 ** 40), ("int8", 128), ("int32", "x")]:
        with pytest.raises(Exception) as want:
            b = oracle.zeros((2,), dtype=getattr(oracle, dt))
            b[0] = v
        with pytest.raises(Exception) as got:
            a = mx.zeros((2,), dtype=getattr(mx, dt))
            a[0] = v
        assert got.type is want.type, (dt, v, got.value)
    with pytest.raises(ValueError, match="overflow"):
        a = mx.zeros((2,), dtype=mx.uint8)
        a[0] = 256
    with pytest.raises(TypeError):
        a = mx.zeros((2,))
        a[0] = None
    # Shape errors.
    for key, vshape in [(0, (2,)), (slice(None), (3, 3)), ((slice(None), [0, 1]), (3,)), (None, (1, 2, 3))]:
        with pytest.raises(ValueError):
            b = oracle.zeros((2, 3))
            b[key if not isinstance(key, tuple) else tuple(oracle.array(k) if isinstance(k, list) else k for k in key)] = oracle.zeros(vshape)
        with pytest.raises(ValueError):
            a = mx.zeros((2, 3))
            a[key] = mx.zeros(vshape)


def test_setitem_accepts_lists_and_numpy_values():
    # A superset of MLX (which takes only scalars and arrays as values): lists convert.
    a = mx.zeros((2, 3), dtype=mx.int32)
    a[0] = [1, 2, 3]
    a[1, [0, 2]] = np.array([7, 8])
    assert a.tolist() == [[1, 2, 3], [7, 0, 8]]
    # NumPy index arrays are accepted too.
    a[np.array([1]), np.array([1])] = 5
    assert a.tolist() == [[1, 2, 3], [7, 5, 8]]


def test_setitem_rebinds_like_mlx(oracle):
    for lib in (mx, oracle):
        a = lib.arange(6).reshape(2, 3)
        alias = a                 # the same Python object
        copy_ = lib.array(a)      # a new object over the old value
        view = a[0]               # sliced before the write
        lib.eval(view)
        n = np.asarray(a)         # a NumPy view of the old memory
        a[0, 1] = 100
        assert alias is a and alias.tolist() == [[0, 100, 2], [3, 4, 5]]
        assert copy_.tolist() == [[0, 1, 2], [3, 4, 5]]
        assert view.tolist() == [0, 1, 2]
        assert n.tolist() == [[0, 1, 2], [3, 4, 5]]
    # Evaluated arrays sharing the buffer are not written through either.
    x = mx.arange(10)
    y = x[2:5]
    mx.eval(x, y)
    x[3] = -1
    x[[2, 4]] = -2
    mx.eval(x)
    assert y.tolist() == [2, 3, 4]
    assert x.tolist() == [0, 1, -2, -1, -2, 5, 6, 7, 8, 9]


def test_setitem_out_of_range_python_int_raises():
    a = mx.zeros((2, 3))
    for key in [2, -3, (0, 3), (slice(None), -4), ([0, 1], 5)]:
        with pytest.raises(IndexError):
            a[key] = 1.0
    assert a.tolist() == [[0, 0, 0], [0, 0, 0]]


# ---------------------------------------------------------------- boolean-mask writes

MASK_CASES = [
    # (mask, value shape)
    ([[True, False, True], [False, True, False]], ()),
    ([[True, False, True], [False, True, False]], (4,)),
    ([[True, False, True], [False, True, False]], (3, 4)),
    ([[True, False, True], [False, True, False]], (6, 4)),
    ([[True, False, True], [False, True, False]], (3, 1)),
    ([False, True], (2, 3, 4)),
    ([False, True], (3, 4)),
    ([False, True], (1, 3, 4)),
    ([True, True], (3, 1)),
    (True, (2, 3, 4)),
    (True, (1, 2, 3, 4)),
    (False, ()),
    ("full", (24,)),
    ("full", (8,)),
    ("full", ()),
]


@pytest.mark.parametrize("mask, vshape", MASK_CASES)
@pytest.mark.parametrize("form", ["array", "list", "numpy"])
def test_setitem_boolean_mask_matches_mlx(mask, vshape, form, oracle):
    x = np.arange(24).reshape(2, 3, 4).astype(np.int32)
    m = (x % 3 == 0) if isinstance(mask, str) else mask
    v = np.arange(100, 100 + int(np.prod(vshape))).reshape(vshape).astype(np.int32)
    if isinstance(m, bool):
        fk, ok = m, m
    elif form == "array":
        fk, ok = mx.array(np.array(m)), oracle.array(np.array(m))
    elif form == "list":
        fk, ok = np.array(m).tolist(), np.array(m).tolist()
    else:
        fk, ok = np.array(m), np.array(m)
    b = oracle.array(x)
    b[ok] = oracle.array(v)
    a = mx.array(x)
    a[fk] = mx.array(v)
    np.testing.assert_array_equal(np.array(a), np.array(b))


def test_setitem_boolean_mask_errors(oracle):
    x = np.zeros((2, 3, 4), np.int32)
    for mask, vshape in [([True, False, True], ()), ([[True, False, True]] * 2, (2, 3, 4)),
                         ([[True, False, True]] * 2, (1, 3, 4))]:
        for lib in (mx, oracle):
            with pytest.raises(ValueError):
                a = lib.array(x)
                a[lib.array(mask)] = lib.zeros(vshape, dtype=lib.int32)
    # Too few values for the mask's trues: known only from its values, so an error when
    # the result is evaluated (MLX: RuntimeError at evaluation).
    for lib in (mx, oracle):
        a = lib.array(x)
        a[lib.array([[True, False, True]] * 2)] = lib.array([[1, 2, 3, 4]])
        with pytest.raises(RuntimeError, match="enough elements"):
            a.tolist()
    # Masks inside a tuple key are not supported.
    a = mx.array(x)
    with pytest.raises(ValueError, match="boolean"):
        a[0, mx.array([True, False, True])] = 1


# ---------------------------------------------------------------- .at

AT_OPS = ["add", "subtract", "multiply", "divide", "maximum", "minimum"]


def numpy_at(x, key, op, v):
    """`x.at[key].op(v)` for a key without index arrays (no element twice), in NumPy."""
    y = x.copy()
    cur = y[key]
    v = np.asarray(v, dtype=x.dtype)
    while v.ndim > np.ndim(cur) and v.shape[0] == 1:
        v = v[0]
    f = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "maximum": np.maximum,
         "minimum": np.minimum, "divide": lambda c, w: c * (1 / w).astype(x.dtype)}[op]
    y[key] = f(cur, v)
    return y


@pytest.mark.parametrize("op", AT_OPS)
@pytest.mark.parametrize("seed", range(3))
def test_at_random_keys_match_mlx(op, seed, oracle):
    rng = np.random.default_rng(400 + seed)
    compared = 0
    for _ in range(40):
        shape = rand_shape(rng)
        dt = "float32" if op == "divide" or rng.random() < 0.5 else "int32"
        x = rng.integers(1, 9, size=shape).astype(dt)
        spec = rand_key(rng, shape, distinct=False, empty=False)  # repeated indices accumulate
        target = x[materialize(spec, "np")].shape
        for vs in value_shapes(rng, target)[:3]:
            v = rng.integers(1, 5, size=vs).astype(dt)
            try:
                want, err = np.array(getattr(oracle.array(x).at[materialize(spec, "mlx")], op)(oracle.array(v))), None
            except Exception as e:  # noqa: BLE001 - compared below
                want, err = None, type(e)
            a = mx.array(x)
            if err is not None:
                # As for assignment: on basic keys, values MLX refuses only for an extra
                # leading unit axis are taken, with NumPy's result.
                basic = spec != [None] and not any(isinstance(e, tuple) and e[0] == "arr" for e in spec)
                try:
                    expected = numpy_at(x, materialize(spec, "np"), op, v) if basic else None
                except Exception:  # noqa: BLE001 - NumPy refuses too
                    expected = None
                if expected is None:
                    with pytest.raises(err):
                        getattr(a.at[materialize(spec, "fx", rng)], op)(mx.array(v))
                else:
                    got = getattr(a.at[materialize(spec, "fx", rng)], op)(mx.array(v))
                    np.testing.assert_allclose(np.array(got), expected, rtol=1e-6)
                continue
            got = getattr(a.at[materialize(spec, "fx", rng)], op)(mx.array(v))
            assert got.dtype == a.dtype
            np.testing.assert_allclose(np.array(got), want, rtol=1e-6, err_msg=str((shape, spec, vs)))
            np.testing.assert_array_equal(np.array(a), x)  # functional: a is unchanged
            compared += 1
    assert compared > 30


def test_at_repeated_indices_accumulate():
    a = mx.array([1.0, 2.0, 3.0, 4.0])
    idx = mx.array([0, 0, 2, 0, -1])
    assert a.at[idx].add(1.0).tolist() == [4, 2, 4, 5]
    assert a.at[idx].subtract(mx.array([1, 2, 3, 4, 5])).tolist() == [-6, 2, 0, -1]
    assert a.at[idx].multiply(2.0).tolist() == [8, 2, 6, 8]
    assert a.at[idx].divide(2.0).tolist() == [0.125, 2, 1.5, 2]
    assert a.at[idx].maximum(mx.array([5, 9, 0, 7, 1])).tolist() == [9, 2, 3, 4]
    assert a.at[idx].minimum(mx.array([5, 9, 0, 7, -1])).tolist() == [1, 2, 0, -1]
    # As NumPy's unbuffered ufunc.at.
    x = np.array([1.0, 2.0, 3.0, 4.0])
    np.add.at(x, [0, 0, 2, 0, -1], 1.0)
    np.testing.assert_array_equal(np.array(a.at[idx].add(1.0)), x)
    # Two index arrays and rows.
    m = mx.zeros((2, 3), dtype=mx.int32)
    r = m.at[[0, 0, 1, 0], [1, 1, 2, 1]].add(mx.array([1, 2, 3, 4]))
    assert r.tolist() == [[0, 7, 0], [0, 0, 3]]
    assert m.at[[1, 1]].add(mx.array([1, 2, 3])).tolist() == [[0, 0, 0], [2, 4, 6]]


def test_at_dtypes_and_values_like_mlx(oracle):
    cases = [
        ("int32", [1, 2], "divide", [[0, 0]], 2),
        ("int32", [5, 7], "divide", [[0, 1]], 2),
        ("float16", [5.0, 7.0], "divide", [[0, 0]], 3),
        ("uint8", [1, 2], "subtract", 0, 3),
        ("uint32", [5, 7], "subtract", [[0, 1]], [1, 10]),
        ("bool_", [True, False], "add", [[0, 0]], True),
        ("bool_", [True, False], "multiply", [[0, 1]], False),
        ("int32", [1, 2, 3], "add", 0, 1.5),
        ("int32", [1, 2, 3], "add", slice(None), 1),
        ("int32", [1, 2, 3], "divide", slice(None), 2),
        ("float32", [1, 2, 3], "divide", slice(None), 0),
        ("float32", [1, 2, 3], "add", None, 1),
        ("float32", [1, 2, 3], "add", Ellipsis, 1),
        # A lone None or ... is MLX's elementwise form: a true division.
        ("int32", [5, 7, 9], "divide", None, 2),
        ("int32", [5, 7, 9], "divide", Ellipsis, 2),
        ("int32", [5, 7, 9], "divide", (Ellipsis,), 2),
        ("int32", [5, 7, 9], "divide", (), 2),
        ("float16", [5, 7, 9], "divide", Ellipsis, 3),
        ("float16", [5, 7, 9], "divide", (Ellipsis,), 3),
        ("int32", [5, 7, 9], "subtract", None, [1, 2, 3]),
        ("float32", [1, 2, 3], "maximum", (), 2),
        ("complex64", [1 + 1j, 2], "multiply", [[0, 0]], 1j),
    ]
    for dt, x, op, key, v in cases:
        fkey = tuple(key) if isinstance(key, list) else key
        a = mx.array(x, dtype=getattr(mx, dt))
        b = oracle.array(x, dtype=getattr(oracle, dt))
        fv = mx.array(v) if isinstance(v, list) else v
        ov = oracle.array(v) if isinstance(v, list) else v
        got = getattr(a.at[fkey], op)(fv)
        want = getattr(b.at[fkey], op)(ov)
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], (dt, op, key)
        np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-6, err_msg=str((dt, op, key, v)))


def test_at_class_and_errors(oracle):
    a = mx.arange(6).reshape(2, 3)
    assert type(a.at).__name__ == "ArrayAt" and mx.ArrayAt is type(a.at)
    assert isinstance(a.at[0], mx.ArrayAt)
    assert type(a.at).__module__ == "ferrox.core"
    assert not hasattr(a.at[0], "set")  # MLX has no .at[].set: assignment does that
    with pytest.raises(ValueError, match="Must give indices"):
        a.at.add(1)
    for lib in (mx, oracle):
        b = lib.arange(6).reshape(2, 3)
        with pytest.raises(ValueError):
            b.at[0, 0, 0].add(1)
        with pytest.raises(ValueError):
            b.at[1.0].add(1)
        with pytest.raises(ValueError):
            b.at[:, [0, 1]].add(lib.ones((3, 3)))
        with pytest.raises(ValueError):
            lib.array([True]).at[0].subtract(True)
    with pytest.raises(TypeError):
        a.at[0].add(None)
