//! Watching `run` and `soak` while they measure: the `--metrics-addr` endpoint (OpenMetrics
//! `/metrics` and `/snapshot.json`) and the `--stream` JSON lines.
//!
//! It exists so a long soak can be put on a dashboard or followed with `jq` without slowing
//! what it measures. The command calls [`Live`] only between blocks or intervals, outside
//! every timed request, and only to hand over copies ([`state`]); a server thread and a
//! stream-writer thread do the formatting and the I/O. Without `--metrics-addr` and
//! `--stream`, every call is a no-op.
//!
//! Dependency direction: `cli → live → {harness, measure, report}`; the OpenMetrics text
//! itself is `report::openmetrics`'s.

pub mod server;
pub mod state;
pub mod stream;

use crate::bad_input;
use crate::cli::LiveArgs;
use crate::engine::{ErrorTally, PoolStats};
use crate::harness::bench::{SettingOutcome, SettingUnderTest};
use crate::harness::soak::IntervalReport;
use crate::report::Snapshot;
use server::MetricsServer;
use state::{Frame, LiveState, Phase, SettingFigures};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stream::{Message, StreamWriter};

/// The most `--metrics-linger` may ask for: an hour.
const MAX_LINGER_S: f64 = 3600.0;

/// A measuring command's live outputs.
pub struct Live {
    state: Arc<LiveState>,
    server: Option<MetricsServer>,
    stream: Option<StreamWriter>,
    /// Streams one line per block (run); a soak streams its `metrics.jsonl` records instead.
    stream_blocks: bool,
    linger: Duration,
    /// The settings' names and options (a soak's: also its totals so far).
    settings: Vec<SettingFigures>,
    /// The frame published last.
    last: Arc<Frame>,
    blocks: u64,
    line: Vec<u8>,
}

impl Live {
    /// Binds `--metrics-addr` and opens `--stream` — before anything is measured, so a port
    /// in use, a bad address or an unwritable stream fails at once (exit 2 for bad input).
    pub fn start(args: &LiveArgs, command: &str, quiet: bool) -> anyhow::Result<Live> {
        if !(0.0..=MAX_LINGER_S).contains(&args.metrics_linger) {
            return Err(bad_input!(
                "--metrics-linger: must be 0 to {MAX_LINGER_S} seconds (got {})",
                args.metrics_linger
            ));
        }
        let state = Arc::new(LiveState::new(command));
        let last = state.current();
        let stream = match &args.stream {
            Some(path) => Some(StreamWriter::start(stream::open(path)?)?),
            None => None,
        };
        let server = match &args.metrics_addr {
            Some(addr) => Some(MetricsServer::start(addr, Arc::clone(&state), quiet)?),
            None => None,
        };
        Ok(Live {
            state,
            server,
            stream,
            stream_blocks: command == "run",
            linger: Duration::from_secs_f64(args.metrics_linger),
            settings: Vec::new(),
            last,
            blocks: 0,
            line: Vec::new(),
        })
    }

    /// Whether anyone is watching; when not, nothing is copied.
    pub fn active(&self) -> bool {
        self.server.is_some() || self.stream.is_some()
    }

    /// The address served, once bound.
    pub fn addr(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().map(|s| s.addr)
    }

    /// Names the workload and the settings under test (a run's with their batch sizes).
    pub fn describe(&mut self, workload: &str, settings: &[SettingUnderTest], batch: &[u64]) {
        self.state.set_workload(workload);
        self.settings = settings
            .iter()
            .enumerate()
            .map(|(i, s)| SettingFigures {
                label: s.label.clone(),
                batch_size: batch.get(i).copied(),
                ..SettingFigures::default()
            })
            .collect();
        self.publish(Phase::Preparing, Vec::new());
    }

    /// A run's block has ended: `outcomes` are the settings' figures so far.
    pub fn block(&mut self, outcomes: &[SettingOutcome], settings: &[SettingUnderTest]) {
        if !self.active() {
            return;
        }
        let figures: Vec<SettingFigures> = self
            .settings
            .iter()
            .zip(outcomes)
            .zip(settings)
            .map(|((f, o), s)| {
                let mut f = f.with_outcome(o, s.pool.as_ref().map(|p| p.stats()));
                // The models are attached after `describe`; in warm-up nothing is tallied yet.
                if s.model.is_some() && f.prediction.is_none() {
                    f.prediction = Some(ErrorTally::new());
                }
                f
            })
            .collect();
        let before: u64 = self.last.settings.iter().map(|s| s.measured).sum();
        let measured: u64 = figures.iter().map(|s| s.measured).sum();
        let phase = if measured == before {
            Phase::WarmUp
        } else {
            self.blocks += 1;
            Phase::Measuring
        };
        let frame = self.publish(phase, figures);
        if phase == Phase::Measuring && self.stream_blocks {
            if let Some(s) = &self.stream {
                s.send(Message::Block(frame));
            }
        }
    }

    /// A soak's interval has ended (its `metrics.jsonl` line was written through [`Live::tee`]).
    pub fn interval(&mut self, iv: &IntervalReport<'_>) {
        if !self.active() {
            return;
        }
        if let Some(f) = self.settings.first_mut() {
            f.add_interval(iv.outcome, iv.pool);
            f.warmed = iv.outcome.warmed.max(f.warmed);
        }
        self.blocks += 1;
        self.publish(Phase::Measuring, self.settings.clone());
        let line = std::mem::take(&mut self.line);
        if let Some(s) = &self.stream {
            if !line.is_empty() {
                s.send(Message::Line(line));
            }
        }
    }

    /// Writes through to `inner`, keeping a copy of what was written for the stream.
    pub fn tee<W: Write>(&mut self, inner: W) -> Tee<'_, W> {
        self.line.clear();
        Tee {
            inner,
            copy: self.stream.is_some().then_some(&mut self.line),
        }
    }

    /// Measuring is over: `/snapshot.json` serves the final snapshot from now on and the
    /// stream is written out and closed (before the command prints on standard output).
    pub fn measured(&mut self, snapshot: &Snapshot, pools: &[Option<PoolStats>]) {
        if let Some(mut s) = self.stream.take() {
            s.close();
        }
        if self.server.is_none() {
            return;
        }
        let mut settings = self.last.settings.clone();
        for (f, p) in settings.iter_mut().zip(pools) {
            if p.is_some() {
                f.pool = *p;
            }
        }
        let json = serde_json::to_vec_pretty(snapshot).ok().map(|mut v| {
            v.push(b'\n');
            Arc::new(v)
        });
        let frame = Frame {
            phase: Phase::Finished,
            elapsed_s: self.state.elapsed_s(),
            blocks: self.blocks,
            settings,
            snapshot_json: json,
        };
        self.state.publish(Arc::new(frame));
    }

    /// Keeps serving the final figures for `--metrics-linger` (a signal ends it early), then
    /// stops the server.
    pub fn finish(mut self, stop: &AtomicBool) {
        if self.server.is_some() && !self.linger.is_zero() && !stop.load(Ordering::Relaxed) {
            let end = Instant::now() + self.linger;
            while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
            }
        }
        self.server = None;
    }

    fn publish(&mut self, phase: Phase, settings: Vec<SettingFigures>) -> Arc<Frame> {
        let frame = Arc::new(Frame {
            phase,
            elapsed_s: self.state.elapsed_s(),
            blocks: self.blocks,
            settings,
            snapshot_json: None,
        });
        if self.server.is_some() {
            self.state.publish(Arc::clone(&frame));
        }
        self.last = Arc::clone(&frame);
        frame
    }
}

/// See [`Live::tee`].
pub struct Tee<'a, W> {
    inner: W,
    copy: Option<&'a mut Vec<u8>>,
}

impl<W: Write> Write for Tee<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(c) = self.copy.as_mut() {
            c.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
