//! Rearranging whole arrays: `concatenate`, `stack`, `split`, `tile`, `repeat`, `pad`,
//! `roll`, `flip`, `diag`/`diagonal`/`trace`, `diff`, `meshgrid`, the window functions,
//! and `view` (bitcast). Most are compositions of slices, broadcasts and gathers; only
//! `Concatenate`, `Diagonal` and `BitCast` are primitives of their own.

use super::{
    astype, broadcast_to, expand_dims, full, reshape, slice, squeeze, stream, sum, take, Operand,
};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::primitives::indexing::{BitCast, Concatenate, Diagonal};
use crate::shape::{checked_size, normalize_axis};
use crate::{invalid, Error, Result};

/// Prefixes an axis error with the op's name and the array's shape. An axis out of
/// range is an [`Error::Index`], as in MLX.
fn axis_of(op: &str, axis: isize, a: &Array) -> Result<usize> {
    normalize_axis(axis, a.ndim())
        .map_err(|e| e.map_message(|m| format!("[{op}] {m} (array of shape {:?})", a.shape())))
}

/// `a[start:stop]` along axis `ax` only.
fn slice_axis(a: &Array, ax: usize, start: isize, stop: isize) -> Result<Array> {
    let nd = a.ndim();
    let mut s = vec![0isize; nd];
    let mut e: Vec<isize> = a.shape().iter().map(|&n| n as isize).collect();
    s[ax] = start;
    e[ax] = stop;
    slice(a, &s, &e, &vec![1; nd])
}

/// The arrays joined along `axis` (flattened first when `None`), promoted to their
/// common dtype.
pub fn concatenate(arrays: &[Array], axis: Option<isize>) -> Result<Array> {
    if arrays.is_empty() {
        invalid!("[concatenate] No arrays provided for concatenation.");
    }
    let Some(axis) = axis else {
        let flat = arrays
            .iter()
            .map(|a| reshape(a, &[-1]))
            .collect::<Result<Vec<_>>>()?;
        return concatenate(&flat, Some(0));
    };
    let first = &arrays[0];
    if first.ndim() == 0 {
        return Err(Error::Index(
            "[concatenate] zero-dimensional arrays cannot be concatenated.".into(),
        ));
    }
    let ax = axis_of("concatenate", axis, first)?;
    let mut shape = first.shape().to_vec();
    shape[ax] = 0;
    for a in arrays {
        let same = a.ndim() == first.ndim()
            && (0..a.ndim()).all(|d| d == ax || a.shape()[d] == first.shape()[d]);
        if !same {
            invalid!(
                "[concatenate] All the input array dimensions must match exactly except for \
                 the concatenation axis {ax}, but got shapes {:?} and {:?}.",
                first.shape(),
                a.shape()
            );
        }
        shape[ax] += a.shape()[ax];
    }
    checked_size(&shape)?;
    let refs: Vec<&Array> = arrays.iter().collect();
    let dtype = super::result_type(&refs);
    Ok(Array::from_op(
        shape,
        dtype,
        Concatenate { axis: ax },
        arrays.to_vec(),
        stream(),
    ))
}

/// Alias of [`concatenate`].
pub fn concat(arrays: &[Array], axis: Option<isize>) -> Result<Array> {
    concatenate(arrays, axis)
}

/// The arrays (all of one shape) joined along a new axis `axis`.
pub fn stack(arrays: &[Array], axis: isize) -> Result<Array> {
    let Some(first) = arrays.first() else {
        invalid!("[stack] No arrays provided for stacking.");
    };
    if let Some(b) = arrays.iter().find(|b| b.shape() != first.shape()) {
        invalid!(
            "[stack] All arrays must have the same shape, got {:?} and {:?}.",
            first.shape(),
            b.shape()
        );
    }
    let ax = normalize_axis(axis, first.ndim() + 1).map_err(|e| {
        e.map_message(|m| format!("[stack] {m} (stacking arrays of shape {:?})", first.shape()))
    })?;
    let expanded = arrays
        .iter()
        .map(|a| expand_dims(a, &[ax as isize]))
        .collect::<Result<Vec<_>>>()?;
    concatenate(&expanded, Some(ax as isize))
}

/// The sub-arrays of `a` along `axis`, with that axis removed.
pub fn unstack(a: &Array, axis: isize) -> Result<Vec<Array>> {
    if a.ndim() == 0 {
        return Err(Error::Index(
            "[unstack] Cannot unstack a zero-dimensional array.".into(),
        ));
    }
    let ax = axis_of("unstack", axis, a)?;
    (0..a.shape()[ax] as isize)
        .map(|i| squeeze(&slice_axis(a, ax, i, i + 1)?, &[ax as isize]))
        .collect()
}

/// How [`split`] cuts an axis: into equal sections, or at indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndicesOrSections {
    Sections(usize),
    Indices(Vec<isize>),
}
impl From<usize> for IndicesOrSections {
    fn from(n: usize) -> Self {
        IndicesOrSections::Sections(n)
    }
}
impl From<&[isize]> for IndicesOrSections {
    fn from(v: &[isize]) -> Self {
        IndicesOrSections::Indices(v.to_vec())
    }
}
impl From<Vec<isize>> for IndicesOrSections {
    fn from(v: Vec<isize>) -> Self {
        IndicesOrSections::Indices(v)
    }
}

/// `a` cut along `axis` into equal sections, or at the given indices (NumPy's rules:
/// negative indices count from the end, out-of-range ones clamp, a decreasing pair gives
/// an empty piece).
pub fn split(a: &Array, how: impl Into<IndicesOrSections>, axis: isize) -> Result<Vec<Array>> {
    let ax = axis_of("split", axis, a)?;
    let n = a.shape()[ax] as isize;
    let cuts: Vec<isize> = match how.into() {
        IndicesOrSections::Sections(k) => {
            if k == 0 || !a.shape()[ax].is_multiple_of(k) {
                // MLX's message, word for word.
                let dims: Vec<String> = a.shape().iter().map(|d| d.to_string()).collect();
                invalid!(
                    "Array split does not result in sub arrays with equal size: attempting \
                     {k} splits along axis {ax} for shape ({}).",
                    dims.join(",")
                );
            }
            let step = n / k as isize;
            (1..k as isize).map(|i| i * step).collect()
        }
        IndicesOrSections::Indices(v) => v
            .iter()
            .map(|&i| if i < 0 { (i + n).max(0) } else { i.min(n) })
            .collect(),
    };
    let mut bounds = vec![0isize];
    bounds.extend(cuts);
    bounds.push(n);
    bounds
        .windows(2)
        .map(|w| slice_axis(a, ax, w[0], w[1].max(w[0])))
        .collect()
}

/// `a` repeated `reps[i]` times along each axis (NumPy's rules when `reps` and `a.ndim`
/// differ: the shorter is padded with leading ones).
pub fn tile(a: &Array, reps: &[usize]) -> Result<Array> {
    let d = a.ndim().max(reps.len());
    let mut shape = vec![1usize; d - a.ndim()];
    shape.extend_from_slice(a.shape());
    let mut r = vec![1usize; d - reps.len()];
    r.extend_from_slice(reps);
    let mut inter = Vec::with_capacity(2 * d);
    let mut wide = Vec::with_capacity(2 * d);
    let mut out = Vec::with_capacity(d);
    for i in 0..d {
        inter.extend([1, shape[i]]);
        wide.extend([r[i], shape[i]]);
        out.push(r[i].checked_mul(shape[i]).ok_or_else(|| {
            Error::Invalid(format!(
                "[tile] tiling shape {:?} by {reps:?} overflows.",
                a.shape()
            ))
        })?);
    }
    checked_size(&out)?;
    let b = broadcast_to(&a.reshape(&inter)?, &wide)?;
    b.reshape(&out)
}

/// Each element of `a` repeated `repeats` times along `axis` (of the flattened `a` when
/// `None`).
pub fn repeat(a: &Array, repeats: usize, axis: Option<isize>) -> Result<Array> {
    let (a, ax) = match axis {
        None => (reshape(a, &[-1])?, 0),
        Some(axis) => (a.clone(), axis_of("repeat", axis, a)?),
    };
    let mut wide = a.shape().to_vec();
    wide.insert(ax + 1, repeats);
    let mut out = a.shape().to_vec();
    out[ax] = out[ax].checked_mul(repeats).ok_or_else(|| {
        Error::Invalid(format!(
            "[repeat] repeating shape {:?} {repeats} times overflows.",
            a.shape()
        ))
    })?;
    checked_size(&out)?;
    let b = broadcast_to(&expand_dims(&a, &[ax as isize + 1])?, &wide)?;
    b.reshape(&out)
}

/// How [`pad`] fills the border.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    /// A constant value.
    Constant,
    /// The edge value repeated.
    Edge,
    /// Mirrored without repeating the edge (`[1 2 3]` → `3 2 | 1 2 3 | 2 1`).
    Reflect,
    /// Mirrored with the edge repeated (`[1 2 3]` → `2 1 | 1 2 3 | 3 2`).
    Symmetric,
}

impl PadMode {
    /// Parses mlx's mode names.
    pub fn from_name(name: &str) -> Result<PadMode> {
        Ok(match name {
            "constant" => PadMode::Constant,
            "edge" => PadMode::Edge,
            "reflect" => PadMode::Reflect,
            "symmetric" => PadMode::Symmetric,
            _ => invalid!(
                "[pad] Invalid padding mode '{name}': expected constant, edge, reflect or symmetric."
            ),
        })
    }
}

/// The source index of padded position `p` (from `-lo`) of an axis of extent `n > 0`.
fn pad_source(mode: PadMode, p: i64, n: i64) -> i64 {
    match mode {
        PadMode::Constant | PadMode::Edge => p.clamp(0, n - 1),
        PadMode::Reflect => {
            if n == 1 {
                return 0;
            }
            let m = 2 * (n - 1);
            let q = p.rem_euclid(m);
            if q >= n {
                m - q
            } else {
                q
            }
        }
        PadMode::Symmetric => {
            let m = 2 * n;
            let q = p.rem_euclid(m);
            if q >= n {
                m - 1 - q
            } else {
                q
            }
        }
    }
}

/// `a` padded with `pad_width[i] = (before, after)` elements on axis `i` (one pair for
/// every axis, or a single pair used for all), filled as `mode` says; `constant_value`
/// (a scalar or size-1 array, cast to `a`'s dtype) fills `PadMode::Constant`.
pub fn pad(
    a: &Array,
    pad_width: &[(usize, usize)],
    mode: PadMode,
    constant_value: impl Into<Operand>,
) -> Result<Array> {
    let nd = a.ndim();
    let widths: Vec<(usize, usize)> = match pad_width.len() {
        1 => vec![pad_width[0]; nd],
        n if n == nd => pad_width.to_vec(),
        _ => invalid!(
            "[pad] Invalid number of padding sizes passed to pad: got {pad_width:?} for an \
             array of shape {:?}.",
            a.shape()
        ),
    };
    let mut out = Vec::with_capacity(nd);
    for (d, &(lo, hi)) in widths.iter().enumerate() {
        let n = lo
            .checked_add(hi)
            .and_then(|w| w.checked_add(a.shape()[d]))
            .ok_or_else(|| Error::Invalid(format!("[pad] padding {pad_width:?} overflows.")))?;
        out.push(n);
    }
    checked_size(&out)?;
    if mode == PadMode::Constant {
        let v = constant_value.into().to_array();
        if v.size() != 1 {
            invalid!(
                "[pad] constant_value must be a scalar or size-1 array, got shape {:?}.",
                v.shape()
            );
        }
        let v = astype(&v.reshape(&[])?, a.dtype())?;
        let base = full(&out, v, Some(a.dtype()))?;
        let start: Vec<isize> = widths.iter().map(|w| w.0 as isize).collect();
        let stop: Vec<isize> = widths
            .iter()
            .zip(a.shape())
            .map(|(w, &n)| (w.0 + n) as isize)
            .collect();
        return super::slice_update(&base, a, &start, &stop, &vec![1; nd]);
    }
    let mut r = a.clone();
    for (d, &(lo, hi)) in widths.iter().enumerate() {
        if lo == 0 && hi == 0 {
            continue;
        }
        let n = a.shape()[d] as i64;
        if n == 0 {
            invalid!(
                "[pad] cannot pad axis {d} of extent 0 (shape {:?}) with mode {mode:?}.",
                a.shape()
            );
        }
        let idx: Vec<i64> = (-(lo as i64)..n + hi as i64)
            .map(|p| pad_source(mode, p, n))
            .collect();
        r = take(&r, &Array::from_vec(idx)?, Some(d as isize))?;
    }
    Ok(r)
}

/// `a` rolled by `shift[i]` positions along `axes[i]` (elements leaving one end enter at
/// the other). With `axes == None`, the flattened array is rolled by the single shift.
/// One shift may serve several axes.
pub fn roll(a: &Array, shift: &[isize], axes: Option<&[isize]>) -> Result<Array> {
    let Some(axes) = axes else {
        if shift.len() != 1 {
            invalid!(
                "[roll] without axes takes exactly one shift, got {shift:?} (array of shape {:?}).",
                a.shape()
            );
        }
        let r = roll(&reshape(a, &[-1])?, shift, Some(&[0]))?;
        return r.reshape(a.shape());
    };
    if shift.len() != axes.len() && shift.len() != 1 {
        invalid!(
            "[roll] shift {shift:?} and axes {axes:?} must have the same length (or one shift).",
        );
    }
    let mut r = a.clone();
    for (i, &axis) in axes.iter().enumerate() {
        let ax = axis_of("roll", axis, a)?;
        let s = if shift.len() == 1 { shift[0] } else { shift[i] };
        let n = a.shape()[ax] as isize;
        if n == 0 {
            continue;
        }
        let k = s.rem_euclid(n);
        if k == 0 {
            continue;
        }
        let tail = slice_axis(&r, ax, n - k, n)?;
        let head = slice_axis(&r, ax, 0, n - k)?;
        r = concatenate(&[tail, head], Some(ax as isize))?;
    }
    Ok(r)
}

/// `a` reversed along `axes` (all axes when `None`). A view with negative strides. An
/// axis named twice is reversed once, as in MLX.
pub fn flip(a: &Array, axes: Option<&[isize]>) -> Result<Array> {
    let nd = a.ndim();
    let axes: Vec<usize> = match axes {
        None => (0..nd).collect(),
        Some(axes) => {
            let mut v = axes
                .iter()
                .map(|&ax| axis_of("flip", ax, a))
                .collect::<Result<Vec<_>>>()?;
            v.sort_unstable();
            v.dedup();
            v
        }
    };
    if axes.is_empty() {
        return Ok(a.clone());
    }
    let mut start = vec![0isize; nd];
    let mut stop: Vec<isize> = a.shape().iter().map(|&n| n as isize).collect();
    let mut step = vec![1isize; nd];
    for &ax in &axes {
        start[ax] = -1;
        stop[ax] = -(a.shape()[ax] as isize) - 1;
        step[ax] = -1;
    }
    slice(a, &start, &stop, &step)
}

/// Diagonal `offset` of the plane (`axis1`, `axis2`), moved to a new last axis. A view.
pub fn diagonal(a: &Array, offset: isize, axis1: isize, axis2: isize) -> Result<Array> {
    if a.ndim() < 2 {
        invalid!(
            "[diagonal] Array must have at least two dimensions, got shape {:?}.",
            a.shape()
        );
    }
    let ax1 = axis_of("diagonal", axis1, a)?;
    let ax2 = axis_of("diagonal", axis2, a)?;
    if ax1 == ax2 {
        invalid!("[diagonal] axis1 and axis2 cannot be the same axis ({ax1}).");
    }
    let (n1, n2) = (a.shape()[ax1] as isize, a.shape()[ax2] as isize);
    let len = if offset >= 0 {
        n1.min(n2.saturating_sub(offset))
    } else {
        n1.saturating_add(offset).min(n2)
    }
    .max(0) as usize;
    let mut shape: Vec<usize> = (0..a.ndim())
        .filter(|&d| d != ax1 && d != ax2)
        .map(|d| a.shape()[d])
        .collect();
    shape.push(len);
    Ok(Array::from_op(
        shape,
        a.dtype(),
        Diagonal {
            offset,
            axis1: ax1,
            axis2: ax2,
        },
        vec![a.clone()],
        stream(),
    ))
}

/// For a 1-D `a`, the square matrix with `a` on diagonal `k`; for a 2-D `a`, its
/// diagonal `k`.
pub fn diag(a: &Array, k: isize) -> Result<Array> {
    match a.ndim() {
        1 => {
            let len = a.shape()[0];
            let n = len
                .checked_add(k.unsigned_abs())
                .ok_or_else(|| Error::Invalid(format!("[diag] offset {k} is too large.")))?;
            let base = super::zeros(&[n, n], Some(a.dtype()))?;
            let range = |first: usize| {
                super::arange(first as f64, (first + len) as f64, 1.0, Some(Dtype::Int64))
            };
            let (rows, cols) = if k < 0 {
                (range(k.unsigned_abs())?, range(0)?)
            } else {
                (range(0)?, range(k as usize)?)
            };
            let upd = a.reshape(&[len, 1, 1])?;
            super::scatter(&base, &[rows, cols], &upd, &[0, 1])
        }
        2 => diagonal(a, k, 0, 1),
        _ => invalid!(
            "[diag] input must be 1-D or 2-D, got shape {:?}.",
            a.shape()
        ),
    }
}

/// The sum of diagonal `offset` of the plane (`axis1`, `axis2`): the diagonal is cast to
/// `dtype` (`a`'s by default) and summed, so the result has `sum`'s dtype for it (int8
/// and bool give int32, uint8 gives uint32), as in MLX.
pub fn trace(
    a: &Array,
    offset: isize,
    axis1: isize,
    axis2: isize,
    dtype: Option<Dtype>,
) -> Result<Array> {
    if a.ndim() < 2 {
        invalid!(
            "[trace] Array must have at least two dimensions, got shape {:?}.",
            a.shape()
        );
    }
    let d = diagonal(a, offset, axis1, axis2)?;
    sum(&astype(&d, dtype.unwrap_or(a.dtype()))?, &[-1], false)
}

/// The `n`-th discrete difference along `axis` (`a[1:] - a[:-1]`, `n` times; bool arrays
/// use `!=` as NumPy does).
pub fn diff(a: &Array, n: usize, axis: isize) -> Result<Array> {
    if a.ndim() == 0 {
        return Err(Error::Index(
            "[diff] Axis is out of bounds for the array: requires an input of at least one \
             dimension, got a scalar."
                .into(),
        ));
    }
    let ax = axis_of("diff", axis, a)?;
    let mut r = a.clone();
    for _ in 0..n {
        let len = r.shape()[ax] as isize;
        if len == 0 {
            break;
        }
        let hi = slice_axis(&r, ax, 1, len)?;
        let lo = slice_axis(&r, ax, 0, len - 1)?;
        r = if r.dtype() == Dtype::Bool {
            super::not_equal(&hi, &lo)?
        } else {
            super::subtract(&hi, &lo)?
        };
    }
    Ok(r)
}

/// Coordinate grids from 1-D coordinate arrays (others are flattened). `indexing` is
/// `"xy"` (Cartesian: the first two output axes swapped) or `"ij"` (matrix). With
/// `sparse`, each output keeps size 1 on the axes it does not vary along.
pub fn meshgrid(arrays: &[Array], sparse: bool, indexing: &str) -> Result<Vec<Array>> {
    let xy = match indexing {
        "xy" => true,
        "ij" => false,
        _ => invalid!("[meshgrid] indexing must be 'xy' or 'ij', got '{indexing}'."),
    };
    let k = arrays.len();
    let flat = arrays
        .iter()
        .map(|a| reshape(a, &[-1]))
        .collect::<Result<Vec<_>>>()?;
    let pos = |i: usize| match (xy && k >= 2, i) {
        (true, 0) => 1,
        (true, 1) => 0,
        _ => i,
    };
    let mut shape = vec![0usize; k];
    for (i, a) in flat.iter().enumerate() {
        shape[pos(i)] = a.size();
    }
    checked_size(&shape)?;
    flat.iter()
        .enumerate()
        .map(|(i, a)| {
            let mut s = vec![1usize; k];
            s[pos(i)] = a.size();
            let r = a.reshape(&s)?;
            if sparse {
                Ok(r)
            } else {
                broadcast_to(&r, &shape)
            }
        })
        .collect()
}

/// A float32 window of `m` points: `f(n)` for `n` in `1-m, 3-m, ..., m-1` (NumPy's
/// definition; one point gives `[1]`).
fn window(m: usize, f: impl Fn(f64) -> f64) -> Result<Array> {
    if m > i32::MAX as usize {
        invalid!("[window] {m} points is more than an array can hold here.");
    }
    let v: Vec<f32> = match m {
        0 => vec![],
        1 => vec![1.0],
        _ => (0..m)
            .map(|i| f((2 * i) as f64 + 1.0 - m as f64) as f32)
            .collect(),
    };
    Array::from_vec(v)
}

/// The Bartlett (triangular) window of `m` points.
pub fn bartlett(m: usize) -> Result<Array> {
    let d = m.max(2) as f64 - 1.0;
    window(m, |n| if n <= 0.0 { 1.0 + n / d } else { 1.0 - n / d })
}

/// The Blackman window of `m` points.
pub fn blackman(m: usize) -> Result<Array> {
    let d = m.max(2) as f64 - 1.0;
    let pi = std::f64::consts::PI;
    window(m, |n| {
        0.42 + 0.5 * (pi * n / d).cos() + 0.08 * (2.0 * pi * n / d).cos()
    })
}

/// The Hamming window of `m` points.
pub fn hamming(m: usize) -> Result<Array> {
    let d = m.max(2) as f64 - 1.0;
    window(m, |n| 0.54 + 0.46 * (std::f64::consts::PI * n / d).cos())
}

/// The Hann window of `m` points.
pub fn hanning(m: usize) -> Result<Array> {
    let d = m.max(2) as f64 - 1.0;
    window(m, |n| 0.5 + 0.5 * (std::f64::consts::PI * n / d).cos())
}

/// `a`'s bytes read as `dtype`. With a different item size the last axis scales (e.g.
/// `[2, 4]` float32 viewed as uint8 is `[2, 16]`); a 0-d array can only change to a dtype
/// of the same size. Viewing as bool maps each nonzero byte to `true`.
pub fn view(a: &Array, dtype: Dtype) -> Result<Array> {
    let (isz, osz) = (a.dtype().size(), dtype.size());
    let mut shape = a.shape().to_vec();
    if isz != osz {
        let Some(last) = shape.last_mut() else {
            invalid!(
                "[view] Changing the type of a scalar is only allowed for types with the same \
                 size ({} is {isz} bytes, {dtype} is {osz}).",
                a.dtype()
            );
        };
        if (*last * isz) % osz != 0 {
            invalid!(
                "[view] the last axis of shape {:?} ({} bytes of {}) does not divide into \
                 {dtype} items of {osz} bytes.",
                a.shape(),
                *last * isz,
                a.dtype()
            );
        }
        *last = *last * isz / osz;
    }
    if dtype == a.dtype() {
        return Ok(a.clone());
    }
    Ok(Array::from_op(
        shape,
        dtype,
        BitCast,
        vec![a.clone()],
        stream(),
    ))
}
