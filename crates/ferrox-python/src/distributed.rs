//! `ferrox.core.distributed`, a drop-in for `mlx.core.distributed` in one process: the
//! singleton group (collectives return their input; send/recv have no peer). See
//! `ferrox::distributed`.

use crate::array::PyArray;
use crate::convert::array_arg;
use crate::convert::dtype_of;
use crate::errors::guard;
use ferrox::distributed::{self as dist, Group};
use pyo3::prelude::*;

type Arg<'a, 'py> = &'a Bound<'py, PyAny>;

/// A group of processes that communicate (`rank()`, `size()`, `split()`).
#[pyclass(name = "Group", module = "ferrox.core.distributed", frozen)]
pub struct PyGroup(Group);

#[pymethods]
impl PyGroup {
    fn rank(&self) -> usize {
        self.0.rank()
    }
    fn size(&self) -> usize {
        self.0.size()
    }
    #[pyo3(signature = (color, key = -1))]
    fn split(&self, color: i64, key: i64) -> PyResult<PyGroup> {
        guard(|| self.0.split(color, key)).map(PyGroup)
    }
}

fn group_of(group: Option<&Bound<'_, PyGroup>>) -> Option<Group> {
    group.map(|g| g.get().0)
}

#[pyfunction]
#[pyo3(signature = (backend = "any"))]
fn is_available(backend: &str) -> bool {
    dist::is_available(backend)
}

/// `all_gather_factory` is accepted for MLX's signature; no backend uses it yet.
#[pyfunction]
#[pyo3(signature = (strict = false, backend = "any", *, all_gather_factory = None))]
fn init(strict: bool, backend: &str, all_gather_factory: Option<Arg>) -> PyResult<PyGroup> {
    let _ = (backend, all_gather_factory);
    guard(|| dist::init(strict)).map(PyGroup)
}

macro_rules! collectives {
    ($($name:ident),*) => {$(
        #[pyfunction]
        #[pyo3(signature = (x, *, group = None, stream = None))]
        fn $name(x: Arg, group: Option<&Bound<'_, PyGroup>>, stream: Option<Arg>) -> PyResult<PyArray> {
            let _ = stream;
            let x = array_arg(x)?;
            guard(|| dist::$name(&x, group_of(group).as_ref())).map(PyArray::from)
        }
    )*};
}
collectives!(all_sum, all_max, all_min, all_gather, sum_scatter);

#[pyfunction]
#[pyo3(signature = (x, dst, *, group = None, stream = None))]
fn send(
    x: Arg,
    dst: usize,
    group: Option<&Bound<'_, PyGroup>>,
    stream: Option<Arg>,
) -> PyResult<PyArray> {
    let _ = stream;
    let x = array_arg(x)?;
    guard(|| dist::send(&x, dst, group_of(group).as_ref())).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (shape, dtype, src, *, group = None, stream = None))]
fn recv(
    shape: Vec<usize>,
    dtype: Arg,
    src: usize,
    group: Option<&Bound<'_, PyGroup>>,
    stream: Option<Arg>,
) -> PyResult<PyArray> {
    let _ = stream;
    let dtype = dtype_of(dtype)?;
    guard(|| dist::recv(&shape, dtype, src, group_of(group).as_ref())).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (x, src, *, group = None, stream = None))]
fn recv_like(
    x: Arg,
    src: usize,
    group: Option<&Bound<'_, PyGroup>>,
    stream: Option<Arg>,
) -> PyResult<PyArray> {
    let _ = stream;
    let x = array_arg(x)?;
    guard(|| dist::recv(x.shape(), x.dtype(), src, group_of(group).as_ref())).map(PyArray::from)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let d = PyModule::new(py, "ferrox.core.distributed")?;
    d.add_class::<PyGroup>()?;
    d.add_function(wrap_pyfunction!(is_available, &d)?)?;
    d.add_function(wrap_pyfunction!(init, &d)?)?;
    d.add_function(wrap_pyfunction!(all_sum, &d)?)?;
    d.add_function(wrap_pyfunction!(all_max, &d)?)?;
    d.add_function(wrap_pyfunction!(all_min, &d)?)?;
    d.add_function(wrap_pyfunction!(all_gather, &d)?)?;
    d.add_function(wrap_pyfunction!(sum_scatter, &d)?)?;
    d.add_function(wrap_pyfunction!(send, &d)?)?;
    d.add_function(wrap_pyfunction!(recv, &d)?)?;
    d.add_function(wrap_pyfunction!(recv_like, &d)?)?;
    m.add("distributed", &d)?;
    py.import("sys")?
        .getattr("modules")?
        .set_item("ferrox.core.distributed", &d)?;
    Ok(())
}
