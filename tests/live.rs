//! `--metrics-addr` and `--stream` end to end: `/metrics` scraped during a real run and parsed
//! by a Prometheus text parser (the `prometheus-parse` crate, lax: it skips lines it does not
//! understand, so every line is also checked here against the OpenMetrics text grammar), its
//! totals against the final snapshot; bad addresses; the stream's lines.

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
}

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
    let buckets = scrape
        .samples
        .iter()
        .find(|s| s.metric == "spreadbench_spread_latency_seconds")
        .map(|s| match &s.value {
            prometheus_parse::Value::Histogram(b) => {
                b.iter().map(|c| (c.less_than, c.count)).collect()
            }
            other => panic!("latency is not a histogram: {other:?}"),
        })
        .unwrap_or_default();
    Scraped {
        spreads: value("spreadbench_spreads_total").unwrap_or(0.0),
        count: value("spreadbench_spread_latency_seconds_count").unwrap_or(0.0),
        sum: value("spreadbench_spread_latency_seconds_sum").unwrap_or(0.0),
        buckets,
        finished: value("spreadbench_finished")
            .unwrap_or_else(|| panic!("spreadbench_finished missing in\n{text}")),
    }
}

/// A real run scraped every 20 ms until its server goes away: every scrape parses, the
/// counts only grow, and the last scrape (served during --metrics-linger, after the end)
/// agrees with the snapshot the run printed.
#[test]
fn metrics_scraped_during_a_run_agree_with_the_snapshot() {
    let t = tmp();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(assert_cmd::cargo::cargo_bin("spreadbench"))
        .current_dir(t.path())
        .args([
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
            None => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(scrapes.len() >= 3, "only {} scrapes", scrapes.len());
    assert!(
        partial_seen,
        "no /snapshot.json with \"partial\": true while measuring"
    );
    let last = scrapes.last().unwrap();
    assert_eq!(last.finished, 1.0, "the last scrape was not after the end");
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
