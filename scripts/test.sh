#!/usr/bin/env bash
# Runs every test: the Rust core (unit, integration, doc tests), then the Python package
# (built into a local virtualenv with maturin) under pytest, with NumPy and MLX's CPU
# wheel as references. Installs what it needs. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
# A fresh clone gains nothing from incremental caches, and they cost gigabytes of disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

cargo test --workspace --exclude ferrox-python

VENV=.venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "maturin>=1.5,<2" numpy pytest mypy "mlx[cpu]" safetensors scikit-learn mlxtend
(cd crates/ferrox-python && VIRTUAL_ENV="$PWD/../../$VENV" PATH="$PWD/../../$VENV/bin:$PATH" maturin develop --quiet)
# The Rust half of python/tests/test_demo.py (a Python checkpoint run from Rust).
cargo build -p ferrox-nn --example generate
"$VENV/bin/python" -m pytest -q python/tests
