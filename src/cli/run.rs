//! `spreadbench run`: the closed-loop latency benchmark. Prepares the workload, measures,
//! writes the results directory (snapshot.json, latency.hgrm, a runs.csv row) and prints a
//! summary or the snapshot.

use super::common::{human_duration, prepare, progress_bar, Prepared};
use super::RunArgs;
use crate::engine::Spreader;
use crate::measure::bench::{run_closed_loop, BenchOutcome};
use crate::measure::timing::harness_overhead_ns;
use crate::measure::HostInfo;
use crate::report::snapshot::{KindCounts, TierCounts, ToolInfo, WorkSummary, WorkloadInfo};
use crate::report::time::UtcTime;
use crate::report::{ResultsWriter, Snapshot, SCHEMA_VERSION};
use crate::InputError;
use anyhow::Result;
use serde_json::json;
use std::io::Write;

pub fn execute(args: &RunArgs) -> Result<()> {
    let started = UtcTime::now();
    let p = prepare(&args.workload)?;
    let spreads = args.spreads.unwrap_or(p.workload.run.spreads);
    let warmup = args.warmup.unwrap_or(p.workload.run.warmup);
    let spreader = Spreader::new(p.workload.spread.clone())
        .map_err(|e| InputError::new(e.to_string()))?
        .with_prefetch_distance(args.prefetch_distance);
    if !args.quiet {
        eprintln!(
            "graph: {} nodes, {} edges, {} in {}",
            p.graph.node_count(),
            p.graph.edge_count(),
            if p.graph_file.is_some() {
                "loaded"
            } else {
                "generated"
            },
            human_duration(p.build_time)
        );
    }

    let overhead = harness_overhead_ns(10_000);
    let pb = progress_bar(warmup + spreads, args.quiet);
    pb.set_prefix("run");
    let mut requests = p.workload.requests(p.graph.node_count());
    let outcome = run_closed_loop(
        &p.graph,
        &spreader,
        &mut requests,
        warmup,
        spreads,
        |done| pb.set_position(done),
    );
    pb.finish_and_clear();

    let snapshot = build_snapshot(&p, &spreader, &outcome, started, overhead);
    let mut hgrm = Vec::new();
    outcome.latency.write_percentiles(&mut hgrm, 1000.0)?;
    let json = serde_json::to_vec_pretty(&snapshot)?;
    let dir = ResultsWriter::new(&args.out).write_run(
        &snapshot,
        started,
        &[("snapshot.json", json.clone()), ("latency.hgrm", hgrm)],
    )?;

    let mut out = std::io::stdout().lock();
    if args.json {
        out.write_all(&json)?;
        writeln!(out)?;
        if !args.quiet {
            eprintln!("results: {}", dir.display());
        }
    } else {
        print_summary(&mut out, &snapshot)?;
        writeln!(out, "results: {}", dir.display())?;
    }
    Ok(())
}

/// Snapshot fields that describe the workload and its graph.
pub fn workload_info(p: &Prepared) -> WorkloadInfo {
    let t = p.graph.tier_counts();
    let k = p.graph.kind_counts();
    WorkloadInfo {
        name: p.workload.name.clone(),
        hash: p.workload.identity(&p.graph),
        nodes: p.graph.node_count() as u64,
        edges: p.graph.edge_count() as u64,
        generator: p.generator().to_string(),
        source: p.workload.source.clone(),
        graph_file: p.graph_file.as_ref().map(|f| f.display().to_string()),
        seed: p.workload.seed,
        description: p.workload.description.clone(),
        tiers: TierCounts {
            hot: t[0] as u64,
            warm: t[1] as u64,
            cold: t[2] as u64,
        },
        edge_kinds: KindCounts {
            excitatory: k[0] as u64,
            inhibitory: k[1] as u64,
            modulatory: k[2] as u64,
        },
        seeds_per_request: p.workload.requests.seeds_per_request as u64,
    }
}

fn build_snapshot(
    p: &Prepared,
    spreader: &Spreader,
    o: &BenchOutcome,
    started: UtcTime,
    overhead: u64,
) -> Snapshot {
    let n = o.measured.max(1) as f64;
    let wall = o.wall.as_secs_f64();
    Snapshot {
        schema_version: SCHEMA_VERSION.to_string(),
        tool: ToolInfo::current(),
        command: "run".into(),
        started_at: started.rfc3339(),
        host: HostInfo::detect(),
        workload: workload_info(p),
        config: json!({
            "spread": spreader.config(),
            "requests": p.workload.requests,
            "prefetch_distance": spreader.prefetch_distance(),
            "threads": 1,
            "mode": "closed-loop",
        }),
        spreads: o.measured,
        warmup: o.warmup,
        latency_ns: o.latency.summary(),
        throughput_per_s: if wall > 0.0 {
            o.measured as f64 / wall
        } else {
            0.0
        },
        work: WorkSummary {
            nodes_activated_mean: o.work.nodes_activated.mean(),
            nodes_activated_p95: o.work.nodes_activated.value_at_quantile(0.95),
            edges_relaxed_mean: o.work.edges_relaxed as f64 / n,
            hops_mean: o.work.hops as f64 / n,
            rejected_mean: o.work.rejected as f64 / n,
            cycle_penalties_mean: o.work.cycle_penalties as f64 / n,
        },
        partial: 0,
        fallback: 0,
        graph_build_ms: p.build_time.as_secs_f64() * 1e3,
        measure_wall_s: wall,
        harness_overhead_ns: overhead,
    }
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
        "measured {} spreads after {} warm-up, 1 thread, closed loop",
        s.spreads, s.warmup
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "latency (µs)  {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "p50", "p90", "p95", "p99", "p99.9", "max"
    )?;
    writeln!(
        out,
        "              {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        us(l.p50),
        us(l.p90),
        us(l.p95),
        us(l.p99),
        us(l.p999),
        us(l.max)
    )?;
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
    writeln!(
        out,
        "harness cost  {} ns per request (timer + record, included above)",
        s.harness_overhead_ns
    )?;
    Ok(())
}
