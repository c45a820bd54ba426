//! `spreadbench run`: the closed-loop latency benchmark. Prepares the workload, builds one
//! setting per combination of the listed options, measures them side by side, writes the
//! results directory (snapshot.json, latency.hgrm, a runs.csv row) and prints a summary or the
//! snapshot.

use super::common::{
    alloc_section, check_counters, measured_figures, pool_section, prepare, print_outcome,
    progress_bar, requests_config, snapshot_context, snapshot_files, spread_settings,
    write_latency_table, Prepared,
};
use super::exit::{Exit, Outcome};
use super::interrupt::Interrupt;
use super::options::{setting_specs, SettingSpec};
use super::RunArgs;
use crate::engine::{ActivationRecordPool, HopExecutor, Spreader};
use crate::harness::bench::POOL_CAPACITY;
use crate::harness::bench::{run_interleaved, BenchPlan, SettingOutcome, SettingUnderTest};
use crate::measure::calibration::Calibrator;
use crate::measure::counters::CounterMode;
use crate::measure::timing::harness_overhead_ns;
use crate::report::snapshot::{
    AllocSection, LoopMode, PoolSection, RunConfig, SettingReport, SnapshotContext,
};
use crate::report::time::UtcTime;
use crate::report::{ResultsWriter, Snapshot};
use crate::InputError;
use anyhow::Result;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

pub fn execute(args: &RunArgs) -> Result<Outcome> {
    let counter_mode = CounterMode::from(args.counters);
    let started = UtcTime::now();
    let p = prepare(&args.workload)?;
    let spreads = args.spreads.unwrap_or(p.workload.run.spreads);
    let warmup = args.warmup.unwrap_or(p.workload.run.warmup);
    let specs = setting_specs(args);
    let n = p.graph.node_count();

    let mut executors: BTreeMap<u64, Arc<HopExecutor>> = BTreeMap::new();
    let mut settings = Vec::with_capacity(specs.len());
    for spec in &specs {
        let executor = Arc::clone(
            executors
                .entry(spec.threads)
                .or_insert_with(|| Arc::new(HopExecutor::new(spec.threads as usize))),
        );
        let spreader = Spreader::new(p.workload.spread.clone())
            .map_err(|e| InputError::new(e.to_string()))?
            .with_prefetch_distance(spec.prefetch_distance)
            .with_batch_size(spec.batch_size as usize)
            .with_parallel_min_edges(args.parallel_min_edges)
            .with_executor(Some(executor));
        let pool = spec.pool.then(|| {
            let pool = ActivationRecordPool::new(n, POOL_CAPACITY);
            // One record per client up front: a client thread that starts late must not
            // allocate its first record inside the measured phase.
            pool.prefill(spec.concurrency as usize, spec.threads as usize);
            pool
        });
        settings.push(SettingUnderTest {
            label: spec.label(),
            spreader,
            pool,
            concurrency: spec.concurrency as usize,
            leak_bytes_per_spread: 0,
        });
    }
    if !args.quiet {
        crate::note!("{}", p.describe());
        if settings.len() > 1 {
            crate::note!(
                "measuring {} settings side by side, interleaved in blocks of {} requests",
                settings.len(),
                args.block
            );
        }
    }

    check_counters(counter_mode)?;
    // The results directory is begun (under a hidden name) before anything is measured, so an
    // unusable `--out` fails now instead of losing the measurement.
    let results = ResultsWriter::new(&args.out);
    let pending = results.begin("run", &p.workload.name, started)?;
    let interrupt = Interrupt::install()?;
    let overhead = harness_overhead_ns(10_000);
    let mut requests = p.workload.requests(n);
    let total = (warmup + spreads) * settings.len() as u64;
    let pb = progress_bar(total, args.quiet);
    pb.set_prefix("run");
    let plan = BenchPlan {
        warmup,
        spreads,
        block: args.block,
        counters: counter_mode,
    };
    let mut calibrator = Calibrator::new();
    let outcomes = run_interleaved(
        &p.graph,
        &mut requests,
        &settings,
        plan,
        interrupt.flag(),
        &mut calibrator,
        |done| pb.set_position(done),
    )?;
    pb.finish_and_clear();

    let interrupted = interrupt.reason().map(|sig| {
        format!(
            "interrupted by {sig} after {} of {} measured spreads per setting",
            outcomes[0].measured, spreads
        )
    });
    let config = run_config(&p, &settings[0], specs[0]);
    let mut ctx = snapshot_context(&p, started, config, overhead);
    ctx.partial_reason = interrupted.clone();
    ctx.calibration = calibrator.figure();
    let snapshot = build_snapshot(ctx, &settings, &specs, &outcomes, counter_mode)?;
    let (json, files) = snapshot_files(&snapshot, &outcomes[0].latency)?;
    let dir = pending.finish(&snapshot, &files)?;
    print_outcome(args.json.then_some(&json[..]), args.quiet, &dir, |out| {
        print_summary(out, &snapshot)
    })?;
    Ok(match interrupted {
        Some(reason) => Outcome::with(
            Exit::Interrupted,
            format!("{reason}; partial results in {}", dir.display()),
        ),
        None => Outcome::success(),
    })
}

/// The `config` of a run: its first setting's.
fn run_config(p: &Prepared, first: &SettingUnderTest, spec: SettingSpec) -> RunConfig {
    RunConfig {
        batch_size: Some(spec.batch_size),
        concurrency: spec.concurrency,
        mode: LoopMode::ClosedLoop,
        parallel_min_edges: Some(first.spreader.parallel_min_edges()),
        pool: spec.pool,
        prefetch_distance: spec.prefetch_distance as u64,
        requests: requests_config(&p.workload.requests),
        spread: spread_settings(first.spreader.config()),
        threads: spec.threads,
    }
}

fn build_snapshot(
    ctx: SnapshotContext,
    settings: &[SettingUnderTest],
    specs: &[SettingSpec],
    outcomes: &[SettingOutcome],
    counters: CounterMode,
) -> Result<Snapshot> {
    let first = &outcomes[0];
    let base_p50 = first.latency.value_at_quantile(0.5).max(1) as f64;
    let base_tput = first.throughput_per_s();
    let reports = specs
        .iter()
        .zip(settings)
        .zip(outcomes)
        .map(|((spec, s), o)| {
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
            })
        })
        .collect::<Result<_>>()?;
    Ok(Snapshot::for_run(
        ctx,
        measured_figures(first, counters, first.measured_wall, base_tput)?,
        reports,
        outcomes.iter().all(|o| o.work.same_as(&first.work)),
    ))
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
        "measured {} spreads per setting after {} warm-up, closed loop",
        s.spreads, s.warmup
    )?;
    writeln!(out)?;
    if s.settings.len() > 1 {
        writeln!(
            out,
            "{:<58} {:>9} {:>9} {:>9} {:>11} {:>9} {:>9}",
            "setting", "p50 µs", "p95 µs", "p99 µs", "spreads/s", "p50 ×", "tput ×"
        )?;
        for r in &s.settings {
            writeln!(
                out,
                "{:<58} {:>9.2} {:>9.2} {:>9.2} {:>11.0} {:>9.3} {:>9.3}",
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
    writeln!(out, "throughput    {:.0} spreads/s", s.throughput_per_s)?;
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
        PoolSection::Stats(p) => writeln!(
            out,
            "pool          hit rate {:.4}, {} misses, high-water {} in use, {} in use now",
            p.hit_rate, p.misses, p.high_water_mark, p.in_use
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
