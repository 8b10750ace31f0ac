//! mlx.core's products over chosen parts of the operands: `gather_mm`, `segmented_mm`,
//! `block_masked_mm`.

use crate::array::PyArray;
use crate::convert::array_arg;
use crate::device::on_stream;
use crate::errors::value_error;
use ferrox::ops;
use pyo3::prelude::*;

type Arg<'a, 'py> = &'a Bound<'py, PyAny>;
type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

/// An optional array argument (`None` or absent: none).
fn opt_array(a: Opt) -> PyResult<Option<ferrox::Array>> {
    match a {
        Some(a) if !a.is_none() => array_arg(a).map(Some),
        _ => Ok(None),
    }
}

#[pyfunction]
#[pyo3(signature = (a, b, /, lhs_indices = None, rhs_indices = None, *, sorted_indices = false, stream = None))]
pub fn gather_mm(
    a: Arg,
    b: Arg,
    lhs_indices: Opt,
    rhs_indices: Opt,
    sorted_indices: bool,
    stream: Opt,
) -> PyResult<PyArray> {
    let (a, b) = (array_arg(a)?, array_arg(b)?);
    let (lhs, rhs) = (opt_array(lhs_indices)?, opt_array(rhs_indices)?);
    on_stream(stream, || {
        ops::gather_mm(&a, &b, lhs.as_ref(), rhs.as_ref(), sorted_indices)
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, b, /, segments, *, stream = None))]
pub fn segmented_mm(a: Arg, b: Arg, segments: Arg, stream: Opt) -> PyResult<PyArray> {
    let (a, b, s) = (array_arg(a)?, array_arg(b)?, array_arg(segments)?);
    on_stream(stream, || ops::segmented_mm(&a, &b, &s)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, b, /, block_size = 64, mask_out = None, mask_lhs = None, mask_rhs = None, *, stream = None))]
pub fn block_masked_mm(
    a: Arg,
    b: Arg,
    block_size: i64,
    mask_out: Opt,
    mask_lhs: Opt,
    mask_rhs: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    let (a, b) = (array_arg(a)?, array_arg(b)?);
    let masks = [
        opt_array(mask_out)?,
        opt_array(mask_lhs)?,
        opt_array(mask_rhs)?,
    ];
    let bs = usize::try_from(block_size).map_err(|_| {
        value_error(format!(
            "[block_masked_mm] Only block_sizes 32, 64 are supported.Got block size {block_size}."
        ))
    })?;
    on_stream(stream, || {
        ops::block_masked_mm(
            &a,
            &b,
            bs,
            masks[0].as_ref(),
            masks[1].as_ref(),
            masks[2].as_ref(),
        )
    })
    .map(PyArray::from)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gather_mm, m)?)?;
    m.add_function(wrap_pyfunction!(segmented_mm, m)?)?;
    m.add_function(wrap_pyfunction!(block_masked_mm, m)?)?;
    Ok(())
}
