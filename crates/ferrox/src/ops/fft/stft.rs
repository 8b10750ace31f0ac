//! The short-time Fourier transform and its inverse (MLX's `fft.stft` / `fft.istft`,
//! torch's semantics), composed of framing (`take`), a window, [`rfft`] / [`fft`] and,
//! back, an overlap-add built of pads and sums.

use super::{fft, ifft, irfft, rfft};
use crate::array::Array;
use crate::ops::{
    add, divide, greater, multiply, ones, pad, real, reshape, slice, square, swapaxes, take,
    where_, PadMode,
};
use crate::{Error, Result};

/// The arguments `stft` and `istft` share, checked: `(hop, window padded to n_fft)`.
fn window_and_hop(
    op: &str,
    n_fft: isize,
    hop_length: Option<isize>,
    win_length: Option<isize>,
    window: Option<&Array>,
) -> Result<(usize, Array)> {
    if n_fft <= 0 {
        return Err(Error::Invalid(format!(
            "[{op}] n_fft must be positive but got {n_fft}."
        )));
    }
    let hop = hop_length.unwrap_or(n_fft / 4);
    if hop <= 0 {
        return Err(Error::Invalid(format!(
            "[{op}] hop_length must be positive but got {hop}."
        )));
    }
    // A window given decides the window length; `win_length` only makes the default.
    let win = match window {
        Some(w) if w.ndim() != 1 => {
            return Err(Error::Invalid(format!(
                "[{op}] window must be a one-dimensional array but has shape {:?}.",
                w.shape()
            )))
        }
        Some(w) => w.clone(),
        None => {
            let wl = win_length.unwrap_or(n_fft);
            if wl <= 0 || wl > n_fft {
                return Err(Error::Invalid(format!(
                    "[{op}] window length must not exceed n_fft ({wl} > {n_fft})."
                )));
            }
            ones(&[wl as usize], None)?
        }
    };
    let (n, wl) = (n_fft as usize, win.shape()[0]);
    if wl > n {
        return Err(Error::Invalid(format!(
            "[{op}] window length must not exceed n_fft ({wl} > {n})."
        )));
    }
    // Centred in n_fft points.
    let left = (n - wl) / 2;
    let win = pad(&win, &[(left, n - wl - left)], PadMode::Constant, 0.0f32)?;
    Ok((hop as usize, win))
}

/// The short-time Fourier transform of the last axis of `x`: frames of `n_fft` points
/// every `hop_length` (default `n_fft / 4`), times `window` (default ones of
/// `win_length`, default `n_fft`; centred and zero-padded to `n_fft`), each transformed
/// (the `n_fft / 2 + 1` non-negative frequencies when `onesided`, the default for real
/// `x`). With `center`, `x` is first padded by `n_fft / 2` on both ends (`pad_mode`:
/// `"reflect"`, `"constant"` or `"edge"`). Output `(..., n_freq, n_frames)`, complex64.
/// Errors: 0-d `x`, `n_fft` or `hop_length <= 0`, a window longer than `n_fft` or not
/// 1-D, an unknown mode or norm, `x` shorter than `n_fft`.
#[allow(clippy::too_many_arguments)]
pub fn stft(
    x: &Array,
    n_fft: isize,
    hop_length: Option<isize>,
    win_length: Option<isize>,
    window: Option<&Array>,
    center: bool,
    pad_mode: &str,
    norm: &str,
    onesided: Option<bool>,
) -> Result<Array> {
    if x.ndim() == 0 {
        return Err(Error::Invalid(
            "[stft] Input must have at least one dimension.".into(),
        ));
    }
    let (hop, win) = window_and_hop("stft", n_fft, hop_length, win_length, window)?;
    let n = n_fft as usize;
    let mut x = x.clone();
    if center {
        let mode = match pad_mode {
            "reflect" => PadMode::Reflect,
            "constant" => PadMode::Constant,
            "edge" => PadMode::Edge,
            _ => {
                return Err(Error::Invalid(format!(
                    "[stft] Invalid padding mode ({pad_mode}); expected 'reflect', \
                     'constant' or 'edge'."
                )))
            }
        };
        let mut widths = vec![(0, 0); x.ndim()];
        widths[x.ndim() - 1] = (n / 2, n / 2);
        x = pad(&x, &widths, mode, 0.0f32)?;
    }
    let len = x.shape()[x.ndim() - 1];
    if len < n {
        return Err(Error::Invalid(format!(
            "[stft] Input is too short for the given n_fft ({len} points after padding, \
             n_fft {n})."
        )));
    }
    let n_frames = 1 + (len - n) / hop;
    let idx: Vec<u32> = (0..n_frames)
        .flat_map(|f| (0..n).map(move |j| (f * hop + j) as u32))
        .collect();
    let idx = Array::from_slice(&idx, &[n_frames, n])?;
    let frames = multiply(&take(&x, &idx, Some(-1))?, &win)?;
    let onesided = onesided.unwrap_or(!x.dtype().is_complex());
    let spec = if onesided {
        rfft(&frames, None, -1, norm)?
    } else {
        fft(&frames, None, -1, norm)?
    };
    swapaxes(&spec, -1, -2)
}

/// Sums `frames` (`(..., n_frames, n)`) placed every `hop` points: `(..., (n_frames −
/// 1)·hop + n)`. Each frame is cut in `k = ⌈n/hop⌉` blocks of `hop` points; block `r` of
/// frame `f` lands on output block `f + r`, so `k` shifted sums do it.
fn overlap_add(frames: &Array, hop: usize) -> Result<Array> {
    let nd = frames.ndim();
    let (nf, n) = (frames.shape()[nd - 2], frames.shape()[nd - 1]);
    let k = n.div_ceil(hop);
    let mut widths = vec![(0, 0); nd];
    widths[nd - 1] = (0, k * hop - n);
    let padded = pad(frames, &widths, PadMode::Constant, 0.0f32)?;
    let mut shape: Vec<isize> = padded.shape().iter().map(|&d| d as isize).collect();
    shape.truncate(nd - 1);
    shape.extend([k as isize, hop as isize]);
    let blocks = reshape(&padded, &shape)?; // (..., nf, k, hop)
    let mut total: Option<Array> = None;
    for r in 0..k {
        let mut start = vec![0isize; nd + 1];
        let mut stop: Vec<isize> = blocks.shape().iter().map(|&d| d as isize).collect();
        start[nd - 1] = r as isize;
        stop[nd - 1] = r as isize + 1;
        let part = slice(&blocks, &start, &stop, &vec![1; nd + 1])?;
        let mut w = vec![(0, 0); nd + 1];
        w[nd - 2] = (r, k - 1 - r);
        let part = pad(&part, &w, PadMode::Constant, 0.0f32)?; // (..., nf + k - 1, 1, hop)
        total = Some(match total {
            Some(t) => add(&t, &part)?,
            None => part,
        });
    }
    // `k >= 1` because n >= 1, so the loop ran.
    let total = total.expect("at least one block");
    let mut out: Vec<isize> = total.shape()[..nd - 2]
        .iter()
        .map(|&d| d as isize)
        .collect();
    out.push(((nf + k - 1) * hop) as isize);
    let flat = reshape(&total, &out)?;
    let full = (nf - 1) * hop + n;
    let mut stop: Vec<isize> = flat.shape().iter().map(|&d| d as isize).collect();
    stop[nd - 2] = full as isize;
    slice(&flat, &vec![0; nd - 1], &stop, &vec![1; nd - 1])
}

/// The inverse of [`stft`]: each frame of `stft_matrix` (`(..., n_freq, n_frames)`)
/// transformed back (`irfft` when `onesided`, the default, else the real part of
/// `ifft`), windowed, overlap-added and divided by the overlap-added squared window
/// (0 where that is 0). `n_fft` defaults to `2·(n_freq − 1)` (onesided) or `n_freq`.
/// With `center` the first and last `n_fft / 2` points are dropped; `length` crops or
/// zero-pads the result. Float32 out. Errors: fewer than 2 dimensions, and those of
/// [`stft`]'s arguments.
#[allow(clippy::too_many_arguments)]
pub fn istft(
    stft_matrix: &Array,
    n_fft: Option<isize>,
    hop_length: Option<isize>,
    win_length: Option<isize>,
    window: Option<&Array>,
    center: bool,
    norm: &str,
    onesided: Option<bool>,
    length: Option<isize>,
) -> Result<Array> {
    let s = stft_matrix;
    if s.ndim() < 2 {
        return Err(Error::Invalid(format!(
            "[istft] Input must have at least two dimensions (freq, frames) but has shape \
             {:?}.",
            s.shape()
        )));
    }
    let onesided = onesided.unwrap_or(true);
    let n_freq = s.shape()[s.ndim() - 2] as isize;
    let n_fft = n_fft.unwrap_or(if onesided { 2 * (n_freq - 1) } else { n_freq });
    let (hop, win) = window_and_hop("istft", n_fft, hop_length, win_length, window)?;
    let n = n_fft as usize;
    let frames = swapaxes(s, -1, -2)?;
    let frames = if onesided {
        irfft(&frames, Some(n_fft), -1, norm)?
    } else {
        real(&ifft(&frames, Some(n_fft), -1, norm)?)?
    };
    let nf = frames.shape()[frames.ndim() - 2];
    let y = overlap_add(&multiply(&frames, &win)?, hop)?;
    let sq = square(&win)?;
    let env = overlap_add(&crate::ops::broadcast_to(&sq, &[nf, n])?, hop)?;
    // Where no window covers a point, nothing is known: 0, not 0/0.
    let covered = greater(&env, 1e-11f32)?;
    let safe = where_(&covered, &env, 1.0f32)?;
    let y = where_(&covered, &divide(&y, &safe)?, 0.0f32)?;
    let total = y.shape()[y.ndim() - 1];
    let start = if center { n / 2 } else { 0 };
    let end = match length {
        Some(l) if l < 0 => {
            return Err(Error::Invalid(format!(
                "[istft] length must be non-negative but got {l}."
            )))
        }
        Some(l) => start + l as usize,
        // The centring pad on the right goes too.
        None => total.saturating_sub(start).max(start),
    };
    let nd = y.ndim();
    let mut lo = vec![0isize; nd];
    let mut hi: Vec<isize> = y.shape().iter().map(|&d| d as isize).collect();
    lo[nd - 1] = start.min(total) as isize;
    hi[nd - 1] = end.min(total) as isize;
    let y = slice(&y, &lo, &hi, &vec![1; nd])?;
    let have = y.shape()[nd - 1];
    let want = end - start;
    if have < want {
        let mut widths = vec![(0, 0); nd];
        widths[nd - 1] = (0, want - have);
        return pad(&y, &widths, PadMode::Constant, 0.0f32);
    }
    Ok(y)
}
