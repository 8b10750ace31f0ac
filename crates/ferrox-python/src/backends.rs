//! What MLX offers for back ends this build has not: `mlx.core.metal` and
//! `mlx.core.cuda` as on a machine without them (`is_available()` is false; metal's
//! memory functions forward to the top-level ones with MLX's deprecation notice), and
//! `fast.metal_kernel`, `fast.cuda_kernel` and `fast.precompiled_cuda_kernel`, which
//! raise `RuntimeError` where MLX's CPU build does (a Metal kernel when it runs, the CUDA
//! ones when they are made).
//!
//! They are a few lines of Python (run once at import) because they only forward or
//! raise.

use pyo3::prelude::*;
use pyo3::types::PyModule;
use std::ffi::CString;

const METAL: &str = r#"
import sys

def _forward(name, *args):
    sys.stderr.write(f"mx.metal.{name} is deprecated and will be removed in a future "
                     f"version. Use mx.{name} instead.\n")
    return getattr(_core, name)(*args)

def clear_cache():
    """Deprecated: use ``ferrox.core.clear_cache``."""
    return _forward("clear_cache")

def get_active_memory():
    """Deprecated: use ``ferrox.core.get_active_memory``."""
    return _forward("get_active_memory")

def get_cache_memory():
    """Deprecated: use ``ferrox.core.get_cache_memory``."""
    return _forward("get_cache_memory")

def get_peak_memory():
    """Deprecated: use ``ferrox.core.get_peak_memory``."""
    return _forward("get_peak_memory")

def reset_peak_memory():
    """Deprecated: use ``ferrox.core.reset_peak_memory``."""
    return _forward("reset_peak_memory")

def set_cache_limit(limit):
    """Deprecated: use ``ferrox.core.set_cache_limit``."""
    return _forward("set_cache_limit", limit)

def set_memory_limit(limit):
    """Deprecated: use ``ferrox.core.set_memory_limit``."""
    return _forward("set_memory_limit", limit)

def set_wired_limit(limit):
    """Deprecated: use ``ferrox.core.set_wired_limit``."""
    return _forward("set_wired_limit", limit)

def device_info():
    """Deprecated: the Metal device's properties (empty: there is no Metal device)."""
    sys.stderr.write("mx.metal.device_info is deprecated and will be removed in a future "
                     "version. Use mx.device_info instead.\n")
    return {}

def is_available():
    """Whether the Metal back end is available: never in this build."""
    return False

def start_capture(path):
    """Starts a Metal GPU trace capture: nothing to capture without Metal."""
    return None

def stop_capture():
    """Stops a Metal GPU trace capture."""
    return None
"#;

const CUDA: &str = r#"
def is_available():
    """Whether the CUDA back end is available: not yet in this build."""
    return False
"#;

const FAST: &str = r#"
def _no_backend(op, backend):
    def run(*args, **kwargs):
        raise RuntimeError(f"[{op}] No {backend} back-end.")
    return run

def metal_kernel(name, input_names, output_names, source, header="",
                 ensure_row_contiguous=True, atomic_outputs=False, compile_options=None):
    """A custom Metal kernel: running it raises ``RuntimeError`` (no Metal back end)."""
    return _no_backend("metal_kernel", "Metal")

def cuda_kernel(name, input_names, output_names, source, header="",
                ensure_row_contiguous=True, shared_memory=0):
    """A custom CUDA kernel: raises ``RuntimeError`` (no CUDA back end yet), as MLX's
    CPU build does when the kernel is made."""
    raise RuntimeError("[cuda_kernel] No CUDA back-end.")

def precompiled_cuda_kernel(*, name, compiled_source, inputs, output_shapes, output_dtypes,
                            scalars, grid, threadgroup, shared_memory=0, init_value=None,
                            ensure_row_contiguous=False):
    """Runs a compiled CUDA kernel: raises ``RuntimeError`` (no CUDA back end yet)."""
    raise RuntimeError("[precompiled_cuda_kernel] No CUDA back-end.")
"#;

/// Runs `code` as the module `name` (`ferrox.core.<name>`), with `_core` bound to the
/// core module, and returns it.
fn python_module<'py>(
    core: &Bound<'py, PyModule>,
    name: &str,
    code: &str,
) -> PyResult<Bound<'py, PyModule>> {
    let py = core.py();
    let full = format!("ferrox.core.{name}");
    let (code, file, full_c) = (
        CString::new(code)?,
        CString::new(format!("<ferrox.core.{name}>"))?,
        CString::new(full.clone())?,
    );
    let m = PyModule::from_code(py, &code, &file, &full_c)?;
    m.setattr("_core", core)?;
    Ok(m)
}

/// Registers `metal`, `cuda`, and the kernel functions of `fast` (which must exist).
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let sys_modules = m.py().import("sys")?.getattr("modules")?;
    for (name, code) in [("metal", METAL), ("cuda", CUDA)] {
        let sub = python_module(m, name, code)?;
        m.add(name, &sub)?;
        sys_modules.set_item(format!("ferrox.core.{name}"), &sub)?;
    }
    let fast = m.getattr("fast")?;
    let kernels = python_module(m, "_fast_kernels", FAST)?;
    for f in ["metal_kernel", "cuda_kernel", "precompiled_cuda_kernel"] {
        fast.setattr(f, kernels.getattr(f)?)?;
    }
    Ok(())
}
