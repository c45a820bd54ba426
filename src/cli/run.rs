//! `spreadbench run`: the closed-loop latency benchmark. Prepares the workload, builds one
//! setting per combination of the listed options, measures them side by side, writes the
//! results directory (snapshot.json, latency.hgrm, a runs.csv row) and prints a summary or the
//! snapshot.

use super::common::{
    alloc_section, measured_figures, pool_section, progress_bar, requests_config, spread_settings,
    write_latency_table, LoadedWorkload,
};
use super::exit::Outcome;
use super::options::{budget_ns, check_budget, setting_specs, SettingSpec};
use super::recall_setup::{
    recall_config, reject_recall_flags, write_throughput_and_recall, RecallPlan,
};
use super::session::{
    attach_batchers, batcher_section, measuring_outcome, prediction_sections, save_batchers,
    write_model_lines, MeasuringSession, Presentation,
};
use super::{RequestMode, RunArgs};
use crate::harness::bench::{run_interleaved, BenchPlan, SettingOutcome, SettingUnderTest};
use crate::harness::requests::RequestSource;
use crate::measure::counters::CounterMode;
use crate::recall::SimilarityMode;
use crate::report::snapshot::{
    AllocSection, LoopMode, PoolSection, RunConfig, SettingReport, SnapshotContext,
};
use crate::report::{ResultsWriter, Snapshot};
use anyhow::Result;
use std::io::Write;

pub fn execute(args: &RunArgs) -> Result<Outcome> {
    // Bound and opened before anything else: a bad --metrics-addr or --stream fails at once.
    let mut live = crate::live::Live::start(&args.live, "run", args.quiet)?;
    if args.mode == RequestMode::Spread {
        reject_recall_flags(
            &args.workload,
            args.recall_mode.is_some(),
            !args.similarity.is_empty(),
            &args.recall,
        )?;
    }
    // A bad --budget is refused before anything is loaded.
    budget_ns(args.budget.as_deref(), None)?;
    let mut session = MeasuringSession::open("run", &args.workload, args.counters.into())?;
    let budget = budget_ns(args.budget.as_deref(), session.loaded.workload.budget_ns)?;
    check_budget(budget, args.predictor.contains(&super::Switch::Off))?;
    let spreads = args.spreads.unwrap_or(session.loaded.workload.run.spreads);
    let warmup = args.warmup.unwrap_or(session.loaded.workload.run.warmup);
    let recall = match args.mode {
        RequestMode::Spread => None,
        RequestMode::Recall => {
            let w = &session.loaded.workload;
            let config = recall_config(w.recall, args.recall_mode, None, None, &args.recall)?;
            let sims: Vec<SimilarityMode> = if args.similarity.is_empty() {
                vec![config.similarity]
            } else {
                args.similarity.iter().map(|&s| s.into()).collect()
            };
            let plan = RecallPlan::for_session(&mut session, &args.workload, config, &sims)?;
            Some((plan, sims))
        }
    };
    session.announce(
        args.quiet,
        recall.as_ref().map(|(plan, _)| plan.inputs.describe()),
    );
    let similarities: Vec<Option<SimilarityMode>> = match &recall {
        Some((_, sims)) => sims.iter().map(|&s| Some(s)).collect(),
        None => vec![None],
    };
    let specs = setting_specs(args, &similarities, args.batcher == super::Switch::On);
    let mut settings = specs
        .iter()
        .map(|spec| {
            let mut s = session.setting(spec, args.parallel_min_edges, 0)?;
            if let (Some((plan, _)), Some(sim)) = (&recall, spec.similarity) {
                s.recall = Some(plan.setting(&s.spreader, sim)?);
            }
            Ok(s)
        })
        .collect::<Result<Vec<_>>>()?;
    let recall = recall.map(|(plan, _)| plan);
    attach_batchers(
        &mut settings,
        &specs,
        &args.out,
        args.parallel_min_edges,
        args.quiet,
    );
    // An auto setting's gauge starts at the batcher's first setting.
    let batch: Vec<u64> = specs
        .iter()
        .zip(&settings)
        .map(|(spec, s)| {
            s.batcher
                .as_ref()
                .map_or(spec.batch_size, |b| b.stats().batch_size as u64)
        })
        .collect();
    live.describe(&session.loaded.workload.name, &settings, &batch);
    if !args.quiet && settings.len() > 1 {
        crate::note!(
            "measuring {} settings side by side, interleaved in blocks of {} requests",
            settings.len(),
            args.block
        );
    }

    let results = ResultsWriter::new(&args.out);
    let measuring = session.begin(&results)?;
    let predict: Vec<bool> = specs.iter().map(|s| s.predictor).collect();
    if !session.attach_models(
        &mut settings,
        &predict,
        &measuring,
        &args.out,
        budget,
        args.quiet,
    )? {
        return Ok(measuring.interrupted_before_measuring());
    }
    let loaded = &session.loaded;
    let mut requests = match &recall {
        Some(plan) => plan.request_source(),
        None => RequestSource::Spread(loaded.workload.requests(loaded.graph.node_count())),
    };
    let pb = progress_bar((warmup + spreads) * settings.len() as u64, args.quiet);
    pb.set_prefix("run");
    let plan = BenchPlan {
        warmup,
        spreads,
        block: args.block,
        counters: session.counters,
    };
    let outcomes = run_interleaved(
        &loaded.graph,
        &mut requests,
        &settings,
        plan,
        measuring.interrupt.flag(),
        &mut session.calibrator,
        |done, so_far| {
            pb.set_position(done);
            live.block(so_far, &settings);
        },
    )?;
    pb.finish_and_clear();
    save_batchers(&settings, args.quiet);

    let interrupted = measuring.interrupt.reason().map(|sig| {
        format!(
            "interrupted by {sig} after {} of {} measured spreads per setting",
            outcomes[0].measured, spreads
        )
    });
    let mut config = run_config(&session.loaded, &settings[0], specs[0]);
    config.budget_ns = budget;
    if let (Some(plan), Some(sim)) = (&recall, specs[0].similarity) {
        config.recall = Some(plan.settings(sim));
    }
    let ctx = session.context(config, measuring.overhead_ns, interrupted.clone());
    let mut snapshot = build_snapshot(ctx, &settings, &specs, &outcomes, session.counters)?;
    if let Some(plan) = &recall {
        add_recall_sections(
            &mut snapshot,
            plan,
            &specs,
            &outcomes,
            &session.loaded,
            args.quiet,
        )?;
    }
    live.measured(
        &snapshot,
        &outcomes.iter().map(|o| o.pool).collect::<Vec<_>>(),
    );
    let show = Presentation {
        json: args.json,
        quiet: args.quiet,
    };
    let dir = session.finish(
        measuring.pending,
        &snapshot,
        &outcomes[0].latency,
        vec![],
        show,
        |out| print_summary(out, &snapshot),
    )?;
    live.finish(measuring.interrupt.flag());
    Ok(measuring_outcome(&dir, interrupted, None))
}

/// The `config` of a run: its first setting's. A batch setting the batcher learned is not
/// configuration: under `auto` the two keys are absent.
fn run_config(loaded: &LoadedWorkload, first: &SettingUnderTest, spec: SettingSpec) -> RunConfig {
    let fixed = !spec.auto_batch();
    RunConfig {
        batch_size: fixed.then_some(spec.batch_size),
        concurrency: spec.concurrency,
        mode: LoopMode::ClosedLoop,
        parallel_min_edges: fixed.then(|| first.spreader.parallel_min_edges()),
        pool: spec.pool,
        prefetch_distance: spec.prefetch_distance as u64,
        requests: requests_config(&loaded.workload.requests),
        spread: spread_settings(first.spreader.config()),
        threads: spec.threads,
        recall: None,
        budget_ns: None,
    }
}

/// Recall mode: each setting's `phases` and `recall` (the first's also at the top level),
/// after checking recall@k and timing the scan, and the workload identity of a recall run.
fn add_recall_sections(
    snapshot: &mut Snapshot,
    plan: &RecallPlan,
    specs: &[SettingSpec],
    outcomes: &[SettingOutcome],
    loaded: &LoadedWorkload,
    quiet: bool,
) -> Result<()> {
    if !quiet {
        crate::note!("checking recall@k against the exact scan and timing the scan");
    }
    let scan = plan.scan_figures();
    for ((spec, o), report) in specs.iter().zip(outcomes).zip(snapshot.settings.iter_mut()) {
        let Some(sim) = spec.similarity else { continue };
        let (phases, recall) = plan.sections(o, sim, plan.check_recall(sim), &scan)?;
        report.phases = Some(phases);
        report.recall = Some(recall);
    }
    if let Some(first) = snapshot.settings.first() {
        snapshot.phases = first.phases.clone();
        snapshot.recall = first.recall.clone();
    }
    snapshot.workload.hash = loaded.workload.recall_identity(
        &loaded.graph,
        plan.inputs.fingerprint,
        &plan.config_for(specs[0].similarity.unwrap_or(plan.config.similarity)),
    );
    Ok(())
}

fn build_snapshot(
    ctx: SnapshotContext,
    settings: &[SettingUnderTest],
    specs: &[SettingSpec],
    outcomes: &[SettingOutcome],
    counters: CounterMode,
) -> Result<Snapshot> {
    let first = &outcomes[0];
    let sections: Vec<_> = settings
        .iter()
        .zip(outcomes)
        .map(|(s, o)| prediction_sections(s, o))
        .collect();
    let base_p50 = first.latency.value_at_quantile(0.5).max(1) as f64;
    let base_tput = first.throughput_per_s();
    let reports: Vec<SettingReport> = specs
        .iter()
        .zip(settings)
        .zip(outcomes)
        .zip(&sections)
        .map(|(((spec, s), o), (predictor, budget))| {
            let latency = o.latency.summary()?;
            Ok(SettingReport {
                label: s.label.clone(),
                threads: spec.threads,
                batch_size: spec.batch_size,
                prefetch_distance: spec.prefetch_distance as u64,
                pool: spec.pool,
                concurrency: spec.concurrency,
                spreads: o.measured,
                p50_ratio: latency.p50 as f64 / base_p50,
                latency_ns: latency,
                throughput_per_s: o.throughput_per_s(),
                throughput_ratio: if base_tput > 0.0 {
                    o.throughput_per_s() / base_tput
                } else {
                    0.0
                },
                pool_stats: pool_section(o),
                alloc: alloc_section(o),
                phases: None,
                recall: None,
                predictor: predictor.clone(),
                budget: *budget,
                batcher: batcher_section(s),
            })
        })
        .collect::<Result<_>>()?;
    let mut snapshot = Snapshot::for_run(
        ctx,
        measured_figures(
            first,
            reports[0].latency_ns.clone(),
            counters,
            first.measured_wall,
            base_tput,
        )?,
        reports,
        outcomes.iter().all(|o| o.work.same_as(&first.work)),
    );
    let (predictor, budget) = sections.into_iter().next().unwrap_or((None, None));
    snapshot.set_prediction(predictor, budget);
    snapshot.batcher = snapshot.settings.first().and_then(|r| r.batcher.clone());
    Ok(snapshot)
}

fn print_summary(out: &mut impl Write, s: &Snapshot) -> Result<()> {
    let l = &s.latency_ns;
    let us = |ns: u64| ns as f64 / 1000.0;
    writeln!(
        out,
        "workload {} ({} nodes, {} edges, hash {}); graph ready in {:.1} ms",
        s.workload.name, s.workload.nodes, s.workload.edges, s.workload.hash, s.graph_build_ms
    )?;
    writeln!(
        out,
        "measured {} {} per setting after {} warm-up, closed loop",
        s.spreads,
        if s.recall.is_some() {
            "recalls"
        } else {
            "spreads"
        },
        s.warmup
    )?;
    writeln!(out)?;
    if s.settings.len() > 1 {
        // As wide as the longest label (at least the 58 the spread labels take), so a recall
        // run's longer labels keep the columns aligned.
        let w = s
            .settings
            .iter()
            .map(|r| r.label.len())
            .max()
            .unwrap_or(0)
            .max(58);
        let rate = if s.recall.is_some() {
            "recalls/s"
        } else {
            "spreads/s"
        };
        writeln!(
            out,
            "{:<w$} {:>9} {:>9} {:>9} {:>11} {:>9} {:>9}",
            "setting", "p50 µs", "p95 µs", "p99 µs", rate, "p50 ×", "tput ×"
        )?;
        for r in &s.settings {
            writeln!(
                out,
                "{:<w$} {:>9.2} {:>9.2} {:>9.2} {:>11.0} {:>9.3} {:>9.3}",
                r.label,
                us(r.latency_ns.p50),
                us(r.latency_ns.p95),
                us(r.latency_ns.p99),
                r.throughput_per_s,
                r.p50_ratio,
                r.throughput_ratio
            )?;
        }
        writeln!(
            out,
            "(ratios are to the first setting; the lines below describe it)"
        )?;
        writeln!(out)?;
    } else if let Some(r) = s.settings.first() {
        writeln!(out, "setting       {}", r.label)?;
    }
    write_latency_table(out, l)?;
    writeln!(
        out,
        "              mean {:.2} µs, stdev {:.2} µs",
        l.mean / 1000.0,
        l.stdev / 1000.0
    )?;
    write_throughput_and_recall(out, s)?;
    writeln!(
        out,
        "work/spread   {:.1} nodes activated (p95 {}), {:.1} edges relaxed, {:.2} hops, {:.1} rejected, {:.2} cycle penalties",
        s.work.nodes_activated_mean,
        s.work.nodes_activated_p95,
        s.work.edges_relaxed_mean,
        s.work.hops_mean,
        s.work.rejected_mean,
        s.work.cycle_penalties_mean
    )?;
    match &s.pool {
        PoolSection::Stats(pool) => writeln!(
            out,
            "pool          hit rate {:.4}, {} misses, high-water {} in use, {} in use now",
            pool.hit_rate, pool.misses, pool.high_water_mark, pool.in_use
        )?,
        PoolSection::Off => writeln!(out, "pool          off")?,
    }
    match &s.alloc {
        AllocSection::Counted(a) => writeln!(
            out,
            "allocations   {:.3} per spread, {:.0} bytes per spread (steady state)",
            a.allocs_per_spread, a.bytes_per_spread
        )?,
        AllocSection::Unsupported { reason } => {
            writeln!(out, "allocations   not counted ({reason})")?
        }
    }
    write_model_lines(out, s)?;
    // The other settings the batcher chose for (the line above is the first setting's).
    for r in s.settings.iter().skip(1) {
        if let Some(b) = &r.batcher {
            let st = &b.stats;
            writeln!(
                out,
                "              {}: auto chose batch {}, parallel ≥ {} edges{}",
                r.label,
                st.batch_size,
                st.parallel_min_edges,
                if st.converged { "" } else { " (not converged)" }
            )?;
        }
    }
    writeln!(
        out,
        "harness cost  {} ns per request (timer + record, included above)",
        s.harness_overhead_ns
    )?;
    if let Some(reason) = &s.partial_reason {
        writeln!(out, "PARTIAL       {reason}")?;
    }
    if !s.work_identical_across_settings {
        writeln!(
            out,
            "WARNING: settings did different work for the same requests"
        )?;
    }
    Ok(())
}
