"""ferrox.optimizers: every optimizer against its update rule written in NumPy float64
and against MLX's optimizer on the same inputs, over several steps on nested trees of
parameters; the state tree; schedules; clip_grad_norm; compiled training steps; and the
errors MLX raises."""

import math

import numpy as np
import pytest

import ferrox.core as mx
import ferrox.optimizers as optim
from ferrox.utils import tree_flatten, tree_map

try:
    import mlx.core as mlx
    import mlx.optimizers as mlx_optim
    import mlx.utils as mlx_utils
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None

needs_mlx = pytest.mark.skipif(mlx is None, reason="mlx is not installed")

# A parameter tree with nested dicts and lists, matrices (for Adafactor's factored
# moments and Muon's orthogonalization, wide and tall), a 3-D tensor and vectors.
SHAPES = {"w": (4, 6), "layers": [{"k": (5,)}, {"k": (3, 2, 4), "b": (3,)}], "out": (7, 3)}
STEPS = 4


def random_tree(rng, shapes=SHAPES):
    if isinstance(shapes, dict):
        return {k: random_tree(rng, v) for k, v in shapes.items()}
    if isinstance(shapes, list):
        return [random_tree(rng, v) for v in shapes]
    return rng.standard_normal(shapes).astype(np.float32)


def to(module, tree):
    return tree_map(module.array, tree)


def flat_np(tree):
    return [(k, np.array(v)) for k, v in tree_flatten(tree)]


def assert_trees_close(actual, expected, rtol, atol, ordered=True):
    """Equal paths (in the same order unless not ``ordered``) and close values."""
    a, e = flat_np(actual), flat_np(expected)
    if not ordered:
        a, e = sorted(a, key=lambda kv: kv[0]), sorted(e, key=lambda kv: kv[0])
    assert [k for k, _ in a] == [k for k, _ in e]
    for (k, x), (_, y) in zip(a, e):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=k)


# ---- the rules in NumPy float64 ----------------------------------------------------------
# Each is (init(p) -> state dict, step(g, p, state, t, lr) -> new p), t counting from 1.


def sgd_rule(momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False):
    def step(g, p, s, t, lr):
        g = g + weight_decay * p
        if momentum <= 0:
            return p - lr * g
        s["v"] = momentum * s["v"] + (1 - dampening) * g
        return p - lr * (g + momentum * s["v"] if nesterov else s["v"])

    return (lambda p: {"v": np.zeros_like(p)}), step


def rmsprop_rule(alpha=0.99, eps=1e-8):
    def step(g, p, s, t, lr):
        s["v"] = alpha * s["v"] + (1 - alpha) * g**2
        return p - lr * g / (np.sqrt(s["v"]) + eps)

    return (lambda p: {"v": np.zeros_like(p)}), step


def adagrad_rule(eps=1e-8):
    def step(g, p, s, t, lr):
        s["v"] = s["v"] + g**2
        return p - lr * g / (np.sqrt(s["v"]) + eps)

    return (lambda p: {"v": np.zeros_like(p)}), step


def adadelta_rule(rho=0.9, eps=1e-6):
    def step(g, p, s, t, lr):
        s["v"] = rho * s["v"] + (1 - rho) * g**2
        d = np.sqrt(s["u"] + eps) / np.sqrt(s["v"] + eps) * g
        s["u"] = rho * s["u"] + (1 - rho) * d**2
        return p - lr * d

    return (lambda p: {"v": np.zeros_like(p), "u": np.zeros_like(p)}), step


def adam_rule(betas=(0.9, 0.999), eps=1e-8, bias_correction=False, weight_decay=0.0):
    b1, b2 = betas

    def step(g, p, s, t, lr):
        p = p * (1 - lr * weight_decay)
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g**2
        m, v = s["m"], s["v"]
        if bias_correction:
            m, v = m / (1 - b1**t), v / (1 - b2**t)
        return p - lr * m / (np.sqrt(v) + eps)

    return (lambda p: {"m": np.zeros_like(p), "v": np.zeros_like(p)}), step


def adamax_rule(betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas

    def step(g, p, s, t, lr):
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = np.maximum(b2 * s["v"], np.abs(g))
        return p - lr * s["m"] / (s["v"] + eps)

    return (lambda p: {"m": np.zeros_like(p), "v": np.zeros_like(p)}), step


def lion_rule(betas=(0.9, 0.99), weight_decay=0.0):
    b1, b2 = betas

    def step(g, p, s, t, lr):
        c = b1 * s["m"] + (1 - b1) * g
        s["m"] = b2 * s["m"] + (1 - b2) * g
        return p * (1 - lr * weight_decay) - lr * np.sign(c)

    return (lambda p: {"m": np.zeros_like(p)}), step


def adafactor_rule(eps=(1e-30, 1e-3), clip_threshold=1.0, decay_rate=-0.8, beta_1=None,
                   weight_decay=0.0, scale_parameter=True, relative_step=True, warmup_init=False):
    rms = lambda x: np.sqrt(np.mean(x**2))

    def init(p):
        s = {}
        if p.ndim >= 2:
            s["exp_avg_sq_row"] = np.zeros(p.shape[:-1])
            s["exp_avg_sq_col"] = np.zeros(p.shape[:-2] + p.shape[-1:])
        else:
            s["exp_avg_sq"] = np.zeros_like(p)
        if beta_1 is not None:
            s["exp_avg"] = np.zeros_like(p)
        return s

    def step(g, p, s, t, lr):
        if relative_step:
            lr = min(1e-6 * t if warmup_init else 1e-2, 1 / math.sqrt(t))
        if scale_parameter:
            lr = max(eps[1], rms(p)) * lr
        beta2 = 1 - t**decay_rate
        sq = g**2 + eps[0]
        if g.ndim >= 2:
            s["exp_avg_sq_row"] = beta2 * s["exp_avg_sq_row"] + (1 - beta2) * sq.mean(-1)
            s["exp_avg_sq_col"] = beta2 * s["exp_avg_sq_col"] + (1 - beta2) * sq.mean(-2)
            row = s["exp_avg_sq_row"] / s["exp_avg_sq_row"].mean(-1, keepdims=True)
            u = g / np.sqrt(row[..., :, None] * s["exp_avg_sq_col"][..., None, :])
        else:
            s["exp_avg_sq"] = beta2 * s["exp_avg_sq"] + (1 - beta2) * sq
            u = g / np.sqrt(s["exp_avg_sq"])
        u = lr * u / max(1.0, rms(u) / clip_threshold)
        if beta_1 is not None:
            s["exp_avg"] = beta_1 * s["exp_avg"] + (1 - beta_1) * u
            u = s["exp_avg"]
        return p * (1 - weight_decay * lr) - u

    return init, step


def muon_rule(momentum=0.95, weight_decay=0.01, nesterov=True, ns_steps=5):
    def orthogonalize(x):
        tall = x.shape[0] > x.shape[1]
        x = x.T if tall else x
        x = x / (np.linalg.norm(x) + 1e-7)
        for _ in range(ns_steps):
            a = x @ x.T
            x = 3.4445 * x + (-4.7750 * a + 2.0315 * a @ a) @ x
        return x.T if tall else x

    def step(g, p, s, t, lr):
        g = g + weight_decay * p
        s["v"] = momentum * s["v"] + (1 - momentum) * g
        u = (1 - momentum) * g + momentum * s["v"] if nesterov else s["v"]
        if u.ndim >= 2:
            m = u.reshape(u.shape[0], -1)
            u = orthogonalize(m).reshape(u.shape)
            lr = lr * math.sqrt(max(1, m.shape[0] / m.shape[1]))
        return p - lr * u

    return (lambda p: {"v": np.zeros_like(p)}), step


def run_rule(rule, params, grads, lr):
    """Applies a float64 rule for len(grads) steps; returns (params, states) as flat
    dicts by path."""
    init, step = rule
    p = {k: v.astype(np.float64) for k, v in flat_np(params)}
    s = {k: init(v) for k, v in p.items()}
    for t, g in enumerate(grads, start=1):
        lr_t = lr(t - 1) if callable(lr) else lr
        for k, gk in flat_np(g):
            p[k] = step(gk.astype(np.float64), p[k], s[k], t, lr_t)
    return p, s


# (class name, args, kwargs, float64 rule)
CASES = [
    ("SGD", (0.1,), {}, sgd_rule()),
    ("SGD", (0.1,), dict(momentum=0.9, weight_decay=0.01, dampening=0.1), sgd_rule(0.9, 0.01, 0.1)),
    ("SGD", (0.1,), dict(momentum=0.9, nesterov=True), sgd_rule(0.9, nesterov=True)),
    ("RMSprop", (0.01,), dict(alpha=0.9), rmsprop_rule(alpha=0.9)),
    ("Adagrad", (0.1,), {}, adagrad_rule()),
    ("AdaDelta", (0.5,), dict(rho=0.8), adadelta_rule(rho=0.8)),
    ("Adam", (0.01,), {}, adam_rule()),
    ("Adam", (0.01,), dict(betas=[0.8, 0.9], bias_correction=True), adam_rule((0.8, 0.9), bias_correction=True)),
    ("AdamW", (0.01,), dict(weight_decay=0.1), adam_rule(weight_decay=0.1)),
    ("AdamW", (0.01,), dict(bias_correction=True), adam_rule(bias_correction=True, weight_decay=0.01)),
    ("Adamax", (0.01,), {}, adamax_rule()),
    ("Lion", (0.01,), dict(weight_decay=0.1), lion_rule(weight_decay=0.1)),
    ("Adafactor", (), {}, adafactor_rule()),
    ("Adafactor", (), dict(beta_1=0.9, weight_decay=0.1, warmup_init=True),
     adafactor_rule(beta_1=0.9, weight_decay=0.1, warmup_init=True)),
    ("Adafactor", (0.05,), dict(relative_step=False, scale_parameter=False, clip_threshold=0.5),
     adafactor_rule(relative_step=False, scale_parameter=False, clip_threshold=0.5)),
    ("Muon", (0.02,), {}, muon_rule()),
    ("Muon", (0.02,), dict(nesterov=False, weight_decay=0.0, ns_steps=3),
     muon_rule(nesterov=False, weight_decay=0.0, ns_steps=3)),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


def run_optimizer(module, opt, params, grads):
    p = to(module, params)
    for g in grads:
        p = opt.apply_gradients(to(module, g), p)
    return p


@pytest.mark.parametrize("name, args, kwargs, rule", CASES, ids=IDS)
def test_matches_float64_rule(name, args, kwargs, rule, rng):
    params = random_tree(rng)
    grads = [random_tree(rng) for _ in range(STEPS)]
    opt = getattr(optim, name)(*args, **kwargs)
    got = run_optimizer(mx, opt, params, grads)
    lr = args[0] if args else None
    want_p, want_s = run_rule(rule, params, grads, lr)
    for k, v in flat_np(got):
        np.testing.assert_allclose(v, want_p[k], rtol=2e-5, atol=2e-6, err_msg=k)
    # The buffers too, by path: opt.state holds "<param path>.<buffer>".
    state = dict(flat_np(opt.state))
    assert state.pop("step") == STEPS
    state.pop("learning_rate", None)
    want = {f"{k}.{b}": v for k, s in want_s.items() for b, v in s.items()}
    assert sorted(state) == sorted(want)
    for k, v in state.items():
        np.testing.assert_allclose(v, want[k], rtol=2e-5, atol=1e-6, err_msg=k)


@needs_mlx
@pytest.mark.parametrize("name, args, kwargs, rule", CASES, ids=IDS)
def test_matches_mlx(name, args, kwargs, rule, rng):
    params = random_tree(rng)
    grads = [random_tree(rng) for _ in range(STEPS)]
    ours = getattr(optim, name)(*args, **kwargs)
    theirs = getattr(mlx_optim, name)(*args, **kwargs)
    got = run_optimizer(mx, ours, params, grads)
    want = run_optimizer(mlx, theirs, params, grads)
    assert_trees_close(got, want, rtol=1e-5, atol=1e-6)
    # The same state tree: the same paths (so the same nesting) and values.
    assert_trees_close(ours.state, theirs.state, rtol=1e-5, atol=1e-6)


def test_state_tree_structure():
    p = {"a": mx.ones((2, 3)), "l": [mx.ones((3,)), {"b": mx.ones((1,))}]}
    opt = optim.Adam(0.1)
    assert list(opt.state) == ["step", "learning_rate"]
    assert opt.state["step"].dtype == mx.uint64 and opt.state["step"].item() == 0
    assert opt.learning_rate.dtype == mx.float32
    np.testing.assert_allclose(opt.learning_rate.item(), 0.1, rtol=1e-7)
    opt.apply_gradients(p, p)
    s = opt.state
    assert list(s) == ["step", "learning_rate", "a", "l"]
    assert isinstance(s["l"], list) and list(s["l"][1]["b"]) == ["m", "v"]
    assert s["l"][0]["m"].shape == (3,) and s["a"]["v"].shape == (2, 3)
    assert opt.step.item() == 1
    # Factored moments for matrices; none of the learning rate without one.
    af = optim.Adafactor(beta_1=0.9)
    af.init({"a": mx.ones((2, 3, 4)), "b": mx.ones(3)})
    assert list(af.state) == ["step", "a", "b"]
    assert {k: v.shape for k, v in af.state["a"].items()} == {
        "exp_avg_sq_row": (2, 3), "exp_avg_sq_col": (2, 4), "exp_avg": (2, 3, 4)}
    assert list(af.state["b"]) == ["exp_avg_sq", "exp_avg"]
    with pytest.raises(KeyError):
        optim.Adafactor(relative_step=False).apply_gradients({"b": mx.ones(3)}, {"b": mx.ones(3)})


@needs_mlx
def test_state_keys_as_mlx():
    shapes = {"a": (2, 3), "l": [(3,), {"b": (1,)}]}
    rng = np.random.default_rng(1)
    params = random_tree(rng, shapes)
    for name, args in [("SGD", (0.1,)), ("RMSprop", (0.1,)), ("Adagrad", (0.1,)), ("AdaDelta", (0.1,)),
                       ("Adam", (0.1,)), ("AdamW", (0.1,)), ("Adamax", (0.1,)), ("Lion", (0.1,)),
                       ("Adafactor", ()), ("Muon", (0.1,))]:
        ours, theirs = getattr(optim, name)(*args), getattr(mlx_optim, name)(*args)
        assert list(ours.state) == list(theirs.state), name
        ours.apply_gradients(to(mx, params), to(mx, params))
        theirs.apply_gradients(to(mlx, params), to(mlx, params))
        assert [k for k, _ in tree_flatten(ours.state)] == [k for k, _ in mlx_utils.tree_flatten(theirs.state)], name


def test_state_is_updated_in_place_and_can_be_replaced():
    opt = optim.SGD(0.1, momentum=0.5)
    state = opt.state
    opt.apply_gradients({"a": mx.ones(2)}, {"a": mx.ones(2)})
    assert opt.state is state and state["step"].item() == 1
    np.testing.assert_allclose(np.array(state["a"]["v"]), [1.0, 1.0])
    # Initialised once: a new gradient key after the first update is an error, as in MLX.
    with pytest.raises(KeyError):
        opt.apply_gradients({"a": mx.ones(2), "c": mx.ones(3)}, {"a": mx.ones(2), "c": mx.ones(3)})
    # A replaced state is completed at the next update.
    opt.state = {"step": mx.array(5, mx.uint64), "learning_rate": mx.array(0.2)}
    out = opt.apply_gradients({"a": mx.ones(2)}, {"a": mx.ones(2)})
    np.testing.assert_allclose(np.array(out["a"]), [0.8, 0.8], rtol=1e-6)
    assert opt.step.item() == 6 and list(opt.state) == ["step", "learning_rate", "a"]


def test_learning_rate_setter_and_bfloat16():
    opt = optim.SGD(0.1)
    opt.learning_rate = 0.5
    assert opt.learning_rate.dtype == mx.float32 and opt.learning_rate.item() == 0.5
    opt.learning_rate = 2
    assert opt.learning_rate.dtype == mx.int32
    with pytest.raises(ValueError):
        opt.learning_rate = lambda step: 0.1  # a schedule only through the constructor
    # bfloat16 parameters stay bfloat16, and so do their buffers.
    adam = optim.Adam(0.1)
    out = adam.apply_gradients({"a": mx.ones(2, mx.bfloat16)}, {"a": mx.ones(2, mx.bfloat16)})
    assert out["a"].dtype == mx.bfloat16 and adam.state["a"]["m"].dtype == mx.bfloat16
    # m = 0.1, v = 0.001: 1 - 0.1 * 0.1 / sqrt(0.001), to bfloat16's precision.
    np.testing.assert_allclose(np.array(out["a"].astype(mx.float32)), [1 - 0.01 / math.sqrt(1e-3)] * 2, rtol=1e-2)


def test_learning_rate_schedule_through_the_optimizer():
    # Evaluated at the step before it advances: the first update uses schedule(0).
    schedule = optim.exponential_decay(0.5, 0.5)
    opt = optim.SGD(schedule)
    np.testing.assert_allclose(opt.learning_rate.item(), 0.5)
    p = {"w": mx.zeros((3,))}
    seen = []
    for t in range(4):
        p = opt.apply_gradients({"w": mx.ones((3,))}, p)
        seen.append(opt.learning_rate.item())
    np.testing.assert_allclose(seen, [0.5, 0.25, 0.125, 0.0625], rtol=1e-6)
    np.testing.assert_allclose(np.array(p["w"]), [-sum(seen)] * 3, rtol=1e-6)
    if mlx is not None:
        theirs = mlx_optim.SGD(mlx_optim.exponential_decay(0.5, 0.5))
        q = {"w": mlx.zeros((3,))}
        for _ in range(4):
            q = theirs.apply_gradients({"w": mlx.ones((3,))}, q)
        np.testing.assert_allclose(np.array(p["w"]), np.array(q["w"]), rtol=1e-6)
    # A schedule giving a constant is stored as given, as in MLX.
    assert optim.SGD(lambda step: 0.5).state["learning_rate"] == 0.5


# ---- schedules -------------------------------------------------------------------------

STEPS_TO_CHECK = [0, 1, 3, 7, 10, 15, 30]


def schedule_cases(lib):
    return [
        (lib.exponential_decay(0.1, 0.9), lambda s: 0.1 * 0.9**s),
        (lib.step_decay(0.1, 0.5, 3), lambda s: 0.1 * 0.5 ** (s // 3)),
        (lib.cosine_decay(0.1, 10), lambda s: 0.05 * (1 + math.cos(math.pi * min(s, 10) / 10))),
        (lib.cosine_decay(0.1, 10, 0.01), lambda s: 0.01 + 0.045 * (1 + math.cos(math.pi * min(s, 10) / 10))),
        (lib.linear_schedule(0.0, 0.1, 10), lambda s: 0.01 * min(s, 10)),
        (lib.join_schedules([lib.linear_schedule(0.0, 0.1, 10), lib.exponential_decay(0.1, 0.5)], [10]),
         lambda s: 0.01 * s if s < 10 else 0.1 * 0.5 ** (s - 10)),
        (lib.join_schedules([lib.linear_schedule(0.0, 0.1, 5), lib.cosine_decay(0.1, 10), lib.step_decay(0.3, 0.1, 2)], [5, 12]),
         lambda s: 0.02 * s if s < 5 else (0.05 * (1 + math.cos(math.pi * min(s - 5, 10) / 10)) if s < 12 else 0.3 * 0.1 ** ((s - 12) // 2))),
    ]


@pytest.mark.parametrize("index", range(7))
def test_schedules_follow_their_formulas(index):
    schedule, formula = schedule_cases(optim)[index]
    for s in STEPS_TO_CHECK:
        got = schedule(mx.array(s, mx.uint64))
        assert isinstance(got, mx.array)
        np.testing.assert_allclose(np.array(got), formula(s), rtol=1e-5, atol=1e-8, err_msg=str(s))


@needs_mlx
@pytest.mark.parametrize("index", range(7))
def test_schedules_match_mlx(index):
    ours, theirs = schedule_cases(optim)[index][0], schedule_cases(mlx_optim)[index][0]
    for s in STEPS_TO_CHECK:
        np.testing.assert_allclose(
            np.array(ours(mx.array(s, mx.uint64))), np.array(theirs(mlx.array(s, mlx.uint64))), rtol=1e-6)
        a, b = ours(s), theirs(s)  # Python ints too (numbers or arrays, as MLX gives)
        assert isinstance(a, mx.array) == isinstance(b, mlx.array)
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-6)


def test_schedule_errors():
    with pytest.raises(ValueError, match="steps must be greater than 0"):
        optim.linear_schedule(0, 1, 0)
    with pytest.raises(ValueError, match="Received 1 boundaries but expected 0"):
        optim.join_schedules([optim.linear_schedule(0, 1, 10)], [3])
    with pytest.raises(ValueError, match="at least 1 schedule"):
        optim.join_schedules([], [])


# ---- clip_grad_norm ------------------------------------------------------------------


def test_clip_grad_norm(rng):
    grads = to(mx, random_tree(rng))
    flat = [np.array(g, np.float64) for _, g in tree_flatten(grads)]
    norm = math.sqrt(sum((g**2).sum() for g in flat))
    clipped, total = optim.clip_grad_norm(grads, 1.0)
    np.testing.assert_allclose(total.item(), norm, rtol=1e-6)
    scale = 1.0 / (norm + 1e-6)
    for (k, c), g in zip(tree_flatten(clipped), flat):
        np.testing.assert_allclose(np.array(c), g * scale, rtol=1e-5, atol=1e-7, err_msg=k)
    clipped_norm = math.sqrt(sum((np.array(c, np.float64) ** 2).sum() for _, c in tree_flatten(clipped)))
    np.testing.assert_allclose(clipped_norm, 1.0, rtol=1e-5)
    # Within the bound: unchanged; structure (tuples too) kept; zeros stay zeros.
    small = {"a": mx.array([3.0, 4.0]), "t": (mx.zeros((2,)),)}
    out, total = optim.clip_grad_norm(small, 10.0)
    assert total.item() == 5.0 and isinstance(out["t"], tuple)
    np.testing.assert_array_equal(np.array(out["a"]), [3.0, 4.0])
    out, total = optim.clip_grad_norm({"z": mx.zeros((3,))}, 1.0)
    assert total.item() == 0.0 and np.array(out["z"]).tolist() == [0.0, 0.0, 0.0]


@needs_mlx
def test_clip_grad_norm_matches_mlx(rng):
    grads = random_tree(rng)
    for max_norm in [0.5, 100.0]:
        ours, our_norm = optim.clip_grad_norm(to(mx, grads), max_norm)
        theirs, their_norm = mlx_optim.clip_grad_norm(to(mlx, grads), max_norm)
        np.testing.assert_allclose(our_norm.item(), their_norm.item(), rtol=1e-6)
        assert_trees_close(ours, theirs, rtol=1e-6, atol=1e-8)
    bf = [mx.ones(3, mx.bfloat16)]
    out, norm = optim.clip_grad_norm(bf, 1.0)
    assert out[0].dtype == norm.dtype == mx.bfloat16


# ---- models, update, MultiOptimizer ---------------------------------------------------


class TinyModel(dict):
    """A stand-in for nn.Module: a dict of parameters with update and state."""

    def update(self, parameters):
        for k, v in parameters.items():
            self[k] = v
        return self

    @property
    def state(self):
        return self

    def trainable_parameters(self):
        return dict(self)


def loss_fn(params, x, y):
    return mx.mean(mx.square(x @ params["w"] + params["b"] - y))


def test_update_applies_to_the_model():
    model = TinyModel(w=mx.ones((2, 2)), b=mx.zeros((2,)))
    opt = optim.SGD(0.5)
    grads = {"w": mx.ones((2, 2)), "b": mx.array([1.0, -1.0])}
    opt.update(model, grads)
    np.testing.assert_allclose(np.array(model["w"]), np.full((2, 2), 0.5))
    np.testing.assert_allclose(np.array(model["b"]), [-0.5, 0.5])
    # Parameters without gradients are left out of the update (and of the state).
    model["frozen"] = mx.ones(3)
    opt2 = optim.Adam(0.1)
    opt2.update(model, {"b": mx.ones(2)})
    assert list(opt2.state) == ["step", "learning_rate", "b"]
    np.testing.assert_array_equal(np.array(model["frozen"]), [1.0, 1.0, 1.0])


def test_multi_optimizer(rng):
    params = to(mx, random_tree(rng))
    grads = to(mx, random_tree(rng))
    is_matrix = lambda path, p: p.ndim == 2
    multi = optim.MultiOptimizer([optim.Adam(0.1), optim.SGD(0.2)], [is_matrix])
    out = multi.apply_gradients(grads, params)
    # Each parameter as its own optimizer would have updated it.
    adam_part = {"w": grads["w"], "out": grads["out"]}
    want_adam = optim.Adam(0.1).apply_gradients(adam_part, params)
    want_sgd = optim.SGD(0.2).apply_gradients({"layers": grads["layers"]}, params)
    assert_trees_close(out, {**want_adam, **want_sgd}, rtol=0, atol=0)
    states = multi.state["states"]
    assert list(multi.state) == ["states"] and len(states) == 2
    assert sorted(states[0]) == ["learning_rate", "out", "step", "w"]
    assert sorted(states[1]) == ["layers", "learning_rate", "step"]
    np.testing.assert_allclose(multi.learning_rate.item(), 0.1, rtol=1e-7)
    multi.learning_rate = 0.5
    assert [s["learning_rate"].item() for s in multi.state["states"]] == [0.5, 0.5]
    with pytest.raises(KeyError):
        multi.step
    with pytest.raises(ValueError, match="Given 0 filters but 1 needed"):
        optim.MultiOptimizer([optim.Adam(0.1), optim.SGD(0.2)], [])
    with pytest.raises(ValueError, match="Invalid state provided"):
        multi.state = {"x": 1}


@needs_mlx
def test_multi_optimizer_matches_mlx(rng):
    params, grads = random_tree(rng), random_tree(rng)
    filt = [lambda path, p: p.ndim == 2, lambda path, p: path.startswith("layers.1")]
    ours = optim.MultiOptimizer([optim.Muon(0.02), optim.Lion(0.01), optim.AdamW(0.01)], filt)
    theirs = mlx_optim.MultiOptimizer([mlx_optim.Muon(0.02), mlx_optim.Lion(0.01), mlx_optim.AdamW(0.01)], filt)
    got = run_optimizer(mx, ours, params, [grads, grads])
    want = run_optimizer(mlx, theirs, params, [grads, grads])
    # (MLX merges the optimizers' results in an order that varies from run to run.)
    assert_trees_close(got, want, rtol=1e-5, atol=1e-6, ordered=False)
    assert_trees_close(ours.state, theirs.state, rtol=1e-5, atol=1e-6)


def train(compiled, make_optimizer, init_first=True):
    rng = np.random.default_rng(3)
    model = TinyModel(w=mx.array(rng.standard_normal((3, 2)).astype(np.float32)), b=mx.zeros((2,)))
    opt = make_optimizer()
    if init_first:
        opt.init(model.trainable_parameters())
    state = [model.state, opt.state]

    def step(x, y):
        loss, grads = mx.value_and_grad(loss_fn)(model.trainable_parameters(), x, y)
        opt.update(model, grads)
        return loss

    if compiled:
        step = mx.compile(step, inputs=state, outputs=state)
    losses = []
    for _ in range(5):
        x = mx.array(rng.standard_normal((8, 3)).astype(np.float32))
        y = mx.array(rng.standard_normal((8, 2)).astype(np.float32))
        losses.append(step(x, y).item())
    return losses, model, opt


@pytest.mark.parametrize(
    "make_optimizer",
    [lambda: optim.SGD(0.1, momentum=0.8), lambda: optim.Adam(optim.cosine_decay(0.1, 10), bias_correction=True),
     lambda: optim.Adafactor(beta_1=0.9)],
    ids=["sgd", "adam-scheduled", "adafactor"],
)
def test_compiled_step_matches_uncompiled(make_optimizer):
    eager_losses, eager_model, eager_opt = train(False, make_optimizer)
    losses, model, opt = train(True, make_optimizer)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-5)
    assert losses[-1] != losses[0]
    assert_trees_close(model, eager_model, rtol=1e-5, atol=1e-6)
    assert_trees_close(opt.state, eager_opt.state, rtol=1e-5, atol=1e-6)
    assert opt.step.item() == 5


def test_compiled_step_with_lazy_init():
    eager_losses, _, _ = train(False, lambda: optim.SGD(0.1, momentum=0.8), init_first=False)
    losses, _, _ = train(True, lambda: optim.SGD(0.1, momentum=0.8), init_first=False)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-5)


# ---- errors ----------------------------------------------------------------------------

BAD_ARGUMENTS = [
    ("SGD", (0.1,), dict(nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", (0.1,), dict(momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    ("RMSprop", (0.1,), dict(alpha=-1), "RMSprop alpha should be >=0, -1 was provided instead"),
    ("RMSprop", (0.1,), dict(eps=-1), "RMSprop epsilon should be >0"),
    ("Adagrad", (0.1,), dict(eps=-1), "Adagrad epsilon should be >0"),
    ("AdaDelta", (0.1,), dict(rho=-1), "AdaDelta rho should be >=0"),
    ("AdaDelta", (0.1,), dict(eps=-1), "AdaDelta epsilon should be >0"),
    ("Adam", (0.1,), dict(betas=[2, 0.9]), r"Adam beta1 should be in \[0, 1\), 2 was provided instead"),
    ("Adam", (0.1,), dict(betas=[0.5, 3]), r"Adam beta2 should be in \[0, 1\)"),
    ("AdamW", (0.1,), dict(betas=[1.5, 0.3]), "Adam beta1"),
    ("Adamax", (0.1,), dict(eps=-1), "Adam epsilon should be >=0"),
    ("Adam", (0.1,), dict(eps=-1), "Adam epsilon should be >=0, -1 was provided instead"),
    ("Adamax", (0.1,), dict(betas=[0.5, 1.5]), r"Adam beta2 should be in \[0, 1\), 1.5"),
    ("RMSprop", (0.1,), dict(eps=0), "RMSprop epsilon should be >0, 0 was provided instead"),
    ("Adagrad", (0.1,), dict(eps=0), "Adagrad epsilon should be >0, 0"),
    ("AdaDelta", (0.1,), dict(eps=0, rho=0), "AdaDelta epsilon should be >0, 0"),
    ("Lion", (0.1,), dict(betas=[-0.1, 0.5]), r"Lion beta1 should be in \[0, 1\), -0.1"),
    ("Lion", (0.1,), dict(betas=[0.5, 3]), r"Lion beta2 should be in \[0, 1\)"),
]


@pytest.mark.parametrize("name, args, kwargs, message", BAD_ARGUMENTS)
def test_bad_arguments_raise_like_mlx(name, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(optim, name)(*args, **kwargs)
    if mlx is not None:
        with pytest.raises(ValueError, match=message):
            getattr(mlx_optim, name)(*args, **kwargs)


def test_no_learning_rate_is_a_type_error():
    with pytest.raises(TypeError):
        optim.SGD(None)


def test_boundary_arguments_are_accepted():
    # The bounds as MLX draws them: zero is allowed for these, not for RMSprop's eps.
    assert optim.Adam(0.1, betas=[0, 0], eps=0).betas == [0, 0]
    assert optim.Adamax(0.1, eps=0).eps == 0
    assert optim.RMSprop(0.1, alpha=0).alpha == 0
    assert optim.AdaDelta(0.1, rho=0).rho == 0


def test_other_errors():
    with pytest.raises(ValueError):
        optim.SGD("a")
    with pytest.raises(NotImplementedError):
        optim.Optimizer().apply_single(mx.ones(1), mx.ones(1), {})
    with pytest.raises(NotImplementedError):
        optim.Optimizer().init_single(mx.ones(1), {})
    with pytest.raises(KeyError):  # a gradient for a parameter that is not there
        optim.SGD(0.1).apply_gradients({"a": mx.ones(2), "b": mx.ones(3)}, {"a": mx.ones(2)})
    assert optim.Optimizer().state == {"step": optim.Optimizer().state["step"]}


def test_tuples_and_empty_containers_in_the_tree():
    def run(core, lib):
        p = {"t": (core.ones(2), {"x": core.ones(1)}), "l": [[core.ones(1)], []], "e": {}}
        opt = lib.Adam(0.1)
        return opt.apply_gradients(p, p), opt.state

    out, state = run(mx, optim)
    assert isinstance(out["t"], tuple) and out["l"][1] == [] and out["e"] == {}
    assert isinstance(state["t"], tuple) and list(state["t"][1]["x"]) == ["m", "v"]
    assert state["l"] == [[state["l"][0][0]], []] and state["e"] == {}
    np.testing.assert_allclose(np.array(out["t"][0]), [1 - 0.01 / math.sqrt(1e-3)] * 2, rtol=1e-6)
    if mlx is not None:
        want_out, want_state = run(mlx, mlx_optim)
        assert_trees_close(out, want_out, rtol=1e-6, atol=0)
        assert_trees_close(state, want_state, rtol=1e-6, atol=0)
        assert type(want_state["t"]) is tuple


MLX_PROGRAM = '''
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten

params = {"w": mx.array([[0.5, -0.2], [0.1, 0.3]]), "b": [mx.zeros((2,))]}
x = mx.array([[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]])
y = mx.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])

def loss(p):
    return mx.mean(mx.square(x @ p["w"] + p["b"][0] - y))

lr = optim.join_schedules([optim.linear_schedule(0.0, 0.1, 3), optim.cosine_decay(0.1, 10)], [3])
opt = optim.AdamW(lr, weight_decay=0.05)
value_and_grad = mx.value_and_grad(loss)
for _ in range(6):
    _, grads = value_and_grad(params)
    grads, _ = optim.clip_grad_norm(grads, 1.0)
    params = opt.apply_gradients(grads, params)
print(optim.AdamW.__module__.split(".")[0])
print("%.5f" % loss(params).item(), "%.5f" % opt.learning_rate.item())
print([k for k, _ in tree_flatten(opt.state)])
'''


def test_unmodified_mlx_program_through_the_alias(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(MLX_PROGRAM)

    def run(*args):
        out = subprocess.run([sys.executable, *args, str(script)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.splitlines()

    ours = run("-m", "ferrox.run")
    assert ours[0] == "ferrox"
    assert ours[2] == str(["step", "learning_rate", "w.m", "w.v", "b.0.m", "b.0.v"])
    if mlx is not None:
        theirs = run()
        assert theirs[0] == "mlx" and ours[1:] == theirs[1:]
