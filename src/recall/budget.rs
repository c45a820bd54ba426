//! Prediction and the latency budget for recall (DESIGN §3 and §7).
//!
//! A recall's seeds exist only once its similarity scan has run, so its latency is predicted
//! twice. *Before the request starts* only what is nearly constant per workload is known: the
//! scan's cost (rows × dim, the same for every cue) and the usual level of the spread and rank
//! phases. *After seeding* the seeds are known: the spread phase is predicted from their cost
//! profiles (as a spread request is, with the profile of the recall's own spread config), the
//! rank phase from their summed reach, and both are added to the time seeding actually took.
//!
//! The budget acts on the second prediction. The engine's `LatencyBudgetManager` decides its
//! fallback when the request starts — for recall, before there are seeds to predict from — so
//! [`RecallBudgetManager`] keeps its policy and moves the decision: the clock starts with the
//! request, and after seeding a request predicted past 1.5 × the budget answers with the
//! similarity-only ranking of the seeds it already has (`fallback`); otherwise the spread runs
//! with the hop gate, which stops before a hop that would end, with ranking, past the budget
//! (`partial`, reason `budget`).
//!
//! Every model is an [`OnlineRidge`] or the engine's [`LatencyPredictor`]; a model fitted on a
//! feature that never varies (the scan's size) is a running mean weighted by 1/observed², the
//! value with the least relative squared error.

use super::pipeline::PhaseTimes;
use crate::engine::budget::{Clock, HopMargin, HopTimer, MonotonicClock, FALLBACK_FACTOR};
use crate::engine::predictor::{
    Coefficient, DriftTracker, OnlineRidge, DEFAULT_REFIT_EVERY, DEFAULT_RIDGE,
};
use crate::engine::{
    BudgetStats, CostProfile, ErrorStats, HopFeatures, HopGate, LatencyPredictor, NoGate, Outcome,
    PredictorStats, RequestFeatures, Seed,
};
use crate::graph::Graph;
use std::sync::Arc;

/// Asked by [`Recaller::recall_gated_into`](super::Recaller::recall_gated_into) once seeding is
/// done, then (as a [`HopGate`]) before each hop of the spread.
pub trait RecallGate: HopGate {
    /// Whether the spread runs for these seeds; `false` answers with the similarity-only
    /// ranking of the seeds (the fallback). Always runs it by default.
    #[inline(always)]
    fn after_seeding(&mut self, _graph: &Graph, _seeds: &[Seed]) -> bool {
        true
    }
}

impl RecallGate for NoGate {}

/// Warm-up recalls time every hop into the spread predictor's hop model.
impl RecallGate for HopTimer<'_> {}

/// Any hop gate, seen through `dyn`, is a recall gate that never refuses the spread: how a
/// caller that only times or judges hops (`predict`'s gates) runs a recall.
impl RecallGate for dyn HopGate + '_ {}

/// What a recall is predicted to take after seeding, phase by phase (ns).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RestPrediction {
    pub spread_ns: f64,
    pub rank_ns: f64,
}

/// The predictions [`RecallBudgetManager`] needs; [`RecallPredictor`] is the real one, tests
/// script their own.
pub trait RecallModel {
    /// The spread and rank phases of a recall with these seeds.
    fn predict_rest(&self, graph: &Graph, seeds: &[Seed]) -> RestPrediction;
    /// One hop of its spread.
    fn predict_hop(&self, features: &HopFeatures) -> f64;
    /// Whether the after-seed models have been fitted: an untrained model has no opinion and
    /// must not make a request fall back (true by default, for scripted models).
    fn trained(&self) -> bool {
        true
    }
    /// Whether the hop model has been fitted (true by default).
    fn hop_trained(&self) -> bool {
        true
    }
    /// Told how long a hop the manager let run took: the real model's hop drift follows it
    /// (nothing by default).
    fn track_hop(&mut self, _features: &HopFeatures, _observed_ns: f64) {}
}

/// Names of the before-start models' one feature: the values a scan reads (rows × dim).
pub const SCAN_FEATURES: [&str; 1] = ["scan_values"];
/// Names of the rank model's features: the seeds' summed profile reach, and their count.
pub const RANK_FEATURES: [&str; 2] = ["profile_activated", "seeds"];

/// The models of a recall besides its spread's: the seed phase and the spread + rank phases as
/// known before the request starts, and the rank phase as known after seeding.
#[derive(Debug, Clone)]
pub struct PhaseModels {
    seed: OnlineRidge,
    rest: OnlineRidge,
    rank: OnlineRidge,
    /// The before-start prediction's drift factor (the spread's are in the spread
    /// predictor): that prediction is one figure per workload, so the machine's speed is most
    /// of its error. Kept with the models so that it carries over between `run`'s blocks.
    before_drift: DriftTracker,
}

impl Default for PhaseModels {
    fn default() -> Self {
        PhaseModels {
            seed: OnlineRidge::new(&SCAN_FEATURES, DEFAULT_RIDGE, true),
            rest: OnlineRidge::new(&SCAN_FEATURES, DEFAULT_RIDGE, true),
            rank: OnlineRidge::new(&RANK_FEATURES, DEFAULT_RIDGE, true),
            before_drift: DriftTracker::default(),
        }
    }
}

impl PhaseModels {
    /// The models by name: `seed` and `rest` (before the start), `rank` (after seeding).
    pub fn models(&self) -> [(&'static str, &OnlineRidge); 3] {
        [
            ("seed", &self.seed),
            ("rest", &self.rest),
            ("rank", &self.rank),
        ]
    }

    /// The before-start prediction's drift factor.
    pub fn before_drift(&self) -> DriftTracker {
        self.before_drift
    }

    /// Refits every model on everything observed.
    pub fn fit(&mut self) {
        self.seed.fit();
        self.rest.fit();
        self.rank.fit();
    }

    /// The snapshot's request figures for recall: the prediction made before the request
    /// starts (`seed.*` and `rest.*` coefficients) with its `errors`.
    pub fn before_stats(&self, errors: ErrorStats) -> PredictorStats {
        PredictorStats {
            model: "recall-before-start".into(),
            coefficients: prefixed("seed", &self.seed)
                .chain(prefixed("rest", &self.rest))
                .collect(),
            n_train: self.seed.n_fitted(),
            errors,
        }
    }

    /// The prediction made after seeding: `spread.*` (the spread phase's request model) and
    /// `rank.*` coefficients, with its `errors`.
    pub fn after_seed_stats(
        &self,
        spread: &LatencyPredictor,
        errors: ErrorStats,
    ) -> PredictorStats {
        let r = spread.request_model();
        PredictorStats {
            model: "recall-after-seed".into(),
            coefficients: prefixed("spread", r)
                .chain(prefixed("rank", &self.rank))
                .collect(),
            n_train: r.n_fitted(),
            errors,
        }
    }
}

/// Adds an observation, refitting every [`DEFAULT_REFIT_EVERY`] as the engine's predictor does.
fn observe(m: &mut OnlineRidge, x: &[f64], y: f64) {
    m.add(x, y);
    if m.n().is_multiple_of(DEFAULT_REFIT_EVERY) {
        m.fit();
    }
}

/// `prefix.feature` for each of a model's coefficients, so that several models share one list.
fn prefixed(prefix: &str, m: &OnlineRidge) -> impl Iterator<Item = Coefficient> {
    let prefix = prefix.to_string();
    m.coefficient_list().into_iter().map(move |c| Coefficient {
        feature: format!("{prefix}.{}", c.feature),
        value: c.value,
    })
}

/// A recall's latency predictor: the spread phase's [`LatencyPredictor`] (request and hop
/// models, over the cost profile of the recall's spread config) and the [`PhaseModels`].
#[derive(Debug, Clone)]
pub struct RecallPredictor {
    /// `None` only for a predictor that is never trained (it then predicts 0 from no features).
    profile: Option<Arc<CostProfile>>,
    depth: u32,
    scan: [f64; 1],
    pub spread: LatencyPredictor,
    pub phases: PhaseModels,
}

impl RecallPredictor {
    /// `profile` must be computed for the recall's spread config (`RecallConfig::spread_config`:
    /// another fan effect, no top-k), whose depth is `depth`; a scan reads `scan_values`.
    pub fn new(
        profile: Option<Arc<CostProfile>>,
        depth: u32,
        scan_values: u64,
        spread: LatencyPredictor,
        phases: PhaseModels,
    ) -> Self {
        RecallPredictor {
            profile,
            depth,
            scan: [scan_values as f64],
            spread,
            phases,
        }
    }

    /// The spread request's features: the seeds' summed cost profiles.
    #[inline]
    pub fn features(&self, graph: &Graph, seeds: &[Seed]) -> RequestFeatures {
        match &self.profile {
            Some(p) => p.request_features(graph, seeds, self.depth),
            None => RequestFeatures::default(),
        }
    }

    fn rank_x(f: &RequestFeatures) -> [f64; 2] {
        [f.activated, f.seeds as f64]
    }

    /// The prediction made before the request starts (ns): seeding plus the usual spread and
    /// rank, times its drift factor. 0 before anything was fitted.
    pub fn predict_before(&self) -> f64 {
        self.model_before() * self.phases.before_drift.factor()
    }

    /// [`predict_before`](Self::predict_before) without the drift factor.
    fn model_before(&self) -> f64 {
        self.phases.seed.predict_latency(&self.scan) + self.phases.rest.predict_latency(&self.scan)
    }

    /// Lets the drift factors follow one whole recall without training a model: the
    /// before-start one from `observed_ns`, the spread's from its phase time (with `seeds`).
    pub fn track(&mut self, graph: &Graph, seeds: &[Seed], times: PhaseTimes, observed_ns: f64) {
        let before = self.model_before();
        self.phases.before_drift.observe(before, observed_ns);
        if let Some(ns) = times.spread {
            let f = self.features(graph, seeds);
            self.spread.track_request(&f, ns as f64);
        }
    }

    /// The prediction made after seeding (ns): `seed_ns` (what seeding took) plus the
    /// predicted spread and rank. `spreads` is false when no spread runs (similarity mode,
    /// no seeds).
    pub fn predict_after_seed(
        &self,
        seed_ns: f64,
        graph: &Graph,
        seeds: &[Seed],
        spreads: bool,
    ) -> f64 {
        let rest = self.predict_rest(graph, seeds);
        let spread = if spreads { rest.spread_ns } else { 0.0 };
        seed_ns + spread + rest.rank_ns
    }

    /// Trains every model on one whole recall — its phases, and its observed latency (ns) —
    /// and lets the drift factors follow it.
    pub fn observe(&mut self, graph: &Graph, seeds: &[Seed], times: PhaseTimes, observed_ns: f64) {
        let before = self.model_before();
        self.phases.before_drift.observe(before, observed_ns);
        let seed = times.seed as f64;
        observe(&mut self.phases.seed, &self.scan, seed);
        observe(&mut self.phases.rest, &self.scan, observed_ns - seed);
        let f = self.features(graph, seeds);
        observe(&mut self.phases.rank, &Self::rank_x(&f), times.rank as f64);
        if let Some(ns) = times.spread {
            self.spread.observe_request(&f, ns as f64);
        }
    }

    /// Refits every model.
    pub fn fit(&mut self) {
        self.spread.fit();
        self.phases.fit();
    }
}

impl RecallModel for RecallPredictor {
    fn predict_rest(&self, graph: &Graph, seeds: &[Seed]) -> RestPrediction {
        let f = self.features(graph, seeds);
        RestPrediction {
            spread_ns: self.spread.predict_latency(&f),
            rank_ns: self.phases.rank.predict_latency(&Self::rank_x(&f)),
        }
    }

    fn predict_hop(&self, features: &HopFeatures) -> f64 {
        self.spread.predict_hop_latency(features)
    }

    fn trained(&self) -> bool {
        self.spread.request_model().n_fitted() > 0
    }

    fn hop_trained(&self) -> bool {
        self.spread.hop_model().n_fitted() > 0
    }

    fn track_hop(&mut self, features: &HopFeatures, observed_ns: f64) {
        self.spread.track_hop(features, observed_ns);
    }
}

/// Enforces a latency budget on recalls. Per request: [`start`](Self::start) when the request
/// starts; the recall asks [`RecallGate::after_seeding`] and then, before each hop,
/// [`HopGate::before_hop`]; [`finish`](Self::finish) with the observed latency.
#[derive(Debug, Clone)]
pub struct RecallBudgetManager<M, C = MonotonicClock> {
    budget_ns: u64,
    model: M,
    clock: C,
    start_ns: u64,
    /// The predicted rank phase: a hop may run only if ranking after it still fits.
    rank_reserve_ns: f64,
    /// What a hop's prediction is stretched by, learned from the hops this manager timed.
    margin: HopMargin,
    /// What was left of the budget when seeding ended: the budget the spread's hops are
    /// large or small against (the scan takes most of a recall's).
    spread_budget_ns: u64,
    after_seed_ns: Option<f64>,
    truncated_now: bool,
    fallback_now: bool,
    stats: BudgetStats,
}

impl<M: RecallModel> RecallBudgetManager<M, MonotonicClock> {
    pub fn new(budget_ns: u64, model: M) -> Self {
        Self::with_clock(budget_ns, model, MonotonicClock::default())
    }
}

impl<M: RecallModel, C: Clock> RecallBudgetManager<M, C> {
    pub fn with_clock(budget_ns: u64, model: M, clock: C) -> Self {
        RecallBudgetManager {
            budget_ns,
            model,
            clock,
            start_ns: 0,
            rank_reserve_ns: 0.0,
            margin: HopMargin::default(),
            spread_budget_ns: budget_ns,
            after_seed_ns: None,
            truncated_now: false,
            fallback_now: false,
            stats: BudgetStats {
                budget_ns,
                ..BudgetStats::default()
            },
        }
    }

    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, to train it between requests.
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    /// Starts a request: its clock starts now.
    pub fn start(&mut self) {
        self.start_ns = self.clock.now_ns();
        self.rank_reserve_ns = 0.0;
        self.spread_budget_ns = self.budget_ns;
        self.after_seed_ns = None;
        self.truncated_now = false;
        self.fallback_now = false;
    }

    /// Ns since [`start`](Self::start).
    pub fn elapsed_ns(&self) -> u64 {
        self.clock.now_ns().saturating_sub(self.start_ns)
    }

    /// The prediction made after seeding in the current request (elapsed + spread + rank);
    /// `None` when no spread was considered (similarity mode, no seeds).
    pub fn after_seed_prediction(&self) -> Option<f64> {
        self.after_seed_ns
    }

    /// Ends the request with its observed latency (ns) and counts it.
    pub fn finish(&mut self, observed_ns: u64) -> Outcome {
        let o = Outcome {
            truncated: self.truncated_now,
            fallback: self.fallback_now,
            over_budget: observed_ns > self.budget_ns,
        };
        self.stats.count(&o);
        self.truncated_now = false;
        self.fallback_now = false;
        o
    }

    pub fn stats(&self) -> BudgetStats {
        self.stats
    }

    /// The factor a hop's prediction is stretched by (1 until hops were timed).
    pub fn margin(&self) -> f64 {
        self.margin.factor()
    }
}

impl<M: RecallModel, C: Clock> HopGate for RecallBudgetManager<M, C> {
    /// Stops when `elapsed + predicted(hop) × margin + predicted(rank)` would pass the budget
    /// (exactly at the budget still runs); the margin is learned by the spread manager's rule
    /// ([`HopMargin`]) from the hops this manager timed, against what was left of the budget
    /// after seeding. An untrained hop model never stops a spread.
    fn before_hop(&mut self, _hop: u32, features: &HopFeatures) -> bool {
        if !self.model.hop_trained() {
            return true;
        }
        let now = self.elapsed_ns();
        let predicted = self.model.predict_hop(features);
        let go = self
            .margin
            .admit(now, predicted, self.rank_reserve_ns, self.budget_ns);
        if !go {
            self.truncated_now = true;
        }
        go
    }

    /// Times the hop that ran: the model's hop drift follows it, and the margin learns from
    /// it against what was left of the budget after seeding.
    fn after_hop(&mut self, _hop: u32, features: &HopFeatures) {
        if !self.model.hop_trained() {
            return;
        }
        let ns = self
            .margin
            .end_hop(self.elapsed_ns(), self.spread_budget_ns);
        self.model.track_hop(features, ns);
    }
}

impl<M: RecallModel, C: Clock> RecallGate for RecallBudgetManager<M, C> {
    /// Falls back only when `elapsed + predicted spread + predicted rank` is *more than*
    /// 1.5 × the budget, and never on an untrained model.
    fn after_seeding(&mut self, graph: &Graph, seeds: &[Seed]) -> bool {
        let rest = self.model.predict_rest(graph, seeds);
        let elapsed = self.elapsed_ns();
        self.spread_budget_ns = self.budget_ns.saturating_sub(elapsed);
        let predicted = elapsed as f64 + rest.spread_ns + rest.rank_ns;
        self.rank_reserve_ns = rest.rank_ns;
        self.after_seed_ns = Some(predicted);
        self.fallback_now =
            self.model.trained() && predicted > FALLBACK_FACTOR * self.budget_ns as f64;
        !self.fallback_now
    }
}
