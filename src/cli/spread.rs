//! `spreadbench spread`: one spread, printed as a ranked table or as JSON — optionally under
//! a latency budget, with the predictor trained first on the workload's own request stream.

use super::common::load;
use super::exit::Outcome;
use super::options::{budget_ns, parse_seeds, resolve_batch_size, AUTO_BATCH_SIZE};
use super::SpreadArgs;
use crate::engine::budget::{seeds_only_into, Admission, HopTimer};
use crate::engine::spreader::DEFAULT_BATCH_SIZE;
use crate::engine::{BatchSetting, Fingerprint};
use crate::engine::{
    CostProfile, HopExecutor, LatencyBudgetManager, LatencyPredictor, Seed, SpreadResult,
    SpreadScratch, Spreader,
};
use crate::graph::Graph;
use crate::harness::batching::{SharedBatcher, Start};
use crate::InputError;
use anyhow::Result;
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// What the budget did to the spread.
struct BudgetOutcome {
    budget_ns: u64,
    predicted_ns: f64,
    trained_on: u64,
    partial: bool,
    fallback: bool,
}

pub fn execute(args: &SpreadArgs) -> Result<Outcome> {
    // A bad --budget is refused before anything is loaded.
    let budget = budget_ns(args.budget.as_deref(), None)?;
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
    let setting = batch_setting(args);
    let spreader = Spreader::new(config)
        .map_err(|e| InputError::new(e.to_string()))?
        .with_executor(Some(Arc::new(HopExecutor::new(args.threads as usize))))
        .with_batch_size(setting.batch_size)
        .with_parallel_min_edges(setting.parallel_min_edges);
    let mut scratch = SpreadScratch::new(loaded.graph.node_count());
    let mut result = SpreadResult::default();
    let budgeted = match budget {
        None => {
            spreader
                .spread_into(&loaded.graph, &seeds, &mut scratch, &mut result)
                .map_err(|e| InputError::new(e.to_string()))?;
            None
        }
        Some(b) => Some(spread_under_budget(
            &spreader,
            &loaded.graph,
            loaded.workload.requests(loaded.graph.node_count()),
            &seeds,
            b,
            args.train,
            &mut scratch,
            &mut result,
        )?),
    };
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
        let mut doc = doc;
        if let (Some(b), Some(obj)) = (&budgeted, doc.as_object_mut()) {
            obj.insert("partial".into(), json!(b.partial));
            if b.partial {
                obj.insert("partial_reason".into(), json!("budget"));
            }
            obj.insert("fallback".into(), json!(b.fallback));
            obj.insert(
                "budget".into(),
                json!({"budget_ns": b.budget_ns, "predicted_ns": b.predicted_ns, "trained_on": b.trained_on}),
            );
        }
        // Serialised first, then written: an I/O error (a closed pipe) then surfaces as an
        // io::Error that `main` recognises, not hidden inside serde_json's error.
        let text = serde_json::to_vec_pretty(&doc)?;
        out.write_all(&text)?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &result, loaded.graph.labels())?;
        if let Some(b) = &budgeted {
            writeln!(
                out,
                "budget: {} ns, predicted {:.0} ns (trained on {} requests){}",
                b.budget_ns,
                b.predicted_ns,
                b.trained_on,
                if b.fallback {
                    ": FALLBACK, the seeds alone"
                } else if b.partial {
                    ": PARTIAL, stopped before a hop"
                } else {
                    ""
                }
            )?;
        }
    }
    Ok(Outcome::success())
}

/// The batch setting of the spread: a fixed `--batch-size` with `--parallel-min-edges`; under
/// `auto` with more than one thread, what `run` or `soak` learned on this machine when the
/// default results root holds it (one spread cannot learn anything itself), else the defaults.
/// Which setting ran never changes the result.
fn batch_setting(args: &SpreadArgs) -> BatchSetting {
    let fixed = BatchSetting {
        batch_size: match args.batch_size {
            AUTO_BATCH_SIZE => DEFAULT_BATCH_SIZE,
            n => n as usize,
        },
        parallel_min_edges: args.parallel_min_edges,
    };
    let auto = resolve_batch_size(
        args.batch_size,
        args.threads,
        args.batcher == super::Switch::On,
        false,
    ) == AUTO_BATCH_SIZE;
    if !auto {
        return fixed;
    }
    let fp = Fingerprint::detect(args.threads as usize);
    let (b, how) = SharedBatcher::open(Path::new("results"), fp, fixed);
    let file = b.memory_file.display();
    match how {
        Start::Resumed => {
            let st = b.stats();
            crate::note!(
                "batcher: batch {}, parallel ≥ {} edges, as learned in {file}",
                st.batch_size,
                st.parallel_min_edges
            );
            BatchSetting {
                batch_size: st.batch_size,
                parallel_min_edges: st.parallel_min_edges,
            }
        }
        Start::ColdIgnoring(why) => {
            crate::note!("spreadbench: warning: batcher: ignoring {file}: {why}");
            fixed
        }
        Start::Cold => fixed,
    }
}

/// Trains a predictor on `train` requests of `stream` (hops timed, then the whole request),
/// then runs `seeds` under `budget_ns`. Untrained (`train` 0), the predictor predicts 0 and
/// the budget never acts.
#[allow(clippy::too_many_arguments)]
fn spread_under_budget(
    spreader: &Spreader,
    graph: &Graph,
    mut stream: crate::workload::RequestStream,
    seeds: &[Seed],
    budget_ns: u64,
    train: u64,
    scratch: &mut SpreadScratch,
    out: &mut SpreadResult,
) -> Result<BudgetOutcome> {
    let depth = spreader.config().max_depth;
    let mut predictor = LatencyPredictor::new();
    let profile = (train > 0).then(|| CostProfile::compute(graph, spreader));
    if let Some(profile) = &profile {
        let mut s = Vec::new();
        for _ in 0..train {
            stream.next_into(&mut s);
            let f = profile.request_features(graph, &s, depth);
            let t = std::time::Instant::now();
            spreader.spread_gated_into(
                graph,
                &s,
                scratch,
                out,
                &mut HopTimer::new(&mut predictor),
            )?;
            predictor.observe_request(&f, t.elapsed().as_nanos() as f64);
        }
        predictor.fit();
    }
    let features = profile
        .as_ref()
        .map(|p| p.request_features(graph, seeds, depth))
        .unwrap_or_default();
    let mut mgr = LatencyBudgetManager::new(budget_ns, predictor);
    let (predicted_ns, fallback, partial) = match mgr.admit(&features) {
        Admission::Fallback { predicted_ns } => {
            seeds_only_into(spreader, graph, seeds, out)
                .map_err(|e| InputError::new(e.to_string()))?;
            (predicted_ns, true, false)
        }
        Admission::Run { predicted_ns } => {
            let partial = spreader
                .spread_gated_into(graph, seeds, scratch, out, &mut mgr)
                .map_err(|e| InputError::new(e.to_string()))?;
            (predicted_ns, false, partial)
        }
    };
    Ok(BudgetOutcome {
        budget_ns,
        predicted_ns,
        trained_on: train,
        partial,
        fallback,
    })
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
