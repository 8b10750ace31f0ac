"""MLX users' snippets print the same text on ferrox as on MLX.

Each snippet is an unmodified MLX program: it runs once with real MLX and once through
`python -m ferrox.run`, and the two outputs must be identical, character for character.
"""

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mlx.core")

SNIPPETS = {
    "creation": """
        import mlx.core as mx
        print(mx.arange(10))
        print(mx.arange(0.5, 3, 0.5))
        print(mx.linspace(0, 1, 5))
        print(mx.eye(3, k=1, dtype=mx.int32))
        print(mx.full((2, 3), 7))
        print(mx.zeros_like(mx.ones((2, 2), dtype=mx.float16)))
        print(mx.array([True, False]), mx.array([1 + 2j, 3j]))
        print(mx.array([[1, 2], [3, 4]], dtype=mx.bfloat16))
        print(mx.tri(3, 4), mx.tril(mx.ones((3, 3))))
    """,
    "arithmetic": """
        import mlx.core as mx
        a = mx.array([1, 2, 3], dtype=mx.int8)
        print(a + 1, a * 2.5, a / 2, a // 2, a % 2, -a, a ** 2)
        b = mx.array([[0.5], [1.5]])
        print(a + b, (a > 1) & (a < 3), mx.maximum(a, 2))
        print(mx.sqrt(mx.array([4.0, 2.0])), mx.exp(mx.array(1.0)), mx.sin(mx.pi / 2))
        x = mx.array([1.0, float("nan"), float("inf"), -float("inf")])
        print(x, mx.isnan(x), mx.nan_to_num(x))
        print(mx.array(3) / mx.array(4), mx.array(2**40), mx.array(1e-8), mx.array(1e8))
    """,
    "indexing": """
        import mlx.core as mx
        m = mx.arange(24).reshape(2, 3, 4)
        print(m[1], m[:, 1:, ::2], m[..., -1], m[None, 0, :, 1])
        print(m[0, 1, 2].item(), m.shape, m[::-1, ::-2].tolist())
    """,
    "reductions": """
        import mlx.core as mx
        m = mx.arange(12, dtype=mx.float32).reshape(3, 4)
        print(mx.sum(m), mx.sum(m, axis=0), mx.mean(m, axis=1, keepdims=True))
        print(mx.var(m, axis=0, ddof=1), mx.std(m), mx.prod(m[:, 1:3], axis=-1))
        print(mx.argmax(m, axis=1), mx.argmin(m), mx.max(m), mx.min(m, axis=0))
        print(mx.logsumexp(m, axis=1), mx.softmax(m, axis=-1))
        print(mx.all(m > -1), mx.any(m > 10, axis=0), mx.count_nonzero(m))
    """,
    "random": """
        import mlx.core as mx
        mx.random.seed(42)
        print(mx.random.uniform(shape=(2, 3)), mx.random.normal((4,)))
        print(mx.random.randint(0, 10, (3, 3)), mx.random.bernoulli(0.3, (5,)))
        k = mx.random.key(7)
        k1, k2 = mx.random.split(k)
        print(k, k1, mx.random.normal((2, 2), key=k2, loc=1.0, scale=2.0))
        print(mx.random.permutation(6, key=k1), mx.random.gumbel((3,), key=k1))
        print(mx.random.categorical(mx.log(mx.array([[0.1, 0.9], [0.8, 0.2]])), key=k2))
        print(mx.random.truncated_normal(-1, 1, (3,), key=k), mx.random.laplace((2,), key=k))
    """,
    "scans_and_shapes": """
        import mlx.core as mx
        a = mx.arange(12).reshape(3, 4)
        print(mx.cumsum(a, axis=1), mx.cumprod(a + 1, axis=0, reverse=True), a.cummax())
        print(mx.concatenate([a, a], axis=1), mx.stack([a[0], a[1]]), mx.split(a, 2, axis=1))
        print(mx.pad(a, 1), mx.tile(a[0], 2), mx.repeat(a[:, 0], 2), mx.roll(a, 1, axis=0))
        print(mx.take(a, mx.array([2, 0]), axis=1), mx.diag(a), mx.trace(a), mx.diff(a))
        print(mx.median(a.astype(mx.float32), axis=0), mx.flip(a, 1), mx.meshgrid(a[0], a[1]))
    """,
    "printing": """
        import mlx.core as mx
        print(mx.arange(2000).reshape(40, 50))
        print(mx.ones((3, 1000), dtype=mx.float16) / 3)
        print(mx.array([1e-5, 1.0, 12345.678]))
        print(repr(mx.array(2.5)), str(mx.array([], dtype=mx.int32)))
        print(mx.float32, mx.int64, mx.array([1, 2]).dtype, mx.cpu, mx.default_device())
        print(mx.finfo(mx.float16).max, mx.iinfo(mx.int8).min)
    """,
}


def _run(args, cwd):
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_snippet_prints_what_mlx_prints(name, tmp_path):
    script = tmp_path / f"snippet_{name}.py"
    script.write_text(textwrap.dedent(SNIPPETS[name]))
    want = _run([str(script)], tmp_path)
    got = _run(["-m", "ferrox.run", str(script)], tmp_path)
    assert got == want
