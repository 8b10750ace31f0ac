//! Products over chosen parts of the operands: `gather_mm` (a matrix of `a` times a
//! matrix of `b` for each pair of indices, as a mixture of experts routes tokens),
//! `segmented_mm` (`a @ b` over ranges of the contracted axis) and `block_masked_mm`
//! (a product with blocks of the operands and of the result masked out).

use super::{astype, broadcast_to, stream};
use crate::array::Array;
use crate::dtype::{promote, Dtype};
use crate::primitives::gathered::GatherMm;
use crate::shape::broadcast_shapes;
use crate::{Error, Result};

/// The dtype of a product of `a` and `b`, which must be a real float.
fn real_float(op: &str, a: &Array, b: &Array) -> Result<Dtype> {
    let d = promote(a.dtype(), b.dtype());
    if d.is_floating() {
        Ok(d)
    } else {
        Err(Error::Invalid(format!(
            "[{op}] Only real floating point types are supported but {} and {} were provided \
             which results in {d}, which is not a real floating point type.",
            a.dtype(),
            b.dtype()
        )))
    }
}

/// MLX's check that `a` (named `what`, e.g. "indices") holds integers.
fn integral(op: &str, what: &str, a: &Array) -> Result<()> {
    if a.dtype().is_integer() {
        return Ok(());
    }
    let mut name = what.to_string();
    name[..1].make_ascii_uppercase();
    Err(Error::Invalid(format!(
        "[{op}] Got {what} with invalid dtype. {name} must be integral."
    )))
}

fn contracted_mismatch(op: &str, a: &Array, b: &Array) -> Error {
    Error::Invalid(format!(
        "[{op}] Last dimension of first input with shape {:?} must match second to last \
         dimension of second input with shape {:?}.",
        a.shape(),
        b.shape()
    ))
}

/// The indices of every matrix of a batch of shape `batch`, laid out in that shape.
fn every_matrix(batch: &[usize]) -> Result<Array> {
    let n: usize = batch.iter().product();
    super::arange(0.0, n as f64, 1.0, Some(Dtype::Uint32))?.reshape(batch)
}

/// `out[i] = a[lhs_indices[i]] @ b[rhs_indices[i]]`: the indices (integers, broadcast
/// together to the output's batch shape) pick matrices from the batch axes of `a`
/// (`[..., m, k]`) and `b` (`[..., k, n]`), flattened. A missing index array picks every
/// matrix in order, so without indices this is a batched `matmul`. A 1-D `a` or `b` is a
/// row or a column, as in `matmul`. `sorted_indices` is a hint MLX uses on GPUs; the
/// result is the same. An index past the end of its batch is clamped to it (MLX does not
/// check; reading past the operand is not an option here).
///
/// ```
/// use ferrox::{ops, Array};
/// let experts = ops::arange(0.0, 12.0, 1.0, None)?.reshape(&[3, 2, 2])?;
/// let x = Array::from_slice(&[1.0f32, 0.0], &[1, 2])?;
/// let routes = Array::from_slice(&[2u32, 0], &[2])?;
/// let y = ops::gather_mm(&x, &experts, None, Some(&routes), false)?;
/// assert_eq!(y.shape(), &[2, 1, 2]);
/// assert_eq!(y.to_vec::<f32>()?, [8.0, 9.0, 0.0, 1.0]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn gather_mm(
    a: &Array,
    b: &Array,
    lhs_indices: Option<&Array>,
    rhs_indices: Option<&Array>,
    sorted_indices: bool,
) -> Result<Array> {
    let _ = sorted_indices;
    const OP: &str = "gather_mm";
    for idx in [lhs_indices, rhs_indices].into_iter().flatten() {
        integral(OP, "indices", idx)?;
    }
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err(Error::Invalid(format!(
            "[{OP}] Got 0 dimension input. Inputs must have at least one dimension."
        )));
    }
    let dtype = real_float(OP, a, b)?;
    let (a_vec, b_vec) = (a.ndim() == 1, b.ndim() == 1);
    let a2 = if a_vec {
        a.reshape(&[1, a.size()])?
    } else {
        a.clone()
    };
    let b2 = if b_vec {
        b.reshape(&[b.size(), 1])?
    } else {
        b.clone()
    };
    let (an, bn) = (a2.ndim(), b2.ndim());
    let (m, k) = (a2.shape()[an - 2], a2.shape()[an - 1]);
    let (k2, n) = (b2.shape()[bn - 2], b2.shape()[bn - 1]);
    if k != k2 {
        return Err(contracted_mismatch(OP, a, b));
    }
    let lhs = match lhs_indices {
        Some(i) => i.clone(),
        None => every_matrix(&a2.shape()[..an - 2])?,
    };
    let rhs = match rhs_indices {
        Some(i) => i.clone(),
        None => every_matrix(&b2.shape()[..bn - 2])?,
    };
    let batch = broadcast_shapes(lhs.shape(), rhs.shape())?;
    let items: usize = batch.iter().product();
    let flat = |x: &Array| broadcast_to(x, &batch)?.reshape(&[items]);
    let (lhs, rhs) = (
        astype(&flat(&lhs)?, Dtype::Int64)?,
        astype(&flat(&rhs)?, Dtype::Int64)?,
    );
    let a3 = astype(&a2, dtype)?.reshape(&[a2.size() / (m * k).max(1), m, k])?;
    let b3 = astype(&b2, dtype)?.reshape(&[b2.size() / (k * n).max(1), k, n])?;
    let y = gather_mm_flat(&a3, &b3, &lhs, &rhs)?;
    let mut shape = batch;
    if !a_vec {
        shape.push(m);
    }
    if !b_vec {
        shape.push(n);
    }
    y.reshape(&shape)
}

/// The primitive on flattened operands: `a [ba, m, k]`, `b [bb, k, n]`, int64 indices
/// `[items]` -> `[items, m, n]`.
pub(crate) fn gather_mm_flat(a: &Array, b: &Array, lhs: &Array, rhs: &Array) -> Result<Array> {
    let (m, n) = (a.shape()[1], b.shape()[2]);
    if (a.shape()[0] == 0 || b.shape()[0] == 0) && lhs.size() > 0 {
        return Err(Error::Index(format!(
            "[gather_mm] Cannot gather from an empty batch (shapes {:?} and {:?}).",
            a.shape(),
            b.shape()
        )));
    }
    Ok(Array::from_op(
        vec![lhs.size(), m, n],
        a.dtype(),
        GatherMm,
        vec![a.clone(), b.clone(), lhs.clone(), rhs.clone()],
        stream(),
    ))
}

/// `out[s] = a[:, start_s:end_s] @ b[start_s:end_s, :]` for each row `(start, end)` of
/// `segments` (integers, shape `[..., 2]`); the result has shape
/// `segments.shape[:-1] + [m, n]`. An empty or reversed segment gives zeros; bounds are
/// clamped to `[0, k]`. `a` and `b` are matrices (MLX has no batched form).
///
/// ```
/// use ferrox::{ops, Array};
/// let a = Array::from_slice(&[1.0f32, 2.0, 3.0], &[1, 3])?;
/// let b = Array::from_slice(&[1.0f32, 1.0, 1.0], &[3, 1])?;
/// let segments = Array::from_slice(&[0i32, 1, 1, 3], &[2, 2])?;
/// let y = ops::segmented_mm(&a, &b, &segments)?;
/// assert_eq!(y.to_vec::<f32>()?, [1.0, 5.0]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn segmented_mm(a: &Array, b: &Array, segments: &Array) -> Result<Array> {
    const OP: &str = "segmented_mm";
    integral(OP, "segments", segments)?;
    let dtype = real_float(OP, a, b)?;
    if a.ndim() != 2 || b.ndim() != 2 {
        return Err(Error::Invalid(format!(
            "[{OP}] Batched matmul not supported (a and b must be matrices, got shapes {:?} \
             and {:?}).",
            a.shape(),
            b.shape()
        )));
    }
    if segments.ndim() == 0 || segments.shape()[segments.ndim() - 1] != 2 {
        return Err(Error::Invalid(format!(
            "[{OP}] The last axis of segments must hold (start, end) pairs, got shape {:?}.",
            segments.shape()
        )));
    }
    let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
    if b.shape()[0] != k {
        return Err(contracted_mismatch(OP, a, b));
    }
    // Each segment is a 0/1 mask over the contracted axis: out[s] = (a * mask_s) @ b.
    let lead = &segments.shape()[..segments.ndim() - 1];
    let count: usize = lead.iter().product();
    let seg = astype(segments, Dtype::Int64)?.reshape(&[count, 2])?;
    let bound = |col: isize| -> Result<Array> {
        let v = super::slice(&seg, &[0, col], &[count as isize, col + 1], &[1, 1])?;
        super::minimum(&super::maximum(&v, 0.0)?, k as f64)
    };
    let (start, end) = (bound(0)?, bound(1)?);
    let pos = super::arange(0.0, k as f64, 1.0, Some(Dtype::Int64))?.reshape(&[1, k])?;
    let inside = super::logical_and(
        &super::greater_equal(&pos, &start)?,
        &super::less(&pos, &end)?,
    )?;
    let a = astype(a, dtype)?;
    let masked = super::where_(
        &inside.reshape(&[count, 1, k])?,
        &a.reshape(&[1, m, k])?,
        0.0,
    )?;
    let y = super::matmul(&masked, &astype(b, dtype)?)?;
    let mut shape = lead.to_vec();
    shape.extend([m, n]);
    y.reshape(&shape)
}

/// Block sizes `block_masked_mm` takes (MLX's).
const MASK_BLOCKS: [usize; 2] = [32, 64];

/// `(a * lhs) @ (b * rhs) * out` where each mask holds one value per `block_size` square
/// block (the last blocks may be partial): `mask_lhs` `[..., ceil(m/bs), ceil(k/bs)]`,
/// `mask_rhs` `[..., ceil(k/bs), ceil(n/bs)]`, `mask_out` `[..., ceil(m/bs), ceil(n/bs)]`
/// (broadcast over the batch). Boolean masks select (a masked block is zero even where the
/// operand holds inf or NaN); float masks scale.
///
/// ```
/// use ferrox::{ops, Array};
/// let a = ops::ones(&[64, 64], None)?;
/// let keep = Array::from_slice(&[true, false, false, true], &[2, 2])?;
/// let y = ops::block_masked_mm(&a, &a, 32, Some(&keep), None, None)?;
/// let v = y.to_vec::<f32>()?;
/// assert_eq!((v[0], v[32], v[64 * 64 - 1]), (64.0, 0.0, 64.0));
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn block_masked_mm(
    a: &Array,
    b: &Array,
    block_size: usize,
    mask_out: Option<&Array>,
    mask_lhs: Option<&Array>,
    mask_rhs: Option<&Array>,
) -> Result<Array> {
    const OP: &str = "block_masked_mm";
    if !MASK_BLOCKS.contains(&block_size) {
        return Err(Error::Invalid(format!(
            "[{OP}] Only block_sizes 32, 64 are supported.Got block size {block_size}."
        )));
    }
    if a.ndim() < 2 || b.ndim() < 2 {
        return Err(Error::Invalid(format!(
            "[{OP}] Inputs must have at least two dimensions, got shapes {:?} and {:?}.",
            a.shape(),
            b.shape()
        )));
    }
    let (an, bn) = (a.ndim(), b.ndim());
    let (m, k, n) = (a.shape()[an - 2], a.shape()[an - 1], b.shape()[bn - 1]);
    if b.shape()[bn - 2] != k {
        return Err(contracted_mismatch(OP, a, b));
    }
    let batch = broadcast_shapes(&a.shape()[..an - 2], &b.shape()[..bn - 2])?;
    let blocks = |x: usize| x.div_ceil(block_size);
    // A mask expanded to one value per element of a `rows x cols` operand.
    let expand = |mask: &Array, rows: usize, cols: usize| -> Result<Array> {
        let mut want = batch.clone();
        want.extend([blocks(rows), blocks(cols)]);
        let full = broadcast_shapes(mask.shape(), &want)?;
        if full != want {
            return Err(Error::Invalid(format!(
                "[{OP}] A mask of shape {:?} does not fit the {want:?} blocks of its operand.",
                mask.shape()
            )));
        }
        let x = broadcast_to(mask, &want)?;
        let nd = want.len() as isize;
        let x = super::repeat(
            &super::repeat(&x, block_size, Some(nd - 2))?,
            block_size,
            Some(nd - 1),
        )?;
        let mut stop: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
        stop[want.len() - 2] = rows as isize;
        stop[want.len() - 1] = cols as isize;
        super::slice(&x, &vec![0; want.len()], &stop, &vec![1; want.len()])
    };
    let apply = |x: &Array, mask: Option<&Array>, rows: usize, cols: usize| -> Result<Array> {
        match mask {
            None => Ok(x.clone()),
            Some(mk) => {
                let e = expand(mk, rows, cols)?;
                if e.dtype() == Dtype::Bool {
                    super::where_(&e, x, 0.0)
                } else {
                    super::multiply(x, &e)
                }
            }
        }
    };
    let a = apply(a, mask_lhs, m, k)?;
    let b = apply(b, mask_rhs, k, n)?;
    let y = super::matmul(&a, &b)?;
    apply(&y, mask_out, m, n)
}
