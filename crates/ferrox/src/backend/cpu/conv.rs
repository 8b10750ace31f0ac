//! Convolution, channels last, as im2col plus GEMM in blocks of output rows.
//!
//! The output is a matrix of `batch * prod(out_spatial)` rows by `out_channels`; for
//! each group it is `patches @ weight`, where a row of `patches` holds the input values
//! under the kernel at that output position (`prod(kernel) * in_channels / groups`
//! values, zero where the kernel overhangs the padding or falls between dilated input
//! elements). Building the whole patch matrix would write ~9x the input to memory (115
//! MB for a 3x3 conv of a 16x56x56x64 batch); a block of rows is built in a buffer that
//! stays in cache and multiplied at once, and blocks run in parallel. A 1x1 kernel with
//! stride 1 and no padding or dilation needs no patches: the input is the matrix.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

/// The shape of one convolution: every per-axis parameter has one entry per spatial axis.
#[derive(Clone, Debug)]
pub struct Geometry {
    pub batch: usize,
    pub in_spatial: Vec<usize>,
    pub in_channels: usize,
    pub out_spatial: Vec<usize>,
    pub out_channels: usize,
    /// The kernel's spatial extent.
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    /// Padding before the first input element (negative crops).
    pub pad_lo: Vec<isize>,
    pub kernel_dilation: Vec<usize>,
    pub input_dilation: Vec<usize>,
    pub groups: usize,
    /// Whether the kernel is applied mirrored on every spatial axis (a true convolution
    /// rather than a cross-correlation).
    pub flip: bool,
}

impl Geometry {
    /// Each kernel position's offset per axis (in input coordinates before input
    /// dilation), kernel positions in row-major order.
    fn kernel_offsets(&self) -> Vec<Vec<isize>> {
        let ksize: usize = self.kernel.iter().product();
        (0..ksize)
            .map(|kp| {
                let mut rem = kp;
                let mut offs = vec![0isize; self.kernel.len()];
                for d in (0..self.kernel.len()).rev() {
                    offs[d] = ((rem % self.kernel[d]) * self.kernel_dilation[d]) as isize;
                    rem /= self.kernel[d];
                }
                offs
            })
            .collect()
    }

    fn is_pointwise(&self) -> bool {
        self.kernel.iter().all(|&k| k == 1)
            && self.stride.iter().all(|&s| s == 1)
            && self.pad_lo.iter().all(|&p| p == 0)
            && self.input_dilation.iter().all(|&d| d == 1)
            && self.in_spatial == self.out_spatial
    }
}

/// Patch rows per block: the block's patches take about 256 KB (in L2 with the packed
/// weights), and at least 16 rows so that the GEMM has rows to work on.
fn block_rows(patch_len: usize, elem: usize) -> usize {
    ((256 << 10) / (patch_len * elem).max(1)).clamp(16, 1024)
}

/// Below this many multiply-adds the convolution runs on the calling thread.
const PARALLEL_FLOPS: usize = 1 << 21;

/// `out = conv(x, w)` for row-major `x` `[batch, *in_spatial, in_channels]`, `w`
/// `[out_channels, *kernel, in_channels / groups]` and `out`
/// `[batch, *out_spatial, out_channels]`. `T` is a type the `gemm` crate multiplies.
pub fn conv<T: Copy + Default + Send + Sync + 'static>(
    g: &Geometry,
    x: &[T],
    w: &[T],
    out: &mut [T],
    one: T,
) {
    let cin_g = g.in_channels / g.groups;
    let cout_g = g.out_channels / g.groups;
    let ksize: usize = g.kernel.iter().product();
    let patch_len = ksize * cin_g;
    let rows = g.batch * g.out_spatial.iter().product::<usize>();
    if rows == 0 || g.out_channels == 0 {
        return;
    }
    if patch_len == 0 {
        out.fill(T::default());
        return;
    }
    // Weights as one row-major (patch_len x cout_g) matrix per group, mirrored if
    // `flip` (reversing the flat kernel index reverses every spatial axis).
    let mut packed = vec![T::default(); g.groups * patch_len * cout_g];
    for grp in 0..g.groups {
        for co in 0..cout_g {
            for kp in 0..ksize {
                let src_k = if g.flip { ksize - 1 - kp } else { kp };
                let src = ((grp * cout_g + co) * ksize + src_k) * cin_g;
                for ci in 0..cin_g {
                    packed[(grp * patch_len + kp * cin_g + ci) * cout_g + co] = w[src + ci];
                }
            }
        }
    }
    let kernel_offsets = g.kernel_offsets();
    let pointwise = g.is_pointwise();
    let mb = block_rows(patch_len, std::mem::size_of::<T>());
    let blocks = rows.div_ceil(mb);
    let (xp, op) = (x.as_ptr() as usize, out.as_mut_ptr() as usize);
    let run_block = |patches: &mut Vec<T>, b: usize| {
        let (r0, r1) = (b * mb, ((b + 1) * mb).min(rows));
        for grp in 0..g.groups {
            let (lhs, lhs_rs) = if pointwise {
                // SAFETY: rows r0..r1 of x, channels of this group, are inside `x`.
                let p = unsafe { (xp as *const T).add(r0 * g.in_channels + grp * cin_g) };
                (p, g.in_channels as isize)
            } else {
                patches.resize(mb * patch_len, T::default());
                fill_patches(g, x, grp * cin_g, cin_g, &kernel_offsets, r0, r1, patches);
                (patches.as_ptr(), patch_len as isize)
            };
            // SAFETY: the destination block (rows r0..r1, this group's channels) is
            // written by this call only; lhs and rhs are valid matrices of the given
            // strides.
            unsafe {
                gemm(
                    r1 - r0,
                    cout_g,
                    patch_len,
                    (op as *mut T).add(r0 * g.out_channels + grp * cout_g),
                    1,
                    g.out_channels as isize,
                    false,
                    lhs,
                    1,
                    lhs_rs,
                    packed.as_ptr().add(grp * patch_len * cout_g),
                    1,
                    cout_g as isize,
                    T::default(),
                    one,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        }
    };
    if rows * patch_len * g.out_channels >= PARALLEL_FLOPS && rayon::current_num_threads() > 1 {
        (0..blocks)
            .into_par_iter()
            .for_each_init(Vec::new, |buf, b| run_block(buf, b));
    } else {
        let mut buf = Vec::new();
        (0..blocks).for_each(|b| run_block(&mut buf, b));
    }
}

/// Writes the patch rows `r0..r1` (channels `c0..c0 + cin_g` of the input) into
/// `patches`, one row of `kernel positions x cin_g` values per output position.
#[allow(clippy::too_many_arguments)]
fn fill_patches<T: Copy + Default>(
    g: &Geometry,
    x: &[T],
    c0: usize,
    cin_g: usize,
    kernel_offsets: &[Vec<isize>],
    r0: usize,
    r1: usize,
    patches: &mut [T],
) {
    let nd = g.kernel.len();
    let patch_len = kernel_offsets.len() * cin_g;
    // The output position of row r0, as (batch, spatial index), then stepped row by row.
    let mut pos = vec![0usize; nd];
    let mut rem = r0;
    for d in (0..nd).rev() {
        pos[d] = rem % g.out_spatial[d];
        rem /= g.out_spatial[d];
    }
    let mut n = rem;
    let mut base = vec![0isize; nd];
    for row in patches[..(r1 - r0) * patch_len].chunks_exact_mut(patch_len) {
        for d in 0..nd {
            base[d] = (pos[d] * g.stride[d]) as isize - g.pad_lo[d];
        }
        for (offs, dst) in kernel_offsets.iter().zip(row.chunks_exact_mut(cin_g)) {
            match input_offset(g, n, &base, offs) {
                Some(at) => dst.copy_from_slice(&x[at + c0..at + c0 + cin_g]),
                None => dst.fill(T::default()),
            }
        }
        // Next output position.
        for d in (0..nd).rev() {
            pos[d] += 1;
            if pos[d] < g.out_spatial[d] {
                break;
            }
            pos[d] = 0;
            if d == 0 {
                n += 1;
            }
        }
    }
}

/// The flat offset in `x` of input pixel `(n, base + offs)` (in dilated, padded
/// coordinates), or `None` where that falls in padding or between dilated elements.
#[inline]
fn input_offset(g: &Geometry, n: usize, base: &[isize], offs: &[isize]) -> Option<usize> {
    let mut at = n;
    for d in 0..base.len() {
        let q = base[d] + offs[d];
        if q < 0 {
            return None;
        }
        let (q, dil) = (q as usize, g.input_dilation[d]);
        if q % dil != 0 || q / dil >= g.in_spatial[d] {
            return None;
        }
        at = at * g.in_spatial[d] + q / dil;
    }
    Some(at * g.in_channels)
}

/// The weight gradient of `conv`: `dw = patches^T @ dy` per group, for row-major `x`
/// `[batch, *in_spatial, in_channels]`, cotangent `dy` `[batch, *out_spatial,
/// out_channels]` and `dw` `[out_channels, *kernel, in_channels / groups]` (mirrored
/// back when `flip`). The forward product is `out = patches @ w`, so this is its
/// transpose: the same patch rows, built in blocks as in `conv`, each block adding
/// `block^T @ dy_block` into a per-thread `patch_len x cout_g` sum. (As a convolution
/// of the input with the cotangent as kernel, one output row had the whole batch and
/// image as its inner dimension.)
pub fn weight_grad<T: Copy + Default + Send + Sync + std::ops::Add<Output = T> + 'static>(
    g: &Geometry,
    x: &[T],
    dy: &[T],
    dw: &mut [T],
    one: T,
) {
    let cin_g = g.in_channels / g.groups;
    let cout_g = g.out_channels / g.groups;
    let ksize: usize = g.kernel.iter().product();
    let patch_len = ksize * cin_g;
    let rows = g.batch * g.out_spatial.iter().product::<usize>();
    let acc_len = g.groups * patch_len * cout_g;
    dw.fill(T::default());
    if rows == 0 || acc_len == 0 {
        return;
    }
    let kernel_offsets = g.kernel_offsets();
    let pointwise = g.is_pointwise();
    // Twice `conv`'s block: each block's product also reads and writes the whole
    // `patch_len x cout_g` sum, so a longer inner dimension amortises that.
    let mb = 2 * block_rows(patch_len, std::mem::size_of::<T>());
    let blocks = rows.div_ceil(mb);
    let dyp = dy.as_ptr() as usize;
    let xp = x.as_ptr() as usize;
    let add_block = |acc: &mut Vec<T>, patches: &mut Vec<T>, b: usize| {
        acc.resize(acc_len, T::default());
        let (r0, r1) = (b * mb, ((b + 1) * mb).min(rows));
        for grp in 0..g.groups {
            // The block's patches as a (patch_len x rows) matrix: row i, column r at
            // `lhs + i * lhs_rs + r * lhs_cs`.
            let (lhs, lhs_cs, lhs_rs) = if pointwise {
                // SAFETY: rows r0..r1 of x, this group's channels, are inside `x`.
                let p = unsafe { (xp as *const T).add(r0 * g.in_channels + grp * cin_g) };
                (p, g.in_channels as isize, 1)
            } else {
                patches.resize(mb * patch_len, T::default());
                fill_patches(g, x, grp * cin_g, cin_g, &kernel_offsets, r0, r1, patches);
                (patches.as_ptr(), patch_len as isize, 1)
            };
            // SAFETY: the sum is this thread's own; lhs and rhs are valid matrices of
            // the given strides (rhs: rows r0..r1 of dy, this group's channels).
            unsafe {
                gemm(
                    patch_len,
                    cout_g,
                    r1 - r0,
                    acc.as_mut_ptr().add(grp * patch_len * cout_g),
                    1,
                    cout_g as isize,
                    true,
                    lhs,
                    lhs_cs,
                    lhs_rs,
                    (dyp as *const T).add(r0 * g.out_channels + grp * cout_g),
                    1,
                    g.out_channels as isize,
                    one,
                    one,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        }
    };
    let sum = if rows * patch_len * g.out_channels >= PARALLEL_FLOPS
        && rayon::current_num_threads() > 1
    {
        // One sum per rayon split, added pairwise at the end (each is only
        // `patch_len x cout` elements).
        (0..blocks)
            .into_par_iter()
            .fold(
                || (Vec::new(), Vec::new()),
                |(mut acc, mut patches), b| {
                    add_block(&mut acc, &mut patches, b);
                    (acc, patches)
                },
            )
            .map(|(acc, _)| acc)
            .reduce(Vec::new, |a, b| {
                if a.is_empty() {
                    return b;
                }
                if b.is_empty() {
                    return a;
                }
                a.iter().zip(&b).map(|(&p, &q)| p + q).collect()
            })
    } else {
        let (mut acc, mut patches) = (Vec::new(), Vec::new());
        (0..blocks).for_each(|b| add_block(&mut acc, &mut patches, b));
        acc
    };
    // sum[grp][(kp, ci)][co] -> dw[grp * cout_g + co][kp'][ci], kp' mirrored if `flip`.
    for grp in 0..g.groups {
        for co in 0..cout_g {
            for kp in 0..ksize {
                let src_k = if g.flip { ksize - 1 - kp } else { kp };
                let dst = ((grp * cout_g + co) * ksize + kp) * cin_g;
                for ci in 0..cin_g {
                    dw[dst + ci] = sum[(grp * patch_len + src_k * cin_g + ci) * cout_g + co];
                }
            }
        }
    }
}
