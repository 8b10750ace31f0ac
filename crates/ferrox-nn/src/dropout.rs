//! `Dropout`: in training mode, zero each element with probability `p` and scale the
//! rest by `1/(1-p)`; the identity in eval mode.

use crate::module::{Module, Unary};
use crate::module_parameters;
use ferrox::{ops, random, Array, Error, Result};

pub struct Dropout {
    /// The keep probability `1 - p` (what the mask draws), as Python stores it.
    keep: f64,
    /// Starts `true`, as a Python `Module` does: call `set_training(false)` to infer.
    pub training: bool,
}

impl Dropout {
    pub fn new(p: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::Invalid(format!(
                "The dropout probability {p} is not in [0, 1)"
            )));
        }
        Ok(Self {
            keep: 1.0 - p,
            training: true,
        })
    }

    pub fn p(&self) -> f64 {
        1.0 - self.keep
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        if self.keep == 1.0 || !self.training {
            return Ok(x.clone());
        }
        let mask = random::bernoulli(self.keep, Some(x.shape()), None)?;
        ops::multiply(ops::multiply(&mask, x)?, 1.0 / self.keep)
    }
}

impl Module for Dropout {
    module_parameters!(flag training);
}

impl Unary for Dropout {
    fn forward(&self, x: &Array) -> Result<Array> {
        Dropout::forward(self, x)
    }
}
