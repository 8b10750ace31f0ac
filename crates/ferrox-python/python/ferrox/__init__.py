"""ferrox: MLX's way of working, anywhere.

``import ferrox.core as mx`` gives the ``mlx.core`` API on any CPU. To run an unmodified
MLX program, use ``python -m ferrox.run script.py`` or call ``ferrox.alias.install()``
before importing ``mlx.core``.
"""

import sys as _sys

from . import core
from ._array_api_info import __array_namespace_info__

core.__array_namespace_info__ = __array_namespace_info__

# The function transforms' Python layer (pytrees, argnums, in_axes) over the Rust ones.
from . import _transforms

# Saving functions to files, over the Rust exporter.
from . import _export

for _module in (_transforms, _export):
    for _name in _module.__all__:
        _obj = getattr(_module, _name)
        _obj.__module__ = "ferrox.core"
        setattr(core, _name, _obj)

# Submodules of the extension (ferrox.core.random, .metal, ...) importable by name too,
# as `import mlx.core.random`-style code expects.
for _name in dir(core):
    _obj = getattr(core, _name)
    if type(_obj) is type(core):
        _sys.modules.setdefault(f"{__name__}.core.{_name}", _obj)

__version__ = core.__version__
