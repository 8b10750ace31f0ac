//! Python values to arrays and back: scalars, nested lists, NumPy arrays, `tolist`, `item`.

use crate::array::PyArray;
use crate::dtype::PyDtype;
use crate::errors::{guard, value_error};
use ferrox::dtype::{Element, Scalar, Wide};
use ferrox::ops::Operand;
use ferrox::{Array, Dtype};
use num_complex::Complex32;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyComplex, PyFloat, PyInt, PyList, PyTuple};

/// A `Dtype` argument.
pub fn dtype_of(obj: &Bound<'_, PyAny>) -> PyResult<Dtype> {
    obj.cast::<PyDtype>()
        .map(|d| d.get().0)
        .map_err(|_| PyTypeError::new_err(format!("expected a Dtype, got {}", type_name(obj))))
}

/// A dtype, or the dtype of an array.
pub fn dtype_or_array_dtype(obj: &Bound<'_, PyAny>) -> PyResult<Dtype> {
    if let Ok(a) = obj.cast::<PyArray>() {
        return Ok(a.borrow().inner.dtype());
    }
    dtype_of(obj)
}

pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

/// A Python scalar (bool, int, float, complex, or a NumPy scalar), if `obj` is one.
pub fn scalar_of(obj: &Bound<'_, PyAny>) -> PyResult<Option<Scalar>> {
    if obj.is_instance_of::<PyBool>() {
        return Ok(Some(Scalar::Bool(obj.extract()?)));
    }
    if obj.is_instance_of::<PyInt>() {
        let v: i64 = obj
            .extract()
            .map_err(|_| value_error(format!("Python integer {obj} is out of range for int64")))?;
        return Ok(Some(Scalar::Int(v)));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Some(Scalar::Float(obj.extract()?)));
    }
    if let Ok(c) = obj.cast::<PyComplex>() {
        return Ok(Some(Scalar::Complex(c.real(), c.imag())));
    }
    if is_numpy_scalar(obj) {
        return scalar_of(&obj.call_method0("item")?);
    }
    Ok(None)
}

fn is_numpy_scalar(obj: &Bound<'_, PyAny>) -> bool {
    let py = obj.py();
    match py.import("numpy") {
        Ok(np) => np
            .getattr("generic")
            .map(|g| obj.is_instance(&g).unwrap_or(false))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn is_numpy_array(obj: &Bound<'_, PyAny>) -> bool {
    obj.hasattr("__array_interface__").unwrap_or(false) && !obj.is_instance_of::<PyArray>()
}

/// An operand of a Python operator: arrays and scalars only (a list is a `ValueError`,
/// as in MLX).
pub fn operand_strict(obj: &Bound<'_, PyAny>) -> PyResult<Operand> {
    if let Ok(a) = obj.cast::<PyArray>() {
        return Ok(Operand::Array(a.borrow().inner.clone()));
    }
    if let Some(s) = scalar_of(obj)? {
        return Ok(Operand::Scalar(s));
    }
    if is_numpy_array(obj) || obj.hasattr("__mlx_array__").unwrap_or(false) {
        return Ok(Operand::Array(to_array(obj, None)?));
    }
    if obj.is_none() {
        return Err(PyTypeError::new_err("Cannot use None as an array operand."));
    }
    Err(value_error(format!(
        "Cannot convert {} to an array operand.",
        type_name(obj)
    )))
}

/// An operand of a function: arrays, scalars, or anything `mx.array` accepts.
pub fn operand(obj: &Bound<'_, PyAny>) -> PyResult<Operand> {
    if let Ok(a) = obj.cast::<PyArray>() {
        return Ok(Operand::Array(a.borrow().inner.clone()));
    }
    if let Some(s) = scalar_of(obj)? {
        return Ok(Operand::Scalar(s));
    }
    Ok(Operand::Array(to_array(obj, None)?))
}

/// An array argument (scalars and lists converted as `mx.array` would).
pub fn array_arg(obj: &Bound<'_, PyAny>) -> PyResult<Array> {
    if let Ok(a) = obj.cast::<PyArray>() {
        return Ok(a.borrow().inner.clone());
    }
    to_array(obj, None)
}

/// The kind of leaf seen while reading a nested list, for dtype inference.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Kind {
    Bool,
    Int,
    Float,
    Complex,
}

struct Nested {
    shape: Vec<usize>,
    values: Vec<Wide>,
    kind: Kind,
    int64: bool,
    /// Dtype of arrays nested inside the list, promoted.
    array_dtype: Option<Dtype>,
}

fn walk(obj: &Bound<'_, PyAny>, depth: usize, n: &mut Nested) -> PyResult<()> {
    let is_seq = obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>();
    if is_seq {
        let len = obj.len()?;
        if depth == n.shape.len() && n.values.is_empty() && (depth == 0 || n.shape.len() == depth) {
            n.shape.push(len);
        } else if depth >= n.shape.len() || n.shape[depth] != len {
            return Err(value_error(
                "Initialization encountered non-uniform length.",
            ));
        }
        for item in obj.try_iter()? {
            walk(&item?, depth + 1, n)?;
        }
        return Ok(());
    }
    let leaf_shape: Vec<usize>;
    let leaves: Vec<Wide>;
    if let Ok(a) = obj.cast::<PyArray>() {
        let a = a.borrow().inner.clone();
        n.array_dtype = Some(match n.array_dtype {
            Some(d) => ferrox::dtype::promote(d, a.dtype()),
            None => a.dtype(),
        });
        leaf_shape = a.shape().to_vec();
        leaves = guard(|| wides(&a))?;
    } else if let Some(s) = scalar_of(obj)? {
        let (k, w) = match s {
            Scalar::Bool(b) => (Kind::Bool, Wide::Bool(b)),
            Scalar::Int(v) => {
                if i32::try_from(v).is_err() {
                    n.int64 = true;
                }
                (Kind::Int, Wide::Int(v))
            }
            Scalar::Float(v) => (Kind::Float, Wide::Float(v)),
            Scalar::Complex(re, im) => (Kind::Complex, Wide::Complex(re, im)),
        };
        if k > n.kind {
            n.kind = k;
        }
        leaf_shape = vec![];
        leaves = vec![w];
    } else {
        return Err(value_error(format!(
            "Invalid type {} received in array initialization.",
            type_name(obj)
        )));
    }
    // The first leaf fixes the remaining shape; later ones must agree.
    if n.values.is_empty() && n.shape.len() == depth {
        n.shape.extend(&leaf_shape);
    } else if n.shape.len() != depth + leaf_shape.len() || n.shape[depth..] != leaf_shape[..] {
        return Err(value_error(
            "Initialization encountered non-uniform length.",
        ));
    }
    n.values.extend(leaves);
    Ok(())
}

/// An array's elements, widened.
fn wides(a: &Array) -> ferrox::Result<Vec<Wide>> {
    ferrox::dispatch_dtype!(a.dtype(), T => Ok(a.to_vec::<T>()?.into_iter().map(|x| x.to_wide()).collect()))
}

fn from_wides(values: &[Wide], shape: &[usize], dtype: Dtype) -> ferrox::Result<Array> {
    ferrox::dispatch_dtype!(dtype, T => {
        let v: Vec<T> = values.iter().map(|&w| T::from_wide(w)).collect();
        Array::from_slice(&v, shape)
    })
}

/// `mx.array(obj, dtype)`: scalars, nested lists/tuples (of scalars or arrays), arrays,
/// NumPy arrays (float64 becomes float32 unless `dtype` says otherwise), objects with
/// `__mlx_array__`.
pub fn to_array(obj: &Bound<'_, PyAny>, dtype: Option<Dtype>) -> PyResult<Array> {
    let cast = |a: Array| -> PyResult<Array> {
        match dtype {
            Some(d) => guard(|| ferrox::ops::astype(&a, d)),
            None => Ok(a),
        }
    };
    if let Ok(a) = obj.cast::<PyArray>() {
        return cast(a.borrow().inner.clone());
    }
    if obj.hasattr("__mlx_array__")? {
        let r = obj.call_method0("__mlx_array__")?;
        return to_array(&r, dtype);
    }
    if let Some(s) = scalar_of(obj)? {
        let d = dtype.unwrap_or_else(|| s.default_dtype());
        return Ok(Array::scalar_of(s, d));
    }
    if is_numpy_array(obj) {
        return from_numpy(obj, dtype);
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut n = Nested {
            shape: vec![],
            values: vec![],
            kind: Kind::Bool,
            int64: false,
            array_dtype: None,
        };
        walk(obj, 0, &mut n)?;
        let inferred = match n.kind {
            Kind::Bool if n.values.is_empty() => Dtype::Float32,
            Kind::Bool => Dtype::Bool,
            Kind::Int if n.int64 => Dtype::Int64,
            Kind::Int => Dtype::Int32,
            Kind::Float => Dtype::Float32,
            Kind::Complex => Dtype::Complex64,
        };
        let inferred = match n.array_dtype {
            Some(d) if n.values.len() > 0 => {
                let scalar_kind_dtype = if n.kind == Kind::Bool { d } else { inferred };
                ferrox::dtype::promote(d, scalar_kind_dtype)
            }
            _ => inferred,
        };
        let d = dtype.unwrap_or(inferred);
        return guard(|| from_wides(&n.values, &n.shape, d));
    }
    if crate::dlpack::is_dlpack(obj) {
        return cast(crate::dlpack::import(obj, None)?);
    }
    // MLX: None is not an accepted argument type (TypeError); other objects are
    // accepted types with values it cannot read (ValueError).
    if obj.is_none() {
        return Err(PyTypeError::new_err(
            "Cannot convert NoneType to an array: array() takes a scalar, list, tuple, \
             array or buffer.",
        ));
    }
    Err(value_error(format!(
        "Invalid type {} received in array initialization.",
        type_name(obj)
    )))
}

/// Copies a NumPy array (any layout) into a new array.
fn from_numpy(obj: &Bound<'_, PyAny>, dtype: Option<Dtype>) -> PyResult<Array> {
    let py = obj.py();
    let np = py.import("numpy")?;
    // `asarray(order="C")`, not `ascontiguousarray`, which makes 0-d arrays 1-d.
    let kw = pyo3::types::PyDict::new(py);
    kw.set_item("order", "C")?;
    let arr = np.call_method("asarray", (obj,), Some(&kw))?;
    let typestr: String = arr.getattr("dtype")?.getattr("str")?.extract()?;
    // `ascontiguousarray` makes 0-d arrays 1-d: the shape comes from the input.
    let shape: Vec<usize> = np.call_method1("shape", (obj,))?.extract()?;
    let iface = arr.getattr("__array_interface__")?;
    let data = iface.get_item("data")?;
    let ptr: usize = data.get_item(0)?.extract()?;
    let n: usize = shape.iter().product();
    let code = &typestr[1..];
    // SAFETY: NumPy guarantees `n` contiguous elements of the typestr's type at `ptr`,
    // alive while `arr` is.
    macro_rules! copy {
        ($t:ty) => {{
            let s = unsafe { std::slice::from_raw_parts(ptr as *const $t, n) };
            guard(|| Array::from_slice(s, &shape))?
        }};
    }
    let a = match code {
        "b1" => copy!(bool),
        "u1" => copy!(u8),
        "u2" => copy!(u16),
        "u4" => copy!(u32),
        "u8" => copy!(u64),
        "i1" => copy!(i8),
        "i2" => copy!(i16),
        "i4" => copy!(i32),
        "i8" => copy!(i64),
        "f2" => copy!(half::f16),
        "f4" => copy!(f32),
        "f8" => {
            let a = copy!(f64);
            // MLX's rule: NumPy float64 becomes float32 unless asked otherwise.
            return match dtype {
                Some(d) => guard(|| ferrox::ops::astype(&a, d)),
                None => guard(|| ferrox::ops::astype(&a, Dtype::Float32)),
            };
        }
        "c8" => copy!(Complex32),
        "c16" => {
            let s = unsafe { std::slice::from_raw_parts(ptr as *const f64, 2 * n) };
            let v: Vec<Complex32> = s
                .chunks_exact(2)
                .map(|c| Complex32::new(c[0] as f32, c[1] as f32))
                .collect();
            guard(|| Array::from_slice(&v, &shape))?
        }
        _ => {
            return Err(value_error(format!(
                "Cannot convert a NumPy array of dtype {typestr} to an array."
            )))
        }
    };
    match dtype {
        Some(d) => guard(|| ferrox::ops::astype(&a, d)),
        None => Ok(a),
    }
}

/// One element as a Python scalar.
pub fn wide_to_py(py: Python<'_>, w: Wide) -> PyResult<Py<PyAny>> {
    Ok(match w {
        Wide::Bool(b) => PyBool::new(py, b).to_owned().into_any().unbind(),
        Wide::Int(v) => v.into_pyobject(py)?.into_any().unbind(),
        Wide::Uint(v) => v.into_pyobject(py)?.into_any().unbind(),
        Wide::Float(v) => v.into_pyobject(py)?.into_any().unbind(),
        Wide::Complex(re, im) => PyComplex::from_doubles(py, re, im).into_any().unbind(),
    })
}

/// `a.tolist()`: nested lists of Python scalars (a scalar for 0-d arrays).
pub fn tolist(py: Python<'_>, a: &Array) -> PyResult<Py<PyAny>> {
    let values = py.detach(|| guard(|| wides(a)))?;
    fn build(py: Python<'_>, values: &[Wide], shape: &[usize]) -> PyResult<Py<PyAny>> {
        if shape.is_empty() {
            return wide_to_py(py, values[0]);
        }
        let step: usize = shape[1..].iter().product();
        let items: PyResult<Vec<Py<PyAny>>> = (0..shape[0])
            .map(|i| build(py, &values[i * step..(i + 1) * step], &shape[1..]))
            .collect();
        Ok(PyList::new(py, items?)?.into_any().unbind())
    }
    if a.size() == 0 && a.ndim() > 0 {
        fn empty(py: Python<'_>, shape: &[usize]) -> PyResult<Py<PyAny>> {
            if shape.is_empty() || shape[0] == 0 {
                return Ok(PyList::empty(py).into_any().unbind());
            }
            let items: PyResult<Vec<Py<PyAny>>> =
                (0..shape[0]).map(|_| empty(py, &shape[1..])).collect();
            Ok(PyList::new(py, items?)?.into_any().unbind())
        }
        return empty(py, a.shape());
    }
    build(py, &values, a.shape())
}

/// `a.item()`.
pub fn item(py: Python<'_>, a: &Array) -> PyResult<Py<PyAny>> {
    if a.size() != 1 {
        return Err(value_error(format!(
            "[item] only one element arrays can be converted to Python scalars, got shape {:?}",
            a.shape()
        )));
    }
    let w = py.detach(|| guard(|| wides(a)))?;
    wide_to_py(py, w[0])
}
