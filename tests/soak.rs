//! End-to-end tests of `spreadbench soak` (and of SIGINT/SIGTERM and perf counters in `run`):
//! the results directory and its streamed files (`metrics.jsonl`, `intervals.hlog`), the
//! interval rules, the leak verdict with the leak-injection hook, signals (exit 130, partial
//! results), counters on a machine without hardware events, open loop, and bad input.
//!
//! Every command runs with its working directory in a fresh temp dir. Workloads are small
//! (`hot-1k`, `chain-64`) and runs short, so the file stays well under 30 s in release on two
//! cores, with tests running in parallel.
//!
//! The drift and stall verdicts compare latencies, which a loaded shared machine (parallel
//! tests, another build) disturbs; tests that need exit 0 but are not about those verdicts
//! pass generous `--max-stall-ratio` / `--max-p99-drift` (see [`CALM`]) and check that the
//! thresholds reach the verdict JSON.

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

mod common;
use common::{f, s, sb, tmp, u};

/// Thresholds that keep scheduling noise from failing the drift and stall verdicts.
const CALM: [&str; 4] = ["--max-stall-ratio", "1000000", "--max-p99-drift", "1000"];

/// The four files of a soak's results directory.
const SOAK_FILES: [&str; 4] = [
    "intervals.hlog",
    "latency.hgrm",
    "metrics.jsonl",
    "snapshot.json",
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("spreadbench")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary in `dir` with `args`; returns the output whatever the exit code.
fn run(dir: &Path, args: &[&str]) -> Output {
    sb(dir).args(args).output().expect("run spreadbench")
}

/// Runs and requires exit `code`.
fn expect_code(dir: &Path, args: &[&str], code: i32) -> Output {
    let out = run(dir, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "spreadbench {args:?}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn ok(dir: &Path, args: &[&str]) -> Output {
    expect_code(dir, args, 0)
}

/// Concatenates argument lists.
fn cat<'a>(parts: &[&[&'a str]]) -> Vec<&'a str> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

/// The finished results directories under `root` (hidden temporary ones excluded).
fn result_dirs(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root)
        .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    v.sort();
    v
}

/// The one results directory under `root`; also checks that no temporary one is left behind.
fn only_result_dir(root: &Path) -> PathBuf {
    let hidden: Vec<String> = fs::read_dir(root)
        .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "temporary entries left: {hidden:?}");
    let dirs = result_dirs(root);
    assert_eq!(dirs.len(), 1, "expected one results directory: {dirs:?}");
    dirs.into_iter().next().unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn read_json(path: &Path) -> Value {
    let t = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every line of a JSON-lines file, parsed; the file must end with a newline.
fn read_jsonl(path: &Path) -> Vec<Value> {
    let t = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        t.is_empty() || t.ends_with('\n'),
        "{} ends with a partial line",
        path.display()
    );
    t.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{} line {}: not JSON: {e}\n{l}", path.display(), i + 1))
        })
        .collect()
}

/// One interval of `intervals.hlog`, its histogram decoded.
struct HlogInterval {
    start_s: f64,
    duration_s: f64,
    max_ms: f64,
    hist: Histogram<u64>,
}

/// An interval log read back with the hdrhistogram crate's own parser.
struct Hlog {
    start_time: Option<f64>,
    base_time: Option<f64>,
    intervals: Vec<HlogInterval>,
}

fn read_hlog(path: &Path) -> Hlog {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(bytes.ends_with(b"\n"), "{} ends mid-line", path.display());
    let mut log = Hlog {
        start_time: None,
        base_time: None,
        intervals: Vec::new(),
    };
    for entry in IntervalLogIterator::new(&bytes) {
        match entry.unwrap_or_else(|e| panic!("{}: unparsable: {e:?}", path.display())) {
            LogEntry::StartTime(d) => log.start_time = Some(d.as_secs_f64()),
            LogEntry::BaseTime(d) => log.base_time = Some(d.as_secs_f64()),
            LogEntry::Interval(iv) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(iv.encoded_histogram())
                    .expect("interval histogram is base64");
                let hist: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut std::io::Cursor::new(raw))
                    .expect("interval histogram decodes");
                log.intervals.push(HlogInterval {
                    start_s: iv.start_timestamp().as_secs_f64(),
                    duration_s: iv.duration().as_secs_f64(),
                    max_ms: iv.max(),
                    hist,
                });
            }
        }
    }
    log
}

/// Event names of the snapshot's `counters` object (everything but `derived` and `scope`).
const EVENTS: [&str; 10] = [
    "cache_misses",
    "cache_references",
    "context_switches",
    "cpu_migrations",
    "cycles",
    "instructions",
    "l1d_read_misses",
    "llc_read_misses",
    "page_faults",
    "task_clock_ns",
];

/// Whether `event` of a counters object was read; panics unless it is either a reading
/// (`value`, no `status`) or `{"status": "unsupported"|"denied", "reason": non-empty}`.
fn counter_available(counters: &Value, event: &str) -> bool {
    let e = &counters[event];
    assert!(e.is_object(), "counters.{event} missing in {counters}");
    match (e.get("value"), e.get("status")) {
        (Some(v), None) => {
            assert!(v.is_u64(), "counters.{event}.value not a count: {e}");
            assert!(
                e["time_enabled_ns"].is_u64() && e["time_running_ns"].is_u64(),
                "counters.{event} lacks its times: {e}"
            );
            true
        }
        (None, Some(st)) => {
            assert!(
                st == "unsupported" || st == "denied",
                "counters.{event}.status {st}"
            );
            let reason = e["reason"].as_str().unwrap_or("");
            assert!(!reason.is_empty(), "counters.{event} has no reason: {e}");
            false
        }
        _ => panic!("counters.{event} is neither a value nor a status with a reason: {e}"),
    }
}

/// Checks a `counters` object of a measurement with `--counters auto` on Linux: every event
/// is a value or a reason, cycles and instructions are never a silent 0, software events are
/// read, and derived figures are null when an input is missing. Returns the unavailable
/// events.
fn check_auto_counters(c: &Value, what: &str) -> Vec<String> {
    for event in EVENTS {
        counter_available(c, event);
    }
    for hw in ["cycles", "instructions"] {
        if counter_available(c, hw) {
            assert!(u(c, &format!("/{hw}/value")) > 0, "{what}: {hw} read as 0");
        }
    }
    // Software events open on any Linux.
    assert!(counter_available(c, "task_clock_ns"), "{what}: task clock");
    assert!(u(c, "/task_clock_ns/value") > 0, "{what}: task clock is 0");
    assert!(counter_available(c, "page_faults"), "{what}: page faults");
    // A run can take no page fault at all, but the event must have been counting.
    assert!(u(c, "/page_faults/time_enabled_ns") > 0, "{what}: {c}");
    if !counter_available(c, "cycles") || !counter_available(c, "instructions") {
        assert!(c["derived"]["ipc"].is_null(), "{what}: ipc without cycles");
    } else {
        assert!(f(c, "/derived/ipc") > 0.0, "{what}: ipc");
    }
    assert!(
        c["derived"]["page_faults_per_spread"].is_number(),
        "{what}: page faults per spread: {c}"
    );
    EVENTS
        .iter()
        .filter(|e| !counter_available(c, e))
        .map(|e| e.to_string())
        .collect()
}

/// A child process that is killed (by its own id) if the test ends before it does.
struct Spawned(Option<Child>);

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Spawned {
    fn start(dir: &Path, args: &[&str]) -> Spawned {
        let child = std::process::Command::new(bin())
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn spreadbench");
        Spawned(Some(child))
    }

    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child present")
    }

    /// Sends `sig` (`INT`, `TERM`, `STOP`, `CONT`) with kill(1).
    fn signal(&mut self, sig: &str) {
        let pid = self.child().id();
        let st = std::process::Command::new("kill")
            .args([format!("-{sig}"), pid.to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{sig} {pid} failed");
    }

    /// The exit status if it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child().try_wait().expect("try_wait")
    }

    /// Waits at most `limit` for the exit; `None` if it is still running.
    fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        loop {
            if let Some(st) = self.exited() {
                return Some(st);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits at most `limit` for the exit (killing it and failing otherwise) and collects
    /// stdout and stderr.
    fn finish(mut self, limit: Duration) -> Output {
        let st = self.wait_for(limit);
        assert!(st.is_some(), "spreadbench did not exit within {limit:?}");
        let child = self.0.take().expect("child present");
        child.wait_with_output().expect("collect output")
    }
}

// ---------------------------------------------------------------------------------------------
// 1. A short soak end to end
// ---------------------------------------------------------------------------------------------

#[test]
fn short_soak_writes_results_dir_metrics_and_snapshot() {
    let t = tmp();
    let root = t.path().join("results");
    let root_s = root.to_str().unwrap();
    let args = cat(&[
        &[
            "soak",
            "-w",
            "hot-1k",
            "--spreads",
            "10000",
            "--warmup",
            "100",
            "--interval-spreads",
            "1000",
            "--quiet",
            "--out",
            root_s,
            // Generous: the leak verdict is sensitive to harness RSS noise (see the ignored
            // tests at the end); this test is about the files, not about that.
            "--max-rss-growth",
            "10",
        ],
        &CALM,
    ]);
    let out = ok(t.path(), &args);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("10 intervals") && stdout.contains("results: "),
        "summary: {stdout}"
    );
    assert!(out.stderr.is_empty(), "--quiet, yet: {}", text(&out.stderr));

    let dir = only_result_dir(&root);
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with("-soak-hot-1k"), "results dir name {name}");
    assert_eq!(files_in(&dir), SOAK_FILES);
    let runs_csv = fs::read_to_string(root.join("runs.csv")).expect("runs.csv");
    assert_eq!(
        runs_csv.lines().count(),
        2,
        "header and one row: {runs_csv}"
    );
    assert!(runs_csv.lines().nth(1).unwrap().contains(",soak,hot-1k,"));

    let lines = read_jsonl(&dir.join("metrics.jsonl"));
    assert_eq!(lines.len(), 10, "one metrics line per interval");
    let mut prev_end = 0.0;
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(u(l, "/interval"), i as u64, "{l}");
        assert_eq!(u(l, "/spreads"), 1000, "{l}");
        assert_eq!(u(l, "/spreads_done"), 1000 * (i as u64 + 1), "{l}");
        assert_eq!(u(l, "/latency_ns/count"), 1000, "{l}");
        let lat = &l["latency_ns"];
        assert!(
            u(lat, "/min") <= u(lat, "/p50")
                && u(lat, "/p50") <= u(lat, "/p99")
                && u(lat, "/p99") <= u(lat, "/max")
                && u(lat, "/min") > 0,
            "interval {i} latency: {lat}"
        );
        assert!(u(l, "/rss_bytes") > 0, "{l}");
        assert_eq!(
            u(l, "/pool/in_use"),
            0,
            "records in use between intervals: {l}"
        );
        assert_eq!(f(l, "/alloc/allocs_per_spread"), 0.0, "{l}");
        assert!(l["counters"].is_object(), "{l}");
        check_auto_counters(&l["counters"], &format!("interval {i}"));
        let start = f(l, "/start_s");
        let dur = f(l, "/duration_s");
        assert!(dur > 0.0, "{l}");
        assert!(
            start >= prev_end - 1e-6,
            "interval {i} overlaps the previous"
        );
        assert!((f(l, "/elapsed_s") - (start + dur)).abs() < 1e-6, "{l}");
        prev_end = start + dur;
    }

    let snap = read_json(&dir.join("snapshot.json"));
    assert_eq!(s(&snap, "/command"), "soak");
    assert_eq!(u(&snap, "/spreads"), 10_000);
    assert_eq!(u(&snap, "/warmup"), 100);
    assert_eq!(u(&snap, "/latency_ns/count"), 10_000);
    assert_eq!(snap["partial"], false);
    assert!(
        snap.get("partial_reason").is_none(),
        "{}",
        snap["partial_reason"]
    );
    let soak = &snap["soak"];
    assert_eq!(u(soak, "/intervals"), 10);
    assert_eq!(u(soak, "/interval/spreads"), 1000);
    assert_eq!(s(soak, "/mode"), "closed-loop");
    assert_eq!(soak["coordinated_omission_corrected"], false);
    for v in ["leak", "drift", "stall"] {
        let st = s(soak, &format!("/verdicts/{v}/status"));
        assert!(
            ["pass", "fail", "inconclusive"].contains(&st),
            "{v} status {st}"
        );
    }
    assert_eq!(s(soak, "/verdicts/leak/status"), "pass", "{soak}");
    assert_eq!(f(soak, "/verdicts/leak/max_rss_growth_pct"), 10.0);
    assert_eq!(u(soak, "/verdicts/leak/pool_in_use_at_end"), 0);
    assert_eq!(soak["verdicts"]["leak"]["allocs_steady"], true);
    assert_eq!(f(soak, "/verdicts/drift/max_ratio"), 1000.0);
    assert_eq!(f(soak, "/verdicts/stall/max_ratio"), 1_000_000.0);
    assert_eq!(soak["passed"], true, "{soak}");
    assert_eq!(soak["failed"], serde_json::json!([]));
    assert!(u(soak, "/rss_bytes/start") > 0 && u(soak, "/rss_bytes/end") > 0);
    // VmHWM is kept lazily by the kernel and can read a little below an earlier VmRSS.
    assert!(
        u(soak, "/rss_bytes/peak") as f64 >= 0.9 * u(soak, "/rss_bytes/end") as f64,
        "{}",
        soak["rss_bytes"]
    );
    // The totals are the intervals' sums.
    let sum: u64 = lines.iter().map(|l| u(l, "/spreads")).sum();
    assert_eq!(sum, 10_000);
    assert_eq!(f(&snap, "/alloc/allocs_per_spread"), 0.0);
    check_auto_counters(&snap["counters"], "soak snapshot");
}

// ---------------------------------------------------------------------------------------------
// 2. intervals.hlog reads back with the hdrhistogram crate
// ---------------------------------------------------------------------------------------------

#[test]
fn interval_log_reads_back_with_hdrhistogram() {
    let t = tmp();
    let args = cat(&[
        &[
            "soak",
            "-w",
            "hot-1k",
            "--spreads",
            "10000",
            "--warmup",
            "100",
            "--interval-spreads",
            "1000",
            "--quiet",
            "--max-rss-growth",
            "1000",
        ],
        &CALM,
    ]);
    ok(t.path(), &args);
    let dir = only_result_dir(&t.path().join("results"));
    let path = dir.join("intervals.hlog");

    let raw = fs::read_to_string(&path).unwrap();
    let header: Vec<&str> = raw.lines().take_while(|l| !l.starts_with('0')).collect();
    assert!(
        header.contains(&"#[Histogram log format version 1.3]"),
        "{header:?}"
    );
    let start_line = header
        .iter()
        .find(|l| l.starts_with("#[StartTime: "))
        .expect("StartTime header");
    assert!(start_line.contains("(seconds since epoch)"), "{start_line}");
    assert!(
        header.iter().any(|l| l.starts_with("#[BaseTime: ")),
        "{header:?}"
    );
    assert!(
        header.contains(
            &"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
        ),
        "legend missing: {header:?}"
    );

    let log = read_hlog(&path);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let base = log.base_time.expect("BaseTime parsed");
    let start = log.start_time.expect("StartTime parsed");
    assert!(
        (now - base) > 0.0 && (now - base) < 600.0,
        "BaseTime {base} vs now {now}"
    );
    assert!(
        start <= base + 1e-3,
        "StartTime {start} after BaseTime {base}"
    );
    assert_eq!(log.intervals.len(), 10);
    let total: u64 = log.intervals.iter().map(|iv| iv.hist.len()).sum();
    assert_eq!(total, 10_000);
    let metrics = read_jsonl(&dir.join("metrics.jsonl"));
    for (i, iv) in log.intervals.iter().enumerate() {
        assert_eq!(iv.hist.len(), 1000, "interval {i}");
        assert!(iv.duration_s > 0.0, "interval {i} duration");
        if i > 0 {
            let prev = &log.intervals[i - 1];
            assert!(
                iv.start_s > prev.start_s,
                "start timestamps must increase: {} then {}",
                prev.start_s,
                iv.start_s
            );
            assert!(
                iv.start_s >= prev.start_s + prev.duration_s - 0.0015,
                "interval {i} overlaps the previous"
            );
        }
        let hist_max_ms = iv.hist.max() as f64 / 1e6;
        assert!(
            (iv.max_ms - hist_max_ms).abs() <= 0.0011,
            "interval {i}: Interval_Max {} ms vs histogram max {hist_max_ms} ms",
            iv.max_ms
        );
        // The same interval in metrics.jsonl.
        let m = &metrics[i];
        assert_eq!(u(m, "/latency_ns/count"), iv.hist.len());
        assert_eq!(u(m, "/latency_ns/max"), iv.hist.max(), "interval {i}");
        assert_eq!(u(m, "/latency_ns/min"), iv.hist.min(), "interval {i}");
        assert!(
            (f(m, "/start_s") - iv.start_s).abs() < 0.0011,
            "interval {i}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Intervals by time
// ---------------------------------------------------------------------------------------------

#[test]
fn interval_secs_cuts_intervals_by_time() {
    let t = tmp();
    let args = cat(&[
        &[
            "soak",
            "-w",
            "hot-1k",
            "--spreads",
            "40000",
            "--warmup",
            "100",
            "--interval-secs",
            "0.2",
            "--quiet",
            "--max-rss-growth",
            "1000",
        ],
        &CALM,
    ]);
    ok(t.path(), &args);
    let dir = only_result_dir(&t.path().join("results"));
    let lines = read_jsonl(&dir.join("metrics.jsonl"));
    let snap = read_json(&dir.join("snapshot.json"));
    let wall = f(&snap, "/measure_wall_s");
    assert!(lines.len() >= 2, "{} intervals in {wall} s", lines.len());
    assert_eq!(u(&snap, "/soak/intervals"), lines.len() as u64);
    assert_eq!(f(&snap, "/soak/interval/secs"), 0.2);
    let mut done = 0;
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(u(l, "/interval"), i as u64);
        done += u(l, "/spreads");
        assert_eq!(u(l, "/spreads_done"), done);
        assert_eq!(u(l, "/latency_ns/count"), u(l, "/spreads"));
        // Every interval but the last runs until 0.2 s have passed (then ends at the next
        // chunk of 1024 requests).
        if i + 1 < lines.len() {
            assert!(f(l, "/duration_s") >= 0.2, "interval {i}: {l}");
            assert_eq!(u(l, "/spreads") % 1024, 0, "chunks of 1024: {l}");
        }
    }
    assert_eq!(done, 40_000);
    assert_eq!(u(&snap, "/spreads"), 40_000);
    // About one interval per 0.2 s of measuring.
    let expect = wall / 0.2;
    assert!(
        (lines.len() as f64) <= expect + 1.5,
        "{} intervals in {wall} s",
        lines.len()
    );
    let hlog = read_hlog(&dir.join("intervals.hlog"));
    assert_eq!(hlog.intervals.len(), lines.len());
}

#[test]
fn default_interval_is_max_of_1000_and_n_over_100_capped_at_n() {
    let t = tmp();
    for (spreads, k, counts) in [
        ("2500", 1000, vec![1000, 1000, 500]),
        ("500", 500, vec![500]),
    ] {
        let out = ok(
            t.path(),
            &cat(&[
                &[
                    "soak",
                    "-w",
                    "chain-64",
                    "--spreads",
                    spreads,
                    "--warmup",
                    "10",
                    "--quiet",
                    "--json",
                    "--max-rss-growth",
                    "1000",
                ],
                &CALM,
            ]),
        );
        let snap: Value = serde_json::from_slice(&out.stdout).expect("snapshot JSON");
        assert_eq!(u(&snap, "/soak/interval/spreads"), k, "--spreads {spreads}");
        assert_eq!(u(&snap, "/soak/intervals"), counts.len() as u64);
    }
    for dir in result_dirs(&t.path().join("results")) {
        let lines = read_jsonl(&dir.join("metrics.jsonl"));
        let counts: Vec<u64> = lines.iter().map(|l| u(l, "/spreads")).collect();
        assert!(
            counts == [1000, 1000, 500] || counts == [500],
            "{}: {counts:?}",
            dir.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Leak injection
// ---------------------------------------------------------------------------------------------

fn leak_soak_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    cat(&[
        &[
            "soak",
            "-w",
            "hot-1k",
            "--spreads",
            "20000",
            "--warmup",
            "100",
            "--interval-spreads",
            "1000",
            "--quiet",
        ],
        &CALM,
        extra,
    ])
}

#[test]
fn leak_injection_fails_the_leak_verdict() {
    let t = tmp();
    let out = expect_code(
        t.path(),
        &leak_soak_args(&["--leak-bytes-per-spread", "4096"]),
        4,
    );
    let stderr = text(&out.stderr);
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.contains("leak") && last.starts_with("spreadbench: "),
        "last stderr line: {last}"
    );
    let dir = only_result_dir(&t.path().join("results"));
    assert_eq!(files_in(&dir), SOAK_FILES, "results are still written");
    assert!(
        last.contains(&*dir.file_name().unwrap().to_string_lossy()),
        "{last}"
    );
    let snap = read_json(&dir.join("snapshot.json"));
    let soak = &snap["soak"];
    let leak = &soak["verdicts"]["leak"];
    assert_eq!(s(leak, "/status"), "fail", "{leak}");
    assert!(f(leak, "/rss_growth_second_half_pct") > 1.0, "{leak}");
    assert_eq!(f(leak, "/max_rss_growth_pct"), 1.0, "default threshold");
    assert!(s(leak, "/reason").contains("RSS"), "{leak}");
    assert_eq!(soak["passed"], false);
    assert_eq!(soak["failed"], serde_json::json!(["leak"]));
    assert_eq!(snap["partial"], false);
    // 4096 bytes per spread, written: RSS grows by about 80 MB over the run.
    let lines = read_jsonl(&dir.join("metrics.jsonl"));
    let first = u(&lines[0], "/rss_bytes");
    let last_rss = u(&lines[lines.len() - 1], "/rss_bytes");
    assert!(
        last_rss > first + 19_000 * 4096 / 2,
        "RSS {first} -> {last_rss} with 4 KiB leaked per spread"
    );
}

#[test]
fn same_soak_without_leak_hook_passes() {
    let t = tmp();
    // 10% rather than the default 1%: see `leak_verdict_no_false_positive_*` at the end.
    let out = ok(t.path(), &leak_soak_args(&["--max-rss-growth", "10"]));
    assert!(!text(&out.stderr).contains("leak"), "{}", text(&out.stderr));
    let dir = only_result_dir(&t.path().join("results"));
    let snap = read_json(&dir.join("snapshot.json"));
    let leak = &snap["soak"]["verdicts"]["leak"];
    assert_eq!(s(leak, "/status"), "pass", "{leak}");
    assert!(f(leak, "/rss_growth_second_half_pct") < 10.0, "{leak}");
    assert_eq!(u(leak, "/pool_in_use_at_end"), 0);
    assert_eq!(snap["soak"]["passed"], true);
    assert_eq!(u(&snap, "/soak/intervals"), 20);
}

// ---------------------------------------------------------------------------------------------
// 5. SIGINT and SIGTERM
// ---------------------------------------------------------------------------------------------

/// Starts `args` in a fresh temp dir, sends `sig` after `after`, and returns the output and
/// the temp dir (whose `results/` holds the partial results).
fn interrupted(args: &[&str], sig: &str, after: Duration) -> (Output, TempDir) {
    let t = tmp();
    let mut child = Spawned::start(t.path(), args);
    std::thread::sleep(after);
    if let Some(st) = child.exited() {
        panic!("{args:?} exited before SIG{sig}: {st:?}");
    }
    child.signal(sig);
    let out = child.finish(Duration::from_secs(20));
    (out, t)
}

/// The checks shared by interrupted soaks: exit 130, one partial results directory whose
/// streamed files are whole and agree with the snapshot.
fn check_interrupted_soak(out: &Output, t: &TempDir, sig: &str, asked: u64) {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(130),
        "expected exit 130 after SIG{sig}: {:?}\nstderr:\n{stderr}",
        out.status
    );
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.contains(&format!("SIG{sig}")) && last.contains("partial results in"),
        "last stderr line: {last}"
    );
    let dir = only_result_dir(&t.path().join("results"));
    assert_eq!(files_in(&dir), SOAK_FILES);
    let snap = read_json(&dir.join("snapshot.json"));
    assert_eq!(snap["partial"], true);
    let reason = s(&snap, "/partial_reason");
    assert!(
        reason.contains(&format!("SIG{sig}")),
        "partial_reason: {reason}"
    );
    let spreads = u(&snap, "/spreads");
    assert!(spreads > 0 && spreads < asked, "spreads {spreads}");
    assert_eq!(u(&snap, "/latency_ns/count"), spreads);
    // The measured phase ran for a while before the signal (how long depends on the build
    // and the machine's load, so only that it did).
    assert!(
        f(&snap, "/measure_wall_s") > 0.05,
        "{}",
        snap["measure_wall_s"]
    );

    let lines = read_jsonl(&dir.join("metrics.jsonl"));
    assert!(!lines.is_empty());
    let sum: u64 = lines.iter().map(|l| u(l, "/spreads")).sum();
    assert_eq!(sum, spreads, "metrics.jsonl covers every measured spread");
    assert_eq!(u(&lines[lines.len() - 1], "/spreads_done"), spreads);
    assert_eq!(u(&snap, "/soak/intervals"), lines.len() as u64);
    let hlog = read_hlog(&dir.join("intervals.hlog"));
    assert_eq!(hlog.intervals.len(), lines.len());
    let hsum: u64 = hlog.intervals.iter().map(|iv| iv.hist.len()).sum();
    assert_eq!(hsum, spreads, "intervals.hlog covers every measured spread");
}

// A short warm-up, so the measured phase has begun well before the signal even in a debug
// build on a loaded machine.
const LONG_SOAK: [&str; 10] = [
    "soak",
    "-w",
    "hot-1k",
    "--spreads",
    "100000000",
    "--warmup",
    "50",
    "--interval-spreads",
    "2000",
    "--quiet",
];

#[test]
fn sigint_during_soak_writes_partial_results_and_exits_130() {
    let (out, t) = interrupted(&LONG_SOAK, "INT", Duration::from_millis(1500));
    check_interrupted_soak(&out, &t, "INT", 100_000_000);
}

#[test]
fn sigterm_during_soak_writes_partial_results_and_exits_130() {
    let (out, t) = interrupted(&LONG_SOAK, "TERM", Duration::from_millis(1500));
    check_interrupted_soak(&out, &t, "TERM", 100_000_000);
}

#[test]
fn sigint_during_run_writes_partial_snapshot_and_exits_130() {
    // 2 000 000 rather than 100 000 000: `run` draws every request before measuring, and with
    // 1e8 a signal 1.5 s in lands in that drawing (see the ignored test at the end).
    let args = [
        "run",
        "-w",
        "hot-1k",
        "--spreads",
        "2000000",
        "--warmup",
        "100",
        "--quiet",
    ];
    let (out, t) = interrupted(&args, "INT", Duration::from_millis(1500));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stderr:\n{stderr}");
    assert!(
        stderr.lines().last().unwrap_or("").contains("SIGINT"),
        "{stderr}"
    );
    let dir = only_result_dir(&t.path().join("results"));
    assert_eq!(files_in(&dir), ["latency.hgrm", "snapshot.json"]);
    let snap = read_json(&dir.join("snapshot.json"));
    assert_eq!(s(&snap, "/command"), "run");
    assert_eq!(snap["partial"], true);
    assert!(s(&snap, "/partial_reason").contains("SIGINT"));
    let spreads = u(&snap, "/spreads");
    assert!(spreads > 0 && spreads < 2_000_000, "spreads {spreads}");
    assert_eq!(u(&snap, "/latency_ns/count"), spreads);
}

// ---------------------------------------------------------------------------------------------
// 6. Perf counters where hardware events are unsupported
// ---------------------------------------------------------------------------------------------

#[test]
fn counters_auto_off_and_required_in_soak_and_run() {
    let t = tmp();
    let soak = |extra: &[&str]| -> Vec<String> {
        cat(&[
            &[
                "soak",
                "-w",
                "chain-64",
                "--spreads",
                "3000",
                "--warmup",
                "10",
                "--interval-spreads",
                "1000",
                "--quiet",
                "--json",
                "--max-rss-growth",
                "1000",
            ],
            &CALM,
            extra,
        ])
        .into_iter()
        .map(String::from)
        .collect()
    };
    let runc = |extra: &[&str]| -> Vec<String> {
        cat(&[
            &[
                "run",
                "-w",
                "hot-1k",
                "--spreads",
                "2000",
                "--warmup",
                "50",
                "--quiet",
                "--json",
            ],
            extra,
        ])
        .into_iter()
        .map(String::from)
        .collect()
    };
    let json_of = |args: Vec<String>| -> Value {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        serde_json::from_slice(&ok(t.path(), &a).stdout).expect("snapshot JSON")
    };

    // auto (the default)
    let snap = json_of(soak(&[]));
    let missing = check_auto_counters(&snap["counters"], "soak");
    assert!(snap["counters"]["scope"].is_string());
    let run_snap = json_of(runc(&[]));
    let run_missing = check_auto_counters(&run_snap["counters"], "run");
    assert_eq!(missing, run_missing, "soak and run see the same events");
    let cycles_supported = !missing.iter().any(|m| m == "cycles");

    // off
    let snap = json_of(soak(&["--counters", "off"]));
    assert_eq!(snap["counters"], serde_json::json!({"status": "off"}));
    let run_snap = json_of(runc(&["--counters", "off"]));
    assert_eq!(run_snap["counters"], serde_json::json!({"status": "off"}));
    for dir in result_dirs(&t.path().join("results")) {
        let snap = read_json(&dir.join("snapshot.json"));
        if snap["counters"]["status"] == "off" && snap["command"] == "soak" {
            for l in read_jsonl(&dir.join("metrics.jsonl")) {
                assert_eq!(l["counters"], serde_json::json!({"status": "off"}));
            }
        }
    }

    // required: exit 1 with one line naming an unavailable event, and no results, when
    // anything is missing; exit 0 otherwise.
    let before = result_dirs(&t.path().join("results")).len();
    for args in [
        soak(&["--counters", "required"]),
        runc(&["--counters", "required"]),
    ] {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        if missing.is_empty() {
            ok(t.path(), &a);
            continue;
        }
        let out = expect_code(t.path(), &a, 1);
        let stderr = text(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        assert!(lines[0].starts_with("spreadbench: error: "), "{stderr}");
        assert!(lines[0].contains("--counters required"), "{stderr}");
        assert!(
            missing.iter().any(|m| lines[0].contains(m.as_str())),
            "names none of the unavailable events {missing:?}: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }
    if !cycles_supported {
        assert!(!missing.is_empty());
    }
    assert_eq!(
        result_dirs(&t.path().join("results")).len(),
        before + usize::from(missing.is_empty()) * 2,
        "--counters required left results behind"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Open loop
// ---------------------------------------------------------------------------------------------

#[test]
fn open_loop_keeps_the_rate_and_says_so() {
    let t = tmp();
    let args = cat(&[
        &[
            "soak",
            "-w",
            "hot-1k",
            "--rate",
            "2000",
            "--spreads",
            "4000",
            "--warmup",
            "100",
            "--interval-spreads",
            "1000",
            "--quiet",
            "--json",
            "--max-rss-growth",
            "1000",
        ],
        &CALM,
    ]);
    let out = ok(t.path(), &args);
    let snap: Value = serde_json::from_slice(&out.stdout).expect("snapshot JSON");
    let soak = &snap["soak"];
    assert_eq!(s(soak, "/mode"), "open-loop");
    assert_eq!(s(&snap, "/config/mode"), "open-loop");
    assert_eq!(soak["coordinated_omission_corrected"], true);
    assert_eq!(f(soak, "/rate_per_s"), 2000.0);
    let wall = f(&snap, "/measure_wall_s");
    assert!(wall >= 1.9, "4000 requests at 2000/s took {wall} s");
    let tput = f(&snap, "/throughput_per_s");
    assert!(
        (tput - 2000.0).abs() <= 400.0,
        "throughput {tput} vs rate 2000"
    );
    assert_eq!(u(&snap, "/spreads"), 4000);
    let dir = only_result_dir(&t.path().join("results"));
    let lines = read_jsonl(&dir.join("metrics.jsonl"));
    assert_eq!(lines.len(), 4);
    for (i, l) in lines.iter().enumerate() {
        // Interval i holds requests due from i * 0.5 s on.
        let start = f(l, "/start_s");
        assert!(
            (start - i as f64 * 0.5).abs() < 0.1,
            "interval {i} starts at {start} s"
        );
        let tp = f(l, "/throughput_per_s");
        // Per interval, a scheduling hiccup at a boundary moves a little time between
        // neighbours; the run as a whole is held to 10% above.
        assert!((tp - 2000.0).abs() <= 500.0, "interval {i}: {tp}/s");
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Bad input
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_soak_flags_exit_2_and_write_nothing() {
    let cases: &[(&[&str], &str)] = &[
        (&["--rate", "0"], "--rate"),
        (&["--rate", "-5"], "-5"),
        (&["--rate=-5"], "--rate"),
        (&["--rate", "NaN"], "--rate"),
        (&["--rate", "inf"], "--rate"),
        (&["--interval-secs", "0"], "--interval-secs"),
        (&["--interval-secs=-1"], "--interval-secs"),
        (&["--interval-secs", "NaN"], "--interval-secs"),
        (&["--interval-spreads", "0"], "--interval-spreads"),
        (
            &["--interval-spreads", "10", "--interval-secs", "1"],
            "cannot be used with",
        ),
        (&["--max-rss-growth", "-1"], "-1"),
        (&["--max-rss-growth=-1"], "--max-rss-growth"),
        (&["--max-p99-drift", "NaN"], "--max-p99-drift"),
        (&["--max-stall-ratio=-0.5"], "--max-stall-ratio"),
        (&["--concurrency", "0"], "--concurrency"),
        (&["--counters", "sometimes"], "--counters"),
    ];
    for (extra, needle) in cases {
        let t = tmp();
        let args = cat(&[
            &["soak", "-w", "hot-1k", "--spreads", "100", "--quiet"],
            extra,
        ]);
        let out = expect_code(t.path(), &args, 2);
        let stderr = text(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert!(
            !t.path().join("results").exists(),
            "{args:?} failed but created results/"
        );
    }
    let t = tmp();
    let out = expect_code(t.path(), &["soak", "-w", "hot-1k", "--spreads", "0"], 2);
    assert!(text(&out.stderr).contains("--spreads"));
    assert!(!t.path().join("results").exists());
    let out = expect_code(
        t.path(),
        &["soak", "-w", "no-such-workload", "--spreads", "10"],
        2,
    );
    assert!(text(&out.stderr).starts_with("spreadbench: error: "));
    assert!(!t.path().join("results").exists());
}

// ---------------------------------------------------------------------------------------------
// 9. --json
// ---------------------------------------------------------------------------------------------

#[test]
fn soak_json_prints_the_snapshot_on_stdout() {
    let t = tmp();
    let args = cat(&[
        &[
            "soak",
            "-w",
            "fan-32",
            "--spreads",
            "4000",
            "--warmup",
            "100",
            "--interval-spreads",
            "1000",
            "--quiet",
            "--json",
            "--max-rss-growth",
            "1000",
        ],
        &CALM,
    ]);
    let out = ok(t.path(), &args);
    let stdout = text(&out.stdout);
    let snap: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{stdout}"));
    assert_eq!(s(&snap, "/command"), "soak");
    assert_eq!(s(&snap, "/workload/name"), "fan-32");
    assert_eq!(u(&snap, "/spreads"), 4000);
    assert_eq!(u(&snap, "/soak/intervals"), 4);
    // The same snapshot is in the results directory.
    let dir = only_result_dir(&t.path().join("results"));
    assert_eq!(read_json(&dir.join("snapshot.json")), snap);
}

// ---------------------------------------------------------------------------------------------
// Bugs found while writing these tests (ignored until fixed; see the report)
// ---------------------------------------------------------------------------------------------

/// The leak verdict judges RSS growth over the second half against 1% of the process's RSS,
/// about 5 MB for a small workload: the harness's own early allocations (interval writing,
/// growing histograms) are enough to fail it on a soak of a few intervals.
#[test]
fn leak_verdict_no_false_positive_on_short_soak() {
    // About half of such soaks fail here; 8 make a chance pass of this test unlikely.
    const RUNS: usize = 8;
    let t = tmp();
    let mut fails = Vec::new();
    for _ in 0..RUNS {
        let args = cat(&[
            &[
                "soak",
                "-w",
                "hot-1k",
                "--spreads",
                "5000",
                "--warmup",
                "1000",
                "--quiet",
                "--json",
            ],
            &CALM,
        ]);
        let out = run(t.path(), &args);
        let snap: Value = serde_json::from_slice(&out.stdout).expect("snapshot JSON");
        let leak = &snap["soak"]["verdicts"]["leak"];
        assert_eq!(u(leak, "/pool_in_use_at_end"), 0);
        assert_eq!(f(leak, "/allocs_per_spread_second_half"), 0.0);
        if leak["status"] == "fail" {
            fails.push(leak["reason"].to_string());
        }
    }
    assert!(
        fails.is_empty(),
        "{} of {RUNS} soaks of a non-leaking engine failed the leak verdict: {fails:?}",
        fails.len()
    );
}

/// A stall (the process stopped for a while, as a busy host or a page-in would) in the
/// second half makes the harness's buffers grow with the largest latency seen, which the leak
/// verdict reports as a leak.
#[test]
fn leak_verdict_no_false_positive_after_stalls() {
    let t = tmp();
    let args = [
        "soak",
        "-w",
        "hot-1k",
        "--rate",
        "4000",
        "--spreads",
        "8000",
        "--warmup",
        "100",
        "--interval-spreads",
        "500",
        "--quiet",
        "--json",
    ];
    let mut child = Spawned::start(t.path(), &args);
    let t0 = Instant::now();
    for (at_ms, pause_ms) in [(1300, 8), (1500, 32), (1700, 128), (1900, 256)] {
        while t0.elapsed() < Duration::from_millis(at_ms) {
            std::thread::sleep(Duration::from_millis(1));
        }
        child.signal("STOP");
        std::thread::sleep(Duration::from_millis(pause_ms));
        child.signal("CONT");
    }
    let out = child.finish(Duration::from_secs(20));
    let snap: Value = serde_json::from_slice(&out.stdout).expect("snapshot JSON");
    let leak = &snap["soak"]["verdicts"]["leak"];
    assert_eq!(u(leak, "/pool_in_use_at_end"), 0);
    assert_ne!(s(leak, "/status"), "fail", "{leak}");
}

/// `BaseTime` in intervals.hlog is documented as the measured phase's start (interval
/// timestamps count from it) but is taken before the warm-up.
#[test]
fn hlog_base_time_is_the_measured_phase_start() {
    let t = tmp();
    let t0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let args = cat(&[
        &[
            "soak",
            "-w",
            "hot-1k",
            "--spreads",
            "2000",
            "--warmup",
            "20000",
            "--interval-spreads",
            "500",
            "--quiet",
            "--json",
            "--max-rss-growth",
            "1000",
        ],
        &CALM,
    ]);
    let out = ok(t.path(), &args);
    let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
    let dir = only_result_dir(&t.path().join("results"));
    let hlog = read_hlog(&dir.join("intervals.hlog"));
    let base = hlog.base_time.unwrap();
    // The warm-up runs the same requests closed loop: it takes about warmup / throughput.
    let warm_s = 20_000.0 / f(&snap, "/throughput_per_s");
    assert!(
        base - t0 >= 0.5 * warm_s,
        "BaseTime is {:.3} s after the command started, but the warm-up alone took about \
         {warm_s:.3} s",
        base - t0
    );
}

/// A tiny `--rate` makes the schedule overflow `Duration`: a panic (exit 101) instead of an
/// error naming the flag.
#[test]
fn tiny_rate_is_rejected_not_a_panic() {
    let t = tmp();
    let child = Spawned::start(
        t.path(),
        &[
            "soak",
            "-w",
            "hot-1k",
            "--spreads",
            "2",
            "--warmup",
            "1",
            "--quiet",
            "--rate",
            "1e-300",
        ],
    );
    let out = child.finish(Duration::from_secs(10));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stderr.contains("--rate"), "{stderr}");
}

/// `run` draws every request before measuring, without looking at the stop flag: with
/// `--spreads 100000000` a SIGINT 1.5 s in is answered only after ~10 s and ~3 GB, and the
/// partial snapshot has 0 spreads.
#[test]
fn run_answers_sigint_promptly_with_many_spreads() {
    let t = tmp();
    let mut child = Spawned::start(
        t.path(),
        &["run", "-w", "hot-1k", "--spreads", "100000000", "--quiet"],
    );
    std::thread::sleep(Duration::from_millis(1500));
    child.signal("INT");
    let st = child.wait_for(Duration::from_secs(3));
    assert!(st.is_some(), "still running 3 s after SIGINT");
    let out = child.finish(Duration::from_secs(1));
    assert_eq!(out.status.code(), Some(130));
    let snap = read_json(&only_result_dir(&t.path().join("results")).join("snapshot.json"));
    assert!(
        u(&snap, "/spreads") > 0,
        "nothing measured before the signal"
    );
}
