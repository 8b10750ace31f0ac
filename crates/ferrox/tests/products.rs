//! kron and the Walsh-Hadamard transform against their definitions, in f64.

/// kron against the definition: out[i*p + k, j*q + l] = a[i, j] * b[k, l].
#[test]
fn kron_matches_its_definition() {
    let a: Vec<f64> = (0..6).map(|i| i as f64 - 2.0).collect();
    let b: Vec<f64> = (0..8).map(|i| 0.5 * i as f64).collect();
    let (aa, bb) = (
        ferrox::Array::from_slice(&a, &[2, 3]).unwrap(),
        ferrox::Array::from_slice(&b, &[4, 2]).unwrap(),
    );
    let out = ferrox::ops::kron(&aa, &bb).unwrap();
    assert_eq!(out.shape(), [8, 6]);
    let got = out.to_vec::<f64>().unwrap();
    for i in 0..2 {
        for j in 0..3 {
            for k in 0..4 {
                for l in 0..2 {
                    assert_eq!(
                        got[(i * 4 + k) * 6 + j * 2 + l],
                        a[i * 3 + j] * b[k * 2 + l]
                    );
                }
            }
        }
    }
    // Shapes of different ranks: the shorter one gains leading 1s.
    let c = ferrox::ops::ones(&[2, 1, 3], None).unwrap();
    assert_eq!(ferrox::ops::kron(&c, &bb).unwrap().shape(), [2, 4, 6]);
}

/// The Walsh-Hadamard transform against an explicit Sylvester matrix, in f64.
#[test]
fn hadamard_transform_matches_the_sylvester_matrix() {
    let n = 16;
    // Sylvester's H[i][j] = (-1)^popcount(i & j).
    let h = |i: usize, j: usize| {
        if (i & j).count_ones() % 2 == 0 {
            1.0
        } else {
            -1.0
        }
    };
    let x: Vec<f64> = (0..3 * n).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
    let a = ferrox::Array::from_slice(&x, &[3, n]).unwrap();
    let got = ferrox::ops::hadamard_transform(&a, Some(0.5)).unwrap();
    let got = got.to_vec::<f64>().unwrap();
    for r in 0..3 {
        for j in 0..n {
            let want: f64 = (0..n).map(|i| x[r * n + i] * h(i, j)).sum::<f64>() * 0.5;
            assert_eq!(got[r * n + j], want, "row {r} col {j}");
        }
    }
    // 36 = 12 * 3 is neither a power of two nor m * 2^k for m in 12, 20, 28.
    let odd = ferrox::ops::ones(&[36], None).unwrap();
    let e = ferrox::ops::hadamard_transform(&odd, None).unwrap_err();
    assert!(e.to_string().contains("n = 36"), "{e}");
}

/// Sizes m * 2^k (48 = 12 * 4): H is a ±1 matrix with H Hᵀ = n I.
#[test]
fn hadamard_transform_of_twelve_times_a_power_of_two_is_orthogonal() {
    let n = 48;
    let eye = ferrox::ops::eye(n, None, 0, Some(ferrox::Dtype::Float64)).unwrap();
    let h = ferrox::ops::hadamard_transform(&eye, Some(1.0))
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    assert!(h.iter().all(|&v| v == 1.0 || v == -1.0));
    for i in 0..n {
        for j in 0..n {
            let dot: f64 = (0..n).map(|t| h[i * n + t] * h[j * n + t]).sum();
            assert_eq!(dot, if i == j { n as f64 } else { 0.0 }, "rows {i}, {j}");
        }
    }
}

#[test]
fn einsum_matches_explicit_loops() {
    use ferrox::{ops, Array};
    let a = Array::from_slice(&(0..6).map(|x| x as f32).collect::<Vec<_>>(), &[2, 3]).unwrap();
    let b = Array::from_slice(
        &(0..12).map(|x| x as f32 - 5.0).collect::<Vec<_>>(),
        &[3, 4],
    )
    .unwrap();
    let (av, bv) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    // ij,jk->ik
    let got = ops::einsum("ij,jk->ik", &[a.clone(), b.clone()])
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    for i in 0..2 {
        for k in 0..4 {
            let want: f32 = (0..3).map(|j| av[i * 3 + j] * bv[j * 4 + k]).sum();
            assert_eq!(got[i * 4 + k], want);
        }
    }
    // ij->ji and the implicit "ij,ij" (sum of products) and "ji" (transpose by order).
    let t = ops::einsum("ij->ji", &[a.clone()])
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(t, vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    let s = ops::einsum("ij,ij", &[a.clone(), a.clone()])
        .unwrap()
        .item::<f32>()
        .unwrap();
    assert_eq!(s, av.iter().map(|x| x * x).sum::<f32>());
    // A diagonal, and a three-operand chain through the greedy order.
    let sq = Array::from_slice(&(0..9).map(|x| x as f32).collect::<Vec<_>>(), &[3, 3]).unwrap();
    assert_eq!(
        ops::einsum("ii->i", &[sq.clone()])
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![0.0, 4.0, 8.0]
    );
    let chain = ops::einsum("ij,jk,kl->il", &[a.clone(), sq.clone(), b.clone()]).unwrap();
    let want = ops::matmul(&ops::matmul(&a, &sq).unwrap(), &b).unwrap();
    assert_eq!(
        chain.to_vec::<f32>().unwrap(),
        want.to_vec::<f32>().unwrap()
    );
    let (path, report) = ops::einsum_path("ij,jk->ik", &[a.clone(), b.clone()]).unwrap();
    assert_eq!(path, vec![vec![0, 1]]);
    assert!(report.contains("Naive FLOP count:  48"), "{report}");
    // Errors.
    assert!(ops::einsum("ij,jk->ik", &[a.clone()]).is_err());
    assert!(ops::einsum("ij,jk->ik", &[a.clone(), a.clone()]).is_err());
    assert!(ops::einsum("ij->k", &[a]).is_err());
}
