//! `spreadbench recall`: one recall — a cue (a node's own vector, or a `.npy` file) through
//! seed → spread → rank — printed as a ranked table or as JSON; optionally under a latency
//! budget, with the predictor trained first on the workload's own cue stream.

use super::common::load;
use super::exit::Outcome;
use super::recall_setup::{load_embeddings, recall_config};
use super::RecallArgs;
use crate::bad_input;
use crate::engine::budget::{HopTimer, NoGate};
use crate::engine::{
    CostProfile, HopExecutor, LatencyPredictor, SpreadResult, SpreadScratch, Spreader,
};
use crate::graph::Graph;
use crate::recall::budget::{PhaseModels, RecallBudgetManager, RecallPredictor};
use crate::recall::{
    npy, CueStream, EmbeddingSpec, PhaseTimes, RecallOutcome, RecallScratch, Recaller, SeedIndex,
    SimilarityMode,
};
use crate::InputError;
use anyhow::Result;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

/// What the budget did to the recall: the JSON's `budget{…}`.
#[derive(serde::Serialize)]
struct BudgetOutcome {
    budget_ns: u64,
    predicted_before_ns: f64,
    /// `None` when no spread was considered (similarity mode, no seeds).
    predicted_after_seed_ns: Option<f64>,
    trained_on: u64,
}

pub fn execute(args: &RecallArgs) -> Result<Outcome> {
    // A bad --budget is refused before anything is loaded.
    let budget = super::options::budget_ns(args.budget.as_deref(), None)?;
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
    let (outcome, budgeted) = match budget {
        None => {
            let o = recaller
                .recall_gated_into(
                    &loaded.graph,
                    index,
                    &cue,
                    &mut s,
                    &mut scratch,
                    &mut spread,
                    &mut NoGate,
                )
                .map_err(|e| InputError::new(e.to_string()))?;
            (o, None)
        }
        Some(b) => {
            let w = &loaded.workload;
            let cue_noise = w
                .embeddings
                .map_or(EmbeddingSpec::for_nodes(1, 0).cue_noise, |e| e.cue_noise);
            let trainer = Trainer {
                recaller: &recaller,
                graph: &loaded.graph,
                index,
                cues: CueStream::new(w.seed, cue_noise),
                train: args.train,
            };
            let mut bufs = Bufs {
                s: &mut s,
                scratch: &mut scratch,
                spread: &mut spread,
            };
            let (o, b) = trainer.recall_under_budget(&cue, b, &mut bufs)?;
            (o, Some(b))
        }
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut doc = to_json(&recaller, &s, &spread, outcome.times);
        if let (Some(b), Some(obj)) = (&budgeted, doc.as_object_mut()) {
            obj.insert("partial".into(), json!(outcome.truncated));
            if outcome.truncated {
                obj.insert("partial_reason".into(), json!("budget"));
            }
            obj.insert("fallback".into(), json!(outcome.fallback));
            obj.insert("budget".into(), json!(b));
        }
        // Serialised first, then written: an I/O error (a closed pipe) then surfaces as an
        // io::Error that `main` recognises.
        let text = serde_json::to_vec_pretty(&doc)?;
        out.write_all(&text)?;
        writeln!(out)?;
    } else {
        print_table(
            &mut out,
            &recaller,
            &s,
            &spread,
            outcome.times,
            loaded.graph.labels(),
        )?;
        if let Some(b) = &budgeted {
            let after = b
                .predicted_after_seed_ns
                .map_or("no spread to predict".to_string(), |p| {
                    format!("{p:.0} ns after seeding")
                });
            writeln!(
                out,
                "budget: {} ns, predicted {:.0} ns before the start, {after} (trained on {} cues){}",
                b.budget_ns,
                b.predicted_before_ns,
                b.trained_on,
                if outcome.fallback {
                    ": FALLBACK, similarity only"
                } else if outcome.truncated {
                    ": PARTIAL, the spread stopped before a hop"
                } else {
                    ""
                }
            )?;
        }
    }
    Ok(Outcome::success())
}

/// The buffers of the recall that is printed.
struct Bufs<'a> {
    s: &'a mut RecallScratch,
    scratch: &'a mut SpreadScratch,
    spread: &'a mut SpreadResult,
}

/// Trains a recall predictor on the workload's cue stream.
struct Trainer<'a> {
    recaller: &'a Recaller,
    graph: &'a Graph,
    index: &'a SeedIndex,
    cues: CueStream,
    train: u64,
}

impl Trainer<'_> {
    /// Trains on `train` cues (hops timed, then every phase), then recalls `cue` under
    /// `budget_ns`. Untrained (`train` 0), the predictor has no opinion and the budget never
    /// acts. The cost profile is that of the recall's own spread config.
    fn recall_under_budget(
        mut self,
        cue: &[f32],
        budget_ns: u64,
        b: &mut Bufs<'_>,
    ) -> Result<(RecallOutcome, BudgetOutcome)> {
        let (graph, index, r) = (self.graph, self.index, self.recaller);
        let spreader = r.spreader();
        // Untrained, the predictor needs no profile: it predicts nothing.
        let profile = (self.train > 0).then(|| Arc::new(CostProfile::compute(graph, spreader)));
        let e = index.embeddings();
        let mut p = RecallPredictor::new(
            profile,
            spreader.config().max_depth,
            index.scan_values(),
            LatencyPredictor::new(),
            PhaseModels::default(),
        );
        let mut c = Vec::new();
        for _ in 0..self.train {
            self.cues.next_cue(e, &mut c);
            let t = Instant::now();
            let o = r.recall_gated_into(
                graph,
                index,
                &c,
                b.s,
                b.scratch,
                b.spread,
                &mut HopTimer::new(&mut p.spread),
            )?;
            let observed = t.elapsed().as_nanos() as f64;
            p.observe(graph, b.s.engine_seeds(), o.times, observed);
        }
        p.fit();
        let predicted_before_ns = p.predict_before();
        let mut mgr = RecallBudgetManager::new(budget_ns, p);
        mgr.start();
        let o = r
            .recall_gated_into(graph, index, cue, b.s, b.scratch, b.spread, &mut mgr)
            .map_err(|e| InputError::new(e.to_string()))?;
        Ok((
            o,
            BudgetOutcome {
                budget_ns,
                predicted_before_ns,
                predicted_after_seed_ns: mgr.after_seed_prediction(),
                trained_on: self.train,
            },
        ))
    }
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
