//! Kernels of the floating-point quantization modes, as MLX's CPU build computes them:
//! `mxfp4` (E2M1 codes, groups of 32, a power-of-two E8M0 scale byte), `mxfp8` (E4M3
//! codes, groups of 32, E8M0) and `nvfp4` (E2M1, groups of 16, an E4M3 scale byte, and an
//! optional tensor-wide float32 `global_scale`). Codes are packed little-endian into
//! uint32 words (8 four-bit or 4 eight-bit codes a word), like the affine codes.
//!
//! The rules were read off MLX 0.32.4 (bit for bit on random and edge inputs), including
//! its handling of groups whose maximum is not finite (see `quantize_group`).

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

/// The three modes; `bits` and `group_size` follow from the mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FpMode {
    Mxfp4,
    Mxfp8,
    Nvfp4,
}

impl FpMode {
    pub fn bits(self) -> usize {
        if self == FpMode::Mxfp8 {
            8
        } else {
            4
        }
    }
    pub fn group_size(self) -> usize {
        if self == FpMode::Nvfp4 {
            16
        } else {
            32
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            FpMode::Mxfp4 => "mxfp4",
            FpMode::Mxfp8 => "mxfp8",
            FpMode::Nvfp4 => "nvfp4",
        }
    }
}

/// The E2M1 magnitudes of codes 0..8 (code | 8 is the negative).
const E2M1: [f32; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];

/// `v` as an E2M1 code as MLX rounds it: the magnitude goes up a code only strictly
/// past the midpoint (ties toward zero), saturates at 6, and a value that rounds to zero
/// has no sign bit; NaN and infinities give code 0.
pub fn e2m1_code(v: f32) -> u8 {
    if !v.is_finite() {
        return 0;
    }
    const MIDS: [f32; 7] = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0];
    let a = v.abs();
    let c = MIDS.iter().filter(|&&m| a > m).count() as u8;
    if v < 0.0 && c > 0 {
        c | 8
    } else {
        c
    }
}

/// The E2M1 values in code order (code | 8 is the negative), as MLX's table lists them.
const E2M1_TABLE: [f32; 16] = [
    0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0,
];

/// `y` as an nvfp4 E2M1 code as MLX computes it: the first entry of its table at the
/// least float32 distance `|y - v|`. Where the subtraction is exact this is
/// [`e2m1_code`]; for `|y|` past about 2^25 (a value far above a saturated scale) the
/// rounded distances tie and the first tied entry wins, which gives codes such as 4, 6
/// and, past 2^27, 0. NaN and infinities give 0 (every distance is NaN or infinite).
pub fn e2m1_code_by_table(y: f32) -> u8 {
    let mut best = (0u8, f32::INFINITY);
    for (c, &v) in E2M1_TABLE.iter().enumerate() {
        let d = (y - v).abs();
        if d < best.1 {
            best = (c as u8, d);
        }
    }
    best.0
}

/// The type the weights came in: MLX's nvfp4 quantizer divides in it, so `x / scale`
/// is rounded to it before its code is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    F32,
    F16,
    Bf16,
}

impl Source {
    fn round(self, y: f32) -> f32 {
        match self {
            Source::F32 => y,
            Source::F16 => half::f16::from_f32(y).to_f32(),
            Source::Bf16 => half::bf16::from_f32(y).to_f32(),
        }
    }
}

/// `v` as an E4M3 code: nearest, ties to even; from 448 up, infinities and NaN saturate
/// to ±448 keeping the sign bit (MLX's `to_fp8`).
pub fn fp8_code(v: f32) -> u8 {
    let sign = if v.is_sign_negative() { 0x80 } else { 0 };
    let a = v.abs();
    if a.is_nan() || a >= 448.0 {
        return sign | 0x7e;
    }
    // The binade of a (-6 below the normal range), whose grid step is 2^(e-3).
    let e = if a < 2f32.powi(-6) {
        -6
    } else {
        ((a.to_bits() >> 23) as i32) - 127
    };
    let q = (a / 2f32.powi(e - 3)).round_ties_even() as i32; // 0..=16
    let code = if e == -6 && q < 8 {
        q // subnormal
    } else {
        (e + 7) * 8 + (q - 8) // q == 16 carries into the next binade
    };
    sign | code as u8
}

/// The value of an E4M3 code (0x7f/0xff are NaN).
pub fn fp8_value(c: u8) -> f32 {
    let (e, m) = (((c >> 3) & 15) as i32, (c & 7) as f32);
    let v = match (e, c & 7) {
        (15, 7) => f32::NAN,
        (0, _) => m / 512.0,
        _ => (1.0 + m / 8.0) * 2f32.powi(e - 7),
    };
    if c & 0x80 != 0 {
        -v
    } else {
        v
    }
}

/// `2^e` as a float32 for `e` in -149..=127 (subnormal below -126), exactly.
fn pow2(e: i32) -> f32 {
    if e >= -126 {
        f32::from_bits(((e + 127) as u32) << 23)
    } else {
        f32::from_bits(1u32 << (e + 149))
    }
}

/// The exact `ceil(log2 q)` of a positive finite float32 `q` (subnormals included).
fn ceil_log2(q: f32) -> i32 {
    let b = q.to_bits();
    let (ex, m) = ((b >> 23) as i32, b & 0x7f_ffff);
    if ex == 0 {
        // q = m * 2^-149
        let floor = 31 - m.leading_zeros() as i32;
        floor - 149 + i32::from(!m.is_power_of_two())
    } else {
        ex - 127 + i32::from(m != 0)
    }
}

/// The float32 factor `2688 / global_scale` (6 * 448: the largest E2M1 value times the
/// largest E4M3 one) that nvfp4 multiplies the scales by before rounding them, and its
/// inverse, `global_scale / 2688`, applied when decoding.
fn nv_factors(global_scale: Option<f32>) -> Option<(f32, f32)> {
    global_scale.map(|g| (2688.0 / g, g / 2688.0))
}

/// Quantizes one group into `codes` (one per value) and returns its scale byte.
///
/// mx modes: the scale is `2^e`, `e = ceil(log2(amax / emax))` (emax 6 or 448, the
/// division in float32), stored as `e + 127` wrapping in a byte as MLX's cast does; an
/// all-zero group has `e = 0`. A group whose maximum is infinite or NaN gets byte 128
/// and the codes MLX's division by a zero scale leaves: E2M1 0, E4M3 ±448 (sign of
/// `x / 0`, the default NaN being negative for `0 / 0`).
/// nvfp4: the scale is `amax / 6` (times `2688 / global_scale`) rounded to E4M3, and the
/// codes are `x / scale` rounded to the weights' type `src`, times `2688 / global_scale`
/// in float32, then to E2M1 by [`e2m1_code_by_table`].
pub fn quantize_group(
    g: &[f32],
    mode: FpMode,
    global: Option<f32>,
    src: Source,
    codes: &mut [u8],
) -> u8 {
    // max |x| with NaN propagating, as MLX's max does.
    let amax = g.iter().fold(0.0f32, |m, &v| {
        if m.is_nan() || v.is_nan() {
            f32::NAN
        } else {
            m.max(v.abs())
        }
    });
    match mode {
        FpMode::Nvfp4 => {
            let mut q = amax / 6.0;
            let nv = nv_factors(global);
            if let Some((up, _)) = nv {
                q *= up;
            }
            let s = fp8_code(q);
            let d = fp8_value(s);
            // MLX's order of operations, which decides the rounded ties far above a
            // saturated scale: x / scale in the weights' type, then times the factor.
            let up = nv.map_or(1.0, |(up, _)| up);
            for (c, &v) in codes.iter_mut().zip(g) {
                *c = e2m1_code_by_table(src.round(v / d) * up);
            }
            s
        }
        FpMode::Mxfp4 | FpMode::Mxfp8 => {
            let fp8 = mode == FpMode::Mxfp8;
            let q = amax / if fp8 { 448.0 } else { 6.0 };
            if !q.is_finite() {
                for (c, &v) in codes.iter_mut().zip(g) {
                    let negative = if v.is_nan() {
                        v.is_sign_negative()
                    } else {
                        v == 0.0 || v.is_sign_negative()
                    };
                    *c = if !fp8 {
                        0
                    } else if negative {
                        0xfe
                    } else {
                        0x7e
                    };
                }
                return 128;
            }
            let e = if q == 0.0 { 0 } else { ceil_log2(q) };
            let d = pow2(e);
            for (c, &v) in codes.iter_mut().zip(g) {
                *c = if fp8 {
                    fp8_code(v / d)
                } else {
                    e2m1_code(v / d)
                };
            }
            (e + 127) as u8
        }
    }
}

/// Quantizes the rows of `w` (row-major, `cols` per row, float32) into packed words
/// (`cols * bits / 32` per row) and scale bytes (`cols / group_size` per row).
pub fn quantize(
    w: &[f32],
    cols: usize,
    mode: FpMode,
    global: Option<f32>,
    src: Source,
    words: &mut [u32],
    scales: &mut [u8],
) {
    let (gs, bits) = (mode.group_size(), mode.bits());
    if cols == 0 {
        return;
    }
    let (wpr, gpr) = (cols * bits / 32, cols / gs);
    words
        .par_chunks_mut(wpr)
        .zip(scales.par_chunks_mut(gpr))
        .zip(w.par_chunks(cols))
        .for_each(|((dst, sc), row)| {
            let mut codes = vec![0u8; cols];
            for ((g, c), s) in row.chunks(gs).zip(codes.chunks_mut(gs)).zip(sc.iter_mut()) {
                *s = quantize_group(g, mode, global, src, c);
            }
            let per = 32 / bits;
            for (word, cs) in dst.iter_mut().zip(codes.chunks(per)) {
                *word = cs
                    .iter()
                    .enumerate()
                    .fold(0u32, |acc, (i, &c)| acc | (c as u32) << (bits * i));
            }
        });
}

/// A quantized matrix of `rows x cols` values in one of the fp modes.
#[derive(Clone, Copy, Debug)]
pub struct FpPacked<'a> {
    pub words: &'a [u32],
    pub scales: &'a [u8],
    pub rows: usize,
    pub cols: usize,
    pub mode: FpMode,
    pub global: Option<f32>,
}

impl FpPacked<'_> {
    /// Row `r` expanded to floats as MLX does: the scale is rounded to the output dtype
    /// first (`round`; an E8M0 power of two can underflow or overflow float16), then
    /// `value(code) * scale` is rounded again. With an nvfp4 global scale the output is
    /// float32 and the value `value(code) * (scale * (global / 2688))`.
    pub fn expand_row(&self, r: usize, out: &mut [f32], round: impl Fn(f32) -> f32) {
        let (gs, bits) = (self.mode.group_size(), self.mode.bits());
        let (wpr, gpr) = (self.cols * bits / 32, self.cols / gs);
        let words = &self.words[r * wpr..(r + 1) * wpr];
        let scales = &self.scales[r * gpr..(r + 1) * gpr];
        let down = nv_factors(self.global).map(|(_, d)| d);
        let mask = (1u32 << bits) - 1;
        for (g, chunk) in out.chunks_mut(gs).enumerate() {
            let s = match self.mode {
                FpMode::Nvfp4 => fp8_value(scales[g]),
                // e8m0: 2^(byte - 127); byte 255 overflows float32 to infinity.
                _ => 2f32.powi(scales[g] as i32 - 127),
            };
            let s = match down {
                Some(d) => s * d,
                None => round(s),
            };
            for (i, o) in chunk.iter_mut().enumerate() {
                let j = g * gs + i;
                let c = (words[j * bits / 32] >> ((j * bits) % 32)) & mask;
                let v = if bits == 8 {
                    fp8_value(c as u8)
                } else {
                    let m = E2M1[(c & 7) as usize];
                    if c & 8 != 0 {
                        -m
                    } else {
                        m
                    }
                };
                *o = round(v * s);
            }
        }
    }
}

/// Every row of `w` expanded into `out` (row-major), rows in parallel.
pub fn dequantize(w: &FpPacked, out: &mut [f32], round: impl Fn(f32) -> f32 + Sync) {
    if w.cols == 0 {
        return;
    }
    out.par_chunks_mut(w.cols)
        .enumerate()
        .for_each(|(r, dst)| w.expand_row(r, dst, &round));
}

/// `out (m x n) = x (m x k) @ w.T` (`transpose`: `w` is `n x k`) or `x @ w` (`w` is
/// `k x n`): the weights are expanded to float32 once, then one GEMM.
pub fn qmm(x: &[f32], m: usize, w: &FpPacked, transpose: bool, out: &mut [f32]) {
    let (k, n) = if transpose {
        (w.cols, w.rows)
    } else {
        (w.rows, w.cols)
    };
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.fill(0.0);
        return;
    }
    let mut full = vec![0.0f32; w.rows * w.cols];
    dequantize(w, &mut full, |v| v);
    // Strides of the right operand (k x n) in `full`.
    let (rs, cs) = if transpose {
        (1, k as isize)
    } else {
        (n as isize, 1)
    };
    // SAFETY: row-major x (m x k), out (m x n); `full` holds k * n values read with the
    // strides above.
    unsafe {
        gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            x.as_ptr(),
            1,
            k as isize,
            full.as_ptr(),
            cs,
            rs,
            0.0,
            1.0,
            false,
            false,
            false,
            Parallelism::Rayon(rayon::current_num_threads()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp8_codes_round_trip() {
        for c in 0..=255u8 {
            let v = fp8_value(c);
            if v.is_nan() {
                continue;
            }
            // -0.0 and 0.0 have their own codes.
            assert_eq!(fp8_code(v), c, "code {c} value {v}");
        }
    }

    #[test]
    fn ceil_log2_is_exact() {
        assert_eq!(ceil_log2(1.0), 0);
        assert_eq!(ceil_log2(f32::from_bits(1.0f32.to_bits() + 1)), 1);
        assert_eq!(ceil_log2(0.75), 0);
        assert_eq!(ceil_log2(f32::from_bits(1)), -149);
        assert_eq!(ceil_log2(f32::from_bits(3)), -147);
        assert_eq!(ceil_log2(f32::MAX), 128);
    }
}
