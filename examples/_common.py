"""Helpers the examples share: picking the framework, and a small progress bar.

The examples run on ferrox by default and on Apple's MLX with `--mlx`, so the two can
be compared on the same program: only the import differs.
"""

import sys
import time


def backend(use_mlx=False):
    """Returns (mx, nn, optim) from ferrox, or from MLX when `use_mlx`."""
    if use_mlx:
        import mlx.core as mx
        import mlx.nn as nn
        import mlx.optimizers as optim
    else:
        import ferrox.core as mx
        import ferrox.nn as nn
        import ferrox.optimizers as optim
    return mx, nn, optim


class Progress:
    """A one-line progress bar on stderr (no dependency; tqdm would do the same).

    It redraws at most every 0.1 s, so drawing costs nothing next to training.
    """

    def __init__(self, total, desc="", enabled=True, width=30):
        self.total, self.desc, self.enabled, self.width = total, desc, enabled, width
        self.start = self.last_draw = time.perf_counter()
        self.n = 0

    def update(self, n=1, **info):
        self.n += n
        now = time.perf_counter()
        if self.enabled and (now - self.last_draw > 0.1 or self.n >= self.total):
            self.last_draw = now
            filled = self.width * self.n // max(self.total, 1)
            bar = "#" * filled + "." * (self.width - filled)
            extra = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in info.items())
            sys.stderr.write(f"\r{self.desc} [{bar}] {self.n}/{self.total} "
                             f"{now - self.start:5.1f}s {extra}")
            sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
