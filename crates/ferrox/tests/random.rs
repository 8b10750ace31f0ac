//! `ferrox::random` against MLX 0.32 (the `mlx[cpu]` wheel): the constants below are MLX's
//! outputs for the same keys, recorded by `tests/fixtures_gen/random_mlx.py`, so this
//! test needs no Python. Floats are compared bit for bit. Then distribution checks on
//! large samples, determinism across thread counts, and errors.

use ferrox::ops::{arange, astype, imag, real};
use ferrox::{array, random, Array, Dtype, Error};

// ---- MLX fixtures (generated) ----
const KEY_0: (&[usize], &[u32]) = (&[2], &[0, 0]);
const KEY_BIG: (&[usize], &[u32]) = (&[2], &[2, 7]);
const KEY_MAX: (&[usize], &[u32]) = (&[2], &[4294967295, 4294967295]);
const SPLIT_0_2: (&[usize], &[u32]) = (&[2, 2], &[4146024105, 967050713, 2718843009, 1272950319]);
const SPLIT_7_5: (&[usize], &[u32]) = (
    &[5, 2],
    &[
        3583082021, 1059767885, 1158596951, 3570483602, 902484696, 1947592014, 964771841,
        2936027381, 2956069637, 3584898772,
    ],
);
const SPLIT_BIG_3: (&[usize], &[u32]) = (
    &[3, 2],
    &[
        778561915, 1856276227, 1744186564, 2544733001, 3419818263, 2600087039,
    ],
);
const UNIFORM_0_3: (&[usize], &[u32]) = (&[3], &[0x3f771f4f, 0x3ea11df6, 0x3f220e41]);
const UNIFORM_1_2X3: (&[usize], &[u32]) = (
    &[2, 3],
    &[
        0x3f54aee8, 0x3e2a06a3, 0x3f57d208, 0x3f249458, 0x3f119350, 0x3f1d4c3f,
    ],
);
const UNIFORM_5_7_M2_3: (&[usize], &[u32]) = (
    &[7],
    &[
        0xbf74563a, 0xbffc0627, 0x3e9e5a38, 0xbef553e8, 0x4017788e, 0x3cd61000, 0xbfcfd3cb,
    ],
);
const UNIFORM_5_ARR: (&[usize], &[u32]) = (
    &[2, 3],
    &[
        0x3f2f35d5, 0x3f800000, 0x3fa573a4, 0x40653b3c, 0x3fa14da8, 0x4070845b,
    ],
);
const UNIFORM_F16: (&[usize], &[u16]) = (
    &[9],
    &[
        0x309b, 0x3883, 0x3afc, 0x391b, 0x386a, 0x36b4, 0x3955, 0x30e0, 0x3b97,
    ],
);
const UNIFORM_F16_RANGE: (&[usize], &[u16]) = (&[5], &[0xb8d0, 0x446e, 0x403a, 0xc1a0, 0x446b]);
const UNIFORM_BF16: (&[usize], &[u16]) = (
    &[9],
    &[
        0x3f40, 0x3f01, 0x3b8d, 0x3f17, 0x3ebc, 0x3eee, 0x3f40, 0x3f69, 0x3f3b,
    ],
);
const UNIFORM_SCALAR: (&[usize], &[u32]) = (&[], &[0x3f5d8a64]);
const NORMAL_0_5: (&[usize], &[u32]) = (
    &[5],
    &[0x3e405a38, 0xbfa4448e, 0xbe8acc83, 0x3f9fe132, 0x3e7a5659],
);
const NORMAL_42_3X4: (&[usize], &[u32]) = (
    &[3, 4],
    &[
        0x3ebde34b, 0xbf966ee7, 0xbf03abc3, 0x3ff94a14, 0xbfa630d2, 0xbf1c3ca7, 0x3f0ebd3c,
        0x3dd29ae1, 0xbf54d81f, 0xbebee71e, 0xbf0c8294, 0xbf195bb8,
    ],
);
const NORMAL_LOC_SCALE: (&[usize], &[u32]) = (
    &[6],
    &[
        0xc023b2d0, 0xbee6b3dc, 0xbed46418, 0x400f4f40, 0xbe878930, 0xbff10860,
    ],
);
const NORMAL_F16: (&[usize], &[u16]) = (
    &[7],
    &[0x3a1d, 0xb931, 0xbe55, 0x39a2, 0x40fb, 0x3798, 0x3ca9],
);
const NORMAL_BF16: (&[usize], &[u16]) = (
    &[7],
    &[0x3f43, 0xbf26, 0xbfca, 0x3f34, 0x401f, 0x3ef3, 0x3f95],
);
const NORMAL_F64: (&[usize], &[u64]) = (
    &[4],
    &[
        0x3fd4164a59f4a544,
        0x3fd50e84e3862a7f,
        0x3ffb70683479c3b0,
        0x3fe250956ef6cb52,
    ],
);
const NORMAL_C64: (&[usize], &[u32]) = (
    &[3, 2],
    &[
        0xbeecdfe4, 0xbb4c6a18, 0x3e6ed57d, 0x3fa3f6aa, 0x3ef28078, 0x3fa832bf,
    ],
);
const RANDINT_3: (&[usize], &[i64]) = (&[8], &[1, 13, 12, 5, -4, -4, 13, 3]);
const RANDINT_I8: (&[usize], &[i64]) = (&[2, 5], &[68, 67, -14, 6, -6, 64, 69, 1, 84, -18]);
const RANDINT_U8_NEG: (&[usize], &[i64]) = (&[4], &[251, 251, 251, 251]);
const RANDINT_FLOAT_BOUNDS: (&[usize], &[i64]) = (&[6], &[14, 12, 16, 14, 14, 14]);
const RANDINT_BOOL: (&[usize], &[bool]) = (
    &[10],
    &[
        true, true, false, false, false, false, false, true, false, false,
    ],
);
const RANDINT_I64: (&[usize], &[i64]) = (&[5], &[139692, 801213, 999834, 646327, 293808]);
const RANDINT_ARR: (&[usize], &[i64]) = (&[2, 3], &[4, 12, 984, 2, 10, 562]);
const BERN_DEFAULT: (&[usize], &[bool]) = (
    &[12],
    &[
        false, false, true, true, true, false, false, true, false, true, true, false,
    ],
);
const BERN_P: (&[usize], &[bool]) = (&[5], &[false, false, true, false, true]);
const BERN_P_SHAPE: (&[usize], &[bool]) = (
    &[3, 4],
    &[
        false, false, false, false, false, false, false, true, false, false, false, false,
    ],
);
const BERN_F16: (&[usize], &[bool]) = (&[3, 2], &[false, true, false, true, false, false]);
const TRUNC_0: (&[usize], &[u32]) = (
    &[6],
    &[
        0x3f803791, 0xbdc918d3, 0x3fbd4d0f, 0x3e59a251, 0x3f30d1db, 0xbd96b7eb,
    ],
);
const TRUNC_ARR: (&[usize], &[u32]) = (&[2, 2], &[0xbe6d2870, 0x3d84cc3b, 0x3f76f557, 0x3f9ab32d]);
const TRUNC_F16: (&[usize], &[u16]) = (&[5], &[0x3320, 0x35cb, 0xb4ba, 0xb48b, 0xb4e3]);
const GUMBEL_0: (&[usize], &[u32]) = (
    &[6],
    &[
        0x40872e5a, 0x3e522321, 0x40c3d35c, 0x3f9bcf4b, 0x3fd0f78f, 0x3e27b167,
    ],
);
const GUMBEL_F16: (&[usize], &[u16]) = (&[5], &[0x3cb2, 0x4080, 0x3ba0, 0xb89f, 0xbb21]);
const CAT_LOGITS: (&[usize], &[u32]) = (
    &[3, 4],
    &[
        0x00000000, 0x3f800000, 0x40000000, 0x40400000, 0x40400000, 0x40000000, 0x3f800000,
        0x00000000, 0xbf800000, 0x40a00000, 0x3f000000, 0x00000000,
    ],
);
const CAT_DEFAULT: (&[usize], &[u32]) = (&[3], &[2, 2, 1]);
const CAT_AXIS0: (&[usize], &[u32]) = (&[4], &[1, 2, 2, 0]);
const CAT_SHAPE: (&[usize], &[u32]) = (&[5, 3], &[3, 2, 1, 0, 1, 1, 1, 0, 1, 3, 0, 1, 3, 0, 1]);
const CAT_NUM: (&[usize], &[u32]) = (
    &[3, 6],
    &[2, 3, 0, 3, 3, 3, 0, 0, 2, 0, 3, 0, 1, 1, 1, 1, 1, 1],
);
const LAPLACE_0: (&[usize], &[u32]) = (
    &[7],
    &[
        0xbe0f2607, 0x3cc23cbf, 0x3f26fe9b, 0xbeb16b45, 0xc05aa5e1, 0xbfcb30d2, 0xbe456efe,
    ],
);
const LAPLACE_LS: (&[usize], &[u32]) = (
    &[5],
    &[0x3f562689, 0x3f77b851, 0x3f7238d0, 0x3e51dc50, 0x3f8ba74c],
);
const LAPLACE_F16: (&[usize], &[u16]) = (&[5], &[0x28a9, 0x4501, 0xb927, 0x3b9c, 0xbe1e]);
const PERM_10: (&[usize], &[u32]) = (&[10], &[6, 1, 8, 4, 7, 3, 2, 5, 9, 0]);
const PERM_1: (&[usize], &[u32]) = (&[1], &[0]);
const PERM_257: (&[usize], &[u32]) = (
    &[257],
    &[
        73, 191, 193, 159, 93, 181, 186, 147, 27, 206, 208, 242, 210, 123, 175, 163, 46, 125, 182,
        90, 226, 151, 71, 215, 5, 13, 15, 88, 205, 91, 230, 140, 38, 236, 130, 20, 164, 58, 121,
        220, 160, 240, 235, 250, 12, 61, 31, 196, 171, 158, 201, 199, 174, 198, 231, 194, 138, 221,
        43, 187, 178, 69, 179, 228, 105, 48, 42, 110, 234, 157, 26, 214, 101, 155, 74, 207, 14,
        131, 7, 9, 237, 106, 184, 108, 32, 169, 87, 133, 219, 120, 77, 232, 107, 62, 23, 238, 70,
        144, 99, 79, 209, 76, 150, 103, 81, 254, 30, 161, 170, 127, 183, 11, 56, 39, 202, 53, 239,
        111, 122, 21, 152, 128, 60, 177, 0, 249, 44, 172, 146, 59, 153, 2, 50, 41, 188, 246, 223,
        68, 3, 167, 176, 118, 18, 212, 97, 252, 251, 204, 109, 35, 253, 233, 203, 55, 256, 80, 217,
        19, 64, 78, 6, 104, 129, 168, 222, 63, 95, 211, 57, 143, 33, 72, 162, 119, 28, 142, 115,
        213, 22, 25, 82, 116, 102, 200, 16, 244, 141, 52, 134, 112, 67, 241, 29, 75, 218, 248, 136,
        148, 173, 185, 149, 83, 47, 51, 66, 24, 139, 243, 100, 126, 225, 17, 86, 85, 137, 165, 96,
        92, 98, 166, 89, 37, 34, 49, 245, 113, 197, 247, 216, 10, 229, 1, 195, 135, 54, 156, 255,
        145, 114, 117, 227, 94, 36, 189, 45, 224, 4, 8, 132, 84, 65, 192, 154, 180, 190, 40, 124,
    ],
);
const PERM_ARR_AX1: (&[usize], &[i64]) = (&[3, 4], &[3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10]);
const PERM_ARR_AX0: (&[usize], &[i64]) = (&[3, 4], &[4, 5, 6, 7, 0, 1, 2, 3, 8, 9, 10, 11]);
const SEED0_UNIFORM: (&[usize], &[u32]) = (&[3], &[0x3f5f568c, 0x3de36f00, 0x3e8ddd80]);
const SEED0_THEN_NORMAL: (&[usize], &[u32]) = (&[3], &[0xbd8750f1, 0x3e2ac4a3, 0x3f96c8d1]);
const SEED0_STATE: (&[usize], &[u32]) = (&[2], &[2384771982, 3928867769]);
const SEED123_RANDINT: (&[usize], &[i64]) = (&[4], &[28, 46, 61, 65]);
const SEED123_BERN: (&[usize], &[bool]) = (&[4], &[false, true, true, false]);
const SEED123_PERM: (&[usize], &[u32]) = (&[6], &[5, 1, 2, 4, 3, 0]);
const SEED123_STATE: (&[usize], &[u32]) = (&[2], &[2627000397, 1518189144]);
const BIG_UNIFORM_TAIL: (&[usize], &[u32]) = (
    &[5],
    &[0x3dba99ee, 0x3f430709, 0x3f652f8b, 0x3f7c01ab, 0x3e11995b],
);
const BIG_UNIFORM_MID: (&[usize], &[u32]) =
    (&[4], &[0x3f145d09, 0x3dbdd25b, 0x3eed90f3, 0x3e6a7062]);
const BIG_PERM_HEAD: (&[usize], &[u32]) = (&[6], &[28621, 12914, 51570, 19032, 37576, 37343]);
const BIG_NORMAL_BITSUM: u64 = 279137525292585;
const BIG_UNIFORM_BITSUM: u64 = 105287746019187;
const BIG_PERM_WSUM: u64 = 85744476920218;
const BIG_TRUNC_BITSUM: u64 = 106195186113995;
const MVN_17: [f32; 12] = [
    1.3495092391967773,
    -2.683340549468994,
    0.28345322608947754,
    1.0280507802963257,
    -1.329298973083496,
    0.019708067178726196,
    2.3636913299560547,
    0.8100318908691406,
    1.8087515830993652,
    -1.199023962020874,
    -1.5827925205230713,
    1.6765037775039673,
];

// ---- helpers ----

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as i32;
    let man = (h & 0x3ff) as u32;
    let v = if exp == 0 {
        // Subnormal (or zero): man * 2^-24.
        man as f32 * (-24f32).exp2()
    } else if exp == 31 {
        if man == 0 {
            f32::INFINITY
        } else {
            f32::NAN
        }
    } else {
        f32::from_bits((((exp - 15 + 127) as u32) << 23) | (man << 13))
    };
    f32::from_bits(v.to_bits() | sign)
}

fn check_shape(a: &Array, shape: &[usize]) {
    assert_eq!(a.shape(), shape, "shape");
}

fn assert_u32(a: &Array, fix: (&[usize], &[u32])) {
    check_shape(a, fix.0);
    assert_eq!(a.dtype(), Dtype::Uint32);
    assert_eq!(a.to_vec::<u32>().unwrap(), fix.1);
}

fn assert_f32_bits(a: &Array, fix: (&[usize], &[u32])) {
    check_shape(a, fix.0);
    assert_eq!(a.dtype(), Dtype::Float32);
    let got: Vec<u32> = a
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect();
    assert_eq!(got, fix.1, "got {:?}", a.to_vec::<f32>().unwrap());
}

fn assert_f16_bits(a: &Array, fix: (&[usize], &[u16])) {
    check_shape(a, fix.0);
    assert_eq!(a.dtype(), Dtype::Float16);
    let want: Vec<u32> = fix.1.iter().map(|&h| f16_to_f32(h).to_bits()).collect();
    let got: Vec<u32> = a
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect();
    assert_eq!(got, want);
}

fn assert_bf16_bits(a: &Array, fix: (&[usize], &[u16])) {
    check_shape(a, fix.0);
    assert_eq!(a.dtype(), Dtype::Bfloat16);
    let want: Vec<u32> = fix.1.iter().map(|&h| (h as u32) << 16).collect();
    let got: Vec<u32> = a
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect();
    assert_eq!(got, want);
}

fn assert_ints(a: &Array, dtype: Dtype, fix: (&[usize], &[i64])) {
    check_shape(a, fix.0);
    assert_eq!(a.dtype(), dtype);
    assert_eq!(a.to_vec::<i64>().unwrap(), fix.1);
}

fn assert_bools(a: &Array, fix: (&[usize], &[bool])) {
    check_shape(a, fix.0);
    assert_eq!(a.dtype(), Dtype::Bool);
    assert_eq!(a.to_vec::<bool>().unwrap(), fix.1);
}

fn k(seed: u64) -> Array {
    random::key(seed)
}

fn f32_array(fix: (&[usize], &[u32])) -> Array {
    let v: Vec<f32> = fix.1.iter().map(|&b| f32::from_bits(b)).collect();
    Array::from_slice(&v, fix.0).unwrap()
}

fn is_invalid<T: std::fmt::Debug>(r: Result<T, Error>, needle: &str) {
    match r {
        Err(Error::Invalid(m)) => assert!(m.contains(needle), "message {m:?} lacks {needle:?}"),
        other => panic!("expected Error::Invalid containing {needle:?}, got {other:?}"),
    }
}

// ---- bit-exact agreement with MLX ----

#[test]
fn keys_and_split_match_mlx() {
    assert_u32(&k(0), KEY_0);
    assert_u32(&k((1 << 33) + 7), KEY_BIG);
    assert_u32(&k(u64::MAX), KEY_MAX);
    assert_u32(&random::split(&k(0), 2).unwrap(), SPLIT_0_2);
    assert_u32(&random::split(&k(7), 5).unwrap(), SPLIT_7_5);
    assert_u32(&random::split(&k((1 << 33) + 7), 3).unwrap(), SPLIT_BIG_3);
    let (a, b) = random::split_pair(&k(0)).unwrap();
    assert_eq!(a.to_vec::<u32>().unwrap(), &SPLIT_0_2.1[..2]);
    assert_eq!(b.to_vec::<u32>().unwrap(), &SPLIT_0_2.1[2..]);
    // A key that is a strided view (a column-major row of a split) works as well.
    let ks = random::split(&k(7), 5).unwrap();
    let row = ferrox::ops::slice(&ks, &[1, 0], &[2, 2], &[1, 1])
        .unwrap()
        .reshape(&[2])
        .unwrap();
    let col_view = ferrox::ops::transpose(&ks, &[]).unwrap();
    let row_t = ferrox::ops::slice(&col_view, &[0, 1], &[2, 2], &[1, 1])
        .unwrap()
        .reshape(&[2])
        .unwrap();
    assert_eq!(
        random::uniform(0.0, 1.0, &[4], None, Some(&row))
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        random::uniform(0.0, 1.0, &[4], None, Some(&row_t))
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
    );
}

#[test]
fn uniform_matches_mlx() {
    assert_f32_bits(
        &random::uniform(0, 1, &[3], None, Some(&k(0))).unwrap(),
        UNIFORM_0_3,
    );
    assert_f32_bits(
        &random::uniform(0, 1, &[2, 3], None, Some(&k(1))).unwrap(),
        UNIFORM_1_2X3,
    );
    assert_f32_bits(
        &random::uniform(-2, 3, &[7], None, Some(&k(5))).unwrap(),
        UNIFORM_5_7_M2_3,
    );
    let lo = array!([0.0f32, 1.0, 2.0]);
    let hi = array!([[1.0f32], [5.0]]);
    assert_f32_bits(
        &random::uniform(&lo, &hi, &[2, 3], None, Some(&k(5))).unwrap(),
        UNIFORM_5_ARR,
    );
    assert_f16_bits(
        &random::uniform(0, 1, &[9], Some(Dtype::Float16), Some(&k(11))).unwrap(),
        UNIFORM_F16,
    );
    assert_f16_bits(
        &random::uniform(-3, 7, &[5], Some(Dtype::Float16), Some(&k(12))).unwrap(),
        UNIFORM_F16_RANGE,
    );
    assert_bf16_bits(
        &random::uniform(0, 1, &[9], Some(Dtype::Bfloat16), Some(&k(13))).unwrap(),
        UNIFORM_BF16,
    );
    assert_f32_bits(
        &random::uniform(0, 1, &[], None, Some(&k(3))).unwrap(),
        UNIFORM_SCALAR,
    );
}

#[test]
fn normal_matches_mlx() {
    assert_f32_bits(
        &random::normal(&[5], None, None, None, Some(&k(0))).unwrap(),
        NORMAL_0_5,
    );
    assert_f32_bits(
        &random::normal(&[3, 4], None, None, None, Some(&k(42))).unwrap(),
        NORMAL_42_3X4,
    );
    assert_f32_bits(
        &random::normal(&[6], None, Some(1.5.into()), Some(2.0.into()), Some(&k(4))).unwrap(),
        NORMAL_LOC_SCALE,
    );
    assert_f16_bits(
        &random::normal(&[7], Some(Dtype::Float16), None, None, Some(&k(9))).unwrap(),
        NORMAL_F16,
    );
    assert_bf16_bits(
        &random::normal(&[7], Some(Dtype::Bfloat16), None, None, Some(&k(9))).unwrap(),
        NORMAL_BF16,
    );
    let n64 = random::normal(&[4], Some(Dtype::Float64), None, None, Some(&k(9))).unwrap();
    assert_eq!(n64.dtype(), Dtype::Float64);
    let got: Vec<u64> = n64
        .to_vec::<f64>()
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect();
    assert_eq!(got, NORMAL_F64.1);
    let c = random::normal(&[3], Some(Dtype::Complex64), None, None, Some(&k(8))).unwrap();
    assert_eq!(c.dtype(), Dtype::Complex64);
    assert_eq!(c.shape(), &[3]);
    let re = real(&c).unwrap().to_vec::<f32>().unwrap();
    let im = imag(&c).unwrap().to_vec::<f32>().unwrap();
    let got: Vec<u32> = re
        .iter()
        .zip(&im)
        .flat_map(|(r, i)| [r.to_bits(), i.to_bits()])
        .collect();
    assert_eq!(got, NORMAL_C64.1);
}

#[test]
fn randint_matches_mlx() {
    let i32_ = Some(Dtype::Int32);
    assert_ints(
        &random::randint(-5, 17, &[8], None, Some(&k(3))).unwrap(),
        Dtype::Int32,
        RANDINT_3,
    );
    assert_ints(
        &random::randint(-100, 100, &[2, 5], Some(Dtype::Int8), Some(&k(21))).unwrap(),
        Dtype::Int8,
        RANDINT_I8,
    );
    assert_ints(
        &random::randint(-5, 17, &[4], Some(Dtype::Uint8), Some(&k(22))).unwrap(),
        Dtype::Uint8,
        RANDINT_U8_NEG,
    );
    assert_ints(
        &random::randint(5.5, 17.2, &[6], i32_, Some(&k(23))).unwrap(),
        Dtype::Int32,
        RANDINT_FLOAT_BOUNDS,
    );
    let b = random::randint(0, 2, &[10], Some(Dtype::Bool), Some(&k(24))).unwrap();
    assert_bools(&b, RANDINT_BOOL);
    assert_ints(
        &random::randint(0, 1000000, &[5], Some(Dtype::Int64), Some(&k(25))).unwrap(),
        Dtype::Int64,
        RANDINT_I64,
    );
    let lo = array!([0i32, 10, 100]);
    let hi = array!([5i32, 20, 1000]);
    assert_ints(
        &random::randint(&lo, &hi, &[2, 3], None, Some(&k(26))).unwrap(),
        Dtype::Int32,
        RANDINT_ARR,
    );
}

#[test]
fn bernoulli_matches_mlx() {
    assert_bools(
        &random::bernoulli(0.5, Some(&[12]), Some(&k(30))).unwrap(),
        BERN_DEFAULT,
    );
    let p = array!([0.1f32, 0.5, 0.9, 0.0, 1.0]);
    assert_bools(&random::bernoulli(&p, None, Some(&k(31))).unwrap(), BERN_P);
    assert_bools(
        &random::bernoulli(0.3, Some(&[3, 4]), Some(&k(32))).unwrap(),
        BERN_P_SHAPE,
    );
    let p16 = astype(&array!([0.25f32, 0.75]), Dtype::Float16).unwrap();
    assert_bools(
        &random::bernoulli(&p16, Some(&[3, 2]), Some(&k(33))).unwrap(),
        BERN_F16,
    );
}

#[test]
fn truncated_normal_matches_mlx() {
    assert_f32_bits(
        &random::truncated_normal(-1.0, 2.0, Some(&[6]), None, Some(&k(40))).unwrap(),
        TRUNC_0,
    );
    let lo = array!([-2.0f32, 0.0]);
    let hi = array!([[0.5f32], [3.0]]);
    assert_f32_bits(
        &random::truncated_normal(&lo, &hi, None, None, Some(&k(41))).unwrap(),
        TRUNC_ARR,
    );
    assert_f16_bits(
        &random::truncated_normal(-0.5, 0.5, Some(&[5]), Some(Dtype::Float16), Some(&k(42)))
            .unwrap(),
        TRUNC_F16,
    );
}

#[test]
fn gumbel_and_laplace_match_mlx() {
    assert_f32_bits(&random::gumbel(&[6], None, Some(&k(50))).unwrap(), GUMBEL_0);
    assert_f16_bits(
        &random::gumbel(&[5], Some(Dtype::Float16), Some(&k(51))).unwrap(),
        GUMBEL_F16,
    );
    assert_f32_bits(
        &random::laplace(&[7], None, 0.0, 1.0, Some(&k(70))).unwrap(),
        LAPLACE_0,
    );
    assert_f32_bits(
        &random::laplace(&[5], None, 1.0, 0.5, Some(&k(71))).unwrap(),
        LAPLACE_LS,
    );
    assert_f16_bits(
        &random::laplace(&[5], Some(Dtype::Float16), 0.0, 1.0, Some(&k(72))).unwrap(),
        LAPLACE_F16,
    );
}

#[test]
fn categorical_matches_mlx() {
    let lg = f32_array(CAT_LOGITS);
    assert_u32(
        &random::categorical(&lg, -1, None, None, Some(&k(60))).unwrap(),
        CAT_DEFAULT,
    );
    assert_u32(
        &random::categorical(&lg, 0, None, None, Some(&k(61))).unwrap(),
        CAT_AXIS0,
    );
    assert_u32(
        &random::categorical(&lg, -1, Some(&[5, 3]), None, Some(&k(62))).unwrap(),
        CAT_SHAPE,
    );
    assert_u32(
        &random::categorical(&lg, -1, None, Some(6), Some(&k(63))).unwrap(),
        CAT_NUM,
    );
}

#[test]
fn permutation_matches_mlx() {
    assert_u32(&random::permutation_n(10, Some(&k(80))).unwrap(), PERM_10);
    assert_u32(&random::permutation_n(1, Some(&k(81))).unwrap(), PERM_1);
    assert_u32(&random::permutation_n(257, Some(&k(82))).unwrap(), PERM_257);
    let x = arange(0.0, 12.0, 1.0, Some(Dtype::Int32))
        .unwrap()
        .reshape(&[3, 4])
        .unwrap();
    assert_ints(
        &random::permutation(&x, 1, Some(&k(83))).unwrap(),
        Dtype::Int32,
        PERM_ARR_AX1,
    );
    assert_ints(
        &random::permutation(&x, 0, Some(&k(84))).unwrap(),
        Dtype::Int32,
        PERM_ARR_AX0,
    );
    // A transposed (non-contiguous) input permutes the same values.
    let xt = ferrox::ops::transpose(&x, &[]).unwrap();
    let p = random::permutation(&xt, 1, Some(&k(83))).unwrap();
    assert_eq!(p.shape(), &[4, 3]);
}

/// The global state follows MLX's Python module: `seed`, then each call without a key
/// splits the state. All uses of the global state live in this one test, since tests
/// run concurrently.
#[test]
fn global_state_matches_mlx() {
    random::seed(0);
    assert_f32_bits(
        &random::uniform(0, 1, &[3], None, None).unwrap(),
        SEED0_UNIFORM,
    );
    assert_f32_bits(
        &random::normal(&[3], None, None, None, None).unwrap(),
        SEED0_THEN_NORMAL,
    );
    assert_u32(&random::state(), SEED0_STATE);
    random::seed(123);
    assert_ints(
        &random::randint(0, 100, &[4], None, None).unwrap(),
        Dtype::Int32,
        SEED123_RANDINT,
    );
    assert_bools(
        &random::bernoulli(0.5, Some(&[4]), None).unwrap(),
        SEED123_BERN,
    );
    assert_u32(&random::permutation_n(6, None).unwrap(), SEED123_PERM);
    assert_u32(&random::state(), SEED123_STATE);
    // Reseeding restarts the sequence.
    random::seed(0);
    assert_f32_bits(
        &random::uniform(0, 1, &[3], None, None).unwrap(),
        SEED0_UNIFORM,
    );
}

fn bitsum(v: &[f32]) -> u64 {
    v.iter().map(|x| x.to_bits() as u64).sum()
}

/// Sizes past the parallel threshold, checked against MLX through exact checksums.
#[test]
fn large_samples_match_mlx() {
    let u = random::uniform(0, 1, &[100003], None, Some(&k(99)))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(bitsum(&u), BIG_UNIFORM_BITSUM);
    let tail: Vec<u32> = u[u.len() - 5..].iter().map(|x| x.to_bits()).collect();
    assert_eq!(tail, BIG_UNIFORM_TAIL.1);
    let mid: Vec<u32> = u[50000..50004].iter().map(|x| x.to_bits()).collect();
    assert_eq!(mid, BIG_UNIFORM_MID.1);
    let n = random::normal(&[1 << 17], None, None, None, Some(&k(97))).unwrap();
    assert_eq!(bitsum(&n.to_vec::<f32>().unwrap()), BIG_NORMAL_BITSUM);
    let p = random::permutation_n(70001, Some(&k(98)))
        .unwrap()
        .to_vec::<u32>()
        .unwrap();
    assert_eq!(&p[..6], BIG_PERM_HEAD.1);
    let wsum: u64 = p
        .iter()
        .enumerate()
        .map(|(i, &v)| i as u64 * v as u64)
        .sum();
    assert_eq!(wsum, BIG_PERM_WSUM);
}

/// `erf` of many different bounds (MLX's approximation, with its own `exp`), then
/// `erfinv`, checked against MLX through an exact checksum.
#[test]
fn truncated_normal_with_many_bounds_matches_mlx() {
    let n = 50000usize;
    let lo: Vec<f32> = (0..n).map(|i| -((i % 301) as f32) / 100.0).collect();
    let hi: Vec<f32> = (0..n).map(|i| ((i % 297) as f32 + 1.0) / 100.0).collect();
    let lo = Array::from_slice(&lo, &[n]).unwrap();
    let hi = Array::from_slice(&hi, &[n]).unwrap();
    let t = random::truncated_normal(&lo, &hi, None, None, Some(&k(5))).unwrap();
    assert_eq!(bitsum(&t.to_vec::<f32>().unwrap()), BIG_TRUNC_BITSUM);
}

/// MLX takes the covariance's square root by SVD, ferrox by a Jacobi eigendecomposition:
/// the same matrix up to rounding, applied to the same normal draws.
#[test]
fn multivariate_normal_is_close_to_mlx() {
    let mean = array!([1.0f32, -2.0, 0.5]);
    let cov = array!([[2.0f32, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]]);
    let s = random::multivariate_normal(&mean, &cov, &[4], None, Some(&k(17))).unwrap();
    assert_eq!(s.shape(), &[4, 3]);
    for (g, w) in s.to_vec::<f32>().unwrap().iter().zip(MVN_17) {
        assert!((g - w).abs() < 1e-5, "{g} vs {w}");
    }
}

// ---- determinism across thread counts ----

#[test]
fn same_numbers_on_any_thread_count() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let key = k(1234);
            let u = random::uniform(0, 1, &[300001], None, Some(&key)).unwrap();
            let b = random::bits(&[99999], 2, Some(&key)).unwrap();
            let p = random::permutation_n(100000, Some(&key)).unwrap();
            (
                u.to_vec::<f32>().unwrap(),
                b.to_vec::<u32>().unwrap(),
                p.to_vec::<u32>().unwrap(),
            )
        })
    };
    let one = run(1);
    assert_eq!(one, run(3));
    assert_eq!(one, run(8));
}

#[test]
fn bits_widths_share_one_stream() {
    // uint16 and uint8 bits are the little-endian pieces of the uint32 words.
    let w = random::bits(&[5], 4, Some(&k(5)))
        .unwrap()
        .to_vec::<u32>()
        .unwrap();
    let h = random::bits(&[9], 2, Some(&k(5))).unwrap();
    assert_eq!(h.dtype(), Dtype::Uint16);
    let b = random::bits(&[7], 1, Some(&k(5)))
        .unwrap()
        .to_vec::<u32>()
        .unwrap();
    let h = h.to_vec::<u32>().unwrap();
    // Only the leading halves of a word stream of the same length agree (the word count
    // decides the counter layout), so compare within equal word counts.
    let w4 = random::bits(&[2], 4, Some(&k(5)))
        .unwrap()
        .to_vec::<u32>()
        .unwrap();
    let h4 = random::bits(&[4], 2, Some(&k(5)))
        .unwrap()
        .to_vec::<u32>()
        .unwrap();
    let b8 = random::bits(&[8], 1, Some(&k(5)))
        .unwrap()
        .to_vec::<u32>()
        .unwrap();
    assert_eq!(
        h4,
        vec![w4[0] & 0xffff, w4[0] >> 16, w4[1] & 0xffff, w4[1] >> 16]
    );
    assert_eq!(b8[4], w4[1] & 0xff);
    assert_eq!((w.len(), h.len(), b.len()), (5, 9, 7));
}

// ---- distributions on large samples ----

fn moments(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, var)
}

fn f64s(a: &Array) -> Vec<f64> {
    a.to_vec::<f64>().unwrap()
}

#[test]
fn distributions_have_the_right_moments() {
    const N: usize = 200_000;
    let key = k(2024);
    let ks: Vec<Array> = (0..10)
        .map(|i| {
            ferrox::ops::slice(
                &random::split(&key, 10).unwrap(),
                &[i, 0],
                &[i + 1, 2],
                &[1, 1],
            )
            .unwrap()
            .reshape(&[2])
            .unwrap()
        })
        .collect();

    let u = f64s(&random::uniform(-1, 3, &[N], None, Some(&ks[0])).unwrap());
    let (m, v) = moments(&u);
    assert!(
        (m - 1.0).abs() < 0.02 && (v - 16.0 / 12.0).abs() < 0.02,
        "uniform {m} {v}"
    );
    assert!(u.iter().all(|&x| (-1.0..3.0).contains(&x)));
    for dt in [Dtype::Float16, Dtype::Bfloat16] {
        let u = f64s(&random::uniform(0, 1, &[N], Some(dt), Some(&ks[0])).unwrap());
        assert!(
            u.iter().all(|&x| (0.0..1.0).contains(&x)),
            "{dt} uniform reached 1"
        );
    }

    let n = f64s(
        &random::normal(&[N], None, Some(2.0.into()), Some(3.0.into()), Some(&ks[1])).unwrap(),
    );
    let (m, v) = moments(&n);
    assert!(
        (m - 2.0).abs() < 0.03 && (v - 9.0).abs() < 0.1,
        "normal {m} {v}"
    );

    let l = f64s(&random::laplace(&[N], None, 0.0, 1.0, Some(&ks[2])).unwrap());
    let (m, v) = moments(&l);
    assert!(m.abs() < 0.02 && (v - 2.0).abs() < 0.05, "laplace {m} {v}");

    let g = f64s(&random::gumbel(&[N], None, Some(&ks[3])).unwrap());
    let (m, v) = moments(&g);
    let pi2_6 = std::f64::consts::PI.powi(2) / 6.0;
    assert!(
        (m - 0.577_215_66).abs() < 0.02 && (v - pi2_6).abs() < 0.05,
        "gumbel {m} {v}"
    );

    let t = f64s(&random::truncated_normal(-1.0, 2.0, Some(&[N]), None, Some(&ks[4])).unwrap());
    assert!(t.iter().all(|&x| (-1.0..=2.0).contains(&x)));
    // Mean of N(0,1) truncated to [-1, 2]: (phi(-1) - phi(2)) / (Phi(2) - Phi(-1)).
    let phi = |x: f64| (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let want = (phi(-1.0) - phi(2.0)) / (0.977_249_87 - 0.158_655_25);
    let (m, _) = moments(&t);
    assert!(
        (m - want).abs() < 0.01,
        "truncated normal mean {m} vs {want}"
    );

    let b = random::bernoulli(0.3, Some(&[N]), Some(&ks[5]))
        .unwrap()
        .to_vec::<bool>()
        .unwrap();
    let frac = b.iter().filter(|&&x| x).count() as f64 / N as f64;
    assert!((frac - 0.3).abs() < 0.01, "bernoulli {frac}");

    let r = random::randint(-3, 7, &[N], None, Some(&ks[6]))
        .unwrap()
        .to_vec::<i64>()
        .unwrap();
    let mut counts = [0usize; 10];
    for &x in &r {
        assert!((-3..7).contains(&x));
        counts[(x + 3) as usize] += 1;
    }
    for c in counts {
        assert!(
            (c as f64 / N as f64 - 0.1).abs() < 0.005,
            "randint counts {counts:?}"
        );
    }

    let logits = array!([0.0f32, 1.0, 2.0]);
    let c = random::categorical(&logits, -1, Some(&[N]), None, Some(&ks[7])).unwrap();
    let c = c.to_vec::<u32>().unwrap();
    let z: f64 = (0..3).map(|i| (i as f64).exp()).sum();
    for i in 0..3u32 {
        let frac = c.iter().filter(|&&x| x == i).count() as f64 / N as f64;
        let want = (i as f64).exp() / z;
        assert!(
            (frac - want).abs() < 0.01,
            "categorical {i}: {frac} vs {want}"
        );
    }

    let p = random::permutation_n(1000, Some(&ks[8]))
        .unwrap()
        .to_vec::<u32>()
        .unwrap();
    let mut sorted = p.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
    assert_ne!(p, sorted);
}

#[test]
fn multivariate_normal_has_the_right_covariance() {
    const N: usize = 100_000;
    let mean = array!([1.0f32, -2.0, 0.5]);
    let cov = array!([[2.0f32, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]]);
    let s = random::multivariate_normal(&mean, &cov, &[N], None, Some(&k(7))).unwrap();
    assert_eq!(s.shape(), &[N, 3]);
    let v = f64s(&s);
    let mut mu = [0.0f64; 3];
    for row in v.chunks(3) {
        for j in 0..3 {
            mu[j] += row[j] / N as f64;
        }
    }
    let want_mu = [1.0, -2.0, 0.5];
    let c = cov.to_vec::<f64>().unwrap();
    for j in 0..3 {
        assert!((mu[j] - want_mu[j]).abs() < 0.02, "mean {mu:?}");
    }
    for a in 0..3 {
        for b in 0..3 {
            let e: f64 = v
                .chunks(3)
                .map(|r| (r[a] - mu[a]) * (r[b] - mu[b]))
                .sum::<f64>()
                / N as f64;
            assert!(
                (e - c[a * 3 + b]).abs() < 0.03,
                "cov[{a},{b}] = {e} vs {}",
                c[a * 3 + b]
            );
        }
    }
    // Batched: a batch of covariances and a shape that broadcasts with it.
    let covs = ferrox::ops::broadcast_to(&cov, &[2, 3, 3]).unwrap();
    let s = random::multivariate_normal(&mean, &covs, &[4, 2], None, Some(&k(8))).unwrap();
    assert_eq!(s.shape(), &[4, 2, 3]);
    // A degenerate (rank-1) covariance: all mass on a line.
    let cov1 = array!([[1.0f32, 1.0], [1.0, 1.0]]);
    let zero = array!([0.0f32, 0.0]);
    let s = f64s(&random::multivariate_normal(&zero, &cov1, &[1000], None, Some(&k(9))).unwrap());
    assert!(s.chunks(2).all(|r| (r[0] - r[1]).abs() < 1e-4));
}

// ---- errors ----

#[test]
fn bad_arguments_are_errors() {
    let key = k(0);
    is_invalid(
        random::uniform(0, 1, &[3], None, Some(&array!([1u32, 2, 3]))),
        "key shape",
    );
    is_invalid(
        random::uniform(0, 1, &[3], None, Some(&array!([1i32, 2]))),
        "key type uint32",
    );
    is_invalid(random::bits(&[3], 3, Some(&key)), "Bit width");
    is_invalid(
        random::uniform(0, 1, &[3], Some(Dtype::Int32), Some(&key)),
        "floating point",
    );
    // float64 passes the floating-point check and fails later: RuntimeError in MLX.
    match random::uniform(0, 1, &[3], Some(Dtype::Float64), Some(&key)) {
        Err(Error::Runtime(m)) => assert!(m.contains("Unsupported type"), "{m}"),
        other => panic!("expected Error::Runtime, got {other:?}"),
    }
    assert!(matches!(
        random::gumbel(&[3], Some(Dtype::Float64), Some(&key)),
        Err(Error::Runtime(_))
    ));
    is_invalid(
        random::uniform(array!([0.0f32, 1.0]), 2, &[3], None, Some(&key)),
        "",
    );
    is_invalid(
        random::uniform(array!([0.0f32, 1.0]), 2, &[1], None, Some(&key)),
        "Cannot generate",
    );
    is_invalid(
        random::normal(&[2], Some(Dtype::Int8), None, None, Some(&key)),
        "floating point",
    );
    is_invalid(
        random::randint(0, 5, &[2], Some(Dtype::Float32), Some(&key)),
        "integer dtypes",
    );
    is_invalid(
        random::bernoulli(1, None, Some(&key)),
        "must be a float type",
    );
    is_invalid(
        random::bernoulli(array!([0.5f32, 0.5]), Some(&[3]), Some(&key)),
        "",
    );
    is_invalid(
        random::bernoulli(array!([0.5f32, 0.5]), Some(&[1]), Some(&key)),
        "incompatible",
    );
    is_invalid(
        random::truncated_normal(0, 1, None, Some(Dtype::Int32), Some(&key)),
        "floating point",
    );
    is_invalid(
        random::gumbel(&[2], Some(Dtype::Uint8), Some(&key)),
        "floating point",
    );
    is_invalid(
        random::laplace(&[2], Some(Dtype::Int32), 0.0, 1.0, Some(&key)),
        "floating point",
    );
    let lg = array!([[0.0f32, 1.0], [1.0, 0.0]]);
    // An axis out of range is an IndexError, as in MLX.
    match random::categorical(&lg, 2, None, None, Some(&key)) {
        Err(Error::Index(m)) => assert!(m.contains("Invalid axis"), "{m}"),
        other => panic!("expected Error::Index, got {other:?}"),
    }
    is_invalid(
        random::categorical(&lg, -1, Some(&[3]), Some(2), Some(&key)),
        "At most one",
    );
    is_invalid(
        random::categorical(&lg, -1, Some(&[3]), None, Some(&key)),
        "",
    );
    is_invalid(
        random::categorical(&lg, -1, Some(&[1]), None, Some(&key)),
        "not broadcast compatible",
    );
    assert!(random::permutation(&lg, 2, Some(&key)).is_err());
    let m = array!([0.0f32, 0.0]);
    let c = array!([[1.0f32, 0.0], [0.0, 1.0]]);
    is_invalid(
        random::multivariate_normal(&m, &c, &[], Some(Dtype::Float16), Some(&key)),
        "float32",
    );
    is_invalid(
        random::multivariate_normal(&Array::scalar(0.0f32), &c, &[], None, Some(&key)),
        "mean must",
    );
    is_invalid(
        random::multivariate_normal(&m, &m, &[], None, Some(&key)),
        "cov must",
    );
    let c23 = ferrox::ops::zeros(&[2, 3], None).unwrap();
    is_invalid(
        random::multivariate_normal(&m, &c23, &[], None, Some(&key)),
        "must be equal",
    );
    let c3 = ferrox::ops::eye(3, None, 0, None).unwrap();
    is_invalid(
        random::multivariate_normal(&m, &c3, &[], None, Some(&key)),
        "compatible shapes",
    );
    // Errors leave earlier arrays usable.
    assert_f32_bits(
        &random::uniform(0, 1, &[3], None, Some(&key)).unwrap(),
        UNIFORM_0_3,
    );
}

#[test]
fn edge_shapes() {
    let key = k(3);
    assert_eq!(
        random::uniform(0, 1, &[0, 4], None, Some(&key))
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        Vec::<f32>::new()
    );
    assert_eq!(random::split(&key, 0).unwrap().shape(), &[0, 2]);
    assert_eq!(random::permutation_n(0, Some(&key)).unwrap().size(), 0);
    // uniform with low == high gives low; low > high reverses the interval as MLX does.
    let u = random::uniform(2, 2, &[4], None, Some(&key))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert!(u.iter().all(|&x| x == 2.0));
    let u = random::uniform(3, 1, &[100], None, Some(&key))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert!(u.iter().all(|&x| x > 1.0 && x <= 3.0));
}
