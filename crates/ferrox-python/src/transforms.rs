//! The function transforms over flat lists of arrays: `_vjp`, `_jvp`, `_value_and_grad`,
//! `_vmap`, `_checkpoint` and `_custom_function`. The public `grad`, `vmap`,
//! `custom_function`, ... (with pytrees, argnums, in_axes) are written in Python over
//! these, in `ferrox/_transforms.py`.
//!
//! A Python function becomes a Rust closure that re-acquires the GIL to call it. An
//! exception it raises is kept in a per-thread slot while the Rust transform unwinds with
//! an error, and raised unchanged when the transform returns to Python.

use crate::array::PyArray;
use crate::errors::guard;
use ferrox::transforms::{self, CustomFunction};
use ferrox::Array;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use std::cell::RefCell;
use std::sync::Arc;

thread_local! {
    /// The exception a Python callback raised, on its way out of a Rust transform.
    static PENDING: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// Keeps `e` to be raised when the transform returns (the first one wins: it is the
/// innermost, the one the user's code raised).
fn stash(e: PyErr) -> ferrox::Error {
    let msg = e.to_string();
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if p.is_none() {
            *p = Some(e);
        }
    });
    ferrox::Error::Runtime(format!("exception in a transformed Python function: {msg}"))
}

/// Runs a Rust transform: its error becomes a Python exception, the stashed one where a
/// Python callback raised.
pub(crate) fn run<T>(f: impl FnOnce() -> ferrox::Result<T>) -> PyResult<T> {
    let r = guard(f);
    let pending = PENDING.with(|p| p.borrow_mut().take());
    match (r, pending) {
        (Err(_), Some(e)) => Err(e),
        (r, _) => r,
    }
}

pub(crate) fn to_list<'py>(py: Python<'py>, arrays: &[Array]) -> PyResult<Bound<'py, PyList>> {
    let items = arrays
        .iter()
        .map(|a| Bound::new(py, PyArray::from(a.clone())))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

fn from_seq(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Array>> {
    let mut out = Vec::new();
    for item in obj.try_iter()? {
        let item = item?;
        match item.cast::<PyArray>() {
            Ok(a) => out.push(a.borrow().inner.clone()),
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "{what} must return arrays, got {}.",
                    item.get_type().name()?
                )))
            }
        }
    }
    Ok(out)
}

pub(crate) fn arrays(v: Vec<PyRef<'_, PyArray>>) -> Vec<Array> {
    v.iter().map(|a| a.inner.clone()).collect()
}

pub(crate) fn py_arrays(v: Vec<Array>) -> Vec<PyArray> {
    v.into_iter().map(PyArray::from).collect()
}

/// Calls `fun(*lists)` where each of `lists` is a list of arrays; it returns a sequence
/// of arrays.
fn call_flat(fun: &Py<PyAny>, lists: &[&[Array]]) -> ferrox::Result<Vec<Array>> {
    Python::attach(|py| {
        let args = lists
            .iter()
            .map(|l| to_list(py, l))
            .collect::<PyResult<Vec<_>>>()?;
        let r = fun.bind(py).call1(PyTuple::new(py, args)?)?;
        from_seq(&r, "A transformed function")
    })
    .map_err(stash)
}

/// A closure over a Python function of one flat list of arrays.
pub(crate) fn flat_fn(
    fun: Py<PyAny>,
) -> impl Fn(&[Array]) -> ferrox::Result<Vec<Array>> + Send + Sync {
    move |x: &[Array]| call_flat(&fun, &[x])
}

/// `_vjp(fun, primals, cotangents) -> (outputs, vjps)`; `fun` maps a list of arrays to a
/// list of arrays.
#[pyfunction]
fn _vjp(
    fun: Py<PyAny>,
    primals: Vec<PyRef<'_, PyArray>>,
    cotangents: Vec<PyRef<'_, PyArray>>,
) -> PyResult<(Vec<PyArray>, Vec<PyArray>)> {
    let (p, c) = (arrays(primals), arrays(cotangents));
    let (o, v) = run(|| transforms::vjp(flat_fn(fun), &p, &c))?;
    Ok((py_arrays(o), py_arrays(v)))
}

/// `_jvp(fun, primals, tangents) -> (outputs, jvps)`.
#[pyfunction]
fn _jvp(
    fun: Py<PyAny>,
    primals: Vec<PyRef<'_, PyArray>>,
    tangents: Vec<PyRef<'_, PyArray>>,
) -> PyResult<(Vec<PyArray>, Vec<PyArray>)> {
    let (p, t) = (arrays(primals), arrays(tangents));
    let (o, v) = run(|| transforms::jvp(flat_fn(fun), &p, &t))?;
    Ok((py_arrays(o), py_arrays(v)))
}

/// `_value_and_grad(fun, args) -> (outputs, grads)`: the gradient of `fun`'s first output
/// (a scalar) with respect to every array of `args`.
#[pyfunction]
fn _value_and_grad(
    fun: Py<PyAny>,
    args: Vec<PyRef<'_, PyArray>>,
) -> PyResult<(Vec<PyArray>, Vec<PyArray>)> {
    let a = arrays(args);
    let argnums: Vec<usize> = (0..a.len()).collect();
    let (o, g) = run(|| transforms::value_and_grad(flat_fn(fun), &argnums)(&a))?;
    Ok((py_arrays(o), py_arrays(g)))
}

/// `_vmap(fun, args, in_axes) -> outputs`: `fun` maps a list of arrays to a pair
/// `(outputs, out_axes)`, `out_axes` one int or None per output (non-negative).
#[pyfunction]
fn _vmap(
    fun: Py<PyAny>,
    args: Vec<PyRef<'_, PyArray>>,
    in_axes: Vec<Option<usize>>,
) -> PyResult<Vec<PyArray>> {
    let a = arrays(args);
    let out_axes: RefCell<Vec<Option<usize>>> = RefCell::new(Vec::new());
    let f = |x: &[Array]| -> ferrox::Result<Vec<Array>> {
        Python::attach(|py| {
            let r = fun.bind(py).call1((to_list(py, x)?,))?;
            let (outs, axes): (Bound<'_, PyAny>, Vec<Option<usize>>) = r.extract()?;
            *out_axes.borrow_mut() = axes;
            from_seq(&outs, "A vmapped function")
        })
        .map_err(stash)
    };
    let get_axes = |_: &[Array]| Ok(out_axes.borrow().clone());
    let o = run(|| transforms::vmap_with_out_axes(&f, &a, &in_axes, &get_axes))?;
    Ok(py_arrays(o))
}

type SharedFn = Arc<dyn Fn(&[Array]) -> ferrox::Result<Vec<Array>> + Send + Sync>;

/// A transformed function of a flat list of arrays (what `_checkpoint` and
/// `_custom_function` return): call it with a list, get a list.
#[pyclass(name = "_FlatFunction", module = "ferrox.core", frozen)]
struct FlatFunction {
    f: SharedFn,
}

#[pymethods]
impl FlatFunction {
    fn __call__(&self, args: Vec<PyRef<'_, PyArray>>) -> PyResult<Vec<PyArray>> {
        let a = arrays(args);
        Ok(py_arrays(run(|| (self.f)(&a))?))
    }
}

/// `_checkpoint(fun)`: `fun` (a list of arrays to a list of arrays), recomputed in the
/// backward pass instead of keeping its intermediates.
#[pyfunction]
fn _checkpoint(fun: Py<PyAny>) -> FlatFunction {
    FlatFunction {
        f: Arc::new(transforms::checkpoint(flat_fn(fun))),
    }
}

/// `_custom_function(fun, vjp, jvp, vmap)`, each rule optional:
/// `vjp(primals, cotangents, outputs) -> cotangents of the primals`,
/// `jvp(primals, tangents) -> tangents of the outputs`,
/// `vmap(inputs, axes) -> (outputs, out_axes)`; all lists.
#[pyfunction]
#[pyo3(signature = (fun, vjp = None, jvp = None, vmap = None))]
fn _custom_function(
    fun: Py<PyAny>,
    vjp: Option<Py<PyAny>>,
    jvp: Option<Py<PyAny>>,
    vmap: Option<Py<PyAny>>,
) -> FlatFunction {
    let mut cf: CustomFunction = transforms::custom_function(flat_fn(fun));
    if let Some(v) = vjp {
        cf = cf.vjp(move |p, c, o| call_flat(&v, &[p, c, o]));
    }
    if let Some(j) = jvp {
        cf = cf.jvp(move |p, t| call_flat(&j, &[p, t]));
    }
    if let Some(v) = vmap {
        cf = cf.vmap(move |x, axes| {
            Python::attach(|py| {
                let axes: Vec<Option<usize>> = axes.to_vec();
                let r = v.bind(py).call1((to_list(py, x)?, axes))?;
                let (outs, out_axes): (Bound<'_, PyAny>, Vec<Option<usize>>) = r.extract()?;
                Ok((from_seq(&outs, "A custom vmap rule")?, out_axes))
            })
            .map_err(stash)
        });
    }
    FlatFunction {
        f: Arc::new(cf.into_fn()),
    }
}

/// A compiled function of a flat list of arrays (what `_compile` returns). `key` stands
/// for the call's other arguments: a new key traces anew.
#[pyclass(name = "_CompiledFunction", module = "ferrox.core", frozen)]
struct CompiledFunction {
    f: transforms::Compiled,
}

#[pymethods]
impl CompiledFunction {
    fn __call__(&self, args: Vec<PyRef<'_, PyArray>>, key: u64) -> PyResult<Vec<PyArray>> {
        let a = arrays(args);
        Ok(py_arrays(run(|| self.f.call_keyed(&a, key))?))
    }

    /// How many input signatures have a traced program.
    fn cached(&self) -> usize {
        self.f.cached()
    }

    fn set_cache_size(&self, n: usize) -> PyResult<()> {
        run(|| self.f.set_cache_size(n))
    }
}

/// `_compile(fun, shapeless)`: `fun` (a list of arrays to a list of arrays) traced once
/// per signature and replayed after (see `Compiled::shapeless`).
#[pyfunction]
#[pyo3(signature = (fun, shapeless = false))]
fn _compile(fun: Py<PyAny>, shapeless: bool) -> CompiledFunction {
    CompiledFunction {
        f: transforms::compile(flat_fn(fun)).shapeless(shapeless),
    }
}

/// Compiled functions trace and replay (the default).
#[pyfunction]
fn enable_compile() {
    transforms::enable_compile()
}

/// Compiled functions call their function each time.
#[pyfunction]
fn disable_compile() {
    transforms::disable_compile()
}

/// An array, or a sequence of them, as a list of arrays (and whether it was one array).
fn one_or_many(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<(Vec<Array>, bool)> {
    if let Ok(a) = obj.cast::<PyArray>() {
        return Ok((vec![a.borrow().inner.clone()], true));
    }
    let items = obj.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "[depends] {what} must be an array or a sequence of arrays."
        ))
    })?;
    let items = items
        .map(|i| i.and_then(|i| crate::convert::array_arg(&i)))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((items, false))
}

/// `depends(inputs, dependencies)`: `inputs` unchanged, made to evaluate
/// `dependencies` with them. One array in, one array out; a sequence gives a list.
#[pyfunction]
#[pyo3(signature = (inputs, dependencies))]
fn depends<'py>(
    py: Python<'py>,
    inputs: &Bound<'py, PyAny>,
    dependencies: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (inputs, single) = one_or_many(inputs, "inputs")?;
    let (deps, _) = one_or_many(dependencies, "dependencies")?;
    let out = guard(|| ferrox::ops::depends(&inputs, &deps))?;
    if single {
        return Ok(Bound::new(py, PyArray::from(out[0].clone()))?.into_any());
    }
    Ok(to_list(py, &out)?.into_any())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FlatFunction>()?;
    m.add_class::<CompiledFunction>()?;
    m.add_function(wrap_pyfunction!(_compile, m)?)?;
    m.add_function(wrap_pyfunction!(enable_compile, m)?)?;
    m.add_function(wrap_pyfunction!(disable_compile, m)?)?;
    m.add_function(wrap_pyfunction!(_vjp, m)?)?;
    m.add_function(wrap_pyfunction!(_jvp, m)?)?;
    m.add_function(wrap_pyfunction!(_value_and_grad, m)?)?;
    m.add_function(wrap_pyfunction!(_vmap, m)?)?;
    m.add_function(wrap_pyfunction!(_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(_custom_function, m)?)?;
    m.add_function(wrap_pyfunction!(depends, m)?)?;
    Ok(())
}
