//! The parallel kernel: one hop's push and apply on the threads of a [`HopExecutor`], for
//! hops whose frontier has enough out-edges ([`ExecutionPolicy::parallel_hop`]).
//!
//! Propagation blocking, in two broadcasts. The target ids are cut into contiguous chunks
//! ([`OwnerMap`], eight per participant), and each chunk is taken by one participant, the
//! only one to read or write its targets' state in the hop. First, the participants share
//! the frontier in batches of the batch size (taken from a [`BatchCursor`], which balances
//! hubs against leaves) and compute every edge's contribution, appending (target,
//! contribution) to a bin per chunk: sequential writes, no node state touched. Then they take
//! the chunks from a second cursor, add up each one's bins with plain adds (no atomic add per
//! edge: a locked add also stops the core from overlapping the cache misses around it, which
//! is what a large spread is made of) and apply its targets' sums; a last hop with many
//! edges against the graph's nodes does so on dense sums, as the serial one does
//! ([`dense`]). One fixed range per participant, split by edges, left one of two
//! participants twice the other's work on scale-free-1m-deep's last hop (its range held
//! three times the ids). Every frontier node and its edges are read once in all, by one
//! participant.
//!
//! The chunks split the edge array into equal parts by out-degree prefix, which on an
//! undirected graph is the in-degree prefix, so each gets about the same share of the
//! contributions. The rules are [`ModelTables`]'s and the serial kernels' (the same
//! contribution, `add_contribution`, `apply_inner` and `apply_last`); only the order of the
//! integer additions and of the lists differs, which cannot change a sum or the ranked result,
//! so every thread count and batch size gives the same bits.

use super::dense::{self, SharedDense};
use super::policy::ExecutionPolicy;
use super::serial::{add_contribution, apply_touched, Tally};
use super::tables::{contribution, ModelTables};
use super::{far_prefetch, lock, prefetch_edges_ahead};
use crate::engine::executor::{BatchCursor, HopExecutor};
use crate::engine::marks::MARK_BLOCK;
use crate::engine::prefetch::prefetch;
use crate::engine::result::SpreadResult;
use crate::engine::scratch::{NodeState, OwnerMap, SpreadScratch};
use crate::graph::Graph;

/// The most participants a hop splits its targets between (the bins' views live on the
/// stack, and an owner is a byte); an executor with more threads leaves the rest idle.
const MAX_PARTS: usize = 64;

/// How many times further ahead than the prefetch distance the adding up of a bin prefetches
/// its targets' state: a binned contribution takes a few instructions, a quarter of an
/// edge's in the push, so a miss needs more of them in flight to be hidden
/// (scale-free-1m-deep, 2 threads, prefetch distance 8 vs 32 for the whole hop: p50 5.00 vs
/// 4.28 ms, side by side; one thread did not care).
const BIN_AHEAD: usize = 4;

/// Chunks of target ids per participant: the units of the adding up and applying, taken as
/// batches are, so that a participant whose chunks cost more takes fewer of them.
const CHUNKS_PER_PART: usize = 8;

/// Chunks an [`OwnerMap`] can name (its owners are bytes).
const MAX_CHUNKS: usize = 256;

/// The fewest batches per participant a hop's frontier is cut into.
const MIN_BATCHES_PER_PART: usize = 8;

/// At most 2^12 blocks of target ids in an [`OwnerMap`]: fine enough to split the edges
/// evenly, small enough to stay in cache beside the hop's data.
const MAX_BLOCKS_LOG2: u32 = 12;

/// At least [`MARK_BLOCK`] ids in a block, so that every participant's range of a dense last
/// hop is whole steps of the mark scans.
const MIN_BLOCK_LOG2: u32 = MARK_BLOCK.trailing_zeros();

/// Runs hop `d` on `ex`: the participants bin the contributions by chunk, then each adds up
/// and applies the chunks it takes; the caller merges the next frontier, the
/// activated nodes and the counts. Returns the number of edges relaxed.
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
    let chunks = (parts * CHUNKS_PER_PART).min(MAX_CHUNKS);
    ensure_owner_map(graph, chunks, &mut s.owners);
    let pd = policy.prefetch_distance();
    // At most the batch size, and small enough for several batches per participant: a
    // frontier of a few hundred hubs in batches of 256 left one participant most of the work.
    let batch = policy
        .batch_size()
        .min(s.frontier.len().div_ceil(parts * MIN_BATCHES_PER_PART))
        .max(1);
    let hop_epoch = s.hop_epoch;
    let last = d == t.config().max_depth;
    let frontier = &s.frontier;
    let states: &[NodeState] = &s.states;
    let owners = &s.owners;
    let all_edges = graph.edges();
    let far = far_prefetch(graph);

    // 1. Contributions, binned by the owner of their target.
    let bins = &s.bins;
    let cursor = BatchCursor::new(frontier.len().div_ceil(batch));
    ex.broadcast(&|p| {
        if p >= parts {
            return;
        }
        let mut mine = lock(&bins[p]);
        let to = &mut mine.to;
        to.resize_with(chunks, Vec::new);
        for (bin, &most) in to.iter_mut().zip(&owners.in_edges) {
            bin.clear();
            // Reserved, not touched: pages a hop never reaches are never committed.
            bin.reserve_exact(most);
        }
        // Each bin's write position, kept on the stack rather than in its `Vec`: a push
        // loaded, compared and stored the bin's length and capacity at every edge.
        let mut ends: [*mut (u32, i64); MAX_CHUNKS] = [std::ptr::null_mut(); MAX_CHUNKS];
        for (end, bin) in ends.iter_mut().zip(to.iter_mut()) {
            *end = bin.as_mut_ptr();
        }
        while let Some(k) = cursor.take() {
            let nodes = &frontier[k * batch..((k + 1) * batch).min(frontier.len())];
            for (i, &(u, delta)) in nodes.iter().enumerate() {
                prefetch_edges_ahead(graph, nodes, i, pd, far);
                let rec = graph.node(u);
                let (first, degree) = (rec.first_edge(), rec.degree());
                let scaled = t.scaled_push(delta, d, degree);
                for e in &all_edges[first..first + degree] {
                    // SAFETY: targets are < node_count, so their block is in the map.
                    let o = unsafe { owners.owner_unchecked(e.target) };
                    // SAFETY: `o < chunks` (the map's owners are < chunks), and bin `o` has
                    // room: a frontier's nodes are distinct (the seeds are merged per node,
                    // and a hop lets each target into the next frontier once), so each edge
                    // is binned at most once per hop and a bin receives at most the edges
                    // into its chunk, to which it is reserved.
                    unsafe {
                        let end = ends.get_unchecked_mut(o);
                        end.write((e.target, contribution(scaled, e.weight)));
                        *end = end.add(1);
                    }
                }
            }
        }
        for (end, bin) in ends.iter().zip(to.iter_mut()) {
            // SAFETY: `end` points into (or one past) the bin's buffer, and the entries
            // before it were written above, within its reserve.
            let len = unsafe { end.offset_from(bin.as_ptr()) } as usize;
            debug_assert!(len <= bin.capacity());
            // SAFETY: as above.
            unsafe { bin.set_len(len) };
        }
    });

    // 2. The participants take the chunks, largest first, and add up and apply the targets
    // of each. The bins are only read now, so they are borrowed, not locked (the scratch is
    // borrowed mutably: no one runs).
    let mut views: [&[Vec<(u32, i64)>]; MAX_PARTS] = [&[]; MAX_PARTS];
    for (view, m) in views.iter_mut().zip(s.bins.iter_mut()).take(parts) {
        *view = &m.get_mut().unwrap_or_else(|p| p.into_inner()).to;
    }
    let views = &views[..parts];
    let c = t.hop_ctx(graph, states, d, s.spread_epoch);
    let participants = &s.participants;
    let taken = BatchCursor::new(chunks);
    // The chunks split the edges evenly, so the last ones hold the most ids, and a chunk's
    // cost grows with its ids as well as its edges: taken from the last, the cheapest come
    // at the end, where they even out the participants' finishing times.
    let next_chunk = || taken.take().map(|k| chunks - 1 - k);
    if last && dense::worth_it(s.frontier_edges, graph.node_count()) {
        // The serial dense last hop's plain adds, scan and filter, chunk by chunk.
        let shared = SharedDense::new(&mut s.dense);
        let (scan, activated) = (s.dense.scan, s.activated.as_slice());
        ex.broadcast(&|p| {
            if p >= parts {
                return;
            }
            let mut buf = lock(&participants[p]);
            let buf = &mut *buf;
            buf.clear();
            while let Some(k) = next_chunk() {
                let (lo, hi) = owners.range(k, chunks, shared.len);
                for from in views {
                    // SAFETY: binned targets are < node_count <= shared.len and in chunk
                    // `k`, which only this participant took.
                    unsafe { add_bin_dense(&from[k], shared, pd * BIN_AHEAD) };
                }
                // SAFETY: chunks are disjoint ranges of whole blocks of at least MARK_BLOCK
                // ids (the last one ends at the padded length), each taken once, and the
                // scratch's dense arrays are not otherwise used until the broadcast returns.
                let mut range = unsafe { shared.range(lo, hi) };
                let touched = dense::filter_range(
                    t,
                    &c,
                    &mut range,
                    scan,
                    activated,
                    &mut buf.marked,
                    &mut buf.accepted,
                );
                buf.rejected += (touched - buf.accepted.len()) as u64;
                let kept = buf.accepted.as_slice();
                dense::apply_kept(t, c, kept, &mut range, &mut buf.activated, far);
            }
        });
    } else {
        ex.broadcast(&|p| {
            if p >= parts {
                return;
            }
            let mut buf = lock(&participants[p]);
            let buf = &mut *buf;
            buf.clear();
            let mut touched = buf.touched.appender();
            while let Some(k) = next_chunk() {
                for from in views {
                    // SAFETY: binned targets are < node_count == states.len() and in chunk
                    // `k`, which only this participant took, so no other participant
                    // touches them in this stage; `touched` is sized for the graph.
                    unsafe { add_bin(&from[k], states, hop_epoch, &mut touched, pd * BIN_AHEAD) };
                }
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
    }
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

/// Adds the binned contributions `bin` to their targets, prefetching the state of the target
/// `pd` entries ahead.
///
/// # Safety
/// As for [`add_contribution`], for every target of `bin`.
#[inline(always)]
unsafe fn add_bin(
    bin: &[(u32, i64)],
    states: &[NodeState],
    hop_epoch: u32,
    touched: &mut crate::engine::scratch::Appender<'_>,
    pd: usize,
) {
    for (i, &(target, c)) in bin.iter().enumerate() {
        if pd > 0 {
            if let Some(&(ahead, _)) = bin.get(i + pd) {
                prefetch(states.as_ptr().wrapping_add(ahead as usize));
            }
        }
        // SAFETY: the caller's contract.
        unsafe { add_contribution(states, target, c, hop_epoch, touched) };
    }
}

/// Adds the binned contributions `bin` to the dense sums and marks their targets,
/// prefetching the sum of the target `pd` entries ahead.
///
/// # Safety
/// Every target of `bin` is below `dense.len`, and no other thread touches those targets'
/// sums and marks during the call.
#[inline(always)]
unsafe fn add_bin_dense(bin: &[(u32, i64)], dense: SharedDense, pd: usize) {
    for (i, &(target, c)) in bin.iter().enumerate() {
        if pd > 0 {
            if let Some(&(ahead, _)) = bin.get(i + pd) {
                prefetch(dense.sums.wrapping_add(ahead as usize));
            }
        }
        // SAFETY: the caller's contract.
        unsafe {
            *dense.sums.add(target as usize) += c;
            dense.marks.add(target as usize).write(1);
        }
    }
}

/// Makes `map` the owner map of `graph` for `parts` owners (a hop's chunks), unless it is
/// already: the target ids in blocks of a power of two (at most 2^12 blocks, at least 16
/// ids), block `b` owned by the chunk in whose `p`-th of `parts` equal slices of the edge
/// array the out-edges of the block's first node start.
fn ensure_owner_map(graph: &Graph, parts: usize, map: &mut OwnerMap) {
    let key = (graph.instance(), parts);
    if map.made_for == key {
        return;
    }
    let n = graph.node_count();
    let id_bits = u64::BITS - (n.max(2) as u64 - 1).leading_zeros();
    let shift = id_bits.saturating_sub(MAX_BLOCKS_LOG2).max(MIN_BLOCK_LOG2);
    let edges = graph.edges().len().max(1) as u128;
    map.owner.clear();
    map.owner.extend((0..n.div_ceil(1 << shift)).map(|b| {
        let first = graph.node((b << shift) as u32).first_edge() as u128;
        ((first * parts as u128 / edges) as usize).min(parts - 1) as u8
    }));
    map.shift = shift;
    map.in_edges.clear();
    map.in_edges.resize(parts, 0);
    for e in graph.edges() {
        // SAFETY: the map was just made for this graph, and targets are < node_count.
        let o = unsafe { map.owner_unchecked(e.target) };
        map.in_edges[o] += 1;
    }
    map.made_for = key;
}

#[cfg(test)]
mod tests {
    use super::super::tests::mixed_ba_graph;
    use super::*;

    #[test]
    fn owner_blocks_cover_every_node_in_order_and_split_the_edges_evenly() {
        let g = mixed_ba_graph(50_000, 5);
        let mut map = OwnerMap::default();
        for parts in [1usize, 2, 3, 4, 64] {
            ensure_owner_map(&g, parts, &mut map);
            assert_eq!(map.shift, 16 - MAX_BLOCKS_LOG2);
            assert_eq!(map.owner.len(), 50_000usize.div_ceil(16));
            assert_eq!(map.owner[0], 0);
            assert!(
                map.owner.windows(2).all(|w| w[0] <= w[1]),
                "{parts}: in order"
            );
            assert!(map.owner.iter().all(|&o| (o as usize) < parts));
            // Every target of every edge has an owner below `parts`.
            for e in g.edges() {
                // SAFETY: targets are < node_count.
                assert!(unsafe { map.owner_unchecked(e.target) } < parts);
            }
        }
        // Two parts: each owns close to half of the edges' targets (in-degree = out-degree
        // on an undirected graph).
        ensure_owner_map(&g, 2, &mut map);
        let split = map.owner.iter().position(|&o| o == 1).unwrap() << map.shift;
        let first_half = g.nodes()[split].first_edge();
        let m = g.edges().len();
        assert!(first_half.abs_diff(m / 2) < m / 20, "{first_half} of {m}");
    }

    /// Reproducer: a bin is reserved to the in-edges of its chunk and never grows past them,
    /// also where a chunk owns fewer in-edges than a hub has out-edges, or none at all (more
    /// chunks than blocks of ids). A bin that grew allocated in measured spreads: the pool
    /// on hot-1k with two threads reported allocations per spread.
    #[test]
    fn contribution_bins_never_grow_past_their_chunks_in_edges() {
        use crate::engine::executor::HopExecutor;
        use crate::engine::{Seed, SpreadConfig, Spreader};
        use std::sync::Arc;
        for nodes in [100, 1000, 3000] {
            let g = mixed_ba_graph(nodes, 11);
            for threads in [2, 3] {
                let sp = Spreader::new(SpreadConfig {
                    max_depth: 4,
                    ..SpreadConfig::default()
                })
                .unwrap()
                .with_executor(Some(Arc::new(HopExecutor::new(threads))))
                .with_parallel_min_edges(0)
                .with_batch_size(2);
                let mut s = SpreadScratch::new(nodes);
                for i in 0..20u32 {
                    let seeds = [Seed::new(i * 37 % nodes as u32, 1.0)];
                    sp.spread(&g, &seeds, &mut s).unwrap();
                }
                let in_edges = &s.owners.in_edges;
                assert_eq!(in_edges.len(), threads * CHUNKS_PER_PART);
                for (p, bins) in s.bins.iter_mut().enumerate() {
                    let to = &bins.get_mut().unwrap().to;
                    for (k, (bin, &most)) in to.iter().zip(in_edges).enumerate() {
                        assert!(
                            bin.capacity() <= most,
                            "{nodes} nodes, {threads} threads: participant {p}'s bin {k} \
                             has room for {} of {most} in-edges",
                            bin.capacity()
                        );
                    }
                }
            }
        }
    }
}
