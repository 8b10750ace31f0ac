//! Matrix products: `matmul` and `addmm` (`alpha * a @ b + beta * c`). Inputs arrive with
//! their batch axes broadcast to the output's; transposed operands are strided views, not
//! copies.

use crate::array::{Array, Data, Shape};
use crate::backend::cpu;
use crate::primitive::{Batched, EvalContext, Primitive, TracedShapes};
use crate::transforms::vmap::{all_to_front, batch_size, with_batch};
use crate::{ops, Result};

/// `x * k`, skipping the multiply when `k` is 1.
fn scaled(x: Array, k: f64) -> Result<Array> {
    if k == 1.0 {
        Ok(x)
    } else {
        ops::multiply(&x, k)
    }
}

/// `alpha * (a @ b) + beta * c`, with `c` present only when there is a third input.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Matmul {
    pub alpha: f64,
    pub beta: f64,
}

impl Primitive for Matmul {
    crate::exportable!(Matmul);

    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        // a: [.., m, k], b: [.., k, n] with equal batch axes; c (if any) of the product's
        // shape.
        let (a, b) = (inputs[0], inputs[1]);
        let n = a.len();
        if b.len() != n || n < 2 || a[..n - 2] != b[..n - 2] || a[n - 1] != b[n - 2] {
            return None;
        }
        let mut out = a.to_vec();
        out[n - 1] = b[n - 1];
        inputs
            .get(2)
            .is_none_or(|c| *c == out.as_slice())
            .then_some(vec![out])
    }
    fn name(&self) -> &'static str {
        "Matmul"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (a, b) = (inputs[0].data()?, inputs[1].data()?);
        let (shape, dtype) = ctx.outputs[0].clone();
        let out = Data::alloc(&shape, dtype)?;
        let addend = match inputs.get(2) {
            Some(c) => {
                let cd = c.data()?;
                cpu::copy::copy_cast(&shape, &cd, c.dtype(), &out, dtype);
                true
            }
            None => false,
        };
        let k = inputs[0].shape()[inputs[0].ndim() - 1];
        cpu::matmul::matmul(
            &shape,
            k,
            dtype,
            &a,
            &b,
            &out,
            self.alpha,
            if addend { self.beta } else { 0.0 },
        )?;
        Ok(vec![out])
    }
    fn vjp(
        &self,
        p: &[Array],
        cot: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        let c = &cot[0];
        argnums
            .iter()
            .map(|&i| match i {
                0 => scaled(ops::matmul(c, &ops::swapaxes(&p[1], -1, -2)?)?, self.alpha),
                1 => scaled(ops::matmul(&ops::swapaxes(&p[0], -1, -2)?, c)?, self.alpha),
                _ => scaled(c.clone(), self.beta),
            })
            .collect()
    }
    fn jvp(
        &self,
        p: &[Array],
        tan: &[Array],
        argnums: &[usize],
        _: &[Array],
    ) -> Result<Vec<Array>> {
        let mut acc: Option<Array> = None;
        for (&i, t) in argnums.iter().zip(tan) {
            let d = match i {
                0 => scaled(ops::matmul(t, &p[1])?, self.alpha)?,
                1 => scaled(ops::matmul(&p[0], t)?, self.alpha)?,
                _ => scaled(t.clone(), self.beta)?,
            };
            acc = Some(match acc {
                Some(a) => ops::add(&a, &d)?,
                None => d,
            });
        }
        match acc {
            Some(a) => Ok(vec![a]),
            None => Err(crate::Error::Runtime(
                "[Matmul] jvp without tangents".into(),
            )),
        }
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        // The inputs carry the output's batch axes already (broadcast): a leading batch
        // axis for all of them is one more.
        let n = batch_size(inputs, axes);
        let v = all_to_front(inputs, axes)?;
        let shape = with_batch(out[0].shape(), 0, n);
        let prim = Matmul {
            alpha: self.alpha,
            beta: self.beta,
        };
        Ok((
            vec![Array::from_op(
                shape,
                out[0].dtype(),
                prim,
                v,
                ops::stream(),
            )],
            vec![Some(0)],
        ))
    }
}
