"""Train a small character-level transformer on Shakespeare, for a Rust binary to run.

    python examples/char_transformer.py --out char_model      # train (~75 s on 2 cores)
    cargo run --release -p ferrox-nn --example generate -- char_model "HAMLET."

The model is built only from layers that ferrox-nn has in Rust with the same parameter
names (Embedding, TransformerEncoder, Linear), so `model.safetensors` loads there as it
is: crates/ferrox-nn/examples/generate.rs builds the same model from `config.json` and
gives the same logits, bit for bit (python/tests/test_demo.py checks it).

The text is Hamlet and Macbeth (examples/data/shakespeare.txt, public domain).
"""

import argparse
import json
import math
import pathlib
import sys
import time
from functools import partial

import numpy as np

from _common import Progress

import ferrox.core as mx
import ferrox.nn as nn
import ferrox.optimizers as optim

DATA = pathlib.Path(__file__).resolve().parent / "data" / "shakespeare.txt"
START_MARK = "*** START ***\n"


def load_text(path=DATA):
    """The plays, without the provenance note above the start mark."""
    text = path.read_text(encoding="utf-8")
    start = text.find(START_MARK)
    return text[start + len(START_MARK):] if start >= 0 else text


class CharTransformer(nn.Module):
    """Token and learned position embeddings, a pre-norm causal TransformerEncoder, and
    a Linear head onto the vocabulary. Keys: embedding.weight, pos_embedding.weight,
    encoder.layers.<i>.*, encoder.ln.*, out.weight, out.bias: exactly the fields of the
    Rust model in crates/ferrox-nn/examples/generate.rs."""

    def __init__(self, vocab_size, dims, num_heads, num_layers, context):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dims)
        # Learned positions (not RoPE): an Embedding is all it takes on both sides.
        self.pos_embedding = nn.Embedding(context, dims)
        self.encoder = nn.TransformerEncoder(num_layers, dims, num_heads, norm_first=True)
        self.out = nn.Linear(dims, vocab_size)

    def __call__(self, tokens):
        """`tokens` (batch, length) int32, length <= context; logits (batch, length, vocab)."""
        length = tokens.shape[1]
        x = self.embedding(tokens) + self.pos_embedding(mx.arange(length))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(length)
        return self.out(self.encoder(x, mask))


def build_model(config):
    return CharTransformer(
        len(config["vocab"]), config["dims"], config["num_heads"], config["num_layers"],
        config["context"],
    )


def load_model(out_dir):
    """The model and config saved by `save_model` (the Rust binary reads the same two files)."""
    out_dir = pathlib.Path(out_dir)
    config = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    model = build_model(config)
    model.load_weights(str(out_dir / "model.safetensors"), strict=True)
    model.eval()
    return model, config


def save_model(model, config, out_dir):
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(out_dir / "model.safetensors"))
    # ensure_ascii keeps the file plain ASCII; the vocabulary is one string, index = id.
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def last_logits(model, config, prompt):
    """The logits (vocab,) float32 at the prompt's last position, the prompt cut to its last
    `context` characters: what `generate --logits` writes in Rust."""
    ids = encode(config["vocab"], prompt)[-config["context"]:]
    return model(mx.array([ids], dtype=mx.int32))[0, -1]


def generate(model, config, prompt, n_chars, temperature=0.0, seed=0):
    """Continues `prompt` by `n_chars` characters, the whole window recomputed at each step:
    greedily (the most likely character) at temperature 0, else sampled from
    softmax(logits / temperature) with keys split off `mx.random.key(seed)`. The same loop
    as the Rust binary's, so the two give the same text."""
    vocab, context = config["vocab"], config["context"]
    ids = encode(vocab, prompt)
    key = mx.random.key(seed)
    for _ in range(n_chars):
        logits = model(mx.array([ids[-context:]], dtype=mx.int32))[0, -1]
        if temperature == 0:
            ids.append(mx.argmax(logits).item())
        else:
            key, sub = mx.random.split(key)
            ids.append(mx.random.categorical(logits / temperature, key=sub).item())
    return "".join(vocab[i] for i in ids)


def encode(vocab, text):
    index = {c: i for i, c in enumerate(vocab)}
    missing = sorted(set(text) - set(index))
    if missing:
        raise ValueError(f"characters not in the vocabulary: {missing!r}")
    return [index[c] for c in text]


def unigram_entropy(ids, vocab_size):
    """Entropy (nats) of the character frequencies: the loss of a model ignoring context."""
    p = np.bincount(ids, minlength=vocab_size) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def plot_losses(losses, path, unigram=None):
    """Writes the loss curve as a PNG: with matplotlib when installed, else a bare plot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _write_png_plot(losses, path)
        return
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(losses, lw=1, label="training loss")
    if unigram is not None:
        ax.axhline(unigram, color="gray", ls="--", lw=1, label="unigram entropy")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/char)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _write_png_plot(values, path, width=600, height=300):
    """A black curve on white, written with zlib alone (no plotting dependency)."""
    import struct
    import zlib

    img = np.full((height, width), 255, np.uint8)
    v = np.asarray(values, np.float64)
    lo, hi = v.min(), v.max()
    xs = np.linspace(0, width - 1, len(v)).astype(int)
    ys = ((hi - v) / max(hi - lo, 1e-12) * (height - 1)).astype(int)
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        n = max(abs(x1 - x0), abs(y1 - y0), 1)
        img[np.linspace(y0, y1, n + 1).astype(int), np.linspace(x0, x1, n + 1).astype(int)] = 0
    raw = b"".join(b"\x00" + row.tobytes() for row in img)  # filter type 0 per row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    pathlib.Path(path).write_bytes(png)


def main(out_dir="char_model", steps=1000, batch_size=32, context=64, dims=128, num_heads=4,
         num_layers=3, lr=3e-3, seed=0, progress=True, text=None, sample_prompt="HAMLET.\n",
         sample_chars=200, temperature=0.8):
    """Trains, saves the model, the config and the loss curve under `out_dir`, and returns
    a dict of results (losses, unigram entropy, validation loss, sample, seconds)."""
    mx.random.seed(seed)
    text = load_text() if text is None else text
    vocab = "".join(sorted(set(text)))
    ids = np.array(encode(vocab, text), dtype=np.int32)
    # The last tenth is held out, to check the model learnt more than the training text.
    split = len(ids) * 9 // 10
    train, val = ids[:split], ids[split:]
    config = {"vocab": vocab, "dims": dims, "num_heads": num_heads, "num_layers": num_layers,
              "context": context}

    model = build_model(config)
    mx.eval(model.parameters())
    warmup = min(50, steps // 4)
    schedule = optim.join_schedules(
        [optim.linear_schedule(lr / 10, lr, warmup), optim.cosine_decay(lr, steps - warmup, lr / 10)],
        [warmup],
    )
    optimizer = optim.AdamW(learning_rate=schedule, weight_decay=0.01)

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    # Model and optimizer state are the compiled step's inputs and outputs, so the
    # update it makes to them is kept; the step returns only the loss.
    state = [model.state, optimizer.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        return loss

    def batch(data, rng):
        starts = rng.integers(0, len(data) - context - 1, batch_size)
        x = np.stack([data[s:s + context] for s in starts])
        y = np.stack([data[s + 1:s + context + 1] for s in starts])
        return mx.array(x), mx.array(y)

    rng = np.random.default_rng(seed)
    bar = Progress(steps, "train", enabled=progress)
    losses = []
    start = time.perf_counter()
    for _ in range(steps):
        loss = step(*batch(train, rng))
        mx.eval(state, loss)
        losses.append(loss.item())
        bar.update(loss=losses[-1])
    bar.close()
    train_seconds = time.perf_counter() - start

    model.eval()
    val_rng = np.random.default_rng(seed + 1)
    val_loss = float(np.mean([loss_fn(model, *batch(val, val_rng)).item() for _ in range(8)]))
    save_model(model, config, out_dir)
    unigram = unigram_entropy(train, len(vocab))
    plot_losses(losses, pathlib.Path(out_dir) / "loss.png", unigram)
    t0 = time.perf_counter()
    sample = (generate(model, config, sample_prompt, sample_chars, temperature, seed)
              if sample_chars else "")
    return {"losses": losses, "unigram": unigram, "val_loss": val_loss, "sample": sample,
            "train_seconds": train_seconds, "sample_seconds": time.perf_counter() - t0,
            "config": config}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="char_model", help="directory for the checkpoint")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompt", default="HAMLET.\n", help="start of the Python sample")
    parser.add_argument("--chars", type=int, default=200, help="length of the Python sample")
    parser.add_argument("--temperature", type=float, default=0.8,
                        help="sampling temperature of the sample (0: greedy)")
    args = parser.parse_args()
    r = main(out_dir=args.out, steps=args.steps, seed=args.seed, sample_prompt=args.prompt,
             sample_chars=args.chars, temperature=args.temperature)
    print(f"trained {args.steps} steps in {r['train_seconds']:.1f} s: loss "
          f"{r['losses'][0]:.3f} -> {np.mean(r['losses'][-20:]):.3f} (last 20 steps), "
          f"held-out {r['val_loss']:.3f}; unigram entropy {r['unigram']:.3f} nats/char")
    print(f"saved {args.out}/model.safetensors, config.json, loss.png")
    how = "greedy" if args.temperature == 0 else f"temperature {args.temperature}, seed {args.seed}"
    print(f"--- sample from Python ({how}, {args.chars} chars, {r['sample_seconds']:.1f} s) ---")
    sys.stdout.write(r["sample"] + "\n")
