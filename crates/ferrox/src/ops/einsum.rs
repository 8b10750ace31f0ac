//! `einsum` and `einsum_path`: Einstein summation composed of existing ops. Each operand
//! first takes its repeated subscripts' diagonals and sums the subscripts no one else
//! needs; then operands are contracted two at a time (the pair whose result is smallest
//! first, as NumPy's greedy path does) as one batched `matmul` each.

use crate::array::Array;
use crate::{invalid, ops, Result};
use std::collections::BTreeMap;

/// A parsed equation: the subscripts of each input and of the output, one `char` per
/// axis (an ellipsis becomes private-use characters, one per broadcast axis).
struct Equation {
    inputs: Vec<Vec<char>>,
    output: Vec<char>,
}

/// The `n`-th axis an ellipsis stands for (counted from the right).
fn ellipsis_char(n: usize) -> char {
    char::from_u32(0xE000 + n as u32).expect("private-use range")
}

fn parse(subscripts: &str, operands: &[Array]) -> Result<Equation> {
    let s: String = subscripts.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match s.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (s.clone(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != operands.len() {
        invalid!(
            "[einsum] Number of operands, {}, does not match number of input subscripts, {}",
            operands.len(),
            terms.len()
        );
    }
    let mut ellipsis_dims = 0;
    let mut inputs = Vec::with_capacity(terms.len());
    for (i, (term, a)) in terms.iter().zip(operands).enumerate() {
        let letters = |t: &str| -> Result<Vec<char>> {
            t.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        Ok(c)
                    } else {
                        invalid!(
                            "[einsum] Subscripts must be letters, got '{c}' in {subscripts:?}."
                        )
                    }
                })
                .collect()
        };
        let subs = match term.split_once("...") {
            Some((before, after)) => {
                let (b, a_) = (letters(before)?, letters(after)?);
                let named = b.len() + a_.len();
                if a.ndim() < named {
                    invalid!(
                        "[einsum] Invalid number of subscripts {named} for input {i} with {} dimensions.",
                        a.ndim()
                    );
                }
                let n = a.ndim() - named;
                ellipsis_dims = ellipsis_dims.max(n);
                let mut v = b;
                v.extend((0..n).rev().map(ellipsis_char));
                v.extend(a_);
                v
            }
            None => {
                let v = letters(term)?;
                if v.len() != a.ndim() {
                    invalid!(
                        "[einsum] Invalid number of subscripts {} for input {i} with {} dimensions.",
                        v.len(),
                        a.ndim()
                    );
                }
                v
            }
        };
        inputs.push(subs);
    }
    let output = match rhs {
        Some(r) => match r.split_once("...") {
            Some((before, after)) => {
                let mut v: Vec<char> = before.chars().collect();
                v.extend((0..ellipsis_dims).rev().map(ellipsis_char));
                v.extend(after.chars());
                v
            }
            None => r.chars().collect(),
        },
        None => {
            // Implicit output: the broadcast axes, then the letters that appear once, sorted.
            let mut count: BTreeMap<char, usize> = BTreeMap::new();
            for c in inputs.iter().flatten() {
                *count.entry(*c).or_default() += 1;
            }
            let mut v: Vec<char> = (0..ellipsis_dims).rev().map(ellipsis_char).collect();
            v.extend(
                count
                    .iter()
                    .filter(|(c, &n)| n == 1 && c.is_ascii_alphabetic())
                    .map(|(c, _)| *c),
            );
            v
        }
    };
    for (j, c) in output.iter().enumerate() {
        if !inputs.iter().flatten().any(|x| x == c) {
            invalid!(
                "[einsum] Output subscript '{c}' does not appear in any input ({subscripts:?})."
            );
        }
        if output[..j].contains(c) {
            invalid!("[einsum] Output subscript '{c}' appears more than once ({subscripts:?}).");
        }
    }
    Ok(Equation { inputs, output })
}

/// The extent of each subscript; a size-1 axis broadcasts to the others.
fn sizes(eq: &Equation, operands: &[Array]) -> Result<BTreeMap<char, usize>> {
    let mut size: BTreeMap<char, usize> = BTreeMap::new();
    for (subs, a) in eq.inputs.iter().zip(operands) {
        for (c, &n) in subs.iter().zip(a.shape()) {
            let e = size.entry(*c).or_insert(n);
            if *e == 1 {
                *e = n;
            }
        }
    }
    for (i, (subs, a)) in eq.inputs.iter().zip(operands).enumerate() {
        for (d, (c, &n)) in subs.iter().zip(a.shape()).enumerate() {
            if n != 1 && n != size[c] {
                let dims: Vec<String> = a.shape().iter().map(|n| n.to_string()).collect();
                invalid!(
                    "[einsum] Cannot broadcast dimension {d} of input {i} with shape ({}) to size {}.",
                    dims.join(","),
                    size[c]
                );
            }
        }
    }
    Ok(size)
}

/// An operand with its subscripts, reduced as far as it can be on its own: repeated
/// subscripts become diagonals, and subscripts that `keep` does not list are summed.
fn reduce_alone(mut a: Array, mut subs: Vec<char>, keep: &[char]) -> Result<(Array, Vec<char>)> {
    // Repeated subscripts: the diagonal (moved to the end) replaces both axes.
    loop {
        let dup = (0..subs.len()).find_map(|i| {
            (i + 1..subs.len())
                .find(|&j| subs[j] == subs[i])
                .map(|j| (i, j))
        });
        let Some((i, j)) = dup else { break };
        let c = subs[i];
        a = ops::diagonal(&a, 0, i as isize, j as isize)?;
        subs.remove(j);
        subs.remove(i);
        subs.push(c);
    }
    let gone: Vec<isize> = (0..subs.len())
        .filter(|&i| !keep.contains(&subs[i]))
        .map(|i| i as isize)
        .collect();
    if !gone.is_empty() {
        a = ops::sum(&a, &gone, false)?;
        subs.retain(|c| keep.contains(c));
    }
    Ok((a, subs))
}

/// `a` with its axes in the order of `want` (every subscript of `a` listed once).
fn arrange(a: &Array, subs: &[char], want: &[char]) -> Result<Array> {
    let perm: Vec<isize> = want
        .iter()
        .map(|c| subs.iter().position(|x| x == c).expect("subscript of a") as isize)
        .collect();
    ops::transpose(a, &perm)
}

/// Contracts two reduced operands over the subscripts `keep` does not list: one batched
/// matmul of `[batch, a-only, shared]` by `[batch, shared, b-only]`.
fn contract(
    (a, sa): (Array, Vec<char>),
    (b, sb): (Array, Vec<char>),
    keep: &[char],
    size: &BTreeMap<char, usize>,
) -> Result<(Array, Vec<char>)> {
    let batch: Vec<char> = sa
        .iter()
        .filter(|c| sb.contains(c) && keep.contains(c))
        .copied()
        .collect();
    let shared: Vec<char> = sa
        .iter()
        .filter(|c| sb.contains(c) && !keep.contains(c))
        .copied()
        .collect();
    let a_only: Vec<char> = sa.iter().filter(|c| !sb.contains(c)).copied().collect();
    let b_only: Vec<char> = sb.iter().filter(|c| !sa.contains(c)).copied().collect();
    let extent = |cs: &[char]| cs.iter().map(|c| size[c]).product::<usize>();
    let full = |x: &Array, subs: &[char]| -> Result<Array> {
        let shape: Vec<usize> = subs.iter().map(|c| size[c]).collect();
        ops::broadcast_to(x, &shape)
    };
    let order_a: Vec<char> = [&batch[..], &a_only[..], &shared[..]].concat();
    let order_b: Vec<char> = [&batch[..], &shared[..], &b_only[..]].concat();
    let mut shape_a: Vec<isize> = batch.iter().map(|c| size[c] as isize).collect();
    let mut shape_b = shape_a.clone();
    shape_a.extend([extent(&a_only) as isize, extent(&shared) as isize]);
    shape_b.extend([extent(&shared) as isize, extent(&b_only) as isize]);
    let am = ops::reshape(&full(&arrange(&a, &sa, &order_a)?, &order_a)?, &shape_a)?;
    let bm = ops::reshape(&full(&arrange(&b, &sb, &order_b)?, &order_b)?, &shape_b)?;
    let out_subs: Vec<char> = [&batch[..], &a_only[..], &b_only[..]].concat();
    let out_shape: Vec<isize> = out_subs.iter().map(|c| size[c] as isize).collect();
    let product = ops::matmul(&am, &bm)?;
    Ok((ops::reshape(&product, &out_shape)?, out_subs))
}

/// The subscripts still needed after operand `skip` (and `skip2`) are consumed: those of
/// the other operands and of the output.
fn needed(ops_subs: &[Vec<char>], skip: &[usize], output: &[char]) -> Vec<char> {
    let mut v: Vec<char> = output.to_vec();
    for (i, s) in ops_subs.iter().enumerate() {
        if !skip.contains(&i) {
            v.extend(s);
        }
    }
    v
}

/// The greedy order: repeatedly the pair of remaining operands whose contraction result
/// is smallest (ties: the first pair), as positions in the shrinking list (NumPy's and
/// MLX's `einsum_path` convention: the result goes to the end).
fn greedy_path(
    subs: &[Vec<char>],
    output: &[char],
    size: &BTreeMap<char, usize>,
) -> Vec<(usize, usize)> {
    let mut subs = subs.to_vec();
    let mut path = Vec::new();
    while subs.len() > 1 {
        let mut best: Option<(usize, usize, usize, Vec<char>)> = None;
        for i in 0..subs.len() {
            for j in i + 1..subs.len() {
                let keep = needed(&subs, &[i, j], output);
                let result: Vec<char> = subs[i]
                    .iter()
                    .chain(&subs[j])
                    .filter(|c| keep.contains(c))
                    .copied()
                    .collect();
                let mut uniq = Vec::new();
                for c in result {
                    if !uniq.contains(&c) {
                        uniq.push(c);
                    }
                }
                let cost: usize = uniq.iter().map(|c| size[c]).product();
                if best.as_ref().is_none_or(|b| cost < b.2) {
                    best = Some((i, j, cost, uniq));
                }
            }
        }
        let (i, j, _, result) = best.expect("at least two operands");
        path.push((i, j));
        subs.remove(j);
        subs.remove(i);
        subs.push(result);
    }
    path
}

/// Einstein summation: `subscripts` such as `"ij,jk->ik"` (implicit output: the letters
/// that appear once, sorted), with `...` for broadcast leading axes and repeated letters
/// in one operand for diagonals. Contractions are batched `matmul`s (floating-point
/// operands, as MLX).
///
/// ```
/// use ferrox::{ops, Array};
/// let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
/// let trace = ops::einsum("ii", &[a.clone()])?;
/// assert_eq!(trace.item::<f32>()?, 5.0);
/// let ab = ops::einsum("ij,jk->ik", &[a.clone(), a.clone()])?;
/// assert_eq!(ab.to_vec::<f32>()?, vec![7.0, 10.0, 15.0, 22.0]);
/// # Ok::<(), ferrox::Error>(())
/// ```
pub fn einsum(subscripts: &str, operands: &[Array]) -> Result<Array> {
    if operands.is_empty() {
        invalid!("[einsum] At least one operand is required.");
    }
    let eq = parse(subscripts, operands)?;
    let size = sizes(&eq, operands)?;
    let path = greedy_path(&eq.inputs, &eq.output, &size);
    let mut items: Vec<(Array, Vec<char>)> = Vec::with_capacity(operands.len());
    for (i, (a, subs)) in operands.iter().zip(&eq.inputs).enumerate() {
        let keep = needed(&eq.inputs, &[i], &eq.output);
        items.push(reduce_alone(a.clone(), subs.clone(), &keep)?);
    }
    for (i, j) in path {
        let b = items.remove(j);
        let a = items.remove(i);
        let subs: Vec<Vec<char>> = items.iter().map(|(_, s)| s.clone()).collect();
        let keep = needed(&subs, &[], &eq.output);
        items.push(contract(a, b, &keep, &size)?);
    }
    let (a, subs) = items.pop().expect("one operand left");
    let (a, subs) = reduce_alone(a, subs, &eq.output)?;
    // Size-1 axes broadcast to the output's extent.
    let shape: Vec<usize> = eq.output.iter().map(|c| size[c]).collect();
    ops::broadcast_to(&arrange(&a, &subs, &eq.output)?, &shape)
}

/// The contraction order [`einsum`] uses (pairs of positions in the shrinking operand
/// list, the result appended; `[[0]]` for a single operand, as MLX), and a report of the
/// naive and optimized costs in the layout of MLX's `einsum_path`.
pub fn einsum_path(subscripts: &str, operands: &[Array]) -> Result<(Vec<Vec<usize>>, String)> {
    if operands.is_empty() {
        invalid!("[einsum_path] At least one operand is required.");
    }
    let eq = parse(subscripts, operands)?;
    let size = sizes(&eq, operands)?;
    let path = greedy_path(&eq.inputs, &eq.output, &size);
    // NumPy's FLOP count: the product of all extents, times the number of terms minus
    // one (at least one), plus one when something is summed.
    let mut all: Vec<char> = eq.inputs.iter().flatten().copied().collect();
    all.sort();
    all.dedup();
    let summed = all.iter().any(|c| !eq.output.contains(c));
    let naive = all.iter().map(|c| size[c]).product::<usize>()
        * ((eq.inputs.len().max(2) - 1) + usize::from(summed));
    let mut subs = eq.inputs.clone();
    let (mut optimized, mut scaling) = (0usize, 0usize);
    for &(i, j) in &path {
        let keep = needed(&subs, &[i, j], &eq.output);
        let mut letters: Vec<char> = subs[i].iter().chain(&subs[j]).copied().collect();
        letters.sort();
        letters.dedup();
        let inner = letters.iter().any(|c| !keep.contains(c));
        optimized += letters.iter().map(|c| size[c]).product::<usize>() * (1 + usize::from(inner));
        scaling = scaling.max(letters.len());
        let result: Vec<char> = letters.into_iter().filter(|c| keep.contains(c)).collect();
        subs.remove(j);
        subs.remove(i);
        subs.push(result);
    }
    if path.is_empty() {
        optimized = naive;
        scaling = all.len();
    }
    let report = format!(
        "  Complete contraction:  {subscripts}\n         Naive scaling:  {}\n     Optimized scaling:  {scaling}\n      Naive FLOP count:  {naive}\n  Optimized FLOP count:  {optimized}\n",
        all.len()
    );
    let path = if path.is_empty() {
        vec![vec![0]]
    } else {
        path.into_iter().map(|(i, j)| vec![i, j]).collect()
    };
    Ok((path, report))
}
