//! The CPU backend: kernels generic over dtype, parallel with rayon above a size
//! threshold, vectorised by the compiler for the CPU found at run time.

pub mod arith;
pub mod attention;
pub mod binary;
pub mod copy;
pub mod elementwise;
pub mod fused;
pub mod indexing;
pub mod matmul;
pub mod norm;
pub mod random;
pub mod reduce;
pub mod rows;
pub mod scan;
pub mod softmax;
pub mod sort;
pub mod strided;
pub mod unary;
pub mod vmath;

/// Below this many elements an elementwise kernel stays on one thread: splitting costs
/// more than it saves.
pub const PARALLEL_THRESHOLD: usize = 1 << 15;
