//! How a [`Spreader`](super::Spreader) executes a spread: how far ahead to prefetch, which
//! hop executor to use, the batch size of a parallel push, and the decisions "this hop runs
//! parallel" and "this collection runs parallel".
//!
//! These settings trade speed only: the model's integer sums make every choice here give the
//! same bits (DESIGN §2, Determinism), so they live apart from the model's tables.
//!
//! The batch size and the parallel threshold may change from one spread to the next (the
//! adaptive batcher tries and applies settings per spread, and clients of one spreader may
//! run different ones at once), so the spreader owns [`ExecutionSettings`] and each spread
//! runs under an [`ExecutionPolicy`]: a few words on the stack that borrow the executor and
//! carry that spread's [`BatchSetting`]. Making one costs no allocation and no reference
//! count, so a per-spread setting is as cheap as the constructed one.

use crate::engine::batcher::BatchSetting;
use crate::engine::executor::HopExecutor;
use std::sync::Arc;

/// Default prefetch distance (items ahead). Chosen from side-by-side measurements; see README.
pub const DEFAULT_PREFETCH_DISTANCE: usize = 8;
/// Default frontier nodes per batch of a parallel push.
pub const DEFAULT_BATCH_SIZE: usize = 256;
/// A hop goes parallel only when its frontier has at least this many out-edges: below it, the
/// cost of waking the workers is larger than what they save.
pub const DEFAULT_PARALLEL_MIN_EDGES: u64 = 32_768;

/// How many in-cache edges one edge of a graph larger than the caches counts for against the
/// parallel threshold ([`ExecutionPolicy::parallel_hop`]). Measured on scale-free-1m-deep
/// (2 threads against 1, p50), where a third hop of 8,192–32,767 edges took 0.65 ms on one
/// thread: README, "Engine speed".
pub(super) const FAR_EDGE_COST: u64 = 4;

/// What a [`Spreader`](super::Spreader) was built with: its prefetch distance, its executor
/// and the batch setting a spread runs under unless it is given another.
#[derive(Debug, Clone)]
pub(super) struct ExecutionSettings {
    /// How many items ahead to prefetch frontier adjacency and target state; 0 = off.
    prefetch_distance: usize,
    /// `None`, or an executor with more than one thread.
    executor: Option<Arc<HopExecutor>>,
    /// The default batch setting (batch size at least 1).
    setting: BatchSetting,
}

impl Default for ExecutionSettings {
    fn default() -> Self {
        ExecutionSettings {
            prefetch_distance: DEFAULT_PREFETCH_DISTANCE,
            executor: None,
            setting: BatchSetting::default(),
        }
    }
}

impl ExecutionSettings {
    pub(super) fn set_prefetch_distance(&mut self, distance: usize) {
        self.prefetch_distance = distance;
    }

    /// A one-thread executor would only add hand-off costs, so it is dropped.
    pub(super) fn set_executor(&mut self, executor: Option<Arc<HopExecutor>>) {
        self.executor = executor.filter(|e| e.threads() > 1);
    }

    pub(super) fn set_batch_size(&mut self, batch_size: usize) {
        self.setting.batch_size = batch_size.max(1);
    }

    pub(super) fn set_parallel_min_edges(&mut self, edges: u64) {
        self.setting.parallel_min_edges = edges;
    }

    pub(super) fn prefetch_distance(&self) -> usize {
        self.prefetch_distance
    }

    /// The batch setting a spread runs under when it is given none.
    pub(super) fn setting(&self) -> BatchSetting {
        self.setting
    }

    pub(super) fn executor(&self) -> Option<&HopExecutor> {
        self.executor.as_deref()
    }

    /// Threads a parallel stage uses (1 when there is no executor).
    pub(super) fn threads(&self) -> usize {
        self.executor.as_ref().map_or(1, |e| e.threads())
    }

    /// The policy of one spread under `setting` (its batch size raised to at least 1).
    #[inline(always)]
    pub(super) fn policy(&self, setting: BatchSetting) -> ExecutionPolicy<'_> {
        ExecutionPolicy {
            prefetch_distance: self.prefetch_distance,
            executor: self.executor.as_deref(),
            batch_size: setting.batch_size.max(1),
            parallel_min_edges: setting.parallel_min_edges,
        }
    }
}

/// How one spread executes: what the kernels read.
#[derive(Debug, Clone, Copy)]
pub(super) struct ExecutionPolicy<'a> {
    prefetch_distance: usize,
    executor: Option<&'a HopExecutor>,
    /// Frontier nodes per batch of a parallel push; at least 1.
    batch_size: usize,
    parallel_min_edges: u64,
}

impl<'a> ExecutionPolicy<'a> {
    #[inline(always)]
    pub(super) fn prefetch_distance(&self) -> usize {
        self.prefetch_distance
    }

    #[inline(always)]
    pub(super) fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Threads a parallel stage uses (1 when there is no executor).
    pub(super) fn threads(&self) -> usize {
        self.executor.map_or(1, |e| e.threads())
    }

    /// The executor a hop whose frontier has `frontier_edges` out-edges runs on, or `None`
    /// when it runs on the calling thread. `far`: the graph is larger than the caches
    /// ([`super::far_prefetch`]), where an edge is a cache miss and costs several times what
    /// it costs in cache, so its edges count [`FAR_EDGE_COST`] times against the threshold:
    /// the threshold weighs a hop's time against the cost of waking the workers, and that
    /// cost does not grow with the graph.
    #[inline]
    pub(super) fn parallel_hop(&self, frontier_edges: u64, far: bool) -> Option<&'a HopExecutor> {
        let work = if far {
            frontier_edges.saturating_mul(FAR_EDGE_COST)
        } else {
            frontier_edges
        };
        self.executor.filter(|_| work >= self.parallel_min_edges)
    }

    /// The executor that gathers and fills the result of a spread that activated `activated`
    /// nodes, or `None` for the calling thread. Its threshold is the hop's, halved and counted
    /// in activated nodes instead of out-edges.
    #[inline]
    pub(super) fn parallel_collect(&self, activated: usize) -> Option<&'a HopExecutor> {
        self.executor
            .filter(|_| activated as u64 >= self.parallel_min_edges / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hop_goes_parallel_from_the_threshold_on_and_only_with_threads() {
        let mut e = ExecutionSettings::default();
        e.set_parallel_min_edges(100);
        assert!(
            e.policy(e.setting())
                .parallel_hop(1_000_000, false)
                .is_none(),
            "no executor: always serial"
        );
        e.set_executor(Some(Arc::new(HopExecutor::new(1))));
        assert_eq!(e.threads(), 1, "a one-thread executor is dropped");
        assert!(e
            .policy(e.setting())
            .parallel_hop(1_000_000, false)
            .is_none());
        e.set_executor(Some(Arc::new(HopExecutor::new(2))));
        assert_eq!(e.threads(), 2);
        let p = e.policy(e.setting());
        assert_eq!(p.threads(), 2);
        assert!(p.parallel_hop(99, false).is_none());
        assert!(p.parallel_hop(100, false).is_some());
        // Collection: half the threshold, in activated nodes.
        assert!(p.parallel_collect(49).is_none());
        assert!(p.parallel_collect(50).is_some());
        e.set_batch_size(0);
        assert_eq!(e.policy(e.setting()).batch_size(), 1);
    }

    /// On a graph larger than the caches a hop's edges count [`FAR_EDGE_COST`] times.
    #[test]
    fn a_hop_on_a_graph_larger_than_the_caches_goes_parallel_sooner() {
        let mut e = ExecutionSettings::default();
        e.set_executor(Some(Arc::new(HopExecutor::new(2))));
        e.set_parallel_min_edges(4 * FAR_EDGE_COST);
        let p = e.policy(e.setting());
        assert!(p.parallel_hop(3, true).is_none());
        assert!(p.parallel_hop(4, true).is_some());
        assert!(p.parallel_hop(4, false).is_none());
        assert!(p.parallel_hop(4 * FAR_EDGE_COST, false).is_some());
        // No overflow at the top of the range.
        assert!(p.parallel_hop(u64::MAX, true).is_some());
    }

    /// A per-spread setting overrides the constructed one for that spread only.
    #[test]
    fn a_spread_runs_under_its_own_setting() {
        let mut e = ExecutionSettings::default();
        e.set_executor(Some(Arc::new(HopExecutor::new(2))));
        let p = e.policy(BatchSetting {
            batch_size: 0,
            parallel_min_edges: 10,
        });
        assert_eq!(p.batch_size(), 1);
        assert!(p.parallel_hop(9, false).is_none());
        assert!(p.parallel_hop(10, false).is_some());
        let d = e.policy(e.setting());
        assert_eq!(d.batch_size(), DEFAULT_BATCH_SIZE);
        assert!(d.parallel_hop(10, false).is_none());
    }
}
