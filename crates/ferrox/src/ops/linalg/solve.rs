//! Inverses, solves and determinants, composed of the `Inverse`, `Det` and `Svd`
//! primitives and matmul (so their derivatives come from those).

use super::{check_matrix, check_square, shape_str};
use crate::array::Array;
use crate::dtype::{finfo, Dtype};
use crate::ops::{self, stream};
use crate::primitives::linalg::{inverse_of, mt, Det};
use crate::{Error, Result};

/// Inverse of square matrices `a` `(.., n, n)`. A singular matrix is an error when
/// evaluated (`Error::Runtime`, as MLX's LAPACK failure).
///
/// Errors: fewer than 2 dimensions, not float32/float64, not square.
pub fn inv(a: &Array) -> Result<Array> {
    check_matrix("inv", a, false)?;
    check_square("inv", a, "Inverses are only defined for square matrices.")?;
    Ok(inverse_of(a, None))
}

/// Inverse of the lower (`upper`: upper) triangle of square matrices `a`; the other
/// triangle is ignored. A zero on the diagonal is an error when evaluated.
///
/// Errors: as [`inv`] (MLX names `inv` in them).
pub fn tri_inv(a: &Array, upper: bool) -> Result<Array> {
    check_matrix("inv", a, false)?;
    check_square("inv", a, "Inverses are only defined for square matrices.")?;
    Ok(inverse_of(a, Some(upper)))
}

/// The inverse of `A = L Lᵀ` (`upper`: `A = Uᵀ U`) from its Cholesky factor `l`.
///
/// Errors: fewer than 2 dimensions, not float32/float64, not square.
pub fn cholesky_inv(l: &Array, upper: bool) -> Result<Array> {
    check_matrix("cholesky_inv", l, false)?;
    check_square(
        "cholesky_inv",
        l,
        "Cholesky inverse is only defined for square matrices.",
    )?;
    let li = inverse_of(l, Some(upper));
    if upper {
        ops::matmul(&li, &mt(&li)?)
    } else {
        ops::matmul(&mt(&li)?, &li)
    }
}

/// The checks of `solve`/`solve_triangular` (MLX's messages) and the float dtype both
/// operands take.
fn check_solve(op: &str, a: &Array, b: &Array) -> Result<(Array, Array)> {
    if a.ndim() < 2 {
        return Err(Error::Invalid(format!(
            "[linalg::{op}] First input must have >= 2 dimensions. Received array with {} dimensions.",
            a.ndim()
        )));
    }
    if b.ndim() < 1 {
        return Err(Error::Invalid(format!(
            "[linalg::{op}] Second input must have >= 1 dimensions. Received array with {} dimensions.",
            b.ndim()
        )));
    }
    let n = a.shape()[a.ndim() - 1];
    if a.shape()[a.ndim() - 2] != n {
        return Err(Error::Invalid(format!(
            "[linalg::{op}] First input must be a square matrix. Received array with shape {}.",
            shape_str(a.shape())
        )));
    }
    let rows = if b.ndim() == 1 {
        b.shape()[0]
    } else {
        b.shape()[b.ndim() - 2]
    };
    if rows != n {
        return Err(Error::Invalid(format!(
            "[linalg::{op}] Last dimension of first input with shape {} must match second to last dimension of second input with shape {}.",
            shape_str(a.shape()),
            shape_str(b.shape())
        )));
    }
    let dtype = crate::dtype::promote(a.dtype(), b.dtype());
    let name = if op == "solve" { "lu" } else { "inv" };
    check_matrix(name, &ops::zeros(&[1, 1], Some(dtype))?, false)?;
    Ok((ops::astype(a, dtype)?, ops::astype(b, dtype)?))
}

/// The solution `x` of `a @ x = b` for square `a` `(.., n, n)` and `b` `(.., n, k)` or
/// `(n)` (batch axes broadcast). A singular `a` is an error when evaluated.
///
/// Errors: `a` not a square matrix, `b` 0-D, mismatched `n`, not a float32/float64 pair.
pub fn solve(a: &Array, b: &Array) -> Result<Array> {
    let (a, b) = check_solve("solve", a, b)?;
    ops::matmul(&inverse_of(&a, None), &b)
}

/// The solution of `a @ x = b` with `a` lower (`upper`: upper) triangular (the other
/// triangle ignored); shapes as [`solve`].
///
/// Errors: as [`solve`].
pub fn solve_triangular(a: &Array, b: &Array, upper: bool) -> Result<Array> {
    let (a, b) = check_solve("solve_triangular", a, b)?;
    ops::matmul(&inverse_of(&a, Some(upper)), &b)
}

/// The float dtype a determinant is computed in: float32/float64 as they are, other
/// types in float32 (the result is cast back for float16/bfloat16, as MLX returns).
fn det_input(op: &str, a: &Array) -> Result<(Array, Dtype)> {
    if a.ndim() < 2 {
        return Err(Error::Invalid(format!(
            "[linalg::{op}] Arrays must have >= 2 dimensions. Received array with {} dimensions.",
            a.ndim()
        )));
    }
    check_square(op, a, "Only defined for square matrices.")?;
    let out = match a.dtype() {
        Dtype::Float64 => Dtype::Float64,
        Dtype::Float16 | Dtype::Bfloat16 => a.dtype(),
        d if d.is_complex() => {
            return Err(Error::Invalid(format!(
                "[linalg::{op}] Arrays must have type float32 or float64. Received array with type {d}."
            )))
        }
        _ => Dtype::Float32,
    };
    let compute = if out == Dtype::Float64 {
        Dtype::Float64
    } else {
        Dtype::Float32
    };
    Ok((ops::astype(a, compute)?, out))
}

/// Determinants of square matrices `a` `(.., n, n)`, shape `(..)`. Integer input is
/// computed in float32; float16/bfloat16 in float32 and returned in their type.
///
/// Errors: fewer than 2 dimensions, not square, complex.
pub fn det(a: &Array) -> Result<Array> {
    let (x, out) = det_input("det", a)?;
    let nd = x.ndim();
    let d = Array::from_op(
        x.shape()[..nd - 2].to_vec(),
        x.dtype(),
        Det { log: false },
        vec![x],
        stream(),
    );
    ops::astype(&d, out)
}

/// `(sign, log|det|)` of square matrices `a`, each of shape `(..)`; a singular matrix
/// gives `(0, -inf)`. Dtypes as [`det`].
///
/// Errors: as [`det`].
pub fn slogdet(a: &Array) -> Result<(Array, Array)> {
    let (x, out) = det_input("slogdet", a)?;
    let nd = x.ndim();
    let batch = x.shape()[..nd - 2].to_vec();
    let o = Array::from_multi_op(
        vec![(batch.clone(), x.dtype()), (batch, x.dtype())],
        Det { log: true },
        vec![x],
        stream(),
    );
    Ok((ops::astype(&o[0], out)?, ops::astype(&o[1], out)?))
}

/// Moore–Penrose pseudo-inverse of `a` `(.., m, n)`, shape `(.., n, m)`, from the SVD:
/// singular values below `max(m, n) · eps · s_max` count as zero.
///
/// Errors: fewer than 2 dimensions, not float32/float64.
pub fn pinv(a: &Array) -> Result<Array> {
    check_matrix("pinv", a, false)?;
    let nd = a.ndim();
    let (m, n) = (a.shape()[nd - 2], a.shape()[nd - 1]);
    let k = m.min(n);
    let o = crate::primitives::linalg::svd_full(a);
    let (u, s, vt) = (&o[0], &o[1], &o[2]);
    let lead = |x: &Array, axis: usize| -> Result<Array> {
        let mut stop: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
        stop[axis] = k as isize;
        ops::slice(x, &vec![0; nd], &stop, &vec![1; nd])
    };
    let uk = lead(u, nd - 1)?;
    let vk = mt(&lead(vt, nd - 2)?)?;
    let eps = finfo(a.dtype())?.eps * m.max(n) as f64;
    let smax = ops::max(s, &[-1], true)?;
    let keep = ops::greater(s, &ops::multiply(&smax, eps)?)?;
    // 1/s where kept; the division by a zero singular value is replaced, not used.
    let safe = ops::where_(&keep, s, 1.0)?;
    let sinv = ops::where_(&keep, &ops::reciprocal(&safe)?, 0.0)?;
    ops::matmul(
        &ops::multiply(&vk, &ops::expand_dims(&sinv, &[-2])?)?,
        &mt(&uk)?,
    )
}
