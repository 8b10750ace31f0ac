//! The operations, with mlx.core's names. Each checks its arguments and infers the
//! output's shape and dtype when called, so a mistake is an `Err` at the line that made
//! it, and builds a lazy node.
//!
//! ```
//! use ferrox::ops::{add, sum, arange};
//! let a = arange(0.0, 6.0, 1.0, None)?.reshape(&[2, 3])?;
//! let b = add(&a, 1.0)?;              // lazy: nothing computed yet
//! let s = sum(&b, &[1], false)?;      // still lazy
//! assert_eq!(s.to_vec::<f32>()?, vec![6.0, 15.0]);   // evaluates
//! # Ok::<(), ferrox::Error>(())
//! ```

mod binary;
mod conv;
mod creation;
mod data_dependent;
mod einsum;
pub mod fast;
pub mod fft;
mod gathered;
mod indexing;
mod layout;
pub mod linalg;
mod products;
mod quantize;
mod quantize_fp;
pub mod random;
mod reduce;
mod scan;
mod shape;
mod sort;
mod unary;

pub use binary::*;
pub use conv::*;
pub use creation::*;
pub use data_dependent::*;
pub use einsum::*;
pub use gathered::*;
pub use indexing::*;
pub use layout::*;
pub use products::*;
pub use quantize::*;
pub(crate) use quantize_fp::{dequantize_fp, quantize_fp, quantized_matmul_nd};
pub use quantize_fp::{gather_qmm, gather_qqmm, qqmm};
pub use reduce::*;
pub use scan::*;
pub use shape::*;
pub use sort::*;
pub use unary::*;

use crate::array::Array;
use crate::dtype::{Dtype, Scalar};
use crate::Result;

/// An operand of a binary op: an array, or a Python-style scalar that promotes weakly
/// (`int8_array + 1` stays int8, `int_array + 1.0` becomes float32).
#[derive(Clone, Debug)]
pub enum Operand {
    Array(Array),
    Scalar(Scalar),
}

impl From<&Array> for Operand {
    fn from(a: &Array) -> Self {
        Operand::Array(a.clone())
    }
}
impl From<Array> for Operand {
    fn from(a: Array) -> Self {
        Operand::Array(a)
    }
}
impl From<Scalar> for Operand {
    fn from(s: Scalar) -> Self {
        Operand::Scalar(s)
    }
}
macro_rules! operand_from_scalar {
    ($($t:ty),*) => {$(
        impl From<$t> for Operand {
            fn from(x: $t) -> Self { Operand::Scalar(Scalar::from(x)) }
        }
    )*};
}
operand_from_scalar!(bool, i8, i16, i32, i64, u8, u16, u32, f32, f64);

impl Operand {
    /// The array this operand is on its own (a scalar takes its default dtype).
    pub fn to_array(&self) -> Array {
        match self {
            Operand::Array(a) => a.clone(),
            Operand::Scalar(s) => Array::scalar_of(*s, s.default_dtype()),
        }
    }
}

/// Two operands as arrays, with weak scalar promotion: a scalar beside an array takes the
/// array's dtype where its kind allows. A Python int that does not fit the array's
/// integer dtype is an error, as in MLX.
pub fn to_arrays(a: &Operand, b: &Operand) -> Result<(Array, Array)> {
    fn weak(s: Scalar, other: &Array) -> Result<Array> {
        let dtype = s.weak_dtype(other.dtype());
        if let (Scalar::Int(v), true) = (s, dtype.is_integer()) {
            let info = crate::dtype::iinfo(dtype)?;
            if (v as i128) < info.min || (v as i128) > info.max {
                return Err(crate::Error::Invalid(format!(
                    "Python integer {v} is out of bounds for {dtype}."
                )));
            }
        }
        Ok(Array::scalar_of(s, dtype))
    }
    Ok(match (a, b) {
        (Operand::Array(x), Operand::Array(y)) => (x.clone(), y.clone()),
        (Operand::Array(x), Operand::Scalar(s)) => (x.clone(), weak(*s, x)?),
        (Operand::Scalar(s), Operand::Array(y)) => (weak(*s, y)?, y.clone()),
        (Operand::Scalar(_), Operand::Scalar(_)) => (a.to_array(), b.to_array()),
    })
}

/// The dtype a set of arrays promotes to (`mx.result_type`).
pub fn result_type(arrays: &[&Array]) -> Dtype {
    arrays
        .iter()
        .map(|a| a.dtype())
        .reduce(crate::dtype::promote)
        .unwrap_or(Dtype::Float32)
}

/// The stream an op built now runs on.
pub(crate) fn stream() -> crate::device::Stream {
    crate::device::current_stream()
}
