//! `mx.get_printoptions()`, the `PrintOptions` it returns, and the `mx.printoptions(...)`
//! context manager (`mx.set_printoptions` lives with the other global settings).

use pyo3::prelude::*;

/// A snapshot of the print options (`mx.get_printoptions()`); changing it changes
/// nothing until passed back through `mx.set_printoptions`, as in MLX.
#[pyclass(name = "PrintOptions", module = "ferrox.core")]
pub struct PyPrintOptions {
    /// Digits after the point; -1 for the default (6 significant digits).
    #[pyo3(get, set)]
    precision: i32,
}

#[pymethods]
impl PyPrintOptions {
    #[new]
    #[pyo3(signature = (precision = -1))]
    fn new(precision: i32) -> Self {
        PyPrintOptions { precision }
    }
    fn __repr__(&self) -> String {
        format!("PrintOptions(precision={})", self.precision)
    }
}

/// The current print options.
#[pyfunction]
fn get_printoptions() -> PyPrintOptions {
    PyPrintOptions {
        precision: ferrox::get_printoptions().precision,
    }
}

/// The context `mx.printoptions(...)` returns: entering sets the options, leaving
/// restores those in force on entry (also when the block raises).
#[pyclass(name = "_PrintOptionsContext", module = "ferrox.core")]
pub struct PrintOptionsContext {
    options: ferrox::PrintOptions,
    saved: Vec<ferrox::PrintOptions>,
}

#[pymethods]
impl PrintOptionsContext {
    fn __enter__(mut slf: PyRefMut<'_, Self>) -> PyRefMut<'_, Self> {
        slf.saved.push(ferrox::get_printoptions());
        ferrox::set_printoptions(slf.options);
        slf
    }
    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        if let Some(prev) = self.saved.pop() {
            ferrox::set_printoptions(prev);
        }
        false
    }
}

/// `with mx.printoptions(precision=3): ...` prints with those options inside the block.
#[pyfunction]
#[pyo3(signature = (precision = -1))]
fn printoptions(precision: i32) -> PrintOptionsContext {
    PrintOptionsContext {
        options: ferrox::PrintOptions { precision },
        saved: vec![],
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPrintOptions>()?;
    m.add_class::<PrintOptionsContext>()?;
    m.add_function(wrap_pyfunction!(get_printoptions, m)?)?;
    m.add_function(wrap_pyfunction!(printoptions, m)?)?;
    Ok(())
}
