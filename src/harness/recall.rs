//! What a recall request records besides its total latency: one histogram per phase (seed,
//! spread, rank, timed inside the request) and the quality tallies (seeds and results per
//! request, how many of the top 10 lie in the cue's own cell, how many results similarity alone
//! would not have returned). Tallies are taken after the request's time is, outside it.
//!
//! With the latency predictor, a [`RecallClient`] predicts each recall (before it starts and
//! after seeding, see [`crate::recall::budget`]), runs it under the budget when there is one,
//! and trains the models — the recall branch of the benchmark's client loop.

use super::bench::{PredictionTally, RequestModel, SettingOutcome};
use crate::engine::budget::{HopTimer, NoGate};
use crate::engine::{ErrorTally, SpreadError, SpreadResult, SpreadScratch};
use crate::graph::Graph;
use crate::measure::LatencyHistogram;
use crate::recall::budget::{PhaseModels, RecallBudgetManager, RecallPredictor};
use crate::recall::{PhaseTimes, RecallOutcome, RecallScratch, Recaller, SeedIndex};
use std::sync::{Arc, Mutex, MutexGuard};

/// Results whose cell is checked against the cue's (DESIGN §7's cluster precision).
pub const PRECISION_AT: usize = 10;

/// How a setting recalls: the recaller (which holds its spreader), the index it seeds from, and
/// the generated cells when the embeddings were generated (imported ones have none).
pub struct RecallSetting {
    pub recaller: Recaller,
    pub index: Arc<SeedIndex>,
    pub cells: Option<Arc<Vec<u32>>>,
    /// The recall's models besides its spread's (which are the setting's `RequestModel`'s),
    /// as the calling client left them at the end of its last block.
    pub phases: Mutex<PhaseModels>,
}

impl RecallSetting {
    pub fn new(recaller: Recaller, index: Arc<SeedIndex>, cells: Option<Arc<Vec<u32>>>) -> Self {
        RecallSetting {
            recaller,
            index,
            cells,
            phases: Mutex::new(PhaseModels::default()),
        }
    }

    /// The phase models as they stand.
    pub fn phases(&self) -> PhaseModels {
        lock(&self.phases).clone()
    }
}

/// A poisoned lock (a panicked client, which fails the block anyway) still holds usable models.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One histogram per phase. `spread` stays empty when no spread ran.
#[derive(Debug, Clone, Default)]
pub struct PhaseHistograms {
    pub seed: LatencyHistogram,
    pub spread: LatencyHistogram,
    pub rank: LatencyHistogram,
}

/// Sums over the recalls of a setting.
#[derive(Debug, Clone, Default)]
pub struct RecallTally {
    pub phases: PhaseHistograms,
    pub requests: u64,
    pub seeds: u64,
    pub results: u64,
    /// Results among the top [`PRECISION_AT`] of each request, and those in the cue's cell.
    pub top_results: u64,
    pub top_in_cell: u64,
    /// Results that were not seeds: what the spread added to similarity alone.
    pub spread_added: u64,
    /// With the predictor: the error of the prediction made after seeding, over the recalls
    /// that ran whole (the before-start one is the setting's `prediction.errors`).
    pub after_seed: ErrorTally,
}

impl RecallTally {
    /// Records one recall: its phases and what `out` holds.
    pub fn record(
        &mut self,
        times: PhaseTimes,
        out: &RecallScratch,
        cue_node: u32,
        cells: Option<&[u32]>,
    ) {
        self.phases.seed.record(times.seed);
        if let Some(ns) = times.spread {
            self.phases.spread.record(ns);
        }
        self.phases.rank.record(times.rank);
        self.requests += 1;
        self.seeds += out.seeds.len() as u64;
        self.results += out.results.len() as u64;
        self.spread_added += out
            .results
            .iter()
            .filter(|r| r.similarity.is_none())
            .count() as u64;
        if let Some(cells) = cells {
            let own = cells[cue_node as usize];
            let top = &out.results[..out.results.len().min(PRECISION_AT)];
            self.top_results += top.len() as u64;
            self.top_in_cell += top.iter().filter(|r| cells[r.id as usize] == own).count() as u64;
        }
    }

    pub fn merge(&mut self, o: &RecallTally) {
        self.phases.seed.add(&o.phases.seed);
        self.phases.spread.add(&o.phases.spread);
        self.phases.rank.add(&o.phases.rank);
        self.requests += o.requests;
        self.seeds += o.seeds;
        self.results += o.results;
        self.top_results += o.top_results;
        self.top_in_cell += o.top_in_cell;
        self.spread_added += o.spread_added;
        self.after_seed.add(&o.after_seed);
    }

    fn per_request(&self, v: u64) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            v as f64 / self.requests as f64
        }
    }

    pub fn seeds_mean(&self) -> f64 {
        self.per_request(self.seeds)
    }

    pub fn results_mean(&self) -> f64 {
        self.per_request(self.results)
    }

    pub fn spread_added_mean(&self) -> f64 {
        self.per_request(self.spread_added)
    }

    /// Share of top results in the cue's own cell; `None` without cells or results.
    pub fn cluster_precision(&self) -> Option<f64> {
        (self.top_results > 0).then(|| self.top_in_cell as f64 / self.top_results as f64)
    }
}

/// One client's working copy of a recall setting's predictor for a block, with the budget its
/// requests run under. Without a budget the manager only holds the predictor.
pub struct RecallClient<'m> {
    model: &'m RequestModel,
    setting: &'m RecallSetting,
    mgr: RecallBudgetManager<RecallPredictor>,
    before: ErrorTally,
    after_seed: ErrorTally,
}

impl<'m> RecallClient<'m> {
    /// The models as the block starts. `model`'s cost profile must be that of the recall's
    /// spread config (a recall setting's spreader has it).
    pub fn new(setting: &'m RecallSetting, model: &'m RequestModel) -> Self {
        let predictor = RecallPredictor::new(
            Some(Arc::clone(&model.profile)),
            model.depth,
            setting.index.scan_values(),
            model.predictor(),
            setting.phases(),
        );
        RecallClient {
            model,
            setting,
            mgr: RecallBudgetManager::new(model.budget_ns.unwrap_or(u64::MAX), predictor),
            before: ErrorTally::new(),
            after_seed: ErrorTally::new(),
        }
    }

    /// The prediction made before the request starts (ns): called before its clock.
    pub fn predict_before(&self) -> f64 {
        self.mgr.model().predict_before()
    }

    /// Runs one recall: a warm-up one with its hops timed into the hop model, a measured one
    /// under the budget when `budgeted`, else as plain `recall_into`.
    #[allow(clippy::too_many_arguments)]
    pub fn recall(
        &mut self,
        graph: &Graph,
        cue: &[f32],
        bufs: &mut RecallScratch,
        scratch: &mut SpreadScratch,
        result: &mut SpreadResult,
        warmup: bool,
        budgeted: bool,
    ) -> Result<RecallOutcome, SpreadError> {
        let r = self.setting;
        if warmup {
            let mut timer = HopTimer::new(&mut self.mgr.model_mut().spread);
            return r
                .recaller
                .recall_gated_into(graph, &r.index, cue, bufs, scratch, result, &mut timer);
        }
        if budgeted {
            self.mgr.start();
            return r.recaller.recall_gated_into(
                graph,
                &r.index,
                cue,
                bufs,
                scratch,
                result,
                &mut self.mgr,
            );
        }
        r.recaller
            .recall_gated_into(graph, &r.index, cue, bufs, scratch, result, &mut NoGate)
    }

    /// After the request's clock: counts it under the budget, and — when it ran whole —
    /// records both predictions' errors against `observed_ns` (the recall's own time) and
    /// trains the models. `latency_ns` is the recorded latency (from the open-loop due time).
    /// Warm-up recalls only train.
    #[allow(clippy::too_many_arguments)]
    pub fn after(
        &mut self,
        graph: &Graph,
        bufs: &RecallScratch,
        outcome: &RecallOutcome,
        before_ns: f64,
        observed_ns: f64,
        latency_ns: u64,
        warmup: bool,
        budgeted: bool,
    ) {
        let seeds = bufs.engine_seeds();
        if warmup {
            self.mgr
                .model_mut()
                .observe(graph, seeds, outcome.times, observed_ns);
            return;
        }
        let mut after_seed = None;
        if budgeted {
            after_seed = self.mgr.after_seed_prediction();
            let o = self.mgr.finish(latency_ns);
            if o.truncated || o.fallback {
                return;
            }
        }
        let p = self.mgr.model();
        // Without a budget (or with no spread to gate) the after-seed prediction is made now,
        // outside the clock, from what was known after seeding: the same figure.
        let after_seed = after_seed.unwrap_or_else(|| {
            p.predict_after_seed(
                outcome.times.seed as f64,
                graph,
                seeds,
                outcome.times.spread.is_some(),
            )
        });
        self.before.record(before_ns, observed_ns);
        self.after_seed.record(after_seed, observed_ns);
        self.mgr
            .model_mut()
            .observe(graph, seeds, outcome.times, observed_ns);
    }

    /// Ends the client's block: its tallies into `out` (measured blocks); the calling client's
    /// models back into the setting.
    pub fn end(self, primary: bool, warmup: bool, out: &mut SettingOutcome) {
        if !warmup {
            let mut tally = PredictionTally {
                errors: self.before,
                budget: None,
            };
            if self.model.budget_ns.is_some() && self.mgr.stats().requests > 0 {
                tally.budget = Some(self.mgr.stats());
            }
            out.prediction
                .get_or_insert_with(PredictionTally::default)
                .merge(&tally);
            out.recall
                .get_or_insert_with(RecallTally::default)
                .after_seed
                .add(&self.after_seed);
        }
        if primary {
            let mut p = self.mgr.model().clone();
            p.phases.fit();
            *lock(&self.model.predictor) = p.spread;
            *lock(&self.setting.phases) = p.phases;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Tier;
    use crate::recall::{Recalled, SeedHit};

    fn result(id: u32, seed: bool) -> Recalled {
        Recalled {
            id,
            score: 1.0,
            activation: 1.0,
            confidence: 1.0,
            similarity: seed.then_some(0.5),
            hop: 0,
            tier: Tier::Warm,
        }
    }

    /// Twelve results, the first ten checked: seven of them share the cue's cell (cell 1).
    #[test]
    fn precision_counts_the_top_ten_and_spread_added_the_non_seeds() {
        let mut out = RecallScratch::default();
        out.seeds.push(SeedHit {
            node: 0,
            similarity: 0.5,
            activation: 0.6,
        });
        out.results = (0..12).map(|id| result(id, id < 4)).collect();
        let cells: Vec<u32> = (0..12).map(|id| u32::from(!(3..6).contains(&id))).collect();
        let mut t = RecallTally::default();
        let times = PhaseTimes {
            seed: 10,
            spread: Some(20),
            rank: 5,
        };
        t.record(times, &out, 0, Some(&cells));
        assert_eq!((t.top_results, t.top_in_cell), (10, 7));
        assert_eq!(t.cluster_precision(), Some(0.7));
        assert_eq!(t.spread_added_mean(), 8.0);
        assert_eq!((t.seeds_mean(), t.results_mean()), (1.0, 12.0));
        t.record(
            PhaseTimes {
                spread: None,
                ..times
            },
            &out,
            0,
            None,
        );
        assert_eq!(
            t.phases.spread.len(),
            1,
            "no spread, no spread phase sample"
        );
        assert_eq!(t.cluster_precision(), Some(0.7), "no cells: not counted");
    }
}
