//! `ferrox.core.fast`, a drop-in for `mlx.core.fast`: `rms_norm`, `layer_norm` and
//! `scaled_dot_product_attention`, each one fused CPU kernel, and `rope` and
//! `cross_entropy` and `gated_delta_update` (composed of ops). As in MLX, the tensor arguments must be arrays (a
//! list or NumPy array is a `TypeError`).

use crate::array::PyArray;
use crate::convert::type_name;
use crate::device::on_stream;
use crate::errors::value_error;
use ferrox::ops::fast::{self, AttentionMask};
use ferrox::Array;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

type Arg<'a, 'py> = &'a Bound<'py, PyAny>;
type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

/// An `array` argument, strictly.
pub(crate) fn array_only(func: &str, name: &str, a: Arg) -> PyResult<Array> {
    match a.cast::<PyArray>() {
        Ok(a) => Ok(a.borrow().inner.clone()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{func}(): incompatible function arguments: {name} must be an array, got {}.",
            type_name(a)
        ))),
    }
}

/// An `array | None` argument.
fn opt_array(func: &str, name: &str, a: Opt) -> PyResult<Option<Array>> {
    match a {
        None => Ok(None),
        Some(a) if a.is_none() => Ok(None),
        Some(a) => array_only(func, name, a).map(Some),
    }
}

#[pyfunction]
#[pyo3(signature = (x, weight, eps, *, stream = None))]
fn rms_norm(x: Arg, weight: Opt, eps: f32, stream: Opt) -> PyResult<PyArray> {
    let x = array_only("rms_norm", "x", x)?;
    let w = opt_array("rms_norm", "weight", weight)?;
    on_stream(stream, || fast::rms_norm(&x, w.as_ref(), eps)).map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (x, weight, bias, eps, *, stream = None))]
fn layer_norm(x: Arg, weight: Opt, bias: Opt, eps: f32, stream: Opt) -> PyResult<PyArray> {
    let x = array_only("layer_norm", "x", x)?;
    let w = opt_array("layer_norm", "weight", weight)?;
    let b = opt_array("layer_norm", "bias", bias)?;
    on_stream(stream, || fast::layer_norm(&x, w.as_ref(), b.as_ref(), eps)).map(PyArray::from)
}

/// `force_fused` is accepted for MLX's signature; the CPU kernel is always fused here.
#[pyfunction]
#[pyo3(signature = (q, k, v, *, scale, mask = None, sinks = None, force_fused = false, stream = None))]
#[allow(clippy::too_many_arguments)]
fn scaled_dot_product_attention(
    q: Arg,
    k: Arg,
    v: Arg,
    scale: f32,
    mask: Opt,
    sinks: Opt,
    force_fused: bool,
    stream: Opt,
) -> PyResult<PyArray> {
    const F: &str = "scaled_dot_product_attention";
    let _ = force_fused;
    let (q, k, v) = (
        array_only(F, "q", q)?,
        array_only(F, "k", k)?,
        array_only(F, "v", v)?,
    );
    let sinks = opt_array(F, "sinks", sinks)?;
    let mask_arr;
    let mask = match mask {
        None => AttentionMask::None,
        Some(m) if m.is_none() => AttentionMask::None,
        Some(m) if m.is_instance_of::<PyString>() => {
            let s: String = m.extract()?;
            if s != "causal" {
                return Err(value_error(format!(
                    "[{F}] invalid mask option '{s}'. Must be 'causal', or an array."
                )));
            }
            AttentionMask::Causal
        }
        Some(m) => {
            mask_arr = array_only(F, "mask", m)?;
            AttentionMask::Array(&mask_arr)
        }
    };
    on_stream(stream, || {
        fast::scaled_dot_product_attention(&q, &k, &v, scale, mask, sinks.as_ref())
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, dims, *, traditional, base, scale, offset, freqs = None, stream = None))]
#[allow(clippy::too_many_arguments)]
fn rope(
    a: Arg,
    dims: usize,
    traditional: bool,
    base: Option<f64>,
    scale: f64,
    offset: Arg,
    freqs: Opt,
    stream: Opt,
) -> PyResult<PyArray> {
    let a = array_only("rope", "a", a)?;
    // An integer offset, or an array of them.
    let offset = match offset.extract::<i64>() {
        Ok(o) => Array::scalar(o as i32),
        Err(_) => array_only("rope", "offset", offset)?,
    };
    let freqs = opt_array("rope", "freqs", freqs)?;
    on_stream(stream, || {
        fast::rope(&a, dims, traditional, base, scale, &offset, freqs.as_ref())
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (logits, targets, *, stream = None))]
fn cross_entropy(logits: Arg, targets: Arg, stream: Opt) -> PyResult<PyArray> {
    let logits = array_only("cross_entropy", "logits", logits)?;
    let targets = array_only("cross_entropy", "targets", targets)?;
    on_stream(stream, || fast::cross_entropy(&logits, &targets)).map(PyArray::from)
}

/// Adds `fast` to `m`, also importable as `ferrox.core.fast`.
/// The gated delta recurrence; returns `[y, final_state]` as MLX does (a list).
#[pyfunction]
#[pyo3(signature = (q, k, v, gamma, beta, initial_state = None, mask = None, *, stream = None))]
#[allow(clippy::too_many_arguments)]
fn gated_delta_update(
    q: Arg,
    k: Arg,
    v: Arg,
    gamma: Arg,
    beta: Arg,
    initial_state: Opt,
    mask: Opt,
    stream: Opt,
) -> PyResult<Vec<PyArray>> {
    const F: &str = "gated_delta_update";
    let (q, k, v) = (
        array_only(F, "q", q)?,
        array_only(F, "k", k)?,
        array_only(F, "v", v)?,
    );
    let (g, b) = (array_only(F, "gamma", gamma)?, array_only(F, "beta", beta)?);
    let s = opt_array(F, "initial_state", initial_state)?;
    let m = opt_array(F, "mask", mask)?;
    let (y, state) = on_stream(stream, || {
        fast::gated_delta_update(&q, &k, &v, &g, &b, s.as_ref(), m.as_ref())
    })?;
    Ok(vec![y.into(), state.into()])
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let f = PyModule::new(py, "ferrox.core.fast")?;
    f.add_function(wrap_pyfunction!(rms_norm, &f)?)?;
    f.add_function(wrap_pyfunction!(layer_norm, &f)?)?;
    f.add_function(wrap_pyfunction!(scaled_dot_product_attention, &f)?)?;
    f.add_function(wrap_pyfunction!(rope, &f)?)?;
    f.add_function(wrap_pyfunction!(cross_entropy, &f)?)?;
    f.add_function(wrap_pyfunction!(gated_delta_update, &f)?)?;
    m.add("fast", &f)?;
    py.import("sys")?
        .getattr("modules")?
        .set_item("ferrox.core.fast", &f)?;
    Ok(())
}
