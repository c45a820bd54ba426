//! Latency histograms (HdrHistogram, 3 significant digits, auto-resizing) and their outputs:
//! the summary the snapshot carries, the base64 V2+DEFLATE encoding, and the `.hgrm`
//! percentile-distribution text that HdrHistogram's own tools read.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

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

    pub fn summary(&self) -> LatencySummary {
        let h = &self.h;
        LatencySummary {
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
            hdr: self.to_base64(),
        }
    }

    /// Base64 of the V2+DEFLATE encoding (HdrHistogram's interchange format).
    pub fn to_base64(&self) -> String {
        let mut bytes = Vec::new();
        // Serialising into a Vec cannot fail for I/O reasons; an encoding failure would be a
        // bug in the crate, and leaves the field empty rather than aborting a measurement.
        if V2DeflateSerializer::new()
            .serialize(&self.h, &mut bytes)
            .is_err()
        {
            return String::new();
        }
        base64::engine::general_purpose::STANDARD.encode(bytes)
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
        let mut total = 0u64;
        if !h.is_empty() {
            for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
                total += v.count_since_last_iteration();
                let value = v.value_iterated_to() as f64 / scale;
                let q = v.quantile_iterated_to();
                if q < 1.0 {
                    writeln!(
                        out,
                        "{:12.3} {:2.12} {:10} {:14.2}",
                        value,
                        q,
                        total,
                        1.0 / (1.0 - q)
                    )?;
                } else {
                    writeln!(out, "{:12.3} {:2.12} {:10}", value, q, total)?;
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_a_known_distribution() {
        let mut h = LatencyHistogram::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.min, 1000);
        assert!(h.inner().equivalent(s.p50, 500_000));
        assert!(h.inner().equivalent(s.p99, 990_000));
        assert!(h.inner().equivalent(s.max, 1_000_000));
        assert!((s.mean - 500_500.0).abs() < 500.0);
    }

    #[test]
    fn base64_round_trip() {
        let mut h = LatencyHistogram::new();
        for v in [5u64, 17, 17, 1_000_000, 3_000_000_000] {
            h.record(v);
        }
        let back = LatencyHistogram::from_base64(&h.to_base64()).unwrap();
        assert_eq!(back.summary().count, 5);
        assert_eq!(back.inner(), h.inner());
        assert!(LatencyHistogram::from_base64("not base64!").is_err());
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
