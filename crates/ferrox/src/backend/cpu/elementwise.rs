//! The elementwise driver: applies a closure over 1, 2 or 3 same-shape inputs (broadcast
//! inputs arrive as stride-0 views) into a row-major output, in parallel above
//! [`PARALLEL_THRESHOLD`](super::PARALLEL_THRESHOLD), with inner loops the compiler
//! vectorises for the CPU it finds at run time.

use super::strided::collapse;
use super::PARALLEL_THRESHOLD;
use crate::array::Data;
use crate::dtype::Element;
use rayon::prelude::*;

/// Calls `f(offsets, len)` for each run of a flat row-major range `[start, end)` that lies
/// along the innermost axis: `offsets[k]` is operand k's element offset at the run's
/// start; its stride along the run is `strides[k][last]`.
pub(super) fn segments<const K: usize>(
    shape: &[usize],
    strides: &[Vec<isize>],
    start: usize,
    end: usize,
    mut f: impl FnMut([isize; K], usize),
) {
    if start >= end {
        return;
    }
    if shape.is_empty() {
        f([0; K], 1);
        return;
    }
    let nd = shape.len();
    let inner = shape[nd - 1];
    // Multi-index of `start`.
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
    let mut pos = start;
    while pos < end {
        let len = (inner - index[nd - 1]).min(end - pos);
        f(offs, len);
        pos += len;
        // Step to the start of the next row.
        for k in 0..K {
            offs[k] += len as isize * strides[k][nd - 1];
        }
        index[nd - 1] += len;
        let mut ax = nd - 1;
        while index[ax] == shape[ax] && ax > 0 {
            for k in 0..K {
                offs[k] -= strides[k][ax] * shape[ax] as isize;
            }
            index[ax] = 0;
            ax -= 1;
            index[ax] += 1;
            for k in 0..K {
                offs[k] += strides[k][ax];
            }
        }
    }
}

/// Runs `body(start, end)` over `[0, n)`, split across threads when `n` is large.
pub fn parallel_ranges(n: usize, body: impl Fn(usize, usize) + Sync) {
    if n < PARALLEL_THRESHOLD {
        body(0, n);
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    let chunk = (n / (threads * 4)).max(PARALLEL_THRESHOLD / 2);
    let chunks = n.div_ceil(chunk);
    (0..chunks)
        .into_par_iter()
        .for_each(|c| body(c * chunk, ((c + 1) * chunk).min(n)));
}

/// A raw pointer that may cross threads: each thread writes a disjoint range.
#[derive(Clone, Copy)]
struct Ptr(*mut u8);
unsafe impl Send for Ptr {}
unsafe impl Sync for Ptr {}
impl Ptr {
    #[inline(always)]
    fn at<T>(self, off: isize) -> *mut T {
        // SAFETY: callers pass offsets inside the view.
        unsafe { (self.0 as *mut T).offset(off) }
    }
}

fn ptr_of<T>(d: &Data) -> Ptr {
    Ptr(d.ptr::<T>() as *mut u8)
}

/// The flat stride of an operand when it is one run over the whole `shape`: 1 if
/// row-contiguous, 0 if one element broadcast everywhere; `None` otherwise.
///
/// The common case (dense operands, or a scalar beside them) then runs as a single
/// row split across threads, without `collapse`/`segments` and their small
/// allocations, which are a good part of the cost of an op on a small array.
fn flat_stride(shape: &[usize], d: &Data) -> Option<isize> {
    if d.is_row_contiguous(shape) {
        Some(1)
    } else if d.strides.iter().zip(shape).all(|(&s, &n)| s == 0 || n == 1) {
        Some(0)
    } else {
        None
    }
}

/// Whether `o` is `a`'s own memory (an output written into its donated input), with
/// elements of one size.
fn in_place<A, O>(a: *const A, o: *mut O) -> bool {
    std::ptr::eq(a.cast::<u8>(), o.cast::<u8>().cast_const())
        && std::mem::size_of::<A>() == std::mem::size_of::<O>()
}

simd_kernel! {
    fn row1<A: Element, O: Element>(n: usize, a: *const A, sa: isize, o: *mut O, f: &impl Fn(A) -> O) {
        // SAFETY: the driver passes runs inside both views.
        unsafe {
            if sa == 1 && in_place(a, o) {
                // A donated input: read and write through one pointer. Overlapping
                // slices would make the compiler guard its vector loop with an overlap
                // check that sends this case to the scalar loop (exp and tanh of 16M
                // floats in place ran 4x slower).
                for i in 0..n {
                    let p = o.add(i);
                    *p = f(p.cast::<A>().read());
                }
            } else if sa == 1 {
                let a = std::slice::from_raw_parts(a, n);
                let o = std::slice::from_raw_parts_mut(o, n);
                for (o, &a) in o.iter_mut().zip(a) {
                    *o = f(a);
                }
            } else {
                for i in 0..n as isize {
                    *o.offset(i) = f(*a.offset(i * sa));
                }
            }
        }
    }
}

simd_kernel! {
    #[allow(clippy::too_many_arguments)]
    fn row2<A: Element, B: Element, O: Element>(
        n: usize,
        a: *const A,
        sa: isize,
        b: *const B,
        sb: isize,
        o: *mut O,
        f: &impl Fn(A, B) -> O,
    ) {
        // SAFETY: the driver passes runs inside all three views.
        unsafe {
            // A donated input (see `row1`): read it and write through one pointer.
            match (sa, sb) {
                (1, 1 | 0) if in_place(a, o) => {
                    for i in 0..n {
                        let p = o.add(i);
                        *p = f(p.cast::<A>().read(), *b.offset(i as isize * sb));
                    }
                    return;
                }
                (1 | 0, 1) if in_place(b, o) => {
                    for i in 0..n {
                        let p = o.add(i);
                        *p = f(*a.offset(i as isize * sa), p.cast::<B>().read());
                    }
                    return;
                }
                _ => {}
            }
            let o = std::slice::from_raw_parts_mut(o, n);
            match (sa, sb) {
                (1, 1) => {
                    let a = std::slice::from_raw_parts(a, n);
                    let b = std::slice::from_raw_parts(b, n);
                    for i in 0..n {
                        o[i] = f(a[i], b[i]);
                    }
                }
                (1, 0) => {
                    let a = std::slice::from_raw_parts(a, n);
                    let b = *b;
                    for i in 0..n {
                        o[i] = f(a[i], b);
                    }
                }
                (0, 1) => {
                    let a = *a;
                    let b = std::slice::from_raw_parts(b, n);
                    for i in 0..n {
                        o[i] = f(a, b[i]);
                    }
                }
                _ => {
                    for (i, o) in o.iter_mut().enumerate() {
                        let i = i as isize;
                        *o = f(*a.offset(i * sa), *b.offset(i * sb));
                    }
                }
            }
        }
    }
}

simd_kernel! {
    #[allow(clippy::too_many_arguments)]
    fn row3<A: Element, B: Element, C: Element, O: Element>(
        n: usize,
        a: *const A,
        sa: isize,
        b: *const B,
        sb: isize,
        c: *const C,
        sc: isize,
        o: *mut O,
        f: &impl Fn(A, B, C) -> O,
    ) {
        // SAFETY: the driver passes runs inside all four views.
        unsafe {
            // A donated input (see `row1`): no slices of the shared memory, only reads
            // and a write through the output's pointer.
            if sa == 1 && sb == 1 && sc == 1 && (in_place(b, o) || in_place(c, o)) {
                for i in 0..n {
                    let p = o.add(i);
                    let y = if in_place(b, o) { p.cast::<B>().read() } else { *b.add(i) };
                    let z = if in_place(c, o) { p.cast::<C>().read() } else { *c.add(i) };
                    *p = f(*a.add(i), y, z);
                }
                return;
            }
            let o = std::slice::from_raw_parts_mut(o, n);
            if sa == 1 && sb == 1 && sc == 1 {
                let a = std::slice::from_raw_parts(a, n);
                let b = std::slice::from_raw_parts(b, n);
                let c = std::slice::from_raw_parts(c, n);
                for i in 0..n {
                    o[i] = f(a[i], b[i], c[i]);
                }
            } else {
                for (i, o) in o.iter_mut().enumerate() {
                    let i = i as isize;
                    *o = f(*a.offset(i * sa), *b.offset(i * sb), *c.offset(i * sc));
                }
            }
        }
    }
}

/// `out[i] = f(a[i])` over `shape`; `out` is row-major.
pub fn unary<A: Element, O: Element>(
    shape: &[usize],
    a: &Data,
    out: &Data,
    f: impl Fn(A) -> O + Sync,
) {
    let n: usize = shape.iter().product();
    let (pa, po) = (ptr_of::<A>(a), ptr_of::<O>(out));
    if let (Some(sa), Some(1)) = (flat_stride(shape, a), flat_stride(shape, out)) {
        parallel_ranges(n, |s, e| {
            let s_ = s as isize;
            row1(e - s, pa.at::<A>(s_ * sa), sa, po.at::<O>(s_), &f);
        });
        return;
    }
    let (cs, st) = collapse(shape, &[&a.strides, &out.strides]);
    parallel_ranges(n, |s, e| {
        segments::<2>(&cs, &st, s, e, |off, len| {
            let inner = |k: usize| st[k].last().copied().unwrap_or(1);
            row1(len, pa.at::<A>(off[0]), inner(0), po.at::<O>(off[1]), &f);
        })
    });
}

/// `out[i] = f(a[i], b[i])` over `shape`; `out` is row-major.
pub fn binary<A: Element, B: Element, O: Element>(
    shape: &[usize],
    a: &Data,
    b: &Data,
    out: &Data,
    f: impl Fn(A, B) -> O + Sync,
) {
    let n: usize = shape.iter().product();
    let (pa, pb, po) = (ptr_of::<A>(a), ptr_of::<B>(b), ptr_of::<O>(out));
    if let (Some(sa), Some(sb), Some(1)) = (
        flat_stride(shape, a),
        flat_stride(shape, b),
        flat_stride(shape, out),
    ) {
        parallel_ranges(n, |s, e| {
            let s_ = s as isize;
            let (a, b) = (pa.at::<A>(s_ * sa), pb.at::<B>(s_ * sb));
            row2(e - s, a, sa, b, sb, po.at::<O>(s_), &f);
        });
        return;
    }
    let (cs, st) = collapse(shape, &[&a.strides, &b.strides, &out.strides]);
    parallel_ranges(n, |s, e| {
        segments::<3>(&cs, &st, s, e, |off, len| {
            let inner = |k: usize| st[k].last().copied().unwrap_or(1);
            row2(
                len,
                pa.at::<A>(off[0]),
                inner(0),
                pb.at::<B>(off[1]),
                inner(1),
                po.at::<O>(off[2]),
                &f,
            );
        })
    });
}

/// `out[i] = f(a[i], b[i], c[i])` over `shape`; `out` is row-major.
pub fn ternary<A: Element, B: Element, C: Element, O: Element>(
    shape: &[usize],
    a: &Data,
    b: &Data,
    c: &Data,
    out: &Data,
    f: impl Fn(A, B, C) -> O + Sync,
) {
    let n: usize = shape.iter().product();
    let (pa, pb, pc, po) = (
        ptr_of::<A>(a),
        ptr_of::<B>(b),
        ptr_of::<C>(c),
        ptr_of::<O>(out),
    );
    if let (Some(sa), Some(sb), Some(sc), Some(1)) = (
        flat_stride(shape, a),
        flat_stride(shape, b),
        flat_stride(shape, c),
        flat_stride(shape, out),
    ) {
        parallel_ranges(n, |s, e| {
            let s_ = s as isize;
            let (a, b, c) = (
                pa.at::<A>(s_ * sa),
                pb.at::<B>(s_ * sb),
                pc.at::<C>(s_ * sc),
            );
            row3(e - s, a, sa, b, sb, c, sc, po.at::<O>(s_), &f);
        });
        return;
    }
    let (cs, st) = collapse(shape, &[&a.strides, &b.strides, &c.strides, &out.strides]);
    parallel_ranges(n, |s, e| {
        segments::<4>(&cs, &st, s, e, |off, len| {
            let inner = |k: usize| st[k].last().copied().unwrap_or(1);
            row3(
                len,
                pa.at::<A>(off[0]),
                inner(0),
                pb.at::<B>(off[1]),
                inner(1),
                pc.at::<C>(off[2]),
                inner(2),
                po.at::<O>(off[3]),
                &f,
            );
        })
    });
}
