//! `spreadbench run`: the closed-loop latency benchmark. Prepares the workload, builds one
//! setting per combination of the listed options, measures them side by side, writes the
//! results directory (snapshot.json, latency.hgrm, a runs.csv row) and prints a summary or the
//! snapshot.

use super::common::{
    alloc_json, check_counters, counters_json, pool_json, prepare, print_outcome, progress_bar,
    snapshot_files, work_summary, workload_info, write_latency_table, Prepared,
};
use super::exit::{Exit, Outcome};
use super::interrupt::Interrupt;
use super::{RunArgs, Switch};
use crate::engine::{ActivationRecordPool, HopExecutor, Spreader};
use crate::harness::bench::{run_interleaved, BenchPlan, SettingOutcome, SettingUnderTest};
use crate::measure::alloc;
use crate::measure::calibration::Calibrator;
use crate::measure::counters::CounterMode;
use crate::measure::timing::harness_overhead_ns;
use crate::measure::HostInfo;
use crate::report::snapshot::{SettingReport, ToolInfo};
use crate::report::time::UtcTime;
use crate::report::{ResultsWriter, Snapshot, SCHEMA_VERSION};
use crate::InputError;
use anyhow::Result;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

/// Idle records the pool's shared queue may hold: more than any client count we run.
const POOL_CAPACITY: usize = 1024;

/// The options that make one setting.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SettingSpec {
    threads: u64,
    batch_size: u64,
    prefetch_distance: usize,
    pool: bool,
    concurrency: u64,
}

impl SettingSpec {
    fn label(&self) -> String {
        format!(
            "threads={} batch={} prefetch={} pool={} concurrency={}",
            self.threads,
            self.batch_size,
            self.prefetch_distance,
            if self.pool { "on" } else { "off" },
            self.concurrency
        )
    }
}

/// Every combination of the listed options, in the order given (the first is the baseline).
fn setting_specs(args: &RunArgs) -> Vec<SettingSpec> {
    let default_threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let threads = args
        .threads
        .clone()
        .unwrap_or_else(|| vec![default_threads]);
    let pools: Vec<bool> = if args.no_pool {
        vec![false]
    } else {
        args.pool.iter().map(|s| *s == Switch::On).collect()
    };
    let mut specs = Vec::new();
    for &t in &threads {
        for &b in &args.batch_size {
            for &pd in &args.prefetch_distance {
                for &pool in &pools {
                    for &c in &args.concurrency {
                        let spec = SettingSpec {
                            threads: t,
                            batch_size: b,
                            prefetch_distance: pd,
                            pool,
                            concurrency: c,
                        };
                        if !specs.contains(&spec) {
                            specs.push(spec);
                        }
                    }
                }
            }
        }
    }
    specs
}

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

    let mut snapshot = build_snapshot(&p, &settings, &specs, &outcomes, started, overhead)?;
    snapshot.counters = counters_json(counter_mode, &outcomes[0].counters, outcomes[0].measured);
    snapshot.calibration = calibrator.figure();
    let interrupted = interrupt.reason().map(|sig| {
        format!(
            "interrupted by {sig} after {} of {} measured spreads per setting",
            outcomes[0].measured, spreads
        )
    });
    snapshot.partial = interrupted.is_some();
    snapshot.partial_reason = interrupted.clone();
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

fn build_snapshot(
    p: &Prepared,
    settings: &[SettingUnderTest],
    specs: &[SettingSpec],
    outcomes: &[SettingOutcome],
    started: UtcTime,
    overhead: u64,
) -> Result<Snapshot> {
    let counting = alloc::counting_active();
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
                pool_stats: pool_json(o),
                alloc: alloc_json(o, counting),
            })
        })
        .collect::<Result<_>>()?;
    let spec = specs[0];
    Ok(Snapshot {
        schema_version: SCHEMA_VERSION.to_string(),
        tool: ToolInfo::current(),
        command: "run".into(),
        started_at: started.rfc3339(),
        host: HostInfo::detect(),
        workload: workload_info(p),
        config: json!({
            "spread": settings[0].spreader.config(),
            "requests": p.workload.requests,
            "prefetch_distance": spec.prefetch_distance,
            "threads": spec.threads,
            "batch_size": spec.batch_size,
            "parallel_min_edges": settings[0].spreader.parallel_min_edges(),
            "pool": spec.pool,
            "concurrency": spec.concurrency,
            "mode": "closed-loop",
        }),
        spreads: first.measured,
        warmup: first.warmed,
        latency_ns: first.latency.summary()?,
        throughput_per_s: base_tput,
        work: work_summary(first),
        partial: false,
        partial_reason: None,
        fallback: 0,
        graph_build_ms: p.build_time.as_secs_f64() * 1e3,
        measure_wall_s: first.measured_wall.as_secs_f64(),
        harness_overhead_ns: overhead,
        pool: pool_json(first),
        alloc: alloc_json(first, counting),
        settings: reports,
        work_identical_across_settings: outcomes.iter().all(|o| o.work.same_as(&first.work)),
        counters: json!({"status": "off"}),
        soak: None,
        calibration: None,
    })
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
    if let Some(hr) = s.pool.get("hit_rate").and_then(Value::as_f64) {
        writeln!(
            out,
            "pool          hit rate {:.4}, {} misses, high-water {} in use, {} in use now",
            hr, s.pool["misses"], s.pool["high_water_mark"], s.pool["in_use"]
        )?;
    } else {
        writeln!(out, "pool          off")?;
    }
    match s.alloc.get("allocs_per_spread").and_then(Value::as_f64) {
        Some(a) => writeln!(
            out,
            "allocations   {:.3} per spread, {:.0} bytes per spread (steady state)",
            a,
            s.alloc["bytes_per_spread"].as_f64().unwrap_or(0.0)
        )?,
        None => writeln!(out, "allocations   not counted ({})", s.alloc["reason"])?,
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
