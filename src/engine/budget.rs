//! The latency budget manager (DESIGN §3): a request may carry a budget; before it starts,
//! a prediction far past the budget (more than 1.5×) makes it fall back to a cheaper answer;
//! before each hop, a hop that would end past the budget is not started, and the spread's
//! result is what it had so far, flagged partial.
//!
//! The engine calls a [`HopGate`] before each hop; [`LatencyBudgetManager`] is the gate that
//! enforces a budget, and it counts what it did in [`BudgetStats`]. Time comes from a
//! [`Clock`] and predictions from a [`LatencyModel`], so tests script both and the decisions
//! are exact. The spreader asks the gate itself ([`Spreader::spread_gated_into`]; a spread
//! stopped before hop h is exactly a spread of depth h − 1). The manager also times the hops
//! it lets run, so the model keeps learning while requests are served, and learns from them
//! a margin and the collect cost it plans with. [`parse_duration`] reads `--budget`'s values.

use super::predictor::{HopFeatures, LatencyModel, RequestFeatures};
use super::result::SpreadResult;
use super::scratch::SpreadScratch;
use super::spreader::{Seed, SpreadError, Spreader};
use crate::graph::Graph;
use crate::InputError;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// A request falls back when its prediction exceeds the budget by more than this factor.
pub const FALLBACK_FACTOR: f64 = 1.5;

/// Asked by the engine before each hop of a spread.
pub trait HopGate {
    /// Whether hop `hop` (1 = the first hop after seeding) may run; `false` ends the spread
    /// before it, with the result of the hops so far.
    fn before_hop(&mut self, hop: u32, features: &HopFeatures) -> bool;
    /// Told after a hop ran (per-hop timing for the hop model); nothing by default.
    fn after_hop(&mut self, _hop: u32, _features: &HopFeatures) {}
    /// Whether the gate reads [`HopFeatures::tier_mix`]: counting it costs a pass over the
    /// frontier, so the engine fills it only when asked (otherwise it is zeros).
    fn needs_tier_mix(&self) -> bool {
        false
    }
}

/// The gate that never stops a spread.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGate;

impl HopGate for NoGate {
    #[inline(always)]
    fn before_hop(&mut self, _hop: u32, _features: &HopFeatures) -> bool {
        true
    }
}

/// A monotonic time source in ns since an arbitrary origin.
pub trait Clock {
    fn now_ns(&self) -> u64;
}

/// `Instant`-based [`Clock`].
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock(Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock(Instant::now())
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// What to do with a request, decided before it starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    /// Run it (hops may still be cut by [`HopGate::before_hop`]).
    Run { predicted_ns: f64 },
    /// Its prediction exceeds the budget by more than 50%: answer with the fallback
    /// (recall: similarity only; spread: the seeds alone).
    Fallback { predicted_ns: f64 },
}

/// How one request ended, as the manager counted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Stopped before a hop (the result is partial, reason `budget`).
    pub truncated: bool,
    /// Answered by the fallback.
    pub fallback: bool,
    /// Its observed latency still passed the budget.
    pub over_budget: bool,
}

/// The snapshot's `budget{…}`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BudgetStats {
    pub budget_ns: u64,
    pub requests: u64,
    pub truncated: u64,
    pub fallbacks: u64,
    /// Requests whose observed latency passed the budget despite the manager.
    pub over_budget: u64,
    /// over_budget / requests (0 with no requests).
    pub over_budget_share: f64,
}

impl BudgetStats {
    /// Adds another tally's counts (a client's or an interval's) for the same budget.
    pub fn add(&mut self, o: &BudgetStats) {
        self.budget_ns = self.budget_ns.max(o.budget_ns);
        self.requests += o.requests;
        self.truncated += o.truncated;
        self.fallbacks += o.fallbacks;
        self.over_budget += o.over_budget;
        self.over_budget_share = if self.requests == 0 {
            0.0
        } else {
            self.over_budget as f64 / self.requests as f64
        };
    }

    /// Counts one request that ended with `o`.
    pub fn count(&mut self, o: &Outcome) {
        self.requests += 1;
        self.truncated += o.truncated as u64;
        self.fallbacks += o.fallback as u64;
        self.over_budget += o.over_budget as u64;
        self.over_budget_share = self.over_budget as f64 / self.requests as f64;
    }
}

/// A gate that never stops a spread and times every hop into a predictor's hop model: how
/// warm-up requests train the model the budget manager asks before each hop. It reads the
/// clock twice per hop, so it runs only where nothing is measured.
#[derive(Debug)]
pub struct HopTimer<'a> {
    predictor: &'a mut super::predictor::LatencyPredictor,
    started: Instant,
}

impl<'a> HopTimer<'a> {
    pub fn new(predictor: &'a mut super::predictor::LatencyPredictor) -> Self {
        HopTimer {
            predictor,
            started: Instant::now(),
        }
    }
}

impl HopTimer<'_> {
    /// Ends the hop that ran: trains the hop model on it and returns its time (ns).
    pub fn end_hop(&mut self, features: &HopFeatures) -> f64 {
        let ns = self.started.elapsed().as_nanos() as f64;
        self.predictor.observe_hop(features, ns);
        ns
    }
}

impl HopGate for HopTimer<'_> {
    fn before_hop(&mut self, _hop: u32, _features: &HopFeatures) -> bool {
        self.started = Instant::now();
        true
    }

    fn after_hop(&mut self, _hop: u32, features: &HopFeatures) {
        self.end_hop(features);
    }
}

/// Enforces a latency budget with a model's predictions and a clock. Per request:
/// [`admit`](Self::admit), then the engine asks [`HopGate::before_hop`] before each hop, then
/// [`finish`](Self::finish) with the observed latency.
#[derive(Debug, Clone)]
pub struct LatencyBudgetManager<P, C = MonotonicClock> {
    budget_ns: u64,
    model: P,
    clock: C,
    start_ns: u64,
    truncated_now: bool,
    fallback_now: bool,
    stats: BudgetStats,
    /// When the last hop of this request ended (ns since admit), once one has.
    last_hop_end_ns: Option<u64>,
    /// What a hop's prediction is stretched by so that a hop predicted to fit does.
    margin: HopMargin,
    /// Edges the hops of this request relaxed so far (the admitted hops' frontier edges).
    edges: u64,
    /// EWMAs of the ns that follow a whole spread's last hop (collect, rank, release) and of
    /// the edges the spread relaxed: what collecting costs grows with what the spread
    /// reached, and their ratio is the reserve per edge.
    collect_ns: f64,
    collect_edges: f64,
}

/// The quantile of a hop's observed/predicted ratio the manager plans with: a hop is
/// started only if it would fit even at this quantile of the errors seen so far.
pub const MARGIN_QUANTILE: f64 = 0.98;
/// A hop moves the margin only if its prediction is at least 1/this of the budget.
const MARGIN_MIN_SHARE: f64 = 8.0;
/// Step of the margin's online quantile estimate, in ln units per observed hop.
const MARGIN_STEP: f64 = 0.01;
/// EWMA weight of the newest request in the collect cost per edge.
const COLLECT_ALPHA: f64 = 0.1;

/// The [`MARGIN_QUANTILE`] of ln(observed hop / predicted hop), tracked online (a stochastic
/// quantile estimate): the factor a budget manager stretches a hop's prediction by, so that a
/// hop predicted to fit does at that quantile of the errors seen; and the hop being timed for
/// it. Shared by the spread's and recall's managers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HopMargin {
    log: f64,
    /// The hop that is running: when it started (the manager's ns) and what it was predicted.
    hop_start_ns: u64,
    hop_predicted_ns: f64,
}

impl HopMargin {
    /// Whether a hop predicted at `predicted_ns`, asked for at `now_ns` with `reserve_ns` of
    /// work to follow it, still ends within `budget_ns` once stretched by the margin (exactly
    /// at the budget still runs); if so, it is the hop timed from now.
    pub fn admit(
        &mut self,
        now_ns: u64,
        predicted_ns: f64,
        reserve_ns: f64,
        budget_ns: u64,
    ) -> bool {
        let end = now_ns as f64 + predicted_ns * self.factor() + reserve_ns;
        let go = end <= budget_ns as f64;
        if go {
            self.hop_start_ns = now_ns;
            self.hop_predicted_ns = predicted_ns;
        }
        go
    }

    /// The running hop ended at `now_ns`: learns from it under a budget of `budget_ns` and
    /// returns how long it took (ns).
    pub fn end_hop(&mut self, now_ns: u64, budget_ns: u64) -> f64 {
        let ns = now_ns.saturating_sub(self.hop_start_ns) as f64;
        self.observe(self.hop_predicted_ns, ns, budget_ns);
        ns
    }

    /// One timed hop against its prediction, under a budget of `budget_ns`. Only hops large
    /// enough to decide a budget move the margin: a hop of a few hundred ns has errors of its
    /// own kind (timer granularity, one cache miss) that say nothing about the hops that pass
    /// budgets.
    fn observe(&mut self, predicted_ns: f64, observed_ns: f64, budget_ns: u64) {
        if predicted_ns * MARGIN_MIN_SHARE >= budget_ns as f64 && observed_ns > 0.0 {
            let x = (observed_ns / predicted_ns).ln();
            self.log += if x > self.log {
                MARGIN_STEP * MARGIN_QUANTILE
            } else {
                -MARGIN_STEP * (1.0 - MARGIN_QUANTILE)
            };
        }
    }

    /// The factor (1 until a hop ran slower than predicted).
    pub fn factor(&self) -> f64 {
        self.log.max(0.0).exp()
    }
}

impl<P: LatencyModel> LatencyBudgetManager<P, MonotonicClock> {
    pub fn new(budget_ns: u64, model: P) -> Self {
        Self::with_clock(budget_ns, model, MonotonicClock::default())
    }
}

impl<P: LatencyModel, C: Clock> LatencyBudgetManager<P, C> {
    pub fn with_clock(budget_ns: u64, model: P, clock: C) -> Self {
        LatencyBudgetManager {
            budget_ns,
            model,
            clock,
            start_ns: 0,
            truncated_now: false,
            fallback_now: false,
            stats: BudgetStats {
                budget_ns,
                ..BudgetStats::default()
            },
            last_hop_end_ns: None,
            margin: HopMargin::default(),
            edges: 0,
            collect_ns: 0.0,
            collect_edges: 0.0,
        }
    }

    pub fn budget_ns(&self) -> u64 {
        self.budget_ns
    }

    pub fn model(&self) -> &P {
        &self.model
    }

    /// The model, to train it between requests.
    pub fn model_mut(&mut self) -> &mut P {
        &mut self.model
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Starts a request: the request's clock starts now, and the decision is made from its
    /// prediction. Falls back only when the prediction is *more than* 1.5 × the budget.
    pub fn admit(&mut self, features: &RequestFeatures) -> Admission {
        self.start_ns = self.clock.now_ns();
        self.truncated_now = false;
        self.last_hop_end_ns = None;
        self.edges = 0;
        let predicted_ns = self.model.predict_request(features);
        self.fallback_now = predicted_ns > FALLBACK_FACTOR * self.budget_ns as f64;
        if self.fallback_now {
            Admission::Fallback { predicted_ns }
        } else {
            Admission::Run { predicted_ns }
        }
    }

    /// Ns since [`admit`](Self::admit).
    pub fn elapsed_ns(&self) -> u64 {
        self.clock.now_ns().saturating_sub(self.start_ns)
    }

    /// Ends the request with its observed latency (ns, measured by the caller as for any
    /// request) and counts it.
    pub fn finish(&mut self, observed_ns: u64) -> Outcome {
        if let Some(end) = self.last_hop_end_ns.take() {
            // What followed the last hop (collect, rank, release), per edge the hops relaxed;
            // learned from whole spreads only: the reserve is for collecting after a hop
            // that ran, and a truncated spread's collect covers nodes no hop relaxed from.
            let after = self.elapsed_ns().saturating_sub(end) as f64;
            if self.edges > 0 && !self.truncated_now {
                // A ratio of decayed sums, not a mean of ratios: a spread of three edges
                // would otherwise weigh as much as one of ten thousand.
                // A preempted collect (a millisecond on a shared machine) is not what
                // collecting costs: clamped to 4× what the estimate says.
                let est = self.collect_ns_per_edge() * self.edges as f64;
                let after = if est > 0.0 {
                    after.min(4.0 * est)
                } else {
                    after
                };
                self.collect_ns += COLLECT_ALPHA * (after - self.collect_ns);
                self.collect_edges += COLLECT_ALPHA * (self.edges as f64 - self.collect_edges);
            }
        }
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

    /// What the manager expects collecting a spread to cost, per edge it relaxed (ns).
    pub fn collect_ns_per_edge(&self) -> f64 {
        if self.collect_edges > 0.0 {
            self.collect_ns / self.collect_edges
        } else {
            0.0
        }
    }
}

impl<P: LatencyModel, C: Clock> HopGate for LatencyBudgetManager<P, C> {
    /// Stops when the hop would end past the budget: `elapsed + predicted(hop) × margin`,
    /// plus the collect-and-rank that follows it (its cost per edge × the edges relaxed by
    /// then), above the budget (exactly at the budget still runs). The margin and the
    /// collect cost start at 1 and 0 and are learned from the requests this manager serves,
    /// so a hop predicted to fit does at the [`MARGIN_QUANTILE`] of the errors seen. An
    /// untrained hop model never stops a spread.
    fn before_hop(&mut self, _hop: u32, features: &HopFeatures) -> bool {
        if !self.model.hop_trained() {
            return true;
        }
        let now = self.elapsed_ns();
        let predicted = self.model.predict_hop(features);
        let edges = self.edges + features.frontier_edges;
        let reserve = self.collect_ns_per_edge() * edges as f64;
        let go = self.margin.admit(now, predicted, reserve, self.budget_ns);
        if go {
            self.edges = edges;
        } else {
            self.truncated_now = true;
        }
        go
    }

    /// Times the hop that ran: the model learns from it (it keeps fitting and following
    /// the machine's drift while requests are served), and the margin's quantile moves.
    fn after_hop(&mut self, _hop: u32, features: &HopFeatures) {
        if !self.model.hop_trained() {
            return;
        }
        let now = self.elapsed_ns();
        let ns = self.margin.end_hop(now, self.budget_ns);
        self.model.observe_hop(features, ns);
        self.last_hop_end_ns = Some(now);
    }
}

/// Runs a spread with `gate` asked before each hop: [`Spreader::spread_gated_into`], kept
/// under its first name for callers that hold a `dyn HopGate`. When the gate refuses hop
/// `h`, `out` is what was spread before it — exactly a spread of depth `h − 1`. Returns
/// whether the gate stopped the spread.
pub fn spread_gated(
    spreader: &Spreader,
    graph: &Graph,
    seeds: &[Seed],
    scratch: &mut SpreadScratch,
    out: &mut SpreadResult,
    gate: &mut dyn HopGate,
) -> Result<bool, SpreadError> {
    spreader.spread_gated_into(graph, seeds, scratch, out, gate)
}

/// The result of a spread of depth 0 — the seeds alone, ranked, with their confidence and
/// tier as `spreader` would give them, and cut to its top-k: the spread fallback. A seed is
/// refused as the spread would refuse it.
pub fn seeds_only(
    spreader: &Spreader,
    graph: &Graph,
    seeds: &[Seed],
) -> Result<SpreadResult, SpreadError> {
    let mut out = SpreadResult::default();
    seeds_only_into(spreader, graph, seeds, &mut out)?;
    Ok(out)
}

/// [`seeds_only`] into a reused result.
pub fn seeds_only_into(
    spreader: &Spreader,
    graph: &Graph,
    seeds: &[Seed],
    out: &mut SpreadResult,
) -> Result<(), SpreadError> {
    use super::fixed;
    use super::model::TierPolicy;
    use super::result::ActivatedNode;
    if seeds.is_empty() {
        return Err(SpreadError::NoSeeds);
    }
    out.clear();
    let config = spreader.config();
    for s in seeds {
        if s.node as usize >= graph.node_count() {
            return Err(SpreadError::SeedOutOfRange {
                node: s.node,
                nodes: graph.node_count(),
            });
        }
        if !Seed::valid_activation(s.activation) {
            return Err(SpreadError::SeedActivation {
                node: s.node,
                activation: s.activation,
            });
        }
        // As the spread seeds: summed per entry, capped at 1 after each addition.
        let add = fixed::to_fixed(s.activation);
        match out.nodes.iter_mut().find(|n| n.id == s.node) {
            Some(n) => n.activation = (n.activation + add).min(fixed::ONE),
            None => {
                let tier = match config.tier_policy {
                    TierPolicy::Storage => graph.tier(s.node),
                    TierPolicy::HopDepth => super::model::SpreadConfig::hop_depth_tier(0),
                };
                out.nodes.push(ActivatedNode {
                    id: s.node,
                    activation: add.min(fixed::ONE),
                    confidence: 0.0,
                    first_hop: 0,
                    tier,
                })
            }
        }
    }
    for n in &mut out.nodes {
        n.confidence = fixed::to_f64(n.activation) * config.tier(n.tier).confidence;
    }
    out.nodes
        .sort_by(|a, b| b.activation.cmp(&a.activation).then(a.id.cmp(&b.id)));
    out.work.nodes_activated = out.nodes.len() as u32;
    if let Some(k) = config.top_k {
        out.nodes.truncate(k);
    }
    Ok(())
}

/// ns per unit, longest unit name first so `ms` is not read as `m` + `s`.
const UNITS: [(&str, u128); 6] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
];

/// Parses a duration such as `25us`, `1ms`, `250000ns`, `1.5ms`, `2s` (also `µs`) into ns.
/// A unit is required; the value must be positive, a whole number of ns, and fit in u64.
/// The message names the value and what is wrong; callers prefix the flag or key.
pub fn parse_duration(text: &str) -> Result<u64, InputError> {
    let s = text.trim();
    let err = |why: &str| InputError::new(format!("'{text}' is not a duration: {why}"));
    if s.is_empty() {
        return Err(err("empty (expected a number and a unit, e.g. 25us, 1ms)"));
    }
    if s.starts_with('-') {
        return Err(err("negative; a budget must be positive"));
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = (&s[..split], s[split..].trim_start());
    if num.is_empty() {
        return Err(err("no number before the unit"));
    }
    if unit.is_empty() {
        return Err(err("no unit (use ns, us, µs, ms or s)"));
    }
    let scale = UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|&(_, v)| v)
        .ok_or_else(|| err(&format!("unknown unit '{unit}' (use ns, us, µs, ms or s)")))?;
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) if !i.is_empty() && !f.is_empty() && !f.contains('.') => (i, f),
        Some(_) => return Err(err(&format!("'{num}' is not a number"))),
        None => (num, ""),
    };
    let too_large = || err("too large (at most 18446744073709551615ns, about 584 years)");
    // Digits past 30 cannot fit in u64 ns whatever the unit; cutting here keeps u128 exact.
    if int.trim_start_matches('0').len() > 30 {
        return Err(too_large());
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > 9 {
        return Err(err("finer than 1 ns"));
    }
    let int_v: u128 = int.parse().map_err(|_| err("not a number"))?;
    let frac_v: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| err("not a number"))?
    };
    let denom = 10u128.pow(frac.len() as u32);
    let frac_ns = frac_v * scale;
    if !frac_ns.is_multiple_of(denom) {
        return Err(err("finer than 1 ns"));
    }
    let ns = int_v
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac_ns / denom))
        .ok_or_else(too_large)?;
    if ns == 0 {
        return Err(err("zero; a budget must be positive"));
    }
    u64::try_from(ns).map_err(|_| too_large())
}

/// A duration for people: `25 µs`, `1.5 ms`, `2 s`, `800 ns` (shortest exact form when there
/// is one at three decimals, else rounded to three).
pub fn format_duration(ns: u64) -> String {
    let (div, unit) = match ns {
        n if n >= 1_000_000_000 => (1e9, "s"),
        n if n >= 1_000_000 => (1e6, "ms"),
        n if n >= 1_000 => (1e3, "µs"),
        _ => return format!("{ns} ns"),
    };
    let v = format!("{:.3}", ns as f64 / div);
    let v = v.trim_end_matches('0').trim_end_matches('.');
    format!("{v} {unit}")
}
