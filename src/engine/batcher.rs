//! The adaptive batcher (DESIGN §3): picks the parallel executor's batch size and the work
//! threshold for going parallel from measured throughput, and remembers what it learned per
//! machine, so the next run starts converged.
//!
//! Why it exists: the best batch size and threshold depend on the CPU (cores, cache sizes)
//! and on the graph, and a fixed default loses on one or the other. Engram's batcher recorded
//! observations that nothing applied; this one is applied, and bounded: it must settle within
//! 3 updates from a cold start and then hold.
//!
//! How: spreads are measured in windows of [`UPDATE_EVERY`] (500). Until it has converged,
//! successive spreads of a window run under a few *arms* — the current setting and its
//! neighbours (÷2 and ×2 of each; the first window also batch sizes 1, 4, …, 4096 and
//! thresholds ÷8 and ×8) — and each arm's throughput (edges relaxed per ns over its spreads) is smoothed
//! across windows by an EWMA of 0.5, keyed by setting. An update moves to the best arm's batch
//! size and threshold (each a power of two) only when it beats the current setting by more
//! than [`HYSTERESIS`], so measurement noise does not make it wander. Converged is the first
//! update that leaves the setting unchanged; the third update always settles (the bound is
//! the contract, and by then every neighbour has been measured at least once), and on a
//! setting it has measured. After that the batcher only runs the chosen setting and keeps
//! recording its throughput.
//!
//! A spread too small for any arm to run a hop in parallel measures none of them (only noise
//! would tell its arms apart): the caller reports it with
//! [`AdaptiveBatcher::observe_uninformative_spread`], which keeps the window's pace without
//! crediting an arm. On a workload of only such spreads the batcher keeps its start.

use super::spreader::{DEFAULT_BATCH_SIZE, DEFAULT_PARALLEL_MIN_EDGES};
use crate::InputError;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Spreads between updates.
pub const UPDATE_EVERY: u64 = 500;
/// Weight of a new window's measurement in an arm's smoothed throughput.
pub const EWMA: f64 = 0.5;
/// A different setting must be this much faster than the current one to be taken.
pub const HYSTERESIS: f64 = 0.03;
/// Updates after which the batcher has converged whatever it measured.
pub const MAX_UPDATES_TO_CONVERGE: u32 = 3;
/// Batch sizes stay within this range (powers of two).
pub const MIN_BATCH: usize = 1;
pub const MAX_BATCH: usize = 4096;
/// Thresholds stay within this range (powers of two).
pub const MIN_PARALLEL_MIN_EDGES: u64 = 1 << 8;
pub const MAX_PARALLEL_MIN_EDGES: u64 = 1 << 30;
/// History rows kept (a soak would otherwise grow it forever).
pub const MAX_HISTORY: usize = 256;
/// The coarse grid of the first window.
const COARSE_BATCHES: [usize; 7] = [1, 4, 16, 64, 256, 1024, 4096];

/// What the batcher decides for a spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BatchSetting {
    pub batch_size: usize,
    pub parallel_min_edges: u64,
}

impl Default for BatchSetting {
    fn default() -> Self {
        BatchSetting {
            batch_size: DEFAULT_BATCH_SIZE,
            parallel_min_edges: DEFAULT_PARALLEL_MIN_EDGES,
        }
    }
}

/// The machine as far as batching cares: what the learned setting is remembered under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `std::thread::available_parallelism`.
    pub parallelism: usize,
    /// Threads the hop executor runs (the caller included).
    pub threads: usize,
    pub l2_bytes: Option<u64>,
    pub l3_bytes: Option<u64>,
}

impl Fingerprint {
    /// This machine, for an executor of `threads`; cache sizes from
    /// `/sys/devices/system/cpu/cpu0/cache` when present.
    pub fn detect(threads: usize) -> Fingerprint {
        let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::from_sysfs(
            Path::new("/sys/devices/system/cpu/cpu0/cache"),
            parallelism,
            threads,
        )
    }

    /// Reads `dir/index*/{level,type,size}`: the unified (or data) cache of level 2 and 3.
    /// Anything missing or unreadable leaves that size unknown.
    pub fn from_sysfs(dir: &Path, parallelism: usize, threads: usize) -> Fingerprint {
        let mut fp = Fingerprint {
            parallelism,
            threads,
            l2_bytes: None,
            l3_bytes: None,
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return fp;
        };
        let mut names: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("index"))
            })
            .collect();
        names.sort();
        for p in names {
            let read = |f: &str| std::fs::read_to_string(p.join(f)).ok();
            let level = read("level").and_then(|s| s.trim().parse::<u32>().ok());
            let kind = read("type").map(|s| s.trim().to_string());
            let size = read("size").and_then(|s| parse_cache_size(&s));
            if kind.as_deref() == Some("Instruction") {
                continue;
            }
            match (level, size) {
                (Some(2), Some(s)) => fp.l2_bytes = Some(s),
                (Some(3), Some(s)) => fp.l3_bytes = Some(s),
                _ => {}
            }
        }
        fp
    }

    /// A short, file-name-safe identity: `p2-t2-l2_1024k-l3_32768k` (`na` when unknown).
    pub fn id(&self) -> String {
        let k = |b: Option<u64>| b.map_or("na".to_string(), |b| format!("{}k", b / 1024));
        format!(
            "p{}-t{}-l2_{}-l3_{}",
            self.parallelism,
            self.threads,
            k(self.l2_bytes),
            k(self.l3_bytes)
        )
    }

    /// The memory file's name for this fingerprint.
    pub fn memory_file_name(&self) -> String {
        format!("batcher-{}.json", self.id())
    }
}

/// sysfs cache sizes: `1024K`, `32M`, or plain bytes.
fn parse_cache_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1024),
        'M' | 'm' => (&s[..s.len() - 1], 1024 * 1024),
        'G' | 'g' => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mul)
}

/// One row of the batcher's history: the setting an update chose and the throughput measured
/// for it (smoothed), at spread index `spread`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub spread: u64,
    pub batch_size: usize,
    pub parallel_min_edges: u64,
    /// Edges relaxed per µs; 0 when the setting had no measurement yet.
    pub edges_per_us: f64,
}

/// The snapshot's `batcher{…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatcherStats {
    pub fingerprint: String,
    pub batch_size: usize,
    pub parallel_min_edges: u64,
    pub converged: bool,
    /// Updates it took from a cold start (0 when it started from memory); absent until
    /// converged.
    pub updates_to_converge: Option<u32>,
    /// Whether it started from a stored memory.
    pub from_memory: bool,
    pub history: Vec<HistoryRow>,
}

/// What the batcher remembers for a fingerprint (a small JSON file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatcherMemory {
    pub fingerprint: Fingerprint,
    pub batch_size: usize,
    pub parallel_min_edges: u64,
    pub updates_to_converge: Option<u32>,
    pub edges_per_us: f64,
}

/// The most a memory file may hold: it is a few hundred bytes.
const MAX_MEMORY_BYTES: u64 = 1 << 20;

impl BatcherMemory {
    /// Writes it as JSON through [`crate::atomic_file`].
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        crate::atomic_file::write_atomic(path, |w| {
            w.write_all(text.as_bytes())?;
            w.write_all(b"\n")
        })
        .with_context(|| format!("cannot write batcher memory {}", path.display()))
    }

    /// Reads a memory file; a file that is not one is an [`InputError`] naming it.
    pub fn load(path: &Path) -> anyhow::Result<BatcherMemory> {
        let name = path.display().to_string();
        let text = crate::input::read_text_bounded(path, MAX_MEMORY_BYTES)?;
        let m: BatcherMemory = serde_json::from_str(&text)
            .map_err(|e| InputError::new(format!("{name}: not a batcher memory file: {e}")))?;
        if !m.batch_size.is_power_of_two() || !m.parallel_min_edges.is_power_of_two() {
            return Err(InputError::new(format!(
                "{name}: batch_size and parallel_min_edges must be powers of two (got {} and {})",
                m.batch_size, m.parallel_min_edges
            ))
            .into());
        }
        Ok(m)
    }
}

/// Spreads and work measured under one arm in the current window.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    spreads: u64,
    edges: u64,
    ns: u64,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct AdaptiveBatcher {
    fingerprint: Fingerprint,
    current: BatchSetting,
    converged: bool,
    updates: u32,
    updates_to_converge: Option<u32>,
    from_memory: bool,
    /// Spreads observed in all.
    spreads: u64,
    /// Arms of the current window; `arms[0]` is the current setting.
    arms: Vec<BatchSetting>,
    window: Vec<Tally>,
    in_window: u64,
    next_arm: usize,
    /// Smoothed edges per ns by setting, over all windows.
    smoothed: BTreeMap<BatchSetting, f64>,
    history: Vec<HistoryRow>,
}

impl AdaptiveBatcher {
    /// A cold start at the spreader's defaults (batch 256, threshold 32768, both chosen by
    /// side-by-side measurement), normalised to powers of two.
    pub fn new(fingerprint: Fingerprint) -> Self {
        Self::starting_at(fingerprint, BatchSetting::default())
    }

    /// A cold start at `start` (each value snapped to a power of two in range).
    pub fn starting_at(fingerprint: Fingerprint, start: BatchSetting) -> Self {
        let mut b = AdaptiveBatcher {
            fingerprint,
            current: snap(start),
            converged: false,
            updates: 0,
            updates_to_converge: None,
            from_memory: false,
            spreads: 0,
            arms: Vec::new(),
            window: Vec::new(),
            in_window: 0,
            next_arm: 0,
            smoothed: BTreeMap::new(),
            history: Vec::new(),
        };
        b.plan_window();
        b
    }

    /// Starts converged at what `memory` holds when it was learned on this fingerprint;
    /// otherwise a cold start (the memory is for another machine or executor).
    pub fn resume(fingerprint: Fingerprint, memory: &BatcherMemory) -> Self {
        if memory.fingerprint != fingerprint {
            return Self::new(fingerprint);
        }
        let mut b = Self::starting_at(
            fingerprint,
            BatchSetting {
                batch_size: memory.batch_size,
                parallel_min_edges: memory.parallel_min_edges,
            },
        );
        b.converged = true;
        b.from_memory = true;
        b.updates_to_converge = Some(0);
        b.plan_window();
        b
    }

    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// The setting it has chosen (what converged spreads run).
    pub fn current(&self) -> BatchSetting {
        self.current
    }

    pub fn converged(&self) -> bool {
        self.converged
    }

    /// Updates made so far.
    pub fn updates(&self) -> u32 {
        self.updates
    }

    /// The setting the next spread must run with: an exploring arm before convergence, the
    /// chosen setting after.
    pub fn next_setting(&mut self) -> BatchSetting {
        let s = self.arms[self.next_arm];
        self.next_arm = (self.next_arm + 1) % self.arms.len();
        s
    }

    /// Records a spread that ran under `setting`, relaxing `edges` in `ns`. Every
    /// [`UPDATE_EVERY`] spreads this makes an update; returns true when it did.
    pub fn observe_spread(&mut self, setting: BatchSetting, edges: u64, ns: u64) -> bool {
        if let Some(i) = self.arms.iter().position(|a| *a == setting) {
            let t = &mut self.window[i];
            t.spreads += 1;
            t.edges += edges;
            t.ns += ns;
        }
        self.count_spread()
    }

    /// Records a spread that every arm of the current window would have run alike — all its
    /// hops and its collection on the calling thread (see [`AdaptiveBatcher::runs_alike`]):
    /// it counts toward the window, so updates keep their pace, but toward no arm's
    /// throughput, since it measured none of them. A window of such spreads keeps the
    /// current setting (nothing beat it). Returns true when it made an update.
    pub fn observe_uninformative_spread(&mut self) -> bool {
        self.count_spread()
    }

    /// Counts one spread toward the window, updating when the window is full.
    fn count_spread(&mut self) -> bool {
        self.spreads += 1;
        self.in_window += 1;
        if self.in_window >= UPDATE_EVERY {
            self.update();
            true
        } else {
            false
        }
    }

    /// Whether a spread that relaxed `edges` and activated `activated` nodes runs the same
    /// under every arm of the current window: a hop goes parallel only from its threshold of
    /// frontier edges on (and no hop relaxes more than the whole spread), the collection
    /// from half of it in activated nodes, so below the lowest arm's both it runs serial
    /// under all of them.
    pub fn runs_alike(&self, edges: u64, activated: u64) -> bool {
        let lowest = self
            .arms
            .iter()
            .map(|a| a.parallel_min_edges)
            .min()
            .unwrap_or(self.current.parallel_min_edges);
        edges < lowest && activated < lowest / 2
    }

    /// The batch size with the best smoothed throughput at the current threshold, or the
    /// current batch size unless another beats it by more than [`HYSTERESIS`] (also when
    /// nothing was measured).
    pub fn compute_optimal_batch_size(&self) -> usize {
        let t = self.current.parallel_min_edges;
        self.best(
            |s| s.parallel_min_edges == t,
            |s| s.batch_size,
            self.current.batch_size,
        )
    }

    /// The threshold with the best smoothed throughput at the current batch size, with the
    /// same hysteresis.
    pub fn compute_optimal_parallel_min_edges(&self) -> u64 {
        let b = self.current.batch_size;
        self.best(
            |s| s.batch_size == b,
            |s| s.parallel_min_edges,
            self.current.parallel_min_edges,
        )
    }

    fn best<T: Copy>(
        &self,
        keep: impl Fn(&BatchSetting) -> bool,
        value: impl Fn(&BatchSetting) -> T,
        current: T,
    ) -> T {
        let here = self.smoothed.get(&self.current).copied();
        let mut best: Option<(f64, T)> = None;
        for (s, &tput) in self.smoothed.iter().filter(|(s, _)| keep(s)) {
            if *s != self.current && best.is_none_or(|(b, _)| tput > b) {
                best = Some((tput, value(s)));
            }
        }
        match (here, best) {
            (Some(h), Some((b, v))) if b > h * (1.0 + HYSTERESIS) => v,
            (None, Some((_, v))) => v,
            _ => current,
        }
    }

    /// The current setting, unless a measured one of `candidates` beats it by more than
    /// [`HYSTERESIS`] (the first of the fastest, then).
    fn best_measured(&self, candidates: &[BatchSetting]) -> BatchSetting {
        let here = self.smoothed.get(&self.current).copied();
        let mut best: Option<(f64, BatchSetting)> = None;
        for c in candidates {
            if let Some(&v) = self.smoothed.get(c) {
                if best.is_none_or(|(b, _)| v > b) {
                    best = Some((v, *c));
                }
            }
        }
        match (here, best) {
            (Some(h), Some((b, c))) if b > h * (1.0 + HYSTERESIS) => c,
            (None, Some((_, c))) => c,
            _ => self.current,
        }
    }

    fn update(&mut self) {
        for (arm, t) in self.arms.iter().zip(&self.window) {
            if t.ns == 0 || t.spreads == 0 {
                continue;
            }
            let v = t.edges as f64 / t.ns as f64;
            let e = self.smoothed.entry(*arm).or_insert(v);
            *e = (1.0 - EWMA) * *e + EWMA * v;
        }
        self.updates += 1;
        if !self.converged {
            let (batch, threshold) = (
                self.compute_optimal_batch_size(),
                self.compute_optimal_parallel_min_edges(),
            );
            let mut next = snap(BatchSetting {
                batch_size: batch,
                parallel_min_edges: threshold,
            });
            if self.updates >= MAX_UPDATES_TO_CONVERGE {
                // The last update holds for good: it takes a setting it has measured — the
                // combination of the two axes' choices, or either axis' move alone — never
                // one it only guessed (each axis is chosen at the other's current value, so
                // their combination may be unmeasured, or measured worse).
                let c = self.current;
                next = self.best_measured(&[
                    next,
                    snap(BatchSetting {
                        batch_size: batch,
                        ..c
                    }),
                    snap(BatchSetting {
                        parallel_min_edges: threshold,
                        ..c
                    }),
                ]);
            }
            let unchanged = next == self.current;
            self.current = next;
            if unchanged || self.updates >= MAX_UPDATES_TO_CONVERGE {
                self.converged = true;
                self.updates_to_converge = Some(self.updates);
            }
        }
        if self.history.len() < MAX_HISTORY {
            self.history.push(HistoryRow {
                spread: self.spreads,
                batch_size: self.current.batch_size,
                parallel_min_edges: self.current.parallel_min_edges,
                edges_per_us: self.smoothed.get(&self.current).map_or(0.0, |v| v * 1e3),
            });
        }
        self.plan_window();
    }

    /// The arms of the next window: the current setting first, then its neighbours.
    fn plan_window(&mut self) {
        let c = self.current;
        let mut arms = vec![c];
        if !self.converged {
            // Neighbours always; from a cold start also the coarse grid, so one update can
            // reach any batch size and the next ones only refine.
            let mut batches = vec![c.batch_size / 2, c.batch_size * 2];
            let t = c.parallel_min_edges;
            let mut thresholds = vec![t / 2, t * 2];
            if self.updates == 0 {
                batches.extend(COARSE_BATCHES);
                thresholds.extend([t / 8, t * 8]);
            }
            for b in batches {
                arms.push(BatchSetting { batch_size: b, ..c });
            }
            for t in thresholds {
                arms.push(BatchSetting {
                    parallel_min_edges: t,
                    ..c
                });
            }
            let mut seen = std::collections::BTreeSet::new();
            arms = arms
                .into_iter()
                .map(snap)
                .filter(|a| seen.insert(*a))
                .collect();
        }
        self.window = vec![Tally::default(); arms.len()];
        self.arms = arms;
        self.in_window = 0;
        self.next_arm = 0;
    }

    pub fn stats(&self) -> BatcherStats {
        BatcherStats {
            fingerprint: self.fingerprint.id(),
            batch_size: self.current.batch_size,
            parallel_min_edges: self.current.parallel_min_edges,
            converged: self.converged,
            updates_to_converge: self.updates_to_converge,
            from_memory: self.from_memory,
            history: self.history.clone(),
        }
    }

    /// What to store for the next run.
    pub fn memory(&self) -> BatcherMemory {
        BatcherMemory {
            fingerprint: self.fingerprint.clone(),
            batch_size: self.current.batch_size,
            parallel_min_edges: self.current.parallel_min_edges,
            updates_to_converge: self.updates_to_converge,
            // Rounded so that the JSON file reads back to the same value.
            edges_per_us: self
                .smoothed
                .get(&self.current)
                .map_or(0.0, |v| (v * 1e6).round() / 1e3),
        }
    }
}

/// Rounds to the nearest power of two (ties up) within the allowed ranges.
fn snap(s: BatchSetting) -> BatchSetting {
    fn pow2(v: u64, lo: u64, hi: u64) -> u64 {
        let v = v.clamp(lo, hi);
        let down = 1u64 << (63 - v.leading_zeros());
        if down == v {
            return v;
        }
        let up = down << 1;
        (if v - down < up - v { down } else { up }).clamp(lo, hi)
    }
    BatchSetting {
        batch_size: pow2(s.batch_size as u64, MIN_BATCH as u64, MAX_BATCH as u64) as usize,
        parallel_min_edges: pow2(
            s.parallel_min_edges,
            MIN_PARALLEL_MIN_EDGES,
            MAX_PARALLEL_MIN_EDGES,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives `b` through windows in which a spread under `s` in window `w` (0-based) runs
    /// at `tput(w, s)` edges per ns; returns the setting after each update.
    fn drive(
        b: &mut AdaptiveBatcher,
        windows: u64,
        tput: impl Fn(u64, BatchSetting) -> f64,
    ) -> Vec<BatchSetting> {
        let mut after = Vec::new();
        for w in 0..windows {
            for _ in 0..UPDATE_EVERY {
                let s = b.next_setting();
                let edges = 100_000;
                let ns = (edges as f64 / tput(w, s)) as u64;
                if b.observe_spread(s, edges, ns) {
                    after.push(b.current());
                }
            }
        }
        after
    }

    /// Reproducer: the third update converges whatever it measured, and per axis it picked
    /// the batch size best at the current threshold and the threshold best at the current
    /// batch size — so it settled on (4096, 262144), a combination it had measured at a tenth
    /// of the others' speed (window 2), because each axis alone looked best in window 1.
    /// (The same rule settled scale-free-1m-deep on a combination never measured at all.)
    #[test]
    fn the_last_update_never_settles_on_a_combination_measured_worse() {
        let fp = Fingerprint {
            parallelism: 2,
            threads: 2,
            l2_bytes: None,
            l3_bytes: None,
        };
        let bad = BatchSetting {
            batch_size: 4096,
            parallel_min_edges: 262_144,
        };
        let mut b = AdaptiveBatcher::new(fp);
        let after = drive(&mut b, 3, |w, s| match w {
            // Window 1: batch 4096 is best at the start threshold, 262144 at the start batch.
            0 if s.batch_size == 4096 || s.parallel_min_edges == 262_144 => 3.0,
            0 => 1.0,
            // Window 2 measures their combination, and its neighbours: all slow.
            1 => 0.1,
            // Window 3, back at the start and its neighbours: middling.
            _ => 1.5,
        });
        assert_eq!(after.len(), 3);
        assert_eq!(after[0], bad, "update 1 tries the combination");
        assert!(b.converged());
        let last = b.history.last().unwrap();
        assert_ne!(b.current(), bad, "{after:?}");
        assert!(last.edges_per_us >= 1500.0, "{:?}", b.history);
    }

    #[test]
    fn snapping_and_cache_sizes() {
        let s = |b, t| {
            snap(BatchSetting {
                batch_size: b,
                parallel_min_edges: t,
            })
        };
        assert_eq!(s(256, 32768), s(256, 32768));
        assert_eq!(s(0, 0).batch_size, 1);
        assert_eq!(s(0, 0).parallel_min_edges, MIN_PARALLEL_MIN_EDGES);
        assert_eq!(s(3, 1000).batch_size, 4);
        assert_eq!(s(5, 1000).batch_size, 4);
        assert_eq!(s(6, 1000).batch_size, 8);
        assert_eq!(s(1000, 1000).parallel_min_edges, 1024);
        assert_eq!(s(100_000, u64::MAX).batch_size, MAX_BATCH);
        assert_eq!(s(1, u64::MAX).parallel_min_edges, MAX_PARALLEL_MIN_EDGES);
        assert_eq!(parse_cache_size("1024K\n"), Some(1 << 20));
        assert_eq!(parse_cache_size("32M"), Some(32 << 20));
        assert_eq!(parse_cache_size("512"), Some(512));
        assert_eq!(parse_cache_size("x"), None);
    }
}
