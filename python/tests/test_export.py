"""export_function / exporter / import_function / export_to_dot: MLX's signatures and
errors; imported functions give the values of the functions they were traced from (on
new arguments too), here and against MLX's own export."""

import io
import json

import numpy as np
import pytest

import ferrox.core as mx

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover
    mlx = None

rng = np.random.default_rng(0)


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def model(m, w):
    """A small transformer-ish function of the framework module ``m``."""

    def f(x, mask_bias):
        h = x @ w
        h = m.fast.layer_norm(h, None, None, 1e-5)
        q = h.reshape(1, 1, *h.shape)
        a = m.fast.scaled_dot_product_attention(q, q, q, scale=0.5, mask="causal")[0, 0]
        s = m.softmax(a + mask_bias, axis=-1)
        r = m.fast.rms_norm(s, None, 1e-5)
        c = m.conv1d(h[None, :, :, None].reshape(1, h.shape[0], h.shape[1]), m.ones((2, 3, h.shape[1])))
        t = m.take(h, m.array([2, 0]), axis=0)
        srt = m.sort(h, axis=-1)
        cs = m.cumsum(h, axis=0)
        am = m.argmax(h, axis=1)
        ff = m.abs(m.fft.rfft(h, axis=-1))
        g = m.where(h > 0, h, m.exp(h)).astype(m.float16)
        return r, c, t, srt, cs, am, ff, g, m.concatenate([h[1:3], h[::2]], axis=0)

    return f


def test_round_trip_gives_the_functions_values(tmp_path):
    w = rand(6, 8)
    f = model(mx, mx.array(w))
    x, b = rand(4, 6), rand(4, 8)
    path = tmp_path / "f.fxfn"
    mx.export_function(str(path), f, mx.array(x), mx.array(b), metadata="cfg")
    g, meta = mx.import_function(str(path), return_metadata=True)
    assert meta == "cfg"
    for args in [(x, b), (rand(4, 6), rand(4, 8))]:
        want = f(*map(mx.array, args))
        got = g(*map(mx.array, args))
        assert isinstance(got, tuple) and len(got) == len(want)
        for p, q in zip(got, want):
            assert p.shape == q.shape and p.dtype == q.dtype
            np.testing.assert_allclose(np.array(p.astype(mx.float32)), np.array(q.astype(mx.float32)), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(mlx is None, reason="needs mlx")
def test_values_equal_mlx_export(tmp_path):
    w, x, b = rand(6, 8), rand(4, 6), rand(4, 8)
    mx.export_function(str(tmp_path / "a"), model(mx, mx.array(w)), mx.array(x), mx.array(b))
    mlx.export_function(str(tmp_path / "b"), model(mlx, mlx.array(w)), mlx.array(x), mlx.array(b))
    x2, b2 = rand(4, 6), rand(4, 8)
    ours = mx.import_function(str(tmp_path / "a"))(mx.array(x2), mx.array(b2))
    theirs = mlx.import_function(str(tmp_path / "b"))(mlx.array(x2), mlx.array(b2))
    for p, q in zip(ours, theirs):
        assert p.shape == tuple(q.shape)
        np.testing.assert_allclose(
            np.array(p.astype(mx.float32)), np.array(q.astype(mlx.float32)), rtol=2e-3, atol=2e-3
        )


def test_keywords_and_tuple_forms(tmp_path):
    path = str(tmp_path / "k")
    x, y = mx.array(rand(2, 3)), mx.array(rand(3))
    mx.export_function(path, lambda a, b: a + b, x, b=y)
    g = mx.import_function(path)
    np.testing.assert_allclose(np.array(g(x, b=y)[0]), np.array(x + y))
    np.testing.assert_allclose(np.array(g((x,), {"b": y})[0]), np.array(x + y))
    with pytest.raises(ValueError, match="No imported function found"):
        g(x, y)
    # A single tuple and a dict are the arguments.
    mx.export_function(path, lambda a, c: a * c, (x,), {"c": y})
    np.testing.assert_allclose(np.array(mx.import_function(path)(x, c=y)[0]), np.array(x * y))
    with pytest.raises(ValueError, match="Inputs can either be"):
        mx.export_function(path, lambda a, b: a, x, b={"k": [y]})
    with pytest.raises(ValueError, match="Inputs can either be"):
        mx.export_function(path, lambda a: a, 3.0)


def test_mismatch_error_lists_the_signatures(tmp_path):
    path = str(tmp_path / "m")
    mx.export_function(path, lambda a, b: (a * b + 1, mx.exp(a)), mx.ones((2, 3)), mx.full((3,), 2.0))
    g = mx.import_function(path)
    with pytest.raises(ValueError) as e:
        g(mx.ones((4, 3)), mx.full((3,), 2.0))
    msg = str(e.value)
    assert "Function with 2 positional inputs and 0 keyword inputs" in msg
    assert "1: (2,3) float32" in msg and "1: (4,3) float32" in msg
    if mlx is not None:
        mlx.export_function(str(tmp_path / "mm"), lambda a, b: (a * b + 1, mlx.exp(a)), mlx.ones((2, 3)), mlx.full((3,), 2.0))
        with pytest.raises(ValueError) as e2:
            mlx.import_function(str(tmp_path / "mm"))(mlx.ones((4, 3)), mlx.full((3,), 2.0))
        assert str(e2.value).replace("mlx.core.", "") == msg.replace("ferrox.core.", "")


def test_exporter_several_traces_and_shapeless(tmp_path):
    path = str(tmp_path / "e")
    f = lambda a, b: (a * b + 1, mx.exp(a))
    with mx.exporter(path, f, shapeless=True) as ex:
        assert isinstance(ex, mx.FunctionExporter)
        ex(mx.ones((2, 3)), mx.full((3,), 2.0))
        ex(mx.ones((2,)), mx.ones((2,)))
    with pytest.raises(RuntimeError, match="closed"):
        ex(mx.ones((2,)), mx.ones((2,)))
    g = mx.import_function(path)
    out = g(mx.full((5, 3), 0.5), mx.full((3,), 2.0))
    np.testing.assert_allclose(np.array(out[0]), np.full((5, 3), 2.0))
    np.testing.assert_allclose(np.array(out[1]), np.exp(np.full((5, 3), 0.5, np.float32)), rtol=1e-6)
    out = g(mx.ones((1,)), mx.ones((1,)))
    np.testing.assert_allclose(np.array(out[0]), [2.0])


def test_captured_arrays_are_saved(tmp_path):
    path = str(tmp_path / "c")
    w = mx.array(rand(3))
    mx.export_function(path, lambda a: a * w, mx.ones((2, 3)))
    want = np.array(mx.ones((2, 3)) * w)
    w = mx.zeros((3,))  # the file keeps the traced weight
    np.testing.assert_allclose(np.array(mx.import_function(path)(mx.ones((2, 3)))[0]), want)


def test_eval_while_exporting_raises(tmp_path):
    def f(a):
        return a * a.sum().item()

    with pytest.raises(ValueError, match="Attempting to eval an array"):
        mx.export_function(str(tmp_path / "i"), f, mx.ones((3,)))
    with pytest.raises(ValueError, match="Attempting to eval an array"):
        mx.compile(f)(mx.ones((3,)))


def test_custom_function_and_grad_graphs_export(tmp_path):
    @mx.custom_function
    def f(x):
        return mx.sin(x)

    @f.vjp
    def f_vjp(primals, cot, out):
        return (cot * 2,)

    path = str(tmp_path / "g")
    df = mx.grad(lambda x: (mx.sin(x) * x).sum())
    mx.export_function(path, lambda x: (f(x) * 3, df(x)), mx.array(rand(4)))
    x = mx.array(rand(4))
    got = mx.import_function(path)(x)
    np.testing.assert_allclose(np.array(got[0]), np.array(mx.sin(x) * 3), rtol=1e-6)
    np.testing.assert_allclose(np.array(got[1]), np.array(df(x)), rtol=1e-6)


def test_callback_gets_mlx_records():
    records = []
    mx.export_function(records.append, lambda x, y: (x * y + 1, mx.exp(x)), mx.ones((2, 3)), mx.full((3,), 2.0))
    kinds = [r["type"] for r in records]
    assert kinds[:4] == ["inputs", "keyword_inputs", "outputs", "constants"]
    assert set(kinds[4:]) == {"primitive"}
    assert records[0]["inputs"] == [("A", (2, 3), mx.float32), ("B", (3,), mx.float32)]
    assert [o[0] for o in records[2]["outputs"]] == ["C", "D"]
    assert records[-1]["outputs"][0][0] in ("C", "D")
    for r in records[4:]:
        json.loads(r["arguments"])


def test_broken_files_raise(tmp_path):
    with pytest.raises(RuntimeError, match="Failed to open"):
        mx.import_function(str(tmp_path / "nope"))
    bad = tmp_path / "bad"
    bad.write_bytes(b"garbage123")
    with pytest.raises(ValueError, match="Invalid file"):
        mx.import_function(str(bad))


def test_export_to_dot():
    x, y = mx.array(1.0), mx.array(2.0)
    s = io.StringIO()
    mx.export_to_dot(s, x + y, x=x, y=y)
    text = s.getvalue()
    assert text.startswith("digraph {") and text.rstrip().endswith("}")
    assert '{ rank=source; "x"; }' in text and '{ rank=source; "y"; }' in text
    assert '[label ="Add", shape=rectangle]' in text
    assert "rank=sink" in text


def test_selection_and_search_primitives_round_trip(tmp_path):
    path = str(tmp_path / "s")
    edges = mx.array(np.sort(rand(50)))

    def f(x):
        return mx.partition(x, 3, axis=-1), mx.argpartition(x, 2, axis=0), mx.topk(x, 4, axis=-1), mx.searchsorted(edges, x)

    x = mx.array(rand(6, 9))
    mx.export_function(path, f, x)
    x2 = mx.array(rand(6, 9))
    for p, q in zip(mx.import_function(path)(x2), f(x2)):
        np.testing.assert_array_equal(np.array(p), np.array(q))
