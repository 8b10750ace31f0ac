//! sort, argsort, partition, argpartition, topk and searchsorted against reference
//! loops over f64 values (a stable sort of each line), on pseudo-random inputs with ties.

mod common;
use common::{random_array, values, Lcg};
use ferrox::{ops, Dtype, Error};

/// The lines of a row-major `shape` along `axis`: for each, the flat indices in order.
fn lines(shape: &[usize], axis: usize) -> Vec<Vec<usize>> {
    let n = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    let mut out = Vec::new();
    for o in 0..outer {
        for i in 0..inner {
            out.push((0..n).map(|j| (o * n + j) * inner + i).collect());
        }
    }
    out
}

/// The stable sorting permutation of each line.
fn reference_argsort(x: &[f64], shape: &[usize], axis: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for line in lines(shape, axis) {
        let mut perm: Vec<usize> = (0..line.len()).collect();
        perm.sort_by(|&a, &b| x[line[a]].total_cmp(&x[line[b]]));
        for (j, &p) in perm.iter().enumerate() {
            out[line[j]] = p as f64;
        }
    }
    out
}

const CASES: &[(&[usize], isize)] = &[
    (&[7], -1),
    (&[3, 5], 0),
    (&[3, 5], 1),
    (&[2, 3, 4], 1),
    (&[2, 3, 4], -1),
    (&[0, 3], 0),
    (&[4, 1], 1),
];

#[test]
fn sort_and_argsort_match_a_stable_reference() {
    let mut rng = Lcg(7);
    for dtype in [
        Dtype::Int32,
        Dtype::Uint8,
        Dtype::Float16,
        Dtype::Float32,
        Dtype::Float64,
    ] {
        for &(shape, axis) in CASES {
            // Few distinct values: ties show whether the order is stable.
            let (_, x) = random_array(shape, dtype, -3.0, 3.0, &mut rng);
            let x: Vec<f64> = x.iter().map(|v| (v * 2.0).round() / 2.0).collect();
            let a = common::array_of(&x, shape, dtype);
            let ax = axis.rem_euclid(shape.len() as isize) as usize;
            let perm = reference_argsort(&x, shape, ax);
            let i = ops::argsort(&a, Some(axis)).unwrap();
            assert_eq!(i.dtype(), Dtype::Uint32);
            assert_eq!(values(&i), perm, "{dtype} {shape:?} axis {axis}");
            let s = ops::sort(&a, Some(axis)).unwrap();
            assert_eq!(s.dtype(), dtype);
            let want: Vec<f64> = lines(shape, ax)
                .iter()
                .flat_map(|l| l.iter().map(|&k| (k, x[l[perm[k] as usize]])))
                .fold(vec![0.0; x.len()], |mut o, (k, v)| {
                    o[k] = v;
                    o
                });
            assert_eq!(values(&s), want, "{dtype} {shape:?} axis {axis}");
        }
    }
}

#[test]
fn none_axis_sorts_the_flattened_array_and_nan_goes_last() {
    let a = ferrox::Array::from_slice(&[3.0f32, f32::NAN, -1.0, 2.0], &[2, 2]).unwrap();
    let s = values(&ops::sort(&a, None).unwrap());
    assert_eq!(&s[..3], [-1.0, 2.0, 3.0]);
    assert!(s[3].is_nan());
    assert_eq!(ops::sort(&a, None).unwrap().shape(), [4]);
    assert_eq!(
        values(&ops::argsort(&a, Some(-1)).unwrap()),
        [0.0, 1.0, 0.0, 1.0]
    );
}

#[test]
fn partition_puts_the_kth_element_in_place() {
    let mut rng = Lcg(11);
    for &(shape, axis, kth) in &[
        (&[9usize][..], 0isize, 4isize),
        (&[4, 6], 1, -1),
        (&[5, 3], 0, 0),
    ] {
        let (a, x) = random_array(shape, Dtype::Float32, -3.0, 3.0, &mut rng);
        let ax = axis as usize;
        let n = shape[ax] as isize;
        let k = kth.rem_euclid(n) as usize;
        let p = values(&ops::partition(&a, kth, Some(axis)).unwrap());
        let idx = values(&ops::argpartition(&a, kth, Some(axis)).unwrap());
        for line in lines(shape, ax) {
            let mut sorted: Vec<f64> = line.iter().map(|&i| x[i]).collect();
            sorted.sort_by(f64::total_cmp);
            let by_index: Vec<f64> = line.iter().map(|&i| x[line[idx[i] as usize]]).collect();
            for got in [line.iter().map(|&i| p[i]).collect::<Vec<_>>(), by_index] {
                let mut same = got.clone();
                same.sort_by(f64::total_cmp);
                assert_eq!(same, sorted, "not a permutation of the line");
                assert_eq!(got[k], sorted[k]);
                assert!(got[..k].iter().all(|&v| v <= got[k]));
                assert!(got[k + 1..].iter().all(|&v| v >= got[k]));
            }
        }
    }
}

/// Ascending with NaN after everything (and -0.0 equal to 0.0), as ferrox sorts.
fn nan_last(a: &f64, b: &f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (false, false) => a.partial_cmp(b).unwrap(),
        (x, y) => x.cmp(&y),
    }
}

/// Equal elementwise in that order (NaN equal to NaN).
fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| nan_last(x, y).is_eq())
}

/// Few distinct values (ties), about one NaN in six, and `-0.0` beside `0.0`.
fn values_with_nan_and_ties(n: usize, rng: &mut Lcg) -> Vec<f64> {
    (0..n)
        .map(|_| match rng.next_u32() % 6 {
            0 => f64::NAN,
            _ => (rng.uniform(-3.0, 3.0) * 2.0).round() / 2.0,
        })
        .collect()
}

#[test]
fn partition_and_argpartition_with_nan_ties_and_negative_kth() {
    let mut rng = Lcg(23);
    for dtype in [Dtype::Float32, Dtype::Float64, Dtype::Float16, Dtype::Int32] {
        for &(shape, axis, kth) in &[
            (&[40usize][..], 0isize, -1isize),
            (&[40], 0, -40),
            (&[40], 0, 0),
            (&[6, 33], 1, -7),
            (&[33, 6], 0, 16),
            (&[3, 200, 2], 1, -101),
            (&[1000], 0, 500),
        ] {
            let n: usize = shape.iter().product();
            let mut x = values_with_nan_and_ties(n, &mut rng);
            if dtype == Dtype::Int32 {
                x.iter_mut()
                    .for_each(|v| *v = if v.is_nan() { 7.0 } else { *v * 2.0 });
            }
            let a = common::array_of(&x, shape, dtype);
            let x = values(&a);
            let ax = axis as usize;
            let k = kth.rem_euclid(shape[ax] as isize) as usize;
            let p = values(&ops::partition(&a, kth, Some(axis)).unwrap());
            let idx = values(&ops::argpartition(&a, kth, Some(axis)).unwrap());
            for line in lines(shape, ax) {
                let mut sorted: Vec<f64> = line.iter().map(|&i| x[i]).collect();
                sorted.sort_by(nan_last);
                let got: Vec<f64> = line.iter().map(|&i| p[i]).collect();
                let by_index: Vec<f64> = line.iter().map(|&i| x[line[idx[i] as usize]]).collect();
                // The same arrangement: the derivative of partition relies on it.
                let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&by_index), "{dtype} {shape:?} kth {kth}");
                let mut perm: Vec<usize> = line.iter().map(|&i| idx[i] as usize).collect();
                perm.sort_unstable();
                assert!(
                    perm.iter().enumerate().all(|(j, &q)| j == q),
                    "not a permutation"
                );
                let mut resorted = got.clone();
                resorted.sort_by(nan_last);
                assert!(same(&resorted, &sorted), "not a permutation of the line");
                assert!(
                    same(&got[k..=k], &sorted[k..=k]),
                    "{dtype} {shape:?} kth {kth}"
                );
                assert!(got[..k].iter().all(|v| nan_last(v, &got[k]).is_le()));
                assert!(got[k + 1..].iter().all(|v| nan_last(v, &got[k]).is_ge()));
            }
        }
    }
}

#[test]
fn topk_with_nan_and_ties_is_the_sorted_tail() {
    let mut rng = Lcg(29);
    for &(shape, axis, k) in &[
        (&[50usize][..], 0isize, 7isize),
        (&[4, 31], 1, 30),
        (&[31, 4], 0, 1),
        (&[3, 300], -1, 299),
        (&[3, 300], -1, 300),
    ] {
        let n: usize = shape.iter().product();
        let x = values_with_nan_and_ties(n, &mut rng);
        let a = common::array_of(&x, shape, Dtype::Float32);
        let ax = axis.rem_euclid(shape.len() as isize) as usize;
        let t = ops::topk(&a, k, Some(axis)).unwrap();
        let mut want_shape = shape.to_vec();
        want_shape[ax] = k as usize;
        assert_eq!(t.shape(), &want_shape[..]);
        let t = values(&t);
        for (line, out) in lines(shape, ax).iter().zip(lines(&want_shape, ax)) {
            let mut sorted: Vec<f64> = line.iter().map(|&i| x[i]).collect();
            sorted.sort_by(nan_last);
            let want = &sorted[sorted.len() - k as usize..];
            let got: Vec<f64> = out.iter().map(|&i| t[i]).collect();
            assert!(same(&got, want), "{shape:?} k {k}: {got:?} {want:?}");
        }
    }
}

#[test]
fn searchsorted_matches_a_counting_reference_on_large_random_inputs() {
    let mut rng = Lcg(31);
    for &(n, m) in &[(0usize, 5usize), (1, 9), (777, 2000), (5000, 300)] {
        for dtype in [Dtype::Float32, Dtype::Float64, Dtype::Int32] {
            let mut seq = values_with_nan_and_ties(n, &mut rng);
            let mut v = values_with_nan_and_ties(m, &mut rng);
            if dtype == Dtype::Int32 {
                for x in seq.iter_mut().chain(v.iter_mut()) {
                    *x = if x.is_nan() { 9.0 } else { *x * 2.0 };
                }
            }
            // Values outside the sequence's range, exactly on its ends, and between.
            v.extend([-100.0, 100.0, 3.0, -3.0]);
            seq.sort_by(nan_last);
            let s = common::array_of(&seq, &[n], dtype);
            let vs = common::array_of(&v, &[v.len()], dtype);
            for right in [false, true] {
                let got = values(&ops::searchsorted(&s, &vs, right).unwrap());
                let want: Vec<f64> = v
                    .iter()
                    .map(|q| {
                        seq.iter()
                            .filter(|e| {
                                let o = nan_last(e, q);
                                o.is_lt() || (right && o.is_eq())
                            })
                            .count() as f64
                    })
                    .collect();
                assert_eq!(got, want, "n {n} m {m} {dtype} right {right}");
            }
        }
    }
    // A batch of values along the second axis of a 2-D array, and a float sequence
    // searched with integer values (promoted).
    let s = ferrox::Array::from_slice(&[-1.0f32, 0.5, 0.5, 2.0, f32::NAN], &[5]).unwrap();
    let v = ferrox::Array::from_slice(&[0i32, 2, -3, 5, 0, 1], &[3, 2]).unwrap();
    let v = ops::transpose(&v, &[1, 0]).unwrap();
    assert_eq!(
        values(&ops::searchsorted(&s, &v, true).unwrap()),
        [1.0, 0.0, 1.0, 4.0, 4.0, 3.0]
    );
}

#[test]
fn topk_gives_the_k_largest_and_searchsorted_the_insertion_points() {
    let a = ferrox::Array::from_slice(&[3i32, 9, -1, 4, 9, 0, 7, 2], &[2, 4]).unwrap();
    assert_eq!(
        values(&ops::topk(&a, 2, Some(-1)).unwrap()),
        [4.0, 9.0, 7.0, 9.0]
    );
    assert_eq!(
        values(&ops::topk(&a, 1, Some(0)).unwrap()),
        [9.0, 9.0, 7.0, 4.0]
    );
    assert_eq!(values(&ops::topk(&a, 3, None).unwrap()), [7.0, 9.0, 9.0]);
    assert_eq!(ops::topk(&a, 0, Some(1)).unwrap().shape(), [2, 0]);

    let seq = ferrox::Array::from_slice(&[1.0f32, 2.0, 2.0, 5.0], &[4]).unwrap();
    let v = ferrox::Array::from_slice(&[0.0f32, 2.0, 3.0, 9.0, 5.0, 1.0], &[2, 3]).unwrap();
    let left = ops::searchsorted(&seq, &v, false).unwrap();
    assert_eq!(
        (left.dtype(), left.shape()),
        (Dtype::Uint32, &[2usize, 3][..])
    );
    assert_eq!(values(&left), [0.0, 1.0, 3.0, 4.0, 3.0, 0.0]);
    assert_eq!(
        values(&ops::searchsorted(&seq, &v, true).unwrap()),
        [0.0, 3.0, 3.0, 4.0, 4.0, 1.0]
    );
}

#[test]
fn bad_arguments_are_errors() {
    let a = ferrox::ops::zeros(&[3, 4], None).unwrap();
    assert!(matches!(ops::sort(&a, Some(2)), Err(Error::Index(_))));
    assert!(matches!(ops::argsort(&a, Some(-3)), Err(Error::Index(_))));
    assert!(matches!(ops::partition(&a, 4, None), Ok(_)));
    assert!(matches!(
        ops::partition(&a, 4, Some(-1)),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        ops::argpartition(&a, -5, Some(1)),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(ops::topk(&a, 5, Some(1)), Err(Error::Invalid(_))));
    assert!(matches!(ops::topk(&a, -1, Some(1)), Err(Error::Invalid(_))));
    let e = ops::searchsorted(&a, &a, false).unwrap_err();
    assert!(e.to_string().contains("1-D"), "{e}");
}

#[test]
fn unique_pads_or_cuts_to_its_static_size() {
    let a = ferrox::Array::from_slice(&[3i32, 1, 2, 3, 1, 5], &[2, 3]).unwrap();
    let u = ops::unique(&a, 6, None, true, true, true).unwrap();
    assert_eq!(values(&u.values), [1.0, 2.0, 3.0, 5.0, 1.0, 1.0]);
    assert_eq!(values(&u.index.unwrap()), [1.0, 2.0, 0.0, 5.0, 1.0, 1.0]);
    let inv = u.inverse.unwrap();
    assert_eq!(
        (inv.dtype(), inv.shape()),
        (Dtype::Uint32, &[2usize, 3][..])
    );
    assert_eq!(values(&inv), [2.0, 0.0, 1.0, 2.0, 0.0, 3.0]);
    assert_eq!(values(&u.counts.unwrap()), [2.0, 1.0, 2.0, 1.0, 0.0, 0.0]);
    // Cut to 2: later values map to the last kept one and are not counted.
    let fill = ferrox::Array::from_slice(&[-1i32], &[]).unwrap();
    let u = ops::unique(&a, 2, Some(&fill), false, true, true).unwrap();
    assert_eq!(values(&u.values), [1.0, 2.0]);
    assert_eq!(values(&u.inverse.unwrap()), [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]);
    assert_eq!(values(&u.counts.unwrap()), [2.0, 1.0]);
    assert!(u.index.is_none());
    let padded = ops::unique(&a, 5, Some(&fill), false, false, false).unwrap();
    assert_eq!(values(&padded.values), [1.0, 2.0, 3.0, 5.0, -1.0]);
    // An empty input needs a fill value.
    let empty = ferrox::ops::zeros(&[0], None).unwrap();
    assert!(matches!(
        ops::unique(&empty, 2, None, false, false, false),
        Err(Error::Invalid(_))
    ));
}
