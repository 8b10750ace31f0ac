"""`ferrox.nn`: neural-network layers and the `Module` API of `mlx.nn`."""

from . import init, losses, utils
from .layers import *  # noqa: F401,F403
from .layers.base import Module
from .utils import average_gradients, value_and_grad
