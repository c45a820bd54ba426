//! The measuring pipeline that `run` and `soak` share (and the measuring commands to come).
//!
//! A [`MeasuringSession`] does, in order, what every measuring command must do and nothing a
//! single command decides: load the workload and its graph, check the counters, build each
//! setting under test from its [`SettingSpec`] (one hop executor per thread count, the
//! pool prefilled with one record per client), begin the results directory before anything
//! is measured, install the signal handlers and time the harness's own cost; and at the end
//! write the snapshot's files, print the outcome and decide the exit. A command supplies only
//! what is its own: how it measures (interleaved blocks, intervals) and what its snapshot
//! says.

use super::common::LoadedWorkload;
use super::common::{
    check_counters, load, print_outcome, snapshot_context, snapshot_files, ResultFile,
};
use super::exit::{Exit, Outcome};
use super::interrupt::Interrupt;
use super::options::SettingSpec;
use super::WorkloadArgs;
use crate::engine::budget::format_duration;
use crate::engine::cost_profile::ProfileSource;
use crate::engine::spreader::{DEFAULT_BATCH_SIZE, DEFAULT_PARALLEL_MIN_EDGES};
use crate::engine::{ActivationRecordPool, CostProfile, HopExecutor, Spreader};
use crate::engine::{BatchSetting, Fingerprint};
use crate::harness::batching::{SharedBatcher, Start};
use crate::harness::bench::{RequestModel, SettingOutcome, SettingUnderTest, POOL_CAPACITY};
use crate::measure::calibration::Calibrator;
use crate::measure::counters::CounterMode;
use crate::measure::timing::harness_overhead_ns;
use crate::measure::LatencyHistogram;
use crate::report::results::PendingRun;
use crate::report::snapshot::{BatcherSection, BudgetStats, PredictorSection};
use crate::report::snapshot::{RunConfig, SnapshotContext};
use crate::report::time::UtcTime;
use crate::report::{ResultsWriter, Snapshot};
use crate::InputError;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One measuring command from its workload to its exit.
pub struct MeasuringSession {
    pub command: &'static str,
    pub started: UtcTime,
    pub loaded: LoadedWorkload,
    pub counters: CounterMode,
    /// Times the reference kernel between measured blocks (see `measure::calibration`).
    pub calibrator: Calibrator,
    executors: BTreeMap<u64, Arc<HopExecutor>>,
}

/// What is in place once measuring may start.
pub struct Measuring<'r> {
    /// The results directory, under a hidden name until it is finished.
    pub pending: PendingRun<'r>,
    pub interrupt: Interrupt,
    /// The harness's own cost per request (two clock reads and a histogram record).
    pub overhead_ns: u64,
}

impl Measuring<'_> {
    /// The outcome of a command that a signal stopped before it measured anything (while the
    /// cost profiles were computed): exit 130, and no results directory: the pending one is
    /// removed when `self` is dropped.
    pub fn interrupted_before_measuring(&self) -> Outcome {
        Outcome::with(
            Exit::Interrupted,
            format!(
                "interrupted by {} while computing the seeds' cost profiles; nothing was \
                 measured, no results written",
                self.interrupt.reason().unwrap_or("a signal")
            ),
        )
    }
}

/// How the outcome is shown.
#[derive(Debug, Clone, Copy)]
pub struct Presentation {
    pub json: bool,
    pub quiet: bool,
}

impl MeasuringSession {
    /// Loads the workload and its graph and checks the counters. Says nothing yet: what was
    /// loaded is said by [`MeasuringSession::announce`] once every input is in, so that a bad
    /// input later (an `.npy`) is the only line on stderr.
    pub fn open(
        command: &'static str,
        workload: &WorkloadArgs,
        counters: CounterMode,
    ) -> Result<MeasuringSession> {
        let started = UtcTime::now();
        let loaded = load(workload)?;
        check_counters(counters)?;
        Ok(MeasuringSession {
            command,
            started,
            loaded,
            counters,
            calibrator: Calibrator::new(),
            executors: BTreeMap::new(),
        })
    }

    /// Says on stderr what was loaded (the graph, and `more` such as the embeddings).
    pub fn announce(&self, quiet: bool, more: Option<String>) {
        if !quiet {
            crate::note!("{}", self.loaded.describe());
            if let Some(m) = more {
                crate::note!("{m}");
            }
        }
    }

    /// The setting under test for `spec`; settings with the same thread count share one
    /// hop executor.
    pub fn setting(
        &mut self,
        spec: &SettingSpec,
        parallel_min_edges: u64,
        leak_bytes_per_spread: usize,
    ) -> Result<SettingUnderTest> {
        let executor = Arc::clone(
            self.executors
                .entry(spec.threads)
                .or_insert_with(|| Arc::new(HopExecutor::new(spec.threads as usize))),
        );
        let spreader = Spreader::new(self.loaded.workload.spread.clone())
            .map_err(|e| InputError::new(e.to_string()))?
            .with_prefetch_distance(spec.prefetch_distance)
            // An `auto` setting's spreads run under the batcher's choice; this is its default.
            .with_batch_size(if spec.auto_batch() {
                DEFAULT_BATCH_SIZE
            } else {
                spec.batch_size as usize
            })
            .with_parallel_min_edges(parallel_min_edges)
            .with_executor(Some(executor));
        let n = self.loaded.graph.node_count();
        let pool = spec.pool.then(|| {
            let pool = ActivationRecordPool::new(n, POOL_CAPACITY);
            // One record per client up front: a client thread that starts late must not
            // allocate its first record inside the measured phase.
            pool.prefill(spec.concurrency as usize, spec.threads as usize);
            pool
        });
        Ok(SettingUnderTest {
            label: spec.label(),
            spreader,
            pool,
            concurrency: spec.concurrency as usize,
            recall: None,
            leak_bytes_per_spread,
            model: None,
            batcher: None,
        })
    }

    /// Begins the results directory under `results` — before anything is measured, so an
    /// unusable `--out` fails now instead of losing the measurement — installs the signal
    /// handlers and times the harness.
    pub fn begin<'r>(&self, results: &'r ResultsWriter) -> Result<Measuring<'r>> {
        // Handlers first: a signal between the two must not leave the hidden directory behind.
        let interrupt = Interrupt::install()?;
        let pending = results.begin(self.command, &self.loaded.workload.name, self.started)?;
        Ok(Measuring {
            pending,
            interrupt,
            overhead_ns: harness_overhead_ns(10_000),
        })
    }

    /// The snapshot's context: where and how it was measured, the calibration figure, and
    /// why it is partial, if it is.
    pub fn context(
        &self,
        config: RunConfig,
        overhead_ns: u64,
        partial_reason: Option<String>,
    ) -> SnapshotContext {
        let mut ctx = snapshot_context(&self.loaded, self.started, config, overhead_ns);
        ctx.partial_reason = partial_reason;
        ctx.calibration = self.calibrator.figure();
        ctx
    }

    /// Writes the snapshot's files and the command's `extra` ones, finishes the results
    /// directory, and prints the outcome (`summary` unless JSON was asked for); returns the
    /// directory.
    pub fn finish(
        &self,
        pending: PendingRun<'_>,
        snapshot: &Snapshot,
        latency: &LatencyHistogram,
        extra: Vec<ResultFile>,
        show: Presentation,
        summary: impl FnOnce(&mut std::io::StdoutLock<'_>) -> Result<()>,
    ) -> Result<PathBuf> {
        let (json, mut files) = snapshot_files(snapshot, latency)?;
        files.extend(extra);
        let dir = pending.finish(snapshot, &files)?;
        print_outcome(show.json.then_some(&json[..]), show.quiet, &dir, summary)?;
        Ok(dir)
    }
}

impl MeasuringSession {
    /// Gives each setting in `predict` (one flag per setting) its latency predictor, under
    /// `budget_ns` when there is one. The seeds' cost profiles are loaded from the results root
    /// `root` when cached there for this graph and spread configuration, else computed (it
    /// says how long that took) and cached for the next run. Called once the results
    /// directory is begun, so an unusable root has already been refused.
    ///
    /// Returns false, attaching nothing and caching nothing, when a signal (`measuring`'s)
    /// stopped the computation: one spread per node takes minutes on a graph of a million
    /// nodes, and the signal asks the command to stop now, not after it (see
    /// [`Measuring::interrupted_before_measuring`]).
    pub fn attach_models(
        &self,
        settings: &mut [SettingUnderTest],
        predict: &[bool],
        measuring: &Measuring<'_>,
        root: &Path,
        budget_ns: Option<u64>,
        quiet: bool,
    ) -> Result<bool> {
        let Some(first) = settings
            .iter()
            .zip(predict)
            .find_map(|(s, &p)| p.then_some(s))
        else {
            return Ok(true);
        };
        let graph = &self.loaded.graph;
        let path = root.join(CostProfile::file_name(graph, first.spreader.config()));
        let stop = measuring.interrupt.flag();
        let Some((profile, source)) =
            CostProfile::load_or_compute_until(&path, graph, &first.spreader, stop)?
        else {
            return Ok(false);
        };
        if !quiet {
            match source {
                ProfileSource::Loaded => {
                    crate::note!("cost profile: loaded from {}", path.display())
                }
                ProfileSource::Computed { took, stale } => crate::note!(
                    "cost profile: computed in {:.0} ms ({} single-seed spreads), cached as {}{}",
                    took.as_secs_f64() * 1e3,
                    graph.node_count(),
                    path.display(),
                    stale.map_or(String::new(), |why| format!(" (the cached one was {why})"))
                ),
            }
        }
        let profile = Arc::new(profile);
        for (s, _) in settings.iter_mut().zip(predict).filter(|(_, &p)| p) {
            s.model = Some(RequestModel::new(
                Arc::clone(&profile),
                s.spreader.config().max_depth,
                budget_ns,
            ));
        }
        Ok(true)
    }
}

/// A setting's `predictor` and `budget` sections from what it measured.
pub fn prediction_sections(
    setting: &SettingUnderTest,
    outcome: &SettingOutcome,
) -> (Option<PredictorSection>, Option<BudgetStats>) {
    let (Some(model), Some(tally)) = (&setting.model, &outcome.prediction) else {
        return (None, None);
    };
    if let Some(r) = &setting.recall {
        return super::recall_setup::recall_prediction_sections(r, model, tally, outcome);
    }
    let predictor = model.predictor();
    let mut request = predictor.request_stats();
    request.errors = tally.errors.stats();
    let mut hop = predictor.hop_stats();
    hop.errors = Default::default();
    (
        Some(PredictorSection {
            request,
            hop,
            after_seed: None,
        }),
        tally.budget.or(model.budget_ns.map(|b| BudgetStats {
            budget_ns: b,
            ..BudgetStats::default()
        })),
    )
}

/// Gives each setting whose batch size is `auto` (`specs`, one per setting) its adaptive
/// batcher, resumed from its fingerprint's memory file under the results root `root` when
/// there is one, else cold-started at the default batch size and `parallel_min_edges`. Says
/// which on stderr (unless `quiet`); a memory file that cannot be used is a warning, since
/// it is a cache: the batcher then starts cold.
pub fn attach_batchers(
    settings: &mut [SettingUnderTest],
    specs: &[SettingSpec],
    root: &Path,
    parallel_min_edges: u64,
    quiet: bool,
) {
    let mut said = std::collections::BTreeSet::new();
    for (s, spec) in settings.iter_mut().zip(specs) {
        if !spec.auto_batch() {
            continue;
        }
        let start = BatchSetting {
            batch_size: DEFAULT_BATCH_SIZE,
            parallel_min_edges,
        };
        let fp = Fingerprint::detect(spec.threads as usize);
        let (b, how) = SharedBatcher::open(root, fp, start);
        let file = b.memory_file.display().to_string();
        if said.insert(file.clone()) {
            match how {
                Start::Resumed if !quiet => crate::note!("batcher: resumed from {file}"),
                Start::Cold if !quiet => crate::note!("batcher: cold start ({file} not found)"),
                Start::ColdIgnoring(why) => {
                    crate::note!(
                        "spreadbench: warning: batcher: ignoring {file}: {why}; cold start"
                    )
                }
                _ => {}
            }
        }
        s.batcher = Some(b);
    }
}

/// Saves what each setting's batcher learned (the first setting of each memory file; only
/// a converged batcher is saved). A file that cannot be written is a warning: the results
/// stand without it.
pub fn save_batchers(settings: &[SettingUnderTest], quiet: bool) {
    let mut saved = std::collections::BTreeSet::new();
    for b in settings.iter().filter_map(|s| s.batcher.as_ref()) {
        let file = b.memory_file.display().to_string();
        if !saved.insert(file.clone()) {
            continue;
        }
        match b.save() {
            Ok(true) if !quiet => crate::note!("batcher: saved what it learned to {file}"),
            Ok(false) if !quiet => {
                crate::note!("batcher: not converged, so {file} was not written")
            }
            Err(e) => crate::note!("spreadbench: warning: batcher: {e:#}"),
            _ => {}
        }
    }
}

/// A setting's `batcher` section, when it ran the batcher.
pub fn batcher_section(setting: &SettingUnderTest) -> Option<BatcherSection> {
    setting.batcher.as_ref().map(|b| BatcherSection {
        stats: b.stats(),
        memory_file: b.memory_file.display().to_string(),
    })
}

/// The summary's batcher line for a snapshot: the batcher's choice, or why there was none.
fn write_batcher_line(out: &mut impl std::io::Write, s: &Snapshot) -> Result<()> {
    let c = &s.config;
    let fixed = format!(
        "fixed batch size {}, parallel ≥ {} edges",
        c.batch_size.unwrap_or(DEFAULT_BATCH_SIZE as u64),
        c.parallel_min_edges.unwrap_or(DEFAULT_PARALLEL_MIN_EDGES)
    );
    match &s.batcher {
        Some(b) => {
            let st = &b.stats;
            let state = match st.updates_to_converge {
                Some(n) if st.converged => {
                    format!(
                        "converged after {n} update{}",
                        if n == 1 { "" } else { "s" }
                    )
                }
                _ => format!("not converged ({} updates so far)", st.history.len()),
            };
            writeln!(
                out,
                "batcher       auto: batch {}, parallel ≥ {} edges, {state} ({})",
                st.batch_size,
                st.parallel_min_edges,
                if st.from_memory {
                    "resumed"
                } else {
                    "cold start"
                }
            )?
        }
        None if c.threads <= 1 => writeln!(out, "batcher       off (1 thread)")?,
        None if c.recall.is_some() => writeln!(out, "batcher       off (recall mode; {fixed})")?,
        None => writeln!(out, "batcher       off ({fixed})")?,
    }
    Ok(())
}

/// The summary's predictor, batcher and budget lines, from the snapshot `s` (its first
/// setting's sections).
pub fn write_model_lines(out: &mut impl std::io::Write, s: &Snapshot) -> Result<()> {
    let (predictor, budget) = (s.predictor.as_ref(), s.budget.as_ref());
    match predictor {
        Some(p) => {
            let e = &p.request.errors;
            writeln!(
                out,
                "predictor     {} requests predicted before they ran: {:.1}% within 20% ({:.1}% within 10%, {:.1}% within 50%), p50 error {:.1}%, p95 {:.1}%; trained on {} requests, {} hops",
                e.count,
                100.0 * e.within_20pct,
                100.0 * e.within_10pct,
                100.0 * e.within_50pct,
                100.0 * e.p50_rel_err,
                100.0 * e.p95_rel_err,
                p.request.n_train,
                p.hop.n_train
            )?
        }
        None => writeln!(out, "predictor     off")?,
    }
    write_batcher_line(out, s)?;
    match budget {
        Some(b) => writeln!(
            out,
            "budget        {} per request: {} truncated, {} fell back, {} of {} still over budget ({:.2}%)",
            format_duration(b.budget_ns),
            b.truncated,
            b.fallbacks,
            b.over_budget,
            b.requests,
            100.0 * b.over_budget_share
        )?,
        None => writeln!(out, "budget        none")?,
    }
    Ok(())
}

/// The exit of a measuring command: interrupted (130) before a failed verdict (`failed`,
/// with its exit), before success.
pub fn measuring_outcome(
    dir: &Path,
    interrupted: Option<String>,
    failed: Option<(Exit, String)>,
) -> Outcome {
    if let Some(reason) = interrupted {
        return Outcome::with(
            Exit::Interrupted,
            format!("{reason}; partial results in {}", dir.display()),
        );
    }
    match failed {
        Some((exit, what)) => Outcome::with(exit, format!("{what}; results in {}", dir.display())),
        None => Outcome::success(),
    }
}
