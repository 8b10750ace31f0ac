"""The demo's promise: a model trained in Python runs in a Rust binary from the same
checkpoint, with the same results bit for bit.

A tiny examples/char_transformer.py model trains a few steps and is saved; the Rust
binary crates/ferrox-nn/examples/generate.rs loads it and writes the logits at the
prompt's last position and a continuation (greedy, and sampled at a temperature with a
seed), which must equal Python's exactly.
scripts/test.sh builds the binary first (`cargo build -p ferrox-nn --example generate`);
without it the test builds it, or skips when cargo is not installed.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))

import char_transformer as ct  # noqa: E402

EXE = "generate.exe" if os.name == "nt" else "generate"


def _binary():
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    path = target / "debug" / "examples" / EXE
    if path.exists():
        return path
    if shutil.which("cargo") is None:
        pytest.skip(f"cargo is not installed and {path} is not built")
    subprocess.run(["cargo", "build", "--quiet", "-p", "ferrox-nn", "--example", "generate"],
                   cwd=ROOT, check=True)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small model trained 20 steps (so its weights are not the initial ones) (~1 s)."""
    out = tmp_path_factory.mktemp("char_model")
    ct.main(out_dir=out, steps=20, batch_size=8, context=16, dims=32, num_heads=2,
            num_layers=2, sample_chars=0, progress=False)
    return out


def _run(binary, out, prompt, n_chars, logits_path, *extra):
    return subprocess.run([str(binary), str(out), prompt, str(n_chars), "--logits", str(logits_path),
                           *extra], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("prompt", [
    "HAMLET.\nTo be",
    # Longer than the 16-character context: both sides keep the last 16.
    "Ham.\nO, that this too too solid flesh would melt,",
])
def test_rust_matches_python_bit_for_bit(trained, tmp_path, prompt):
    binary = _binary()
    model, config = ct.load_model(trained)
    n_chars = 40

    result = _run(binary, trained, prompt, n_chars, tmp_path / "logits.npy")
    assert result.returncode == 0, result.stderr

    rust_logits = np.load(tmp_path / "logits.npy")
    py_logits = np.array(ct.last_logits(model, config, prompt))
    assert rust_logits.dtype == np.float32 and rust_logits.shape == (len(config["vocab"]),)
    assert np.array_equal(rust_logits, py_logits)

    # The binary prints the prompt and its continuation, then one newline.
    assert result.stdout[:-1] == ct.generate(model, config, prompt, n_chars)


@pytest.mark.parametrize("temperature, seed", [(0.8, 0), (1.3, 7)])
def test_rust_samples_the_same_text_as_python(trained, tmp_path, temperature, seed):
    binary = _binary()
    model, config = ct.load_model(trained)
    prompt, n_chars = "HAMLET.\n", 60
    result = _run(binary, trained, prompt, n_chars, tmp_path / "logits.npy",
                  "--temperature", str(temperature), "--seed", str(seed))
    assert result.returncode == 0, result.stderr
    sampled = ct.generate(model, config, prompt, n_chars, temperature, seed)
    assert result.stdout[:-1] == sampled
    # Sampling is not argmax: at these temperatures the small model's draws differ from it.
    assert sampled != ct.generate(model, config, prompt, n_chars)


def test_rust_reports_bad_input_without_panicking(trained, tmp_path):
    binary = _binary()
    result = _run(binary, trained, "caf\u00e9", 5, tmp_path / "l.npy")
    assert result.returncode == 1
    assert "not in the model's vocabulary" in result.stderr and "panicked" not in result.stderr

    (tmp_path / "config.json").write_text('{"vocab": "ab", "dims": 8}')
    result = _run(binary, tmp_path, "a", 5, tmp_path / "l.npy")
    assert result.returncode == 1
    assert "config.json" in result.stderr and "num_heads" in result.stderr

    result = _run(binary, trained, "a", 5, tmp_path / "l.npy", "--temperature", "-1")
    assert result.returncode == 1 and "--temperature must be a number >= 0" in result.stderr
