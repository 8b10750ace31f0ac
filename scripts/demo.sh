#!/usr/bin/env bash
# Runs ferrox's demo. Needs only a Rust toolchain (cargo); fetches crates on first run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -p ferrox --example demo
