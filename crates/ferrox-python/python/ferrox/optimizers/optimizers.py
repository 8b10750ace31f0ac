"""Optimizers: ``mlx.optimizers``' classes over ``ferrox.core``.

An optimizer keeps its state in one tree of plain dicts and lists of arrays
(``opt.state``): ``step`` (a uint64 scalar), ``learning_rate`` (and any other
scheduled hyperparameter) and, under each parameter's path, a dict of that
parameter's buffers (``{"m": ..., "v": ...}``). Every update replaces entries of that
tree in place, which is what lets ``mx.compile(step, inputs=state, outputs=state)``
capture it: compile reads the arrays in before the call and writes the new ones back.

Each optimizer only states its rule for one parameter (``init_single`` makes its
buffers, ``apply_single`` returns the new parameter and updates its buffers); the base
class walks the trees.
"""

import math

import ferrox.core as mx

from ..utils import tree_flatten, tree_map, tree_merge, tree_unflatten

__all__ = [
    "Optimizer",
    "MultiOptimizer",
    "SGD",
    "RMSprop",
    "Adagrad",
    "AdaDelta",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "Adafactor",
    "Muon",
    "clip_grad_norm",
]


class Optimizer:
    """The base class of all optimizers: the state tree, the step counter, scheduled
    hyperparameters and the walk over parameter trees.

    Args:
        schedulers (dict, optional): hyperparameter name -> callable ``step -> value``,
            evaluated at every update before the step counter advances.
    """

    def __init__(self, schedulers=None):
        self._initialized = False
        self._state = {"step": mx.array(0, mx.uint64)}
        self._schedulers = dict(schedulers or {})

    # ---- the walk over trees ---------------------------------------------------------

    def update(self, model, gradients):
        """Applies the gradients to the parameters of ``model`` and updates the model
        with the new parameters (``model.update(...)``)."""
        model.update(self.apply_gradients(gradients, model))

    def init(self, parameters):
        """Creates the state of every parameter of ``parameters`` that has none yet.

        Optional: the first :meth:`apply_gradients` calls it. Calling it before a
        compiled step keeps the state's structure fixed from the first call on.
        """
        _init_tree(self, parameters, self._state)
        self._initialized = True

    def init_single(self, parameter, state):
        """Fills ``state`` (an empty dict) with the buffers of one ``parameter``."""
        raise NotImplementedError()

    def apply_gradients(self, gradients, parameters):
        """Returns the parameters after one update with ``gradients``.

        ``gradients`` and ``parameters`` are trees of the same structure (``parameters``
        may hold more entries). The state is created on the first call; each call
        evaluates the schedules at the current step, then advances the step.
        """
        if not self._initialized:
            self.init(gradients)
        for name, schedule in self._schedulers.items():
            self.state[name] = schedule(self.step)
        self.state["step"] = self.step + 1
        return tree_map(self.apply_single, gradients, parameters, self.state)

    def apply_single(self, gradient, parameter, state):
        """Returns the updated ``parameter`` and updates its ``state`` in place."""
        raise NotImplementedError()

    # ---- state and hyperparameters ---------------------------------------------------

    @property
    def state(self):
        """The optimizer's state tree (plain dicts and lists of arrays)."""
        return self._state

    @state.setter
    def state(self, state):
        # A replaced state may lack buffers for some parameters: make them at the next
        # update.
        self._initialized = False
        self._state = state

    @property
    def step(self):
        """The number of updates made so far (a uint64 array)."""
        return self.state["step"]

    @property
    def learning_rate(self):
        """The current learning rate (an array; with a schedule, its value at the
        last update)."""
        return self.state["learning_rate"]

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        # A number or an array, not a schedule (as in MLX); a schedule given to the
        # constructor still sets the value again at the next update.
        self.state["learning_rate"] = mx.array(learning_rate)

    def _maybe_schedule(self, name, value):
        """Stores hyperparameter ``name`` in the state: a callable is a schedule of the
        step (kept, and evaluated at step 0 now), anything else becomes an array."""
        if callable(value):
            self._schedulers[name] = value
            value = value(self.step)
        else:
            value = mx.array(value)
        self.state[name] = value


def _init_tree(optimizer, params, state):
    """Returns ``state`` (possibly None) grown to ``params``' structure, with each new
    parameter's buffers made by ``init_single``. Dicts are filled in place so that the
    caller's state tree stays the same object."""
    if isinstance(params, (list, tuple)):
        state = list(state) if state is not None else []
        for i, p in enumerate(params):
            if i < len(state):
                state[i] = _init_tree(optimizer, p, state[i])
            else:
                state.append(_init_tree(optimizer, p, None))
        return type(params)(state)
    if isinstance(params, dict):
        state = {} if state is None else state
        for k, p in params.items():
            state[k] = _init_tree(optimizer, p, state.get(k))
        return state
    # A parameter: its state is a dict of buffers, made once.
    state = {} if state is None else state
    if not state:
        optimizer.init_single(params, state)
    return state


def _lr(optimizer, like):
    """The learning rate in the dtype of ``like``, so that a bfloat16 parameter stays
    bfloat16 after the update."""
    return optimizer.learning_rate.astype(like.dtype)


class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional momentum, weight decay, dampening
    and Nesterov momentum:

    .. math::
        g &= g + \lambda w \\
        v &= \mu v + (1 - \tau) g \\
        w &= w - \eta (g + \mu v \text{ if nesterov else } v)

    Without momentum (``momentum <= 0``) the step is ``w - lr * g``.
    """

    def __init__(self, learning_rate, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening.")
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.dampening = dampening
        self.nesterov = nesterov

    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        if self.weight_decay != 0:
            gradient = gradient + self.weight_decay * parameter
        lr = _lr(self, gradient)
        if self.momentum <= 0:
            return parameter - lr * gradient
        v = self.momentum * state["v"]
        v = v + (1 - self.dampening) * gradient if self.dampening > 0 else v + gradient
        state["v"] = v
        update = gradient + self.momentum * v if self.nesterov else v
        return parameter - lr * update


def _check(cond, message):
    if not cond:
        raise ValueError(message)


class RMSprop(Optimizer):
    r"""RMSprop: ``v = alpha v + (1 - alpha) g^2``, ``w = w - lr g / (sqrt(v) + eps)``."""

    def __init__(self, learning_rate, alpha=0.99, eps=1e-8):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.alpha = alpha
        self.eps = eps
        _check(alpha >= 0, f"RMSprop alpha should be >=0, {alpha} was provided instead")
        _check(eps > 0, f"RMSprop epsilon should be >0, {eps} was provided instead")

    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        v = self.alpha * state["v"] + (1 - self.alpha) * mx.square(gradient)
        state["v"] = v
        return parameter - _lr(self, gradient) * gradient / (mx.sqrt(v) + self.eps)


class Adagrad(Optimizer):
    r"""Adagrad: ``v = v + g^2``, ``w = w - lr g / (sqrt(v) + eps)``."""

    def __init__(self, learning_rate, eps=1e-8):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.eps = eps
        _check(eps > 0, f"Adagrad epsilon should be >0, {eps} was provided instead")

    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        v = state["v"] + mx.square(gradient)
        state["v"] = v
        return parameter - _lr(self, gradient) * gradient / (mx.sqrt(v) + self.eps)


class AdaDelta(Optimizer):
    r"""AdaDelta:

    .. math::
        v &= \rho v + (1 - \rho) g^2 \\
        \Delta &= \frac{\sqrt{u + \epsilon}}{\sqrt{v + \epsilon}} g \\
        u &= \rho u + (1 - \rho) \Delta^2 \\
        w &= w - \eta \Delta
    """

    def __init__(self, learning_rate, rho=0.9, eps=1e-6):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.rho = rho
        self.eps = eps
        _check(rho >= 0, f"AdaDelta rho should be >=0, {rho} was provided instead")
        _check(eps > 0, f"AdaDelta epsilon should be >0, {eps} was provided instead")

    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)
        state["u"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        rho, eps = self.rho, self.eps
        v = rho * state["v"] + (1 - rho) * mx.square(gradient)
        delta = mx.sqrt(state["u"] + eps) / mx.sqrt(v + eps) * gradient
        state["v"] = v
        state["u"] = rho * state["u"] + (1 - rho) * mx.square(delta)
        return parameter - _lr(self, gradient) * delta


def _check_betas(name, betas):
    for i, b in enumerate(betas[:2]):
        _check(0 <= b < 1, f"{name} beta{i + 1} should be in [0, 1), {b} was provided instead")


class Adam(Optimizer):
    r"""Adam:

    .. math::
        m &= \beta_1 m + (1 - \beta_1) g \\
        v &= \beta_2 v + (1 - \beta_2) g^2 \\
        w &= w - \eta \frac{m}{\sqrt{v} + \epsilon}

    With ``bias_correction`` the moments are divided by ``1 - beta^t`` (t = step).
    """

    def __init__(self, learning_rate, betas=[0.9, 0.999], eps=1e-8, bias_correction=False):
        _check_betas("Adam", betas)
        _check(eps >= 0, f"Adam epsilon should be >=0, {eps} was provided instead")
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.eps = eps
        self.bias_correction = bias_correction

    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        b1, b2 = self.betas
        m = b1 * state["m"] + (1 - b1) * gradient
        v = b2 * state["v"] + (1 - b2) * mx.square(gradient)
        state["m"], state["v"] = m, v
        lr = _lr(self, gradient)
        if self.bias_correction:
            step = self.step
            numerator = lr / (1 - b1**step) * m
            denominator = mx.sqrt(v) / mx.sqrt(1 - b2**step) + self.eps
            return parameter - (numerator / denominator).astype(gradient.dtype)
        return parameter - lr * m / (mx.sqrt(v) + self.eps)


class AdamW(Adam):
    r"""Adam with decoupled weight decay: ``w = w (1 - lr lambda)`` before the Adam step."""

    def __init__(self, learning_rate, betas=[0.9, 0.999], eps=1e-8, weight_decay=0.01, bias_correction=False):
        super().__init__(learning_rate=learning_rate, betas=betas, eps=eps, bias_correction=bias_correction)
        self.weight_decay = weight_decay

    def apply_single(self, gradient, parameter, state):
        lr = _lr(self, gradient)
        return super().apply_single(gradient, parameter * (1 - lr * self.weight_decay), state)


class Adamax(Adam):
    r"""Adamax, Adam under the infinity norm:

    .. math::
        m &= \beta_1 m + (1 - \beta_1) g \\
        v &= \max(\beta_2 v, |g|) \\
        w &= w - \eta \frac{m}{v + \epsilon}
    """

    def __init__(self, learning_rate, betas=[0.9, 0.999], eps=1e-8):
        super().__init__(learning_rate, betas, eps)

    def apply_single(self, gradient, parameter, state):
        b1, b2 = self.betas
        m = b1 * state["m"] + (1 - b1) * gradient
        v = mx.maximum(b2 * state["v"], mx.abs(gradient))
        state["m"], state["v"] = m, v
        return parameter - _lr(self, gradient) * m / (v + self.eps)


class Lion(Optimizer):
    r"""Lion: the sign of an interpolation of momentum and gradient.

    .. math::
        c &= \beta_1 m + (1 - \beta_1) g \\
        m &= \beta_2 m + (1 - \beta_2) g \\
        w &= w (1 - \eta \lambda) - \eta \operatorname{sign}(c)
    """

    def __init__(self, learning_rate, betas=[0.9, 0.99], weight_decay=0.0):
        _check_betas("Lion", betas)
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.weight_decay = weight_decay

    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        b1, b2 = self.betas
        m = state["m"]
        c = b1 * m + (1 - b1) * gradient
        state["m"] = b2 * m + (1 - b2) * gradient
        lr = _lr(self, gradient)
        if self.weight_decay > 0:
            parameter = (1 - lr * self.weight_decay) * parameter
        return parameter - lr * mx.sign(c)


class Adafactor(Optimizer):
    r"""Adafactor (Shazeer and Stern, 2018): Adam-like steps with the second moment
    of a matrix kept factored as row and column means (``exp_avg_sq_row``,
    ``exp_avg_sq_col``), updates clipped by their RMS, and by default a step size
    relative to the step count and the parameter's RMS.

    Without ``relative_step`` a ``learning_rate`` must be given.
    """

    def __init__(
        self,
        learning_rate=None,
        eps=(1e-30, 1e-3),
        clip_threshold=1.0,
        decay_rate=-0.8,
        beta_1=None,
        weight_decay=0.0,
        scale_parameter=True,
        relative_step=True,
        warmup_init=False,
    ):
        super().__init__()
        if learning_rate is not None:
            self._maybe_schedule("learning_rate", learning_rate)
        self.eps = eps
        self.clip_threshold = clip_threshold
        self.decay_rate = decay_rate
        self.beta_1 = beta_1
        self.weight_decay = weight_decay
        self.scale_parameter = scale_parameter
        self.relative_step = relative_step
        self.warmup_init = warmup_init

    def init_single(self, parameter, state):
        shape = parameter.shape
        if parameter.ndim >= 2:
            state["exp_avg_sq_row"] = mx.zeros(shape[:-1], dtype=parameter.dtype)
            state["exp_avg_sq_col"] = mx.zeros(shape[:-2] + shape[-1:], dtype=parameter.dtype)
        else:
            state["exp_avg_sq"] = mx.zeros_like(parameter)
        if self.beta_1 is not None:
            state["exp_avg"] = mx.zeros_like(parameter)

    @staticmethod
    def _rms(x):
        return mx.sqrt(mx.mean(mx.square(x)))

    def _step_size(self, step, parameter_rms):
        if self.relative_step:
            min_step = 1e-6 * step if self.warmup_init else 1e-2
            size = mx.minimum(min_step, mx.rsqrt(step.astype(mx.float32)))
        else:
            size = self.learning_rate
        if self.scale_parameter:
            size = mx.maximum(self.eps[1], parameter_rms) * size
        return size

    def apply_single(self, gradient, parameter, state):
        step = self.step
        lr = self._step_size(step, self._rms(parameter)).astype(gradient.dtype)
        beta_2 = 1.0 - (step.astype(mx.float32) ** self.decay_rate).astype(gradient.dtype)
        update = mx.square(gradient) + self.eps[0]
        if gradient.ndim >= 2:
            row = beta_2 * state["exp_avg_sq_row"] + (1 - beta_2) * mx.mean(update, axis=-1)
            col = beta_2 * state["exp_avg_sq_col"] + (1 - beta_2) * mx.mean(update, axis=-2)
            state["exp_avg_sq_row"], state["exp_avg_sq_col"] = row, col
            # The rank-one estimate of 1/sqrt(second moment): rows normalised by their
            # mean, times columns.
            r = mx.rsqrt(row / mx.mean(row, axis=-1, keepdims=True))
            c = mx.rsqrt(col)
            update = mx.expand_dims(r, -1) * mx.expand_dims(c, -2) * gradient
        else:
            v = beta_2 * state["exp_avg_sq"] + (1 - beta_2) * update
            state["exp_avg_sq"] = v
            update = mx.rsqrt(v) * gradient
        update = update / mx.maximum(1.0, self._rms(update) / self.clip_threshold)
        update = lr * update
        if self.beta_1 is not None:
            update = self.beta_1 * state["exp_avg"] + (1 - self.beta_1) * update
            state["exp_avg"] = update
        if self.weight_decay != 0:
            parameter = parameter + parameter * (-self.weight_decay * lr)
        return parameter - update


class Muon(Optimizer):
    r"""Muon (MomentUm Orthogonalized by Newton-Schulz): SGD with momentum whose
    update, for parameters of two or more dimensions, is replaced by an approximately
    orthogonal matrix (five Newton-Schulz iterations by default). Parameters of more
    than two dimensions are flattened to ``(shape[0], -1)`` first; 0-D and 1-D
    parameters get the plain momentum update (they are better left to another
    optimizer, e.g. through :class:`MultiOptimizer`).
    """

    def __init__(self, learning_rate, momentum=0.95, weight_decay=0.01, nesterov=True, ns_steps=5):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.nesterov = nesterov
        self.ns_steps = ns_steps

    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)

    @staticmethod
    def _orthogonalize(x, steps):
        """Newton-Schulz iteration towards the orthogonal factor of ``x`` (2-D), with
        the quintic coefficients of the original Muon."""
        a, b, c = 3.4445, -4.7750, 2.0315
        wide = x.shape[-2] > x.shape[-1]
        if wide:
            x = x.T
        x = x / (mx.linalg.norm(x, keepdims=True) + 1e-7)
        for _ in range(steps):
            g = x @ x.T
            h = mx.addmm(b * g, g, g, beta=1.0, alpha=c)
            x = mx.addmm(x, h, x, beta=a, alpha=1.0)
        return x.T if wide else x

    def apply_single(self, gradient, parameter, state):
        if self.weight_decay != 0:
            gradient = gradient + self.weight_decay * parameter
        mu = self.momentum
        v = mu * state["v"] + (1 - mu) * gradient
        state["v"] = v
        update = gradient * (1 - mu) + v * mu if self.nesterov else v
        lr = _lr(self, gradient)
        if update.ndim >= 2:
            shape = update.shape
            update = self._orthogonalize(update.reshape(shape[0], -1), self.ns_steps).reshape(shape)
            lr = lr * math.sqrt(max(1, update.shape[-2] / update.shape[-1]))
        return parameter - lr * update


class MultiOptimizer(Optimizer):
    """Several optimizers, each for part of the parameters.

    ``filters[i](path, parameter)`` returning True sends a parameter to
    ``optimizers[i]``; the first match wins and the last optimizer takes the rest, so
    there is one filter fewer than optimizers. The state is
    ``{"states": [each optimizer's state]}``.
    """

    def __init__(self, optimizers, filters=[]):
        super().__init__()
        if len(filters) != len(optimizers) - 1:
            raise ValueError(f"Given {len(filters)} filters but {len(optimizers) - 1} needed.")
        self.optimizers = optimizers
        self.filters = list(filters) + [lambda *args, **kwargs: True]

    def _split(self, gradients):
        """One tree per optimizer, with the gradients it owns."""
        parts = [[] for _ in self.optimizers]
        for path, g in tree_flatten(gradients):
            for part, keep in zip(parts, self.filters):
                if keep(path, g):
                    part.append((path, g))
                    break
        return [tree_unflatten(p) for p in parts]

    def init(self, parameters):
        for optimizer, part in zip(self.optimizers, self._split(parameters)):
            optimizer.init(part)

    def apply_gradients(self, gradients, parameters):
        out = {}
        for optimizer, part in zip(self.optimizers, self._split(gradients)):
            out = tree_merge(out, optimizer.apply_gradients(part, parameters))
        return out

    @property
    def state(self):
        return {"states": [o.state for o in self.optimizers]}

    @state.setter
    def state(self, state):
        if "states" not in state or len(state["states"]) != len(self.optimizers):
            raise ValueError("Invalid state provided")
        for optimizer, s in zip(self.optimizers, state["states"]):
            optimizer.state = s

    @property
    def learning_rate(self):
        return self.optimizers[0].learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        for optimizer in self.optimizers:
            optimizer.learning_rate = learning_rate


def clip_grad_norm(grads, max_norm):
    """Scales the gradients so that their global L2 norm is at most ``max_norm``.

    Returns ``(clipped_grads, total_norm)``, ``total_norm`` being the norm before
    clipping. Gradients already within the bound are returned unscaled (times 1).
    """
    squares = [mx.sum(mx.square(g)) for _, g in tree_flatten(grads)]
    total = 0.0
    for s in squares:
        total = total + s
    total_norm = mx.sqrt(total)
    # (The 1e-6 keeps an all-zero gradient finite.)
    scale = mx.minimum(max_norm / (total_norm + 1e-6), 1.0)
    return tree_map(lambda g: g * scale, grads), total_norm
