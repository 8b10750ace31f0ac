"""Convolutions: values against a float64 NumPy reference (the definition, with dilation,
padding, groups and flip spelled out), the transposed forms and dtypes against MLX,
convolve against numpy.convolve, exception types against MLX, gradients against finite
differences and MLX's."""

import itertools

import numpy as np
import pytest

import ferrox.core as mx
from numeric import fd_grad

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None


def ref_conv(x, w, stride, lo, hi, kdil, idil, groups=1, flip=False):
    """The definition in float64: x [N, *I, C], w [O, *K, C/groups]."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    nd = x.ndim - 2
    full = lambda v: list(v) * nd if len(v) == 1 else list(v)
    stride, lo, hi, kdil, idil = map(full, (stride, lo, hi, kdil, idil))
    # Dilate, then pad (a negative pad crops).
    dil = np.zeros([x.shape[0]] + [(n - 1) * d + 1 for n, d in zip(x.shape[1:-1], idil)]
                   + [x.shape[-1]])
    dil[(slice(None),) + tuple(slice(None, None, d) for d in idil)] = x
    for ax in range(nd):
        a, b = lo[ax], hi[ax]
        widths = [(0, 0)] * dil.ndim
        widths[ax + 1] = (max(a, 0), max(b, 0))
        dil = np.pad(dil, widths)
        idx = [slice(None)] * dil.ndim
        idx[ax + 1] = slice(max(-a, 0), dil.shape[ax + 1] - max(-b, 0))
        dil = dil[tuple(idx)]
    if flip:
        w = w[(slice(None),) + (slice(None, None, -1),) * nd]
    ksz = w.shape[1:-1]
    out_sp = [(p - (k - 1) * d - 1) // s + 1 for p, k, d, s in zip(dil.shape[1:-1], ksz, kdil, stride)]
    cout, cin_g = w.shape[0], w.shape[-1]
    cout_g = cout // groups
    out = np.zeros([x.shape[0]] + out_sp + [cout])
    for k in itertools.product(*[range(n) for n in ksz]):
        win = dil[(slice(None),) + tuple(
            slice(kk * d, kk * d + (o - 1) * s + 1, s) for kk, d, o, s in zip(k, kdil, out_sp, stride)
        )]
        for g in range(groups):
            wk = w[(slice(g * cout_g, (g + 1) * cout_g),) + k]  # [cout_g, cin_g]
            out[..., g * cout_g:(g + 1) * cout_g] += win[..., g * cin_g:(g + 1) * cin_g] @ wk.T
    return out


CASES = [
    # x shape, w shape, stride, lo, hi, kdil, idil, groups, flip
    ((2, 9, 3), (4, 3, 3), [1], [0], [0], [1], [1], 1, False),
    ((1, 10, 4), (6, 2, 2), [2], [1], [2], [1], [1], 2, True),
    ((2, 7, 2), (3, 3, 2), [3], [2], [1], [2], [1], 1, False),
    ((2, 6, 2), (2, 2, 2), [1], [1], [0], [1], [2], 1, True),
    ((1, 8, 3), (2, 3, 3), [1], [-1], [2], [1], [1], 1, False),
    ((2, 5, 6, 3), (4, 3, 2, 3), [1, 2], [1, 0], [1, 2], [1, 2], [1, 1], 1, False),
    ((1, 7, 7, 4), (4, 3, 3, 1), [2, 1], [1, 1], [1, 1], [1, 1], [1, 1], 4, False),
    ((2, 4, 5, 2), (3, 2, 3, 2), [1, 1], [0, 2], [1, 0], [2, 1], [2, 3], 1, True),
    ((2, 6, 6, 8), (8, 1, 1, 8), [1, 1], [0, 0], [0, 0], [1, 1], [1, 1], 1, False),
    ((1, 4, 5, 3, 2), (3, 2, 3, 2, 2), [1, 2, 1], [1, 0, 1], [0, 1, 1], [1, 1, 2], [1, 1, 1], 1, False),
    ((2, 3, 3, 3, 4), (2, 2, 2, 2, 2), [1], [0], [1], [1], [2], 2, True),
]


@pytest.mark.parametrize("case", CASES)
def test_conv_general_against_definition(case, rng):
    xs, ws, stride, lo, hi, kdil, idil, groups, flip = case
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    out = mx.conv_general(mx.array(x), mx.array(w), stride=stride, padding=(lo, hi),
                          kernel_dilation=kdil, input_dilation=idil, groups=groups, flip=flip)
    want = ref_conv(x, w, stride, lo, hi, kdil, idil, groups, flip)
    assert out.shape == want.shape and out.dtype == mx.float32
    np.testing.assert_allclose(np.array(out), want, rtol=1e-4, atol=1e-4)
    # (MLX handles groups only in 1-D and 2-D.)
    if mlx is not None and min(lo + hi) >= 0 and (groups == 1 or len(xs) < 5):
        theirs = mlx.conv_general(mlx.array(x), mlx.array(w), stride=stride, padding=(lo, hi),
                                  kernel_dilation=kdil, input_dilation=idil, groups=groups, flip=flip)
        np.testing.assert_allclose(np.array(out), np.array(theirs), rtol=1e-4, atol=1e-4)


def test_conv_large_enough_to_split_into_blocks(rng):
    # More output rows than one block, several threads.
    x = rng.standard_normal((3, 30, 30, 16)).astype(np.float32)
    w = rng.standard_normal((24, 3, 3, 16)).astype(np.float32)
    out = mx.conv2d(mx.array(x), mx.array(w), stride=1, padding=1)
    np.testing.assert_allclose(np.array(out), ref_conv(x, w, [1], [1], [1], [1], [1]),
                               rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64", "complex64"])
def test_conv_dtypes(dtype, rng):
    x = rng.standard_normal((2, 6, 5, 3))
    w = rng.standard_normal((4, 3, 2, 3))
    if dtype == "complex64":
        x = x + 1j * rng.standard_normal(x.shape)
        w = w + 1j * rng.standard_normal(w.shape)
    dt = getattr(mx, dtype)
    out = mx.conv2d(mx.array(x).astype(dt), mx.array(w).astype(dt), padding=(1, 0))
    assert out.dtype == dt
    xr = np.array(mx.array(x).astype(dt).astype(mx.complex64 if dtype == "complex64" else mx.float64))
    wr = np.array(mx.array(w).astype(dt).astype(mx.complex64 if dtype == "complex64" else mx.float64))
    if dtype == "complex64":
        want = (ref_conv(xr.real, wr.real, [1], [1, 0], [1, 0], [1], [1])
                - ref_conv(xr.imag, wr.imag, [1], [1, 0], [1, 0], [1], [1])
                + 1j * (ref_conv(xr.real, wr.imag, [1], [1, 0], [1, 0], [1], [1])
                        + ref_conv(xr.imag, wr.real, [1], [1, 0], [1, 0], [1], [1])))
    else:
        want = ref_conv(xr, wr, [1], [1, 0], [1, 0], [1], [1])
    tol = {"float16": 2e-2, "bfloat16": 5e-2}.get(dtype, 1e-5)
    got = np.array(out.astype(mx.complex64 if dtype == "complex64" else mx.float64))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 4)


def test_conv_promotes_mixed_dtypes():
    x = mx.ones((1, 4, 2), mx.float16)
    assert mx.conv1d(x, mx.ones((1, 2, 2))).dtype == mx.float32
    assert mx.conv1d(x, mx.ones((1, 2, 2), mx.int32)).dtype == mx.float16


def test_conv_reads_strided_views(rng):
    x = rng.standard_normal((5, 8, 2, 3)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    xv = mx.array(x).transpose(2, 1, 0, 3)[:, ::2]  # [2, 4, 5, 3], not contiguous
    out = mx.conv2d(xv, mx.array(w)[:, ::-1], padding=1)
    want = ref_conv(x.transpose(2, 1, 0, 3)[:, ::2], w[:, ::-1], [1], [1], [1], [1], [1])
    np.testing.assert_allclose(np.array(out), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name,xs,ws,kw", [
    ("conv1d", (2, 9, 4), (6, 3, 2), dict(stride=2, padding=1, dilation=2, groups=2)),
    ("conv2d", (2, 7, 6, 3), (5, 3, 2, 3), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    ("conv3d", (1, 5, 4, 6, 2), (3, 2, 2, 3, 2), dict(stride=(1, 2, 1), padding=1)),
    ("conv_transpose1d", (2, 5, 3), (4, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose1d", (2, 5, 4), (4, 3, 2), dict(stride=1, dilation=2, groups=2)),
    ("conv_transpose2d", (1, 4, 4, 2), (3, 2, 2, 2), dict(stride=2, padding=1, output_padding=1, dilation=2)),
    ("conv_transpose2d", (2, 3, 5, 3), (2, 3, 3, 3), dict(stride=(1, 2), padding=(0, 1))),
    ("conv_transpose3d", (1, 3, 3, 2, 2), (2, 2, 2, 2, 2), dict(stride=2, padding=0)),
])
def test_conv_forms_against_mlx(name, xs, ws, kw, rng):
    if mlx is None:
        pytest.skip("MLX is not installed")
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    out = getattr(mx, name)(mx.array(x), mx.array(w), **kw)
    want = getattr(mlx, name)(mlx.array(x), mlx.array(w), **kw)
    assert out.shape == want.shape
    np.testing.assert_allclose(np.array(out), np.array(want), rtol=1e-4, atol=1e-4)


def test_conv_transpose_is_the_input_gradient_of_conv(rng):
    # conv_transpose(y, w) is the vjp of conv(., w) at cotangent y.
    x = rng.standard_normal((2, 9, 3)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3)).astype(np.float32)
    y = rng.standard_normal((2, 5, 4)).astype(np.float32)
    f = lambda a: mx.conv1d(a, mx.array(w), stride=2, padding=1)
    (_,), (vjp,) = mx.vjp(lambda a: [f(a)], [mx.array(x)], [mx.array(y)])
    wt = mx.array(w).transpose(2, 1, 0)  # [C_in, K, C_out]
    ct = mx.conv_transpose1d(mx.array(y), wt, stride=2, padding=1, output_padding=0)
    assert ct.shape == vjp.shape
    np.testing.assert_allclose(np.array(vjp), np.array(ct), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("m,n", [(7, 3), (3, 7), (6, 4), (5, 5), (1, 4), (8, 1)])
def test_convolve_against_numpy(mode, m, n, rng):
    a = rng.standard_normal(m).astype(np.float32)
    v = rng.standard_normal(n).astype(np.float32)
    out = mx.convolve(mx.array(a), mx.array(v), mode=mode)
    want = np.convolve(a.astype(np.float64), v.astype(np.float64), mode=mode)
    assert out.shape == want.shape
    np.testing.assert_allclose(np.array(out), want, rtol=1e-5, atol=1e-5)


GRAD_CASES = [
    ((2, 6, 2), (3, 3, 2), [2], [1], [0], [1], [1], 1, False),
    ((1, 7, 4), (4, 2, 2), [1], [0], [2], [2], [1], 2, True),
    ((1, 4, 2), (2, 2, 2), [1], [-1], [1], [1], [2], 1, False),
    ((1, 4, 5, 2), (2, 2, 3, 2), [2, 1], [1, 0], [0, 1], [1, 2], [1, 1], 1, True),
    ((1, 3, 3, 2), (2, 2, 2, 1), [1, 1], [1, 1], [1, 1], [1, 1], [2, 1], 2, False),
]


@pytest.mark.parametrize("case", GRAD_CASES)
def test_conv_gradients_against_finite_differences(case, rng):
    xs, ws, stride, lo, hi, kdil, idil, groups, flip = case
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    nd = len(xs) - 2
    out_sp = ref_conv(x, w, stride, lo, hi, kdil, idil, groups, flip).shape
    probe = rng.standard_normal(out_sp)
    loss_np = lambda a, b: float((ref_conv(a, b, stride, lo, hi, kdil, idil, groups, flip) * probe).sum())

    def loss(a, b):
        y = mx.conv_general(a, b, stride=stride, padding=(lo, hi), kernel_dilation=kdil,
                            input_dilation=idil, groups=groups, flip=flip)
        return (y * mx.array(probe, mx.float64)).sum()

    gx, gw = mx.grad(loss, argnums=(0, 1))(mx.array(x, mx.float64), mx.array(w, mx.float64))
    np.testing.assert_allclose(np.array(gx), fd_grad(lambda a: loss_np(a, w), x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.array(gw), fd_grad(lambda b: loss_np(x, b), w), rtol=1e-6, atol=1e-6)
    assert nd in (1, 2)


def test_conv_second_order_gradient(rng):
    # d/dw of sum((d/dx loss)^2) runs through the gradient's own convolutions.
    x = rng.standard_normal((1, 5, 2))
    w = rng.standard_normal((2, 3, 2))
    probe = rng.standard_normal((1, 3, 2))

    def inner(a, b):
        return (mx.conv1d(a, b) * mx.array(probe)).sum()

    def outer(b):
        return (mx.grad(inner)(mx.array(x), b) ** 2).sum()

    def outer_np(b):
        # grad wrt x of a linear map, by finite differences, then squared.
        lin = lambda a: float((ref_conv(a, b, [1], [0], [0], [1], [1]) * probe).sum())
        return float((fd_grad(lin, x, eps=1e-4) ** 2).sum())

    g = mx.grad(outer)(mx.array(w, mx.float64))
    np.testing.assert_allclose(np.array(g), fd_grad(outer_np, w, eps=1e-4), rtol=1e-4, atol=1e-4)


def test_conv_jvp_and_vmap(rng):
    x = rng.standard_normal((3, 2, 6, 2)).astype(np.float32)  # a batch of [2, 6, 2] inputs
    w = rng.standard_normal((4, 3, 2)).astype(np.float32)
    f = lambda a, b: mx.conv1d(a, b, padding=1)
    out = mx.vmap(f, in_axes=(0, None))(mx.array(x), mx.array(w))
    want = np.stack([ref_conv(xi, w, [1], [1], [1], [1], [1]) for xi in x])
    np.testing.assert_allclose(np.array(out), want, rtol=1e-4, atol=1e-4)
    # A batch of weights (vmap over axis 1 of a [4, 2, 3, 2] stack).
    ws = rng.standard_normal((4, 2, 3, 2)).astype(np.float32)
    out = mx.vmap(f, in_axes=(None, 1))(mx.array(x[0]), mx.array(ws))
    want = np.stack([ref_conv(x[0], ws[:, i], [1], [1], [1], [1], [1]) for i in range(2)])
    np.testing.assert_allclose(np.array(out), want, rtol=1e-4, atol=1e-4)
    # jvp: bilinear.
    tx, tw = rng.standard_normal(x[0].shape).astype(np.float32), rng.standard_normal(w.shape).astype(np.float32)
    _, (t,) = mx.jvp(lambda a, b: [f(a, b)], [mx.array(x[0]), mx.array(w)], [mx.array(tx), mx.array(tw)])
    want = ref_conv(tx, w, [1], [1], [1], [1], [1]) + ref_conv(x[0], tw, [1], [1], [1], [1], [1])
    np.testing.assert_allclose(np.array(t), want, rtol=1e-4, atol=1e-4)


def test_conv_compiles(rng):
    x = mx.array(rng.standard_normal((2, 6, 6, 3)).astype(np.float32))
    w = mx.array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    f = lambda a, b: mx.maximum(mx.conv2d(a, b, padding=1), 0.0) * 2.0
    np.testing.assert_allclose(np.array(mx.compile(f)(x, w)), np.array(f(x, w)), rtol=1e-6)


ERRORS = [
    lambda m: m.conv1d(m.ones((5, 3)), m.ones((4, 3, 3))),
    lambda m: m.conv1d(m.ones((2, 5, 3)), m.ones((4, 3, 2))),
    lambda m: m.conv1d(m.ones((2, 5, 3)), m.ones((4, 3, 3)), stride=0),
    lambda m: m.conv1d(m.ones((2, 5, 3)), m.ones((4, 7, 3))),
    lambda m: m.conv1d(m.ones((2, 5, 3)), m.ones((4, 3, 3)), groups=2),
    lambda m: m.conv1d(m.ones((2, 5, 4)), m.ones((3, 3, 2)), groups=2),
    lambda m: m.conv2d(m.ones((2, 5, 3)), m.ones((4, 3, 3))),
    lambda m: m.conv2d(m.ones((2, 5, 5, 3)), m.ones((4, 3, 3))),
    lambda m: m.conv_general(m.ones((2, 5, 3)), m.ones((4, 3, 3)), padding=(1, 2)),
    lambda m: m.conv_general(m.ones((2, 5, 3)), m.ones((4, 3, 3)), input_dilation=0),
    lambda m: m.conv_general(m.ones((2, 5, 3)), m.ones((4, 3, 3)), kernel_dilation=[1, 2]),
    lambda m: m.conv1d(m.ones((2, 5, 3), m.int32), m.ones((4, 3, 3), m.int32)),
    lambda m: m.convolve(m.ones((3,)), m.ones((2, 2))),
    lambda m: m.convolve(m.ones((5,)), m.ones((3,)), mode="bad"),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_conv_errors_like_mlx(i):
    with pytest.raises(ValueError) as ours:
        ERRORS[i](mx)
    if mlx is not None:
        with pytest.raises(ValueError) as theirs:
            mlx.eval(ERRORS[i](mlx))
        assert str(ours.value) == str(theirs.value)


def test_conv_groups_must_be_positive():
    # (MLX's CPU build crashes on groups=0.)
    with pytest.raises(ValueError, match="groups"):
        mx.conv1d(mx.ones((2, 5, 4)), mx.ones((4, 3, 2)), groups=0)
