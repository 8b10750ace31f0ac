#!/usr/bin/env python3
"""Runs the benchmark workloads of issue 5 on ferrox (from Python, `ferrox.core`),
NumPy, MLX, JAX and torch (CPU) in one run and writes the ratio table to
docs/performance.md (followed by docs/performance-notes.md).

    python bench/run.py [--rounds 3] [--reps 10] [--only matmul*,softmax_4096]
                        [--frameworks ferrox,numpy,jax] [--quick] [--no-write] [--out PATH]

Workloads run one after the other. For each, every framework builds its callable (and
compiles it, where the row is a compiled one), its output is checked once against the
reference framework's (NumPy where it can express the workload, outside the timing), and
then the frameworks are timed interleaved round by round (the order rotating each round),
so a burst of load on this shared machine hits them alike. Each time is the best of
`--reps` calls per round (after a warm-up call, and stopping early once a framework has
spent `--budget` seconds on one workload in one round), best over rounds. Every timed
call includes evaluation (`mx.eval`, `block_until_ready`).

The rows for lazy dispatch and grad latency from Rust come from the `ferrox-bench`
binary: build it with `cargo build --release -p ferrox-bench` (its rows are left out when
it is missing). `--quick` shrinks every size, for development, and writes the table only
to an explicit `--out`.
"""
import argparse
import datetime
import fnmatch
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings

# OpenBLAS may be pinned to an old kernel on this machine (OPENBLAS_CORETYPE /
# OPENBLAS_L2_SIZE, for old builds' sake). They slow a current NumPy, so this process
# (the benchmark alone) runs without them; the kernel that ran is recorded below.
ENV_REMOVED = {k: os.environ.pop(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BINARY = os.path.join(TARGET, "release", "ferrox-bench")

QUICK = False  # set by --quick: every workload shrinks to a development size


def Q(full, quick):
    return quick if QUICK else full


def data(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


# ---------------------------------------------------------------------------------------
# Frameworks. Each adapter gives the workloads a namespace of array ops (`m`) and the few
# things that differ between frameworks; `None` for a capability means "cannot express it".


class NumpyFw:
    name = "numpy"
    compile = None  # f -> compiled f
    grad = None  # f -> gradient function
    value_and_grad = None

    def __init__(self):
        self.m = np
        # op -> how this framework stands in for it (shown in the table's cells)
        self.fallback = {op: "composite" for op in ("softmax", "layer_norm", "rms_norm", "sdpa")}

    def arr(self, a):
        return a

    def sync(self, *outs):
        pass

    def to_np(self, x):
        return np.asarray(x)

    def jit_ops(self, f):
        """Wraps a row of library ops that JAX runs under `jit` (its norms are
        hand-written)."""
        return f

    def cleanup(self):
        pass

    # Reductions and ops whose spelling differs between frameworks.
    def sum(self, x, axis):
        return self.m.sum(x, axis=axis)

    def max(self, x, axis):
        return self.m.max(x, axis=axis)

    def argmax(self, x, axis):
        return self.m.argmax(x, axis=axis)

    #: x [N, H, W, C] @ w [O, KH, KW, C] -> [N, H, W, O], "same" padding for 3x3; None
    #: where the framework has no convolution (NumPy).
    conv2d_same = None

    def relu(self, x):
        return self.m.maximum(x, 0)

    def rsqrt(self, x):
        return 1 / self.m.sqrt(x)

    def softmax(self, x):
        e = self.m.exp(x - self.m.max(x, axis=-1, keepdims=True))
        return e / self.m.sum(e, axis=-1, keepdims=True)

    def layer_norm(self, x, w, b, eps):
        mu = self.m.mean(x, axis=-1, keepdims=True)
        xc = x - mu
        var = self.m.mean(xc * xc, axis=-1, keepdims=True)
        return xc * self.rsqrt(var + eps) * w + b

    def rms_norm(self, x, w, eps):
        return x * self.rsqrt(self.m.mean(x * x, axis=-1, keepdims=True) + eps) * w

    def sdpa(self, q, k, v, scale):
        """Attention over (batch, heads, seq, head_dim), no mask."""
        return self.softmax((q * scale) @ self.m.swapaxes(k, -1, -2)) @ v

    def transpose_copy(self, x):
        return np.ascontiguousarray(x.T)

    def take_last(self, x, idx):
        """x[i, idx[i]] for a 2-D x."""
        return self.m.take_along_axis(x, idx[:, None], axis=-1)[:, 0]


class MxFw(NumpyFw):
    """ferrox.core and mlx.core: the same API."""

    def __init__(self, module, name):
        self.m, self.name = module, name
        self.fast = getattr(module, "fast", None)
        self.fallback = {}
        if self.fast is None:
            for op in ("layer_norm", "rms_norm", "sdpa"):
                self.fallback[op] = "composite, no mx.fast"
        self.compile = module.compile
        self.grad = module.grad
        self.value_and_grad = module.value_and_grad

    def arr(self, a):
        return self.m.array(a)

    def sync(self, *outs):
        self.m.eval(*outs)

    def to_np(self, x):
        return np.array(x)

    def cleanup(self):
        self.m.clear_cache()

    def rsqrt(self, x):
        return self.m.rsqrt(x)

    def softmax(self, x):
        return self.m.softmax(x, axis=-1)

    def layer_norm(self, x, w, b, eps):
        if self.fast is None:
            return super().layer_norm(x, w, b, eps)
        return self.fast.layer_norm(x, w, b, eps)

    def rms_norm(self, x, w, eps):
        if self.fast is None:
            return super().rms_norm(x, w, eps)
        return self.fast.rms_norm(x, w, eps)

    def sdpa(self, q, k, v, scale):
        if self.fast is None:
            return super().sdpa(q, k, v, scale)
        return self.fast.scaled_dot_product_attention(q, k, v, scale=scale)

    def transpose_copy(self, x):
        return self.m.contiguous(x.T)

    def logsumexp(self, x):
        return self.m.logsumexp(x, axis=-1)

    def conv2d_same(self, x, w):
        return self.m.conv2d(x, w, padding=1)

    def compile_step(self, step, core, state):
        """The whole step under compile, the state captured (inputs=/outputs=)."""
        return self.m.compile(step, inputs=state, outputs=state)


class JaxFw(NumpyFw):
    name = "jax"

    def __init__(self):
        import jax
        import jax.numpy as jnp

        self.jax, self.m = jax, jnp
        self.fallback = {"layer_norm": "hand-written", "rms_norm": "hand-written", "sdpa": "composite"}
        self.compile = jax.jit
        self.grad = jax.grad
        self.value_and_grad = jax.value_and_grad

    def arr(self, a):
        return self.m.asarray(a)

    def sync(self, *outs):
        self.jax.block_until_ready(outs)

    def jit_ops(self, f):
        return self.jax.jit(f)

    def cleanup(self):
        self.jax.clear_caches()

    def rsqrt(self, x):
        return self.jax.lax.rsqrt(x)

    def softmax(self, x):
        return self.jax.nn.softmax(x, axis=-1)

    def transpose_copy(self, x):
        return self.m.transpose(x)  # a new (row-major) array: XLA copies

    def logsumexp(self, x):
        return self.jax.nn.logsumexp(x, axis=-1)

    def conv2d_same(self, x, w):
        return self.jax.lax.conv_general_dilated(
            x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "OHWI", "NHWC"))

    def compile_step(self, step, core, state):
        """The functional step under `jit`, the state donated."""
        jstep = self.jax.jit(core, donate_argnums=0)

        def run(x, y):
            state[0], loss = jstep(state[0], x, y)
            return loss

        return run


class TorchFw(NumpyFw):
    name = "torch"

    def __init__(self, use_compile=False):
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(2)
        self.torch, self.m, self.F = torch, torch, F
        self.fallback = {} if hasattr(F, "rms_norm") else {"rms_norm": "composite"}
        # torch.compile (inductor) works offline here, but a cold compile of the gelu
        # chain alone took ~90 s on this machine: opt-in only (--torch-compile).
        self.compile = torch.compile if use_compile else None

    def arr(self, a):
        t = self.torch.from_numpy(np.array(a))
        return t.long() if t.dtype == self.torch.int32 else t  # gather wants int64

    def to_np(self, x):
        return x.detach().numpy()

    def grad(self, f):
        def g(x):
            x = x.detach().requires_grad_(True)
            f(x).backward()
            return x.grad

        return g

    def sum(self, x, axis):
        return self.torch.sum(x, dim=axis)

    def max(self, x, axis):
        return self.torch.amax(x, dim=axis)

    def argmax(self, x, axis):
        return self.torch.argmax(x, dim=axis)

    def relu(self, x):
        return self.torch.relu(x)

    def rsqrt(self, x):
        return self.torch.rsqrt(x)

    def softmax(self, x):
        return self.torch.softmax(x, -1)

    def layer_norm(self, x, w, b, eps):
        return self.F.layer_norm(x, (x.shape[-1],), w, b, eps)

    def rms_norm(self, x, w, eps):
        if not hasattr(self.F, "rms_norm"):
            return x * self.torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w
        return self.F.rms_norm(x, (x.shape[-1],), w, eps)

    def sdpa(self, q, k, v, scale):
        return self.F.scaled_dot_product_attention(q, k, v, scale=scale)

    def transpose_copy(self, x):
        return x.T.contiguous()

    def logsumexp(self, x):
        return self.torch.logsumexp(x, -1)

    def take_last(self, x, idx):
        return x.gather(-1, idx[:, None])[:, 0]

    def conv2d_same(self, x, w):
        # NHWC data seen as NCHW in channels-last memory format (a view, no copy): torch's
        # CPU convolution runs channels-last natively.
        y = self.F.conv2d(x.permute(0, 3, 1, 2), w.permute(0, 3, 1, 2), padding=1)
        return y.permute(0, 2, 3, 1)


COLUMNS = ["ferrox", "numpy", "mlx", "jax", "torch"]
LABELS = {"ferrox": "ferrox", "numpy": "NumPy", "mlx": "MLX", "jax": "JAX", "torch": "torch"}


def load_frameworks(wanted, torch_compile):
    fws, notes = {}, []
    loaders = {
        "ferrox": lambda: MxFw(__import__("ferrox.core", fromlist=["core"]), "ferrox"),
        "numpy": NumpyFw,
        "mlx": lambda: _mlx(),
        "jax": JaxFw,
        "torch": lambda: TorchFw(torch_compile),
    }
    for name in COLUMNS:
        if name not in wanted:
            continue
        try:
            fws[name] = loaders[name]()
        except Exception as e:
            notes.append(f"{name} not measured: {type(e).__name__}: {e}")
    return fws, notes


def _mlx():
    import mlx.core as mx

    mx.set_default_device(mx.cpu)
    return MxFw(mx, "mlx")


# ---------------------------------------------------------------------------------------
# Workloads. A row gives its inputs (NumPy arrays, shared by every framework) and `fn`:
# fw -> function of the framework's arrays (or None where fw cannot express it). `mode`:
# "eager"; "compiled" (fw.compile, or eager with a note where there is none; NumPy is
# left out); "jit_ops" (library ops; JAX's under jit). Rows with state (the MLP step) or
# their own timing (the Rust binary) give `build` instead: (fw, inputs) -> run.


class W:
    def __init__(self, key, desc, fn=None, inputs=None, mode="eager", target=None, build=None,
                 per=1, reps_mult=1, check_calls=1, note=None, peers_of=None, only=None):
        self.key, self.desc, self.fn, self.inputs, self.mode = key, desc, fn, inputs, mode
        self.target, self.build, self.per, self.reps_mult = target, build, per, reps_mult
        self.check_calls, self.note, self.peers_of, self.only = check_calls, note, peers_of, only


GELU_C = math.sqrt(2 / math.pi)


def gelu(m, x):
    """The 8-op tanh approximation, written as ops."""
    return 0.5 * x * (1 + m.tanh(GELU_C * (x + 0.044715 * x**3)))


# Input makers: sizes are read when the inputs are made, after --quick is known.
def square(full, quick):
    return lambda: [data((Q(full, quick),) * 2, 1), data((Q(full, quick),) * 2, 2)]


def vectors(k):
    return lambda: [data(Q(1 << 24, 1 << 16), 3 + i) for i in range(k)]


def matrix_4096():
    return [data((Q(4096, 256),) * 2, 6)]


def norm_inputs():
    n = Q(4096, 256)
    return [data((n, n), 6), 1 + 0.1 * data(n, 7), 0.1 * data(n, 8)]


# --- MLP training step: 784-512-512-10, ReLU, cross-entropy, Adam (hand-written where
# the framework has no optimizer: the same math as torch.optim.Adam, bias-corrected).
ADAM_LR, ADAM_B1, ADAM_B2, ADAM_EPS = 1e-3, 0.9, 0.999, 1e-8


def mlp_inputs():
    dims = Q((784, 512, 512, 10), (784, 64, 64, 10))
    batch = Q(256, 32)
    rng = np.random.default_rng(11)
    params = {}
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        params[f"w{i}"] = (rng.uniform(-1, 1, (a, b)) / math.sqrt(a)).astype(np.float32)
        params[f"b{i}"] = np.zeros(b, np.float32)
    x = rng.standard_normal((batch, dims[0])).astype(np.float32)
    y = rng.integers(0, dims[-1], batch).astype(np.int32)
    return [params, x, y]


def mlp_loss(fw, p, x, y):
    n = len(p) // 2
    h = x
    for i in range(n):
        h = h @ p[f"w{i}"] + p[f"b{i}"]
        if i < n - 1:
            h = fw.relu(h)
    return fw.m.mean(fw.logsumexp(h) - fw.take_last(h, y))


def adam_core(fw):
    """state -> (new state, loss): one step, functional (for ferrox, MLX and JAX)."""
    vg = fw.value_and_grad(lambda p, x, y: mlp_loss(fw, p, x, y))
    sqrt = fw.m.sqrt

    def core(s, x, y):
        loss, g = vg(s["p"], x, y)
        b1t, b2t = s["b1t"] * ADAM_B1, s["b2t"] * ADAM_B2
        c1, c2 = ADAM_LR / (1 - b1t), 1 / sqrt(1 - b2t)
        m = {k: ADAM_B1 * s["m"][k] + (1 - ADAM_B1) * g[k] for k in g}
        v = {k: ADAM_B2 * s["v"][k] + (1 - ADAM_B2) * (g[k] * g[k]) for k in g}
        p = {k: s["p"][k] - c1 * m[k] / (sqrt(v[k]) * c2 + ADAM_EPS) for k in g}
        return {"p": p, "m": m, "v": v, "b1t": b1t, "b2t": b2t}, loss

    return core


def mlp_build(compiled):
    def build(fw, inputs):
        params, x0, y0 = inputs
        x, y = fw.arr(x0), fw.arr(y0)
        if fw.name == "torch":
            torch = fw.torch
            p = {k: fw.arr(v).requires_grad_(True) for k, v in params.items()}
            opt = torch.optim.Adam(p.values(), lr=ADAM_LR, betas=(ADAM_B1, ADAM_B2), eps=ADAM_EPS)

            def run():
                opt.zero_grad(set_to_none=True)
                loss = mlp_loss(fw, p, x, y)
                loss.backward()
                opt.step()
                return loss.detach()

            return run, ("eager, torch.optim.Adam" if compiled else "torch.optim.Adam")
        if fw.value_and_grad is None:
            return None
        one = np.array(1.0, np.float32)
        state = [{
            "p": {k: fw.arr(v) for k, v in params.items()},
            "m": {k: fw.arr(np.zeros_like(v)) for k, v in params.items()},
            "v": {k: fw.arr(np.zeros_like(v)) for k, v in params.items()},
            "b1t": fw.arr(one), "b2t": fw.arr(one),
        }]
        core = adam_core(fw)

        def step(x, y):
            state[0], loss = core(state[0], x, y)
            return loss

        if compiled:
            step = fw.compile_step(step, core, state)

        def run():
            loss = step(x, y)
            fw.sync(loss, state[0])  # the updated params (and moments) evaluated each step
            return loss

        return run, None

    return build


# --- transformer block forward: pre-LayerNorm, 8 heads, MLP 4x with gelu (tanh).
def block_inputs():
    b, seq, d = Q((8, 256, 512), (2, 16, 64))
    rng = np.random.default_rng(21)

    def w(a, c):
        return (rng.uniform(-1, 1, (a, c)) / math.sqrt(a)).astype(np.float32)

    def vec(n, mean=0.0):
        return (mean + 0.1 * rng.uniform(-1, 1, n)).astype(np.float32)

    p = {"ln1_w": vec(d, 1), "ln1_b": vec(d), "wq": w(d, d), "wk": w(d, d), "wv": w(d, d),
         "wo": w(d, d), "bo": vec(d), "ln2_w": vec(d, 1), "ln2_b": vec(d),
         "w1": w(d, 4 * d), "b1": vec(4 * d), "w2": w(4 * d, d), "b2": vec(d)}
    x = rng.standard_normal((b, seq, d)).astype(np.float32)
    return [x] + [p[k] for k in sorted(p)]


BLOCK_KEYS = sorted(["ln1_w", "ln1_b", "wq", "wk", "wv", "wo", "bo", "ln2_w", "ln2_b", "w1", "b1", "w2", "b2"])


def block_fn(fw):
    m, heads = fw.m, 8

    def f(x, *ws):
        p = dict(zip(BLOCK_KEYS, ws))
        b, seq, d = x.shape
        h = fw.layer_norm(x, p["ln1_w"], p["ln1_b"], 1e-5)
        q, k, v = (m.swapaxes((h @ p[n]).reshape(b, seq, heads, d // heads), 1, 2) for n in ("wq", "wk", "wv"))
        a = m.swapaxes(fw.sdpa(q, k, v, 1 / math.sqrt(d // heads)), 1, 2).reshape(b, seq, d)
        x = x + a @ p["wo"] + p["bo"]
        h = fw.layer_norm(x, p["ln2_w"], p["ln2_b"], 1e-5)
        return x + gelu(m, h @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    return f


def block_note(fw):
    by = {}
    for op in ("layer_norm", "sdpa"):
        if op in fw.fallback:
            by.setdefault(fw.fallback[op], []).append(op)
    return "; ".join(f"{'/'.join(ops)}: {how}" for how, ops in by.items()) or None


# --- lazy dispatch and grad latency.
def chain_fn(fw):
    def f(p, q):
        v = p
        for _ in range(1000):
            v = v + q
        return v

    return f


def grad_fn(fw):
    if fw.grad is None:
        return None
    return fw.grad(lambda x: fw.m.sum(fw.m.sin(x) * x))


def rust_build(fw, inputs, key):
    """Timed by the `ferrox-bench` binary itself: run(reps) -> seconds."""

    def run(reps):
        out = subprocess.run([BINARY, "--only", key, "--reps", str(reps)], check=True, capture_output=True, text=True)
        return json.loads(out.stdout)[key]["best_s"]

    run.self_timed = True
    return run, None


def qmv_bytes():
    """Bytes a 4-bit (14336, 4096) matrix-vector product must read: codes, f32 scales
    and biases (group 64)."""
    n, k = Q((14336, 4096), (512, 256))
    return n * k // 2 + 2 * 4 * n * (k // 64)


def qmv_build(fw, inputs, mode="affine"):
    """x @ W.T with W quantized once (outside the timing) by the framework itself: 4-bit
    affine codes in groups of 64 (scales and biases), or another of MLX's modes."""
    if fw.name not in ("ferrox", "mlx"):
        return None
    m = fw.m
    x, w = fw.arr(inputs[0]), fw.arr(inputs[1])
    kw = dict(group_size=64, bits=4) if mode == "affine" else dict(mode=mode)
    q = m.quantize(w, **kw)
    m.eval(*q)

    def run():
        out = m.quantized_matmul(x, *q, transpose=True, **kw)
        m.eval(out)
        return out

    return run, None


def vs(peers, value):
    """Target: time of the best of `peers` (None: all) / ferrox's time >= value."""
    return ("vs", peers, value)


WORKLOADS = [
    W("matmul_256_f32", "matmul 256² f32", lambda fw: lambda a, b: a @ b, square(256, 64)),
    W("matmul_1024_f32", "matmul 1024² f32", lambda fw: lambda a, b: a @ b, square(1024, 96)),
    W("matmul_2048_f32", "matmul 2048² f32", lambda fw: lambda a, b: a @ b, square(2048, 128),
      target=vs(["numpy"], 0.9)),
    W("bmm_32x256_f32", "batched matmul 32×256×256 @ 32×256×256 f32", lambda fw: lambda a, b: a @ b,
      lambda: [data(Q((32, 256, 256), (4, 32, 32)), 1), data(Q((32, 256, 256), (4, 32, 32)), 2)]),
    W("gemv_4096_f32", "gemv 4096×4096 @ 4096 f32", lambda fw: lambda a, v: a @ v,
      lambda: [data((Q(4096, 256),) * 2, 1), data(Q(4096, 256), 2)]),
    W("fma_16m_f32", "x*y+z, 16M f32", lambda fw: lambda x, y, z: x * y + z, vectors(3),
      target=vs(["numpy"], 1.5)),
    W("fma_16m_f32_product_kept", "p = x*y kept alive, p+z, 16M f32 (two passes)",
      lambda fw: lambda x, y, z: (lambda p: (p, p + z))(x * y), vectors(3)),
    W("gelu_16m_f32", "gelu-tanh chain (8 ops), 16M f32, eager", lambda fw: lambda x: gelu(fw.m, x),
      vectors(1)),
    W("gelu_16m_f32_compiled", "gelu-tanh chain (8 ops), 16M f32, compiled",
      lambda fw: lambda x: gelu(fw.m, x), vectors(1), mode="compiled",
      target=vs(["jax"], 2.0)),
    *[
        W(f"{op}_axis{ax}_4096_f32", f"{op} over axis {ax} of 4096² f32",
          (lambda op, ax: lambda fw: lambda x: getattr(fw, op)(x, ax))(op, ax),
          matrix_4096,
          target=vs(["numpy"], 1.0) if (op, ax) == ("sum", 1) else None)
        for op in ("sum", "max", "argmax") for ax in (0, 1)
    ],
    W("softmax_4096_f32", "softmax over the last axis of 4096² f32", lambda fw: fw.softmax,
      lambda: norm_inputs()[:1], mode="jit_ops", target=vs(None, 1.5),
      note=lambda fw: fw.fallback.get("softmax")),
    W("layer_norm_4096_f32", "layer_norm (weight, bias) over the last axis of 4096² f32",
      lambda fw: lambda x, w, b: fw.layer_norm(x, w, b, 1e-5), norm_inputs, mode="jit_ops",
      target=vs(None, 1.5), note=lambda fw: fw.fallback.get("layer_norm")),
    W("rms_norm_4096_f32", "rms_norm (weight) over the last axis of 4096² f32",
      lambda fw: lambda x, w: fw.rms_norm(x, w, 1e-5), lambda: norm_inputs()[:2], mode="jit_ops",
      target=vs(None, 1.5), note=lambda fw: fw.fallback.get("rms_norm")),
    W("transpose_copy_4096_f32", "transpose + copy 4096² f32", lambda fw: fw.transpose_copy,
      matrix_4096, target=vs(None, 2.0)),
    W("conv2d_3x3_f32", "conv2d 3×3, batch 16, 56×56, 64→64 channels, f32 (channels last)",
      lambda fw: fw.conv2d_same, lambda: [data(Q((16, 56, 56, 64), (2, 8, 8, 8)), 31),
                                          0.05 * data(Q((64, 3, 3, 64), (8, 3, 3, 8)), 32)],
      mode="jit_ops", target=vs(None, 1.0)),
    W("read_bw_256mb_f32", "sum of 64M f32 (256 MB): the read bandwidth the q4 row is held to",
      lambda fw: lambda x: fw.m.sum(x), lambda: [data(Q(1 << 26, 1 << 16), 41)]),
    W("qmv_q4_4096x14336", "4-bit quantized (1, 4096) × (4096, 14336), group 64, f32 scales",
      build=qmv_build, inputs=lambda: [data(Q((1, 4096), (1, 256)), 42), data(Q((14336, 4096), (512, 256)), 43)],
      target=("bw", ("read_bw_256mb_f32", 4 * Q(1 << 26, 1 << 16), qmv_bytes()), 0.7),
      reps_mult=20),  # ~1 ms calls: 200 a round, so its best samples ~0.2 s of the host
    W("qmv_mxfp4_4096x14336", "mxfp4 quantized (1, 4096) × (4096, 14336) (E2M1 codes, a scale byte per 32)",
      build=lambda fw, inputs: qmv_build(fw, inputs, "mxfp4"),
      inputs=lambda: [data(Q((1, 4096), (1, 256)), 42), data(Q((14336, 4096), (512, 256)), 43)],
      reps_mult=10),
    W("mlp_step", "MLP train step 784-512-512-10, batch 256, Adam, eager", build=mlp_build(False),
      inputs=mlp_inputs, check_calls=2),
    W("mlp_step_compiled", "MLP train step 784-512-512-10, batch 256, Adam, compiled",
      build=mlp_build(True), inputs=mlp_inputs, check_calls=2, target=vs(None, 1.0)),
    W("transformer_block", "transformer block fwd, d=512, 8 heads, seq 256, batch 8, eager", block_fn,
      block_inputs, note=block_note),
    W("transformer_block_compiled", "transformer block fwd, d=512, 8 heads, seq 256, batch 8, compiled",
      block_fn, block_inputs, mode="compiled", note=block_note, target=vs(["jax"], 1.1)),
    *[
        W(f"chain_add_1000_f32_{n}_py", f"1000 chained adds, shape [{n}], per op (ferrox from Python)",
          chain_fn, (lambda n: lambda: [data(n, 7), data(n, 8)])(n), per=1000, reps_mult=5)
        for n in (1, 16)
    ],
    *[
        W(f"chain_add_1000_f32_{n}", f"1000 chained adds, shape [{n}], per op (ferrox from Rust, `ferrox-bench`)",
          build=(lambda n: lambda fw, inp: rust_build(fw, inp, f"chain_add_1000_f32_{n}"))(n),
          peers_of=f"chain_add_1000_f32_{n}_py", only=["ferrox"], target=("abs", None, 1.5e-6))
        for n in (1, 16)
    ],
    W("grad_sin_x_10_f32_py", "grad of sum(sin(x)*x), 10 f32, per call, uncompiled (ferrox from Python)",
      grad_fn, lambda: [data(10, 9)], reps_mult=20, target=vs(["mlx", "torch"], 1.0)),
    W("grad_sin_x_10_f32", "grad of sum(sin(x)*x), 10 f32, per call (ferrox from Rust, `ferrox-bench`)",
      build=lambda fw, inp: rust_build(fw, inp, "grad_sin_x_10_f32"), peers_of="grad_sin_x_10_f32_py",
      only=["ferrox"]),
]


# ---------------------------------------------------------------------------------------
# Harness.


def build_run(w, fw, inputs):
    """(run, note) for `w` on `fw`, or None where fw cannot express it. run() computes,
    forces evaluation and returns the output."""
    if w.only is not None and fw.name not in w.only:
        return None
    if w.build is not None:
        return w.build(fw, inputs)
    note = w.note(fw) if w.note else None
    f = w.fn(fw)
    if f is None:
        return None
    if w.mode == "compiled":
        if fw.name == "numpy":
            return None  # no compiler: its eager time is in the eager row
        if fw.compile is None:
            note = "; ".join(filter(None, ["eager", note]))
        else:
            f = fw.compile(f)
    elif w.mode == "jit_ops":
        f = fw.jit_ops(f)
    xs = [fw.arr(a) for a in inputs]

    def run():
        out = f(*xs)
        fw.sync(out)
        return out

    return run, note


# Seconds to wait before timing a framework: OpenBLAS's (NumPy's) and OpenMP's (torch's)
# worker threads spin for ~0.1 s after each call, taking a core from whatever runs next.
SETTLE = 0.25


def best_of(reps, fn, budget, per=1):
    time.sleep(SETTLE)
    if getattr(fn, "self_timed", False):
        return fn(reps)
    fn()
    ts, start = [], time.perf_counter()
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) / per)
        if time.perf_counter() - start > budget:
            break
    return min(ts)


def flat(out, fw):
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in flat(o, fw)]
    return [np.asarray(fw.to_np(out), dtype=np.float64)]


def check(w, runs, fws):
    """Runs each framework's callable `check_calls` times (outside the timing) and compares
    the last outputs with the reference framework's (NumPy where it takes part). A
    framework that raises is dropped from `runs`."""
    outs, problems = {}, []
    for name, (run, _) in list(runs.items()):
        if getattr(run, "self_timed", False):
            continue
        try:
            for _ in range(w.check_calls):
                out = run()
            outs[name] = flat(out, fws[name])
        except Exception as e:
            problems.append(f"{name} failed: {type(e).__name__}: {e}")
            del runs[name]
    order = ["numpy", "torch", "jax", "mlx", "ferrox"]
    ref = next((n for n in order if n in outs), None)
    for name, got in outs.items():
        if name == ref:
            continue
        for g, r in zip(got, outs[ref]):
            scale = max(float(np.max(np.abs(r))), 1e-30) if r.size else 1.0
            if g.shape != r.shape:
                problems.append(f"{name}: shape {g.shape} != {ref}'s {r.shape}")
            elif not np.allclose(g, r, rtol=2e-3, atol=2e-3 * scale):
                err = float(np.max(np.abs(g - r))) / scale
                problems.append(f"{name} differs from {ref} (max error {err:.2e} of max |value|)")
    return ref, problems


def fmt_t(t):
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.2f} µs"
    return f"{t * 1e3:.2f} ms"


def target_text(target, labels):
    kind, peers, val = target
    if kind == "bw":
        return f"ferrox ≥ {val:.0%} of the read bandwidth measured in `{peers[0]}`"
    if kind == "abs":
        return f"ferrox ≤ {val * 1e6:.1f} µs/op"
    if peers is None:
        return f"best peer ÷ ferrox ≥ {val}"
    if len(peers) == 1:
        return f"{labels[peers[0]]} ÷ ferrox ≥ {val}"
    return f"best of {', '.join(labels[p] for p in peers)} ÷ ferrox ≥ {val}"


def target_met(target, times, best):
    kind, peers, val = target
    fx = times.get("ferrox")
    if fx is None:
        return None
    if kind == "bw":
        # peers: (bandwidth row, its bytes read, this row's bytes read)
        row, row_bytes, own_bytes = peers
        if not best.get(row):
            return None
        bandwidth = row_bytes / min(best[row].values())
        return own_bytes / fx >= val * bandwidth
    if kind == "abs":
        return fx <= val
    ts = [t for n, t in times.items() if n != "ferrox" and (peers is None or n in peers)]
    return (min(ts) / fx >= val) if ts else None


def build_check(fws):
    """ferrox.core against the release `ferrox-bench` binary on one kernel-bound workload
    (sum over the last axis of 4096²): a module built without `--release` (cargo's dev
    profile) runs the kernels several times slower, which the table would not show."""
    if "ferrox" not in fws or not os.path.exists(BINARY):
        return None
    out = subprocess.run([BINARY, "--only", "sum_last_4096_f32", "--reps", "5"], check=True,
                         capture_output=True, text=True)
    rust = json.loads(out.stdout)["sum_last_4096_f32"]["best_s"]
    m = fws["ferrox"].m
    a = m.array(data((4096, 4096), 6))
    py = best_of(5, lambda: m.eval(m.sum(a, axis=-1)), 2.0)
    msg = f"sum over the last axis of 4096² from Python {fmt_t(py)}, from the release `ferrox-bench` {fmt_t(rust)}"
    if py > 2.5 * rust:
        msg += (f": {py / rust:.1f}× slower from Python, so `ferrox.core` is probably not a release build "
                "(`maturin develop` without `--release`?) and its numbers are too slow")
        print("WARNING: " + msg, file=sys.stderr)
    return msg


def versions():
    from importlib.metadata import version

    v = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("mlx", "jax", "jaxlib", "torch", "ferrox"):
        try:
            v[mod] = version(mod)
        except Exception as e:  # not installed: reported as such
            v[mod] = f"unavailable ({type(e).__name__})"
    v["rustc"] = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    try:
        import ferrox.core as fx

        d = os.path.dirname(fx.__file__)
        head = subprocess.run(["git", "-C", d, "log", "-1", "--format=%h %cd", "--date=short"],
                              capture_output=True, text=True).stdout.strip()
        v["ferrox_module"] = f"{fx.__file__} (checkout at {head or '?'})"
    except Exception:
        pass
    return v


def thread_info(fws):
    t = {
        "ferrox": f"rayon, RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS', 'unset')} "
                  f"({os.environ.get('RAYON_NUM_THREADS', os.cpu_count())} threads)",
        "mlx": "MLX defaults",
        "jax": f"XLA defaults (XLA_FLAGS={os.environ.get('XLA_FLAGS', 'unset')})",
    }
    if "torch" in fws:
        torch = fws["torch"].torch
        t["torch"] = f"torch.set_num_threads(2): {torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op"
    return t


def blas_info():
    try:
        from threadpoolctl import threadpool_info

        return [
            {k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "threading_layer")}
            for d in threadpool_info()
        ]
    except Exception as e:
        return [{"error": repr(e)}]


def cpu_model():
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    global QUICK
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--budget", type=float, default=3.0,
                    help="seconds one framework may spend per workload per round (at least one timed call)")
    ap.add_argument("--only", default="", help="comma-separated workload keys or globs (e.g. matmul*,softmax*)")
    ap.add_argument("--frameworks", default=",".join(COLUMNS), help="comma-separated: " + ",".join(COLUMNS))
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes, 1 round, 2 reps; writes nothing unless --out is given")
    ap.add_argument("--torch-compile", action="store_true", help="torch.compile in the compiled rows (slow to compile)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--out", help="where the table goes (default docs/performance.md)")
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = ap.parse_args()
    if args.list:
        for w in WORKLOADS:
            print(f"{w.key:32} {w.desc}")
        return
    if args.quick:
        QUICK = True
        args.rounds, args.reps, args.budget = 1, min(args.reps, 2), 0.5
        args.no_write = args.no_write or args.out is None
    args.out = args.out or os.path.join(ROOT, "docs", "performance.md")
    warnings.filterwarnings("ignore", message=".*donated buffers.*")

    wanted = set(filter(None, args.frameworks.split(",")))
    unknown = wanted - set(COLUMNS)
    if unknown:
        ap.error(f"unknown frameworks {sorted(unknown)}; choose from {COLUMNS}")
    fws, notes = load_frameworks(wanted, args.torch_compile)
    labels = LABELS
    pats = [p for p in args.only.split(",") if p]
    rows = [w for w in WORKLOADS if not pats or any(fnmatch.fnmatchcase(w.key, p) for p in pats)]
    if not rows:
        ap.error("--only matches no workload (see --list)")
    if not os.path.exists(BINARY) and any(w.peers_of for w in rows):
        notes.append(f"ferrox-bench binary not found at {BINARY}: its rows (Rust dispatch and grad) are left out")
        rows = [w for w in rows if not w.peers_of]

    load_before = os.getloadavg()
    build = build_check(fws)
    best, cell_notes, checks = {}, {}, {}
    for w in rows:
        inputs = w.inputs() if w.inputs else None
        runs = {}
        for name, fw in fws.items():
            try:
                r = build_run(w, fw, inputs)
            except Exception as e:
                notes.append(f"{w.key}: {name} failed to build: {type(e).__name__}: {e}")
                continue
            if r is not None:
                runs[name] = r
                if r[1]:
                    cell_notes[(w.key, name)] = r[1]
        ref, problems = check(w, runs, fws)
        checks[w.key] = {"reference": ref, "problems": problems}
        for p in problems:
            print(f"CHECK {w.key}: {p}", file=sys.stderr)
        res = best.setdefault(w.key, {})
        names = list(runs)
        for rnd in range(args.rounds):
            k = rnd % max(len(names), 1)
            for name in names[k:] + names[:k]:  # rotate the order each round
                try:
                    t = best_of(args.reps * w.reps_mult, runs[name][0], args.budget, w.per)
                except Exception as e:
                    notes.append(f"{w.key}: {name} failed: {type(e).__name__}: {e}")
                    runs.pop(name)
                    names.remove(name)
                    continue
                res[name] = min(t, res.get(name, float("inf")))
        print(f"{w.key}: " + ", ".join(f"{n}={fmt_t(t)}" for n, t in res.items()), file=sys.stderr)
        del runs
        for fw in fws.values():
            fw.cleanup()
        gc.collect()
    load_after = os.getloadavg()

    table = []
    for w in rows:
        times = dict(best.get(w.peers_of, {})) if w.peers_of else {}
        times.pop("ferrox", None)
        times.update(best.get(w.key, {}))
        fx = times.get("ferrox")
        peers = {n: t for n, t in times.items() if n != "ferrox"}
        bp = min(peers, key=peers.get) if peers else None
        ratio = f"{peers[bp] / fx:.2f}× ({labels[bp]})" if (bp and fx) else "—"
        if w.target is None:
            target, met = "(for reference)", None
        else:
            target, met = target_text(w.target, labels), target_met(w.target, times, best)
        table.append((w, times, ratio, target, met))

    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "quick": QUICK,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": load_after,
        "versions": versions(),
        "ferrox_build_check": build,
        "threads": thread_info(fws),
        "blas": blas_info(),
        "env_removed": ENV_REMOVED,
        "best_s": best,
        "cell_notes": {f"{k}/{n}": v for (k, n), v in cell_notes.items()},
        "checks": checks,
        "notes": notes,
    }
    print(json.dumps(result, indent=1))
    if args.no_write:
        return

    v, th = result["versions"], result["threads"]
    cols = [n for n in COLUMNS if n in fws]
    lines = [
        "# Performance",
        "",
        "Measured by `bench/run.py`: ferrox from Python (`ferrox.core`, release build), NumPy,",
        "MLX, JAX and torch (CPU) in one run; the Rust rows come from the `ferrox-bench`",
        "binary. Per workload the frameworks are interleaved round by round; each number is",
        f"the best of {args.reps} calls per round (fewer where a call takes over {args.budget:g} s in all)",
        f"over {args.rounds} round(s), after a warm-up call, evaluation included. Last column:",
        "the best peer's time (NumPy, MLX, JAX, torch in the same run) ÷ ferrox's: above 1 means",
        "ferrox is faster. Compiled rows: `mx.compile` (ferrox, MLX), `jax.jit`; torch runs eager",
        "there unless marked (`torch.compile` is opt-in); NumPy has no compiled row. Every",
        "framework's output was checked once against the reference's (outside the timing).",
        "",
        *(["**--quick run: development sizes, not those named below; not a measurement.**", ""] if QUICK else []),
        f"- date: {result['date']}",
        f"- machine: {result['cpu']}, {result['cores']} cores (KVM guest, shared with other jobs)",
        f"- load average (1/5/15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {', '.join(f'{x:.2f}' for x in load_after)}",
        f"- versions: {v['rustc']}; Python {v['python']}; NumPy {v['numpy']}; MLX {v['mlx']}; "
        f"JAX {v['jax']} (jaxlib {v['jaxlib']}); torch {v['torch']}; ferrox {v.get('ferrox_module', v['ferrox'])}",
        "- threads: " + "; ".join(f"{labels[k]}: {t}" for k, t in th.items()) + "; NumPy BLAS (threadpoolctl): "
        + "; ".join(
            f"{b.get('internal_api')} {b.get('version')} kernel {b.get('architecture')}, {b.get('num_threads')} threads"
            for b in result["blas"]
        ),
        *([f"- ferrox.core build check: {build}"] if build else []),
        "- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (removed for the benchmark process only, when set): "
        + (", ".join(f"{k}={x} removed" for k, x in sorted(ENV_REMOVED.items())) or "neither was set"),
        "",
        "| workload | " + " | ".join(labels[c] for c in cols) + " | best peer ÷ ferrox | target | met |",
        "| --- | " + " | ".join("---" for _ in cols) + " | --- | --- | --- |",
    ]
    for w, times, ratio, target, met in table:
        cells = []
        for c in cols:
            n = cell_notes.get((w.key, c)) or cell_notes.get((w.peers_of, c))
            cells.append(fmt_t(times.get(c)) + (f" ({n})" if n and c in times else ""))
        lines.append(f"| {w.desc} | " + " | ".join(cells) + f" | {ratio} | {target} | "
                     + ("—" if met is None else ("yes" if met else "NO")) + " |")
    failed = [f"{k}: {'; '.join(c['problems'])}" for k, c in checks.items() if c["problems"]]
    lines += [""] + [f"- output check: {x}" for x in failed] + [f"- {n}" for n in notes]
    body = "\n".join(lines) + "\n"
    notes_path = os.path.join(ROOT, "docs", "performance-notes.md")
    if os.path.exists(notes_path):
        body += "\n" + open(notes_path).read()
    with open(args.out, "w") as f:
        f.write(body)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
