//! The kernel of a fused elementwise region (`primitives::fused`): one pass over memory.
//!
//! The flat output range is split over threads; each thread walks its part a tile
//! ([`tile_len`] elements) at a time and runs the region's instructions on the tile, each
//! a vectorised loop over tile buffers that stay in L1 (registers share buffers,
//! [`assign_slots`]), so intermediates never reach memory. Inputs are read in place when
//! dense, gathered into a register when strided or broadcast along some axes, and kept
//! as one value when broadcast everywhere (a scalar register: instructions on scalars
//! alone compute once per tile, not per element).
//!
//! float32 and float64 compute in their own type; float16 and bfloat16 in f32 registers
//! rounded after each instruction ([`Element`]). The op functions are the elementwise
//! kernels' own (`float_unary!`, `Arith`), so a fused region gives exactly the values
//! the unfused ops give.

use super::arith::Arith;
use super::elementwise::{parallel_ranges, segments};
use super::stream;
use super::strided::{broadcast_strides, collapse};
use super::unary::float_unary;
use crate::array::Data;
use crate::dtype::Dtype;
use crate::primitives::binary::BinaryOp;
use crate::primitives::fused::Instr;
use crate::primitives::unary::UnaryOp;
use crate::{Error, Result};
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

/// Bytes of L1 a tile's buffers (and the tiles of its dense inputs and outputs) may
/// fill: most of a 48 KB L1, the size of current x86 and Arm cores'.
const TILE_BYTES: usize = 32 << 10;

/// Elements per tile for `tiles` tile-sized arrays in use at once: as many as fit in
/// [`TILE_BYTES`], from 256 (below, per-instruction overhead shows) to 1024 (above, the
/// burst of memory reads that starts each tile grows: a 4096-element tile made the 16M
/// GELU chain 15 % slower). Adam's update (13 instructions, 4 inputs, 3 outputs) ran
/// 13 % faster at 784×512 and 19 % at 2048² with its buffers shared and tiles sized
/// so than with a buffer per register and 1024-element tiles.
fn tile_len(tiles: usize, reg_bytes: usize) -> usize {
    let fit = TILE_BYTES / reg_bytes / tiles.max(1);
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
    let mut last_read: Vec<Option<usize>> = vec![None; n_regs];
    for (k, ins) in instrs.iter().enumerate() {
        for r in ins.reads() {
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
        let dead = ins
            .reads()
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

/// A region's instructions with products by a scalar folded into their one reader.
struct Folded {
    /// The instructions, readers of folded products rewritten to read the product's
    /// tile operand.
    instrs: Vec<Instr>,
    /// For each instruction and operand, the scalar register it is multiplied by first.
    scale: Vec<[Option<usize>; 2]>,
    /// Instructions folded into their reader (computed there, not on their own).
    folded: Vec<bool>,
}

/// Folds each `x · s` (`s` a scalar register, `x` a tile) that nothing reads but one
/// binary instruction into that instruction, which then multiplies its operand on the
/// fly: one loop over the tile instead of two. The product is rounded as before, so the
/// values are unchanged (register types only: float16 and bfloat16 round each
/// instruction to their own precision, which the folded product would skip: `fold`
/// false leaves the instructions as they are). Adam's update is 13 instructions, 6 of
/// them such products (`β·m + (1 - β)·g`).
fn fold_scalings(
    n_in: usize,
    instrs: &[Instr],
    out_regs: &[usize],
    scalar: &[bool],
    fold: bool,
) -> Folded {
    let n_regs = n_in + instrs.len();
    let mut instrs = instrs.to_vec();
    let mut scale = vec![[None; 2]; instrs.len()];
    let mut folded = vec![false; instrs.len()];
    if !fold {
        return Folded {
            instrs,
            scale,
            folded,
        };
    }
    // Each register's readers: (instruction, operand) pairs; outputs count as readers.
    let mut readers = vec![0usize; n_regs];
    let mut reader = vec![None; n_regs];
    for &r in out_regs {
        readers[r] += 1;
    }
    for (k, ins) in instrs.iter().enumerate() {
        for (i, r) in ins.reads().enumerate() {
            readers[r] += 1;
            reader[r] = Some((k, i));
        }
    }
    for k in 0..instrs.len() {
        let dst = n_in + k;
        let Instr::Binary(BinaryOp::Multiply, a, b) = instrs[k] else {
            continue;
        };
        let (x, s) = match (scalar[a], scalar[b]) {
            (false, true) => (a, b),
            (true, false) => (b, a),
            _ => continue,
        };
        if scale[k] != [None, None] || readers[dst] != 1 {
            continue;
        }
        let Some((c, i)) = reader[dst] else { continue };
        let Instr::Binary(op, ca, cb) = instrs[c] else {
            continue;
        };
        instrs[c] = if i == 0 {
            Instr::Binary(op, x, cb)
        } else {
            Instr::Binary(op, ca, x)
        };
        scale[c][i] = Some(s);
        folded[k] = true;
    }
    Folded {
        instrs,
        scale,
        folded,
    }
}

/// The binary ops a region may hold (those with a float function in `Arith`).
pub fn fusable_binary(op: BinaryOp) -> bool {
    use BinaryOp::*;
    matches!(
        op,
        Add | Subtract | Multiply | Divide | FloorDivide | Remainder | Power | Maximum | Minimum
    )
}

/// The comparisons a region may hold: inside a region a comparison of registers is its
/// boolean already cast to the region's dtype (1.0 or 0.0), as `transforms::fuse` admits
/// only comparisons that every reader casts so (a relu's mask in its backward pass).
pub fn fusable_comparison(op: BinaryOp) -> bool {
    use BinaryOp::*;
    matches!(
        op,
        Equal | NotEqual | Greater | GreaterEqual | Less | LessEqual
    )
}

/// Runs `$body` with `$f` bound to a fusable binary op's function on the float type `$T`.
macro_rules! binary_fn {
    ($op:expr, $T:ty, |$f:ident| $body:expr) => {{
        use BinaryOp::*;
        macro_rules! run {
            ($m:ident) => {{
                let $f = |x: $T, y: $T| -> $T { Arith::$m(x, y) };
                $body
            }};
        }
        macro_rules! cmp {
            ($c:tt) => {{
                let $f = |x: $T, y: $T| -> $T { if x $c y { 1.0 } else { 0.0 } };
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
            // Comparisons, cast to the region's float type (`fusable_comparison`).
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
pub fn small_integer_power(y: f64) -> Option<i32> {
    (y == y.trunc() && y.abs() <= 4.0).then_some(y as i32)
}

/// Runs `$body` with `$f` bound to `x ↦ x^e` on `$T` for an `e` from
/// [`small_integer_power`], written out as products so that loops over it vectorise
/// (`powi` with a run-time exponent is a library call per element).
macro_rules! small_power {
    ($e:expr, $T:ty, |$f:ident| $body:expr) => {{
        macro_rules! run {
            (|$x:ident| $v:expr) => {{
                let $f = |$x: $T| -> $T { $v };
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
    fn map1<T: Copy>(o: &mut [T], x: &[T], f: &impl Fn(T) -> T) {
        for (o, &x) in o.iter_mut().zip(x) {
            *o = f(x);
        }
    }
}

simd_kernel! {
    fn map2<T: Copy>(o: &mut [T], a: &[T], b: &[T], f: &impl Fn(T, T) -> T) {
        for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
            *o = f(a, b);
        }
    }
}

/// A register's value on the current tile.
#[derive(Clone, Copy)]
enum Val<'a, R> {
    Scalar(R),
    Tile(&'a [R]),
}

/// The float type a region's registers hold (f32 or f64): its instructions, on a tile
/// or on one value. The op functions are the elementwise kernels' own (`float_unary!`,
/// `Arith`), so a fused region gives exactly the values the unfused ops give.
trait Reg: Copy + Default + PartialEq + Send + Sync + 'static {
    const ONE: Self;
    fn unary(op: UnaryOp, o: &mut [Self], x: &[Self]);
    fn unary1(op: UnaryOp, x: Self) -> Self;
    /// `o = op(x, y)`, not both scalars. An integer exponent up to 4 is multiplied out,
    /// as the unfused power does.
    fn binary(op: BinaryOp, o: &mut [Self], x: Val<Self>, y: Val<Self>);
    fn binary1(op: BinaryOp, x: Self, y: Self) -> Self;
    /// `o = op(x · kx, y · ky)`, each product rounded as the multiply it was folded
    /// from ([`fold_scalings`]); `x` and `y` not both scalars.
    fn binary_scaled(op: BinaryOp, o: &mut [Self], x: Val<Self>, y: Val<Self>, k: [Self; 2]);
}

simd_kernel! {
    fn select_tiles<T: Copy + PartialEq + Default>(o: &mut [T], c: &[T], a: &[T], b: &[T]) {
        for (((o, &c), &a), &b) in o.iter_mut().zip(c).zip(a).zip(b) {
            *o = if c != T::default() { a } else { b };
        }
    }
}

/// `o = where(c, a, b)` on a tile, `c` nonzero for true (the selected values are
/// copied, not computed: exactly the unfused select's).
fn select<R: Reg>(o: &mut [R], c: Val<R>, a: Val<R>, b: Val<R>) {
    let n = o.len();
    let zero = R::default();
    match (c, a, b) {
        (Val::Scalar(c), a, b) => match if c != zero { a } else { b } {
            Val::Scalar(v) => o.fill(v),
            Val::Tile(v) => o.copy_from_slice(&v[..n]),
        },
        (Val::Tile(c), Val::Tile(a), Val::Tile(b)) => select_tiles(o, c, a, b),
        (Val::Tile(c), a, b) => {
            let at = |v: Val<R>, i: usize| match v {
                Val::Scalar(v) => v,
                Val::Tile(t) => t[i],
            };
            for (i, (o, &c)) in o.iter_mut().zip(c).enumerate() {
                *o = if c != zero { at(a, i) } else { at(b, i) };
            }
        }
    }
}

macro_rules! impl_reg {
    ($T:ty) => {
        impl Reg for $T {
            const ONE: $T = 1.0;
            fn unary(op: UnaryOp, o: &mut [$T], x: &[$T]) {
                float_unary!(op, $T, |f| map1(o, x, &f));
            }
            #[allow(clippy::redundant_closure_call)] // (how `float_unary!` binds `f`)
            fn unary1(op: UnaryOp, x: $T) -> $T {
                let mut y = x;
                float_unary!(op, $T, |f| y = f(x));
                y
            }
            fn binary(op: BinaryOp, o: &mut [$T], x: Val<$T>, y: Val<$T>) {
                match (x, y) {
                    (Val::Tile(x), Val::Tile(y)) => binary_fn!(op, $T, |f| map2(o, x, y, &f)),
                    (Val::Tile(x), Val::Scalar(y)) => match (op, small_integer_power(y as f64)) {
                        (BinaryOp::Power, Some(e)) => {
                            small_power!(e, $T, |f| map1(o, x, &f))
                        }
                        _ => binary_fn!(op, $T, |f| map1(o, x, &|x| f(x, y))),
                    },
                    (Val::Scalar(x), Val::Tile(y)) => {
                        binary_fn!(op, $T, |f| map1(o, y, &|y| f(x, y)))
                    }
                    (Val::Scalar(_), Val::Scalar(_)) => {
                        unreachable!("an op of scalars is a scalar")
                    }
                }
            }
            fn binary1(op: BinaryOp, x: $T, y: $T) -> $T {
                match (op, small_integer_power(y as f64)) {
                    (BinaryOp::Power, Some(e)) => small_power!(e, $T, |f| f(x)),
                    _ => binary_fn!(op, $T, |f| f(x, y)),
                }
            }
            fn binary_scaled(op: BinaryOp, o: &mut [$T], x: Val<$T>, y: Val<$T>, k: [$T; 2]) {
                let [kx, ky] = k;
                let (sx, sy) = (|v: $T| Arith::mul(v, kx), |v: $T| Arith::mul(v, ky));
                match (x, y) {
                    (Val::Tile(x), Val::Tile(y)) => {
                        binary_fn!(op, $T, |f| map2(o, x, y, &|a, b| f(sx(a), sy(b))))
                    }
                    (Val::Tile(x), Val::Scalar(y)) => match (op, small_integer_power(y as f64)) {
                        (BinaryOp::Power, Some(e)) => {
                            small_power!(e, $T, |f| map1(o, x, &|a| f(sx(a))))
                        }
                        _ => binary_fn!(op, $T, |f| map1(o, x, &|a| f(sx(a), y))),
                    },
                    (Val::Scalar(x), Val::Tile(y)) => {
                        binary_fn!(op, $T, |f| map1(o, y, &|b| f(x, sy(b))))
                    }
                    (Val::Scalar(_), Val::Scalar(_)) => {
                        unreachable!("an op of scalars is a scalar")
                    }
                }
            }
        }
    };
}
impl_reg!(f32);
impl_reg!(f64);

/// An element type a region runs on, and how its values enter and leave registers.
/// float32 and float64 are their own registers: dense inputs are read and outputs
/// written in place. float16 and bfloat16 compute in f32 registers and round each
/// instruction's result to their precision, as each unfused op does, so a fused region
/// gives the unfused values bit for bit.
trait Element: Copy + Send + Sync + 'static {
    type R: Reg;
    /// The slice as registers, if this type is its own register type.
    fn as_regs(x: &[Self]) -> Option<&[Self::R]>;
    fn as_regs_mut(x: &mut [Self]) -> Option<&mut [Self::R]>;
    fn load(self) -> Self::R;
    fn store(r: Self::R) -> Self;
    /// Rounds register values to this type's precision (a no-op for f32 and f64).
    fn round(_x: &mut [Self::R]) {}
    /// Converts a contiguous run of elements into registers.
    fn load_run(dst: &mut [Self::R], src: &[Self]) {
        dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s.load());
    }
    /// Writes a tile to memory; with `streaming`, by non-temporal stores (f32 only).
    fn store_tile(dst: &mut [Self], src: &[Self::R], _streaming: bool) {
        dst.iter_mut()
            .zip(src)
            .for_each(|(d, &s)| *d = Self::store(s));
    }
}

/// A type that is its own register type, written out by `$store`.
macro_rules! impl_native {
    ($T:ty, $store:expr) => {
        impl Element for $T {
            type R = $T;
            fn as_regs(x: &[$T]) -> Option<&[$T]> {
                Some(x)
            }
            fn as_regs_mut(x: &mut [$T]) -> Option<&mut [$T]> {
                Some(x)
            }
            fn load(self) -> $T {
                self
            }
            fn store(r: $T) -> $T {
                r
            }
            fn store_tile(dst: &mut [$T], src: &[$T], streaming: bool) {
                $store(dst, src, streaming)
            }
        }
    };
}
impl_native!(f32, stream::store);
impl_native!(f64, |d: &mut [f64], s: &[f64], _| d.copy_from_slice(s));

macro_rules! impl_half {
    ($T:ty, $round:expr) => {
        impl Element for $T {
            type R = f32;
            fn as_regs(_: &[$T]) -> Option<&[f32]> {
                None
            }
            fn as_regs_mut(_: &mut [$T]) -> Option<&mut [f32]> {
                None
            }
            fn load(self) -> f32 {
                self.to_f32()
            }
            fn store(r: f32) -> $T {
                <$T>::from_f32(r)
            }
            fn round(x: &mut [f32]) {
                $round(x)
            }
            fn load_run(dst: &mut [f32], src: &[$T]) {
                src.convert_to_f32_slice(dst);
            }
            fn store_tile(dst: &mut [$T], src: &[f32], _streaming: bool) {
                dst.convert_from_f32_slice(src);
            }
        }
    };
}
impl_half!(f16, round_to_f16);
impl_half!(bf16, round_to_bf16);

/// Rounds f32 values to the nearest float16 (ties to even), as `f16::from_f32` does:
/// eight at a time by the F16C conversions where the CPU has them (`half` converts one
/// value per call, which made a fused float16 GELU 8 times slower than float32).
fn round_to_f16(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("f16c") {
        // SAFETY: the CPU has F16C (and so AVX).
        return unsafe { round_to_f16_f16c(x) };
    }
    x.iter_mut().for_each(|v| *v = f16::from_f32(*v).to_f32());
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn round_to_f16_f16c(x: &mut [f32]) {
    use std::arch::x86_64::*;
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        let p = c.as_mut_ptr();
        let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(p));
        _mm256_storeu_ps(p, _mm256_cvtph_ps(h));
    }
    let rest = chunks.into_remainder();
    rest.iter_mut()
        .for_each(|v| *v = f16::from_f32(*v).to_f32());
}

simd_kernel! {
    /// Rounds f32 values to the nearest bfloat16 (ties to even; NaNs stay NaN), as
    /// `bf16::from_f32` does, in integer arithmetic that vectorises.
    fn round_to_bf16(x: &mut [f32]) {
        for v in x.iter_mut() {
            let b = v.to_bits();
            let r = if b & 0x7fff_ffff > 0x7f80_0000 {
                b | 0x0040_0000 // a NaN: kept quiet
            } else {
                b.wrapping_add(0x7fff + ((b >> 16) & 1))
            };
            *v = f32::from_bits(r & 0xffff_0000);
        }
    }
}

/// How an input is read.
enum Source<E> {
    /// One value everywhere.
    Scalar(E),
    /// Row-major over the region: read in place.
    Dense(*const E),
    /// Anything else: gathered per tile along its collapsed strides.
    Strided(*const E, Vec<usize>, Vec<isize>),
    /// A select's boolean condition: gathered per tile as 1.0 or 0.0.
    Mask(*const u8, Vec<usize>, Vec<isize>),
}

/// Gathers the tile `[t, t + buf.len())` of a view (collapsed shape `cs`, strides
/// `st[0]`) into `buf`: contiguous runs by `run`, other elements by `load`.
fn gather<S: Copy, R: Copy>(
    buf: &mut [R],
    p: *const S,
    (cs, st): (&[usize], &[Vec<isize>]),
    t: usize,
    load: impl Fn(S) -> R,
    run: impl Fn(&mut [R], &[S]),
) {
    let mut at = 0;
    let step = st[0].last().copied().unwrap_or(0);
    segments::<1>(cs, st, t, t + buf.len(), |off, l| {
        let dst = &mut buf[at..at + l];
        // SAFETY: offsets come from the view's own strides.
        let src = |i: usize| unsafe { p.offset(off[0] + i as isize * step) };
        match step {
            // A contiguous run (a row of a broadcast bias): one copy.
            1 => run(dst, unsafe { std::slice::from_raw_parts(src(0), l) }),
            // One value repeated (a column broadcast along rows).
            0 => dst.fill(load(unsafe { *src(0) })),
            _ => dst
                .iter_mut()
                .enumerate()
                .for_each(|(i, d)| *d = load(unsafe { *src(i) })),
        }
        at += l;
    });
}

/// Register `r`'s value on the tile `[t, t + len)`.
#[allow(clippy::too_many_arguments)]
fn value<'a, E: Element>(
    bufs: &'a [TileBuf<E::R>],
    slot: &[usize],
    direct: &[Option<usize>],
    sources: &[Source<E>],
    scalar: &[bool],
    scalars: &[E::R],
    r: usize,
    t: usize,
    len: usize,
) -> Val<'a, E::R> {
    if scalar[r] {
        Val::Scalar(scalars[r])
    } else if let Some(Source::Dense(p)) = sources.get(r) {
        // SAFETY: [t, t + len) lies inside the dense input, alive for the whole eval.
        let x = unsafe { std::slice::from_raw_parts(p.add(t), len) };
        Val::Tile(E::as_regs(x).expect("only register types are read in place"))
    } else if let Some(p) = direct[r] {
        // SAFETY: [t, t + len) of an output this thread computed the register into.
        let x = unsafe { std::slice::from_raw_parts((p as *const E).add(t), len) };
        Val::Tile(E::as_regs(x).expect("only register types are written in place"))
    } else {
        Val::Tile(bufs[slot[r]].get(len))
    }
}

/// A tile buffer, placed in its 4 KB page at a distance from the others': on a load
/// from an address a few bytes past a pending store's, modulo 4096, the CPU stalls as
/// if they overlapped ("4K aliasing"). Separately allocated buffers of a tile each sat
/// 16 bytes apart modulo 4096, and a pass over L1 ran 1.5-2 times slower than with the
/// buffers spread (measured on AMD Zen 4). Large arrays are page-aligned: offset 0.
#[derive(Default)]
struct TileBuf<R> {
    mem: Vec<R>,
    at: usize,
}

impl<R: Copy + Default> TileBuf<R> {
    const PAGE: usize = 4096;

    /// Buffer `s` of `n`: `len` elements starting at `(s + 1) / (n + 1)` of a page.
    fn new(len: usize, s: usize, n: usize) -> Self {
        let size = std::mem::size_of::<R>();
        let mem = vec![R::default(); len + Self::PAGE / size];
        let want = (Self::PAGE * (s + 1) / (n + 1)) & !63;
        let have = mem.as_ptr() as usize % Self::PAGE;
        let at = (want + Self::PAGE - have) % Self::PAGE / size;
        TileBuf { mem, at }
    }

    fn get(&self, len: usize) -> &[R] {
        &self.mem[self.at..self.at + len]
    }

    fn get_mut(&mut self, len: usize) -> &mut [R] {
        &mut self.mem[self.at..self.at + len]
    }
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

/// Evaluates a region of `dtype` (float32, float64, float16 or bfloat16) over `shape`:
/// `inputs[i]` (of that dtype or, as selects' conditions, boolean; broadcastable to
/// `shape`) are registers `0..n`,
/// instruction `k` defines register `n + k`, and `outputs[j]` (row-major over `shape`)
/// receives register `out_regs[j]`.
pub fn eval(
    dtype: Dtype,
    shape: &[usize],
    inputs: &[(&[usize], Dtype, Data)],
    instrs: &[Instr],
    out_regs: &[usize],
    outputs: &[Data],
) -> Result<()> {
    match dtype {
        Dtype::Float32 => eval_typed::<f32>(shape, inputs, instrs, out_regs, outputs),
        Dtype::Float64 => eval_typed::<f64>(shape, inputs, instrs, out_regs, outputs),
        Dtype::Float16 => eval_typed::<f16>(shape, inputs, instrs, out_regs, outputs),
        Dtype::Bfloat16 => eval_typed::<bf16>(shape, inputs, instrs, out_regs, outputs),
        d => {
            return Err(Error::Invalid(format!(
                "[compile] a fused region cannot run on {d}"
            )))
        }
    }
    Ok(())
}

fn eval_typed<E: Element>(
    shape: &[usize],
    inputs: &[(&[usize], Dtype, Data)],
    instrs: &[Instr],
    out_regs: &[usize],
    outputs: &[Data],
) {
    let n: usize = shape.iter().product();
    if n == 0 {
        return;
    }
    let in_place = E::as_regs(&[]).is_some();
    let sources: Vec<Source<E>> = inputs
        .iter()
        .map(|(in_shape, in_dtype, d)| {
            let strides = broadcast_strides(in_shape, &d.strides, shape);
            if *in_dtype == Dtype::Bool {
                return if strides.iter().all(|&s| s == 0) {
                    // SAFETY: a non-empty view has its element 0.
                    let b = unsafe { *d.ptr::<u8>() } != 0;
                    Source::Scalar(E::store(if b { E::R::ONE } else { E::R::default() }))
                } else {
                    let (cs, st) = collapse(shape, &[&strides]);
                    Source::Mask(d.ptr::<u8>(), cs, st.into_iter().next().unwrap_or_default())
                };
            }
            let view = Data {
                strides: strides.clone(),
                ..d.clone()
            };
            if strides.iter().all(|&s| s == 0) {
                // SAFETY: a non-empty view has its element 0.
                Source::Scalar(unsafe { *d.ptr::<E>() })
            } else if in_place && view.is_row_contiguous(shape) {
                Source::Dense(d.ptr::<E>())
            } else {
                // (A dense input of a type that is not its own register type is
                // converted a tile at a time, as a gather of one contiguous run.)
                let (cs, st) = collapse(shape, &[&strides]);
                let st = st.into_iter().next().unwrap_or_default();
                Source::Strided(d.ptr::<E>(), cs, st)
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
        scalar[n_in + k] = ins.reads().all(|r| scalar[r]);
    }
    let Folded {
        instrs,
        scale,
        folded,
    } = fold_scalings(n_in, instrs, out_regs, &scalar, in_place);
    let instrs = &instrs[..];
    // Outputs too large for the caches go straight to memory; inputs are prefetched a
    // tile ahead, so their reads overlap the current tile's arithmetic.
    let elem = std::mem::size_of::<E>();
    let streaming = n * elem >= stream::STREAM_BYTES;
    // Unless they stream, registers that are outputs are computed straight into their
    // output (no tile buffer, no copy), except into an output that took an input's
    // buffer: later instructions of the tile may still read that input.
    let mut direct: Vec<Option<usize>> = vec![None; n_regs];
    if in_place && !streaming {
        let input_ptrs: Vec<*const E> = inputs
            .iter()
            .map(|(_, _, d)| d.ptr::<E>() as *const E)
            .collect();
        for (&r, d) in out_regs.iter().zip(outputs) {
            let p = d.ptr::<E>();
            if r >= n_in
                && !scalar[r]
                && direct[r].is_none()
                && !input_ptrs.contains(&(p as *const E))
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
            let gone = r >= n_in && folded[r - n_in];
            !(scalar[r] || dense || gone || direct[r].is_some())
        })
        .collect();
    let (slot, n_slots) = assign_slots(n_in, instrs, out_regs, &needs_buffer);
    let streamed = (0..n_in)
        .filter(|&r| matches!(sources[r], Source::Dense(_)))
        .count()
        + direct.iter().flatten().count();
    let tile = tile_len(n_slots + streamed, std::mem::size_of::<E::R>());
    let sources = Shared(sources);
    let out_ptrs = Shared(outputs.iter().map(|d| d.ptr::<E>()).collect::<Vec<_>>());
    parallel_ranges(n, |start, end| {
        let (sources, out_ptrs) = (sources.get(), out_ptrs.get());
        let mut bufs: Vec<TileBuf<E::R>> = (0..n_slots)
            .map(|s| TileBuf::new(tile.min(end - start), s, n_slots))
            .collect();
        let mut scalars = vec![E::R::default(); n_regs];
        let mut t = start;
        while t < end {
            let len = tile.min(end - t);
            let next = tile.min(end - t - len);
            for (r, s) in sources.iter().enumerate() {
                match s {
                    Source::Scalar(v) => scalars[r] = v.load(),
                    Source::Dense(p) => {
                        if next > 0 {
                            // (The prefetch counts f32-sized elements.)
                            let p = p.wrapping_add(t + len) as *const f32;
                            stream::prefetch(p, next * elem / 4);
                        }
                    }
                    Source::Strided(p, cs, st) => {
                        let run = |dst: &mut [E::R], run: &[E]| match E::as_regs(run) {
                            Some(run) => dst.copy_from_slice(run),
                            None => E::load_run(dst, run),
                        };
                        gather(
                            bufs[slot[r]].get_mut(len),
                            *p,
                            (cs, std::slice::from_ref(st)),
                            t,
                            E::load,
                            run,
                        );
                    }
                    Source::Mask(p, cs, st) => {
                        let load = |b: u8| if b != 0 { E::R::ONE } else { E::R::default() };
                        let run = |dst: &mut [E::R], run: &[u8]| {
                            dst.iter_mut().zip(run).for_each(|(d, &b)| *d = load(b))
                        };
                        gather(
                            bufs[slot[r]].get_mut(len),
                            *p,
                            (cs, std::slice::from_ref(st)),
                            t,
                            load,
                            run,
                        );
                    }
                }
            }
            for (k, ins) in instrs.iter().enumerate() {
                if folded[k] {
                    continue;
                }
                let dst = n_in + k;
                let val =
                    |bufs, r| value(bufs, &slot, &direct, sources, &scalar, &scalars, r, t, len);
                if scalar[dst] {
                    let v = match *ins {
                        Instr::Unary(op, a) => E::R::unary1(op, scalars[a]),
                        Instr::Binary(op, a, b) => E::R::binary1(op, scalars[a], scalars[b]),
                        Instr::Select(c, a, b) => {
                            scalars[if scalars[c] != E::R::default() { a } else { b }]
                        }
                    };
                    let mut v = [v];
                    E::round(&mut v);
                    scalars[dst] = v[0];
                    continue;
                }
                let mut out = match direct[dst] {
                    Some(_) => TileBuf::default(),
                    None => std::mem::take(&mut bufs[slot[dst]]),
                };
                let o = match direct[dst] {
                    // SAFETY: this thread's [t, t + len) of an output no input shares.
                    Some(p) => {
                        let o =
                            unsafe { std::slice::from_raw_parts_mut((p as *mut E).add(t), len) };
                        E::as_regs_mut(o).expect("only register types are written in place")
                    }
                    None => out.get_mut(len),
                };
                match *ins {
                    Instr::Unary(op, a) => {
                        let Val::Tile(x) = val(&bufs[..], a) else {
                            unreachable!("a unary op of a scalar is a scalar")
                        };
                        E::R::unary(op, o, x);
                    }
                    Instr::Binary(op, a, b) => {
                        let (x, y) = (val(&bufs[..], a), val(&bufs[..], b));
                        match scale[k] {
                            [None, None] => E::R::binary(op, o, x, y),
                            [kx, ky] => {
                                let k = [kx, ky].map(|s| s.map_or(E::R::ONE, |s| scalars[s]));
                                E::R::binary_scaled(op, o, x, y, k)
                            }
                        }
                    }
                    Instr::Select(c, a, b) => {
                        let v = |r| val(&bufs[..], r);
                        select(o, v(c), v(a), v(b));
                    }
                }
                E::round(o);
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
                    (true, ..) => o.fill(E::store(scalars[r])),
                    (_, Some(Source::Dense(p)), _) => {
                        // SAFETY: as above, for the dense input.
                        let x = unsafe { std::slice::from_raw_parts(p.add(t), len) };
                        E::store_tile(
                            o,
                            E::as_regs(x).expect("dense inputs are registers"),
                            streaming,
                        );
                    }
                    // A register returned twice: copied from its first output.
                    (_, _, Some(q)) => {
                        // SAFETY: as above, for that output.
                        let x = unsafe { std::slice::from_raw_parts((q as *const E).add(t), len) };
                        o.copy_from_slice(x);
                    }
                    _ => E::store_tile(o, bufs[slot[r]].get(len), streaming),
                }
            }
            t += len;
        }
        stream::fence();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

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
            for r in ins.reads() {
                if needs[r] {
                    assert_ne!(slot[2 + k], slot[r], "r{} overwrites r{r}", 2 + k);
                }
            }
        }
        // The first output is never overwritten by a later register.
        assert!((6..8).all(|r| slot[r] != slot[5]));
        assert!(slot[0] == usize::MAX);
    }

    /// Tile buffers start at page offsets at least a cache line apart (no 4K aliasing
    /// between the buffers an instruction reads and writes), nor on the page offset 0
    /// of large arrays, and hold their whole tile.
    #[test]
    fn tile_buffers_sit_apart_in_the_page() {
        for n in 1..=12 {
            let bufs: Vec<TileBuf<f32>> = (0..n).map(|s| TileBuf::new(1000, s, n)).collect();
            let offs: Vec<usize> = bufs
                .iter()
                .map(|b| b.get(1000).as_ptr() as usize % 4096)
                .collect();
            for (i, &a) in offs.iter().enumerate() {
                assert!(a >= 64, "buffer {i} of {n} at page offset {a}");
                for &b in &offs[i + 1..] {
                    assert!(a.abs_diff(b) >= 64, "{offs:?}");
                }
            }
        }
    }
}
