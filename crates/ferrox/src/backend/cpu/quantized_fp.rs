//! Kernels of the floating-point quantization modes, as MLX's CPU build computes them:
//! `mxfp4` (E2M1 codes, groups of 32, a power-of-two E8M0 scale byte), `mxfp8` (E4M3
//! codes, groups of 32, E8M0) and `nvfp4` (E2M1, groups of 16, an E4M3 scale byte, and an
//! optional tensor-wide float32 `global_scale`). Codes are packed little-endian into
//! uint32 words (8 four-bit or 4 eight-bit codes a word), like the affine codes.
//!
//! The rules were read off MLX 0.32.4 (bit for bit on random and edge inputs), including
//! its handling of groups whose maximum is not finite (see `quantize_group`).

use super::matmul::dot;
use super::quantized::{for_row_tasks, Out, DOT_ROWS, QMV_ROWS};
use gemm::{gemm, Parallelism};
use rayon::prelude::*;
use std::sync::OnceLock;

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
    /// The words and scale bytes of row `r`.
    fn row(&self, r: usize) -> (&[u32], &[u8]) {
        let (wpr, gpr) = (
            self.cols * self.mode.bits() / 32,
            self.cols / self.mode.group_size(),
        );
        (
            &self.words[r * wpr..(r + 1) * wpr],
            &self.scales[r * gpr..(r + 1) * gpr],
        )
    }

    /// The scale each scale byte stands for, as MLX applies it: the scale rounded to
    /// the output dtype first (`round`; an E8M0 power of two can underflow or overflow
    /// float16), except with an nvfp4 global scale, where the output is float32 and the
    /// scale `scale * (global / 2688)`.
    fn scale_table(&self, round: impl Fn(f32) -> f32) -> [f32; 256] {
        let down = nv_factors(self.global).map(|(_, d)| d);
        std::array::from_fn(|b| {
            let s = match self.mode {
                FpMode::Nvfp4 => fp8_value(b as u8),
                // e8m0: 2^(byte - 127); byte 255 overflows float32 to infinity.
                _ => 2f32.powi(b as i32 - 127),
            };
            match down {
                Some(d) => s * d,
                None => round(s),
            }
        })
    }

    /// The value of each code: 16 E2M1 values or 256 E4M3 ones.
    fn code_values(&self) -> &'static [f32] {
        static FP8: OnceLock<[f32; 256]> = OnceLock::new();
        if self.mode.bits() == 8 {
            FP8.get_or_init(|| std::array::from_fn(|c| fp8_value(c as u8)))
        } else {
            &E2M1_TABLE
        }
    }

    /// Row `r` expanded to floats as MLX does: `value(code) * scale` rounded by `round`,
    /// `scales` from [`FpPacked::scale_table`] with the same `round`.
    fn expand_row(
        &self,
        r: usize,
        scales: &[f32; 256],
        out: &mut [f32],
        round: impl Fn(f32) -> f32,
    ) {
        let (gs, bits) = (self.mode.group_size(), self.mode.bits());
        let (words, bytes) = self.row(r);
        let (values, per_word, mask) = (self.code_values(), 32 / bits, (1u32 << bits) - 1);
        for ((group, ws), &b) in out
            .chunks_mut(gs)
            .zip(words.chunks(gs / per_word))
            .zip(bytes)
        {
            let s = scales[b as usize];
            for (o, j) in group.iter_mut().zip(0..) {
                let c = (ws[j / per_word] >> (j % per_word * bits)) & mask;
                *o = round(values[c as usize] * s);
            }
        }
    }
}

/// Every row of `w` expanded into `out` (row-major), rows in parallel.
pub fn dequantize(w: &FpPacked, out: &mut [f32], round: impl Fn(f32) -> f32 + Sync) {
    if w.cols == 0 {
        return;
    }
    let scales = w.scale_table(&round);
    out.par_chunks_mut(w.cols)
        .enumerate()
        .for_each(|(r, dst)| w.expand_row(r, &scales, dst, &round));
}

/// `out (m x n) = x (m x k) @ w.T` (`transpose`: `w` is `n x k`) or `x @ w` (`w` is
/// `k x n`): for a few rows of `x` a dot product per weight row ([`qmv`]), otherwise the
/// weights expanded to float32 once, then one GEMM.
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
    if transpose && m <= QMV_ROWS {
        // As the affine product: 4 rows of x at a time.
        for (xs, os) in x.chunks(DOT_ROWS * k).zip(out.chunks_mut(DOT_ROWS * n)) {
            qmv(xs, xs.len() / k, w, os);
        }
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

/// `out = x @ w.T` for a few rows of `x`, in parallel over weight rows. On x86-64 with
/// AVX-512 the kernel of [`avx512`] runs where the shape suits it; otherwise each
/// weight row is expanded to floats and dotted with each row of `x`.
fn qmv(x: &[f32], m: usize, w: &FpPacked, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512::qmv(x, m, w, out) {
        return;
    }
    let (k, n) = (w.cols, w.rows);
    let scales = w.scale_table(|v| v);
    let out = Out::new(out, n);
    for_row_tasks(n, 1, |rows| {
        let (mut row, mut sums) = (vec![0.0f32; k], [0.0f32; DOT_ROWS]);
        for r in rows {
            w.expand_row(r, &scales, &mut row, |v| v);
            for (s, xi) in sums.iter_mut().zip(x.chunks_exact(k)) {
                *s = dot(&row, xi);
            }
            // SAFETY: this task alone writes row r's column of out.
            unsafe { out.store(r, &sums[..m]) };
        }
    });
}

/// The product for a few rows of `x` with AVX-512 F (chosen at run time). As in the
/// affine float kernel, the packed words are read 16 at a time, one per 32-bit lane, and
/// `x` is reordered to match ([`lane_order`]), so code `j` of every lane multiplies one
/// contiguous vector of `x`. A code becomes its value in registers: E2M1 by one
/// permute of the 16-value table (the code is the index), E4M3 from its bits (an
/// integer significand scaled by its exponent with `vscalefps`). The scales of 16
/// groups are gathered once from the byte-to-scale table and permuted over a span's
/// lanes.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::quantized::avx512::lane_groups;
    use super::{for_row_tasks, FpPacked, Out, DOT_ROWS, E2M1_TABLE};
    use std::arch::x86_64::*;

    /// 32-bit lanes of a vector: words of a span.
    const LANES: usize = 16;

    /// Runs the product if this CPU and shape suit the kernel; false otherwise.
    pub(super) fn qmv(x: &[f32], m: usize, w: &FpPacked, out: &mut [f32]) -> bool {
        let (k, bits, gs) = (w.cols, w.mode.bits(), w.mode.group_size());
        let span = LANES * 32 / bits;
        if !(1..=DOT_ROWS).contains(&m) || k % span != 0 || !is_x86_feature_detected!("avx512f") {
            return false;
        }
        let scales = w.scale_table(|v| v);
        let xl: Vec<f32> = x
            .chunks(k)
            .flat_map(|row| lane_order(row, 32 / bits))
            .collect();
        type Kernel = unsafe fn(&[u32], &[u8], &[f32; 256], &[f32], usize, usize, &mut [f32]);
        let kernel: Kernel = match (bits, m) {
            (4, 1) => row_dots::<4, 1>,
            (4, 2) => row_dots::<4, 2>,
            (4, 3) => row_dots::<4, 3>,
            (4, _) => row_dots::<4, 4>,
            (_, 1) => row_dots::<8, 1>,
            (_, 2) => row_dots::<8, 2>,
            (_, 3) => row_dots::<8, 3>,
            _ => row_dots::<8, 4>,
        };
        let out = Out::new(out, w.rows);
        for_row_tasks(w.rows, 1, |rows| {
            let mut sums = [0.0f32; DOT_ROWS];
            for r in rows {
                let (words, bytes) = w.row(r);
                // SAFETY: the CPU has AVX-512 F (checked above); `words` holds k / span
                // spans of 16 words, `bytes` a scale per group, `xl` m rows of k; this
                // task alone writes row r's column of out.
                unsafe {
                    kernel(words, bytes, &scales, &xl, k, gs, &mut sums[..m]);
                    out.store(r, &sums[..m]);
                }
            }
        });
        true
    }

    /// A row of `x` in lane order: within each span of `16 * per_word` values, position
    /// `j * 16 + i` holds the value of code `j` of word `i`.
    fn lane_order(row: &[f32], per_word: usize) -> Vec<f32> {
        let mut out = vec![0.0; row.len()];
        for (src, dst) in row
            .chunks(LANES * per_word)
            .zip(out.chunks_mut(LANES * per_word))
        {
            for (i, codes) in src.chunks(per_word).enumerate() {
                for (j, &v) in codes.iter().enumerate() {
                    dst[j * LANES + i] = v;
                }
            }
        }
        out
    }

    /// The values of code `j` of each word of `words`: E2M1 (`BITS` 4) or E4M3 (8).
    #[inline(always)]
    unsafe fn decode<const BITS: usize>(words: __m512i, j: usize, e2m1: __m512) -> __m512 {
        let c = _mm512_srlv_epi32(words, _mm512_set1_epi32((BITS * j) as i32));
        if BITS == 4 {
            // The permute reads the low 4 bits of each lane: the code.
            return _mm512_permutexvar_ps(c, e2m1);
        }
        let int = |v: i32| _mm512_set1_epi32(v);
        let magnitude = _mm512_and_si512(c, int(0x7f));
        let (e, mantissa) = (
            _mm512_srli_epi32::<3>(magnitude),
            _mm512_and_si512(magnitude, int(7)),
        );
        // Normal (e > 0): (8 + mantissa) * 2^(e - 10); subnormal: mantissa * 2^-9.
        let normal = _mm512_test_epi32_mask(e, e);
        let significand = _mm512_mask_or_epi32(mantissa, normal, mantissa, int(8));
        let exponent = _mm512_sub_epi32(_mm512_max_epi32(e, int(1)), int(10));
        let v = _mm512_scalef_ps(
            _mm512_cvtepi32_ps(significand),
            _mm512_cvtepi32_ps(exponent),
        );
        // 0x7f is NaN; bit 7 the sign.
        let nan = _mm512_cmpeq_epi32_mask(magnitude, int(0x7f));
        let v = _mm512_mask_mov_ps(v, nan, _mm512_set1_ps(f32::NAN));
        let sign = _mm512_slli_epi32::<24>(_mm512_and_si512(c, int(0x80)));
        _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), sign))
    }

    /// The scales of groups `g0..g0 + 16` (fewer at the row's end, the rest 0): their
    /// bytes looked up in `table`.
    #[inline(always)]
    unsafe fn scales16(bytes: &[u8], g0: usize, table: &[f32; 256]) -> __m512 {
        let mut b = [0u8; LANES];
        let n = (bytes.len() - g0).min(LANES);
        b[..n].copy_from_slice(&bytes[g0..g0 + n]);
        let idx = _mm512_cvtepu8_epi32(_mm_loadu_si128(b.as_ptr() as *const __m128i));
        _mm512_i32gather_ps::<4>(idx, table.as_ptr())
    }

    /// `sums[i] = sum_g scale_g * sum(value(code) * x_i)` over one weight row of
    /// `BITS`-bit codes (`words`, scale bytes `bytes`) and `M` rows of `x` in lane order.
    ///
    /// # Safety
    /// The CPU has AVX-512 F; `words` holds `k / span` spans of 16 words, `bytes` a scale
    /// byte per group of `gs` (16 or 32, dividing the span), `xl` `M` rows of k.
    #[target_feature(enable = "avx512f")]
    unsafe fn row_dots<const BITS: usize, const M: usize>(
        words: &[u32],
        bytes: &[u8],
        table: &[f32; 256],
        xl: &[f32],
        k: usize,
        gs: usize,
        sums: &mut [f32],
    ) {
        let per_word = 32 / BITS;
        let span = LANES * per_word;
        let lanes = lane_groups(span, gs);
        let e2m1 = _mm512_loadu_ps(E2M1_TABLE.as_ptr());
        let mut total = [_mm512_setzero_ps(); M];
        let mut scales = _mm512_setzero_ps();
        for b in 0..k / span {
            let g0 = b * span / gs;
            if g0.is_multiple_of(LANES) {
                scales = scales16(bytes, g0, table);
            }
            // The same span of the next row, into L2: 4 KB ahead at 4096 4-bit codes.
            let ahead = words.as_ptr().wrapping_add(words.len() + b * LANES);
            _mm_prefetch::<_MM_HINT_T1>(ahead as *const i8);
            let wv = _mm512_loadu_si512(words.as_ptr().add(b * LANES) as *const _);
            let mut acc = [[_mm512_setzero_ps(); 2]; M];
            for j in 0..per_word {
                let v = decode::<BITS>(wv, j, e2m1);
                for (i, a) in acc.iter_mut().enumerate() {
                    let xv = _mm512_loadu_ps(xl.as_ptr().add(i * k + b * span + j * LANES));
                    a[j & 1] = _mm512_fmadd_ps(v, xv, a[j & 1]);
                }
            }
            let at = _mm512_add_epi32(lanes, _mm512_set1_epi32((g0 % LANES) as i32));
            let s = _mm512_permutexvar_ps(at, scales);
            for (t, a) in total.iter_mut().zip(&acc) {
                *t = _mm512_fmadd_ps(_mm512_add_ps(a[0], a[1]), s, *t);
            }
        }
        for (s, t) in sums.iter_mut().zip(total) {
            *s = _mm512_reduce_add_ps(t);
        }
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
