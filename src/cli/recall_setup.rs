//! Set-up shared by the commands that recall (`recall`, `run`/`soak --mode recall`): the node
//! vectors (imported from `--embeddings`, or generated from the workload's `[embeddings]`),
//! the seed index over them, the recall parameters resolved from the workload's `[recall]`
//! section and the flags, and the copies of what was measured into the snapshot's `phases`
//! and `recall` sections.

use super::common::{human_duration, LoadedWorkload};
use super::session::MeasuringSession;
use super::{RecallModeArg, RecallParamArgs, SimilarityArg, WorkloadArgs};
use crate::aligned::CacheAligned;
use crate::bad_input;
use crate::engine::{BudgetStats, Spreader};
use crate::harness::bench::{PredictionTally, RequestModel};
use crate::harness::recall::{RecallSetting, RecallTally};
use crate::harness::requests::RequestSource;
use crate::harness::SettingOutcome;
use crate::measure::LatencySummary;
use crate::recall::quality::{recall_at_k, RecallAtK};
use crate::recall::similarity::scan_bandwidth;
use crate::recall::{
    npy, CueStream, EmbeddingSpec, Embeddings, RecallConfig, RecallMode, Recaller, SeedIndex,
    SimilarityMode,
};
use crate::report::snapshot::{
    PhasesSection, PredictorSection, RecallSection, RecallSettings, ScanFigures,
};
use crate::report::Snapshot;
use anyhow::Result;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The node vectors of a recall command and what was made of them.
pub struct RecallInputs {
    pub index: Arc<SeedIndex>,
    /// Each node's cell, when the vectors were generated (imported ones have no cells).
    pub cells: Option<Arc<Vec<u32>>>,
    /// `generated` or the file they came from.
    pub source: String,
    /// [`Embeddings::fingerprint`] of the vectors.
    pub fingerprint: u64,
    /// Time to read or generate them, and to build the index.
    pub build_time: Duration,
}

impl RecallInputs {
    /// One line for stderr.
    pub fn describe(&self) -> String {
        let e = self.index.embeddings();
        format!(
            "embeddings: {} × {} ({}), {} in {}; seeding kernels {} / {}",
            e.len(),
            e.dim(),
            crate::input::human_bytes(e.bytes()),
            if self.cells.is_some() {
                "generated".to_string()
            } else {
                format!("read from {}", self.source)
            },
            human_duration(self.build_time),
            self.index.kernel().name(),
            self.index.quant_kernel().name(),
        )
    }
}

/// The node vectors, from the first source there is: `--embeddings FILE.npy`, the `.sbg`
/// graph's `EMBD` section, generated from the workload's `[embeddings]`; bad input (exit 2)
/// when there is none. Builds the int8 copy when `quantized`.
pub fn load_embeddings(
    loaded: &LoadedWorkload,
    args: &WorkloadArgs,
    quantized: bool,
) -> Result<RecallInputs> {
    let start = Instant::now();
    let n = loaded.graph.node_count();
    let embedded = loaded.graph.embedding_rows();
    let (embeddings, cells, source) = match (&args.embeddings, embedded, &loaded.workload.embeddings) {
        (Some(path), _, _) => {
            let e = npy::read_npy(path, n)?;
            (e, None, crate::input::input_name(path))
        }
        (None, Some((dim, rows)), _) => {
            // Only an .sbg carries embeddings, so there is a graph file to name.
            let file = loaded
                .graph_file
                .as_ref()
                .map_or_else(|| "the graph".to_string(), |p| p.display().to_string());
            // The reader checked every row; a failure here is the same bad input.
            let e = Embeddings::from_stored(dim, CacheAligned::from_fn(rows.len(), |i| rows[i]))
                .map_err(|e| bad_input!("{file}: section EMBD: {e}"))?;
            (e, None, format!("{file} (embedded)"))
        }
        (None, None, Some(spec)) => {
            let g = Embeddings::generate(&loaded.graph, spec)
                .map_err(|e| bad_input!("{}: {e}", loaded.workload.source))?;
            (g.embeddings, Some(Arc::new(g.cells)), "generated".to_string())
        }
        (None, None, None) => {
            return Err(bad_input!(
                "{}: recall needs node vectors: the workload has no [embeddings] section; give --embeddings FILE.npy",
                loaded.workload.source
            ))
        }
    };
    let fingerprint = embeddings.fingerprint();
    let index = Arc::new(SeedIndex::new(embeddings, quantized));
    Ok(RecallInputs {
        index,
        cells,
        source,
        fingerprint,
        build_time: start.elapsed(),
    })
}

impl From<RecallModeArg> for RecallMode {
    fn from(a: RecallModeArg) -> RecallMode {
        match a {
            RecallModeArg::Similarity => RecallMode::Similarity,
            RecallModeArg::Spreading => RecallMode::Spreading,
            RecallModeArg::Hybrid => RecallMode::Hybrid,
        }
    }
}

impl From<SimilarityArg> for SimilarityMode {
    fn from(a: SimilarityArg) -> SimilarityMode {
        match a {
            SimilarityArg::Exact => SimilarityMode::Exact,
            SimilarityArg::Quantized => SimilarityMode::Quantized,
        }
    }
}

/// The workload's recall parameters with the flags' overrides, checked; a message names the
/// flag (`--temperature`) when a flag's value is the one at fault.
pub fn recall_config(
    base: RecallConfig,
    mode: Option<RecallModeArg>,
    similarity: Option<SimilarityArg>,
    max_results: Option<u64>,
    p: &RecallParamArgs,
) -> Result<RecallConfig> {
    let mut c = base;
    let mut from_flags = RecallConfig::default();
    if let Some(m) = mode {
        c.mode = m.into();
    }
    if let Some(s) = similarity {
        c.similarity = s.into();
    }
    if let Some(k) = max_results {
        c.max_results = k as usize;
    }
    if let Some(k) = p.max_candidates {
        c.max_candidates = k as usize;
    }
    // Each float flag is checked on its own, over otherwise valid defaults, so its message
    // names the flag rather than the workload key.
    for (flag, v, set) in [
        (
            "--similarity-threshold",
            p.similarity_threshold,
            (|c: &mut RecallConfig, v| c.similarity_threshold = v) as fn(&mut RecallConfig, f64),
        ),
        ("--temperature", p.temperature, |c, v| c.temperature = v),
        ("--min-confidence", p.min_confidence, |c, v| {
            c.min_confidence = v
        }),
    ] {
        if let Some(v) = v {
            set(&mut from_flags, v);
            from_flags.validate().map_err(|e| {
                let rule = e.split_once(": ").map_or(e.as_str(), |(_, r)| r);
                bad_input!("{flag}: {rule}")
            })?;
            set(&mut c, v);
        }
    }
    c.validate().map_err(|e| bad_input!("recall: {e}"))?;
    Ok(c)
}

/// Everything a measuring command needs to recall: the vectors and the resolved parameters.
pub struct RecallPlan {
    pub inputs: RecallInputs,
    pub config: RecallConfig,
    /// Noise of the cue stream (the workload's `embeddings.cue_noise`, or the default).
    pub cue_noise: f32,
    pub seed: u64,
}

/// Cues replayed after measuring to check each setting's recall@k against the exact scan.
pub const RECALL_CHECK_REQUESTS: usize = 500;

impl RecallPlan {
    /// Loads the vectors for `loaded` (with the int8 copy when any of `similarities` needs it);
    /// `inputs.describe()` says what was loaded.
    pub fn prepare(
        loaded: &LoadedWorkload,
        args: &WorkloadArgs,
        config: RecallConfig,
        similarities: &[SimilarityMode],
    ) -> Result<RecallPlan> {
        let quantized = similarities.contains(&SimilarityMode::Quantized);
        let inputs = load_embeddings(loaded, args, quantized)?;
        let w = &loaded.workload;
        Ok(RecallPlan {
            inputs,
            config,
            cue_noise: w
                .embeddings
                .map_or(EmbeddingSpec::for_nodes(1, 0).cue_noise, |e| e.cue_noise),
            seed: w.seed,
        })
    }

    /// [`RecallPlan::prepare`] for a measuring session: first makes the session's spread
    /// config recall's (`[spread]` with recall's own overrides, its fan effect), so that the
    /// settings, cost profiles and snapshot all spread as recall does.
    pub fn for_session(
        session: &mut MeasuringSession,
        args: &WorkloadArgs,
        config: RecallConfig,
        similarities: &[SimilarityMode],
    ) -> Result<RecallPlan> {
        let w = &mut session.loaded.workload;
        w.spread = config.spread_config(&w.spread);
        Self::prepare(&session.loaded, args, config, similarities)
    }

    /// The workload's cue stream from its start.
    pub fn cues(&self) -> CueStream {
        CueStream::new(self.seed, self.cue_noise)
    }

    pub fn request_source(&self) -> RequestSource {
        RequestSource::Recall {
            cues: self.cues(),
            index: Arc::clone(&self.inputs.index),
        }
    }

    /// The config of a setting that seeds by `similarity`.
    pub fn config_for(&self, similarity: SimilarityMode) -> RecallConfig {
        RecallConfig {
            similarity,
            ..self.config
        }
    }

    /// A setting's recall, spreading with `spreader`.
    pub fn setting(
        &self,
        spreader: &Spreader,
        similarity: SimilarityMode,
    ) -> Result<RecallSetting> {
        let recaller = Recaller::new(self.config_for(similarity), spreader.clone())
            .map_err(|e| bad_input!("recall: {e}"))?;
        Ok(RecallSetting::new(
            recaller,
            Arc::clone(&self.inputs.index),
            self.inputs.cells.clone(),
        ))
    }

    /// `config.recall` of the snapshot.
    pub fn settings(&self, similarity: SimilarityMode) -> RecallSettings {
        let RecallConfig {
            mode,
            similarity: _,
            max_candidates,
            similarity_threshold,
            temperature,
            min_confidence,
            max_results,
            rerank_factor,
            fan_effect: _,
        } = self.config;
        RecallSettings {
            mode: mode.name().into(),
            similarity: similarity.name().into(),
            max_candidates: max_candidates as u64,
            similarity_threshold,
            temperature,
            min_confidence,
            max_results: max_results as u64,
            rerank_factor: rerank_factor as u64,
            dim: self.inputs.index.embeddings().dim() as u64,
            cue_noise: f64::from(self.cue_noise),
        }
    }

    /// recall@k of `similarity` over the first cues of the stream, replayed now (outside any
    /// measured request, so the exact scans it runs do not disturb the measurement).
    pub fn check_recall(&self, similarity: SimilarityMode) -> RecallAtK {
        recall_at_k(
            &self.inputs.index,
            &mut self.cues(),
            &self.config_for(similarity),
            RECALL_CHECK_REQUESTS,
        )
    }

    /// The f32 scan and a plain read of the same bytes, interleaved, best of five; with the
    /// int8 pass's time per vector when the index has it.
    pub fn scan_figures(&self) -> ScanFigures {
        let index = &self.inputs.index;
        let emb = index.embeddings();
        let mut cue = Vec::new();
        let mut cues = self.cues();
        cues.next_cue(emb, &mut cue);
        let t = scan_bandwidth(emb, index.kernel(), &cue, self.config.max_candidates, 5);
        ScanFigures {
            kernel: t.kernel.name().into(),
            bytes: t.bytes,
            ns_per_vector: t.ns_per_vector(),
            scan_gb_per_s: t.scan_gbps(),
            read_gb_per_s: t.read_gbps(),
            ratio: t.ratio(),
            quantized_ns_per_vector: index.time_quantized_pass(&cue, self.config.max_candidates, 5),
        }
    }

    /// The `phases` and `recall` sections of one setting's outcome.
    pub fn sections(
        &self,
        o: &SettingOutcome,
        similarity: SimilarityMode,
        checked: RecallAtK,
        scan: &ScanFigures,
    ) -> Result<(PhasesSection, RecallSection)> {
        let empty = RecallTally::default();
        let t = o.recall.as_ref().unwrap_or(&empty);
        let phases = PhasesSection {
            seed: t.phases.seed.summary()?,
            spread: if t.phases.spread.is_empty() {
                None
            } else {
                Some(t.phases.spread.summary()?)
            },
            rank: t.phases.rank.summary()?,
        };
        let index = &self.inputs.index;
        let recall = RecallSection {
            mode: self.config.mode.name().into(),
            dim: index.embeddings().dim() as u64,
            similarity: similarity.name().into(),
            kernel: match similarity {
                SimilarityMode::Exact => index.kernel().name(),
                SimilarityMode::Quantized => index.quant_kernel().name(),
            }
            .into(),
            recall_at_k: checked.mean,
            recall_at_k_min: checked.min,
            recall_at_k_requests: checked.requests,
            k: checked.k as u64,
            seeds_mean: t.seeds_mean(),
            results_mean: t.results_mean(),
            cluster_precision: t.cluster_precision(),
            spread_added_mean: t.spread_added_mean(),
            embeddings: self.inputs.source.clone(),
            embeddings_fingerprint: format!("{:016x}", self.inputs.fingerprint),
            scan: scan.clone(),
        };
        Ok((phases, recall))
    }
}

/// A recall setting's `predictor` and `budget` sections: the request figures are the
/// prediction made before each recall started, `after_seed` the one made once its seeds were
/// known; `hop` is the spread's hop model (trained on the warm-up's timed hops).
pub fn recall_prediction_sections(
    r: &RecallSetting,
    model: &RequestModel,
    tally: &PredictionTally,
    outcome: &SettingOutcome,
) -> (Option<PredictorSection>, Option<BudgetStats>) {
    let spread = model.predictor();
    let phases = r.phases();
    let after = outcome
        .recall
        .as_ref()
        .map(|t| t.after_seed.stats())
        .unwrap_or_default();
    let mut hop = spread.hop_stats();
    hop.errors = Default::default();
    let section = PredictorSection {
        request: phases.before_stats(tally.errors.stats()),
        hop,
        after_seed: Some(phases.after_seed_stats(&spread, after)),
    };
    let budget = tally.budget.or(model.budget_ns.map(|b| BudgetStats {
        budget_ns: b,
        ..BudgetStats::default()
    }));
    (Some(section), budget)
}

/// The summary's throughput line (of spreads or recalls), then, in recall mode, its phases,
/// what recall found and the scan.
pub fn write_throughput_and_recall(out: &mut impl std::io::Write, s: &Snapshot) -> Result<()> {
    writeln!(
        out,
        "throughput    {:.0} {}/s",
        s.throughput_per_s,
        if s.recall.is_some() {
            "recalls"
        } else {
            "spreads"
        }
    )?;
    if let (Some(phases), Some(r)) = (&s.phases, &s.recall) {
        write_recall_lines(out, phases, r)?;
    }
    if let Some(a) = s.predictor.as_ref().and_then(|p| p.after_seed.as_ref()) {
        let e = &a.errors;
        writeln!(
            out,
            "after seeding {} recalls predicted once their seeds were known: {:.1}% within 20% ({:.1}% within 10%, {:.1}% within 50%), p50 error {:.1}%, p95 {:.1}%",
            e.count,
            100.0 * e.within_20pct,
            100.0 * e.within_10pct,
            100.0 * e.within_50pct,
            100.0 * e.p50_rel_err,
            100.0 * e.p95_rel_err
        )?;
    }
    Ok(())
}

/// The summary lines of a recall measurement (the phases, what recall found, the scan).
fn write_recall_lines(
    out: &mut impl std::io::Write,
    phases: &PhasesSection,
    r: &RecallSection,
) -> std::io::Result<()> {
    let us = |ns: u64| ns as f64 / 1000.0;
    let phase = |l: &LatencySummary| {
        format!(
            "p50 {:.1} µs, p95 {:.1} µs, p99 {:.1} µs",
            us(l.p50),
            us(l.p95),
            us(l.p99)
        )
    };
    writeln!(out, "phases        seed   {}", phase(&phases.seed))?;
    match &phases.spread {
        Some(s) => writeln!(out, "              spread {}", phase(s))?,
        None => writeln!(out, "              spread (none: similarity mode)")?,
    }
    writeln!(out, "              rank   {}", phase(&phases.rank))?;
    writeln!(
        out,
        "recall        {} mode, {} seeding ({}), dim {}: {:.1} seeds and {:.1} results per request, {:.1} added by the spread",
        r.mode, r.similarity, r.kernel, r.dim, r.seeds_mean, r.results_mean, r.spread_added_mean
    )?;
    let precision = r
        .cluster_precision
        .map_or("n/a (imported embeddings have no cells)".to_string(), |p| {
            format!("{p:.3}")
        });
    writeln!(
        out,
        "              recall@{} {:.4} (lowest {:.2}, {} cues checked against the exact scan); cluster precision@10 {precision}",
        r.k, r.recall_at_k, r.recall_at_k_min, r.recall_at_k_requests
    )?;
    let s = &r.scan;
    write!(
        out,
        "scan          f32 {}: {:.1} ns/vector, {:.1} GB/s; plain read of the same {} {:.1} GB/s ({:.0}%)",
        s.kernel,
        s.ns_per_vector,
        s.scan_gb_per_s,
        crate::input::human_bytes(s.bytes),
        s.read_gb_per_s,
        100.0 * s.ratio
    )?;
    if let Some(q) = s.quantized_ns_per_vector {
        write!(out, "; int8 pass {q:.1} ns/vector")?;
    }
    writeln!(out)
}

/// In spread mode, a recall flag would be silently ignored: refused instead, naming it.
pub fn reject_recall_flags(
    w: &WorkloadArgs,
    recall_mode: bool,
    similarity: bool,
    p: &RecallParamArgs,
) -> Result<()> {
    let given = [
        ("--embeddings", w.embeddings.is_some()),
        ("--recall-mode", recall_mode),
        ("--similarity", similarity),
        ("--max-candidates", p.max_candidates.is_some()),
        ("--similarity-threshold", p.similarity_threshold.is_some()),
        ("--temperature", p.temperature.is_some()),
        ("--min-confidence", p.min_confidence.is_some()),
    ];
    match given.iter().find(|(_, set)| *set) {
        Some((flag, _)) => Err(bad_input!("{flag}: applies only with --mode recall")),
        None => Ok(()),
    }
}
