//! Products: `matmul`, `addmm`, `inner`, `outer`, `kron`, `tensordot`, `vecdot`, and
//! the Walsh-Hadamard transform.

use super::{astype, broadcast_to, stream};
use crate::array::Array;
use crate::dtype::promote;
use crate::primitives::matmul::Matmul;
use crate::shape::broadcast_shapes;
use crate::{Error, Result};

/// Checks and broadcasts `a @ b` (1-D operands promoted as NumPy does); returns the
/// 2-D-or-more operands, the output shape, and the axes to drop afterwards.
fn prepare(a: &Array, b: &Array, name: &str) -> Result<(Array, Array, Vec<usize>, Vec<usize>)> {
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err(Error::Invalid(format!(
            "[{name}] Got 0 dimension input. Inputs must have at least one dimension."
        )));
    }
    let dtype = promote(a.dtype(), b.dtype());
    if !dtype.is_inexact() {
        return Err(Error::Invalid(format!(
            "[{name}] Only inexact types are supported but {} and {} were given which results in {dtype}.",
            a.dtype(),
            b.dtype()
        )));
    }
    let (a1, b1) = (a.ndim() == 1, b.ndim() == 1);
    let a = if a1 {
        a.reshape(&[1, a.shape()[0]])?
    } else {
        a.clone()
    };
    let b = if b1 {
        b.reshape(&[b.shape()[0], 1])?
    } else {
        b.clone()
    };
    let (an, bn) = (a.ndim(), b.ndim());
    let (m, k) = (a.shape()[an - 2], a.shape()[an - 1]);
    let (k2, n) = (b.shape()[bn - 2], b.shape()[bn - 1]);
    if k != k2 {
        return Err(Error::Invalid(format!(
            "[{name}] Last dimension of first input with shape {:?} must match second to last \
             dimension of second input with shape {:?}.",
            a.shape(),
            b.shape()
        )));
    }
    let batch = broadcast_shapes(&a.shape()[..an - 2], &b.shape()[..bn - 2])?;
    let mut ashape = batch.clone();
    ashape.extend([m, k]);
    let mut bshape = batch.clone();
    bshape.extend([k, n]);
    let a = broadcast_to(&astype(&a, dtype)?, &ashape)?;
    let b = broadcast_to(&astype(&b, dtype)?, &bshape)?;
    let mut out = batch;
    out.extend([m, n]);
    let mut drop = vec![];
    if a1 {
        drop.push(out.len() - 2);
    }
    if b1 {
        drop.push(out.len() - 1);
    }
    Ok((a, b, out, drop))
}

fn finish(r: Array, out: &[usize], drop: &[usize]) -> Result<Array> {
    if drop.is_empty() {
        return Ok(r);
    }
    let shape: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, &n)| n)
        .collect();
    r.reshape(&shape)
}

/// Matrix product with NumPy's rules for 1-D operands and broadcast batch axes.
/// Only float and complex dtypes.
pub fn matmul(a: &Array, b: &Array) -> Result<Array> {
    let (a, b, out, drop) = prepare(a, b, "matmul")?;
    let dtype = a.dtype();
    let r = Array::from_op(
        out.clone(),
        dtype,
        Matmul {
            alpha: 1.0,
            beta: 0.0,
        },
        vec![a, b],
        stream(),
    );
    finish(r, &out, &drop)
}

/// `alpha * (a @ b) + beta * c`, with `c` broadcast to the product's shape.
pub fn addmm(c: &Array, a: &Array, b: &Array, alpha: f64, beta: f64) -> Result<Array> {
    let (a, b, out, drop) = prepare(a, b, "addmm")?;
    let dtype = promote(a.dtype(), c.dtype());
    let (a, b) = (astype(&a, dtype)?, astype(&b, dtype)?);
    let squeezed: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, &n)| n)
        .collect();
    if broadcast_shapes(c.shape(), &squeezed)
        .map(|s| s != squeezed)
        .unwrap_or(true)
    {
        return Err(Error::Invalid(format!(
            "[addmm] c with shape {:?} cannot be broadcast to the product's shape {squeezed:?}.",
            c.shape()
        )));
    }
    let c = broadcast_to(&astype(c, dtype)?, &squeezed)?.reshape(&out)?;
    let r = Array::from_op(
        out.clone(),
        dtype,
        Matmul { alpha, beta },
        vec![a, b, c],
        stream(),
    );
    finish(r, &out, &drop)
}

/// Inner product over the last axes (NumPy's `inner`).
pub fn inner(a: &Array, b: &Array) -> Result<Array> {
    if a.ndim() == 0 || b.ndim() == 0 {
        return super::multiply(a, b);
    }
    let (ka, kb) = (a.shape()[a.ndim() - 1], b.shape()[b.ndim() - 1]);
    if ka != kb {
        return Err(Error::Invalid(format!(
            "[inner] a and b must have the same last dimension, got {:?} and {:?}.",
            a.shape(),
            b.shape()
        )));
    }
    tensordot_axes(a, b, &[a.ndim() as isize - 1], &[b.ndim() as isize - 1])
}

/// Outer product of the flattened inputs.
pub fn outer(a: &Array, b: &Array) -> Result<Array> {
    let a = a.reshape(&[a.size(), 1])?;
    let b = b.reshape(&[1, b.size()])?;
    super::multiply(&a, &b)
}

/// The Kronecker product: the shorter shape is padded with leading 1s, and the result
/// has extent `a.shape[i] * b.shape[i]` along each axis, `b` scaled by each of `a`'s
/// elements in turn.
///
/// ```
/// use ferrox::{ops, Array};
/// let a = Array::from_slice(&[1i32, 2], &[2])?;
/// let b = Array::from_slice(&[1i32, 10, 100], &[3])?;
/// assert_eq!(ops::kron(&a, &b)?.to_vec::<i32>()?, [1, 10, 100, 2, 20, 200]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn kron(a: &Array, b: &Array) -> Result<Array> {
    let nd = a.ndim().max(b.ndim());
    let pad = |x: &Array| -> Vec<usize> {
        let mut s = vec![1; nd - x.ndim()];
        s.extend_from_slice(x.shape());
        s
    };
    let (sa, sb) = (pad(a), pad(b));
    // a as (a0, 1, a1, 1, ..), b as (1, b0, 1, b1, ..): their product is laid out as
    // (a0, b0, a1, b1, ..), which merges pairwise into the result.
    let inter_a: Vec<usize> = sa.iter().flat_map(|&n| [n, 1]).collect();
    let inter_b: Vec<usize> = sb.iter().flat_map(|&n| [1, n]).collect();
    let p = super::multiply(&a.reshape(&inter_a)?, &b.reshape(&inter_b)?)?;
    let out: Vec<usize> = sa.iter().zip(&sb).map(|(x, y)| x * y).collect();
    p.reshape(&out)
}

/// Hadamard matrices of orders 12, 20 and 28, a row per string (`+` is 1, `-` is -1):
/// the ones MLX uses for sizes `m * 2^k` (so results agree with MLX's exactly).
const H12: [&str; 12] = [
    "+-++++++++++",
    "--+-+-+-+-+-",
    "+++-++----++",
    "+---+--+-++-",
    "+++++-++----",
    "+-+---+--+-+",
    "++--+++-++--",
    "+--++---+--+",
    "++----+++-++",
    "+--+-++---+-",
    "++++----+++-",
    "+-+--+-++---",
];
const H20: [&str; 20] = [
    "+-----++++--++--+--+",
    "-+---+-+++---+++-+--",
    "--+--++-+++---+-+-+-",
    "---+-+++-+++-----+-+",
    "----+++++--++--+--+-",
    "+----+----+-++---++-",
    "-+----+----+-++---++",
    "--+----+--+-+-++---+",
    "---+----+-++-+-++---",
    "----+----+-++-+-++--",
    "++--+-+--++----+----",
    "+++--+-+---+----+---",
    "-+++--+-+---+----+--",
    "--+++--+-+---+----+-",
    "+--+++--+-----+----+",
    "+-++-++--+-+++++----",
    "-+-+++++--+-+++-+---",
    "+-+-+-+++-++-++--+--",
    "++-+---++++++-+---+-",
    "-++-++--++++++-----+",
];
const H28: [&str; 28] = [
    "+--------++++--+-++-+-++--++",
    "-+--------+++++-+-++-+-++--+",
    "--+----+---+++-+-+-++++-++--",
    "---+---++---+++-+-+-+-++-++-",
    "----+--+++---+++-+-+---++-++",
    "-----+-++++----++-+-++--++-+",
    "------+-++++--+-++-+-++--++-",
    "++----++------+--++---+-++-+",
    "+++-----+------+--++-+-+-++-",
    "-+++-----+------+--++-+-+-++",
    "--+++-----+---+--+--++-+-+-+",
    "---+++-----+--++--+--++-+-+-",
    "----+++-----+--++--+--++-+-+",
    "+----++------+--++--++-++-+-",
    "+-+--+--++--+++------++----+",
    "-+-+--++-++--+-+-----+++----",
    "+-+-+--++-++----+-----+++---",
    "-+-+-+--++-++----+-----+++--",
    "--+-+-+--++-++----+-----+++-",
    "+--+-+-+--++-+-----+-----+++",
    "-+--+-+++--++-------++----++",
    "+--++--+-+--+---++++-+------",
    "-+--++--+-+--+---++++-+-----",
    "--+--+++-+-+--+---+++--+----",
    "+--+--+-+-+-+-++---++---+---",
    "++--+----+-+-++++---+----+--",
    "-++--+-+--+-+-++++--------+-",
    "--++--+-+--+-+-++++--------+",
];

/// The odd factor `m` of a size `n = m * 2^k` that `hadamard_transform` takes, with its
/// matrix (none for `m = 1`).
fn hadamard_factor(n: usize) -> Option<(usize, Option<&'static [&'static str]>)> {
    if n.is_power_of_two() {
        return Some((1, None));
    }
    [(12, &H12[..]), (20, &H20[..]), (28, &H28[..])]
        .into_iter()
        .find(|&(m, _)| n % m == 0 && (n / m).is_power_of_two())
        .map(|(m, h)| (m, Some(h)))
}

/// The Walsh-Hadamard transform along the last axis, times `scale` (default
/// `1/sqrt(n)`, which makes it orthonormal): `x @ H_n`. For `n` a power of two `H_n` is
/// Sylvester's matrix (`H_2n = [[H_n, H_n], [H_n, -H_n]]`), applied in `log2 n` butterfly
/// stages; for `n = m * 2^k` with m in 12, 20, 28 it is `kron(H_m, H_2^k)`, the
/// butterflies then a product with `H_m`, as MLX does. The result keeps a float dtype
/// (integers give float32); float16 and bfloat16 compute in float32 and round once.
pub fn hadamard_transform(a: &Array, scale: Option<f64>) -> Result<Array> {
    let n = a.shape().last().copied().unwrap_or(1);
    let Some((m, hm)) = hadamard_factor(n) else {
        return Err(Error::Invalid(format!(
            "[hadamard] Only supports n = m*2^k where m in (1, 12, 20, 28), got n = {n}."
        )));
    };
    use crate::Dtype::{Float32, Float64};
    let dtype = if a.dtype().is_floating() {
        a.dtype()
    } else {
        Float32
    };
    // Half types compute in float32 and round once at the end, not at every stage.
    let compute = if dtype == Float64 { Float64 } else { Float32 };
    let shape = a.shape().to_vec();
    let p = n / m;
    let rows = a.size() / p.max(1);
    let mut x = super::astype(a, compute)?;
    // Stage s pairs elements `h` apart (h = p/2, p/4, .., 1): (u, v) -> (u + v, u - v).
    let mut h = p / 2;
    while h >= 1 {
        let y = x.reshape(&[rows, p / (2 * h), 2, h])?;
        let u = super::slice(
            &y,
            &[0, 0, 0, 0],
            &[rows as isize, (p / (2 * h)) as isize, 1, h as isize],
            &[1; 4],
        )?;
        let v = super::slice(
            &y,
            &[0, 0, 1, 0],
            &[rows as isize, (p / (2 * h)) as isize, 2, h as isize],
            &[1; 4],
        )?;
        let pair = [super::add(&u, &v)?, super::subtract(&u, &v)?];
        x = super::concatenate(&pair, Some(2))?;
        h /= 2;
    }
    if let Some(hm) = hm {
        // y[c, d] = sum_a H_m[a, c] * x[a, d] over the (m, p) view of each row.
        let signs: Vec<f64> = hm
            .iter()
            .flat_map(|r| r.bytes().map(|b| if b == b'+' { 1.0 } else { -1.0 }))
            .collect();
        let hm_t = super::astype(
            &super::matrix_transpose(&Array::from_slice(&signs, &[m, m])?)?,
            compute,
        )?;
        x = matmul(&hm_t, &x.reshape(&[rows / m, m, p])?)?;
    }
    let scale = scale.unwrap_or(1.0 / (n as f64).sqrt());
    let x = super::multiply(&x.reshape(&shape)?, scale)?;
    super::astype(&x, dtype)
}

/// Contraction over the last `axes` of `a` and the first `axes` of `b`.
pub fn tensordot(a: &Array, b: &Array, axes: usize) -> Result<Array> {
    if axes > a.ndim() || axes > b.ndim() {
        return Err(Error::Invalid(format!(
            "[tensordot] axes {axes} exceeds the dimensions of shapes {:?} and {:?}.",
            a.shape(),
            b.shape()
        )));
    }
    let ax_a: Vec<isize> = (a.ndim() - axes..a.ndim()).map(|i| i as isize).collect();
    let ax_b: Vec<isize> = (0..axes).map(|i| i as isize).collect();
    tensordot_axes(a, b, &ax_a, &ax_b)
}

/// Contraction over the paired axes `axes_a` of `a` and `axes_b` of `b`.
pub fn tensordot_axes(a: &Array, b: &Array, axes_a: &[isize], axes_b: &[isize]) -> Result<Array> {
    if axes_a.len() != axes_b.len() {
        return Err(Error::Invalid(
            "[tensordot] Both axes lists must have the same length.".into(),
        ));
    }
    let xa = crate::shape::normalize_axes(axes_a, a.ndim())?;
    let xb = crate::shape::normalize_axes(axes_b, b.ndim())?;
    for (&i, &j) in xa.iter().zip(&xb) {
        if a.shape()[i] != b.shape()[j] {
            return Err(Error::Invalid(format!(
                "[tensordot] Contracted axes of shapes {:?} and {:?} differ in size.",
                a.shape(),
                b.shape()
            )));
        }
    }
    let free_a: Vec<usize> = (0..a.ndim()).filter(|i| !xa.contains(i)).collect();
    let free_b: Vec<usize> = (0..b.ndim()).filter(|i| !xb.contains(i)).collect();
    let k: usize = xa.iter().map(|&i| a.shape()[i]).product();
    let m: usize = free_a.iter().map(|&i| a.shape()[i]).product();
    let n: usize = free_b.iter().map(|&i| b.shape()[i]).product();
    let perm_a: Vec<isize> = free_a.iter().chain(&xa).map(|&i| i as isize).collect();
    let perm_b: Vec<isize> = xb.iter().chain(&free_b).map(|&i| i as isize).collect();
    let a2 = super::transpose(a, &perm_a)?.reshape(&[m, k])?;
    let b2 = super::transpose(b, &perm_b)?.reshape(&[k, n])?;
    let dtype = promote(a.dtype(), b.dtype());
    let r = if dtype.is_inexact() {
        matmul(&a2, &b2)?
    } else {
        // Integer contraction: multiply and sum (matmul takes only inexact types).
        let p = super::multiply(&a2.reshape(&[m, k, 1])?, &b2.reshape(&[1, k, n])?)?;
        astype(&super::sum(&p, &[1], false)?, dtype)?
    };
    let shape: Vec<usize> = free_a
        .iter()
        .map(|&i| a.shape()[i])
        .chain(free_b.iter().map(|&i| b.shape()[i]))
        .collect();
    r.reshape(&shape)
}

/// `sum(conj(a) * b, axis)`.
pub fn vecdot(a: &Array, b: &Array, axis: isize) -> Result<Array> {
    // MLX's checks, in MLX's order: the axis must exist in `a` (IndexError) and in `b`,
    // the two sizes along it must agree, and the inputs must have equal ndim.
    let out_of_bounds = || "[vecdot] axis is out of bounds.".to_string();
    let ax_a =
        crate::shape::normalize_axis(axis, a.ndim()).map_err(|_| Error::Index(out_of_bounds()))?;
    let ax_b = crate::shape::normalize_axis(axis, b.ndim())
        .map_err(|_| Error::Invalid(out_of_bounds()))?;
    if a.shape()[ax_a] != b.shape()[ax_b] {
        return Err(Error::Invalid(format!(
            "[vecdot] a and b must have the same size along axis, got shapes {:?} and {:?} with axis {axis}.",
            a.shape(),
            b.shape()
        )));
    }
    if a.ndim() != b.ndim() {
        return Err(Error::Invalid(out_of_bounds()));
    }
    let p = super::multiply(&super::conj(a)?, b)?;
    super::sum(&p, &[axis], false)
}
