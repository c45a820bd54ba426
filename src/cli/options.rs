//! Validated options: the bounds and defaults of every numeric flag, and the checks that span
//! several flags, in one place (in the manner of hyperfine's `Options` and ripgrep's low and
//! high arguments). clap's definitions in [`super`] take their defaults and ranges from the
//! constants here; what a range cannot express — every combination of `run`'s lists, the soak
//! plan — is resolved by the functions below before a command does any work.

use super::{RunArgs, SoakArgs, Switch};
use crate::bad_input;
use crate::harness::soak::{IntervalRule, SoakPlan};
use crate::measure::counters::CounterMode;
use anyhow::Result;

/// Requests to measure or warm up (shared with the workload's `[run]` table).
pub const MAX_REQUESTS: u64 = crate::workload::MAX_REQUESTS;
/// Default requests per interleaved block of `run`.
pub const DEFAULT_BLOCK: u64 = 1000;
/// A block's requests are drawn up front, so the block size bounds that allocation.
pub const MAX_BLOCK: u64 = 1_000_000;
/// Hop threads and batch sizes.
pub const MAX_THREADS: u64 = 256;
pub const MAX_BATCH_SIZE: u64 = 1 << 20;
/// Prefetching further ahead than this only evicts what it fetched.
pub const MAX_PREFETCH_DISTANCE: u64 = 4096;
/// Closed-loop clients.
pub const MAX_CONCURRENCY: u64 = 1024;
/// The soak's test hook: bytes leaked per request.
pub const MAX_LEAK_BYTES: u64 = 1 << 20;
/// Open-loop rates, requests per second.
pub const MIN_RATE: f64 = 0.001;
pub const MAX_RATE: f64 = 1e9;

/// The options that make one setting of a side-by-side `run`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SettingSpec {
    pub threads: u64,
    pub batch_size: u64,
    pub prefetch_distance: usize,
    pub pool: bool,
    pub concurrency: u64,
}

impl SettingSpec {
    pub fn label(&self) -> String {
        format!(
            "threads={} batch={} prefetch={} pool={} concurrency={}",
            self.threads,
            self.batch_size,
            self.prefetch_distance,
            if self.pool { "on" } else { "off" },
            self.concurrency
        )
    }
}

/// Every combination of `run`'s listed options, in the order given (the first is the
/// baseline), each once.
pub fn setting_specs(args: &RunArgs) -> Vec<SettingSpec> {
    let default_threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let threads = args
        .threads
        .clone()
        .unwrap_or_else(|| vec![default_threads.min(MAX_THREADS)]);
    let pools: Vec<bool> = if args.no_pool {
        vec![false]
    } else {
        args.pool.iter().map(|s| *s == Switch::On).collect()
    };
    let mut specs = Vec::new();
    for &threads in &threads {
        for &batch_size in &args.batch_size {
            for &prefetch_distance in &args.prefetch_distance {
                for &pool in &pools {
                    for &concurrency in &args.concurrency {
                        let spec = SettingSpec {
                            threads,
                            batch_size,
                            prefetch_distance,
                            pool,
                            concurrency,
                        };
                        if !specs.contains(&spec) {
                            specs.push(spec);
                        }
                    }
                }
            }
        }
    }
    specs
}

/// The soak's plan from its flags (the warm-up is the workload's unless given; the caller
/// fills it in once the workload is loaded).
pub fn soak_plan(args: &SoakArgs) -> Result<SoakPlan> {
    if let Some(r) = args.rate {
        if !(r.is_finite() && (MIN_RATE..=MAX_RATE).contains(&r)) {
            return Err(bad_input!(
                "--rate: must be between {MIN_RATE} and {MAX_RATE:e} requests per second (got {r:e})"
            ));
        }
    }
    let interval = match (args.interval_spreads, args.interval_secs) {
        (_, Some(s)) if !(s.is_finite() && s > 0.0) => {
            return Err(bad_input!(
                "--interval-secs: must be a positive number of seconds (got {s})"
            ))
        }
        (_, Some(s)) => IntervalRule::Secs(s),
        (Some(k), None) => IntervalRule::Spreads(k),
        (None, None) => IntervalRule::Spreads((args.spreads / 100).max(1000).min(args.spreads)),
    };
    for (flag, v) in [
        ("--max-rss-growth", args.max_rss_growth),
        ("--max-p99-drift", args.max_p99_drift),
        ("--max-stall-ratio", args.max_stall_ratio),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(bad_input!("{flag}: must be a number >= 0 (got {v})"));
        }
    }
    Ok(SoakPlan {
        spreads: args.spreads,
        warmup: 0,
        interval,
        rate: args.rate,
        counters: CounterMode::from(args.counters),
    })
}
