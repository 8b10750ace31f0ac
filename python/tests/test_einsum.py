"""einsum and einsum_path: values against numpy.einsum over many equations (implicit
and explicit outputs, diagonals, broadcasting ellipses, three and four operands),
dtypes and the contraction report against MLX, gradients against finite differences,
and MLX's errors."""

import numpy as np
import pytest

import ferrox.core as mx
from numeric import fd_grad

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None

CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("ij,kj->ik", [(3, 4), (5, 4)]),
    ("i,i", [(6,), (6,)]),
    ("i,i->i", [(6,), (6,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ii", [(4, 4)]),
    ("ii->i", [(4, 4)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ijk->kij", [(2, 3, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (3, 4)]),
    ("...ij,...jk", [(2, 1, 2, 3), (4, 3, 2)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij,jk,kl->il", [(3, 4), (4, 5), (5, 2)]),
    ("ij,jk,kl,lm->im", [(2, 3), (3, 4), (4, 5), (5, 2)]),
    ("ijj,jk->ik", [(2, 3, 3), (3, 4)]),
    ("ij,ij->i", [(3, 4), (1, 4)]),
    ("i,jk->", [(3,), (2, 2)]),
    ("ab,bc,ca->", [(2, 3), (3, 4), (4, 2)]),
]


@pytest.mark.parametrize("eq,shapes", CASES)
def test_einsum_against_numpy(eq, shapes, rng):
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    out = mx.einsum(eq, *[mx.array(x) for x in xs])
    want = np.einsum(eq, *[x.astype(np.float64) for x in xs])
    assert out.shape == want.shape and out.dtype == mx.float32
    np.testing.assert_allclose(np.array(out), want, rtol=1e-4, atol=1e-4)
    if mlx is not None:
        theirs = mlx.einsum(eq, *[mlx.array(x) for x in xs])
        assert theirs.shape == out.shape


@pytest.mark.parametrize("eq,shapes", [c for c in CASES if len(c[1]) <= 2])
def test_einsum_path_like_mlx(eq, shapes, rng):
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    path, report = mx.einsum_path(eq, *[mx.array(x) for x in xs])
    assert path == ([(0, 1)] if len(shapes) == 2 else [(0,)])
    if mlx is not None:
        tpath, treport = mlx.einsum_path(eq, *[mlx.array(x) for x in xs])
        assert path == tpath
        assert report == treport


def test_einsum_path_orders_three_operands_smallest_first(rng):
    a, b, c = (mx.array(rng.standard_normal(s).astype(np.float32)) for s in [(50, 2), (2, 50), (50, 3)])
    path, _ = mx.einsum_path("ij,jk,kl->il", a, b, c)
    # (b, c) gives 2x3; (a, b) would give 50x50.
    assert path == [(1, 2), (0, 1)]


def test_einsum_dtypes_and_promotion():
    a = mx.ones((2, 3), mx.float16)
    assert mx.einsum("ij,jk", a, mx.ones((3, 2), mx.float16)).dtype == mx.float16
    assert mx.einsum("ij,jk", a, mx.ones((3, 2), mx.int32)).dtype == mx.float16
    assert mx.einsum("ij,jk", a, mx.ones((3, 2))).dtype == mx.float32


def test_einsum_gradients(rng):
    a = rng.standard_normal((3, 4))
    b = rng.standard_normal((4, 4))
    c = rng.standard_normal((3,))

    def f(x, y, z):
        return mx.einsum("ij,jj,i->", x, y, z)

    def f_np(x, y, z):
        return float(np.einsum("ij,jj,i->", x, y, z))

    ga, gb, gc = mx.grad(f, argnums=(0, 1, 2))(mx.array(a, mx.float64), mx.array(b, mx.float64),
                                             mx.array(c, mx.float64))
    np.testing.assert_allclose(np.array(ga), fd_grad(lambda x: f_np(x, b, c), a), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.array(gb), fd_grad(lambda y: f_np(a, y, c), b), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.array(gc), fd_grad(lambda z: f_np(a, b, z), c), rtol=1e-6, atol=1e-8)


ERRORS = [
    lambda m: m.einsum("ij,jk->ik", m.ones((2, 3))),
    lambda m: m.einsum("ij,jk->ik", m.ones((2, 3)), m.ones((2, 3))),
    lambda m: m.einsum("i", m.ones((2, 3))),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_einsum_errors_like_mlx(i):
    with pytest.raises(ValueError) as ours:
        ERRORS[i](mx)
    if mlx is not None:
        with pytest.raises(ValueError) as theirs:
            mlx.eval(ERRORS[i](mlx))
        assert str(ours.value) == str(theirs.value)


def test_einsum_output_subscripts_must_come_from_inputs():
    with pytest.raises(ValueError, match="does not appear"):
        mx.einsum("ij->k", mx.ones((2, 3)))
    with pytest.raises(ValueError, match="letters"):
        mx.einsum("i1", mx.ones((2, 3)))
