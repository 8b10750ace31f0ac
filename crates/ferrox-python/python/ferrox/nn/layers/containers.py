"""`Sequential`: call modules (or callables) one after the other."""

from .base import Module


class Sequential(Module):
    """``Sequential(a, b, c)(x) == c(b(a(x)))``; the modules live in ``self.layers``
    (checkpoint keys ``layers.0...``)."""

    def __init__(self, *modules):
        super().__init__()
        self.layers = list(modules)

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
