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
    s["latency_ns"] = serde_json::to_value(out.summary()).unwrap();
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

#[test]
fn a_snapshot_against_itself_is_no_change() {
    let t = tempfile::tempdir().unwrap();
    let a = write(t.path(), "a.json", base_snapshot());
    let (code, out, err) = diff(&a, &a, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Verdict: no regression"), "{out}");
    assert!(out.contains("Behaviour: unchanged"), "{out}");
    assert_eq!(out.matches("within noise").count(), 3, "{out}");
}

#[test]
fn twenty_percent_slower_is_a_regression_exit_3() {
    let t = tempfile::tempdir().unwrap();
    let a = write(t.path(), "a.json", base_snapshot());
    let b = write(t.path(), "b.json", &scaled(base_snapshot(), 1.2));
    let (code, out, err) = diff(&a, &b, &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("REGRESSION"), "{out}");
    assert!(err.contains("latency regression"), "{err}");
    let j: Value = serde_json::from_slice(
        &bin()
            .arg("diff")
            .arg(&a)
            .arg(&b)
            .args(["--format", "json", "--advisory"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(j["regression"], true);
    let p50 = &j["rows"][0];
    assert_eq!(p50["metric"], "p50");
    assert!((p50["ratio"].as_f64().unwrap() - 1.2).abs() < 0.01, "{p50}");
    assert!(p50["ci_low"].as_f64().unwrap() > 1.05 && p50["ci_high"].as_f64().unwrap() > 1.15);
    assert_eq!(p50["verdict"], "regression");
    // The reverse is an improvement, exit 0.
    let (code, out, _) = diff(&b, &a, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("improvement"), "{out}");
}

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
            "--rounds",
            "2",
            "--spreads-per-round",
            "500",
            "--warmup",
            "50",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["mode"], "compare (2 rounds)");
    assert_eq!(j["base_spreads"], 1000);
    assert!(
        j["behaviour_changes"].as_array().unwrap().is_empty(),
        "same binary, same work"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("round 1/2: base") && err.contains("round 2/2: new"),
        "{err}"
    );

    let out = bin()
        .args(["compare", "--base-bin", "/nonexistent/spreadbench"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--base-bin"));
}
