//! `ferrox.core`: the Python front end, a drop-in for `mlx.core`.

mod array;
mod array_methods;
mod array_protocols;
mod at;
mod backends;
mod conv_ops;
mod convert;
mod device;
mod distributed;
mod dlpack;
mod dtype;
mod errors;
mod export;
mod fast;
mod fft;
mod gathered_ops;
mod indexing;
mod io;
mod linalg;
mod memory;
mod numpy;
mod ops;
mod printopts;
mod quantize_ops;
mod random;
mod scan_ops;
mod shape_ops;
mod sort_ops;
mod transforms;

use pyo3::prelude::*;

/// `ferrox.core`.
#[pymodule]
#[pyo3(name = "core")]
fn ferrox_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    dtype::register(m)?;
    device::register(m)?;
    array::register(m)?;
    ops::register(m)?;
    at::register(m)?;
    dlpack::register(m)?;
    memory::register(m)?;
    shape_ops::register(m)?;
    scan_ops::register(m)?;
    sort_ops::register(m)?;
    conv_ops::register(m)?;
    quantize_ops::register(m)?;
    gathered_ops::register(m)?;
    printopts::register(m)?;
    random::register(m)?;
    fast::register(m)?;
    fft::register(m)?;
    linalg::register(m)?;
    distributed::register(m)?;
    backends::register(m)?;
    transforms::register(m)?;
    export::register(m)?;
    io::register(m)?;
    m.add("pi", std::f64::consts::PI)?;
    m.add("e", std::f64::consts::E)?;
    m.add("euler_gamma", 0.577_215_664_901_532_9_f64)?;
    m.add("inf", f64::INFINITY)?;
    m.add("nan", f64::NAN)?;
    m.add("newaxis", m.py().None())?;
    Ok(())
}
