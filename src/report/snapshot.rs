//! The snapshot schema (`snapshot.json`): everything one measuring command recorded.
//!
//! Field names are a contract with later tools (`diff`, CI baselines): fields may be added,
//! never renamed. `schema_version` follows semver: a major bump means incomparable.

use crate::measure::calibration::Calibration;
use crate::measure::{HostInfo, LatencySummary};
use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: &str = "1.0.0";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub schema_version: String,
    pub tool: ToolInfo,
    pub command: String,
    /// UTC, RFC 3339.
    pub started_at: String,
    pub host: HostInfo,
    pub workload: WorkloadInfo,
    /// Engine and spread configuration as resolved (thresholds, decay, depth, prefetch…).
    pub config: serde_json::Value,
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
    /// Requests answered by similarity-only fallback.
    pub fallback: u64,
    /// How long building or loading the graph took, in milliseconds.
    pub graph_build_ms: f64,
    /// Wall time of the measured phase, in seconds.
    pub measure_wall_s: f64,
    /// The harness's own cost per request (two clock reads and a histogram record), median
    /// nanoseconds; already inside every latency above.
    pub harness_overhead_ns: u64,
    /// ActivationRecordPool statistics of the first setting
    /// (`{acquires,hits,misses,hit_rate,in_use,high_water_mark,utilization,…}`), or
    /// `{"status": "off"}` when it ran without the pool.
    #[serde(default)]
    pub pool: serde_json::Value,
    /// Allocations per measured spread of the first setting (`{allocs_per_spread,
    /// bytes_per_spread}`), or `{"status": "unsupported", "reason": …}`.
    #[serde(default)]
    pub alloc: serde_json::Value,
    /// Every setting measured side by side in this run (the first is the one reported above);
    /// ratios are to the first.
    #[serde(default)]
    pub settings: Vec<SettingReport>,
    /// Whether every setting did exactly the same work (they ran the same requests, and
    /// spreads are deterministic).
    #[serde(default)]
    pub work_identical_across_settings: bool,
    /// Perf counters over the measured requests of the first setting (hardware and software
    /// events, each a value or `{"status", "reason"}`, and `derived`), or `{"status": "off"}`.
    #[serde(default)]
    pub counters: serde_json::Value,
    /// Soak only: mode, intervals, RSS and the verdicts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<serde_json::Value>,
    /// How fast this machine ran a fixed reference kernel during the measurement (see
    /// `measure::calibration`), so `diff --calibrate` can divide out the machine's speed
    /// drift between two runs. Absent in snapshots made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// One setting of a side-by-side run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingReport {
    pub label: String,
    pub threads: u64,
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
    pub pool_stats: serde_json::Value,
    pub alloc: serde_json::Value,
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
        let text = include_str!("../../results/baseline/warm-10k.json");
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
