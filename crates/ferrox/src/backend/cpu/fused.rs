//! The kernel of a fused elementwise region (`primitives::fused`): one pass over memory.
//!
//! The flat output range is split over threads; each thread walks its part a tile
//! ([`tile_len`] elements) at a time and runs the region's instructions on the tile, each
//! a vectorised loop over tile buffers that stay in L1 (registers share buffers,
//! [`assign_slots`]), so intermediates never reach memory. Inputs are read in place when dense, gathered into a register when strided or
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

/// Bytes of L1 a tile's buffers (and the tiles of its dense inputs and outputs) may
/// fill: most of a 48 KB L1, the size of current x86 and Arm cores'.
const TILE_BYTES: usize = 32 << 10;

/// Elements per tile for `tiles` tile-sized arrays in use at once: as many as fit in
/// [`TILE_BYTES`], from 256 (below, per-instruction overhead shows) to 1024 (above, the
/// burst of memory reads that starts each tile grows: a 4096-element tile made the 16M
/// GELU chain 15 % slower). Adam's update (13 instructions, 4 inputs, 3 outputs) ran
/// 13 % faster at 784×512 and 19 % at 2048² with its buffers shared and tiles sized
/// so than with a buffer per register and 1024-element tiles.
fn tile_len(tiles: usize) -> usize {
    let fit = TILE_BYTES / std::mem::size_of::<f32>() / tiles.max(1);
    (fit / 64 * 64).clamp(256, 1024)
}

/// A tile buffer for each register in `needs`: registers share buffers, a buffer freed
/// when no later instruction reads its register (registers in `out_regs` keep theirs to
/// the end of the tile). An instruction never writes into a buffer it reads. Returns
/// the buffer of each register (`usize::MAX`: none) and the number of buffers.
fn assign_slots(
    n_in: usize,
    instrs: &[Instr],
    out_regs: &[usize],
    needs: &[bool],
) -> (Vec<usize>, usize) {
    let n_regs = n_in + instrs.len();
    let reads = |ins: &Instr| match *ins {
        Instr::Unary(_, a) => [Some(a), None],
        Instr::Binary(_, a, b) => [Some(a), Some(b)],
    };
    let mut last_read: Vec<Option<usize>> = vec![None; n_regs];
    for (k, ins) in instrs.iter().enumerate() {
        for r in reads(ins).into_iter().flatten() {
            last_read[r] = Some(k);
        }
    }
    let kept = |r: usize| out_regs.contains(&r);
    let mut slot = vec![usize::MAX; n_regs];
    let (mut free, mut n_slots) = (Vec::new(), 0);
    let mut take = |free: &mut Vec<usize>| {
        free.pop().unwrap_or_else(|| {
            n_slots += 1;
            n_slots - 1
        })
    };
    for r in (0..n_in).filter(|&r| needs[r]) {
        slot[r] = take(&mut free);
    }
    for (k, ins) in instrs.iter().enumerate() {
        let dst = n_in + k;
        if needs[dst] {
            slot[dst] = take(&mut free);
        }
        let dead = reads(ins)
            .into_iter()
            .flatten()
            .chain([dst])
            .filter(|&r| needs[r] && !kept(r) && last_read[r].is_none_or(|l| l <= k));
        for r in dead {
            if !free.contains(&slot[r]) {
                free.push(slot[r]);
            }
        }
    }
    (slot, n_slots)
}

/// The binary ops a region may hold as f32 -> f32 (those with a function in `Arith`).
pub fn fusable_binary(op: BinaryOp) -> bool {
    use BinaryOp::*;
    matches!(
        op,
        Add | Subtract | Multiply | Divide | FloorDivide | Remainder | Power | Maximum | Minimum
    )
}

/// The comparisons a region may hold: inside a region a comparison of f32 registers is
/// its boolean already cast to float32 (1.0 or 0.0), as `transforms::fuse` admits only
/// comparisons that every reader casts so (a relu's mask in its backward pass).
pub fn fusable_comparison(op: BinaryOp) -> bool {
    use BinaryOp::*;
    matches!(
        op,
        Equal | NotEqual | Greater | GreaterEqual | Less | LessEqual
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
        macro_rules! cmp {
            ($c:tt) => {{
                let $f = |x: f32, y: f32| -> f32 { f32::from(u8::from(x $c y)) };
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
            // Comparisons, cast to f32 (`fusable_comparison`).
            Equal => cmp!(==),
            NotEqual => cmp!(!=),
            Greater => cmp!(>),
            GreaterEqual => cmp!(>=),
            Less => cmp!(<),
            LessEqual => cmp!(<=),
            // `fusable_binary` and `fusable_comparison` admit nothing else.
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
#[allow(clippy::too_many_arguments)]
fn value<'a>(
    bufs: &'a [Vec<f32>],
    slot: &[usize],
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
        Val::Tile(&bufs[slot[r]][..len])
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
    // Registers that need a tile buffer share a few, reused once no later instruction
    // reads them; the tile is sized so that those buffers and the tiles of the dense
    // inputs and outputs fit in L1 together.
    let needs_buffer: Vec<bool> = (0..n_regs)
        .map(|r| {
            let dense = r < n_in && matches!(sources[r], Source::Dense(_));
            !(scalar[r] || dense || direct[r].is_some())
        })
        .collect();
    let (slot, n_slots) = assign_slots(n_in, instrs, out_regs, &needs_buffer);
    let streamed = (0..n_in)
        .filter(|&r| matches!(sources[r], Source::Dense(_)))
        .count()
        + direct.iter().flatten().count();
    let tile = tile_len(n_slots + streamed);
    let sources = Shared(sources);
    let out_ptrs = Shared(outputs.iter().map(|d| d.ptr::<f32>()).collect::<Vec<_>>());
    parallel_ranges(n, |start, end| {
        let (sources, out_ptrs) = (sources.get(), out_ptrs.get());
        let mut bufs: Vec<Vec<f32>> = vec![vec![0.0; tile.min(end - start)]; n_slots];
        let mut scalars = vec![0.0f32; n_regs];
        let mut t = start;
        while t < end {
            let len = tile.min(end - t);
            let next = tile.min(end - t - len);
            for (r, s) in sources.iter().enumerate() {
                if let (Source::Dense(p), true) = (s, next > 0) {
                    stream::prefetch(p.wrapping_add(t + len), next);
                }
                match s {
                    Source::Scalar(v) => scalars[r] = *v,
                    Source::Dense(_) => {}
                    Source::Strided(p, cs, st) => {
                        let buf = &mut bufs[slot[r]];
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
                let val =
                    |bufs, r| value(bufs, &slot, &direct, sources, &scalar, &scalars, r, t, len);
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
                let mut out = match direct[dst] {
                    Some(_) => Vec::new(),
                    None => std::mem::take(&mut bufs[slot[dst]]),
                };
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
                if direct[dst].is_none() {
                    bufs[slot[dst]] = out;
                }
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
                    _ => stream::store(o, &bufs[slot[r]][..len], streaming),
                }
            }
            t += len;
        }
        stream::fence();
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::unary::UnaryOp;

    /// Buffers are reused once dead, outputs keep theirs, and no instruction writes a
    /// buffer it reads.
    #[test]
    fn slots_are_shared_but_never_clobbered() {
        use BinaryOp::*;
        // r0, r1 inputs (r1 strided: needs a buffer); r2..r7 instructions.
        let instrs = [
            Instr::Binary(Multiply, 0, 1), // r2
            Instr::Unary(UnaryOp::Exp, 2), // r3 (r2 dead after)
            Instr::Binary(Add, 3, 1),      // r4 (r1, r3 dead after)
            Instr::Unary(UnaryOp::Sin, 4), // r5, returned
            Instr::Binary(Add, 5, 5),      // r6 (reads r5 twice)
            Instr::Unary(UnaryOp::Cos, 6), // r7, returned
        ];
        let needs = [false, true, true, true, true, true, true, true];
        let (slot, n) = assign_slots(2, &instrs, &[5, 7], &needs);
        assert!(n < 7, "no buffer was reused: {slot:?}");
        for (k, ins) in instrs.iter().enumerate() {
            let read = match *ins {
                Instr::Unary(_, a) => vec![a],
                Instr::Binary(_, a, b) => vec![a, b],
            };
            for r in read {
                if needs[r] {
                    assert_ne!(slot[2 + k], slot[r], "r{} overwrites r{r}", 2 + k);
                }
            }
        }
        // The first output is never overwritten by a later register.
        assert!((6..8).all(|r| slot[r] != slot[5]));
        assert!(slot[0] == usize::MAX);
    }
}
