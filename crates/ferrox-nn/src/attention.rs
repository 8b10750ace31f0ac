//! `MultiHeadAttention` (projections `query_proj`, `key_proj`, `value_proj`,
//! `out_proj`, as Python's), its additive causal mask, and `RoPE`.

use crate::module::Module;
use crate::module_parameters;
use crate::Linear;
use ferrox::ops::fast::{self, AttentionMask};
use ferrox::{dtype, ops, Array, Dtype, Error, Result};

/// Widths of [`MultiHeadAttention`]'s inputs and outputs; `None` takes Python's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct AttentionDims {
    pub query_input_dims: Option<usize>,
    pub key_input_dims: Option<usize>,
    /// Defaults to the keys' input width.
    pub value_input_dims: Option<usize>,
    pub value_dims: Option<usize>,
    pub value_output_dims: Option<usize>,
}

pub struct MultiHeadAttention {
    pub num_heads: usize,
    pub query_proj: Linear,
    pub key_proj: Linear,
    pub value_proj: Linear,
    pub out_proj: Linear,
}

impl MultiHeadAttention {
    /// `dims` features in and out, split over `num_heads` heads; `bias` on the
    /// projections (Python's default is `false`).
    pub fn new(dims: usize, num_heads: usize, bias: bool) -> Result<Self> {
        Self::with_dims(dims, num_heads, AttentionDims::default(), bias)
    }

    /// With input and output widths other than `dims` (Python's keyword arguments).
    pub fn with_dims(
        dims: usize,
        num_heads: usize,
        widths: AttentionDims,
        bias: bool,
    ) -> Result<Self> {
        if num_heads == 0 || dims % num_heads != 0 {
            return Err(Error::Invalid(format!(
                "The input feature dimensions should be divisible by the number of heads ({dims} % {num_heads}) != 0"
            )));
        }
        // Python's defaults: each width falls back to `dims`, values' input to keys'.
        let query_input = widths.query_input_dims.unwrap_or(dims);
        let key_input = widths.key_input_dims.unwrap_or(dims);
        let value_input = widths.value_input_dims.unwrap_or(key_input);
        let value_dims = widths.value_dims.unwrap_or(dims);
        let value_output = widths.value_output_dims.unwrap_or(dims);
        Ok(Self {
            num_heads,
            query_proj: Linear::new(query_input, dims, bias)?,
            key_proj: Linear::new(key_input, dims, bias)?,
            value_proj: Linear::new(value_input, value_dims, bias)?,
            out_proj: Linear::new(value_dims, value_output, bias)?,
        })
    }

    /// Inputs `[B, L, D]` (queries) and `[B, S, D]` (keys, values); `mask` is added to
    /// the scores (or, boolean, keeps where true) and broadcasts to `[B, heads, L, S]`.
    pub fn forward(
        &self,
        queries: &Array,
        keys: &Array,
        values: &Array,
        mask: Option<&Array>,
    ) -> Result<Array> {
        for (name, t) in [("queries", queries), ("keys", keys), ("values", values)] {
            if t.ndim() != 3 {
                return Err(Error::Invalid(format!(
                    "[MultiHeadAttention] {name} must be [batch, length, dims], got shape {:?}",
                    t.shape()
                )));
            }
        }
        let q = self.query_proj.forward(queries)?;
        let k = self.key_proj.forward(keys)?;
        let v = self.value_proj.forward(values)?;
        let h = self.num_heads as isize;
        // Rank 3, checked above: the projections keep their input's rank.
        let (b, l, s) = (
            q.shape()[0] as isize,
            q.shape()[1] as isize,
            k.shape()[1] as isize,
        );
        // [B, L, D] -> [B, heads, L, D/heads]
        let split =
            |t: &Array, n: isize| ops::transpose(&ops::reshape(t, &[b, n, h, -1])?, &[0, 2, 1, 3]);
        let (q, k, v) = (split(&q, l)?, split(&k, s)?, split(&v, s)?);
        let head_dim = q.shape()[3];
        let scale = (1.0 / head_dim as f64).sqrt() as f32;
        let mask = match mask {
            Some(m) => AttentionMask::Array(m),
            None => AttentionMask::None,
        };
        let out = fast::scaled_dot_product_attention(&q, &k, &v, scale, mask, None)?;
        let out = ops::reshape(&ops::transpose(&out, &[0, 2, 1, 3])?, &[b, l, -1])?;
        self.out_proj.forward(&out)
    }

    /// An `[n, n]` mask: 0 on and below the diagonal, the dtype's most negative finite
    /// value above it (position i may not attend to j > i).
    pub fn create_additive_causal_mask(n: usize, dtype: Dtype) -> Result<Array> {
        let idx = ops::arange(0.0, n as f64, 1.0, Some(Dtype::Int32))?;
        let future = ops::less(
            &ops::expand_dims(&idx, &[1])?,
            &ops::expand_dims(&idx, &[0])?,
        )?;
        ops::multiply(ops::astype(&future, dtype)?, dtype::finfo(dtype)?.min)
    }
}

impl Module for MultiHeadAttention {
    module_parameters!(child query_proj, child key_proj, child value_proj, child out_proj);
}

/// Rotary positional encoding of the first `dims` features (`fast.rope`); no
/// parameters.
pub struct RoPE {
    pub dims: usize,
    /// Rotate adjacent pairs instead of the two halves.
    pub traditional: bool,
    pub base: f64,
    pub scale: f64,
}

impl RoPE {
    /// `base` 10000 and `scale` 1, as Python's defaults.
    pub fn new(dims: usize, traditional: bool) -> Self {
        Self {
            dims,
            traditional,
            base: 10000.0,
            scale: 1.0,
        }
    }

    /// `x` is `[..., L, D]` with at least 3 axes; positions start at `offset`.
    pub fn forward(&self, x: &Array, offset: i32) -> Result<Array> {
        let offset = Array::scalar(offset);
        fast::rope(
            x,
            self.dims,
            self.traditional,
            Some(self.base),
            self.scale,
            &offset,
            None,
        )
    }
}

impl Module for RoPE {
    module_parameters!();
}
