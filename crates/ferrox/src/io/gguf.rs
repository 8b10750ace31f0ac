//! GGUF (llama.cpp's format): a header of typed key/value metadata and tensor
//! descriptions, then aligned tensor data. Parsed here by hand — the format is small
//! and no lean crate checks it as strictly — with every count and length bounded by
//! the bytes that remain, so that a hostile file cannot make us allocate more than it
//! holds. Versions 2 and 3.
//!
//! Tensors in F32, F16, BF16, F64 and the integer types load lazily as arrays of that
//! dtype (shapes reversed: GGUF lists the fastest axis first). Q4_0, Q4_1 and Q8_0
//! become MLX's affine quantization with groups of 32: the tensor's name holds the
//! packed `uint32` weights and `<name without .weight>.scales` / `.biases` the float16
//! scales and biases, as MLX's `load` returns them (see `gguf_quants`). Other
//! quantized types are an error naming the type.
//!
//! Metadata as MLX returns it: numbers and booleans as 0-d arrays, arrays of them as
//! 1-d arrays, strings as strings, arrays of strings as lists. Nested arrays, which no
//! model file uses, are checked and skipped.

use super::gguf_quants::{GgufQuant, QuantKind};
use super::source::{ByteOrder, Load, Source};
use super::{Arrays, MetaValue, Metadata};
use crate::dtype::Dtype;
use crate::{Array, Error, Result};
use std::io::Write;
use std::sync::Arc;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: usize = 32;
/// GGML's limit on a tensor's axes.
const MAX_DIMS: usize = 4;
/// How deep arrays of arrays may nest before the file is rejected.
const MAX_NESTING: usize = 8;

// Metadata value types.
const T_U8: u32 = 0;
const T_I8: u32 = 1;
const T_U16: u32 = 2;
const T_I16: u32 = 3;
const T_U32: u32 = 4;
const T_I32: u32 = 5;
const T_F32: u32 = 6;
const T_BOOL: u32 = 7;
const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;
const T_U64: u32 = 10;
const T_I64: u32 = 11;
const T_F64: u32 = 12;

/// The dtype of a numeric metadata type, and its size.
fn meta_dtype(t: u32) -> Option<Dtype> {
    Some(match t {
        T_U8 => Dtype::Uint8,
        T_I8 => Dtype::Int8,
        T_U16 => Dtype::Uint16,
        T_I16 => Dtype::Int16,
        T_U32 => Dtype::Uint32,
        T_I32 => Dtype::Int32,
        T_F32 => Dtype::Float32,
        T_BOOL => Dtype::Bool,
        T_U64 => Dtype::Uint64,
        T_I64 => Dtype::Int64,
        T_F64 => Dtype::Float64,
        _ => return None,
    })
}

fn meta_type_of(dtype: Dtype) -> Option<u32> {
    (0..=T_F64).find(|&t| meta_dtype(t) == Some(dtype))
}

/// GGML tensor types: the plain ones ferrox loads as arrays.
fn tensor_dtype(t: u32) -> Option<Dtype> {
    Some(match t {
        0 => Dtype::Float32,
        1 => Dtype::Float16,
        24 => Dtype::Int8,
        25 => Dtype::Int16,
        26 => Dtype::Int32,
        27 => Dtype::Int64,
        28 => Dtype::Float64,
        30 => Dtype::Bfloat16,
        _ => return None,
    })
}

fn tensor_type_of(dtype: Dtype) -> Option<u32> {
    [0, 1, 24, 25, 26, 27, 28, 30]
        .into_iter()
        .find(|&t| tensor_dtype(t) == Some(dtype))
}

/// GGML's name of a tensor type, for errors.
fn tensor_type_name(t: u32) -> String {
    const NAMES: [&str; 40] = [
        "F32",
        "F16",
        "Q4_0",
        "Q4_1",
        "Q4_2",
        "Q4_3",
        "Q5_0",
        "Q5_1",
        "Q8_0",
        "Q8_1",
        "Q2_K",
        "Q3_K",
        "Q4_K",
        "Q5_K",
        "Q6_K",
        "Q8_K",
        "IQ2_XXS",
        "IQ2_XS",
        "IQ3_XXS",
        "IQ1_S",
        "IQ4_NL",
        "IQ3_S",
        "IQ2_S",
        "IQ4_XS",
        "I8",
        "I16",
        "I32",
        "I64",
        "F64",
        "IQ1_M",
        "BF16",
        "Q4_0_4_4",
        "Q4_0_4_8",
        "Q4_0_8_8",
        "TQ1_0",
        "TQ2_0",
        "IQ4_NL_4_4",
        "IQ4_NL_4_8",
        "IQ4_NL_8_8",
        "MXFP4",
    ];
    NAMES
        .get(t as usize)
        .map_or_else(|| format!("unknown type {t}"), |n| n.to_string())
}

/// A bounds-checked cursor over the header.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    file: &'a str,
}

impl<'a> Reader<'a> {
    fn bad(&self, why: impl std::fmt::Display) -> Error {
        Error::Runtime(format!(
            "[load_gguf] {} is not a valid GGUF file: {why} (at byte {}).",
            self.file, self.pos
        ))
    }
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.bad(format!("{n} bytes are needed, {} remain", self.remaining())));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    /// A count of items of at least `min_size` bytes each, checked against what remains.
    fn count(&mut self, min_size: usize, what: &str) -> Result<usize> {
        let n = self.u64()?;
        if n > (self.remaining() / min_size.max(1)) as u64 {
            return Err(self.bad(format!("{what} count {n} exceeds the file")));
        }
        Ok(n as usize)
    }
    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.count(1, what)?;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.bad(format!("{what} is not UTF-8")))
    }
}

/// Bytes a metadata value of type `t` takes at least (for bounding counts).
fn min_size(t: u32) -> usize {
    match t {
        T_STRING | T_ARRAY => 8,
        _ => meta_dtype(t).map_or(1, |d| d.size()),
    }
}

/// Reads one metadata value of type `t`; `None` for a nested array (skipped).
fn read_value(r: &mut Reader, t: u32, depth: usize) -> Result<Option<MetaValue>> {
    if let Some(dtype) = meta_dtype(t) {
        let bytes = r.take(dtype.size())?;
        return Ok(Some(MetaValue::Array(Array::from_bytes(
            bytes,
            &[],
            dtype,
        )?)));
    }
    match t {
        T_STRING => Ok(Some(MetaValue::Str(r.string("a string")?))),
        T_ARRAY => {
            if depth >= MAX_NESTING {
                return Err(r.bad("arrays nest too deeply"));
            }
            let inner = r.u32()?;
            let n = r.count(min_size(inner), "an array's")?;
            if let Some(dtype) = meta_dtype(inner) {
                let bytes = r.take(n * dtype.size())?;
                return Ok(Some(MetaValue::Array(Array::from_bytes(
                    bytes,
                    &[n],
                    dtype,
                )?)));
            }
            match inner {
                T_STRING => {
                    let mut v = Vec::with_capacity(n);
                    for _ in 0..n {
                        v.push(r.string("a string")?);
                    }
                    Ok(Some(MetaValue::Strs(v)))
                }
                T_ARRAY => {
                    for _ in 0..n {
                        read_value(r, T_ARRAY, depth + 1)?;
                    }
                    Ok(None)
                }
                other => Err(r.bad(format!("unknown array element type {other}"))),
            }
        }
        other => Err(r.bad(format!("unknown metadata type {other}"))),
    }
}

/// What a tensor's description says.
struct TensorInfo {
    name: String,
    /// GGUF order: fastest axis first.
    dims: Vec<usize>,
    ggml_type: u32,
    offset: usize,
}

/// The tensors of a GGUF file, lazily, and its metadata.
pub fn read(source: &Arc<Source>) -> Result<(Arrays, Metadata)> {
    let mut r = Reader {
        bytes: source.bytes(),
        pos: 0,
        file: &source.name,
    };
    if r.take(4).ok() != Some(MAGIC.as_slice()) {
        return Err(r.bad("it does not start with GGUF"));
    }
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(r.bad(format!("version {version} is not supported (2 and 3 are)")));
    }
    // A tensor description takes at least 24 bytes, a key/value 13.
    let n_tensors = r.count(24, "the tensor")?;
    let n_kv = r.count(13, "the metadata")?;
    let mut metadata = Metadata::new();
    let mut alignment = DEFAULT_ALIGNMENT;
    for _ in 0..n_kv {
        let key = r.string("a metadata key")?;
        let t = r.u32()?;
        if key == "general.alignment" {
            if t != T_U32 {
                return Err(r.bad("general.alignment is not a uint32"));
            }
            let a = r.u32()? as usize;
            if a == 0 || !a.is_power_of_two() {
                return Err(r.bad(format!("general.alignment {a} is not a power of two")));
            }
            alignment = a;
            metadata.insert(key, MetaValue::Array(Array::scalar(a as u32)));
            continue;
        }
        if let Some(v) = read_value(&mut r, t, 0)? {
            if metadata.insert(key.clone(), v).is_some() {
                return Err(r.bad(format!("metadata key {key:?} appears twice")));
            }
        }
    }
    let mut infos = Vec::with_capacity(n_tensors);
    for _ in 0..n_tensors {
        let name = r.string("a tensor name")?;
        let n_dims = r.u32()? as usize;
        if n_dims > MAX_DIMS {
            return Err(r.bad(format!(
                "tensor {name:?} has {n_dims} dimensions (at most {MAX_DIMS})"
            )));
        }
        let mut dims = Vec::with_capacity(n_dims);
        for _ in 0..n_dims {
            let d = r.u64()?;
            dims.push(
                usize::try_from(d)
                    .map_err(|_| r.bad(format!("tensor {name:?} has dimension {d}")))?,
            );
        }
        let ggml_type = r.u32()?;
        let offset = r.u64()?;
        let offset = usize::try_from(offset)
            .map_err(|_| r.bad(format!("tensor {name:?} offset {offset}")))?;
        infos.push(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
        });
    }
    let data_start = r.pos.next_multiple_of(alignment);
    let mut arrays = Arrays::new();
    // Byte ranges, to reject tensors that overlap (each array may own its bytes).
    let mut ranges = Vec::with_capacity(infos.len());
    for info in &infos {
        let bad = |why: String| {
            Error::Runtime(format!(
                "[load_gguf] {} is not a valid GGUF file: tensor {:?} {why}.",
                source.name, info.name
            ))
        };
        let shape: Vec<usize> = info.dims.iter().rev().copied().collect();
        let numel = crate::shape::checked_size(&shape).map_err(|_| {
            bad(format!(
                "has dimensions {:?}, more elements than fit in memory",
                info.dims
            ))
        })?;
        let start = data_start
            .checked_add(info.offset)
            .ok_or_else(|| bad(format!("has offset {} past the end", info.offset)))?;
        let what = format!("tensor {:?}", info.name);
        let (nbytes, loaded) = if let Some(dtype) = tensor_dtype(info.ggml_type) {
            let a = Load::array(source, start, &shape, dtype, ByteOrder::Native, &what)?;
            (numel * dtype.size(), vec![(info.name.clone(), a)])
        } else if let Some(kind) = QuantKind::from_ggml(info.ggml_type) {
            let row = info.dims.first().copied().unwrap_or(1);
            if row % kind.block() != 0 {
                return Err(bad(format!(
                    "of type {} has rows of {row} elements, not a multiple of {}",
                    tensor_type_name(info.ggml_type),
                    kind.block()
                )));
            }
            let nbytes = numel / kind.block() * kind.block_bytes();
            source.range(start, nbytes, &what)?;
            let [w, s, b] = GgufQuant::arrays(source, start, &shape, kind)?;
            let prefix = info.name.strip_suffix(".weight").unwrap_or(&info.name);
            let parts = vec![
                (info.name.clone(), w),
                (format!("{prefix}.scales"), s),
                (format!("{prefix}.biases"), b),
            ];
            (nbytes, parts)
        } else {
            return Err(Error::Runtime(format!(
                "[load_gguf] Tensor {:?} in {} has type {}, which ferrox does not support \
                 (F32, F16, BF16, F64, I8-I64, Q4_0, Q4_1 and Q8_0 are).",
                info.name,
                source.name,
                tensor_type_name(info.ggml_type)
            )));
        };
        ranges.push((start, start + nbytes, &info.name));
        for (name, a) in loaded {
            if arrays.insert(name.clone(), a).is_some() {
                return Err(bad(format!(
                    "makes array {name:?}, which another tensor also makes"
                )));
            }
        }
    }
    ranges.retain(|r| r.1 > r.0);
    ranges.sort();
    for pair in ranges.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(Error::Runtime(format!(
                "[load_gguf] {} is not a valid GGUF file: tensors {:?} and {:?} overlap.",
                source.name, pair[0].2, pair[1].2
            )));
        }
    }
    Ok((arrays, metadata))
}

struct Writer<'w, W: Write> {
    w: &'w mut W,
    pos: usize,
}

impl<W: Write> Writer<'_, W> {
    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        self.w
            .write_all(b)
            .map_err(|e| Error::Runtime(format!("[save_gguf] Write failed: {e}.")))?;
        self.pos += b.len();
        Ok(())
    }
    fn string(&mut self, s: &str) -> Result<()> {
        self.bytes(&(s.len() as u64).to_le_bytes())?;
        self.bytes(s.as_bytes())
    }
    fn pad_to(&mut self, alignment: usize) -> Result<()> {
        let n = self.pos.next_multiple_of(alignment) - self.pos;
        self.bytes(&vec![0u8; n])
    }
}

/// Writes `arrays` (evaluating them) and `metadata` as GGUF version 3. Tensors are
/// F32, F16, BF16, F64 or integer; each starts 64-byte aligned.
pub fn write(w: &mut impl Write, arrays: &Arrays, metadata: &Metadata) -> Result<()> {
    // Check everything before writing a byte.
    let mut types = Vec::with_capacity(arrays.len());
    for (name, a) in arrays {
        let t = tensor_type_of(a.dtype()).ok_or_else(|| {
            Error::Runtime(format!(
                "[save_gguf] dtype {} is not supported (array {name:?}).",
                a.dtype()
            ))
        })?;
        if a.ndim() > MAX_DIMS {
            return Err(Error::Invalid(format!(
                "[save_gguf] Array {name:?} has {} dimensions; GGUF holds at most {MAX_DIMS}.",
                a.ndim()
            )));
        }
        types.push(t);
    }
    for (key, v) in metadata {
        if let MetaValue::Array(a) = v {
            if a.ndim() > 1 || meta_type_of(a.dtype()).is_none() {
                return Err(Error::Invalid(format!(
                    "[save_gguf] Metadata {key:?} is a {}-d {} array; GGUF holds 0-d or 1-d \
                     arrays of integers, float32, float64 or bool.",
                    a.ndim(),
                    a.dtype()
                )));
            }
        }
    }
    // The data section starts at a multiple of the file's alignment (32 unless the
    // metadata names one); each tensor at a multiple of it and of 64 in the file, so
    // that it loads in place.
    let align = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(MetaValue::Array(a)) if a.ndim() == 0 && a.dtype() == Dtype::Uint32 => {
            let v = a.item::<u32>()? as usize;
            if v == 0 || !v.is_power_of_two() {
                return Err(Error::Invalid(format!(
                    "[save_gguf] general.alignment {v} is not a power of two."
                )));
            }
            v
        }
        Some(_) => {
            return Err(Error::Invalid(
                "[save_gguf] general.alignment must be a 0-d uint32 array.".into(),
            ))
        }
    };
    let tensor_align = align.max(64);
    crate::eval(&arrays.values().cloned().collect::<Vec<_>>())?;
    // The header goes to memory first: the tensors' offsets depend on its length.
    let mut header = Vec::new();
    let mut out = Writer {
        w: &mut header,
        pos: 0,
    };
    out.bytes(MAGIC)?;
    out.bytes(&3u32.to_le_bytes())?;
    out.bytes(&(arrays.len() as u64).to_le_bytes())?;
    out.bytes(&(metadata.len() as u64).to_le_bytes())?;
    for (key, v) in metadata {
        out.string(key)?;
        match v {
            MetaValue::Str(s) => {
                out.bytes(&T_STRING.to_le_bytes())?;
                out.string(s)?;
            }
            MetaValue::Strs(v) => {
                out.bytes(&T_ARRAY.to_le_bytes())?;
                out.bytes(&T_STRING.to_le_bytes())?;
                out.bytes(&(v.len() as u64).to_le_bytes())?;
                for s in v {
                    out.string(s)?;
                }
            }
            MetaValue::Array(a) => {
                let t = meta_type_of(a.dtype()).expect("checked above");
                if a.ndim() == 1 {
                    out.bytes(&T_ARRAY.to_le_bytes())?;
                    out.bytes(&t.to_le_bytes())?;
                    out.bytes(&(a.size() as u64).to_le_bytes())?;
                } else {
                    out.bytes(&t.to_le_bytes())?;
                }
                out.bytes(&a.to_bytes()?)?;
            }
        }
    }
    let infos_len: usize = arrays
        .iter()
        .map(|(name, a)| 8 + name.len() + 4 + 8 * a.ndim() + 4 + 8)
        .sum();
    let data_start = (out.pos + infos_len).next_multiple_of(align);
    // Offsets from the data section, each a multiple of `align` (data_start is one).
    let mut offsets = Vec::with_capacity(arrays.len());
    let mut at = data_start.next_multiple_of(tensor_align);
    for a in arrays.values() {
        offsets.push(at - data_start);
        at = (at + a.nbytes()).next_multiple_of(tensor_align);
    }
    for ((name, a), (t, offset)) in arrays.iter().zip(types.iter().zip(&offsets)) {
        out.string(name)?;
        out.bytes(&(a.ndim() as u32).to_le_bytes())?;
        for &d in a.shape().iter().rev() {
            out.bytes(&(d as u64).to_le_bytes())?;
        }
        out.bytes(&t.to_le_bytes())?;
        out.bytes(&(*offset as u64).to_le_bytes())?;
    }
    let mut out = Writer { w, pos: 0 };
    out.bytes(&header)?;
    for (a, offset) in arrays.values().zip(&offsets) {
        out.bytes(&vec![0u8; data_start + offset - out.pos])?;
        super::write_array_bytes(out.w, a)
            .map_err(|e| Error::Runtime(format!("[save_gguf] Write failed: {e}.")))?;
        out.pos += a.nbytes();
    }
    out.pad_to(align)?;
    Ok(())
}
