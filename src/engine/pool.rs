//! `ActivationRecordPool`: a lock-free pool of per-spread state (scratch and result buffers),
//! so that a steady stream of spreads allocates nothing.
//!
//! A record for a 10k-node graph holds ~400 KB of node state; allocating and zeroing that per
//! request would cost as much as the spread. The pool keeps released records in a bounded
//! lock-free queue (crossbeam's `ArrayQueue`, which never allocates after creation); each
//! client thread holds a [`PoolHandle`] whose small local cache answers most requests without
//! touching the shared queue at all.
//!
//! Statistics (relaxed atomics): acquires, local hits, global hits, misses (fresh records),
//! returns, records in use now and their high-water mark, and utilization.

use super::result::SpreadResult;
use super::scratch::SpreadScratch;
use crossbeam::queue::ArrayQueue;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Everything one spread needs besides the graph and the spreader.
#[derive(Debug)]
pub struct ActivationRecord {
    pub scratch: SpreadScratch,
    pub result: SpreadResult,
}

impl ActivationRecord {
    pub fn new(node_count: usize) -> Self {
        ActivationRecord {
            scratch: SpreadScratch::new(node_count),
            result: SpreadResult::with_capacity(node_count),
        }
    }
}

/// Records a [`PoolHandle`] keeps for its thread before returning extras to the shared queue.
pub const LOCAL_CACHE: usize = 2;

pub struct ActivationRecordPool {
    node_count: usize,
    shared: ArrayQueue<Box<ActivationRecord>>,
    acquires: AtomicU64,
    local_hits: AtomicU64,
    global_hits: AtomicU64,
    misses: AtomicU64,
    returns: AtomicU64,
    /// Released records dropped because the shared queue was full.
    discarded: AtomicU64,
    /// Records made ahead of use by `prefill`.
    prefilled: AtomicU64,
    /// Records held by pool handles' local caches (available, but not in the queue).
    cached: AtomicU64,
    high_water: AtomicU64,
}

/// A point-in-time copy of the pool's statistics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PoolStats {
    pub acquires: u64,
    /// Acquires answered from the thread's local cache or the shared queue.
    pub hits: u64,
    pub local_hits: u64,
    pub global_hits: u64,
    /// Acquires that had to allocate a fresh record.
    pub misses: u64,
    pub hit_rate: f64,
    pub returns: u64,
    pub discarded: u64,
    /// Records made ahead of use (one per client), not counted as misses.
    pub prefilled: u64,
    /// Records handed out and not yet returned.
    pub in_use: u64,
    /// Records in the shared queue or a local cache.
    pub available: u64,
    /// The most records ever in use at once.
    pub high_water_mark: u64,
    /// in_use / (in_use + available).
    pub utilization: f64,
}

impl ActivationRecordPool {
    /// A pool of records for graphs of `node_count` nodes, holding at most `capacity` idle
    /// records in its shared queue.
    pub fn new(node_count: usize, capacity: usize) -> Self {
        ActivationRecordPool {
            node_count,
            shared: ArrayQueue::new(capacity.max(1)),
            acquires: AtomicU64::new(0),
            local_hits: AtomicU64::new(0),
            global_hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            returns: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            prefilled: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            high_water: AtomicU64::new(0),
        }
    }

    /// Puts up to `count` fresh records in the shared queue ahead of use, so that the first
    /// request of each of `count` concurrent clients finds one (a client thread that starts
    /// late would otherwise allocate inside a measurement). Returns how many were added.
    ///
    /// `threads` is the hop executor's size the records will serve: their per-participant
    /// buffers are made now too, rather than on their first parallel hop.
    pub fn prefill(&self, count: usize, threads: usize) -> usize {
        let mut added = 0;
        for _ in 0..count {
            let mut r = Box::new(ActivationRecord::new(self.node_count));
            r.scratch.ensure_participants(threads);
            if self.shared.push(r).is_err() {
                break;
            }
            added += 1;
        }
        self.prefilled.fetch_add(added as u64, Relaxed);
        added
    }

    /// A handle for one thread: its local cache sits in front of the shared queue.
    pub fn handle(&self) -> PoolHandle<'_> {
        PoolHandle {
            pool: self,
            local: Vec::with_capacity(LOCAL_CACHE),
        }
    }

    fn note_acquire(&self) {
        let acquires = self.acquires.fetch_add(1, Relaxed) + 1;
        let in_use = acquires.saturating_sub(self.returns.load(Relaxed));
        self.high_water.fetch_max(in_use, Relaxed);
    }

    pub fn stats(&self) -> PoolStats {
        let acquires = self.acquires.load(Relaxed);
        let local_hits = self.local_hits.load(Relaxed);
        let global_hits = self.global_hits.load(Relaxed);
        let returns = self.returns.load(Relaxed);
        let in_use = acquires.saturating_sub(returns);
        let available = self.shared.len() as u64 + self.cached.load(Relaxed);
        let hits = local_hits + global_hits;
        PoolStats {
            acquires,
            hits,
            local_hits,
            global_hits,
            misses: self.misses.load(Relaxed),
            hit_rate: if acquires == 0 {
                0.0
            } else {
                hits as f64 / acquires as f64
            },
            returns,
            discarded: self.discarded.load(Relaxed),
            prefilled: self.prefilled.load(Relaxed),
            in_use,
            available,
            high_water_mark: self.high_water.load(Relaxed),
            utilization: if in_use + available == 0 {
                0.0
            } else {
                in_use as f64 / (in_use + available) as f64
            },
        }
    }
}

/// One thread's access to the pool. Dropping it returns its cached records to the queue.
pub struct PoolHandle<'p> {
    pool: &'p ActivationRecordPool,
    // Boxed like everywhere else in the pool: a record moves between the queue, local caches
    // and callers as one pointer, never as its few hundred bytes of buffers' headers.
    #[allow(clippy::vec_box)]
    local: Vec<Box<ActivationRecord>>,
}

impl PoolHandle<'_> {
    /// Takes a record: from the local cache, else the shared queue, else a fresh one.
    pub fn acquire(&mut self) -> Box<ActivationRecord> {
        let p = self.pool;
        p.note_acquire();
        if let Some(r) = self.local.pop() {
            p.local_hits.fetch_add(1, Relaxed);
            p.cached.fetch_sub(1, Relaxed);
            return r;
        }
        if let Some(r) = p.shared.pop() {
            p.global_hits.fetch_add(1, Relaxed);
            return r;
        }
        p.misses.fetch_add(1, Relaxed);
        Box::new(ActivationRecord::new(p.node_count))
    }

    /// Gives a record back: to the local cache, else the shared queue, else it is dropped.
    pub fn release(&mut self, r: Box<ActivationRecord>) {
        let p = self.pool;
        p.returns.fetch_add(1, Relaxed);
        if self.local.len() < LOCAL_CACHE {
            self.local.push(r);
            p.cached.fetch_add(1, Relaxed);
        } else if p.shared.push(r).is_err() {
            p.discarded.fetch_add(1, Relaxed);
        }
    }
}

impl Drop for PoolHandle<'_> {
    fn drop(&mut self) {
        for r in self.local.drain(..) {
            self.pool.cached.fetch_sub(1, Relaxed);
            if self.pool.shared.push(r).is_err() {
                self.pool.discarded.fetch_add(1, Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_state_reuses_one_record_per_thread() {
        let pool = ActivationRecordPool::new(10, 8);
        {
            let mut h = pool.handle();
            for _ in 0..100 {
                let r = h.acquire();
                h.release(r);
            }
            let s = pool.stats();
            assert_eq!(s.acquires, 100);
            assert_eq!(s.misses, 1);
            assert_eq!(s.local_hits, 99);
            assert_eq!(s.in_use, 0);
            assert_eq!(s.high_water_mark, 1);
            assert_eq!(s.available, 1);
        }
        // The handle's cached record went back to the shared queue.
        let mut h = pool.handle();
        let a = h.acquire();
        let b = h.acquire();
        let s = pool.stats();
        assert_eq!(
            (s.global_hits, s.misses, s.in_use, s.high_water_mark),
            (1, 2, 2, 2)
        );
        assert_eq!(s.utilization, 1.0);
        h.release(a);
        h.release(b);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn prefilled_records_answer_first_acquires() {
        let pool = ActivationRecordPool::new(10, 4);
        assert_eq!(pool.prefill(2, 1), 2);
        let (mut a, mut b) = (pool.handle(), pool.handle());
        let (ra, rb) = (a.acquire(), b.acquire());
        let s = pool.stats();
        assert_eq!((s.misses, s.global_hits, s.in_use), (0, 2, 2));
        a.release(ra);
        b.release(rb);
        drop((a, b));
        assert_eq!(pool.prefill(10, 1), 2, "bounded by the queue's free room");
    }

    #[test]
    fn shared_between_threads() {
        let pool = ActivationRecordPool::new(100, 16);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let mut h = pool.handle();
                    for _ in 0..1000 {
                        let r = h.acquire();
                        h.release(r);
                    }
                });
            }
        });
        let s = pool.stats();
        assert_eq!(s.acquires, 4000);
        assert_eq!(s.returns, 4000);
        assert_eq!(s.in_use, 0);
        assert!(s.misses <= 4, "{s:?}");
        assert!(s.high_water_mark <= 4);
    }
}
