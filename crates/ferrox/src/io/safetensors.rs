//! `.safetensors`: an 8-byte header length, a JSON header naming each tensor's dtype,
//! shape and byte range, then the data. Parsing and validation (header bounds, UTF-8,
//! offsets that tile the data exactly, overflowing shapes) are the `safetensors`
//! crate's; this module maps its dtypes onto ferrox's and builds lazy arrays.

use super::source::{ByteOrder, Load, Source};
use super::Arrays;
use crate::dtype::Dtype;
use crate::{Error, Result};
use safetensors::tensor::{Dtype as St, Metadata, SafeTensors, TensorInfo};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

/// ferrox's dtype for a stored one. FP8 tensors load as `uint8` bytes, as in MLX
/// (`from_fp8` decodes them).
fn dtype_of(st: St, name: &str, file: &str) -> Result<Dtype> {
    Ok(match st {
        St::BOOL => Dtype::Bool,
        St::U8 | St::F8_E4M3 | St::F8_E5M2 => Dtype::Uint8,
        St::I8 => Dtype::Int8,
        St::U16 => Dtype::Uint16,
        St::I16 => Dtype::Int16,
        St::U32 => Dtype::Uint32,
        St::I32 => Dtype::Int32,
        St::U64 => Dtype::Uint64,
        St::I64 => Dtype::Int64,
        St::F16 => Dtype::Float16,
        St::BF16 => Dtype::Bfloat16,
        St::F32 => Dtype::Float32,
        St::F64 => Dtype::Float64,
        St::C64 => Dtype::Complex64,
        other => {
            return Err(Error::Runtime(format!(
                "[load_safetensors] Tensor {name:?} in {file} has dtype {other:?}, which \
                 ferrox does not support."
            )))
        }
    })
}

fn stored_dtype(dtype: Dtype) -> St {
    match dtype {
        Dtype::Bool => St::BOOL,
        Dtype::Uint8 => St::U8,
        Dtype::Int8 => St::I8,
        Dtype::Uint16 => St::U16,
        Dtype::Int16 => St::I16,
        Dtype::Uint32 => St::U32,
        Dtype::Int32 => St::I32,
        Dtype::Uint64 => St::U64,
        Dtype::Int64 => St::I64,
        Dtype::Float16 => St::F16,
        Dtype::Bfloat16 => St::BF16,
        Dtype::Float32 => St::F32,
        Dtype::Float64 => St::F64,
        Dtype::Complex64 => St::C64,
    }
}

/// The tensors of a safetensors file, lazily, and its `__metadata__`.
pub fn read(source: &Arc<Source>) -> Result<(Arrays, BTreeMap<String, String>)> {
    let (header_len, meta) = SafeTensors::read_metadata(source.bytes()).map_err(|e| {
        Error::Runtime(format!(
            "[load_safetensors] {} is not a valid safetensors file: {e}.",
            source.name
        ))
    })?;
    let data_start = 8 + header_len;
    let mut arrays = Arrays::new();
    for (name, info) in meta.tensors() {
        let dtype = dtype_of(info.dtype, &name, &source.name)?;
        let what = format!("tensor {name:?}");
        let array = Load::array(
            source,
            data_start + info.data_offsets.0,
            &info.shape,
            dtype,
            ByteOrder::Native,
            &what,
        )?;
        arrays.insert(name, array);
    }
    let metadata = meta
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok((arrays, metadata))
}

/// Writes `arrays` (evaluating them) as safetensors, in name order.
pub fn write(
    w: &mut impl Write,
    arrays: &Arrays,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    crate::eval(&arrays.values().cloned().collect::<Vec<_>>())?;
    let mut offset = 0usize;
    let mut infos = Vec::with_capacity(arrays.len());
    for (name, a) in arrays {
        let end = offset + a.nbytes();
        infos.push((
            name.clone(),
            TensorInfo {
                dtype: stored_dtype(a.dtype()),
                shape: a.shape().to_vec(),
                data_offsets: (offset, end),
            },
        ));
        offset = end;
    }
    let meta = (!metadata.is_empty()).then(|| {
        metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<HashMap<_, _>>()
    });
    let meta = Metadata::new(meta, infos).map_err(|e| {
        Error::Runtime(format!(
            "[save_safetensors] Cannot describe the arrays: {e}."
        ))
    })?;
    let mut header = serde_json::to_vec(&meta)
        .map_err(|e| Error::Runtime(format!("[save_safetensors] {e}.")))?;
    // Pad the header with spaces (as the `safetensors` package does) so that the data
    // starts 64-byte aligned and aligned tensors load without a copy.
    let padded = (8 + header.len()).next_multiple_of(64) - 8;
    header.resize(padded, b' ');
    let err = |e: std::io::Error| Error::Runtime(format!("[save_safetensors] Write failed: {e}."));
    w.write_all(&(header.len() as u64).to_le_bytes())
        .map_err(err)?;
    w.write_all(&header).map_err(err)?;
    for a in arrays.values() {
        super::write_array_bytes(w, a).map_err(err)?;
    }
    Ok(())
}
