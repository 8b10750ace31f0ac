//! Affine quantization kernels: packing `bits`-bit codes into uint32 words (a
//! little-endian bit stream along each row, as MLX stores them), unpacking them as
//! `code * scale + bias` per group of `group_size` values, and the quantized matrix
//! product.
//!
//! The product never materialises the float weights for a few rows of `x` (decoding a
//! language model is a quantized matrix-vector product, bound by reading the weights):
//! each weight row's codes are expanded one group at a time and dotted with `x` as
//! `scale * sum(code * x) + bias * sum(x)`. For many rows of `x`, blocks of weight rows
//! are expanded to float32 and multiplied with the GEMM.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;
use std::ops::Range;

/// Code `j` of a packed row.
#[inline(always)]
fn code(words: &[u32], j: usize, bits: usize) -> u32 {
    let bit = j * bits;
    let (w, s) = (bit / 32, bit % 32);
    let lo = (words[w] >> s) as u64;
    let v = if s + bits > 32 {
        lo | ((words[w + 1] as u64) << (32 - s))
    } else {
        lo
    };
    (v as u32) & ((1u32 << bits) - 1)
}

/// Packs each row of `codes` (`rows x n`, each code `< 2^bits`) into `out`
/// (`rows x n * bits / 32` words).
pub fn pack(codes: &[u32], n: usize, bits: usize, out: &mut [u32]) {
    let words = n * bits / 32;
    if n == 0 || words == 0 {
        return;
    }
    out.par_chunks_mut(words)
        .zip(codes.par_chunks(n))
        .for_each(|(dst, src)| {
            dst.fill(0);
            for (j, &c) in src.iter().enumerate() {
                let bit = j * bits;
                let (w, s) = (bit / 32, bit % 32);
                dst[w] |= c << s;
                if s + bits > 32 {
                    dst[w + 1] |= c >> (32 - s);
                }
            }
        });
}

/// Expands one packed row of `n` codes to floats: `code * scale + bias` per group, with
/// `round` applied to the product and to the sum (MLX computes both in the output's
/// dtype: rounding to float16/bfloat16 after each step gives its values bit for bit).
pub fn unpack_row(
    words: &[u32],
    scales: &[f32],
    biases: &[f32],
    bits: usize,
    group_size: usize,
    out: &mut [f32],
    round: impl Fn(f32) -> f32,
) {
    for (g, chunk) in out.chunks_mut(group_size).enumerate() {
        let (s, b) = (scales[g], biases[g]);
        for (i, o) in chunk.iter_mut().enumerate() {
            *o = round(round(code(words, g * group_size + i, bits) as f32 * s) + b);
        }
    }
}

/// The layout of a quantized weight matrix `w` of `rows x cols` values, quantized along
/// `cols` (each row: `cols * bits / 32` words, `cols / group_size` scales and biases).
#[derive(Clone, Copy, Debug)]
pub struct Packed<'a> {
    pub words: &'a [u32],
    pub scales: &'a [f32],
    pub biases: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub bits: usize,
    pub group_size: usize,
}

impl Packed<'_> {
    #[inline]
    fn row(&self, r: usize) -> (&[u32], &[f32], &[f32]) {
        let (wpr, gpr) = (self.cols * self.bits / 32, self.cols / self.group_size);
        (
            &self.words[r * wpr..(r + 1) * wpr],
            &self.scales[r * gpr..(r + 1) * gpr],
            &self.biases[r * gpr..(r + 1) * gpr],
        )
    }

    /// Rows `r0..r1` expanded into `out` (row-major, `cols` per row), each value
    /// `code * scale + bias` (two roundings, as [`unpack_row`] without a narrower type).
    fn expand(&self, r0: usize, r1: usize, out: &mut [f32]) {
        let gs = self.group_size;
        let group: Option<ExpandGroup> = match self.bits {
            2 => Some(expand_2),
            4 => Some(expand_4),
            8 => Some(expand_8),
            _ => None,
        };
        for (r, dst) in (r0..r1).zip(out.chunks_mut(self.cols)) {
            let (w, s, b) = self.row(r);
            let Some(group) = group else {
                unpack_row(w, s, b, self.bits, gs, dst, |v| v);
                continue;
            };
            let words = gs * self.bits / 32;
            for (((o, w), &s), &b) in dst.chunks_mut(gs).zip(w.chunks(words)).zip(s).zip(b) {
                group(w, s, b, o);
            }
        }
    }
}

/// A group's expansion: `(words, scale, bias, out)`.
type ExpandGroup = fn(&[u32], f32, f32, &mut [f32]);

/// One group of `BITS`-bit codes (`BITS` dividing 32) expanded: `code * s + b`. Each
/// word's codes fill a vector of floats (one variable shift per lane).
#[inline(always)]
fn expand_codes<const BITS: usize>(words: &[u32], s: f32, b: f32, out: &mut [f32]) {
    let per_word = 32 / BITS;
    let mask = (1u32 << BITS) - 1;
    for (o, &word) in out.chunks_exact_mut(per_word).zip(words) {
        for (j, v) in o.iter_mut().enumerate() {
            *v = ((word >> (BITS * j)) & mask) as f32 * s + b;
        }
    }
}

simd_kernel! {
    fn expand_2(words: &[u32], s: f32, b: f32, out: &mut [f32]) {
        expand_codes::<2>(words, s, b, out)
    }
}
simd_kernel! {
    fn expand_4(words: &[u32], s: f32, b: f32, out: &mut [f32]) {
        expand_codes::<4>(words, s, b, out)
    }
}
simd_kernel! {
    fn expand_8(words: &[u32], s: f32, b: f32, out: &mut [f32]) {
        expand_codes::<8>(words, s, b, out)
    }
}

/// Rows of `x` up to which the product runs as dot products against the codes.
pub(super) const DOT_ROWS: usize = 4;

/// Rows of `x` up to which the product runs as matrix-vector products, [`DOT_ROWS`] at
/// a time, rather than expanding the matrix for a GEMM. Measured at (m, 4096) x
/// (4096, 14336): 4 rows a pass cost 4 ms at 4 bits and 6 at 8; the expansion and GEMM
/// ~90 ms at m = 8, 118 at 64, 150 at 128; the fp modes alike.
pub(super) const QMV_ROWS: usize = 64;

/// `out (m x n) = x (m x k) @ w.T` for `w` quantized `n x k` (`transpose`, as a linear
/// layer stores it), or `x @ w` for `w` quantized `k x n`.
pub fn qmm(x: &[f32], m: usize, w: &Packed, transpose: bool, out: &mut [f32]) {
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
        // 4 rows of x at a time: each pass reads the matrix again, which up to QMV_ROWS
        // rows costs less than expanding it to float32 for a GEMM.
        for (xs, os) in x.chunks(DOT_ROWS * k).zip(out.chunks_mut(DOT_ROWS * n)) {
            qmv(xs, xs.len() / k, w, os);
        }
        return;
    }
    if !transpose {
        // Expand the whole matrix (in parallel), then one GEMM.
        let mut full = vec![0.0f32; k * n];
        full.par_chunks_mut(n)
            .enumerate()
            .for_each(|(r, dst)| w.expand(r, r + 1, dst));
        // SAFETY: row-major x (m x k), full (k x n), out (m x n).
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
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                Parallelism::Rayon(rayon::current_num_threads()),
            );
        }
        return;
    }
    // Blocks of weight rows expanded to float32, each multiplied on one thread.
    const BLOCK: usize = 64;
    let op = out.as_mut_ptr() as usize;
    (0..n.div_ceil(BLOCK)).into_par_iter().for_each_init(
        || vec![0.0f32; BLOCK * k],
        |buf, b| {
            let (r0, r1) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
            w.expand(r0, r1, buf);
            // SAFETY: columns r0..r1 of out are written by this block only; buf holds
            // (r1 - r0) rows of k, read as the k x (r1 - r0) right operand.
            unsafe {
                gemm(
                    m,
                    r1 - r0,
                    k,
                    (op as *mut f32).add(r0),
                    1,
                    n as isize,
                    false,
                    x.as_ptr(),
                    1,
                    k as isize,
                    buf.as_ptr(),
                    k as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        },
    );
}

/// A matrix-vector product's output, `m x n` row-major, written by parallel tasks: each task
/// stores the columns of its own weight rows.
#[derive(Clone, Copy)]
pub(super) struct Out(*mut f32, usize);
// SAFETY: tasks write disjoint elements (each its own columns) and nothing reads
// them until every task has finished.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// `out`, of `n` columns.
    pub(super) fn new(out: &mut [f32], n: usize) -> Out {
        Out(out.as_mut_ptr(), n)
    }

    /// Stores weight row `r`'s products with the rows of `x` (column `r`).
    ///
    /// # Safety
    /// `r < n`, `sums.len()` at most the output's rows, and no other task writes
    /// column `r`.
    #[inline(always)]
    pub(super) unsafe fn store(self, r: usize, sums: &[f32]) {
        for (i, &v) in sums.iter().enumerate() {
            *self.0.add(i * self.1 + r) = v;
        }
    }
}

/// Runs `task(rows)` over ranges covering `0..n`, in parallel; each range but the
/// last is a whole number of `block`s.
pub(super) fn for_row_tasks(n: usize, block: usize, task: impl Fn(Range<usize>) + Sync) {
    let rows_per_task = (n / (rayon::current_num_threads() * 8))
        .clamp(16, 1024)
        .next_multiple_of(block);
    (0..n.div_ceil(rows_per_task))
        .into_par_iter()
        .for_each(|t| task(t * rows_per_task..((t + 1) * rows_per_task).min(n)));
}

/// The product for a few rows of `x` ([`qmv_rows`]). The kernels scale `x` down (the
/// lane kernels by up to 2^-28; the integer one counts in steps of a group's largest
/// value / 2^23), so values near float32's smallest would turn subnormal and lose their
/// digits: a row whose values all lie below 2^-60 runs scaled up by 2^64 (exactly), and
/// its outputs are scaled back.
fn qmv(x: &[f32], m: usize, w: &Packed, out: &mut [f32]) {
    let (k, n) = (w.cols, w.rows);
    // A row of ordinary values stops at its first.
    let tiny: Vec<bool> = x
        .chunks(k)
        .map(|row| row.iter().all(|v| v.abs() < 2f32.powi(-60)))
        .collect();
    if !tiny.contains(&true) {
        return qmv_rows(x, m, w, out);
    }
    let up: Vec<f32> = x
        .chunks(k)
        .zip(&tiny)
        .flat_map(|(row, &t)| {
            row.iter()
                .map(move |&v| if t { v * 2f32.powi(64) } else { v })
        })
        .collect();
    qmv_rows(&up, m, w, out);
    for (row, _) in out.chunks_mut(n).zip(&tiny).filter(|(_, &t)| t) {
        row.iter_mut().for_each(|v| *v *= 2f32.powi(-64));
    }
}

/// The product for a few rows of `x`: every weight row against every row of `x`, in
/// parallel over weight rows. On x86-64 with AVX-512 the kernels of [`avx512`] run where
/// the shape suits them; otherwise widths that divide 32 (2, 4 and 8 bits) run the lane
/// kernel below, and the others expand code by code.
fn qmv_rows(x: &[f32], m: usize, w: &Packed, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512::qmv(x, m, w, out) {
        return;
    }
    let (k, n, gs) = (w.cols, w.rows, w.group_size);
    let groups = k / gs;
    // Per row of x, the sum of each group (the bias term's factor).
    let xsums: Vec<f32> = x
        .chunks(k)
        .flat_map(|row| row.chunks(gs).map(|g| g.iter().sum::<f32>()))
        .collect();
    let lanes = matches!(w.bits, 2 | 4 | 8);
    let xl: Vec<f32> = if lanes {
        x.chunks(k)
            .flat_map(|row| to_lanes(row, w.bits, gs))
            .collect()
    } else {
        Vec::new()
    };
    let out = Out::new(out, n);
    for_row_tasks(n, 1, |rows| {
        let mut sums = [0.0f32; DOT_ROWS];
        for r in rows {
            let (words, scales, biases) = w.row(r);
            for (i, s) in sums[..m].iter_mut().enumerate() {
                let xs = &xsums[i * groups..(i + 1) * groups];
                let bias: f32 = biases.iter().zip(xs).map(|(b, s)| b * s).sum();
                let codes = if lanes {
                    lane_dot(words, &xl[i * k..(i + 1) * k], scales, w.bits, gs)
                } else {
                    let xi = &x[i * k..(i + 1) * k];
                    (0..groups)
                        .map(|g| {
                            scales[g] * dot_any(words, g * gs, &xi[g * gs..(g + 1) * gs], w.bits)
                        })
                        .sum()
                };
                *s = codes + bias;
            }
            // SAFETY: this task alone writes row r's column of out.
            unsafe { out.store(r, &sums[..m]) };
        }
    });
}

/// A row of `x` reordered to match packed words lane by lane: within each group of
/// `gs` values (`gs * bits / 32` words, one lane each), position `j * lanes + i` holds
/// the value of code `j` of word `i`, times `2^(-bits * j)` for all but the last code.
/// Then code `j` of every word of a group multiplies one contiguous vector of `x`, and
/// is read in place as `word & (mask << bits * j)` (that is `code * 2^(bits * j)`, the
/// power of two undone by the scaled `x`, exactly): a mask, a conversion and a
/// multiply-add per lane, no shift and no shuffle. (The last code is shifted down: in
/// place its top bit would read as a sign.)
fn to_lanes(row: &[f32], bits: usize, gs: usize) -> Vec<f32> {
    let per_word = 32 / bits;
    let lanes = gs / per_word;
    // 2^(-bits * j), built exactly from its exponent (bits * j <= 28).
    let unscale: Vec<f32> = (0..per_word)
        .map(|j| {
            if j + 1 < per_word {
                f32::from_bits((127 - (bits * j) as u32) << 23)
            } else {
                1.0
            }
        })
        .collect();
    let mut out = vec![0.0; row.len()];
    for (src, dst) in row.chunks(gs).zip(out.chunks_mut(gs)) {
        for i in 0..lanes {
            for (j, &u) in unscale.iter().enumerate() {
                dst[j * lanes + i] = src[i * per_word + j] * u;
            }
        }
    }
    out
}

/// `sum_g scale_g * sum(code * x)` over a packed row, `x` in lane order ([`to_lanes`]).
fn lane_dot(words: &[u32], xl: &[f32], scales: &[f32], bits: usize, gs: usize) -> f32 {
    match (bits, gs) {
        (4, 32) => lanes_4_32(words, xl, scales),
        (4, 64) => lanes_4_64(words, xl, scales),
        (4, 128) => lanes_4_128(words, xl, scales),
        (8, 32) => lanes_8_32(words, xl, scales),
        (8, 64) => lanes_8_64(words, xl, scales),
        (8, 128) => lanes_8_128(words, xl, scales),
        (2, 32) => lanes_2_32(words, xl, scales),
        (2, 64) => lanes_2_64(words, xl, scales),
        _ => lanes_2_128(words, xl, scales),
    }
}

/// The lane kernel for `BITS`-bit codes in groups of `L` words: per group, `L` lane
/// accumulators over the codes of each word, then scaled into `L` running totals.
#[inline(always)]
fn lanes<const BITS: usize, const L: usize>(words: &[u32], xl: &[f32], scales: &[f32]) -> f32 {
    let per_word = 32 / BITS;
    let mask = (1u32 << BITS) - 1;
    let mut total = [0.0f32; L];
    for ((wg, xg), &s) in words
        .chunks_exact(L)
        .zip(xl.chunks_exact(L * per_word))
        .zip(scales)
    {
        let mut acc = [0.0f32; L];
        for j in 0..per_word - 1 {
            let xj = &xg[j * L..(j + 1) * L];
            for i in 0..L {
                // code * 2^(BITS * j) < 2^31: a signed conversion, exact.
                acc[i] += (wg[i] & (mask << (BITS * j))) as i32 as f32 * xj[i];
            }
        }
        let last = per_word - 1;
        let xj = &xg[last * L..];
        for i in 0..L {
            acc[i] += (wg[i] >> (BITS * last)) as i32 as f32 * xj[i];
        }
        for i in 0..L {
            total[i] += acc[i] * s;
        }
    }
    total.iter().sum()
}

macro_rules! lane_kernels {
    ($($name:ident: $bits:literal, $lanes:literal;)*) => {$(
        simd_kernel! {
            fn $name(words: &[u32], xl: &[f32], scales: &[f32]) -> f32 {
                lanes::<$bits, $lanes>(words, xl, scales)
            }
        }
    )*};
}

lane_kernels! {
    lanes_4_32: 4, 4;
    lanes_4_64: 4, 8;
    lanes_4_128: 4, 16;
    lanes_8_32: 8, 8;
    lanes_8_64: 8, 16;
    lanes_8_128: 8, 32;
    lanes_2_32: 2, 2;
    lanes_2_64: 2, 4;
    lanes_2_128: 2, 8;
}

/// `sum(code_j * x_j)` for any width, code by code.
fn dot_any(words: &[u32], first: usize, x: &[f32], bits: usize) -> f32 {
    x.iter()
        .enumerate()
        .map(|(i, &v)| code(words, first + i, bits) as f32 * v)
        .sum()
}

/// The product for a few rows of `x` with AVX-512, chosen at run time (the build
/// targets baseline x86-64). Both kernels read the packed words 16 at a time, one per
/// 32-bit lane, so lane `i` always holds word `i` of a span of 16 words; its group is
/// known from `i`, and one vector of scales (a broadcast, or a permutation of the
/// span's few scales) serves the whole span. A span is 64 bytes: 128 codes of 4 bits.
///
/// - 4 bits with VNNI: the codes are split into two vectors of bytes (low and high
///   nibbles) and dotted with `x` as integers by `vpdpbusd`, 64 products an
///   instruction. Each value of `x` becomes a 23-bit integer against a float scale per
///   group, written as three signed base-256 digits; the three digit dots recombine
///   exactly in 32 bits (`(a1 << 16) + (a2 << 8) + a3`), so the result is as accurate
///   as the float kernel (the integer is rounded once, like a float32 mantissa,
///   relative to the group's largest value).
/// - 2, 4 and 8 bits otherwise: the float lane kernel on full 16-lane vectors.
///
/// The bias term, `sum_g bias_g * sum(x in group g)`, is a 16-wide dot product per row.
#[cfg(target_arch = "x86_64")]
pub(super) mod avx512 {
    use super::{for_row_tasks, to_lanes, Out, Packed, DOT_ROWS};
    use std::arch::x86_64::*;
    use std::ops::Range;

    /// 32-bit lanes of a vector: words of a span.
    const LANES: usize = 16;
    /// Codes of a span for the VNNI kernel (16 words of 4 bits).
    const SPAN4: usize = 128;
    /// Bytes of `x` per span for the VNNI kernel: 3 digits, low and high nibbles.
    const DIGIT_BYTES: usize = 6 * 64;

    /// Runs the product if this CPU and shape suit a kernel here; false otherwise.
    pub(super) fn qmv(x: &[f32], m: usize, w: &Packed, out: &mut [f32]) -> bool {
        let (k, gs) = (w.cols, w.group_size);
        if !matches!(w.bits, 2 | 4 | 8)
            || !gs.is_power_of_two()
            || gs < LANES
            || !(1..=DOT_ROWS).contains(&m)
            || k == 0
            || k % gs != 0
            || !is_x86_feature_detected!("avx512f")
        {
            return false;
        }
        let groups = k / gs;
        // SAFETY: the CPU has AVX-512 F; x holds m rows of k, a multiple of gs, itself a
        // multiple of 16.
        let xsums = unsafe { group_sums(x, gs) };
        let out = Out::new(out, w.rows);
        if w.bits == 4
            && k % SPAN4 == 0
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
        {
            let spans = k / SPAN4;
            let mut digits = vec![0i8; m * spans * DIGIT_BYTES];
            let mut xscale = vec![0.0f32; m * groups];
            let exact = x
                .chunks(k)
                .zip(digits.chunks_mut(spans * DIGIT_BYTES))
                .zip(xscale.chunks_mut(groups))
                // SAFETY: the CPU has AVX-512 F; each row of k values holds `spans` spans,
                // its digits `spans` spans of digits, and gs is a multiple of 16.
                .all(|((row, d), s)| unsafe { to_digits(row, gs, d, s) });
            if exact {
                // Weight rows per pass: each span of `x` (six vectors of digits) is loaded
                // once for `block` rows, so at one row of x a row's span costs 2.5 vector
                // loads instead of 7. Fewer rows of `x` leave registers for more weight rows.
                type Kernel = unsafe fn(&Packed, Range<usize>, &[i8], &[f32], &[f32], Out);
                let (block, kernel, one): (usize, Kernel, Kernel) = match m {
                    1 => (4, vnni_rows::<1, 4>, vnni_rows::<1, 1>),
                    2 => (2, vnni_rows::<2, 2>, vnni_rows::<2, 1>),
                    3 => (1, vnni_rows::<3, 1>, vnni_rows::<3, 1>),
                    _ => (1, vnni_rows::<4, 1>, vnni_rows::<4, 1>),
                };
                for_row_tasks(w.rows, block, |rows| {
                    let whole = rows.start + rows.len() / block * block;
                    // SAFETY: the CPU has AVX-512 F, BW and VNNI (checked above); `digits`
                    // holds m rows of k / 128 spans, `xscale` and `xsums` m rows of
                    // `groups`; the first range is whole blocks, the second single rows;
                    // this task alone writes these rows' columns of `out`.
                    unsafe {
                        kernel(w, rows.start..whole, &digits, &xscale, &xsums, out);
                        one(w, whole..rows.end, &digits, &xscale, &xsums, out);
                    }
                });
                return true;
            }
        }
        let span = LANES * 32 / w.bits;
        if k % span != 0 {
            return false;
        }
        let xl: Vec<f32> = x
            .chunks(k)
            .flat_map(|row| to_lanes(row, w.bits, span))
            .collect();
        let kernel = match (w.bits, m) {
            (4, 1) => float_row::<4, 1>,
            (4, 2) => float_row::<4, 2>,
            (4, 3) => float_row::<4, 3>,
            (4, _) => float_row::<4, 4>,
            (8, 1) => float_row::<8, 1>,
            (8, 2) => float_row::<8, 2>,
            (8, 3) => float_row::<8, 3>,
            (8, _) => float_row::<8, 4>,
            (_, 1) => float_row::<2, 1>,
            (_, 2) => float_row::<2, 2>,
            (_, 3) => float_row::<2, 3>,
            _ => float_row::<2, 4>,
        };
        for_row_tasks(w.rows, 1, |rows| {
            let mut sums = [0.0f32; DOT_ROWS];
            for r in rows {
                let (words, scales, biases) = w.row(r);
                // SAFETY: the CPU has AVX-512 F (checked above); `words` holds a multiple
                // of 16 words (k is a multiple of the span), `xl` m rows of k, `xsums` m
                // rows of `groups` sums; this task alone writes row r's column of `out`.
                unsafe {
                    kernel(
                        words,
                        scales,
                        biases,
                        &xl,
                        &xsums,
                        k,
                        gs,
                        groups,
                        &mut sums[..m],
                    );
                    out.store(r, &sums[..m]);
                }
            }
        });
        true
    }

    /// A weight row: its words, scales and biases.
    type Row<'a> = (&'a [u32], &'a [f32], &'a [f32]);

    /// The sum of each group of `gs` values of `x` (the bias term's factor).
    ///
    /// # Safety
    /// The CPU has AVX-512 F; `gs` is a multiple of 16 that divides `x.len()`.
    #[target_feature(enable = "avx512f")]
    unsafe fn group_sums(x: &[f32], gs: usize) -> Vec<f32> {
        x.chunks_exact(gs)
            .map(|g| {
                let mut acc = _mm512_setzero_ps();
                for c in g.chunks_exact(LANES) {
                    acc = _mm512_add_ps(acc, _mm512_loadu_ps(c.as_ptr()));
                }
                _mm512_reduce_add_ps(acc)
            })
            .collect()
    }

    /// One row of `x` as digits for [`vnni_rows`]: per group of `gs` values, `scale` is
    /// the group's largest magnitude / 126 / 2^16 and each value `v` is the integer
    /// `round(v / scale) = d1 * 2^16 + d2 * 2^8 + d3` (`d2` and `d3` in -128..128, so
    /// `|d1| <= 127`): 23 bits against the group's largest value. Byte `q` of a span's
    /// words holds codes `2q` (low nibble) and `2q + 1` (high), so digit `t` of the span's
    /// value `2q + h` sits at byte `(2t + h) * 64 + q` of the span's digits.
    /// False where a value is not finite or a group's scale would be subnormal: the float
    /// kernels serve those (and give NaN and infinity as the float product does).
    ///
    /// # Safety
    /// The CPU has AVX-512 F; `row` is whole spans of 128 values, `digits` as many spans
    /// of digits, `scale` one per group, and `gs` a multiple of 16.
    #[target_feature(enable = "avx512f")]
    unsafe fn to_digits(row: &[f32], gs: usize, digits: &mut [i8], scale: &mut [f32]) -> bool {
        // Each group's largest magnitude, compared as bits: for non-negative floats the
        // order of the bits is the order of the values, and infinity and NaN lie above
        // every finite value.
        let magnitude = _mm512_set1_epi32(i32::MAX);
        for (src, s) in row.chunks_exact(gs).zip(scale.iter_mut()) {
            let mut top = _mm512_setzero_si512();
            for c in src.chunks_exact(LANES) {
                let bits = _mm512_loadu_si512(c.as_ptr() as *const _);
                top = _mm512_max_epu32(top, _mm512_and_si512(bits, magnitude));
            }
            let amax = f32::from_bits(_mm512_reduce_max_epu32(top));
            if !amax.is_finite() {
                return false;
            }
            // Zero for an all-zero group: its digits are 0 and give 0 (with any scale).
            let unit = amax / 126.0 / 65536.0;
            if amax != 0.0 && unit < f32::MIN_POSITIVE {
                return false;
            }
            *s = unit;
        }
        let sign = _mm512_set1_epi32(i32::MIN);
        let half = _mm512_castps_si512(_mm512_set1_ps(0.5));
        let (c128, byte) = (_mm512_set1_epi32(128), _mm512_set1_epi32(255));
        // A value as its low byte, two's complement (-128..128), and the rest.
        let low_digit =
            |v| _mm512_sub_epi32(_mm512_and_si512(_mm512_add_epi32(v, c128), byte), c128);
        for (b, (src, d)) in row
            .chunks_exact(SPAN4)
            .zip(digits.chunks_exact_mut(DIGIT_BYTES))
            .enumerate()
        {
            for (c, v) in src.chunks_exact(LANES).enumerate() {
                let unit = scale[(b * SPAN4 + c * LANES) / gs];
                let inv = if unit == 0.0 { 0.0 } else { 1.0 / unit };
                let t = _mm512_mul_ps(_mm512_loadu_ps(v.as_ptr()), _mm512_set1_ps(inv));
                // |t| <= 126 * 2^16 < 2^23: t + copysign(0.5, t) is exact, truncation
                // rounds half away from zero.
                let h = _mm512_or_si512(half, _mm512_and_si512(_mm512_castps_si512(t), sign));
                let q = _mm512_cvttps_epi32(_mm512_add_ps(t, _mm512_castsi512_ps(h)));
                let d3 = low_digit(q);
                let q = _mm512_srai_epi32::<8>(_mm512_sub_epi32(q, d3));
                let d2 = low_digit(q);
                let d1 = _mm512_srai_epi32::<8>(_mm512_sub_epi32(q, d2));
                // As 64-bit lanes, lane p holds values 2p (low half) and 2p + 1 (high):
                // their low bytes are digit bytes p of the even and odd planes.
                for (t, digit) in [d1, d2, d3].into_iter().enumerate() {
                    let even = _mm512_cvtepi64_epi8(digit);
                    let odd = _mm512_cvtepi64_epi8(_mm512_srli_epi64::<32>(digit));
                    let at = d.as_mut_ptr().add(2 * t * 64 + c * 8);
                    _mm_storel_epi64(at as *mut __m128i, even);
                    _mm_storel_epi64(at.add(64) as *mut __m128i, odd);
                }
            }
        }
        true
    }

    /// Lane `i` of a span of `span` codes lies in group `i * (span / 16) / gs` past the
    /// span's first: the index vector that spreads the span's scales over the lanes.
    #[inline(always)]
    pub(in crate::backend::cpu) unsafe fn lane_groups(span: usize, gs: usize) -> __m512i {
        let codes_per_lane = (span / LANES) as i32;
        let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        _mm512_srlv_epi32(
            _mm512_mullo_epi32(lanes, _mm512_set1_epi32(codes_per_lane)),
            _mm512_set1_epi32(gs.trailing_zeros() as i32),
        )
    }

    /// The scale of each lane of span `b`: a broadcast where the span lies in one group,
    /// else the span's `per_span` scales spread by `lanes` ([`lane_groups`]).
    #[inline(always)]
    pub(in crate::backend::cpu) unsafe fn span_scales(
        scales: &[f32],
        b: usize,
        span: usize,
        gs_log: u32,
        per_span: usize,
        lanes: __m512i,
    ) -> __m512 {
        let g0 = (b * span) >> gs_log;
        if per_span == 1 {
            _mm512_set1_ps(*scales.get_unchecked(g0))
        } else {
            let mask = ((1u32 << per_span) - 1) as __mmask16;
            _mm512_permutexvar_ps(lanes, _mm512_maskz_loadu_ps(mask, scales.as_ptr().add(g0)))
        }
    }

    /// `sum_g bias_g * xsum_g` for `M` rows of `xsums` (`groups` each), 16 at a time.
    #[inline(always)]
    unsafe fn bias_terms<const M: usize>(
        biases: &[f32],
        xsums: &[f32],
        groups: usize,
    ) -> [__m512; M] {
        let mut acc = [_mm512_setzero_ps(); M];
        for g in (0..groups).step_by(LANES) {
            let mask = if groups - g >= LANES {
                0xffff
            } else {
                ((1u32 << (groups - g)) - 1) as __mmask16
            };
            let b = _mm512_maskz_loadu_ps(mask, biases.as_ptr().add(g));
            for (i, a) in acc.iter_mut().enumerate() {
                let s = _mm512_maskz_loadu_ps(mask, xsums.as_ptr().add(i * groups + g));
                *a = _mm512_fmadd_ps(b, s, *a);
            }
        }
        acc
    }

    /// Asks for span `b` (16 words) of the row `block` rows past this one (the same row
    /// of the next block: 8 KB ahead at 4 rows of 4096 4-bit codes), with its scales and
    /// biases. Left to the hardware, the loads of scales and of words stalled (a third of
    /// the time at one thread, `perf`); a block ahead is far enough to hide memory's
    /// latency and near enough to stay in L2. Prefetches never fault, so the addresses
    /// past the matrix's end are harmless (`wrapping_add`: never dereferenced).
    #[inline(always)]
    unsafe fn prefetch_next_block(
        words: &[u32],
        scales: &[f32],
        biases: &[f32],
        block: usize,
        b: usize,
    ) {
        // Words into L2 (T1): measured 15 % faster than into L1 (T0), which holds up the
        // core's few L1 miss buffers; the scales, few and read at once, into L1.
        let words_ahead = words.as_ptr().wrapping_add(block * words.len() + b * LANES);
        _mm_prefetch::<_MM_HINT_T1>(words_ahead as *const i8);
        let line = |p: *const f32| _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
        // A line holds 16 scales or biases: the b-th line for the first lines of each.
        let (groups, at) = (scales.len(), b * LANES);
        if at < groups {
            line(scales.as_ptr().wrapping_add(block * groups + at));
            line(biases.as_ptr().wrapping_add(block * groups + at));
        }
    }

    /// For each weight row `r` of `rows` (`R` at a time: `rows.len()` is a multiple of
    /// `R`) and each of `M` rows of `x` as digits with a scale per group ([`to_digits`]),
    /// stores `sum_g scale_g * sum(code * x_i) + bias_g * xsum_ig` at `out[i][r]`.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI; `w` is 4-bit with k a multiple of 128 and
    /// group size a power of two; `digits` holds `M` rows of k / 128 spans, `xscale` and
    /// `xsums` `M` rows of a value per group; no other task writes these rows' columns.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni_rows<const M: usize, const R: usize>(
        w: &Packed,
        rows: Range<usize>,
        digits: &[i8],
        xscale: &[f32],
        xsums: &[f32],
        out: Out,
    ) {
        for r in rows.step_by(R) {
            let block: [Row; R] = std::array::from_fn(|j| w.row(r + j));
            let sums = vnni_block::<M, R>(&block, digits, xscale, xsums, w.cols, w.group_size);
            for (j, s) in sums.iter().enumerate() {
                out.store(r + j, s);
            }
        }
    }

    /// [`vnni_rows`] for one block of `R` weight rows: `sums[j][i]` for weight row `j` and
    /// row `i` of `x`.
    #[inline(always)]
    unsafe fn vnni_block<const M: usize, const R: usize>(
        rows: &[Row; R],
        digits: &[i8],
        xscale: &[f32],
        xsums: &[f32],
        k: usize,
        gs: usize,
    ) -> [[f32; M]; R] {
        let (spans, groups) = (k / SPAN4, k / gs);
        let gs_log = gs.trailing_zeros();
        let lanes = lane_groups(SPAN4, gs);
        let nibble = _mm512_set1_epi8(0x0f);
        let zero = _mm512_setzero_si512();
        let mut total = [[_mm512_setzero_ps(); M]; R];
        // The scales of the next 16 groups, each weight row's times each row of x's: one
        // load and multiply per 8 spans (at group size 64), and per span a permute that
        // spreads them over its lanes. (A load and multiply per span took 12 % longer.)
        let mut scales16 = [[_mm512_setzero_ps(); M]; R];
        for b in 0..spans {
            let g0 = (b * SPAN4) >> gs_log;
            if g0.is_multiple_of(LANES) && (b * SPAN4).is_multiple_of(gs) {
                let mask = (1u32 << (groups - g0).min(LANES)).wrapping_sub(1) as __mmask16;
                let mut xs = [_mm512_setzero_ps(); M];
                for (i, x) in xs.iter_mut().enumerate() {
                    *x = _mm512_maskz_loadu_ps(mask, xscale.as_ptr().add(i * groups + g0));
                }
                for (row, s16) in rows.iter().zip(scales16.iter_mut()) {
                    let ws = _mm512_maskz_loadu_ps(mask, row.1.as_ptr().add(g0));
                    for (s, x) in s16.iter_mut().zip(&xs) {
                        *s = _mm512_mul_ps(ws, *x);
                    }
                }
            }
            let at = _mm512_add_epi32(lanes, _mm512_set1_epi32((g0 % LANES) as i32));
            let (mut lo, mut hi) = ([zero; R], [zero; R]);
            for j in 0..R {
                let (words, scales, biases) = rows[j];
                prefetch_next_block(words, scales, biases, R, b);
                let wv = _mm512_loadu_si512(words.as_ptr().add(b * LANES) as *const _);
                lo[j] = _mm512_and_si512(wv, nibble);
                hi[j] = _mm512_and_si512(_mm512_srli_epi32::<4>(wv), nibble);
            }
            for i in 0..M {
                let d = digits.as_ptr().add((i * spans + b) * DIGIT_BYTES);
                let mut dv = [zero; 6];
                for (q, v) in dv.iter_mut().enumerate() {
                    *v = _mm512_loadu_si512(d.add(q * 64) as *const _);
                }
                for j in 0..R {
                    // (((a1 << 8) + a2) << 8) + a3, the digit dots accumulated in place:
                    // |a| <= 8 codes * 15 * 127 * 2^16 < 2^31.
                    let dot = |acc, d0, d1| {
                        _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(acc, lo[j], d0), hi[j], d1)
                    };
                    let a = _mm512_slli_epi32::<8>(dot(zero, dv[0], dv[1]));
                    let a = _mm512_slli_epi32::<8>(dot(a, dv[2], dv[3]));
                    let a = dot(a, dv[4], dv[5]);
                    let s = _mm512_permutexvar_ps(at, scales16[j][i]);
                    total[j][i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), s, total[j][i]);
                }
            }
        }
        let mut sums = [[0.0; M]; R];
        for j in 0..R {
            let bias = bias_terms::<M>(rows[j].2, xsums, groups);
            for i in 0..M {
                sums[j][i] = _mm512_reduce_add_ps(total[j][i]) + _mm512_reduce_add_ps(bias[i]);
            }
        }
        sums
    }

    /// As [`vnni_rows`] for one row of `BITS`-bit codes against `x` in lane order ([`to_lanes`]
    /// with spans of 16 words): per code position one mask, conversion and
    /// multiply-add on 16 lanes (two accumulators, to halve the chain of adds).
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn float_row<const BITS: usize, const M: usize>(
        words: &[u32],
        scales: &[f32],
        biases: &[f32],
        xl: &[f32],
        xsums: &[f32],
        k: usize,
        gs: usize,
        groups: usize,
        sums: &mut [f32],
    ) {
        let per_word = 32 / BITS;
        let span = LANES * per_word;
        let mask = (1u32 << BITS) - 1;
        let gs_log = gs.trailing_zeros();
        let per_span = (span / gs).max(1);
        let lanes = lane_groups(span, gs);
        let mut total = [_mm512_setzero_ps(); M];
        for b in 0..k / span {
            prefetch_next_block(words, scales, biases, 1, b);
            let wv = _mm512_loadu_si512(words.as_ptr().add(b * LANES) as *const _);
            let mut acc = [[_mm512_setzero_ps(); 2]; M];
            for j in 0..per_word {
                let c = if j + 1 < per_word {
                    _mm512_and_si512(wv, _mm512_set1_epi32((mask << (BITS * j)) as i32))
                } else {
                    // The top code shifted down: in place its top bit reads as a sign.
                    match BITS {
                        2 => _mm512_srli_epi32::<30>(wv),
                        4 => _mm512_srli_epi32::<28>(wv),
                        _ => _mm512_srli_epi32::<24>(wv),
                    }
                };
                let c = _mm512_cvtepi32_ps(c);
                for (i, a) in acc.iter_mut().enumerate() {
                    let xv = _mm512_loadu_ps(xl.as_ptr().add(i * k + b * span + j * LANES));
                    a[j & 1] = _mm512_fmadd_ps(c, xv, a[j & 1]);
                }
            }
            let sv = span_scales(scales, b, span, gs_log, per_span, lanes);
            for (t, a) in total.iter_mut().zip(&acc) {
                *t = _mm512_fmadd_ps(_mm512_add_ps(a[0], a[1]), sv, *t);
            }
        }
        let bias = bias_terms::<M>(biases, xsums, groups);
        for ((s, t), b) in sums.iter_mut().zip(total).zip(bias) {
            *s = _mm512_reduce_add_ps(t) + _mm512_reduce_add_ps(b);
        }
    }
}

/// Every row of `w` expanded into `out` (row-major `rows x cols`), rows in parallel,
/// each step rounded by `round` (see [`unpack_row`]).
pub fn dequantize(w: &Packed, out: &mut [f32], round: impl Fn(f32) -> f32 + Sync) {
    if w.cols == 0 {
        return;
    }
    out.par_chunks_mut(w.cols).enumerate().for_each(|(r, dst)| {
        let (words, s, b) = w.row(r);
        unpack_row(words, s, b, w.bits, w.group_size, dst, &round);
    });
}
