//! Rust errors and panics become Python exceptions of MLX's types.

use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::PyErr;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The Python exception for a ferrox error: invalid arguments are `ValueError`.
pub fn to_py(e: ferrox::Error) -> PyErr {
    match e {
        ferrox::Error::Invalid(m) => PyValueError::new_err(m),
        ferrox::Error::Index(m) => PyIndexError::new_err(m),
        ferrox::Error::Type(m) => PyTypeError::new_err(m),
        ferrox::Error::Memory(m) | ferrox::Error::Runtime(m) => PyRuntimeError::new_err(m),
    }
}

/// Runs `f`, turning its error into a Python exception and a panic into `RuntimeError`
/// (no panic may cross into Python).
pub fn guard<T>(f: impl FnOnce() -> ferrox::Result<T>) -> pyo3::PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(to_py),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(PyRuntimeError::new_err(format!(
                "internal error in ferrox: {msg}"
            )))
        }
    }
}

/// Shorthand for a `ValueError`.
pub fn value_error(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}
