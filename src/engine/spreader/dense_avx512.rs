//! The dense last hop's first-contact filter in one AVX-512 pass over the marks, for storage
//! tiers ([`TierPolicy::Storage`], the default).
//!
//! The portable filter lists the marked targets and then reads each one's node state (its
//! activation and storage tier: two loads from a 32-byte record, a third of the graph's
//! records on warm-10k) to apply the first-contact test. Here the test reads only dense
//! arrays, 16 nodes a step, with no gather and no branch: the marks, a byte per node saying
//! "activation ≠ 0" (written beforehand from the spread's few activated nodes, the only ones
//! whose activation can be nonzero), the storage tiers (copied once per bound graph) and the
//! sums (zero where unmarked, so read and zeroed whole: masked loads and stores of them made
//! the hop slower than the portable filter on this project's Zen 4 VM). What it keeps — ids
//! ascending and their sums — is what the portable filter keeps, and it zeroes the same
//! arrays.
//!
//! [`TierPolicy::Storage`]: crate::engine::model::TierPolicy::Storage

use super::dense::DenseRange;

/// What [`filter`] counted.
pub(super) struct Filtered {
    /// Marked targets (the hop's touched ones).
    pub(super) touched: usize,
    /// Of those, the ones kept, written to the front of the keep lists.
    pub(super) kept: usize,
}

/// Keeps every marked node of the range whose activation is nonzero (`range.active`) or whose
/// sum reaches `threshold[storage tier]`: its id to `keep_ids`, its sum to `keep_sums`,
/// ascending. Zeroes the marks, the activity bytes and the sums it reads.
///
/// # Safety
/// The CPU has AVX-512F and POPCNT ([`MarkScan::Avx512`] is available) and the compiler
/// built the kernel ([`crate::simd::avx512f`]);
/// `range`'s byte arrays and its sums have the same length, a multiple of 16, and its ids
/// stay below 2³²; `keep_ids` and `keep_sums` have room for every marked node.
///
/// [`MarkScan::Avx512`]: crate::engine::marks::MarkScan::Avx512
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn filter(
    range: DenseRange<'_>,
    threshold: [i64; 4],
    keep_ids: *mut u32,
    keep_sums: *mut i64,
) -> Filtered {
    // SAFETY: the caller's contract.
    unsafe { x86::filter(range, threshold, keep_ids, keep_sums) }
}

/// Stands in for the kernel off x86-64; never called, since [`MarkScan::Avx512`] (which
/// chooses it) is never available there.
///
/// [`MarkScan::Avx512`]: crate::engine::marks::MarkScan::Avx512
#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn filter(_: DenseRange<'_>, _: [i64; 4], _: *mut u32, _: *mut i64) -> Filtered {
    unreachable!("the AVX-512 filter exists only on x86-64")
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{DenseRange, Filtered};

    #[rustversion::before(1.89)]
    pub unsafe fn filter(_: DenseRange<'_>, _: [i64; 4], _: *mut u32, _: *mut i64) -> Filtered {
        unreachable!("the AVX-512 kernel is not built with this compiler")
    }

    /// # Safety
    /// [`super::filter`]'s.
    #[rustversion::since(1.89)]
    #[allow(clippy::incompatible_msrv)]
    #[target_feature(enable = "avx512f,popcnt")]
    pub unsafe fn filter(
        range: DenseRange<'_>,
        threshold: [i64; 4],
        keep_ids: *mut u32,
        keep_sums: *mut i64,
    ) -> Filtered {
        use std::arch::x86_64::*;
        let DenseRange {
            base,
            sums,
            marks,
            active,
            tiers,
        } = range;
        let n = marks.len();
        assert!(active.len() == n && tiers.len() == n && sums.len() == n);
        debug_assert!(n.is_multiple_of(16));
        let (marks, active) = (marks.as_mut_ptr(), active.as_mut_ptr());
        let (tiers, sums) = (tiers.as_ptr(), sums.as_mut_ptr());
        // `permutexvar` picks by the low 3 bits of a lane: tiers 0..=3 take entries 0..=3.
        let [t0, t1, t2, t3] = threshold;
        let thresholds = _mm512_setr_epi64(t0, t1, t2, t3, t0, t1, t2, t3);
        let zero = _mm512_setzero_si512();
        let first = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let mut ids = _mm512_add_epi32(first, _mm512_set1_epi32(base as i32));
        let step = _mm512_set1_epi32(16);
        let (mut touched, mut kept) = (0usize, 0usize);
        for i in (0..n).step_by(16) {
            // SAFETY: `i + 16 <= n`, the length of the byte arrays and of the sums; the keep
            // lists have room for every marked node, and `kept` counts kept ones only, so
            // the masked stores of `k` lanes at `kept` stay inside.
            unsafe {
                let m = marks.add(i).cast::<__m128i>();
                let a = active.add(i).cast::<__m128i>();
                let marked = _mm512_cvtepu8_epi32(_mm_loadu_si128(m));
                let act = _mm512_cvtepu8_epi32(_mm_loadu_si128(a));
                _mm_storeu_si128(m, _mm_setzero_si128());
                _mm_storeu_si128(a, _mm_setzero_si128());
                let km = _mm512_test_epi32_mask(marked, marked);
                let ka = _mm512_test_epi32_mask(act, act);
                let tv = _mm_loadu_si128(tiers.add(i).cast());
                touched += km.count_ones() as usize;
                let mut keep: u16 = 0;
                let mut kept_sums = [zero; 2];
                let mut kept_counts = [0usize; 2];
                for (h, tier_bytes) in [tv, _mm_srli_si128::<8>(tv)].into_iter().enumerate() {
                    let kh = (km >> (8 * h)) as u8;
                    let p = sums.add(i + 8 * h);
                    let s = _mm512_loadu_si512(p.cast());
                    _mm512_storeu_si512(p.cast(), zero);
                    let th = _mm512_permutexvar_epi64(_mm512_cvtepu8_epi64(tier_bytes), thresholds);
                    let kk = kh & (((ka >> (8 * h)) as u8) | _mm512_cmpge_epi64_mask(s, th));
                    keep |= u16::from(kk) << (8 * h);
                    kept_sums[h] = _mm512_maskz_compress_epi64(kk, s);
                    kept_counts[h] = kk.count_ones() as usize;
                }
                let k = keep.count_ones() as usize;
                let idv = _mm512_maskz_compress_epi32(keep, ids);
                _mm512_mask_storeu_epi32(keep_ids.add(kept).cast(), prefix16(k), idv);
                let (lo, hi) = (kept_counts[0], kept_counts[1]);
                _mm512_mask_storeu_epi64(keep_sums.add(kept), prefix8(lo), kept_sums[0]);
                _mm512_mask_storeu_epi64(keep_sums.add(kept + lo), prefix8(hi), kept_sums[1]);
                kept += k;
            }
            ids = _mm512_add_epi32(ids, step);
        }
        Filtered { touched, kept }
    }

    /// The mask of the first `k` of 16 lanes.
    #[inline(always)]
    fn prefix16(k: usize) -> u16 {
        ((1u32 << k) - 1) as u16
    }

    /// The mask of the first `k` of 8 lanes.
    #[inline(always)]
    fn prefix8(k: usize) -> u8 {
        ((1u32 << k) - 1) as u8
    }
}
