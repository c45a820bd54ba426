//! `--budget` end to end: every bad value refused (exit 2, naming `--budget`, nothing left
//! behind) on every command that takes it; `spread --budget` with an untrained predictor
//! (never acts) and a trained one (1 ns: falls back); `run --budget`'s snapshot sections; the
//! workload's `[budget]`; and a spread gated by the real predictor, untrained.

mod common;

use common::{entries, ok_json, sb, text, tmp, u};
use spreadbench::engine::budget::HopGate;
use spreadbench::engine::{
    LatencyBudgetManager, LatencyPredictor, RequestFeatures, Seed, SpreadResult, SpreadScratch,
    Spreader,
};
use spreadbench::graph::generate::generate;
use spreadbench::workload::Workload;

const BAD: [&str; 8] = [
    "",
    "25",
    "1x",
    "-1ms",
    "0ns",
    "0.5ns",
    "1.2.3ms",
    "99999999999999999999s",
];

#[test]
fn every_bad_budget_exits_2_naming_the_flag_and_leaves_nothing() {
    let dir = tmp();
    let out = dir.path().join("results");
    let out_s = out.to_str().unwrap();
    for bad in BAD {
        let budget = format!("--budget={bad}");
        for args in [
            vec!["run", "-w", "chain-64", "--spreads", "10", "--out", out_s],
            vec!["soak", "-w", "chain-64", "--spreads", "10", "--out", out_s],
            vec!["spread", "-w", "chain-64", "--seeds", "1"],
            vec!["recall", "-w", "hot-1k", "--cue-node", "1"],
        ] {
            let mut args = args.clone();
            args.push(&budget);
            let o = sb(dir.path()).args(&args).output().unwrap();
            let err = text(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
            assert!(err.contains("--budget"), "{args:?}: {err}");
            assert!(!out.exists(), "{args:?} left {:?}", entries(&out));
        }
    }
}

#[test]
fn a_budget_without_the_predictor_is_refused() {
    let dir = tmp();
    for args in [
        vec![
            "run",
            "-w",
            "chain-64",
            "--budget",
            "1ms",
            "--predictor",
            "off",
            "--out",
            "r",
        ],
        vec![
            "run",
            "-w",
            "chain-64",
            "--budget",
            "1ms",
            "--predictor",
            "on,off",
            "--out",
            "r",
        ],
        vec![
            "soak",
            "-w",
            "chain-64",
            "--budget",
            "1ms",
            "--predictor",
            "off",
            "--out",
            "r",
        ],
    ] {
        let o = sb(dir.path()).args(&args).output().unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("spreadbench: error: --budget: "), "{err}");
        assert!(!dir.path().join("r").exists(), "{args:?}");
    }
}

/// Untrained, the predictor predicts 0 and has no hop model: even a 1 ns budget, which any
/// clock reading passes, must not cut the spread. Before the gate checked for a trained hop
/// model, this spread came back partial with no hop run.
#[test]
fn an_untrained_predictor_never_acts() {
    let dir = tmp();
    let base = ["spread", "-w", "warm-10k", "--seeds", "12,40", "--json"];
    let plain = ok_json(dir.path(), &base);
    let mut args = base.to_vec();
    args.extend(["--budget", "1ns", "--train", "0"]);
    let v = ok_json(dir.path(), &args);
    assert_eq!(v["partial"], false, "{}", v["budget"]);
    assert_eq!(v["fallback"], false);
    assert!(v.get("partial_reason").is_none());
    assert_eq!(u(&v, "/budget/budget_ns"), 1);
    assert_eq!(u(&v, "/budget/trained_on"), 0);
    assert_eq!(v["nodes"], plain["nodes"]);
    assert_eq!(v["work"], plain["work"]);
    assert!(
        plain.get("partial").is_none(),
        "no budget: the JSON is as before"
    );
}

/// Trained on 100 requests of warm-10k, the whole spread is predicted at microseconds, far
/// past 1.5 × 1 ns: the answer is the seeds alone.
#[test]
fn a_trained_predictor_falls_back_past_one_and_a_half_budgets() {
    let dir = tmp();
    let v = ok_json(
        dir.path(),
        &[
            "spread",
            "-w",
            "warm-10k",
            "--seeds",
            "12,40:0.5",
            "--json",
            "--budget",
            "1ns",
            "--train",
            "100",
        ],
    );
    assert_eq!(v["fallback"], true, "{}", v["budget"]);
    assert_eq!(v["partial"], false);
    let ids: Vec<u64> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [12, 40], "the seeds alone, by activation");
    assert_eq!(v["nodes"][1]["activation"], 0.5);
    assert_eq!(u(&v, "/work/hops"), 0);
    assert!(v["budget"]["predicted_ns"].as_f64().unwrap() > 1.5);
}

#[test]
fn run_with_a_budget_records_its_sections() {
    let dir = tmp();
    let v = ok_json(
        dir.path(),
        &[
            "run",
            "-w",
            "hot-1k",
            "--spreads",
            "300",
            "--warmup",
            "200",
            "--threads",
            "1",
            "--counters",
            "off",
            "--quiet",
            "--json",
            "--budget",
            "10s",
        ],
    );
    assert_eq!(u(&v, "/config/budget_ns"), 10_000_000_000);
    let b = &v["budget"];
    assert_eq!(u(b, "/budget_ns"), 10_000_000_000);
    assert_eq!(u(b, "/requests"), 300);
    // Ten seconds is beyond any request here: nothing cut, nothing over.
    assert_eq!(
        (u(b, "/truncated"), u(b, "/fallbacks"), u(b, "/over_budget")),
        (0, 0, 0)
    );
    assert_eq!(b["over_budget_share"], 0.0);
    assert_eq!(u(&v, "/fallback"), 0);
    let p = &v["predictor"];
    assert_eq!(p["model"], "request");
    assert_eq!(u(p, "/count"), 300);
    assert!(u(p, "/n_train") >= 200, "{p}");
    assert_eq!(p["hop"]["model"], "hop");
    assert!(u(p, "/hop/n_train") > 0, "warm-up hops were timed: {p}");
    assert_eq!(p["coefficients"][0]["feature"], "intercept");
    assert_eq!(v["settings"][0]["budget"], v["budget"]);
    // The cost profile is cached under the results root, beside the run.
    let root = dir.path().join("results");
    assert!(
        entries(&root)
            .iter()
            .any(|n| n.starts_with("cost-profile-")),
        "{:?}",
        entries(&root)
    );
}

#[test]
fn predictor_off_leaves_the_sections_out() {
    let dir = tmp();
    let v = ok_json(
        dir.path(),
        &[
            "run",
            "-w",
            "hot-1k",
            "--spreads",
            "100",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--counters",
            "off",
            "--quiet",
            "--json",
            "--predictor",
            "off",
        ],
    );
    assert!(
        v.get("predictor").is_none() && v.get("budget").is_none(),
        "{v}"
    );
    assert!(v["config"].get("budget_ns").is_none());
    assert_eq!(u(&v, "/fallback"), 0);
}

#[test]
fn a_workload_budget_section_applies_and_a_bad_one_names_its_key() {
    let dir = tmp();
    let toml = text(
        &sb(dir.path())
            .args(["workloads", "--show", "hot-1k"])
            .output()
            .unwrap()
            .stdout,
    );
    let good = dir.path().join("good.toml");
    std::fs::write(&good, format!("{toml}\n[budget]\nlatency = \"3s\"\n")).unwrap();
    let v = ok_json(
        dir.path(),
        &[
            "run",
            "-w",
            good.to_str().unwrap(),
            "--spreads",
            "50",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--counters",
            "off",
            "--quiet",
            "--json",
        ],
    );
    assert_eq!(u(&v, "/budget/budget_ns"), 3_000_000_000);
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, format!("{toml}\n[budget]\nlatency = \"3 parsecs\"\n")).unwrap();
    let o = sb(dir.path())
        .args(["run", "-w", bad.to_str().unwrap(), "--out", "r"])
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("budget.latency"), "{err}");
    assert!(!dir.path().join("r").exists());
}

/// The budget manager over the real predictor, untrained, as the gate of a real spread:
/// nothing is cut and the result is the ungated spread's.
#[test]
fn the_real_gate_with_an_untrained_predictor_changes_nothing() {
    let w = Workload::load("hot-1k").unwrap();
    let g = generate(&w.graph).unwrap();
    let sp = Spreader::new(w.spread.clone()).unwrap();
    let seeds = [Seed::new(5, 1.0), Seed::new(9, 0.7)];
    let mut scratch = SpreadScratch::new(g.node_count());
    let want = sp.spread(&g, &seeds, &mut scratch).unwrap();
    let mut m = LatencyBudgetManager::new(1, LatencyPredictor::new());
    m.admit(&RequestFeatures::default());
    assert!(
        m.before_hop(1, &Default::default()),
        "untrained: no opinion"
    );
    let mut out = SpreadResult::default();
    let cut = sp
        .spread_gated_into(&g, &seeds, &mut scratch, &mut out, &mut m)
        .unwrap();
    assert!(!cut);
    assert_eq!(out, want);
}
