//! Low-precision formats: affine quantization (`quantize`, `dequantize`,
//! `quantized_matmul`: groups of `group_size` values along the last axis stored as
//! `bits`-bit codes with a float scale and bias each, bit for bit as MLX stores them),
//! and the 8-bit float conversions `to_fp8` / `from_fp8` (E4M3, "fn": no infinities,
//! one NaN code per sign, largest finite 448), one uint8 per value.

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
    // The sign bit, NaN's included: MLX gives -NaN the code of -448 (254), +NaN 126.
    let negative = bitwise_and(&right_shift(&view(&x, Dtype::Uint32)?, 31)?, 1)?;
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
    take(&fp8_table(dtype)?, &astype(x, Dtype::Uint32)?, None)
}

/// `fp8_values` in `dtype`, with the NaNs MLX's `from_fp8` gives bit for bit: float32
/// 0x7ff00000 (sign kept), float16 0x7d00 (sign kept), bfloat16 0x7fc0 (sign dropped);
/// a cast of a float32 NaN would keep other payload bits.
fn fp8_table(dtype: Dtype) -> Result<Array> {
    let vals = fp8_values();
    let sign = |c: usize| (c >> 7) as u32;
    match dtype {
        Dtype::Float32 => {
            let bits: Vec<u32> = (vals.iter().enumerate())
                .map(|(c, v)| {
                    if v.is_nan() {
                        0x7ff0_0000 | sign(c) << 31
                    } else {
                        v.to_bits()
                    }
                })
                .collect();
            view(&Array::from_slice(&bits, &[256])?, dtype)
        }
        Dtype::Float16 => {
            let bits: Vec<u16> = (vals.iter().enumerate())
                .map(|(c, &v)| {
                    if v.is_nan() {
                        0x7d00 | (sign(c) << 15) as u16
                    } else {
                        half::f16::from_f32(v).to_bits()
                    }
                })
                .collect();
            view(&Array::from_slice(&bits, &[256])?, dtype)
        }
        Dtype::Bfloat16 => {
            let bits: Vec<u16> = vals
                .iter()
                .map(|&v| {
                    if v.is_nan() {
                        0x7fc0
                    } else {
                        half::bf16::from_f32(v).to_bits()
                    }
                })
                .collect();
            view(&Array::from_slice(&bits, &[256])?, dtype)
        }
        _ => astype(&Array::from_slice(&vals, &[256])?, dtype),
    }
}

// ---- affine quantization -----------------------------------------------------------------

use super::quantize_fp::{
    check_global, dequantize_fp_checked, fp_params, parse_mode, qmm_checked, quantize_fp,
    quantized_matmul_general, Mode,
};
use crate::primitives::quantized::{Dequantize, PackBits, QuantizedMatmul};
use crate::primitives::quantized_fp::QMode;

/// A quantized matrix: codes packed in uint32 words, and a scale and bias per group
/// (`biases` is `None` for the modes without one).
#[derive(Clone, Debug)]
pub struct Quantized {
    pub wq: Array,
    pub scales: Array,
    pub biases: Option<Array>,
}

/// Checks the mode and fills in MLX's defaults: `(group_size, bits)`.
pub(crate) fn affine_params(
    op: &str,
    group_size: Option<usize>,
    bits: Option<usize>,
    mode: &str,
) -> Result<(usize, usize)> {
    parse_mode(op, mode)?;
    let (gs, bits) = (group_size.unwrap_or(64), bits.unwrap_or(4));
    if ![32, 64, 128].contains(&gs) {
        return Err(Error::Invalid(format!(
            "[{op}] The requested group size {gs} is not supported. The supported group sizes \
             are 32, 64, and 128."
        )));
    }
    if ![1, 2, 3, 4, 5, 6, 8].contains(&bits) {
        return Err(Error::Invalid(format!(
            "[{op}] The requested number of bits {bits} is not supported. The supported bits \
             are 1, 2, 3, 4, 5, 6 and 8."
        )));
    }
    Ok((gs, bits))
}

pub(crate) fn shape_str(s: &[usize]) -> String {
    let v: Vec<String> = s.iter().map(|x| x.to_string()).collect();
    format!("({})", v.join(","))
}

/// Quantizes each group of `group_size` (default 64) consecutive values along the last
/// axis of `w` (at least 2-D) to `bits`-bit codes (default 4) with MLX's affine rule:
/// the scale spans the group's range, and the group's value of largest magnitude is
/// represented exactly. Returns the codes packed into uint32 words (last axis
/// `cols * bits / 32`) and the scales and biases (last axis `cols / group_size`, `w`'s
/// dtype). Bit for bit what MLX returns.
///
/// The modes `mxfp4`, `mxfp8` and `nvfp4` store E2M1 or E4M3 codes with one uint8 scale
/// per group of 32 (16 for nvfp4) and no biases; `global_scale` (a float32 scalar)
/// belongs to nvfp4.
///
/// ```
/// use ferrox::ops;
/// let w = ops::arange(0.0, 64.0, 1.0, None)?.reshape(&[1, 64])?;
/// let q = ops::quantize(&w, None, None, "affine", None)?;
/// assert_eq!(q.wq.shape(), &[1, 8]);
/// let back = ops::dequantize(&q.wq, &q.scales, q.biases.as_ref(), None, None, "affine", None, None)?;
/// assert!(ops::allclose(&back, &w, 0.0, 2.2, false)?.item::<bool>()?);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn quantize(
    w: &Array,
    group_size: Option<usize>,
    bits: Option<usize>,
    mode: &str,
    global_scale: Option<&Array>,
) -> Result<Quantized> {
    let m = parse_mode("quantize", mode)?;
    let (gs, bits) = match m {
        Mode::Affine => affine_params("quantize", group_size, bits, mode)?,
        Mode::Fp(f) => {
            fp_params("quantize", f, group_size, bits)?;
            (f.group_size(), f.bits())
        }
    };
    check_global("quantize", m, global_scale)?;
    if !w.dtype().is_floating() {
        return Err(Error::Invalid(format!(
            "[quantize] Only real floating types can be quantized but w has type {}.",
            w.dtype()
        )));
    }
    if w.ndim() < 2 {
        return Err(Error::Invalid(format!(
            "[quantize] The matrix to be quantized must have at least 2 dimension but it has \
             only {}.",
            w.ndim()
        )));
    }
    let cols = w.shape()[w.ndim() - 1];
    if cols % gs != 0 {
        return Err(Error::Invalid(format!(
            "[quantize] The last dimension of the matrix needs to be divisible by the \
             quantization group size {gs}. However the provided  matrix has shape {}",
            shape_str(w.shape())
        )));
    }
    if let Mode::Fp(f) = m {
        return quantize_fp(w, f, global_scale);
    }
    let mut grouped = w.shape()[..w.ndim() - 1].to_vec();
    grouped.extend([cols / gs, gs]);
    let g = astype(w, Dtype::Float32)?.reshape(&grouped)?;
    let n_bins = ((1u32 << bits) - 1) as f64;
    let (hi, lo) = (super::max(&g, &[-1], true)?, super::min(&g, &[-1], true)?);
    let span = super::maximum(&super::divide(&subtract(&hi, &lo)?, n_bins)?, 1e-7)?;
    let (scales, biases) = if bits == 1 {
        // One bit: the two codes are the group's minimum and maximum.
        (span, lo)
    } else {
        edge_exact(&lo, &hi, &span)?
    };
    let (zero, top) = (Array::scalar(0.0f32), Array::scalar(n_bins as f32));
    let codes = clip(
        &round(&super::divide(&subtract(&g, &biases)?, &scales)?, 0)?,
        Some(&zero),
        Some(&top),
    )?;
    let codes = astype(&codes, Dtype::Uint32)?.reshape(w.shape())?;
    let squeeze = |a: &Array| super::squeeze(a, &[-1]).and_then(|a| astype(&a, w.dtype()));
    Ok(Quantized {
        wq: pack_bits(&codes, bits)?,
        scales: squeeze(&scales)?,
        biases: Some(squeeze(&biases)?),
    })
}

/// Scales and biases (float32, per group) that represent the group's end of larger
/// magnitude exactly (as `q0 * scale`, with zero bias when it rounds to code 0): MLX's
/// rule for 2 bits and more. `span` is the range over the number of steps.
fn edge_exact(lo: &Array, hi: &Array, span: &Array) -> Result<(Array, Array)> {
    let low_end = super::greater(&abs(lo)?, &abs(hi)?)?;
    let scales = where_(&low_end, span, &super::negative(span)?)?;
    let edge = where_(&low_end, lo, hi)?;
    let q0 = round(&super::divide(&edge, &scales)?, 0)?;
    let nonzero = super::not_equal(&q0, 0.0)?;
    let scales = where_(&nonzero, &super::divide(&edge, &q0)?, &scales)?;
    let biases = where_(&nonzero, &edge, 0.0)?;
    Ok((scales, biases))
}

/// Codes (uint32, last axis a multiple of `32 / gcd(32, bits)`) packed `bits` each into
/// uint32 words along the last axis.
pub(crate) fn pack_bits(codes: &Array, bits: usize) -> Result<Array> {
    let mut shape = codes.shape().to_vec();
    let n = shape.last().copied().unwrap_or(0);
    *shape.last_mut().expect("quantized arrays are at least 1-D") = n * bits / 32;
    Ok(Array::from_op(
        shape,
        Dtype::Uint32,
        PackBits { bits },
        vec![codes.clone()],
        super::stream(),
    ))
}

/// Checks packed weights `w` against their scales and biases: `(rows.., cols)` of the
/// float matrix they stand for.
fn check_packed(
    op: &str,
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
    gs: usize,
    bits: usize,
) -> Result<usize> {
    if w.dtype() != Dtype::Uint32 {
        return Err(Error::Invalid(format!(
            "[{op}] The matrix should be given as a uint32 but it has type {}.",
            w.dtype()
        )));
    }
    let Some(biases) = biases else {
        return Err(Error::Invalid(format!(
            "[{op}] Biases must be provided for affine quantization."
        )));
    };
    if w.ndim() < 2 {
        return Err(Error::Invalid(format!(
            "[{op}] The matrix should be at least 2-D but it has {} dimensions.",
            w.ndim()
        )));
    }
    let nd = w.ndim();
    let cols = w.shape()[nd - 1] * 32 / bits;
    let mut want = w.shape().to_vec();
    want[nd - 1] = cols / gs;
    if scales.shape() != want.as_slice() || biases.shape() != want.as_slice() || cols % gs != 0 {
        return Err(Error::Invalid(format!(
            "[{op}] Shape of scales and biases does not match the matrix given the \
             quantization parameters. Provided matrix of shape {} and scales/biases of shape \
             {} with group_size={gs} and bits={bits}.",
            shape_str(w.shape()),
            shape_str(scales.shape())
        )));
    }
    Ok(cols)
}

/// The float matrix that packed weights `w` stand for: `code * scale + bias` per group,
/// in `dtype` (default: the scales' dtype). In the fp modes, `value(code) * scale`, in
/// `dtype` (default bfloat16, as MLX), with `global_scale` for nvfp4.
#[allow(clippy::too_many_arguments)]
pub fn dequantize(
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
    group_size: Option<usize>,
    bits: Option<usize>,
    mode: &str,
    global_scale: Option<&Array>,
    dtype: Option<Dtype>,
) -> Result<Array> {
    let m = parse_mode("dequantize", mode)?;
    check_global("dequantize", m, global_scale)?;
    if let Mode::Fp(f) = m {
        fp_params("dequantize", f, group_size, bits)?;
        return dequantize_fp_checked(w, scales, biases, f, global_scale, dtype);
    }
    let (gs, bits) = affine_params("dequantize", group_size, bits, mode)?;
    let cols = check_packed("dequantize", w, scales, biases, gs, bits)?;
    let biases = biases.expect("checked above");
    let dtype = dtype.unwrap_or(scales.dtype());
    if !dtype.is_floating() {
        return Err(Error::Invalid(format!(
            "[dequantize] Output dtype must be a floating type, got {dtype}."
        )));
    }
    let mut shape = w.shape().to_vec();
    *shape.last_mut().expect("at least 2-D") = cols;
    let inputs = vec![w.clone(), scales.clone(), biases.clone()];
    Ok(Array::from_op(
        shape,
        dtype,
        Dequantize {
            group_size: gs,
            bits,
        },
        inputs,
        super::stream(),
    ))
}

/// `x @ dequantize(w).T` (`transpose`, a linear layer's layout: `w` `[n, k]`) or
/// `x @ dequantize(w)` (`w` `[k, n]`) without forming the float weights: for a few rows
/// of `x` (decoding) each weight row is read once, as codes. `x` is `[.., k]` (batch
/// axes are more rows) for a 2-D `w`; a batched `w` (`[B.., n, k/..]`) multiplies an
/// `x` of `[X.., m, k]` matrix by matrix, `B` and `X` broadcast. The output's dtype is
/// that of `x` and the scales promoted together (that of `x` in the fp modes).
#[allow(clippy::too_many_arguments)]
pub fn quantized_matmul(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
    transpose: bool,
    group_size: Option<usize>,
    bits: Option<usize>,
    mode: &str,
) -> Result<Array> {
    let (qmode, _, _) = qmm_checked(
        "quantized_matmul",
        x,
        w,
        scales,
        biases,
        transpose,
        group_size,
        bits,
        mode,
    )?;
    match (qmode, biases) {
        // The 2-D affine product has its own primitive (codes read in place).
        (QMode::Affine { group_size, bits }, Some(biases)) if w.ndim() == 2 => {
            let prim = QuantizedMatmul {
                group_size,
                bits,
                transpose,
            };
            quantized_matmul_with(x, w, scales, biases, prim)
        }
        _ => quantized_matmul_general(x, w, scales, biases, transpose, qmode),
    }
}

/// The product node for checked arguments (the gradient rules build theirs here).
pub(crate) fn quantized_matmul_with(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: &Array,
    prim: QuantizedMatmul,
) -> Result<Array> {
    let cols = w.shape()[1] * 32 / prim.bits;
    let n = if prim.transpose { w.shape()[0] } else { cols };
    let dtype = super::result_type(&[x, scales]);
    let mut shape = x.shape().to_vec();
    *shape.last_mut().ok_or_else(|| {
        Error::Invalid("[quantized_matmul] x must have at least one dimension.".into())
    })? = n;
    let inputs = vec![x.clone(), w.clone(), scales.clone(), biases.clone()];
    Ok(Array::from_op(shape, dtype, prim, inputs, super::stream()))
}
