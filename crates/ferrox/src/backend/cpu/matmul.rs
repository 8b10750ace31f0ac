//! GEMM through the `gemm` crate (runtime-dispatched AVX2/AVX-512/NEON kernels), batched
//! over leading axes with strided operands. bf16 computes through f32.

use super::strided::offset_of;
use crate::array::Data;
use crate::dtype::Dtype;
use crate::{Error, Result};
use gemm::{gemm, Parallelism};
use half::{bf16, f16};
use num_complex::Complex32;

/// Below this many multiply-adds a product runs on one thread.
const PARALLEL_FLOPS: usize = 1 << 18;

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
    let (m, n) = (out_shape[nd - 2], out_shape[nd - 1]);
    let batch_shape = &out_shape[..nd - 2];
    let batches: usize = batch_shape.iter().product();
    let (ars, acs) = (a.strides[nd - 2], a.strides[nd - 1]);
    let (brs, bcs) = (b.strides[nd - 2], b.strides[nd - 1]);
    let par = if m * n * k >= PARALLEL_FLOPS {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    };
    let read_dst = beta != 0.0;

    macro_rules! run {
        ($t:ty, $alpha:expr, $beta:expr) => {{
            for bi in 0..batches {
                let ao = offset_of(bi, batch_shape, &a.strides[..nd - 2]);
                let bo = offset_of(bi, batch_shape, &b.strides[..nd - 2]);
                let oo = (bi * m * n) as isize;
                // SAFETY: offsets and strides describe views inside their buffers;
                // the output batch is a distinct row-major block.
                unsafe {
                    let dst = out.ptr::<$t>().offset(oo);
                    if k == 0 {
                        if !read_dst {
                            std::ptr::write_bytes(dst, 0, m * n);
                        }
                        continue;
                    }
                    gemm(
                        m,
                        n,
                        k,
                        dst,
                        1,
                        n as isize,
                        read_dst,
                        a.ptr::<$t>().offset(ao),
                        acs,
                        ars,
                        b.ptr::<$t>().offset(bo),
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
