"""`ferrox.nn`: neural-network layers and the `Module` API of `mlx.nn`."""

from . import utils
from .layers import *  # noqa: F401,F403
from .layers.base import Module
from .utils import average_gradients, checkpoint, value_and_grad

# Written on another branch; imported guarded until the merge.
try:
    from . import init, losses  # noqa: F401
except ImportError:
    pass
