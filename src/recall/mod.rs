//! Recall (DESIGN §7): the node embeddings, the similarity search that turns a cue vector into
//! the seeds of a spread, and the seed → spread → rank pipeline.
//!
//! Recall needs three things that spreading alone does not: a unit vector per node (generated
//! from a workload's `[embeddings]` section, or imported from `.npy`), a seeded stream of cues,
//! and an exact cosine top-k over all nodes fast enough to sit in front of every spread. They
//! live here, apart from `engine`, because the engine knows nothing of vectors; the recall
//! pipeline (seed → spread → rank) builds on them and the engine.
//!
//! - [`embeddings`]: [`Embeddings`] (normalised rows in one 64-byte-aligned array), their
//!   generation over a graph's Voronoi cells, and [`CueStream`].
//! - [`npy`]: import and export of `float32 [nodes, dim]` `.npy` files.
//! - [`similarity`]: the SIMD top-k scan ([`top_k`]) and its bandwidth measurement.
//! - [`quantized`]: the int8 pass that picks candidates for quantized seeding.
//! - [`exact`]: the machine-independent score every candidate is re-ranked by.
//! - [`quality`]: recall@k of a seeding mode against the exact scan.
//! - [`pipeline`]: seed → spread → rank ([`Recaller`], [`SeedIndex`], [`RecallScratch`]).
//! - [`budget`]: a recall's latency predicted before it starts and after seeding, and the
//!   budget that acts on it ([`RecallPredictor`], [`RecallBudgetManager`]).

pub mod budget;
pub mod embeddings;
pub mod exact;
pub mod npy;
pub mod pipeline;
pub mod quality;
pub mod quantized;
pub mod similarity;

pub use budget::{RecallBudgetManager, RecallGate, RecallPredictor};
pub use embeddings::{CueList, CueStream, EmbeddingSpec, Embeddings, Generated, RowError};
pub use pipeline::{
    PhaseTimes, RecallConfig, RecallMode, RecallOutcome, RecallScratch, Recalled, Recaller,
    SeedHit, SeedIndex, SimilarityMode,
};
pub use similarity::{top_k, top_k_with, Kernel};
