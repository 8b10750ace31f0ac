//! mlx.core's cumulative functions (`cumsum`, `cumprod`, `cummax`, `cummin`,
//! `logcumsumexp`, `cumulative_sum`, `cumulative_prod`) and `median`.

use crate::array::PyArray;
use crate::convert::array_arg;
use crate::device::on_stream;
use crate::errors::value_error;
use crate::ops::{axes_arg, opt_dtype};
use ferrox::ops;
use pyo3::prelude::*;

type Arg<'a, 'py> = &'a Bound<'py, PyAny>;
type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

macro_rules! scan_fns_dtype {
    ($($name:ident),*) => {$(
        #[pyfunction]
        #[pyo3(signature = (a, /, axis = None, *, reverse = false, inclusive = true, dtype = None, stream = None))]
        pub fn $name(
            a: Arg,
            axis: Option<isize>,
            reverse: bool,
            inclusive: bool,
            dtype: Opt,
            stream: Opt,
        ) -> PyResult<PyArray> {
            let (a, d) = (array_arg(a)?, opt_dtype(dtype)?);
            on_stream(stream, || ops::$name(&a, axis, reverse, inclusive, d)).map(PyArray::from)
        }
    )*};
}
scan_fns_dtype!(cumsum, cumprod, cumulative_sum, cumulative_prod);

macro_rules! scan_fns {
    ($($name:ident),*) => {$(
        #[pyfunction]
        #[pyo3(signature = (a, /, axis = None, *, reverse = false, inclusive = true, stream = None))]
        pub fn $name(
            a: Arg,
            axis: Option<isize>,
            reverse: bool,
            inclusive: bool,
            stream: Opt,
        ) -> PyResult<PyArray> {
            let a = array_arg(a)?;
            on_stream(stream, || ops::$name(&a, axis, reverse, inclusive)).map(PyArray::from)
        }
    )*};
}
scan_fns!(cummax, cummin, logcumsumexp);

#[pyfunction]
#[pyo3(signature = (a, /, axis = None, keepdims = false, *, stream = None))]
pub fn median(a: Arg, axis: Opt, keepdims: bool, stream: Opt) -> PyResult<PyArray> {
    let a = array_arg(a)?;
    let axes = axes_arg(axis)?;
    // An explicit empty list reduces nothing; MLX rejects it.
    if axes.is_empty() && axis.is_some_and(|x| !x.is_none()) {
        return Err(value_error(
            "[median] axis must name at least one axis (got an empty sequence).",
        ));
    }
    on_stream(stream, || ops::median(&a, &axes, keepdims)).map(PyArray::from)
}

/// Registers every function of this module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    macro_rules! add {
        ($($f:ident),* $(,)?) => {$( m.add_function(wrap_pyfunction!($f, m)?)?; )*};
    }
    add!(
        cumsum,
        cumprod,
        cumulative_sum,
        cumulative_prod,
        cummax,
        cummin,
        logcumsumexp,
        median
    );
    Ok(())
}
