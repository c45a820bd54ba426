//! End-to-end tests of recall on the command line (issue 10): the `recall` command's table and
//! JSON, its cue flags and every error path, `.npy` import errors through both `recall` and
//! `run --mode recall` (exit 2, one line, nothing left behind), the recall sections of a
//! `run` snapshot and soak's metrics lines.
//!
//! The binary under test is a debug build, so most tests use a 500-node workload with 32-dim
//! vectors; warm-10k (10k × 768) appears only where the issue names it and one recall is
//! enough, and the snapshot's `dim 768` comes from a 300-node workload.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

mod common;
use common::{entries, f, ok, ok_json, ok_stdout, s, sb, text, tmp, u};

/// 500-node BA, all warm, 32-dim vectors in 5 cells; recall keeps 20 candidates, 30 results.
fn recall_toml() -> String {
    common::small_recall_workload("recall-test")
}

/// 300 nodes with warm-10k's 768-dim settings (3 cells of ~100), for the snapshot's figures.
const RECALL_768_TOML: &str = r#"name = "recall-768"
description = "300-node BA with 768-dim embeddings"
seed = 3

[graph]
generator = "barabasi-albert"
nodes = 300
m = 4

[tiers]
shares = { hot = 0.0, warm = 1.0, cold = 0.0 }

[spread]
max_depth = 3
decay = { kind = "exponential", rate = 0.5 }

[embeddings]
dim = 768
clusters = 3
noise = 0.03
cue_noise = 0.02

[recall]
fan_effect = "sqrt-out-degree"
"#;

const NODES: usize = 500;

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, content).unwrap();
    p
}

/// A temp dir holding `w.toml` (the 500-node workload).
fn setup() -> tempfile::TempDir {
    let t = tmp();
    write(t.path(), "w.toml", recall_toml());
    t
}

/// Requires exit 2, nothing on stdout and exactly one stderr line `spreadbench: error: …`
/// containing every needle; returns the line.
#[track_caller]
fn bad_input(dir: &Path, args: &[&str], needles: &[&str]) -> String {
    let out = sb(dir).args(args).output().expect("run spreadbench");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: exit\n{stderr}");
    assert!(out.stdout.is_empty(), "{args:?}: stdout on error");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one stderr line, got:\n{stderr}");
    assert!(
        lines[0].starts_with("spreadbench: error: "),
        "{args:?}: {}",
        lines[0]
    );
    for n in needles {
        assert!(
            lines[0].contains(n),
            "{args:?}: {n:?} missing in {}",
            lines[0]
        );
    }
    lines[0].to_string()
}

/// A clap usage error: exit 2, `error:` on stderr mentioning `needle`, nothing on stdout.
#[track_caller]
fn usage_error(dir: &Path, args: &[&str], needle: &str) {
    let out = sb(dir).args(args).output().expect("run spreadbench");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: exit\n{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.starts_with("error: ") && stderr.contains(needle),
        "{args:?}: {stderr}"
    );
}

/// `recall -w w.toml … --json`.
fn recall_json(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["recall", "-w", "w.toml", "--json"];
    args.extend_from_slice(extra);
    ok_json(dir, &args)
}

fn results(j: &Value) -> &Vec<Value> {
    j["results"].as_array().expect("results is an array")
}

fn ids(list: &Value) -> Vec<u64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect()
}

/// The 500-node workload's vectors, as the binary generates them.
fn embeddings() -> spreadbench::recall::Embeddings {
    let w = spreadbench::workload::Workload::parse(&recall_toml(), "w.toml").unwrap();
    let g = spreadbench::graph::generate::generate(&w.graph).unwrap();
    spreadbench::recall::Embeddings::generate(&g, &w.embeddings.unwrap())
        .unwrap()
        .embeddings
}

/// A `.npy` written by hand: magic, version 1.0, the header dict padded with spaces so the
/// data starts on a 64-byte boundary, a newline, then `data`.
fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    b.extend_from_slice(dict.as_bytes());
    b.extend_from_slice(data);
    b
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

// ---------------------------------------------------------------------------------------------
// recall: output
// ---------------------------------------------------------------------------------------------

#[test]
fn table_has_the_summary_header_rows_and_phases() {
    let t = setup();
    let out = ok_stdout(t.path(), &["recall", "-w", "w.toml", "--cue-node", "3"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("hybrid recall, exact seeding: ")
            && lines[0].contains("seeds at or above θ_sim 0.4 (of the 20 best hits), 30 results"),
        "{out}"
    );
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "rank",
            "id",
            "score",
            "activation",
            "confidence",
            "similarity",
            "hop",
            "tier"
        ]
    );
    // The cue's own node ranks first, with similarity 1.
    let first: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        (first[0], first[1], first[5], first[6]),
        ("1", "3", "1.000000", "0")
    );
    assert_eq!(lines.iter().filter(|l| l.ends_with("warm")).count(), 30);
    // A non-seed shows "-" for its similarity.
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().nth(5) == Some("-")),
        "{out}"
    );
    let phases = lines
        .iter()
        .find(|l| l.starts_with("phases: "))
        .expect(&out);
    assert!(
        phases.contains("seed ") && phases.contains("spread ") && phases.contains("rank "),
        "{phases}"
    );
    assert!(lines.last().unwrap().starts_with("work: 3 hops"), "{out}");

    let out = ok_stdout(
        t.path(),
        &[
            "recall",
            "-w",
            "w.toml",
            "--cue-node",
            "3",
            "--mode",
            "similarity",
        ],
    );
    assert!(out.starts_with("similarity recall, exact seeding"), "{out}");
    assert!(out.contains("spread (none)"), "{out}");
}

#[test]
fn json_has_every_key_and_similarity_only_for_seeds() {
    let t = setup();
    let j = recall_json(t.path(), &["--cue-node", "3"]);
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["config", "mode", "phases_ns", "results", "seeds", "work"]
    );
    assert_eq!(s(&j, "/mode"), "hybrid");
    assert_eq!(s(&j, "/config/recall/similarity"), "exact");
    assert_eq!(u(&j, "/config/recall/max_candidates"), 20);
    assert_eq!(s(&j, "/config/spread/fan_effect"), "sqrt-out-degree");
    for p in ["seed", "spread", "rank"] {
        assert!(
            j["phases_ns"][p].is_u64(),
            "phases_ns.{p}: {}",
            j["phases_ns"]
        );
    }
    assert_eq!(u(&j, "/work/hops"), 3);
    assert!(u(&j, "/work/nodes_activated") >= 20);

    let seeds = j["seeds"].as_array().unwrap();
    assert_eq!(
        seeds.len(),
        20,
        "all 20 candidates of the cue's cell pass θ_sim"
    );
    for h in seeds {
        let mut k: Vec<&str> = h.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort_unstable();
        assert_eq!(k, ["activation", "id", "similarity"]);
        assert!(h["similarity"].as_f64().unwrap() >= 0.4);
    }
    let seed_ids = ids(&j["seeds"]);
    let rs = results(&j);
    assert_eq!(rs.len(), 30);
    for r in rs {
        let mut k: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort_unstable();
        assert_eq!(
            k,
            [
                "activation",
                "confidence",
                "hop",
                "id",
                "score",
                "similarity",
                "tier"
            ]
        );
        let is_seed = seed_ids.contains(&r["id"].as_u64().unwrap());
        assert_eq!(r["similarity"].is_null(), !is_seed, "{r}");
        assert_eq!(r["hop"].as_u64() == Some(0), is_seed, "{r}");
        assert_eq!(r["tier"], "warm");
    }
    // Ranked by score descending.
    let scores: Vec<f64> = rs.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(
        rs.iter().any(|r| r["similarity"].is_null()),
        "the spread adds memories"
    );
}

#[test]
fn cue_node_uses_the_nodes_own_vector() {
    let t = setup();
    for node in ["0", "3", "499"] {
        let j = recall_json(t.path(), &["--cue-node", node, "--mode", "similarity"]);
        let first = &results(&j)[0];
        assert_eq!(first["id"].as_u64(), Some(node.parse().unwrap()), "{j}");
        let sim = first["similarity"].as_f64().unwrap();
        assert!(
            (sim - 1.0).abs() <= 1e-6,
            "node {node}: own similarity {sim}"
        );
        assert_eq!(
            first["score"].as_f64(),
            Some(sim),
            "similarity mode scores by similarity"
        );
        assert!(
            j["phases_ns"]["spread"].is_null(),
            "no spread in similarity mode"
        );
        assert_eq!(u(&j, "/work/hops"), 0);
    }
}

#[test]
fn cue_file_of_shape_dim_or_one_by_dim_matches_the_cue_node() {
    let t = setup();
    let d = t.path();
    let e = embeddings();
    let row = f32_bytes(e.row(3));
    write(d, "flat.npy", npy_bytes("<f4", "(32,)", &row));
    write(d, "row.npy", npy_bytes("<f4", "(1, 32)", &row));
    let want = recall_json(d, &["--cue-node", "3"]);
    for file in ["flat.npy", "row.npy"] {
        let got = recall_json(d, &["--cue-file", file]);
        assert_eq!(ids(&got["results"]), ids(&want["results"]), "{file}");
        assert_eq!(ids(&got["seeds"]), ids(&want["seeds"]), "{file}");
        for (a, b) in results(&got).iter().zip(results(&want)) {
            assert!((a["score"].as_f64().unwrap() - b["score"].as_f64().unwrap()).abs() < 1e-6);
        }
    }
    // A cue of another dimension names the file and the shape expected.
    write(d, "short.npy", npy_bytes("<f4", "(31,)", &row[..31 * 4]));
    write(
        d,
        "two.npy",
        npy_bytes("<f4", "(2, 32)", &[row.clone(), row].concat()),
    );
    for file in ["short.npy", "two.npy"] {
        bad_input(
            d,
            &["recall", "-w", "w.toml", "--cue-file", file],
            &[file, "shape is", "[32] or [1, 32]"],
        );
    }
    bad_input(
        d,
        &["recall", "-w", "w.toml", "--cue-file", "absent.npy"],
        &["absent.npy"],
    );
}

#[test]
fn recall_on_warm_10k_is_identical_for_one_and_two_threads() {
    let t = tmp();
    let d = t.path();
    let one = ok_json(
        d,
        &["recall", "--cue-node", "17", "--json", "--threads", "1"],
    );
    let two = ok_json(
        d,
        &[
            "recall",
            "--cue-node",
            "17",
            "--json",
            "--threads",
            "2",
            "--parallel-min-edges",
            "0",
        ],
    );
    assert_eq!(one["results"], two["results"]);
    assert_eq!(one["seeds"], two["seeds"]);
    assert_eq!(one["work"], two["work"]);
    assert_eq!(results(&one).len(), 100);
    assert_eq!(results(&one)[0]["id"], 17, "the cue's own node first");
    assert_eq!(s(&one, "/config/recall/similarity"), "quantized");
}

/// The workload's `[spread] top_k` is the `spread` command's cut by activation; a recall
/// through that workload still ranks every reached node and cuts at `max_results` (30).
#[test]
fn a_workloads_spread_top_k_does_not_cut_recall() {
    let t = tmp();
    let d = t.path();
    let toml = recall_toml().replace("[spread]\n", "[spread]\ntop_k = 3\n");
    assert_ne!(toml, recall_toml());
    write(d, "w.toml", toml);
    let j = recall_json(d, &["--cue-node", "3"]);
    assert_eq!(results(&j).len(), 30, "{}", j["results"]);
    // The spread command keeps its cut.
    let j = ok_json(d, &["spread", "-w", "w.toml", "--seeds", "3", "--json"]);
    assert_eq!(j["nodes"].as_array().map(Vec::len), Some(3), "{j}");
}

// ---------------------------------------------------------------------------------------------
// recall: errors
// ---------------------------------------------------------------------------------------------

#[test]
fn recall_flag_errors_exit_2_naming_the_flag() {
    let t = setup();
    let d = t.path();
    fn r<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec!["recall", "-w", "w.toml"];
        a.extend_from_slice(extra);
        a
    }
    bad_input(
        d,
        &r(&["--cue-node", "500"]),
        &["--cue-node", "500", "outside the graph", "0..500"],
    );
    usage_error(d, &r(&[]), "--cue-node");
    usage_error(
        d,
        &r(&["--cue-node", "1", "--cue-file", "c.npy"]),
        "cannot be used with",
    );
    bad_input(
        d,
        &r(&["--cue-node", "1", "--temperature", "0"]),
        &["--temperature", "> 0"],
    );
    bad_input(
        d,
        &r(&["--cue-node", "1", "--similarity-threshold", "2"]),
        &["--similarity-threshold", "[-1, 1]", "2"],
    );
    bad_input(
        d,
        &r(&["--cue-node", "1", "--min-confidence=-1"]),
        &["--min-confidence", "[0, 1]", "-1"],
    );
    usage_error(d, &r(&["--cue-node", "1", "--top", "0"]), "--top");
    usage_error(d, &r(&["--cue-node", "1", "--mode", "fast"]), "fast");
    usage_error(d, &r(&["--cue-node", "-3"]), "-3");
    bad_input(
        d,
        &["recall", "-w", "chain-64", "--cue-node", "0"],
        &["chain-64", "no [embeddings] section", "--embeddings"],
    );
    assert!(
        entries(d) == ["w.toml"],
        "nothing written: {:?}",
        entries(d)
    );
}

#[test]
fn run_mode_spread_refuses_recall_flags() {
    let t = setup();
    let d = t.path();
    for flags in [
        &["--similarity", "exact"][..],
        &["--recall-mode", "hybrid"],
        &["--temperature", "0.3"],
        &["--embeddings", "e.npy"],
    ] {
        let mut a = vec!["run", "-w", "chain-64", "--quiet", "--mode", "spread"];
        a.extend_from_slice(flags);
        bad_input(d, &a, &[flags[0], "applies only with --mode recall"]);
    }
    assert!(!d.join("results").exists());
}

/// Every malformed `.npy` (for the 500-node graph), with what its message must say.
fn bad_npy_files(d: &Path) -> Vec<(String, &'static str)> {
    let ones = vec![1f32; NODES * 4];
    let data = f32_bytes(&ones);
    let good = npy_bytes("<f4", "(500, 4)", &data);
    let header = good.len() - data.len();
    let with = |i: usize, v: f32| {
        let mut x = ones.clone();
        x[i] = v;
        npy_bytes("<f4", "(500, 4)", &f32_bytes(&x))
    };
    let mut zero = ones.clone();
    zero[4 * 7..4 * 8].fill(0.0);
    let cases: Vec<(&str, Vec<u8>, &'static str)> = vec![
        (
            "f8",
            npy_bytes("<f8", "(500, 4)", &[0; 16000]),
            "dtype is '<f8'",
        ),
        ("i4", npy_bytes("<i4", "(500, 4)", &data), "dtype is '<i4'"),
        (
            "flat",
            npy_bytes("<f4", "(2000,)", &data),
            "shape is [2000]; expected [500, dim]",
        ),
        (
            "cube",
            npy_bytes("<f4", "(500, 2, 2)", &data),
            "shape is [500, 2, 2]",
        ),
        (
            "rows",
            npy_bytes("<f4", "(400, 5)", &data),
            "shape is [400, 5]; expected [500, dim]",
        ),
        ("nan", with(13, f32::NAN), "row 3 holds NaN at column 1"),
        (
            "inf",
            with(1999, f32::INFINITY),
            "row 499 holds inf at column 3",
        ),
        (
            "zero",
            npy_bytes("<f4", "(500, 4)", &f32_bytes(&zero)),
            "row 7 is all zeros",
        ),
        (
            "head",
            good[..header - 9].to_vec(),
            "ends inside its .npy header",
        ),
        (
            "body",
            good[..good.len() - 1].to_vec(),
            "truncated: its header declares [500, 4]",
        ),
        (
            "tail",
            [good.clone(), b"x".to_vec()].concat(),
            "longer than its header declares",
        ),
    ];
    cases
        .into_iter()
        .map(|(name, bytes, needle)| {
            let file = format!("bad-{name}.npy");
            write(d, &file, bytes);
            (file, needle)
        })
        .collect()
}

#[test]
fn every_bad_npy_exits_2_with_one_line_and_leaves_nothing_behind() {
    let t = setup();
    let d = t.path();
    let cases = bad_npy_files(d);
    for (file, needle) in &cases {
        bad_input(
            d,
            &[
                "recall",
                "-w",
                "w.toml",
                "--embeddings",
                file,
                "--cue-node",
                "0",
            ],
            &[file, needle],
        );
        let line = bad_input(
            d,
            &[
                "run",
                "-w",
                "w.toml",
                "--mode",
                "recall",
                "--embeddings",
                file,
                "--out",
                "out",
                "--spreads",
                "10",
                "--warmup",
                "1",
                "--quiet",
                "--counters",
                "off",
            ],
            &[file, needle],
        );
        // Nothing under --out: no run directory, no hidden temporary, no runs.csv row.
        if d.join("out").exists() {
            let left = entries(&d.join("out"));
            assert!(left.is_empty(), "{file}: left in out/: {left:?} ({line})");
        }
        assert!(!d.join("results").exists());
    }
    // The same file with good data works, so the failures above are the files' own.
    write(
        d,
        "good.npy",
        npy_bytes("<f4", "(500, 4)", &f32_bytes(&vec![1f32; 2000])),
    );
    let j = recall_json(d, &["--embeddings", "good.npy", "--cue-node", "0"]);
    assert_eq!(
        j["seeds"].as_array().unwrap().len(),
        20,
        "every row ties at similarity 1"
    );
}

#[test]
fn a_bad_npy_for_soak_leaves_nothing_behind() {
    let t = setup();
    let d = t.path();
    write(d, "bad.npy", npy_bytes("<f4", "(499, 4)", &[0; 499 * 16]));
    bad_input(
        d,
        &[
            "soak",
            "-w",
            "w.toml",
            "--mode",
            "recall",
            "--embeddings",
            "bad.npy",
            "--out",
            "out",
            "--spreads",
            "100",
            "--quiet",
            "--counters",
            "off",
        ],
        &["bad.npy", "shape is [499, 4]; expected [500, dim]"],
    );
    assert!(!d.join("out").exists() || entries(&d.join("out")).is_empty());
}

// ---------------------------------------------------------------------------------------------
// run and soak --mode recall
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn assert_latency_summary(v: &Value, what: &str) {
    for k in ["min", "p50", "p90", "p95", "p99", "p999", "max", "count"] {
        assert!(v[k].is_u64(), "{what}.{k}: {v}");
    }
    assert!(
        v["hdr"].as_str().is_some_and(|h| !h.is_empty()),
        "{what}.hdr"
    );
}

#[test]
fn run_mode_recall_snapshot_has_phases_and_recall_for_each_similarity() {
    let t = tmp();
    let d = t.path();
    write(d, "w768.toml", RECALL_768_TOML);
    let j = ok_json(
        d,
        &[
            "run",
            "-w",
            "w768.toml",
            "--mode",
            "recall",
            "--spreads",
            "200",
            "--warmup",
            "20",
            "--threads",
            "1",
            "--similarity",
            "exact,quantized",
            "--json",
            "--quiet",
            "--counters",
            "off",
            "--out",
            "out",
        ],
    );
    assert_eq!(s(&j, "/schema_version"), "1.2.0");
    for p in ["seed", "spread", "rank"] {
        assert_latency_summary(&j["phases"][p], &format!("phases.{p}"));
        assert_eq!(u(&j, &format!("/phases/{p}/count")), 200);
    }
    assert_eq!(s(&j, "/config/recall/mode"), "hybrid");
    assert_eq!(u(&j, "/config/recall/dim"), 768);
    assert_eq!(u(&j, "/config/recall/max_candidates"), 100);
    let settings = j["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 2);
    for (setting, sim) in settings.iter().zip(["exact", "quantized"]) {
        let r = &setting["recall"];
        assert_eq!(r["mode"], "hybrid");
        assert_eq!(r["dim"], 768);
        assert_eq!(r["similarity"], sim, "{r}");
        for k in [
            "recall_at_k",
            "seeds_mean",
            "results_mean",
            "cluster_precision",
            "spread_added_mean",
        ] {
            assert!(r[k].is_number(), "{sim}: recall.{k}: {r}");
        }
        let scan = &r["scan"];
        for k in ["ns_per_vector", "scan_gb_per_s", "read_gb_per_s", "ratio"] {
            assert!(
                scan[k].as_f64().is_some_and(|x| x > 0.0),
                "scan.{k}: {scan}"
            );
        }
        assert_eq!(u(scan, "/bytes"), 300 * 768 * 4);
        assert!(scan["quantized_ns_per_vector"].as_f64().is_some(), "{scan}");
        assert!(setting["phases"]["seed"]["hdr"].is_string());
        let cp = f(r, "/cluster_precision");
        assert!((0.0..=1.0).contains(&cp), "{cp}");
        assert!(f(r, "/seeds_mean") >= 1.0);
    }
    assert_eq!(
        f(&settings[0]["recall"], "/recall_at_k"),
        1.0,
        "exact is exact"
    );
    assert_eq!(j["recall"], settings[0]["recall"]);
    // The results directory holds the snapshot.
    let runs: Vec<String> = entries(&d.join("out"))
        .into_iter()
        .filter(|n| n.ends_with("-run-recall-768"))
        .collect();
    assert_eq!(runs.len(), 1, "{:?}", entries(&d.join("out")));
}

#[test]
fn run_mode_recall_summary_prints_the_phases() {
    let t = setup();
    let out = ok(
        t.path(),
        &[
            "run",
            "-w",
            "w.toml",
            "--mode",
            "recall",
            "--spreads",
            "50",
            "--warmup",
            "5",
            "--threads",
            "1",
            "--counters",
            "off",
        ],
    );
    let stdout = text(&out.stdout);
    for needle in [
        "phases        seed   p50",
        "spread p50",
        "rank   p50",
        "recall@20 1.0000",
    ] {
        assert!(stdout.contains(needle), "{needle:?} missing:\n{stdout}");
    }
}

#[test]
fn soak_mode_recall_writes_phases_per_interval() {
    let t = setup();
    let d = t.path();
    let j = ok_json(
        d,
        &[
            "soak",
            "-w",
            "w.toml",
            "--mode",
            "recall",
            "--spreads",
            "2000",
            "--json",
            "--quiet",
            "--counters",
            "off",
            "--out",
            "out",
        ],
    );
    for p in ["seed", "spread", "rank"] {
        assert_latency_summary(&j["phases"][p], &format!("phases.{p}"));
    }
    assert_eq!(s(&j, "/recall/mode"), "hybrid");
    let dir = entries(&d.join("out"))
        .into_iter()
        .find(|n| n.ends_with("-soak-recall-test"))
        .expect("a soak directory");
    let lines = fs::read_to_string(d.join("out").join(dir).join("metrics.jsonl")).unwrap();
    let lines: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(!lines.is_empty());
    for (i, l) in lines.iter().enumerate() {
        for p in ["seed", "spread", "rank"] {
            let v = &l["phases_ns"][p];
            for k in ["p50", "p99", "max"] {
                assert!(v[k].is_u64(), "line {i}: phases_ns.{p}.{k}: {l}");
            }
        }
    }
}

/// Without `--quiet`, a bad `.npy` is still the only line on stderr: what was loaded is said
/// only once every input is in (before, the graph's "graph: … generated" line came first), and
/// a recall flag in spread mode is refused before the graph is even built.
#[test]
fn a_bad_npy_or_a_misplaced_recall_flag_is_the_only_stderr_line() {
    let t = tmp();
    let d = t.path();
    write(d, "w.toml", recall_toml());
    write(d, "bad.npy", b"not a numpy file");
    for (args, needle) in [
        (
            vec![
                "run",
                "-w",
                "w.toml",
                "--mode",
                "recall",
                "--embeddings",
                "bad.npy",
            ],
            "bad.npy: not a .npy file",
        ),
        (
            vec![
                "soak",
                "-w",
                "w.toml",
                "--mode",
                "recall",
                "--embeddings",
                "bad.npy",
            ],
            "bad.npy: not a .npy file",
        ),
        (
            vec!["run", "-w", "w.toml", "--similarity", "exact"],
            "--similarity: applies only with --mode recall",
        ),
    ] {
        let out = sb(d).args(&args).args(["--out", "out"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!d.join("out").exists(), "{args:?}");
    }
}
