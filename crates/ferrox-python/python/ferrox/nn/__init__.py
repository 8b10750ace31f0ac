"""`ferrox.nn`: neural-network layers and the `Module` API of `mlx.nn`."""

from . import utils
from .layers import *  # noqa: F401,F403
from .layers.base import Module
from .utils import average_gradients, value_and_grad

# Written on another branch (nn-extra); imported only where present until the merge.
# A presence check rather than `except ImportError`, so an error inside them still shows.
from importlib.util import find_spec as _find_spec

if _find_spec(f"{__name__}.init") is not None:
    from . import init  # noqa: F401
if _find_spec(f"{__name__}.losses") is not None:
    from . import losses  # noqa: F401
