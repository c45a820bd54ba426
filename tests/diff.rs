//! `spreadbench diff` and `compare` end to end: verdicts and exit codes on snapshots with
//! known changes, comparability, behaviour changes, bad input, and the output formats.

use assert_cmd::Command;
use serde_json::Value;
use spreadbench::measure::LatencyHistogram;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn bin() -> Command {
    Command::cargo_bin("spreadbench").expect("binary built")
}

/// One real snapshot (hot-1k, 4000 spreads), made once for the whole file.
fn base_snapshot() -> &'static Value {
    static SNAP: OnceLock<Value> = OnceLock::new();
    SNAP.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = bin()
            .current_dir(dir.path())
            .args([
                "run",
                "-w",
                "hot-1k",
                "--spreads",
                "4000",
                "--warmup",
                "200",
                "--threads",
                "1",
            ])
            .args(["--json", "--quiet", "--counters", "off"])
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("snapshot JSON")
    })
}

/// The snapshot with every latency sample multiplied by `factor` (histogram and summary).
fn scaled(s: &Value, factor: f64) -> Value {
    let h = LatencyHistogram::from_base64(s["latency_ns"]["hdr"].as_str().unwrap()).unwrap();
    let mut out = LatencyHistogram::new();
    for v in h.inner().iter_recorded() {
        let value = (h.inner().median_equivalent(v.value_iterated_to()) as f64 * factor) as u64;
        for _ in 0..v.count_at_value() {
            out.record(value);
        }
    }
    let mut s = s.clone();
    s["latency_ns"] = serde_json::to_value(out.summary().unwrap()).unwrap();
    s
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p
}

fn diff(base: &Path, new: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = bin()
        .arg("diff")
        .arg(base)
        .arg(new)
        .args(extra)
        .output()
        .expect("diff");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The snapshot with a fresh sample of `n` latencies from one lognormal distribution (median
/// 40 µs, σ = 0.3) times `factor`, seeded: two seeds give two independent samples of one
/// distribution.
fn sampled(s: &Value, seed: u64, n: u64, factor: f64) -> Value {
    let mut rng = spreadbench::rng::SeededRng::new(seed);
    let mut h = LatencyHistogram::new();
    for _ in 0..n {
        let z = spreadbench::report::stats::normal(&mut rng);
        h.record((40_000.0 * (0.3 * z).exp() * factor) as u64);
    }
    let mut s = s.clone();
    s["latency_ns"] = serde_json::to_value(h.summary().unwrap()).unwrap();
    s["spreads"] = Value::from(n);
    s
}

#[test]
fn two_samples_of_one_distribution_are_no_change() {
    let t = tempfile::tempdir().unwrap();
    let a = write(
        t.path(),
        "a.json",
        &sampled(base_snapshot(), 1, 20_000, 1.0),
    );
    let b = write(
        t.path(),
        "b.json",
        &sampled(base_snapshot(), 2, 20_000, 1.0),
    );
    let (code, out, err) = diff(&a, &b, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Verdict: no regression"), "{out}");
    assert!(out.contains("Behaviour: unchanged"), "{out}");
    assert_eq!(out.matches("within noise").count(), 3, "{out}");
}

#[test]
fn twenty_percent_slower_is_a_regression_exit_3() {
    let t = tempfile::tempdir().unwrap();
    let a = write(t.path(), "a.json", &sampled(base_snapshot(), 3, 4000, 1.0));
    let b = write(t.path(), "b.json", &sampled(base_snapshot(), 4, 4000, 1.2));
    let (code, out, err) = diff(&a, &b, &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("REGRESSION"), "{out}");
    assert!(err.contains("latency regression"), "{err}");
    let out = bin()
        .arg("diff")
        .arg(&a)
        .arg(&b)
        .args(["--format", "json", "--advisory"])
        .output()
        .unwrap();
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["regression"], true);
    assert_eq!(j["rows"][0]["metric"], "p50");
    for row in j["rows"].as_array().unwrap() {
        let f = |k: &str| row[k].as_f64().unwrap();
        assert!((f("ratio") - 1.2).abs() < 0.06, "{row}");
        assert!(f("ci_low") <= 1.2 && 1.2 <= f("ci_high"), "{row}");
        assert!(f("p") < 0.01, "{row}");
        assert_eq!(row["verdict"], "regression", "{row}");
    }
    // The reverse is an improvement, exit 0.
    let (code, out, _) = diff(&b, &a, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("improvement"), "{out}");
}

/// Reproducer: one request at 20 µs against one at 30 µs was a "significant" p95/p99
/// regression (p = 0.0005, interval [1.5, 1.5], exit 3).
#[test]
fn one_request_snapshots_are_insufficient_data() {
    let t = tempfile::tempdir().unwrap();
    let one = |ns: u64| {
        let mut h = LatencyHistogram::new();
        h.record(ns);
        let mut s = base_snapshot().clone();
        s["latency_ns"] = serde_json::to_value(h.summary().unwrap()).unwrap();
        s["spreads"] = Value::from(1);
        s
    };
    let a = write(t.path(), "a.json", &one(20_000));
    let b = write(t.path(), "b.json", &one(30_000));
    let (code, out, err) = diff(&a, &b, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("insufficient data").count(), 5, "{out}");
    assert!(!out.contains("REGRESSION"), "{out}");
}

/// Reproducer: the bootstrap p had a floor of 1/2000, so `--alpha 0.0005` turned the gate
/// off (a 2× slowdown exited 3 at 0.0006 and 0 at 0.0005, under a "100% interval" header).
#[test]
fn a_small_alpha_still_catches_a_2x_slowdown() {
    let t = tempfile::tempdir().unwrap();
    let a = write(t.path(), "a.json", base_snapshot());
    let b = write(t.path(), "b.json", &scaled(base_snapshot(), 2.0));
    for alpha in ["0.0006", "0.0005", "0.0001"] {
        let (code, out, err) = diff(&a, &b, &["--alpha", alpha, "--metrics", "p50"]);
        assert_eq!(code, 3, "α {alpha}: {out}{err}");
    }
    let (_, out, _) = diff(&a, &b, &["--alpha", "0.0001", "--metrics", "p50"]);
    assert!(out.contains("99.99% interval"), "{out}");
    let (code, _, err) = diff(&a, &b, &["--alpha", "0.00005"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--alpha") && err.contains("0.0001"), "{err}");
}

/// Reproducer: a snapshot whose stated figures disagreed with its own histogram was judged
/// on the histogram and printed with the stated figures.
#[test]
fn a_snapshot_that_disagrees_with_its_histogram_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let a = write(t.path(), "a.json", base_snapshot());
    for (field, path) in [
        ("latency_ns.count", "/latency_ns/count"),
        ("latency_ns.p50", "/latency_ns/p50"),
        ("spreads", "/spreads"),
    ] {
        let mut bad = base_snapshot().clone();
        let v = bad.pointer_mut(path).unwrap();
        *v = Value::from(v.as_u64().unwrap() + 7);
        let b = write(t.path(), "bad.json", &bad);
        let (code, out, err) = diff(&a, &b, &[]);
        assert_eq!(code, 2, "{field}: {out}{err}");
        assert!(err.contains("bad.json") && err.contains(field), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(out.is_empty());
    }
}

/// Reproducer: `diff a.json /dev/zero` read until memory ran out.
#[test]
fn an_endless_input_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let a = write(t.path(), "a.json", base_snapshot());
    let (code, out, err) = diff(&a, Path::new("/dev/zero"), &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("/dev/zero") && err.contains("larger than"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn runs_record_calibration_and_diff_can_divide_it_out() {
    let cal = &base_snapshot()["calibration"];
    assert!(cal["median_rep_ns"].as_f64().unwrap() > 0.0, "{cal}");
    // Reps before the measured phase and between its blocks (4000 spreads = 4 blocks).
    assert!(cal["reps"].as_u64().unwrap() >= 8 + 4 * 4, "{cal}");
    let t = tempfile::tempdir().unwrap();
    let a = write(t.path(), "a.json", base_snapshot());
    // A machine 20% slower on everything, the reference kernel included.
    let mut slow = scaled(base_snapshot(), 1.2);
    let rep = cal["median_rep_ns"].as_f64().unwrap();
    slow["calibration"]["median_rep_ns"] = Value::from(rep * 1.2);
    let b = write(t.path(), "b.json", &slow);
    let (code, _, _) = diff(&a, &b, &[]);
    assert_eq!(code, 3);
    let (code, out, err) = diff(&a, &b, &["--calibrate"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("divided by 1.200"), "{out}");
    assert!(!out.contains("REGRESSION"), "{out}");
    // The committed baseline predates calibration: it loads, and --calibrate names it.
    let baseline = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/baseline/warm-10k.json");
    let (code, _, err) = diff(&baseline, &baseline, &["--force"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = diff(&baseline, &a, &["--force", "--calibrate"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--calibrate")
            && err.contains("warm-10k.json")
            && err.contains("no calibration"),
        "{err}"
    );
}

/// Reproducer: run as root, `--export-bmf LINK` renamed a regular file over a symlink.
#[test]
fn advisory_reports_but_exits_0() {
    let t = tempfile::tempdir().unwrap();
    let a = write(t.path(), "a.json", base_snapshot());
    let b = write(t.path(), "b.json", &scaled(base_snapshot(), 1.2));
    let (code, out, _) = diff(&a, &b, &["--advisory", "--format", "markdown"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("| metric | base µs |") && out.contains("REGRESSION"),
        "{out}"
    );
}

#[test]
fn one_percent_stays_within_noise() {
    let t = tempfile::tempdir().unwrap();
    let a = write(t.path(), "a.json", base_snapshot());
    let b = write(t.path(), "b.json", &scaled(base_snapshot(), 1.01));
    let (code, out, err) = diff(&a, &b, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("REGRESSION"), "{out}");
    // A 20% shift inside a 30% noise band is within noise too.
    let c = write(t.path(), "c.json", &scaled(base_snapshot(), 1.2));
    let (code, out, _) = diff(&a, &c, &["--noise", "30"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn incomparable_snapshots_exit_2_naming_the_difference() {
    let t = tempfile::tempdir().unwrap();
    let a = write(t.path(), "a.json", base_snapshot());
    let mut other = base_snapshot().clone();
    other["workload"]["hash"] = Value::from("0123456789abcdef");
    let b = write(t.path(), "b.json", &other);
    let (code, out, err) = diff(&a, &b, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("not comparable") && err.contains("0123456789abcdef"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, out, _) = diff(&a, &b, &["--force"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("FORCED"), "{out}");

    let mut cfg = base_snapshot().clone();
    cfg["config"]["prefetch_distance"] = Value::from(0);
    let c = write(t.path(), "c.json", &cfg);
    let (code, _, err) = diff(&a, &c, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("config.prefetch_distance"), "{err}");

    let mut schema = base_snapshot().clone();
    schema["schema_version"] = Value::from("2.0.0");
    let d = write(t.path(), "d.json", &schema);
    let (code, _, err) = diff(&a, &d, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("schema major version"), "{err}");
}

#[test]
fn changed_work_is_a_behaviour_change() {
    let t = tempfile::tempdir().unwrap();
    let a = write(t.path(), "a.json", base_snapshot());
    let mut w = base_snapshot().clone();
    w["work"]["edges_relaxed_mean"] =
        Value::from(w["work"]["edges_relaxed_mean"].as_f64().unwrap() + 1.0);
    let b = write(t.path(), "b.json", &w);
    let (code, out, err) = diff(&a, &b, &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains("BEHAVIOUR CHANGE") && out.contains("work.edges_relaxed_mean"),
        "{out}"
    );
    assert!(err.contains("behaviour change"), "{err}");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let t = tempfile::tempdir().unwrap();
    let a = write(t.path(), "a.json", base_snapshot());
    let text = serde_json::to_string(base_snapshot()).unwrap();
    let truncated = t.path().join("trunc.json");
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let malformed = t.path().join("bad.json");
    std::fs::write(&malformed, "{\"schema_version\": \"1.0.0\",,}").unwrap();
    let other = t.path().join("other.json");
    std::fs::write(&other, "{\"hello\": 1}").unwrap();
    let mut nohdr = base_snapshot().clone();
    nohdr["latency_ns"]["hdr"] = Value::from("!!!");
    let nohdr = write(t.path(), "nohdr.json", &nohdr);
    let cases: [(&Path, &str); 5] = [
        (&truncated, "truncated JSON"),
        (&malformed, "malformed JSON"),
        (&other, "not a spreadbench snapshot"),
        (Path::new("/nonexistent/snap.json"), "cannot read"),
        (&nohdr, "latency_ns.hdr"),
    ];
    for (bad, want) in cases {
        let (code, out, err) = diff(&a, bad, &[]);
        assert_eq!(code, 2, "{}: {out}{err}", bad.display());
        assert!(err.contains(want), "{}: {err}", bad.display());
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(out.is_empty());
    }
    for flags in [
        &["--noise", "-1"][..],
        &["--alpha", "0"],
        &["--metrics", "p42"],
    ] {
        let (code, _, err) = diff(&a, &a, flags);
        assert_eq!(code, 2, "{flags:?}: {err}");
    }
}

#[test]
fn results_directories_and_bmf_export() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("run-a");
    std::fs::create_dir(&dir).unwrap();
    write(&dir, "snapshot.json", base_snapshot());
    let bmf = t.path().join("bmf.json");
    let out = bin()
        .arg("diff")
        .arg(&dir)
        .arg(&dir)
        .arg("--export-bmf")
        .arg(&bmf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&std::fs::read(&bmf).unwrap()).unwrap();
    let m = &j["hot-1k"]["latency_p50_ns"];
    let (v, lo, hi) = (
        m["value"].as_f64().unwrap(),
        m["lower_value"].as_f64().unwrap(),
        m["upper_value"].as_f64().unwrap(),
    );
    assert!(lo <= v && v <= hi, "{m}");
    assert_eq!(
        v as u64,
        base_snapshot()["latency_ns"]["p50"].as_u64().unwrap()
    );
}

/// A build against itself, in counterbalanced order (A B, then B A): never a regression;
/// "no change" (exit 0) or, at a cap this low, the documented inconclusive code 5.
#[test]
fn compare_runs_two_builds_alternately() {
    let me = assert_cmd::cargo::cargo_bin("spreadbench");
    let out = bin()
        .args(["compare", "--base-bin"])
        .arg(&me)
        .arg("--new-bin")
        .arg(&me)
        .args([
            "-w",
            "hot-1k",
            "--min-rounds",
            "2",
            "--max-rounds",
            "3",
            "--spreads-per-round",
            "500",
            "--warmup",
            "50",
            "--metrics",
            "p50,p95",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(code == Some(0) || code == Some(5), "{code:?}: {err}");
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rounds = j["sequential"]["rounds"].as_u64().unwrap();
    assert!((2..=3).contains(&rounds), "{j}");
    assert_eq!(j["mode"], format!("compare ({rounds} rounds)"));
    assert_eq!(j["base_spreads"], 500 * rounds);
    assert_eq!(j["regression"], false);
    assert_eq!(code == Some(5), j["inconclusive"] == true, "{j}");
    if code == Some(5) {
        assert!(err.contains("inconclusive after"), "{err}");
    }
    assert!(
        j["behaviour_changes"].as_array().unwrap().is_empty(),
        "same binary, same work"
    );
    // The order, from the progress lines: A B in round 1, B A in round 2.
    let order: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("round "))
        .take(4)
        .collect();
    assert_eq!(order.len(), 4, "{err}");
    for (line, want) in order
        .iter()
        .zip(["1/3: base", "1/3: new", "2/3: new", "2/3: base"])
    {
        assert!(
            line.starts_with(&format!("round {want} (")),
            "{line} vs {want}: {err}"
        );
    }
    assert!(err.contains("after round 2:"), "{err}");

    let out = bin()
        .args(["compare", "--base-bin", "/nonexistent/spreadbench"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--base-bin"));
    // Too few requests per round for p99 (a round needs 1,000), refused before any run.
    let out = bin()
        .args(["compare", "--base-bin"])
        .arg(&me)
        .args(["--spreads-per-round", "500"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("p99"));
    let out = bin()
        .args(["compare", "--base-bin"])
        .arg(&me)
        .args(["--min-rounds", "9", "--max-rounds", "8"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `compare --predictor off` runs both builds with `run --predictor off` (so that a large
/// workload's first round does not compute a cost profile per node first); by default it
/// passes no `--predictor` at all, so a build from before the flag can still be the base.
#[test]
fn compare_passes_predictor_off_to_both_builds_only_when_asked() {
    use std::os::unix::fs::PermissionsExt;
    let me = assert_cmd::cargo::cargo_bin("spreadbench");
    let t = tempfile::tempdir().unwrap();
    let log = t.path().join("args.log");
    // A base build that writes down how it was run, then runs.
    let base = t.path().join("base.sh");
    std::fs::write(
        &base,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            me.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (extra, want_off) in [(&[][..], false), (&["--predictor", "off"][..], true)] {
        let _ = std::fs::remove_file(&log);
        let out = bin()
            .args(["compare", "--base-bin"])
            .arg(&base)
            .args(["-w", "hot-1k", "--min-rounds", "2", "--max-rounds", "2"])
            .args(["--spreads-per-round", "1000", "--warmup", "10", "-q"])
            .args(extra)
            .output()
            .unwrap();
        let code = out.status.code();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(code == Some(0) || code == Some(5), "{code:?}: {err}");
        let runs = std::fs::read_to_string(&log).unwrap();
        assert_eq!(runs.lines().count(), 2, "one run a round: {runs}");
        for line in runs.lines() {
            assert!(line.starts_with("run "), "{line}");
            assert_eq!(
                line.contains("--predictor off"),
                want_off,
                "{extra:?}: {line}"
            );
            assert_eq!(line.contains("--predictor"), want_off, "{extra:?}: {line}");
        }
    }
}

/// SIGINT during `compare` reaches its child runs as well; compare must outlive them, remove
/// its scratch directory and exit 130 (it used to die at once, leaving
/// `/tmp/spreadbench-compare-PID` with the interrupted child's partial results in it).
#[test]
fn compare_interrupted_cleans_up_and_exits_130() {
    let me = assert_cmd::cargo::cargo_bin("spreadbench");
    let mut child = std::process::Command::new(&me)
        .args(["compare", "--base-bin"])
        .arg(&me)
        .arg("--new-bin")
        .arg(&me)
        .args(["-w", "hot-1k", "--max-rounds", "1000", "--quiet"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let scratch = std::env::temp_dir().join(format!(".spreadbench-compare-{}", child.id()));
    // Wait until a round has started (its scratch directory exists), then interrupt the
    // whole process group, as Ctrl-C does.
    let start = std::time::Instant::now();
    while !scratch.exists() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(scratch.exists(), "compare never started a round");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        !scratch.exists(),
        "scratch directory left behind: {}",
        scratch.display()
    );
}
