//! The snapshot schema (`snapshot.json`): everything one measuring command recorded.
//!
//! Field names are a contract with later tools (`diff`, CI baselines): fields may be added,
//! never renamed. `schema_version` follows semver: a major bump means incomparable.

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
    /// Spreads cut short by the latency budget (flagged `partial`).
    pub partial: u64,
    /// Requests answered by similarity-only fallback.
    pub fallback: u64,
    /// How long building or loading the graph took, in milliseconds.
    pub graph_build_ms: f64,
    /// Wall time of the measured phase, in seconds.
    pub measure_wall_s: f64,
    /// The harness's own cost per request (two clock reads and a histogram record), median
    /// nanoseconds; already inside every latency above.
    pub harness_overhead_ns: u64,
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
