"""Low-precision formats: to_fp8 / from_fp8 (E4M3) against an explicit table, NumPy
rounding and MLX, bit for bit."""

import numpy as np
import pytest

import ferrox.core as mx

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None


def e4m3_table():
    """The value of each code: sign, 4 exponent bits (bias 7), 3 mantissa bits."""
    out = []
    for c in range(256):
        e, m = (c >> 3) & 15, c & 7
        v = np.nan if (e, m) == (15, 7) else (m / 512 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7))
        out.append(-v if c & 128 else v)
    return np.array(out)


def nearest_code(v, table):
    """Round to the nearest finite value, ties to the even code; saturate at 448."""
    if np.isnan(v) or abs(v) >= 448:
        return 126 + (128 if (v < 0 and not np.isnan(v)) else 0)
    pos = table[:127]
    d = np.abs(pos - abs(v))
    best = np.flatnonzero(d == d.min())
    code = int(best[0] if len(best) == 1 else [b for b in best if b % 2 == 0][0])
    return code + (128 if np.signbit(v) else 0)


def test_from_fp8_decodes_every_code():
    codes = mx.arange(256).astype(mx.uint8)
    got = np.array(mx.from_fp8(codes, dtype=mx.float32))
    np.testing.assert_array_equal(got, e4m3_table().astype(np.float32))
    assert mx.from_fp8(codes).dtype == mx.bfloat16
    assert mx.from_fp8(codes, mx.float16).dtype == mx.float16


def test_to_fp8_rounds_to_nearest_even_and_saturates(rng):
    table = e4m3_table()
    pos = table[:127]
    mids = (pos[1:] + pos[:-1]) / 2  # every tie
    v = np.concatenate([pos, -pos, mids, -mids, np.nextafter(mids, 0), np.nextafter(mids, 1e9),
                        rng.uniform(-500, 500, 2000), rng.uniform(-0.02, 0.02, 2000),
                        [448, 449, 464, 480, 1e30, np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-30]])
    v = v.astype(np.float32)
    got = np.array(mx.to_fp8(mx.array(v)))
    assert got.dtype == np.uint8
    want = np.array([nearest_code(x, table) for x in v.astype(np.float64)])
    bad = np.flatnonzero(got != want)
    assert not len(bad), [(v[i], got[i], want[i]) for i in bad[:5]]
    # Round trip: every finite value comes back exactly.
    back = np.array(mx.from_fp8(mx.to_fp8(mx.array(pos.astype(np.float32))), mx.float32))
    np.testing.assert_array_equal(back, pos.astype(np.float32))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_fp8_matches_mlx_bit_for_bit(dtype, rng):
    if mlx is None:
        pytest.skip("mlx is not installed")
    v = np.concatenate([rng.uniform(-600, 600, 500), rng.uniform(-0.05, 0.05, 500),
                        [np.nan, np.inf, -np.inf, 0.0, -0.0]]).astype(np.float32)
    ours = mx.to_fp8(mx.array(v).astype(getattr(mx, dtype)))
    theirs = mlx.to_fp8(mlx.array(v).astype(getattr(mlx, dtype)))
    np.testing.assert_array_equal(np.array(ours), np.array(theirs))
    codes = np.arange(256).astype(np.uint8)
    np.testing.assert_array_equal(
        np.array(mx.from_fp8(mx.array(codes), mx.float32)),
        np.array(mlx.from_fp8(mlx.array(codes), mlx.float32)))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_fp8_every_bit_pattern_like_mlx(dtype):
    """to_fp8 of NaNs of either sign and any payload, infinities, huge, tiny and
    subnormal values, bit for bit as MLX (which keeps a NaN's sign: -NaN is 254): every
    16-bit pattern, and float32 edges plus random bit patterns."""
    if mlx is None:
        pytest.skip("mlx is not installed")
    if dtype == "float32":
        rng = np.random.default_rng(7)
        edges = [0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF, 0xFFFFFFFF,
                 0x7F800000, 0xFF800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x00000001, 0x80000001,
                 0x007FFFFF, 0x807FFFFF, 0x00800000, 0x80800000, 0, 0x80000000]
        bits = np.concatenate([np.array(edges, np.uint32),
                               rng.integers(0, 2**32, 200_000, dtype=np.uint32)])
        ours = mx.to_fp8(mx.array(bits).view(mx.float32))
        theirs = mlx.to_fp8(mlx.array(bits).view(mlx.float32))
    else:
        bits = np.arange(2**16, dtype=np.uint16)
        ours = mx.to_fp8(mx.array(bits).view(getattr(mx, dtype)))
        theirs = mlx.to_fp8(mlx.array(bits).view(getattr(mlx, dtype)))
    ours, theirs = np.array(ours), np.array(theirs)
    bad = np.flatnonzero(ours != theirs)
    assert not len(bad), [(hex(int(bits[i])), ours[i], theirs[i]) for i in bad[:5]]
    assert np.array(mx.to_fp8(mx.array([-np.nan], mx.float32))).tolist() == [254]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_from_fp8_nan_bits_like_mlx(dtype):
    if mlx is None:
        pytest.skip("mlx is not installed")
    uint = "uint32" if dtype == "float32" else "uint16"
    codes = np.arange(256).astype(np.uint8)
    ours = mx.from_fp8(mx.array(codes), getattr(mx, dtype)).view(getattr(mx, uint))
    theirs = mlx.from_fp8(mlx.array(codes), getattr(mlx, dtype)).view(getattr(mlx, uint))
    np.testing.assert_array_equal(np.array(ours), np.array(theirs))


def test_fp8_bad_dtypes_raise_value_error():
    with pytest.raises(ValueError, match="real floating"):
        mx.to_fp8(mx.array([1, 2]))
    with pytest.raises(ValueError, match="uint8"):
        mx.from_fp8(mx.array([1.0]))
