//! `spreadbench predict`: how well the latency predictor predicts requests it has not seen.
//!
//! It trains on the workload's own request stream (what `run` warms up on), tests on a
//! disjoint stream with each request repeated in rounds, and reports per-request and per-hop
//! accuracy beside the noise ceiling of the same observations — the comparison that says
//! whether a model's error is the model's or the machine's. With `--budget` it also runs the
//! test requests with and without the budget manager. The measuring is in
//! [`crate::harness::predict`]; this module validates the flags, sets up the session as `run`
//! does (workload, graph, cost-profile cache, results directory), prints and writes.

use super::common::{
    measured_figures, pct, progress_bar, requests_config, spread_settings, write_latency_table,
};
use super::exit::{Exit, Outcome};
use super::options::{budget_ns, SettingSpec};
use super::recall_setup::{recall_config, reject_recall_flags, RecallPlan};
use super::session::{measuring_outcome, MeasuringSession, Presentation};
use super::{PredictArgs, RequestMode};
use crate::bad_input;
use crate::engine::budget::format_duration;
use crate::engine::predictor::{OnlineRidge, DEFAULT_RIDGE};
use crate::engine::spreader::{
    DEFAULT_BATCH_SIZE, DEFAULT_PARALLEL_MIN_EDGES, DEFAULT_PREFETCH_DISTANCE,
};
use crate::engine::{ErrorStats, LatencyPredictor, NoiseCeiling, Seed};
use crate::harness::predict::{
    compare_budget, test, train, warm_up, BudgetRun, FeatureMoments, PredictSubject, RecallSubject,
    Residual, Side, SpreadSubject, TestFigures, Training, HOP_JUDGED_MIN_NS,
};
use crate::measure::counters::CounterMode;
use crate::recall::budget::PhaseModels;
use crate::recall::{CueList, CueStream, RecallPredictor};
use crate::report::snapshot::predict::{
    BudgetComparison, BudgetSide, ModelCoefficients, NoiseCeilings, Overlap, PredictSection,
    RESIDUALS_HEADER,
};
use crate::report::snapshot::{LoopMode, PredictorSection, RunConfig};
use crate::report::{ResultsWriter, Snapshot};
use crate::workload::{RequestList, RequestStream};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

/// XORed into the workload's seed for the test stream: a fixed constant (the 64-bit golden
/// ratio), so the test stream is the same on every run and machine, and not the training one.
const TEST_SEED_XOR: u64 = 0x9E37_79B9_7F4A_7C15;

/// At most this many observations (test requests × repeats): the residuals are kept until
/// they are written, a few dozen bytes per request and hop.
const MAX_OBSERVATIONS: u64 = 10_000_000;

/// The flags' values, checked.
struct Plan {
    /// `None`: the workload's warm-up, known once it is loaded.
    warmup: Option<u64>,
    train: u64,
    test: u64,
    repeat: u64,
    budget_ns: Option<u64>,
    require: Option<f64>,
}

/// Every bad value that can be judged alone is refused before anything is loaded, in one line
/// naming the flag (the recall flags and the vectors are checked once the workload is).
fn plan(args: &PredictArgs) -> Result<Plan> {
    let max = super::options::MAX_REQUESTS;
    if !(1..=max).contains(&args.train) {
        return Err(bad_input!(
            "--train: {} requests; expected 1 to {max}",
            args.train
        ));
    }
    if let Some(w) = args.warmup.filter(|&w| w > max) {
        return Err(bad_input!("--warmup: {w} requests; expected 0 to {max}"));
    }
    if !(1..=max).contains(&args.test) {
        return Err(bad_input!(
            "--test: {} requests; expected 1 to {max}",
            args.test
        ));
    }
    if args.repeat == 0 {
        return Err(bad_input!(
            "--repeat: 0; each test request must run at least once"
        ));
    }
    if args.test.saturating_mul(args.repeat) > MAX_OBSERVATIONS {
        return Err(bad_input!(
            "--repeat: {} × --test {} is more than {MAX_OBSERVATIONS} observations",
            args.repeat,
            args.test
        ));
    }
    if let Some(r) = args.require {
        if !(0.0..=1.0).contains(&r) {
            return Err(bad_input!(
                "--require: {r} is not a share; expected 0 to 1 (0.95 = 95% within 20%)"
            ));
        }
    }
    let budget_ns = budget_ns(args.budget.as_deref(), None)?;
    Ok(Plan {
        warmup: args.warmup,
        train: args.train,
        test: args.test,
        repeat: args.repeat,
        budget_ns,
        require: args.require,
    })
}

pub fn execute(args: &PredictArgs) -> Result<Outcome> {
    let plan = plan(args)?;
    let quiet = args.quiet;
    if args.mode == RequestMode::Spread {
        reject_recall_flags(&args.workload, false, false, &args.recall)?;
    }
    let mut session = MeasuringSession::open("predict", &args.workload, CounterMode::Off)?;
    // The workload's `[budget]` when no --budget was given (a bad flag was refused above).
    let plan = Plan {
        budget_ns: budget_ns(args.budget.as_deref(), session.loaded.workload.budget_ns)?,
        ..plan
    };
    let recall = match args.mode {
        RequestMode::Spread => None,
        RequestMode::Recall => {
            let w = &session.loaded.workload;
            let config = recall_config(w.recall, None, None, None, &args.recall)?;
            Some(RecallPlan::for_session(
                &mut session,
                &args.workload,
                config,
                &[config.similarity],
            )?)
        }
    };
    session.announce(quiet, recall.as_ref().map(|p| p.inputs.describe()));
    // One thread, as `run --threads 1` measures: a parallel hop's cost is another model.
    let spec = SettingSpec {
        threads: 1,
        batch_size: DEFAULT_BATCH_SIZE as u64,
        prefetch_distance: DEFAULT_PREFETCH_DISTANCE,
        pool: true,
        concurrency: 1,
        similarity: recall.as_ref().map(|p| p.config.similarity),
        predictor: true,
    };
    let mut setting = session.setting(&spec, DEFAULT_PARALLEL_MIN_EDGES, 0)?;
    if let Some(p) = &recall {
        setting.recall = Some(p.setting(&setting.spreader, p.config.similarity)?);
    }
    let results = ResultsWriter::new(&args.out);
    let measuring = session.begin(&results)?;
    if !session.attach_models(
        std::slice::from_mut(&mut setting),
        &[true],
        &measuring,
        &args.out,
        None,
        quiet,
    )? {
        return Ok(measuring.interrupted_before_measuring());
    }
    let (Some(model), Some(pool)) = (&setting.model, &setting.pool) else {
        anyhow::bail!("internal error: the predict setting has no model or no pool");
    };
    let loaded = &session.loaded;
    let w = &loaded.workload;
    let test_seed = w.seed ^ TEST_SEED_XOR;
    let stop = measuring.interrupt.flag();
    let warmup = plan.warmup.unwrap_or(w.run.warmup);
    let measured = match (&recall, &setting.recall) {
        (Some(rp), Some(r)) => {
            let emb = r.index.embeddings();
            let train_cues = CueList::draw(&mut rp.cues(), emb, plan.train as usize);
            let test_cues = CueList::draw(
                &mut CueStream::new(test_seed, rp.cue_noise),
                emb,
                plan.test as usize,
            );
            let shared = shared_cues(&train_cues, &test_cues);
            let subject = |cues| {
                RecallSubject::new(
                    &loaded.graph,
                    &r.recaller,
                    &r.index,
                    pool,
                    Arc::clone(&model.profile),
                    cues,
                )
            };
            let stream = StreamInfo::new("cue", test_seed, shared, plan.test, quiet);
            let m = measure(
                subject(train_cues),
                subject(test_cues),
                &plan,
                warmup,
                stop,
                quiet,
            )?;
            Measured::Recall(Box::new(m), stream)
        }
        (Some(_), None) => {
            anyhow::bail!("internal error: the recall setting was not made")
        }
        (None, _) => {
            let n = loaded.graph.node_count();
            let train_list = RequestList::draw(&mut w.requests(n), plan.train as usize);
            let test_list = RequestList::draw(
                &mut RequestStream::new(test_seed, n, &w.requests),
                plan.test as usize,
            );
            let shared = shared_requests(&train_list, &test_list);
            let subject = |list| {
                SpreadSubject::new(&loaded.graph, &setting.spreader, pool, &model.profile, list)
            };
            let stream = StreamInfo::new("request", test_seed, shared, plan.test, quiet);
            let m = measure(
                subject(train_list),
                subject(test_list),
                &plan,
                warmup,
                stop,
                quiet,
            )?;
            Measured::Spread(Box::new(m), stream)
        }
    };
    let (figures, stream) = match &measured {
        Measured::Spread(m, s) => (&m.figures, s),
        Measured::Recall(m, s) => (&m.figures, s),
    };
    let mut outcome = figures.outcome.clone();
    outcome.pool = Some(pool.stats());

    let interrupted = measuring.interrupt.reason().map(|sig| {
        format!(
            "interrupted by {sig} after {} of {} test observations",
            outcome.measured,
            plan.test * plan.repeat
        )
    });
    let config = RunConfig {
        batch_size: Some(spec.batch_size),
        concurrency: 1,
        mode: LoopMode::ClosedLoop,
        parallel_min_edges: Some(setting.spreader.parallel_min_edges()),
        pool: true,
        prefetch_distance: spec.prefetch_distance as u64,
        requests: requests_config(&w.requests),
        spread: spread_settings(setting.spreader.config()),
        threads: 1,
        recall: recall.as_ref().map(|p| p.settings(p.config.similarity)),
        budget_ns: plan.budget_ns,
    };
    let ctx = session.context(config, measuring.overhead_ns, interrupted.clone());
    let latency = outcome.latency.summary()?;
    let mut figures_out = measured_figures(
        &outcome,
        latency,
        CounterMode::Off,
        outcome.measured_wall,
        outcome.throughput_per_s(),
    )?;
    let (section, predictor, budget, predictor_file) = match &measured {
        Measured::Spread(m, _) => report(m, &plan, w.seed, stream)?,
        Measured::Recall(m, _) => report(m, &plan, w.seed, stream)?,
    };
    // Run before measuring and not measured: the warm-up and the training requests.
    figures_out.warmup = section.n_warmup + section.n_train;
    let mut snapshot = Snapshot::for_predict(ctx, figures_out, section);
    snapshot.set_prediction(Some(predictor), budget);
    if let Some(p) = &recall {
        snapshot.workload.hash = w.recall_identity(
            &loaded.graph,
            p.inputs.fingerprint,
            &p.config_for(p.config.similarity),
        );
    }

    let extra = vec![
        ("predictor.json", predictor_file),
        ("residuals.csv", residuals_csv(&figures.residuals)?),
    ];
    let show = Presentation {
        json: args.json,
        quiet,
    };
    let dir = session.finish(
        measuring.pending,
        &snapshot,
        &outcome.latency,
        extra,
        show,
        |out| print_summary(out, &snapshot, &stream.line),
    )?;
    let failed = plan.require.and_then(|r| {
        let got = figures.request.within_20pct;
        (got < r).then(|| {
            (
                Exit::VerdictFailed,
                format!(
                    "predict: {:.1}% of request observations within 20%, below --require {r}",
                    100.0 * got
                ),
            )
        })
    });
    Ok(measuring_outcome(&dir, interrupted, failed))
}

/// What was measured, by the subject's model (boxed: a predictor is a few KiB).
enum Measured {
    Spread(Box<Measurement<LatencyPredictor>>, StreamInfo),
    Recall(Box<Measurement<RecallPredictor>>, StreamInfo),
}

/// The three phases' results.
struct Measurement<M> {
    mode: &'static str,
    warmed: u64,
    training: Training<M>,
    figures: TestFigures,
    budget: Option<BudgetRun>,
}

/// Warms up on the training subject, trains on it, tests on the test subject and, with a
/// budget, compares the test requests with and without the manager.
fn measure<S: PredictSubject>(
    mut train_on: S,
    mut test_on: S,
    plan: &Plan,
    warmup: u64,
    stop: &AtomicBool,
    quiet: bool,
) -> Result<Measurement<S::Model>> {
    let warmed = warm_up(&mut train_on, warmup, stop)?;
    let pb = progress_bar(plan.train, quiet);
    pb.set_prefix("train");
    let training = train(&mut train_on, stop, |d| pb.set_position(d))?;
    pb.finish_and_clear();
    drop(train_on);
    if !quiet {
        crate::note!(
            "warmed up on {warmed} requests, then trained on {} ({} hops timed) in {:.2} s",
            training.requests,
            training.hops,
            training.wall.as_secs_f64()
        );
    }
    let pb = progress_bar(plan.test * plan.repeat, quiet);
    pb.set_prefix("test");
    let figures = test(&mut test_on, &training.predictor, plan.repeat, stop, |d| {
        pb.set_position(d)
    })?;
    pb.finish_and_clear();
    let budget = match plan.budget_ns {
        Some(b) if !stop.load(Relaxed) => {
            if !quiet {
                crate::note!(
                    "budget {}: running the {} test requests with and without the manager, {} rounds",
                    format_duration(b),
                    plan.test,
                    plan.repeat
                );
            }
            Some(compare_budget(
                &mut test_on,
                &training.predictor,
                b,
                plan.repeat,
                stop,
            )?)
        }
        _ => None,
    };
    Ok(Measurement {
        mode: test_on.mode(),
        warmed,
        training,
        figures,
        budget,
    })
}

/// How the test stream was drawn, as said on stderr and in the summary.
struct StreamInfo {
    seed: u64,
    shared: u64,
    line: String,
}

impl StreamInfo {
    fn new(what: &str, seed: u64, shared: u64, test: u64, quiet: bool) -> StreamInfo {
        let line = test_stream_line(what, seed, shared, test);
        if !quiet {
            crate::note!("{line}");
        }
        StreamInfo { seed, shared, line }
    }
}

/// What a model writes into the report: the snapshot's `predictor{…}` and `predict`
/// coefficients, and `predictor.json`.
trait ReportedModel {
    fn predictor_section(&self, f: &TestFigures) -> PredictorSection;
    /// The spread predictor (whose request and hop models `predictor.json` writes).
    fn spread(&self) -> &LatencyPredictor;
    /// Recall's phase models, for `predictor.json`.
    fn phases(&self) -> Option<&PhaseModels> {
        None
    }
}

impl ReportedModel for LatencyPredictor {
    fn predictor_section(&self, f: &TestFigures) -> PredictorSection {
        let mut request = self.request_stats();
        request.errors = f.request;
        let mut hop = self.hop_stats();
        hop.errors = f.hop_all;
        PredictorSection {
            request,
            hop,
            after_seed: None,
        }
    }

    fn spread(&self) -> &LatencyPredictor {
        self
    }
}

/// Recall's request figures are the prediction made before it starts; `after_seed` the one
/// made once its seeds are known; `hop` the spread phase's hop model.
impl ReportedModel for RecallPredictor {
    fn predictor_section(&self, f: &TestFigures) -> PredictorSection {
        let mut hop = self.spread.hop_stats();
        hop.errors = f.hop_all;
        PredictorSection {
            request: self.phases.before_stats(f.request),
            hop,
            after_seed: Some(
                self.phases
                    .after_seed_stats(&self.spread, f.later.unwrap_or_default()),
            ),
        }
    }

    fn spread(&self) -> &LatencyPredictor {
        &self.spread
    }

    fn phases(&self) -> Option<&PhaseModels> {
        Some(&self.phases)
    }
}

/// The `predict` section, `predictor{…}`, `budget{…}` and `predictor.json` of a measurement.
fn report<M: ReportedModel>(
    m: &Measurement<M>,
    plan: &Plan,
    train_seed: u64,
    stream: &StreamInfo,
) -> Result<(
    PredictSection,
    PredictorSection,
    Option<crate::engine::BudgetStats>,
    Vec<u8>,
)> {
    let predictor = m.training.predictor.predictor_section(&m.figures);
    Ok((
        predict_section(m, plan, train_seed, stream, &predictor),
        predictor,
        m.budget.as_ref().map(|b| b.stats),
        predictor_json(&m.training, train_seed, m.mode)?,
    ))
}

/// Test requests whose seeds (as a set of node and activation) also make a training request.
fn shared_requests(train: &RequestList, test: &RequestList) -> u64 {
    let key = |s: &[Seed]| {
        let mut k: Vec<(u32, u64)> = s.iter().map(|s| (s.node, s.activation.to_bits())).collect();
        k.sort_unstable();
        k.dedup();
        k
    };
    let seen: HashSet<Vec<(u32, u64)>> = (0..train.len()).map(|i| key(train.get(i))).collect();
    (0..test.len())
        .filter(|&i| seen.contains(&key(test.get(i))))
        .count() as u64
}

/// Test cues equal (bit for bit) to a training cue.
fn shared_cues(train: &CueList, test: &CueList) -> u64 {
    let key = |c: &[f32]| c.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
    let seen: HashSet<Vec<u32>> = (0..train.len()).map(|i| key(train.get(i).0)).collect();
    (0..test.len())
        .filter(|&i| seen.contains(&key(test.get(i).0)))
        .count() as u64
}

/// `what` is `request` or `cue`.
fn test_stream_line(what: &str, seed: u64, shared: u64, test: u64) -> String {
    let stream = if what == "cue" {
        "test cue stream"
    } else {
        "test stream"
    };
    if shared == 0 {
        format!("{stream}: seed 0x{seed:016x}, disjoint from the training stream")
    } else {
        format!(
            "{stream}: seed 0x{seed:016x}, a different stream from the training one ({shared} of {test} test {what}s also drawn in training)"
        )
    }
}

fn predict_section<M: ReportedModel>(
    m: &Measurement<M>,
    plan: &Plan,
    train_seed: u64,
    stream: &StreamInfo,
    predictor: &PredictorSection,
) -> PredictSection {
    let (t, f) = (&m.training, &m.figures);
    PredictSection {
        mode: m.mode.into(),
        n_warmup: m.warmed,
        n_train: t.requests,
        n_train_hops: t.hops,
        n_test: plan.test,
        repeat: plan.repeat,
        train_seed,
        test_seed: stream.seed,
        test_requests_in_training: stream.shared,
        request: f.request,
        after_seed: f.later,
        hop: f.hop,
        hop_all: f.hop_all,
        hop_min_ns: HOP_JUDGED_MIN_NS,
        noise_ceiling: NoiseCeilings {
            request: f.noise_request,
            hop: f.noise_hop,
            hop_all: f.noise_hop_all,
        },
        coefficients: ModelCoefficients {
            request: predictor.request.coefficients.clone(),
            hop: predictor.hop.coefficients.clone(),
            after_seed: predictor
                .after_seed
                .as_ref()
                .map(|a| a.coefficients.clone()),
        },
        budget: m.budget.as_ref().map(budget_comparison),
    }
}

fn budget_comparison(b: &BudgetRun) -> BudgetComparison {
    let overlap = |t: &crate::harness::predict::OverlapTally| Overlap {
        requests: t.requests,
        mean: t.mean(),
        min: t.min,
    };
    BudgetComparison {
        budget_ns: b.budget_ns,
        requests: b.with_manager.requests,
        with_manager: side(&b.with_manager),
        without_manager: side(&b.without_manager),
        truncated_top10_overlap: overlap(&b.truncated_overlap),
        fallback_top10_overlap: overlap(&b.fallback_overlap),
    }
}

fn side(s: &Side) -> BudgetSide {
    let share = |c: u64| {
        if s.requests == 0 {
            0.0
        } else {
            c as f64 / s.requests as f64
        }
    };
    BudgetSide {
        over_budget: s.over_budget,
        over_budget_share: share(s.over_budget),
        truncated: s.truncated,
        truncated_share: share(s.truncated),
        fallbacks: s.fallbacks,
        fallback_share: share(s.fallbacks),
        p50_ns: s.latency.value_at_quantile(0.50),
        p90_ns: s.latency.value_at_quantile(0.90),
        p99_ns: s.latency.value_at_quantile(0.99),
    }
}

/// `predictor.json`: the fitted models, enough to predict without spreadbench — a
/// prediction is `intercept + Σ coefficients[j] · x[j]` over the raw features in `features`
/// order; `means` and `scales` are the fit's (weighted) standardisation, for reading the
/// coefficients' relative weight. In recall mode `request` and `hop` are the spread phase's
/// models (its request model predicts the spread once the seeds are known) and
/// `recall_phases` holds the seed, rest (spread + rank, before the start) and rank models.
#[derive(Serialize)]
struct PredictorFile {
    format: &'static str,
    version: u32,
    mode: &'static str,
    /// How observations were weighted in the fit.
    weighting: &'static str,
    ridge: f64,
    workload_seed: u64,
    trained_requests: u64,
    trained_hops: u64,
    request: ModelFile,
    hop: ModelFile,
    #[serde(skip_serializing_if = "Option::is_none")]
    recall_phases: Option<BTreeMap<&'static str, PhaseModelFile>>,
}

#[derive(Serialize)]
struct ModelFile {
    features: Vec<&'static str>,
    means: Vec<f64>,
    scales: Vec<f64>,
    coefficients: Vec<f64>,
    intercept: f64,
    n_fitted: u64,
}

/// A recall phase model: the fit without the standardisation (not kept for these).
#[derive(Serialize)]
struct PhaseModelFile {
    features: Vec<&'static str>,
    coefficients: Vec<f64>,
    intercept: f64,
    n_fitted: u64,
}

fn model_file(m: &OnlineRidge, moments: &FeatureMoments) -> ModelFile {
    ModelFile {
        features: m.names().to_vec(),
        means: moments.means().to_vec(),
        scales: moments.scales(),
        coefficients: m.coefficients().to_vec(),
        intercept: m.intercept(),
        n_fitted: m.n_fitted(),
    }
}

fn predictor_json<M: ReportedModel>(
    t: &Training<M>,
    workload_seed: u64,
    mode: &'static str,
) -> Result<Vec<u8>> {
    let spread = t.predictor.spread();
    let file = PredictorFile {
        format: "spreadbench-latency-predictor",
        version: 1,
        mode,
        weighting: "1/observed^2 (minimises relative squared error)",
        ridge: DEFAULT_RIDGE,
        workload_seed,
        trained_requests: t.requests,
        trained_hops: t.hops,
        request: model_file(spread.request_model(), &t.request_moments),
        hop: model_file(spread.hop_model(), &t.hop_moments),
        recall_phases: t.predictor.phases().map(|p| {
            p.models()
                .into_iter()
                .map(|(name, m)| {
                    let file = PhaseModelFile {
                        features: m.names().to_vec(),
                        coefficients: m.coefficients().to_vec(),
                        intercept: m.intercept(),
                        n_fitted: m.n_fitted(),
                    };
                    (name, file)
                })
                .collect()
        }),
    };
    let mut v = serde_json::to_vec_pretty(&file)?;
    v.push(b'\n');
    Ok(v)
}

/// `residuals.csv`: one row per observation, in the order they ran; `hop` empty for the
/// whole request.
fn residuals_csv(rows: &[Residual]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 32 + 64));
    w.write_record(RESIDUALS_HEADER)?;
    for r in rows {
        w.write_record([
            r.request.to_string(),
            r.hop.map_or(String::new(), |h| h.to_string()),
            format!("{:.3}", r.predicted_ns),
            format!("{:.0}", r.observed_ns),
            format!("{:.6}", r.rel_err()),
        ])?;
    }
    w.into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))
        .context("residuals.csv")
}

fn accuracy_row(
    out: &mut impl Write,
    name: &str,
    e: &ErrorStats,
    ceiling: &NoiseCeiling,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{name:<14} {:>8} {:>7} {:>7} {:>7} {:>8} {:>8}   {:>7}",
        e.count,
        pct(e.within_10pct),
        pct(e.within_20pct),
        pct(e.within_50pct),
        pct(e.p50_rel_err),
        pct(e.p95_rel_err),
        pct(ceiling.within_20pct)
    )
}

fn print_summary(out: &mut impl Write, s: &Snapshot, stream_line: &str) -> Result<()> {
    let Some(p) = &s.predict else {
        return Ok(());
    };
    writeln!(
        out,
        "workload {} ({} nodes, {} edges, hash {}); {} mode, 1 thread",
        s.workload.name, s.workload.nodes, s.workload.edges, s.workload.hash, p.mode
    )?;
    writeln!(
        out,
        "warmed up on {} requests, then trained on {} of the workload's stream (seed 0x{:016x}), {} hops timed",
        p.n_warmup, p.n_train, p.train_seed, p.n_train_hops
    )?;
    writeln!(out, "{stream_line}")?;
    writeln!(
        out,
        "tested on {} requests × {} rounds = {} observations, predicted before each request and hop started (coefficients frozen, drift tracked)",
        p.n_test, p.repeat, p.request.count
    )?;
    if p.after_seed.is_some() {
        writeln!(
            out,
            "recall: `request` is predicted before the request starts, `after seeding` once its seeds are known; the hops are its spread's"
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<14} {:>8} {:>7} {:>7} {:>7} {:>8} {:>8}   {:>7}",
        "accuracy", "count", "≤10%", "≤20%", "≤50%", "p50 err", "p95 err", "ceiling"
    )?;
    let nc = &p.noise_ceiling;
    accuracy_row(out, "request", &p.request, &nc.request)?;
    if let Some(a) = &p.after_seed {
        accuracy_row(out, "after seeding", a, &nc.request)?;
    }
    accuracy_row(
        out,
        &format!("hop ≥ {} µs", p.hop_min_ns / 1000),
        &p.hop,
        &nc.hop,
    )?;
    accuracy_row(out, "hop, all", &p.hop_all, &nc.hop_all)?;
    writeln!(
        out,
        "(ceiling: share of single observations within 20% of their own request's or hop's median over the {} rounds)",
        p.repeat
    )?;
    writeln!(
        out,
        "request within 20%: {} against a ceiling of {} ({:+.1} points)",
        pct(p.request.within_20pct),
        pct(nc.request.within_20pct),
        100.0 * (p.request.within_20pct - nc.request.within_20pct)
    )?;
    writeln!(out)?;
    let c = &p.coefficients;
    let mut models = vec![("request model", &c.request)];
    if let Some(a) = &c.after_seed {
        models[0].0 = "before-start model";
        models.push(("after-seed model", a));
    }
    models.push(("hop model", &c.hop));
    for (name, coefs) in models {
        writeln!(out, "{name} (ns; ns per unit of each feature)")?;
        for c in coefs {
            writeln!(out, "  {:<26} {:>14.4}", c.feature, c.value)?;
        }
    }
    if let Some(b) = &p.budget {
        writeln!(out)?;
        writeln!(
            out,
            "budget {}: each test request with and without the manager, {} each",
            format_duration(b.budget_ns),
            b.requests
        )?;
        writeln!(
            out,
            "{:<16} {:>11} {:>10} {:>10} {:>9} {:>9} {:>9}",
            "", "over budget", "truncated", "fell back", "p50 µs", "p90 µs", "p99 µs"
        )?;
        for (name, side) in [
            ("with manager", &b.with_manager),
            ("without", &b.without_manager),
        ] {
            writeln!(
                out,
                "{name:<16} {:>11} {:>10} {:>10} {:>9.2} {:>9.2} {:>9.2}",
                pct(side.over_budget_share),
                pct(side.truncated_share),
                pct(side.fallback_share),
                side.p50_ns as f64 / 1000.0,
                side.p90_ns as f64 / 1000.0,
                side.p99_ns as f64 / 1000.0
            )?;
        }
        for (what, o) in [
            ("truncated", &b.truncated_top10_overlap),
            ("fallback", &b.fallback_top10_overlap),
        ] {
            match (o.mean, o.min) {
                (Some(mean), Some(min)) => writeln!(
                    out,
                    "top-10 overlap, {what} with full: mean {mean:.3}, min {min:.3} over {} requests",
                    o.requests
                )?,
                _ => writeln!(out, "top-10 overlap, {what} with full: no {what} requests")?,
            }
        }
    }
    writeln!(out)?;
    writeln!(out, "test observations")?;
    write_latency_table(out, &s.latency_ns)?;
    if let Some(reason) = &s.partial_reason {
        writeln!(out, "PARTIAL       {reason}")?;
    }
    Ok(())
}
