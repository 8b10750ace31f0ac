"""Function transforms through Python: grad/value_and_grad (pytrees, argnums, argnames,
aux outputs), vjp, jvp, vmap (in_axes/out_axes trees), checkpoint, custom_function,
stop_gradient; finite differences in float64, comparisons with real MLX, and MLX's
errors."""

import numpy as np
import pytest

import ferrox.core as mx
from numeric import fd_grad

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover
    mlx = None

needs_mlx = pytest.mark.skipif(mlx is None, reason="mlx is not installed")


def a64(x):
    return mx.array(np.asarray(x, dtype=np.float64), dtype=mx.float64)


def npy(x):
    return np.array(x)


# Representative ops, each with its function in ferrox and in numpy (for the values the
# finite differences need), written once over a module `m` (mx or mlx).
FUNS = {
    "sin_x": lambda m, x: m.sum(m.sin(x) * x),
    "exp_log": lambda m, x: m.sum(m.log(m.exp(x) + 1.0)),
    "tanh_sq": lambda m, x: m.sum(m.tanh(x) ** 2),
    "matmul": lambda m, x: m.sum(m.matmul(x, m.transpose(x)) * 0.5),
    "softmax": lambda m, x: m.sum(m.softmax(x, axis=-1) * m.arange(x.shape[-1]).astype(x.dtype)),
    "logsumexp": lambda m, x: m.logsumexp(x),
    "mean_var": lambda m, x: m.mean(x) * m.var(x),
    "max_sqrt": lambda m, x: m.max(m.sqrt(x * x + 1.0)),
    "slice_reshape": lambda m, x: m.sum(m.reshape(x[:, 1:], (-1,)) ** 3),
    "divide_where": lambda m, x: m.sum(m.where(x > 0, x / (x * x + 2.0), -x)),
    "broadcast": lambda m, x: m.sum(x[:, None, :] * x[None, :, :]),
    "cumsum": lambda m, x: m.sum(m.cumsum(x, axis=1) * x),
}


@pytest.mark.parametrize("name", sorted(FUNS))
def test_grad_matches_finite_differences(name, rng):
    x0 = rng.uniform(-1.5, 1.5, (3, 4))
    f = FUNS[name]
    g = mx.grad(lambda x: f(mx, x))(a64(x0))
    assert g.dtype == mx.float64 and g.shape == (3, 4)
    want = fd_grad(lambda x: npy(f(mx, a64(x))).item(), x0)
    np.testing.assert_allclose(npy(g), want, rtol=1e-5, atol=1e-6)


@needs_mlx
@pytest.mark.parametrize("name", sorted(FUNS))
def test_grad_matches_mlx(name, rng):
    x0 = rng.uniform(-1.5, 1.5, (3, 4)).astype(np.float32)
    f = FUNS[name]
    val, g = mx.value_and_grad(lambda x: f(mx, x))(mx.array(x0))
    mval, mg = mlx.value_and_grad(lambda x: f(mlx, x))(mlx.array(x0))
    np.testing.assert_allclose(npy(val), np.array(mval), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(npy(g), np.array(mg), rtol=1e-4, atol=1e-5)


def test_grad_of_sin_is_cos():
    x = mx.array([0.1, 0.5, 2.0])
    g = mx.grad(lambda x: mx.sum(mx.sin(x)))(x)
    np.testing.assert_allclose(npy(g), np.cos([0.1, 0.5, 2.0]), rtol=1e-6)


# ---- pytrees, argnums, argnames, aux -----------------------------------------------


def test_pytree_arguments_and_gradients():
    params = {"w": a64([[1.0, 2.0], [3.0, 4.0]]), "b": [a64([0.5, -0.5]), (a64(2.0),)]}
    x = a64([1.0, -1.0])

    def loss(p, x):
        y = p["w"] @ x + p["b"][0]
        return mx.sum(y * y) * p["b"][1][0]

    g = mx.grad(loss)(params, x)
    assert set(g) == {"w", "b"} and isinstance(g["b"], list) and isinstance(g["b"][1], tuple)
    w, b0, s = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -0.5]), 2.0
    y = w @ np.array([1.0, -1.0]) + b0
    np.testing.assert_allclose(npy(g["w"]), 2 * s * np.outer(y, [1.0, -1.0]))
    np.testing.assert_allclose(npy(g["b"][0]), 2 * s * y)
    np.testing.assert_allclose(npy(g["b"][1][0]), np.sum(y * y))


def test_argnums_and_argnames():
    x, y, z = a64([1.0, 2.0]), a64([3.0, 4.0]), a64([5.0, 6.0])

    def f(x, y, z=None):
        return mx.sum(x * y * z)

    gx = mx.grad(f)(x, y, z=z)
    np.testing.assert_allclose(npy(gx), [15.0, 24.0])
    gy = mx.grad(f, argnums=1)(x, y, z=z)
    np.testing.assert_allclose(npy(gy), [5.0, 12.0])
    gxy = mx.grad(f, argnums=(0, 1))(x, y, z=z)
    assert isinstance(gxy, tuple) and len(gxy) == 2
    np.testing.assert_allclose(npy(gxy[1]), [5.0, 12.0])
    pos, kw = mx.grad(f, argnames="z")(x, y, z=z)
    assert pos is None and set(kw) == {"z"}
    np.testing.assert_allclose(npy(kw["z"]), [3.0, 8.0])
    pos, kw = mx.grad(f, argnums=[1], argnames=["z"])(x, y, z=z)
    np.testing.assert_allclose(npy(pos), [5.0, 12.0])
    np.testing.assert_allclose(npy(kw["z"]), [3.0, 8.0])


def test_value_and_grad_with_aux():
    x = a64([1.0, 2.0, 3.0])

    def f(x):
        return mx.sum(x * x), {"mean": mx.mean(x), "double": [x * 2]}

    (loss, aux), g = mx.value_and_grad(f)(x)
    assert npy(loss).item() == 14.0
    assert npy(aux["mean"]).item() == 2.0
    np.testing.assert_allclose(npy(aux["double"][0]), [2.0, 4.0, 6.0])
    # Only the first output is differentiated: the aux outputs contribute nothing.
    np.testing.assert_allclose(npy(g), [2.0, 4.0, 6.0])


@needs_mlx
def test_pytree_and_aux_match_mlx(rng):
    w0, x0 = rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(3).astype(np.float32)

    def make(m):
        def f(p, x, *, scale):
            h = m.tanh(x @ p["w"])
            return m.sum(h * scale["s"]), (h, [m.max(h)])

        return f

    outs = []
    for m in (mx, mlx):
        p, x, s = {"w": m.array(w0)}, m.array(x0), {"s": m.array(1.5)}
        (v, (h, hm)), (gp, gk) = m.value_and_grad(make(m), argnums=[0, 1], argnames="scale")(
            p, x, scale=s
        )
        outs.append([v, h, hm[0], gp[0]["w"], gp[1], gk["scale"]["s"]])
    for a, b in zip(*outs):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)


# ---- higher order, composition -------------------------------------------------------


def test_grad_of_grad():
    x = a64([0.3, 1.2])
    d2 = mx.grad(lambda x: mx.sum(mx.grad(lambda y: mx.sum(mx.sin(y) * y))(x)))(x)
    # d/dx (cos x * x + sin x) = 2 cos x - x sin x
    xs = np.array([0.3, 1.2])
    np.testing.assert_allclose(npy(d2), 2 * np.cos(xs) - xs * np.sin(xs), rtol=1e-10)


def test_third_derivative_scalar():
    f = lambda x: x * x * x * x  # noqa: E731
    d3 = mx.grad(mx.grad(mx.grad(f)))(a64(1.5))
    assert abs(npy(d3).item() - 24 * 1.5) < 1e-9


def test_vmap_of_grad_is_per_example_gradient(rng):
    xs = rng.standard_normal((5, 3))
    w = a64([1.0, -2.0, 0.5])
    per = mx.vmap(mx.grad(lambda x, w: mx.sum(mx.sin(x * w))), in_axes=(0, None))(a64(xs), w)
    want = np.cos(xs * npy(w)) * npy(w)
    np.testing.assert_allclose(npy(per), want, rtol=1e-10)


def test_grad_of_vmap(rng):
    xs = rng.standard_normal((4, 3))
    g = mx.grad(lambda x: mx.sum(mx.vmap(lambda r: mx.sum(r * r) * r)(x)))(a64(xs))
    # sum_i s_i * sum_j x_ij with s_i = sum x_i^2: d/dx_ik = 2 x_ik S_i + s_i
    s, S = np.sum(xs * xs, 1, keepdims=True), np.sum(xs, 1, keepdims=True)
    np.testing.assert_allclose(npy(g), 2 * xs * S + s, rtol=1e-10)


def test_jvp_of_vjp_is_hessian_vector_product(rng):
    x0, v0 = rng.standard_normal(4), rng.standard_normal(4)
    f = lambda x: mx.sum(mx.sin(x) * x * x)  # noqa: E731

    def g(x):
        return mx.vjp(f, [x], [a64(1.0)])[1][0]

    _, (hv,) = mx.jvp(g, [a64(x0)], [a64(v0)])
    # Hessian of sum(x^2 sin x) is diagonal: 2 sin x + 4 x cos x - x^2 sin x
    h = 2 * np.sin(x0) + 4 * x0 * np.cos(x0) - x0**2 * np.sin(x0)
    np.testing.assert_allclose(npy(hv), h * v0, rtol=1e-10)


def test_vjp_and_jvp_values():
    x, y = a64([1.0, 2.0]), a64([3.0, 5.0])
    outs, vjps = mx.vjp(lambda a, b: (a * b, a + b), [x, y], [a64([1.0, 1.0]), a64([2.0, 0.0])])
    assert isinstance(outs, list) and isinstance(vjps, list) and len(vjps) == 2
    np.testing.assert_allclose(npy(outs[0]), [3.0, 10.0])
    np.testing.assert_allclose(npy(vjps[0]), [3.0 + 2.0, 5.0])
    np.testing.assert_allclose(npy(vjps[1]), [1.0 + 2.0, 2.0])
    outs, jvps = mx.jvp(lambda a, b: a * b, [x, y], [a64([1.0, 0.0]), a64([0.0, 1.0])])
    np.testing.assert_allclose(npy(jvps[0]), [3.0, 2.0])


@needs_mlx
def test_vjp_jvp_match_mlx(rng):
    x0, c0 = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((3, 3)).astype(np.float32)
    res = []
    for m in (mx, mlx):
        f = lambda a: m.exp(m.transpose(a) @ a * 0.1)  # noqa: E731
        o, v = m.vjp(f, [m.array(x0)], [m.array(c0)])
        _, j = m.jvp(f, [m.array(x0)], [m.ones((2, 3))])
        res.append([o[0], v[0], j[0]])
    for a, b in zip(*res):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)


@needs_mlx
def test_vjp_extra_cotangents_are_ignored_as_in_mlx():
    res = []
    for m in (mx, mlx):
        x = m.array([1.0, 2.0, 3.0])
        res.append(m.vjp(lambda a: a * a, [x], [x, x * 5]))
    assert len(res[0][0]) == len(res[1][0]) == 1
    np.testing.assert_allclose(np.array(res[0][0][0]), np.array(res[1][0][0]))
    np.testing.assert_allclose(np.array(res[0][1][0]), np.array(res[1][1][0]))


def test_stop_gradient_blocks():
    x = a64([1.0, 2.0])
    g = mx.grad(lambda x: mx.sum(x * mx.stop_gradient(x)))(x)
    np.testing.assert_allclose(npy(g), [1.0, 2.0])


# ---- vmap ---------------------------------------------------------------------------


def stack_apply(f, args, in_axes, n):
    outs = []
    for i in range(n):
        sl = [a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, in_axes)]
        outs.append(f(*[mx.array(s) for s in sl]))
    return outs


@pytest.mark.parametrize("in_axes", [(0, 0), (1, 0), (0, None), (None, 1), (1, 1)])
@pytest.mark.parametrize("out_axes", [0, 1, -1])
def test_vmap_matches_stacking(in_axes, out_axes, rng):
    n = 3
    shapes = {0: (n, 4), 1: (4, n), None: (4,)}
    a = rng.standard_normal(shapes[in_axes[0]])
    b = rng.standard_normal(shapes[in_axes[1]])

    def f(x, y):
        return mx.outer(mx.sin(x), y) + mx.sum(x * y)

    got = mx.vmap(f, in_axes=in_axes, out_axes=out_axes)(mx.array(a), mx.array(b))
    want = np.stack([npy(o) for o in stack_apply(f, [a, b], in_axes, n)], axis=out_axes)
    np.testing.assert_allclose(npy(got), want, rtol=1e-5, atol=1e-6)


def test_vmap_pytrees_and_out_axes_tree(rng):
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((3, 2)), rng.standard_normal(3)

    def f(d, c):
        s = d["a"] + d["b"]
        return {"s": s, "t": (s * c, c * 2)}

    in_axes = ({"a": 0, "b": 1}, None)
    out_axes = {"s": 1, "t": (0, None)}
    out = mx.vmap(f, in_axes=in_axes, out_axes=out_axes)({"a": mx.array(a), "b": mx.array(b)}, mx.array(c))
    np.testing.assert_allclose(npy(out["s"]), (a + b.T).T, rtol=1e-6)
    np.testing.assert_allclose(npy(out["t"][0]), (a + b.T) * c, rtol=1e-6)
    assert out["t"][1].shape == (3,)
    np.testing.assert_allclose(npy(out["t"][1]), c * 2, rtol=1e-6)


def test_an_output_read_by_another_output(rng):
    # `s` is an output and also an input of another output: the transforms must still
    # handle the op making `s` before the op reading it.
    a0 = rng.standard_normal((2, 3))

    def f(x):
        s = x + 1.0
        return [s, s * 2.0]

    out = mx.vmap(f, out_axes=[1, 0])(a64(a0))
    np.testing.assert_allclose(npy(out[0]), (a0 + 1.0).T)
    np.testing.assert_allclose(npy(out[1]), (a0 + 1.0) * 2.0)
    _, (v,) = mx.vjp(f, [a64(a0)], [a64(np.ones((2, 3))), a64(np.ones((2, 3)))])
    np.testing.assert_allclose(npy(v), np.full((2, 3), 3.0))


def test_nested_vmap(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    f = mx.vmap(mx.vmap(lambda x, y: mx.sum(x * y), in_axes=(None, 0)), in_axes=(0, None))
    np.testing.assert_allclose(npy(f(mx.array(a), mx.array(b))), a @ b.T, rtol=1e-5)


@needs_mlx
def test_vmap_matches_mlx(rng):
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
    res = []
    for m in (mx, mlx):
        f = m.vmap(lambda x, y: (m.softmax(x * y), m.cumsum(x)), in_axes=(0, 1), out_axes=(1, 0))
        res.append(f(m.array(a), m.array(b)))
    for x, y in zip(*res):
        np.testing.assert_allclose(np.array(x), np.array(y), rtol=1e-5, atol=1e-6)


# ---- checkpoint, custom_function ----------------------------------------------------


def test_checkpoint_same_values_and_gradients(rng):
    w0, x0 = rng.standard_normal((3, 3)), rng.standard_normal(3)

    def block(w, x, scale=1.0):
        return mx.tanh(w @ x) * scale

    def loss(w, x, blk):
        h = blk(w, x, scale=2.0)
        return mx.sum(blk(w, h) ** 2)

    w, x = a64(w0), a64(x0)
    v1, g1 = mx.value_and_grad(loss, argnums=(0, 1))(w, x, block)
    v2, g2 = mx.value_and_grad(loss, argnums=(0, 1))(w, x, mx.checkpoint(block))
    np.testing.assert_allclose(npy(v1), npy(v2), rtol=1e-12)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(npy(a), npy(b), rtol=1e-12)
    # And the gradient is the right one.
    want = fd_grad(lambda w_: npy(loss(a64(w_), x, block)).item(), w0)
    np.testing.assert_allclose(npy(g2[0]), want, rtol=1e-5, atol=1e-7)


def test_custom_function_vjp_is_used():
    @mx.custom_function
    def f(x, y):
        return mx.sin(x) * y

    @f.vjp
    def f_vjp(primals, cotangent, output):
        x, y = primals
        return 10.0 * cotangent, 20.0 * cotangent * output

    x, y = a64([1.0, 2.0]), a64([3.0, 4.0])
    np.testing.assert_allclose(npy(f(x, y)), np.sin([1.0, 2.0]) * [3.0, 4.0])
    gx, gy = mx.grad(lambda x, y: mx.sum(f(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(npy(gx), [10.0, 10.0])
    np.testing.assert_allclose(npy(gy), 20.0 * np.sin([1.0, 2.0]) * [3.0, 4.0])


def test_custom_function_jvp_and_vmap_are_used():
    calls = []

    @mx.custom_function
    def f(x):
        return mx.exp(x)

    @f.jvp
    def f_jvp(primals, tangents):
        calls.append("jvp")
        return tangents[0] * 7.0

    @f.vmap
    def f_vmap(inputs, axes):
        calls.append("vmap")
        return mx.exp(inputs[0]) + 1.0, axes[0]

    x = a64([[0.0, 1.0], [2.0, 3.0]])
    _, (t,) = mx.jvp(f, [x], [mx.ones_like(x)])
    np.testing.assert_allclose(npy(t), np.full((2, 2), 7.0))
    out = mx.vmap(f, in_axes=1)(x)  # columns in, stacked along axis 0
    np.testing.assert_allclose(npy(out), np.exp(npy(x)).T + 1.0)
    assert calls == ["jvp", "vmap"]
    # Without a rule, a transform differentiates the function itself.
    g = mx.grad(lambda x: mx.sum(f(x)))(x)
    np.testing.assert_allclose(npy(g), np.exp(npy(x)), rtol=1e-12)


@needs_mlx
def test_custom_function_matches_mlx():
    res = []
    for m in (mx, mlx):

        @m.custom_function
        def clip_grad(x):
            return x * 3.0

        @clip_grad.vjp
        def clip_grad_vjp(primals, cotangent, output):
            return m.clip(cotangent, -1.0, 1.0)

        x = m.array([0.5, -2.0, 4.0])
        res.append(m.grad(lambda x: m.sum(clip_grad(x) * x))(x))
    np.testing.assert_allclose(np.array(res[0]), np.array(res[1]))


# ---- errors, as MLX raises them -----------------------------------------------------

X = np.array([1.0, 2.0, 3.0], dtype=np.float32)


def _nonscalar(m):
    return m.grad(lambda x: x * x)(m.array(X))


def _float_out(m):
    return m.grad(lambda x: 1.0)(m.array(X))


def _tuple_out_grad(m):
    return m.grad(lambda x: (m.sum(x), x))(m.array(X))


def _list_out_vag(m):
    return m.value_and_grad(lambda x: [m.sum(x), x])(m.array(X))


def _bad_argnums(m):
    return m.grad(lambda x: m.sum(x), argnums=1)(m.array(X))


def _neg_argnums(m):
    return m.grad(lambda x, y: m.sum(x), argnums=-1)(m.array(X), m.array(X))


def _dup_argnums(m):
    return m.grad(lambda x, y: m.sum(x), argnums=(0, 0))(m.array(X), m.array(X))


def _empty_argnums(m):
    return m.grad(lambda x: m.sum(x), argnums=[])(m.array(X))


def _str_argnums(m):
    return m.grad(lambda x: m.sum(x), argnums="a")(m.array(X))


def _missing_argname(m):
    return m.grad(lambda x, y=None: m.sum(x), argnames="y")(m.array(X))


def _scalar_arg(m):
    return m.grad(lambda x: x * x)(2.0)


def _non_array_leaf(m):
    return m.grad(lambda p: m.sum(p["a"]) * p["n"])({"a": m.array(X), "n": 3})


def _vmap_mismatch(m):
    return m.vmap(lambda a, b: a + b)(m.ones((2, 3)), m.ones((3, 3)))


def _vmap_short_in_axes(m):
    return m.vmap(lambda a, b: a + b, in_axes=(0,))(m.ones((2, 3)), m.ones((2, 3)))


def _vmap_list_in_axes(m):
    return m.vmap(lambda a, b: a + b, in_axes=[0, None])(m.ones((2, 3)), m.ones(3))


def _vmap_axis_oob(m):
    return m.vmap(lambda a: a, in_axes=2)(m.ones((2, 3)))


def _vmap_in_axes_none(m):
    return m.vmap(lambda a: a, in_axes=None)(m.ones((2, 3)))


def _vmap_out_axes_none(m):
    return m.vmap(lambda a: a, out_axes=None)(m.ones((2, 3)))


def _vmap_out_axes_mismatch(m):
    return m.vmap(lambda a: (a, a), out_axes=(0,))(m.ones((2, 3)))


def _vmap_non_array_out(m):
    return m.vmap(lambda a: (a, 3))(m.ones((2, 3)))


def _vmap_eval_inside(m):
    return m.vmap(lambda a: m.sum(a) * m.sum(a).item())(m.array(X))


def _vmap_kwargs(m):
    return m.vmap(lambda a, b=1: a * b)(m.array(X), b=2)


def _vjp_shape(m):
    return m.vjp(lambda a: a * a, [m.array(X)], [m.ones(2)])


def _jvp_count(m):
    return m.jvp(lambda a: a * a, [m.array(X)], [m.array(X), m.array(X)])


def _jvp_shape(m):
    return m.jvp(lambda a: a * a, [m.array(X)], [m.ones(2)])


ERRORS = [
    _nonscalar,
    _float_out,
    _tuple_out_grad,
    _list_out_vag,
    _bad_argnums,
    _neg_argnums,
    _dup_argnums,
    _empty_argnums,
    _str_argnums,
    _missing_argname,
    _scalar_arg,
    _non_array_leaf,
    _vmap_mismatch,
    _vmap_short_in_axes,
    _vmap_list_in_axes,
    _vmap_axis_oob,
    _vmap_in_axes_none,
    _vmap_out_axes_none,
    _vmap_out_axes_mismatch,
    _vmap_non_array_out,
    _vmap_eval_inside,
    _vmap_kwargs,
    _vjp_shape,
    _jvp_count,
    _jvp_shape,
]


@needs_mlx
@pytest.mark.parametrize("case", ERRORS, ids=lambda f: f.__name__.strip("_"))
def test_errors_match_mlx(case):
    with pytest.raises(Exception) as want:
        case(mlx)
    with pytest.raises(Exception) as got:
        case(mx)
    assert type(got.value) is type(want.value), (got.value, want.value)


def test_errors_are_raised_without_mlx():
    # The same cases, pinned to MLX's exception types (in case MLX is not installed).
    for case, kind in [
        (_nonscalar, ValueError),
        (_bad_argnums, ValueError),
        (_vmap_mismatch, ValueError),
        (_vmap_axis_oob, IndexError),
        (_vmap_in_axes_none, TypeError),
        (_scalar_arg, ValueError),
    ]:
        with pytest.raises(kind):
            case(mx)


def test_integer_inputs_are_an_error():
    # ferrox differentiates only with respect to inexact inputs (MLX returns integer
    # "gradients" here); the error is a ValueError.
    with pytest.raises(ValueError):
        mx.grad(lambda x: mx.sum(x * x))(mx.array([1, 2]))
    with pytest.raises(ValueError):
        mx.jvp(lambda x: x * x, [mx.array([1, 2])], [mx.array([1, 2])])


class Boom(Exception):
    pass


def _boom(*args, **kwargs):
    raise Boom("from user code")


@pytest.mark.parametrize(
    "call",
    [
        lambda: mx.grad(_boom)(mx.array(X)),
        lambda: mx.value_and_grad(_boom)(mx.array(X)),
        lambda: mx.vjp(_boom, [mx.array(X)], [mx.array(X)]),
        lambda: mx.jvp(_boom, [mx.array(X)], [mx.array(X)]),
        lambda: mx.vmap(_boom)(mx.array(X)),
        lambda: mx.checkpoint(_boom)(mx.array(X)),
        lambda: mx.custom_function(_boom)(mx.array(X)),
        lambda: mx.grad(mx.grad(lambda x: _boom(x)))(mx.array(1.0)),
        lambda: mx.vmap(mx.grad(lambda x: mx.sum(mx.vmap(_boom)(x))))(mx.ones((2, 2))),
    ],
    ids=["grad", "vag", "vjp", "jvp", "vmap", "checkpoint", "custom", "grad2", "nested"],
)
def test_user_exceptions_propagate_unchanged(call):
    with pytest.raises(Boom, match="from user code"):
        call()


def test_exception_in_custom_vjp_propagates():
    @mx.custom_function
    def f(x):
        return x * 2.0

    @f.vjp
    def f_vjp(primals, cotangent, output):
        raise Boom("from user code")

    with pytest.raises(Boom):
        mx.grad(lambda x: mx.sum(f(x)))(mx.array(X))
    # And the next transform is not affected by the earlier failure.
    np.testing.assert_allclose(npy(mx.grad(lambda x: mx.sum(x * 2.0))(mx.array(X))), [2.0] * 3)


# ---------------------------------------------------------------- every op, one by one

# Each differentiable op of mlx.core as a function of float64 arrays `xs` (whose shapes,
# and input ranges, follow), so that its gradient is checked against central differences
# in float64 through the Python bindings (the Rust tests do the same on the core).
_IDX = np.array([[2, 0], [1, 2]])
OPS = {
    # unary, on (lo, hi) where each is smooth
    **{n: (lambda n: lambda m, x: getattr(m, n)(x))(n) for n in [
        "abs", "negative", "square", "sqrt", "rsqrt", "reciprocal", "exp", "expm1", "log",
        "log2", "log10", "log1p", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh",
        "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "sigmoid", "erf", "erfinv",
        "degrees", "radians", "softmax", "logsumexp", "sum", "mean", "prod", "max", "min",
        "var", "std", "cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "transpose",
        "flatten", "squeeze", "median", "real", "conj",
    ]},
    "log_softmax": lambda m, x: x - m.logsumexp(x, axis=-1, keepdims=True),
    # binary and ternary, with broadcasting
    **{n: (lambda n: lambda m, x, y: getattr(m, n)(x, y))(n) for n in [
        "add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "arctan2",
        "logaddexp", "remainder", "matmul", "inner", "outer",
    ]},
    "where": lambda m, x, y: m.where(x > 0.5, x, y),
    "clip": lambda m, x: m.clip(x, 0.4, 0.8),
    "addmm": lambda m, x, y: m.addmm(x[:, :1], x, y.T),
    "tensordot": lambda m, x, y: m.tensordot(x, y, axes=[[1], [1]]),
    # shapes and indexing
    "reshape": lambda m, x: m.reshape(x, (2, -1)),
    "swapaxes": lambda m, x: m.swapaxes(x, 0, 1),
    "moveaxis": lambda m, x: m.moveaxis(x, 0, -1),
    "expand_dims": lambda m, x: m.expand_dims(x, 1),
    "broadcast_to": lambda m, x: m.broadcast_to(x[:1], (3, 4)),
    "concatenate": lambda m, x, y: m.concatenate([x, y], axis=0),
    "stack": lambda m, x, y: m.stack([x, y], axis=1),
    "split": lambda m, x: m.split(x, 2, axis=1)[1] * 2,
    "slice": lambda m, x: x[1:, ::2],
    "take": lambda m, x: m.take(x, m.array(_IDX), axis=1),
    "take_along_axis": lambda m, x: m.take_along_axis(x, m.array(_IDX[:, :1].repeat(4, 1)[:2]), axis=0),
    "array_index": lambda m, x: x[m.array([2, 0, 2]), 1:],
    "put_along_axis": lambda m, x, y: m.put_along_axis(x, m.array([[1, 0, 2, 1]]), y[:1], axis=0),
    "at_add": lambda m, x, y: x.at[m.array([0, 2, 0])].add(y),
    "pad": lambda m, x: m.pad(x, [(1, 0), (0, 2)]),
    "tile": lambda m, x: m.tile(x, (2, 1)),
    "repeat": lambda m, x: m.repeat(x, 2, axis=0),
    "roll": lambda m, x: m.roll(x, 1, axis=1),
    "flip": lambda m, x: x[::-1],
    "diagonal": lambda m, x: m.diagonal(x, 1),
    "diag": lambda m, x: m.diag(x[0]),
    "tril": lambda m, x: m.tril(x),
    "triu": lambda m, x: m.triu(x, 1),
    "norm_like": lambda m, x: m.sqrt(m.sum(x * x, axis=0)),
}
# Inputs (shapes and ranges) by op; the rest take one (3, 4) array in (-1, 1).
_SMOOTH_POS = (0.3, 2.0)
RANGES = {
    "sqrt": _SMOOTH_POS, "rsqrt": _SMOOTH_POS, "reciprocal": _SMOOTH_POS, "log": _SMOOTH_POS,
    "log2": _SMOOTH_POS, "log10": _SMOOTH_POS, "arccosh": (1.2, 3.0), "power": _SMOOTH_POS,
    "arcsin": (-0.8, 0.8), "arccos": (-0.8, 0.8), "arctanh": (-0.8, 0.8),
    "erfinv": (-0.8, 0.8), "clip": (0.0, 1.0), "where": (0.0, 1.0), "remainder": (0.3, 0.9),
}
SHAPES2 = {
    "matmul": [(3, 4), (4, 2)], "inner": [(3, 4), (2, 4)], "outer": [(3,), (4,)],
    "stack": [(3, 4), (3, 4)], "addmm": [(3, 4), (3, 4)], "tensordot": [(3, 4), (2, 4)],
    "concatenate": [(3, 4), (2, 4)], "put_along_axis": [(3, 4), (1, 4)],
    "at_add": [(3, 4), (3, 4)],
}


def _inputs(name, rng):
    f = OPS[name]
    n = f.__code__.co_argcount - 1
    lo, hi = RANGES.get(name, (-1.0, 1.0))
    shapes = SHAPES2.get(name, [(3, 4), (4,)][:n] if n == 2 else [(3, 4)])
    return [rng.uniform(lo, hi, s) for s in shapes]


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_against_finite_differences(name, rng):
    f, xs = OPS[name], _inputs(name, rng)

    def out(*a):
        o = f(mx, *a)
        return o[0] if isinstance(o, list) else o

    w = rng.standard_normal(out(*[a64(x) for x in xs]).shape)
    loss = lambda *a: mx.sum(out(*a) * a64(w))  # noqa: E731
    grads = mx.grad(loss, argnums=list(range(len(xs))))(*[a64(x) for x in xs])
    grads = grads if len(xs) > 1 else (grads,)  # one argnum: one array, as in MLX
    for i, (g, x) in enumerate(zip(grads, xs)):
        def fi(v, i=i):
            args = [a64(v if k == i else xs[k]) for k in range(len(xs))]
            return npy(loss(*args)).item()
        assert g.dtype == mx.float64 and g.shape == x.shape
        np.testing.assert_allclose(npy(g), fd_grad(fi, x), rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name}: argument {i}")


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_jvp_is_the_transpose_of_its_vjp(name, rng):
    f, xs = OPS[name], _inputs(name, rng)
    g = lambda *a: f(mx, *a)  # noqa: E731
    prim = [a64(x) for x in xs]
    tangents = [a64(rng.standard_normal(x.shape)) for x in xs]
    outs, jv = mx.jvp(g, prim, tangents)
    cots = [a64(rng.standard_normal(o.shape)) for o in outs]
    _, vj = mx.vjp(g, prim, cots)
    lhs = sum(np.sum(npy(a) * npy(b)) for a, b in zip(jv, cots))
    rhs = sum(np.sum(npy(a) * npy(b)) for a, b in zip(tangents, vj))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10, err_msg=name)


# ---------------------------------------------------------------- complex arrays

_COMPLEX_UNARY = ["abs", "negative", "square", "sqrt", "rsqrt", "exp", "log", "log2", "log10",
                  "log1p", "sin", "cos", "tan", "sinh", "cosh", "tanh", "reciprocal", "arcsin",
                  "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "conjugate", "real",
                  "imag", "sum", "mean", "prod", "cumsum"]
_COMPLEX_BINARY = ["add", "subtract", "multiply", "divide", "matmul", "inner", "outer"]


def _c64(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


@needs_mlx
@pytest.mark.parametrize("name", _COMPLEX_UNARY + _COMPLEX_BINARY)
def test_complex_vjp_and_jvp_match_mlx(name, rng):
    """MLX's convention: the vjp of a holomorphic f is c·conj(f'(z)), its jvp t·f'(z)."""
    n = 2 if name in _COMPLEX_BINARY else 1
    xs = [_c64(rng, (3,)) for _ in range(n)]
    out = getattr(mx, name)(*map(mx.array, xs))
    c = _c64(rng, out.shape) if out.dtype == mx.complex64 else rng.standard_normal(out.shape)
    c = c.astype(np.complex64 if c.dtype.kind == "c" else np.float32)
    tangents = [_c64(rng, x.shape) for x in xs]
    res = []
    for m in (mx, mlx):
        f = getattr(m, name)
        prim = [m.array(x) for x in xs]
        _, v = m.vjp(f, prim, [m.array(c)])
        _, j = m.jvp(f, prim, [m.array(t) for t in tangents])
        res.append([np.array(a) for a in v + j])
    for a, b in zip(*res):
        assert a.dtype == b.dtype, name
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5, err_msg=name)


@pytest.mark.parametrize("name", ["multiply", "divide", "power", "exp", "sin", "abs", "real",
                                  "imag", "conjugate", "sqrt", "matmul"])
def test_complex_grad_is_dl_dx_plus_i_dl_dy(name, rng):
    """For a real loss L of complex z = x + iy, grad gives ∂L/∂x + i·∂L/∂y (MLX's
    convention), checked by finite differences in x and y separately. (MLX itself
    leaves out the conjugate for `power`, unlike for its other ops: ferrox is consistent.)"""
    f = getattr(mx, name)
    n = 2 if name in ("multiply", "divide", "power", "matmul") else 1
    xs = [_c64(rng, (3,)) * 0.5 + (1.0 if name == "power" else 0.0) for _ in range(n)]
    w = _c64(rng, (3,) if name != "matmul" else ())

    def loss(*a):
        o = f(*a)
        return mx.sum(mx.real(o * mx.array(w)))

    grads = mx.grad(loss, argnums=list(range(n)))(*[mx.array(x) for x in xs])
    grads = grads if n > 1 else (grads,)
    eps = 1e-2
    for i in range(n):
        want = np.zeros(3, np.complex128)
        for k in range(3):
            for unit in (1, 1j):
                hi = [x.copy() for x in xs]
                lo = [x.copy() for x in xs]
                hi[i][k] += eps * unit
                lo[i][k] -= eps * unit
                d = (npy(loss(*map(mx.array, hi))).item() - npy(loss(*map(mx.array, lo))).item())
                want[k] += unit * d / (2 * eps)
        np.testing.assert_allclose(npy(grads[i]), want, rtol=2e-2, atol=2e-2, err_msg=f"{name} {i}")


# ---------------------------------------------------------------- depends

def test_depends_returns_its_inputs_and_evaluates_the_dependencies():
    a = mx.array([1.0, 2.0])
    b = mx.array([3.0]) * 2
    out = mx.depends(a * 2, b)
    assert isinstance(out, mx.array)
    np.testing.assert_array_equal(npy(out), [2.0, 4.0])
    outs = mx.depends([a, a * 3], [b, b + 1])
    assert isinstance(outs, list) and len(outs) == 2
    np.testing.assert_array_equal(npy(outs[1]), [3.0, 6.0])
    # Gradients pass to the inputs, none to the dependencies (as MLX: [2, 0]).
    g = mx.grad(lambda x: mx.sum(mx.depends(x * 2, x * 5)[0]))(a)
    np.testing.assert_array_equal(npy(g), [2.0, 0.0])
    g = mx.grad(lambda x: mx.sum(mx.depends([x * 2], [x * 5])[0] * x))(a)
    np.testing.assert_array_equal(npy(g), [4.0, 8.0])
    _, t = mx.jvp(lambda x: mx.depends(x * 3, x), [a], [mx.ones(2)])
    np.testing.assert_array_equal(npy(t[0]), [3.0, 3.0])
    v = mx.vmap(lambda x: mx.depends(x, x + 1))(mx.ones((2, 3)))
    np.testing.assert_array_equal(npy(v), np.ones((2, 3)))
    c = mx.compile(lambda x: mx.depends([x + 1], [x * 2])[0])(a)
    np.testing.assert_array_equal(npy(c), [2.0, 3.0])
    with pytest.raises(ValueError, match="at least one input"):
        mx.depends([], [b])  # (MLX crashes here)
    with pytest.raises(TypeError):
        mx.depends(3, b)
