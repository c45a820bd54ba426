//! What a spread returns: the ranked activated nodes and the work counters.
//!
//! A [`SpreadResult`] is meant to be reused across spreads (`clear` keeps its buffers), so a
//! steady stream of spreads does not allocate for results.

use super::fixed;
use crate::graph::Tier;
use serde::Serialize;

/// One node with activation > 0 at the end of a spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivatedNode {
    pub id: u32,
    /// Fixed-point activation (see [`fixed`]); in (0, ONE].
    pub activation: i64,
    /// activation × κ(tier).
    pub confidence: f64,
    /// The hop at which the node was first activated (0 for seeds).
    pub first_hop: u32,
    /// The tier whose parameters applied to the node.
    pub tier: Tier,
}

impl ActivatedNode {
    pub fn activation_f64(&self) -> f64 {
        fixed::to_f64(self.activation)
    }
}

/// Counters of the work a spread did. Deterministic: identical for identical inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkCounters {
    /// Hops that ran (a hop runs when its frontier is not empty), at most the max depth.
    pub hops: u32,
    /// Frontier size expanded at each hop that ran: `frontier_sizes[0]` is the seeds'
    /// frontier expanded at hop 1.
    pub frontier_sizes: Vec<u32>,
    /// Contributions computed (one per out-edge of every expanded frontier node).
    pub edges_relaxed: u64,
    /// Nodes with activation > 0 at the end, seeds included.
    pub nodes_activated: u32,
    /// Summed contributions discarded at first contact because they fell below θ.
    pub rejected: u64,
    /// Times a node exceeded its visit budget and took the cycle penalty.
    pub cycle_penalties: u64,
}

/// Ranked result of one spread: activation descending, then node id ascending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpreadResult {
    pub nodes: Vec<ActivatedNode>,
    pub work: WorkCounters,
}

impl SpreadResult {
    /// A result with room for `node_count` nodes and the deepest spread, so filling it never
    /// allocates.
    pub fn with_capacity(node_count: usize) -> Self {
        SpreadResult {
            nodes: Vec::with_capacity(node_count),
            work: WorkCounters {
                frontier_sizes: Vec::with_capacity(256),
                ..WorkCounters::default()
            },
        }
    }

    /// Empties the result, keeping its buffers for reuse.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.work.hops = 0;
        self.work.frontier_sizes.clear();
        self.work.edges_relaxed = 0;
        self.work.nodes_activated = 0;
        self.work.rejected = 0;
        self.work.cycle_penalties = 0;
    }
}
