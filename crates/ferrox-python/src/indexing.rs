//! `a[key]` and `a[key] = value` for ints, slices, `None` and `...` (basic indexing).

use crate::convert::type_name;
use crate::errors::{guard, value_error};
use ferrox::ops;
use ferrox::Array;
use pyo3::exceptions::PyIndexError as IndexError;
use pyo3::prelude::*;
use pyo3::types::{PyEllipsis, PyNone, PySlice, PyTuple};

/// One element of an index tuple.
enum Entry {
    Int(isize),
    Slice(isize, isize, isize),
    NewAxis,
    Ellipsis,
}

fn entries(key: &Bound<'_, PyAny>) -> PyResult<Vec<Entry>> {
    let items: Vec<Bound<'_, PyAny>> = match key.cast::<PyTuple>() {
        Ok(t) => t.iter().collect(),
        Err(_) => vec![key.clone()],
    };
    items
        .iter()
        .map(|k| {
            if k.is_instance_of::<PyNone>() {
                Ok(Entry::NewAxis)
            } else if k.is_instance_of::<PyEllipsis>() {
                Ok(Entry::Ellipsis)
            } else if let Ok(s) = k.cast::<PySlice>() {
                let get = |name: &str| -> PyResult<Option<isize>> {
                    let v = s.getattr(name)?;
                    if v.is_none() {
                        Ok(None)
                    } else {
                        Ok(Some(v.extract()?))
                    }
                };
                let step = get("step")?.unwrap_or(1);
                if step == 0 {
                    return Err(value_error("slice step cannot be zero"));
                }
                let (lo, hi) = if step > 0 {
                    (0, isize::MAX)
                } else {
                    (isize::MAX, isize::MIN)
                };
                Ok(Entry::Slice(
                    get("start")?.unwrap_or(lo),
                    get("stop")?.unwrap_or(hi),
                    step,
                ))
            } else if k.is_instance_of::<pyo3::types::PyBool>() {
                Err(value_error("boolean indices are not yet supported"))
            } else if let Ok(i) = k.extract::<isize>() {
                Ok(Entry::Int(i))
            } else {
                Err(value_error(format!(
                    "Cannot index an array with {} (integer-array indexing is not yet supported)",
                    type_name(k)
                )))
            }
        })
        .collect()
}

/// `a[i]` along axis 0, as iteration yields.
pub fn index_axis0(a: &Array, i: isize) -> PyResult<Array> {
    let n = a.shape()[0] as isize;
    let j = if i < 0 { i + n } else { i };
    if j < 0 || j >= n {
        return Err(IndexError::new_err(format!(
            "index {i} is out of bounds for axis 0 with size {n}"
        )));
    }
    let nd = a.ndim();
    let mut start = vec![0isize; nd];
    let mut stop: Vec<isize> = a.shape().iter().map(|&n| n as isize).collect();
    start[0] = j;
    stop[0] = j + 1;
    guard(|| ops::slice(a, &start, &stop, &vec![1; nd])?.reshape(&a.shape()[1..]))
}

/// `a[key]` for basic keys: a strided slice, then a reshape that drops integer-indexed
/// axes and inserts `None` axes.
pub fn get(a: &Array, key: &Bound<'_, PyAny>) -> PyResult<Array> {
    /// Where each output axis comes from.
    enum Out {
        Axis(usize),
        New,
    }
    let es = entries(key)?;
    let consumed = es
        .iter()
        .filter(|e| matches!(e, Entry::Int(_) | Entry::Slice(..)))
        .count();
    if consumed > a.ndim() {
        return Err(value_error(format!(
            "Too many indices for array with {} dimensions.",
            a.ndim()
        )));
    }
    let (mut start, mut stop, mut step) = (vec![], vec![], vec![]);
    let mut out: Vec<Out> = vec![];
    let mut ax = 0usize;
    let mut seen_ellipsis = false;
    let full = |ax: usize, start: &mut Vec<isize>, stop: &mut Vec<isize>, step: &mut Vec<isize>| {
        start.push(0);
        stop.push(a.shape()[ax] as isize);
        step.push(1);
    };
    for e in &es {
        match *e {
            Entry::Int(i) => {
                let n = a.shape()[ax] as isize;
                let j = if i < 0 { i + n } else { i };
                if j < 0 || j >= n {
                    return Err(IndexError::new_err(format!(
                        "index {i} is out of bounds for axis {ax} with size {n}"
                    )));
                }
                start.push(j);
                stop.push(j + 1);
                step.push(1);
                ax += 1;
            }
            Entry::Slice(s, e, k) => {
                start.push(s);
                stop.push(e);
                step.push(k);
                out.push(Out::Axis(ax));
                ax += 1;
            }
            Entry::NewAxis => out.push(Out::New),
            Entry::Ellipsis => {
                if seen_ellipsis {
                    return Err(IndexError::new_err(
                        "An index can only have a single ellipsis ('...')",
                    ));
                }
                seen_ellipsis = true;
                for _ in 0..a.ndim() - consumed {
                    full(ax, &mut start, &mut stop, &mut step);
                    out.push(Out::Axis(ax));
                    ax += 1;
                }
            }
        }
    }
    while ax < a.ndim() {
        full(ax, &mut start, &mut stop, &mut step);
        out.push(Out::Axis(ax));
        ax += 1;
    }
    let sliced = guard(|| ops::slice(a, &start, &stop, &step))?;
    let shape: Vec<usize> = out
        .iter()
        .map(|o| match o {
            Out::Axis(i) => sliced.shape()[*i],
            Out::New => 1,
        })
        .collect();
    guard(|| sliced.reshape(&shape))
}

/// `a[key] = value`: returns the new array `a` is rebound to.
pub fn set(a: &Array, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Array> {
    let _ = (a, key, value);
    Err(value_error(
        "Item assignment is not available yet in this build of ferrox.",
    ))
}
