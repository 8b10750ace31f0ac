//! `ferrox.core.linalg`, a drop-in for `mlx.core.linalg`: the 19 functions with MLX's
//! names, parameters and defaults. Arguments must be arrays (a list is a `TypeError`, as
//! in MLX). MLX requires the cpu stream for most of them; ferrox runs everything on the
//! CPU, so any stream is accepted.

use crate::array::PyArray;
use crate::device::on_stream;
use crate::fast::array_only;
use ferrox::ops::linalg::{self, NormOrd};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

type Arg<'a, 'py> = &'a Bound<'py, PyAny>;
type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

fn tuple2(py: Python<'_>, (a, b): (ferrox::Array, ferrox::Array)) -> PyResult<Py<PyAny>> {
    Ok((PyArray::from(a), PyArray::from(b))
        .into_pyobject(py)?
        .into_any()
        .unbind())
}

macro_rules! unary {
    ($($name:ident => $body:expr;)*) => {$(
        #[pyfunction]
        #[pyo3(signature = (a, *, stream = None))]
        fn $name(a: Arg, stream: Opt) -> PyResult<PyArray> {
            let a = array_only(stringify!($name), "a", a)?;
            let f: fn(&ferrox::Array) -> ferrox::Result<ferrox::Array> = $body;
            on_stream(stream, || f(&a)).map(PyArray::from)
        }
    )*};
}

unary! {
    inv => linalg::inv;
    det => linalg::det;
    pinv => linalg::pinv;
    eigvals => linalg::eigvals;
}

macro_rules! upper_flag {
    ($($name:ident => $body:expr;)*) => {$(
        #[pyfunction]
        #[pyo3(signature = (a, upper = false, *, stream = None))]
        fn $name(a: Arg, upper: bool, stream: Opt) -> PyResult<PyArray> {
            let a = array_only(stringify!($name), "a", a)?;
            on_stream(stream, || $body(&a, upper)).map(PyArray::from)
        }
    )*};
}

upper_flag! {
    cholesky => linalg::cholesky;
    cholesky_inv => linalg::cholesky_inv;
    tri_inv => linalg::tri_inv;
}

macro_rules! pair {
    ($($name:ident => $body:expr;)*) => {$(
        #[pyfunction]
        #[pyo3(signature = (a, *, stream = None))]
        fn $name(py: Python<'_>, a: Arg, stream: Opt) -> PyResult<Py<PyAny>> {
            let a = array_only(stringify!($name), "a", a)?;
            tuple2(py, on_stream(stream, || $body(&a))?)
        }
    )*};
}

pair! {
    eig => linalg::eig;
    lu_factor => linalg::lu_factor;
    qr => linalg::qr;
    slogdet => linalg::slogdet;
}

#[pyfunction]
#[pyo3(signature = (a, *, stream = None))]
fn lu(py: Python<'_>, a: Arg, stream: Opt) -> PyResult<Py<PyAny>> {
    let a = array_only("lu", "a", a)?;
    let (p, l, u) = on_stream(stream, || linalg::lu(&a))?;
    Ok((PyArray::from(p), PyArray::from(l), PyArray::from(u))
        .into_pyobject(py)?
        .into_any()
        .unbind())
}

#[pyfunction]
#[pyo3(signature = (a, UPLO = "L", *, stream = None))]
#[allow(non_snake_case)]
fn eigh(py: Python<'_>, a: Arg, UPLO: &str, stream: Opt) -> PyResult<Py<PyAny>> {
    let a = array_only("eigh", "a", a)?;
    tuple2(py, on_stream(stream, || linalg::eigh(&a, UPLO))?)
}

#[pyfunction]
#[pyo3(signature = (a, UPLO = "L", *, stream = None))]
#[allow(non_snake_case)]
fn eigvalsh(a: Arg, UPLO: &str, stream: Opt) -> PyResult<PyArray> {
    let a = array_only("eigvalsh", "a", a)?;
    on_stream(stream, || linalg::eigvalsh(&a, UPLO)).map(PyArray::from)
}

/// `compute_uv=True` gives the tuple `(U, S, Vt)`, else the array `S`, as MLX.
#[pyfunction]
#[pyo3(signature = (a, compute_uv = true, *, stream = None))]
fn svd(py: Python<'_>, a: Arg, compute_uv: bool, stream: Opt) -> PyResult<Py<PyAny>> {
    let a = array_only("svd", "a", a)?;
    let mut o = on_stream(stream, || linalg::svd(&a, compute_uv))?;
    if !compute_uv {
        return Ok(Py::new(py, PyArray::from(o.remove(0)))?.into_any());
    }
    let v: Vec<PyArray> = o.into_iter().map(PyArray::from).collect();
    let [u, s, vt]: [PyArray; 3] = v
        .try_into()
        .map_err(|_| PyTypeError::new_err("svd: three outputs expected"))?;
    Ok((u, s, vt).into_pyobject(py)?.into_any().unbind())
}

#[pyfunction]
#[pyo3(signature = (a, b, *, stream = None))]
fn solve(a: Arg, b: Arg, stream: Opt) -> PyResult<PyArray> {
    let (a, b) = (array_only("solve", "a", a)?, array_only("solve", "b", b)?);
    on_stream(stream, || linalg::solve(&a, &b)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, b, *, upper = false, stream = None))]
fn solve_triangular(a: Arg, b: Arg, upper: bool, stream: Opt) -> PyResult<PyArray> {
    let a = array_only("solve_triangular", "a", a)?;
    let b = array_only("solve_triangular", "b", b)?;
    on_stream(stream, || linalg::solve_triangular(&a, &b, upper)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, b, axis = -1, *, stream = None))]
fn cross(a: Arg, b: Arg, axis: isize, stream: Opt) -> PyResult<PyArray> {
    let (a, b) = (array_only("cross", "a", a)?, array_only("cross", "b", b)?);
    on_stream(stream, || linalg::cross(&a, &b, axis)).map(PyArray::from)
}

fn norm_type_error(what: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "norm(): incompatible function arguments: {what} must be None, int, float or str."
    ))
}

#[pyfunction]
#[pyo3(signature = (a, /, ord = None, axis = None, keepdims = false, *, stream = None))]
fn norm(a: Arg, ord: Opt, axis: Opt, keepdims: bool, stream: Opt) -> PyResult<PyArray> {
    let a = array_only("norm", "a", a)?;
    let ord = match ord {
        None => None,
        Some(o) if o.is_none() => None,
        Some(o) if o.is_instance_of::<PyString>() => Some(NormOrd::Str(o.extract()?)),
        Some(o) if o.is_instance_of::<PyBool>() => return Err(norm_type_error("ord")),
        Some(o) if o.is_instance_of::<PyInt>() || o.is_instance_of::<PyFloat>() => {
            Some(NormOrd::Num(o.extract()?))
        }
        Some(_) => return Err(norm_type_error("ord")),
    };
    let axis: Option<Vec<isize>> = match axis {
        None => None,
        Some(x) if x.is_none() => None,
        Some(x) if x.is_instance_of::<PyInt>() => Some(vec![x.extract()?]),
        Some(x) => Some(x.extract().map_err(|_| norm_type_error("axis"))?),
    };
    on_stream(stream, || {
        linalg::norm(&a, ord.as_ref(), axis.as_deref(), keepdims)
    })
    .map(PyArray::from)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let f = PyModule::new(py, "ferrox.core.linalg")?;
    f.add_function(wrap_pyfunction!(cholesky, &f)?)?;
    f.add_function(wrap_pyfunction!(cholesky_inv, &f)?)?;
    f.add_function(wrap_pyfunction!(cross, &f)?)?;
    f.add_function(wrap_pyfunction!(det, &f)?)?;
    f.add_function(wrap_pyfunction!(eig, &f)?)?;
    f.add_function(wrap_pyfunction!(eigh, &f)?)?;
    f.add_function(wrap_pyfunction!(eigvals, &f)?)?;
    f.add_function(wrap_pyfunction!(eigvalsh, &f)?)?;
    f.add_function(wrap_pyfunction!(inv, &f)?)?;
    f.add_function(wrap_pyfunction!(lu, &f)?)?;
    f.add_function(wrap_pyfunction!(lu_factor, &f)?)?;
    f.add_function(wrap_pyfunction!(norm, &f)?)?;
    f.add_function(wrap_pyfunction!(pinv, &f)?)?;
    f.add_function(wrap_pyfunction!(qr, &f)?)?;
    f.add_function(wrap_pyfunction!(slogdet, &f)?)?;
    f.add_function(wrap_pyfunction!(solve, &f)?)?;
    f.add_function(wrap_pyfunction!(solve_triangular, &f)?)?;
    f.add_function(wrap_pyfunction!(svd, &f)?)?;
    f.add_function(wrap_pyfunction!(tri_inv, &f)?)?;
    m.add("linalg", &f)?;
    // mlx.core.matrix_norm is linalg.norm under a second name (the same function).
    m.add("matrix_norm", f.getattr("norm")?)?;
    py.import("sys")?
        .getattr("modules")?
        .set_item("ferrox.core.linalg", &f)?;
    Ok(())
}
