"""ferrox.core against NumPy (values) and MLX (dtypes, printing, exception types)."""

import copy
import pickle

import numpy as np
import pytest

import ferrox.core as mx

FLOATS = [mx.float16, mx.bfloat16, mx.float32, mx.float64]
NP = {
    mx.bool_: np.bool_, mx.uint8: np.uint8, mx.uint16: np.uint16, mx.uint32: np.uint32,
    mx.uint64: np.uint64, mx.int8: np.int8, mx.int16: np.int16, mx.int32: np.int32,
    mx.int64: np.int64, mx.float16: np.float16, mx.float32: np.float32,
    mx.float64: np.float64, mx.complex64: np.complex64,
}
SHAPES = [(), (7,), (3, 5), (2, 3, 9)]


def to_np(a):
    if a.dtype == mx.bfloat16:
        return np.array(a.astype(mx.float32))
    return np.array(a)


def tol(dtype):
    return {mx.float16: 3e-3, mx.bfloat16: 2e-2, mx.float64: 1e-12}.get(dtype, 2e-6)


def rand(rng, shape, dtype, lo=-3.0, hi=3.0):
    if dtype == mx.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if dtype in (mx.uint8, mx.uint16, mx.uint32, mx.uint64):
        return rng.integers(0, 20, shape).astype(NP[dtype])
    if dtype in (mx.int8, mx.int16, mx.int32, mx.int64):
        return rng.integers(-10, 10, shape).astype(NP[dtype])
    x = rng.uniform(lo, hi, shape)
    if dtype == mx.bfloat16:
        return x.astype(np.float32)
    return x.astype(NP[dtype])


UNARY = [
    ("exp", np.exp, -3, 3), ("log", np.log, 0.1, 5), ("sqrt", np.sqrt, 0, 5),
    ("sin", np.sin, -3, 3), ("cos", np.cos, -3, 3), ("tanh", np.tanh, -3, 3),
    ("arctan", np.arctan, -3, 3), ("arcsinh", np.arcsinh, -3, 3), ("log1p", np.log1p, 0, 3),
    ("expm1", np.expm1, -1, 1), ("abs", np.abs, -3, 3), ("negative", np.negative, -3, 3),
    ("square", np.square, -3, 3), ("floor", np.floor, -3, 3), ("ceil", np.ceil, -3, 3),
    ("sign", np.sign, -3, 3), ("reciprocal", np.reciprocal, 0.5, 3),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x)), -4, 4),
]


@pytest.mark.parametrize("name,ref,lo,hi", UNARY)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES)
def test_unary_against_numpy(name, ref, lo, hi, dtype, shape, rng):
    x = rand(rng, shape, dtype, lo, hi)
    a = mx.array(x, dtype=dtype)
    out = getattr(mx, name)(a)
    assert out.dtype == dtype
    want = ref(to_np(a).astype(np.float64))
    np.testing.assert_allclose(to_np(out).astype(np.float64), want, rtol=tol(dtype) * 4, atol=tol(dtype) * 4)


BINARY = [
    ("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply),
    ("maximum", np.maximum), ("minimum", np.minimum), ("divide", np.divide),
    ("power", lambda a, b: np.power(np.abs(a), b)),
]
PAIRS = [((4,), (4,)), ((3, 4), (4,)), ((2, 1, 5), (3, 1)), ((), (2, 3))]


@pytest.mark.parametrize("name,ref", BINARY)
@pytest.mark.parametrize("dtype", [mx.float32, mx.float64, mx.float16])
@pytest.mark.parametrize("sa,sb", PAIRS)
def test_binary_broadcasting_against_numpy(name, ref, dtype, sa, sb, rng):
    x, y = rand(rng, sa, dtype), rand(rng, sb, dtype, 0.5, 2.0)
    if name == "power":
        x = np.abs(x)
    out = getattr(mx, name)(mx.array(x, dtype=dtype), mx.array(y, dtype=dtype))
    want = ref(x.astype(np.float64), y.astype(np.float64))
    assert out.shape == want.shape
    np.testing.assert_allclose(to_np(out).astype(np.float64), want, rtol=tol(dtype) * 4, atol=tol(dtype) * 4)


@pytest.mark.parametrize("dtype", [mx.int8, mx.int32, mx.uint8, mx.int64, mx.uint32])
def test_integer_arithmetic(dtype, rng):
    x, y = rand(rng, (5, 6), dtype), rand(rng, (6,), dtype)
    y = np.where(y == 0, 3, y).astype(y.dtype)
    a, b = mx.array(x), mx.array(y)
    for name, ref in [("add", np.add), ("multiply", np.multiply), ("floor_divide", np.floor_divide),
                      ("remainder", np.remainder), ("maximum", np.maximum)]:
        out = getattr(mx, name)(a, b)
        assert out.dtype == dtype
        np.testing.assert_array_equal(np.array(out), ref(x, y).astype(x.dtype))


def test_promotion_table_matches_mlx(oracle):
    names = ["bool_", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
             "float16", "bfloat16", "float32", "float64", "complex64"]
    for p in names:
        for q in names:
            got = (mx.ones((2,), getattr(mx, p)) + mx.ones((2,), getattr(mx, q))).dtype
            want = oracle.result_type(getattr(oracle, p), getattr(oracle, q))
            assert repr(got) == repr(want), (p, q)
            assert repr(mx.result_type(getattr(mx, p), getattr(mx, q))) == repr(want)


@pytest.mark.parametrize("expr", [
    "mx.array([1, 2], mx.int8) + 1", "mx.array([1, 2], mx.int8) + 1.0",
    "mx.array([1, 2], mx.float16) * 2.0", "mx.array([True]) + 1", "mx.array([1, 2]) / 2",
    "mx.array([3, -3]) // 2", "mx.array([3, -3]) % 2", "mx.array([1.5]) + 1j",
    "mx.array(1)", "mx.array(1.0)", "mx.array(True)", "mx.array(2**40)",
    "mx.array([1, 2, 3]).sum()", "mx.array([1, 2], mx.uint8).sum()",
    "mx.array([1, 2]).mean()", "mx.argmax(mx.array([1, 3, 2]))",
    "mx.sqrt(mx.array([4]))", "mx.arange(5)", "mx.arange(0.0, 1.0, 0.25)",
    "mx.zeros((2, 3))", "mx.eye(3, k=1)", "mx.linspace(0, 1, 5)",
])
def test_results_and_printing_match_mlx(expr, oracle):
    ours = eval(expr, {"mx": mx})
    theirs = eval(expr, {"mx": oracle})
    assert str(ours) == str(theirs)
    assert repr(ours.dtype) == repr(theirs.dtype)


def test_printing_examples():
    assert repr(mx.array([[1.5, 2], [3, 4]])) == "array([[1.5, 2],\n       [3, 4]], dtype=float32)"
    assert str(mx.array(3)) == "array(3, dtype=int32)"
    assert str(mx.array([True, False])) == "array([True, False], dtype=bool)"


@pytest.mark.parametrize("shape", [(6,), (2, 3), (4, 5, 3)])
@pytest.mark.parametrize("dtype", [mx.float32, mx.int32, mx.float64, mx.uint8])
def test_reductions_against_numpy(shape, dtype, rng):
    x = rand(rng, shape, dtype)
    a = mx.array(x)
    for axis in [None, 0, -1] + ([(0, 2)] if len(shape) == 3 else []):
        np.testing.assert_allclose(np.array(mx.sum(a, axis=axis)), np.sum(x, axis=axis), rtol=1e-5)
        np.testing.assert_allclose(np.array(a.max(axis=axis)), np.max(x, axis=axis))
        np.testing.assert_allclose(np.array(a.min(axis=axis, keepdims=True)), np.min(x, axis=axis, keepdims=True))
        np.testing.assert_allclose(np.array(a.mean(axis=axis)), np.mean(x.astype(np.float64), axis=axis), rtol=1e-5)
        np.testing.assert_allclose(np.array(mx.var(a, axis=axis)), np.var(x.astype(np.float64), axis=axis), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(np.array(mx.argmax(a, axis=-1)), np.argmax(x, axis=-1))
    np.testing.assert_array_equal(np.array(mx.argmin(a)), np.argmin(x))


def test_softmax_logsumexp(rng):
    x = rng.normal(size=(4, 7)).astype(np.float32)
    a = mx.array(x)
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(np.array(mx.softmax(a, axis=-1)), e / e.sum(-1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(np.array(mx.logsumexp(a, axis=1)), np.log(np.exp(x).sum(1)), rtol=1e-5)


def test_matmul_against_numpy(rng):
    x, y = rng.normal(size=(3, 4, 5)).astype(np.float32), rng.normal(size=(5, 6)).astype(np.float32)
    np.testing.assert_allclose(np.array(mx.array(x) @ mx.array(y)), x @ y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.array(mx.matmul(mx.array(y).T, mx.array(x).transpose(0, 2, 1))), y.T @ x.transpose(0, 2, 1), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        mx.array([[1, 2]]) @ mx.array([[1, 2]])


def test_shape_ops(rng):
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    a = mx.array(x)
    assert a.reshape(4, -1).shape == (4, 6)
    assert a.reshape((6, 4)).shape == (6, 4)
    np.testing.assert_array_equal(np.array(a.transpose(2, 0, 1)), x.transpose(2, 0, 1))
    np.testing.assert_array_equal(np.array(mx.swapaxes(a, 0, 2)), np.swapaxes(x, 0, 2))
    np.testing.assert_array_equal(np.array(mx.moveaxis(a, 0, -1)), np.moveaxis(x, 0, -1))
    np.testing.assert_array_equal(np.array(mx.expand_dims(a, 1)), np.expand_dims(x, 1))
    np.testing.assert_array_equal(np.array(mx.broadcast_to(mx.array([1, 2]), (3, 2))), np.broadcast_to([1, 2], (3, 2)))
    assert mx.flatten(a, 1).shape == (2, 12)
    assert mx.squeeze(mx.zeros((1, 3, 1))).shape == (3,)


def test_basic_indexing(rng):
    x = rng.normal(size=(4, 5, 6)).astype(np.float32)
    a = mx.array(x)
    for key in [0, -1, (1, 2), slice(1, 3), (slice(None, None, -1), 2), (Ellipsis, 1), (None, 0, slice(None, None, 2)),
                (slice(4, 0, -2), None, Ellipsis, slice(1, None))]:
        np.testing.assert_array_equal(np.array(a[key]), x[key])
    with pytest.raises(IndexError):
        a[4]


def test_conversions_and_protocols():
    a = mx.array([[1, 2], [3, 4]])
    assert a.tolist() == [[1, 2], [3, 4]]
    assert isinstance(a[0, 0].item(), int)
    assert mx.array(2.5).item() == 2.5 and float(mx.array([2.5])) == 2.5
    assert len(a) == 2 and a.ndim == 2 and a.size == 4 and a.nbytes == 16 and a.itemsize == 4
    assert [r.tolist() for r in a] == [[1, 2], [3, 4]]
    with pytest.raises(TypeError):
        len(mx.array(1))
    with pytest.raises(ValueError):
        bool(a)
    b = pickle.loads(pickle.dumps(a))
    assert b.tolist() == a.tolist() and b.dtype == a.dtype
    assert copy.deepcopy(a).tolist() == a.tolist()
    assert hash(a) != hash(b)


def test_numpy_round_trip():
    for dt in [np.float32, np.float16, np.int64, np.uint8, np.bool_, np.complex64, np.int8]:
        x = (np.arange(12).reshape(3, 4) % 3).astype(dt)
        a = mx.array(x)
        y = np.array(a)
        assert y.dtype == x.dtype
        np.testing.assert_array_equal(y, x)
    assert mx.array(np.ones(3)).dtype == mx.float32  # float64 -> float32, as MLX
    assert mx.array(np.ones(3), dtype=mx.float64).dtype == mx.float64
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(np.array(mx.array(x).T), x.T)  # strided view out
    np.testing.assert_array_equal(np.array(mx.array(x.T)), x.T)  # non-contiguous in
    with pytest.raises(ValueError):
        np.array(mx.array([1.0], mx.bfloat16))
    assert (mx.array([1, 2]) + np.array([1, 2])).tolist() == [2, 4]


def test_bad_input_raises_mlx_types(oracle):
    cases = [
        lambda m: m.array([1, 2]) + m.zeros((3,)),
        lambda m: m.reshape(m.zeros((4,)), (3,)),
        lambda m: m.sum(m.zeros((2, 2)), axis=3),
        lambda m: m.array([1, 2]) + [1, 2],
        lambda m: m.array([[1], [2, 3]]),
        lambda m: m.matmul(m.zeros((2, 3)), m.zeros((2, 3))),
        lambda m: m.array([1], m.uint8) + -1,
        lambda m: m.transpose(m.zeros((2, 3)), (0, 0)),
        lambda m: m.max(m.zeros((0,))),
        lambda m: m.array(1) == None,  # noqa: E711
    ]
    for case in cases:
        with pytest.raises(Exception) as theirs:
            case(oracle)
        with pytest.raises(Exception) as ours:
            case(mx)
        assert type(ours.value) is type(theirs.value), (ours.value, theirs.value)


def test_inplace_operators_rebind():
    a = mx.array([1.0, 2.0])
    alias = a
    a += 1
    assert a.tolist() == [2.0, 3.0] and alias.tolist() == [2.0, 3.0]  # same Python object
    b = mx.array([1.0, 2.0])
    c = b[0:1]
    b *= 10
    assert c.tolist() == [1.0]


def test_memory_and_devices():
    x = mx.zeros((1 << 20,))
    mx.eval(x)
    assert mx.get_active_memory() >= 4 << 20
    assert mx.default_device() == mx.Device(mx.cpu)
    assert str(mx.default_device()) == "Device(cpu, 0)"
    assert not mx.metal.is_available()
    assert isinstance(mx.cuda.is_available(), bool)
    with pytest.raises(ValueError):
        mx.zeros((2,), stream=mx.gpu)
    assert mx.add(1, 2, stream=mx.cpu).item() == 3
    mx.reset_peak_memory()
    mx.clear_cache()
    assert mx.get_cache_memory() == 0


def test_finfo_iinfo_and_dtypes():
    assert mx.finfo(mx.float16).max == 65504.0
    assert mx.iinfo(mx.int8).min == -128
    assert mx.issubdtype(mx.float32, mx.floating) and not mx.issubdtype(mx.int8, mx.floating)
    assert mx.float32.size == 4 and repr(mx.bfloat16) == "mlx.core.bfloat16"
    assert mx.can_cast(mx.int8, mx.int32) and not mx.can_cast(mx.float32, mx.int32)
    assert mx.isdtype(mx.int8, "signed integer")
    assert pickle.loads(pickle.dumps(mx.float16)) == mx.float16


def test_protocols_bytes_div_and_array_namespace(oracle):
    for dtype in ["int16", "float32", "bool_", "complex64"]:
        x = np.arange(6).reshape(2, 3).astype(NP[getattr(mx, dtype)])
        a, o = mx.array(x), oracle.array(x)
        assert bytes(a) == bytes(o)
        assert bytes(a[:, ::2]) == bytes(o[:, ::2])
    a, o = mx.array([1, 2, 3], dtype=mx.int16), oracle.array([1, 2, 3], dtype=oracle.int16)
    assert a.__div__(2).tolist() == o.__div__(2).tolist()
    assert a.__rdiv__(2).tolist() == o.__rdiv__(2).tolist()
    assert a.__div__(2).dtype == mx.float32
    assert a.__array_namespace__() is mx
    with pytest.raises(ValueError):
        a.__array_namespace__(api_version="2023.12")
    info, want = mx.__array_namespace_info__(), oracle.__array_namespace_info__()
    assert info.capabilities() == want.capabilities()
    assert repr(info.default_device()) == repr(want.default_device())
    assert [repr(d) for d in info.devices()] == [repr(d) for d in want.devices()]
    assert {k: repr(v) for k, v in info.default_dtypes().items()} == {
        k: repr(v) for k, v in want.default_dtypes().items()
    }
    for kind in [None, "bool", "integral", "real floating", "numeric", ("bool", "complex floating")]:
        got = {k: repr(v) for k, v in info.dtypes(kind=kind).items()}
        assert got == {k: repr(v) for k, v in want.dtypes(kind=kind).items()}, kind


def test_array_of_unreadable_objects_raises_as_mlx():
    # MLX: None is not an accepted argument (TypeError); a str or dict is, but its value
    # cannot be read (ValueError).
    with pytest.raises(TypeError):
        mx.array(None)
    for bad in ("abc", {"a": 1}, object()):
        with pytest.raises(ValueError, match="Invalid type .* received in array initialization"):
            mx.array(bad)
