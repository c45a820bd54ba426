//! The similarity that recall reports and seeds with: a dot product with one fixed order of
//! operations, so it is the same bits on every machine, whichever kernel chose the candidates.
//!
//! The fast scans ([`super::similarity`], [`super::quantized`]) only choose candidates; their
//! f32 kernels sum in different orders (and the int8 pass approximates), so their scores differ
//! between machines in the last bits. Each candidate is then scored here: f32 × f32 products
//! are exact in f64 (48 significant bits of 53), component `i` is added into lane `i mod 8`
//! in increasing `i`, and the lanes are combined in a fixed tree. IEEE arithmetic then fixes
//! every bit; vectorising the same source (the AVX2 copy below) does not reorder anything, and
//! contracting into FMA would not change a bit either since the products are exact.

use super::similarity::ranked;
use super::Embeddings;

/// `row · cue` in the fixed order described above, rounded once to f32.
#[inline]
pub fn canonical_dot(row: &[f32], cue: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { canonical_dot_avx2(row, cue) };
    }
    canonical_dot_portable(row, cue)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn canonical_dot_avx2(row: &[f32], cue: &[f32]) -> f32 {
    canonical_dot_portable(row, cue)
}

#[inline(always)]
fn canonical_dot_portable(row: &[f32], cue: &[f32]) -> f32 {
    assert_eq!(row.len(), cue.len());
    let mut acc = [0f64; 8];
    let mut rc = row.chunks_exact(8);
    let mut cc = cue.chunks_exact(8);
    for (r, c) in (&mut rc).zip(&mut cc) {
        for l in 0..8 {
            acc[l] += f64::from(r[l]) * f64::from(c[l]);
        }
    }
    for (l, (r, c)) in rc.remainder().iter().zip(cc.remainder()).enumerate() {
        acc[l] += f64::from(*r) * f64::from(*c);
    }
    let s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    // `+ 0.0` turns a −0 into +0, so equal scores also compare equal under `total_cmp`.
    s as f32 + 0.0
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
    out.extend(
        candidates
            .iter()
            .map(|&id| (id, canonical_dot(emb.row(id as usize), cue))),
    );
    if k < out.len() {
        out.select_nth_unstable_by(k, ranked);
        out.truncate(k);
    }
    out.sort_unstable_by(ranked);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order is what the documentation says, checked against a plain loop over the lanes.
    #[test]
    fn the_dot_follows_the_documented_order() {
        let row: Vec<f32> = (0..21).map(|i| (i as f32 * 0.37).sin()).collect();
        let cue: Vec<f32> = (0..21).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut lanes = [0f64; 8];
        for i in 0..21 {
            lanes[i % 8] += f64::from(row[i]) * f64::from(cue[i]);
        }
        let l = lanes;
        let want = (((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))) as f32;
        assert_eq!(canonical_dot(&row, &cue).to_bits(), want.to_bits());
        assert_eq!(canonical_dot_portable(&row, &cue).to_bits(), want.to_bits());
    }

    #[test]
    fn a_negative_zero_score_is_positive_zero() {
        assert_eq!(canonical_dot(&[-1.0, 0.0], &[0.0, 1.0]).to_bits(), 0);
    }
}
