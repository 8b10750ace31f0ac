//! `mx.random`: counter-based random numbers that reproduce MLX's, bit for bit.
//!
//! Reached as `ferrox::random::*` (also `ferrox::ops::random::*`). A key is a `uint32`
//! array of shape `[2]`; the same key gives the same numbers on every thread count.
//! Every sampler takes `key: Option<&Array>`; with `None` it takes the next key of the
//! global state, exactly as MLX's Python module does (`state = split(state)`, keep the
//! first half, use the second), so `seed(0); uniform(..)` matches
//! `mx.random.seed(0); mx.random.uniform(..)`.
//!
//! ```
//! use ferrox::random;
//! let k = random::key(0);
//! let u = random::uniform(0.0, 1.0, &[3], None, Some(&k))?;
//! // mx.random.uniform(shape=(3,), key=mx.random.key(0)), bit for bit:
//! let bits: Vec<u32> = u.to_vec::<f32>()?.iter().map(|x| x.to_bits()).collect();
//! assert_eq!(bits, [0x3f771f4f, 0x3ea11df6, 0x3f220e41]); // 0.965321, 0.314682, 0.63303
//! # Ok::<(), ferrox::Error>(())
//! ```
//!
//! The distributions are composites of ordinary ops with the same order of operations
//! as MLX 0.32, so rounding agrees. Two functions need MLX's own float32 approximations
//! (`erf`, `erfinv`), which a private primitive provides.

use super::{
    abs, add, argmax, astype, broadcast_shapes, contiguous, divide, expand_dims, floor, less, log,
    log1p, matmul, maximum, minimum, multiply, negative, sign, slice, squeeze, stream, subtract,
    Operand,
};
use crate::array::Array;
use crate::backend::cpu::random::fill_words;
use crate::dtype::{issubdtype, Dtype, DtypeCategory, Scalar};
use crate::primitives::random::{
    ArgsortBits, MlxSpecial, MlxSpecialOp, RandomBits, SymmetricSqrt, TakePermutation,
};
use crate::shape::normalize_axis;
use crate::{invalid, Result};
use std::sync::Mutex;

/// The global key, split on each use without an explicit key. `None` until first used,
/// then seeded from the clock in milliseconds, as MLX does.
static STATE: Mutex<Option<[u32; 2]>> = Mutex::new(None);

fn key_words(seed: u64) -> [u32; 2] {
    [(seed >> 32) as u32, seed as u32]
}

/// A PRNG key from a seed: `[seed >> 32, seed & 0xffffffff]` as uint32.
pub fn key(seed: u64) -> Array {
    Array::from_slice(&key_words(seed), &[2]).expect("two words fill shape [2]")
}

/// Seeds the global PRNG state.
pub fn seed(seed: u64) {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(key_words(seed));
}

/// The current global key (what `mx.random.state[0]` holds).
pub fn state() -> Array {
    let mut st = STATE.lock().unwrap_or_else(|e| e.into_inner());
    Array::from_slice(st.get_or_insert_with(time_seed), &[2]).expect("two words fill shape [2]")
}

fn time_seed() -> [u32; 2] {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    key_words(ms)
}

/// The next key of the global state. The split is computed at once (four threefry words),
/// so the state never grows a graph.
fn next_key() -> Array {
    let mut st = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let current = *st.get_or_insert_with(time_seed);
    // split(key) = bits([2, 2]) -> (row 0, row 1).
    let mut w = [0u32; 4];
    fill_words(current, &mut w);
    *st = Some([w[0], w[1]]);
    Array::from_slice(&w[2..], &[2]).expect("two words fill shape [2]")
}

/// The key to use: the caller's, or the next one of the global state.
fn resolve(key: Option<&Array>) -> Array {
    match key {
        Some(k) => k.clone(),
        None => next_key(),
    }
}

fn check_key(key: &Array) -> Result<()> {
    if key.dtype() != Dtype::Uint32 {
        invalid!(
            "[bits] Expected key type uint32 but received {}.",
            key.dtype()
        );
    }
    if key.shape() != [2] {
        invalid!(
            "[bits] Expected key shape (2) but received {:?}.",
            key.shape()
        );
    }
    Ok(())
}

fn is_floating(d: Dtype) -> bool {
    issubdtype(d, DtypeCategory::Floating)
}

/// A 0-d array of `dtype` (a typed array, not a weak scalar: it takes part in promotion).
fn typed(v: f64, dtype: Dtype) -> Array {
    Array::scalar_of(Scalar::Float(v), dtype)
}

fn f32_array(v: f32) -> Array {
    Array::scalar(v)
}

/// Random bits of `shape`: `width` bytes each (4: uint32, 2: uint16, 1: uint8).
pub fn bits(shape: &[usize], width: usize, key: Option<&Array>) -> Result<Array> {
    let key = resolve(key);
    bits_with(shape, width, &key)
}

fn bits_with(shape: &[usize], width: usize, key: &Array) -> Result<Array> {
    check_key(key)?;
    let dtype = match width {
        4 => Dtype::Uint32,
        2 => Dtype::Uint16,
        1 => Dtype::Uint8,
        w => invalid!("[bits] Bit width must be in {{1, 2, 4}} but got {w}."),
    };
    Ok(Array::from_op(
        shape.to_vec(),
        dtype,
        RandomBits { width },
        vec![key.clone()],
        stream(),
    ))
}

/// `num` new keys from `key`, as a `[num, 2]` uint32 array.
pub fn split(key: &Array, num: usize) -> Result<Array> {
    bits_with(&[num, 2], 4, key)
}

/// Two new keys from `key` (MLX's `split(key)` in C++).
pub fn split_pair(key: &Array) -> Result<(Array, Array)> {
    let s = split(key, 2)?;
    let a = slice(&s, &[0, 0], &[1, 2], &[1, 1])?.reshape(&[2])?;
    let b = slice(&s, &[1, 0], &[2, 2], &[1, 1])?.reshape(&[2])?;
    Ok((a, b))
}

fn special(op: MlxSpecialOp, a: &Array) -> Result<Array> {
    Ok(Array::from_op(
        a.shape().to_vec(),
        a.dtype(),
        MlxSpecial(op),
        vec![a.clone()],
        stream(),
    ))
}

/// Uniform samples in `[low, high)` of `shape` (float32 by default; float16 and bfloat16
/// too, with MLX's bounds so that `high` is never reached).
pub fn uniform(
    low: impl Into<Operand>,
    high: impl Into<Operand>,
    shape: &[usize],
    dtype: Option<Dtype>,
    key: Option<&Array>,
) -> Result<Array> {
    let key = resolve(key);
    let (low, high) = (low.into().to_array(), high.into().to_array());
    uniform_with(&low, &high, shape, dtype.unwrap_or(Dtype::Float32), &key)
}

fn uniform_with(
    low: &Array,
    high: &Array,
    shape: &[usize],
    dtype: Dtype,
    key: &Array,
) -> Result<Array> {
    if !is_floating(dtype) {
        invalid!("[uniform] Can only generate uniform numbers with real floating point type.");
    }
    let lo = astype(low, dtype)?;
    let hi = astype(high, dtype)?;
    let range = subtract(&hi, &lo)?;
    let out_shape = broadcast_shapes(&[shape, range.shape()])?;
    if out_shape != shape {
        invalid!(
            "[uniform] Cannot generate random values of shape {shape:?} from broadcasted \
             shape {out_shape:?}."
        );
    }
    // The largest value below 1 of the output type, so that samples stay below `high`.
    let upper = match dtype {
        Dtype::Float32 => f32_array(1.0f32.next_down_()),
        Dtype::Float16 => f32_array(half::f16::from_bits(0x3BFF).to_f32()),
        Dtype::Bfloat16 => f32_array(half::bf16::from_bits(0x3F7F).to_f32()),
        // MLX raises RuntimeError here (float64 passes the floating-point check).
        d => {
            return Err(crate::Error::Runtime(format!(
                "[uniform] Unsupported type {d}."
            )))
        }
    };
    let maxval = f32_array(u32::MAX as f32);
    let out = divide(&bits_with(shape, 4, key)?, &maxval)?;
    let out = astype(&minimum(&out, &upper)?, dtype)?;
    add(&multiply(&range, &out)?, &lo)
}

trait NextDown {
    fn next_down_(self) -> Self;
}
impl NextDown for f32 {
    /// The largest f32 below a positive finite `self`.
    fn next_down_(self) -> f32 {
        f32::from_bits(self.to_bits() - 1)
    }
}

/// Uniform samples of float32 in `(-1, 1)` as MLX draws them for `normal` and `laplace`.
fn symmetric_uniform(shape: &[usize], key: &Array) -> Result<Array> {
    let low = f32_array(-(1.0f32.next_down_()));
    uniform_with(&low, &f32_array(1.0), shape, Dtype::Float32, key)
}

/// Normal samples of `shape` (float32 by default; complex64 draws real and imaginary
/// parts as MLX does), scaled by `scale` and shifted by `loc` when given.
pub fn normal(
    shape: &[usize],
    dtype: Option<Dtype>,
    loc: Option<Operand>,
    scale: Option<Operand>,
    key: Option<&Array>,
) -> Result<Array> {
    let key = resolve(key);
    let dtype = dtype.unwrap_or(Dtype::Float32);
    let loc = loc.map(|l| l.to_array());
    let scale = scale.map(|s| s.to_array());
    normal_with(shape, dtype, loc.as_ref(), scale.as_ref(), &key)
}

fn normal_with(
    shape: &[usize],
    dtype: Dtype,
    loc: Option<&Array>,
    scale: Option<&Array>,
    key: &Array,
) -> Result<Array> {
    if dtype == Dtype::Complex64 {
        return complex_normal(shape, loc, scale, key);
    }
    if !is_floating(dtype) {
        invalid!("[normal] Can only generate uniform numbers with floating point type.");
    }
    let samples = symmetric_uniform(shape, key)?;
    let mut applied_scale = typed(std::f64::consts::SQRT_2, dtype);
    if let Some(s) = scale {
        applied_scale = multiply(&applied_scale, &astype(s, dtype)?)?;
    }
    let samples = astype(&special(MlxSpecialOp::Erfinv, &samples)?, dtype)?;
    let mut samples = multiply(&applied_scale, &samples)?;
    if let Some(l) = loc {
        samples = add(&astype(l, dtype)?, &samples)?;
    }
    Ok(samples)
}

fn complex_normal(
    shape: &[usize],
    loc: Option<&Array>,
    scale: Option<&Array>,
    key: &Array,
) -> Result<Array> {
    let mut s2 = shape.to_vec();
    s2.push(2);
    let samples = special(MlxSpecialOp::Erfinv, &symmetric_uniform(&s2, key)?)?;
    // MLX views the trailing pairs as (re, im) of complex64.
    let nd = s2.len();
    let part = |k: isize| -> Result<Array> {
        let start: Vec<isize> = (0..nd).map(|i| if i == nd - 1 { k } else { 0 }).collect();
        let stop: Vec<isize> = s2
            .iter()
            .enumerate()
            .map(|(i, &n)| if i == nd - 1 { k + 1 } else { n as isize })
            .collect();
        let p = slice(&samples, &start, &stop, &vec![1; nd])?;
        astype(&squeeze(&p, &[-1])?, Dtype::Complex64)
    };
    let (re, im) = (part(0)?, part(1)?);
    let i = Array::scalar_of(Scalar::Complex(0.0, 1.0), Dtype::Complex64);
    let mut samples = add(&re, &multiply(&im, &i)?)?;
    if let Some(s) = scale {
        samples = multiply(s, &samples)?;
    }
    if let Some(l) = loc {
        samples = add(l, &samples)?;
    }
    Ok(samples)
}

/// Random integers in `[low, high)` of `shape` (int32 by default), drawn as MLX draws them:
/// a float32 uniform, floored, clamped to `[low, high - 1]` in the output type.
pub fn randint(
    low: impl Into<Operand>,
    high: impl Into<Operand>,
    shape: &[usize],
    dtype: Option<Dtype>,
    key: Option<&Array>,
) -> Result<Array> {
    let key = resolve(key);
    let dtype = dtype.unwrap_or(Dtype::Int32);
    if dtype.is_inexact() {
        invalid!("[randint] randint only accepts integer dtypes and bool.");
    }
    let (low, high) = (low.into().to_array(), high.into().to_array());
    let u = uniform_with(&low, &high, shape, Dtype::Float32, &key)?;
    let out = astype(&floor(&u)?, dtype)?;
    let top = astype(&subtract(&high, 1)?, dtype)?;
    maximum(&minimum(&out, &top)?, &astype(&low, dtype)?)
}

/// Bernoulli samples (bool) with probability `p` (a float), of `shape` (`p`'s by default).
pub fn bernoulli(
    p: impl Into<Operand>,
    shape: Option<&[usize]>,
    key: Option<&Array>,
) -> Result<Array> {
    let key = resolve(key);
    let p = p.into().to_array();
    if !is_floating(p.dtype()) {
        invalid!("[bernoulli] bernoulli probability `p` must be a float type.");
    }
    let shape = shape
        .map(<[usize]>::to_vec)
        .unwrap_or_else(|| p.shape().to_vec());
    // p on the scale [0, next float above 2^32): p >= 1 gives all true, p <= 0 all false.
    let upper = f32_array(f32::from_bits((u32::MAX as f32).to_bits() + 1));
    let res = less(&bits_with(&shape, 4, &key)?, &multiply(&p, &upper)?)?;
    if res.shape() != shape.as_slice() {
        invalid!("[bernoulli] shape of `p` is incompatible with argument `shape`.");
    }
    Ok(res)
}

/// Samples of the normal distribution truncated to `(lower, upper)`, of `shape` (the
/// bounds' broadcast shape by default), float32 by default.
pub fn truncated_normal(
    lower: impl Into<Operand>,
    upper: impl Into<Operand>,
    shape: Option<&[usize]>,
    dtype: Option<Dtype>,
    key: Option<&Array>,
) -> Result<Array> {
    let key = resolve(key);
    let (lower, upper) = (lower.into().to_array(), upper.into().to_array());
    let dtype = dtype.unwrap_or(Dtype::Float32);
    if !is_floating(dtype) {
        invalid!("[trunc_normal] trunc_normal only accepts floating point dtypes.");
    }
    let shape = match shape {
        Some(s) => s.to_vec(),
        None => broadcast_shapes(&[lower.shape(), upper.shape()])?,
    };
    let sqrt2 = typed(std::f64::consts::SQRT_2, dtype);
    let lower_t = astype(&lower, dtype)?;
    let upper_t = astype(&upper, dtype)?;
    let a = special(MlxSpecialOp::Erf, &divide(&lower_t, &sqrt2)?)?;
    let b = special(MlxSpecialOp::Erf, &divide(&upper_t, &sqrt2)?)?;
    let u = uniform_with(&a, &b, &shape, dtype, &key)?;
    let out = multiply(&sqrt2, &special(MlxSpecialOp::Erfinv, &u)?)?;
    maximum(&minimum(&upper_t, &out)?, &lower_t)
}

/// Samples of the standard Gumbel distribution, `-log(-log(u))`.
pub fn gumbel(shape: &[usize], dtype: Option<Dtype>, key: Option<&Array>) -> Result<Array> {
    let key = resolve(key);
    gumbel_with(shape, dtype.unwrap_or(Dtype::Float32), &key)
}

fn gumbel_with(shape: &[usize], dtype: Dtype, key: &Array) -> Result<Array> {
    if !is_floating(dtype) {
        invalid!("[uniform] Can only generate uniform numbers with real floating point type.");
    }
    let u = uniform_with(&typed(0.0, dtype), &typed(1.0, dtype), shape, dtype, key)?;
    negative(&log(&negative(&log(&u)?)?)?)
}

/// Samples (uint32 indices along `axis`) of the categorical distributions given by the
/// unnormalised log-probabilities `logits`. At most one of `shape` (broadcast-compatible
/// with `logits` without `axis`) and `num_samples` (samples per distribution, a new
/// last axis) may be given.
pub fn categorical(
    logits: &Array,
    axis: isize,
    shape: Option<&[usize]>,
    num_samples: Option<usize>,
    key: Option<&Array>,
) -> Result<Array> {
    let key = resolve(key);
    if shape.is_some() && num_samples.is_some() {
        invalid!("[categorical] At most one of shape or num_samples can be specified.");
    }
    let nd = logits.ndim();
    let ax = match normalize_axis(axis, nd) {
        Ok(a) => a,
        Err(_) => {
            return Err(crate::Error::Index(format!(
                "[categorical] Invalid axis {axis} for logits with {nd} dimensions."
            )))
        }
    };
    let mut reduced = logits.shape().to_vec();
    reduced.remove(ax);
    match (shape, num_samples) {
        (Some(shape), _) => {
            if broadcast_shapes(&[shape, &reduced])? != shape {
                invalid!(
                    "[categorical] Requested shape {shape:?} is not broadcast compatible with \
                     reduced logits shape {reduced:?}."
                );
            }
            categorical_with(logits, ax, shape, &key)
        }
        (None, Some(n)) => {
            let logits = expand_dims(logits, &[-1])?;
            let mut shape = logits.shape().to_vec();
            shape.remove(ax);
            if let Some(last) = shape.last_mut() {
                *last = n;
            }
            categorical_with(&logits, ax, &shape, &key)
        }
        (None, None) => categorical_with(logits, ax, &reduced, &key),
    }
}

fn categorical_with(logits: &Array, axis: usize, shape: &[usize], key: &Array) -> Result<Array> {
    // The sampled axis sits where `axis` lands once `logits` is aligned right with `shape`.
    let offset = (axis + shape.len() + 1)
        .checked_sub(logits.ndim())
        .ok_or_else(|| crate::Error::Invalid("[categorical] shape has too few axes.".into()))?;
    let mut gshape = shape.to_vec();
    gshape.insert(offset, logits.shape()[axis]);
    let g = gumbel_with(&gshape, Dtype::Float32, key)?;
    argmax(&add(&g, logits)?, Some(offset as isize), false)
}

/// Samples of the Laplace distribution with location `loc` and scale `scale`.
pub fn laplace(
    shape: &[usize],
    dtype: Option<Dtype>,
    loc: f32,
    scale: f32,
    key: Option<&Array>,
) -> Result<Array> {
    let key = resolve(key);
    let dtype = dtype.unwrap_or(Dtype::Float32);
    if !is_floating(dtype) {
        invalid!("[laplace] Can only generate uniform numbers with real floating point type.");
    }
    let u = symmetric_uniform(shape, &key)?;
    // Inverse CDF, with MLX's order of operations.
    let mag = log1p(&multiply(&typed(-1.0, dtype), &abs(&u)?)?)?;
    let mut samples = astype(&multiply(&sign(&u)?, &mag)?, dtype)?;
    if scale != 1.0 {
        samples = multiply(&typed(scale as f64, dtype), &samples)?;
    }
    if loc != 0.0 {
        samples = add(&typed(loc as f64, dtype), &samples)?;
    }
    Ok(samples)
}

/// A random permutation of `0..n` (uint32).
pub fn permutation_n(n: usize, key: Option<&Array>) -> Result<Array> {
    let key = resolve(key);
    permutation_with(n, &key)
}

fn permutation_with(n: usize, key: &Array) -> Result<Array> {
    if u32::try_from(n).is_err() {
        invalid!("[permutation] {n} elements do not fit uint32 indices.");
    }
    let b = bits_with(&[n], 4, key)?;
    Ok(Array::from_op(
        vec![n],
        Dtype::Uint32,
        ArgsortBits,
        vec![b],
        stream(),
    ))
}

/// `x` with its entries along `axis` randomly permuted.
pub fn permutation(x: &Array, axis: isize, key: Option<&Array>) -> Result<Array> {
    let key = resolve(key);
    let ax = normalize_axis(axis, x.ndim())?;
    let perm = permutation_with(x.shape()[ax], &key)?;
    Ok(Array::from_op(
        x.shape().to_vec(),
        x.dtype(),
        TakePermutation { axis: ax },
        vec![contiguous(x)?, perm],
        stream(),
    ))
}

/// Jointly normal samples with mean `mean` (`(..., n)`) and covariance `cov`
/// (`(..., n, n)`, symmetric positive semi-definite). The output has shape
/// `broadcast(cov batch, mean batch, shape) + [n]`; only float32 is supported, as in MLX.
/// The covariance's square root is its symmetric one (Jacobi eigendecomposition in f64),
/// which is what MLX's SVD gives for such a matrix, up to rounding.
pub fn multivariate_normal(
    mean: &Array,
    cov: &Array,
    shape: &[usize],
    dtype: Option<Dtype>,
    key: Option<&Array>,
) -> Result<Array> {
    let key = resolve(key);
    let dtype = dtype.unwrap_or(Dtype::Float32);
    if dtype != Dtype::Float32 {
        invalid!("[multivariate_normal] dtype must be float32.");
    }
    if mean.ndim() < 1 {
        invalid!("[multivariate_normal] mean must have at least one dimension.");
    }
    if cov.ndim() < 2 {
        invalid!("[multivariate_normal] cov must have at least two dimensions.");
    }
    let n = mean.shape()[mean.ndim() - 1];
    let (c1, c2) = (cov.shape()[cov.ndim() - 1], cov.shape()[cov.ndim() - 2]);
    if c1 != c2 {
        invalid!("[multivariate_normal] last two dimensions of cov must be equal.");
    }
    if n != c1 {
        invalid!("[multivariate_normal] mean and cov must have compatible shapes.");
    }
    let batch = broadcast_shapes(&[
        &cov.shape()[..cov.ndim() - 2],
        &mean.shape()[..mean.ndim() - 1],
    ])?;
    let mut out_shape = broadcast_shapes(&[&batch, shape])?;
    out_shape.push(n);
    let cov = contiguous(&astype(cov, Dtype::Float32)?)?;
    let std = Array::from_op(
        cov.shape().to_vec(),
        Dtype::Float32,
        SymmetricSqrt,
        vec![cov],
        stream(),
    );
    let z = normal_with(&out_shape, dtype, None, None, &key)?;
    let scaled = squeeze(&matmul(&expand_dims(&z, &[-2])?, &std)?, &[-2])?;
    add(mean, &scaled)
}

#[cfg(test)]
mod tests {
    #[test]
    fn threefry_known_answer() {
        // Random123's known-answer vectors for threefry2x32_20.
        let f = crate::backend::cpu::random::threefry2x32;
        assert_eq!(f([0, 0], [0, 0]), [0x6b200159, 0x99ba4efe]);
        assert_eq!(
            f([0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]),
            [0x1cb996fc, 0xbb002be7]
        );
        assert_eq!(
            f([0x13198a2e, 0x03707344], [0x243f6a88, 0x85a308d3]),
            [0xc4923a9c, 0x483df7a0]
        );
    }
}
