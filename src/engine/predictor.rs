//! The latency predictor (DESIGN §3): linear models of how long a hop, or a whole request,
//! will take, from features known *before* it runs, fitted online.
//!
//! It exists so that the budget manager can decide before a request (fall back?) and before
//! each hop (stop here?), and so that a run can say how predictable its latency is. The fit is
//! ridge least squares on standardised features, accumulated online (weighted Welford
//! co-moments, so no observation is kept and memory does not grow with a soak) and solved by
//! Cholesky — a few dozen lines instead of a linear-algebra dependency. Observations are
//! weighted by 1/observed², so the fit minimises *relative* squared error: the figure judged
//! is |predicted − observed| / observed, and an unweighted fit would trade many small requests
//! for a few large ones.
//!
//! Every prediction can be checked against what happened in an [`ErrorTally`]; its
//! [`ErrorStats`] and the coefficients make the typed [`PredictorStats`] of a snapshot.

// The least-squares code indexes k×k matrices; index loops read like the formulas.
#![allow(clippy::needless_range_loop)]

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Ridge penalty on standardised features: small enough not to bias a well-posed fit, large
/// enough to keep collinear features (threads and parallel, say) solvable.
pub const DEFAULT_RIDGE: f64 = 1e-6;

/// Observations between automatic refits: a refit is a k×k Cholesky (k ≤ 10, about a
/// microsecond), cheap but not free per request.
pub const DEFAULT_REFIT_EVERY: u64 = 64;

/// Online ridge least squares on standardised features.
#[derive(Debug, Clone)]
pub struct OnlineRidge {
    names: Vec<&'static str>,
    ridge: f64,
    relative: bool,
    n: u64,
    /// Sum of weights.
    w: f64,
    mean: Vec<f64>,
    y_mean: f64,
    /// The smallest `y` added so far (+∞ before any).
    y_min: f64,
    /// What [`OnlineRidge::predict_latency`] never goes below: half of `y_min` at the last fit.
    floor: f64,
    /// Weighted co-moments Σ w (x − x̄)(x − x̄)ᵀ, row-major k×k.
    cxx: Vec<f64>,
    /// Σ w (x − x̄)(y − ȳ).
    cxy: Vec<f64>,
    coef: Vec<f64>,
    intercept: f64,
    fitted_at: u64,
    scratch: Vec<f64>,
}

impl OnlineRidge {
    /// A model over the named features. `relative` weights each observation by 1/y², so the
    /// fit minimises relative rather than absolute squared error.
    pub fn new(names: &[&'static str], ridge: f64, relative: bool) -> Self {
        let k = names.len();
        OnlineRidge {
            names: names.to_vec(),
            ridge,
            relative,
            n: 0,
            w: 0.0,
            mean: vec![0.0; k],
            y_mean: 0.0,
            y_min: f64::INFINITY,
            floor: 0.0,
            cxx: vec![0.0; k * k],
            cxy: vec![0.0; k],
            coef: vec![0.0; k],
            intercept: 0.0,
            fitted_at: 0,
            scratch: vec![0.0; k * k + 2 * k],
        }
    }

    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// Observations added so far.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// Observations the current coefficients were fitted on.
    pub fn n_fitted(&self) -> u64 {
        self.fitted_at
    }

    /// Adds one observation. Non-finite values, and a non-positive `y` in relative mode, are
    /// ignored: they carry no usable information and would poison the sums.
    pub fn add(&mut self, x: &[f64], y: f64) {
        debug_assert_eq!(x.len(), self.mean.len());
        if !y.is_finite() || x.iter().any(|v| !v.is_finite()) || (self.relative && y <= 0.0) {
            return;
        }
        let wt = if self.relative { 1.0 / (y * y) } else { 1.0 };
        let k = self.mean.len();
        self.n += 1;
        self.w += wt;
        let r = wt / self.w;
        // dx = x − old mean is kept in scratch; the update uses (x − new mean) on the right.
        let (dx, _) = self.scratch.split_at_mut(k);
        for j in 0..k {
            dx[j] = x[j] - self.mean[j];
            self.mean[j] += r * dx[j];
        }
        let dy = y - self.y_mean;
        self.y_mean += r * dy;
        self.y_min = self.y_min.min(y);
        let y_new = y - self.y_mean;
        for i in 0..k {
            let wdi = wt * dx[i];
            for j in 0..k {
                self.cxx[i * k + j] += wdi * (x[j] - self.mean[j]);
            }
            self.cxy[i] += wdi * y_new;
        }
    }

    /// Solves for the coefficients from everything added so far. Features that never varied
    /// get coefficient 0 (their effect is in the intercept).
    pub fn fit(&mut self) {
        let k = self.mean.len();
        self.fitted_at = self.n;
        if self.n == 0 {
            return;
        }
        let (a, rest) = self.scratch.split_at_mut(k * k);
        let (b, sd) = rest.split_at_mut(k);
        for j in 0..k {
            let v = self.cxx[j * k + j] / self.w;
            // Relative to the mean's size, so that a constant feature with rounding noise in
            // its co-moment is still constant.
            let scale = self.mean[j].abs().max(1e-300);
            sd[j] = if v > 0.0 && v.sqrt() > 1e-9 * scale {
                v.sqrt()
            } else {
                0.0
            };
        }
        for i in 0..k {
            for j in 0..k {
                a[i * k + j] = if sd[i] > 0.0 && sd[j] > 0.0 {
                    self.cxx[i * k + j] / self.w / (sd[i] * sd[j])
                } else {
                    0.0
                };
            }
            // A constant feature's row is the identity with right side 0, so its β is 0.
            a[i * k + i] = if sd[i] > 0.0 {
                a[i * k + i] + self.ridge
            } else {
                1.0
            };
            b[i] = if sd[i] > 0.0 {
                self.cxy[i] / self.w / sd[i]
            } else {
                0.0
            };
        }
        if !cholesky_solve(a, b, k) {
            return;
        }
        let mut intercept = self.y_mean;
        for j in 0..k {
            self.coef[j] = if sd[j] > 0.0 { b[j] / sd[j] } else { 0.0 };
            intercept -= self.coef[j] * self.mean[j];
        }
        self.intercept = intercept;
        self.floor = 0.5 * self.y_min;
    }

    /// The prediction for `x`: intercept + coefficients · x. 0 before anything was fitted.
    #[inline]
    pub fn predict(&self, x: &[f64]) -> f64 {
        let mut y = self.intercept;
        for (c, v) in self.coef.iter().zip(x) {
            y += c * v;
        }
        y
    }

    /// The prediction as a latency: [`predict`](Self::predict), but never below half the
    /// fastest observation the fit learned from (0 before a fit). A linear model extrapolated
    /// out of its training span goes anywhere: trained on seed lists at full activation, where
    /// the weighted and plain edge counts are one feature split between two coefficients, it
    /// put a list with a half-activated seed at or below 0 ns in a quarter of debug-build
    /// fits, and a budget then took a request of a hundred microseconds for free. Half, not
    /// all of it: a request smaller than every one trained on is rightly predicted faster
    /// than all of them, and a factor of 2 is also as far as the drift tracker lets one
    /// observation disagree with the model.
    #[inline]
    pub fn predict_latency(&self, x: &[f64]) -> f64 {
        self.predict(x).max(self.floor)
    }

    /// Coefficients in raw (unstandardised) units, one per feature name.
    pub fn coefficients(&self) -> &[f64] {
        &self.coef
    }

    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// Intercept first, then each feature: what a snapshot records.
    pub fn coefficient_list(&self) -> Vec<Coefficient> {
        std::iter::once(Coefficient {
            feature: "intercept".into(),
            value: self.intercept,
        })
        .chain(
            self.names
                .iter()
                .zip(&self.coef)
                .map(|(n, &v)| Coefficient {
                    feature: (*n).into(),
                    value: v,
                }),
        )
        .collect()
    }
}

/// Solves `a x = b` in place (`b` becomes `x`) for a symmetric positive definite `a` (k×k,
/// row-major; its lower triangle is overwritten by the Cholesky factor). False when `a` is
/// not positive definite, which the ridge prevents for finite input.
fn cholesky_solve(a: &mut [f64], b: &mut [f64], k: usize) -> bool {
    for j in 0..k {
        let mut d = a[j * k + j];
        for p in 0..j {
            d -= a[j * k + p] * a[j * k + p];
        }
        if d.is_nan() || d <= 0.0 {
            return false;
        }
        let d = d.sqrt();
        a[j * k + j] = d;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for p in 0..j {
                s -= a[i * k + p] * a[j * k + p];
            }
            a[i * k + j] = s / d;
        }
    }
    for i in 0..k {
        let mut s = b[i];
        for p in 0..i {
            s -= a[i * k + p] * b[p];
        }
        b[i] = s / a[i * k + i];
    }
    for i in (0..k).rev() {
        let mut s = b[i];
        for p in i + 1..k {
            s -= a[p * k + i] * b[p];
        }
        b[i] = s / a[i * k + i];
    }
    true
}

/// One fitted coefficient, in the units of its feature (ns per unit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coefficient {
    pub feature: String,
    pub value: f64,
}

/// What is known about a hop before it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HopFeatures {
    /// 1 for the first hop after seeding.
    pub hop: u32,
    /// Frontier nodes to expand.
    pub frontier_size: u32,
    /// Out-edges to relax: exactly the frontier's out-degree sum.
    pub frontier_edges: u64,
    /// Frontier nodes per tier (hot, warm, cold) as the spread applies them.
    pub tier_mix: [u32; 3],
    /// Threads a parallel hop uses.
    pub threads: u32,
    pub batch_size: u32,
    /// Whether this hop runs on the executor.
    pub parallel: bool,
}

/// Names of [`HopFeatures::vector`]'s entries.
pub const HOP_FEATURES: [&str; 11] = [
    "frontier_edges",
    "frontier_size",
    "hop",
    "hop_edges",
    "hop_nodes",
    "hot_share",
    "cold_share",
    "threads",
    "batch_size",
    "parallel",
    "parallel_edges_per_thread",
];

impl HopFeatures {
    /// The model's inputs. Tier mix as shares (warm is the rest), and a parallel hop's edges
    /// per thread, since a parallel hop's cost does not scale like a serial one's. The hop
    /// index times the edges and the nodes lets the cost per edge and per node differ by
    /// hop: a first hop's targets are cold in cache, and the last hop builds no frontier.
    #[inline]
    pub fn vector(&self) -> [f64; 11] {
        let f = self.frontier_size.max(1) as f64;
        let par = if self.parallel { 1.0 } else { 0.0 };
        let hop = self.hop as f64;
        [
            self.frontier_edges as f64,
            self.frontier_size as f64,
            hop,
            hop * self.frontier_edges as f64,
            hop * self.frontier_size as f64,
            self.tier_mix[0] as f64 / f,
            self.tier_mix[2] as f64 / f,
            self.threads as f64,
            self.batch_size as f64,
            par,
            par * self.frontier_edges as f64 / self.threads.max(1) as f64,
        ]
    }
}

/// What is known about a request before it starts: the sums of its seeds' cost profiles
/// (see [`crate::engine::cost_profile`]), its seed count and depth.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestFeatures {
    /// Σ over seeds of the edges a spread from that seed alone relaxes.
    pub edges: f64,
    /// Σ nodes such a spread activates.
    pub activated: f64,
    /// Σ frontier nodes it expands (over all hops).
    pub expanded: f64,
    /// Σ contributions it rejects.
    pub rejected: f64,
    /// Σ a₀ × edges: seeds below full activation reach less.
    pub weighted_edges: f64,
    /// Σ out-degree of the seeds (hop 1's edges, exactly, for distinct seeds).
    pub seed_degree: f64,
    pub seeds: u32,
    pub depth: u32,
}

/// Names of [`RequestFeatures::vector`]'s entries.
pub const REQUEST_FEATURES: [&str; 8] = [
    "profile_edges",
    "profile_activated",
    "profile_expanded",
    "profile_rejected",
    "profile_weighted_edges",
    "seed_degree",
    "seeds",
    "depth",
];

impl RequestFeatures {
    #[inline]
    pub fn vector(&self) -> [f64; 8] {
        [
            self.edges,
            self.activated,
            self.expanded,
            self.rejected,
            self.weighted_edges,
            self.seed_degree,
            self.seeds as f64,
            self.depth as f64,
        ]
    }
}

/// Predictions the budget manager needs; [`LatencyPredictor`] is the real one, tests script
/// their own.
pub trait LatencyModel {
    /// Predicted latency of a whole request, in ns.
    fn predict_request(&self, features: &RequestFeatures) -> f64;
    /// Predicted latency of one hop, in ns.
    fn predict_hop(&self, features: &HopFeatures) -> f64;
    /// Whether the hop model has been fitted: an untrained model has no opinion, and a
    /// budget must not cut a spread on elapsed time alone (true by default, for scripted
    /// models).
    fn hop_trained(&self) -> bool {
        true
    }
    /// Learns from one hop the budget manager timed while it served a request (the real
    /// predictor keeps fitting and tracking drift; a scripted one ignores it).
    fn observe_hop(&mut self, _features: &HopFeatures, _observed_ns: f64) {}
}

/// EWMA weight of the newest observation in a [`DriftTracker`]: python replays of warm-10k
/// test streams on this VM while builds ran put 0.2 best (within-20% 71% → 90%, against 87%
/// at 0.05 and 88% for a running median of 16).
pub const DRIFT_ALPHA: f64 = 0.2;

/// How fast the machine runs *now* against what a model learned: an EWMA of
/// ln(observed / predicted) over the latest observations, applied as a factor to every
/// prediction. A shared machine's speed moves by tens of percent within minutes (other
/// processes, frequency, cache contention); a model fitted on a slower minute mispredicts
/// every request of a faster one by the same factor, and this takes that out. Each ratio is
/// clamped to [½, 2] so that one preempted request does not swing the factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftTracker {
    log_ratio: f64,
    /// exp(log_ratio), kept: a prediction (read inside a budgeted request's clock) must not
    /// pay an `exp`.
    factor: f64,
}

impl Default for DriftTracker {
    fn default() -> Self {
        DriftTracker {
            log_ratio: 0.0,
            factor: 1.0,
        }
    }
}

impl DriftTracker {
    /// Takes in one observation against the model's own (uncorrected) prediction; ignored
    /// while the model has no opinion (a prediction of 0) or when either is not finite.
    pub fn observe(&mut self, model_ns: f64, observed_ns: f64) {
        if !(model_ns > 0.0 && observed_ns > 0.0 && model_ns.is_finite() && observed_ns.is_finite())
        {
            return;
        }
        let r = (observed_ns / model_ns)
            .ln()
            .clamp(-std::f64::consts::LN_2, std::f64::consts::LN_2);
        self.log_ratio += DRIFT_ALPHA * (r - self.log_ratio);
        self.factor = self.log_ratio.exp();
    }

    /// The factor predictions are multiplied by (1 until something was observed).
    #[inline]
    pub fn factor(&self) -> f64 {
        self.factor
    }
}

/// The per-request and per-hop models, with an error tally for each, and how far the
/// machine's current speed has drifted from what each model learned.
#[derive(Debug, Clone)]
pub struct LatencyPredictor {
    request: OnlineRidge,
    hop: OnlineRidge,
    request_drift: DriftTracker,
    hop_drift: DriftTracker,
    refit_every: u64,
    pub request_errors: ErrorTally,
    pub hop_errors: ErrorTally,
}

impl Default for LatencyPredictor {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyPredictor {
    pub fn new() -> Self {
        LatencyPredictor {
            request: OnlineRidge::new(&REQUEST_FEATURES, DEFAULT_RIDGE, true),
            hop: OnlineRidge::new(&HOP_FEATURES, DEFAULT_RIDGE, true),
            request_drift: DriftTracker::default(),
            hop_drift: DriftTracker::default(),
            refit_every: DEFAULT_REFIT_EVERY,
            request_errors: ErrorTally::new(),
            hop_errors: ErrorTally::new(),
        }
    }

    /// Refits every `n` observations of a model (0: only on [`LatencyPredictor::fit`]).
    pub fn with_refit_every(mut self, n: u64) -> Self {
        self.refit_every = n;
        self
    }

    /// Predicted latency of a request in ns; 0 before the first fit (no opinion, so a budget
    /// never acts on an untrained model). A dot product of 8 features and the drift factor:
    /// a few ns.
    #[inline]
    pub fn predict_latency(&self, features: &RequestFeatures) -> f64 {
        self.request.predict_latency(&features.vector()) * self.request_drift.factor()
    }

    /// Predicted latency of a hop in ns; 0 before the first fit.
    #[inline]
    pub fn predict_hop_latency(&self, features: &HopFeatures) -> f64 {
        self.hop.predict_latency(&features.vector()) * self.hop_drift.factor()
    }

    /// Trains the request model on one observed latency (ns), and tracks drift with it.
    pub fn observe_request(&mut self, features: &RequestFeatures, observed_ns: f64) {
        let x = features.vector();
        self.request_drift
            .observe(self.request.predict(&x), observed_ns);
        self.request.add(&x, observed_ns);
        if self.refit_every > 0 && self.request.n().is_multiple_of(self.refit_every) {
            self.request.fit();
        }
    }

    /// Trains the hop model on one observed hop latency (ns), and tracks drift with it.
    pub fn observe_hop(&mut self, features: &HopFeatures, observed_ns: f64) {
        let x = features.vector();
        self.hop_drift.observe(self.hop.predict(&x), observed_ns);
        self.hop.add(&x, observed_ns);
        if self.refit_every > 0 && self.hop.n().is_multiple_of(self.refit_every) {
            self.hop.fit();
        }
    }

    /// Tracks the machine's drift with one observed request, leaving the fit as it is: how
    /// an out-of-sample test keeps the coefficients frozen and still follows the machine.
    pub fn track_request(&mut self, features: &RequestFeatures, observed_ns: f64) {
        let model_ns = self.request.predict(&features.vector());
        self.request_drift.observe(model_ns, observed_ns);
    }

    /// The same for one observed hop.
    pub fn track_hop(&mut self, features: &HopFeatures, observed_ns: f64) {
        let model_ns = self.hop.predict(&features.vector());
        self.hop_drift.observe(model_ns, observed_ns);
    }

    /// The request and hop models' drift factors.
    pub fn drift(&self) -> (DriftTracker, DriftTracker) {
        (self.request_drift, self.hop_drift)
    }

    /// Refits both models on everything observed.
    pub fn fit(&mut self) {
        self.request.fit();
        self.hop.fit();
    }

    pub fn request_model(&self) -> &OnlineRidge {
        &self.request
    }

    pub fn hop_model(&self) -> &OnlineRidge {
        &self.hop
    }

    /// The snapshot's `predictor{…}` for the request model.
    pub fn request_stats(&self) -> PredictorStats {
        PredictorStats::of("request", &self.request, &self.request_errors)
    }

    /// The same for the hop model.
    pub fn hop_stats(&self) -> PredictorStats {
        PredictorStats::of("hop", &self.hop, &self.hop_errors)
    }
}

impl LatencyModel for LatencyPredictor {
    fn predict_request(&self, features: &RequestFeatures) -> f64 {
        self.predict_latency(features)
    }

    fn predict_hop(&self, features: &HopFeatures) -> f64 {
        self.predict_hop_latency(features)
    }

    fn hop_trained(&self) -> bool {
        self.hop.n_fitted() > 0
    }

    fn observe_hop(&mut self, features: &HopFeatures, observed_ns: f64) {
        LatencyPredictor::observe_hop(self, features, observed_ns);
    }
}

/// Relative error `|p − o| / o` in units of 1e-4 in the histogram: 3 significant digits from
/// 0.01% up, and errors of many thousand percent still fit.
const REL_ERR_SCALE: f64 = 1e4;

/// The relative errors an [`ErrorTally`] counts exactly (those at most each): the snapshot's
/// within-10/20/50% and the bucket bounds of `/metrics`' prediction-error histogram.
pub const EXACT_ERROR_BOUNDS: [f64; 6] = [0.05, 0.10, 0.20, 0.50, 1.0, 2.0];

/// Where 10%, 20% and 50% are in [`EXACT_ERROR_BOUNDS`].
const WITHIN_10: usize = 1;
const WITHIN_20: usize = 2;
const WITHIN_50: usize = 3;

/// Relative errors of predictions: exact counts at most each of [`EXACT_ERROR_BOUNDS`], their
/// exact sum, and a histogram (bounded memory, so a soak can tally forever) for the
/// percentiles.
#[derive(Debug, Clone)]
pub struct ErrorTally {
    count: u64,
    within: [u64; EXACT_ERROR_BOUNDS.len()],
    sum: f64,
    hist: Histogram<u64>,
}

impl Default for ErrorTally {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrorTally {
    pub fn new() -> Self {
        let mut hist = Histogram::new(3).unwrap_or_else(|_| unreachable!("3 sigfig is valid"));
        hist.auto(true);
        ErrorTally {
            count: 0,
            within: [0; EXACT_ERROR_BOUNDS.len()],
            sum: 0.0,
            hist,
        }
    }

    /// Records one prediction against what was observed (ns). An observation of 0 ns (or
    /// less, or not finite) cannot give a relative error and is skipped.
    pub fn record(&mut self, predicted: f64, observed: f64) {
        if observed.is_nan() || observed <= 0.0 || !observed.is_finite() || !predicted.is_finite() {
            return;
        }
        self.record_rel_err((predicted - observed).abs() / observed);
    }

    /// Records one relative error directly.
    pub fn record_rel_err(&mut self, rel: f64) {
        self.count += 1;
        self.sum += rel;
        for (w, limit) in self.within.iter_mut().zip(EXACT_ERROR_BOUNDS) {
            if rel <= limit {
                *w += 1;
            }
        }
        let v = (rel * REL_ERR_SCALE).round().min(u64::MAX as f64 / 4.0) as u64;
        if self.hist.record(v).is_err() {
            self.hist.saturating_record(v);
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum of the relative errors recorded (exact, as `f64` adds).
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Errors at most `rel`: exact at each of [`EXACT_ERROR_BOUNDS`], elsewhere to the
    /// histogram's resolution (3 significant digits of the error × 1e4, rounded).
    pub fn count_at_most(&self, rel: f64) -> u64 {
        if let Some(i) = EXACT_ERROR_BOUNDS.iter().position(|&b| b == rel) {
            return self.within[i];
        }
        if rel.is_nan() || rel < 0.0 {
            return 0;
        }
        if rel == f64::INFINITY {
            return self.count;
        }
        let v = (rel * REL_ERR_SCALE).round().min(u64::MAX as f64 / 4.0) as u64;
        self.hist.count_between(0, v)
    }

    /// Adds another tally's records (per-interval tallies into a run's).
    pub fn add(&mut self, other: &ErrorTally) {
        self.count += other.count;
        self.sum += other.sum;
        for (w, o) in self.within.iter_mut().zip(other.within) {
            *w += o;
        }
        // Both auto-resize and share the precision, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
    }

    pub fn reset(&mut self) {
        self.count = 0;
        self.within = [0; EXACT_ERROR_BOUNDS.len()];
        self.sum = 0.0;
        self.hist.reset();
    }

    pub fn stats(&self) -> ErrorStats {
        let share = |c: u64| {
            if self.count == 0 {
                0.0
            } else {
                c as f64 / self.count as f64
            }
        };
        let q = |q: f64| {
            if self.count == 0 {
                0.0
            } else {
                self.hist.value_at_quantile(q) as f64 / REL_ERR_SCALE
            }
        };
        ErrorStats {
            count: self.count,
            within_10pct: share(self.within[WITHIN_10]),
            within_20pct: share(self.within[WITHIN_20]),
            within_50pct: share(self.within[WITHIN_50]),
            p50_rel_err: q(0.50),
            p95_rel_err: q(0.95),
        }
    }
}

/// Distribution of relative errors: shares in [0, 1], errors as fractions (0.2 = 20%).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorStats {
    pub count: u64,
    pub within_10pct: f64,
    pub within_20pct: f64,
    pub within_50pct: f64,
    pub p50_rel_err: f64,
    pub p95_rel_err: f64,
}

/// The snapshot's `predictor{model, coefficients, n_train, within_10pct, …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorStats {
    /// `request` or `hop`.
    pub model: String,
    /// Intercept first, then one per feature, in ns per unit of the feature.
    pub coefficients: Vec<Coefficient>,
    /// Observations the coefficients were fitted on.
    pub n_train: u64,
    #[serde(flatten)]
    pub errors: ErrorStats,
}

impl PredictorStats {
    fn of(model: &str, m: &OnlineRidge, errors: &ErrorTally) -> Self {
        PredictorStats {
            model: model.into(),
            coefficients: m.coefficient_list(),
            n_train: m.n_fitted(),
            errors: errors.stats(),
        }
    }
}

/// The noise ceiling: how close single observations come to their own request's median.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NoiseCeiling {
    pub requests: u64,
    pub observations: u64,
    pub within_10pct: f64,
    pub within_20pct: f64,
    pub within_50pct: f64,
}

/// Given R repeated observations (ns) per request, the share of single observations within
/// 10/20/50% of that request's median (the mean of the middle two for even R). No predictor
/// can beat it: it is the error of predicting each request by its own median. With odd R the
/// median is itself one of the observations, so at least 1/R of them count as within.
/// Requests with no observation are skipped.
pub fn noise_ceiling<V: AsRef<[f64]>>(repeats: &[V]) -> NoiseCeiling {
    let mut tally = ErrorTally::new();
    let mut buf = Vec::new();
    let mut requests = 0u64;
    for r in repeats {
        let r = r.as_ref();
        if r.is_empty() {
            continue;
        }
        requests += 1;
        buf.clear();
        buf.extend_from_slice(r);
        buf.sort_by(f64::total_cmp);
        let m = buf.len();
        let median = if m % 2 == 1 {
            buf[m / 2]
        } else {
            (buf[m / 2 - 1] + buf[m / 2]) / 2.0
        };
        for &o in r {
            // The median plays the prediction; each observation is judged against it.
            tally.record(median, o);
        }
    }
    let s = tally.stats();
    NoiseCeiling {
        requests,
        observations: s.count,
        within_10pct: s.within_10pct,
        within_20pct: s.within_20pct,
        within_50pct: s.within_50pct,
    }
}
