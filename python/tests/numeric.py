"""Numerical references shared by the tests."""

import numpy as np


def fd_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at the float64 numpy array x."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g
