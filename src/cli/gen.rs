//! `spreadbench gen`: generate a workload's graph and save it (.sbg or CSV).

use super::common::{human_duration, load_workload};
use super::{GenArgs, GraphFormat};
use crate::graph::{csv_io, generate, sbg};
use anyhow::Result;
use std::io::Write;
use std::time::Instant;

pub fn execute(args: &GenArgs) -> Result<()> {
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
    let start = Instant::now();
    let g = generate::generate(&w.graph)?;
    let gen_time = start.elapsed();
    let start = Instant::now();
    match format {
        GraphFormat::Sbg => sbg::write_file(&g, &args.out)?,
        GraphFormat::Csv => csv_io::write_edge_list(&g, &args.out)?,
    }
    let write_time = start.elapsed();
    let mut out = std::io::stdout().lock();
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
    Ok(())
}
