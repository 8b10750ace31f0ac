//! mlx.core's quantization: `quantize`, `dequantize`, `quantized_matmul` (affine and the
//! fp modes `mxfp4`, `mxfp8`, `nvfp4`), `gather_qmm`, and `qqmm` / `gather_qqmm` (which
//! raise MLX's CPU errors).

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
    let (w, global_scale) = (array_arg(w)?, opt_array(global_scale)?);
    let (gs, bits) = (size(group_size, "group size")?, size(bits, "bits")?);
    let q = on_stream(stream, || {
        ops::quantize(&w, gs, bits, mode, global_scale.as_ref())
    })?;
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
    let (w, scales, biases) = (array_arg(w)?, array_arg(scales)?, opt_array(biases)?);
    let global_scale = opt_array(global_scale)?;
    let (gs, bits) = (size(group_size, "group size")?, size(bits, "bits")?);
    let dtype = opt_dtype(dtype)?;
    on_stream(stream, || {
        ops::dequantize(
            &w,
            &scales,
            biases.as_ref(),
            gs,
            bits,
            mode,
            global_scale.as_ref(),
            dtype,
        )
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

#[pyfunction]
#[pyo3(signature = (x, w, /, scales, biases = None, lhs_indices = None, rhs_indices = None, transpose = true, group_size = None, bits = None, mode = "affine", global_scale = None, *, sorted_indices = false, stream = None))]
#[allow(clippy::too_many_arguments)]
pub fn gather_qmm(
    x: Arg,
    w: Arg,
    scales: Arg,
    biases: Opt,
    lhs_indices: Opt,
    rhs_indices: Opt,
    transpose: bool,
    group_size: Option<i64>,
    bits: Option<i64>,
    mode: &str,
    global_scale: Opt,
    sorted_indices: bool,
    stream: Opt,
) -> PyResult<PyArray> {
    let (x, w, scales) = (array_arg(x)?, array_arg(w)?, array_arg(scales)?);
    let (biases, lhs, rhs) = (
        opt_array(biases)?,
        opt_array(lhs_indices)?,
        opt_array(rhs_indices)?,
    );
    let global_scale = opt_array(global_scale)?;
    let (gs, bits) = (size(group_size, "group size")?, size(bits, "bits")?);
    on_stream(stream, || {
        ops::gather_qmm(
            &x,
            &w,
            &scales,
            biases.as_ref(),
            lhs.as_ref(),
            rhs.as_ref(),
            transpose,
            gs,
            bits,
            mode,
            global_scale.as_ref(),
            sorted_indices,
        )
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (x, w, scales = None, group_size = None, bits = None, mode = "nvfp4", global_scale_x = None, global_scale_w = None, *, stream = None))]
#[allow(clippy::too_many_arguments)]
pub fn qqmm(
    x: Arg,
    w: Arg,
    scales: Opt,
    group_size: Option<i64>,
    bits: Option<i64>,
    mode: &str,
    global_scale_x: Opt,
    global_scale_w: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    let (x, w, scales) = (array_arg(x)?, array_arg(w)?, opt_array(scales)?);
    let (gx, gw) = (opt_array(global_scale_x)?, opt_array(global_scale_w)?);
    let (gs, bits) = (size(group_size, "group size")?, size(bits, "bits")?);
    on_stream(stream, || {
        ops::qqmm(
            &x,
            &w,
            scales.as_ref(),
            gs,
            bits,
            mode,
            gx.as_ref(),
            gw.as_ref(),
        )
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (x, w, /, scales = None, lhs_indices = None, rhs_indices = None, group_size = None, bits = None, mode = "nvfp4", global_scale_x = None, global_scale_w = None, *, sorted_indices = false, stream = None))]
#[allow(clippy::too_many_arguments)]
pub fn gather_qqmm(
    x: Arg,
    w: Arg,
    scales: Opt,
    lhs_indices: Opt,
    rhs_indices: Opt,
    group_size: Option<i64>,
    bits: Option<i64>,
    mode: &str,
    global_scale_x: Opt,
    global_scale_w: Opt,
    sorted_indices: bool,
    stream: Opt,
) -> PyResult<PyArray> {
    let (x, w, scales) = (array_arg(x)?, array_arg(w)?, opt_array(scales)?);
    let (lhs, rhs) = (opt_array(lhs_indices)?, opt_array(rhs_indices)?);
    let (gx, gw) = (opt_array(global_scale_x)?, opt_array(global_scale_w)?);
    let (gs, bits) = (size(group_size, "group size")?, size(bits, "bits")?);
    on_stream(stream, || {
        ops::gather_qqmm(
            &x,
            &w,
            scales.as_ref(),
            lhs.as_ref(),
            rhs.as_ref(),
            gs,
            bits,
            mode,
            gx.as_ref(),
            gw.as_ref(),
            sorted_indices,
        )
    })
    .map(PyArray::from)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(quantize, m)?)?;
    m.add_function(wrap_pyfunction!(dequantize, m)?)?;
    m.add_function(wrap_pyfunction!(quantized_matmul, m)?)?;
    m.add_function(wrap_pyfunction!(gather_qmm, m)?)?;
    m.add_function(wrap_pyfunction!(qqmm, m)?)?;
    m.add_function(wrap_pyfunction!(gather_qqmm, m)?)?;
    Ok(())
}
