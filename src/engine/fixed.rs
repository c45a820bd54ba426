//! Signed 64-bit fixed-point activation (2⁻³² per unit).
//!
//! Every contribution is rounded once to this form and a hop's sums are integer additions, so
//! the order in which contributions are added (by one thread or several) cannot change the
//! result. That is what makes spreads bit-identical across thread counts and runs.

/// Fixed-point value of activation 1.0.
pub const ONE: i64 = 1 << 32;

/// `ONE` as a float, for scaling.
pub const SCALE: f64 = ONE as f64;

/// Rounds a value already scaled by [`SCALE`] to fixed point, to nearest with ties to even.
///
/// On x86-64 this is one `cvtsd2si` (SSE2, always present), which rounds by the MXCSR mode —
/// round-to-nearest-even, the mode Rust code always runs in. `f64::round` would be a library
/// call on baseline x86-64, and this sits in the innermost loop. Elsewhere it is
/// `round_ties_even`, which gives the same result, so spreads agree across platforms.
#[inline(always)]
pub fn round_scaled(x: f64) -> i64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe {
            use std::arch::x86_64::{_mm_cvtsd_si64, _mm_set_sd};
            _mm_cvtsd_si64(_mm_set_sd(x))
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        x.round_ties_even() as i64
    }
}

/// Converts an activation in [-1, 1]-ish float form to fixed point.
#[inline]
pub fn to_fixed(x: f64) -> i64 {
    round_scaled(x * SCALE)
}

/// Converts fixed point back to a float (exact: every i64 below 2⁵³ is representable).
/// A product with 2⁻³², which is exact like the division by 2³² and the same bits, without
/// the division's latency.
#[inline]
pub fn to_f64(x: i64) -> f64 {
    x as f64 * (1.0 / SCALE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rounding() {
        assert_eq!(to_fixed(1.0), ONE);
        assert_eq!(to_fixed(0.5), ONE / 2);
        assert_eq!(to_fixed(-0.25), -ONE / 4);
        assert_eq!(round_scaled(2.5), 2);
        assert_eq!(round_scaled(3.5), 4);
        assert_eq!(round_scaled(-2.5), -2);
        assert_eq!(round_scaled(2.49), 2);
        assert_eq!(round_scaled(-2.51), -3);
        for x in [0.0, 1.25, -7.5, 123456.5, 4294967296.0, -0.49] {
            assert_eq!(round_scaled(x), x.round_ties_even() as i64);
        }
        assert_eq!(to_f64(ONE / 4), 0.25);
    }
}
