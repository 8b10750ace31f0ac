//! Kernels of the binary elementwise primitives.

use super::arith::Arith;
use super::elementwise::binary;
use crate::array::Data;
use crate::dtype::{Dtype, Element};
use crate::primitives::binary::BinaryOp;
use crate::{Error, Result};
use half::{bf16, f16};
use num_complex::Complex32;

macro_rules! float_binary {
    ($dtype:expr, $shape:expr, $a:expr, $b:expr, $out:expr, |$x:ident, $y:ident| $e:expr) => {
        match $dtype {
            Dtype::Float32 => binary::<f32, f32, f32>($shape, $a, $b, $out, |$x: f32, $y: f32| $e),
            Dtype::Float64 => binary::<f64, f64, f64>($shape, $a, $b, $out, |$x: f64, $y: f64| $e),
            Dtype::Float16 => binary::<f16, f16, f16>($shape, $a, $b, $out, |p: f16, q: f16| {
                let ($x, $y) = (p.to_f32(), q.to_f32());
                f16::from_f32($e)
            }),
            Dtype::Bfloat16 => {
                binary::<bf16, bf16, bf16>($shape, $a, $b, $out, |p: bf16, q: bf16| {
                    let ($x, $y) = (p.to_f32(), q.to_f32());
                    bf16::from_f32($e)
                })
            }
            d => {
                return Err(Error::Invalid(format!(
                    "[binary] dtype {d} is not supported by this op"
                )))
            }
        }
    };
}

macro_rules! int_binary {
    ($dtype:expr, $shape:expr, $a:expr, $b:expr, $out:expr, |$x:ident, $y:ident| $e:expr) => {
        match $dtype {
            Dtype::Bool => {
                binary::<bool, bool, bool>($shape, $a, $b, $out, |$x: bool, $y: bool| $e)
            }
            Dtype::Uint8 => binary::<u8, u8, u8>($shape, $a, $b, $out, |$x: u8, $y: u8| $e),
            Dtype::Uint16 => binary::<u16, u16, u16>($shape, $a, $b, $out, |$x: u16, $y: u16| $e),
            Dtype::Uint32 => binary::<u32, u32, u32>($shape, $a, $b, $out, |$x: u32, $y: u32| $e),
            Dtype::Uint64 => binary::<u64, u64, u64>($shape, $a, $b, $out, |$x: u64, $y: u64| $e),
            Dtype::Int8 => binary::<i8, i8, i8>($shape, $a, $b, $out, |$x: i8, $y: i8| $e),
            Dtype::Int16 => binary::<i16, i16, i16>($shape, $a, $b, $out, |$x: i16, $y: i16| $e),
            Dtype::Int32 => binary::<i32, i32, i32>($shape, $a, $b, $out, |$x: i32, $y: i32| $e),
            Dtype::Int64 => binary::<i64, i64, i64>($shape, $a, $b, $out, |$x: i64, $y: i64| $e),
            d => {
                return Err(Error::Invalid(format!(
                    "[binary] dtype {d} is not an integer type"
                )))
            }
        }
    };
}

/// Shifts. A shift by the type's width or more gives 0 (or -1 for a negative value
/// shifted right), rather than C's undefined result.
macro_rules! shift {
    ($dtype:expr, $shape:expr, $a:expr, $b:expr, $out:expr, $method:ident, $signed_fill:expr) => {
        match $dtype {
            Dtype::Uint8 => binary::<u8, u8, u8>($shape, $a, $b, $out, |x, y| {
                x.$method(y as u32).unwrap_or(0)
            }),
            Dtype::Uint16 => binary::<u16, u16, u16>($shape, $a, $b, $out, |x, y| {
                x.$method(y as u32).unwrap_or(0)
            }),
            Dtype::Uint32 => {
                binary::<u32, u32, u32>($shape, $a, $b, $out, |x, y| x.$method(y).unwrap_or(0))
            }
            Dtype::Uint64 => binary::<u64, u64, u64>($shape, $a, $b, $out, |x, y| {
                x.$method(y as u32).unwrap_or(0)
            }),
            Dtype::Int8 => binary::<i8, i8, i8>($shape, $a, $b, $out, |x, y| {
                x.$method(y as u32).unwrap_or($signed_fill(x < 0) as i8)
            }),
            Dtype::Int16 => binary::<i16, i16, i16>($shape, $a, $b, $out, |x, y| {
                x.$method(y as u32).unwrap_or($signed_fill(x < 0) as i16)
            }),
            Dtype::Int32 => binary::<i32, i32, i32>($shape, $a, $b, $out, |x, y| {
                x.$method(y as u32).unwrap_or($signed_fill(x < 0) as i32)
            }),
            Dtype::Int64 => binary::<i64, i64, i64>($shape, $a, $b, $out, |x, y| {
                x.$method(y as u32).unwrap_or($signed_fill(x < 0))
            }),
            d => {
                return Err(Error::Invalid(format!(
                    "[binary] dtype {d} is not an integer type"
                )))
            }
        }
    };
}

fn left_fill(_negative: bool) -> i64 {
    0
}
fn right_fill(negative: bool) -> i64 {
    -(negative as i64)
}

/// The value of a float operand broadcast from one element (stride 0 everywhere).
fn scalar_float(dtype: Dtype, b: &Data) -> Option<f64> {
    if b.strides.iter().any(|&s| s != 0) {
        return None;
    }
    // SAFETY: a view handed to a kernel has its element 0.
    unsafe {
        match dtype {
            Dtype::Float32 => Some(*b.ptr::<f32>() as f64),
            Dtype::Float64 => Some(*b.ptr::<f64>()),
            Dtype::Float16 => Some((*b.ptr::<f16>()).to_f64()),
            Dtype::Bfloat16 => Some((*b.ptr::<bf16>()).to_f64()),
            _ => None,
        }
    }
}

/// `out = a^e` for a float `dtype` and an exponent from `small_integer_power`, by
/// products (f16 and bf16 in f32, rounded once at the end).
fn small_power(shape: &[usize], dtype: Dtype, a: &Data, out: &Data, e: i32) {
    use super::elementwise::unary;
    use super::fused::small_power;
    match dtype {
        Dtype::Float64 => small_power!(e, f64, |f| unary::<f64, f64>(shape, a, out, f)),
        Dtype::Float16 => small_power!(e, f32, |f| unary::<f16, f16>(shape, a, out, |h| {
            f16::from_f32(f(h.to_f32()))
        })),
        Dtype::Bfloat16 => small_power!(e, f32, |f| unary::<bf16, bf16>(shape, a, out, |h| {
            bf16::from_f32(f(h.to_f32()))
        })),
        _ => small_power!(e, f32, |f| unary::<f32, f32>(shape, a, out, f)),
    }
}

/// Computes `out = op(a, b)` for inputs of `dtype` broadcast to `shape`.
pub fn eval(
    op: BinaryOp,
    shape: &[usize],
    dtype: Dtype,
    a: &Data,
    b: &Data,
    out: &Data,
) -> Result<()> {
    use BinaryOp::*;
    macro_rules! arith {
        ($m:ident) => {
            crate::dispatch_dtype!(dtype, T => binary::<T, T, T>(shape, a, b, out, |x, y| Arith::$m(x, y)))
        };
    }
    macro_rules! compare {
        (|$x:ident, $y:ident| $e:expr) => {
            crate::dispatch_dtype!(dtype, T => binary::<T, T, bool>(shape, a, b, out, |$x: T, $y: T| $e))
        };
    }
    match op {
        Add => arith!(add),
        Subtract => arith!(sub),
        Multiply => arith!(mul),
        Divide => arith!(div),
        FloorDivide => arith!(floor_div),
        Remainder => arith!(rem),
        Power => match scalar_float(dtype, b).and_then(super::fused::small_integer_power) {
            Some(e) => small_power(shape, dtype, a, out, e),
            None => arith!(pow),
        },
        Maximum => arith!(max),
        Minimum => arith!(min),
        Arctan2 => float_binary!(dtype, shape, a, b, out, |y, x| y.atan2(x)),
        LogAddExp => match dtype {
            Dtype::Complex64 => {
                binary::<Complex32, Complex32, Complex32>(shape, a, b, out, |x, y| {
                    (x.exp() + y.exp()).ln()
                })
            }
            _ => float_binary!(dtype, shape, a, b, out, |x, y| {
                let m = if x > y { x } else { y };
                if m.is_infinite() && x == y {
                    m
                } else if x.is_nan() || y.is_nan() {
                    x + y
                } else {
                    m + (-(x - y).abs()).exp().ln_1p()
                }
            }),
        },
        Equal => compare!(|x, y| x.eq(y)),
        NotEqual => compare!(|x, y| !x.eq(y)),
        Greater => compare!(|x, y| y.lt(x)),
        GreaterEqual => compare!(|x, y| y.le(x)),
        Less => compare!(|x, y| x.lt(y)),
        LessEqual => compare!(|x, y| x.le(y)),
        NanEqual => compare!(|x, y| x.eq(y) || (x.is_nan() && y.is_nan())),
        LogicalAnd => compare!(|x, y| x.cast::<bool>() && y.cast::<bool>()),
        LogicalOr => compare!(|x, y| x.cast::<bool>() || y.cast::<bool>()),
        LogicalXor => compare!(|x, y| x.cast::<bool>() != y.cast::<bool>()),
        BitwiseAnd => int_binary!(dtype, shape, a, b, out, |x, y| x & y),
        BitwiseOr => int_binary!(dtype, shape, a, b, out, |x, y| x | y),
        BitwiseXor => int_binary!(dtype, shape, a, b, out, |x, y| x ^ y),
        LeftShift => shift!(dtype, shape, a, b, out, checked_shl, left_fill),
        RightShift => shift!(dtype, shape, a, b, out, checked_shr, right_fill),
    }
    Ok(())
}

/// `out = x * y + z` (`Add`) or `x * y - z` / `z - x * y` (`Subtract`), in one pass
/// over memory, for a product that no one else reads (the scheduler checks). The
/// product is rounded to the element type before the add, exactly as the two separate
/// ops round: no fused multiply-add contraction, so results are bit-identical.
#[allow(clippy::too_many_arguments)]
pub fn multiply_then(
    op: BinaryOp,
    product_first: bool,
    shape: &[usize],
    dtype: Dtype,
    x: &Data,
    y: &Data,
    z: &Data,
    out: &Data,
) -> Result<()> {
    use super::elementwise::ternary;
    macro_rules! go {
        ($t:ty) => {
            match (op, product_first) {
                (BinaryOp::Add, true) => {
                    ternary::<$t, $t, $t, $t>(shape, x, y, z, out, |a, b, c| a * b + c)
                }
                (BinaryOp::Add, false) => {
                    ternary::<$t, $t, $t, $t>(shape, x, y, z, out, |a, b, c| c + a * b)
                }
                (BinaryOp::Subtract, true) => {
                    ternary::<$t, $t, $t, $t>(shape, x, y, z, out, |a, b, c| a * b - c)
                }
                (BinaryOp::Subtract, false) => {
                    ternary::<$t, $t, $t, $t>(shape, x, y, z, out, |a, b, c| c - a * b)
                }
                _ => {
                    return Err(Error::Runtime(format!(
                        "[multiply_then] {op:?} is not fused"
                    )))
                }
            }
        };
    }
    match dtype {
        Dtype::Float32 => go!(f32),
        Dtype::Float64 => go!(f64),
        d => return Err(Error::Runtime(format!("[multiply_then] {d} is not fused"))),
    }
    Ok(())
}
