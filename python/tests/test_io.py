"""load / save / savez / savez_compressed / save_safetensors / save_gguf: round trips
for every dtype, interchange with NumPy, the `safetensors` package and MLX (files
written by one load in the other, bit for bit), GGUF's quantized blocks as MLX maps
them, MLX's errors, and broken files as errors."""

import io
import json
import pathlib
import struct

import numpy as np
import pytest

import ferrox.core as mx

DTYPES = [
    "bool_", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
    "float16", "bfloat16", "float32", "float64", "complex64",
]
SHAPES = [(), (7,), (3, 5), (2, 0, 3), (2, 3, 4, 5)]


def random_array(shape, dtype, rng):
    """Random bits of `dtype` (NaN payloads and subnormals included), as a ferrox array."""
    size = int(np.prod(shape)) * getattr(mx, dtype).size
    raw = rng.integers(0, 256, size, dtype=np.uint8)
    if dtype == "bool_":
        raw &= 1
    return mx.array(raw).view(getattr(mx, dtype)).reshape(shape) if size else mx.zeros(shape, getattr(mx, dtype))


def bits(a):
    """The bytes of an array, for bit-for-bit comparison (bfloat16 included)."""
    if a.dtype == mx.bfloat16:  # NumPy has no bfloat16: compare its 16-bit patterns
        a = a.view(mx.uint16)
    return np.array(a).tobytes()


def assert_identical(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    assert bits(a) == bits(b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_npy_and_safetensors_round_trip(tmp_path, rng, dtype):
    arrays = {f"a{i}": random_array(s, dtype, rng) for i, s in enumerate(SHAPES)}
    mx.save_safetensors(str(tmp_path / "w"), arrays, {"k": "v"})
    loaded, meta = mx.load(str(tmp_path / "w.safetensors"), return_metadata=True)
    assert meta == {"k": "v"}
    assert sorted(loaded) == sorted(arrays)
    for k in arrays:
        assert_identical(loaded[k], arrays[k])
    for i, a in enumerate(arrays.values()):
        mx.save(tmp_path / f"x{i}", a)  # pathlib.Path, extension appended
        assert_identical(mx.load(tmp_path / f"x{i}.npy"), a)


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_round_trip_and_names(tmp_path, rng, compressed):
    a, b = random_array((4, 5), "float32", rng), random_array((3,), "int64", rng)
    save = mx.savez_compressed if compressed else mx.savez
    save(str(tmp_path / "z"), a, b=b)
    d = mx.load(str(tmp_path / "z.npz"))
    assert sorted(d) == ["arr_0", "b"]
    assert_identical(d["arr_0"], a)
    assert_identical(d["b"], b)
    with pytest.raises(ValueError, match="arr_0"):
        save(str(tmp_path / "z2"), a, arr_0=b)


def test_numpy_reads_ours_and_we_read_numpy(tmp_path, rng):
    for dtype in DTYPES:
        if dtype == "bfloat16":
            continue  # NumPy has no bfloat16
        a = random_array((3, 4), dtype, rng)
        mx.save(str(tmp_path / "a.npy"), a)
        n = np.load(tmp_path / "a.npy")
        assert n.dtype == np.dtype(dtype.rstrip("_")) and n.shape == (3, 4)
        assert n.tobytes() == bits(a)
        np.save(tmp_path / "b.npy", n)
        assert_identical(mx.load(str(tmp_path / "b.npy")), a)
    # Fortran order and big-endian files NumPy writes.
    f = np.asfortranarray(rng.standard_normal((3, 4)))
    np.save(tmp_path / "f.npy", f)
    np.testing.assert_array_equal(np.array(mx.load(str(tmp_path / "f.npy"))), f)
    be = np.arange(12, dtype=">i4").reshape(3, 4)
    np.save(tmp_path / "be.npy", be)
    np.testing.assert_array_equal(np.array(mx.load(str(tmp_path / "be.npy"))), be)
    # npz both ways.
    np.savez(tmp_path / "n.npz", x=f, y=be)
    d = mx.load(str(tmp_path / "n.npz"))
    np.testing.assert_array_equal(np.array(d["x"]), f)
    mx.savez_compressed(str(tmp_path / "m.npz"), x=mx.array(f))  # float32, as mx.array makes it
    np.testing.assert_array_equal(np.load(tmp_path / "m.npz")["x"], f.astype(np.float32))


def test_safetensors_package_interchange(tmp_path, rng):
    st = pytest.importorskip("safetensors.numpy")
    arrays = {d: random_array((3, 5), d, rng) for d in DTYPES if d != "bfloat16"}
    mx.save_safetensors(str(tmp_path / "ours.safetensors"), arrays, {"who": "ferrox"})
    theirs = st.load_file(str(tmp_path / "ours.safetensors"))
    for k, a in arrays.items():
        assert theirs[k].tobytes() == bits(a), k
    st.save_file({k: np.array(v) for k, v in arrays.items()}, str(tmp_path / "theirs.safetensors"), {"who": "st"})
    loaded, meta = mx.load(str(tmp_path / "theirs.safetensors"), return_metadata=True)
    assert meta == {"who": "st"}
    for k, a in arrays.items():
        assert_identical(loaded[k], a)


def test_mlx_reads_ours_and_we_read_mlx(tmp_path, rng, oracle):
    arrays = {d: random_array((2, 3), d, rng) for d in DTYPES if d not in ("float64",)}
    mx.save_safetensors(str(tmp_path / "f.safetensors"), arrays)
    theirs = oracle.load(str(tmp_path / "f.safetensors"))
    for k, a in arrays.items():
        t = theirs[k].view(oracle.uint16) if k == "bfloat16" else theirs[k]
        assert np.array(t).tobytes() == bits(a), k
    oracle.save_safetensors(str(tmp_path / "m.safetensors"), theirs, {"a": "b"})
    ours, meta = mx.load(str(tmp_path / "m.safetensors"), return_metadata=True)
    assert meta == {"a": "b"}
    for k, a in arrays.items():
        assert_identical(ours[k], a)
    # GGUF both ways, with metadata of each kind MLX returns.
    g = {"w": random_array((4, 6), "float32", rng), "h": random_array((5,), "float16", rng)}
    meta = {"s": "str", "l": ["a", "b"], "n": mx.array(3), "v": mx.array([1.5, 2.5])}
    mx.save_gguf(str(tmp_path / "g"), g, meta)
    tg, tm = oracle.load(str(tmp_path / "g.gguf"), return_metadata=True)
    assert tm["s"] == "str" and tm["l"] == ["a", "b"] and tm["n"].item() == 3 and tm["v"].tolist() == [1.5, 2.5]
    for k, a in g.items():
        assert np.array(tg[k]).tobytes() == bits(a)
    oracle.save_gguf(str(tmp_path / "mg.gguf"), tg, {"s": "x", "n": oracle.array([1, 2], dtype=oracle.int8)})
    og, om = mx.load(str(tmp_path / "mg.gguf"), return_metadata=True)
    assert om["s"] == "x" and om["n"].dtype == mx.int8 and om["n"].tolist() == [1, 2]
    for k, a in g.items():
        assert_identical(og[k], a)
    # npy / npz.
    oracle.savez(str(tmp_path / "mz"), a=oracle.arange(5), b=oracle.ones((2, 2), dtype=oracle.bfloat16))
    z = mx.load(str(tmp_path / "mz.npz"))
    assert z["a"].tolist() == list(range(5)) and z["b"].dtype == mx.bfloat16


def gguf_file(tensors, kvs=()):
    """A GGUF v3 file from (name, dims in GGUF order, ggml type, raw bytes) tensors and
    (key, type, raw value bytes) metadata."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
    for k, t, v in kvs:
        out += struct.pack("<Q", len(k)) + k + struct.pack("<I", t) + v
    offset = 0
    for name, dims, t, data in tensors:
        out += struct.pack("<Q", len(name)) + name.encode() + struct.pack("<I", len(dims))
        out += struct.pack(f"<{len(dims)}Q", *dims) + struct.pack("<IQ", t, offset)
        offset = (offset + len(data) + 31) // 32 * 32
    out += bytes(-len(out) % 32)
    for *_, data in tensors:
        out += data + bytes(-len(data) % 32)
    return bytes(out)


def q_blocks(t, n_blocks, rng):
    """Random Q4_0 (2), Q4_1 (3) or Q8_0 (8) blocks with finite float16 scales."""
    out = bytearray()
    for _ in range(n_blocks):
        out += np.float16(rng.uniform(-2, 2)).tobytes()
        if t == 3:
            out += np.float16(rng.uniform(-2, 2)).tobytes()
        out += rng.integers(0, 256, 32 if t == 8 else 16, dtype=np.uint8).tobytes()
    return bytes(out)


@pytest.mark.parametrize("t", [2, 3, 8])
def test_gguf_quantized_like_mlx(tmp_path, rng, oracle, t):
    rows, cols = 6, 128
    data = q_blocks(t, rows * cols // 32, rng)
    p = tmp_path / "q.gguf"
    p.write_bytes(gguf_file([("blk.0.attn_q.weight", [cols, rows], t, data), ("x", [cols, 2, 3], t, q_blocks(t, 6 * cols // 32, rng))]))
    ours, theirs = mx.load(str(p)), oracle.load(str(p))
    for k in ["blk.0.attn_q.weight", "blk.0.attn_q.scales", "blk.0.attn_q.biases", "x"]:
        assert ours[k].shape == tuple(theirs[k].shape), k
        assert np.array(ours[k]).tobytes() == np.array(theirs[k]).tobytes(), k
    w, s, b = (ours[f"blk.0.attn_q.{n}"] for n in ("weight", "scales", "biases"))
    bits_ = 8 if t == 8 else 4
    x = mx.random.normal((3, cols))
    got = mx.quantized_matmul(x, w, s, b, transpose=True, group_size=32, bits=bits_)
    want = x @ mx.dequantize(w, s, b, group_size=32, bits=bits_).T
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-4, atol=1e-3 * float(mx.abs(want).max()))
    # A quantized tensor whose name lacks ".weight" keeps its whole name (MLX cuts 7
    # characters off any name).
    assert "x.scales" in ours and "x.biases" in ours


def test_file_objects_and_mlx_errors(tmp_path, rng):
    a = random_array((3, 4), "float32", rng)
    buf = io.BytesIO()
    mx.save_safetensors(buf, {"a": a})
    buf.seek(0)
    assert_identical(mx.load(buf, format="safetensors")["a"], a)
    buf = io.BytesIO()
    mx.save(buf, a)
    buf.seek(0)
    assert_identical(mx.load(buf, format="npy"), a)
    buf.seek(0)
    with pytest.raises(ValueError):
        mx.load(buf)  # a stream without a name: format= is needed
    with open(tmp_path / "f.npy", "wb") as f:
        mx.save(f, a)
    with open(tmp_path / "f.npy", "rb") as f:
        assert_identical(mx.load(f), a)  # format from the file's name
    with pytest.raises(ValueError, match="metadata not supported for format npy"):
        mx.load(str(tmp_path / "f.npy"), return_metadata=True)
    with pytest.raises(ValueError, match="Unknown file format bad"):
        mx.load(str(tmp_path / "f.npy"), format="bad")
    with pytest.raises(ValueError, match="Could not infer file format from extension"):
        mx.load(str(tmp_path / "noext"))
    with pytest.raises(RuntimeError, match="Failed to open file"):
        mx.load(str(tmp_path / "missing.npy"))
    with pytest.raises(ValueError, match="Metadata must be a dictionary"):
        mx.save_safetensors(str(tmp_path / "m"), {"a": a}, {"k": 1})
    with pytest.raises(TypeError):
        mx.save_safetensors(str(tmp_path / "m"), {"a": 1})
    with pytest.raises(RuntimeError, match="dtype bool is not supported"):
        mx.save_gguf(str(tmp_path / "g"), {"a": a > 0}, {})
    mx.save(str(tmp_path / "x.txt"), a)
    assert (tmp_path / "x.txt.npy").exists()


def test_loading_is_lazy(tmp_path, rng):
    big = {f"t{i}": random_array((256, 1024), "float32", rng) for i in range(8)}
    mx.save_safetensors(str(tmp_path / "big.safetensors"), big)
    loaded = mx.load(str(tmp_path / "big.safetensors"))
    before = mx.get_active_memory()
    assert_identical(loaded["t3"], big["t3"])  # evaluates one tensor, read in place
    assert mx.get_active_memory() - before < 1 << 20


BROKEN = {
    "safetensors": [
        b"",
        struct.pack("<Q", 1 << 40) + b"{}",
        struct.pack("<Q", 2) + b"{}" + b"extra",
        (lambda h: struct.pack("<Q", len(h)) + h + bytes(4))(json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()),
        (lambda h: struct.pack("<Q", len(h)) + h + bytes(8))(json.dumps({"a": {"dtype": "XX", "shape": [2], "data_offsets": [0, 8]}}).encode()),
        (lambda h: struct.pack("<Q", len(h)) + h + bytes(8))(json.dumps({"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 8]}}).encode()),
    ],
    "npy": [b"\x93NUMPY\x01\x00\xff\xff{", b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'}"],
    "gguf": [b"GGUF", b"GGUF\x03\x00\x00\x00" + struct.pack("<QQ", 2**63, 0), gguf_file([("a", [4], 0, b"\0" * 8)])[:-40]],
    "npz": [b"PK\x03\x04" + bytes(26), b"PK\x05\x06" + bytes(16) + b"\xff\xff"],
}


@pytest.mark.parametrize("ext,i", [(e, i) for e, cases in BROKEN.items() for i in range(len(cases))])
def test_broken_files_raise(tmp_path, ext, i):
    p = tmp_path / f"bad.{ext}"
    p.write_bytes(BROKEN[ext][i])
    with pytest.raises((RuntimeError, ValueError)):
        r = mx.load(str(p))
        mx.eval(list(r.values()) if isinstance(r, dict) else r)
