//! `exp`, `tanh` and `sigmoid` for f32 written as plain arithmetic (range reduction, a
//! polynomial, exponent bits), so that a loop over them vectorises: `f32::exp` and
//! `f32::tanh` call libm one element at a time, which made them the slowest part of any
//! elementwise chain (GELU, softmax, sigmoid). Accuracy: within 2 ulp of the correctly
//! rounded result over the whole range (tested below against f64); NaN, ±inf, overflow
//! to inf and underflow to subnormals and 0 behave as `f32::exp` does.
//!
//! The constants are the classic single-precision minimax coefficients (Cephes). The
//! polynomials use fused multiply-adds (`mul_add`): one instruction where the kernel
//! was compiled for FMA (every x86-64 CPU since 2013, all aarch64), a correctly rounded
//! library call elsewhere, so results are the same bits on every CPU.
//! f64 keeps the standard library's functions.

/// Float math with a fast, vectorisable f32 form.
pub trait VMath: Copy {
    fn vexp(self) -> Self;
    fn vtanh(self) -> Self;
    fn vsigmoid(self) -> Self;
}

impl VMath for f32 {
    #[inline(always)]
    fn vexp(self) -> f32 {
        exp_f32(self)
    }
    #[inline(always)]
    fn vtanh(self) -> f32 {
        tanh_f32(self)
    }
    #[inline(always)]
    fn vsigmoid(self) -> f32 {
        1.0 / (1.0 + exp_f32(-self))
    }
}

impl VMath for f64 {
    #[inline(always)]
    fn vexp(self) -> f64 {
        self.exp()
    }
    #[inline(always)]
    fn vtanh(self) -> f64 {
        self.tanh()
    }
    #[inline(always)]
    fn vsigmoid(self) -> f64 {
        1.0 / (1.0 + (-self).exp())
    }
}

/// `2^n` for an integer-valued `n` in the normal exponent range [-126, 127].
///
/// The integer comes from the bits of `n + 1.5·2^23` (whose low mantissa bits are then
/// `n`), not from `n as i32`: Rust's saturating float-to-int cast checks each lane for
/// NaN and range, which scalarised every loop over `exp_f32`.
#[inline(always)]
fn pow2i(n: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    let i = (n + MAGIC).to_bits().wrapping_sub(MAGIC.to_bits());
    f32::from_bits(i.wrapping_add(127) << 23)
}

/// `(n, e^r)` with `x = n ln2 + r`, `|r| <= ln2/2` (`n` integer-valued): e^x is
/// `e^r · 2^n`, which the callers scale as their ranges allow.
#[inline(always)]
fn exp_reduced(x: f32) -> (f32, f32) {
    // ln2 split in two so that n ln2 is exact.
    let n = (x * std::f32::consts::LOG2_E).round();
    let r = n.mul_add(2.121_944_4e-4, n.mul_add(-0.693_359_375, x));
    let p = 1.987_569_1e-4_f32;
    let p = p.mul_add(r, 1.398_199_9e-3);
    let p = p.mul_add(r, 8.333_452e-3);
    let p = p.mul_add(r, 4.166_579_6e-2);
    let p = p.mul_add(r, 1.666_666_5e-1);
    let p = p.mul_add(r, 5.000_000_1e-1);
    (n, (p * r).mul_add(r, r) + 1.0)
}

/// e^x.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    // Past these, e^x is inf or below the smallest subnormal; clamping keeps the
    // exponent arithmetic below in range and still rounds to inf / 0.
    let xc = x.clamp(-104.0, 89.0);
    let (n, er) = exp_reduced(xc);
    // 2^n in two halves, each a normal number, so that the product under- and overflows
    // gradually, as the true result does.
    let h = (n * 0.5).floor();
    let y = er * pow2i(h) * pow2i(n - h);
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// tanh(x): a polynomial near 0 (where 1 - 2/(e^2x + 1) loses digits), that form beyond.
///
/// The exponential is `exp_f32`'s reduction and polynomial, scaled for the range it
/// meets here: past |x| = 9.1 tanh rounds to ±1, so |x| is clamped there, 2|x| lies in
/// [1.25, 18.2] and `2^n` is one normal number (no overflow split, no NaN or infinity
/// case). A quarter fewer instructions than through `exp_f32`: tanh is the costly step
/// of GELU.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let p = -5.704_988_7e-3_f32;
    let p = p.mul_add(z, 2.063_908_9e-2);
    let p = p.mul_add(z, -5.373_971_6e-2);
    let p = p.mul_add(z, 1.333_144_2e-1);
    let p = p.mul_add(z, -3.333_328_2e-1);
    // As x (1 + z p) rather than x + x z p, so that tanh(-0) = -0.
    let small = x * z.mul_add(p, 1.0);
    // (One `min` instruction; a NaN becomes 9.1 here, and takes `small` below.)
    let t = 2.0 * if a < 9.1 { a } else { 9.1 };
    let (n, er) = exp_reduced(t);
    let e = er * pow2i(n);
    let large = (1.0 - 2.0 / (e + 1.0)).copysign(x);
    // (`>=`, so that NaN, unordered, is `small`: NaN.)
    if a >= 0.625 {
        large
    } else {
        small
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distance in units of the last place between `got` and the f64 value `want`.
    fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        if got == w || (got.is_nan() && want.is_nan()) {
            return 0.0;
        }
        let ulp = (f32::from_bits(w.abs().to_bits() + 1) - w.abs()) as f64;
        (got as f64 - want).abs() / ulp.max(f32::from_bits(1) as f64)
    }

    fn sweep(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| lo + (hi - lo) * i as f32 / n as f32)
    }

    #[test]
    fn exp_within_two_ulp() {
        let mut worst = 0.0f64;
        for x in sweep(-103.0, 88.7, 400_000).chain(sweep(-1.0, 1.0, 100_000)) {
            worst = worst.max(ulps(exp_f32(x), (x as f64).exp()));
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(89.0), f32::INFINITY);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(-200.0), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
        // Subnormal results are right to the last (subnormal) place.
        let s = exp_f32(-100.0);
        assert!((s - (-100f64).exp() as f32).abs() <= f32::from_bits(1));
    }

    #[test]
    fn tanh_within_two_ulp() {
        let mut worst = 0.0f64;
        for x in sweep(-12.0, 12.0, 400_000).chain(sweep(-0.01, 0.01, 10_000)) {
            worst = worst.max(ulps(tanh_f32(x), (x as f64).tanh()));
        }
        // Every 16th float from 0.5 to 10: both sides of the switch at 0.625 and of
        // the clamp at 9.1, where tanh starts to round to 1.
        let (lo, hi) = (0.5f32.to_bits(), 10.0f32.to_bits());
        for x in (lo..hi).step_by(16).map(f32::from_bits) {
            worst = worst.max(ulps(tanh_f32(x), (x as f64).tanh()));
            worst = worst.max(ulps(tanh_f32(-x), (-x as f64).tanh()));
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
        assert_eq!(tanh_f32(0.0), 0.0);
        assert!(tanh_f32(-0.0).is_sign_negative());
        assert_eq!(tanh_f32(100.0), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(1e-30), 1e-30);
    }
}
