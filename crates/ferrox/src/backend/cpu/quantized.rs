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
    fn row(&self, r: usize) -> (&[u32], &[f32], &[f32]) {
        let (wpr, gpr) = (self.cols * self.bits / 32, self.cols / self.group_size);
        (
            &self.words[r * wpr..(r + 1) * wpr],
            &self.scales[r * gpr..(r + 1) * gpr],
            &self.biases[r * gpr..(r + 1) * gpr],
        )
    }

    /// Rows `r0..r1` expanded into `out` (row-major, `cols` per row).
    fn expand(&self, r0: usize, r1: usize, out: &mut [f32]) {
        for (r, dst) in (r0..r1).zip(out.chunks_mut(self.cols)) {
            let (w, s, b) = self.row(r);
            unpack_row(w, s, b, self.bits, self.group_size, dst, |v| v);
        }
    }
}

/// Rows of `x` up to which the product runs as dot products against the codes.
const DOT_ROWS: usize = 4;

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
    if transpose && m <= DOT_ROWS {
        return qmv(x, m, w, out);
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

/// The product for a few rows of `x`: every weight row against every row of `x`, in
/// parallel over weight rows. Widths that divide 32 (2, 4 and 8 bits) run the lane
/// kernel below; the others expand code by code.
fn qmv(x: &[f32], m: usize, w: &Packed, out: &mut [f32]) {
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
    let op = out.as_mut_ptr() as usize;
    let rows_per_task = (n / (rayon::current_num_threads() * 8)).clamp(16, 1024);
    (0..n.div_ceil(rows_per_task))
        .into_par_iter()
        .for_each(|t| {
            let (r0, r1) = (t * rows_per_task, ((t + 1) * rows_per_task).min(n));
            for r in r0..r1 {
                let (words, scales, biases) = w.row(r);
                for i in 0..m {
                    let xs = &xsums[i * groups..(i + 1) * groups];
                    let bias: f32 = biases.iter().zip(xs).map(|(b, s)| b * s).sum();
                    let codes = if lanes {
                        lane_dot(words, &xl[i * k..(i + 1) * k], scales, w.bits, gs)
                    } else {
                        let xi = &x[i * k..(i + 1) * k];
                        (0..groups)
                            .map(|g| {
                                scales[g]
                                    * dot_any(words, g * gs, &xi[g * gs..(g + 1) * gs], w.bits)
                            })
                            .sum()
                    };
                    // SAFETY: element (i, r) of out is written by this task only.
                    unsafe { *(op as *mut f32).add(i * n + r) = codes + bias };
                }
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
    let mut out = vec![0.0; row.len()];
    for (src, dst) in row.chunks(gs).zip(out.chunks_mut(gs)) {
        for i in 0..lanes {
            for j in 0..per_word {
                let unscale = if j + 1 < per_word {
                    (-((bits * j) as i32) as f32).exp2()
                } else {
                    1.0
                };
                dst[j * lanes + i] = src[i * per_word + j] * unscale;
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
