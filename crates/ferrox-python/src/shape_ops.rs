//! mlx.core's shape and indexing functions: `concatenate`, `stack`, `split`, `tile`,
//! `repeat`, `pad`, `roll`, `flip`, `take*`, `put_along_axis`, `slice`, `slice_update`,
//! `diag`, `diagonal`, `trace`, `diff`, `meshgrid`, the windows and `view`.
//!
//! Argument parsing follows MLX 0.32's bindings (which Python types are accepted, which
//! exception a bad value raises); the work is the Rust ops'.

use crate::array::PyArray;
use crate::convert::{array_arg, dtype_of, operand, type_name};
use crate::device::on_stream;
use crate::errors::value_error;
use crate::ops::opt_dtype;
use ferrox::ops::{self, Operand, PadMode};
use ferrox::{Array, Dtype, Scalar};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString, PyTuple};

type Arg<'a, 'py> = &'a Bound<'py, PyAny>;
type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

fn type_error(msg: impl Into<String>) -> PyErr {
    PyTypeError::new_err(msg.into())
}

/// A Python int (or anything with `__index__`, but not a float or a str).
pub fn int_of(obj: Arg) -> Option<i64> {
    if obj.is_instance_of::<PyFloat>() || obj.is_instance_of::<PyString>() {
        return None;
    }
    obj.extract::<i64>().ok()
}

/// A list or tuple (what nanobind's `Sequence[...]`/`list[...]` accept here).
fn sequence_items<'py>(obj: &Bound<'py, PyAny>) -> Option<Vec<Bound<'py, PyAny>>> {
    if let Ok(l) = obj.cast::<PyList>() {
        return Some(l.iter().collect());
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return Some(t.iter().collect());
    }
    None
}

/// An `int | Sequence[int]` argument; anything else is a `TypeError` naming `what`.
pub fn ints_arg(obj: Arg, what: &str) -> PyResult<Vec<i64>> {
    if let Some(i) = int_of(obj) {
        return Ok(vec![i]);
    }
    let bad = || {
        type_error(format!(
            "{what} must be an int or a sequence of ints, got {}.",
            type_name(obj)
        ))
    };
    let items = match sequence_items(obj) {
        Some(items) => items,
        // Arrays and NumPy arrays of ints convert as sequences do.
        None => {
            let a = array_arg(obj).map_err(|_| bad())?;
            if !(a.dtype().is_integer() || a.dtype().is_bool()) || a.ndim() > 1 {
                return Err(bad());
            }
            let a = crate::errors::guard(|| ops::astype(&a, Dtype::Int64))?;
            return crate::errors::guard(|| a.to_vec::<i64>());
        }
    };
    items.iter().map(|x| int_of(x).ok_or_else(bad)).collect()
}

/// A sequence of arrays (`list[array]`): each item converted as `mx.array` would. Any
/// iterable but a string serves (an array gives its rows, as in MLX).
fn arrays_arg(obj: Arg, op: &str) -> PyResult<Vec<Array>> {
    let bad = || {
        type_error(format!(
            "{op}(): arrays must be a sequence of arrays, got {}.",
            type_name(obj)
        ))
    };
    let items = match sequence_items(obj) {
        Some(items) => items,
        None if obj.is_instance_of::<PyString>() => return Err(bad()),
        None => obj
            .try_iter()
            .map_err(|_| bad())?
            .collect::<PyResult<Vec<_>>>()?,
    };
    items.iter().map(array_arg).collect()
}

fn arrays_out(py: Python<'_>, v: Vec<Array>) -> PyResult<Vec<Py<PyArray>>> {
    v.into_iter()
        .map(|a| Py::new(py, PyArray::from(a)))
        .collect()
}

// ---- joining and cutting ----

#[pyfunction]
#[pyo3(signature = (arrays, axis = Some(0), *, stream = None))]
pub fn concatenate(arrays: Arg, axis: Option<isize>, stream: Opt) -> PyResult<PyArray> {
    let v = arrays_arg(arrays, "concatenate")?;
    on_stream(stream, || ops::concatenate(&v, axis)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (arrays, axis = Some(0), *, stream = None))]
pub fn concat(arrays: Arg, axis: Option<isize>, stream: Opt) -> PyResult<PyArray> {
    let v = arrays_arg(arrays, "concat")?;
    on_stream(stream, || ops::concat(&v, axis)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (arrays, axis = Some(0), *, stream = None))]
pub fn stack(arrays: Arg, axis: Option<isize>, stream: Opt) -> PyResult<PyArray> {
    let v = arrays_arg(arrays, "stack")?;
    on_stream(stream, || ops::stack(&v, axis.unwrap_or(0))).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (x, /, *, axis = 0, stream = None))]
pub fn unstack<'py>(
    py: Python<'py>,
    x: Arg<'_, 'py>,
    axis: isize,
    stream: Opt,
) -> PyResult<Bound<'py, PyTuple>> {
    let x = array_arg(x)?;
    let parts = on_stream(stream, || ops::unstack(&x, axis))?;
    PyTuple::new(py, arrays_out(py, parts)?)
}

/// `split(a, indices_or_sections, axis)`: shared by `mx.split` and `array.split`.
pub fn split_impl(
    a: &Array,
    indices_or_sections: Arg,
    axis: isize,
    stream: Opt,
) -> PyResult<Vec<Array>> {
    if let Some(n) = int_of(indices_or_sections) {
        if n <= 0 {
            return Err(value_error(format!(
                "[split] num_splits must be positive and non-zero but got {n}."
            )));
        }
        return on_stream(stream, || ops::split(a, n as usize, axis));
    }
    let idx: Vec<isize> = ints_arg(indices_or_sections, "indices_or_sections")?
        .into_iter()
        .map(|i| i as isize)
        .collect();
    on_stream(stream, || ops::split(a, idx, axis))
}

#[pyfunction]
#[pyo3(signature = (a, /, indices_or_sections, axis = 0, *, stream = None))]
pub fn split(
    py: Python<'_>,
    a: Arg,
    indices_or_sections: Arg,
    axis: isize,
    stream: Opt,
) -> PyResult<Vec<Py<PyArray>>> {
    let a = array_arg(a)?;
    let parts = split_impl(&a, indices_or_sections, axis, stream)?;
    arrays_out(py, parts)
}

#[pyfunction]
#[pyo3(signature = (a, reps, /, *, stream = None))]
pub fn tile(a: Arg, reps: Arg, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let reps = ints_arg(reps, "reps")?;
    let reps: Vec<usize> = reps
        .iter()
        .map(|&r| {
            usize::try_from(r)
                .map_err(|_| value_error("[broadcast_to] Negative dimensions not allowed."))
        })
        .collect::<PyResult<_>>()?;
    on_stream(stream, || ops::tile(&a, &reps)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (array, repeats, axis = None, *, stream = None))]
pub fn repeat(array: Arg, repeats: i64, axis: Option<isize>, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(array)?;
    let repeats = usize::try_from(repeats)
        .map_err(|_| value_error("[repeat] Number of repeats cannot be negative"))?;
    on_stream(stream, || ops::repeat(&a, repeats, axis)).map(PyArray::from)
}

/// `pad_width`: `int`, `(int,)`, `(before, after)`, or a sequence of such pairs.
fn pad_widths(pad_width: Arg) -> PyResult<Vec<(i64, i64)>> {
    let bad = || {
        type_error(format!(
            "pad(): pad_width must be an int, a tuple of one or two ints, or a list of \
             (before, after) pairs, got {}.",
            type_name(pad_width)
        ))
    };
    if let Some(n) = int_of(pad_width) {
        return Ok(vec![(n, n)]);
    }
    let items = sequence_items(pad_width).ok_or_else(bad)?;
    if items.iter().all(|x| int_of(x).is_some()) {
        let v: Vec<i64> = items.iter().filter_map(|x| int_of(x)).collect();
        return match v.as_slice() {
            [n] => Ok(vec![(*n, *n)]),
            [lo, hi] => Ok(vec![(*lo, *hi)]),
            _ => Err(bad()),
        };
    }
    items
        .iter()
        .map(|p| {
            let pair = sequence_items(p).ok_or_else(bad)?;
            match pair.as_slice() {
                [lo, hi] => Ok((int_of(lo).ok_or_else(bad)?, int_of(hi).ok_or_else(bad)?)),
                _ => Err(bad()),
            }
        })
        .collect()
}

#[pyfunction]
#[pyo3(signature = (a, pad_width, mode = "constant", constant_values = None, *, stream = None))]
pub fn pad(
    a: Arg,
    pad_width: Arg,
    mode: &str,
    constant_values: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let widths = pad_widths(pad_width)?;
    let mut pairs = Vec::with_capacity(widths.len());
    for (ax, &(lo, hi)) in widths.iter().enumerate() {
        for (v, side) in [(lo, "low"), (hi, "high")] {
            if v < 0 {
                return Err(value_error(format!(
                    "Invalid {side} padding size ({v}) passed to pad for axis {ax}. Padding \
                     sizes must be non-negative"
                )));
            }
        }
        pairs.push((lo as usize, hi as usize));
    }
    let mode = match mode {
        "constant" => PadMode::Constant,
        "edge" => PadMode::Edge,
        "reflect" => PadMode::Reflect,
        "symmetric" => PadMode::Symmetric,
        m => {
            return Err(value_error(format!(
                "Invalid padding mode ({m}) passed to pad"
            )))
        }
    };
    // A Python scalar takes the array's dtype weakly (an int that does not fit is a
    // ValueError, as in MLX); arrays are cast by the op.
    let value = match constant_values {
        None => Operand::Scalar(Scalar::Int(0)),
        Some(v) => match operand(v)? {
            Operand::Scalar(s) => {
                let me = Operand::Array(Array::scalar_of(Scalar::Int(0), a.dtype()));
                let (_, s) = crate::errors::guard(|| ops::to_arrays(&me, &Operand::Scalar(s)))?;
                Operand::Array(s)
            }
            arr => arr,
        },
    };
    on_stream(stream, || ops::pad(&a, &pairs, mode, value)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, shift, axis = None, *, stream = None))]
pub fn roll(a: Arg, shift: Arg, axis: Opt, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let shift_is_int = int_of(shift).is_some();
    let shifts: Vec<isize> = ints_arg(shift, "shift")?
        .into_iter()
        .map(|s| s as isize)
        .collect();
    let axes: Option<Vec<isize>> = match axis {
        None => None,
        Some(x) if x.is_none() => None,
        Some(x) => Some(
            ints_arg(x, "axis")?
                .into_iter()
                .map(|s| s as isize)
                .collect(),
        ),
    };
    match axes {
        // The flattened array rolls by the total shift.
        None => {
            let total = shifts.iter().fold(0isize, |s, &x| s.wrapping_add(x));
            on_stream(stream, || ops::roll(&a, &[total], None)).map(PyArray::from)
        }
        Some(axes) => {
            if axes.is_empty() {
                return Ok(PyArray::from(a));
            }
            let shifts = if shift_is_int {
                vec![shifts[0]; axes.len()]
            } else if shifts.len() < axes.len() {
                return Err(value_error(format!(
                    "[roll] At least one shift value per axis is required, {} provided for \
                     {} axes.",
                    shifts.len(),
                    axes.len()
                )));
            } else {
                shifts[..axes.len()].to_vec()
            };
            on_stream(stream, || ops::roll(&a, &shifts, Some(&axes))).map(PyArray::from)
        }
    }
}

#[pyfunction]
#[pyo3(signature = (a, /, axis = None, *, stream = None))]
pub fn flip(a: Arg, axis: Opt, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let axes: Option<Vec<isize>> = match axis {
        None => None,
        Some(x) if x.is_none() => None,
        Some(x) => Some(
            ints_arg(x, "axis")?
                .into_iter()
                .map(|s| s as isize)
                .collect(),
        ),
    };
    on_stream(stream, || ops::flip(&a, axes.as_deref())).map(PyArray::from)
}

// ---- gathers and scatters ----

#[pyfunction]
#[pyo3(signature = (a, /, indices, axis = None, *, stream = None))]
pub fn take(a: Arg, indices: Arg, axis: Option<isize>, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    if indices.is_instance_of::<PyFloat>() {
        return Err(type_error(
            "take(): indices must be an int or an array of integers, got float.",
        ));
    }
    // An int index is a slice of extent 1 that is squeezed away, as in MLX: it must be
    // in range (MLX does not wrap negative ints here either).
    if indices.is_instance_of::<PyInt>() || indices.is_instance_of::<PyBool>() {
        let i: i64 = indices.extract()?;
        let (n, ax) = match axis {
            None => (a.size(), 0),
            Some(ax) => {
                let nd = a.ndim() as isize;
                if ax < -nd || ax >= nd {
                    return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                        "[take] Received invalid axis {ax} for array with {nd} dimensions."
                    )));
                }
                (a.shape()[ax.rem_euclid(nd.max(1)) as usize], ax)
            }
        };
        if i < 0 || i as u64 >= n as u64 {
            return Err(value_error(format!(
                "[squeeze] Cannot squeeze axis {ax} with size 0 which is not equal to 1 \
                 (take: index {i} out of range for an axis of size {n})."
            )));
        }
        let idx = Array::scalar(i as i32);
        return on_stream(stream, || ops::take(&a, &idx, axis)).map(PyArray::from);
    }
    let idx = array_arg(indices)?;
    on_stream(stream, || ops::take(&a, &idx, axis)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, /, indices, axis = Some(-1), *, stream = None))]
pub fn take_along_axis(
    a: Arg,
    indices: Arg,
    axis: Option<isize>,
    stream: Opt,
) -> PyResult<PyArray> {
    let (a, idx) = (array_arg(a)?, array_arg(indices)?);
    on_stream(stream, || ops::take_along_axis(&a, &idx, axis)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, /, indices, values, axis = None, *, stream = None))]
pub fn put_along_axis(
    a: Arg,
    indices: Arg,
    values: Arg,
    axis: Option<isize>,
    stream: Opt,
) -> PyResult<PyArray> {
    let (a, idx, v) = (array_arg(a)?, array_arg(indices)?, array_arg(values)?);
    on_stream(stream, || ops::put_along_axis(&a, &idx, &v, axis)).map(PyArray::from)
}

fn isizes(v: Vec<i64>) -> Vec<isize> {
    v.into_iter().map(|x| x as isize).collect()
}

#[pyfunction]
#[pyo3(signature = (a, start_indices, axes, slice_size, *, stream = None))]
pub fn slice(
    a: Arg,
    start_indices: Arg,
    axes: Arg,
    slice_size: Arg,
    stream: Opt,
) -> PyResult<PyArray> {
    let (a, start) = (array_arg(a)?, array_arg(start_indices)?);
    let axes = isizes(ints_arg(axes, "axes")?);
    let size: Vec<usize> = ints_arg(slice_size, "slice_size")?
        .into_iter()
        .map(|n| {
            usize::try_from(n).map_err(|_| {
                value_error(format!(
                    "[slice] Invalid slice size {n}: sizes must be non-negative."
                ))
            })
        })
        .collect::<PyResult<_>>()?;
    on_stream(stream, || ops::slice_dynamic(&a, &start, &axes, &size)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, update, start_indices, axes, *, stream = None))]
pub fn slice_update(
    a: Arg,
    update: Arg,
    start_indices: Arg,
    axes: Arg,
    stream: Opt,
) -> PyResult<PyArray> {
    let (a, upd, start) = (array_arg(a)?, array_arg(update)?, array_arg(start_indices)?);
    let axes = isizes(ints_arg(axes, "axes")?);
    on_stream(stream, || {
        let upd = ops::astype(&upd, a.dtype())?;
        ops::slice_update_dynamic(&a, &upd, &start, &axes)
    })
    .map(PyArray::from)
}

// ---- diagonals, differences ----

#[pyfunction]
#[pyo3(signature = (a, /, k = 0, *, stream = None))]
pub fn diag(a: Arg, k: isize, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::diag(&a, k)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, offset = 0, axis1 = 0, axis2 = 1, stream = None))]
pub fn diagonal(
    a: Arg,
    offset: isize,
    axis1: isize,
    axis2: isize,
    stream: Opt,
) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::diagonal(&a, offset, axis1, axis2)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, /, offset = 0, axis1 = 0, axis2 = 1, dtype = None, *, stream = None))]
pub fn trace(
    a: Arg,
    offset: isize,
    axis1: isize,
    axis2: isize,
    dtype: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    let (a, d) = (array_arg(a)?, opt_dtype(dtype)?);
    on_stream(stream, || ops::trace(&a, offset, axis1, axis2, d)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, /, n = 1, axis = -1, *, stream = None))]
pub fn diff(a: Arg, n: i64, axis: isize, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let n =
        usize::try_from(n).map_err(|_| value_error("[diff] Order `n` must be non-negative."))?;
    on_stream(stream, || ops::diff(&a, n, axis)).map(PyArray::from)
}

// ---- creation ----

#[pyfunction]
#[pyo3(signature = (*arrays, sparse = false, indexing = "xy", stream = None))]
pub fn meshgrid<'py>(
    py: Python<'py>,
    arrays: &Bound<'py, PyTuple>,
    sparse: bool,
    indexing: &str,
    stream: Opt,
) -> PyResult<Bound<'py, PyTuple>> {
    let v: Vec<Array> = arrays
        .iter()
        .map(|a| array_arg(&a))
        .collect::<PyResult<_>>()?;
    if indexing != "xy" && indexing != "ij" {
        return Err(value_error(
            "[meshgrid] Invalid indexing value. Valid values are 'xy' and 'ij'.",
        ));
    }
    let out = on_stream(stream, || ops::meshgrid(&v, sparse, indexing))?;
    PyTuple::new(py, arrays_out(py, out)?)
}

macro_rules! window_fns {
    ($($name:ident),*) => {$(
        #[pyfunction]
        #[pyo3(signature = (M, *, stream = None))]
        #[allow(non_snake_case)]
        pub fn $name(M: i64, stream: Opt) -> PyResult<PyArray> {
            // Fewer than one point is an empty window, as in MLX.
            let m = usize::try_from(M).unwrap_or(0);
            on_stream(stream, || ops::$name(m)).map(PyArray::from)
        }
    )*};
}
window_fns!(bartlett, blackman, hamming, hanning);

#[pyfunction]
#[pyo3(signature = (a, dtype, stream = None))]
pub fn view(a: Arg, dtype: Arg, stream: Opt) -> PyResult<PyArray> {
    let (a, d) = (array_arg(a)?, dtype_of(dtype)?);
    on_stream(stream, || ops::view(&a, d)).map(PyArray::from)
}

/// Registers every function of this module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    macro_rules! add {
        ($($f:ident),* $(,)?) => {$( m.add_function(wrap_pyfunction!($f, m)?)?; )*};
    }
    add!(
        concatenate,
        concat,
        stack,
        unstack,
        split,
        tile,
        repeat,
        pad,
        roll,
        flip,
        take,
        take_along_axis,
        put_along_axis,
        slice,
        slice_update,
        diag,
        diagonal,
        trace,
        diff,
        meshgrid,
        bartlett,
        blackman,
        hamming,
        hanning,
        view,
    );
    Ok(())
}
