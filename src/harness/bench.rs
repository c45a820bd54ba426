//! The closed-loop benchmark: each setting under test (thread count, batch size, prefetch
//! distance, pool on or off, concurrency) runs the same requests, in blocks interleaved
//! round-robin across settings so that drift on a shared machine hits all settings alike.
//!
//! Per request, only acquiring the per-spread state, the spread and releasing the state are
//! inside the timed region (and inside the allocation-counting window); seeds are pre-drawn,
//! and recording and progress happen outside it. With concurrency C, C client threads take
//! requests of a block from a shared cursor, each timing into its own histogram; the
//! histograms are merged.
//!
//! The same block runner serves `soak`: it can stop at the next request boundary when asked
//! (a signal), read perf counters on each client thread, and run open loop — each request
//! scheduled at a fixed time and timed from that time, so a stall counts against every
//! request it delays (coordinated omission corrected, as wrk2 does).
//!
//! A spread that fails or a client thread that panics fails the block (and the command):
//! a sample silently missing some requests would be reported as if it were whole.
//!
//! With a [`RequestModel`], each spread request is also predicted before it starts (from its
//! seeds' cost profiles) and the prediction compared with the observed latency; warm-up
//! requests train the request model and, through a [`HopTimer`], the hop model. Without a
//! budget the prediction is made before the timed region; with one, the budget manager's
//! admission (the prediction) and its check before each hop are inside it, since they are
//! part of serving the request under a budget. Recall requests are predicted (before they
//! start, and after seeding) and budgeted by a [`RecallClient`], in the same places.

use super::recall::{RecallClient, RecallSetting, RecallTally};
use super::requests::{RequestBlock, RequestSource};
use crate::engine::budget::{seeds_only_into, Admission, HopTimer};
use crate::engine::NoGate;
use crate::engine::{
    ActivationRecord, ActivationRecordPool, BudgetStats, CostProfile, ErrorTally,
    LatencyBudgetManager, LatencyPredictor, PoolStats, Spreader, WorkCounters,
};
use crate::graph::Graph;
use crate::measure::alloc::{self, AllocCount};
use crate::measure::calibration::{Calibrator, REPS_BEFORE, REPS_BETWEEN};
use crate::measure::counters::{CounterMode, CounterSample, ThreadCounters};
use crate::measure::LatencyHistogram;
use crate::recall::RecallScratch;
use anyhow::{anyhow, Context, Result};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Idle records an ActivationRecordPool's shared queue may hold in `run` and `soak`: as many as
/// the most clients they run (`--concurrency` is at most 1024), so no returned record is
/// discarded.
pub const POOL_CAPACITY: usize = 1024;

/// One configuration under test.
pub struct SettingUnderTest {
    /// Short description, e.g. `threads=2 batch=256 prefetch=8 pool=on concurrency=1`.
    pub label: String,
    pub spreader: Spreader,
    /// `None` allocates fresh per-spread state for every request (`--no-pool`).
    pub pool: Option<ActivationRecordPool>,
    pub concurrency: usize,
    /// Set in recall mode: each request is a cue, run through seed → spread → rank.
    pub recall: Option<RecallSetting>,
    /// Test hook: bytes deliberately leaked after every request, so tests can check that the
    /// soak's leak verdict notices. Always 0 outside tests.
    pub leak_bytes_per_spread: usize,
    /// Predict each request (and enforce a budget); `None` with `--predictor off`.
    pub model: Option<RequestModel>,
    /// `--batch-size auto`: the adaptive batcher chooses each spread's batch setting.
    pub batcher: Option<super::batching::SharedBatcher>,
}

/// The latency predictor of one setting, and the budget its requests run under.
pub struct RequestModel {
    /// The seeds' cost profiles: a request's features.
    pub profile: Arc<CostProfile>,
    /// Depth of the setting's spreads (a request feature).
    pub depth: u32,
    /// A latency budget per request, in ns.
    pub budget_ns: Option<u64>,
    /// The trained models. A block's clients each predict with a copy taken at the block's
    /// start; the calling client's copy, which kept learning, is put back at its end.
    pub predictor: Mutex<LatencyPredictor>,
}

impl RequestModel {
    pub fn new(profile: Arc<CostProfile>, depth: u32, budget_ns: Option<u64>) -> Self {
        RequestModel {
            profile,
            depth,
            budget_ns,
            predictor: Mutex::new(LatencyPredictor::new()),
        }
    }

    /// The models as they stand.
    pub fn predictor(&self) -> LatencyPredictor {
        lock(&self.predictor).clone()
    }

    /// Refits both models on everything observed (the end of a warm-up).
    pub fn fit(&self) {
        lock(&self.predictor).fit();
    }
}

/// A poisoned lock (a panicked client, which fails the block anyway) still holds a usable
/// predictor.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the predictor and the budget manager counted over measured requests.
#[derive(Debug, Clone, Default)]
pub struct PredictionTally {
    /// Relative error of each prediction against the observed latency, over the requests
    /// that ran whole (a truncated or fallen-back request's latency is not the one predicted).
    pub errors: ErrorTally,
    /// With a budget: what the manager did.
    pub budget: Option<BudgetStats>,
}

impl PredictionTally {
    pub fn merge(&mut self, o: &PredictionTally) {
        self.errors.add(&o.errors);
        if let Some(b) = &o.budget {
            self.budget.get_or_insert_with(BudgetStats::default).add(b);
        }
    }
}

/// One client's working copy of a [`RequestModel`] for a block.
struct ClientModel<'m> {
    model: &'m RequestModel,
    /// The predictor lives in the manager (its model); without a budget the manager only
    /// holds it.
    mgr: LatencyBudgetManager<LatencyPredictor>,
    tally: PredictionTally,
}

impl<'m> ClientModel<'m> {
    fn new(model: &'m RequestModel) -> Self {
        let predictor = model.predictor();
        ClientModel {
            model,
            mgr: LatencyBudgetManager::new(model.budget_ns.unwrap_or(u64::MAX), predictor),
            tally: PredictionTally {
                errors: ErrorTally::new(),
                budget: None,
            },
        }
    }

    /// Ends the client's block: its tallies into `out`; the calling client's predictor back.
    fn end(self, primary: bool, out: &mut SettingOutcome) {
        let mut tally = self.tally;
        if self.model.budget_ns.is_some() && self.mgr.stats().requests > 0 {
            tally.budget = Some(self.mgr.stats());
        }
        out.prediction
            .get_or_insert_with(PredictionTally::default)
            .merge(&tally);
        if primary {
            *lock(&self.model.predictor) = self.mgr.model().clone();
        }
    }
}

/// What one setting measured.
#[derive(Debug, Clone)]
pub struct SettingOutcome {
    pub latency: LatencyHistogram,
    pub measured: u64,
    /// Warm-up requests that ran (fewer than planned when a signal stopped the warm-up).
    pub warmed: u64,
    /// Wall time of this setting's measured blocks.
    pub measured_wall: Duration,
    pub work: WorkTotals,
    /// Allocations during measured requests (warm-up excluded).
    pub alloc: AllocCount,
    pub pool: Option<PoolStats>,
    /// Perf counters over the measured requests, summed over client threads.
    pub counters: CounterSample,
    /// Recall mode: phase histograms and quality tallies of the measured requests (made at
    /// the first recall: a spread-mode outcome allocates no histograms for it).
    pub recall: Option<RecallTally>,
    /// With a predictor: its errors and the budget manager's counts over measured requests.
    pub prediction: Option<PredictionTally>,
}

impl Default for SettingOutcome {
    fn default() -> Self {
        SettingOutcome {
            latency: LatencyHistogram::new(),
            measured: 0,
            warmed: 0,
            measured_wall: Duration::ZERO,
            work: WorkTotals::new(),
            alloc: AllocCount::default(),
            pool: None,
            counters: CounterSample::default(),
            recall: None,
            prediction: None,
        }
    }
}

impl SettingOutcome {
    pub fn throughput_per_s(&self) -> f64 {
        let s = self.measured_wall.as_secs_f64();
        if s > 0.0 {
            self.measured as f64 / s
        } else {
            0.0
        }
    }

    /// Adds another outcome's measurements (a client's, or an interval's).
    pub fn merge(&mut self, o: &SettingOutcome) {
        self.latency.add(&o.latency);
        self.measured += o.measured;
        self.warmed += o.warmed;
        self.measured_wall += o.measured_wall;
        self.work.merge(&o.work);
        self.alloc += o.alloc;
        self.counters.add(&o.counters);
        if let Some(r) = &o.recall {
            self.recall
                .get_or_insert_with(RecallTally::default)
                .merge(r);
        }
        if let Some(p) = &o.prediction {
            self.prediction
                .get_or_insert_with(PredictionTally::default)
                .merge(p);
        }
    }
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

/// The scalar work counters of one spread, copied out before its state is released.
#[derive(Debug, Clone, Copy)]
struct WorkSample {
    nodes_activated: u32,
    edges_relaxed: u64,
    hops: u32,
    rejected: u64,
    cycle_penalties: u64,
}

impl WorkSample {
    fn of(w: &WorkCounters) -> Self {
        WorkSample {
            nodes_activated: w.nodes_activated,
            edges_relaxed: w.edges_relaxed,
            hops: w.hops,
            rejected: w.rejected,
            cycle_penalties: w.cycle_penalties,
        }
    }
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

    fn add(&mut self, w: WorkSample) {
        let _ = self.nodes_activated.record(u64::from(w.nodes_activated));
        self.edges_relaxed += w.edges_relaxed;
        self.hops += u64::from(w.hops);
        self.rejected += w.rejected;
        self.cycle_penalties += w.cycle_penalties;
    }

    fn merge(&mut self, o: &WorkTotals) {
        let _ = self.nodes_activated.add(&o.nodes_activated);
        self.edges_relaxed += o.edges_relaxed;
        self.hops += o.hops;
        self.rejected += o.rejected;
        self.cycle_penalties += o.cycle_penalties;
    }

    /// Same totals: the settings of one run must agree, since spreads are deterministic.
    pub fn same_as(&self, o: &WorkTotals) -> bool {
        self.edges_relaxed == o.edges_relaxed
            && self.hops == o.hops
            && self.rejected == o.rejected
            && self.cycle_penalties == o.cycle_penalties
            && self.nodes_activated.len() == o.nodes_activated.len()
            && self.nodes_activated.mean() == o.nodes_activated.mean()
    }
}

/// How the benchmark is laid out in time.
#[derive(Debug, Clone, Copy)]
pub struct BenchPlan {
    /// Requests each setting runs, unmeasured, before measuring.
    pub warmup: u64,
    /// Requests each setting measures.
    pub spreads: u64,
    /// Requests per interleaved block.
    pub block: u64,
    pub counters: CounterMode,
}

/// Open-loop pacing: request number `n` of the run is due at `start + n / rate`.
#[derive(Debug, Clone, Copy)]
pub struct OpenLoop {
    pub start: Instant,
    pub rate_per_s: f64,
}

impl OpenLoop {
    /// When request `n` is due; a time too far to represent saturates at a year from now
    /// (the caller validates the rate, so that is never reached in practice).
    pub fn due(&self, n: u64) -> Instant {
        const FAR: Duration = Duration::from_secs(365 * 24 * 3600);
        let offset = Duration::try_from_secs_f64(n as f64 / self.rate_per_s)
            .unwrap_or(FAR)
            .min(FAR);
        self.start + offset
    }
}

/// How one block runs besides its requests.
#[derive(Clone, Copy)]
pub struct BlockCtx<'a> {
    /// Checked before every request: set by a signal handler to stop at the next boundary.
    pub stop: &'a AtomicBool,
    pub counters: CounterMode,
    /// Open-loop pacing, with the run-wide number of the block's first request.
    pub open_loop: Option<(OpenLoop, u64)>,
    /// Warm-up: requests train the predictor (hops timed) and run without a budget.
    pub warmup: bool,
}

/// Runs the plan over `settings`, drawing requests from `stream` one block at a time (so
/// memory does not grow with the number of spreads): warm-up requests first, then measured
/// ones; every setting runs the same requests. `progress(done, outcomes)` is called after
/// every block, outside the timed requests, with the requests done so far (all settings
/// together) and each setting's outcome so far (what `--metrics-addr` publishes). Stops early, between requests, when
/// `stop` is set. `calibration` times its reference kernel before the measured blocks and
/// between them, outside every timed request. A failed spread or a panicked client ends it
/// with an error naming the setting.
pub fn run_interleaved(
    graph: &Graph,
    stream: &mut RequestSource,
    settings: &[SettingUnderTest],
    plan: BenchPlan,
    stop: &AtomicBool,
    calibration: &mut Calibrator,
    mut progress: impl FnMut(u64, &[SettingOutcome]),
) -> Result<Vec<SettingOutcome>> {
    let mut outcomes: Vec<SettingOutcome> =
        settings.iter().map(|_| SettingOutcome::default()).collect();
    let block = plan.block.max(1);
    let mut done = 0u64;
    let warm_ctx = BlockCtx {
        stop,
        counters: CounterMode::Off,
        open_loop: None,
        warmup: true,
    };
    let mut warmed = 0;
    while warmed < plan.warmup && !stop.load(Relaxed) {
        let requests = stream.draw(block.min(plan.warmup - warmed) as usize);
        for (s, o) in settings.iter().zip(outcomes.iter_mut()) {
            let mut warm = SettingOutcome::default();
            run_block(graph, &requests, s, 0..requests.len(), &mut warm, warm_ctx)?;
            o.warmed += warm.measured;
            done += requests.len() as u64;
        }
        warmed += requests.len() as u64;
        progress(done, &outcomes);
    }
    fit_models(settings);
    let ctx = BlockCtx {
        counters: plan.counters,
        warmup: false,
        ..warm_ctx
    };
    let mut measured = 0;
    calibration.sample(REPS_BEFORE);
    while measured < plan.spreads && !stop.load(Relaxed) {
        let requests = stream.draw(block.min(plan.spreads - measured) as usize);
        for (s, o) in settings.iter().zip(outcomes.iter_mut()) {
            let t0 = Instant::now();
            run_block(graph, &requests, s, 0..requests.len(), o, ctx)?;
            o.measured_wall += t0.elapsed();
            done += requests.len() as u64;
        }
        measured += requests.len() as u64;
        calibration.sample(REPS_BETWEEN);
        progress(done, &outcomes);
    }
    for (s, o) in settings.iter().zip(outcomes.iter_mut()) {
        o.pool = s.pool.as_ref().map(|p| p.stats());
    }
    Ok(outcomes)
}

/// Refits every setting's predictor on what the warm-up observed.
pub fn fit_models(settings: &[SettingUnderTest]) {
    for m in settings.iter().filter_map(|s| s.model.as_ref()) {
        m.fit();
    }
}

/// Runs requests `range` of `requests` on setting `s` (with its concurrency), adding to `out`
/// (not its `measured_wall` time: the caller times blocks). Fails, naming the setting, when a
/// spread fails or a client thread panics; the other clients then stop at their next request.
pub fn run_block(
    graph: &Graph,
    requests: &RequestBlock,
    s: &SettingUnderTest,
    range: std::ops::Range<usize>,
    out: &mut SettingOutcome,
    ctx: BlockCtx<'_>,
) -> Result<()> {
    let cursor = AtomicUsize::new(range.start);
    let first = range.start;
    let setting = || format!("setting {}", s.label);
    if s.concurrency <= 1 {
        return run_client(
            graph, requests, s, &cursor, first, range.end, out, ctx, true,
        )
        .with_context(setting);
    }
    let tallies: Vec<Result<SettingOutcome>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..s.concurrency)
            .map(|_| {
                scope.spawn(|| -> Result<SettingOutcome> {
                    // Should this client panic, the others stop too: the block has failed.
                    let _stop_others = EndOnPanic {
                        cursor: &cursor,
                        end: range.end,
                    };
                    #[cfg(test)]
                    tests::maybe_panic(s);
                    let mut t = SettingOutcome::default();
                    run_client(
                        graph, requests, s, &cursor, first, range.end, &mut t, ctx, false,
                    )?;
                    Ok(t)
                })
            })
            .collect();
        let mut mine = SettingOutcome::default();
        let mine = run_client(
            graph, requests, s, &cursor, first, range.end, &mut mine, ctx, true,
        )
        .map(|()| mine);
        let mut all = vec![mine];
        all.extend(handles.into_iter().map(|h| {
            h.join()
                .map_err(|payload| {
                    anyhow!("a client thread panicked: {}", panic_message(&*payload))
                })
                .and_then(|r| r)
        }));
        all
    });
    // Nothing of a failed block is merged: its sample would be a partial one.
    let tallies = tallies
        .into_iter()
        .collect::<Result<Vec<_>>>()
        .with_context(setting)?;
    for t in &tallies {
        out.merge(t);
    }
    Ok(())
}

/// Ends the block's request cursor when dropped while its thread panics, so the other
/// clients stop instead of finishing a block whose result will be thrown away.
struct EndOnPanic<'a> {
    cursor: &'a AtomicUsize,
    end: usize,
}

impl Drop for EndOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.cursor.fetch_max(self.end, Relaxed);
        }
    }
}

/// What a panic said, when it said it with a string (as `panic!` and `expect` do).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// One closed- or open-loop client: takes request indices from `cursor` until `end`. The
/// `primary` client (the calling thread) puts its predictor back at the end.
#[allow(clippy::too_many_arguments)]
fn run_client(
    graph: &Graph,
    requests: &RequestBlock,
    s: &SettingUnderTest,
    cursor: &AtomicUsize,
    first: usize,
    end: usize,
    out: &mut SettingOutcome,
    ctx: BlockCtx<'_>,
    primary: bool,
) -> Result<()> {
    // Recall requests are predicted by their own client (their seeds are known only inside
    // the request): see `harness::recall::RecallClient`.
    let mut model = match requests {
        RequestBlock::Spread(_) => s.model.as_ref().map(ClientModel::new),
        RequestBlock::Recall(_) => None,
    };
    let mut recall_model = match (requests, &s.recall, &s.model) {
        (RequestBlock::Recall(_), Some(r), Some(m)) => Some(RecallClient::new(r, m)),
        _ => None,
    };
    let budget = !ctx.warmup && s.model.as_ref().is_some_and(|m| m.budget_ns.is_some());
    let mut counters = ThreadCounters::open(ctx.counters);
    let mut handle = s.pool.as_ref().map(|p| p.handle());
    // The batch setting of each spread: the batcher's choice, or the spreader's own.
    let mut batch = super::batching::ClientBatch::new(s.batcher.as_ref(), &s.spreader);
    // Recall's buffers are the client's, made before its first request.
    let mut bufs = s
        .recall
        .as_ref()
        .map(|r| RecallScratch::for_config(r.recaller.config()));
    while !ctx.stop.load(Relaxed) {
        let i = cursor.fetch_add(1, Relaxed);
        if i >= end {
            break;
        }
        // Open loop: wait for the request's scheduled time, and time it from then.
        let due = ctx
            .open_loop
            .map(|(ol, base)| ol.due(base + (i - first) as u64));
        if let Some(due) = due {
            // A signal during a long wait (a low rate) stops without running the request.
            if !wait_until(due, ctx.stop) {
                break;
            }
        }
        // The request's features and, without a budget, its prediction: before the clock.
        let mut predicted = None;
        let features = match (model.as_ref(), requests) {
            (Some(m), RequestBlock::Spread(list)) => {
                let f = m
                    .model
                    .profile
                    .request_features(graph, list.get(i), m.model.depth);
                if !budget {
                    predicted = Some(m.mgr.model().predict_latency(&f));
                }
                Some(f)
            }
            _ => None,
        };
        let recall_before = recall_model.as_ref().map(RecallClient::predict_before);
        let a0 = alloc::thread_count();
        let t0 = Instant::now();
        let mut rec = match handle.as_mut() {
            Some(h) => h.acquire(),
            None => Box::new(ActivationRecord::new(graph.node_count())),
        };
        let ActivationRecord { scratch, result } = &mut *rec;
        let (spread, recalled) = match (requests, &s.recall, bufs.as_mut()) {
            (RequestBlock::Spread(list), _, _) => {
                let seeds = list.get(i);
                let setting = batch.setting();
                let r = match (model.as_mut(), &features) {
                    (Some(m), Some(_)) if ctx.warmup => {
                        let mut timer = HopTimer::new(m.mgr.model_mut());
                        s.spreader
                            .spread_gated_into_with(
                                graph, seeds, scratch, result, &mut timer, setting,
                            )
                            .map(|_| ())
                    }
                    (Some(m), Some(f)) if budget => match m.mgr.admit(f) {
                        Admission::Fallback { predicted_ns } => {
                            predicted = Some(predicted_ns);
                            seeds_only_into(&s.spreader, graph, seeds, result)
                        }
                        Admission::Run { predicted_ns } => {
                            predicted = Some(predicted_ns);
                            s.spreader
                                .spread_gated_into_with(
                                    graph, seeds, scratch, result, &mut m.mgr, setting,
                                )
                                .map(|_| ())
                        }
                    },
                    _ => s
                        .spreader
                        .spread_into_with(graph, seeds, scratch, result, setting),
                };
                (r, None)
            }
            (RequestBlock::Recall(cues), Some(r), Some(b)) => {
                let (cue, node) = cues.get(i);
                let recalled = match recall_model.as_mut() {
                    Some(c) => c.recall(graph, cue, b, scratch, result, ctx.warmup, budget),
                    None => r.recaller.recall_gated_into(
                        graph,
                        &r.index,
                        cue,
                        b,
                        scratch,
                        result,
                        &mut NoGate,
                    ),
                };
                match recalled {
                    Ok(o) => (Ok(()), Some((o, node))),
                    Err(e) => (Err(e), None),
                }
            }
            (RequestBlock::Recall(_), _, _) => {
                unreachable!("cues are drawn only for settings that recall")
            }
        };
        let sample = WorkSample::of(&result.work);
        match handle.as_mut() {
            Some(h) => h.release(rec),
            None => drop(rec),
        }
        if let Err(e) = spread {
            // The workload's request stream draws valid seeds, so this is a bug, not a
            // request to leave out of the sample; the other clients stop too.
            cursor.fetch_max(end, Relaxed);
            return Err(e).with_context(|| format!("request {i} of the block"));
        }
        #[cfg(feature = "injected-slowdown")]
        {
            // Test builds only (`--features injected-slowdown`): every request 20% slower, so
            // that `compare` can be shown to catch a real slowdown.
            let until = Instant::now() + t0.elapsed() / 5;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        let end_t = Instant::now();
        out.alloc += alloc::thread_count() - a0;
        let from = due.map_or(t0, |d| d.min(t0));
        let latency_ns = end_t.duration_since(from).as_nanos() as u64;
        out.latency.record(latency_ns);
        batch.observe(
            sample.edges_relaxed,
            u64::from(sample.nodes_activated),
            end_t.duration_since(t0).as_nanos() as u64,
        );
        if let (Some(m), Some(f)) = (model.as_mut(), &features) {
            // Trained on the spread's own time (from its start, not its open-loop due time).
            let observed = end_t.duration_since(t0).as_nanos() as f64;
            if ctx.warmup {
                m.mgr.model_mut().observe_request(f, observed);
            } else {
                let whole = !budget || {
                    let o = m.mgr.finish(latency_ns);
                    !(o.truncated || o.fallback)
                };
                if whole {
                    if let Some(p) = predicted {
                        m.tally.errors.record(p, observed);
                    }
                    m.mgr.model_mut().observe_request(f, observed);
                }
            }
        }
        if let (Some(c), Some((o, _)), Some(b), Some(p)) = (
            recall_model.as_mut(),
            &recalled,
            bufs.as_ref(),
            recall_before,
        ) {
            let observed = end_t.duration_since(t0).as_nanos() as f64;
            c.after(graph, b, o, p, observed, latency_ns, ctx.warmup, budget);
        }
        out.work.add(sample);
        out.measured += 1;
        if let (Some((o, node)), Some(r), Some(b)) = (recalled, &s.recall, bufs.as_ref()) {
            out.recall.get_or_insert_with(RecallTally::default).record(
                o.times,
                b,
                node,
                r.cells.as_deref().map(Vec::as_slice),
            );
        }
        if s.leak_bytes_per_spread > 0 {
            // The test hook: written (so resident), then forgotten; `black_box` keeps the
            // optimiser from removing an allocation nobody reads.
            std::mem::forget(std::hint::black_box(vec![0xA5u8; s.leak_bytes_per_spread]));
        }
    }
    if ctx.counters != CounterMode::Off {
        out.counters.add(&counters.read());
    }
    if let Some(c) = recall_model {
        c.end(primary, ctx.warmup, out);
    }
    if let Some(m) = model {
        if !ctx.warmup {
            m.end(primary, out);
        } else if primary {
            *lock(&m.model.predictor) = m.mgr.model().clone();
        }
    }
    Ok(())
}

/// Sleeps, then spins, until `t`: sleeping alone would overshoot by the scheduler's slack.
/// Sleeps in slices of at most 10 ms so that `stop` is noticed; returns false if it was.
fn wait_until(t: Instant, stop: &AtomicBool) -> bool {
    const SPIN: Duration = Duration::from_micros(200);
    const SLICE: Duration = Duration::from_millis(10);
    loop {
        if stop.load(Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= t {
            return true;
        }
        let left = t - now;
        if left > SPIN {
            std::thread::sleep((left - SPIN).min(SLICE));
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::workload::Workload;

    /// A setting with this label panics in every spawned client thread (the test-only hook
    /// called from `run_block`; there is no other way to make a client panic on purpose).
    const PANIC_LABEL: &str = "test: client threads panic";

    pub(super) fn maybe_panic(s: &SettingUnderTest) {
        if s.label == PANIC_LABEL {
            panic!("injected client panic");
        }
    }

    fn chain() -> (Workload, Graph) {
        let w = Workload::load("chain-64").unwrap();
        let g = crate::graph::generate::generate(&w.graph).unwrap();
        (w, g)
    }

    fn setting(w: &Workload, label: &str, concurrency: usize) -> SettingUnderTest {
        SettingUnderTest {
            label: label.into(),
            spreader: Spreader::new(w.spread.clone()).unwrap(),
            pool: None,
            concurrency,
            recall: None,
            leak_bytes_per_spread: 0,
            model: None,
            batcher: None,
        }
    }

    fn plan() -> BenchPlan {
        BenchPlan {
            warmup: 0,
            spreads: 40,
            block: 20,
            counters: CounterMode::Off,
        }
    }

    /// Requests drawn for a graph of a million nodes, run on a 64-node chain: nearly every
    /// seed is outside the graph, and each such spread fails. Before, those spreads were
    /// timed and counted as measured.
    #[test]
    fn a_failed_spread_fails_the_run_and_names_the_setting() {
        let (w, g) = chain();
        for concurrency in [1, 3] {
            let s = setting(&w, "seeds outside", concurrency);
            let mut stream = RequestSource::Spread(w.requests(1_000_000));
            let stop = AtomicBool::new(false);
            let e = run_interleaved(
                &g,
                &mut stream,
                std::slice::from_ref(&s),
                plan(),
                &stop,
                &mut Calibrator::new(),
                |_, _| {},
            )
            .unwrap_err();
            let msg = format!("{e:#}");
            assert!(msg.starts_with("setting seeds outside: request "), "{msg}");
            assert!(msg.contains("is outside the graph (nodes 0..64)"), "{msg}");
        }
    }

    /// The same requests on a graph that holds them run whole: the error above is the
    /// seeds', not the harness's.
    #[test]
    fn valid_requests_run_whole() {
        let (w, g) = chain();
        let s = setting(&w, "valid", 3);
        let mut stream = RequestSource::Spread(w.requests(g.node_count()));
        let stop = AtomicBool::new(false);
        let out = run_interleaved(
            &g,
            &mut stream,
            std::slice::from_ref(&s),
            plan(),
            &stop,
            &mut Calibrator::new(),
            |_, _| {},
        )
        .unwrap();
        assert_eq!((out[0].measured, out[0].latency.len()), (40, 40));
    }

    /// Two of three clients panic: the block fails with the setting and the panic's message,
    /// instead of returning the calling client's share as the whole sample.
    #[test]
    fn a_panicked_client_fails_the_block() {
        let (w, g) = chain();
        let s = setting(&w, PANIC_LABEL, 3);
        let requests = RequestSource::Spread(w.requests(g.node_count())).draw(50);
        let stop = AtomicBool::new(false);
        let ctx = BlockCtx {
            stop: &stop,
            counters: CounterMode::Off,
            open_loop: None,
            warmup: false,
        };
        let mut out = SettingOutcome::default();
        let e = run_block(&g, &requests, &s, 0..requests.len(), &mut out, ctx).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            format!("setting {PANIC_LABEL}: a client thread panicked: injected client panic")
        );
        assert_eq!(out.measured, 0, "nothing of a failed block is merged");
    }
}
