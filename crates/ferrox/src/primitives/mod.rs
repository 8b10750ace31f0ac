//! The primitives, one module per family. Each primitive is a struct implementing
//! [`Primitive`](crate::primitive::Primitive); its CPU kernel is in `backend/cpu/`, and the
//! ops that build it (checking shapes and dtypes) are in `ops/`.

pub mod attention;
pub mod binary;
pub mod conv;
pub mod creation;
pub mod fft;
pub mod fused;
pub mod gathered;
pub mod indexing;
pub mod linalg;
pub mod matmul;
pub mod norm;
pub mod quantized;
pub mod quantized_fp;
pub mod random;
pub mod reduce;
pub mod scan;
pub mod softmax;
pub mod sort;
pub mod unary;
pub mod view;

use crate::array::{Array, Data};
use crate::backend::cpu;
use crate::dtype::Dtype;
use crate::Result;

/// `a`'s data as a row-major array of `dtype`: a view when it already is one, else a
/// copy (kernels that read their input densely call this first).
pub(crate) fn row_major(a: &Array, dtype: Dtype) -> Result<Data> {
    let d = a.data()?;
    if a.dtype() == dtype && d.is_row_contiguous(a.shape()) {
        return Ok(d);
    }
    let out = Data::alloc(a.shape(), dtype)?;
    cpu::copy::copy_cast(a.shape(), &d, a.dtype(), &out, dtype);
    Ok(out)
}

/// Data of dtype `from` (a kernel's output, computed in a wider type) cast to `to` if
/// that differs.
pub(crate) fn cast_data(out: Data, shape: &[usize], from: Dtype, to: Dtype) -> Result<Data> {
    if from == to {
        return Ok(out);
    }
    let o = Data::alloc(shape, to)?;
    cpu::copy::copy_cast(shape, &out, from, &o, to);
    Ok(o)
}

/// Float32 data (a kernel's output computed in float32) cast to `dtype` if that differs.
pub(crate) fn narrowed(out: Data, shape: &[usize], dtype: Dtype) -> Result<Data> {
    cast_data(out, shape, Dtype::Float32, dtype)
}
