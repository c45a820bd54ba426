//! Helpers shared by the CLI test files: temp dirs, running the binary, reading its output
//! and picking values out of JSON.

// Each test crate uses its own subset of these.
#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use tempfile::TempDir;

pub fn tmp() -> TempDir {
    tempfile::tempdir().expect("create temp dir")
}

/// The binary, run in `dir`.
pub fn sb(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("spreadbench").expect("spreadbench binary");
    c.current_dir(dir);
    c
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

/// Runs and requires exit 0; returns the output.
pub fn ok(dir: &Path, args: &[&str]) -> Output {
    let out = sb(dir).args(args).output().expect("run spreadbench");
    assert!(
        out.status.success(),
        "spreadbench {args:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn ok_stdout(dir: &Path, args: &[&str]) -> String {
    text(&ok(dir, args).stdout)
}

pub fn ok_json(dir: &Path, args: &[&str]) -> Value {
    let out = ok_stdout(dir, args);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("stdout of {args:?} is not JSON: {e}\n{out}"))
}

pub fn u(v: &Value, path: &str) -> u64 {
    v.pointer(path)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{path} is not an unsigned integer in {v}"))
}

pub fn f(v: &Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{path} is not a number in {v}"))
}

pub fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{path} is not a string in {v}"))
}

/// Names in `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A 500-node Barabási–Albert workload, all warm, exponential decay 0.5 to depth 3, followed by
/// `sections` (its `[embeddings]`, `[recall]`, `[run]`, …): small enough for debug-build tests
/// that recall.
pub fn small_workload(name: &str, seed: u64, sections: &str) -> String {
    format!(
        r#"name = "{name}"
description = "500-node BA for recall tests"
seed = {seed}

[graph]
generator = "barabasi-albert"
nodes = 500
m = 3
weight_min = 0.1
weight_max = 1.0

[tiers]
shares = {{ hot = 0.0, warm = 1.0, cold = 0.0 }}

[spread]
max_depth = 3
decay = {{ kind = "exponential", rate = 0.5 }}

{sections}"#
    )
}

/// [`small_workload`] with 32-dim vectors in 5 cells, recall keeping 20 candidates and 30
/// results under the fan effect `sqrt-out-degree`; 200 spreads after 20 of warm-up.
pub fn small_recall_workload(name: &str) -> String {
    small_workload(
        name,
        7,
        r#"[run]
spreads = 200
warmup = 20

[embeddings]
dim = 32
clusters = 5
noise = 0.1
cue_noise = 0.05

[recall]
similarity = "exact"
max_candidates = 20
max_results = 30
fan_effect = "sqrt-out-degree"
"#,
    )
}
