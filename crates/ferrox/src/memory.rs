//! Buffers and the caching allocator every backend allocates through.
//!
//! A freed buffer goes back to a cache keyed by its rounded size, so that the next
//! array of that size reuses memory that is already mapped: a fresh 64 MB output costs
//! ~16k page faults, often more than the kernel that fills it. Large buffers are mapped
//! with `mmap` and the kernel is asked for transparent huge pages.
//!
//! Statistics (`active`, `peak`, `cache`) and the limits follow MLX: a request past the
//! memory limit first frees the cache, then fails with [`Error::Memory`].
//!
//! ```
//! use ferrox::memory;
//! let a = ferrox::ops::zeros(&[1024], None)?;
//! a.eval()?;
//! assert!(memory::get_active_memory() >= 4096);
//! drop(a);                                   // the buffer goes to the cache
//! assert!(memory::get_cache_memory() >= 4096);
//! memory::clear_cache();
//! # Ok::<(), ferrox::Error>(())
//! ```

use crate::{Error, Result};
use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, OnceLock};

/// Alignment of every buffer: a cache line and an AVX-512 vector.
const ALIGN: usize = 64;
/// Buffers at least this large are mapped directly and advised to use huge pages.
const MMAP_THRESHOLD: usize = 1 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// A block of memory that every backend can read and write. Dropping the last
/// reference returns it to the allocator's cache.
pub struct Buffer {
    ptr: NonNull<u8>,
    /// Bytes the caller asked for.
    len: usize,
    /// Bytes actually reserved (the cache bucket).
    capacity: usize,
    /// For a view of memory the allocator does not own (a memory-mapped checkpoint,
    /// see `io::source`): what keeps that memory alive. Dropping the buffer drops this
    /// reference instead of returning memory to the cache.
    owner: Option<Arc<dyn Send + Sync>>,
}

// A buffer is plain memory; who writes it when is the scheduler's business.
unsafe impl Send for Buffer {}
unsafe impl Sync for Buffer {}

impl Buffer {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// A buffer over `len` bytes at `ptr` that `owner` keeps alive and writable. It
    /// counts toward no memory statistic: the memory is the owner's (a file mapping).
    ///
    /// # Safety
    /// `ptr..ptr + len` must stay valid and writable while `owner` lives, and no other
    /// buffer may cover it.
    pub unsafe fn borrowed(ptr: NonNull<u8>, len: usize, owner: Arc<dyn Send + Sync>) -> Buffer {
        Buffer {
            ptr,
            len,
            capacity: len,
            owner: Some(owner),
        }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if self.owner.is_none() {
            allocator().release(self.ptr, self.capacity);
        }
    }
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buffer({} bytes)", self.len)
    }
}

struct State {
    /// Free blocks by capacity.
    cache: BTreeMap<usize, Vec<NonNull<u8>>>,
    active: usize,
    peak: usize,
    cached: usize,
    memory_limit: usize,
    cache_limit: usize,
}

// Raw pointers in the cache are owned by the allocator alone.
unsafe impl Send for State {}

/// The process-wide caching allocator.
pub struct Allocator {
    state: Mutex<State>,
}

fn total_memory() -> usize {
    // SAFETY: sysconf has no preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if pages > 0 && page > 0 {
        pages as usize * page as usize
    } else {
        usize::MAX / 2
    }
}

/// The allocator every buffer comes from.
pub fn allocator() -> &'static Allocator {
    static ALLOC: OnceLock<Allocator> = OnceLock::new();
    ALLOC.get_or_init(|| {
        let total = total_memory();
        Allocator {
            state: Mutex::new(State {
                cache: BTreeMap::new(),
                active: 0,
                peak: 0,
                cached: 0,
                // As MLX on a CPU: 1.5x the machine's memory as the default limit.
                memory_limit: total / 2 * 3,
                cache_limit: total,
            }),
        }
    })
}

/// Rounds a request to its cache bucket: small sizes to 64 bytes, larger ones to a
/// 1/8th power-of-two step so that reuse is likely and waste under 12.5 %.
fn bucket(len: usize) -> Option<usize> {
    let len = len.max(1);
    // Requests this large cannot be served by any machine; refuse before rounding overflows.
    if len > isize::MAX as usize / 4 {
        return None;
    }
    Some(bucket_of(len))
}

fn bucket_of(len: usize) -> usize {
    if len <= 4096 {
        return len.div_ceil(ALIGN) * ALIGN;
    }
    if len >= MMAP_THRESHOLD {
        let step = (len.next_power_of_two() / 8).max(HUGE_PAGE);
        return len.div_ceil(step) * step;
    }
    let step = len.next_power_of_two() / 8;
    len.div_ceil(step) * step
}

fn os_alloc(capacity: usize) -> Option<NonNull<u8>> {
    if capacity >= MMAP_THRESHOLD {
        // SAFETY: an anonymous private mapping; checked for failure below.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                capacity,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return None;
            }
            libc::madvise(p, capacity, libc::MADV_HUGEPAGE);
            NonNull::new(p as *mut u8)
        }
    } else {
        let layout = std::alloc::Layout::from_size_align(capacity, ALIGN).ok()?;
        // SAFETY: capacity > 0 (bucket never returns 0).
        NonNull::new(unsafe { std::alloc::alloc(layout) })
    }
}

fn os_free(ptr: NonNull<u8>, capacity: usize) {
    if capacity >= MMAP_THRESHOLD {
        // SAFETY: ptr came from mmap with this length.
        unsafe { libc::munmap(ptr.as_ptr() as *mut libc::c_void, capacity) };
    } else {
        // SAFETY: ptr came from alloc with this layout.
        unsafe {
            std::alloc::dealloc(
                ptr.as_ptr(),
                std::alloc::Layout::from_size_align_unchecked(capacity, ALIGN),
            )
        };
    }
}

impl Allocator {
    /// A buffer of at least `len` bytes, from the cache when one fits. Its contents are
    /// unspecified.
    pub fn alloc(&self, len: usize) -> Result<Arc<Buffer>> {
        let capacity = bucket(len).ok_or_else(|| {
            Error::Memory(format!(
                "[malloc] Attempting to allocate {len} bytes, more than any machine has."
            ))
        })?;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = s.cache.get_mut(&capacity) {
            if let Some(ptr) = list.pop() {
                if list.is_empty() {
                    s.cache.remove(&capacity);
                }
                s.cached -= capacity;
                s.active += capacity;
                s.peak = s.peak.max(s.active);
                return Ok(Arc::new(Buffer {
                    ptr,
                    len,
                    capacity,
                    owner: None,
                }));
            }
        }
        // Tiny buffers (scalars) are exempt, so that making a scalar never fails.
        if capacity > 4096 && s.active + capacity > s.memory_limit {
            Self::free_cache(&mut s, 0);
            // Tiny buffers (scalars) are exempt, so that making a scalar never fails.
            if capacity > 4096 && s.active + capacity > s.memory_limit {
                return Err(Error::Memory(format!(
                    "[malloc] Attempting to allocate {len} bytes which is greater than the \
                     memory limit of {} bytes ({} bytes in use).",
                    s.memory_limit, s.active
                )));
            }
        }
        // Keep the cache within its limit before mapping more memory.
        if s.cached + s.active + capacity > s.cache_limit.saturating_add(s.active) {
            let keep = s.cache_limit.saturating_sub(capacity);
            Self::free_cache(&mut s, keep);
        }
        let ptr = match os_alloc(capacity) {
            Some(p) => p,
            None => {
                Self::free_cache(&mut s, 0);
                os_alloc(capacity).ok_or_else(|| {
                    Error::Memory(format!("[malloc] Unable to allocate {len} bytes."))
                })?
            }
        };
        s.active += capacity;
        s.peak = s.peak.max(s.active);
        Ok(Arc::new(Buffer {
            ptr,
            len,
            capacity,
            owner: None,
        }))
    }

    fn release(&self, ptr: NonNull<u8>, capacity: usize) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.active -= capacity;
        if s.cache_limit == 0 {
            os_free(ptr, capacity);
            return;
        }
        if s.cached + capacity > s.cache_limit {
            let keep = s.cache_limit.saturating_sub(capacity);
            Self::free_cache(&mut s, keep);
        }
        s.cached += capacity;
        s.cache.entry(capacity).or_default().push(ptr);
    }

    /// Frees cached blocks, largest first, until at most `keep` bytes stay cached.
    fn free_cache(s: &mut State, keep: usize) {
        while s.cached > keep {
            let Some((&cap, list)) = s.cache.iter_mut().next_back() else {
                break;
            };
            if let Some(p) = list.pop() {
                os_free(p, cap);
                s.cached -= cap;
            }
            if list.is_empty() {
                s.cache.remove(&cap);
            }
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Bytes held by live buffers.
pub fn get_active_memory() -> usize {
    allocator().with(|s| s.active)
}
/// The most bytes held by live buffers since start or [`reset_peak_memory`].
pub fn get_peak_memory() -> usize {
    allocator().with(|s| s.peak)
}
pub fn reset_peak_memory() {
    allocator().with(|s| s.peak = s.active)
}
/// Bytes of freed buffers kept for reuse.
pub fn get_cache_memory() -> usize {
    allocator().with(|s| s.cached)
}
pub fn get_memory_limit() -> usize {
    allocator().with(|s| s.memory_limit)
}
/// Sets the memory limit and returns the previous one.
pub fn set_memory_limit(limit: usize) -> usize {
    allocator().with(|s| std::mem::replace(&mut s.memory_limit, limit))
}
/// Sets the cache limit (0 disables caching) and returns the previous one.
pub fn set_cache_limit(limit: usize) -> usize {
    allocator().with(|s| {
        let old = std::mem::replace(&mut s.cache_limit, limit);
        Allocator::free_cache(s, limit);
        old
    })
}
/// Frees every cached buffer.
pub fn clear_cache() {
    allocator().with(|s| Allocator::free_cache(s, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_the_request() {
        for len in [
            0,
            1,
            63,
            64,
            65,
            4096,
            5000,
            1 << 20,
            (1 << 20) + 1,
            64 << 20,
        ] {
            let b = bucket(len).unwrap();
            assert!(b >= len && b % ALIGN == 0, "{len} -> {b}");
            assert!(b <= len.max(64) + len / 4 + HUGE_PAGE, "{len} -> {b}");
        }
        assert_eq!(bucket(usize::MAX), None);
    }
}
