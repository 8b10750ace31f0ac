//! Runs the character-level transformer that `examples/char_transformer.py` trains in
//! Python: the same checkpoint, no conversion.
//!
//! ```sh
//! cargo run --release -p ferrox-nn --example generate -- <dir> "<prompt>" [n_chars]
//!     [--temperature T] [--seed S] [--logits out.npy]
//! ```
//!
//! `<dir>` holds `config.json` (vocabulary and sizes) and `model.safetensors`. The model
//! is built here from ferrox-nn's layers, field for field as the Python class (so the keys
//! match), loaded strictly, and continues the prompt, the whole window recomputed at each
//! step, exactly as the Python script's `generate`: greedily (the default, temperature 0)
//! or sampled from `softmax(logits / T)` with keys split off `key(S)` (ferrox's random
//! numbers are the same in both languages), so both print the same text. `--logits` also
//! writes the logits at the prompt's last position as `.npy` (python/tests/test_demo.py
//! compares them with Python's, bit for bit).

use ferrox::{io, ops, random, Array, Dtype, Error, Result};
use ferrox_nn::{module_parameters, Embedding, Linear, Module, MultiHeadAttention};
use ferrox_nn::{TransformerEncoder, TransformerOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// `config.json`, as the Python script writes it.
struct Config {
    /// Character `i` of the vocabulary is token `i`.
    vocab: Vec<char>,
    dims: usize,
    num_heads: usize,
    num_layers: usize,
    /// The longest window the position table covers.
    context: usize,
}

impl Config {
    fn read(path: &Path) -> Result<Config> {
        let bad = |why: String| Error::Invalid(format!("{}: {why}", path.display()));
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let vocab: Vec<char> = json
            .get("vocab")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("key \"vocab\" missing or not a string".into()))?
            .chars()
            .collect();
        // A positive integer under `key`; zero would build empty layers that fail later.
        let size = |key: &str| -> Result<usize> {
            json.get(key)
                .and_then(|v| v.as_u64())
                .filter(|&n| n > 0 && n <= u32::MAX as u64)
                .map(|n| n as usize)
                .ok_or_else(|| bad(format!("key \"{key}\" missing or not a positive integer")))
        };
        if vocab.is_empty() {
            return Err(bad("\"vocab\" is empty".into()));
        }
        Ok(Config {
            vocab,
            dims: size("dims")?,
            num_heads: size("num_heads")?,
            num_layers: size("num_layers")?,
            context: size("context")?,
        })
    }

    fn encode(&self, text: &str) -> Result<Vec<i32>> {
        let mut missing: Vec<char> = text.chars().filter(|c| !self.vocab.contains(c)).collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            return Err(Error::Invalid(format!(
                "the prompt has characters not in the model's vocabulary: {missing:?}"
            )));
        }
        // Every character is in the vocabulary (checked above): filter_map drops none.
        Ok(text
            .chars()
            .filter_map(|c| self.vocab.iter().position(|&v| v == c))
            .map(|i| i as i32)
            .collect())
    }
}

/// Python's `CharTransformer`, field for field: keys `embedding.weight`,
/// `pos_embedding.weight`, `encoder.layers.<i>.*`, `encoder.ln.*`, `out.*`.
struct CharTransformer {
    embedding: Embedding,
    pos_embedding: Embedding,
    encoder: TransformerEncoder,
    out: Linear,
}

impl CharTransformer {
    fn new(c: &Config) -> Result<Self> {
        Ok(Self {
            embedding: Embedding::new(c.vocab.len(), c.dims)?,
            pos_embedding: Embedding::new(c.context, c.dims)?,
            // Python's defaults: MLP 4 * dims, ReLU, no dropout, LayerNorm first.
            encoder: TransformerEncoder::new(
                c.num_layers,
                c.dims,
                c.num_heads,
                TransformerOptions::default(),
            )?,
            out: Linear::new(c.dims, c.vocab.len(), true)?,
        })
    }

    /// `tokens` `[batch, length]` int32, length <= context; logits `[batch, length, vocab]`.
    /// The same ops in the same order as Python's `__call__`, so the same bits.
    fn forward(&self, tokens: &Array) -> Result<Array> {
        let length = tokens.shape()[1];
        let positions = ops::arange(0.0, length as f64, 1.0, Some(Dtype::Int32))?;
        let x = ops::add(
            self.embedding.forward(tokens)?,
            self.pos_embedding.forward(&positions)?,
        )?;
        let mask = MultiHeadAttention::create_additive_causal_mask(length, Dtype::Float32)?;
        self.out.forward(&self.encoder.forward(&x, Some(&mask))?)
    }

    /// The logits `[vocab]` after the last `context` tokens of `ids` (Python's
    /// `model(mx.array([ids[-context:]]))[0, -1]`).
    fn next_logits(&self, ids: &[i32], context: usize) -> Result<Vec<f32>> {
        let window = &ids[ids.len().saturating_sub(context)..];
        let logits = self.forward(&Array::from_slice(window, &[1, window.len()])?)?;
        let vocab = logits.shape()[2];
        let all = logits.to_vec::<f32>()?;
        Ok(all[all.len() - vocab..].to_vec())
    }
}

impl Module for CharTransformer {
    module_parameters!(child embedding, child pos_embedding, child encoder, child out);
}

/// The first index of the largest value, as `mx.argmax` picks it (ties to the first).
fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// The next token after `logits`: the most likely at temperature 0, else a draw from
/// `softmax(logits / temperature)` with a key split off `key` (Python's
/// `key, sub = mx.random.split(key)`; `mx.random.categorical(logits / t, key=sub)`).
fn next_token(logits: &[f32], temperature: f32, key: &mut Array) -> Result<i32> {
    if temperature == 0.0 {
        return Ok(argmax(logits) as i32);
    }
    let (next_key, sub) = random::split_pair(key)?;
    *key = next_key;
    let scaled = ops::divide(
        &Array::from_slice(logits, &[logits.len()])?,
        &Array::scalar(temperature),
    )?;
    Ok(random::categorical(&scaled, -1, None, None, Some(&sub))?.item::<u32>()? as i32)
}

struct Args {
    dir: PathBuf,
    prompt: String,
    n_chars: usize,
    temperature: f32,
    seed: u64,
    logits: Option<PathBuf>,
}

const USAGE: &str = "usage: generate <dir> <prompt> [n_chars] [--temperature T] [--seed S] \
                     [--logits out.npy]";

fn parse_args() -> Result<Args> {
    let mut positional = Vec::new();
    let (mut logits, mut temperature, mut seed) = (None, 0.0f32, 0u64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |what: &str| {
            args.next()
                .ok_or_else(|| Error::Invalid(format!("{a} needs {what}\n{USAGE}")))
        };
        match a.as_str() {
            "--logits" => logits = Some(PathBuf::from(value("a path")?)),
            "--temperature" => {
                let t = value("a number")?;
                // Parsed as f64 and rounded once to f32, as Python's float meets float32.
                temperature = t
                    .parse::<f64>()
                    .ok()
                    .filter(|t| t.is_finite() && *t >= 0.0)
                    .ok_or_else(|| {
                        Error::Invalid(format!("--temperature must be a number >= 0, got {t:?}"))
                    })? as f32;
            }
            "--seed" => {
                let s = value("an integer")?;
                seed = s.parse().map_err(|_| {
                    Error::Invalid(format!("--seed must be an integer >= 0, got {s:?}"))
                })?;
            }
            _ => positional.push(a),
        }
    }
    let n_chars = match positional.get(2) {
        None => 200,
        Some(n) => n
            .parse()
            .map_err(|_| Error::Invalid(format!("n_chars must be a count, got {n:?}\n{USAGE}")))?,
    };
    if positional.len() < 2 || positional.len() > 3 {
        return Err(Error::Invalid(USAGE.into()));
    }
    Ok(Args {
        dir: PathBuf::from(&positional[0]),
        prompt: positional[1].clone(),
        n_chars,
        temperature,
        seed,
        logits,
    })
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let start = Instant::now();
    let config = Config::read(&args.dir.join("config.json"))?;
    let mut model = CharTransformer::new(&config)?;
    let weights = args.dir.join("model.safetensors");
    // Strict: a key missing or left over means the two sides disagree on the model.
    model
        .load_weights_file(&weights, true)
        .map_err(|e| Error::Invalid(format!("{}: {e}", weights.display())))?;
    model.set_training(false);
    let mut ids = config.encode(&args.prompt)?;
    if ids.is_empty() {
        return Err(Error::Invalid("the prompt is empty".into()));
    }
    eprintln!(
        "loaded {} in {:.2} s",
        args.dir.display(),
        start.elapsed().as_secs_f64()
    );

    let start = Instant::now();
    let first = model.next_logits(&ids, config.context)?;
    if let Some(path) = &args.logits {
        io::save(path, &Array::from_slice(&first, &[first.len()])?)?;
    }
    let mut logits = first;
    let mut key = random::key(args.seed);
    for i in 0..args.n_chars {
        ids.push(next_token(&logits, args.temperature, &mut key)?);
        if i + 1 < args.n_chars {
            logits = model.next_logits(&ids, config.context)?;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    // ids are positions in the vocabulary, so indexing cannot fail.
    let text: String = ids
        .iter()
        .filter_map(|&i| config.vocab.get(i as usize))
        .collect();
    println!("{text}");
    eprintln!(
        "generated {} chars in {seconds:.2} s ({:.0} chars/s)",
        args.n_chars,
        args.n_chars as f64 / seconds.max(1e-9)
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("generate: {e}");
            ExitCode::FAILURE
        }
    }
}
