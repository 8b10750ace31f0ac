//! A first end-to-end check of the engine: build, evaluate, read back.

use ferrox::ops::*;
use ferrox::{array, Array, Dtype};

#[test]
fn arithmetic_broadcasting_and_reduction() {
    let a = array!([[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    let b = array!([10.0f32, 20.0, 30.0]);
    let c = (&a + &b).unwrap();
    assert_eq!(c.shape(), &[2, 3]);
    assert_eq!(
        c.to_vec::<f32>().unwrap(),
        vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]
    );
    let s = sum(&c, &[1], false).unwrap();
    assert_eq!(s.to_vec::<f32>().unwrap(), vec![66.0, 75.0]);
    let s0 = sum(&c, &[0], true).unwrap();
    assert_eq!(s0.shape(), &[1, 3]);
    assert_eq!(s0.to_vec::<f32>().unwrap(), vec![25.0, 47.0, 69.0]);
    let t = transpose(&a, &[]).unwrap();
    assert_eq!(
        t.to_vec::<f32>().unwrap(),
        vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
    );
    let m = matmul(&a, &t).unwrap();
    assert_eq!(m.to_vec::<f32>().unwrap(), vec![14.0, 32.0, 32.0, 77.0]);
}

#[test]
fn weak_scalars() {
    let a = Array::from_vec(vec![1i8, 2, 3]).unwrap();
    assert_eq!((&a + 1).unwrap().dtype(), Dtype::Int8);
    assert_eq!((&a + 1.0).unwrap().dtype(), Dtype::Float32);
    assert!((&Array::from_vec(vec![1u8]).unwrap() + -1).is_err());
    assert_eq!(divide(&a, &a).unwrap().dtype(), Dtype::Float32);
}

#[test]
fn errors_name_shapes() {
    let a = zeros(&[3, 2], None).unwrap();
    let b = zeros(&[4], None).unwrap();
    let e = add(&a, &b).unwrap_err().to_string();
    assert!(e.contains("[3, 2]") && e.contains("[4]"), "{e}");
    let e = matmul(&a, &a).unwrap_err().to_string();
    assert!(e.contains("[3, 2]"), "{e}");
    assert!(sum(&a, &[2], false).is_err());
}

#[test]
fn million_chained_ops() {
    let mut x = zeros(&[1], None).unwrap();
    for _ in 0..1_000_000 {
        x = (&x + 1.0).unwrap();
    }
    assert_eq!(x.item::<f32>().unwrap(), 1_000_000.0);
    // And dropping an unevaluated deep chain does not overflow the stack.
    let mut y = zeros(&[1], None).unwrap();
    for _ in 0..1_000_000 {
        y = (&y + 1.0).unwrap();
    }
    drop(y);
}

#[test]
fn printing() {
    let a = array!([[1.5f32, 2.0], [3.0, 4.0]]);
    assert_eq!(
        a.to_string(),
        "array([[1.5, 2],\n       [3, 4]], dtype=float32)"
    );
    assert_eq!(array!(3i32).to_string(), "array(3, dtype=int32)");
}
