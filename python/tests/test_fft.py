"""mx.fft: values against numpy.fft, dtypes, shapes and exception types against MLX,
gradients against finite differences and MLX's, stft/istft
against MLX and a framed NumPy reference."""

import numpy as np
import pytest

import ferrox.core as mx
from numeric import fd_grad

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None

needs_mlx = pytest.mark.skipif(mlx is None, reason="MLX is not installed")
NORMS = ["backward", "ortho", "forward"]


def crand(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def close(got, want, tol=2e-5):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    assert np.max(np.abs(got - want), initial=0.0) <= tol * scale * 10, (got, want)


ONE_D = [((8,), None, -1), ((3, 5), 4, 0), ((3, 5), 9, -1), ((2, 3, 7), None, 1), ((4, 6), 5, 1)]


@pytest.mark.parametrize("shape,n,axis", ONE_D)
@pytest.mark.parametrize("norm", NORMS)
def test_one_dimensional_transforms_match_numpy(shape, n, axis, norm):
    rng = np.random.default_rng(0)
    x, r = crand(rng, shape), rng.standard_normal(shape).astype(np.float32)
    for name, inp in [("fft", x), ("ifft", x), ("fft", r), ("rfft", r), ("irfft", x)]:
        got = getattr(mx.fft, name)(mx.array(inp), n=n, axis=axis, norm=norm)
        want = getattr(np.fft, name)(inp.astype(np.complex128 if inp.dtype == np.complex64 else np.float64), n=n, axis=axis, norm=norm)
        assert got.dtype == (mx.float32 if name == "irfft" else mx.complex64)
        close(got, want)


@pytest.mark.parametrize("name", ["fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn", "rfftn", "irfftn"])
def test_multi_dimensional_transforms_match_numpy(name):
    rng = np.random.default_rng(1)
    x = crand(rng, (3, 4, 6)) if "irfft" in name or name.startswith(("fft", "ifft")) else rng.standard_normal((3, 4, 6)).astype(np.float32)
    for kw in [{}, {"axes": [0, 2]}, {"s": [5, 3], "axes": [1, 0]}, {"s": [2, 4, 7], "axes": [0, 1, 2]}]:
        if name.endswith("2") and "axes" in kw and len(kw["axes"]) != 2:
            continue
        for norm in NORMS:
            got = getattr(mx.fft, name)(mx.array(x), norm=norm, **kw)
            want = getattr(np.fft, name)(x.astype(np.complex128 if x.dtype == np.complex64 else np.float64), norm=norm, **kw)
            close(got, want)


def test_non_contiguous_inputs_and_input_dtypes():
    rng = np.random.default_rng(2)
    x = crand(rng, (6, 8))
    a = mx.array(x)
    close(mx.fft.fft(a.T), np.fft.fft(x.T))
    close(mx.fft.fft(a[1::2, ::3], axis=0), np.fft.fft(x[1::2, ::3], axis=0))
    close(mx.fft.rfft(mx.real(a).T, axis=0), np.fft.rfft(x.real.T, axis=0))
    for v in [np.arange(6, dtype=np.int32), np.arange(6, dtype=np.float64), np.array([True, False, True])]:
        for name in ["fft", "rfft", "ifft", "irfft"]:
            got = getattr(mx.fft, name)(mx.array(v))
            close(got, getattr(np.fft, name)(v.astype(np.float64)))
            if mlx is not None:
                assert str(got.dtype).split(".")[-1] == str(getattr(mlx.fft, name)(mlx.array(v)).dtype).split(".")[-1]
    # rfft of complex input transforms the real part, as MLX does.
    close(mx.fft.rfft(a), np.fft.rfft(x.real))


def test_frequencies_and_shifts_match_numpy():
    for n, d in [(5, 1.0), (6, 0.5), (1, 2.0), (8, 0.1)]:
        close(mx.fft.fftfreq(n, d), np.fft.fftfreq(n, d))
        close(mx.fft.rfftfreq(n, d), np.fft.rfftfreq(n, d))
        assert mx.fft.fftfreq(n, d).dtype == mx.float32
    x = np.arange(24).reshape(2, 3, 4)
    for axes in [None, 0, [1], (0, 2), [-1, -2]]:
        assert np.array_equal(mx.fft.fftshift(mx.array(x), axes=axes), np.fft.fftshift(x, axes=axes))
        assert np.array_equal(mx.fft.ifftshift(mx.array(x), axes=axes), np.fft.ifftshift(x, axes=axes))
    assert mx.fft.fftshift(mx.array(x)).dtype == mx.array(x).dtype


BAD_CALLS = [
    ("fft", lambda m, a: m.fft.fft(a, n=0)),
    ("fft", lambda m, a: m.fft.fft(a, n=-1)),
    ("fft", lambda m, a: m.fft.fft(a, axis=2)),
    ("rfft", lambda m, a: m.fft.rfft(a, axis=-3)),
    ("fft", lambda m, a: m.fft.fft(a, norm="bad")),
    ("fftn", lambda m, a: m.fft.fftn(a, axes=[0, 0])),
    ("fftn", lambda m, a: m.fft.fftn(a, axes=[5])),
    ("fftn", lambda m, a: m.fft.fftn(a, s=[3], axes=[0, 1])),
    ("fftn", lambda m, a: m.fft.fftn(a, s=[2, 2])),
    ("fft2", lambda m, a: m.fft.fft2(a[0])),
    ("fft", lambda m, a: m.fft.fft(a[0, 0])),
    ("irfft", lambda m, a: m.fft.irfft(a[:, :1])),
    ("fftfreq", lambda m, a: m.fft.fftfreq(0)),
    ("rfftfreq", lambda m, a: m.fft.rfftfreq(-2)),
    ("fftfreq", lambda m, a: m.fft.fftfreq(4, 0.0)),
    ("rfftfreq", lambda m, a: m.fft.rfftfreq(4, d=0.0)),
    ("fftshift", lambda m, a: m.fft.fftshift(a, axes=[4])),
    ("ifftshift", lambda m, a: m.fft.ifftshift(a, axes=-3)),
    ("fft", lambda m, a: m.fft.fft([1.0, 2.0])),
    ("stft", lambda m, a: m.fft.stft(a[0, 0], n_fft=4)),
    ("stft", lambda m, a: m.fft.stft(a, n_fft=0)),
    ("stft", lambda m, a: m.fft.stft(a, n_fft=4, hop_length=0)),
    ("stft", lambda m, a: m.fft.stft(a, n_fft=4, win_length=5)),
    ("stft", lambda m, a: m.fft.stft(a, n_fft=4, pad_mode="wrap")),
    ("stft", lambda m, a: m.fft.stft(a, n_fft=4, window=m.ones((4, 1)))),
    ("stft", lambda m, a: m.fft.stft(a, n_fft=8, center=False)),
    ("stft", lambda m, a: m.fft.stft(a, n_fft=4, norm="x")),
    ("istft", lambda m, a: m.fft.istft(a[0])),
    ("istft", lambda m, a: m.fft.istft(a, n_fft=0)),
]


@needs_mlx
@pytest.mark.parametrize("i", range(len(BAD_CALLS)))
def test_errors_raise_what_mlx_raises(i):
    _, call = BAD_CALLS[i]
    x = np.zeros((4, 6), np.float32)
    with pytest.raises(Exception) as want:
        call(mlx, mlx.array(x))
    with pytest.raises(type(want.value)):
        call(mx, mx.array(x))


def real_loss(y, u, v):
    """sum(Re(y)·u + Im(y)·v): a real function of any output."""
    return mx.sum(mx.real(y) * u + mx.imag(y) * v) if y.dtype == mx.complex64 else mx.sum(y * u)


GRAD_CASES = [
    ("fft", lambda m, x: m.fft.fft(x, n=7, axis=0), True),
    ("ifft", lambda m, x: m.fft.ifft(x, norm="ortho"), True),
    ("fft real", lambda m, x: m.fft.fft(x), False),
    ("rfft", lambda m, x: m.fft.rfft(x), False),
    ("rfft odd", lambda m, x: m.fft.rfft(x, n=5, norm="forward"), False),
    ("irfft", lambda m, x: m.fft.irfft(x), True),
    ("irfft odd", lambda m, x: m.fft.irfft(x, n=9), True),
    ("rfft2", lambda m, x: m.fft.rfft2(x), False),
    ("irfftn", lambda m, x: m.fft.irfftn(x, s=[3, 6], axes=[0, 1]), True),
    ("stft", lambda m, x: m.fft.stft(x, n_fft=4, hop_length=2), False),
    ("istft", lambda m, x: m.fft.istft(x, n_fft=6, hop_length=2, center=False), True),
]


@pytest.mark.parametrize("i", range(len(GRAD_CASES)))
def test_gradients_match_finite_differences(i):
    _, f, complex_in = GRAD_CASES[i]
    rng = np.random.default_rng(3 + i)
    shape = (4, 6)
    y0 = f(mx, mx.array(crand(rng, shape) if complex_in else rng.standard_normal(shape).astype(np.float32)))
    u = mx.array(rng.standard_normal(y0.shape).astype(np.float32))
    v = mx.array(rng.standard_normal(y0.shape).astype(np.float32))
    loss = lambda x: real_loss(f(mx, x), u, v)
    if complex_in:
        x = crand(rng, shape)
        g = np.array(mx.grad(loss)(mx.array(x)))
        num_re = fd_grad(lambda re: loss(mx.array((re + 1j * x.imag).astype(np.complex64))).item(), x.real, eps=1e-2)
        num_im = fd_grad(lambda im: loss(mx.array((x.real + 1j * im).astype(np.complex64))).item(), x.imag, eps=1e-2)
        close(g, num_re + 1j * num_im, 1e-4)
    else:
        x = rng.standard_normal(shape).astype(np.float32)
        g = np.array(mx.grad(loss)(mx.array(x)))
        num = fd_grad(lambda z: loss(mx.array(z.astype(np.float32))).item(), x, eps=1e-2)
        close(g, num, 1e-4)


@needs_mlx
def test_gradients_agree_with_mlx():
    """The same real losses differentiated by MLX: complex, real-input and inverse-real
    transforms, even and odd lengths."""
    rng = np.random.default_rng(9)
    x = crand(rng, (3, 8))
    for f in [lambda m, a: m.fft.fft(a), lambda m, a: m.fft.ifft(a, n=6), lambda m, a: m.fft.irfft(a, axis=0),
              lambda m, a: m.fft.irfft(a, n=9), lambda m, a: m.fft.fft2(a, norm="ortho"),
              lambda m, a: m.fft.rfft(m.real(a), n=7), lambda m, a: m.fft.rfftn(m.real(a))]:
        y = f(np, x)
        u = rng.standard_normal(y.shape).astype(np.float32)
        v = rng.standard_normal(y.shape).astype(np.float32)
        ours = mx.grad(lambda a: real_loss(f(mx, a), mx.array(u), mx.array(v)))(mx.array(x))

        def mloss(a):
            y = f(mlx, a)
            return mlx.sum(mlx.real(y) * mlx.array(u) + mlx.imag(y) * mlx.array(v)) if y.dtype == mlx.complex64 else mlx.sum(y * mlx.array(u))

        close(ours, np.array(mlx.grad(mloss)(mlx.array(x))), 1e-4)


def test_vmap_and_jvp():
    rng = np.random.default_rng(4)
    x = crand(rng, (3, 4, 6))
    got = mx.vmap(lambda a: mx.fft.fft2(a, s=[3, 5]), in_axes=1)(mx.array(x))
    close(got, np.stack([np.fft.fft2(x[:, i], s=[3, 5]) for i in range(4)]))
    r = rng.standard_normal((3, 8)).astype(np.float32)
    got = mx.vmap(lambda a: mx.fft.irfft(mx.fft.rfft(a)))(mx.array(r))
    close(got, r)
    t = rng.standard_normal((3, 8)).astype(np.float32)
    _, jv = mx.jvp(lambda a: mx.fft.rfft(a, norm="ortho"), [mx.array(r)], [mx.array(t)])
    close(jv[0], np.fft.rfft(t, norm="ortho"))


def framed_stft(x, n_fft, hop, window, center, pad_mode, norm, onesided):
    """torch.stft's definition in NumPy."""
    w = np.zeros(n_fft, dtype=window.dtype)
    lo = (n_fft - len(window)) // 2
    w[lo:lo + len(window)] = window
    if center:
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)], mode=pad_mode)
    frames = 1 + (x.shape[-1] - n_fft) // hop
    fr = np.stack([x[..., i * hop:i * hop + n_fft] for i in range(frames)], -2) * w
    out = np.fft.rfft(fr, norm=norm) if onesided else np.fft.fft(fr, norm=norm)
    return np.swapaxes(out, -1, -2)


STFT_CASES = [
    dict(n_fft=16),
    dict(n_fft=16, hop_length=5, win_length=10),
    dict(n_fft=15, center=False, norm="ortho"),
    dict(n_fft=16, pad_mode="constant", window="hann", hop_length=3),
    dict(n_fft=12, pad_mode="edge", onesided=False, norm="forward", window="hann"),
]


@pytest.mark.parametrize("i", range(len(STFT_CASES)))
def test_stft_and_istft(i):
    kw = dict(STFT_CASES[i])
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 50)).astype(np.float32)
    n_fft = kw["n_fft"]
    win = np.hanning(n_fft).astype(np.float32) if kw.pop("window", None) else np.ones(kw.get("win_length", n_fft), np.float32)
    got = mx.fft.stft(mx.array(x), window=mx.array(win), **kw)
    want = framed_stft(x.astype(np.float64), n_fft, kw.get("hop_length", n_fft // 4), win, kw.get("center", True),
                       kw.get("pad_mode", "reflect"), kw.get("norm", "backward"), kw.get("onesided", True))
    assert got.dtype == mx.complex64
    close(got, want)
    ikw = {k: v for k, v in kw.items() if k != "pad_mode"}
    back = mx.fft.istft(got, window=mx.array(win), length=50, **ikw)
    if mlx is not None:
        mwin = mlx.array(win)
        mlx_s = mlx.fft.stft(mlx.array(x), window=mwin, **kw)
        close(got, np.array(mlx_s))
        close(back, np.array(mlx.fft.istft(mlx_s, window=mwin, length=50, **ikw)))
        close(mx.fft.istft(got, window=mx.array(win), **ikw), np.array(mlx.fft.istft(mlx_s, window=mwin, **ikw)))
    # The window covers the inside: x comes back there.
    inner = slice(n_fft, 50 - n_fft)
    close(np.array(back)[:, inner], x[:, inner], 1e-4)


@needs_mlx
def test_stft_defaults_and_complex_input_match_mlx():
    rng = np.random.default_rng(6)
    x = rng.standard_normal(40).astype(np.float32)
    xc = crand(rng, 40)
    for v, kw in [(x, dict(n_fft=8)), (xc, dict(n_fft=8)), (xc, dict(n_fft=8, onesided=True)),
                  (x.astype(np.float64), dict(n_fft=10, hop_length=4)), (np.arange(30), dict(n_fft=6))]:
        got = mx.fft.stft(mx.array(v), **kw)
        want = mlx.fft.stft(mlx.array(v), **kw)
        assert got.shape == want.shape and got.dtype == mx.complex64
        close(got, np.array(want))
        back = mx.fft.istft(got, n_fft=kw["n_fft"], hop_length=kw.get("hop_length"), onesided=got.shape[0] != kw["n_fft"])
        close(back, np.array(mlx.fft.istft(want, n_fft=kw["n_fft"], hop_length=kw.get("hop_length"), onesided=got.shape[0] != kw["n_fft"])))
