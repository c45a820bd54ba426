//! The snapshot schema (`snapshot.json`): everything one measuring command recorded. This
//! module doc is the schema's one description; `results/README.md` points here.
//!
//! Field names are a contract with later tools (`diff`, CI baselines): fields may be added,
//! never renamed. `schema_version` follows semver: a major bump means incomparable. Every
//! section is a type here, and a snapshot is put together in one place ([`Snapshot::for_run`],
//! [`Snapshot::for_soak`], [`Snapshot::for_predict`]); commands hand over their figures, printing reads the types.
//!
//! # Sections (schema 1.2.0)
//!
//! - `schema_version`, `tool{name, version, git_rev}`, `command` (`run` | `soak` |
//!   `predict`),
//!   `started_at` (UTC, RFC 3339), `host{…}` ([`HostInfo`]).
//! - `workload{name, hash, nodes, edges, generator, source, graph_file, seed, description,
//!   tiers{hot, warm, cold}, edge_kinds{excitatory, inhibitory, modulatory},
//!   seeds_per_request}`: which graph and requests ran; `hash` identifies them.
//! - `config` ([`RunConfig`]): `spread{cycle_penalty, decay{kind, rate | exponent | slope},
//!   fan_effect, max_depth, tier_policy, tiers{cold, hot, warm}{confidence, latency_budget_ns,
//!   threshold, visit_budget}, top_k}`, `requests{seed_activation, seeds_per_request}`,
//!   `prefetch_distance`, `threads`, `pool`, `concurrency`, `mode` (`closed-loop` |
//!   `open-loop`), and for `run` only `batch_size` and `parallel_min_edges` (a soak has no such
//!   options: the keys are absent, not invented). `diff` refuses to compare snapshots whose
//!   `config` differs anywhere.
//! - `spreads`, `warmup` (requests measured and discarded), `latency_ns{min, p50, p90, p95,
//!   p99, p999, max, mean, stdev, count, hdr}` (`hdr`: base64 HdrHistogram V2+DEFLATE),
//!   `throughput_per_s`, `work{…}` ([`WorkSummary`], deterministic per workload),
//!   `partial` and `partial_reason` (cut short by a signal), `fallback`, `graph_build_ms`,
//!   `measure_wall_s`, `harness_overhead_ns`.
//! - `pool` ([`PoolSection`]): the ActivationRecordPool's `{acquires, available, discarded,
//!   global_hits, high_water_mark, hit_rate, hits, in_use, local_hits, misses, prefilled,
//!   returns, utilization}` at the end, or `{"status": "off"}`.
//! - `alloc` ([`AllocSection`]): `{allocs, allocs_per_spread, bytes, bytes_per_spread}` over
//!   the measured requests, or `{"status": "unsupported", "reason": …}` — never zero.
//! - `settings[]` ([`SettingReport`]): every setting of a side-by-side `run` (the first is the
//!   one reported at the top level), with `pool_stats` and `alloc` shaped as above;
//!   `work_identical_across_settings`. Empty for `soak`.
//! - `counters` ([`CountersSection`]): `{"status": "off"}`, or one entry per perf event —
//!   `{value, raw, time_enabled_ns, time_running_ns, multiplexed}` or `{"status":
//!   "unsupported" | "denied", "reason": …}` — beside `derived{cache_miss_rate,
//!   cache_misses_per_spread, ipc, l1d_read_misses_per_spread, llc_read_misses_per_spread,
//!   page_faults_per_spread}` (`null` when an input is missing) and `scope`, in one object.
//! - `soak` ([`SoakSection`], soak only): `mode`, `coordinated_omission_corrected`,
//!   `rate_per_s`, `interval{spreads | secs}`, `intervals`, `rss_bytes{start, end, peak}`,
//!   `verdicts{leak, drift, stall}` (see `report::verdict`), `passed`, `failed[]`.
//! - `calibration` (optional, see `measure::calibration`).
//! - recall mode only (`--mode recall`): `config.recall{mode, similarity, max_candidates,
//!   similarity_threshold, temperature, min_confidence, max_results, rerank_factor, dim,
//!   cue_noise}` ([`RecallSettings`]); `phases{seed, spread, rank}` ([`PhasesSection`], each a
//!   latency summary with its own `hdr`; `spread` absent in similarity mode); `recall{mode,
//!   dim, similarity, kernel, recall_at_k, recall_at_k_min, recall_at_k_requests, k,
//!   seeds_mean, results_mean, cluster_precision, spread_added_mean, embeddings,
//!   embeddings_fingerprint, scan{kernel, bytes, ns_per_vector, scan_gb_per_s,
//!   read_gb_per_s, ratio, quantized_ns_per_vector}}` ([`RecallSection`]); and the same
//!   `phases` and `recall` in each `settings[]` entry. The workload `hash` of a recall run
//!   also covers the embeddings and the recall parameters.
//! - with the latency predictor (`run`, `soak`; absent with `--predictor off`):
//!   `predictor{model, coefficients[{feature, value}], n_train, count, within_10pct,
//!   within_20pct, within_50pct, p50_rel_err, p95_rel_err, hop{…the same for the hop
//!   model…}}` ([`PredictorSection`]) — the request model's prediction made before each
//!   measured request against its observed latency (requests cut or fallen back by a budget
//!   excluded); the hop model's coefficients, trained on the warm-up's timed hops. In recall
//!   mode the request figures are the prediction made before the recall starts (`model`
//!   `recall-before-start`), and `after_seed{…the same…}` (`recall-after-seed`) is the one
//!   made once its seeds are known.
//! - with a budget (`--budget`, or the workload's `[budget]`): `config.budget_ns` and
//!   `budget{budget_ns, requests, truncated, fallbacks, over_budget, over_budget_share}`
//!   ([`BudgetStats`]); `fallback` at the top level is `budget.fallbacks`.
//! - `predict` only: `predict{mode, n_warmup, n_train, n_train_hops, n_test, repeat, train_seed,
//!   test_seed, test_requests_in_training, request{count, within_10pct, within_20pct,
//!   within_50pct, p50_rel_err, p95_rel_err}, after_seed{…} (recall mode), hop{…} (hops of
//!   ≥ `hop_min_ns`), hop_all{…}, hop_min_ns, noise_ceiling{requests, observations,
//!   within_10pct, within_20pct, within_50pct, hop{…}, hop_all{…}}, coefficients{request,
//!   hop, after_seed (recall mode)}, budget{…}}` ([`PredictSection`]); `latency_ns` is then
//!   the test requests' observations, and `predict` fills `predictor{…}` too.
//! - with `--batch-size auto` and more than one hop thread (`run`, `soak`): `batcher{
//!   fingerprint, batch_size, parallel_min_edges, converged, updates_to_converge,
//!   from_memory, history[{spread, batch_size, parallel_min_edges, edges_per_us}],
//!   memory_file}` ([`BatcherSection`]), the first setting's at the top level and each auto
//!   setting's in `settings[]`; such a setting's `config.batch_size` and
//!   `config.parallel_min_edges` are absent (they were learned, not set) and its
//!   `settings[].batch_size` is 0.
//!
//! No section is open (`serde_json::Value`): a figure is either typed here or not in the
//! snapshot. Loading ignores keys it does not know, so a newer 1.x snapshot still loads.
//!
//! **Key order.** `config`, `pool`, `alloc`, `counters`, `soak` and `settings[].{pool_stats,
//! alloc}` were written as JSON object maps when 1.0.0 shipped, so their keys (at every depth)
//! are in alphabetical order; the other sections are in declaration order. The writer keeps
//! that (`sorted_keys`), so the bytes of a snapshot do not depend on how a struct here orders
//! its fields.
//!
//! # Changelog
//!
//! - **1.0.0** — as shipped. Later, without a version bump (the field is optional, and a
//!   snapshot without it loads): `calibration{kernel, median_rep_ns, min_rep_ns, max_rep_ns,
//!   reps}`, the speed of a fixed reference kernel on this machine during the measurement.
//!   The sections were then typed with no change to the JSON.
//! - **1.1.0** — recall: `config.recall`, `phases`, `recall`, and `settings[].{phases,
//!   recall}`, all absent from a spread run, whose snapshot is otherwise unchanged. 1.0.0
//!   snapshots load and compare as before. Also in 1.1.0: `predictor`, `budget`,
//!   `config.budget_ns` and `settings[].{predictor, budget}`, each optional; `fallback`
//!   counts budget fallbacks (it was always 0 before).
//! - **1.2.0** — `predict` (the `predict` command's section, [`PredictSection`]),
//!   `batcher` and `settings[].batcher` (with `--batch-size auto`, [`BatcherSection`]; such
//!   a setting's `config.batch_size` and `config.parallel_min_edges` are then absent) and
//!   `predictor.after_seed` (recall's prediction made after seeding), each optional. 1.0.0
//!   and 1.1.0 snapshots load and compare as before.

mod batcher;
mod config;
pub mod predict;
mod recall;
mod sections;

pub use batcher::BatcherSection;
pub use config::{
    DecaySetting, FanEffectSetting, LoopMode, RequestsConfig, RssBytes, RunConfig, SoakInterval,
    SoakSection, SpreadSettings, TierPolicySetting, TierSetting, TierTable, Verdicts,
};
pub use predict::PredictSection;
pub use recall::{PhasesSection, RecallSection, RecallSettings, ScanFigures};
pub use sections::{
    AllocFigures, AllocSection, CounterReadings, CountersSection, DerivedCounters, EventCount,
    EventReading, EventUnavailable, PoolFigures, PoolSection, COUNTER_SCOPE,
};

use super::time::UtcTime;
pub use crate::engine::BudgetStats;
use crate::engine::PredictorStats;
pub use crate::measure::calibration::Calibration;
use crate::measure::{HostInfo, LatencySummary};
use serde::{Deserialize, Serialize, Serializer};

pub const SCHEMA_VERSION: &str = "1.2.0";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub schema_version: String,
    pub tool: ToolInfo,
    pub command: String,
    /// UTC, RFC 3339.
    pub started_at: String,
    pub host: HostInfo,
    pub workload: WorkloadInfo,
    #[serde(serialize_with = "sorted_keys")]
    pub config: RunConfig,
    /// Requests measured.
    pub spreads: u64,
    /// Requests run before measuring and discarded.
    pub warmup: u64,
    pub latency_ns: LatencySummary,
    /// Measured spreads per second of measuring wall time.
    pub throughput_per_s: f64,
    pub work: WorkSummary,
    /// True when the measurement was cut short (a signal): the figures cover only what ran.
    pub partial: bool,
    /// Why it was cut short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_reason: Option<String>,
    /// Requests answered by the budget's fallback (spread: the seeds alone; recall:
    /// similarity only).
    pub fallback: u64,
    /// How long building or loading the graph took, in milliseconds.
    pub graph_build_ms: f64,
    /// Wall time of the measured phase, in seconds.
    pub measure_wall_s: f64,
    /// The harness's own cost per request (two clock reads and a histogram record), median
    /// nanoseconds; already inside every latency above.
    pub harness_overhead_ns: u64,
    #[serde(serialize_with = "sorted_keys")]
    pub pool: PoolSection,
    #[serde(serialize_with = "sorted_keys")]
    pub alloc: AllocSection,
    /// Every setting measured side by side in this run (the first is the one reported above);
    /// ratios are to the first.
    #[serde(default)]
    pub settings: Vec<SettingReport>,
    /// Whether every setting did exactly the same work (they ran the same requests, and
    /// spreads are deterministic).
    #[serde(default)]
    pub work_identical_across_settings: bool,
    #[serde(serialize_with = "sorted_keys")]
    pub counters: CountersSection,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "sorted_keys"
    )]
    pub soak: Option<SoakSection>,
    /// Absent in snapshots made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// Recall mode only (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<PhasesSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<RecallSection>,
    /// With the latency predictor (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictor: Option<PredictorSection>,
    /// With a latency budget (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetStats>,
    /// `predict` only (1.2.0): out-of-sample accuracy beside the noise ceiling
    /// ([`PredictSection`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predict: Option<PredictSection>,
    /// With the adaptive batcher (`--batch-size auto`) (1.2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batcher: Option<BatcherSection>,
}

/// The snapshot's `predictor{…}`: the request model (its coefficients and its errors over the
/// measured requests) and, under `hop`, the hop model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorSection {
    #[serde(flatten)]
    pub request: PredictorStats,
    pub hop: PredictorStats,
    /// Recall mode only: the prediction made after seeding (the request figures above are
    /// the one made before the request started). Absent in spread mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seed: Option<PredictorStats>,
}

/// Writes `value` with the keys of every object in alphabetical order, as the JSON object
/// maps these sections were before they were typed wrote them: the bytes of a snapshot do
/// not depend on the order in which a struct declares its fields.
fn sorted_keys<T: Serialize, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(value)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

/// The parts of a snapshot that do not come from the measured requests.
#[derive(Debug, Clone)]
pub struct SnapshotContext {
    pub started: UtcTime,
    pub workload: WorkloadInfo,
    pub config: RunConfig,
    pub graph_build_ms: f64,
    pub harness_overhead_ns: u64,
    /// Why the measurement was cut short, when it was.
    pub partial_reason: Option<String>,
    pub calibration: Option<Calibration>,
}

/// The figures of one measured setting, as the top level of a snapshot reports them.
#[derive(Debug, Clone)]
pub struct MeasuredFigures {
    pub spreads: u64,
    pub warmup: u64,
    pub latency_ns: LatencySummary,
    pub throughput_per_s: f64,
    pub work: WorkSummary,
    pub measure_wall_s: f64,
    pub pool: PoolSection,
    pub alloc: AllocSection,
    pub counters: CountersSection,
    pub phases: Option<PhasesSection>,
    pub recall: Option<RecallSection>,
}

impl Snapshot {
    /// The snapshot of `run`: `first` is the first setting's figures, `settings` every setting
    /// side by side (the first included).
    pub fn for_run(
        ctx: SnapshotContext,
        first: MeasuredFigures,
        settings: Vec<SettingReport>,
        work_identical_across_settings: bool,
    ) -> Snapshot {
        let mut s = Snapshot::assemble("run", ctx, first);
        s.settings = settings;
        s.work_identical_across_settings = work_identical_across_settings;
        s
    }

    /// Adds what the predictor and the budget manager measured (the first setting's, for a
    /// `run`); `fallback` is the budget's fallbacks.
    pub fn set_prediction(
        &mut self,
        predictor: Option<PredictorSection>,
        budget: Option<BudgetStats>,
    ) {
        self.fallback = budget.map_or(0, |b| b.fallbacks);
        self.predictor = predictor;
        self.budget = budget;
    }

    /// The snapshot of `predict`: `test` is the figures of the test requests' observations.
    pub fn for_predict(
        ctx: SnapshotContext,
        test: MeasuredFigures,
        predict: PredictSection,
    ) -> Snapshot {
        let mut s = Snapshot::assemble("predict", ctx, test);
        s.predict = Some(predict);
        s
    }

    /// The snapshot of `soak`: one setting, `total` over the whole measured run.
    pub fn for_soak(ctx: SnapshotContext, total: MeasuredFigures, soak: SoakSection) -> Snapshot {
        let mut s = Snapshot::assemble("soak", ctx, total);
        s.soak = Some(soak);
        s
    }

    /// The one place a `Snapshot` is put together.
    fn assemble(command: &str, ctx: SnapshotContext, m: MeasuredFigures) -> Snapshot {
        Snapshot {
            schema_version: SCHEMA_VERSION.to_string(),
            tool: ToolInfo::current(),
            command: command.into(),
            started_at: ctx.started.rfc3339(),
            host: HostInfo::detect(),
            workload: ctx.workload,
            config: ctx.config,
            spreads: m.spreads,
            warmup: m.warmup,
            latency_ns: m.latency_ns,
            throughput_per_s: m.throughput_per_s,
            work: m.work,
            partial: ctx.partial_reason.is_some(),
            partial_reason: ctx.partial_reason,
            fallback: 0,
            graph_build_ms: ctx.graph_build_ms,
            measure_wall_s: m.measure_wall_s,
            harness_overhead_ns: ctx.harness_overhead_ns,
            pool: m.pool,
            alloc: m.alloc,
            settings: Vec::new(),
            work_identical_across_settings: true,
            counters: m.counters,
            soak: None,
            calibration: ctx.calibration,
            phases: m.phases,
            recall: m.recall,
            predictor: None,
            budget: None,
            predict: None,
            batcher: None,
        }
    }
}

/// One setting of a side-by-side run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingReport {
    pub label: String,
    pub threads: u64,
    /// 0 when the adaptive batcher chose it (see `batcher`).
    pub batch_size: u64,
    pub prefetch_distance: u64,
    pub pool: bool,
    pub concurrency: u64,
    pub spreads: u64,
    pub latency_ns: LatencySummary,
    pub throughput_per_s: f64,
    /// This setting's p50 over the first setting's.
    pub p50_ratio: f64,
    /// This setting's throughput over the first setting's.
    pub throughput_ratio: f64,
    #[serde(serialize_with = "sorted_keys")]
    pub pool_stats: PoolSection,
    #[serde(serialize_with = "sorted_keys")]
    pub alloc: AllocSection,
    /// Recall mode only (1.1.0): this setting's phases and recall figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<PhasesSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<RecallSection>,
    /// With the predictor / a budget (1.1.0): this setting's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictor: Option<PredictorSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetStats>,
    /// With the adaptive batcher: this setting's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batcher: Option<BatcherSection>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    pub git_rev: String,
}

impl ToolInfo {
    pub fn current() -> ToolInfo {
        ToolInfo {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            git_rev: option_env!("SPREADBENCH_GIT_REV")
                .unwrap_or("unknown")
                .to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadInfo {
    pub name: String,
    /// Identity hash: graph content, spread config, request spec and seed.
    pub hash: String,
    pub nodes: u64,
    pub edges: u64,
    /// The generator, or `file` for a loaded graph.
    pub generator: String,
    /// `builtin:NAME` or the workload file's path.
    pub source: String,
    /// The graph file, when `--graph` was given.
    pub graph_file: Option<String>,
    pub seed: u64,
    pub description: String,
    /// Node counts per tier.
    pub tiers: TierCounts,
    /// Edge counts per type.
    pub edge_kinds: KindCounts,
    pub seeds_per_request: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierCounts {
    pub hot: u64,
    pub warm: u64,
    pub cold: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindCounts {
    pub excitatory: u64,
    pub inhibitory: u64,
    pub modulatory: u64,
}

/// Work per measured spread. Deterministic for a workload: `diff` expects these to match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkSummary {
    pub nodes_activated_mean: f64,
    pub nodes_activated_p95: u64,
    pub edges_relaxed_mean: f64,
    pub hops_mean: f64,
    pub rejected_mean: f64,
    pub cycle_penalties_mean: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed CI baseline predates calibration: it must still load, without one.
    #[test]
    fn baseline_without_calibration_still_loads() {
        let text = include_str!("../../../results/baseline/warm-10k.json");
        let s: Snapshot = serde_json::from_str(text).expect("baseline loads");
        assert_eq!(s.calibration, None);
        assert_eq!(s.workload.name, "warm-10k");
        // And a snapshot with one round-trips it.
        let mut with = s.clone();
        with.calibration = Some(Calibration {
            kernel: "k".into(),
            median_rep_ns: 41_250.5,
            min_rep_ns: 40_000,
            max_rep_ns: 90_000,
            reps: 96,
        });
        let back: Snapshot = serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
        assert_eq!(back, with);
        assert!(!serde_json::to_string(&s).unwrap().contains("calibration"));
    }
}
