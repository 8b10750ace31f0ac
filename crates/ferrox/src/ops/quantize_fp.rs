//! The floating-point quantization modes (`mxfp4`, `mxfp8`, `nvfp4`) of `quantize` and
//! `dequantize`, the general quantized product (batched weights, every mode),
//! `gather_qmm`, and `qqmm` / `gather_qqmm` (which MLX's CPU build does not compute: they
//! raise its errors). Checks and messages follow MLX 0.32.4.

use super::quantize::{shape_str, Quantized};
use super::{broadcast_to, take};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::primitives::quantized_fp::{
    FpDequantize, FpMode, FpQuantize, QMode, QmmName, QuantizedMatmulNd,
};
use crate::{Error, Result};

/// A quantization mode named by a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Affine,
    Fp(FpMode),
}

pub(crate) fn parse_mode(op: &str, mode: &str) -> Result<Mode> {
    Ok(match mode {
        "affine" => Mode::Affine,
        "mxfp4" => Mode::Fp(FpMode::Mxfp4),
        "mxfp8" => Mode::Fp(FpMode::Mxfp8),
        "nvfp4" => Mode::Fp(FpMode::Nvfp4),
        _ => {
            return Err(Error::Invalid(format!(
                "[{op}] Invalid quantization mode '{mode}'."
            )))
        }
    })
}

/// An fp mode's fixed group size and bits, checked against the requested ones.
pub(crate) fn fp_params(
    op: &str,
    mode: FpMode,
    group_size: Option<usize>,
    bits: Option<usize>,
) -> Result<()> {
    let (gs, b) = (mode.group_size(), mode.bits());
    let name = mode.name();
    match group_size {
        Some(g) if g != gs => Err(Error::Invalid(format!(
            "[{op}] {name} quantization requires group size {gs} but got {g}."
        ))),
        _ => match bits {
            Some(x) if x != b => Err(Error::Invalid(format!(
                "[{op}] {name} quantization requires bits to be {b} but got {x}."
            ))),
            _ => Ok(()),
        },
    }
}

/// Checks `global_scale`: nvfp4 only, one float32 value.
pub(crate) fn check_global(op: &str, mode: Mode, g: Option<&Array>) -> Result<()> {
    let Some(g) = g else { return Ok(()) };
    if mode != Mode::Fp(FpMode::Nvfp4) {
        return Err(Error::Invalid(format!(
            "[{op}] Global scale is only supported for 'nvfp4' quantization mode."
        )));
    }
    if g.size() != 1 {
        return Err(Error::Invalid(format!(
            "[{op}] Global scale must be a scalar but got shape {}.",
            shape_str(g.shape())
        )));
    }
    if g.dtype() != Dtype::Float32 {
        return Err(Error::Invalid(format!(
            "[{op}] Global scale must have dtype float32 but got {}.",
            g.dtype()
        )));
    }
    Ok(())
}

/// `quantize` in an fp mode, for checked `w` (float, at least 2-D, last axis a multiple
/// of the group size): packed codes and uint8 scales.
pub(crate) fn quantize_fp(w: &Array, mode: FpMode, global: Option<&Array>) -> Result<Quantized> {
    // MLX packs the codes of the whole array as rows of 32: nvfp4 (groups of 16) fails
    // on an odd number of groups, with this message.
    let size = w.size();
    if size % 32 != 0 {
        return Err(Error::Invalid(format!(
            "[reshape] Cannot reshape array of size {size} into shape ({},4,8).",
            size / 32
        )));
    }
    let nd = w.ndim();
    let cols = w.shape()[nd - 1];
    let mut wshape = w.shape().to_vec();
    wshape[nd - 1] = cols * mode.bits() / 32;
    let mut sshape = w.shape().to_vec();
    sshape[nd - 1] = cols / mode.group_size();
    let mut inputs = vec![w.clone()];
    inputs.extend(global.cloned());
    let mut out = Array::from_multi_op(
        vec![(wshape, Dtype::Uint32), (sshape, Dtype::Uint8)],
        FpQuantize { mode },
        inputs,
        super::stream(),
    );
    let scales = out.pop().expect("two outputs");
    let wq = out.pop().expect("two outputs");
    Ok(Quantized {
        wq,
        scales,
        biases: None,
    })
}

/// Checks packed fp-mode weights against their scales: the float matrix's columns.
fn check_fp_packed(
    op: &str,
    mode: FpMode,
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
) -> Result<usize> {
    if biases.is_some() {
        return Err(Error::Invalid(format!(
            "[{op}] Biases must be null for quantization mode '{}'.",
            mode.name()
        )));
    }
    if w.dtype() != Dtype::Uint32 {
        return Err(Error::Invalid(format!(
            "[{op}] The matrix should be given as a uint32"
        )));
    }
    if w.ndim() < 2 {
        return Err(Error::Invalid(format!(
            "[{op}] The matrix to be dequantized must have at least 2 dimension but it has \
             only {}.",
            w.ndim()
        )));
    }
    if scales.dtype() != Dtype::Uint8 {
        return Err(Error::Invalid(format!(
            "[{op}] Scale type must be uint8 but received type {}.",
            scales.dtype()
        )));
    }
    let nd = w.ndim();
    let cols = w.shape()[nd - 1] * 32 / mode.bits();
    let mut want = w.shape().to_vec();
    want[nd - 1] = cols / mode.group_size();
    if scales.shape() != want.as_slice() {
        return Err(Error::Invalid(format!(
            "[{op}] Shape of scales does not match the matrix given the quantization \
             parameters. Provided matrix of shape {} and scales of shape {}.",
            shape_str(w.shape()),
            shape_str(scales.shape())
        )));
    }
    Ok(cols)
}

/// `dequantize` in an fp mode for checked arguments.
pub(crate) fn dequantize_fp(
    w: &Array,
    scales: &Array,
    mode: FpMode,
    global: Option<&Array>,
    dtype: Dtype,
) -> Result<Array> {
    let mut shape = w.shape().to_vec();
    let nd = shape.len();
    shape[nd - 1] = w.shape()[nd - 1] * 32 / mode.bits();
    let mut inputs = vec![w.clone(), scales.clone()];
    inputs.extend(global.cloned());
    Ok(Array::from_op(
        shape,
        dtype,
        FpDequantize { mode },
        inputs,
        super::stream(),
    ))
}

/// The public `dequantize` for the fp modes (mode, group size and bits checked by the
/// caller): MLX's default output dtype for these is bfloat16, and float32 with a global
/// scale.
pub(crate) fn dequantize_fp_checked(
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
    mode: FpMode,
    global: Option<&Array>,
    dtype: Option<Dtype>,
) -> Result<Array> {
    check_fp_packed("dequantize", mode, w, scales, biases)?;
    let dtype = dtype.unwrap_or(Dtype::Bfloat16);
    // MLX multiplies by the float32 global scale last: the result is float32 whatever
    // dtype was asked for.
    let dtype = if global.is_some() {
        Dtype::Float32
    } else {
        dtype
    };
    if !dtype.is_floating() {
        return Err(Error::Invalid(format!(
            "[dequantize] Only real floating types are supported but output dtype == {dtype}."
        )));
    }
    dequantize_fp(w, scales, mode, global, dtype)
}

/// The product node for arguments whose batch axes are equal: x `[B.., m, k]` and
/// `wsb` = w, scales (, biases) `[B.., rows, ..]`.
pub(crate) fn quantized_matmul_nd(
    x: &Array,
    wsb: &[Array],
    prim: QuantizedMatmulNd,
) -> Result<Array> {
    let w = &wsb[0];
    let nd = w.ndim();
    let cols = w.shape()[nd - 1] * 32 / prim.mode.bits();
    let n = if prim.transpose {
        w.shape()[nd - 2]
    } else {
        cols
    };
    let dtype = match prim.mode {
        QMode::Affine { .. } => super::result_type(&[x, &wsb[1]]),
        QMode::Fp(_) => x.dtype(),
    };
    let mut shape = x.shape().to_vec();
    *shape.last_mut().ok_or_else(|| {
        Error::Invalid("[quantized_matmul] x must have at least one dimension.".into())
    })? = n;
    let mut inputs = vec![x.clone()];
    inputs.extend(wsb.iter().cloned());
    Ok(Array::from_op(shape, dtype, prim, inputs, super::stream()))
}

/// Shapes of quantized weights and their scales (and biases): the matrix's `(rows,
/// cols)`, with MLX's messages.
fn check_qmm_shapes(
    op: &str,
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
    gs: usize,
    bits: usize,
) -> Result<(usize, usize)> {
    if w.dtype() != Dtype::Uint32 {
        return Err(Error::Invalid(format!(
            "[{op}] The weight matrix should be uint32 but received {}.",
            w.dtype()
        )));
    }
    let same_batch =
        |a: &Array| a.ndim() == w.ndim() && a.shape()[..a.ndim() - 2] == w.shape()[..w.ndim() - 2];
    if w.ndim() < 2 || !same_batch(scales) || !biases.map_or(true, same_batch) {
        return Err(Error::Invalid(format!(
            "[{op}] Weight and scales should have the same batch shape. Received weight with \
             shape {}, scales with {}.",
            shape_str(w.shape()),
            shape_str(scales.shape())
        )));
    }
    let nd = w.ndim();
    let (rows, words) = (w.shape()[nd - 2], w.shape()[nd - 1]);
    let cols = words * 32 / bits;
    let ok =
        |a: &Array| a.shape()[nd - 2] == rows && cols % gs == 0 && a.shape()[nd - 1] == cols / gs;
    if !ok(scales) || !biases.map_or(true, ok) {
        return Err(Error::Invalid(format!(
            "[{op}] The shapes of the weight and scales are incompatible based on bits and \
             group_size. w.shape() == {} and scales.shape() == {} with group_size={gs} and \
             bits={bits}",
            shape_str(w.shape()),
            shape_str(scales.shape())
        )));
    }
    Ok((rows, cols))
}

/// Checks every argument of a quantized product (MLX's order, as far as its messages
/// show it) and returns the product's primitive and the matrix's `(k, n)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn qmm_checked(
    op: &str,
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
    transpose: bool,
    group_size: Option<usize>,
    bits: Option<usize>,
    mode: &str,
) -> Result<(QMode, usize, usize)> {
    let m = parse_mode(op, mode)?;
    let (gs, b) = match m {
        Mode::Affine => (group_size.unwrap_or(64), bits.unwrap_or(4)),
        Mode::Fp(f) => (
            group_size.unwrap_or(f.group_size()),
            bits.unwrap_or(f.bits()),
        ),
    };
    match (m, biases) {
        (Mode::Affine, None) => {
            return Err(Error::Invalid(format!(
                "[{op}] Biases must be provided for affine quantization."
            )))
        }
        (Mode::Fp(f), Some(_)) => {
            return Err(Error::Invalid(format!(
                "[{op}] Biases must be null for quantization mode '{}'.",
                f.name()
            )))
        }
        _ => {}
    }
    if let Mode::Fp(_) = m {
        if scales.dtype() != Dtype::Uint8 {
            return Err(Error::Invalid(format!(
                "[{op}] Scale type must be uint8 but received type {}.",
                scales.dtype()
            )));
        }
    }
    let (rows, cols) = check_qmm_shapes(op, w, scales, biases, gs, b)?;
    let qmode = match m {
        Mode::Affine => {
            super::quantize::affine_params(op, Some(gs), Some(b), "affine")?;
            QMode::Affine {
                group_size: gs,
                bits: b,
            }
        }
        Mode::Fp(f) => {
            fp_params(op, f, Some(gs), Some(b))?;
            QMode::Fp(f)
        }
    };
    if !x.dtype().is_floating() {
        return Err(Error::Invalid(format!(
            "[{op}] Only real floating types are supported but x.dtype() == {}.",
            x.dtype()
        )));
    }
    if x.dtype() == Dtype::Float64 {
        return Err(Error::Runtime(format!(
            "[{op}] only floating types are supported"
        )));
    }
    let (k, n) = if transpose {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let last = x.shape().last().copied();
    if x.ndim() == 0 || last != Some(k) {
        return Err(Error::Invalid(format!(
            "[{op}] Last dimension of first input with shape (..., {}) does not match the \
             expanded quantized matrix ({k}, {n}) computed from shape {} with \
             group_size={gs}, bits={b} and transpose={transpose}",
            last.unwrap_or(0),
            shape_str(w.shape())
        )));
    }
    Ok((qmode, k, n))
}

/// The quantized product for every mode and batched weights. `w` of more than two axes
/// multiplies `x` matrix by matrix, the batch axes of both broadcast together; but, as in
/// MLX, an `x` of one or two axes meets only the first matrix of a batched `w`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn quantized_matmul_general(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
    transpose: bool,
    qmode: QMode,
) -> Result<Array> {
    let nd = w.ndim();
    let cols = w.shape()[nd - 1] * 32 / qmode.bits();
    let (k, n) = if transpose {
        (cols, w.shape()[nd - 2])
    } else {
        (w.shape()[nd - 2], cols)
    };
    let prim = QuantizedMatmulNd {
        mode: qmode,
        transpose,
        op: QmmName::QuantizedMatmul,
    };
    let mut wsb = vec![w.clone(), scales.clone()];
    wsb.extend(biases.cloned());
    if nd == 2 || x.ndim() <= 2 {
        // Rows of x against one matrix (the first, for batched weights).
        let first = |a: &Array| -> Result<Array> {
            let s = a.shape();
            let m = a.reshape(&[
                a.size() / (s[nd - 2] * s[nd - 1]).max(1),
                s[nd - 2],
                s[nd - 1],
            ])?;
            take(&m, &Array::scalar(0i32), Some(0))
        };
        let wsb: Vec<Array> = if nd == 2 {
            wsb
        } else {
            wsb.iter().map(first).collect::<Result<_>>()?
        };
        let rows = x.size() / k.max(1);
        let y = quantized_matmul_nd(&x.reshape(&[rows, k])?, &wsb, prim)?;
        let mut shape = x.shape().to_vec();
        *shape.last_mut().ok_or_else(|| {
            Error::Invalid("[quantized_matmul] x must have at least one dimension.".into())
        })? = n;
        return y.reshape(&shape);
    }
    let xb = &x.shape()[..x.ndim() - 2];
    let batch = broadcast_batch(xb, &w.shape()[..nd - 2])?;
    let to = |a: &Array, tail: &[usize]| -> Result<Array> {
        let mut s = batch.clone();
        s.extend_from_slice(tail);
        broadcast_to(a, &s)
    };
    let xs = to(x, &x.shape()[x.ndim() - 2..])?;
    let wsb: Vec<Array> = wsb
        .iter()
        .map(|a| to(a, &a.shape()[nd - 2..]))
        .collect::<Result<_>>()?;
    quantized_matmul_nd(&xs, &wsb, prim)
}

/// Two batch shapes broadcast together, with MLX's message when they do not.
fn broadcast_batch(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    crate::shape::broadcast_shapes(a, b).map_err(|_| {
        Error::Invalid(format!(
            "[broadcast_shapes] Shapes {} and {} cannot be broadcast.",
            shape_str(a),
            shape_str(b)
        ))
    })
}

/// Flat batch indices: `idx` checked to be integral, else `arange` over the
/// batch axes `batch` in their shape.
fn batch_indices(op: &str, idx: Option<&Array>, batch: &[usize]) -> Result<Array> {
    match idx {
        Some(i) if !i.dtype().is_integer() => Err(Error::Invalid(format!(
            "[{op}] Got indices with invalid dtype. Indices must be integral."
        ))),
        Some(i) => Ok(i.clone()),
        None => {
            let n: usize = batch.iter().product();
            super::arange(0.0, n as f64, 1.0, Some(Dtype::Uint32))?.reshape(batch)
        }
    }
}

/// Quantized matrix products with a gather over the batch axes: `lhs_indices` pick
/// matrices of `x` (`[.., m, k]`, batch axes flattened) and `rhs_indices` of `w`; the two
/// broadcast together and lead the output, `[I.., m, n]`. A missing index array stands for
/// every matrix in order; with neither, this is `quantized_matmul` (as in MLX). A
/// `global_scale` (nvfp4, float32, one per matrix of `w`) is checked and then refused, as
/// MLX's CPU build does. `sorted_indices` is a hint MLX's CPU build does not need, nor
/// this.
#[allow(clippy::too_many_arguments)]
pub fn gather_qmm(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
    lhs_indices: Option<&Array>,
    rhs_indices: Option<&Array>,
    transpose: bool,
    group_size: Option<usize>,
    bits: Option<usize>,
    mode: &str,
    global_scale: Option<&Array>,
    sorted_indices: bool,
) -> Result<Array> {
    let _ = sorted_indices;
    let op = "gather_qmm";
    if lhs_indices.is_none() && rhs_indices.is_none() {
        // MLX: without indices this is the plain quantized product.
        if global_scale.is_some() {
            return Err(Error::Invalid(format!(
                "[{op}] Global scale is not supported without indices."
            )));
        }
        return super::quantized_matmul(x, w, scales, biases, transpose, group_size, bits, mode);
    }
    if x.ndim() < 2 {
        return Err(Error::Invalid(format!(
            "[{op}] Input must have at least two dimensions but got input with shape {}.",
            shape_str(x.shape())
        )));
    }
    let (qmode, _, _) = qmm_checked(op, x, w, scales, biases, transpose, group_size, bits, mode)?;
    let (xn, wn) = (x.ndim(), w.ndim());
    if let Some(g) = global_scale {
        // One float32 scale per matrix of w ("expert").
        if qmode != QMode::Fp(FpMode::Nvfp4) {
            return Err(Error::Invalid(format!(
                "[{op}] Global scale is only supported for 'nvfp4' quantization mode."
            )));
        }
        if g.shape() != &w.shape()[..wn - 2] {
            return Err(Error::Invalid(format!(
                "[{op}] Global scale must have one entry per expert with shape {} but got {}.",
                shape_str(&w.shape()[..wn - 2]),
                shape_str(g.shape())
            )));
        }
        if g.dtype() != Dtype::Float32 {
            return Err(Error::Invalid(format!(
                "[{op}] Global scale must have dtype float32 but got {}.",
                g.dtype()
            )));
        }
        // MLX's CPU build stops here (QuantizedMatmulNd could take one scale per
        // matrix as an input, but MLX gives no CPU values to match).
        return Err(Error::Invalid(format!(
            "[{op}] Global scale is only supported on the GPU."
        )));
    }
    let lhs = batch_indices(op, lhs_indices, &x.shape()[..xn - 2])?;
    let rhs = batch_indices(op, rhs_indices, &w.shape()[..wn - 2])?;
    let batch = broadcast_batch(lhs.shape(), rhs.shape())?;
    let (lhs, rhs) = (broadcast_to(&lhs, &batch)?, broadcast_to(&rhs, &batch)?);
    // Matrices picked from the flattened batch axes: `[I.., r, c]`.
    let pick = |a: &Array, idx: &Array| -> Result<Array> {
        let s = a.shape();
        let (r, c) = (s[s.len() - 2], s[s.len() - 1]);
        let flat = a.reshape(&[a.size() / (r * c).max(1), r, c])?;
        take(&flat, idx, Some(0))
    };
    let xs = pick(x, &lhs)?;
    let mut wsb = vec![pick(w, &rhs)?, pick(scales, &rhs)?];
    if let Some(b) = biases {
        wsb.push(pick(b, &rhs)?);
    }

    let prim = QuantizedMatmulNd {
        mode: qmode,
        transpose,
        op: QmmName::GatherQMM,
    };
    quantized_matmul_nd(&xs, &wsb, prim)
}

/// `x @ w.T` with `x` quantized on the fly (and `w` too unless given quantized with its
/// `scales`). MLX's CPU build checks the arguments and then cannot compute it: neither
/// does this (the same `RuntimeError`).
#[allow(clippy::too_many_arguments)]
pub fn qqmm(
    x: &Array,
    w: &Array,
    scales: Option<&Array>,
    group_size: Option<usize>,
    bits: Option<usize>,
    mode: &str,
    global_scale_x: Option<&Array>,
    global_scale_w: Option<&Array>,
) -> Result<Array> {
    let _ = (group_size, bits, global_scale_x, global_scale_w);
    parse_mode("qqmm", mode)?;
    qqmm_shapes(x, w)?;
    for (a, which) in [(x, "first"), (w, "second")] {
        let quantized = which == "second" && a.dtype() == Dtype::Uint32;
        if quantized {
            if scales.is_none() {
                return Err(Error::Invalid(
                    "[qqmm] Scales must be provided if second argument is quantized.".into(),
                ));
            }
        } else if !a.dtype().is_floating() || a.dtype() == Dtype::Float64 {
            return Err(Error::Invalid(format!(
                "[qqmm] Only real floating types except float64 are supported but {which} \
                 argument dtype == {}.",
                a.dtype()
            )));
        }
    }
    Err(Error::Runtime("[QQMatmul] NYI for the general case".into()))
}

/// MLX's check of a float `w`'s last axis against `x`'s in `qqmm`.
fn qqmm_shapes(x: &Array, w: &Array) -> Result<()> {
    if w.dtype() == Dtype::Uint32 {
        return Ok(());
    }
    if x.shape().last() != w.shape().last() {
        return Err(Error::Invalid(format!(
            "[qqmm] Last dimension of first input with shape {} must match last dimension \
             of second input with shape {}.",
            shape_str(x.shape()),
            shape_str(w.shape())
        )));
    }
    Ok(())
}

/// `qqmm` with a gather over the batch axes; MLX's CPU build raises once the mode and
/// shapes are checked, and so does this.
#[allow(clippy::too_many_arguments)]
pub fn gather_qqmm(
    x: &Array,
    w: &Array,
    scales: Option<&Array>,
    lhs_indices: Option<&Array>,
    rhs_indices: Option<&Array>,
    group_size: Option<usize>,
    bits: Option<usize>,
    mode: &str,
    global_scale_x: Option<&Array>,
    global_scale_w: Option<&Array>,
    sorted_indices: bool,
) -> Result<Array> {
    let _ = (scales, lhs_indices, rhs_indices, group_size, bits);
    let _ = (global_scale_x, global_scale_w, sorted_indices);
    parse_mode("gather_qqmm", mode)?;
    qqmm_shapes(x, w)?;
    Err(Error::Runtime("[GatherQQMM] NYI".into()))
}
