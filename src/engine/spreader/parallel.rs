//! The parallel kernels: one hop's push and apply on the threads of a [`HopExecutor`], for
//! hops whose frontier has enough out-edges ([`ExecutionPolicy::parallel_hop`]).
//!
//! They apply the same rules as the serial kernels ([`ModelTables`]'s contribution,
//! first-contact test and per-target application); only the order of the integer additions
//! differs, which cannot change a sum, so both give the same bits. Each participant fills its
//! own [`ParticipantBuf`](crate::engine::scratch::ParticipantBuf), merged by the calling thread
//! after the broadcast.

use super::policy::{ExecutionPolicy, APPLY_BATCH};
use super::tables::{contribution, HopCtx, ModelTables};
use super::{lock, prefetch_target};
use crate::engine::executor::{BatchCursor, HopExecutor};
use crate::engine::result::SpreadResult;
use crate::engine::scratch::{NodeState, SpreadScratch};
use crate::graph::Graph;

/// The parallel push: participants take batches of frontier nodes, add contributions
/// with atomic adds, and list the targets whose hop stamp they were first to set.
#[inline(never)]
pub(super) fn push_hop(
    t: &ModelTables,
    policy: &ExecutionPolicy,
    graph: &Graph,
    d: u32,
    s: &mut SpreadScratch,
    ex: &HopExecutor,
) -> u64 {
    let bs = policy.batch_size();
    let pd = policy.prefetch_distance();
    let hop_epoch = s.hop_epoch;
    let frontier = &s.frontier;
    let states: &[NodeState] = &s.states;
    let participants = &s.participants;
    let all_edges = graph.edges();
    let last_edge = all_edges.len().saturating_sub(1);
    let cursor = BatchCursor::new(frontier.len().div_ceil(bs));
    ex.broadcast(&|p| {
        let mut buf = lock(&participants[p]);
        buf.clear();
        while let Some(b) = cursor.take() {
            for &(u, delta) in &frontier[b * bs..((b + 1) * bs).min(frontier.len())] {
                let rec = graph.node(u);
                let (first, degree) = (rec.first_edge(), rec.degree());
                buf.relaxed += degree as u64;
                let scaled = t.scaled_push(delta, d, degree);
                for (j, e) in all_edges[first..first + degree].iter().enumerate() {
                    if pd > 0 {
                        // SAFETY: `e` is an edge of `all_edges`, so it is not empty and
                        // `last_edge` is its last index; the clamp keeps the index at or
                        // below it.
                        unsafe {
                            prefetch_target(all_edges, states, (first + j + pd).min(last_edge))
                        };
                    }
                    let c = contribution(scaled, e.weight);
                    let st = &states[e.target as usize];
                    st.pending
                        .fetch_add(c, std::sync::atomic::Ordering::Relaxed);
                    if st.hop_epoch() != hop_epoch
                        && st
                            .hop_epoch
                            .swap(hop_epoch, std::sync::atomic::Ordering::Relaxed)
                            != hop_epoch
                    {
                        buf.touched.push(e.target);
                    }
                }
            }
        }
    });
    let mut relaxed = 0;
    for part in &s.participants {
        let buf = lock(part);
        s.touched.extend_from_slice(&buf.touched);
        relaxed += buf.relaxed;
    }
    relaxed
}

/// The parallel apply: the touched targets are split into batches; each participant tests
/// and applies its batches' targets (each target belongs to exactly one batch, so no two
/// threads write one node's state) and gathers its share of the next frontier.
#[inline(never)]
pub(super) fn apply_hop(
    t: &ModelTables,
    graph: &Graph,
    d: u32,
    s: &mut SpreadScratch,
    out: &mut SpreadResult,
    ex: &HopExecutor,
) {
    let c = HopCtx {
        graph,
        states: &s.states,
        d,
        spread_epoch: s.spread_epoch,
    };
    let touched = s.touched.as_slice();
    let participants = &s.participants;
    let cursor = BatchCursor::new(touched.len().div_ceil(APPLY_BATCH));
    ex.broadcast(&|p| {
        let mut buf = lock(&participants[p]);
        let buf = &mut *buf;
        while let Some(b) = cursor.take() {
            for &v in &touched[b * APPLY_BATCH..((b + 1) * APPLY_BATCH).min(touched.len())] {
                if t.reject_one(&c.states[v as usize], c) {
                    buf.rejected += 1;
                    continue;
                }
                let (next, newly, penalty) = t.apply_one(v, c);
                if newly {
                    buf.activated.push(v);
                }
                if let Some(delta) = next {
                    buf.next.push((v, delta));
                    buf.next_edges += c.graph.out_degree(v) as u64;
                }
                buf.penalties += penalty as u64;
            }
        }
    });
    let mut next_edges = 0;
    for part in &s.participants {
        let mut buf = lock(part);
        s.activated.extend_from_slice(&buf.activated);
        s.next.extend_from_slice(&buf.next);
        out.work.rejected += buf.rejected;
        out.work.cycle_penalties += buf.penalties;
        next_edges += buf.next_edges;
        buf.clear();
    }
    s.frontier_edges = next_edges;
}
