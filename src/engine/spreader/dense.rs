//! The last hop of a spread that reaches a large share of the graph, on dense sums.
//!
//! The stamped push ([`serial::push_edges`]) pays at every edge a stamp load, compare and
//! store and a branch-free append to `touched`, so that a hop costs what it reaches and not
//! what the graph holds. When the last hop's out-edges are many against the graph's nodes
//! (warm-10k's third hop: ≈ 4,700 edges into 10,000 nodes, a third of which it reaches), a
//! plain add into a zeroed array of sums and a one-byte mark per target cost less, and the
//! apply then finds the targets by scanning the marks eight at a time, in id order — which
//! also walks the node states in address order, where the stamped apply jumped between them.
//! The scan zeroes the marks it reads, the filter the sums it rejects and the apply the ones
//! it keeps, so both arrays are zero again for the next use ([`DenseSums`]).
//!
//! Only the last hop: it builds no frontier, so the order in which its targets are applied
//! (ids ascending instead of first contact) is not seen; the collect sorts. The sums are the
//! same integers either way, so the result is bit-identical to the stamped hop's.
//!
//! [`serial::push_edges`]: super::serial::push_edges

use super::dense_avx512;
use super::policy::ExecutionPolicy;
use super::tables::{contribution, HopCtx, ModelTables};
use super::{far_prefetch, prefetch_edges_ahead};
use crate::engine::marks::{self, MarkScan};
use crate::engine::prefetch::prefetch;
use crate::engine::result::SpreadResult;
use crate::engine::scratch::{plain, DenseSums, NodeList, SpreadScratch};
use crate::graph::{Edge, Graph};
use std::hint::select_unpredictable;

/// Whether the last hop, with `frontier_edges` out-edges into a graph of `node_count`
/// nodes, runs on dense sums: when the scan of one mark per node costs less than what the
/// stamp saves at each edge (the scan takes 16 marks a step with AVX-512, 8 without; an edge
/// saves ≈ 4 instructions).
#[inline]
pub(super) fn worth_it(frontier_edges: u64, node_count: usize) -> bool {
    #[cfg(test)]
    if let Some(forced) = tests::FORCED.with(|f| f.get()) {
        return forced;
    }
    frontier_edges.saturating_mul(DENSE_EDGES_PER_NODE_INV) >= node_count as u64
}

/// `worth_it`'s ratio: dense from one out-edge per this many nodes on.
const DENSE_EDGES_PER_NODE_INV: u64 = 8;

/// The last hop's push on dense sums: every contribution added to `sums` and its target
/// marked. Returns the number of edges relaxed.
#[inline(never)]
pub(super) fn push_last(
    t: &ModelTables,
    policy: &ExecutionPolicy,
    graph: &Graph,
    d: u32,
    s: &mut SpreadScratch,
) -> u64 {
    if far_prefetch(graph) {
        push_last_with::<true>(t, policy, graph, d, s)
    } else {
        push_last_with::<false>(t, policy, graph, d, s)
    }
}

/// [`push_last`] with [`far_prefetch`] a constant: on a graph in cache (`FAR` false) its
/// sums are not asked for ahead, and no node's loop tests for it. On warm-10k, whose sums are
/// in cache, the hint was a load and a prefetch per edge for nothing (`compare`, 100
/// rounds: p50 0.924 [0.864, 0.989]).
#[inline(always)]
fn push_last_with<const FAR: bool>(
    t: &ModelTables,
    policy: &ExecutionPolicy,
    graph: &Graph,
    d: u32,
    s: &mut SpreadScratch,
) -> u64 {
    let pd = policy.prefetch_distance();
    let all_edges = graph.edges();
    let SpreadScratch {
        frontier, dense, ..
    } = s;
    debug_assert!(dense.sums.len() >= graph.node_count());
    let (sums, marks) = (dense.sums.as_mut_ptr(), dense.marks.as_mut_ptr());
    let mut relaxed = 0u64;
    let sums_ahead = if FAR { pd } else { 0 };
    for (i, &(u, delta)) in frontier.iter().enumerate() {
        prefetch_edges_ahead(graph, frontier, i, pd, FAR);
        let rec = graph.node(u);
        let (first, degree) = (rec.first_edge(), rec.degree());
        relaxed += degree as u64;
        let scaled = t.scaled_push(delta, d, degree);
        let (from, to) = (first, first + degree);
        // SAFETY: a node record's edges are a range of `all_edges`; every target is below
        // `node_count`, the length of `sums` and (at least) of `marks`.
        unsafe { add_edges(all_edges, from, to, scaled, sums, marks, sums_ahead) };
    }
    relaxed
}

/// Adds the contributions of `all_edges[from..to]`, pushed with `scaled`, to `sums` and
/// marks their targets. No branch on data, no load but the sum's.
///
/// # Safety
/// `from <= to <= all_edges.len()`; every target of `all_edges` is an index of the arrays
/// `sums` and `marks` point to; no other thread touches them during the call.
#[inline(always)]
unsafe fn add_edges(
    all_edges: &[Edge],
    from: usize,
    to: usize,
    scaled: f64,
    sums: *mut i64,
    marks: *mut u8,
    pd: usize,
) {
    debug_assert!(from <= to && to <= all_edges.len());
    let add = |Edge { target, weight }: Edge| {
        // SAFETY: the caller's contract.
        unsafe {
            *sums.add(target as usize) += contribution(scaled, weight);
            marks.add(target as usize).write(1);
        }
    };
    let base = all_edges.as_ptr();
    // SAFETY: `from <= to <= all_edges.len()`.
    let (mut e, end) = unsafe { (base.add(from), base.add(to)) };
    if pd > 0 && to + pd <= all_edges.len() {
        while e < end {
            // SAFETY: `e + pd < to + pd <= all_edges.len()`, and `e` is an edge of the array.
            let (ahead, edge) = unsafe { ((*e.add(pd)).target, *e) };
            prefetch(sums.wrapping_add(ahead as usize));
            add(edge);
            e = unsafe { e.add(1) };
        }
    } else {
        while e < end {
            // SAFETY: `from <= e < to`: an edge of the array.
            add(unsafe { *e });
            e = unsafe { e.add(1) };
        }
    }
}

/// The last hop's apply on dense sums: the marked targets in id order through the same
/// first-contact test and last-hop application as the stamped hop's, both arrays zeroed on
/// the way.
#[inline(never)]
pub(super) fn apply_last(
    t: &ModelTables,
    graph: &Graph,
    d: u32,
    s: &mut SpreadScratch,
    out: &mut SpreadResult,
) {
    let c = t.hop_ctx(graph, &s.states, d, s.spread_epoch);
    let DenseSums {
        sums,
        marks,
        marked,
        active,
        tiers,
        scan,
    } = &mut s.dense;
    let mut whole = DenseRange {
        base: 0,
        sums,
        marks,
        active,
        tiers,
    };
    let touched = filter_range(
        t,
        &c,
        &mut whole,
        *scan,
        s.activated.as_slice(),
        marked,
        &mut s.accepted,
    );
    out.work.rejected += (touched - s.accepted.len()) as u64;
    let far = far_prefetch(graph);
    apply_kept(
        t,
        c,
        s.accepted.as_slice(),
        &mut whole,
        &mut s.activated,
        far,
    );
    s.frontier_edges = 0;
}

/// Applies the last hop's kept targets (`kept`, ids of `range`, whose sums the filter left in
/// it), zeroing their sums, and appends the newly activated ones to `activated`. With `far`
/// (a graph larger than the caches) each target's state is asked for [`KEPT_AHEAD`] targets
/// ahead: ascending but sparse (a ninth of the states on scale-free-1m-deep), they were a
/// miss each (the apply of that hop 4.1–4.6 → 2.7–3.0 ms, side by side). Its sum needs no
/// hint: the filter has just streamed through the sums (asked for as well, 3 rounds on
/// scale-free-1m-deep: no difference).
#[inline(always)]
pub(super) fn apply_kept(
    t: &ModelTables,
    c: HopCtx<'_>,
    kept: &[u32],
    range: &mut DenseRange<'_>,
    activated: &mut NodeList,
    far: bool,
) {
    let (base, sums) = (range.base, &mut *range.sums);
    for (i, &v) in kept.iter().enumerate() {
        if far {
            if let Some(&ahead) = kept.get(i + KEPT_AHEAD) {
                prefetch(c.states.as_ptr().wrapping_add(ahead as usize));
            }
        }
        // A kept id is one of the range's: `v - base` is an index of its sums.
        let sum = std::mem::take(&mut sums[(v - base) as usize]);
        // SAFETY: `v` is a node of this graph (v < node_count == states.len()), and only
        // this thread touches its state in this hop (the one thread, or the target's owner).
        let newly = t.apply_last_sum(unsafe { &mut *plain(c.states, v) }, sum, c);
        // SAFETY: `activated` holds distinct nodes (each is stamped once per spread), fewer
        // than its capacity of one more than the graph's nodes.
        unsafe { activated.push_if_unchecked(v, newly) };
    }
}

/// How many kept targets ahead [`apply_kept`] prefetches their state (8, 16 and 32 measured
/// alike; 0 cost a third more).
const KEPT_AHEAD: usize = 16;

/// The dense arrays over one range of node ids, `base..base + marks.len()`: the whole graph on
/// one thread, the ids a participant owns in a parallel hop. Every slice has the same length,
/// a multiple of [`marks::MARK_BLOCK`].
pub(super) struct DenseRange<'a> {
    pub(super) base: u32,
    pub(super) sums: &'a mut [i64],
    pub(super) marks: &'a mut [u8],
    pub(super) active: &'a mut [u8],
    pub(super) tiers: &'a [u8],
}

/// The dense arrays as raw parts, shared by the participants of a parallel last hop: each
/// adds its own targets' contributions and then takes the [`DenseRange`] of the ids it owns.
#[derive(Clone, Copy)]
pub(super) struct SharedDense {
    pub(super) sums: *mut i64,
    pub(super) marks: *mut u8,
    active: *mut u8,
    tiers: *const u8,
    pub(super) len: usize,
}

// SAFETY: the participants of a hop touch disjoint ranges of ids only (see `range`), and the
// hop executor's barrier orders each hop's accesses against the next.
unsafe impl Send for SharedDense {}
// SAFETY: as for Send.
unsafe impl Sync for SharedDense {}

impl SharedDense {
    pub(super) fn new(dense: &mut DenseSums) -> Self {
        let len = dense.marks.len();
        debug_assert!(dense.sums.len() == len && dense.active.len() == len);
        SharedDense {
            sums: dense.sums.as_mut_ptr(),
            marks: dense.marks.as_mut_ptr(),
            active: dense.active.as_mut_ptr(),
            tiers: dense.tiers.as_ptr(),
            len,
        }
    }

    /// The arrays over ids `lo..hi`.
    ///
    /// # Safety
    /// `lo <= hi <= self.len`, both multiples of [`marks::MARK_BLOCK`]; the `DenseSums` this
    /// was made from outlives the range and is not otherwise used meanwhile, and nothing else
    /// touches ids `lo..hi` of it while the range lives.
    pub(super) unsafe fn range(&self, lo: usize, hi: usize) -> DenseRange<'_> {
        debug_assert!(lo <= hi && hi <= self.len);
        debug_assert!(lo.is_multiple_of(marks::MARK_BLOCK) && hi.is_multiple_of(marks::MARK_BLOCK));
        let n = hi - lo;
        // SAFETY: the caller's contract.
        unsafe {
            DenseRange {
                base: lo as u32,
                sums: std::slice::from_raw_parts_mut(self.sums.add(lo), n),
                marks: std::slice::from_raw_parts_mut(self.marks.add(lo), n),
                active: std::slice::from_raw_parts_mut(self.active.add(lo), n),
                tiers: std::slice::from_raw_parts(self.tiers.add(lo), n),
            }
        }
    }
}

/// Keeps in `accepted`, ids ascending, the range's marked targets not rejected at first
/// contact, and zeroes what it reads but their sums, which [`apply_kept`] reads (and zeroes)
/// in place: writing them out cost two vector stores per 16 nodes, for a kept node in twenty
/// on warm-10k's last hop. `activated` is the spread's activated nodes (the AVX-512 filter's
/// activity bytes are written from those in the range) and `marked` a list of
/// [`marks::list_capacity`] of the range's length for the scan. `accepted` has room for the
/// range's length (the AVX-512 filter writes whole vectors). Returns the number of targets
/// marked.
#[inline(always)]
pub(super) fn filter_range(
    t: &ModelTables,
    c: &HopCtx<'_>,
    range: &mut DenseRange<'_>,
    scan: MarkScan,
    activated: &[u32],
    marked: &mut [u32],
    accepted: &mut NodeList,
) -> usize {
    if t.storage_tiers() && scan == MarkScan::Avx512 {
        filter_marked_avx512(c, range, activated, accepted)
    } else if t.storage_tiers() {
        filter_marked::<true>(t, c, range, scan, marked, accepted)
    } else {
        filter_marked::<false>(t, c, range, scan, marked, accepted)
    }
}

/// [`filter_marked`] of storage tiers in one AVX-512 pass ([`dense_avx512::filter`]), after
/// writing down which of the spread's activated nodes in the range have a nonzero
/// activation: every other node's is 0 (the collect before zeroed it), so no other state is
/// read.
fn filter_marked_avx512(
    c: &HopCtx<'_>,
    range: &mut DenseRange<'_>,
    activated: &[u32],
    accepted: &mut NodeList,
) -> usize {
    let n = range.marks.len();
    for &v in activated {
        let i = v.wrapping_sub(range.base) as usize;
        if i < n {
            // SAFETY: an activated node is a node of this graph (v < node_count ==
            // states.len()); in the range, only this thread touches it in this hop.
            let a = unsafe { (*plain(c.states, v)).activation };
            range.active[i] = u8::from(a != 0);
        }
    }
    accepted.clear();
    let keep_ids = accepted.spare_ptr();
    // Once per range: the kernel writes whole vectors up to the range's end.
    assert!(accepted.capacity() >= n);
    // SAFETY: chosen only when the scan is AVX-512, which `MarkScan::available` checked; a
    // range's arrays are of one length, a multiple of 16, and a graph's node count fits a
    // u32 (the filter asserts the lengths); `accepted` has room for the range's `n`.
    let f = unsafe { dense_avx512::filter(range, c.fresh_threshold, keep_ids) };
    // SAFETY: the filter wrote the first `kept` slots.
    unsafe { accepted.set_len(f.kept) };
    f.touched
}

/// Lists the range's marked targets ([`marks::list_marked`], which zeroes the marks) and
/// keeps in `accepted` those not rejected at first contact; zeroes the sums of the rest.
/// Returns the number of targets marked.
#[inline(never)]
fn filter_marked<const STORAGE: bool>(
    t: &ModelTables,
    c: &HopCtx<'_>,
    range: &mut DenseRange<'_>,
    scan: MarkScan,
    marked: &mut [u32],
    accepted: &mut NodeList,
) -> usize {
    let DenseRange {
        base, sums, marks, ..
    } = range;
    let base = *base;
    let touched = marks::list_marked(scan, marks, marked);
    accepted.clear();
    let keep = accepted.spare_ptr();
    let sums = sums.as_mut_ptr();
    let states = c.states;
    let mut kept = 0usize;
    for &i in &marked[..touched] {
        let v = base + i;
        // SAFETY: a marked byte is a target of this graph's edges (v < node_count ==
        // states.len()), at index `i` of the range's sums; in the range, only this thread
        // touches them in this hop.
        let slot = unsafe { &mut *sums.add(i as usize) };
        let reject = t.reject_sum::<STORAGE>(unsafe { &*plain(states, v) }, *slot, c);
        // A rejected sum is zeroed now, a kept one by `apply_kept`; no branch on which.
        *slot = select_unpredictable(reject, 0, *slot);
        // SAFETY: each node is listed once, so fewer than the capacity of `accepted` (at
        // least one more than the graph's nodes) are kept.
        unsafe { keep.add(kept).write(v) };
        kept += !reject as usize;
    }
    // SAFETY: the first `kept` slots were written above.
    unsafe { accepted.set_len(kept) };
    touched
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::tests::mixed_ba_graph;
    use super::super::{Seed, Spreader};
    use crate::engine::marks::MarkScan;
    use crate::engine::model::{SpreadConfig, TierPolicy};
    use crate::engine::scratch::SpreadScratch;
    use std::cell::Cell;

    thread_local! {
        /// Overrides [`super::worth_it`] on this thread: `Some(true)` every last hop dense,
        /// `Some(false)` none.
        pub(crate) static FORCED: Cell<Option<bool>> = const { Cell::new(None) };
    }

    /// Runs `f` with every last hop forced dense (or stamped).
    fn forced<T>(dense: bool, f: impl FnOnce() -> T) -> T {
        FORCED.with(|c| c.set(Some(dense)));
        let out = f();
        FORCED.with(|c| c.set(None));
        out
    }

    #[test]
    fn a_dense_last_hop_gives_the_stamped_hops_result() {
        let g = mixed_ba_graph(2000, 11);
        for policy in [TierPolicy::Storage, TierPolicy::HopDepth] {
            for depth in 1..=4 {
                let sp = Spreader::new(SpreadConfig {
                    max_depth: depth,
                    tier_policy: policy,
                    ..SpreadConfig::default()
                })
                .unwrap();
                // One scratch per path, reused across requests, as a benchmark uses it.
                let (mut a, mut b) = (SpreadScratch::new(2000), SpreadScratch::new(2000));
                for i in 0..30u32 {
                    let seeds = [Seed::new(i * 61 % 2000, 1.0), Seed::new(i * 7 % 2000, 0.4)];
                    let stamped = forced(false, || sp.spread(&g, &seeds, &mut a).unwrap());
                    let dense = forced(true, || sp.spread(&g, &seeds, &mut b).unwrap());
                    assert_eq!(stamped.nodes, dense.nodes, "{policy:?}, depth {depth}, {i}");
                    assert_eq!(stamped.work, dense.work, "{policy:?}, depth {depth}, {i}");
                    assert!(!stamped.nodes.is_empty());
                }
                assert!(b.dense.marks.iter().all(|&m| m == 0), "marks left set");
                assert!(b.dense.sums.iter().all(|&s| s == 0), "sums left set");
            }
        }
    }

    /// The dense hop's filters (the AVX-512 one of storage tiers, and the one after each
    /// scan of the marks) against the stamped hop, node by node and counter by counter.
    #[test]
    fn every_dense_filter_gives_the_stamped_hops_result() {
        let g = mixed_ba_graph(1000, 5);
        for scan in MarkScan::ALL.into_iter().filter(|k| k.available()) {
            for policy in [TierPolicy::Storage, TierPolicy::HopDepth] {
                for depth in [1, 3] {
                    let sp = Spreader::new(SpreadConfig {
                        max_depth: depth,
                        tier_policy: policy,
                        ..SpreadConfig::default()
                    })
                    .unwrap();
                    let (mut a, mut b) = (SpreadScratch::new(1000), SpreadScratch::new(1000));
                    b.dense.scan = scan;
                    for i in 0..20u32 {
                        let seeds = [Seed::new(i * 37 % 1000, 1.0), Seed::new(i * 11 % 1000, 0.7)];
                        let stamped = forced(false, || sp.spread(&g, &seeds, &mut a).unwrap());
                        let dense = forced(true, || sp.spread(&g, &seeds, &mut b).unwrap());
                        let at = format!("{scan:?}, {policy:?}, depth {depth}, request {i}");
                        assert_eq!(stamped.nodes, dense.nodes, "{at}");
                        assert_eq!(stamped.work, dense.work, "{at}");
                    }
                    let zeroed = b.dense.marks.iter().chain(&b.dense.active).all(|&m| m == 0);
                    assert!(
                        zeroed && b.dense.sums.iter().all(|&s| s == 0),
                        "{scan:?} left state"
                    );
                }
            }
        }
    }

    /// The parallel dense last hop (chunks taken by 2 or 3 participants, every scan, both
    /// tier policies, odd batch sizes) against one thread's stamped hop.
    #[test]
    fn a_parallel_dense_last_hop_gives_the_stamped_hops_result() {
        use crate::engine::executor::HopExecutor;
        use std::sync::Arc;
        let g = mixed_ba_graph(3000, 7);
        for threads in [2, 3] {
            let ex = Arc::new(HopExecutor::new(threads));
            for scan in MarkScan::ALL.into_iter().filter(|k| k.available()) {
                for policy in [TierPolicy::Storage, TierPolicy::HopDepth] {
                    let config = SpreadConfig {
                        max_depth: 3,
                        tier_policy: policy,
                        ..SpreadConfig::default()
                    };
                    let serial = Spreader::new(config.clone()).unwrap();
                    let parallel = Spreader::new(config)
                        .unwrap()
                        .with_executor(Some(Arc::clone(&ex)))
                        .with_parallel_min_edges(0)
                        .with_batch_size(3);
                    let (mut a, mut b) = (SpreadScratch::new(3000), SpreadScratch::new(3000));
                    b.dense.scan = scan;
                    for i in 0..10u32 {
                        let seeds = [Seed::new(i * 97 % 3000, 1.0), Seed::new(i * 13 % 3000, 0.6)];
                        let want = forced(false, || serial.spread(&g, &seeds, &mut a).unwrap());
                        let got = forced(true, || parallel.spread(&g, &seeds, &mut b).unwrap());
                        let at = format!("{threads} threads, {scan:?}, {policy:?}, request {i}");
                        assert_eq!(want.nodes, got.nodes, "{at}");
                        assert_eq!(want.work, got.work, "{at}");
                    }
                    let zeroed = b.dense.marks.iter().chain(&b.dense.active).all(|&m| m == 0);
                    assert!(
                        zeroed && b.dense.sums.iter().all(|&s| s == 0),
                        "{scan:?} left state"
                    );
                }
            }
        }
    }

    /// A spread after one stopped inside its dense hop, which left `leave` behind, gives
    /// the result of a spread on a fresh scratch.
    fn after_an_unfinished_dense_hop(leave: impl FnOnce(&mut SpreadScratch)) {
        let g = mixed_ba_graph(500, 3);
        let sp = Spreader::new(SpreadConfig::default()).unwrap();
        let seeds = [Seed::new(9, 1.0)];
        let want = forced(true, || {
            sp.spread(&g, &seeds, &mut SpreadScratch::new(500)).unwrap()
        });
        let mut scratch = SpreadScratch::new(500);
        scratch.begin_spread();
        leave(&mut scratch);
        let got = forced(true, || sp.spread(&g, &seeds, &mut scratch).unwrap());
        assert_eq!(got.nodes, want.nodes);
        assert_eq!(got.work, want.work);
    }

    /// Activity bytes left set (a spread stopped inside the AVX-512 filter) do not keep a
    /// rejected target.
    #[test]
    fn a_spread_after_an_unfinished_dense_filter_starts_from_zero_activity() {
        after_an_unfinished_dense_hop(|s| {
            s.dense.active.fill(1);
            s.dense.marks[77] = 1;
        });
    }

    #[test]
    fn a_spread_after_an_unfinished_dense_hop_starts_from_zero_sums() {
        // What a spread stopped inside its dense hop leaves: marks and sums set.
        after_an_unfinished_dense_hop(|s| {
            s.dense.marks[40] = 1;
            s.dense.sums[40] = 1 << 31;
            s.dense.sums[41] = -5;
        });
    }
}
