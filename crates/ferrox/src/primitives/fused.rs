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
use crate::primitives::binary::{Binary, BinaryOp, Select};
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
    /// `where(c, a, b)`: `c` is a boolean input of the region (true read as 1.0).
    Select(usize, usize, usize),
}

impl Instr {
    /// The registers it reads.
    pub fn reads(&self) -> impl Iterator<Item = usize> {
        match *self {
            Instr::Unary(_, a) => [Some(a), None, None],
            Instr::Binary(_, a, b) => [Some(a), Some(b), None],
            Instr::Select(c, a, b) => [Some(c), Some(a), Some(b)],
        }
        .into_iter()
        .flatten()
    }
}

/// A fused region: its inputs broadcast to the shape of its outputs (all one shape); one
/// output per entry of `outputs` (the registers read outside the region). Inputs,
/// registers and outputs are all of one float dtype, but for the boolean conditions of
/// selects (inputs read as 1.0 or 0.0).
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
                Instr::Select(c, a, b) => self.node(
                    shape,
                    Select,
                    vec![regs[c].clone(), regs[a].clone(), regs[b].clone()],
                ),
            };
            regs.push(y);
        }
        Ok(self.outputs.iter().map(|&r| regs[r].clone()).collect())
    }

    /// The region's float inputs (what it is differentiated with respect to: selects'
    /// boolean conditions are not), and a function from their values to all inputs.
    fn float_inputs<'a>(
        &self,
        inputs: &'a [Array],
    ) -> (impl Fn(&[Array]) -> Vec<Array> + 'a, Vec<Array>) {
        let float: Vec<Array> = inputs
            .iter()
            .filter(|x| x.dtype() != Dtype::Bool)
            .cloned()
            .collect();
        let at = move |x: &[Array]| {
            let mut x = x.iter();
            inputs
                .iter()
                .map(|p| match p.dtype() {
                    Dtype::Bool => p.clone(),
                    _ => x.next().expect("one value per float input").clone(),
                })
                .collect()
        };
        (at, float)
    }

    /// Input `i`'s position among the float inputs (`float_inputs`).
    fn float_index(&self, inputs: &[Array], i: usize) -> usize {
        inputs[..i]
            .iter()
            .filter(|x| x.dtype() != Dtype::Bool)
            .count()
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
                Instr::Select(c, a, b) => {
                    let ab = crate::shape::broadcast_shapes(&regs[a], &regs[b]).ok()?;
                    crate::shape::broadcast_shapes(&regs[c], &ab).ok()?
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
        let views: Vec<(&[usize], Dtype, Data)> = inputs
            .iter()
            .map(|x| Ok((x.shape(), x.dtype(), x.data()?)))
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
        let (at, float) = self.float_inputs(primals);
        let (_, grads) = vjp(|x| self.expand(&at(x), shape), &float, cotangents)?;
        argnums
            .iter()
            .map(|&i| match primals[i].dtype() {
                Dtype::Bool => ops::zeros_like(&primals[i], None),
                _ => Ok(grads[self.float_index(primals, i)].clone()),
            })
            .collect()
    }

    fn jvp(
        &self,
        primals: &[Array],
        tangents: &[Array],
        argnums: &[usize],
        outputs: &[Array],
    ) -> Result<Vec<Array>> {
        let shape = outputs[0].shape();
        let (at, float) = self.float_inputs(primals);
        let mut all = float
            .iter()
            .map(|p| ops::zeros_like(p, None))
            .collect::<Result<Vec<_>>>()?;
        for (&i, t) in argnums.iter().zip(tangents) {
            if primals[i].dtype() != Dtype::Bool {
                all[self.float_index(primals, i)] = t.clone();
            }
        }
        Ok(jvp(|x| self.expand(&at(x), shape), &float, &all)?.1)
    }

    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        // Unbatched inputs are broadcast against the batch inside `expand`'s ops.
        let (n, shape) = (self.outputs.len(), out[0].shape());
        let expand = |x: &[Array]| self.expand(x, shape);
        let outs = vmap_with_out_axes(&expand, inputs, axes, &|_| Ok(vec![Some(0); n]))?;
        Ok((outs, vec![Some(0); n]))
    }
}
