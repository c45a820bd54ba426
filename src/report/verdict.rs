//! Soak verdicts: does the engine leak, drift or stall? Each verdict is computed from the
//! per-interval figures a soak keeps (a few numbers per interval, never per request) and
//! judged against a threshold the user can change.

use crate::measure::interval::IntervalPoint;
use serde::{Deserialize, Serialize};

/// `pass`, `fail`, or `inconclusive` (too little data to judge; never fails a run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Inconclusive,
}

/// Least-squares slope and intercept of y over x. `None` with fewer than two distinct x.
pub fn least_squares(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

fn median(mut v: Vec<u64>) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[v.len() / 2])
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakVerdict {
    pub status: Status,
    /// RSS slope over the second half of the run (least squares), bytes per 10 000 spreads.
    pub rss_slope_bytes_per_10k_spreads: Option<f64>,
    /// That slope over the second half's spreads, as a percentage of the RSS at its start.
    pub rss_growth_second_half_pct: Option<f64>,
    pub max_rss_growth_pct: f64,
    /// RSS growth below this many bytes over the second half never counts as a leak: in a
    /// process of a few MB, 1% is tens of KB, which allocator and page-cache noise exceed.
    pub min_growth_bytes: u64,
    /// RSS growth over the second half, in bytes.
    pub rss_growth_second_half_bytes: Option<f64>,
    /// Pool records still in use at the end (must be 0); null without the pool.
    pub pool_in_use_at_end: Option<u64>,
    pub allocs_per_spread_first_half: Option<f64>,
    pub allocs_per_spread_second_half: Option<f64>,
    /// The second half allocates no more per spread than the first (+10%, +0.001).
    pub allocs_steady: bool,
    pub reason: String,
}

/// The default [`LeakVerdict::min_growth_bytes`]: 1 MiB.
pub const LEAK_FLOOR_BYTES: u64 = 1 << 20;

/// Leak: RSS must not grow over the second half by more than `max_growth_pct` of its level
/// there (growth below `min_growth_bytes` never counts), the pool must be empty at the end,
/// and allocations per spread must not rise from the first half to the second.
pub fn leak(
    points: &[IntervalPoint],
    pool_in_use_at_end: Option<u64>,
    max_rss_growth_pct: f64,
    min_growth_bytes: u64,
) -> LeakVerdict {
    let half = points.len() / 2;
    let (first, second) = points.split_at(half);
    let rate = |ps: &[IntervalPoint]| {
        let spreads: u64 = ps.iter().map(|p| p.spreads).sum();
        (spreads > 0).then(|| ps.iter().map(|p| p.allocs).sum::<u64>() as f64 / spreads as f64)
    };
    let (a1, a2) = (rate(first), rate(second));
    let allocs_steady = match (a1, a2) {
        (Some(a), Some(b)) => b <= a * 1.1 + 0.001,
        _ => true,
    };
    let rss_points: Vec<(f64, f64)> = second
        .iter()
        .filter_map(|p| p.rss_bytes.map(|r| (p.spreads_done as f64, r as f64)))
        .collect();
    let fit = least_squares(&rss_points);
    let growth_bytes = fit.and_then(|(slope, _)| {
        let span = second
            .last()?
            .spreads_done
            .saturating_sub(second.first()?.spreads_done) as f64;
        Some(slope * span)
    });
    let growth = growth_bytes.and_then(|g| {
        let base = second.first()?.rss_bytes? as f64;
        (base > 0.0).then(|| g / base * 100.0)
    });
    let rss_leak =
        |g: f64| g > max_rss_growth_pct && growth_bytes.unwrap_or(0.0) > min_growth_bytes as f64;
    let pool_ok = pool_in_use_at_end.is_none_or(|n| n == 0);
    let mut reasons = Vec::new();
    let status = match growth {
        None => {
            reasons.push("too few intervals with RSS readings in the second half".to_string());
            if pool_ok && allocs_steady {
                Status::Inconclusive
            } else {
                Status::Fail
            }
        }
        Some(g) => {
            if rss_leak(g) {
                reasons.push(format!(
                    "RSS grew {g:.2}% ({:.0} bytes) over the second half (limits {max_rss_growth_pct}% and {min_growth_bytes} bytes)",
                    growth_bytes.unwrap_or(0.0)
                ));
            }
            if rss_leak(g) || !pool_ok || !allocs_steady {
                Status::Fail
            } else {
                Status::Pass
            }
        }
    };
    if !pool_ok {
        reasons.push(format!(
            "{} pool records still in use at the end",
            pool_in_use_at_end.unwrap_or(0)
        ));
    }
    if !allocs_steady {
        reasons.push("allocations per spread rose in the second half".into());
    }
    LeakVerdict {
        status,
        rss_slope_bytes_per_10k_spreads: fit.map(|(s, _)| s * 10_000.0),
        rss_growth_second_half_pct: growth,
        max_rss_growth_pct,
        min_growth_bytes,
        rss_growth_second_half_bytes: growth_bytes,
        pool_in_use_at_end,
        allocs_per_spread_first_half: a1,
        allocs_per_spread_second_half: a2,
        allocs_steady,
        reason: reasons.join("; "),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftVerdict {
    pub status: Status,
    /// Median of the interval p99s over the first quarter of intervals.
    pub p99_first_ns: Option<u64>,
    /// Median of the interval p99s over the last quarter.
    pub p99_last_ns: Option<u64>,
    pub ratio: Option<f64>,
    pub max_ratio: f64,
}

/// Drift: the last intervals' p99 against the first ones', as a ratio (medians of interval
/// p99s over the first and last quarter, so one noisy interval does not decide).
pub fn drift(points: &[IntervalPoint], max_ratio: f64) -> DriftVerdict {
    let q = (points.len() / 4).max(1);
    let enough = points.len() >= 4;
    let first = median(points.iter().take(q).map(|p| p.p99_ns).collect());
    let last = median(points.iter().rev().take(q).map(|p| p.p99_ns).collect());
    let ratio = match (first, last) {
        (Some(f), Some(l)) if f > 0 && enough => Some(l as f64 / f as f64),
        _ => None,
    };
    DriftVerdict {
        status: match ratio {
            None => Status::Inconclusive,
            Some(r) if r > max_ratio => Status::Fail,
            Some(_) => Status::Pass,
        },
        p99_first_ns: first,
        p99_last_ns: last,
        ratio,
        max_ratio,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StallVerdict {
    pub status: Status,
    pub max_ns: u64,
    pub p999_ns: u64,
    pub ratio: Option<f64>,
    pub max_ratio: f64,
}

/// Stalls: the longest request against the run's p99.9.
pub fn stall(max_ns: u64, p999_ns: u64, max_ratio: f64) -> StallVerdict {
    let ratio = (p999_ns > 0).then(|| max_ns as f64 / p999_ns as f64);
    StallVerdict {
        status: match ratio {
            None => Status::Inconclusive,
            Some(r) if r > max_ratio => Status::Fail,
            Some(_) => Status::Pass,
        },
        max_ns,
        p999_ns,
        ratio,
        max_ratio,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(rss: &[u64], allocs: &[u64], p99: &[u64]) -> Vec<IntervalPoint> {
        (0..rss.len())
            .map(|i| IntervalPoint {
                spreads_done: (i as u64 + 1) * 1000,
                spreads: 1000,
                p99_ns: p99[i],
                rss_bytes: Some(rss[i]),
                allocs: allocs[i],
            })
            .collect()
    }

    #[test]
    fn least_squares_fits_a_line() {
        let (s, b) = least_squares(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]).unwrap();
        assert!((s - 2.0).abs() < 1e-12 && (b - 1.0).abs() < 1e-12);
        assert!(least_squares(&[(1.0, 1.0)]).is_none());
        assert!(least_squares(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
    }

    #[test]
    fn flat_rss_passes_and_growing_rss_fails() {
        let flat = pts(&[100_000_000; 8], &[0; 8], &[10; 8]);
        let v = leak(&flat, Some(0), 1.0, LEAK_FLOOR_BYTES);
        assert_eq!(v.status, Status::Pass);
        assert_eq!(v.rss_growth_second_half_pct, Some(0.0));
        // +1 MB per 1000 spreads; the second half starts at 104 MB and spans 3000 spreads:
        // 3 MB / 104 MB = 2.885%.
        let rss: Vec<u64> = (0..8).map(|i| 100_000_000 + i * 1_000_000).collect();
        let v = leak(
            &pts(&rss, &[0; 8], &[10; 8]),
            Some(0),
            1.0,
            LEAK_FLOOR_BYTES,
        );
        assert_eq!(v.status, Status::Fail);
        assert!(
            (v.rss_growth_second_half_pct.unwrap() - 2.885).abs() < 0.001,
            "{v:?}"
        );
        assert!((v.rss_slope_bytes_per_10k_spreads.unwrap() - 10_000_000.0).abs() < 1.0);
    }

    #[test]
    fn small_absolute_growth_is_not_a_leak() {
        // +20 KB per interval on 5 MB: 1.2% over the second half, but only 60 KB.
        let rss: Vec<u64> = (0..8).map(|i| 5_000_000 + i * 20_000).collect();
        let v = leak(
            &pts(&rss, &[0; 8], &[10; 8]),
            Some(0),
            1.0,
            LEAK_FLOOR_BYTES,
        );
        assert!(v.rss_growth_second_half_pct.unwrap() > 1.0);
        assert_eq!(v.status, Status::Pass, "{v:?}");
    }

    #[test]
    fn pool_in_use_or_rising_allocations_fail_the_leak_verdict() {
        let flat = pts(&[1_000; 8], &[0; 8], &[10; 8]);
        assert_eq!(
            leak(&flat, Some(1), 1.0, LEAK_FLOOR_BYTES).status,
            Status::Fail
        );
        let rising = pts(&[1_000; 8], &[0, 0, 0, 0, 5, 5, 5, 5], &[10; 8]);
        let v = leak(&rising, None, 1.0, LEAK_FLOOR_BYTES);
        assert_eq!(v.status, Status::Fail);
        assert!(!v.allocs_steady);
    }

    #[test]
    fn drift_compares_quarters_by_median() {
        let p = pts(&[1; 8], &[0; 8], &[100, 100, 100, 100, 100, 100, 150, 150]);
        let v = drift(&p, 1.4);
        assert_eq!(v.ratio, Some(1.5));
        assert_eq!(v.status, Status::Fail);
        assert_eq!(drift(&p, 2.0).status, Status::Pass);
        assert_eq!(drift(&p[..3], 2.0).status, Status::Inconclusive);
    }

    #[test]
    fn stall_ratio() {
        assert_eq!(stall(5_000, 1_000, 10.0).status, Status::Pass);
        assert_eq!(stall(50_000, 1_000, 10.0).status, Status::Fail);
        assert_eq!(stall(0, 0, 10.0).status, Status::Inconclusive);
    }
}
