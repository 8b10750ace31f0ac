//! `mlx.core.fft`: discrete Fourier transforms (`fft`, `rfft`, `irfft` and their 2-D and
//! n-D forms) over one [`Fft`] primitive per axis, plus the frequency grids and shifts
//! (`fftfreq`, `fftshift`, ...) composed of other ops, and `stft` / `istft`.
//!
//! Sizes `n` / `s` crop or zero-pad the input along each transformed axis; `norm` is
//! `"backward"` (`1/n` on the inverse), `"ortho"` (`1/√n` both ways) or `"forward"`
//! (`1/n` on the forward transform). Complex results are complex64 and real ones
//! float32, whatever the input's dtype (there is no complex128), as in MLX.
//!
//! ```
//! use ferrox::{ops, ops::fft};
//! let x = ops::arange(0.0, 4.0, 1.0, None)?;
//! let y = fft::rfft(&x, None, -1, "backward")?; // [6, -2+2i, -2]
//! let back: Vec<f32> = fft::irfft(&y, Some(4), -1, "backward")?.to_vec()?;
//! assert!(back.iter().zip([0.0, 1.0, 2.0, 3.0]).all(|(b, x)| (b - x).abs() < 1e-6));
//! # Ok::<(), ferrox::Error>(())
//! ```

mod stft;

pub use stft::{istft, stft};

use super::{astype, concatenate, divide, multiply, pad, real, roll, slice, PadMode};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::primitives::fft::Fft;
use crate::shape::normalize_axis;
use crate::{Error, Result};

/// Which transform an op asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Complex,
    Real,
    InverseReal,
}

/// The factor `norm` puts on a transform of `size` points (`inverse` or not).
fn scale(op: &str, norm: &str, size: usize, inverse: bool) -> Result<f64> {
    let n = size as f64;
    Ok(match (norm, inverse) {
        ("backward", false) | ("forward", true) => 1.0,
        ("backward", true) | ("forward", false) => 1.0 / n,
        ("ortho", _) => 1.0 / n.sqrt(),
        _ => {
            return Err(Error::Invalid(format!(
                "[{op}] Invalid norm '{norm}'. Expected one of {{'backward', 'ortho', \
                 'forward'}}."
            )))
        }
    })
}

/// `a` cropped or zero-padded to extent `size` along `axis`.
fn fit(a: &Array, axis: usize, size: usize) -> Result<Array> {
    let have = a.shape()[axis];
    if have > size {
        let nd = a.ndim();
        let mut stop: Vec<isize> = a.shape().iter().map(|&d| d as isize).collect();
        stop[axis] = size as isize;
        slice(a, &vec![0; nd], &stop, &vec![1; nd])
    } else if have < size {
        let mut widths = vec![(0, 0); a.ndim()];
        widths[axis] = (0, size - have);
        pad(a, &widths, PadMode::Constant, 0.0f32)
    } else {
        Ok(a.clone())
    }
}

/// The shared body of every transform: checks `s` / `axes` as MLX's `fftn` does, casts,
/// fits each axis to its size, runs one [`Fft`] per axis (a real transform on the last
/// of `axes`) and scales by `norm`.
fn fftn_impl(
    op: &str,
    a: &Array,
    s: Option<&[isize]>,
    axes: Option<&[isize]>,
    inverse: bool,
    kind: Kind,
    norm: &str,
) -> Result<Array> {
    let all: Vec<isize>;
    let axes = match (axes, s) {
        (Some(ax), _) => ax,
        (None, Some(_)) => {
            return Err(Error::Invalid(format!(
                "[{op}] `axes` should not be `None` if `s` is not `None`."
            )))
        }
        (None, None) => {
            all = (0..a.ndim() as isize).collect();
            &all
        }
    };
    if let Some(s) = s {
        if s.len() != axes.len() {
            return Err(Error::Invalid(format!(
                "[{op}] Shape {s:?} and axes {axes:?} have different sizes."
            )));
        }
    }
    let mut ax = Vec::with_capacity(axes.len());
    for &x in axes {
        let x = normalize_axis(x, a.ndim()).map_err(|_| {
            Error::Index(format!(
                "[{op}] Invalid axis {x} for array of shape {:?}.",
                a.shape()
            ))
        })?;
        if ax.contains(&x) {
            return Err(Error::Invalid(format!(
                "[{op}] Duplicated axis received {axes:?}."
            )));
        }
        ax.push(x);
    }
    scale(op, norm, 1, inverse)?;
    if ax.is_empty() {
        return Ok(a.clone());
    }
    // The logical transform sizes (irfft's last one is its output length).
    let last = ax.len() - 1;
    let sizes: Vec<isize> = match s {
        Some(s) => s.to_vec(),
        None => ax
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let d = a.shape()[x] as isize;
                if kind == Kind::InverseReal && i == last {
                    2 * (d - 1)
                } else {
                    d
                }
            })
            .collect(),
    };
    let mut n = Vec::with_capacity(sizes.len());
    for &v in &sizes {
        if v <= 0 {
            return Err(Error::Invalid(format!(
                "[{op}] Invalid FFT output size requested ({v}) for input of shape {:?}.",
                a.shape()
            )));
        }
        n.push(v as usize);
    }
    let mut x = match kind {
        Kind::Real if a.dtype().is_complex() => astype(&real(a)?, Dtype::Float32)?,
        Kind::Real => astype(a, Dtype::Float32)?,
        _ => astype(a, Dtype::Complex64)?,
    };
    for (i, (&axis, &size)) in ax.iter().zip(&n).enumerate() {
        let extent = if kind == Kind::InverseReal && i == last {
            size / 2 + 1
        } else {
            size
        };
        x = fit(&x, axis, extent)?;
    }
    let step = |x: &Array, axis: usize, n: usize, real: bool| {
        Fft {
            axis,
            n,
            inverse,
            real,
        }
        .apply(x)
    };
    match kind {
        Kind::Complex => {
            for (&axis, &size) in ax.iter().zip(&n) {
                x = step(&x, axis, size, false);
            }
        }
        // The real transform halves the last axis first; the others are complex then.
        Kind::Real => {
            x = step(&x, ax[last], n[last], true);
            for (&axis, &size) in ax[..last].iter().zip(&n) {
                x = step(&x, axis, size, false);
            }
        }
        Kind::InverseReal => {
            for (&axis, &size) in ax[..last].iter().zip(&n) {
                x = step(&x, axis, size, false);
            }
            x = step(&x, ax[last], n[last], true);
        }
    }
    let factor = scale(op, norm, n.iter().product(), inverse)?;
    if factor == 1.0 {
        Ok(x)
    } else {
        multiply(&x, factor as f32)
    }
}

/// The one-dimensional discrete Fourier transform of `a` along `axis` (complex64 out),
/// `a` cropped or zero-padded to `n` points first when `n` is given.
/// Errors: `axis` out of range (`Error::Index`), `n <= 0`, an unknown `norm`.
pub fn fft(a: &Array, n: Option<isize>, axis: isize, norm: &str) -> Result<Array> {
    let s = n.map(|n| [n]);
    fftn_impl(
        "fft",
        a,
        s.as_ref().map(|s| &s[..]),
        Some(&[axis]),
        false,
        Kind::Complex,
        norm,
    )
}

/// The inverse of [`fft`] (complex64 out); same arguments and errors.
pub fn ifft(a: &Array, n: Option<isize>, axis: isize, norm: &str) -> Result<Array> {
    let s = n.map(|n| [n]);
    fftn_impl(
        "ifft",
        a,
        s.as_ref().map(|s| &s[..]),
        Some(&[axis]),
        true,
        Kind::Complex,
        norm,
    )
}

/// The transform of real input (complex input: its real part) along `axis`: the
/// `n / 2 + 1` non-negative frequencies (complex64) of `n` points.
pub fn rfft(a: &Array, n: Option<isize>, axis: isize, norm: &str) -> Result<Array> {
    let s = n.map(|n| [n]);
    fftn_impl(
        "rfft",
        a,
        s.as_ref().map(|s| &s[..]),
        Some(&[axis]),
        false,
        Kind::Real,
        norm,
    )
}

/// The inverse of [`rfft`]: `n` real points (float32; default `2·(m − 1)` for `m` input
/// bins) from the non-negative half of a Hermitian spectrum, cropped or zero-padded to
/// `n / 2 + 1` bins first.
pub fn irfft(a: &Array, n: Option<isize>, axis: isize, norm: &str) -> Result<Array> {
    let s = n.map(|n| [n]);
    fftn_impl(
        "irfft",
        a,
        s.as_ref().map(|s| &s[..]),
        Some(&[axis]),
        true,
        Kind::InverseReal,
        norm,
    )
}

/// The n-dimensional transform over `axes` (default: every axis; `s` then requires
/// `axes`), each cropped or zero-padded to `s[i]` points. Errors: `s` and `axes` of
/// different lengths, a repeated axis, an axis out of range, a size `<= 0`, bad `norm`.
pub fn fftn(a: &Array, s: Option<&[isize]>, axes: Option<&[isize]>, norm: &str) -> Result<Array> {
    fftn_impl("fftn", a, s, axes, false, Kind::Complex, norm)
}

/// The inverse of [`fftn`]; same arguments and errors.
pub fn ifftn(a: &Array, s: Option<&[isize]>, axes: Option<&[isize]>, norm: &str) -> Result<Array> {
    fftn_impl("ifftn", a, s, axes, true, Kind::Complex, norm)
}

/// The n-dimensional transform of real input: [`rfft`] over the last of `axes`, then
/// complex transforms over the others.
pub fn rfftn(a: &Array, s: Option<&[isize]>, axes: Option<&[isize]>, norm: &str) -> Result<Array> {
    fftn_impl("rfftn", a, s, axes, false, Kind::Real, norm)
}

/// The inverse of [`rfftn`]: inverse complex transforms over all but the last of `axes`,
/// then [`irfft`] over the last (`s[-1]` real points, default `2·(m − 1)`).
pub fn irfftn(a: &Array, s: Option<&[isize]>, axes: Option<&[isize]>, norm: &str) -> Result<Array> {
    fftn_impl("irfftn", a, s, axes, true, Kind::InverseReal, norm)
}

/// [`fftn`] over `axes` (MLX's default `[-2, -1]`).
pub fn fft2(a: &Array, s: Option<&[isize]>, axes: Option<&[isize]>, norm: &str) -> Result<Array> {
    fftn_impl("fft2", a, s, axes, false, Kind::Complex, norm)
}

/// [`ifftn`] over `axes` (MLX's default `[-2, -1]`).
pub fn ifft2(a: &Array, s: Option<&[isize]>, axes: Option<&[isize]>, norm: &str) -> Result<Array> {
    fftn_impl("ifft2", a, s, axes, true, Kind::Complex, norm)
}

/// [`rfftn`] over `axes` (MLX's default `[-2, -1]`).
pub fn rfft2(a: &Array, s: Option<&[isize]>, axes: Option<&[isize]>, norm: &str) -> Result<Array> {
    fftn_impl("rfft2", a, s, axes, false, Kind::Real, norm)
}

/// [`irfftn`] over `axes` (MLX's default `[-2, -1]`).
pub fn irfft2(a: &Array, s: Option<&[isize]>, axes: Option<&[isize]>, norm: &str) -> Result<Array> {
    fftn_impl("irfft2", a, s, axes, true, Kind::InverseReal, norm)
}

/// The sample frequencies of an `n`-point transform with sample spacing `d` (float32):
/// `[0, 1, ..., ⌈n/2⌉ − 1, −⌊n/2⌋, ..., −1] / (n·d)`. Errors: `n <= 0`, `d == 0`.
pub fn fftfreq(n: isize, d: f64) -> Result<Array> {
    if n <= 0 {
        return Err(Error::Invalid(format!(
            "[fftfreq] `n` must be greater than 0 but got {n}."
        )));
    }
    if d == 0.0 {
        return Err(Error::Invalid("[fftfreq] `d` must be non-zero.".into()));
    }
    let nf = n as f64;
    let pos = super::arange(0.0, ((n - 1) / 2 + 1) as f64, 1.0, None)?;
    let neg = super::arange(-((n / 2) as f64), 0.0, 1.0, None)?;
    divide(&concatenate(&[pos, neg], Some(0))?, (nf * d) as f32)
}

/// The non-negative sample frequencies of an `n`-point real transform (float32):
/// `[0, 1, ..., ⌊n/2⌋] / (n·d)`. Errors: `n <= 0`, `d == 0`.
pub fn rfftfreq(n: isize, d: f64) -> Result<Array> {
    if n <= 0 {
        return Err(Error::Invalid(format!(
            "[rfftfreq] `n` must be greater than 0 but got {n}."
        )));
    }
    if d == 0.0 {
        return Err(Error::Invalid("[rfftfreq] `d` must be non-zero.".into()));
    }
    let k = super::arange(0.0, (n / 2 + 1) as f64, 1.0, None)?;
    divide(&k, (n as f64 * d) as f32)
}

/// `a` rolled by `sign·⌊extent/2⌋` along each of `axes` (default all).
fn shift(op: &str, a: &Array, axes: Option<&[isize]>, inverse: bool) -> Result<Array> {
    let all: Vec<isize> = (0..a.ndim() as isize).collect();
    let axes = axes.unwrap_or(&all);
    let mut shifts = Vec::with_capacity(axes.len());
    for &x in axes {
        let ax = normalize_axis(x, a.ndim()).map_err(|_| {
            Error::Index(format!(
                "[{op}] Invalid axis {x} for array with {} dimensions.",
                a.ndim()
            ))
        })?;
        let half = (a.shape()[ax] / 2) as isize;
        shifts.push(if inverse { -half } else { half });
    }
    if axes.is_empty() {
        return Ok(a.clone());
    }
    roll(a, &shifts, Some(axes))
}

/// The zero frequency moved to the centre along `axes` (default all): `a` rolled by
/// `⌊extent/2⌋`. Errors: an axis out of range (`Error::Index`).
pub fn fftshift(a: &Array, axes: Option<&[isize]>) -> Result<Array> {
    shift("fftshift", a, axes, false)
}

/// The inverse of [`fftshift`]: `a` rolled by `−⌊extent/2⌋` along `axes` (default all).
pub fn ifftshift(a: &Array, axes: Option<&[isize]>) -> Result<Array> {
    shift("ifftshift", a, axes, true)
}
