"""``mx.linalg`` against NumPy, reconstruction identities and real MLX: values, dtypes and
shapes on random well-conditioned matrices (several sizes, batch shapes, float32 and
float64, transposed views), gradients against finite differences, and MLX's exception
types for bad input.
"""

import numpy as np
import pytest
from numeric import fd_grad

import ferrox.core as mx

mlx = pytest.importorskip("mlx.core")
L = mx.linalg

SQUARE = [(1, 1), (3, 3), (2, 4, 4), (2, 1, 5, 5)]
RECT = [(3, 3), (5, 3), (2, 3, 5), (2, 1, 4, 2)]
DTYPES = ["float32", "float64"]
TOL = {"float32": 2e-4, "float64": 1e-10}


def rand(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape)


def well(shape, seed=0):
    x = rand(shape, seed)
    if shape[-1] == shape[-2]:
        x = x + (shape[-1] + 1) * np.eye(shape[-1])
    return x


def spd(shape, seed=0):
    x = rand(shape, seed)
    return x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])


def arr(x, dtype, strided=False):
    """A ferrox array of x; `strided`: a transposed (non-contiguous) view of the values."""
    if strided:
        t = mx.array(np.ascontiguousarray(np.swapaxes(x, -1, -2)), dtype=getattr(mx, dtype))
        return mx.swapaxes(t, -1, -2)
    return mx.array(x, dtype=getattr(mx, dtype))


def close(got, want, dtype, scale=1.0):
    np.testing.assert_allclose(
        np.array(got, dtype=np.complex128 if np.iscomplexobj(want) else np.float64),
        want,
        rtol=TOL[dtype] * scale,
        atol=TOL[dtype] * scale,
    )


def mT(x):
    return np.swapaxes(x, -1, -2)


def cases(shapes):
    return [(s, d, st) for s in shapes for d in DTYPES for st in (False, True)]


@pytest.mark.parametrize("shape,dtype,strided", cases(SQUARE))
def test_inverses_solves_and_determinants(shape, dtype, strided):
    x = well(shape, 1)
    a = arr(x, dtype, strided)
    inv = L.inv(a)
    assert inv.dtype == getattr(mx, dtype) and inv.shape == shape
    close(inv, np.linalg.inv(x), dtype, 10)
    close(L.tri_inv(a), np.linalg.inv(np.tril(x)), dtype, 10)
    close(L.tri_inv(a, upper=True), np.linalg.inv(np.triu(x)), dtype, 10)
    b = rand(shape[:-1] + (2,), 2)
    close(L.solve(a, arr(b, dtype)), np.linalg.solve(x, b), dtype, 10)
    bv = rand(shape[-1:], 3)
    close(L.solve(a, arr(bv, dtype)), np.linalg.solve(x, bv[..., None])[..., 0], dtype, 10)
    close(
        L.solve_triangular(a, arr(b, dtype), upper=True),
        np.linalg.solve(np.triu(x), b),
        dtype,
        10,
    )
    close(L.det(a), np.linalg.det(x), dtype, 10)
    sign, logabs = L.slogdet(a)
    s_np, l_np = np.linalg.slogdet(x)
    close(sign, s_np, dtype)
    close(logabs, l_np, dtype, 10)
    close(L.pinv(a), np.linalg.pinv(x), dtype, 10)


@pytest.mark.parametrize("shape,dtype,strided", cases(SQUARE))
def test_cholesky_and_symmetric_eigen(shape, dtype, strided):
    x = spd(shape, 4)
    a = arr(x, dtype, strided)
    lo = L.cholesky(a)
    close(lo, np.linalg.cholesky(x), dtype, 10)
    close(L.cholesky(a, upper=True), mT(np.linalg.cholesky(x)), dtype, 10)
    close(L.cholesky_inv(lo), np.linalg.inv(x), dtype, 100)
    close(L.cholesky_inv(L.cholesky(a, upper=True), upper=True), np.linalg.inv(x), dtype, 100)
    w, v = L.eigh(a)
    close(w, np.linalg.eigvalsh(x), dtype, 10)
    v = np.array(v, dtype=np.float64)
    close(x @ v, v * np.array(w)[..., None, :], dtype, 100)
    # Only the named triangle is read.
    close(L.eigvalsh(arr(np.triu(x), dtype), UPLO="U"), np.linalg.eigvalsh(x), dtype, 10)
    close(L.eigvalsh(arr(np.tril(x), dtype)), np.linalg.eigvalsh(x), dtype, 10)


@pytest.mark.parametrize("shape,dtype,strided", cases(SQUARE))
def test_eig(shape, dtype, strided):
    x = rand(shape, 5)
    a = arr(x, dtype, strided)
    w, v = L.eig(a)
    assert w.dtype == mx.complex64 and v.dtype == mx.complex64
    w, v = np.array(w), np.array(v)
    np.testing.assert_allclose(x @ v, v * w[..., None, :], atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(v, axis=-2), 1, atol=1e-5)
    key = lambda z: np.sort_complex(np.round(z, 4).reshape(-1, shape[-1]))
    np.testing.assert_allclose(key(np.array(L.eigvals(a))), key(np.linalg.eigvals(x)), atol=1e-3)


@pytest.mark.parametrize("shape,dtype,strided", cases(RECT))
def test_qr_svd_lu(shape, dtype, strided):
    x = rand(shape, 6)
    a = arr(x, dtype, strided)
    m, n = shape[-2:]
    k = min(m, n)
    q, r = L.qr(a)
    assert q.shape == shape[:-2] + (m, k) and r.shape == shape[:-2] + (k, n)
    q, r = np.array(q, dtype=np.float64), np.array(r, dtype=np.float64)
    close(q @ r, x, dtype)
    close(mT(q) @ q, np.broadcast_to(np.eye(k), shape[:-2] + (k, k)), dtype)
    assert np.all(np.tril(r, -1) == 0)
    u, s, vt = L.svd(a)
    assert u.shape == shape[:-2] + (m, m) and vt.shape == shape[:-2] + (n, n)
    close(s, np.linalg.svd(x, compute_uv=False), dtype, 10)
    close(L.svd(a, compute_uv=False), np.linalg.svd(x, compute_uv=False), dtype, 10)
    u, s, vt = (np.array(t, dtype=np.float64) for t in (u, s, vt))
    close((u[..., :k] * s[..., None, :]) @ vt[..., :k, :], x, dtype, 10)
    p, lo, up = L.lu(a)
    assert p.dtype == mx.uint32 and lo.shape == shape[:-2] + (m, k)
    p, lo, up = np.array(p), np.array(lo, dtype=np.float64), np.array(up, dtype=np.float64)
    close(np.take_along_axis(lo, p[..., None].astype(np.int64), axis=-2) @ up, x, dtype)
    lu, piv = L.lu_factor(a)
    assert lu.shape == shape and piv.shape == shape[:-2] + (k,) and piv.dtype == mx.uint32
    close(np.triu(np.array(lu, dtype=np.float64))[..., :k, :], up, dtype)


def test_values_and_dtypes_match_mlx():
    x = well((2, 3, 3), 7)
    for dtype in DTYPES:
        a, b = mx.array(x, dtype=getattr(mx, dtype)), mlx.array(x, dtype=getattr(mlx, dtype))
        c = mlx.cpu
        pairs = [
            (L.inv(a), mlx.linalg.inv(b, stream=c)),
            (L.det(a), mlx.linalg.det(b, stream=c)),
            (L.lu_factor(a)[1], mlx.linalg.lu_factor(b, stream=c)[1]),
            (L.lu(a)[0], mlx.linalg.lu(b, stream=c)[0]),
            (L.lu(a)[1], mlx.linalg.lu(b, stream=c)[1]),
            (L.svd(a, compute_uv=False), mlx.linalg.svd(b, compute_uv=False, stream=c)),
            (L.eigvalsh(a + mx.swapaxes(a, -1, -2)), mlx.linalg.eigvalsh(b + b.swapaxes(-1, -2), stream=c)),
            (L.norm(a), mlx.linalg.norm(b)),
            (L.cross(a, a * a), mlx.linalg.cross(b, b * b)),
        ]
        for got, want in pairs:
            assert got.dtype == getattr(mx, str(want.dtype).split(".")[-1])
            assert got.shape == want.shape
            close(got, np.array(want, dtype=np.float64), dtype, 100)
        assert L.eig(a)[0].dtype == mx.complex64
    # det of integers (float32) and of float16 (returned in float16), as MLX.
    i = np.array([[2, 1], [1, 3]], dtype=np.int32)
    assert L.det(mx.array(i)).dtype == mx.float32 and L.det(mx.array(i)).item() == 5
    assert L.det(mx.array(i, dtype=mx.float16)).dtype == mx.float16


@pytest.mark.parametrize(
    "ord", [None, "fro", "nuc", np.inf, -np.inf, 0, 1, -1, 2, -2, 3, 0.5]
)
def test_norm_matches_numpy_and_mlx(ord):
    x = rand((3, 4), 8)
    a, b = mx.array(x), mlx.array(x.astype(np.float32))
    for axis in [None, 1, 0, (0, 1), (1, 0)]:
        naxes = 2 if axis is None else (1 if isinstance(axis, int) else 2)
        want_err = (isinstance(ord, str) and naxes == 1) or (
            naxes == 2 and ord not in (None, "fro", "nuc", np.inf, -np.inf, 1, -1, 2, -2)
        )
        if want_err:
            with pytest.raises(ValueError):
                mlx.linalg.norm(b, ord, axis)
            with pytest.raises(ValueError):
                L.norm(a, ord, axis)
            continue
        for keepdims in (False, True):
            got = L.norm(a, ord, axis, keepdims)
            want = np.linalg.norm(x, ord, axis, keepdims)
            assert got.shape == want.shape
            close(got, want, "float32", 10)
            ref = mlx.linalg.norm(b, ord, list(axis) if isinstance(axis, tuple) else axis, keepdims)
            assert got.shape == ref.shape
    # Vector norms of a 1-D array, integers give float32, a 3-D array with no ord.
    close(L.norm(mx.array(x[0]), ord if not isinstance(ord, str) else None), np.linalg.norm(x[0], ord if not isinstance(ord, str) else None), "float32", 10)
    assert L.norm(mx.array([3, 4]), 1).dtype == mx.float32
    c = rand((2, 3, 4), 9)
    close(L.norm(mx.array(c), axis=[0, 2], keepdims=True), np.linalg.norm(c, axis=(0, 2), keepdims=True), "float32")


def test_cross_matches_numpy():
    a, b = rand((4, 3), 10), rand((3,), 11)
    close(L.cross(mx.array(a), mx.array(b)), np.cross(a, b), "float32")
    close(L.cross(mx.array(a.T), mx.array(b[:, None]), axis=0), np.cross(a.T, b[:, None], axis=0), "float32")
    # 2-vectors get a zero third component, as MLX.
    got = L.cross(mx.array([1.0, 0.0]), mx.array([0.0, 1.0, 0.0]))
    assert got.tolist() == mlx.linalg.cross(mlx.array([1.0, 0.0]), mlx.array([0.0, 1.0, 0.0])).tolist()


def test_singular_matrices_behave_like_mlx():
    s = [[1.0, 2.0], [2.0, 4.0]]
    a, b = mx.array(s), mlx.array(s)
    with pytest.raises(RuntimeError):
        mlx.eval(mlx.linalg.inv(b, stream=mlx.cpu))
    with pytest.raises(RuntimeError):
        mx.eval(L.inv(a))
    with pytest.raises(RuntimeError):
        mx.eval(L.solve(a, mx.array([1.0, 1.0])))
    with pytest.raises(RuntimeError):
        mx.eval(L.tri_inv(mx.zeros((3, 3))))
    assert L.det(a).item() == 0.0
    sign, logabs = L.slogdet(a)
    assert sign.item() == 0.0 and logabs.item() == -np.inf
    close(L.pinv(a), np.array(mlx.linalg.pinv(b, stream=mlx.cpu)), "float32", 10)
    # Not positive definite: LAPACK's partial factor, no error (MLX's result).
    npd = [[1.0, 2.0], [2.0, 1.0]]
    assert L.cholesky(mx.array(npd)).tolist() == mlx.linalg.cholesky(mlx.array(npd), stream=mlx.cpu).tolist()


def grad_check(f, x, tol=1e-5):
    """mx.grad of sum(f(x) * w) against central differences, in float64."""
    f64 = lambda v: mx.array(v, dtype=mx.float64)
    w = rand(np.shape(np.array(f(f64(x)))), 99)
    loss = lambda t: mx.sum(f(t) * f64(w))
    g = np.array(mx.grad(loss)(f64(x)))
    num = fd_grad(lambda v: loss(f64(v)).item(), x)
    np.testing.assert_allclose(g, num, rtol=tol, atol=tol)


def sym(t):
    return t @ mx.swapaxes(t, -1, -2) + 3 * mx.eye(3, dtype=mx.float64)


GRADS = {
    "inv": lambda t: L.inv(t),
    "tri_inv": lambda t: L.tri_inv(t, upper=True),
    "det": lambda t: L.det(t),
    "slogdet": lambda t: L.slogdet(t)[1],
    "solve": lambda t: L.solve(t, mx.ones((3, 2), dtype=mx.float64)),
    "solve_triangular": lambda t: L.solve_triangular(t, mx.ones((3,), dtype=mx.float64)),
    "cholesky": lambda t: L.cholesky(sym(t)),
    "cholesky_inv": lambda t: L.cholesky_inv(L.cholesky(sym(t))),
    # Eigenvectors up to sign: V² is sign-free.
    "eigh": lambda t: (lambda w, v: v**2 + w[..., None, :])(*L.eigh(sym(t))),
    "eigvalsh": lambda t: L.eigvalsh(sym(t), UPLO="U"),
    "svd": lambda t: (lambda u, s, vt: u**2 + vt**2 + s[..., None])(*L.svd(t)),
    "svd_values": lambda t: L.svd(t, compute_uv=False),
    "qr": lambda t: (lambda q, r: q + r)(*L.qr(t)),
    # One output of several kept (the others dropped).
    "eigh_w_only": lambda t: L.eigh(sym(t))[0],
    "qr_r_only": lambda t: L.qr(t)[1],
    "svd_s_only": lambda t: L.svd(t)[1],
    "pinv": lambda t: L.pinv(t),
    "norm_nuc": lambda t: L.norm(t, "nuc", axis=(-2, -1)),
    "norm_2": lambda t: L.norm(t, 2, axis=(-2, -1)),
    "norm_inf": lambda t: L.norm(t, np.inf, axis=-1),
    "cross": lambda t: L.cross(t, t * t),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_match_finite_differences(name):
    grad_check(GRADS[name], well((2, 3, 3), 12))


def _svd_parts(t):
    """U_k, S, V_k, U's and V's complements (k = min(m, n))."""
    u, s, vt = L.svd(t)
    k = s.shape[-1]
    v = mx.swapaxes(vt, -1, -2)
    return u[..., :k], s, v[..., :k], u[..., k:], v[..., k:]


def _proj(x, c=None):
    """x diag(c) xᵀ (free of the signs of x's columns, and of the basis of its span
    when c is None)."""
    y = x if c is None else x * c
    return y @ mx.swapaxes(x, -1, -2)


NONSQUARE = {
    # U_k S V_kᵀ = A: every cotangent reaches the rule.
    "svd_reconstruct": lambda t: (lambda uk, s, vk, up, vp: (uk * s[..., None, :]) @ mx.swapaxes(vk, -1, -2))(*_svd_parts(t)),
    "svd_vectors": lambda t: (lambda uk, s, vk, up, vp: mx.concatenate(
        [mx.sum(_proj(uk, mx.arange(1, s.shape[-1] + 1)), -1), mx.sum(_proj(vk, mx.arange(1, s.shape[-1] + 1)), -1), s], -1))(*_svd_parts(t)),
    "svd_complements": lambda t: (lambda uk, s, vk, up, vp: mx.concatenate(
        [mx.sum(_proj(up), -1), mx.sum(_proj(vp), -1)], -1))(*_svd_parts(t)),
    "pinv": lambda t: L.pinv(t),
    "qr": lambda t: (lambda q, r: mx.concatenate([q, r], -1 if t.shape[-2] < t.shape[-1] else -2))(*L.qr(t)),
    "qr_q_only": lambda t: L.qr(t)[0],
}


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (5, 2), (2, 3, 5)])
@pytest.mark.parametrize("name", sorted(NONSQUARE))
def test_nonsquare_svd_and_qr_gradients(name, shape):
    """Beyond MLX (whose CPU build has no SVD or QR vjp): the singular vectors of
    non-square matrices and wide QR, on losses free of the factorisations' choices."""
    grad_check(NONSQUARE[name], rand(shape, 21))


def test_vmap_matches_a_loop():
    x = well((3, 2, 3, 3), 13)
    for f in (L.inv, L.det, lambda t: L.svd(t, compute_uv=False), lambda t: L.qr(t)[1]):
        got = mx.vmap(f, in_axes=1)(mx.array(x, dtype=mx.float64))
        want = np.stack([np.array(f(mx.array(x[:, i], dtype=mx.float64))) for i in range(2)])
        np.testing.assert_allclose(np.array(got), want, rtol=1e-10, atol=1e-10)


ONE_MATRIX = [
    "cholesky", "cholesky_inv", "eigh", "eig", "eigvals", "eigvalsh", "inv", "det",
    "slogdet", "tri_inv", "qr", "svd", "lu", "lu_factor", "pinv",
]


@pytest.mark.parametrize("name", ONE_MATRIX)
def test_errors_have_mlxs_types(name):
    def both(x, y=None):
        for mod, arr_, kw in ((L, mx.array, {}), (mlx.linalg, mlx.array, {"stream": mlx.cpu})):
            with pytest.raises(ValueError):
                r = getattr(mod, name)(arr_(x), **kw)
                mlx.eval(r) if mod is mlx.linalg else mx.eval(r)

    both(np.ones(3, dtype=np.float32))  # ndim < 2
    if name not in ("det", "slogdet"):
        both(np.ones((3, 3), dtype=np.int32))  # integer dtype
    if name not in ("qr", "svd", "lu", "lu_factor", "pinv"):
        both(np.ones((3, 2), dtype=np.float32))  # not square
    with pytest.raises(TypeError):  # lists are not arrays, as in MLX
        getattr(L, name)([[1.0, 0.0], [0.0, 1.0]])


def test_solve_cross_norm_errors():
    eye, v = mx.eye(3), mx.ones(3)
    for args in [(v, v), (mx.ones((3, 2)), v), (eye, mx.array(1.0)), (eye, mx.ones(4))]:
        with pytest.raises(ValueError):
            L.solve(*args)
        with pytest.raises(ValueError):
            L.solve_triangular(*args)
    with pytest.raises(ValueError):
        L.cross(v, mx.ones(4))
    with pytest.raises(IndexError):
        L.cross(v, v, axis=1)
    with pytest.raises(ValueError):
        L.norm(mx.ones((2, 2, 2)), 2)
    with pytest.raises(ValueError):
        L.norm(mx.ones((2, 2, 2)), axis=[0, 1, 2])
    with pytest.raises(IndexError):
        L.norm(mx.ones((2, 2, 2)), axis=5)
    with pytest.raises(TypeError):
        L.norm(eye, [1])


def test_module_is_registered():
    import sys

    assert sys.modules["ferrox.core.linalg"] is mx.linalg
    import ferrox.core.linalg as la

    assert la.inv is mx.linalg.inv
