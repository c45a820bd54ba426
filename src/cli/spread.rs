//! `spreadbench spread`: one spread, printed as a ranked table or as JSON.

use super::common::load;
use super::exit::Outcome;
use super::options::parse_seeds;
use super::SpreadArgs;
use crate::engine::{HopExecutor, SpreadResult, SpreadScratch, Spreader};
use crate::InputError;
use anyhow::Result;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;

pub fn execute(args: &SpreadArgs) -> Result<Outcome> {
    let loaded = load(&args.workload)?;
    let mut config = loaded.workload.spread.clone();
    if let Some(h) = args.depth {
        config.max_depth = h;
    }
    if let Some(k) = args.top {
        config.top_k = Some(k as usize);
    }
    let seeds = parse_seeds(
        &args.seeds,
        loaded.workload.requests.seed_activation,
        loaded.graph.node_count(),
    )?;
    let spreader = Spreader::new(config)
        .map_err(|e| InputError::new(e.to_string()))?
        .with_executor(Some(Arc::new(HopExecutor::new(args.threads as usize))))
        .with_batch_size(args.batch_size as usize)
        .with_parallel_min_edges(args.parallel_min_edges);
    let mut scratch = SpreadScratch::new(loaded.graph.node_count());
    let result = spreader
        .spread(&loaded.graph, &seeds, &mut scratch)
        .map_err(|e| InputError::new(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = json!({
            "config": spreader.config(),
            "seeds": seeds.iter().map(|s| json!({"node": s.node, "activation": s.activation})).collect::<Vec<_>>(),
            "nodes": result.nodes.iter().map(|n| json!({
                "id": n.id,
                "activation": n.activation_f64(),
                "confidence": n.confidence,
                "hop": n.first_hop,
                "tier": n.tier.name(),
            })).collect::<Vec<_>>(),
            "work": result.work,
        });
        // Serialised first, then written: an I/O error (a closed pipe) then surfaces as an
        // io::Error that `main` recognises, not hidden inside serde_json's error.
        let text = serde_json::to_vec_pretty(&doc)?;
        out.write_all(&text)?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &result, loaded.graph.labels())?;
    }
    Ok(Outcome::success())
}

fn print_table(out: &mut impl Write, r: &SpreadResult, labels: Option<&[String]>) -> Result<()> {
    write!(
        out,
        "{:>5}  {:>8}  {:>10}  {:>10}  {:>3}  {:<4}",
        "rank", "id", "activation", "confidence", "hop", "tier"
    )?;
    if labels.is_some() {
        write!(out, "  label")?;
    }
    writeln!(out)?;
    for (i, n) in r.nodes.iter().enumerate() {
        write!(
            out,
            "{:>5}  {:>8}  {:>10.6}  {:>10.6}  {:>3}  {:<4}",
            i + 1,
            n.id,
            n.activation_f64(),
            n.confidence,
            n.first_hop,
            n.tier.name()
        )?;
        if let Some(l) = labels {
            write!(out, "  {}", l[n.id as usize])?;
        }
        writeln!(out)?;
    }
    let w = &r.work;
    writeln!(out)?;
    writeln!(
        out,
        "work: {} hops, frontier sizes {:?}, {} edges relaxed, {} nodes activated, {} rejected, {} cycle penalties",
        w.hops, w.frontier_sizes, w.edges_relaxed, w.nodes_activated, w.rejected, w.cycle_penalties
    )?;
    Ok(())
}
