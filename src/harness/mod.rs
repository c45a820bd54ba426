//! The harness: drives the engine for the measuring commands. It builds nothing and decides
//! nothing about the command line; it runs requests on settings under test, in interleaved
//! blocks (`run`) or in intervals (`soak`), times them with `measure/` and hands back what
//! was measured. This is the one layer that knows both the engine and the measurements:
//! `measure/` itself never sees the engine, and `report/` never sees either run loop.

pub mod batching;
pub mod bench;
pub mod predict;
pub mod recall;
pub mod requests;
pub mod soak;

pub use bench::{SettingOutcome, SettingUnderTest};
