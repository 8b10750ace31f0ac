//! Cumulative operations along one axis (`cumsum`, `cumprod`, `cummax`, `cummin`,
//! `logcumsumexp`). The output has the input's shape and dtype: the ops cast beforehand
//! (`cumsum` of bool to int32, `logcumsumexp` of integers to float32).

use crate::array::{Array, Data};
use crate::backend::cpu;
use crate::dtype::Dtype;
use crate::primitive::{Batched, EvalContext, Primitive};
use crate::{ops, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scan {
    pub op: ScanOp,
    pub axis: usize,
    pub reverse: bool,
    pub inclusive: bool,
}

impl Primitive for Scan {
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
            // d y_i / d x_j = y_i / x_j (x_j in the window of i).
            ScanOp::Prod => ops::divide(&back(&ops::multiply(c, y)?)?, x)?,
            // d y_i / d x_j = exp(x_j - y_i), computed with a shift `m` that cancels.
            ScanOp::LogAddExp => {
                let m = self.shift(x)?;
                let w = ops::multiply(c, &ops::exp(&ops::subtract(&m, y)?)?)?;
                let w = ops::where_(&ops::isneginf(y)?, 0.0, &w)?;
                ops::multiply(&ops::exp(&ops::subtract(x, &m)?)?, &back(&w)?)?
            }
            ScanOp::Max | ScanOp::Min => {
                let w = self.extreme_weights(x, y)?;
                let ct = ops::expand_dims(&ops::moveaxis(c, self.axis as isize, -1)?, &[-1])?;
                let g = ops::sum(&ops::multiply(&ct, &w)?, &[-2], false)?;
                ops::moveaxis(&g, -1, self.axis as isize)?
            }
        };
        Ok(vec![g])
    }
    fn jvp(&self, p: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let (x, t, y) = (&p[0], &tan[0], &out[0]);
        let r = match self.op {
            ScanOp::Sum => self.sum_scan(t, self.reverse)?,
            ScanOp::Prod => ops::multiply(y, &self.sum_scan(&ops::divide(t, x)?, self.reverse)?)?,
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
                let w = self.extreme_weights(x, y)?;
                let tt = ops::expand_dims(&ops::moveaxis(t, self.axis as isize, -1)?, &[-2])?;
                let r = ops::sum(&ops::multiply(&w, &tt)?, &[-1], false)?;
                ops::moveaxis(&r, -1, self.axis as isize)?
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
    /// A sum scan along this scan's axis, with its inclusiveness, in direction `reverse`.
    fn sum_scan(&self, v: &Array, reverse: bool) -> Result<Array> {
        let prim = Scan {
            op: ScanOp::Sum,
            axis: self.axis,
            reverse,
            inclusive: self.inclusive,
        };
        Ok(Array::from_op(
            v.shape().to_vec(),
            v.dtype(),
            prim,
            vec![v.clone()],
            ops::stream(),
        ))
    }

    /// A constant (no derivative) per line that keeps `exp` of `logcumsumexp`'s terms in
    /// range: the line's maximum.
    fn shift(&self, x: &Array) -> Result<Array> {
        let m = ops::max(x, &[self.axis as isize], true)?;
        let m = ops::where_(&ops::isinf(&m)?, 0.0, &m)?;
        ops::stop_gradient(&m)
    }

    /// For `cummax`/`cummin`: `w[..., i, j]` (the scan axis moved last, then split in two)
    /// is the share of output `i` that comes from input `j`: 1 where `x_j` is the extreme
    /// of `i`'s window, shared equally between ties.
    fn extreme_weights(&self, x: &Array, y: &Array) -> Result<Array> {
        let n = x.shape()[self.axis];
        let xt = ops::moveaxis(x, self.axis as isize, -1)?;
        let yt = ops::moveaxis(y, self.axis as isize, -1)?;
        let hit = ops::equal(
            &ops::expand_dims(&yt, &[-1])?,
            &ops::expand_dims(&xt, &[-2])?,
        )?;
        let i = ops::arange(0.0, n as f64, 1.0, Some(Dtype::Int32))?.reshape(&[n, 1])?;
        let j = ops::arange(0.0, n as f64, 1.0, Some(Dtype::Int32))?.reshape(&[1, n])?;
        let window = match (self.reverse, self.inclusive) {
            (false, true) => ops::less_equal(&j, &i)?,
            (false, false) => ops::less(&j, &i)?,
            (true, true) => ops::greater_equal(&j, &i)?,
            (true, false) => ops::greater(&j, &i)?,
        };
        let m = ops::astype(&ops::logical_and(&hit, &window)?, x.dtype())?;
        let count = ops::maximum(&ops::sum(&m, &[-1], true)?, 1.0)?;
        ops::divide(&m, &count)
    }
}
