//! export_function / import_function / Exporter / export_to_dot: traces saved to files
//! and loaded back give the values the function gives; broken files are errors.

use ferrox::ops::fast::AttentionMask;
use ferrox::transforms::{
    custom_function, export_function, export_graph, export_to_dot, import_function, Exporter,
};
use ferrox::{ops, random, Array, Dtype, Result};
use std::path::PathBuf;

fn path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ferrox_test_{}_{name}.fxfn", std::process::id()))
}

fn normal(shape: &[usize], seed: u64) -> Array {
    let key = random::key(seed);
    random::normal(shape, Some(Dtype::Float32), None, None, Some(&key)).unwrap()
}

fn values(a: &Array) -> Vec<f32> {
    ops::astype(a, Dtype::Float32)
        .unwrap()
        .to_vec::<f32>()
        .unwrap()
}

fn assert_same(a: &[Array], b: &[Array]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.shape(), y.shape());
        assert_eq!(x.dtype(), y.dtype());
        let (x, y) = (values(x), values(y));
        for (p, q) in x.iter().zip(&y) {
            assert!((p - q).abs() <= 1e-5 * (1.0 + q.abs()), "{p} vs {q}");
        }
    }
}

/// A function over many primitives: products, reductions, softmax, norms, attention,
/// convolution, indexing, sorting, scans, FFTs, casts, views and a captured weight.
fn many_ops(w: Array) -> impl Fn(&[Array]) -> Result<Vec<Array>> + 'static {
    move |a: &[Array]| {
        let (x, y) = (&a[0], &a[1]);
        let h = ops::matmul(x, &w)?; // (4, 8)
        let h = ops::add(&ops::multiply(&h, 2.0)?, y)?;
        let s = ops::softmax(&h, &[-1], false)?;
        let n = ops::fast::layer_norm(&h, None, None, 1e-5)?;
        let r = ops::fast::rms_norm(&h, None, 1e-5)?;
        let q = ops::reshape(&h, &[1, 1, 4, 8])?;
        let att =
            ops::fast::scaled_dot_product_attention(&q, &q, &q, 0.5, AttentionMask::Causal, None)?;
        let img = ops::reshape(&h, &[1, 4, 8, 1])?;
        let k = ops::ones(&[2, 3, 3, 1], Some(Dtype::Float32))?;
        let c = ops::conv2d(&img, &k, [1, 1], [1, 1], [1, 1], 1)?;
        let idx = Array::from_slice(&[3u32, 0, 1], &[3])?;
        let t = ops::take(&h, &idx, Some(0))?;
        let sorted = ops::sort(&h, Some(-1))?;
        let am = ops::argmax(&h, Some(1), false)?;
        let cs = ops::cumsum(&h, Some(0), false, true, None)?;
        let f = ops::abs(&ops::fft::fft(&h, None, -1, "backward")?)?;
        let sl = ops::slice(&h, &[1, 0], &[3, 8], &[1, 2])?;
        let cat = ops::concatenate(&[sl.clone(), sl], Some(0))?;
        let tr = ops::transpose(&h, &[])?;
        let m = ops::where_(&ops::greater(&h, 0.0)?, &h, &ops::exp(&h)?)?;
        let half = ops::astype(&ops::sum(&h, &[0], false)?, Dtype::Float16)?;
        Ok(vec![
            s, n, r, att, c, t, sorted, am, cs, f, cat, tr, m, half,
        ])
    }
}

#[test]
fn a_saved_function_gives_the_values_of_the_function() {
    let w = normal(&[6, 8], 1);
    let (x, y) = (normal(&[4, 6], 2), normal(&[8], 3));
    let p = path("many");
    export_function(
        &p,
        many_ops(w.clone()),
        &[x.clone(), y.clone()],
        false,
        "meta",
    )
    .unwrap();
    let f = import_function(&p).unwrap();
    assert_eq!(f.metadata(), "meta");
    let direct = many_ops(w)(&[x.clone(), y.clone()]).unwrap();
    // New values of the same signature.
    assert_same(&f.call(&[x.clone(), y.clone()]).unwrap(), &direct);
    let (x2, y2) = (normal(&[4, 6], 4), normal(&[8], 5));
    let w = import_function(&p).unwrap();
    let again = w.call(&[x2.clone(), y2.clone()]).unwrap();
    let f2 = many_ops(Array::from_slice(&vec![0.0f32; 48], &[6, 8]).unwrap());
    // (the captured weight is the file's, not a new one)
    assert!(values(&again[0]) != values(&f2(&[x2, y2]).unwrap()[0]));
    std::fs::remove_file(&p).ok();
}

#[test]
fn a_call_of_another_signature_is_an_error_listing_the_saved_ones() {
    let p = path("sig");
    let x = normal(&[2, 3], 1);
    export_function(&p, |a| Ok(vec![ops::exp(&a[0])?]), &[x], false, "").unwrap();
    let f = import_function(&p).unwrap();
    let err = f.call(&[normal(&[4, 3], 2)]).unwrap_err().to_string();
    assert!(err.contains("No imported function found"), "{err}");
    assert!(err.contains("1: (2,3) float32"), "{err}");
    assert!(err.contains("1: (4,3) float32"), "{err}");
    let err = f.call(&[ops::ones(&[2, 3], Some(Dtype::Float16)).unwrap()]);
    assert!(err.is_err());
    std::fs::remove_file(&p).ok();
}

#[test]
fn an_exporter_saves_several_signatures_and_keywords() {
    let p = path("exporter");
    let f = |a: &[Array]| Ok(vec![ops::add(&ops::multiply(&a[0], &a[1])?, 1.0)?]);
    let mut ex = Exporter::new(&p, f, false, "two");
    let (x, y) = (normal(&[2, 3], 1), normal(&[3], 2));
    ex.add(&[x.clone(), y.clone()], &[]).unwrap();
    ex.add(&[x.clone(), y.clone()], &["b".to_string()]).unwrap();
    let g = import_function(&p).unwrap();
    let want = f(&[x.clone(), y.clone()]).unwrap();
    assert_same(&g.call(&[x.clone(), y.clone()]).unwrap(), &want);
    let by_name = g
        .call_with_keywords(&[x.clone()], &[("b".to_string(), y.clone())])
        .unwrap();
    assert_same(&by_name, &want);
    assert!(g.call_with_keywords(&[x], &[("c".to_string(), y)]).is_err());
    // Two keywords: a name given twice (and the other missing) is an error, not a panic.
    let (x2, y2) = (normal(&[2, 3], 11), normal(&[3], 12));
    let q = path("two_keywords");
    let mut ex = Exporter::new(&q, f, false, "");
    let names = ["a".to_string(), "b".to_string()];
    ex.add(&[x2.clone(), y2.clone()], &names).unwrap();
    let h = import_function(&q).unwrap();
    let twice = [("a".to_string(), x2.clone()), ("a".to_string(), y2.clone())];
    assert!(h.call_with_keywords(&[], &twice).is_err());
    let both = [("b".to_string(), y2.clone()), ("a".to_string(), x2.clone())];
    let want = f(&[x2, y2]).unwrap();
    assert_same(&h.call_with_keywords(&[], &both).unwrap(), &want);
    std::fs::remove_file(&q).ok();
    std::fs::remove_file(&p).ok();
}

#[test]
fn a_shapeless_export_replays_for_new_shapes() {
    let p = path("shapeless");
    let b = normal(&[3], 9);
    let bias = b.clone();
    let f = move |a: &[Array]| {
        let s = ops::sum(&ops::add(&a[0], &bias)?, &[-1], true)?;
        Ok(vec![ops::multiply(&ops::exp(&a[0])?, &s)?])
    };
    let mut ex = Exporter::new(&p, f, true, "");
    ex.add(&[normal(&[2, 3], 1)], &[]).unwrap();
    let g = import_function(&p).unwrap();
    let x = normal(&[5, 3], 2);
    let bias = b.clone();
    let want = ops::multiply(
        &ops::exp(&x).unwrap(),
        &ops::sum(&ops::add(&x, &bias).unwrap(), &[-1], true).unwrap(),
    )
    .unwrap();
    assert_same(&g.call(&[x]).unwrap(), &[want]);
    // Not shapeless: the same new shape is an error.
    let q = path("shaped");
    export_function(
        &q,
        |a| Ok(vec![ops::exp(&a[0])?]),
        &[normal(&[2, 3], 1)],
        false,
        "",
    )
    .unwrap();
    assert!(import_function(&q)
        .unwrap()
        .call(&[normal(&[5, 3], 2)])
        .is_err());
    std::fs::remove_file(&p).ok();
    std::fs::remove_file(&q).ok();
}

#[test]
fn custom_functions_export_their_forward_graph() {
    let p = path("custom");
    let cf = custom_function(|a: &[Array]| Ok(vec![ops::sin(&a[0])?]))
        .vjp(|_, cot, _| Ok(vec![cot[0].clone()]));
    let cf2 = cf.clone();
    let f = move |a: &[Array]| Ok(vec![ops::multiply(&cf2.call(a)?[0], 3.0)?]);
    let x = normal(&[4], 1);
    export_function(&p, f, &[x.clone()], false, "").unwrap();
    let got = import_function(&p).unwrap().call(&[x.clone()]).unwrap();
    let want = ops::multiply(&ops::sin(&x).unwrap(), 3.0).unwrap();
    assert_same(&got, &[want]);
    std::fs::remove_file(&p).ok();
}

#[test]
fn reading_a_traced_value_while_exporting_is_an_error() {
    let p = path("item");
    let f = |a: &[Array]| {
        let s: f32 = ops::sum(&a[0], &[], false)?.item()?;
        Ok(vec![ops::multiply(&a[0], s)?])
    };
    let err = export_function(&p, f, &[normal(&[3], 1)], false, "").unwrap_err();
    assert!(
        err.to_string().contains("Attempting to eval an array"),
        "{err}"
    );
    assert!(!p.exists());
    // The same under compile.
    let c = ferrox::transforms::compile(f);
    assert!(c.call(&[normal(&[3], 1)]).is_err());
}

#[test]
fn broken_files_are_errors() {
    let p = path("broken");
    export_function(
        &p,
        |a| Ok(vec![ops::exp(&a[0])?]),
        &[normal(&[3], 1)],
        false,
        "",
    )
    .unwrap();
    let good = std::fs::read(&p).unwrap();
    let header_len = u64::from_le_bytes(good[8..16].try_into().unwrap()) as usize;
    let header = String::from_utf8(good[16..16 + header_len].to_vec()).unwrap();
    let with_header = |h: &str| {
        let mut b = good[..8].to_vec();
        b.extend_from_slice(&(h.len() as u64).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(&good[16 + header_len..]);
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("magic", b"NOTFERROX_________".to_vec()),
        ("truncated header", good[..20].to_vec()),
        ("length past the end", {
            let mut b = good.clone();
            b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
            b
        }),
        (
            "unknown primitive",
            with_header(&header.replace("\"Unary\"", "\"Nope\"")),
        ),
        (
            "bad reference",
            with_header(&header.replace("{\"Arg\":0}", "{\"Arg\":7}")),
        ),
        ("not json", with_header("{{{{")),
    ];
    for (what, bytes) in cases {
        std::fs::write(&p, &bytes).unwrap();
        let err = import_function(&p).err();
        assert!(err.is_some(), "{what}: loaded");
    }
    std::fs::remove_file(&p).ok();
    assert!(import_function(path("does_not_exist")).is_err());
}

/// A file whose step gives its primitive more or fewer inputs (or outputs) than it
/// takes: refused when loaded, with the counts in the message (the kernels index their
/// inputs, so running such a step would panic).
#[test]
fn a_step_with_the_wrong_number_of_inputs_is_an_error() {
    let p = path("arity");
    let f = |a: &[Array]| Ok(vec![ops::exp(&ops::add(&a[0], &a[1])?)?]);
    export_function(&p, f, &[normal(&[3], 1), normal(&[3], 2)], false, "").unwrap();
    let good = std::fs::read(&p).unwrap();
    let header_len = u64::from_le_bytes(good[8..16].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&good[16..16 + header_len]).unwrap();
    // The file with the step of primitive `name` changed by `edit`.
    let edited = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut h = header.clone();
        let steps = h["traces"][0]["steps"].as_array_mut().unwrap();
        let step = steps.iter_mut().find(|s| s["primitive"] == name).unwrap();
        edit(step);
        let h = serde_json::to_vec(&h).unwrap();
        let mut b = good[..8].to_vec();
        b.extend_from_slice(&(h.len() as u64).to_le_bytes());
        b.extend_from_slice(&h);
        b.extend_from_slice(&good[16 + header_len..]);
        b
    };
    let arg = |k: usize| serde_json::json!({ "Arg": k });
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "binary with one input",
            edited("Binary", &|s| s["inputs"] = serde_json::json!([arg(0)])),
            "takes 2 inputs and gives 1 outputs, not 1 and 1",
        ),
        (
            "binary with three inputs",
            edited("Binary", &|s| {
                s["inputs"] = serde_json::json!([arg(0), arg(1), arg(0)])
            }),
            "not 3 and 1",
        ),
        (
            "unary with none",
            edited("Unary", &|s| s["inputs"] = serde_json::json!([])),
            "takes 1 inputs",
        ),
        (
            "unary with two outputs",
            edited("Unary", &|s| {
                let o = s["outputs"][0].clone();
                s["outputs"] = serde_json::json!([o.clone(), o]);
            }),
            "not 1 and 2",
        ),
    ];
    for (what, bytes, want) in cases {
        std::fs::write(&p, &bytes).unwrap();
        match import_function(&p) {
            Err(ferrox::Error::Invalid(m)) => {
                assert!(
                    m.contains(want) && m.contains("[import_function]"),
                    "{what}: {m}"
                )
            }
            Err(e) => panic!("{what}: {e:?}"),
            Ok(_) => panic!("{what}: loaded"),
        }
    }
    // The file as saved still loads and runs.
    std::fs::write(&p, &good).unwrap();
    let (x, y) = (normal(&[3], 1), normal(&[3], 2));
    let got = import_function(&p)
        .unwrap()
        .call(&[x.clone(), y.clone()])
        .unwrap();
    assert_same(&got, &f(&[x, y]).unwrap());
    std::fs::remove_file(&p).ok();
}

#[test]
fn the_graph_is_described_value_by_value() {
    let g = export_graph(
        |a: &[Array]| Ok(vec![ops::add(&ops::multiply(&a[0], &a[1])?, 1.0)?]),
        &[normal(&[2, 3], 1), normal(&[2, 3], 2)],
        &[],
    )
    .unwrap();
    assert_eq!(g.inputs[0].0, "A");
    assert_eq!(g.inputs[1].0, "B");
    assert_eq!(g.outputs[0].0, "C");
    assert_eq!(g.outputs[0].1, vec![2, 3]);
    let names: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
    assert!(
        names.contains(&"Multiply") && names.contains(&"Add"),
        "{names:?}"
    );
    assert!(g
        .nodes
        .iter()
        .all(|n| n.primitive == "Binary" || n.primitive == "Broadcast"));
    assert_eq!(g.nodes.last().unwrap().outputs[0].0, "C");
}

#[test]
fn export_to_dot_draws_sources_ops_and_sinks() {
    let x = normal(&[2], 1);
    let y = ops::exp(&ops::add(&x, &x).unwrap()).unwrap();
    let mut out = Vec::new();
    export_to_dot(&mut out, &[], &[("out".into(), y)]).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("digraph {\n"), "{text}");
    assert!(text.contains("{ rank=source; \"A\"; }"), "{text}");
    assert!(text.contains("[label =\"Exp\", shape=rectangle]"), "{text}");
    assert!(text.contains("{ rank=sink; \"out\"; }"), "{text}");
    assert!(text.trim_end().ends_with('}'));
}
