"""Type stubs are current, and every function's parameters match the API ferrox conforms to."""

import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import ferrox.core as mx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
gen_stubs = pytest.importorskip("gen_stubs")

if not gen_stubs.API_MD.exists():  # pragma: no cover - the spec lives beside the repo
    pytest.skip("../shared/API.md is not available", allow_module_level=True)

#: Where ferrox's signature knowingly differs from the spec's, and why.
KNOWN_DIFFERENCES = {
    # One function serves both spec overloads, arange(stop) and arange(start, stop, step).
    "arange",
}


def test_stubs_are_up_to_date():
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_stubs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def _functions():
    spec = gen_stubs.parse_api()
    modules = {"": mx}
    modules.update(
        {n: getattr(mx, n) for n in dir(mx) if isinstance(getattr(mx, n), types.ModuleType)}
    )
    for mod_name, module in modules.items():
        for name, (params, _) in spec.get(mod_name, {}).items():
            obj = getattr(module, name, None)
            if gen_stubs.is_function(obj):
                yield f"{mod_name + '.' if mod_name else ''}{name}", obj, params


POSITIONAL = {"POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD"}
KEYWORD = {"POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY"}


def reference_parameters(obj_name, params):
    """The parameters MLX really has (its docstring's signature) where MLX is installed,
    else the spec's: API.md abbreviates some, e.g. `(a: array)` for `(a: array, /)`."""
    try:
        import mlx.core as mlx

        obj = mlx
        for part in obj_name.split("."):
            obj = getattr(obj, part)
        first = (obj.__doc__ or "").split("\n")[0]
        sig = first[first.index("(") + 1 : first.rindex(")")]
        got = gen_stubs.spec_parameters(sig)
        if got is not None:
            return [p for p in got if p[0] != "stream"]
    except Exception:
        pass
    return gen_stubs.spec_parameters(params)


def incompatibilities(name, got, want):
    """Ways a call valid in MLX would fail on ferrox: each parameter must be there, in
    order, and accept at least the ways of passing it that MLX accepts."""
    if "stream" not in [n for n, _ in want]:
        got = [p for p in got if p[0] != "stream"]
    if len(got) != len(want):
        return [f"{name}: ferrox {got} != MLX {want}"]
    out = []
    for (gn, gk), (wn, wk) in zip(got, want):
        var = {"VAR_POSITIONAL", "VAR_KEYWORD"}
        if gk in var or wk in var:
            if gk != wk:
                out.append(f"{name}: {gn} is {gk}, MLX's {wn} is {wk}")
            continue
        if gn != wn:
            out.append(f"{name}: parameter {gn!r} is {wn!r} in MLX")
        elif (wk in POSITIONAL and gk not in POSITIONAL) or (wk in KEYWORD and gk not in KEYWORD):
            out.append(f"{name}: {gn} is {gk}, MLX's is {wk}")
    return out


def test_parameters_match_mlx():
    checked, wrong = 0, []
    for name, obj, params in _functions():
        want = reference_parameters(name, params)
        got = gen_stubs.runtime_parameters(obj)
        if want is None or got is None or name in KNOWN_DIFFERENCES:
            continue
        checked += 1
        wrong += incompatibilities(name, got, want)
    assert checked > 150
    assert not wrong, "\n".join(wrong)


def test_array_methods_match_the_spec():
    methods, props = gen_stubs.array_methods()
    wrong = []
    for name, (params, _) in methods.items():
        obj = getattr(mx.array, name, None)
        if obj is None:
            continue
        want = gen_stubs.spec_parameters(params)
        got = gen_stubs.runtime_parameters(obj, drop_self=True) or []
        got = [p for p in got if p[0] != "stream"]
        # The spec lists method parameters without `/` markers: compare names in order.
        if [n for n, _ in got] != [n for n, _ in want]:
            wrong.append(f"array.{name}: ferrox {got} != spec {want}")
    assert not wrong, "\n".join(wrong)


def test_a_type_checker_accepts_typical_code(tmp_path):
    mypy = pytest.importorskip("mypy.api")
    program = tmp_path / "prog.py"
    program.write_text(
        textwrap.dedent(
            """
            import ferrox.core as mx
            a = mx.array([1.0, 2.0])
            b: mx.array = mx.sum(a * 2 + 1, axis=0, keepdims=True)
            c = mx.zeros((2, 3), dtype=mx.float16)
            d = a.reshape(2, 1).T
            e = mx.add(a, 1.5, stream=mx.cpu)
            n: int = c.ndim
            s: tuple[int, ...] = d.shape
            with mx.stream(mx.cpu):
                mx.eval(b, e)
            g = mx.grad(lambda x: mx.sum(x * x), argnums=0)(a)
            (v, aux), gs = mx.value_and_grad(lambda x, y: (mx.sum(x * y), y), argnums=[0, 1])(a, a)
            ys = mx.vmap(lambda x: x * 2, in_axes=(0,), out_axes=0)(a)

            @mx.custom_function
            def f(x: mx.array) -> mx.array:
                return x * 2

            @f.vjp
            def f_vjp(primals, cotangent, output):
                return cotangent

            outs, vjps = mx.vjp(f, [a], [a])
            """
        )
    )
    bad = tmp_path / "bad.py"
    bad.write_text("import ferrox.core as mx\nn: str = mx.zeros(3).ndim\nmx.sum(1, 2, 3, 4, 5)\n")
    out, err, rc = mypy.run([str(program), "--no-incremental"])
    assert rc == 0, out + err
    out, err, rc = mypy.run([str(bad), "--no-incremental"])
    assert rc == 1 and "Incompatible types" in out and "Too many" in out, out
