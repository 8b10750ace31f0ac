//! `a.at[key]`: MLX's accumulating updates (`add`, `subtract`, `multiply`, `divide`,
//! `maximum`, `minimum`), each returning a new array. Repeated indices accumulate.

use crate::array::PyArray;
use crate::errors::guard;
use crate::indexing::{broadcast, strip_leading_ones, update_args, value_array, Update};
use ferrox::{ops, Array};
use pyo3::prelude::*;

/// What `a.at` and `a.at[key]` return.
#[pyclass(name = "ArrayAt", module = "ferrox.core", frozen)]
pub struct ArrayAt {
    array: Array,
    key: Option<Py<PyAny>>,
}

#[derive(Clone, Copy)]
enum Reduce {
    Add,
    Subtract,
    Multiply,
    Divide,
    Maximum,
    Minimum,
}

impl ArrayAt {
    fn apply(&self, py: Python<'_>, value: &Bound<'_, PyAny>, how: Reduce) -> PyResult<PyArray> {
        let a = &self.array;
        let key = match &self.key {
            Some(k) => k.bind(py).clone(),
            None => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "Must give indices to array.at (e.g. `x.at[0].add(4)`).",
                ))
            }
        };
        let v = value_array(value, a.dtype())?;
        // A lone `None` or `...` is MLX's elementwise form: `a + v`, `a / v` (a true
        // division, so integers give floats), ... over the value broadcast to `a`'s shape
        // (`None` keeps the value's leading unit axes, which then cannot broadcast).
        if key.is_none() || key.is(&py.Ellipsis()) {
            let u = if key.is_none() {
                v
            } else {
                strip_leading_ones(&v)?
            };
            let u = broadcast(&u, a.shape())?;
            return guard(|| match how {
                Reduce::Add => ops::add(a, &u),
                Reduce::Subtract => ops::subtract(a, &u),
                Reduce::Multiply => ops::multiply(a, &u),
                Reduce::Divide => ops::divide(a, &u),
                Reduce::Maximum => ops::maximum(a, &u),
                Reduce::Minimum => ops::minimum(a, &u),
            })
            .map(PyArray::from);
        }
        // MLX's forms: subtracting adds the negation, dividing multiplies by the
        // reciprocal (cast back to the array's dtype, so integers divide to 0 unless by 1).
        let v = match how {
            Reduce::Subtract if v.dtype() == ferrox::Dtype::Bool => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "[negative] Not supported for bool, use logical_not instead.",
                ))
            }
            Reduce::Subtract => guard(|| ops::negative(&v))?,
            Reduce::Divide => guard(|| ops::astype(&ops::reciprocal(&v)?, a.dtype()))?,
            _ => v,
        };
        let combine = |x: &Array, u: &Array| -> ferrox::Result<Array> {
            let r = match how {
                Reduce::Add | Reduce::Subtract => ops::add(x, u)?,
                Reduce::Multiply | Reduce::Divide => ops::multiply(x, u)?,
                Reduce::Maximum => ops::maximum(x, u)?,
                Reduce::Minimum => ops::minimum(x, u)?,
            };
            ops::astype(&r, a.dtype())
        };
        let out = match update_args(a, &key, &v)? {
            Update::Whole(u) => guard(|| combine(a, &u))?,
            Update::Window {
                start,
                stop,
                step,
                update,
            } => guard(|| {
                let window = ops::slice(a, &start, &stop, &step)?;
                ops::slice_update(a, &combine(&window, &update)?, &start, &stop, &step)
            })?,
            Update::Scatter {
                indices,
                updates,
                axes,
            } => guard(|| match how {
                Reduce::Add | Reduce::Subtract => ops::scatter_add(a, &indices, &updates, &axes),
                Reduce::Multiply | Reduce::Divide => {
                    ops::scatter_prod(a, &indices, &updates, &axes)
                }
                Reduce::Maximum => ops::scatter_max(a, &indices, &updates, &axes),
                Reduce::Minimum => ops::scatter_min(a, &indices, &updates, &axes),
            })?,
        };
        Ok(PyArray::from(out))
    }
}

#[pymethods]
impl ArrayAt {
    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> ArrayAt {
        let _ = py;
        ArrayAt {
            array: self.array.clone(),
            key: Some(key.clone().unbind()),
        }
    }
    fn add(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        self.apply(py, value, Reduce::Add)
    }
    fn subtract(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        self.apply(py, value, Reduce::Subtract)
    }
    fn multiply(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        self.apply(py, value, Reduce::Multiply)
    }
    fn divide(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        self.apply(py, value, Reduce::Divide)
    }
    fn maximum(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        self.apply(py, value, Reduce::Maximum)
    }
    fn minimum(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        self.apply(py, value, Reduce::Minimum)
    }
}

#[pymethods]
impl PyArray {
    /// `a.at[key].add(v)` and friends: functional updates where repeated indices
    /// accumulate.
    #[getter]
    fn at(&self) -> ArrayAt {
        ArrayAt {
            array: self.inner.clone(),
            key: None,
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ArrayAt>()
}
