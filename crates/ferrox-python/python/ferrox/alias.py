"""Run unmodified MLX programs on ferrox.

``ferrox.alias.install()`` makes ``import mlx.core`` (and ``mlx.nn``, ``mlx.optimizers``,
``mlx.utils``) import ferrox's modules instead. Everything else under ``mlx`` is left
alone: ``mlx`` is a namespace package that other distributions extend (``mlx-data``
installs ``mlx.data``), so only the names ferrox provides are redirected, and packages
such as ``mlx_lm`` that ``import mlx.core`` get ferrox transparently.

From the command line, ``python -m ferrox.run script.py [args...]`` does the same for a
whole program.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

#: The ``mlx`` modules ferrox stands in for, and the ferrox module behind each.
ALIASES = {
    "mlx.core": "ferrox.core",
    "mlx.nn": "ferrox.nn",
    "mlx.optimizers": "ferrox.optimizers",
    "mlx.utils": "ferrox.utils",
}


def _target(name):
    """The ferrox module that stands in for ``name``, or None if ``name`` is not aliased."""
    for mlx_name, ferrox_name in ALIASES.items():
        if name == mlx_name or name.startswith(mlx_name + "."):
            return ferrox_name + name[len(mlx_name) :]
    return None


class _AliasLoader(importlib.abc.Loader):
    """Loads an ``mlx`` name as the ferrox module it maps to (the same module object)."""

    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module):
        pass


class _EmptyNamespaceLoader(importlib.abc.Loader):
    """Provides a bare ``mlx`` package when no distribution installs one."""

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "mlx":
            if importlib.machinery.PathFinder.find_spec(name) is not None:
                return None  # a real mlx namespace exists: let it load, so mlx.data etc. work
            return importlib.util.spec_from_loader(
                name, _EmptyNamespaceLoader(), is_package=True
            )
        ferrox_name = _target(name)
        if ferrox_name is None:
            return None
        return importlib.util.spec_from_loader(name, _AliasLoader(ferrox_name))


_finder = _Finder()


def install():
    """Make ``import mlx.core`` (and nn, optimizers, utils) load ferrox from now on.

    Raises ``RuntimeError`` if the real ``mlx.core`` was already imported in this process,
    since objects from the two could otherwise be mixed.
    """
    for mlx_name, ferrox_name in ALIASES.items():
        loaded = sys.modules.get(mlx_name)
        if loaded is not None and not loaded.__name__.startswith("ferrox"):
            raise RuntimeError(
                f"{mlx_name} was imported before ferrox.alias.install(); "
                "install the alias first (or use `python -m ferrox.run script.py`)."
            )
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def uninstall():
    """Undo :func:`install`: later imports of ``mlx.*`` find the real modules again."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in list(sys.modules):
        if _target(name) is not None:
            del sys.modules[name]
