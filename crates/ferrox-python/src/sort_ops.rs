//! mlx.core's sorting and selection functions: `sort`, `argsort`, `partition`,
//! `argpartition`, `topk`, `searchsorted`, `unique`.

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

#[pyfunction]
#[pyo3(signature = (a, /, size, return_index = false, return_inverse = false,
                    return_counts = false, fill_value = None, *, stream = None))]
#[allow(clippy::too_many_arguments)]
pub fn unique<'py>(
    py: Python<'py>,
    a: Arg<'_, 'py>,
    size: isize,
    return_index: bool,
    return_inverse: bool,
    return_counts: bool,
    fill_value: Opt<'_, 'py>,
    stream: Opt<'_, 'py>,
) -> PyResult<Bound<'py, PyAny>> {
    if size < 0 {
        return Err(value_error(format!(
            "[unique] Received negative size {size}."
        )));
    }
    let a = array_arg(a)?;
    let fill = fill_value
        .filter(|f| !f.is_none())
        .map(array_arg)
        .transpose()?;
    let u = on_stream(stream, || {
        ops::unique(
            &a,
            size as usize,
            fill.as_ref(),
            return_index,
            return_inverse,
            return_counts,
        )
    })?;
    let extra: Vec<PyArray> = [u.index, u.inverse, u.counts]
        .into_iter()
        .flatten()
        .map(PyArray::from)
        .collect();
    let values = PyArray::from(u.values);
    if extra.is_empty() {
        return Ok(Bound::new(py, values)?.into_any());
    }
    let mut items = vec![Bound::new(py, values)?.into_any()];
    for e in extra {
        items.push(Bound::new(py, e)?.into_any());
    }
    Ok(pyo3::types::PyTuple::new(py, items)?.into_any())
}

/// Registers every function of this module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    macro_rules! add {
        ($($f:ident),* $(,)?) => {$( m.add_function(wrap_pyfunction!($f, m)?)?; )*};
    }
    add!(
        sort,
        argsort,
        partition,
        argpartition,
        topk,
        searchsorted,
        unique
    );
    Ok(())
}
