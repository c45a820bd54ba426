//! Measurement: latency histograms and their file formats, perf counters, allocation counting,
//! RSS and available memory, the calibration kernel, the harness's own overhead, and facts
//! about the host. It imports neither the engine nor `report/`: what it measures is handed to
//! it as numbers, by `harness/`, which drives the engine.

pub mod alloc;
pub mod calibration;
pub mod counters;
pub mod histogram;
pub mod host;
pub mod interval;
pub mod rss;
pub mod timing;

pub use histogram::{LatencyHistogram, LatencySummary};
pub use host::HostInfo;
