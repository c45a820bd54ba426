//! The adaptive batcher from the command line (issue 11, deliverable 3): `--batch-size auto`
//! alone and beside fixed sizes, the per-fingerprint memory file (written, resumed, a corrupt
//! one ignored, a symlink or directory never replaced), `--batcher off`, one thread, bad
//! values, identical work under every setting, and a soak that does not oscillate.
//!
//! The runs are small (`hot-1k` with a low threshold so its spreads can go parallel, or a few
//! thousand `warm-10k` spreads) so the file stays within seconds in a debug build.

use serde_json::Value;
use spreadbench::engine::Fingerprint;
use std::fs;
use std::path::{Path, PathBuf};

mod common;
use common::{ok, sb, text, tmp, u};

/// The memory file a two-thread run on this machine reads and writes under `root`.
fn memory_file(root: &Path) -> PathBuf {
    root.join(Fingerprint::detect(2).memory_file_name())
}

/// `run -w hot-1k --threads 2` with a threshold low enough (its arms reach 256) for its
/// spreads of ~1,500 edges to go parallel: 1,600 spreads per setting, enough for the three
/// updates that converge it at the latest. Returns the snapshot and stderr.
fn run_hot(dir: &Path, extra: &[&str]) -> (Value, String) {
    let mut args = vec![
        "run",
        "-w",
        "hot-1k",
        "--spreads",
        "1500",
        "--warmup",
        "100",
        "--threads",
        "2",
        "--parallel-min-edges",
        "2048",
        "--predictor",
        "off",
        "--counters",
        "off",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = ok(dir, &args);
    let v: Value = serde_json::from_slice(&out.stdout).expect("snapshot JSON");
    (v, text(&out.stderr))
}

fn settings(v: &Value) -> &Vec<Value> {
    v["settings"].as_array().expect("settings array")
}

/// Each history row's (batch_size, parallel_min_edges).
fn history(b: &Value) -> Vec<(u64, u64)> {
    b["history"]
        .as_array()
        .expect("history array")
        .iter()
        .map(|r| (u(r, "/batch_size"), u(r, "/parallel_min_edges")))
        .collect()
}

#[test]
fn auto_beside_a_fixed_size_converges_is_remembered_and_resumes_converged() {
    let t = tmp();
    let d = t.path();
    let (v, err) = run_hot(d, &["--batch-size", "auto,64"]);
    let memory = memory_file(&d.join("results"));
    assert!(
        err.contains(&format!(
            "batcher: cold start ({} not found)",
            Path::new("results")
                .join(memory.file_name().unwrap())
                .display()
        )),
        "{err}"
    );
    let list = settings(&v);
    assert_eq!(list.len(), 2);
    assert!(list[0]["label"].as_str().unwrap().contains("batch=auto"));
    assert!(list[1]["label"].as_str().unwrap().contains("batch=64"));
    assert_eq!(u(&list[0], "/batch_size"), 0, "auto is not a fixed size");
    assert_eq!(u(&list[1], "/batch_size"), 64);
    assert!(
        list[1].get("batcher").is_none(),
        "a fixed size has no batcher"
    );
    let b = &v["batcher"];
    assert_eq!(
        b, &list[0]["batcher"],
        "the first setting's at the top level"
    );
    assert_eq!(b["converged"], true, "{b}");
    let updates = u(b, "/updates_to_converge");
    assert!((1..=3).contains(&updates), "{b}");
    assert_eq!(b["from_memory"], false);
    // 1,600 spreads: an update every 500.
    assert_eq!(history(b).len(), 3, "{b}");
    let chosen = (u(b, "/batch_size"), u(b, "/parallel_min_edges"));
    assert_eq!(
        history(b)[updates as usize - 1..],
        vec![chosen; 4 - updates as usize][..]
    );
    // Learned settings are not configuration; the work is the same under every setting.
    assert!(v["config"].get("batch_size").is_none(), "{}", v["config"]);
    assert!(v["config"].get("parallel_min_edges").is_none());
    assert_eq!(v["work_identical_across_settings"], true);

    let mem: Value = serde_json::from_slice(&fs::read(&memory).expect("memory file")).unwrap();
    assert_eq!(
        (u(&mem, "/batch_size"), u(&mem, "/parallel_min_edges")),
        chosen
    );

    // The next run starts converged at what was learned, and needs no update.
    let (v2, err) = run_hot(d, &["--batch-size", "auto"]);
    assert!(
        err.contains("batcher: resumed from results/batcher-"),
        "{err}"
    );
    let b2 = &v2["batcher"];
    assert_eq!(b2["from_memory"], true);
    assert_eq!(u(b2, "/updates_to_converge"), 0);
    assert_eq!(history(b2), vec![chosen; 3], "{b2}");

    // `spread` under auto runs what was learned, with the same result as one thread.
    let one = ok(
        d,
        &["spread", "-w", "hot-1k", "--seeds", "3,17,500", "--json"],
    );
    let two = ok(
        d,
        &[
            "spread",
            "-w",
            "hot-1k",
            "--seeds",
            "3,17,500",
            "--json",
            "--threads",
            "2",
        ],
    );
    assert_eq!(two.stdout, one.stdout);
    assert!(
        text(&two.stderr).contains(&format!(
            "batcher: batch {}, parallel ≥ {} edges, as learned in",
            chosen.0, chosen.1
        )),
        "{}",
        text(&two.stderr)
    );
}

#[test]
fn the_summary_says_what_the_batcher_did() {
    let t = tmp();
    let d = t.path();
    let base = [
        "run",
        "-w",
        "chain-64",
        "--spreads",
        "600",
        "--warmup",
        "0",
        "--predictor",
        "off",
        "--counters",
        "off",
    ];
    let line = |extra: &[&str]| -> String {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let out = text(&ok(d, &args).stdout);
        out.lines()
            .find(|l| l.starts_with("batcher "))
            .unwrap_or_else(|| panic!("no batcher line: {out}"))
            .to_string()
    };
    // chain-64's spreads are far too small to go parallel: the batcher keeps its start.
    assert_eq!(
        line(&["--threads", "2"]),
        "batcher       auto: batch 256, parallel ≥ 32768 edges, converged after 1 update (cold start)"
    );
    assert_eq!(
        line(&["--threads", "2"]),
        "batcher       auto: batch 256, parallel ≥ 32768 edges, converged after 0 updates (resumed)"
    );
    assert_eq!(
        line(&["--threads", "2", "--batcher", "off"]),
        "batcher       off (fixed batch size 256, parallel ≥ 32768 edges)"
    );
    assert_eq!(
        line(&["--threads", "2", "--batch-size", "64"]),
        "batcher       off (fixed batch size 64, parallel ≥ 32768 edges)"
    );
    assert_eq!(
        line(&["--threads", "1", "--batch-size", "auto"]),
        "batcher       off (1 thread)"
    );
    // Too few spreads for an update: not converged, nothing remembered.
    let t2 = tmp();
    let out = ok(
        t2.path(),
        &[
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "50",
            "--warmup",
            "0",
            "--threads",
            "2",
        ],
    );
    assert!(
        text(&out.stdout).contains("batcher       auto: batch 256, parallel ≥ 32768 edges, not converged (0 updates so far) (cold start)"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("batcher: not converged, so"));
    assert!(!memory_file(&t2.path().join("results")).exists());
}

#[test]
fn an_off_or_one_thread_run_has_a_fixed_config_and_no_memory() {
    let t = tmp();
    let d = t.path();
    for extra in [
        ["--threads", "2", "--batcher", "off"],
        ["--threads", "1", "--batch-size", "auto"],
    ] {
        let mut args = vec![
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "600",
            "--warmup",
            "0",
            "--json",
            "--quiet",
        ];
        args.extend_from_slice(&extra);
        let v: Value = serde_json::from_slice(&ok(d, &args).stdout).unwrap();
        assert!(v.get("batcher").is_none(), "{extra:?}");
        assert_eq!(u(&v, "/config/batch_size"), 256, "{extra:?}");
        assert_eq!(u(&v, "/config/parallel_min_edges"), 32768, "{extra:?}");
        assert!(settings(&v)[0]["label"]
            .as_str()
            .unwrap()
            .contains("batch=256"));
    }
    assert!(!memory_file(&d.join("results")).exists());
}

#[test]
fn bad_batch_values_exit_2_naming_the_flag_and_leave_nothing() {
    let t = tmp();
    let d = t.path();
    for (cmd, flags) in [
        ("run", ["--batch-size", "0"]),
        ("run", ["--batch-size", "abc"]),
        ("run", ["--batch-size", "auto,0"]),
        ("run", ["--batcher", "maybe"]),
        ("soak", ["--batch-size", "0"]),
        ("soak", ["--batch-size", "abc"]),
        ("soak", ["--batcher", "maybe"]),
        ("spread", ["--batch-size", "abc"]),
        ("spread", ["--batcher", "maybe"]),
    ] {
        let mut args = vec![cmd, "-w", "chain-64"];
        if cmd == "spread" {
            args.extend(["--seeds", "1"]);
        } else {
            args.extend(["--spreads", "10"]);
        }
        args.extend_from_slice(&flags);
        let out = sb(d).args(&args).output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        // clap's usage error: one `error:` line naming the flag and the value (then its
        // blank line and `--help` hint, as for every flag).
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {err}");
        assert!(errors[0].contains(flags[0]), "{args:?}: {err}");
        assert!(
            errors[0].contains(flags[1].rsplit(',').next().unwrap()),
            "{err}"
        );
        assert!(!d.join("results").exists(), "{args:?} left results/");
    }
}

/// A run that converges on `chain-64` (one update), so its memory is written.
fn converging_run(d: &Path) -> std::process::Output {
    sb(d)
        .args([
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "600",
            "--warmup",
            "0",
            "--threads",
            "2",
            "--predictor",
            "off",
            "--counters",
            "off",
            "--quiet",
        ])
        .output()
        .unwrap()
}

#[test]
fn a_corrupt_memory_is_a_warning_and_a_cold_start() {
    let t = tmp();
    let d = t.path();
    let memory = memory_file(&d.join("results"));
    fs::create_dir_all(memory.parent().unwrap()).unwrap();
    fs::write(&memory, "{\"batch_size\": 3").unwrap();
    let out = converging_run(d);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("spreadbench: warning: batcher: ignoring results/batcher-")
            && err.contains("not a batcher memory file")
            && err.trim_end().ends_with("; cold start"),
        "{err}"
    );
    // Replaced by what this run learned: the file is a cache.
    let mem: Value = serde_json::from_slice(&fs::read(&memory).unwrap()).unwrap();
    assert_eq!(u(&mem, "/batch_size"), 256);
}

#[test]
fn a_memory_that_is_a_symlink_or_a_directory_is_not_replaced() {
    // A symlink: its target is written, the link stays a link.
    let t = tmp();
    let d = t.path();
    let memory = memory_file(&d.join("results"));
    fs::create_dir_all(memory.parent().unwrap()).unwrap();
    let target = d.join("elsewhere.json");
    std::os::unix::fs::symlink(&target, &memory).unwrap();
    let out = converging_run(d);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(fs::symlink_metadata(&memory)
        .unwrap()
        .file_type()
        .is_symlink());
    let mem: Value = serde_json::from_slice(&fs::read(&target).unwrap()).unwrap();
    assert_eq!(u(&mem, "/batch_size"), 256);
    // And the next run resumes through it.
    let again = sb(d)
        .args([
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "10",
            "--warmup",
            "0",
            "--threads",
            "2",
            "--predictor",
            "off",
            "--counters",
            "off",
        ])
        .output()
        .unwrap();
    assert!(
        text(&again.stderr).contains("batcher: resumed from"),
        "{}",
        text(&again.stderr)
    );

    // A directory: refused by the writer, which is a warning — the results stand.
    let t = tmp();
    let d = t.path();
    let memory = memory_file(&d.join("results"));
    fs::create_dir_all(memory.join("inside")).unwrap();
    let out = converging_run(d);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("warning: batcher: ignoring"), "{err}");
    assert!(
        err.contains("spreadbench: warning: batcher: cannot write batcher memory"),
        "{err}"
    );
    assert!(memory.is_dir() && memory.join("inside").is_dir());
    let runs = fs::read_dir(d.join("results"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("-run-")
        })
        .count();
    assert_eq!(runs, 1, "the run's results were written");
}

#[test]
fn a_soak_keeps_learning_and_does_not_oscillate() {
    let t = tmp();
    let d = t.path();
    let out = ok(
        d,
        &[
            "soak",
            "-w",
            "warm-10k",
            "--spreads",
            "2500",
            "--warmup",
            "0",
            "--interval-spreads",
            "500",
            "--threads",
            "2",
            "--predictor",
            "off",
            "--counters",
            "off",
            "--max-p99-drift",
            "1000",
            "--max-stall-ratio",
            "100000",
            "--json",
            "--quiet",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = &v["batcher"];
    assert_eq!(b["converged"], true, "{b}");
    let updates = u(b, "/updates_to_converge") as usize;
    assert!((1..=3).contains(&updates), "{b}");
    let h = history(b);
    assert_eq!(h.len(), 5, "an update every 500 spreads: {b}");
    let chosen = (u(b, "/batch_size"), u(b, "/parallel_min_edges"));
    assert!(
        h[updates - 1..].iter().all(|s| *s == chosen),
        "once converged it holds: {b}"
    );
    assert!(v["config"].get("batch_size").is_none());
    assert!(memory_file(&d.join("results")).exists());
}
