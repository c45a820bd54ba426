//! The figures a measuring command publishes for its watchers, and how they are handed over.
//!
//! The measuring thread never formats anything and never waits on a watcher: at a block's or
//! an interval's end (outside every timed request) it copies what it measured into a new
//! [`Frame`] and swaps it in behind a mutex held only for the swap; the server thread takes
//! the current frame (an `Arc`, so no copy under the lock) and does all the formatting. A
//! frame is immutable once published.
//!
//! A new figure is one more field of [`SettingFigures`] and one more family in
//! `report::openmetrics`.

use crate::engine::{BudgetStats, ErrorTally, PoolStats};
use crate::harness::bench::SettingOutcome;
use crate::measure::alloc::AllocCount;
use crate::measure::counters::CounterSample;
use crate::measure::LatencyHistogram;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the command is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Loading the workload, building the graph and the settings.
    Preparing,
    WarmUp,
    Measuring,
    /// Measured; the snapshot is (or is being) written.
    Finished,
}

/// One setting's figures so far (the whole measured phase, not one block).
#[derive(Debug, Clone, Default)]
pub struct SettingFigures {
    pub label: String,
    pub latency: LatencyHistogram,
    pub measured: u64,
    pub warmed: u64,
    pub alloc: AllocCount,
    pub pool: Option<PoolStats>,
    pub counters: CounterSample,
    /// A run's batch size for parallel hops (a soak has no such option).
    pub batch_size: Option<u64>,
    /// Requests cut short by the latency budget (the budget manager's `truncated`).
    pub partial: u64,
    /// Requests the budget manager did not run: a spread's seeds alone, a recall's
    /// similarity-only results (its `fallbacks`).
    pub fallback: u64,
    /// With the predictor on: the relative error of each measured request's prediction made
    /// before it started, over the requests that ran whole — the tally the snapshot's
    /// `predictor` figures come from. `None` with `--predictor off` (and in a soak's warm-up).
    pub prediction: Option<ErrorTally>,
}

impl SettingFigures {
    /// This setting's figures so far, from its outcome: the label and options stay.
    pub fn with_outcome(&self, o: &SettingOutcome, pool: Option<PoolStats>) -> SettingFigures {
        let budget = budget_of(o);
        SettingFigures {
            label: self.label.clone(),
            latency: o.latency.clone(),
            measured: o.measured,
            warmed: o.warmed,
            alloc: o.alloc,
            pool,
            counters: o.counters.clone(),
            batch_size: self.batch_size,
            partial: budget.truncated,
            fallback: budget.fallbacks,
            prediction: o.prediction.as_ref().map(|p| p.errors.clone()),
        }
    }

    /// Adds one soak interval to the totals.
    pub fn add_interval(&mut self, o: &SettingOutcome, pool: Option<PoolStats>) {
        self.latency.add(&o.latency);
        self.measured += o.measured;
        self.alloc += o.alloc;
        self.pool = pool;
        self.counters.add(&o.counters);
        let budget = budget_of(o);
        self.partial += budget.truncated;
        self.fallback += budget.fallbacks;
        if let Some(p) = &o.prediction {
            self.prediction
                .get_or_insert_with(ErrorTally::new)
                .add(&p.errors);
        }
    }
}

/// What the budget manager did over `o`'s measured requests (all zero without a budget).
fn budget_of(o: &SettingOutcome) -> BudgetStats {
    o.prediction
        .as_ref()
        .and_then(|p| p.budget)
        .unwrap_or_default()
}

/// Everything the watchers see at one moment.
#[derive(Debug, Clone)]
pub struct Frame {
    pub phase: Phase,
    /// Seconds since the command started, when this frame was published.
    pub elapsed_s: f64,
    /// Measured blocks (run) or intervals (soak) so far.
    pub blocks: u64,
    pub settings: Vec<SettingFigures>,
    /// The final snapshot's JSON, once the command has built it.
    pub snapshot_json: Option<Arc<Vec<u8>>>,
}

/// Who is measuring what: fixed once the workload is loaded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Identity {
    pub command: String,
    pub workload: String,
}

/// The frame currently published, and the command's identity.
#[derive(Debug)]
pub struct LiveState {
    started: Instant,
    identity: Mutex<Identity>,
    frame: Mutex<Arc<Frame>>,
}

impl LiveState {
    pub fn new(command: &str) -> LiveState {
        LiveState {
            started: Instant::now(),
            identity: Mutex::new(Identity {
                command: command.into(),
                ..Identity::default()
            }),
            frame: Mutex::new(Arc::new(Frame {
                phase: Phase::Preparing,
                elapsed_s: 0.0,
                blocks: 0,
                settings: Vec::new(),
                snapshot_json: None,
            })),
        }
    }

    pub fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn set_workload(&self, workload: &str) {
        lock(&self.identity).workload = workload.into();
    }

    pub fn identity(&self) -> Identity {
        lock(&self.identity).clone()
    }

    /// The current frame (cheap: an `Arc`).
    pub fn current(&self) -> Arc<Frame> {
        Arc::clone(&lock(&self.frame))
    }

    /// Swaps `frame` in; the old one is dropped after the lock is released.
    pub fn publish(&self, frame: Arc<Frame>) {
        let old = std::mem::replace(&mut *lock(&self.frame), frame);
        drop(old);
    }
}

/// A poisoned lock still holds whole frames (they are swapped, never edited in place).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::bench::PredictionTally;

    /// One outcome of `n` measured requests: errors 0.1 and 0.3, and a budget manager that cut
    /// `truncated` short and ran `fallbacks` on seeds alone.
    fn outcome(truncated: u64, fallbacks: u64) -> SettingOutcome {
        let mut errors = ErrorTally::new();
        errors.record_rel_err(0.1);
        errors.record_rel_err(0.3);
        SettingOutcome {
            measured: 10,
            prediction: Some(PredictionTally {
                errors,
                budget: Some(BudgetStats {
                    budget_ns: 1000,
                    requests: 10,
                    truncated,
                    fallbacks,
                    ..BudgetStats::default()
                }),
            }),
            ..SettingOutcome::default()
        }
    }

    fn predicting() -> SettingFigures {
        SettingFigures {
            label: "s".into(),
            ..SettingFigures::default()
        }
    }

    #[test]
    fn a_runs_figures_are_its_outcomes_budget_counts_and_errors() {
        let f = predicting().with_outcome(&outcome(3, 2), None);
        assert_eq!((f.partial, f.fallback), (3, 2));
        let t = f.prediction.expect("predictor on");
        assert_eq!((t.count(), t.count_at_most(0.2)), (2, 1));
        // Without a budget or a predictor the counts are 0 and the errors absent.
        let off = SettingFigures::default().with_outcome(&SettingOutcome::default(), None);
        assert_eq!((off.partial, off.fallback), (0, 0));
        assert!(off.prediction.is_none());
    }

    #[test]
    fn a_soaks_figures_add_up_its_intervals() {
        let mut f = predicting();
        f.add_interval(&outcome(3, 2), None);
        f.add_interval(&outcome(1, 5), None);
        f.add_interval(&SettingOutcome::default(), None);
        assert_eq!((f.partial, f.fallback, f.measured), (4, 7, 20));
        let t = f.prediction.expect("predictor on");
        assert_eq!((t.count(), t.count_at_most(0.2)), (4, 2));
        assert!((t.sum() - 0.8).abs() < 1e-12);
    }
}
