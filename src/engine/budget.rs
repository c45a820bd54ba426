//! The latency budget manager (DESIGN §3): a request may carry a budget; before it starts,
//! a prediction far past the budget (more than 1.5×) makes it fall back to a cheaper answer;
//! before each hop, a hop that would end past the budget is not started, and the spread's
//! result is what it had so far, flagged partial.
//!
//! The engine calls a [`HopGate`] before each hop; [`LatencyBudgetManager`] is the gate that
//! enforces a budget, and it counts what it did in [`BudgetStats`]. Time comes from a
//! [`Clock`] and predictions from a [`LatencyModel`], so tests script both and the decisions
//! are exact. Until the spreader calls the gate itself, [`spread_gated`] gives the same
//! result by running depth-limited spreads (exact results, but its timing is not a real
//! spread's: see there). [`parse_duration`] reads `--budget`'s values.

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

impl HopGate for HopTimer<'_> {
    fn before_hop(&mut self, _hop: u32, _features: &HopFeatures) -> bool {
        self.started = Instant::now();
        true
    }

    fn after_hop(&mut self, _hop: u32, features: &HopFeatures) {
        let ns = self.started.elapsed().as_nanos() as f64;
        self.predictor.observe_hop(features, ns);
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
        let o = Outcome {
            truncated: self.truncated_now,
            fallback: self.fallback_now,
            over_budget: observed_ns > self.budget_ns,
        };
        let s = &mut self.stats;
        s.requests += 1;
        s.truncated += o.truncated as u64;
        s.fallbacks += o.fallback as u64;
        s.over_budget += o.over_budget as u64;
        s.over_budget_share = s.over_budget as f64 / s.requests as f64;
        self.truncated_now = false;
        self.fallback_now = false;
        o
    }

    pub fn stats(&self) -> BudgetStats {
        self.stats
    }
}

impl<P: LatencyModel, C: Clock> HopGate for LatencyBudgetManager<P, C> {
    /// Stops when `elapsed + predicted(hop)` would pass the budget (exactly at the budget
    /// still runs). An untrained hop model never stops a spread.
    fn before_hop(&mut self, _hop: u32, features: &HopFeatures) -> bool {
        if !self.model.hop_trained() {
            return true;
        }
        let end = self.elapsed_ns() as f64 + self.model.predict_hop(features);
        let go = end <= self.budget_ns as f64;
        if !go {
            self.truncated_now = true;
        }
        go
    }
}

/// Runs a spread with `gate` asked before each hop: [`Spreader::spread_gated_into`], kept
/// under its first name for callers that hold a `dyn HopGate`. When the gate refuses hop
/// `h`, `out` is what was spread before it — a spread of depth `h − 1` except at nodes that
/// passed their visit budget at hop `h − 1`, which took the cycle penalty there (an inner
/// hop applies it, a last hop does not). Returns whether the gate stopped the spread.
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
