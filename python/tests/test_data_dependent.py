"""Beyond MLX: nonzero and boolean-mask reads, against NumPy; they evaluate their input
and raise inside compile and vmap (values unknown there) but work under grad."""

import numpy as np
import pytest

import ferrox.core as mx

rng = np.random.default_rng(3)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4), (0, 3)])
@pytest.mark.parametrize("dtype", ["float32", "int32", "bool_"])
def test_nonzero_matches_numpy(shape, dtype):
    x = rng.integers(-1, 2, size=shape).astype(np.float32)
    a = mx.array(x).astype(getattr(mx, dtype))
    got = mx.nonzero(a)
    ref = np.nonzero(x)
    assert isinstance(got, tuple) and len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.dtype == mx.uint32
        np.testing.assert_array_equal(np.array(g), r)


def test_nonzero_zero_dim_raises():
    with pytest.raises(ValueError, match="0-d"):
        mx.nonzero(mx.array(1.0))


MASK_KEYS = [
    lambda m: m,                 # a[mask], mask over every axis
    lambda m: m[:, 0],           # a[mask] over the first axis
    lambda m: (slice(None), m[0]),  # a[:, mask]
    lambda m: (m[:, 0], 1),      # mask with an int
    lambda m: (Ellipsis, m[0, :, 0]),  # a[..., mask] on the last axis
]


@pytest.mark.parametrize("key", range(len(MASK_KEYS)))
def test_mask_reads_match_numpy(key):
    x = rng.standard_normal((4, 3, 3)).astype(np.float32)
    m = x > 0
    k = MASK_KEYS[key](m)
    to_mx = lambda k: tuple(mx.array(e) if isinstance(e, np.ndarray) else e for e in k) if isinstance(k, tuple) else mx.array(k)
    got = mx.array(x)[to_mx(k)]
    ref = x[k]
    assert got.shape == ref.shape
    np.testing.assert_array_equal(np.array(got), ref)


def test_mask_read_shape_mismatch_is_an_index_error():
    a = mx.zeros((3, 4))
    with pytest.raises(IndexError, match="boolean index did not match"):
        a[mx.array([True, False])]
    with pytest.raises(IndexError):
        a[:, mx.array([True, False, True])]


def test_mask_reads_refuse_compile_and_vmap_but_work_under_grad():
    x = mx.array(np.array([0.5, -1.0, 2.0, -3.0], np.float32))
    f = lambda v: v[v > 0].sum()
    with pytest.raises(ValueError, match="not known inside compile or vmap"):
        mx.compile(f)(x)
    with pytest.raises(ValueError, match="not known inside compile or vmap"):
        mx.vmap(lambda v: mx.nonzero(v)[0])(x.reshape(2, 2))
    g = mx.grad(f)(x)
    np.testing.assert_array_equal(np.array(g), [1.0, 0.0, 1.0, 0.0])
    assert float(f(x)) == 2.5


def test_mask_from_list_and_numpy():
    a = mx.arange(6).reshape(2, 3)
    x = np.arange(6).reshape(2, 3)
    for key in ([True, False], np.array([False, True])):
        np.testing.assert_array_equal(np.array(a[key]), x[key])
    with pytest.raises(IndexError):
        a[[[True], [False]]]
