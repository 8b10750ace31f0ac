"""Convolution, transposed convolution, pooling, recurrent and upsample layers: MLX's
layer with the same weights as the oracle (weights copied through NumPy), NumPy
references where cheap, MLX's parameter names and shapes (checkpoint compatibility),
initial value ranges, and MLX's errors."""

import math

import numpy as np
import pytest

import ferrox.core as mx
import ferrox.nn.layers.convolution as conv
import ferrox.nn.layers.convolution_transpose as convt
import ferrox.nn.layers.pooling as pool
import ferrox.nn.layers.recurrent as rec
import ferrox.nn.layers.upsample as ups

try:
    import mlx.core as mlx
    import mlx.nn as mlx_nn
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None


@pytest.fixture(autouse=True)
def _seeded():
    # Layer and initializer draws come from the global key: seed it, so that every
    # run checks the same numbers.
    mx.random.seed(0)
    if mlx is not None:
        mlx.random.seed(0)


needs_mlx = pytest.mark.skipif(mlx is None, reason="mlx is not installed")


def param_shapes(layer):
    """{name: shape} of a layer's (flat) parameters."""
    return {k: tuple(v.shape) for k, v in layer.parameters().items()}


def copy_from_mlx(ours, theirs):
    """Give ``ours`` the parameters of the MLX layer ``theirs``; the names must agree."""
    params = theirs.parameters()
    assert param_shapes(ours) == {k: tuple(v.shape) for k, v in params.items()}
    ours.update({k: mx.array(np.array(v)) for k, v in params.items()})


def assert_close(ours, theirs, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=rtol, atol=atol)


# -- convolution -------------------------------------------------------------------------

CONV_CASES = [
    ("Conv1d", (4, 6, 3), dict(stride=2, padding=1, dilation=1, groups=2), (2, 9, 4)),
    ("Conv1d", (3, 5, 2), dict(dilation=2, bias=False), (1, 7, 3)),
    ("Conv2d", (4, 6, (3, 2)), dict(stride=(2, 1), padding=(1, 0), groups=2), (2, 7, 6, 4)),
    ("Conv2d", (3, 2, 3), dict(dilation=(2, 1)), (1, 8, 7, 3)),
    ("Conv3d", (2, 3, 2), dict(stride=(1, 2, 1), padding=1), (1, 4, 5, 3, 2)),
]


@needs_mlx
@pytest.mark.parametrize("name,args,kwargs,xshape", CONV_CASES)
def test_conv_matches_mlx(name, args, kwargs, xshape, rng):
    theirs = getattr(mlx_nn, name)(*args, **kwargs)
    ours = getattr(conv, name)(*args, **kwargs)
    copy_from_mlx(ours, theirs)
    x = rng.standard_normal(xshape).astype(np.float32)
    assert_close(ours(mx.array(x)), theirs(mlx.array(x)))
    assert repr(ours) == repr(theirs)


def test_conv1d_numpy_reference(rng):
    layer = conv.Conv1d(3, 4, 3, stride=2, padding=1)
    layer.bias = mx.array(rng.standard_normal(4).astype(np.float32))
    x = rng.standard_normal((2, 8, 3)).astype(np.float32)
    w, b = np.array(layer.weight, np.float64), np.array(layer.bias, np.float64)
    xp = np.pad(x.astype(np.float64), [(0, 0), (1, 1), (0, 0)])
    ref = np.stack([np.einsum("nkc,okc->no", xp[:, t : t + 3], w) for t in range(0, 8, 2)], axis=1) + b
    assert_close(layer(mx.array(x)), ref)


def test_conv_parameters_and_init():
    c = conv.Conv2d(40, 60, 3, groups=4)
    assert param_shapes(c) == {"weight": (60, 3, 3, 10), "bias": (60,)}
    w = np.array(c.weight)
    limit = 1 / math.sqrt(10 * 9)  # fan-in per group
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit
    np.testing.assert_array_equal(np.array(c.bias), 0)
    assert param_shapes(conv.Conv3d(2, 3, (1, 2, 3), bias=False)) == {"weight": (3, 1, 2, 3, 2)}
    assert param_shapes(conv.Conv1d(2, 3, 5)) == {"weight": (3, 5, 2), "bias": (3,)}
    with pytest.raises(ValueError, match="divisible by the number of groups"):
        conv.Conv1d(5, 6, 3, groups=2)


def test_conv_gradient_flows(rng):
    layer = conv.Conv2d(2, 3, 2)
    x = mx.array(rng.standard_normal((1, 4, 4, 2)).astype(np.float32))

    def loss(params):
        layer.update(params)
        return mx.sum(layer(x) ** 2)

    g = mx.grad(loss)(layer.trainable_parameters())
    assert g["weight"].shape == (3, 2, 2, 2) and g["bias"].shape == (3,)
    # d/db sum(y^2) = 2 * sum(y) over positions
    assert_close(g["bias"], 2 * np.array(layer(x)).sum(axis=(0, 1, 2)), rtol=1e-4)


CONVT_CASES = [
    ("ConvTranspose1d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1), (2, 5, 4)),
    ("ConvTranspose1d", (3, 2, 2), dict(dilation=2, bias=False), (1, 4, 3)),
    ("ConvTranspose2d", (3, 5, (3, 2)), dict(stride=2, padding=(1, 0), output_padding=(1, 0)), (2, 4, 3, 3)),
    ("ConvTranspose3d", (2, 3, 2), dict(stride=(1, 2, 1)), (1, 3, 3, 2, 2)),
]


@needs_mlx
@pytest.mark.parametrize("name,args,kwargs,xshape", CONVT_CASES)
def test_conv_transpose_matches_mlx(name, args, kwargs, xshape, rng):
    theirs = getattr(mlx_nn, name)(*args, **kwargs)
    ours = getattr(convt, name)(*args, **kwargs)
    copy_from_mlx(ours, theirs)
    x = rng.standard_normal(xshape).astype(np.float32)
    assert_close(ours(mx.array(x)), theirs(mlx.array(x)))
    assert repr(ours) == repr(theirs)


def test_conv_transpose_init_and_numpy_reference(rng):
    t = convt.ConvTranspose1d(40, 3, 3)
    limit = 1 / math.sqrt(40 * 3)
    w = np.array(t.weight)
    assert w.shape == (3, 3, 40) and np.abs(w).max() <= limit
    np.testing.assert_array_equal(np.array(t.bias), 0)
    # stride 2, no padding: every input step scatters its kernel-weighted copy
    layer = convt.ConvTranspose1d(2, 3, 3, stride=2)
    x = rng.standard_normal((1, 4, 2))
    w = np.array(layer.weight, np.float64)  # (out, k, in)
    ref = np.zeros((1, (4 - 1) * 2 + 3, 3))
    for t_ in range(4):
        ref[:, 2 * t_ : 2 * t_ + 3] += np.einsum("nc,okc->nko", x[:, t_], w)
    assert_close(layer(mx.array(x.astype(np.float32))), ref)


# -- pooling -----------------------------------------------------------------------------

POOL_CASES = [
    ("MaxPool1d", dict(kernel_size=3, stride=2, padding=1), (2, 9, 3)),
    ("AvgPool1d", dict(kernel_size=3, stride=2, padding=1), (2, 9, 3)),
    ("MaxPool1d", dict(kernel_size=2), (1, 7, 2)),
    ("MaxPool2d", dict(kernel_size=(2, 3), stride=1, padding=(1, 0)), (2, 5, 6, 3)),
    ("AvgPool2d", dict(kernel_size=2), (2, 6, 5, 3)),
    ("AvgPool2d", dict(kernel_size=3, stride=(2, 1), padding=1), (1, 6, 5, 2)),
    ("MaxPool3d", dict(kernel_size=2, stride=1), (1, 4, 3, 5, 2)),
    ("AvgPool3d", dict(kernel_size=(2, 1, 2), padding=(1, 0, 1)), (1, 4, 3, 5, 2)),
]


def pool_reference(kind, x, kernel, stride, padding):
    """Explicit loops over output positions, float64."""
    n = len(kernel)
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x.astype(np.float64), [(0, 0)] + [(p, p) for p in padding] + [(0, 0)], constant_values=fill)
    out_shape = [(s - k) // st + 1 for s, k, st in zip(xp.shape[1:-1], kernel, stride)]
    out = np.zeros((x.shape[0], *out_shape, x.shape[-1]))
    for pos in np.ndindex(*out_shape):
        sl = tuple(slice(p * st, p * st + k) for p, st, k in zip(pos, stride, kernel))
        win = xp[(slice(None),) + sl]
        red = win.max if kind == "max" else win.mean
        out[(slice(None),) + pos] = red(axis=tuple(range(1, n + 1)))
    return out


@pytest.mark.parametrize("name,kwargs,xshape", POOL_CASES)
def test_pooling(name, kwargs, xshape, rng):
    x = rng.standard_normal(xshape).astype(np.float32)
    ours = getattr(pool, name)(**kwargs)
    n = len(xshape) - 2
    as_t = lambda v: (v,) * n if isinstance(v, int) else v  # noqa: E731
    kernel = as_t(kwargs["kernel_size"])
    stride = as_t(kwargs.get("stride", kernel))
    padding = as_t(kwargs.get("padding", 0))
    kind = "max" if name.startswith("Max") else "avg"
    y = ours(mx.array(x))
    assert_close(y, pool_reference(kind, x, kernel, stride, padding))
    if mlx is not None:
        theirs = getattr(mlx_nn, name)(**kwargs)
        assert_close(y, theirs(mlx.array(x)))
        assert repr(ours) == repr(theirs)
        assert ours.parameters() == {}


def test_pooling_dtypes_and_padding_values():
    xi = mx.arange(4, dtype=mx.int32).reshape(1, 4, 1)
    y = pool.MaxPool1d(2, padding=1)(xi)
    assert y.dtype == mx.int32 and np.array(y).ravel().tolist() == [0, 2, 3]
    # padded zeros count in the average
    y = pool.AvgPool1d(3, stride=2, padding=1)(mx.arange(1, 7, dtype=mx.float32).reshape(1, 6, 1))
    assert np.array(y).ravel().tolist() == [1.0, 3.0, 5.0]
    assert pool.AvgPool1d(2)(xi).dtype == mx.float32
    assert pool.AvgPool1d(2)(xi.astype(mx.float16)).dtype == mx.float16
    # padding never wins a max, in every integer type (MLX gives 0 for int8/int16 here)
    x8 = mx.array([-3, 5, 100, -100], dtype=mx.int8).reshape(1, 4, 1)
    assert np.array(pool.MaxPool1d(2, padding=1)(x8)).ravel().tolist() == [-3, 100, -100]
    # a window larger than the input gives an empty output, as in MLX
    assert pool.MaxPool1d(2)(mx.zeros((1, 1, 3))).shape == (1, 0, 3)


def test_pooling_strided_views(rng):
    # Windows are an as_strided view: inputs that are themselves views must be read
    # in their logical order (transposed, sliced, broadcast).
    x = rng.standard_normal((3, 6, 5, 2)).astype(np.float32)
    views = [
        (lambda a: a.transpose(0, 2, 1, 3), lambda a: a.transpose(0, 2, 1, 3), pool.MaxPool2d(2, stride=1)),
        (lambda a: a[:, ::2, 1, :], lambda a: a[:, ::2, 1, :], pool.AvgPool1d(2)),
    ]
    for ours_view, np_view, layer in views:
        ref_in = np.ascontiguousarray(np_view(x))
        assert_close(layer(ours_view(mx.array(x))), layer(mx.array(ref_in)))
    b = mx.broadcast_to(mx.array(x[:1, :, 0, :]), (3, 6, 2))
    assert_close(pool.MaxPool1d(2)(b), np.broadcast_to(x[:1, :, 0, :].reshape(1, 3, 2, 2).max(2), (3, 3, 2)))


@needs_mlx
def test_pooling_gradient_matches_mlx(rng):
    x = rng.standard_normal((2, 6, 5, 3)).astype(np.float32)
    for name in ["MaxPool2d", "AvgPool2d"]:
        ours, theirs = getattr(pool, name)(3, stride=2, padding=1), getattr(mlx_nn, name)(3, stride=2, padding=1)
        g = mx.grad(lambda v: mx.sum(ours(v) ** 2))(mx.array(x))
        gm = mlx.grad(lambda v: mlx.sum(theirs(v) ** 2))(mlx.array(x))
        assert_close(g, gm)


def test_pooling_errors():
    with pytest.raises(ValueError, match=r"\[MaxPool2d\] 'kernel_size' must be an integer or a tuple containing 2"):
        pool.MaxPool2d((2, 3, 4))
    with pytest.raises(ValueError, match=r"\[AvgPool1d\] 'stride' must be an integer"):
        pool.AvgPool1d(2, stride=(1, 2))
    with pytest.raises(ValueError, match="'kernel_size' must be positive"):
        pool.MaxPool2d(0)
    with pytest.raises(ValueError, match="'stride' must be positive"):
        pool.MaxPool3d(2, stride=0)
    with pytest.raises(ValueError, match="'padding' must be non-negative"):
        pool.AvgPool2d(2, padding=-1)
    with pytest.raises(ValueError, match="at least 1 spatial dimension"):
        pool.AvgPool1d(2)(mx.zeros((6, 1)))
    with pytest.raises(ValueError, match="same number of spatial dimensions"):
        pool.MaxPool2d(2)(mx.zeros((1, 5, 5)))
    assert repr(pool.MaxPool2d([2, 2])) == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"


# -- recurrent ---------------------------------------------------------------------------


@needs_mlx
@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
def test_recurrent_matches_mlx(name, bias, batched, rng):
    theirs = getattr(mlx_nn, name)(3, 5, bias=bias)
    ours = getattr(rec, name)(3, 5, bias=bias)
    copy_from_mlx(ours, theirs)
    shape = (2, 4, 3) if batched else (4, 3)
    x = rng.standard_normal(shape).astype(np.float32)
    h0 = rng.standard_normal(shape[:-2] + (5,)).astype(np.float32)
    for hidden in [None, h0]:
        if name == "LSTM":
            c0 = None if hidden is None else rng.standard_normal(h0.shape).astype(np.float32)
            a = ours(mx.array(x), None if hidden is None else mx.array(hidden), None if c0 is None else mx.array(c0))
            b = theirs(mlx.array(x), None if hidden is None else mlx.array(hidden), None if c0 is None else mlx.array(c0))
            assert_close(a[0], b[0])
            assert_close(a[1], b[1])
            assert a[0].shape == shape[:-1] + (5,)
        else:
            a = ours(mx.array(x), None if hidden is None else mx.array(hidden))
            b = theirs(mlx.array(x), None if hidden is None else mlx.array(hidden))
            assert_close(a, b)
            assert a.shape == shape[:-1] + (5,)
    assert repr(ours).split("nonlinearity")[0] == repr(theirs).split("nonlinearity")[0]


def test_rnn_numpy_reference(rng):
    layer = rec.RNN(3, 4, nonlinearity=mx.sigmoid)
    x = rng.standard_normal((2, 5, 3))
    Wxh, Whh, b = (np.array(layer[k], np.float64) for k in ["Wxh", "Whh", "bias"])
    h = np.zeros((2, 4))
    ref = []
    for t in range(5):
        h = 1 / (1 + np.exp(-(x[:, t] @ Wxh.T + b + h @ Whh.T)))
        ref.append(h)
    assert_close(layer(mx.array(x.astype(np.float32))), np.stack(ref, 1))


def test_lstm_numpy_reference(rng):
    layer = rec.LSTM(3, 2)
    x = rng.standard_normal((4, 3))
    Wx, Wh, b = (np.array(layer[k], np.float64) for k in ["Wx", "Wh", "bias"])
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h, c, hs, cs = np.zeros(2), np.zeros(2), [], []
    for t in range(4):
        i, f, g, o = np.split(x[t] @ Wx.T + b + h @ Wh.T, 4)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        hs.append(h)
        cs.append(c)
    H, C = layer(mx.array(x.astype(np.float32)))
    assert_close(H, np.stack(hs))
    assert_close(C, np.stack(cs))


def test_recurrent_parameters_and_init():
    assert param_shapes(rec.RNN(3, 4)) == {"Wxh": (4, 3), "Whh": (4, 4), "bias": (4,)}
    assert param_shapes(rec.RNN(3, 4, bias=False)) == {"Wxh": (4, 3), "Whh": (4, 4)}
    assert param_shapes(rec.GRU(3, 4)) == {"Wx": (12, 3), "Wh": (12, 4), "b": (12,), "bhn": (4,)}
    assert param_shapes(rec.GRU(3, 4, bias=False)) == {"Wx": (12, 3), "Wh": (12, 4)}
    assert param_shapes(rec.LSTM(3, 4)) == {"Wx": (16, 3), "Wh": (16, 4), "bias": (16,)}
    assert param_shapes(rec.LSTM(3, 4, bias=False)) == {"Wx": (16, 3), "Wh": (16, 4)}
    w = np.array(rec.LSTM(30, 100).Wh)
    assert np.abs(w).max() <= 0.1 and np.abs(w).max() > 0.099
    with pytest.raises(ValueError, match="Nonlinearity must be callable"):
        rec.RNN(3, 4, nonlinearity=3)


def test_gru_gradient_against_finite_differences(rng):
    layer = rec.GRU(2, 3)
    x = rng.standard_normal((3, 2))

    def f(v):
        return mx.sum(layer(v) ** 2)

    g = np.array(mx.grad(f)(mx.array(x.astype(np.float32))))
    eps, num = 1e-2, np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = (f(mx.array(xp.astype(np.float32))).item() - f(mx.array(xm.astype(np.float32))).item()) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=5e-3, atol=5e-4)


# -- upsample ----------------------------------------------------------------------------


def resampling_matrix(lib, layer, n):
    """The (m, n) matrix a 1-D upsample applies: its outputs for the n one-hot inputs."""
    x = lib.eye(n).reshape(n, n, 1)
    return np.array(layer(x))[..., 0].T


UPSAMPLE_CASES = [
    (mode, ac, aa)
    for mode in ["nearest", "linear", "cubic"]
    for ac in [False, True]
    for aa in [False, True]
    if not ((mode == "nearest" or ac) and aa)
]


@needs_mlx
@pytest.mark.parametrize("mode,align_corners,antialias", UPSAMPLE_CASES)
def test_upsample_sampling_matches_mlx(mode, align_corners, antialias):
    # Every size/scale pair, shrinking and growing, integer and fractional, odd and even.
    # (n=17 with align_corners cubic is left out: MLX's last sample there is 0, a float32
    # rounding slip of its own; ours is the corner sample, as align_corners means.)
    for n in [1, 2, 3, 5, 8, 10, 13]:
        for s in [0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 2.5, 3.3]:
            if int(n * s) == 0:
                continue
            kw = dict(mode=mode, align_corners=align_corners, antialias=antialias)
            ours = resampling_matrix(mx, ups.Upsample(s, **kw), n)
            theirs = resampling_matrix(mlx, mlx_nn.Upsample(s, **kw), n)
            assert ours.shape == theirs.shape == (int(n * s), n)
            np.testing.assert_allclose(ours, theirs, atol=2e-6, err_msg=f"n={n} s={s}")


@needs_mlx
def test_upsample_nearest_indices_match_mlx_at_random_scales():
    # Includes scales whose source positions are exact ties (k + 0.5) in real arithmetic.
    r = np.random.default_rng(3)
    for _ in range(300):
        n, s = int(r.integers(1, 40)), float(np.round(r.uniform(0.1, 4.0), 3))
        if int(n * s) == 0:
            continue
        ours = ups.Upsample(s)(mx.arange(n, dtype=mx.float32).reshape(1, n, 1))
        theirs = mlx_nn.Upsample(s)(mlx.arange(n, dtype=mlx.float32).reshape(1, n, 1))
        np.testing.assert_array_equal(np.array(ours), np.array(theirs), err_msg=f"n={n} s={s}")


@needs_mlx
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_upsample_2d_3d_match_mlx(mode, rng):
    for shape, scale in [((2, 5, 4, 3), (2.0, 1.5)), ((1, 3, 4, 5, 2), (1.5, 0.5, 2.0)), ((2, 6, 3), 2.5)]:
        x = rng.standard_normal(shape).astype(np.float32)
        ours, theirs = ups.Upsample(scale, mode=mode), mlx_nn.Upsample(scale, mode=mode)
        y = ours(mx.array(x))
        assert_close(y, theirs(mlx.array(x)))
        assert repr(ours) == repr(theirs)
    ours = ups.Upsample((2, 0.5), mode=mode, align_corners=True) if mode != "nearest" else None
    if ours is not None:
        theirs = mlx_nn.Upsample((2, 0.5), mode=mode, align_corners=True)
        x = rng.standard_normal((1, 4, 6, 2)).astype(np.float32)
        assert_close(ours(mx.array(x)), theirs(mlx.array(x)))


def test_upsample_numpy_reference_and_dtypes(rng):
    # integer factors: nearest repeats every sample
    x = rng.standard_normal((1, 3, 2, 2)).astype(np.float32)
    y = ups.upsample_nearest(mx.array(x), (2, 3))
    np.testing.assert_array_equal(np.array(y), x.repeat(2, axis=1).repeat(3, axis=2))
    # linear x2, pixel centers: inner samples at 1/4 and 3/4 between neighbours
    v = np.array([0.0, 4.0, 8.0], np.float32).reshape(1, 3, 1)
    y = np.array(ups.upsample_linear(mx.array(v), (2,))).ravel()
    np.testing.assert_allclose(y, [0, 1, 3, 5, 7, 8])
    y = np.array(ups.upsample_linear(mx.array(v), (2,), align_corners=True)).ravel()
    np.testing.assert_allclose(y, np.linspace(0, 8, 6), rtol=1e-6)
    xi = mx.arange(4, dtype=mx.int32).reshape(1, 4, 1)
    assert ups.Upsample(2)(xi).dtype == mx.int32
    assert ups.Upsample(2, mode="linear")(xi).dtype == mx.float32
    assert ups.Upsample(2, mode="cubic")(xi.astype(mx.float16)).dtype == mx.float32


def test_upsample_gradient_is_the_transposed_resampling(rng):
    n, s = 5, 1.5
    W = resampling_matrix(mx, ups.Upsample(s, mode="cubic"), n)
    g_out = rng.standard_normal((int(n * s),)).astype(np.float32)
    layer = ups.Upsample(s, mode="cubic")
    g = mx.grad(lambda v: mx.sum(layer(v).reshape(-1) * mx.array(g_out)))(mx.zeros((1, n, 1)))
    assert_close(np.array(g).ravel(), W.T @ g_out)


def test_upsample_errors():
    with pytest.raises(ValueError, match="unsupported upsampling algorithm"):
        ups.Upsample(2, mode="bilinear")
    with pytest.raises(ValueError, match="antialias=True with align_corners=True"):
        ups.Upsample(2, mode="linear", align_corners=True, antialias=True)
    with pytest.raises(ValueError, match="at least 1 spatial dimension"):
        ups.Upsample(2)(mx.zeros((4, 2)))
    with pytest.raises(ValueError, match="One scale per spatial dimension"):
        ups.Upsample((2, 3))(mx.zeros((1, 4, 2)))
    with pytest.raises(ValueError, match="A scale needs to be provided"):
        ups.upsample_linear(mx.zeros((1, 4, 2)), (2, 3))


def test_layers_are_exported_from_nn():
    import ferrox.nn as nn

    for name in ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
                 "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
                 "RNN", "GRU", "LSTM", "Upsample"]:
        assert issubclass(getattr(nn, name), nn.Module), name
    assert nn.losses.cross_entropy is not None and nn.init.he_normal is not None
    # a small model of these layers trains end to end through nn.value_and_grad
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.Upsample(2, mode="linear"))
    x = mx.ones((1, 4, 4, 1))
    loss, grads = nn.value_and_grad(model, lambda m: mx.mean(m(x) ** 2))(model)
    assert loss.shape == () and grads["layers"][0]["weight"].shape == (2, 3, 3, 1)


@needs_mlx
def test_constructor_signatures_match_mlx():
    import inspect

    import ferrox.nn as nn

    for name in ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
                 "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
                 "RNN", "GRU", "LSTM", "Upsample"]:
        ours = inspect.signature(getattr(nn, name)).parameters
        theirs = inspect.signature(getattr(mlx_nn, name)).parameters
        assert list(ours) == list(theirs), name
        assert [p.default for p in ours.values()] == [p.default for p in theirs.values()], name
        ours_call = list(inspect.signature(getattr(nn, name).__call__).parameters)
        theirs_call = list(inspect.signature(getattr(mlx_nn, name).__call__).parameters)
        assert ours_call == theirs_call, name
    for name in ["upsample_nearest", "upsample_linear", "upsample_cubic"]:
        ours = inspect.signature(getattr(ups, name)).parameters
        theirs = inspect.signature(getattr(__import__("mlx.nn.layers.upsample", fromlist=["x"]), name)).parameters
        assert list(ours) == list(theirs), name


@needs_mlx
@pytest.mark.parametrize("ext", ["npz", "safetensors"])
def test_mlx_checkpoint_loads_unchanged(ext, tmp_path, rng):
    import ferrox.nn as nn

    def build(lib_nn):
        return lib_nn.Sequential(
            lib_nn.Conv1d(3, 4, 3, padding=1), lib_nn.ConvTranspose1d(4, 4, 2, stride=2),
            lib_nn.GRU(4, 5), lib_nn.LSTM(5, 3),
        )

    theirs = build(mlx_nn)
    path = str(tmp_path / f"w.{ext}")
    theirs.save_weights(path)
    ours = build(nn)
    ours.load_weights(path)  # strict: every key and shape must match
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    assert_close(ours(mx.array(x))[0], theirs(mlx.array(x))[0])


@needs_mlx
@pytest.mark.parametrize(
    "name,args,xshape",
    [
        ("Conv2d", (2, 3, 3), (1, 5, 5, 2)),
        ("ConvTranspose2d", (2, 3, 2), (1, 3, 3, 2)),
        ("RNN", (2, 3), (2, 4, 2)),
        ("GRU", (2, 3), (2, 4, 2)),
        ("LSTM", (2, 3), (2, 4, 2)),
    ],
)
def test_parameter_gradients_match_mlx(name, args, xshape, rng):
    import ferrox.nn as nn
    from mlx.utils import tree_flatten

    theirs, ours = getattr(mlx_nn, name)(*args), getattr(nn, name)(*args)
    copy_from_mlx(ours, theirs)
    x = rng.standard_normal(xshape).astype(np.float32)

    def first(y):
        return y[0] if isinstance(y, tuple) else y

    _, g_ours = nn.value_and_grad(ours, lambda v: mx.sum(first(ours(v)) ** 2))(mx.array(x))
    _, g_theirs = mlx_nn.value_and_grad(theirs, lambda v: mlx.sum(first(theirs(v)) ** 2))(mlx.array(x))
    flat = dict(tree_flatten(g_theirs))
    assert set(g_ours) == set(flat)
    for k, v in flat.items():
        assert_close(g_ours[k], v, rtol=1e-4, atol=1e-5)
