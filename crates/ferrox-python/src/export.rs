//! `_Exporter`, `_import_function`, `_export_graph` and `_export_to_dot` over flat lists
//! of arrays; `export_function`, `exporter`, `import_function` and `export_to_dot` (with
//! MLX's argument forms, keyword arrays and file objects) are written in Python over
//! these, in `ferrox/_export.py`.

use crate::array::PyArray;
use crate::dtype::PyDtype;
use crate::transforms::{arrays, flat_fn, py_arrays, run};
use ferrox::transforms::{self, Exporter, Imported};
use ferrox::{Array, Dtype};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

/// Saves traces of a function (a list of arrays to a list of arrays) to a file.
#[pyclass(name = "_Exporter", module = "ferrox.core", unsendable)]
struct PyExporter {
    inner: Option<Exporter>,
}

#[pymethods]
impl PyExporter {
    #[new]
    fn new(path: String, fun: Py<PyAny>, shapeless: bool, metadata: String) -> Self {
        PyExporter {
            inner: Some(Exporter::new(path, flat_fn(fun), shapeless, &metadata)),
        }
    }

    /// Traces the function on `args`, the last `len(keywords)` of them passed by name.
    fn add(&mut self, args: Vec<PyRef<'_, PyArray>>, keywords: Vec<String>) -> PyResult<()> {
        let a = arrays(args);
        match self.inner.as_mut() {
            Some(ex) => run(|| ex.add(&a, &keywords)),
            None => Err(pyo3::exceptions::PyRuntimeError::new_err(
                "[export_function] Attempting to write after exporting is closed.",
            )),
        }
    }

    fn close(&mut self) {
        self.inner = None;
    }
}

/// A function loaded from a file.
#[pyclass(name = "_Imported", module = "ferrox.core", frozen)]
struct PyImported {
    inner: Imported,
}

#[pymethods]
impl PyImported {
    fn call(
        &self,
        args: Vec<PyRef<'_, PyArray>>,
        names: Vec<String>,
        values: Vec<PyRef<'_, PyArray>>,
    ) -> PyResult<Vec<PyArray>> {
        let a = arrays(args);
        let kw: Vec<(String, Array)> = names.into_iter().zip(arrays(values)).collect();
        Ok(py_arrays(run(|| self.inner.call_with_keywords(&a, &kw))?))
    }

    fn metadata(&self) -> String {
        self.inner.metadata().to_string()
    }
}

#[pyfunction]
fn _import_function(path: String) -> PyResult<PyImported> {
    Ok(PyImported {
        inner: run(|| transforms::import_function(&path))?,
    })
}

fn described<'py>(
    py: Python<'py>,
    values: &[(String, Vec<usize>, Dtype)],
) -> PyResult<Bound<'py, PyList>> {
    let items = values
        .iter()
        .map(|(n, s, d)| {
            PyTuple::new(
                py,
                [
                    n.into_pyobject(py)?.into_any(),
                    PyTuple::new(py, s)?.into_any(),
                    Bound::new(py, PyDtype(*d))?.into_any(),
                ],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// The records MLX hands an export callback, in its order: inputs, keyword inputs,
/// outputs, constants, then one per primitive.
#[pyfunction]
fn _export_graph<'py>(
    py: Python<'py>,
    fun: Py<PyAny>,
    args: Vec<PyRef<'_, PyArray>>,
    keywords: Vec<String>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let a = arrays(args);
    let g = run(|| transforms::export_graph(flat_fn(fun), &a, &keywords))?;
    let n_pos = g.inputs.len() - g.keywords.len();
    let record = |kind: &str| -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("type", kind)?;
        Ok(d)
    };
    let mut out = Vec::new();
    let d = record("inputs")?;
    d.set_item("inputs", described(py, &g.inputs[..n_pos])?)?;
    out.push(d);
    let d = record("keyword_inputs")?;
    let kw = g.inputs[n_pos..]
        .iter()
        .zip(&g.keywords)
        .map(|((n, s, dt), k)| {
            let v = described(py, &[(n.clone(), s.clone(), *dt)])?.get_item(0)?;
            PyTuple::new(py, [k.into_pyobject(py)?.into_any(), v])
        })
        .collect::<PyResult<Vec<_>>>()?;
    d.set_item("keywords", PyList::new(py, kw)?)?;
    out.push(d);
    let d = record("outputs")?;
    d.set_item("outputs", described(py, &g.outputs)?)?;
    out.push(d);
    let d = record("constants")?;
    let consts = g
        .constants
        .iter()
        .map(|(n, a)| {
            PyTuple::new(
                py,
                [
                    n.into_pyobject(py)?.into_any(),
                    Bound::new(py, PyArray::from(a.clone()))?.into_any(),
                ],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    d.set_item("constants", PyList::new(py, consts)?)?;
    out.push(d);
    for node in &g.nodes {
        let d = record("primitive")?;
        d.set_item("name", &node.name)?;
        d.set_item("arguments", &node.params)?;
        d.set_item("inputs", described(py, &node.inputs)?)?;
        d.set_item("outputs", described(py, &node.outputs)?)?;
        out.push(d);
    }
    Ok(out)
}

/// The DOT text of the graph computing `outputs` and the `named` arrays.
#[pyfunction]
fn _export_to_dot(
    outputs: Vec<PyRef<'_, PyArray>>,
    names: Vec<String>,
    values: Vec<PyRef<'_, PyArray>>,
) -> PyResult<String> {
    let outputs = arrays(outputs);
    let named: Vec<(String, Array)> = names.into_iter().zip(arrays(values)).collect();
    let mut text = Vec::new();
    run(|| transforms::export_to_dot(&mut text, &outputs, &named))?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyExporter>()?;
    m.add_class::<PyImported>()?;
    m.add_function(wrap_pyfunction!(_import_function, m)?)?;
    m.add_function(wrap_pyfunction!(_export_graph, m)?)?;
    m.add_function(wrap_pyfunction!(_export_to_dot, m)?)?;
    Ok(())
}
