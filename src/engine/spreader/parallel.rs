//! The parallel kernel: one hop's push and apply on the threads of a [`HopExecutor`], for
//! hops whose frontier has enough out-edges ([`ExecutionPolicy::parallel_hop`]).
//!
//! Each participant owns a contiguous range of target ids and is the only one to read or
//! write those targets' state in the hop: it walks the whole frontier, but of each frontier
//! node's out-edges (sorted by target) only the run that lands in its range, found by binary
//! search. So contributions are summed with plain adds rather than one atomic add per edge
//! (a locked add also stops the core from overlapping the cache misses around it, which is
//! what a large spread is made of), and a participant can apply its targets' sums as soon as
//! its own push is done: one broadcast per hop, no barrier between push and apply.
//!
//! The ranges split the edge array into equal parts by out-degree prefix, which on an
//! undirected graph is the in-degree prefix, so each participant gets about the same share
//! of the contributions. The rules are [`ModelTables`]'s and the serial kernels' (the same
//! `push_edges`, `apply_inner` and `apply_last`); only the order of the integer additions and
//! of the lists differs, which cannot change a sum or the ranked result, so every thread
//! count and batch size gives the same bits.

use super::lock;
use super::policy::ExecutionPolicy;
use super::serial::{apply_touched, push_edges, Tally};
use super::tables::ModelTables;
use crate::engine::executor::HopExecutor;
use crate::engine::prefetch::prefetch;
use crate::engine::result::SpreadResult;
use crate::engine::scratch::{NodeState, SpreadScratch};
use crate::graph::Graph;

/// The most participants a hop splits its targets between (the split points live on the
/// stack); an executor with more threads leaves the rest idle in the hop.
const MAX_PARTS: usize = 64;

/// Runs hop `d` on `ex`: every participant pushes the contributions to the targets it owns
/// and applies them; the caller merges the next frontier, the activated nodes and the counts.
/// Returns the number of edges relaxed.
#[inline(never)]
pub(super) fn hop(
    t: &ModelTables,
    policy: &ExecutionPolicy,
    graph: &Graph,
    d: u32,
    s: &mut SpreadScratch,
    out: &mut SpreadResult,
    ex: &HopExecutor,
) -> u64 {
    let parts = ex.threads().min(MAX_PARTS);
    let splits = owner_splits(graph, parts);
    let pd = policy.prefetch_distance();
    let hop_epoch = s.hop_epoch;
    let last = d == t.config().max_depth;
    let frontier = &s.frontier;
    let states: &[NodeState] = &s.states;
    let c = t.hop_ctx(graph, states, d, s.spread_epoch);
    let participants = &s.participants;
    let all_edges = graph.edges();
    ex.broadcast(&|p| {
        if p >= parts {
            return;
        }
        let (lo, hi) = (splits[p], splits[p + 1]);
        let mut buf = lock(&participants[p]);
        let buf = &mut *buf;
        buf.clear();
        let mut touched = buf.touched.appender();
        for (i, &(u, delta)) in frontier.iter().enumerate() {
            if pd > 0 {
                if let Some(&(ahead, _)) = frontier.get(i + pd) {
                    prefetch(
                        all_edges
                            .as_ptr()
                            .wrapping_add(graph.node(ahead).first_edge()),
                    );
                }
            }
            let rec = graph.node(u);
            let (first, degree) = (rec.first_edge(), rec.degree());
            let edges = &all_edges[first..first + degree];
            let from = first + edges.partition_point(|e| e.target < lo);
            let to = first + edges.partition_point(|e| e.target < hi);
            if from == to {
                continue;
            }
            let scaled = t.scaled_push(delta, d, degree);
            // SAFETY: `first <= from <= to <= first + degree <= all_edges.len()`; targets
            // are < node_count == states.len(); `touched` is sized for the graph; and only
            // this participant touches targets in `lo..hi` during the hop.
            unsafe {
                push_edges(
                    all_edges,
                    from,
                    to,
                    scaled,
                    states,
                    hop_epoch,
                    &mut touched,
                    pd,
                )
            };
        }
        drop(touched);
        let tally = apply_touched(
            t,
            c,
            last,
            buf.touched.as_slice(),
            &mut buf.accepted,
            &mut buf.activated,
            &mut buf.next,
            &mut buf.penalized,
        );
        buf.rejected = tally.rejected;
        buf.next_edges = tally.next_edges;
    });
    let mut tally = Tally::default();
    for part in &s.participants[..parts] {
        let buf = lock(part);
        s.activated.extend_from_slice(buf.activated.as_slice());
        s.next.extend_from_slice(&buf.next);
        s.penalized.extend_from_slice(buf.penalized.as_slice());
        tally.rejected += buf.rejected;
        tally.next_edges += buf.next_edges;
    }
    out.work.rejected += tally.rejected;
    let relaxed = s.frontier_edges;
    s.frontier_edges = tally.next_edges;
    relaxed
}

/// The first target id of each participant's range, and `node_count` last: participant `p`
/// owns `splits[p]..splits[p + 1]`, the nodes whose out-edges start in the `p`-th of `parts`
/// equal slices of the edge array.
fn owner_splits(graph: &Graph, parts: usize) -> [u32; MAX_PARTS + 1] {
    let mut splits = [graph.node_count() as u32; MAX_PARTS + 1];
    let nodes = graph.nodes();
    let edges = graph.edges().len();
    for (p, split) in splits.iter_mut().enumerate().take(parts) {
        let share = edges * p / parts;
        *split = nodes.partition_point(|r| r.first_edge() < share) as u32;
    }
    splits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::generate::{generate, GraphParams, Topology};

    #[test]
    fn owner_ranges_cover_every_node_once_in_order() {
        let g = generate(&GraphParams {
            topology: Topology::BarabasiAlbert { m: 3 },
            nodes: 500,
            directed: false,
            weight_min: 0.1,
            weight_max: 1.0,
            inhibitory_share: 0.1,
            modulatory_share: 0.1,
            tier_shares: [0.3, 0.4, 0.3],
            seed: 5,
        })
        .unwrap();
        for parts in [1usize, 2, 3, 4, 64] {
            let s = owner_splits(&g, parts);
            assert_eq!(s[0], 0);
            assert_eq!(s[parts], 500);
            assert!(
                s[..=parts].windows(2).all(|w| w[0] <= w[1]),
                "{parts}: {s:?}"
            );
        }
        // Two parts: each owns close to half of the edges' targets (in-degree = out-degree
        // on an undirected graph).
        let s = owner_splits(&g, 2);
        let first_half = g.nodes()[s[1] as usize].first_edge();
        let m = g.edges().len();
        assert!(first_half.abs_diff(m / 2) < m / 20, "{first_half} of {m}");
    }
}
