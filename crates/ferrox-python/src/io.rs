//! `load`, `save`, `savez`, `savez_compressed`, `save_safetensors` and `save_gguf`:
//! MLX's file functions over `ferrox::io`. A file is a path (`str` or `os.PathLike`),
//! which is memory-mapped, or a file object, whose bytes are read or written whole.

use crate::array::PyArray;
use crate::convert::{array_arg, type_name};
use crate::errors::{guard, value_error};
use ferrox::io::{self, Arrays, Format, Loaded, MetaValue, Metadata};
use ferrox::Array;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A file argument: a path, or a file object.
enum Target<'py> {
    Path(PathBuf),
    Object(Bound<'py, PyAny>),
}

fn target<'py>(file: &Bound<'py, PyAny>) -> PyResult<Target<'py>> {
    let py = file.py();
    let os = py.import("os")?;
    if file.is_instance_of::<PyString>() || file.hasattr("__fspath__")? {
        let p: PathBuf = os.call_method1("fspath", (file,))?.extract()?;
        return Ok(Target::Path(p));
    }
    if file.hasattr("read")? || file.hasattr("write")? {
        return Ok(Target::Object(file.clone()));
    }
    Err(PyTypeError::new_err(format!(
        "expected a path or a file object, got {}",
        type_name(file)
    )))
}

fn py_metadata(py: Python<'_>, meta: Metadata) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in meta {
        match v {
            MetaValue::Str(s) => d.set_item(k, s)?,
            MetaValue::Strs(v) => d.set_item(k, PyList::new(py, v)?)?,
            MetaValue::Array(a) => d.set_item(k, PyArray::from(a))?,
        }
    }
    Ok(d)
}

fn py_arrays(py: Python<'_>, arrays: Arrays) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (k, a) in arrays {
        d.set_item(k, PyArray::from(a))?;
    }
    Ok(d)
}

/// Loads arrays from a `.npy`, `.npz`, `.safetensors` or `.gguf` file, lazily.
#[pyfunction]
#[pyo3(signature = (file, /, format=None, return_metadata=false, *, stream=None))]
fn load<'py>(
    file: &Bound<'py, PyAny>,
    format: Option<String>,
    return_metadata: bool,
    stream: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let _ = stream; // Loading runs on the CPU: the mapped bytes are read in place.
    let py = file.py();
    let target = target(file)?;
    let format = match (&format, &target) {
        (Some(f), _) => guard(|| Format::from_name(f))?,
        (None, Target::Path(p)) => guard(|| Format::from_path(p))?,
        (None, Target::Object(obj)) => match obj.getattr("name").and_then(|n| n.extract::<PathBuf>()) {
            Ok(p) => guard(|| Format::from_path(&p))?,
            Err(_) => {
                return Err(value_error(
                    "[load] Could not infer file format from a file object without a name; pass format=",
                ))
            }
        },
    };
    if return_metadata && matches!(format, Format::Npy | Format::Npz) {
        return Err(value_error(format!(
            "[load] metadata not supported for format {}",
            format.extension()
        )));
    }
    let (loaded, meta) = match target {
        Target::Path(p) => py.detach(|| guard(|| io::load_with(&p, Some(format))))?,
        Target::Object(obj) => {
            let bytes = obj.call_method0("read")?;
            let bytes = bytes.cast::<PyBytes>().map_err(|_| {
                PyTypeError::new_err("[load] The file object's read() must return bytes.")
            })?;
            guard(|| io::load_bytes(bytes.as_bytes(), format))?
        }
    };
    let value = match loaded {
        Loaded::Array(a) => PyArray::from(a).into_pyobject(py)?.into_any(),
        Loaded::Arrays(arrays) => py_arrays(py, arrays)?.into_any(),
    };
    if return_metadata {
        Ok(PyTuple::new(py, [value, py_metadata(py, meta)?.into_any()])?.into_any())
    } else {
        Ok(value)
    }
}

/// A destination the writers accept: buffered file or in-memory, seekable for `.npz`.
trait WriteSeek: std::io::Write + std::io::Seek {}
impl<T: std::io::Write + std::io::Seek> WriteSeek for T {}

/// Writes through `write` to a path (with `format`'s extension appended when missing,
/// as MLX does) or into a file object (through memory, then its `write`).
fn save_to(
    file: &Bound<'_, PyAny>,
    format: Format,
    op: &str,
    write: impl FnOnce(&mut dyn WriteSeek) -> ferrox::Result<()> + Send,
) -> PyResult<()> {
    let py = file.py();
    match target(file)? {
        Target::Path(p) => {
            let p = io::with_extension(&p, format);
            py.detach(|| guard(|| io::write_file(&p, op, |w| write(w))))
        }
        Target::Object(obj) => {
            let mut buffer = std::io::Cursor::new(Vec::new());
            py.detach(|| guard(|| write(&mut buffer)))?;
            obj.call_method1("write", (PyBytes::new(py, buffer.get_ref()),))?;
            Ok(())
        }
    }
}

/// Saves an array as a `.npy` file.
#[pyfunction]
fn save(file: &Bound<'_, PyAny>, arr: &Bound<'_, PyAny>) -> PyResult<()> {
    let a = array_arg(arr)?;
    save_to(file, Format::Npy, "save", move |mut w| {
        io::npy::write(&mut w, &a)
    })
}

/// Named arrays of `savez`: positional ones as `arr_0`, `arr_1`, ...
fn savez_arrays(
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<(String, Array)>> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        out.push((format!("arr_{i}"), array_arg(&a)?));
    }
    if let Some(kw) = kwargs {
        for (k, v) in kw.iter() {
            let name: String = k.extract()?;
            if out.iter().any(|(n, _)| *n == name) {
                return Err(value_error(format!(
                    "[savez] Cannot use un-named variables and keyword {name}"
                )));
            }
            out.push((name, array_arg(&v)?));
        }
    }
    Ok(out)
}

fn savez_impl(
    file: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
    compressed: bool,
) -> PyResult<()> {
    let arrays = savez_arrays(args, kwargs)?;
    let op = if compressed {
        "savez_compressed"
    } else {
        "savez"
    };
    save_to(file, Format::Npz, op, move |w| {
        io::npz::write(w, &arrays, compressed)
    })
}

/// Saves arrays as an uncompressed `.npz` archive.
#[pyfunction]
#[pyo3(signature = (file, *args, **kwargs))]
fn savez(
    file: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    savez_impl(file, args, kwargs, false)
}

/// Saves arrays as a compressed `.npz` archive.
#[pyfunction]
#[pyo3(signature = (file, *args, **kwargs))]
fn savez_compressed(
    file: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    savez_impl(file, args, kwargs, true)
}

/// A `dict[str, array]` argument.
fn arrays_arg(op: &str, arrays: &Bound<'_, PyAny>) -> PyResult<Arrays> {
    let d = arrays.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "[{op}] arrays must be a dict of str to array, got {}",
            type_name(arrays)
        ))
    })?;
    let mut out = Arrays::new();
    for (k, v) in d.iter() {
        let name: String = k.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "[{op}] array names must be str, got {}",
                type_name(&k)
            ))
        })?;
        let a = v.cast::<PyArray>().map_err(|_| {
            PyTypeError::new_err(format!(
                "[{op}] the value of {name:?} must be an array, got {}",
                type_name(&v)
            ))
        })?;
        out.insert(name, a.borrow().inner.clone());
    }
    Ok(out)
}

/// Saves arrays as a `.safetensors` file, with optional string metadata.
#[pyfunction]
#[pyo3(signature = (file, arrays, metadata=None))]
fn save_safetensors(
    file: &Bound<'_, PyAny>,
    arrays: &Bound<'_, PyAny>,
    metadata: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let arrays = arrays_arg("save_safetensors", arrays)?;
    let mut meta = BTreeMap::new();
    if let Some(m) = metadata.filter(|m| !m.is_none()) {
        let bad = || {
            value_error(
                "[save_safetensors] Metadata must be a dictionary with string keys and values",
            )
        };
        let d = m.cast::<PyDict>().map_err(|_| bad())?;
        for (k, v) in d.iter() {
            meta.insert(
                k.extract::<String>().map_err(|_| bad())?,
                v.extract::<String>().map_err(|_| bad())?,
            );
        }
    }
    save_to(
        file,
        Format::Safetensors,
        "save_safetensors",
        move |mut w| io::safetensors::write(&mut w, &arrays, &meta),
    )
}

/// Saves arrays as a GGUF file, with metadata of arrays, strings and lists of strings.
#[pyfunction]
#[pyo3(signature = (file, arrays, metadata=None))]
fn save_gguf(
    file: &Bound<'_, PyAny>,
    arrays: &Bound<'_, PyAny>,
    metadata: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let arrays = arrays_arg("save_gguf", arrays)?;
    let mut meta = Metadata::new();
    if let Some(m) = metadata.filter(|m| !m.is_none()) {
        let d = m.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!(
                "[save_gguf] metadata must be a dict, got {}",
                type_name(m)
            ))
        })?;
        for (k, v) in d.iter() {
            let key: String = k.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "[save_gguf] metadata keys must be str, got {}",
                    type_name(&k)
                ))
            })?;
            let value = if let Ok(s) = v.extract::<String>() {
                MetaValue::Str(s)
            } else if let Ok(a) = v.cast::<PyArray>() {
                MetaValue::Array(a.borrow().inner.clone())
            } else if let Ok(l) = v.extract::<Vec<String>>() {
                MetaValue::Strs(l)
            } else {
                return Err(PyTypeError::new_err(format!(
                    "[save_gguf] metadata {key:?} must be an array, a str or a list of str, got {}",
                    type_name(&v)
                )));
            };
            meta.insert(key, value);
        }
    }
    save_to(file, Format::Gguf, "save_gguf", move |mut w| {
        io::gguf::write(&mut w, &arrays, &meta)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(save, m)?)?;
    m.add_function(wrap_pyfunction!(savez, m)?)?;
    m.add_function(wrap_pyfunction!(savez_compressed, m)?)?;
    m.add_function(wrap_pyfunction!(save_safetensors, m)?)?;
    m.add_function(wrap_pyfunction!(save_gguf, m)?)?;
    Ok(())
}
