//! Set-up and output shared by the commands: resolving the workload (with a seed override),
//! loading or generating its graph (timed, memory checked), parsing seed lists, the progress
//! bar and `note!` for stderr; and the copies from engine and harness values into the typed
//! snapshot sections (`measured_figures`, `pool_section`, `spread_settings`, `snapshot_context`)
//! with the writing and printing of a measuring command's outcome.

use super::WorkloadArgs;
use crate::bad_input;
use crate::engine::{Decay, FanEffect, PoolStats, SpreadConfig, TierParams, TierPolicy};
use crate::graph::csv_io::{self, CsvImport};
use crate::graph::Tier;
use crate::graph::{generate, sbg, Graph};
use crate::harness::bench::SettingOutcome;
use crate::input::{self, Input};
use crate::measure::alloc;
use crate::measure::counters::{CounterMode, ThreadCounters};
use crate::measure::{LatencyHistogram, LatencySummary};
use crate::report::snapshot::{
    AllocSection, CountersSection, DecaySetting, FanEffectSetting, KindCounts, MeasuredFigures,
    PoolFigures, PoolSection, RequestsConfig, RunConfig, SnapshotContext, SpreadSettings,
    TierCounts, TierPolicySetting, TierSetting, TierTable, WorkSummary, WorkloadInfo,
};
use crate::report::time::UtcTime;
use crate::report::Snapshot;
use crate::workload::{RequestSpec, Workload};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A workload with its graph, ready to spread on.
pub struct LoadedWorkload {
    pub workload: Workload,
    pub graph: Graph,
    /// Time to generate or load the graph.
    pub build_time: Duration,
    /// The graph file, when one was given.
    pub graph_file: Option<PathBuf>,
}

impl LoadedWorkload {
    /// One line for stderr: the graph's size and how long it took to make.
    pub fn describe(&self) -> String {
        format!(
            "graph: {} nodes, {} edges, {} in {}",
            self.graph.node_count(),
            self.graph.edge_count(),
            if self.graph_file.is_some() {
                "loaded"
            } else {
                "generated"
            },
            human_duration(self.build_time)
        )
    }

    /// "barabasi-albert", or "file" for a loaded graph.
    pub fn generator(&self) -> &str {
        if self.graph_file.is_some() {
            "file"
        } else {
            self.workload.graph.topology.name()
        }
    }
}

/// Resolves a workload name or path and applies a seed override.
pub fn load_workload(name: &str, seed: Option<u64>) -> Result<Workload> {
    let mut w = Workload::load(name)?;
    if let Some(s) = seed {
        w.seed = s;
        w.graph.seed = s;
    }
    Ok(w)
}

/// Resolves the workload and generates or loads its graph.
pub fn load(args: &WorkloadArgs) -> Result<LoadedWorkload> {
    let workload = load_workload(&args.workload, args.seed)?;
    let start = Instant::now();
    let graph = match &args.graph {
        Some(path) => load_graph_file(path, args.undirected, &workload)?,
        None => generate_graph(&workload)?,
    };
    let build_time = start.elapsed();
    if graph.node_count() == 0 {
        return Err(match &args.graph {
            Some(path) => bad_input!("{}: the graph has no nodes", input::input_name(path)),
            None => bad_input!(
                "workload '{}': the generated graph has no nodes",
                workload.name
            ),
        });
    }
    Ok(LoadedWorkload {
        workload,
        graph,
        build_time,
        // Standard input is recorded under the name messages give it, not as "-".
        graph_file: args
            .graph
            .as_ref()
            .map(|p| PathBuf::from(input::input_name(p))),
    })
}

/// Loads a `.sbg` file (recognised by its magic bytes or extension) or a CSV edge list from a
/// path, or from standard input for `-`. The input is opened once and its first bytes are
/// peeked from the same handle, so pipes, FIFOs and `<(…)` work; each reader bounds what it
/// reads (`sbg::MAX_FILE_BYTES`, `csv_io::MAX_FILE_BYTES` and `MAX_LINE_BYTES`).
fn load_graph_file(path: &Path, undirected: bool, workload: &Workload) -> Result<Graph> {
    let mut input = Input::open(path)?;
    let name = input.name.clone();
    let is_sbg_ext = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("sbg"));
    if sbg::is_sbg(input.peek(sbg::MAGIC.len())?) || is_sbg_ext {
        if undirected {
            return Err(bad_input!(
                "{name}: --undirected applies to CSV edge lists, not .sbg files"
            ));
        }
        return sbg::read_from(input, &name);
    }
    // Standard input has no FILE.nodes.csv beside it; tiers then come from the workload.
    let nodes_file = (!input::is_stdin(path)).then(|| csv_io::nodes_path(path));
    csv_io::read_edge_list_from(
        input,
        &name,
        nodes_file.as_deref(),
        &CsvImport {
            undirected,
            tier_shares: workload.graph.tier_shares,
            seed: workload.seed,
        },
    )
}

/// Generates the workload's graph after checking that its estimated memory fits in what this
/// machine has available (bad input naming the workload file and key otherwise, rather than an
/// aborted allocation).
pub fn generate_graph(workload: &Workload) -> Result<Graph> {
    if let Some(available) = crate::measure::rss::available_memory_bytes() {
        generate::check_fits(&workload.graph, available)
            .map_err(|e| bad_input!("{}: {e}", workload.source))?;
    }
    Ok(generate::generate(&workload.graph)?)
}

/// Snapshot fields that describe the workload and its graph.
pub fn workload_info(loaded: &LoadedWorkload) -> WorkloadInfo {
    let t = loaded.graph.tier_counts();
    let k = loaded.graph.kind_counts();
    WorkloadInfo {
        name: loaded.workload.name.clone(),
        hash: loaded.workload.identity(&loaded.graph),
        nodes: loaded.graph.node_count() as u64,
        edges: loaded.graph.edge_count() as u64,
        generator: loaded.generator().to_string(),
        source: loaded.workload.source.clone(),
        graph_file: loaded.graph_file.as_ref().map(|f| f.display().to_string()),
        seed: loaded.workload.seed,
        description: loaded.workload.description.clone(),
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
        seeds_per_request: loaded.workload.requests.seeds_per_request as u64,
    }
}

/// With `--counters required`, fails (exit 1) unless every event can be opened here.
pub fn check_counters(mode: CounterMode) -> Result<()> {
    if mode != CounterMode::Required {
        return Ok(());
    }
    let sample = ThreadCounters::open(mode).read();
    let missing = sample.missing();
    if let Some((name, u)) = missing.first() {
        anyhow::bail!(
            "--counters required: {} of {} events unavailable, e.g. {name}: {} ({})",
            missing.len(),
            sample.events.len(),
            u.status,
            u.reason
        );
    }
    Ok(())
}

/// The top-level figures of a snapshot for one setting's outcome (whose latency summary,
/// `latency_ns`, the caller has made once), measured over `measure_wall` at
/// `throughput_per_s`.
pub fn measured_figures(
    o: &SettingOutcome,
    latency_ns: LatencySummary,
    counters: CounterMode,
    measure_wall: Duration,
    throughput_per_s: f64,
) -> Result<MeasuredFigures> {
    Ok(MeasuredFigures {
        spreads: o.measured,
        warmup: o.warmed,
        latency_ns,
        throughput_per_s,
        work: work_summary(o),
        measure_wall_s: measure_wall.as_secs_f64(),
        pool: pool_section(o),
        alloc: alloc_section(o),
        counters: CountersSection::new(counters, &o.counters, o.measured),
        phases: None,
        recall: None,
    })
}

/// An outcome's `pool` (or `pool_stats`) section. The engine's `PoolStats` is copied field
/// by field here because the report layer does not depend on the engine; the destructuring
/// names every field, so a new one fails to compile until the snapshot has it.
pub fn pool_section(o: &SettingOutcome) -> PoolSection {
    PoolSection::new(o.pool.map(|s| {
        let PoolStats {
            acquires,
            hits,
            local_hits,
            global_hits,
            misses,
            hit_rate,
            returns,
            discarded,
            prefilled,
            in_use,
            available,
            high_water_mark,
            utilization,
        } = s;
        PoolFigures {
            acquires,
            available,
            discarded,
            global_hits,
            high_water_mark,
            hit_rate,
            hits,
            in_use,
            local_hits,
            misses,
            prefilled,
            returns,
            utilization,
        }
    }))
}

/// An outcome's `alloc` section (unsupported unless the counting allocator is installed).
pub fn alloc_section(o: &SettingOutcome) -> AllocSection {
    AllocSection::new(alloc::counting_active(), o.alloc, o.measured)
}

/// The snapshot's copy of the engine's spread configuration (exhaustive, as above).
pub fn spread_settings(c: &SpreadConfig) -> SpreadSettings {
    let SpreadConfig {
        max_depth,
        decay,
        fan_effect,
        cycle_penalty,
        tier_policy,
        tiers,
        top_k,
    } = c;
    let tier = |t: Tier| {
        let TierParams {
            threshold,
            confidence,
            latency_budget_ns,
            visit_budget,
        } = tiers[t as usize];
        TierSetting {
            confidence,
            latency_budget_ns,
            threshold,
            visit_budget,
        }
    };
    SpreadSettings {
        cycle_penalty: *cycle_penalty,
        decay: match *decay {
            Decay::Exponential { rate } => DecaySetting::Exponential { rate },
            Decay::PowerLaw { exponent } => DecaySetting::PowerLaw { exponent },
            Decay::Linear { slope } => DecaySetting::Linear { slope },
        },
        fan_effect: match fan_effect {
            FanEffect::None => FanEffectSetting::None,
            FanEffect::OutDegree => FanEffectSetting::OutDegree,
            FanEffect::SqrtOutDegree => FanEffectSetting::SqrtOutDegree,
        },
        max_depth: *max_depth,
        tier_policy: match tier_policy {
            TierPolicy::Storage => TierPolicySetting::Storage,
            TierPolicy::HopDepth => TierPolicySetting::HopDepth,
        },
        tiers: TierTable {
            cold: tier(Tier::Cold),
            hot: tier(Tier::Hot),
            warm: tier(Tier::Warm),
        },
        top_k: top_k.map(|k| k as u64),
    }
}

/// The snapshot's copy of the workload's request spec.
pub fn requests_config(r: &RequestSpec) -> RequestsConfig {
    let RequestSpec {
        seeds_per_request,
        seed_activation,
    } = r;
    RequestsConfig {
        seed_activation: *seed_activation,
        seeds_per_request: *seeds_per_request as u64,
    }
}

/// The parts of a snapshot that describe where and how it was measured.
pub fn snapshot_context(
    loaded: &LoadedWorkload,
    started: UtcTime,
    config: RunConfig,
    harness_overhead_ns: u64,
) -> SnapshotContext {
    SnapshotContext {
        started,
        workload: workload_info(loaded),
        config,
        graph_build_ms: loaded.build_time.as_secs_f64() * 1e3,
        harness_overhead_ns,
        partial_reason: None,
        calibration: None,
    }
}

/// Work per measured spread, from an outcome's totals.
pub fn work_summary(o: &SettingOutcome) -> WorkSummary {
    let n = o.measured.max(1) as f64;
    let w = &o.work;
    WorkSummary {
        nodes_activated_mean: w.nodes_activated.mean(),
        nodes_activated_p95: w.nodes_activated.value_at_quantile(0.95),
        edges_relaxed_mean: w.edges_relaxed as f64 / n,
        hops_mean: w.hops as f64 / n,
        rejected_mean: w.rejected as f64 / n,
        cycle_penalties_mean: w.cycle_penalties as f64 / n,
    }
}

/// The two-line latency table of the summaries (µs).
pub fn write_latency_table(
    out: &mut impl std::io::Write,
    l: &LatencySummary,
) -> std::io::Result<()> {
    let us = |ns: u64| ns as f64 / 1000.0;
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
    )
}

/// A result file's name and bytes.
pub type ResultFile = (&'static str, Vec<u8>);

/// The files every measuring command writes: the snapshot (also returned, for `--json`) and
/// the latency percentile distribution.
pub fn snapshot_files(
    snapshot: &Snapshot,
    latency: &LatencyHistogram,
) -> anyhow::Result<(Vec<u8>, Vec<ResultFile>)> {
    let mut hgrm = Vec::new();
    latency.write_percentiles(&mut hgrm, 1000.0)?;
    let json = serde_json::to_vec_pretty(snapshot)?;
    Ok((
        json.clone(),
        vec![("snapshot.json", json), ("latency.hgrm", hgrm)],
    ))
}

/// Prints the outcome of a measuring command: the snapshot JSON (results path on stderr), or
/// the summary and the results path.
pub fn print_outcome(
    json: Option<&[u8]>,
    quiet: bool,
    dir: &Path,
    summary: impl FnOnce(&mut std::io::StdoutLock<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match json {
        Some(bytes) => {
            out.write_all(bytes)?;
            writeln!(out)?;
            if !quiet {
                crate::note!("results: {}", dir.display());
            }
        }
        None => {
            summary(&mut out)?;
            writeln!(out, "results: {}", dir.display())?;
        }
    }
    Ok(())
}

/// Writes one line on stderr, ignoring failure: a closed or full stderr must not abort a
/// command (least of all before its results are written), and there is nowhere left to report
/// that stderr failed. Use through [`note!`](crate::note).
pub fn write_stderr_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(line).and_then(|()| err.write_all(b"\n"));
}

/// `eprintln!` that never panics: see [`write_stderr_line`].
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::cli::common::write_stderr_line(format_args!($($arg)*))
    };
}

/// A progress bar on stderr, hidden when stderr is not a terminal or `quiet` is set.
pub fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// Formats a duration in the unit that keeps it readable.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// A share as a percentage with one decimal (`0.953` → `95.3%`).
pub fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}
