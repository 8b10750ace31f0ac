"""mx.distributed in one process: the singleton group, as MLX's without a running
backend (collectives return their input, send/recv raise, strict init and split raise)."""

import numpy as np
import pytest

import ferrox.core as mx

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover
    mlx = None

COLLECTIVES = ["all_sum", "all_max", "all_min", "all_gather", "sum_scatter"]


def test_singleton_group():
    g = mx.distributed.init()
    assert (g.rank(), g.size()) == (0, 1)
    assert isinstance(g, mx.distributed.Group)
    with pytest.raises(RuntimeError, match="Cannot split"):
        g.split(0)
    with pytest.raises(RuntimeError, match="Couldn't initialize any backend"):
        mx.distributed.init(strict=True)
    assert mx.distributed.is_available("mpi") is False


@pytest.mark.parametrize("name", COLLECTIVES)
def test_collectives_are_identities(name):
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    got = getattr(mx.distributed, name)(mx.array(x), group=mx.distributed.init())
    assert got.dtype == mx.int32 and got.shape == (2, 3)
    np.testing.assert_array_equal(np.array(got), x)
    if mlx is not None:
        want = getattr(mlx.distributed, name)(mlx.array(x))
        np.testing.assert_array_equal(np.array(got), np.array(want))


def test_point_to_point_has_no_peer():
    x = mx.ones((2, 3))
    with pytest.raises(ValueError, match="Cannot send to a singleton group"):
        mx.distributed.send(x, 0)
    with pytest.raises(ValueError, match="Cannot recv from a singleton group"):
        mx.distributed.recv((2, 3), mx.float32, 0)
    with pytest.raises(ValueError, match="Cannot recv from a singleton group"):
        mx.distributed.recv_like(x, 0)
