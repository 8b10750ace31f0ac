//! Copies: making a view contiguous and converting between dtypes (`astype`).

use super::elementwise::unary;
use super::strided::collapse;
use crate::array::{row_major_strides, Data};
use crate::dtype::{Dtype, Element};
use rayon::prelude::*;

/// Copies the view `src` (of `src_dtype`) into the view `out` (of `dst_dtype`),
/// converting each element with `astype`'s rules.
pub fn copy_cast(shape: &[usize], src: &Data, src_dtype: Dtype, out: &Data, dst_dtype: Dtype) {
    if src_dtype == dst_dtype && transpose_copy(shape, src, out, src_dtype.size()) {
        return;
    }
    crate::dispatch_dtype!(src_dtype, S => {
        crate::dispatch_dtype!(dst_dtype, D => {
            unary::<S, D>(shape, src, out, |x| x.cast::<D>())
        })
    })
}

/// Side of the square blocks a transpose copies: a block's rows of source and
/// destination (32 × 32 elements of up to 8 bytes) stay in L1 while it is copied.
const BLOCK: usize = 32;

/// Copies a (batch of) transposed matrices — collapsed to `[batch,] rows, cols` with
/// source strides `[.., 1, ld]` — block by block, so that both sides are read and
/// written along cache lines; walking it element by element instead reads one element
/// per cache line and was several times slower. `false` (nothing done) for any other
/// layout.
fn transpose_copy(shape: &[usize], src: &Data, out: &Data, size: usize) -> bool {
    // (Callers also copy into views of a larger output, e.g. `concatenate`.)
    if !out.is_row_contiguous(shape) {
        return false;
    }
    let out_strides = row_major_strides(shape);
    let (cs, st) = collapse(shape, &[&src.strides, &out_strides]);
    let (s, nd) = (&st[0], cs.len());
    if !(2..=3).contains(&nd) || s[nd - 2] != 1 || s[nd - 1] <= 1 || cs[nd - 1] < BLOCK {
        return false;
    }
    let (rows, cols, ld) = (cs[nd - 2], cs[nd - 1], s[nd - 1]);
    let (batch, batch_stride) = if nd == 3 { (cs[0], s[0]) } else { (1, 0) };
    let (sp, op) = (src.byte_ptr(size) as usize, out.byte_ptr(size) as usize);
    macro_rules! go {
        ($t:ty) => {{
            let (sp, op) = (sp as *const $t as usize, op as *mut $t as usize);
            let row_blocks = rows.div_ceil(BLOCK);
            let body = |job: usize| {
                let (b, i0) = (job / row_blocks, (job % row_blocks) * BLOCK);
                let i1 = (i0 + BLOCK).min(rows);
                // SAFETY: every offset is inside the source view or this job's rows of
                // the output (jobs write disjoint row blocks).
                unsafe {
                    let src = (sp as *const $t).offset(b as isize * batch_stride);
                    let dst = (op as *mut $t).add(b * rows * cols);
                    for j0 in (0..cols).step_by(BLOCK) {
                        let j1 = (j0 + BLOCK).min(cols);
                        for i in i0..i1 {
                            for j in j0..j1 {
                                *dst.add(i * cols + j) = *src.offset(i as isize + j as isize * ld);
                            }
                        }
                    }
                }
            };
            let jobs = batch * row_blocks;
            if batch * rows * cols < super::PARALLEL_THRESHOLD {
                (0..jobs).for_each(body);
            } else {
                (0..jobs).into_par_iter().for_each(body);
            }
        }};
    }
    match size {
        1 => go!(u8),
        2 => go!(u16),
        4 => go!(u32),
        8 => go!(u64),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use crate::{ops, Array};

    #[test]
    fn transposed_copies_match_element_by_element() {
        for (r, c) in [(33, 70), (64, 64), (5, 100), (100, 5)] {
            let v: Vec<f32> = (0..r * c).map(|i| i as f32).collect();
            let a = Array::from_slice(&v, &[r, c]).unwrap();
            let t = ops::contiguous(&ops::transpose(&a, &[1, 0]).unwrap()).unwrap();
            let got = t.to_vec::<f32>().unwrap();
            for i in 0..c {
                for j in 0..r {
                    assert_eq!(got[i * r + j], v[j * c + i]);
                }
            }
        }
        // A batch of transposes, in f64 and u8.
        let v: Vec<f64> = (0..3 * 40 * 50).map(|i| i as f64).collect();
        let a = Array::from_slice(&v, &[3, 40, 50]).unwrap();
        let t = ops::contiguous(&ops::transpose(&a, &[0, 2, 1]).unwrap()).unwrap();
        let got = t.to_vec::<f64>().unwrap();
        for b in 0..3 {
            for i in 0..50 {
                for j in 0..40 {
                    assert_eq!(got[b * 2000 + i * 40 + j], v[b * 2000 + j * 50 + i]);
                }
            }
        }
        let v: Vec<u8> = (0..64 * 48).map(|i| (i % 251) as u8).collect();
        let a = Array::from_slice(&v, &[64, 48]).unwrap();
        let got = ops::contiguous(&ops::transpose(&a, &[1, 0]).unwrap())
            .unwrap()
            .to_vec::<u8>()
            .unwrap();
        assert_eq!(got[5 * 64 + 7], v[7 * 48 + 5]);
    }
}
