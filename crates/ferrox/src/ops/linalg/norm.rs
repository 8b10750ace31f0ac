//! `norm`: vector norms (any real `ord`, inf, -inf, 0) along one axis and matrix norms
//! ('fro', 'nuc', ±inf, ±1, ±2) over two, composed of reductions and the SVD.

use crate::array::Array;
use crate::ops;
use crate::shape::normalize_axes;
use crate::{Error, Result};

/// The `ord` of [`norm`]: a number (`f64::INFINITY` for inf) or 'fro' / 'nuc'.
#[derive(Clone, Debug, PartialEq)]
pub enum NormOrd {
    Num(f64),
    Str(String),
}

fn invalid(msg: String) -> Error {
    Error::Invalid(format!("[linalg::norm] {msg}"))
}

/// Matrix or vector norm of `a`, with MLX's rules:
/// - `axis = None`: with `ord = None`, the 2-norm of all elements (any ndim); with an
///   `ord`, `a` must be 1-D (vector norm) or 2-D (matrix norm);
/// - one axis: vector norm (`None`/2: Euclidean, inf/-inf: max/min |x|, 0: count of
///   non-zeros, other p: `(Σ|x|^p)^(1/p)`);
/// - two axes: matrix norm (`None`/'fro': Frobenius, 'nuc': sum of singular values,
///   inf/-inf: max/min row sum of |x|, 1/-1: max/min column sum, 2/-2: largest/smallest
///   singular value).
///
/// Integer input gives float32. `keepdims` keeps the reduced axes with extent 1.
///
/// Errors: more than two axes (with an `ord`, or given), an `ord` invalid for the number
/// of axes, repeated axes; an axis out of range is an `Error::Index`.
pub fn norm(
    a: &Array,
    ord: Option<&NormOrd>,
    axis: Option<&[isize]>,
    keepdims: bool,
) -> Result<Array> {
    let x = if a.dtype().is_inexact() {
        a.clone()
    } else {
        ops::astype(a, crate::dtype::Dtype::Float32)?
    };
    let nd = x.ndim() as isize;
    let axes: Vec<isize> = match axis {
        Some(ax) => ax.to_vec(),
        None if ord.is_none() => {
            // The 2-norm of every element, whatever the ndim.
            let all: Vec<isize> = (0..nd).collect();
            return l2(&x, &all, keepdims);
        }
        None => (0..nd).collect(),
    };
    let norm_axes = normalize_axes(&axes, x.ndim())?;
    let mut sorted = norm_axes.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != norm_axes.len() {
        return Err(Error::Invalid(
            "Duplicate axes detected in reduction.".into(),
        ));
    }
    let axes: Vec<isize> = norm_axes.iter().map(|&i| i as isize).collect();
    match axes.len() {
        1 => vector_norm(&x, ord, axes[0], keepdims),
        2 => matrix_norm(&x, ord, axes[0], axes[1], keepdims),
        _ => Err(invalid("Received too many axes for norm.".into())),
    }
}

/// `sqrt(Σ |x|²)` over `axes`.
fn l2(x: &Array, axes: &[isize], keepdims: bool) -> Result<Array> {
    let sq = if x.dtype().is_complex() {
        ops::square(&ops::abs(x)?)?
    } else {
        ops::square(x)?
    };
    ops::sqrt(&ops::sum(&sq, axes, keepdims)?)
}

fn vector_norm(x: &Array, ord: Option<&NormOrd>, axis: isize, keepdims: bool) -> Result<Array> {
    let p = match ord {
        None => 2.0,
        Some(NormOrd::Num(p)) => *p,
        Some(NormOrd::Str(s)) => {
            return Err(invalid(format!(
                "Norm '{s}' only supported for matrices, but received 1 axis/axes."
            )))
        }
    };
    let ax = [axis];
    if p == 2.0 {
        return l2(x, &ax, keepdims);
    }
    let abs = ops::abs(x)?;
    if p == f64::INFINITY {
        ops::max(&abs, &ax, keepdims)
    } else if p == f64::NEG_INFINITY {
        ops::min(&abs, &ax, keepdims)
    } else if p == 0.0 {
        let nz = ops::not_equal(x, 0.0)?;
        ops::astype(&ops::sum(&nz, &ax, keepdims)?, abs.dtype())
    } else if p == 1.0 {
        ops::sum(&abs, &ax, keepdims)
    } else {
        let s = ops::sum(&ops::power(&abs, p)?, &ax, keepdims)?;
        ops::power(&s, 1.0 / p)
    }
}

fn matrix_norm(
    x: &Array,
    ord: Option<&NormOrd>,
    r: isize,
    c: isize,
    keepdims: bool,
) -> Result<Array> {
    let p = match ord {
        None => return l2(x, &[r, c], keepdims),
        Some(NormOrd::Str(s)) if s == "fro" => return l2(x, &[r, c], keepdims),
        Some(NormOrd::Str(s)) if s == "nuc" => return singular(x, r, c, keepdims, 0),
        Some(NormOrd::Str(s)) => {
            return Err(invalid(format!("Invalid ord value '{s}' for matrix norm.")))
        }
        Some(NormOrd::Num(p)) => *p,
    };
    if p == 2.0 {
        return singular(x, r, c, keepdims, 1);
    }
    if p == -2.0 {
        return singular(x, r, c, keepdims, -1);
    }
    // ±inf: sums along the row (axis c), then max/min over rows; ±1: the columns.
    let (inner, outer) = if p.is_infinite() { (c, r) } else { (r, c) };
    if !(p.abs() == 1.0 || p.is_infinite()) {
        return Err(invalid(format!("Invalid ord {p} for matrix norm.")));
    }
    let sums = ops::sum(&ops::abs(x)?, &[inner], true)?;
    let red = if p > 0.0 {
        ops::max(&sums, &[outer], true)?
    } else {
        ops::min(&sums, &[outer], true)?
    };
    if keepdims {
        Ok(red)
    } else {
        ops::squeeze(&red, &[r, c])
    }
}

/// From the singular values over axes (r, c): their sum (`which = 0`), max (1) or
/// min (-1).
fn singular(x: &Array, r: isize, c: isize, keepdims: bool, which: i32) -> Result<Array> {
    // The two axes last (singular values do not depend on their order).
    let mut perm: Vec<isize> = (0..x.ndim() as isize)
        .filter(|&i| i != r && i != c)
        .collect();
    perm.extend([r, c]);
    let m = ops::transpose(x, &perm)?;
    let s = super::svd(&m, false)?.remove(0);
    let red = match which {
        0 => ops::sum(&s, &[-1], false)?,
        1 => ops::max(&s, &[-1], false)?,
        _ => ops::min(&s, &[-1], false)?,
    };
    if keepdims {
        let mut at = [r, c];
        at.sort();
        ops::expand_dims(&red, &at)
    } else {
        Ok(red)
    }
}
