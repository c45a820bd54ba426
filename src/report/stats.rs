//! Statistics for regression verdicts, computed from HdrHistograms (the snapshots keep the
//! full histogram, never the raw samples): quantiles, bootstrap intervals of a quantile's
//! ratio, the Mann–Whitney U test with ties, and Student's t for the per-round ratios of
//! `compare`.
//!
//! Bootstrapping a quantile does not need the samples: the q-quantile of a resample of size n
//! from the empirical distribution is the empirical quantile at U₍ₖ₎, the k-th smallest of n
//! uniforms (k = ⌈qn⌉), and U₍ₖ₎ ~ Beta(k, n − k + 1). So one replicate is one Beta draw and
//! one lookup in the histogram's cumulative counts (a binary search), and even a
//! 200,000-replicate interval on 20,000-sample histograms takes a fraction of a second.

use crate::rng::SeededRng;
use hdrhistogram::Histogram;

/// Fewest requests on each side behind any judged quantile.
pub const MIN_REQUESTS: u64 = 200;

/// Fewest requests beyond the judged quantile on each side.
pub const MIN_TAIL: u64 = 10;

/// Whether `n` requests resolve the q-quantile well enough to judge it: at least
/// [`MIN_REQUESTS`] requests, and at least [`MIN_TAIL`] of them beyond the quantile
/// (n·(1 − q) ≥ 10).
///
/// Why: the bootstrap resamples the observed order statistics, so a quantile with only a
/// handful of requests beyond it has a resampling distribution of a handful of values — with
/// one request per side it is a single value, and the "interval" [1.5, 1.5] of 20 µs against
/// 30 µs looks certain. Ten requests beyond the quantile give the tail some resolution, and
/// 200 per side is where the intervals were checked to be well calibrated (against numpy, and
/// in this module's coverage tests); it is also ample for the Mann–Whitney normal
/// approximation that gates the median. So p99 needs 1,000 requests and p99.9 10,000.
pub fn quantile_resolved(n: u64, q: f64) -> bool {
    // The small slack keeps 1000 · (1 − 0.99) from rounding below 10.
    n >= MIN_REQUESTS && n as f64 * (1.0 - q) + 1e-9 >= MIN_TAIL as f64
}

/// Fewest bootstrap replicates per metric.
pub const MIN_REPLICATES: usize = 2000;

/// Most bootstrap replicates per metric (a tenth of a second per metric in a release build).
pub const MAX_REPLICATES: usize = 200_000;

/// The smallest α the bootstrap can resolve: 20 / [`MAX_REPLICATES`].
pub const MIN_ALPHA: f64 = 20.0 / MAX_REPLICATES as f64;

/// Replicates for a (1 − α) interval and a p-value compared with α: 20/α (at least
/// [`MIN_REPLICATES`]), so each tail of the interval holds at least 10 replicates and the
/// p-value's floor 1/R is at most α/20. With a fixed 2,000 the floor 1/2000 would reach α at
/// α = 0.0005 and silently turn the gate off. α below [`MIN_ALPHA`] is refused by the caller.
pub fn replicates_for(alpha: f64) -> usize {
    let r = (20.0 / alpha).ceil();
    if r.is_finite() {
        (r as usize).clamp(MIN_REPLICATES, MAX_REPLICATES)
    } else {
        MAX_REPLICATES
    }
}

/// A histogram's cumulative counts, for O(log n) quantile lookups with the same nearest-rank
/// rule as `Histogram::value_at_quantile` (rank ⌈qn⌉, at least 1; the bucket's highest
/// equivalent value).
#[derive(Debug, Clone)]
pub struct Cdf {
    values: Vec<u64>,
    cumulative: Vec<u64>,
}

impl Cdf {
    pub fn of(h: &Histogram<u64>) -> Cdf {
        let mut total = 0;
        let (values, cumulative) = histogram_counts(h)
            .into_iter()
            .map(|(v, c)| {
                total += c;
                (v, total)
            })
            .unzip();
        Cdf { values, cumulative }
    }

    pub fn len(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of nearest rank ⌈q·n⌉ (0 for an empty histogram).
    pub fn value_at_quantile(&self, q: f64) -> u64 {
        let n = self.len();
        if n == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).clamp(1, n);
        let i = self.cumulative.partition_point(|&c| c < rank);
        self.values[i]
    }
}

/// A standard normal draw (Box–Muller).
pub fn normal(rng: &mut SeededRng) -> f64 {
    let u1 = 1.0 - rng.unit(); // (0, 1]
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A Gamma(shape, 1) draw (Marsaglia & Tsang, 2000; shape < 1 boosted).
pub fn gamma(rng: &mut SeededRng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = 1.0 - rng.unit();
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = 1.0 - rng.unit();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// A Beta(a, b) draw.
pub fn beta(rng: &mut SeededRng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    x / (x + y)
}

/// One bootstrap replicate of the q-quantile of `h`.
fn resampled_quantile(rng: &mut SeededRng, h: &Cdf, q: f64) -> f64 {
    let n = h.len() as f64;
    let k = (q * n).ceil().clamp(1.0, n);
    let u = beta(rng, k, n - k + 1.0);
    h.value_at_quantile(u) as f64
}

/// Bootstrap replicates of `quantile(new, q) / quantile(base, q)`.
pub fn bootstrap_ratios(
    base: &Histogram<u64>,
    new: &Histogram<u64>,
    q: f64,
    replicates: usize,
    seed: u64,
) -> Vec<f64> {
    let (base, new) = (Cdf::of(base), Cdf::of(new));
    let mut rng = SeededRng::new(seed);
    let mut out = Vec::with_capacity(replicates);
    for _ in 0..replicates {
        let b = resampled_quantile(&mut rng, &base, q).max(1.0);
        let n = resampled_quantile(&mut rng, &new, q);
        out.push(n / b);
    }
    out
}

/// Bootstrap replicates of the q-quantile of one histogram.
pub fn bootstrap_quantiles(h: &Histogram<u64>, q: f64, replicates: usize, seed: u64) -> Vec<f64> {
    let h = Cdf::of(h);
    let mut rng = SeededRng::new(seed);
    (0..replicates)
        .map(|_| resampled_quantile(&mut rng, &h, q))
        .collect()
}

/// The `p`-th percentile (0..=1) of `xs`, by nearest rank (the ⌈p·n⌉-th smallest, at least
/// the first); `xs` need not be sorted.
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// Two-sided bootstrap p-value for "the ratio is 1": twice the smaller tail beyond 1, at
/// least 1/R (R replicates cannot show a smaller p).
pub fn bootstrap_p(ratios: &[f64]) -> f64 {
    if ratios.is_empty() {
        return 1.0;
    }
    let below = ratios.iter().filter(|&&r| r <= 1.0).count() as f64;
    let above = ratios.iter().filter(|&&r| r >= 1.0).count() as f64;
    let n = ratios.len() as f64;
    (2.0 * below.min(above) / n).min(1.0).max(1.0 / n)
}

/// Result of a Mann–Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MannWhitney {
    /// U for the new sample: how often a new value exceeds a base value (ties count half).
    pub u: f64,
    /// Normal approximation with tie correction.
    pub z: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// U / (n₁·n₂): the probability that a new request is slower than a base one.
    pub prob_new_slower: f64,
}

/// Mann–Whitney U on two samples given as (value, count) pairs sorted by value. Values in
/// the same HdrHistogram bucket are ties.
pub fn mann_whitney(base: &[(u64, u64)], new: &[(u64, u64)]) -> MannWhitney {
    let n1: f64 = base.iter().map(|p| p.1 as f64).sum();
    let n2: f64 = new.iter().map(|p| p.1 as f64).sum();
    let (mut i, mut j) = (0, 0);
    let mut base_below = 0.0; // base values below the current value
    let mut u = 0.0;
    let mut tie_term = 0.0;
    while i < base.len() || j < new.len() {
        let v = match (base.get(i), new.get(j)) {
            (Some(a), Some(b)) => a.0.min(b.0),
            (Some(a), None) => a.0,
            (None, Some(b)) => b.0,
            (None, None) => break,
        };
        let a = if base.get(i).is_some_and(|p| p.0 == v) {
            i += 1;
            base[i - 1].1 as f64
        } else {
            0.0
        };
        let b = if new.get(j).is_some_and(|p| p.0 == v) {
            j += 1;
            new[j - 1].1 as f64
        } else {
            0.0
        };
        u += b * (base_below + 0.5 * a);
        base_below += a;
        let t = a + b;
        tie_term += t * t * t - t;
    }
    let n = n1 + n2;
    let mean = n1 * n2 / 2.0;
    let var = if n > 1.0 {
        n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))
    } else {
        0.0
    };
    let z = if var > 0.0 {
        (u - mean) / var.sqrt()
    } else {
        0.0
    };
    MannWhitney {
        u,
        z,
        p: (2.0 * normal_sf(z.abs())).min(1.0),
        prob_new_slower: if n1 * n2 > 0.0 { u / (n1 * n2) } else { 0.5 },
    }
}

/// The (value, count) pairs of a histogram, ascending.
pub fn histogram_counts(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| {
            (
                h.highest_equivalent(v.value_iterated_to()),
                v.count_at_value(),
            )
        })
        .collect()
}

/// Survival function of the standard normal, 1 − Φ(x), via erfc.
pub fn normal_sf(x: f64) -> f64 {
    0.5 * erfc(x / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' erfcc, |error| < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let mut a = G[0];
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised incomplete beta function I_x(a, b) (continued fraction, Numerical
/// Recipes' betacf, to 1e-14).
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The continued fraction converges fast for x < (a + 1)/(a + b + 2); use the symmetry
    // I_x(a, b) = 1 − I_{1−x}(b, a) otherwise.
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(1.0 - x, b, a);
    }
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-14 {
            break;
        }
    }
    front * h / a
}

/// Survival function of Student's t with `df` degrees of freedom, P(T > t).
pub fn t_sf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5);
    if t >= 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

/// The quantile of Student's t: the t with P(T ≤ t) = `p`, for p in (0, 1) (bisection on
/// [`t_sf`], to a relative 1e-12).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let tail = 1.0 - p;
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while t_sf(hi, df) > tail && hi < 1e300 {
        hi *= 2.0;
    }
    for _ in 0..2000 {
        let mid = 0.5 * (lo + hi);
        if t_sf(mid, df) > tail {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// A Student-t interval for the mean of a small sample, with the two-sided p-value of
/// "the mean is 0".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TInterval {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    pub p: f64,
}

/// The (1 − α) t-interval for the mean of `xs` and the t-test's two-sided p; `None` with
/// fewer than two values.
pub fn t_interval(xs: &[f64], alpha: f64) -> Option<TInterval> {
    let k = xs.len();
    if k < 2 {
        return None;
    }
    let kf = k as f64;
    let mean = xs.iter().sum::<f64>() / kf;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (kf - 1.0);
    let se = (var / kf).sqrt();
    let df = kf - 1.0;
    let t = t_quantile(1.0 - alpha / 2.0, df);
    let p = if se > 0.0 {
        (2.0 * t_sf((mean / se).abs(), df)).min(1.0)
    } else if mean == 0.0 {
        1.0
    } else {
        0.0
    };
    Some(TInterval {
        mean,
        low: mean - t * se,
        high: mean + t * se,
        p,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::new(3).unwrap();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    fn mean_var(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        (
            m,
            xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0),
        )
    }

    #[test]
    fn normal_tail_matches_tables() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_sf(2.575_829) - 0.005).abs() < 1e-6);
        assert!((normal_sf(-1.0) - 0.841_344_7).abs() < 1e-6);
    }

    /// Mean and variance of the Beta draws, at small parameters and at the sizes a median of
    /// 1,000 requests uses: Beta(a, b) has mean a/(a+b) and variance ab/((a+b)²(a+b+1)).
    /// With 40,000 draws the variance estimate is within ~0.7% (one sd), so ±5% catches a
    /// draw with half or double the variance at once.
    #[test]
    fn beta_draws_have_the_right_mean_and_variance() {
        let mut rng = SeededRng::new(1);
        for (a, b) in [(3.0, 7.0), (500.0, 501.0), (990.0, 11.0)] {
            let xs: Vec<f64> = (0..40_000).map(|_| beta(&mut rng, a, b)).collect();
            let (m, v) = mean_var(&xs);
            let want_m = a / (a + b);
            let want_v = a * b / ((a + b) * (a + b) * (a + b + 1.0));
            assert!(
                (m - want_m).abs() < 4.0 * (want_v / 40_000.0).sqrt(),
                "{a},{b}: mean {m}"
            );
            assert!(
                (v / want_v - 1.0).abs() < 0.05,
                "{a},{b}: var {v} want {want_v}"
            );
        }
        let g: Vec<f64> = (0..40_000).map(|_| gamma(&mut rng, 0.5)).collect();
        let (m, v) = mean_var(&g);
        assert!(
            (m - 0.5).abs() < 0.02 && (v / 0.5 - 1.0).abs() < 0.08,
            "{m} {v}"
        );
    }

    /// The resampled quantile's spread matches the order statistic's: the replicates of the
    /// median of 1..=1000 have variance n²·Var(Beta(500, 501)) ≈ 249.5.
    #[test]
    fn resampled_median_has_the_order_statistics_spread() {
        let h = hist(1000..2000);
        let reps = bootstrap_quantiles(&h, 0.5, 20_000, 9);
        let (m, v) = mean_var(&reps);
        assert!((m - 1500.0).abs() < 1.0, "{m}");
        let want = 1000.0f64.powi(2) * 500.0 * 501.0 / (1001.0f64.powi(2) * 1002.0);
        assert!((v / want - 1.0).abs() < 0.06, "{v} vs {want}");
    }

    /// Hand-checked: base {1, 2, 3}, new {4, 5}: every new value exceeds every base value, so
    /// U = 6 = n₁n₂; mean 3, variance 3·2·6/12 = 3, z = 3/√3 = 1.732, p = 0.0833.
    #[test]
    fn mann_whitney_small_sample() {
        let r = mann_whitney(&[(1, 1), (2, 1), (3, 1)], &[(4, 1), (5, 1)]);
        assert_eq!(r.u, 6.0);
        assert!((r.z - 3f64.sqrt()).abs() < 1e-12);
        assert!((r.p - 0.083_264).abs() < 1e-4, "{r:?}");
        assert_eq!(r.prob_new_slower, 1.0);
    }

    /// Hand-checked with ties: base {1, 2, 2}, new {2, 3}. New 2 beats base 1 and ties two
    /// 2s (1 + 1) = 2; new 3 beats all three = 3; U = 5. Ties: one group of size 3, so the
    /// variance is 3·2/12 · (6 − 24/20) = 2.4; z = (5 − 3)/√2.4 = 1.291 (without the tie
    /// correction it would be 2/√3 = 1.155).
    #[test]
    fn mann_whitney_with_ties() {
        let r = mann_whitney(&[(1, 1), (2, 2)], &[(2, 1), (3, 1)]);
        assert_eq!(r.u, 5.0);
        assert!((r.z - 2.0 / 2.4f64.sqrt()).abs() < 1e-12, "{r:?}");
        assert!((r.p - 2.0 * normal_sf(2.0 / 2.4f64.sqrt())).abs() < 1e-12);
    }

    #[test]
    fn identical_samples_are_not_different() {
        let h = hist((1..=1000).map(|v| v * 1000));
        let c = histogram_counts(&h);
        let r = mann_whitney(&c, &c);
        assert!((r.z).abs() < 1e-9 && r.p > 0.99);
    }

    /// Nearest rank: the ⌈p·n⌉-th smallest. Hand-checked on 8 values.
    #[test]
    fn percentile_is_nearest_rank() {
        let xs = [5.0, 1.0, 7.0, 3.0, 8.0, 2.0, 6.0, 4.0];
        for (p, want) in [
            (0.0, 1.0),
            (0.125, 1.0),
            (0.2, 2.0),
            (0.5, 4.0),
            (0.51, 5.0),
            (0.874, 7.0),
            (0.875, 7.0),
            (0.876, 8.0),
            (1.0, 8.0),
        ] {
            assert_eq!(percentile(&xs, p), want, "p = {p}");
        }
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn percentile_of_a_known_histogram() {
        let h = hist(1..=100);
        assert_eq!(h.value_at_quantile(0.5), 50);
        assert_eq!(h.value_at_quantile(0.99), 99);
        let c = Cdf::of(&h);
        assert_eq!(c.value_at_quantile(0.5), 50);
        assert_eq!(c.value_at_quantile(0.501), 51);
        assert_eq!(c.value_at_quantile(0.0), 1);
        assert_eq!(c.value_at_quantile(1.0), 100);
    }

    /// The binary-search lookup agrees with HdrHistogram's own linear scan everywhere.
    #[test]
    fn cdf_lookup_matches_the_histogram() {
        let mut rng = SeededRng::new(4);
        for _ in 0..20 {
            let n = 1 + rng.below(3000);
            let h = hist((0..n).map(|_| 1 + (rng.unit().powi(3) * 5e6) as u64));
            let c = Cdf::of(&h);
            assert_eq!(c.len(), h.len());
            for i in 1..=200 {
                let q = i as f64 / 200.0 - rng.unit() * 5e-3;
                assert_eq!(
                    c.value_at_quantile(q),
                    h.value_at_quantile(q),
                    "q {q} n {n}"
                );
            }
        }
    }

    /// Two-sided: the same p whichever side of 1 the replicates fall on; floor 1/R.
    #[test]
    fn bootstrap_p_is_two_sided_with_a_floor() {
        let mut up = vec![1.1; 97];
        up.extend([0.9; 3]);
        assert!((bootstrap_p(&up) - 0.06).abs() < 1e-12);
        let down: Vec<f64> = up.iter().map(|r| 1.0 / r).collect();
        assert!((bootstrap_p(&down) - 0.06).abs() < 1e-12);
        assert!((bootstrap_p(&[1.2; 100]) - 0.01).abs() < 1e-12);
        assert!((bootstrap_p(&[0.8; 100]) - 0.01).abs() < 1e-12);
        assert_eq!(bootstrap_p(&[1.0; 100]), 1.0);
    }

    #[test]
    fn resolution_rule() {
        for (n, q, ok) in [
            (1, 0.5, false),
            (10, 0.5, false),
            (199, 0.5, false),
            (200, 0.5, true),
            (200, 0.95, true),
            (200, 0.99, false),
            (999, 0.99, false),
            (1000, 0.99, true),
            (9999, 0.999, false),
            (10_000, 0.999, true),
        ] {
            assert_eq!(quantile_resolved(n, q), ok, "n {n} q {q}");
        }
    }

    #[test]
    fn replicates_resolve_alpha() {
        assert_eq!(replicates_for(0.01), 2000);
        assert_eq!(replicates_for(0.05), 2000);
        assert_eq!(replicates_for(0.0005), 40_000);
        assert_eq!(replicates_for(0.0001), 200_000);
        assert_eq!(replicates_for(1e-9), MAX_REPLICATES);
        assert!((MIN_ALPHA - 1e-4).abs() < 1e-15);
        // The p floor stays well below every α that is not refused.
        assert!(1.0 / replicates_for(MIN_ALPHA) as f64 <= MIN_ALPHA / 20.0);
    }

    /// Table values of Student's t (two decimals more than printed tables, from scipy).
    #[test]
    fn t_quantiles_match_tables() {
        for (p, df, want) in [
            (0.975, 1.0, 12.706_204_7),
            (0.975, 5.0, 2.570_581_8),
            (0.995, 10.0, 3.169_272_7),
            (0.9995, 4.0, 8.610_301_6),
            (0.95, 30.0, 1.697_260_9),
            // Large df: the normal quantile z(0.9999) = 3.719016.
            (0.9999, 1e8, 3.719_016),
        ] {
            let t = t_quantile(p, df);
            assert!(
                (t - want).abs() < 1e-6 * want,
                "t({p}, {df}) = {t}, want {want}"
            );
        }
        // Far tails, as a sequential compare's per-look level needs: the quantile inverts sf.
        for df in [3.0, 9.0, 39.0] {
            let t = t_quantile(1.0 - 1e-5, df);
            assert!((t_sf(t, df) / 1e-5 - 1.0).abs() < 1e-6, "{df}: {t}");
        }
        assert!((t_sf(2.0, 10.0) - 0.036_694).abs() < 1e-6);
        assert!((t_sf(-2.0, 10.0) - (1.0 - 0.036_694)).abs() < 1e-6);
        // df = 2 has a closed form: P(T > t) = (1 − t/√(t² + 2)) / 2.
        let t = 3.0;
        assert!((t_sf(t, 2.0) - 0.5 * (1.0 - t / (t * t + 2.0f64).sqrt())).abs() < 1e-12);
    }

    /// Hand-computed: {0.1, 0.2, 0.3}: mean 0.2, s = 0.1, se = 0.1/√3 = 0.057735; the 99%
    /// interval is 0.2 ± t(0.995, 2) · se = 0.2 ± 9.924843 · 0.057735 = [−0.37301, 0.77301];
    /// t = 3.4641, p = 1 − 3.4641/√14 = 0.074180.
    #[test]
    fn t_interval_hand_computed() {
        let r = t_interval(&[0.1, 0.2, 0.3], 0.01).unwrap();
        assert!((r.mean - 0.2).abs() < 1e-12);
        assert!((r.low + 0.373_01).abs() < 1e-4, "{r:?}");
        assert!((r.high - 0.773_01).abs() < 1e-4, "{r:?}");
        assert!((r.p - 0.074_180).abs() < 1e-5, "{r:?}");
        assert!(t_interval(&[0.1], 0.01).is_none());
    }

    /// Coverage of the t-interval over seeded samples of 6: within binomial bounds of 80%.
    #[test]
    fn t_interval_coverage() {
        let mut rng = SeededRng::new(11);
        let trials = 2000;
        let covered = (0..trials)
            .filter(|_| {
                let xs: Vec<f64> = (0..6).map(|_| 0.3 + 0.1 * normal(&mut rng)).collect();
                let r = t_interval(&xs, 0.2).unwrap();
                r.low <= 0.3 && 0.3 <= r.high
            })
            .count();
        // 1600 ± 3.5 sd (sd = √(2000 · 0.8 · 0.2) = 17.9).
        assert!((1537..=1663).contains(&covered), "{covered} of {trials}");
    }

    /// A known 20% slowdown: the bootstrap interval covers 1.2 and excludes 1.
    #[test]
    fn bootstrap_interval_covers_a_known_ratio() {
        let base = hist((0..20_000u64).map(|i| 10_000 + (i * 7919) % 20_000));
        let new = hist((0..20_000u64).map(|i| (10_000 + (i * 7919) % 20_000) * 6 / 5));
        let ratios = bootstrap_ratios(&base, &new, 0.5, 2000, 3);
        let (lo, hi) = (percentile(&ratios, 0.005), percentile(&ratios, 0.995));
        assert!(lo < 1.2 && hi > 1.2 && lo > 1.1, "[{lo}, {hi}]");
        assert!(bootstrap_p(&ratios) <= 0.001);
        let mw = mann_whitney(&histogram_counts(&base), &histogram_counts(&new));
        assert!(mw.p < 1e-10 && mw.prob_new_slower > 0.6, "{mw:?}");
    }
}
