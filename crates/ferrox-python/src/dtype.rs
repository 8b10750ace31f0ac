//! `Dtype`, `DtypeCategory`, the dtype objects, `finfo`, `iinfo` and the dtype functions.

use crate::errors::{guard, value_error};
use ferrox::dtype::{self, Dtype, DtypeCategory};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// An element type (`mx.float32`, ...).
#[pyclass(name = "Dtype", module = "ferrox.core", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDtype(pub Dtype);

#[pymethods]
impl PyDtype {
    /// Bytes per element.
    #[getter]
    fn size(&self) -> usize {
        self.0.size()
    }
    fn __repr__(&self) -> String {
        // MLX prints its module's name; ferrox prints the same text so that programs
        // that print dtypes give the same output.
        format!("mlx.core.{}", self.0.name())
    }
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let m = py.import("ferrox.core")?;
        let f = m.getattr("_dtype_from_name")?;
        PyTuple::new(
            py,
            [f.into_any(), PyTuple::new(py, [self.0.name()])?.into_any()],
        )
    }
}

/// A dtype category (`mx.floating`, ...).
#[pyclass(name = "DtypeCategory", module = "ferrox.core", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDtypeCategory(pub DtypeCategory);

#[pymethods]
impl PyDtypeCategory {
    fn __repr__(&self) -> String {
        let name = match self.0 {
            DtypeCategory::ComplexFloating => "complexfloating",
            DtypeCategory::Floating => "floating",
            DtypeCategory::Inexact => "inexact",
            DtypeCategory::SignedInteger => "signedinteger",
            DtypeCategory::UnsignedInteger => "unsignedinteger",
            DtypeCategory::Integer => "integer",
            DtypeCategory::Number => "number",
            DtypeCategory::Generic => "generic",
        };
        format!("DtypeCategory.{name}")
    }
}

#[pyfunction]
fn _dtype_from_name(name: &str) -> PyResult<PyDtype> {
    guard(|| Dtype::from_name(name)).map(PyDtype)
}

/// Either a dtype or a category, for `issubdtype`.
fn category_of(obj: &Bound<'_, PyAny>) -> PyResult<Result<Dtype, DtypeCategory>> {
    if let Ok(d) = obj.cast::<PyDtype>() {
        return Ok(Ok(d.get().0));
    }
    if let Ok(c) = obj.cast::<PyDtypeCategory>() {
        return Ok(Err(c.get().0));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(
        "issubdtype expects Dtype or DtypeCategory arguments",
    ))
}

#[pyfunction]
fn issubdtype(arg1: &Bound<'_, PyAny>, arg2: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(match (category_of(arg1)?, category_of(arg2)?) {
        (Ok(a), Ok(b)) => a == b,
        (Ok(a), Err(c)) => dtype::issubdtype(a, c),
        (Err(_), Ok(_)) => false,
        (Err(a), Err(b)) => dtype::issubcategory(a, b),
    })
}

/// `finfo(dtype)`: limits of a floating dtype.
#[pyclass(name = "finfo", module = "ferrox.core", frozen)]
pub struct PyFinfo(dtype::Finfo);

#[pymethods]
impl PyFinfo {
    #[new]
    fn new(dtype: &Bound<'_, PyAny>) -> PyResult<Self> {
        let d = crate::convert::dtype_of(dtype)?;
        guard(|| dtype::finfo(d)).map(PyFinfo)
    }
    #[getter]
    fn min(&self) -> f64 {
        self.0.min
    }
    #[getter]
    fn max(&self) -> f64 {
        self.0.max
    }
    #[getter]
    fn eps(&self) -> f64 {
        self.0.eps
    }
    #[getter]
    fn bits(&self) -> usize {
        self.0.bits
    }
    #[getter]
    fn smallest_normal(&self) -> f64 {
        self.0.smallest_normal
    }
    #[getter]
    fn dtype(&self) -> PyDtype {
        PyDtype(self.0.dtype)
    }
    fn __repr__(&self) -> String {
        format!(
            "finfo(min={:e}, max={:e}, dtype={})",
            self.0.min, self.0.max, self.0.dtype
        )
    }
}

/// `iinfo(dtype)`: limits of an integer dtype.
#[pyclass(name = "iinfo", module = "ferrox.core", frozen)]
pub struct PyIinfo(dtype::Iinfo);

#[pymethods]
impl PyIinfo {
    #[new]
    fn new(dtype: &Bound<'_, PyAny>) -> PyResult<Self> {
        let d = crate::convert::dtype_of(dtype)?;
        guard(|| dtype::iinfo(d)).map(PyIinfo)
    }
    #[getter]
    fn min(&self) -> i128 {
        self.0.min
    }
    #[getter]
    fn max(&self) -> i128 {
        self.0.max
    }
    #[getter]
    fn dtype(&self) -> PyDtype {
        PyDtype(self.0.dtype)
    }
    fn __repr__(&self) -> String {
        format!(
            "iinfo(min={}, max={}, dtype={})",
            self.0.min, self.0.max, self.0.dtype
        )
    }
}

/// `result_type(*arrays_and_dtypes)`.
#[pyfunction]
#[pyo3(signature = (*args))]
fn result_type(args: &Bound<'_, PyTuple>) -> PyResult<PyDtype> {
    let mut out: Option<Dtype> = None;
    for a in args.iter() {
        let d = crate::convert::dtype_or_array_dtype(&a)?;
        out = Some(match out {
            Some(o) => dtype::promote(o, d),
            None => d,
        });
    }
    out.map(PyDtype)
        .ok_or_else(|| value_error("[result_type] at least one argument is needed"))
}

/// `can_cast(from_, to)`.
#[pyfunction]
fn can_cast(from_: &Bound<'_, PyAny>, to: &Bound<'_, PyAny>) -> PyResult<bool> {
    let f = crate::convert::dtype_or_array_dtype(from_)?;
    let t = crate::convert::dtype_of(to)?;
    Ok(dtype::can_cast(f, t))
}

/// `isdtype(dtype, kind)`: Array-API kinds by name or dtype.
#[pyfunction]
fn isdtype(dtype: &Bound<'_, PyAny>, kind: &Bound<'_, PyAny>) -> PyResult<bool> {
    let d = crate::convert::dtype_of(dtype)?;
    if let Ok(t) = kind.cast::<PyTuple>() {
        for k in t.iter() {
            if isdtype(dtype, &k)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Ok(name) = kind.extract::<String>() {
        return match name.as_str() {
            "bool" => Ok(d == Dtype::Bool),
            "signed integer" => Ok(d.is_signed_int()),
            "unsigned integer" => Ok(d.is_unsigned()),
            "integral" => Ok(d.is_integer()),
            "real floating" => Ok(d.is_floating()),
            "complex floating" => Ok(d.is_complex()),
            "numeric" => Ok(d != Dtype::Bool),
            _ => Err(value_error(format!("[isdtype] Unknown kind '{name}'."))),
        };
    }
    Ok(crate::convert::dtype_of(kind)? == d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDtype>()?;
    m.add_class::<PyDtypeCategory>()?;
    m.add_class::<PyFinfo>()?;
    m.add_class::<PyIinfo>()?;
    for d in Dtype::ALL {
        let name = if d == Dtype::Bool { "bool_" } else { d.name() };
        m.add(name, PyDtype(d))?;
    }
    for (name, c) in [
        ("complexfloating", DtypeCategory::ComplexFloating),
        ("floating", DtypeCategory::Floating),
        ("inexact", DtypeCategory::Inexact),
        ("signedinteger", DtypeCategory::SignedInteger),
        ("unsignedinteger", DtypeCategory::UnsignedInteger),
        ("integer", DtypeCategory::Integer),
        ("number", DtypeCategory::Number),
        ("generic", DtypeCategory::Generic),
    ] {
        m.add(name, PyDtypeCategory(c))?;
    }
    m.add_function(wrap_pyfunction!(_dtype_from_name, m)?)?;
    m.add_function(wrap_pyfunction!(issubdtype, m)?)?;
    m.add_function(wrap_pyfunction!(result_type, m)?)?;
    m.add_function(wrap_pyfunction!(can_cast, m)?)?;
    m.add_function(wrap_pyfunction!(isdtype, m)?)?;
    Ok(())
}
