//! `fast.gated_delta_update`: the recurrence of a gated delta network (the linear
//! attention layers of Qwen3-Next and similar models), step by step over time.

use crate::array::Array;
use crate::dtype::{promote, Dtype};
use crate::ops;
use crate::{Error, Result};

fn expect_ndim(what: &str, a: &Array, ndims: &[usize], layout: &str) -> Result<()> {
    if ndims.contains(&a.ndim()) {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "[gated_delta_update] {what} must have the layout {layout}, got shape {:?}.",
        a.shape()
    )))
}

/// `a[:, t]`.
fn at_time(a: &Array, t: usize) -> Result<Array> {
    let nd = a.ndim();
    let mut start = vec![0isize; nd];
    let mut stop: Vec<isize> = a.shape().iter().map(|&n| n as isize).collect();
    start[1] = t as isize;
    stop[1] = t as isize + 1;
    ops::squeeze(&ops::slice(a, &start, &stop, &vec![1; nd])?, &[1])
}

/// One layer's recurrence over `T` steps (MLX's `fast.gated_delta_update`), with a state
/// `S` of `[B, Hv, Dv, Dk]` per sequence and value head: at each step
///
/// ```text
/// S = gamma_t * S                      (gamma [B, T, Hv], or [B, T, Hv, Dk] per key channel)
/// S = S + beta_t * (v_t - S k_t) k_tᵀ  (the delta rule)
/// y_t = S q_t
/// ```
///
/// `q`, `k` are `[B, T, Hk, Dk]` and `v` `[B, T, Hv, Dv]`, `Hv` a multiple of `Hk` (each
/// key head serves `Hv / Hk` consecutive value heads); `beta` is `[B, T, Hv]`. Where the
/// boolean `mask` `[B, T]` is false the step leaves the state unchanged and its output is
/// zero (padding). Returns `y` `[B, T, Hv, Dv]` in `q`'s dtype and the final state, in
/// float32 (float64 for float64 inputs), as MLX does.
///
/// ```
/// use ferrox::{ops, Array};
/// let ones = |s: &[usize]| ops::ones(s, None);
/// let (q, k, v) = (ones(&[1, 2, 1, 1])?, ones(&[1, 2, 1, 1])?, ones(&[1, 2, 1, 1])?);
/// let (gamma, beta) = (ones(&[1, 2, 1])?, ones(&[1, 2, 1])?);
/// let (y, state) = ops::fast::gated_delta_update(&q, &k, &v, &gamma, &beta, None, None)?;
/// // Step 1: S = 0 + (1 - 0) = 1, y = 1; step 2: S = 1 + (1 - 1) = 1, y = 1.
/// assert_eq!(y.to_vec::<f32>()?, [1.0, 1.0]);
/// assert_eq!(state.shape(), &[1, 1, 1, 1]);
/// # Ok::<(), ferrox::Error>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn gated_delta_update(
    q: &Array,
    k: &Array,
    v: &Array,
    gamma: &Array,
    beta: &Array,
    initial_state: Option<&Array>,
    mask: Option<&Array>,
) -> Result<(Array, Array)> {
    expect_ndim("q", q, &[4], "[B, T, Hk, Dk]")?;
    expect_ndim("k", k, &[4], "[B, T, Hk, Dk]")?;
    expect_ndim("v", v, &[4], "[B, T, Hv, Dv]")?;
    expect_ndim("gamma", gamma, &[3, 4], "[B, T, Hv] or [B, T, Hv, Dk]")?;
    expect_ndim("beta", beta, &[3], "[B, T, Hv]")?;
    if let Some(m) = mask {
        expect_ndim("mask", m, &[2], "[B, T]")?;
    }
    let (b, t, hk, dk) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let (hv, dv) = (v.shape()[2], v.shape()[3]);
    if hk == 0 || hv % hk != 0 {
        return Err(Error::Invalid(format!(
            "[gated_delta_update] The value heads ({hv}) must be a multiple of the key heads \
             ({hk})."
        )));
    }
    let mut compute = Dtype::Float32;
    for a in [q, k, v, gamma, beta].into_iter().chain(initial_state) {
        if !a.dtype().is_floating() {
            return Err(Error::Invalid(format!(
                "[gated_delta_update] Inputs must be floating point, got {}.",
                a.dtype()
            )));
        }
        compute = promote(compute, a.dtype());
    }
    let up = |a: &Array| ops::astype(a, compute);
    // Each key head serves `hv / hk` consecutive value heads.
    let heads = |a: &Array| ops::repeat(&up(a)?, hv / hk, Some(2));
    let (qh, kh) = (heads(q)?, heads(k)?);
    let (vv, gg, bb) = (up(v)?, up(gamma)?, up(beta)?);
    let mut state = match initial_state {
        Some(s) => ops::broadcast_to(&up(s)?, &[b, hv, dv, dk])?,
        None => ops::zeros(&[b, hv, dv, dk], Some(compute))?,
    };
    let mut ys = Vec::with_capacity(t);
    for step in 0..t {
        let qt = ops::expand_dims(&at_time(&qh, step)?, &[-1])?; // [B, Hv, Dk, 1]
        let kt = at_time(&kh, step)?; // [B, Hv, Dk]
        let vt = at_time(&vv, step)?; // [B, Hv, Dv]
        let gt = at_time(&gg, step)?;
        let decay = if gt.ndim() == 2 {
            ops::expand_dims(&gt, &[-1, -2])? // [B, Hv, 1, 1]
        } else {
            ops::expand_dims(&gt, &[-2])? // [B, Hv, 1, Dk]
        };
        let bt = ops::expand_dims(&at_time(&bb, step)?, &[-1])?; // [B, Hv, 1]
        let decayed = ops::multiply(&state, &decay)?;
        let recalled = ops::squeeze(
            &ops::matmul(&decayed, &ops::expand_dims(&kt, &[-1])?)?,
            &[-1],
        )?;
        let delta = ops::multiply(&ops::subtract(&vt, &recalled)?, &bt)?; // [B, Hv, Dv]
        let update = ops::multiply(
            &ops::expand_dims(&delta, &[-1])?,
            &ops::expand_dims(&kt, &[-2])?,
        )?;
        let next = ops::add(&decayed, &update)?;
        let y = ops::squeeze(&ops::matmul(&next, &qt)?, &[-1])?; // [B, Hv, Dv]
        match mask {
            Some(m) => {
                let keep = ops::reshape(&at_time(m, step)?, &[b as isize, 1, 1])?;
                ys.push(ops::where_(&keep, &y, 0.0)?);
                state = ops::where_(&ops::expand_dims(&keep, &[-1])?, &next, &state)?;
            }
            None => {
                ys.push(y);
                state = next;
            }
        }
    }
    let y = if t == 0 {
        ops::zeros(&[b, 0, hv, dv], Some(q.dtype()))?
    } else {
        ops::astype(&ops::stack(&ys, 1)?, q.dtype())?
    };
    Ok((y, state))
}
