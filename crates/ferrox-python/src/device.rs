//! `Device`, `DeviceType`, `Stream`, the stream functions, and running an op on the
//! stream a `stream=` argument names.

use crate::errors::{guard, to_py};
use ferrox::device::{self, DeviceType, StreamOrDevice};
use ferrox::{Device, Stream};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

#[pyclass(
    name = "DeviceType",
    module = "ferrox.core",
    frozen,
    eq,
    eq_int,
    hash,
    from_py_object
)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PyDeviceType {
    #[pyo3(name = "cpu")]
    Cpu,
    #[pyo3(name = "gpu")]
    Gpu,
}

impl From<PyDeviceType> for DeviceType {
    fn from(t: PyDeviceType) -> DeviceType {
        match t {
            PyDeviceType::Cpu => DeviceType::Cpu,
            PyDeviceType::Gpu => DeviceType::Gpu,
        }
    }
}

#[pyclass(name = "Device", module = "ferrox.core", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDevice(pub Device);

#[pymethods]
impl PyDevice {
    #[new]
    #[pyo3(signature = (r#type, index = 0))]
    fn new(r#type: PyDeviceType, index: usize) -> Self {
        PyDevice(Device {
            kind: r#type.into(),
            index,
        })
    }
    #[getter]
    fn r#type(&self) -> PyDeviceType {
        match self.0.kind {
            DeviceType::Cpu => PyDeviceType::Cpu,
            DeviceType::Gpu => PyDeviceType::Gpu,
        }
    }
    fn __repr__(&self) -> String {
        self.0.to_string()
    }
}

#[pyclass(name = "Stream", module = "ferrox.core", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyStream(pub Stream);

#[pymethods]
impl PyStream {
    #[getter]
    fn device(&self) -> PyDevice {
        PyDevice(self.0.device)
    }
    fn __repr__(&self) -> String {
        self.0.to_string()
    }
}

/// A `Device` or `DeviceType` argument.
pub fn device_arg(obj: &Bound<'_, PyAny>) -> PyResult<Device> {
    if let Ok(d) = obj.cast::<PyDevice>() {
        return Ok(d.get().0);
    }
    if let Ok(t) = obj.extract::<PyDeviceType>() {
        return Ok(Device {
            kind: t.into(),
            index: 0,
        });
    }
    Err(PyTypeError::new_err("expected a Device or DeviceType"))
}

/// A `stream=` argument: None, a Stream, a Device or a DeviceType.
pub fn stream_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<StreamOrDevice> {
    let Some(obj) = obj else {
        return Ok(StreamOrDevice::Default);
    };
    if obj.is_none() {
        return Ok(StreamOrDevice::Default);
    }
    if let Ok(s) = obj.cast::<PyStream>() {
        return Ok(StreamOrDevice::Stream(s.get().0));
    }
    if let Ok(s) = obj.cast::<PyThreadLocalStream>() {
        return Ok(StreamOrDevice::Stream(s.get().0));
    }
    Ok(StreamOrDevice::Device(device_arg(obj)?))
}

/// Runs an op builder on the stream the argument names.
pub fn on_stream<T>(
    stream: Option<&Bound<'_, PyAny>>,
    f: impl FnOnce() -> ferrox::Result<T>,
) -> PyResult<T> {
    let s = stream_arg(stream)?.resolve().map_err(to_py)?;
    guard(|| device::with_stream(s, f)?)
}

/// A stream made by `new_thread_local_stream`: ops run on it like on a `Stream`.
#[pyclass(name = "ThreadLocalStream", module = "ferrox.core", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyThreadLocalStream(pub Stream);

#[pymethods]
impl PyThreadLocalStream {
    #[getter]
    fn device(&self) -> PyDevice {
        PyDevice(self.0.device)
    }
    fn __repr__(&self) -> String {
        format!("ThreadLocalStream({}, {})", self.0.device, self.0.index)
    }
}

/// `with mx.stream(s):` makes `s` this thread's default stream inside the block.
#[pyclass(name = "StreamContext", module = "ferrox.core")]
pub struct PyStreamContext {
    target: StreamOrDevice,
    previous: Vec<Option<Stream>>,
}

#[pymethods]
impl PyStreamContext {
    #[new]
    fn new(s: &Bound<'_, PyAny>) -> PyResult<Self> {
        // Like MLX, an unavailable device is an error on entering the block, not here.
        Ok(PyStreamContext {
            target: stream_arg(Some(s))?,
            previous: vec![],
        })
    }
    fn __enter__(&mut self) -> PyResult<()> {
        let stream = self.target.resolve().map_err(to_py)?;
        let prev = guard(|| device::enter_stream_scope(stream))?;
        self.previous.push(prev);
        Ok(())
    }
    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        if let Some(prev) = self.previous.pop() {
            device::exit_stream_scope(prev);
        }
        false
    }
}

#[pyfunction]
fn stream(s: &Bound<'_, PyAny>) -> PyResult<PyStreamContext> {
    PyStreamContext::new(s)
}
#[pyfunction]
fn new_thread_local_stream(device: &Bound<'_, PyAny>) -> PyResult<PyThreadLocalStream> {
    let d = device_arg(device)?;
    guard(|| device::new_stream(d)).map(PyThreadLocalStream)
}
#[pyfunction]
fn new_thread_unsafe_stream(device: &Bound<'_, PyAny>) -> PyResult<PyStream> {
    new_stream(device)
}
#[pyfunction]
fn clear_streams() {
    device::clear_streams()
}
#[pyfunction]
#[pyo3(signature = (d = None))]
fn device_info<'py>(
    py: Python<'py>,
    d: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    let device = match d {
        Some(d) if !d.is_none() => device_arg(d)?,
        _ => device::default_device(),
    };
    let dict = pyo3::types::PyDict::new(py);
    // An unavailable device has no info: an empty dict, as MLX returns.
    for (k, v) in device::device_info(device).unwrap_or_default() {
        dict.set_item(k, v)?;
    }
    Ok(dict)
}

#[pyfunction]
fn default_device() -> PyDevice {
    PyDevice(device::default_device())
}
#[pyfunction]
fn set_default_device(device: &Bound<'_, PyAny>) -> PyResult<()> {
    let d = device_arg(device)?;
    guard(|| device::set_default_device(d))
}
#[pyfunction]
fn default_stream(device: &Bound<'_, PyAny>) -> PyResult<PyStream> {
    let d = device_arg(device)?;
    guard(|| device::default_stream(d)).map(PyStream)
}
#[pyfunction]
fn set_default_stream(stream: &PyStream) -> PyResult<()> {
    guard(|| device::set_default_stream(stream.0))
}
#[pyfunction]
fn new_stream(device: &Bound<'_, PyAny>) -> PyResult<PyStream> {
    let d = device_arg(device)?;
    guard(|| device::new_stream(d)).map(PyStream)
}
#[pyfunction]
fn is_available(device: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(device::is_available(device_arg(device)?))
}
#[pyfunction]
fn device_count(device_type: PyDeviceType) -> usize {
    device::device_count(device_type.into())
}
#[pyfunction]
#[pyo3(signature = (stream = None))]
fn synchronize(stream: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    stream_arg(stream)?.resolve().map_err(to_py)?;
    Ok(())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDeviceType>()?;
    m.add_class::<PyDevice>()?;
    m.add_class::<PyStream>()?;
    m.add_class::<PyThreadLocalStream>()?;
    m.add_class::<PyStreamContext>()?;
    m.add("cpu", PyDeviceType::Cpu)?;
    m.add("gpu", PyDeviceType::Gpu)?;
    m.add_function(wrap_pyfunction!(default_device, m)?)?;
    m.add_function(wrap_pyfunction!(set_default_device, m)?)?;
    m.add_function(wrap_pyfunction!(default_stream, m)?)?;
    m.add_function(wrap_pyfunction!(set_default_stream, m)?)?;
    m.add_function(wrap_pyfunction!(new_stream, m)?)?;
    m.add_function(wrap_pyfunction!(is_available, m)?)?;
    m.add_function(wrap_pyfunction!(device_count, m)?)?;
    m.add_function(wrap_pyfunction!(synchronize, m)?)?;
    m.add_function(wrap_pyfunction!(stream, m)?)?;
    m.add_function(wrap_pyfunction!(new_thread_local_stream, m)?)?;
    m.add_function(wrap_pyfunction!(new_thread_unsafe_stream, m)?)?;
    m.add_function(wrap_pyfunction!(clear_streams, m)?)?;
    m.add_function(wrap_pyfunction!(device_info, m)?)?;
    Ok(())
}
