//! Shape arithmetic shared by the ops: axes, broadcasting.
//!
//! ```
//! use ferrox::shape::{broadcast_shapes, normalize_axis};
//! assert_eq!(broadcast_shapes(&[3, 1], &[1, 4])?, vec![3, 4]);
//! assert_eq!(normalize_axis(-1, 3)?, 2);
//! assert!(broadcast_shapes(&[3], &[4]).is_err());
//! # Ok::<(), ferrox::Error>(())
//! ```

use crate::{Error, Result};

/// Maps a possibly negative axis into `0..ndim`, or names the problem. An axis out of
/// range is an [`Error::Index`] (`IndexError`), as in MLX.
pub fn normalize_axis(axis: isize, ndim: usize) -> Result<usize> {
    let n = ndim as isize;
    if axis < -n || axis >= n {
        return Err(Error::Index(format!(
            "Invalid axis {axis} for array with {ndim} dimensions."
        )));
    }
    Ok(if axis < 0 {
        (axis + n) as usize
    } else {
        axis as usize
    })
}

/// Normalizes a list of axes, rejecting repeats.
pub fn normalize_axes(axes: &[isize], ndim: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let ax = normalize_axis(a, ndim)?;
        if out.contains(&ax) {
            return Err(Error::Invalid(format!(
                "Duplicate axes detected: {a} in {axes:?}."
            )));
        }
        out.push(ax);
    }
    Ok(out)
}

/// The shape two shapes broadcast to (NumPy's rules), or an error naming both.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::Invalid(format!(
                "Shapes {a:?} and {b:?} cannot be broadcast."
            )));
        };
    }
    Ok(out)
}

/// Element count of a shape, or an error if it overflows.
pub fn checked_size(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "Shape {shape:?} has more elements than fit in memory."
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes(&[], &[2, 2]).unwrap(), vec![2, 2]);
        assert_eq!(broadcast_shapes(&[0, 1], &[1, 5]).unwrap(), vec![0, 5]);
        let e = broadcast_shapes(&[3, 2], &[4]).unwrap_err().to_string();
        assert!(e.contains("[3, 2]") && e.contains("[4]"), "{e}");
    }

    #[test]
    fn axes() {
        assert_eq!(normalize_axis(-1, 3).unwrap(), 2);
        assert!(normalize_axis(3, 3).is_err());
        assert!(normalize_axes(&[0, -2], 2).is_err());
    }
}
