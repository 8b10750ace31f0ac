//! GEMM through the `gemm` crate (runtime-dispatched AVX2/AVX-512/NEON kernels), batched
//! over leading axes with strided operands. bf16 computes through f32.

use super::strided::offset_of;
use crate::array::Data;
use crate::dtype::Dtype;
use crate::{Error, Result};
use gemm::{gemm, Parallelism};
use half::{bf16, f16};
use num_complex::Complex32;

/// Below this many multiply-adds a product runs on one thread: waking the second
/// thread costs ~25 µs when it sleeps between ops (as in a training step), more than
/// splitting saves here ((256, 512) @ (512, 10): 36 µs on one thread, 60 µs on two).
const PARALLEL_FLOPS: usize = 1 << 21;

/// `out = alpha * a @ b + beta * out` for each batch of `out_shape` (`[..., m, n]`),
/// with `a` `[..., m, k]` and `b` `[..., k, n]` given by their strides.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    out_shape: &[usize],
    k: usize,
    dtype: Dtype,
    a: &Data,
    b: &Data,
    out: &Data,
    alpha: f64,
    beta: f64,
) -> Result<()> {
    let nd = out_shape.len();
    let (mut m, n) = (out_shape[nd - 2], out_shape[nd - 1]);
    let mut batch_shape = &out_shape[..nd - 2];
    let (ars, acs) = (a.strides[nd - 2], a.strides[nd - 1]);
    let (brs, bcs) = (b.strides[nd - 2], b.strides[nd - 1]);
    // One `b` for the whole batch (a weight applied to a batch of sequences): the batch
    // is folded into the rows of one product when `a`'s batch axes step evenly over its
    // rows. Eight 256-row products took 30 % longer than the one 2048-row product.
    if batch_shape.iter().product::<usize>() > 1
        && b.strides[..nd - 2].iter().all(|&s| s == 0)
        && rows_fold(batch_shape, &a.strides[..nd - 2], ars, m)
    {
        m *= batch_shape.iter().product::<usize>();
        batch_shape = &[];
    }
    let batches: usize = batch_shape.iter().product();
    let threads = rayon::current_num_threads();
    // Enough products for every thread: one thread each, in parallel over the batch
    // (for attention's many small products, splitting each one cost more in sync than
    // it gained). Otherwise each product splits over the threads when it is large.
    let batch_parallel = batches >= threads && threads > 1 && batches * m * n * k >= PARALLEL_FLOPS;
    let par = if !batch_parallel && m * n * k >= PARALLEL_FLOPS {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    let read_dst = beta != 0.0;
    if dtype == Dtype::Float32 && n == 1 && batches == 1 && acs == 1 && k > 0 {
        gemv(
            m,
            k,
            a,
            brs,
            b,
            out,
            alpha as f32,
            read_dst.then_some(beta as f32),
        );
        return Ok(());
    }
    // A column-major `b` (`x @ w.T`, every backward pass) split over threads ran ~45 %
    // slower than a row-major one ((256, 512) @ (512, 512): 0.55 against 0.37 ms); a
    // row-major copy costs a tenth of the product.
    let b_packed;
    let b = if matches!(par, Parallelism::Rayon(_))
        && batches == 1
        && brs == 1
        && bcs != 1
        && matches!(dtype, Dtype::Float32 | Dtype::Float64)
    {
        let view = Data {
            buffer: b.buffer.clone(),
            offset: b.offset,
            strides: vec![brs, bcs],
        };
        let mut packed = Data::alloc(&[k, n], dtype)?;
        super::copy::copy_cast(&[k, n], &view, dtype, &packed, dtype);
        // Back to `b`'s rank, with the (unused: one batch) batch strides zero.
        let mut strides = vec![0; nd - 2];
        strides.extend(std::mem::take(&mut packed.strides));
        packed.strides = strides;
        b_packed = packed;
        &b_packed
    } else {
        b
    };
    let (brs, bcs) = (b.strides[nd - 2], b.strides[nd - 1]);

    macro_rules! run {
        ($t:ty, $alpha:expr, $beta:expr) => {{
            // (Addresses as integers, so that the closure can run on any thread.)
            let (ap, bp, op) = (
                a.ptr::<$t>() as usize,
                b.ptr::<$t>() as usize,
                out.ptr::<$t>() as usize,
            );
            let product = |bi: usize| {
                let ao = offset_of(bi, batch_shape, &a.strides[..nd - 2]);
                let bo = offset_of(bi, batch_shape, &b.strides[..nd - 2]);
                let oo = (bi * m * n) as isize;
                // SAFETY: offsets and strides describe views inside their buffers;
                // the output batch is a distinct row-major block.
                unsafe {
                    let dst = (op as *mut $t).offset(oo);
                    if k == 0 {
                        if !read_dst {
                            std::ptr::write_bytes(dst, 0, m * n);
                        }
                        return;
                    }
                    gemm(
                        m,
                        n,
                        k,
                        dst,
                        1,
                        n as isize,
                        read_dst,
                        (ap as *const $t).offset(ao),
                        acs,
                        ars,
                        (bp as *const $t).offset(bo),
                        bcs,
                        brs,
                        $beta,
                        $alpha,
                        false,
                        false,
                        false,
                        par,
                    );
                }
            };
            if batch_parallel {
                use rayon::prelude::*;
                (0..batches).into_par_iter().for_each(product);
            } else {
                (0..batches).for_each(product);
            }
        }};
    }
    match dtype {
        Dtype::Float32 => run!(f32, alpha as f32, beta as f32),
        Dtype::Float64 => run!(f64, alpha, beta),
        Dtype::Float16 => run!(f16, f16::from_f64(alpha), f16::from_f64(beta)),
        Dtype::Complex64 => run!(
            Complex32,
            Complex32::new(alpha as f32, 0.0),
            Complex32::new(beta as f32, 0.0)
        ),
        Dtype::Bfloat16 => {
            // Until a native bf16 kernel pays: widen both operands and the output to f32.
            let widen = |d: &Data, shape: &[usize]| -> Result<Data> {
                let w = Data::alloc(shape, Dtype::Float32)?;
                super::copy::copy_cast(shape, d, Dtype::Bfloat16, &w, Dtype::Float32);
                Ok(w)
            };
            let mut ashape = batch_shape.to_vec();
            ashape.extend([m, k]);
            let mut bshape = batch_shape.to_vec();
            bshape.extend([k, n]);
            let (a32, b32) = (widen(a, &ashape)?, widen(b, &bshape)?);
            let o32 = widen(out, out_shape)?;
            matmul(out_shape, k, Dtype::Float32, &a32, &b32, &o32, alpha, beta)?;
            super::copy::copy_cast(out_shape, &o32, Dtype::Float32, out, Dtype::Bfloat16);
            let _ = bf16::ZERO;
        }
        d => {
            return Err(Error::Invalid(format!(
                "[matmul] Only inexact types are supported but {d} was given."
            )))
        }
    }
    Ok(())
}

/// `out = alpha * a @ x (+ beta * out)` for a row-major `a` (`m` rows of `k`, row
/// stride `a.strides[-2]`) and a vector `x` of stride `x_stride`: one dot product per
/// row, rows split over threads. The `gemm` crate ran a 4096² gemv at half of NumPy's
/// speed; this is a pass over `a` at memory speed.
#[allow(clippy::too_many_arguments)]
fn gemv(
    m: usize,
    k: usize,
    a: &Data,
    x_stride: isize,
    x: &Data,
    out: &Data,
    alpha: f32,
    beta: Option<f32>,
) {
    let nd = a.strides.len();
    let row_stride = a.strides[nd - 2];
    // SAFETY: the views lie inside their buffers: `x` has `k` elements `x_stride` apart.
    let x: Vec<f32> = (0..k)
        .map(|l| unsafe { *x.ptr::<f32>().offset(l as isize * x_stride) })
        .collect();
    let (ap, op) = (a.ptr::<f32>() as usize, out.ptr::<f32>() as usize);
    let rows = |start: usize, end: usize| {
        for i in start..end {
            // SAFETY: row `i` of `a` holds `k` contiguous elements; `out` has `m` (a
            // row-major `[m, 1]`), each row written by one thread.
            unsafe {
                let row = std::slice::from_raw_parts(
                    (ap as *const f32).offset(i as isize * row_stride),
                    k,
                );
                let o = (op as *mut f32).add(i);
                let y = alpha * dot(row, &x);
                *o = match beta {
                    Some(beta) => y + beta * *o,
                    None => y,
                };
            }
        }
    };
    let threads = rayon::current_num_threads();
    if m * k < PARALLEL_FLOPS || threads < 2 {
        rows(0, m);
    } else {
        use rayon::prelude::*;
        let chunk = m.div_ceil(threads * 4);
        (0..m.div_ceil(chunk))
            .into_par_iter()
            .for_each(|c| rows(c * chunk, ((c + 1) * chunk).min(m)));
    }
}

simd_kernel! {
    /// The dot product of two slices of one length, over 32 running sums (so that it
    /// vectorises; the order of the sum differs from a serial loop's).
    pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
        const LANES: usize = 32;
        let mut acc = [0.0f32; LANES];
        let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
        for (x, y) in ac.zip(bc) {
            for j in 0..LANES {
                acc[j] += x[j] * y[j];
            }
        }
        acc.iter().sum::<f32>() + tail
    }
}

/// Whether batch axes of sizes `shape` and strides `strides` over matrices of `m` rows
/// of stride `row_stride` are one run of rows: each axis steps over all the rows inside
/// it (axes of size 1 step anywhere).
fn rows_fold(shape: &[usize], strides: &[isize], row_stride: isize, m: usize) -> bool {
    let mut step = row_stride * m as isize;
    for (&n, &s) in shape.iter().zip(strides).rev() {
        if n != 1 && s != step {
            return false;
        }
        step *= n as isize;
    }
    true
}
