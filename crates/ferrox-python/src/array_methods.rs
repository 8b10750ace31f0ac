//! `mx.array` methods over the shape and scan ops (`cumsum`, `split`, `diag`, `view`,
//! ...) and the `T` / `mT` properties, in their own `#[pymethods]` block.

use crate::array::PyArray;
use crate::device::on_stream;
use crate::{scan_ops, shape_ops};
use ferrox::ops;
use pyo3::prelude::*;

type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

macro_rules! scan_methods {
    ($($name:ident),*) => {
        #[pymethods]
        impl PyArray {$(
            #[pyo3(signature = (axis = None, *, reverse = false, inclusive = true, stream = None))]
            fn $name(
                slf: &Bound<'_, Self>,
                axis: Option<isize>,
                reverse: bool,
                inclusive: bool,
                stream: Opt,
            ) -> PyResult<PyArray> {
                scan_ops::$name(slf.as_any(), axis, reverse, inclusive, stream)
            }
        )*}
    };
}
scan_methods!(cummax, cummin, logcumsumexp);

#[pymethods]
impl PyArray {
    #[pyo3(signature = (axis = None, *, reverse = false, inclusive = true, stream = None))]
    fn cumsum(
        slf: &Bound<'_, Self>,
        axis: Option<isize>,
        reverse: bool,
        inclusive: bool,
        stream: Opt,
    ) -> PyResult<PyArray> {
        scan_ops::cumsum(slf.as_any(), axis, reverse, inclusive, None, stream)
    }
    #[pyo3(signature = (axis = None, *, reverse = false, inclusive = true, stream = None))]
    fn cumprod(
        slf: &Bound<'_, Self>,
        axis: Option<isize>,
        reverse: bool,
        inclusive: bool,
        stream: Opt,
    ) -> PyResult<PyArray> {
        scan_ops::cumprod(slf.as_any(), axis, reverse, inclusive, None, stream)
    }
    #[pyo3(signature = (indices_or_sections, axis = 0, *, stream = None))]
    fn split(
        &self,
        py: Python<'_>,
        indices_or_sections: &Bound<'_, PyAny>,
        axis: isize,
        stream: Opt,
    ) -> PyResult<Vec<Py<PyArray>>> {
        let parts = shape_ops::split_impl(&self.inner, indices_or_sections, axis, stream)?;
        parts
            .into_iter()
            .map(|a| Py::new(py, PyArray::from(a)))
            .collect()
    }
    #[pyo3(signature = (k = 0, *, stream = None))]
    fn diag(&self, k: isize, stream: Opt) -> PyResult<PyArray> {
        on_stream(stream, || ops::diag(&self.inner, k)).map(PyArray::from)
    }
    #[pyo3(signature = (offset = 0, axis1 = 0, axis2 = 1, stream = None))]
    fn diagonal(
        &self,
        offset: isize,
        axis1: isize,
        axis2: isize,
        stream: Opt,
    ) -> PyResult<PyArray> {
        on_stream(stream, || ops::diagonal(&self.inner, offset, axis1, axis2)).map(PyArray::from)
    }
    #[pyo3(signature = (dtype, *, stream = None))]
    fn view(&self, dtype: &Bound<'_, PyAny>, stream: Opt) -> PyResult<PyArray> {
        let d = crate::convert::dtype_of(dtype)?;
        on_stream(stream, || ops::view(&self.inner, d)).map(PyArray::from)
    }
}
