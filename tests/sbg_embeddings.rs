//! Node vectors saved with a graph: the `.sbg` `EMBD` section (format version 2), the
//! `FILE.emb.npy` that `gen` writes beside the graph, and recall reading either so that it
//! recalls exactly what it would with the vectors generated.

mod common;

use common::*;
use serde_json::Value;
use spreadbench::aligned::CacheAligned;
use spreadbench::graph::generate::{generate, GraphParams, Topology};
use spreadbench::graph::{fnv1a64, sbg, Graph};
use spreadbench::recall::{npy, EmbeddingSpec, Embeddings};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn small_graph() -> Graph {
    generate(&GraphParams {
        topology: Topology::BarabasiAlbert { m: 3 },
        nodes: 500,
        directed: false,
        weight_min: 0.1,
        weight_max: 1.0,
        inhibitory_share: 0.0,
        modulatory_share: 0.0,
        tier_shares: [0.0, 1.0, 0.0],
        seed: 5,
    })
    .unwrap()
}

/// Three components: few enough that normalising a unit row again moves the last bit of
/// some (about 1% of rows at dim 3; none seen at dim 32 or 768), so a reader that
/// renormalises changes the fingerprint.
fn small_spec() -> EmbeddingSpec {
    EmbeddingSpec {
        dim: 3,
        clusters: 5,
        noise: 0.03,
        cue_noise: 0.02,
        seed: 5,
    }
}

/// The rows of `e`, copied into a fresh aligned array.
fn rows_of(rows: &[f32]) -> CacheAligned<f32> {
    CacheAligned::from_fn(rows.len(), |i| rows[i])
}

#[test]
fn renormalising_moves_bits_at_dim_3() {
    // What the two round-trip tests guard against: normalising unit rows again is not
    // the identity.
    let e = Embeddings::generate(&small_graph(), &small_spec())
        .unwrap()
        .embeddings;
    let again = Embeddings::from_aligned(3, rows_of(e.as_slice())).unwrap();
    assert_ne!(again.fingerprint(), e.fingerprint());
    let kept = Embeddings::from_stored(3, rows_of(e.as_slice())).unwrap();
    assert_eq!(kept.fingerprint(), e.fingerprint());
    // A row that is not a unit vector is still normalised.
    let s = Embeddings::from_stored(2, rows_of(&[3.0, 4.0, 0.0, 1.0])).unwrap();
    assert_eq!(s.row(0), [0.6, 0.8]);
    assert_eq!(s.row(1), [0.0, 1.0]);
    assert!(Embeddings::from_stored(2, rows_of(&[0.0, 0.0])).is_err());
    assert!(Embeddings::from_stored(1, rows_of(&[f32::NAN])).is_err());
}

#[test]
fn sbg_round_trip_keeps_the_embeddings_fingerprint() {
    let g = small_graph();
    let e = Embeddings::generate(&g, &small_spec()).unwrap().embeddings;
    let with = g.clone().with_embedding_rows(3, rows_of(e.as_slice()));
    let back = sbg::from_bytes(&sbg::to_bytes(&with), "g.sbg").unwrap();
    assert_eq!(back, with);
    // The graph's identity does not include its vectors.
    assert_eq!(back.fingerprint(), g.fingerprint());
    let (dim, rows) = back.embedding_rows().unwrap();
    let read = Embeddings::from_stored(dim, rows_of(rows)).unwrap();
    assert_eq!(read.fingerprint(), e.fingerprint());
    assert!(read == e);
    // Without embeddings: no section, version 1.
    let plain = sbg::to_bytes(&g);
    assert_eq!(plain[8..12], 1u32.to_le_bytes());
    assert!(sbg::from_bytes(&plain, "g.sbg")
        .unwrap()
        .embedding_rows()
        .is_none());
}

#[test]
fn npy_round_trip_keeps_the_fingerprint() {
    let g = small_graph();
    let e = Embeddings::generate(&g, &small_spec()).unwrap().embeddings;
    let t = tmp();
    let path = t.path().join("g.emb.npy");
    npy::write_npy(&path, &e).unwrap();
    let back = npy::read_npy(&path, g.node_count()).unwrap();
    assert_eq!(back.fingerprint(), e.fingerprint());
    assert!(back == e, "rows changed on the way through .npy");
}

// ---------------------------------------------------------------------------------------------
// The CLI: gen writes the vectors, recall and run read them back
// ---------------------------------------------------------------------------------------------

/// A 500-node workload with 3-dimensional vectors: fast in a debug build, and a dimension at
/// which a reader that normalised stored rows again would change the fingerprint.
fn small_toml() -> String {
    common::small_workload(
        "small-emb",
        11,
        r#"[requests]
seeds_per_request = 3
seed_activation = 1.0

[run]
spreads = 50
warmup = 0

[embeddings]
dim = 3
clusters = 5
noise = 0.03
cue_noise = 0.02
"#,
    )
}

fn small_workload(dir: &Path) -> &'static str {
    fs::write(dir.join("small.toml"), small_toml()).unwrap();
    "small.toml"
}

fn run(dir: &Path, args: &[&str]) -> Output {
    sb(dir).args(args).output().expect("run spreadbench")
}

/// The one stderr line of a command that failed with exit `code`.
fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let out = run(dir, args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line:\n{err}");
    err.trim_end().to_string()
}

/// `recall --json`'s seeds and results.
fn recall(dir: &Path, args: &[&str]) -> (Value, Value) {
    let v = ok_json(
        dir,
        &[&["recall", "--cue-node", "3", "--json"], args].concat(),
    );
    (v["seeds"].clone(), v["results"].clone())
}

/// The snapshot of the one run under `out`.
fn snapshot(dir: &Path, out: &str) -> Value {
    let runs: Vec<PathBuf> = fs::read_dir(dir.join(out))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    serde_json::from_slice(&fs::read(runs[0].join("snapshot.json")).unwrap()).unwrap()
}

#[test]
fn gen_warm_10k_sbg_recalls_as_the_generated_vectors_do() {
    let t = tmp();
    let d = t.path();
    let out = ok_stdout(d, &["gen", "-w", "warm-10k", "--out", "g.sbg"]);
    assert_eq!(entries(d), ["g.emb.npy", "g.sbg"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("wrote g.sbg (sbg, 10000 nodes, "),
        "{out}"
    );
    assert!(
        lines[1].starts_with("embeddings: 10000 × 768 float32 (30.7 MB), generated in ")
            && lines[1].contains("; in the EMBD section of g.sbg; wrote g.emb.npy in "),
        "{out}"
    );
    let bytes = fs::read(d.join("g.sbg")).unwrap();
    assert_eq!(bytes[8..12], 2u32.to_le_bytes(), "version 2");
    assert_eq!(bytes[12..16], 2u32.to_le_bytes(), "flag bit 1, no labels");

    let generated = recall(d, &[]);
    assert_eq!(generated.0.as_array().map(Vec::len), Some(100));
    assert_eq!(recall(d, &["--graph", "g.sbg"]), generated);
}

#[test]
fn csv_graph_with_the_npy_recalls_as_the_generated_vectors_do() {
    let t = tmp();
    let d = t.path();
    let w = small_workload(d);
    let out = ok_stdout(d, &["gen", "-w", w, "--out", "g.csv"]);
    assert_eq!(entries(d), ["g.csv", "g.csv.nodes.csv", "g.emb.npy", w]);
    assert!(
        out.lines().nth(2).is_some_and(|l| l
            .starts_with("embeddings: 500 × 3 float32 (0.0 MB), generated in ")
            && l.contains("; wrote g.emb.npy in ")
            && !l.contains("EMBD")),
        "{out}"
    );
    let generated = recall(d, &["-w", w]);
    assert!(!generated.1.as_array().unwrap().is_empty());
    assert_eq!(
        recall(
            d,
            &["-w", w, "--graph", "g.csv", "--embeddings", "g.emb.npy"]
        ),
        generated
    );
    // A CSV has no embeddings section: without --embeddings they are generated again.
    assert_eq!(recall(d, &["-w", w, "--graph", "g.csv"]), generated);
}

#[test]
fn run_from_the_sbg_has_the_generated_runs_identity() {
    let t = tmp();
    let d = t.path();
    let w = small_workload(d);
    ok(d, &["gen", "-w", w, "--out", "g.sbg"]);
    fs::rename(d.join("g.emb.npy"), d.join("other.emb.npy")).unwrap();
    let args = [
        "run",
        "-w",
        w,
        "--mode",
        "recall",
        "--spreads",
        "50",
        "--warmup",
        "0",
    ];
    ok(d, &[&args[..], &["--out", "gen"]].concat());
    ok(
        d,
        &[&args[..], &["--graph", "g.sbg", "--out", "sbg"]].concat(),
    );
    let (a, b) = (snapshot(d, "gen"), snapshot(d, "sbg"));
    assert_eq!(s(&a, "/recall/embeddings"), "generated");
    assert_eq!(s(&b, "/recall/embeddings"), "g.sbg (embedded)");
    assert_eq!(
        s(&a, "/recall/embeddings_fingerprint"),
        s(&b, "/recall/embeddings_fingerprint")
    );
    assert_eq!(s(&a, "/workload/hash"), s(&b, "/workload/hash"));

    // --embeddings comes before the graph's own section.
    ok(
        d,
        &[
            &args[..],
            &[
                "--graph",
                "g.sbg",
                "--embeddings",
                "other.emb.npy",
                "--out",
                "npy",
            ],
        ]
        .concat(),
    );
    let c = snapshot(d, "npy");
    assert_eq!(s(&c, "/recall/embeddings"), "other.emb.npy");
    assert_eq!(s(&c, "/workload/hash"), s(&a, "/workload/hash"));
}

#[test]
fn a_workload_without_embeddings_writes_no_npy_and_a_version_1_file() {
    let t = tmp();
    let d = t.path();
    let out = ok_stdout(d, &["gen", "-w", "chain-64", "--out", "c.sbg"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    ok(d, &["gen", "-w", "chain-64", "--out", "c.csv"]);
    assert_eq!(entries(d), ["c.csv", "c.csv.nodes.csv", "c.sbg"]);
    assert_eq!(
        fs::read(d.join("c.sbg")).unwrap()[8..12],
        1u32.to_le_bytes()
    );
    // Nothing to recall with: bad input, naming the workload.
    let e = fails(
        d,
        &[
            "recall",
            "-w",
            "chain-64",
            "--graph",
            "c.sbg",
            "--cue-node",
            "1",
        ],
        2,
    );
    assert!(e.contains("no [embeddings] section"), "{e}");
}

/// `bytes` with its checksum recomputed, so that the structural checks are reached.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    let body = bytes.len() - 8;
    let sum = fnv1a64(&bytes[..body]);
    bytes[body..].copy_from_slice(&sum.to_le_bytes());
    bytes
}

#[test]
fn a_damaged_embeddings_section_is_bad_input_and_leaves_nothing_behind() {
    let t = tmp();
    let d = t.path();
    let w = small_workload(d);
    ok(d, &["gen", "-w", w, "--out", "g.sbg"]);
    let good = fs::read(d.join("g.sbg")).unwrap();
    // The EMBD section is the last: its head, the dimension, then 500 × 3 f32.
    let vectors = good.len() - 8 - 500 * 3 * 4;
    assert_eq!(&good[vectors - 16..vectors - 12], b"EMBD");
    let component = |row: usize, col: usize| vectors + 4 * (3 * row + col);

    let mut cases: Vec<(&str, Vec<u8>, String)> = Vec::new();
    let mut b = good.clone();
    b[component(7, 2)] ^= 0x40;
    cases.push((
        "flipped.sbg",
        b,
        "flipped.sbg: checksum mismatch: file is corrupt".into(),
    ));
    cases.push((
        "short.sbg",
        good[..good.len() - 100].to_vec(),
        // Longer than the header's counts need with one component per row, so the reader
        // cannot tell a cut from damage.
        "short.sbg: checksum mismatch: file is corrupt".into(),
    ));
    let mut b = good.clone();
    b[component(7, 2)..component(7, 2) + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    cases.push((
        "nan.sbg",
        reseal(b),
        "nan.sbg: section EMBD: row 7 holds NaN at column 2".into(),
    ));
    let mut b = good.clone();
    b[component(9, 0)..component(10, 0)].fill(0);
    cases.push((
        "zero.sbg",
        reseal(b),
        "zero.sbg: section EMBD: row 9 is all zeros, so it has no direction".into(),
    ));
    let mut b = good.clone();
    b[vectors - 4..vectors].copy_from_slice(&0u32.to_le_bytes());
    cases.push((
        "dim0.sbg",
        reseal(b),
        "dim0.sbg: section EMBD: dimension 0; must be between 1 and 65536".into(),
    ));
    let mut b = good.clone();
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    cases.push((
        "v1.sbg",
        reseal(b),
        "v1.sbg: flag bit 1 (embeddings) is set in a version-1 file, which has no embeddings section: the header is corrupt".into(),
    ));

    for (name, bytes, expected) in cases {
        fs::write(d.join(name), bytes).unwrap();
        let e = fails(
            d,
            &["recall", "-w", w, "--graph", name, "--cue-node", "3"],
            2,
        );
        assert_eq!(e, format!("spreadbench: error: {expected}"));
        let e = fails(
            d,
            &[
                "run", "-w", w, "--mode", "recall", "--graph", name, "--out", "r",
            ],
            2,
        );
        assert_eq!(e, format!("spreadbench: error: {expected}"));
        assert!(
            !d.join("r").exists(),
            "{name}: a results directory was left"
        );
        // Through a pipe, as --graph - reads it.
        let out = sb(d)
            .args([
                "run", "-w", w, "--mode", "recall", "--graph", "-", "--out", "r",
            ])
            .pipe_stdin(d.join(name))
            .unwrap()
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert_eq!(
            text(&out.stderr).trim_end(),
            format!(
                "spreadbench: error: {}",
                expected.replacen(name, "<stdin>", 1)
            )
        );
        fs::remove_file(d.join(name)).unwrap();
    }
    assert_eq!(entries(d), ["g.emb.npy", "g.sbg", w]);
}

#[test]
fn gen_refuses_an_npy_path_it_cannot_write_before_generating() {
    let t = tmp();
    let d = t.path();
    let w = small_workload(d);
    fs::create_dir(d.join("g.emb.npy")).unwrap();
    let e = fails(d, &["gen", "-w", w, "--out", "g.sbg"], 2);
    assert_eq!(
        e,
        "spreadbench: error: cannot write embeddings file g.emb.npy: is a directory; only a \
         regular file, a FIFO or a character device can be written"
    );
    assert_eq!(entries(d), ["g.emb.npy", w]);
    assert!(entries(&d.join("g.emb.npy")).is_empty());
}

#[test]
fn gen_writes_the_npy_through_a_symlink_and_keeps_the_link() {
    let t = tmp();
    let d = t.path();
    let w = small_workload(d);
    fs::create_dir(d.join("real")).unwrap();
    fs::write(d.join("real/v.npy"), b"old").unwrap();
    std::os::unix::fs::symlink("real/v.npy", d.join("g.emb.npy")).unwrap();
    ok(d, &["gen", "-w", w, "--out", "g.sbg"]);
    assert!(fs::symlink_metadata(d.join("g.emb.npy"))
        .unwrap()
        .is_symlink());
    assert_eq!(entries(d), ["g.emb.npy", "g.sbg", "real", w]);
    assert_eq!(entries(&d.join("real")), ["v.npy"]);
    let g = sbg::read_file(&d.join("g.sbg")).unwrap();
    let e = npy::read_npy(&d.join("real/v.npy"), g.node_count()).unwrap();
    let (dim, rows) = g.embedding_rows().unwrap();
    assert_eq!(dim, 3);
    assert_eq!(e.as_slice(), rows);
}

#[test]
fn gen_to_stdout_puts_the_vectors_in_the_sbg_only() {
    let t = tmp();
    let d = t.path();
    let w = small_workload(d);
    let out = ok(d, &["gen", "-w", w, "--out", "/dev/fd/1"]);
    let err = text(&out.stderr);
    assert!(
        err.lines().nth(1).is_some_and(|l| l.starts_with("embeddings: 500 × 3 ")
            && l.ends_with("; in the EMBD section of /dev/fd/1; no .emb.npy beside /dev/fd/1: it is not a regular file")),
        "{err}"
    );
    assert_eq!(entries(d), [w]);
    let g = sbg::from_bytes(&out.stdout, "stdout").unwrap();
    assert_eq!(g.embedding_rows().map(|(dim, _)| dim), Some(3));
}

#[test]
fn gen_interrupted_while_writing_the_vectors_leaves_nothing() {
    let t = tmp();
    let d = t.path();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("spreadbench"))
        .args(["gen", "-w", "warm-10k", "--out", "g.sbg"])
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(120);
    while !entries(d).iter().any(|n| n.contains(".tmp-")) {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("gen exited ({st}) before a temporary file was seen");
        }
        assert!(Instant::now() < until, "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr),
        "spreadbench: interrupted by SIGINT; g.sbg and g.emb.npy not written\n"
    );
    assert!(entries(d).is_empty(), "left behind: {:?}", entries(d));
}
