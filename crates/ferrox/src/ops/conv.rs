//! Convolutions, channels last as in MLX: inputs `[N, *spatial, C_in]`, weights
//! `[C_out, *kernel, C_in / groups]`, outputs `[N, *spatial_out, C_out]`, for 1 to 3
//! spatial axes. Every form is one [`conv_general`]; the transposed convolutions are
//! convolutions of the input dilated by the stride with the mirrored kernel.

use crate::array::Array;
use crate::primitives::conv::Convolution;
use crate::{invalid, ops, Result};

/// `(2,5,3)`: a shape or parameter list as MLX's messages print it.
fn tuple<T: std::fmt::Display>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("({})", items.join(","))
}

/// A per-axis parameter: one value for every axis, or one per axis.
fn per_axis<T: Copy + std::fmt::Display>(v: &[T], nd: usize, what: &str) -> Result<Vec<T>> {
    match v.len() {
        1 => Ok(vec![v[0]; nd]),
        n if n == nd => Ok(v.to_vec()),
        _ => invalid!("[conv] Invalid {what} {} for {nd}D convolution.", tuple(v)),
    }
}

/// The general convolution: `stride` and both dilations are per spatial axis (or one
/// value for all), `padding_lo`/`padding_hi` pad each spatial axis before/after (a
/// negative value crops), `input_dilation` spaces the input's elements (the transposed
/// convolution's stride), `groups` splits the channels into independent convolutions
/// and `flip` mirrors the kernel (a true convolution instead of a cross-correlation).
///
/// ```
/// use ferrox::ops::{conv_general, ones};
/// let x = ones(&[1, 5, 1], None)?;              // [N, W, C_in]
/// let w = ones(&[1, 3, 1], None)?;              // [C_out, K, C_in]
/// let y = conv_general(&x, &w, &[1], &[1], &[1], &[1], &[1], 1, false)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![2.0, 3.0, 3.0, 3.0, 2.0]);
/// # Ok::<(), ferrox::Error>(())
/// ```
///
/// # Errors
/// MLX's: 1 to 3 spatial axes, matching ranks and channels, positive strides and
/// dilations, channels divisible by `groups`, floating-point (or complex) inputs, and a
/// padded input at least as large as the dilated kernel.
#[allow(clippy::too_many_arguments)]
pub fn conv_general(
    input: &Array,
    weight: &Array,
    stride: &[usize],
    padding_lo: &[isize],
    padding_hi: &[isize],
    kernel_dilation: &[usize],
    input_dilation: &[usize],
    groups: usize,
    flip: bool,
) -> Result<Array> {
    let nd = input.ndim().saturating_sub(2);
    if !(1..=3).contains(&nd) {
        invalid!(
            "[conv] Only works for inputs with 1-3 spatial dimensions. The inputs must be in \
             the format [N, ..., C_in]"
        );
    }
    if weight.ndim() != input.ndim() {
        invalid!(
            "[conv] Invalid weight array with {} dimensions for {nd}D convolution. Expected \
             an array with {} dimensions following the format [C_out, ..., C_in].",
            weight.ndim(),
            nd + 2
        );
    }
    let stride = per_axis(stride, nd, "strides")?;
    if stride.contains(&0) {
        invalid!(
            "[conv] Stride sizes must be positive. Got strides {}.",
            tuple(&stride)
        );
    }
    let (lo, hi) = match (
        per_axis(padding_lo, nd, "padding"),
        per_axis(padding_hi, nd, "padding"),
    ) {
        (Ok(lo), Ok(hi)) => (lo, hi),
        _ => invalid!(
            "[conv] Invalid padding {} | {} for {nd}D convolution.",
            tuple(padding_lo),
            tuple(padding_hi)
        ),
    };
    let kernel_dilation = per_axis(kernel_dilation, nd, "kernel dilation")?;
    if kernel_dilation.contains(&0) {
        invalid!(
            "[conv] Kernel dilation sizes must be positive. Got kernel dilation {}.",
            tuple(&kernel_dilation)
        );
    }
    let input_dilation = per_axis(input_dilation, nd, "input dilation")?;
    if input_dilation.contains(&0) {
        invalid!(
            "[conv] Input dilation sizes must be positive. Got input dilation {}.",
            tuple(&input_dilation)
        );
    }
    let (xs, ws) = (input.shape(), weight.shape());
    if groups == 0 {
        invalid!("[conv] The number of groups must be positive. Got {groups}.");
    }
    let cin = xs[nd + 1];
    if cin % groups != 0 {
        invalid!(
            "[conv] The input channels must be divisible by the number of groups. Got input \
             with shape {} and {groups} groups.",
            tuple(xs)
        );
    }
    if groups > 1 && ws[0] % groups != 0 {
        invalid!(
            "[conv] If groups > 1, the output channels must be divisible by the number of \
             groups. Got {} output channels and {groups} groups.",
            ws[0]
        );
    }
    if ws[nd + 1] * groups != cin {
        invalid!(
            "[conv] Expect the input channels in the input and weight array to match but got \
             shapes - input: {} and weight: {}",
            tuple(xs),
            tuple(ws)
        );
    }
    let params = Convolution {
        stride,
        padding_lo: lo,
        padding_hi: hi,
        kernel_dilation,
        input_dilation,
        groups,
        flip,
    };
    for d in 0..nd {
        if params.out_len(d, xs[d + 1], ws[d + 1]).is_none() {
            invalid!(
                "[conv] Spatial dimensions of input after padding cannot be smaller than \
                 weight spatial dimensions. Got error at axis {} for input with shape {}, \
                 padding low {}, padding high {}, and weight of shape {}.",
                d + 1,
                tuple(xs),
                tuple(&params.padding_lo),
                tuple(&params.padding_hi),
                tuple(ws)
            );
        }
    }
    let dtype = ops::result_type(&[input, weight]);
    if !dtype.is_inexact() {
        invalid!(
            "[conv] Invalid input array with type {dtype}. Convolution currently only \
             supports floating point types"
        );
    }
    conv_with(input, weight, params)
}

/// The convolution node for checked shapes and parameters (the gradient rules build
/// theirs here: their paddings and dilations are valid by construction).
pub(crate) fn conv_with(input: &Array, weight: &Array, params: Convolution) -> Result<Array> {
    let dtype = ops::result_type(&[input, weight]);
    let Some(shape) = params.output_shape(input.shape(), weight.shape()) else {
        invalid!(
            "[conv] Spatial dimensions of input after padding cannot be smaller than weight \
             spatial dimensions: input {}, weight {}.",
            tuple(input.shape()),
            tuple(weight.shape())
        );
    };
    let inputs = vec![ops::astype(input, dtype)?, ops::astype(weight, dtype)?];
    Ok(Array::from_op(shape, dtype, params, inputs, ops::stream()))
}

/// A 1-D convolution (cross-correlation) of `input` `[N, W, C_in]` with `weight`
/// `[C_out, K, C_in / groups]`, padded by `padding` on both sides.
pub fn conv1d(
    input: &Array,
    weight: &Array,
    stride: usize,
    padding: isize,
    dilation: usize,
    groups: usize,
) -> Result<Array> {
    conv_general(
        input,
        weight,
        &[stride],
        &[padding],
        &[padding],
        &[dilation],
        &[1],
        groups,
        false,
    )
}

/// A 2-D convolution of `input` `[N, H, W, C_in]` with `weight`
/// `[C_out, KH, KW, C_in / groups]`.
pub fn conv2d(
    input: &Array,
    weight: &Array,
    stride: [usize; 2],
    padding: [isize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> Result<Array> {
    conv_general(
        input,
        weight,
        &stride,
        &padding,
        &padding,
        &dilation,
        &[1],
        groups,
        false,
    )
}

/// A 3-D convolution of `input` `[N, D, H, W, C_in]` with `weight`
/// `[C_out, KD, KH, KW, C_in / groups]`.
pub fn conv3d(
    input: &Array,
    weight: &Array,
    stride: [usize; 3],
    padding: [isize; 3],
    dilation: [usize; 3],
    groups: usize,
) -> Result<Array> {
    conv_general(
        input,
        weight,
        &stride,
        &padding,
        &padding,
        &dilation,
        &[1],
        groups,
        false,
    )
}

/// The transposed convolution (the gradient of a convolution with respect to its
/// input) for any number of spatial axes: the input dilated by `stride`, padded by
/// `dilation * (k - 1) - padding` (plus `output_padding` after), convolved with the
/// mirrored kernel. Output extent `(n - 1) * stride - 2 * padding + dilation * (k - 1)
/// + 1 + output_padding`.
pub fn conv_transpose_general(
    input: &Array,
    weight: &Array,
    stride: &[usize],
    padding: &[isize],
    dilation: &[usize],
    output_padding: &[isize],
    groups: usize,
) -> Result<Array> {
    let nd = input.ndim().saturating_sub(2);
    if weight.ndim() != input.ndim() || !(1..=3).contains(&nd) {
        // conv_general names the problem.
        return conv_general(
            input,
            weight,
            stride,
            padding,
            padding,
            dilation,
            &[1],
            groups,
            true,
        );
    }
    let padding = per_axis(padding, nd, "padding")?;
    let dilation_v = per_axis(dilation, nd, "kernel dilation")?;
    let output_padding = per_axis(output_padding, nd, "output padding")?;
    let (mut lo, mut hi) = (vec![0isize; nd], vec![0isize; nd]);
    for d in 0..nd {
        let span = (dilation_v[d] * (weight.shape()[d + 1].max(1) - 1)) as isize;
        lo[d] = span - padding[d];
        hi[d] = span - padding[d] + output_padding[d];
    }
    conv_general(
        input,
        weight,
        &[1],
        &lo,
        &hi,
        dilation,
        stride,
        groups,
        true,
    )
}

/// A 1-D transposed convolution; see [`conv_transpose_general`].
pub fn conv_transpose1d(
    input: &Array,
    weight: &Array,
    stride: usize,
    padding: isize,
    dilation: usize,
    output_padding: isize,
    groups: usize,
) -> Result<Array> {
    conv_transpose_general(
        input,
        weight,
        &[stride],
        &[padding],
        &[dilation],
        &[output_padding],
        groups,
    )
}

/// A 2-D transposed convolution; see [`conv_transpose_general`].
pub fn conv_transpose2d(
    input: &Array,
    weight: &Array,
    stride: [usize; 2],
    padding: [isize; 2],
    dilation: [usize; 2],
    output_padding: [isize; 2],
    groups: usize,
) -> Result<Array> {
    conv_transpose_general(
        input,
        weight,
        &stride,
        &padding,
        &dilation,
        &output_padding,
        groups,
    )
}

/// A 3-D transposed convolution; see [`conv_transpose_general`].
pub fn conv_transpose3d(
    input: &Array,
    weight: &Array,
    stride: [usize; 3],
    padding: [isize; 3],
    dilation: [usize; 3],
    output_padding: [isize; 3],
    groups: usize,
) -> Result<Array> {
    conv_transpose_general(
        input,
        weight,
        &stride,
        &padding,
        &dilation,
        &output_padding,
        groups,
    )
}

/// NumPy's `convolve` of two 1-D arrays: `mode` is "full" (length `m + n - 1`), "same"
/// (length `max(m, n)`, centred) or "valid" (length `max(m, n) - min(m, n) + 1`).
pub fn convolve(a: &Array, v: &Array, mode: &str) -> Result<Array> {
    if a.ndim() != 1 || v.ndim() != 1 {
        invalid!("[convolve] Inputs must be 1D.");
    }
    if !matches!(mode, "full" | "same" | "valid") {
        invalid!("[convolve] Invalid mode.");
    }
    // Convolution is commutative: slide the shorter one.
    let (long, short) = if v.size() > a.size() { (v, a) } else { (a, v) };
    let n = short.size() as isize;
    if n == 0 {
        invalid!("[convolve] Inputs cannot be empty.");
    }
    let (lo, hi) = match mode {
        "full" => (n - 1, n - 1),
        "same" => {
            let lo = n - 1 - (n - 1) / 2;
            (lo, n - 1 - lo)
        }
        _ => (0, 0),
    };
    let x = ops::reshape(long, &[1, -1, 1])?;
    let w = ops::reshape(short, &[1, -1, 1])?;
    let y = conv_general(&x, &w, &[1], &[lo], &[hi], &[1], &[1], 1, true)?;
    ops::reshape(&y, &[-1])
}
