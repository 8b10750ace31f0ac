//! The kernel of a fused elementwise region (`primitives::fused`): one pass over memory.
//!
//! The flat output range is split over threads; each thread walks its part a tile of
//! [`TILE`] elements at a time and runs the region's instructions on the tile, each a
//! vectorised loop over registers that stay in L1/L2, so intermediates never reach
//! memory. Inputs are read in place when dense, gathered into a register when strided or
//! broadcast along some axes, and kept as one value when broadcast everywhere (a scalar
//! register: instructions on scalars alone compute once per tile, not per element).
//!
//! Float32 only: the op functions are the elementwise kernels' own (`float_unary!`,
//! `Arith`), so a fused region gives exactly the values the unfused ops give.

use super::arith::Arith;
use super::elementwise::{parallel_ranges, segments};
use super::stream;
use super::strided::{broadcast_strides, collapse};
use super::unary::float_unary;
use crate::array::Data;
use crate::primitives::binary::BinaryOp;
use crate::primitives::fused::Instr;
use crate::Result;

/// Elements per tile: 4 KB of f32 per register, so a region of a dozen registers stays
/// in L1/L2 while it runs, and the burst of memory reads that starts each tile is short
/// (a 4096-element tile made the 16M GELU chain 15 % slower).
const TILE: usize = 1024;

/// The binary ops a region may hold (those with an f32 -> f32 function in `Arith`).
pub fn fusable_binary(op: BinaryOp) -> bool {
    use BinaryOp::*;
    matches!(
        op,
        Add | Subtract | Multiply | Divide | FloorDivide | Remainder | Power | Maximum | Minimum
    )
}

/// Runs `$body` with `$f` bound to a fusable binary op's f32 function.
macro_rules! binary_f32 {
    ($op:expr, |$f:ident| $body:expr) => {{
        use BinaryOp::*;
        macro_rules! run {
            ($m:ident) => {{
                let $f = |x: f32, y: f32| -> f32 { Arith::$m(x, y) };
                $body
            }};
        }
        match $op {
            Add => run!(add),
            Subtract => run!(sub),
            Multiply => run!(mul),
            Divide => run!(div),
            FloorDivide => run!(floor_div),
            Remainder => run!(rem),
            Power => run!(pow),
            Maximum => run!(max),
            Minimum => run!(min),
            // `fusable_binary` admits nothing else into a region.
            _ => unreachable!("{:?} is not fusable", $op),
        }
    }};
}

/// The small integer power `x^n` is a product: as exact as `powf` to an ulp and many
/// times faster (GELU's `x**3`). `None` for other exponents.
pub fn small_integer_power(y: f32) -> Option<i32> {
    (y == y.trunc() && y.abs() <= 4.0).then_some(y as i32)
}

/// Runs `$body` with `$f` bound to `x ↦ x^e` for an `e` from [`small_integer_power`],
/// written out as products so that loops over it vectorise (`powi` with a run-time
/// exponent is a library call per element).
macro_rules! small_power {
    ($e:expr, |$f:ident| $body:expr) => {{
        macro_rules! run {
            (|$x:ident| $v:expr) => {{
                let $f = |$x: f32| -> f32 { $v };
                $body
            }};
        }
        match $e {
            0 => run!(|_x| 1.0),
            1 => run!(|x| x),
            2 => run!(|x| x * x),
            3 => run!(|x| x * x * x),
            4 => run!(|x| (x * x) * (x * x)),
            -1 => run!(|x| 1.0 / x),
            -2 => run!(|x| 1.0 / (x * x)),
            -3 => run!(|x| 1.0 / (x * x * x)),
            _ => run!(|x| 1.0 / ((x * x) * (x * x))),
        }
    }};
}
pub(crate) use small_power;

simd_kernel! {
    fn map1(o: &mut [f32], x: &[f32], f: &impl Fn(f32) -> f32) {
        for (o, &x) in o.iter_mut().zip(x) {
            *o = f(x);
        }
    }
}

simd_kernel! {
    fn map2(o: &mut [f32], a: &[f32], b: &[f32], f: &impl Fn(f32, f32) -> f32) {
        for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
            *o = f(a, b);
        }
    }
}

/// A register's value on the current tile.
#[derive(Clone, Copy)]
enum Val<'a> {
    Scalar(f32),
    Tile(&'a [f32]),
}

/// Register `r`'s value on the tile `[t, t + len)`.
fn value<'a>(
    bufs: &'a [Vec<f32>],
    direct: &[Option<usize>],
    sources: &[Source],
    scalar: &[bool],
    scalars: &[f32],
    r: usize,
    t: usize,
    len: usize,
) -> Val<'a> {
    if scalar[r] {
        Val::Scalar(scalars[r])
    } else if let Some(Source::Dense(p)) = sources.get(r) {
        // SAFETY: [t, t + len) lies inside the dense input, alive for the whole eval.
        Val::Tile(unsafe { std::slice::from_raw_parts(p.add(t), len) })
    } else if let Some(p) = direct[r] {
        // SAFETY: [t, t + len) of an output this thread computed the register into.
        Val::Tile(unsafe { std::slice::from_raw_parts((p as *const f32).add(t), len) })
    } else {
        Val::Tile(&bufs[r][..len])
    }
}

/// How an input is read.
enum Source {
    /// One value everywhere.
    Scalar(f32),
    /// Row-major over the region: read in place.
    Dense(*const f32),
    /// Anything else: gathered per tile along its collapsed strides.
    Strided(*const f32, Vec<usize>, Vec<isize>),
}

/// A pointer that crosses threads: each thread reads its own range.
struct Shared<T>(T);
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}
impl<T> Shared<T> {
    /// (A method, so that closures capture the wrapper, not its field.)
    fn get(&self) -> &T {
        &self.0
    }
}

/// Evaluates a region over `shape`: `inputs[i]` (shape `in_shapes[i]`, broadcastable to
/// `shape`) are registers `0..n`, instruction `k` defines register `n + k`, and
/// `outputs[j]` (row-major over `shape`) receives register `out_regs[j]`.
pub fn eval(
    shape: &[usize],
    inputs: &[(&[usize], Data)],
    instrs: &[Instr],
    out_regs: &[usize],
    outputs: &[Data],
) -> Result<()> {
    let n: usize = shape.iter().product();
    if n == 0 {
        return Ok(());
    }
    let sources: Vec<Source> = inputs
        .iter()
        .map(|(in_shape, d)| {
            let strides = broadcast_strides(in_shape, &d.strides, shape);
            let view = Data {
                strides: strides.clone(),
                ..d.clone()
            };
            if strides.iter().all(|&s| s == 0) {
                // SAFETY: a non-empty view has its element 0.
                Source::Scalar(unsafe { *d.ptr::<f32>() })
            } else if view.is_row_contiguous(shape) {
                Source::Dense(d.ptr::<f32>())
            } else {
                let (cs, st) = collapse(shape, &[&strides]);
                let st = st.into_iter().next().unwrap_or_default();
                Source::Strided(d.ptr::<f32>(), cs, st)
            }
        })
        .collect();
    let n_in = sources.len();
    let n_regs = n_in + instrs.len();
    // Which registers hold one value for the whole region (known before any tile runs).
    let mut scalar = vec![false; n_regs];
    for (i, s) in sources.iter().enumerate() {
        scalar[i] = matches!(s, Source::Scalar(_));
    }
    for (k, ins) in instrs.iter().enumerate() {
        scalar[n_in + k] = match *ins {
            Instr::Unary(_, a) => scalar[a],
            Instr::Binary(_, a, b) => scalar[a] && scalar[b],
        };
    }
    // Outputs too large for the caches go straight to memory; inputs are prefetched a
    // tile ahead, so their reads overlap the current tile's arithmetic.
    let streaming = n * std::mem::size_of::<f32>() >= stream::STREAM_BYTES;
    // Unless they stream, registers that are outputs are computed straight into their
    // output (no tile buffer, no copy), except into an output that took an input's
    // buffer: later instructions of the tile may still read that input.
    let mut direct: Vec<Option<usize>> = vec![None; n_regs];
    if !streaming {
        let input_ptrs: Vec<*const f32> = inputs
            .iter()
            .map(|(_, d)| d.ptr::<f32>() as *const f32)
            .collect();
        for (&r, d) in out_regs.iter().zip(outputs) {
            let p = d.ptr::<f32>();
            if r >= n_in
                && !scalar[r]
                && direct[r].is_none()
                && !input_ptrs.contains(&(p as *const f32))
            {
                direct[r] = Some(p as usize);
            }
        }
    }
    let sources = Shared(sources);
    let out_ptrs = Shared(outputs.iter().map(|d| d.ptr::<f32>()).collect::<Vec<_>>());
    parallel_ranges(n, |start, end| {
        let (sources, out_ptrs) = (sources.get(), out_ptrs.get());
        // A tile buffer per register that is neither dense nor scalar.
        let mut bufs: Vec<Vec<f32>> = (0..n_regs)
            .map(|r| {
                let dense = r < n_in && matches!(sources[r], Source::Dense(_));
                if scalar[r] || dense || direct[r].is_some() {
                    Vec::new()
                } else {
                    vec![0.0; TILE.min(end - start)]
                }
            })
            .collect();
        let mut scalars = vec![0.0f32; n_regs];
        let mut t = start;
        while t < end {
            let len = TILE.min(end - t);
            let next = TILE.min(end - t - len);
            for (r, s) in sources.iter().enumerate() {
                if let (Source::Dense(p), true) = (s, next > 0) {
                    stream::prefetch(p.wrapping_add(t + len), next);
                }
                match s {
                    Source::Scalar(v) => scalars[r] = *v,
                    Source::Dense(_) => {}
                    Source::Strided(p, cs, st) => {
                        let buf = &mut bufs[r];
                        let mut at = 0;
                        let step = st.last().copied().unwrap_or(0);
                        segments::<1>(cs, std::slice::from_ref(st), t, t + len, |off, l| {
                            let dst = &mut buf[at..at + l];
                            // SAFETY: offsets come from the view's own strides.
                            let src = |i: usize| unsafe { p.offset(off[0] + i as isize * step) };
                            match step {
                                // A contiguous run (a row of a broadcast bias): one copy.
                                1 => dst.copy_from_slice(unsafe {
                                    std::slice::from_raw_parts(src(0), l)
                                }),
                                // One value repeated (a column broadcast along rows).
                                0 => dst.fill(unsafe { *src(0) }),
                                _ => dst
                                    .iter_mut()
                                    .enumerate()
                                    .for_each(|(i, d)| *d = unsafe { *src(i) }),
                            }
                            at += l;
                        });
                    }
                }
            }
            for (k, ins) in instrs.iter().enumerate() {
                let dst = n_in + k;
                let val = |bufs, r| value(bufs, &direct, sources, &scalar, &scalars, r, t, len);
                if scalar[dst] {
                    let v = match *ins {
                        Instr::Unary(op, a) => {
                            let x = scalars[a];
                            let mut y = x;
                            float_unary!(op, f32, |f| y = f(x));
                            y
                        }
                        Instr::Binary(op, a, b) => {
                            let (x, y) = (scalars[a], scalars[b]);
                            match (op, small_integer_power(y)) {
                                (BinaryOp::Power, Some(e)) => small_power!(e, |f| f(x)),
                                _ => binary_f32!(op, |f| f(x, y)),
                            }
                        }
                    };
                    scalars[dst] = v;
                    continue;
                }
                let mut out = std::mem::take(&mut bufs[dst]);
                let o = match direct[dst] {
                    // SAFETY: this thread's [t, t + len) of an output no input shares.
                    Some(p) => unsafe {
                        std::slice::from_raw_parts_mut((p as *mut f32).add(t), len)
                    },
                    None => &mut out[..len],
                };
                match *ins {
                    Instr::Unary(op, a) => {
                        let Val::Tile(x) = val(&bufs[..], a) else {
                            unreachable!("a unary op of a scalar is a scalar")
                        };
                        float_unary!(op, f32, |f| map1(o, x, &f));
                    }
                    Instr::Binary(op, a, b) => match (val(&bufs[..], a), val(&bufs[..], b)) {
                        (Val::Tile(x), Val::Tile(y)) => binary_f32!(op, |f| map2(o, x, y, &f)),
                        (Val::Tile(x), Val::Scalar(y)) => match (op, small_integer_power(y)) {
                            (BinaryOp::Power, Some(e)) => small_power!(e, |f| map1(o, x, &f)),
                            _ => binary_f32!(op, |f| map1(o, x, &|x| f(x, y))),
                        },
                        (Val::Scalar(x), Val::Tile(y)) => {
                            binary_f32!(op, |f| map1(o, y, &|y| f(x, y)))
                        }
                        (Val::Scalar(_), Val::Scalar(_)) => {
                            unreachable!("an op of scalars is a scalar")
                        }
                    },
                }
                bufs[dst] = out;
            }
            for (&r, &p) in out_regs.iter().zip(out_ptrs) {
                if direct[r] == Some(p as usize) {
                    continue; // computed in place above
                }
                // SAFETY: outputs are row-major over `shape`; [t, t + len) is this
                // thread's. Inputs of this tile were all read above (in-place outputs).
                let o = unsafe { std::slice::from_raw_parts_mut(p.add(t), len) };
                match (scalar[r], sources.get(r), direct[r]) {
                    (true, ..) => o.fill(scalars[r]),
                    (_, Some(Source::Dense(p)), _) => {
                        // SAFETY: as above, for the dense input.
                        let x = unsafe { std::slice::from_raw_parts(p.add(t), len) };
                        stream::store(o, x, streaming);
                    }
                    // A register returned twice: copied from its first output.
                    (_, _, Some(q)) => {
                        // SAFETY: as above, for that output.
                        let x =
                            unsafe { std::slice::from_raw_parts((q as *const f32).add(t), len) };
                        o.copy_from_slice(x);
                    }
                    _ => stream::store(o, &bufs[r][..len], streaming),
                }
            }
            t += len;
        }
        stream::fence();
    });
    Ok(())
}
