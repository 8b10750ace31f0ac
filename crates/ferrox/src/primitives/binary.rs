//! Binary elementwise primitives and `where` (select). Inputs arrive broadcast to the
//! output's shape (as stride-0 views) and, except for shifts, of one dtype.

use crate::array::{Array, Data, Shape};
use crate::backend::cpu;
use crate::primitive::{same_shape, Batched, EvalContext, Primitive, TracedShapes};
use crate::transforms::vmap::align_elementwise;
use crate::{ops, Result};

/// The vjp of an elementwise primitive from `times_partial(arg, v)`, which gives `v` times
/// the (diagonal) partial derivative with respect to input `arg`, or `None` when it is
/// zero.
fn elementwise_vjp(
    primals: &[Array],
    cot: &Array,
    argnums: &[usize],
    times_partial: impl Fn(usize, &Array) -> Result<Option<Array>>,
) -> Result<Vec<Array>> {
    argnums
        .iter()
        .map(|&i| match times_partial(i, cot)? {
            Some(g) => Ok(g),
            None => ops::zeros_like(&primals[i], None),
        })
        .collect()
}

/// The jvp of an elementwise primitive: the sum of each tangent times its partial.
fn elementwise_jvp(
    tangents: &[Array],
    argnums: &[usize],
    out: &Array,
    times_partial: impl Fn(usize, &Array) -> Result<Option<Array>>,
) -> Result<Vec<Array>> {
    let mut acc: Option<Array> = None;
    for (&i, t) in argnums.iter().zip(tangents) {
        if let Some(d) = times_partial(i, t)? {
            acc = Some(match acc {
                Some(a) => ops::add(&a, &d)?,
                None => d,
            });
        }
    }
    match acc {
        Some(a) => Ok(vec![a]),
        None => Ok(vec![ops::zeros_like(out, None)?]),
    }
}

/// An elementwise primitive mapped over a batch: its inputs aligned to one batched shape.
fn elementwise_vmap(
    prim: impl Primitive + 'static,
    inputs: &[Array],
    axes: &[Option<usize>],
    out: &Array,
) -> Result<Batched> {
    let (v, ax) = align_elementwise(inputs, axes)?;
    let shape = v[0].shape().to_vec();
    let o = Array::from_op(shape, out.dtype(), prim, v, ops::stream());
    Ok((vec![o], vec![Some(ax)]))
}

/// The binary elementwise operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    FloorDivide,
    Remainder,
    Power,
    Maximum,
    Minimum,
    Arctan2,
    LogAddExp,
    Equal,
    NotEqual,
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    /// Equal, with NaN equal to NaN (`array_equal(equal_nan=True)`).
    NanEqual,
    LogicalAnd,
    LogicalOr,
    LogicalXor,
    BitwiseAnd,
    BitwiseOr,
    BitwiseXor,
    LeftShift,
    RightShift,
}

impl BinaryOp {
    /// Comparisons and logical ops give bool.
    pub fn is_predicate(self) -> bool {
        use BinaryOp::*;
        matches!(
            self,
            Equal
                | NotEqual
                | Greater
                | GreaterEqual
                | Less
                | LessEqual
                | NanEqual
                | LogicalAnd
                | LogicalOr
                | LogicalXor
        )
    }
}

/// An elementwise binary op.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Binary(pub BinaryOp);

impl Binary {
    /// `v` times the partial derivative of `out = op(a, b)` with respect to input `arg`
    /// (`None`: zero, as for comparisons, logic, bits and rounding divisions). Ties of
    /// `maximum`/`minimum` send the derivative to `b`, as in MLX.
    fn times_partial(
        &self,
        arg: usize,
        a: &Array,
        b: &Array,
        out: &Array,
        v: &Array,
    ) -> Result<Option<Array>> {
        use BinaryOp::*;
        let sum_of_squares = || ops::add(&ops::square(a)?, &ops::square(b)?);
        let r = match (self.0, arg) {
            (Add, _) | (Subtract, 0) | (Remainder, 0) => v.clone(),
            (Subtract, _) => ops::negative(v)?,
            (Multiply, 0) => ops::multiply(v, b)?,
            (Multiply, _) => ops::multiply(v, a)?,
            (Divide, 0) => ops::divide(v, b)?,
            // -v * a / b² = -v * out / b
            (Divide, _) => ops::negative(&ops::divide(&ops::multiply(v, out)?, b)?)?,
            // a % b = a - b * floor(a / b)
            (Remainder, _) => ops::negative(&ops::multiply(v, &ops::floor_divide(a, b)?)?)?,
            (Power, 0) => {
                let d = ops::multiply(b, &ops::power(a, &ops::subtract(b, 1.0)?)?)?;
                ops::multiply(v, &d)?
            }
            (Power, _) => {
                // log(a) * a^b, with 0 * log(0) taken as 0.
                let d = ops::multiply(&ops::log(a)?, out)?;
                let d = ops::where_(&ops::not_equal(out, 0.0)?, &d, 0.0)?;
                ops::multiply(v, &d)?
            }
            (Maximum, 0) => ops::multiply(v, &ops::greater(a, b)?)?,
            (Maximum, _) => ops::multiply(v, &ops::less_equal(a, b)?)?,
            (Minimum, 0) => ops::multiply(v, &ops::less(a, b)?)?,
            (Minimum, _) => ops::multiply(v, &ops::greater_equal(a, b)?)?,
            (Arctan2, 0) => ops::divide(&ops::multiply(v, b)?, &sum_of_squares()?)?,
            (Arctan2, _) => {
                ops::negative(&ops::divide(&ops::multiply(v, a)?, &sum_of_squares()?)?)?
            }
            (LogAddExp, 0) => ops::multiply(v, &ops::exp(&ops::subtract(a, out)?)?)?,
            (LogAddExp, _) => ops::multiply(v, &ops::exp(&ops::subtract(b, out)?)?)?,
            _ => return Ok(None),
        };
        Ok(Some(r))
    }
}

impl Primitive for Binary {
    crate::exportable!(Binary);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        same_shape(inputs, 1)
    }
    fn name(&self) -> &'static str {
        "Binary"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (a, b) = (inputs[0].data()?, inputs[1].data()?);
        let out = ctx.output(0, inputs, &[0, 1])?;
        let shape = ctx.outputs[0].0.clone();
        cpu::binary::eval(self.0, &shape, inputs[0].dtype(), &a, &b, &out)?;
        Ok(vec![out])
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        out: &[Array],
    ) -> Result<Vec<Array>> {
        elementwise_vjp(p, &cot[0], argnums, |i, v| {
            self.times_partial(i, &p[0], &p[1], &out[0], v)
        })
    }
    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        out: &[Array],
    ) -> Result<Vec<Array>> {
        elementwise_jvp(tan, argnums, &out[0], |i, v| {
            self.times_partial(i, &p[0], &p[1], &out[0], v)
        })
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        elementwise_vmap(Binary(self.0), inputs, axes, &out[0])
    }
}

/// `where(condition, x, y)`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Select;

impl Primitive for Select {
    crate::exportable!(Select);

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        same_shape(inputs, 1)
    }
    fn name(&self) -> &'static str {
        "Select"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (c, x, y) = (inputs[0].data()?, inputs[1].data()?, inputs[2].data()?);
        let out = ctx.output(0, inputs, &[1, 2])?;
        let shape = ctx.outputs[0].0.clone();
        crate::dispatch_dtype!(inputs[1].dtype(), T => {
            cpu::elementwise::ternary::<bool, T, T, T>(&shape, &c, &x, &y, &out, |c, x, y| if c { x } else { y })
        });
        Ok(vec![out])
    }
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        elementwise_vjp(p, &cot[0], argnums, |i, v| select_partial(&p[0], i, v))
    }
    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        out: &[Array],
    ) -> Result<Vec<Array>> {
        elementwise_jvp(tan, argnums, &out[0], |i, v| select_partial(&p[0], i, v))
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        elementwise_vmap(Select, inputs, axes, &out[0])
    }
}

/// `v` routed through `where(c, x, y)` from input `arg` (the condition has none).
fn select_partial(c: &Array, arg: usize, v: &Array) -> Result<Option<Array>> {
    let zero = ops::zeros(&[], Some(v.dtype()))?;
    match arg {
        1 => Ok(Some(ops::where_(c, v, &zero)?)),
        2 => Ok(Some(ops::where_(c, &zero, v)?)),
        _ => Ok(None),
    }
}
