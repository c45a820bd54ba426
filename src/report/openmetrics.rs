//! OpenMetrics text for `--metrics-addr`'s `/metrics`, written with the `prometheus-client`
//! crate from plain figures ([`MetricsView`]), so the encoder knows nothing of how they were
//! measured and the live server (`crate::live`) knows nothing of the format.
//!
//! The latency histogram's buckets are **counted** from the recorded HdrHistogram, never
//! derived from percentiles: every recorded bucket of the HdrHistogram (3 significant digits)
//! is assigned to the first bound at or above its highest equivalent value, so a value within
//! 0.1% of a bound may be counted on either side of it. `_sum` is HdrHistogram's mean times
//! its count — the `latency_ns.mean × latency_ns.count` of the snapshot, in seconds.
//!
//! The prediction-error histogram's buckets are the predictor's exact counts of relative errors
//! at most each bound (`engine::predictor::EXACT_ERROR_BOUNDS` holds every bound here), and
//! its `_sum` the exact sum of those errors.
//!
//! Every metric is labelled with the `setting` it measures (a side-by-side `run` has several),
//! except the process's RSS. A figure that cannot be read is absent, never a zero: the pool
//! gauges without a pool, allocations without the counting allocator, the cache miss rate
//! without hardware counters.

use hdrhistogram::Histogram;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::fmt;

/// Upper bounds of the latency histogram's buckets, in seconds (`+Inf` follows): 1-2.5-5 steps
/// from 1 µs to 10 s, which covers a hot spread and a stalled one alike.
pub const LATENCY_BOUNDS_S: &[f64] = &[
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
    5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds of the prediction-error histogram's buckets (relative error
/// `|predicted − observed| / observed`; `+Inf` follows): the bounds the tally counts exactly.
pub const PREDICTION_ERROR_BOUNDS: &[f64] = &crate::engine::predictor::EXACT_ERROR_BOUNDS;

/// The content type `/metrics` is served with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What `/metrics` shows at one moment.
#[derive(Debug, Clone, Default)]
pub struct MetricsView<'a> {
    pub settings: Vec<SettingMetrics<'a>>,
    /// The process's resident set.
    pub rss_bytes: Option<u64>,
    /// Whether the measurement has ended (the figures are final).
    pub finished: bool,
}

/// One setting's figures.
#[derive(Debug, Clone)]
pub struct SettingMetrics<'a> {
    pub label: &'a str,
    /// Measured requests' latencies, in nanoseconds.
    pub latency: &'a Histogram<u64>,
    pub spreads: u64,
    /// Requests the latency budget cut short, and those it did not run (fallback).
    pub partial: u64,
    pub fallback: u64,
    pub pool: Option<PoolGauges>,
    pub allocs_per_spread: Option<f64>,
    pub cache_miss_rate: Option<f64>,
    pub batch_size: Option<u64>,
    /// With the predictor on: the relative errors of its predictions.
    pub prediction_error: Option<CountedBuckets>,
}

/// A histogram whose buckets were counted elsewhere: non-cumulative counts per upper bound
/// (ending with `+Inf`), as the encoder takes them, with the sum of the observations.
#[derive(Debug, Clone, PartialEq)]
pub struct CountedBuckets {
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum: f64,
}

impl CountedBuckets {
    /// From a count of observations at most each of `bounds` (ascending), `count` in all.
    pub fn from_at_most(
        bounds: &[f64],
        at_most: impl Fn(f64) -> u64,
        count: u64,
        sum: f64,
    ) -> CountedBuckets {
        let mut below = 0;
        let buckets = bounds
            .iter()
            .map(|&b| (b, at_most(b)))
            .chain(std::iter::once((f64::INFINITY, count)))
            .map(|(b, c)| {
                // Counts are cumulative and never shrink; saturate rather than trust that.
                let n = c.saturating_sub(below);
                below = below.max(c);
                (b, n)
            })
            .collect();
        CountedBuckets {
            buckets,
            count,
            sum,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PoolGauges {
    pub hit_rate: f64,
    pub utilization: f64,
    pub high_water_mark: u64,
}

/// The non-cumulative count of each bucket of [`LATENCY_BOUNDS_S`] and `+Inf`, as the
/// encoder takes them.
pub fn latency_buckets(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    let mut counts = vec![0u64; LATENCY_BOUNDS_S.len() + 1];
    for v in h.iter_recorded() {
        let s = h.highest_equivalent(v.value_iterated_to()) as f64 / 1e9;
        let i = LATENCY_BOUNDS_S
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(LATENCY_BOUNDS_S.len());
        counts[i] += v.count_at_value();
    }
    LATENCY_BOUNDS_S
        .iter()
        .copied()
        .chain(std::iter::once(f64::INFINITY))
        .zip(counts)
        .collect()
}

/// The OpenMetrics text of `view`, ending in `# EOF`.
pub fn render(view: &MetricsView<'_>) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Frozen(Figures::of(view))));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

/// The figures copied out of a view: a registered collector must own what it encodes.
#[derive(Debug)]
struct Figures {
    settings: Vec<Owned>,
    rss_bytes: Option<u64>,
    finished: bool,
}

#[derive(Debug)]
struct Owned {
    label: String,
    buckets: Vec<(f64, u64)>,
    count: u64,
    sum_s: f64,
    spreads: u64,
    partial: u64,
    fallback: u64,
    pool: Option<PoolGauges>,
    allocs_per_spread: Option<f64>,
    cache_miss_rate: Option<f64>,
    batch_size: Option<u64>,
    prediction_error: Option<CountedBuckets>,
}

impl Figures {
    fn of(v: &MetricsView<'_>) -> Figures {
        Figures {
            settings: v
                .settings
                .iter()
                .map(|s| Owned {
                    label: s.label.to_string(),
                    buckets: latency_buckets(s.latency),
                    count: s.latency.len(),
                    sum_s: s.latency.mean() * s.latency.len() as f64 / 1e9,
                    spreads: s.spreads,
                    partial: s.partial,
                    fallback: s.fallback,
                    pool: s.pool,
                    allocs_per_spread: s.allocs_per_spread,
                    cache_miss_rate: s.cache_miss_rate,
                    batch_size: s.batch_size,
                    prediction_error: s.prediction_error.clone(),
                })
                .collect(),
            rss_bytes: v.rss_bytes,
            finished: v.finished,
        }
    }
}

#[derive(Debug)]
struct Frozen(Figures);

type Labels = [(&'static str, String); 1];

fn label(s: &Owned) -> Labels {
    [("setting", s.label.clone())]
}

/// One metric family: the descriptor, then one sample per setting that has the figure.
fn family<M: EncodeMetric>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    settings: &[Owned],
    metric: impl Fn(&Owned) -> Option<M>,
) -> fmt::Result {
    let metrics: Vec<(Labels, M)> = settings
        .iter()
        .filter_map(|s| metric(s).map(|m| (label(s), m)))
        .collect();
    let Some((_, first)) = metrics.first() else {
        return Ok(());
    };
    let mut m = enc.encode_descriptor(name, help, unit, first.metric_type())?;
    for (labels, metric) in &metrics {
        metric.encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

/// A histogram from counted buckets (the crate's own `Histogram` records observations).
#[derive(Debug)]
struct CountedHistogram {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for CountedHistogram {
    fn encode(&self, mut e: prometheus_client::encoding::MetricEncoder<'_>) -> fmt::Result {
        e.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.sum,
            self.count,
            &self.buckets,
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

impl Collector for Frozen {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let f = &self.0;
        let s = &f.settings;
        family(
            &mut enc,
            "spreadbench_spreads",
            "Spread requests measured (warm-up excluded).",
            None,
            s,
            |s| Some(ConstCounter::new(s.spreads)),
        )?;
        family(
            &mut enc,
            "spreadbench_spread_latency",
            "Latency of measured spread requests; buckets counted from the recorded HdrHistogram.",
            Some(&Unit::Seconds),
            s,
            |s| {
                Some(CountedHistogram {
                    sum: s.sum_s,
                    count: s.count,
                    buckets: s.buckets.clone(),
                })
            },
        )?;
        family(
            &mut enc,
            "spreadbench_partial",
            "Requests cut short before a hop by the latency budget (a partial result).",
            None,
            s,
            |s| Some(ConstCounter::new(s.partial)),
        )?;
        family(
            &mut enc,
            "spreadbench_fallback",
            "Requests the latency budget manager did not run, predicted past 1.5x the budget: answered by the seeds alone (spread) or similarity-only results (recall).",
            None,
            s,
            |s| Some(ConstCounter::new(s.fallback)),
        )?;
        family(
            &mut enc,
            "spreadbench_spreading_latency_prediction_error",
            "Relative error |predicted - observed| / observed of each measured request's latency as predicted before it started (requests that ran whole).",
            None,
            s,
            |s| {
                s.prediction_error.as_ref().map(|p| CountedHistogram {
                    sum: p.sum,
                    count: p.count,
                    buckets: p.buckets.clone(),
                })
            },
        )?;
        family(
            &mut enc,
            "spreadbench_spreading_pool_utilization",
            "ActivationRecordPool records in use over records held.",
            None,
            s,
            |s| s.pool.map(|p| ConstGauge::new(p.utilization)),
        )?;
        family(
            &mut enc,
            "spreadbench_spreading_pool_hit_rate",
            "ActivationRecordPool acquires answered without allocating.",
            None,
            s,
            |s| s.pool.map(|p| ConstGauge::new(p.hit_rate)),
        )?;
        family(
            &mut enc,
            "spreadbench_spreading_pool_high_water_mark",
            "The most ActivationRecordPool records in use at once.",
            None,
            s,
            |s| s.pool.map(|p| ConstGauge::new(p.high_water_mark as i64)),
        )?;
        family(
            &mut enc,
            "spreadbench_allocations_per_spread",
            "Heap allocations per measured spread request.",
            None,
            s,
            |s| s.allocs_per_spread.map(ConstGauge::new),
        )?;
        family(
            &mut enc,
            "spreadbench_spreading_cache_miss_rate",
            "Cache misses over cache references (hardware counters).",
            None,
            s,
            |s| s.cache_miss_rate.map(ConstGauge::new),
        )?;
        family(
            &mut enc,
            "spreadbench_batch_size",
            "Frontier nodes per batch of a parallel hop.",
            None,
            s,
            |s| s.batch_size.map(|b| ConstGauge::new(b as i64)),
        )?;
        if let Some(rss) = f.rss_bytes {
            let g = ConstGauge::new(rss as i64);
            let m = enc.encode_descriptor(
                "spreadbench_rss",
                "Resident set size of the spreadbench process.",
                Some(&Unit::Bytes),
                g.metric_type(),
            )?;
            g.encode(m)?;
        }
        let g = ConstGauge::new(i64::from(f.finished));
        let m = enc.encode_descriptor(
            "spreadbench_finished",
            "1 once the measurement has ended and the figures are final.",
            None,
            g.metric_type(),
        )?;
        g.encode(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    /// Hand-counted: 900 ns and 1 µs fall at or under 1 µs; 2 µs under 2.5 µs; 40 µs under
    /// 50 µs; 20 s past every bound.
    #[test]
    fn buckets_are_counted_from_the_recorded_values() {
        let h = hist(&[900, 1000, 2000, 40_000, 40_000, 20_000_000_000]);
        let b = latency_buckets(&h);
        assert_eq!(b.len(), LATENCY_BOUNDS_S.len() + 1);
        let count = |bound: f64| b.iter().find(|(u, _)| *u == bound).unwrap().1;
        assert_eq!(count(1e-6), 2);
        assert_eq!(count(2.5e-6), 1);
        assert_eq!(count(5e-5), 2);
        assert_eq!(count(f64::INFINITY), 1);
        assert_eq!(b.iter().map(|(_, c)| c).sum::<u64>(), 6);
    }

    #[test]
    fn text_is_openmetrics_with_labels_and_eof() {
        let h = hist(&[1000, 2000]);
        let view = MetricsView {
            settings: vec![SettingMetrics {
                label: "threads=1",
                latency: &h,
                spreads: 2,
                partial: 0,
                fallback: 0,
                pool: None,
                allocs_per_spread: Some(0.0),
                cache_miss_rate: None,
                batch_size: Some(256),
                prediction_error: None,
            }],
            rss_bytes: Some(4096),
            finished: false,
        };
        let text = render(&view).unwrap();
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            text.contains("# TYPE spreadbench_spreads counter\n"),
            "{text}"
        );
        assert!(
            text.contains("spreadbench_spreads_total{setting=\"threads=1\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "spreadbench_spread_latency_seconds_bucket{le=\"0.000001\",setting=\"threads=1\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("spreadbench_spread_latency_seconds_count{setting=\"threads=1\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("spreadbench_rss_bytes 4096\n"), "{text}");
        assert!(!text.contains("prediction_error"), "predictor off: {text}");
        // Absent, not zero: no pool, no counters.
        assert!(!text.contains("pool_hit_rate"), "{text}");
        assert!(!text.contains("cache_miss_rate"), "{text}");
    }

    /// Errors 0.03, 0.15, 0.15, 0.7 and 5.0 (sum 6.03): non-cumulative counts 1, 0, 2, 0, 1, 0
    /// and 1 past 2; the text's buckets are cumulative: 1, 1, 3, 3, 4, 4, 5.
    #[test]
    fn prediction_error_is_a_histogram_with_the_fixed_bounds() {
        let errors = [0.03, 0.15, 0.15, 0.7, 5.0];
        let at_most = |b: f64| errors.iter().filter(|&&e| e <= b).count() as u64;
        let p = CountedBuckets::from_at_most(PREDICTION_ERROR_BOUNDS, at_most, 5, 6.03);
        let counts: Vec<u64> = p.buckets.iter().map(|b| b.1).collect();
        assert_eq!(counts, [1, 0, 2, 0, 1, 0, 1]);
        let h = hist(&[1000]);
        let view = MetricsView {
            settings: vec![SettingMetrics {
                label: "a",
                latency: &h,
                spreads: 1,
                partial: 2,
                fallback: 3,
                pool: None,
                allocs_per_spread: None,
                cache_miss_rate: None,
                batch_size: None,
                prediction_error: Some(p),
            }],
            rss_bytes: None,
            finished: true,
        };
        let text = render(&view).unwrap();
        let name = "spreadbench_spreading_latency_prediction_error";
        assert!(
            text.contains(&format!("# TYPE {name} histogram\n")),
            "{text}"
        );
        for (le, n) in [
            ("0.05", 1),
            ("0.1", 1),
            ("0.2", 3),
            ("0.5", 3),
            ("1.0", 4),
            ("2.0", 4),
            ("+Inf", 5),
        ] {
            let line = format!("{name}_bucket{{le=\"{le}\",setting=\"a\"}} {n}\n");
            assert!(text.contains(&line), "{line} not in\n{text}");
        }
        assert!(
            text.contains(&format!("{name}_sum{{setting=\"a\"}} 6.03\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{name}_count{{setting=\"a\"}} 5\n")),
            "{text}"
        );
        assert!(
            text.contains("spreadbench_partial_total{setting=\"a\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("spreadbench_fallback_total{setting=\"a\"} 3\n"),
            "{text}"
        );
    }
}
