//! Copies: making a view contiguous and converting between dtypes (`astype`).

use super::elementwise::unary;
use super::strided::collapse;
use super::transpose;
use crate::array::{row_major_strides, Data};
use crate::dtype::{Dtype, Element};

/// Copies the view `src` (of `src_dtype`) into the view `out` (of `dst_dtype`),
/// converting each element with `astype`'s rules.
pub fn copy_cast(shape: &[usize], src: &Data, src_dtype: Dtype, out: &Data, dst_dtype: Dtype) {
    if src_dtype == dst_dtype {
        if transpose_copy(shape, src, out, src_dtype.size()) {
            return;
        }
        // Same dtype: move the bits as unsigned integers of its size. A cast would go
        // through arithmetic (bfloat16 through float32), which quiets NaN payloads.
        match src_dtype.size() {
            1 => return unary::<u8, u8>(shape, src, out, |x| x),
            2 => return unary::<u16, u16>(shape, src, out, |x| x),
            4 => return unary::<u32, u32>(shape, src, out, |x| x),
            8 => return unary::<u64, u64>(shape, src, out, |x| x),
            _ => {}
        }
    }
    crate::dispatch_dtype!(src_dtype, S => {
        crate::dispatch_dtype!(dst_dtype, D => {
            unary::<S, D>(shape, src, out, |x| x.cast::<D>())
        })
    })
}

/// Copies a (batch of) transposed matrices — collapsed to `[batch,] rows, cols` with
/// source strides `[.., 1, ld]` — with [`transpose::transpose`]; walking it element by
/// element instead reads one element per cache line and was several times slower.
/// `false` (nothing done) for any other layout.
fn transpose_copy(shape: &[usize], src: &Data, out: &Data, size: usize) -> bool {
    // (Callers also copy into views of a larger output, e.g. `concatenate`.)
    if !out.is_row_contiguous(shape) {
        return false;
    }
    let out_strides = row_major_strides(shape);
    let (cs, st) = collapse(shape, &[&src.strides, &out_strides]);
    let (s, nd) = (&st[0], cs.len());
    if !(2..=3).contains(&nd) || s[nd - 2] != 1 || s[nd - 1] <= 1 || cs[nd - 1] < 8 {
        return false;
    }
    let dims = (if nd == 3 { cs[0] } else { 1 }, cs[nd - 2], cs[nd - 1]);
    let (batch_stride, ld) = (if nd == 3 { s[0] } else { 0 }, s[nd - 1]);
    let (sp, op) = (src.byte_ptr(size), out.byte_ptr(size));
    macro_rules! go {
        // SAFETY: the strides are the source view's own; the output is row-major over
        // `shape`.
        ($t:ty) => {
            unsafe { transpose::transpose(sp as *const $t, batch_stride, ld, op as *mut $t, dims) }
        };
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
        for (r, c) in [
            (33, 70),
            (64, 64),
            (5, 100),
            (100, 5),
            (300, 517),
            (8, 8),
            (9, 17),
        ] {
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

    /// Outputs past `stream::STREAM_BYTES` are written by streaming stores: 4- and
    /// 8-byte elements, bit patterns that are NaNs as floats included.
    #[test]
    fn large_transposed_copies_stream_the_same_bits() {
        let (r, c) = (1203, 1779);
        let v: Vec<u32> = (0..r * c)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761))
            .collect();
        let a = Array::from_slice(&v, &[r, c]).unwrap();
        let got = ops::contiguous(&ops::transpose(&a, &[1, 0]).unwrap())
            .unwrap()
            .to_vec::<u32>()
            .unwrap();
        for i in 0..c {
            for j in 0..r {
                assert_eq!(got[i * r + j], v[j * c + i]);
            }
        }
        let v: Vec<i64> = (0..r * c).map(|i| i as i64 * -3).collect();
        let a = Array::from_slice(&v, &[c, r]).unwrap();
        let got = ops::contiguous(&ops::transpose(&a, &[1, 0]).unwrap())
            .unwrap()
            .to_vec::<i64>()
            .unwrap();
        for i in 0..r {
            for j in 0..c {
                assert_eq!(got[i * c + j], v[j * r + i]);
            }
        }
    }
}
