//! Statistics for regression verdicts, computed from HdrHistograms (the snapshots keep the
//! full histogram, never the raw samples): quantiles, bootstrap intervals of a quantile's
//! ratio, and the Mann–Whitney U test with ties.
//!
//! Bootstrapping a quantile does not need the samples: the q-quantile of a resample of size n
//! from the empirical distribution is the empirical quantile at U₍ₖ₎, the k-th smallest of n
//! uniforms (k = ⌈qn⌉), and U₍ₖ₎ ~ Beta(k, n − k + 1). So one replicate is one Beta draw and
//! one histogram lookup, and a 2,000-replicate interval on 20,000-sample histograms takes
//! microseconds.

use crate::rng::SeededRng;
use hdrhistogram::Histogram;

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut SeededRng) -> f64 {
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
fn resampled_quantile(rng: &mut SeededRng, h: &Histogram<u64>, q: f64) -> f64 {
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
    let mut rng = SeededRng::new(seed);
    let mut out = Vec::with_capacity(replicates);
    for _ in 0..replicates {
        let b = resampled_quantile(&mut rng, base, q).max(1.0);
        let n = resampled_quantile(&mut rng, new, q);
        out.push(n / b);
    }
    out
}

/// Bootstrap replicates of the q-quantile of one histogram.
pub fn bootstrap_quantiles(h: &Histogram<u64>, q: f64, replicates: usize, seed: u64) -> Vec<f64> {
    let mut rng = SeededRng::new(seed);
    (0..replicates)
        .map(|_| resampled_quantile(&mut rng, h, q))
        .collect()
}

/// The `p`-th percentile (0..=1) of `xs`, by nearest rank; `xs` need not be sorted.
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// Two-sided bootstrap p-value for "the ratio is 1": twice the smaller tail beyond 1.
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

    #[test]
    fn normal_tail_matches_tables() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_sf(2.575_829) - 0.005).abs() < 1e-6);
        assert!((normal_sf(-1.0) - 0.841_344_7).abs() < 1e-6);
    }

    #[test]
    fn beta_draws_have_the_right_mean() {
        let mut rng = SeededRng::new(1);
        let (a, b) = (3.0, 7.0);
        let mean: f64 = (0..20_000).map(|_| beta(&mut rng, a, b)).sum::<f64>() / 20_000.0;
        assert!((mean - 0.3).abs() < 0.005, "{mean}");
        let g: f64 = (0..20_000).map(|_| gamma(&mut rng, 0.5)).sum::<f64>() / 20_000.0;
        assert!((g - 0.5).abs() < 0.02, "{g}");
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
    /// variance is 3·2/12 · (6 − 24/20) = 2.4; z = (5 − 3)/√2.4 = 1.291.
    #[test]
    fn mann_whitney_with_ties() {
        let r = mann_whitney(&[(1, 1), (2, 2)], &[(2, 1), (3, 1)]);
        assert_eq!(r.u, 5.0);
        assert!((r.z - 2.0 / 2.4f64.sqrt()).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn identical_samples_are_not_different() {
        let h = hist((1..=1000).map(|v| v * 1000));
        let c = histogram_counts(&h);
        let r = mann_whitney(&c, &c);
        assert!((r.z).abs() < 1e-9 && r.p > 0.99);
        let ratios = bootstrap_ratios(&h, &h, 0.5, 2000, 7);
        assert!(bootstrap_p(&ratios) > 0.2);
        let (lo, hi) = (percentile(&ratios, 0.005), percentile(&ratios, 0.995));
        assert!(lo < 1.0 && hi > 1.0, "[{lo}, {hi}]");
    }

    #[test]
    fn percentile_of_a_known_histogram() {
        let h = hist(1..=100);
        assert_eq!(h.value_at_quantile(0.5), 50);
        assert_eq!(h.value_at_quantile(0.99), 99);
        assert_eq!(percentile(&[5.0, 1.0, 3.0, 2.0, 4.0], 0.5), 3.0);
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
