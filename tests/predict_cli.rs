//! `spreadbench predict` end to end, on hot-1k with a few hundred requests so a debug build
//! stays fast: the results directory and its files, the residuals' shape, the snapshot's
//! sections, `--require` (exit 4 after writing), `--budget` (both sides' over-budget shares,
//! with hand-computable cases at 10 s and 1 ns), the disjoint test stream's seed, the
//! determinism of what is run, and every bad value (exit 2, one line, nothing written).

mod common;

use common::{entries, f, ok, s, sb, text, tmp, u};
use serde_json::Value;
use spreadbench::engine::predictor::{HOP_FEATURES, REQUEST_FEATURES};
use std::path::{Path, PathBuf};

const TRAIN: &str = "200";
const TEST: u64 = 40;
const REPEAT: u64 = 3;

/// hot-1k's seed is 7; the test stream's is 7 XOR the 64-bit golden ratio 0x9E3779B97F4A7C15.
const HOT_1K_TEST_SEED: u64 = 0x9E37_79B9_7F4A_7C12;

fn predict_args<'a>(out: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "predict", "-w", "hot-1k", "--warmup", "20", "--train", TRAIN, "--test", "40", "--repeat",
        "3", "--out", out,
    ];
    v.extend_from_slice(more);
    v
}

/// The one results directory under `root` (the cost-profile cache and runs.csv beside it).
fn the_dir(root: &Path) -> PathBuf {
    let dirs: Vec<String> = entries(root)
        .into_iter()
        .filter(|e| e.contains("-predict-hot-1k"))
        .collect();
    assert_eq!(dirs.len(), 1, "{:?}", entries(root));
    root.join(&dirs[0])
}

fn snapshot(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("snapshot.json")).unwrap()).unwrap()
}

/// (request, hop) of every residual row, and the rows themselves.
fn residual_rows(dir: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(dir.join("residuals.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        ["request", "hop", "predicted_ns", "observed_ns", "rel_err"]
    );
    r.records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect()
}

fn share(v: &Value, path: &str) -> f64 {
    let x = f(v, path);
    assert!((0.0..=1.0).contains(&x), "{path} = {x} is not a share");
    x
}

#[test]
fn predict_writes_its_directory_with_residuals_of_every_observation() {
    let t = tmp();
    let root = t.path().join("r");
    let out = ok(t.path(), &predict_args(root.to_str().unwrap(), &[]));
    let stdout = text(&out.stdout);
    let dir = the_dir(&root);
    assert_eq!(
        entries(&dir),
        [
            "latency.hgrm",
            "predictor.json",
            "residuals.csv",
            "snapshot.json"
        ]
    );
    let expected_line =
        format!("test stream: seed 0x{HOT_1K_TEST_SEED:016x}, disjoint from the training stream");
    assert!(stdout.contains(&expected_line), "{stdout}");
    for needle in [
        "request ",
        "hop ≥ 2 µs",
        "hop, all",
        "ceiling",
        "request model",
        "hop model",
    ] {
        assert!(stdout.contains(needle), "{needle}: {stdout}");
    }

    let v = snapshot(&dir);
    assert_eq!(s(&v, "/command"), "predict");
    let p = &v["predict"];
    assert_eq!(
        (u(p, "/n_train"), u(p, "/n_test"), u(p, "/repeat")),
        (200, TEST, REPEAT)
    );
    assert_eq!(u(p, "/test_seed"), HOT_1K_TEST_SEED);
    assert_eq!(u(p, "/train_seed"), 7);
    assert_eq!(u(p, "/test_requests_in_training"), 0);
    assert_eq!(u(p, "/hop_min_ns"), 2000);
    for sec in ["request", "hop", "hop_all"] {
        for k in ["within_10pct", "within_20pct", "within_50pct"] {
            share(p, &format!("/{sec}/{k}"));
        }
        assert!(f(p, &format!("/{sec}/p50_rel_err")) >= 0.0);
        assert!(f(p, &format!("/{sec}/p95_rel_err")) >= f(p, &format!("/{sec}/p50_rel_err")));
    }
    share(p, "/noise_ceiling/within_20pct");
    share(p, "/noise_ceiling/hop/within_20pct");
    share(p, "/noise_ceiling/hop_all/within_20pct");
    // Every single observation is judged: M·R of them, the ceiling over the same ones.
    assert_eq!(u(p, "/request/count"), TEST * REPEAT);
    assert_eq!(u(p, "/noise_ceiling/observations"), TEST * REPEAT);
    assert_eq!(u(p, "/noise_ceiling/requests"), TEST);
    assert!(u(p, "/hop/count") <= u(p, "/hop_all/count"));
    assert_eq!(
        p["coefficients"]["request"][0]["feature"], "intercept",
        "{p}"
    );
    assert_eq!(
        p["coefficients"]["hop"].as_array().unwrap().len(),
        1 + HOP_FEATURES.len()
    );
    assert!(p.get("budget").is_none());
    // The run-shaped predictor section too, with the same request figures.
    assert_eq!(v["predictor"]["within_20pct"], p["request"]["within_20pct"]);
    assert_eq!(u(&v, "/spreads"), TEST * REPEAT);
    assert_eq!(u(&v, "/latency_ns/count"), TEST * REPEAT);
    assert_eq!(u(p, "/n_warmup"), 20);
    assert_eq!(
        u(&v, "/warmup"),
        220,
        "the warm-up and the training requests"
    );

    // One row per observation: M·R request rows, then as many hop rows as the snapshot says.
    let rows = residual_rows(&dir);
    let requests = rows.iter().filter(|r| r[1].is_empty()).count() as u64;
    assert_eq!(requests, TEST * REPEAT);
    assert_eq!(rows.len() as u64 - requests, u(p, "/hop_all/count"));
    for r in &rows {
        let (pred, obs, rel): (f64, f64, f64) = (
            r[2].parse().unwrap(),
            r[3].parse().unwrap(),
            r[4].parse().unwrap(),
        );
        assert!(
            (rel - (pred - obs).abs() / obs).abs() < 1e-5 * (1.0 + rel),
            "{r:?}"
        );
    }
    // In rounds: request ids 0..M, then 0..M again; each request's hops the same each round.
    let ids: Vec<u64> = rows
        .iter()
        .filter(|r| r[1].is_empty())
        .map(|r| r[0].parse().unwrap())
        .collect();
    let one_round: Vec<u64> = (0..TEST).collect();
    assert_eq!(ids, one_round.repeat(REPEAT as usize));
    let keys: Vec<(String, String)> = rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    let per_round = keys.len() / REPEAT as usize;
    assert_eq!(keys.len() % REPEAT as usize, 0);
    assert_eq!(keys[..per_round], keys[per_round..2 * per_round]);

    // predictor.json: each model's features, means, scales and coefficients line up.
    let pj: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("predictor.json")).unwrap())
            .unwrap();
    for (model, k) in [
        ("request", REQUEST_FEATURES.len()),
        ("hop", HOP_FEATURES.len()),
    ] {
        for key in ["features", "means", "scales", "coefficients"] {
            assert_eq!(pj[model][key].as_array().unwrap().len(), k, "{model}.{key}");
        }
        assert!(pj[model]["intercept"].is_f64(), "{model}");
    }
    assert_eq!(pj["trained_requests"], 200);

    // runs.csv: the header and this run's row.
    let runs = std::fs::read_to_string(root.join("runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 2, "{runs}");
    assert!(
        runs.lines().nth(1).unwrap().contains(",predict,hot-1k,"),
        "{runs}"
    );
}

/// Two runs run the same requests in the same order (the predictions depend on timing, so
/// only the request and hop columns can be compared), from the same test seed.
#[test]
fn two_runs_test_the_same_requests() {
    let t = tmp();
    let root: Vec<PathBuf> = (0..2).map(|i| t.path().join(format!("r{i}"))).collect();
    let mut keys = Vec::new();
    for r in &root {
        ok(t.path(), &predict_args(r.to_str().unwrap(), &["--quiet"]));
        let dir = the_dir(r);
        assert_eq!(u(&snapshot(&dir), "/predict/test_seed"), HOT_1K_TEST_SEED);
        let k: Vec<(String, String)> = residual_rows(&dir)
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect();
        keys.push(k);
    }
    assert_eq!(keys[0], keys[1]);
}

/// `--require 1` fails unless every observation was within 20%, which the snapshot says;
/// either way the results are written. `--require 0` never fails.
#[test]
fn require_exits_4_below_the_share_and_still_writes() {
    let t = tmp();
    let root = t.path().join("r");
    let args = predict_args(root.to_str().unwrap(), &["--require", "1", "--quiet"]);
    let o = sb(t.path()).args(&args).output().unwrap();
    let dir = the_dir(&root);
    let got = f(&snapshot(&dir), "/predict/request/within_20pct");
    let err = text(&o.stderr);
    if got < 1.0 {
        assert_eq!(o.status.code(), Some(4), "{err}");
        let last = err.lines().last().unwrap();
        assert!(last.contains("below --require 1"), "{err}");
        assert!(last.contains(&dir.display().to_string()), "{err}");
    } else {
        assert_eq!(o.status.code(), Some(0), "{err}");
    }
    let root0 = t.path().join("r0");
    let o = sb(t.path())
        .args(predict_args(
            root0.to_str().unwrap(),
            &["--require", "0", "--quiet"],
        ))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    the_dir(&root0);
}

fn budget_run(t: &Path, name: &str, budget: &str) -> (String, Value) {
    let root = t.join(name);
    let out = ok(
        t,
        &predict_args(root.to_str().unwrap(), &["--budget", budget]),
    );
    (text(&out.stdout), snapshot(&the_dir(&root)))
}

/// Ten seconds is past every request: nothing cut, nothing over, on either side. Both
/// over-budget shares are printed.
#[test]
fn a_budget_past_every_request_changes_nothing() {
    let t = tmp();
    let (stdout, v) = budget_run(t.path(), "r", "10s");
    let b = &v["predict"]["budget"];
    assert_eq!(u(b, "/budget_ns"), 10_000_000_000);
    assert_eq!(u(b, "/requests"), TEST * REPEAT);
    for side in ["with_manager", "without_manager"] {
        for k in ["over_budget", "truncated", "fallbacks"] {
            assert_eq!(u(b, &format!("/{side}/{k}")), 0, "{side}.{k}");
        }
    }
    assert_eq!(u(b, "/truncated_top10_overlap/requests"), 0);
    assert!(b["truncated_top10_overlap"]["mean"].is_null());
    assert_eq!(u(&v, "/budget/requests"), TEST * REPEAT);
    assert_eq!(u(&v, "/config/budget_ns"), 10_000_000_000);
    let with = stdout
        .lines()
        .find(|l| l.starts_with("with manager"))
        .unwrap();
    let without = stdout.lines().find(|l| l.starts_with("without")).unwrap();
    assert!(
        with.contains("0.0%") && without.contains("0.0%"),
        "{stdout}"
    );
    assert!(stdout.contains("no truncated requests"), "{stdout}");
}

/// One nanosecond: the trained request model predicts microseconds, more than 1.5 ns, so every
/// managed request falls back to its seeds; every request on both sides passes 1 ns. The
/// fallback's overlap with the full top 10 is counted for each.
#[test]
fn a_one_nanosecond_budget_falls_back_every_request() {
    let t = tmp();
    let (stdout, v) = budget_run(t.path(), "r", "1ns");
    let b = &v["predict"]["budget"];
    let n = TEST * REPEAT;
    assert_eq!(u(b, "/with_manager/fallbacks"), n);
    assert_eq!(f(b, "/with_manager/fallback_share"), 1.0);
    assert_eq!(u(b, "/with_manager/truncated"), 0);
    assert_eq!(u(b, "/with_manager/over_budget"), n);
    assert_eq!(u(b, "/without_manager/over_budget"), n);
    assert_eq!(u(b, "/fallback_top10_overlap/requests"), n);
    let (mean, min) = (
        f(b, "/fallback_top10_overlap/mean"),
        f(b, "/fallback_top10_overlap/min"),
    );
    assert!((0.0..=1.0).contains(&min) && min <= mean && mean <= 1.0);
    assert_eq!(u(&v, "/budget/fallbacks"), n);
    assert_eq!(u(&v, "/fallback"), n);
    let with = stdout
        .lines()
        .find(|l| l.starts_with("with manager"))
        .unwrap();
    assert!(with.contains("100.0%"), "{stdout}");
}

/// Every bad value: exit 2, one stderr line naming the flag, nothing written (not even the
/// results root).
#[test]
fn every_bad_value_exits_2_with_one_line_and_writes_nothing() {
    let t = tmp();
    let root = t.path().join("r");
    let r = root.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--train", "0"], "--train"),
        (vec!["--test", "0"], "--test"),
        (vec!["--warmup", "18446744073709551615"], "--warmup"),
        (vec!["--repeat", "0"], "--repeat"),
        (vec!["--require", "1.5"], "--require"),
        (vec!["--require", "-0.1"], "--require"),
        (vec!["--require", "NaN"], "--require"),
        (vec!["--budget", "25"], "--budget"),
        (vec!["--budget", "0ns"], "--budget"),
        (vec!["--budget", "1x"], "--budget"),
        (
            vec!["--max-candidates", "5"],
            "--max-candidates: applies only with --mode recall",
        ),
        (
            vec!["--embeddings", "e.npy"],
            "--embeddings: applies only with --mode recall",
        ),
        (
            vec!["--mode", "recall", "--temperature", "0"],
            "--temperature",
        ),
        (
            vec!["--mode", "recall"],
            "recall needs node vectors: the workload has no [embeddings] section",
        ),
    ];
    for (more, needle) in cases {
        let mut args = vec!["predict", "-w", "hot-1k", "--out", r];
        args.extend(&more);
        let o = sb(t.path()).args(&args).output().unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.starts_with("spreadbench: error: "), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}");
        assert!(!root.exists(), "{args:?} left {:?}", entries(&root));
    }
}

/// Without --budget, the workload's `[budget]` applies, as for `run`. Reproducer: before,
/// predict ignored it and ran no budget comparison.
#[test]
fn a_workloads_budget_section_is_used_without_the_flag() {
    let t = tmp();
    let show = ok(t.path(), &["workloads", "--show", "hot-1k"]);
    let toml = format!("{}\n[budget]\nlatency = \"1ns\"\n", text(&show.stdout));
    let file = t.path().join("budgeted.toml");
    std::fs::write(&file, toml).unwrap();
    let root = t.path().join("r");
    let mut args = predict_args(root.to_str().unwrap(), &[]);
    args[2] = file.to_str().unwrap();
    ok(t.path(), &args);
    let v = snapshot(&the_dir(&root));
    let b = &v["predict"]["budget"];
    assert_eq!(u(b, "/budget_ns"), 1);
    assert_eq!(u(b, "/with_manager/fallbacks"), TEST * REPEAT);
}

/// The small recall workload (500-node BA, 32-dim vectors in 5 cells), for recall mode.
fn recall_workload(dir: &Path) -> PathBuf {
    let file = dir.join("recall.toml");
    std::fs::write(&file, common::small_recall_workload("predict-recall")).unwrap();
    file
}

/// Recall mode: every observation is judged against both of recall's predictions (before the
/// start and after seeding) and its spread's hops; the before-start coefficients are the
/// seed and rest models, the after-seed ones the spread and rank models; predictor.json holds
/// the phase models; a budget of 1 ns makes every managed recall fall back to similarity
/// (whose top 10 is then compared with the full recall's).
#[test]
fn recall_mode_judges_both_predictions_and_the_spread_hops() {
    let t = tmp();
    let w = recall_workload(t.path());
    let root = t.path().join("r");
    let out = ok(
        t.path(),
        &[
            "predict",
            "-w",
            w.to_str().unwrap(),
            "--mode",
            "recall",
            "--train",
            "150",
            "--test",
            "30",
            "--repeat",
            "2",
            "--budget",
            "1ns",
            "--out",
            root.to_str().unwrap(),
        ],
    );
    let stdout = text(&out.stdout);
    for needle in [
        "recall mode",
        "test cue stream: seed 0x",
        "after seeding",
        "before-start model",
        "after-seed model",
        "seed.intercept",
        "rank.seeds",
    ] {
        assert!(stdout.contains(needle), "{needle}: {stdout}");
    }
    let dirs: Vec<String> = entries(&root)
        .into_iter()
        .filter(|e| e.contains("-predict-"))
        .collect();
    assert_eq!(dirs.len(), 1, "{:?}", entries(&root));
    let dir = root.join(&dirs[0]);
    let v = snapshot(&dir);
    let p = &v["predict"];
    assert_eq!(s(p, "/mode"), "recall");
    assert_eq!(u(p, "/request/count"), 60);
    assert_eq!(u(p, "/after_seed/count"), 60, "{p}");
    share(p, "/after_seed/within_20pct");
    assert!(u(p, "/hop_all/count") > 0, "the spread's hops are judged");
    let names = |path: &str| -> Vec<String> {
        p.pointer(path)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["feature"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("/coefficients/request"),
        [
            "seed.intercept",
            "seed.scan_values",
            "rest.intercept",
            "rest.scan_values"
        ]
    );
    let after = names("/coefficients/after_seed");
    assert_eq!(after[0], "spread.intercept");
    assert_eq!(after.len(), (1 + REQUEST_FEATURES.len()) + 3, "{after:?}");
    assert_eq!(
        p["coefficients"]["hop"].as_array().unwrap().len(),
        1 + HOP_FEATURES.len()
    );
    // The run-shaped predictor section: the before-start figures, and after_seed.
    assert_eq!(v["predictor"]["within_20pct"], p["request"]["within_20pct"]);
    assert_eq!(
        v["predictor"]["after_seed"]["within_20pct"],
        p["after_seed"]["within_20pct"]
    );
    assert_eq!(s(&v, "/config/recall/similarity"), "exact");
    // 1 ns: every managed recall falls back (predicted after seeding > 1.5 ns).
    let b = &p["budget"];
    assert_eq!(u(b, "/requests"), 60);
    assert_eq!(u(b, "/with_manager/fallbacks"), 60, "{b}");
    assert_eq!(u(b, "/fallback_top10_overlap/requests"), 60);
    assert_eq!(u(&v, "/budget/fallbacks"), 60);

    let rows = residual_rows(&dir);
    assert_eq!(rows.iter().filter(|r| r[1].is_empty()).count(), 60);
    let pj: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("predictor.json")).unwrap())
            .unwrap();
    assert_eq!(pj["mode"], "recall");
    for phase in ["seed", "rest", "rank"] {
        let m = &pj["recall_phases"][phase];
        assert_eq!(
            m["features"].as_array().unwrap().len(),
            m["coefficients"].as_array().unwrap().len(),
            "{phase}"
        );
        assert!(u(m, "/n_fitted") > 0, "{phase}: {m}");
    }
    assert_eq!(
        pj["request"]["features"].as_array().unwrap().len(),
        REQUEST_FEATURES.len()
    );
}
