//! Hardware and software performance counters (perf-event), per measuring thread.
//!
//! Hardware events are opened in groups the PMU can schedule together (cycles+instructions,
//! cache references+misses, L1D+LLC read misses); counts are scaled by time enabled over time
//! running, and a group that was multiplexed says so. Software events (task clock, page
//! faults, context switches, CPU migrations) are opened alone: they never multiplex.
//!
//! An event the machine cannot give is recorded as `{"status": "unsupported" | "denied",
//! "reason": …}` — never as zero — and never fails a run unless counters are `required`.
//! Counters observe the thread that opened them: a measurement opens a [`ThreadCounters`] on
//! each client thread and adds their readings. Hop-executor workers are not observed.

use perf_event::events::{Cache, CacheOp, CacheResult, Event, Hardware, Software, WhichCache};
use perf_event::{Builder, Counter, Group};
use std::collections::BTreeMap;
use std::io;

/// `--counters`: whether to read counters, and whether their absence is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CounterMode {
    Off,
    Auto,
    Required,
}

/// The hardware groups, each scheduled on the PMU as a unit.
const HW_GROUPS: &[&[&str]] = &[
    &["cycles", "instructions"],
    &["cache_references", "cache_misses"],
    &["l1d_read_misses", "llc_read_misses"],
];
const SW_EVENTS: &[&str] = &[
    "task_clock_ns",
    "page_faults",
    "context_switches",
    "cpu_migrations",
];

fn event(name: &str) -> Event {
    let miss = |which| {
        Event::from(Cache {
            which,
            operation: CacheOp::READ,
            result: CacheResult::MISS,
        })
    };
    match name {
        "cycles" => Hardware::CPU_CYCLES.into(),
        "instructions" => Hardware::INSTRUCTIONS.into(),
        "cache_references" => Hardware::CACHE_REFERENCES.into(),
        "cache_misses" => Hardware::CACHE_MISSES.into(),
        "l1d_read_misses" => miss(WhichCache::L1D),
        "llc_read_misses" => miss(WhichCache::LL),
        "task_clock_ns" => Software::TASK_CLOCK.into(),
        "page_faults" => Software::PAGE_FAULTS.into(),
        "context_switches" => Software::CONTEXT_SWITCHES.into(),
        _ => Software::CPU_MIGRATIONS.into(),
    }
}

/// Why an event is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// `unsupported` (the kernel or PMU has no such event) or `denied` (permissions).
    pub status: &'static str,
    pub reason: String,
}

fn unavailable(e: &io::Error) -> Unavailable {
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    match e.raw_os_error() {
        Some(1) | Some(13) => Unavailable {
            status: "denied",
            reason: format!("perf_event_open: {e} (perf_event_paranoid = {paranoid})"),
        },
        Some(2) => Unavailable {
            status: "unsupported",
            reason: format!("perf_event_open: {e}: this CPU or VM exposes no such event"),
        },
        _ => Unavailable {
            status: "unsupported",
            reason: format!("perf_event_open: {e}"),
        },
    }
}

/// One event's count over a measured stretch, summed over threads.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reading {
    pub raw: u64,
    /// Raw count × time enabled / time running (equal to raw when never multiplexed).
    pub scaled: f64,
    pub time_enabled_ns: u64,
    pub time_running_ns: u64,
}

impl Reading {
    pub fn multiplexed(&self) -> bool {
        self.time_running_ns < self.time_enabled_ns
    }
}

/// Readings by event name; events that could not be opened carry their reason.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CounterSample {
    pub events: BTreeMap<&'static str, Result<Reading, Unavailable>>,
}

impl CounterSample {
    /// Adds another thread's (or stretch's) readings. An event available in either is kept.
    pub fn add(&mut self, o: &CounterSample) {
        for (name, r) in &o.events {
            match (self.events.get_mut(name), r) {
                (Some(Ok(a)), Ok(b)) => {
                    a.raw += b.raw;
                    a.scaled += b.scaled;
                    a.time_enabled_ns += b.time_enabled_ns;
                    a.time_running_ns += b.time_running_ns;
                }
                (Some(slot @ Err(_)), Ok(b)) => *slot = Ok(*b),
                (None, r) => {
                    self.events.insert(name, r.clone());
                }
                _ => {}
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// An event's scaled count, when it could be read.
    pub fn scaled(&self, name: &str) -> Option<f64> {
        match self.events.get(name) {
            Some(Ok(r)) => Some(r.scaled),
            _ => None,
        }
    }

    /// Events that could not be read, with their reasons.
    pub fn missing(&self) -> Vec<(&'static str, &Unavailable)> {
        self.events
            .iter()
            .filter_map(|(n, r)| r.as_ref().err().map(|u| (*n, u)))
            .collect()
    }
}

/// A hardware group and its named members (each of which opened).
type HwGroup = (Group, Vec<(&'static str, Counter)>);

/// Counters opened on the calling thread; they count from [`ThreadCounters::open`] on.
pub struct ThreadCounters {
    groups: Vec<HwGroup>,
    singles: Vec<(&'static str, Result<Counter, Unavailable>)>,
    /// Hardware groups that could not even be created.
    failed_groups: Vec<(&'static str, Unavailable)>,
}

impl ThreadCounters {
    /// Opens and starts every event (nothing for `Off`).
    pub fn open(mode: CounterMode) -> ThreadCounters {
        let mut c = ThreadCounters {
            groups: Vec::new(),
            singles: Vec::new(),
            failed_groups: Vec::new(),
        };
        if mode == CounterMode::Off {
            return c;
        }
        for names in HW_GROUPS {
            // perf-event's group read requires every member to exist, so probe each event on
            // its own first and build the group from those that open.
            let mut usable = Vec::new();
            for &n in names.iter() {
                match Builder::new().kind(event(n)).build() {
                    Ok(_) => usable.push(n),
                    Err(e) => c.failed_groups.push((n, unavailable(&e))),
                }
            }
            if usable.is_empty() {
                continue;
            }
            let built = Group::new().and_then(|mut g| {
                let members = usable
                    .iter()
                    .map(|&n| {
                        Builder::new()
                            .group(&mut g)
                            .kind(event(n))
                            .build()
                            .map(|ctr| (n, ctr))
                    })
                    .collect::<io::Result<Vec<_>>>()?;
                g.enable()?;
                Ok((g, members))
            });
            match built {
                Ok(group) => c.groups.push(group),
                Err(e) => {
                    for &n in &usable {
                        c.failed_groups.push((n, unavailable(&e)));
                    }
                }
            }
        }
        for &n in SW_EVENTS {
            let built = Builder::new()
                .kind(event(n))
                .build()
                .map_err(|e| unavailable(&e));
            let started =
                built.and_then(|mut ctr| ctr.enable().map(|_| ctr).map_err(|e| unavailable(&e)));
            c.singles.push((n, started));
        }
        c
    }

    /// Counts since `open`.
    pub fn read(&mut self) -> CounterSample {
        let mut s = CounterSample::default();
        for (n, u) in &self.failed_groups {
            s.events.insert(n, Err(u.clone()));
        }
        for (g, members) in &mut self.groups {
            let counts = g.read();
            for (n, ctr) in members.iter() {
                let r = match &counts {
                    Err(e) => Err(unavailable(e)),
                    Ok(counts) => {
                        let raw = counts.get(ctr).copied().unwrap_or(0);
                        let (en, run) = (counts.time_enabled(), counts.time_running());
                        Ok(Reading {
                            raw,
                            scaled: if run > 0 {
                                raw as f64 * en as f64 / run as f64
                            } else {
                                0.0
                            },
                            time_enabled_ns: en,
                            time_running_ns: run,
                        })
                    }
                };
                s.events.insert(n, r);
            }
        }
        for (n, m) in &mut self.singles {
            let r = match m {
                Err(u) => Err(u.clone()),
                Ok(ctr) => ctr
                    .read_count_and_time()
                    .map(|ct| Reading {
                        raw: ct.count,
                        scaled: if ct.time_running > 0 {
                            ct.count as f64 * ct.time_enabled as f64 / ct.time_running as f64
                        } else {
                            0.0
                        },
                        time_enabled_ns: ct.time_enabled,
                        time_running_ns: ct.time_running,
                    })
                    .map_err(|e| unavailable(&e)),
            };
            s.events.insert(n, r);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_reads_nothing() {
        let mut c = ThreadCounters::open(CounterMode::Off);
        assert!(c.read().is_empty());
    }

    #[test]
    fn every_event_is_a_value_or_a_reason_never_a_silent_zero() {
        let mut c = ThreadCounters::open(CounterMode::Auto);
        let mut x = 0u64;
        for i in 0..100_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        let s = c.read();
        assert_eq!(s.events.len(), 10);
        for (name, r) in &s.events {
            if let Err(u) = r {
                assert!(
                    u.status == "unsupported" || u.status == "denied",
                    "{name}: {u:?}"
                );
                assert!(!u.reason.is_empty());
            }
        }
        if let Ok(r) = &s.events["task_clock_ns"] {
            assert!(r.raw > 0, "task clock counted nothing");
        }
    }

    #[test]
    fn unavailable_events_are_not_added_as_zero() {
        let mut a = CounterSample::default();
        a.events.insert(
            "cycles",
            Err(Unavailable {
                status: "unsupported",
                reason: "test".into(),
            }),
        );
        let mut b = CounterSample::default();
        b.events.insert(
            "page_faults",
            Ok(Reading {
                raw: 3,
                scaled: 3.0,
                time_enabled_ns: 10,
                time_running_ns: 10,
            }),
        );
        a.add(&b);
        a.add(&b);
        assert!(matches!(&a.events["cycles"], Err(u) if u.status == "unsupported"));
        assert_eq!(a.scaled("page_faults"), Some(6.0));
        assert_eq!(a.scaled("cycles"), None);
    }
}
