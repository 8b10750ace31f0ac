"""Generates tests/fixtures/print_mlx.rs: MLX's repr of many arrays, with the exact element
bits, so that tests/print.rs checks ferrox's Display against MLX without Python.

Run: python3 gen_print_fixtures.py > ../fixtures/print_mlx.rs   (needs mlx and numpy)
"""
import struct
import mlx.core as mx
import numpy as np

rng = np.random.default_rng(1234)
cases = []  # (name, dtype, shape, bits, transpose, precision, expected)

NP = {"bool": np.bool_, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
      "uint64": np.uint64, "int8": np.int8, "int16": np.int16, "int32": np.int32,
      "int64": np.int64, "float16": np.float16, "float32": np.float32,
      "float64": np.float64, "complex64": np.complex64}


def bits_of(dtype, flat):
    """Raw bits of each element, as u64 (complex: real bits low, imaginary high)."""
    out = []
    for v in flat:
        if dtype == "bool":
            out.append(int(bool(v)))
        elif dtype.startswith("int"):
            out.append(int(v) & 0xFFFFFFFFFFFFFFFF)
        elif dtype.startswith("uint"):
            out.append(int(v))
        elif dtype == "float16":
            out.append(int(np.array(v, np.float16).view(np.uint16)))
        elif dtype == "bfloat16":
            out.append(int(np.array(v, np.float32).view(np.uint32)) >> 16)
        elif dtype == "float32":
            out.append(int(np.array(v, np.float32).view(np.uint32)))
        elif dtype == "float64":
            out.append(int(np.array(v, np.float64).view(np.uint64)))
        elif dtype == "complex64":
            re = int(np.array(np.real(v), np.float32).view(np.uint32))
            im = int(np.array(np.imag(v), np.float32).view(np.uint32))
            out.append(re | (im << 32))
    return out


def add(name, dtype, values, shape=None, transpose=False, precision=-1):
    if dtype == "bfloat16":
        # Round to bf16 by truncating float32 bits, so the value is exact in both.
        f = np.asarray(values, np.float32).reshape(-1)
        f = (f.view(np.uint32) & 0xFFFF0000).view(np.float32)
        arr = f
        m = mx.array(f).astype(mx.bfloat16)
    elif dtype == "float64":
        arr = np.asarray(values, np.float64).reshape(-1)
        m = mx.array(arr, dtype=mx.float64)
    else:
        arr = np.asarray(values, NP[dtype]).reshape(-1)
        m = mx.array(arr)
        assert str(m.dtype) == "mlx.core." + dtype, (m.dtype, dtype)
    if shape is None:
        shape = (arr.size,)
    m = m.reshape(shape)
    if transpose:
        m = mx.transpose(m)
    if precision >= 0:
        mx.set_printoptions(precision=precision)
    s = repr(m)
    assert s == str(m)
    if precision >= 0:
        mx.set_printoptions(precision=-1)
    cases.append((name, dtype, list(shape), bits_of(dtype, arr), transpose, precision, s))


def magnitudes(n, lo, hi, signed=True):
    e = rng.uniform(lo, hi, n)
    v = 10.0 ** e
    if signed:
        v *= rng.choice([-1.0, 1.0], n)
    return v


nan, inf = float("nan"), float("inf")
neg_nan = np.array([0xFFC00000], np.uint32).view(np.float32)[0]

# bool and integers
add("bool_scalar", "bool", [True], shape=())
add("bool_1d", "bool", [True, False, True])
add("bool_2d", "bool", [True, False, False, True, True, False], shape=(2, 3))
add("int8_extremes", "int8", [-128, 127, 0, -1])
add("uint8_extremes", "uint8", [0, 255, 7])
add("int16_random", "int16", rng.integers(-32768, 32767, 5))
add("uint16_random", "uint16", rng.integers(0, 65535, 5))
add("int32_random_2d", "int32", rng.integers(-2**31, 2**31 - 1, 12), shape=(3, 4))
add("uint32_large", "uint32", [0, 4294967295, 2147483648])
add("int64_extremes", "int64", [-2**63, 2**63 - 1, 0])
add("uint64_large", "uint64", [2**64 - 1, 2**63, 12345678901234567890])
add("int32_scalar", "int32", [-7], shape=())
add("int32_summarised", "int32", np.arange(2000), shape=(2000,))
add("int32_10x10", "int32", np.arange(100), shape=(10, 10))
add("int32_3d", "int32", np.arange(24), shape=(2, 3, 4))
add("int32_4d", "int32", np.arange(16), shape=(2, 2, 2, 2))
add("int64_3d_summarised", "int64", np.arange(8 * 8 * 8) - 100, shape=(8, 8, 8))
add("int32_7", "int32", np.arange(7))
add("int32_6", "int32", np.arange(6))
add("int16_3x8x2", "int16", np.arange(48), shape=(3, 8, 2))

# empty and unit shapes
add("empty_1d", "float32", [], shape=(0,))
add("empty_2x0", "float32", [], shape=(2, 0))
add("empty_0x3", "int32", [], shape=(0, 3))
add("empty_2x0x3", "float32", [], shape=(2, 0, 3))
add("unit_1", "float32", [1.5], shape=(1,))
add("unit_1x1x1", "int32", [4], shape=(1, 1, 1))

# float32 of many magnitudes
for lo, hi in [(-9, -6), (-5, -3), (-3, 0), (0, 3), (3, 5), (5, 7), (7, 12), (12, 38)]:
    add(f"float32_mag_{lo}_{hi}", "float32", magnitudes(6, lo, hi), shape=(2, 3))
add("float32_mixed_mag", "float32", magnitudes(12, -8, 8), shape=(3, 4))
add("float32_specials", "float32", [nan, neg_nan, inf, -inf, -0.0, 0.0, 1.0, -1.0], shape=(2, 4))
add("float32_round_edges", "float32",
    [999999.5, 9999995.0, 0.0001, 0.00001, 123456.5, 99999.95, 0.000099999, 1e-4, 1e16, 2**24 + 1,
     1234565.0, 0.5], shape=(2, 6))
add("float32_integers", "float32", [1.0, 2.0, 100.0, 1e5, 1e6, -3.0])
add("float32_scalar", "float32", [3.25], shape=())
add("float32_neg_scalar", "float32", [-0.0], shape=())
add("float32_big_2d", "float32", rng.standard_normal(40 * 50), shape=(40, 50))
add("float32_transposed", "float32", rng.standard_normal(12), shape=(3, 4), transpose=True)
add("float32_transposed_summarised", "float32", rng.standard_normal(56), shape=(8, 7), transpose=True)
add("float32_subnormal", "float32", [1e-40, -1e-45, 1.17549435e-38, 3.4028235e38])

# half precision
add("float16_random", "float16", rng.standard_normal(8) * 100, shape=(2, 4))
add("float16_specials", "float16", [65504.0, -65504.0, 6e-8, 1e-5, nan, inf, -0.0, 0.1], shape=(4, 2))
add("bfloat16_random", "bfloat16", magnitudes(6, -3, 6))
add("bfloat16_specials", "bfloat16", [3e38, 1e-30, inf, -inf, nan, -0.0])
add("bfloat16_scalar", "bfloat16", [1.1], shape=())

# float64
add("float64_random", "float64", magnitudes(8, -12, 12), shape=(2, 4))
add("float64_extremes", "float64", [1e300, -1e-300, 5e-324, 1.0 / 3.0, 2.0 / 3.0, nan, -inf, 0.1], shape=(2, 4))
add("float64_scalar", "float64", [np.pi], shape=())

# complex64
add("complex_basic", "complex64", [1 + 2j, 1 - 2j, -1.5 + 0j, complex(1, -0.0), complex(0, 1)])
add("complex_random", "complex64",
    (rng.standard_normal(6) * 100 + 1j * rng.standard_normal(6) / 100).astype(np.complex64), shape=(3, 2))
add("complex_specials", "complex64", [complex(nan, nan), complex(inf, -inf), complex(-0.0, 0.0)])
add("complex_scalar", "complex64", [complex(2.5, -1e-7)], shape=())

# precision
add("precision_3_float32", "float32", [1.0, 2.5, 1e10, nan, -inf, -0.0, 1 / 3, 1e-5], shape=(2, 4), precision=3)
add("precision_0_float32", "float32", [1.0, 2.5, 3.5, -0.4, 0.5, 1e7], precision=0)
add("precision_8_float32", "float32", magnitudes(4, -3, 3), precision=8)
add("precision_2_float16", "float16", [1.5, 0.125, 0.375, 65504], precision=2)
add("precision_2_bfloat16", "bfloat16", [1.5, 0.125, 3e10], precision=2)
add("precision_4_float64", "float64", [np.pi, -np.e, 1e-10], precision=4)
add("precision_3_complex", "complex64", [1 + 2j, 1 - 2j, complex(0.5, -0.0)], precision=3)
add("precision_3_int", "int32", [1, 2, 3], precision=3)
add("precision_1_2d_summarised", "float32", rng.standard_normal(9 * 9), shape=(9, 9), precision=1)

print("// Generated by tests/oracle/gen_print_fixtures.py from MLX", mx.__version__, "- do not edit.")
print("// Each case: dtype, shape, raw element bits, transpose?, precision, MLX's repr.")
print()
print("pub struct Case {")
print("    pub name: &'static str,")
print("    pub dtype: &'static str,")
print("    pub shape: &'static [usize],")
print("    pub bits: &'static [u64],")
print("    pub transpose: bool,")
print("    pub precision: i32,")
print("    pub expected: &'static str,")
print("}")
print()
print("pub const CASES: &[Case] = &[")
for name, dtype, shape, bits, transpose, precision, s in cases:
    assert '"#' not in s
    print("    Case {")
    print(f'        name: "{name}",')
    print(f'        dtype: "{dtype}",')
    print(f"        shape: &{shape},")
    print("        bits: &[" + ", ".join(f"{b:#x}" for b in bits) + "],")
    print(f"        transpose: {'true' if transpose else 'false'},")
    print(f"        precision: {precision},")
    print(f'        expected: r#"{s}"#,')
    print("    },")
print("];")
