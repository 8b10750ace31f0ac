"""Saving traced functions to files and loading them back: ``export_function``,
``exporter``, ``import_function`` and ``export_to_dot``, MLX's signatures over the Rust
ones in ``ferrox.core`` (``_Exporter``, ``_import_function``, ...).

A file saved here holds the function's graph (as ``compile`` traces it) and the arrays
it captured; it loads in any ferrox program, Python or Rust
(``ferrox::transforms::import_function``), without the code that made it. Files are
ferrox's own format, not MLX's ``.mlxfn``.
"""

import os

from . import core
from ._transforms import _tree_flatten

__all__ = ["export_function", "exporter", "import_function", "export_to_dot", "FunctionExporter"]

_array = core.array

_INPUTS_ERROR = (
    "Inputs can either be a variable number of positional and keyword arrays or a "
    "single tuple and/or dictionary of arrays."
)


def _split_inputs(where, args, kwargs):
    """MLX's two forms of arguments: arrays (positional and by keyword), or a single
    tuple (or list) and/or a dictionary of arrays. Returns ``(positional, keywords)``."""
    args = tuple(args)
    if not kwargs and args and not isinstance(args[0], _array):
        first, rest = args[0], args[1:]
        if isinstance(first, dict) and not rest:
            args, kwargs = (), first
        elif isinstance(first, (tuple, list)) and (
            not rest or (len(rest) == 1 and isinstance(rest[0], dict))
        ):
            args, kwargs = tuple(first), (rest[0] if rest else {})
    bad = [x for x in list(args) + list(kwargs.values()) if not isinstance(x, _array)]
    if bad or not all(isinstance(k, str) for k in kwargs):
        raise ValueError(f"[{where}] {_INPUTS_ERROR}")
    return list(args), dict(kwargs)


def _flat(fun, n_positional, names):
    """``fun`` over one flat list of arrays: positional arguments, then the keyword
    arguments in the order of ``names``; its outputs flattened."""

    def flat(xs):
        out = fun(*xs[:n_positional], **dict(zip(names, xs[n_positional:])))
        return _tree_flatten(out)

    return flat


class FunctionExporter:
    """A context managing class for exporting multiple traces of the same function to
    a file. Make one with :func:`exporter`; each call traces the function on new
    arguments and saves it beside the earlier ones."""

    def __init__(self, file, fun, shapeless=False, metadata=None):
        self._fun = fun
        self._signature = None
        self._exporter = core._Exporter(os.fspath(file), self._call_traced, shapeless, metadata or "")

    def _call_traced(self, xs):
        n_positional, names = self._signature
        return _flat(self._fun, n_positional, names)(xs)

    def __call__(self, *args, **kwargs):
        args, kwargs = _split_inputs("export_function", args, kwargs)
        names = sorted(kwargs)
        self._signature = (len(args), names)
        self._exporter.add(args + [kwargs[k] for k in names], names)

    def close(self):
        """Finishes the file: later calls raise."""
        self._exporter.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def exporter(file, fun, *, shapeless=False, metadata=None):
    """Make a callable object to export multiple traces of a function to a file.

    ``shapeless=True`` lets the imported function take arguments of new shapes (same
    ndims and dtypes); ``metadata`` is a string saved beside the function (for example
    a JSON model configuration), read back by ``import_function(...,
    return_metadata=True)``."""
    return FunctionExporter(file, fun, shapeless, metadata)


def export_function(file_or_callback, fun, *args, shapeless=False, metadata=None, **kwargs):
    """Export an array function to a file, traced on the example arguments.

    The arguments are arrays, positional and by keyword, or a single tuple and/or
    dictionary of arrays; the function returns an array or a tree of arrays. Given a
    callable instead of a file, the traced graph is handed to it record by record
    (``{"type": "inputs" | "keyword_inputs" | "outputs" | "constants" | "primitive",
    ...}``), as in MLX; a primitive's ``arguments`` are its parameters as JSON."""
    args, kwargs = _split_inputs("export_function", args, kwargs)
    names = sorted(kwargs)
    flat_args = args + [kwargs[k] for k in names]
    if callable(file_or_callback) and not isinstance(file_or_callback, (str, os.PathLike)):
        for record in core._export_graph(_flat(fun, len(args), names), flat_args, names):
            file_or_callback(record)
        return None
    with exporter(file_or_callback, fun, shapeless=shapeless, metadata=metadata) as ex:
        ex(*args, **kwargs)
    return None


def import_function(file, return_metadata=False):
    """Import a function from a file saved by :func:`export_function` (in Python or
    Rust).

    The imported function is called with ``*args`` and ``**kwargs`` or with a tuple of
    arrays and/or a dictionary of arrays, and always returns a tuple of arrays."""
    imported = core._import_function(os.fspath(file))

    def call(*args, **kwargs):
        args, kwargs = _split_inputs("import_function::call", args, kwargs)
        names = list(kwargs)
        return tuple(imported.call(args, names, [kwargs[k] for k in names]))

    call.__doc__ = f"A function imported from {os.fspath(file)}."
    if return_metadata:
        return call, imported.metadata()
    return call


def export_to_dot(file, *args, **kwargs):
    """Export a graph to DOT format for visualization: the graph of the output arrays
    ``args`` and the named arrays ``kwargs``, recursively including all their
    unevaluated inputs. ``file`` is a path or an object with a ``write`` method."""
    outputs = _tree_flatten(list(args))
    names = list(kwargs)
    for k in names:
        if not isinstance(kwargs[k], _array):
            raise ValueError("[export_to_dot] Keyword arguments must be arrays.")
    text = core._export_to_dot(outputs, names, [kwargs[k] for k in names])
    if hasattr(file, "write"):
        file.write(text)
    else:
        with open(os.fspath(file), "w") as f:
            f.write(text)
