//! Checkpoint files: every dtype round-trips bit for bit through each format, loading
//! is lazy and in place, GGUF's quantized blocks become affine quantization with the
//! values they encode, and every kind of broken file is an error.

use ferrox::io::{self, Arrays, Format, Loaded, MetaValue, Metadata};
use ferrox::{memory, ops, random, Array, Dtype, Error};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrox_io_test_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Random values of `dtype` (random bits for the integer and float types alike, so
/// that NaN payloads and subnormals travel too).
fn random_array(shape: &[usize], dtype: Dtype, seed: u64) -> Array {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(n * dtype.size());
    for _ in 0..n * dtype.size() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.push(state as u8);
    }
    if dtype == Dtype::Bool {
        bytes.iter_mut().for_each(|b| *b &= 1);
    }
    Array::from_bytes(&bytes, shape, dtype).unwrap()
}

fn assert_identical(a: &Array, b: &Array) {
    assert_eq!(a.shape(), b.shape());
    assert_eq!(a.dtype(), b.dtype());
    assert_eq!(
        a.to_bytes().unwrap(),
        b.to_bytes().unwrap(),
        "{:?}",
        a.dtype()
    );
}

fn runtime_error(r: Result<impl std::fmt::Debug, Error>, needle: &str) {
    match r {
        Err(Error::Runtime(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
        other => panic!("expected a RuntimeError containing {needle:?}, got {other:?}"),
    }
}

const SHAPES: [&[usize]; 5] = [&[], &[7], &[3, 5], &[2, 0, 3], &[2, 3, 4, 5]];

#[test]
fn safetensors_round_trips_every_dtype_with_metadata() {
    let mut arrays = Arrays::new();
    for (i, &dtype) in Dtype::ALL.iter().enumerate() {
        for (j, shape) in SHAPES.iter().enumerate() {
            arrays.insert(
                format!("{dtype}.{j}"),
                random_array(shape, dtype, (i * 10 + j) as u64),
            );
        }
    }
    let meta = BTreeMap::from([("format".to_string(), "ferrox".to_string())]);
    let p = path("all.safetensors");
    io::save_safetensors(&p, &arrays, &meta).unwrap();
    let (loaded, loaded_meta) = io::load_safetensors(&p).unwrap();
    assert_eq!(loaded_meta, meta);
    assert_eq!(loaded.len(), arrays.len());
    for (k, a) in &arrays {
        assert!(!loaded[k].is_evaluated(), "loading must not read {k}");
        assert_identical(&loaded[k], a);
    }
}

#[test]
fn npy_round_trips_every_dtype_and_appends_the_extension() {
    for (i, &dtype) in Dtype::ALL.iter().enumerate() {
        for (j, shape) in SHAPES.iter().enumerate() {
            let a = random_array(shape, dtype, (i * 10 + j) as u64);
            let p = path(&format!("a_{i}_{j}"));
            io::save(&p, &a).unwrap();
            let b = io::load_npy(p.with_extension("npy")).unwrap();
            assert_identical(&b, &a);
        }
    }
}

#[test]
fn npy_reads_fortran_order_and_big_endian() {
    // np.save(np.asfortranarray(np.arange(6, dtype='>i4').reshape(2, 3)))
    let header = b"{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let mut h = header.to_vec();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    bytes.extend((h.len() as u16).to_le_bytes());
    bytes.extend(&h);
    for v in [0i32, 3, 1, 4, 2, 5] {
        bytes.extend(v.to_be_bytes());
    }
    let p = path("fortran.npy");
    std::fs::write(&p, bytes).unwrap();
    let a = io::load_npy(&p).unwrap();
    assert_eq!(a.shape(), &[2, 3]);
    assert_eq!(a.to_vec::<i32>().unwrap(), vec![0, 1, 2, 3, 4, 5]);
}

#[test]
fn npz_round_trips_stored_and_compressed() {
    let arrays: Vec<(String, Array)> = Dtype::ALL
        .iter()
        .enumerate()
        .map(|(i, &d)| (format!("x{i}"), random_array(&[4, 33], d, i as u64)))
        .collect();
    for compressed in [false, true] {
        let p = path(&format!("z{compressed}"));
        io::savez(&p, &arrays, compressed).unwrap();
        let loaded = io::load_npz(p.with_extension("npz")).unwrap();
        assert_eq!(loaded.len(), arrays.len());
        for (k, a) in &arrays {
            assert_identical(&loaded[k], a);
        }
    }
}

#[test]
fn gguf_round_trips_tensors_and_every_metadata_type() {
    let mut arrays = Arrays::new();
    for (i, dtype) in [
        Dtype::Float32,
        Dtype::Float16,
        Dtype::Bfloat16,
        Dtype::Float64,
        Dtype::Int8,
        Dtype::Int16,
        Dtype::Int32,
        Dtype::Int64,
    ]
    .into_iter()
    .enumerate()
    {
        arrays.insert(format!("t{i}"), random_array(&[3, 5, 2], dtype, i as u64));
    }
    let mut meta = Metadata::new();
    meta.insert("name".into(), MetaValue::Str("ferrox".into()));
    meta.insert(
        "tokens".into(),
        MetaValue::Strs(vec!["a".into(), "bé".into(), "".into()]),
    );
    for (i, dtype) in [
        Dtype::Uint8,
        Dtype::Int8,
        Dtype::Uint16,
        Dtype::Int16,
        Dtype::Uint32,
        Dtype::Int32,
        Dtype::Float32,
        Dtype::Bool,
        Dtype::Uint64,
        Dtype::Int64,
        Dtype::Float64,
    ]
    .into_iter()
    .enumerate()
    {
        meta.insert(
            format!("s{i}"),
            MetaValue::Array(random_array(&[], dtype, i as u64)),
        );
        meta.insert(
            format!("v{i}"),
            MetaValue::Array(random_array(&[4], dtype, 50 + i as u64)),
        );
    }
    let p = path("all.gguf");
    io::save_gguf(&p, &arrays, &meta).unwrap();
    let (loaded, loaded_meta) = io::load_gguf(&p).unwrap();
    for (k, a) in &arrays {
        assert_identical(&loaded[k], a);
    }
    assert_eq!(loaded_meta.len(), meta.len());
    for (k, v) in &meta {
        match (v, &loaded_meta[k]) {
            (MetaValue::Str(a), MetaValue::Str(b)) => assert_eq!(a, b),
            (MetaValue::Strs(a), MetaValue::Strs(b)) => assert_eq!(a, b),
            (MetaValue::Array(a), MetaValue::Array(b)) => assert_identical(b, a),
            (a, b) => panic!("{k}: {a:?} came back as {b:?}"),
        }
    }
    // Through `load`, by extension.
    match io::load(&p).unwrap() {
        Loaded::Arrays(a) => assert_eq!(a.len(), arrays.len()),
        Loaded::Array(_) => panic!("a GGUF file holds named arrays"),
    }
    runtime_error(
        io::save_gguf(
            path("bad.gguf"),
            &Arrays::from([("b".into(), random_array(&[2], Dtype::Bool, 0))]),
            &meta,
        ),
        "dtype bool is not supported",
    );
}

#[test]
fn aligned_tensors_load_in_place_and_donation_never_writes_the_file() {
    let a = random_array(&[1 << 18], Dtype::Float32, 1); // 1 MiB, 64-byte aligned in the file
    let p = path("inplace.safetensors");
    io::save_safetensors(
        &p,
        &Arrays::from([("a".into(), a.clone())]),
        &BTreeMap::new(),
    )
    .unwrap();
    let before = std::fs::read(&p).unwrap();
    memory::clear_cache();
    let (loaded, _) = io::load_safetensors(&p).unwrap();
    let x = loaded["a"].clone();
    drop(loaded);
    let active = memory::get_active_memory();
    x.eval().unwrap();
    assert!(
        memory::get_active_memory() < active + (1 << 20),
        "the tensor was copied"
    );
    // `x` is held by nothing else, so the kernel may write its result into x's buffer:
    // that must touch a private copy of the page, not the file.
    let y = ops::negative(&x).unwrap();
    drop(x);
    let expected = ops::negative(&a).unwrap();
    assert_identical(&y, &expected);
    assert_eq!(std::fs::read(&p).unwrap(), before, "the file changed");
    let (again, _) = io::load_safetensors(&p).unwrap();
    assert_identical(&again["a"], &a);
}

#[test]
fn format_is_inferred_or_named() {
    assert_eq!(
        Format::from_path("a/b.safetensors".as_ref()).unwrap(),
        Format::Safetensors
    );
    assert!(matches!(
        Format::from_path("noext".as_ref()),
        Err(Error::Invalid(_))
    ));
    assert!(
        matches!(Format::from_name("bad"), Err(Error::Invalid(m)) if m.contains("Unknown file format bad"))
    );
    runtime_error(io::load(path("missing.npy")), "Failed to open file");
    let p = path("named.bin");
    io::save(&p, &random_array(&[3], Dtype::Int32, 0)).unwrap();
    let (l, _) = io::load_with(path("named.bin.npy"), Some(Format::Npy)).unwrap();
    assert!(matches!(l, Loaded::Array(a) if a.shape() == [3]));
}

// ---- GGUF quantized blocks ----

/// A minimal GGUF writer for hand-made files: version, tensors (name, dims in GGUF
/// order, type, raw data), metadata key/values as raw bytes.
fn gguf_bytes(
    version: u32,
    kvs: &[(&[u8], u32, Vec<u8>)],
    tensors: &[(&str, Vec<u64>, u32, Vec<u8>)],
) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(version.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend((kvs.len() as u64).to_le_bytes());
    for (k, t, v) in kvs {
        b.extend((k.len() as u64).to_le_bytes());
        b.extend(*k);
        b.extend(t.to_le_bytes());
        b.extend(v);
    }
    let mut offset = 0u64;
    for (name, dims, t, data) in tensors {
        b.extend((name.len() as u64).to_le_bytes());
        b.extend(name.as_bytes());
        b.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(t.to_le_bytes());
        b.extend(offset.to_le_bytes());
        offset = (offset + data.len() as u64).next_multiple_of(32);
    }
    while b.len() % 32 != 0 {
        b.push(0);
    }
    for (_, _, _, data) in tensors {
        b.extend(data);
        while b.len() % 32 != 0 {
            b.push(0);
        }
    }
    b
}

fn f16_bytes(v: f32) -> [u8; 2] {
    half::f16::from_f32(v).to_le_bytes()
}

#[test]
fn gguf_quantized_blocks_become_affine_quantization() {
    let (rows, cols) = (3usize, 64usize);
    let blocks = rows * cols / 32;
    let noise = random_array(&[blocks * 34], Dtype::Uint8, 7)
        .to_vec::<u8>()
        .unwrap();
    // Expected weights per type, from GGML's definitions.
    let mut files = vec![];
    for (t, block_bytes) in [(2u32, 18usize), (3, 20), (8, 34)] {
        let mut data = Vec::new();
        let mut expected = Vec::new();
        for bi in 0..blocks {
            let raw = &noise[bi * 34..bi * 34 + block_bytes];
            let d = (bi as f32 + 1.0) * 0.125;
            let m = -(bi as f32) * 0.5;
            let mut block = f16_bytes(d).to_vec();
            if t == 3 {
                block.extend(f16_bytes(m));
            }
            let qs = &raw[block.len()..];
            block.extend(qs);
            for i in 0..32 {
                let v = match t {
                    2 => (((if i < 16 { qs[i] & 15 } else { qs[i - 16] >> 4 }) as f32) - 8.0) * d,
                    3 => (if i < 16 { qs[i] & 15 } else { qs[i - 16] >> 4 }) as f32 * d + m,
                    _ => (qs[i] as i8) as f32 * d,
                };
                expected.push(v);
            }
            data.extend(block);
        }
        files.push((t, data, expected));
    }
    let tensors: Vec<(&str, Vec<u64>, u32, Vec<u8>)> = files
        .iter()
        .zip(["q40.weight", "q41.weight", "q80"])
        .map(|((t, data, _), name)| (name, vec![cols as u64, rows as u64], *t, data.clone()))
        .collect();
    let p = path("quant.gguf");
    std::fs::write(&p, gguf_bytes(3, &[], &tensors)).unwrap();
    let (arrays, _) = io::load_gguf(&p).unwrap();
    for ((t, _, expected), prefix) in files.iter().zip(["q40", "q41", "q80"]) {
        let name = if *t == 8 {
            "q80".to_string()
        } else {
            format!("{prefix}.weight")
        };
        let (w, s, b) = (
            &arrays[&name],
            &arrays[&format!("{prefix}.scales")],
            &arrays[&format!("{prefix}.biases")],
        );
        let bits = if *t == 8 { 8 } else { 4 };
        assert_eq!(w.shape(), &[rows, cols * bits / 32]);
        assert_eq!(s.shape(), &[rows, cols / 32]);
        assert_eq!(s.dtype(), Dtype::Float16);
        let deq = ops::dequantize(
            w,
            s,
            Some(b),
            Some(32),
            Some(bits),
            "affine",
            None,
            Some(Dtype::Float32),
        )
        .unwrap();
        assert_eq!(deq.shape(), &[rows, cols]);
        let got = deq.to_vec::<f32>().unwrap();
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            assert!(
                (g - e).abs() <= 1e-6 * (1.0 + e.abs()),
                "type {t} element {i}: {g} vs {e}"
            );
        }
    }
}

// ---- broken files: each an error naming the problem, never a panic ----

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let p = path(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn safetensors_bytes(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend(header.as_bytes());
    b.extend(data);
    b
}

#[test]
fn broken_safetensors_files_are_errors() {
    let ok = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("short length", vec![1, 2, 3]),
        ("truncated data", safetensors_bytes(ok, &[0; 4])),
        ("header past end", {
            let mut b = safetensors_bytes(ok, &[0; 8]);
            b[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
            b
        }),
        (
            "offsets outside",
            safetensors_bytes(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}}"#,
                &[0; 8],
            ),
        ),
        (
            "overlap",
            safetensors_bytes(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                &[0; 12],
            ),
        ),
        (
            "overflow",
            safetensors_bytes(
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
        ),
        (
            "unknown dtype",
            safetensors_bytes(
                r#"{"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
        ),
        ("not json", safetensors_bytes("{nope", &[])),
        ("non-utf8 key", {
            let mut h = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.to_vec();
            h[2] = 0xff;
            let mut b = (h.len() as u64).to_le_bytes().to_vec();
            b.extend(h);
            b.extend([0; 8]);
            b
        }),
    ];
    for (what, bytes) in cases {
        let p = write(
            &format!("bad_{}.safetensors", what.replace(' ', "_")),
            &bytes,
        );
        match io::load_safetensors(&p) {
            Err(Error::Runtime(m)) => assert!(m.contains("safetensors"), "{what}: {m}"),
            other => panic!("{what}: expected an error, got {other:?}"),
        }
    }
    // Valid, for contrast.
    assert!(
        io::load_safetensors(write("good.safetensors", &safetensors_bytes(ok, &[0; 8]))).is_ok()
    );
}

#[test]
fn broken_npy_files_are_errors() {
    let npy = |header: &str, data: &[u8]| {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((header.len() as u16).to_le_bytes());
        b.extend(header.as_bytes());
        b.extend(data);
        b
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bad magic", b"NOTNUMPYAT ALL".to_vec(), "magic"),
        (
            "truncated data",
            npy(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
                &[0; 8],
            ),
            "needs 16 bytes",
        ),
        (
            "header past end",
            {
                let mut b = npy(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
                    &[0; 4],
                );
                b[8..10].copy_from_slice(&60000u16.to_le_bytes());
                b
            },
            "runs past the end",
        ),
        (
            "overflow",
            npy(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }",
                &[0; 4],
            ),
            "needs more bytes",
        ),
        (
            "unknown dtype",
            npy(
                "{'descr': '<U1', 'fortran_order': False, 'shape': (1,), }",
                &[0; 4],
            ),
            "dtype \"<U1\"",
        ),
        (
            "garbage header",
            npy("{'descr': '<f4', 'shape': [1], }", &[0; 4]),
            "header",
        ),
        (
            "bad version",
            b"\x93NUMPY\x09\x00\x00\x00".to_vec(),
            "version 9",
        ),
    ];
    for (what, bytes, needle) in cases {
        runtime_error(
            io::load_npy(write(
                &format!("bad_{}.npy", what.replace(' ', "_")),
                &bytes,
            )),
            needle,
        );
    }
}

#[test]
fn broken_npz_files_are_errors() {
    runtime_error(
        io::load_npz(write("bad.npz", b"PK\x03\x04 not really a zip")),
        "not a valid .npz",
    );
    // A valid archive whose member is a truncated .npy.
    let a = random_array(&[64], Dtype::Float32, 3);
    let p = path("trunc");
    io::savez(&p, &[("a".into(), a)], false).unwrap();
    let mut bytes = std::fs::read(p.with_extension("npz")).unwrap();
    let n = bytes.len();
    bytes.truncate(n - 40);
    assert!(io::load_npz(write("trunc2.npz", &bytes)).is_err());
}

#[test]
fn broken_gguf_files_are_errors() {
    let f32_tensor =
        |name: &'static str, offset_data: Vec<u8>| (name, vec![2u64], 0u32, offset_data);
    let string_kv = |key: &'static [u8], len: u64| {
        let mut v = len.to_le_bytes().to_vec();
        v.extend(b"abc");
        (key, 8u32, v)
    };
    let nested = {
        // An array of arrays of arrays ... nested past the limit.
        let mut v = Vec::new();
        for _ in 0..20 {
            v.extend(9u32.to_le_bytes());
            v.extend(1u64.to_le_bytes());
        }
        v.extend(0u32.to_le_bytes());
        v.extend(0u64.to_le_bytes());
        (b"deep".as_slice(), 9u32, v)
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "bad magic",
            b"GGUX\x03\0\0\0".to_vec(),
            "does not start with GGUF",
        ),
        ("bad version", gguf_bytes(1, &[], &[]), "version 1"),
        (
            "truncated data",
            {
                let mut b = gguf_bytes(3, &[], &[f32_tensor("a", vec![0; 8])]);
                b.truncate(b.len() - 30);
                b
            },
            "lies outside",
        ),
        (
            "absurd tensor count",
            {
                let mut b = gguf_bytes(3, &[], &[]);
                b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
                b
            },
            "tensor count",
        ),
        (
            "absurd string length",
            gguf_bytes(3, &[string_kv(b"k", 1 << 60)], &[]),
            "count",
        ),
        (
            "absurd array length",
            gguf_bytes(
                3,
                &[(b"k", 9, {
                    let mut v = 5u32.to_le_bytes().to_vec();
                    v.extend((1u64 << 61).to_le_bytes());
                    v
                })],
                &[],
            ),
            "count",
        ),
        (
            "deep nesting",
            gguf_bytes(3, &[nested], &[]),
            "nest too deeply",
        ),
        (
            "non-utf8 key",
            gguf_bytes(3, &[(b"\xff\xfe", 4, 1u32.to_le_bytes().to_vec())], &[]),
            "not UTF-8",
        ),
        (
            "unknown metadata type",
            gguf_bytes(3, &[(b"k", 77, vec![0; 8])], &[]),
            "unknown metadata type 77",
        ),
        (
            "overflowing shape",
            gguf_bytes(
                3,
                &[],
                &[("a", vec![1 << 40, 1 << 40, 1 << 40], 0, vec![0; 8])],
            ),
            "more elements",
        ),
        (
            "too many dims",
            gguf_bytes(3, &[], &[("a", vec![1; 9], 0, vec![0; 8])]),
            "9 dimensions",
        ),
        (
            "unsupported type",
            gguf_bytes(3, &[], &[("a", vec![256], 14, vec![0; 210])]),
            "Q6_K",
        ),
        (
            "quantized row not a multiple of 32",
            gguf_bytes(3, &[], &[("a", vec![16], 2, vec![0; 18])]),
            "multiple of 32",
        ),
        (
            "overlap",
            {
                // Two tensors at the same offset.
                let mut b = gguf_bytes(
                    3,
                    &[],
                    &[f32_tensor("a", vec![0; 8]), f32_tensor("b", vec![0; 8])],
                );
                // Rewrite b's offset (the last u64 of the header before padding) to 0.
                let needle = 32u64.to_le_bytes();
                let at = b.windows(8).rposition(|w| w == needle).unwrap();
                b[at..at + 8].copy_from_slice(&0u64.to_le_bytes());
                b
            },
            "overlap",
        ),
        (
            "bad alignment",
            gguf_bytes(
                3,
                &[(b"general.alignment", 4, 3u32.to_le_bytes().to_vec())],
                &[],
            ),
            "power of two",
        ),
    ];
    for (what, bytes, needle) in cases {
        runtime_error(
            io::load_gguf(write(
                &format!("bad_{}.gguf", what.replace(' ', "_")),
                &bytes,
            )),
            needle,
        );
    }
}

#[test]
fn random_corruptions_never_panic() {
    // Flip bytes of valid files of every format: each load is Ok or Err, never a
    // panic, and an Ok file's arrays evaluate.
    let a = random_array(&[5, 8], Dtype::Float32, 9);
    let files = {
        let mut v = Vec::new();
        let arrays = Arrays::from([("w".to_string(), a.clone())]);
        io::save_safetensors(path("c.safetensors"), &arrays, &BTreeMap::new()).unwrap();
        io::save_gguf(
            path("c.gguf"),
            &arrays,
            &Metadata::from([("k".into(), MetaValue::Strs(vec!["x".into()]))]),
        )
        .unwrap();
        io::save(path("c.npy"), &a).unwrap();
        io::savez(path("c.npz"), &[("w".into(), a.clone())], true).unwrap();
        for ext in ["safetensors", "gguf", "npy", "npz"] {
            v.push((ext, std::fs::read(path(&format!("c.{ext}"))).unwrap()));
        }
        v
    };
    let noise = random_array(&[4000], Dtype::Uint32, 5)
        .to_vec::<u32>()
        .unwrap();
    for (ext, bytes) in &files {
        for k in 0..200 {
            let mut b = bytes.clone();
            let (i, v) = (noise[2 * k] as usize % b.len(), noise[2 * k + 1] as u8);
            b[i] = v;
            if k % 7 == 0 {
                b.truncate(i);
            }
            let p = write(&format!("corrupt.{ext}"), &b);
            if let Ok(Loaded::Arrays(arrays)) = io::load(&p) {
                for x in arrays.values() {
                    let _ = x.eval();
                }
            }
        }
    }
}

#[test]
fn loaded_arrays_work_in_graphs_and_transforms() {
    let key = random::key(0);
    let w = random::normal(&[4, 4], Some(Dtype::Float32), None, None, Some(&key)).unwrap();
    let p = path("g.safetensors");
    io::save_safetensors(
        &p,
        &Arrays::from([("w".into(), w.clone())]),
        &BTreeMap::new(),
    )
    .unwrap();
    let (l, _) = io::load_safetensors(&p).unwrap();
    let got = ops::sum(&ops::matmul(&l["w"], &l["w"]).unwrap(), &[], false).unwrap();
    let want = ops::sum(&ops::matmul(&w, &w).unwrap(), &[], false).unwrap();
    assert_identical(&got, &want);
}
