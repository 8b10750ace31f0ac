//! Fusion under `compile`: every fusable op gives, fused, exactly the values it gives
//! unfused (the fused kernel uses the same scalar functions), over random shapes,
//! broadcasts, strided inputs and graphs that mix fused and unfused ops; and fused
//! regions differentiate and batch as the ops they replace.

mod common;

use common::{random_array, Lcg};
use ferrox::transforms::{compile, grad, vmap};
use ferrox::{ops, Array, Dtype, Result};

type Unary = fn(&Array) -> Result<Array>;

/// Every unary op a region may hold, with an input range inside its domain.
const UNARY: &[(&str, Unary, f64, f64)] = &[
    ("abs", ops::abs, -2.0, 2.0),
    ("negative", ops::negative, -2.0, 2.0),
    ("sign", ops::sign, -2.0, 2.0),
    ("square", ops::square, -2.0, 2.0),
    ("sqrt", ops::sqrt, 0.1, 4.0),
    ("rsqrt", ops::rsqrt, 0.1, 4.0),
    ("reciprocal", ops::reciprocal, 0.5, 4.0),
    ("exp", ops::exp, -20.0, 20.0),
    ("expm1", ops::expm1, -2.0, 2.0),
    ("log", ops::log, 0.1, 4.0),
    ("log2", ops::log2, 0.1, 4.0),
    ("log10", ops::log10, 0.1, 4.0),
    ("log1p", ops::log1p, -0.5, 4.0),
    ("sin", ops::sin, -4.0, 4.0),
    ("cos", ops::cos, -4.0, 4.0),
    ("tan", ops::tan, -1.0, 1.0),
    ("arcsin", ops::arcsin, -0.9, 0.9),
    ("arccos", ops::arccos, -0.9, 0.9),
    ("arctan", ops::arctan, -3.0, 3.0),
    ("sinh", ops::sinh, -3.0, 3.0),
    ("cosh", ops::cosh, -3.0, 3.0),
    ("tanh", ops::tanh, -6.0, 6.0),
    ("arcsinh", ops::arcsinh, -3.0, 3.0),
    ("arccosh", ops::arccosh, 1.1, 4.0),
    ("arctanh", ops::arctanh, -0.9, 0.9),
    ("sigmoid", ops::sigmoid, -8.0, 8.0),
    ("erf", ops::erf, -2.0, 2.0),
    ("erfinv", ops::erfinv, -0.9, 0.9),
    ("ceil", ops::ceil, -3.0, 3.0),
    ("floor", ops::floor, -3.0, 3.0),
    ("trunc", ops::trunc, -3.0, 3.0),
];

type Binary = fn(&Array, &Array) -> Result<Array>;

const BINARY: &[(&str, Binary)] = &[
    ("add", |a, b| ops::add(a, b)),
    ("subtract", |a, b| ops::subtract(a, b)),
    ("multiply", |a, b| ops::multiply(a, b)),
    ("divide", |a, b| ops::divide(a, b)),
    ("floor_divide", |a, b| ops::floor_divide(a, b)),
    ("remainder", |a, b| ops::remainder(a, b)),
    ("power", |a, b| ops::power(a, b)),
    ("maximum", |a, b| ops::maximum(a, b)),
    ("minimum", |a, b| ops::minimum(a, b)),
];

/// The dtypes a region runs on: float16 and bfloat16 round after each op as the
/// unfused ops do.
const FLOATS: [Dtype; 4] = [
    Dtype::Float32,
    Dtype::Float64,
    Dtype::Float16,
    Dtype::Bfloat16,
];

/// Exact equality (dtype too), NaN equal to NaN.
fn assert_same(got: &Array, want: &Array, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    assert_eq!(got.dtype(), want.dtype(), "{what}");
    // Every float dtype widens to f64 exactly.
    let wide = |x: &Array| {
        ops::astype(x, Dtype::Float64)
            .unwrap()
            .to_vec::<f64>()
            .unwrap()
    };
    let (g, w) = (wide(got), wide(want));
    for (i, (g, w)) in g.iter().zip(&w).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{what}: element {i}: fused {g} unfused {w}"
        );
    }
}

/// Calls `f` compiled and not, checks that the compiled program fused something, and
/// that every output is bit-identical.
fn check<F>(f: F, args: &[Array], what: &str)
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + Clone + 'static,
{
    let want = f(args).unwrap();
    let cf = compile(f);
    let names = cf.program(args).unwrap().op_names();
    assert!(
        names.contains(&"Compiled"),
        "{what}: nothing fused in {names:?}"
    );
    let got = cf.call(args).unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_same(g, w, what);
    }
}

const SHAPES: &[&[usize]] = &[&[], &[7], &[3, 5], &[2, 3, 4], &[70_001]];

#[test]
fn every_unary_op_fused_equals_unfused() {
    let mut rng = Lcg(1);
    for dtype in FLOATS {
        for &(name, op, lo, hi) in UNARY {
            for shape in SHAPES {
                let (x, _) = random_array(shape, dtype, lo, hi, &mut rng);
                // op between two other ops: a region of three.
                let f = move |a: &[Array]| {
                    Ok(vec![ops::multiply(&op(&ops::multiply(&a[0], 1.0)?)?, 0.5)?])
                };
                check(f, &[x], &format!("{name} {shape:?} {dtype}"));
            }
        }
    }
}

#[test]
fn every_binary_op_fused_equals_unfused_with_broadcasting() {
    let mut rng = Lcg(2);
    let pairs: &[(&[usize], &[usize])] = &[
        (&[6], &[6]),
        (&[4, 5], &[5]),
        (&[4, 1, 5], &[3, 1]),
        (&[], &[3, 2]),
        (&[300, 257], &[257]),
    ];
    for dtype in FLOATS {
        for &(name, op) in BINARY {
            for &(sa, sb) in pairs {
                let (a, _) = random_array(sa, dtype, 0.5, 3.0, &mut rng);
                let (b, _) = random_array(sb, dtype, -2.0, 2.0, &mut rng);
                let f = move |x: &[Array]| {
                    let y = op(&ops::exp(&x[0])?, &x[1])?;
                    Ok(vec![ops::subtract(&y, &x[1])?])
                };
                check(f, &[a, b], &format!("{name} {sa:?} {sb:?} {dtype}"));
                // A scalar second operand (small integer powers take their own path).
                let g = move |x: &[Array]| {
                    let three = ops::astype(&Array::from_slice(&[3.0f32], &[])?, dtype)?;
                    Ok(vec![ops::multiply(&op(&x[0], &three)?, 2.0)?])
                };
                let (c, _) = random_array(sa, dtype, -2.0, 2.0, &mut rng);
                check(g, &[c], &format!("{name} scalar {sa:?} {dtype}"));
            }
        }
    }
}

/// GELU (tanh form) on strided inputs, with a reduction and a matmul between two fused
/// regions, and an intermediate returned too (a region with two outputs).
fn gelu(x: &Array) -> Result<Array> {
    let inner = ops::multiply(
        &ops::add(x, &ops::multiply(&ops::power(x, 3.0)?, 0.044715)?)?,
        (2.0f64 / std::f64::consts::PI).sqrt(),
    )?;
    ops::multiply(
        &ops::multiply(x, 0.5)?,
        &ops::add(&ops::tanh(&inner)?, 1.0)?,
    )
}

fn mixed(x: &[Array]) -> Result<Vec<Array>> {
    let h = gelu(&x[0])?;
    let s = ops::sum(&h, &[-1], true)?;
    let m = ops::matmul(&h, &x[1])?;
    let out = ops::divide(
        &ops::exp(&ops::negative(&m)?)?,
        &ops::add(&ops::square(&s)?, 1.0)?,
    )?;
    // A select (its condition computed outside the region) inside the region.
    let out = ops::where_(&ops::greater(&m, 0.0)?, &out, &ops::multiply(&out, 0.5)?)?;
    Ok(vec![out, h])
}

#[test]
fn mixed_graph_with_strided_inputs() {
    let mut rng = Lcg(3);
    for dtype in FLOATS {
        for (n, k) in [(3, 4), (64, 65), (300, 129)] {
            let (x, _) = random_array(&[k, n], dtype, -3.0, 3.0, &mut rng);
            let x = ops::transpose(&x, &[1, 0]).unwrap(); // a strided view
            let (w, _) = random_array(&[k, 5], dtype, -1.0, 1.0, &mut rng);
            check(mixed, &[x, w], &format!("mixed {n}x{k} {dtype}"));
        }
    }
}

/// A region whose output is larger than the caches is written by streaming stores and
/// reads its inputs a tile ahead: still the same bits, with a row-broadcast operand too.
#[test]
fn large_regions_stream_the_same_values() {
    let mut rng = Lcg(5);
    for dtype in FLOATS {
        let (x, _) = random_array(&[1031, 2053], dtype, -4.0, 4.0, &mut rng);
        let (b, _) = random_array(&[2053], dtype, -1.0, 1.0, &mut rng);
        let f = |a: &[Array]| Ok(vec![gelu(&ops::add(&a[0], &a[1])?)?]);
        check(f, &[x, b], &format!("gelu over 2.1M elements {dtype}"));
    }
}

/// Outputs are computed straight into their buffers: a region that returns one value
/// twice, an intermediate and its input, on several tiles and threads.
#[test]
fn regions_returning_a_value_twice_and_their_input() {
    let mut rng = Lcg(6);
    for dtype in FLOATS {
        for shape in [&[5usize][..], &[300, 129]] {
            let (x, _) = random_array(shape, dtype, -3.0, 3.0, &mut rng);
            let f = |a: &[Array]| {
                let g = gelu(&a[0])?;
                let h = ops::multiply(&g, 3.0)?;
                Ok(vec![g.clone(), h, g, a[0].clone()])
            };
            check(f, &[x], &format!("repeated outputs {shape:?} {dtype}"));
        }
    }
}

#[test]
fn fused_regions_differentiate_and_batch_as_unfused() {
    let mut rng = Lcg(4);
    let (x, _) = random_array(&[4, 6], Dtype::Float32, -2.0, 2.0, &mut rng);
    let (w, _) = random_array(&[6, 5], Dtype::Float32, -1.0, 1.0, &mut rng);
    let loss = |a: &[Array]| Ok(vec![ops::sum(&mixed(a)?[0], &[], false)?]);
    let want = grad(loss, &[0, 1])(&[x.clone(), w.clone()]).unwrap();
    // grad of a compiled function (the fused primitive's vjp) ...
    let cl = compile(loss);
    let got = grad(move |a: &[Array]| cl.call(a), &[0, 1])(&[x.clone(), w.clone()]).unwrap();
    // ... and a compiled gradient (the backward pass fused too).
    let cg = compile(move |a: &[Array]| grad(loss, &[0, 1])(a));
    let got2 = cg.call(&[x.clone(), w.clone()]).unwrap();
    for ((g, g2), w) in got.iter().zip(&got2).zip(&want) {
        let (g, g2, w) = (
            g.to_vec::<f32>().unwrap(),
            g2.to_vec::<f32>().unwrap(),
            w.to_vec::<f32>().unwrap(),
        );
        for ((a, b), c) in g.iter().zip(&g2).zip(&w) {
            assert!(
                (a - c).abs() <= 1e-5 * (1.0 + c.abs()),
                "grad(compile): {a} vs {c}"
            );
            assert!(
                (b - c).abs() <= 1e-5 * (1.0 + c.abs()),
                "compile(grad): {b} vs {c}"
            );
        }
    }
    let cm = compile(|a: &[Array]| Ok(vec![gelu(&a[0])?]));
    let batched =
        vmap(move |a: &[Array]| cm.call(a), &[Some(1)], &[Some(0)])(&[x.clone()]).unwrap();
    let want = ops::transpose(&gelu(&x).unwrap(), &[1, 0]).unwrap();
    assert_same(&batched[0], &want, "vmap(compile(gelu))");
}

#[test]
fn chains_that_meet_fuse_into_one_region() {
    // GELU is two chains from x (0.5·x, and the tanh of the cubic) that meet at the
    // end; Adam's update reads two state chains. Each is one region, one pass.
    let x = random_array(&[1000], Dtype::Float32, -3.0, 3.0, &mut Lcg(5)).0;
    let f = compile(|a: &[Array]| Ok(vec![gelu(&a[0])?]));
    assert_eq!(f.program(&[x.clone()]).unwrap().op_names(), ["Compiled"]);
    let adam = compile(|a: &[Array]| {
        let (p, g, m, v) = (&a[0], &a[1], &a[2], &a[3]);
        let m = ops::add(&ops::multiply(m, 0.9)?, &ops::multiply(g, 0.1)?)?;
        let v = ops::add(
            &ops::multiply(v, 0.999)?,
            &ops::multiply(&ops::square(g)?, 0.001)?,
        )?;
        let step = ops::divide(&ops::multiply(&m, 1e-3)?, &ops::add(&ops::sqrt(&v)?, 1e-8)?)?;
        Ok(vec![ops::subtract(p, &step)?, m, v])
    });
    let args: Vec<Array> = (0..4)
        .map(|k| random_array(&[300], Dtype::Float32, 0.0, 1.0, &mut Lcg(k)).0)
        .collect();
    assert_eq!(adam.program(&args).unwrap().op_names(), ["Compiled"]);
}

#[test]
fn comparisons_cast_to_float_fuse_and_keep_their_values() {
    type Compare = fn(&Array, &Array) -> Result<Array>;
    let compares: [(&str, Compare); 6] = [
        ("equal", |a, b| ops::equal(a, b)),
        ("not_equal", |a, b| ops::not_equal(a, b)),
        ("greater", |a, b| ops::greater(a, b)),
        ("greater_equal", |a, b| ops::greater_equal(a, b)),
        ("less", |a, b| ops::less(a, b)),
        ("less_equal", |a, b| ops::less_equal(a, b)),
    ];
    let mut rng = Lcg(9);
    for (dtype, (name, cmp)) in FLOATS.iter().flat_map(|&d| compares.map(|c| (d, c))) {
        for shape in [&[5, 7][..], &[1000]] {
            // Rounded values so that ties occur, and a NaN (every comparison but != false).
            let x = ops::round(&random_array(shape, dtype, -3.0, 3.0, &mut rng).0, 0).unwrap();
            let nan = ops::divide(&ops::zeros(&[1], Some(dtype)).unwrap(), 0.0).unwrap();
            let x = ops::concatenate(&[nan, ops::reshape(&x, &[-1]).unwrap()], Some(0)).unwrap();
            let y = random_array(x.shape(), dtype, -3.0, 3.0, &mut rng).0;
            // A relu's backward pass: cot * (x > 0), the mask cast to x's dtype; and a
            // comparison that is also read as a boolean (by `where`) outside the region.
            let f = move |a: &[Array]| {
                let mask = cmp(&a[0], &ops::round(&a[1], 0)?)?;
                let scaled = ops::multiply(&a[1], &ops::astype(&mask, dtype)?)?;
                let kept = ops::where_(&mask, &a[0], &a[1])?;
                Ok(vec![ops::add(&scaled, 1.0)?, kept])
            };
            let what = format!("{name} {shape:?} {dtype}");
            check(f, &[x.clone(), y.clone()], &what);
            let names = compile(f)
                .program(&[x.clone(), y.clone()])
                .unwrap()
                .op_names();
            assert!(
                !names.contains(&"AsType"),
                "{what}: cast not fused: {names:?}"
            );
        }
    }
    // Differentiated through the fused region (its rule expands the comparison again).
    let x = random_array(&[40], Dtype::Float32, -2.0, 2.0, &mut rng).0;
    let relu_like = |a: &[Array]| {
        let mask = ops::astype(&ops::greater(&a[0], 0.0)?, Dtype::Float32)?;
        Ok(vec![ops::sum(
            &ops::multiply(&ops::square(&a[0])?, &mask)?,
            &[],
            false,
        )?])
    };
    let want = grad(relu_like, &[0])(&[x.clone()]).unwrap();
    let cl = compile(relu_like);
    let got = grad(move |a: &[Array]| cl.call(a), &[0])(&[x.clone()]).unwrap();
    assert_same(&got[0], &want[0], "grad(compile(x² · (x > 0)))");
}

/// A scalar exponent that is a small integer is multiplied out, in every float dtype and
/// fused or not; one that only rounds to an integer in a narrower type is not.
#[test]
fn small_integer_powers_are_products_and_only_those() {
    let mut rng = Lcg(11);
    let (x, xs) = random_array(&[1000], Dtype::Float64, 0.5, 3.0, &mut rng);
    for (e, want) in [
        (3.0, xs.iter().map(|v| v * v * v).collect::<Vec<f64>>()),
        (
            3.0 + 1e-12,
            xs.iter().map(|v| v.powf(3.0 + 1e-12)).collect(),
        ),
    ] {
        let f = move |a: &[Array]| -> Result<Vec<Array>> { Ok(vec![ops::power(&a[0], e)?]) };
        let got = f(&[x.clone()]).unwrap()[0].to_vec::<f64>().unwrap();
        assert!(got == want, "x^{e}: {:?} != {:?}", &got[..3], &want[..3]);
        let g = move |a: &[Array]| Ok(vec![ops::add(&ops::power(&a[0], e)?, 0.0)?]);
        check(g, &[x.clone()], &format!("fused x^{e}"));
    }
}

/// A region's outputs take their inputs' buffers when no one else holds those inputs
/// (Adam's new moments replace the old ones): the same bits as unfused, also for an
/// output that reads an old value after the new one is made, and the buffers reused.
#[test]
fn outputs_in_donated_input_buffers_keep_their_values() {
    let adam = |a: &[Array]| {
        let (m, v, g, p) = (&a[0], &a[1], &a[2], &a[3]);
        let m = ops::add(&ops::multiply(m, 0.9)?, &ops::multiply(g, 0.1)?)?;
        let g2 = ops::multiply(&ops::square(g)?, 0.01)?;
        let v = ops::add(&ops::multiply(v, 0.99)?, &g2)?;
        let step = ops::divide(&m, &ops::add(&ops::sqrt(&v)?, 1e-8)?)?;
        // (Reads the old moment after the new one is made.)
        let drift = ops::subtract(&m, &a[0])?;
        Ok(vec![
            ops::subtract(p, &ops::multiply(&step, 1e-3)?)?,
            m,
            v,
            drift,
        ])
    };
    let mut rng = Lcg(12);
    for dtype in [Dtype::Float32, Dtype::Float64] {
        for shape in [&[7usize][..], &[300, 129]] {
            let vals: Vec<Vec<f64>> = (0..4)
                .map(|i| random_array(shape, dtype, i as f64 * 0.1, 1.0, &mut rng).1)
                .collect();
            let fresh = || -> Vec<Array> {
                vals.iter()
                    .map(|v| common::array_of(v, shape, dtype))
                    .collect()
            };
            let want = adam(&fresh()).unwrap();
            let cf = compile(adam);
            let args = fresh();
            ferrox::eval(&args).unwrap();
            let ptrs: Vec<usize> = args
                .iter()
                .map(|a| a.data().unwrap().buffer.as_ptr() as usize)
                .collect();
            let got = cf.call(&args).unwrap();
            drop(args);
            ferrox::eval(&got).unwrap();
            let reused = got
                .iter()
                .filter(|g| ptrs.contains(&(g.data().unwrap().buffer.as_ptr() as usize)))
                .count();
            assert_eq!(
                reused, 4,
                "{shape:?} {dtype}: outputs not in the inputs' buffers"
            );
            for (g, w) in got.iter().zip(&want) {
                assert_same(g, w, &format!("adam {shape:?} {dtype}"));
            }
        }
    }
}

/// Products by a scalar that one binary op reads are computed inside that op's loop
/// (Adam's `β·m + (1 - β)·g`): the same values, with the product in either operand of
/// every binary op and comparison, chained, read twice, or returned too.
#[test]
fn products_by_scalars_fold_into_their_reader_with_the_same_values() {
    let mut rng = Lcg(13);
    for dtype in FLOATS {
        for shape in [&[5usize][..], &[40, 33]] {
            let (x, _) = random_array(shape, dtype, 0.5, 2.0, &mut rng);
            let (y, _) = random_array(shape, dtype, 0.5, 2.0, &mut rng);
            let (s, _) = random_array(&[], dtype, 0.5, 2.0, &mut rng);
            for &(name, op) in BINARY {
                let f = move |a: &[Array]| {
                    let (x, y, s) = (&a[0], &a[1], &a[2]);
                    let xs = ops::multiply(x, s)?;
                    Ok(vec![
                        op(&xs, &ops::multiply(y, 0.5)?)?,
                        op(&ops::exp(y)?, &ops::multiply(s, x)?)?,
                        op(&ops::multiply(x, 3.0)?, s)?,
                    ])
                };
                check(
                    f,
                    &[x.clone(), y.clone(), s.clone()],
                    &format!("{name} {shape:?} {dtype}"),
                );
            }
            let g = move |a: &[Array]| {
                let (x, y, s) = (&a[0], &a[1], &a[2]);
                let chained = ops::add(&ops::multiply(&ops::multiply(x, s)?, 0.25)?, y)?;
                let t = ops::multiply(x, s)?;
                let twice = ops::add(&t, &ops::multiply(&t, y)?)?;
                let u = ops::multiply(y, s)?;
                let returned = ops::subtract(&u, x)?;
                let cube = ops::add(&ops::power(&ops::multiply(x, s)?, 3.0)?, y)?;
                let mask = ops::astype(&ops::greater(&ops::multiply(x, s)?, y)?, dtype)?;
                Ok(vec![
                    chained,
                    twice,
                    u,
                    returned,
                    cube,
                    ops::multiply(&mask, y)?,
                ])
            };
            check(g, &[x, y, s], &format!("folds {shape:?} {dtype}"));
        }
    }
}

/// Selects join regions, their boolean conditions read as inputs (full, broadcast along
/// either axis, or one value), the branches tiles or scalars, nested, in every float
/// dtype: the values the unfused ops give.
#[test]
fn selects_fuse_with_boolean_conditions() {
    let mut rng = Lcg(14);
    for dtype in FLOATS {
        for cond_shape in [&[30usize, 37][..], &[37], &[30, 1], &[]] {
            let (x, _) = random_array(&[30, 37], dtype, -2.0, 2.0, &mut rng);
            let (y, _) = random_array(&[30, 37], dtype, -2.0, 2.0, &mut rng);
            let (u, _) = random_array(cond_shape, Dtype::Float32, -1.0, 1.0, &mut rng);
            let c = ops::greater(&u, 0.0).unwrap();
            let f = move |a: &[Array]| {
                let (c, x, y) = (&a[0], &a[1], &a[2]);
                let picked = ops::where_(c, &ops::exp(x)?, &ops::multiply(y, 3.0)?)?;
                let scalars = ops::multiply(&ops::where_(c, 1.5, -2.0)?, x)?;
                let left = ops::add(&ops::where_(c, &ops::sin(x)?, 0.0)?, y)?;
                let nested = ops::where_(c, &ops::where_(c, 0.0, &picked)?, &ops::cos(&picked)?)?;
                Ok(vec![
                    ops::add(&picked, 1.0)?,
                    scalars,
                    left,
                    ops::negative(&nested)?,
                ])
            };
            check(
                f,
                &[c, x, y],
                &format!("select cond {cond_shape:?} {dtype}"),
            );
        }
    }
}
