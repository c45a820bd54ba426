//! The figures a measuring command publishes for its watchers, and how they are handed over.
//!
//! The measuring thread never formats anything and never waits on a watcher: at a block's or
//! an interval's end (outside every timed request) it copies what it measured into a new
//! [`Frame`] and swaps it in behind a mutex held only for the swap; the server thread takes
//! the current frame (an `Arc`, so no copy under the lock) and does all the formatting. A
//! frame is immutable once published.
//!
//! A new figure — the latency predictor's error, say — is one more field of
//! [`SettingFigures`] and one more family in `report::openmetrics`.

use crate::engine::PoolStats;
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
    /// Requests cut short by a latency budget; 0 until the budget manager exists.
    pub partial: u64,
    /// Requests answered by similarity-only fallback; 0 until recall runs here.
    pub fallback: u64,
}

impl SettingFigures {
    /// This setting's figures so far, from its outcome: the label and options stay.
    pub fn with_outcome(&self, o: &SettingOutcome, pool: Option<PoolStats>) -> SettingFigures {
        SettingFigures {
            label: self.label.clone(),
            latency: o.latency.clone(),
            measured: o.measured,
            warmed: o.warmed,
            alloc: o.alloc,
            pool,
            counters: o.counters.clone(),
            batch_size: self.batch_size,
            partial: self.partial,
            fallback: self.fallback,
        }
    }

    /// Adds one soak interval to the totals.
    pub fn add_interval(&mut self, o: &SettingOutcome, pool: Option<PoolStats>) {
        self.latency.add(&o.latency);
        self.measured += o.measured;
        self.alloc += o.alloc;
        self.pool = pool;
        self.counters.add(&o.counters);
    }
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
