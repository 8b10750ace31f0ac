#!/usr/bin/env bash
# Runs every test: the Rust core's unit, integration and doc tests.
# Installs what it needs (crates via cargo). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
