//! Recall requests as a [`PredictSubject`]: cues through the recall pipeline (seed, spread,
//! rank), with the spread's state from the pool, as `run --mode recall` serves them.
//!
//! A recall is predicted twice (see [`crate::recall::budget`]): before it starts — the
//! figure judged as the request's prediction, as `run` judges it — and after seeding, once
//! its seeds are known (the subject's later prediction, also judged). The hops judged are
//! those of its spread phase. Under a budget it is served by recall's own manager, which
//! decides its fallback after seeding (the similarity-only ranking) and truncates before a hop
//! that would end, with ranking, past the budget.

use super::{top_ids, PredictSubject, RunInfo};
use crate::engine::budget::{HopGate, Outcome};
use crate::engine::{
    ActivationRecord, ActivationRecordPool, BudgetStats, CostProfile, LatencyPredictor, PoolHandle,
    RequestFeatures,
};
use crate::graph::Graph;
use crate::recall::budget::{PhaseModels, RecallGate};
use crate::recall::{
    CueList, RecallBudgetManager, RecallOutcome, RecallPredictor, RecallScratch, Recaller,
    SeedIndex,
};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Instant;

pub struct RecallSubject<'a> {
    graph: &'a Graph,
    recaller: &'a Recaller,
    index: &'a SeedIndex,
    /// The cost profile of the recall's spread config.
    profile: Arc<CostProfile>,
    cues: CueList,
    bufs: RecallScratch,
    handle: PoolHandle<'a>,
    /// The request run last and how it went: what [`PredictSubject::observe`] and the later
    /// prediction read (its seeds are still in `bufs`).
    last: Option<(usize, RecallOutcome)>,
}

impl<'a> RecallSubject<'a> {
    /// `profile` must be computed for `recaller`'s spreader (the recall's spread config).
    pub fn new(
        graph: &'a Graph,
        recaller: &'a Recaller,
        index: &'a SeedIndex,
        pool: &'a ActivationRecordPool,
        profile: Arc<CostProfile>,
        cues: CueList,
    ) -> Self {
        RecallSubject {
            graph,
            recaller,
            index,
            profile,
            cues,
            bufs: RecallScratch::for_config(recaller.config()),
            handle: pool.handle(),
            last: None,
        }
    }

    /// The outcome of request `i` if it was the one run last.
    fn last_of(&self, i: usize) -> Option<RecallOutcome> {
        self.last.filter(|&(j, _)| j == i).map(|(_, o)| o)
    }

    fn run_with<G: RecallGate + ?Sized>(
        &mut self,
        i: usize,
        gate: &mut G,
        top: Option<&mut Vec<u32>>,
    ) -> Result<RunInfo> {
        self.last = None;
        let mut rec = self.handle.acquire();
        let ActivationRecord { scratch, result } = &mut *rec;
        let (cue, _) = self.cues.get(i);
        let r = self.recaller.recall_gated_into(
            self.graph,
            self.index,
            cue,
            &mut self.bufs,
            scratch,
            result,
            gate,
        );
        let w = &result.work;
        let info = RunInfo {
            truncated: false,
            nodes_activated: w.nodes_activated,
            edges_relaxed: w.edges_relaxed,
            hops: w.hops,
            rejected: w.rejected,
            cycle_penalties: w.cycle_penalties,
        };
        self.handle.release(rec);
        let o = r.with_context(|| format!("recall request {i}"))?;
        if let Some(top) = top {
            top_ids(self.bufs.results.iter().map(|m| m.id), top);
        }
        self.last = Some((i, o));
        Ok(RunInfo {
            truncated: o.truncated,
            ..info
        })
    }

    /// The spread's features for the seeds of request `i`, just run.
    fn spread_features(&self, model: &RecallPredictor) -> RequestFeatures {
        model.features(self.graph, self.bufs.engine_seeds())
    }
}

impl PredictSubject for RecallSubject<'_> {
    type Model = RecallPredictor;
    type Manager = RecallBudgetManager<RecallPredictor>;

    fn mode(&self) -> &'static str {
        "recall"
    }

    fn len(&self) -> usize {
        self.cues.len()
    }

    fn new_model(&self) -> RecallPredictor {
        RecallPredictor::new(
            Some(Arc::clone(&self.profile)),
            self.recaller.spreader().config().max_depth,
            self.index.scan_values(),
            LatencyPredictor::new(),
            PhaseModels::default(),
        )
    }

    fn spread_model(model: &mut RecallPredictor) -> &mut LatencyPredictor {
        &mut model.spread
    }

    /// Before the request starts nothing of the cue is known: the prediction is the same for
    /// every cue (the scan's cost and the usual spread and rank) apart from its drift factor,
    /// which follows the machine.
    fn predict(&self, model: &RecallPredictor, _i: usize) -> f64 {
        model.predict_before()
    }

    fn run(
        &mut self,
        i: usize,
        gate: &mut dyn HopGate,
        top: Option<&mut Vec<u32>>,
    ) -> Result<RunInfo> {
        self.run_with(i, gate, top)
    }

    fn observe(
        &mut self,
        model: &mut RecallPredictor,
        i: usize,
        observed_ns: f64,
    ) -> Option<(RequestFeatures, f64)> {
        let o = self.last_of(i)?;
        let seeds = self.bufs.engine_seeds();
        model.observe(self.graph, seeds, o.times, observed_ns);
        o.times
            .spread
            .map(|ns| (self.spread_features(model), ns as f64))
    }

    fn fit(model: &mut RecallPredictor) {
        model.fit();
    }

    fn track(&mut self, model: &mut RecallPredictor, i: usize, observed_ns: f64) {
        if let Some(o) = self.last_of(i) {
            model.track(self.graph, self.bufs.engine_seeds(), o.times, observed_ns);
        }
    }

    /// The prediction made after seeding: what seeding took, plus the spread and rank
    /// predicted from the seeds (made here, outside the clock, from the same figures).
    fn later_prediction(&self, model: &RecallPredictor, i: usize) -> Option<f64> {
        let o = self.last_of(i)?;
        Some(model.predict_after_seed(
            o.times.seed as f64,
            self.graph,
            self.bufs.engine_seeds(),
            o.times.spread.is_some(),
        ))
    }

    fn manager(&self, model: &RecallPredictor, budget_ns: u64) -> Self::Manager {
        RecallBudgetManager::new(budget_ns, model.clone())
    }

    fn run_managed(
        &mut self,
        mgr: &mut Self::Manager,
        i: usize,
        top: &mut Vec<u32>,
    ) -> Result<(u64, Outcome)> {
        let t0 = Instant::now();
        mgr.start();
        self.run_with(i, mgr, Some(top))?;
        let ns = t0.elapsed().as_nanos() as u64;
        let outcome = mgr.finish(ns);
        if !outcome.truncated && !outcome.fallback {
            self.track(mgr.model_mut(), i, ns as f64);
        }
        Ok((ns, outcome))
    }

    fn budget_stats(mgr: &Self::Manager) -> BudgetStats {
        mgr.stats()
    }
}
