//! Cumulative operations along one axis (`cumsum`, `cumprod`, `cummax`, `cummin`,
//! `logcumsumexp`). The output has the input's shape and dtype: the ops cast beforehand
//! (`cumsum` of bool to int32, `logcumsumexp` of integers to float32).

use crate::array::{Array, Data, Shape};
use crate::backend::cpu;
use crate::dtype::Dtype;
use crate::primitive::{same_shape, Batched, EvalContext, Primitive, TracedShapes};
use crate::{ops, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ScanOp {
    Sum,
    Prod,
    Max,
    Min,
    /// `log(exp(a) + exp(b))`, for `logcumsumexp`.
    LogAddExp,
}

/// A scan of `op` along `axis`. `reverse` runs from the end of the axis; without
/// `inclusive` element `i` combines only the elements before it (the first gets the
/// identity).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Scan {
    pub op: ScanOp,
    pub axis: usize,
    pub reverse: bool,
    pub inclusive: bool,
}

impl Primitive for Scan {
    crate::exportable!(Scan);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        same_shape(inputs, 1)
    }
    fn name(&self) -> &'static str {
        "Scan"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        // The output buffer first: holding the input's data would block donating it.
        let out = ctx.output(0, inputs, &[0])?;
        let a = inputs[0].data()?;
        cpu::scan::scan(self, inputs[0].shape(), inputs[0].dtype(), &a, &out)?;
        Ok(vec![out])
    }
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let (x, c, y) = (&p[0], &cot[0], &out[0]);
        // Element j reaches the outputs whose window holds it: the transpose of a scan is
        // the same scan run the other way.
        let back = |v: &Array| self.sum_scan(v, !self.reverse);
        let g = match self.op {
            ScanOp::Sum => back(c)?,
            // d y_i / d x_j = y_i / x_j (x_j in the window of i) before the first zero
            // of the line; at the first zero `z` it is the product with x_z taken as 1;
            // after it, 0 (every such product holds x_z).
            ScanOp::Prod => {
                let z = self.zeros(x)?;
                let y1 = self.scan(ScanOp::Prod, &z.x_first_one, self.reverse, self.inclusive)?;
                let before = ops::divide(&back(&ops::multiply(c, y)?)?, &z.x_nonzero)?;
                let at = back(&ops::multiply(c, &y1)?)?;
                let g = ops::where_(&z.is_zero, &at, &before)?;
                ops::where_(&z.after_first, 0.0, &g)?
            }
            // d y_i / d x_j = exp(x_j - y_i), computed with a shift `m` that cancels.
            ScanOp::LogAddExp => {
                let m = self.shift(x)?;
                let w = ops::multiply(c, &ops::exp(&ops::subtract(&m, y)?)?)?;
                let w = ops::where_(&ops::isneginf(y)?, 0.0, &w)?;
                ops::multiply(&ops::exp(&ops::subtract(x, &m)?)?, &back(&w)?)?
            }
            // Output i comes from one input: the latest in its window equal to it (MLX's
            // choice among ties). Each cotangent is added to its source.
            ScanOp::Max | ScanOp::Min => {
                let (src, valid) = self.sources(x)?;
                let n = x.shape()[self.axis];
                let ct = ops::moveaxis(c, self.axis as isize, -1)?;
                let rows = ct.size() / n.max(1);
                let row =
                    ops::arange(0.0, rows as f64, 1.0, Some(Dtype::Int64))?.reshape(&[rows, 1])?;
                let src = ops::moveaxis(&src, self.axis as isize, -1)?.reshape(&[rows, n])?;
                let valid = ops::moveaxis(&valid, self.axis as isize, -1)?.reshape(&[rows, n])?;
                // Invalid positions aim past the end, which the scatter skips.
                let linear = ops::add(&ops::multiply(&row, n as i64)?, &src)?;
                let linear = ops::where_(&valid, &linear, (rows * n) as i64)?;
                let g = ops::scatter_add(
                    &ops::zeros(&[rows * n], Some(c.dtype()))?,
                    &[linear.reshape(&[rows * n])?],
                    &ct.reshape(&[rows * n, 1])?,
                    &[0],
                )?;
                let g = g.reshape(&with_last(c.shape(), self.axis))?;
                ops::moveaxis(&g, -1, self.axis as isize)?
            }
        };
        Ok(vec![g])
    }
    fn jvp(&self, p: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let (x, t, y) = (&p[0], &tan[0], &out[0]);
        let r = match self.op {
            ScanOp::Sum => self.sum_scan(t, self.reverse)?,
            // y_i * sum t_j / x_j over a window free of zeros; where the window holds the
            // line's first zero z, only j = z contributes: t_z times the product with x_z
            // taken as 1 (which is 0 again once a second zero is in the window).
            ScanOp::Prod => {
                let z = self.zeros(x)?;
                let y1 = self.scan(ScanOp::Prod, &z.x_first_one, self.reverse, self.inclusive)?;
                let ratio = ops::where_(&z.is_zero, 0.0, &ops::divide(t, &z.x_nonzero)?)?;
                let first = ops::logical_and(&z.is_zero, &ops::logical_not(&z.after_first)?)?;
                let t_first = ops::where_(&first, t, 0.0)?;
                ops::add(
                    &ops::multiply(y, &self.sum_scan(&ratio, self.reverse)?)?,
                    &ops::multiply(&y1, &self.sum_scan(&t_first, self.reverse)?)?,
                )?
            }
            ScanOp::LogAddExp => {
                let m = self.shift(x)?;
                let s = self.sum_scan(
                    &ops::multiply(&ops::exp(&ops::subtract(x, &m)?)?, t)?,
                    self.reverse,
                )?;
                let r = ops::multiply(&s, &ops::exp(&ops::subtract(&m, y)?)?)?;
                ops::where_(&ops::isneginf(y)?, 0.0, &r)?
            }
            ScanOp::Max | ScanOp::Min => {
                let (src, valid) = self.sources(x)?;
                let src = ops::where_(&valid, &src, 0i64)?;
                let r = ops::take_along_axis(t, &src, Some(self.axis as isize))?;
                ops::where_(&valid, &r, 0.0)?
            }
        };
        Ok(vec![r])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        let (x, b) = (&inputs[0], axes[0].unwrap_or(0));
        let prim = Scan {
            axis: if self.axis < b {
                self.axis
            } else {
                self.axis + 1
            },
            ..self.clone()
        };
        let o = Array::from_op(
            x.shape().to_vec(),
            out[0].dtype(),
            prim,
            vec![x.clone()],
            ops::stream(),
        );
        Ok((vec![o], vec![Some(b)]))
    }
}

impl Scan {
    /// A scan of `op` along this scan's axis, in direction `reverse`.
    fn scan(&self, op: ScanOp, v: &Array, reverse: bool, inclusive: bool) -> Result<Array> {
        // Sums of bools count in int32, as `cumsum` does.
        let v = &if op == ScanOp::Sum && v.dtype() == Dtype::Bool {
            ops::astype(v, Dtype::Int32)?
        } else {
            v.clone()
        };
        let prim = Scan {
            op,
            axis: self.axis,
            reverse,
            inclusive,
        };
        Ok(Array::from_op(
            v.shape().to_vec(),
            v.dtype(),
            prim,
            vec![v.clone()],
            ops::stream(),
        ))
    }

    /// A sum scan along this scan's axis, with its inclusiveness, in direction `reverse`.
    fn sum_scan(&self, v: &Array, reverse: bool) -> Result<Array> {
        self.scan(ScanOp::Sum, v, reverse, self.inclusive)
    }

    /// A constant (no derivative) per line that keeps `exp` of `logcumsumexp`'s terms in
    /// range: the line's maximum.
    fn shift(&self, x: &Array) -> Result<Array> {
        let m = ops::max(x, &[self.axis as isize], true)?;
        let m = ops::where_(&ops::isinf(&m)?, 0.0, &m)?;
        ops::stop_gradient(&m)
    }

    /// Where `x`'s zeros are along each line, in this scan's direction, for the
    /// derivatives of `cumprod`.
    fn zeros(&self, x: &Array) -> Result<Zeros> {
        let is_zero = ops::equal(x, 0.0)?;
        let before = self.scan(ScanOp::Sum, &is_zero, self.reverse, false)?;
        let after_first = ops::greater(&before, 0i32)?;
        let first = ops::logical_and(&is_zero, &ops::logical_not(&after_first)?)?;
        Ok(Zeros {
            x_nonzero: ops::where_(&is_zero, 1.0, x)?,
            x_first_one: ops::where_(&first, 1.0, x)?,
            is_zero,
            after_first,
        })
    }

    /// For `cummax`/`cummin`: the position along the axis of the input each output came
    /// from (the latest in its window equal to the running extreme), and whether it
    /// came from any (an exclusive scan's first output has an empty window).
    fn sources(&self, x: &Array) -> Result<(Array, Array)> {
        let n = x.shape()[self.axis];
        let mut s = vec![1usize; x.ndim()];
        s[self.axis] = n;
        let pos = ops::arange(0.0, n as f64, 1.0, Some(Dtype::Int64))?.reshape(&s)?;
        // The inclusive extreme: x_j equals it exactly where a new extreme (or a tie)
        // appears, and the latest such j up to i is output i's source.
        let extreme = self.scan(self.op, x, self.reverse, true)?;
        let none = if self.reverse { n as i64 } else { -1 };
        let marks = ops::where_(&ops::equal(x, &extreme)?, &pos, none)?;
        let latest = if self.reverse {
            ScanOp::Min
        } else {
            ScanOp::Max
        };
        let src = self.scan(latest, &marks, self.reverse, self.inclusive)?;
        let valid = ops::logical_and(
            &ops::greater_equal(&src, 0i64)?,
            &ops::less(&src, n as i64)?,
        )?;
        Ok((src, valid))
    }
}

/// Masks and stand-ins for `cumprod`'s derivatives at zeros.
struct Zeros {
    is_zero: Array,
    /// Past the line's first zero (in the scan's direction).
    after_first: Array,
    /// `x` with every zero as 1 (a safe divisor).
    x_nonzero: Array,
    /// `x` with only the line's first zero as 1.
    x_first_one: Array,
}

/// `shape` with axis `axis` moved last.
fn with_last(shape: &[usize], axis: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    let n = s.remove(axis);
    s.push(n);
    s
}
