//! `spreadbench compare`: runs two builds alternately (A B, B A, …) on one workload, on this
//! machine, and judges them round by round. Drift on a shared machine hits both builds of a
//! round alike, so it cancels in each round's ratio — the robust gate for noisy runners.
//!
//! Sequential: from `--min-rounds` on it judges after every round and stops as soon as every
//! metric is decided — its interval wholly beyond the noise band (a regression or an
//! improvement) or wholly inside it (within noise) — or a regression or behaviour change is
//! found; at `--max-rounds` what is still undecided is inconclusive (exit 5). Each look
//! judges at α / looks (Bonferroni, see `report::diff::RoundPlan`), so looking often does
//! not inflate false decisions.

use super::diff::{parse_snapshot, print_report};
use super::exit::{Exit, Outcome};
use super::interrupt::Interrupt;
use super::options::compare_options;
use super::{CompareArgs, Switch};
use crate::bad_input;
use crate::report::diff::{self, DiffOptions, RoundPlan};
use crate::report::Snapshot;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

pub fn execute(args: &CompareArgs) -> Result<Outcome> {
    let (mut opts, plan) = compare_options(args)?;
    let new_bin = new_build(args)?;
    // SIGINT or SIGTERM reach the child runs too; with the handlers installed here, compare
    // outlives them, removes its scratch directory and says it was interrupted.
    let interrupt = Interrupt::install()?;
    let tmp = std::env::temp_dir().join(format!(".spreadbench-compare-{}", std::process::id()));
    let result = run_rounds(args, &new_bin, &tmp, &mut opts, plan, interrupt.flag());
    let _ = std::fs::remove_dir_all(&tmp);
    if let Some(sig) = interrupt.reason() {
        return Ok(Outcome::with(
            Exit::Interrupted,
            format!("compare interrupted by {sig}; no verdict"),
        ));
    }
    let report = result?;
    print_report(&report, args.judge.format)?;
    Ok(outcome(&report, args, &new_bin))
}

/// The NEW build's executable (this one unless `--new-bin`), once both builds are files.
fn new_build(args: &CompareArgs) -> Result<PathBuf> {
    let new_bin = match &args.new_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("cannot find this executable")?,
    };
    for (flag, bin) in [("--base-bin", &args.base_bin), ("--new-bin", &new_bin)] {
        if !bin.is_file() {
            return Err(bad_input!("{flag}: {} is not a file", bin.display()));
        }
    }
    Ok(new_bin)
}

/// Runs rounds until every metric is decided or the round cap is reached; the last judgement.
fn run_rounds(
    args: &CompareArgs,
    new_bin: &Path,
    tmp: &Path,
    opts: &mut DiffOptions,
    plan: RoundPlan,
    stop: &AtomicBool,
) -> Result<diff::DiffReport> {
    let (mut base, mut new) = (Vec::new(), Vec::new());
    for round in 0..plan.max_rounds {
        if stop.load(Ordering::Relaxed) {
            anyhow::bail!("stopped by a signal before round {}", round + 1);
        }
        run_round(round, plan, args, new_bin, tmp, &mut base, &mut new)?;
        if round == 0 {
            check_first_round(&base[0], &new[0], opts, args.quiet)?;
        }
        let rounds = round + 1;
        if rounds < plan.min_rounds {
            continue;
        }
        let report =
            diff::compare_rounds(&base, &new, opts, plan).map_err(|e| bad_input!("{e}"))?;
        let decided = report.sequential.is_some_and(|s| s.decided);
        if !args.quiet {
            note_progress(&report, rounds, plan, decided);
        }
        if decided || rounds == plan.max_rounds {
            return Ok(report);
        }
    }
    unreachable!("the loop returns at the round cap")
}

/// One round: each build run once, in the order the round number gives.
fn run_round(
    round: usize,
    plan: RoundPlan,
    args: &CompareArgs,
    new_bin: &Path,
    tmp: &Path,
    base: &mut Vec<Snapshot>,
    new: &mut Vec<Snapshot>,
) -> Result<()> {
    // Counterbalanced order (A B, B A, A B, …): on a virtual machine the first of two
    // back-to-back runs can be measurably slower, and alternating cancels that order
    // effect along with linear drift.
    let base_first = round.is_multiple_of(2);
    for step in 0..2 {
        let is_base = (step == 0) == base_first;
        let (which, bin) = if is_base {
            ("base", args.base_bin.as_path())
        } else {
            ("new", new_bin)
        };
        if !args.quiet {
            crate::note!(
                "round {}/{}: {which} ({})",
                round + 1,
                plan.max_rounds,
                bin.display()
            );
        }
        let snap = run_once(bin, args, tmp)?;
        if is_base {
            base.push(snap);
        } else {
            new.push(snap);
        }
    }
    Ok(())
}

/// Refuses builds whose first runs are not comparable, and turns calibration off when a
/// build records none.
fn check_first_round(
    base: &Snapshot,
    new: &Snapshot,
    opts: &mut DiffOptions,
    quiet: bool,
) -> Result<()> {
    let why = diff::incomparable(base, new);
    if !why.is_empty() {
        return Err(bad_input!(
            "the two builds' runs are not comparable: {}",
            why.join("; ")
        ));
    }
    if opts.calibrate {
        if let Err(why) = diff::calibration_factor(base, new) {
            // An older build records no calibration: judge its rounds as they are.
            opts.calibrate = false;
            if !quiet {
                crate::note!("compare: not calibrating: {why}");
            }
        }
    }
    Ok(())
}

/// The progress line after a judged round: each metric's ratio, interval and verdict.
fn note_progress(report: &diff::DiffReport, rounds: usize, plan: RoundPlan, decided: bool) {
    let rows: Vec<String> = report
        .rows
        .iter()
        .map(|r| {
            format!(
                "{} {:.3} [{:.3}, {:.3}] {}",
                r.metric,
                r.ratio,
                r.ci_low,
                r.ci_high,
                r.verdict.label()
            )
        })
        .collect();
    crate::note!(
        "after round {rounds}: {}; {}",
        rows.join(", "),
        if decided {
            "decided"
        } else if rounds == plan.max_rounds {
            "round cap reached"
        } else {
            "continuing"
        }
    );
}

/// The command's outcome from the final verdict: a regression or behaviour change, an
/// inconclusive end at the cap, or success (always, with `--advisory`).
fn outcome(report: &diff::DiffReport, args: &CompareArgs, new_bin: &Path) -> Outcome {
    let rounds = report.sequential.map_or(0, |s| s.rounds);
    let failed = report.regression || !report.behaviour_changes.is_empty();
    if failed && !args.judge.advisory {
        return Outcome::with(
            Exit::Regression,
            format!(
                "{} over {rounds} rounds: {} vs {}",
                if report.regression {
                    "latency regression"
                } else {
                    "behaviour change"
                },
                args.base_bin.display(),
                new_bin.display()
            ),
        );
    }
    if !failed && report.inconclusive && !args.judge.advisory {
        return Outcome::with(
            Exit::Inconclusive,
            format!(
                "inconclusive after {rounds} rounds (the cap): {} vs {}",
                args.base_bin.display(),
                new_bin.display()
            ),
        );
    }
    Outcome::success()
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
        // Calibrating: short blocks, since the kernel is sampled between blocks and twenty
        // sample points per round follow the machine's speed through the round.
        .args(if args.calibrate {
            &["--block", "100"][..]
        } else {
            &[][..]
        })
        .args(["--spreads", &args.spreads_per_round.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(if args.predictor == Switch::Off {
            &["--predictor", "off"][..]
        } else {
            &[][..]
        })
        .arg("--out")
        .arg(tmp)
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().last().unwrap_or("").to_string();
        if out.status.code() == Some(i32::from(Exit::BadInput.code())) {
            return Err(bad_input!("{}: {line}", bin.display()));
        }
        anyhow::bail!("{} failed ({}): {line}", bin.display(), out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let snap = parse_snapshot(&text)
        .map_err(|e| bad_input!("{}: output is not a snapshot: {e}", bin.display()))?;
    diff::validated_histogram(&snap).map_err(|e| bad_input!("{}: {e}", bin.display()))?;
    Ok(snap)
}
