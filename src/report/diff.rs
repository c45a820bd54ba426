//! `diff`'s judgement of two snapshots: are they comparable, did the deterministic work
//! change (a behaviour change), and did latency change beyond noise (a regression or an
//! improvement)?
//!
//! A metric regresses only when the change is significant (p < α) **and** its whole
//! confidence interval (level 1 − α) lies beyond the noise band; improvements likewise. The
//! p-value of a quantile is its bootstrap p-value; the median must also pass a Mann–Whitney U
//! test of the two whole distributions.

use super::snapshot::Snapshot;
use super::stats::{self, MannWhitney};
use crate::measure::LatencyHistogram;
use serde::Serialize;
use serde_json::Value;

/// Bootstrap replicates per metric.
pub const REPLICATES: usize = 2000;

/// A latency quantile `diff` can judge.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metric {
    pub name: &'static str,
    pub quantile: f64,
}

pub const METRICS: &[Metric] = &[
    Metric {
        name: "p50",
        quantile: 0.50,
    },
    Metric {
        name: "p90",
        quantile: 0.90,
    },
    Metric {
        name: "p95",
        quantile: 0.95,
    },
    Metric {
        name: "p99",
        quantile: 0.99,
    },
    Metric {
        name: "p999",
        quantile: 0.999,
    },
];

impl Metric {
    pub fn parse(s: &str) -> Option<Metric> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.replace("p99.9", "p999");
        METRICS.iter().copied().find(|m| m.name == s)
    }
}

#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Noise band, as a fraction (0.05 = 5%).
    pub noise: f64,
    pub alpha: f64,
    pub metrics: Vec<Metric>,
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Regression,
    Improvement,
    /// Not significant, or its interval reaches into the noise band.
    WithinNoise,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::Improvement => "improvement",
            Verdict::WithinNoise => "within noise",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricRow {
    pub metric: &'static str,
    pub base_ns: u64,
    pub new_ns: u64,
    pub ratio: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p: f64,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct BehaviourChange {
    pub field: String,
    pub base: Value,
    pub new: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// `diff`, or `compare (K rounds)`.
    pub mode: String,
    pub workload: String,
    pub workload_hash: String,
    /// Why the snapshots are not comparable; empty when they are. With `--force` the diff
    /// goes on anyway and says so.
    pub incomparable: Vec<String>,
    pub forced: bool,
    /// False when the work could not be compared (different request counts).
    pub behaviour_compared: bool,
    pub behaviour_changes: Vec<BehaviourChange>,
    pub rows: Vec<MetricRow>,
    pub mann_whitney: MannWhitney,
    pub noise: f64,
    pub alpha: f64,
    pub confidence: f64,
    pub regression: bool,
    pub improvement: bool,
    pub base_spreads: u64,
    pub new_spreads: u64,
}

/// The semver major of a schema version string.
fn major(v: &str) -> &str {
    v.split('.').next().unwrap_or(v)
}

/// Why `base` and `new` cannot be compared (empty when they can).
pub fn incomparable(base: &Snapshot, new: &Snapshot) -> Vec<String> {
    let mut why = Vec::new();
    if major(&base.schema_version) != major(&new.schema_version) {
        why.push(format!(
            "schema major version differs: {} vs {}",
            base.schema_version, new.schema_version
        ));
    }
    if base.workload.hash != new.workload.hash {
        why.push(format!(
            "workload differs: {} (hash {}) vs {} (hash {})",
            base.workload.name, base.workload.hash, new.workload.name, new.workload.hash
        ));
    }
    let mut keys = Vec::new();
    config_differences("config", &base.config, &new.config, &mut keys);
    if !keys.is_empty() {
        why.push(format!("engine config differs: {}", keys.join("; ")));
    }
    why
}

fn config_differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut names: Vec<&String> = x.keys().chain(y.keys()).collect();
            names.sort();
            names.dedup();
            for k in names {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                config_differences(&format!("{path}.{k}"), va, vb, out);
            }
        }
        _ if a != b => out.push(format!("{path} {a} vs {b}")),
        _ => {}
    }
}

/// The snapshot's latency histogram.
pub fn histogram(s: &Snapshot) -> Result<LatencyHistogram, String> {
    let h = LatencyHistogram::from_base64(&s.latency_ns.hdr)
        .map_err(|e| format!("latency_ns.hdr: {e}"))?;
    if h.is_empty() {
        return Err("latency_ns.hdr: the histogram is empty".into());
    }
    Ok(h)
}

/// Judges one quantile.
pub fn judge(
    base: &LatencyHistogram,
    new: &LatencyHistogram,
    m: Metric,
    opts: &DiffOptions,
    mw: &MannWhitney,
    seed: u64,
) -> MetricRow {
    let (b, n) = (
        base.value_at_quantile(m.quantile),
        new.value_at_quantile(m.quantile),
    );
    let ratios = stats::bootstrap_ratios(base.inner(), new.inner(), m.quantile, REPLICATES, seed);
    let lo = stats::percentile(&ratios, opts.alpha / 2.0);
    let hi = stats::percentile(&ratios, 1.0 - opts.alpha / 2.0);
    let mut p = stats::bootstrap_p(&ratios);
    if m.quantile == 0.5 {
        p = p.max(mw.p);
    }
    MetricRow {
        metric: m.name,
        base_ns: b,
        new_ns: n,
        ratio: n as f64 / b.max(1) as f64,
        ci_low: lo,
        ci_high: hi,
        p,
        verdict: verdict(p, lo, hi, opts),
    }
}

/// Significant (p < α) and the whole interval beyond the noise band.
pub fn verdict(p: f64, lo: f64, hi: f64, opts: &DiffOptions) -> Verdict {
    if p < opts.alpha && lo > 1.0 + opts.noise {
        Verdict::Regression
    } else if p < opts.alpha && hi < 1.0 - opts.noise {
        Verdict::Improvement
    } else {
        Verdict::WithinNoise
    }
}

/// The work counters that must match exactly between runs of the same workload.
fn work_fields(s: &Snapshot) -> Vec<(&'static str, Value)> {
    let w = &s.work;
    vec![
        (
            "work.nodes_activated_mean",
            serde_json::json!(w.nodes_activated_mean),
        ),
        (
            "work.nodes_activated_p95",
            serde_json::json!(w.nodes_activated_p95),
        ),
        (
            "work.edges_relaxed_mean",
            serde_json::json!(w.edges_relaxed_mean),
        ),
        ("work.hops_mean", serde_json::json!(w.hops_mean)),
        ("work.rejected_mean", serde_json::json!(w.rejected_mean)),
        (
            "work.cycle_penalties_mean",
            serde_json::json!(w.cycle_penalties_mean),
        ),
    ]
}

/// The work counters that differ between two runs of the same requests.
fn behaviour_changes(base: &Snapshot, new: &Snapshot) -> Vec<BehaviourChange> {
    work_fields(base)
        .into_iter()
        .zip(work_fields(new))
        .filter(|((_, a), (_, b))| a != b)
        .map(|((f, a), (_, b))| BehaviourChange {
            field: f.to_string(),
            base: a,
            new: b,
        })
        .collect()
}

/// Compares two snapshots. `Err` carries a message for bad input (an unreadable histogram);
/// incomparability is reported in the result, not as an error.
pub fn diff(base: &Snapshot, new: &Snapshot, opts: &DiffOptions) -> Result<DiffReport, String> {
    let why = incomparable(base, new);
    let hb = histogram(base).map_err(|e| format!("BASE {e}"))?;
    let hn = histogram(new).map_err(|e| format!("NEW {e}"))?;
    let behaviour_compared =
        base.spreads == new.spreads && base.warmup == new.warmup && why.is_empty();
    let behaviour_changes = if behaviour_compared {
        behaviour_changes(base, new)
    } else {
        Vec::new()
    };
    let mw = stats::mann_whitney(
        &stats::histogram_counts(hb.inner()),
        &stats::histogram_counts(hn.inner()),
    );
    let rows: Vec<MetricRow> = opts
        .metrics
        .iter()
        .enumerate()
        .map(|(i, &m)| judge(&hb, &hn, m, opts, &mw, 0x5eed + i as u64))
        .collect();
    Ok(DiffReport {
        mode: "diff".into(),
        workload: new.workload.name.clone(),
        workload_hash: new.workload.hash.clone(),
        forced: opts.force && !why.is_empty(),
        incomparable: why,
        behaviour_compared,
        behaviour_changes,
        regression: rows.iter().any(|r| r.verdict == Verdict::Regression),
        improvement: rows.iter().any(|r| r.verdict == Verdict::Improvement),
        rows,
        mann_whitney: mw,
        noise: opts.noise,
        alpha: opts.alpha,
        confidence: 1.0 - opts.alpha,
        base_spreads: base.spreads,
        new_spreads: new.spreads,
    })
}

/// The report as a table (`markdown` = GitHub-flavoured, for a pull-request comment).
pub fn render(r: &DiffReport, markdown: bool) -> String {
    let us = |ns: u64| format!("{:.2}", ns as f64 / 1000.0);
    let mut s = String::new();
    if markdown {
        s.push_str(&format!(
            "### spreadbench {}: `{}` (hash `{}`)\n\n",
            r.mode, r.workload, r.workload_hash
        ));
    } else {
        s.push_str(&format!(
            "spreadbench {}: {} (hash {})\n",
            r.mode, r.workload, r.workload_hash
        ));
    }
    if r.forced {
        s.push_str(&format!(
            "{}FORCED: the snapshots are not comparable ({}); compared anyway with --force.\n\n",
            if markdown { "> **" } else { "" },
            r.incomparable.join("; ")
        ));
    }
    let header = [
        "metric",
        "base µs",
        "new µs",
        "ratio",
        &format!("{:.0}% interval", r.confidence * 100.0),
        "p",
        "verdict",
    ];
    let rows: Vec<[String; 7]> = r
        .rows
        .iter()
        .map(|m| {
            [
                m.metric.to_string(),
                us(m.base_ns),
                us(m.new_ns),
                format!("{:.3}", m.ratio),
                format!("[{:.3}, {:.3}]", m.ci_low, m.ci_high),
                if m.p < 0.0001 {
                    "<0.0001".into()
                } else {
                    format!("{:.4}", m.p)
                },
                m.verdict.label().to_string(),
            ]
        })
        .collect();
    if markdown {
        s.push_str(&format!("| {} |\n", header.join(" | ")));
        s.push_str("| --- | ---: | ---: | ---: | --- | ---: | --- |\n");
        for row in &rows {
            s.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        s.push('\n');
    } else {
        let widths = [8, 10, 10, 7, 18, 8, 12];
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        s.push_str(&line(&header.map(String::from)));
        s.push('\n');
        for row in &rows {
            s.push_str(&line(row));
            s.push('\n');
        }
    }
    let mw = &r.mann_whitney;
    s.push_str(&format!(
        "Mann–Whitney U: z = {:.2}, p = {}, P(new slower than base) = {:.3}; {} vs {} spreads; noise band ±{:.1}%, α = {}\n",
        mw.z,
        if mw.p < 0.0001 { "<0.0001".to_string() } else { format!("{:.4}", mw.p) },
        mw.prob_new_slower,
        r.base_spreads,
        r.new_spreads,
        r.noise * 100.0,
        r.alpha
    ));
    if !r.behaviour_compared {
        s.push_str(
            "Behaviour: not compared (different request counts or incomparable snapshots).\n",
        );
    } else if r.behaviour_changes.is_empty() {
        s.push_str("Behaviour: unchanged (identical work counters).\n");
    } else {
        s.push_str("BEHAVIOUR CHANGE: the same requests did different work:\n");
        for c in &r.behaviour_changes {
            s.push_str(&format!("  {}: {} -> {}\n", c.field, c.base, c.new));
        }
    }
    s.push_str(&format!(
        "Verdict: {}\n",
        if r.regression {
            "REGRESSION"
        } else if !r.behaviour_changes.is_empty() {
            "BEHAVIOUR CHANGE"
        } else if r.improvement {
            "improvement"
        } else {
            "no regression"
        }
    ));
    s
}

/// Judges one quantile from paired rounds (A B A B …): the ratio of round k is
/// `quantile(new_k) / quantile(base_k)`; the estimate is their geometric mean, its interval and
/// p-value come from bootstrapping the rounds. Drift between rounds hits both builds alike
/// and cancels in each ratio — why `compare` beats a stored baseline on a shared machine.
pub fn judge_rounds(
    base: &[LatencyHistogram],
    new: &[LatencyHistogram],
    m: Metric,
    opts: &DiffOptions,
    seed: u64,
) -> MetricRow {
    let logs: Vec<f64> = base
        .iter()
        .zip(new)
        .map(|(b, n)| {
            (n.value_at_quantile(m.quantile).max(1) as f64
                / b.value_at_quantile(m.quantile).max(1) as f64)
                .ln()
        })
        .collect();
    let k = logs.len().max(1);
    let mut rng = crate::rng::SeededRng::new(seed);
    let reps: Vec<f64> = (0..REPLICATES)
        .map(|_| {
            let s: f64 = (0..k).map(|_| logs[rng.below(k as u64) as usize]).sum();
            (s / k as f64).exp()
        })
        .collect();
    let geo = (logs.iter().sum::<f64>() / k as f64).exp();
    let lo = stats::percentile(&reps, opts.alpha / 2.0);
    let hi = stats::percentile(&reps, 1.0 - opts.alpha / 2.0);
    let p = stats::bootstrap_p(&reps);
    let median = |hs: &[LatencyHistogram]| {
        let mut v: Vec<u64> = hs.iter().map(|h| h.value_at_quantile(m.quantile)).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    MetricRow {
        metric: m.name,
        base_ns: median(base),
        new_ns: median(new),
        ratio: geo,
        ci_low: lo,
        ci_high: hi,
        p,
        verdict: verdict(p, lo, hi, opts),
    }
}

/// A report from paired rounds of two builds (see [`judge_rounds`]).
pub fn compare_rounds(
    base: &[Snapshot],
    new: &[Snapshot],
    opts: &DiffOptions,
) -> Result<DiffReport, String> {
    let hb: Vec<LatencyHistogram> = base.iter().map(histogram).collect::<Result<_, _>>()?;
    let hn: Vec<LatencyHistogram> = new.iter().map(histogram).collect::<Result<_, _>>()?;
    let (mut all_b, mut all_n) = (LatencyHistogram::new(), LatencyHistogram::new());
    hb.iter().for_each(|h| all_b.add(h));
    hn.iter().for_each(|h| all_n.add(h));
    let mw = stats::mann_whitney(
        &stats::histogram_counts(all_b.inner()),
        &stats::histogram_counts(all_n.inner()),
    );
    let rows: Vec<MetricRow> = opts
        .metrics
        .iter()
        .enumerate()
        .map(|(i, &m)| judge_rounds(&hb, &hn, m, opts, 0xc0de + i as u64))
        .collect();
    let behaviour_changes = base
        .first()
        .zip(new.first())
        .map(|(b, n)| behaviour_changes(b, n))
        .unwrap_or_default();
    let first = new.first().ok_or("no rounds")?;
    Ok(DiffReport {
        mode: format!("compare ({} rounds)", base.len()),
        workload: first.workload.name.clone(),
        workload_hash: first.workload.hash.clone(),
        incomparable: Vec::new(),
        forced: false,
        behaviour_compared: true,
        behaviour_changes,
        regression: rows.iter().any(|r| r.verdict == Verdict::Regression),
        improvement: rows.iter().any(|r| r.verdict == Verdict::Improvement),
        rows,
        mann_whitney: mw,
        noise: opts.noise,
        alpha: opts.alpha,
        confidence: 1.0 - opts.alpha,
        base_spreads: all_b.len(),
        new_spreads: all_n.len(),
    })
}
