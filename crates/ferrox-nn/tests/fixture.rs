//! A checkpoint written by the Python side (tests/fixtures_gen/make_fixtures.py) runs
//! here with the same outputs, bit for bit.

use ferrox::{io, ops, Array, Dtype};
use ferrox_nn::optim::{Optimizer, Params};
use ferrox_nn::*;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn npy(name: &str) -> Array {
    match io::load(fixture(&format!("{name}.npy"))).unwrap() {
        io::Loaded::Array(a) => a,
        io::Loaded::Arrays(_) => panic!("{name}.npy holds one array"),
    }
}

/// The Python script's `Model`, field for field (attribute order gives key order).
struct Model {
    embedding: Embedding,
    encoder: TransformerEncoder,
    norm: RMSNorm,
    conv: Conv1d,
    head: Linear,
    decoder: TransformerDecoderLayer,
    conv2: Conv2d,
}

impl Model {
    fn new() -> ferrox::Result<Self> {
        let opts = TransformerOptions {
            mlp_dims: Some(16),
            ..Default::default()
        };
        Ok(Self {
            embedding: Embedding::new(11, 8)?,
            encoder: TransformerEncoder::new(2, 8, 2, opts)?,
            norm: RMSNorm::new(8)?,
            conv: Conv1d::with_options(8, 6, 3, 1, 1, 1, 1, true)?,
            head: Linear::new(6, 5, true)?,
            decoder: TransformerDecoderLayer::new(
                8,
                2,
                TransformerOptions {
                    norm_first: false,
                    ..opts
                },
            )?,
            conv2: Conv2d::with_options(3, 4, [3, 3], [1, 1], [1, 1], [1, 1], 1, true)?,
        })
    }

    fn forward(&self, tokens: &Array, mask: &Array) -> ferrox::Result<(Array, Array)> {
        let h = self
            .encoder
            .forward(&self.embedding.forward(tokens)?, Some(mask))?;
        let y = self.head.forward(&activations::gelu(
            &self.conv.forward(&self.norm.forward(&h)?)?,
        )?)?;
        Ok((y, h))
    }
}

impl Module for Model {
    module_parameters!(
        child embedding, child encoder, child norm, child conv, child head, child decoder, child conv2,
    );
}

fn bits(a: &Array) -> Vec<u32> {
    assert_eq!(a.dtype(), Dtype::Float32);
    a.to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

fn assert_bitwise(got: &Array, want: &Array, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_eq!(bits(got), bits(want), "{what}: values differ from Python's");
}

fn loaded() -> Model {
    let mut model = Model::new().unwrap();
    model
        .load_weights_file(fixture("model.safetensors"), true)
        .unwrap();
    model
}

#[test]
fn python_checkpoint_loads_strictly_and_reproduces_outputs() {
    let model = loaded();
    let tokens = npy("tokens");
    let mask = MultiHeadAttention::create_additive_causal_mask(5, Dtype::Float32).unwrap();
    let (out, enc) = model.forward(&tokens, &mask).unwrap();
    assert_bitwise(&enc, &npy("encoder_out"), "encoder");
    assert_bitwise(&out, &npy("out"), "full model");
}

#[test]
fn python_decoder_and_conv2d_reproduce_outputs() {
    let model = loaded();
    let mask = MultiHeadAttention::create_additive_causal_mask(5, Dtype::Float32).unwrap();
    let dec = model
        .decoder
        .forward(&npy("encoder_out"), &npy("memory"), Some(&mask), None)
        .unwrap();
    assert_bitwise(&dec, &npy("decoder_out"), "decoder layer");
    assert_bitwise(
        &model.conv2.forward(&npy("image")).unwrap(),
        &npy("conv2_out"),
        "conv2d",
    );
}

#[test]
fn python_optimizer_steps_reproduce() {
    let model = loaded();
    let w0 = model.head.weight.clone();
    let grad = npy("grad");
    let g: Params = [("w".to_string(), grad)].into();
    let run = |opt: &mut dyn Optimizer| -> Array {
        let mut p: Params = [("w".to_string(), w0.clone())].into();
        for _ in 0..2 {
            p = opt.apply_gradients(&g, &p).unwrap();
        }
        p["w"].clone()
    };
    assert_bitwise(
        &run(&mut Adam::new(0.01)),
        &npy("adam_w"),
        "Adam, two steps",
    );
    let mut sgd = SGD::with_options(0.1, 0.9, 0.01, 0.0, true).unwrap();
    assert_bitwise(&run(&mut sgd), &npy("sgd_w"), "SGD nesterov, two steps");
    let mut adamw = AdamW::new(0.01);
    adamw.weight_decay = 0.1;
    assert_bitwise(&run(&mut adamw), &npy("adamw_w"), "AdamW, two steps");
    let mut adam_bc = Adam::with_options(0.01, [0.9, 0.999], 1e-8, true).unwrap();
    assert_bitwise(
        &run(&mut adam_bc),
        &npy("adam_bc_w"),
        "Adam with bias correction",
    );
    let mut rms = RMSprop::new(0.01, 0.99, 1e-8).unwrap();
    assert_bitwise(&run(&mut rms), &npy("rmsprop_w"), "RMSprop, two steps");
    let mut adagrad = Adagrad::new(0.1, 1e-8).unwrap();
    assert_bitwise(&run(&mut adagrad), &npy("adagrad_w"), "Adagrad, two steps");
}

#[test]
fn python_loss_and_gradients_reproduce() {
    let mut model = loaded();
    let (tokens, targets) = (npy("tokens"), npy("targets"));
    let mask = MultiHeadAttention::create_additive_causal_mask(5, Dtype::Float32).unwrap();
    let (loss, grads) = value_and_grad(&mut model, |m: &Model| {
        let (logits, _) = m.forward(&tokens, &mask)?;
        losses::cross_entropy(&logits, &targets, None, -1, 0.0, Reduction::Mean)
    })
    .unwrap();
    assert_bitwise(&loss, &npy("loss"), "loss");
    let io::Loaded::Arrays(want) = io::load(fixture("grads.safetensors")).unwrap() else {
        panic!("grads.safetensors holds named arrays")
    };
    assert_eq!(want.len(), 4);
    for (name, w) in &want {
        assert_bitwise(&grads[name], w, name);
    }
    // Every parameter has a gradient of its shape.
    for (name, p) in model.parameters() {
        assert_eq!(grads[&name].shape(), p.shape(), "{name}");
    }
}

#[test]
fn python_npz_checkpoint_loads() {
    let mut linear = Linear::new(3, 2, true).unwrap();
    linear
        .load_weights_file(fixture("linear.npz"), true)
        .unwrap();
    let y = linear.forward(&ops::ones(&[4, 3], None).unwrap()).unwrap();
    assert_bitwise(&y, &npy("linear_out"), "Linear from .npz");
}

#[test]
fn python_rope_norms_and_activations_reproduce() {
    let io::Loaded::Arrays(misc) = io::load(fixture("misc.safetensors")).unwrap() else {
        panic!("misc.safetensors holds named arrays")
    };
    let x = &misc["x"];
    let check =
        |name: &str, got: ferrox::Result<Array>| assert_bitwise(&got.unwrap(), &misc[name], name);
    check("rope", RoPE::new(6, false).forward(x, 3));
    check("rope_traditional", RoPE::new(8, true).forward(x, 0));
    check("group_norm", GroupNorm::new(2, 8).unwrap().forward(x));
    check(
        "group_norm_pytorch",
        GroupNorm::with_options(2, 8, 1e-5, true, true)
            .unwrap()
            .forward(x),
    );
    let mut bn = BatchNorm::new(8).unwrap();
    check("batch_norm_train", bn.forward(x));
    bn.set_training(false);
    check("batch_norm_eval", bn.forward(x));
    check(
        "batch_norm_running_var",
        Ok(bn.running_var.clone().unwrap()),
    );
    type F = fn(&Array) -> ferrox::Result<Array>;
    let fns: [(&str, F); 14] = [
        ("relu", activations::relu),
        ("gelu", activations::gelu),
        ("gelu_approx", activations::gelu_approx),
        ("gelu_fast_approx", activations::gelu_fast_approx),
        ("silu", activations::silu),
        ("sigmoid", activations::sigmoid),
        ("tanh", activations::tanh),
        ("softplus", activations::softplus),
        ("mish", activations::mish),
        ("selu", activations::selu),
        ("relu6", activations::relu6),
        ("hardswish", activations::hardswish),
        ("softsign", activations::softsign),
        ("log_sigmoid", activations::log_sigmoid),
    ];
    for (name, f) in fns {
        check(name, f(x));
    }
    check("softmax", activations::softmax(x, -1));
    check("log_softmax", activations::log_softmax(x, -1));
}
