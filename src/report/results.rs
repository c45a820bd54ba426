//! The results directory: `results/<UTC time>-<command>-<workload>/` with its files, and the
//! `results/runs.csv` history.
//!
//! The directory is assembled under a hidden temporary name and renamed into place only when
//! every file is written, so a failed or interrupted command leaves no results directory (and
//! no half-written file) behind.

use super::snapshot::Snapshot;
use super::time::UtcTime;
use anyhow::{Context, Result};
use std::fs;
use std::io::{self, Write};
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

    /// Creates `<root>/<time>-<command>-<workload>/` holding `files` (name, bytes), all at
    /// once, appends a row to `<root>/runs.csv`, and returns the directory's path.
    pub fn write_run(
        &self,
        snapshot: &Snapshot,
        started: UtcTime,
        files: &[(&str, Vec<u8>)],
    ) -> Result<PathBuf> {
        let pending = self.begin(&snapshot.command, &snapshot.workload.name, started)?;
        pending.finish(snapshot, files)
    }

    /// Starts a results directory under a hidden temporary name, for commands that stream
    /// files while they run (`soak`). Nothing appears under its final name until
    /// [`PendingRun::finish`]; dropping the `PendingRun` unfinished removes it.
    pub fn begin(&self, command: &str, workload: &str, started: UtcTime) -> Result<PendingRun<'_>> {
        fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create results directory {}", self.root.display()))?;
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

    /// Appends one row to `runs.csv` (header first when the file is new), in one write so
    /// concurrent runs do not interleave within a row.
    fn append_history(&self, s: &Snapshot, dir: &Path) -> Result<()> {
        let path = self.root.join("runs.csv");
        let new_file = fs::metadata(&path).map(|m| m.len() == 0).unwrap_or(true);
        let mut buf = Vec::new();
        {
            let mut w = csv::Writer::from_writer(&mut buf);
            if new_file {
                w.write_record(RUNS_CSV_HEADER)?;
            }
            let l = &s.latency_ns;
            w.write_record([
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
            ])?;
            w.flush()?;
        }
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        f.write_all(&buf)
            .with_context(|| format!("cannot append to {}", path.display()))?;
        Ok(())
    }
}

/// A results directory being assembled under a temporary name.
pub struct PendingRun<'w> {
    writer: &'w ResultsWriter,
    tmp: PathBuf,
    base: String,
    done: bool,
}

impl PendingRun<'_> {
    /// Creates a file inside the pending directory, for streaming output.
    pub fn create(&self, name: &str) -> Result<io::BufWriter<fs::File>> {
        let path = self.tmp.join(name);
        let f =
            fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(io::BufWriter::new(f))
    }

    /// Writes the remaining `files`, syncs everything, renames the directory into place,
    /// appends the `runs.csv` row, and returns the final path.
    pub fn finish(mut self, snapshot: &Snapshot, files: &[(&str, Vec<u8>)]) -> Result<PathBuf> {
        for (name, bytes) in files {
            let path = self.tmp.join(name);
            let mut f = fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            f.write_all(bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        for entry in fs::read_dir(&self.tmp)
            .with_context(|| format!("cannot read {}", self.tmp.display()))?
        {
            let path = entry?.path();
            fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("cannot sync {}", path.display()))?;
        }
        let dir = self.writer.place(&self.tmp, &self.base)?;
        self.done = true;
        self.writer.append_history(snapshot, &dir)?;
        Ok(dir)
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
}
