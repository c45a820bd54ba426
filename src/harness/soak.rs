//! The soak loop: a long run cut into intervals, each measured on its own (latency histogram,
//! RSS, pool, allocations, counters) and handed to the caller as it ends, so that nothing per
//! request is kept and the tool's memory does not grow with the number of spreads.
//!
//! Requests are drawn from the workload's stream a chunk at a time. Closed loop by default;
//! with a rate, open loop: request `n` is due at `start + n / rate` and timed from then, so a
//! stall counts against every request it delays.

use super::bench::{run_block, BlockCtx, OpenLoop, SettingOutcome, SettingUnderTest};
use super::requests::RequestSource;
use crate::engine::PoolStats;
use crate::graph::Graph;
use crate::measure::calibration::{Calibrator, REPS_BEFORE, REPS_BETWEEN};
use crate::measure::counters::CounterMode;
use crate::measure::interval::IntervalPoint;
use crate::measure::rss;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Requests drawn and run at a time; an interval by time ends at a chunk boundary.
const CHUNK: u64 = 1024;

/// When an interval ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IntervalRule {
    Spreads(u64),
    Secs(f64),
}

#[derive(Debug, Clone, Copy)]
pub struct SoakPlan {
    pub spreads: u64,
    pub warmup: u64,
    pub interval: IntervalRule,
    /// Open loop at this many requests per second; `None` = closed loop.
    pub rate: Option<f64>,
    pub counters: CounterMode,
}

/// One finished interval, as handed to the caller.
pub struct IntervalReport<'a> {
    pub index: u64,
    /// Wall-clock time the measured phase (after warm-up) started.
    pub measured_start: std::time::SystemTime,
    /// Start, relative to the start of the measured phase.
    pub start: Duration,
    pub duration: Duration,
    /// The interval's own measurements (its latency histogram, allocations, counters, work).
    pub outcome: &'a SettingOutcome,
    /// Spreads measured so far, this interval included.
    pub spreads_done: u64,
    pub rss_bytes: Option<u64>,
    pub pool: Option<PoolStats>,
}

/// What the whole soak measured: totals, and a few numbers per interval for the verdicts.
pub struct SoakOutcome {
    pub total: SettingOutcome,
    pub intervals: Vec<IntervalPoint>,
    pub wall: Duration,
    pub rss_start: Option<u64>,
    pub rss_end: Option<u64>,
    /// Set when `stop` cut the soak short.
    pub interrupted: bool,
}

/// Runs the soak. `on_interval` is called after every interval (to write its log lines); an
/// error from it, a failed spread or a panicked client ends the soak and is returned.
/// `calibration` times its reference kernel before the measured phase and at every
/// interval's end, outside every timed request.
pub fn run_soak(
    graph: &Graph,
    setting: &SettingUnderTest,
    stream: &mut RequestSource,
    plan: &SoakPlan,
    stop: &AtomicBool,
    calibration: &mut Calibrator,
    mut on_interval: impl FnMut(&IntervalReport<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<SoakOutcome> {
    // Warm-up: unmeasured, closed loop.
    let mut done_warm = 0;
    while done_warm < plan.warmup && !stop.load(Relaxed) {
        let n = CHUNK.min(plan.warmup - done_warm);
        let chunk = stream.draw(n as usize);
        let ctx = BlockCtx {
            stop,
            counters: CounterMode::Off,
            open_loop: None,
            warmup: true,
        };
        let mut warm = SettingOutcome::default();
        run_block(graph, &chunk, setting, 0..chunk.len(), &mut warm, ctx)?;
        done_warm += warm.measured;
        if warm.measured < n {
            break;
        }
    }

    super::bench::fit_models(std::slice::from_ref(setting));
    calibration.sample(REPS_BEFORE);
    let start = Instant::now();
    let measured_start = std::time::SystemTime::now();
    let open_loop = plan.rate.map(|r| OpenLoop {
        start,
        rate_per_s: r,
    });
    let mut total = SettingOutcome {
        warmed: done_warm,
        ..SettingOutcome::default()
    };
    let mut points = Vec::new();
    let rss_start = rss::current_rss_bytes();
    let mut done = 0u64;
    let mut index = 0u64;
    let mut interval;
    while done < plan.spreads && !stop.load(Relaxed) {
        interval = SettingOutcome::default();
        let i_start = Instant::now();
        loop {
            let left_total = plan.spreads - done - interval.measured;
            // Open loop at a low rate: a chunk must not outlast a time-based interval.
            let chunk = match (plan.interval, plan.rate) {
                (IntervalRule::Secs(secs), Some(rate)) => {
                    CHUNK.min(((rate * secs).ceil() as u64).max(1))
                }
                _ => CHUNK,
            };
            let n = match plan.interval {
                IntervalRule::Spreads(k) => chunk.min(k - interval.measured).min(left_total),
                IntervalRule::Secs(_) => chunk.min(left_total),
            };
            if n == 0 {
                break;
            }
            let chunk = stream.draw(n as usize);
            let ctx = BlockCtx {
                stop,
                counters: plan.counters,
                open_loop: open_loop.map(|ol| (ol, done + interval.measured)),
                warmup: false,
            };
            run_block(graph, &chunk, setting, 0..chunk.len(), &mut interval, ctx)?;
            let full = match plan.interval {
                IntervalRule::Spreads(k) => interval.measured >= k,
                IntervalRule::Secs(s) => i_start.elapsed().as_secs_f64() >= s,
            };
            if full || stop.load(Relaxed) || done + interval.measured >= plan.spreads {
                break;
            }
        }
        if interval.measured == 0 {
            break;
        }
        interval.measured_wall = i_start.elapsed();
        // After the interval's time is taken, so its reps do not count as interval time.
        calibration.sample(REPS_BETWEEN);
        done += interval.measured;
        let rss_bytes = rss::current_rss_bytes();
        let pool = setting.pool.as_ref().map(|p| p.stats());
        on_interval(&IntervalReport {
            index,
            measured_start,
            start: i_start.duration_since(start),
            duration: interval.measured_wall,
            outcome: &interval,
            spreads_done: done,
            rss_bytes,
            pool,
        })?;
        points.push(IntervalPoint {
            spreads_done: done,
            spreads: interval.measured,
            p99_ns: interval.latency.value_at_quantile(0.99),
            rss_bytes,
            allocs: interval.alloc.allocs,
        });
        total.merge(&interval);
        index += 1;
    }
    total.pool = setting.pool.as_ref().map(|p| p.stats());
    Ok(SoakOutcome {
        total,
        intervals: points,
        wall: start.elapsed(),
        rss_start,
        rss_end: rss::current_rss_bytes(),
        interrupted: stop.load(Relaxed) && done < plan.spreads,
    })
}
