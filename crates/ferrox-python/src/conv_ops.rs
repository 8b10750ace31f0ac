//! mlx.core's convolutions: `conv1d`, `conv2d`, `conv3d`, `conv_general`,
//! `conv_transpose1d/2d/3d` and `convolve`. Per-axis parameters are an int (every axis)
//! or a sequence (one per axis), as in MLX.

use crate::array::PyArray;
use crate::convert::array_arg;
use crate::device::on_stream;
use crate::errors::value_error;
use ferrox::ops;
use pyo3::prelude::*;
use pyo3::types::PyInt;

type Arg<'a, 'py> = &'a Bound<'py, PyAny>;
type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

/// An int or a sequence of ints.
fn ints(obj: Arg) -> PyResult<Vec<i64>> {
    if obj.is_instance_of::<PyInt>() {
        return Ok(vec![obj.extract()?]);
    }
    obj.extract()
}

/// Positive per-axis values (strides, dilations); MLX's message for the others.
fn positive(obj: Arg, what: &str, plural: &str) -> PyResult<Vec<usize>> {
    let v = ints(obj)?;
    if v.iter().any(|&x| x < 1) {
        let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        return Err(value_error(format!(
            "[conv] {what} sizes must be positive. Got {plural} ({}).",
            items.join(",")
        )));
    }
    Ok(v.into_iter().map(|x| x as usize).collect())
}

fn signed(obj: Arg) -> PyResult<Vec<isize>> {
    Ok(ints(obj)?.into_iter().map(|x| x as isize).collect())
}

fn groups_arg(groups: i64) -> PyResult<usize> {
    usize::try_from(groups)
        .ok()
        .filter(|&g| g > 0)
        .ok_or_else(|| {
            value_error(format!(
                "[conv] The number of groups must be positive. Got {groups}."
            ))
        })
}

/// A per-axis positive argument: 1 on every axis when not given.
fn positive_or_one(obj: Opt, (what, plural): (&str, &str)) -> PyResult<Vec<usize>> {
    obj.map_or(Ok(vec![1]), |o| positive(o, what, plural))
}

/// A per-axis signed argument: 0 on every axis when not given.
fn signed_or_zero(obj: Opt) -> PyResult<Vec<isize>> {
    obj.map_or(Ok(vec![0]), signed)
}

/// How MLX's messages name the strides: conv_transpose's dilate its input.
const STRIDES: (&str, &str) = ("Stride", "strides");
const INPUT_DILATION: (&str, &str) = ("Input dilation", "input dilation");
const KERNEL_DILATION: (&str, &str) = ("Kernel dilation", "kernel dilation");

/// The arguments of every convolution binding, parsed by one function so that each
/// binding gets the same defaults, messages and order of checks (the first bad argument,
/// in signature order, is the one reported).
struct ConvArgs {
    x: ferrox::Array,
    w: ferrox::Array,
    stride: Vec<usize>,
    /// Padding before and after each axis (the same unless `conv_general` got a pair).
    low: Vec<isize>,
    high: Vec<isize>,
    dilation: Vec<usize>,
    input_dilation: Vec<usize>,
    output_padding: Vec<isize>,
    groups: usize,
}

/// Which of the optional forms a binding takes (the others stay at their defaults).
#[derive(Default)]
struct Forms<'a, 'py> {
    /// How its strides are named in errors.
    strides: Option<(&'static str, &'static str)>,
    /// `conv_general`: padding may be a pair (low, high) of sequences.
    padding_pair: bool,
    input_dilation: Opt<'a, 'py>,
    output_padding: Opt<'a, 'py>,
}

impl ConvArgs {
    fn parse(
        input: Arg,
        weight: Arg,
        stride: Opt,
        padding: Opt,
        dilation: Opt,
        groups: i64,
        forms: Forms,
    ) -> PyResult<ConvArgs> {
        let (x, w) = (array_arg(input)?, array_arg(weight)?);
        let stride = positive_or_one(stride, forms.strides.unwrap_or(STRIDES))?;
        let (low, high) = match padding {
            // An int, a sequence of ints, or (conv_general) a pair of sequences.
            Some(p) if forms.padding_pair && !p.is_instance_of::<PyInt>() => {
                match p.extract::<(Bound<PyAny>, Bound<PyAny>)>() {
                    Ok((a, b)) if !a.is_instance_of::<PyInt>() => (signed(&a)?, signed(&b)?),
                    _ => (signed(p)?, signed(p)?),
                }
            }
            p => {
                let v = signed_or_zero(p)?;
                (v.clone(), v)
            }
        };
        let dilation = positive_or_one(dilation, KERNEL_DILATION)?;
        let input_dilation = positive_or_one(forms.input_dilation, INPUT_DILATION)?;
        let output_padding = signed_or_zero(forms.output_padding)?;
        let groups = groups_arg(groups)?;
        Ok(ConvArgs {
            x,
            w,
            stride,
            low,
            high,
            dilation,
            input_dilation,
            output_padding,
            groups,
        })
    }
}

/// The leading `n` values of a per-axis list (an int stands for all `n`).
fn fixed<T: Copy, const N: usize>(v: &[T]) -> Option<[T; N]> {
    match v.len() {
        1 => Some([v[0]; N]),
        n if n == N => v.try_into().ok(),
        _ => None,
    }
}

macro_rules! conv_nd {
    ($name:ident, $n:literal, $rust:path) => {
        #[pyfunction]
        #[pyo3(signature = (input, weight, /, stride = None, padding = None, dilation = None, groups = 1, *, stream = None))]
        #[allow(clippy::too_many_arguments)]
        pub fn $name(
            input: Arg,
            weight: Arg,
            stride: Opt,
            padding: Opt,
            dilation: Opt,
            groups: i64,
            stream: Opt,
        ) -> PyResult<PyArray> {
            let a = ConvArgs::parse(input, weight, stride, padding, dilation, groups, Forms::default())?;
            let (x, w, p) = (&a.x, &a.w, &a.low);
            on_stream(stream, || match (fixed::<_, $n>(&a.stride), fixed::<_, $n>(p), fixed::<_, $n>(&a.dilation)) {
                (Some(s), Some(p), Some(d)) => $rust(x, w, s.into(), p.into(), d.into(), a.groups),
                // Let the general form name the mismatch.
                _ => ops::conv_general(x, w, &a.stride, p, p, &a.dilation, &[1], a.groups, false),
            })
            .map(PyArray::from)
        }
    };
}

/// `conv1d`'s Rust form takes scalars; the array forms take arrays.
fn conv1d_rust(
    x: &ferrox::Array,
    w: &ferrox::Array,
    s: [usize; 1],
    p: [isize; 1],
    d: [usize; 1],
    groups: usize,
) -> ferrox::Result<ferrox::Array> {
    ops::conv1d(x, w, s[0], p[0], d[0], groups)
}

conv_nd!(conv1d, 1, conv1d_rust);
conv_nd!(conv2d, 2, ops::conv2d);
conv_nd!(conv3d, 3, ops::conv3d);

macro_rules! conv_transpose_nd {
    ($name:ident) => {
        #[pyfunction]
        #[pyo3(signature = (input, weight, /, stride = None, padding = None, dilation = None, output_padding = None, groups = 1, *, stream = None))]
        #[allow(clippy::too_many_arguments)]
        pub fn $name(
            input: Arg,
            weight: Arg,
            stride: Opt,
            padding: Opt,
            dilation: Opt,
            output_padding: Opt,
            groups: i64,
            stream: Opt,
        ) -> PyResult<PyArray> {
            let forms = Forms {
                strides: Some(INPUT_DILATION),
                output_padding,
                ..Forms::default()
            };
            let a = ConvArgs::parse(input, weight, stride, padding, dilation, groups, forms)?;
            on_stream(stream, || {
                ops::conv_transpose_general(&a.x, &a.w, &a.stride, &a.low, &a.dilation, &a.output_padding, a.groups)
            })
            .map(PyArray::from)
        }
    };
}

conv_transpose_nd!(conv_transpose1d);
conv_transpose_nd!(conv_transpose2d);
conv_transpose_nd!(conv_transpose3d);

#[pyfunction]
#[pyo3(signature = (input, weight, /, stride = None, padding = None, kernel_dilation = None, input_dilation = None, groups = 1, flip = false, *, stream = None))]
#[allow(clippy::too_many_arguments)]
pub fn conv_general(
    input: Arg,
    weight: Arg,
    stride: Opt,
    padding: Opt,
    kernel_dilation: Opt,
    input_dilation: Opt,
    groups: i64,
    flip: bool,
    stream: Opt,
) -> PyResult<PyArray> {
    let forms = Forms {
        padding_pair: true,
        input_dilation,
        ..Forms::default()
    };
    let a = ConvArgs::parse(
        input,
        weight,
        stride,
        padding,
        kernel_dilation,
        groups,
        forms,
    )?;
    on_stream(stream, || {
        ops::conv_general(
            &a.x,
            &a.w,
            &a.stride,
            &a.low,
            &a.high,
            &a.dilation,
            &a.input_dilation,
            a.groups,
            flip,
        )
    })
    .map(PyArray::from)
}

#[pyfunction]
#[pyo3(signature = (a, v, /, mode = "full", *, stream = None))]
pub fn convolve(a: Arg, v: Arg, mode: &str, stream: Opt) -> PyResult<PyArray> {
    let (a, v) = (array_arg(a)?, array_arg(v)?);
    on_stream(stream, || ops::convolve(&a, &v, mode)).map(PyArray::from)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    macro_rules! add {
        ($($f:ident),* $(,)?) => {$( m.add_function(wrap_pyfunction!($f, m)?)?; )*};
    }
    add!(
        conv1d,
        conv2d,
        conv3d,
        conv_general,
        conv_transpose1d,
        conv_transpose2d,
        conv_transpose3d,
        convolve
    );
    Ok(())
}
