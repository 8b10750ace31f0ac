//! The 14 dtypes, MLX's promotion table, dtype categories and the `Element` trait that
//! kernels are generic over.
//!
//! ```
//! use ferrox::dtype::{promote, Dtype, issubdtype, DtypeCategory};
//! assert_eq!(promote(Dtype::Uint8, Dtype::Int8), Dtype::Int16);
//! assert_eq!(promote(Dtype::Int32, Dtype::Float16), Dtype::Float16);
//! assert!(issubdtype(Dtype::Bfloat16, DtypeCategory::Floating));
//! assert_eq!(Dtype::Complex64.size(), 8);
//! ```

use crate::{Error, Result};
use half::{bf16, f16};
use num_complex::Complex32;
use std::fmt;

/// An element type. The order is MLX's (and the promotion table's).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Dtype {
    Bool,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Int8,
    Int16,
    Int32,
    Int64,
    Float16,
    Bfloat16,
    Float32,
    Float64,
    Complex64,
}

/// MLX's dtype categories: `generic` ⊃ `number` ⊃ {`integer` ⊃ {`signedinteger`,
/// `unsignedinteger`}, `inexact` ⊃ {`floating`, `complexfloating`}}.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DtypeCategory {
    ComplexFloating,
    Floating,
    Inexact,
    SignedInteger,
    UnsignedInteger,
    Integer,
    Number,
    Generic,
}

pub use Dtype::*;

impl Dtype {
    /// All dtypes, in table order.
    pub const ALL: [Dtype; 14] = [
        Bool, Uint8, Uint16, Uint32, Uint64, Int8, Int16, Int32, Int64, Float16, Bfloat16, Float32,
        Float64, Complex64,
    ];

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            Bool | Uint8 | Int8 => 1,
            Uint16 | Int16 | Float16 | Bfloat16 => 2,
            Uint32 | Int32 | Float32 => 4,
            Uint64 | Int64 | Float64 | Complex64 => 8,
        }
    }

    /// The name MLX prints (`float32`, `bool`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Bool => "bool",
            Uint8 => "uint8",
            Uint16 => "uint16",
            Uint32 => "uint32",
            Uint64 => "uint64",
            Int8 => "int8",
            Int16 => "int16",
            Int32 => "int32",
            Int64 => "int64",
            Float16 => "float16",
            Bfloat16 => "bfloat16",
            Float32 => "float32",
            Float64 => "float64",
            Complex64 => "complex64",
        }
    }

    /// Parses a dtype name as printed by [`Dtype::name`].
    pub fn from_name(name: &str) -> Result<Dtype> {
        Dtype::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| Error::Invalid(format!("unknown dtype '{name}'")))
    }

    pub const fn is_bool(self) -> bool {
        matches!(self, Bool)
    }
    pub const fn is_unsigned(self) -> bool {
        matches!(self, Uint8 | Uint16 | Uint32 | Uint64)
    }
    pub const fn is_signed_int(self) -> bool {
        matches!(self, Int8 | Int16 | Int32 | Int64)
    }
    /// Integer types (not bool).
    pub const fn is_integer(self) -> bool {
        self.is_unsigned() || self.is_signed_int()
    }
    /// Real floating types.
    pub const fn is_floating(self) -> bool {
        matches!(self, Float16 | Bfloat16 | Float32 | Float64)
    }
    pub const fn is_complex(self) -> bool {
        matches!(self, Complex64)
    }
    /// Floating or complex.
    pub const fn is_inexact(self) -> bool {
        self.is_floating() || self.is_complex()
    }

    /// The narrowest category holding this dtype.
    pub const fn category(self) -> DtypeCategory {
        match self {
            Bool => DtypeCategory::Generic,
            Uint8 | Uint16 | Uint32 | Uint64 => DtypeCategory::UnsignedInteger,
            Int8 | Int16 | Int32 | Int64 => DtypeCategory::SignedInteger,
            Float16 | Bfloat16 | Float32 | Float64 => DtypeCategory::Floating,
            Complex64 => DtypeCategory::ComplexFloating,
        }
    }

    /// The float dtype an op like `sqrt` or `/` computes in: floats keep theirs,
    /// everything else becomes float32.
    pub const fn to_inexact(self) -> Dtype {
        if self.is_inexact() {
            self
        } else {
            Float32
        }
    }

    /// The dtype `sum`/`prod` accumulate in (MLX: small ints widen to int32/uint32).
    pub const fn sum_dtype(self) -> Dtype {
        match self {
            Bool | Int8 | Int16 => Int32,
            Uint8 | Uint16 => Uint32,
            d => d,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl DtypeCategory {
    /// The category directly above this one (`Generic` is its own parent).
    pub const fn parent(self) -> DtypeCategory {
        use DtypeCategory::*;
        match self {
            ComplexFloating | Floating => Inexact,
            SignedInteger | UnsignedInteger => Integer,
            Inexact | Integer => Number,
            Number | Generic => Generic,
        }
    }
}

/// Whether `dtype` belongs to `category` (`mx.issubdtype(dtype, category)`).
pub fn issubdtype(dtype: Dtype, category: DtypeCategory) -> bool {
    let mut c = dtype.category();
    loop {
        if c == category {
            return true;
        }
        if c == DtypeCategory::Generic {
            return category == DtypeCategory::Generic;
        }
        c = c.parent();
    }
}

/// Whether `sub` is `sup` or below it in the category hierarchy.
pub fn issubcategory(sub: DtypeCategory, sup: DtypeCategory) -> bool {
    let mut c = sub;
    loop {
        if c == sup {
            return true;
        }
        if c == DtypeCategory::Generic {
            return false;
        }
        c = c.parent();
    }
}

// MLX 0.32.4's `result_type` table (API.md A.2), rows and columns in `Dtype::ALL` order.
const PROMOTION: [[Dtype; 14]; 14] = {
    const B: Dtype = Bool;
    const U8: Dtype = Uint8;
    const U16: Dtype = Uint16;
    const U32: Dtype = Uint32;
    const U64: Dtype = Uint64;
    const I8: Dtype = Int8;
    const I16: Dtype = Int16;
    const I32: Dtype = Int32;
    const I64: Dtype = Int64;
    const F16: Dtype = Float16;
    const BF: Dtype = Bfloat16;
    const F32: Dtype = Float32;
    const F64: Dtype = Float64;
    const C: Dtype = Complex64;
    [
        [
            B, U8, U16, U32, U64, I8, I16, I32, I64, F16, BF, F32, F64, C,
        ],
        [
            U8, U8, U16, U32, U64, I16, I16, I32, I64, F16, BF, F32, F64, C,
        ],
        [
            U16, U16, U16, U32, U64, I32, I32, I32, I64, F16, BF, F32, F64, C,
        ],
        [
            U32, U32, U32, U32, U64, I64, I64, I64, I64, F16, BF, F32, F64, C,
        ],
        [
            U64, U64, U64, U64, U64, F32, F32, F32, F32, F16, BF, F32, F64, C,
        ],
        [
            I8, I16, I32, I64, F32, I8, I16, I32, I64, F16, BF, F32, F64, C,
        ],
        [
            I16, I16, I32, I64, F32, I16, I16, I32, I64, F16, BF, F32, F64, C,
        ],
        [
            I32, I32, I32, I64, F32, I32, I32, I32, I64, F16, BF, F32, F64, C,
        ],
        [
            I64, I64, I64, I64, F32, I64, I64, I64, I64, F16, BF, F32, F64, C,
        ],
        [
            F16, F16, F16, F16, F16, F16, F16, F16, F16, F16, F32, F32, F64, C,
        ],
        [BF, BF, BF, BF, BF, BF, BF, BF, BF, F32, BF, F32, F64, C],
        [
            F32, F32, F32, F32, F32, F32, F32, F32, F32, F32, F32, F32, F64, C,
        ],
        [
            F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, C,
        ],
        [C, C, C, C, C, C, C, C, C, C, C, C, C, C],
    ]
};

/// The dtype two operands promote to (`mx.result_type`).
pub const fn promote(a: Dtype, b: Dtype) -> Dtype {
    PROMOTION[a as usize][b as usize]
}

/// Whether `from` converts to `to` without loss under promotion (`mx.can_cast`).
pub fn can_cast(from: Dtype, to: Dtype) -> bool {
    promote(from, to) == to
}

/// The kind of a Python-style scalar, which promotes weakly: it takes the array's dtype
/// when that dtype can hold its kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Complex(f64, f64),
}

impl Scalar {
    /// The dtype `mx.array(scalar)` gets on its own.
    pub fn default_dtype(self) -> Dtype {
        match self {
            Scalar::Bool(_) => Bool,
            Scalar::Int(v) if i32::try_from(v).is_ok() => Int32,
            Scalar::Int(_) => Int64,
            Scalar::Float(_) => Float32,
            Scalar::Complex(..) => Complex64,
        }
    }

    /// The dtype this scalar takes beside an array of dtype `other` (weak promotion).
    pub fn weak_dtype(self, other: Dtype) -> Dtype {
        match self {
            Scalar::Bool(_) => other,
            Scalar::Int(_) if other.is_bool() => Int32,
            Scalar::Int(_) => other,
            Scalar::Float(_) if other.is_inexact() => other,
            Scalar::Float(_) => Float32,
            Scalar::Complex(..) => Complex64,
        }
    }

    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => b as u8 as f64,
            Scalar::Int(v) => v as f64,
            Scalar::Float(v) => v,
            Scalar::Complex(re, _) => re,
        }
    }
}

macro_rules! scalar_from {
    ($($t:ty => $v:ident as $w:ty),*) => {$(
        impl From<$t> for Scalar {
            fn from(x: $t) -> Scalar { Scalar::$v(x as $w) }
        }
    )*};
}
scalar_from!(i8 => Int as i64, i16 => Int as i64, i32 => Int as i64, i64 => Int as i64,
    u8 => Int as i64, u16 => Int as i64, u32 => Int as i64, f32 => Float as f64, f64 => Float as f64);
impl From<bool> for Scalar {
    fn from(x: bool) -> Scalar {
        Scalar::Bool(x)
    }
}

/// A value of any dtype, widened, used to convert between element types in one place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Wide {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Complex(f64, f64),
}

/// A Rust type that stores one element of a [`Dtype`]. Kernels are generic over it.
pub trait Element: Copy + Send + Sync + Default + PartialEq + fmt::Debug + 'static {
    const DTYPE: Dtype;
    fn to_wide(self) -> Wide;
    fn from_wide(w: Wide) -> Self;
    /// Converts with MLX's `astype` rules (floats truncate toward zero into ints, ints wrap).
    #[inline(always)]
    fn cast<D: Element>(self) -> D {
        D::from_wide(self.to_wide())
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        Self::from_wide(Wide::Float(v))
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        match self.to_wide() {
            Wide::Bool(b) => b as u8 as f64,
            Wide::Int(v) => v as f64,
            Wide::Uint(v) => v as f64,
            Wide::Float(v) => v,
            Wide::Complex(re, _) => re,
        }
    }
}

#[inline(always)]
fn wide_to_i64(w: Wide) -> i64 {
    match w {
        Wide::Bool(b) => b as i64,
        Wide::Int(v) => v,
        Wide::Uint(v) => v as i64,
        // Through i64 so that -1.0 -> uint8 gives 255 as in MLX.
        Wide::Float(v) => {
            if v.is_nan() {
                0
            } else {
                v as i64
            }
        }
        Wide::Complex(re, _) => re as i64,
    }
}

#[inline(always)]
fn wide_to_u64(w: Wide) -> u64 {
    match w {
        Wide::Uint(v) => v,
        Wide::Float(v) if v >= 9.223372036854775807e18 => v as u64,
        w => wide_to_i64(w) as u64,
    }
}

#[inline(always)]
fn wide_to_f64(w: Wide) -> f64 {
    match w {
        Wide::Bool(b) => b as u8 as f64,
        Wide::Int(v) => v as f64,
        Wide::Uint(v) => v as f64,
        Wide::Float(v) => v,
        Wide::Complex(re, _) => re,
    }
}

macro_rules! int_element {
    ($($t:ty => $d:ident, $variant:ident, $conv:ident, $w:ty);*) => {$(
        impl Element for $t {
            const DTYPE: Dtype = $d;
            #[inline(always)]
            fn to_wide(self) -> Wide { Wide::$variant(self as $w) }
            #[inline(always)]
            fn from_wide(w: Wide) -> Self { $conv(w) as $t }
        }
    )*};
}
int_element!(u8 => Uint8, Uint, wide_to_u64, u64; u16 => Uint16, Uint, wide_to_u64, u64;
    u32 => Uint32, Uint, wide_to_u64, u64; u64 => Uint64, Uint, wide_to_u64, u64;
    i8 => Int8, Int, wide_to_i64, i64; i16 => Int16, Int, wide_to_i64, i64;
    i32 => Int32, Int, wide_to_i64, i64; i64 => Int64, Int, wide_to_i64, i64);

impl Element for bool {
    const DTYPE: Dtype = Bool;
    #[inline(always)]
    fn to_wide(self) -> Wide {
        Wide::Bool(self)
    }
    #[inline(always)]
    fn from_wide(w: Wide) -> Self {
        match w {
            Wide::Bool(b) => b,
            Wide::Int(v) => v != 0,
            Wide::Uint(v) => v != 0,
            Wide::Float(v) => v != 0.0,
            Wide::Complex(re, im) => re != 0.0 || im != 0.0,
        }
    }
}

impl Element for f32 {
    const DTYPE: Dtype = Float32;
    #[inline(always)]
    fn to_wide(self) -> Wide {
        Wide::Float(self as f64)
    }
    #[inline(always)]
    fn from_wide(w: Wide) -> Self {
        wide_to_f64(w) as f32
    }
}
impl Element for f64 {
    const DTYPE: Dtype = Float64;
    #[inline(always)]
    fn to_wide(self) -> Wide {
        Wide::Float(self)
    }
    #[inline(always)]
    fn from_wide(w: Wide) -> Self {
        wide_to_f64(w)
    }
}
impl Element for f16 {
    const DTYPE: Dtype = Float16;
    #[inline(always)]
    fn to_wide(self) -> Wide {
        Wide::Float(self.to_f64())
    }
    #[inline(always)]
    fn from_wide(w: Wide) -> Self {
        match w {
            Wide::Float(v) => f16::from_f64(v),
            w => f16::from_f32(wide_to_f64(w) as f32),
        }
    }
}
impl Element for bf16 {
    const DTYPE: Dtype = Bfloat16;
    #[inline(always)]
    fn to_wide(self) -> Wide {
        Wide::Float(self.to_f64())
    }
    #[inline(always)]
    fn from_wide(w: Wide) -> Self {
        match w {
            Wide::Float(v) => bf16::from_f64(v),
            w => bf16::from_f32(wide_to_f64(w) as f32),
        }
    }
}
impl Element for Complex32 {
    const DTYPE: Dtype = Complex64;
    #[inline(always)]
    fn to_wide(self) -> Wide {
        Wide::Complex(self.re as f64, self.im as f64)
    }
    #[inline(always)]
    fn from_wide(w: Wide) -> Self {
        match w {
            Wide::Complex(re, im) => Complex32::new(re as f32, im as f32),
            w => Complex32::new(wide_to_f64(w) as f32, 0.0),
        }
    }
}

/// Runs `$body` with `$T` bound to the Rust element type of `$dtype`. This is the one
/// place a dtype becomes a type.
#[macro_export]
macro_rules! dispatch_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {{
        use $crate::dtype::Dtype as __D;
        match $dtype {
            __D::Bool => {
                type $T = bool;
                $body
            }
            __D::Uint8 => {
                type $T = u8;
                $body
            }
            __D::Uint16 => {
                type $T = u16;
                $body
            }
            __D::Uint32 => {
                type $T = u32;
                $body
            }
            __D::Uint64 => {
                type $T = u64;
                $body
            }
            __D::Int8 => {
                type $T = i8;
                $body
            }
            __D::Int16 => {
                type $T = i16;
                $body
            }
            __D::Int32 => {
                type $T = i32;
                $body
            }
            __D::Int64 => {
                type $T = i64;
                $body
            }
            __D::Float16 => {
                type $T = half::f16;
                $body
            }
            __D::Bfloat16 => {
                type $T = half::bf16;
                $body
            }
            __D::Float32 => {
                type $T = f32;
                $body
            }
            __D::Float64 => {
                type $T = f64;
                $body
            }
            __D::Complex64 => {
                type $T = num_complex::Complex32;
                $body
            }
        }
    }};
}

/// `mx.finfo`: limits of a floating dtype.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Finfo {
    pub dtype: Dtype,
    pub bits: usize,
    pub min: f64,
    pub max: f64,
    pub eps: f64,
    pub smallest_normal: f64,
}

/// Limits of an inexact dtype; an error for integer dtypes.
pub fn finfo(dtype: Dtype) -> Result<Finfo> {
    let (max, eps, tiny) = match dtype {
        Float16 => (
            f16::MAX.to_f64(),
            f16::EPSILON.to_f64(),
            f16::MIN_POSITIVE.to_f64(),
        ),
        Bfloat16 => (
            bf16::MAX.to_f64(),
            bf16::EPSILON.to_f64(),
            bf16::MIN_POSITIVE.to_f64(),
        ),
        Float32 | Complex64 => (
            f32::MAX as f64,
            f32::EPSILON as f64,
            f32::MIN_POSITIVE as f64,
        ),
        Float64 => (f64::MAX, f64::EPSILON, f64::MIN_POSITIVE),
        d => return Err(Error::Invalid(format!("[finfo] dtype {d} is not inexact."))),
    };
    let dtype = if dtype == Complex64 { Float32 } else { dtype };
    Ok(Finfo {
        dtype,
        bits: dtype.size() * 8,
        min: -max,
        max,
        eps,
        smallest_normal: tiny,
    })
}

/// `mx.iinfo`: limits of an integer dtype.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Iinfo {
    pub dtype: Dtype,
    pub min: i128,
    pub max: i128,
}

/// Limits of an integer (or bool) dtype; an error for inexact dtypes.
pub fn iinfo(dtype: Dtype) -> Result<Iinfo> {
    let (min, max): (i128, i128) = match dtype {
        Bool => (0, 1),
        Uint8 => (0, u8::MAX as i128),
        Uint16 => (0, u16::MAX as i128),
        Uint32 => (0, u32::MAX as i128),
        Uint64 => (0, u64::MAX as i128),
        Int8 => (i8::MIN as i128, i8::MAX as i128),
        Int16 => (i16::MIN as i128, i16::MAX as i128),
        Int32 => (i32::MIN as i128, i32::MAX as i128),
        Int64 => (i64::MIN as i128, i64::MAX as i128),
        d => {
            return Err(Error::Invalid(format!(
                "[iinfo] dtype {d} is not integral."
            )))
        }
    };
    Ok(Iinfo { dtype, min, max })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_is_symmetric_except_documented() {
        for a in Dtype::ALL {
            for b in Dtype::ALL {
                assert_eq!(promote(a, b), promote(b, a), "{a} {b}");
            }
            assert_eq!(promote(a, a), a);
        }
    }

    #[test]
    fn promotion_spot_checks_against_mlx() {
        assert_eq!(promote(Uint64, Int8), Float32);
        assert_eq!(promote(Float16, Bfloat16), Float32);
        assert_eq!(promote(Int64, Float16), Float16);
        assert_eq!(promote(Float64, Complex64), Complex64);
        assert_eq!(promote(Uint8, Int8), Int16);
        assert_eq!(promote(Uint32, Int32), Int64);
    }

    #[test]
    fn casts_follow_mlx() {
        assert_eq!((-1.0f32).cast::<u8>(), 255);
        assert_eq!((2.9f32).cast::<i32>(), 2);
        assert_eq!((-2.9f64).cast::<i32>(), -2);
        assert_eq!(300i32.cast::<u8>(), 44);
        assert!(0.5f32.cast::<bool>());
        assert_eq!(true.cast::<f32>(), 1.0);
        assert_eq!(Complex32::new(3.0, 4.0).cast::<f32>(), 3.0);
    }

    #[test]
    fn categories() {
        assert!(issubdtype(Int8, DtypeCategory::Integer));
        assert!(issubdtype(Float16, DtypeCategory::Inexact));
        assert!(!issubdtype(Float16, DtypeCategory::Integer));
        assert!(issubdtype(Complex64, DtypeCategory::Number));
        assert!(issubdtype(Bool, DtypeCategory::Generic));
        assert!(!issubdtype(Bool, DtypeCategory::Number));
    }
}
