"""``python -m ferrox.run script.py [args...]``: run an MLX program on ferrox.

The script's ``import mlx.core as mx`` (and ``mlx.nn``, ``mlx.optimizers``, ``mlx.utils``)
load ferrox; other ``mlx.*`` packages such as ``mlx.data`` are untouched. ``-m module``
runs a module instead of a file, as ``python -m`` does.
"""

import runpy
import sys

from ferrox.alias import install

USAGE = "usage: python -m ferrox.run (script.py | -m module) [args...]"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 0 if argv else 2
    install()
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
