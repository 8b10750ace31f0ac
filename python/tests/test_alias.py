"""The opt-in MLX alias: unmodified MLX programs run on ferrox, beside other mlx.* packages."""

import subprocess
import sys
import textwrap

import pytest


def run(args, cwd, env_path=None):
    import os

    env = dict(os.environ)
    if env_path:
        env["PYTHONPATH"] = os.pathsep.join([str(env_path), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


PROGRAM = textwrap.dedent(
    """
    import sys
    import mlx.core as mx
    from mlx.core import metal
    print(mx.__name__, metal.is_available())
    a = mx.array([[1, 2, 3], [4, 5, 6]])
    print(a * 2 + 1)
    print(mx.sum(a, axis=0).tolist(), a.dtype)
    print(sys.argv[1:])
    """
)


def test_run_script_uses_ferrox_and_passes_arguments(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    got = run(["-m", "ferrox.run", str(script), "x", "--y"], cwd=tmp_path)
    lines = got.splitlines()
    assert lines[0] == "ferrox.core False"
    assert lines[-1] == "['x', '--y']"
    # The same text MLX itself prints (the first line names the module, so skip it).
    pytest.importorskip("mlx.core")
    want = run([str(script), "x", "--y"], cwd=tmp_path)
    assert want.splitlines()[1:] == lines[1:]
    assert want.splitlines()[0] == "mlx.core False"


def test_run_module_form(tmp_path):
    (tmp_path / "progmod.py").write_text(PROGRAM)
    got = run(["-m", "ferrox.run", "-m", "progmod", "z"], cwd=tmp_path, env_path=tmp_path)
    assert got.splitlines()[0] == "ferrox.core False"
    assert got.splitlines()[-1] == "['z']"


def test_alias_coexists_with_other_mlx_packages(tmp_path):
    # A distribution that extends the mlx namespace (as mlx-data does) and a package that
    # imports mlx.core (as mlx-lm does).
    (tmp_path / "site" / "mlx" / "data").mkdir(parents=True)
    (tmp_path / "site" / "mlx" / "data" / "__init__.py").write_text("VALUE = 42\n")
    (tmp_path / "site" / "fake_lm").mkdir()
    (tmp_path / "site" / "fake_lm" / "__init__.py").write_text(
        "import mlx.core as mx\nCORE = mx\n"
    )
    script = tmp_path / "prog.py"
    script.write_text(
        textwrap.dedent(
            """
            import ferrox.alias
            ferrox.alias.install()
            import mlx.data, fake_lm, mlx.core
            import ferrox.core
            print(mlx.data.VALUE, fake_lm.CORE is ferrox.core, mlx.core is ferrox.core)
            ferrox.alias.uninstall()
            import importlib
            try:
                real = importlib.import_module("mlx.core")
                print(real is ferrox.core)
            except ImportError:
                print(False)
            """
        )
    )
    got = run([str(script)], cwd=tmp_path, env_path=tmp_path / "site")
    assert got.split() == ["42", "True", "True", "False"]


def test_install_after_real_mlx_is_an_error(tmp_path):
    pytest.importorskip("mlx.core")
    script = tmp_path / "prog.py"
    script.write_text(
        textwrap.dedent(
            """
            import mlx.core
            import ferrox.alias
            try:
                ferrox.alias.install()
            except RuntimeError as e:
                print("RuntimeError", "before ferrox.alias.install()" in str(e))
            """
        )
    )
    assert run([str(script)], cwd=tmp_path).split() == ["RuntimeError", "True"]


def test_usage_without_arguments(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "ferrox.run"], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 2 and "usage" in out.stderr
