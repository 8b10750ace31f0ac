//! 3x3 stride-1 2-D convolution, channels last, by Winograd's minimal filtering
//! F(2x2, 3x3): every 2x2 block of outputs ("tile") is computed from the 4x4 input
//! patch under it with 16 multiplies per (input, output) channel pair instead of 36, so
//! the GEMM work drops 2.25x against im2col (which is at the GEMM's peak already and so
//! cannot get faster).
//!
//! With `d` a 4x4 input patch (one channel), `g` the 3x3 kernel (one channel pair) and
//!
//! ```text
//!       [1  0 -1  0]        [1    0    0 ]
//! B^T = [0  1  1  0]    G = [1/2  1/2  1/2]    A^T = [1 1  1  0]
//!       [0 -1  1  0]        [1/2 -1/2  1/2]          [0 1 -1 -1]
//!       [0  1  0 -1]        [0    0    1 ]
//! ```
//!
//! the 2x2 output (a cross-correlation, as `conv` computes) is
//! `A^T [(G g G^T) ⊙ (B^T d B)] A`. Summed over input channels, the elementwise product
//! at each of the 16 positions `e` becomes a matrix product over the channels:
//! `M_e (tiles x Cout) = V_e (tiles x Cin) @ U_e (Cin x Cout)`, 16 GEMMs, done by the
//! `gemm` crate.
//!
//! F(2x2, 3x3) rather than F(4x4, 3x3) (4x fewer multiplies): its transforms have only
//! 0, ±1 and ±1/2 as coefficients, so float32 results stay close to the direct sum's
//! (measured on N(0, 1) data at 64 -> 64 channels: RMS error 2.6e-7 of the output's RMS
//! against float64, the plain float32 sum 1.6e-7), while F(4x4)'s transforms have
//! coefficients up to 5 and 1/24 and lose more (not tried here).
//!
//! Layout and blocking. The weights are transformed once per call into `U`
//! (`[16][Cin][Cout]`). The tiles (`batch x ceil(OH/2) x ceil(OW/2)`, in row-major order)
//! are cut into blocks of `bt` tiles sized so that the block's transformed inputs `V`
//! (`[16][bt][Cin]`) and products `M` (`[16][bt][Cout]`) stay in L2 next to `U`; blocks
//! run in parallel, each on one thread: input transform, 16 GEMMs, output transform.
//! `[16][bt][C]` rather than `[bt][16][C]` keeps each GEMM operand's row stride at `C`
//! (a 16 * C row stride is a multiple of 4 KB for C = 64, which makes the rows of a GEMM
//! panel collide in the same L1 sets). The transforms work on runs of channels, which are
//! contiguous in both the input and `V`/`M`, so they vectorise across channels.
//!
//! Padding of any sign is handled by reading zeros outside the input: a tile whose patch
//! leaves the input takes zeros there, and a tile that overhangs the output (odd output
//! extents) writes only its rows and columns inside it.

use super::conv::Geometry;
use gemm::{gemm, Parallelism};
use num_traits::Float;
use rayon::prelude::*;

/// Whether `conv` handles this convolution: 2-D, a 3x3 kernel, stride 1, no dilation of
/// either kind, one group.
pub fn applies(g: &Geometry) -> bool {
    g.kernel == [3, 3]
        && g.stride.iter().all(|&s| s == 1)
        && g.kernel_dilation.iter().all(|&d| d == 1)
        && g.input_dilation.iter().all(|&d| d == 1)
        && g.groups == 1
}

/// Below this many output tiles (2x2 output blocks, over the whole batch) the Winograd
/// path loses to im2col + GEMM. Its fixed costs do not shrink with the image: the weight
/// transform (16 `cin x cout` matrices, 1.8x the weights), each block's 16 GEMMs packing
/// their `U_e` again (im2col packs one `9 cin x cout` matrix), and a single block of
/// `bt` tiles runs on one thread while im2col's rows split across both. Measured (f32,
/// ms, Winograd vs im2col, release, AMD EPYC Zen 4, 2-core KVM, loaded, so noisy;
/// best of 3-20 calls):
/// 16 tiles (1x7x7, 512 -> 512): 17.6 vs 10.4, rerun 28.7 vs 23.1;
/// 16 (1x8x8, 64 -> 64): 0.22 vs 0.10; 49 (1x14x14, 256 -> 256): 4.5 vs 3.1, 4.9 vs 2.6;
/// 64 (1x16x16, 64 -> 64): 0.29 vs 0.29; 128 (8x8x8, 64 -> 64): 0.48 vs 0.44;
/// 196 (4x14x14, 256 -> 256): 8.9 vs 15.8; 256 (1x32x32, 64 -> 64): 0.66 vs 0.64;
/// 784 (1x56x56, 64 -> 64): 1.10 vs 1.47; 3136 (1x112x112, 32 -> 32): 2.4 vs 3.1;
/// 12544 (16x56x56, 64 -> 64): 18 vs 32. One exception: 49 tiles at 512 -> 512
/// channels (1x14x14) measured 37 vs 68, so large channel counts move the break-even
/// down; a rule on tiles x channels could take that case too.
pub const MIN_TILES: usize = 128;

/// Whether `conv` should take this convolution (one `applies` accepts) rather than
/// im2col: at least [`MIN_TILES`] output tiles.
pub fn pays(g: &Geometry) -> bool {
    let tiles = g.batch * g.out_spatial[0].div_ceil(2) * g.out_spatial[1].div_ceil(2);
    tiles >= MIN_TILES
}

/// The float types the Winograd path runs on (those the `gemm` crate multiplies at full
/// speed).
pub trait WinoFloat: Float + Default + Send + Sync + 'static {}
impl WinoFloat for f32 {}
impl WinoFloat for f64 {}

/// Below this many multiply-adds (of the im2col form) the convolution runs on the
/// calling thread.
const PARALLEL_FLOPS: usize = 1 << 21;

/// The tile grid of one convolution.
#[derive(Clone, Copy)]
struct Tiles {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    th: usize,
    tw: usize,
    pad_y: isize,
    pad_x: isize,
    cin: usize,
    cout: usize,
}

impl Tiles {
    /// Tile `t` as (image, tile row, tile column).
    #[inline(always)]
    fn at(&self, t: usize) -> (usize, usize, usize) {
        let per_image = self.th * self.tw;
        let (n, r) = (t / per_image, t % per_image);
        (n, r / self.tw, r % self.tw)
    }
}

/// Tiles per block: the block's `V` and `M` take about 512 KB, which stays in the 1-2 MB
/// L2 of current server cores beside `U` (256 KB at 64 -> 64 channels): 64 tiles there.
/// Measured at 64 -> 64 channels (f32, batch 16, 56x56, busy 2-core host): 32, 64 and
/// 128 tiles all within noise of each other (35.5, 36.0, 35.8 ms median).
fn block_tiles(cin: usize, cout: usize, elem: usize) -> usize {
    ((512 << 10) / (16 * elem * (cin + cout))).clamp(16, 512)
}

/// `out = conv(x, w)` for row-major `x` `[batch, h, w, cin]`, `w` `[cout, 3, 3, cin]`
/// and `out` `[batch, oh, ow, cout]`, for a geometry that `applies` accepts.
pub fn conv<T: WinoFloat>(g: &Geometry, x: &[T], w: &[T], out: &mut [T]) {
    debug_assert!(applies(g));
    let tiles = Tiles {
        h: g.in_spatial[0],
        w: g.in_spatial[1],
        oh: g.out_spatial[0],
        ow: g.out_spatial[1],
        th: g.out_spatial[0].div_ceil(2),
        tw: g.out_spatial[1].div_ceil(2),
        pad_y: g.pad_lo[0],
        pad_x: g.pad_lo[1],
        cin: g.in_channels,
        cout: g.out_channels,
    };
    let (cin, cout) = (tiles.cin, tiles.cout);
    let count = g.batch * tiles.th * tiles.tw;
    if count == 0 || cout == 0 {
        return;
    }
    if cin == 0 {
        out.fill(T::zero());
        return;
    }
    let u = transform_weights(w, cin, cout, g.flip);
    let bt = block_tiles(cin, cout, std::mem::size_of::<T>());
    let blocks = count.div_ceil(bt);
    // Output tiles of different blocks are disjoint, so blocks write `out` through one
    // shared pointer.
    let op = out.as_mut_ptr() as usize;
    let out_len = out.len();
    let run_block = |(v, m, scratch): &mut (Vec<T>, Vec<T>, Vec<T>), b: usize| {
        let (t0, t1) = (b * bt, ((b + 1) * bt).min(count));
        let nt = t1 - t0;
        v.resize(16 * bt * cin, T::zero());
        m.resize(16 * bt * cout, T::zero());
        scratch.resize(16 * cin.max(cout), T::zero());
        input_block(&tiles, x, t0, nt, v, bt * cin, scratch);
        for e in 0..16 {
            // SAFETY: M_e (nt x cout, row stride cout), V_e (nt x cin, row stride cin)
            // and U_e (cin x cout, row stride cout) lie inside their buffers.
            unsafe {
                gemm(
                    nt,
                    cout,
                    cin,
                    m.as_mut_ptr().add(e * bt * cout),
                    1,
                    cout as isize,
                    false,
                    v.as_ptr().add(e * bt * cin),
                    1,
                    cin as isize,
                    u.as_ptr().add(e * cin * cout),
                    1,
                    cout as isize,
                    T::zero(),
                    T::one(),
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        }
        // SAFETY: `op` is `out` (`out_len` elements); this block's tiles are written by
        // this call only.
        unsafe { output_block(&tiles, m, bt * cout, t0, nt, op as *mut T, out_len, scratch) };
    };
    let flops = g.batch * tiles.oh * tiles.ow * 9 * cin * cout;
    if flops >= PARALLEL_FLOPS && rayon::current_num_threads() > 1 {
        (0..blocks).into_par_iter().for_each_init(
            || (Vec::new(), Vec::new(), Vec::new()),
            |s, b| run_block(s, b),
        );
    } else {
        let mut scratch = (Vec::new(), Vec::new(), Vec::new());
        (0..blocks).for_each(|b| run_block(&mut scratch, b));
    }
}

/// `U = G g G^T` for every (input, output) channel pair, as 16 row-major `cin x cout`
/// matrices. The kernel is mirrored first when `flip` (a true convolution).
///
/// Input channels outer, output channels inner, so that the 16 rows written for one
/// input channel are 16 sequential runs (the weights are read at a stride of `9 * cin`,
/// from lines that stay in L2 for the next channels). Output channels outer had made
/// every write a cache miss: 24 ms for 512 -> 512 channels, more than the convolution
/// (a 7x7 image) itself. Input channels run in parallel when there is enough work.
fn transform_weights<T: WinoFloat>(w: &[T], cin: usize, cout: usize, flip: bool) -> Vec<T> {
    let half = T::from(0.5).expect("0.5 is representable");
    let mut u = vec![T::zero(); 16 * cin * cout];
    let up = u.as_mut_ptr() as usize;
    let one_channel = |ci: usize| {
        for co in 0..cout {
            let mut k = [[T::zero(); 3]; 3];
            for (ky, row) in k.iter_mut().enumerate() {
                for (kx, v) in row.iter_mut().enumerate() {
                    let (sy, sx) = if flip { (2 - ky, 2 - kx) } else { (ky, kx) };
                    *v = w[((co * 3 + sy) * 3 + sx) * cin + ci];
                }
            }
            // G k (4 x 3), then (G k) G^T (4 x 4).
            let gk = [
                k[0],
                [0, 1, 2].map(|j| (k[0][j] + k[1][j] + k[2][j]) * half),
                [0, 1, 2].map(|j| (k[0][j] - k[1][j] + k[2][j]) * half),
                k[2],
            ];
            for (r, t) in gk.iter().enumerate() {
                let row = [
                    t[0],
                    (t[0] + t[1] + t[2]) * half,
                    (t[0] - t[1] + t[2]) * half,
                    t[2],
                ];
                for (c, &val) in row.iter().enumerate() {
                    let at = ((r * 4 + c) * cin + ci) * cout + co;
                    assert!(at < 16 * cin * cout);
                    // SAFETY: inside `u` (checked); input channel `ci`'s elements are
                    // written by this call only.
                    unsafe { *(up as *mut T).add(at) = val };
                }
            }
        }
    };
    if cin * cout >= 1 << 16 && rayon::current_num_threads() > 1 {
        (0..cin)
            .into_par_iter()
            .with_min_len(4)
            .for_each(one_channel);
    } else {
        (0..cin).for_each(one_channel);
    }
    u
}

/// The offsets of the 16 input pixels under tile `t` (row-major 4x4): in `x` when the
/// patch lies inside the input (returns `true`), else in `patch` (`16 * cin`), which this
/// fills with the pixels inside the input and zeros elsewhere (returns `false`).
#[inline(always)]
fn gather<T: WinoFloat>(
    tiles: &Tiles,
    x: &[T],
    t: usize,
    patch: &mut [T],
    offs: &mut [usize; 16],
) -> bool {
    let (n, ty, tx) = tiles.at(t);
    let cin = tiles.cin;
    let row0 = (2 * ty) as isize - tiles.pad_y;
    let col0 = (2 * tx) as isize - tiles.pad_x;
    let inside = |v: isize, len: usize| v >= 0 && (v as usize) < len;
    let pixel = |r: isize, c: isize| ((n * tiles.h + r as usize) * tiles.w + c as usize) * cin;
    let at = |k: usize| (row0 + (k / 4) as isize, col0 + (k % 4) as isize);
    if inside(row0, tiles.h)
        && inside(row0 + 3, tiles.h)
        && inside(col0, tiles.w)
        && inside(col0 + 3, tiles.w)
    {
        for (k, o) in offs.iter_mut().enumerate() {
            let (r, c) = at(k);
            *o = pixel(r, c);
        }
        return true;
    }
    for (k, o) in offs.iter_mut().enumerate() {
        let (r, c) = at(k);
        let dst = &mut patch[k * cin..(k + 1) * cin];
        if inside(r, tiles.h) && inside(c, tiles.w) {
            let p = pixel(r, c);
            dst.copy_from_slice(&x[p..p + cin]);
        } else {
            dst.fill(T::zero());
        }
        *o = k * cin;
    }
    false
}

simd_kernel! {
    /// `B^T d B` for one tile: `d` is input pixel `k` (row-major 4x4) of the patch at
    /// `src[offs[k]..][..cin]`; position `e` of the result goes to `v[e * es + at..][..cin]`.
    ///
    /// A loop over channels with a scalar body: each of the 16 loads and 16 stores is a
    /// contiguous run, which the compiler turns into vector loads and stores (`src` and `v`
    /// are separate slices, so it needs no overlap checks).
    fn input_tile<T: WinoFloat>(src: &[T], offs: &[usize; 16], cin: usize, v: &mut [T], es: usize, at: usize) {
        assert!(offs.iter().all(|&o| o + cin <= src.len()));
        assert!(15 * es + at + cin <= v.len());
        let (s, vp) = (src.as_ptr(), v.as_mut_ptr());
        for c in 0..cin {
            // SAFETY: every offset is in bounds (asserted above).
            let d = |k: usize| unsafe { *s.add(offs[k] + c) };
            // B^T d: combinations of the patch rows, column by column.
            let mut t = [T::zero(); 16];
            for j in 0..4 {
                let (d0, d1, d2, d3) = (d(j), d(4 + j), d(8 + j), d(12 + j));
                t[j] = d0 - d2;
                t[4 + j] = d1 + d2;
                t[8 + j] = d2 - d1;
                t[12 + j] = d1 - d3;
            }
            // (B^T d) B: the same combinations of its columns, row by row.
            for i in 0..4 {
                let (t0, t1, t2, t3) = (t[4 * i], t[4 * i + 1], t[4 * i + 2], t[4 * i + 3]);
                let r = [t0 - t2, t1 + t2, t2 - t1, t1 - t3];
                for (j, &val) in r.iter().enumerate() {
                    // SAFETY: in bounds (asserted above).
                    unsafe { *vp.add((4 * i + j) * es + at + c) = val };
                }
            }
        }
    }
}

simd_kernel! {
    /// `A^T m A` for one tile: position `e` of `m` at `m[e * es + at..][..cout]`; output pixel
    /// `k` of the 2x2 block (row-major) goes to `y[k * cout..][..cout]`. Vectorised as
    /// `input_tile`.
    fn output_tile<T: WinoFloat>(m: &[T], es: usize, at: usize, cout: usize, y: &mut [T]) {
        assert!(15 * es + at + cout <= m.len() && 4 * cout <= y.len());
        let (mp, yp) = (m.as_ptr(), y.as_mut_ptr());
        for c in 0..cout {
            // SAFETY: in bounds (asserted above).
            let g = |e: usize| unsafe { *mp.add(e * es + at + c) };
            // A^T m (2 x 4).
            let mut s = [T::zero(); 8];
            for j in 0..4 {
                let (m0, m1, m2, m3) = (g(j), g(4 + j), g(8 + j), g(12 + j));
                s[j] = m0 + m1 + m2;
                s[4 + j] = m1 - m2 - m3;
            }
            // (A^T m) A (2 x 2).
            for i in 0..2 {
                let (s0, s1, s2, s3) = (s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]);
                // SAFETY: in bounds (asserted above).
                unsafe {
                    *yp.add(2 * i * cout + c) = s0 + s1 + s2;
                    *yp.add((2 * i + 1) * cout + c) = s1 - s2 - s3;
                }
            }
        }
    }
}

/// `V` for tiles `t0..t0 + nt`: tile `t0 + k`'s position `e` goes to row `k` of
/// `V_e`, at `v[e * es + k * cin..]`. `patch` is scratch (`16 * cin`).
fn input_block<T: WinoFloat>(
    tiles: &Tiles,
    x: &[T],
    t0: usize,
    nt: usize,
    v: &mut [T],
    es: usize,
    patch: &mut [T],
) {
    let cin = tiles.cin;
    let mut offs = [0usize; 16];
    for k in 0..nt {
        if gather(tiles, x, t0 + k, patch, &mut offs) {
            input_tile(x, &offs, cin, v, es, k * cin);
        } else {
            input_tile(patch, &offs, cin, v, es, k * cin);
        }
    }
}

/// The outputs of tiles `t0..t0 + nt` from `M` (tile `t0 + k`'s position `e` at
/// `m[e * es + k * cout..]`), written into `out` (`out_len` elements) through the
/// scratch `y` (`4 * cout`); pixels past an odd edge are not written.
///
/// # Safety
/// `out` must be valid for `out_len` elements and the outputs of these tiles
/// written by this call only.
#[allow(clippy::too_many_arguments)]
unsafe fn output_block<T: WinoFloat>(
    tiles: &Tiles,
    m: &[T],
    es: usize,
    t0: usize,
    nt: usize,
    out: *mut T,
    out_len: usize,
    y: &mut [T],
) {
    let cout = tiles.cout;
    for k in 0..nt {
        output_tile(m, es, k * cout, cout, y);
        let (n, ty, tx) = tiles.at(t0 + k);
        for i in 0..2 {
            let row = 2 * ty + i;
            if row >= tiles.oh {
                break;
            }
            // One or both pixels of this row of the tile (one past an odd width):
            // they are adjacent in `out` as in `y`.
            let cols = (tiles.ow - 2 * tx).min(2);
            let o = ((n * tiles.oh + row) * tiles.ow + 2 * tx) * cout;
            assert!(o + cols * cout <= out_len);
            // SAFETY: inside `out` (checked); the caller owns these pixels.
            unsafe {
                std::ptr::copy_nonoverlapping(y.as_ptr().add(2 * i * cout), out.add(o), cols * cout)
            };
        }
    }
}
