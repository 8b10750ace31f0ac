//! gather_mm, segmented_mm and block_masked_mm against float64 loops; nonzero and
//! boolean-mask reads, which evaluate their input and refuse compile and vmap traces.

use ferrox::{ops, transforms, Array, Error};

/// A deterministic pseudo-random vector in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// Row-major `[m, k] @ [k, n]` in f64.
fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).map(|t| a[i * k + t] * b[t * n + j]).sum();
        }
    }
    out
}

fn close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{g} != {w}");
    }
}

#[test]
fn gather_mm_multiplies_the_indexed_matrices() {
    let (ba, bb, m, k, n) = (3, 4, 2, 5, 3);
    let (a, b) = (values(ba * m * k, 1), values(bb * k * n, 2));
    let lhs = [2u32, 0, 1, 2, 2, 0];
    let rhs = [3i32, 3, 0, 1, 2, 0];
    let got = ops::gather_mm(
        &Array::from_slice(&a, &[ba, m, k]).unwrap(),
        &Array::from_slice(&b, &[bb, k, n]).unwrap(),
        Some(&Array::from_slice(&lhs, &[2, 3]).unwrap()),
        Some(&Array::from_slice(&rhs, &[2, 3]).unwrap()),
        false,
    )
    .unwrap();
    assert_eq!(got.shape(), [2, 3, m, n]);
    let want: Vec<f64> = lhs
        .iter()
        .zip(rhs)
        .flat_map(|(&i, j)| {
            let (i, j) = (i as usize, j as usize);
            matmul(&a[i * m * k..][..m * k], &b[j * k * n..][..k * n], m, k, n)
        })
        .collect();
    close(&got.to_vec::<f64>().unwrap(), &want);
    // Float indices are refused with MLX's message.
    let bad = ops::gather_mm(
        &Array::from_slice(&a, &[ba, m, k]).unwrap(),
        &Array::from_slice(&b, &[bb, k, n]).unwrap(),
        Some(&Array::from_slice(&[0.5f32], &[1]).unwrap()),
        None,
        false,
    );
    assert!(matches!(bad, Err(Error::Invalid(m)) if m.contains("Indices must be integral")));
}

#[test]
fn gather_mm_gradient_scatters_into_the_used_matrices() {
    let (a, b) = (values(2 * 2 * 3, 3), values(2 * 3 * 2, 4));
    let (aa, bb) = (
        Array::from_slice(&a, &[2, 2, 3]).unwrap(),
        Array::from_slice(&b, &[2, 3, 2]).unwrap(),
    );
    let lhs = Array::from_slice(&[1u32, 1], &[2]).unwrap();
    let rhs = Array::from_slice(&[0u32, 1], &[2]).unwrap();
    let g = transforms::grad(
        move |x: &[Array]| {
            let y = ops::gather_mm(&x[0], &x[1], Some(&lhs), Some(&rhs), false)?;
            Ok(vec![ops::sum(&y, &[], false)?])
        },
        &[0],
    )(&[aa, bb])
    .unwrap();
    let ga = g[0].to_vec::<f64>().unwrap();
    // Matrix 0 of a is never used; matrix 1 is used twice: d/da[1][i][t] = sum_j b0[t][j] + b1[t][j].
    assert!(ga[..6].iter().all(|&v| v == 0.0));
    for i in 0..2 {
        for t in 0..3 {
            let want: f64 = (0..2).map(|j| b[t * 2 + j] + b[6 + t * 2 + j]).sum();
            assert!((ga[6 + i * 3 + t] - want).abs() < 1e-12);
        }
    }
}

#[test]
fn segmented_mm_sums_over_each_range() {
    let (m, k, n) = (2, 6, 3);
    let (a, b) = (values(m * k, 5), values(k * n, 6));
    let seg = [0i32, 2, 2, 6, 4, 4];
    let got = ops::segmented_mm(
        &Array::from_slice(&a, &[m, k]).unwrap(),
        &Array::from_slice(&b, &[k, n]).unwrap(),
        &Array::from_slice(&seg, &[3, 2]).unwrap(),
    )
    .unwrap();
    assert_eq!(got.shape(), [3, m, n]);
    let mut want = vec![];
    for s in seg.chunks(2) {
        let (lo, hi) = (s[0] as usize, s[1] as usize);
        for i in 0..m {
            for j in 0..n {
                want.push((lo..hi).map(|t| a[i * k + t] * b[t * n + j]).sum::<f64>());
            }
        }
    }
    close(&got.to_vec::<f64>().unwrap(), &want);
}

#[test]
fn block_masked_mm_zeroes_masked_blocks() {
    let (m, k, n) = (40, 33, 70);
    let (a, b) = (values(m * k, 7), values(k * n, 8));
    let lhs_mask = [true, false, true, true]; // 2 x 2 blocks of a
    let out_mask = [1.0f64, 0.5, 0.0, 2.0, 1.0, 1.0]; // 2 x 3 blocks of the output
    let got = ops::block_masked_mm(
        &Array::from_slice(&a, &[m, k]).unwrap(),
        &Array::from_slice(&b, &[k, n]).unwrap(),
        32,
        Some(&Array::from_slice(&out_mask, &[2, 3]).unwrap()),
        Some(&Array::from_slice(&lhs_mask, &[2, 2]).unwrap()),
        None,
    )
    .unwrap()
    .to_vec::<f64>()
    .unwrap();
    let masked_a: Vec<f64> = (0..m * k)
        .map(|p| {
            let (i, t) = (p / k, p % k);
            if lhs_mask[(i / 32) * 2 + t / 32] {
                a[p]
            } else {
                0.0
            }
        })
        .collect();
    let full = matmul(&masked_a, &b, m, k, n);
    let want: Vec<f64> = (0..m * n)
        .map(|p| full[p] * out_mask[(p / n / 32) * 3 + (p % n) / 32])
        .collect();
    close(&got, &want);
    assert!(ops::block_masked_mm(
        &Array::from_slice(&a, &[m, k]).unwrap(),
        &Array::from_slice(&b, &[k, n]).unwrap(),
        16,
        None,
        None,
        None
    )
    .is_err());
}

#[test]
fn nonzero_and_boolean_mask_read_values() {
    let a = Array::from_slice(&[0i32, 4, 0, -1, 7, 0], &[2, 3]).unwrap();
    let ix = ops::nonzero(&a).unwrap();
    assert_eq!(ix[0].to_vec::<u32>().unwrap(), [0, 1, 1]);
    assert_eq!(ix[1].to_vec::<u32>().unwrap(), [1, 0, 1]);
    let rows = Array::from_slice(&[false, true], &[2]).unwrap();
    let picked = ops::boolean_mask(&a, &rows).unwrap();
    assert_eq!(picked.shape(), [1, 3]);
    assert_eq!(picked.to_vec::<i32>().unwrap(), [-1, 7, 0]);
    let wrong = Array::from_slice(&[true, false, true], &[3]).unwrap();
    assert!(matches!(
        ops::boolean_mask(&a, &wrong),
        Err(Error::Index(_))
    ));
    assert!(ops::nonzero(&Array::scalar(1.0f32)).is_err());
}

#[test]
fn nonzero_refuses_compile_and_vmap_but_works_under_grad() {
    let f = |x: &[Array]| -> ferrox::Result<Vec<Array>> {
        let ix = ops::nonzero(&x[0])?;
        Ok(vec![ops::take(&x[0], &ix[0], None)?])
    };
    let x = Array::from_slice(&[0.0f32, 2.0, 3.0], &[3]).unwrap();
    let err = transforms::compile(f).call(&[x.clone()]).unwrap_err();
    assert!(
        err.to_string().contains("not known inside compile or vmap"),
        "{err}"
    );
    let err =
        transforms::vmap(f, &[Some(0)], &[Some(0)])(&[x.reshape(&[1, 3]).unwrap()]).unwrap_err();
    assert!(
        err.to_string().contains("not known inside compile or vmap"),
        "{err}"
    );
    // Under grad the values are the caller's: it evaluates, and the gradient flows
    // through the gather.
    let g = transforms::grad(
        move |x: &[Array]| Ok(vec![ops::sum(&f(x)?[0], &[], false)?]),
        &[0],
    )(&[x])
    .unwrap();
    assert_eq!(g[0].to_vec::<f32>().unwrap(), [0.0, 1.0, 1.0]);
}
