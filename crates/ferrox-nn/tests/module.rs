//! Parameter names, updates, checkpoint loading errors and save/load round trips.

mod common;
use common::*;
use ferrox::{io, ops, Array};
use ferrox_nn::module::prefixed;
use ferrox_nn::*;
use std::collections::BTreeMap;

/// What the Python side gives for `nn.TransformerEncoder(2, 32, 4)`:
/// `[k for k, _ in tree_flatten(model.parameters())]`.
const PYTHON_ENCODER_KEYS: &[&str] = &[
    "layers.0.attention.query_proj.weight",
    "layers.0.attention.key_proj.weight",
    "layers.0.attention.value_proj.weight",
    "layers.0.attention.out_proj.weight",
    "layers.0.ln1.weight",
    "layers.0.ln1.bias",
    "layers.0.ln2.weight",
    "layers.0.ln2.bias",
    "layers.0.linear1.weight",
    "layers.0.linear1.bias",
    "layers.0.linear2.weight",
    "layers.0.linear2.bias",
    "layers.1.attention.query_proj.weight",
    "layers.1.attention.key_proj.weight",
    "layers.1.attention.value_proj.weight",
    "layers.1.attention.out_proj.weight",
    "layers.1.ln1.weight",
    "layers.1.ln1.bias",
    "layers.1.ln2.weight",
    "layers.1.ln2.bias",
    "layers.1.linear1.weight",
    "layers.1.linear1.bias",
    "layers.1.linear2.weight",
    "layers.1.linear2.bias",
    "ln.weight",
    "ln.bias",
];

#[test]
fn encoder_keys_equal_python_tree_flatten() {
    let enc = TransformerEncoder::new(2, 32, 4, Default::default()).unwrap();
    let keys: Vec<String> = enc.parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, PYTHON_ENCODER_KEYS);
    let shapes: BTreeMap<String, Vec<usize>> = enc
        .parameters()
        .into_iter()
        .map(|(k, v)| (k, v.shape().to_vec()))
        .collect();
    assert_eq!(shapes["layers.0.linear1.weight"], vec![128, 32]);
    assert_eq!(shapes["layers.1.attention.out_proj.weight"], vec![32, 32]);
}

#[test]
fn decoder_and_sequential_keys() {
    let dec = TransformerDecoderLayer::new(8, 2, Default::default()).unwrap();
    let keys: Vec<String> = dec.parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys[0], "self_attention.query_proj.weight");
    assert_eq!(keys[4], "cross_attention.query_proj.weight");
    assert_eq!(
        &keys[8..],
        [
            "ln1.weight",
            "ln1.bias",
            "ln2.weight",
            "ln2.bias",
            "ln3.weight",
            "ln3.bias",
            "linear1.weight",
            "linear1.bias",
            "linear2.weight",
            "linear2.bias"
        ]
    );
    let seq = Sequential::new()
        .add(Linear::new(2, 3, true).unwrap())
        .add(Activation(activations::relu))
        .add(Linear::new(3, 1, false).unwrap());
    let keys: Vec<String> = seq.parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        ["layers.0.weight", "layers.0.bias", "layers.2.weight"]
    );
}

fn tiny() -> Sequential {
    Sequential::new()
        .add(Linear::new(3, 2, true).unwrap())
        .add(LayerNorm::new(2).unwrap())
}

#[test]
fn load_weights_reports_keys_by_name() {
    let mut m = tiny();
    let mut w: BTreeMap<String, Array> = m.parameters().into_iter().collect();
    // Missing key.
    let bias = w.remove("layers.0.bias").unwrap();
    let e = m.load_weights(&w, true).unwrap_err().to_string();
    assert!(e.contains("Missing") && e.contains("layers.0.bias"), "{e}");
    // Non-strict loads what is there.
    m.load_weights(&w, false).unwrap();
    // Unexpected key.
    w.insert("layers.0.bias".into(), bias);
    w.insert("layers.7.weight".into(), ops::zeros(&[1], None).unwrap());
    let e = m.load_weights(&w, true).unwrap_err().to_string();
    assert!(
        e.contains("not in model") && e.contains("layers.7.weight"),
        "{e}"
    );
    w.remove("layers.7.weight");
    // Wrong shape: named, and nothing is loaded.
    let before = values(&m.parameters()[0].1);
    w.insert("layers.0.weight".into(), ops::ones(&[2, 3], None).unwrap());
    w.insert("layers.1.weight".into(), ops::zeros(&[5], None).unwrap());
    let e = m.load_weights(&w, false).unwrap_err().to_string();
    assert!(e.contains("layers.1.weight") && e.contains("[5]"), "{e}");
    assert_eq!(values(&m.parameters()[0].1), before);
    // update: unknown names are errors too.
    let mut bad = BTreeMap::new();
    bad.insert("nope".to_string(), ops::zeros(&[1], None).unwrap());
    assert!(m.update(&bad).unwrap_err().to_string().contains("nope"));
    // A good key beside a bad one: nothing changes.
    bad.insert(
        "layers.0.bias".to_string(),
        ops::full(&[2], 7.0f32, None).unwrap(),
    );
    assert!(m.update(&bad).is_err());
    assert!(values(&m.parameters()[1].1).iter().all(|&v| v != 7.0));
}

#[test]
fn save_load_round_trip_safetensors_and_npz() {
    let dir = std::env::temp_dir().join(format!("ferrox-nn-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let x = ops::reshape(&ops::arange(0.0, 6.0, 1.0, None).unwrap(), &[2, 3]).unwrap();
    let mut a = tiny();
    for ext in ["safetensors", "npz"] {
        let path = dir.join(format!("w.{ext}"));
        a.save_weights(&path).unwrap();
        let mut b = tiny();
        b.load_weights_file(&path, true).unwrap();
        for ((ka, va), (kb, vb)) in a.parameters().into_iter().zip(b.parameters()) {
            assert_eq!(ka, kb);
            assert_eq!(values(&va), values(&vb), "{ext}: {ka}");
        }
        assert_eq!(
            values(&a.forward(&x).unwrap()),
            values(&b.forward(&x).unwrap())
        );
        // The file holds exactly the parameter names.
        let io::Loaded::Arrays(raw) = io::load(&path).unwrap() else {
            panic!("named arrays")
        };
        assert_eq!(
            raw.keys().cloned().collect::<Vec<_>>(),
            vec![
                "layers.0.bias",
                "layers.0.weight",
                "layers.1.bias",
                "layers.1.weight"
            ]
        );
    }
    // A missing file is an error naming it; a .npy is refused.
    assert!(a
        .load_weights_file(dir.join("absent.safetensors"), true)
        .is_err());
    io::save(dir.join("one.npy"), &x).unwrap();
    assert!(a.load_weights_file(dir.join("one.npy"), true).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn prefixed_nests_names() {
    let mut l = Linear::new(1, 1, false).unwrap();
    let names: Vec<String> = prefixed("a.b", l.parameters_mut())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(names, ["a.b.weight"]);
}

#[test]
fn transformer_and_attention_widths_match_python() {
    // Python: tree_flatten(nn.Transformer(8, 2, 1, 1, 16).parameters()).
    let t = Transformer::new(
        8,
        2,
        1,
        1,
        TransformerOptions {
            mlp_dims: Some(16),
            ..Default::default()
        },
    )
    .unwrap();
    let keys: Vec<String> = t.parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 34);
    assert_eq!(
        keys[12..16],
        [
            "encoder.ln.weight",
            "encoder.ln.bias",
            "decoder.layers.0.self_attention.query_proj.weight",
            "decoder.layers.0.self_attention.key_proj.weight"
        ]
    );
    assert_eq!(keys[33], "decoder.ln.bias");
    let src = ops::ones(&[1, 3, 8], None).unwrap();
    let tgt = ops::ones(&[1, 2, 8], None).unwrap();
    assert_eq!(
        t.forward(&src, &tgt, None, None, None).unwrap().shape(),
        &[1, 2, 8]
    );

    // Python: nn.MultiHeadAttention(8, 2, query_input_dims=6, key_input_dims=5,
    // value_input_dims=4, value_dims=10, value_output_dims=3, bias=True).
    let widths = AttentionDims {
        query_input_dims: Some(6),
        key_input_dims: Some(5),
        value_input_dims: Some(4),
        value_dims: Some(10),
        value_output_dims: Some(3),
    };
    let mha = MultiHeadAttention::with_dims(8, 2, widths, true).unwrap();
    let got: Vec<(String, Vec<usize>)> = mha
        .parameters()
        .into_iter()
        .map(|(k, v)| (k, v.shape().to_vec()))
        .collect();
    let want: Vec<(String, Vec<usize>)> = [
        ("query_proj.weight", vec![8, 6]),
        ("query_proj.bias", vec![8]),
        ("key_proj.weight", vec![8, 5]),
        ("key_proj.bias", vec![8]),
        ("value_proj.weight", vec![10, 4]),
        ("value_proj.bias", vec![10]),
        ("out_proj.weight", vec![3, 10]),
        ("out_proj.bias", vec![3]),
    ]
    .into_iter()
    .map(|(k, s)| (k.to_string(), s))
    .collect();
    assert_eq!(got, want);
    let q = ops::ones(&[2, 3, 6], None).unwrap();
    let k = ops::ones(&[2, 4, 5], None).unwrap();
    let v = ops::ones(&[2, 4, 4], None).unwrap();
    assert_eq!(mha.forward(&q, &k, &v, None).unwrap().shape(), &[2, 3, 3]);
}

#[test]
fn set_dtype_casts_floating_parameters() {
    let mut m = tiny();
    m.set_dtype(ferrox::Dtype::Float16).unwrap();
    assert!(m
        .parameters()
        .iter()
        .all(|(_, p)| p.dtype() == ferrox::Dtype::Float16));
    let x = ops::ones(&[2, 3], Some(ferrox::Dtype::Float16)).unwrap();
    assert_eq!(m.forward(&x).unwrap().dtype(), ferrox::Dtype::Float16);
}
