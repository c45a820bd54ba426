//! The snapshot's measured sections, typed: `pool`, `alloc`, `counters` (also
//! `settings[].pool_stats` and `settings[].alloc`). Each has two honest shapes — a figure, or
//! why there is none — and converts to and from the exact JSON 1.0.0 shipped through a private
//! `…Repr` enum, so the public type says `Off` where the JSON says `{"status": "off"}`.

use crate::measure::alloc::AllocCount;
use crate::measure::counters::{CounterMode, CounterSample};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `"status": "off"` marker: a unit enum, so it serialises as that one string and nothing
/// else deserialises into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum OffTag {
    #[serde(rename = "off")]
    Off,
}

/// The `"status": "unsupported"` marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum UnsupportedTag {
    #[serde(rename = "unsupported")]
    Unsupported,
}

/// `pool`: the ActivationRecordPool's statistics, or `{"status": "off"}` when the setting ran
/// without the pool.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "PoolRepr", into = "PoolRepr")]
pub enum PoolSection {
    Off,
    Stats(PoolFigures),
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(untagged)]
enum PoolRepr {
    Stats(PoolFigures),
    Off { status: OffTag },
}

impl From<PoolRepr> for PoolSection {
    fn from(r: PoolRepr) -> Self {
        match r {
            PoolRepr::Stats(s) => PoolSection::Stats(s),
            PoolRepr::Off { .. } => PoolSection::Off,
        }
    }
}

impl From<PoolSection> for PoolRepr {
    fn from(p: PoolSection) -> Self {
        match p {
            PoolSection::Stats(s) => PoolRepr::Stats(s),
            PoolSection::Off => PoolRepr::Off {
                status: OffTag::Off,
            },
        }
    }
}

impl PoolSection {
    pub fn new(stats: Option<PoolFigures>) -> PoolSection {
        stats.map_or(PoolSection::Off, PoolSection::Stats)
    }

    pub fn stats(&self) -> Option<&PoolFigures> {
        match self {
            PoolSection::Stats(s) => Some(s),
            PoolSection::Off => None,
        }
    }
}

/// The pool's statistics at the end of the measurement (the engine's `PoolStats`, copied
/// field by field by the CLI: the report layer does not depend on the engine).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PoolFigures {
    pub acquires: u64,
    /// Records in the shared queue or a local cache.
    pub available: u64,
    pub discarded: u64,
    pub global_hits: u64,
    /// The most records ever in use at once.
    pub high_water_mark: u64,
    pub hit_rate: f64,
    /// Acquires answered from the thread's local cache or the shared queue.
    pub hits: u64,
    /// Records handed out and not yet returned.
    pub in_use: u64,
    pub local_hits: u64,
    /// Acquires that had to allocate a fresh record.
    pub misses: u64,
    /// Records made ahead of use (one per client), not counted as misses.
    pub prefilled: u64,
    pub returns: u64,
    /// in_use / (in_use + available).
    pub utilization: f64,
}

/// `alloc`: heap allocations during the measured requests, or why they were not counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "AllocRepr", into = "AllocRepr")]
pub enum AllocSection {
    Counted(AllocFigures),
    Unsupported { reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AllocFigures {
    pub allocs: u64,
    pub allocs_per_spread: f64,
    pub bytes: u64,
    pub bytes_per_spread: f64,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum AllocRepr {
    Counted(AllocFigures),
    Unsupported {
        reason: String,
        status: UnsupportedTag,
    },
}

impl From<AllocRepr> for AllocSection {
    fn from(r: AllocRepr) -> Self {
        match r {
            AllocRepr::Counted(a) => AllocSection::Counted(a),
            AllocRepr::Unsupported { reason, .. } => AllocSection::Unsupported { reason },
        }
    }
}

impl From<AllocSection> for AllocRepr {
    fn from(a: AllocSection) -> Self {
        match a {
            AllocSection::Counted(a) => AllocRepr::Counted(a),
            AllocSection::Unsupported { reason } => AllocRepr::Unsupported {
                reason,
                status: UnsupportedTag::Unsupported,
            },
        }
    }
}

impl AllocSection {
    /// The figures of `count` over `spreads` measured spreads when the counting allocator is
    /// installed (`counting`); otherwise unsupported, never zero.
    pub fn new(counting: bool, count: AllocCount, spreads: u64) -> AllocSection {
        if !counting {
            return AllocSection::Unsupported {
                reason: "the counting allocator is not installed in this program".into(),
            };
        }
        let n = spreads.max(1) as f64;
        AllocSection::Counted(AllocFigures {
            allocs: count.allocs,
            allocs_per_spread: count.allocs as f64 / n,
            bytes: count.bytes,
            bytes_per_spread: count.bytes as f64 / n,
        })
    }

    pub fn figures(&self) -> Option<&AllocFigures> {
        match self {
            AllocSection::Counted(a) => Some(a),
            AllocSection::Unsupported { .. } => None,
        }
    }
}

/// What the counters observed, recorded with every reading.
pub const COUNTER_SCOPE: &str =
    "client threads, measured requests only; hop-executor workers are not observed";

/// `counters`: `{"status": "off"}`, or one entry per event (by name, beside `derived` and
/// `scope` in one JSON object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "CountersRepr", into = "CountersRepr")]
pub enum CountersSection {
    Off,
    Read(CounterReadings),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterReadings {
    /// Every event, by name: its count, or why it could not be read.
    #[serde(flatten)]
    pub events: BTreeMap<String, EventCount>,
    pub derived: DerivedCounters,
    /// Which threads and requests the counts cover. Absent only in snapshots made before it
    /// was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// One event: its count, or `{"status": "unsupported" | "denied", "reason": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventCount {
    Counted(EventReading),
    Unavailable(EventUnavailable),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EventReading {
    /// Whether the event shared the PMU (time running below time enabled).
    pub multiplexed: bool,
    pub raw: u64,
    pub time_enabled_ns: u64,
    pub time_running_ns: u64,
    /// `raw` scaled by time enabled over time running, rounded.
    pub value: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventUnavailable {
    pub reason: String,
    /// `unsupported` (no such event here) or `denied` (permissions).
    pub status: String,
}

/// Figures derived from the events; `null` when an input is missing (or the divisor is 0).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DerivedCounters {
    pub cache_miss_rate: Option<f64>,
    pub cache_misses_per_spread: Option<f64>,
    pub ipc: Option<f64>,
    pub l1d_read_misses_per_spread: Option<f64>,
    pub llc_read_misses_per_spread: Option<f64>,
    pub page_faults_per_spread: Option<f64>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum CountersRepr {
    Off { status: OffTag },
    Read(CounterReadings),
}

impl From<CountersRepr> for CountersSection {
    fn from(r: CountersRepr) -> Self {
        match r {
            CountersRepr::Off { .. } => CountersSection::Off,
            CountersRepr::Read(c) => CountersSection::Read(c),
        }
    }
}

impl From<CountersSection> for CountersRepr {
    fn from(c: CountersSection) -> Self {
        match c {
            CountersSection::Off => CountersRepr::Off {
                status: OffTag::Off,
            },
            CountersSection::Read(c) => CountersRepr::Read(c),
        }
    }
}

impl CountersSection {
    /// The section for `sample` read over `spreads` measured spreads (`Off` when counters
    /// were not asked for).
    pub fn new(mode: CounterMode, sample: &CounterSample, spreads: u64) -> CountersSection {
        if mode == CounterMode::Off {
            return CountersSection::Off;
        }
        let events = sample
            .events
            .iter()
            .map(|(name, r)| {
                let e = match r {
                    Ok(r) => EventCount::Counted(EventReading {
                        multiplexed: r.multiplexed(),
                        raw: r.raw,
                        time_enabled_ns: r.time_enabled_ns,
                        time_running_ns: r.time_running_ns,
                        value: r.scaled.round() as u64,
                    }),
                    Err(u) => EventCount::Unavailable(EventUnavailable {
                        reason: u.reason.clone(),
                        status: u.status.to_string(),
                    }),
                };
                ((*name).to_string(), e)
            })
            .collect();
        let scaled = |name: &str| sample.scaled(name);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let per_spread = |a: Option<f64>| a.filter(|_| spreads > 0).map(|a| a / spreads as f64);
        CountersSection::Read(CounterReadings {
            events,
            derived: DerivedCounters {
                cache_miss_rate: ratio(scaled("cache_misses"), scaled("cache_references")),
                cache_misses_per_spread: per_spread(scaled("cache_misses")),
                ipc: ratio(scaled("instructions"), scaled("cycles")),
                l1d_read_misses_per_spread: per_spread(scaled("l1d_read_misses")),
                llc_read_misses_per_spread: per_spread(scaled("llc_read_misses")),
                page_faults_per_spread: per_spread(scaled("page_faults")),
            },
            scope: Some(COUNTER_SCOPE.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::counters::{Reading, Unavailable};
    use serde_json::json;

    fn sample() -> CounterSample {
        let mut s = CounterSample::default();
        s.events.insert(
            "cycles",
            Ok(Reading {
                raw: 1000,
                scaled: 2000.0,
                time_enabled_ns: 20,
                time_running_ns: 10,
            }),
        );
        s.events.insert(
            "instructions",
            Ok(Reading {
                raw: 1500,
                scaled: 3000.0,
                time_enabled_ns: 20,
                time_running_ns: 10,
            }),
        );
        s.events.insert(
            "cache_misses",
            Err(Unavailable {
                status: "denied",
                reason: "test".into(),
            }),
        );
        s.events.insert(
            "page_faults",
            Ok(Reading {
                raw: 6,
                scaled: 6.0,
                time_enabled_ns: 10,
                time_running_ns: 10,
            }),
        );
        s
    }

    #[test]
    fn counters_have_the_shipped_shape() {
        let c = CountersSection::new(CounterMode::Auto, &sample(), 2);
        let v = serde_json::to_value(&c).unwrap();
        // Hand-computed: ipc = 3000 / 2000 (scaled, not raw); page faults 6 over 2 spreads.
        assert_eq!(
            v,
            json!({
                "cache_misses": {"status": "denied", "reason": "test"},
                "cycles": {"value": 2000, "raw": 1000, "time_enabled_ns": 20,
                           "time_running_ns": 10, "multiplexed": true},
                "instructions": {"value": 3000, "raw": 1500, "time_enabled_ns": 20,
                                 "time_running_ns": 10, "multiplexed": true},
                "page_faults": {"value": 6, "raw": 6, "time_enabled_ns": 10,
                                "time_running_ns": 10, "multiplexed": false},
                "derived": {"ipc": 1.5, "cache_miss_rate": null, "cache_misses_per_spread": null,
                            "l1d_read_misses_per_spread": null,
                            "llc_read_misses_per_spread": null, "page_faults_per_spread": 3.0},
                "scope": COUNTER_SCOPE,
            })
        );
        let back: CountersSection = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn off_and_unsupported_shapes_round_trip() {
        let off = CountersSection::new(CounterMode::Off, &sample(), 2);
        assert_eq!(off, CountersSection::Off);
        assert_eq!(
            serde_json::to_value(&off).unwrap(),
            json!({"status": "off"})
        );
        assert_eq!(
            serde_json::from_value::<CountersSection>(json!({"status": "off"})).unwrap(),
            CountersSection::Off
        );
        assert_eq!(
            serde_json::to_value(PoolSection::Off).unwrap(),
            json!({"status": "off"})
        );
        assert_eq!(
            serde_json::from_value::<PoolSection>(json!({"status": "off"})).unwrap(),
            PoolSection::Off
        );
        let a = AllocSection::new(false, AllocCount::default(), 3);
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["status"], "unsupported");
        assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()));
        assert_eq!(serde_json::from_value::<AllocSection>(v).unwrap(), a);
        // Some other status is not "off": it must not load as a pool that was off.
        assert!(serde_json::from_value::<PoolSection>(json!({"status": "on"})).is_err());
        assert!(serde_json::from_value::<CountersSection>(json!({"status": "of"})).is_err());
    }

    #[test]
    fn alloc_figures_are_per_measured_spread() {
        let a = AllocSection::new(
            true,
            AllocCount {
                allocs: 10,
                bytes: 1000,
            },
            4,
        );
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            json!({"allocs": 10, "allocs_per_spread": 2.5, "bytes": 1000, "bytes_per_spread": 250.0})
        );
        // No measured spread: per spread over 1, not a division by zero.
        let z = AllocSection::new(
            true,
            AllocCount {
                allocs: 3,
                bytes: 8,
            },
            0,
        );
        assert_eq!(z.figures().map(|f| f.allocs_per_spread), Some(3.0));
    }
}
