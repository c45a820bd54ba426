//! How a [`Spreader`](super::Spreader) executes a spread: how far ahead to prefetch, which
//! hop executor to use, the batch size of a parallel push, and the decisions "this hop runs
//! parallel" and "this collection runs parallel".
//!
//! These settings trade speed only: the model's integer sums make every choice here give the
//! same bits (DESIGN §2, Determinism), so they live apart from the model's tables.

use crate::engine::executor::HopExecutor;
use std::sync::Arc;

/// Default prefetch distance (items ahead). Chosen from side-by-side measurements; see README.
pub const DEFAULT_PREFETCH_DISTANCE: usize = 8;
/// Default frontier nodes per batch of a parallel push.
pub const DEFAULT_BATCH_SIZE: usize = 256;
/// A hop goes parallel only when its frontier has at least this many out-edges: below it, the
/// cost of waking the workers is larger than what they save.
pub const DEFAULT_PARALLEL_MIN_EDGES: u64 = 32_768;

/// The execution settings of a [`Spreader`](super::Spreader).
#[derive(Debug, Clone)]
pub(super) struct ExecutionPolicy {
    /// How many items ahead to prefetch frontier adjacency and target state; 0 = off.
    prefetch_distance: usize,
    /// `None`, or an executor with more than one thread.
    executor: Option<Arc<HopExecutor>>,
    /// Frontier nodes per batch of a parallel push; at least 1.
    batch_size: usize,
    parallel_min_edges: u64,
}

impl Default for ExecutionPolicy {
    fn default() -> Self {
        ExecutionPolicy {
            prefetch_distance: DEFAULT_PREFETCH_DISTANCE,
            executor: None,
            batch_size: DEFAULT_BATCH_SIZE,
            parallel_min_edges: DEFAULT_PARALLEL_MIN_EDGES,
        }
    }
}

impl ExecutionPolicy {
    pub(super) fn set_prefetch_distance(&mut self, distance: usize) {
        self.prefetch_distance = distance;
    }

    /// A one-thread executor would only add hand-off costs, so it is dropped.
    pub(super) fn set_executor(&mut self, executor: Option<Arc<HopExecutor>>) {
        self.executor = executor.filter(|e| e.threads() > 1);
    }

    pub(super) fn set_batch_size(&mut self, batch_size: usize) {
        self.batch_size = batch_size.max(1);
    }

    pub(super) fn set_parallel_min_edges(&mut self, edges: u64) {
        self.parallel_min_edges = edges;
    }

    #[inline(always)]
    pub(super) fn prefetch_distance(&self) -> usize {
        self.prefetch_distance
    }

    #[inline(always)]
    pub(super) fn batch_size(&self) -> usize {
        self.batch_size
    }

    pub(super) fn executor(&self) -> Option<&HopExecutor> {
        self.executor.as_deref()
    }

    /// Threads a parallel stage uses (1 when there is no executor).
    pub(super) fn threads(&self) -> usize {
        self.executor.as_ref().map_or(1, |e| e.threads())
    }

    pub(super) fn parallel_min_edges(&self) -> u64 {
        self.parallel_min_edges
    }

    /// The executor a hop whose frontier has `frontier_edges` out-edges runs on, or `None`
    /// when it runs on the calling thread.
    #[inline]
    pub(super) fn parallel_hop(&self, frontier_edges: u64) -> Option<&HopExecutor> {
        match &self.executor {
            Some(ex) if frontier_edges >= self.parallel_min_edges => Some(ex.as_ref()),
            _ => None,
        }
    }

    /// The executor that gathers and fills the result of a spread that activated `activated`
    /// nodes, or `None` for the calling thread. Its threshold is the hop's, halved and counted
    /// in activated nodes instead of out-edges.
    #[inline]
    pub(super) fn parallel_collect(&self, activated: usize) -> Option<&HopExecutor> {
        self.executor
            .as_deref()
            .filter(|_| activated as u64 >= self.parallel_min_edges / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hop_goes_parallel_from_the_threshold_on_and_only_with_threads() {
        let mut p = ExecutionPolicy::default();
        p.set_parallel_min_edges(100);
        assert!(
            p.parallel_hop(1_000_000).is_none(),
            "no executor: always serial"
        );
        p.set_executor(Some(Arc::new(HopExecutor::new(1))));
        assert_eq!(p.threads(), 1, "a one-thread executor is dropped");
        assert!(p.parallel_hop(1_000_000).is_none());
        p.set_executor(Some(Arc::new(HopExecutor::new(2))));
        assert_eq!(p.threads(), 2);
        assert!(p.parallel_hop(99).is_none());
        assert!(p.parallel_hop(100).is_some());
        // Collection: half the threshold, in activated nodes.
        assert!(p.parallel_collect(49).is_none());
        assert!(p.parallel_collect(50).is_some());
        p.set_batch_size(0);
        assert_eq!(p.batch_size(), 1);
    }
}
