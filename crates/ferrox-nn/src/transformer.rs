//! Transformer stacks with Python's key names (`layers.<i>.attention.query_proj.weight`,
//! `ln1`, `linear1`, ...) and op order, so a checkpoint trained in Python gives the
//! same outputs here bit for bit.

use crate::activations::relu;
use crate::module::Module;
use crate::module_parameters;
use crate::{Dropout, LayerNorm, Linear, MultiHeadAttention};
use ferrox::{ops, Array, Result};

/// An activation inside a transformer's MLP.
pub type ActivationFn = fn(&Array) -> Result<Array>;

/// Options shared by the encoder and decoder layers (Python's keyword arguments).
#[derive(Clone, Copy)]
pub struct TransformerOptions {
    /// Hidden width of the MLP; `None` means `4 * dims`.
    pub mlp_dims: Option<usize>,
    pub dropout: f64,
    pub activation: ActivationFn,
    /// LayerNorm before each block (true) or after each residual sum.
    pub norm_first: bool,
}

impl Default for TransformerOptions {
    fn default() -> Self {
        Self {
            mlp_dims: None,
            dropout: 0.0,
            activation: relu,
            norm_first: true,
        }
    }
}

/// Self-attention then an MLP, each with a residual connection.
pub struct TransformerEncoderLayer {
    pub attention: MultiHeadAttention,
    pub ln1: LayerNorm,
    pub ln2: LayerNorm,
    pub linear1: Linear,
    pub linear2: Linear,
    pub dropout1: Dropout,
    pub dropout2: Dropout,
    pub activation: ActivationFn,
    pub norm_first: bool,
}

impl TransformerEncoderLayer {
    pub fn new(dims: usize, num_heads: usize, opts: TransformerOptions) -> Result<Self> {
        let mlp_dims = opts.mlp_dims.unwrap_or(dims * 4);
        Ok(Self {
            attention: MultiHeadAttention::new(dims, num_heads, false)?,
            ln1: LayerNorm::new(dims)?,
            ln2: LayerNorm::new(dims)?,
            linear1: Linear::new(dims, mlp_dims, true)?,
            linear2: Linear::new(mlp_dims, dims, true)?,
            dropout1: Dropout::new(opts.dropout)?,
            dropout2: Dropout::new(opts.dropout)?,
            activation: opts.activation,
            norm_first: opts.norm_first,
        })
    }

    fn mlp(&self, x: &Array) -> Result<Array> {
        let h = (self.activation)(&self.linear1.forward(x)?)?;
        self.linear2.forward(&self.dropout2.forward(&h)?)
    }

    /// `x` `[B, L, dims]`; `mask` as in [`MultiHeadAttention::forward`].
    pub fn forward(&self, x: &Array, mask: Option<&Array>) -> Result<Array> {
        if self.norm_first {
            let y = self.ln1.forward(x)?;
            let a = self.attention.forward(&y, &y, &y, mask)?;
            let x = ops::add(x, self.dropout1.forward(&a)?)?;
            return ops::add(&x, self.mlp(&self.ln2.forward(&x)?)?);
        }
        let a = self.attention.forward(x, x, x, mask)?;
        let x = self
            .ln1
            .forward(&ops::add(x, self.dropout1.forward(&a)?)?)?;
        self.ln2.forward(&ops::add(&x, self.mlp(&x)?)?)
    }
}

impl Module for TransformerEncoderLayer {
    module_parameters!(
        child attention, child ln1, child ln2, child linear1, child linear2, child dropout1, child dropout2,
    );
}

/// Self-attention, cross-attention over `memory`, then an MLP, each with a residual
/// connection and a LayerNorm.
pub struct TransformerDecoderLayer {
    pub self_attention: MultiHeadAttention,
    pub cross_attention: MultiHeadAttention,
    pub ln1: LayerNorm,
    pub ln2: LayerNorm,
    pub ln3: LayerNorm,
    pub linear1: Linear,
    pub linear2: Linear,
    pub dropout1: Dropout,
    pub dropout2: Dropout,
    pub dropout3: Dropout,
    pub activation: ActivationFn,
    pub norm_first: bool,
}

impl TransformerDecoderLayer {
    pub fn new(dims: usize, num_heads: usize, opts: TransformerOptions) -> Result<Self> {
        let mlp_dims = opts.mlp_dims.unwrap_or(dims * 4);
        Ok(Self {
            self_attention: MultiHeadAttention::new(dims, num_heads, false)?,
            cross_attention: MultiHeadAttention::new(dims, num_heads, false)?,
            ln1: LayerNorm::new(dims)?,
            ln2: LayerNorm::new(dims)?,
            ln3: LayerNorm::new(dims)?,
            linear1: Linear::new(dims, mlp_dims, true)?,
            linear2: Linear::new(mlp_dims, dims, true)?,
            dropout1: Dropout::new(opts.dropout)?,
            dropout2: Dropout::new(opts.dropout)?,
            dropout3: Dropout::new(opts.dropout)?,
            activation: opts.activation,
            norm_first: opts.norm_first,
        })
    }

    fn mlp(&self, x: &Array) -> Result<Array> {
        let h = (self.activation)(&self.linear1.forward(x)?)?;
        self.linear2.forward(&self.dropout3.forward(&h)?)
    }

    pub fn forward(
        &self,
        x: &Array,
        memory: &Array,
        x_mask: Option<&Array>,
        memory_mask: Option<&Array>,
    ) -> Result<Array> {
        if self.norm_first {
            let y = self.ln1.forward(x)?;
            let a = self.self_attention.forward(&y, &y, &y, x_mask)?;
            let x = ops::add(x, self.dropout1.forward(&a)?)?;
            let y = self.ln2.forward(&x)?;
            let a = self
                .cross_attention
                .forward(&y, memory, memory, memory_mask)?;
            let x = ops::add(&x, self.dropout2.forward(&a)?)?;
            return ops::add(&x, self.mlp(&self.ln3.forward(&x)?)?);
        }
        let a = self.self_attention.forward(x, x, x, x_mask)?;
        let x = self
            .ln1
            .forward(&ops::add(x, self.dropout1.forward(&a)?)?)?;
        let a = self
            .cross_attention
            .forward(&x, memory, memory, memory_mask)?;
        let x = self
            .ln2
            .forward(&ops::add(&x, self.dropout2.forward(&a)?)?)?;
        self.ln3.forward(&ops::add(&x, self.mlp(&x)?)?)
    }
}

impl Module for TransformerDecoderLayer {
    module_parameters!(
        child self_attention, child cross_attention, child ln1, child ln2, child ln3, child linear1,
        child linear2, child dropout1, child dropout2, child dropout3,
    );
}

/// `num_layers` encoder layers (`layers.<i>`) then a LayerNorm (`ln`).
pub struct TransformerEncoder {
    pub layers: Vec<TransformerEncoderLayer>,
    pub ln: LayerNorm,
}

impl TransformerEncoder {
    pub fn new(
        num_layers: usize,
        dims: usize,
        num_heads: usize,
        opts: TransformerOptions,
    ) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|_| TransformerEncoderLayer::new(dims, num_heads, opts))
            .collect::<Result<_>>()?;
        Ok(Self {
            layers,
            ln: LayerNorm::new(dims)?,
        })
    }

    pub fn forward(&self, x: &Array, mask: Option<&Array>) -> Result<Array> {
        let mut x = x.clone();
        for layer in &self.layers {
            x = layer.forward(&x, mask)?;
        }
        self.ln.forward(&x)
    }
}

impl Module for TransformerEncoder {
    module_parameters!(children layers, child ln);
}

/// `num_layers` decoder layers (`layers.<i>`) then a LayerNorm (`ln`).
pub struct TransformerDecoder {
    pub layers: Vec<TransformerDecoderLayer>,
    pub ln: LayerNorm,
}

impl TransformerDecoder {
    pub fn new(
        num_layers: usize,
        dims: usize,
        num_heads: usize,
        opts: TransformerOptions,
    ) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|_| TransformerDecoderLayer::new(dims, num_heads, opts))
            .collect::<Result<_>>()?;
        Ok(Self {
            layers,
            ln: LayerNorm::new(dims)?,
        })
    }

    pub fn forward(
        &self,
        x: &Array,
        memory: &Array,
        x_mask: Option<&Array>,
        memory_mask: Option<&Array>,
    ) -> Result<Array> {
        let mut x = x.clone();
        for layer in &self.layers {
            x = layer.forward(&x, memory, x_mask, memory_mask)?;
        }
        self.ln.forward(&x)
    }
}

impl Module for TransformerDecoder {
    module_parameters!(children layers, child ln);
}

/// An encoder over `src` whose output is the memory of a decoder over `tgt`
/// (keys under `encoder.` and `decoder.`).
pub struct Transformer {
    pub encoder: TransformerEncoder,
    pub decoder: TransformerDecoder,
}

impl Transformer {
    pub fn new(
        dims: usize,
        num_heads: usize,
        num_encoder_layers: usize,
        num_decoder_layers: usize,
        opts: TransformerOptions,
    ) -> Result<Self> {
        Ok(Self {
            encoder: TransformerEncoder::new(num_encoder_layers, dims, num_heads, opts)?,
            decoder: TransformerDecoder::new(num_decoder_layers, dims, num_heads, opts)?,
        })
    }

    pub fn forward(
        &self,
        src: &Array,
        tgt: &Array,
        src_mask: Option<&Array>,
        tgt_mask: Option<&Array>,
        memory_mask: Option<&Array>,
    ) -> Result<Array> {
        let memory = self.encoder.forward(src, src_mask)?;
        self.decoder.forward(tgt, &memory, tgt_mask, memory_mask)
    }
}

impl Module for Transformer {
    module_parameters!(child encoder, child decoder);
}
