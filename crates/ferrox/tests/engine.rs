//! The scheduler and graph: deep graphs, threads, async evaluation, views, donation.

use ferrox::ops::*;
use ferrox::{async_eval, eval, Array};

#[test]
fn eight_threads_build_and_evaluate_independent_graphs() {
    let handles: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut x = full(&[1000], t as f64, None).unwrap();
                for i in 0..200 {
                    x = add(&multiply(&x, 1.0).unwrap(), (i % 3) as f64).unwrap();
                    if i % 50 == 0 {
                        x.eval().unwrap();
                    }
                }
                let s = sum(&x, &[], false).unwrap().item::<f32>().unwrap();
                (t, s)
            })
        })
        .collect();
    for h in handles {
        let (t, s) = h.join().unwrap();
        // Each step adds i % 3: 200 steps add 66*1 + 66*2 + ... = 199 per element.
        let per = t as f64 + (0..200).map(|i| (i % 3) as f64).sum::<f64>();
        assert_eq!(s as f64, per * 1000.0, "thread {t}");
    }
}

#[test]
fn threads_share_one_graph() {
    let a = arange(0.0, 1000.0, 1.0, None).unwrap();
    let b = sum(&multiply(&a, 2.0).unwrap(), &[], false).unwrap();
    let hs: Vec<_> = (0..8)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || b.item::<f32>().unwrap())
        })
        .collect();
    for h in hs {
        assert_eq!(h.join().unwrap(), 999_000.0);
    }
}

#[test]
fn async_eval_then_read() {
    let a = arange(0.0, 100.0, 1.0, None).unwrap();
    let b = exp(&multiply(&a, 0.01).unwrap()).unwrap();
    async_eval(std::slice::from_ref(&b));
    let v = b.to_vec::<f32>().unwrap();
    assert!((v[100 - 1] - 0.99f32.exp()).abs() < 1e-5);
}

#[test]
fn shared_subgraph_evaluates_once_and_correctly() {
    let a = arange(0.0, 10.0, 1.0, None).unwrap();
    let b = add(&a, 1.0).unwrap();
    let c = multiply(&b, &b).unwrap();
    let d = subtract(&c, &b).unwrap();
    eval(&[c.clone(), d.clone()]).unwrap();
    assert_eq!(c.to_vec::<f32>().unwrap()[2], 9.0);
    assert_eq!(d.to_vec::<f32>().unwrap()[2], 6.0);
    // `b` is still readable after its readers ran.
    assert_eq!(b.to_vec::<f32>().unwrap()[2], 3.0);
}

#[test]
fn donation_never_clobbers_a_live_input() {
    let a = arange(0.0, 5.0, 1.0, None).unwrap();
    a.eval().unwrap();
    let b = add(&a, 1.0).unwrap(); // `a` is held by the user: not donated
    assert_eq!(b.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(a.to_vec::<f32>().unwrap(), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    // A temporary can be donated; the result is still right.
    let c = add(&multiply(&a, 2.0).unwrap(), 1.0).unwrap();
    assert_eq!(c.to_vec::<f32>().unwrap(), vec![1.0, 3.0, 5.0, 7.0, 9.0]);
    // A view of a temporary shares its buffer: no donation into the view's source.
    let t = multiply(&a, 3.0).unwrap();
    let s = slice(&t, &[1], &[4], &[1]).unwrap();
    let u = add(&t, 1.0).unwrap();
    eval(&[s.clone(), u.clone()]).unwrap();
    assert_eq!(s.to_vec::<f32>().unwrap(), vec![3.0, 6.0, 9.0]);
    assert_eq!(u.to_vec::<f32>().unwrap(), vec![1.0, 4.0, 7.0, 10.0, 13.0]);
}

#[test]
fn views_do_not_copy_and_read_right() {
    let a = arange(0.0, 24.0, 1.0, None)
        .unwrap()
        .reshape(&[2, 3, 4])
        .unwrap();
    let t = transpose(&a, &[2, 0, 1]).unwrap();
    assert_eq!(t.shape(), &[4, 2, 3]);
    let v = t.to_vec::<f32>().unwrap();
    assert_eq!(&v[..6], &[0.0, 4.0, 8.0, 12.0, 16.0, 20.0]);
    let s = slice(&a, &[0, 2, -1], &[2, -4, -5], &[1, -1, -2]).unwrap();
    assert_eq!(s.shape(), &[2, 3, 2]);
    assert_eq!(
        s.to_vec::<f32>().unwrap(),
        vec![11.0, 9.0, 7.0, 5.0, 3.0, 1.0, 23.0, 21.0, 19.0, 17.0, 15.0, 13.0]
    );
    // Reshape of a non-contiguous view copies.
    let r = t.reshape(&[24]).unwrap();
    assert_eq!(r.to_vec::<f32>().unwrap()[..3], [0.0, 4.0, 8.0]);
    let b = broadcast_to(&Array::from_vec(vec![1i32, 2]).unwrap(), &[3, 2]).unwrap();
    assert_eq!(b.to_vec::<i32>().unwrap(), vec![1, 2, 1, 2, 1, 2]);
    assert!(broadcast_to(&a, &[3, 4]).is_err());
    let e = as_strided(&a, &[5, 5], &[5, 1], 0).unwrap_err().to_string();
    assert!(e.contains("outside"), "{e}");
    let w = as_strided(&a, &[3, 2], &[4, 1], 1).unwrap();
    assert_eq!(
        w.to_vec::<f32>().unwrap(),
        vec![1.0, 2.0, 5.0, 6.0, 9.0, 10.0]
    );
}

#[test]
fn shape_ops() {
    let a = arange(0.0, 6.0, 1.0, None).unwrap();
    assert_eq!(reshape(&a, &[-1, 2]).unwrap().shape(), &[3, 2]);
    assert!(reshape(&a, &[-1, -1]).is_err());
    assert!(reshape(&a, &[4]).is_err());
    let b = a.reshape(&[1, 6, 1]).unwrap();
    assert_eq!(squeeze(&b, &[]).unwrap().shape(), &[6]);
    assert!(squeeze(&b, &[1]).is_err());
    assert_eq!(expand_dims(&a, &[0, -1]).unwrap().shape(), &[1, 6, 1]);
    assert_eq!(flatten(&b, 0, -1).unwrap().shape(), &[6]);
    assert_eq!(unflatten(&a, 0, &[2, -1]).unwrap().shape(), &[2, 3]);
    let m = a.reshape(&[2, 3]).unwrap();
    assert_eq!(
        swapaxes(&m, 0, 1).unwrap().to_vec::<f32>().unwrap(),
        vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    );
    assert_eq!(moveaxis(&b, 0, 2).unwrap().shape(), &[6, 1, 1]);
    assert_eq!(atleast_3d(&a).unwrap().shape(), &[1, 6, 1]);
    assert_eq!(
        broadcast_shapes(&[&[2, 1], &[3], &[1, 1, 1]]).unwrap(),
        vec![1, 2, 3]
    );
}

#[test]
fn creation_ops() {
    assert_eq!(
        arange(0.0, 5.0, 2.0, Some(ferrox::Dtype::Int32))
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        vec![0, 2, 4]
    );
    assert_eq!(
        linspace(0.0, 1.0, 5, None)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![0.0, 0.25, 0.5, 0.75, 1.0]
    );
    assert_eq!(
        eye(2, Some(3), 1, None).unwrap().to_vec::<f32>().unwrap(),
        vec![0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    );
    assert_eq!(
        tri(3, None, 0, None).unwrap().to_vec::<f32>().unwrap(),
        vec![1., 0., 0., 1., 1., 0., 1., 1., 1.]
    );
    let m = arange(1.0, 10.0, 1.0, None)
        .unwrap()
        .reshape(&[3, 3])
        .unwrap();
    assert_eq!(
        triu(&m, 0).unwrap().to_vec::<f32>().unwrap(),
        vec![1., 2., 3., 0., 5., 6., 0., 0., 9.]
    );
    assert_eq!(
        tril(&m, -1).unwrap().to_vec::<f32>().unwrap(),
        vec![0., 0., 0., 4., 0., 0., 7., 8., 0.]
    );
    assert!(arange(0.0, 1.0, 0.0, None).is_err());
    assert_eq!(zeros(&[2, 0], None).unwrap().size(), 0);
    assert_eq!(
        identity(2, Some(ferrox::Dtype::Int8))
            .unwrap()
            .to_vec::<i8>()
            .unwrap(),
        vec![1, 0, 0, 1]
    );
}

#[test]
fn matmul_shapes_dtypes_and_transposes() {
    let a = arange(0.0, 6.0, 1.0, Some(ferrox::Dtype::Float64))
        .unwrap()
        .reshape(&[2, 3])
        .unwrap();
    let b = arange(0.0, 12.0, 1.0, Some(ferrox::Dtype::Float64))
        .unwrap()
        .reshape(&[3, 4])
        .unwrap();
    let c = matmul(&a, &b).unwrap();
    let mut want = vec![0.0; 8];
    for i in 0..2 {
        for j in 0..4 {
            for k in 0..3 {
                want[i * 4 + j] += (i * 3 + k) as f64 * (k * 4 + j) as f64;
            }
        }
    }
    assert_eq!(c.to_vec::<f64>().unwrap(), want);
    // Transposed operands (strided views, no copy) give the same product.
    let at = transpose(&transpose(&a, &[]).unwrap().reshape(&[3, 2]).unwrap(), &[]).unwrap();
    assert_eq!(matmul(&at, &b).unwrap().to_vec::<f64>().unwrap(), want);
    // Batched with broadcasting, 1-D operands, f16/bf16.
    let batch = broadcast_to(&a, &[5, 2, 3]).unwrap();
    assert_eq!(matmul(&batch, &b).unwrap().shape(), &[5, 2, 4]);
    let v = arange(0.0, 3.0, 1.0, None).unwrap();
    assert_eq!(
        matmul(&v, &astype(&b, ferrox::Dtype::Float32).unwrap())
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![20.0, 23.0, 26.0, 29.0]
    );
    for d in [
        ferrox::Dtype::Float16,
        ferrox::Dtype::Bfloat16,
        ferrox::Dtype::Complex64,
    ] {
        let r = matmul(&astype(&a, d).unwrap(), &astype(&b, d).unwrap()).unwrap();
        assert_eq!(r.dtype(), d);
        assert_eq!(r.to_vec::<f64>().unwrap(), want, "{d}");
    }
    let i = arange(0.0, 4.0, 1.0, Some(ferrox::Dtype::Int32))
        .unwrap()
        .reshape(&[2, 2])
        .unwrap();
    assert!(matmul(&i, &i).unwrap_err().to_string().contains("inexact"));
    assert!(matmul(&a, &a).is_err());
    let c2 = addmm(
        &ones(&[4], None).unwrap(),
        &astype(&a, ferrox::Dtype::Float32).unwrap(),
        &astype(&b, ferrox::Dtype::Float32).unwrap(),
        2.0,
        0.5,
    )
    .unwrap();
    assert_eq!(
        c2.to_vec::<f64>().unwrap(),
        want.iter().map(|w| 2.0 * w + 0.5).collect::<Vec<_>>()
    );
    assert_eq!(
        outer(&v, &v).unwrap().to_vec::<f32>().unwrap(),
        vec![0., 0., 0., 0., 1., 2., 0., 2., 4.]
    );
    assert_eq!(inner(&v, &v).unwrap().item::<f32>().unwrap(), 5.0);
    assert_eq!(tensordot(&a, &b, 1).unwrap().to_vec::<f64>().unwrap(), want);
    assert_eq!(vecdot(&v, &v, -1).unwrap().item::<f32>().unwrap(), 5.0);
    // MLX's rules: broadcasting only between equal ndims; the axis must exist in both.
    let m = reshape(&arange(0.0, 12.0, 1.0, None).unwrap(), &[3, 4]).unwrap();
    let ones14 = ones(&[1, 4], None).unwrap();
    assert_eq!(
        vecdot(&m, &ones14, -1).unwrap().to_vec::<f32>().unwrap(),
        vec![6.0, 22.0, 38.0]
    );
    assert!(matches!(vecdot(&m, &m, 2), Err(ferrox::Error::Index(_))));
    assert!(matches!(
        vecdot(&m, &ones(&[4], None).unwrap(), -1),
        Err(ferrox::Error::Invalid(_))
    ));
    let e = vecdot(&m, &ones(&[4], None).unwrap(), 0).unwrap_err();
    assert!(e.to_string().contains("same size"), "{e}");
}

#[test]
fn gpu_stream_is_a_clear_error() {
    let e = ferrox::device::new_stream(ferrox::Device::gpu()).unwrap_err();
    assert!(e.to_string().contains("gpu"), "{e}");
}
