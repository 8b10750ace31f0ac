//! `.npz`: a zip archive of `.npy` members (NumPy's `savez`). The archive is read
//! with the `zip` crate. A stored (uncompressed) member is an `.npy` inside the mapped
//! file, loaded lazily in place; a deflated one (`savez_compressed`) is decompressed
//! when the archive is opened, since its bytes exist nowhere else.

use super::source::Source;
use super::{npy, Arrays};
use crate::{Array, Error, Result};
use std::io::{Cursor, Read, Seek, Write};
use std::sync::Arc;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

/// The arrays of an `.npz` archive, by member name without `.npy`.
pub fn read(source: &Arc<Source>) -> Result<Arrays> {
    let bad = |e: &dyn std::fmt::Display| {
        Error::Runtime(format!(
            "[load] {} is not a valid .npz file: {e}.",
            source.name
        ))
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(source.bytes())).map_err(|e| bad(&e))?;
    let mut arrays = Arrays::new();
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(|e| bad(&e))?;
        let name = member.name().map_err(|e| bad(&e))?.to_string();
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        let array = match member.compression() {
            CompressionMethod::Stored => {
                let start = member
                    .data_start()
                    .ok_or_else(|| bad(&format!("member {name} has no data offset")))?;
                npy::read(source, start as usize, member.size() as usize)?
            }
            _ => {
                // Decompress at most the declared size (plus one byte, to detect a
                // member that inflates past it) into memory grown as data arrives.
                let declared = member.size();
                let mut bytes = Vec::new();
                (&mut member)
                    .take(declared.saturating_add(1))
                    .read_to_end(&mut bytes)
                    .map_err(|e| bad(&format!("member {name}: {e}")))?;
                if bytes.len() as u64 != declared {
                    return Err(bad(&format!(
                        "member {name} does not inflate to its declared size"
                    )));
                }
                let inner = Source::from_bytes(&bytes, &format!("{}:{name}", source.name))?;
                npy::read(&inner, 0, inner.len())?
            }
        };
        if arrays.insert(key, array).is_some() {
            return Err(bad(&format!("member {name} appears twice")));
        }
    }
    Ok(arrays)
}

/// Writes `arrays` as an `.npz` archive, each member deflated when `compressed`, else
/// stored with its data 64-byte aligned (so that loading it is free).
pub fn write<W: Write + Seek>(w: W, arrays: &[(String, Array)], compressed: bool) -> Result<()> {
    let op = if compressed {
        "savez_compressed"
    } else {
        "savez"
    };
    let err = |e: &dyn std::fmt::Display| Error::Runtime(format!("[{op}] Write failed: {e}."));
    let options = SimpleFileOptions::default();
    let options = if compressed {
        options.compression_method(CompressionMethod::Deflated)
    } else {
        options
            .compression_method(CompressionMethod::Stored)
            .with_alignment(64)
    };
    let mut zip = zip::ZipWriter::new(w);
    for (name, array) in arrays {
        // Zip64 records only for members that need them (past 4 GiB).
        let large = array.nbytes() as u64 >= u32::MAX as u64 - (1 << 16);
        zip.start_file(format!("{name}.npy"), options.large_file(large))
            .map_err(|e| err(&e))?;
        npy::write(&mut zip, array)?;
    }
    zip.finish().map_err(|e| err(&e))?;
    Ok(())
}
