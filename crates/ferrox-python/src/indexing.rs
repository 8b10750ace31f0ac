//! `a[key]`, `a[key] = value`, and the key analysis `a.at[key]` shares.
//!
//! Keys: ints, slices, `None`, `...`, integer arrays (ferrox arrays, NumPy arrays, nested
//! lists) and tuples of these; for writes also a boolean mask (a bool array, list or
//! scalar as the whole key).
//!
//! Reads follow NumPy's rules, as MLX does: basic keys make a strided view; with integer
//! arrays, the arrays (and any ints) broadcast together (a `gather`) and their dimensions
//! go where the first of them stands when they are adjacent, else first (MLX, unlike
//! NumPy, counts an empty `...` between them as adjacent).
//!
//! Writes follow MLX 0.32. Keys without arrays broadcast the value to the shape `a[key]`
//! has (NumPy's rule) and become a `slice_update`. Keys with arrays become a `scatter`
//! whose update layout is MLX's: index dimensions (the arrays', those of the slices and
//! `None`s that are not plain slices after the last array, in MLX's order), then the plain
//! slices' extents, then the axes the key does not reach. That is NumPy's layout when the
//! arrays are adjacent and no int, `None` or `...` is involved; ints never move the array
//! dimensions, and with separated arrays every slice becomes an index dimension.
//!
//! Python ints are checked against their axis (`IndexError`); the values in index arrays
//! are data and are not (out of range, they read 0 and are skipped by writes).

use crate::array::PyArray;
use crate::convert;
use crate::errors::{guard, value_error};
use ferrox::dtype::Scalar;
use ferrox::ops;
use ferrox::{Array, Dtype};
use pyo3::exceptions::{PyIndexError as IndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyEllipsis, PyInt, PyList, PyNone, PySlice, PyTuple};

/// One element of an index tuple.
#[derive(Clone)]
enum Entry {
    /// A Python int (or an object with `__index__`, e.g. a NumPy integer).
    Int(i64),
    /// A slice's raw `start`, `stop`, `step`.
    Slice(Option<i64>, Option<i64>, Option<i64>),
    NewAxis,
    Ellipsis,
    /// An integer (or, before checking, any non-bool) index array.
    Array(Array),
    /// A boolean mask array (or list).
    Mask(Array),
    /// A Python or NumPy bool: a 0-d mask for writes.
    Bool(bool),
}

/// A key: its entries, and whether it was a single entry rather than a tuple (MLX treats
/// some single keys specially).
struct Key {
    entries: Vec<Entry>,
    single: bool,
}

fn cannot_index() -> PyErr {
    value_error("Cannot index mlx array using the given type.")
}

/// A slice bound: a Python int (saturated to `i64`) or `None`.
fn slice_bound(v: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    if v.is_none() {
        return Ok(None);
    }
    if !v.is_instance_of::<PyInt>() {
        return Err(value_error("Slice indices must be integers or None."));
    }
    Ok(Some(match v.extract::<i64>() {
        Ok(i) => i,
        Err(_) if v.gt(0)? => i64::MAX,
        Err(_) => i64::MIN,
    }))
}

fn is_numpy_array(obj: &Bound<'_, PyAny>) -> bool {
    !obj.is_instance_of::<PyArray>()
        && obj.hasattr("__array_interface__").unwrap_or(false)
        && obj.hasattr("ndim").unwrap_or(false)
}

/// An index array (or mask) converted from a ferrox array, list or NumPy array.
fn array_entry(a: Array) -> Entry {
    if a.dtype() == Dtype::Bool {
        Entry::Mask(a)
    } else {
        Entry::Array(a)
    }
}

fn entry(k: &Bound<'_, PyAny>) -> PyResult<Entry> {
    if k.is_instance_of::<PyNone>() {
        return Ok(Entry::NewAxis);
    }
    if k.is_instance_of::<PyEllipsis>() {
        return Ok(Entry::Ellipsis);
    }
    if let Ok(s) = k.cast::<PySlice>() {
        return Ok(Entry::Slice(
            slice_bound(&s.getattr("start")?)?,
            slice_bound(&s.getattr("stop")?)?,
            slice_bound(&s.getattr("step")?)?,
        ));
    }
    if k.is_instance_of::<PyBool>() {
        return Ok(Entry::Bool(k.extract::<bool>()?));
    }
    if k.is_instance_of::<PyInt>() {
        return match k.extract::<i64>() {
            Ok(i) => Ok(Entry::Int(i)),
            Err(_) => Err(IndexError::new_err(format!(
                "index {k} is out of bounds (it does not fit in 64 bits)"
            ))),
        };
    }
    if let Ok(a) = k.cast::<PyArray>() {
        return Ok(array_entry(a.borrow().inner.clone()));
    }
    if k.is_instance_of::<PyList>() || k.is_instance_of::<PyTuple>() {
        return Ok(array_entry(convert::to_array(k, None)?));
    }
    if is_numpy_array(k) {
        let a = convert::to_array(k, None)?;
        // A 0-d NumPy integer array is an int (MLX takes it through `__index__`).
        if a.ndim() == 0 && a.dtype().is_integer() {
            return Ok(Entry::Int(k.call_method0("__index__")?.extract()?));
        }
        return Ok(array_entry(a));
    }
    // NumPy scalars: bools are masks; integers are ints; anything else cannot index.
    if let Some(s) = convert::scalar_of(k)? {
        return match s {
            Scalar::Bool(b) => Ok(Entry::Bool(b)),
            Scalar::Int(i) => Ok(Entry::Int(i)),
            _ => Err(cannot_index()),
        };
    }
    if k.hasattr("__index__")? {
        if let Ok(i) = k.call_method0("__index__").and_then(|i| i.extract::<i64>()) {
            return Ok(Entry::Int(i));
        }
    }
    Err(cannot_index())
}

fn parse(key: &Bound<'_, PyAny>) -> PyResult<Key> {
    match key.cast::<PyTuple>() {
        Ok(t) => Ok(Key {
            entries: t.iter().map(|k| entry(&k)).collect::<PyResult<_>>()?,
            single: false,
        }),
        Err(_) => Ok(Key {
            entries: vec![entry(key)?],
            single: true,
        }),
    }
}

/// A shape as MLX prints it in messages: `(2,3)`.
fn shape_str(s: &[usize]) -> String {
    let items: Vec<String> = s.iter().map(|n| n.to_string()).collect();
    format!("({})", items.join(","))
}

fn broadcast_error(a: &[usize], b: &[usize]) -> PyErr {
    value_error(format!(
        "[broadcast_shapes] Shapes {} and {} cannot be broadcast.",
        shape_str(a),
        shape_str(b)
    ))
}

/// `broadcast_to` with MLX's message.
pub fn broadcast(v: &Array, shape: &[usize]) -> PyResult<Array> {
    let ok = ops::broadcast_shapes(&[v.shape(), shape]).is_ok_and(|s| s == shape);
    if !ok {
        return Err(broadcast_error(v.shape(), shape));
    }
    guard(|| ops::broadcast_to(v, shape))
}

fn zero_dim_error() -> PyErr {
    value_error("too many indices for array: array is 0-dimensional")
}

/// The entries with the ellipsis replaced by full slices and full slices appended for
/// the axes the key does not reach, so that every axis has one non-`None` entry.
fn expand(shape: &[usize], entries: Vec<Entry>) -> PyResult<Vec<Entry>> {
    let mut ellipsis = None;
    for (i, e) in entries.iter().enumerate() {
        if matches!(e, Entry::Ellipsis) {
            if ellipsis.is_some() {
                return Err(value_error(
                    "An index can only have a single ellipsis (...)",
                ));
            }
            ellipsis = Some(i);
        }
    }
    let consumed = entries
        .iter()
        .filter(|e| !matches!(e, Entry::NewAxis | Entry::Ellipsis))
        .count();
    if consumed > shape.len() {
        return Err(value_error(format!(
            "Too many indices for array with {} dimensions.",
            shape.len()
        )));
    }
    let full = || Entry::Slice(None, None, None);
    let missing = shape.len() - consumed;
    let mut out = Vec::with_capacity(entries.len() + missing);
    match ellipsis {
        Some(at) => {
            let mut rest = entries.into_iter();
            out.extend(rest.by_ref().take(at));
            rest.next();
            out.extend(std::iter::repeat_with(full).take(missing));
            out.extend(rest);
        }
        None => {
            out.extend(entries);
            out.extend(std::iter::repeat_with(full).take(missing));
        }
    }
    Ok(out)
}

/// Python's `slice.indices(n)`: the normalised start, stop and step, and the length.
fn slice_indices(
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
    n: usize,
) -> PyResult<(i64, i64, i64, usize)> {
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(value_error("slice step cannot be zero"));
    }
    let n = n as i64;
    let norm = |v: Option<i64>, default: i64| -> i64 {
        match v {
            None => default,
            Some(v) => {
                let v = if v < 0 { v.saturating_add(n) } else { v };
                if step > 0 {
                    v.clamp(0, n)
                } else {
                    v.clamp(-1, n - 1)
                }
            }
        }
    };
    let (s, e) = if step > 0 {
        (norm(start, 0), norm(stop, n))
    } else {
        (norm(start, n - 1), norm(stop, -1))
    };
    let len = if step > 0 {
        if e > s {
            (e - s - 1) / step + 1
        } else {
            0
        }
    } else if s > e {
        (s - e - 1) / (-step) + 1
    } else {
        0
    };
    Ok((s, e, step, len as usize))
}

/// A slice's bounds as `ops::slice` and `ops::slice_update` take them (Python's rules
/// applied there), with `None` made explicit.
fn raw_slice(start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> (isize, isize, isize) {
    let k = step.unwrap_or(1) as isize;
    let (lo, hi) = if k > 0 {
        (0, isize::MAX)
    } else {
        (isize::MAX, isize::MIN)
    };
    (
        start.map_or(lo, |v| v as isize),
        stop.map_or(hi, |v| v as isize),
        k,
    )
}

/// A Python int index checked against its axis, wrapped.
fn int_index(i: i64, ax: usize, n: usize) -> PyResult<i64> {
    let j = if i < 0 { i + n as i64 } else { i };
    if j < 0 || j >= n as i64 {
        return Err(IndexError::new_err(format!(
            "index {i} is out of bounds for axis {ax} with size {n}"
        )));
    }
    Ok(j)
}

fn check_index_array(op: &str, a: &Array) -> PyResult<()> {
    if !a.dtype().is_integer() {
        return Err(value_error(format!(
            "[{op}] Got indices with invalid dtype. Indices must be integral."
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- reads

/// `a[i]` along axis 0, as iteration yields.
pub fn index_axis0(a: &Array, i: isize) -> PyResult<Array> {
    let j = int_index(i as i64, 0, a.shape()[0])? as isize;
    let nd = a.ndim();
    let mut start = vec![0isize; nd];
    let mut stop: Vec<isize> = a.shape().iter().map(|&n| n as isize).collect();
    start[0] = j;
    stop[0] = j + 1;
    guard(|| ops::slice(a, &start, &stop, &vec![1; nd])?.reshape(&a.shape()[1..]))
}

/// A boolean mask read (beyond MLX, which refuses it): NumPy's rule that a mask must
/// match the axes it covers, from axis `first` of `a`.
fn check_mask(a: &Array, mask: &Array, first: usize) -> PyResult<()> {
    if mask.ndim() == 0 {
        return Err(value_error(
            "boolean indices are not yet supported for 0-d masks in reads",
        ));
    }
    for (i, &m) in mask.shape().iter().enumerate() {
        let ax = first + i;
        let n = a.shape().get(ax).copied();
        if n != Some(m) {
            return Err(IndexError::new_err(match n {
                Some(n) => format!(
                    "boolean index did not match indexed array along axis {ax}; size of axis \
                     is {n} but size of corresponding boolean axis is {m}"
                ),
                None => format!(
                    "too many indices for array: array is {}-dimensional, but the boolean \
                     index covers axes up to {ax}",
                    a.ndim()
                ),
            }));
        }
    }
    Ok(())
}

/// The entries with each boolean mask replaced by its `nonzero` index arrays (NumPy's
/// definition of a mask among other indices), each mask checked against its axes.
fn masks_as_indices(a: &Array, entries: Vec<Entry>) -> PyResult<Vec<Entry>> {
    let width = |e: &Entry| match e {
        Entry::Int(_) | Entry::Slice(..) | Entry::Array(_) => 1,
        Entry::Mask(m) => m.ndim(),
        _ => 0,
    };
    let named: usize = entries.iter().map(width).sum();
    let mut axis = 0;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        match e {
            Entry::Mask(m) => {
                check_mask(a, &m, axis)?;
                axis += m.ndim();
                out.extend(guard(|| ops::nonzero(&m))?.into_iter().map(Entry::Array));
            }
            Entry::Ellipsis => {
                axis += a.ndim().saturating_sub(named);
                out.push(e);
            }
            e => {
                axis += width(&e);
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// `a[key]`.
pub fn get(a: &Array, key: &Bound<'_, PyAny>) -> PyResult<Array> {
    let Key { entries, single } = parse(key)?;
    if entries.iter().any(|e| matches!(e, Entry::Bool(_))) {
        return Err(cannot_index());
    }
    if entries.iter().any(|e| matches!(e, Entry::Mask(_))) {
        if single {
            if let Entry::Mask(m) = &entries[0] {
                check_mask(a, m, 0)?;
                return guard(|| ops::boolean_mask(a, m));
            }
        }
        return get_entries(a, masks_as_indices(a, entries)?, false);
    }
    get_entries(a, entries, single)
}

fn get_entries(a: &Array, entries: Vec<Entry>, single: bool) -> PyResult<Array> {
    if single {
        match &entries[0] {
            Entry::NewAxis => return guard(|| ops::expand_dims(a, &[0])),
            Entry::Ellipsis => return Ok(a.clone()),
            Entry::Int(_) | Entry::Slice(..) | Entry::Array(_) if a.ndim() == 0 => {
                return Err(zero_dim_error())
            }
            Entry::Array(idx) => {
                check_index_array("gather", idx)?;
                return guard(|| ops::take(a, idx, Some(0)));
            }
            _ => {}
        }
    }
    let entries = expand(a.shape(), entries)?;
    // Per axis: the slice (start, stop, step) to take, full for advanced axes.
    let nd = a.ndim();
    let (mut start, mut stop, mut step) = (vec![0isize; nd], vec![0isize; nd], vec![1isize; nd]);
    // Ints keep a window of one (and, with arrays, index it at 0).
    let mut advanced: Vec<(usize, Array)> = vec![];
    let mut ax = 0;
    for e in &entries {
        let n = a.shape().get(ax).copied().unwrap_or(0);
        match e {
            Entry::NewAxis => continue,
            Entry::Slice(s, t, k) => {
                slice_indices(*s, *t, *k, n)?;
                (start[ax], stop[ax], step[ax]) = raw_slice(*s, *t, *k);
            }
            Entry::Int(i) => {
                let j = int_index(*i, ax, n)? as isize;
                (start[ax], stop[ax]) = (j, j + 1);
                advanced.push((ax, Array::scalar(0i64)));
            }
            Entry::Array(idx) => {
                check_index_array("gather", idx)?;
                advanced.push((ax, idx.clone()));
                stop[ax] = n as isize;
            }
            // Removed above; kept an error rather than a panic.
            Entry::Ellipsis | Entry::Mask(_) | Entry::Bool(_) => return Err(cannot_index()),
        }
        ax += 1;
    }
    let has_array = entries.iter().any(|e| matches!(e, Entry::Array(_)));
    if !has_array {
        // Basic indexing: a strided view, integer axes dropped and `None` axes added.
        let sliced = guard(|| ops::slice(a, &start, &stop, &step))?;
        let mut shape = vec![];
        let mut ax = 0;
        for e in &entries {
            match e {
                Entry::NewAxis => shape.push(1),
                Entry::Slice(..) => {
                    shape.push(sliced.shape()[ax]);
                    ax += 1;
                }
                _ => ax += 1,
            }
        }
        return guard(|| sliced.reshape(&shape));
    }
    let sliced = guard(|| ops::slice(a, &start, &stop, &step))?;
    let axes: Vec<isize> = advanced.iter().map(|(ax, _)| *ax as isize).collect();
    let idx: Vec<Array> = advanced.iter().map(|(_, i)| i.clone()).collect();
    let index_shape = index_broadcast_shape(&idx)?;
    let mut sizes = sliced.shape().to_vec();
    for (ax, _) in &advanced {
        sizes[*ax] = 1;
    }
    let gathered = guard(|| ops::gather(&sliced, &idx, &axes, &sizes))?;
    // Drop the unit axes the indexed axes left: index dims, then the sliced axes in order.
    let k = index_shape.len();
    let mut shape = index_shape.clone();
    shape.extend(
        (0..nd)
            .filter(|d| !advanced.iter().any(|(ax, _)| ax == d))
            .map(|d| sliced.shape()[d]),
    );
    let mut out = guard(|| gathered.reshape(&shape))?;
    // NumPy's placement: adjacent advanced entries put the index dims where the first of
    // them stands; separated ones (by a slice or `None`) put them first.
    let positions: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Entry::Int(_) | Entry::Array(_)))
        .map(|(i, _)| i)
        .collect();
    let adjacent = positions.windows(2).all(|w| w[1] == w[0] + 1);
    let first = positions[0];
    let slices_before = entries[..first]
        .iter()
        .filter(|e| matches!(e, Entry::Slice(..)))
        .count();
    if adjacent && slices_before > 0 {
        let n = out.ndim();
        let mut perm: Vec<isize> = (k..k + slices_before).map(|d| d as isize).collect();
        perm.extend((0..k).map(|d| d as isize));
        perm.extend((k + slices_before..n).map(|d| d as isize));
        out = guard(|| ops::transpose(&out, &perm))?;
    }
    let mut new_axes = vec![];
    let mut pos = if adjacent { 0 } else { k };
    for (i, e) in entries.iter().enumerate() {
        match e {
            Entry::Slice(..) => pos += 1,
            Entry::NewAxis => {
                new_axes.push(pos as isize);
                pos += 1;
            }
            _ if adjacent && i == first => pos += k,
            _ => {}
        }
    }
    if !new_axes.is_empty() {
        out = guard(|| ops::expand_dims(&out, &new_axes))?;
    }
    Ok(out)
}

// ---------------------------------------------------------------- values

/// The value of `a[key] = value` or `a.at[key].add(value)` as an array of `dtype`: MLX
/// converts Python scalars to the array's dtype (an int that does not fit raises), and
/// casts arrays.
pub fn value_array(value: &Bound<'_, PyAny>, dtype: Dtype) -> PyResult<Array> {
    if value.is_none() {
        return Err(PyTypeError::new_err(
            "Cannot use None as a value to assign to an array.",
        ));
    }
    if let Ok(a) = value.cast::<PyArray>() {
        let a = a.borrow().inner.clone();
        return guard(|| ops::astype(&a, dtype));
    }
    let python_scalar = value.is_instance_of::<PyBool>()
        || value.is_instance_of::<PyInt>()
        || value.is_instance_of::<pyo3::types::PyFloat>()
        || value.is_instance_of::<pyo3::types::PyComplex>();
    if python_scalar {
        if let Some(s) = convert::scalar_of(value)? {
            if let (Scalar::Int(v), true) = (s, dtype.is_integer()) {
                let info = guard(|| ferrox::dtype::iinfo(dtype))?;
                if (v as i128) < info.min || (v as i128) > info.max {
                    return Err(value_error(format!(
                        "Converting {v} to {dtype} would result in overflow."
                    )));
                }
            }
            return Ok(Array::scalar_of(s, dtype));
        }
    }
    let a = convert::to_array(value, None)?;
    guard(|| ops::astype(&a, dtype))
}

/// `v` without its leading unit axes (MLX drops them from assigned values).
pub fn strip_leading_ones(v: &Array) -> PyResult<Array> {
    let s = v.shape().iter().take_while(|&&n| n == 1).count();
    if s == 0 {
        return Ok(v.clone());
    }
    guard(|| v.reshape(&v.shape()[s..]))
}

// ---------------------------------------------------------------- writes

/// How a write (or an `.at` update) applies its value.
pub enum Update {
    /// The whole array becomes the value, broadcast to its shape.
    Whole(Array),
    /// The strided window `start`, `stop`, `step` (`ops::slice`'s arguments) becomes
    /// `update` (of the window's shape).
    Window {
        start: Vec<isize>,
        stop: Vec<isize>,
        step: Vec<isize>,
        update: Array,
    },
    /// `scatter(a, indices, updates, axes)` (or a reducing scatter).
    Scatter {
        indices: Vec<Array>,
        updates: Array,
        axes: Vec<isize>,
    },
}

/// How `a[key] = v` or `a.at[key]` applies the value `v` (already of `a`'s dtype). Keys
/// without index arrays take NumPy's layout (the value broadcasts to the shape `a[key]`
/// has) on a strided window; keys with index arrays take MLX's scatter layout. Boolean
/// masks are not handled here.
pub fn update_args(a: &Array, key: &Bound<'_, PyAny>, v: &Array) -> PyResult<Update> {
    let Key { entries, single } = parse(key)?;
    if entries
        .iter()
        .any(|e| matches!(e, Entry::Mask(_) | Entry::Bool(_)))
    {
        return Err(value_error("boolean indices are not yet supported"));
    }
    update_args_of(a, entries, single, v)
}

fn update_args_of(a: &Array, entries: Vec<Entry>, single: bool, v: &Array) -> PyResult<Update> {
    if single {
        match &entries[0] {
            // MLX broadcasts the value as it is (leading unit axes kept).
            Entry::NewAxis => return Ok(Update::Whole(broadcast(v, a.shape())?)),
            Entry::Int(_) | Entry::Slice(..) | Entry::Array(_) if a.ndim() == 0 => {
                return Err(zero_dim_error())
            }
            _ => {}
        }
    }
    if entries.iter().any(|e| matches!(e, Entry::Array(_))) {
        return scatter_args_of(a, entries, v, "scatter");
    }
    let entries = expand(a.shape(), entries)?;
    window_args(a, &entries, v)
}

/// MLX's scatter arguments for a key with index arrays.
fn scatter_args_of(a: &Array, entries: Vec<Entry>, v: &Array, op: &str) -> PyResult<Update> {
    // As MLX: an ellipsis becomes full slices, but axes past the key are left to the
    // update's trailing dimensions.
    let entries = if entries.iter().any(|e| matches!(e, Entry::Ellipsis)) {
        expand(a.shape(), entries)?
    } else {
        let consumed = entries
            .iter()
            .filter(|e| !matches!(e, Entry::NewAxis))
            .count();
        if consumed > a.ndim() {
            return Err(value_error(format!(
                "Too many indices for array with {} dimensions.",
                a.ndim()
            )));
        }
        entries
    };
    let up = strip_leading_ones(v)?;
    let nn = entries
        .iter()
        .filter(|e| !matches!(e, Entry::NewAxis))
        .count();
    if nn == 0 {
        return Ok(Update::Whole(broadcast(&up, a.shape())?));
    }
    // What the entries are: counts that fix where each gets its index dimensions.
    let (mut max_dim, mut arrays_first, mut num_none, mut num_slices) = (0usize, false, 0, 0);
    let (mut num_arrays, mut num_strided, mut num_post) = (0usize, 0i64, 0usize);
    let (mut have_array, mut have_non_array) = (false, false);
    for e in &entries {
        match e {
            Entry::NewAxis => {
                have_non_array = have_array;
                num_none += 1;
            }
            Entry::Slice(_, _, k) => {
                have_non_array = have_array;
                num_slices += 1;
                if k.unwrap_or(1) != 1 {
                    num_strided += 1;
                    num_post = 0;
                } else {
                    num_post += 1;
                }
            }
            Entry::Array(idx) => {
                check_index_array(op, idx)?;
                have_array = true;
                if have_non_array {
                    arrays_first = true;
                }
                max_dim = max_dim.max(idx.ndim());
                num_arrays += 1;
                num_post = 0;
            }
            _ => {}
        }
    }
    let idx_ndim = max_dim + num_none + num_slices - num_post;
    let bad_key = || value_error("Cannot index mlx array using the given type.");
    let mut indices: Vec<Array> = vec![];
    let mut slice_shapes: Vec<usize> = vec![];
    let mut update_shape: Vec<usize> = vec![];
    let (mut slice_num, mut array_num, mut ax) = (0usize, 0usize, 0usize);
    for e in &entries {
        match e {
            Entry::Slice(s, t, k) => {
                let n = a.shape()[ax];
                ax += 1;
                let (start, _, step, len) = slice_indices(*s, *t, *k, n)?;
                if array_num >= num_arrays && num_strided <= 0 && step == 1 {
                    // A plain slice after the last array: the window's corner only, its
                    // extent on the update.
                    indices.push(guard(|| {
                        Array::from_slice(&[start], &vec![1usize; idx_ndim])
                    })?);
                    slice_shapes.push(len);
                    update_shape.push(len);
                } else {
                    // Otherwise its positions, as one more index dimension. (With the
                    // arrays first, MLX makes every slice one, and those past the index
                    // dimensions it counted fit only with a single position.)
                    let loc = slice_num + if arrays_first { max_dim } else { 0 };
                    let pos: Vec<i64> = (0..len as i64).map(|i| start + i * step).collect();
                    let mut shape = vec![1usize; idx_ndim];
                    if loc < idx_ndim {
                        shape[loc] = len;
                    } else if len != 1 {
                        return Err(value_error(format!(
                            "[reshape] Cannot reshape array of size {len} into shape {}.",
                            shape_str(&shape)
                        )));
                    }
                    indices.push(guard(|| Array::from_slice(&pos, &shape))?);
                    slice_num += 1;
                    num_strided -= 1;
                    update_shape.push(1);
                }
            }
            Entry::NewAxis => slice_num += 1,
            Entry::Array(idx) => {
                ax += 1;
                let st = if arrays_first { 0 } else { slice_num } + max_dim - idx.ndim();
                if st + idx.ndim() > idx_ndim {
                    return Err(bad_key());
                }
                let mut shape = vec![1usize; idx_ndim];
                shape[st..st + idx.ndim()].copy_from_slice(idx.shape());
                indices.push(guard(|| idx.reshape(&shape))?);
                if !arrays_first {
                    array_num += 1;
                    if array_num == num_arrays {
                        slice_num += max_dim;
                    }
                }
                update_shape.push(1);
            }
            Entry::Int(i) => {
                let j = int_index(*i, ax, a.shape()[ax])?;
                ax += 1;
                indices.push(Array::scalar(j));
                update_shape.push(1);
            }
            // Removed above; kept an error rather than a panic.
            Entry::Ellipsis | Entry::Mask(_) | Entry::Bool(_) => return Err(cannot_index()),
        }
    }
    let index_shape = index_broadcast_shape(&indices)?;
    let indices = indices
        .iter()
        .map(|i| guard(|| ops::broadcast_to(i, &index_shape)))
        .collect::<PyResult<Vec<_>>>()?;
    let rest = &a.shape()[nn..];
    let mut target = index_shape.clone();
    target.extend(&slice_shapes);
    target.extend(rest);
    let up = broadcast(&up, &target)?;
    let mut shape = index_shape;
    shape.extend(&update_shape);
    shape.extend(rest);
    let updates = guard(|| up.reshape(&shape))?;
    Ok(Update::Scatter {
        indices,
        updates,
        axes: (0..nn as isize).collect(),
    })
}

/// The window and update of a key of ints, slices and `None` (expanded): NumPy's rules,
/// the value broadcasting to the shape `a[key]` has.
fn window_args(a: &Array, entries: &[Entry], v: &Array) -> PyResult<Update> {
    let nd = a.ndim();
    let (mut start, mut stop, mut step) = (vec![0isize; nd], vec![0isize; nd], vec![1isize; nd]);
    let mut window = vec![0usize; nd];
    let mut ax = 0;
    for e in entries {
        match e {
            Entry::Slice(s, t, k) => {
                window[ax] = slice_indices(*s, *t, *k, a.shape()[ax])?.3;
                (start[ax], stop[ax], step[ax]) = raw_slice(*s, *t, *k);
                ax += 1;
            }
            Entry::Int(i) => {
                let j = int_index(*i, ax, a.shape()[ax])? as isize;
                start[ax] = j;
                stop[ax] = j + 1;
                window[ax] = 1;
                ax += 1;
            }
            _ => {}
        }
    }
    // Line the value's axes up with the window's from the right: a `None` consumes a
    // value axis (which must be 1), an int none.
    let up = strip_leading_ones(v)?;
    let vs = up.shape();
    let mut j = vs.len();
    let mut aligned = vec![1usize; nd];
    let mut ax = nd;
    let getitem_shape = || -> Vec<usize> {
        let mut g = vec![];
        let mut ax = 0;
        for e in entries {
            match e {
                Entry::NewAxis => g.push(1),
                Entry::Slice(..) => {
                    g.push(window[ax]);
                    ax += 1;
                }
                _ => ax += 1,
            }
        }
        g
    };
    for e in entries.iter().rev() {
        match e {
            Entry::Slice(..) => {
                ax -= 1;
                if j > 0 {
                    j -= 1;
                    aligned[ax] = vs[j];
                }
            }
            Entry::Int(_) => ax -= 1,
            Entry::NewAxis => {
                if j > 0 {
                    j -= 1;
                    if vs[j] != 1 {
                        return Err(broadcast_error(vs, &getitem_shape()));
                    }
                }
            }
            _ => {}
        }
    }
    if j > 0 {
        return Err(broadcast_error(vs, &getitem_shape()));
    }
    let up = guard(|| up.reshape(&aligned))?;
    let ok = ops::broadcast_shapes(&[&aligned, &window]).is_ok_and(|s| s == window);
    if !ok {
        return Err(broadcast_error(vs, &getitem_shape()));
    }
    let update = guard(|| ops::broadcast_to(&up, &window))?;
    Ok(Update::Window {
        start,
        stop,
        step,
        update,
    })
}

/// `a[mask] = v`: MLX's masked write. The mask has the shape of `a`'s leading axes; a
/// value with at most as many axes as the rest broadcasts to every selected sub-array,
/// and one with one more axis gives them in turn (row `k` to the `k`-th selected).
fn set_masked(a: &Array, mask: &Array, v: &Array) -> PyResult<Array> {
    let k = mask.ndim();
    if k > a.ndim() || mask.shape() != &a.shape()[..k] {
        return Err(value_error(format!(
            "[masked_scatter] The boolean mask should have the same shape as the beginning \
             of the indexed array but the mask has shape {} and the array has shape {}",
            shape_str(mask.shape()),
            shape_str(a.shape())
        )));
    }
    let rest = &a.shape()[k..];
    let r = rest.len();
    let mut mshape = mask.shape().to_vec();
    mshape.extend(std::iter::repeat_n(1, r));
    let m = guard(|| mask.reshape(&mshape))?;
    if v.ndim() <= r {
        let vb = broadcast(v, rest)?;
        return guard(|| ops::where_(&m, &vb, a));
    }
    let fits = v.ndim() == r + 1
        && ops::broadcast_shapes(&[&v.shape()[1..], rest]).is_ok_and(|s| s == rest);
    if !fits {
        return Err(value_error(format!(
            "[masked_scatter] Value array shape must be broadcastable with the last {r} \
             dimensions of the input."
        )));
    }
    let mut rows = vec![v.shape()[0]];
    rows.extend(rest);
    let vb = guard(|| ops::broadcast_to(v, &rows))?;
    guard(|| ops::masked_scatter(a, &m, &vb))
}

/// `a[key] = value`: returns the new array `a` is rebound to.
pub fn set(a: &Array, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Array> {
    let Key { entries, single } = parse(key)?;
    let v = value_array(value, a.dtype())?;
    if single {
        match &entries[0] {
            Entry::Mask(mask) => return set_masked(a, mask, &v),
            Entry::Bool(b) => return set_masked(a, &Array::scalar(*b), &v),
            _ => {}
        }
    }
    if entries
        .iter()
        .any(|e| matches!(e, Entry::Mask(_) | Entry::Bool(_)))
    {
        return Err(value_error("boolean indices are not yet supported"));
    }
    match update_args_of(a, entries, single, &v)? {
        Update::Whole(w) => Ok(w),
        Update::Window {
            start,
            stop,
            step,
            update,
        } => guard(|| ops::slice_update(a, &update, &start, &stop, &step)),
        Update::Scatter {
            indices,
            updates,
            axes,
        } => guard(|| ops::scatter(a, &indices, &updates, &axes)),
    }
}

/// The shape the index arrays broadcast to, or MLX's ValueError naming their shapes.
fn index_broadcast_shape(indices: &[Array]) -> PyResult<Vec<usize>> {
    let shapes: Vec<&[usize]> = indices.iter().map(|i| i.shape()).collect();
    ops::broadcast_shapes(&shapes).map_err(|_| {
        let s: Vec<String> = shapes.iter().map(|s| shape_str(s)).collect();
        value_error(format!(
            "[broadcast_shapes] Shapes {} cannot be broadcast.",
            s.join(" and ")
        ))
    })
}
