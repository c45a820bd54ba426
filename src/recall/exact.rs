//! The similarity that recall reports and seeds with: a dot product with one fixed order of
//! operations, so it is the same bits on every machine, whichever kernel chose the candidates.
//!
//! The fast scans ([`super::similarity`], [`super::quantized`]) only choose candidates; their
//! f32 kernels sum in different orders (and the int8 pass approximates), so their scores differ
//! between machines in the last bits. Each candidate is then scored here: f32 × f32 products
//! are exact in f64 (48 significant bits of 53), component `i` is added into lane `i mod 32`
//! in increasing `i`, and the lanes are combined in a fixed pairwise tree (lane `l` with lane
//! `l + 16`, then `l + 8`, …). IEEE arithmetic then fixes every bit; vectorising the same
//! source (the AVX2 and AVX-512 copies below) does not reorder anything, and contracting into
//! FMA would not change a bit either since the products are exact. Thirty-two lanes, rather
//! than eight, keep each lane's chain of dependent additions short (24 for 768 components), so
//! a row costs what its loads cost, not 96 add latencies.

use super::similarity::ranked;
use super::Embeddings;

/// `row · cue` in the fixed order described above, rounded once to f32.
#[inline]
pub fn canonical_dot(row: &[f32], cue: &[f32]) -> f32 {
    assert_eq!(row.len(), cue.len());
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx512f() {
            // SAFETY: the CPU has AVX-512F and the lengths are equal.
            return unsafe { x86::canonical_dot_avx512(row, cue) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 and the lengths are equal.
            return unsafe { x86::canonical_dot_avx2(row, cue) };
        }
    }
    canonical_dot_portable(row, cue)
}

/// Lanes of the fixed summation order.
const LANES: usize = 32;

/// The definition: every other copy must give these bits.
fn canonical_dot_portable(row: &[f32], cue: &[f32]) -> f32 {
    let mut acc = [0f64; LANES];
    let whole = row.len() / LANES * LANES;
    for (r, c) in row[..whole]
        .chunks_exact(LANES)
        .zip(cue[..whole].chunks_exact(LANES))
    {
        for l in 0..LANES {
            acc[l] += f64::from(r[l]) * f64::from(c[l]);
        }
    }
    finish(acc, &row[whole..], &cue[whole..])
}

/// Adds the last `row.len() mod 32` components into their lanes, then combines the lanes in
/// the fixed tree. Shared by every copy, so the tail and the tree are one piece of code.
#[inline(always)]
fn finish(mut acc: [f64; LANES], row_tail: &[f32], cue_tail: &[f32]) -> f32 {
    for (l, (r, c)) in row_tail.iter().zip(cue_tail).enumerate() {
        acc[l] += f64::from(*r) * f64::from(*c);
    }
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            acc[l] += acc[l + width];
        }
        width /= 2;
    }
    // `+ 0.0` turns a −0 into +0, so equal scores also compare equal under `total_cmp`.
    acc[0] as f32 + 0.0
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The same order with explicit vectors: lane `l` of accumulator `a` holds the components
    //! `i` with `i mod 32 = 8a + l` (AVX-512: four vectors of eight f64) or `4a + l` (AVX2:
    //! eight vectors of four). FMA on an exact product rounds exactly as mul + add does.

    use super::{finish, LANES};
    use std::arch::x86_64::*;

    #[rustversion::before(1.89)]
    pub unsafe fn canonical_dot_avx512(_: &[f32], _: &[f32]) -> f32 {
        unreachable!("the AVX-512 copy is not built with this compiler")
    }

    /// # Safety
    /// The CPU must support AVX-512F; `row.len() == cue.len()`.
    #[rustversion::since(1.89)]
    #[allow(clippy::incompatible_msrv)]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn canonical_dot_avx512(row: &[f32], cue: &[f32]) -> f32 {
        let whole = row.len() / LANES * LANES;
        let (r, c) = (row.as_ptr(), cue.as_ptr());
        let mut a = [_mm512_setzero_pd(); 4];
        let mut i = 0;
        while i < whole {
            for (k, acc) in a.iter_mut().enumerate() {
                // SAFETY: i + 8k + 8 ≤ whole ≤ len.
                unsafe {
                    let x = _mm512_cvtps_pd(_mm256_loadu_ps(r.add(i + 8 * k)));
                    let y = _mm512_cvtps_pd(_mm256_loadu_ps(c.add(i + 8 * k)));
                    *acc = _mm512_fmadd_pd(x, y, *acc);
                }
            }
            i += LANES;
        }
        let mut lanes = [0f64; LANES];
        for (k, acc) in a.iter().enumerate() {
            // SAFETY: eight f64 fit at 8k of 32.
            unsafe { _mm512_storeu_pd(lanes.as_mut_ptr().add(8 * k), *acc) };
        }
        finish(lanes, &row[whole..], &cue[whole..])
    }

    /// # Safety
    /// The CPU must support AVX2; `row.len() == cue.len()`. (No FMA needed: the products are
    /// exact, so multiply then add rounds once, as FMA would.)
    #[target_feature(enable = "avx2")]
    pub unsafe fn canonical_dot_avx2(row: &[f32], cue: &[f32]) -> f32 {
        let whole = row.len() / LANES * LANES;
        let (r, c) = (row.as_ptr(), cue.as_ptr());
        let mut a = [_mm256_setzero_pd(); 8];
        let mut i = 0;
        while i < whole {
            for (k, acc) in a.iter_mut().enumerate() {
                // SAFETY: i + 4k + 4 ≤ whole ≤ len.
                unsafe {
                    let x = _mm256_cvtps_pd(_mm_loadu_ps(r.add(i + 4 * k)));
                    let y = _mm256_cvtps_pd(_mm_loadu_ps(c.add(i + 4 * k)));
                    *acc = _mm256_add_pd(*acc, _mm256_mul_pd(x, y));
                }
            }
            i += LANES;
        }
        let mut lanes = [0f64; LANES];
        for (k, acc) in a.iter().enumerate() {
            // SAFETY: four f64 fit at 4k of 32.
            unsafe { _mm256_storeu_pd(lanes.as_mut_ptr().add(4 * k), *acc) };
        }
        finish(lanes, &row[whole..], &cue[whole..])
    }
}

/// Scores `candidates` (distinct row ids) against `cue` with [`canonical_dot`] and keeps the
/// best `k` in `out`, ranked by score descending, then id ascending.
pub fn rerank(
    emb: &Embeddings,
    cue: &[f32],
    candidates: &[u32],
    k: usize,
    out: &mut Vec<(u32, f32)>,
) {
    out.clear();
    for &id in candidates.iter().take(RERANK_PREFETCH_ROWS) {
        prefetch_row(emb.row(id as usize));
    }
    for (i, &id) in candidates.iter().enumerate() {
        // The candidates' rows are scattered over 30 MB that the scan just streamed past, so
        // each would start with a miss to memory: later rows are fetched while this one is
        // scored.
        if let Some(&next) = candidates.get(i + RERANK_PREFETCH_ROWS) {
            prefetch_row(emb.row(next as usize));
        }
        out.push((id, canonical_dot(emb.row(id as usize), cue)));
    }
    if k < out.len() {
        out.select_nth_unstable_by(k, ranked);
        out.truncate(k);
    }
    out.sort_unstable_by(ranked);
}

/// Rows fetched ahead of the one being scored (3 KB each at dim 768).
const RERANK_PREFETCH_ROWS: usize = 4;

/// Asks for every cache line of `row`.
#[inline]
fn prefetch_row(row: &[f32]) {
    const PER_LINE: usize = 64 / std::mem::size_of::<f32>();
    for chunk in row.chunks(PER_LINE) {
        crate::engine::prefetch::prefetch(chunk.as_ptr());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order is what the documentation says, checked against a plain loop over the lanes.
    #[test]
    fn the_dot_follows_the_documented_order() {
        for dim in [21, 32, 77, 768] {
            let row: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
            let cue: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut l = [0f64; 32];
            for i in 0..dim {
                l[i % 32] += f64::from(row[i]) * f64::from(cue[i]);
            }
            // The tree written out: lane l + 16, then + 8, + 4, + 2, + 1.
            let t16: Vec<f64> = (0..16).map(|i| l[i] + l[i + 16]).collect();
            let t8: Vec<f64> = (0..8).map(|i| t16[i] + t16[i + 8]).collect();
            let t4 = [t8[0] + t8[4], t8[1] + t8[5], t8[2] + t8[6], t8[3] + t8[7]];
            let t2 = [t4[0] + t4[2], t4[1] + t4[3]];
            let want = (t2[0] + t2[1]) as f32;
            assert_eq!(canonical_dot(&row, &cue).to_bits(), want.to_bits(), "{dim}");
            assert_eq!(canonical_dot_portable(&row, &cue).to_bits(), want.to_bits());
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                let v = unsafe { x86::canonical_dot_avx2(&row, &cue) };
                assert_eq!(v.to_bits(), want.to_bits(), "avx2 {dim}");
            }
        }
    }

    #[test]
    fn a_negative_zero_score_is_positive_zero() {
        assert_eq!(canonical_dot(&[-1.0, 0.0], &[0.0, 1.0]).to_bits(), 0);
    }
}
