//! The CPU backend: kernels generic over dtype, parallel with rayon above a size
//! threshold, vectorised by the compiler for the CPU found at run time.

/// Compiles the function it wraps once per SIMD level and picks the best one the CPU
/// has at run time (the wheel is built for baseline x86-64 / aarch64): AVX-512, then
/// AVX2+FMA, then SSE4.2 on x86-64; NEON on aarch64. multiversion's own "simd" preset
/// stops at AVX2, which left half of the vector width of current servers unused.
macro_rules! simd_kernel {
    ($($item:tt)*) => {
        #[multiversion::multiversion(targets(
            "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx2+fma",
            "x86_64+avx2+fma",
            "x86_64+sse4.2",
            "aarch64+neon",
        ))]
        $($item)*
    };
}

pub mod arith;
pub mod attention;
pub mod binary;
pub mod conv;
pub mod copy;
pub mod elementwise;
pub mod fft;
pub mod fused;
pub mod indexing;
pub mod linalg;
pub mod matmul;
pub mod norm;
pub mod quantized;
pub mod quantized_fp;
pub mod random;
pub mod reduce;
pub mod rows;
pub mod scan;
pub mod softmax;
pub mod sort;
pub mod stream;
pub mod strided;
pub mod transpose;
pub mod unary;
pub mod vmath;
pub mod winograd;

/// Below this many elements an elementwise kernel stays on one thread: splitting costs
/// more than it saves.
pub const PARALLEL_THRESHOLD: usize = 1 << 15;
