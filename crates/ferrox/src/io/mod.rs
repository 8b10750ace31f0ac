//! Checkpoints: `.safetensors`, `.npy`, `.npz` and GGUF files, read lazily through
//! memory maps and written in the formats' standard layouts, with MLX's semantics
//! (`load`, `save`, `savez`, `savez_compressed`, `save_safetensors`, `save_gguf`).
//!
//! Loading parses and checks a file's header and builds one lazy array per tensor;
//! nothing of a tensor is read until it is evaluated, and an aligned tensor is then a
//! view of the mapping with no copy (see [`source`]). Every malformed file — truncated,
//! with offsets outside or overlapping the data, overflowing shapes, unknown dtypes,
//! absurd lengths — is an [`Error`](crate::Error), never a crash or a huge allocation.
//!
//! ```
//! use ferrox::{array, io};
//! let dir = std::env::temp_dir().join(format!("ferrox-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("weights.safetensors");
//! let mut weights = io::Arrays::new();
//! weights.insert("w".to_string(), array!([[1.0f32, 2.0], [3.0, 4.0]]));
//! io::save_safetensors(&path, &weights, &Default::default())?;
//! let (loaded, _) = io::load_safetensors(&path)?;   // lazy: nothing read yet
//! assert_eq!(loaded["w"].to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 4.0]);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), ferrox::Error>(())
//! ```

pub mod gguf;
mod gguf_quants;
pub mod npy;
pub mod npz;
pub mod safetensors;
pub mod source;

use crate::{Array, Error, Result};
use source::Source;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Named arrays, as a checkpoint holds them (sorted by name).
pub type Arrays = BTreeMap<String, Array>;

/// A value of a file's metadata: safetensors holds strings; GGUF also numbers (as
/// 0-d or 1-d arrays) and lists of strings, as MLX returns them.
#[derive(Clone, Debug)]
pub enum MetaValue {
    Str(String),
    Strs(Vec<String>),
    Array(Array),
}

/// A file's metadata by key.
pub type Metadata = BTreeMap<String, MetaValue>;

/// A file format `load` reads and the `save` functions write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Npy,
    Npz,
    Safetensors,
    Gguf,
}

impl Format {
    /// The format of MLX's `format=` name (`"npy"`, `"npz"`, `"safetensors"`, `"gguf"`).
    pub fn from_name(name: &str) -> Result<Format> {
        match name {
            "npy" => Ok(Format::Npy),
            "npz" => Ok(Format::Npz),
            "safetensors" => Ok(Format::Safetensors),
            "gguf" => Ok(Format::Gguf),
            _ => Err(Error::Invalid(format!("[load] Unknown file format {name}"))),
        }
    }

    /// The format a path's extension names.
    pub fn from_path(path: &Path) -> Result<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) => Format::from_name(ext),
            None => Err(Error::Invalid(
                "[load] Could not infer file format from extension".into(),
            )),
        }
    }

    /// The extension (without the dot) files of this format are saved with.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Npy => "npy",
            Format::Npz => "npz",
            Format::Safetensors => "safetensors",
            Format::Gguf => "gguf",
        }
    }
}

/// What [`load`] returns: one array (`.npy`) or named arrays (the other formats).
#[derive(Clone, Debug)]
pub enum Loaded {
    Array(Array),
    Arrays(Arrays),
}

/// Loads a file lazily, its format given by its extension.
pub fn load(path: impl AsRef<Path>) -> Result<Loaded> {
    Ok(load_with(path, None)?.0)
}

/// Loads a file lazily in `format` (or its extension's), with its metadata (empty for
/// `.npy` and `.npz`, which have none).
pub fn load_with(path: impl AsRef<Path>, format: Option<Format>) -> Result<(Loaded, Metadata)> {
    let path = path.as_ref();
    let format = match format {
        Some(f) => f,
        None => Format::from_path(path)?,
    };
    load_source(&Source::open(path)?, format)
}

/// Loads from bytes already in memory (a Python file object's contents).
pub fn load_bytes(bytes: &[u8], format: Format) -> Result<(Loaded, Metadata)> {
    load_source(&Source::from_bytes(bytes, "<stream>")?, format)
}

fn load_source(source: &Arc<Source>, format: Format) -> Result<(Loaded, Metadata)> {
    Ok(match format {
        Format::Npy => (
            Loaded::Array(npy::read(source, 0, source.len())?),
            Metadata::new(),
        ),
        Format::Npz => (Loaded::Arrays(npz::read(source)?), Metadata::new()),
        Format::Safetensors => {
            let (arrays, meta) = safetensors::read(source)?;
            let meta = meta
                .into_iter()
                .map(|(k, v)| (k, MetaValue::Str(v)))
                .collect();
            (Loaded::Arrays(arrays), meta)
        }
        Format::Gguf => {
            let (arrays, meta) = gguf::read(source)?;
            (Loaded::Arrays(arrays), meta)
        }
    })
}

/// Loads an `.npy` file lazily.
pub fn load_npy(path: impl AsRef<Path>) -> Result<Array> {
    let source = Source::open(path.as_ref())?;
    npy::read(&source, 0, source.len())
}

/// Loads an `.npz` archive: stored members lazily from the mapping, compressed ones
/// decompressed now.
pub fn load_npz(path: impl AsRef<Path>) -> Result<Arrays> {
    npz::read(&Source::open(path.as_ref())?)
}

/// Loads a `.safetensors` file lazily, with its `__metadata__` strings.
pub fn load_safetensors(path: impl AsRef<Path>) -> Result<(Arrays, BTreeMap<String, String>)> {
    safetensors::read(&Source::open(path.as_ref())?)
}

/// Loads a GGUF file lazily, with its metadata. Q4_0, Q4_1 and Q8_0 tensors become
/// MLX's affine quantization (see [`gguf`]).
pub fn load_gguf(path: impl AsRef<Path>) -> Result<(Arrays, Metadata)> {
    gguf::read(&Source::open(path.as_ref())?)
}

/// `path`, with `.ext` appended unless it already ends with it (as MLX saves).
pub fn with_extension(path: &Path, format: Format) -> PathBuf {
    let ext = format.extension();
    if path.extension().and_then(|e| e.to_str()) == Some(ext) {
        path.to_path_buf()
    } else {
        let mut s = path.as_os_str().to_owned();
        s.push(".");
        s.push(ext);
        PathBuf::from(s)
    }
}

/// Writes a file through `write` (buffered, seekable for `.npz`), creating it at `path`
/// and failing with a message that names it and `op`.
pub fn write_file(
    path: &Path,
    op: &str,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<()>,
) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| {
        Error::Runtime(format!(
            "[{op}] Failed to open file {}: {e}.",
            path.display()
        ))
    })?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    write(&mut w)?;
    use std::io::Write;
    w.flush().map_err(|e| io_error(op, path, e))
}

pub(crate) fn io_error(op: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Runtime(format!("[{op}] Failed to write {}: {e}.", path.display()))
}

/// Saves one array as `.npy` (appending the extension when missing).
pub fn save(path: impl AsRef<Path>, array: &Array) -> Result<()> {
    let path = with_extension(path.as_ref(), Format::Npy);
    write_file(&path, "save", |w| npy::write(w, array))
}

/// Saves named arrays as an `.npz` archive, deflated when `compressed`.
pub fn savez(path: impl AsRef<Path>, arrays: &[(String, Array)], compressed: bool) -> Result<()> {
    let path = with_extension(path.as_ref(), Format::Npz);
    let op = if compressed {
        "savez_compressed"
    } else {
        "savez"
    };
    write_file(&path, op, |w| npz::write(w, arrays, compressed))
}

/// Saves named arrays as `.safetensors` with `metadata` strings.
pub fn save_safetensors(
    path: impl AsRef<Path>,
    arrays: &Arrays,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let path = with_extension(path.as_ref(), Format::Safetensors);
    write_file(&path, "save_safetensors", |w| {
        safetensors::write(w, arrays, metadata)
    })
}

/// Saves named arrays as GGUF with `metadata` (strings, lists of strings, and 0-d or
/// 1-d arrays of numbers).
pub fn save_gguf(path: impl AsRef<Path>, arrays: &Arrays, metadata: &Metadata) -> Result<()> {
    let path = with_extension(path.as_ref(), Format::Gguf);
    write_file(&path, "save_gguf", |w| gguf::write(w, arrays, metadata))
}

/// Writes an array's elements (row-major, native byte order) without an extra copy
/// when it is already contiguous.
pub(crate) fn write_array_bytes(w: &mut impl std::io::Write, array: &Array) -> std::io::Result<()> {
    let to_io = |e: Error| std::io::Error::other(e.to_string());
    let mut d = array.data().map_err(to_io)?;
    let _copy; // keeps a contiguous copy alive while its bytes are written
    if !d.is_row_contiguous(array.shape()) {
        _copy = crate::ops::contiguous(array).map_err(to_io)?;
        d = _copy.data().map_err(to_io)?;
    }
    // SAFETY: a row-contiguous view of `nbytes` bytes, alive while `d` is.
    let bytes = unsafe { std::slice::from_raw_parts(d.byte_ptr(array.itemsize()), array.nbytes()) };
    w.write_all(bytes)
}
