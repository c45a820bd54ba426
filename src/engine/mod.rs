//! The spreading-activation engine (DESIGN §2): the model and its parameters, the reusable
//! per-spread scratch state, and the spread itself.
//!
//! The engine knows graphs and numbers only: no CLI, no files, no printing. A library user
//! resolves a [`SpreadConfig`], builds a [`Spreader`] from it, keeps one [`SpreadScratch`]
//! per thread, and calls [`Spreader::spread_into`] with a reusable [`SpreadResult`].

pub mod executor;
pub mod fixed;
pub mod model;
pub mod pool;
pub mod prefetch;
pub mod rank;
pub mod result;
pub mod scratch;
pub mod spreader;

pub use executor::HopExecutor;
pub use model::{Decay, FanEffect, SpreadConfig, TierParams, TierPolicy, MAX_DEPTH};
pub use pool::{ActivationRecord, ActivationRecordPool, PoolHandle, PoolStats};
pub use result::{ActivatedNode, SpreadResult, WorkCounters};
pub use scratch::SpreadScratch;
pub use spreader::{Seed, SpreadError, Spreader};
