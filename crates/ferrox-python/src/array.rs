//! The `array` class: properties, methods, operators, conversions and protocols.

use crate::convert::{self, operand_strict};
use crate::dtype::PyDtype;
use crate::errors::{guard, value_error};
use crate::ops;
use ferrox::Array;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

/// An n-dimensional array (lazy: computed when read or `eval`ed).
#[pyclass(name = "array", module = "ferrox.core")]
pub struct PyArray {
    pub inner: Array,
}

impl From<Array> for PyArray {
    fn from(inner: Array) -> Self {
        PyArray { inner }
    }
}

type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

pub(crate) fn binop(
    a: &Array,
    other: &Bound<'_, PyAny>,
    reflected: bool,
    f: fn(ferrox::ops::Operand, ferrox::ops::Operand) -> ferrox::Result<Array>,
) -> PyResult<PyArray> {
    let o = operand_strict(other)?;
    let me = ferrox::ops::Operand::Array(a.clone());
    guard(|| if reflected { f(o, me) } else { f(me, o) }).map(PyArray::from)
}

macro_rules! operators {
    ($($name:ident, $rname:ident, $iname:ident => $f:path;)*) => {
        #[pymethods]
        impl PyArray {$(
            fn $name(&self, other: &Bound<'_, PyAny>) -> PyResult<PyArray> {
                binop(&self.inner, other, false, $f)
            }
            fn $rname(&self, other: &Bound<'_, PyAny>) -> PyResult<PyArray> {
                binop(&self.inner, other, true, $f)
            }
            /// In-place operators rebind this object to the result (MLX's semantics).
            fn $iname(&mut self, other: &Bound<'_, PyAny>) -> PyResult<()> {
                self.inner = binop(&self.inner, other, false, $f)?.inner;
                Ok(())
            }
        )*}
    };
}

operators! {
    __add__, __radd__, __iadd__ => ferrox::ops::add;
    __sub__, __rsub__, __isub__ => ferrox::ops::subtract;
    __mul__, __rmul__, __imul__ => ferrox::ops::multiply;
    __truediv__, __rtruediv__, __itruediv__ => ferrox::ops::divide;
    __floordiv__, __rfloordiv__, __ifloordiv__ => ferrox::ops::floor_divide;
    __mod__, __rmod__, __imod__ => ferrox::ops::remainder;
    __and__, __rand__, __iand__ => ferrox::ops::bitwise_and;
    __or__, __ror__, __ior__ => ferrox::ops::bitwise_or;
    __xor__, __rxor__, __ixor__ => ferrox::ops::bitwise_xor;
    __lshift__, __rlshift__, __ilshift__ => ferrox::ops::left_shift;
    __rshift__, __rrshift__, __irshift__ => ferrox::ops::right_shift;
}

#[pymethods]
impl PyArray {
    fn __pow__(
        &self,
        other: &Bound<'_, PyAny>,
        modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyArray> {
        let _ = modulo;
        binop(&self.inner, other, false, ferrox::ops::power)
    }
    fn __rpow__(
        &self,
        other: &Bound<'_, PyAny>,
        modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyArray> {
        let _ = modulo;
        binop(&self.inner, other, true, ferrox::ops::power)
    }
    fn __ipow__(
        &mut self,
        other: &Bound<'_, PyAny>,
        modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = modulo;
        self.inner = binop(&self.inner, other, false, ferrox::ops::power)?.inner;
        Ok(())
    }
}

fn compare(
    a: &Array,
    other: &Bound<'_, PyAny>,
    f: fn(ferrox::ops::Operand, ferrox::ops::Operand) -> ferrox::Result<Array>,
) -> PyResult<PyArray> {
    if other.is_none() {
        return Err(PyTypeError::new_err("Cannot compare an array with None."));
    }
    binop(a, other, false, f)
}

#[pymethods]
impl PyArray {
    #[new]
    #[pyo3(signature = (val, dtype = None))]
    fn new(val: &Bound<'_, PyAny>, dtype: Opt) -> PyResult<Self> {
        let d = match dtype {
            Some(d) if !d.is_none() => Some(convert::dtype_of(d)?),
            _ => None,
        };
        convert::to_array(val, d).map(PyArray::from)
    }

    // ---- properties ----
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.inner.shape())
    }
    #[getter]
    fn dtype(&self) -> PyDtype {
        PyDtype(self.inner.dtype())
    }
    #[getter]
    fn ndim(&self) -> usize {
        self.inner.ndim()
    }
    #[getter]
    fn size(&self) -> usize {
        self.inner.size()
    }
    #[getter]
    fn itemsize(&self) -> usize {
        self.inner.itemsize()
    }
    #[getter]
    fn nbytes(&self) -> usize {
        self.inner.nbytes()
    }
    #[getter(T)]
    fn t(&self) -> PyResult<PyArray> {
        guard(|| ferrox::ops::transpose(&self.inner, &[])).map(PyArray::from)
    }
    #[getter(mT)]
    fn m_t(&self) -> PyResult<PyArray> {
        guard(|| ferrox::ops::matrix_transpose(&self.inner)).map(PyArray::from)
    }
    #[getter]
    fn real(&self) -> PyResult<PyArray> {
        guard(|| ferrox::ops::real(&self.inner)).map(PyArray::from)
    }
    #[getter]
    fn imag(&self) -> PyResult<PyArray> {
        guard(|| ferrox::ops::imag(&self.inner)).map(PyArray::from)
    }

    // ---- conversion ----
    fn item(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::item(py, &self.inner)
    }
    fn tolist(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::tolist(py, &self.inner)
    }
    #[pyo3(signature = (dtype, stream = None))]
    fn astype(slf: &Bound<'_, Self>, dtype: &Bound<'_, PyAny>, stream: Opt) -> PyResult<PyArray> {
        ops::astype(slf.as_any(), dtype, stream)
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        let a = self.inner.clone();
        py.detach(move || a.to_string())
    }
    fn __str__(&self, py: Python<'_>) -> String {
        self.__repr__(py)
    }
    fn __len__(&self) -> PyResult<usize> {
        match self.inner.shape().first() {
            Some(&n) => Ok(n),
            None => Err(PyTypeError::new_err("len() 0-dimensional array.")),
        }
    }
    fn __bool__(&self, py: Python<'_>) -> PyResult<bool> {
        if self.inner.size() != 1 {
            return Err(PyValueError::new_err(
                "The truth value of an array with more than one element is ambiguous.",
            ));
        }
        convert::item(py, &self.inner)?.bind(py).is_truthy()
    }
    fn __float__(&self, py: Python<'_>) -> PyResult<f64> {
        self.scalar_check("float")?;
        let a = self.inner.clone();
        py.detach(move || guard(|| a.item::<f64>()))
    }
    fn __int__(&self, py: Python<'_>) -> PyResult<i64> {
        self.scalar_check("int")?;
        let a = self.inner.clone();
        py.detach(move || guard(|| a.item::<i64>()))
    }
    fn __index__(&self, py: Python<'_>) -> PyResult<i64> {
        if !(self.inner.dtype().is_integer() || self.inner.dtype().is_bool()) {
            return Err(PyTypeError::new_err(
                "Only integer arrays can be converted to an index.",
            ));
        }
        self.__int__(py)
    }
    fn __complex__<'py>(&self, py: Python<'py>) -> PyResult<Py<PyAny>> {
        self.scalar_check("complex")?;
        let v = convert::item(py, &self.inner)?;
        Ok(py
            .get_type::<pyo3::types::PyComplex>()
            .call1((v,))?
            .unbind())
    }
    fn __hash__(slf: &Bound<'_, Self>) -> isize {
        slf.as_ptr() as isize
    }
    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.inner.ndim() == 0 {
            return Err(PyTypeError::new_err("iteration over a 0-d array"));
        }
        let items: Vec<PyArray> = (0..self.inner.shape()[0])
            .map(|i| crate::indexing::index_axis0(&self.inner, i as isize).map(PyArray::from))
            .collect::<PyResult<_>>()?;
        let list = pyo3::types::PyList::new(
            py,
            items
                .into_iter()
                .map(|a| Py::new(py, a))
                .collect::<PyResult<Vec<_>>>()?,
        )?;
        Ok(list.try_iter()?.into_any().unbind())
    }
    fn __getitem__(&self, key: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        crate::indexing::get(&self.inner, key).map(PyArray::from)
    }
    fn __setitem__(&mut self, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner = crate::indexing::set(&self.inner, key, value)?;
        Ok(())
    }

    // ---- comparisons and unary operators ----
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        compare(&self.inner, other, ferrox::ops::equal)
    }
    fn __ne__(&self, other: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        compare(&self.inner, other, ferrox::ops::not_equal)
    }
    fn __lt__(&self, other: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        compare(&self.inner, other, ferrox::ops::less)
    }
    fn __le__(&self, other: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        compare(&self.inner, other, ferrox::ops::less_equal)
    }
    fn __gt__(&self, other: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        compare(&self.inner, other, ferrox::ops::greater)
    }
    fn __ge__(&self, other: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        compare(&self.inner, other, ferrox::ops::greater_equal)
    }
    fn __neg__(&self) -> PyResult<PyArray> {
        guard(|| ferrox::ops::negative(&self.inner)).map(PyArray::from)
    }
    fn __pos__(&self) -> PyArray {
        PyArray::from(self.inner.clone())
    }
    fn __abs__(&self) -> PyResult<PyArray> {
        guard(|| ferrox::ops::abs(&self.inner)).map(PyArray::from)
    }
    fn __invert__(&self) -> PyResult<PyArray> {
        let a = &self.inner;
        guard(|| {
            if a.dtype().is_bool() {
                ferrox::ops::logical_not(a)
            } else {
                ferrox::ops::bitwise_invert(a)
            }
        })
        .map(PyArray::from)
    }
    fn __matmul__(&self, other: &Bound<'_, PyAny>) -> PyResult<PyArray> {
        let o = crate::convert::array_arg(other)?;
        guard(|| ferrox::ops::matmul(&self.inner, &o)).map(PyArray::from)
    }
    fn __imatmul__(&mut self, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner = self.__matmul__(other)?.inner;
        Ok(())
    }

    // ---- copying and pickling ----
    fn __copy__(&self) -> PyArray {
        PyArray::from(self.inner.clone())
    }
    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> PyArray {
        PyArray::from(self.inner.clone())
    }
    fn __getstate__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let a = self.inner.clone();
        let bytes = py.detach(move || guard(|| a.to_bytes()))?;
        PyTuple::new(
            py,
            [
                PyBytes::new(py, &bytes).into_any(),
                PyTuple::new(py, self.inner.shape())?.into_any(),
                self.inner.dtype().name().into_pyobject(py)?.into_any(),
            ],
        )
    }
    fn __setstate__(&mut self, state: &Bound<'_, PyTuple>) -> PyResult<()> {
        let (bytes, shape, dtype): (Vec<u8>, Vec<usize>, String) = state.extract()?;
        let d = guard(|| ferrox::Dtype::from_name(&dtype))?;
        self.inner = guard(|| Array::from_bytes(&bytes, &shape, d))?;
        Ok(())
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let state = slf.borrow().__getstate__(py)?;
        let ctor = py.import("ferrox.core")?.getattr("_array_from_state")?;
        PyTuple::new(py, [ctor, PyTuple::new(py, [state])?.into_any()])
    }

    // ---- NumPy ----
    #[pyo3(signature = (dtype = None, copy = None))]
    fn __array__<'py>(
        &self,
        py: Python<'py>,
        dtype: Option<&Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let np = py.import("numpy")?;
        let view = Py::new(py, crate::numpy::ArrayInterface::new(py, &self.inner)?)?;
        let arr = np.call_method1("asarray", (view,))?;
        match dtype {
            Some(d) if !d.is_none() => arr.call_method1("astype", (d,)),
            // A read-only view of this array's memory unless a copy is asked for.
            _ if copy == Some(true) => arr.call_method0("copy"),
            _ => Ok(arr),
        }
    }

    // ---- methods mirroring functions ----
    #[pyo3(signature = (*shape, stream = None))]
    fn reshape(&self, shape: &Bound<'_, PyTuple>, stream: Opt) -> PyResult<PyArray> {
        let dims: Vec<isize> = if shape.len() == 1 && shape.get_item(0)?.extract::<isize>().is_err()
        {
            shape.get_item(0)?.extract()?
        } else {
            shape.extract()?
        };
        let a = self.inner.clone();
        crate::device::on_stream(stream, || ferrox::ops::reshape(&a, &dims)).map(PyArray::from)
    }
    #[pyo3(signature = (*axes, stream = None))]
    fn transpose(&self, axes: &Bound<'_, PyTuple>, stream: Opt) -> PyResult<PyArray> {
        let ax: Vec<isize> = if axes.len() == 1 && axes.get_item(0)?.extract::<isize>().is_err() {
            axes.get_item(0)?.extract()?
        } else {
            axes.extract()?
        };
        let a = self.inner.clone();
        crate::device::on_stream(stream, || ferrox::ops::transpose(&a, &ax)).map(PyArray::from)
    }
    #[pyo3(signature = (axis = None, keepdims = false, ddof = 0, *, correction = None, stream = None))]
    fn var(
        slf: &Bound<'_, Self>,
        axis: Opt,
        keepdims: bool,
        ddof: usize,
        correction: Option<usize>,
        stream: Opt,
    ) -> PyResult<PyArray> {
        ops::var(
            slf.as_any(),
            axis,
            keepdims,
            correction.unwrap_or(ddof),
            stream,
        )
    }
    #[pyo3(signature = (axis = None, keepdims = false, ddof = 0, *, correction = None, stream = None))]
    fn std(
        slf: &Bound<'_, Self>,
        axis: Opt,
        keepdims: bool,
        ddof: usize,
        correction: Option<usize>,
        stream: Opt,
    ) -> PyResult<PyArray> {
        ops::std_dev(
            slf.as_any(),
            axis,
            keepdims,
            correction.unwrap_or(ddof),
            stream,
        )
    }
    #[pyo3(signature = (axis = None, keepdims = false, *, stream = None))]
    fn argmax(
        slf: &Bound<'_, Self>,
        axis: Option<isize>,
        keepdims: bool,
        stream: Opt,
    ) -> PyResult<PyArray> {
        ops::argmax(slf.as_any(), axis, keepdims, stream)
    }
    #[pyo3(signature = (axis = None, keepdims = false, *, stream = None))]
    fn argmin(
        slf: &Bound<'_, Self>,
        axis: Option<isize>,
        keepdims: bool,
        stream: Opt,
    ) -> PyResult<PyArray> {
        ops::argmin(slf.as_any(), axis, keepdims, stream)
    }
    #[pyo3(signature = (start_axis = 0, end_axis = -1, *, stream = None))]
    fn flatten(
        slf: &Bound<'_, Self>,
        start_axis: isize,
        end_axis: isize,
        stream: Opt,
    ) -> PyResult<PyArray> {
        ops::flatten(slf.as_any(), start_axis, end_axis, stream)
    }
    #[pyo3(signature = (axis = None, *, stream = None))]
    fn squeeze(slf: &Bound<'_, Self>, axis: Opt, stream: Opt) -> PyResult<PyArray> {
        ops::squeeze(slf.as_any(), axis, stream)
    }
    #[pyo3(signature = (axis1, axis2, *, stream = None))]
    fn swapaxes(
        slf: &Bound<'_, Self>,
        axis1: isize,
        axis2: isize,
        stream: Opt,
    ) -> PyResult<PyArray> {
        ops::swapaxes(slf.as_any(), axis1, axis2, stream)
    }
    #[pyo3(signature = (source, destination, *, stream = None))]
    fn moveaxis(
        slf: &Bound<'_, Self>,
        source: isize,
        destination: isize,
        stream: Opt,
    ) -> PyResult<PyArray> {
        ops::moveaxis(slf.as_any(), source, destination, stream)
    }
    #[pyo3(signature = (decimals = 0, *, stream = None))]
    fn round(slf: &Bound<'_, Self>, decimals: i32, stream: Opt) -> PyResult<PyArray> {
        ops::round(slf.as_any(), decimals, stream)
    }
}

/// Reductions as methods: `a.sum(axis=None, keepdims=False)` and friends.
macro_rules! reduction_methods {
    ($($name:ident),*) => {
        #[pymethods]
        impl PyArray {$(
            #[pyo3(signature = (axis = None, keepdims = false, *, stream = None))]
            fn $name(slf: &Bound<'_, Self>, axis: Opt, keepdims: bool, stream: Opt) -> PyResult<PyArray> {
                ops::$name(slf.as_any(), axis, keepdims, stream)
            }
        )*}
    };
}
reduction_methods!(sum, prod, max, min, mean, all, any, logsumexp);

macro_rules! unary_methods {
    ($($name:ident),*) => {
        #[pymethods]
        impl PyArray {$(
            #[pyo3(signature = (*, stream = None))]
            fn $name(slf: &Bound<'_, Self>, stream: Opt) -> PyResult<PyArray> {
                ops::$name(slf.as_any(), stream)
            }
        )*}
    };
}
unary_methods!(abs, conj, cos, exp, log, log10, log1p, log2, reciprocal, rsqrt, sin, sqrt, square);

impl PyArray {
    fn scalar_check(&self, what: &str) -> PyResult<()> {
        if self.inner.size() != 1 {
            return Err(value_error(format!(
                "only size-1 arrays can be converted to Python {what}"
            )));
        }
        Ok(())
    }
}

#[pyfunction]
fn _array_from_state(state: &Bound<'_, PyTuple>) -> PyResult<PyArray> {
    let (bytes, shape, dtype): (Vec<u8>, Vec<usize>, String) = state.extract()?;
    let d = guard(|| ferrox::Dtype::from_name(&dtype))?;
    guard(|| Array::from_bytes(&bytes, &shape, d)).map(PyArray::from)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyArray>()?;
    m.add_function(wrap_pyfunction!(_array_from_state, m)?)?;
    let _ = PyDict::new(m.py());
    Ok(())
}
