//! End-to-end tests of the engine-facing flags of the `spreadbench` binary: hop threads, batch
//! size, prefetch distance, the ActivationRecordPool, closed-loop concurrency and the
//! allocation accounting of `run`, and the determinism of `spread` across thread counts.
//!
//! Every command runs with its working directory in a fresh temp dir, so `results/` lands
//! there. Workloads are small (`hot-1k`, `chain-64`, `fan-32`, and `warm-10k` with short runs)
//! so the whole file stays within a few seconds in release.

use serde_json::{json, Value};
use std::fs;

mod common;
use common::{f, ok, ok_json, ok_stdout, s, sb, text, tmp, u};

// ---------------------------------------------------------------------------------------------
// Helpers (the shared ones are in tests/common)
// ---------------------------------------------------------------------------------------------

/// `run -w WORKLOAD --spreads N --warmup W --json --quiet EXTRA…`, in a fresh temp dir.
fn run_json(workload: &str, spreads: u64, warmup: u64, extra: &[&str]) -> Value {
    let t = tmp();
    let spreads = spreads.to_string();
    let warmup = warmup.to_string();
    let mut args = vec![
        "run",
        "-w",
        workload,
        "--spreads",
        &spreads,
        "--warmup",
        &warmup,
        "--json",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    ok_json(t.path(), &args)
}

/// A clap usage error: exit 2, nothing on stdout, one `error:` line naming `needle` (clap
/// follows it with a blank line and its `For more information…` hint), no `results/`.
fn usage_error(args: &[&str], needle: &str) {
    let t = tmp();
    let d = t.path();
    let out = sb(d).args(args).output().expect("run spreadbench");
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "spreadbench {args:?}: expected exit 2\nstderr:\n{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "spreadbench {args:?}: usage error printed on stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let first = stderr.lines().next().unwrap_or("");
    assert!(
        first.starts_with("error: "),
        "spreadbench {args:?}: usage error should start with clap's `error:`: {stderr}"
    );
    assert!(
        first.contains(needle),
        "spreadbench {args:?}: the error line should mention {needle:?}: {first}"
    );
    let error_lines = stderr
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("error"))
        .count();
    assert_eq!(
        error_lines, 1,
        "spreadbench {args:?}: expected exactly one error line:\n{stderr}"
    );
    assert!(
        !d.join("results").exists(),
        "spreadbench {args:?}: usage error left a results directory"
    );
    let leftovers: Vec<_> = fs::read_dir(d).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "spreadbench {args:?}: usage error wrote files: {leftovers:?}"
    );
}

fn b(v: &Value, path: &str) -> bool {
    v.pointer(path)
        .and_then(Value::as_bool)
        .unwrap_or_else(|| panic!("{path} is not a boolean in {v}"))
}

fn settings(j: &Value) -> &Vec<Value> {
    j["settings"]
        .as_array()
        .unwrap_or_else(|| panic!("settings is not an array in {j}"))
}

/// The label `run` gives a setting.
fn label(threads: u64, batch: u64, prefetch: u64, pool: bool, concurrency: u64) -> String {
    format!(
        "threads={threads} batch={batch} prefetch={prefetch} pool={} concurrency={concurrency}",
        if pool { "on" } else { "off" }
    )
}

/// Checks the pool statistics of a pool-on setting that ran `requests` requests (warm-up
/// included) with `concurrency` clients.
fn check_pool_on(pool: &Value, requests: u64, concurrency: u64, what: &str) {
    assert!(
        pool.get("status").is_none(),
        "{what}: pool should be on: {pool}"
    );
    assert_eq!(u(pool, "/acquires"), requests, "{what}: acquires: {pool}");
    assert_eq!(u(pool, "/returns"), requests, "{what}: returns: {pool}");
    assert_eq!(
        u(pool, "/hits") + u(pool, "/misses"),
        requests,
        "{what}: hits + misses != acquires: {pool}"
    );
    assert_eq!(
        u(pool, "/local_hits") + u(pool, "/global_hits"),
        u(pool, "/hits"),
        "{what}: local + global hits != hits: {pool}"
    );
    let misses = u(pool, "/misses");
    // The pool is prefilled with one record per client, so misses are rare: at most one
    // fresh record per client.
    assert!(
        misses <= concurrency,
        "{what}: expected at most {concurrency} misses (one fresh record per client at most): {pool}"
    );
    let hit_rate = f(pool, "/hit_rate");
    assert!(hit_rate > 0.99, "{what}: hit_rate {hit_rate}: {pool}");
    assert!(
        (hit_rate - u(pool, "/hits") as f64 / requests as f64).abs() < 1e-12,
        "{what}: hit_rate is not hits / acquires: {pool}"
    );
    assert_eq!(
        u(pool, "/in_use"),
        0,
        "{what}: records still in use: {pool}"
    );
    assert_eq!(u(pool, "/discarded"), 0, "{what}: discarded: {pool}");
    let hwm = u(pool, "/high_water_mark");
    if concurrency == 1 {
        assert_eq!(hwm, 1, "{what}: high-water mark with one client: {pool}");
    } else {
        assert!(
            (1..=concurrency).contains(&hwm),
            "{what}: high-water mark {hwm} with {concurrency} clients: {pool}"
        );
    }
    // Every record ever made (fresh on a miss, or prefilled one per client) is idle again
    // at the end.
    assert_eq!(
        u(pool, "/available"),
        misses + u(pool, "/prefilled"),
        "{what}: records made but not available at the end: {pool}"
    );
    let util = f(pool, "/utilization");
    assert!(
        (0.0..=1.0).contains(&util),
        "{what}: utilization {util} outside [0, 1]: {pool}"
    );
}

fn check_pool_off(pool: &Value, what: &str) {
    assert_eq!(
        pool,
        &json!({"status": "off"}),
        "{what}: pool should be off"
    );
}

/// Allocation accounting of a pool-on setting in steady state: nothing per spread.
fn check_alloc_zero(alloc: &Value, what: &str) {
    assert_eq!(
        f(alloc, "/allocs_per_spread"),
        0.0,
        "{what}: allocations per spread with the pool on: {alloc}"
    );
    assert_eq!(
        f(alloc, "/bytes_per_spread"),
        0.0,
        "{what}: bytes per spread with the pool on: {alloc}"
    );
    assert_eq!(u(alloc, "/allocs"), 0, "{what}: {alloc}");
    assert_eq!(u(alloc, "/bytes"), 0, "{what}: {alloc}");
}

/// Allocation accounting of a pool-off setting: every request allocates its per-spread state
/// (scratch and result buffers sized by the graph, well over 10 kB).
fn check_alloc_fresh(alloc: &Value, spreads: u64, what: &str) {
    let per = f(alloc, "/allocs_per_spread");
    let bytes = f(alloc, "/bytes_per_spread");
    assert!(
        per >= 1.0,
        "{what}: pool off should allocate per spread: {alloc}"
    );
    assert!(
        bytes > 10_000.0,
        "{what}: pool off should allocate > 10 kB per spread: {alloc}"
    );
    assert!(
        (u(alloc, "/allocs") as f64 / spreads as f64 - per).abs() < 1e-9,
        "{what}: allocs_per_spread is not allocs / spreads: {alloc}"
    );
    assert!(
        (u(alloc, "/bytes") as f64 / spreads as f64 - bytes).abs() < 1e-6,
        "{what}: bytes_per_spread is not bytes / spreads: {alloc}"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. spread: the result does not depend on threads or batch size
// ---------------------------------------------------------------------------------------------

#[test]
fn spread_json_is_identical_across_threads_and_batch_sizes() {
    let t = tmp();
    let d = t.path();
    let cases = [
        ("warm-10k", "12,40,977"),
        ("warm-10k", "0,9999:0.5"),
        ("hot-1k", "3,17,500"),
        ("chain-64", "0"),
        ("fan-32", "0,5"),
    ];
    for (workload, seeds) in cases {
        let base = ok(d, &["spread", "-w", workload, "--seeds", seeds, "--json"]).stdout;
        let doc: Value = serde_json::from_slice(&base).expect("spread --json is JSON");
        let nodes = doc["nodes"].as_array().expect("nodes array");
        assert!(
            nodes.len() > 1,
            "{workload} {seeds}: spread activated too little to compare: {}",
            nodes.len()
        );
        for threads in ["1", "2", "4"] {
            for batch in ["1", "3", "256"] {
                let args = [
                    "spread",
                    "-w",
                    workload,
                    "--seeds",
                    seeds,
                    "--json",
                    "--threads",
                    threads,
                    "--batch-size",
                    batch,
                    "--parallel-min-edges",
                    "0",
                ];
                let out = ok(d, &args).stdout;
                assert!(
                    out == base,
                    "spread {args:?} differs from the single-threaded default output\n\
                     default:\n{}\nwith flags:\n{}",
                    String::from_utf8_lossy(&base),
                    String::from_utf8_lossy(&out)
                );
            }
        }
        // The default parallel threshold with several threads: also the same.
        let out = ok(
            d,
            &[
                "spread",
                "-w",
                workload,
                "--seeds",
                seeds,
                "--json",
                "--threads",
                "4",
            ],
        )
        .stdout;
        assert!(out == base, "{workload} {seeds}: --threads 4 differs");
    }
    assert!(!d.join("results").exists(), "spread wrote a results dir");
}

#[test]
fn spread_table_is_identical_across_threads() {
    let t = tmp();
    let d = t.path();
    let base = ok_stdout(d, &["spread", "-w", "hot-1k", "--seeds", "3,17,500"]);
    for threads in ["2", "4"] {
        let out = ok_stdout(
            d,
            &[
                "spread",
                "-w",
                "hot-1k",
                "--seeds",
                "3,17,500",
                "--threads",
                threads,
                "--batch-size",
                "3",
                "--parallel-min-edges",
                "0",
            ],
        );
        assert_eq!(out, base, "table with --threads {threads} differs");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. run: the cartesian product of settings, measured side by side
// ---------------------------------------------------------------------------------------------

// A fixed batch size: with 2 threads the default is `auto` (tests/batcher_cli.rs).
const GRID: [&str; 10] = [
    "--threads",
    "1,2",
    "--batch-size",
    "256",
    "--prefetch-distance",
    "0,8",
    "--pool",
    "on,off",
    "--concurrency",
    "1,2",
];

#[test]
fn run_grid_measures_every_setting_in_cartesian_order() {
    let (spreads, warmup) = (300u64, 30u64);
    let j = run_json("hot-1k", spreads, warmup, &GRID);
    let list = settings(&j);
    assert_eq!(list.len(), 16, "2×2×2×2 settings expected: {list:#?}");

    let mut i = 0;
    for threads in [1u64, 2] {
        for prefetch in [0u64, 8] {
            for pool in [true, false] {
                for concurrency in [1u64, 2] {
                    let r = &list[i];
                    let what = format!("settings[{i}]");
                    assert_eq!(
                        s(r, "/label"),
                        label(threads, 256, prefetch, pool, concurrency),
                        "{what}: label out of cartesian order"
                    );
                    assert_eq!(u(r, "/threads"), threads, "{what}");
                    assert_eq!(u(r, "/batch_size"), 256, "{what}");
                    assert_eq!(u(r, "/prefetch_distance"), prefetch, "{what}");
                    assert_eq!(b(r, "/pool"), pool, "{what}");
                    assert_eq!(u(r, "/concurrency"), concurrency, "{what}");
                    assert_eq!(u(r, "/spreads"), spreads, "{what}: spreads");
                    assert_eq!(u(r, "/latency_ns/count"), spreads, "{what}: latency count");
                    assert!(u(r, "/latency_ns/p50") > 0, "{what}: p50 is zero");
                    assert!(
                        u(r, "/latency_ns/min") <= u(r, "/latency_ns/p50")
                            && u(r, "/latency_ns/p50") <= u(r, "/latency_ns/p99")
                            && u(r, "/latency_ns/p99") <= u(r, "/latency_ns/max"),
                        "{what}: percentiles out of order: {}",
                        r["latency_ns"]
                    );
                    let tput = f(r, "/throughput_per_s");
                    assert!(tput > 0.0 && tput.is_finite(), "{what}: throughput {tput}");
                    assert!(f(r, "/p50_ratio") > 0.0, "{what}: p50_ratio");
                    assert!(f(r, "/throughput_ratio") > 0.0, "{what}: throughput_ratio");
                    let requests = warmup + spreads;
                    if pool {
                        check_pool_on(&r["pool_stats"], requests, concurrency, &what);
                    } else {
                        check_pool_off(&r["pool_stats"], &what);
                        check_alloc_fresh(&r["alloc"], spreads, &what);
                    }
                    if pool && concurrency == 1 {
                        check_alloc_zero(&r["alloc"], &what);
                    }
                    i += 1;
                }
            }
        }
    }

    let first = &list[0];
    assert_eq!(f(first, "/p50_ratio"), 1.0, "first setting is the baseline");
    assert_eq!(
        f(first, "/throughput_ratio"),
        1.0,
        "first setting is the baseline"
    );
    assert!(b(&j, "/work_identical_across_settings"));
    assert_eq!(u(&j, "/spreads"), spreads);
    assert_eq!(u(&j, "/warmup"), warmup);
    // The top level describes the first setting.
    assert_eq!(
        u(&j, "/latency_ns/count"),
        u(first, "/latency_ns/count"),
        "top-level latency is the first setting's"
    );
    assert_eq!(j["latency_ns"], first["latency_ns"]);
    assert_eq!(j["pool"], first["pool_stats"]);
    assert_eq!(j["alloc"], first["alloc"]);
    assert_eq!(f(&j, "/throughput_per_s"), f(first, "/throughput_per_s"));
    assert_eq!(u(&j, "/config/threads"), 1);
    assert_eq!(u(&j, "/config/prefetch_distance"), 0);
    assert_eq!(u(&j, "/config/concurrency"), 1);
    assert_eq!(j["config"]["pool"], json!(true));
}

#[test]
fn run_grid_human_output_has_a_row_per_setting() {
    let t = tmp();
    let d = t.path();
    let mut args = vec![
        "run",
        "-w",
        "hot-1k",
        "--spreads",
        "300",
        "--warmup",
        "30",
        "--quiet",
    ];
    args.extend_from_slice(&GRID);
    let out = ok_stdout(d, &args);
    let lines: Vec<&str> = out.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("setting") && l.contains("p50"))
        .unwrap_or_else(|| panic!("no table header starting with `setting`:\n{out}"));
    for col in ["p95", "p99", "spreads/s"] {
        assert!(
            lines[header].contains(col),
            "header lacks {col:?}: {}",
            lines[header]
        );
    }
    let rows = &lines[header + 1..header + 17];
    let mut i = 0;
    for threads in [1u64, 2] {
        for prefetch in [0u64, 8] {
            for pool in [true, false] {
                for concurrency in [1u64, 2] {
                    let l = label(threads, 256, prefetch, pool, concurrency);
                    let row = rows[i];
                    assert!(row.starts_with(&l), "row {i} should be {l:?}: {row}\n{out}");
                    // The label, then six numbers: p50, p95, p99, spreads/s, p50 ×, tput ×.
                    let nums: Vec<f64> = row[l.len()..]
                        .split_whitespace()
                        .map(|n| n.parse().unwrap_or_else(|_| panic!("{n:?} in {row}")))
                        .collect();
                    assert_eq!(nums.len(), 6, "row {i}: {row}");
                    assert!(nums.iter().all(|&n| n > 0.0), "row {i}: {row}");
                    if i == 0 {
                        assert_eq!(&nums[4..], &[1.0, 1.0], "baseline ratios: {row}");
                    }
                    i += 1;
                }
            }
        }
    }
    assert!(
        lines[header + 17].starts_with("(ratios are to the first setting"),
        "the table should end after 16 rows: {}\n{out}",
        lines[header + 17]
    );
    let rows_total = lines.iter().filter(|l| l.starts_with("threads=")).count();
    assert_eq!(rows_total, 16, "one row per setting:\n{out}");
    assert!(
        !out.contains("WARNING"),
        "settings did different work:\n{out}"
    );
    assert!(out.contains("results: "), "no results line:\n{out}");
}

#[test]
fn single_setting_has_no_table() {
    let t = tmp();
    let d = t.path();
    let out = ok_stdout(
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
            "--threads",
            "1",
        ],
    );
    assert!(
        !out.lines()
            .any(|l| l.starts_with("setting ") && l.contains("p50")),
        "a single setting should print no comparison table:\n{out}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("setting"))
        .unwrap_or_else(|| panic!("no setting line:\n{out}"));
    assert!(
        line.ends_with(&label(1, 256, 8, true, 1)),
        "setting line: {line}"
    );
    assert!(
        out.contains("pool          hit rate"),
        "pool line missing:\n{out}"
    );
    assert!(
        out.contains("allocations   0.000 per spread, 0 bytes per spread"),
        "allocation line with the pool on:\n{out}"
    );
}

#[test]
fn blocks_that_do_not_divide_the_spreads_still_measure_every_request() {
    let j = run_json(
        "chain-64",
        100,
        5,
        &["--pool", "on,off", "--block", "7", "--threads", "1"],
    );
    let list = settings(&j);
    assert_eq!(list.len(), 2);
    for (i, r) in list.iter().enumerate() {
        assert_eq!(u(r, "/spreads"), 100, "settings[{i}]");
        assert_eq!(u(r, "/latency_ns/count"), 100, "settings[{i}]");
    }
    check_pool_on(&list[0]["pool_stats"], 105, 1, "pool on, block 7");
    check_pool_off(&list[1]["pool_stats"], "pool off, block 7");
    assert!(b(&j, "/work_identical_across_settings"));
}

// ---------------------------------------------------------------------------------------------
// 3. duplicates are measured once
// ---------------------------------------------------------------------------------------------

#[test]
fn duplicate_list_values_are_measured_once() {
    let j = run_json("hot-1k", 200, 20, &["--threads", "1,1"]);
    let list = settings(&j);
    assert_eq!(list.len(), 1, "--threads 1,1 is one setting: {list:#?}");
    assert_eq!(s(&list[0], "/label"), label(1, 256, 8, true, 1));

    let j = run_json(
        "chain-64",
        100,
        10,
        &[
            "--threads",
            "1,1",
            "--batch-size",
            "7,7,9",
            "--pool",
            "on,on",
            "--concurrency",
            "1,1",
            "--prefetch-distance",
            "4,4",
        ],
    );
    let labels: Vec<&str> = settings(&j).iter().map(|r| s(r, "/label")).collect();
    assert_eq!(
        labels,
        vec![label(1, 7, 4, true, 1), label(1, 9, 4, true, 1)],
        "duplicates dropped, batch size between threads and prefetch"
    );

    // Batch size varies inside threads.
    let j = run_json(
        "chain-64",
        100,
        10,
        &["--threads", "2,1,2", "--batch-size", "5,3"],
    );
    let labels: Vec<&str> = settings(&j).iter().map(|r| s(r, "/label")).collect();
    assert_eq!(
        labels,
        vec![
            label(2, 5, 8, true, 1),
            label(2, 3, 8, true, 1),
            label(1, 5, 8, true, 1),
            label(1, 3, 8, true, 1),
        ],
        "listed order kept, first occurrence wins"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. the ActivationRecordPool
// ---------------------------------------------------------------------------------------------

#[test]
fn pool_statistics_with_one_client() {
    let (spreads, warmup) = (300u64, 30u64);
    let j = run_json("hot-1k", spreads, warmup, &[]);
    assert_eq!(settings(&j).len(), 1);
    check_pool_on(&j["pool"], warmup + spreads, 1, "default run");
    // The one record the client needs was made up front.
    assert_eq!(
        u(&j, "/pool/prefilled"),
        1,
        "one client, one prefilled record"
    );
    assert_eq!(
        u(&j, "/pool/misses"),
        0,
        "the prefilled record serves every request"
    );
    assert_eq!(u(&j, "/pool/available"), 1);
    assert_eq!(f(&j, "/pool/utilization"), 0.0, "nothing in use at the end");
    assert_eq!(j["pool"], settings(&j)[0]["pool_stats"]);
    assert_eq!(j["config"]["pool"], json!(true));
}

#[test]
fn pool_statistics_with_two_clients() {
    let (spreads, warmup) = (300u64, 30u64);
    let j = run_json("hot-1k", spreads, warmup, &["--concurrency", "2"]);
    assert_eq!(settings(&j).len(), 1);
    check_pool_on(&j["pool"], warmup + spreads, 2, "--concurrency 2");
    assert!(u(&j, "/pool/misses") <= 2, "{}", j["pool"]);
    assert!(u(&j, "/pool/high_water_mark") <= 2, "{}", j["pool"]);
}

#[test]
fn pool_off_reports_status_off() {
    for flags in [&["--no-pool"][..], &["--pool", "off"][..]] {
        let j = run_json("hot-1k", 200, 20, flags);
        check_pool_off(&j["pool"], &format!("{flags:?}"));
        let list = settings(&j);
        assert_eq!(list.len(), 1, "{flags:?}");
        assert!(!b(&list[0], "/pool"), "{flags:?}");
        check_pool_off(&list[0]["pool_stats"], &format!("{flags:?} settings[0]"));
        assert_eq!(j["config"]["pool"], json!(false), "{flags:?}");
        assert!(
            s(&list[0], "/label").contains("pool=off"),
            "{flags:?}: {}",
            list[0]["label"]
        );
    }
}

#[test]
fn pool_off_human_output_says_off() {
    let t = tmp();
    let out = ok_stdout(
        t.path(),
        &[
            "run",
            "-w",
            "hot-1k",
            "--spreads",
            "200",
            "--warmup",
            "20",
            "--quiet",
            "--no-pool",
        ],
    );
    assert!(out.contains("pool          off"), "{out}");
    assert!(!out.contains("hit rate"), "{out}");
}

#[test]
fn no_pool_conflicts_with_pool() {
    usage_error(
        &[
            "run",
            "-w",
            "hot-1k",
            "--spreads",
            "10",
            "--warmup",
            "1",
            "--no-pool",
            "--pool",
            "on",
        ],
        "--no-pool",
    );
    usage_error(
        &[
            "run",
            "-w",
            "hot-1k",
            "--spreads",
            "10",
            "--warmup",
            "1",
            "--pool",
            "on,off",
            "--no-pool",
        ],
        "--pool",
    );
}

// ---------------------------------------------------------------------------------------------
// 5. allocation accounting
// ---------------------------------------------------------------------------------------------

#[test]
fn pool_on_allocates_nothing_per_spread() {
    let j = run_json("hot-1k", 300, 30, &[]);
    check_alloc_zero(&j["alloc"], "hot-1k");
    let j = run_json("warm-10k", 1000, 100, &[]);
    check_alloc_zero(&j["alloc"], "warm-10k");
    // Parallel hops on the calling thread do not allocate either.
    let j = run_json(
        "hot-1k",
        300,
        30,
        &["--threads", "1,2,4", "--parallel-min-edges", "0"],
    );
    for (i, r) in settings(&j).iter().enumerate() {
        check_alloc_zero(&r["alloc"], &format!("hot-1k parallel settings[{i}]"));
    }
}

#[test]
fn pool_off_allocates_fresh_state_per_spread() {
    let j = run_json("hot-1k", 300, 30, &["--pool", "off"]);
    check_alloc_fresh(&j["alloc"], 300, "hot-1k --pool off");
    let j = run_json("warm-10k", 1000, 100, &["--no-pool"]);
    check_alloc_fresh(&j["alloc"], 1000, "warm-10k --no-pool");
    // A 10k-node record is larger than a 1k-node one.
    let small = run_json("hot-1k", 300, 30, &["--no-pool", "--threads", "1"]);
    let big = run_json("warm-10k", 300, 30, &["--no-pool", "--threads", "1"]);
    assert!(
        f(&big, "/alloc/bytes_per_spread") > 5.0 * f(&small, "/alloc/bytes_per_spread"),
        "per-spread bytes should scale with the graph: 1k {} vs 10k {}",
        small["alloc"],
        big["alloc"]
    );
}

#[test]
fn pool_on_off_in_one_run() {
    for (workload, spreads, warmup) in [("hot-1k", 300u64, 30u64), ("warm-10k", 1000, 100)] {
        let j = run_json(workload, spreads, warmup, &["--pool", "on,off"]);
        let list = settings(&j);
        assert_eq!(list.len(), 2, "{workload}");
        assert!(b(&list[0], "/pool") && !b(&list[1], "/pool"), "{workload}");
        check_alloc_zero(&list[0]["alloc"], &format!("{workload} on"));
        check_alloc_fresh(&list[1]["alloc"], spreads, &format!("{workload} off"));
        check_pool_on(&list[0]["pool_stats"], warmup + spreads, 1, workload);
        check_pool_off(&list[1]["pool_stats"], workload);
        assert_eq!(
            j["alloc"], list[0]["alloc"],
            "{workload}: top level is the first"
        );
        assert!(b(&j, "/work_identical_across_settings"), "{workload}");
        // Off first: the top level follows the first setting.
        let j = run_json(workload, spreads, warmup, &["--pool", "off,on"]);
        let list = settings(&j);
        check_pool_off(&j["pool"], &format!("{workload} off,on top level"));
        check_alloc_fresh(&j["alloc"], spreads, &format!("{workload} off,on top"));
        check_alloc_zero(&list[1]["alloc"], &format!("{workload} off,on [1]"));
    }
}

/// With several clients the warm-up does not make sure every client has a record: the first
/// client can run all warm-up requests before the second one starts (always with
/// `--warmup 1`; in roughly a third to most runs with `--warmup 30` on a 2-CPU machine,
/// depending on load), so the second record is made inside the measured window and its
/// ~125-190 kB are counted: `alloc` reports a non-zero "steady state" with the pool on, and
/// differs between identical runs.
#[test]
fn pool_on_allocates_nothing_per_spread_with_two_clients() {
    let j = run_json("hot-1k", 300, 1, &["--concurrency", "2", "--threads", "2"]);
    check_pool_on(&j["pool"], 301, 2, "--warmup 1 --concurrency 2");
    check_alloc_zero(&j["alloc"], "hot-1k --warmup 1 --concurrency 2");
    for _ in 0..5 {
        let j = run_json("hot-1k", 300, 30, &["--concurrency", "2", "--threads", "2"]);
        check_alloc_zero(&j["alloc"], "hot-1k --warmup 30 --concurrency 2");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. concurrency
// ---------------------------------------------------------------------------------------------

#[test]
fn concurrency_two_does_the_same_work() {
    let (spreads, warmup) = (400u64, 40u64);
    for workload in ["hot-1k", "fan-32"] {
        let j = run_json(workload, spreads, warmup, &["--concurrency", "1,2"]);
        let list = settings(&j);
        assert_eq!(list.len(), 2, "{workload}");
        assert_eq!(u(&list[0], "/concurrency"), 1, "{workload}");
        assert_eq!(u(&list[1], "/concurrency"), 2, "{workload}");
        for r in list {
            assert_eq!(u(r, "/spreads"), spreads, "{workload}");
            assert_eq!(u(r, "/latency_ns/count"), spreads, "{workload}");
            assert!(f(r, "/throughput_per_s") > 0.0, "{workload}");
        }
        assert!(
            b(&j, "/work_identical_across_settings"),
            "{workload}: two clients did different work"
        );

        // Run alone, two clients report the same work as one client.
        let one = run_json(workload, spreads, warmup, &["--concurrency", "1"]);
        let two = run_json(workload, spreads, warmup, &["--concurrency", "2"]);
        assert_eq!(u(&two, "/settings/0/concurrency"), 2);
        assert_eq!(u(&two, "/spreads"), spreads);
        assert_eq!(u(&two, "/latency_ns/count"), spreads);
        assert_eq!(u(&two, "/config/concurrency"), 2);
        assert_eq!(
            one["work"], two["work"],
            "{workload}: work per spread differs"
        );
        assert_eq!(one["work"], j["work"], "{workload}");
    }
}

#[test]
fn concurrency_two_without_pool() {
    let j = run_json("hot-1k", 300, 30, &["--concurrency", "2", "--pool", "off"]);
    assert_eq!(u(&j, "/latency_ns/count"), 300);
    check_pool_off(&j["pool"], "c=2 pool off");
    check_alloc_fresh(&j["alloc"], 300, "c=2 pool off");
}

// ---------------------------------------------------------------------------------------------
// 7, 8. bad values
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_run_values_are_usage_errors() {
    let cases: [(&[&str], &str); 10] = [
        (&["--threads", "0"], "--threads"),
        (&["--threads", "1,0"], "--threads"),
        (&["--threads", "257"], "--threads"),
        (&["--concurrency", "0"], "--concurrency"),
        (&["--batch-size", "0"], "--batch-size"),
        (&["--pool", "maybe"], "--pool"),
        (&["--pool", "on,maybe"], "maybe"),
        (&["--prefetch-distance", "x"], "--prefetch-distance"),
        (&["--block", "0"], "--block"),
        (&["--parallel-min-edges", "-1"], "-1"),
    ];
    for (flags, needle) in cases {
        let mut args = vec!["run", "-w", "hot-1k", "--spreads", "10", "--warmup", "1"];
        args.extend_from_slice(flags);
        usage_error(&args, needle);
    }
}

#[test]
fn bad_spread_values_are_usage_errors() {
    for (flags, needle) in [
        (["--threads", "0"], "--threads"),
        (["--threads", "257"], "--threads"),
        (["--batch-size", "0"], "--batch-size"),
        (["--threads", "1,2"], "--threads"),
    ] {
        let mut args = vec!["spread", "-w", "hot-1k", "--seeds", "1"];
        args.extend_from_slice(&flags);
        usage_error(&args, needle);
    }
}
