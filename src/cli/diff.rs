//! `spreadbench diff BASE NEW`: a regression verdict a CI can gate a merge on. Loads two
//! snapshots (bounded reads; a snapshot whose stated figures disagree with its own histogram
//! is refused), refuses incomparable ones, reports behaviour changes and judges latency (see
//! `report::diff`), optionally after dividing out the machine's drift (`--calibrate`), prints
//! a table, markdown or JSON, and maps the verdict to an exit code.

use super::exit::{Exit, Outcome};
use super::options::judging_options;
use super::{DiffArgs, DiffFormat};
use crate::atomic_file::write_atomic;
use crate::input::{read_text_bounded, MAX_TEXT_INPUT_BYTES};
use crate::report::diff;
use crate::report::stats;
use crate::report::Snapshot;
use crate::{bad_input, InputError};
use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Reads a snapshot from a file or a results directory, and checks that its stated figures
/// are its histogram's; every failure is bad input naming the file (and the field).
pub fn load_snapshot(path: &Path) -> Result<Snapshot, InputError> {
    let file: PathBuf = if path.is_dir() {
        path.join("snapshot.json")
    } else {
        path.to_path_buf()
    };
    let name = file.display();
    // Bounded: `/dev/zero` or an endless pipe must not read until memory runs out.
    let text = read_text_bounded(&file, MAX_TEXT_INPUT_BYTES)?;
    let s = parse_snapshot(&text).map_err(|e| InputError::new(format!("{name}: {e}")))?;
    diff::validated_histogram(&s).map_err(|e| InputError::new(format!("{name}: {e}")))?;
    Ok(s)
}

/// Parses a snapshot's JSON; the error says which kind of wrong it is.
pub fn parse_snapshot(text: &str) -> Result<Snapshot, String> {
    serde_json::from_str(text).map_err(|e| {
        let what = if e.is_eof() {
            "truncated JSON"
        } else if e.is_syntax() {
            "malformed JSON"
        } else {
            "not a spreadbench snapshot"
        };
        format!("{what}: {e}")
    })
}

pub fn execute(args: &DiffArgs) -> Result<Outcome> {
    let mut opts = judging_options(
        args.judge.noise,
        args.judge.alpha,
        &args.judge.metrics,
        args.force,
    )?;
    opts.calibrate = args.calibrate;
    if let Some(path) = &args.export_bmf {
        // Before any work: a directory or socket given as the BMF file is refused up front.
        crate::atomic_file::target(path)
            .with_context(|| format!("--export-bmf {}", path.display()))?;
    }
    let base = load_snapshot(&args.base)?;
    let new = load_snapshot(&args.new)?;
    if args.calibrate {
        for (path, s) in [(&args.base, &base), (&args.new, &new)] {
            if s.calibration.is_none() {
                return Err(bad_input!(
                    "--calibrate: {} has no calibration figure (made before calibration existed; re-run it)",
                    path.display()
                ));
            }
        }
    }
    let why = diff::incomparable(&base, &new);
    if !why.is_empty() && !args.force {
        return Err(bad_input!(
            "snapshots are not comparable (use --force to compare anyway): {}",
            why.join("; ")
        ));
    }
    let report = diff::diff(&base, &new, &opts).map_err(InputError::new)?;
    if let Some(path) = &args.export_bmf {
        let bmf = bencher_metric_format(&new, opts.alpha)?;
        write_atomic(path, |w| {
            serde_json::to_writer_pretty(&mut *w, &bmf)?;
            w.write_all(b"\n")
        })
        .with_context(|| format!("cannot write {}", path.display()))?;
    }
    print_report(&report, args.judge.format)?;
    let failed = report.regression || !report.behaviour_changes.is_empty();
    if failed && !args.judge.advisory {
        let what = if report.regression {
            "latency regression"
        } else {
            "behaviour change"
        };
        return Ok(Outcome::with(
            Exit::Regression,
            format!("{what}: {} vs {}", args.base.display(), args.new.display()),
        ));
    }
    Ok(Outcome::success())
}

/// Prints a report in the chosen format.
pub fn print_report(report: &diff::DiffReport, format: DiffFormat) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        DiffFormat::Json => {
            let text = serde_json::to_vec_pretty(report)?;
            out.write_all(&text)?;
            writeln!(out)?;
        }
        DiffFormat::Table | DiffFormat::Markdown => {
            out.write_all(diff::render(report, format == DiffFormat::Markdown).as_bytes())?;
        }
    }
    Ok(())
}

/// Bencher Metric Format: `{benchmark: {measure: {value, lower_value, upper_value}}}`, with
/// latency quantiles in nanoseconds bounded by their bootstrap interval (level 1 − α).
pub fn bencher_metric_format(s: &Snapshot, alpha: f64) -> Result<Value> {
    let h = diff::histogram(s).map_err(|e| bad_input!("{e}"))?;
    let mut measures = Map::new();
    let replicates = stats::replicates_for(alpha);
    for (i, m) in diff::METRICS.iter().enumerate() {
        let reps = stats::bootstrap_quantiles(h.inner(), m.quantile, replicates, 0xb3f + i as u64);
        measures.insert(
            format!("latency_{}_ns", m.name),
            json!({
                "value": h.value_at_quantile(m.quantile),
                "lower_value": stats::percentile(&reps, alpha / 2.0),
                "upper_value": stats::percentile(&reps, 1.0 - alpha / 2.0),
            }),
        );
    }
    measures.insert(
        "throughput_per_s".into(),
        json!({"value": s.throughput_per_s}),
    );
    let mut bmf = Map::new();
    bmf.insert(s.workload.name.clone(), Value::Object(measures));
    Ok(Value::Object(bmf))
}
