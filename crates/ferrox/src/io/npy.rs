//! `.npy`: NumPy's format, a magic string, a header that is a Python dict literal
//! (`{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`), then the data.
//! The header grammar is that small fixed dict, so it is parsed here rather than with
//! a general Python-literal parser; anything outside it is an error naming the file.

use super::source::{ByteOrder, Load, Source};
use crate::dtype::Dtype;
use crate::{ops, Array, Error, Result};
use std::io::Write;
use std::sync::Arc;

const MAGIC: &[u8] = b"\x93NUMPY";
/// NumPy's own cap on a header, so a corrupt length cannot make us scan gigabytes.
const MAX_HEADER: usize = 1 << 20;

/// The dtype and byte order of a `descr` string. NumPy has no bfloat16: MLX writes it
/// as `<V2` (two raw bytes), and reads that back as bfloat16, as we do.
fn parse_descr(descr: &str) -> Option<(Dtype, ByteOrder)> {
    let (order, code) = match descr.as_bytes().first()? {
        b'<' | b'|' | b'=' => (ByteOrder::Native, &descr[1..]),
        b'>' => (ByteOrder::Swapped, &descr[1..]),
        _ => (ByteOrder::Native, descr),
    };
    let dtype = match code {
        "b1" | "?" => Dtype::Bool,
        "u1" => Dtype::Uint8,
        "u2" => Dtype::Uint16,
        "u4" => Dtype::Uint32,
        "u8" => Dtype::Uint64,
        "i1" => Dtype::Int8,
        "i2" => Dtype::Int16,
        "i4" => Dtype::Int32,
        "i8" => Dtype::Int64,
        "f2" => Dtype::Float16,
        "V2" => Dtype::Bfloat16,
        "f4" => Dtype::Float32,
        "f8" => Dtype::Float64,
        "c8" => Dtype::Complex64,
        _ => return None,
    };
    // One-byte elements have no byte order to swap.
    let order = if dtype.size() == 1 {
        ByteOrder::Native
    } else {
        order
    };
    Some((dtype, order))
}

/// NumPy's type string of a dtype (`<V2`, two raw bytes, for bfloat16, as MLX writes).
pub fn descr_of(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::Bool => "|b1",
        Dtype::Uint8 => "|u1",
        Dtype::Uint16 => "<u2",
        Dtype::Uint32 => "<u4",
        Dtype::Uint64 => "<u8",
        Dtype::Int8 => "|i1",
        Dtype::Int16 => "<i2",
        Dtype::Int32 => "<i4",
        Dtype::Int64 => "<i8",
        Dtype::Float16 => "<f2",
        Dtype::Bfloat16 => "<V2",
        Dtype::Float32 => "<f4",
        Dtype::Float64 => "<f8",
        Dtype::Complex64 => "<c8",
    }
}

/// The parsed header dict.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A tiny cursor over the header literal.
struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && (self.s[self.i] as char).is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn string(&mut self) -> Option<String> {
        self.skip_ws();
        let quote = *self.s.get(self.i)?;
        if quote != b'\'' && quote != b'"' {
            return None;
        }
        let start = self.i + 1;
        let len = self.s[start..].iter().position(|&c| c == quote)?;
        self.i = start + len + 1;
        String::from_utf8(self.s[start..start + len].to_vec()).ok()
    }
    fn word(&mut self) -> &[u8] {
        self.skip_ws();
        let start = self.i;
        while self.i < self.s.len() && (self.s[self.i] as char).is_ascii_alphanumeric() {
            self.i += 1;
        }
        &self.s[start..self.i]
    }
}

fn parse_header(text: &[u8]) -> Option<Header> {
    let mut lx = Lexer { s: text, i: 0 };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    if !lx.eat(b'{') {
        return None;
    }
    while !lx.eat(b'}') {
        let key = lx.string()?;
        if !lx.eat(b':') {
            return None;
        }
        match key.as_str() {
            "descr" => descr = Some(lx.string()?),
            "fortran_order" => {
                fortran = Some(match lx.word() {
                    b"True" => true,
                    b"False" => false,
                    _ => return None,
                })
            }
            "shape" => {
                if !lx.eat(b'(') {
                    return None;
                }
                let mut dims = Vec::new();
                while !lx.eat(b')') {
                    let w = std::str::from_utf8(lx.word()).ok()?;
                    // Python ints may carry an `L` suffix in old files.
                    dims.push(w.trim_end_matches('L').parse::<usize>().ok()?);
                    if dims.len() > 64 {
                        return None;
                    }
                    lx.eat(b',');
                }
                shape = Some(dims);
            }
            _ => return None,
        }
        lx.eat(b',');
    }
    Some(Header {
        descr: descr?,
        fortran_order: fortran?,
        shape: shape?,
    })
}

/// The array of the `.npy` stored in `source[start..start + len]`, lazily.
pub fn read(source: &Arc<Source>, start: usize, len: usize) -> Result<Array> {
    let bad = |why: &str| {
        Error::Runtime(format!(
            "[load] {} is not a valid .npy file: {why}.",
            source.name
        ))
    };
    let bytes = source.range(start, len, "the .npy data")?;
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("it does not start with NumPy's magic string"));
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
        v => return Err(bad(&format!("version {v} is not supported"))),
    };
    if header_len > MAX_HEADER || header_start + header_len > bytes.len() {
        return Err(bad(&format!(
            "its header length {header_len} runs past the end"
        )));
    }
    let header = parse_header(&bytes[header_start..header_start + header_len])
        .ok_or_else(|| bad("its header is not a dict of descr, fortran_order and shape"))?;
    let (dtype, order) = parse_descr(&header.descr)
        .ok_or_else(|| bad(&format!("dtype {:?} is not supported", header.descr)))?;
    let data = start + header_start + header_len;
    let data_len = len - header_start - header_len;
    // The tensor must fill the rest of the file exactly (a shorter file is truncated).
    let nbytes = crate::shape::checked_size(&header.shape)
        .ok()
        .and_then(|n| n.checked_mul(dtype.size()));
    if nbytes != Some(data_len) {
        return Err(bad(&format!(
            "shape {:?} of {dtype} needs {} bytes of data, the file has {data_len}",
            header.shape,
            nbytes.map_or("more".to_string(), |n| n.to_string())
        )));
    }
    if header.fortran_order {
        // Column-major: the reversed shape read row-major, transposed back.
        let reversed: Vec<usize> = header.shape.iter().rev().copied().collect();
        let a = Load::array(source, data, &reversed, dtype, order, "the .npy data")?;
        ops::transpose(&a, &[])
    } else {
        Load::array(source, data, &header.shape, dtype, order, "the .npy data")
    }
}

/// Writes `array` (evaluating it) as `.npy` version 1.0, its data 64-byte aligned.
pub fn write(w: &mut impl Write, array: &Array) -> Result<()> {
    let dims: Vec<String> = array.shape().iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        descr_of(array.dtype())
    );
    // Pad with spaces and end with a newline so that the data starts 64-byte aligned.
    let total = (10 + header.len() + 1).next_multiple_of(64);
    while 10 + header.len() + 1 < total {
        header.push(' ');
    }
    header.push('\n');
    let err = |e: std::io::Error| Error::Runtime(format!("[save] Write failed: {e}."));
    w.write_all(MAGIC).map_err(err)?;
    w.write_all(&[1, 0]).map_err(err)?;
    w.write_all(&(header.len() as u16).to_le_bytes())
        .map_err(err)?;
    w.write_all(header.as_bytes()).map_err(err)?;
    super::write_array_bytes(w, array).map_err(err)
}
