//! Kernels of the indexing family: gather along an axis, scatter with a reduction, and
//! the index reading they share. Indices of any integer dtype are read once into `i64`;
//! negative ones wrap like Python's, and one still out of range after wrapping reads as
//! zero (gather) or is skipped (scatter), so no index can reach outside a buffer.

use super::arith::Arith;
use super::elementwise::parallel_ranges;
use super::strided::for_each_offset;
use crate::array::Data;
use crate::dtype::{Dtype, Element, Wide};

/// A raw pointer that may cross threads: each thread writes a disjoint range.
#[derive(Clone, Copy)]
struct SendPtr(*mut u8);
// SAFETY: the kernels below only write disjoint elements from different threads.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    #[inline(always)]
    fn at<T>(self, off: isize) -> *mut T {
        // SAFETY: callers pass offsets inside the view.
        unsafe { (self.0 as *mut T).offset(off) }
    }
}

/// Calls `f(pos, offsets)` for each row-major position `pos` in `[start, end)` of `shape`,
/// where `offsets[k]` is the position's offset under `strides[k]`.
pub fn walk<const K: usize>(
    shape: &[usize],
    strides: [&[isize]; K],
    start: usize,
    end: usize,
    mut f: impl FnMut(usize, [isize; K]),
) {
    if start >= end {
        return;
    }
    let nd = shape.len();
    let mut index = vec![0usize; nd];
    let mut rem = start;
    for ax in (0..nd).rev() {
        index[ax] = rem % shape[ax];
        rem /= shape[ax];
    }
    let mut offs = [0isize; K];
    for k in 0..K {
        offs[k] = (0..nd).map(|ax| index[ax] as isize * strides[k][ax]).sum();
    }
    for pos in start..end {
        f(pos, offs);
        let mut ax = nd;
        while ax > 0 {
            ax -= 1;
            index[ax] += 1;
            for k in 0..K {
                offs[k] += strides[k][ax];
            }
            if index[ax] < shape[ax] {
                break;
            }
            for k in 0..K {
                offs[k] -= strides[k][ax] * shape[ax] as isize;
            }
            index[ax] = 0;
        }
    }
}

/// The elements of an integer view, row-major, as `i64`. A `uint64` past `i64::MAX` reads
/// as `i64::MAX` (out of range for any axis anyway).
pub fn read_indices(shape: &[usize], d: &Data, dtype: Dtype) -> Vec<i64> {
    let mut out = Vec::with_capacity(shape.iter().product());
    crate::dispatch_dtype!(dtype, I => {
        let p = d.ptr::<I>();
        for_each_offset(shape, &d.strides, |off| {
            // SAFETY: offsets come from the view's own shape and strides.
            let v: I = unsafe { *p.offset(off) };
            out.push(match v.to_wide() {
                Wide::Int(v) => v,
                Wide::Uint(v) => i64::try_from(v).unwrap_or(i64::MAX),
                Wide::Bool(b) => b as i64,
                Wide::Float(_) | Wide::Complex(..) => i64::MAX,
            });
        })
    });
    out
}

/// Python's wrapping of a negative index; `None` when it is still out of `0..n`.
#[inline(always)]
pub fn wrap(i: i64, n: usize) -> Option<usize> {
    let n = n as i64;
    let j = if i < 0 { i + n } else { i };
    (0..n).contains(&j).then_some(j as usize)
}

/// `out[p] = src[src_off(p) + wrap(idx[idx_off(p)]) * axis_stride]` for each row-major
/// position `p` of `out_shape`, or zero when the index is out of `0..axis_len`.
/// `src_strides` and `idx_strides` are over `out_shape` (0 where an operand does not vary).
#[allow(clippy::too_many_arguments)]
pub fn gather<T: Element>(
    out_shape: &[usize],
    src: &Data,
    src_strides: &[isize],
    axis_stride: isize,
    axis_len: usize,
    idx: &[i64],
    idx_strides: &[isize],
    out: &Data,
) {
    let n: usize = out_shape.iter().product();
    let (ps, po) = (
        SendPtr(src.ptr::<T>() as *mut u8),
        SendPtr(out.ptr::<T>() as *mut u8),
    );
    parallel_ranges(n, |s, e| {
        walk::<2>(
            out_shape,
            [src_strides, idx_strides],
            s,
            e,
            |pos, [so, io]| {
                let v = match wrap(idx[io as usize], axis_len) {
                    // SAFETY: `j < axis_len`, so the offset lies inside the source view.
                    Some(j) => unsafe { *ps.at::<T>(so + j as isize * axis_stride) },
                    None => T::default(),
                };
                // SAFETY: `pos` < n, inside the row-major output; ranges are disjoint.
                unsafe { *po.at::<T>(pos as isize) = v };
            },
        )
    });
}

/// MLX's general gather: for each row-major position `i` of the index shape, the window
/// of `src` (of `src_shape`) of extents `slice_sizes` whose corner is `wrap(indices[k][i])`
/// along `axes[k]` and 0 on the other axes, written densely into the row-major `out` (of
/// shape `index_shape ++ slice_sizes`). A window that does not fit (an index out of range
/// after wrapping, or running past the end of its axis) reads as zeros.
pub fn gather_nd<T: Element>(
    src: &Data,
    src_shape: &[usize],
    indices: &[Vec<i64>],
    axes: &[usize],
    slice_sizes: &[usize],
    out_shape: &[usize],
    out: &Data,
) {
    let n: usize = out_shape.iter().product();
    if n == 0 {
        return;
    }
    let slice_n: usize = slice_sizes.iter().product();
    let k = out_shape.len() - slice_sizes.len();
    // Strides over the output shape: index axes do not move through the source.
    let mut strides = vec![0isize; k];
    strides.extend_from_slice(&src.strides);
    let corner = |i: usize| -> Option<isize> {
        let mut base = 0isize;
        for (ix, &ax) in indices.iter().zip(axes) {
            let j = wrap(ix[i], src_shape[ax])?;
            if j + slice_sizes[ax] > src_shape[ax] {
                return None;
            }
            base += j as isize * src.strides[ax];
        }
        Some(base)
    };
    let (ps, po) = (
        SendPtr(src.ptr::<T>() as *mut u8),
        SendPtr(out.ptr::<T>() as *mut u8),
    );
    parallel_ranges(n, |s, e| {
        let mut current = usize::MAX;
        let mut base = None;
        walk::<1>(out_shape, [&strides], s, e, |pos, [so]| {
            let i = pos / slice_n;
            if i != current {
                current = i;
                base = corner(i);
            }
            let v = match base {
                // SAFETY: the window fits inside the source (checked by `corner`), and
                // `so` walks the window with the source's own strides.
                Some(b) => unsafe { *ps.at::<T>(b + so) },
                None => T::default(),
            };
            // SAFETY: `pos` < n, inside the row-major output; ranges are disjoint.
            unsafe { *po.at::<T>(pos as isize) = v };
        })
    });
}

/// The number of `true` elements of a bool view.
pub fn count_true(shape: &[usize], mask: &Data) -> usize {
    let p = mask.ptr::<bool>();
    let mut count = 0usize;
    // SAFETY: offsets come from the view's own shape and strides.
    for_each_offset(shape, &mask.strides, |off| {
        count += unsafe { *p.offset(off) } as usize
    });
    count
}

/// Writes `src[k]` (row-major, contiguous) into the row-major `out` (of `shape`) at the
/// `k`-th position, in row-major order, where the bool view `mask` (over `shape`) is
/// true. The caller checks that `src` holds at least as many elements as there are trues.
pub fn masked_scatter<T: Element>(shape: &[usize], mask: &Data, src: &[T], out: &Data) {
    let n: usize = shape.iter().product();
    let out_strides = crate::array::row_major_strides(shape);
    let (pm, po) = (mask.ptr::<bool>(), out.ptr::<T>());
    let mut k = 0usize;
    walk::<2>(shape, [&mask.strides, &out_strides], 0, n, |_, [m, o]| {
        // SAFETY: offsets come from the views' own shapes and strides.
        unsafe {
            if *pm.offset(m) {
                if let Some(&v) = src.get(k) {
                    *po.offset(o) = v;
                }
                k += 1;
            }
        }
    });
}

/// How a scatter combines an update with the value already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ScatterReduce {
    /// Overwrite (with duplicate indices, the last update in row-major order wins).
    None,
    Sum,
    Prod,
    Max,
    Min,
}

/// For each position `i` of the index shape, combines the update slice `updates[i, ...]`
/// (of shape `slice_shape`) into the row-major `out` (of shape `out_shape`) at the
/// position whose coordinate along `axes[k]` is `wrap(indices[k][i])` (0 on other axes).
/// Slices with an index out of range are skipped; elements of a slice that would fall
/// past the end of an axis are dropped. Runs in order, so duplicates accumulate.
#[allow(clippy::too_many_arguments)]
pub fn scatter<T: Element + Arith>(
    out: &Data,
    out_shape: &[usize],
    indices: &[Vec<i64>],
    axes: &[usize],
    index_shape: &[usize],
    updates: &Data,
    slice_shape: &[usize],
    reduce: ScatterReduce,
) {
    let f: fn(T, T) -> T = match reduce {
        ScatterReduce::None => |_, u| u,
        ScatterReduce::Sum => |o: T, u| o.add(u),
        ScatterReduce::Prod => |o: T, u| o.mul(u),
        ScatterReduce::Max => |o: T, u| o.max(u),
        ScatterReduce::Min => |o: T, u| o.min(u),
    };
    let k = index_shape.len();
    let (us_index, us_slice) = updates.strides.split_at(k);
    let os = &out.strides;
    let n_index: usize = index_shape.iter().product();
    let (pu, po) = (updates.ptr::<T>(), out.ptr::<T>());
    let mut extent = slice_shape.to_vec();
    walk::<1>(index_shape, [us_index], 0, n_index, |i, [uoff]| {
        let mut base = 0isize;
        extent.copy_from_slice(slice_shape);
        for (ix, &ax) in indices.iter().zip(axes) {
            let Some(j) = wrap(ix[i], out_shape[ax]) else {
                return;
            };
            base += j as isize * os[ax];
            extent[ax] = extent[ax].min(out_shape[ax] - j);
        }
        let m: usize = extent.iter().product();
        walk::<2>(&extent, [us_slice, os], 0, m, |_, [u, o]| {
            // SAFETY: the slice position plus `base` stays inside `out_shape` (extent is
            // clipped above), and `u` is inside the updates view.
            unsafe {
                let dst = po.offset(base + o);
                *dst = f(*dst, *pu.offset(uoff + u));
            }
        });
    });
}

/// Copies the view `src` (of `src_dtype`) into the view `dst` (of `dst_dtype`; any
/// strides, e.g. a strided window of a larger output), converting with `astype`'s rules.
pub fn copy_into(shape: &[usize], src: &Data, src_dtype: Dtype, dst: &Data, dst_dtype: Dtype) {
    let (cs, st) = super::strided::collapse(shape, &[&src.strides, &dst.strides]);
    if st[1].last().is_none_or(|&s| s == 1) {
        // The elementwise driver writes its rows densely: fine when `dst`'s are.
        super::copy::copy_cast(shape, src, src_dtype, dst, dst_dtype);
        return;
    }
    let n: usize = cs.iter().product();
    crate::dispatch_dtype!(src_dtype, S => {
        crate::dispatch_dtype!(dst_dtype, D => {
            let (ps, pd) = (SendPtr(src.ptr::<S>().cast()), SendPtr(dst.ptr::<D>().cast()));
            parallel_ranges(n, |s, e| {
                walk::<2>(&cs, [&st[0], &st[1]], s, e, |_, [so, d]| {
                    // SAFETY: offsets come from both views' shapes and strides; positions
                    // of `dst` are distinct, so threads write disjoint elements.
                    unsafe { *pd.at::<D>(d) = (*ps.at::<S>(so)).cast::<D>() };
                })
            })
        })
    });
}
