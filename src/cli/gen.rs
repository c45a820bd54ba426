//! `spreadbench gen`: generate a workload's graph and save it (.sbg or CSV), with its node
//! vectors when the workload has `[embeddings]`.
//!
//! The vectors go to `FILE.emb.npy` beside the graph (`g.sbg` → `g.emb.npy`, `g.csv` →
//! `g.emb.npy`) in either format, because `.npy` is what other tools read, and, for `.sbg`,
//! into the file's `EMBD` section too, so that the graph file alone recalls what the workload
//! does. A graph written to a device or a FIFO has no "beside": its vectors then go only
//! into the `.sbg` (a CSV gets none), and the summary says so.
//!
//! Every file is written in full under a temporary name before any is renamed into place, so
//! a failure leaves none of them. Large graphs take seconds to write, so a SIGINT or SIGTERM
//! while writing stops the write, removes the temporary files and exits 130, leaving every
//! output as it was. Until the graph and vectors are generated nothing is on disk, and a
//! signal ends the process at once, as by default.

use super::common::{generate_graph, human_duration, load_workload};
use super::exit::{Exit, Outcome};
use super::interrupt::Interrupt;
use super::{GenArgs, GraphFormat};
use crate::aligned::CacheAligned;
use crate::atomic_file::{self, Target};
use crate::bad_input;
use crate::graph::{csv_io, sbg, Graph};
use crate::recall::{npy, Embeddings};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

pub fn execute(args: &GenArgs) -> Result<Outcome> {
    let w = load_workload(&args.workload, args.seed)?;
    let format = args.format.unwrap_or_else(|| {
        let is_csv = args
            .out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if is_csv {
            GraphFormat::Csv
        } else {
            GraphFormat::Sbg
        }
    });
    // An output that can never be written (a directory, a missing directory) is refused
    // before the graph is generated, which can take a while.
    let graph_target = match format {
        GraphFormat::Sbg => check_output(&args.out, "graph file")?,
        GraphFormat::Csv => {
            check_output(&csv_io::nodes_path(&args.out), "nodes file")?;
            check_output(&args.out, "edge list")?
        }
    };
    let npy_path = match (&w.embeddings, &graph_target) {
        (Some(_), Target::Replace { .. }) => {
            let p = emb_npy_path(&args.out);
            check_output(&p, "embeddings file")?;
            Some(p)
        }
        _ => None,
    };
    let start = Instant::now();
    let g = generate_graph(&w)?;
    let gen_time = start.elapsed();

    // Generated only when they go somewhere: a CSV to a device has no place for them.
    let embeddings = match w.embeddings {
        Some(spec) if npy_path.is_some() || format == GraphFormat::Sbg => {
            let start = Instant::now();
            let e = Embeddings::generate(&g, &spec)
                .map_err(|e| bad_input!("{}: {e}", w.source))?
                .embeddings;
            Some((e, start.elapsed()))
        }
        _ => None,
    };
    let g = match (&embeddings, format) {
        (Some((e, _)), GraphFormat::Sbg) => {
            let rows = e.as_slice();
            g.with_embedding_rows(e.dim(), CacheAligned::from_fn(rows.len(), |i| rows[i]))
        }
        _ => g,
    };
    let npy_out = npy_path.as_deref().zip(embeddings.as_ref().map(|(e, _)| e));

    let interrupt = Interrupt::install()?;
    let written = write_outputs(&g, format, &args.out, npy_out, interrupt.flag());
    if let (Err(_), Some(sig)) = (&written, interrupt.reason()) {
        let what = match &npy_path {
            Some(p) => format!("{} and {}", args.out.display(), p.display()),
            None => args.out.display().to_string(),
        };
        return Ok(Outcome::with(
            Exit::Interrupted,
            format!("interrupted by {sig}; {what} not written"),
        ));
    }
    let times = written?;

    // The summary must not land in the graph when the graph goes to stdout.
    let mut stdout;
    let mut stderr;
    let out: &mut dyn Write = if is_stdout(&args.out) {
        stderr = std::io::stderr().lock();
        &mut stderr
    } else {
        stdout = std::io::stdout().lock();
        &mut stdout
    };
    writeln!(
        out,
        "wrote {} ({}, {} nodes, {} edges): generated in {}, written in {}",
        args.out.display(),
        match format {
            GraphFormat::Sbg => "sbg",
            GraphFormat::Csv => "csv",
        },
        g.node_count(),
        g.edge_count(),
        human_duration(gen_time),
        human_duration(times.graph)
    )?;
    if format == GraphFormat::Csv {
        writeln!(out, "wrote {}", csv_io::nodes_path(&args.out).display())?;
    }
    if let Some((e, emb_time)) = &embeddings {
        let mut line = format!(
            "embeddings: {} × {} float32 ({:.1} MB), generated in {}",
            e.len(),
            e.dim(),
            e.bytes() as f64 / 1e6,
            human_duration(*emb_time)
        );
        if format == GraphFormat::Sbg {
            line += &format!("; in the EMBD section of {}", args.out.display());
        }
        match (&npy_path, times.npy) {
            (Some(p), Some(t)) => {
                line += &format!("; wrote {} in {}", p.display(), human_duration(t))
            }
            _ => {
                line += &format!(
                    "; no .emb.npy beside {}: it is not a regular file",
                    args.out.display()
                )
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(Outcome::success())
}

/// `FILE.emb.npy` for a graph `FILE.sbg` or `FILE.csv` (any extension is replaced).
pub fn emb_npy_path(graph: &Path) -> PathBuf {
    graph.with_extension("emb.npy")
}

/// How long each output took to write.
struct WriteTimes {
    graph: Duration,
    npy: Option<Duration>,
}

/// Writes the graph (and `npy`'s vectors to its path) with `stop` as the signal flag: every
/// file is staged in full before any is renamed, the vectors first, so a failure or a
/// signal in any write leaves all of them as they were.
fn write_outputs(
    g: &Graph,
    format: GraphFormat,
    out: &Path,
    npy: Option<(&Path, &Embeddings)>,
    stop: &AtomicBool,
) -> Result<WriteTimes> {
    let start = Instant::now();
    let staged_npy = npy
        .map(|(p, e)| npy::stage_npy(p, e, Some(stop)).map(|s| (p, s)))
        .transpose()?;
    let npy_time = start.elapsed();
    let start = Instant::now();
    match format {
        GraphFormat::Sbg => {
            let staged = sbg::stage_file(g, out, Some(stop))?;
            staged
                .commit()
                .with_context(|| format!("cannot write graph file {}", out.display()))?;
        }
        // Stages both CSV files and renames them; the vectors' rename follows at once.
        GraphFormat::Csv => csv_io::write_edge_list_until(g, out, stop)?,
    }
    let graph_time = start.elapsed();
    if let Some((p, staged)) = staged_npy {
        staged
            .commit()
            .with_context(|| format!("cannot write embeddings file {}", p.display()))?;
    }
    Ok(WriteTimes {
        graph: graph_time,
        npy: npy.map(|_| npy_time),
    })
}

fn check_output(path: &Path, what: &str) -> Result<Target> {
    atomic_file::target(path).with_context(|| format!("cannot write {what} {}", path.display()))
}

/// Whether `path` is the file this process's stdout is open on (`/dev/stdout`, or the file
/// stdout was redirected to).
fn is_stdout(path: &Path) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return false;
    };
    match (std::fs::File::from(fd).metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
