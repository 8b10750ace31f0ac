"""`ferrox.nn`: neural-network layers and the `Module` API of `mlx.nn`."""

from . import utils
from .layers import *  # noqa: F401,F403
from .layers.base import Module
from .utils import average_gradients, value_and_grad

# Written on another branch; imported guarded until the merge.
try:
    from . import init, losses  # noqa: F401
except ImportError:
    pass

# Convolution, pooling, recurrent and upsample layers (branch nn-extra). Imported from
# their modules here because nn/layers/__init__.py belongs to the nn-core branch.
from .layers.convolution import Conv1d, Conv2d, Conv3d  # noqa: E402,F401
from .layers.convolution_transpose import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d  # noqa: E402,F401
from .layers.pooling import AvgPool1d, AvgPool2d, AvgPool3d, MaxPool1d, MaxPool2d, MaxPool3d  # noqa: E402,F401
from .layers.recurrent import GRU, LSTM, RNN  # noqa: E402,F401
from .layers.upsample import Upsample  # noqa: E402,F401
