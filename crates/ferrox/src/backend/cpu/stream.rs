//! Memory hints for kernels that stream more data than the caches hold: prefetching the
//! next block of an input while the current one is computed, and non-temporal stores that
//! write an output straight to memory (no read-for-ownership of lines that are about to
//! be overwritten whole, no eviction of the inputs from the cache). A fused elementwise
//! region over 16M floats runs ~25 % faster with both.
//!
//! On targets other than x86-64 these are plain copies and no-ops.

/// Outputs of at least this many bytes are written with streaming stores: far more than
/// a core's share of the last-level cache, so the next op would miss on them anyway.
pub const STREAM_BYTES: usize = 8 << 20;

/// Asks for `[p, p + n)` to be brought into the L2 cache.
#[inline]
pub fn prefetch(p: *const f32, n: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        // One hint per 64-byte line.
        for i in (0..n).step_by(16) {
            // SAFETY: a prefetch never faults; the address is only a hint.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add(i) as *const i8) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, n);
}

/// Copies `src` into `dst` (equal lengths); with `stream`, by non-temporal stores. A
/// thread that streamed must call [`fence`] before its results are handed on.
#[inline]
pub fn store(dst: &mut [f32], src: &[f32], stream: bool) {
    #[cfg(target_arch = "x86_64")]
    if stream {
        use std::arch::x86_64::{_mm_loadu_ps, _mm_stream_ps};
        // Plain stores up to the first 16-byte boundary, which the streaming store needs.
        let head = dst.as_ptr().align_offset(16).min(dst.len());
        dst[..head].copy_from_slice(&src[..head]);
        let (dst, src) = (&mut dst[head..], &src[head..]);
        let body = dst.len() / 4 * 4;
        for i in (0..body).step_by(4) {
            // SAFETY: i + 4 <= len for both slices and dst + i is 16-byte aligned.
            unsafe { _mm_stream_ps(dst.as_mut_ptr().add(i), _mm_loadu_ps(src.as_ptr().add(i))) };
        }
        dst[body..].copy_from_slice(&src[body..]);
        return;
    }
    let _ = stream;
    dst.copy_from_slice(src);
}

/// Orders this thread's streaming stores before anything it does next (such as telling
/// another thread that its part is done).
#[inline]
pub fn fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a store fence has no preconditions.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_copy_equals_plain_copy_at_every_alignment() {
        let src: Vec<f32> = (0..103).map(|i| i as f32 * 0.5).collect();
        for offset in 0..4 {
            for len in [0, 1, 3, 4, 5, 17, 99] {
                let mut dst = vec![-1.0f32; 103];
                store(&mut dst[offset..offset + len], &src[..len], true);
                fence();
                assert_eq!(&dst[offset..offset + len], &src[..len]);
                assert!(dst[..offset]
                    .iter()
                    .chain(&dst[offset + len..])
                    .all(|&v| v == -1.0));
            }
        }
    }
}
