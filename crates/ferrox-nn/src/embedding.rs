//! `Embedding`: a table of vectors looked up by integer index; also the tied output
//! projection (`as_linear`).

use crate::module::Module;
use crate::module_parameters;
use ferrox::{ops, random, Array, Result};

pub struct Embedding {
    /// `[num_embeddings, dims]`.
    pub weight: Array,
}

impl Embedding {
    /// Normal with standard deviation `1/sqrt(dims)`, as Python's.
    pub fn new(num_embeddings: usize, dims: usize) -> Result<Self> {
        let scale = (1.0 / dims as f64).sqrt();
        let weight = random::normal(
            &[num_embeddings, dims],
            None,
            None,
            Some(scale.into()),
            None,
        )?;
        Ok(Self { weight })
    }

    /// The rows of `weight` at the integer `indices` (any shape); the output has
    /// `indices.shape() + [dims]`.
    pub fn forward(&self, indices: &Array) -> Result<Array> {
        ops::take(&self.weight, indices, Some(0))
    }

    /// `x @ weight.T`: the table as an output projection onto the vocabulary.
    pub fn as_linear(&self, x: &Array) -> Result<Array> {
        ops::matmul(x, &ops::transpose(&self.weight, &[1, 0])?)
    }
}

impl Module for Embedding {
    module_parameters!(param weight);
}
