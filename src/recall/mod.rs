//! Recall's core: the node embeddings and the similarity search that turns a cue vector into
//! the seeds of a spread (DESIGN §7).
//!
//! Recall needs three things that spreading alone does not: a unit vector per node (generated
//! from a workload's `[embeddings]` section, or imported from `.npy`), a seeded stream of cues,
//! and an exact cosine top-k over all nodes fast enough to sit in front of every spread. They
//! live here, apart from `engine`, because the engine knows nothing of vectors; the recall
//! pipeline (seed → spread → rank) builds on this module and the engine.
//!
//! - [`embeddings`]: [`Embeddings`] (normalised rows in one 64-byte-aligned array), their
//!   generation over a graph's Voronoi cells, and [`CueStream`].
//! - [`npy`]: import and export of `float32 [nodes, dim]` `.npy` files.
//! - [`similarity`]: the SIMD top-k scan ([`top_k`]) and its bandwidth measurement.

pub mod embeddings;
pub mod npy;
pub mod similarity;

pub use embeddings::{CueStream, EmbeddingSpec, Embeddings, Generated, RowError};
pub use similarity::{top_k, top_k_with, Kernel};
