//! Every unary and binary elementwise op against f64 reference math, on random inputs
//! of several shapes, broadcasts, non-contiguous views and every dtype the op accepts.

mod common;
use common::*;
use ferrox::dtype::{promote, Element};
use ferrox::ops::{self, transpose};
use ferrox::{Array, Dtype, Result};

const FLOATS: [Dtype; 4] = [
    Dtype::Float16,
    Dtype::Bfloat16,
    Dtype::Float32,
    Dtype::Float64,
];
const INTS: [Dtype; 8] = [
    Dtype::Uint8,
    Dtype::Uint16,
    Dtype::Uint32,
    Dtype::Uint64,
    Dtype::Int8,
    Dtype::Int16,
    Dtype::Int32,
    Dtype::Int64,
];
const SHAPES: [&[usize]; 4] = [&[], &[7], &[3, 5], &[2, 3, 33]];

type UnaryFn = fn(&Array) -> Result<Array>;

fn check_unary(
    name: &str,
    f: UnaryFn,
    reference: fn(f64) -> f64,
    lo: f64,
    hi: f64,
    dtypes: &[Dtype],
) {
    let mut rng = Lcg(name.len() as u64 * 7919);
    for &dtype in dtypes {
        for shape in SHAPES {
            let (a, v) = random_array(shape, dtype, lo, hi, &mut rng);
            let out = f(&a).unwrap();
            let want_dtype = if dtype.is_inexact() {
                dtype
            } else {
                Dtype::Float32
            };
            let want: Vec<f64> = v.iter().map(|&x| reference(x)).collect();
            // Reference computed in f64, rounded to the output dtype like the kernel.
            let want: Vec<f64> = want
                .iter()
                .map(|&w| ferrox::dispatch_dtype!(out.dtype(), T => T::from_f64(w).to_f64()))
                .collect();
            assert_eq!(out.dtype(), want_dtype, "{name} {dtype}");
            assert_close(
                &values(&out),
                &want,
                out.dtype(),
                &format!("{name} {dtype} {shape:?}"),
            );
        }
        // A transposed (non-contiguous) view.
        let (a, v) = random_array(&[4, 6], dtype, lo, hi, &mut rng);
        let t = transpose(&a, &[]).unwrap();
        let out = f(&t).unwrap();
        let want: Vec<f64> = (0..24).map(|i| reference(v[(i % 4) * 6 + i / 4])).collect();
        assert_close(
            &values(&out),
            &want,
            out.dtype(),
            &format!("{name} {dtype} transposed"),
        );
    }
}

#[test]
fn float_unary_ops() {
    let all: Vec<Dtype> = FLOATS
        .iter()
        .chain(&[Dtype::Int32, Dtype::Uint8, Dtype::Bool])
        .copied()
        .collect();
    let cases: &[(&str, UnaryFn, fn(f64) -> f64, f64, f64)] = &[
        ("exp", ops::exp, f64::exp, -5.0, 5.0),
        ("expm1", ops::expm1, f64::exp_m1, -2.0, 2.0),
        ("log", ops::log, f64::ln, 0.1, 10.0),
        ("log2", ops::log2, f64::log2, 0.1, 10.0),
        ("log10", ops::log10, f64::log10, 0.1, 10.0),
        ("log1p", ops::log1p, f64::ln_1p, -0.5, 5.0),
        ("sqrt", ops::sqrt, f64::sqrt, 0.0, 10.0),
        ("rsqrt", ops::rsqrt, |x| 1.0 / x.sqrt(), 0.5, 10.0),
        ("reciprocal", ops::reciprocal, |x| 1.0 / x, 0.5, 10.0),
        ("sin", ops::sin, f64::sin, -4.0, 4.0),
        ("cos", ops::cos, f64::cos, -4.0, 4.0),
        ("tan", ops::tan, f64::tan, -1.2, 1.2),
        ("arcsin", ops::arcsin, f64::asin, -0.99, 0.99),
        ("arccos", ops::arccos, f64::acos, -0.99, 0.99),
        ("arctan", ops::arctan, f64::atan, -5.0, 5.0),
        ("sinh", ops::sinh, f64::sinh, -3.0, 3.0),
        ("cosh", ops::cosh, f64::cosh, -3.0, 3.0),
        ("tanh", ops::tanh, f64::tanh, -3.0, 3.0),
        ("arcsinh", ops::arcsinh, f64::asinh, -5.0, 5.0),
        ("arccosh", ops::arccosh, f64::acosh, 1.0, 5.0),
        ("arctanh", ops::arctanh, f64::atanh, -0.9, 0.9),
        (
            "sigmoid",
            ops::sigmoid,
            |x| 1.0 / (1.0 + (-x).exp()),
            -6.0,
            6.0,
        ),
        ("erf", ops::erf, libm_erf, -3.0, 3.0),
    ];
    for &(name, f, r, lo, hi) in cases {
        check_unary(name, f, r, lo, hi, &FLOATS);
    }
    // Integer and bool inputs compute in float32 (their values lie in [-10, 20)).
    let int_cases: &[(&str, UnaryFn, fn(f64) -> f64)] = &[
        ("exp", ops::exp, f64::exp),
        ("sin", ops::sin, f64::sin),
        ("cos", ops::cos, f64::cos),
        ("arctan", ops::arctan, f64::atan),
        ("tanh", ops::tanh, f64::tanh),
        ("arcsinh", ops::arcsinh, f64::asinh),
        ("sigmoid", ops::sigmoid, |x| 1.0 / (1.0 + (-x).exp())),
    ];
    for &(name, f, r) in int_cases {
        check_unary(name, f, r, 0.0, 1.0, &all);
    }
}

fn libm_erf(x: f64) -> f64 {
    // Abramowitz-Stegun would be too coarse; integrate the series instead.
    let mut sum = 0.0f64;
    let mut term = x;
    let mut n = 0.0;
    while term.abs() > 1e-17 * sum.abs().max(1e-300) && n < 200.0 {
        sum += term / (2.0 * n + 1.0);
        n += 1.0;
        term *= -x * x / n;
    }
    sum * std::f64::consts::FRAC_2_SQRT_PI
}

#[test]
fn erfinv_inverts_erf() {
    let x = Array::from_vec(vec![-0.9f64, -0.5, 0.0, 0.3, 0.99]).unwrap();
    let y = ops::erf(&ops::erfinv(&x).unwrap()).unwrap();
    assert_close(&values(&y), &values(&x), Dtype::Float64, "erf(erfinv(x))");
}

#[test]
fn sign_preserving_unary_ops() {
    let mut dtypes = FLOATS.to_vec();
    dtypes.extend([Dtype::Int8, Dtype::Int16, Dtype::Int32, Dtype::Int64]);
    for &dtype in &dtypes {
        let mut rng = Lcg(3);
        let (a, v) = random_array(&[5, 7], dtype, -5.0, 5.0, &mut rng);
        let cases: &[(UnaryFn, fn(f64) -> f64)] = &[
            (ops::abs, f64::abs),
            (ops::negative, |x| -x),
            (ops::square, |x| x * x),
            (ops::sign, f64::signum),
            (ops::floor, f64::floor),
            (ops::ceil, f64::ceil),
            (ops::trunc, f64::trunc),
        ];
        for (i, &(f, r)) in cases.iter().enumerate() {
            let out = f(&a).unwrap();
            assert_eq!(out.dtype(), dtype, "case {i}");
            let want: Vec<f64> = v
                .iter()
                .map(|&x| if x == 0.0 { 0.0 } else { r(x) })
                .collect();
            let want: Vec<f64> = want
                .iter()
                .map(|&w| {
                    ferrox::dispatch_dtype!(dtype, T => {
                T::from_f64(w).to_f64() })
                })
                .collect();
            assert_close(&values(&out), &want, dtype, &format!("case {i} {dtype}"));
        }
    }
}

#[test]
fn round_is_half_to_even() {
    let a = Array::from_vec(vec![0.5f32, 1.5, 2.5, -0.5, -1.5, 2.675]).unwrap();
    assert_eq!(
        ops::round(&a, 0).unwrap().to_vec::<f32>().unwrap(),
        vec![0.0, 2.0, 2.0, -0.0, -2.0, 3.0]
    );
    let r = ops::round(&Array::from_vec(vec![1.2345f64]).unwrap(), 2).unwrap();
    assert!((r.item::<f64>().unwrap() - 1.23).abs() < 1e-12);
}

#[test]
fn predicates() {
    let a = Array::from_vec(vec![
        1.0f32,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
    ])
    .unwrap();
    assert_eq!(
        ops::isnan(&a).unwrap().to_vec::<bool>().unwrap(),
        vec![false, true, false, false, false]
    );
    assert_eq!(
        ops::isinf(&a).unwrap().to_vec::<bool>().unwrap(),
        vec![false, false, true, true, false]
    );
    assert_eq!(
        ops::isposinf(&a).unwrap().to_vec::<bool>().unwrap(),
        vec![false, false, true, false, false]
    );
    assert_eq!(
        ops::isneginf(&a).unwrap().to_vec::<bool>().unwrap(),
        vec![false, false, false, true, false]
    );
    assert_eq!(
        ops::isfinite(&a).unwrap().to_vec::<bool>().unwrap(),
        vec![true, false, false, false, true]
    );
    assert_eq!(
        ops::logical_not(&a).unwrap().to_vec::<bool>().unwrap(),
        vec![false, false, false, false, true]
    );
    let i = Array::from_vec(vec![0i32, 5, -1]).unwrap();
    assert_eq!(
        ops::bitwise_invert(&i).unwrap().to_vec::<i32>().unwrap(),
        vec![-1, -6, 0]
    );
    assert!(ops::bitwise_invert(&a).is_err());
    assert_eq!(
        ops::isnan(&i).unwrap().to_vec::<bool>().unwrap(),
        vec![false; 3]
    );
}

#[test]
fn complex_unary() {
    use num_complex::Complex32;
    let z = Array::from_vec(vec![Complex32::new(3.0, 4.0), Complex32::new(-1.0, 0.5)]).unwrap();
    assert_eq!(
        ops::abs(&z).unwrap().to_vec::<f32>().unwrap(),
        vec![5.0, (1.25f32).sqrt()]
    );
    assert_eq!(
        ops::real(&z).unwrap().to_vec::<f32>().unwrap(),
        vec![3.0, -1.0]
    );
    assert_eq!(
        ops::imag(&z).unwrap().to_vec::<f32>().unwrap(),
        vec![4.0, 0.5]
    );
    let c = ops::conj(&z).unwrap();
    assert_eq!(
        ops::imag(&c).unwrap().to_vec::<f32>().unwrap(),
        vec![-4.0, -0.5]
    );
    let e = ops::exp(&z).unwrap();
    let want = Complex32::new(3.0, 4.0).exp();
    assert!((ops::real(&e).unwrap().to_vec::<f32>().unwrap()[0] - want.re).abs() < 1e-3);
}

/// (name, op, reference, divisor-like second operand that must avoid 0)
type BinaryFn = fn(ferrox::ops::Operand, ferrox::ops::Operand) -> Result<Array>;

fn bin(f: fn(ferrox::ops::Operand, ferrox::ops::Operand) -> Result<Array>) -> BinaryFn {
    f
}

fn floor_div_ref(a: f64, b: f64) -> f64 {
    (a / b).floor()
}
fn rem_ref(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
        r + b
    } else {
        r
    }
}

#[test]
fn arithmetic_binary_ops_all_dtypes_and_broadcasts() {
    let cases: &[(&str, BinaryFn, fn(f64, f64) -> f64, bool)] = &[
        ("add", bin(|a, b| ops::add(a, b)), |a, b| a + b, false),
        (
            "subtract",
            bin(|a, b| ops::subtract(a, b)),
            |a, b| a - b,
            false,
        ),
        (
            "multiply",
            bin(|a, b| ops::multiply(a, b)),
            |a, b| a * b,
            false,
        ),
        ("maximum", bin(|a, b| ops::maximum(a, b)), f64::max, false),
        ("minimum", bin(|a, b| ops::minimum(a, b)), f64::min, false),
        (
            "floor_divide",
            bin(|a, b| ops::floor_divide(a, b)),
            floor_div_ref,
            true,
        ),
        ("remainder", bin(|a, b| ops::remainder(a, b)), rem_ref, true),
    ];
    let shape_pairs: [(&[usize], &[usize]); 5] = [
        (&[6], &[6]),
        (&[3, 4], &[4]),
        (&[2, 1, 5], &[3, 1]),
        (&[], &[2, 3]),
        (&[4, 1], &[1, 4]),
    ];
    let mut dtypes: Vec<Dtype> = FLOATS.to_vec();
    dtypes.extend(INTS);
    let mut rng = Lcg(11);
    for &(name, f, r, nonzero) in cases {
        for &dtype in &dtypes {
            for (sa, sb) in shape_pairs {
                let (a, va) = random_array(sa, dtype, -4.0, 4.0, &mut rng);
                let (b, mut vb) = random_array(sb, dtype, -4.0, 4.0, &mut rng);
                let b = if nonzero {
                    // Shift zeros away: division by zero is tested separately.
                    for x in vb.iter_mut() {
                        if *x == 0.0 {
                            *x = 3.0;
                        }
                    }
                    array_of(&vb, sb, dtype)
                } else {
                    b
                };
                let out = f((&a).into(), (&b).into()).unwrap();
                assert_eq!(out.dtype(), dtype, "{name}");
                let out_shape = ferrox::shape::broadcast_shapes(sa, sb).unwrap();
                assert_eq!(out.shape(), out_shape.as_slice());
                let n: usize = out_shape.iter().product();
                let want: Vec<f64> = (0..n)
                    .map(|i| {
                        let w = r(
                            va[broadcast_index(i, &out_shape, sa)],
                            vb[broadcast_index(i, &out_shape, sb)],
                        );
                        ferrox::dispatch_dtype!(dtype, T => T::from_f64(w).to_f64())
                    })
                    .collect();
                assert_close(
                    &values(&out),
                    &want,
                    dtype,
                    &format!("{name} {dtype} {sa:?} {sb:?}"),
                );
            }
        }
    }
}

#[test]
fn division_and_power_semantics() {
    let a = Array::from_vec(vec![-3i32, 7, 5, -7]).unwrap();
    let b = Array::from_vec(vec![2i32, -2, 0, 0]).unwrap();
    assert_eq!(
        ops::floor_divide(&a, &b).unwrap().to_vec::<i32>().unwrap(),
        vec![-2, -4, 0, 0]
    );
    assert_eq!(
        ops::remainder(&a, &b).unwrap().to_vec::<i32>().unwrap(),
        vec![1, -1, 5, -7]
    );
    let d = ops::divide(&a, &b).unwrap();
    assert_eq!(d.dtype(), Dtype::Float32);
    assert_eq!(d.to_vec::<f32>().unwrap()[0], -1.5);
    let p = ops::power(
        &Array::from_vec(vec![2i32, 3, 2]).unwrap(),
        &Array::from_vec(vec![10i32, 2, -1]).unwrap(),
    )
    .unwrap();
    assert_eq!(p.to_vec::<i32>().unwrap(), vec![1024, 9, 0]);
    let f = ops::power(&Array::from_vec(vec![2.0f32, 9.0]).unwrap(), 0.5).unwrap();
    assert_close(&values(&f), &[2f64.sqrt(), 3.0], Dtype::Float32, "pow");
    // Integer overflow wraps.
    let big = Array::from_vec(vec![i32::MAX]).unwrap();
    assert_eq!((&big + 1).unwrap().to_vec::<i32>().unwrap(), vec![i32::MIN]);
    // NaN propagates through maximum.
    let n = ops::maximum(&Array::from_vec(vec![f32::NAN, 1.0]).unwrap(), 0.0).unwrap();
    let nv = n.to_vec::<f32>().unwrap();
    assert!(nv[0].is_nan() && nv[1] == 1.0);
}

#[test]
fn comparisons_and_logic() {
    let mut rng = Lcg(5);
    for dtype in [
        Dtype::Float32,
        Dtype::Int32,
        Dtype::Uint8,
        Dtype::Float16,
        Dtype::Bool,
        Dtype::Int64,
    ] {
        let (a, va) = random_array(&[3, 4], dtype, -2.0, 2.0, &mut rng);
        let (b, vb) = random_array(&[4], dtype, -2.0, 2.0, &mut rng);
        let cases: &[(BinaryFn, fn(f64, f64) -> bool)] = &[
            (bin(|a, b| ops::equal(a, b)), |a, b| a == b),
            (bin(|a, b| ops::not_equal(a, b)), |a, b| a != b),
            (bin(|a, b| ops::less(a, b)), |a, b| a < b),
            (bin(|a, b| ops::less_equal(a, b)), |a, b| a <= b),
            (bin(|a, b| ops::greater(a, b)), |a, b| a > b),
            (bin(|a, b| ops::greater_equal(a, b)), |a, b| a >= b),
            (bin(|a, b| ops::logical_and(a, b)), |a, b| {
                a != 0.0 && b != 0.0
            }),
            (bin(|a, b| ops::logical_or(a, b)), |a, b| {
                a != 0.0 || b != 0.0
            }),
        ];
        for (k, &(f, r)) in cases.iter().enumerate() {
            let out = f((&a).into(), (&b).into()).unwrap();
            assert_eq!(out.dtype(), Dtype::Bool);
            let got = out.to_vec::<bool>().unwrap();
            let want: Vec<bool> = (0..12).map(|i| r(va[i], vb[i % 4])).collect();
            assert_eq!(got, want, "case {k} {dtype}");
        }
    }
}

#[test]
fn float_binary_ops() {
    let mut rng = Lcg(9);
    for dtype in FLOATS {
        let (a, va) = random_array(&[2, 5], dtype, -3.0, 3.0, &mut rng);
        let (b, vb) = random_array(&[2, 5], dtype, 0.5, 3.0, &mut rng);
        let cases: &[(BinaryFn, fn(f64, f64) -> f64)] = &[
            (bin(|a, b| ops::divide(a, b)), |a, b| a / b),
            (bin(|a, b| ops::arctan2(a, b)), f64::atan2),
            (bin(|a, b| ops::logaddexp(a, b)), |a, b| {
                (a.exp() + b.exp()).ln()
            }),
            (bin(|a, b| ops::power(a, b)), |a, b| a.abs().powf(b)),
        ];
        for (k, &(f, r)) in cases.iter().enumerate() {
            let a_in = if k == 3 {
                ops::abs(&a).unwrap()
            } else {
                a.clone()
            };
            let out = f((&a_in).into(), (&b).into()).unwrap();
            let want: Vec<f64> = (0..10).map(|i| r(va[i], vb[i])).collect();
            assert_close(&values(&out), &want, dtype, &format!("case {k} {dtype}"));
        }
    }
}

#[test]
fn bitwise_ops() {
    let a = Array::from_vec(vec![0b1100u8, 0xff, 1]).unwrap();
    let b = Array::from_vec(vec![0b1010u8, 0x0f, 9]).unwrap();
    assert_eq!(
        ops::bitwise_and(&a, &b).unwrap().to_vec::<u8>().unwrap(),
        vec![0b1000, 0x0f, 1]
    );
    assert_eq!(
        ops::bitwise_or(&a, &b).unwrap().to_vec::<u8>().unwrap(),
        vec![0b1110, 0xff, 9]
    );
    assert_eq!(
        ops::bitwise_xor(&a, &b).unwrap().to_vec::<u8>().unwrap(),
        vec![0b0110, 0xf0, 8]
    );
    assert_eq!(
        ops::left_shift(&a, 1).unwrap().to_vec::<u8>().unwrap(),
        vec![0b11000, 0xfe, 2]
    );
    assert_eq!(
        ops::right_shift(&a, 2).unwrap().to_vec::<u8>().unwrap(),
        vec![0b11, 0x3f, 0]
    );
    let s = Array::from_vec(vec![-8i32]).unwrap();
    assert_eq!(
        ops::right_shift(&s, 1).unwrap().to_vec::<i32>().unwrap(),
        vec![-4]
    );
    let f = Array::from_vec(vec![1.0f32]).unwrap();
    let e = ops::bitwise_and(&f, &f).unwrap_err().to_string();
    assert!(e.contains("integer"), "{e}");
}

#[test]
fn every_promotion_pair_through_add() {
    for a in Dtype::ALL {
        for b in Dtype::ALL {
            let x = ops::ones(&[2], Some(a)).unwrap();
            let y = ops::ones(&[2], Some(b)).unwrap();
            let z = ops::add(&x, &y).unwrap();
            assert_eq!(z.dtype(), promote(a, b), "{a} + {b}");
            let want = if promote(a, b) == Dtype::Bool {
                1.0
            } else {
                2.0
            };
            assert_eq!(values(&z), vec![want; 2], "{a} + {b}");
        }
    }
}

#[test]
fn where_selects_with_broadcasting() {
    let c = Array::from_vec(vec![true, false, true]).unwrap();
    let x = Array::from_slice(&[1i32, 2, 3, 4, 5, 6], &[2, 3]).unwrap();
    let r = ops::where_(&c, &x, -1).unwrap();
    assert_eq!(r.dtype(), Dtype::Int32);
    assert_eq!(r.to_vec::<i32>().unwrap(), vec![1, -1, 3, 4, -1, 6]);
    let r = ops::where_(&c, 1.5, &x).unwrap();
    assert_eq!(r.dtype(), Dtype::Float32);
    assert_eq!(
        r.to_vec::<f32>().unwrap(),
        vec![1.5, 2.0, 1.5, 1.5, 5.0, 1.5]
    );
}

#[test]
fn isclose_and_array_equal() {
    let a = Array::from_vec(vec![1.0f32, f32::NAN, f32::INFINITY, 2.0]).unwrap();
    let b = Array::from_vec(vec![1.0f32 + 1e-7, f32::NAN, f32::INFINITY, 2.1]).unwrap();
    assert_eq!(
        ops::isclose(&a, &b, 1e-5, 1e-8, false)
            .unwrap()
            .to_vec::<bool>()
            .unwrap(),
        vec![true, false, true, false]
    );
    assert_eq!(
        ops::isclose(&a, &b, 1e-5, 1e-8, true)
            .unwrap()
            .to_vec::<bool>()
            .unwrap(),
        vec![true, true, true, false]
    );
    assert!(!ops::array_equal(&a, &a, false)
        .unwrap()
        .item::<bool>()
        .unwrap());
    assert!(ops::array_equal(&a, &a, true)
        .unwrap()
        .item::<bool>()
        .unwrap());
    let c = Array::from_vec(vec![1.0f32]).unwrap();
    assert!(!ops::array_equal(&a, &c, true)
        .unwrap()
        .item::<bool>()
        .unwrap());
}

#[test]
fn astype_rules() {
    let a = Array::from_vec(vec![-1.0f32, 2.7, -2.7, 300.0]).unwrap();
    assert_eq!(
        ops::astype(&a, Dtype::Uint8)
            .unwrap()
            .to_vec::<u8>()
            .unwrap(),
        vec![255, 2, 254, 44]
    );
    assert_eq!(
        ops::astype(&a, Dtype::Int32)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        vec![-1, 2, -2, 300]
    );
    assert_eq!(
        ops::astype(&a, Dtype::Bool)
            .unwrap()
            .to_vec::<bool>()
            .unwrap(),
        vec![true; 4]
    );
    let h = ops::astype(&a, Dtype::Bfloat16).unwrap();
    assert_eq!(h.dtype(), Dtype::Bfloat16);
    assert_eq!(
        ops::astype(&h, Dtype::Float32)
            .unwrap()
            .to_vec::<f32>()
            .unwrap()[3],
        300.0
    );
}

#[test]
fn bool_negation_and_float_bitwise_are_errors_of_mlx_kinds() {
    let b = ferrox::Array::from_vec(vec![true, false]).unwrap();
    let e = ferrox::ops::negative(&b).unwrap_err();
    assert!(matches!(e, ferrox::Error::Invalid(_)) && e.to_string().contains("logical_not"));
    let f = ferrox::ops::ones(&[2], None).unwrap();
    let e = ferrox::ops::bitwise_and(&f, &f).unwrap_err();
    assert!(matches!(e, ferrox::Error::Runtime(_)), "{e:?}");
    assert!(e.to_string().contains("float32"), "{e}");
}

#[test]
fn same_dtype_copies_keep_every_bit() {
    // A copy (`contiguous`, a transpose made dense) moves bits: signalling NaN payloads
    // of bfloat16 and float16 survive (a cast through float32 would quiet them).
    for dtype in [ferrox::Dtype::Bfloat16, ferrox::Dtype::Float16] {
        let bits: Vec<u16> = vec![0x7fbf, 0xff81, 0x7c01, 0x0001, 0x8000, 0x3f80];
        let bytes: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
        let a = ferrox::Array::from_bytes(&bytes, &[2, 3], dtype).unwrap();
        let t = ferrox::ops::transpose(&a, &[]).unwrap();
        let back = ferrox::ops::contiguous(&ferrox::ops::transpose(&t, &[]).unwrap()).unwrap();
        assert_eq!(back.to_bytes().unwrap(), bytes, "{dtype}");
    }
}
