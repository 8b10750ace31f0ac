//! The primitives, one module per family. Each primitive is a struct implementing
//! [`Primitive`](crate::primitive::Primitive); its CPU kernel is in `backend/cpu/`, and the
//! ops that build it (checking shapes and dtypes) are in `ops/`.

pub mod attention;
pub mod binary;
pub mod conv;
pub mod creation;
pub mod fft;
pub mod fused;
pub mod gathered;
pub mod indexing;
pub mod linalg;
pub mod matmul;
pub mod norm;
pub mod quantized;
pub mod quantized_fp;
pub mod random;
pub mod reduce;
pub mod scan;
pub mod softmax;
pub mod sort;
pub mod unary;
pub mod view;
