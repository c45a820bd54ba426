//! The `predict` section of a snapshot (`spreadbench predict`): how well the latency
//! predictor, fitted on one request stream, predicts a disjoint one — per request and per hop,
//! beside the noise ceiling measured on the same requests in the same run — and, with a
//! budget, what the budget manager did to the same requests against running them without it.
//!
//! It is a section of its own rather than an extension of `predictor{…}` because that one's
//! shape (the request model's statistics at its top level) is what `run` and `soak` write;
//! `predict` also fills `predictor{…}` in that shape, so tools that read it need nothing new.

use crate::engine::predictor::Coefficient;
use crate::engine::{ErrorStats, NoiseCeiling};
use serde::{Deserialize, Serialize};

/// The header of `residuals.csv`, which `predict` writes and `report` reads.
pub const RESIDUALS_HEADER: [&str; 5] =
    ["request", "hop", "predicted_ns", "observed_ns", "rel_err"];

/// `predict{…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictSection {
    /// `spread` or `recall`.
    pub mode: String,
    /// Requests run before training, neither timed nor learnt from.
    pub n_warmup: u64,
    /// Training requests (the workload's request stream, as `run` draws it).
    pub n_train: u64,
    /// Hops timed during training (the hop model's observations).
    pub n_train_hops: u64,
    /// Distinct test requests.
    pub n_test: u64,
    /// Times each test request ran, in rounds over all of them.
    pub repeat: u64,
    /// Seed of the training stream (the workload's).
    pub train_seed: u64,
    /// Seed of the test stream: the workload's, XOR a fixed constant.
    pub test_seed: u64,
    /// Test requests that also occur (same seeds) in the training stream.
    pub test_requests_in_training: u64,
    /// Per request: every single observation (n_test × repeat) against the prediction made
    /// before it started.
    pub request: ErrorStats,
    /// Recall only: the same observations against the prediction made after seeding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seed: Option<ErrorStats>,
    /// Per hop, over the hops whose median over the repeats is at least `hop_min_ns`.
    pub hop: ErrorStats,
    /// Per hop, every hop.
    pub hop_all: ErrorStats,
    /// The hop threshold of `hop` (2000 ns).
    pub hop_min_ns: u64,
    /// The share of single observations within 10/20/50% of their own request's median; under
    /// `hop` and `hop_all` the same for hops.
    pub noise_ceiling: NoiseCeilings,
    pub coefficients: ModelCoefficients,
    /// With `--budget`: the same test requests with and without the budget manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetComparison>,
}

/// `predict.noise_ceiling`: the request-level ceiling at the top, hops below.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoiseCeilings {
    #[serde(flatten)]
    pub request: NoiseCeiling,
    pub hop: NoiseCeiling,
    pub hop_all: NoiseCeiling,
}

/// `predict.coefficients`: intercept first, then one per feature (ns per unit), per model.
/// In recall mode `request` is the before-start model (`seed.*`, `rest.*`), `after_seed` the
/// after-seed one (`spread.*`, `rank.*`) and `hop` the spread phase's hop model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCoefficients {
    pub request: Vec<Coefficient>,
    pub hop: Vec<Coefficient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seed: Option<Vec<Coefficient>>,
}

/// `predict.budget`: every test request run with the manager and without it, alternately.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetComparison {
    pub budget_ns: u64,
    /// Requests per side (n_test × repeat).
    pub requests: u64,
    pub with_manager: BudgetSide,
    pub without_manager: BudgetSide,
    /// Top-10 overlap of truncated results with the full result of the same request.
    pub truncated_top10_overlap: Overlap,
    /// The same for fallbacks (the seeds alone).
    pub fallback_top10_overlap: Overlap,
}

/// One side of a [`BudgetComparison`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BudgetSide {
    pub over_budget: u64,
    pub over_budget_share: f64,
    pub truncated: u64,
    pub truncated_share: f64,
    pub fallbacks: u64,
    pub fallback_share: f64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
}

/// |top10(cut) ∩ top10(full)| / min(10, |full|) over the cut requests; `null` with none.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Overlap {
    pub requests: u64,
    pub mean: Option<f64>,
    pub min: Option<f64>,
}
