//! `spreadbench soak`: a long run in intervals. Writes `intervals.hlog` (HdrHistogram interval
//! log) and `metrics.jsonl` (one line per interval) while it runs, then the snapshot with the
//! leak, drift and stall verdicts; ends with `Exit::VerdictFailed` when a verdict fails and
//! `Exit::Interrupted` when a signal cut it short.

use super::common::write_latency_table;
use super::common::{measured_figures, progress_bar, requests_config, spread_settings};
use super::exit::{Exit, Outcome};
use super::options::{budget_ns, check_budget, resolve_batch_size, soak_plan, SettingSpec};
use super::recall_setup::{
    recall_config, reject_recall_flags, write_throughput_and_recall, RecallPlan,
};
use super::session::{
    attach_batchers, batcher_section, measuring_outcome, prediction_sections, save_batchers,
    write_model_lines, Measuring, MeasuringSession, Presentation,
};
use super::{RequestMode, SoakArgs};
use crate::engine::spreader::DEFAULT_PARALLEL_MIN_EDGES;
use crate::harness::bench::SettingUnderTest;
use crate::harness::requests::RequestSource;
use crate::harness::soak::{run_soak, IntervalReport, IntervalRule, SoakOutcome, SoakPlan};
use crate::measure::rss;
use crate::report::snapshot::{
    CountersSection, LoopMode, RssBytes, RunConfig, SoakInterval, SoakSection, Verdicts,
};
use crate::report::time::UtcTime;
use crate::report::verdict::{self, Status};
use crate::report::{ResultsWriter, Snapshot};
use anyhow::Result;
use serde_json::json;
use std::io::Write;

pub fn execute(args: &SoakArgs) -> Result<Outcome> {
    let plan = soak_plan(args)?;
    // A bad --budget is refused before anything is loaded.
    budget_ns(args.budget.as_deref(), None)?;
    // Bound and opened before anything else: a bad --metrics-addr or --stream fails at once.
    let mut live = crate::live::Live::start(&args.live, "soak", args.quiet)?;
    if args.mode == RequestMode::Spread {
        reject_recall_flags(
            &args.workload,
            args.recall_mode.is_some(),
            args.similarity.is_some(),
            &args.recall,
        )?;
    }
    let mut session = MeasuringSession::open("soak", &args.workload, plan.counters)?;
    let budget = budget_ns(args.budget.as_deref(), session.loaded.workload.budget_ns)?;
    check_budget(budget, args.predictor == super::Switch::Off)?;
    let warmup = args.warmup.unwrap_or(session.loaded.workload.run.warmup);
    let plan = SoakPlan { warmup, ..plan };
    let recall = match args.mode {
        RequestMode::Spread => None,
        RequestMode::Recall => {
            let w = &session.loaded.workload;
            let config = recall_config(
                w.recall,
                args.recall_mode,
                args.similarity,
                None,
                &args.recall,
            )?;
            Some(RecallPlan::for_session(
                &mut session,
                &args.workload,
                config,
                &[config.similarity],
            )?)
        }
    };
    session.announce(args.quiet, recall.as_ref().map(|p| p.inputs.describe()));
    let spec = SettingSpec {
        threads: args.threads,
        batch_size: resolve_batch_size(
            args.batch_size,
            args.threads,
            args.batcher == super::Switch::On,
            recall.is_some(),
        ),
        prefetch_distance: args.prefetch_distance,
        pool: !args.no_pool,
        concurrency: args.concurrency,
        similarity: recall.as_ref().map(|p| p.config.similarity),
        predictor: args.predictor == super::Switch::On,
    };
    let mut setting = session.setting(
        &spec,
        DEFAULT_PARALLEL_MIN_EDGES,
        args.leak_bytes_per_spread,
    )?;
    if let Some(plan) = &recall {
        setting.recall = Some(plan.setting(&setting.spreader, plan.config.similarity)?);
    }
    attach_batchers(
        std::slice::from_mut(&mut setting),
        &[spec],
        &args.out,
        DEFAULT_PARALLEL_MIN_EDGES,
        args.quiet,
    );
    live.describe(
        &session.loaded.workload.name,
        std::slice::from_ref(&setting),
        &[],
    );

    let results = ResultsWriter::new(&args.out);
    let measuring = session.begin(&results)?;
    let predict = spec.predictor;
    if !session.attach_models(
        std::slice::from_mut(&mut setting),
        &[predict],
        &measuring,
        &args.out,
        budget,
        args.quiet,
    )? {
        return Ok(measuring.interrupted_before_measuring());
    }
    let outcome = measure(
        &mut session,
        &measuring,
        &setting,
        &plan,
        recall.as_ref(),
        args,
        &mut live,
    )?;
    save_batchers(std::slice::from_ref(&setting), args.quiet);
    let total = &outcome.total;
    // Read from the histogram itself: the summary (which encodes it) is made once, below.
    let soak = soak_section(
        args,
        &plan,
        &outcome,
        total.latency.inner().max(),
        total.latency.value_at_quantile(0.999),
    );
    let interrupted = outcome.interrupted.then(|| {
        format!(
            "interrupted by {} after {} of {} spreads",
            measuring.interrupt.reason().unwrap_or("a signal"),
            total.measured,
            args.spreads
        )
    });
    let failed = (!soak.passed).then(|| {
        (
            Exit::VerdictFailed,
            format!("soak verdict failed: {}", soak.failed.join(", ")),
        )
    });
    // A fixed batch setting is configuration only where a hop can go parallel; one the
    // batcher learned is not configuration at all.
    let fixed = (!spec.auto_batch() && args.threads > 1).then_some(spec.batch_size);
    let config = RunConfig {
        batch_size: fixed,
        concurrency: args.concurrency,
        mode: soak.mode,
        parallel_min_edges: fixed.map(|_| DEFAULT_PARALLEL_MIN_EDGES),
        pool: !args.no_pool,
        prefetch_distance: args.prefetch_distance as u64,
        requests: requests_config(&session.loaded.workload.requests),
        spread: spread_settings(setting.spreader.config()),
        threads: args.threads,
        recall: recall.as_ref().map(|p| p.settings(p.config.similarity)),
        budget_ns: budget,
    };
    let ctx = session.context(config, measuring.overhead_ns, interrupted.clone());
    let throughput = total.measured as f64 / outcome.wall.as_secs_f64().max(1e-9);
    let mut figures = measured_figures(
        total,
        total.latency.summary()?,
        session.counters,
        outcome.wall,
        throughput,
    )?;
    let mut hash = None;
    if let Some(p) = &recall {
        let sim = p.config.similarity;
        let (phases, r) = p.sections(total, sim, p.check_recall(sim), &p.scan_figures())?;
        figures.phases = Some(phases);
        figures.recall = Some(r);
        let loaded = &session.loaded;
        hash = Some(loaded.workload.recall_identity(
            &loaded.graph,
            p.inputs.fingerprint,
            &p.config,
        ));
    }
    let mut snapshot = Snapshot::for_soak(ctx, figures, soak);
    let (predictor, budget) = prediction_sections(&setting, total);
    snapshot.set_prediction(predictor, budget);
    snapshot.batcher = batcher_section(&setting);
    if let Some(h) = hash {
        snapshot.workload.hash = h;
    }
    live.measured(&snapshot, &[outcome.total.pool]);
    let show = Presentation {
        json: args.json,
        quiet: args.quiet,
    };
    let dir = session.finish(
        measuring.pending,
        &snapshot,
        &total.latency,
        vec![],
        show,
        |out| print_summary(out, &snapshot),
    )?;
    live.finish(measuring.interrupt.flag());
    Ok(measuring_outcome(&dir, interrupted, failed))
}

/// Runs the soak, streaming `intervals.hlog` and `metrics.jsonl` into the pending results
/// directory as each interval ends.
fn measure(
    session: &mut MeasuringSession,
    measuring: &Measuring<'_>,
    setting: &SettingUnderTest,
    plan: &SoakPlan,
    recall: Option<&RecallPlan>,
    args: &SoakArgs,
    live: &mut crate::live::Live,
) -> Result<SoakOutcome> {
    let mut hlog = measuring.pending.create("intervals.hlog")?;
    let mut jsonl = measuring.pending.create("metrics.jsonl")?;
    let pb = progress_bar(args.spreads, args.quiet);
    pb.set_prefix("soak");
    let counters = session.counters;
    let loaded = &session.loaded;
    let mut stream = match recall {
        Some(p) => p.request_source(),
        None => RequestSource::Spread(loaded.workload.requests(loaded.graph.node_count())),
    };
    let outcome = run_soak(
        &loaded.graph,
        setting,
        &mut stream,
        plan,
        measuring.interrupt.flag(),
        &mut session.calibrator,
        |iv| {
            if iv.index == 0 {
                write_hlog_header(&mut hlog, iv.measured_start)?;
            }
            write_interval(&mut hlog, &mut live.tee(&mut jsonl), iv, counters)?;
            live.interval(iv);
            pb.set_position(iv.spreads_done);
            pb.set_message(format!(
                "interval p99 {:.1} µs, RSS {}",
                iv.outcome.latency.value_at_quantile(0.99) as f64 / 1e3,
                iv.rss_bytes
                    .map_or("n/a".into(), |b| format!("{:.1} MB", b as f64 / 1e6))
            ));
            Ok(())
        },
    )?;
    pb.finish_and_clear();
    hlog.flush()?;
    jsonl.flush()?;
    Ok(outcome)
}

/// The snapshot's `soak` section: the mode, the intervals, RSS and the three verdicts.
fn soak_section(
    args: &SoakArgs,
    plan: &SoakPlan,
    outcome: &SoakOutcome,
    max_ns: u64,
    p999_ns: u64,
) -> SoakSection {
    let total = &outcome.total;
    let leak = verdict::leak(
        &outcome.intervals,
        total.pool.map(|s| s.in_use),
        args.max_rss_growth,
        verdict::LEAK_FLOOR_BYTES,
    );
    let drift = verdict::drift(&outcome.intervals, args.max_p99_drift);
    let stall = verdict::stall(max_ns, p999_ns, args.max_stall_ratio);
    let failed: Vec<String> = [
        ("leak", leak.status),
        ("drift", drift.status),
        ("stall", stall.status),
    ]
    .iter()
    .filter(|(_, s)| *s == Status::Fail)
    .map(|(n, _)| n.to_string())
    .collect();
    let mode = if args.rate.is_some() {
        LoopMode::OpenLoop
    } else {
        LoopMode::ClosedLoop
    };
    SoakSection {
        coordinated_omission_corrected: args.rate.is_some(),
        passed: failed.is_empty(),
        failed,
        interval: match plan.interval {
            IntervalRule::Spreads(k) => SoakInterval::Spreads(k),
            IntervalRule::Secs(s) => SoakInterval::Secs(s),
        },
        intervals: outcome.intervals.len() as u64,
        mode,
        rate_per_s: args.rate,
        rss_bytes: RssBytes {
            end: outcome.rss_end,
            // VmHWM is sampled by the kernel and can lag a later VmRSS reading.
            peak: rss::peak_rss_bytes().max(outcome.rss_end),
            start: outcome.rss_start,
        },
        verdicts: Verdicts { drift, leak, stall },
    }
}

/// The interval log's header, as HdrHistogram's Java `HistogramLogWriter` writes it. Interval
/// timestamps are seconds since `BaseTime`, the measured phase's start (after warm-up); maxima
/// are in milliseconds (values are recorded in nanoseconds).
fn write_hlog_header(w: &mut impl Write, measured_start: std::time::SystemTime) -> Result<()> {
    let epoch = measured_start
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let started = UtcTime::from_system(measured_start);
    writeln!(
        w,
        "#[Logged with spreadbench {}]",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(w, "#[Histogram log format version 1.3]")?;
    writeln!(
        w,
        "#[StartTime: {epoch:.3} (seconds since epoch), {}]",
        started.rfc3339()
    )?;
    writeln!(w, "#[BaseTime: {epoch:.3} (seconds since epoch)]")?;
    writeln!(w, "#[MaxValueDivisor: 1000000.000]")?;
    writeln!(
        w,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    )?;
    Ok(())
}

fn write_interval(
    hlog: &mut impl Write,
    jsonl: &mut impl Write,
    iv: &IntervalReport<'_>,
    counters: crate::measure::counters::CounterMode,
) -> Result<()> {
    let h = &iv.outcome.latency;
    writeln!(
        hlog,
        "{:.3},{:.3},{:.3},{}",
        iv.start.as_secs_f64(),
        iv.duration.as_secs_f64(),
        h.inner().max() as f64 / 1e6,
        h.to_base64()?
    )?;
    let n = iv.outcome.measured.max(1) as f64;
    let r = iv.outcome.recall.as_ref();
    let phase = |h: &crate::measure::LatencyHistogram| json!({"p50": h.value_at_quantile(0.5), "p99": h.value_at_quantile(0.99), "max": h.inner().max()});
    // Recall mode: each phase's interval percentiles (absent in spread mode).
    let phases = r.map(|r| {
        json!({
            "seed": phase(&r.phases.seed),
            "spread": (!r.phases.spread.is_empty()).then(|| phase(&r.phases.spread)),
            "rank": phase(&r.phases.rank),
        })
    });
    let mut line = json!({
        "interval": iv.index,
        "start_s": iv.start.as_secs_f64(),
        "duration_s": iv.duration.as_secs_f64(),
        "elapsed_s": (iv.start + iv.duration).as_secs_f64(),
        "spreads": iv.outcome.measured,
        "spreads_done": iv.spreads_done,
        "throughput_per_s": iv.outcome.measured as f64 / iv.duration.as_secs_f64().max(1e-9),
        "latency_ns": {
            "min": h.inner().min(),
            "p50": h.value_at_quantile(0.5),
            "p90": h.value_at_quantile(0.9),
            "p99": h.value_at_quantile(0.99),
            "p999": h.value_at_quantile(0.999),
            "max": h.inner().max(),
            "mean": h.inner().mean(),
            "count": h.len(),
        },
        "rss_bytes": iv.rss_bytes,
        "pool": iv.pool.map(|s| json!({
            "in_use": s.in_use,
            "available": s.available,
            "hit_rate": s.hit_rate,
            "high_water_mark": s.high_water_mark,
            "misses": s.misses,
        })),
        "alloc": {
            "allocs": iv.outcome.alloc.allocs,
            "bytes": iv.outcome.alloc.bytes,
            "allocs_per_spread": iv.outcome.alloc.allocs as f64 / n,
        },
        "counters": CountersSection::new(counters, &iv.outcome.counters, iv.outcome.measured),
    });
    if let (Some(p), Some(obj)) = (phases, line.as_object_mut()) {
        obj.insert("phases_ns".into(), p);
    }
    // With the predictor: the interval's prediction error (and what a budget did).
    if let (Some(t), Some(obj)) = (&iv.outcome.prediction, line.as_object_mut()) {
        let e = t.errors.stats();
        obj.insert(
            "prediction_error".into(),
            json!({
                "count": e.count,
                "within_10pct": e.within_10pct,
                "within_20pct": e.within_20pct,
                "within_50pct": e.within_50pct,
                "p50_rel_err": e.p50_rel_err,
                "p95_rel_err": e.p95_rel_err,
            }),
        );
        if let Some(b) = &t.budget {
            obj.insert("budget".into(), serde_json::to_value(b)?);
        }
    }
    serde_json::to_writer(&mut *jsonl, &line)?;
    writeln!(jsonl)?;
    Ok(())
}

fn print_summary(out: &mut impl Write, s: &Snapshot) -> Result<()> {
    let l = &s.latency_ns;
    let Some(soak) = &s.soak else {
        anyhow::bail!("internal error: a soak snapshot without its soak section");
    };
    writeln!(
        out,
        "soak {} ({} nodes, {} edges, hash {}): {} {} in {:.1} s, {}, {} intervals",
        s.workload.name,
        s.workload.nodes,
        s.workload.edges,
        s.workload.hash,
        s.spreads,
        if s.recall.is_some() {
            "recalls"
        } else {
            "spreads"
        },
        s.measure_wall_s,
        soak.mode.as_str(),
        soak.intervals
    )?;
    writeln!(out)?;
    write_latency_table(out, l)?;
    write_throughput_and_recall(out, s)?;
    let rss = &soak.rss_bytes;
    let mb = |v: Option<u64>| v.map_or("n/a".to_string(), |b| format!("{:.1} MB", b as f64 / 1e6));
    writeln!(
        out,
        "RSS           start {}, end {}, peak {}",
        mb(rss.start),
        mb(rss.end),
        mb(rss.peak)
    )?;
    if let Some(a) = s.alloc.figures() {
        writeln!(out, "allocations   {:.3} per spread", a.allocs_per_spread)?;
    }
    let v = &soak.verdicts;
    let leak = &v.leak;
    writeln!(
        out,
        "leak          {}: RSS {} over the second half ({:.0} bytes per 10k spreads), pool in use at end {}, allocations steady {}",
        status_word(leak.status),
        leak.rss_growth_second_half_pct.map_or("n/a".into(), |g| format!("{g:+.3}%")),
        leak.rss_slope_bytes_per_10k_spreads.unwrap_or(f64::NAN),
        leak.pool_in_use_at_end.map_or("n/a".into(), |n| n.to_string()),
        leak.allocs_steady
    )?;
    let drift = &v.drift;
    // `{:?}` keeps a whole limit's ".0" (`50.0`), as the summary always printed it.
    writeln!(
        out,
        "drift         {}: last/first p99 {} (limit {:?})",
        status_word(drift.status),
        drift.ratio.map_or("n/a".into(), |r| format!("{r:.3}")),
        drift.max_ratio
    )?;
    let stall = &v.stall;
    writeln!(
        out,
        "stall         {}: max/p99.9 {} (limit {:?})",
        status_word(stall.status),
        stall.ratio.map_or("n/a".into(), |r| format!("{r:.2}")),
        stall.max_ratio
    )?;
    write_model_lines(out, s)?;
    if let Some(reason) = &s.partial_reason {
        writeln!(out, "PARTIAL       {reason}")?;
    }
    Ok(())
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Inconclusive => "INCONCLUSIVE",
    }
}
