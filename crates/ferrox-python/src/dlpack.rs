//! DLPack: `array.__dlpack__`, `array.__dlpack_device__`, `from_dlpack`, and the import
//! `asarray`/`array` use for objects that only speak DLPack.
//!
//! Export is zero-copy: the capsule's `DLManagedTensor` points into the array's buffer
//! (with the array's strides) and owns a reference to it, released by the deleter, so
//! the memory outlives the array for as long as the consumer holds it. Import copies, as
//! MLX's CPU build does (`copy=False` raises), with MLX's rule that float64 becomes
//! float32.
//!
//! The structs follow `dlpack.h` (version 0.8 ABI, the "dltensor" capsule).

use crate::array::PyArray;
use crate::errors::{guard, value_error};
use ferrox::array::Data;
use ferrox::{Array, Dtype};
use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::ffi::{c_void, CStr};
use std::os::raw::c_char;

const K_DL_CPU: i32 = 1;
const K_DL_CUDA_HOST: i32 = 3;

const K_DL_INT: u8 = 0;
const K_DL_UINT: u8 = 1;
const K_DL_FLOAT: u8 = 2;
const K_DL_BFLOAT: u8 = 4;
const K_DL_COMPLEX: u8 = 5;
const K_DL_BOOL: u8 = 6;

const CAPSULE_NAME: &CStr = c"dltensor";
const USED_NAME: &CStr = c"used_dltensor";
const VERSIONED_NAME: &CStr = c"dltensor_versioned";
const USED_VERSIONED_NAME: &CStr = c"used_dltensor_versioned";

#[repr(C)]
#[derive(Clone, Copy)]
struct DLDevice {
    device_type: i32,
    device_id: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct DLDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

#[repr(C)]
struct DLTensor {
    data: *mut c_void,
    device: DLDevice,
    ndim: i32,
    dtype: DLDataType,
    shape: *mut i64,
    /// In elements; null means row-major.
    strides: *mut i64,
    byte_offset: u64,
}

#[repr(C)]
struct DLManagedTensor {
    dl_tensor: DLTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct DLPackVersion {
    major: u32,
    minor: u32,
}

/// DLPack 1.x's managed tensor (what NumPy gives `__dlpack__(max_version=(1, 0))`).
#[repr(C)]
struct DLManagedTensorVersioned {
    version: DLPackVersion,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensorVersioned)>,
    flags: u64,
    dl_tensor: DLTensor,
}

/// What an exported tensor owns: the buffer reference and the shape and strides its
/// `DLTensor` points to. Boxed; the `DLManagedTensor` is its first field, so the
/// deleter's pointer is the box's.
#[repr(C)]
struct Export {
    managed: DLManagedTensor,
    shape: Vec<i64>,
    strides: Vec<i64>,
    /// Keeps the memory alive until the consumer calls the deleter.
    _data: Data,
}

unsafe extern "C" fn export_deleter(m: *mut DLManagedTensor) {
    if !m.is_null() {
        // SAFETY: `m` is the first field of an `Export` boxed by `export`, and DLPack
        // calls the deleter exactly once.
        drop(unsafe { Box::from_raw(m as *mut Export) });
    }
}

/// The capsule's destructor: a capsule nobody consumed still owns its tensor.
unsafe extern "C" fn capsule_destructor(capsule: *mut ffi::PyObject) {
    // SAFETY: called by Python with the capsule; `PyCapsule_IsValid` sets no error.
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, CAPSULE_NAME.as_ptr()) == 1 {
            let m =
                ffi::PyCapsule_GetPointer(capsule, CAPSULE_NAME.as_ptr()) as *mut DLManagedTensor;
            if let Some(d) = m.as_ref().and_then(|m| m.deleter) {
                d(m);
            }
        }
    }
}

fn dl_dtype(d: Dtype) -> DLDataType {
    let (code, bits) = match d {
        Dtype::Bool => (K_DL_BOOL, 8),
        Dtype::Uint8 => (K_DL_UINT, 8),
        Dtype::Uint16 => (K_DL_UINT, 16),
        Dtype::Uint32 => (K_DL_UINT, 32),
        Dtype::Uint64 => (K_DL_UINT, 64),
        Dtype::Int8 => (K_DL_INT, 8),
        Dtype::Int16 => (K_DL_INT, 16),
        Dtype::Int32 => (K_DL_INT, 32),
        Dtype::Int64 => (K_DL_INT, 64),
        Dtype::Float16 => (K_DL_FLOAT, 16),
        Dtype::Bfloat16 => (K_DL_BFLOAT, 16),
        Dtype::Float32 => (K_DL_FLOAT, 32),
        Dtype::Float64 => (K_DL_FLOAT, 64),
        Dtype::Complex64 => (K_DL_COMPLEX, 64),
    };
    DLDataType {
        code,
        bits,
        lanes: 1,
    }
}

fn dtype_of_dl(t: DLDataType) -> Option<Dtype> {
    if t.lanes != 1 {
        return None;
    }
    Some(match (t.code, t.bits) {
        (K_DL_BOOL, 8) => Dtype::Bool,
        (K_DL_UINT, 8) => Dtype::Uint8,
        (K_DL_UINT, 16) => Dtype::Uint16,
        (K_DL_UINT, 32) => Dtype::Uint32,
        (K_DL_UINT, 64) => Dtype::Uint64,
        (K_DL_INT, 8) => Dtype::Int8,
        (K_DL_INT, 16) => Dtype::Int16,
        (K_DL_INT, 32) => Dtype::Int32,
        (K_DL_INT, 64) => Dtype::Int64,
        (K_DL_FLOAT, 16) => Dtype::Float16,
        (K_DL_BFLOAT, 16) => Dtype::Bfloat16,
        (K_DL_FLOAT, 32) => Dtype::Float32,
        (K_DL_FLOAT, 64) => Dtype::Float64,
        (K_DL_COMPLEX, 64) => Dtype::Complex64,
        _ => return None,
    })
}

/// A copy of `a` in a buffer of its own.
fn deep_copy(a: &Array) -> ferrox::Result<Array> {
    let c = ferrox::ops::contiguous(a)?;
    let d = c.data()?;
    let out = Data::alloc(a.shape(), a.dtype())?;
    if a.nbytes() > 0 {
        let isz = a.itemsize();
        // SAFETY: `d` is row-contiguous with `nbytes` bytes; `out` is a fresh buffer of as
        // many.
        unsafe { std::ptr::copy_nonoverlapping(d.byte_ptr(isz), out.byte_ptr(isz), a.nbytes()) };
    }
    Ok(Array::from_data(a.shape().to_vec(), a.dtype(), out))
}

/// A "dltensor" capsule over `a`'s memory (evaluating it first).
fn export(py: Python<'_>, a: &Array, copy: bool) -> PyResult<Py<PyAny>> {
    let arr = a.clone();
    let a = py.detach(move || guard(|| if copy { deep_copy(&arr) } else { Ok(arr) }))?;
    let arr = a.clone();
    let data = py.detach(move || guard(|| arr.data()))?;
    let itemsize = a.itemsize();
    let ptr = if a.size() == 0 {
        data.buffer.as_ptr()
    } else {
        data.byte_ptr(itemsize)
    };
    let mut ex = Box::new(Export {
        managed: DLManagedTensor {
            dl_tensor: DLTensor {
                data: ptr as *mut c_void,
                device: DLDevice {
                    device_type: K_DL_CPU,
                    device_id: 0,
                },
                ndim: a.ndim() as i32,
                dtype: dl_dtype(a.dtype()),
                shape: std::ptr::null_mut(),
                strides: std::ptr::null_mut(),
                byte_offset: 0,
            },
            manager_ctx: std::ptr::null_mut(),
            deleter: Some(export_deleter),
        },
        shape: a.shape().iter().map(|&n| n as i64).collect(),
        strides: data.strides.iter().map(|&s| s as i64).collect(),
        _data: data,
    });
    // The vectors' heap storage does not move with the box.
    ex.managed.dl_tensor.shape = ex.shape.as_mut_ptr();
    ex.managed.dl_tensor.strides = ex.strides.as_mut_ptr();
    let raw = Box::into_raw(ex);
    // SAFETY: `raw` is a live `Export`; manager_ctx points to itself for consumers that
    // look at it.
    unsafe { (*raw).managed.manager_ctx = raw as *mut c_void };
    // SAFETY: a valid pointer, a static name, and a destructor that frees it unless a
    // consumer renamed the capsule (and took over calling the deleter).
    let cap = unsafe {
        ffi::PyCapsule_New(
            raw as *mut c_void,
            CAPSULE_NAME.as_ptr(),
            Some(capsule_destructor),
        )
    };
    // SAFETY: a new reference, or null with an exception set.
    match unsafe { Bound::from_owned_ptr_or_err(py, cap) } {
        Ok(c) => Ok(c.unbind()),
        Err(e) => {
            // SAFETY: the capsule was not made, so the box is still ours.
            unsafe { export_deleter(raw as *mut DLManagedTensor) };
            Err(e)
        }
    }
}

#[pymethods]
impl PyArray {
    /// A DLPack capsule sharing this array's memory (CPU).
    #[pyo3(signature = (*, stream = None, max_version = None, dl_device = None, copy = None))]
    fn __dlpack__(
        &self,
        py: Python<'_>,
        stream: Option<&Bound<'_, PyAny>>,
        max_version: Option<&Bound<'_, PyAny>>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Py<PyAny>> {
        let _ = (stream, max_version);
        if let Some((t, _)) = dl_device {
            if t != K_DL_CPU {
                return Err(PyBufferError::new_err(format!(
                    "Cannot export to DLPack device type {t}: this array is on the CPU."
                )));
            }
        }
        export(py, &self.inner, copy == Some(true))
    }

    /// `(1, 0)`: DLPack's CPU device.
    fn __dlpack_device__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, [K_DL_CPU, 0])
    }
}

/// Copies the tensor a "dltensor" capsule describes into a new array.
///
/// # Safety
/// `t` must be a live, valid `DLTensor` on the CPU.
unsafe fn copy_tensor(t: &DLTensor) -> PyResult<Array> {
    // complex128: read as pairs of float64, then narrowed to complex64 (MLX's rule).
    if (t.dtype.code, t.dtype.bits, t.dtype.lanes) == (K_DL_COMPLEX, 128, 1) {
        let pairs = DLTensor {
            dtype: DLDataType {
                code: K_DL_FLOAT,
                bits: 64,
                lanes: 1,
            },
            ..*t
        };
        let nd = t.ndim.max(0) as usize;
        // The same memory seen as float64 with a trailing axis of 2.
        let mut shape: Vec<i64> = if nd == 0 {
            vec![]
        } else {
            unsafe { std::slice::from_raw_parts(t.shape, nd) }.to_vec()
        };
        let mut strides: Vec<i64> = if t.strides.is_null() || nd == 0 {
            let s: Vec<usize> = shape.iter().map(|&n| n.max(0) as usize).collect();
            ferrox::array::row_major_strides(&s)
                .iter()
                .map(|&x| x as i64)
                .collect()
        } else {
            unsafe { std::slice::from_raw_parts(t.strides, nd) }.to_vec()
        };
        for s in &mut strides {
            *s *= 2;
        }
        shape.push(2);
        strides.push(1);
        let view = DLTensor {
            ndim: nd as i32 + 1,
            shape: shape.as_mut_ptr(),
            strides: strides.as_mut_ptr(),
            ..pairs
        };
        let f = unsafe { copy_tensor(&view) }?;
        return guard(|| {
            let re = ferrox::ops::take(&f, &Array::scalar(0i32), Some(-1))?;
            let im = ferrox::ops::take(&f, &Array::scalar(1i32), Some(-1))?;
            let i = Array::scalar_of(ferrox::dtype::Scalar::Complex(0.0, 1.0), Dtype::Complex64);
            ferrox::ops::add(
                &ferrox::ops::astype(&re, Dtype::Complex64)?,
                &ferrox::ops::multiply(&ferrox::ops::astype(&im, Dtype::Complex64)?, &i)?,
            )
        });
    }
    let dtype = dtype_of_dl(t.dtype).ok_or_else(|| {
        value_error(format!(
            "Cannot import a DLPack tensor of type code {} with {} bits and {} lanes.",
            t.dtype.code, t.dtype.bits, t.dtype.lanes
        ))
    })?;
    if t.ndim < 0 {
        return Err(value_error(
            "DLPack tensor with a negative number of dimensions.",
        ));
    }
    let nd = t.ndim as usize;
    let dims: &[i64] = if nd == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(t.shape, nd) }
    };
    if dims.iter().any(|&n| n < 0) {
        return Err(value_error("DLPack tensor with a negative extent."));
    }
    let shape: Vec<usize> = dims.iter().map(|&n| n as usize).collect();
    let row_major: Vec<i64> = ferrox::array::row_major_strides(&shape)
        .iter()
        .map(|&s| s as i64)
        .collect();
    let strides: Vec<i64> = if t.strides.is_null() || nd == 0 {
        row_major.clone()
    } else {
        unsafe { std::slice::from_raw_parts(t.strides, nd) }.to_vec()
    };
    let out = guard(|| Data::alloc(&shape, dtype))?;
    let n: usize = shape.iter().product();
    let isz = dtype.size();
    if n > 0 {
        let base = unsafe { (t.data as *const u8).add(t.byte_offset as usize) };
        let dst = out.byte_ptr(isz);
        let dense = shape
            .iter()
            .zip(strides.iter().zip(&row_major))
            .all(|(&m, (s, r))| m == 1 || s == r);
        if dense {
            // SAFETY: the producer guarantees `n` row-major elements at `base`; `out` is
            // a fresh buffer of as many.
            unsafe { std::ptr::copy_nonoverlapping(base, dst, n * isz) };
        } else {
            let mut idx = vec![0usize; nd];
            for k in 0..n {
                let off: i64 = idx.iter().zip(&strides).map(|(&i, &s)| i as i64 * s).sum();
                // SAFETY: every in-shape position lies inside the producer's tensor.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        base.offset(off as isize * isz as isize),
                        dst.add(k * isz),
                        isz,
                    )
                };
                for d in (0..nd).rev() {
                    idx[d] += 1;
                    if idx[d] < shape[d] {
                        break;
                    }
                    idx[d] = 0;
                }
            }
        }
    }
    let a = Array::from_data(shape, dtype, out);
    // MLX's rule for float64 from other libraries.
    if dtype == Dtype::Float64 {
        return guard(|| ferrox::ops::astype(&a, Dtype::Float32));
    }
    Ok(a)
}

/// Whether `obj` offers DLPack (and is not a ferrox array).
pub fn is_dlpack(obj: &Bound<'_, PyAny>) -> bool {
    !obj.is_instance_of::<PyArray>()
        && obj.hasattr("__dlpack__").unwrap_or(false)
        && obj.hasattr("__dlpack_device__").unwrap_or(false)
}

/// An array copied from an object with `__dlpack__` (`copy=False` raises: a CPU import
/// always copies).
pub fn import(obj: &Bound<'_, PyAny>, copy: Option<bool>) -> PyResult<Array> {
    if let Ok(a) = obj.cast::<PyArray>() {
        let a = a.borrow().inner.clone();
        return if copy == Some(true) {
            guard(|| deep_copy(&a))
        } else {
            Ok(a)
        };
    }
    if !is_dlpack(obj) && obj.hasattr("__array_interface__").unwrap_or(false) {
        // NumPy scalars: no DLPack of their own, but an array interface.
        if copy == Some(false) {
            return Err(value_error(
                "[convert] Cannot import a CPU array without a copy.",
            ));
        }
        return crate::convert::to_array(obj, None);
    }
    if !is_dlpack(obj) {
        return Err(PyTypeError::new_err(format!(
            "from_dlpack(): expected an object with __dlpack__ and __dlpack_device__, got {}.",
            crate::convert::type_name(obj)
        )));
    }
    if copy == Some(false) {
        return Err(value_error(
            "[convert] Cannot import a CPU array without a copy.",
        ));
    }
    let (dev, _): (i32, i32) = obj.call_method0("__dlpack_device__")?.extract()?;
    if dev != K_DL_CPU && dev != K_DL_CUDA_HOST {
        return Err(PyBufferError::new_err(format!(
            "Cannot import a DLPack tensor from device type {dev}: only CPU memory is \
             supported."
        )));
    }
    let py = obj.py();
    // DLPack 1.x first (NumPy exports read-only arrays only that way), then the legacy
    // protocol for producers that do not take `max_version`.
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("max_version", (1, 0))?;
    let cap = match obj.call_method("__dlpack__", (), Some(&kwargs)) {
        Ok(c) => c,
        Err(e) if e.is_instance_of::<PyTypeError>(py) => obj.call_method0("__dlpack__")?,
        Err(e) => return Err(e),
    };
    let cap_ptr = cap.as_ptr();
    // SAFETY: capsule checks that set no error.
    let (versioned, legacy) = unsafe {
        (
            ffi::PyCapsule_IsValid(cap_ptr, VERSIONED_NAME.as_ptr()) == 1,
            ffi::PyCapsule_IsValid(cap_ptr, CAPSULE_NAME.as_ptr()) == 1,
        )
    };
    if versioned {
        // SAFETY: a valid "dltensor_versioned" capsule holds a `DLManagedTensorVersioned`.
        let m = unsafe { ffi::PyCapsule_GetPointer(cap_ptr, VERSIONED_NAME.as_ptr()) }
            as *mut DLManagedTensorVersioned;
        if m.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: consuming the capsule: from here on we call the deleter.
        unsafe { ffi::PyCapsule_SetName(cap_ptr, USED_VERSIONED_NAME.as_ptr() as *const c_char) };
        // SAFETY: the producer's tensor is valid until its deleter runs, just below.
        let result = unsafe {
            if (*m).version.major > 1 {
                Err(PyBufferError::new_err(format!(
                    "Cannot import a DLPack {}.{} tensor.",
                    (*m).version.major,
                    (*m).version.minor
                )))
            } else {
                copy_tensor(&(*m).dl_tensor)
            }
        };
        // SAFETY: the consumer's single call of the deleter.
        unsafe {
            if let Some(d) = (*m).deleter {
                d(m);
            }
        }
        return result;
    }
    if !legacy {
        return Err(value_error(
            "from_dlpack(): __dlpack__ did not return an unconsumed DLPack capsule.",
        ));
    }
    // SAFETY: a valid "dltensor" capsule holds a `DLManagedTensor`.
    let m = unsafe { ffi::PyCapsule_GetPointer(cap_ptr, CAPSULE_NAME.as_ptr()) }
        as *mut DLManagedTensor;
    if m.is_null() {
        return Err(PyErr::fetch(py));
    }
    // Consume it: from here on we call the deleter, not the capsule.
    // SAFETY: renaming a valid capsule to a static name.
    unsafe { ffi::PyCapsule_SetName(cap_ptr, USED_NAME.as_ptr() as *const c_char) };
    // SAFETY: the producer's tensor is valid until its deleter runs, just below.
    let result = unsafe { copy_tensor(&(*m).dl_tensor) };
    // SAFETY: the consumer's single call of the deleter.
    unsafe {
        if let Some(d) = (*m).deleter {
            d(m);
        }
    }
    result
}

/// `mx.from_dlpack(x, /, *, copy=None)`.
#[pyfunction]
#[pyo3(signature = (x, /, *, copy = None))]
fn from_dlpack(x: &Bound<'_, PyAny>, copy: Option<bool>) -> PyResult<PyArray> {
    import(x, copy).map(PyArray::from)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(from_dlpack, m)?)
}
