//! `Linear`: `y = x @ weight.T + bias`, `weight` `[output_dims, input_dims]` (Python's
//! layout, so checkpoints load unchanged).

use crate::module::{Module, Unary};
use crate::module_parameters;
use ferrox::{ops, random, Array, Result};

pub struct Linear {
    pub weight: Array,
    pub bias: Option<Array>,
}

impl Linear {
    /// Weight and bias uniform in `[-1/sqrt(input_dims), 1/sqrt(input_dims)]`, as Python's.
    pub fn new(input_dims: usize, output_dims: usize, bias: bool) -> Result<Self> {
        let scale = (1.0 / input_dims as f64).sqrt();
        let weight = random::uniform(-scale, scale, &[output_dims, input_dims], None, None)?;
        let bias = if bias {
            Some(random::uniform(-scale, scale, &[output_dims], None, None)?)
        } else {
            None
        };
        Ok(Self { weight, bias })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let wt = ops::transpose(&self.weight, &[1, 0])?;
        match &self.bias {
            // addmm, as Python's layer calls it, so results agree bit for bit.
            Some(b) => ops::addmm(b, x, &wt, 1.0, 1.0),
            None => ops::matmul(x, &wt),
        }
    }
}

impl Module for Linear {
    module_parameters!(param weight, optional bias);
}

impl Unary for Linear {
    fn forward(&self, x: &Array) -> Result<Array> {
        Linear::forward(self, x)
    }
}
