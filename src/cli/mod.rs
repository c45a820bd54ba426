//! The command line: clap definitions here, one module per command, shared set-up in
//! [`common`]. This is the only layer that parses flags, prints, or decides exit codes'
//! meaning; the work itself is in the library modules it calls.

pub mod common;
pub mod compare;
pub mod diff;
pub mod exit;
pub mod gen;
pub mod interrupt;
pub mod options;
pub mod predict;
pub mod recall;
pub mod recall_setup;
pub mod report;
pub mod run;
pub mod session;
pub mod soak;
pub mod spread;
pub mod workloads;

use crate::engine::spreader::DEFAULT_PREFETCH_DISTANCE;
use crate::measure::counters::CounterMode;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Benchmarks and soak-tests spreading activation over memory graphs.
#[derive(Debug, Parser)]
#[command(name = "spreadbench", version, about, after_help = exit::help_text())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Benchmark spread latency on a workload and write a results directory.
    #[command(after_help = exit::help_text())]
    Run(RunArgs),
    /// Soak test: a long run in intervals, with interval histograms, RSS, pool, allocation
    /// and counter readings, and leak, drift and stall verdicts.
    #[command(after_help = exit::help_text())]
    Soak(SoakArgs),
    /// Compare two snapshots (files or results directories) for a CI regression gate.
    #[command(after_help = exit::diff_help_text())]
    Diff(DiffArgs),
    /// Run two builds alternately (A B, B A, …) on one workload and judge them like `diff`.
    #[command(after_help = exit::diff_help_text())]
    Compare(CompareArgs),
    /// Draw results directories as a self-contained HTML report (inline SVG plots), or as
    /// one SVG file per plot.
    #[command(after_help = exit::help_text())]
    Report(ReportArgs),
    /// Fit the latency predictor on the workload's request stream and judge it on a
    /// disjoint one, per request and per hop, beside the noise ceiling (and, with --budget,
    /// the budget manager against no budget).
    #[command(after_help = exit::help_text())]
    Predict(PredictArgs),
    /// Run one spread and print the ranked activated nodes and the work counters.
    #[command(after_help = exit::help_text())]
    Spread(SpreadArgs),
    /// Run one recall (cue → similarity seeds → spread → ranked memories) and print it.
    #[command(after_help = exit::help_text())]
    Recall(RecallArgs),
    /// Generate a workload's graph and write it as .sbg (binary) or CSV.
    #[command(after_help = exit::help_text())]
    Gen(GenArgs),
    /// List the built-in workloads, or print one as TOML to start your own from.
    #[command(after_help = exit::help_text())]
    Workloads(WorkloadsArgs),
}

/// Which workload, and optionally which graph file, to use.
#[derive(Debug, Args)]
pub struct WorkloadArgs {
    /// A built-in workload name (see `spreadbench workloads`) or a path to a workload TOML file.
    #[arg(short = 'w', long, default_value = crate::workload::DEFAULT_WORKLOAD, value_name = "WORKLOAD")]
    pub workload: String,

    /// Use this graph instead of generating the workload's: a .sbg file or a CSV edge list
    /// (`src,dst[,weight[,type]]`, with an optional FILE.nodes.csv of `id,tier`); `-` reads
    /// standard input.
    #[arg(long, value_name = "FILE")]
    pub graph: Option<PathBuf>,

    /// With a CSV --graph: store each row as two directed edges.
    #[arg(long, requires = "graph")]
    pub undirected: bool,

    /// Override the workload's seed (graph, tiers, embeddings and request stream).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,

    /// Node vectors for recall: a float32 `.npy` of shape [nodes, dim], row i = node i
    /// [default: the .sbg's embeddings section, else generated from the workload's
    /// `[embeddings]`].
    #[arg(long, value_name = "FILE.npy")]
    pub embeddings: Option<PathBuf>,
}

/// What a measuring command's requests are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RequestMode {
    /// Seed lists, spread alone (comparable with every earlier baseline).
    Spread,
    /// Cue vectors through the whole recall pipeline: seed → spread → rank.
    Recall,
}

/// Recall's parameters as flags; each overrides the workload's `[recall]` key of that name.
#[derive(Debug, Args)]
pub struct RecallParamArgs {
    /// Hits kept from the similarity search (k) [default: the workload's, 100].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..=crate::recall::pipeline::MAX_RECALL_K as u64))]
    pub max_candidates: Option<u64>,

    /// θ_sim: hits below this similarity do not seed [default: the workload's, 0.4].
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub similarity_threshold: Option<f64>,

    /// T of the seeding sigmoid, activation = sigmoid((s − θ_sim)/T) [default: 0.5].
    #[arg(long, value_name = "T")]
    pub temperature: Option<f64>,

    /// Results with a lower confidence are dropped [default: the workload's, 0.1].
    #[arg(long, value_name = "C")]
    pub min_confidence: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecallModeArg {
    Similarity,
    Spreading,
    Hybrid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SimilarityArg {
    Exact,
    Quantized,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,

    /// Spread requests to measure [default: the workload's, 20000 for warm-10k].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=options::MAX_REQUESTS))]
    pub spreads: Option<u64>,

    /// Requests to run first and discard [default: the workload's, 2000 for warm-10k].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=options::MAX_REQUESTS))]
    pub warmup: Option<u64>,

    /// Hop threads (the caller plus workers); a list measures each [default: available
    /// parallelism]. Hops with little work stay on the calling thread.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..=options::MAX_THREADS))]
    pub threads: Option<Vec<u64>>,

    /// Frontier nodes per batch of a parallel hop: `auto` (the adaptive batcher chooses it
    /// and the parallel threshold, learning per spread; with one thread the fixed default
    /// 256) or a number; a list (`auto,64`) measures each.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "auto", value_parser = options::parse_batch_size)]
    pub batch_size: Vec<u64>,

    /// `off`: `auto` means the fixed default batch size 256 and `--parallel-min-edges`, for
    /// comparison.
    #[arg(long, value_enum, default_value = "on")]
    pub batcher: Switch,

    /// Prefetch this many items ahead while spreading, 0 = off; a list measures each.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_values_t = [DEFAULT_PREFETCH_DISTANCE], value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=options::MAX_PREFETCH_DISTANCE))]
    pub prefetch_distance: Vec<usize>,

    /// Take per-spread state from the ActivationRecordPool (on) or allocate it per request
    /// (off); `on,off` measures both.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "on",
        conflicts_with = "no_pool"
    )]
    pub pool: Vec<Switch>,

    /// Same as `--pool off`.
    #[arg(long)]
    pub no_pool: bool,

    /// Closed-loop clients, each on its own thread; a list measures each.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "1", value_parser = clap::value_parser!(u64).range(1..=options::MAX_CONCURRENCY))]
    pub concurrency: Vec<u64>,

    /// A hop runs on all threads only when its frontier has at least this many out-edges,
    /// counted four times on a graph of 2^20 edges or more (with `--batch-size auto`: where a
    /// cold-started batcher begins).
    #[arg(long, value_name = "N", default_value_t = crate::engine::spreader::DEFAULT_PARALLEL_MIN_EDGES)]
    pub parallel_min_edges: u64,

    /// Perf counters: off, auto (record what the machine offers, the rest as unsupported),
    /// or required (fail unless every event can be read).
    #[arg(long, value_enum, default_value = "auto")]
    pub counters: CounterArg,

    /// Requests per interleaved block when several settings are measured.
    #[arg(long, value_name = "N", default_value_t = options::DEFAULT_BLOCK, value_parser = clap::value_parser!(u64).range(1..=options::MAX_BLOCK))]
    pub block: u64,

    /// A latency budget per request (`25us`, `1ms`, `250000ns`, `1.5ms`): a hop that the
    /// predictor says would end past it is not started (the result is partial), and a request
    /// predicted past 1.5× it falls back to its seeds alone (recall: to the similarity-only
    /// results, decided once the seeds are known) [default: the workload's `[budget]`, else
    /// none].
    #[arg(long, value_name = "DURATION")]
    pub budget: Option<String>,

    /// Predict each request's latency before it runs and record the error; `on,off`
    /// measures what predicting costs.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "on")]
    pub predictor: Vec<Switch>,

    /// Results root: the run's directory and runs.csv go here.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,

    /// What each request is: a spread from seeds, or a whole recall from a cue vector.
    #[arg(long, value_enum, default_value = "spread")]
    pub mode: RequestMode,

    /// With --mode recall: how results are ranked [default: the workload's, hybrid].
    #[arg(long, value_enum, value_name = "MODE")]
    pub recall_mode: Option<RecallModeArg>,

    /// With --mode recall: how seeding picks candidates; a list (`exact,quantized`)
    /// measures each [default: the workload's].
    #[arg(long, value_enum, value_name = "LIST", value_delimiter = ',')]
    pub similarity: Vec<SimilarityArg>,

    #[command(flatten)]
    pub recall: RecallParamArgs,

    /// Print the snapshot JSON on stdout instead of the summary table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub live: LiveArgs,

    /// No progress bar and no informational lines on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SoakArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,

    /// Spread requests to measure.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=options::MAX_REQUESTS))]
    pub spreads: u64,

    /// Requests to run first and discard [default: the workload's].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=options::MAX_REQUESTS))]
    pub warmup: Option<u64>,

    /// Spreads per interval [default: the larger of 1000 and N/100, so 100 intervals].
    #[arg(long, value_name = "K", conflicts_with = "interval_secs", value_parser = clap::value_parser!(u64).range(1..=options::MAX_REQUESTS))]
    pub interval_spreads: Option<u64>,

    /// Seconds per interval (ends at the next chunk of 1024 requests).
    #[arg(long, value_name = "S")]
    pub interval_secs: Option<f64>,

    /// Closed-loop clients (with --rate: clients sharing the schedule).
    #[arg(long, value_name = "C", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=options::MAX_CONCURRENCY))]
    pub concurrency: u64,

    /// Open loop: schedule requests at this many per second and time each from its scheduled
    /// start (coordinated omission corrected).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,

    /// Hop threads (the caller plus workers).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=options::MAX_THREADS))]
    pub threads: u64,

    /// Frontier nodes per batch of a parallel hop: `auto` (the adaptive batcher, which keeps
    /// learning over the soak; with one thread the fixed default 256) or a number.
    #[arg(long, value_name = "auto|N", default_value = "auto", value_parser = options::parse_batch_size)]
    pub batch_size: u64,

    /// `off`: `auto` means the fixed default batch size and threshold.
    #[arg(long, value_enum, default_value = "on")]
    pub batcher: Switch,

    /// Prefetch distance, 0 = off.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PREFETCH_DISTANCE, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=options::MAX_PREFETCH_DISTANCE))]
    pub prefetch_distance: usize,

    /// Allocate per-spread state per request instead of using the pool.
    #[arg(long)]
    pub no_pool: bool,

    /// Perf counters: off, auto, or required.
    #[arg(long, value_enum, default_value = "auto")]
    pub counters: CounterArg,

    /// A latency budget per request (`25us`, `1ms`, …), as for `run` [default: the
    /// workload's `[budget]`, else none].
    #[arg(long, value_name = "DURATION")]
    pub budget: Option<String>,

    /// Predict each request's latency before it runs and record the error.
    #[arg(long, value_enum, default_value = "on")]
    pub predictor: Switch,

    /// Leak verdict: the most RSS may grow over the second half, in percent.
    #[arg(long, value_name = "PCT", default_value_t = 1.0)]
    pub max_rss_growth: f64,

    /// Drift verdict: the most the last intervals' p99 may exceed the first ones', as a ratio.
    #[arg(long, value_name = "RATIO", default_value_t = 1.5)]
    pub max_p99_drift: f64,

    /// Stall verdict: the most the longest request may exceed the run's p99.9, as a ratio.
    #[arg(long, value_name = "RATIO", default_value_t = 50.0)]
    pub max_stall_ratio: f64,

    /// Results root: the soak's directory and runs.csv go here.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,

    /// What each request is: a spread from seeds, or a whole recall from a cue vector.
    #[arg(long, value_enum, default_value = "spread")]
    pub mode: RequestMode,

    /// With --mode recall: how results are ranked [default: the workload's, hybrid].
    #[arg(long, value_enum, value_name = "MODE")]
    pub recall_mode: Option<RecallModeArg>,

    /// With --mode recall: how seeding picks candidates [default: the workload's].
    #[arg(long, value_enum, value_name = "MODE")]
    pub similarity: Option<SimilarityArg>,

    #[command(flatten)]
    pub recall: RecallParamArgs,

    /// Print the snapshot JSON on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub live: LiveArgs,

    /// No progress bar and no informational lines on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    /// Test hook: leak this many bytes after every request (to check the leak verdict).
    #[arg(long, value_name = "BYTES", default_value_t = 0, hide = true, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=options::MAX_LEAK_BYTES))]
    pub leak_bytes_per_spread: usize,
}

// ---- live metrics and the report (issue 12) ----

/// Watching a measuring command while it runs: `--metrics-addr`, `--stream` (see `crate::live`).
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Serve OpenMetrics `/metrics` and `/snapshot.json` here while the command runs
    /// (`HOST:PORT`, or `:PORT` for loopback; another host than loopback is warned about).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,

    /// Keep serving the final figures this many seconds after the command ends, so a scraper
    /// sees its last totals.
    #[arg(
        long,
        value_name = "S",
        default_value_t = 0.0,
        requires = "metrics_addr"
    )]
    pub metrics_linger: f64,

    /// Write one JSON line per measured block (run) or interval (soak) as it ends, flushed:
    /// `-` is standard output; a FIFO or device is written through; a regular file is
    /// truncated and written as the command goes.
    #[arg(long, value_name = "-|FILE")]
    pub stream: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Svg,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results directories (of `run` or `soak`) or their snapshot.json files; two runs of
    /// one workload are also drawn as a diff.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,

    /// Where to write: the HTML file [default: report.html], or with `--format svg` the
    /// directory for the .svg files [default: report] (created if absent).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// html: one self-contained file with inline SVG; svg: each plot as its own file.
    #[arg(long, value_enum, default_value = "html")]
    pub format: ReportFormat,

    /// No progress lines on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

// ---- end of live metrics and the report ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Table,
    Markdown,
    Json,
}

/// How `diff` and `compare` judge and report.
#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// Noise band in percent: a change must lie wholly beyond it to count.
    #[arg(long, value_name = "PCT", default_value_t = 5.0)]
    pub noise: f64,

    /// Significance level, at least 0.0001 (the bootstrap resamples 20/A times, up to
    /// 200,000). compare spreads it over its looks (Bonferroni).
    #[arg(long, value_name = "A", default_value_t = 0.01)]
    pub alpha: f64,

    /// Latency metrics to judge, from p50, p90, p95, p99, p999.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "p50,p95,p99"
    )]
    pub metrics: Vec<String>,

    #[arg(long, value_enum, default_value = "table")]
    pub format: DiffFormat,

    /// Report, but exit 0 even on a regression.
    #[arg(long)]
    pub advisory: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The baseline: a snapshot.json or a results directory.
    pub base: PathBuf,

    /// The candidate: a snapshot.json or a results directory.
    pub new: PathBuf,

    #[command(flatten)]
    pub judge: JudgeArgs,

    /// Compare even when the workload, config or schema major version differ (and say so).
    #[arg(long)]
    pub force: bool,

    /// Also write NEW's latency as Bencher Metric Format JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_bmf: Option<PathBuf>,

    /// Divide NEW's latencies by (NEW's calibration / BASE's calibration) before judging:
    /// cancels the machine's speed drift between the two runs, measured on a fixed reference
    /// kernel that does not depend on the engine. Both snapshots need a calibration figure.
    #[arg(long)]
    pub calibrate: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline build's spreadbench binary.
    #[arg(long, value_name = "PATH", required = true)]
    pub base_bin: PathBuf,

    /// The candidate build's binary [default: this one].
    #[arg(long, value_name = "PATH")]
    pub new_bin: Option<PathBuf>,

    /// Workload (built-in name or TOML file), as for `run`.
    #[arg(short = 'w', long, default_value = crate::workload::DEFAULT_WORKLOAD, value_name = "WORKLOAD")]
    pub workload: String,

    /// The first verdict is taken after this many rounds; then after every round.
    #[arg(long, value_name = "K", default_value_t = 6, value_parser = clap::value_parser!(u64).range(2..=1000))]
    pub min_rounds: u64,

    /// The round cap: undecided after this many rounds is "inconclusive" (exit 5). Each round
    /// runs both builds, base first in odd rounds and new first in even ones; a round of
    /// warm-10k at the defaults takes about 0.45 s here, so the default cap of 100 rounds
    /// stays under a minute.
    #[arg(long, alias = "rounds", value_name = "K", default_value_t = 100, value_parser = clap::value_parser!(u64).range(2..=1000))]
    pub max_rounds: u64,

    /// Divide each round's ratio by its calibration ratio (when both builds record one).
    /// Off by default: on this project's VM it widened the interval (README, "Regression
    /// gates").
    #[arg(long)]
    pub calibrate: bool,

    /// Measured spreads per build per round.
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=options::MAX_REQUESTS))]
    pub spreads_per_round: u64,

    /// Warm-up spreads per build per round (enough to get past the first, slower fraction
    /// of a second of a fresh process on a virtual machine).
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(0..=options::MAX_REQUESTS))]
    pub warmup: u64,

    /// `off` runs both builds with `--predictor off`: no latency prediction per request, and
    /// no cost profiles to compute first (one spread per node, over half an hour for the
    /// first round on scale-free-1m-deep). Both builds' `run` must have `--predictor`; `on`
    /// passes nothing, so any build can be the base.
    #[arg(long, value_enum, default_value = "on")]
    pub predictor: Switch,

    #[command(flatten)]
    pub judge: JudgeArgs,

    /// No progress lines on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,

    /// What is predicted: spread requests (seed lists), or recall requests (cues through
    /// seed → spread → rank, under the workload's `[recall]` and the recall flags below).
    #[arg(long, value_enum, default_value = "spread")]
    pub mode: RequestMode,

    #[command(flatten)]
    pub recall: RecallParamArgs,

    /// Training requests: the workload's request stream, as `run` draws it (in recall mode
    /// its cue stream; at least 1).
    #[arg(long, value_name = "N", default_value_t = 5000)]
    pub train: u64,

    /// Requests run before training, neither timed nor learnt from (the training requests,
    /// cycled) [default: the workload's warm-up, 2000 for warm-10k].
    #[arg(long, value_name = "N")]
    pub warmup: Option<u64>,

    /// Test requests (cues in recall mode): a disjoint stream (the workload's seed XOR a fixed constant; at
    /// least 1).
    #[arg(long, value_name = "M", default_value_t = 2000)]
    pub test: u64,

    /// Times each test request runs, in rounds over all of them, for the noise ceiling (at
    /// least 1).
    #[arg(long, value_name = "R", default_value_t = 5)]
    pub repeat: u64,

    /// Also run the test requests with and without a budget manager of this budget (`25us`,
    /// `1ms`, …), alternately, and compare them.
    #[arg(long, value_name = "DURATION")]
    pub budget: Option<String>,

    /// Exit 4 (after writing the results) when the share of request observations within
    /// 20% of their prediction is below SHARE (0 to 1).
    #[arg(long, value_name = "SHARE", allow_negative_numbers = true)]
    pub require: Option<f64>,

    /// Results root: the directory, runs.csv and the cost-profile cache go here.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,

    /// Print the snapshot JSON on stdout instead of the tables.
    #[arg(long)]
    pub json: bool,

    /// No progress bar and no informational lines on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SpreadArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,

    /// Seed nodes, comma-separated; each `ID` (at the workload's seed activation) or
    /// `ID:ACTIVATION`, e.g. `12,40:0.5`.
    #[arg(long, value_name = "LIST", required = true)]
    pub seeds: String,

    /// Maximum depth H [default: the workload's].
    #[arg(long, value_name = "H", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::engine::MAX_DEPTH)))]
    pub depth: Option<u32>,

    /// Keep only the K highest-ranked nodes [default: the workload's, or all].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..=u64::from(u32::MAX)))]
    pub top: Option<u64>,

    /// Hop threads (the caller plus workers). The result does not depend on it.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=options::MAX_THREADS))]
    pub threads: u64,

    /// Frontier nodes per batch of a parallel hop: `auto` (what `run` or `soak` learned on
    /// this machine, read from `results/`, else the default 256 and `--parallel-min-edges`)
    /// or a number.
    #[arg(long, value_name = "auto|N", default_value = "auto", value_parser = options::parse_batch_size)]
    pub batch_size: u64,

    /// `off`: `auto` means the fixed default batch size.
    #[arg(long, value_enum, default_value = "on")]
    pub batcher: Switch,

    /// A hop runs on all threads only when its frontier has at least this many out-edges,
    /// counted four times on a graph of 2^20 edges or more (0: every hop, which is how tests
    /// compare thread counts on small spreads).
    #[arg(long, value_name = "N", default_value_t = crate::engine::spreader::DEFAULT_PARALLEL_MIN_EDGES)]
    pub parallel_min_edges: u64,

    /// A latency budget for this spread (`25us`, `1ms`, …): the predictor, trained first on
    /// `--train` requests of the workload's stream, stops it before a hop that would end past
    /// the budget (`partial`), or answers with the seeds alone when the whole spread is
    /// predicted past 1.5× it (`fallback`).
    #[arg(long, value_name = "DURATION")]
    pub budget: Option<String>,

    /// With --budget: requests of the workload's stream that train the predictor first (0:
    /// untrained, so the budget never acts).
    #[arg(long, value_name = "N", default_value_t = 2000, requires = "budget", value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub train: u64,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `--counters`: the command line's spelling of [`CounterMode`] (`measure/` knows nothing of
/// clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CounterArg {
    Off,
    Auto,
    Required,
}

impl From<CounterArg> for CounterMode {
    fn from(a: CounterArg) -> CounterMode {
        match a {
            CounterArg::Off => CounterMode::Off,
            CounterArg::Auto => CounterMode::Auto,
            CounterArg::Required => CounterMode::Required,
        }
    }
}

#[derive(Debug, Args)]
pub struct RecallArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,

    /// Use node N's own vector as the cue, exactly.
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "cue_file",
        required_unless_present = "cue_file"
    )]
    pub cue_node: Option<u64>,

    /// Read the cue from a float32 `.npy` of shape `[dim]` or `[1, dim]`.
    #[arg(long, value_name = "FILE.npy")]
    pub cue_file: Option<PathBuf>,

    /// How results are ranked [default: the workload's, hybrid].
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Option<RecallModeArg>,

    /// How seeding picks candidates [default: the workload's].
    #[arg(long, value_enum, value_name = "MODE")]
    pub similarity: Option<SimilarityArg>,

    /// Keep the K best results (max_results) [default: the workload's, 100].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..=crate::recall::pipeline::MAX_RECALL_K as u64))]
    pub top: Option<u64>,

    #[command(flatten)]
    pub recall: RecallParamArgs,

    /// Hop threads (the caller plus workers). The result does not depend on it.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=options::MAX_THREADS))]
    pub threads: u64,

    /// A hop runs on all threads only when its frontier has at least this many out-edges,
    /// counted four times on a graph of 2^20 edges or more.
    #[arg(long, value_name = "N", default_value_t = crate::engine::spreader::DEFAULT_PARALLEL_MIN_EDGES)]
    pub parallel_min_edges: u64,

    /// A latency budget for this recall (`25us`, `1ms`, …): the predictor, trained first on
    /// `--train` cues of the workload's stream, answers with the similarity-only results when
    /// the seeding time plus the predicted spread and rank pass 1.5× it (`fallback`), else
    /// stops the spread before a hop that would end past it (`partial`).
    #[arg(long, value_name = "DURATION")]
    pub budget: Option<String>,

    /// With --budget: cues of the workload's stream that train the predictor first (0:
    /// untrained, so the budget never acts).
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "budget", value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub train: u64,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Sbg,
    Csv,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// A built-in workload name or a path to a workload TOML file.
    #[arg(short = 'w', long, default_value = crate::workload::DEFAULT_WORKLOAD, value_name = "WORKLOAD")]
    pub workload: String,

    /// Override the workload's seed.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,

    /// Where to write the graph.
    #[arg(long, value_name = "FILE", required = true)]
    pub out: PathBuf,

    /// File format [default: csv if FILE ends in .csv, else sbg]. CSV also writes FILE.nodes.csv.
    #[arg(long, value_enum)]
    pub format: Option<GraphFormat>,
}

#[derive(Debug, Args)]
pub struct WorkloadsArgs {
    /// Print this workload's TOML.
    #[arg(long, value_name = "NAME")]
    pub show: Option<String>,
}

/// Runs the parsed command: how it ended, or why it failed (`main` maps both to an exit code).
pub fn dispatch(cli: Cli) -> anyhow::Result<exit::Outcome> {
    match cli.command {
        Command::Run(a) => run::execute(&a),
        Command::Diff(a) => diff::execute(&a),
        Command::Compare(a) => compare::execute(&a),
        Command::Soak(a) => soak::execute(&a),
        Command::Report(a) => report::execute(&a),
        Command::Predict(a) => predict::execute(&a),
        Command::Spread(a) => spread::execute(&a),
        Command::Recall(a) => recall::execute(&a),
        Command::Gen(a) => gen::execute(&a),
        Command::Workloads(a) => workloads::execute(&a),
    }
}
