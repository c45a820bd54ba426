//! `spreadbench compare`: runs two builds alternately (A B, B A, …) on one workload, on this
//! machine, and judges them round by round. Drift on a shared machine hits both builds of a
//! round alike, so it cancels in each round's ratio — the robust gate for noisy runners.

use super::diff::{judging_options, print_report, EXIT_REGRESSION};
use super::CompareArgs;
use crate::bad_input;
use crate::error::ExitWith;
use crate::report::diff::{self};
use crate::report::Snapshot;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

pub fn execute(args: &CompareArgs) -> Result<()> {
    let opts = judging_options(
        args.judge.noise,
        args.judge.alpha,
        &args.judge.metrics,
        false,
    )?;
    let new_bin = match &args.new_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("cannot find this executable")?,
    };
    for (flag, bin) in [("--base-bin", &args.base_bin), ("--new-bin", &new_bin)] {
        if !bin.is_file() {
            return Err(bad_input!("{flag}: {} is not a file", bin.display()));
        }
    }
    let tmp = std::env::temp_dir().join(format!("spreadbench-compare-{}", std::process::id()));
    let (mut base, mut new) = (Vec::new(), Vec::new());
    let result = (|| -> Result<()> {
        for round in 0..args.rounds {
            // Counterbalanced order (A B, B A, A B, …): on a virtual machine the first of two
            // back-to-back runs can be measurably slower, and alternating cancels that order
            // effect along with linear drift.
            let base_first = round % 2 == 0;
            for step in 0..2 {
                let is_base = (step == 0) == base_first;
                let (which, bin) = if is_base {
                    ("base", &args.base_bin)
                } else {
                    ("new", &new_bin)
                };
                if !args.quiet {
                    crate::note!(
                        "round {}/{}: {which} ({})",
                        round + 1,
                        args.rounds,
                        bin.display()
                    );
                }
                let snap = run_once(bin, args, &tmp)?;
                if is_base {
                    base.push(snap);
                } else {
                    new.push(snap);
                }
            }
            if round == 0 {
                let why = diff::incomparable(&base[0], &new[0]);
                if !why.is_empty() {
                    return Err(bad_input!(
                        "the two builds' runs are not comparable: {}",
                        why.join("; ")
                    ));
                }
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result?;
    let report = diff::compare_rounds(&base, &new, &opts).map_err(|e| bad_input!("{e}"))?;
    print_report(&report, args.judge.format)?;
    let failed = report.regression || !report.behaviour_changes.is_empty();
    if failed && !args.judge.advisory {
        return Err(ExitWith {
            code: EXIT_REGRESSION,
            message: format!(
                "{} over {} rounds: {} vs {}",
                if report.regression {
                    "latency regression"
                } else {
                    "behaviour change"
                },
                args.rounds,
                args.base_bin.display(),
                new_bin.display()
            ),
        }
        .into());
    }
    Ok(())
}

/// One `run` of one build, single-threaded so both builds' configs agree on any machine.
fn run_once(bin: &Path, args: &CompareArgs, tmp: &Path) -> Result<Snapshot> {
    let out = Command::new(bin)
        .args([
            "run",
            "-w",
            &args.workload,
            "--threads",
            "1",
            "--json",
            "--quiet",
            "--counters",
            "off",
        ])
        .args(["--spreads", &args.spreads_per_round.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .arg("--out")
        .arg(tmp)
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().last().unwrap_or("").to_string();
        if out.status.code() == Some(2) {
            return Err(bad_input!("{}: {line}", bin.display()));
        }
        anyhow::bail!("{} failed ({}): {line}", bin.display(), out.status);
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| bad_input!("{}: output is not a snapshot: {e}", bin.display()))
}
