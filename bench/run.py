#!/usr/bin/env python3
"""Runs the benchmark workloads in NumPy, ferrox (the Rust binary), MLX and JAX,
interleaved round by round in one run, and writes the ratio table to
docs/performance.md.

    python bench/run.py [--rounds 3] [--reps 10] [--no-write]

Each framework times each workload best-of-N (after a warm-up call) in every round; the
table takes the best over rounds. Rounds interleave the frameworks, so a burst of load
on this shared machine hits them alike. Build the binary first:
`cargo build --release -p ferrox-bench`.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

# OpenBLAS may be pinned to an old kernel on this machine (OPENBLAS_CORETYPE /
# OPENBLAS_L2_SIZE, for old builds' sake). They slow a current NumPy, so this process
# (the benchmark alone) runs without them; the kernel that ran is recorded below.
ENV_REMOVED = {k: os.environ.pop(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BINARY = os.path.join(TARGET, "release", "ferrox-bench")

WORKLOADS = [
    # name, description, per-op?
    ("matmul_2048_f32", "matmul 2048x2048 @ 2048x2048 f32"),
    ("fma_16m_f32", "x*y+z, 16M f32 (lazy graph evaluated once)"),
    ("fma_16m_f32_product_kept", "p = x*y kept alive, p+z, 16M f32 (unfused: two passes)"),
    ("sum_last_4096_f32", "sum over last axis of 4096x4096 f32"),
    ("chain_add_1000_f32_1", "1000 chained adds, shape [1] (per op)"),
    ("chain_add_1000_f32_16", "1000 chained adds, shape [16] (per op)"),
]

# Issue acceptance criteria: (kind, value). "speedup" = numpy_time / ferrox_time >= value;
# "abs" = ferrox seconds per op <= value.
TARGETS = {
    "matmul_2048_f32": ("speedup", 0.9),
    "fma_16m_f32": ("speedup", 1.5),
    "fma_16m_f32_product_kept": None,
    "sum_last_4096_f32": ("speedup", 1.0),
    "chain_add_1000_f32_1": ("abs", 1.5e-6),
    "chain_add_1000_f32_16": ("abs", 1.5e-6),
}


def best_of(reps, fn, per=1):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) / per)
    return min(ts)


def data(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def bench_numpy(reps):
    r = {}
    a, b = data((2048, 2048), 1), data((2048, 2048), 2)
    r["matmul_2048_f32"] = best_of(reps, lambda: a @ b)
    n = 1 << 24
    x, y, z = data(n, 3), data(n, 4), data(n, 5)
    r["fma_16m_f32"] = best_of(reps, lambda: x * y + z)

    def kept():
        p = x * y
        return p, p + z

    r["fma_16m_f32_product_kept"] = best_of(reps, kept)
    s = data((4096, 4096), 6)
    r["sum_last_4096_f32"] = best_of(reps, lambda: s.sum(axis=-1))
    for name, shape in (("chain_add_1000_f32_1", (1,)), ("chain_add_1000_f32_16", (16,))):
        p, q = data(shape, 7), data(shape, 8)

        def chain():
            v = p
            for _ in range(1000):
                v = v + q
            return v

        r[name] = best_of(reps * 5, chain, per=1000)
    return r


def bench_mlx(reps):
    import mlx.core as mx

    mx.set_default_device(mx.cpu)
    r = {}
    a, b = mx.array(data((2048, 2048), 1)), mx.array(data((2048, 2048), 2))
    # MLX's CPU wheel takes seconds here (see docs/performance.md): two calls suffice.
    r["matmul_2048_f32"] = best_of(min(reps, 2), lambda: mx.eval(a @ b))
    n = 1 << 24
    x, y, z = (mx.array(data(n, s)) for s in (3, 4, 5))
    r["fma_16m_f32"] = best_of(reps, lambda: mx.eval(x * y + z))

    def kept():
        p = x * y
        mx.eval(p, p + z)

    r["fma_16m_f32_product_kept"] = best_of(reps, kept)
    s = mx.array(data((4096, 4096), 6))
    r["sum_last_4096_f32"] = best_of(reps, lambda: mx.eval(mx.sum(s, axis=-1)))
    for name, shape in (("chain_add_1000_f32_1", (1,)), ("chain_add_1000_f32_16", (16,))):
        p, q = mx.array(data(shape, 7)), mx.array(data(shape, 8))

        def chain():
            v = p
            for _ in range(1000):
                v = v + q
            mx.eval(v)

        r[name] = best_of(reps * 5, chain, per=1000)
    return r


def bench_jax(reps):
    import jax
    import jax.numpy as jnp

    r = {}
    a, b = jnp.asarray(data((2048, 2048), 1)), jnp.asarray(data((2048, 2048), 2))
    r["matmul_2048_f32"] = best_of(reps, lambda: (a @ b).block_until_ready())
    n = 1 << 24
    x, y, z = (jnp.asarray(data(n, s)) for s in (3, 4, 5))
    # Eager (op by op), as the other frameworks run it; no jit.
    r["fma_16m_f32"] = best_of(reps, lambda: (x * y + z).block_until_ready())

    def kept():
        p = x * y
        (p + z).block_until_ready()

    r["fma_16m_f32_product_kept"] = best_of(reps, kept)
    s = jnp.asarray(data((4096, 4096), 6))
    r["sum_last_4096_f32"] = best_of(reps, lambda: jnp.sum(s, axis=-1).block_until_ready())
    for name, shape in (("chain_add_1000_f32_1", (1,)), ("chain_add_1000_f32_16", (16,))):
        p, q = jnp.asarray(data(shape, 7)), jnp.asarray(data(shape, 8))

        def chain():
            v = p
            for _ in range(1000):
                v = v + q
            v.block_until_ready()

        r[name] = best_of(reps, chain, per=1000)
    return r


GRAD_CASE = ("grad_sin_x_10_f32", "grad of sum(sin(x)*x), 10 f32, uncompiled (per call, Python)")


def bench_grad_python(reps):
    """The `GRAD_CASE` workload in each Python front end that is installed: ferrox.core,
    MLX and PyTorch (autograd). Returns {framework: seconds per call}."""
    x0 = data(10, 9)
    r = {}
    try:
        import ferrox.core as fx

        g = fx.grad(lambda x: fx.sum(fx.sin(x) * x))
        x = fx.array(x0)
        r["ferrox (Python)"] = best_of(reps * 20, lambda: fx.eval(g(x)))
    except ImportError:
        pass
    try:
        import mlx.core as mx

        mx.set_default_device(mx.cpu)
        g = mx.grad(lambda x: mx.sum(mx.sin(x) * x))
        x = mx.array(x0)
        r["mlx"] = best_of(reps * 20, lambda: mx.eval(g(x)))
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp

        g = jax.grad(lambda x: jnp.sum(jnp.sin(x) * x))
        x = jnp.asarray(x0)
        r["jax"] = best_of(reps * 5, lambda: g(x).block_until_ready())
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(os.cpu_count())
        xt = torch.tensor(x0)

        def tgrad():
            x = xt.clone().requires_grad_(True)
            (torch.sin(x) * x).sum().backward()
            return x.grad

        r["torch"] = best_of(reps * 20, tgrad)
    except ImportError:
        pass
    return r


def bench_ferrox(reps):
    out = subprocess.run([BINARY, "--reps", str(reps)], check=True, capture_output=True, text=True)
    return {k: v["best_s"] for k, v in json.loads(out.stdout).items()}


def versions():
    v = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("mlx", "jax", "jaxlib", "torch"):
        try:
            m = __import__(mod)
            v[mod] = getattr(m, "__version__", None) or __import__("importlib.metadata").metadata.version(mod)
        except Exception as e:  # not installed: reported as such
            v[mod] = f"unavailable ({type(e).__name__})"
    try:
        from importlib.metadata import version

        v["mlx"] = version("mlx") if not v["mlx"].startswith("unavailable") else v["mlx"]
    except Exception:
        pass
    v["rustc"] = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return v


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


def fmt_t(t):
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.2f} µs"
    return f"{t * 1e3:.2f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--skip", default="", help="comma-separated frameworks to skip (mlx,jax)")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    frameworks = [("ferrox", bench_ferrox), ("numpy", bench_numpy)]
    notes = []
    for name, fn in (("mlx", bench_mlx), ("jax", bench_jax)):
        if name in skip:
            continue
        try:
            __import__(name)
            frameworks.append((name, fn))
        except Exception as e:
            notes.append(f"{name} not measured: {type(e).__name__}: {e}")

    load_before = os.getloadavg()
    best = {f: {} for f, _ in frameworks}
    for rnd in range(args.rounds):
        for fname, fn in frameworks:
            res = fn(args.reps)
            for k, t in res.items():
                best[fname][k] = min(t, best[fname].get(k, float("inf")))
            print(f"round {rnd + 1} {fname}: " + ", ".join(f"{k}={fmt_t(t)}" for k, t in res.items()), file=sys.stderr)
    grad_best = {}
    for rnd in range(args.rounds):
        for k, t in bench_grad_python(args.reps).items():
            grad_best[k] = min(t, grad_best.get(k, float("inf")))
    print("grad: " + ", ".join(f"{k}={fmt_t(t)}" for k, t in grad_best.items()), file=sys.stderr)
    load_after = os.getloadavg()

    rows = []
    for key, desc in WORKLOADS:
        fx = best["ferrox"].get(key)
        npt = best["numpy"].get(key)
        kind, val = TARGETS[key] or (None, None)
        if kind is None:
            met, target = None, "(for reference)"
        elif kind == "speedup":
            met = npt / fx >= val
            target = f"NumPy/ferrox ≥ {val}"
        else:
            met = fx <= val
            target = f"≤ {val * 1e6:.1f} µs/op"
        rows.append((key, desc, fx, npt, best.get("mlx", {}).get(key), best.get("jax", {}).get(key), target, met))

    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": load_after,
        "versions": versions(),
        "blas": blas_info(),
        "env_removed": ENV_REMOVED,
        "best_s": best,
        "grad_python_s": grad_best,
        "notes": notes,
    }
    print(json.dumps(result, indent=1))
    if args.no_write:
        return

    v = result["versions"]
    lines = [
        "# Performance",
        "",
        "Measured by `bench/run.py` (NumPy, MLX and JAX in Python; ferrox through the",
        "`ferrox-bench` binary, release build) interleaved round by round in one run. Each",
        f"number is the best of {args.reps} calls per round over {args.rounds} rounds, after a warm-up call.",
        "Ratios are NumPy time / framework time: above 1 means faster than NumPy.",
        "",
        f"- date: {result['date']}",
        f"- machine: {result['cpu']}, {result['cores']} cores (KVM guest, shared with other jobs)",
        f"- load average (1/5/15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {', '.join(f'{x:.2f}' for x in load_after)}",
        f"- versions: {v['rustc']}; Python {v['python']}; NumPy {v['numpy']}; MLX {v['mlx']}; "
        f"JAX {v['jax']} (jaxlib {v['jaxlib']}); torch {v.get('torch', 'not installed')}",
        "- NumPy BLAS (threadpoolctl): "
        + "; ".join(
            f"{b.get('internal_api')} {b.get('version')} kernel {b.get('architecture')}, {b.get('num_threads')} threads"
            for b in result["blas"]
        ),
        "- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (removed for the benchmark process only, when set): "
        + (", ".join(f"{k}={v} removed" for k, v in sorted(ENV_REMOVED.items())) or "neither was set"),
        "",
        "| workload | ferrox | NumPy | MLX | JAX | NumPy/ferrox | NumPy/MLX | NumPy/JAX | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def ratio(n, t):
        return f"{n / t:.2f}x" if (n and t) else "—"

    for key, desc, fx, npt, mlx, jax_, target, met in rows:
        lines.append(
            f"| {desc} | {fmt_t(fx)} | {fmt_t(npt)} | {fmt_t(mlx)} | {fmt_t(jax_)} | "
            f"{ratio(npt, fx)} | {ratio(npt, mlx)} | {ratio(npt, jax_)} | {target} | {'—' if met is None else ('yes' if met else 'NO')} |"
        )
    # The grad latency: ferrox from Rust (the bench binary) and from Python, beside the
    # peers' Python front ends. Target (issue 4): no slower per call than MLX and torch.
    grads = {"ferrox (Rust)": best["ferrox"].get(GRAD_CASE[0]), **grad_best}
    peers = [grads[k] for k in ("mlx", "torch") if k in grads]
    fx_py = grads.get("ferrox (Python)")
    met = "—" if not (peers and fx_py) else ("yes" if fx_py <= min(peers) else "NO")
    lines += [
        "",
        f"Transforms: {GRAD_CASE[1]}, every framework in the same run (JAX's `grad` without",
        "`jit` retraces each call); frameworks not installed are left out.",
        "",
        "| workload | " + " | ".join(grads) + " | target | met |",
        "| --- | " + " | ".join("---" for _ in grads) + " | --- | --- |",
        f"| {GRAD_CASE[0]} | " + " | ".join(fmt_t(t) for t in grads.values())
        + f" | ferrox (Python) ≤ MLX and torch | {met} |",
    ]
    lines += [""] + [f"- {n}" for n in notes]
    path = os.path.join(ROOT, "docs", "performance.md")
    notes_path = os.path.join(ROOT, "docs", "performance-notes.md")
    body = "\n".join(lines) + "\n"
    if os.path.exists(notes_path):
        body += "\n" + open(notes_path).read()
    with open(path, "w") as f:
        f.write(body)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
