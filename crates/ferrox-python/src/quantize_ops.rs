//! mlx.core's affine quantization: `quantize`, `dequantize`, `quantized_matmul`.

use crate::array::PyArray;
use crate::convert::array_arg;
use crate::device::on_stream;
use crate::errors::value_error;
use crate::ops::opt_dtype;
use ferrox::ops;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

type Arg<'a, 'py> = &'a Bound<'py, PyAny>;
type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

/// An optional array argument (`None` or absent: none).
fn opt_array(a: Opt) -> PyResult<Option<ferrox::Array>> {
    match a {
        Some(a) if !a.is_none() => array_arg(a).map(Some),
        _ => Ok(None),
    }
}

/// A positive size (group size, bits); MLX's message for the others.
fn size(v: Option<i64>, what: &str) -> PyResult<Option<usize>> {
    v.map(|v| {
        usize::try_from(v).map_err(|_| value_error(format!("[quantize] Invalid {what} {v}.")))
    })
    .transpose()
}

/// `global_scale` belongs to the nvfp4 mode, which ferrox does not implement yet.
fn no_global_scale(op: &str, global_scale: Opt) -> PyResult<()> {
    match global_scale {
        Some(g) if !g.is_none() => Err(value_error(format!(
            "[{op}] global_scale is only used by the 'nvfp4' mode, which is not implemented in ferrox yet."
        ))),
        _ => Ok(()),
    }
}

#[pyfunction]
#[pyo3(signature = (w, /, group_size = None, bits = None, mode = "affine", *, global_scale = None, stream = None))]
pub fn quantize<'py>(
    py: Python<'py>,
    w: Arg,
    group_size: Option<i64>,
    bits: Option<i64>,
    mode: &str,
    global_scale: Opt,
    stream: Opt,
) -> PyResult<Bound<'py, PyTuple>> {
    no_global_scale("quantize", global_scale)?;
    let w = array_arg(w)?;
    let (gs, bits) = (size(group_size, "group size")?, size(bits, "bits")?);
    let q = on_stream(stream, || ops::quantize(&w, gs, bits, mode))?;
    let mut items = vec![PyArray::from(q.wq), PyArray::from(q.scales)];
    items.extend(q.biases.map(PyArray::from));
    PyTuple::new(py, items)
}

#[pyfunction]
#[pyo3(signature = (w, /, scales, biases = None, group_size = None, bits = None, mode = "affine", global_scale = None, dtype = None, *, stream = None))]
#[allow(clippy::too_many_arguments)]
pub fn dequantize(
    w: Arg,
    scales: Arg,
    biases: Opt,
    group_size: Option<i64>,
    bits: Option<i64>,
    mode: &str,
    global_scale: Opt,
    dtype: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    no_global_scale("dequantize", global_scale)?;
    let (w, scales, biases) = (array_arg(w)?, array_arg(scales)?, opt_array(biases)?);
    let (gs, bits) = (size(group_size, "group size")?, size(bits, "bits")?);
    let dtype = opt_dtype(dtype)?;
    on_stream(stream, || {
        ops::dequantize(&w, &scales, biases.as_ref(), gs, bits, mode, dtype)
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (x, w, /, scales, biases = None, transpose = true, group_size = None, bits = None, mode = "affine", *, stream = None))]
#[allow(clippy::too_many_arguments)]
pub fn quantized_matmul(
    x: Arg,
    w: Arg,
    scales: Arg,
    biases: Opt,
    transpose: bool,
    group_size: Option<i64>,
    bits: Option<i64>,
    mode: &str,
    stream: Opt,
) -> PyResult<PyArray> {
    let (x, w, scales, biases) = (
        array_arg(x)?,
        array_arg(w)?,
        array_arg(scales)?,
        opt_array(biases)?,
    );
    let (gs, bits) = (size(group_size, "group size")?, size(bits, "bits")?);
    on_stream(stream, || {
        ops::quantized_matmul(&x, &w, &scales, biases.as_ref(), transpose, gs, bits, mode)
    })
    .map(PyArray::from)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(quantize, m)?)?;
    m.add_function(wrap_pyfunction!(dequantize, m)?)?;
    m.add_function(wrap_pyfunction!(quantized_matmul, m)?)?;
    Ok(())
}
