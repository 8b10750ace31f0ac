"""kron and hadamard_transform: values against NumPy (and an explicit Sylvester matrix),
dtypes and exception types against MLX, gradients against finite differences."""

import numpy as np
import pytest

import ferrox.core as mx
from numeric import fd_grad

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None


def sylvester(n):
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h


@pytest.mark.parametrize("sa,sb", [((2, 2), (3,)), ((3,), (2, 4)), ((2, 1, 3), (4, 5)),
                                   ((), ()), ((4,), ()), ((0, 2), (3, 1))])
@pytest.mark.parametrize("dtype", [np.int32, np.float32, np.float64])
def test_kron_against_numpy(sa, sb, dtype, rng):
    a = rng.integers(-5, 6, sa).astype(dtype)
    b = rng.integers(-5, 6, sb).astype(dtype)
    out = mx.kron(mx.array(a), mx.array(b))
    want = np.kron(a, b)
    assert out.shape == want.shape
    np.testing.assert_array_equal(np.array(out), want)


def test_kron_promotes_like_multiply():
    out = mx.kron(mx.array([1, 2], mx.int8), mx.array([0.5], mx.float16))
    assert out.dtype == mx.float16
    np.testing.assert_array_equal(np.array(out), [0.5, 1.0])


@pytest.mark.parametrize("shape", [(8,), (3, 16), (2, 2, 4), (1,), (5, 64)])
@pytest.mark.parametrize("scale", [None, 1.0, 0.25])
def test_hadamard_against_the_sylvester_matrix(shape, scale, rng):
    x = rng.uniform(-1, 1, shape)
    n = shape[-1]
    want = x @ sylvester(n) * (1 / np.sqrt(n) if scale is None else scale)
    out = mx.hadamard_transform(mx.array(x, dtype=mx.float64), scale=scale)
    assert out.dtype == mx.float64
    np.testing.assert_allclose(np.array(out), want, rtol=1e-12, atol=1e-12)
    out32 = mx.hadamard_transform(mx.array(x.astype(np.float32)), scale=scale)
    assert out32.dtype == mx.float32
    np.testing.assert_allclose(np.array(out32), want, rtol=1e-5, atol=1e-5)


def test_hadamard_is_its_own_inverse_when_orthonormal(rng):
    x = mx.array(rng.uniform(-1, 1, (4, 32)).astype(np.float32))
    back = mx.hadamard_transform(mx.hadamard_transform(x))
    np.testing.assert_allclose(np.array(back), np.array(x), atol=1e-5)


def test_gradients_match_finite_differences(rng):
    x0 = rng.uniform(-1, 1, (2, 8))
    b0 = rng.uniform(-1, 1, (3, 2))
    w = rng.uniform(-1, 1, (2, 8))
    wk = rng.uniform(-1, 1, (6, 16))
    h = sylvester(8) / np.sqrt(8)
    f = lambda x: mx.sum(mx.hadamard_transform(x) * mx.array(w))
    np.testing.assert_allclose(np.array(mx.grad(f)(mx.array(x0))),
                               fd_grad(lambda x: ((x @ h) * w).sum(), x0), atol=1e-6)
    g = mx.grad(lambda a, b: mx.sum(mx.kron(a, b) * mx.array(wk)), argnums=(0, 1))
    ga, gb = g(mx.array(x0), mx.array(b0))
    np.testing.assert_allclose(np.array(ga), fd_grad(lambda a: (np.kron(a, b0) * wk).sum(), x0),
                               atol=1e-6)
    np.testing.assert_allclose(np.array(gb), fd_grad(lambda b: (np.kron(x0, b) * wk).sum(), b0),
                               atol=1e-6)


def on_both(f):
    if mlx is None:
        pytest.skip("mlx is not installed")
    return f(mx), f(mlx)


@pytest.mark.parametrize("dtype", ["int32", "float16", "bfloat16", "float32"])
def test_dtypes_and_values_match_mlx(dtype):
    x = np.random.default_rng(4).uniform(-2, 2, (3, 16))

    def f(m):
        a = m.array(x).astype(getattr(m, dtype))
        return [m.hadamard_transform(a), m.hadamard_transform(a, scale=2.0),
                m.kron(a[:2, :3], a[:3, :2])]
    for ours, theirs in zip(*on_both(f)):
        assert ours.shape == theirs.shape and str(ours.dtype) == str(theirs.dtype)
        want = np.array(theirs.astype(mlx.float32))
        # Half types: MLX rounds differently inside the transform (within a few ulp).
        tol = {"float16": 2e-3, "bfloat16": 2**-6}.get(dtype, 1e-5)
        np.testing.assert_allclose(np.array(ours.astype(mx.float32)), want, rtol=tol,
                                   atol=tol * np.abs(want).max())


@pytest.mark.parametrize("n", [3, 6, 10, 44])
def test_hadamard_of_unsupported_size_raises_value_error(n):
    with pytest.raises(ValueError, match="hadamard"):
        mx.hadamard_transform(mx.ones((n,)))
    if mlx is not None:
        with pytest.raises(ValueError):  # (MLX raises when it evaluates)
            mlx.eval(mlx.hadamard_transform(mlx.ones((n,))))


@pytest.mark.parametrize("n", [12, 24, 20, 80, 28, 56, 12 * 64])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hadamard_of_sizes_m_times_power_of_two(n, dtype, rng):
    """n = m * 2^k (m in 12, 20, 28): orthogonal (H Hᵀ = n I, so the default scale makes
    it its own inverse only for symmetric H, but always norm-preserving), and equal to
    MLX's values."""
    x = rng.standard_normal((3, n))
    d = getattr(mx, dtype)
    # H itself, from the transform of the identity: a ±1 matrix with H Hᵀ = n I.
    h = np.array(mx.hadamard_transform(mx.eye(n, dtype=mx.float64), scale=1.0))
    assert set(np.unique(h)) == {-1.0, 1.0}
    np.testing.assert_allclose(h @ h.T, n * np.eye(n), atol=1e-9)
    out = mx.hadamard_transform(mx.array(x, dtype=d))
    assert out.dtype == d
    tol = 1e-10 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(np.array(out), x @ h / np.sqrt(n), rtol=tol, atol=tol)
    if mlx is not None:
        want = np.array(mlx.hadamard_transform(mlx.array(x.astype(np.float32))))
        np.testing.assert_allclose(np.array(out.astype(mx.float32)), want, rtol=1e-5, atol=1e-5)
    # The gradient is the transpose: d/dx sum(H(x) * w) = w @ Hᵀ / sqrt(n).
    w = rng.standard_normal((3, n))
    g = mx.grad(lambda a: mx.sum(mx.hadamard_transform(a) * mx.array(w)))(mx.array(x))
    np.testing.assert_allclose(np.array(g), w @ h.T / np.sqrt(n), rtol=1e-5, atol=1e-5)
