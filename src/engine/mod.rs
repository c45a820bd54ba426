//! The spreading-activation engine (DESIGN §2): the model and its parameters, the reusable
//! per-spread scratch state, and the spread itself.
//!
//! The engine knows graphs and numbers only: no CLI, no files, no printing. A library user
//! resolves a [`SpreadConfig`], builds a [`Spreader`] from it, keeps one [`SpreadScratch`]
//! per thread, and calls [`Spreader::spread_into`] with a reusable [`SpreadResult`].
//!
//! Around the spread: [`LatencyPredictor`] predicts a request's or a hop's latency from what
//! is known before it runs (a request's seeds through their [`CostProfile`]),
//! [`LatencyBudgetManager`] acts on those predictions, and [`AdaptiveBatcher`] tunes the
//! parallel executor's batch size and threshold from measured throughput.

pub mod batcher;
pub mod budget;
pub mod cost_profile;
pub mod executor;
pub mod fixed;
pub mod marks;
pub mod model;
pub mod pool;
pub mod predictor;
pub mod prefetch;
pub mod rank;
pub mod result;
pub mod scratch;
pub mod spreader;

pub use batcher::{AdaptiveBatcher, BatchSetting, BatcherMemory, BatcherStats, Fingerprint};
pub use budget::{
    parse_duration, Admission, BudgetStats, HopGate, LatencyBudgetManager, NoGate, Outcome,
};
pub use cost_profile::CostProfile;
pub use executor::HopExecutor;
pub use model::{Decay, FanEffect, SpreadConfig, TierParams, TierPolicy, MAX_DEPTH};
pub use pool::{ActivationRecord, ActivationRecordPool, PoolHandle, PoolStats};
pub use predictor::{
    noise_ceiling, ErrorStats, ErrorTally, HopFeatures, LatencyModel, LatencyPredictor,
    NoiseCeiling, PredictorStats, RequestFeatures,
};
pub use result::{ActivatedNode, SpreadResult, WorkCounters};
pub use scratch::SpreadScratch;
pub use spreader::{Seed, SpreadError, Spreader};
