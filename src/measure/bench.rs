//! The closed-loop benchmark: warm up, then time each spread request with a monotonic clock
//! into an HdrHistogram, and summarise the work the spreads did.
//!
//! Only the spread itself is inside the timed region; drawing the request's seeds and
//! reporting progress happen outside it.

use super::LatencyHistogram;
use crate::engine::{SpreadResult, SpreadScratch, Spreader};
use crate::graph::Graph;
use crate::workload::RequestStream;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// How often (in requests) the progress callback is called.
pub const PROGRESS_EVERY: u64 = 1024;

/// What a benchmark measured.
#[derive(Debug, Clone)]
pub struct BenchOutcome {
    pub latency: LatencyHistogram,
    pub measured: u64,
    pub warmup: u64,
    /// Wall time of the measured phase.
    pub wall: Duration,
    pub work: WorkTotals,
}

/// Work counters summed (and nodes-activated distributed) over the measured spreads.
#[derive(Debug, Clone)]
pub struct WorkTotals {
    pub nodes_activated: Histogram<u64>,
    pub edges_relaxed: u64,
    pub hops: u64,
    pub rejected: u64,
    pub cycle_penalties: u64,
}

impl WorkTotals {
    fn new() -> Self {
        WorkTotals {
            nodes_activated: Histogram::new(3)
                .unwrap_or_else(|_| unreachable!("3 sigfig is valid")),
            edges_relaxed: 0,
            hops: 0,
            rejected: 0,
            cycle_penalties: 0,
        }
    }

    fn add(&mut self, r: &SpreadResult) {
        let _ = self
            .nodes_activated
            .record(u64::from(r.work.nodes_activated));
        self.edges_relaxed += r.work.edges_relaxed;
        self.hops += u64::from(r.work.hops);
        self.rejected += r.work.rejected;
        self.cycle_penalties += r.work.cycle_penalties;
    }
}

/// Runs `warmup` requests unmeasured, then `spreads` measured ones, drawing seeds from
/// `requests`. `progress(done)` is called every [`PROGRESS_EVERY`] requests (warm-up
/// included) with the number done so far.
pub fn run_closed_loop(
    graph: &Graph,
    spreader: &Spreader,
    requests: &mut RequestStream,
    warmup: u64,
    spreads: u64,
    mut progress: impl FnMut(u64),
) -> BenchOutcome {
    let mut scratch = SpreadScratch::new(graph.node_count());
    let mut result = SpreadResult::default();
    let mut seeds = Vec::new();
    let mut done = 0u64;
    for _ in 0..warmup {
        requests.next_into(&mut seeds);
        // The workload's request stream only draws valid seeds, so a spread cannot fail.
        let _ = spreader.spread_into(graph, &seeds, &mut scratch, &mut result);
        done += 1;
        if done.is_multiple_of(PROGRESS_EVERY) {
            progress(done);
        }
    }
    let mut latency = LatencyHistogram::new();
    let mut work = WorkTotals::new();
    let start = Instant::now();
    for _ in 0..spreads {
        requests.next_into(&mut seeds);
        let t0 = Instant::now();
        let _ = spreader.spread_into(graph, &seeds, &mut scratch, &mut result);
        let ns = t0.elapsed().as_nanos() as u64;
        latency.record(ns);
        work.add(&result);
        done += 1;
        if done.is_multiple_of(PROGRESS_EVERY) {
            progress(done);
        }
    }
    let wall = start.elapsed();
    progress(done);
    BenchOutcome {
        latency,
        measured: spreads,
        warmup,
        wall,
        work,
    }
}
