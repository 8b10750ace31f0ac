//! Fusion, the last step of `compile`: maximal regions of float elementwise ops of one
//! shape and dtype become one `Compiled` primitive ([`FusedRegion`]), which runs the region in one
//! pass over memory instead of one pass (and one intermediate buffer) per op.
//!
//! Regions grow greedily in program order: a fusable step joins the region of one of its
//! inputs when that keeps the graph acyclic, i.e. none of its inputs from outside the
//! region depends on the region (else the region would have to run both before and
//! after that input). Inputs broadcast by a `Broadcast` step are read through it (the
//! kernel broadcasts as it reads). A cast of a comparison of floats to their own dtype
//! joins as the comparison itself (1.0 or 0.0 in the region); a select joins with its
//! boolean condition as an input. A member read outside its region
//! becomes one of the region's outputs. Steps no one reads any more (those broadcasts)
//! are dropped, and the steps are put back in an order that runs each after its inputs.

use super::compile::{Ref, Step};
use crate::backend::cpu::fused::{fusable_binary, fusable_comparison};
use crate::backend::cpu::unary::float_unary;
use crate::dtype::Dtype;
use crate::primitives::binary::{Binary, Select};
use crate::primitives::fused::{FusedRegion, Instr};
use crate::primitives::unary::{AsType, Unary};
use crate::primitives::view::Broadcast;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The dtypes a region can run on (`backend::cpu::fused`).
fn fusable_dtype(d: Dtype) -> bool {
    matches!(
        d,
        Dtype::Float32 | Dtype::Float64 | Dtype::Float16 | Dtype::Bfloat16
    )
}

/// The instruction a step would be in a region (its registers filled in later).
fn as_instr(step: &Step, dtype_of: &dyn Fn(&Ref) -> Dtype) -> Option<Instr> {
    let dtype = step.outputs.first()?.1;
    if step.outputs.len() != 1 || !fusable_dtype(dtype) {
        return None;
    }
    let same_inputs = step.inputs.iter().all(|r| dtype_of(r) == dtype);
    let any = step.primitive.as_any()?;
    if let Some(Unary(op)) = any.downcast_ref::<Unary>() {
        let has_float_fn = float_unary!(*op, f32, |_f| ());
        return (has_float_fn && same_inputs).then_some(Instr::Unary(*op, 0));
    }
    if let Some(Binary(op)) = any.downcast_ref::<Binary>() {
        // A comparison here has a float output: it is a rewritten cast (`compared_cast`).
        let fusable = fusable_binary(*op) || fusable_comparison(*op);
        return (fusable && same_inputs).then_some(Instr::Binary(*op, 0, 0));
    }
    if any.downcast_ref::<Select>().is_some() {
        // The condition is boolean (an input of the region, read as 1.0 or 0.0).
        let [c, a, b] = &step.inputs[..] else {
            return None;
        };
        let fusable = dtype_of(c) == Dtype::Bool && dtype_of(a) == dtype && dtype_of(b) == dtype;
        return fusable.then_some(Instr::Select(0, 0, 0));
    }
    None
}

/// For `astype(a <cmp> b, t)` with `a` and `b` of the float dtype `t`: a step computing
/// the comparison of `a` and `b` as `t` (1.0 or 0.0), which a region can hold. A relu's
/// backward pass is such a mask times the cotangent.
fn compared_cast(step: &Step, steps: &[Step], dtype_of: &dyn Fn(&Ref) -> Dtype) -> Option<Step> {
    let AsType(to) = step.primitive.as_any()?.downcast_ref::<AsType>()?;
    let Ref::Step(c, 0) = step.inputs.first()? else {
        return None;
    };
    let compare = &steps[*c];
    let Binary(op) = compare.primitive.as_any()?.downcast_ref::<Binary>()?;
    let same_inputs = compare.inputs.iter().all(|r| dtype_of(r) == *to);
    (fusable_dtype(*to) && fusable_comparison(*op) && same_inputs).then(|| Step {
        primitive: compare.primitive.clone(),
        inputs: compare.inputs.clone(),
        outputs: step.outputs.clone(),
        stream: step.stream,
    })
}

/// Fuses `steps` (a program in order, reading `args` of the given dtypes) and returns
/// the new steps and outputs; `None` if no order of them exists (a bug: the regions are
/// grown so that it always does; the caller then keeps the program unfused).
pub(super) fn fuse(
    steps: &[Step],
    outputs: &[Ref],
    args: &[Dtype],
) -> Option<(Vec<Step>, Vec<Ref>)> {
    let dtype_of = |r: &Ref| match r {
        Ref::Arg(k) => args[*k],
        Ref::Step(s, o) => steps[*s].outputs[*o].1,
        Ref::Const(a) => a.dtype(),
    };
    let n = steps.len();
    // Regions are grown over `fusing`: `steps` with each cast of a comparison of floats
    // to their dtype rewritten as that comparison of its inputs. A rewritten step left out
    // of every region runs as it was (`actual`).
    let fusing: Vec<Step> = steps
        .iter()
        .map(|s| compared_cast(s, steps, &dtype_of).unwrap_or_else(|| s.clone()))
        .collect();
    let instrs: Vec<Option<Instr>> = fusing.iter().map(|s| as_instr(s, &dtype_of)).collect();

    let region = grow_regions(&fusing, &instrs);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (s, g) in region.iter().enumerate() {
        if let Some(g) = g {
            members[*g].push(s);
        }
    }
    // Only regions of two ops or more pay.
    let region: Vec<Option<usize>> = region
        .iter()
        .map(|g| g.filter(|&g| members[g].len() >= 2))
        .collect();

    // Node ids: each unfused step keeps one; a region takes one at its last member.
    let mut node_of_step: Vec<usize> = vec![usize::MAX; n];
    let mut node_of_region: Vec<usize> = vec![usize::MAX; members.len()];
    let mut next = 0;
    for s in 0..n {
        match region[s] {
            None => {
                node_of_step[s] = next;
                next += 1;
            }
            Some(g) if members[g].last() == Some(&s) => {
                node_of_region[g] = next;
                next += 1;
            }
            Some(_) => {}
        }
    }
    // The members each region exports, and the output index of each.
    let mut exported: HashMap<usize, usize> = HashMap::new();
    let mut exports: Vec<Vec<usize>> = vec![Vec::new(); members.len()];
    let mut export = |p: usize, reader: Option<usize>| {
        if let Some(g) = region[p] {
            if reader != Some(g) && !exported.contains_key(&p) {
                exported.insert(p, exports[g].len());
                exports[g].push(p);
            }
        }
    };
    let actual = |s: usize| {
        if region[s].is_some() {
            &fusing[s]
        } else {
            &steps[s]
        }
    };
    for s in 0..n {
        for r in &actual(s).inputs {
            if let Ref::Step(p, _) = r {
                export(*p, region[s]);
            }
        }
    }
    for r in outputs {
        if let Ref::Step(p, _) = r {
            export(*p, None);
        }
    }
    let translate = |r: &Ref| match r {
        Ref::Step(p, o) => match region[*p] {
            Some(g) => Ref::Step(node_of_region[g], exported[p]),
            None => Ref::Step(node_of_step[*p], *o),
        },
        other => other.clone(),
    };

    let mut nodes: Vec<Option<Step>> = (0..next).map(|_| None).collect();
    for s in 0..n {
        match region[s] {
            None => {
                let step = &steps[s];
                nodes[node_of_step[s]] = Some(Step {
                    primitive: step.primitive.clone(),
                    inputs: step.inputs.iter().map(&translate).collect(),
                    outputs: step.outputs.clone(),
                    stream: step.stream,
                });
            }
            Some(g) if members[g].last() == Some(&s) => {
                let (inputs, region_step) =
                    build_region(&fusing, &members[g], g, &region, &instrs, &exports[g]);
                nodes[node_of_region[g]] = Some(Step {
                    inputs: inputs.iter().map(&translate).collect(),
                    ..region_step
                });
            }
            Some(_) => {}
        }
    }
    let nodes: Vec<Step> = nodes.into_iter().flatten().collect();
    let outputs: Vec<Ref> = outputs.iter().map(&translate).collect();
    reorder(nodes, outputs)
}

/// Regions as they grow: a union-find over region ids (a step can join two regions
/// into one), and for each region the regions its outside inputs depend on.
struct Regions {
    parent: Vec<usize>,
    outside_deps: Vec<BTreeSet<usize>>,
}

impl Regions {
    fn find(&self, mut g: usize) -> usize {
        while self.parent[g] != g {
            g = self.parent[g];
        }
        g
    }
    fn any_in(&self, set: &BTreeSet<usize>, g: usize) -> bool {
        set.iter().any(|&h| self.find(h) == g)
    }
}

/// The region of each step (`None`: not fusable), every id a region's root.
fn grow_regions(steps: &[Step], instrs: &[Option<Instr>]) -> Vec<Option<usize>> {
    let n = steps.len();
    let mut rs = Regions {
        parent: Vec::new(),
        outside_deps: Vec::new(),
    };
    let mut region: Vec<Option<usize>> = vec![None; n];
    // `deps[s]`: the regions step s depends on, its own included (ids, not roots).
    let mut deps: Vec<BTreeSet<usize>> = Vec::with_capacity(n);
    let mut shape_of: Vec<usize> = Vec::new(); // a member of each region
    for s in 0..n {
        let step = &steps[s];
        let input_steps: Vec<usize> = step
            .inputs
            .iter()
            .filter_map(|r| match r {
                Ref::Step(p, _) => Some(*p),
                _ => None,
            })
            .collect();
        let mut d = BTreeSet::new();
        for &p in &input_steps {
            d.extend(deps[p].iter().copied());
        }
        if instrs[s].is_some() {
            // The regions of its inputs that it could join (same shape, dtype, stream).
            let mut near: Vec<usize> = Vec::new();
            for &p in &input_steps {
                if let Some(g) = region[p].map(|g| rs.find(g)) {
                    let first = &steps[shape_of[g]];
                    if first.outputs[0] == step.outputs[0]
                        && first.stream == step.stream
                        && !near.contains(&g)
                    {
                        near.push(g);
                    }
                }
            }
            // What its inputs outside `joined` depend on.
            let outside = |joined: &[usize], rs: &Regions| {
                let mut o = BTreeSet::new();
                for &p in &input_steps {
                    if !region[p].is_some_and(|g| joined.contains(&rs.find(g))) {
                        o.extend(deps[p].iter().copied());
                    }
                }
                o
            };
            // Acyclic iff nothing outside the joined regions depends on one of them.
            let valid = |joined: &[usize], rs: &Regions| {
                let o = outside(joined, rs);
                joined.iter().all(|&g| {
                    !rs.any_in(&o, g)
                        && joined
                            .iter()
                            .all(|&h| h == g || !rs.any_in(&rs.outside_deps[h], g))
                })
            };
            let joined: Vec<usize> = if !near.is_empty() && valid(&near, &rs) {
                near
            } else {
                near.into_iter()
                    .find(|&g| valid(&[g], &rs))
                    .into_iter()
                    .collect()
            };
            let g = match joined.first() {
                Some(&g) => g,
                None => {
                    rs.parent.push(rs.parent.len());
                    rs.outside_deps.push(BTreeSet::new());
                    shape_of.push(s);
                    rs.parent.len() - 1
                }
            };
            let mut od = outside(&joined, &rs);
            for &h in &joined[1.min(joined.len())..] {
                rs.parent[h] = g;
                od.extend(std::mem::take(&mut rs.outside_deps[h]));
            }
            rs.outside_deps[g].extend(od);
            region[s] = Some(g);
            d.insert(g);
        }
        deps.push(d);
    }
    region.iter().map(|g| g.map(|g| rs.find(g))).collect()
}

/// Region `g`'s step (inputs still in the old numbering, returned beside it).
fn build_region(
    steps: &[Step],
    members: &[usize],
    g: usize,
    region: &[Option<usize>],
    instrs: &[Option<Instr>],
    exports: &[usize],
) -> (Vec<Ref>, Step) {
    // External inputs, read through broadcasts, each once.
    let through = |r: &Ref| -> Ref {
        if let Ref::Step(p, 0) = r {
            let is_broadcast = steps[*p]
                .primitive
                .as_any()
                .is_some_and(|a| a.downcast_ref::<Broadcast>().is_some());
            if is_broadcast {
                return steps[*p].inputs[0].clone();
            }
        }
        r.clone()
    };
    let key = |r: &Ref| match r {
        Ref::Arg(k) => (0, *k, 0),
        Ref::Step(s, o) => (1, *s, *o),
        Ref::Const(a) => (2, a.id(), 0),
    };
    let mut inputs: Vec<Ref> = Vec::new();
    let mut input_reg: HashMap<(u8, usize, usize), usize> = HashMap::new();
    for &m in members {
        for r in &steps[m].inputs {
            let inside = matches!(r, Ref::Step(p, _) if region[*p] == Some(g));
            if !inside {
                let r = through(r);
                input_reg.entry(key(&r)).or_insert_with(|| {
                    inputs.push(r.clone());
                    inputs.len() - 1
                });
            }
        }
    }
    let n_in = inputs.len();
    let mut reg_of: HashMap<usize, usize> = HashMap::new();
    let mut code = Vec::with_capacity(members.len());
    for (k, &m) in members.iter().enumerate() {
        let regs: Vec<usize> = steps[m]
            .inputs
            .iter()
            .map(|r| match r {
                Ref::Step(p, _) if region[*p] == Some(g) => reg_of[p],
                _ => input_reg[&key(&through(r))],
            })
            .collect();
        code.push(match instrs[m] {
            Some(Instr::Unary(op, _)) => Instr::Unary(op, regs[0]),
            Some(Instr::Binary(op, _, _)) => Instr::Binary(op, regs[0], regs[1]),
            Some(Instr::Select(..)) => Instr::Select(regs[0], regs[1], regs[2]),
            None => unreachable!("region members are fusable"),
        });
        reg_of.insert(m, n_in + k);
    }
    let first = &steps[members[0]];
    let shape = first.outputs[0].0.clone();
    let dtype = first.outputs[0].1;
    let primitive = FusedRegion {
        dtype,
        instrs: code,
        outputs: exports.iter().map(|p| reg_of[p]).collect(),
        stream: first.stream,
    };
    let step = Step {
        primitive: Arc::new(primitive),
        inputs: Vec::new(),
        outputs: vec![(shape, dtype); exports.len()],
        stream: first.stream,
    };
    (inputs, step)
}

/// Keeps the nodes the outputs need, each after its inputs (otherwise in their order);
/// `None` on a cycle.
fn reorder(nodes: Vec<Step>, outputs: Vec<Ref>) -> Option<(Vec<Step>, Vec<Ref>)> {
    let n = nodes.len();
    let preds = |i: usize| {
        nodes[i].inputs.iter().filter_map(|r| match r {
            Ref::Step(p, _) => Some(*p),
            _ => None,
        })
    };
    let mut needed = vec![false; n];
    let mut stack: Vec<usize> = outputs
        .iter()
        .filter_map(|r| match r {
            Ref::Step(p, _) => Some(*p),
            _ => None,
        })
        .collect();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut needed[i], true) {
            stack.extend(preds(i));
        }
    }
    let mut position = vec![usize::MAX; n];
    let mut expanded = vec![false; n];
    let mut order: Vec<usize> = Vec::with_capacity(n);
    for root in (0..n).filter(|&i| needed[i]) {
        // Depth first: a node is placed once all its inputs are.
        let mut stack = vec![root];
        while let Some(&i) = stack.last() {
            if position[i] != usize::MAX {
                stack.pop();
                continue;
            }
            let pending: Vec<usize> = preds(i).filter(|&p| position[p] == usize::MAX).collect();
            if pending.is_empty() {
                position[i] = order.len();
                order.push(i);
                stack.pop();
            } else if std::mem::replace(&mut expanded[i], true) {
                // Its inputs were all visited and one still waits on it: a cycle.
                return None;
            } else {
                stack.extend(pending);
            }
        }
    }
    let renumber = |r: &Ref| match r {
        Ref::Step(p, o) => Ref::Step(position[*p], *o),
        other => other.clone(),
    };
    let mut slots: Vec<Option<Step>> = nodes.into_iter().map(Some).collect();
    let steps = order
        .iter()
        .map(|&i| {
            let step = slots[i].take().expect("each node is placed once");
            Step {
                inputs: step.inputs.iter().map(renumber).collect(),
                ..step
            }
        })
        .collect();
    Some((steps, outputs.iter().map(renumber).collect()))
}
