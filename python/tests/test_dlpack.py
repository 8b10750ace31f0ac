"""DLPack and NumPy interop: zero-copy export, copying import, round trips."""

import gc

import numpy as np
import pytest

import ferrox.core as mx

try:
    import torch
except Exception:  # pragma: no cover - torch is optional
    torch = None

DTYPES = [
    (mx.bool_, np.bool_), (mx.uint8, np.uint8), (mx.uint16, np.uint16), (mx.uint32, np.uint32),
    (mx.uint64, np.uint64), (mx.int8, np.int8), (mx.int16, np.int16), (mx.int32, np.int32),
    (mx.int64, np.int64), (mx.float16, np.float16), (mx.float32, np.float32),
    (mx.float64, np.float64), (mx.complex64, np.complex64),
]


def sample(rng, shape, npdt):
    if npdt == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if np.issubdtype(npdt, np.integer):
        return rng.integers(0, 100, shape).astype(npdt)
    if npdt == np.complex64:
        return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(npdt)
    return rng.normal(size=shape).astype(npdt)


def data_ptr(x):
    return x.__array_interface__["data"][0]


def test_dlpack_device():
    a = mx.arange(3)
    assert a.__dlpack_device__() == (1, 0)
    assert all(type(v) is int for v in a.__dlpack_device__())


def test_dlpack_capsule():
    cap = mx.arange(3).__dlpack__()
    assert type(cap).__name__ == "PyCapsule" and '"dltensor"' in repr(cap)
    for kw in [dict(stream=None), dict(max_version=(1, 0)), dict(copy=True), dict(copy=False), dict(dl_device=(1, 0))]:
        assert '"dltensor"' in repr(mx.arange(3).__dlpack__(**kw))
    with pytest.raises(BufferError):
        mx.arange(3).__dlpack__(dl_device=(2, 0))
    # An unconsumed capsule frees its tensor when collected (no leak, no crash).
    for _ in range(100):
        mx.ones((64,)).__dlpack__()
    gc.collect()


@pytest.mark.parametrize("dt, npdt", DTYPES)
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 0, 3)])
def test_numpy_from_dlpack_is_zero_copy(dt, npdt, shape, rng):
    x = sample(rng, shape, npdt)
    a = mx.array(x, dtype=dt)
    mx.eval(a)
    y = np.from_dlpack(a)
    assert y.dtype == npdt and y.shape == shape
    np.testing.assert_array_equal(y, x)
    if a.size:
        # The same memory as the array's own NumPy view.
        assert data_ptr(y) == data_ptr(np.asarray(a))
        assert np.shares_memory(y, np.asarray(a))


def test_dlpack_capsule_owns_the_buffer():
    # The capsule keeps the buffer while it lives, and its deleter (run by the consumer,
    # or by the capsule when nobody consumed it) releases it.
    mx.clear_cache()
    base = mx.get_active_memory()
    n = 1 << 20
    a = mx.zeros((n,))
    mx.eval(a)
    cap = a.__dlpack__()
    del a
    gc.collect()
    assert mx.get_active_memory() >= base + 4 * n
    del cap
    gc.collect()
    assert mx.get_active_memory() < base + 4 * n
    a = mx.ones((n,))
    y = np.from_dlpack(a)
    del a
    gc.collect()
    assert mx.get_active_memory() >= base + 4 * n and y[-1] == 1
    del y
    gc.collect()
    assert mx.get_active_memory() < base + 4 * n


def test_dlpack_export_keeps_memory_alive():
    a = mx.arange(1000, dtype=mx.float32) * 2
    mx.eval(a)
    y = np.from_dlpack(a)
    del a
    gc.collect()
    mx.clear_cache()
    # The buffer is still ours through the capsule's reference.
    _ = mx.zeros((1000,)) + 7
    np.testing.assert_array_equal(y, np.arange(1000, dtype=np.float32) * 2)


def test_dlpack_export_views_keep_their_strides():
    base = mx.arange(24).reshape(4, 6)
    small = mx.arange(3)
    ref = np.arange(24).reshape(4, 6)
    for view, want, owner in [
        (base.T, ref.T, base),
        (base[:, ::2], ref[:, ::2], base),
        (base[::-1, 1:], ref[::-1, 1:], base),
        (base[1], ref[1], base),
        (mx.broadcast_to(small, (2, 3)), np.broadcast_to(np.arange(3), (2, 3)), small),
    ]:
        y = np.from_dlpack(view)
        np.testing.assert_array_equal(y, want)
        assert np.shares_memory(y, np.from_dlpack(owner))
    # A lazy array is evaluated on export.
    lazy = mx.arange(5) * 3
    np.testing.assert_array_equal(np.from_dlpack(lazy), np.arange(5) * 3)


def test_dlpack_copy_true_does_not_share():
    a = mx.arange(6)
    mx.eval(a)
    y = np.from_dlpack(a, copy=True)
    np.testing.assert_array_equal(y, np.arange(6))
    assert not np.shares_memory(y, np.asarray(a))


def test_bfloat16_export():
    a = mx.array([1.5, 2.0], dtype=mx.bfloat16)
    # NumPy has no bfloat16; the capsule itself is fine.
    assert '"dltensor"' in repr(a.__dlpack__())
    with pytest.raises(Exception):
        np.from_dlpack(a)


@pytest.mark.parametrize("dt, npdt", DTYPES)
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided", "reversed"])
def test_from_dlpack_numpy(dt, npdt, layout, rng):
    x = sample(rng, (4, 6), npdt)
    x = {"contiguous": x, "transposed": x.T, "strided": x[:, ::2], "reversed": x[::-1, ::-3]}[layout]
    a = mx.from_dlpack(x)
    want = mx.float32 if npdt == np.float64 else dt  # MLX's float64 -> float32 rule
    assert a.dtype == want and a.shape == x.shape
    np.testing.assert_array_equal(np.array(a), x.astype(np.float32) if npdt == np.float64 else x)
    # A copy: changing the source later does not show.
    if x.size and npdt != np.bool_:
        before = np.array(a).copy()
        x[...] = 0
        np.testing.assert_array_equal(np.array(a), before)


def test_from_dlpack_copy_argument_and_errors(oracle):
    x = np.arange(4)
    assert mx.from_dlpack(x, copy=True).tolist() == [0, 1, 2, 3]
    assert mx.from_dlpack(x, copy=None).tolist() == [0, 1, 2, 3]
    for lib in (mx, oracle):
        with pytest.raises(ValueError, match="without a copy"):
            lib.from_dlpack(x, copy=False)
        with pytest.raises(TypeError):
            lib.from_dlpack(5)
        with pytest.raises(TypeError):
            lib.from_dlpack([1, 2])
    # Scalars and empty arrays.
    assert mx.from_dlpack(np.float64(3)).item() == 3.0 and mx.from_dlpack(np.float64(3)).dtype == mx.float32
    assert mx.from_dlpack(np.zeros((2, 0))).shape == (2, 0)
    # ferrox arrays: the same array, or a copy when asked.
    a = mx.arange(3)
    assert mx.from_dlpack(a).tolist() == [0, 1, 2]
    c = mx.from_dlpack(a, copy=True)
    mx.eval(a, c)
    assert not np.shares_memory(np.asarray(c), np.asarray(a))


def test_from_dlpack_matches_mlx(oracle, rng):
    for npdt in [np.float64, np.float32, np.int64, np.uint16, np.bool_, np.complex128, np.float16]:
        x = sample(rng, (3, 2), npdt) if npdt != np.complex128 else rng.normal(size=(3, 2)) + 1j
        try:
            want = oracle.from_dlpack(x)
        except Exception as e:  # noqa: BLE001 - compared below
            with pytest.raises(type(e)):
                mx.from_dlpack(x)
            continue
        got = mx.from_dlpack(x)
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal(np.array(got), np.array(want))


def test_round_trips():
    x = np.arange(12, dtype=np.int16).reshape(3, 4)
    assert np.array_equal(np.from_dlpack(mx.from_dlpack(x)), x)
    a = mx.arange(12).reshape(3, 4)[:, 1::2]
    b = mx.from_dlpack(a)
    assert b.tolist() == a.tolist()
    c = mx.from_dlpack(np.from_dlpack(a))
    assert c.tolist() == a.tolist() and c.dtype == a.dtype


class OnlyDLPack:
    """An object that speaks only DLPack (like a tensor of another library)."""

    def __init__(self, x):
        self.x = x

    def __dlpack__(self, stream=None):
        return self.x.__dlpack__()

    def __dlpack_device__(self):
        return self.x.__dlpack_device__()


def test_asarray_and_array_accept_dlpack_objects():
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    o = OnlyDLPack(x)
    for a in (mx.asarray(o), mx.array(o), mx.from_dlpack(o)):
        assert a.dtype == mx.int32 and a.tolist() == x.tolist()
    assert mx.asarray(o, dtype=mx.float32).dtype == mx.float32
    with pytest.raises(ValueError, match="without a copy"):
        mx.asarray(o, copy=False)
    # A ferrox producer through the same path.
    f = mx.arange(4, dtype=mx.float32)
    assert mx.array(OnlyDLPack(f)).tolist() == [0, 1, 2, 3]


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_torch_round_trip():  # pragma: no cover - needs torch
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    a = mx.from_dlpack(t)
    assert a.tolist() == t.tolist()
    back = torch.from_dlpack(a)
    assert back.tolist() == t.tolist()


# ---------------------------------------------------------------- NumPy buffer path

@pytest.mark.parametrize("dt, npdt", DTYPES)
def test_numpy_asarray_is_zero_copy(dt, npdt, rng):
    x = sample(rng, (3, 4), npdt)
    a = mx.array(x, dtype=dt)
    mx.eval(a)
    n1, n2 = np.asarray(a), np.asarray(a)
    assert n1.dtype == npdt
    np.testing.assert_array_equal(n1, x)
    assert data_ptr(n1) == data_ptr(n2) and np.shares_memory(n1, n2)
    # Views share their base's memory.
    assert np.shares_memory(np.asarray(a[1:]), n1)
    # Read-only: a ferrox array is immutable.
    assert not n1.flags.writeable
    with pytest.raises(ValueError):
        n1[0, 0] = n1[0, 1]


def test_numpy_zero_dim_arrays_keep_their_shape():
    for x in [np.array(5), np.array(2.5, dtype=np.float32), np.array(True)]:
        a = mx.array(x)
        assert a.shape == () and a.item() == x.item()
    assert mx.asarray(np.array(7, dtype=np.int64)).shape == ()


def test_numpy_array_copies():
    a = mx.arange(6).reshape(2, 3)
    mx.eval(a)
    c = np.array(a)
    assert c.flags.writeable and not np.shares_memory(c, np.asarray(a))
    c[0, 0] = 100
    assert a.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert np.shares_memory(np.array(a, copy=False), np.asarray(a))
    assert np.array(a, dtype=np.float64).dtype == np.float64
