//! The snapshot's `config` and `soak` sections, typed. The report layer does not depend on the
//! engine or the workload, so the spread configuration is mirrored here and the CLI copies it
//! field by field (an exhaustive destructuring there makes a new engine parameter a compile
//! error until the snapshot records it).

use super::super::verdict::{DriftVerdict, LeakVerdict, StallVerdict};
use serde::{Deserialize, Serialize};

/// Closed loop (each client sends its next request when the last one returns) or open loop
/// (requests at a target rate, latencies corrected for coordinated omission).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoopMode {
    ClosedLoop,
    OpenLoop,
}

impl LoopMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LoopMode::ClosedLoop => "closed-loop",
            LoopMode::OpenLoop => "open-loop",
        }
    }
}

/// `config`: what decided the measured figures besides the workload's graph. `run` records
/// every key; `soak` has no batch size or parallel threshold option, so those are absent from
/// its snapshot (not invented).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Frontier nodes per parallel batch (run only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u64>,
    /// Client threads sending requests.
    pub concurrency: u64,
    pub mode: LoopMode,
    /// Edges a hop must relax to run in parallel (run only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_min_edges: Option<u64>,
    /// Whether the ActivationRecordPool was used.
    pub pool: bool,
    pub prefetch_distance: u64,
    pub requests: RequestsConfig,
    pub spread: SpreadSettings,
    /// Hop-executor threads.
    pub threads: u64,
    /// Recall mode only (1.1.0): the recall parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<super::RecallSettings>,
    /// The latency budget per request in ns (1.1.0), absent without one: a budget changes
    /// what requests do, so runs with different budgets are not comparable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_ns: Option<u64>,
}

impl RunConfig {
    /// As JSON, for comparing two configs key by key (`diff`). Cannot fail: every key is a
    /// string and every number finite or written as `null`.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// How requests were drawn (the workload's `[requests]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestsConfig {
    pub seed_activation: f64,
    pub seeds_per_request: u64,
}

/// The engine's spread configuration as resolved (DESIGN §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpreadSettings {
    pub cycle_penalty: f64,
    pub decay: DecaySetting,
    pub fan_effect: FanEffectSetting,
    pub max_depth: u32,
    pub tier_policy: TierPolicySetting,
    pub tiers: TierTable,
    /// `null` keeps every activated node.
    pub top_k: Option<u64>,
}

/// Serialised with its `kind` among its parameter, keys in alphabetical order (the snapshot
/// writer sorts them; see the module doc of `snapshot`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DecaySetting {
    Exponential { rate: f64 },
    PowerLaw { exponent: f64 },
    Linear { slope: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FanEffectSetting {
    None,
    OutDegree,
    SqrtOutDegree,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TierPolicySetting {
    Storage,
    HopDepth,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierTable {
    pub cold: TierSetting,
    pub hot: TierSetting,
    pub warm: TierSetting,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierSetting {
    pub confidence: f64,
    pub latency_budget_ns: u64,
    pub threshold: f64,
    pub visit_budget: u32,
}

/// `soak`: how the soak ran and what it concluded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakSection {
    pub coordinated_omission_corrected: bool,
    /// The verdicts that failed (`leak`, `drift`, `stall`), in that order.
    pub failed: Vec<String>,
    pub interval: SoakInterval,
    /// Intervals completed.
    pub intervals: u64,
    pub mode: LoopMode,
    pub passed: bool,
    /// Target request rate of an open-loop soak; `null` in closed loop.
    pub rate_per_s: Option<f64>,
    pub rss_bytes: RssBytes,
    pub verdicts: Verdicts,
}

/// How a soak cut its intervals: `{"spreads": k}` or `{"secs": s}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SoakInterval {
    Spreads(u64),
    Secs(f64),
}

/// Resident set size; `null` where this OS does not say.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RssBytes {
    pub end: Option<u64>,
    pub peak: Option<u64>,
    pub start: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdicts {
    pub drift: DriftVerdict,
    pub leak: LeakVerdict,
    pub stall: StallVerdict,
}
