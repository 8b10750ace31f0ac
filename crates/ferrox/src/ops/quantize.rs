//! Low-precision formats. So far the 8-bit float conversions `to_fp8` / `from_fp8`
//! (E4M3, "fn": no infinities, one NaN code per sign, largest finite 448), as MLX
//! stores them: one uint8 per value.

use super::{
    abs, astype, bitwise_and, clip, full, isnan, left_shift, multiply, right_shift, round,
    subtract, take, view, where_,
};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::{Error, Result};

/// The largest finite E4M3 value, and its code.
const FP8_MAX: f32 = 448.0;
const FP8_MAX_CODE: i32 = 0x7e;

/// The value of each of the 256 E4M3 codes: sign, 4 exponent bits (bias 7), 3 mantissa
/// bits; exponent 0 is subnormal (m · 2⁻⁹), and all-ones exponent and mantissa is NaN.
fn fp8_values() -> Vec<f32> {
    (0..=255u32)
        .map(|c| {
            let (e, m) = ((c >> 3) & 15, c & 7);
            let v = match (e, m) {
                (15, 7) => f32::NAN,
                (0, m) => m as f32 / 512.0,
                (e, m) => (1.0 + m as f32 / 8.0) * 2f32.powi(e as i32 - 7),
            };
            if c & 0x80 != 0 {
                -v
            } else {
                v
            }
        })
        .collect()
}

/// `2^e` for an int32 array `e` of exponents in the normal float32 range, exactly.
fn pow2(e: &Array) -> Result<Array> {
    view(&left_shift(&super::add(e, 127)?, 23)?, Dtype::Float32)
}

/// `floor(log2 |x|)` of float32 `x` from its exponent bits, clipped to `[lo, hi]`.
fn exponent(x: &Array, lo: i32, hi: i32) -> Result<Array> {
    let bits = view(x, Dtype::Int32)?;
    let e = subtract(&right_shift(&bitwise_and(&bits, 0x7f80_0000)?, 23)?, 127)?;
    let (lo, hi) = (Array::scalar(lo), Array::scalar(hi));
    clip(&e, Some(&lo), Some(&hi))
}

/// `x` (a real float array) as E4M3 codes (uint8): rounded to the nearest value, ties to
/// the even code; magnitudes from 448 up, infinities and NaN saturate to ±448, as MLX's
/// `to_fp8` does.
///
/// ```
/// use ferrox::{ops, Array};
/// let x = Array::from_slice(&[1.0f32, 1.0625, -0.1, 1e6], &[4])?;
/// assert_eq!(ops::to_fp8(&x)?.to_vec::<u8>()?, [56, 56, 157, 126]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn to_fp8(x: &Array) -> Result<Array> {
    if !x.dtype().is_floating() {
        return Err(Error::Invalid(format!(
            "[to_fp8] Only real floating types are supported but x.dtype() == {}.",
            x.dtype()
        )));
    }
    let x = astype(x, Dtype::Float32)?;
    let a = abs(&x)?;
    // The grid spacing where |x| lies is 2^(e-3) (e = -6 below the normal range), so
    // that dividing by it, rounding half to even and multiplying back is exact.
    let step = |e: &Array| pow2(&subtract(e, 3)?);
    let e = exponent(&a, -6, 8)?;
    let q = multiply(&round(&super::divide(&a, &step(&e)?)?, 0)?, &step(&e)?)?;
    // The code of q: (e + 7) · 8 + mantissa, with e of q itself (rounding may carry).
    let e = exponent(&q, -6, 8)?;
    let mantissa = subtract(&super::divide(&q, &step(&e)?)?, 8)?;
    let code = super::add(
        &multiply(&astype(&super::add(&e, 7)?, Dtype::Float32)?, 8)?,
        &mantissa,
    )?;
    let code = astype(&code, Dtype::Int32)?;
    let top = full(&[], FP8_MAX_CODE, Some(Dtype::Int32))?;
    let saturated = super::logical_or(&super::greater_equal(&a, FP8_MAX)?, &isnan(&a)?)?;
    let code = where_(&saturated, &top, &code)?;
    // The sign bit, except on NaN (MLX gives a NaN the code of +448).
    let negative = bitwise_and(&right_shift(&view(&x, Dtype::Uint32)?, 31)?, 1)?;
    let negative = where_(&isnan(&x)?, &full(&[], 0, Some(Dtype::Uint32))?, &negative)?;
    let code = super::add(&code, &multiply(&astype(&negative, Dtype::Int32)?, 128)?)?;
    astype(&code, Dtype::Uint8)
}

/// E4M3 codes (uint8) as values of `dtype` (MLX's default: bfloat16).
pub fn from_fp8(x: &Array, dtype: Dtype) -> Result<Array> {
    if x.dtype() != Dtype::Uint8 {
        return Err(Error::Invalid(format!(
            "[from_fp8] Input must have type uint8 but x.dtype() == {}.",
            x.dtype()
        )));
    }
    if !dtype.is_floating() {
        return Err(Error::Invalid(format!(
            "[from_fp8] Only real floating types are supported as the output, got {dtype}."
        )));
    }
    let table = Array::from_slice(&fp8_values(), &[256])?;
    astype(&take(&table, &astype(x, Dtype::Uint32)?, None)?, dtype)
}
