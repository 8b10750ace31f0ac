"""`ferrox.nn.Module`: attribute/dict storage, parameter trees, freezing, strict update
errors, train/eval, apply/set_dtype, checkpoints in both formats (and in MLX), repr,
and `nn.value_and_grad` against finite differences."""

import numpy as np
import pytest

import ferrox.core as mx
import ferrox.nn as nn
from ferrox.nn._tree import tree_flatten, tree_unflatten

try:
    import mlx.core as mlx
    import mlx.nn as mlx_nn
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None


def build(ns, core):
    """The same model in ferrox (ns=nn, core=mx) or MLX: nested module, a list mixing
    modules and a dict, a bare array, a private array and a plain attribute."""

    class Model(ns.Module):
        def __init__(self):
            super().__init__()
            self.l = ns.Linear(2, 3)
            self.layers = [ns.Linear(3, 3), ns.ReLU(), {"a": ns.Linear(3, 1)}]
            self.w = core.zeros((2,))
            self.d = {"p": core.ones((2,)), "q": [core.ones((1,)), core.ones((1,))]}
            self._h = core.ones((1,))
            self.x = 5

        def __call__(self, x):
            x = self.l(x) + self.w.sum()
            x = self.layers[1](self.layers[0](x))
            return self.layers[2]["a"](x)

    return Model()


def keys(tree):
    return [k for k, _ in tree_flatten(tree)]


def test_attributes_are_dict_entries_or_plain_attributes():
    m = build(nn, mx)
    assert sorted(m.keys()) == ["_h", "d", "l", "layers", "w"]
    assert m.x == 5 and "x" not in m
    m.foo = [mx.zeros((1,))]
    assert "foo" in m and "foo" in m.parameters()
    m.foo = 3  # a plain value replaces the entry
    assert "foo" not in m and m.foo == 3
    del m.w
    assert "w" not in m
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        m.nope
    with pytest.raises(AttributeError):
        del m.nope


def test_parameter_trees_and_module_traversals():
    m = build(nn, mx)
    assert keys(m.parameters()) == [
        "l.weight", "l.bias", "layers.0.weight", "layers.0.bias", "layers.2.a.weight",
        "layers.2.a.bias", "w", "d.p", "d.q.0", "d.q.1",
    ]
    assert m.parameters()["layers"][1] == {}
    children = m.children()
    # Nested containers without modules still appear (as empty shells), as in MLX.
    assert children["d"] == {"p": {}, "q": [{}, {}]}
    assert list(children) == ["l", "layers", "d"] and children["layers"][2]["a"] is m.layers[2]["a"]
    assert [n for n, _ in m.named_modules()] == ["", "layers.2.a", "layers.1", "layers.0", "l"]
    assert m.modules()[0] is m and len(m.modules()) == 5
    leaves = m.leaf_modules()
    assert isinstance(leaves["layers"][1], nn.ReLU) and leaves["l"] is m.l
    assert nn.Module.is_module(m) and not nn.Module.is_module({})
    assert not nn.Module.valid_parameter_filter(m, "_a", mx.zeros((1,)))
    assert not nn.Module.valid_parameter_filter(m, "a", (mx.zeros((1,)),))
    m.t = (mx.zeros((1,)),)  # tuples are stored but are not parameters
    assert "t" in m and "t" not in m.parameters()
    assert m.state is m


@pytest.mark.skipif(mlx is None, reason="mlx is not installed")
def test_parameter_keys_and_traversal_order_match_mlx():
    ours, theirs = build(nn, mx), build(mlx_nn, mlx)
    from mlx.utils import tree_flatten as mlx_flatten

    assert keys(ours.parameters()) == [k for k, _ in mlx_flatten(theirs.parameters())]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert repr(ours).replace("Model", "M") == repr(theirs).replace("Model", "M")
    ours.freeze(keys=["d.q.0", "weight"])
    theirs.freeze(keys=["d.q.0", "weight"])
    assert keys(ours.trainable_parameters()) == [k for k, _ in mlx_flatten(theirs.trainable_parameters())]


def test_repr():
    m = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1, bias=False))
    assert repr(m) == (
        "Sequential(\n  (layers.0): Linear(input_dims=1, output_dims=2, bias=True)\n"
        "  (layers.1): ReLU()\n  (layers.2): Linear(input_dims=2, output_dims=1, bias=False)\n)"
    )
    assert repr(nn.Module()) == "Module()"


def test_freeze_and_unfreeze():
    m = build(nn, mx)
    m.freeze()
    assert keys(m.trainable_parameters()) == []
    assert keys(m.parameters())  # freezing hides nothing from parameters()
    m.unfreeze(keys=["w"])
    assert keys(m.trainable_parameters()) == ["w"]
    m.unfreeze()
    assert len(keys(m.trainable_parameters())) == 10
    m.freeze(recurse=False)
    assert m._no_grad == {"w", "d.p", "d.q.0", "d.q.1"} and m.l._no_grad == set()
    assert keys(m.trainable_parameters())[-1] == "layers.2.a.bias"
    m.unfreeze()
    m.freeze(keys="weight")  # every module: Linear weights only
    assert "l.weight" not in keys(m.trainable_parameters()) and "l.bias" in keys(m.trainable_parameters())
    m.unfreeze()
    m.freeze(keys=["d.q.0"])
    assert m.trainable_parameters()["d"]["q"][0] == {}
    with pytest.raises(KeyError, match="doesn't contain member nope"):
        m.freeze(keys="nope", strict=True)
    with pytest.raises(KeyError):
        m.unfreeze(keys=["d.q"], strict=True)
    with pytest.raises(KeyError, match="member weight"):
        m.freeze(recurse=False, keys="weight", strict=True)  # only the Linears have it
    m.freeze(keys="weight", strict=True)
    m.freeze(keys="nope")  # not strict: fine
    m.l.freeze()
    assert m.l.training  # freezing is not eval


def test_update_and_its_strict_errors():
    m = build(nn, mx)
    new = mx.full((2,), 7.0)
    m.update({"w": new, "d": {"q": [mx.zeros((1,))]}})
    assert m.w is new and m.d["q"][0].item() == 0 and m.d["q"][1].item() == 1
    with pytest.raises(ValueError, match='does not have parameter named "zz"'):
        m.update({"zz": mx.zeros((1,))})
    with pytest.raises(ValueError, match="Received invalid type: int."):
        m.update({"w": 3})
    with pytest.raises(ValueError, match="Received invalid type: int."):
        m.update({"l": 3})
    with pytest.raises(ValueError, match="List index 2 is out of bounds"):
        m.update({"d": {"q": [mx.zeros((1,))] * 3}})
    m.update({"zz": mx.zeros((1,)), "d": 3}, strict=False)  # ignored
    assert "zz" not in m and isinstance(m.d, dict)
    m.update({"w": mx.zeros((5, 5))})  # shapes are not checked by update
    assert m.w.shape == (5, 5)


def test_update_modules():
    m = build(nn, mx)
    relu = nn.ReLU()
    m.update_modules({"l": relu, "layers": [nn.Identity(), {}, {"a": nn.Identity()}]})
    assert m.l is relu and isinstance(m.layers[0], nn.Identity) and isinstance(m.layers[2]["a"], nn.Identity)
    assert isinstance(m.layers[1], nn.ReLU)
    with pytest.raises(ValueError, match='does not have sub-module named "zz"'):
        m.update_modules({"zz": nn.ReLU()})
    with pytest.raises(ValueError, match="Received invalid type: int."):
        m.update_modules({"l": 3})


def test_train_eval_apply_set_dtype():
    m = build(nn, mx)
    assert m.training and m.layers[0].training
    assert m.eval() is m and not m.training and not m.layers[2]["a"].training
    m.train()
    assert m.layers[2]["a"].training
    before = np.array(m.l.weight)
    assert m.apply(lambda x: x + 1) is m
    np.testing.assert_array_equal(np.array(m.l.weight), before + 1)
    np.testing.assert_array_equal(np.array(m._h), [1.0])  # private: not mapped
    m.apply(lambda x: x * 0, filter_fn=lambda mod, k, v: k in ("l", "bias"))
    # The filter sees every level: "l" passes at the top, then only "bias" inside it.
    assert np.all(np.array(m.l.bias) == 0) and np.all(np.array(m.l.weight) != 0)
    assert np.all(np.array(m.layers[0].bias) != 0)  # "layers" fails at the top
    m.idx = mx.array([1, 2])
    m.set_dtype(mx.float16)
    assert m.l.weight.dtype == mx.float16 and m.idx.dtype == mx.int32
    m.set_dtype(mx.bfloat16, predicate=lambda d: False)
    assert m.w.dtype == mx.float16
    m.set_dtype(mx.float32, predicate=None)
    assert m.idx.dtype == mx.float32


@pytest.mark.parametrize("ext", [".npz", ".safetensors"])
def test_save_load_round_trip(tmp_path, ext):
    a, b = build(nn, mx), build(nn, mx)
    path = str(tmp_path / f"w{ext}")
    a.save_weights(path)
    assert b.load_weights(path) is b
    for (ka, va), (kb, vb) in zip(tree_flatten(a.parameters()), tree_flatten(b.parameters())):
        assert ka == kb
        np.testing.assert_array_equal(np.array(va), np.array(vb))
    assert set(mx.load(path)) == set(keys(a.parameters()))


def test_load_weights_errors(tmp_path):
    m = build(nn, mx)
    ws = tree_flatten(m.parameters())
    with pytest.raises(ValueError, match=r"Received 2 parameters not in model: \na,\nb.c."):
        m.load_weights(ws + [("b.c", mx.zeros((1,))), ("a", mx.zeros((1,)))])
    with pytest.raises(ValueError, match=r"Missing 1 parameters: \nd.q.1."):
        m.load_weights(ws[:-1])
    with pytest.raises(ValueError, match=r"Expected shape \(1,\) but received shape \(1, 1\) for parameter d.q.1"):
        m.load_weights(ws[:-1] + [("d.q.1", mx.zeros((1, 1)))])
    with pytest.raises(ValueError, match="Expected mx.array but received <class 'int'> for parameter d.q.1"):
        m.load_weights(ws[:-1] + [("d.q.1", 3)])
    with pytest.raises(ValueError, match="Unsupported file extension"):
        m.save_weights(str(tmp_path / "w.pt"))
    # Not strict: a partial load, any shape.
    m.load_weights([("w", mx.zeros((3,)))], strict=False)
    assert m.w.shape == (3,)


@pytest.mark.skipif(mlx is None, reason="mlx is not installed")
@pytest.mark.parametrize("ext", [".npz", ".safetensors"])
def test_checkpoints_cross_load_with_mlx(tmp_path, ext):
    ours, theirs = build(nn, mx), build(mlx_nn, mlx)
    x = np.random.default_rng(1).standard_normal((4, 2)).astype(np.float32)
    ours.save_weights(str(tmp_path / f"a{ext}"))
    theirs.load_weights(str(tmp_path / f"a{ext}"))
    np.testing.assert_allclose(np.array(theirs(mlx.array(x))), np.array(ours(mx.array(x))), rtol=1e-5, atol=1e-6)
    theirs.update(mlx_nn.utils.tree_map(lambda v: v * 2, theirs.parameters()) if hasattr(mlx_nn.utils, "tree_map") else
                  __import__("mlx.utils").utils.tree_map(lambda v: v * 2, theirs.parameters()))
    theirs.save_weights(str(tmp_path / f"b{ext}"))
    ours.load_weights(str(tmp_path / f"b{ext}"))
    np.testing.assert_allclose(np.array(ours(mx.array(x))), np.array(theirs(mlx.array(x))), rtol=1e-5, atol=1e-6)


def test_tree_unflatten_inverts_flatten():
    tree = {"a": [mx.zeros((1,)), {"b": mx.ones((1,))}], "c": mx.zeros((2,))}
    back = tree_unflatten(tree_flatten(tree))
    assert keys(back) == keys(tree) and isinstance(back["a"], list)
    assert tree_unflatten([("x.2", 1)]) == {"x": [{}, {}, 1]}


def test_value_and_grad_matches_finite_differences():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    model.layers[0].freeze(keys="bias")
    x = mx.array(rng.standard_normal((5, 3)).astype(np.float32))

    def loss(x):
        return (model(x) ** 2).mean()

    value, grads = nn.value_and_grad(model, loss)(x)
    assert keys(grads) == keys(model.trainable_parameters())
    assert "layers.0.bias" not in keys(grads)
    np.testing.assert_allclose(value.item(), loss(x).item(), rtol=1e-6)
    # The model holds its own (untraced) arrays again afterwards.
    assert all(isinstance(v, mx.array) for _, v in tree_flatten(model.parameters()))

    # Central differences in float64 NumPy on the same math.
    p = {k: np.array(v, np.float64) for k, v in tree_flatten(model.parameters())}
    xn = np.array(x, np.float64)

    def f(p):
        h = np.tanh(xn @ p["layers.0.weight"].T + p["layers.0.bias"])
        return ((h @ p["layers.2.weight"].T + p["layers.2.bias"]) ** 2).mean()

    eps = 1e-6
    for k, g in tree_flatten(grads):
        fd = np.zeros_like(p[k])
        for idx in np.ndindex(p[k].shape):
            q = {kk: vv.copy() for kk, vv in p.items()}
            q[k][idx] += eps
            up = f(q)
            q[k][idx] -= 2 * eps
            fd[idx] = (up - f(q)) / (2 * eps)
        np.testing.assert_allclose(np.array(g), fd, rtol=1e-3, atol=1e-5)


def test_checkpoint_gives_the_same_gradients():
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    x = mx.array(np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32))
    plain = nn.value_and_grad(model, lambda x: model(x).sum())(x)[1]
    ck = nn.utils.checkpoint(model)
    checked = nn.value_and_grad(model, lambda x: ck(x).sum())(x)[1]
    for (k1, a), (k2, b) in zip(tree_flatten(plain), tree_flatten(checked)):
        assert k1 == k2
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-6)


def test_average_gradients_single_process_is_identity():
    g = {"a": mx.ones((2,))}
    assert nn.average_gradients(g) is g


def sgd_steps(ns, core, tree_map, params, x, steps=3):
    """A few compiled SGD steps on a model with BatchNorm, capturing `model.state`
    (parameters and running statistics) as compile state; returns losses and state."""
    from functools import partial

    model = ns.Sequential(ns.Linear(3, 4), ns.BatchNorm(4), ns.ReLU(), ns.Linear(4, 1))
    model.load_weights([(k, core.array(v)) for k, v in params.items()])
    state = [model.state]

    @partial(core.compile, inputs=state, outputs=state)
    def step(x):
        loss, grads = ns.value_and_grad(model, lambda x: (model(x) ** 2).mean())(x)
        model.update(tree_map(lambda p, g: p - 0.1 * g, model.trainable_parameters(), grads))
        return loss

    losses = [step(core.array(x)).item() for _ in range(steps)]
    return losses, model


@pytest.mark.skipif(mlx is None, reason="mlx is not installed")
def test_compiled_training_with_module_state_matches_mlx():
    from mlx.utils import tree_flatten as mlx_flatten
    from mlx.utils import tree_map as mlx_tree_map

    from ferrox.nn._tree import tree_map

    rng = np.random.default_rng(3)
    init = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm(4), nn.ReLU(), nn.Linear(4, 1))
    params = {k: np.array(v) for k, v in tree_flatten(init.parameters())}
    x = rng.standard_normal((8, 3)).astype(np.float32)
    ours, m1 = sgd_steps(nn, mx, tree_map, params, x)
    theirs, m2 = sgd_steps(mlx_nn, mlx, mlx_tree_map, params, x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert ours[-1] < ours[0]
    for (k1, a), (k2, b) in zip(tree_flatten(m1.parameters()), mlx_flatten(m2.parameters())):
        assert k1 == k2
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-6)
    # The running statistics moved (they are state, updated inside the compiled step).
    assert not np.allclose(np.array(m1.layers[1].running_mean), 0)
