//! `spreadbench gen`: generate a workload's graph and save it (.sbg or CSV).
//!
//! Large graphs take seconds to write, so a SIGINT or SIGTERM while writing stops the write,
//! removes the temporary file and exits 130, leaving `--out` as it was. Until the graph is
//! generated nothing is on disk, and a signal ends the process at once, as by default.

use super::common::{generate_graph, human_duration, load_workload};
use super::exit::{Exit, Outcome};
use super::interrupt::Interrupt;
use super::{GenArgs, GraphFormat};
use crate::atomic_file;
use crate::graph::{csv_io, sbg};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

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
    match format {
        GraphFormat::Sbg => check_output(&args.out, "graph file")?,
        GraphFormat::Csv => {
            check_output(&csv_io::nodes_path(&args.out), "nodes file")?;
            check_output(&args.out, "edge list")?;
        }
    }
    let start = Instant::now();
    let g = generate_graph(&w)?;
    let gen_time = start.elapsed();

    let interrupt = Interrupt::install()?;
    let start = Instant::now();
    let written = match format {
        GraphFormat::Sbg => sbg::write_file_until(&g, &args.out, interrupt.flag()),
        GraphFormat::Csv => csv_io::write_edge_list_until(&g, &args.out, interrupt.flag()),
    };
    if let (Err(_), Some(sig)) = (&written, interrupt.reason()) {
        return Ok(Outcome::with(
            Exit::Interrupted,
            format!("interrupted by {sig}; {} not written", args.out.display()),
        ));
    }
    written?;
    let write_time = start.elapsed();

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
        human_duration(write_time)
    )?;
    if format == GraphFormat::Csv {
        writeln!(out, "wrote {}", csv_io::nodes_path(&args.out).display())?;
    }
    Ok(Outcome::success())
}

fn check_output(path: &Path, what: &str) -> Result<()> {
    atomic_file::target(path)
        .map(|_| ())
        .with_context(|| format!("cannot write {what} {}", path.display()))
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
