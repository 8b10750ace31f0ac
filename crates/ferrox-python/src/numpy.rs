//! Zero-copy export to NumPy through `__array_interface__` (usable under the stable ABI,
//! where the buffer protocol is not).

use crate::errors::{guard, value_error};
use ferrox::{Array, Dtype};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// A short-lived object NumPy reads the array's memory through. NumPy keeps it alive as
/// the new array's base, and it keeps the ferrox buffer alive.
#[pyclass(module = "ferrox.core", frozen)]
pub struct ArrayInterface {
    array: Array,
    data: ferrox::array::Data,
}

fn typestr(dtype: Dtype) -> PyResult<&'static str> {
    if dtype == Dtype::Bfloat16 {
        return Err(value_error(
            "bfloat16 is not a valid PEP 3118 buffer format",
        ));
    }
    Ok(ferrox::io::npy::descr_of(dtype))
}

impl ArrayInterface {
    pub fn new(py: Python<'_>, a: &Array) -> PyResult<Self> {
        typestr(a.dtype())?;
        let arr = a.clone();
        let data = py.detach(move || guard(|| arr.data()))?;
        Ok(ArrayInterface {
            array: a.clone(),
            data,
        })
    }
}

#[pymethods]
impl ArrayInterface {
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let item = self.array.itemsize() as isize;
        let ptr = self.data.byte_ptr(self.array.itemsize()) as usize;
        let ptr = if self.array.size() == 0 {
            self.data.buffer.as_ptr() as usize
        } else {
            ptr
        };
        d.set_item("version", 3)?;
        d.set_item("typestr", typestr(self.array.dtype())?)?;
        d.set_item("shape", PyTuple::new(py, self.array.shape())?)?;
        let strides: Vec<isize> = self.data.strides.iter().map(|s| s * item).collect();
        d.set_item("strides", PyTuple::new(py, strides)?)?;
        // Read-only: the array is immutable; a NumPy write would alter ferrox's data.
        d.set_item("data", (ptr, true))?;
        Ok(d)
    }
}
