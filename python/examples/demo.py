"""ferrox from Python: an MLX program, unchanged but for its import.

Run with ./scripts/demo.sh (which builds the package into .venv), or
`python python/examples/demo.py` once ferrox is installed.
"""

import time

import numpy as np

import ferrox.core as mx


def section(title):
    print(f"\n== {title} ==")


section("Lazy by default")
a = mx.array([[1.0, 2.0], [3.0, 4.0]])
b = a @ a + 1  # builds a graph; nothing is computed yet
print("b = a @ a + 1 ->")
print(b)  # printing evaluates, and prints exactly as MLX does

section("MLX's types: weak scalars, float32 by default")
x = mx.arange(6, dtype=mx.int8)
print("int8 + 1     ->", (x + 1).dtype)
print("int8 + 1.5   ->", (x + 1.5).dtype)
print("float64 data ->", mx.array(np.ones(3)).dtype, "(NumPy's float64 becomes float32, as in MLX)")
try:
    mx.ones((2, 3)) + mx.ones((4,))
except ValueError as e:
    print("a shape mismatch is a ValueError where the op is called:", e)

section("Indexing and reductions")
m = mx.arange(12).reshape(3, 4)
print("m[1:, ::2] =", m[1:, ::2].tolist())
print("sum(m, axis=0) =", mx.sum(m, axis=0).tolist())
print("softmax(m[0]) =", mx.softmax(m[0].astype(mx.float32)))

section("NumPy in and out, without copies")
n = np.asarray(mx.ones((2, 2)) * 3)
print(type(n).__name__, n.dtype, n.tolist())

section("Function transforms: grad, vmap, and both at once")


def loss(w, x, y):
    return mx.mean(mx.square(x @ w - y))


xs = mx.random.normal((64, 3), key=mx.random.key(0))
ys = xs @ mx.array([1.0, -2.0, 0.5])
w = mx.zeros((3,))
step = mx.value_and_grad(loss)
for _ in range(100):
    value, g = step(w, xs, ys)
    w = w - 0.1 * g
print(f"100 steps of gradient descent: loss {value.item():.2e}, w = {w}")
d3 = mx.grad(mx.grad(mx.grad(mx.sin)))
print("third derivative of sin at 0 =", d3(mx.array(0.0)).item())
per_example = mx.vmap(mx.grad(lambda w, x: mx.sum(mx.sin(w * x))), in_axes=(None, 0))
print("per-example gradients, shape", per_example(mx.ones((3,)), xs).shape)

section("Speed: a long lazy chain, freed as it runs")
y = mx.ones((1 << 22,))
for _ in range(50):
    y = y * 0.5 + 1
mx.reset_peak_memory()
t = time.perf_counter()
mx.eval(y)
ms = (time.perf_counter() - t) * 1e3
print(f"100 ops over 16 MB arrays in {ms:.1f} ms, peak memory {mx.get_peak_memory() >> 20} MB")

section("Run an MLX program unchanged")
print("python -m ferrox.run your_mlx_script.py   # `import mlx.core` loads ferrox")
