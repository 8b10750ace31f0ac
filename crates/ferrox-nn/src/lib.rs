//! # ferrox-nn
//!
//! Neural-network layers, losses and optimizers for [`ferrox`], with the parameter
//! names, layouts and op order of the Python front end (`ferrox.nn`, which is MLX's
//! API): a checkpoint trained in Python and saved with `model.save_weights(...)` loads
//! here with no conversion and gives the same outputs.
//!
//! Each layer is a struct with public parameter fields and a `forward` method; the
//! [`Module`] trait lists the parameters by dotted name (as Python's
//! `tree_flatten(model.parameters())`) and derives updates, checkpoint loading (with
//! missing, unexpected and misshapen keys reported by name) and saving from that list.
//!
//! ```
//! use ferrox::{ops, Array};
//! use ferrox_nn::{Linear, Module, Sequential, Activation, activations::relu};
//!
//! // A two-layer MLP: keys layers.0.weight, layers.0.bias, layers.2.weight, layers.2.bias,
//! // as Python's nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)) names them.
//! let build = || -> ferrox::Result<Sequential> {
//!     Ok(Sequential::new()
//!         .add(Linear::new(4, 8, true)?)
//!         .add(Activation(relu))
//!         .add(Linear::new(8, 2, true)?))
//! };
//! let mut trained = build()?;
//! let path = std::env::temp_dir().join(format!("ferrox-nn-doc-{}.safetensors", std::process::id()));
//! trained.save_weights(&path)?;
//!
//! // Elsewhere (a Rust binary): the same architecture, weights from the file.
//! let mut model = build()?;
//! model.load_weights_file(&path, true)?;
//! let x = ops::ones(&[3, 4], None)?;
//! use ferrox_nn::Unary;
//! let y = model.forward(&x)?;
//! assert_eq!(y.shape(), &[3, 2]);
//! assert_eq!(y.to_vec::<f32>()?, trained.forward(&x)?.to_vec::<f32>()?);
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), ferrox::Error>(())
//! ```
//!
//! As in Python, a module starts in training mode (it matters for [`Dropout`] and
//! [`BatchNorm`]): call [`Module::set_training`]`(false)` before inference.
//!
//! Training: [`value_and_grad`] gives a loss and its gradient by parameter name (as
//! Python's `nn.value_and_grad`), and an [`Optimizer`] applies it with MLX's formulas.
//!
//! ```
//! use ferrox::ops;
//! use ferrox_nn::losses::{mse_loss, Reduction};
//! use ferrox_nn::{value_and_grad, Linear, Optimizer, SGD};
//!
//! let mut model = Linear::new(3, 1, true)?;
//! let x = ops::ones(&[8, 3], None)?;
//! let y = ops::zeros(&[8, 1], None)?;
//! let loss_fn = |m: &Linear| mse_loss(&m.forward(&x)?, &y, Reduction::Mean);
//! let mut opt = SGD::new(0.1);
//! let first = loss_fn(&model)?.item::<f32>()?;
//! for _ in 0..10 {
//!     let (_loss, grads) = value_and_grad(&mut model, loss_fn)?;
//!     opt.update(&mut model, &grads)?;
//! }
//! assert!(loss_fn(&model)?.item::<f32>()? < first);
//! # Ok::<(), ferrox::Error>(())
//! ```

// Re-exported so that `module_parameters!` can name `ferrox::Array` from any crate.
pub use ferrox;

pub mod activations;
pub mod attention;
pub mod conv;
pub mod dropout;
pub mod embedding;
pub mod linear;
pub mod losses;
pub mod module;
pub mod norm;
pub mod optim;
pub mod transformer;

pub use activations::Activation;
pub use attention::{AttentionDims, MultiHeadAttention, RoPE};
pub use conv::{Conv1d, Conv2d};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use linear::Linear;
pub use losses::Reduction;
pub use module::{value_and_grad, Module, Sequential, Unary};
pub use norm::{BatchNorm, GroupNorm, LayerNorm, RMSNorm};
pub use optim::{Adagrad, Adam, AdamW, Optimizer, RMSprop, SGD};
pub use transformer::{
    Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer, TransformerOptions,
};
