import numpy as np
import pytest

try:  # MLX (CPU wheel) is the oracle where it is installed.
    import mlx.core as mlx
except Exception:  # pragma: no cover - oracle tests are skipped without it
    mlx = None


@pytest.fixture
def oracle():
    if mlx is None:
        pytest.skip("mlx is not installed")
    return mlx


@pytest.fixture
def rng():
    return np.random.default_rng(0)
