//! The serial kernels: one hop's push and apply on the calling thread.
//!
//! Most hops of a typical spread are too small to pay for waking the workers, so these are
//! the engine's hot path, written for it: no bounds checks, and selects rather than branches
//! on data. Each is a function of its own (`#[inline(never)]`), so a profile shows it by name
//! (`scripts/profile-engine.sh` counts instructions per phase by these names). The rules they
//! apply are [`ModelTables`]'s, shared with the parallel kernels.

use super::policy::ExecutionPolicy;
use super::tables::{contribution, HopCtx, ModelTables};
use super::{far_prefetch, prefetch_edges_ahead, prefetch_target};
use crate::engine::prefetch::prefetch;
use crate::engine::result::SpreadResult;
use crate::engine::scratch::{plain, Appender, NodeList, NodeState, SpreadScratch};
use crate::graph::{Edge, Graph};
use std::hint::select_unpredictable;

/// Computes every contribution of hop `d` and sums them per target. Returns the number of
/// edges relaxed.
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
    let mut relaxed = 0u64;
    let SpreadScratch {
        states,
        frontier,
        touched,
        ..
    } = s;
    debug_assert_eq!(states.len(), graph.node_count());
    let states: &[NodeState] = states;
    // One appender for the whole hop: its length stays in a register from node to node.
    let mut touched = touched.appender();
    let far = far_prefetch(graph);
    for (i, &(u, delta)) in frontier.iter().enumerate() {
        prefetch_edges_ahead(graph, frontier, i, pd, far);
        let rec = graph.node(u);
        let (first, degree) = (rec.first_edge(), rec.degree());
        relaxed += degree as u64;
        let scaled = t.scaled_push(delta, d, degree);
        // SAFETY: see `push_edges` (a node record's edges are a range of `all_edges`; every
        // target < node_count == states.len(); `touched` sized for the graph).
        unsafe {
            push_edges(
                all_edges,
                first,
                first + degree,
                scaled,
                states,
                hop_epoch,
                &mut touched,
                pd,
            )
        };
    }
    relaxed
}

/// Adds the contributions of `all_edges[from..to]`, all pushed with `scaled`, to their targets'
/// pending sums, and lists in `touched` each target this hop (stamp `hop_epoch`) reaches for
/// the first time. The first contribution of a hop overwrites a target's pending sum, so
/// nothing has to reset the sums between hops. Shared by the serial push and a parallel
/// participant's push over the targets it owns.
///
/// This is the innermost loop of the engine, so it has no branch on data and no bounds check.
/// `touched` is an appender the caller holds across the hop's frontier nodes.
///
/// # Safety
/// `from <= to <= all_edges.len()`; every target of `all_edges` is an index of `states`
/// (a [`Graph`] only holds targets `< node_count`, checked when it is built, and `spread_into`
/// bound `states` to `node_count`); `touched` has room for every node of `states`; and no
/// other thread reads or writes the states of these targets during the call.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) unsafe fn push_edges(
    all_edges: &[Edge],
    from: usize,
    to: usize,
    scaled: f64,
    states: &[NodeState],
    hop_epoch: u32,
    touched: &mut Appender<'_>,
    pd: usize,
) {
    debug_assert!(from <= to && to <= all_edges.len());
    // Walked by pointer, and each edge copied out once: indexed, the loop recomputed the
    // look-ahead address and reloaded the target after the stores to node state (which the
    // compiler cannot prove leave the edge array alone) at every edge.
    let base = all_edges.as_ptr();
    // SAFETY: `from <= to <= all_edges.len()`.
    let (mut e, end) = unsafe { (base.add(from), base.add(to)) };
    let mut push = |Edge { target, weight }: Edge| {
        // SAFETY: the caller's contract is `add_contribution`'s.
        unsafe {
            add_contribution(
                states,
                target,
                contribution(scaled, weight),
                hop_epoch,
                touched,
            )
        };
    };
    if pd == 0 {
        while e < end {
            // SAFETY: `from <= e < to`: an edge of the array.
            push(unsafe { *e });
            e = unsafe { e.add(1) };
        }
    } else if to + pd <= all_edges.len() {
        // Every edge `pd` ahead is in the array: no clamp at each edge (the common case; only
        // the last nodes of the edge array take the loop below).
        while e < end {
            // SAFETY: `e + pd < to + pd <= all_edges.len()`, and `e` is an edge of the array.
            let (ahead, edge) = unsafe { ((*e.add(pd)).target, *e) };
            prefetch(states.as_ptr().wrapping_add(ahead as usize));
            push(edge);
            e = unsafe { e.add(1) };
        }
    } else {
        let last_edge = all_edges.len().saturating_sub(1);
        for j in from..to {
            // SAFETY: `j < to <= all_edges.len()`, so the array is not empty and the clamp
            // keeps the index at or below its last.
            unsafe { prefetch_target(all_edges, states, (j + pd).min(last_edge)) };
            // SAFETY: `j < to <= all_edges.len()`.
            push(unsafe { *all_edges.get_unchecked(j) });
        }
    }
}

/// Adds contribution `c` to `target`'s pending sum in the hop stamped `hop_epoch`, and lists
/// the target in `touched` if this is its first contribution of the hop: the first overwrites
/// the sum, so nothing resets sums between hops. No branch on data.
///
/// # Safety
/// `target < states.len()`; `touched` has room for every node of `states`; and no other
/// thread reads or writes `states[target]` during the call.
#[inline(always)]
pub(super) unsafe fn add_contribution(
    states: &[NodeState],
    target: u32,
    c: i64,
    hop_epoch: u32,
    touched: &mut Appender<'_>,
) {
    // SAFETY: in bounds, and only this thread touches it (the caller's contract).
    let st = unsafe { &mut *plain(states, target) };
    let fresh = st.hop_epoch != hop_epoch;
    st.hop_epoch = hop_epoch;
    st.pending = select_unpredictable(fresh, 0, st.pending) + c;
    // SAFETY: the hop stamp lets each target into `touched` at most once per hop.
    unsafe { touched.push_if_unchecked(target, fresh) };
}

/// Applies each target's summed contribution once and builds the next frontier.
#[inline(never)]
pub(super) fn apply_hop(
    t: &ModelTables,
    graph: &Graph,
    d: u32,
    s: &mut SpreadScratch,
    out: &mut SpreadResult,
) {
    let c = t.hop_ctx(graph, &s.states, d, s.spread_epoch);
    let tally = apply_touched(
        t,
        c,
        d == t.config().max_depth,
        s.touched.as_slice(),
        &mut s.accepted,
        &mut s.activated,
        &mut s.next,
        &mut s.penalized,
    );
    s.frontier_edges = tally.next_edges;
    out.work.rejected += tally.rejected;
}

/// What the apply of one list of targets counted.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) rejected: u64,
    pub(super) next_edges: u64,
}

/// The apply of a hop over `touched`: [`apply_last`] at the last hop (`last`), which builds
/// no next frontier, else [`apply_inner`]. Serial and parallel hops both choose here.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn apply_touched(
    t: &ModelTables,
    c: HopCtx<'_>,
    last: bool,
    touched: &[u32],
    accepted: &mut NodeList,
    activated: &mut NodeList,
    next: &mut Vec<(u32, i64)>,
    penalized: &mut NodeList,
) -> Tally {
    if last {
        apply_last(t, c, touched, accepted, activated)
    } else {
        apply_inner(t, c, touched, accepted, activated, next, penalized)
    }
}

/// The apply of a hop before the last, over `touched`, in two passes: [`filter`], then
/// [`ModelTables::apply_inner_one`] for the accepted targets, appending without branches;
/// the targets due the cycle penalty go to `penalized`. Shared with a parallel participant's
/// apply of its targets.
#[inline(always)]
pub(super) fn apply_inner(
    t: &ModelTables,
    c: HopCtx<'_>,
    touched: &[u32],
    accepted: &mut NodeList,
    activated: &mut NodeList,
    next: &mut Vec<(u32, i64)>,
    penalized: &mut NodeList,
) -> Tally {
    let mut tally = Tally {
        rejected: filter(t, c, touched, accepted),
        ..Tally::default()
    };
    let accepted = accepted.as_slice();
    let records = c.graph.nodes().as_ptr();
    // Room for every accepted target, so that the appends below need no capacity check.
    next.reserve(accepted.len());
    let (next_buf, mut next_len) = (next.as_mut_ptr(), next.len());
    for (i, &v) in accepted.iter().enumerate() {
        // A node joining the next frontier adds its out-degree to the next hop's work: on a
        // large graph its record is a cache miss, so it is asked for a few nodes ahead.
        if let Some(&ahead) = accepted.get(i + TARGETS_AHEAD) {
            prefetch(records.wrapping_add(ahead as usize));
        }
        // SAFETY: as in `filter`.
        let (delta, newly, joins, penalty) =
            t.apply_inner_one(unsafe { &mut *plain(c.states, v) }, c);
        // SAFETY: `activated` holds distinct nodes (each is stamped once per spread), fewer
        // than its capacity of one more than the graph's nodes.
        unsafe { activated.push_if_unchecked(v, newly) };
        // SAFETY: `next_len` grows by at most one per accepted target from `next.len()`,
        // and `next` has room for `accepted.len()` more.
        unsafe { next_buf.add(next_len).write((v, delta)) };
        next_len += joins as usize;
        tally.next_edges += c.graph.out_degree(v) as u64 & (joins as u64).wrapping_neg();
        // SAFETY: each target is applied once per hop and `penalized` is cleared before
        // every hop, so it keeps fewer values than the graph has nodes.
        unsafe { penalized.push_if_unchecked(v, penalty) };
    }
    // SAFETY: the first `next_len` entries are the old ones and those written above.
    unsafe { next.set_len(next_len) };
    tally
}

/// Applies the deferred cycle penalties of the hop before (`s.penalized`) and counts them:
/// called once the next hop is admitted, or when the spread ends with an empty frontier.
/// Nothing reads those nodes' activation in between: past their visit budget, they are not in
/// the frontier.
pub(super) fn apply_penalties(t: &ModelTables, s: &mut SpreadScratch, out: &mut SpreadResult) {
    for &v in s.penalized.as_slice() {
        // SAFETY: `penalized` holds targets of this graph's edges (v < node_count ==
        // states.len()), and only this thread touches the states between hops.
        t.penalize(unsafe { &mut *plain(&s.states, v) });
    }
    out.work.cycle_penalties += s.penalized.len() as u64;
    s.penalized.clear();
}

/// The apply of the last hop over `touched`: the same filter as [`apply_inner`]'s, then
/// [`ModelTables::apply_last`] for the accepted targets.
#[inline(always)]
pub(super) fn apply_last(
    t: &ModelTables,
    c: HopCtx<'_>,
    touched: &[u32],
    accepted: &mut NodeList,
    activated: &mut NodeList,
) -> Tally {
    let rejected = filter(t, c, touched, accepted);
    for &v in accepted.as_slice() {
        // SAFETY: as in `filter`.
        let newly = t.apply_last(unsafe { &mut *plain(c.states, v) }, c);
        // SAFETY: `activated` holds distinct nodes (each is stamped once per spread), fewer
        // than its capacity of one more than the graph's nodes.
        unsafe { activated.push_if_unchecked(v, newly) };
    }
    Tally {
        rejected,
        ..Tally::default()
    }
}

/// Keeps in `accepted` the targets of `touched` whose sum is not rejected at first contact,
/// without branches (most targets of a typical spread are rejected, unpredictably). Returns
/// the number rejected.
#[inline(always)]
fn filter(t: &ModelTables, c: HopCtx<'_>, touched: &[u32], accepted: &mut NodeList) -> u64 {
    if t.storage_tiers() {
        filter_with::<true>(t, &c, touched, accepted)
    } else {
        filter_with::<false>(t, &c, touched, accepted)
    }
}

/// [`filter`] with [`ModelTables::storage_tiers`] a constant. A function of its own, with
/// its loop written out on plain locals: inlined in the hop's apply, or written with the
/// list's appender, its pointers lived on the stack and were reloaded at every target.
#[inline(never)]
fn filter_with<const STORAGE: bool>(
    t: &ModelTables,
    c: &HopCtx<'_>,
    touched: &[u32],
    accepted: &mut NodeList,
) -> u64 {
    accepted.clear();
    let keep = accepted.spare_ptr();
    let states = c.states;
    let n = touched.len();
    let mut kept = 0usize;
    let mut one = |v: u32| {
        // SAFETY: touched holds targets of this graph's edges (v < node_count ==
        // states.len()) that only this thread touches in this hop.
        let reject = t.reject_one::<STORAGE>(unsafe { &*plain(states, v) }, c);
        // SAFETY: each target appears in touched once, so fewer than `accepted`'s capacity
        // (one more than the graph's nodes) are kept, and `kept` stays in bounds.
        unsafe { keep.add(kept).write(v) };
        kept += !reject as usize;
    };
    // Walked by pointer: indexed (`i` and `i + TARGETS_AHEAD`), the loop's counters took a
    // quarter of its instructions.
    let mut p = touched.as_ptr();
    // SAFETY: `head <= n`: both are pointers into (or one past) `touched`.
    let (head, end) = unsafe { (p.add(n.saturating_sub(TARGETS_AHEAD)), p.add(n)) };
    while p < head {
        // SAFETY: `p < head`, so `p + TARGETS_AHEAD < end`: both are elements of `touched`.
        let (v, ahead) = unsafe { (*p, *p.add(TARGETS_AHEAD)) };
        prefetch(states.as_ptr().wrapping_add(ahead as usize));
        one(v);
        p = unsafe { p.add(1) };
    }
    while p < end {
        // SAFETY: `p < end`: an element of `touched`.
        one(unsafe { *p });
        p = unsafe { p.add(1) };
    }
    // SAFETY: the first `kept` slots were written above.
    unsafe { accepted.set_len(kept) };
    // Every target is either kept or rejected.
    (n - kept) as u64
}

/// How many targets ahead the filter prefetches their state.
const TARGETS_AHEAD: usize = 8;
