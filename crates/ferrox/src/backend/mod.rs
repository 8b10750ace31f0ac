//! Kernels, one module per family of primitives. `cpu/` now; `cuda/` plugs into the same
//! seam (a primitive's `eval_*` method) next.

pub mod cpu;
