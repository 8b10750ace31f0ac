//! Convolutions against the definition computed in f64 (every output element as the
//! sum over kernel positions and channels, with dilation, padding, groups and flip
//! spelled out), for 1 to 3 spatial axes; the transposed forms against their
//! definition as the adjoint of the convolution; and the errors.

mod common;
use common::{random_array, Lcg};
use ferrox::{ops, Dtype, Error};

struct Params<'a> {
    stride: &'a [usize],
    lo: &'a [isize],
    hi: &'a [isize],
    kdil: &'a [usize],
    idil: &'a [usize],
    groups: usize,
    flip: bool,
}

/// Row-major multi-index of flat index `i` in `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
    idx
}

fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

/// The convolution by its definition, in f64.
fn reference(
    x: &[f64],
    xs: &[usize],
    w: &[f64],
    ws: &[usize],
    p: &Params,
) -> (Vec<f64>, Vec<usize>) {
    let nd = xs.len() - 2;
    // One value stands for every axis.
    fn full<T: Copy>(v: &[T], nd: usize) -> Vec<T> {
        if v.len() == 1 {
            vec![v[0]; nd]
        } else {
            v.to_vec()
        }
    }
    let (stride, lo, hi) = (full(p.stride, nd), full(p.lo, nd), full(p.hi, nd));
    let (kdil, idil) = (full(p.kdil, nd), full(p.idil, nd));
    let p = Params {
        stride: &stride,
        lo: &lo,
        hi: &hi,
        kdil: &kdil,
        idil: &idil,
        groups: p.groups,
        flip: p.flip,
    };
    let (cin, cout) = (xs[nd + 1], ws[0]);
    let (cin_g, cout_g) = (cin / p.groups, cout / p.groups);
    let mut os = vec![xs[0]];
    for d in 0..nd {
        let padded = ((xs[d + 1] - 1) * p.idil[d] + 1) as isize + p.lo[d] + p.hi[d];
        let span = ((ws[d + 1] - 1) * p.kdil[d] + 1) as isize;
        os.push(((padded - span) as usize) / p.stride[d] + 1);
    }
    os.push(cout);
    let kshape = &ws[1..=nd];
    let ksize: usize = kshape.iter().product();
    let mut out = vec![0.0; os.iter().product()];
    for (oi, o) in out.iter_mut().enumerate() {
        let idx = unravel(oi, &os);
        let (n, co) = (idx[0], idx[nd + 1]);
        let g = co / cout_g;
        for kf in 0..ksize {
            let k = unravel(kf, kshape);
            // The input element under kernel position k, if any.
            let mut xi = vec![n];
            for d in 0..nd {
                let q = (idx[d + 1] * p.stride[d] + k[d] * p.kdil[d]) as isize - p.lo[d];
                if q < 0 || q as usize % p.idil[d] != 0 || q as usize / p.idil[d] >= xs[d + 1] {
                    break;
                }
                xi.push(q as usize / p.idil[d]);
            }
            if xi.len() != nd + 1 {
                continue;
            }
            let kk: Vec<usize> = if p.flip {
                k.iter().zip(kshape).map(|(&a, &n)| n - 1 - a).collect()
            } else {
                k.clone()
            };
            for ci in 0..cin_g {
                let mut xidx = xi.clone();
                xidx.push(g * cin_g + ci);
                let mut widx = vec![co];
                widx.extend(&kk);
                widx.push(ci);
                *o += x[ravel(&xidx, xs)] * w[ravel(&widx, ws)];
            }
        }
    }
    (out, os)
}

fn check(xs: &[usize], ws: &[usize], p: Params, dtype: Dtype, tol: f64, seed: u64) {
    let mut rng = Lcg(seed);
    let (x, xv) = random_array(xs, dtype, -1.0, 1.0, &mut rng);
    let (w, wv) = random_array(ws, dtype, -1.0, 1.0, &mut rng);
    let y = ops::conv_general(
        &x, &w, p.stride, p.lo, p.hi, p.kdil, p.idil, p.groups, p.flip,
    )
    .unwrap();
    let (want, shape) = reference(&xv, xs, &wv, ws, &p);
    assert_eq!(y.shape(), shape.as_slice(), "{xs:?} {ws:?}");
    assert_eq!(y.dtype(), dtype);
    let got = ops::astype(&y, Dtype::Float64)
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    for (i, (g, e)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - e).abs() <= tol * (1.0 + e.abs()),
            "{xs:?} {ws:?} at {i}: {g} vs {e}"
        );
    }
}

#[test]
fn conv_general_matches_the_definition() {
    let p = |stride, lo, hi, kdil, idil, groups, flip| Params {
        stride,
        lo,
        hi,
        kdil,
        idil,
        groups,
        flip,
    };
    let f32_ = Dtype::Float32;
    check(
        &[2, 9, 3],
        &[4, 3, 3],
        p(&[1], &[0], &[0], &[1], &[1], 1, false),
        f32_,
        1e-5,
        1,
    );
    check(
        &[1, 10, 4],
        &[6, 2, 2],
        p(&[2], &[1], &[2], &[1], &[1], 2, true),
        f32_,
        1e-5,
        2,
    );
    check(
        &[2, 7, 2],
        &[3, 3, 2],
        p(&[3], &[2], &[1], &[2], &[1], 1, false),
        f32_,
        1e-5,
        3,
    );
    check(
        &[2, 6, 2],
        &[2, 2, 2],
        p(&[1], &[1], &[0], &[1], &[2], 1, true),
        f32_,
        1e-5,
        4,
    );
    check(
        &[1, 8, 3],
        &[2, 3, 3],
        p(&[1], &[-1], &[2], &[1], &[1], 1, false),
        f32_,
        1e-5,
        5,
    );
    let (s, lo, hi) = (&[1, 2][..], &[1, 0][..], &[1, 2][..]);
    check(
        &[2, 5, 6, 3],
        &[4, 3, 2, 3],
        p(s, lo, hi, &[1, 2], &[1], 1, false),
        f32_,
        1e-5,
        6,
    );
    check(
        &[1, 7, 7, 4],
        &[4, 3, 3, 1],
        p(&[2, 1], &[1], &[1], &[1], &[1], 4, false),
        f32_,
        1e-5,
        7,
    );
    check(
        &[2, 4, 5, 2],
        &[3, 2, 3, 2],
        p(&[1], &[0, 2], &[1, 0], &[2, 1], &[2, 3], 1, true),
        f32_,
        1e-5,
        8,
    );
    // A pointwise (1x1) convolution is a matrix product of the input itself.
    check(
        &[2, 6, 6, 8],
        &[8, 1, 1, 8],
        p(&[1], &[0], &[0], &[1], &[1], 1, false),
        f32_,
        1e-5,
        9,
    );
    check(
        &[2, 6, 6, 8],
        &[4, 1, 1, 4],
        p(&[1], &[0], &[0], &[1], &[1], 2, false),
        f32_,
        1e-5,
        10,
    );
    let (s, lo, hi) = (&[1, 2, 1][..], &[1, 0, 1][..], &[0, 1, 1][..]);
    check(
        &[1, 4, 5, 3, 2],
        &[3, 2, 3, 2, 2],
        p(s, lo, hi, &[1, 1, 2], &[1], 1, false),
        f32_,
        1e-5,
        11,
    );
    check(
        &[2, 3, 3, 3, 4],
        &[2, 2, 2, 2, 2],
        p(&[1], &[0], &[1], &[1], &[2], 2, true),
        f32_,
        1e-5,
        12,
    );
    // Many output rows: several blocks, several threads.
    check(
        &[3, 30, 30, 16],
        &[24, 3, 3, 16],
        p(&[1], &[1], &[1], &[1], &[1], 1, false),
        f32_,
        1e-4,
        13,
    );
    // Every floating dtype.
    let q = || p(&[2], &[1], &[1], &[1], &[1], 1, false);
    check(&[2, 7, 5, 3], &[4, 3, 2, 3], q(), Dtype::Float64, 1e-12, 14);
    check(&[2, 7, 5, 3], &[4, 3, 2, 3], q(), Dtype::Float16, 2e-2, 15);
    check(&[2, 7, 5, 3], &[4, 3, 2, 3], q(), Dtype::Bfloat16, 4e-2, 16);
}

/// The Winograd kernel called directly, in float32 and float64, against the
/// definition: `conv2d` sends convolutions with few output tiles per channel (all of
/// the small cases here) to im2col instead (see `winograd::pays`), so `check` alone
/// would not reach it.
fn check_winograd_kernel(xs: &[usize], ws: &[usize], p: Params, seed: u64) {
    use ferrox::backend::cpu::{conv::Geometry, winograd};
    let mut rng = Lcg(seed);
    let (_, xv) = random_array(xs, Dtype::Float64, -1.0, 1.0, &mut rng);
    let (_, wv) = random_array(ws, Dtype::Float64, -1.0, 1.0, &mut rng);
    let (want, os) = reference(&xv, xs, &wv, ws, &p);
    let g = Geometry {
        batch: xs[0],
        in_spatial: xs[1..3].to_vec(),
        in_channels: xs[3],
        out_spatial: os[1..3].to_vec(),
        out_channels: ws[0],
        kernel: vec![3, 3],
        stride: vec![1, 1],
        pad_lo: p.lo.to_vec(),
        kernel_dilation: vec![1, 1],
        input_dilation: vec![1, 1],
        groups: 1,
        flip: p.flip,
    };
    assert!(winograd::applies(&g));
    macro_rules! run {
        ($t:ty, $tol:expr) => {{
            let x: Vec<$t> = xv.iter().map(|&v| v as $t).collect();
            let w: Vec<$t> = wv.iter().map(|&v| v as $t).collect();
            let mut out: Vec<$t> = vec![0.0; want.len()];
            winograd::conv::<$t>(&g, &x, &w, &mut out);
            for (i, (&o, e)) in out.iter().zip(&want).enumerate() {
                let o = o as f64;
                assert!(
                    (o - e).abs() <= $tol * (1.0 + e.abs()),
                    "{xs:?} {ws:?} at {i}: {o} vs {e}"
                );
            }
        }};
    }
    run!(f32, 1e-5);
    run!(f64, 1e-12);
}

#[test]
fn winograd_is_chosen_for_many_output_tiles_only() {
    use ferrox::backend::cpu::{conv::Geometry, winograd};
    let g = |batch: usize, hw: usize, c: usize| Geometry {
        batch,
        in_spatial: vec![hw, hw],
        in_channels: c,
        out_spatial: vec![hw, hw],
        out_channels: c,
        kernel: vec![3, 3],
        stride: vec![1, 1],
        pad_lo: vec![1, 1],
        kernel_dilation: vec![1, 1],
        input_dilation: vec![1, 1],
        groups: 1,
        flip: false,
    };
    // The shapes measured slower on Winograd, then faster.
    for (b, hw, c) in [(1, 7, 512), (1, 14, 256), (1, 8, 64), (1, 16, 64)] {
        assert!(winograd::applies(&g(b, hw, c)) && !winograd::pays(&g(b, hw, c)));
    }
    for (b, hw, c) in [(16, 56, 64), (4, 14, 256), (1, 32, 64), (16, 7, 512)] {
        assert!(winograd::pays(&g(b, hw, c)), "{b}x{hw}x{hw} {c}");
    }
    // The many-tile case of the next test (264 tiles) runs on Winograd through conv2d.
    let mut big = g(2, 23, 40);
    big.in_spatial = vec![23, 21];
    big.out_spatial = vec![23, 21];
    assert!(winograd::pays(&big));
}

#[test]
fn winograd_3x3_matches_the_definition() {
    // 3x3, stride 1, no dilation, one group: the Winograd F(2x2, 3x3) path. Odd and
    // even extents (tiles overhanging the output), 1, 3, 17 (not a multiple of the
    // vector width) and 32 channels, padding 0, 1, 2, asymmetric and negative, flip,
    // batch 1 and 3.
    let cases: &[(&[usize], usize, &[isize], &[isize], bool)] = &[
        (&[1, 5, 5, 1], 1, &[1, 1], &[1, 1], false),
        (&[3, 7, 6, 3], 4, &[0, 0], &[0, 0], false),
        (&[1, 9, 8, 17], 5, &[1, 1], &[1, 1], true),
        (&[3, 6, 9, 3], 17, &[2, 2], &[2, 2], false),
        (&[1, 8, 7, 17], 3, &[0, 2], &[1, 0], true),
        (&[3, 10, 11, 5], 6, &[-1, 1], &[2, -1], false),
        (&[1, 3, 3, 2], 2, &[0, 0], &[0, 0], false),
        (&[1, 4, 3, 1], 1, &[2, 0], &[0, 2], true),
        (&[2, 13, 12, 32], 33, &[1, 1], &[1, 1], false),
    ];
    for (seed, &(xs, cout, lo, hi, flip)) in cases.iter().enumerate() {
        let ws = [cout, 3, 3, xs[3]];
        let p = || Params {
            stride: &[1],
            lo,
            hi,
            kdil: &[1],
            idil: &[1],
            groups: 1,
            flip,
        };
        check(xs, &ws, p(), Dtype::Float32, 1e-5, 100 + seed as u64);
        check(xs, &ws, p(), Dtype::Float64, 1e-12, 200 + seed as u64);
        check_winograd_kernel(xs, &ws, p(), 300 + seed as u64);
    }
    // Many tiles: several blocks on several threads, with the largest error over the
    // output held to a few float32 ulp of its largest value.
    let (xs, ws) = ([2, 23, 21, 40], [24, 3, 3, 40]);
    let mut rng = Lcg(300);
    let (x, xv) = random_array(&xs, Dtype::Float32, -1.0, 1.0, &mut rng);
    let (w, wv) = random_array(&ws, Dtype::Float32, -1.0, 1.0, &mut rng);
    let y = ops::conv2d(&x, &w, [1, 1], [1, 1], [1, 1], 1).unwrap();
    let p = Params {
        stride: &[1],
        lo: &[1],
        hi: &[1],
        kdil: &[1],
        idil: &[1],
        groups: 1,
        flip: false,
    };
    let (want, shape) = reference(&xv, &xs, &wv, &ws, &p);
    assert_eq!(y.shape(), shape.as_slice());
    let got = ops::astype(&y, Dtype::Float64)
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    let err = got
        .iter()
        .zip(&want)
        .map(|(g, e)| (g - e).abs())
        .fold(0.0, f64::max);
    let scale = want.iter().map(|e| e.abs()).fold(0.0, f64::max);
    assert!(
        err <= 1e-6 * scale,
        "max error {err} against max |y| {scale}"
    );
}

/// The weight gradient of `<conv(x, w), c>` by its definition, in f64: every input
/// element under kernel position `k` of an output, times that output's cotangent.
fn reference_weight_grad(
    x: &[f64],
    xs: &[usize],
    c: &[f64],
    cs: &[usize],
    ws: &[usize],
    p: &Params,
) -> Vec<f64> {
    let nd = xs.len() - 2;
    let full = |v: &[usize]| {
        if v.len() == 1 {
            vec![v[0]; nd]
        } else {
            v.to_vec()
        }
    };
    let (stride, kdil, idil) = (full(p.stride), full(p.kdil), full(p.idil));
    let lo: Vec<isize> = if p.lo.len() == 1 {
        vec![p.lo[0]; nd]
    } else {
        p.lo.to_vec()
    };
    let (cin, cout) = (xs[nd + 1], ws[0]);
    let (cin_g, cout_g) = (cin / p.groups, cout / p.groups);
    let kshape = &ws[1..=nd];
    let ksize: usize = kshape.iter().product();
    let mut dw = vec![0.0; ws.iter().product()];
    for (oi, &cv) in c.iter().enumerate() {
        let idx = unravel(oi, cs);
        let (n, co) = (idx[0], idx[nd + 1]);
        let g = co / cout_g;
        for kf in 0..ksize {
            let k = unravel(kf, kshape);
            let mut xi = vec![n];
            for d in 0..nd {
                let q = (idx[d + 1] * stride[d] + k[d] * kdil[d]) as isize - lo[d];
                if q < 0 || q as usize % idil[d] != 0 || q as usize / idil[d] >= xs[d + 1] {
                    break;
                }
                xi.push(q as usize / idil[d]);
            }
            if xi.len() != nd + 1 {
                continue;
            }
            let kk: Vec<usize> = if p.flip {
                k.iter().zip(kshape).map(|(&a, &n)| n - 1 - a).collect()
            } else {
                k.clone()
            };
            for ci in 0..cin_g {
                let mut xidx = xi.clone();
                xidx.push(g * cin_g + ci);
                let mut widx = vec![co];
                widx.extend(&kk);
                widx.push(ci);
                dw[ravel(&widx, ws)] += cv * x[ravel(&xidx, xs)];
            }
        }
    }
    dw
}

#[test]
fn weight_gradient_matches_the_definition() {
    // (x shape, w shape, stride, lo, hi, kernel dilation, input dilation, groups, flip)
    type Case<'a> = (
        &'a [usize],
        &'a [usize],
        &'a [usize],
        &'a [isize],
        &'a [isize],
        &'a [usize],
        &'a [usize],
        usize,
        bool,
    );
    let cases: &[Case] = &[
        (
            &[2, 9, 3],
            &[4, 3, 3],
            &[1],
            &[0],
            &[0],
            &[1],
            &[1],
            1,
            false,
        ),
        (
            &[1, 10, 4],
            &[6, 2, 2],
            &[2],
            &[1],
            &[2],
            &[1],
            &[1],
            2,
            true,
        ),
        (
            &[2, 7, 2],
            &[3, 3, 2],
            &[3],
            &[2],
            &[1],
            &[2],
            &[1],
            1,
            false,
        ),
        (
            &[2, 6, 2],
            &[2, 2, 2],
            &[1],
            &[1],
            &[0],
            &[1],
            &[2],
            1,
            true,
        ),
        (
            &[3, 9, 8, 17],
            &[5, 3, 3, 17],
            &[1],
            &[1],
            &[1],
            &[1],
            &[1],
            1,
            true,
        ),
        (
            &[2, 5, 6, 4],
            &[4, 3, 2, 2],
            &[1, 2],
            &[1, 0],
            &[1, 2],
            &[1, 2],
            &[1],
            2,
            false,
        ),
        (
            &[2, 6, 6, 8],
            &[8, 1, 1, 8],
            &[1],
            &[0],
            &[0],
            &[1],
            &[1],
            1,
            false,
        ),
        (
            &[2, 23, 21, 40],
            &[24, 3, 3, 40],
            &[1],
            &[1],
            &[1],
            &[1],
            &[1],
            1,
            false,
        ),
        (
            &[1, 4, 5, 3, 2],
            &[3, 2, 3, 2, 2],
            &[1, 2, 1],
            &[1, 0, 1],
            &[0, 1, 1],
            &[1, 1, 2],
            &[1],
            1,
            false,
        ),
    ];
    for (seed, &(xs, ws, stride, lo, hi, kdil, idil, groups, flip)) in cases.iter().enumerate() {
        for (dtype, tol) in [(Dtype::Float32, 2e-5), (Dtype::Float64, 1e-12)] {
            let mut rng = Lcg(400 + seed as u64);
            let (x, xv) = random_array(xs, dtype, -1.0, 1.0, &mut rng);
            let (w, _) = random_array(ws, dtype, -1.0, 1.0, &mut rng);
            let f = |a: &[ferrox::Array]| {
                Ok(vec![ops::conv_general(
                    &a[0], &a[1], stride, lo, hi, kdil, idil, groups, flip,
                )?])
            };
            let y = f(&[x.clone(), w.clone()]).unwrap().remove(0);
            let (c, cv) = random_array(y.shape(), dtype, -1.0, 1.0, &mut rng);
            let (_, grads) = ferrox::transforms::vjp(f, &[x, w], &[c]).unwrap();
            let got = ops::astype(&grads[1], Dtype::Float64)
                .unwrap()
                .to_vec::<f64>()
                .unwrap();
            let p = Params {
                stride,
                lo,
                hi,
                kdil,
                idil,
                groups,
                flip,
            };
            let want = reference_weight_grad(&xv, xs, &cv, y.shape(), ws, &p);
            assert_eq!(grads[1].shape(), ws);
            let scale = want.iter().map(|e| e.abs()).fold(1.0, f64::max);
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - e).abs() <= tol * scale,
                    "{xs:?} {ws:?} {dtype:?} at {i}: {g} vs {e}"
                );
            }
        }
    }
}

#[test]
fn transposed_convolution_is_the_adjoint_of_convolution() {
    // <conv(x, w), y> == <x, conv_transpose(y, w^T)> for the transposed weights
    // [C_in, K, C_out], when output_padding makes the shapes meet.
    let mut rng = Lcg(30);
    let (x, _) = random_array(&[2, 11, 3], Dtype::Float64, -1.0, 1.0, &mut rng);
    let (w, _) = random_array(&[4, 3, 3], Dtype::Float64, -1.0, 1.0, &mut rng);
    let y = ops::conv1d(&x, &w, 2, 1, 2, 1).unwrap();
    let (c, _) = random_array(y.shape(), Dtype::Float64, -1.0, 1.0, &mut rng);
    let wt = ops::transpose(&w, &[2, 1, 0]).unwrap();
    // (5 - 1) * 2 - 2 + 2 * 2 + 1 = 11 with output_padding 0.
    let xt = ops::conv_transpose1d(&c, &wt, 2, 1, 2, 0, 1).unwrap();
    assert_eq!(xt.shape(), x.shape());
    let dot = |a: &ferrox::Array, b: &ferrox::Array| {
        ops::sum(&ops::multiply(a, b).unwrap(), &[], false)
            .unwrap()
            .item::<f64>()
            .unwrap()
    };
    let (l, r) = (dot(&y, &c), dot(&x, &xt));
    assert!((l - r).abs() < 1e-10 * (1.0 + l.abs()), "{l} vs {r}");
    // The 2-D and 3-D forms give their documented shapes.
    let x2 = ops::ones(&[1, 4, 5, 2], None).unwrap();
    let w2 = ops::ones(&[3, 3, 2, 2], None).unwrap();
    let y2 = ops::conv_transpose2d(&x2, &w2, [2, 1], [1, 0], [1, 2], [1, 0], 1).unwrap();
    assert_eq!(y2.shape(), &[1, 3 * 2 - 2 + 2 + 1 + 1, 4 + 2 + 1, 3]);
    let x3 = ops::ones(&[1, 2, 2, 2, 1], None).unwrap();
    let w3 = ops::ones(&[1, 2, 2, 2, 1], None).unwrap();
    let y3 = ops::conv_transpose3d(&x3, &w3, [2; 3], [0; 3], [1; 3], [0; 3], 1).unwrap();
    assert_eq!(y3.shape(), &[1, 4, 4, 4, 1]);
    assert_eq!(y3.to_vec::<f32>().unwrap(), vec![1.0; 64]);
}

#[test]
fn convolve_is_numpys() {
    let a = ferrox::Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[4]).unwrap();
    let v = ferrox::Array::from_slice(&[1.0f32, 0.5, -1.0], &[3]).unwrap();
    let get = |mode| {
        ops::convolve(&a, &v, mode)
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
    };
    // numpy.convolve([1, 2, 3, 4], [1, .5, -1], mode)
    assert_eq!(get("full"), vec![1.0, 2.5, 3.0, 3.5, -1.0, -4.0]);
    assert_eq!(get("same"), vec![2.5, 3.0, 3.5, -1.0]);
    assert_eq!(get("valid"), vec![3.0, 3.5]);
    // Commutative: the longer one slides under the shorter.
    let swapped = ops::convolve(&v, &a, "valid")
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(swapped, vec![3.0, 3.5]);
}

#[test]
fn bad_arguments_are_errors() {
    let x = ops::ones(&[2, 5, 3], None).unwrap();
    let w = ops::ones(&[4, 3, 3], None).unwrap();
    let err = |r: ferrox::Result<ferrox::Array>, needle: &str| match r {
        Err(Error::Invalid(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected an error with {needle:?}, got {other:?}"),
    };
    let flat = ops::ones(&[5, 3], None).unwrap();
    err(ops::conv1d(&flat, &w, 1, 0, 1, 1), "1-3 spatial dimensions");
    err(
        ops::conv1d(&x, &ops::ones(&[4, 3, 2], None).unwrap(), 1, 0, 1, 1),
        "input channels",
    );
    err(
        ops::conv1d(&x, &w, 0, 0, 1, 1),
        "Stride sizes must be positive",
    );
    err(
        ops::conv1d(&x, &w, 1, 0, 0, 1),
        "Kernel dilation sizes must be positive",
    );
    err(
        ops::conv1d(&x, &ops::ones(&[4, 7, 3], None).unwrap(), 1, 0, 1, 1),
        "after padding",
    );
    err(
        ops::conv1d(&x, &w, 1, 0, 1, 2),
        "divisible by the number of groups",
    );
    err(ops::conv1d(&x, &w, 1, 0, 1, 0), "groups must be positive");
    err(
        ops::conv2d(&x, &w, [1, 1], [0, 0], [1, 1], 1),
        "Invalid strides (1,1)",
    );
    let xi = ops::ones(&[2, 5, 3], Some(Dtype::Int32)).unwrap();
    let wi = ops::ones(&[4, 3, 3], Some(Dtype::Int32)).unwrap();
    err(ops::conv1d(&xi, &wi, 1, 0, 1, 1), "floating point");
    err(ops::convolve(&x, &w, "full"), "1D");
    let v = ops::ones(&[3], None).unwrap();
    err(ops::convolve(&v, &v, "wide"), "Invalid mode");
}
