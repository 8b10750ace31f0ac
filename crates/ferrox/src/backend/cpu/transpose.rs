//! Contiguous copies of transposed matrices, the memory-bound half of `transpose` +
//! `contiguous` (and of every matmul operand or reshape that needs one).
//!
//! The copy walks the matrix in square tiles of [`TILE`]² (one parallel job each), and a
//! tile in blocks of [`BLOCK`]² that are read into a small buffer in L1 and written out
//! row by row. Outputs larger than the caches are written with streaming stores
//! ([`stream::store`]): no read-for-ownership of destination lines and no eviction of
//! the source rows still being read. For 4096² f32 that took the copy from 16 to 6 ms.
//! Blocks of 4-byte elements are transposed in AVX registers, 8×8 at a time.

use super::stream;
use rayon::prelude::*;

/// Side of the square tiles the copy is split into (one parallel job each).
const TILE: usize = 256;

/// Side of the blocks gathered into an L1 buffer.
const BLOCK: usize = 32;

/// Copies `batch` matrices: destination `b` is row-major `rows × cols` at `dst + b · rows ·
/// cols`, and its element `(i, j)` is the source's `src + b · batch_stride + i + j · ld`.
///
/// # Safety
/// Every offset named above must be inside the source view and the destination buffer.
pub unsafe fn transpose<T: Copy + Send + Sync>(
    src: *const T,
    batch_stride: isize,
    ld: isize,
    dst: *mut T,
    (batch, rows, cols): (usize, usize, usize),
) {
    let (sp, dp) = (src as usize, dst as usize);
    let streaming = batch * rows * cols * std::mem::size_of::<T>() >= stream::STREAM_BYTES;
    let (row_tiles, col_tiles) = (rows.div_ceil(TILE), cols.div_ceil(TILE));
    let job = |k: usize| {
        let (b, t) = (k / (row_tiles * col_tiles), k % (row_tiles * col_tiles));
        let (i0, j0) = ((t / col_tiles) * TILE, (t % col_tiles) * TILE);
        let (i1, j1) = ((i0 + TILE).min(rows), (j0 + TILE).min(cols));
        // SAFETY: the caller's bounds; jobs write disjoint tiles.
        unsafe {
            let src = (sp as *const T).offset(b as isize * batch_stride);
            let dst = (dp as *mut T).add(b * rows * cols);
            copy_tile(src, ld, dst, cols, (i0, i1), (j0, j1), streaming);
        }
    };
    let jobs = batch * row_tiles * col_tiles;
    if batch * rows * cols < super::PARALLEL_THRESHOLD {
        (0..jobs).for_each(job);
    } else {
        (0..jobs).into_par_iter().for_each(job);
    }
}

/// Destination rows `i0..i1`, columns `j0..j1` of one matrix (`ldd`: its row length).
///
/// Blocks go down a column of blocks (`jb` outer, `ib` inner), so each of the block's
/// `BLOCK` source lines (fixed `j`) is read front to back, as the hardware prefetcher
/// expects; walking along rows of blocks instead touched 256 source lines `ld` apart
/// per block row, which at power-of-two `ld` share a few cache sets and evicted each
/// other before their next bytes were read.
unsafe fn copy_tile<T: Copy>(
    src: *const T,
    ld: isize,
    dst: *mut T,
    ldd: usize,
    (i0, i1): (usize, usize),
    (j0, j1): (usize, usize),
    streaming: bool,
) {
    let size = std::mem::size_of::<T>();
    let streaming = streaming && size % 4 == 0;
    if i0 >= i1 || j0 >= j1 {
        return;
    }
    // (Filled with any element: `T` has no default.)
    // SAFETY: (i0, j0) is inside the caller's range.
    let mut buf: Vec<T> =
        vec![unsafe { *src.offset(i0 as isize + j0 as isize * ld) }; BLOCK * BLOCK];
    for jb in (j0..j1).step_by(BLOCK) {
        for ib in (i0..i1).step_by(BLOCK) {
            let (h, w) = ((ib + BLOCK).min(i1) - ib, (jb + BLOCK).min(j1) - jb);
            let block = src.offset(ib as isize + jb as isize * ld);
            // SAFETY: the block is inside the caller's range; `buf` holds BLOCK².
            if !(h == BLOCK && w == BLOCK && transpose_block_4(block, ld, &mut buf)) {
                // Along the source's contiguous runs (fixed `j`), scattered into `buf`.
                for j in 0..w {
                    for i in 0..h {
                        buf[i * w + j] = *block.offset(i as isize + j as isize * ld);
                    }
                }
            }
            for (r, row) in buf[..h * w].chunks_exact(w).enumerate() {
                // SAFETY: row ib + r, columns jb..jb + w of the destination.
                let out =
                    unsafe { std::slice::from_raw_parts_mut(dst.add((ib + r) * ldd + jb), w) };
                if streaming {
                    // The same bytes, moved as 4-byte words (no float arithmetic).
                    let words = w * size / 4;
                    // SAFETY: both rows are `w` elements of a size divisible by 4.
                    let (o, x) = unsafe {
                        (
                            std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut f32, words),
                            std::slice::from_raw_parts(row.as_ptr() as *const f32, words),
                        )
                    };
                    stream::store(o, x, true);
                } else {
                    out.copy_from_slice(row);
                }
            }
        }
    }
    if streaming {
        stream::fence();
    }
}

/// Transposes a full `BLOCK`² block of 4-byte elements into `buf` (row-major, element
/// `(i, j)` from `src + i + j · ld`) by 8×8 AVX register transposes; false (nothing
/// done) for other element sizes or without AVX. Element by element, a 512² f32 copy
/// was bound by its scalar loads and scattered stores (~180 µs, in cache).
///
/// # Safety
/// The block must be inside the source; `buf` holds `BLOCK`² elements.
unsafe fn transpose_block_4<T: Copy>(src: *const T, ld: isize, buf: &mut [T]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::mem::size_of::<T>() == 4 && std::arch::is_x86_feature_detected!("avx") {
        let (s, b) = (src as *const f32, buf.as_mut_ptr() as *mut f32);
        for j in (0..BLOCK).step_by(8) {
            for i in (0..BLOCK).step_by(8) {
                // SAFETY: the caller's bounds; the CPU has AVX.
                unsafe {
                    transpose_8x8(
                        s.offset(i as isize + j as isize * ld),
                        ld,
                        b.add(i * BLOCK + j),
                        BLOCK,
                    )
                };
            }
        }
        return true;
    }
    let _ = (src, ld, buf);
    false
}

/// `dst[r · ldd + c] = src[r + c · ld]` for `r, c < 8`: bits moved, never converted.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose_8x8(src: *const f32, ld: isize, dst: *mut f32, ldd: usize) {
    use std::arch::x86_64::*;
    // Row `c` of `r` is source line `c`: r[c][k] = src[k + c · ld].
    let r: [__m256; 8] = std::array::from_fn(|c| _mm256_loadu_ps(src.offset(c as isize * ld)));
    let t = [
        _mm256_unpacklo_ps(r[0], r[1]),
        _mm256_unpackhi_ps(r[0], r[1]),
        _mm256_unpacklo_ps(r[2], r[3]),
        _mm256_unpackhi_ps(r[2], r[3]),
        _mm256_unpacklo_ps(r[4], r[5]),
        _mm256_unpackhi_ps(r[4], r[5]),
        _mm256_unpacklo_ps(r[6], r[7]),
        _mm256_unpackhi_ps(r[6], r[7]),
    ];
    let u = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    let o = [
        _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
        _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
        _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
        _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
        _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
        _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
        _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
        _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
    ];
    for (k, v) in o.into_iter().enumerate() {
        _mm256_storeu_ps(dst.add(k * ldd), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element lands where the naive loop puts it, for partial and full blocks,
    /// tiles and batches, elements of 1, 4 and 8 bytes (4-byte ones as arbitrary bit
    /// patterns: moved, never converted), in cache and streamed.
    #[test]
    fn copies_equal_the_naive_loop() {
        fn check<T: Copy + Send + Sync + PartialEq + std::fmt::Debug>(of: impl Fn(u64) -> T) {
            for (batch, rows, cols) in [
                (1, 1, 1),
                (2, 33, 70),
                (1, 64, 64),
                (3, 100, 37),
                (1, 300, 520),
            ] {
                let ld = rows + 3; // source columns (fixed j) are ld apart
                let batch_stride = (cols * ld) as isize;
                let src: Vec<T> = (0..batch * cols * ld)
                    .map(|k| of((k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 13))
                    .collect();
                let mut dst = vec![src[0]; batch * rows * cols];
                // SAFETY: the offsets stay inside `src` and `dst`.
                unsafe {
                    transpose(
                        src.as_ptr(),
                        batch_stride,
                        ld as isize,
                        dst.as_mut_ptr(),
                        (batch, rows, cols),
                    )
                };
                for b in 0..batch {
                    for i in 0..rows {
                        for j in 0..cols {
                            let want = src[b * cols * ld + i + j * ld];
                            assert_eq!(
                                dst[(b * rows + i) * cols + j],
                                want,
                                "{b} {i} {j} of {batch}x{rows}x{cols}"
                            );
                        }
                    }
                }
            }
        }
        check(|k| k as u8);
        check(|k| k as u32);
        check(|k| k as f64);
    }
}
