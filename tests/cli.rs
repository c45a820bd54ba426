//! End-to-end tests of the `spreadbench` binary: every command, its output formats, the
//! results directory, and the error paths (exit codes and one-line messages).
//!
//! Every command runs with its working directory in a fresh temp dir, so `results/` and any
//! generated files land there. Workloads are small (`hot-1k`, `chain-64`, a tiny TOML) and
//! runs are short (`--spreads 200 --warmup 20`): the binary under test is a debug build.

use predicates::prelude::*;
use serde_json::Value;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;

mod common;
use common::{entries, f, ok, ok_json, ok_stdout, s, sb, text, tmp, u};

const SPREADS: u64 = 200;
const WARMUP: u64 = 20;

/// A tiny workload spec: 50 nodes, all hot, short default run.
const TINY_TOML: &str = r#"name = "tiny"
description = "50-node test workload"
seed = 5

[graph]
generator = "barabasi-albert"
nodes = 50
m = 2

[tiers]
shares = { hot = 1.0, warm = 0.0, cold = 0.0 }

[run]
spreads = 100
warmup = 10
"#;

/// The smallest valid spec; error cases append to it.
const MINIMAL_TOML: &str = "name = \"t\"\n[graph]\ngenerator = \"chain\"\nnodes = 5\n";

const RUNS_CSV_HEADER: &str = "started_at,command,workload,workload_hash,git_rev,spreads,p50_ns,\
p90_ns,p95_ns,p99_ns,p999_ns,max_ns,mean_ns,throughput_per_s,nodes_activated_mean,\
edges_relaxed_mean,results_dir";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `run --json --quiet` on a small workload; extra args are appended.
fn run_json(dir: &Path, extra: &[&str]) -> Value {
    let spreads = SPREADS.to_string();
    let warmup = WARMUP.to_string();
    let mut args = vec![
        "run",
        "--spreads",
        &spreads,
        "--warmup",
        &warmup,
        "--json",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    ok_json(dir, &args)
}

/// Requires exit `code`, an empty stdout and exactly one stderr line starting with
/// `spreadbench: error:` that contains every needle; returns that line.
fn fails_with(dir: &Path, args: &[&str], code: i32, needles: &[&str]) -> String {
    let out = sb(dir).args(args).output().expect("run spreadbench");
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "spreadbench {args:?}: expected exit {code}\nstderr:\n{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "spreadbench {args:?}: stdout should be empty on error, got:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "spreadbench {args:?}: expected exactly one stderr line, got:\n{stderr}"
    );
    assert!(
        stderr.ends_with('\n'),
        "stderr line is not terminated: {stderr:?}"
    );
    let line = lines[0];
    assert!(
        line.starts_with("spreadbench: error: "),
        "spreadbench {args:?}: bad error prefix: {line}"
    );
    for n in needles {
        assert!(
            line.contains(n),
            "spreadbench {args:?}: error should mention {n:?}: {line}"
        );
    }
    line.to_string()
}

/// Bad input: exit 2, one line.
fn bad_input(dir: &Path, args: &[&str], needles: &[&str]) -> String {
    fails_with(dir, args, 2, needles)
}

/// A `run` that must fail with bad input and leave no `results/` at all.
fn bad_run(dir: &Path, args: &[&str], needles: &[&str]) -> String {
    let mut full = vec!["run", "--spreads", "10", "--warmup", "1"];
    full.extend_from_slice(args);
    let line = bad_input(dir, &full, needles);
    assert!(
        !dir.join("results").exists(),
        "{full:?} failed but left a results directory behind"
    );
    line
}

/// A clap usage error: exit 2, stderr starting with `error:`, nothing on stdout.
fn usage_error(dir: &Path, args: &[&str], needle: &str) {
    let out = sb(dir).args(args).output().expect("run spreadbench");
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "spreadbench {args:?}: expected exit 2\nstderr:\n{stderr}"
    );
    assert!(out.stdout.is_empty(), "usage error printed on stdout");
    assert!(
        stderr.starts_with("error: "),
        "usage error should start with clap's `error:`: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "usage error should mention {needle:?}: {stderr}"
    );
    assert!(
        !dir.join("results").exists(),
        "usage error left a results directory"
    );
}

/// The run directories under `results/` (every subdirectory).
fn run_dirs(dir: &Path) -> Vec<PathBuf> {
    let root = dir.join("results");
    let mut v: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, content).unwrap();
    p
}

fn is_match(re: &str, line: &str) -> bool {
    predicate::str::is_match(re).unwrap().eval(line)
}

// ---------------------------------------------------------------------------------------------
// 1. run: summary, results directory, runs.csv
// ---------------------------------------------------------------------------------------------

#[test]
fn run_writes_summary_results_dir_and_runs_csv() {
    let t = tmp();
    let d = t.path();
    let out = ok_stdout(
        d,
        &["run", "-w", "hot-1k", "--spreads", "200", "--warmup", "20"],
    );
    for word in [
        "p50",
        "p90",
        "p95",
        "p99",
        "p99.9",
        "max",
        "throughput",
        "work/spread",
    ] {
        assert!(out.contains(word), "summary lacks {word:?}:\n{out}");
    }
    assert!(out.contains("workload hot-1k (1000 nodes"), "{out}");
    assert!(
        out.contains("measured 200 spreads per setting after 20 warm-up"),
        "{out}"
    );
    let results_lines: Vec<&str> = out.lines().filter(|l| l.starts_with("results: ")).collect();
    assert_eq!(results_lines.len(), 1, "{out}");

    let dirs = run_dirs(d);
    assert_eq!(dirs.len(), 1, "{:?}", entries(&d.join("results")));
    let run_dir = &dirs[0];
    let name = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        is_match(r"^\d{8}T\d{6}Z-run-hot-1k$", &name),
        "unexpected run directory name {name}"
    );
    // The printed path is the directory that was created.
    let printed = results_lines[0].trim_start_matches("results: ");
    assert_eq!(d.join(printed), *run_dir);
    assert_eq!(entries(run_dir), ["latency.hgrm", "snapshot.json"]);
    let snap: Value =
        serde_json::from_slice(&fs::read(run_dir.join("snapshot.json")).unwrap()).unwrap();
    assert_eq!(u(&snap, "/spreads"), 200);
    assert_eq!(u(&snap, "/warmup"), 20);

    let csv_path = d.join("results/runs.csv");
    let csv = fs::read_to_string(&csv_path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "header + one row expected:\n{csv}");
    assert_eq!(lines[0], RUNS_CSV_HEADER);
    let cols: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(
        cols.len(),
        RUNS_CSV_HEADER.split(',').count(),
        "{}",
        lines[1]
    );
    assert_eq!(cols[1], "run");
    assert_eq!(cols[2], "hot-1k");
    assert_eq!(cols[3], s(&snap, "/workload/hash"));
    assert_eq!(cols[5], "200");
    assert_eq!(cols[6], u(&snap, "/latency_ns/p50").to_string());
    assert_eq!(d.join(cols[16]), *run_dir, "results_dir column");

    // A second run appends one row (no second header) and adds a second directory.
    ok(
        d,
        &[
            "run",
            "-w",
            "hot-1k",
            "--spreads",
            "200",
            "--warmup",
            "20",
            "--quiet",
        ],
    );
    let csv = fs::read_to_string(&csv_path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "header + two rows expected:\n{csv}");
    assert_eq!(
        lines.iter().filter(|l| **l == RUNS_CSV_HEADER).count(),
        1,
        "{csv}"
    );
    assert!(lines[2].contains(",run,hot-1k,"), "{csv}");
    let dirs = run_dirs(d);
    assert_eq!(dirs.len(), 2, "{:?}", entries(&d.join("results")));
    assert_ne!(dirs[0], dirs[1]);
    for dir in &dirs {
        assert_eq!(entries(dir), ["latency.hgrm", "snapshot.json"]);
    }

    // Nothing else in results/: no leftover hidden temp directories or files.
    let all = entries(&d.join("results"));
    assert!(
        all.iter().all(|n| !n.starts_with('.')),
        "leftover hidden entries in results/: {all:?}"
    );
    // The two runs, runs.csv, and the predictor's cost-profile cache.
    let runs: Vec<_> = all
        .iter()
        .filter(|n| !n.starts_with("cost-profile-"))
        .collect();
    assert_eq!(runs.len(), 3, "{all:?}");
}

#[test]
fn run_out_sets_the_results_root() {
    let t = tmp();
    let d = t.path();
    let out = ok_stdout(
        d,
        &[
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "50",
            "--warmup",
            "0",
            "--out",
            "elsewhere",
        ],
    );
    assert!(!d.join("results").exists());
    assert!(out.contains("results: elsewhere"), "{out}");
    let csv = fs::read_to_string(d.join("elsewhere/runs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
}

#[test]
fn run_json_without_quiet_reports_results_dir_on_stderr() {
    let t = tmp();
    let d = t.path();
    let out = ok(
        d,
        &[
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "50",
            "--warmup",
            "5",
            "--json",
        ],
    );
    let stdout = text(&out.stdout);
    let _: Value = serde_json::from_str(&stdout).expect("stdout is only the JSON document");
    let stderr = text(&out.stderr);
    assert!(
        stderr.lines().any(|l| l.starts_with("results: results/")),
        "{stderr}"
    );
    assert!(!stdout.contains("results: "));
}

// ---------------------------------------------------------------------------------------------
// 2. run --json --quiet: the snapshot schema
// ---------------------------------------------------------------------------------------------

#[test]
fn run_json_snapshot_has_every_required_field() {
    let t = tmp();
    let d = t.path();
    let out = ok(
        d,
        &[
            "run",
            "-w",
            "hot-1k",
            "--spreads",
            "200",
            "--warmup",
            "20",
            "--json",
            "--quiet",
        ],
    );
    assert!(
        out.stderr.is_empty(),
        "--quiet printed on stderr: {}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let j: Value = serde_json::from_str(&stdout).expect("stdout parses as JSON");

    assert_eq!(s(&j, "/schema_version"), "1.2.0");
    assert_eq!(s(&j, "/tool/name"), "spreadbench");
    assert_eq!(s(&j, "/tool/version"), env!("CARGO_PKG_VERSION"));
    assert!(!s(&j, "/tool/git_rev").is_empty());
    assert_eq!(s(&j, "/command"), "run");
    assert!(
        is_match(
            r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
            s(&j, "/started_at")
        ),
        "started_at is not RFC 3339: {}",
        s(&j, "/started_at")
    );
    let host = j.get("host").and_then(Value::as_object).expect("host");
    for key in ["cpu", "cores", "os", "kernel", "perf_event_paranoid"] {
        assert!(host.contains_key(key), "host.{key} missing: {host:?}");
    }
    assert!(u(&j, "/host/cores") >= 1);
    assert!(j["host"]["cpu"].is_string() && j["host"]["os"].is_string());
    assert!(j["host"]["kernel"].is_string());
    assert!(
        j["host"]["perf_event_paranoid"].is_null() || j["host"]["perf_event_paranoid"].is_i64()
    );

    assert_eq!(s(&j, "/workload/name"), "hot-1k");
    assert!(
        is_match(r"^[0-9a-f]{16}$", s(&j, "/workload/hash")),
        "{}",
        s(&j, "/workload/hash")
    );
    assert_eq!(u(&j, "/workload/nodes"), 1000);
    assert!(u(&j, "/workload/edges") > 0);
    assert_eq!(s(&j, "/workload/generator"), "barabasi-albert");
    assert!(j["config"].is_object(), "config: {}", j["config"]);
    assert_eq!(u(&j, "/spreads"), SPREADS);
    assert_eq!(u(&j, "/warmup"), WARMUP);

    let lat = j["latency_ns"].as_object().expect("latency_ns");
    for key in [
        "min", "p50", "p90", "p95", "p99", "p999", "max", "mean", "stdev", "count", "hdr",
    ] {
        assert!(lat.contains_key(key), "latency_ns.{key} missing");
    }
    assert_eq!(u(&j, "/latency_ns/count"), SPREADS);
    let chain: Vec<u64> = ["min", "p50", "p90", "p95", "p99", "p999", "max"]
        .iter()
        .map(|k| u(&j, &format!("/latency_ns/{k}")))
        .collect();
    assert!(
        chain.windows(2).all(|w| w[0] <= w[1]),
        "latency percentiles not ordered: {chain:?}"
    );
    assert!(chain[0] > 0, "a spread cannot take 0 ns");
    let mean = f(&j, "/latency_ns/mean");
    assert!(
        mean >= chain[0] as f64 && mean <= chain[6] as f64,
        "mean {mean}"
    );
    assert!(f(&j, "/latency_ns/stdev") >= 0.0);
    assert!(f(&j, "/throughput_per_s") > 0.0);

    for key in [
        "nodes_activated_mean",
        "nodes_activated_p95",
        "edges_relaxed_mean",
        "hops_mean",
        "rejected_mean",
        "cycle_penalties_mean",
    ] {
        assert!(
            j["work"].get(key).is_some_and(Value::is_number),
            "work.{key} missing: {}",
            j["work"]
        );
    }
    assert!(f(&j, "/work/nodes_activated_mean") > 0.0);
    assert_eq!(
        j["partial"],
        Value::Bool(false),
        "a complete run is not partial"
    );
    assert!(j.get("partial_reason").is_none());
    assert!(j["fallback"].is_u64());

    // The embedded histogram is the full distribution.
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s(&j, "/latency_ns/hdr"))
        .expect("hdr is base64");
    let h: hdrhistogram::Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .expect("hdr is an HdrHistogram encoding");
    assert_eq!(h.len(), SPREADS);
    assert_eq!(h.min(), chain[0]);
    assert_eq!(h.max(), chain[6]);
    assert_eq!(h.value_at_quantile(0.5), chain[1]);

    // snapshot.json holds the same document.
    let dirs = run_dirs(d);
    assert_eq!(dirs.len(), 1);
    let on_disk: Value =
        serde_json::from_slice(&fs::read(dirs[0].join("snapshot.json")).unwrap()).unwrap();
    assert_eq!(on_disk, j);
}

// ---------------------------------------------------------------------------------------------
// 3. latency.hgrm format
// ---------------------------------------------------------------------------------------------

#[test]
fn latency_hgrm_is_hdrhistogram_percentile_text() {
    let t = tmp();
    let d = t.path();
    let j = run_json(d, &["-w", "hot-1k"]);
    let dirs = run_dirs(d);
    assert_eq!(dirs.len(), 1);
    let hgrm = fs::read_to_string(dirs[0].join("latency.hgrm")).unwrap();
    assert!(hgrm.ends_with('\n'));
    let lines: Vec<&str> = hgrm.lines().collect();

    // Header exactly as HdrHistogram writes it ("%12s %14s %10s %14s"), then a blank line.
    assert_eq!(
        lines[0],
        "       Value     Percentile TotalCount 1/(1-Percentile)"
    );
    assert_eq!(lines[1], "");

    let footer_at = lines
        .iter()
        .position(|l| l.starts_with('#'))
        .expect("footer present");
    assert_eq!(
        footer_at + 3,
        lines.len(),
        "three footer lines end the file"
    );
    let rows = &lines[2..footer_at];
    assert!(rows.len() >= 5, "too few data rows:\n{hgrm}");

    // "%12.3f %2.12f %10d %14.2f"; the last row (percentile 1.0) has no fourth column.
    let four = r"^[ \d]{7}\d\.\d{3} [01]\.\d{12} [ \d]{9}\d [ \d]{10}\d\.\d{2}$";
    let three = r"^[ \d]{7}\d\.\d{3} 1\.000000000000 [ \d]{9}\d$";
    let (last, body) = rows.split_last().unwrap();
    for row in body {
        assert!(is_match(four, row), "bad data row {row:?}");
    }
    assert!(is_match(three, last), "bad last row {last:?}");

    let mut prev_count = 0u64;
    let mut prev_q = 0.0f64;
    let mut prev_value = 0.0f64;
    for row in rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let value: f64 = cols[0].parse().unwrap();
        let q: f64 = cols[1].parse().unwrap();
        let count: u64 = cols[2].parse().unwrap();
        assert!((0.0..=1.0).contains(&q), "percentile {q} out of range");
        assert!(q >= prev_q, "percentile went down: {row}");
        assert!(count >= prev_count, "TotalCount went down: {row}");
        assert!(value >= prev_value, "Value went down: {row}");
        if cols.len() == 4 {
            let inv: f64 = cols[3].parse().unwrap();
            assert!(
                (inv - 1.0 / (1.0 - q)).abs() <= 0.01 * inv.max(1.0),
                "1/(1-Percentile) column wrong: {row}"
            );
        }
        prev_count = count;
        prev_q = q;
        prev_value = value;
    }
    assert_eq!(prev_count, SPREADS, "TotalCount ends at the spread count");
    assert_eq!(prev_q, 1.0);
    let first_q: f64 = rows[0].split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(first_q, 0.0);

    let num = r"[ \d]{7}\d\.\d{3}";
    let int = r"[ \d]{11}\d";
    let mean_re = format!(r"^#\[Mean    = {num}, StdDeviation   = {num}\]$");
    let max_re = format!(r"^#\[Max     = {num}, Total count    = {int}\]$");
    let buckets_re = format!(r"^#\[Buckets = {int}, SubBuckets     = {int}\]$");
    let (mean_l, max_l, buckets_l) = (lines[footer_at], lines[footer_at + 1], lines[footer_at + 2]);
    assert!(is_match(&mean_re, mean_l), "{mean_l:?}");
    assert!(is_match(&max_re, max_l), "{max_l:?}");
    assert!(is_match(&buckets_re, buckets_l), "{buckets_l:?}");

    let field = |line: &str, i: usize| -> String {
        line.trim_start_matches("#[")
            .trim_end_matches(']')
            .split(',')
            .nth(i)
            .unwrap()
            .split('=')
            .nth(1)
            .unwrap()
            .trim()
            .to_string()
    };
    // Values are in microseconds (ns / 1000), consistent with the snapshot.
    let mean_us: f64 = field(mean_l, 0).parse().unwrap();
    assert!(
        (mean_us - f(&j, "/latency_ns/mean") / 1000.0).abs() <= 0.0015,
        "footer mean {mean_us} vs snapshot {}",
        f(&j, "/latency_ns/mean")
    );
    assert_eq!(field(max_l, 1), SPREADS.to_string(), "Total count");
    // The max line repeats the last row's value (highest equivalent value of the max).
    assert_eq!(field(max_l, 0), last.split_whitespace().next().unwrap());
    let max_us: f64 = field(max_l, 0).parse().unwrap();
    let max_ns = u(&j, "/latency_ns/max") as f64;
    assert!(
        max_us * 1000.0 >= max_ns - 1.0 && max_us * 1000.0 <= max_ns * 1.001 + 1.0,
        "footer max {max_us} µs vs snapshot max {max_ns} ns"
    );
    assert_eq!(
        field(buckets_l, 1),
        "2048",
        "3 significant digits → 2048 sub-buckets"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Determinism
// ---------------------------------------------------------------------------------------------

#[test]
fn run_is_deterministic_for_a_workload_and_seed() {
    let t = tmp();
    let d = t.path();
    let a = run_json(d, &["-w", "hot-1k"]);
    let b = run_json(d, &["-w", "hot-1k"]);
    assert_eq!(a["workload"]["hash"], b["workload"]["hash"]);
    assert_eq!(a["work"], b["work"], "work counters must be deterministic");
    assert_eq!(a["workload"]["edges"], b["workload"]["edges"]);

    // Prefetching changes speed, never results.
    let p = run_json(d, &["-w", "hot-1k", "--prefetch-distance", "0"]);
    assert_eq!(a["workload"]["hash"], p["workload"]["hash"]);
    assert_eq!(a["work"], p["work"]);

    // Another seed is another workload.
    let c = run_json(d, &["-w", "hot-1k", "--seed", "9"]);
    assert_ne!(a["workload"]["hash"], c["workload"]["hash"]);
    assert_eq!(u(&c, "/workload/seed"), 9);
    // The built-in's own seed (7) given explicitly is the same workload.
    let e = run_json(d, &["-w", "hot-1k", "--seed", "7"]);
    assert_eq!(a["workload"]["hash"], e["workload"]["hash"]);
}

// ---------------------------------------------------------------------------------------------
// 5. spread
// ---------------------------------------------------------------------------------------------

fn nodes(j: &Value) -> &Vec<Value> {
    j["nodes"].as_array().expect("nodes array")
}

#[test]
fn spread_json_is_ranked_complete_and_reproducible() {
    let t = tmp();
    let d = t.path();
    let args = ["spread", "--seeds", "0,5", "--json", "-w", "hot-1k"];
    let first = ok_stdout(d, &args);
    let second = ok_stdout(d, &args);
    assert_eq!(first, second, "spread output must be byte-identical");
    assert!(!d.join("results").exists(), "spread writes no results");

    let j: Value = serde_json::from_str(&first).unwrap();
    assert!(j["config"].is_object());
    assert_eq!(u(&j, "/config/max_depth"), 3);
    let seeds = j["seeds"].as_array().expect("seeds");
    let seed_ids: Vec<u64> = seeds.iter().map(|s| u(s, "/node")).collect();
    assert_eq!(seed_ids, [0, 5]);
    assert!(seeds.iter().all(|s| f(s, "/activation") == 1.0));
    for key in [
        "hops",
        "edges_relaxed",
        "nodes_activated",
        "rejected",
        "cycle_penalties",
    ] {
        assert!(j["work"][key].is_u64(), "work.{key}: {}", j["work"]);
    }

    let ns = nodes(&j);
    assert!(ns.len() > 2);
    assert_eq!(u(&j, "/work/nodes_activated"), ns.len() as u64);
    for n in ns {
        for key in ["id", "activation", "confidence", "hop", "tier"] {
            assert!(n.get(key).is_some(), "node lacks {key}: {n}");
        }
        let a = f(n, "/activation");
        assert!(a > 0.0 && a <= 1.0, "activation {a}");
        let c = f(n, "/confidence");
        assert!((0.0..=1.0).contains(&c), "confidence {c}");
        assert!(u(n, "/id") < 1000);
        assert!(u(n, "/hop") <= 3);
        assert_eq!(s(n, "/tier"), "hot", "hot-1k is all hot");
    }
    for w in ns.windows(2) {
        let (a0, a1) = (f(&w[0], "/activation"), f(&w[1], "/activation"));
        let (i0, i1) = (u(&w[0], "/id"), u(&w[1], "/id"));
        assert!(
            a0 > a1 || (a0 == a1 && i0 < i1),
            "not ranked by activation desc, id asc: {} then {}",
            w[0],
            w[1]
        );
    }
    let ids: std::collections::HashSet<u64> = ns.iter().map(|n| u(n, "/id")).collect();
    assert_eq!(ids.len(), ns.len(), "a node listed twice");
    let hop0: Vec<u64> = ns
        .iter()
        .filter(|n| u(n, "/hop") == 0)
        .map(|n| u(n, "/id"))
        .collect();
    let mut hop0_sorted = hop0.clone();
    hop0_sorted.sort();
    assert_eq!(hop0_sorted, [0, 5], "exactly the seeds are at hop 0");

    // --top 3: the three best of the full ranking; work is unchanged.
    let top = ok_json(
        d,
        &[
            "spread", "--seeds", "0,5", "--json", "-w", "hot-1k", "--top", "3",
        ],
    );
    assert_eq!(nodes(&top).len(), 3);
    assert_eq!(nodes(&top)[..], ns[..3]);
    assert_eq!(u(&top, "/config/top_k"), 3);

    // --depth 1: nothing beyond one hop.
    let shallow = ok_json(
        d,
        &[
            "spread", "--seeds", "0,5", "--json", "-w", "hot-1k", "--depth", "1",
        ],
    );
    assert_eq!(u(&shallow, "/config/max_depth"), 1);
    assert!(nodes(&shallow).iter().all(|n| u(n, "/hop") <= 1));
    assert!(nodes(&shallow).iter().any(|n| u(n, "/hop") == 1));
    assert!(u(&shallow, "/work/hops") <= 1);
    assert!(nodes(&shallow).len() < ns.len());
}

#[test]
fn spread_seed_activation_and_chain_by_hand() {
    let t = tmp();
    let d = t.path();
    // chain-64: 0 → 1 → … with weight 1 and linear decay 0.1; depth 8.
    let j = ok_json(
        d,
        &["spread", "-w", "chain-64", "--seeds", "10:0.5", "--json"],
    );
    assert_eq!(f(&j, "/seeds/0/activation"), 0.5);
    let ns = nodes(&j);
    assert_eq!(u(&ns[0], "/id"), 10);
    assert_eq!(f(&ns[0], "/activation"), 0.5);
    // By hand: all hot (θ 0.01, κ 1), weight 1, D(d) = 1 − 0.1·d, so node 10 + d gets
    // Δ(d−1) · D(d): 0.5 · 0.9 = 0.45, · 0.8 = 0.36, · 0.7 = 0.252, · 0.6 = 0.1512,
    // · 0.5 = 0.0756, · 0.4 = 0.03024; at hop 7 node 17 would get 0.03024 · 0.3 = 0.009072
    // < θ 0.01: rejected, and the spread ends with an empty frontier after 7 hops.
    let expected = [0.5, 0.45, 0.36, 0.252, 0.1512, 0.0756, 0.03024];
    assert_eq!(ns.len(), expected.len(), "{ns:?}");
    for (n, want) in ns.iter().zip(expected) {
        let id = u(n, "/id");
        let hop = id - 10;
        assert_eq!(u(n, "/hop"), hop);
        assert!(
            (f(n, "/activation") - want).abs() < 1e-9,
            "node {id}: {} vs {want}",
            f(n, "/activation")
        );
        assert!((f(n, "/confidence") - want).abs() < 1e-9);
        assert_eq!(n["tier"], "hot");
    }
    // Ranked by activation, which falls along the chain: ids 10, 11, …, 16 in order.
    let ids: Vec<u64> = ns.iter().map(|n| u(n, "/id")).collect();
    assert_eq!(ids, (10..=16).collect::<Vec<u64>>());
    assert_eq!(u(&j, "/work/hops"), 7);
    assert_eq!(u(&j, "/work/nodes_activated"), 7);
    assert_eq!(u(&j, "/work/edges_relaxed"), 7);
    assert_eq!(u(&j, "/work/rejected"), 1);
    assert_eq!(u(&j, "/work/cycle_penalties"), 0);
}

#[test]
fn spread_table_has_header_rows_and_work_line() {
    let t = tmp();
    let d = t.path();
    let out = ok_stdout(
        d,
        &["spread", "--seeds", "0,5", "-w", "hot-1k", "--top", "5"],
    );
    let lines: Vec<&str> = out.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["rank", "id", "activation", "confidence", "hop", "tier"]
    );
    for (i, row) in lines[1..6].iter().enumerate() {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols.len(), 6, "{row}");
        assert_eq!(cols[0], (i + 1).to_string());
        assert_eq!(cols[5], "hot");
    }
    assert_eq!(lines[6], "");
    assert!(lines[7].starts_with("work: "), "{out}");
    assert!(lines[7].contains("edges relaxed"), "{out}");
    assert_eq!(lines.len(), 8, "{out}");
}

// ---------------------------------------------------------------------------------------------
// 6. gen and --graph round trips
// ---------------------------------------------------------------------------------------------

#[test]
fn gen_sbg_and_csv_round_trip_through_spread_and_run() {
    let t = tmp();
    let d = t.path();
    let spread = ["spread", "-w", "hot-1k", "--seeds", "0", "--json"];
    let reference = ok_json(d, &spread);

    // .sbg
    let out = ok_stdout(d, &["gen", "-w", "hot-1k", "--out", "g.sbg"]);
    assert!(out.starts_with("wrote g.sbg (sbg, 1000 nodes, "), "{out}");
    let bytes = fs::read(d.join("g.sbg")).unwrap();
    assert_eq!(&bytes[..8], b"SPRDGRPH");
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 1);
    let from_sbg = ok_json(d, &[&spread[..], &["--graph", "g.sbg"]].concat());
    assert_eq!(from_sbg["nodes"], reference["nodes"]);
    assert_eq!(from_sbg["work"], reference["work"]);

    // CSV
    let out = ok_stdout(d, &["gen", "-w", "hot-1k", "--out", "g.csv"]);
    assert!(out.starts_with("wrote g.csv (csv, 1000 nodes, "), "{out}");
    assert!(out.contains("wrote g.csv.nodes.csv"), "{out}");
    let csv = fs::read_to_string(d.join("g.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("src,dst,weight,type"));
    let nodes_csv = fs::read_to_string(d.join("g.csv.nodes.csv")).unwrap();
    assert_eq!(nodes_csv.lines().next(), Some("id,tier"));
    assert_eq!(nodes_csv.lines().count(), 1001);
    let from_csv = ok_json(d, &[&spread[..], &["--graph", "g.csv"]].concat());
    assert_eq!(from_csv["nodes"], reference["nodes"]);
    assert_eq!(from_csv["work"], reference["work"]);

    // gen leaves exactly its outputs (no temp files).
    assert_eq!(entries(d), ["g.csv", "g.csv.nodes.csv", "g.sbg"]);

    // run: the loaded graph is the same workload.
    let generated = run_json(d, &["-w", "hot-1k"]);
    let loaded = run_json(d, &["-w", "hot-1k", "--graph", "g.sbg"]);
    let loaded_csv = run_json(d, &["-w", "hot-1k", "--graph", "g.csv"]);
    assert_eq!(generated["workload"]["hash"], loaded["workload"]["hash"]);
    assert_eq!(
        generated["workload"]["hash"],
        loaded_csv["workload"]["hash"]
    );
    assert_eq!(generated["work"], loaded["work"]);
    assert_eq!(s(&loaded, "/workload/generator"), "file");
    assert_eq!(s(&loaded, "/workload/graph_file"), "g.sbg");
    assert_eq!(
        csv.lines().count() as u64 - 1,
        u(&generated, "/workload/edges")
    );
}

#[test]
fn gen_format_flag_and_magic_detection() {
    let t = tmp();
    let d = t.path();
    // --format overrides the extension; a .sbg without the extension is found by its magic.
    ok(
        d,
        &[
            "gen",
            "-w",
            "chain-64",
            "--out",
            "graph.bin",
            "--format",
            "sbg",
        ],
    );
    assert_eq!(&fs::read(d.join("graph.bin")).unwrap()[..8], b"SPRDGRPH");
    let a = ok_json(d, &["spread", "-w", "chain-64", "--seeds", "3", "--json"]);
    let b = ok_json(
        d,
        &[
            "spread",
            "-w",
            "chain-64",
            "--seeds",
            "3",
            "--json",
            "--graph",
            "graph.bin",
        ],
    );
    assert_eq!(a["nodes"], b["nodes"]);

    ok(
        d,
        &[
            "gen",
            "-w",
            "chain-64",
            "--out",
            "edges.txt",
            "--format",
            "csv",
        ],
    );
    let csv = fs::read_to_string(d.join("edges.txt")).unwrap();
    assert_eq!(csv.lines().next(), Some("src,dst,weight,type"));
    assert_eq!(csv.lines().count(), 64, "63 chain edges + header");
    assert!(d.join("edges.txt.nodes.csv").exists());
}

// ---------------------------------------------------------------------------------------------
// 7. CSV import with string ids
// ---------------------------------------------------------------------------------------------

const PEOPLE_CSV: &str = "src,dst,weight,type\n\
alice,bob,0.5,excitatory\n\
bob,carol,0.5,excitatory\n\
carol,dave,1,modulatory\n\
erin,frank,0.25,inhibitory\n";

#[test]
fn csv_with_string_ids_and_undirected() {
    let t = tmp();
    let d = t.path();
    write(d, "people.csv", PEOPLE_CSV);

    // Ids are numbered in first-appearance order: alice 0, bob 1, carol 2, dave 3, erin 4,
    // frank 5. The table shows the labels.
    let out = ok_stdout(
        d,
        &[
            "spread",
            "--graph",
            "people.csv",
            "--undirected",
            "--seeds",
            "0",
            "-w",
            "hot-1k",
        ],
    );
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header.last(), Some(&"label"), "{out}");
    let first: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(first[1], "0");
    assert_eq!(first.last(), Some(&"alice"), "{out}");
    assert!(out.contains(" bob"), "{out}");
    assert!(
        !out.contains("erin") && !out.contains("frank"),
        "other component: {out}"
    );

    // Undirected: from bob (1) the spread reaches alice (0) backwards.
    let und = ok_json(
        d,
        &[
            "spread",
            "--graph",
            "people.csv",
            "--undirected",
            "--seeds",
            "1",
            "-w",
            "hot-1k",
            "--json",
        ],
    );
    let ids: Vec<u64> = nodes(&und).iter().map(|n| u(n, "/id")).collect();
    assert!(ids.contains(&0) && ids.contains(&2), "{ids:?}");
    // Directed: it does not.
    let dir = ok_json(
        d,
        &[
            "spread",
            "--graph",
            "people.csv",
            "--seeds",
            "1",
            "-w",
            "hot-1k",
            "--json",
        ],
    );
    let ids: Vec<u64> = nodes(&dir).iter().map(|n| u(n, "/id")).collect();
    assert!(!ids.contains(&0) && ids.contains(&2), "{ids:?}");

    // The run sees 6 nodes and 8 stored edges (each row both ways).
    let j = run_json(
        d,
        &["-w", "hot-1k", "--graph", "people.csv", "--undirected"],
    );
    assert_eq!(u(&j, "/workload/nodes"), 6);
    assert_eq!(u(&j, "/workload/edges"), 8);
    assert_eq!(s(&j, "/workload/generator"), "file");
    assert_eq!(u(&j, "/workload/edge_kinds/inhibitory"), 2);
    assert_eq!(u(&j, "/workload/edge_kinds/modulatory"), 2);
}

#[test]
fn tiny_toml_workload_runs_and_spreads() {
    let t = tmp();
    let d = t.path();
    write(d, "tiny.toml", TINY_TOML);
    // The workload's own spreads/warmup apply when no flag is given.
    let j = ok_json(d, &["run", "-w", "tiny.toml", "--json", "--quiet"]);
    assert_eq!(s(&j, "/workload/name"), "tiny");
    assert_eq!(s(&j, "/workload/source"), "tiny.toml");
    assert_eq!(u(&j, "/workload/nodes"), 50);
    assert_eq!(u(&j, "/spreads"), 100);
    assert_eq!(u(&j, "/warmup"), 10);
    assert_eq!(u(&j, "/latency_ns/count"), 100);
    let dirs = run_dirs(d);
    assert_eq!(dirs.len(), 1);
    assert!(dirs[0].to_string_lossy().ends_with("-run-tiny"));

    write(d, "people.csv", PEOPLE_CSV);
    let out = ok_stdout(
        d,
        &[
            "spread",
            "--graph",
            "people.csv",
            "--undirected",
            "--seeds",
            "0",
            "-w",
            "tiny.toml",
        ],
    );
    assert!(out.contains("alice"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// 8. workloads
// ---------------------------------------------------------------------------------------------

#[test]
fn workloads_lists_and_shows_builtins() {
    let t = tmp();
    let d = t.path();
    let out = ok_stdout(d, &["workloads"]);
    let names: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "warm-10k",
            "hot-1k",
            "chain-64",
            "fan-32",
            "mixed-100k",
            "scale-free-1m",
            "scale-free-1m-deep"
        ],
        "{out}"
    );
    assert!(
        out.lines().all(|l| l.split_whitespace().count() > 1),
        "descriptions: {out}"
    );

    let toml = ok_stdout(d, &["workloads", "--show", "warm-10k"]);
    assert!(toml.contains("nodes = 10000"), "{toml}");
    assert!(toml.contains("name = \"warm-10k\""), "{toml}");

    // What --show prints is a valid workload file that behaves like the built-in.
    let toml = ok_stdout(d, &["workloads", "--show", "chain-64"]);
    write(d, "mine.toml", &toml);
    let a = ok_json(d, &["spread", "-w", "chain-64", "--seeds", "0", "--json"]);
    let b = ok_json(d, &["spread", "-w", "mine.toml", "--seeds", "0", "--json"]);
    assert_eq!(a, b);

    bad_input(d, &["workloads", "--show", "nope"], &["nope", "warm-10k"]);
}

// ---------------------------------------------------------------------------------------------
// 9. help
// ---------------------------------------------------------------------------------------------

#[test]
fn help_mentions_exit_codes() {
    let t = tmp();
    let d = t.path();
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["spread", "--help"],
        &["gen", "--help"],
        &["workloads", "--help"],
    ] {
        sb(d)
            .args(args)
            .assert()
            .success()
            .stdout(predicate::str::contains("Exit codes:"))
            .stdout(predicate::str::is_match(r"(?m)^\s*0\s+success").unwrap())
            .stdout(predicate::str::is_match(r"(?m)^\s*1\s+runtime failure").unwrap())
            .stdout(predicate::str::is_match(r"(?m)^\s*2\s+bad usage or bad input").unwrap());
    }
    sb(d)
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
}

// ---------------------------------------------------------------------------------------------
// 10. Error paths
// ---------------------------------------------------------------------------------------------

#[test]
fn run_with_missing_or_unknown_workload_fails_cleanly() {
    let t = tmp();
    let d = t.path();
    bad_run(
        d,
        &["-w", "nope.toml"],
        &["nope.toml", "cannot read workload"],
    );
    bad_run(d, &["-w", "nope"], &["unknown workload 'nope'", "hot-1k"]);
}

#[test]
fn run_with_bad_workload_toml_names_file_and_key() {
    let t = tmp();
    let d = t.path();
    let cases: &[(&str, String, &[&str])] = &[
        (
            "syntax.toml",
            "name = \"t\"\n[graph\n".into(),
            &["syntax.toml", "line 2"],
        ),
        (
            "unknown.toml",
            format!("{MINIMAL_TOML}bogus = 1\n"),
            &["unknown.toml", "bogus", "line 5"],
        ),
        (
            "nodes.toml",
            "name = \"t\"\n[graph]\ngenerator = \"chain\"\nnodes = 0\n".into(),
            &["nodes.toml", "graph.nodes"],
        ),
        (
            "depth.toml",
            format!("{MINIMAL_TOML}[spread]\nmax_depth = 0\n"),
            &["depth.toml", "spread.max_depth"],
        ),
        (
            "wmin.toml",
            format!("{MINIMAL_TOML}weight_min = 0.0\n"),
            &["wmin.toml", "graph.weight_min", "(0, 1]"],
        ),
        (
            "wmax.toml",
            format!("{MINIMAL_TOML}weight_max = 1.5\n"),
            &["wmax.toml", "graph.weight_max", "(0, 1]"],
        ),
        (
            "shares.toml",
            format!("{MINIMAL_TOML}[tiers.shares]\nhot = 0.5\nwarm = 0.2\n"),
            &["shares.toml", "tiers.shares", "sum to 1"],
        ),
        (
            "decay.toml",
            format!("{MINIMAL_TOML}[spread.decay]\nkind = \"exponential\"\nrate = -1.0\n"),
            &["decay.toml", "spread.decay.rate"],
        ),
        (
            "generator.toml",
            "name = \"t\"\n[graph]\ngenerator = \"lattice\"\nnodes = 5\n".into(),
            &["generator.toml", "graph.generator", "lattice"],
        ),
        (
            "missing_m.toml",
            "name = \"t\"\n[graph]\ngenerator = \"barabasi-albert\"\nnodes = 5\n".into(),
            &["missing_m.toml", "graph.m"],
        ),
    ];
    for (file, content, needles) in cases {
        write(d, file, content);
        bad_run(d, &["-w", file], needles);
        // spread and gen refuse the same file the same way.
        bad_input(d, &["spread", "-w", file, "--seeds", "0"], needles);
        bad_input(d, &["gen", "-w", file, "--out", "x.sbg"], needles);
        assert!(!d.join("x.sbg").exists());
    }
}

/// A generated hot-1k `.sbg` in `d`, returned as bytes.
fn gen_sbg(d: &Path) -> Vec<u8> {
    ok(d, &["gen", "-w", "hot-1k", "--out", "good.sbg"]);
    fs::read(d.join("good.sbg")).unwrap()
}

#[test]
fn run_with_bad_graph_files_fails_cleanly() {
    let t = tmp();
    let d = t.path();
    let good = gen_sbg(d);

    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "missing.sbg"],
        &["missing.sbg", "cannot read"],
    );
    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "missing.csv"],
        &["missing.csv", "cannot read"],
    );

    let mut corrupt = good.clone();
    corrupt[good.len() / 2] ^= 0x5a;
    write(d, "corrupt.sbg", &corrupt);
    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "corrupt.sbg"],
        &["corrupt.sbg", "checksum", "corrupt"],
    );

    write(d, "truncated.sbg", &good[..good.len() / 2]);
    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "truncated.sbg"],
        &["truncated.sbg", "truncated"],
    );
    write(d, "header_only.sbg", &good[..20]);
    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "header_only.sbg"],
        &["header_only.sbg", "truncated"],
    );

    // The version is checked right after the magic, before the checksum.
    let mut v7 = good.clone();
    v7[8..12].copy_from_slice(&7u32.to_le_bytes());
    write(d, "v7.sbg", &v7);
    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "v7.sbg"],
        &["v7.sbg", "format version 7 is not supported", "version 1"],
    );

    write(d, "other.sbg", "src,dst\n0,1\n");
    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "other.sbg"],
        &["other.sbg", "magic"],
    );
    write(d, "empty.sbg", "");
    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "empty.sbg"],
        &["empty.sbg", "empty"],
    );

    // --undirected is for CSV only.
    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "good.sbg", "--undirected"],
        &["good.sbg", "--undirected"],
    );
    // The good file itself still works.
    sb(d)
        .args([
            "spread", "-w", "hot-1k", "--graph", "good.sbg", "--seeds", "0",
        ])
        .assert()
        .success();
}

#[test]
fn run_with_bad_csv_fails_with_line_and_field() {
    let t = tmp();
    let d = t.path();
    write(d, "badw.csv", "src,dst,weight\na,b,0.5\na,b,abc\n");
    let line = bad_run(
        d,
        &["-w", "hot-1k", "--graph", "badw.csv"],
        &["badw.csv:3:", "weight"],
    );
    assert!(
        line.ends_with("field 'weight': 'abc' is not a number"),
        "{line}"
    );

    write(d, "range.csv", "a,b,0.5\nb,c,1.5\n");
    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "range.csv"],
        &["range.csv:2:", "weight", "(0, 1]"],
    );

    write(
        d,
        "badt.csv",
        "src,dst,weight,type\na,b,0.5,excitatory\nb,c,0.5,sideways\n",
    );
    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "badt.csv"],
        &["badt.csv:3:", "type", "sideways"],
    );

    write(d, "cols.csv", "a,b\nc\n");
    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "cols.csv"],
        &["cols.csv:2:", "fields"],
    );

    write(d, "noedges.csv", "src,dst\n");
    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "noedges.csv"],
        &["noedges.csv", "no edges"],
    );

    write(d, "tiers.csv", "a,b\n");
    write(d, "tiers.csv.nodes.csv", "id,tier\na,hot\nb,lukewarm\n");
    bad_run(
        d,
        &["-w", "hot-1k", "--graph", "tiers.csv"],
        &["tiers.csv.nodes.csv:3:", "tier", "lukewarm"],
    );
}

#[test]
fn spread_with_bad_seeds_fails() {
    let t = tmp();
    let d = t.path();
    let base = ["spread", "-w", "hot-1k", "--seeds"];
    let cases: &[(&str, &[&str])] = &[
        ("1000", &["--seeds", "node 1000", "outside"]),
        ("x", &["--seeds", "'x'", "not a node id"]),
        ("1:2.0", &["--seeds", "node 1", "(0, 1]"]),
        ("1:0", &["--seeds", "(0, 1]"]),
        ("1:abc", &["--seeds", "not a number"]),
        ("1,,2", &["--seeds", "empty"]),
        ("-1", &["--seeds"]),
    ];
    for (seeds, needles) in cases {
        let args = [&base[..], &[seeds]].concat();
        // `-1` would look like a flag to clap; pass it with `=`.
        if seeds.starts_with('-') {
            let flag = format!("--seeds={seeds}");
            bad_input(d, &["spread", "-w", "hot-1k", &flag], needles);
        } else {
            bad_input(d, &args, needles);
        }
    }
    assert!(!d.join("results").exists());
}

#[test]
fn usage_errors_exit_2() {
    let t = tmp();
    let d = t.path();
    usage_error(d, &["run", "--spreads", "0"], "--spreads");
    usage_error(d, &["run", "--bogus"], "--bogus");
    usage_error(d, &["run", "--undirected"], "--graph");
    usage_error(d, &["spread", "-w", "hot-1k"], "--seeds");
    usage_error(
        d,
        &["spread", "-w", "hot-1k", "--seeds", "0", "--depth", "0"],
        "--depth",
    );
    usage_error(
        d,
        &["spread", "-w", "hot-1k", "--seeds", "0", "--top", "0"],
        "--top",
    );
    usage_error(d, &["gen", "-w", "hot-1k"], "--out");
    usage_error(d, &["gen", "--out", "g.x", "--format", "xml"], "xml");
    usage_error(d, &["frobnicate"], "frobnicate");
    // No command at all: clap prints the help on stderr and exits 2.
    sb(d)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("Usage: spreadbench <COMMAND>"));
    assert_eq!(entries(d), Vec::<String>::new(), "usage errors wrote files");
}

#[test]
fn runtime_failure_exits_1_with_one_line() {
    let t = tmp();
    let d = t.path();
    // The results root is a regular file: an I/O failure, not bad input.
    write(d, "results", "not a directory");
    fails_with(
        d,
        &[
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "10",
            "--warmup",
            "0",
            "--quiet",
        ],
        1,
        &["results"],
    );
    assert_eq!(
        fs::read_to_string(d.join("results")).unwrap(),
        "not a directory"
    );

    // gen into a directory that does not exist.
    fails_with(
        d,
        &["gen", "-w", "chain-64", "--out", "no/such/dir/g.sbg"],
        1,
        &["g.sbg"],
    );
}

// ---------------------------------------------------------------------------------------------
// Bugs found while writing these tests
// ---------------------------------------------------------------------------------------------

/// Runs `spread` on a star graph (hub 0 with 10 000 leaves, so the output is hundreds of KB)
/// with stdout a pipe whose reader hangs up after the first byte. The output is far larger
/// than a pipe buffer, so the writer is still writing when the reader goes away and a later
/// write fails with EPIPE, deterministically.
fn spread_into_closed_pipe(extra: &[&str]) -> (Option<i32>, String) {
    let t = tmp();
    let mut star = String::from("src,dst,weight\n");
    for i in 1..=10_000 {
        star.push_str(&format!("0,{i},1\n"));
    }
    write(t.path(), "star.csv", star);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_spreadbench"))
        .current_dir(t.path())
        .args([
            "spread", "-w", "hot-1k", "--graph", "star.csv", "--seeds", "0",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spreadbench");
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    (out.status.code(), text(&out.stderr))
}

#[test]
fn spread_output_is_large_enough_for_the_pipe_tests() {
    let t = tmp();
    let d = t.path();
    let mut star = String::from("src,dst,weight\n");
    for i in 1..=10_000 {
        star.push_str(&format!("0,{i},1\n"));
    }
    write(d, "star.csv", star);
    let args = [
        "spread", "-w", "hot-1k", "--graph", "star.csv", "--seeds", "0",
    ];
    assert!(ok(d, &args).stdout.len() > 256 * 1024);
    assert!(ok(d, &[&args[..], &["--json"]].concat()).stdout.len() > 256 * 1024);
}

#[test]
fn spread_table_into_closed_pipe_is_not_an_error() {
    // `spreadbench spread ... | head` must exit 0 and print nothing on stderr.
    let (code, stderr) = spread_into_closed_pipe(&[]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn spread_json_into_closed_pipe_is_not_an_error() {
    let (code, stderr) = spread_into_closed_pipe(&["--json"]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn error_with_newline_in_input_stays_one_line() {
    let t = tmp();
    let d = t.path();
    write(d, "nl.csv", "a,b,0.5,\"side\nways\"\n");
    bad_input(
        d,
        &[
            "spread", "-w", "hot-1k", "--graph", "nl.csv", "--seeds", "0",
        ],
        &["nl.csv:1:", "type"],
    );
}

// ---------------------------------------------------------------------------------------------
// Output streams that cannot be written, workloads too large for memory, tiny seeds
// ---------------------------------------------------------------------------------------------

/// The binary as a `std::process::Command`, for tests that set up its standard streams.
fn std_sb(dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("spreadbench"));
    c.current_dir(dir);
    c
}

fn dev_full() -> std::fs::File {
    fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full")
}

#[test]
fn an_unwritable_stderr_does_not_change_the_exit_code() {
    let t = tmp();
    let d = t.path();
    // Bad input still exits 2 (it used to panic with 101: "failed printing to stderr").
    let out = std_sb(d)
        .args(["run", "-w", "missing.toml"])
        .stderr(dev_full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A usage error likewise.
    let out = std_sb(d)
        .args(["run", "--no-such-flag"])
        .stderr(dev_full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A run whose stderr is full still measures and writes its results.
    let out = std_sb(d)
        .args(["run", "-w", "hot-1k", "--spreads", "50", "--warmup", "5"])
        .stderr(dev_full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(run_dirs(d).len(), 1);
}

#[test]
fn help_that_cannot_be_written_is_a_failure() {
    let t = tmp();
    let out = std_sb(t.path())
        .arg("--help")
        .stdout(dev_full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = std_sb(t.path())
        .args(["run", "--help"])
        .stdout(dev_full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = sb(t.path()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("Usage"));
}

#[test]
fn a_broken_stderr_pipe_does_not_abort_a_run() {
    // The reader of stderr is gone before the run prints its first informational line.
    let t = tmp();
    let d = t.path();
    let mut child = std_sb(d)
        .args(["run", "-w", "hot-1k", "--spreads", "50", "--warmup", "5"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(run_dirs(d).len(), 1);
}

#[test]
fn a_workload_too_large_for_memory_is_refused_naming_the_key() {
    let t = tmp();
    let d = t.path();
    write(
        d,
        "huge.toml",
        "name = \"huge\"\n[graph]\ngenerator = \"chain\"\nnodes = 4294967295\n",
    );
    write(
        d,
        "big.toml",
        "name = \"big\"\n[graph]\ngenerator = \"barabasi-albert\"\nnodes = 2000000000\nm = 4\n",
    );
    for w in ["huge.toml", "big.toml"] {
        bad_run(d, &["-w", w], &[w, "graph.nodes"]);
        bad_input(d, &["spread", "-w", w, "--seeds", "0"], &["graph.nodes"]);
        bad_input(d, &["gen", "-w", w, "--out", "g.sbg"], &["graph.nodes"]);
        assert!(!d.join("g.sbg").exists());
    }
}

#[test]
fn a_seed_below_one_fixed_point_unit_is_bad_input() {
    let t = tmp();
    let d = t.path();
    bad_input(
        d,
        &["spread", "-w", "chain-64", "--seeds", "3:1e-10"],
        &["--seeds", "node 3", "2^-32"],
    );
    // Exactly one unit is accepted.
    let j = ok_json(
        d,
        &[
            "spread",
            "-w",
            "chain-64",
            "--seeds",
            "3:2.3283064365386963e-10",
            "--json",
        ],
    );
    assert_eq!(nodes(&j).len(), 1);
    write(
        d,
        "tiny-seed.toml",
        format!("{MINIMAL_TOML}[requests]\nseed_activation = 1e-12\n"),
    );
    bad_run(
        d,
        &["-w", "tiny-seed.toml"],
        &["tiny-seed.toml", "requests.seed_activation"],
    );
}

#[test]
fn a_huge_max_depth_is_reported_as_written() {
    let t = tmp();
    let d = t.path();
    write(
        d,
        "deep.toml",
        format!("{MINIMAL_TOML}[spread]\nmax_depth = 9223372036854775807\n"),
    );
    bad_run(
        d,
        &["-w", "deep.toml"],
        &["spread.max_depth", "got 9223372036854775807"],
    );
}

#[test]
fn a_tiny_rate_is_reported_in_a_readable_form() {
    let t = tmp();
    let line = bad_input(
        t.path(),
        &["soak", "--spreads", "10", "--rate", "1e-300"],
        &["--rate", "got 1e-300"],
    );
    assert!(line.len() < 200, "{line}");
}

#[test]
fn an_unusable_results_root_fails_before_measuring() {
    // Before: `run` measured every request and only then failed to write, losing the
    // measurement. Now it fails at once: 10⁸ spreads would take hours.
    let t = tmp();
    let d = t.path();
    write(d, "not-a-dir", "x");
    let start = std::time::Instant::now();
    fails_with(
        d,
        &[
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "100000000",
            "--quiet",
            "--out",
            "not-a-dir",
        ],
        1,
        &["not-a-dir"],
    );
    assert!(start.elapsed().as_secs() < 30, "{:?}", start.elapsed());
}

#[test]
fn every_numeric_flag_is_bounded() {
    // `--block` sizes an allocation and `--prefetch-distance` a stride: both were unbounded.
    let t = tmp();
    let d = t.path();
    for (args, needle) in [
        (&["run", "--block", "2000000"][..], "--block"),
        (
            &["run", "--prefetch-distance", "8,99999"][..],
            "--prefetch-distance",
        ),
        (&["run", "--batch-size", "99999999"][..], "--batch-size"),
        (&["run", "--warmup", "99999999999999999"][..], "--warmup"),
        (
            &["soak", "--prefetch-distance", "5000"][..],
            "--prefetch-distance",
        ),
        (&["soak", "--spreads", "99999999999999999"][..], "--spreads"),
        (
            &[
                "compare",
                "--base-bin",
                "x",
                "--warmup",
                "99999999999999999",
            ][..],
            "--warmup",
        ),
        (
            &["spread", "--seeds", "1", "--top", "99999999999"][..],
            "--top",
        ),
    ] {
        usage_error(d, args, needle);
    }
}

#[test]
fn a_workload_run_too_long_to_count_is_refused() {
    // Past 10¹² requests, (warm-up + spreads) × settings would overflow.
    let t = tmp();
    let d = t.path();
    write(
        d,
        "long.toml",
        format!("{MINIMAL_TOML}[run]\nspreads = 9223372036854775807\n"),
    );
    bad_run(d, &["-w", "long.toml"], &["long.toml", "run.spreads"]);
}
