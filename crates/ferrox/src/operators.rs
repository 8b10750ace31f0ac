//! Operators on `&Array` (and scalars), each returning `Result<Array>`: shapes are
//! checked when the operator runs, so `(&a + &b)?` reports a mismatch there.

use crate::array::Array;
use crate::ops::{self, Operand};
use crate::Result;
use std::ops::{Add, BitAnd, BitOr, BitXor, Div, Mul, Neg, Not, Rem, Shl, Shr, Sub};

macro_rules! binary_operator {
    ($($trait:ident $method:ident => $f:path;)*) => {$(
        impl<T: Into<Operand>> $trait<T> for &Array {
            type Output = Result<Array>;
            fn $method(self, rhs: T) -> Result<Array> {
                $f(self, rhs)
            }
        }
        impl<T: Into<Operand>> $trait<T> for Array {
            type Output = Result<Array>;
            fn $method(self, rhs: T) -> Result<Array> {
                $f(&self, rhs)
            }
        }
    )*};
}

binary_operator! {
    Add add => ops::add;
    Sub sub => ops::subtract;
    Mul mul => ops::multiply;
    Div div => ops::divide;
    Rem rem => ops::remainder;
    BitAnd bitand => ops::bitwise_and;
    BitOr bitor => ops::bitwise_or;
    BitXor bitxor => ops::bitwise_xor;
    Shl shl => ops::left_shift;
    Shr shr => ops::right_shift;
}

macro_rules! scalar_lhs {
    ($($t:ty),*) => {$(
        impl Add<&Array> for $t { type Output = Result<Array>; fn add(self, r: &Array) -> Result<Array> { ops::add(self, r) } }
        impl Sub<&Array> for $t { type Output = Result<Array>; fn sub(self, r: &Array) -> Result<Array> { ops::subtract(self, r) } }
        impl Mul<&Array> for $t { type Output = Result<Array>; fn mul(self, r: &Array) -> Result<Array> { ops::multiply(self, r) } }
        impl Div<&Array> for $t { type Output = Result<Array>; fn div(self, r: &Array) -> Result<Array> { ops::divide(self, r) } }
    )*};
}
scalar_lhs!(f32, f64, i32, i64);

impl Neg for &Array {
    type Output = Result<Array>;
    fn neg(self) -> Result<Array> {
        ops::negative(self)
    }
}
impl Neg for Array {
    type Output = Result<Array>;
    fn neg(self) -> Result<Array> {
        ops::negative(&self)
    }
}
/// `!a`: bitwise invert for integers, logical not for bool (as `~` in Python).
impl Not for &Array {
    type Output = Result<Array>;
    fn not(self) -> Result<Array> {
        ops::bitwise_invert(self)
    }
}
