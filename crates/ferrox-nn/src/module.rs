//! The `Module` trait: named parameters (the keys Python's
//! `tree_flatten(model.parameters())` gives), updates, checkpoint loading and saving,
//! and the training flag.

use ferrox::{io, ops, Array, Dtype, Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// A layer or a model: something with named parameters.
///
/// A module lists every parameter under its dotted name, in the order Python's
/// `Module` holds them (attribute order), by reference and by mutable reference;
/// everything else (updates, checkpoints) is derived from those lists. The
/// [`module_parameters!`](crate::module_parameters) macro writes the three methods from
/// a list of fields:
///
/// ```
/// use ferrox::Array;
/// use ferrox_nn::{module_parameters, Linear, Module, TransformerEncoder};
///
/// struct Classifier {
///     encoder: TransformerEncoder,
///     head: Linear,
///     temperature: Array,
/// }
///
/// impl Module for Classifier {
///     // Keys: encoder.layers.0.attention.query_proj.weight, ..., head.weight,
///     // head.bias, temperature.
///     module_parameters!(child encoder, child head, param temperature);
/// }
/// ```
pub trait Module {
    /// Every parameter, by dotted name (`layers.0.attention.query_proj.weight`), as cheap
    /// handles (an `Array` clone shares its node).
    fn parameters(&self) -> Vec<(String, Array)>;

    /// The same list, for assignment.
    fn parameters_mut(&mut self) -> Vec<(String, &mut Array)>;

    /// Sets the training flag (it changes what `Dropout` does). Containers pass it on
    /// to their children; layers without such behaviour ignore it.
    fn set_training(&mut self, _training: bool) {}

    /// Casts every floating-point parameter to `dtype` (Python's `set_dtype` with its
    /// default predicate), e.g. to run a float32 checkpoint in bfloat16.
    fn set_dtype(&mut self, dtype: Dtype) -> Result<()> {
        for (_, p) in self.parameters_mut() {
            if p.dtype().is_floating() {
                *p = ops::astype(p, dtype)?;
            }
        }
        Ok(())
    }

    /// Replaces the parameters named in `new` (a subset is fine, as after a frozen
    /// layer); an unknown name or a changed shape is an error naming the key.
    fn update(&mut self, new: &BTreeMap<String, Array>) -> Result<()> {
        let mut params: BTreeMap<String, &mut Array> = self.parameters_mut().into_iter().collect();
        // Check everything before assigning anything: a failed update changes nothing.
        for (key, value) in new {
            let slot = params.get(key).ok_or_else(|| {
                Error::Invalid(format!("[update] Module has no parameter named {key}."))
            })?;
            check_shape("update", key, slot, value)?;
        }
        for (key, value) in new {
            if let Some(slot) = params.get_mut(key) {
                **slot = value.clone();
            }
        }
        Ok(())
    }

    /// Loads `weights` by name. With `strict`, a missing or unexpected key is an error
    /// (listing them); without, only the keys both sides have are loaded. A shape that
    /// differs from the parameter's is always an error: loading it would only fail
    /// later, further from the cause.
    fn load_weights(&mut self, weights: &BTreeMap<String, Array>, strict: bool) -> Result<()> {
        let mut params: BTreeMap<String, &mut Array> = self.parameters_mut().into_iter().collect();
        if strict {
            let unexpected: Vec<&str> = weights
                .keys()
                .filter(|k| !params.contains_key(*k))
                .map(String::as_str)
                .collect();
            if !unexpected.is_empty() {
                return Err(Error::Invalid(format!(
                    "[load_weights] Received parameters not in model: {}.",
                    unexpected.join(", ")
                )));
            }
            let missing: Vec<&str> = params
                .keys()
                .filter(|k| !weights.contains_key(*k))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(Error::Invalid(format!(
                    "[load_weights] Missing parameters: {}.",
                    missing.join(", ")
                )));
            }
        }
        // Check every shape before assigning any, so a failed load leaves the model as
        // it was.
        for (key, value) in weights {
            if let Some(slot) = params.get(key) {
                check_shape("load_weights", key, slot, value)?;
            }
        }
        for (key, value) in weights {
            if let Some(slot) = params.get_mut(key) {
                **slot = value.clone();
            }
        }
        Ok(())
    }

    /// Loads a `.safetensors` or `.npz` checkpoint (as Python's `save_weights` writes
    /// it) with [`Module::load_weights`]. Tensors stay lazy views of the file until used.
    fn load_weights_file(&mut self, path: impl AsRef<Path>, strict: bool) -> Result<()>
    where
        Self: Sized,
    {
        let path = path.as_ref();
        match io::load(path)? {
            io::Loaded::Arrays(weights) => self.load_weights(&weights, strict),
            io::Loaded::Array(_) => Err(Error::Invalid(format!(
                "[load_weights] {} holds one array, not named weights; use .safetensors or .npz.",
                path.display()
            ))),
        }
    }

    /// Saves the parameters as `.safetensors` or `.npz`, chosen by the extension, as
    /// Python's `save_weights` does.
    fn save_weights(&self, path: impl AsRef<Path>) -> Result<()>
    where
        Self: Sized,
    {
        let path = path.as_ref();
        let params = self.parameters();
        match io::Format::from_path(path)? {
            io::Format::Safetensors => {
                let arrays: io::Arrays = params.into_iter().collect();
                io::save_safetensors(path, &arrays, &BTreeMap::new())
            }
            io::Format::Npz => io::savez(path, &params, false),
            other => Err(Error::Invalid(format!(
                "[save_weights] Unsupported file format {other:?}: use .safetensors or .npz."
            ))),
        }
    }
}

fn check_shape(op: &str, key: &str, old: &Array, new: &Array) -> Result<()> {
    if old.shape() != new.shape() {
        return Err(Error::Invalid(format!(
            "[{op}] Expected shape {:?} but received shape {:?} for parameter {key}.",
            old.shape(),
            new.shape()
        )));
    }
    Ok(())
}

/// A child's parameters under `prefix.` (how containers build dotted names).
pub fn prefixed<T>(prefix: &str, params: Vec<(String, T)>) -> Vec<(String, T)> {
    params
        .into_iter()
        .map(|(k, v)| (format!("{prefix}.{k}"), v))
        .collect()
}

/// Writes [`Module`]'s `parameters`, `parameters_mut` and `set_training` from a list of
/// fields, each with its kind:
/// - `param name`: an `Array` field, key `name`;
/// - `optional name`: an `Option<Array>` field (a bias), key `name` when present;
/// - `child name`: a field that is a `Module`, its keys under `name.`;
/// - `children name`: a `Vec` of modules, keys under `name.<i>.` (Python's lists);
/// - `flag name`: a `bool` field that `set_training` sets (no parameter).
///
/// List the fields in the order Python's module assigns its attributes, so that the
/// parameters come in `tree_flatten`'s order.
#[macro_export]
macro_rules! module_parameters {
    ($($kind:ident $field:ident),* $(,)?) => {
        #[allow(unused_mut)]
        fn parameters(&self) -> Vec<(String, $crate::ferrox::Array)> {
            let mut out = Vec::new();
            $($crate::__module_field!(ref $kind, self, out, $field);)*
            out
        }

        #[allow(unused_mut)]
        fn parameters_mut(&mut self) -> Vec<(String, &mut $crate::ferrox::Array)> {
            let mut out = Vec::new();
            $($crate::__module_field!(mut $kind, self, out, $field);)*
            out
        }

        fn set_training(&mut self, training: bool) {
            let _ = training;
            $($crate::__module_field!(train $kind, self, training, $field);)*
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __module_field {
    (ref param, $s:ident, $out:ident, $f:ident) => {
        $out.push((stringify!($f).to_string(), $s.$f.clone()));
    };
    (ref optional, $s:ident, $out:ident, $f:ident) => {
        if let Some(a) = &$s.$f {
            $out.push((stringify!($f).to_string(), a.clone()));
        }
    };
    (ref child, $s:ident, $out:ident, $f:ident) => {
        $out.extend($crate::module::prefixed(
            stringify!($f),
            $crate::Module::parameters(&$s.$f),
        ));
    };
    (ref children, $s:ident, $out:ident, $f:ident) => {
        for (i, c) in $s.$f.iter().enumerate() {
            let prefix = format!("{}.{}", stringify!($f), i);
            $out.extend($crate::module::prefixed(
                &prefix,
                $crate::Module::parameters(c),
            ));
        }
    };
    (mut param, $s:ident, $out:ident, $f:ident) => {
        $out.push((stringify!($f).to_string(), &mut $s.$f));
    };
    (mut optional, $s:ident, $out:ident, $f:ident) => {
        if let Some(a) = &mut $s.$f {
            $out.push((stringify!($f).to_string(), a));
        }
    };
    (mut child, $s:ident, $out:ident, $f:ident) => {
        $out.extend($crate::module::prefixed(
            stringify!($f),
            $crate::Module::parameters_mut(&mut $s.$f),
        ));
    };
    (mut children, $s:ident, $out:ident, $f:ident) => {
        for (i, c) in $s.$f.iter_mut().enumerate() {
            let prefix = format!("{}.{}", stringify!($f), i);
            $out.extend($crate::module::prefixed(
                &prefix,
                $crate::Module::parameters_mut(c),
            ));
        }
    };
    (ref flag, $s:ident, $out:ident, $f:ident) => {};
    (mut flag, $s:ident, $out:ident, $f:ident) => {};
    (train flag, $s:ident, $t:ident, $f:ident) => {
        $s.$f = $t;
    };
    (train param, $s:ident, $t:ident, $f:ident) => {};
    (train optional, $s:ident, $t:ident, $f:ident) => {};
    (train child, $s:ident, $t:ident, $f:ident) => {
        $crate::Module::set_training(&mut $s.$f, $t);
    };
    (train children, $s:ident, $t:ident, $f:ident) => {
        for c in $s.$f.iter_mut() {
            $crate::Module::set_training(c, $t);
        }
    };
}

/// A boxed module is a module (so `Vec<Box<dyn Unary>>` can hold children).
impl<M: Module + ?Sized> Module for Box<M> {
    fn parameters(&self) -> Vec<(String, Array)> {
        (**self).parameters()
    }
    fn parameters_mut(&mut self) -> Vec<(String, &mut Array)> {
        (**self).parameters_mut()
    }
    fn set_training(&mut self, training: bool) {
        (**self).set_training(training)
    }
}

/// A module with one input and one output, so that it can sit in a [`Sequential`].
pub trait Unary: Module {
    fn forward(&self, x: &Array) -> Result<Array>;
}

/// `Sequential(a, b, c)(x) == c(b(a(x)))`; parameters under `layers.<i>.`, as Python's.
#[derive(Default)]
pub struct Sequential {
    pub layers: Vec<Box<dyn Unary>>,
}

impl Sequential {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer (builder style).
    pub fn add(mut self, layer: impl Unary + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }
}

impl Module for Sequential {
    module_parameters!(children layers);
}

impl Unary for Sequential {
    fn forward(&self, x: &Array) -> Result<Array> {
        let mut x = x.clone();
        for layer in &self.layers {
            x = layer.forward(&x)?;
        }
        Ok(x)
    }
}

/// The loss `loss_fn(model)` and its gradient with respect to every parameter of
/// `model`, by name (Python's `nn.value_and_grad(model, fn)`), ready for
/// [`crate::Optimizer::update`].
///
/// The parameters are swapped for traced arrays while `loss_fn` runs and put back
/// afterwards, also when it fails.
pub fn value_and_grad<M: Module>(
    model: &mut M,
    loss_fn: impl Fn(&M) -> Result<Array>,
) -> Result<(Array, BTreeMap<String, Array>)> {
    let (names, originals): (Vec<String>, Vec<Array>) = model.parameters().into_iter().unzip();
    let cell = std::cell::RefCell::new(model);
    let f = |xs: &[Array]| -> Result<Vec<Array>> {
        let mut m = cell.borrow_mut();
        let traced: BTreeMap<String, Array> =
            names.iter().cloned().zip(xs.iter().cloned()).collect();
        m.update(&traced)?;
        Ok(vec![loss_fn(&**m)?])
    };
    let argnums: Vec<usize> = (0..names.len()).collect();
    let result = ferrox::transforms::value_and_grad(f, &argnums)(&originals);
    let restore: BTreeMap<String, Array> = names.iter().cloned().zip(originals).collect();
    cell.borrow_mut().update(&restore)?;
    let (mut values, grads) = result?;
    let value = values.pop().ok_or_else(|| {
        Error::Runtime("[value_and_grad] the loss function returned nothing".into())
    })?;
    Ok((value, names.into_iter().zip(grads).collect()))
}
