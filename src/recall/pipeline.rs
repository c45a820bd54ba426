//! Recall: a cue vector in, ranked memories out — seed → spread → rank (DESIGN §7).
//!
//! [`SeedIndex`] holds what seeding scans (the embeddings, and their int8 copy when quantized
//! seeding is used); a [`Recaller`] holds the recall parameters and the [`Spreader`] it spreads
//! with; [`RecallScratch`] holds every per-request buffer, so a steady stream of recalls
//! allocates nothing. Each phase is timed inside the request ([`PhaseTimes`]).
//!
//! Seeding picks candidates with a fast scan (the exact f32 kernel, or the int8 pass), scores
//! them with [`canonical_dot`](super::exact::canonical_dot) — the same bits on every machine —
//! keeps the best `max_candidates`, drops those below `θ_sim` and seeds each survivor with
//! activation `sigmoid((s − θ_sim) / T)`, rounded to the engine's fixed point. Ranking follows
//! DESIGN §7: `score = activation × confidence`, for a seed the mean of that and its
//! similarity (`hybrid`); by activation (`spreading`); by similarity (`similarity`, no
//! spread). Results below `min_confidence` are dropped and the rest cut to `max_results`.
//!
//! [`Recaller::recall_gated_into`] runs the same pipeline under a [`RecallGate`] (a latency
//! budget, see [`super::budget`]): asked once the seeds are known whether the spread runs, and
//! before each hop whether it goes on.

use super::budget::RecallGate;
use super::exact::rerank;
use super::quantized::{QuantKernel, QuantizedCue, QuantizedRows};
use super::similarity::{top_k_with, Kernel};
use super::Embeddings;
use crate::engine::{
    fixed, NoGate, Seed, SpreadConfig, SpreadError, SpreadResult, SpreadScratch, Spreader,
};
use crate::engine::{FanEffect, TierPolicy};
use crate::graph::{Graph, Tier};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What a recall ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecallMode {
    /// Seeding only: the hits above θ_sim, scored by similarity.
    Similarity,
    /// Seed and spread; rank by activation.
    Spreading,
    /// Seed and spread; rank by activation × confidence, seeds averaged with their similarity.
    Hybrid,
}

impl RecallMode {
    pub fn name(self) -> &'static str {
        match self {
            RecallMode::Similarity => "similarity",
            RecallMode::Spreading => "spreading",
            RecallMode::Hybrid => "hybrid",
        }
    }
}

/// How seeding picks its candidates before the exact re-score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SimilarityMode {
    /// The f32 scan over every row.
    Exact,
    /// The int8 pass over every row, then the exact score of its best candidates.
    Quantized,
}

impl SimilarityMode {
    pub fn name(self) -> &'static str {
        match self {
            SimilarityMode::Exact => "exact",
            SimilarityMode::Quantized => "quantized",
        }
    }
}

/// Recall's parameters (a workload's `[recall]` section); defaults are Engram's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RecallConfig {
    pub mode: RecallMode,
    pub similarity: SimilarityMode,
    /// Hits kept from the similarity search (k).
    pub max_candidates: usize,
    /// θ_sim: hits below it do not seed.
    pub similarity_threshold: f64,
    /// T of the seeding sigmoid.
    pub temperature: f64,
    pub min_confidence: f64,
    pub max_results: usize,
    /// Candidates the int8 pass hands to the exact re-score, as a multiple of k.
    pub rerank_factor: usize,
    /// The fan effect recall spreads with, in place of the workload's `[spread]` one
    /// (`None`: the workload's).
    pub fan_effect: Option<FanEffect>,
}

impl Default for RecallConfig {
    fn default() -> Self {
        RecallConfig {
            mode: RecallMode::Hybrid,
            similarity: SimilarityMode::Exact,
            max_candidates: 100,
            similarity_threshold: 0.4,
            temperature: 0.5,
            min_confidence: 0.1,
            max_results: 100,
            rerank_factor: DEFAULT_RERANK_FACTOR,
            fan_effect: None,
        }
    }
}

/// The int8 pass keeps 2·k candidates: on warm-10k that gave recall@100 of 1.0 against the
/// exact scan over 500 cues (1·k gave 0.991, lowest 0.95; README, "Recall"), at 0.6 MB of
/// re-scored rows.
pub const DEFAULT_RERANK_FACTOR: usize = 2;

/// Candidates the f32 scan keeps beyond k before the exact re-score, so that its last-bit
/// differences from the exact score cannot move a row across the k-th place unless ~16 rows
/// tie within 10⁻⁴ there.
const EXACT_MARGIN: usize = 16;

/// The most candidates or results a recall may ask for.
pub const MAX_RECALL_K: usize = 1 << 20;

impl RecallConfig {
    /// Checks the values; the message names the `[recall]` key.
    pub fn validate(&self) -> Result<(), String> {
        let in_range = |v: usize| (1..=MAX_RECALL_K).contains(&v);
        if !in_range(self.max_candidates) {
            return Err(format!(
                "max_candidates: must be in 1..={MAX_RECALL_K} (got {})",
                self.max_candidates
            ));
        }
        if !in_range(self.max_results) {
            return Err(format!(
                "max_results: must be in 1..={MAX_RECALL_K} (got {})",
                self.max_results
            ));
        }
        if !(self.similarity_threshold.is_finite()
            && (-1.0..=1.0).contains(&self.similarity_threshold))
        {
            return Err(format!(
                "similarity_threshold: must be in [-1, 1] (got {})",
                self.similarity_threshold
            ));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(format!(
                "temperature: must be a finite number > 0 (got {})",
                self.temperature
            ));
        }
        if !(self.min_confidence.is_finite() && (0.0..=1.0).contains(&self.min_confidence)) {
            return Err(format!(
                "min_confidence: must be in [0, 1] (got {})",
                self.min_confidence
            ));
        }
        if !(1..=64).contains(&self.rerank_factor) {
            return Err(format!(
                "rerank_factor: must be in 1..=64 (got {})",
                self.rerank_factor
            ));
        }
        Ok(())
    }

    /// The spread configuration recall uses: `base` with this config's overrides. The
    /// spread's own `top_k` is dropped: it ranks by activation alone, so it would cut seeds
    /// that the hybrid score ranks high; recall's cut is `max_results`, after ranking.
    pub fn spread_config(&self, base: &SpreadConfig) -> SpreadConfig {
        SpreadConfig {
            fan_effect: self.fan_effect.unwrap_or(base.fan_effect),
            top_k: None,
            ..base.clone()
        }
    }

    /// The seed activation for similarity `s`: `sigmoid((s − θ_sim) / T)`, rounded to the
    /// engine's fixed point (the value the spread starts from).
    pub fn seed_activation(&self, s: f32) -> f64 {
        let x = (f64::from(s) - self.similarity_threshold) / self.temperature;
        let a = 1.0 / (1.0 + (-x).exp());
        // Seeding only calls this with `s ≥ θ_sim` (so `a ≥ 0.5`); for any other `s` the floor
        // keeps the value a valid seed activation (one fixed-point unit) instead of 0.
        fixed::to_f64(fixed::to_fixed(a)).max(crate::engine::spreader::MIN_SEED_ACTIVATION)
    }
}

/// What seeding scans: the embeddings of every node of a graph, and their int8 copy.
pub struct SeedIndex {
    embeddings: Embeddings,
    quantized: Option<QuantizedRows>,
    kernel: Kernel,
    quant_kernel: QuantKernel,
}

impl SeedIndex {
    /// Indexes `embeddings` with the fastest kernels this CPU has; builds the int8 copy when
    /// `quantized` is asked for.
    pub fn new(embeddings: Embeddings, quantized: bool) -> SeedIndex {
        SeedIndex {
            quantized: quantized.then(|| QuantizedRows::new(&embeddings)),
            embeddings,
            kernel: Kernel::best(),
            quant_kernel: QuantKernel::best(),
        }
    }

    /// The same index with chosen kernels (tests run each).
    pub fn with_kernels(mut self, kernel: Kernel, quant: QuantKernel) -> SeedIndex {
        assert!(kernel.available() && quant.available());
        self.kernel = kernel;
        self.quant_kernel = quant;
        self
    }

    pub fn embeddings(&self) -> &Embeddings {
        &self.embeddings
    }

    /// The values one exact scan reads (rows × dim): the recall predictor's scan feature.
    pub fn scan_values(&self) -> u64 {
        (self.embeddings.len() * self.embeddings.dim()) as u64
    }

    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    pub fn quant_kernel(&self) -> QuantKernel {
        self.quant_kernel
    }

    /// Nanoseconds per vector of the int8 pass (candidates for `k`), best of `reps`; `None`
    /// without the int8 copy.
    pub fn time_quantized_pass(&self, cue: &[f32], k: usize, reps: usize) -> Option<f64> {
        let q = self.quantized.as_ref()?;
        let mut s = RecallScratch::default();
        let mut best = u64::MAX;
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            q.quantize_cue(std::hint::black_box(cue), &mut s.qcue);
            q.candidates(
                self.quant_kernel,
                &s.qcue,
                k * DEFAULT_RERANK_FACTOR,
                &mut s.heap,
                &mut s.candidates,
            );
            std::hint::black_box(&s.candidates);
            best = best.min(t.elapsed().as_nanos() as u64);
        }
        Some(best as f64 / q.len().max(1) as f64)
    }

    /// The best `k` rows for `cue` by exact score, ranked (score descending, then id), picking
    /// candidates as `mode` says. Panics if `mode` is quantized and the index has no int8 copy
    /// (callers build the index for the modes they run).
    pub fn top_k(
        &self,
        mode: SimilarityMode,
        rerank_factor: usize,
        cue: &[f32],
        k: usize,
        s: &mut RecallScratch,
        out: &mut Vec<(u32, f32)>,
    ) {
        let emb = &self.embeddings;
        match mode {
            SimilarityMode::Exact => {
                top_k_with(self.kernel, emb, cue, k + EXACT_MARGIN, &mut s.heap);
                s.candidates.clear();
                s.candidates.extend(s.heap.iter().map(|&(id, _)| id));
            }
            SimilarityMode::Quantized => {
                let q = self
                    .quantized
                    .as_ref()
                    .unwrap_or_else(|| panic!("the seed index was built without its int8 copy"));
                q.quantize_cue(cue, &mut s.qcue);
                let c = k.saturating_mul(rerank_factor);
                q.candidates(
                    self.quant_kernel,
                    &s.qcue,
                    c,
                    &mut s.heap,
                    &mut s.candidates,
                );
            }
        }
        rerank(emb, cue, &s.candidates, k, out);
    }
}

/// A hit of the similarity search that seeds the spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedHit {
    pub node: u32,
    pub similarity: f32,
    /// `sigmoid((s − θ_sim) / T)` in the engine's fixed point.
    pub activation: f64,
}

/// One ranked memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recalled {
    pub id: u32,
    pub score: f64,
    pub activation: f64,
    pub confidence: f64,
    /// The node's similarity to the cue when it was a seed.
    pub similarity: Option<f32>,
    pub hop: u32,
    pub tier: Tier,
}

/// Nanoseconds spent in each phase of one recall. `spread` is `None` when no spread ran
/// (similarity mode, or no hit above θ_sim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PhaseTimes {
    pub seed: u64,
    pub spread: Option<u64>,
    pub rank: u64,
}

/// How one gated recall ended ([`Recaller::recall_gated_into`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecallOutcome {
    pub times: PhaseTimes,
    /// The gate stopped the spread before a hop: the results rank what it reached.
    pub truncated: bool,
    /// The gate refused the spread: the results are the similarity-only ranking.
    pub fallback: bool,
}

/// Every per-request buffer of a recall; its outputs are `hits`, `seeds` and `results`.
#[derive(Debug, Default)]
pub struct RecallScratch {
    heap: Vec<(u32, f32)>,
    candidates: Vec<u32>,
    qcue: QuantizedCue,
    /// The best `max_candidates` rows by exact score, ranked.
    pub hits: Vec<(u32, f32)>,
    /// The hits at or above θ_sim, in rank order, with their seed activations.
    pub seeds: Vec<SeedHit>,
    engine_seeds: Vec<Seed>,
    /// Seeds sorted by node id, to find a result's similarity.
    by_id: Vec<(u32, f32)>,
    /// The ranked memories.
    pub results: Vec<Recalled>,
}

impl RecallScratch {
    /// The seeds as the spread takes them (node, activation), in rank order: what a
    /// prediction made after seeding reads.
    pub fn engine_seeds(&self) -> &[Seed] {
        &self.engine_seeds
    }

    /// Buffers sized for `config`, so the first request does not allocate either.
    pub fn for_config(config: &RecallConfig) -> RecallScratch {
        let k = config.max_candidates;
        let c = k.saturating_mul(config.rerank_factor).max(k + EXACT_MARGIN);
        RecallScratch {
            heap: Vec::with_capacity(2 * c),
            candidates: Vec::with_capacity(c),
            hits: Vec::with_capacity(c),
            seeds: Vec::with_capacity(k),
            engine_seeds: Vec::with_capacity(k),
            by_id: Vec::with_capacity(k),
            results: Vec::with_capacity(config.max_results.min(1 << 16)),
            ..RecallScratch::default()
        }
    }
}

/// Recall parameters and the spreader they spread with.
#[derive(Debug, Clone)]
pub struct Recaller {
    config: RecallConfig,
    spreader: Spreader,
}

impl Recaller {
    /// Fails (naming the key) when the config is invalid.
    pub fn new(config: RecallConfig, spreader: Spreader) -> Result<Recaller, String> {
        config.validate()?;
        Ok(Recaller { config, spreader })
    }

    pub fn config(&self) -> &RecallConfig {
        &self.config
    }

    pub fn spreader(&self) -> &Spreader {
        &self.spreader
    }

    /// One recall of `cue` (a unit vector of the index's dimension) over `graph`. Outputs are
    /// left in `s` (`hits`, `seeds`, `results`) and `spread` (the work counters); the phase
    /// times are returned. The index must hold one row per node of `graph`.
    pub fn recall_into(
        &self,
        graph: &Graph,
        index: &SeedIndex,
        cue: &[f32],
        s: &mut RecallScratch,
        scratch: &mut SpreadScratch,
        spread: &mut SpreadResult,
    ) -> Result<PhaseTimes, SpreadError> {
        self.recall_gated_into(graph, index, cue, s, scratch, spread, &mut NoGate)
            .map(|o| o.times)
    }

    /// [`Recaller::recall_into`] with `gate` asked once seeding is done (whether the spread
    /// runs) and before each hop of the spread (a latency budget, or a timer that trains the
    /// hop model). When the gate refuses the spread, the results are the similarity-only
    /// ranking of the seeds — exactly what this recall in `similarity` mode gives — and no
    /// spread runs (`fallback`); when it refuses a hop, the spread stops there and what it
    /// reached is ranked as usual (`truncated`). In similarity mode, or without seeds, no
    /// spread is considered and the gate is not asked. With [`NoGate`] it is `recall_into`,
    /// bit for bit.
    #[allow(clippy::too_many_arguments)]
    pub fn recall_gated_into<G: RecallGate + ?Sized>(
        &self,
        graph: &Graph,
        index: &SeedIndex,
        cue: &[f32],
        s: &mut RecallScratch,
        scratch: &mut SpreadScratch,
        spread: &mut SpreadResult,
        gate: &mut G,
    ) -> Result<RecallOutcome, SpreadError> {
        debug_assert_eq!(index.embeddings().len(), graph.node_count());
        let c = &self.config;
        let t0 = Instant::now();
        let mut hits = std::mem::take(&mut s.hits);
        index.top_k(
            c.similarity,
            c.rerank_factor,
            cue,
            c.max_candidates,
            s,
            &mut hits,
        );
        s.hits = hits;
        self.seed_from_hits(s);
        let t1 = Instant::now();
        spread.clear();
        let wants_spread = c.mode != RecallMode::Similarity && !s.engine_seeds.is_empty();
        let fallback = wants_spread && !gate.after_seeding(graph, &s.engine_seeds);
        let spreads = wants_spread && !fallback;
        let mut truncated = false;
        if spreads {
            truncated =
                self.spreader
                    .spread_gated_into(graph, &s.engine_seeds, scratch, spread, gate)?;
        }
        let t2 = Instant::now();
        if fallback {
            self.rank_similarity(graph, s);
        } else {
            self.rank(graph, s, spread);
        }
        let t3 = Instant::now();
        Ok(RecallOutcome {
            times: PhaseTimes {
                seed: (t1 - t0).as_nanos() as u64,
                spread: spreads.then(|| (t2 - t1).as_nanos() as u64),
                rank: (t3 - t2).as_nanos() as u64,
            },
            truncated,
            fallback,
        })
    }

    /// Turns `s.hits` into seeds: those at or above θ_sim, at their sigmoid activation.
    fn seed_from_hits(&self, s: &mut RecallScratch) {
        let c = &self.config;
        s.seeds.clear();
        s.engine_seeds.clear();
        s.by_id.clear();
        for &(node, similarity) in &s.hits {
            if f64::from(similarity) < c.similarity_threshold {
                // Hits are ranked, so every later one is below θ_sim too.
                break;
            }
            let activation = c.seed_activation(similarity);
            s.seeds.push(SeedHit {
                node,
                similarity,
                activation,
            });
            s.engine_seeds.push(Seed::new(node, activation));
            s.by_id.push((node, similarity));
        }
        s.by_id.sort_unstable_by_key(|&(id, _)| id);
    }

    /// Ranks the seeds by similarity into `s.results`: similarity mode's ranking, and the
    /// fallback of a recall the budget does not let spread.
    fn rank_similarity(&self, graph: &Graph, s: &mut RecallScratch) {
        let c = &self.config;
        s.results.clear();
        let cfg = self.spreader.config();
        for h in &s.seeds {
            let tier = seed_tier(cfg, graph, h.node);
            let confidence = h.activation * cfg.tier(tier).confidence;
            if confidence < c.min_confidence {
                continue;
            }
            s.results.push(Recalled {
                id: h.node,
                score: f64::from(h.similarity),
                activation: h.activation,
                confidence,
                similarity: Some(h.similarity),
                hop: 0,
                tier,
            });
            if s.results.len() == c.max_results {
                break;
            }
        }
        // Seeds are in similarity order already.
    }

    /// Ranks the spread's nodes (or, in similarity mode, the seeds) into `s.results`.
    fn rank(&self, graph: &Graph, s: &mut RecallScratch, spread: &SpreadResult) {
        let c = &self.config;
        s.results.clear();
        if c.mode == RecallMode::Similarity {
            self.rank_similarity(graph, s);
            return;
        }
        for n in &spread.nodes {
            if n.confidence < c.min_confidence {
                continue;
            }
            let activation = n.activation_f64();
            let similarity = s
                .by_id
                .binary_search_by_key(&n.id, |&(id, _)| id)
                .ok()
                .map(|i| s.by_id[i].1);
            let score = match (c.mode, similarity) {
                (RecallMode::Spreading, _) => activation,
                (_, None) => activation * n.confidence,
                (_, Some(sim)) => (activation * n.confidence + f64::from(sim)) / 2.0,
            };
            s.results.push(Recalled {
                id: n.id,
                score,
                activation,
                confidence: n.confidence,
                similarity,
                hop: n.first_hop,
                tier: n.tier,
            });
        }
        let by_score =
            |a: &Recalled, b: &Recalled| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id));
        if c.mode == RecallMode::Spreading {
            // The spread ranks by activation, then id: already in order.
            s.results.truncate(c.max_results);
            return;
        }
        if s.results.len() > c.max_results {
            s.results.select_nth_unstable_by(c.max_results, by_score);
            s.results.truncate(c.max_results);
        }
        s.results.sort_unstable_by(by_score);
    }
}

/// The tier whose parameters a seed gets: its own, or hot under the hop-depth policy.
fn seed_tier(cfg: &SpreadConfig, graph: &Graph, node: u32) -> Tier {
    match cfg.tier_policy {
        TierPolicy::Storage => graph.tier(node),
        TierPolicy::HopDepth => SpreadConfig::hop_depth_tier(0),
    }
}
