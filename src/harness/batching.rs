//! The adaptive batcher applied to measured spreads (DESIGN §3, issue 11 deliverable 3).
//!
//! `engine::batcher` decides; this module is the glue that makes its decisions the ones the
//! spreads actually run under, without rebuilding a spreader: before each spread a client
//! takes the setting the batcher wants next, runs the spread under it
//! ([`Spreader::spread_into_with`]), then reports the edges it relaxed and the time it took.
//! The clients of one setting (`--concurrency`) share one batcher behind a mutex, locked once
//! per spread (the report and the next setting are one critical section). It also loads and
//! saves what the batcher learned: a small JSON file per machine fingerprint under the
//! results root, a cache — a file that cannot be read or written is warned about and never
//! fails the measurement.

use crate::engine::Spreader;
use crate::engine::{AdaptiveBatcher, BatchSetting, BatcherMemory, BatcherStats, Fingerprint};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One setting's batcher, shared by its clients.
pub struct SharedBatcher {
    batcher: Mutex<AdaptiveBatcher>,
    /// Where what it learns is remembered: `<root>/batcher-<fingerprint>.json`.
    pub memory_file: PathBuf,
}

/// How [`SharedBatcher::open`] started.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// From the memory file: converged at what it holds.
    Resumed,
    /// No memory file.
    Cold,
    /// A memory file that could not be used (why); started cold.
    ColdIgnoring(String),
}

impl SharedBatcher {
    /// Resumes from the memory file under `root` when it holds what was learned on
    /// `fingerprint`; otherwise a cold start at `start`.
    pub fn open(root: &Path, fingerprint: Fingerprint, start: BatchSetting) -> (Self, Start) {
        let memory_file = root.join(fingerprint.memory_file_name());
        let (batcher, how) = match BatcherMemory::load(&memory_file) {
            Ok(m) if m.fingerprint == fingerprint => {
                (AdaptiveBatcher::resume(fingerprint, &m), Start::Resumed)
            }
            Ok(m) => (
                AdaptiveBatcher::starting_at(fingerprint, start),
                Start::ColdIgnoring(format!(
                    "it was learned on another machine ({})",
                    m.fingerprint.id()
                )),
            ),
            // `exists` follows links: a dangling one, like no file, is a plain cold start.
            Err(e) if memory_file.exists() => (
                AdaptiveBatcher::starting_at(fingerprint, start),
                Start::ColdIgnoring(format!("{e:#}")),
            ),
            Err(_) => (
                AdaptiveBatcher::starting_at(fingerprint, start),
                Start::Cold,
            ),
        };
        (
            SharedBatcher {
                batcher: Mutex::new(batcher),
                memory_file,
            },
            how,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AdaptiveBatcher> {
        // A poisoned lock (a panicked client, which fails the block anyway) still holds a
        // usable batcher.
        self.batcher.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The setting the next spread runs under.
    pub fn next_setting(&self) -> BatchSetting {
        self.lock().next_setting()
    }

    /// Reports a spread that ran under `used`, relaxing `edges` and activating `activated`
    /// nodes in `ns`, and returns the setting of the next one. A spread every arm would
    /// have run alike counts toward the window only.
    pub fn observe_and_next(
        &self,
        used: BatchSetting,
        edges: u64,
        activated: u64,
        ns: u64,
    ) -> BatchSetting {
        let mut b = self.lock();
        if b.runs_alike(edges, activated) {
            b.observe_uninformative_spread();
        } else {
            b.observe_spread(used, edges, ns);
        }
        b.next_setting()
    }

    pub fn stats(&self) -> BatcherStats {
        self.lock().stats()
    }

    /// Saves what it learned, once it has converged (an unconverged setting is not worth
    /// resuming from). Returns whether it wrote the file.
    pub fn save(&self) -> anyhow::Result<bool> {
        let b = self.lock();
        if !b.converged() {
            return Ok(false);
        }
        b.memory().save(&self.memory_file)?;
        Ok(true)
    }
}

/// One client's side of a setting's batcher: the setting its next spread runs under. Without
/// a batcher it is the spreader's own setting, and reporting does nothing.
pub struct ClientBatch<'b> {
    batcher: Option<&'b SharedBatcher>,
    next: BatchSetting,
}

impl<'b> ClientBatch<'b> {
    pub fn new(batcher: Option<&'b SharedBatcher>, spreader: &Spreader) -> Self {
        let next = match batcher {
            Some(b) => b.next_setting(),
            None => spreader.batch_setting(),
        };
        ClientBatch { batcher, next }
    }

    /// The setting the next spread must run under.
    #[inline]
    pub fn setting(&self) -> BatchSetting {
        self.next
    }

    /// Reports the spread that just ran under [`ClientBatch::setting`]: it relaxed `edges`
    /// and activated `activated` nodes in `ns`. A spread that relaxed no edge (a budget's
    /// seeds-only fallback, seeds without out-edges) did not run the executor at all and is
    /// not counted.
    #[inline]
    pub fn observe(&mut self, edges: u64, activated: u64, ns: u64) {
        if let (Some(b), true) = (self.batcher, edges > 0) {
            self.next = b.observe_and_next(self.next, edges, activated, ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::batcher::UPDATE_EVERY;

    fn fp() -> Fingerprint {
        Fingerprint {
            parallelism: 2,
            threads: 2,
            l2_bytes: Some(1 << 20),
            l3_bytes: None,
        }
    }

    /// Edges per ns that favour batch 64 and the threshold 8192.
    fn ns_for(s: BatchSetting, edges: u64) -> u64 {
        let d = |v: f64, peak: f64| (v.log2() - peak.log2()).abs();
        let slow =
            1.0 + 0.1 * d(s.batch_size as f64, 64.0) + 0.1 * d(s.parallel_min_edges as f64, 8192.0);
        (edges as f64 * slow) as u64
    }

    #[test]
    fn clients_apply_what_it_learns_and_the_next_run_resumes_converged() {
        let dir = tempfile::tempdir().unwrap();
        let sp = Spreader::new(crate::engine::SpreadConfig::default()).unwrap();
        let (shared, how) = SharedBatcher::open(dir.path(), fp(), BatchSetting::default());
        assert_eq!(how, Start::Cold);
        let mut a = ClientBatch::new(Some(&shared), &sp);
        let mut b = ClientBatch::new(Some(&shared), &sp);
        for i in 0..4 * UPDATE_EVERY {
            let c = if i % 2 == 0 { &mut a } else { &mut b };
            let s = c.setting();
            c.observe(100_000, 1_000, ns_for(s, 100_000));
        }
        let st = shared.stats();
        assert!(st.converged, "{st:?}");
        assert!(st.updates_to_converge.unwrap() <= 3, "{st:?}");
        assert_eq!((st.batch_size, st.parallel_min_edges), (64, 8192), "{st:?}");
        assert!(shared.save().unwrap());
        let (again, how) = SharedBatcher::open(dir.path(), fp(), BatchSetting::default());
        assert_eq!(how, Start::Resumed);
        let st = again.stats();
        assert!(st.converged && st.from_memory, "{st:?}");
        assert_eq!((st.batch_size, st.parallel_min_edges), (64, 8192));
        // A resumed batcher runs what it learned from the first spread on.
        assert_eq!(
            ClientBatch::new(Some(&again), &sp).setting(),
            BatchSetting {
                batch_size: 64,
                parallel_min_edges: 8192
            }
        );
    }

    /// Spreads too small to go parallel under any arm measure none: the batcher keeps its
    /// start instead of choosing whichever arm noise favoured, and still converges.
    #[test]
    fn small_spreads_keep_the_start_setting() {
        let dir = tempfile::tempdir().unwrap();
        let sp = Spreader::new(crate::engine::SpreadConfig::default()).unwrap();
        let (shared, _) = SharedBatcher::open(dir.path(), fp(), BatchSetting::default());
        let mut c = ClientBatch::new(Some(&shared), &sp);
        let mut rng = crate::rng::SeededRng::new(7);
        for _ in 0..2 * UPDATE_EVERY {
            // The lowest arm's threshold is 32768 / 8 = 4096.
            let edges = 1 + rng.below(4000);
            c.observe(edges, 100, edges * (1 + rng.below(3)));
        }
        let st = shared.stats();
        assert!(st.converged, "{st:?}");
        assert_eq!(st.updates_to_converge, Some(1));
        assert_eq!(
            (st.batch_size, st.parallel_min_edges),
            (
                crate::engine::spreader::DEFAULT_BATCH_SIZE,
                crate::engine::spreader::DEFAULT_PARALLEL_MIN_EDGES
            )
        );
    }

    #[test]
    fn a_corrupt_memory_is_ignored_and_no_batcher_is_the_spreaders_setting() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(fp().memory_file_name()), "{not json").unwrap();
        let (shared, how) = SharedBatcher::open(dir.path(), fp(), BatchSetting::default());
        assert!(
            matches!(&how, Start::ColdIgnoring(why) if why.contains("not a batcher memory file")),
            "{how:?}"
        );
        assert!(!shared.stats().converged);
        assert!(
            !shared.save().unwrap(),
            "nothing learned yet, nothing saved"
        );
        let sp = Spreader::new(crate::engine::SpreadConfig::default())
            .unwrap()
            .with_batch_size(8)
            .with_parallel_min_edges(100);
        let mut c = ClientBatch::new(None, &sp);
        c.observe(1, 1, 1);
        assert_eq!(
            c.setting(),
            BatchSetting {
                batch_size: 8,
                parallel_min_edges: 100
            }
        );
    }
}
