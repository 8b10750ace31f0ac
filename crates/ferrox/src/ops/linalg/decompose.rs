//! The factorisations: `lu`, `lu_factor`, `cholesky`, `qr`, `svd`, `eigh`, `eigvalsh`,
//! `eig`, `eigvals`. Each is one primitive node (`primitives::linalg`).

use super::{batch_with, check_matrix, check_square};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::ops::{self, stream};
use crate::primitives::linalg::{Cholesky, Eig, Eigh, Lu, Qr, Svd};
use crate::{Error, Result};

/// The LU node of `a` `(.., m, n)`: `[packed LU, pivots, perm]`.
pub(crate) fn lu_node(a: &Array) -> Vec<Array> {
    let nd = a.ndim();
    let (m, n) = (a.shape()[nd - 2], a.shape()[nd - 1]);
    let batch = &a.shape()[..nd - 2];
    Array::from_multi_op(
        vec![
            (a.shape().to_vec(), a.dtype()),
            ([batch, &[m.min(n)]].concat(), Dtype::Uint32),
            ([batch, &[m]].concat(), Dtype::Uint32),
        ],
        Lu,
        vec![a.clone()],
        stream(),
    )
}

/// LU factorisation with partial pivoting of `a` `(.., m, n)`: `(LU, pivots)` as LAPACK's
/// getrf gives them: L (unit diagonal implied) below the diagonal and U on and above it
/// in one `(.., m, n)` array, and the row swaps (uint32, `(.., min(m, n))`, 0-based: row
/// `i` was swapped with row `pivots[i]`).
///
/// Errors: fewer than 2 dimensions, a dtype other than float32/float64.
pub fn lu_factor(a: &Array) -> Result<(Array, Array)> {
    check_matrix("lu_factor", a, false)?;
    let o = lu_node(a);
    Ok((o[0].clone(), o[1].clone()))
}

/// LU factorisation of `a` `(.., m, n)`: `(p, L, U)` with `A = L[p] @ U`: the row
/// permutation `p` (uint32, `(.., m)`), unit lower-triangular L `(.., m, k)` and upper
/// triangular U `(.., k, n)`, `k = min(m, n)`.
///
/// Errors: as [`lu_factor`].
pub fn lu(a: &Array) -> Result<(Array, Array, Array)> {
    check_matrix("lu", a, false)?;
    let o = lu_node(a);
    let nd = a.ndim() as isize;
    let (m, n) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
    let k = m.min(n);
    let mut start = vec![0isize; nd as usize];
    let full: Vec<isize> = a.shape().iter().map(|&d| d as isize).collect();
    let step = vec![1isize; nd as usize];
    let mut stop = full.clone();
    stop[nd as usize - 1] = k as isize;
    let l_part = ops::slice(&o[0], &start, &stop, &step)?;
    let eye = ops::eye(m, Some(k), 0, Some(a.dtype()))?;
    let l = ops::add(&ops::tril(&l_part, -1)?, &eye)?;
    stop = full;
    stop[nd as usize - 2] = k as isize;
    start[nd as usize - 2] = 0;
    let u = ops::triu(&ops::slice(&o[0], &start, &stop, &step)?, 0)?;
    Ok((o[2].clone(), l, u))
}

/// Cholesky factor of symmetric positive-definite matrices `a` `(.., n, n)`, read from
/// their lower triangle: L with `A = L Lᵀ`; with `upper`, from the upper triangle, U with
/// `A = Uᵀ U`. The other triangle of the result is zero. As in MLX a matrix that is not
/// positive definite gives LAPACK's partial factor, not an error.
///
/// Errors: fewer than 2 dimensions, not float32/float64, not square.
pub fn cholesky(a: &Array, upper: bool) -> Result<Array> {
    check_matrix("cholesky", a, false)?;
    check_square(
        "cholesky",
        a,
        "Cholesky decomposition is only defined for square matrices.",
    )?;
    Ok(Array::from_op(
        a.shape().to_vec(),
        a.dtype(),
        Cholesky { upper },
        vec![a.clone()],
        stream(),
    ))
}

/// Reduced QR of `a` `(.., m, n)`: `(Q, R)`, Q `(.., m, k)` with orthonormal columns and
/// upper-triangular R `(.., k, n)`, `k = min(m, n)`, `A = Q @ R`.
///
/// Errors: fewer than 2 dimensions, not float32/float64.
pub fn qr(a: &Array) -> Result<(Array, Array)> {
    check_matrix("qr", a, false)?;
    let nd = a.ndim();
    let (m, n) = (a.shape()[nd - 2], a.shape()[nd - 1]);
    let k = m.min(n);
    let o = Array::from_multi_op(
        vec![
            (batch_with(a, &[m, k]), a.dtype()),
            (batch_with(a, &[k, n]), a.dtype()),
        ],
        Qr,
        vec![a.clone()],
        stream(),
    );
    Ok((o[0].clone(), o[1].clone()))
}

/// Singular value decomposition of `a` `(.., m, n)`: with `compute_uv`, `[U, S, Vt]`
/// (U `(.., m, m)`, S `(.., k)` descending, Vt `(.., n, n)`, `A = U[.., :k] diag(S)
/// Vt[.., :k, :]`); else `[S]`.
///
/// Errors: fewer than 2 dimensions, not float32/float64.
pub fn svd(a: &Array, compute_uv: bool) -> Result<Vec<Array>> {
    check_matrix("svd", a, true)?;
    if compute_uv {
        return Ok(crate::primitives::linalg::svd_full(a));
    }
    let nd = a.ndim();
    let k = a.shape()[nd - 2].min(a.shape()[nd - 1]);
    Ok(vec![Array::from_op(
        [&a.shape()[..nd - 2], &[k]].concat(),
        a.dtype(),
        Svd { compute_uv: false },
        vec![a.clone()],
        stream(),
    )])
}

/// `UPLO` as a flag: "U" → upper, "L" → lower.
fn uplo(op: &str, s: &str) -> Result<bool> {
    match s {
        "L" => Ok(false),
        "U" => Ok(true),
        _ => Err(Error::Invalid(format!(
            "[linalg::{op}] UPLO must be 'L' or 'U', got '{s}'."
        ))),
    }
}

fn eigh_node(op: &str, a: &Array, uplo_: &str, vectors: bool) -> Result<Vec<Array>> {
    check_matrix(op, a, true)?;
    check_square(op, a, "Only defined for square matrices.")?;
    let upper = uplo(op, uplo_)?;
    let nd = a.ndim();
    let n = a.shape()[nd - 1];
    let mut outs = vec![([&a.shape()[..nd - 2], &[n]].concat(), a.dtype())];
    if vectors {
        outs.push((a.shape().to_vec(), a.dtype()));
    }
    Ok(Array::from_multi_op(
        outs,
        Eigh { upper, vectors },
        vec![a.clone()],
        stream(),
    ))
}

/// Eigenvalues (ascending, `(.., n)`) and eigenvectors (the columns of `(.., n, n)`) of
/// symmetric matrices `a`, read from the lower (`UPLO = "U"`: upper) triangle.
///
/// Errors: fewer than 2 dimensions, not float32/float64, not square, `UPLO` not L/U.
pub fn eigh(a: &Array, uplo_: &str) -> Result<(Array, Array)> {
    let o = eigh_node("eigh", a, uplo_, true)?;
    Ok((o[0].clone(), o[1].clone()))
}

/// The eigenvalues of [`eigh`] alone.
pub fn eigvalsh(a: &Array, uplo_: &str) -> Result<Array> {
    Ok(eigh_node("eigvalsh", a, uplo_, false)?.remove(0))
}

fn eig_node(op: &str, a: &Array, vectors: bool) -> Result<Vec<Array>> {
    check_matrix(op, a, true)?;
    check_square(op, a, "Only defined for square matrices.")?;
    let nd = a.ndim();
    let n = a.shape()[nd - 1];
    let mut outs = vec![([&a.shape()[..nd - 2], &[n]].concat(), Dtype::Complex64)];
    if vectors {
        outs.push((a.shape().to_vec(), Dtype::Complex64));
    }
    Ok(Array::from_multi_op(
        outs,
        Eig { vectors },
        vec![a.clone()],
        stream(),
    ))
}

/// Eigenvalues `(.., n)` and unit eigenvectors (columns of `(.., n, n)`) of general real
/// square matrices, both complex64 (as MLX, also for float64 input). Not differentiable.
///
/// Errors: fewer than 2 dimensions, not float32/float64, not square.
pub fn eig(a: &Array) -> Result<(Array, Array)> {
    let o = eig_node("eig", a, true)?;
    Ok((o[0].clone(), o[1].clone()))
}

/// The eigenvalues of [`eig`] alone.
pub fn eigvals(a: &Array) -> Result<Array> {
    Ok(eig_node("eigvals", a, false)?.remove(0))
}
