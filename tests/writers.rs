//! Every writer against hostile output paths (issue 8): symlinks, devices, FIFOs, stdout,
//! directories and sockets given as outputs; `runs.csv` appends that fail part-way; errors
//! that must name the file; temporary files left by signals.
//!
//! Devices are made with mknod inside the test's own directory (the suite runs as root), so
//! a writer that wrongly replaces one damages only the copy, never `/dev/null` itself; the
//! device tests say so and pass vacuously where mknod is not allowed. A full disk is
//! imitated with the file-size limit (`ulimit -f`, SIGXFSZ ignored): writes past it fail
//! with EFBIG part-way, as ENOSPC would.

mod common;

use common::{entries, ok, sb, text, tmp};
use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const RUN: &[&str] = &[
    "run",
    "-w",
    "chain-64",
    "--spreads",
    "20",
    "--warmup",
    "0",
    "--quiet",
    // The file-size limits below are set around a snapshot without the predictor's section,
    // and a results root without its cost-profile cache.
    "--predictor",
    "off",
];

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| fs::symlink_metadata(p).unwrap().is_dir())
        .collect();
    v.sort();
    v
}

fn run(dir: &Path, args: &[&str]) -> Output {
    sb(dir).args(args).output().expect("run spreadbench")
}

/// The one stderr line of a failed command, checked to be one line.
fn one_line(out: &Output) -> String {
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "not one line on stderr:\n{err}");
    err.trim_end().to_string()
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("spreadbench")
}

/// Runs spreadbench in `dir` under a file-size limit of `blocks` × 512 bytes.
fn run_limited(dir: &Path, blocks: u32, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f "$1"; shift; exec "$@""#)
        .arg("sh")
        .arg(blocks.to_string())
        .arg(bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run sh")
}

/// A device node like `/dev/<like>` at `path`, or `None` where mknod is not permitted.
fn mknod(path: &Path, major: u32, minor: u32) -> Option<()> {
    let st = Command::new("mknod")
        .arg(path)
        .args(["c", &major.to_string(), &minor.to_string()])
        .stderr(Stdio::null())
        .status()
        .ok()?;
    if st.success() {
        Some(())
    } else {
        eprintln!("mknod not permitted here: skipping the device checks");
        None
    }
}

fn is_char_device(p: &Path) -> bool {
    fs::symlink_metadata(p)
        .map(|m| m.file_type().is_char_device())
        .unwrap_or(false)
}

fn is_symlink(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.is_symlink())
}

/// The graph bytes `gen -w chain-64` writes to a plain file.
fn reference_graph(dir: &Path) -> Vec<u8> {
    ok(dir, &["gen", "-w", "chain-64", "--out", "reference.sbg"]);
    let bytes = fs::read(dir.join("reference.sbg")).unwrap();
    fs::remove_file(dir.join("reference.sbg")).unwrap();
    bytes
}

/// The fields of each runs.csv line (quoted fields as the csv crate reads them).
fn csv_field_counts(path: &Path) -> Vec<usize> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .unwrap();
    r.records().map(|rec| rec.unwrap().len()).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Never replace what is not a regular file
// ---------------------------------------------------------------------------------------------

#[test]
fn gen_through_a_symlink_writes_its_target_and_keeps_the_link() {
    let t = tmp();
    let d = t.path();
    let graph = reference_graph(d);
    fs::create_dir(d.join("real")).unwrap();
    fs::write(d.join("real/g.sbg"), b"old").unwrap();
    symlink("real/g.sbg", d.join("link.sbg")).unwrap();
    ok(d, &["gen", "-w", "chain-64", "--out", "link.sbg"]);
    assert!(is_symlink(&d.join("link.sbg")), "the link was replaced");
    assert_eq!(fs::read(d.join("real/g.sbg")).unwrap(), graph);
    assert_eq!(entries(d), ["link.sbg", "real"]);
    assert_eq!(entries(&d.join("real")), ["g.sbg"]);

    // CSV: both files through links, neither link replaced.
    fs::write(d.join("real/g.csv"), b"old").unwrap();
    symlink("real/g.csv", d.join("link.csv")).unwrap();
    symlink("real/g.csv.nodes.csv", d.join("link.csv.nodes.csv")).unwrap();
    ok(d, &["gen", "-w", "chain-64", "--out", "link.csv"]);
    assert!(is_symlink(&d.join("link.csv")));
    assert!(is_symlink(&d.join("link.csv.nodes.csv")));
    assert!(fs::read_to_string(d.join("real/g.csv"))
        .unwrap()
        .starts_with("src,dst,weight,type\n"));
    assert!(fs::read_to_string(d.join("real/g.csv.nodes.csv"))
        .unwrap()
        .starts_with("id,tier\n"));
}

#[test]
fn gen_writes_straight_through_character_devices() {
    let t = tmp();
    let d = t.path();
    if mknod(&d.join("null"), 1, 3).is_none() || mknod(&d.join("full"), 1, 7).is_none() {
        return;
    }
    ok(d, &["gen", "-w", "chain-64", "--out", "null"]);
    assert!(is_char_device(&d.join("null")), "null was replaced");

    let out = run(d, &["gen", "-w", "chain-64", "--out", "full"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_line(&out),
        "spreadbench: error: cannot write graph file full: No space left on device (os error 28)"
    );
    assert!(is_char_device(&d.join("full")), "full was replaced");
    // Through a symlink too.
    symlink("null", d.join("to-null")).unwrap();
    ok(d, &["gen", "-w", "chain-64", "--out", "to-null"]);
    assert!(is_char_device(&d.join("null")));
    assert!(is_symlink(&d.join("to-null")));
    assert_eq!(entries(d), ["full", "null", "to-null"]);
}

#[test]
fn gen_writes_straight_through_a_fifo() {
    let t = tmp();
    let d = t.path();
    let graph = reference_graph(d);
    let fifo = d.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let fifo = fifo.clone();
        // Blocks in open until a writer comes; left hanging (and the test fails) if the
        // writer renames a file over the FIFO instead.
        std::thread::spawn(move || tx.send(fs::read(fifo).unwrap()));
    }
    ok(d, &["gen", "-w", "chain-64", "--out", "fifo"]);
    let read = rx.recv_timeout(Duration::from_secs(30));
    assert!(
        fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(),
        "the FIFO was replaced"
    );
    assert_eq!(read.expect("the FIFO's reader got the graph"), graph);
    assert_eq!(entries(d), ["fifo"]);
}

#[test]
fn gen_to_stdout_writes_the_graph_there_and_the_summary_to_stderr() {
    let t = tmp();
    let d = t.path();
    let graph = reference_graph(d);
    // /dev/fd/1 is what /dev/stdout links to; a writer that renamed over it would fail in
    // /proc rather than damage /dev.
    let out = ok(d, &["gen", "-w", "chain-64", "--out", "/dev/fd/1"]);
    assert_eq!(out.stdout, graph);
    assert!(
        text(&out.stderr).starts_with("wrote /dev/fd/1 (sbg, 64 nodes, 63 edges)"),
        "{}",
        text(&out.stderr)
    );
    assert!(entries(d).is_empty(), "{:?}", entries(d));
}

#[test]
fn gen_refuses_a_directory_and_a_socket() {
    let t = tmp();
    let d = t.path();
    fs::create_dir(d.join("dir")).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap();
    for (out, expect) in [
        (
            "dir",
            "spreadbench: error: cannot write graph file dir: is a directory; only a regular file, a FIFO or a character device can be written",
        ),
        (
            "sock",
            "spreadbench: error: cannot write graph file sock: is a socket; only a regular file, a FIFO or a character device can be written",
        ),
        (
            "dir/g.csv",
            "spreadbench: error: cannot write nodes file dir/g.csv.nodes.csv: is a directory; only a regular file, a FIFO or a character device can be written",
        ),
    ] {
        if out == "dir/g.csv" {
            fs::create_dir(d.join("dir/g.csv.nodes.csv")).unwrap();
        }
        let o = run(d, &["gen", "-w", "chain-64", "--out", out]);
        assert_eq!(o.status.code(), Some(2), "--out {out}: {}", text(&o.stderr));
        assert_eq!(one_line(&o), expect);
    }
    // A missing directory is a runtime failure (exit 1, as tests/cli.rs holds), found
    // before the graph is generated.
    let o = run(d, &["gen", "-w", "chain-64", "--out", "nowhere/g.sbg"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        one_line(&o),
        "spreadbench: error: cannot write graph file nowhere/g.sbg: directory nowhere does not exist"
    );
    assert_eq!(entries(d), ["dir", "sock"]);
    assert_eq!(entries(&d.join("dir")), ["g.csv.nodes.csv"]);
}

#[test]
fn diff_export_bmf_through_a_symlink_keeps_the_link() {
    let t = tmp();
    let d = t.path();
    ok(d, &[RUN, &["--out", "r"]].concat());
    let dirs = subdirs(&d.join("r"));
    let snap = dirs[0].join("snapshot.json");
    let snap = snap.to_str().unwrap();
    fs::write(d.join("target.json"), b"old").unwrap();
    symlink("target.json", d.join("bmf.json")).unwrap();
    ok(d, &["diff", snap, snap, "--export-bmf", "bmf.json"]);
    assert!(is_symlink(&d.join("bmf.json")), "the link was replaced");
    let bmf: serde_json::Value =
        serde_json::from_slice(&fs::read(d.join("target.json")).unwrap()).unwrap();
    assert!(bmf.is_object(), "{bmf}");
    assert_eq!(entries(d), ["bmf.json", "r", "target.json"]);
}

// ---------------------------------------------------------------------------------------------
// 3. runs.csv is never torn
// ---------------------------------------------------------------------------------------------

/// Fills `runs.csv` with whole rows copied from its first row, one of them padded, to exactly
/// `len` bytes.
fn fill_runs_csv(path: &Path, len: usize) {
    let content = fs::read_to_string(path).unwrap();
    let mut lines = content.split_inclusive('\n');
    let (header, row) = (lines.next().unwrap(), lines.next().unwrap());
    let mut body = header.to_string();
    while body.len() + 2 * row.len() < len {
        body.push_str(row);
    }
    // Pad the last field (the results directory, unquoted) to reach `len` exactly.
    let pad = len - body.len() - row.len();
    body.push_str(&row[..row.len() - 1]);
    body.push_str(&"x".repeat(pad));
    body.push('\n');
    assert_eq!(body.len(), len);
    fs::write(path, body).unwrap();
}

#[test]
fn runs_csv_append_that_fails_part_way_is_rolled_back() {
    let t = tmp();
    let d = t.path();
    ok(d, &[RUN, &["--out", "r"]].concat());
    let csv = d.join("r/runs.csv");
    // 40 bytes short of the 8 KiB limit: the next row (~160 bytes) is cut off part-way.
    fill_runs_csv(&csv, 8192 - 40);
    let before = fs::read(&csv).unwrap();

    let out = run_limited(d, 16, &[RUN, &["--out", "r"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = one_line(&out);
    assert!(
        err.contains(
            "but runs.csv has no row for them: cannot append to r/runs.csv: File too large"
        ),
        "{err}"
    );
    assert_eq!(fs::read(&csv).unwrap(), before, "runs.csv changed");
    // The run's results are kept, and the message names them.
    assert_eq!(subdirs(&d.join("r")).len(), 2);
    let named = err
        .split("results are in ")
        .nth(1)
        .and_then(|s| s.split(", but").next())
        .unwrap();
    assert!(d.join(named).join("snapshot.json").is_file(), "{err}");

    // The next run appends a whole row after the old ones.
    ok(d, &[RUN, &["--out", "r"]].concat());
    let counts = csv_field_counts(&csv);
    assert!(counts.iter().all(|&n| n == 17), "{counts:?}");
    assert_eq!(
        fs::read_to_string(&csv).unwrap().lines().count(),
        text(&before).lines().count() + 1
    );
}

#[test]
fn runs_csv_without_a_final_newline_does_not_get_the_next_row_glued_on() {
    let t = tmp();
    let d = t.path();
    ok(d, &[RUN, &["--out", "r"]].concat());
    let csv = d.join("r/runs.csv");
    let content = fs::read_to_string(&csv).unwrap();
    fs::write(&csv, content.trim_end_matches('\n')).unwrap();
    ok(d, &[RUN, &["--out", "r"]].concat());
    assert_eq!(csv_field_counts(&csv), [17, 17, 17]);
    assert!(fs::read_to_string(&csv).unwrap().ends_with('\n'));
}

#[test]
fn runs_csv_that_is_a_directory_is_refused_before_the_run_writes_anything() {
    let t = tmp();
    let d = t.path();
    fs::create_dir_all(d.join("r/runs.csv")).unwrap();
    let out = run(d, &[RUN, &["--out", "r"]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        one_line(&out),
        "spreadbench: error: cannot append to r/runs.csv: is a directory; only a regular file, a FIFO or a character device can be written"
    );
    assert_eq!(entries(&d.join("r")), ["runs.csv"]);
}

#[test]
fn runs_csv_linked_to_a_device_is_written_through() {
    let t = tmp();
    let d = t.path();
    fs::create_dir(d.join("r")).unwrap();
    if mknod(&d.join("null"), 1, 3).is_none() || mknod(&d.join("full"), 1, 7).is_none() {
        return;
    }
    symlink("../null", d.join("r/runs.csv")).unwrap();
    ok(d, &[RUN, &["--out", "r"]].concat());
    assert!(is_symlink(&d.join("r/runs.csv")));
    assert!(is_char_device(&d.join("null")));

    // A full device: the append fails, naming runs.csv; the link and device stay.
    fs::remove_file(d.join("r/runs.csv")).unwrap();
    symlink("../full", d.join("r/runs.csv")).unwrap();
    let out = run(d, &[RUN, &["--out", "r"]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        one_line(&out).ends_with(
            "but runs.csv has no row for them: cannot append to r/runs.csv: No space left on device (os error 28)"
        ),
        "{}",
        text(&out.stderr)
    );
    assert!(is_symlink(&d.join("r/runs.csv")));
    assert!(is_char_device(&d.join("full")));
}

// ---------------------------------------------------------------------------------------------
// 8. Write errors name the file
// ---------------------------------------------------------------------------------------------

#[test]
fn snapshot_write_error_names_the_file_and_leaves_no_results_directory() {
    let t = tmp();
    let d = t.path();
    // 4 KiB: the snapshot (~6 KiB) cannot be written.
    let out = run_limited(d, 8, &[RUN, &["--out", "r"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = one_line(&out);
    let re = is_run_file_message(
        &err,
        "spreadbench: error: cannot write r/",
        "-run-chain-64/snapshot.json: File too large (os error 27)",
    );
    assert!(re, "{err}");
    assert!(
        entries(&d.join("r")).is_empty(),
        "{:?}",
        entries(&d.join("r"))
    );
}

/// `s` is `prefix` + one run directory name (`<time>`, no dot) + `suffix`.
fn is_run_file_message(s: &str, prefix: &str, suffix: &str) -> bool {
    s.strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(suffix))
        .is_some_and(|time| !time.is_empty() && !time.contains('.') && !time.contains('/'))
}

// ---------------------------------------------------------------------------------------------
// 6. Temporary files: hidden, and removed on SIGINT
// ---------------------------------------------------------------------------------------------

/// Starts `gen` of a graph that takes about a second to write, waits for its temporary file
/// to appear, and sends `sig` with kill(1). Returns the exit status and stderr.
///
/// The signal races the end of the write: on a loaded machine `gen` can finish between the
/// temporary file's appearance and the signal (CI once saw exit 0 from the SIGKILL case).
/// Such an attempt tested nothing, so it is made again, up to [`SIGNAL_ATTEMPTS`] times.
fn gen_signalled_while_writing(dir: &Path, out: &str, sig: &str) -> (Option<i32>, String) {
    for attempt in 1..=SIGNAL_ATTEMPTS {
        let (status, err) = gen_signalled_once(dir, out, sig);
        if !(status == Some(0) && attempt < SIGNAL_ATTEMPTS) {
            return (status, err);
        }
        // Finished before the signal: start again from an empty directory.
        for name in entries(dir) {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
    }
    unreachable!("the last attempt returns")
}

/// Attempts of [`gen_signalled_while_writing`] before a finished write counts as a failure.
const SIGNAL_ATTEMPTS: u32 = 5;

fn gen_signalled_once(dir: &Path, out: &str, sig: &str) -> (Option<i32>, String) {
    let mut child = Command::new(bin())
        .args(["gen", "-w", "mixed-100k", "--out", out])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        if entries(dir).iter().any(|n| n.contains(".tmp-")) {
            break;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("gen exited ({st}) before its temporary file was seen");
        }
        assert!(Instant::now() < until, "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    let st = Command::new("kill")
        .args([format!("-{sig}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let until = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            panic!("gen did not exit after SIG{sig}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = child.wait_with_output().unwrap();
    (o.status.code(), text(&o.stderr))
}

#[test]
fn gen_interrupted_while_writing_removes_its_temporary_files_and_exits_130() {
    let t = tmp();
    let d = t.path();
    let (code, err) = gen_signalled_while_writing(d, "g.csv", "INT");
    assert_eq!(code, Some(130), "{err}");
    assert_eq!(
        err,
        "spreadbench: interrupted by SIGINT; g.csv not written\n"
    );
    assert!(entries(d).is_empty(), "left behind: {:?}", entries(d));
}

#[test]
fn gen_killed_while_writing_leaves_only_a_hidden_temporary_file() {
    let t = tmp();
    let d = t.path();
    let (code, _) = gen_signalled_while_writing(d, "g.sbg", "KILL");
    assert_eq!(code, None, "killed by the signal");
    let left = entries(d);
    assert!(!left.is_empty(), "kill -9 cannot clean up");
    assert!(
        left.iter().all(|n| n.starts_with(".g.sbg.tmp-")),
        "{left:?}"
    );
}
