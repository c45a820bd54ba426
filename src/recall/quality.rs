//! How good seeding is, measured rather than assumed: recall@k of a seeding mode against the
//! exact scan over a stretch of the cue stream.

use super::pipeline::{RecallConfig, RecallScratch, SeedIndex, SimilarityMode};
use super::{CueStream, Embeddings};

/// recall@k over `requests` cues: the mean and the lowest of |top-k ∩ exact top-k| / k.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecallAtK {
    pub requests: u64,
    pub k: usize,
    pub mean: f64,
    pub min: f64,
}

/// Replays `requests` cues of `cues` and compares `config.similarity`'s top-k with the exact
/// scan's (both re-scored exactly, so they differ only in which rows were candidates).
pub fn recall_at_k(
    index: &SeedIndex,
    cues: &mut CueStream,
    config: &RecallConfig,
    requests: usize,
) -> RecallAtK {
    let emb: &Embeddings = index.embeddings();
    let k = config.max_candidates.min(emb.len());
    let mut scratch = RecallScratch::for_config(config);
    let (mut got, mut want) = (Vec::new(), Vec::new());
    let (mut ids_got, mut ids_want) = (Vec::new(), Vec::new());
    let mut cue = Vec::with_capacity(emb.dim());
    let (mut sum, mut min, mut n) = (0.0, 1.0f64, 0u64);
    for _ in 0..requests {
        if cues.next_cue(emb, &mut cue).is_none() {
            break;
        }
        index.top_k(
            config.similarity,
            config.rerank_factor,
            &cue,
            k,
            &mut scratch,
            &mut got,
        );
        index.top_k(SimilarityMode::Exact, 1, &cue, k, &mut scratch, &mut want);
        ids_got.clear();
        ids_got.extend(got.iter().map(|&(id, _)| id));
        ids_got.sort_unstable();
        ids_want.clear();
        ids_want.extend(want.iter().map(|&(id, _)| id));
        let hit = ids_want
            .iter()
            .filter(|id| ids_got.binary_search(id).is_ok())
            .count();
        let r = if ids_want.is_empty() {
            1.0
        } else {
            hit as f64 / ids_want.len() as f64
        };
        sum += r;
        min = min.min(r);
        n += 1;
    }
    RecallAtK {
        requests: n,
        k,
        mean: if n == 0 { 1.0 } else { sum / n as f64 },
        min,
    }
}
