#!/usr/bin/env python3
"""Checkpoint loading (issue 7): a 1 GiB .safetensors file of 64 float32 tensors of
16 MiB plus one small tensor, loaded by ferrox, MLX, the `safetensors` package (NumPy
and, where installed, torch) and NumPy (`.npy` through `np.load(mmap_mode="r")`).

    python bench/io.py [--size-mib 1024] [--rounds 5] [--no-write] [--out docs/performance-io.md]

Rows, each the best of `--rounds` (the file is in the page cache: the first round
reads it from disk, as any later load in a session would not):
- open + one small tensor: open the file and evaluate the 64-byte tensor.
- load all: open the file and have every tensor evaluated and its bytes read once
  (a sum over each tensor, the same for every framework, so that a loader that maps
  pages lazily pays for faulting them in, as it would at first use).
- eval all: ferrox's evaluation without reading (an aligned tensor is a view of the
  mapping, so this is the cost of the lazy graph alone).
The machine's copy bandwidth is measured in the same run (NumPy copying 1 GiB between
resident buffers) and "load all" is reported as a fraction of it.
"""
import argparse
import datetime
import gc
import os
import platform
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best(f, rounds):
    times = []
    for _ in range(rounds):
        gc.collect()
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "performance-io.md"))
    args = ap.parse_args()

    import safetensors.numpy as stnp
    from safetensors import safe_open

    n_tensors = 64
    per = args.size_mib * (1 << 20) // n_tensors // 4
    rng = np.random.default_rng(0)
    tensors = {f"layer{i:02d}.weight": rng.standard_normal(per, dtype=np.float32) for i in range(n_tensors)}
    tensors["small"] = np.arange(16, dtype=np.float32)
    total = sum(t.nbytes for t in tensors.values())
    tmp = tempfile.mkdtemp(prefix="ferrox-io-bench-")
    path = os.path.join(tmp, "model.safetensors")
    stnp.save_file(tensors, path)
    npy = os.path.join(tmp, "big.npy")
    np.save(npy, np.concatenate([t for k, t in tensors.items() if k != "small"]))
    del tensors
    gc.collect()

    # Copy bandwidth: NumPy copying between resident buffers.
    src = np.ones(total // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    copy_s = best(lambda: np.copyto(dst, src), args.rounds)
    copy_bw = total / copy_s
    del src, dst

    rows = []  # (framework, workload, seconds)
    import ferrox.core as fx

    def fx_small():
        fx.eval(fx.load(path)["small"])

    def fx_all():
        d = fx.load(path)
        fx.eval([fx.sum(v) for v in d.values()])

    def fx_eval_all():
        d = fx.load(path)
        fx.eval(list(d.values()))

    rows += [("ferrox", "open + one small tensor", best(fx_small, args.rounds)),
             ("ferrox", "load all", best(fx_all, args.rounds)),
             ("ferrox", "eval all (in place, unread)", best(fx_eval_all, args.rounds))]
    try:
        import mlx.core as mlx

        def mlx_small():
            mlx.eval(mlx.load(path)["small"])

        def mlx_all():
            d = mlx.load(path)
            mlx.eval([mlx.sum(v) for v in d.values()])

        rows += [("mlx", "open + one small tensor", best(mlx_small, args.rounds)),
                 ("mlx", "load all", best(mlx_all, min(args.rounds, 3)))]
    except ImportError:
        print("mlx is not installed: its rows are left out")

    def st_small():
        with safe_open(path, framework="np") as f:
            f.get_tensor("small")

    def st_all():
        for v in stnp.load_file(path).values():
            v.sum()

    rows += [("safetensors (numpy)", "open + one small tensor", best(st_small, args.rounds)),
             ("safetensors (numpy)", "load all", best(st_all, args.rounds))]
    try:
        import torch
        import safetensors.torch as sttorch

        torch.set_num_threads(os.cpu_count())

        def pt_all():
            for v in sttorch.load_file(path).values():
                v.sum()

        rows.append(("safetensors (torch)", "load all", best(pt_all, args.rounds)))
    except ImportError:
        print("torch is not installed: its row is left out")

    def np_all():
        a = np.load(npy, mmap_mode="r")
        a.sum()

    rows.append(("numpy (np.load mmap, one .npy)", "load all", best(np_all, args.rounds)))

    gib = total / (1 << 30)
    lines = [
        "# Checkpoint loading",
        "",
        f"`python bench/io.py` on {datetime.date.today()}: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}. File: {gib:.2f} GiB of float32 in "
        f"{n_tensors} tensors plus one of 64 bytes, in the page cache. Best of {args.rounds}.",
        "",
        f"Copy bandwidth (NumPy `copyto`, resident buffers): {copy_bw / 1e9:.2f} GB/s.",
        "",
        "| framework | workload | time | GB/s | of copy bandwidth |",
        "|---|---|---:|---:|---:|",
    ]
    for fw, wl, s in rows:
        if wl == "load all":
            bw = total / s
            lines.append(f"| {fw} | {wl} | {s * 1e3:.1f} ms | {bw / 1e9:.2f} | {bw / copy_bw:.0%} |")
        else:
            lines.append(f"| {fw} | {wl} | {s * 1e3:.2f} ms | | |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        with open(args.out, "w") as f:
            f.write(text)
    for p in (path, npy):
        os.remove(p)
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
