//! Walking strided views: collapsing axes that are contiguous for every operand, and
//! visiting element offsets in row-major order.

/// Merges neighbouring axes that are contiguous in every operand and drops size-1
/// axes, so that kernels loop over as few, as long rows as possible.
pub fn collapse(shape: &[usize], strides: &[&[isize]]) -> (Vec<usize>, Vec<Vec<isize>>) {
    let mut out_shape: Vec<usize> = Vec::with_capacity(shape.len());
    let mut out_strides: Vec<Vec<isize>> = vec![Vec::with_capacity(shape.len()); strides.len()];
    for (ax, &n) in shape.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let mergeable = !out_shape.is_empty()
            && strides
                .iter()
                .zip(&out_strides)
                .all(|(s, o)| *o.last().unwrap_or(&0) == s[ax] * n as isize);
        if mergeable {
            *out_shape.last_mut().unwrap_or(&mut 0) *= n;
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                if let Some(last) = o.last_mut() {
                    *last = s[ax];
                }
            }
        } else {
            out_shape.push(n);
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                o.push(s[ax]);
            }
        }
    }
    (out_shape, out_strides)
}

/// Calls `f` with the offset (in elements) of each element of a view, row-major.
pub fn for_each_offset(shape: &[usize], strides: &[isize], mut f: impl FnMut(isize)) {
    if shape.iter().any(|&n| n == 0) {
        return;
    }
    let (shape, strides) = collapse(shape, &[strides]);
    let strides = &strides[0];
    if shape.is_empty() {
        f(0);
        return;
    }
    let nd = shape.len();
    let inner = shape[nd - 1];
    let inner_stride = strides[nd - 1];
    let mut index = vec![0usize; nd - 1];
    let mut base = 0isize;
    loop {
        let mut off = base;
        for _ in 0..inner {
            f(off);
            off += inner_stride;
        }
        // Advance the outer multi-index.
        let mut ax = nd - 1;
        loop {
            if ax == 0 {
                return;
            }
            ax -= 1;
            index[ax] += 1;
            base += strides[ax];
            if index[ax] < shape[ax] {
                break;
            }
            base -= strides[ax] * shape[ax] as isize;
            index[ax] = 0;
        }
    }
}

/// The offset of row-major element `flat` of a view.
pub fn offset_of(mut flat: usize, shape: &[usize], strides: &[isize]) -> isize {
    let mut off = 0isize;
    for (&n, &s) in shape.iter().zip(strides).rev() {
        off += (flat % n) as isize * s;
        flat /= n;
    }
    off
}

/// Strides of an operand broadcast to `out_shape` (0 on broadcast axes).
pub fn broadcast_strides(shape: &[usize], strides: &[isize], out_shape: &[usize]) -> Vec<isize> {
    let pad = out_shape.len() - shape.len();
    (0..out_shape.len())
        .map(|i| {
            if i < pad || shape[i - pad] == 1 {
                0
            } else {
                strides[i - pad]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_of_a_transposed_view() {
        let mut v = vec![];
        for_each_offset(&[2, 3], &[1, 2], |o| v.push(o));
        assert_eq!(v, vec![0, 2, 4, 1, 3, 5]);
        assert_eq!(offset_of(4, &[2, 3], &[1, 2]), 3);
    }

    #[test]
    fn collapse_merges_contiguous_axes() {
        let (s, st) = collapse(&[2, 3, 4], &[&[12, 4, 1], &[0, 0, 1]]);
        assert_eq!(s, vec![6, 4]);
        assert_eq!(st, vec![vec![4, 1], vec![0, 1]]);
    }
}
