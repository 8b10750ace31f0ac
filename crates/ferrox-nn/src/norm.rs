//! Normalization layers. `LayerNorm` and `RMSNorm` go through the core's fused `fast`
//! ops (as Python's layers do, so the values agree bit for bit); `GroupNorm` and
//! `BatchNorm` are composed of ops in Python's order.

use crate::module::{Module, Unary};
use crate::module_parameters;
use ferrox::{ops, Array, Error, Result};

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

/// `(x - mean) * rsqrt(var + eps)` over `axes` (Python's `_normalize`).
fn normalize(x: &Array, axes: &[isize], eps: f64) -> Result<Array> {
    let mean = ops::mean(x, axes, true)?;
    let var = ops::var(x, axes, true, 0)?;
    ops::multiply(ops::subtract(x, &mean)?, ops::rsqrt(&ops::add(&var, eps)?)?)
}

/// Normalizes each sample over all positions and a group of channels (last axis).
/// MLX's default grouping is strided (channel `c` is in group `c % num_groups`);
/// `pytorch_compatible` uses contiguous blocks of channels.
pub struct GroupNorm {
    /// Declared before `weight`: the order Python's layer holds (and saves) them in.
    pub bias: Option<Array>,
    pub weight: Option<Array>,
    pub num_groups: usize,
    pub dims: usize,
    pub eps: f64,
    pub pytorch_compatible: bool,
}

impl GroupNorm {
    /// Affine, eps `1e-5`, MLX's strided grouping (Python's defaults).
    pub fn new(num_groups: usize, dims: usize) -> Result<Self> {
        Self::with_options(num_groups, dims, 1e-5, true, false)
    }

    pub fn with_options(
        num_groups: usize,
        dims: usize,
        eps: f64,
        affine: bool,
        pytorch_compatible: bool,
    ) -> Result<Self> {
        if num_groups == 0 || dims % num_groups != 0 {
            return Err(Error::Invalid(format!(
                "The number of features ({dims}) must be evenly divisible by the number of groups ({num_groups})."
            )));
        }
        let (bias, weight) = if affine {
            (
                Some(ops::zeros(&[dims], None)?),
                Some(ops::ones(&[dims], None)?),
            )
        } else {
            (None, None)
        };
        Ok(Self {
            bias,
            weight,
            num_groups,
            dims,
            eps,
            pytorch_compatible,
        })
    }

    /// `x` `[N, ..., dims]`.
    pub fn forward(&self, x: &Array) -> Result<Array> {
        let shape = x.shape();
        if shape.len() < 2 || shape[shape.len() - 1] != self.dims {
            return Err(Error::Invalid(format!(
                "[GroupNorm] Expected input [batch, ..., {}], got shape {shape:?}",
                self.dims
            )));
        }
        let (batch, g) = (shape[0] as isize, self.num_groups as isize);
        let per_group = (self.dims / self.num_groups) as isize;
        let (grouped, axes) = if self.pytorch_compatible {
            (ops::reshape(x, &[batch, -1, g, per_group])?, [1, 3])
        } else {
            (ops::reshape(x, &[batch, -1, per_group, g])?, [1, 2])
        };
        let full: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
        let y = ops::reshape(&normalize(&grouped, &axes, self.eps)?, &full)?;
        match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => ops::add(ops::multiply(w, &y)?, b),
            _ => Ok(y),
        }
    }
}

impl Module for GroupNorm {
    module_parameters!(optional bias, optional weight);
}

impl Unary for GroupNorm {
    fn forward(&self, x: &Array) -> Result<Array> {
        GroupNorm::forward(self, x)
    }
}

/// Normalizes over the batch (and spatial) axes, per feature in the last axis. In
/// training mode the batch statistics are used and folded into `running_mean` and
/// `running_var` (unbiased) with `momentum`; in eval mode the running statistics are
/// used. The running statistics are checkpoint entries (Python saves them too).
///
/// Python freezes the running statistics; this crate has no frozen parameters yet, so
/// leave `running_mean`/`running_var` out of the gradients you hand an optimizer.
pub struct BatchNorm {
    pub weight: Option<Array>,
    pub bias: Option<Array>,
    pub running_mean: Option<Array>,
    pub running_var: Option<Array>,
    pub eps: f64,
    pub momentum: f64,
    /// Starts `true`, as a Python `Module` does.
    pub training: bool,
}

impl BatchNorm {
    /// Affine, tracking running statistics, eps `1e-5`, momentum `0.1` (Python's defaults).
    pub fn new(num_features: usize) -> Result<Self> {
        Self::with_options(num_features, 1e-5, 0.1, true, true)
    }

    pub fn with_options(
        num_features: usize,
        eps: f64,
        momentum: f64,
        affine: bool,
        track_running_stats: bool,
    ) -> Result<Self> {
        let n = [num_features];
        let (weight, bias) = if affine {
            (Some(ops::ones(&n, None)?), Some(ops::zeros(&n, None)?))
        } else {
            (None, None)
        };
        let (running_mean, running_var) = if track_running_stats {
            (Some(ops::zeros(&n, None)?), Some(ops::ones(&n, None)?))
        } else {
            (None, None)
        };
        Ok(Self {
            weight,
            bias,
            running_mean,
            running_var,
            eps,
            momentum,
            training: true,
        })
    }

    /// `x` `[N, C]`, `[N, L, C]` or `[N, H, W, C]`. Takes `&mut self` because training
    /// mode updates the running statistics, as Python's layer does.
    pub fn forward(&mut self, x: &Array) -> Result<Array> {
        if !(2..=4).contains(&x.ndim()) {
            return Err(Error::Invalid(format!(
                "Expected input tensor to have 2, 3 or 4 dimensions, but got {}",
                x.ndim()
            )));
        }
        let tracked = match (&self.running_mean, &self.running_var) {
            (Some(m), Some(v)) => Some((m.clone(), v.clone())),
            _ => None,
        };
        let (mean, var) = match tracked {
            Some(stats) if !self.training => stats,
            tracked => {
                let axes: Vec<isize> = (0..x.ndim() as isize - 1).collect();
                let mean = ops::mean(x, &axes, false)?;
                let var = ops::var(x, &axes, false, 0)?;
                if let (Some((rm, rv)), true) = (tracked, self.training) {
                    let mu = self.momentum;
                    let n = (x.size() / x.shape()[x.ndim() - 1].max(1)) as f64;
                    let new_mean =
                        ops::add(ops::multiply(1.0 - mu, &rm)?, ops::multiply(mu, &mean)?)?;
                    let unbiased = ops::multiply(ops::multiply(mu, &var)?, n / (n - 1.0))?;
                    let new_var = ops::add(ops::multiply(1.0 - mu, &rv)?, unbiased)?;
                    self.running_mean = Some(new_mean);
                    self.running_var = Some(new_var);
                }
                (mean, var)
            }
        };
        let y = ops::multiply(
            ops::subtract(x, &mean)?,
            ops::rsqrt(&ops::add(&var, self.eps)?)?,
        )?;
        match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => ops::add(ops::multiply(w, &y)?, b),
            _ => Ok(y),
        }
    }
}

impl Module for BatchNorm {
    module_parameters!(
        optional weight, optional bias, optional running_mean, optional running_var, flag training,
    );
}
