//! `ferrox.core.random`, a drop-in for `mlx.core.random`: the same keys, the same global
//! state handling and the same numbers bit for bit (the Rust side reproduces MLX 0.32.4).

use crate::array::PyArray;
use crate::convert::{array_arg, operand, type_name};
use crate::device::on_stream;
use crate::errors::value_error;
use crate::ops::opt_dtype;
use crate::shape_ops::int_of;
use ferrox::random;
use ferrox::{Array, Dtype};
use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList, PyTuple};

type Arg<'a, 'py> = &'a Bound<'py, PyAny>;
type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

/// A `seed: int` argument: a Python int in `[0, 2**64)` (MLX's `uint64_t`); anything else
/// is a `TypeError`, as nanobind reports it.
fn seed_arg(func: &str, seed: Arg) -> PyResult<u64> {
    let is_int = seed.is_instance_of::<PyInt>() || int_of(seed).is_some();
    match seed.extract::<u64>() {
        Ok(s) if is_int => Ok(s),
        _ => Err(PyTypeError::new_err(format!(
            "{func}(): seed must be an int in [0, 2**64), got {} {}.",
            type_name(seed),
            seed.repr().map(|r| r.to_string()).unwrap_or_default()
        ))),
    }
}

/// A `key: array | None` argument.
fn key_arg(key: Opt) -> PyResult<Option<Array>> {
    match key {
        None => Ok(None),
        Some(k) if k.is_none() => Ok(None),
        Some(k) => match k.cast::<PyArray>() {
            Ok(a) => Ok(Some(a.borrow().inner.clone())),
            Err(_) => Err(PyTypeError::new_err(format!(
                "key must be an array or None, got {}.",
                type_name(k)
            ))),
        },
    }
}

/// A `shape: Sequence[int]` argument (an int is a `TypeError`, as in MLX); `None` takes
/// `default`.
fn shape_of(shape: Opt, default: Option<Vec<usize>>) -> PyResult<Option<Vec<usize>>> {
    let Some(s) = shape.filter(|s| !s.is_none()) else {
        return Ok(default);
    };
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = s.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = s.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        return Err(PyTypeError::new_err(format!(
            "shape must be a sequence of ints, got {}.",
            type_name(s)
        )));
    };
    items
        .iter()
        .map(|x| {
            let n = int_of(x).ok_or_else(|| {
                PyTypeError::new_err(format!(
                    "shape must be a sequence of ints, got an item of type {}.",
                    type_name(x)
                ))
            })?;
            usize::try_from(n).map_err(|_| value_error("[bits] Negative dimensions not allowed."))
        })
        .collect::<PyResult<Vec<_>>>()
        .map(Some)
}

fn shape_or_scalar(shape: Opt) -> PyResult<Vec<usize>> {
    Ok(shape_of(shape, Some(vec![]))?.unwrap_or_default())
}

fn dtype_or(dtype: Opt, default: Dtype) -> PyResult<Dtype> {
    Ok(opt_dtype(dtype)?.unwrap_or(default))
}

/// Seeds the global random state.
#[pyfunction]
fn seed(seed: Arg) -> PyResult<()> {
    random::seed(seed_arg("seed", seed)?);
    Ok(())
}

/// A PRNG key from a seed.
#[pyfunction]
fn key(seed: Arg) -> PyResult<PyArray> {
    Ok(PyArray::from(random::key(seed_arg("key", seed)?)))
}

#[pyfunction]
#[pyo3(signature = (key, num = 2, stream = None))]
fn split(key: Arg, num: i64, stream: Opt) -> PyResult<PyArray> {
    let key = array_arg(key)?;
    let num =
        usize::try_from(num).map_err(|_| value_error("[bits] Negative dimensions not allowed."))?;
    on_stream(stream, || random::split(&key, num)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (low = None, high = None, shape = None, dtype = None, key = None, stream = None))]
fn uniform(
    low: Opt,
    high: Opt,
    shape: Opt,
    dtype: Opt,
    key: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    let low = match low {
        Some(l) => operand(l)?,
        None => ferrox::ops::Operand::from(0i32),
    };
    let high = match high {
        Some(h) => operand(h)?,
        None => ferrox::ops::Operand::from(1i32),
    };
    let shape = shape_or_scalar(shape)?;
    let d = dtype_or(dtype, Dtype::Float32)?;
    let key = key_arg(key)?;
    on_stream(stream, || {
        random::uniform(low, high, &shape, Some(d), key.as_ref())
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (shape = None, dtype = None, loc = None, scale = None, key = None, stream = None))]
fn normal(
    shape: Opt,
    dtype: Opt,
    loc: Opt,
    scale: Opt,
    key: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    let shape = shape_or_scalar(shape)?;
    let d = dtype_or(dtype, Dtype::Float32)?;
    let opt_operand = |x: Opt| -> PyResult<Option<ferrox::ops::Operand>> {
        match x {
            Some(v) if !v.is_none() => Ok(Some(operand(v)?)),
            _ => Ok(None),
        }
    };
    let (loc, scale) = (opt_operand(loc)?, opt_operand(scale)?);
    let key = key_arg(key)?;
    on_stream(stream, || {
        random::normal(&shape, Some(d), loc, scale, key.as_ref())
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (low, high, shape = None, dtype = None, key = None, stream = None))]
fn randint(
    low: Arg,
    high: Arg,
    shape: Opt,
    dtype: Opt,
    key: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    let (low, high) = (operand(low)?, operand(high)?);
    let shape = shape_or_scalar(shape)?;
    let d = dtype_or(dtype, Dtype::Int32)?;
    let key = key_arg(key)?;
    on_stream(stream, || {
        random::randint(low, high, &shape, Some(d), key.as_ref())
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (p = None, shape = None, key = None, stream = None))]
fn bernoulli(p: Opt, shape: Opt, key: Opt, stream: Opt) -> PyResult<PyArray> {
    let p = match p {
        Some(p) => operand(p)?,
        None => ferrox::ops::Operand::from(0.5f64),
    };
    let shape = shape_of(shape, None)?;
    let key = key_arg(key)?;
    on_stream(stream, || {
        random::bernoulli(p, shape.as_deref(), key.as_ref())
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (lower, upper, shape = None, dtype = None, key = None, stream = None))]
fn truncated_normal(
    lower: Arg,
    upper: Arg,
    shape: Opt,
    dtype: Opt,
    key: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    let (lower, upper) = (operand(lower)?, operand(upper)?);
    let shape = shape_of(shape, None)?;
    let d = dtype_or(dtype, Dtype::Float32)?;
    let key = key_arg(key)?;
    on_stream(stream, || {
        random::truncated_normal(lower, upper, shape.as_deref(), Some(d), key.as_ref())
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (shape = None, dtype = None, key = None, stream = None))]
fn gumbel(shape: Opt, dtype: Opt, key: Opt, stream: Opt) -> PyResult<PyArray> {
    let shape = shape_or_scalar(shape)?;
    let d = dtype_or(dtype, Dtype::Float32)?;
    let key = key_arg(key)?;
    on_stream(stream, || random::gumbel(&shape, Some(d), key.as_ref())).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (logits, axis = -1, shape = None, num_samples = None, key = None, stream = None))]
fn categorical(
    logits: Arg,
    axis: isize,
    shape: Opt,
    num_samples: Option<i64>,
    key: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    let logits = array_arg(logits)?;
    let shape = shape_of(shape, None)?;
    let num_samples = num_samples
        .map(|n| {
            usize::try_from(n).map_err(|_| value_error("[bits] Negative dimensions not allowed."))
        })
        .transpose()?;
    let key = key_arg(key)?;
    on_stream(stream, || {
        random::categorical(&logits, axis, shape.as_deref(), num_samples, key.as_ref())
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (shape = None, dtype = None, loc = 0.0, scale = 1.0, key = None, stream = None))]
fn laplace(
    shape: Opt,
    dtype: Opt,
    loc: f64,
    scale: f64,
    key: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    let shape = shape_or_scalar(shape)?;
    let d = dtype_or(dtype, Dtype::Float32)?;
    let key = key_arg(key)?;
    on_stream(stream, || {
        random::laplace(&shape, Some(d), loc as f32, scale as f32, key.as_ref())
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (x, axis = 0, key = None, stream = None))]
fn permutation(x: Arg, axis: isize, key: Opt, stream: Opt) -> PyResult<PyArray> {
    let key = key_arg(key)?;
    if let (Some(n), false) = (int_of(x), x.is_instance_of::<PyArray>()) {
        let n = usize::try_from(n)
            .map_err(|_| value_error("[bits] Negative dimensions not allowed."))?;
        return on_stream(stream, || random::permutation_n(n, key.as_ref())).map(PyArray::from);
    }
    let x = array_arg(x)?;
    on_stream(stream, || random::permutation(&x, axis, key.as_ref())).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (mean, cov, shape = None, dtype = None, key = None, stream = None))]
fn multivariate_normal(
    mean: Arg,
    cov: Arg,
    shape: Opt,
    dtype: Opt,
    key: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    let (mean, cov) = (array_arg(mean)?, array_arg(cov)?);
    let shape = shape_or_scalar(shape)?;
    let d = dtype_or(dtype, Dtype::Float32)?;
    let key = key_arg(key)?;
    on_stream(stream, || {
        random::multivariate_normal(&mean, &cov, &shape, Some(d), key.as_ref())
    })
    .map(PyArray::from)
}

/// `mx.random.state`: the global key holder. `state[0]` is the current key (a uint32
/// array of shape `(2,)`), read when indexed, as MLX's list-like state object gives it.
#[pyclass(name = "_RandomState", module = "ferrox.core.random", frozen)]
struct RandomState;

#[pymethods]
impl RandomState {
    fn __len__(&self) -> usize {
        1
    }
    fn __getitem__(&self, i: isize) -> PyResult<PyArray> {
        if i == 0 || i == -1 {
            Ok(PyArray::from(random::state()))
        } else {
            Err(PyIndexError::new_err("list index out of range"))
        }
    }
    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let list = PyList::new(py, [Py::new(py, PyArray::from(random::state()))?])?;
        Ok(list.try_iter()?.into_any().unbind())
    }
}

/// Adds `random` to `m`, also importable as `ferrox.core.random`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let r = PyModule::new(py, "ferrox.core.random")?;
    macro_rules! add {
        ($($f:ident),* $(,)?) => {$( r.add_function(wrap_pyfunction!($f, &r)?)?; )*};
    }
    add!(
        seed,
        key,
        split,
        uniform,
        normal,
        randint,
        bernoulli,
        truncated_normal,
        gumbel,
        categorical,
        laplace,
        permutation,
        multivariate_normal,
    );
    r.add_class::<RandomState>()?;
    r.add("state", Py::new(py, RandomState)?)?;
    m.add("random", &r)?;
    py.import("sys")?
        .getattr("modules")?
        .set_item("ferrox.core.random", &r)?;
    Ok(())
}
