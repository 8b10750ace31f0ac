//! The bytes a checkpoint is read from, and the `Load` primitive that turns a range of
//! them into an array when (and only when) that array is evaluated.
//!
//! A file is memory-mapped copy-on-write (`MAP_PRIVATE`): opening it reads nothing, and
//! a tensor whose bytes are aligned and in native order becomes an array with no copy at
//! all, its buffer a view of the mapping. A kernel that writes into such a buffer (a
//! donated input) touches its private copy of the page, never the file. Misaligned or
//! byte-swapped tensors are copied out on evaluation. A Python file object that is not a
//! file on disk is read once into an aligned buffer and served the same way.
//!
//! The one hazard of mapping is the file shrinking underneath us (another process
//! truncating it): reading a page past the new end faults. That is the contract of every
//! mapped loader (NumPy's `memmap`, the `safetensors` package); what we check is that the
//! file as it was opened is consistent.

use crate::array::{row_major_strides, Array, Data};
use crate::device::{default_stream, Device};
use crate::dtype::Dtype;
use crate::memory::{allocator, Buffer};
use crate::primitive::{EvalContext, Primitive};
use crate::{Error, Result};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Arc;

/// Alignment at which a tensor can be used in place (the allocator's, so kernels see
/// the same guarantees as for any other buffer).
const IN_PLACE_ALIGN: usize = 64;

enum Backing {
    Map(#[allow(dead_code)] memmap2::MmapMut),
    Buffer(#[allow(dead_code)] Arc<Buffer>),
    Empty,
}

/// The bytes of one opened checkpoint, shared by every array loaded from it; the
/// mapping lives until the last of them is dropped.
pub struct Source {
    /// What `ptr` points into (kept alive, never read through directly).
    _backing: Backing,
    ptr: *mut u8,
    len: usize,
    /// For error messages: the path, or `<stream>`.
    pub name: String,
}

// The mapping is plain memory; writes go only to buffers a kernel owns alone.
unsafe impl Send for Source {}
unsafe impl Sync for Source {}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The address tells two opened files apart (for compile's CSE keys).
        write!(f, "Source({:?} at {:p})", self.name, self.ptr)
    }
}

impl Source {
    /// Maps the file at `path` (reading nothing yet).
    pub fn open(path: &Path) -> Result<Arc<Source>> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path)
            .map_err(|e| Error::Runtime(format!("[load] Failed to open file {name}: {e}.")))?;
        let len = file
            .metadata()
            .map_err(|e| Error::Runtime(format!("[load] Failed to read {name}: {e}.")))?
            .len() as usize;
        if len == 0 {
            return Ok(Arc::new(Source {
                _backing: Backing::Empty,
                ptr: NonNull::<u8>::dangling().as_ptr(),
                len: 0,
                name,
            }));
        }
        // SAFETY: a private mapping; see the module comment on files that shrink.
        let mut map = unsafe { memmap2::MmapOptions::new().map_copy(&file) }
            .map_err(|e| Error::Runtime(format!("[load] Failed to map file {name}: {e}.")))?;
        let ptr = map.as_mut_ptr();
        Ok(Arc::new(Source {
            _backing: Backing::Map(map),
            ptr,
            len,
            name,
        }))
    }

    /// Serves `bytes` (a stream's contents) from an aligned buffer.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Arc<Source>> {
        let buffer = allocator().alloc(bytes.len().max(1))?;
        // SAFETY: a fresh buffer of at least bytes.len() bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer.as_ptr(), bytes.len()) };
        Ok(Arc::new(Source {
            ptr: buffer.as_ptr(),
            _backing: Backing::Buffer(buffer),
            len: bytes.len(),
            name: name.to_string(),
        }))
    }

    /// All the bytes, for parsing headers.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` points at `len` mapped bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `bytes[offset..offset + len]`, or an error naming the file when the range does
    /// not lie inside it.
    pub fn range(&self, offset: usize, len: usize, what: &str) -> Result<&[u8]> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(&self.bytes()[offset..end]),
            _ => Err(Error::Runtime(format!(
                "[load] {what} at bytes {offset}..+{len} lies outside {} ({} bytes).",
                self.name, self.len
            ))),
        }
    }
}

/// How the stored bytes relate to the array's elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOrder {
    Native,
    /// Big-endian elements (an `.npy` of `>f4`): each element's bytes reversed.
    Swapped,
}

/// A lazy array over `source[offset..]`: row-major elements of the output's shape and
/// dtype. Checked against the file's length when it is built.
#[derive(Debug)]
pub struct Load {
    pub source: Arc<Source>,
    pub offset: usize,
    pub order: ByteOrder,
}

impl Load {
    /// The lazy array of `shape` and `dtype` stored at `offset`, after checking that
    /// its bytes lie inside the file.
    pub fn array(
        source: &Arc<Source>,
        offset: usize,
        shape: &[usize],
        dtype: Dtype,
        order: ByteOrder,
        what: &str,
    ) -> Result<Array> {
        let nbytes = crate::shape::checked_size(shape)
            .ok()
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or_else(|| {
                Error::Runtime(format!(
                    "[load] {what} in {} has shape {shape:?}, more elements than fit in memory.",
                    source.name
                ))
            })?;
        source.range(offset, nbytes, what)?;
        let load = Load {
            source: source.clone(),
            offset,
            order,
        };
        Ok(Array::from_op(
            shape.to_vec(),
            dtype,
            load,
            vec![],
            default_stream(Device::cpu())?,
        ))
    }
}

impl Primitive for Load {
    fn name(&self) -> &'static str {
        "Load"
    }

    fn eval_cpu(&self, _: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = &ctx.outputs[0];
        let nbytes = shape.iter().product::<usize>() * dtype.size();
        // SAFETY: `Load::array` checked that the range lies inside the source.
        let src = unsafe { self.source.ptr.add(self.offset) };
        let in_place =
            self.order == ByteOrder::Native && nbytes > 0 && (src as usize) % IN_PLACE_ALIGN == 0;
        if in_place {
            // SAFETY: `nbytes` bytes at `src` live as long as the source, which the
            // buffer keeps; no other array views this range (the formats' parsers
            // reject overlapping tensors).
            let buffer = unsafe {
                Buffer::borrowed(NonNull::new_unchecked(src), nbytes, self.source.clone())
            };
            return Ok(vec![Data {
                buffer: Arc::new(buffer),
                offset: 0,
                strides: row_major_strides(shape),
            }]);
        }
        let out = Data::alloc(shape, *dtype)?;
        // SAFETY: both ranges hold `nbytes` bytes and do not overlap.
        let (from, to) = unsafe {
            (
                std::slice::from_raw_parts(src as *const u8, nbytes),
                std::slice::from_raw_parts_mut(out.buffer.as_ptr(), nbytes),
            )
        };
        // A complex element is two floats, each swapped on its own.
        let unit = if *dtype == Dtype::Complex64 {
            4
        } else {
            dtype.size()
        };
        copy_elements(from, to, unit, self.order);
        Ok(vec![out])
    }

    fn cse_key(&self) -> Option<String> {
        Some(format!(
            "Load:{:p}:{}:{:?}",
            self.source.ptr, self.offset, self.order
        ))
    }

    crate::no_input_rules!();
}

/// Copies `from` into `to` in parallel chunks (reading a cold mapping is bound by page
/// faults, which threads overlap), reversing each element's bytes when swapped.
fn copy_elements(from: &[u8], to: &mut [u8], itemsize: usize, order: ByteOrder) {
    use rayon::prelude::*;
    // Chunks of whole elements, large enough that scheduling costs nothing.
    let chunk = (1 << 20) / itemsize.max(1) * itemsize.max(1);
    to.par_chunks_mut(chunk)
        .zip(from.par_chunks(chunk))
        .for_each(|(t, f)| match order {
            ByteOrder::Native => t.copy_from_slice(f),
            ByteOrder::Swapped => {
                for (te, fe) in t.chunks_exact_mut(itemsize).zip(f.chunks_exact(itemsize)) {
                    for (a, b) in te.iter_mut().zip(fe.iter().rev()) {
                        *a = *b;
                    }
                }
            }
        });
}
