//! `diff`'s judgement of two snapshots: are they comparable, did the deterministic work
//! change (a behaviour change), and did latency change beyond noise (a regression or an
//! improvement)?
//!
//! A metric regresses only when the change is significant (p < α) **and** its whole
//! confidence interval (level 1 − α) lies beyond the noise band; improvements likewise. It is
//! "within noise" only when its whole interval lies inside the band — a positive decision,
//! not merely "not significant"; an interval that reaches across an edge of the band is
//! "inconclusive", and a quantile with too few requests behind it (see
//! [`stats::quantile_resolved`]) is "insufficient data". The p-value of a quantile is its
//! bootstrap p-value; the median must also pass a Mann–Whitney U test of the two whole
//! distributions.
//!
//! A snapshot's stated count and percentiles must agree with its own histogram, which is the
//! truth the statistics use: a snapshot that disagrees with itself is refused
//! ([`check_summary`]), not judged on one figure and printed with another.

use super::snapshot::Snapshot;
use super::stats::{self, MannWhitney};
use crate::measure::LatencyHistogram;
use serde::Serialize;
use serde_json::Value;

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
    /// Divide NEW's latencies by the ratio of the two snapshots' calibration figures.
    pub calibrate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Significant, and the whole interval above the noise band.
    Regression,
    /// Significant, and the whole interval below the noise band.
    Improvement,
    /// The whole interval inside the noise band: no change that matters.
    WithinNoise,
    /// The interval reaches across an edge of the noise band: neither shown nor ruled out.
    Inconclusive,
    /// Too few requests behind the quantile to judge it (see [`stats::quantile_resolved`]).
    InsufficientData,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::Improvement => "improvement",
            Verdict::WithinNoise => "within noise",
            Verdict::Inconclusive => "inconclusive",
            Verdict::InsufficientData => "insufficient data",
        }
    }

    /// Whether more data could change this verdict.
    pub fn undecided(self) -> bool {
        self == Verdict::Inconclusive
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricRow {
    pub metric: &'static str,
    pub base_ns: u64,
    pub new_ns: u64,
    pub ratio: f64,
    /// Interval bounds and p-value; null (NaN) with insufficient data.
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

/// What `--calibrate` divided out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CalibrationApplied {
    pub base_rep_ns: f64,
    pub new_rep_ns: f64,
    /// new / base: NEW's latencies were divided by this before judging.
    pub factor: f64,
}

/// How a sequential `compare` used its rounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SequentialInfo {
    /// Rounds run (each: both builds once).
    pub rounds: usize,
    pub min_rounds: usize,
    pub max_rounds: usize,
    /// Looks the plan allows (one after each round from `min_rounds` to `max_rounds`).
    pub looks: usize,
    /// The level each look judges at: α / looks (Bonferroni over the looks).
    pub per_look_alpha: f64,
    /// Every metric decided (or a regression or behaviour change found): no more rounds needed.
    pub decided: bool,
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
    /// False when a side has fewer than [`stats::MIN_REQUESTS`] requests: the test is shown
    /// but judges nothing.
    pub mann_whitney_resolved: bool,
    pub noise: f64,
    pub alpha: f64,
    /// Level of the intervals shown (1 − α, or 1 − the per-look α of a sequential compare).
    pub confidence: f64,
    pub regression: bool,
    pub improvement: bool,
    /// Some metric's interval reaches across an edge of the noise band.
    pub inconclusive: bool,
    /// Some metric had too few requests to judge.
    pub insufficient_data: bool,
    pub base_spreads: u64,
    pub new_spreads: u64,
    /// Set with `--calibrate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationApplied>,
    /// Set by `compare`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequential: Option<SequentialInfo>,
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
    config_differences(
        "config",
        &base.config.to_value(),
        &new.config.to_value(),
        &mut keys,
    );
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

/// Checks that the snapshot's stated request count and percentiles are those of its own
/// histogram (the figures `diff` prints must be the ones it judged). `Err` names the field.
pub fn check_summary(s: &Snapshot, h: &LatencyHistogram) -> Result<(), String> {
    let l = &s.latency_ns;
    let inner = h.inner();
    let fields = [
        ("latency_ns.count", l.count, h.len()),
        ("spreads", s.spreads, h.len()),
        ("latency_ns.min", l.min, inner.min()),
        ("latency_ns.p50", l.p50, h.value_at_quantile(0.50)),
        ("latency_ns.p90", l.p90, h.value_at_quantile(0.90)),
        ("latency_ns.p95", l.p95, h.value_at_quantile(0.95)),
        ("latency_ns.p99", l.p99, h.value_at_quantile(0.99)),
        ("latency_ns.p999", l.p999, h.value_at_quantile(0.999)),
        ("latency_ns.max", l.max, inner.max()),
    ];
    for (field, stated, truth) in fields {
        if stated != truth {
            return Err(format!(
                "{field} is {stated} but the snapshot's own histogram (latency_ns.hdr) gives {truth}"
            ));
        }
    }
    Ok(())
}

/// Decodes and checks a snapshot's histogram ([`histogram`], then [`check_summary`]).
pub fn validated_histogram(s: &Snapshot) -> Result<LatencyHistogram, String> {
    let h = histogram(s)?;
    check_summary(s, &h)?;
    Ok(h)
}

/// A row that judges nothing: too few requests behind the quantile.
fn insufficient_row(m: Metric, base_ns: u64, new_ns: u64) -> MetricRow {
    MetricRow {
        metric: m.name,
        base_ns,
        new_ns,
        ratio: new_ns as f64 / base_ns.max(1) as f64,
        ci_low: f64::NAN,
        ci_high: f64::NAN,
        p: f64::NAN,
        verdict: Verdict::InsufficientData,
    }
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
    if !stats::quantile_resolved(base.len(), m.quantile)
        || !stats::quantile_resolved(new.len(), m.quantile)
    {
        return insufficient_row(m, b, n);
    }
    let replicates = stats::replicates_for(opts.alpha);
    let ratios = stats::bootstrap_ratios(base.inner(), new.inner(), m.quantile, replicates, seed);
    let lo = stats::percentile(&ratios, opts.alpha / 2.0);
    let hi = stats::percentile(&ratios, 1.0 - opts.alpha / 2.0);
    let mut p = stats::bootstrap_p(&ratios);
    if m.quantile == 0.5 {
        // The median must also pass the Mann–Whitney test of the whole distributions.
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

/// Regression (improvement): significant (p < α) and the whole interval above (below) the
/// noise band. Within noise: the whole interval inside the band. Otherwise inconclusive.
pub fn verdict(p: f64, lo: f64, hi: f64, opts: &DiffOptions) -> Verdict {
    if p < opts.alpha && lo > 1.0 + opts.noise {
        Verdict::Regression
    } else if p < opts.alpha && hi < 1.0 - opts.noise {
        Verdict::Improvement
    } else if lo >= 1.0 - opts.noise && hi <= 1.0 + opts.noise {
        Verdict::WithinNoise
    } else {
        Verdict::Inconclusive
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

/// `h` with every latency divided by `factor` (each bucket's representative value).
fn scaled(h: &LatencyHistogram, factor: f64) -> LatencyHistogram {
    let mut out = LatencyHistogram::new();
    let inner = h.inner();
    for v in inner.iter_recorded() {
        let value = (inner.median_equivalent(v.value_iterated_to()) as f64 / factor).round();
        // One call per bucket: a snapshot's stated count must not decide how long this takes.
        out.record_n(value as u64, v.count_at_value());
    }
    out
}

/// The calibration factor new / base, or why it cannot be had.
pub fn calibration_factor(base: &Snapshot, new: &Snapshot) -> Result<CalibrationApplied, String> {
    let b = base
        .calibration
        .as_ref()
        .ok_or("BASE has no calibration figure (it predates calibration)")?;
    let n = new
        .calibration
        .as_ref()
        .ok_or("NEW has no calibration figure (it predates calibration)")?;
    if b.kernel != n.kernel {
        return Err(format!(
            "calibration kernels differ ({} vs {}): their figures are not comparable",
            b.kernel, n.kernel
        ));
    }
    let ok = |x: f64| x.is_finite() && x > 0.0;
    if !ok(b.median_rep_ns) || !ok(n.median_rep_ns) {
        return Err(format!(
            "calibration.median_rep_ns must be a positive number (got {} and {})",
            b.median_rep_ns, n.median_rep_ns
        ));
    }
    Ok(CalibrationApplied {
        base_rep_ns: b.median_rep_ns,
        new_rep_ns: n.median_rep_ns,
        factor: n.median_rep_ns / b.median_rep_ns,
    })
}

/// Compares two snapshots. `Err` carries a message for bad input (an unreadable or
/// self-contradicting histogram, a missing calibration with `calibrate`); incomparability is
/// reported in the result, not as an error.
pub fn diff(base: &Snapshot, new: &Snapshot, opts: &DiffOptions) -> Result<DiffReport, String> {
    let why = incomparable(base, new);
    let hb = validated_histogram(base).map_err(|e| format!("BASE {e}"))?;
    let mut hn = validated_histogram(new).map_err(|e| format!("NEW {e}"))?;
    let calibration = if opts.calibrate {
        let c = calibration_factor(base, new)?;
        hn = scaled(&hn, c.factor);
        Some(c)
    } else {
        None
    };
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
    let mut report = DiffReport {
        mode: "diff".into(),
        workload: new.workload.name.clone(),
        workload_hash: new.workload.hash.clone(),
        forced: opts.force && !why.is_empty(),
        incomparable: why,
        behaviour_compared,
        behaviour_changes,
        rows,
        mann_whitney: mw,
        mann_whitney_resolved: hb.len().min(hn.len()) >= stats::MIN_REQUESTS,
        noise: opts.noise,
        alpha: opts.alpha,
        confidence: 1.0 - opts.alpha,
        regression: false,
        improvement: false,
        inconclusive: false,
        insufficient_data: false,
        base_spreads: base.spreads,
        new_spreads: new.spreads,
        calibration,
        sequential: None,
    };
    summarise(&mut report);
    Ok(report)
}

/// Sets the report's flags from its rows.
fn summarise(r: &mut DiffReport) {
    let any = |v: Verdict| r.rows.iter().any(|row| row.verdict == v);
    r.regression = any(Verdict::Regression);
    r.improvement = any(Verdict::Improvement);
    r.inconclusive = any(Verdict::Inconclusive);
    r.insufficient_data = any(Verdict::InsufficientData);
}

/// The overall verdict line.
pub fn overall(r: &DiffReport) -> String {
    let names = |v: Verdict| {
        r.rows
            .iter()
            .filter(|row| row.verdict == v)
            .map(|row| row.metric)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if r.regression {
        "REGRESSION".into()
    } else if !r.behaviour_changes.is_empty() {
        "BEHAVIOUR CHANGE".into()
    } else if r.inconclusive {
        let more = if r.sequential.is_some() {
            "the round cap was reached; more rounds or a quieter machine narrow the interval"
        } else {
            "no regression shown, none ruled out; more requests narrow the interval"
        };
        format!(
            "INCONCLUSIVE ({}: the interval reaches across the noise band; {more}){}",
            names(Verdict::Inconclusive),
            if r.improvement {
                "; an improvement elsewhere"
            } else {
                ""
            }
        )
    } else if r.improvement {
        "improvement".into()
    } else if r
        .rows
        .iter()
        .all(|row| row.verdict == Verdict::InsufficientData)
    {
        format!(
            "insufficient data (a quantile needs at least {} requests per side and {} beyond it)",
            stats::MIN_REQUESTS,
            stats::MIN_TAIL
        )
    } else if r.insufficient_data {
        format!(
            "no regression ({} not judged: insufficient data)",
            names(Verdict::InsufficientData)
        )
    } else {
        "no regression".into()
    }
}

/// A confidence level as a percentage with as many decimals as it needs (99, 99.95, 99.99).
fn percent(level: f64) -> String {
    let s = format!("{:.4}", level * 100.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The report as a table (`markdown` = GitHub-flavoured, for a pull-request comment).
pub fn render(r: &DiffReport, markdown: bool) -> String {
    let mut s = String::new();
    render_heading(&mut s, r, markdown);
    render_table(&mut s, r, markdown);
    s.push_str(&mann_whitney_line(r));
    if let Some(q) = &r.sequential {
        s.push_str(&rounds_line(q, r.alpha));
    }
    render_behaviour(&mut s, r);
    s.push_str(&format!("Verdict: {}\n", overall(r)));
    s
}

/// The title, the `--force` warning and the calibration note.
fn render_heading(s: &mut String, r: &DiffReport, markdown: bool) {
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
    if let (Some(c), Some(_)) = (&r.calibration, &r.sequential) {
        s.push_str(&format!(
            "Calibrated per round: each round's ratio divided by its calibration ratio (kernel {:.2} µs per rep in NEW, {:.2} µs in BASE, geometric means; factor {:.3}).\n{}",
            c.new_rep_ns / 1000.0,
            c.base_rep_ns / 1000.0,
            c.factor,
            if markdown { "\n" } else { "" }
        ));
    } else if let Some(c) = &r.calibration {
        s.push_str(&format!(
            "Calibrated: NEW's latencies divided by {:.3} (calibration kernel {:.2} µs per rep in NEW, {:.2} µs in BASE); the new µs column is calibrated.\n{}",
            c.factor,
            c.new_rep_ns / 1000.0,
            c.base_rep_ns / 1000.0,
            if markdown { "\n" } else { "" }
        ));
    }
}

/// The table's cells for one metric row.
fn row_cells(m: &MetricRow) -> [String; 7] {
    let us = |ns: u64| format!("{:.2}", ns as f64 / 1000.0);
    let judged = m.verdict != Verdict::InsufficientData;
    [
        m.metric.to_string(),
        us(m.base_ns),
        us(m.new_ns),
        format!("{:.3}", m.ratio),
        if judged {
            format!("[{:.3}, {:.3}]", m.ci_low, m.ci_high)
        } else {
            "—".into()
        },
        if !judged {
            "—".into()
        } else if m.p < 0.0001 {
            "<0.0001".into()
        } else {
            format!("{:.4}", m.p)
        },
        m.verdict.label().to_string(),
    ]
}

/// The metric table: a header row and one row per metric.
fn render_table(s: &mut String, r: &DiffReport, markdown: bool) {
    let header = [
        "metric",
        "base µs",
        "new µs",
        "ratio",
        &format!("{}% interval", percent(r.confidence)),
        "p",
        "verdict",
    ];
    let rows: Vec<[String; 7]> = r.rows.iter().map(row_cells).collect();
    if markdown {
        s.push_str(&format!("| {} |\n", header.join(" | ")));
        s.push_str("| --- | ---: | ---: | ---: | --- | ---: | --- |\n");
        for row in &rows {
            s.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        s.push('\n');
    } else {
        let widths = [8, 10, 10, 7, 20, 8, 17];
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
}

/// The Mann–Whitney line, with the spread counts, the noise band and α.
fn mann_whitney_line(r: &DiffReport) -> String {
    let mw = &r.mann_whitney;
    format!(
        "Mann–Whitney U: z = {:.2}, p = {}, P(new slower than base) = {:.3}{}; {} vs {} spreads; noise band ±{:.1}%, α = {}\n",
        mw.z,
        if mw.p < 0.0001 { "<0.0001".to_string() } else { format!("{:.4}", mw.p) },
        mw.prob_new_slower,
        if r.mann_whitney_resolved { "" } else { " (insufficient data: not judged)" },
        r.base_spreads,
        r.new_spreads,
        r.noise * 100.0,
        r.alpha
    )
}

/// The line on how a sequential compare used its rounds.
fn rounds_line(q: &SequentialInfo, alpha: f64) -> String {
    format!(
        "Rounds: {} used ({}; min {}, max {}); checked after each round from round {}, each look at α/{} = {:.3e} (Bonferroni over {} looks), so the whole sequence keeps α = {}\n",
        q.rounds,
        if q.decided { "stopped: decided" } else { "stopped: round cap" },
        q.min_rounds,
        q.max_rounds,
        q.min_rounds,
        q.looks,
        q.per_look_alpha,
        q.looks,
        alpha
    )
}

/// The behaviour lines: not compared, unchanged, or each changed work counter.
fn render_behaviour(s: &mut String, r: &DiffReport) {
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
}

/// Judges one quantile from paired rounds (A B, B A, …): the ratio of round k is
/// `quantile(new_k) / quantile(base_k)`; the estimate is their geometric mean, and its
/// interval and p-value are Student's t on the log ratios (level 1 − `opts.alpha`). Drift
/// between rounds hits both builds alike and cancels in each ratio — why `compare` beats a
/// stored baseline on a shared machine.
///
/// Why t and not a bootstrap over rounds: a sequential compare judges after as few as a
/// handful of rounds, where a bootstrap of k values is too narrow (it ignores the k − 1
/// degrees of freedom) and has only a few distinct resamples; the log ratio of two medians
/// over thousands of requests is close to normal, so t is the honest interval there.
///
/// `drift[k]`, when given, is round k's log calibration ratio ln(cal_new / cal_base): it is
/// subtracted from that round's log ratio, so a round in which the machine happened to run
/// the NEW process slower (or faster) counts only for what the engine did.
pub fn judge_rounds(
    base: &[LatencyHistogram],
    new: &[LatencyHistogram],
    drift: Option<&[f64]>,
    m: Metric,
    opts: &DiffOptions,
) -> MetricRow {
    let median = |hs: &[LatencyHistogram]| {
        let mut v: Vec<u64> = hs.iter().map(|h| h.value_at_quantile(m.quantile)).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    let (b, n) = (median(base), median(new));
    let resolved = base
        .iter()
        .chain(new)
        .all(|h| stats::quantile_resolved(h.len(), m.quantile));
    if !resolved {
        return insufficient_row(m, b, n);
    }
    let logs: Vec<f64> = base
        .iter()
        .zip(new)
        .enumerate()
        .map(|(k, (b, n))| {
            (n.value_at_quantile(m.quantile).max(1) as f64
                / b.value_at_quantile(m.quantile).max(1) as f64)
                .ln()
                - drift.map_or(0.0, |d| d[k])
        })
        .collect();
    let geo = (logs.iter().sum::<f64>() / logs.len().max(1) as f64).exp();
    let Some(t) = stats::t_interval(&logs, opts.alpha) else {
        // One round has no spread to judge by.
        return MetricRow {
            ratio: geo,
            ci_low: 0.0,
            ci_high: f64::INFINITY,
            p: 1.0,
            verdict: Verdict::Inconclusive,
            ..insufficient_row(m, b, n)
        };
    };
    let (lo, hi) = (t.low.exp(), t.high.exp());
    MetricRow {
        metric: m.name,
        base_ns: b,
        new_ns: n,
        ratio: geo,
        ci_low: lo,
        ci_high: hi,
        p: t.p,
        verdict: verdict(t.p, lo, hi, opts),
    }
}

/// Per-round log calibration ratios of paired rounds, and their geometric mean as the factor
/// the report states; an error names the round without a usable figure.
fn round_drift(
    base: &[Snapshot],
    new: &[Snapshot],
) -> Result<(Vec<f64>, Option<CalibrationApplied>), String> {
    let mut drift = Vec::with_capacity(base.len());
    let (mut log_b, mut log_n) = (0.0, 0.0);
    for (k, (b, n)) in base.iter().zip(new).enumerate() {
        let c = calibration_factor(b, n).map_err(|e| format!("round {}: {e}", k + 1))?;
        drift.push(c.factor.ln());
        log_b += c.base_rep_ns.ln();
        log_n += c.new_rep_ns.ln();
    }
    let k = drift.len().max(1) as f64;
    let (b, n) = ((log_b / k).exp(), (log_n / k).exp());
    Ok((
        drift,
        Some(CalibrationApplied {
            base_rep_ns: b,
            new_rep_ns: n,
            factor: n / b,
        }),
    ))
}

/// The rounds a sequential `compare` may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundPlan {
    /// The first look is after this many rounds.
    pub min_rounds: usize,
    /// The cap.
    pub max_rounds: usize,
}

impl RoundPlan {
    /// One look after each round from `min_rounds` to `max_rounds`.
    pub fn looks(&self) -> usize {
        self.max_rounds.saturating_sub(self.min_rounds) + 1
    }

    /// The level of each look: α / looks.
    ///
    /// A sequential test that judged every look at α would decide falsely far more often
    /// than α: each look is another chance for noise to cross the line. Bonferroni over the
    /// looks (α/L each) bounds the chance of any false decision over the whole sequence by
    /// α, whatever the dependence between looks — conservative (later looks could spend
    /// more), but simple and valid; group-sequential boundaries would buy a few rounds.
    pub fn per_look_alpha(&self, alpha: f64) -> f64 {
        alpha / self.looks() as f64
    }
}

/// A report from paired rounds of two builds (see [`judge_rounds`]), judged at the per-look
/// level of `plan` ([`RoundPlan::per_look_alpha`]). `sequential.decided` says whether the
/// caller may stop: at or after `min_rounds`, when a behaviour change or a regression is
/// found, or when every metric is decided (regression, improvement, within noise, or
/// insufficient data — which more rounds of the same size cannot change).
pub fn compare_rounds(
    base: &[Snapshot],
    new: &[Snapshot],
    opts: &DiffOptions,
    plan: RoundPlan,
) -> Result<DiffReport, String> {
    let hb: Vec<LatencyHistogram> = base
        .iter()
        .map(validated_histogram)
        .collect::<Result<_, _>>()?;
    let hn: Vec<LatencyHistogram> = new
        .iter()
        .map(validated_histogram)
        .collect::<Result<_, _>>()?;
    let (mut all_b, mut all_n) = (LatencyHistogram::new(), LatencyHistogram::new());
    hb.iter().for_each(|h| all_b.add(h));
    hn.iter().for_each(|h| all_n.add(h));
    let mw = stats::mann_whitney(
        &stats::histogram_counts(all_b.inner()),
        &stats::histogram_counts(all_n.inner()),
    );
    let look = DiffOptions {
        alpha: plan.per_look_alpha(opts.alpha),
        ..opts.clone()
    };
    let (drift, calibration) = if opts.calibrate {
        round_drift(base, new)?
    } else {
        (Vec::new(), None)
    };
    let drift = opts.calibrate.then_some(&drift[..]);
    let rows: Vec<MetricRow> = opts
        .metrics
        .iter()
        .map(|&m| judge_rounds(&hb, &hn, drift, m, &look))
        .collect();
    let behaviour_changes = base
        .first()
        .zip(new.first())
        .map(|(b, n)| behaviour_changes(b, n))
        .unwrap_or_default();
    let first = new.first().ok_or("no rounds")?;
    let rounds = base.len().min(new.len());
    let decided = rounds >= plan.min_rounds
        && (!behaviour_changes.is_empty()
            || rows.iter().any(|r| r.verdict == Verdict::Regression)
            || rows.iter().all(|r| !r.verdict.undecided()));
    let mut report = DiffReport {
        mode: format!("compare ({rounds} rounds)"),
        workload: first.workload.name.clone(),
        workload_hash: first.workload.hash.clone(),
        incomparable: Vec::new(),
        forced: false,
        behaviour_compared: true,
        behaviour_changes,
        rows,
        mann_whitney: mw,
        mann_whitney_resolved: all_b.len().min(all_n.len()) >= stats::MIN_REQUESTS,
        noise: opts.noise,
        alpha: opts.alpha,
        confidence: 1.0 - look.alpha,
        regression: false,
        improvement: false,
        inconclusive: false,
        insufficient_data: false,
        base_spreads: all_b.len(),
        new_spreads: all_n.len(),
        calibration,
        sequential: Some(SequentialInfo {
            rounds,
            min_rounds: plan.min_rounds,
            max_rounds: plan.max_rounds,
            looks: plan.looks(),
            per_look_alpha: look.alpha,
            decided,
        }),
    };
    summarise(&mut report);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    fn opts(alpha: f64) -> DiffOptions {
        DiffOptions {
            noise: 0.05,
            alpha,
            metrics: ["p50", "p95", "p99"]
                .iter()
                .filter_map(|m| Metric::parse(m))
                .collect(),
            force: false,
            calibrate: false,
        }
    }

    const P50: Metric = Metric {
        name: "p50",
        quantile: 0.5,
    };
    const P90: Metric = Metric {
        name: "p90",
        quantile: 0.9,
    };

    /// `n` latencies from one lognormal distribution (median 40 µs, σ = 0.3), times `factor`:
    /// a fresh, independent sample for every call.
    fn sample(rng: &mut SeededRng, n: usize, factor: f64) -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        for _ in 0..n {
            h.record((40_000.0 * (0.3 * stats::normal(rng)).exp() * factor) as u64);
        }
        h
    }

    fn values(vs: impl IntoIterator<Item = u64>) -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        vs.into_iter().for_each(|v| h.record(v));
        h
    }

    fn mw(b: &LatencyHistogram, n: &LatencyHistogram) -> MannWhitney {
        stats::mann_whitney(
            &stats::histogram_counts(b.inner()),
            &stats::histogram_counts(n.inner()),
        )
    }

    fn judged(b: &LatencyHistogram, n: &LatencyHistogram, m: Metric, o: &DiffOptions) -> MetricRow {
        judge(b, n, m, o, &mw(b, n), 77)
    }

    /// Over seeded pairs of independent samples of one distribution, the (1 − α) interval
    /// covers the true ratio 1 in (1 − α) of pairs, within binomial bounds, and p < α in α
    /// of them. At α = 0.2 and 300 pairs: 240 ± 24 covered (3.5 sd). Half the Beta variance
    /// covers ~190, double ~280; a 60% interval labelled 80% ~180.
    #[test]
    fn interval_coverage_over_same_distribution_pairs() {
        let o = opts(0.2);
        let mut rng = SeededRng::new(2024);
        let pairs = 300;
        let (mut covered50, mut covered90, mut significant90) = (0, 0, 0);
        for _ in 0..pairs {
            let (b, n) = (sample(&mut rng, 1000, 1.0), sample(&mut rng, 1000, 1.0));
            let m = mw(&b, &n);
            let r50 = judge(&b, &n, P50, &o, &m, rng.next_u64());
            let r90 = judge(&b, &n, P90, &o, &m, rng.next_u64());
            covered50 += usize::from(r50.ci_low <= 1.0 && 1.0 <= r50.ci_high);
            covered90 += usize::from(r90.ci_low <= 1.0 && 1.0 <= r90.ci_high);
            significant90 += usize::from(r90.p < o.alpha);
        }
        assert!(
            (216..=264).contains(&covered50),
            "p50: {covered50} of {pairs}"
        );
        assert!(
            (216..=264).contains(&covered90),
            "p90: {covered90} of {pairs}"
        );
        // 60 ± 24: a one-sided p (no doubling) would flag about twice as many.
        assert!(
            (36..=84).contains(&significant90),
            "p90 p < α: {significant90}"
        );
    }

    /// A known 20% slowdown between two independent samples: every metric's interval covers
    /// 1.2, p < α, and it is a regression; the reverse is an improvement of 1/1.2.
    #[test]
    fn twenty_percent_slowdown_between_independent_samples() {
        let o = opts(0.01);
        let mut rng = SeededRng::new(7);
        let (b, n) = (sample(&mut rng, 4000, 1.0), sample(&mut rng, 4000, 1.2));
        for m in &o.metrics {
            let r = judged(&b, &n, *m, &o);
            assert!(r.ci_low <= 1.2 && 1.2 <= r.ci_high, "{r:?}");
            assert!(r.p < o.alpha, "{r:?}");
            assert_eq!(r.verdict, Verdict::Regression, "{r:?}");
            assert!((r.ratio - 1.2).abs() < 0.06, "{r:?}");
            let back = judged(&n, &b, *m, &o);
            assert!(
                back.ci_low <= 1.0 / 1.2 && 1.0 / 1.2 <= back.ci_high,
                "{back:?}"
            );
            assert!(back.p < o.alpha, "{back:?}");
            assert_eq!(back.verdict, Verdict::Improvement, "{back:?}");
        }
    }

    /// The gate, at its edges: p must be strictly below α, and the interval strictly beyond
    /// the band; within noise needs the whole interval inside it.
    #[test]
    fn verdict_gate_edges() {
        let o = opts(0.01);
        let up = 1.0 + o.noise;
        let down = 1.0 - o.noise;
        assert_eq!(verdict(0.001, 1.2, 1.3, &o), Verdict::Regression);
        assert_eq!(verdict(0.5, 1.2, 1.3, &o), Verdict::Inconclusive, "p gate");
        assert_eq!(verdict(0.01, 1.2, 1.3, &o), Verdict::Inconclusive, "p = α");
        assert_eq!(
            verdict(0.001, up, 1.3, &o),
            Verdict::Inconclusive,
            "lo on the band"
        );
        assert_eq!(verdict(0.001, 0.7, 0.8, &o), Verdict::Improvement);
        assert_eq!(verdict(0.5, 0.7, 0.8, &o), Verdict::Inconclusive);
        assert_eq!(verdict(0.01, 0.7, 0.8, &o), Verdict::Inconclusive);
        assert_eq!(
            verdict(0.001, 0.7, down, &o),
            Verdict::Inconclusive,
            "hi on the band"
        );
        assert_eq!(verdict(0.5, down, up, &o), Verdict::WithinNoise);
        assert_eq!(verdict(0.5, 0.99, 1.01, &o), Verdict::WithinNoise);
        assert_eq!(verdict(0.5, 0.99, 1.06, &o), Verdict::Inconclusive);
        assert_eq!(verdict(0.5, 0.94, 1.01, &o), Verdict::Inconclusive);
        // Significant but small: a positive "within noise", not a regression.
        assert_eq!(verdict(0.001, 1.01, 1.03, &o), Verdict::WithinNoise);
    }

    /// The median also needs the Mann–Whitney test: here the medians differ by 18% (the
    /// bootstrap alone is certain) but new is as often faster as slower than base (U ≈ n²/2:
    /// the lower part moved down as the middle moved up), so the median is not a regression.
    #[test]
    fn the_median_needs_the_mann_whitney_test() {
        let base = values((0..2000u64).map(|i| 1000 + i / 2));
        let new = values(
            (0..900u64)
                .map(|i| 500 + i * 400 / 900)
                .chain((0..200u64).map(|i| 1750 + i / 2))
                .chain((0..900u64).map(|i| 1750 + i * 500 / 900)),
        );
        let m = mw(&base, &new);
        assert!(m.p > 0.5, "precondition: MWU not significant: {m:?}");
        let ratios = stats::bootstrap_ratios(base.inner(), new.inner(), 0.5, 2000, 1);
        assert!(stats::bootstrap_p(&ratios) < 0.001, "precondition");
        let o = opts(0.01);
        let r = judge(&base, &new, P50, &o, &m, 1);
        assert!(r.ci_low > 1.1, "{r:?}");
        assert!(r.p >= m.p, "{r:?}");
        assert_eq!(r.verdict, Verdict::Inconclusive, "{r:?}");
    }

    /// Too few requests behind a quantile: "insufficient data", never a verdict. 20 µs
    /// against 30 µs, one request each, used to be a regression with interval [1.5, 1.5].
    #[test]
    fn too_few_requests_are_insufficient_data() {
        let o = opts(0.01);
        let (b, n) = (values([20_000]), values([30_000]));
        for m in &o.metrics {
            let r = judged(&b, &n, *m, &o);
            assert_eq!(r.verdict, Verdict::InsufficientData, "{r:?}");
            assert!(r.ci_low.is_nan() && r.p.is_nan());
            assert!((r.ratio - 1.5).abs() < 0.01);
        }
        // At 10 requests per side nothing is judged either, whatever the samples.
        let mut rng = SeededRng::new(3);
        for _ in 0..20 {
            let (b, n) = (sample(&mut rng, 10, 1.0), sample(&mut rng, 10, 1.0));
            assert_eq!(judged(&b, &n, P50, &o).verdict, Verdict::InsufficientData);
        }
        // 200 per side: the median is judged, p99 (2 requests beyond it) is not.
        let (b, n) = (sample(&mut rng, 200, 1.0), sample(&mut rng, 200, 1.0));
        assert_ne!(judged(&b, &n, P50, &o).verdict, Verdict::InsufficientData);
        let p99 = Metric::parse("p99").unwrap();
        assert_eq!(judged(&b, &n, p99, &o).verdict, Verdict::InsufficientData);
    }

    /// α = 0.0001 still catches a 2× slowdown: the bootstrap resamples enough for it.
    #[test]
    fn a_small_alpha_still_gates() {
        let mut rng = SeededRng::new(5);
        let (b, n) = (sample(&mut rng, 4000, 1.0), sample(&mut rng, 4000, 2.0));
        for alpha in [0.0006, 0.0005, 0.0001] {
            let o = opts(alpha);
            let r = judged(&b, &n, P50, &o);
            assert_eq!(r.verdict, Verdict::Regression, "α {alpha}: {r:?}");
            assert!(r.p < alpha);
        }
        assert_eq!(percent(1.0 - 0.0001), "99.99");
        assert_eq!(percent(0.99), "99");
        assert_eq!(percent(1.0 - 0.0005), "99.95");
    }

    fn baseline() -> Snapshot {
        serde_json::from_str(include_str!("../../results/baseline/warm-10k.json")).unwrap()
    }

    fn with_latency(s: &Snapshot, h: &LatencyHistogram) -> Snapshot {
        let mut s = s.clone();
        s.latency_ns = h.summary().unwrap();
        s.spreads = h.len();
        s
    }

    #[test]
    fn a_snapshot_must_agree_with_its_histogram() {
        let b = baseline();
        assert_eq!(validated_histogram(&b).map(|h| h.len()), Ok(20_000));
        let mut c = b.clone();
        c.latency_ns.count += 1;
        assert!(validated_histogram(&c)
            .unwrap_err()
            .starts_with("latency_ns.count is 20001"));
        let mut c = b.clone();
        c.latency_ns.p99 /= 2;
        assert!(validated_histogram(&c)
            .unwrap_err()
            .starts_with("latency_ns.p99 is"));
        let mut c = b.clone();
        c.spreads = 5;
        assert!(validated_histogram(&c)
            .unwrap_err()
            .starts_with("spreads is 5"));
    }

    fn calibrated(s: &Snapshot, rep_ns: f64) -> Snapshot {
        let mut s = s.clone();
        s.calibration = Some(crate::measure::calibration::Calibration {
            kernel: "k1".into(),
            median_rep_ns: rep_ns,
            min_rep_ns: rep_ns as u64,
            max_rep_ns: rep_ns as u64,
            reps: 10,
        });
        s
    }

    /// A machine 20% slower on the reference kernel and 20% slower on the spreads: with
    /// calibration no change, without it a regression; and no calibration, no `--calibrate`.
    #[test]
    fn calibration_divides_out_machine_drift() {
        let mut rng = SeededRng::new(8);
        let b = baseline();
        let base = calibrated(&with_latency(&b, &sample(&mut rng, 20_000, 1.0)), 40_000.0);
        let new = calibrated(&with_latency(&b, &sample(&mut rng, 20_000, 1.2)), 48_000.0);
        let mut o = opts(0.01);
        let plain = diff(&base, &new, &o).unwrap();
        assert!(plain.regression && plain.calibration.is_none());
        o.calibrate = true;
        let r = diff(&base, &new, &o).unwrap();
        let c = r.calibration.unwrap();
        assert!((c.factor - 1.2).abs() < 1e-12);
        assert!(!r.regression && !r.improvement, "{r:?}");
        assert!(
            r.rows.iter().all(|row| row.verdict == Verdict::WithinNoise),
            "{r:?}"
        );
        assert!(render(&r, false).contains("divided by 1.200"));
        assert!(diff(&b, &new, &o)
            .unwrap_err()
            .contains("BASE has no calibration"));
        let mut other = new.clone();
        other.calibration.as_mut().unwrap().kernel = "k2".into();
        assert!(diff(&base, &other, &o)
            .unwrap_err()
            .contains("kernels differ"));
    }

    /// Hand-computed: per-round ratios e^0.1, e^0.2, e^0.3 → geometric mean e^0.2, interval
    /// e^(0.2 ± t(1 − α/2, 2) · 0.1/√3) at the given (per-look) α.
    #[test]
    fn judge_rounds_is_a_t_interval_on_log_ratios() {
        let base: Vec<LatencyHistogram> = (0..3)
            .map(|_| values((1000..2000).map(|v| v * 10)))
            .collect();
        let new: Vec<LatencyHistogram> = [0.1f64, 0.2, 0.3]
            .iter()
            .map(|l| values((1000..2000u64).map(|v| (v as f64 * 10.0 * l.exp()) as u64)))
            .collect();
        let o = opts(0.01);
        let r = judge_rounds(&base, &new, None, P50, &o);
        let half = stats::t_quantile(0.995, 2.0) * 0.1 / 3f64.sqrt();
        // Histogram buckets put each ratio within 0.1% of the intended one.
        assert!((r.ratio / 0.2f64.exp() - 1.0).abs() < 2e-3, "{r:?}");
        assert!((r.ci_low / (0.2 - half).exp() - 1.0).abs() < 5e-3, "{r:?}");
        assert!((r.ci_high / (0.2 + half).exp() - 1.0).abs() < 5e-3, "{r:?}");
        assert_eq!(r.verdict, Verdict::Inconclusive);
        // Inverted (base over new) would put the ratio below 1.
        assert!(r.ratio > 1.0 && r.base_ns < r.new_ns);
    }

    #[test]
    fn round_plan_spreads_alpha_over_the_looks() {
        let p = RoundPlan {
            min_rounds: 6,
            max_rounds: 40,
        };
        assert_eq!(p.looks(), 35);
        assert!((p.per_look_alpha(0.01) - 0.01 / 35.0).abs() < 1e-15);
    }

    /// Rounds of synthetic snapshots, each side an independent sample, new = base × factor ×
    /// a per-round drift that hits both builds of a round alike.
    fn rounds(k: usize, factor: f64, noise: f64, seed: u64) -> (Vec<Snapshot>, Vec<Snapshot>) {
        let b = baseline();
        let mut rng = SeededRng::new(seed);
        let mut base = Vec::new();
        let mut new = Vec::new();
        for i in 0..k {
            let drift = 1.0 + 0.3 * rng.unit();
            // Round-to-round noise in the ratio itself (order effects, say), alternating.
            let wobble = if i % 2 == 0 { 1.0 + noise } else { 1.0 - noise };
            base.push(with_latency(&b, &sample(&mut rng, 2000, drift)));
            new.push(with_latency(
                &b,
                &sample(&mut rng, 2000, drift * factor * wobble),
            ));
        }
        (base, new)
    }

    #[test]
    fn sequential_compare_decides_or_stays_inconclusive() {
        let plan = RoundPlan {
            min_rounds: 6,
            max_rounds: 40,
        };
        let mut o = opts(0.01);
        o.metrics = vec![P50];
        // A 20% slowdown: decided at the first look.
        let (b, n) = rounds(6, 1.2, 0.0, 1);
        let r = compare_rounds(&b, &n, &o, plan).unwrap();
        assert!(r.regression, "{r:?}");
        assert!(r.sequential.unwrap().decided);
        assert_eq!(r.mode, "compare (6 rounds)");
        assert!((r.confidence - (1.0 - 0.01 / 35.0)).abs() < 1e-12);
        // Before the first look: never decided.
        let r = compare_rounds(&b[..5], &n[..5], &o, plan).unwrap();
        assert!(!r.sequential.unwrap().decided);
        // The same build: within noise, a positive decision, by the cap at the latest.
        let (b, n) = rounds(40, 1.0, 0.0, 2);
        let first = (6..=40)
            .find(|&k| {
                compare_rounds(&b[..k], &n[..k], &o, plan)
                    .unwrap()
                    .sequential
                    .unwrap()
                    .decided
            })
            .expect("decided by the cap");
        let r = compare_rounds(&b[..first], &n[..first], &o, plan).unwrap();
        assert_eq!(r.rows[0].verdict, Verdict::WithinNoise, "{r:?}");
        assert!(!r.regression && !r.inconclusive);
        // Rounds that disagree by ±8%: undecided at a cap of 8 rounds, so inconclusive.
        let short = RoundPlan {
            min_rounds: 6,
            max_rounds: 8,
        };
        let (b, n) = rounds(8, 1.0, 0.08, 3);
        let r = compare_rounds(&b, &n, &o, short).unwrap();
        assert!(r.inconclusive && !r.regression, "{r:?}");
        assert!(!r.sequential.unwrap().decided);
        assert!(render(&r, false).contains("INCONCLUSIVE"));
    }
}
