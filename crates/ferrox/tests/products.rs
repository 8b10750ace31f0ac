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
    let e = ferrox::ops::hadamard_transform(&a.reshape(&[48]).unwrap(), None).unwrap_err();
    assert!(e.to_string().contains("n = 48"), "{e}");
}
