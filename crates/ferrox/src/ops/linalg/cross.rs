//! `cross`: the cross product of 3-vectors (2-vectors padded with a zero third entry)
//! along one axis, composed of slices and elementwise ops.

use crate::array::Array;
use crate::ops;
use crate::{Error, Result};

/// Cross product of `a` and `b` along `axis` (of extent 2 or 3 in each; a 2-vector gets
/// a zero third component); the other axes broadcast and the dtypes promote. The result
/// has extent 3 along `axis`.
///
/// Errors: `axis` out of range (`Error::Index`), an extent other than 2 or 3, shapes
/// that do not broadcast.
pub fn cross(a: &Array, b: &Array, axis: isize) -> Result<Array> {
    let nd = a.ndim().max(b.ndim());
    let lift = |x: &Array| -> Result<Array> {
        let extra: Vec<isize> = (0..(nd - x.ndim()) as isize).collect();
        if extra.is_empty() {
            Ok(x.clone())
        } else {
            ops::expand_dims(x, &extra)
        }
    };
    let (a, b) = (lift(a)?, lift(b)?);
    let ax = if axis < 0 { axis + nd as isize } else { axis };
    if ax < 0 || ax >= nd as isize {
        return Err(Error::Index(format!(
            "[linalg::cross] Axis {axis} is out of bounds for array with {nd} dimensions."
        )));
    }
    let ax = ax as usize;
    let (na, nb) = (a.shape()[ax], b.shape()[ax]);
    if !matches!(na, 2 | 3) || !matches!(nb, 2 | 3) {
        return Err(Error::Invalid(
            "[linalg::cross] The specified axis must have size 2 or 3.".into(),
        ));
    }
    let dtype = crate::dtype::promote(a.dtype(), b.dtype());
    // Component i of x along the axis (a zero for the third of a 2-vector).
    let comp = |x: &Array, i: usize| -> Result<Array> {
        let x = ops::astype(x, dtype)?;
        if i >= x.shape()[ax] {
            let mut s = x.shape().to_vec();
            s[ax] = 1;
            return ops::zeros(&s, Some(dtype));
        }
        let mut start = vec![0isize; nd];
        let mut stop: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
        start[ax] = i as isize;
        stop[ax] = i as isize + 1;
        ops::slice(&x, &start, &stop, &vec![1; nd])
    };
    let (a0, a1, a2) = (comp(&a, 0)?, comp(&a, 1)?, comp(&a, 2)?);
    let (b0, b1, b2) = (comp(&b, 0)?, comp(&b, 1)?, comp(&b, 2)?);
    let c0 = ops::subtract(&ops::multiply(&a1, &b2)?, &ops::multiply(&a2, &b1)?)?;
    let c1 = ops::subtract(&ops::multiply(&a2, &b0)?, &ops::multiply(&a0, &b2)?)?;
    let c2 = ops::subtract(&ops::multiply(&a0, &b1)?, &ops::multiply(&a1, &b0)?)?;
    ops::concatenate(&[c0, c1, c2], Some(ax as isize))
}
