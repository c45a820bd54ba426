//! `spreadbench report DIR… [--out FILE] [--format html|svg]`: results directories drawn as
//! pictures — the latency spectrum of every input overlaid, a side-by-side run's settings
//! with their ratios, a soak's timeline with its verdict thresholds, a `predict` run's
//! predicted-against-observed and error distribution, and the diff of two runs.
//! Every input is read and checked before anything is drawn or written, so a missing or
//! corrupt file fails with exit 2 naming it and leaves no output behind.

use super::common::pct;
use super::diff::load_snapshot;
use super::exit::Outcome;
use super::{ReportArgs, ReportFormat};
use crate::atomic_file;
use crate::input::{read_text_bounded, MAX_TEXT_INPUT_BYTES};
use crate::measure::LatencyHistogram;
use crate::report::diff::{self, DiffOptions, Metric};
use crate::report::html::{self, Section};
use crate::report::plot::{self, Plot, RatioRow, SpectrumSeries, Threshold};
use crate::report::snapshot::predict::RESIDUALS_HEADER;
use crate::report::snapshot::{PhasesSection, PredictSection, RecallSection, SoakSection};
use crate::report::verdict::Status;
use crate::report::Snapshot;
use crate::{bad_input, InputError};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One input: a results directory (or a snapshot file) as read.
struct Input {
    /// Short name for legends: the directory's name.
    name: String,
    snapshot: Snapshot,
    latency: LatencyHistogram,
    /// Each setting's histogram, for a side-by-side run.
    settings: Vec<LatencyHistogram>,
    /// A soak's `metrics.jsonl`.
    intervals: Vec<IntervalLine>,
    /// A `predict` run's `residuals.csv`.
    residuals: Option<Residuals>,
}

/// A `predict` run's `residuals.csv`: (predicted, observed) in ns, per whole request and per
/// hop.
#[derive(Debug, Default)]
struct Residuals {
    requests: Vec<(f64, f64)>,
    hops: Vec<(f64, f64)>,
}

/// The fields of a `metrics.jsonl` record the timeline draws.
#[derive(Debug, Deserialize)]
struct IntervalLine {
    elapsed_s: f64,
    latency_ns: IntervalLatency,
    rss_bytes: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct IntervalLatency {
    p50: u64,
    p99: u64,
    max: u64,
}

pub fn execute(args: &ReportArgs) -> Result<Outcome> {
    let t0 = Instant::now();
    let mut inputs = args
        .dirs
        .iter()
        .map(|d| read_input(d))
        .collect::<Result<Vec<_>>>()?;
    disambiguate(&mut inputs, &args.dirs);
    let read = t0.elapsed();
    let t1 = Instant::now();
    let sections = sections(&inputs)?;
    let plots: usize = sections.iter().map(|s| s.plots.len()).sum();
    let drawn = t1.elapsed();
    let (out, bytes) = match args.format {
        ReportFormat::Html => write_html(args, &inputs, &sections)?,
        ReportFormat::Svg => write_svgs(args, &sections)?,
    };
    if !args.quiet {
        crate::note!(
            "report: read {} input(s) in {:.1} ms, drew {plots} plot(s) in {:.1} ms, wrote {} ({:.0} KB) in {:.1} ms total",
            inputs.len(),
            read.as_secs_f64() * 1e3,
            drawn.as_secs_f64() * 1e3,
            out.display(),
            bytes as f64 / 1024.0,
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(Outcome::success())
}

fn read_input(path: &Path) -> Result<Input> {
    if !path.exists() {
        return Err(bad_input!(
            "{}: no such results directory or snapshot file",
            path.display()
        ));
    }
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    };
    let snapshot = load_snapshot(path)?;
    let file = |name: &str| dir.join(name).display().to_string();
    let decode = |hdr: &str, what: &str| {
        LatencyHistogram::from_base64(hdr)
            .map_err(|e| bad_input!("{}: {what}: {e}", file("snapshot.json")))
    };
    let latency = decode(&snapshot.latency_ns.hdr, "latency_ns.hdr")?;
    let settings = if snapshot.settings.len() > 1 {
        snapshot
            .settings
            .iter()
            .enumerate()
            .map(|(i, s)| decode(&s.latency_ns.hdr, &format!("settings[{i}].latency_ns.hdr")))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let intervals = if snapshot.soak.is_some() {
        read_intervals(&dir.join("metrics.jsonl"))?
    } else {
        Vec::new()
    };
    let residuals = if snapshot.predict.is_some() {
        Some(read_residuals(&dir.join("residuals.csv"))?)
    } else {
        None
    };
    let name = path
        .canonicalize()
        .ok()
        .and_then(|p| {
            let p = if p.is_dir() {
                p
            } else {
                p.parent()?.to_path_buf()
            };
            p.file_name().map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| path.display().to_string());
    Ok(Input {
        name,
        snapshot,
        latency,
        settings,
        intervals,
        residuals,
    })
}

/// A `predict` run's `residuals.csv`, every row checked: bad input naming the file and line.
fn read_residuals(path: &Path) -> Result<Residuals> {
    let text = read_text_bounded(path, MAX_TEXT_INPUT_BYTES)
        .map_err(|e| InputError::new(format!("{e} (a predict results directory holds it)")))?;
    let name = path.display();
    let header = RESIDUALS_HEADER.join(",");
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim_end_matches('\r') == header => {}
        Some((_, h)) => {
            return Err(bad_input!(
                "{name}:1: expected the header {header}, got {:?}",
                truncate(h)
            ))
        }
        None => return Err(bad_input!("{name}: empty (expected {header})")),
    }
    let mut out = Residuals::default();
    for (i, line) in lines {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let at = |why: String| bad_input!("{name}:{}: {why}", i + 1);
        let fields: Vec<&str> = line.split(',').collect();
        let [request, hop, predicted, observed, rel_err] = fields[..] else {
            return Err(at(format!(
                "expected 5 fields ({header}), got {}",
                fields.len()
            )));
        };
        let number = |field: &str, v: &str| -> Result<f64> {
            match v.trim().parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(x),
                _ => Err(at(format!("{field}: not a number: {:?}", truncate(v)))),
            }
        };
        if request.trim().parse::<u64>().is_err() {
            return Err(at(format!(
                "request: not a request number: {:?}",
                truncate(request)
            )));
        }
        let hop = hop.trim();
        if !hop.is_empty() && hop.parse::<u32>().is_err() {
            return Err(at(format!(
                "hop: not a hop number (empty for a whole request): {:?}",
                truncate(hop)
            )));
        }
        let p = number("predicted_ns", predicted)?;
        let o = number("observed_ns", observed)?;
        number("rel_err", rel_err)?;
        if o < 0.0 {
            return Err(at(format!(
                "observed_ns: a latency cannot be negative: {o}"
            )));
        }
        if hop.is_empty() {
            out.requests.push((p, o));
        } else {
            out.hops.push((p, o));
        }
    }
    if out.requests.is_empty() {
        return Err(bad_input!("{name}: no whole-request rows (hop empty)"));
    }
    Ok(out)
}

/// At most 40 characters of a bad field or line, for a one-line message.
fn truncate(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Results directories of the same second under different roots share a name: those are
/// named with their parent too.
fn disambiguate(inputs: &mut [Input], paths: &[PathBuf]) {
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    for (input, path) in inputs.iter_mut().zip(paths) {
        if names.iter().filter(|n| **n == input.name).count() > 1 {
            let parent = path
                .canonicalize()
                .ok()
                .and_then(|p| {
                    let dir = if p.is_dir() {
                        p
                    } else {
                        p.parent()?.to_path_buf()
                    };
                    Some(dir.parent()?.file_name()?.to_string_lossy().into_owned())
                })
                .unwrap_or_default();
            input.name = format!("{parent}/{}", input.name);
        }
    }
}

/// A soak's `metrics.jsonl`: every line a record, bad input naming the file and line.
fn read_intervals(path: &Path) -> Result<Vec<IntervalLine>> {
    let text = read_text_bounded(path, MAX_TEXT_INPUT_BYTES)
        .map_err(|e| InputError::new(format!("{e} (a soak's results directory holds it)")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rec: IntervalLine = serde_json::from_str(line).map_err(|e| {
            bad_input!(
                "{}:{}: not a metrics.jsonl record: {e}",
                path.display(),
                i + 1
            )
        })?;
        out.push(rec);
    }
    if out.is_empty() {
        return Err(bad_input!("{}: no interval records", path.display()));
    }
    Ok(out)
}

fn us(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1e3)
}

fn sections(inputs: &[Input]) -> Result<Vec<Section>> {
    let mut out = vec![spectrum_section(inputs)?];
    for (i, input) in inputs.iter().enumerate() {
        if input.settings.len() > 1 {
            out.push(settings_section(i, input)?);
        }
    }
    for (i, input) in inputs.iter().enumerate() {
        if let (Some(phases), Some(recall)) = (&input.snapshot.phases, &input.snapshot.recall) {
            out.push(recall_section(i, input, phases, recall)?);
        }
    }
    for (i, input) in inputs.iter().enumerate() {
        if let (Some(p), Some(r)) = (&input.snapshot.predict, &input.residuals) {
            out.push(predict_section(i, input, p, r)?);
        }
    }
    for (i, input) in inputs.iter().enumerate() {
        if let Some(soak) = &input.snapshot.soak {
            out.push(soak_section(i, input, soak)?);
        }
    }
    let runs: Vec<&Input> = inputs
        .iter()
        .filter(|i| i.snapshot.command == "run")
        .collect();
    if runs.len() >= 2 {
        out.push(diff_section(runs[0], runs[1])?);
    }
    Ok(out)
}

fn spectrum_section(inputs: &[Input]) -> Result<Section> {
    let mut series = Vec::new();
    for input in inputs {
        let s = &input.snapshot;
        series.push(SpectrumSeries {
            name: format!("{} ({} {})", input.name, s.command, s.workload.name),
            histogram: input.latency.inner(),
        });
        for (j, h) in input.settings.iter().enumerate().skip(1) {
            series.push(SpectrumSeries {
                name: format!("{} setting {}", input.name, j + 1),
                histogram: h.inner(),
            });
        }
    }
    let plot = plot::spectrum("spectrum", "Latency by percentile", &series)?;
    let rows: Vec<Vec<String>> = inputs
        .iter()
        .map(|i| {
            let s = &i.snapshot;
            let l = &s.latency_ns;
            vec![
                i.name.clone(),
                format!("{} {}", s.command, s.workload.name),
                s.spreads.to_string(),
                us(l.p50),
                us(l.p90),
                us(l.p99),
                us(l.p999),
                us(l.max),
                format!("{:.0}", s.throughput_per_s),
                if s.partial {
                    "partial".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    Ok(Section {
        title: "Latency spectrum".into(),
        html: html::table(
            &[
                "input",
                "command",
                "spreads",
                "p50 µs",
                "p90 µs",
                "p99 µs",
                "p99.9 µs",
                "max µs",
                "spreads/s",
                "",
            ],
            &rows,
        ),
        plots: vec![plot],
    })
}

fn settings_section(i: usize, input: &Input) -> Result<Section> {
    let s = &input.snapshot.settings;
    let rows: Vec<Vec<String>> = s
        .iter()
        .enumerate()
        .map(|(j, r)| {
            vec![
                format!("{} {}", j + 1, r.label),
                us(r.latency_ns.p50),
                us(r.latency_ns.p95),
                us(r.latency_ns.p99),
                format!("{:.0}", r.throughput_per_s),
                format!("{:.3}", r.p50_ratio),
                format!("{:.3}", r.throughput_ratio),
            ]
        })
        .collect();
    let groups: Vec<String> = (1..=s.len()).map(|j| format!("#{j}")).collect();
    let p = |f: fn(&crate::measure::LatencySummary) -> u64| -> Vec<f64> {
        s.iter().map(|r| f(&r.latency_ns) as f64 / 1e3).collect()
    };
    let plot = plot::grouped_bars(
        &format!("settings-{}", i + 1),
        &format!("Settings side by side: {}", input.name),
        "latency (µs)",
        &groups,
        &[("p50", p(|l| l.p50)), ("p99", p(|l| l.p99))],
    )?;
    Ok(Section {
        title: format!("Settings side by side: {}", input.name),
        html: html::table(
            &[
                "setting",
                "p50 µs",
                "p95 µs",
                "p99 µs",
                "spreads/s",
                "p50 ×",
                "tput ×",
            ],
            &rows,
        ) + "<p>Ratios are to the first setting.</p>\n",
        plots: vec![plot],
    })
}

/// A recall measurement: each phase's latency, and what recall found.
fn recall_section(
    i: usize,
    input: &Input,
    phases: &PhasesSection,
    r: &RecallSection,
) -> Result<Section> {
    let mut named = vec![("seed".to_string(), phases.seed.clone())];
    if let Some(spread) = &phases.spread {
        named.push(("spread".to_string(), spread.clone()));
    }
    named.push(("rank".to_string(), phases.rank.clone()));
    let mut plot = plot::recall_phases(&named)?;
    // One file per input with `--format svg`.
    plot.name = format!("recall-phases-{}", i + 1);
    let rows: Vec<Vec<String>> = named
        .iter()
        .map(|(n, l)| vec![n.clone(), us(l.p50), us(l.p95), us(l.p99), us(l.max)])
        .collect();
    let precision = r
        .cluster_precision
        .map_or("n/a".to_string(), |p| format!("{p:.3}"));
    let facts = format!(
        "<p>{} mode, {} seeding ({}), dim {}: {:.1} seeds and {:.1} results per request, {:.1} \
         added by the spread; recall@{} {:.4} over {} cues; cluster precision@10 {}; scan \
         {:.1} ns per vector, {:.0}% of a plain read's GB/s.</p>\n",
        html::escape(&r.mode),
        html::escape(&r.similarity),
        html::escape(&r.kernel),
        r.dim,
        r.seeds_mean,
        r.results_mean,
        r.spread_added_mean,
        r.k,
        r.recall_at_k,
        r.recall_at_k_requests,
        precision,
        r.scan.ns_per_vector,
        100.0 * r.scan.ratio
    );
    Ok(Section {
        title: format!("Recall phases: {}", input.name),
        html: html::table(&["phase", "p50 µs", "p95 µs", "p99 µs", "max µs"], &rows) + &facts,
        plots: vec![plot],
    })
}

/// A `predict` run: each whole request's and hop's prediction against what it took, the
/// error distributions, and the accuracy figures beside the noise ceiling.
fn predict_section(i: usize, input: &Input, p: &PredictSection, r: &Residuals) -> Result<Section> {
    let in_us = |v: &[(f64, f64)]| -> Vec<(f64, f64)> {
        v.iter().map(|&(p, o)| (p / 1e3, o / 1e3)).collect()
    };
    let mut plots = plot::predictor(
        &format!("predictor-requests-{}", i + 1),
        "requests",
        &in_us(&r.requests),
    )?;
    if !r.hops.is_empty() {
        plots.extend(plot::predictor(
            &format!("predictor-hops-{}", i + 1),
            "hops",
            &in_us(&r.hops),
        )?);
    }
    // A share of nothing is no figure: shown as a dash, not as 0%.
    let share = |n: u64, v: f64| if n == 0 { "–".to_string() } else { pct(v) };
    let accuracy = |what: String, e: &crate::engine::ErrorStats| {
        let n = e.count;
        vec![
            what,
            n.to_string(),
            share(n, e.within_10pct),
            share(n, e.within_20pct),
            share(n, e.within_50pct),
            share(n, e.p50_rel_err),
            share(n, e.p95_rel_err),
        ]
    };
    let ceiling = |what: &str, c: &crate::engine::NoiseCeiling| {
        let n = c.observations;
        vec![
            format!("noise ceiling: {what}"),
            n.to_string(),
            share(n, c.within_10pct),
            share(n, c.within_20pct),
            share(n, c.within_50pct),
            String::new(),
            String::new(),
        ]
    };
    let hops = format!("hops ≥ {} µs", p.hop_min_ns as f64 / 1e3);
    let nc = &p.noise_ceiling;
    let rows = vec![
        accuracy("requests".into(), &p.request),
        ceiling("requests", &nc.request),
        accuracy(hops.clone(), &p.hop),
        ceiling(&hops, &nc.hop),
        accuracy("all hops".into(), &p.hop_all),
        ceiling("all hops", &nc.hop_all),
    ];
    let mut html = html::table(
        &[
            "predictions",
            "count",
            "within 10%",
            "within 20%",
            "within 50%",
            "p50 error",
            "p95 error",
        ],
        &rows,
    );
    html += &format!(
        "<p>{} mode: trained on {} requests ({} hops) after {} unmeasured; tested on {} \
         requests of a separate stream × {} repeats ({} of them also in the training stream). \
         The noise ceiling is the share of single observations within 10/20/50% of their own \
         request's (or hop's) median over the repeats: no predictor can beat it on that machine \
         at that moment. The plots are drawn from <code>residuals.csv</code> ({} request and {} \
         hop rows).</p>\n",
        html::escape(&p.mode),
        p.n_train,
        p.n_train_hops,
        p.n_warmup,
        p.n_test,
        p.repeat,
        p.test_requests_in_training,
        r.requests.len(),
        r.hops.len()
    );
    if let Some(b) = &p.budget {
        let side = |what: &str, s: &crate::report::snapshot::predict::BudgetSide| {
            vec![
                what.to_string(),
                pct(s.over_budget_share),
                pct(s.truncated_share),
                pct(s.fallback_share),
                us(s.p50_ns),
                us(s.p99_ns),
            ]
        };
        html += &format!(
            "<p>Budget {} µs per request, {} requests per side:</p>\n",
            b.budget_ns as f64 / 1e3,
            b.requests
        );
        html += &html::table(
            &[
                "budget manager",
                "over budget",
                "truncated",
                "fell back",
                "p50 µs",
                "p99 µs",
            ],
            &[
                side("with", &b.with_manager),
                side("without", &b.without_manager),
            ],
        );
    }
    Ok(Section {
        title: format!("Predictor: {}", input.name),
        html,
        plots,
    })
}

fn status(s: Status) -> &'static str {
    match s {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Inconclusive => "INCONCLUSIVE",
    }
}

fn soak_section(i: usize, input: &Input, soak: &SoakSection) -> Result<Section> {
    let iv = &input.intervals;
    let pts = |f: fn(&IntervalLine) -> u64| -> Vec<(f64, f64)> {
        iv.iter()
            .map(|r| (r.elapsed_s, f(r) as f64 / 1e3))
            .collect()
    };
    let v = &soak.verdicts;
    let mut thresholds = Vec::new();
    if let Some(first) = v.drift.p99_first_ns {
        thresholds.push(Threshold {
            label: format!("drift limit: first-quarter p99 × {}", v.drift.max_ratio),
            value: first as f64 * v.drift.max_ratio / 1e3,
            from_x: None,
        });
    }
    if v.stall.p999_ns > 0 {
        thresholds.push(Threshold {
            label: format!("stall limit: p99.9 × {}", v.stall.max_ratio),
            value: v.stall.p999_ns as f64 * v.stall.max_ratio / 1e3,
            from_x: None,
        });
    }
    let latency = plot::time_series(
        &format!("soak-latency-{}", i + 1),
        &format!("Soak latency per interval: {}", input.name),
        "seconds into the measured run",
        "latency (µs, log scale)",
        &[
            ("p50", pts(|r| r.latency_ns.p50)),
            ("p99", pts(|r| r.latency_ns.p99)),
            ("max", pts(|r| r.latency_ns.max)),
        ],
        &thresholds,
        true,
    )?;
    let rss: Vec<(f64, f64)> = iv
        .iter()
        .filter_map(|r| r.rss_bytes.map(|b| (r.elapsed_s, b as f64 / 1e6)))
        .collect();
    let mut plots = vec![latency];
    if !rss.is_empty() {
        // The leak verdict judges the second half: from its first RSS reading, the growth
        // allowed is the larger of the percentage and the floor.
        let mid = &rss[rss.len() / 2];
        let allowed =
            (mid.1 * v.leak.max_rss_growth_pct / 100.0).max(v.leak.min_growth_bytes as f64 / 1e6);
        let leak = Threshold {
            label: format!("leak limit over the second half (+{:.2} MB)", allowed),
            value: mid.1 + allowed,
            from_x: Some(mid.0),
        };
        plots.push(plot::time_series(
            &format!("soak-rss-{}", i + 1),
            &format!("Soak RSS: {}", input.name),
            "seconds into the measured run",
            "RSS (MB)",
            &[("RSS", rss)],
            &[leak],
            false,
        )?);
    }
    let opt = |x: Option<f64>, f: &dyn Fn(f64) -> String| x.map_or("n/a".into(), f);
    let rows = vec![
        vec![
            "leak".into(),
            status(v.leak.status).into(),
            opt(v.leak.rss_growth_second_half_pct, &|g| {
                format!("RSS {g:+.3}% over the second half")
            }),
            format!("{}%", v.leak.max_rss_growth_pct),
        ],
        vec![
            "drift".into(),
            status(v.drift.status).into(),
            opt(v.drift.ratio, &|r| format!("last/first p99 {r:.3}")),
            format!("{}", v.drift.max_ratio),
        ],
        vec![
            "stall".into(),
            status(v.stall.status).into(),
            opt(v.stall.ratio, &|r| format!("max/p99.9 {r:.2}")),
            format!("{}", v.stall.max_ratio),
        ],
    ];
    Ok(Section {
        title: format!(
            "Soak timeline: {} ({} intervals, {})",
            input.name,
            soak.intervals,
            soak.mode.as_str()
        ),
        html: html::table(&["verdict", "status", "figure", "limit"], &rows),
        plots,
    })
}

fn diff_section(base: &Input, new: &Input) -> Result<Section> {
    let title = format!("Diff: {} → {}", base.name, new.name);
    let why = diff::incomparable(&base.snapshot, &new.snapshot);
    if !why.is_empty() {
        return Ok(Section {
            title,
            html: format!("<p>Not compared: {}.</p>\n", html::escape(&why.join("; "))),
            plots: Vec::new(),
        });
    }
    let opts = DiffOptions {
        noise: 0.05,
        alpha: 0.01,
        metrics: ["p50", "p95", "p99"]
            .iter()
            .filter_map(|m| Metric::parse(m))
            .collect(),
        force: false,
        calibrate: false,
    };
    let r = diff::diff(&base.snapshot, &new.snapshot, &opts).map_err(InputError::new)?;
    let ratio_rows: Vec<RatioRow> = r
        .rows
        .iter()
        .map(|row| RatioRow {
            metric: row.metric.to_string(),
            ratio: row.ratio,
            low: row.ci_low,
            high: row.ci_high,
            verdict: row.verdict.label().to_string(),
        })
        .collect();
    let plot = plot::ratios("diff", &title, &ratio_rows, opts.noise)?;
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| {
            vec![
                row.metric.to_string(),
                us(row.base_ns),
                us(row.new_ns),
                format!("{:.3}", row.ratio),
                format!("[{:.3}, {:.3}]", row.ci_low, row.ci_high),
                format!("{:.4}", row.p),
                row.verdict.label().to_string(),
            ]
        })
        .collect();
    let html = html::table(
        &[
            "metric",
            "base µs",
            "new µs",
            "ratio",
            "99% interval",
            "p",
            "verdict",
        ],
        &rows,
    ) + &format!(
        "<p>Verdict: {} (noise band ±5%, α = 0.01; as <code>spreadbench diff</code> judges).</p>\n",
        html::escape(&diff::overall(&r))
    );
    Ok(Section {
        title,
        html,
        plots: vec![plot],
    })
}

fn write_html(
    args: &ReportArgs,
    inputs: &[Input],
    sections: &[Section],
) -> Result<(PathBuf, usize)> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("report.html"));
    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    let page = html::page(
        "spreadbench report",
        &format!(
            "{} input(s): {}. Made by spreadbench {}.",
            inputs.len(),
            names.join(", "),
            env!("CARGO_PKG_VERSION")
        ),
        sections,
    );
    atomic_file::write_atomic(&out, |w| w.write_all(page.as_bytes()))
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok((out, page.len()))
}

fn write_svgs(args: &ReportArgs, sections: &[Section]) -> Result<(PathBuf, usize)> {
    let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("report"));
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(bad_input!(
                "--out {}: with --format svg it must be a directory",
                dir.display()
            ))
        }
        Err(_) => std::fs::create_dir(&dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?,
    }
    let plots: Vec<&Plot> = sections.iter().flat_map(|s| &s.plots).collect();
    let mut staged = Vec::new();
    let mut bytes = 0;
    for p in &plots {
        let path = dir.join(format!("{}.svg", p.name));
        staged.push(
            atomic_file::stage(&path, None, |w| w.write_all(p.svg.as_bytes()))
                .with_context(|| format!("cannot write {}", path.display()))?,
        );
        bytes += p.svg.len();
    }
    for s in staged {
        s.commit()?;
    }
    Ok((dir, bytes))
}
