//! Measurement: latency histograms and their file formats, the harness's own overhead, and
//! facts about the host. Knows nothing of the engine's internals.

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
