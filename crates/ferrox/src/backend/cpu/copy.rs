//! Copies: making a view contiguous and converting between dtypes (`astype`).

use super::elementwise::unary;
use crate::array::Data;
use crate::dtype::{Dtype, Element};

/// Copies the view `src` (of `src_dtype`) into the row-major `out` (of `dst_dtype`),
/// converting each element with `astype`'s rules.
pub fn copy_cast(shape: &[usize], src: &Data, src_dtype: Dtype, out: &Data, dst_dtype: Dtype) {
    crate::dispatch_dtype!(src_dtype, S => {
        crate::dispatch_dtype!(dst_dtype, D => {
            unary::<S, D>(shape, src, out, |x| x.cast::<D>())
        })
    })
}
