//! Printing exactly as MLX 0.32 does (`repr(a)` == `str(a)`):
//!
//! ```text
//! array([[0, 1, 2, ..., 7, 8, 9],
//!        [10, 11, 12, ..., 17, 18, 19],
//!        ...,
//!        [90, 91, 92, ..., 97, 98, 99]], dtype=int32)
//! ```
//!
//! - elements are not padded or aligned and long rows are not wrapped;
//! - every axis longer than 6 shows its first and last 3 entries around `...`, whatever
//!   the array's total size;
//! - rows after the first start on a new line (one, at any depth) indented by
//!   `7 + axis` spaces;
//! - floats (f16, bf16, f32, f64, and each part of a complex) print as C's `%g` (6
//!   significant digits, so `1`, `0.333333`, `1e+07`, `-0`, `nan`, `-nan`, `inf`); with
//!   [`set_printoptions`] `precision = p >= 0`, as `%.pf`;
//! - complex as `re+imj`, or `re-|im|j` when the imaginary part is below 0 (so a `-0`
//!   imaginary part gives `1+-0j`, as in MLX);
//! - bool as `True`/`False`.
//!
//! Printing evaluates. `tests/print.rs` checks all of this against MLX's own output.

use crate::array::{Array, Data};
use crate::dtype::{Dtype, Element, Wide};
use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};

/// Print options (`mx.set_printoptions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrintOptions {
    /// Digits after the point (fixed notation); -1 for the default, `%g` with 6
    /// significant digits.
    pub precision: i32,
}

impl Default for PrintOptions {
    fn default() -> Self {
        PrintOptions { precision: -1 }
    }
}

static PRECISION: AtomicI32 = AtomicI32::new(-1);

/// Sets the process-wide print options, as `mx.set_printoptions`.
pub fn set_printoptions(options: PrintOptions) {
    PRECISION.store(options.precision, Ordering::Relaxed);
}

pub fn get_printoptions() -> PrintOptions {
    PrintOptions {
        precision: PRECISION.load(Ordering::Relaxed),
    }
}

/// Runs `f` with `options` in force, then restores the previous ones (`mx.printoptions`).
pub fn with_printoptions<R>(options: PrintOptions, f: impl FnOnce() -> R) -> R {
    struct Restore(PrintOptions);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_printoptions(self.0);
        }
    }
    let _restore = Restore(get_printoptions());
    set_printoptions(options);
    f()
}

/// Entries shown at each end of an axis longer than `2 * EDGE`.
const EDGE: usize = 3;
/// Indent of the rows of axis 0: `"array(".len() + 1`.
const INDENT: usize = 7;

/// A float as MLX prints it: C's `%g` (`precision < 0`) or `%.{precision}f`.
pub fn format_float(v: f64, precision: i32) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if precision >= 0 {
        return format!("{:.*}", precision as usize, v);
    }
    format_g(v, 6)
}

/// C's `%.{p}g`: `p` significant digits, scientific when the decimal exponent is below
/// -4 or at least `p`, trailing zeros removed. Rust's exact formatting rounds ties to
/// even on the exact binary value, as glibc does.
fn format_g(v: f64, p: usize) -> String {
    let p = p.max(1);
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // The exponent after rounding to p digits decides the style.
    let sci = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, v)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// One element as MLX prints it.
fn format_element(w: Wide, dtype: Dtype, precision: i32) -> String {
    match w {
        Wide::Bool(b) => if b { "True" } else { "False" }.into(),
        Wide::Int(v) => v.to_string(),
        Wide::Uint(v) => v.to_string(),
        // f16/bf16/f32 widen exactly to f64, and C's `<<` prints a float as a double.
        Wide::Float(v) => {
            debug_assert!(dtype.is_floating());
            format_float(v, precision)
        }
        Wide::Complex(re, im) => {
            let re_s = format_float(re, precision);
            if im >= 0.0 || im.is_nan() {
                format!("{re_s}+{}j", format_float(im, precision))
            } else {
                format!("{re_s}-{}j", format_float(-im, precision))
            }
        }
    }
}

/// Writes the sub-array of axis `dim` starting at element offset `base`, as MLX's
/// `print_subarray`.
fn write_subarray(
    out: &mut String,
    shape: &[usize],
    strides: &[isize],
    dim: usize,
    base: isize,
    element: &dyn Fn(isize) -> String,
) {
    let n = shape[dim];
    let is_last = dim + 1 == shape.len();
    out.push('[');
    let mut i = 0;
    while i < n {
        if i > 0 && !is_last {
            out.push_str(&" ".repeat(INDENT + dim));
        }
        if i == EDGE && n > 2 * EDGE {
            out.push_str("...");
            i = n - EDGE - 1;
        } else {
            let off = base + i as isize * strides[dim];
            if is_last {
                out.push_str(&element(off));
            } else {
                write_subarray(out, shape, strides, dim + 1, off, element);
            }
        }
        if i + 1 != n {
            out.push_str(if is_last { ", " } else { ",\n" });
        }
        i += 1;
    }
    out.push(']');
}

fn render(a: &Array, data: &Data, precision: i32) -> String {
    let dtype = a.dtype();
    let mut out = String::from("array(");
    crate::dispatch_dtype!(dtype, T => {
        let ptr = data.ptr::<T>();
        let element = |off: isize| {
            // SAFETY: offsets come from the view's own shape and strides.
            let v: T = unsafe { *ptr.offset(off) };
            format_element(v.to_wide(), dtype, precision)
        };
        if a.ndim() == 0 {
            out.push_str(&element(0));
        } else {
            write_subarray(&mut out, a.shape(), &data.strides, 0, 0, &element);
        }
    });
    out.push_str(&format!(", dtype={dtype})"));
    out
}

impl fmt::Display for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.data() {
            Ok(data) => f.write_str(&render(self, &data, get_printoptions().precision)),
            Err(e) => write!(f, "array(<error: {e}>, dtype={})", self.dtype()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_g;

    #[test]
    fn g_style_matches_c() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.333333"),
            (123456.0, "123456"),
            (999999.5, "1e+06"),
            (1234567.0, "1.23457e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-300, "-2.5e-300"),
            (1e300, "1e+300"),
            (-0.0, "-0"),
        ];
        for &(v, s) in cases {
            assert_eq!(format_g(v, 6), s, "{v}");
        }
    }
}
