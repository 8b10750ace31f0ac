//! # ferrox
//!
//! Lazy n-dimensional arrays with MLX's semantics, on any CPU (and, next, NVIDIA GPUs).
//!
//! Ops build a graph; [`eval`] (or reading the data) computes it. Shapes and dtypes are
//! checked when an op is called, so mistakes are `Err` values at the line that made them.
//!
//! ```
//! use ferrox::{array, ops};
//! let a = array!([[1.0f32, 2.0], [3.0, 4.0]]);
//! let b = ops::matmul(&a, &a)?;
//! let c = (&b + 1.0)?;                      // weak scalar: stays float32
//! assert_eq!(c.to_vec::<f32>()?, vec![8.0, 11.0, 16.0, 23.0]);
//! println!("{c}");
//! # Ok::<(), ferrox::Error>(())
//! ```
//!
//! Layers, top to bottom: [`ops`] (build nodes, check arguments) → [`array`] (the graph)
//! → [`scheduler`] (order, run, free) → [`backend`] (kernels) → [`memory`] (buffers).

pub mod array;
pub mod backend;
pub mod device;
pub mod distributed;
pub mod dtype;
pub mod error;
pub mod io;
pub mod memory;
mod operators;
pub mod ops;
pub mod primitive;
pub mod primitives;
mod print;
pub mod scheduler;
pub mod shape;
pub mod transforms;

pub use array::{Array, Shape};
pub use device::{Device, DeviceType, Stream};
pub use dtype::{Dtype, DtypeCategory, Scalar};
pub use error::{Error, Result};
pub use ops::random;
pub use print::{
    format_float, get_printoptions, get_printoptions as print_options, set_printoptions,
    with_printoptions, PrintOptions,
};
pub use scheduler::{async_eval, eval};

/// Builds an evaluated array from a literal, MLX-style:
/// `array!([[1.0f32, 2.0], [3.0, 4.0]])` or `array!(3i32)`.
///
/// Like a slice pattern, the literal must be rectangular: a ragged literal is a bug in
/// the program and panics. Build from data with [`Array::from_slice`], which returns
/// `Result`, when the shape comes from input.
#[macro_export]
macro_rules! array {
    ([$([$([$($x:expr),* $(,)?]),* $(,)?]),* $(,)?]) => {{
        let rows: Vec<Vec<Vec<_>>> = vec![$(vec![$(vec![$($x),*]),*]),*];
        let (d0, d1, d2) = (rows.len(), rows.first().map_or(0, |r| r.len()),
            rows.first().and_then(|r| r.first()).map_or(0, |r| r.len()));
        let flat: Vec<_> = rows.into_iter().flatten().flatten().collect();
        $crate::Array::from_slice(&flat, &[d0, d1, d2]).expect("array!: ragged literal")
    }};
    ([$([$($x:expr),* $(,)?]),* $(,)?]) => {{
        let rows: Vec<Vec<_>> = vec![$(vec![$($x),*]),*];
        let (d0, d1) = (rows.len(), rows.first().map_or(0, |r| r.len()));
        let flat: Vec<_> = rows.into_iter().flatten().collect();
        $crate::Array::from_slice(&flat, &[d0, d1]).expect("array!: ragged literal")
    }};
    ([$($x:expr),* $(,)?]) => {{
        let v = vec![$($x),*];
        $crate::Array::from_slice(&v, &[v.len()]).expect("a 1-D literal always fits")
    }};
    ($x:expr) => {
        $crate::Array::scalar($x)
    };
}
