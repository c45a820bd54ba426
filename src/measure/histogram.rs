//! Latency histograms (HdrHistogram, 3 significant digits, auto-resizing) and their outputs:
//! the summary the snapshot carries, the base64 V2+DEFLATE encoding, and the `.hgrm`
//! percentile-distribution text that HdrHistogram's own tools read.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

/// A histogram that HdrHistogram's V2 encoding cannot hold (a count above i64::MAX): the
/// snapshot would otherwise carry an empty `hdr` that no reader can decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode the latency histogram: {0}")]
pub struct EncodeError(String);

/// Significant digits kept by every latency histogram.
pub const SIGFIG: u8 = 3;

/// The largest latency a histogram holds without growing: one hour, in nanoseconds.
pub const PRESIZED_MAX_NS: u64 = 3_600_000_000_000;

/// A latency histogram in nanoseconds. Recording never fails: values beyond the current range
/// grow it, and values beyond u64 saturate.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    h: Histogram<u64>,
}

/// Percentile summary of a latency histogram, in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
    pub stdev: f64,
    pub count: u64,
    /// The full histogram, base64 of HdrHistogram's V2+DEFLATE encoding.
    pub hdr: String,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> Self {
        // Sized up front for an hour, so recording never reallocates during a measurement
        // (a growing histogram would show up as allocations and RSS growth of the tool
        // itself); longer values still auto-resize. These bounds are always valid.
        let mut h = Histogram::new_with_bounds(1, PRESIZED_MAX_NS, SIGFIG)
            .unwrap_or_else(|_| unreachable!("1 ns .. 1 h at 3 sigfig is valid"));
        h.auto(true);
        LatencyHistogram { h }
    }

    #[inline]
    pub fn record(&mut self, ns: u64) {
        // `record` grows the histogram; it fails only past i64::MAX / 2, where saturating
        // keeps the sample (clamped) rather than losing it. (`saturating_record` alone would
        // clamp instead of growing.)
        if self.h.record(ns).is_err() {
            self.h.saturating_record(ns);
        }
    }

    /// Records `count` samples of `ns` at once (the histogram grows as for [`Self::record`]).
    pub fn record_n(&mut self, ns: u64, count: u64) {
        if self.h.record_n(ns, count).is_err() {
            self.h.saturating_record_n(ns, count);
        }
    }

    pub fn add(&mut self, other: &LatencyHistogram) {
        // Both auto-resize, so adding cannot run out of range.
        let _ = self.h.add(&other.h);
    }

    pub fn len(&self) -> u64 {
        self.h.len()
    }

    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    pub fn value_at_quantile(&self, q: f64) -> u64 {
        self.h.value_at_quantile(q)
    }

    pub fn inner(&self) -> &Histogram<u64> {
        &self.h
    }

    /// The percentiles and the encoded histogram; fails only when the encoding does.
    pub fn summary(&self) -> Result<LatencySummary, EncodeError> {
        let h = &self.h;
        Ok(LatencySummary {
            min: h.min(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
            stdev: h.stdev(),
            count: h.len(),
            hdr: self.to_base64()?,
        })
    }

    /// Base64 of the V2+DEFLATE encoding (HdrHistogram's interchange format).
    pub fn to_base64(&self) -> Result<String, EncodeError> {
        let mut bytes = Vec::new();
        // A Vec cannot fail for I/O reasons; what can fail is a count the format cannot hold.
        V2DeflateSerializer::new()
            .serialize(&self.h, &mut bytes)
            .map_err(|e| EncodeError(format!("{e:?}")))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// Decodes a histogram written by [`LatencyHistogram::to_base64`].
    pub fn from_base64(text: &str) -> Result<LatencyHistogram, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("not base64: {e}"))?;
        let mut h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut io::Cursor::new(bytes))
            .map_err(|e| format!("not an HdrHistogram encoding: {e:?}"))?;
        h.auto(true);
        Ok(LatencyHistogram { h })
    }

    /// Writes the percentile distribution in HdrHistogram's text format (as Java's
    /// `outputPercentileDistribution` does), with values divided by `scale` (1000.0 for
    /// microseconds from nanoseconds).
    pub fn write_percentiles<W: Write>(&self, out: &mut W, scale: f64) -> io::Result<()> {
        const TICKS_PER_HALF_DISTANCE: u32 = 5;
        writeln!(
            out,
            "{:>12} {:>14} {:>10} {:>14}\n",
            "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
        )?;
        let h = &self.h;
        for row in percentile_rows(h, TICKS_PER_HALF_DISTANCE) {
            let value = row.value as f64 / scale;
            let q = row.percentile / 100.0;
            if row.percentile < 100.0 {
                writeln!(
                    out,
                    "{:12.3} {:2.12} {:10} {:14.2}",
                    value,
                    q,
                    row.total_count,
                    1.0 / (1.0 - q)
                )?;
            } else {
                writeln!(out, "{:12.3} {:2.12} {:10}", value, q, row.total_count)?;
            }
        }
        let sub_buckets = (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two();
        writeln!(
            out,
            "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
            h.mean() / scale,
            h.stdev() / scale
        )?;
        writeln!(
            out,
            "#[Max     = {:12.3}, Total count    = {:12}]",
            h.max() as f64 / scale,
            h.len()
        )?;
        writeln!(
            out,
            "#[Buckets = {:12}, SubBuckets     = {:12}]",
            h.buckets(),
            sub_buckets
        )?;
        Ok(())
    }
}

/// One row of the percentile distribution: the level in percent (0..=100), the value reported
/// for it (the highest value equivalent to the bucket that reached it) and the count up to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PercentileRow {
    pub percentile: f64,
    pub value: u64,
    pub total_count: u64,
}

/// The rows Java HdrHistogram's `outputPercentileDistribution` prints (its `PercentileIterator`,
/// followed step by step, in percent as Java computes it): a level is reached by the first
/// recorded bucket whose cumulative share is `>=` the level, one bucket may report several
/// levels, levels double in density at every halving of the distance to 100%, and a last row
/// at 100% follows the bucket that holds the final count. The `hdrhistogram` crate's
/// `iter_quantiles` differs at levels that fall exactly on a bucket's cumulative share (it
/// reports the next bucket), which is why this does not use it.
pub fn percentile_rows(h: &Histogram<u64>, ticks_per_half_distance: u32) -> Vec<PercentileRow> {
    let n = h.len();
    let mut rows = Vec::new();
    if n == 0 {
        return rows;
    }
    let mut level = 0.0f64;
    let mut total = 0u64;
    for v in h.iter_recorded() {
        total += v.count_at_value();
        let value = h.highest_equivalent(v.value_iterated_to());
        while 100.0 * total as f64 / n as f64 >= level {
            rows.push(PercentileRow {
                percentile: level,
                value,
                total_count: total,
            });
            if total == n {
                rows.push(PercentileRow {
                    percentile: 100.0,
                    value,
                    total_count: total,
                });
                return rows;
            }
            // Java: ticks · 2^(⌊log₂(100 / (100 − level))⌋ + 1) steps per 100%.
            let halvings = ((100.0 / (100.0 - level)).ln() / 2f64.ln()) as i64 + 1;
            let ticks = i64::from(ticks_per_half_distance) * 2f64.powi(halvings as i32) as i64;
            level += 100.0 / ticks as f64;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_a_known_distribution() {
        let mut h = LatencyHistogram::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let s = h.summary().unwrap();
        assert_eq!(s.count, 1000);
        assert_eq!(s.min, 1000);
        assert!(h.inner().equivalent(s.p50, 500_000));
        assert!(h.inner().equivalent(s.p99, 990_000));
        assert!(h.inner().equivalent(s.max, 1_000_000));
        assert!((s.mean - 500_500.0).abs() < 500.0);
    }

    #[test]
    fn record_n_records_a_huge_count_at_once() {
        let mut h = LatencyHistogram::new();
        h.record_n(1000, 1_000_000_000_000);
        h.record_n(2000, 1);
        assert_eq!(h.len(), 1_000_000_000_001);
        assert_eq!(h.value_at_quantile(0.5), 1000);
    }

    #[test]
    fn base64_round_trip() {
        let mut h = LatencyHistogram::new();
        for v in [5u64, 17, 17, 1_000_000, 3_000_000_000] {
            h.record(v);
        }
        let back = LatencyHistogram::from_base64(&h.to_base64().unwrap()).unwrap();
        assert_eq!(back.summary().unwrap().count, 5);
        assert_eq!(back.inner(), h.inner());
        assert!(LatencyHistogram::from_base64("not base64!").is_err());
    }

    /// A count above i64::MAX has no V2 encoding: that is an error, not an empty `hdr`.
    #[test]
    fn an_unencodable_histogram_is_an_error() {
        let mut h = LatencyHistogram::new();
        h.h.record_n(1_000, u64::MAX).unwrap();
        let e = h.to_base64().unwrap_err();
        assert!(e.to_string().contains("CountNotSerializable"), "{e}");
        assert_eq!(h.summary().unwrap_err(), e);
    }

    /// Levels and values computed independently of the iterator: for 1..=1000 ns recorded once
    /// each (exact buckets below 2048 at 3 significant digits), level L is first reached by the
    /// value ⌈10·L⌉ (at least 1), and Java's levels are 0, 10, …, 50, then steps of 5 to 75,
    /// 2.5 to 87.5, 1.25 to 93.75, …
    #[test]
    fn percentile_rows_match_java_at_exact_boundaries() {
        let mut h = LatencyHistogram::new();
        for v in 1..=1000u64 {
            h.record(v);
        }
        let rows = percentile_rows(h.inner(), 5);
        let levels: Vec<f64> = rows.iter().map(|r| r.percentile).take(22).collect();
        assert_eq!(
            levels,
            vec![
                0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 77.5, 80.0, 82.5,
                85.0, 87.5, 88.75, 90.0, 91.25, 92.5, 93.75, 94.375
            ]
        );
        for r in &rows[..rows.len() - 1] {
            let expected = ((r.percentile * 10.0).ceil() as u64).max(1);
            assert_eq!(r.value, expected, "level {}", r.percentile);
            assert_eq!(r.total_count, expected, "level {}", r.percentile);
        }
        // The 95% row is exactly the 950th value, not the next bucket.
        let p95 = rows.iter().find(|r| r.percentile == 95.0).unwrap();
        assert_eq!(p95.value, 950);
        let last = rows.last().unwrap();
        assert_eq!(
            (last.percentile, last.value, last.total_count),
            (100.0, 1000, 1000)
        );
        // The row before it is the first level the last value reaches; nothing after 100%.
        assert_eq!(rows[rows.len() - 2].value, 1000);
    }

    /// A bucket that holds many samples reports every level it reaches, as Java does.
    #[test]
    fn percentile_rows_repeat_a_heavy_bucket() {
        let mut h = LatencyHistogram::new();
        for _ in 0..90 {
            h.record(7);
        }
        for _ in 0..10 {
            h.record(9);
        }
        let rows = percentile_rows(h.inner(), 5);
        let at7: Vec<f64> = rows
            .iter()
            .filter(|r| r.value == 7)
            .map(|r| r.percentile)
            .collect();
        assert_eq!(
            at7,
            vec![
                0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 77.5, 80.0, 82.5,
                85.0, 87.5, 88.75, 90.0
            ]
        );
        let rest: Vec<(f64, u64)> = rows
            .iter()
            .filter(|r| r.value == 9)
            .map(|r| (r.percentile, r.total_count))
            .collect();
        assert_eq!(rest, vec![(91.25, 100), (100.0, 100)]);
    }

    #[test]
    fn percentile_text_has_cumulative_counts_and_footer() {
        let mut h = LatencyHistogram::new();
        for v in 1..=100u64 {
            h.record(v * 1000);
        }
        let mut buf = Vec::new();
        h.write_percentiles(&mut buf, 1000.0).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let mut last = 0u64;
        let rows: Vec<&str> = text
            .lines()
            .skip(2)
            .filter(|l| !l.starts_with('#'))
            .collect();
        assert!(rows.len() > 10);
        for row in &rows {
            let total: u64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
            assert!(total >= last);
            last = total;
        }
        assert_eq!(last, 100);
        // Max is reported as the highest value equivalent to the largest sample, as in Java.
        assert!(text.contains("#[Max     =      100.031, Total count    =          100]"));
        assert!(text.contains("SubBuckets     =         2048]"));
    }
}
