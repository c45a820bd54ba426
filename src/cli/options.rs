//! Validated options: the bounds and defaults of every numeric flag, and every check of a
//! flag's value, in one place (in the manner of hyperfine's `Options` and ripgrep's low and
//! high arguments). clap's definitions in [`super`] take their defaults and ranges from the
//! constants here; what a range cannot express — every combination of `run`'s lists, the soak
//! plan, the judging options of `diff` and `compare`, `spread`'s seed list — is resolved by
//! the functions below before a command does any work.

use super::{CompareArgs, RunArgs, SoakArgs, Switch};
use crate::bad_input;
use crate::engine::Seed;
use crate::harness::soak::{IntervalRule, SoakPlan};
use crate::measure::counters::CounterMode;
use crate::recall::SimilarityMode;
use crate::report::diff::{DiffOptions, Metric, RoundPlan};
use crate::report::stats;
use crate::InputError;
use anyhow::Result;

/// Requests to measure or warm up (shared with the workload's `[run]` table).
pub const MAX_REQUESTS: u64 = crate::workload::MAX_REQUESTS;
/// Default requests per interleaved block of `run`.
pub const DEFAULT_BLOCK: u64 = 1000;
/// A block's requests are drawn up front, so the block size bounds that allocation.
pub const MAX_BLOCK: u64 = 1_000_000;
/// Hop threads and batch sizes.
pub const MAX_THREADS: u64 = 256;
pub const MAX_BATCH_SIZE: u64 = 1 << 20;
/// Prefetching further ahead than this only evicts what it fetched.
pub const MAX_PREFETCH_DISTANCE: u64 = 4096;
/// Closed-loop clients.
pub const MAX_CONCURRENCY: u64 = 1024;
/// The soak's test hook: bytes leaked per request.
pub const MAX_LEAK_BYTES: u64 = 1 << 20;
/// Open-loop rates, requests per second.
pub const MIN_RATE: f64 = 0.001;
pub const MAX_RATE: f64 = 1e9;

/// `SettingSpec::batch_size` of a setting whose batch setting the adaptive batcher chooses
/// (`--batch-size auto`); a fixed batch size is at least 1.
pub const AUTO_BATCH_SIZE: u64 = 0;

/// The options that make one setting of a side-by-side `run`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SettingSpec {
    pub threads: u64,
    /// Frontier nodes per batch of a parallel hop, or [`AUTO_BATCH_SIZE`].
    pub batch_size: u64,
    pub prefetch_distance: usize,
    pub pool: bool,
    pub concurrency: u64,
    /// Recall mode: how seeding picks its candidates (`None` in spread mode).
    pub similarity: Option<SimilarityMode>,
    /// Whether each request's latency is predicted (`--predictor`).
    pub predictor: bool,
}

impl SettingSpec {
    /// Whether the adaptive batcher chooses this setting's batch size and threshold.
    pub fn auto_batch(&self) -> bool {
        self.batch_size == AUTO_BATCH_SIZE
    }

    pub fn label(&self) -> String {
        format!(
            "threads={} batch={} prefetch={} pool={} concurrency={}",
            self.threads,
            if self.auto_batch() {
                "auto".to_string()
            } else {
                self.batch_size.to_string()
            },
            self.prefetch_distance,
            if self.pool { "on" } else { "off" },
            self.concurrency
        ) + &self
            .similarity
            .map_or(String::new(), |m| format!(" similarity={}", m.name()))
            + if self.predictor { "" } else { " predictor=off" }
    }
}

/// One `--batch-size` entry: `auto` ([`AUTO_BATCH_SIZE`]) or a batch size in
/// 1..=[`MAX_BATCH_SIZE`] (clap's value parser, so a bad value is a usage error naming the
/// flag, as for every other numeric flag).
pub fn parse_batch_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text == "auto" {
        return Ok(AUTO_BATCH_SIZE);
    }
    match text.parse::<u64>() {
        Ok(n) if (1..=MAX_BATCH_SIZE).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{text}' is not auto or a batch size from 1 to {MAX_BATCH_SIZE}"
        )),
    }
}

/// What `--batch-size` means for one setting: `auto` runs the batcher only where it has
/// something to choose — more than one hop thread, the batcher on, spread requests (recall's
/// spread runs inside the pipeline, at a fixed setting) — and is the fixed default elsewhere.
pub fn resolve_batch_size(batch_size: u64, threads: u64, batcher_on: bool, recall: bool) -> u64 {
    if batch_size == AUTO_BATCH_SIZE && (threads <= 1 || !batcher_on || recall) {
        crate::engine::spreader::DEFAULT_BATCH_SIZE as u64
    } else {
        batch_size
    }
}

/// Every combination of `run`'s listed options (and, in recall mode, of `similarities`), in
/// the order given (the first is the baseline), each once. Each `--batch-size` entry is
/// resolved per setting ([`resolve_batch_size`]).
pub fn setting_specs(
    args: &RunArgs,
    similarities: &[Option<SimilarityMode>],
    batcher_on: bool,
) -> Vec<SettingSpec> {
    let default_threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let threads = args
        .threads
        .clone()
        .unwrap_or_else(|| vec![default_threads.min(MAX_THREADS)]);
    let pools: Vec<bool> = if args.no_pool {
        vec![false]
    } else {
        args.pool.iter().map(|s| *s == Switch::On).collect()
    };
    let mut specs = Vec::new();
    for &threads in &threads {
        for &batch_size in &args.batch_size {
            for &prefetch_distance in &args.prefetch_distance {
                for &pool in &pools {
                    for &concurrency in &args.concurrency {
                        for &similarity in similarities {
                            for &predictor in &args.predictor {
                                let spec = SettingSpec {
                                    threads,
                                    batch_size: resolve_batch_size(
                                        batch_size,
                                        threads,
                                        batcher_on,
                                        similarity.is_some(),
                                    ),
                                    prefetch_distance,
                                    pool,
                                    concurrency,
                                    similarity,
                                    predictor: predictor == Switch::On,
                                };
                                if !specs.contains(&spec) {
                                    specs.push(spec);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    specs
}

/// The latency budget per request in ns: `--budget` when given, else the workload's
/// `[budget]`, else none. A bad value is refused naming `--budget`.
pub fn budget_ns(flag: Option<&str>, workload: Option<u64>) -> Result<Option<u64>> {
    match flag {
        Some(text) => crate::engine::parse_duration(text)
            .map(Some)
            .map_err(|e| bad_input!("--budget: {e}")),
        None => Ok(workload),
    }
}

/// Refuses a budget the command cannot honour: without the predictor it has nothing to act
/// on (spreads and recalls alike).
pub fn check_budget(budget: Option<u64>, predictor_off: bool) -> Result<()> {
    if budget.is_some() && predictor_off {
        return Err(bad_input!(
            "--budget: needs the latency predictor, which --predictor off turns off"
        ));
    }
    Ok(())
}

/// The soak's plan from its flags (the warm-up is the workload's unless given; the caller
/// fills it in once the workload is loaded).
pub fn soak_plan(args: &SoakArgs) -> Result<SoakPlan> {
    if let Some(r) = args.rate {
        if !(r.is_finite() && (MIN_RATE..=MAX_RATE).contains(&r)) {
            return Err(bad_input!(
                "--rate: must be between {MIN_RATE} and {MAX_RATE:e} requests per second (got {r:e})"
            ));
        }
    }
    let interval = match (args.interval_spreads, args.interval_secs) {
        (_, Some(s)) if !(s.is_finite() && s > 0.0) => {
            return Err(bad_input!(
                "--interval-secs: must be a positive number of seconds (got {s})"
            ))
        }
        (_, Some(s)) => IntervalRule::Secs(s),
        (Some(k), None) => IntervalRule::Spreads(k),
        (None, None) => IntervalRule::Spreads((args.spreads / 100).max(1000).min(args.spreads)),
    };
    for (flag, v) in [
        ("--max-rss-growth", args.max_rss_growth),
        ("--max-p99-drift", args.max_p99_drift),
        ("--max-stall-ratio", args.max_stall_ratio),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(bad_input!("{flag}: must be a number >= 0 (got {v})"));
        }
    }
    Ok(SoakPlan {
        spreads: args.spreads,
        warmup: 0,
        interval,
        rate: args.rate,
        counters: CounterMode::from(args.counters),
    })
}

/// `diff`'s and `compare`'s judging options, validated.
pub fn judging_options(
    noise: f64,
    alpha: f64,
    metric_names: &[String],
    force: bool,
) -> Result<DiffOptions> {
    if !(noise.is_finite() && (0.0..100.0).contains(&noise)) {
        return Err(bad_input!(
            "--noise: must be a percentage in [0, 100) (got {noise})"
        ));
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(bad_input!("--alpha: must be in (0, 1) (got {alpha})"));
    }
    if alpha < stats::MIN_ALPHA {
        return Err(bad_input!(
            "--alpha: {alpha} is below {}, the smallest level the bootstrap resolves ({} replicates; its p-value cannot go below 1/{})",
            stats::MIN_ALPHA,
            stats::MAX_REPLICATES,
            stats::MAX_REPLICATES
        ));
    }
    let metrics = metric_names
        .iter()
        .map(|m| {
            Metric::parse(m).ok_or_else(|| {
                bad_input!("--metrics: '{m}' is not one of p50, p90, p95, p99, p999")
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DiffOptions {
        noise: noise / 100.0,
        alpha,
        metrics,
        force,
        calibrate: false,
    })
}

/// The judging options and the round plan, once the options agree with each other.
pub fn compare_options(args: &CompareArgs) -> Result<(DiffOptions, RoundPlan)> {
    let mut opts = judging_options(
        args.judge.noise,
        args.judge.alpha,
        &args.judge.metrics,
        false,
    )?;
    opts.calibrate = args.calibrate;
    if args.min_rounds > args.max_rounds {
        return Err(bad_input!(
            "--min-rounds {} is more than --max-rounds {}",
            args.min_rounds,
            args.max_rounds
        ));
    }
    for m in &opts.metrics {
        if !stats::quantile_resolved(args.spreads_per_round, m.quantile) {
            return Err(bad_input!(
                "--spreads-per-round {}: too few requests per round to judge {} (a quantile needs at least {} requests and {} beyond it)",
                args.spreads_per_round,
                m.name,
                stats::MIN_REQUESTS,
                stats::MIN_TAIL
            ));
        }
    }
    let plan = RoundPlan {
        min_rounds: args.min_rounds as usize,
        max_rounds: args.max_rounds as usize,
    };
    Ok((opts, plan))
}

/// Parses `12,40:0.5`: node ids, each with an optional activation (default `activation`).
pub fn parse_seeds(list: &str, activation: f64, nodes: usize) -> Result<Vec<Seed>, InputError> {
    let mut seeds = Vec::new();
    for item in list.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(InputError::new(format!("--seeds: empty entry in '{list}'")));
        }
        let (id_text, act_text) = match item.split_once(':') {
            Some((i, a)) => (i.trim(), Some(a.trim())),
            None => (item, None),
        };
        let node: u32 = id_text
            .parse()
            .map_err(|_| InputError::new(format!("--seeds: '{id_text}' is not a node id")))?;
        if node as usize >= nodes {
            return Err(InputError::new(format!(
                "--seeds: node {node} is outside the graph (nodes 0..{nodes})"
            )));
        }
        let a = match act_text {
            None => activation,
            Some(t) => t.parse::<f64>().map_err(|_| {
                InputError::new(format!(
                    "--seeds: activation '{t}' of node {node} is not a number"
                ))
            })?,
        };
        if !Seed::valid_activation(a) {
            return Err(InputError::new(format!(
                "--seeds: activation {a} of node {node} must be in (0, 1] and at least 2^-32 (one fixed-point unit)"
            )));
        }
        seeds.push(Seed::new(node, a));
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_parse_and_resolve() {
        assert_eq!(parse_batch_size("auto"), Ok(AUTO_BATCH_SIZE));
        assert_eq!(parse_batch_size(" 64"), Ok(64));
        assert_eq!(parse_batch_size("1"), Ok(1));
        for bad in ["0", "abc", "", "-1", "1048577", "Auto"] {
            let e = parse_batch_size(bad).unwrap_err();
            assert!(e.contains("is not auto or a batch size"), "{bad}: {e}");
        }
        // auto stays auto only with threads > 1, the batcher on and spread requests.
        assert_eq!(resolve_batch_size(AUTO_BATCH_SIZE, 2, true, false), 0);
        assert_eq!(resolve_batch_size(AUTO_BATCH_SIZE, 1, true, false), 256);
        assert_eq!(resolve_batch_size(AUTO_BATCH_SIZE, 2, false, false), 256);
        assert_eq!(resolve_batch_size(AUTO_BATCH_SIZE, 2, true, true), 256);
        assert_eq!(resolve_batch_size(64, 1, true, false), 64);
    }

    #[test]
    fn seeds_parse_and_validate() {
        let s = parse_seeds("12, 40:0.5", 1.0, 100).unwrap();
        assert_eq!(s, vec![Seed::new(12, 1.0), Seed::new(40, 0.5)]);
        assert!(parse_seeds("12,", 1.0, 100)
            .unwrap_err()
            .0
            .contains("empty"));
        assert!(parse_seeds("x", 1.0, 100).unwrap_err().0.contains("'x'"));
        assert!(parse_seeds("100", 1.0, 100)
            .unwrap_err()
            .0
            .contains("outside"));
        assert!(parse_seeds("1:0", 1.0, 100)
            .unwrap_err()
            .0
            .contains("at least 2^-32"));
        assert!(parse_seeds("1:1e-10", 1.0, 100)
            .unwrap_err()
            .0
            .contains("at least 2^-32"));
        let one_unit = 2f64.powi(-32);
        assert_eq!(
            parse_seeds(&format!("1:{one_unit:e}"), 1.0, 100).unwrap(),
            vec![Seed::new(1, one_unit)]
        );
        assert!(parse_seeds("1:abc", 1.0, 100)
            .unwrap_err()
            .0
            .contains("not a number"));
    }
}
