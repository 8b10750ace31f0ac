//! `Compiled` (MLX's name): a region of float elementwise ops of one dtype that `compile` fused
//! (`transforms::fuse`) into one primitive, computed in one pass over memory
//! (`backend::cpu::fused`).
//!
//! Its transform rules expand the region back into the ops it was made of and apply
//! theirs, so a fused function differentiates and batches exactly as the unfused one.

use crate::array::{Array, Data, Shape};
use crate::backend::cpu;
use crate::device::Stream;
use crate::dtype::Dtype;
use crate::primitive::{Batched, EvalContext, Primitive, TracedShapes};
use crate::primitives::binary::{Binary, BinaryOp};
use crate::primitives::unary::{AsType, Unary, UnaryOp};
use crate::transforms::{jvp, vjp, vmap_with_out_axes};
use crate::{ops, Result};

/// One instruction: registers `0..n_inputs` are the inputs, instruction `k` defines
/// register `n_inputs + k`. A comparison gives its result cast to the region's dtype
/// (1.0 or 0.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Instr {
    Unary(UnaryOp, usize),
    Binary(BinaryOp, usize, usize),
}

/// A fused region: its inputs broadcast to the shape of its outputs (all one shape); one
/// output per entry of `outputs` (the registers read outside the region). Inputs,
/// registers and outputs are all of one float dtype.
#[derive(Debug)]
pub struct FusedRegion {
    pub dtype: Dtype,
    pub instrs: Vec<Instr>,
    pub outputs: Vec<usize>,
    pub stream: Stream,
}

impl FusedRegion {
    /// The region as the separate lazy ops it was fused from, on `inputs`, over `shape`.
    fn expand(&self, inputs: &[Array], shape: &[usize]) -> Result<Vec<Array>> {
        let mut regs: Vec<Array> = inputs
            .iter()
            .map(|x| ops::broadcast_to(x, shape))
            .collect::<Result<_>>()?;
        for ins in &self.instrs {
            let y = match *ins {
                Instr::Unary(op, a) => self.node(shape, Unary(op), vec![regs[a].clone()]),
                Instr::Binary(op, a, b) if cpu::fused::fusable_comparison(op) => {
                    let mask = Array::from_op(
                        shape.to_vec(),
                        Dtype::Bool,
                        Binary(op),
                        vec![regs[a].clone(), regs[b].clone()],
                        self.stream,
                    );
                    self.node(shape, AsType(self.dtype), vec![mask])
                }
                Instr::Binary(op, a, b) => {
                    self.node(shape, Binary(op), vec![regs[a].clone(), regs[b].clone()])
                }
            };
            regs.push(y);
        }
        Ok(self.outputs.iter().map(|&r| regs[r].clone()).collect())
    }

    fn node(&self, shape: &[usize], prim: impl Primitive + 'static, inputs: Vec<Array>) -> Array {
        Array::from_op(shape.to_vec(), self.dtype, prim, inputs, self.stream)
    }
}

impl Primitive for FusedRegion {
    fn output_shapes(&self, inputs: &[&[usize]], _: &TracedShapes) -> Option<Vec<Shape>> {
        // Each register's shape as the unfused ops would have it: the region is right
        // for the new shapes when every output's is the broadcast of all the inputs.
        let mut regs: Vec<Shape> = inputs.iter().map(|s| s.to_vec()).collect();
        for ins in &self.instrs {
            let s = match *ins {
                Instr::Unary(_, a) => regs[a].clone(),
                Instr::Binary(_, a, b) => {
                    crate::shape::broadcast_shapes(&regs[a], &regs[b]).ok()?
                }
            };
            regs.push(s);
        }
        let mut shape: Shape = vec![];
        for s in inputs {
            shape = crate::shape::broadcast_shapes(&shape, s).ok()?;
        }
        let outs: Vec<Shape> = self.outputs.iter().map(|&r| regs[r].clone()).collect();
        outs.iter().all(|s| *s == shape).then_some(outs)
    }
    fn name(&self) -> &'static str {
        "Compiled"
    }

    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let views: Vec<(&[usize], Data)> = inputs
            .iter()
            .map(|x| Ok((x.shape(), x.data()?)))
            .collect::<Result<_>>()?;
        // An input of the region's full shape may give its buffer to an output.
        let shape = ctx.outputs[0].0.clone();
        let candidates: Vec<usize> = (0..inputs.len())
            .filter(|&i| inputs[i].shape() == shape.as_slice())
            .collect();
        let outs: Vec<Data> = (0..self.outputs.len())
            .map(|o| ctx.output(o, inputs, &candidates))
            .collect::<Result<_>>()?;
        cpu::fused::eval(
            self.dtype,
            &shape,
            &views,
            &self.instrs,
            &self.outputs,
            &outs,
        )?;
        Ok(outs)
    }

    fn vjp(
        &self,
        primals: &[Array],
        cotangents: &[Array],
        argnums: &[usize],
        outputs: &[Array],
    ) -> Result<Vec<Array>> {
        let shape = outputs[0].shape();
        let (_, grads) = vjp(|x| self.expand(x, shape), primals, cotangents)?;
        Ok(argnums.iter().map(|&i| grads[i].clone()).collect())
    }

    fn jvp(
        &self,
        primals: &[Array],
        tangents: &[Array],
        argnums: &[usize],
        outputs: &[Array],
    ) -> Result<Vec<Array>> {
        let shape = outputs[0].shape();
        let mut all = primals
            .iter()
            .map(|p| ops::zeros_like(p, None))
            .collect::<Result<Vec<_>>>()?;
        for (&i, t) in argnums.iter().zip(tangents) {
            all[i] = t.clone();
        }
        Ok(jvp(|x| self.expand(x, shape), primals, &all)?.1)
    }

    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        // Unbatched inputs are broadcast against the batch inside `expand`'s ops.
        let (n, shape) = (self.outputs.len(), out[0].shape());
        let expand = |x: &[Array]| self.expand(x, shape);
        let outs = vmap_with_out_axes(&expand, inputs, axes, &|_| Ok(vec![Some(0); n]))?;
        Ok((outs, vec![Some(0); n]))
    }
}
