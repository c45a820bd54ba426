//! `--metrics-addr` and `--stream` end to end: `/metrics` scraped during a real run and parsed
//! by a Prometheus text parser (the `prometheus-parse` crate, lax: it skips lines it does not
//! understand, so every line is also checked here against the OpenMetrics text grammar), its
//! totals against the final snapshot (spreads, the latency histogram, the budget manager's
//! partial and fallback counts, the predictor's error histogram) for `run` and `soak`, spread
//! and recall mode; bad addresses; the stream's lines.

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` over HTTP/1.0; `None` when nothing listens.
fn get(port: u16, path: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    Some((head.to_string(), body.to_string()))
}

/// Every line is a HELP, TYPE or UNIT line, a sample, or the final `# EOF`.
fn check_openmetrics_lines(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "no # EOF at the end:\n{text}");
    for line in &lines[..lines.len() - 1] {
        let ok = if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap_or("");
            let name = parts.next().unwrap_or("");
            ["HELP", "TYPE", "UNIT"].contains(&kind) && valid_name(name)
        } else {
            // name{labels} value
            let (name_labels, value) = line.rsplit_once(' ').unwrap_or(("", ""));
            let name = name_labels.split('{').next().unwrap_or("");
            let labels_ok = match name_labels.find('{') {
                None => true,
                Some(i) => name_labels.ends_with('}') && name_labels[i..].contains("=\""),
            };
            valid_name(name)
                && labels_ok
                && (value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value))
        };
        assert!(ok, "not an OpenMetrics text line: {line:?}");
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !n.starts_with(|c: char| c.is_ascii_digit())
}

struct Scraped {
    spreads: f64,
    count: f64,
    sum: f64,
    buckets: Vec<(f64, f64)>,
    finished: f64,
    partial: Option<f64>,
    fallback: Option<f64>,
    prediction_error: Option<ErrorHistogram>,
}

/// `spreadbench_spreading_latency_prediction_error`: cumulative buckets, `_count`, `_sum`.
type ErrorHistogram = (Vec<(f64, f64)>, f64, f64);

fn parse_scrape(text: &str) -> Scraped {
    check_openmetrics_lines(text);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    // Before the settings are built (the graph still loading), only the process's figures
    // are there: a missing count is a zero.
    let value = |name: &str| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                other => panic!("{name}: unexpected {other:?}"),
            })
    };
    let histogram = |name: &str| -> Option<Vec<(f64, f64)>> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .map(|s| match &s.value {
                prometheus_parse::Value::Histogram(b) => {
                    b.iter().map(|c| (c.less_than, c.count)).collect()
                }
                other => panic!("{name} is not a histogram: {other:?}"),
            })
    };
    const PREDICTION: &str = "spreadbench_spreading_latency_prediction_error";
    Scraped {
        spreads: value("spreadbench_spreads_total").unwrap_or(0.0),
        count: value("spreadbench_spread_latency_seconds_count").unwrap_or(0.0),
        sum: value("spreadbench_spread_latency_seconds_sum").unwrap_or(0.0),
        buckets: histogram("spreadbench_spread_latency_seconds").unwrap_or_default(),
        finished: value("spreadbench_finished")
            .unwrap_or_else(|| panic!("spreadbench_finished missing in\n{text}")),
        partial: value("spreadbench_partial_total"),
        fallback: value("spreadbench_fallback_total"),
        prediction_error: histogram(PREDICTION).map(|b| {
            let count = value(&format!("{PREDICTION}_count"))
                .unwrap_or_else(|| panic!("{PREDICTION}_count missing in\n{text}"));
            let sum = value(&format!("{PREDICTION}_sum"))
                .unwrap_or_else(|| panic!("{PREDICTION}_sum missing in\n{text}"));
            (b, count, sum)
        }),
    }
}

/// What watching a command's `/metrics` (and `/snapshot.json`) until its server went away saw.
struct Watched {
    scrapes: Vec<Scraped>,
    /// A `/snapshot.json` with `"partial": true` was served while measuring.
    partial_seen: bool,
    /// `/snapshot.json` as served after the end (during the linger).
    final_snapshot: Option<Value>,
    /// The snapshot the command printed (`--json`).
    snapshot: Value,
}

/// Runs spreadbench with `args` plus `--metrics-addr` on a free port, `--json --quiet` and a
/// linger, scraping every 20 ms until the server goes away; the command must succeed.
///
/// The port is free when [`free_port`] lets it go, but another test's connection can take it
/// before the command binds it (CI once saw "Address already in use"): then the command is
/// run again on another port, up to [`BIND_ATTEMPTS`] times.
fn watch(dir: &Path, args: &[&str]) -> Watched {
    for attempt in 1..=BIND_ATTEMPTS {
        match watch_once(dir, args) {
            Ok(w) => return w,
            Err(err) if err.contains("Address already in use") && attempt < BIND_ATTEMPTS => {}
            Err(err) => panic!("{err}"),
        }
    }
    unreachable!("the last attempt returns or panics")
}

/// Attempts of [`watch`] when the port was taken before the command bound it.
const BIND_ATTEMPTS: u32 = 5;

/// One run of [`watch`]; `Err` with the command's stderr when it failed.
fn watch_once(dir: &Path, args: &[&str]) -> Result<Watched, String> {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("spreadbench"))
        .current_dir(dir)
        .args(args)
        .args([
            "--json",
            "--quiet",
            "--metrics-addr",
            &addr,
            "--metrics-linger",
            "1.5",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut scrapes: Vec<Scraped> = Vec::new();
    let mut partial_seen = false;
    let mut final_snapshot: Option<Value> = None;
    while start.elapsed() < Duration::from_secs(60) {
        match get(port, "/metrics") {
            // A scrape queued as the linger ends can get tiny_http's empty 500 from the
            // server being dropped (CI saw it once): the server went away, as for `None`.
            Some((head, body))
                if !scrapes.is_empty() && head.starts_with("HTTP/1.0 500") && body.is_empty() =>
            {
                break
            }
            Some((head, body)) => {
                assert!(
                    head.contains("application/openmetrics-text; version=1.0.0"),
                    "{head}"
                );
                let s = parse_scrape(&body);
                if let Some(prev) = scrapes.last() {
                    assert!(s.spreads >= prev.spreads && s.count >= prev.count);
                }
                // The server may stop between the two requests (the linger's end).
                if let Some((_, snap)) = get(port, "/snapshot.json").filter(|(_, b)| !b.is_empty())
                {
                    let v: Value = serde_json::from_str(&snap).unwrap();
                    if v["partial"] == Value::Bool(true) {
                        partial_seen = true;
                    }
                    if s.finished == 1.0 {
                        final_snapshot = Some(v);
                    }
                }
                scrapes.push(s);
            }
            None if !scrapes.is_empty() => break,
            // Exited before it ever served (it could not listen, say): nothing to wait for.
            None if child.try_wait().unwrap().is_some() => break,
            None => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        return Err(text(&out.stderr));
    }
    let snapshot: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!scrapes.is_empty(), "never scraped");
    assert_eq!(
        scrapes.last().map(|s| s.finished),
        Some(1.0),
        "the last scrape was not after the end"
    );
    Ok(Watched {
        scrapes,
        partial_seen,
        final_snapshot,
        snapshot,
    })
}

/// A real run scraped every 20 ms until its server goes away: every scrape parses, the
/// counts only grow, and the last scrape (served during --metrics-linger, after the end)
/// agrees with the snapshot the run printed.
#[test]
fn metrics_scraped_during_a_run_agree_with_the_snapshot() {
    let t = tmp();
    let Watched {
        scrapes,
        partial_seen,
        final_snapshot,
        snapshot: snap,
    } = watch(
        t.path(),
        &[
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "60000",
            "--warmup",
            "500",
            "--block",
            "1000",
            "--threads",
            "1",
            "--counters",
            "off",
        ],
    );
    assert!(scrapes.len() >= 3, "only {} scrapes", scrapes.len());
    assert!(
        partial_seen,
        "no /snapshot.json with \"partial\": true while measuring"
    );
    let last = scrapes.last().unwrap();
    assert_eq!(last.spreads, u(&snap, "/spreads") as f64);
    assert_eq!(last.count, u(&snap, "/latency_ns/count") as f64);
    let sum = f(&snap, "/latency_ns/mean") * u(&snap, "/latency_ns/count") as f64 / 1e9;
    assert!(
        (last.sum - sum).abs() <= 1e-9 * sum.max(1.0),
        "{} vs {sum}",
        last.sum
    );
    // Cumulative buckets, ending at +Inf with the count.
    let b = &last.buckets;
    assert!(
        b.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "{b:?}"
    );
    assert_eq!(
        b.last().map(|x| (x.0, x.1)),
        Some((f64::INFINITY, last.count))
    );
    // During the linger, /snapshot.json is the final snapshot itself.
    let fin = final_snapshot.expect("no /snapshot.json after the end");
    assert_eq!(fin["latency_ns"], snap["latency_ns"]);
    assert_eq!(fin["partial"], Value::Bool(false));
    check_prediction_error(last, &snap);
    // No budget: nothing cut short, nothing fell back, and both say so.
    assert_eq!((last.partial, last.fallback), (Some(0.0), Some(0.0)));
}

/// The predictor's error histogram (on by default) is the tally the snapshot's `predictor`
/// figures come from: same count, and the le 0.1/0.2/0.5 buckets are exactly its
/// within-10/20/50% shares (the tally counts those bounds exactly, not from its HDR histogram).
fn check_prediction_error(last: &Scraped, snap: &Value) {
    let (b, count, sum) = last
        .prediction_error
        .as_ref()
        .expect("no spreadbench_spreading_latency_prediction_error with the predictor on");
    let n = u(snap, "/predictor/count") as f64;
    assert!(n > 0.0, "nothing predicted: {snap}");
    assert_eq!(*count, n);
    let bounds: Vec<f64> = b.iter().map(|x| x.0).collect();
    assert_eq!(bounds, [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, f64::INFINITY]);
    assert!(b.windows(2).all(|w| w[0].1 <= w[1].1), "{b:?}");
    let at = |le: f64| b.iter().find(|x| x.0 == le).unwrap().1;
    assert_eq!(at(f64::INFINITY), n);
    for (le, share) in [
        (0.1, "within_10pct"),
        (0.2, "within_20pct"),
        (0.5, "within_50pct"),
    ] {
        let want = (f(snap, &format!("/predictor/{share}")) * n).round();
        assert_eq!(at(le), want, "le={le} against {share}");
    }
    // The sum of errors lies between what the buckets' lower and upper bounds allow.
    let (mut lo, mut hi, mut below, mut prev) = (0.0, 0.0, 0.0, 0.0);
    for &(le, c) in b {
        lo += below * (c - prev);
        hi += le * (c - prev);
        (below, prev) = (le, c);
    }
    assert!(
        *sum >= lo - 1e-9 && *sum <= hi + 1e-9,
        "sum {sum} not in [{lo}, {hi}]"
    );
}

/// A 1 ns budget: once the warm-up (which runs without the budget) has trained the predictor,
/// every measured request is predicted past 1.5 ns and falls back to its seeds. Before,
/// `spreadbench_fallback_total` stayed 0 whatever the budget manager did.
#[test]
fn budget_fallbacks_reach_metrics() {
    let t = tmp();
    let w = watch(
        t.path(),
        &[
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "3000",
            "--warmup",
            "1000",
            "--block",
            "1000",
            "--threads",
            "1",
            "--counters",
            "off",
            "--budget",
            "1ns",
        ],
    );
    let last = w.scrapes.last().unwrap();
    let fallbacks = u(&w.snapshot, "/budget/fallbacks");
    assert_eq!(fallbacks, 3000, "{}", w.snapshot["budget"]);
    assert_eq!(last.fallback, Some(fallbacks as f64));
    assert_eq!(
        last.partial,
        Some(u(&w.snapshot, "/budget/truncated") as f64)
    );
    // Every request fell back, so none ran whole: no prediction was judged.
    let (_, count, _) = last.prediction_error.as_ref().expect("predictor on");
    assert_eq!(*count, 0.0);
}

fn bad_addr(addr: &str, expect: &str) {
    let t = tmp();
    let out = sb(t.path())
        .args([
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "100",
            "--warmup",
            "0",
            "--counters",
            "off",
            "--metrics-addr",
            addr,
            "--out",
            "res",
        ])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{addr}: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--metrics-addr") && err.contains(expect),
        "{addr}: {err}"
    );
    assert!(
        !t.path().join("res").exists(),
        "a results directory was left behind"
    );
}

#[test]
fn bad_metrics_addresses_exit_2_before_measuring() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    bad_addr(&format!("127.0.0.1:{port}"), "in use");
    bad_addr("127.0.0.1:99999", "port must be a number");
    bad_addr("127.0.0.1:http", "port must be a number");
    bad_addr("9184", "expected HOST:PORT");
    bad_addr("no-such-host.invalid:9184", "cannot resolve host");
    // An address that is not this machine's.
    bad_addr("192.0.2.1:9184", "cannot listen");
}

#[test]
fn a_non_loopback_address_is_warned_about() {
    let t = tmp();
    let out = sb(t.path())
        .args([
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "100",
            "--warmup",
            "0",
            "--counters",
            "off",
            "--quiet",
            "--metrics-addr",
            "0.0.0.0:0",
            "--out",
            "res",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: --metrics-addr 0.0.0.0:") && err.contains("not loopback"),
        "{err}"
    );
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// 2,500 spreads in blocks of 1,000: three lines (1,000, 1,000, 500), whose spreads and
/// latency counts add up to the snapshot's.
#[test]
fn run_streams_one_line_per_block() {
    let t = tmp();
    let snap = ok_json(
        t.path(),
        &[
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "2500",
            "--warmup",
            "300",
            "--block",
            "1000",
            "--counters",
            "off",
            "--json",
            "--quiet",
            "--stream",
            "live.jsonl",
            "--out",
            "res",
        ],
    );
    let l = lines(&t.path().join("live.jsonl"));
    let spreads: Vec<u64> = l.iter().map(|v| u(v, "/spreads")).collect();
    assert_eq!(spreads, [1000, 1000, 500]);
    let counts: u64 = l.iter().map(|v| u(v, "/latency_ns/count")).sum();
    assert_eq!(counts, u(&snap, "/latency_ns/count"));
    assert_eq!(u(&l[2], "/spreads_done"), u(&snap, "/spreads"));
    assert_eq!(u(&l[2], "/block"), 2);
}

/// A soak's stream is its metrics.jsonl, line for line; `-` is standard output, before
/// the summary.
#[test]
fn soak_streams_its_metrics_jsonl_records() {
    let t = tmp();
    let out = ok_stdout(
        t.path(),
        &[
            "soak",
            // Verdicts are not what this tests; a loaded machine stalls tiny spreads.
            "--max-stall-ratio",
            "1e9",
            "--max-p99-drift",
            "1e9",
            "-w",
            "chain-64",
            "--spreads",
            "3000",
            "--interval-spreads",
            "1000",
            "--warmup",
            "100",
            "--counters",
            "off",
            "--quiet",
            "--stream",
            "-",
            "--out",
            "res",
        ],
    );
    let dir = std::fs::read_dir(t.path().join("res"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let jsonl = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 3);
    assert!(
        out.starts_with(&jsonl),
        "stdout:\n{out}\nmetrics.jsonl:\n{jsonl}"
    );
}

#[test]
fn a_stream_to_a_directory_is_refused_before_measuring() {
    let t = tmp();
    std::fs::create_dir(t.path().join("d")).unwrap();
    let out = sb(t.path())
        .args([
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "100",
            "--counters",
            "off",
            "--stream",
            "d",
            "--out",
            "res",
        ])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--stream d: is a directory"), "{err}");
    assert!(!t.path().join("res").exists());
}

/// A symlink given as the stream keeps being a link; its target gets the lines.
#[test]
fn a_stream_through_a_symlink_writes_its_target() {
    let t = tmp();
    std::os::unix::fs::symlink("real.jsonl", t.path().join("link.jsonl")).unwrap();
    ok(
        t.path(),
        &[
            "run",
            "-w",
            "chain-64",
            "--spreads",
            "1000",
            "--warmup",
            "0",
            "--counters",
            "off",
            "--quiet",
            "--stream",
            "link.jsonl",
            "--out",
            "res",
        ],
    );
    assert!(std::fs::symlink_metadata(t.path().join("link.jsonl"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(lines(&t.path().join("real.jsonl")).len(), 1);
}

/// A soak adds its intervals' figures up: without a budget, its prediction-error histogram is
/// the snapshot's `predictor` tally over all intervals.
#[test]
fn a_soaks_prediction_error_adds_up_its_intervals() {
    let t = tmp();
    let w = watch(
        t.path(),
        &[
            "soak",
            "--max-stall-ratio",
            "1e9",
            "--max-p99-drift",
            "1e9",
            "-w",
            "chain-64",
            "--spreads",
            "3000",
            "--interval-spreads",
            "1000",
            "--warmup",
            "500",
            "--counters",
            "off",
            "--out",
            "res",
        ],
    );
    let last = w.scrapes.last().unwrap();
    assert_eq!(last.spreads, 3000.0);
    check_prediction_error(last, &w.snapshot);
    assert_eq!((last.partial, last.fallback), (Some(0.0), Some(0.0)));
}

/// Recall mode under a 1 ns budget: after the warm-up, every recall falls back to its
/// similarity-only results, and a soak's `/metrics` counts each one.
#[test]
fn a_recall_soaks_fallbacks_reach_metrics() {
    let t = tmp();
    let toml = small_workload(
        "live-recall",
        7,
        r#"[embeddings]
dim = 32
clusters = 5
noise = 0.1
cue_noise = 0.05

[recall]
similarity = "exact"
max_candidates = 20
max_results = 30
"#,
    );
    std::fs::write(t.path().join("w.toml"), toml).unwrap();
    let w = watch(
        t.path(),
        &[
            "soak",
            "--max-stall-ratio",
            "1e9",
            "--max-p99-drift",
            "1e9",
            "-w",
            "w.toml",
            "--mode",
            "recall",
            "--spreads",
            "600",
            "--interval-spreads",
            "200",
            "--warmup",
            "100",
            "--counters",
            "off",
            "--budget",
            "1ns",
            "--out",
            "res",
        ],
    );
    let last = w.scrapes.last().unwrap();
    let fallbacks = u(&w.snapshot, "/budget/fallbacks");
    assert_eq!(fallbacks, 600, "{}", w.snapshot["budget"]);
    assert_eq!(last.fallback, Some(fallbacks as f64));
    assert_eq!(
        last.partial,
        Some(u(&w.snapshot, "/budget/truncated") as f64)
    );
}

/// The nice value (field 19 of `/proc/TID/stat`) and name of each thread of `pid`.
#[cfg(target_os = "linux")]
fn thread_nice(pid: u32) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        // Fields after the command's closing parenthesis start at field 3.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if let Some(n) = rest
            .split_whitespace()
            .nth(19 - 3)
            .and_then(|p| p.parse().ok())
        {
            out.push((comm.trim().to_string(), n));
        }
    }
    out
}

/// The server's threads run at nice 19, the measuring thread at 0: a scrape does not take a
/// core from the measurement. Reproducer: before, every thread ran at 0 and scraping every
/// 100 ms moved a warm-10k run's p99 by 7%.
#[cfg(target_os = "linux")]
#[test]
fn the_metrics_server_runs_at_the_lowest_priority() {
    let t = tmp();
    let mut child = serving_child(t.path());
    let threads = thread_nice(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let servers: Vec<_> = threads
        .iter()
        .filter(|(n, _)| n == "metrics-server")
        .collect();
    assert!(!servers.is_empty(), "{threads:?}");
    assert!(servers.iter().all(|(_, n)| *n == 19), "{threads:?}");
    let main = threads.iter().find(|(n, _)| n == "spreadbench");
    assert_eq!(main.map(|(_, n)| *n), Some(0), "{threads:?}");
}

/// A hot-1k run with a metrics server, once it serves: on another port when the one
/// [`free_port`] gave was taken before the run bound it (see [`watch`]).
#[cfg(target_os = "linux")]
fn serving_child(dir: &Path) -> std::process::Child {
    for attempt in 1..=BIND_ATTEMPTS {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("spreadbench"))
            .current_dir(dir)
            .args([
                "run",
                "-w",
                "hot-1k",
                "--spreads",
                "2000",
                "--quiet",
                "--json",
            ])
            .args(["--metrics-addr", &addr, "--metrics-linger", "3"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        loop {
            if get(port, "/metrics").is_some() {
                return child;
            }
            if child.try_wait().unwrap().is_some() {
                let err = text(&child.wait_with_output().unwrap().stderr);
                assert!(
                    err.contains("Address already in use") && attempt < BIND_ATTEMPTS,
                    "exited before serving: {err}"
                );
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "never served");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    unreachable!("the last attempt returns or fails")
}
