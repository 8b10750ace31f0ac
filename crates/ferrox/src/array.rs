//! The lazy [`Array`] handle and the graph node behind it.
//!
//! An `Array` is a cheap, thread-safe handle (`Arc`) to a node that knows its shape and
//! dtype and holds either data or the pending [`Op`] that will make it. Ops that produce
//! several outputs (e.g. `divmod`) give sibling nodes that share one `Op`. Once evaluated a
//! node keeps its data and drops its op, and with it its inputs, so a long loop does not
//! hold its history.
//!
//! ```
//! use ferrox::{Array, Dtype};
//! let a = Array::from_slice(&[1i32, 2, 3, 4], &[2, 2])?;
//! assert_eq!((a.shape(), a.dtype(), a.size()), (&[2usize, 2][..], Dtype::Int32, 4));
//! let b = (&a * 2)?;                 // lazy
//! assert!(!b.is_evaluated());
//! assert_eq!(b.to_vec::<i64>()?, vec![2, 4, 6, 8]);
//! assert_eq!(ferrox::Array::scalar(2.5f32).item::<f64>()?, 2.5);
//! # Ok::<(), ferrox::Error>(())
//! ```

use crate::device::Stream;
use crate::dtype::{Dtype, Element};
use crate::memory::{allocator, Buffer};
use crate::primitive::Primitive;
use crate::{scheduler, Error, Result};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// A shape: the extent of each axis.
pub type Shape = Vec<usize>;

/// The memory behind an evaluated array: a buffer plus an element offset and element
/// strides, so that slices, transposes and broadcasts are views of their input's buffer.
#[derive(Clone, Debug)]
pub struct Data {
    pub buffer: Arc<Buffer>,
    /// Offset of element 0, in elements.
    pub offset: usize,
    /// Step between neighbours along each axis, in elements (0 for a broadcast axis).
    pub strides: Vec<isize>,
}

/// Row-major strides of a shape, in elements.
pub fn row_major_strides(shape: &[usize]) -> Vec<isize> {
    let mut strides = vec![0isize; shape.len()];
    let mut acc = 1isize;
    for (s, &n) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc *= n.max(1) as isize;
    }
    strides
}

impl Data {
    /// Whether the elements lie densely in row-major order (size-1 axes ignored).
    pub fn is_row_contiguous(&self, shape: &[usize]) -> bool {
        let mut expected = 1isize;
        for (&n, &s) in shape.iter().zip(&self.strides).rev() {
            if n == 1 {
                continue;
            }
            if s != expected {
                return false;
            }
            expected *= n as isize;
        }
        true
    }

    /// Fresh row-major data for `shape` of `dtype`, its contents unspecified.
    pub fn alloc(shape: &[usize], dtype: Dtype) -> Result<Data> {
        let bytes = crate::shape::checked_size(shape)?
            .checked_mul(dtype.size())
            .ok_or_else(|| {
                Error::Memory(format!("[malloc] shape {shape:?} of {dtype} is too large."))
            })?;
        Ok(Data {
            buffer: allocator().alloc(bytes)?,
            offset: 0,
            strides: row_major_strides(shape),
        })
    }

    /// Pointer to element 0 as `T`, which must be the element type (the offset counts
    /// elements of `T`). For untyped access use [`Data::byte_ptr`].
    pub fn ptr<T>(&self) -> *mut T {
        // SAFETY: offset lies inside the buffer for any non-empty view.
        unsafe { (self.buffer.as_ptr() as *mut T).add(self.offset) }
    }

    /// Pointer to element 0 of a view of elements of `itemsize` bytes.
    pub fn byte_ptr(&self, itemsize: usize) -> *mut u8 {
        // SAFETY: offset lies inside the buffer for any non-empty view.
        unsafe { self.buffer.as_ptr().add(self.offset * itemsize) }
    }

    /// The elements as a slice, for row-contiguous data of `len` elements.
    ///
    /// # Safety
    /// The data must be row-contiguous with `len` elements of type `T`.
    pub unsafe fn as_slice<T>(&self, len: usize) -> &[T] {
        std::slice::from_raw_parts(self.ptr::<T>(), len)
    }

    /// The elements as a mutable slice of a buffer this kernel is filling.
    ///
    /// # Safety
    /// As [`Data::as_slice`]; the caller must be the only writer.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice<T>(&self, len: usize) -> &mut [T] {
        std::slice::from_raw_parts_mut(self.ptr::<T>(), len)
    }
}

/// A primitive applied to inputs, waiting to be evaluated. Shared by its output nodes.
pub struct Op {
    pub primitive: Arc<dyn Primitive>,
    pub inputs: Vec<Array>,
    pub stream: Stream,
    /// Shape and dtype of each output.
    pub outputs: Vec<(Shape, Dtype)>,
    /// The output nodes, filled once they exist. Weak, so an unused sibling is freed.
    pub(crate) nodes: OnceLock<Vec<Weak<Node>>>,
    /// Held while a thread runs this op, so that concurrent evals run it once.
    pub(crate) running: Mutex<()>,
}

impl Drop for Op {
    /// Drops a chain of pending ops without recursion: a graph of 10^6 unevaluated ops
    /// would otherwise overflow the stack when its last handle goes.
    fn drop(&mut self) {
        let mut stack = std::mem::take(&mut self.inputs);
        while let Some(a) = stack.pop() {
            if let Ok(node) = Arc::try_unwrap(a.0) {
                if let Some((op, _)) = node.traced.into_inner() {
                    if let Ok(mut op) = Arc::try_unwrap(op) {
                        stack.append(&mut op.inputs);
                    }
                }
                let state = node.state.into_inner().unwrap_or_else(|e| e.into_inner());
                if let State::Pending { op, .. } = state {
                    if let Ok(mut op) = Arc::try_unwrap(op) {
                        stack.append(&mut op.inputs);
                    }
                }
            }
        }
    }
}

pub(crate) enum State {
    Pending {
        op: Arc<Op>,
        /// Which of the op's outputs this node is.
        index: usize,
    },
    Ready(Data),
}

/// A node of the graph.
pub struct Node {
    shape: Shape,
    dtype: Dtype,
    pub(crate) state: Mutex<State>,
    /// Whether the node was built from an array a transform is tracing (see
    /// `transforms`): evaluating such a node inside the traced function keeps its op in
    /// `traced`, so that the transform can still walk the graph through it.
    pub(crate) tracer: bool,
    /// The op of an evaluated tracer node, and which of its outputs the node is.
    pub(crate) traced: OnceLock<(Arc<Op>, usize)>,
}

impl Node {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A lazy n-dimensional array. Cloning is cheap and shares the node.
#[derive(Clone)]
pub struct Array(pub(crate) Arc<Node>);

impl Array {
    /// An evaluated array from data.
    pub fn from_data(shape: Shape, dtype: Dtype, data: Data) -> Array {
        Array(Arc::new(Node {
            shape,
            dtype,
            state: Mutex::new(State::Ready(data)),
            tracer: false,
            traced: OnceLock::new(),
        }))
    }

    /// A lazy array: `primitive` applied to `inputs`, giving one output.
    pub fn from_op(
        shape: Shape,
        dtype: Dtype,
        primitive: impl Primitive + 'static,
        inputs: Vec<Array>,
        stream: Stream,
    ) -> Array {
        let tracer = inputs.iter().any(|a| a.0.tracer);
        Array::build_one(shape, dtype, Arc::new(primitive), inputs, stream, tracer)
    }

    /// The one-output case built directly: it is every op but a few, and the general
    /// path's intermediate vectors are a measurable part of building a node.
    fn build_one(
        shape: Shape,
        dtype: Dtype,
        primitive: Arc<dyn Primitive>,
        inputs: Vec<Array>,
        stream: Stream,
        tracer: bool,
    ) -> Array {
        let op = Arc::new(Op {
            primitive,
            inputs,
            stream,
            outputs: vec![(shape.clone(), dtype)],
            nodes: OnceLock::new(),
            running: Mutex::new(()),
        });
        let node = Arc::new(Node {
            shape,
            dtype,
            state: Mutex::new(State::Pending {
                op: op.clone(),
                index: 0,
            }),
            tracer,
            traced: OnceLock::new(),
        });
        let _ = op.nodes.set(vec![Arc::downgrade(&node)]);
        Array(node)
    }

    /// Lazy arrays, one per output, of an op whose primitive is shared with other ops
    /// (a compiled program replays its primitives this way).
    pub(crate) fn from_shared_op(
        outputs: Vec<(Shape, Dtype)>,
        primitive: Arc<dyn Primitive>,
        inputs: Vec<Array>,
        stream: Stream,
    ) -> Vec<Array> {
        let tracer = inputs.iter().any(|a| a.0.tracer);
        if outputs.len() == 1 {
            let (shape, dtype) = outputs.into_iter().next().expect("one output");
            return vec![Array::build_one(
                shape, dtype, primitive, inputs, stream, tracer,
            )];
        }
        Array::build_multi(outputs, primitive, inputs, stream, tracer)
    }

    /// Lazy sibling arrays sharing one op with several outputs.
    pub fn from_multi_op(
        outputs: Vec<(Shape, Dtype)>,
        primitive: impl Primitive + 'static,
        inputs: Vec<Array>,
        stream: Stream,
    ) -> Vec<Array> {
        let tracer = inputs.iter().any(|a| a.0.tracer);
        Array::build_multi(outputs, Arc::new(primitive), inputs, stream, tracer)
    }

    fn build_multi(
        outputs: Vec<(Shape, Dtype)>,
        primitive: Arc<dyn Primitive>,
        inputs: Vec<Array>,
        stream: Stream,
        tracer: bool,
    ) -> Vec<Array> {
        let op = Arc::new(Op {
            primitive,
            inputs,
            stream,
            outputs: outputs.clone(),
            nodes: OnceLock::new(),
            running: Mutex::new(()),
        });
        let arrays: Vec<Array> = outputs
            .into_iter()
            .enumerate()
            .map(|(index, (shape, dtype))| {
                Array(Arc::new(Node {
                    shape,
                    dtype,
                    state: Mutex::new(State::Pending {
                        op: op.clone(),
                        index,
                    }),
                    tracer,
                    traced: OnceLock::new(),
                }))
            })
            .collect();
        let _ = op
            .nodes
            .set(arrays.iter().map(|a| Arc::downgrade(&a.0)).collect());
        arrays
    }

    /// An evaluated array holding a copy of `values` in the given shape.
    pub fn from_slice<T: Element>(values: &[T], shape: &[usize]) -> Result<Array> {
        let n: usize = shape.iter().product();
        if n != values.len() {
            return Err(Error::Invalid(format!(
                "[array] {} values do not fill shape {shape:?} ({n} elements)",
                values.len()
            )));
        }
        let data = Data::alloc(shape, T::DTYPE)?;
        // SAFETY: a fresh buffer of n elements of T.
        unsafe { data.as_mut_slice::<T>(n).copy_from_slice(values) };
        Ok(Array::from_data(shape.to_vec(), T::DTYPE, data))
    }

    /// An evaluated array of `dtype` whose elements are `bytes` (row-major, native
    /// byte order): what [`Array::to_bytes`] gives back.
    pub fn from_bytes(bytes: &[u8], shape: &[usize], dtype: Dtype) -> Result<Array> {
        let n = crate::shape::checked_size(shape)?;
        if n.checked_mul(dtype.size()) != Some(bytes.len()) {
            return Err(Error::Invalid(format!(
                "[array] {} bytes do not fill shape {shape:?} of {dtype}",
                bytes.len()
            )));
        }
        let data = Data::alloc(shape, dtype)?;
        // SAFETY: a fresh buffer of exactly bytes.len() bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), data.byte_ptr(dtype.size()), bytes.len())
        };
        Ok(Array::from_data(shape.to_vec(), dtype, data))
    }

    /// The elements' bytes in row-major order (evaluates the array).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let c = crate::ops::contiguous(self)?;
        let d = c.data()?;
        // SAFETY: a row-contiguous view of `nbytes` bytes.
        Ok(
            unsafe { std::slice::from_raw_parts(d.byte_ptr(self.itemsize()), self.nbytes()) }
                .to_vec(),
        )
    }

    /// A 1-D array of `values`.
    pub fn from_vec<T: Element>(values: Vec<T>) -> Result<Array> {
        Self::from_slice(&values, &[values.len()])
    }

    /// A 0-d array holding `value`.
    pub fn scalar<T: Element>(value: T) -> Array {
        Self::from_slice(&[value], &[]).expect("a scalar always fits")
    }

    /// A 0-d array of `dtype` holding `value`, converted with `astype`'s rules.
    pub fn scalar_of(value: crate::dtype::Scalar, dtype: Dtype) -> Array {
        use crate::dtype::{Scalar, Wide};
        let w = match value {
            Scalar::Bool(b) => Wide::Bool(b),
            Scalar::Int(v) => Wide::Int(v),
            Scalar::Float(v) => Wide::Float(v),
            Scalar::Complex(re, im) => Wide::Complex(re, im),
        };
        crate::dispatch_dtype!(dtype, T => Self::scalar(T::from_wide(w)))
    }

    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    pub fn dtype(&self) -> Dtype {
        self.0.dtype
    }
    pub fn ndim(&self) -> usize {
        self.0.shape.len()
    }
    /// Number of elements.
    pub fn size(&self) -> usize {
        self.0.shape.iter().product()
    }
    pub fn itemsize(&self) -> usize {
        self.0.dtype.size()
    }
    pub fn nbytes(&self) -> usize {
        self.size() * self.itemsize()
    }
    /// Extent of axis `axis` (negative counts from the end).
    pub fn dim(&self, axis: isize) -> Result<usize> {
        let ax = crate::shape::normalize_axis(axis, self.ndim())?;
        Ok(self.0.shape[ax])
    }

    /// Whether the data is computed.
    pub fn is_evaluated(&self) -> bool {
        matches!(*self.0.lock(), State::Ready(_))
    }

    /// Computes this array (and what it depends on).
    pub fn eval(&self) -> Result<()> {
        scheduler::eval(std::slice::from_ref(self))
    }

    /// Evaluates and returns the data view.
    pub fn data(&self) -> Result<Data> {
        // Kernels call this on inputs that are evaluated already: skip the scheduler.
        if let State::Ready(d) = &*self.0.lock() {
            return Ok(d.clone());
        }
        self.eval()?;
        match &*self.0.lock() {
            State::Ready(d) => Ok(d.clone()),
            State::Pending { .. } => Err(Error::Runtime("array was not evaluated".into())),
        }
    }

    /// The data if already evaluated.
    /// Whether this node is evaluated and its buffer has no other holder (no view, no
    /// export, no other node): the scheduler's test for donating it.
    pub(crate) fn owns_buffer_alone(&self) -> bool {
        match &*self.0.lock() {
            State::Ready(d) => Arc::strong_count(&d.buffer) == 1,
            State::Pending { .. } => false,
        }
    }

    pub(crate) fn ready_data(&self) -> Option<Data> {
        match &*self.0.lock() {
            State::Ready(d) => Some(d.clone()),
            State::Pending { .. } => None,
        }
    }

    /// The op that makes this node and which of its outputs the node is: the pending
    /// op, or the op an evaluated tracer node kept. `None` for data with no history.
    pub(crate) fn graph_op(&self) -> Option<(Arc<Op>, usize)> {
        match &*self.0.lock() {
            State::Pending { op, index } => Some((op.clone(), *index)),
            State::Ready(_) => self.0.traced.get().cloned(),
        }
    }

    /// Whether a transform traces this array (see `transforms`).
    pub fn is_tracer(&self) -> bool {
        self.0.tracer
    }

    /// `primitive` applied to this array alone, as a node marked as traced: a transform
    /// gives the traced function such a node for each argument, so that it can tell
    /// the argument from the caller's array and keep its graph through `eval`.
    pub(crate) fn new_tracer(&self, primitive: impl Primitive + 'static) -> Array {
        Array::build_one(
            self.shape().to_vec(),
            self.dtype(),
            Arc::new(primitive),
            vec![self.clone()],
            crate::device::current_stream(),
            true,
        )
    }

    /// A traced node of `shape` and `dtype` made by `primitive` from no inputs (vmap's
    /// stand-in for a batched argument).
    pub(crate) fn placeholder(
        shape: Shape,
        dtype: Dtype,
        primitive: impl Primitive + 'static,
    ) -> Array {
        let stream = crate::device::current_stream();
        Array::build_one(shape, dtype, Arc::new(primitive), vec![], stream, true)
    }

    pub(crate) fn pending_op(&self) -> Option<Arc<Op>> {
        match &*self.0.lock() {
            State::Pending { op, .. } => Some(op.clone()),
            State::Ready(_) => None,
        }
    }

    /// Evaluates and copies the elements out in row-major order, converting to `T`
    /// with `astype`'s rules.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        let data = self.data()?;
        let mut out = Vec::with_capacity(self.size());
        crate::dispatch_dtype!(self.dtype(), S => {
            crate::backend::cpu::strided::for_each_offset(self.shape(), &data.strides, |off| {
                // SAFETY: offsets come from the view's own shape and strides.
                let v: S = unsafe { *data.ptr::<S>().offset(off) };
                out.push(v.cast::<T>());
            });
        });
        Ok(out)
    }

    /// The single element of a size-1 array.
    pub fn item<T: Element>(&self) -> Result<T> {
        if self.size() != 1 {
            return Err(Error::Invalid(format!(
                "[item] only one element arrays can be converted to scalars, got shape {:?}",
                self.shape()
            )));
        }
        Ok(self.to_vec::<T>()?[0])
    }

    /// Whether two handles share one node.
    pub fn same_node(&self, other: &Array) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// A stable id of the node (its address), for hashing and debugging.
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

impl std::fmt::Debug for Array {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Array(shape={:?}, dtype={})", self.shape(), self.dtype())
    }
}
