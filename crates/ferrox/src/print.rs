//! Printing like MLX: `array([[1.5, 2],\n       [3, 4]], dtype=float32)`. Printing
//! evaluates.

use crate::array::Array;
use crate::dtype::{Dtype, Element, Wide};
use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};

/// Print options (`mx.set_printoptions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrintOptions {
    /// Digits after the point; -1 for the default (up to 6 significant digits).
    pub precision: i32,
}

static PRECISION: AtomicI32 = AtomicI32::new(-1);

pub fn set_printoptions(options: PrintOptions) {
    PRECISION.store(options.precision, Ordering::Relaxed);
}

pub fn get_printoptions() -> PrintOptions {
    PrintOptions {
        precision: PRECISION.load(Ordering::Relaxed),
    }
}

/// Elements shown per axis before summarising with `...`.
const EDGE: usize = 3;
/// Arrays with more elements than this are summarised.
const THRESHOLD: usize = 1000;

/// A float as MLX prints it: `%g`-like with 6 significant digits, no trailing zeros.
pub fn format_float(v: f64, precision: i32) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if precision >= 0 {
        return format!("{:.*}", precision as usize, v);
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-5..6).contains(&exp) {
        // Scientific: mantissa with up to 6 significant digits, exponent with sign and two digits.
        let s = format!("{:.5e}", v);
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = trim_zeros(m);
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = (5 - exp).max(0) as usize;
    trim_zeros(&format!("{:.*}", decimals, v)).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn format_wide(w: Wide, dtype: Dtype, precision: i32) -> String {
    match w {
        Wide::Bool(b) => {
            if b {
                "True".into()
            } else {
                "False".into()
            }
        }
        Wide::Int(v) => v.to_string(),
        Wide::Uint(v) => v.to_string(),
        Wide::Float(v) => {
            let v = if dtype == Dtype::Float32 {
                v as f32 as f64
            } else {
                v
            };
            format_float(v, precision)
        }
        Wide::Complex(re, im) => {
            let im_s = format_float(im.abs(), precision);
            let sign = if im < 0.0 || (im == 0.0 && im.is_sign_negative()) {
                '-'
            } else {
                '+'
            };
            format!("{}{sign}{im_s}j", format_float(re, precision))
        }
    }
}

fn write_axis(
    out: &mut String,
    items: &[String],
    shape: &[usize],
    start: usize,
    indent: usize,
    summarise: bool,
) {
    if shape.is_empty() {
        out.push_str(&items[start]);
        return;
    }
    let n = shape[0];
    let step: usize = shape[1..].iter().product();
    out.push('[');
    let show: Vec<Option<usize>> = if summarise && n > 2 * EDGE {
        (0..EDGE)
            .map(Some)
            .chain([None])
            .chain((n - EDGE..n).map(Some))
            .collect()
    } else {
        (0..n).map(Some).collect()
    };
    for (j, i) in show.iter().enumerate() {
        if j > 0 {
            out.push(',');
            if shape.len() > 1 {
                out.push_str(&"\n".repeat(shape.len() - 1));
                out.push_str(&" ".repeat(indent + 1));
            } else {
                out.push(' ');
            }
        }
        match i {
            Some(i) => write_axis(
                out,
                items,
                &shape[1..],
                start + i * step,
                indent + 1,
                summarise,
            ),
            None => out.push_str("..."),
        }
    }
    out.push(']');
}

impl fmt::Display for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let precision = get_printoptions().precision;
        let dtype = self.dtype();
        let values: Vec<String> = match crate::dispatch_dtype!(dtype, T => self.to_vec::<T>().map(|v| {
            v.into_iter().map(|x: T| format_wide(x.to_wide(), dtype, precision)).collect()
        })) {
            Ok(v) => v,
            Err(e) => return write!(f, "array(<error: {e}>)"),
        };
        let summarise = self.size() > THRESHOLD;
        let mut body = String::new();
        if self.ndim() == 0 {
            body.push_str(values.first().map(String::as_str).unwrap_or(""));
        } else if self.size() == 0 {
            body.push_str(&"[".repeat(self.ndim()));
            body.push_str(&"]".repeat(self.ndim()));
        } else {
            write_axis(
                &mut body,
                &values,
                self.shape(),
                0,
                "array(".len(),
                summarise,
            );
        }
        write!(f, "array({body}, dtype={dtype})")
    }
}
