//! `spreadbench recall`: one recall — a cue (a node's own vector, or a `.npy` file) through
//! seed → spread → rank — printed as a ranked table or as JSON.

use super::common::load;
use super::exit::Outcome;
use super::recall_setup::{load_embeddings, recall_config};
use super::RecallArgs;
use crate::bad_input;
use crate::engine::{HopExecutor, SpreadResult, SpreadScratch, Spreader};
use crate::recall::{npy, PhaseTimes, RecallScratch, Recaller, SimilarityMode};
use crate::InputError;
use anyhow::Result;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;

pub fn execute(args: &RecallArgs) -> Result<Outcome> {
    let budget = super::options::budget_ns(args.budget.as_deref(), None)?;
    super::options::check_budget(budget, false, true)?;
    let loaded = load(&args.workload)?;
    let config = recall_config(
        loaded.workload.recall,
        args.mode,
        args.similarity,
        args.top,
        &args.recall,
    )?;
    let n = loaded.graph.node_count();
    // The cue node is checked before the vectors are made: a typo should not cost a scan.
    if let Some(node) = args.cue_node {
        if node >= n as u64 {
            return Err(bad_input!(
                "--cue-node: {node} is outside the graph (nodes 0..{n})"
            ));
        }
    }
    let inputs = load_embeddings(
        &loaded,
        &args.workload,
        config.similarity == SimilarityMode::Quantized,
    )?;
    let index = &inputs.index;
    let cue: Vec<f32> = match (&args.cue_node, &args.cue_file) {
        (Some(node), _) => index.embeddings().row(*node as usize).to_vec(),
        (None, Some(path)) => npy::read_cue(path, index.embeddings().dim())?,
        (None, None) => unreachable!("clap requires --cue-node or --cue-file"),
    };
    let spreader = Spreader::new(config.spread_config(&loaded.workload.spread))
        .map_err(|e| InputError::new(e.to_string()))?
        .with_executor(Some(Arc::new(HopExecutor::new(args.threads as usize))))
        .with_parallel_min_edges(args.parallel_min_edges);
    let recaller = Recaller::new(config, spreader).map_err(|e| bad_input!("recall: {e}"))?;
    let mut s = RecallScratch::for_config(&config);
    let mut scratch = SpreadScratch::new(n);
    let mut spread = SpreadResult::default();
    let times = recaller
        .recall_into(
            &loaded.graph,
            index,
            &cue,
            &mut s,
            &mut scratch,
            &mut spread,
        )
        .map_err(|e| InputError::new(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let text = serde_json::to_vec_pretty(&to_json(&recaller, &s, &spread, times))?;
        out.write_all(&text)?;
        writeln!(out)?;
    } else {
        print_table(
            &mut out,
            &recaller,
            &s,
            &spread,
            times,
            loaded.graph.labels(),
        )?;
    }
    Ok(Outcome::success())
}

fn to_json(
    r: &Recaller,
    s: &RecallScratch,
    spread: &SpreadResult,
    t: PhaseTimes,
) -> serde_json::Value {
    json!({
        "config": {"spread": r.spreader().config(), "recall": r.config()},
        "mode": r.config().mode.name(),
        "seeds": s.seeds.iter().map(|h| json!({
            "id": h.node,
            "similarity": h.similarity,
            "activation": h.activation,
        })).collect::<Vec<_>>(),
        "results": s.results.iter().map(|m| json!({
            "id": m.id,
            "score": m.score,
            "activation": m.activation,
            "confidence": m.confidence,
            "similarity": m.similarity,
            "hop": m.hop,
            "tier": m.tier.name(),
        })).collect::<Vec<_>>(),
        "phases_ns": {"seed": t.seed, "spread": t.spread, "rank": t.rank},
        "work": spread.work,
    })
}

fn print_table(
    out: &mut impl Write,
    r: &Recaller,
    s: &RecallScratch,
    spread: &SpreadResult,
    t: PhaseTimes,
    labels: Option<&[String]>,
) -> Result<()> {
    let c = r.config();
    writeln!(
        out,
        "{} recall, {} seeding: {} seeds at or above θ_sim {} (of the {} best hits), {} results",
        c.mode.name(),
        c.similarity.name(),
        s.seeds.len(),
        c.similarity_threshold,
        s.hits.len(),
        s.results.len()
    )?;
    write!(
        out,
        "{:>5}  {:>8}  {:>8}  {:>10}  {:>10}  {:>10}  {:>3}  {:<4}",
        "rank", "id", "score", "activation", "confidence", "similarity", "hop", "tier"
    )?;
    if labels.is_some() {
        write!(out, "  label")?;
    }
    writeln!(out)?;
    for (i, m) in s.results.iter().enumerate() {
        let sim = m.similarity.map_or("-".to_string(), |v| format!("{v:.6}"));
        write!(
            out,
            "{:>5}  {:>8}  {:>8.6}  {:>10.6}  {:>10.6}  {:>10}  {:>3}  {:<4}",
            i + 1,
            m.id,
            m.score,
            m.activation,
            m.confidence,
            sim,
            m.hop,
            m.tier.name()
        )?;
        if let Some(l) = labels {
            write!(out, "  {}", l[m.id as usize])?;
        }
        writeln!(out)?;
    }
    let w = &spread.work;
    writeln!(out)?;
    let us = |ns: u64| ns as f64 / 1000.0;
    writeln!(
        out,
        "phases: seed {:.1} µs, spread {}, rank {:.1} µs",
        us(t.seed),
        t.spread
            .map_or("(none)".to_string(), |ns| format!("{:.1} µs", us(ns))),
        us(t.rank)
    )?;
    writeln!(
        out,
        "work: {} hops, frontier sizes {:?}, {} edges relaxed, {} nodes activated, {} rejected, {} cycle penalties",
        w.hops, w.frontier_sizes, w.edges_relaxed, w.nodes_activated, w.rejected, w.cycle_penalties
    )?;
    Ok(())
}
