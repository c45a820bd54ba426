//! spreadbench: a spreading-activation engine over compact memory graphs, and the harness
//! that benchmarks and soak-tests it.
//!
//! The library is usable without the harness: build a [`graph::Graph`], resolve a
//! [`engine::SpreadConfig`], and call [`engine::Spreader::spread`]. The `cli` module is the
//! binary's front end and is the only place that prints or parses command lines.
//!
//! Dependency direction: `cli → {harness, recall, engine, measure, report, workload} → graph`,
//! `harness → {engine, measure, workload}`; `measure/` imports neither the engine nor
//! `report/`. `recall/` (embeddings, similarity search) stands on `graph/` alone so far.

pub mod aligned;
pub mod atomic_file;
pub mod cli;
pub mod engine;
pub mod error;
pub mod graph;
pub mod harness;
pub mod input;
pub mod live;
pub mod measure;
pub mod recall;
pub mod report;
pub mod rng;
pub mod simd;
pub mod workload;

pub use error::InputError;
