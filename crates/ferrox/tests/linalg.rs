//! ops::linalg against reconstruction identities (Q R = A, L[p] U = A, U S Vᵀ = A,
//! A V = V diag(w), ...) and float64 formulas, on random well-conditioned matrices of
//! several shapes and batch shapes, float32 and float64, contiguous and transposed views;
//! gradients against central differences, jvp against vjp, vmap against a loop; errors.

mod common;
use common::Lcg;
use ferrox::ops::linalg::{self, NormOrd};
use ferrox::transforms::{grad, jvp, vjp, vmap};
use ferrox::{ops, Array, Dtype, Error, Result};

fn rand(shape: &[usize], dtype: Dtype, seed: u64) -> Array {
    let n = shape.iter().product();
    let v = common::random_values(n, Dtype::Float64, -1.0, 1.0, &mut Lcg(seed));
    common::array_of(&v, shape, dtype)
}

/// A random matrix batch made well conditioned: `x + n·I` on square shapes.
fn well(shape: &[usize], dtype: Dtype, seed: u64) -> Array {
    let x = rand(shape, dtype, seed);
    let nd = shape.len();
    if shape[nd - 1] != shape[nd - 2] {
        return x;
    }
    let n = shape[nd - 1];
    let eye = ops::eye(n, None, 0, Some(dtype)).unwrap();
    ops::add(&x, &ops::multiply(&eye, n as f64 + 1.0).unwrap()).unwrap()
}

/// A symmetric positive-definite batch: `x xᵀ + n·I`.
fn spd(shape: &[usize], dtype: Dtype, seed: u64) -> Array {
    let x = rand(shape, dtype, seed);
    let n = shape[shape.len() - 1];
    let xxt = ops::matmul(&x, &mt(&x)).unwrap();
    let eye = ops::eye(n, None, 0, Some(dtype)).unwrap();
    ops::add(&xxt, &ops::multiply(&eye, n as f64).unwrap()).unwrap()
}

fn mt(x: &Array) -> Array {
    ops::swapaxes(x, -1, -2).unwrap()
}

/// The same values as a transposed (non-contiguous) view.
fn strided(x: &Array) -> Array {
    let c = ops::contiguous(&mt(x)).unwrap();
    c.eval().unwrap();
    mt(&c)
}

fn v64(a: &Array) -> Vec<f64> {
    ops::astype(a, Dtype::Float64)
        .unwrap()
        .to_vec::<f64>()
        .unwrap()
}

fn tol(dtype: Dtype) -> f64 {
    if dtype == Dtype::Float32 {
        2e-4
    } else {
        1e-10
    }
}

fn close(what: &str, got: &Array, want: &Array, tol: f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes");
    let (g, w) = (v64(got), v64(want));
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}: element {i}: got {a}, want {b}"
        );
    }
}

fn eye_like(n: usize, batch: &[usize], dtype: Dtype) -> Array {
    let e = ops::eye(n, None, 0, Some(dtype)).unwrap();
    ops::broadcast_to(&e, &[batch, &[n, n]].concat()).unwrap()
}

const SQUARE: &[&[usize]] = &[&[1, 1], &[3, 3], &[2, 4, 4], &[2, 1, 5, 5]];
const RECT: &[&[usize]] = &[&[3, 3], &[5, 3], &[2, 3, 5], &[2, 1, 4, 2]];
const DTYPES: [Dtype; 2] = [Dtype::Float32, Dtype::Float64];

fn inputs(shape: &[usize], dtype: Dtype, seed: u64) -> [Array; 2] {
    let a = well(shape, dtype, seed);
    [a.clone(), strided(&a)]
}

#[test]
fn lu_reconstructs_with_unit_lower_and_upper_factors() {
    for &shape in RECT {
        for dtype in DTYPES {
            for a in inputs(shape, dtype, 1) {
                let (p, l, u) = linalg::lu(&a).unwrap();
                assert_eq!(p.dtype(), Dtype::Uint32);
                let nd = shape.len();
                let k = shape[nd - 1].min(shape[nd - 2]);
                assert_eq!(
                    l.shape(),
                    &[&shape[..nd - 2], &[shape[nd - 2], k]].concat()[..]
                );
                // A = L[p] @ U.
                let lp = ops::take_along_axis(
                    &l,
                    &ops::expand_dims(&ops::astype(&p, Dtype::Int32).unwrap(), &[-1]).unwrap(),
                    Some(-2),
                )
                .unwrap();
                close("L[p] U", &ops::matmul(&lp, &u).unwrap(), &a, tol(dtype));
                close("L lower", &ops::tril(&l, 0).unwrap(), &l, 0.0);
                close("U upper", &ops::triu(&u, 0).unwrap(), &u, 0.0);
                // lu_factor: the packed factors and swaps that replay the permutation.
                let (packed, piv) = linalg::lu_factor(&a).unwrap();
                assert_eq!(piv.shape(), &[&shape[..nd - 2], &[k]].concat()[..]);
                let pad = ops::zeros(
                    &[&shape[..nd - 2], &[shape[nd - 2] - k, shape[nd - 1]]].concat(),
                    Some(dtype),
                )
                .unwrap();
                let u_full = ops::concatenate(&[u.clone(), pad], Some(-2)).unwrap();
                close("packed U", &ops::triu(&packed, 0).unwrap(), &u_full, 0.0);
                let (pv, perm) = (v64(&piv), v64(&p));
                let m = shape[nd - 2];
                for b in 0..pv.len() / k {
                    let mut rows: Vec<usize> = (0..m).collect();
                    for i in 0..k {
                        rows.swap(i, pv[b * k + i] as usize);
                    }
                    // rows[i] is the row of A at row i of L U; p is its inverse.
                    for (i, &r) in rows.iter().enumerate() {
                        assert_eq!(perm[b * m + r] as usize, i, "pivots replay the permutation");
                    }
                }
            }
        }
    }
}

#[test]
fn qr_gives_orthonormal_q_and_upper_r() {
    for &shape in RECT {
        for dtype in DTYPES {
            for a in inputs(shape, dtype, 2) {
                let (q, r) = linalg::qr(&a).unwrap();
                let nd = shape.len();
                let k = shape[nd - 1].min(shape[nd - 2]);
                close("Q R", &ops::matmul(&q, &r).unwrap(), &a, tol(dtype));
                close(
                    "QᵀQ",
                    &ops::matmul(&mt(&q), &q).unwrap(),
                    &eye_like(k, &shape[..nd - 2], dtype),
                    tol(dtype),
                );
                close("R upper", &ops::triu(&r, 0).unwrap(), &r, 0.0);
            }
        }
    }
}

#[test]
fn svd_reconstructs_with_descending_values() {
    for &shape in RECT {
        for dtype in DTYPES {
            for a in inputs(shape, dtype, 3) {
                let o = linalg::svd(&a, true).unwrap();
                let (u, s, vt) = (&o[0], &o[1], &o[2]);
                let nd = shape.len();
                let (m, n) = (shape[nd - 2], shape[nd - 1]);
                let k = m.min(n);
                let batch = &shape[..nd - 2];
                close(
                    "UᵀU",
                    &ops::matmul(&mt(u), u).unwrap(),
                    &eye_like(m, batch, dtype),
                    tol(dtype),
                );
                close(
                    "VVᵀ",
                    &ops::matmul(vt, &mt(vt)).unwrap(),
                    &eye_like(n, batch, dtype),
                    tol(dtype),
                );
                let uk = ops::slice(
                    u,
                    &vec![0; nd],
                    &[
                        batch.iter().map(|&d| d as isize).collect::<Vec<_>>(),
                        vec![m as isize, k as isize],
                    ]
                    .concat(),
                    &vec![1; nd],
                )
                .unwrap();
                let vk = ops::slice(
                    vt,
                    &vec![0; nd],
                    &[
                        batch.iter().map(|&d| d as isize).collect::<Vec<_>>(),
                        vec![k as isize, n as isize],
                    ]
                    .concat(),
                    &vec![1; nd],
                )
                .unwrap();
                let us = ops::multiply(&uk, &ops::expand_dims(s, &[-2]).unwrap()).unwrap();
                close("U S Vt", &ops::matmul(&us, &vk).unwrap(), &a, tol(dtype));
                let sv = v64(s);
                for w in sv.chunks(k) {
                    assert!(w.windows(2).all(|p| p[0] >= p[1]) && w[k - 1] >= 0.0);
                }
                close(
                    "S alone",
                    &linalg::svd(&a, false).unwrap()[0],
                    s,
                    tol(dtype),
                );
            }
        }
    }
}

#[test]
fn eigh_and_eigvalsh_diagonalise_symmetric_matrices() {
    for &shape in SQUARE {
        for dtype in DTYPES {
            let a = spd(shape, dtype, 4);
            for uplo in ["L", "U"] {
                // Only the named triangle is read.
                let half = if uplo == "L" {
                    ops::tril(&a, 0)
                } else {
                    ops::triu(&a, 0)
                }
                .unwrap();
                let (w, v) = linalg::eigh(&strided(&half), uplo).unwrap();
                let vw = ops::multiply(&v, &ops::expand_dims(&w, &[-2]).unwrap()).unwrap();
                close(
                    "A V = V w",
                    &ops::matmul(&a, &v).unwrap(),
                    &vw,
                    tol(dtype) * 10.0,
                );
                let wv = v64(&w);
                let n = shape[shape.len() - 1];
                for c in wv.chunks(n) {
                    assert!(c.windows(2).all(|p| p[0] <= p[1]), "ascending");
                }
                close(
                    "eigvalsh",
                    &linalg::eigvalsh(&half, uplo).unwrap(),
                    &w,
                    tol(dtype) * 10.0,
                );
            }
        }
    }
}

#[test]
fn eig_satisfies_a_v_equals_v_w_in_complex64() {
    for &shape in SQUARE {
        for dtype in DTYPES {
            let a = rand(shape, dtype, 5);
            let (w, v) = linalg::eig(&a).unwrap();
            assert_eq!((w.dtype(), v.dtype()), (Dtype::Complex64, Dtype::Complex64));
            let ac = ops::astype(&a, Dtype::Complex64).unwrap();
            let lhs = ops::matmul(&ac, &v).unwrap();
            let rhs = ops::multiply(&v, &ops::expand_dims(&w, &[-2]).unwrap()).unwrap();
            let diff = ops::abs(&ops::subtract(&lhs, &rhs).unwrap()).unwrap();
            assert!(v64(&diff).iter().all(|d| *d < 1e-4), "A V = V w");
            // Unit columns.
            let norms =
                ops::sum(&ops::square(&ops::abs(&v).unwrap()).unwrap(), &[-2], false).unwrap();
            assert!(v64(&norms).iter().all(|x| (x - 1.0).abs() < 1e-5));
            // eigvals: the same values (same algorithm, same order).
            let d = ops::abs(&ops::subtract(&linalg::eigvals(&a).unwrap(), &w).unwrap()).unwrap();
            assert!(v64(&d).iter().all(|x| *x < 1e-5));
        }
    }
    // A rotation has eigenvalues ±i.
    let r = Array::from_slice(&[0.0f32, -1.0, 1.0, 0.0], &[2, 2]).unwrap();
    let w = linalg::eigvals(&r).unwrap();
    let im = ops::imag(&w).unwrap();
    let mut got = v64(&im);
    got.sort_by(f64::total_cmp);
    assert!((got[0] + 1.0).abs() < 1e-6 && (got[1] - 1.0).abs() < 1e-6);
}

#[test]
fn cholesky_and_its_inverse() {
    for &shape in SQUARE {
        for dtype in DTYPES {
            let a = spd(shape, dtype, 6);
            let l = linalg::cholesky(&strided(&a), false).unwrap();
            close("L lower", &ops::tril(&l, 0).unwrap(), &l, 0.0);
            close("L Lᵀ", &ops::matmul(&l, &mt(&l)).unwrap(), &a, tol(dtype));
            let u = linalg::cholesky(&a, true).unwrap();
            close("U upper", &ops::triu(&u, 0).unwrap(), &u, 0.0);
            close("Uᵀ U", &ops::matmul(&mt(&u), &u).unwrap(), &a, tol(dtype));
            let inv = linalg::inv(&a).unwrap();
            close(
                "cholesky_inv",
                &linalg::cholesky_inv(&l, false).unwrap(),
                &inv,
                tol(dtype) * 10.0,
            );
            close(
                "cholesky_inv upper",
                &linalg::cholesky_inv(&u, true).unwrap(),
                &inv,
                tol(dtype) * 10.0,
            );
        }
    }
    // Not positive definite: LAPACK's partial factor, as MLX returns (no error).
    let a = Array::from_slice(&[1.0f32, 2.0, 2.0, 1.0], &[2, 2]).unwrap();
    assert_eq!(
        linalg::cholesky(&a, false)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![1.0, 0.0, 2.0, -3.0]
    );
}

#[test]
fn inverses_and_solves() {
    for &shape in SQUARE {
        for dtype in DTYPES {
            for a in inputs(shape, dtype, 7) {
                let nd = shape.len();
                let n = shape[nd - 1];
                let batch = &shape[..nd - 2];
                let eye = eye_like(n, batch, dtype);
                close(
                    "A A⁻¹",
                    &ops::matmul(&a, &linalg::inv(&a).unwrap()).unwrap(),
                    &eye,
                    tol(dtype),
                );
                for upper in [false, true] {
                    let t = if upper {
                        ops::triu(&a, 0)
                    } else {
                        ops::tril(&a, 0)
                    }
                    .unwrap();
                    let ti = linalg::tri_inv(&a, upper).unwrap();
                    close("T T⁻¹", &ops::matmul(&t, &ti).unwrap(), &eye, tol(dtype));
                    let b = rand(&[batch, &[n, 2]].concat(), dtype, 8);
                    let x = linalg::solve_triangular(&a, &b, upper).unwrap();
                    close("T x = b", &ops::matmul(&t, &x).unwrap(), &b, tol(dtype));
                }
                // Matrix and vector right-hand sides; batch axes broadcast.
                let b = rand(&[&[2], batch, &[n, 3]].concat(), dtype, 9);
                let x = linalg::solve(&a, &b).unwrap();
                close("A x = b", &ops::matmul(&a, &x).unwrap(), &b, tol(dtype));
                let bv = rand(&[n], dtype, 10);
                let xv = linalg::solve(&a, &bv).unwrap();
                assert_eq!(xv.shape(), &[batch, &[n]].concat()[..]);
                let back = ops::matmul(&a, &ops::expand_dims(&xv, &[-1]).unwrap()).unwrap();
                let want = ops::broadcast_to(&ops::expand_dims(&bv, &[-1]).unwrap(), back.shape())
                    .unwrap();
                close("A x = b (vector)", &back, &want, tol(dtype));
                // pinv of an invertible matrix is its inverse.
                close(
                    "pinv",
                    &linalg::pinv(&a).unwrap(),
                    &linalg::inv(&a).unwrap(),
                    tol(dtype) * 10.0,
                );
            }
        }
    }
    // pinv of rectangular matrices: A A⁺ A = A.
    for &shape in RECT {
        let a = rand(shape, Dtype::Float64, 11);
        let p = linalg::pinv(&a).unwrap();
        close(
            "A A⁺ A",
            &ops::matmul(&ops::matmul(&a, &p).unwrap(), &a).unwrap(),
            &a,
            1e-10,
        );
    }
    // A singular matrix: inv fails when evaluated (as MLX's RuntimeError); pinv works.
    let s = Array::from_slice(&[1.0f32, 2.0, 2.0, 4.0], &[2, 2]).unwrap();
    assert!(matches!(
        linalg::inv(&s).unwrap().eval(),
        Err(Error::Runtime(_))
    ));
    let b = Array::from_slice(&[1.0f32, 1.0], &[2]).unwrap();
    assert!(matches!(
        linalg::solve(&s, &b).unwrap().eval(),
        Err(Error::Runtime(_))
    ));
    let p = linalg::pinv(&s).unwrap().to_vec::<f32>().unwrap();
    for (g, w) in p.iter().zip([0.04f32, 0.08, 0.08, 0.16]) {
        assert!((g - w).abs() < 1e-6);
    }
}

/// Determinant by cofactor expansion in f64.
fn det_ref(m: &[f64], n: usize) -> f64 {
    if n == 1 {
        return m[0];
    }
    (0..n)
        .map(|j| {
            let minor: Vec<f64> = (1..n)
                .flat_map(|i| (0..n).filter(move |&c| c != j).map(move |c| (i, c)))
                .map(|(i, c)| m[i * n + c])
                .collect();
            let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
            sign * m[j] * det_ref(&minor, n - 1)
        })
        .sum()
}

#[test]
fn det_and_slogdet_match_cofactor_expansion() {
    for &shape in SQUARE {
        for dtype in DTYPES {
            for a in [rand(shape, dtype, 12), strided(&rand(shape, dtype, 12))] {
                let n = shape[shape.len() - 1];
                let x = v64(&a);
                let want: Vec<f64> = x.chunks(n * n).map(|m| det_ref(m, n)).collect();
                let d = linalg::det(&a).unwrap();
                assert_eq!(d.shape(), &shape[..shape.len() - 2]);
                let got = v64(&d);
                let (s, l) = linalg::slogdet(&a).unwrap();
                let (sv, lv) = (v64(&s), v64(&l));
                for i in 0..want.len() {
                    assert!((got[i] - want[i]).abs() < tol(dtype) * (1.0 + want[i].abs()));
                    assert_eq!(sv[i], want[i].signum());
                    assert!((lv[i] - want[i].abs().ln()).abs() < tol(dtype) * 10.0);
                }
            }
        }
    }
    // Singular: det 0, slogdet (0, -inf); integers are computed in float32.
    let s = Array::from_slice(&[1i32, 2, 2, 4], &[2, 2]).unwrap();
    let d = linalg::det(&s).unwrap();
    assert_eq!((d.dtype(), d.item::<f32>().unwrap()), (Dtype::Float32, 0.0));
    let (sg, l) = linalg::slogdet(&s).unwrap();
    assert_eq!(
        (sg.item::<f32>().unwrap(), l.item::<f32>().unwrap()),
        (0.0, f32::NEG_INFINITY)
    );
}

#[test]
fn norms_match_their_definitions() {
    let x = rand(&[3, 4], Dtype::Float64, 13);
    let v = v64(&x);
    let row = |i: usize| v[i * 4..i * 4 + 4].to_vec();
    let num = |p: f64| NormOrd::Num(p);
    let vec_ref = |r: &[f64], p: f64| -> f64 {
        match p {
            p if p == f64::INFINITY => r.iter().map(|a| a.abs()).fold(0.0, f64::max),
            p if p == f64::NEG_INFINITY => r.iter().map(|a| a.abs()).fold(f64::INFINITY, f64::min),
            0.0 => r.iter().filter(|a| **a != 0.0).count() as f64,
            p => r.iter().map(|a| a.abs().powf(p)).sum::<f64>().powf(1.0 / p),
        }
    };
    for p in [
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        1.0,
        -1.0,
        2.0,
        -2.0,
        3.0,
        0.5,
    ] {
        let got = v64(&linalg::norm(&x, Some(&num(p)), Some(&[1]), false).unwrap());
        for i in 0..3 {
            assert!(
                (got[i] - vec_ref(&row(i), p)).abs() < 1e-12,
                "vector ord {p}"
            );
        }
        let one = linalg::norm(
            &ops::slice(&x, &[0, 0], &[1, 4], &[1, 1])
                .unwrap()
                .reshape(&[4])
                .unwrap(),
            Some(&num(p)),
            None,
            false,
        )
        .unwrap();
        assert!((one.item::<f64>().unwrap() - vec_ref(&row(0), p)).abs() < 1e-12);
    }
    let fro = v.iter().map(|a| a * a).sum::<f64>().sqrt();
    for ord in [None, Some(NormOrd::Str("fro".into()))] {
        assert!(
            (linalg::norm(&x, ord.as_ref(), None, false)
                .unwrap()
                .item::<f64>()
                .unwrap()
                - fro)
                .abs()
                < 1e-12
        );
    }
    let s = v64(&linalg::svd(&x, false).unwrap()[0]);
    let row_sums: Vec<f64> = (0..3)
        .map(|i| row(i).iter().map(|a| a.abs()).sum())
        .collect();
    let col_sums: Vec<f64> = (0..4)
        .map(|j| (0..3).map(|i| v[i * 4 + j].abs()).sum())
        .collect();
    let mx = |x: &[f64]| x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mn = |x: &[f64]| x.iter().cloned().fold(f64::INFINITY, f64::min);
    let cases = [
        (NormOrd::Str("nuc".into()), s.iter().sum::<f64>()),
        (num(2.0), mx(&s)),
        (num(-2.0), mn(&s)),
        (num(f64::INFINITY), mx(&row_sums)),
        (num(f64::NEG_INFINITY), mn(&row_sums)),
        (num(1.0), mx(&col_sums)),
        (num(-1.0), mn(&col_sums)),
    ];
    for (ord, want) in cases {
        let got = linalg::norm(&x, Some(&ord), None, false).unwrap();
        assert!((got.item::<f64>().unwrap() - want).abs() < 1e-10, "{ord:?}");
        // Axes reversed: the transpose's norm; keepdims keeps both axes.
        let t = linalg::norm(&mt(&x), Some(&ord), Some(&[1, 0]), true).unwrap();
        assert_eq!(t.shape(), &[1, 1]);
        assert!((t.reshape(&[]).unwrap().item::<f64>().unwrap() - want).abs() < 1e-10);
    }
    // No ord, no axis: all elements of any ndim; integers give float32.
    let c = ops::ones(&[2, 3, 4], Some(Dtype::Int32)).unwrap();
    let n = linalg::norm(&c, None, None, true).unwrap();
    assert_eq!(
        (n.shape(), n.dtype()),
        (&[1usize, 1, 1][..], Dtype::Float32)
    );
    assert!((n.reshape(&[]).unwrap().item::<f32>().unwrap() - 24f32.sqrt()).abs() < 1e-6);
    // Batched matrix norm over axes (0, 2).
    let b = rand(&[3, 2, 4], Dtype::Float64, 14);
    let got = linalg::norm(&b, Some(&num(2.0)), Some(&[0, 2]), false).unwrap();
    let per = ops::swapaxes(&b, 0, 1).unwrap();
    let want = ops::max(&linalg::svd(&per, false).unwrap()[0], &[-1], false).unwrap();
    close("batched 2-norm", &got, &want, 1e-12);
}

#[test]
fn cross_matches_the_formula() {
    let a = rand(&[4, 3], Dtype::Float32, 15);
    let b = rand(&[3], Dtype::Float32, 16);
    let c = linalg::cross(&a, &b, -1).unwrap();
    let (av, bv, cv) = (v64(&a), v64(&b), v64(&c));
    for i in 0..4 {
        let x = &av[i * 3..i * 3 + 3];
        let want = [
            x[1] * bv[2] - x[2] * bv[1],
            x[2] * bv[0] - x[0] * bv[2],
            x[0] * bv[1] - x[1] * bv[0],
        ];
        for k in 0..3 {
            assert!((cv[i * 3 + k] - want[k]).abs() < 1e-6);
        }
    }
    // Along axis 0; a 2-vector has a zero third component.
    let c0 = linalg::cross(&mt(&a), &ops::expand_dims(&b, &[1]).unwrap(), 0).unwrap();
    close("axis 0", &c0, &mt(&c), 1e-6);
    let e1 = Array::from_slice(&[1.0f32, 0.0], &[2]).unwrap();
    let e2 = Array::from_slice(&[0.0f32, 1.0, 0.0], &[3]).unwrap();
    assert_eq!(
        linalg::cross(&e1, &e2, -1)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![0.0, 0.0, 1.0]
    );
}

// ---- derivatives -----------------------------------------------------------------------

type F<'a> = dyn Fn(&Array) -> Result<Array> + 'a;

/// The gradient of `sum(f(x) * w)` against central differences (float64).
fn check_grad(name: &str, f: &F<'_>, x: &Array) {
    let w = rand(f(x).unwrap().shape(), Dtype::Float64, 99);
    let loss = |a: &[Array]| -> Result<Vec<Array>> {
        Ok(vec![ops::sum(&ops::multiply(&f(&a[0])?, &w)?, &[], false)?])
    };
    let g = v64(&grad(loss, &[0])(std::slice::from_ref(x)).unwrap()[0]);
    let base = v64(x);
    let eps = 1e-6;
    for i in 0..base.len() {
        let at = |d: f64| {
            let mut v = base.clone();
            v[i] += d;
            let a = Array::from_slice(&v, x.shape()).unwrap();
            loss(&[a]).unwrap()[0].item::<f64>().unwrap()
        };
        let num = (at(eps) - at(-eps)) / (2.0 * eps);
        assert!(
            (g[i] - num).abs() < 1e-5 * (1.0 + num.abs()),
            "{name}: d/dx[{i}]: got {}, want {num}",
            g[i]
        );
    }
}

/// `<J t, u> = <t, Jᵀ u>`.
fn check_jvp_vjp(name: &str, f: &F<'_>, x: &Array) {
    let g = |a: &[Array]| -> Result<Vec<Array>> { Ok(vec![f(&a[0])?]) };
    let t = rand(x.shape(), Dtype::Float64, 31);
    let (out, jv) = jvp(g, std::slice::from_ref(x), &[t.clone()]).unwrap();
    let u = rand(out[0].shape(), Dtype::Float64, 32);
    let (_, vj) = vjp(g, std::slice::from_ref(x), &[u.clone()]).unwrap();
    let dot = |a: &Array, b: &Array| v64(a).iter().zip(v64(b)).map(|(x, y)| x * y).sum::<f64>();
    let (l, r) = (dot(&jv[0], &u), dot(&t, &vj[0]));
    assert!(
        (l - r).abs() < 1e-9 * (1.0 + l.abs()),
        "{name}: <Jt,u> = {l}, <t,Jᵀu> = {r}"
    );
}

/// A symmetric input from any matrix, so that derivatives see symmetric perturbations.
fn sym(x: &Array) -> Result<Array> {
    let n = x.shape()[x.ndim() - 1];
    let s = ops::add(
        &ops::matmul(x, &ops::swapaxes(x, -1, -2)?)?,
        &ops::multiply(&ops::eye(n, None, 0, Some(x.dtype()))?, n as f64)?,
    )?;
    Ok(s)
}

#[test]
fn gradients_match_finite_differences() {
    let a = well(&[2, 3, 3], Dtype::Float64, 20);
    let tall = rand(&[4, 3], Dtype::Float64, 21);
    let b = rand(&[3, 2], Dtype::Float64, 22);
    let weights = ops::arange(1.0, 4.0, 1.0, Some(Dtype::Float64)).unwrap();
    let cases: Vec<(&str, Box<F<'_>>, Array)> = vec![
        ("inv", Box::new(linalg::inv), a.clone()),
        (
            "tri_inv",
            Box::new(|x: &Array| linalg::tri_inv(x, false)),
            a.clone(),
        ),
        (
            "tri_inv upper",
            Box::new(|x: &Array| linalg::tri_inv(x, true)),
            a.clone(),
        ),
        ("det", Box::new(linalg::det), a.clone()),
        (
            "slogdet",
            Box::new(|x: &Array| Ok(linalg::slogdet(x)?.1)),
            a.clone(),
        ),
        (
            "solve",
            Box::new(|x: &Array| linalg::solve(x, &b)),
            a.clone(),
        ),
        (
            "solve_triangular",
            Box::new(|x: &Array| linalg::solve_triangular(x, &b, true)),
            a.clone(),
        ),
        (
            "cholesky",
            Box::new(|x: &Array| linalg::cholesky(&sym(x)?, false)),
            a.clone(),
        ),
        (
            "cholesky upper",
            Box::new(|x: &Array| linalg::cholesky(&sym(x)?, true)),
            a.clone(),
        ),
        (
            "cholesky_inv",
            Box::new(|x: &Array| linalg::cholesky_inv(&linalg::cholesky(&sym(x)?, false)?, false)),
            a.clone(),
        ),
        (
            "eigvalsh",
            Box::new(|x: &Array| linalg::eigvalsh(&sym(x)?, "L")),
            a.clone(),
        ),
        // Eigenvectors up to sign: V² is sign-free.
        (
            "eigh vectors",
            Box::new(|x: &Array| {
                let (w, v) = linalg::eigh(&sym(x)?, "U")?;
                ops::add(
                    &ops::square(&v)?,
                    &ops::expand_dims(&ops::multiply(&w, &weights)?, &[-2])?,
                )
            }),
            a.clone(),
        ),
        (
            "svd values",
            Box::new(|x: &Array| Ok(linalg::svd(x, false)?.remove(0))),
            tall.clone(),
        ),
        (
            "svd vectors",
            Box::new(|x: &Array| {
                let o = linalg::svd(x, true)?;
                ops::add(
                    &ops::add(&ops::square(&o[0])?, &ops::square(&o[2])?)?,
                    &ops::expand_dims(&o[1], &[-1])?,
                )
            }),
            a.clone(),
        ),
        (
            "qr",
            Box::new(|x: &Array| {
                let (q, r) = linalg::qr(x)?;
                ops::add(&ops::sum(&q, &[-2], false)?, &ops::sum(&r, &[-2], false)?)
            }),
            tall.clone(),
        ),
        ("pinv", Box::new(linalg::pinv), a.clone()),
        // One output of several kept: the rules must not read the dropped ones.
        (
            "eigh values only",
            Box::new(|x: &Array| Ok(linalg::eigh(&sym(x)?, "L")?.0)),
            a.clone(),
        ),
        (
            "qr R only",
            Box::new(|x: &Array| Ok(linalg::qr(x)?.1)),
            tall.clone(),
        ),
        (
            "svd S only",
            Box::new(|x: &Array| Ok(linalg::svd(x, true)?.remove(1))),
            a.clone(),
        ),
        (
            "norm nuc",
            Box::new(|x: &Array| {
                linalg::norm(x, Some(&NormOrd::Str("nuc".into())), Some(&[-2, -1]), false)
            }),
            a.clone(),
        ),
        (
            "norm 2",
            Box::new(|x: &Array| linalg::norm(x, Some(&NormOrd::Num(2.0)), Some(&[-2, -1]), false)),
            a.clone(),
        ),
        (
            "norm fro",
            Box::new(|x: &Array| linalg::norm(x, None, Some(&[-2, -1]), true)),
            a.clone(),
        ),
        (
            "norm 3",
            Box::new(|x: &Array| linalg::norm(x, Some(&NormOrd::Num(3.0)), Some(&[-1]), false)),
            a.clone(),
        ),
        (
            "cross",
            Box::new(|x: &Array| linalg::cross(x, &ops::square(x)?, -1)),
            a.clone(),
        ),
    ];
    for (name, f, x) in &cases {
        check_grad(name, f.as_ref(), x);
    }
    for (name, f, x) in &cases[..12] {
        check_jvp_vjp(name, f.as_ref(), x);
    }
}

/// The first `k` columns of `x`, and the rest.
fn split_cols(x: &Array, k: usize) -> Result<(Array, Array)> {
    let nd = x.ndim();
    let c = x.shape()[nd - 1] as isize;
    let mut start = vec![0isize; nd];
    let mut stop: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
    stop[nd - 1] = k as isize;
    let head = ops::slice(x, &start, &stop, &vec![1; nd])?;
    start[nd - 1] = k as isize;
    stop[nd - 1] = c;
    Ok((head, ops::slice(x, &start, &stop, &vec![1; nd])?))
}

/// `x diag(c) xᵀ`: free of the signs of `x`'s columns.
fn outer(x: &Array, c: &Array) -> Result<Array> {
    ops::matmul(
        &ops::multiply(x, &ops::expand_dims(c, &[-2])?)?,
        &ops::swapaxes(x, -1, -2)?,
    )
}

// Non-square SVD (the singular vectors) and wide QR: losses free of the choices the
// factorisations leave open (column signs; the basis of U's or V's complement).
#[test]
fn nonsquare_factor_gradients_match_finite_differences() {
    for shape in [&[4usize, 3][..], &[3, 4], &[5, 2], &[2, 3, 5]] {
        let x = rand(shape, Dtype::Float64, 40);
        let nd = shape.len();
        let (m, n) = (shape[nd - 2], shape[nd - 1]);
        let k = m.min(n);
        let weights = ops::arange(1.0, k as f64 + 1.0, 1.0, Some(Dtype::Float64)).unwrap();
        let cases: Vec<(&str, Box<F<'_>>)> = vec![
            // U_k S V_kᵀ = A: every cotangent reaches the rule, the sum is the identity.
            (
                "svd reconstruct",
                Box::new(move |x: &Array| {
                    let o = linalg::svd(x, true)?;
                    let uk = split_cols(&o[0], k)?.0;
                    let vk = split_cols(&ops::swapaxes(&o[2], -1, -2)?, k)?.0;
                    let us = ops::multiply(&uk, &ops::expand_dims(&o[1], &[-2])?)?;
                    ops::matmul(&us, &ops::swapaxes(&vk, -1, -2)?)
                }),
            ),
            // U_k diag(c) U_kᵀ and V_k diag(c) V_kᵀ.
            (
                "svd vectors",
                Box::new(|x: &Array| {
                    let o = linalg::svd(x, true)?;
                    let uk = split_cols(&o[0], k)?.0;
                    let vk = split_cols(&ops::swapaxes(&o[2], -1, -2)?, k)?.0;
                    let pu = ops::sum(&outer(&uk, &weights)?, &[-1], false)?;
                    let pv = ops::sum(&outer(&vk, &weights)?, &[-1], false)?;
                    ops::concatenate(&[pu, pv, o[1].clone()], Some(-1))
                }),
            ),
            // The projectors on the complements: U_⊥ U_⊥ᵀ, V_⊥ V_⊥ᵀ.
            (
                "svd complements",
                Box::new(move |x: &Array| {
                    let o = linalg::svd(x, true)?;
                    let up = split_cols(&o[0], k)?.1;
                    let vp = split_cols(&ops::swapaxes(&o[2], -1, -2)?, k)?.1;
                    let pu = ops::matmul(&up, &ops::swapaxes(&up, -1, -2)?)?;
                    let pv = ops::matmul(&vp, &ops::swapaxes(&vp, -1, -2)?)?;
                    ops::concatenate(
                        &[ops::sum(&pu, &[-1], false)?, ops::sum(&pv, &[-1], false)?],
                        Some(-1),
                    )
                }),
            ),
            // Vt only (U's cotangent is zeros).
            (
                "svd Vt only",
                Box::new(|x: &Array| {
                    let vt = linalg::svd(x, true)?.remove(2);
                    let vk =
                        ops::swapaxes(&split_cols(&ops::swapaxes(&vt, -1, -2)?, k)?.0, -1, -2)?;
                    ops::square(&vk)
                }),
            ),
            ("pinv", Box::new(|x: &Array| linalg::pinv(x))),
            (
                "qr",
                // Q (m, k) and R (k, n) share their rows (wide) or columns (tall).
                Box::new(move |x: &Array| {
                    let (q, r) = linalg::qr(x)?;
                    ops::concatenate(&[q, r], Some(if m < n { -1 } else { -2 }))
                }),
            ),
            ("qr R only", Box::new(|x: &Array| Ok(linalg::qr(x)?.1))),
            ("qr Q only", Box::new(|x: &Array| Ok(linalg::qr(x)?.0))),
        ];
        for (name, f) in &cases {
            check_grad(&format!("{name} {shape:?}"), f.as_ref(), &x);
        }
    }
}

#[test]
fn vmap_matches_a_loop() {
    let x = well(&[3, 2, 3, 3], Dtype::Float64, 40);
    let fs: Vec<(&str, Box<F<'static>>)> = vec![
        ("inv", Box::new(linalg::inv)),
        ("det", Box::new(linalg::det)),
        (
            "cholesky",
            Box::new(|a: &Array| linalg::cholesky(&sym(a)?, false)),
        ),
        ("qr", Box::new(|a: &Array| Ok(linalg::qr(a)?.1))),
        (
            "svd",
            Box::new(|a: &Array| Ok(linalg::svd(a, false)?.remove(0))),
        ),
        (
            "eigvalsh",
            Box::new(|a: &Array| linalg::eigvalsh(&sym(a)?, "L")),
        ),
        ("lu", Box::new(|a: &Array| Ok(linalg::lu(a)?.2))),
    ];
    for (name, f) in fs {
        // Batch on axis 1 of the input, against f on each slice stacked.
        let f = std::sync::Arc::new(f);
        let f2 = f.clone();
        let g = vmap(
            move |a: &[Array]| Ok(vec![f2(&a[0])?]),
            &[Some(1)],
            &[Some(0)],
        );
        let got = g(&[x.clone()]).unwrap().remove(0);
        let want: Vec<Array> = (0..2)
            .map(|i| {
                let xi = ops::take(&x, &Array::scalar(i as i32), Some(1)).unwrap();
                f(&xi).unwrap()
            })
            .collect();
        close(name, &got, &ops::stack(&want, 0).unwrap(), 1e-10);
    }
}

// ---- errors ----------------------------------------------------------------------------

#[test]
fn errors_are_mlxs() {
    let v = ops::ones(&[3], None).unwrap();
    let i = ops::ones(&[3, 3], Some(Dtype::Int32)).unwrap();
    let h = ops::ones(&[3, 3], Some(Dtype::Float16)).unwrap();
    let r = ops::ones(&[3, 2], None).unwrap();
    let inv_ = |x: &Array| linalg::inv(x).map(|_| ());
    let fs: Vec<(&str, Box<dyn Fn(&Array) -> Result<()>>)> = vec![
        ("inv", Box::new(inv_)),
        (
            "cholesky",
            Box::new(|x: &Array| linalg::cholesky(x, false).map(|_| ())),
        ),
        (
            "cholesky_inv",
            Box::new(|x: &Array| linalg::cholesky_inv(x, false).map(|_| ())),
        ),
        (
            "tri_inv",
            Box::new(|x: &Array| linalg::tri_inv(x, false).map(|_| ())),
        ),
        (
            "eigh",
            Box::new(|x: &Array| linalg::eigh(x, "L").map(|_| ())),
        ),
        (
            "eigvalsh",
            Box::new(|x: &Array| linalg::eigvalsh(x, "L").map(|_| ())),
        ),
        ("eig", Box::new(|x: &Array| linalg::eig(x).map(|_| ()))),
        (
            "eigvals",
            Box::new(|x: &Array| linalg::eigvals(x).map(|_| ())),
        ),
        ("det", Box::new(|x: &Array| linalg::det(x).map(|_| ()))),
        (
            "slogdet",
            Box::new(|x: &Array| linalg::slogdet(x).map(|_| ())),
        ),
    ];
    for (name, f) in &fs {
        assert!(
            matches!(f(&v), Err(Error::Invalid(m)) if m.contains(">= 2 dimensions")),
            "{name} 1-D"
        );
        assert!(
            matches!(f(&r), Err(Error::Invalid(m)) if m.contains("square")),
            "{name} non-square"
        );
        if !name.contains("det") {
            assert!(
                matches!(f(&i), Err(Error::Invalid(m)) if m.contains("int32")),
                "{name} int"
            );
            assert!(
                matches!(f(&h), Err(Error::Invalid(m)) if m.contains("float16")),
                "{name} float16"
            );
        }
    }
    for (name, f) in [
        (
            "qr",
            Box::new(|x: &Array| linalg::qr(x).map(|_| ())) as Box<dyn Fn(&Array) -> Result<()>>,
        ),
        (
            "svd",
            Box::new(|x: &Array| linalg::svd(x, true).map(|_| ())),
        ),
        ("lu", Box::new(|x: &Array| linalg::lu(x).map(|_| ()))),
        (
            "lu_factor",
            Box::new(|x: &Array| linalg::lu_factor(x).map(|_| ())),
        ),
        ("pinv", Box::new(|x: &Array| linalg::pinv(x).map(|_| ()))),
    ] {
        assert!(matches!(f(&v), Err(Error::Invalid(_))), "{name} 1-D");
        assert!(matches!(f(&i), Err(Error::Invalid(_))), "{name} int");
        assert!(f(&r).is_ok(), "{name} takes rectangular matrices");
    }
    let a = ops::eye(3, None, 0, None).unwrap();
    assert!(matches!(linalg::solve(&v, &v), Err(Error::Invalid(_))));
    assert!(matches!(linalg::solve(&r, &v), Err(Error::Invalid(_))));
    assert!(matches!(
        linalg::solve(&a, &Array::scalar(1.0f32)),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        linalg::solve(&a, &ops::ones(&[4], None).unwrap()),
        Err(Error::Invalid(_))
    ));
    let iv = ops::ones(&[3], Some(Dtype::Int32)).unwrap();
    assert!(matches!(linalg::solve(&i, &iv), Err(Error::Invalid(_))));
    assert!(matches!(
        linalg::solve_triangular(&a, &ops::ones(&[4], None).unwrap(), false),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(linalg::eigh(&a, "X"), Err(Error::Invalid(_))));
    assert!(matches!(
        linalg::cross(&v, &ops::ones(&[4], None).unwrap(), -1),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(linalg::cross(&v, &v, 1), Err(Error::Index(_))));
    let s = |x: &str| NormOrd::Str(x.into());
    assert!(matches!(
        linalg::norm(&v, Some(&s("fro")), None, false),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        linalg::norm(&a, Some(&s("abc")), None, false),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        linalg::norm(&a, Some(&NormOrd::Num(3.0)), None, false),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        linalg::norm(&a, Some(&NormOrd::Num(0.0)), None, false),
        Err(Error::Invalid(_))
    ));
    let c = ops::ones(&[2, 2, 2], None).unwrap();
    assert!(matches!(
        linalg::norm(&c, Some(&NormOrd::Num(2.0)), None, false),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        linalg::norm(&c, None, Some(&[0, 1, 2]), false),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        linalg::norm(&c, None, Some(&[1, 1]), false),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        linalg::norm(&c, None, Some(&[5]), false),
        Err(Error::Index(_))
    ));
}
