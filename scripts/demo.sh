#!/usr/bin/env bash
# Runs ferrox's demo: the Rust core, then the same ideas from Python (`ferrox.core`, a
# drop-in for `mlx.core`). Needs a Rust toolchain and python3; installs the rest (crates,
# and maturin + NumPy into a local virtualenv, .venv) on first run.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "### Rust: crates/ferrox/examples/demo.rs"
cargo run --release --quiet -p ferrox --example demo

echo
echo "### Python: python/examples/demo.py"
VENV=.venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet "maturin>=1.5,<2" numpy
(cd crates/ferrox-python && VIRTUAL_ENV="$PWD/../../$VENV" PATH="$PWD/../../$VENV/bin:$PATH" \
    maturin develop --release --quiet)
"$VENV/bin/python" python/examples/demo.py
