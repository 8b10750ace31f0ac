//! `ferrox.core.fft`, a drop-in for `mlx.core.fft`: the transforms, frequency grids,
//! shifts, `stft` and `istft` of `ferrox::ops::fft`. As in MLX, the array arguments
//! must be arrays (a list is a `TypeError`).

use crate::array::PyArray;
use crate::convert::type_name;
use crate::device::on_stream;
use ferrox::ops::fft as ops_fft;
use ferrox::Array;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

type Arg<'a, 'py> = &'a Bound<'py, PyAny>;
type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

/// An `array` argument, strictly.
fn array_only(func: &str, name: &str, a: Arg) -> PyResult<Array> {
    match a.cast::<PyArray>() {
        Ok(a) => Ok(a.borrow().inner.clone()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{func}(): incompatible function arguments: {name} must be an array, got {}.",
            type_name(a)
        ))),
    }
}

/// `axes`: None, an int or a sequence of ints.
fn axes_or_none(a: Opt) -> PyResult<Option<Vec<isize>>> {
    match a {
        None => Ok(None),
        Some(a) if a.is_none() => Ok(None),
        Some(a) => match a.extract::<isize>() {
            Ok(i) => Ok(Some(vec![i])),
            Err(_) => a.extract::<Vec<isize>>().map(Some).map_err(|_| {
                PyTypeError::new_err(format!(
                    "axes must be an int or a sequence of ints, got {}.",
                    type_name(a)
                ))
            }),
        },
    }
}

type OneD = fn(&Array, Option<isize>, isize, &str) -> ferrox::Result<Array>;
type ManyD = fn(&Array, Option<&[isize]>, Option<&[isize]>, &str) -> ferrox::Result<Array>;

fn one_d(
    name: &str,
    f: OneD,
    a: Arg,
    n: Option<isize>,
    axis: isize,
    norm: &str,
    stream: Opt,
) -> PyResult<PyArray> {
    let a = array_only(name, "a", a)?;
    on_stream(stream, || f(&a, n, axis, norm)).map(PyArray::from)
}

fn many_d(
    name: &str,
    f: ManyD,
    a: Arg,
    s: Option<Vec<isize>>,
    axes: Option<Vec<isize>>,
    norm: &str,
    stream: Opt,
) -> PyResult<PyArray> {
    let a = array_only(name, "a", a)?;
    on_stream(stream, || f(&a, s.as_deref(), axes.as_deref(), norm)).map(PyArray::from)
}

macro_rules! one_d_fn {
    ($($name:ident),*) => {$(
        #[pyfunction]
        #[pyo3(signature = (a, n = None, axis = -1, norm = "backward", stream = None))]
        fn $name(a: Arg, n: Option<isize>, axis: isize, norm: &str, stream: Opt) -> PyResult<PyArray> {
            one_d(stringify!($name), ops_fft::$name, a, n, axis, norm, stream)
        }
    )*};
}
one_d_fn!(fft, ifft, rfft, irfft);

// The 2-D forms default to the last two axes; an explicit `axes=None` means all, as in
// the n-D forms.
macro_rules! two_d_fn {
    ($($name:ident),*) => {$(
        #[pyfunction]
        #[pyo3(signature = (a, s = None, axes = Some(vec![-2, -1]), norm = "backward", stream = None))]
        fn $name(a: Arg, s: Option<Vec<isize>>, axes: Option<Vec<isize>>, norm: &str, stream: Opt) -> PyResult<PyArray> {
            many_d(stringify!($name), ops_fft::$name, a, s, axes, norm, stream)
        }
    )*};
}
two_d_fn!(fft2, ifft2, rfft2, irfft2);

macro_rules! n_d_fn {
    ($($name:ident),*) => {$(
        #[pyfunction]
        #[pyo3(signature = (a, s = None, axes = None, norm = "backward", stream = None))]
        fn $name(a: Arg, s: Option<Vec<isize>>, axes: Option<Vec<isize>>, norm: &str, stream: Opt) -> PyResult<PyArray> {
            many_d(stringify!($name), ops_fft::$name, a, s, axes, norm, stream)
        }
    )*};
}
n_d_fn!(fftn, ifftn, rfftn, irfftn);

/// MLX rejects a zero spacing (whose frequencies would be infinite).
#[pyfunction]
#[pyo3(signature = (n, d = 1.0, stream = None))]
fn fftfreq(n: isize, d: f64, stream: Opt) -> PyResult<PyArray> {
    on_stream(stream, || ops_fft::fftfreq(n, d)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (n, d = 1.0, stream = None))]
fn rfftfreq(n: isize, d: f64, stream: Opt) -> PyResult<PyArray> {
    on_stream(stream, || ops_fft::rfftfreq(n, d)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, axes = None, stream = None))]
fn fftshift(a: Arg, axes: Opt, stream: Opt) -> PyResult<PyArray> {
    let a = array_only("fftshift", "a", a)?;
    let axes = axes_or_none(axes)?;
    on_stream(stream, || ops_fft::fftshift(&a, axes.as_deref())).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, axes = None, stream = None))]
fn ifftshift(a: Arg, axes: Opt, stream: Opt) -> PyResult<PyArray> {
    let a = array_only("ifftshift", "a", a)?;
    let axes = axes_or_none(axes)?;
    on_stream(stream, || ops_fft::ifftshift(&a, axes.as_deref())).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (x, n_fft = 2048, hop_length = None, win_length = None, window = None,
    center = true, pad_mode = "reflect", norm = "backward", onesided = None, stream = None))]
#[allow(clippy::too_many_arguments)]
fn stft(
    x: Arg,
    n_fft: isize,
    hop_length: Option<isize>,
    win_length: Option<isize>,
    window: Opt,
    center: bool,
    pad_mode: &str,
    norm: &str,
    onesided: Option<bool>,
    stream: Opt,
) -> PyResult<PyArray> {
    let x = array_only("stft", "x", x)?;
    let window = match window {
        Some(w) if !w.is_none() => Some(array_only("stft", "window", w)?),
        _ => None,
    };
    on_stream(stream, || {
        ops_fft::stft(
            &x,
            n_fft,
            hop_length,
            win_length,
            window.as_ref(),
            center,
            pad_mode,
            norm,
            onesided,
        )
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (stft_matrix, n_fft = None, hop_length = None, win_length = None,
    window = None, center = true, norm = "backward", onesided = None, length = None,
    stream = None))]
#[allow(clippy::too_many_arguments)]
fn istft(
    stft_matrix: Arg,
    n_fft: Option<isize>,
    hop_length: Option<isize>,
    win_length: Option<isize>,
    window: Opt,
    center: bool,
    norm: &str,
    onesided: Option<bool>,
    length: Option<isize>,
    stream: Opt,
) -> PyResult<PyArray> {
    let s = array_only("istft", "stft_matrix", stft_matrix)?;
    let window = match window {
        Some(w) if !w.is_none() => Some(array_only("istft", "window", w)?),
        _ => None,
    };
    on_stream(stream, || {
        ops_fft::istft(
            &s,
            n_fft,
            hop_length,
            win_length,
            window.as_ref(),
            center,
            norm,
            onesided,
            length,
        )
    })
    .map(PyArray::from)
}

/// Adds `fft` to `m`, also importable as `ferrox.core.fft`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let f = PyModule::new(py, "ferrox.core.fft")?;
    f.add_function(wrap_pyfunction!(fft, &f)?)?;
    f.add_function(wrap_pyfunction!(ifft, &f)?)?;
    f.add_function(wrap_pyfunction!(rfft, &f)?)?;
    f.add_function(wrap_pyfunction!(irfft, &f)?)?;
    f.add_function(wrap_pyfunction!(fft2, &f)?)?;
    f.add_function(wrap_pyfunction!(ifft2, &f)?)?;
    f.add_function(wrap_pyfunction!(rfft2, &f)?)?;
    f.add_function(wrap_pyfunction!(irfft2, &f)?)?;
    f.add_function(wrap_pyfunction!(fftn, &f)?)?;
    f.add_function(wrap_pyfunction!(ifftn, &f)?)?;
    f.add_function(wrap_pyfunction!(rfftn, &f)?)?;
    f.add_function(wrap_pyfunction!(irfftn, &f)?)?;
    f.add_function(wrap_pyfunction!(fftfreq, &f)?)?;
    f.add_function(wrap_pyfunction!(rfftfreq, &f)?)?;
    f.add_function(wrap_pyfunction!(fftshift, &f)?)?;
    f.add_function(wrap_pyfunction!(ifftshift, &f)?)?;
    f.add_function(wrap_pyfunction!(stft, &f)?)?;
    f.add_function(wrap_pyfunction!(istft, &f)?)?;
    m.add("fft", &f)?;
    py.import("sys")?
        .getattr("modules")?
        .set_item("ferrox.core.fft", &f)?;
    Ok(())
}
