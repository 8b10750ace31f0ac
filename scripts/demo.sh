#!/usr/bin/env bash
# Runs ferrox's demo: the Rust core, the same ideas from Python (`ferrox.core`, a drop-in
# for `mlx.core`), then the main act: train a character-level transformer on Shakespeare
# in Python and run the very same checkpoint in a Rust binary, no conversion.
# Needs a Rust toolchain and python3; installs the rest (crates, and maturin, NumPy and
# matplotlib into a local virtualenv, .venv) on first run.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/char_model
BIN="${CARGO_TARGET_DIR:-target}/release/examples"
VENV=.venv
# The same sample on both sides: Python prints it after training, Rust after loading.
PROMPT=$'HAMLET.\n'
CHARS=300
SAMPLING=(--temperature 0.8 --seed 0)

echo "### Building ferrox (release; a few minutes on a fresh machine, once)"
SECONDS=0
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet "maturin>=1.5,<2" numpy matplotlib
# --release: the dev profile builds ferrox's kernels at opt-level 1, too slow to train.
(cd crates/ferrox-python && VIRTUAL_ENV="$PWD/../../$VENV" PATH="$PWD/../../$VENV/bin:$PATH" \
    maturin develop --release --quiet)
# Naming ferrox-python here gives the examples its resolution of features (pyo3 turns on
# a few in shared crates), so they link the ferrox that maturin just built.
cargo build --release --quiet -p ferrox-python -p ferrox --example demo -p ferrox-nn --example generate
echo "built in ${SECONDS} s"

echo
echo "### Rust: crates/ferrox/examples/demo.rs"
"$BIN/demo"

echo
echo "### Python: python/examples/demo.py"
"$VENV/bin/python" python/examples/demo.py

echo
echo "### Train in Python: examples/char_transformer.py -> $OUT"
"$VENV/bin/python" examples/char_transformer.py --out "$OUT" --prompt "$PROMPT" \
    --chars "$CHARS" "${SAMPLING[@]}"

echo
echo "### Ship in Rust: crates/ferrox-nn/examples/generate.rs, the same checkpoint and sample"
"$BIN/generate" "$OUT" "$PROMPT" "$CHARS" "${SAMPLING[@]}" --logits "$OUT/logits.npy"
echo "(the loss curve is $OUT/loss.png; python/tests/test_demo.py checks that Python and"
echo " Rust give the same logits and the same text, bit for bit)"
