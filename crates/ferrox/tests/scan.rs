//! Scans and median against plain reference loops in f64 on pseudo-random inputs.

use ferrox::ops::*;
use ferrox::{Array, Dtype, Error};

/// A tiny LCG, so the inputs are the same on every run without a dependency.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() as f64 / (1u64 << 31) as f64)
    }
    /// An integer in [lo, hi].
    fn int(&mut self, lo: i64, hi: i64) -> f64 {
        (lo + (self.next() % (hi - lo + 1) as u64) as i64) as f64
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Sum,
    Prod,
    Max,
    Min,
    LogSumExp,
}

/// The identity an exclusive scan starts with, as MLX fills it.
fn init(op: Op, dtype: Dtype) -> f64 {
    let bounds = |d: Dtype| match d {
        Dtype::Bool => (0.0, 1.0),
        Dtype::Uint8 => (0.0, u8::MAX as f64),
        Dtype::Uint16 => (0.0, u16::MAX as f64),
        Dtype::Uint32 => (0.0, u32::MAX as f64),
        Dtype::Uint64 => (0.0, u64::MAX as f64),
        Dtype::Int8 => (i8::MIN as f64, i8::MAX as f64),
        Dtype::Int16 => (i16::MIN as f64, i16::MAX as f64),
        Dtype::Int32 => (i32::MIN as f64, i32::MAX as f64),
        Dtype::Int64 => (i64::MIN as f64, i64::MAX as f64),
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    };
    match op {
        Op::Sum => 0.0,
        Op::Prod => 1.0,
        Op::Max => bounds(dtype).0,
        Op::Min => bounds(dtype).1,
        Op::LogSumExp => f64::NEG_INFINITY,
    }
}

fn combine(op: Op, a: f64, x: f64) -> f64 {
    match op {
        Op::Sum => a + x,
        Op::Prod => a * x,
        Op::Max => {
            if a.is_nan() || x.is_nan() {
                f64::NAN
            } else {
                a.max(x)
            }
        }
        Op::Min => {
            if a.is_nan() || x.is_nan() {
                f64::NAN
            } else {
                a.min(x)
            }
        }
        Op::LogSumExp => {
            let m = a.max(x);
            if m == f64::NEG_INFINITY {
                m
            } else {
                m + ((a - m).exp() + (x - m).exp()).ln()
            }
        }
    }
}

/// The reference scan of row-major `vals` of `shape` along `axis`.
fn reference(
    vals: &[f64],
    shape: &[usize],
    axis: usize,
    op: Op,
    reverse: bool,
    inclusive: bool,
    init: f64,
) -> Vec<f64> {
    let n = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    let mut out = vec![0.0; vals.len()];
    for o in 0..outer {
        for i in 0..inner {
            let mut acc = init;
            let order: Vec<usize> = if reverse {
                (0..n).rev().collect()
            } else {
                (0..n).collect()
            };
            for j in order {
                let k = (o * n + j) * inner + i;
                if inclusive {
                    acc = combine(op, acc, vals[k]);
                    out[k] = acc;
                } else {
                    out[k] = acc;
                    acc = combine(op, acc, vals[k]);
                }
            }
        }
    }
    out
}

fn run(op: Op, a: &Array, axis: Option<isize>, reverse: bool, inclusive: bool) -> Array {
    match op {
        Op::Sum => cumsum(a, axis, reverse, inclusive, None),
        Op::Prod => cumprod(a, axis, reverse, inclusive, None),
        Op::Max => cummax(a, axis, reverse, inclusive),
        Op::Min => cummin(a, axis, reverse, inclusive),
        Op::LogSumExp => logcumsumexp(a, axis, reverse, inclusive),
    }
    .unwrap()
}

/// Tolerance (absolute, relative) of a result dtype.
fn tolerance(dtype: Dtype, op: Op) -> (f64, f64) {
    match dtype {
        Dtype::Float16 => (2e-2, 2e-3),
        Dtype::Bfloat16 => (5e-2, 1e-2),
        Dtype::Float32 if op == Op::Prod => (1e-5, 1e-4),
        Dtype::Float32 => (2e-3, 1e-5),
        Dtype::Float64 => (1e-9, 1e-12),
        _ => (0.0, 0.0),
    }
}

fn close(got: f64, want: f64, (atol, rtol): (f64, f64)) -> bool {
    if want.is_nan() {
        return got.is_nan();
    }
    if want.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= atol + rtol * want.abs()
}

/// Checks `op` on `a` along every axis and flattened, every reverse/inclusive combo.
fn check_all(op: Op, a: &Array, what: &str) {
    let vals = a.to_vec::<f64>().unwrap();
    let mut axes: Vec<Option<isize>> = (0..a.ndim() as isize).map(Some).collect();
    axes.push(Some(-1));
    axes.push(None);
    for axis in axes {
        for (reverse, inclusive) in [(false, true), (true, true), (false, false), (true, false)] {
            let r = run(op, a, axis, reverse, inclusive);
            let (shape, ax) = match axis {
                None => (vec![a.size()], 0),
                Some(x) => (
                    a.shape().to_vec(),
                    (x + a.ndim() as isize) as usize % a.ndim(),
                ),
            };
            assert_eq!(r.shape(), &shape[..], "{what}: shape");
            let want = reference(
                &vals,
                &shape,
                ax,
                op,
                reverse,
                inclusive,
                init(op, r.dtype()),
            );
            // Integers wrap: the exact sum or product, reduced to the dtype's width.
            let want: Vec<f64> = want.into_iter().map(|w| wrap(w, r.dtype())).collect();
            let got = r.to_vec::<f64>().unwrap();
            let tol = tolerance(r.dtype(), op);
            for (k, (&g, &w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    close(g, w, tol),
                    "{what} {op:?} {:?} axis={axis:?} reverse={reverse} inclusive={inclusive}: \
                     element {k} is {g}, want {w}",
                    r.dtype()
                );
            }
        }
    }
}

/// `v` (an exact integer, or any float) as stored in `dtype`, wrapping integers.
fn wrap(v: f64, dtype: Dtype) -> f64 {
    let bits = 8 * dtype.size() as u32;
    if !dtype.is_integer() || bits == 64 || v.is_infinite() {
        return v;
    }
    let m = 1i128 << bits;
    let mut x = (v as i128).rem_euclid(m);
    if !dtype.is_unsigned() && x >= m / 2 {
        x -= m;
    }
    x as f64
}

/// Inputs suited to `op` (no integer overflow, products of moderate size).
fn values(rng: &mut Lcg, op: Op, dtype: Dtype, n: usize, axis_len: usize) -> Vec<f64> {
    (0..n)
        .map(|_| match (dtype, op) {
            (Dtype::Bool, _) => rng.int(0, 1),
            (d, Op::Prod) if d.is_integer() => rng.int(if d.is_unsigned() { 0 } else { -1 }, 2),
            (d, _) if d.is_unsigned() => rng.int(0, 9),
            (Dtype::Int8, _) => rng.int(-5, 5),
            (d, _) if d.is_integer() => rng.int(-1000, 1000),
            (_, Op::Prod) if axis_len > 30 => rng.uniform(0.97, 1.03),
            (_, Op::Prod) => rng.uniform(0.5, 1.5),
            _ => rng.uniform(-2.0, 2.0),
        })
        .collect()
}

fn input(rng: &mut Lcg, op: Op, dtype: Dtype, shape: &[usize]) -> Array {
    let n: usize = shape.iter().product();
    let longest = shape.iter().copied().max().unwrap_or(1).max(n);
    let v = values(rng, op, dtype, n, longest);
    astype(&Array::from_slice(&v, shape).unwrap(), dtype).unwrap()
}

/// The same values as a transposed (non-contiguous) view of `shape`.
fn transposed_input(rng: &mut Lcg, op: Op, dtype: Dtype, shape: &[usize]) -> Array {
    let rev: Vec<usize> = shape.iter().rev().copied().collect();
    transpose(&input(rng, op, dtype, &rev), &[]).unwrap()
}

const OPS: [Op; 5] = [Op::Sum, Op::Prod, Op::Max, Op::Min, Op::LogSumExp];
const SHAPES: [&[usize]; 4] = [&[13], &[4, 9], &[3, 5, 7], &[2, 1, 3, 4]];

#[test]
fn every_op_every_axis_float32_and_float64() {
    let mut rng = Lcg(1);
    for dtype in [Dtype::Float32, Dtype::Float64] {
        for op in OPS {
            for shape in SHAPES {
                check_all(op, &input(&mut rng, op, dtype, shape), "contiguous");
                check_all(
                    op,
                    &transposed_input(&mut rng, op, dtype, shape),
                    "transposed",
                );
            }
        }
    }
}

#[test]
fn half_precision_accumulates_in_float32() {
    let mut rng = Lcg(2);
    for dtype in [Dtype::Float16, Dtype::Bfloat16] {
        for op in OPS {
            for shape in SHAPES {
                check_all(op, &input(&mut rng, op, dtype, shape), "contiguous");
            }
        }
    }
    // 4096 ones: a float16 accumulator would stop at 2048.
    let a = ones(&[4096], Some(Dtype::Float16)).unwrap();
    let s = cumsum(&a, None, false, true, None).unwrap();
    assert_eq!(s.dtype(), Dtype::Float16);
    assert_eq!(s.to_vec::<f64>().unwrap()[3000], 3000.0);
}

#[test]
fn integer_and_bool_dtypes() {
    let mut rng = Lcg(3);
    let dtypes = [
        Dtype::Int8,
        Dtype::Uint8,
        Dtype::Int16,
        Dtype::Uint32,
        Dtype::Int32,
        Dtype::Int64,
        Dtype::Uint64,
        Dtype::Bool,
    ];
    for dtype in dtypes {
        for op in OPS {
            for shape in &SHAPES[..3] {
                check_all(op, &input(&mut rng, op, dtype, shape), "contiguous");
            }
            check_all(
                op,
                &transposed_input(&mut rng, op, dtype, &[3, 4, 5]),
                "transposed",
            );
        }
    }
}

#[test]
fn strided_and_large_inputs() {
    let mut rng = Lcg(4);
    // A step-2 slice: strided along the last axis.
    let base = input(&mut rng, Op::Sum, Dtype::Float32, &[6, 10]);
    let sliced = slice(&base, &[0, 1], &[6, 10], &[1, 2]).unwrap();
    assert_eq!(sliced.shape(), &[6, 5]);
    for op in OPS {
        check_all(op, &sliced, "step-2 slice");
    }
    // A strided inner block under an outer-axis scan.
    let base = input(&mut rng, Op::Max, Dtype::Int32, &[4, 3, 8]);
    let sliced = slice(&base, &[0, 0, 0], &[4, 3, 8], &[1, 1, 3]).unwrap();
    check_all(Op::Max, &sliced, "strided inner block");
    check_all(Op::Sum, &sliced, "strided inner block");
    // Large enough to run in parallel, with inner blocks longer than one chunk.
    for shape in [&[40usize, 3000][..], &[3000, 40], &[2, 2500, 9]] {
        for op in [Op::Sum, Op::Max, Op::LogSumExp] {
            let a = input(&mut rng, op, Dtype::Float32, shape);
            check_all(op, &a, "large");
        }
        check_all(
            Op::Prod,
            &input(&mut rng, Op::Prod, Dtype::Float64, shape),
            "large",
        );
    }
}

#[test]
fn result_dtypes_follow_mlx() {
    let b = Array::from_vec(vec![true, false, true, true]).unwrap();
    let s = cumsum(&b, None, false, true, None).unwrap();
    assert_eq!(s.dtype(), Dtype::Int32);
    assert_eq!(s.to_vec::<i32>().unwrap(), vec![1, 1, 2, 3]);
    // dtype=bool still counts in int32, as MLX does.
    let s = cumsum(&b, None, false, true, Some(Dtype::Bool)).unwrap();
    assert_eq!(s.dtype(), Dtype::Int32);
    let p = cumprod(&b, None, false, true, None).unwrap();
    assert_eq!(p.dtype(), Dtype::Bool);
    assert_eq!(p.to_vec::<bool>().unwrap(), vec![true, false, false, false]);
    let p = cumprod(&b, None, false, false, None).unwrap();
    assert_eq!(p.to_vec::<bool>().unwrap(), vec![true, true, false, false]);
    assert_eq!(cummax(&b, None, false, false).unwrap().dtype(), Dtype::Bool);
    // int8 stays int8 and wraps.
    let i = Array::from_vec(vec![100i8, 100, 100]).unwrap();
    let s = cumsum(&i, None, false, true, None).unwrap();
    assert_eq!(s.to_vec::<i8>().unwrap(), vec![100, -56, 44]);
    let s = cumsum(&i, None, false, true, Some(Dtype::Float32)).unwrap();
    assert_eq!(s.dtype(), Dtype::Float32);
    assert_eq!(s.to_vec::<f32>().unwrap(), vec![100.0, 200.0, 300.0]);
    assert_eq!(
        logcumsumexp(&i, None, false, true).unwrap().dtype(),
        Dtype::Float32
    );
    // Exclusive extremes start at the dtype's bounds (MLX prints them).
    let u = Array::from_vec(vec![1u8, 5, 2, 7]).unwrap();
    assert_eq!(
        cummin(&u, None, false, false)
            .unwrap()
            .to_vec::<u8>()
            .unwrap(),
        vec![255, 1, 1, 1]
    );
    let f = Array::from_vec(vec![1.0f32, 5.0, 2.0, 7.0]).unwrap();
    assert_eq!(
        cummin(&f, None, false, false)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![f32::INFINITY, 1.0, 1.0, 1.0]
    );
    // 0-d flattens to shape [1].
    let z = cumsum(&Array::scalar(3.0f32), None, false, true, None).unwrap();
    assert_eq!(z.shape(), &[1]);
    // Aliases.
    let a = Array::from_vec(vec![1i32, 2, 3]).unwrap();
    assert_eq!(
        cumulative_sum(&a, Some(0), false, true, None)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        vec![1, 3, 6]
    );
    assert_eq!(
        cumulative_prod(&a, Some(0), true, true, None)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        vec![6, 6, 3]
    );
}

#[test]
fn nan_and_infinities() {
    let nan = f32::NAN;
    let a = Array::from_vec(vec![1.0f32, nan, 2.0, 7.0]).unwrap();
    for r in [cummax(&a, None, false, true), cummin(&a, None, false, true)] {
        let v = r.unwrap().to_vec::<f32>().unwrap();
        assert_eq!(v[0], 1.0);
        assert!(v[1..].iter().all(|x| x.is_nan()), "{v:?}");
    }
    let inf = f32::INFINITY;
    let a = Array::from_vec(vec![-inf, -inf, 1.0, inf, nan, 2.0]).unwrap();
    let v = logcumsumexp(&a, None, false, true)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(&v[..4], &[-inf, -inf, 1.0, inf]);
    assert!(v[4].is_nan() && v[5].is_nan());
}

#[test]
fn complex_cumsum_and_cummax() {
    use num_complex::Complex32 as C;
    let a = Array::from_vec(vec![C::new(1.0, 2.0), C::new(1.0, 3.0), C::new(0.0, 5.0)]).unwrap();
    let s = cumsum(&a, None, false, true, None).unwrap();
    assert_eq!(
        s.to_vec::<C>().unwrap(),
        vec![C::new(1.0, 2.0), C::new(2.0, 5.0), C::new(2.0, 10.0)]
    );
    let m = cummax(&a, None, false, true).unwrap();
    assert_eq!(
        m.to_vec::<C>().unwrap(),
        vec![C::new(1.0, 2.0), C::new(1.0, 3.0), C::new(1.0, 3.0)]
    );
}

#[test]
fn bad_axis_is_an_error_naming_it() {
    let a = zeros(&[2, 3], None).unwrap();
    for axis in [2isize, -3, 7] {
        let errs = [
            cumsum(&a, Some(axis), false, true, None).err(),
            cumprod(&a, Some(axis), false, true, None).err(),
            cummax(&a, Some(axis), false, true).err(),
            cummin(&a, Some(axis), false, true).err(),
            logcumsumexp(&a, Some(axis), false, true).err(),
        ];
        for e in errs {
            match e {
                Some(Error::Index(m)) => {
                    assert!(m.contains(&format!("Axis {axis} ")), "{m}");
                    assert!(m.contains("2 dimensions"), "{m}");
                }
                other => panic!("axis {axis}: expected an index error, got {other:?}"),
            }
        }
    }
    let e = cumsum(&Array::scalar(1.0f32), Some(0), false, true, None).unwrap_err();
    assert_eq!(
        e,
        Error::Index("[cumsum] Axis 0 is out of bounds for array with 0 dimensions.".into())
    );
    // The input is untouched and still usable.
    assert_eq!(a.to_vec::<f32>().unwrap(), vec![0.0; 6]);
}

/// NumPy's median of one slice.
fn median_ref(mut v: Vec<f64>) -> f64 {
    if v.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = v.len();
    if m % 2 == 1 {
        v[m / 2]
    } else {
        (v[m / 2 - 1] + v[m / 2]) / 2.0
    }
}

#[test]
fn median_against_reference() {
    let mut rng = Lcg(5);
    let shape = [3usize, 4, 5];
    let v: Vec<f64> = (0..60).map(|_| rng.int(-20, 20)).collect();
    let base = Array::from_slice(&v, &shape).unwrap();
    let idx = |i: usize, j: usize, k: usize| v[(i * 4 + j) * 5 + k];
    for dtype in [Dtype::Float32, Dtype::Int32, Dtype::Float64, Dtype::Float16] {
        let a = astype(&base, dtype).unwrap();
        // Over axis 1, and over axes (0, 2) given out of order.
        let m = median(&a, &[1], false).unwrap();
        assert_eq!(m.shape(), &[3, 5]);
        assert_eq!(m.dtype(), dtype.to_inexact());
        let got = m.to_vec::<f64>().unwrap();
        for i in 0..3 {
            for k in 0..5 {
                let want = median_ref((0..4).map(|j| idx(i, j, k)).collect());
                assert_eq!(got[i * 5 + k], want, "{dtype} axis 1 at ({i}, {k})");
            }
        }
        let m = median(&a, &[2, 0], true).unwrap();
        assert_eq!(m.shape(), &[1, 4, 1]);
        let got = m.to_vec::<f64>().unwrap();
        for j in 0..4 {
            let mut s = vec![];
            for i in 0..3 {
                for k in 0..5 {
                    s.push(idx(i, j, k));
                }
            }
            assert_eq!(got[j], median_ref(s), "{dtype} axes (0, 2) at {j}");
        }
        let all = median(&a, &[], false).unwrap();
        assert_eq!(all.shape(), &[] as &[usize]);
        assert_eq!(all.item::<f64>().unwrap(), median_ref(v.clone()));
    }
    // A transposed view.
    let t = transpose(&base, &[]).unwrap();
    let got = median(&t, &[0], false).unwrap().to_vec::<f64>().unwrap();
    for j in 0..4 {
        for i in 0..3 {
            let want = median_ref((0..5).map(|k| idx(i, j, k)).collect());
            assert_eq!(got[j * 3 + i], want);
        }
    }
}

#[test]
fn median_nan_and_errors() {
    let nan = f32::NAN;
    let a = Array::from_slice(&[1.0f32, nan, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
    let v = median(&a, &[1], false).unwrap().to_vec::<f32>().unwrap();
    assert!(v[0].is_nan());
    assert_eq!(v[1], 5.0);
    assert!(median(&a, &[], false)
        .unwrap()
        .item::<f32>()
        .unwrap()
        .is_nan());
    let e = median(&zeros(&[0], None).unwrap(), &[], false).unwrap_err();
    assert!(e.to_string().contains("empty axis"), "{e}");
    assert!(median(&a, &[2], false).is_err());
    // Integers compute in float32 and the two middle values are averaged.
    let big = Array::from_vec(vec![1i32, 2, 3, 4]).unwrap();
    assert_eq!(
        median(&big, &[], false).unwrap().item::<f32>().unwrap(),
        2.5
    );
}

/// Spot checks against values MLX 0.32 printed for the same calls.
#[test]
fn matches_mlx_outputs() {
    let a = Array::from_slice(
        &[
            3.0f32, -1.0, 4.0, 1.0, 5.0, -9.0, 2.0, 6.0, 5.0, 3.0, -5.0, 8.0,
        ],
        &[3, 4],
    )
    .unwrap();
    let v = |r: Array| r.to_vec::<f32>().unwrap();
    assert_eq!(
        v(cumsum(&a, Some(1), true, true, None).unwrap()),
        [7., 4., 5., 1., 4., -1., 8., 6., 11., 6., 3., 8.]
    );
    assert_eq!(
        v(cumprod(&a, Some(0), false, false, None).unwrap()),
        [1., 1., 1., 1., 3., -1., 4., 1., 15., 9., 8., 6.]
    );
    let ninf = f32::NEG_INFINITY;
    assert_eq!(
        v(cummax(&a, Some(0), true, false).unwrap()),
        [5., 3., 2., 8., 5., 3., -5., 8., ninf, ninf, ninf, ninf]
    );
    assert_eq!(
        v(cummin(&a, None, false, true).unwrap()),
        [3., -1., -1., -1., -1., -9., -9., -9., -9., -9., -9., -9.]
    );
    let mlx = [
        3.0, 3.01815, 4.31818, 4.35375, 5.0, 5.0, 5.04859, 6.32656, 5.0, 5.12693, 5.12697, 8.05499,
    ];
    for (g, w) in v(logcumsumexp(&a, Some(1), false, true).unwrap())
        .iter()
        .zip(mlx)
    {
        assert!((g - w).abs() < 1e-4, "{g} vs {w}");
    }
    let h = multiply(&astype(&a, Dtype::Float16).unwrap(), 1000.0).unwrap();
    assert_eq!(
        cumsum(&h, Some(1), false, true, None).unwrap().to_string(),
        "array([[3000, 2000, 6000, 7000],\n       [5000, -4000, -2000, 4000],\n       \
         [5000, 8000, 3000, 11000]], dtype=float16)"
    );
    assert_eq!(v(median(&a, &[0], false).unwrap()), [5., -1., 2., 6.]);
    assert_eq!(v(median(&a, &[1], false).unwrap()), [2., 3.5, 4.]);
}

/// A temporary input has no other reader, so the scan may write into its buffer.
#[test]
fn scans_of_temporaries() {
    let mut rng = Lcg(6);
    let a = input(&mut rng, Op::Sum, Dtype::Float32, &[5, 6]);
    for (axis, reverse, inclusive) in [(0, false, false), (1, true, false), (0, true, true)] {
        let want = cumsum(&a, Some(axis), reverse, inclusive, None).unwrap();
        let got = cumsum(
            &multiply(&a, 1.0).unwrap(),
            Some(axis),
            reverse,
            inclusive,
            None,
        )
        .unwrap();
        assert_eq!(got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    }
}
