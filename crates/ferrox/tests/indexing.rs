//! The shape-manipulation and indexing ops against plain-loop references on f64, on
//! pseudo-random inputs of several shapes, layouts (contiguous, transposed, negatively
//! strided) and dtypes; and one test per kind of bad argument.

use ferrox::ops::*;
use ferrox::{Array, Dtype, Scalar};

// ---------------------------------------------------------------- reference machinery

/// A tiny linear congruential generator: deterministic inputs without dependencies.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A reference tensor: row-major f64 values.
#[derive(Clone, Debug, PartialEq)]
struct R {
    shape: Vec<usize>,
    v: Vec<f64>,
}

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = flat % shape[d];
        flat /= shape[d];
    }
    idx
}

impl R {
    fn from_fn(shape: &[usize], f: impl Fn(&[usize]) -> f64) -> R {
        let n: usize = shape.iter().product();
        R {
            shape: shape.to_vec(),
            v: (0..n).map(|i| f(&unravel(i, shape))).collect(),
        }
    }
    fn off(&self, idx: &[usize]) -> usize {
        assert_eq!(idx.len(), self.shape.len());
        idx.iter().zip(&self.shape).fold(0, |o, (&i, &n)| {
            assert!(i < n, "index {idx:?} outside {:?}", self.shape);
            o * n + i
        })
    }
    fn at(&self, idx: &[usize]) -> f64 {
        self.v[self.off(idx)]
    }
}

/// Values exactly representable in every dtype they are used with.
fn gen(rng: &mut Lcg, shape: &[usize], dt: Dtype) -> R {
    let n: usize = shape.iter().product();
    let v = (0..n)
        .map(|_| match dt {
            Dtype::Bool => rng.below(2) as f64,
            d if d.is_unsigned() => rng.below(100) as f64,
            d if d.is_integer() => rng.below(100) as f64 - 50.0,
            _ => (rng.below(64) as f64 - 32.0) * 0.25,
        })
        .collect();
    R {
        shape: shape.to_vec(),
        v,
    }
}

/// A value converted to `dt` as the array would hold it (integers wrap, bool is `!= 0`,
/// floats round).
fn cast_ref(dt: Dtype, v: f64) -> f64 {
    match dt {
        Dtype::Bool => (v != 0.0) as u8 as f64,
        Dtype::Uint8 => (v as i64).rem_euclid(256) as f64,
        Dtype::Int8 => (((v as i64) + 128).rem_euclid(256) - 128) as f64,
        Dtype::Float16 => half::f16::from_f64(v).to_f64(),
        Dtype::Bfloat16 => half::bf16::from_f64(v).to_f64(),
        Dtype::Float32 => v as f32 as f64,
        _ => v,
    }
}

fn arr(r: &R, dt: Dtype) -> Array {
    astype(&Array::from_slice(&r.v, &r.shape).unwrap(), dt).unwrap()
}

/// An input of `dt`: its real part and, for complex64, its imaginary part.
struct Input {
    a: Array,
    re: R,
    im: Option<R>,
}

#[derive(Clone, Copy, Debug)]
enum Layout {
    Contiguous,
    /// A transpose (all axes reversed) of a contiguous array.
    Transposed,
    /// Every other element of the last axis, walked backwards (negative stride).
    Strided,
}

/// The view `layout` makes of `base` as an array of `shape`, and its reference.
fn lay_out(base: &Array, b: &R, shape: &[usize], layout: Layout) -> (Array, R) {
    match layout {
        Layout::Contiguous => (base.clone(), b.clone()),
        Layout::Transposed => {
            let a = transpose(base, &[]).unwrap();
            let r = R::from_fn(shape, |idx| {
                let rev: Vec<usize> = idx.iter().rev().copied().collect();
                b.at(&rev)
            });
            (a, r)
        }
        Layout::Strided => {
            let nd = shape.len();
            let m = b.shape[nd - 1] as isize;
            let mut start = vec![0isize; nd];
            let mut stop: Vec<isize> = b.shape.iter().map(|&n| n as isize).collect();
            let mut step = vec![1isize; nd];
            start[nd - 1] = -1;
            stop[nd - 1] = -m - 1;
            step[nd - 1] = -2;
            let a = slice(base, &start, &stop, &step).unwrap();
            let r = R::from_fn(shape, |idx| {
                let mut j = idx.to_vec();
                j[nd - 1] = (m as usize - 1) - 2 * idx[nd - 1];
                b.at(&j)
            });
            (a, r)
        }
    }
}

fn base_shape(shape: &[usize], layout: Layout) -> Vec<usize> {
    match layout {
        Layout::Contiguous => shape.to_vec(),
        Layout::Transposed => shape.iter().rev().copied().collect(),
        Layout::Strided => {
            let mut s = shape.to_vec();
            if let Some(l) = s.last_mut() {
                *l *= 2;
            }
            s
        }
    }
}

fn input(rng: &mut Lcg, shape: &[usize], dt: Dtype, layout: Layout) -> Input {
    let layout = if shape.is_empty() || (shape.len() == 1 && matches!(layout, Layout::Transposed)) {
        if shape.is_empty() {
            Layout::Contiguous
        } else {
            Layout::Strided
        }
    } else {
        layout
    };
    let bs = base_shape(shape, layout);
    let re_b = gen(rng, &bs, dt);
    if dt == Dtype::Complex64 {
        let im_b = gen(rng, &bs, dt);
        let base = add(
            &arr(&re_b, dt),
            &multiply(&arr(&im_b, dt), Scalar::Complex(0.0, 1.0)).unwrap(),
        )
        .unwrap();
        let (a, re) = lay_out(&base, &re_b, shape, layout);
        let (_, im) = lay_out(&base, &im_b, shape, layout);
        Input {
            a,
            re,
            im: Some(im),
        }
    } else {
        let (a, re) = lay_out(&arr(&re_b, dt), &re_b, shape, layout);
        Input { a, re, im: None }
    }
}

/// Asserts `got` has `want`'s shape and values (and, for complex, `want_im`'s imaginary
/// parts), within `tol`.
fn check_tol(got: &Array, want: &R, want_im: Option<&R>, tol: f64, what: &str) {
    assert_eq!(got.shape(), want.shape.as_slice(), "{what}: shape");
    let parts: Vec<(Array, &R)> = match want_im {
        Some(im) => vec![(real(got).unwrap(), want), (imag(got).unwrap(), im)],
        None => vec![(got.clone(), want)],
    };
    for (g, w) in parts {
        let v = g.to_vec::<f64>().unwrap();
        for (i, (x, y)) in v.iter().zip(&w.v).enumerate() {
            assert!(
                (x - y).abs() <= tol || (x.is_nan() && y.is_nan()),
                "{what}: element {i} ({:?}) is {x}, want {y}\n got {v:?}\nwant {:?}",
                unravel(i, &w.shape),
                w.v
            );
        }
    }
}

fn check(got: &Array, want: &R, want_im: Option<&R>, what: &str) {
    check_tol(got, want, want_im, 0.0, what)
}

const DTYPES: [Dtype; 9] = [
    Dtype::Float32,
    Dtype::Bfloat16,
    Dtype::Int8,
    Dtype::Float64,
    Dtype::Int32,
    Dtype::Uint8,
    Dtype::Bool,
    Dtype::Float16,
    Dtype::Complex64,
];
const LAYOUTS: [Layout; 3] = [Layout::Contiguous, Layout::Transposed, Layout::Strided];

/// Runs a one-input data-movement op over shapes x dtypes x layouts against a reference
/// that maps the real (and, separately, imaginary) part.
fn sweep(
    name: &str,
    shapes: &[&[usize]],
    dtypes: &[Dtype],
    op: impl Fn(&Array) -> ferrox::Result<Array>,
    reference: impl Fn(&R, Dtype) -> R,
) {
    let mut rng = Lcg(name.len() as u64 * 7919);
    for &shape in shapes {
        for &dt in dtypes {
            for layout in LAYOUTS {
                let x = input(&mut rng, shape, dt, layout);
                let what = format!("{name} {shape:?} {dt} {layout:?}");
                let got = op(&x.a).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(got.dtype(), dt, "{what}: dtype");
                let want = reference(&x.re, dt);
                let want_im = x.im.as_ref().map(|im| reference(im, dt));
                check(&got, &want, want_im.as_ref(), &what);
            }
        }
    }
}

fn err_of<T: std::fmt::Debug>(r: ferrox::Result<T>) -> String {
    match r {
        Err(ferrox::Error::Invalid(m)) => m,
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

/// An axis out of range is an `Error::Index` (Python's `IndexError`), as in MLX.
fn index_err_of<T: std::fmt::Debug>(r: ferrox::Result<T>) -> String {
    match r {
        Err(ferrox::Error::Index(m)) => m,
        other => panic!("expected Error::Index, got {other:?}"),
    }
}

// ---------------------------------------------------------------- joining and cutting

fn concat_ref(parts: &[&R], ax: usize) -> R {
    let mut shape = parts[0].shape.clone();
    shape[ax] = parts.iter().map(|p| p.shape[ax]).sum();
    R::from_fn(&shape, |idx| {
        let mut i = idx[ax];
        for p in parts {
            if i < p.shape[ax] {
                let mut j = idx.to_vec();
                j[ax] = i;
                return p.at(&j);
            }
            i -= p.shape[ax];
        }
        unreachable!()
    })
}

#[test]
fn concatenate_matches_reference() {
    let mut rng = Lcg(1);
    let cases: [(&[usize], &[usize], isize); 4] = [
        (&[2, 3], &[4, 3], 0),
        (&[3, 2, 4], &[3, 5, 4], 1),
        (&[3, 2, 4], &[3, 2, 1], -1),
        (&[5], &[0], 0),
    ];
    for (sa, sb, axis) in cases {
        for dt in DTYPES {
            for (la, lb) in [
                (Layout::Contiguous, Layout::Transposed),
                (Layout::Strided, Layout::Contiguous),
                (Layout::Transposed, Layout::Strided),
            ] {
                let x = input(&mut rng, sa, dt, la);
                let y = input(&mut rng, sb, dt, lb);
                let ax = axis.rem_euclid(sa.len() as isize) as usize;
                let what = format!("concatenate {sa:?} {sb:?} {dt} {la:?}/{lb:?}");
                let got = concatenate(&[x.a.clone(), y.a.clone()], Some(axis)).unwrap();
                let im =
                    x.im.as_ref()
                        .map(|xi| concat_ref(&[xi, y.im.as_ref().unwrap()], ax));
                check(&got, &concat_ref(&[&x.re, &y.re], ax), im.as_ref(), &what);
                // axis None: both flattened.
                let got = concat(&[x.a.clone(), y.a.clone()], None).unwrap();
                let mut flat = x.re.v.clone();
                flat.extend(&y.re.v);
                let want = R {
                    shape: vec![flat.len()],
                    v: flat,
                };
                assert_eq!(got.to_vec::<f64>().unwrap(), want.v, "{what} None");
            }
        }
    }
    // Mixed dtypes promote: int32 with float16 gives float16, uint8 with int8 int16.
    let a = Array::from_vec(vec![1i32, -2]).unwrap();
    let b = astype(&Array::from_vec(vec![0.5f32]).unwrap(), Dtype::Float16).unwrap();
    let c = concatenate(&[a, b], Some(0)).unwrap();
    assert_eq!(c.dtype(), Dtype::Float16);
    assert_eq!(c.to_vec::<f64>().unwrap(), vec![1.0, -2.0, 0.5]);
    let a = Array::from_vec(vec![200u8]).unwrap();
    let b = Array::from_vec(vec![-3i8]).unwrap();
    let c = concatenate(&[a, b], Some(0)).unwrap();
    assert_eq!(c.dtype(), Dtype::Int16);
    assert_eq!(c.to_vec::<f64>().unwrap(), vec![200.0, -3.0]);
}

#[test]
fn stack_unstack_split_match_reference() {
    let mut rng = Lcg(2);
    for shape in [&[3usize, 4][..], &[2, 3, 2], &[5]] {
        for dt in DTYPES {
            for layout in LAYOUTS {
                let xs: Vec<Input> = (0..3).map(|_| input(&mut rng, shape, dt, layout)).collect();
                let arrays: Vec<Array> = xs.iter().map(|x| x.a.clone()).collect();
                for axis in [0isize, -1, shape.len() as isize] {
                    let ax = axis.rem_euclid(shape.len() as isize + 1) as usize;
                    let s = stack(&arrays, axis).unwrap();
                    let mut want_shape = shape.to_vec();
                    want_shape.insert(ax, 3);
                    let stack_ref = |part: &dyn Fn(&Input) -> &R| {
                        R::from_fn(&want_shape, |idx| {
                            let mut j = idx.to_vec();
                            let k = j.remove(ax);
                            part(&xs[k]).at(&j)
                        })
                    };
                    let want = stack_ref(&|x| &x.re);
                    let want_im = xs[0]
                        .im
                        .as_ref()
                        .map(|_| stack_ref(&|x| x.im.as_ref().unwrap()));
                    let what = format!("stack {shape:?} {dt} {layout:?} axis {axis}");
                    check(&s, &want, want_im.as_ref(), &what);
                    // unstack undoes it.
                    let parts = unstack(&s, axis).unwrap();
                    assert_eq!(parts.len(), 3);
                    for (p, x) in parts.iter().zip(&xs) {
                        check(p, &x.re, x.im.as_ref(), &format!("un{what}"));
                    }
                }
                // split into sections and at indices, along the last axis.
                let x = &xs[0];
                let ax = shape.len() - 1;
                let n = shape[ax] as isize;
                let piece = |lo: isize, hi: isize, r: &R| {
                    let mut s = r.shape.clone();
                    s[ax] = (hi - lo).max(0) as usize;
                    R::from_fn(&s, |idx| {
                        let mut j = idx.to_vec();
                        j[ax] += lo as usize;
                        r.at(&j)
                    })
                };
                let cuts = [1isize, -2, 100];
                let pieces = split(&x.a, &cuts[..], -1).unwrap();
                let norm = |c: isize| if c < 0 { (c + n).max(0) } else { c.min(n) };
                let mut bounds = vec![0];
                bounds.extend(cuts.iter().map(|&c| norm(c)));
                bounds.push(n);
                assert_eq!(pieces.len(), 4);
                for (k, p) in pieces.iter().enumerate() {
                    let (lo, hi) = (bounds[k], bounds[k + 1].max(bounds[k]));
                    let im = x.im.as_ref().map(|im| piece(lo, hi, im));
                    check(
                        p,
                        &piece(lo, hi, &x.re),
                        im.as_ref(),
                        &format!("split {shape:?} {dt} {layout:?} piece {k}"),
                    );
                }
                let k = if n % 2 == 0 { 2 } else { n as usize };
                let pieces = split(&x.a, k, ax as isize).unwrap();
                let w = n / k as isize;
                for (i, p) in pieces.iter().enumerate() {
                    let lo = i as isize * w;
                    check(
                        p,
                        &piece(lo, lo + w, &x.re),
                        x.im.as_ref().map(|im| piece(lo, lo + w, im)).as_ref(),
                        "split sections",
                    );
                }
            }
        }
    }
}

#[test]
fn tile_and_repeat_match_reference() {
    for reps in [&[2usize, 3][..], &[3], &[2, 1, 2]] {
        let reps_v = reps.to_vec();
        sweep(
            &format!("tile{reps:?}"),
            &[&[3], &[2, 3], &[2, 1, 3]],
            &DTYPES,
            |a| tile(a, &reps_v),
            |r, _| {
                let d = r.shape.len().max(reps_v.len());
                let mut s = vec![1; d - r.shape.len()];
                s.extend(&r.shape);
                let mut k = vec![1; d - reps_v.len()];
                k.extend(&reps_v);
                let out: Vec<usize> = s.iter().zip(&k).map(|(a, b)| a * b).collect();
                R::from_fn(&out, |idx| {
                    let src: Vec<usize> = idx.iter().zip(&s).map(|(i, n)| i % n).collect();
                    r.at(&src[d - r.shape.len()..])
                })
            },
        );
    }
    for axis in [Some(0isize), Some(-1), None] {
        sweep(
            &format!("repeat{axis:?}"),
            &[&[4], &[2, 3], &[3, 2, 2]],
            &DTYPES,
            |a| repeat(a, 3, axis),
            |r, _| match axis {
                None => R::from_fn(&[r.v.len() * 3], |idx| r.v[idx[0] / 3]),
                Some(ax) => {
                    let ax = ax.rem_euclid(r.shape.len() as isize) as usize;
                    let mut s = r.shape.clone();
                    s[ax] *= 3;
                    R::from_fn(&s, |idx| {
                        let mut j = idx.to_vec();
                        j[ax] /= 3;
                        r.at(&j)
                    })
                }
            },
        );
    }
    // repeat 0 times gives an empty axis.
    let a = Array::from_vec(vec![1.0f32, 2.0]).unwrap();
    assert_eq!(repeat(&a, 0, Some(0)).unwrap().shape(), &[0]);
}

// ---------------------------------------------------------------- pad, roll, flip

/// NumPy's padding source index found by bouncing off the ends (independent of the
/// modular formula in the implementation).
fn pad_src(mode: PadMode, p: i64, n: i64) -> i64 {
    let mut p = p;
    loop {
        if (0..n).contains(&p) {
            return p;
        }
        p = match mode {
            PadMode::Edge | PadMode::Constant => p.clamp(0, n - 1),
            PadMode::Reflect if n == 1 => 0,
            PadMode::Reflect => {
                if p < 0 {
                    -p
                } else {
                    2 * (n - 1) - p
                }
            }
            PadMode::Symmetric => {
                if p < 0 {
                    -p - 1
                } else {
                    2 * n - 1 - p
                }
            }
        };
    }
}

#[test]
fn pad_matches_reference() {
    let widths: [&[(usize, usize)]; 3] = [&[(1, 2)], &[(0, 3), (2, 0)], &[(5, 4)]];
    for mode in [
        PadMode::Constant,
        PadMode::Edge,
        PadMode::Reflect,
        PadMode::Symmetric,
    ] {
        for w in widths {
            let shapes: Vec<&[usize]> = if w.len() == 2 {
                vec![&[3, 2], &[1, 4]]
            } else {
                vec![&[3], &[3, 2], &[2, 1, 3]]
            };
            let wv = w.to_vec();
            sweep(
                &format!("pad {mode:?} {w:?}"),
                &shapes,
                &DTYPES,
                |a| pad(a, &wv, mode, 0),
                |r, _| {
                    let nd = r.shape.len();
                    let ws: Vec<(usize, usize)> = if wv.len() == 1 {
                        vec![wv[0]; nd]
                    } else {
                        wv.clone()
                    };
                    let out: Vec<usize> = r
                        .shape
                        .iter()
                        .zip(&ws)
                        .map(|(n, w)| n + w.0 + w.1)
                        .collect();
                    R::from_fn(&out, |idx| {
                        let mut j = Vec::with_capacity(nd);
                        for d in 0..nd {
                            let p = idx[d] as i64 - ws[d].0 as i64;
                            let n = r.shape[d] as i64;
                            if mode == PadMode::Constant && !(0..n).contains(&p) {
                                return 0.0;
                            }
                            j.push(pad_src(mode, p, n) as usize);
                        }
                        r.at(&j)
                    })
                },
            );
        }
    }
    // A nonzero constant, cast to the array's dtype.
    let a = Array::from_vec(vec![1i32, 2]).unwrap();
    let p = pad(&a, &[(1, 1)], PadMode::Constant, 7.9).unwrap();
    assert_eq!(p.dtype(), Dtype::Int32);
    assert_eq!(p.to_vec::<f64>().unwrap(), vec![7.0, 1.0, 2.0, 7.0]);
    assert_eq!(PadMode::from_name("reflect").unwrap(), PadMode::Reflect);
}

#[test]
fn roll_and_flip_match_reference() {
    let roll_ref = |r: &R, shifts: &[isize], axes: &[usize]| {
        R::from_fn(&r.shape, |idx| {
            let mut j = idx.to_vec();
            for (&s, &ax) in shifts.iter().zip(axes) {
                let n = r.shape[ax] as isize;
                j[ax] = (j[ax] as isize - s).rem_euclid(n) as usize;
            }
            r.at(&j)
        })
    };
    sweep(
        "roll none",
        &[&[5], &[2, 3], &[2, 3, 2]],
        &DTYPES,
        |a| roll(a, &[-4], None),
        |r, _| {
            let flat = R {
                shape: vec![r.v.len()],
                v: r.v.clone(),
            };
            R {
                shape: r.shape.clone(),
                v: roll_ref(&flat, &[-4], &[0]).v,
            }
        },
    );
    sweep(
        "roll axis",
        &[&[2, 3], &[4, 3, 2]],
        &DTYPES,
        |a| roll(a, &[2], Some(&[-1])),
        |r, _| roll_ref(r, &[2], &[r.shape.len() - 1]),
    );
    sweep(
        "roll axes",
        &[&[2, 3], &[4, 3, 2]],
        &DTYPES,
        |a| roll(a, &[7, -1], Some(&[0, 1])),
        |r, _| roll_ref(r, &[7, -1], &[0, 1]),
    );
    sweep(
        "flip all",
        &[&[5], &[2, 3], &[2, 3, 2]],
        &DTYPES,
        |a| flip(a, None),
        |r, _| {
            R::from_fn(&r.shape, |idx| {
                let j: Vec<usize> = idx.iter().zip(&r.shape).map(|(i, n)| n - 1 - i).collect();
                r.at(&j)
            })
        },
    );
    sweep(
        "flip axis",
        &[&[2, 3], &[2, 3, 4]],
        &DTYPES,
        |a| flip(a, Some(&[-1])),
        |r, _| {
            R::from_fn(&r.shape, |idx| {
                let mut j = idx.to_vec();
                let l = j.len() - 1;
                j[l] = r.shape[l] - 1 - j[l];
                r.at(&j)
            })
        },
    );
}

// ---------------------------------------------------------------- diagonals, diff

#[test]
fn diagonal_diag_trace_match_reference() {
    let diag_ref = |r: &R, off: isize, a1: usize, a2: usize| {
        let (n1, n2) = (r.shape[a1] as isize, r.shape[a2] as isize);
        let len = if off >= 0 {
            n1.min(n2 - off)
        } else {
            (n1 + off).min(n2)
        }
        .max(0) as usize;
        let mut shape: Vec<usize> = (0..r.shape.len())
            .filter(|&d| d != a1 && d != a2)
            .map(|d| r.shape[d])
            .collect();
        shape.push(len);
        R::from_fn(&shape, |idx| {
            let k = idx[idx.len() - 1];
            let mut j = vec![0; r.shape.len()];
            let mut rest = idx[..idx.len() - 1].iter();
            for (d, slot) in j.iter_mut().enumerate() {
                *slot = if d == a1 {
                    (k as isize + (-off).max(0)) as usize
                } else if d == a2 {
                    (k as isize + off.max(0)) as usize
                } else {
                    *rest.next().unwrap()
                };
            }
            r.at(&j)
        })
    };
    for off in [0isize, 1, -2, 5] {
        sweep(
            &format!("diagonal {off}"),
            &[&[3, 4], &[4, 4], &[2, 3, 4]],
            &DTYPES,
            |a| diagonal(a, off, 0, 1),
            |r, _| diag_ref(r, off, 0, 1),
        );
        sweep(
            &format!("diagonal {off} axes 2,0"),
            &[&[3, 2, 4]],
            &DTYPES,
            |a| diagonal(a, off, -1, 0),
            |r, _| diag_ref(r, off, 2, 0),
        );
        sweep(
            &format!("diag2 {off}"),
            &[&[3, 4], &[5, 2]],
            &DTYPES,
            |a| diag(a, off),
            |r, _| diag_ref(r, off, 0, 1),
        );
        sweep(
            &format!("diag1 {off}"),
            &[&[3], &[1], &[4]],
            &DTYPES,
            |a| diag(a, off),
            |r, _| {
                let n = r.shape[0] + off.unsigned_abs();
                R::from_fn(&[n, n], |idx| {
                    let (i, j) = (idx[0] as isize, idx[1] as isize);
                    if j - i == off {
                        r.v[(i + (off.min(0))).max(0) as usize]
                    } else {
                        0.0
                    }
                })
            },
        );
        // trace sums with `sum`'s dtype (checked below); cast back to the input's dtype
        // here, integer sums wrap into it.
        sweep(
            &format!("trace {off}"),
            &[&[3, 4], &[4, 4, 2]],
            &DTYPES,
            |a| astype(&trace(a, off, 0, 1, None)?, a.dtype()),
            |r, dt| {
                let d = diag_ref(r, off, 0, 1);
                let outer: Vec<usize> = d.shape[..d.shape.len() - 1].to_vec();
                let len = d.shape[d.shape.len() - 1];
                R::from_fn(&outer, |idx| {
                    let s: f64 = (0..len)
                        .map(|k| {
                            let mut j = idx.to_vec();
                            j.push(k);
                            d.at(&j)
                        })
                        .sum();
                    cast_ref(dt, s)
                })
            },
        );
    }
    let m = Array::from_vec(vec![1i32, 2, 3, 4])
        .unwrap()
        .reshape(&[2, 2])
        .unwrap();
    let t = trace(&m, 0, 0, 1, Some(Dtype::Float32)).unwrap();
    assert_eq!((t.dtype(), t.item::<f64>().unwrap()), (Dtype::Float32, 5.0));
    // The result dtype is sum's for the (cast) diagonal, as MLX: small ints widen.
    for (dt, want) in [
        (Dtype::Int8, Dtype::Int32),
        (Dtype::Bool, Dtype::Int32),
        (Dtype::Uint8, Dtype::Uint32),
        (Dtype::Int16, Dtype::Int32),
        (Dtype::Int64, Dtype::Int64),
        (Dtype::Float16, Dtype::Float16),
    ] {
        let m = astype(&eye(3, None, 0, None).unwrap(), dt).unwrap();
        let t = trace(&m, 0, 0, 1, None).unwrap();
        assert_eq!(t.dtype(), want, "trace of {dt}");
        assert_eq!(t.item::<f64>().unwrap(), 3.0, "trace of {dt}");
        let t = trace(&m, 0, 0, 1, Some(Dtype::Int8)).unwrap();
        assert_eq!(t.dtype(), Dtype::Int32, "trace of {dt} as int8");
    }
    // int8 100 + 100 does not wrap: the sum is int32.
    let m = astype(
        &diag(&Array::from_vec(vec![100i32, 100]).unwrap(), 0).unwrap(),
        Dtype::Int8,
    )
    .unwrap();
    assert_eq!(
        trace(&m, 0, 0, 1, None).unwrap().item::<i64>().unwrap(),
        200
    );
    // dtype= casts before summing: float16 2048 + 1 + 1 + 1 is 2051 in float32.
    let v = Array::from_vec(vec![2048.0f32, 1.0, 1.0, 1.0]).unwrap();
    let m = astype(&diag(&v, 0).unwrap(), Dtype::Float16).unwrap();
    let t = trace(&m, 0, 0, 1, Some(Dtype::Float32)).unwrap();
    assert_eq!(t.item::<f64>().unwrap(), 2051.0);
    assert!(trace(&v, 0, 0, 1, None).is_err());
}

#[test]
fn diff_matches_reference() {
    for n in [1usize, 2, 7] {
        for axis in [-1isize, 0] {
            sweep(
                &format!("diff n={n} axis={axis}"),
                &[&[6], &[3, 4], &[2, 5, 3]],
                &DTYPES,
                |a| diff(a, n, axis),
                |r, dt| {
                    let ax = axis.rem_euclid(r.shape.len() as isize) as usize;
                    let mut cur = r.clone();
                    for _ in 0..n {
                        if cur.shape[ax] == 0 {
                            break;
                        }
                        let mut s = cur.shape.clone();
                        s[ax] -= 1;
                        cur = R::from_fn(&s, |idx| {
                            let mut hi = idx.to_vec();
                            hi[ax] += 1;
                            let (h, l) = (cur.at(&hi), cur.at(idx));
                            if dt == Dtype::Bool {
                                (h != l) as u8 as f64
                            } else {
                                cast_ref(dt, h - l)
                            }
                        });
                    }
                    cur
                },
            );
        }
    }
}

// ---------------------------------------------------------------- meshgrid, windows, view

#[test]
fn meshgrid_matches_reference() {
    let mut rng = Lcg(5);
    for dt in [Dtype::Float32, Dtype::Int32, Dtype::Uint8, Dtype::Float16] {
        let xs: Vec<Input> = [&[3usize][..], &[4], &[2]]
            .iter()
            .map(|s| input(&mut rng, s, dt, Layout::Strided))
            .collect();
        let arrays: Vec<Array> = xs.iter().map(|x| x.a.clone()).collect();
        for (indexing, sparse) in [("ij", false), ("xy", false), ("ij", true), ("xy", true)] {
            let grids = meshgrid(&arrays, sparse, indexing).unwrap();
            let pos = |i: usize| if indexing == "xy" && i < 2 { 1 - i } else { i };
            let full_shape = {
                let mut s = vec![0; 3];
                for (i, x) in xs.iter().enumerate() {
                    s[pos(i)] = x.re.v.len();
                }
                s
            };
            for (i, (g, x)) in grids.iter().zip(&xs).enumerate() {
                let shape = if sparse {
                    let mut s = vec![1; 3];
                    s[pos(i)] = x.re.v.len();
                    s
                } else {
                    full_shape.clone()
                };
                let want = R::from_fn(&shape, |idx| x.re.v[idx[pos(i)]]);
                check(
                    g,
                    &want,
                    None,
                    &format!("meshgrid {indexing} sparse={sparse} {dt} #{i}"),
                );
            }
        }
    }
}

#[test]
fn windows_match_formulas() {
    let pi = std::f64::consts::PI;
    for m in [0usize, 1, 2, 5, 12] {
        let f = |g: &dyn Fn(f64, f64) -> f64| {
            R::from_fn(&[m], |idx| {
                if m == 1 {
                    return 1.0;
                }
                g(idx[0] as f64, (m - 1) as f64)
            })
        };
        // The textbook forms over k = 0..m-1.
        let hann = f(&|k, d| 0.5 - 0.5 * (2.0 * pi * k / d).cos());
        let hamm = f(&|k, d| 0.54 - 0.46 * (2.0 * pi * k / d).cos());
        let black =
            f(&|k, d| 0.42 - 0.5 * (2.0 * pi * k / d).cos() + 0.08 * (4.0 * pi * k / d).cos());
        let bart = f(&|k, d| 1.0 - (2.0 * k / d - 1.0).abs());
        for (got, want, name) in [
            (hanning(m), hann, "hanning"),
            (hamming(m), hamm, "hamming"),
            (blackman(m), black, "blackman"),
            (bartlett(m), bart, "bartlett"),
        ] {
            let got = got.unwrap();
            assert_eq!(got.dtype(), Dtype::Float32);
            check_tol(&got, &want, None, 1e-6, &format!("{name}({m})"));
        }
    }
}

#[test]
fn view_reinterprets_bytes() {
    let mut rng = Lcg(6);
    // float32 -> uint8: the last axis scales by 4; bytes are the little-endian encoding.
    for layout in LAYOUTS {
        let x = input(&mut rng, &[2, 3], Dtype::Float32, layout);
        let v = view(&x.a, Dtype::Uint8).unwrap();
        let bytes: Vec<f64> =
            x.re.v
                .iter()
                .flat_map(|&f| (f as f32).to_le_bytes())
                .map(|b| b as f64)
                .collect();
        check(
            &v,
            &R {
                shape: vec![2, 12],
                v: bytes,
            },
            None,
            &format!("view f32->u8 {layout:?}"),
        );
        // int32 <-> float32 keeps the shape and the bits.
        let xi = input(&mut rng, &[3, 2], Dtype::Int32, layout);
        let v = view(&xi.a, Dtype::Float32).unwrap();
        let want: Vec<f64> = xi
            .re
            .v
            .iter()
            .map(|&i| f32::from_bits(i as i32 as u32) as f64)
            .collect();
        check(
            &v,
            &R {
                shape: vec![3, 2],
                v: want,
            },
            None,
            &format!("view i32->f32 {layout:?}"),
        );
        // uint8 -> int32: 4 bytes make one int; float16 -> uint16 its bits.
        let xb = input(&mut rng, &[2, 8], Dtype::Uint8, layout);
        let v = view(&xb.a, Dtype::Int32).unwrap();
        let want: Vec<f64> = xb
            .re
            .v
            .chunks(4)
            .map(|c| i32::from_le_bytes([c[0] as u8, c[1] as u8, c[2] as u8, c[3] as u8]) as f64)
            .collect();
        check(
            &v,
            &R {
                shape: vec![2, 2],
                v: want,
            },
            None,
            &format!("view u8->i32 {layout:?}"),
        );
        let xh = input(&mut rng, &[2, 3], Dtype::Float16, layout);
        let v = view(&xh.a, Dtype::Uint16).unwrap();
        let want: Vec<f64> = xh
            .re
            .v
            .iter()
            .map(|&f| half::f16::from_f64(f).to_bits() as f64)
            .collect();
        check(
            &v,
            &R {
                shape: vec![2, 3],
                v: want,
            },
            None,
            &format!("view f16->u16 {layout:?}"),
        );
    }
    // complex64 -> float32: interleaved (re, im).
    let x = input(&mut rng, &[2, 2], Dtype::Complex64, Layout::Transposed);
    let v = view(&x.a, Dtype::Float32).unwrap();
    let im = x.im.unwrap();
    let want: Vec<f64> =
        x.re.v
            .iter()
            .zip(&im.v)
            .flat_map(|(&r, &i)| [r, i])
            .collect();
    check(
        &v,
        &R {
            shape: vec![2, 4],
            v: want,
        },
        None,
        "view c64->f32",
    );
    // Viewing as bool maps nonzero bytes to true.
    let b = view(&Array::from_vec(vec![0u8, 2, 1, 255]).unwrap(), Dtype::Bool).unwrap();
    assert_eq!(b.to_vec::<f64>().unwrap(), vec![0.0, 1.0, 1.0, 1.0]);
}

// ---------------------------------------------------------------- gather

const INDEX_DTYPES: [Dtype; 5] = [
    Dtype::Int32,
    Dtype::Uint8,
    Dtype::Int64,
    Dtype::Uint32,
    Dtype::Int16,
];

/// Indices in `-n-2 ..= n+1`: some negative (wrap), some out of range even after wrapping
/// (read as 0), unless `in_range`.
fn gen_indices(
    rng: &mut Lcg,
    shape: &[usize],
    n: usize,
    dt: Dtype,
    in_range: bool,
) -> (Array, Vec<i64>) {
    let count: usize = shape.iter().product();
    let v: Vec<i64> = (0..count)
        .map(|_| {
            if in_range || dt.is_unsigned() {
                let hi = if in_range { n as u64 } else { n as u64 + 2 };
                rng.below(hi.max(1)) as i64
            } else {
                rng.below(2 * n as u64 + 4) as i64 - n as i64 - 2
            }
        })
        .collect();
    let a = astype(&Array::from_slice(&v, shape).unwrap(), dt).unwrap();
    (a, v)
}

fn wrap_ref(i: i64, n: usize) -> Option<usize> {
    let j = if i < 0 { i + n as i64 } else { i };
    (j >= 0 && j < n as i64).then_some(j as usize)
}

#[test]
fn take_matches_reference() {
    let mut rng = Lcg(7);
    let cases: [(&[usize], &[usize], Option<isize>); 5] = [
        (&[5], &[7], Some(0)),
        (&[3, 4], &[2, 3], Some(1)),
        (&[3, 4, 2], &[5], Some(-3)),
        (&[3, 4], &[], Some(0)),
        (&[2, 3, 2], &[4, 2], None),
    ];
    for (shape, ishape, axis) in cases {
        for dt in DTYPES {
            for layout in LAYOUTS {
                let x = input(&mut rng, shape, dt, layout);
                let idt = INDEX_DTYPES[rng.below(5) as usize];
                let (flat_r, ax) = match axis {
                    None => (
                        R {
                            shape: vec![x.re.v.len()],
                            v: x.re.v.clone(),
                        },
                        0,
                    ),
                    Some(a) => (x.re.clone(), a.rem_euclid(shape.len() as isize) as usize),
                };
                let n = flat_r.shape[ax];
                let (idx, iv) = gen_indices(&mut rng, ishape, n, idt, false);
                let what =
                    format!("take {shape:?} idx {ishape:?} {idt} axis {axis:?} {dt} {layout:?}");
                let got = take(&x.a, &idx, axis).unwrap();
                let reference = |r: &R| {
                    let r = match axis {
                        None => R {
                            shape: vec![r.v.len()],
                            v: r.v.clone(),
                        },
                        Some(_) => r.clone(),
                    };
                    let mut out = r.shape[..ax].to_vec();
                    out.extend(ishape);
                    out.extend(&r.shape[ax + 1..]);
                    R::from_fn(&out, |o| {
                        let k = ishape.len();
                        let ipos = o[ax..ax + k]
                            .iter()
                            .zip(ishape)
                            .fold(0, |a, (&i, &m)| a * m + i);
                        match wrap_ref(iv[ipos], r.shape[ax]) {
                            Some(j) => {
                                let mut s = o[..ax].to_vec();
                                s.push(j);
                                s.extend(&o[ax + k..]);
                                r.at(&s)
                            }
                            None => 0.0,
                        }
                    })
                };
                let im = x.im.as_ref().map(&reference);
                check(&got, &reference(&x.re), im.as_ref(), &what);
            }
        }
    }
    // Non-contiguous indices (a transpose) work too.
    let a = arange(0.0, 10.0, 1.0, None).unwrap();
    let idx = transpose(
        &Array::from_slice(&[0i32, 1, 2, -1, 9, 12], &[2, 3]).unwrap(),
        &[],
    )
    .unwrap();
    let got = take(&a, &idx, Some(0)).unwrap();
    assert_eq!(
        got.to_vec::<f64>().unwrap(),
        vec![0.0, 9.0, 1.0, 9.0, 2.0, 0.0]
    );
}

#[test]
fn take_along_axis_matches_reference() {
    let mut rng = Lcg(8);
    let cases: [(&[usize], &[usize], Option<isize>); 5] = [
        (&[5], &[7], Some(0)),
        (&[3, 4], &[3, 6], Some(1)),
        (&[3, 4], &[1, 2], Some(-1)),
        (&[3, 4, 2], &[2, 1, 2], Some(0)),
        (&[2, 3], &[8], None),
    ];
    for (shape, ishape, axis) in cases {
        for dt in DTYPES {
            for layout in LAYOUTS {
                let x = input(&mut rng, shape, dt, layout);
                let idt = INDEX_DTYPES[rng.below(5) as usize];
                let ax = axis.map_or(0, |a| a.rem_euclid(shape.len() as isize) as usize);
                let n = if axis.is_none() {
                    x.re.v.len()
                } else {
                    shape[ax]
                };
                let (idx, iv) = gen_indices(&mut rng, ishape, n, idt, false);
                let what = format!(
                    "take_along_axis {shape:?} idx {ishape:?} axis {axis:?} {dt} {layout:?}"
                );
                let got = take_along_axis(&x.a, &idx, axis).unwrap();
                let ir = R {
                    shape: ishape.to_vec(),
                    v: iv.iter().map(|&i| i as f64).collect(),
                };
                let reference = |r: &R| {
                    let r = match axis {
                        None => R {
                            shape: vec![r.v.len()],
                            v: r.v.clone(),
                        },
                        Some(_) => r.clone(),
                    };
                    let out: Vec<usize> = (0..r.shape.len())
                        .map(|d| {
                            if d == ax {
                                ishape[d]
                            } else {
                                r.shape[d].max(ishape[d])
                            }
                        })
                        .collect();
                    R::from_fn(&out, |o| {
                        let ii: Vec<usize> = o
                            .iter()
                            .zip(ishape)
                            .map(|(&i, &m)| if m == 1 { 0 } else { i })
                            .collect();
                        match wrap_ref(ir.at(&ii) as i64, r.shape[ax]) {
                            Some(j) => {
                                let mut s: Vec<usize> = o
                                    .iter()
                                    .zip(&r.shape)
                                    .map(|(&i, &m)| if m == 1 { 0 } else { i })
                                    .collect();
                                s[ax] = j;
                                r.at(&s)
                            }
                            None => 0.0,
                        }
                    })
                };
                let im = x.im.as_ref().map(&reference);
                check(&got, &reference(&x.re), im.as_ref(), &what);
            }
        }
    }
}

// ---------------------------------------------------------------- scatter

#[derive(Clone, Copy, Debug, PartialEq)]
enum Red {
    Set,
    Add,
    Prod,
    Max,
    Min,
}

fn combine(red: Red, dt: Dtype, o: f64, u: f64) -> f64 {
    let v = match red {
        Red::Set => u,
        Red::Add if dt == Dtype::Bool => ((o != 0.0) || (u != 0.0)) as u8 as f64,
        Red::Add => o + u,
        Red::Prod => o * u,
        Red::Max => o.max(u),
        Red::Min => o.min(u),
    };
    cast_ref(dt, v)
}

#[test]
fn scatter_matches_reference() {
    let mut rng = Lcg(9);
    // (array shape, index shape, axes, slice shape)
    let cases: [(&[usize], &[usize], &[isize], &[usize]); 4] = [
        (&[6], &[8], &[0], &[1]),
        (&[4, 5], &[3, 2], &[0, 1], &[1, 1]),
        (&[5, 3, 2], &[4], &[0], &[1, 3, 2]),
        (&[4, 3, 5], &[6], &[-1, 0], &[1, 2, 1]),
    ];
    for (shape, ishape, axes, sshape) in cases {
        for red in [Red::Set, Red::Add, Red::Prod, Red::Max, Red::Min] {
            for dt in DTYPES {
                if dt == Dtype::Complex64 && matches!(red, Red::Prod | Red::Max | Red::Min) {
                    continue; // not componentwise
                }
                let layout = LAYOUTS[rng.below(3) as usize];
                let x = input(&mut rng, shape, dt, layout);
                let mut ushape = ishape.to_vec();
                ushape.extend(sshape);
                let ul = LAYOUTS[rng.below(3) as usize];
                let u = input(&mut rng, &ushape, dt, ul);
                let nax: Vec<usize> = axes
                    .iter()
                    .map(|&a| a.rem_euclid(shape.len() as isize) as usize)
                    .collect();
                // Indices may repeat: the reference applies updates in row-major order,
                // so Set checks this implementation's last-wins rule (MLX leaves the
                // winner unspecified) and the reductions check accumulation.
                let idx: Vec<(Array, Vec<i64>)> = nax
                    .iter()
                    .map(|&ax| {
                        let idt = INDEX_DTYPES[rng.below(5) as usize];
                        gen_indices(&mut rng, ishape, shape[ax], idt, false)
                    })
                    .collect();
                let arrays: Vec<Array> = idx.iter().map(|i| i.0.clone()).collect();
                let f = match red {
                    Red::Set => scatter,
                    Red::Add => scatter_add,
                    Red::Prod => scatter_prod,
                    Red::Max => scatter_max,
                    Red::Min => scatter_min,
                };
                let what = format!(
                    "scatter {red:?} {shape:?} idx {ishape:?} axes {axes:?} {dt} {layout:?}"
                );
                let got = f(&x.a, &arrays, &u.a, axes).unwrap_or_else(|e| panic!("{what}: {e}"));
                let reference = |a: &R, upd: &R| {
                    let mut out = a.clone();
                    let ni: usize = ishape.iter().product();
                    for i in 0..ni {
                        let mut base = vec![0usize; shape.len()];
                        let mut ok = true;
                        for (k, &ax) in nax.iter().enumerate() {
                            match wrap_ref(idx[k].1[i], shape[ax]) {
                                Some(j) => base[ax] = j,
                                None => ok = false,
                            }
                        }
                        if !ok {
                            continue;
                        }
                        let ns: usize = sshape.iter().product();
                        for s in 0..ns {
                            let sidx = unravel(s, sshape);
                            let t: Vec<usize> =
                                sidx.iter().zip(&base).map(|(a, b)| a + b).collect();
                            if t.iter().zip(shape).any(|(&t, &n)| t >= n) {
                                continue;
                            }
                            let mut uidx = unravel(i, ishape);
                            uidx.extend(&sidx);
                            let o = out.off(&t);
                            out.v[o] = combine(red, dt, out.v[o], upd.at(&uidx));
                        }
                    }
                    out
                };
                let im =
                    x.im.as_ref()
                        .map(|xi| reference(xi, u.im.as_ref().unwrap()));
                check(&got, &reference(&x.re, &u.re), im.as_ref(), &what);
                // Functional: the input is unchanged.
                check(&x.a, &x.re, x.im.as_ref(), &format!("{what} input intact"));
            }
        }
    }
}

#[test]
fn put_along_axis_matches_reference() {
    let mut rng = Lcg(10);
    let cases: [(&[usize], &[usize], &[usize], Option<isize>); 4] = [
        (&[6], &[4], &[4], Some(0)),
        (&[3, 5], &[3, 2], &[1, 2], Some(1)),
        (&[4, 3, 2], &[2, 3, 1], &[], Some(0)),
        (&[2, 3], &[4], &[4], None),
    ];
    for (shape, ishape, vshape, axis) in cases {
        for dt in DTYPES {
            for layout in LAYOUTS {
                let x = input(&mut rng, shape, dt, layout);
                let ax = axis.map_or(0, |a| a.rem_euclid(shape.len() as isize) as usize);
                let n = if axis.is_none() {
                    x.re.v.len()
                } else {
                    shape[ax]
                };
                let idt = INDEX_DTYPES[rng.below(5) as usize];
                let (idx, iv) = gen_indices(&mut rng, ishape, n, idt, false);
                let v = input(&mut rng, vshape, dt, Layout::Contiguous);
                let what = format!(
                    "put_along_axis {shape:?} {ishape:?} {vshape:?} {axis:?} {dt} {layout:?}"
                );
                let got = put_along_axis(&x.a, &idx, &v.a, axis)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                let reference = |a: &R, vals: &R| {
                    let mut out = match axis {
                        None => R {
                            shape: vec![a.v.len()],
                            v: a.v.clone(),
                        },
                        Some(_) => a.clone(),
                    };
                    // Indices broadcast with the array off the axis.
                    let bshape: Vec<usize> = (0..out.shape.len())
                        .map(|d| {
                            if d == ax {
                                ishape[d]
                            } else {
                                out.shape[d].max(ishape[d])
                            }
                        })
                        .collect();
                    let ir = R {
                        shape: ishape.to_vec(),
                        v: iv.iter().map(|&i| i as f64).collect(),
                    };
                    let ni: usize = bshape.iter().product();
                    for i in 0..ni {
                        let p = unravel(i, &bshape);
                        let ii: Vec<usize> = p
                            .iter()
                            .zip(ishape)
                            .map(|(&i, &m)| if m == 1 { 0 } else { i })
                            .collect();
                        let Some(j) = wrap_ref(ir.at(&ii) as i64, out.shape[ax]) else {
                            continue;
                        };
                        let mut t = p.clone();
                        t[ax] = j;
                        let vi: Vec<usize> = p[p.len() - vals.shape.len()..]
                            .iter()
                            .zip(&vals.shape)
                            .map(|(&i, &m)| if m == 1 { 0 } else { i })
                            .collect();
                        let o = out.off(&t);
                        out.v[o] = vals.at(&vi);
                    }
                    R {
                        shape: a.shape.clone(),
                        v: out.v,
                    }
                };
                let im =
                    x.im.as_ref()
                        .map(|xi| reference(xi, v.im.as_ref().unwrap()));
                check(&got, &reference(&x.re, &v.re), im.as_ref(), &what);
            }
        }
    }
}

#[test]
fn scatter_donates_an_unshared_input_buffer() {
    let a = full(&[64], 1.0, None).unwrap();
    a.eval().unwrap();
    let p = a.data().unwrap().buffer.as_ptr() as usize;
    let idx = Array::from_vec(vec![3i32, 3, 70]).unwrap();
    let upd = Array::from_vec(vec![2.0f32, 5.0, 9.0])
        .unwrap()
        .reshape(&[3, 1])
        .unwrap();
    let s = scatter_add(&a, &[idx], &upd, &[0]).unwrap();
    drop(a);
    s.eval().unwrap();
    assert_eq!(
        s.data().unwrap().buffer.as_ptr() as usize,
        p,
        "buffer not donated"
    );
    let v = s.to_vec::<f32>().unwrap();
    assert_eq!(v[3], 8.0);
    assert_eq!(v.iter().sum::<f32>(), 63.0 + 8.0);
    // With another reader, the input stays intact.
    let b = full(&[4], 1.0, None).unwrap();
    let s = scatter(
        &b,
        &[Array::from_vec(vec![0i32]).unwrap()],
        &Array::from_vec(vec![0.0f32])
            .unwrap()
            .reshape(&[1, 1])
            .unwrap(),
        &[0],
    )
    .unwrap();
    assert_eq!(s.to_vec::<f32>().unwrap(), vec![0.0, 1.0, 1.0, 1.0]);
    assert_eq!(b.to_vec::<f32>().unwrap(), vec![1.0; 4]);
}

// ---------------------------------------------------------------- slice updates

#[test]
fn slice_update_matches_reference() {
    let mut rng = Lcg(11);
    // (shape, start, stop, step)
    let cases: [(&[usize], &[isize], &[isize], &[isize]); 4] = [
        (&[7], &[1], &[6], &[2]),
        (&[4, 5], &[-1, 0], &[-5, 5], &[-1, 2]),
        (&[3, 4, 2], &[1, 1, 0], &[3, 100, 2], &[1, 1, 1]),
        (&[3, 4], &[2, 0], &[1, 4], &[1, 1]),
    ];
    for (shape, start, stop, step) in cases {
        for dt in DTYPES {
            for layout in LAYOUTS {
                let x = input(&mut rng, shape, dt, layout);
                // The window per axis, by Python's rules.
                let windows: Vec<Vec<usize>> = (0..shape.len())
                    .map(|d| {
                        let n = shape[d] as isize;
                        let norm = |v: isize| if v < 0 { v + n } else { v };
                        let (mut s, e, k) = (norm(start[d]), norm(stop[d]), step[d]);
                        let mut v = vec![];
                        if k > 0 {
                            s = s.clamp(0, n);
                            let e = e.clamp(0, n);
                            while s < e {
                                v.push(s as usize);
                                s += k;
                            }
                        } else {
                            s = s.clamp(-1, n - 1);
                            let e = e.clamp(-1, n - 1);
                            while s > e {
                                v.push(s as usize);
                                s += k;
                            }
                        }
                        v
                    })
                    .collect();
                let wshape: Vec<usize> = windows.iter().map(|w| w.len()).collect();
                let ul = LAYOUTS[rng.below(3) as usize];
                let u = input(&mut rng, &wshape, dt, ul);
                let what =
                    format!("slice_update {shape:?} {start:?}:{stop:?}:{step:?} {dt} {layout:?}");
                let got = slice_update(&x.a, &u.a, start, stop, step)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                let reference = |a: &R, upd: &R| {
                    let mut out = a.clone();
                    for i in 0..upd.v.len() {
                        let w = unravel(i, &wshape);
                        let t: Vec<usize> =
                            w.iter().enumerate().map(|(d, &k)| windows[d][k]).collect();
                        let o = out.off(&t);
                        out.v[o] = upd.v[i];
                    }
                    out
                };
                let im =
                    x.im.as_ref()
                        .map(|xi| reference(xi, u.im.as_ref().unwrap()));
                check(&got, &reference(&x.re, &u.re), im.as_ref(), &what);
            }
        }
    }
    // A broadcast update, cast to the array's dtype.
    let a = zeros(&[2, 3], Some(Dtype::Int32)).unwrap();
    let got = slice_update(&a, &array_f32(&[1.5]), &[0, 1], &[2, 3], &[1, 1]).unwrap();
    assert_eq!(got.dtype(), Dtype::Int32);
    assert_eq!(
        got.to_vec::<f64>().unwrap(),
        vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    );
}

fn array_f32(v: &[f32]) -> Array {
    Array::from_vec(v.to_vec()).unwrap()
}

#[test]
fn dynamic_slices_match_reference() {
    let mut rng = Lcg(12);
    // (shape, axes, starts, slice size)
    let cases: [(&[usize], &[isize], &[i64], &[usize]); 4] = [
        (&[7], &[0], &[2], &[3]),
        (&[4, 5], &[1], &[-2], &[3, 2]),
        (&[3, 4, 2], &[0, 2], &[1, 1], &[2, 3, 1]),
        (&[5, 3], &[0, 1], &[4, -9], &[3, 2]), // clamped: start 4 -> 2, -9 -> 0
    ];
    for (shape, axes, starts, size) in cases {
        for dt in DTYPES {
            for layout in LAYOUTS {
                let x = input(&mut rng, shape, dt, layout);
                let sidx = Array::from_slice(starts, &[starts.len()]).unwrap();
                let sidx = astype(
                    &sidx,
                    [Dtype::Int32, Dtype::Int64, Dtype::Int16][rng.below(3) as usize],
                )
                .unwrap();
                let mut origin = vec![0usize; shape.len()];
                for (&ax, &s) in axes.iter().zip(starts) {
                    let ax = ax.rem_euclid(shape.len() as isize) as usize;
                    let n = shape[ax] as i64;
                    let s = if s < 0 { s + n } else { s };
                    origin[ax] = s.clamp(0, n - size[ax] as i64) as usize;
                }
                let what = format!("slice_dynamic {shape:?} {axes:?} {starts:?} {dt} {layout:?}");
                let got = slice_dynamic(&x.a, &sidx, axes, size)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                let window = |r: &R| {
                    R::from_fn(size, |idx| {
                        let t: Vec<usize> = idx.iter().zip(&origin).map(|(a, b)| a + b).collect();
                        r.at(&t)
                    })
                };
                let im = x.im.as_ref().map(&window);
                check(&got, &window(&x.re), im.as_ref(), &what);
                // And the update at the same window.
                let ul = LAYOUTS[rng.below(3) as usize];
                let u = input(&mut rng, size, dt, ul);
                let got = slice_update_dynamic(&x.a, &u.a, &sidx, axes).unwrap();
                let reference = |a: &R, upd: &R| {
                    let mut out = a.clone();
                    for i in 0..upd.v.len() {
                        let t: Vec<usize> = unravel(i, size)
                            .iter()
                            .zip(&origin)
                            .map(|(a, b)| a + b)
                            .collect();
                        let o = out.off(&t);
                        out.v[o] = upd.v[i];
                    }
                    out
                };
                let im =
                    x.im.as_ref()
                        .map(|xi| reference(xi, u.im.as_ref().unwrap()));
                check(
                    &got,
                    &reference(&x.re, &u.re),
                    im.as_ref(),
                    &format!("{what} update"),
                );
            }
        }
    }
    // A scalar start for one axis.
    let a = Array::from_slice(&[1i32, 2, 3, 4, 5, 6], &[2, 3]).unwrap();
    let got = slice_dynamic(&a, &Array::scalar(1i32), &[0], &[1, 2]).unwrap();
    assert_eq!(got.to_vec::<i32>().unwrap(), vec![4, 5]);
}

// ---------------------------------------------------------------- bad input

#[test]
fn bad_axis_is_an_error() {
    let a = zeros(&[2, 3], None).unwrap();
    let i = Array::from_vec(vec![0i32]).unwrap();
    for (m, needle) in [
        (index_err_of(take(&a, &i, Some(2))), "Axis 2"),
        (
            index_err_of(take_along_axis(&a, &i.reshape(&[1, 1]).unwrap(), Some(-3))),
            "Axis -3",
        ),
        (
            index_err_of(concatenate(&[a.clone(), a.clone()], Some(5))),
            "Axis 5",
        ),
        (index_err_of(stack(&[a.clone()], 4)), "Axis 4"),
        (err_of(diagonal(&a, 0, 0, 0)), "same axis"),
        (index_err_of(diagonal(&a, 0, 0, 3)), "Axis 3"),
        (index_err_of(flip(&a, Some(&[2]))), "Axis 2"),
        (index_err_of(roll(&a, &[1], Some(&[-4]))), "Axis -4"),
        (index_err_of(repeat(&a, 2, Some(9))), "Axis 9"),
        (index_err_of(diff(&a, 1, 2)), "Axis 2"),
        (index_err_of(split(&a, 2usize, 3)), "Axis 3"),
        (
            index_err_of(scatter(
                &a,
                &[i.clone()],
                &zeros(&[1, 1, 3], None).unwrap(),
                &[2],
            )),
            "Axis 2",
        ),
        (index_err_of(slice_dynamic(&a, &i, &[3], &[1, 1])), "Axis 3"),
        (
            index_err_of(put_along_axis(
                &a,
                &i.reshape(&[1, 1]).unwrap(),
                &a,
                Some(2),
            )),
            "Axis 2",
        ),
    ] {
        // Messages say "Invalid axis 2 ..." (MLX's wording) or "Axis 2 is out of ...".
        let lower = m.to_lowercase();
        assert!(
            lower.contains(&needle.to_lowercase()),
            "{m:?} should mention {needle:?}"
        );
        assert!(
            m.contains("[2, 3]") || m.contains("axis"),
            "{m:?} should name the shape"
        );
    }
}

#[test]
fn mismatched_shapes_are_an_error() {
    let a = zeros(&[2, 3], None).unwrap();
    let b = zeros(&[2, 4], None).unwrap();
    let m = err_of(concatenate(&[a.clone(), b.clone()], Some(0)));
    assert!(m.contains("[2, 3]") && m.contains("[2, 4]"), "{m}");
    let m = err_of(stack(&[a.clone(), b.clone()], 0));
    assert!(m.contains("[2, 3]") && m.contains("[2, 4]"), "{m}");
    let m = err_of(split(&a, 2usize, 1));
    assert!(m.contains("equal size") && m.contains("(2,3)"), "{m}");
    let i = Array::from_vec(vec![0i32, 1]).unwrap();
    let m = err_of(scatter(
        &a,
        &[i.clone()],
        &zeros(&[2, 3], None).unwrap(),
        &[0],
    ));
    assert!(m.contains("[2, 3]") && m.contains("dimensions"), "{m}");
    let m = err_of(scatter(
        &a,
        &[i.clone()],
        &zeros(&[2, 3, 3], None).unwrap(),
        &[0],
    ));
    assert!(m.contains("[3, 3]") && m.contains("larger"), "{m}");
    let m = err_of(scatter(
        &a,
        &[i.clone(), i.clone()],
        &zeros(&[2, 1, 1], None).unwrap(),
        &[0],
    ));
    assert!(m.contains("2 index arrays") && m.contains("1 axes"), "{m}");
    let m = err_of(take_along_axis(&a, &i, Some(0)));
    assert!(m.contains("[2]") && m.contains("[2, 3]"), "{m}");
    let m = err_of(take_along_axis(
        &a,
        &zeros(&[2, 2], Some(Dtype::Int32)).unwrap(),
        Some(0),
    ));
    assert!(m.contains("[2, 2]") && m.contains("broadcast"), "{m}");
    let m = err_of(put_along_axis(
        &a,
        &zeros(&[1, 3], Some(Dtype::Int32)).unwrap(),
        &zeros(&[2, 2], None).unwrap(),
        Some(0),
    ));
    assert!(m.contains("[2, 2]") && m.contains("values"), "{m}");
    let m = err_of(slice_update(
        &a,
        &zeros(&[3], None).unwrap(),
        &[0, 0],
        &[2, 2],
        &[1, 1],
    ));
    assert!(m.contains("[3]") && m.contains("[2, 2]"), "{m}");
    let m = err_of(slice_update(&a, &a, &[0], &[2], &[1]));
    assert!(m.contains("[2, 3]"), "{m}");
    let m = err_of(slice_dynamic(&a, &i.reshape(&[2]).unwrap(), &[0], &[1, 1]));
    assert!(m.contains("start_indices") && m.contains("[2]"), "{m}");
    let m = err_of(slice_dynamic(&a, &Array::scalar(0i32), &[0], &[3, 1]));
    assert!(m.contains("[3, 1]") && m.contains("[2, 3]"), "{m}");
    let m = err_of(slice_update_dynamic(
        &a,
        &zeros(&[3, 3], None).unwrap(),
        &Array::scalar(0i32),
        &[0],
    ));
    assert!(m.contains("[3, 3]") && m.contains("[2, 3]"), "{m}");
    let m = err_of(pad(&a, &[(1, 1), (1, 1), (1, 1)], PadMode::Edge, 0));
    assert!(m.contains("[2, 3]"), "{m}");
    let m = err_of(pad(
        &zeros(&[0, 2], None).unwrap(),
        &[(1, 1)],
        PadMode::Reflect,
        0,
    ));
    assert!(m.contains("extent 0"), "{m}");
    let m = err_of(pad(
        &a,
        &[(1, 1)],
        PadMode::Constant,
        zeros(&[2], None).unwrap(),
    ));
    assert!(m.contains("[2]"), "{m}");
    let m = err_of(view(&a, Dtype::Float64));
    assert!(m.contains("[2, 3]") && m.contains("float64"), "{m}");
    let m = err_of(view(&Array::scalar(1.0f32), Dtype::Uint8));
    assert!(m.contains("scalar"), "{m}");
    let m = err_of(diag(&zeros(&[2, 2, 2], None).unwrap(), 0));
    assert!(m.contains("[2, 2, 2]"), "{m}");
    let m = err_of(meshgrid(&[a.clone()], false, "yx"));
    assert!(m.contains("yx"), "{m}");
    let m = err_of(roll(&a, &[1, 2, 3], Some(&[0, 1])));
    assert!(m.contains("[1, 2, 3]"), "{m}");
    let m = err_of(concatenate(&[], Some(0)));
    assert!(m.contains("No arrays"), "{m}");
    let m = index_err_of(concatenate(&[Array::scalar(1.0f32)], Some(0)));
    assert!(m.contains("zero-dimensional"), "{m}");
    let m = err_of(PadMode::from_name("wrap"));
    assert!(m.contains("wrap"), "{m}");
}

#[test]
fn float_indices_are_an_error() {
    let a = zeros(&[2, 3], None).unwrap();
    for dt in [
        Dtype::Float32,
        Dtype::Float16,
        Dtype::Float64,
        Dtype::Bool,
        Dtype::Complex64,
    ] {
        let i = zeros(&[1, 1], Some(dt)).unwrap();
        let name = dt.name();
        for m in [
            err_of(take(&a, &i, Some(0))),
            err_of(take(&a, &i, None)),
            err_of(take_along_axis(&a, &i, Some(0))),
            err_of(put_along_axis(&a, &i, &a, Some(0))),
            err_of(scatter(
                &a,
                &[i.reshape(&[1]).unwrap()],
                &zeros(&[1, 1, 3], None).unwrap(),
                &[0],
            )),
            err_of(scatter_add(
                &a,
                &[i.reshape(&[1]).unwrap()],
                &zeros(&[1, 1, 3], None).unwrap(),
                &[0],
            )),
            err_of(slice_dynamic(&a, &i.reshape(&[1]).unwrap(), &[0], &[1, 1])),
            err_of(slice_update_dynamic(
                &a,
                &a,
                &i.reshape(&[1]).unwrap(),
                &[0],
            )),
        ] {
            assert!(
                m.contains(name) && m.contains("integer"),
                "{m:?} should name {name}"
            );
        }
    }
}

// ---------------------------------------------------------------- edge cases, large inputs

#[test]
fn degenerate_inputs_do_not_panic() {
    let e = zeros(&[0, 3], None).unwrap();
    let a = arange(0.0, 6.0, 1.0, None)
        .unwrap()
        .reshape(&[2, 3])
        .unwrap();
    // Gathers from an empty axis read zeros; extreme indices read zeros.
    let idx = Array::from_vec(vec![0i64, i64::MIN, i64::MAX, -1]).unwrap();
    let t = take(&e, &idx, Some(0)).unwrap();
    assert_eq!(t.shape(), &[4, 3]);
    assert_eq!(t.to_vec::<f32>().unwrap(), vec![0.0; 12]);
    let t = take(&a, &idx, Some(1)).unwrap();
    assert_eq!(
        t.to_vec::<f32>().unwrap(),
        vec![0.0, 0.0, 0.0, 2.0, 3.0, 0.0, 0.0, 5.0]
    );
    let big = Array::from_vec(vec![u64::MAX, 1]).unwrap();
    assert_eq!(
        take(&a, &big, None).unwrap().to_vec::<f32>().unwrap(),
        vec![0.0, 1.0]
    );
    let t = take(&a, &Array::scalar(-1i8), Some(0)).unwrap();
    assert_eq!(
        (t.shape().to_vec(), t.to_vec::<f32>().unwrap()),
        (vec![3], vec![3.0, 4.0, 5.0])
    );
    // Scatters with extreme indices skip them.
    let s = scatter_add(&a, &[idx.clone()], &ones(&[4, 1, 3], None).unwrap(), &[0]).unwrap();
    assert_eq!(
        s.to_vec::<f32>().unwrap(),
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
    let s = scatter(&e, &[idx.clone()], &ones(&[4, 0, 3], None).unwrap(), &[0]).unwrap();
    assert_eq!(s.shape(), &[0, 3]);
    s.eval().unwrap();
    // Empty and zero-width everything.
    assert_eq!(
        concatenate(&[e.clone(), e.clone()], Some(1))
            .unwrap()
            .shape(),
        &[0, 6]
    );
    assert_eq!(
        diagonal(&e, 0, 0, 1).unwrap().to_vec::<f32>().unwrap(),
        Vec::<f32>::new()
    );
    assert_eq!(diagonal(&a, isize::MIN, 0, 1).unwrap().shape(), &[0]);
    assert_eq!(diagonal(&a, isize::MAX, 0, 1).unwrap().shape(), &[0]);
    assert!(diag(&Array::from_vec(vec![1.0f32]).unwrap(), isize::MIN).is_err());
    assert_eq!(
        diag(&Array::from_vec(Vec::<f32>::new()).unwrap(), 2)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![0.0; 4]
    );
    assert_eq!(
        pad(&e, &[(0, 0)], PadMode::Reflect, 0).unwrap().shape(),
        &[0, 3]
    );
    assert_eq!(
        pad(&e, &[(1, 1)], PadMode::Constant, 0).unwrap().shape(),
        &[2, 5]
    );
    assert_eq!(tile(&a, &[]).unwrap().shape(), &[2, 3]);
    assert_eq!(tile(&a, &[0, 2]).unwrap().shape(), &[0, 6]);
    assert_eq!(
        repeat(&Array::scalar(2i32), 3, None)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        vec![2, 2, 2]
    );
    assert_eq!(
        roll(&e, &[isize::MIN], Some(&[0])).unwrap().shape(),
        &[0, 3]
    );
    assert_eq!(
        roll(&a, &[isize::MIN], Some(&[1]))
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![2.0, 0.0, 1.0, 5.0, 3.0, 4.0]
    ); // -2^63 = 1 (mod 3)
    assert_eq!(diff(&a, 10, 1).unwrap().shape(), &[2, 0]);
    assert_eq!(
        split(&a, &[isize::MIN, isize::MAX][..], 1)
            .unwrap()
            .iter()
            .map(|p| p.shape()[1])
            .collect::<Vec<_>>(),
        vec![0, 3, 0]
    );
    assert_eq!(view(&e, Dtype::Uint8).unwrap().shape(), &[0, 12]);
    let w = slice_dynamic(
        &a,
        &Array::from_vec(vec![i64::MIN, i64::MAX]).unwrap(),
        &[0, 1],
        &[1, 2],
    )
    .unwrap();
    assert_eq!(w.to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
    assert_eq!(
        slice_dynamic(&e, &Array::scalar(3i32), &[0], &[0, 2])
            .unwrap()
            .shape(),
        &[0, 2]
    );
    let nine = Array::scalar(9.0f32);
    let u = slice_update(&a, &nine, &[0, 0], &[2, 3], &[isize::MIN, 1]).unwrap();
    assert_eq!(
        u.to_vec::<f32>().unwrap(),
        vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    );
    let u = slice_update(&a, &nine, &[-1, 0], &[-3, 3], &[isize::MIN, 1]).unwrap();
    assert_eq!(
        u.to_vec::<f32>().unwrap(),
        vec![0.0, 1.0, 2.0, 9.0, 9.0, 9.0]
    );
    assert!(bartlett(usize::MAX).is_err());
    assert!(meshgrid(&[], false, "xy").unwrap().is_empty());
}

#[test]
fn large_inputs_use_the_parallel_paths() {
    // Past the kernels' parallel threshold, with non-contiguous views.
    let (n, m) = (300usize, 257usize);
    let mut rng = Lcg(13);
    let x = input(&mut rng, &[n, m], Dtype::Float32, Layout::Transposed);
    let (idx, iv) = gen_indices(&mut rng, &[m + 5], m, Dtype::Int32, false);
    let got = take(&x.a, &idx, Some(1)).unwrap();
    let want = R::from_fn(&[n, m + 5], |o| match wrap_ref(iv[o[1]], m) {
        Some(j) => x.re.at(&[o[0], j]),
        None => 0.0,
    });
    check(&got, &want, None, "large take");
    let y = input(&mut rng, &[n, 3], Dtype::Float32, Layout::Strided);
    let got = concatenate(&[x.a.clone(), y.a.clone()], Some(1)).unwrap();
    check(
        &got,
        &concat_ref(&[&x.re, &y.re], 1),
        None,
        "large concatenate",
    );
    let u = input(
        &mut rng,
        &[n, m / 2 + 1],
        Dtype::Float32,
        Layout::Transposed,
    );
    let got = slice_update(&x.a, &u.a, &[0, 0], &[n as isize, m as isize], &[1, 2]).unwrap();
    let want = R::from_fn(&[n, m], |o| {
        if o[1] % 2 == 0 {
            u.re.at(&[o[0], o[1] / 2])
        } else {
            x.re.at(o)
        }
    });
    check(&got, &want, None, "large slice_update");
}

#[test]
fn axis_errors_match_mlx_kinds() {
    // Scalars have no axis 0: IndexError in MLX.
    let s = Array::scalar(1.0f32);
    index_err_of(unstack(&s, 0));
    index_err_of(diff(&s, 1, -1));
    index_err_of(split(&s, 1usize, 0));
    // Duplicate axes stay a ValueError.
    let a = zeros(&[2, 3], None).unwrap();
    let i = Array::from_vec(vec![0i32]).unwrap();
    err_of(slice_dynamic(
        &a,
        &Array::from_vec(vec![0i32, 0]).unwrap(),
        &[0, 0],
        &[1, 1],
    ));
    let _ = i;
}

#[test]
fn flip_reverses_a_repeated_axis_once() {
    let a = Array::from_slice(&[1i32, 2, 3, 4, 5, 6], &[2, 3]).unwrap();
    let once = flip(&a, Some(&[0])).unwrap().to_vec::<i32>().unwrap();
    for axes in [&[0isize, 0][..], &[0, -2, 0]] {
        let got = flip(&a, Some(axes)).unwrap().to_vec::<i32>().unwrap();
        assert_eq!(got, once, "flip {axes:?}");
    }
    assert_eq!(
        flip(&a, Some(&[1, -1, 0]))
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        vec![6, 5, 4, 3, 2, 1]
    );
}

// ---------------------------------------------------------------- general gather, masked scatter

#[test]
fn gather_matches_reference() {
    let mut rng = Lcg(21);
    // (array shape, index shapes (broadcast together), axes, slice sizes)
    let cases: [(&[usize], &[&[usize]], &[isize], &[usize]); 6] = [
        (&[7], &[&[5]], &[0], &[1]),
        (&[4, 5], &[&[3, 1], &[1, 2]], &[0, 1], &[1, 1]),
        (&[5, 3, 4], &[&[2, 2]], &[1], &[5, 1, 4]),
        (&[4, 3, 5], &[&[6], &[6]], &[-1, 0], &[1, 3, 1]),
        (&[3, 4], &[&[]], &[1], &[2, 1]),
        // Windows wider than 1 on an indexed axis: those that run past the end read 0.
        (&[6, 2], &[&[4]], &[0], &[3, 2]),
    ];
    for (shape, ishapes, axes, sizes) in cases {
        for dt in DTYPES {
            let layout = LAYOUTS[rng.below(3) as usize];
            let x = input(&mut rng, shape, dt, layout);
            let nax: Vec<usize> = axes
                .iter()
                .map(|&a| a.rem_euclid(shape.len() as isize) as usize)
                .collect();
            let idx: Vec<(Array, Vec<i64>)> = nax
                .iter()
                .zip(ishapes)
                .map(|(&ax, &is)| {
                    let idt = INDEX_DTYPES[rng.below(5) as usize];
                    gen_indices(&mut rng, is, shape[ax], idt, false)
                })
                .collect();
            let arrays: Vec<Array> = idx.iter().map(|i| i.0.clone()).collect();
            let what = format!("gather {shape:?} idx {ishapes:?} axes {axes:?} {dt} {layout:?}");
            let got = gather(&x.a, &arrays, axes, sizes).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(got.dtype(), dt, "{what}");
            let index_shape = ishapes.iter().fold(vec![], |acc: Vec<usize>, s| {
                broadcast_shapes(&[&acc, s]).unwrap()
            });
            let reference = |r: &R| {
                let mut out = index_shape.clone();
                out.extend(sizes);
                R::from_fn(&out, |o| {
                    let (ipos, spos) = o.split_at(index_shape.len());
                    let mut corner = vec![0usize; shape.len()];
                    for (k, &ax) in nax.iter().enumerate() {
                        // The index array's own position under broadcasting.
                        let ish = ishapes[k];
                        let off = ish.len();
                        let own: Vec<usize> = (0..off)
                            .map(|d| {
                                let p = ipos[index_shape.len() - off + d];
                                if ish[d] == 1 {
                                    0
                                } else {
                                    p
                                }
                            })
                            .collect();
                        let flat = own.iter().zip(ish).fold(0, |a, (&i, &m)| a * m + i);
                        match wrap_ref(idx[k].1[flat], shape[ax]) {
                            Some(j) if j + sizes[ax] <= shape[ax] => corner[ax] = j,
                            _ => return 0.0,
                        }
                    }
                    let at: Vec<usize> = corner.iter().zip(spos).map(|(c, s)| c + s).collect();
                    r.at(&at)
                })
            };
            let im = x.im.as_ref().map(&reference);
            check(&got, &reference(&x.re), im.as_ref(), &what);
        }
    }
    // No index arrays: the window at the origin.
    let a = arange(0.0, 12.0, 1.0, Some(Dtype::Int32))
        .unwrap()
        .reshape(&[3, 4])
        .unwrap();
    let got = gather(&a, &[], &[], &[2, 3]).unwrap();
    assert_eq!(got.shape(), &[2, 3]);
    assert_eq!(got.to_vec::<i32>().unwrap(), vec![0, 1, 2, 4, 5, 6]);
    // Empty index arrays give an empty result.
    let e = Array::from_slice::<i32>(&[], &[0]).unwrap();
    let got = gather(&a, &[e], &[0], &[1, 4]).unwrap();
    assert_eq!(got.shape(), &[0, 1, 4]);
    assert!(got.to_vec::<i32>().unwrap().is_empty());
}

#[test]
fn gather_errors() {
    let a = zeros(&[2, 3], None).unwrap();
    let i = Array::from_vec(vec![0i32, 1]).unwrap();
    let m = err_of(gather(&a, &[i.clone()], &[0, 1], &[1, 3]));
    assert!(m.contains("1 index arrays") && m.contains("2 axes"), "{m}");
    let m = err_of(gather(&a, &[i.clone()], &[2], &[1, 3]));
    assert!(m.to_lowercase().contains("axis 2"), "{m}");
    let m = err_of(gather(&a, &[i.clone(), i.clone()], &[0, 0], &[1, 1]));
    assert!(m.contains("Duplicate"), "{m}");
    let m = err_of(gather(&a, &[i.clone()], &[0], &[1, 4]));
    assert!(m.contains("[1, 4]") && m.contains("[2, 3]"), "{m}");
    let m = err_of(gather(&a, &[i.clone()], &[0], &[1]));
    assert!(m.contains("slice_sizes"), "{m}");
    let three = Array::from_vec(vec![0i32, 1, 2]).unwrap();
    let m = err_of(gather(&a, &[i.clone(), three], &[0, 1], &[1, 1]));
    assert!(m.contains("broadcast"), "{m}");
    let f = zeros(&[2], Some(Dtype::Float32)).unwrap();
    let m = err_of(gather(&a, &[f], &[0], &[1, 3]));
    assert!(m.contains("float32") && m.contains("integer"), "{m}");
}

#[test]
fn masked_scatter_matches_reference() {
    let mut rng = Lcg(22);
    let cases: [(&[usize], &[usize], &[usize]); 4] = [
        (&[7], &[7], &[9]),
        (&[3, 4], &[3, 4], &[2, 6]),
        // The mask broadcasts: whole rows at a time.
        (&[4, 3], &[4, 1], &[12]),
        (&[2, 3, 2], &[3, 2], &[3, 2, 2]),
    ];
    for (shape, mshape, sshape) in cases {
        for dt in DTYPES {
            let layout = LAYOUTS[rng.below(3) as usize];
            let x = input(&mut rng, shape, dt, layout);
            let sl = LAYOUTS[rng.below(3) as usize];
            let s = input(&mut rng, sshape, dt, sl);
            let mv: Vec<bool> = (0..mshape.iter().product::<usize>())
                .map(|_| rng.below(2) == 1)
                .collect();
            let mask = Array::from_slice(&mv, mshape).unwrap();
            let what = format!("masked_scatter {shape:?} mask {mshape:?} src {sshape:?} {dt}");
            let got = masked_scatter(&x.a, &mask, &s.a).unwrap();
            let reference = |r: &R, src: &R| {
                let mut out = r.clone();
                let mut k = 0;
                for p in 0..out.v.len() {
                    let pos = unravel(p, shape);
                    let mpos: Vec<usize> = pos[shape.len() - mshape.len()..]
                        .iter()
                        .zip(mshape)
                        .map(|(&i, &m)| if m == 1 { 0 } else { i })
                        .collect();
                    let mflat = mpos.iter().zip(mshape).fold(0, |a, (&i, &m)| a * m + i);
                    if mv[mflat] {
                        out.v[p] = src.v[k];
                        k += 1;
                    }
                }
                out
            };
            let im =
                x.im.as_ref()
                    .map(|xi| reference(xi, s.im.as_ref().unwrap()));
            check(&got, &reference(&x.re, &s.re), im.as_ref(), &what);
            check(&x.a, &x.re, x.im.as_ref(), &format!("{what} input intact"));
        }
    }
    // The source is cast to the array's dtype.
    let a = zeros(&[3], Some(Dtype::Int32)).unwrap();
    let mask = Array::from_slice(&[true, false, true], &[3]).unwrap();
    let got = masked_scatter(&a, &mask, &Array::from_slice(&[1.5f32, 2.5], &[2]).unwrap()).unwrap();
    assert_eq!(got.dtype(), Dtype::Int32);
    assert_eq!(got.to_vec::<i32>().unwrap(), vec![1, 0, 2]);
}

#[test]
fn masked_scatter_errors() {
    let a = zeros(&[2, 3], None).unwrap();
    let m = err_of(masked_scatter(&a, &zeros(&[2, 3], None).unwrap(), &a));
    assert!(m.contains("boolean") && m.contains("float32"), "{m}");
    let mask = Array::from_slice(&[true, false], &[2]).unwrap();
    let m = err_of(masked_scatter(&a, &mask, &a));
    assert!(m.contains("[2]") && m.contains("[2, 3]"), "{m}");
    // Too few source elements: known only from the mask's values, so an evaluation error.
    let mask = Array::from_slice(&[true, true, false], &[3]).unwrap();
    let r = masked_scatter(&a, &mask, &zeros(&[3], None).unwrap()).unwrap();
    match r.eval() {
        Err(ferrox::Error::Runtime(m)) => assert!(m.contains("enough elements"), "{m}"),
        other => panic!("expected a runtime error, got {other:?}"),
    }
    // Exactly enough is fine, and an all-false mask needs none.
    let r = masked_scatter(&a, &mask, &zeros(&[4], None).unwrap()).unwrap();
    assert!(r.eval().is_ok());
    let none = Array::from_slice(&[false, false, false], &[3]).unwrap();
    let e = Array::from_slice::<f32>(&[], &[0]).unwrap();
    assert_eq!(
        masked_scatter(&a, &none, &e)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![0.0; 6]
    );
}
