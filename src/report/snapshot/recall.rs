//! The sections a recall measurement adds to a snapshot (schema 1.1.0): the latency of each
//! phase, and what recall found — how well seeding matched the exact scan, how many seeds and
//! results a request had, how precise the top results were, and what the spread added.

use crate::measure::LatencySummary;
use serde::{Deserialize, Serialize};

/// `phases{seed, spread, rank}`: each phase's latency, timed inside the request, with its own
/// histogram. `spread` is absent when no request spread (similarity mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhasesSection {
    pub seed: LatencySummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<LatencySummary>,
    pub rank: LatencySummary,
}

/// `config.recall`: the recall parameters a run measured (part of `config`, so `diff`
/// refuses to compare runs that recalled differently).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecallSettings {
    pub mode: String,
    pub similarity: String,
    pub max_candidates: u64,
    pub similarity_threshold: f64,
    pub temperature: f64,
    pub min_confidence: f64,
    pub max_results: u64,
    pub rerank_factor: u64,
    pub dim: u64,
    pub cue_noise: f64,
}

/// `recall{…}`: what the measured recalls found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecallSection {
    pub mode: String,
    pub dim: u64,
    /// `exact` or `quantized`: how seeding picked its candidates.
    pub similarity: String,
    /// The kernel of that scan (`avx512`, `avx2+fma`, `portable`; `avx512-vnni`, `avx2`,
    /// `portable` for the int8 pass).
    pub kernel: String,
    /// Mean over checked requests of |seeding's top-k ∩ the exact scan's top-k| / k.
    pub recall_at_k: f64,
    /// The lowest single request's recall@k among those checked.
    pub recall_at_k_min: f64,
    /// Requests checked (the first ones of the cue stream, replayed after measuring).
    pub recall_at_k_requests: u64,
    pub k: u64,
    pub seeds_mean: f64,
    pub results_mean: f64,
    /// Share of the top 10 results in the cue node's own cell; `null` for imported
    /// embeddings, which have no cells.
    pub cluster_precision: Option<f64>,
    /// Results per request that similarity alone did not return (non-seeds).
    pub spread_added_mean: f64,
    /// `generated`, or the file the vectors came from.
    pub embeddings: String,
    pub embeddings_fingerprint: String,
    /// The scan's speed beside a plain read of the same bytes, measured in the same run.
    pub scan: ScanFigures,
}

/// One full scan of the rows and one plain sequential read of the same bytes, best of a few
/// interleaved repetitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanFigures {
    pub kernel: String,
    pub bytes: u64,
    pub ns_per_vector: f64,
    pub scan_gb_per_s: f64,
    pub read_gb_per_s: f64,
    /// scan GB/s ÷ read GB/s.
    pub ratio: f64,
    /// The int8 pass over its 1-byte rows, when quantized seeding was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantized_ns_per_vector: Option<f64>,
}
