//! Scalar arithmetic for every element type, with MLX's semantics: integers wrap, integer
//! division by zero gives 0, `%` takes the divisor's sign, NaN propagates through
//! `maximum`/`minimum`, f16/bf16 compute in f32.

use half::{bf16, f16};
use num_complex::Complex32;

/// The binary arithmetic of one element type.
pub trait Arith: Copy {
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    fn floor_div(self, o: Self) -> Self;
    fn rem(self, o: Self) -> Self;
    fn pow(self, o: Self) -> Self;
    fn max(self, o: Self) -> Self;
    fn min(self, o: Self) -> Self;
    fn lt(self, o: Self) -> bool;
    fn le(self, o: Self) -> bool;
    fn eq(self, o: Self) -> bool;
    fn is_nan(self) -> bool {
        false
    }
    fn zero() -> Self;
    fn one() -> Self;
    /// The lowest and highest values (−inf/inf for floats), for max/min reductions.
    fn lowest() -> Self;
    fn highest() -> Self;
}

macro_rules! int_arith {
    ($($t:ty, $signed:expr);*) => {$(
        impl Arith for $t {
            #[inline(always)] fn add(self, o: Self) -> Self { self.wrapping_add(o) }
            #[inline(always)] fn sub(self, o: Self) -> Self { self.wrapping_sub(o) }
            #[inline(always)] fn mul(self, o: Self) -> Self { self.wrapping_mul(o) }
            #[inline(always)] fn div(self, o: Self) -> Self { if o == 0 { 0 } else { self.wrapping_div(o) } }
            #[inline(always)]
            fn floor_div(self, o: Self) -> Self {
                if o == 0 { return 0; }
                let q = self.wrapping_div(o);
                #[allow(unused_comparisons)]
                let fix = $signed && (self % o != 0) && ((self < 0) != (o < 0));
                if fix { q.wrapping_sub(1) } else { q }
            }
            #[inline(always)]
            fn rem(self, o: Self) -> Self {
                if o == 0 { return self; }
                let r = self.wrapping_rem(o);
                #[allow(unused_comparisons)]
                let fix = $signed && r != 0 && ((r < 0) != (o < 0));
                if fix { r.wrapping_add(o) } else { r }
            }
            #[inline(always)]
            fn pow(self, o: Self) -> Self {
                #[allow(unused_comparisons)]
                if o < 0 { return 0; }
                let (mut base, mut exp, mut res) = (self, o, 1 as $t);
                while exp != 0 {
                    if exp & 1 == 1 { res = res.wrapping_mul(base); }
                    exp >>= 1;
                    base = base.wrapping_mul(base);
                }
                res
            }
            #[inline(always)] fn max(self, o: Self) -> Self { if self > o { self } else { o } }
            #[inline(always)] fn min(self, o: Self) -> Self { if self < o { self } else { o } }
            #[inline(always)] fn lt(self, o: Self) -> bool { self < o }
            #[inline(always)] fn le(self, o: Self) -> bool { self <= o }
            #[inline(always)] fn eq(self, o: Self) -> bool { self == o }
            fn zero() -> Self { 0 }
            fn one() -> Self { 1 }
            fn lowest() -> Self { <$t>::MIN }
            fn highest() -> Self { <$t>::MAX }
        }
    )*};
}
int_arith!(u8, false; u16, false; u32, false; u64, false; i8, true; i16, true; i32, true; i64, true);

macro_rules! float_arith {
    ($($t:ty);*) => {$(
        impl Arith for $t {
            #[inline(always)] fn add(self, o: Self) -> Self { self + o }
            #[inline(always)] fn sub(self, o: Self) -> Self { self - o }
            #[inline(always)] fn mul(self, o: Self) -> Self { self * o }
            #[inline(always)] fn div(self, o: Self) -> Self { self / o }
            #[inline(always)] fn floor_div(self, o: Self) -> Self { (self / o).floor() }
            #[inline(always)]
            fn rem(self, o: Self) -> Self {
                let r = self % o;
                if r != 0.0 && ((r < 0.0) != (o < 0.0)) { r + o } else { r }
            }
            #[inline(always)] fn pow(self, o: Self) -> Self { self.powf(o) }
            #[inline(always)]
            fn max(self, o: Self) -> Self { if self > o || self.is_nan() { self } else { o } }
            #[inline(always)]
            fn min(self, o: Self) -> Self { if self < o || self.is_nan() { self } else { o } }
            #[inline(always)] fn lt(self, o: Self) -> bool { self < o }
            #[inline(always)] fn le(self, o: Self) -> bool { self <= o }
            #[inline(always)] fn eq(self, o: Self) -> bool { self == o }
            #[inline(always)] fn is_nan(self) -> bool { self.is_nan() }
            fn zero() -> Self { 0.0 }
            fn one() -> Self { 1.0 }
            fn lowest() -> Self { <$t>::NEG_INFINITY }
            fn highest() -> Self { <$t>::INFINITY }
        }
    )*};
}
float_arith!(f32; f64);

macro_rules! half_arith {
    ($($t:ty);*) => {$(
        impl Arith for $t {
            #[inline(always)] fn add(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() + o.to_f32()) }
            #[inline(always)] fn sub(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() - o.to_f32()) }
            #[inline(always)] fn mul(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() * o.to_f32()) }
            #[inline(always)] fn div(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() / o.to_f32()) }
            #[inline(always)] fn floor_div(self, o: Self) -> Self { <$t>::from_f32(self.to_f32().floor_div(o.to_f32())) }
            #[inline(always)] fn rem(self, o: Self) -> Self { <$t>::from_f32(Arith::rem(self.to_f32(), o.to_f32())) }
            #[inline(always)] fn pow(self, o: Self) -> Self { <$t>::from_f32(self.to_f32().powf(o.to_f32())) }
            #[inline(always)] fn max(self, o: Self) -> Self { <$t>::from_f32(Arith::max(self.to_f32(), o.to_f32())) }
            #[inline(always)] fn min(self, o: Self) -> Self { <$t>::from_f32(Arith::min(self.to_f32(), o.to_f32())) }
            #[inline(always)] fn lt(self, o: Self) -> bool { self.to_f32() < o.to_f32() }
            #[inline(always)] fn le(self, o: Self) -> bool { self.to_f32() <= o.to_f32() }
            #[inline(always)] fn eq(self, o: Self) -> bool { self.to_f32() == o.to_f32() }
            #[inline(always)] fn is_nan(self) -> bool { self.is_nan() }
            fn zero() -> Self { <$t>::ZERO }
            fn one() -> Self { <$t>::ONE }
            fn lowest() -> Self { <$t>::NEG_INFINITY }
            fn highest() -> Self { <$t>::INFINITY }
        }
    )*};
}
half_arith!(f16; bf16);

impl Arith for bool {
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self | o
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        self ^ o
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        self & o
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        self & o
    }
    #[inline(always)]
    fn floor_div(self, o: Self) -> Self {
        self & o
    }
    #[inline(always)]
    fn rem(self, o: Self) -> Self {
        self & !o
    }
    #[inline(always)]
    fn pow(self, o: Self) -> Self {
        self | !o
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        self | o
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        self & o
    }
    #[inline(always)]
    fn lt(self, o: Self) -> bool {
        !self & o
    }
    #[inline(always)]
    fn le(self, o: Self) -> bool {
        !self | o
    }
    #[inline(always)]
    fn eq(self, o: Self) -> bool {
        self == o
    }
    fn zero() -> Self {
        false
    }
    fn one() -> Self {
        true
    }
    fn lowest() -> Self {
        false
    }
    fn highest() -> Self {
        true
    }
}

// Complex numbers order lexicographically (real, then imaginary), as MLX does.
impl Arith for Complex32 {
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self + o
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        self - o
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        self * o
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        self / o
    }
    #[inline(always)]
    fn floor_div(self, o: Self) -> Self {
        let q = self / o;
        Complex32::new(q.re.floor(), 0.0)
    }
    #[inline(always)]
    fn rem(self, o: Self) -> Self {
        self - o * self.floor_div(o)
    }
    #[inline(always)]
    fn pow(self, o: Self) -> Self {
        self.powc(o)
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        if o.lt(self) || self.is_nan() {
            self
        } else {
            o
        }
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        if self.lt(o) || self.is_nan() {
            self
        } else {
            o
        }
    }
    #[inline(always)]
    fn lt(self, o: Self) -> bool {
        self.re < o.re || (self.re == o.re && self.im < o.im)
    }
    #[inline(always)]
    fn le(self, o: Self) -> bool {
        self.lt(o) || self == o
    }
    #[inline(always)]
    fn eq(self, o: Self) -> bool {
        self == o
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        self.re.is_nan() || self.im.is_nan()
    }
    fn zero() -> Self {
        Complex32::new(0.0, 0.0)
    }
    fn one() -> Self {
        Complex32::new(1.0, 0.0)
    }
    fn lowest() -> Self {
        Complex32::new(f32::NEG_INFINITY, 0.0)
    }
    fn highest() -> Self {
        Complex32::new(f32::INFINITY, 0.0)
    }
}

/// Runs `$body` with `$T` bound to the element type of `$dtype`, for types implementing
/// [`Arith`] (all of them).
#[macro_export]
macro_rules! dispatch_arith {
    ($dtype:expr, $T:ident => $body:expr) => {
        $crate::dispatch_dtype!($dtype, $T => $body)
    };
}
