//! `mlx.core.linalg`: decompositions (LU, Cholesky, QR, SVD, eigen), inverses, solves,
//! determinants, norms and the cross product, on batches of matrices (the last two axes)
//! of float32 or float64, with MLX's checks, messages and output dtypes.
//!
//! ```
//! use ferrox::{ops, ops::linalg, Array};
//! let a = Array::from_slice(&[4.0f32, 1.0, 2.0, 3.0], &[2, 2])?;
//! let x = linalg::solve(&a, &Array::from_slice(&[1.0f32, 2.0], &[2])?)?;
//! let back = ops::matmul(&a, &x)?.to_vec::<f32>()?;
//! assert!((back[0] - 1.0).abs() < 1e-5 && (back[1] - 2.0).abs() < 1e-5);
//! assert!((linalg::det(&a)?.item::<f32>()? - 10.0).abs() < 1e-5);
//! # Ok::<(), ferrox::Error>(())
//! ```

mod cross;
mod decompose;
mod norm;
mod solve;

pub use cross::cross;
pub use decompose::{cholesky, eig, eigh, eigvals, eigvalsh, lu, lu_factor, qr, svd};
pub use norm::{norm, NormOrd};
pub use solve::{cholesky_inv, det, inv, pinv, slogdet, solve, solve_triangular, tri_inv};

use crate::array::Array;
use crate::dtype::Dtype;
use crate::{Error, Result};

/// A shape as MLX prints it in messages: `(2,3,4)`.
fn shape_str(s: &[usize]) -> String {
    let v: Vec<String> = s.iter().map(usize::to_string).collect();
    format!("({})", v.join(","))
}

/// MLX's check of a decomposition's input: at least 2-D, float32 or float64 (`complex`:
/// the message also names complex64, as MLX's svd/eig/eigh do, though ferrox takes
/// real matrices only).
fn check_matrix(op: &str, a: &Array, complex: bool) -> Result<()> {
    if a.ndim() < 2 {
        let what = if op == "svd" { "Input array" } else { "Arrays" };
        return Err(Error::Invalid(format!(
            "[linalg::{op}] {what} must have >= 2 dimensions. Received array with {} dimensions.",
            a.ndim()
        )));
    }
    if !matches!(a.dtype(), Dtype::Float32 | Dtype::Float64) {
        let types = if complex {
            "float32, float64 or complex64"
        } else {
            "float32 or float64"
        };
        return Err(Error::Invalid(format!(
            "[linalg::{op}] Arrays must have type {types}. Received array with type {}.",
            a.dtype()
        )));
    }
    Ok(())
}

/// The error `msg` (MLX's wording) unless the last two axes are equal.
fn check_square(op: &str, a: &Array, msg: &str) -> Result<()> {
    let nd = a.ndim();
    if a.shape()[nd - 1] != a.shape()[nd - 2] {
        return Err(Error::Invalid(format!("[linalg::{op}] {msg}")));
    }
    Ok(())
}

/// The shape of `a` with its last two axes replaced by `tail`.
fn batch_with(a: &Array, tail: &[usize]) -> Vec<usize> {
    [&a.shape()[..a.ndim() - 2], tail].concat()
}
