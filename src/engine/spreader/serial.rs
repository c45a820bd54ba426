//! The serial kernels: one hop's push and apply on the calling thread.
//!
//! Most hops of a typical spread are too small to pay for waking the workers, so these are
//! the engine's hot path, written for it: no bounds checks, and selects rather than branches
//! on data. Each is a function of its own (`#[inline(never)]`), so a profile shows it by name.
//! The rules they apply are [`ModelTables`]'s, shared with the parallel kernels.

use super::policy::ExecutionPolicy;
use super::prefetch_target;
use super::tables::{contribution, HopCtx, ModelTables};
use crate::engine::prefetch::prefetch;
use crate::engine::result::SpreadResult;
use crate::engine::scratch::{NodeState, SpreadScratch};
use crate::graph::Graph;

/// Computes every contribution of hop `d` and sums them per target. Returns the number of
/// edges relaxed.
///
/// This is the innermost loop of the engine, so it is written without branches on data
/// and without bounds checks; the safety argument is the same for every unchecked access:
/// a [`Graph`] only holds targets `< node_count` (checked when it is built), `spread_into`
/// bound `states` and the node lists to `node_count`, and the hop stamp lets each target
/// into `touched` at most once per hop.
#[inline(never)]
pub(super) fn push_hop(
    t: &ModelTables,
    policy: &ExecutionPolicy,
    graph: &Graph,
    d: u32,
    s: &mut SpreadScratch,
) -> u64 {
    let hop_epoch = s.hop_epoch;
    let pd = policy.prefetch_distance();
    let all_edges = graph.edges();
    let last_edge = all_edges.len().saturating_sub(1);
    let mut relaxed = 0u64;
    let SpreadScratch {
        states,
        frontier,
        touched,
        ..
    } = s;
    debug_assert_eq!(states.len(), graph.node_count());
    let states: &[NodeState] = states;
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
        relaxed += degree as u64;
        let scaled = t.scaled_push(delta, d, degree);
        let edges = &all_edges[first..first + degree];
        for (j, e) in edges.iter().enumerate() {
            if pd > 0 {
                // SAFETY: `e` is an edge of `all_edges`, so it is not empty and `last_edge`
                // is its last index; the clamp keeps the index at or below it.
                unsafe { prefetch_target(all_edges, states, (first + j + pd).min(last_edge)) };
            }
            let c = contribution(scaled, e.weight);
            // SAFETY: see the function comment (target < node_count == states.len()).
            let st = unsafe { states.get_unchecked(e.target as usize) };
            let fresh = st.hop_epoch() != hop_epoch;
            st.set_hop_epoch(hop_epoch);
            // Pending sums are zero between hops, so no first-touch case here.
            st.set_pending(st.pending() + c);
            // SAFETY: see the function comment (each target kept at most once per hop).
            unsafe { touched.push_if_unchecked(e.target, fresh) };
        }
    }
    relaxed
}

/// Applies each target's summed contribution once and builds the next frontier.
///
/// Two passes: the first filters out, without branches, the sums rejected at first contact
/// (most targets in a typical spread); the second applies the rest.
#[inline(never)]
pub(super) fn apply_hop(
    t: &ModelTables,
    graph: &Graph,
    d: u32,
    s: &mut SpreadScratch,
    out: &mut SpreadResult,
) {
    let c = HopCtx {
        graph,
        states: &s.states,
        d,
        spread_epoch: s.spread_epoch,
    };
    let mut rejected = 0u64;
    for &v in s.touched.as_slice() {
        // SAFETY: touched holds targets of this graph's edges: v < node_count ==
        // states.len().
        let reject = t.reject_one(unsafe { c.states.get_unchecked(v as usize) }, c);
        rejected += reject as u64;
        // SAFETY: each target appears in touched once, so `accepted` (sized for the graph)
        // keeps fewer values than its capacity.
        unsafe { s.accepted.push_if_unchecked(v, !reject) };
    }
    let mut penalties = 0u64;
    let mut next_edges = 0u64;
    for &v in s.accepted.as_slice() {
        let (next, newly, penalty) = t.apply_one(v, c);
        if newly {
            s.activated.push(v);
        }
        if let Some(delta) = next {
            s.next.push((v, delta));
            next_edges += c.graph.out_degree(v) as u64;
        }
        penalties += penalty as u64;
    }
    s.frontier_edges = next_edges;
    out.work.rejected += rejected;
    out.work.cycle_penalties += penalties;
}
