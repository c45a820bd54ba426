//! The results directory: `results/<UTC time>-<command>-<workload>/` with its files, and the
//! `results/runs.csv` history.
//!
//! The directory is assembled under a hidden temporary name and renamed into place only when
//! every file is written, so a failed or interrupted command leaves no results directory (and
//! no half-written file) behind. Errors name the file as it would be in the finished
//! directory (`results/<dir>/snapshot.json`), not the temporary name.
//!
//! `runs.csv` is appended to by every run, possibly on a nearly full disk, and read by
//! spreadsheets and scripts, so a row is written whole or not at all: a failed append is
//! rolled back to the previous length, a `runs.csv` this run created is removed again, and
//! a file whose last line lacks its newline gets one before the new row. A `runs.csv` that is
//! a symlink is appended to at its target; a device or FIFO gets the row alone (no header);
//! anything else is refused before the run writes anything.

use super::snapshot::Snapshot;
use super::time::UtcTime;
use crate::atomic_file::{self, Target};
use anyhow::{Context, Result};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Column names of `runs.csv`, in order.
pub const RUNS_CSV_HEADER: &[&str] = &[
    "started_at",
    "command",
    "workload",
    "workload_hash",
    "git_rev",
    "spreads",
    "p50_ns",
    "p90_ns",
    "p95_ns",
    "p99_ns",
    "p999_ns",
    "max_ns",
    "mean_ns",
    "throughput_per_s",
    "nodes_activated_mean",
    "edges_relaxed_mean",
    "results_dir",
];

/// Writes results under a root directory (default `results/`).
pub struct ResultsWriter {
    root: PathBuf,
}

impl ResultsWriter {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ResultsWriter { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Starts a results directory under a hidden temporary name, before anything is measured
    /// (so an unusable root fails first), and for files streamed while measuring (`soak`).
    /// Nothing appears under its final name until
    /// [`PendingRun::finish`]; dropping the `PendingRun` unfinished removes it.
    pub fn begin(&self, command: &str, workload: &str, started: UtcTime) -> Result<PendingRun<'_>> {
        fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create results directory {}", self.root.display()))?;
        // Refused now rather than after the run, when its directory is already in place.
        let runs = self.runs_csv();
        atomic_file::target(&runs)
            .with_context(|| format!("cannot append to {}", runs.display()))?;
        let base = format!(
            "{}-{}-{}",
            started.compact(),
            sanitize(command),
            sanitize(workload)
        );
        let tmp = self
            .root
            .join(format!(".{base}.tmp-{}", std::process::id()));
        fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(PendingRun {
            writer: self,
            tmp,
            base,
            done: false,
        })
    }

    fn runs_csv(&self) -> PathBuf {
        self.root.join("runs.csv")
    }

    /// Renames the finished temporary directory to the first free `base`, `base-2`, ….
    fn place(&self, tmp: &Path, base: &str) -> Result<PathBuf> {
        for n in 1..1000 {
            let name = if n == 1 {
                base.to_string()
            } else {
                format!("{base}-{n}")
            };
            let dir = self.root.join(name);
            if dir.exists() {
                continue;
            }
            match fs::rename(tmp, &dir) {
                Ok(()) => return Ok(dir),
                Err(_) if dir.exists() => continue,
                Err(e) => {
                    let _ = fs::remove_dir_all(tmp);
                    return Err(e).with_context(|| format!("cannot create {}", dir.display()));
                }
            }
        }
        let _ = fs::remove_dir_all(tmp);
        anyhow::bail!("cannot find a free results directory name for {base}")
    }

    /// Appends one row to `runs.csv` (header first when the file is new), whole or not at all
    /// (see the module documentation).
    fn append_history(&self, s: &Snapshot, dir: &Path) -> Result<()> {
        let path = self.runs_csv();
        let row = runs_csv_row(s, dir)?;
        append_row(&path, &row).with_context(|| format!("cannot append to {}", path.display()))
    }
}

/// One `runs.csv` row (with its newline) for a run whose results are in `dir`.
fn runs_csv_row(s: &Snapshot, dir: &Path) -> Result<Vec<u8>> {
    let l = &s.latency_ns;
    csv_bytes(&[
        s.started_at.clone(),
        s.command.clone(),
        s.workload.name.clone(),
        s.workload.hash.clone(),
        s.tool.git_rev.clone(),
        s.spreads.to_string(),
        l.p50.to_string(),
        l.p90.to_string(),
        l.p95.to_string(),
        l.p99.to_string(),
        l.p999.to_string(),
        l.max.to_string(),
        format!("{:.1}", l.mean),
        format!("{:.1}", s.throughput_per_s),
        format!("{:.2}", s.work.nodes_activated_mean),
        format!("{:.2}", s.work.edges_relaxed_mean),
        dir.display().to_string(),
    ])
}

fn csv_bytes<T: AsRef<[u8]>>(record: &[T]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    {
        let mut w = csv::Writer::from_writer(&mut buf);
        w.write_record(record)?;
        w.flush()?;
    }
    Ok(buf)
}

/// Appends `row` to the CSV file at `path` (following a symlink), preceded by the header
/// when the file is new or empty and by a newline when its last line lacks one. A failed
/// write is undone; see [`append_with_rollback`].
fn append_row(path: &Path, row: &[u8]) -> Result<()> {
    let real = match atomic_file::target(path)? {
        Target::Stream { path: dev } => {
            let mut f = fs::OpenOptions::new().append(true).open(dev)?;
            f.write_all(row)?;
            return Ok(());
        }
        Target::Replace { path, .. } => path,
    };
    let (file, created) = match fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .open(&real)
    {
        Ok(f) => (f, true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => (
            fs::OpenOptions::new().read(true).append(true).open(&real)?,
            false,
        ),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len();
    let mut bytes = Vec::with_capacity(row.len() + 256);
    if len == 0 {
        bytes.extend(csv_bytes(RUNS_CSV_HEADER)?);
    } else {
        let mut last = [0u8];
        file.read_exact_at(&mut last, len - 1)?;
        if last[0] != b'\n' {
            bytes.push(b'\n');
        }
    }
    bytes.extend_from_slice(row);
    if let Err(e) = append_with_rollback(&file, &bytes) {
        if created && file.metadata().is_ok_and(|m| m.len() == 0) {
            let _ = fs::remove_file(&real);
        }
        return Err(e.into());
    }
    Ok(())
}

/// Appends `bytes` to `file` (opened for appending) and syncs it. The bytes go out in one
/// `write` unless the disk cuts it short, so concurrent runs do not interleave within a row.
/// When the append fails part-way the file is cut back to where it began, so no torn row
/// stays behind. Another
/// process appending in the same instant can move that point; the cut is made only when
/// this append's bytes are still the file's last ones.
fn append_with_rollback(mut file: &fs::File, bytes: &[u8]) -> io::Result<()> {
    let mut written = 0;
    let result = (|| {
        while written < bytes.len() {
            match file.write(&bytes[written..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        file.sync_data()
    })();
    if result.is_err() && written > 0 {
        if let Ok(m) = file.metadata() {
            if let Some(start) = m.len().checked_sub(written as u64) {
                let _ = file.set_len(start);
            }
        }
    }
    result
}

/// A results directory being assembled under a temporary name.
pub struct PendingRun<'w> {
    writer: &'w ResultsWriter,
    tmp: PathBuf,
    base: String,
    done: bool,
}

impl PendingRun<'_> {
    /// The name errors give a file of this directory: where it will be once finished.
    fn shown(&self, name: &str) -> PathBuf {
        self.writer.root.join(&self.base).join(name)
    }

    /// Creates a file inside the pending directory, for streaming output. Its write errors
    /// name the file.
    pub fn create(&self, name: &str) -> Result<io::BufWriter<ResultFile>> {
        let shown = self.shown(name);
        let file = fs::File::create(self.tmp.join(name))
            .with_context(|| format!("cannot create {}", shown.display()))?;
        Ok(io::BufWriter::new(ResultFile { file, shown }))
    }

    /// Writes the remaining `files`, syncs everything, renames the directory into place,
    /// appends the `runs.csv` row, and returns the final path.
    pub fn finish(mut self, snapshot: &Snapshot, files: &[(&str, Vec<u8>)]) -> Result<PathBuf> {
        for (name, bytes) in files {
            let path = self.tmp.join(name);
            fs::File::create(&path)
                .and_then(|mut f| f.write_all(bytes))
                .with_context(|| format!("cannot write {}", self.shown(name).display()))?;
        }
        for entry in fs::read_dir(&self.tmp)
            .with_context(|| format!("cannot read {}", self.tmp.display()))?
        {
            let entry = entry?;
            // ENOSPC can surface only here, when delayed allocation meets the disk.
            fs::File::open(entry.path())
                .and_then(|f| f.sync_all())
                .with_context(|| {
                    let name = entry.file_name();
                    format!(
                        "cannot write {}",
                        self.shown(&name.to_string_lossy()).display()
                    )
                })?;
        }
        let dir = self.writer.place(&self.tmp, &self.base)?;
        self.done = true;
        self.writer
            .append_history(snapshot, &dir)
            .with_context(|| {
                format!(
                    "results are in {}, but runs.csv has no row for them",
                    dir.display()
                )
            })?;
        Ok(dir)
    }
}

/// A file of a pending results directory; write errors say which file failed.
pub struct ResultFile {
    file: fs::File,
    shown: PathBuf,
}

impl ResultFile {
    fn named(&self, e: io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!("cannot write {}: {e}", self.shown.display()),
        )
    }
}

impl Write for ResultFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf).map_err(|e| self.named(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush().map_err(|e| self.named(e))
    }
}

impl Drop for PendingRun<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Keeps a name safe for a directory: letters, digits, `-`, `_`, `.`; anything else becomes `_`.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("w{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_safe_names() {
        assert_eq!(sanitize("warm-10k"), "warm-10k");
        assert_eq!(sanitize("../x y"), "w.._x_y");
    }

    /// Set in the child that [`in_limited_child`] starts: the directory to work in.
    const CHILD_DIR: &str = "SPREADBENCH_TEST_LIMITED_DIR";

    /// Runs the test `name` again in a child process whose files may not grow past 512
    /// bytes (SIGXFSZ ignored, so writes past it fail with EFBIG part-way, like ENOSPC), with
    /// [`CHILD_DIR`] set to a fresh directory, and returns that directory once the child
    /// passed.
    fn in_limited_child(name: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"trap '' XFSZ; ulimit -f 1; exec "$0" --exact "$1" --test-threads=1"#)
            .arg(exe)
            .arg(name)
            .env(CHILD_DIR, dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    }

    fn child_dir() -> Option<PathBuf> {
        std::env::var_os(CHILD_DIR).map(PathBuf::from)
    }

    #[test]
    fn new_runs_csv_that_cannot_be_written_is_removed() {
        let Some(dir) = child_dir() else {
            let dir = in_limited_child(
                "report::results::tests::new_runs_csv_that_cannot_be_written_is_removed",
            );
            assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
            return;
        };
        let path = dir.join("runs.csv");
        // Header (~200 bytes) and this row pass the 512-byte limit.
        let mut row = vec![b'x'; 400];
        row.push(b'\n');
        let e = append_row(&path, &row).unwrap_err();
        assert!(e.to_string().contains("File too large"), "{e:#}");
        assert!(!path.exists(), "a torn new runs.csv was left");
    }

    #[test]
    fn existing_runs_csv_is_rolled_back_after_a_partial_append() {
        let Some(dir) = child_dir() else {
            in_limited_child(
                "report::results::tests::existing_runs_csv_is_rolled_back_after_a_partial_append",
            );
            return;
        };
        let path = dir.join("runs.csv");
        let before = b"a,b\n1,2\n".to_vec();
        fs::write(&path, &before).unwrap();
        let mut row = vec![b'y'; 600];
        row.push(b'\n');
        let e = append_row(&path, &row).unwrap_err();
        assert!(e.to_string().contains("File too large"), "{e:#}");
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn streamed_result_file_errors_name_the_file() {
        let Some(dir) = child_dir() else {
            in_limited_child("report::results::tests::streamed_result_file_errors_name_the_file");
            return;
        };
        let writer = ResultsWriter::new(dir.join("results"));
        let started = UtcTime::from_unix(0, 0);
        let pending = writer.begin("soak", "w", started).unwrap();
        let mut f = pending.create("metrics.jsonl").unwrap();
        let e = f
            .write_all(&[b'z'; 4096])
            .and_then(|()| f.flush())
            .unwrap_err();
        let shown = dir
            .join("results")
            .join(&pending.base)
            .join("metrics.jsonl");
        assert!(
            e.to_string()
                .starts_with(&format!("cannot write {}: File too large", shown.display())),
            "{e}"
        );
        drop(f);
        drop(pending);
        assert_eq!(
            fs::read_dir(dir.join("results")).unwrap().count(),
            0,
            "the pending directory was left"
        );
    }

    #[test]
    fn torn_last_line_gets_a_newline_before_the_next_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        fs::write(&path, b"h1,h2\n1,2").unwrap();
        append_row(&path, b"3,4\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"h1,h2\n1,2\n3,4\n");
        // An empty file gets the header.
        let empty = dir.path().join("empty.csv");
        fs::write(&empty, b"").unwrap();
        append_row(&empty, b"3,4\n").unwrap();
        let text = fs::read_to_string(&empty).unwrap();
        assert_eq!(text, format!("{}\n3,4\n", RUNS_CSV_HEADER.join(",")));
    }
}
