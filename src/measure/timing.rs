//! The harness's own cost per request: what one timed measurement (two clock reads and a
//! histogram record) adds to every latency it reports. Measured, so a reader can tell how
//! much of a small latency is the harness.

use super::LatencyHistogram;
use std::time::Instant;

/// Median cost in nanoseconds of `Instant::now()` twice plus one histogram record, over
/// `rounds` repetitions.
pub fn harness_overhead_ns(rounds: usize) -> u64 {
    let mut scratch = LatencyHistogram::new();
    let mut costs = LatencyHistogram::new();
    for _ in 0..rounds.max(1) {
        let outer = Instant::now();
        let t0 = Instant::now();
        let ns = t0.elapsed().as_nanos() as u64;
        scratch.record(ns);
        costs.record(outer.elapsed().as_nanos() as u64);
    }
    costs.value_at_quantile(0.5)
}
