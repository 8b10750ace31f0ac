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

/// Runs `$body` with `$f` bound to the function of a real-float unary op on the float
/// type `$T` (f32 or f64), and gives `true`; gives `false` for ops with no such function
/// (predicates, complex parts, integer-only ops). The one definition of each op's float
/// math: the elementwise kernels below and fused regions (`fused.rs`) both use it.
macro_rules! float_unary {
    ($op:expr, $T:ty, |$f:ident| $body:expr) => {{
        use $crate::backend::cpu::unary::Special;
        use $crate::backend::cpu::vmath::VMath;
        use $crate::primitives::unary::UnaryOp::*;
        macro_rules! run {
            (|$x:ident| $e:expr) => {{
                let $f = |$x: $T| -> $T { $e };
                $body;
                true
            }};
        }
        match $op {
            Abs => run!(|x| x.abs()),
            Negative => run!(|x| -x),
            Sign => run!(|x| if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }),
            Square => run!(|x| x * x),
            Sqrt => run!(|x| x.sqrt()),
            Rsqrt => run!(|x| 1.0 / x.sqrt()),
            Reciprocal => run!(|x| 1.0 / x),
            Exp => run!(|x| x.vexp()),
            Expm1 => run!(|x| x.exp_m1()),
            Log => run!(|x| x.ln()),
            Log2 => run!(|x| x.log2()),
            Log10 => run!(|x| x.log10()),
            Log1p => run!(|x| x.ln_1p()),
            Sin => run!(|x| x.sin()),
            Cos => run!(|x| x.cos()),
            Tan => run!(|x| x.tan()),
            Arcsin => run!(|x| x.asin()),
            Arccos => run!(|x| x.acos()),
            Arctan => run!(|x| x.atan()),
            Sinh => run!(|x| x.sinh()),
            Cosh => run!(|x| x.cosh()),
            Tanh => run!(|x| x.vtanh()),
            Arcsinh => run!(|x| x.asinh()),
            Arccosh => run!(|x| x.acosh()),
            Arctanh => run!(|x| x.atanh()),
            Sigmoid => run!(|x| x.vsigmoid()),
            Erf => run!(|x| Special::erf(x)),
            Erfinv => run!(|x| Special::erfinv(x)),
            Ceil => run!(|x| x.ceil()),
            Floor => run!(|x| x.floor()),
            Trunc => run!(|x| x.trunc()),
            // Half to even, as NumPy and MLX round.
            Round => run!(|x| x.round_ties_even()),
            _ => false,
        }
    }};
}
pub(crate) use float_unary;

/// Applies `$e` over a complex64 view; any other dtype is unsupported.
macro_rules! complex_map {
    ($dtype:expr, $shape:expr, $a:expr, $out:expr, |$x:ident| $e:expr) => {
        match $dtype {
            Dtype::Complex64 => unary::<Complex32, Complex32>($shape, $a, $out, |$x: Complex32| $e),
            d => return Err(unsupported(d)),
        }
    };
}

/// `out = op(a)` for a real float dtype, through [`float_unary!`]; `false` if the op has
/// no float function. f16 and bf16 compute in f32.
fn float_eval(op: UnaryOp, shape: &[usize], dtype: Dtype, a: &Data, out: &Data) -> bool {
    match dtype {
        Dtype::Float32 => float_unary!(op, f32, |f| unary::<f32, f32>(shape, a, out, f)),
        Dtype::Float64 => float_unary!(op, f64, |f| unary::<f64, f64>(shape, a, out, f)),
        Dtype::Float16 => float_unary!(op, f32, |f| unary::<f16, f16>(shape, a, out, |h| {
            f16::from_f32(f(h.to_f32()))
        })),
        Dtype::Bfloat16 => float_unary!(op, f32, |f| unary::<bf16, bf16>(shape, a, out, |h| {
            bf16::from_f32(f(h.to_f32()))
        })),
        _ => false,
    }
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
    if float_eval(op, shape, in_dtype, a, out) {
        return Ok(());
    }
    // Real floats are done; what is left: complex, integer and bool inputs, predicates.
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
            d => return Err(unsupported(d)),
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
            d => return Err(unsupported(d)),
        },
        Square => crate::dispatch_dtype!(in_dtype, T => {
            unary::<T, T>(shape, a, out, |x| super::arith::Arith::mul(x, x))
        }),
        Sqrt => complex_map!(in_dtype, shape, a, out, |x| x.sqrt()),
        Rsqrt => complex_map!(in_dtype, shape, a, out, |x| x.sqrt().inv_()),
        Reciprocal => complex_map!(in_dtype, shape, a, out, |x| x.inv_()),
        Exp => complex_map!(in_dtype, shape, a, out, |x| x.exp()),
        Log => complex_map!(in_dtype, shape, a, out, |x| x.ln()),
        Log2 => complex_map!(in_dtype, shape, a, out, |x| x.ln() / std::f32::consts::LN_2),
        Log10 => complex_map!(in_dtype, shape, a, out, |x| x.ln()
            / std::f32::consts::LN_10),
        Log1p => complex_map!(in_dtype, shape, a, out, |x| (x + 1.0).ln()),
        Sin => complex_map!(in_dtype, shape, a, out, |x| x.sin()),
        Cos => complex_map!(in_dtype, shape, a, out, |x| x.cos()),
        Tan => complex_map!(in_dtype, shape, a, out, |x| x.tan()),
        Arcsin => complex_map!(in_dtype, shape, a, out, |x| x.asin()),
        Arccos => complex_map!(in_dtype, shape, a, out, |x| x.acos()),
        Arctan => complex_map!(in_dtype, shape, a, out, |x| x.atan()),
        Sinh => complex_map!(in_dtype, shape, a, out, |x| x.sinh()),
        Cosh => complex_map!(in_dtype, shape, a, out, |x| x.cosh()),
        Tanh => complex_map!(in_dtype, shape, a, out, |x| x.tanh()),
        Arcsinh => complex_map!(in_dtype, shape, a, out, |x| x.asinh()),
        Arccosh => complex_map!(in_dtype, shape, a, out, |x| x.acosh()),
        Arctanh => complex_map!(in_dtype, shape, a, out, |x| x.atanh()),
        Round => complex_map!(in_dtype, shape, a, out, |x| Complex32::new(
            x.re.round_ties_even(),
            x.im.round_ties_even()
        )),
        Expm1 | Sigmoid | Erf | Erfinv | Ceil | Floor | Trunc => return Err(unsupported(in_dtype)),
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
