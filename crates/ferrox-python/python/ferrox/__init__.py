"""ferrox: MLX's way of working, anywhere.

``import ferrox.core as mx`` gives the ``mlx.core`` API on any CPU.
"""

from . import core  # noqa: F401

__version__ = core.__version__
