//! `ops::fft` against a naive O(n²) DFT in f64 on pseudo-random inputs: every transform,
//! sizes that crop and pad, every norm, several axes, non-contiguous views, input
//! dtypes; the gradients against finite differences; vmap against a loop; the
//! frequency grids, shifts, stft/istft and the errors.

mod common;
use common::Lcg;
use ferrox::ops::fft;
use ferrox::transforms::{grad, jvp, vjp, vmap};
use ferrox::{ops, Array, Dtype, Error, Result};
use num_complex::{Complex32, Complex64};

type C = Complex64;

fn rand_c(n: usize, rng: &mut Lcg) -> Vec<C> {
    (0..n)
        .map(|_| C::new(rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)))
        .collect()
}

fn rand_r(n: usize, rng: &mut Lcg) -> Vec<f64> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

fn carray(v: &[C], shape: &[usize]) -> Array {
    let v: Vec<Complex32> = v
        .iter()
        .map(|c| Complex32::new(c.re as f32, c.im as f32))
        .collect();
    Array::from_slice(&v, shape).unwrap()
}

fn rarray(v: &[f64], shape: &[usize]) -> Array {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Array::from_slice(&v, shape).unwrap()
}

fn cvalues(a: &Array) -> Vec<C> {
    assert_eq!(a.dtype(), Dtype::Complex64);
    let v: Vec<Complex32> = a.to_vec().unwrap();
    v.iter().map(|c| C::new(c.re as f64, c.im as f64)).collect()
}

fn rvalues(a: &Array) -> Vec<f64> {
    assert_eq!(a.dtype(), Dtype::Float32);
    a.to_vec::<f64>().unwrap()
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// `x` (row-major `shape`) cropped / zero-padded to `n` along `axis`.
fn fit(x: &[C], shape: &[usize], axis: usize, n: usize) -> (Vec<C>, Vec<usize>) {
    let mut out_shape = shape.to_vec();
    out_shape[axis] = n;
    let (si, so) = (strides(shape), strides(&out_shape));
    let total: usize = out_shape.iter().product();
    let mut out = vec![C::new(0.0, 0.0); total];
    for (f, o) in out.iter_mut().enumerate() {
        let idx: Vec<usize> = so.iter().zip(&out_shape).map(|(s, d)| f / s % d).collect();
        if idx[axis] < shape[axis] {
            *o = x[idx.iter().zip(&si).map(|(i, s)| i * s).sum::<usize>()];
        }
    }
    (out, out_shape)
}

/// The unnormalized DFT along `axis`, sign `+` when `inverse`.
fn dft(x: &[C], shape: &[usize], axis: usize, inverse: bool) -> Vec<C> {
    let n = shape[axis];
    let s = strides(shape);
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut out = vec![C::new(0.0, 0.0); x.len()];
    for (f, o) in out.iter_mut().enumerate() {
        let k = f / s[axis] % n;
        let base = f - k * s[axis];
        for j in 0..n {
            let th = sign * 2.0 * std::f64::consts::PI * (j * k) as f64 / n as f64;
            *o += x[base + j * s[axis]] * C::new(th.cos(), th.sin());
        }
    }
    out
}

fn norm_factor(norm: &str, n: usize, inverse: bool) -> f64 {
    match (norm, inverse) {
        ("backward", false) | ("forward", true) => 1.0,
        ("ortho", _) => 1.0 / (n as f64).sqrt(),
        _ => 1.0 / n as f64,
    }
}

fn assert_c(got: &[C], want: &[C], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().map(|c| c.norm()).fold(1.0, f64::max);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).norm() < 2e-5 * scale,
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

const NORMS: [&str; 3] = ["backward", "ortho", "forward"];

#[test]
fn fft_and_ifft_match_the_dft_with_every_size_and_norm() {
    let mut rng = Lcg(1);
    for (shape, axis) in [
        (&[8][..], 0isize),
        (&[3, 5], 0),
        (&[3, 5], -1),
        (&[2, 3, 7], 1),
    ] {
        let ax = axis.rem_euclid(shape.len() as isize) as usize;
        let x = rand_c(shape.iter().product(), &mut rng);
        let a = carray(&x, shape);
        for n in [None, Some(shape[ax] - 1), Some(shape[ax] + 3)] {
            let size = n.unwrap_or(shape[ax]);
            let (xf, fshape) = fit(&x, shape, ax, size);
            for norm in NORMS {
                for inverse in [false, true] {
                    let f = if inverse { fft::ifft } else { fft::fft };
                    let got = f(&a, n.map(|n| n as isize), axis, norm).unwrap();
                    assert_eq!(got.shape(), &fshape[..]);
                    let k = norm_factor(norm, size, inverse);
                    let want: Vec<C> = dft(&xf, &fshape, ax, inverse)
                        .iter()
                        .map(|c| c * k)
                        .collect();
                    assert_c(
                        &cvalues(&got),
                        &want,
                        &format!("{shape:?} ax {axis} n {n:?} {norm} inv {inverse}"),
                    );
                }
            }
        }
    }
}

#[test]
fn rfft_and_irfft_match_the_dft_for_even_and_odd_sizes() {
    let mut rng = Lcg(2);
    for (shape, ax) in [(&[8][..], 0usize), (&[4, 7], 1), (&[6, 3], 0)] {
        let x = rand_r(shape.iter().product(), &mut rng);
        let xc: Vec<C> = x.iter().map(|&v| C::new(v, 0.0)).collect();
        for n in [shape[ax], shape[ax] + 1, shape[ax] - 1] {
            for norm in NORMS {
                let got =
                    fft::rfft(&rarray(&x, shape), Some(n as isize), ax as isize, norm).unwrap();
                let (xf, fshape) = fit(&xc, shape, ax, n);
                let full = dft(&xf, &fshape, ax, false);
                let k = norm_factor(norm, n, false);
                let (want, _) = fit(&full, &fshape, ax, n / 2 + 1);
                let want: Vec<C> = want.iter().map(|c| c * k).collect();
                assert_c(
                    &cvalues(&got),
                    &want,
                    &format!("rfft {shape:?} n {n} {norm}"),
                );
                // irfft inverts it back to the (fitted) real signal.
                let back = fft::irfft(&got, Some(n as isize), ax as isize, norm).unwrap();
                let back: Vec<C> = rvalues(&back).iter().map(|&v| C::new(v, 0.0)).collect();
                assert_c(&back, &xf, &format!("irfft {shape:?} n {n} {norm}"));
            }
        }
    }
    // irfft of an arbitrary (non-Hermitian-consistent) half spectrum: the imaginary parts
    // of the DC and Nyquist bins drop out, the rest stands for conjugate pairs.
    for n in [6usize, 7] {
        let m = n / 2 + 1;
        let h = rand_c(m, &mut rng);
        let mut full: Vec<C> = (0..n)
            .map(|k| if k < m { h[k] } else { h[n - k].conj() })
            .collect();
        full[0].im = 0.0;
        if n % 2 == 0 {
            full[n / 2].im = 0.0;
        }
        let want: Vec<C> = dft(&full, &[n], 0, true)
            .iter()
            .map(|c| c / n as f64)
            .collect();
        let got = fft::irfft(&carray(&h, &[m]), Some(n as isize), -1, "backward").unwrap();
        let got: Vec<C> = rvalues(&got).iter().map(|&v| C::new(v, 0.0)).collect();
        assert_c(&got, &want, &format!("irfft half spectrum n {n}"));
    }
}

#[test]
fn n_dimensional_forms_chain_the_axes() {
    let mut rng = Lcg(3);
    let shape = [3usize, 4, 5];
    let x = rand_r(60, &mut rng);
    let xc: Vec<C> = x.iter().map(|&v| C::new(v, 0.0)).collect();
    let a = rarray(&x, &shape);
    // fftn over all axes, and fft2 over a chosen pair with sizes.
    let mut want = xc.clone();
    for ax in 0..3 {
        want = dft(&want, &shape, ax, false);
    }
    assert_c(
        &cvalues(&fft::fftn(&a, None, None, "backward").unwrap()),
        &want,
        "fftn",
    );
    let inv = fft::ifftn(
        &fft::fftn(&a, None, None, "ortho").unwrap(),
        None,
        None,
        "ortho",
    )
    .unwrap();
    assert_c(&cvalues(&inv), &xc, "ifftn(fftn)");
    let (f1, s1) = fit(&xc, &shape, 2, 4);
    let (f2, s2) = fit(&f1, &s1, 0, 5);
    let want = dft(&dft(&f2, &s2, 2, false), &s2, 0, false);
    let got = fft::fft2(&a, Some(&[4, 5]), Some(&[2, 0]), "backward").unwrap();
    assert_c(&cvalues(&got), &want, "fft2 s axes");
    // rfftn halves the last axis; irfftn with s restores the shape.
    let r = fft::rfftn(&a, None, None, "backward").unwrap();
    assert_eq!(r.shape(), &[3, 4, 3]);
    let mut full = xc.clone();
    for ax in 0..3 {
        full = dft(&full, &shape, ax, false);
    }
    let (want, _) = fit(&full, &shape, 2, 3);
    assert_c(&cvalues(&r), &want, "rfftn");
    let back = fft::irfftn(&r, Some(&[3, 4, 5]), Some(&[0, 1, 2]), "backward").unwrap();
    assert_eq!(back.shape(), &[3, 4, 5]);
    let back: Vec<C> = rvalues(&back).iter().map(|&v| C::new(v, 0.0)).collect();
    assert_c(&back, &xc, "irfftn(rfftn)");
    let r2 = fft::rfft2(&a, None, Some(&[-2, -1]), "forward").unwrap();
    let back = fft::irfft2(&r2, Some(&[4, 5]), Some(&[-2, -1]), "forward").unwrap();
    let back: Vec<C> = rvalues(&back).iter().map(|&v| C::new(v, 0.0)).collect();
    assert_c(&back, &xc, "irfft2(rfft2)");
    assert_eq!(
        fft::ifft2(&a, None, Some(&[0, 1]), "backward")
            .unwrap()
            .shape(),
        &[3, 4, 5]
    );
    // No axes: the input itself.
    assert_eq!(
        fft::fftn(&a, None, Some(&[]), "backward").unwrap().dtype(),
        Dtype::Float32
    );
}

#[test]
fn strided_views_and_input_dtypes() {
    let mut rng = Lcg(4);
    let x = rand_c(6 * 8, &mut rng);
    let a = carray(&x, &[6, 8]);
    // A transposed view and a stepped slice, against the same data made contiguous.
    let t = ops::transpose(&a, &[1, 0]).unwrap();
    let tc: Vec<C> = (0..48).map(|f| x[(f % 6) * 8 + f / 6]).collect();
    let want = dft(&tc, &[8, 6], 1, false);
    assert_c(
        &cvalues(&fft::fft(&t, None, -1, "backward").unwrap()),
        &want,
        "transposed",
    );
    let want0 = dft(&tc, &[8, 6], 0, true);
    assert_c(
        &cvalues(&fft::ifft(&t, None, 0, "backward").unwrap()),
        &want0.iter().map(|c| c / 8.0).collect::<Vec<_>>(),
        "transposed axis 0",
    );
    let s = ops::slice(&a, &[1, 0], &[6, 8], &[2, 3]).unwrap(); // rows 1,3,5; cols 0,3,6
    let sc: Vec<C> = [1, 3, 5]
        .iter()
        .flat_map(|&r| [0, 3, 6].map(|c| x[r * 8 + c]))
        .collect();
    assert_c(
        &cvalues(&fft::fft(&s, None, 0, "backward").unwrap()),
        &dft(&sc, &[3, 3], 0, false),
        "stepped",
    );
    let r = ops::real(&t).unwrap();
    let rc: Vec<C> = tc.iter().map(|c| C::new(c.re, 0.0)).collect();
    let (want, _) = fit(&dft(&rc, &[8, 6], 0, false), &[8, 6], 0, 5);
    assert_c(
        &cvalues(&fft::rfft(&r, None, 0, "backward").unwrap()),
        &want,
        "rfft strided",
    );
    // Integer, float64 and bool inputs give complex64 / float32 like MLX.
    let ints = Array::from_slice(&[1i32, 2, 3, 4], &[4]).unwrap();
    let f64s = Array::from_slice(&[1.0f64, 2.0, 3.0, 4.0], &[4]).unwrap();
    let bools = Array::from_slice(&[true, false, true, true], &[4]).unwrap();
    let want = dft(
        &[1.0, 2.0, 3.0, 4.0].map(|v| C::new(v, 0.0)),
        &[4],
        0,
        false,
    );
    for a in [&ints, &f64s] {
        assert_c(
            &cvalues(&fft::fft(a, None, -1, "backward").unwrap()),
            &want,
            "cast",
        );
        assert_c(
            &cvalues(&fft::rfft(a, None, -1, "backward").unwrap()),
            &want[..3],
            "rfft cast",
        );
        assert_eq!(
            fft::irfft(a, None, -1, "backward").unwrap().dtype(),
            Dtype::Float32
        );
    }
    assert_eq!(
        fft::fft(&bools, None, -1, "backward").unwrap().dtype(),
        Dtype::Complex64
    );
    // rfft of complex input transforms its real part.
    let got = fft::rfft(&a, None, -1, "backward").unwrap();
    let re: Vec<C> = x.iter().map(|c| C::new(c.re, 0.0)).collect();
    let (want, _) = fit(&dft(&re, &[6, 8], 1, false), &[6, 8], 1, 5);
    assert_c(&cvalues(&got), &want, "rfft of complex");
    // A large batch runs in parallel.
    let big = rand_c(512 * 64, &mut rng);
    let got = fft::fft(&carray(&big, &[512, 64]), None, -1, "backward").unwrap();
    assert_c(
        &cvalues(&got),
        &dft(&big, &[512, 64], 1, false),
        "parallel batch",
    );
}

#[test]
fn errors() {
    let a = ops::zeros(&[4, 6], None).unwrap();
    let index = |r: Result<Array>| assert!(matches!(r, Err(Error::Index(_))), "{r:?}");
    let invalid = |r: Result<Array>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
    index(fft::fft(&a, None, 2, "backward"));
    index(fft::rfft(&a, None, -3, "backward"));
    index(fft::fft(&Array::scalar(1.0f32), None, -1, "backward"));
    index(fft::fft2(
        &ops::zeros(&[3], None).unwrap(),
        None,
        Some(&[-2, -1]),
        "backward",
    ));
    invalid(fft::fft(&a, Some(0), -1, "backward"));
    invalid(fft::ifft(&a, Some(-2), -1, "backward"));
    invalid(fft::fft(&a, None, -1, "bad"));
    invalid(fft::fftn(&a, Some(&[3]), Some(&[0, 1]), "backward"));
    invalid(fft::fftn(&a, Some(&[3, 3]), None, "backward"));
    invalid(fft::fftn(&a, None, Some(&[0, -2]), "backward"));
    invalid(fft::irfft(
        &ops::zeros(&[4, 1], None).unwrap(),
        None,
        -1,
        "backward",
    ));
    invalid(fft::fftfreq(0, 1.0));
    invalid(fft::rfftfreq(-1, 1.0));
    index(fft::fftshift(&a, Some(&[4])));
    let x = ops::zeros(&[50], None).unwrap();
    invalid(fft::stft(
        &Array::scalar(1.0f32),
        4,
        None,
        None,
        None,
        true,
        "reflect",
        "backward",
        None,
    ));
    invalid(fft::stft(
        &x, 0, None, None, None, true, "reflect", "backward", None,
    ));
    invalid(fft::stft(
        &x,
        16,
        Some(0),
        None,
        None,
        true,
        "reflect",
        "backward",
        None,
    ));
    invalid(fft::stft(
        &x,
        16,
        None,
        Some(20),
        None,
        true,
        "reflect",
        "backward",
        None,
    ));
    invalid(fft::stft(
        &x, 16, None, None, None, true, "wrap", "backward", None,
    ));
    invalid(fft::stft(
        &x,
        16,
        None,
        None,
        Some(&ops::ones(&[16, 1], None).unwrap()),
        true,
        "reflect",
        "backward",
        None,
    ));
    invalid(fft::stft(
        &x, 60, None, None, None, false, "reflect", "backward", None,
    ));
    invalid(fft::istft(
        &x, None, None, None, None, true, "backward", None, None,
    ));
}

#[test]
fn frequency_grids_and_shifts() {
    let got: Vec<f32> = fft::fftfreq(5, 1.0).unwrap().to_vec().unwrap();
    assert_eq!(got, vec![0.0, 0.2, 0.4, -0.4, -0.2]);
    let got: Vec<f32> = fft::fftfreq(6, 0.5).unwrap().to_vec().unwrap();
    let want = [0.0, 1.0, 2.0, -3.0, -2.0, -1.0].map(|v: f32| v / 3.0);
    assert!(
        got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6),
        "{got:?}"
    );
    let got: Vec<f32> = fft::rfftfreq(6, 2.0).unwrap().to_vec().unwrap();
    let want = [0.0, 1.0, 2.0, 3.0].map(|v: f32| v / 12.0);
    assert!(
        got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6),
        "{got:?}"
    );
    let a = ops::arange(0.0, 12.0, 1.0, Some(Dtype::Int32))
        .unwrap()
        .reshape(&[3, 4])
        .unwrap();
    let s: Vec<i32> = fft::fftshift(&a, None).unwrap().to_vec().unwrap();
    assert_eq!(s, vec![10, 11, 8, 9, 2, 3, 0, 1, 6, 7, 4, 5]);
    let s: Vec<i32> = fft::fftshift(&a, Some(&[0])).unwrap().to_vec().unwrap();
    assert_eq!(s, vec![8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7]);
    let odd = ops::arange(0.0, 5.0, 1.0, Some(Dtype::Int32)).unwrap();
    let s: Vec<i32> = fft::ifftshift(&odd, None).unwrap().to_vec().unwrap();
    assert_eq!(s, vec![2, 3, 4, 0, 1]);
    let back: Vec<i32> = fft::ifftshift(&fft::fftshift(&odd, None).unwrap(), None)
        .unwrap()
        .to_vec()
        .unwrap();
    assert_eq!(back, vec![0, 1, 2, 3, 4]);
}

/// `x` split in frames as torch's stft does (reference for `stft`).
#[test]
fn stft_matches_framed_dfts_and_istft_inverts_it() {
    let mut rng = Lcg(5);
    let len = 40;
    let x = rand_r(2 * len, &mut rng);
    let a = rarray(&x, &[2, len]);
    let (n, hop) = (8usize, 3usize);
    let win: Vec<f64> = (0..6).map(|i| 0.5 + 0.1 * i as f64).collect();
    let w = rarray(&win, &[6]);
    let got = fft::stft(
        &a,
        n as isize,
        Some(hop as isize),
        None,
        Some(&w),
        true,
        "reflect",
        "ortho",
        None,
    )
    .unwrap();
    let n_frames = 1 + (len + n - n) / hop;
    assert_eq!(got.shape(), &[2, n / 2 + 1, n_frames]);
    let g = cvalues(&got);
    for b in 0..2 {
        // Reflect-padded by n/2 on both ends.
        let sig: Vec<f64> = (0..len + n)
            .map(|i| {
                let j = i as isize - (n / 2) as isize;
                let j = if j < 0 {
                    -j
                } else if j >= len as isize {
                    2 * (len as isize - 1) - j
                } else {
                    j
                };
                x[b * len + j as usize]
            })
            .collect();
        for f in 0..n_frames {
            let frame: Vec<C> = (0..n)
                .map(|j| {
                    let wj = if (1..7).contains(&j) { win[j - 1] } else { 0.0 };
                    C::new(sig[f * hop + j] * wj, 0.0)
                })
                .collect();
            let spec = dft(&frame, &[n], 0, false);
            for k in 0..n / 2 + 1 {
                let got = g[(b * (n / 2 + 1) + k) * n_frames + f];
                let want = spec[k] / (n as f64).sqrt();
                assert!(
                    (got - want).norm() < 1e-5,
                    "stft b {b} f {f} k {k}: {got} vs {want}"
                );
            }
        }
    }
    // istft of it gives x back (the window covers every point), at the given length.
    let back = fft::istft(
        &got,
        Some(n as isize),
        Some(hop as isize),
        None,
        Some(&w),
        true,
        "ortho",
        None,
        Some(len as isize),
    )
    .unwrap();
    assert_eq!(back.shape(), &[2, len]);
    let back = rvalues(&back);
    assert!(
        back.iter().zip(&x).all(|(g, w)| (g - w).abs() < 1e-5),
        "{back:?}"
    );
    // Two-sided, complex input.
    let xc = rand_c(30, &mut rng);
    let s = fft::stft(
        &carray(&xc, &[30]),
        8,
        Some(2),
        None,
        None,
        false,
        "reflect",
        "backward",
        None,
    )
    .unwrap();
    assert_eq!(s.shape(), &[8, 12]);
    let s0 = cvalues(&s);
    let spec = dft(&xc[4..12], &[8], 0, false);
    for k in 0..8 {
        assert!((s0[k * 12 + 2] - spec[k]).norm() < 1e-5);
    }
}

// ---- derivatives ----------------------------------------------------------------------

/// `sum(Re(y)·u + Im(y)·v)` (or `sum(y·u)` for real y): a real loss of any output.
fn loss_of(y: &Array, seed: u64) -> Result<Array> {
    let n = y.size();
    let mut rng = Lcg(seed);
    let u = rarray(&rand_r(n, &mut rng), y.shape());
    let v = rarray(&rand_r(n, &mut rng), y.shape());
    let re = ops::multiply(&ops::real(y)?, &u)?;
    let t = if y.dtype().is_complex() {
        ops::add(&re, &ops::multiply(&ops::imag(y)?, &v)?)?
    } else {
        re
    };
    ops::sum(&t, &[], false)
}

type Op = Box<dyn Fn(&Array) -> Result<Array>>;

/// The gradient (MLX's convention for complex inputs: ∂L/∂Re + i·∂L/∂Im) against
/// central differences in float32 (step 1e-2: the loss is linear, so only rounding).
fn check_grad(name: &str, f: &Op, x: &Array) {
    let loss = |xs: &[Array]| -> Result<Vec<Array>> { Ok(vec![loss_of(&f(&xs[0])?, 9)?]) };
    let g = grad(loss, &[0])(std::slice::from_ref(x)).unwrap();
    assert_eq!(g[0].shape(), x.shape(), "{name}");
    let eval = |a: &Array| {
        loss(std::slice::from_ref(a)).unwrap()[0]
            .item::<f32>()
            .unwrap() as f64
    };
    let h = 1e-2;
    if x.dtype().is_complex() {
        let base = cvalues(x);
        let got = cvalues(&g[0]);
        for i in 0..base.len() {
            for (d, part) in [(C::new(h, 0.0), 0), (C::new(0.0, h), 1)] {
                let mut p = base.clone();
                let mut m = base.clone();
                p[i] += d;
                m[i] -= d;
                let num = (eval(&carray(&p, x.shape())) - eval(&carray(&m, x.shape()))) / (2.0 * h);
                let g = if part == 0 { got[i].re } else { got[i].im };
                assert!(
                    (g - num).abs() < 2e-3 * (1.0 + num.abs()),
                    "{name}: d/d{part} x[{i}]: {g} vs {num}"
                );
            }
        }
    } else {
        let base: Vec<f64> = x.to_vec().unwrap();
        let got: Vec<f64> = g[0].to_vec().unwrap();
        for i in 0..base.len() {
            let mut p = base.clone();
            let mut m = base.clone();
            p[i] += h;
            m[i] -= h;
            let num = (eval(&rarray(&p, x.shape())) - eval(&rarray(&m, x.shape()))) / (2.0 * h);
            assert!(
                (got[i] - num).abs() < 2e-3 * (1.0 + num.abs()),
                "{name}: x[{i}]: {} vs {num}",
                got[i]
            );
        }
    }
}

fn ops_to_check() -> Vec<(&'static str, Op, bool)> {
    // (name, function, takes complex input)
    vec![
        ("fft", Box::new(|x| fft::fft(x, None, -1, "backward")), true),
        (
            "fft n",
            Box::new(|x| fft::fft(x, Some(7), 0, "ortho")),
            true,
        ),
        (
            "ifft",
            Box::new(|x| fft::ifft(x, Some(3), -1, "backward")),
            true,
        ),
        (
            "fft of real",
            Box::new(|x| fft::fft(x, None, -1, "forward")),
            false,
        ),
        (
            "rfft even",
            Box::new(|x| fft::rfft(x, None, -1, "backward")),
            false,
        ),
        (
            "rfft odd",
            Box::new(|x| fft::rfft(x, Some(5), -1, "ortho")),
            false,
        ),
        (
            "rfft axis 0",
            Box::new(|x| fft::rfft(x, None, 0, "forward")),
            false,
        ),
        (
            "irfft even",
            Box::new(|x| fft::irfft(x, None, -1, "backward")),
            true,
        ),
        (
            "irfft odd",
            Box::new(|x| fft::irfft(x, Some(7), -1, "ortho")),
            true,
        ),
        (
            "fft2",
            Box::new(|x| fft::fft2(x, Some(&[3, 5]), Some(&[-2, -1]), "backward")),
            true,
        ),
        (
            "rfftn",
            Box::new(|x| fft::rfftn(x, None, None, "backward")),
            false,
        ),
        (
            "irfftn",
            Box::new(|x| fft::irfftn(x, Some(&[4, 5]), Some(&[0, 1]), "forward")),
            true,
        ),
        (
            "stft",
            Box::new(|x| fft::stft(x, 4, Some(2), None, None, true, "reflect", "backward", None)),
            false,
        ),
        (
            "istft",
            Box::new(|x| {
                fft::istft(
                    x,
                    Some(4),
                    Some(1),
                    None,
                    None,
                    false,
                    "backward",
                    None,
                    None,
                )
            }),
            true,
        ),
    ]
}

#[test]
fn gradients_match_finite_differences() {
    let mut rng = Lcg(6);
    for (name, f, complex) in ops_to_check() {
        let shape = [4usize, 6];
        let n = 24;
        let x = if complex {
            carray(&rand_c(n, &mut rng), &shape)
        } else {
            rarray(&rand_r(n, &mut rng), &shape)
        };
        check_grad(name, &f, &x);
    }
}

#[test]
fn jvp_agrees_with_vjp_and_vmap_with_a_loop() {
    let mut rng = Lcg(7);
    for (name, f, complex) in ops_to_check() {
        let shape = [4usize, 6];
        let mk = |rng: &mut Lcg| {
            if complex {
                carray(&rand_c(24, rng), &shape)
            } else {
                rarray(&rand_r(24, rng), &shape)
            }
        };
        let (x, t) = (mk(&mut rng), mk(&mut rng));
        // <u, J t> = <Jᵀu, t> for the real inner product of the real and imaginary parts.
        let g = |xs: &[Array]| Ok(vec![f(&xs[0])?]);
        let (out, jt) = jvp(g, std::slice::from_ref(&x), std::slice::from_ref(&t)).unwrap();
        let lhs = loss_of(&jt[0], 3).unwrap().item::<f32>().unwrap() as f64;
        // The same u, v as a cotangent: u + i·v.
        let cot = {
            let y = &out[0];
            let mut r = Lcg(3);
            let u = rarray(&rand_r(y.size(), &mut r), y.shape());
            let v = rarray(&rand_r(y.size(), &mut r), y.shape());
            if y.dtype().is_complex() {
                let i = Array::scalar(Complex32::new(0.0, 1.0));
                ops::add(&u, &ops::multiply(&v, &i).unwrap()).unwrap()
            } else {
                u
            }
        };
        let (_, vj) = vjp(g, std::slice::from_ref(&x), &[cot]).unwrap();
        let dot = |a: &Array, b: &Array| -> f64 {
            let re = ops::sum(
                &ops::multiply(&ops::real(a).unwrap(), &ops::real(b).unwrap()).unwrap(),
                &[],
                false,
            )
            .unwrap();
            let im = ops::sum(
                &ops::multiply(&ops::imag(a).unwrap(), &ops::imag(b).unwrap()).unwrap(),
                &[],
                false,
            )
            .unwrap();
            (re.item::<f32>().unwrap() + im.item::<f32>().unwrap()) as f64
        };
        let rhs = dot(&vj[0], &t);
        assert!(
            (lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()),
            "{name}: <u,Jt> {lhs} vs <J'u,t> {rhs}"
        );
        // vmap over a new leading axis and over axis 1 equals the loop.
        let xs: Vec<Array> = (0..3).map(|_| mk(&mut rng)).collect();
        for ax in [0usize, 1] {
            let batched = ops::stack(&xs, ax as isize).unwrap();
            let got = vmap(g, &[Some(ax)], &[Some(0)])(&[batched]).unwrap();
            let want: Vec<Array> = xs.iter().map(|x| f(x).unwrap()).collect();
            let want = ops::stack(&want, 0).unwrap();
            assert_eq!(got[0].shape(), want.shape(), "{name} vmap {ax}");
            let d = ops::abs(&ops::subtract(&got[0], &want).unwrap()).unwrap();
            let err = ops::max(&d, &[], false).unwrap().item::<f32>().unwrap();
            assert!(err < 1e-4, "{name}: vmap axis {ax}: {err}");
        }
    }
}
