//! The dense last hop's first-contact filter in one AVX-512 pass over the marks, for storage
//! tiers ([`TierPolicy::Storage`], the default).
//!
//! The portable filter lists the marked targets and then reads each one's node state (its
//! activation and storage tier: two loads from a 32-byte record, a third of the graph's
//! records on warm-10k) to apply the first-contact test. Here the test reads only dense
//! arrays, 16 nodes a step, with no gather and no branch: the marks, a byte per node saying
//! "activation ≠ 0" (written beforehand from the spread's few activated nodes, the only ones
//! whose activation can be nonzero), the storage tiers (copied once per bound graph) and the
//! sums (zero where unmarked, so read and written back whole, kept lanes kept and the rest
//! zeroed: masked loads and stores of them made the hop slower than the portable filter on
//! this project's Zen 4 VM). What it keeps — ids ascending, their sums left in place for
//! [`apply_kept`] — is what the portable filter keeps, and it zeroes the same arrays. The
//! masks of the mark and activity bytes come straight from the bytes (AVX-512BW/VL), the
//! counts of kept lanes from POPCNT, and the kept ids go out as whole vectors.
//!
//! [`apply_kept`]: super::dense::apply_kept
//!
//! [`TierPolicy::Storage`]: crate::engine::model::TierPolicy::Storage

use super::dense::DenseRange;

/// What [`filter`] counted.
pub(super) struct Filtered {
    /// Marked targets (the hop's touched ones).
    pub(super) touched: usize,
    /// Of those, the ones kept, written to the front of the keep list.
    pub(super) kept: usize,
}

/// Keeps every marked node of the range whose activation is nonzero (`range.active`) or whose
/// sum reaches `threshold[storage tier]`: its id to `keep_ids`, ascending, and its sum left
/// in place. Zeroes the marks, the activity bytes and every other sum.
///
/// # Safety
/// The CPU has AVX-512F, BW and VL and POPCNT ([`MarkScan::Avx512`] is available) and the
/// compiler built the kernel ([`crate::simd::avx512f`]); `range`'s byte arrays and its sums
/// have the same length, a multiple of 16, and its ids stay below 2³²; `keep_ids` has room
/// for as many entries as the range has nodes (the kernel writes whole vectors past the last
/// one it keeps).
///
/// [`MarkScan::Avx512`]: crate::engine::marks::MarkScan::Avx512
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn filter(
    range: &mut DenseRange<'_>,
    threshold: [i64; 4],
    keep_ids: *mut u32,
) -> Filtered {
    // SAFETY: the caller's contract.
    unsafe { x86::filter(range, threshold, keep_ids) }
}

/// Stands in for the kernel off x86-64; never called, since [`MarkScan::Avx512`] (which
/// chooses it) is never available there.
///
/// [`MarkScan::Avx512`]: crate::engine::marks::MarkScan::Avx512
#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn filter(_: &mut DenseRange<'_>, _: [i64; 4], _: *mut u32) -> Filtered {
    unreachable!("the AVX-512 filter exists only on x86-64")
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{DenseRange, Filtered};

    #[rustversion::before(1.89)]
    pub unsafe fn filter(_: &mut DenseRange<'_>, _: [i64; 4], _: *mut u32) -> Filtered {
        unreachable!("the AVX-512 kernel is not built with this compiler")
    }

    /// # Safety
    /// [`super::filter`]'s.
    #[rustversion::since(1.89)]
    #[allow(clippy::incompatible_msrv)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,popcnt")]
    pub unsafe fn filter(
        range: &mut DenseRange<'_>,
        threshold: [i64; 4],
        keep_ids: *mut u32,
    ) -> Filtered {
        use std::arch::x86_64::*;
        let DenseRange {
            base,
            sums,
            marks,
            active,
            tiers,
        } = range;
        let base = *base;
        let n = marks.len();
        assert!(active.len() == n && tiers.len() == n && sums.len() == n);
        // Whole steps: the whole-vector stores of kept ids rely on it too.
        assert!(n.is_multiple_of(16));
        let (marks, active) = (marks.as_mut_ptr(), active.as_mut_ptr());
        let (tiers, sums) = (tiers.as_ptr(), sums.as_mut_ptr());
        // `permutexvar` picks by the low 3 bits of a lane: tiers 0..=3 take entries 0..=3.
        let [t0, t1, t2, t3] = threshold;
        let thresholds = _mm512_setr_epi64(t0, t1, t2, t3, t0, t1, t2, t3);
        let first = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let mut ids = _mm512_add_epi32(first, _mm512_set1_epi32(base as i32));
        let step = _mm512_set1_epi32(16);
        let (mut touched, mut kept) = (0usize, 0usize);
        for i in (0..n).step_by(16) {
            // SAFETY: `i + 16 <= n`, the length of the byte arrays and of the sums. The keep
            // list is written a whole vector at a time, past what is kept: at `kept` ≤ `i`
            // (at most every node before this step was kept), 16 ids end at most at
            // `i + 16` ≤ `n`, within its room for `n` (the caller's contract); each later
            // store starts where the kept ones end, so what a store leaves past them is
            // overwritten or past the length.
            unsafe {
                let m = marks.add(i).cast::<__m128i>();
                let a = active.add(i).cast::<__m128i>();
                let (mv, av) = (_mm_loadu_si128(m), _mm_loadu_si128(a));
                _mm_storeu_si128(m, _mm_setzero_si128());
                _mm_storeu_si128(a, _mm_setzero_si128());
                // One mask bit per node straight from its byte (AVX-512BW and VL).
                let km = _mm_test_epi8_mask(mv, mv);
                let ka = _mm_test_epi8_mask(av, av);
                let tv = _mm_loadu_si128(tiers.add(i).cast());
                let (s0, s1) = (sums.add(i), sums.add(i + 8));
                let (lo, hi) = (_mm512_loadu_si512(s0.cast()), _mm512_loadu_si512(s1.cast()));
                let th0 = _mm512_permutexvar_epi64(_mm512_cvtepu8_epi64(tv), thresholds);
                let th1 = _mm512_permutexvar_epi64(
                    _mm512_cvtepu8_epi64(_mm_srli_si128::<8>(tv)),
                    thresholds,
                );
                let reach = u16::from(_mm512_cmpge_epi64_mask(lo, th0))
                    | u16::from(_mm512_cmpge_epi64_mask(hi, th1)) << 8;
                let keep = km & (ka | reach);
                // The kept sums stay for `apply_kept`; every other one is zeroed (the same
                // two stores that zeroing all of them took).
                _mm512_storeu_si512(s0.cast(), _mm512_maskz_mov_epi64(keep as u8, lo));
                _mm512_storeu_si512(s1.cast(), _mm512_maskz_mov_epi64((keep >> 8) as u8, hi));
                _mm512_storeu_si512(
                    keep_ids.add(kept).cast(),
                    _mm512_maskz_compress_epi32(keep, ids),
                );
                touched += km.count_ones() as usize;
                kept += keep.count_ones() as usize;
            }
            ids = _mm512_add_epi32(ids, step);
        }
        Filtered { touched, kept }
    }
}
