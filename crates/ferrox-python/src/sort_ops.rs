//! mlx.core's sorting and selection functions: `sort`, `argsort`, `partition`,
//! `argpartition`, `topk`, `searchsorted`.

use crate::array::PyArray;
use crate::convert::array_arg;
use crate::device::on_stream;
use crate::errors::value_error;
use ferrox::ops;
use pyo3::prelude::*;

type Arg<'a, 'py> = &'a Bound<'py, PyAny>;
type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

#[pyfunction]
#[pyo3(signature = (a, /, axis = Some(-1), *, stream = None))]
pub fn sort(a: Arg, axis: Option<isize>, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::sort(&a, axis)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, /, axis = Some(-1), *, stream = None))]
pub fn argsort(a: Arg, axis: Option<isize>, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::argsort(&a, axis)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, /, kth, axis = Some(-1), *, stream = None))]
pub fn partition(a: Arg, kth: isize, axis: Option<isize>, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::partition(&a, kth, axis)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, /, kth, axis = Some(-1), *, stream = None))]
pub fn argpartition(a: Arg, kth: isize, axis: Option<isize>, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::argpartition(&a, kth, axis)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, /, k, axis = Some(-1), *, stream = None))]
pub fn topk(a: Arg, k: isize, axis: Option<isize>, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    on_stream(stream, || ops::topk(&a, k, axis)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (sorted_sequence, values, /, side = "left", *, stream = None))]
pub fn searchsorted(
    sorted_sequence: Arg,
    values: Arg,
    side: &str,
    stream: Opt,
) -> PyResult<PyArray> {
    let right = match side {
        "left" => false,
        "right" => true,
        _ => {
            return Err(value_error(format!(
                "[searchsorted] side must be 'left' or 'right', got '{side}'."
            )))
        }
    };
    let (s, v) = (array_arg(sorted_sequence)?, array_arg(values)?);
    on_stream(stream, || ops::searchsorted(&s, &v, right)).map(PyArray::from)
}

/// Registers every function of this module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    macro_rules! add {
        ($($f:ident),* $(,)?) => {$( m.add_function(wrap_pyfunction!($f, m)?)?; )*};
    }
    add!(sort, argsort, partition, argpartition, topk, searchsorted);
    Ok(())
}
