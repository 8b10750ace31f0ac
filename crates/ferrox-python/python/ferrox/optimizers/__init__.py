"""``mlx.optimizers`` for ferrox: optimizers, learning-rate schedules and gradient
clipping, in plain Python over ``ferrox.core``."""

from .optimizers import *  # noqa: F401,F403
from .optimizers import __all__ as _optimizers_all
from .schedulers import *  # noqa: F401,F403
from .schedulers import __all__ as _schedulers_all

__all__ = _optimizers_all + _schedulers_all
