//! Evaluation, memory and printing functions, and the `metal` / `cuda` submodules.

use crate::array::PyArray;
use crate::errors::guard;
use ferrox::memory as mem;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

/// Arrays found in an argument tree (arrays, and lists/tuples/dicts of them).
fn collect_arrays(obj: &Bound<'_, PyAny>, out: &mut Vec<ferrox::Array>) -> PyResult<()> {
    if let Ok(a) = obj.cast::<PyArray>() {
        out.push(a.borrow().inner.clone());
    } else if let Ok(l) = obj.cast::<PyList>() {
        for x in l.iter() {
            collect_arrays(&x, out)?;
        }
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        for x in t.iter() {
            collect_arrays(&x, out)?;
        }
    } else if let Ok(d) = obj.cast::<PyDict>() {
        for (_, v) in d.iter() {
            collect_arrays(&v, out)?;
        }
    }
    Ok(())
}

/// `eval(*args)`: computes every array in the arguments (pytrees allowed). The GIL is
/// released while the graph runs.
#[pyfunction]
#[pyo3(signature = (*args))]
fn eval(py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<()> {
    let mut arrays = vec![];
    collect_arrays(args.as_any(), &mut arrays)?;
    py.detach(move || guard(|| ferrox::eval(&arrays)))
}

/// `async_eval(*args)`: starts computing and returns at once.
#[pyfunction]
#[pyo3(signature = (*args))]
fn async_eval(args: &Bound<'_, PyTuple>) -> PyResult<()> {
    let mut arrays = vec![];
    collect_arrays(args.as_any(), &mut arrays)?;
    ferrox::async_eval(&arrays);
    Ok(())
}

#[pyfunction]
fn get_active_memory() -> usize {
    mem::get_active_memory()
}
#[pyfunction]
fn get_peak_memory() -> usize {
    mem::get_peak_memory()
}
#[pyfunction]
fn reset_peak_memory() {
    mem::reset_peak_memory()
}
#[pyfunction]
fn get_cache_memory() -> usize {
    mem::get_cache_memory()
}
#[pyfunction]
fn get_memory_limit() -> usize {
    mem::get_memory_limit()
}
#[pyfunction]
fn set_memory_limit(limit: usize) -> usize {
    mem::set_memory_limit(limit)
}
#[pyfunction]
fn set_cache_limit(limit: usize) -> usize {
    mem::set_cache_limit(limit)
}
/// Wired memory is a Metal notion; on other devices this is a no-op returning 0.
#[pyfunction]
fn set_wired_limit(limit: usize) -> usize {
    let _ = limit;
    0
}
#[pyfunction]
fn clear_cache() {
    mem::clear_cache()
}
/// Bytes of the buffers behind the given arrays.
#[pyfunction]
#[pyo3(signature = (*args))]
fn get_array_buffer_size(args: &Bound<'_, PyTuple>) -> PyResult<usize> {
    let mut arrays = vec![];
    collect_arrays(args.as_any(), &mut arrays)?;
    Ok(arrays.iter().map(|a| a.nbytes()).sum())
}

/// `set_printoptions(precision=-1)`.
#[pyfunction]
#[pyo3(signature = (precision = -1))]
fn set_printoptions(precision: i32) {
    ferrox::set_printoptions(ferrox::PrintOptions { precision })
}

#[pyfunction]
fn _get_print_precision() -> i32 {
    ferrox::print_options().precision
}

#[pyfunction]
fn _false() -> bool {
    false
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    macro_rules! add {
        ($($f:ident),*) => {$( m.add_function(wrap_pyfunction!($f, m)?)?; )*};
    }
    add!(
        eval,
        async_eval,
        get_active_memory,
        get_peak_memory,
        reset_peak_memory,
        get_cache_memory,
        get_memory_limit,
        set_memory_limit,
        set_cache_limit,
        set_wired_limit,
        clear_cache,
        get_array_buffer_size,
        set_printoptions,
        _get_print_precision
    );
    let py = m.py();
    // mx.metal: no Metal here; is_available() is False, as MLX reports without Metal.
    let metal = PyModule::new(py, "metal")?;
    metal.add_function(wrap_pyfunction!(_false, &metal)?)?;
    metal.add("is_available", metal.getattr("_false")?)?;
    m.add_submodule(&metal)?;
    let cuda = PyModule::new(py, "cuda")?;
    cuda.add_function(wrap_pyfunction!(_false, &cuda)?)?;
    // No CUDA backend is built in yet: it tells the truth.
    cuda.add("is_available", cuda.getattr("_false")?)?;
    m.add_submodule(&cuda)?;
    Ok(())
}
