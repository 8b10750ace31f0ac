//! mlx.core's functions over the Rust ops: argument conversion, defaults, `stream=`.

use crate::array::PyArray;
use crate::convert::{array_arg, dtype_of, operand};
use crate::device::on_stream;
use crate::errors::value_error;
use ferrox::ops;
use ferrox::Dtype;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

type Arg<'a, 'py> = &'a Bound<'py, PyAny>;
type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

/// An `axis` argument: None (all axes), an int, or a sequence of ints.
pub fn axes_arg(axis: Opt) -> PyResult<Vec<isize>> {
    match axis {
        None => Ok(vec![]),
        Some(a) if a.is_none() => Ok(vec![]),
        Some(a) => match a.extract::<isize>() {
            Ok(i) => Ok(vec![i]),
            Err(_) => a
                .extract::<Vec<isize>>()
                .map_err(|_| value_error("axis must be an int or a sequence of ints")),
        },
    }
}

/// A `shape` argument: an int or a sequence of non-negative ints.
pub fn shape_arg(shape: Arg) -> PyResult<Vec<usize>> {
    if let Ok(n) = shape.extract::<i64>() {
        return usize::try_from(n)
            .map(|n| vec![n])
            .map_err(|_| value_error(format!("Negative dimension {n} in shape.")));
    }
    let v: Vec<i64> = shape
        .extract()
        .map_err(|_| value_error("shape must be an int or a sequence of ints"))?;
    v.iter()
        .map(|&n| {
            usize::try_from(n).map_err(|_| {
                value_error(format!(
                    "Negative dimensions are not allowed, got shape {v:?}."
                ))
            })
        })
        .collect()
}

pub fn opt_dtype(dtype: Opt) -> PyResult<Option<Dtype>> {
    match dtype {
        None => Ok(None),
        Some(d) if d.is_none() => Ok(None),
        Some(d) => Ok(Some(dtype_of(d)?)),
    }
}

macro_rules! unary_fns {
    ($($name:ident),* $(,)?) => {
    $(
        #[pyfunction]
        // Not positional-only: MLX accepts `a=` for some of these, and accepting it for all
        // breaks no MLX call.
        #[pyo3(signature = (a, *, stream = None))]
        pub fn $name(a: Arg, stream: Opt) -> PyResult<PyArray> {
            let a = array_arg(a)?;
            on_stream(stream, || ops::$name(&a)).map(PyArray::from)
        }
    )*
        /// Registers the functions this macro defined (listed once, here).
        fn register_unary(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $( m.add_function(wrap_pyfunction!($name, m)?)?; )*
            Ok(())
        }
    };
}
unary_fns!(
    abs,
    negative,
    positive,
    sign,
    square,
    sqrt,
    rsqrt,
    reciprocal,
    exp,
    expm1,
    log,
    log2,
    log10,
    log1p,
    sin,
    cos,
    tan,
    arcsin,
    arccos,
    arctan,
    sinh,
    cosh,
    tanh,
    arcsinh,
    arccosh,
    arctanh,
    asin,
    acos,
    atan,
    asinh,
    acosh,
    atanh,
    sigmoid,
    erf,
    erfinv,
    ceil,
    floor,
    trunc,
    real,
    imag,
    conj,
    conjugate,
    isnan,
    isinf,
    isfinite,
    isposinf,
    isneginf,
    logical_not,
    stop_gradient,
    degrees,
    radians,
    bitwise_invert,
    matrix_transpose
);

/// `contiguous(a, /, allow_col_major=False)`: the result is always row-major here; MLX
/// may skip the copy of a column-major input when `allow_col_major`, with equal values.
#[pyfunction]
#[pyo3(signature = (a, /, allow_col_major = false, *, stream = None))]
pub fn contiguous(a: Arg, allow_col_major: bool, stream: Opt) -> PyResult<PyArray> {
    let _ = allow_col_major;
    let a = array_arg(a)?;
    on_stream(stream, || ops::contiguous(&a)).map(PyArray::from)
}

macro_rules! binary_fns {
    ($($name:ident),* $(,)?) => {
    $(
        #[pyfunction]
        #[pyo3(signature = (a, b, *, stream = None))]
        pub fn $name(a: Arg, b: Arg, stream: Opt) -> PyResult<PyArray> {
            let (a, b) = (operand(a)?, operand(b)?);
            on_stream(stream, || ops::$name(a, b)).map(PyArray::from)
        }
    )*
        /// Registers the functions this macro defined (listed once, here).
        fn register_binary(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $( m.add_function(wrap_pyfunction!($name, m)?)?; )*
            Ok(())
        }
    };
}
binary_fns!(
    add,
    subtract,
    multiply,
    divide,
    floor_divide,
    remainder,
    power,
    pow,
    maximum,
    minimum,
    arctan2,
    atan2,
    logaddexp,
    equal,
    not_equal,
    greater,
    greater_equal,
    less,
    less_equal,
    logical_and,
    logical_or,
    logical_xor,
    bitwise_and,
    bitwise_or,
    bitwise_xor,
    left_shift,
    right_shift
);

#[pyfunction]
#[pyo3(signature = (a, b, *, stream = None))]
pub fn bitwise_left_shift(a: Arg, b: Arg, stream: Opt) -> PyResult<PyArray> {
    left_shift(a, b, stream)
}
#[pyfunction]
#[pyo3(signature = (a, b, *, stream = None))]
pub fn bitwise_right_shift(a: Arg, b: Arg, stream: Opt) -> PyResult<PyArray> {
    right_shift(a, b, stream)
}

#[pyfunction]
#[pyo3(signature = (a, b, *, stream = None))]
pub fn divmod(a: Arg, b: Arg, stream: Opt) -> PyResult<(PyArray, PyArray)> {
    let (a, b) = (operand(a)?, operand(b)?);
    on_stream(stream, || ops::divmod(a, b)).map(|(q, r)| (q.into(), r.into()))
}

#[pyfunction]
#[pyo3(name = "where", signature = (condition, x, y, *, stream = None))]
pub fn where_(condition: Arg, x: Arg, y: Arg, stream: Opt) -> PyResult<PyArray> {
    let (c, x, y) = (operand(condition)?, operand(x)?, operand(y)?);
    on_stream(stream, || ops::where_(c, x, y)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, b, /, rtol = 1e-5, atol = 1e-8, *, equal_nan = false, stream = None))]
pub fn isclose(
    a: Arg,
    b: Arg,
    rtol: f64,
    atol: f64,
    equal_nan: bool,
    stream: Opt,
) -> PyResult<PyArray> {
    let (a, b) = (array_arg(a)?, array_arg(b)?);
    on_stream(stream, || ops::isclose(&a, &b, rtol, atol, equal_nan)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, b, /, rtol = 1e-5, atol = 1e-8, *, equal_nan = false, stream = None))]
pub fn allclose(
    a: Arg,
    b: Arg,
    rtol: f64,
    atol: f64,
    equal_nan: bool,
    stream: Opt,
) -> PyResult<PyArray> {
    let (a, b) = (array_arg(a)?, array_arg(b)?);
    on_stream(stream, || ops::allclose(&a, &b, rtol, atol, equal_nan)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, b, equal_nan = false, *, stream = None))]
pub fn array_equal(a: Arg, b: Arg, equal_nan: bool, stream: Opt) -> PyResult<PyArray> {
    let (a, b) = (array_arg(a)?, array_arg(b)?);
    on_stream(stream, || ops::array_equal(&a, &b, equal_nan)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, /, decimals = 0, *, stream = None))]
pub fn round(a: Arg, decimals: i32, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::round(&a, decimals)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, /, a_min, a_max, *, stream = None))]
pub fn clip(a: Arg, a_min: Opt, a_max: Opt, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let conv = |x: Opt| -> PyResult<Option<ferrox::Array>> {
        match x {
            Some(v) if !v.is_none() => {
                let o = operand(v)?;
                Ok(Some(match o {
                    ops::Operand::Array(arr) => arr,
                    ops::Operand::Scalar(s) => ferrox::Array::scalar_of(s, s.weak_dtype(a.dtype())),
                }))
            }
            _ => Ok(None),
        }
    };
    let (lo, hi) = (conv(a_min)?, conv(a_max)?);
    on_stream(stream, || ops::clip(&a, lo.as_ref(), hi.as_ref())).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, nan = 0.0, posinf = None, neginf = None, *, stream = None))]
pub fn nan_to_num(
    a: Arg,
    nan: f64,
    posinf: Option<f64>,
    neginf: Option<f64>,
    stream: Opt,
) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::nan_to_num(&a, nan, posinf, neginf)).map(PyArray::from)
}

macro_rules! reduce_fns {
    ($($name:ident),* $(,)?) => {$(
        #[pyfunction]
        #[pyo3(signature = (a, /, axis = None, keepdims = false, *, stream = None))]
        pub fn $name(a: Arg, axis: Opt, keepdims: bool, stream: Opt) -> PyResult<PyArray> {
            let a = array_arg(a)?;
            let axes = axes_arg(axis)?;
            on_stream(stream, || ops::$name(&a, &axes, keepdims)).map(PyArray::from)
        }
    )*};
}
reduce_fns!(sum, prod, max, min, all, any, mean, logsumexp);

#[pyfunction]
#[pyo3(signature = (a, /, axis = None, keepdims = false, *, stream = None))]
pub fn minmax(a: Arg, axis: Opt, keepdims: bool, stream: Opt) -> PyResult<(PyArray, PyArray)> {
    let a = array_arg(a)?;
    let axes = axes_arg(axis)?;
    on_stream(stream, || ops::minmax(&a, &axes, keepdims)).map(|(x, y)| (x.into(), y.into()))
}

#[pyfunction]
#[pyo3(signature = (a, /, *, axis = None, keepdims = false, stream = None))]
pub fn count_nonzero(a: Arg, axis: Opt, keepdims: bool, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let axes = axes_arg(axis)?;
    on_stream(stream, || ops::count_nonzero(&a, &axes, keepdims)).map(PyArray::from)
}

/// Beyond MLX: the indices of the nonzero elements, one array per axis (NumPy's
/// `nonzero`). It evaluates `a`, and raises inside `compile` or `vmap`.
#[pyfunction]
#[pyo3(signature = (a, /, *, stream = None))]
pub fn nonzero<'py>(py: Python<'py>, a: Arg, stream: Opt) -> PyResult<Bound<'py, PyTuple>> {
    let a = array_arg(a)?;
    let parts = on_stream(stream, || ops::nonzero(&a))?;
    PyTuple::new(py, parts.into_iter().map(PyArray::from))
}

#[pyfunction]
#[pyo3(signature = (a, /, axis = None, keepdims = false, ddof = 0, *, stream = None))]
pub fn var(a: Arg, axis: Opt, keepdims: bool, ddof: usize, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let axes = axes_arg(axis)?;
    on_stream(stream, || ops::var(&a, &axes, keepdims, ddof)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(name = "std", signature = (a, /, axis = None, keepdims = false, ddof = 0, *, stream = None))]
pub fn std_dev(a: Arg, axis: Opt, keepdims: bool, ddof: usize, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let axes = axes_arg(axis)?;
    on_stream(stream, || ops::std(&a, &axes, keepdims, ddof)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, /, axis = None, keepdims = false, *, stream = None))]
pub fn argmax(a: Arg, axis: Option<isize>, keepdims: bool, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::argmax(&a, axis, keepdims)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, /, axis = None, keepdims = false, *, stream = None))]
pub fn argmin(a: Arg, axis: Option<isize>, keepdims: bool, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::argmin(&a, axis, keepdims)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, /, axis = None, *, precise = false, stream = None))]
pub fn softmax(a: Arg, axis: Opt, precise: bool, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let axes = axes_arg(axis)?;
    on_stream(stream, || ops::softmax(&a, &axes, precise)).map(PyArray::from)
}

// ---- creation ----

#[pyfunction]
#[pyo3(signature = (shape, dtype = None, *, stream = None))]
pub fn zeros(shape: Arg, dtype: Opt, stream: Opt) -> PyResult<PyArray> {
    let (s, d) = (shape_arg(shape)?, opt_dtype(dtype)?);
    on_stream(stream, || ops::zeros(&s, d)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (shape, dtype = None, *, stream = None))]
pub fn ones(shape: Arg, dtype: Opt, stream: Opt) -> PyResult<PyArray> {
    let (s, d) = (shape_arg(shape)?, opt_dtype(dtype)?);
    on_stream(stream, || ops::ones(&s, d)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (shape, dtype = None, *, stream = None))]
pub fn empty(shape: Arg, dtype: Opt, stream: Opt) -> PyResult<PyArray> {
    zeros(shape, dtype, stream)
}
#[pyfunction]
#[pyo3(signature = (shape, vals, dtype = None, *, stream = None))]
pub fn full(shape: Arg, vals: Arg, dtype: Opt, stream: Opt) -> PyResult<PyArray> {
    let (s, v, d) = (shape_arg(shape)?, operand(vals)?, opt_dtype(dtype)?);
    on_stream(stream, || ops::full(&s, v, d)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, /, dtype = None, *, stream = None))]
pub fn zeros_like(a: Arg, dtype: Opt, stream: Opt) -> PyResult<PyArray> {
    let (a, d) = (array_arg(a)?, opt_dtype(dtype)?);
    on_stream(stream, || ops::zeros_like(&a, d)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, /, dtype = None, *, stream = None))]
pub fn ones_like(a: Arg, dtype: Opt, stream: Opt) -> PyResult<PyArray> {
    let (a, d) = (array_arg(a)?, opt_dtype(dtype)?);
    on_stream(stream, || ops::ones_like(&a, d)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, /, dtype = None, *, stream = None))]
pub fn empty_like(a: Arg, dtype: Opt, stream: Opt) -> PyResult<PyArray> {
    zeros_like(a, dtype, stream)
}
#[pyfunction]
#[pyo3(signature = (a, vals, dtype = None, *, stream = None))]
pub fn full_like(a: Arg, vals: Arg, dtype: Opt, stream: Opt) -> PyResult<PyArray> {
    let (a, v, d) = (array_arg(a)?, operand(vals)?, opt_dtype(dtype)?);
    on_stream(stream, || ops::full_like(&a, v, d)).map(PyArray::from)
}

/// `arange(stop)`, `arange(start, stop[, step])`; ints give int32 like MLX.
#[pyfunction]
#[pyo3(signature = (*args, dtype = None, stream = None, **kwargs))]
pub fn arange(
    args: &Bound<'_, PyTuple>,
    dtype: Opt,
    stream: Opt,
    kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
) -> PyResult<PyArray> {
    let mut vals: Vec<Bound<'_, PyAny>> = args.iter().collect();
    if let Some(kw) = kwargs {
        for key in ["start", "stop", "step"] {
            if let Some(v) = kw.get_item(key)? {
                vals.push(v);
            }
        }
    }
    if vals.is_empty() || vals.len() > 3 {
        return Err(value_error(
            "arange expects 1 to 3 positional arguments: [start,] stop[, step]",
        ));
    }
    let all_int = vals
        .iter()
        .all(|v| v.is_instance_of::<pyo3::types::PyInt>());
    let nums: Vec<f64> = vals
        .iter()
        .map(|v| v.extract::<f64>())
        .collect::<PyResult<_>>()?;
    let (start, stop, step) = match nums.len() {
        1 => (0.0, nums[0], 1.0),
        2 => (nums[0], nums[1], 1.0),
        _ => (nums[0], nums[1], nums[2]),
    };
    let d = opt_dtype(dtype)?.unwrap_or(if all_int {
        Dtype::Int32
    } else {
        Dtype::Float32
    });
    on_stream(stream, || ops::arange(start, stop, step, Some(d))).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (start, stop, num = 50, endpoint = true, dtype = None, *, stream = None))]
pub fn linspace(
    start: f64,
    stop: f64,
    num: i64,
    endpoint: bool,
    dtype: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    if num < 0 {
        return Err(value_error(format!(
            "[linspace] number of samples, {num}, must be non-negative."
        )));
    }
    let d = opt_dtype(dtype)?;
    let n = num as usize;
    on_stream(stream, || {
        if endpoint || n == 0 {
            ops::linspace(start, stop, n, d)
        } else {
            let step = (stop - start) / n as f64;
            ops::linspace(start, stop - step, n, d)
        }
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (n, m = None, k = 0, dtype = None, *, stream = None))]
pub fn eye(n: usize, m: Option<usize>, k: isize, dtype: Opt, stream: Opt) -> PyResult<PyArray> {
    let d = opt_dtype(dtype)?;
    on_stream(stream, || ops::eye(n, m, k, d)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (n, dtype = None, *, stream = None))]
pub fn identity(n: usize, dtype: Opt, stream: Opt) -> PyResult<PyArray> {
    let d = opt_dtype(dtype)?;
    on_stream(stream, || ops::identity(n, d)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (n, m = None, k = 0, dtype = None, *, stream = None))]
pub fn tri(n: usize, m: Option<usize>, k: isize, dtype: Opt, stream: Opt) -> PyResult<PyArray> {
    let d = opt_dtype(dtype)?;
    on_stream(stream, || ops::tri(n, m, k, d)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (x, k = 0, *, stream = None))]
pub fn tril(x: Arg, k: isize, stream: Opt) -> PyResult<PyArray> {
    let x = array_arg(x)?;
    on_stream(stream, || ops::tril(&x, k)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (x, k = 0, *, stream = None))]
pub fn triu(x: Arg, k: isize, stream: Opt) -> PyResult<PyArray> {
    let x = array_arg(x)?;
    on_stream(stream, || ops::triu(&x, k)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, dtype, *, stream = None))]
pub fn astype(a: Arg, dtype: Arg, stream: Opt) -> PyResult<PyArray> {
    let (a, d) = (array_arg(a)?, dtype_of(dtype)?);
    on_stream(stream, || ops::astype(&a, d)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, dtype = None, *, copy = None))]
pub fn asarray(a: Arg, dtype: Opt, copy: Option<bool>) -> PyResult<PyArray> {
    if copy == Some(false) {
        return Err(value_error("Cannot import a CPU array without a copy."));
    }
    crate::convert::to_array(a, opt_dtype(dtype)?).map(PyArray::from)
}

// ---- shapes ----

#[pyfunction]
#[pyo3(signature = (a, /, shape, *, stream = None))]
pub fn reshape(a: Arg, shape: Vec<isize>, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::reshape(&a, &shape)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, /, start_axis = 0, end_axis = -1, *, stream = None))]
pub fn flatten(a: Arg, start_axis: isize, end_axis: isize, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::flatten(&a, start_axis, end_axis)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, /, axis, shape, *, stream = None))]
pub fn unflatten(a: Arg, axis: isize, shape: Vec<isize>, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::unflatten(&a, axis, &shape)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, /, axis = None, *, stream = None))]
pub fn squeeze(a: Arg, axis: Opt, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let axes = axes_arg(axis)?;
    on_stream(stream, || ops::squeeze(&a, &axes)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, /, axis, *, stream = None))]
pub fn expand_dims(a: Arg, axis: Arg, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let axes = axes_arg(Some(axis))?;
    on_stream(stream, || ops::expand_dims(&a, &axes)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, /, axes = None, *, stream = None))]
pub fn transpose(a: Arg, axes: Option<Vec<isize>>, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let axes = axes.unwrap_or_default();
    if axes.is_empty() && a.ndim() > 0 {
        return on_stream(stream, || ops::transpose(&a, &[])).map(PyArray::from);
    }
    on_stream(stream, || ops::transpose(&a, &axes)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, /, axes = None, *, stream = None))]
pub fn permute_dims(a: Arg, axes: Option<Vec<isize>>, stream: Opt) -> PyResult<PyArray> {
    transpose(a, axes, stream)
}
#[pyfunction]
#[pyo3(signature = (a, /, axis1, axis2, *, stream = None))]
pub fn swapaxes(a: Arg, axis1: isize, axis2: isize, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::swapaxes(&a, axis1, axis2)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, /, source, destination, *, stream = None))]
pub fn moveaxis(a: Arg, source: isize, destination: isize, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::moveaxis(&a, source, destination)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, /, shape, *, stream = None))]
pub fn broadcast_to(a: Arg, shape: Arg, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let s = shape_arg(shape)?;
    on_stream(stream, || ops::broadcast_to(&a, &s)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (*arrays, stream = None))]
pub fn broadcast_arrays(arrays: &Bound<'_, PyTuple>, stream: Opt) -> PyResult<Vec<PyArray>> {
    let v: Vec<ferrox::Array> = arrays
        .iter()
        .map(|a| array_arg(&a))
        .collect::<PyResult<_>>()?;
    on_stream(stream, || ops::broadcast_arrays(&v))
        .map(|v| v.into_iter().map(PyArray::from).collect())
}
#[pyfunction]
#[pyo3(signature = (*shapes))]
pub fn broadcast_shapes(shapes: &Bound<'_, PyTuple>) -> PyResult<Py<PyTuple>> {
    let v: Vec<Vec<usize>> = shapes
        .iter()
        .map(|s| shape_arg(&s))
        .collect::<PyResult<_>>()?;
    let refs: Vec<&[usize]> = v.iter().map(|s| s.as_slice()).collect();
    let r = crate::errors::guard(|| ops::broadcast_shapes(&refs))?;
    Ok(PyTuple::new(shapes.py(), r)?.unbind())
}

fn atleast(
    arys: &Bound<'_, PyTuple>,
    stream: Opt,
    f: fn(&ferrox::Array) -> ferrox::Result<ferrox::Array>,
) -> PyResult<Py<PyAny>> {
    let py = arys.py();
    let out: Vec<PyArray> = arys
        .iter()
        .map(|a| {
            let a = array_arg(&a)?;
            on_stream(stream, || f(&a)).map(PyArray::from)
        })
        .collect::<PyResult<_>>()?;
    if out.len() == 1 {
        let one = out
            .into_iter()
            .next()
            .ok_or_else(|| value_error("no arrays"))?;
        return Ok(Py::new(py, one)?.into_any());
    }
    Ok(PyList::new(
        py,
        out.into_iter()
            .map(|a| Py::new(py, a))
            .collect::<PyResult<Vec<_>>>()?,
    )?
    .into_any()
    .unbind())
}
#[pyfunction]
#[pyo3(signature = (*arys, stream = None))]
pub fn atleast_1d(arys: &Bound<'_, PyTuple>, stream: Opt) -> PyResult<Py<PyAny>> {
    atleast(arys, stream, ops::atleast_1d)
}
#[pyfunction]
#[pyo3(signature = (*arys, stream = None))]
pub fn atleast_2d(arys: &Bound<'_, PyTuple>, stream: Opt) -> PyResult<Py<PyAny>> {
    atleast(arys, stream, ops::atleast_2d)
}
#[pyfunction]
#[pyo3(signature = (*arys, stream = None))]
pub fn atleast_3d(arys: &Bound<'_, PyTuple>, stream: Opt) -> PyResult<Py<PyAny>> {
    atleast(arys, stream, ops::atleast_3d)
}
#[pyfunction]
#[pyo3(signature = (a, /, shape = None, strides = None, offset = 0, *, stream = None))]
pub fn as_strided(
    a: Arg,
    shape: Option<Vec<usize>>,
    strides: Option<Vec<isize>>,
    offset: usize,
    stream: Opt,
) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let shape = shape.unwrap_or_else(|| a.shape().to_vec());
    let strides = strides.unwrap_or_else(|| ferrox::array::row_major_strides(&shape));
    on_stream(stream, || ops::as_strided(&a, &shape, &strides, offset)).map(PyArray::from)
}

// ---- products ----

#[pyfunction]
#[pyo3(signature = (a, b, *, stream = None))]
pub fn matmul(a: Arg, b: Arg, stream: Opt) -> PyResult<PyArray> {
    let (a, b) = (array_arg(a)?, array_arg(b)?);
    on_stream(stream, || ops::matmul(&a, &b)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (c, a, b, /, alpha = 1.0, beta = 1.0, *, stream = None))]
pub fn addmm(c: Arg, a: Arg, b: Arg, alpha: f64, beta: f64, stream: Opt) -> PyResult<PyArray> {
    let (c, a, b) = (array_arg(c)?, array_arg(a)?, array_arg(b)?);
    on_stream(stream, || ops::addmm(&c, &a, &b, alpha, beta)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, b, *, stream = None))]
pub fn inner(a: Arg, b: Arg, stream: Opt) -> PyResult<PyArray> {
    let (a, b) = (array_arg(a)?, array_arg(b)?);
    on_stream(stream, || ops::inner(&a, &b)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, b, *, stream = None))]
pub fn outer(a: Arg, b: Arg, stream: Opt) -> PyResult<PyArray> {
    let (a, b) = (array_arg(a)?, array_arg(b)?);
    on_stream(stream, || ops::outer(&a, &b)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (x, *, stream = None))]
pub fn to_fp8(x: Arg, stream: Opt) -> PyResult<PyArray> {
    let x = array_arg(x)?;
    on_stream(stream, || ops::to_fp8(&x)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (x, dtype = None, *, stream = None))]
pub fn from_fp8(x: Arg, dtype: Opt, stream: Opt) -> PyResult<PyArray> {
    let x = array_arg(x)?;
    let dtype = opt_dtype(dtype)?.unwrap_or(ferrox::Dtype::Bfloat16);
    on_stream(stream, || ops::from_fp8(&x, dtype)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (subscripts, *operands, stream = None))]
pub fn einsum(subscripts: &str, operands: &Bound<'_, PyTuple>, stream: Opt) -> PyResult<PyArray> {
    let arrays = operands
        .iter()
        .map(|o| array_arg(&o))
        .collect::<PyResult<Vec<_>>>()?;
    on_stream(stream, || ops::einsum(subscripts, &arrays)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (subscripts, *operands))]
pub fn einsum_path<'py>(
    py: Python<'py>,
    subscripts: &str,
    operands: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyTuple>> {
    let arrays = operands
        .iter()
        .map(|o| array_arg(&o))
        .collect::<PyResult<Vec<_>>>()?;
    let (path, report) = crate::errors::guard(|| ops::einsum_path(subscripts, &arrays))?;
    let path = PyList::new(
        py,
        path.iter()
            .map(|p| PyTuple::new(py, p))
            .collect::<PyResult<Vec<_>>>()?,
    )?;
    PyTuple::new(py, [path.into_any(), report.into_pyobject(py)?.into_any()])
}
#[pyfunction]
#[pyo3(signature = (a, b, *, stream = None))]
pub fn kron(a: Arg, b: Arg, stream: Opt) -> PyResult<PyArray> {
    let (a, b) = (array_arg(a)?, array_arg(b)?);
    on_stream(stream, || ops::kron(&a, &b)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, scale = None, *, stream = None))]
pub fn hadamard_transform(a: Arg, scale: Option<f64>, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::hadamard_transform(&a, scale)).map(PyArray::from)
}
#[pyfunction]
#[pyo3(signature = (a, b, /, axes = None, *, stream = None))]
pub fn tensordot(a: Arg, b: Arg, axes: Opt, stream: Opt) -> PyResult<PyArray> {
    let (a, b) = (array_arg(a)?, array_arg(b)?);
    match axes {
        None => on_stream(stream, || ops::tensordot(&a, &b, 2)).map(PyArray::from),
        Some(x) => {
            if let Ok(n) = x.extract::<usize>() {
                return on_stream(stream, || ops::tensordot(&a, &b, n)).map(PyArray::from);
            }
            // A pair (list or tuple) of two ints or two lists of ints.
            let bad = || value_error("[tensordot] axes must be an int or a pair of axis lists");
            let pair: Vec<Bound<'_, PyAny>> = x.extract().map_err(|_| bad())?;
            if pair.len() != 2 {
                return Err(bad());
            }
            let side = |o: &Bound<'_, PyAny>| -> PyResult<Vec<isize>> {
                o.extract::<isize>()
                    .map(|i| vec![i])
                    .or_else(|_| o.extract::<Vec<isize>>())
                    .map_err(|_| bad())
            };
            let (xa, xb) = (side(&pair[0])?, side(&pair[1])?);
            on_stream(stream, || ops::tensordot_axes(&a, &b, &xa, &xb)).map(PyArray::from)
        }
    }
}
#[pyfunction]
#[pyo3(signature = (a, b, /, *, axis = -1, stream = None))]
pub fn vecdot(a: Arg, b: Arg, axis: isize, stream: Opt) -> PyResult<PyArray> {
    let (a, b) = (array_arg(a)?, array_arg(b)?);
    on_stream(stream, || ops::vecdot(&a, &b, axis)).map(PyArray::from)
}

/// Registers every function of this module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    macro_rules! add {
        ($($f:ident),* $(,)?) => {$( m.add_function(wrap_pyfunction!($f, m)?)?; )*};
    }
    register_unary(m)?;
    register_binary(m)?;
    add!(
        contiguous,
        bitwise_left_shift,
        bitwise_right_shift,
        divmod,
        where_,
        isclose,
        allclose,
        array_equal,
        round,
        clip,
        nan_to_num,
        sum,
        prod,
        max,
        min,
        all,
        any,
        mean,
        logsumexp,
        minmax,
        count_nonzero,
        nonzero,
        var,
        std_dev,
        argmax,
        argmin,
        softmax,
        zeros,
        ones,
        empty,
        full,
        zeros_like,
        ones_like,
        empty_like,
        full_like,
        arange,
        linspace,
        eye,
        identity,
        tri,
        tril,
        triu,
        astype,
        asarray,
        reshape,
        flatten,
        unflatten,
        squeeze,
        expand_dims,
        transpose,
        permute_dims,
        swapaxes,
        moveaxis,
        broadcast_to,
        broadcast_arrays,
        broadcast_shapes,
        atleast_1d,
        atleast_2d,
        atleast_3d,
        as_strided,
        matmul,
        addmm,
        inner,
        outer,
        kron,
        einsum,
        einsum_path,
        to_fp8,
        from_fp8,
        hadamard_transform,
        tensordot,
        vecdot,
    );
    Ok(())
}
