//! Kernels of the unary elementwise primitives. Float math runs in f32 for f16/bf16.

use super::elementwise::unary;
use crate::array::Data;
use crate::dtype::{Dtype, Element};
use crate::primitives::unary::UnaryOp;
use crate::{Error, Result};
use half::{bf16, f16};
use num_complex::Complex32;

/// Special functions not in `std`.
pub trait Special: Copy {
    fn erf(self) -> Self;
    fn erfinv(self) -> Self;
}

impl Special for f64 {
    fn erf(self) -> f64 {
        libm::erf(self)
    }
    fn erfinv(self) -> f64 {
        erfinv64(self)
    }
}
impl Special for f32 {
    fn erf(self) -> f32 {
        libm::erff(self)
    }
    fn erfinv(self) -> f32 {
        erfinv64(self as f64) as f32
    }
}

/// Inverse error function: Giles' single-precision approximation, refined with two
/// Newton steps in f64.
fn erfinv64(x: f64) -> f64 {
    if x <= -1.0 {
        return if x == -1.0 {
            f64::NEG_INFINITY
        } else {
            f64::NAN
        };
    }
    if x >= 1.0 {
        return if x == 1.0 { f64::INFINITY } else { f64::NAN };
    }
    let w = -((1.0 - x) * (1.0 + x)).ln();
    let mut p;
    if w < 5.0 {
        let w = w - 2.5;
        p = 2.810_226_36e-08;
        for c in [
            3.432_739_39e-07,
            -3.523_387_7e-06,
            -4.391_506_54e-06,
            0.000_218_580_87,
            -0.001_253_725_03,
            -0.004_177_681_64,
            0.246_640_727,
            1.501_409_41,
        ] {
            p = c + p * w;
        }
    } else {
        let w = w.sqrt() - 3.0;
        p = -0.000_200_214_257;
        for c in [
            0.000_100_950_558,
            0.001_349_343_22,
            -0.003_673_428_44,
            0.005_739_507_73,
            -0.007_622_461_3,
            0.009_438_870_47,
            1.001_674_06,
            2.832_976_82,
        ] {
            p = c + p * w;
        }
    }
    let mut y = p * x;
    // Newton: f(y) = erf(y) - x, f' = 2/sqrt(pi) exp(-y^2).
    for _ in 0..2 {
        let err = libm::erf(y) - x;
        y -= err / (std::f64::consts::FRAC_2_SQRT_PI * (-y * y).exp());
    }
    y
}

/// Applies `$f` (written for a float `x`) over a float view, in f32 for f16/bf16.
macro_rules! float_map {
    ($dtype:expr, $shape:expr, $a:expr, $out:expr, |$x:ident| $e:expr) => {
        match $dtype {
            Dtype::Float32 => unary::<f32, f32>($shape, $a, $out, |$x: f32| $e),
            Dtype::Float64 => unary::<f64, f64>($shape, $a, $out, |$x: f64| $e),
            Dtype::Float16 => unary::<f16, f16>($shape, $a, $out, |h: f16| {
                let $x = h.to_f32();
                f16::from_f32($e)
            }),
            Dtype::Bfloat16 => unary::<bf16, bf16>($shape, $a, $out, |h: bf16| {
                let $x = h.to_f32();
                bf16::from_f32($e)
            }),
            d => return Err(unsupported(d)),
        }
    };
}

/// Applies `$f` over a float or complex view.
macro_rules! inexact_map {
    ($dtype:expr, $shape:expr, $a:expr, $out:expr, |$x:ident| $e:expr) => {
        match $dtype {
            Dtype::Complex64 => unary::<Complex32, Complex32>($shape, $a, $out, |$x: Complex32| $e),
            _ => float_map!($dtype, $shape, $a, $out, |$x| $e),
        }
    };
}

fn unsupported(d: Dtype) -> Error {
    Error::Invalid(format!("[unary] dtype {d} is not supported by this op"))
}

/// Sets `out` to a predicate of each element of `a` (a float or complex view).
fn predicate(
    dtype: Dtype,
    shape: &[usize],
    a: &Data,
    out: &Data,
    p32: fn(f32) -> bool,
    p64: fn(f64) -> bool,
) -> Result<()> {
    match dtype {
        Dtype::Float32 => unary::<f32, bool>(shape, a, out, p32),
        Dtype::Float64 => unary::<f64, bool>(shape, a, out, p64),
        Dtype::Float16 => unary::<f16, bool>(shape, a, out, |h| p32(h.to_f32())),
        Dtype::Bfloat16 => unary::<bf16, bool>(shape, a, out, |h| p32(h.to_f32())),
        Dtype::Complex64 => unary::<Complex32, bool>(shape, a, out, |c| p32(c.re) || p32(c.im)),
        _ => crate::dispatch_dtype!(dtype, T => unary::<T, bool>(shape, a, out, |_| false)),
    }
    Ok(())
}

/// Computes `out = op(a)`. `in_dtype` is the input's dtype; the op layer has already cast
/// integer inputs of float ops to float32.
pub fn eval(op: UnaryOp, shape: &[usize], in_dtype: Dtype, a: &Data, out: &Data) -> Result<()> {
    use UnaryOp::*;
    match op {
        Abs => match in_dtype {
            Dtype::Complex64 => unary::<Complex32, f32>(shape, a, out, |c| c.norm()),
            Dtype::Bool => unary::<bool, bool>(shape, a, out, |x| x),
            _ if in_dtype.is_unsigned() => {
                super::copy::copy_cast(shape, a, in_dtype, out, in_dtype)
            }
            Dtype::Int8 => unary::<i8, i8>(shape, a, out, |x| x.wrapping_abs()),
            Dtype::Int16 => unary::<i16, i16>(shape, a, out, |x| x.wrapping_abs()),
            Dtype::Int32 => unary::<i32, i32>(shape, a, out, |x| x.wrapping_abs()),
            Dtype::Int64 => unary::<i64, i64>(shape, a, out, |x| x.wrapping_abs()),
            _ => float_map!(in_dtype, shape, a, out, |x| x.abs()),
        },
        Negative => crate::dispatch_dtype!(in_dtype, T => {
            unary::<T, T>(shape, a, out, |x| super::arith::Arith::sub(<T as super::arith::Arith>::zero(), x))
        }),
        Sign => match in_dtype {
            Dtype::Complex64 => unary::<Complex32, Complex32>(shape, a, out, |c| {
                let n = c.norm();
                if n == 0.0 {
                    Complex32::new(0.0, 0.0)
                } else {
                    c / n
                }
            }),
            Dtype::Bool => unary::<bool, bool>(shape, a, out, |x| x),
            d if d.is_integer() => {
                crate::dispatch_dtype!(d, T => unary::<T, T>(shape, a, out, |x| {
                    let w = x.to_f64();
                    T::from_f64(if w > 0.0 { 1.0 } else if w < 0.0 { -1.0 } else { 0.0 })
                }))
            }
            _ => float_map!(in_dtype, shape, a, out, |x| if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }),
        },
        Square => crate::dispatch_dtype!(in_dtype, T => {
            unary::<T, T>(shape, a, out, |x| super::arith::Arith::mul(x, x))
        }),
        Sqrt => inexact_map!(in_dtype, shape, a, out, |x| x.sqrt()),
        Rsqrt => inexact_map!(in_dtype, shape, a, out, |x| x.sqrt().inv_()),
        Reciprocal => inexact_map!(in_dtype, shape, a, out, |x| x.inv_()),
        Exp => inexact_map!(in_dtype, shape, a, out, |x| x.exp()),
        Expm1 => float_map!(in_dtype, shape, a, out, |x| x.exp_m1()),
        Log => inexact_map!(in_dtype, shape, a, out, |x| x.ln()),
        Log2 => match in_dtype {
            Dtype::Complex64 => {
                unary::<Complex32, Complex32>(shape, a, out, |x| x.ln() / std::f32::consts::LN_2)
            }
            _ => float_map!(in_dtype, shape, a, out, |x| x.log2()),
        },
        Log10 => match in_dtype {
            Dtype::Complex64 => {
                unary::<Complex32, Complex32>(shape, a, out, |x| x.ln() / std::f32::consts::LN_10)
            }
            _ => float_map!(in_dtype, shape, a, out, |x| x.log10()),
        },
        Log1p => match in_dtype {
            Dtype::Complex64 => unary::<Complex32, Complex32>(shape, a, out, |x| (x + 1.0).ln()),
            _ => float_map!(in_dtype, shape, a, out, |x| x.ln_1p()),
        },
        Sin => inexact_map!(in_dtype, shape, a, out, |x| x.sin()),
        Cos => inexact_map!(in_dtype, shape, a, out, |x| x.cos()),
        Tan => inexact_map!(in_dtype, shape, a, out, |x| x.tan()),
        Arcsin => inexact_map!(in_dtype, shape, a, out, |x| x.asin()),
        Arccos => inexact_map!(in_dtype, shape, a, out, |x| x.acos()),
        Arctan => inexact_map!(in_dtype, shape, a, out, |x| x.atan()),
        Sinh => inexact_map!(in_dtype, shape, a, out, |x| x.sinh()),
        Cosh => inexact_map!(in_dtype, shape, a, out, |x| x.cosh()),
        Tanh => inexact_map!(in_dtype, shape, a, out, |x| x.tanh()),
        Arcsinh => inexact_map!(in_dtype, shape, a, out, |x| x.asinh()),
        Arccosh => inexact_map!(in_dtype, shape, a, out, |x| x.acosh()),
        Arctanh => inexact_map!(in_dtype, shape, a, out, |x| x.atanh()),
        Sigmoid => float_map!(in_dtype, shape, a, out, |x| 1.0 / (1.0 + (-x).exp())),
        Erf => float_map!(in_dtype, shape, a, out, |x| Special::erf(x)),
        Erfinv => float_map!(in_dtype, shape, a, out, |x| Special::erfinv(x)),
        Ceil => float_map!(in_dtype, shape, a, out, |x| x.ceil()),
        Floor => float_map!(in_dtype, shape, a, out, |x| x.floor()),
        Trunc => float_map!(in_dtype, shape, a, out, |x| x.trunc()),
        // Half to even, as NumPy and MLX round.
        Round => match in_dtype {
            Dtype::Complex64 => unary::<Complex32, Complex32>(shape, a, out, |x| {
                Complex32::new(x.re.round_ties_even(), x.im.round_ties_even())
            }),
            _ => float_map!(in_dtype, shape, a, out, |x| x.round_ties_even()),
        },
        Real => unary::<Complex32, f32>(shape, a, out, |c| c.re),
        Imag => unary::<Complex32, f32>(shape, a, out, |c| c.im),
        Conj => unary::<Complex32, Complex32>(shape, a, out, |c| c.conj()),
        IsNan => predicate(in_dtype, shape, a, out, f32::is_nan, f64::is_nan)?,
        IsInf => predicate(in_dtype, shape, a, out, f32::is_infinite, f64::is_infinite)?,
        IsPosInf => predicate(
            in_dtype,
            shape,
            a,
            out,
            |x| x == f32::INFINITY,
            |x| x == f64::INFINITY,
        )?,
        IsNegInf => predicate(
            in_dtype,
            shape,
            a,
            out,
            |x| x == f32::NEG_INFINITY,
            |x| x == f64::NEG_INFINITY,
        )?,
        LogicalNot => crate::dispatch_dtype!(in_dtype, T => {
            unary::<T, bool>(shape, a, out, |x| !x.cast::<bool>())
        }),
        BitwiseInvert => match in_dtype {
            Dtype::Bool => unary::<bool, bool>(shape, a, out, |x| !x),
            Dtype::Uint8 => unary::<u8, u8>(shape, a, out, |x| !x),
            Dtype::Uint16 => unary::<u16, u16>(shape, a, out, |x| !x),
            Dtype::Uint32 => unary::<u32, u32>(shape, a, out, |x| !x),
            Dtype::Uint64 => unary::<u64, u64>(shape, a, out, |x| !x),
            Dtype::Int8 => unary::<i8, i8>(shape, a, out, |x| !x),
            Dtype::Int16 => unary::<i16, i16>(shape, a, out, |x| !x),
            Dtype::Int32 => unary::<i32, i32>(shape, a, out, |x| !x),
            Dtype::Int64 => unary::<i64, i64>(shape, a, out, |x| !x),
            d => return Err(unsupported(d)),
        },
    }
    Ok(())
}

/// `1/x` for real and complex floats.
trait Inv {
    fn inv_(self) -> Self;
}
impl Inv for f32 {
    #[inline(always)]
    fn inv_(self) -> f32 {
        1.0 / self
    }
}
impl Inv for f64 {
    #[inline(always)]
    fn inv_(self) -> f64 {
        1.0 / self
    }
}
impl Inv for Complex32 {
    #[inline(always)]
    fn inv_(self) -> Complex32 {
        Complex32::new(1.0, 0.0) / self
    }
}
