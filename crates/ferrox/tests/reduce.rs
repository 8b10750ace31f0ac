//! Reductions against f64 reference loops, over every axis set of several shapes,
//! contiguous and transposed inputs, and the dtypes each accepts.

mod common;
use common::*;
use ferrox::dtype::Element;
use ferrox::ops::{self, transpose};
use ferrox::{Array, Dtype};

/// Reference reduction of row-major `v` (shape `shape`) over `axes`, keepdims layout.
fn reference(
    v: &[f64],
    shape: &[usize],
    axes: &[usize],
    init: f64,
    f: impl Fn(f64, f64) -> f64,
) -> Vec<f64> {
    let out_shape: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(i, &n)| if axes.contains(&i) { 1 } else { n })
        .collect();
    let n_out: usize = out_shape.iter().product();
    let mut out = vec![init; n_out];
    for (flat, &x) in v.iter().enumerate() {
        let mut rem = flat;
        let mut idx = vec![0; shape.len()];
        for ax in (0..shape.len()).rev() {
            idx[ax] = rem % shape[ax];
            rem /= shape[ax];
        }
        let mut o = 0;
        for ax in 0..shape.len() {
            o = o * out_shape[ax] + if axes.contains(&ax) { 0 } else { idx[ax] };
        }
        out[o] = f(out[o], x);
    }
    out
}

fn axis_sets(nd: usize) -> Vec<Vec<usize>> {
    (0..(1usize << nd))
        .map(|m| (0..nd).filter(|i| m & (1 << i) != 0).collect())
        .collect()
}

#[test]
fn sum_prod_max_min_every_axis_set() {
    let shapes: [&[usize]; 4] = [&[9], &[4, 5], &[3, 4, 17], &[2, 3, 1, 40]];
    let dtypes = [
        Dtype::Float32,
        Dtype::Float64,
        Dtype::Float16,
        Dtype::Bfloat16,
        Dtype::Int32,
        Dtype::Int64,
        Dtype::Uint8,
        Dtype::Int8,
    ];
    let mut rng = Lcg(21);
    for &dtype in &dtypes {
        for shape in shapes {
            let (a, v) = random_array(shape, dtype, -2.0, 2.0, &mut rng);
            for axes in axis_sets(shape.len()) {
                let ax: Vec<isize> = axes.iter().map(|&i| i as isize).collect();
                let all_axes: Vec<usize> = if axes.is_empty() {
                    (0..shape.len()).collect()
                } else {
                    axes.clone()
                };
                let s = ops::sum(&a, &ax, true).unwrap();
                assert_eq!(s.dtype(), dtype.sum_dtype());
                let want = reference(&v, shape, &all_axes, 0.0, |a, b| a + b);
                let tol_dtype = if dtype.is_inexact() {
                    dtype
                } else {
                    Dtype::Float64
                };
                // Low-precision floats accumulate in f32 but round once at the end.
                let scale = all_axes.iter().map(|&i| shape[i]).product::<usize>() as f64;
                let want_r: Vec<f64> = want
                    .iter()
                    .map(|&w| ferrox::dispatch_dtype!(s.dtype(), T => T::from_f64(w).to_f64()))
                    .collect();
                for (g, w) in values(&s).iter().zip(&want_r) {
                    assert!(
                        (g - w).abs() <= rtol(tol_dtype) * 4.0 * (1.0 + w.abs() + scale),
                        "sum {dtype} {shape:?} {axes:?}: {g} vs {w}"
                    );
                }
                let mx = ops::max(&a, &ax, true).unwrap();
                assert_eq!(
                    values(&mx),
                    reference(&v, shape, &all_axes, f64::NEG_INFINITY, f64::max),
                    "max {dtype} {shape:?} {axes:?}"
                );
                let mn = ops::min(&a, &ax, false).unwrap();
                assert_eq!(
                    values(&mn),
                    reference(&v, shape, &all_axes, f64::INFINITY, f64::min),
                    "min {dtype} {shape:?} {axes:?}"
                );
            }
        }
        // Transposed input.
        let (a, v) = random_array(&[6, 7], dtype, -2.0, 2.0, &mut rng);
        let t = transpose(&a, &[]).unwrap();
        let s = ops::max(&t, &[1], false).unwrap();
        // max over axis 1 of the transpose is max over axis 0 of the original.
        let want = reference(&v, &[6, 7], &[0], f64::NEG_INFINITY, f64::max);
        assert_eq!(values(&s), want, "max over axis 1 of a transpose");
    }
}

#[test]
fn prod_all_any() {
    let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 0.5, 2.0], &[2, 3]).unwrap();
    assert_eq!(
        ops::prod(&a, &[1], false).unwrap().to_vec::<f32>().unwrap(),
        vec![6.0, 4.0]
    );
    let b = Array::from_slice(&[true, false, true, true], &[2, 2]).unwrap();
    assert_eq!(
        ops::all(&b, &[1], false).unwrap().to_vec::<bool>().unwrap(),
        vec![false, true]
    );
    assert_eq!(
        ops::any(&b, &[0], false).unwrap().to_vec::<bool>().unwrap(),
        vec![true, true]
    );
    let i = Array::from_slice(&[0i32, 3, 0, 0], &[2, 2]).unwrap();
    assert_eq!(
        ops::any(&i, &[1], false).unwrap().to_vec::<bool>().unwrap(),
        vec![true, false]
    );
    assert_eq!(
        ops::all(&i, &[], false).unwrap().item::<bool>().unwrap(),
        false
    );
    assert_eq!(
        ops::count_nonzero(&i, &[], false)
            .unwrap()
            .item::<i32>()
            .unwrap(),
        1
    );
    // int32, whatever the input dtype, as MLX.
    assert_eq!(
        ops::count_nonzero(&b, &[0], false).unwrap().dtype(),
        Dtype::Int32
    );
    assert_eq!(ops::sum(&b, &[], false).unwrap().dtype(), Dtype::Int32);
    assert_eq!(
        ops::sum(&Array::from_vec(vec![200u8, 100]).unwrap(), &[], false)
            .unwrap()
            .item::<u32>()
            .unwrap(),
        300
    );
}

#[test]
fn mean_var_std() {
    let mut rng = Lcg(4);
    for dtype in [Dtype::Float32, Dtype::Float64, Dtype::Int32] {
        let (a, v) = random_array(&[5, 8], dtype, -3.0, 3.0, &mut rng);
        let m = ops::mean(&a, &[1], false).unwrap();
        assert_eq!(m.dtype(), dtype.to_inexact());
        let want: Vec<f64> = (0..5)
            .map(|r| v[r * 8..r * 8 + 8].iter().sum::<f64>() / 8.0)
            .collect();
        assert_close(&values(&m), &want, m.dtype(), "mean");
        let var = ops::var(&a, &[1], false, 1).unwrap();
        let wv: Vec<f64> = (0..5)
            .map(|r| {
                v[r * 8..r * 8 + 8]
                    .iter()
                    .map(|x| (x - want[r]).powi(2))
                    .sum::<f64>()
                    / 7.0
            })
            .collect();
        assert_close(&values(&var), &wv, var.dtype(), "var");
        let sd = ops::std(&a, &[1], true, 1).unwrap();
        assert_eq!(sd.shape(), &[5, 1]);
        assert_close(
            &values(&sd),
            &wv.iter().map(|x| x.sqrt()).collect::<Vec<_>>(),
            sd.dtype(),
            "std",
        );
    }
}

#[test]
fn argmax_argmin() {
    let a = Array::from_slice(&[1.0f32, 5.0, 5.0, -2.0, 0.0, 7.0], &[2, 3]).unwrap();
    let am = ops::argmax(&a, Some(1), false).unwrap();
    assert_eq!(am.dtype(), Dtype::Uint32);
    assert_eq!(am.to_vec::<u32>().unwrap(), vec![1, 2]);
    assert_eq!(
        ops::argmin(&a, Some(0), true)
            .unwrap()
            .to_vec::<u32>()
            .unwrap(),
        vec![1, 1, 0]
    );
    assert_eq!(
        ops::argmax(&a, None, false).unwrap().item::<u32>().unwrap(),
        5
    );
    let t = transpose(&a, &[]).unwrap();
    assert_eq!(
        ops::argmax(&t, Some(0), false)
            .unwrap()
            .to_vec::<u32>()
            .unwrap(),
        vec![1, 2]
    );
    let n = Array::from_vec(vec![1.0f32, f32::NAN, 3.0]).unwrap();
    assert_eq!(
        ops::argmax(&n, None, false).unwrap().item::<u32>().unwrap(),
        1
    );
    assert!(ops::argmax(&a, Some(2), false).is_err());
}

#[test]
fn logsumexp_and_softmax() {
    let a = Array::from_slice(
        &[1.0f32, 2.0, 3.0, 1000.0, 1000.0, f32::NEG_INFINITY],
        &[2, 3],
    )
    .unwrap();
    let l = ops::logsumexp(&a, &[1], false).unwrap();
    let want = [
        (1f64.exp() + 2f64.exp() + 3f64.exp()).ln(),
        1000.0 + 2f64.ln(),
    ];
    assert_close(&values(&l), &want, Dtype::Float32, "logsumexp");
    let s = ops::softmax(&a, &[1], false).unwrap();
    let v = values(&s);
    assert_close(&v[3..], &[0.5, 0.5, 0.0], Dtype::Float32, "softmax large");
    let e: f64 = (1..=3).map(|i| (i as f64).exp()).sum();
    assert_close(
        &v[..3],
        &[1f64.exp() / e, 2f64.exp() / e, 3f64.exp() / e],
        Dtype::Float32,
        "softmax",
    );
    let ninf = Array::from_vec(vec![f32::NEG_INFINITY; 2]).unwrap();
    assert_eq!(
        ops::logsumexp(&ninf, &[], false)
            .unwrap()
            .item::<f32>()
            .unwrap(),
        f32::NEG_INFINITY
    );
}

#[test]
fn reduction_errors_and_empty_axes() {
    let e = ops::zeros(&[0, 3], None).unwrap();
    assert_eq!(
        ops::sum(&e, &[0], false).unwrap().to_vec::<f32>().unwrap(),
        vec![0.0; 3]
    );
    let msg = ops::max(&e, &[0], false).unwrap_err().to_string();
    assert!(msg.contains("zero size"), "{msg}");
    let a = ops::zeros(&[2, 3], None).unwrap();
    let msg = ops::sum(&a, &[3], false).unwrap_err().to_string();
    assert!(msg.contains("3") && msg.contains("2 dimensions"), "{msg}");
    assert!(ops::sum(&a, &[0, 0], false).is_err());
}

#[test]
fn large_reductions_take_the_parallel_paths() {
    // Big enough to split across threads on every path: inner, outer and general.
    let n = 300;
    let a = ops::reshape(
        &ops::arange(0.0, (n * n) as f64, 1.0, Some(Dtype::Float64)).unwrap(),
        &[n as isize, n as isize],
    )
    .unwrap();
    let rows = ops::sum(&a, &[1], false).unwrap().to_vec::<f64>().unwrap();
    let cols = ops::sum(&a, &[0], false).unwrap().to_vec::<f64>().unwrap();
    for i in 0..n {
        let r: f64 = (0..n).map(|j| (i * n + j) as f64).sum();
        let c: f64 = (0..n).map(|j| (j * n + i) as f64).sum();
        assert_eq!(rows[i], r);
        assert_eq!(cols[i], c);
    }
    let b = ops::reshape(&a, &[30, 10, 300]).unwrap();
    let mid = ops::sum(&b, &[0, 2], false)
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    let want: Vec<f64> = (0..10)
        .map(|j| {
            (0..30)
                .flat_map(|i| (0..300).map(move |k| ((i * 10 + j) * 300 + k) as f64))
                .sum()
        })
        .collect();
    assert_eq!(mid, want);
}

/// Long contiguous rows (the chunk-skipping kernel) agree with the same rows read
/// through a transposed view (the element-by-element loop) and with a plain scan:
/// ties keep the first index, a NaN wins at its first position, in f32, f64 and int32.
#[test]
fn argmax_argmin_of_long_rows_match_a_scan() {
    let (rows, n) = (6usize, 1000usize);
    let mut v: Vec<f64> = (0..rows * n)
        .map(|i| ((i * 7919) % 1009) as f64 - 500.0)
        .collect();
    v[n + 700] = 900.0; // row 1: a late maximum, also repeated later
    v[n + 900] = 900.0;
    v[2 * n + 300] = f64::NAN; // row 2: a NaN after the first chunk, then a larger value
    v[2 * n + 301] = 1e9;
    v[3 * n] = 1e9; // row 3: the first element is the maximum
    let first = |row: &[f64], max: bool| {
        let mut best = 0;
        for j in 1..row.len() {
            if row[best].is_nan() {
                break;
            }
            let b = if max {
                row[best] < row[j]
            } else {
                row[j] < row[best]
            };
            if b || row[j].is_nan() {
                best = j;
            }
        }
        best as u32
    };
    for dtype in [Dtype::Float32, Dtype::Float64, Dtype::Int32] {
        let ints = dtype == Dtype::Int32;
        let vals: Vec<f64> = v
            .iter()
            .map(|&x| if ints && x.is_nan() { 0.0 } else { x })
            .collect();
        let a = ops::astype(&Array::from_slice(&vals, &[rows, n]).unwrap(), dtype).unwrap();
        let at = ops::contiguous(&ops::transpose(&a, &[1, 0]).unwrap()).unwrap();
        for max in [true, false] {
            let f = if max { ops::argmax } else { ops::argmin };
            let got = f(&a, Some(1), false).unwrap().to_vec::<u32>().unwrap();
            let strided = f(&at, Some(0), false).unwrap().to_vec::<u32>().unwrap();
            let want: Vec<u32> = vals.chunks(n).map(|r| first(r, max)).collect();
            assert_eq!(got, want, "{dtype} max={max}");
            assert_eq!(strided, want, "{dtype} max={max}, strided");
        }
    }
}

#[test]
fn argmax_of_an_offset_view() {
    // A view whose first element is not the buffer's (offset != 0), in a wide dtype.
    let a = Array::from_slice(&[9.0f64, 1.0, 5.0, 2.0, 7.0, 3.0], &[3, 2]).unwrap();
    let s = ops::slice(&a, &[1, 0], &[3, 2], &[1, 1]).unwrap();
    assert_eq!(
        ops::argmax(&s, Some(0), false)
            .unwrap()
            .to_vec::<u32>()
            .unwrap(),
        vec![1, 1]
    );
    let i = Array::from_slice(&[100i64, 0, 1, 2, 3, 4], &[6]).unwrap();
    let v = ops::slice(&i, &[1], &[6], &[1]).unwrap();
    assert_eq!(
        ops::argmax(&v, None, false).unwrap().item::<u32>().unwrap(),
        4
    );
}

#[test]
fn arg_reductions_over_all_axes_keep_every_axis() {
    let a = ops::reshape(&ops::arange(0.0, 6.0, 1.0, None).unwrap(), &[2, 3]).unwrap();
    let m = ops::argmax(&a, None, true).unwrap();
    assert_eq!(m.shape(), &[1, 1]);
    assert_eq!(m.to_vec::<u32>().unwrap(), vec![5]);
    assert_eq!(
        ops::argmin(&a, None, false).unwrap().shape(),
        &[] as &[usize]
    );
}
