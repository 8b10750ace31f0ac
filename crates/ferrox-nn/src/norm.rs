//! `LayerNorm` and `RMSNorm` over the last axis, through the core's fused `fast` ops
//! (as Python's layers call them, so the values agree bit for bit).

use crate::module::{Module, Unary};
use crate::module_parameters;
use ferrox::{ops, Array, Result};

pub struct LayerNorm {
    pub weight: Option<Array>,
    pub bias: Option<Array>,
    pub eps: f32,
}

impl LayerNorm {
    /// Weight ones and bias zeros, of `dims` features, eps `1e-5` (Python's defaults).
    pub fn new(dims: usize) -> Result<Self> {
        Self::with_options(dims, 1e-5, true, true)
    }

    /// `affine = false` drops both weight and bias; `bias = false` only the bias.
    pub fn with_options(dims: usize, eps: f32, affine: bool, bias: bool) -> Result<Self> {
        let weight = if affine {
            Some(ops::ones(&[dims], None)?)
        } else {
            None
        };
        let bias = if affine && bias {
            Some(ops::zeros(&[dims], None)?)
        } else {
            None
        };
        Ok(Self { weight, bias, eps })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        ops::fast::layer_norm(x, self.weight.as_ref(), self.bias.as_ref(), self.eps)
    }
}

impl Module for LayerNorm {
    module_parameters!(optional weight, optional bias);
}

impl Unary for LayerNorm {
    fn forward(&self, x: &Array) -> Result<Array> {
        LayerNorm::forward(self, x)
    }
}

/// `x / sqrt(mean(x²) + eps) * weight` over the last axis.
pub struct RMSNorm {
    pub weight: Array,
    pub eps: f32,
}

impl RMSNorm {
    /// Weight ones, eps `1e-5` (Python's defaults).
    pub fn new(dims: usize) -> Result<Self> {
        Ok(Self {
            weight: ops::ones(&[dims], None)?,
            eps: 1e-5,
        })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        ops::fast::rms_norm(x, Some(&self.weight), self.eps)
    }
}

impl Module for RMSNorm {
    module_parameters!(param weight);
}

impl Unary for RMSNorm {
    fn forward(&self, x: &Array) -> Result<Array> {
        RMSNorm::forward(self, x)
    }
}
