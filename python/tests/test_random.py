"""ferrox.core.random against MLX (the same numbers, bit for bit, for the same key or
seed; dtypes; exception types) and NumPy (distribution sanity)."""

import importlib

import numpy as np
import pytest

import ferrox.core as mx

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None

needs_mlx = pytest.mark.skipif(mlx is None, reason="mlx is not installed")


def to_np(a):
    """Values as NumPy (bfloat16 widened to float32, which is exact)."""
    if str(a.dtype).endswith("bfloat16"):
        m = mx if isinstance(a, mx.array) else mlx
        a = a.astype(m.float32)
    return np.array(a)


def exact(ours, theirs):
    assert str(ours.dtype) == str(theirs.dtype), (ours.dtype, theirs.dtype)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    np.testing.assert_array_equal(to_np(ours), to_np(theirs))


def on_both(f):
    """`f(module, key)` on ferrox and MLX with the same key."""
    if mlx is None:
        pytest.skip("mlx is not installed")
    return f(mx, mx.random.key(7)), f(mlx, mlx.random.key(7))


# Each case: f(m, key) drawing with an explicit key. Parameters cover shapes, dtypes,
# array and scalar bounds, broadcasting and every keyword.
CASES = {
    "key": lambda m, k: m.random.key(2**40 + 5),
    "key0": lambda m, k: m.random.key(0),
    "key_max": lambda m, k: m.random.key(2**64 - 1),
    "split": lambda m, k: m.random.split(k),
    "split3": lambda m, k: m.random.split(k, 3),
    "split0": lambda m, k: m.random.split(k, num=0),
    "uniform_scalar": lambda m, k: m.random.uniform(key=k),
    "uniform": lambda m, k: m.random.uniform(shape=(3, 5), key=k),
    "uniform_pos": lambda m, k: m.random.uniform(-2, 5, [4, 1, 3], m.float32, k),
    "uniform_f16": lambda m, k: m.random.uniform(shape=(64,), dtype=m.float16, key=k),
    "uniform_bf16": lambda m, k: m.random.uniform(shape=(64,), dtype=m.bfloat16, key=k),
    "uniform_bounds": lambda m, k: m.random.uniform(
        m.array([0.0, 10.0]), m.array([[1.0], [20.0], [30.0]]), (3, 2), key=k),
    "uniform_int_bounds": lambda m, k: m.random.uniform(0, 10, (5,), key=k),
    "uniform_reversed": lambda m, k: m.random.uniform(1, 0, (5,), key=k),
    "uniform_dtype_none": lambda m, k: m.random.uniform(shape=(3,), dtype=None, key=k),
    "uniform_large": lambda m, k: m.random.uniform(shape=(1001,), key=k),
    "normal_scalar": lambda m, k: m.random.normal(key=k),
    "normal": lambda m, k: m.random.normal((4, 7), key=k),
    "normal_loc_scale": lambda m, k: m.random.normal((3,), loc=1, scale=2, key=k),
    "normal_loc_array": lambda m, k: m.random.normal(
        (2, 3), loc=m.array([1.0, 2.0, 3.0]), scale=m.array([[0.5], [2.0]]), key=k),
    "normal_loc_no_shape": lambda m, k: m.random.normal(loc=m.array([1.0, 2.0, 3.0]), key=k),
    "normal_f16": lambda m, k: m.random.normal((33,), m.float16, key=k),
    "normal_bf16": lambda m, k: m.random.normal((33,), m.bfloat16, key=k),
    "normal_f64": lambda m, k: m.random.normal((9,), m.float64, key=k),
    "normal_c64": lambda m, k: m.random.normal((2, 3), m.complex64, key=k),
    "normal_c64_loc": lambda m, k: m.random.normal((4,), m.complex64, loc=1.0, scale=2.0, key=k),
    "normal_f16_loc": lambda m, k: m.random.normal((5,), m.float16, loc=m.array(1.0), key=k),
    "randint": lambda m, k: m.random.randint(0, 10, (50,), key=k),
    "randint_scalar": lambda m, k: m.random.randint(-5, 5, key=k),
    "randint_u8": lambda m, k: m.random.randint(0, 200, (20,), m.uint8, key=k),
    "randint_bool": lambda m, k: m.random.randint(0, 2, (9,), m.bool_, key=k),
    "randint_i64": lambda m, k: m.random.randint(0, 2**40, (4,), m.int64, key=k),
    "randint_arrays": lambda m, k: m.random.randint(m.array([0, 10]), 20, (3, 2), key=k),
    "randint_float_bounds": lambda m, k: m.random.randint(0.5, 10.7, (6,), key=k),
    "randint_reversed": lambda m, k: m.random.randint(10, 0, (3,), key=k),
    "bernoulli": lambda m, k: m.random.bernoulli(key=k),
    "bernoulli_p": lambda m, k: m.random.bernoulli(0.3, (40,), key=k),
    "bernoulli_array": lambda m, k: m.random.bernoulli(m.array([0.1, 0.9]), key=k),
    "bernoulli_array_shape": lambda m, k: m.random.bernoulli(m.array([0.1, 0.9]), (3, 2), key=k),
    "bernoulli_f16": lambda m, k: m.random.bernoulli(m.array([0.5], m.float16), key=k),
    "bernoulli_edges": lambda m, k: m.random.bernoulli(m.array([0.0, 1.0, -1.0, 2.0]), key=k),
    "truncated_normal": lambda m, k: m.random.truncated_normal(-1, 1, (20,), key=k),
    "truncated_normal_scalar": lambda m, k: m.random.truncated_normal(-1, 1, key=k),
    "truncated_normal_arrays": lambda m, k: m.random.truncated_normal(
        m.array([-1.0, -2.0]), m.array([[1.0], [0.5], [3.0]]), key=k),
    "truncated_normal_f16": lambda m, k: m.random.truncated_normal(
        -1, 2, (9,), m.float16, key=k),
    "gumbel": lambda m, k: m.random.gumbel((3, 4), key=k),
    "gumbel_bf16": lambda m, k: m.random.gumbel((8,), m.bfloat16, key=k),
    "categorical": lambda m, k: m.random.categorical(
        m.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]), key=k),
    "categorical_axis0": lambda m, k: m.random.categorical(
        m.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]), 0, key=k),
    "categorical_samples": lambda m, k: m.random.categorical(
        m.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]), num_samples=7, key=k),
    "categorical_shape": lambda m, k: m.random.categorical(
        m.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]), shape=(5, 2), key=k),
    "categorical_int": lambda m, k: m.random.categorical(m.array([[0, 1, 2]]), key=k),
    "laplace": lambda m, k: m.random.laplace((10,), key=k),
    "laplace_loc_scale": lambda m, k: m.random.laplace((3, 2), loc=1.0, scale=2.0, key=k),
    "laplace_f16": lambda m, k: m.random.laplace((7,), m.float16, key=k),
    "laplace_bf16": lambda m, k: m.random.laplace((7,), m.bfloat16, key=k),
    "laplace_f64": lambda m, k: m.random.laplace((7,), m.float64, key=k),
    "laplace_array_loc": lambda m, k: m.random.laplace((3,), loc=m.array(1.0), key=k),
    "permutation_int": lambda m, k: m.random.permutation(10, key=k),
    "permutation_zero": lambda m, k: m.random.permutation(0, key=k),
    "permutation_array": lambda m, k: m.random.permutation(m.arange(12).reshape(3, 4), key=k),
    "permutation_axis": lambda m, k: m.random.permutation(
        m.arange(12).reshape(3, 4), axis=1, key=k),
    "permutation_neg_axis": lambda m, k: m.random.permutation(
        m.arange(24, dtype=m.float16).reshape(2, 3, 4), axis=-2, key=k),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bit_exact_with_mlx(name):
    ours, theirs = on_both(CASES[name])
    exact(ours, theirs)


@pytest.mark.parametrize("shape", [(), (3,), (4, 2)])
def test_multivariate_normal_matches_mlx(shape):
    def f(m, k):
        cov = m.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 0.7]])
        return m.random.multivariate_normal(m.array([1.0, -1.0, 0.0]), cov, shape, key=k)
    ours, theirs = on_both(f)
    assert ours.shape == theirs.shape and str(ours.dtype) == str(theirs.dtype)
    # The covariance's square root comes from a different (but exact-in-theory)
    # decomposition, so agreement is to rounding.
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-5, atol=1e-5)


def test_multivariate_normal_batches_and_int_mean():
    def f(m, k):
        return (m.random.multivariate_normal(m.zeros((3, 2)), m.eye(2), key=k),
                m.random.multivariate_normal(m.zeros((2,), m.int32), m.eye(2), key=k))
    ours, theirs = on_both(f)
    for o, t in zip(ours, theirs):
        assert o.shape == t.shape and str(o.dtype) == str(t.dtype)
        np.testing.assert_allclose(np.array(o), np.array(t), rtol=1e-6, atol=1e-6)


def test_categorical_is_the_gumbel_max_of_its_key():
    # argmax(logits + gumbel(key)) along the sampled axis, for 1-D logits too.
    k = mx.random.key(5)
    lg = mx.array([0.0, 1.0, 2.0, 3.0])
    g = mx.random.gumbel((6, 4), key=k)
    want = np.argmax(np.array(g) + np.array(lg), axis=1)
    np.testing.assert_array_equal(np.array(mx.random.categorical(lg, shape=(6,), key=k)), want)
    stacked = mx.broadcast_to(lg, (6, 4))
    np.testing.assert_array_equal(np.array(mx.random.categorical(stacked, key=k)), want)


@needs_mlx
@pytest.mark.parametrize("seed", [0, 1, 42, 2**33 + 7])
def test_global_state_sequence_matches_mlx(seed):
    def draws(m):
        m.random.seed(seed)
        out = [m.random.uniform(shape=(3,)), m.random.normal((2, 2)),
               m.random.randint(0, 100, (4,)), m.random.bernoulli(0.5, (5,)),
               m.random.gumbel((2,)), m.random.laplace((2,)),
               m.random.truncated_normal(-1, 1, (3,)), m.random.permutation(6),
               m.random.categorical(m.array([[0.0, 1.0, 2.0], [1.0, 0.0, 0.5]]))]
        out.append(m.random.state[0])
        return out
    for o, t in zip(draws(mx), draws(mlx)):
        exact(o, t)


@needs_mlx
def test_state_after_seed_matches_mlx():
    mx.random.seed(3)
    mlx.random.seed(3)
    exact(mx.random.state[0], mlx.random.state[0])
    assert len(mx.random.state) == len(mlx.random.state) == 1
    mx.random.uniform()
    mlx.random.uniform()
    exact(mx.random.state[0], mlx.random.state[0])
    exact(list(mx.random.state)[0], list(mlx.random.state)[0])


def test_seed_makes_draws_repeatable_and_keys_are_pure():
    mx.random.seed(11)
    a = mx.random.normal((5,))
    b = mx.random.normal((5,))
    mx.random.seed(11)
    np.testing.assert_array_equal(np.array(mx.random.normal((5,))), np.array(a))
    assert not np.array_equal(np.array(a), np.array(b))
    k = mx.random.key(5)
    x = mx.random.uniform(shape=(4,), key=k)
    mx.random.uniform(shape=(4,))  # global draws do not change what a key gives
    np.testing.assert_array_equal(np.array(mx.random.uniform(shape=(4,), key=k)), np.array(x))


def test_key_layout():
    k = mx.random.key(2**40 + 5)
    assert k.dtype == mx.uint32 and k.shape == (2,)
    assert k.tolist() == [256, 5]
    s = mx.random.split(k, 4)
    assert s.shape == (4, 2) and s.dtype == mx.uint32


def test_module_import_forms():
    import ferrox.core.random as r1
    from ferrox.core import random as r2
    from ferrox.core.random import normal
    r3 = importlib.import_module("ferrox.core.random")
    assert r1 is r2 is r3 is mx.random
    assert normal is mx.random.normal
    for name in ["seed", "key", "split", "uniform", "normal", "randint", "bernoulli",
                 "truncated_normal", "gumbel", "categorical", "laplace", "permutation",
                 "multivariate_normal", "state"]:
        assert hasattr(mx.random, name), name
        if mlx is not None:
            assert hasattr(mlx.random, name), name


def test_default_dtypes_and_shapes():
    k = mx.random.key(0)
    assert mx.random.uniform(key=k).shape == ()
    assert mx.random.uniform(key=k).dtype == mx.float32
    assert mx.random.normal(key=k).dtype == mx.float32
    assert mx.random.randint(0, 3, key=k).dtype == mx.int32
    assert mx.random.bernoulli(key=k).dtype == mx.bool_
    assert mx.random.gumbel(key=k).shape == ()
    assert mx.random.laplace(key=k).dtype == mx.float32
    assert mx.random.categorical(mx.zeros((2, 3)), key=k).dtype == mx.uint32
    assert mx.random.permutation(4, key=k).dtype == mx.uint32
    assert mx.random.permutation(mx.arange(4), key=k).dtype == mx.int32
    for s in [mx.cpu, mx.default_stream(mx.cpu)]:
        assert mx.random.normal((2,), key=k, stream=s).shape == (2,)
        assert mx.random.split(k, stream=s).shape == (2, 2)


# ---------------------------------------------------------------- against NumPy

def test_distribution_moments_against_numpy():
    k = mx.random.key(1)
    ks = mx.random.split(k, 6)
    n = 200_000
    ref = np.random.default_rng(0)
    u = np.array(mx.random.uniform(-1, 3, (n,), key=ks[0]))
    assert u.min() >= -1 and u.max() < 3
    np.testing.assert_allclose([u.mean(), u.var()], [1, 16 / 12], rtol=0.02)
    z = np.array(mx.random.normal((n,), loc=2.0, scale=3.0, key=ks[1]))
    w = ref.normal(2.0, 3.0, n)
    np.testing.assert_allclose([z.mean(), z.std()], [w.mean(), w.std()], rtol=0.02, atol=0.03)
    t = np.array(mx.random.truncated_normal(-1.0, 0.5, (n,), key=ks[2]))
    assert t.min() >= -1 and t.max() <= 0.5
    g = np.array(mx.random.gumbel((n,), key=ks[3]))
    w = ref.gumbel(size=n)
    np.testing.assert_allclose([g.mean(), g.std()], [w.mean(), w.std()], rtol=0.02, atol=0.02)
    lp = np.array(mx.random.laplace((n,), loc=1.0, scale=2.0, key=ks[4]))
    w = ref.laplace(1.0, 2.0, n)
    np.testing.assert_allclose([lp.mean(), lp.std()], [w.mean(), w.std()], rtol=0.03, atol=0.03)
    r = np.array(mx.random.randint(-3, 4, (n,), key=ks[5]))
    np.testing.assert_array_equal(np.unique(r), np.arange(-3, 4))
    np.testing.assert_allclose(np.bincount(r + 3) / n, np.full(7, 1 / 7), atol=0.01)


def test_bernoulli_categorical_permutation_against_numpy():
    ks = mx.random.split(mx.random.key(2), 3)
    n = 100_000
    p = np.array([0.1, 0.5, 0.9], np.float32)
    b = np.array(mx.random.bernoulli(mx.array(p), (n, 3), key=ks[0]))
    np.testing.assert_allclose(b.mean(0), p, atol=0.01)
    logits = np.log(np.array([0.2, 0.3, 0.5], np.float32))
    c = np.array(mx.random.categorical(mx.array(logits), shape=(n,), key=ks[1]))
    np.testing.assert_allclose(np.bincount(c, minlength=3) / n, np.exp(logits), atol=0.01)
    x = np.arange(50).reshape(10, 5)
    perm = np.array(mx.random.permutation(mx.array(x), axis=0, key=ks[2]))
    np.testing.assert_array_equal(np.sort(perm, axis=0), x)
    # Rows move whole.
    assert {tuple(r) for r in perm} == {tuple(r) for r in x}


# ---------------------------------------------------------------- bad arguments

ERRORS = [
    ("key_negative", lambda m, k: m.random.key(-1), TypeError),
    ("key_too_big", lambda m, k: m.random.key(2**64), TypeError),
    ("key_float", lambda m, k: m.random.key(1.5), TypeError),
    ("seed_negative", lambda m, k: m.random.seed(-1), TypeError),
    ("seed_float", lambda m, k: m.random.seed(0.5), TypeError),
    ("split_negative", lambda m, k: m.random.split(k, -1), ValueError),
    ("split_bad_dtype", lambda m, k: m.random.split(m.array([1, 2])), ValueError),
    ("split_bad_shape", lambda m, k: m.random.split(m.array([1, 2, 3], m.uint32)), ValueError),
    ("uniform_key_dtype", lambda m, k: m.random.uniform(key=m.array([1, 2])), ValueError),
    ("uniform_key_list", lambda m, k: m.random.uniform(key=[1, 2]), TypeError),
    ("uniform_int_shape", lambda m, k: m.random.uniform(shape=3, key=k), TypeError),
    ("uniform_negative_shape", lambda m, k: m.random.uniform(shape=(-1,), key=k), ValueError),
    ("uniform_bounds_shape", lambda m, k: m.random.uniform(m.zeros((2,)), 1, key=k),
     ValueError),
    ("uniform_bounds_bcast", lambda m, k: m.random.uniform(m.zeros((2,)), 1, (3,), key=k),
     ValueError),
    ("uniform_int_dtype", lambda m, k: m.random.uniform(shape=(2,), dtype=m.int32, key=k),
     ValueError),
    ("uniform_f64", lambda m, k: m.random.uniform(shape=(2,), dtype=m.float64, key=k),
     RuntimeError),
    ("normal_int_dtype", lambda m, k: m.random.normal((2,), m.int32, key=k), ValueError),
    ("randint_float_dtype", lambda m, k: m.random.randint(0, 5, (2,), m.float32, key=k),
     ValueError),
    ("randint_bounds_shape", lambda m, k: m.random.randint(m.array([0, 10]), 20, key=k),
     ValueError),
    ("bernoulli_int_p", lambda m, k: m.random.bernoulli(1, (2,), key=k), ValueError),
    ("bernoulli_bad_shape", lambda m, k: m.random.bernoulli(m.array([0.1, 0.9]), (3,), key=k),
     ValueError),
    ("truncated_normal_int", lambda m, k: m.random.truncated_normal(-1, 1, (2,), m.int32,
                                                                    key=k), ValueError),
    ("truncated_normal_f64", lambda m, k: m.random.truncated_normal(-1, 1, (2,), m.float64,
                                                                    key=k), RuntimeError),
    ("gumbel_int", lambda m, k: m.random.gumbel((3,), m.int32, key=k), ValueError),
    ("gumbel_f64", lambda m, k: m.random.gumbel((3,), m.float64, key=k), RuntimeError),
    ("categorical_both", lambda m, k: m.random.categorical(
        m.zeros((1, 3)), shape=(1,), num_samples=2, key=k), ValueError),
    ("categorical_axis", lambda m, k: m.random.categorical(m.zeros((1, 3)), 2, key=k),
     IndexError),
    ("categorical_shape", lambda m, k: m.random.categorical(m.zeros((2, 3)), shape=(3,), key=k),
     ValueError),
    ("laplace_int", lambda m, k: m.random.laplace((3,), m.int32, key=k), ValueError),
    ("permutation_axis", lambda m, k: m.random.permutation(m.zeros((3, 2)), axis=2, key=k),
     IndexError),
    ("permutation_scalar", lambda m, k: m.random.permutation(m.array(3), key=k), IndexError),
    ("permutation_negative", lambda m, k: m.random.permutation(-1, key=k), ValueError),
    ("mvn_f16", lambda m, k: m.random.multivariate_normal(m.zeros((2,)), m.eye(2),
                                                          dtype=m.float16, key=k), ValueError),
    ("mvn_shapes", lambda m, k: m.random.multivariate_normal(m.zeros((3,)), m.eye(2), key=k),
     ValueError),
    ("mvn_mean_0d", lambda m, k: m.random.multivariate_normal(m.array(0.0), m.eye(2), key=k),
     ValueError),
    ("mvn_cov_1d", lambda m, k: m.random.multivariate_normal(m.zeros((2,)), m.ones((2,)),
                                                             key=k), ValueError),
    ("mvn_cov_not_square", lambda m, k: m.random.multivariate_normal(
        m.zeros((2,)), m.ones((2, 3)), key=k), ValueError),
    ("mvn_batch_shape", lambda m, k: m.random.multivariate_normal(
        m.zeros((3, 2)), m.eye(2), (4,), key=k), ValueError),
]


@pytest.mark.parametrize("name,f,exc", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_arguments_raise_mlx_exception_types(name, f, exc):
    with pytest.raises(exc):
        f(mx, mx.random.key(0))
    if mlx is not None:
        with pytest.raises(exc):
            f(mlx, mlx.random.key(0))
