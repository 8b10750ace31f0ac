//! `Convolution`: an N-d convolution, channels last (`[N, *spatial, C]`), with strides,
//! padding, kernel and input dilation, groups and flip. Its gradients are convolutions
//! again (so they differentiate again), built by `ops::conv_with`.

use super::{cast_data, row_major};
use crate::array::{Array, Data, Shape};
use crate::backend::cpu;
use crate::dtype::Dtype;
use crate::primitive::{Batched, EvalContext, Primitive, TracedShapes};
use crate::transforms::vmap::by_loop;
use crate::{ops, Error, Result};
use half::f16;
use num_complex::Complex32;

/// The parameters of a convolution: one entry per spatial axis in each vector.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Convolution {
    pub stride: Vec<usize>,
    /// Padding before and after each spatial axis (negative crops).
    pub padding_lo: Vec<isize>,
    pub padding_hi: Vec<isize>,
    pub kernel_dilation: Vec<usize>,
    pub input_dilation: Vec<usize>,
    pub groups: usize,
    pub flip: bool,
}

impl Convolution {
    /// The length of spatial axis `d` of an input of extent `n` once dilated and padded.
    pub(crate) fn padded_len(&self, d: usize, n: usize) -> isize {
        if n == 0 {
            return self.padding_lo[d] + self.padding_hi[d];
        }
        ((n - 1) * self.input_dilation[d] + 1) as isize + self.padding_lo[d] + self.padding_hi[d]
    }

    /// The output's spatial extent on axis `d` for input extent `n` and kernel extent
    /// `k`, or `None` when the dilated kernel is longer than the padded input.
    pub(crate) fn out_len(&self, d: usize, n: usize, k: usize) -> Option<usize> {
        let span = ((k.max(1) - 1) * self.kernel_dilation[d] + 1) as isize;
        let p = self.padded_len(d, n);
        (p >= span).then(|| ((p - span) as usize) / self.stride[d] + 1)
    }

    /// The output shape for input `x` and weight `w` (shapes already checked).
    pub(crate) fn output_shape(&self, x: &[usize], w: &[usize]) -> Option<Vec<usize>> {
        let nd = x.len() - 2;
        let mut out = vec![x[0]];
        for d in 0..nd {
            out.push(self.out_len(d, x[d + 1], w[d + 1])?);
        }
        out.push(w[0]);
        Some(out)
    }
}

impl Primitive for Convolution {
    crate::exportable!(Convolution);

    fn name(&self) -> &'static str {
        "Convolution"
    }

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        let (x, w) = (inputs[0], inputs[1]);
        if x.len() != w.len() || x.len() != self.stride.len() + 2 {
            return None;
        }
        Some(vec![self.output_shape(x, w)?])
    }

    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        let (x, w) = (&inputs[0], &inputs[1]);
        let nd = x.ndim() - 2;
        let geometry = cpu::conv::Geometry {
            batch: x.shape()[0],
            in_spatial: x.shape()[1..=nd].to_vec(),
            in_channels: x.shape()[nd + 1],
            out_spatial: shape[1..=nd].to_vec(),
            out_channels: shape[nd + 1],
            kernel: w.shape()[1..=nd].to_vec(),
            stride: self.stride.clone(),
            pad_lo: self.padding_lo.clone(),
            kernel_dilation: self.kernel_dilation.clone(),
            input_dilation: self.input_dilation.clone(),
            groups: self.groups,
            flip: self.flip,
        };
        // bfloat16 computes in float32 (the GEMM has no bf16 kernel).
        let compute = if dtype == Dtype::Bfloat16 {
            Dtype::Float32
        } else {
            dtype
        };
        let (xd, wd) = (row_major(x, compute)?, row_major(w, compute)?);
        let out = Data::alloc(&shape, compute)?;
        let size = |s: &[usize]| s.iter().product::<usize>();
        let (nx, nw, no) = (size(x.shape()), size(w.shape()), size(&shape));
        macro_rules! run {
            ($t:ty, $one:expr) => {
                // SAFETY: row-major buffers of exactly these element counts.
                unsafe {
                    cpu::conv::conv::<$t>(
                        &geometry,
                        xd.as_slice(nx),
                        wd.as_slice(nw),
                        out.as_mut_slice(no),
                        $one,
                    )
                }
            };
        }
        // 3x3 stride-1 2-D kernels take the Winograd path (2.25x fewer multiplies) when
        // they have enough output tiles to pay for its fixed costs.
        let winograd = cpu::winograd::applies(&geometry) && cpu::winograd::pays(&geometry);
        macro_rules! run_winograd {
            ($t:ty) => {
                // SAFETY: row-major buffers of exactly these element counts.
                unsafe {
                    cpu::winograd::conv::<$t>(
                        &geometry,
                        xd.as_slice(nx),
                        wd.as_slice(nw),
                        out.as_mut_slice(no),
                    )
                }
            };
        }
        match compute {
            Dtype::Float32 if winograd => run_winograd!(f32),
            Dtype::Float64 if winograd => run_winograd!(f64),
            Dtype::Float32 => run!(f32, 1.0),
            Dtype::Float64 => run!(f64, 1.0),
            Dtype::Float16 => run!(f16, f16::ONE),
            Dtype::Complex64 => run!(Complex32, Complex32::new(1.0, 0.0)),
            d => {
                return Err(Error::Runtime(format!(
                    "[Convolution] no CPU kernel for {d}."
                )))
            }
        }
        Ok(vec![cast_data(out, &shape, compute, dtype)?])
    }

    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        argnums
            .iter()
            .map(|&i| match i {
                0 => input_grad(self, &p[0], &p[1], &cot[0]),
                _ => weight_grad(self, &p[0], &p[1].shape()[1..p[1].ndim() - 1], &cot[0]),
            })
            .collect()
    }

    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        // Bilinear: d conv(x, w) = conv(dx, w) + conv(x, dw).
        let mut acc: Option<Array> = None;
        for (&i, t) in argnums.iter().zip(tan) {
            let d = match i {
                0 => ops::conv_with(t, &p[1], self.clone())?,
                _ => ops::conv_with(&p[0], t, self.clone())?,
            };
            acc = Some(match acc {
                Some(a) => ops::add(&a, &d)?,
                None => d,
            });
        }
        acc.map(|a| vec![a])
            .ok_or_else(|| Error::Runtime("[Convolution] jvp without tangents".into()))
    }

    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let (x, w) = (&inputs[0], &inputs[1]);
        match (axes[0], axes[1]) {
            // A batch of inputs is a larger batch of images: fold it into axis 0.
            (Some(ax), None) => {
                let b = x.shape()[ax];
                let xf = ops::moveaxis(x, ax as isize, 0)?;
                let n = xf.shape()[1];
                let mut folded: Vec<isize> = vec![(b * n) as isize];
                folded.extend(xf.shape()[2..].iter().map(|&s| s as isize));
                let y = ops::conv_with(&ops::reshape(&xf, &folded)?, w, self.clone())?;
                let mut shape = vec![b as isize, n as isize];
                shape.extend(y.shape()[1..].iter().map(|&s| s as isize));
                Ok((vec![ops::reshape(&y, &shape)?], vec![Some(0)]))
            }
            // A batch of weights: one convolution per weight.
            _ => {
                let prim = self.clone();
                by_loop(inputs, axes, move |a| {
                    Ok(vec![ops::conv_with(&a[0], &a[1], prim.clone())?])
                })
            }
        }
    }
}

/// Spatial extents of `a` (`[N, *spatial, C]`).
fn spatial(a: &Array) -> &[usize] {
    &a.shape()[1..a.ndim() - 1]
}

/// The cotangent of the input: the cotangent `c` spread back over the dilated, padded
/// input by a convolution with the channel-transposed, mirrored weights (input dilation
/// = the stride), then read back at the input's own positions.
fn input_grad(p: &Convolution, x: &Array, w: &Array, c: &Array) -> Result<Array> {
    let nd = p.stride.len();
    let (groups, cout, cin) = (p.groups, w.shape()[0], x.shape()[nd + 1]);
    let (cout_g, cin_g) = (cout / groups, cin / groups);
    // [groups * cout_g, *k, cin_g] -> [groups * cin_g, *k, cout_g]
    let mut split: Vec<isize> = vec![groups as isize, cout_g as isize];
    split.extend(w.shape()[1..].iter().map(|&s| s as isize));
    let mut perm: Vec<isize> = vec![0, nd as isize + 2];
    perm.extend((2..nd + 2).map(|a| a as isize));
    perm.push(1);
    let mut merged: Vec<isize> = vec![(groups * cin_g) as isize];
    merged.extend(w.shape()[1..=nd].iter().map(|&s| s as isize));
    merged.push(cout_g as isize);
    let wt = ops::reshape(&ops::transpose(&ops::reshape(w, &split)?, &perm)?, &merged)?;

    let (mut lo, mut hi) = (vec![0isize; nd], vec![0isize; nd]);
    for d in 0..nd {
        let k = w.shape()[d + 1] as isize;
        let o = spatial(c)[d] as isize;
        let padded = p.padded_len(d, spatial(x)[d]);
        lo[d] = p.kernel_dilation[d] as isize * (k - 1);
        hi[d] = padded - 1 - (o - 1) * p.stride[d] as isize;
    }
    let back = Convolution {
        stride: vec![1; nd],
        padding_lo: lo,
        padding_hi: hi,
        kernel_dilation: p.kernel_dilation.clone(),
        input_dilation: p.stride.clone(),
        groups,
        flip: !p.flip,
    };
    // The gradient over the dilated, padded input: [N, *padded, C_in].
    let g = ops::conv_with(c, &wt, back)?;
    // Undo padding (a crop reads as zero) and input dilation.
    let mut widths = vec![(0usize, 0usize)];
    let (mut start, mut stop, mut step) = (vec![0isize], vec![x.shape()[0] as isize], vec![1]);
    for d in 0..nd {
        let (front, end) = ((-p.padding_lo[d]).max(0), (-p.padding_hi[d]).max(0));
        widths.push((front as usize, end as usize));
        let first = p.padding_lo[d] + front;
        let n = spatial(x)[d] as isize;
        start.push(first);
        stop.push(first + (n - 1).max(0) * p.input_dilation[d] as isize + n.min(1));
        step.push(p.input_dilation[d] as isize);
    }
    widths.push((0, 0));
    start.push(0);
    stop.push(cin as isize);
    step.push(1);
    let g = if widths.iter().any(|&(a, b)| a + b > 0) {
        ops::pad(&g, &widths, ops::PadMode::Constant, 0.0)?
    } else {
        g
    };
    ops::slice(&g, &start, &stop, &step)
}

/// The cotangent of the weights: `ConvWeightGrad` (the patches of the input, transposed,
/// times the cotangent) for real floats; complex ones keep the form as a convolution.
fn weight_grad(p: &Convolution, x: &Array, kernel: &[usize], c: &Array) -> Result<Array> {
    let dtype = ops::result_type(&[x, c]);
    if !dtype.is_floating() {
        return weight_grad_as_conv(p, x, kernel, c);
    }
    let nd = p.stride.len();
    let mut shape = vec![c.shape()[nd + 1]];
    shape.extend_from_slice(kernel);
    shape.push(x.shape()[nd + 1] / p.groups);
    let prim = ConvWeightGrad {
        conv: p.clone(),
        kernel: kernel.to_vec(),
    };
    let inputs = vec![ops::astype(x, dtype)?, ops::astype(c, dtype)?];
    Ok(Array::from_op(shape, dtype, prim, inputs, ops::stream()))
}

/// The cotangent of the weights as a convolution: per group, a convolution of the input
/// (channels as the batch, images as channels) with the cotangent as the kernel, whose
/// stride is the kernel dilation and whose kernel dilation is the stride.
fn weight_grad_as_conv(p: &Convolution, x: &Array, kernel: &[usize], c: &Array) -> Result<Array> {
    let nd = p.stride.len();
    let (groups, cout, cin) = (p.groups, c.shape()[nd + 1], x.shape()[nd + 1]);
    let (cout_g, cin_g) = (cout / groups, cin / groups);
    // [N, *s, C] -> [C, *s, N]
    let channels_first = |a: &Array| ops::swapaxes(a, 0, nd as isize + 1);
    let (xt, ct) = (channels_first(x)?, channels_first(c)?);
    let along = Convolution {
        stride: p.kernel_dilation.clone(),
        padding_lo: p.padding_lo.clone(),
        padding_hi: p.padding_hi.clone(),
        kernel_dilation: p.stride.clone(),
        input_dilation: p.input_dilation.clone(),
        groups: 1,
        flip: false,
    };
    let mut parts = Vec::with_capacity(groups);
    for g in 0..groups {
        let take = |a: &Array, lo: usize, n: usize| {
            let mut start = vec![0isize; nd + 2];
            let mut stop: Vec<isize> = a.shape().iter().map(|&s| s as isize).collect();
            start[0] = lo as isize;
            stop[0] = (lo + n) as isize;
            ops::slice(a, &start, &stop, &vec![1; nd + 2])
        };
        let (xg, cg) = if groups == 1 {
            (xt.clone(), ct.clone())
        } else {
            (take(&xt, g * cin_g, cin_g)?, take(&ct, g * cout_g, cout_g)?)
        };
        // [cin_g, *z, cout_g] with z >= kernel: keep the first `kernel` positions.
        let z = ops::conv_with(&xg, &cg, along.clone())?;
        let mut stop: Vec<isize> = vec![cin_g as isize];
        stop.extend(kernel.iter().map(|&k| k as isize));
        stop.push(cout_g as isize);
        let z = ops::slice(&z, &vec![0; nd + 2], &stop, &vec![1; nd + 2])?;
        parts.push(ops::swapaxes(&z, 0, nd as isize + 1)?);
    }
    let dw = if groups == 1 {
        parts.pop().expect("one group, one part")
    } else {
        ops::concatenate(&parts, Some(0))?
    };
    if p.flip {
        let axes: Vec<isize> = (1..=nd as isize).collect();
        ops::flip(&dw, Some(&axes))
    } else {
        Ok(dw)
    }
}

/// The weight gradient of a `Convolution` with parameters `conv`: inputs `x`
/// `[N, *spatial, C_in]` and the cotangent `dy` of the output, output
/// `[C_out, *kernel, C_in / groups]`, computed directly as `patches(x)^T @ dy`
/// (`cpu::conv::weight_grad`). It is bilinear in `(x, dy)`, and
/// `<ConvWeightGrad(x, dy), g> = <conv(x, g), dy>`, which gives its own derivatives.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConvWeightGrad {
    pub conv: Convolution,
    /// The kernel's spatial extent (not implied by the shapes when strided).
    pub kernel: Vec<usize>,
}

impl Primitive for ConvWeightGrad {
    crate::exportable!(ConvWeightGrad);

    fn name(&self) -> &'static str {
        "ConvWeightGrad"
    }

    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = ctx.outputs[0].clone();
        let (x, c) = (&inputs[0], &inputs[1]);
        let nd = x.ndim() - 2;
        let geometry = cpu::conv::Geometry {
            batch: x.shape()[0],
            in_spatial: x.shape()[1..=nd].to_vec(),
            in_channels: x.shape()[nd + 1],
            out_spatial: c.shape()[1..=nd].to_vec(),
            out_channels: c.shape()[nd + 1],
            kernel: self.kernel.clone(),
            stride: self.conv.stride.clone(),
            pad_lo: self.conv.padding_lo.clone(),
            kernel_dilation: self.conv.kernel_dilation.clone(),
            input_dilation: self.conv.input_dilation.clone(),
            groups: self.conv.groups,
            flip: self.conv.flip,
        };
        // Half types compute in float32 (sums over the whole batch and image).
        let compute = if dtype == Dtype::Float64 {
            Dtype::Float64
        } else {
            Dtype::Float32
        };
        let (xd, cd) = (row_major(x, compute)?, row_major(c, compute)?);
        let out = Data::alloc(&shape, compute)?;
        let size = |s: &[usize]| s.iter().product::<usize>();
        let (nx, nc, no) = (size(x.shape()), size(c.shape()), size(&shape));
        macro_rules! run {
            ($t:ty) => {
                // SAFETY: row-major buffers of exactly these element counts.
                unsafe {
                    cpu::conv::weight_grad::<$t>(
                        &geometry,
                        xd.as_slice(nx),
                        cd.as_slice(nc),
                        out.as_mut_slice(no),
                        1.0,
                    )
                }
            };
        }
        match compute {
            Dtype::Float64 => run!(f64),
            _ => run!(f32),
        }
        Ok(vec![cast_data(out, &shape, compute, dtype)?])
    }

    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        // With g the cotangent (shaped as the weights): d/dx <conv(x, g), dy> is the
        // input gradient of that convolution, d/d(dy) is conv(x, g).
        argnums
            .iter()
            .map(|&i| match i {
                0 => input_grad(&self.conv, &p[0], &cot[0], &p[1]),
                _ => ops::conv_with(&p[0], &cot[0], self.conv.clone()),
            })
            .collect()
    }

    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        let mut acc: Option<Array> = None;
        for (&i, t) in argnums.iter().zip(tan) {
            let d = match i {
                0 => weight_grad(&self.conv, t, &self.kernel, &p[1])?,
                _ => weight_grad(&self.conv, &p[0], &self.kernel, t)?,
            };
            acc = Some(match acc {
                Some(a) => ops::add(&a, &d)?,
                None => d,
            });
        }
        acc.map(|a| vec![a])
            .ok_or_else(|| Error::Runtime("[ConvWeightGrad] jvp without tangents".into()))
    }

    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], _: &[Array]) -> Result<Batched> {
        let prim = self.clone();
        by_loop(inputs, axes, move |a| {
            Ok(vec![weight_grad(&prim.conv, &a[0], &prim.kernel, &a[1])?])
        })
    }
}
