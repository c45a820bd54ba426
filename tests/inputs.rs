//! `--graph` from pipes, FIFOs, standard input and endless devices (issue 8, item 2).
//!
//! A graph that arrives through a pipe can be read only once, so these tests pipe the same
//! bytes that a file-path run reads and require byte-identical `spread --json` output. Every
//! child runs under a timeout: a reader that opens a FIFO twice blocks forever, and one that
//! reads `/dev/zero` to its end runs until memory runs out.

use assert_cmd::Command;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

mod common;
use common::{ok, sb, text, tmp};

/// Long enough for a debug build on a loaded 2-core machine, short enough that a hang fails.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The spread every comparison runs: hot-1k's settings, two seeds, full JSON.
const SPREAD: [&str; 6] = ["spread", "-w", "hot-1k", "--seeds", "1,2", "--json"];

fn spread_cmd(d: &Path, graph: &str, extra: &[&str]) -> Command {
    let mut c = sb(d);
    c.args(SPREAD)
        .args(["--graph", graph])
        .args(extra)
        .timeout(TIMEOUT);
    c
}

/// Runs and requires exit 0; returns stdout.
fn success(mut c: Command, what: &str) -> Vec<u8> {
    let out = c.output().expect("run spreadbench");
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Requires exit 2 and exactly one line on stderr containing every needle; returns it.
fn refused(out: &Output, needles: &[&str]) -> String {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "expected exit 2, got {:?}; stderr:\n{err}",
        out.status.code()
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr:\n{err}");
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in: {}", lines[0]);
    }
    lines[0].to_string()
}

/// hot-1k written as `g.sbg` and as `g.csv` (without its nodes file: a pipe has none beside
/// it, and hot-1k's tier shares give the same all-hot tiers the nodes file would).
fn graphs(d: &Path) -> (Vec<u8>, Vec<u8>) {
    ok(d, &["gen", "-w", "hot-1k", "--out", "g.sbg"]);
    ok(d, &["gen", "-w", "hot-1k", "--out", "g.csv"]);
    fs::remove_file(d.join("g.csv.nodes.csv")).unwrap();
    let sbg = fs::read(d.join("g.sbg")).unwrap();
    let csv = fs::read(d.join("g.csv")).unwrap();
    // Larger than a pipe's buffer, so the reader sees it in several reads.
    assert!(sbg.len() > 1 << 16 || csv.len() > 1 << 16);
    (sbg, csv)
}

#[test]
fn stdin_pipe_gives_the_same_spread_as_the_file() {
    let t = tmp();
    let d = t.path();
    let (sbg, csv) = graphs(d);
    for (file, bytes) in [("g.sbg", &sbg), ("g.csv", &csv)] {
        let expected = success(spread_cmd(d, file, &[]), file);
        for graph in ["-", "/dev/stdin"] {
            let mut c = spread_cmd(d, graph, &[]);
            // assert_cmd feeds this through a pipe from a writer thread.
            c.write_stdin(bytes.clone());
            let got = success(c, &format!("{file} piped to --graph {graph}"));
            assert!(
                got == expected,
                "{file} piped to --graph {graph}: output differs from the file-path run"
            );
        }
    }
}

/// Process substitution, `--graph <(cat g.sbg)`, is a pipe behind a `/dev/fd` path: a FIFO
/// with a writer behaves the same way.
#[test]
fn fifo_gives_the_same_spread_as_the_file() {
    let t = tmp();
    let d = t.path();
    let (sbg, csv) = graphs(d);
    for (file, bytes) in [("g.sbg", sbg), ("g.csv", csv)] {
        let expected = success(spread_cmd(d, file, &[]), file);
        let fifo = d.join(format!("{file}.fifo"));
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("run mkfifo");
        assert!(made.success());
        let writer = {
            let fifo = fifo.clone();
            // Opening a FIFO for writing blocks until a reader opens it. If the reader never
            // does, this thread stays blocked and the test process ends it on exit.
            std::thread::spawn(move || {
                fs::OpenOptions::new()
                    .write(true)
                    .open(&fifo)?
                    .write_all(&bytes)
            })
        };
        let got = success(
            spread_cmd(d, &fifo.display().to_string(), &[]),
            &format!("{file} through a FIFO"),
        );
        assert!(
            got == expected,
            "{file} through a FIFO: output differs from the file-path run"
        );
        writer.join().unwrap().expect("the writer wrote everything");
    }
}

#[test]
fn stdin_is_named_in_messages() {
    let t = tmp();
    let d = t.path();
    let mut c = spread_cmd(d, "-", &[]);
    c.write_stdin("src,dst,weight\n0,1,0.5\n1,2,abc\n");
    let line = refused(&c.output().unwrap(), &["<stdin>:3: field 'weight'"]);
    assert!(line.ends_with("'abc' is not a number"), "{line}");

    let mut c = spread_cmd(d, "-", &[]);
    c.write_stdin(&b"SPRDGRPH\x07\x00\x00\x00"[..]);
    refused(
        &c.output().unwrap(),
        &["<stdin>: format version 7 is not supported"],
    );

    let mut c = spread_cmd(d, "-", &["--undirected"]);
    c.write_stdin(&b"SPRDGRPH"[..]);
    refused(&c.output().unwrap(), &["<stdin>: --undirected"]);

    // A CSV from a pipe has no nodes file beside it; --undirected applies as for a file.
    // Seeds 1 and 2 on 0→1→2: directed, nothing new is reached; undirected, 1 reaches 0.
    for (extra, activated) in [(&[][..], 2), (&["--undirected"][..], 3)] {
        let mut c = spread_cmd(d, "-", extra);
        c.write_stdin("0,1\n1,2\n");
        let out = success(c, &format!("CSV on stdin {extra:?}"));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["work"]["nodes_activated"], activated, "{extra:?}: {v}");
    }

    // The snapshot records standard input under the same name.
    let mut c = sb(d);
    c.args(["run", "-w", "hot-1k", "--spreads", "20", "--warmup", "0"])
        .args(["--json", "--quiet", "--graph", "-"])
        .write_stdin("0,1\n1,2\n")
        .timeout(TIMEOUT);
    let snap: serde_json::Value = serde_json::from_slice(&success(c, "run on stdin")).unwrap();
    assert_eq!(snap["workload"]["graph_file"], "<stdin>");
    assert_eq!(snap["workload"]["generator"], "file");
}

/// Runs `args` on an endless input and requires a quick, clean refusal: exit 2, one line
/// naming the input, nothing written under `--out`.
fn refuse_endless(d: &Path, args: &[&str], needles: &[&str]) {
    let out_dir: PathBuf = d.join("res");
    let start = Instant::now();
    let out = sb(d)
        .args(args)
        .args(["--out", "res"])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let took = start.elapsed();
    refused(&out, needles);
    assert!(
        took < Duration::from_secs(10),
        "{args:?} took {took:?} to refuse"
    );
    assert!(!out_dir.exists(), "{args:?} left {}", out_dir.display());
}

#[test]
fn dev_zero_is_refused_quickly() {
    let t = tmp();
    let d = t.path();
    let run = ["run", "-w", "hot-1k", "--spreads", "10", "--warmup", "0"];
    refuse_endless(
        d,
        &[&run[..], &["--graph", "/dev/zero"]].concat(),
        &["/dev/zero", "refusing"],
    );
    // Named like a graph file, it is refused at the magic without reading further.
    std::os::unix::fs::symlink("/dev/zero", d.join("zero.sbg")).unwrap();
    refuse_endless(
        d,
        &[&run[..], &["--graph", "zero.sbg"]].concat(),
        &["zero.sbg", "bad magic"],
    );
    let mut soak = vec!["soak", "-w", "hot-1k", "--spreads", "1000", "--warmup", "0"];
    soak.extend(["--graph", "/dev/zero"]);
    refuse_endless(d, &soak, &["/dev/zero", "refusing"]);
}

#[test]
fn empty_graph_names_its_file() {
    use spreadbench::graph::{sbg, Graph};
    let t = tmp();
    let d = t.path();
    let empty = Graph::from_edges(&[], Vec::new()).unwrap();
    sbg::write_file(&empty, &d.join("empty-graph.sbg")).unwrap();
    let out = spread_cmd(d, "empty-graph.sbg", &[]).output().unwrap();
    refused(&out, &["empty-graph.sbg: the graph has no nodes"]);

    let mut c = spread_cmd(d, "-", &[]);
    c.write_stdin(sbg::to_bytes(&empty));
    refused(&c.output().unwrap(), &["<stdin>: the graph has no nodes"]);
}
