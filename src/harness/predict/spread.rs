//! Spread requests as a [`PredictSubject`]: seed lists through one spreader, with per-spread
//! state from the pool, as `run` serves them (acquire, spread, release — all inside the timed
//! region), predicted by the engine's [`LatencyPredictor`] from the seeds' cost profiles and
//! served under a budget by the engine's [`LatencyBudgetManager`].

use super::{top_ids, PredictSubject, RunInfo};
use crate::engine::budget::{seeds_only_into, Admission, HopGate, Outcome};
use crate::engine::{
    ActivationRecord, ActivationRecordPool, BudgetStats, CostProfile, LatencyBudgetManager,
    LatencyPredictor, PoolHandle, RequestFeatures, Spreader,
};
use crate::graph::Graph;
use crate::workload::RequestList;
use anyhow::{Context, Result};
use std::time::Instant;

pub struct SpreadSubject<'a> {
    graph: &'a Graph,
    spreader: &'a Spreader,
    profile: &'a CostProfile,
    requests: RequestList,
    handle: PoolHandle<'a>,
}

impl<'a> SpreadSubject<'a> {
    pub fn new(
        graph: &'a Graph,
        spreader: &'a Spreader,
        pool: &'a ActivationRecordPool,
        profile: &'a CostProfile,
        requests: RequestList,
    ) -> Self {
        SpreadSubject {
            graph,
            spreader,
            profile,
            requests,
            handle: pool.handle(),
        }
    }

    /// Request `i`'s features, known before it starts.
    fn features(&self, i: usize) -> RequestFeatures {
        self.profile.request_features(
            self.graph,
            self.requests.get(i),
            self.spreader.config().max_depth,
        )
    }

    fn finish(
        &mut self,
        rec: Box<ActivationRecord>,
        truncated: bool,
        top: Option<&mut Vec<u32>>,
    ) -> RunInfo {
        let r = &rec.result;
        if let Some(top) = top {
            top_ids(r.nodes.iter().map(|n| n.id), top);
        }
        let w = &r.work;
        let info = RunInfo {
            truncated,
            nodes_activated: w.nodes_activated,
            edges_relaxed: w.edges_relaxed,
            hops: w.hops,
            rejected: w.rejected,
            cycle_penalties: w.cycle_penalties,
        };
        self.handle.release(rec);
        info
    }

    /// Answers request `i` with the budget's fallback: its seeds alone.
    fn fallback(&mut self, i: usize, top: Option<&mut Vec<u32>>) -> Result<RunInfo> {
        let mut rec = self.handle.acquire();
        let r = seeds_only_into(
            self.spreader,
            self.graph,
            self.requests.get(i),
            &mut rec.result,
        );
        match r {
            Ok(()) => Ok(self.finish(rec, false, top)),
            Err(e) => {
                self.handle.release(rec);
                Err(e).with_context(|| format!("request {i}"))
            }
        }
    }
}

impl PredictSubject for SpreadSubject<'_> {
    type Model = LatencyPredictor;
    type Manager = LatencyBudgetManager<LatencyPredictor>;

    fn mode(&self) -> &'static str {
        "spread"
    }

    fn len(&self) -> usize {
        self.requests.len()
    }

    fn new_model(&self) -> LatencyPredictor {
        LatencyPredictor::new()
    }

    fn spread_model(model: &mut LatencyPredictor) -> &mut LatencyPredictor {
        model
    }

    fn predict(&self, model: &LatencyPredictor, i: usize) -> f64 {
        model.predict_latency(&self.features(i))
    }

    fn run(
        &mut self,
        i: usize,
        gate: &mut dyn HopGate,
        top: Option<&mut Vec<u32>>,
    ) -> Result<RunInfo> {
        let mut rec = self.handle.acquire();
        let ActivationRecord { scratch, result } = &mut *rec;
        let r = self.spreader.spread_gated_into(
            self.graph,
            self.requests.get(i),
            scratch,
            result,
            gate,
        );
        match r {
            Ok(truncated) => Ok(self.finish(rec, truncated, top)),
            Err(e) => {
                self.handle.release(rec);
                Err(e).with_context(|| format!("request {i}"))
            }
        }
    }

    fn observe(
        &mut self,
        model: &mut LatencyPredictor,
        i: usize,
        observed_ns: f64,
    ) -> Option<(RequestFeatures, f64)> {
        let f = self.features(i);
        model.observe_request(&f, observed_ns);
        Some((f, observed_ns))
    }

    fn fit(model: &mut LatencyPredictor) {
        model.fit();
    }

    fn track(&mut self, model: &mut LatencyPredictor, i: usize, observed_ns: f64) {
        model.track_request(&self.features(i), observed_ns);
    }

    fn manager(&self, model: &LatencyPredictor, budget_ns: u64) -> Self::Manager {
        LatencyBudgetManager::new(budget_ns, model.clone())
    }

    /// The features are computed before the clock (as `run` does); admission is inside it.
    fn run_managed(
        &mut self,
        mgr: &mut Self::Manager,
        i: usize,
        top: &mut Vec<u32>,
    ) -> Result<(u64, Outcome)> {
        let f = self.features(i);
        let t0 = Instant::now();
        match mgr.admit(&f) {
            Admission::Fallback { .. } => self.fallback(i, Some(top))?,
            Admission::Run { .. } => self.run(i, mgr, Some(top))?,
        };
        let ns = t0.elapsed().as_nanos() as u64;
        let outcome = mgr.finish(ns);
        if !outcome.truncated && !outcome.fallback {
            mgr.model_mut().track_request(&f, ns as f64);
        }
        Ok((ns, outcome))
    }

    fn budget_stats(mgr: &Self::Manager) -> BudgetStats {
        mgr.stats()
    }
}
