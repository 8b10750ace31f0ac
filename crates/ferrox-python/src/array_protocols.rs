//! The rarer protocol methods of `mx.array`: `bytes(a)`, the Python 2 division names
//! MLX still has, and the array API's `__array_namespace__`.

use crate::array::{binop, PyArray};
use crate::errors::{guard, value_error};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

#[pymethods]
impl PyArray {
    /// The elements' bytes in row-major order (evaluates the array).
    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let a = self.inner.clone();
        let bytes = py.detach(move || guard(|| a.to_bytes()))?;
        Ok(PyBytes::new(py, &bytes))
    }
    fn __div__(&self, other: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        binop(&self.inner, other, false, ferrox::ops::divide)
    }
    fn __rdiv__(&self, other: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        binop(&self.inner, other, true, ferrox::ops::divide)
    }
    /// The module implementing the array API for this array: `ferrox.core`.
    #[pyo3(signature = (api_version = None))]
    fn __array_namespace__<'py>(
        &self,
        py: Python<'py>,
        api_version: Option<&str>,
    ) -> PyResult<Bound<'py, PyModule>> {
        if api_version.is_some() {
            return Err(value_error(
                "Explicitly specifying api_version is not yet implemented.",
            ));
        }
        py.import("ferrox.core")
    }
}
