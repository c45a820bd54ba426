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

use super::diff::{judging_options, parse_snapshot, print_report};
use super::exit::{Exit, Outcome};
use super::CompareArgs;
use crate::bad_input;
use crate::report::diff::{self, RoundPlan};
use crate::report::{stats, Snapshot};
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

pub fn execute(args: &CompareArgs) -> Result<Outcome> {
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
    let result = (|| -> Result<diff::DiffReport> {
        for round in 0..plan.max_rounds {
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
                        plan.max_rounds,
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
                if opts.calibrate {
                    if let Err(why) = diff::calibration_factor(&base[0], &new[0]) {
                        // An older build records no calibration: judge its rounds as they are.
                        opts.calibrate = false;
                        if !args.quiet {
                            crate::note!("compare: not calibrating: {why}");
                        }
                    }
                }
            }
            let rounds = round + 1;
            if rounds < plan.min_rounds {
                continue;
            }
            let report =
                diff::compare_rounds(&base, &new, &opts, plan).map_err(|e| bad_input!("{e}"))?;
            let decided = report.sequential.is_some_and(|s| s.decided);
            if !args.quiet {
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
            if decided || rounds == plan.max_rounds {
                return Ok(report);
            }
        }
        unreachable!("the loop returns at the round cap")
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    let report = result?;
    print_report(&report, args.judge.format)?;
    let rounds = report.sequential.map_or(0, |s| s.rounds);
    let failed = report.regression || !report.behaviour_changes.is_empty();
    if failed && !args.judge.advisory {
        return Ok(Outcome::with(
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
        ));
    }
    if !failed && report.inconclusive && !args.judge.advisory {
        return Ok(Outcome::with(
            Exit::Inconclusive,
            format!(
                "inconclusive after {rounds} rounds (the cap): {} vs {}",
                args.base_bin.display(),
                new_bin.display()
            ),
        ));
    }
    Ok(Outcome::success())
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
