//! Per-spread working state, sized for a graph and reused across spreads.
//!
//! Clearing O(n) state before every spread would cost more than the spread itself on a large
//! graph, so each entry carries an epoch stamp instead: an entry belongs to the current spread
//! only if its `spread_epoch` matches. Likewise a pending sum belongs to the current hop only if
//! its `hop_epoch` matches: the first contribution of a hop overwrites it, so nothing resets
//! pending sums after they are applied. Starting a spread or a hop is one increment; a full
//! reset happens only when a 32-bit epoch wraps. The one field kept clean instead is the
//! activation: each spread's collect zeroes the activations it set (it reads every one of
//! them anyway), so the first-contact test of a hop, the engine's most frequent, reads
//! "activation is 0" without the spread stamp.
//!
//! Layout of [`NodeState`] (32 bytes, two nodes per 64-byte cache line, the array starting on
//! a line): everything a hop reads or writes for one target sits in one line.
//!
//! | field          | type | bytes |
//! |----------------|------|-------|
//! | `activation`   | i64  | 8     |
//! | `pending`      | i64  | 8     |
//! | `spread_epoch` | u32  | 4     |
//! | `hop_epoch`    | u32  | 4     |
//! | `visits`       | u16  | 2     |
//! | `first_hop`    | u8   | 1     |
//! | `tier`         | u8   | 1     |
//! | `storage_tier` | u8   | 1     |
//! | padding        |      | 3     |
//!
//! The fields are atomics so that a parallel hop can share the array between threads; on one
//! thread, relaxed loads and stores compile to plain moves. The node's storage tier is copied
//! in when the scratch is bound to a graph, so the first-contact test reads one line per target.

use crate::aligned::CacheAligned;
use crate::engine::marks::{self, MarkScan};
use crate::graph::Graph;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicI64, AtomicU16, AtomicU32, AtomicU8};
use std::sync::Mutex;

/// Per-node state of the current spread.
#[derive(Debug, Default)]
#[repr(C, align(32))]
pub struct NodeState {
    /// Fixed-point activation; 0 for every node not activated in the current spread.
    pub(crate) activation: AtomicI64,
    /// This hop's summed contributions; valid when `hop_epoch` is current.
    pub(crate) pending: AtomicI64,
    pub(crate) spread_epoch: AtomicU32,
    /// The last hop that listed this node as touched.
    pub(crate) hop_epoch: AtomicU32,
    /// Accepted sums so far in this spread (seeding excluded).
    pub(crate) visits: AtomicU16,
    pub(crate) first_hop: AtomicU8,
    /// `Tier as u8` of the parameters that apply to this node in this spread.
    pub(crate) tier: AtomicU8,
    /// `Tier as u8` of the node's storage tier in the bound graph.
    pub(crate) storage_tier: AtomicU8,
}

/// [`NodeState`] with plain fields, same layout: what the hop kernels read and write. Atomic
/// accesses, even relaxed ones, may not be merged, kept in registers or reordered by the
/// compiler, which made the kernels' loops about twice as long; a kernel only ever touches
/// states no other thread touches at the same time (one thread per spread, or per owned
/// range in a parallel hop, hand-offs ordered by the executor's barrier), so plain accesses
/// are race-free.
#[repr(C, align(32))]
pub(crate) struct PlainState {
    pub(crate) activation: i64,
    pub(crate) pending: i64,
    pub(crate) spread_epoch: u32,
    pub(crate) hop_epoch: u32,
    pub(crate) visits: u16,
    pub(crate) first_hop: u8,
    pub(crate) tier: u8,
    pub(crate) storage_tier: u8,
}

const _: () = assert!(std::mem::size_of::<PlainState>() == std::mem::size_of::<NodeState>());
const _: () = assert!(std::mem::offset_of!(PlainState, storage_tier) == 28);
const _: () = assert!(std::mem::offset_of!(NodeState, storage_tier) == 28);
const _: () = assert!(std::mem::offset_of!(PlainState, hop_epoch) == 20);
const _: () = assert!(std::mem::offset_of!(NodeState, hop_epoch) == 20);
const _: () = assert!(std::mem::offset_of!(PlainState, first_hop) == 26);
const _: () = assert!(std::mem::offset_of!(NodeState, first_hop) == 26);

/// The plain view of `states[v]`.
///
/// # Safety
/// `v < states.len()`, and while the pointer is used no other thread reads or writes
/// `states[v]`. (Every field of a [`NodeState`] is an atomic, so the shared borrow allows
/// writes through it.)
#[inline(always)]
pub(crate) unsafe fn plain(states: &[NodeState], v: u32) -> *mut PlainState {
    // SAFETY: in bounds by the caller's contract.
    unsafe { states.as_ptr().add(v as usize) as *mut PlainState }
}

/// Relaxed accessors: every cross-thread hand-off of this state goes through the hop
/// executor's barrier, which orders it.
impl NodeState {
    #[inline(always)]
    pub(crate) fn activation(&self) -> i64 {
        self.activation.load(Relaxed)
    }
    #[inline(always)]
    pub(crate) fn set_activation(&self, v: i64) {
        self.activation.store(v, Relaxed)
    }
    #[inline(always)]
    pub(crate) fn spread_epoch(&self) -> u32 {
        self.spread_epoch.load(Relaxed)
    }
    #[inline(always)]
    pub(crate) fn tier(&self) -> u8 {
        self.tier.load(Relaxed)
    }
    #[inline(always)]
    pub(crate) fn storage_tier(&self) -> u8 {
        self.storage_tier.load(Relaxed)
    }

    /// Marks the node active in spread `epoch`, first reached at `hop`, under `tier`.
    #[inline]
    pub(crate) fn activate(&self, epoch: u32, hop: u8, tier: u8) {
        self.spread_epoch.store(epoch, Relaxed);
        self.activation.store(0, Relaxed);
        self.visits.store(0, Relaxed);
        self.first_hop.store(hop, Relaxed);
        self.tier.store(tier, Relaxed);
    }
}

/// Buffers one participant of a parallel hop fills; merged by the calling thread.
#[derive(Debug)]
pub(crate) struct ParticipantBuf {
    /// The targets this participant owns that the hop touched, each once.
    pub(crate) touched: NodeList,
    /// Those of `touched` whose sum was not rejected at first contact.
    pub(crate) accepted: NodeList,
    pub(crate) next: Vec<(u32, i64)>,
    pub(crate) activated: NodeList,
    /// A dense last hop's scan of this participant's marks.
    pub(crate) marked: Vec<u32>,
    /// Those of its targets that passed their visit budget in this hop: their cycle penalty
    /// is deferred (see [`SpreadScratch::penalized`]).
    pub(crate) penalized: NodeList,
    /// Rank keys gathered by a parallel collect (sorted there), and the sort's buffer.
    pub(crate) keys: Vec<u64>,
    pub(crate) key_buf: Vec<u64>,
    pub(crate) rejected: u64,
    pub(crate) next_edges: u64,
    pub(crate) relaxed: u64,
}

impl ParticipantBuf {
    /// Buffers with room for every node of a graph of `nodes` nodes, so no hop grows them.
    pub(crate) fn for_nodes(nodes: usize) -> Self {
        ParticipantBuf {
            touched: NodeList::for_nodes(nodes),
            // Room for a whole mark block past the graph: the AVX-512 filter writes vectors.
            accepted: NodeList::for_nodes(nodes.next_multiple_of(marks::MARK_BLOCK)),
            next: Vec::with_capacity(nodes),
            activated: NodeList::for_nodes(nodes),
            // Zeroed on allocation: committed only by a dense last hop's portable scans.
            marked: vec![0; marks::list_capacity(nodes.next_multiple_of(marks::MARK_BLOCK))],
            penalized: NodeList::for_nodes(nodes),
            keys: Vec::with_capacity(nodes + 1),
            key_buf: Vec::with_capacity(nodes + 1),
            rejected: 0,
            next_edges: 0,
            relaxed: 0,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.touched.clear();
        self.accepted.clear();
        self.next.clear();
        self.activated.clear();
        self.penalized.clear();
        self.rejected = 0;
        self.next_edges = 0;
        self.relaxed = 0;
    }
}

/// The contributions one participant of a parallel hop computed, one bin per owner of their
/// targets: (target, contribution). Kept between hops and spreads, so that once they have
/// grown to a workload's largest hop a parallel hop allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct ContributionBins {
    pub(crate) to: Vec<Vec<(u32, i64)>>,
}

/// Which participant owns each target of a parallel hop: target ids in blocks of
/// `1 << shift`, each block owned by one participant, blocks in order, so each participant
/// owns one contiguous range of ids. Made for one graph and participant count, and kept.
#[derive(Debug, Default)]
pub(crate) struct OwnerMap {
    /// [`Graph::instance`] and participant count it was made for (0: none yet).
    pub(crate) made_for: (u64, usize),
    pub(crate) shift: u32,
    pub(crate) owner: Vec<u8>,
    /// Per owner (chunk), the edges of the graph whose target it owns: the most entries its
    /// bins can receive in one hop (each frontier node, and so each edge, appears once), to
    /// which they are reserved, so that no hop grows them.
    pub(crate) in_edges: Vec<usize>,
}

impl OwnerMap {
    /// The participant that owns `target`.
    ///
    /// # Safety
    /// The map was made for the graph of `target` (`target < node_count`).
    #[inline(always)]
    pub(crate) unsafe fn owner_unchecked(&self, target: u32) -> usize {
        debug_assert!(((target >> self.shift) as usize) < self.owner.len());
        // SAFETY: `target < node_count`, and the map has `node_count >> shift` blocks
        // rounded up.
        usize::from(unsafe { *self.owner.get_unchecked((target >> self.shift) as usize) })
    }

    /// The ids owner `p` of `owners` (a parallel hop's chunk) holds, `lo..hi`, in arrays of
    /// `len` entries (at least the node count): whole blocks, the last owner's running to
    /// `len`.
    pub(crate) fn range(&self, p: usize, owners: usize, len: usize) -> (usize, usize) {
        let start = |q: usize| {
            if q >= owners {
                len
            } else {
                (self.owner.partition_point(|&o| usize::from(o) < q) << self.shift).min(len)
            }
        };
        (start(p), start(p + 1))
    }
}

/// Reusable state for one spread at a time. Not shared between spreads running at once: keep
/// one per client (or take one from a pool).
#[derive(Debug)]
pub struct SpreadScratch {
    pub(crate) states: CacheAligned<NodeState>,
    /// [`Graph::instance`] whose storage tiers `states` hold; 0 = none yet.
    pub(crate) bound_graph: u64,
    pub(crate) spread_epoch: u32,
    pub(crate) hop_epoch: u32,
    /// Frontier being expanded: (node, Δ).
    pub(crate) frontier: Vec<(u32, i64)>,
    /// Out-edges of the frontier: the work of the next hop's push.
    pub(crate) frontier_edges: u64,
    /// Frontier being built for the next hop.
    pub(crate) next: Vec<(u32, i64)>,
    /// Targets with a pending sum in the current hop, each once.
    pub(crate) touched: NodeList,
    /// Targets of the current hop whose sum was not rejected at first contact.
    pub(crate) accepted: NodeList,
    /// Nodes activated (stamped) in the current spread.
    pub(crate) activated: NodeList,
    /// Nodes that passed their visit budget in the last hop that ran, whose cycle penalty is
    /// still to apply: it is applied when the next hop is admitted (or the spread ends with an
    /// empty frontier), and dropped when a gate refuses the next hop, so a spread stopped
    /// before hop h is exactly a spread of depth h − 1, whose last hop applies none.
    pub(crate) penalized: NodeList,
    /// Sort keys used to rank the result (room for one more than every node, so that a
    /// branch-free append may write one past the last kept key), and the radix sort's buffer.
    pub(crate) rank_keys: Vec<u64>,
    pub(crate) rank_buf: Vec<u64>,
    /// One buffer per participant of a parallel hop (created on first parallel use).
    pub(crate) participants: Vec<Mutex<ParticipantBuf>>,
    /// One set of contribution bins per participant of a parallel hop: what it computed for
    /// the targets each participant owns (see the parallel kernel).
    pub(crate) bins: Vec<Mutex<ContributionBins>>,
    /// The owner of each block of target ids in a parallel hop, for `owners_of`.
    pub(crate) owners: OwnerMap,
    /// The sums and marks of a last hop run on dense sums (`spreader::dense`).
    pub(crate) dense: DenseSums,
    /// Set from the start of a spread until its collect has zeroed the activations it set:
    /// found set at the next start (the spread before panicked), every activation is zeroed
    /// then, so that "not activated in this spread" still means activation 0.
    pub(crate) unfinished: bool,
}

impl SpreadScratch {
    /// Scratch for a graph of `node_count` nodes.
    pub fn new(node_count: usize) -> Self {
        SpreadScratch {
            states: CacheAligned::new_default(node_count),
            bound_graph: 0,
            spread_epoch: 0,
            hop_epoch: 0,
            // Sized for the largest possible spread (every node), so no spread ever grows
            // them: a warm scratch allocates nothing. Reserved, not touched: pages a spread
            // never reaches are never committed.
            frontier: Vec::with_capacity(node_count),
            frontier_edges: 0,
            next: Vec::with_capacity(node_count),
            touched: NodeList::for_nodes(node_count),
            // Room for a whole mark block past the graph: the AVX-512 filter writes vectors.
            accepted: NodeList::for_nodes(node_count.next_multiple_of(marks::MARK_BLOCK)),
            activated: NodeList::for_nodes(node_count),
            penalized: NodeList::for_nodes(node_count),
            rank_keys: Vec::with_capacity(node_count + 1),
            rank_buf: Vec::with_capacity(node_count),
            participants: Vec::new(),
            bins: Vec::new(),
            owners: OwnerMap::default(),
            dense: DenseSums::for_nodes(node_count),
            unfinished: false,
        }
    }

    pub fn node_count(&self) -> usize {
        self.states.len()
    }

    /// Makes the scratch fit `graph`: resized if the node count differs, storage tiers copied
    /// if it was last used with another graph. O(n) then, O(1) on every later spread.
    pub(crate) fn bind(&mut self, graph: &Graph) {
        if self.states.len() != graph.node_count() {
            *self = SpreadScratch::new(graph.node_count());
        }
        if self.bound_graph != graph.instance() {
            for ((st, tier), rec) in self
                .states
                .iter()
                .zip(&mut self.dense.tiers)
                .zip(graph.nodes())
            {
                st.storage_tier.store(rec.tier() as u8, Relaxed);
                *tier = rec.tier() as u8;
            }
            self.bound_graph = graph.instance();
        }
    }

    /// Makes sure there is one buffer per participant, each with room for every node (as
    /// the scratch's own lists have), so a parallel hop never grows one.
    pub(crate) fn ensure_participants(&mut self, n: usize) {
        let nodes = self.states.len();
        while self.participants.len() < n {
            self.participants
                .push(Mutex::new(ParticipantBuf::for_nodes(nodes)));
        }
        while self.bins.len() < n {
            self.bins.push(Mutex::new(ContributionBins::default()));
        }
    }

    /// Starts a new spread: one increment, unless the epoch wraps.
    pub(crate) fn begin_spread(&mut self) {
        if self.unfinished {
            for s in self.states.iter() {
                s.activation.store(0, Relaxed);
            }
            self.dense.zero();
        }
        self.unfinished = true;
        if self.spread_epoch == u32::MAX {
            for s in self.states.iter() {
                s.spread_epoch.store(0, Relaxed);
            }
            self.spread_epoch = 0;
        }
        self.spread_epoch += 1;
        self.frontier.clear();
        self.frontier_edges = 0;
        self.next.clear();
        self.touched.clear();
        self.accepted.clear();
        self.activated.clear();
        self.penalized.clear();
    }

    /// Ends a spread whose collect has zeroed every activation it set.
    #[inline]
    pub(crate) fn end_spread(&mut self) {
        self.unfinished = false;
    }

    /// Starts a new hop: one increment, unless the epoch wraps.
    #[inline]
    pub(crate) fn begin_hop(&mut self) {
        if self.hop_epoch == u32::MAX {
            for s in self.states.iter() {
                s.hop_epoch.store(0, Relaxed);
            }
            self.hop_epoch = 0;
        }
        self.hop_epoch += 1;
        self.touched.clear();
        self.accepted.clear();
    }

    #[cfg(test)]
    pub(crate) fn force_epochs(&mut self, spread: u32, hop: u32) {
        self.spread_epoch = spread;
        self.hop_epoch = hop;
    }
}

/// What a last hop on dense sums works in: a hop sum, a mark and an activity byte per node,
/// all zero between uses (the apply zeroes what it reads; [`SpreadScratch::begin_spread`]
/// zeroes them after a spread that did not finish), the storage tiers of the bound graph and
/// the scan's list of marked nodes. Zeroed on allocation, so the pages of a graph whose
/// spreads never take that path are never committed — but for the tiers' byte per node,
/// written when a graph is bound.
#[derive(Debug, Clone)]
pub(crate) struct DenseSums {
    /// One per node, rounded up to whole blocks of the scan as the marks are.
    pub(crate) sums: Vec<i64>,
    /// One byte per node, 0 or 1, rounded up to whole blocks of the scan.
    pub(crate) marks: Vec<u8>,
    /// The marked nodes, listed by the scan ([`marks::list_capacity`] slots).
    pub(crate) marked: Vec<u32>,
    /// One byte per node (as many as marks): 1 where the activation is nonzero, written for
    /// the AVX-512 filter just before it runs (which zeroes it).
    pub(crate) active: Vec<u8>,
    /// The bound graph's storage tier per node (as many as marks; the padding 0), for the
    /// AVX-512 filter.
    pub(crate) tiers: Vec<u8>,
    pub(crate) scan: MarkScan,
}

impl DenseSums {
    fn for_nodes(node_count: usize) -> Self {
        let marks = node_count.next_multiple_of(marks::MARK_BLOCK);
        DenseSums {
            sums: vec![0; marks],
            marks: vec![0; marks],
            marked: vec![0; marks::list_capacity(marks)],
            active: vec![0; marks],
            tiers: vec![0; marks],
            scan: MarkScan::best(),
        }
    }

    fn zero(&mut self) {
        self.sums.fill(0);
        self.marks.fill(0);
        self.active.fill(0);
    }
}

/// A list of distinct node ids with room for every node of the graph, appended to without a
/// branch: [`NodeList::push_if`] always writes and advances only when asked. Whether a target
/// is new in this hop is close to a coin flip, so a branch there would mispredict often.
#[derive(Debug, Clone)]
pub struct NodeList {
    /// Capacity n + 1 (n at least the node count; `accepted` rounds it up to whole mark blocks):
    /// a list of distinct nodes holds at most n, and `push_if` writes one past the end when it
    /// does not keep the value.
    buf: Vec<u32>,
    len: usize,
}

impl NodeList {
    pub fn for_nodes(node_count: usize) -> Self {
        NodeList {
            buf: vec![0; node_count + 1],
            len: 0,
        }
    }

    /// Appends `v` if `keep`. The caller pushes each node at most once between clears.
    #[inline(always)]
    pub fn push_if(&mut self, v: u32, keep: bool) {
        self.buf[self.len] = v;
        self.len += keep as usize;
    }

    /// [`NodeList::push_if`] without the bounds check, for the innermost loop.
    ///
    /// # Safety
    /// Fewer than `capacity` values were kept since the last clear — which holds whenever
    /// each node of the graph the list was sized for is kept at most once.
    #[inline(always)]
    pub unsafe fn push_if_unchecked(&mut self, v: u32, keep: bool) {
        debug_assert!(self.len < self.buf.len());
        // SAFETY: `len` counts the values kept, fewer than `capacity == buf.len()` by the
        // caller's contract, so it is an index of `buf`.
        *self.buf.get_unchecked_mut(self.len) = v;
        self.len += keep as usize;
    }

    /// An appender for an innermost loop: it keeps the write position in a local, so the
    /// compiler can hold it in a register across the loop's stores to node state (which it
    /// cannot prove do not alias a length kept in the list), and writes it back when dropped.
    #[inline(always)]
    pub fn appender(&mut self) -> Appender<'_> {
        Appender {
            ptr: self.buf.as_mut_ptr(),
            len: self.len,
            cap: self.buf.len(),
            list: self,
        }
    }

    /// The list's buffer, for a loop that writes past the end itself and then calls
    /// [`NodeList::set_len`]: it has room for one more than the graph's nodes.
    #[inline(always)]
    pub fn spare_ptr(&mut self) -> *mut u32 {
        self.buf.as_mut_ptr()
    }

    /// Sets the length after a loop wrote through [`NodeList::spare_ptr`].
    ///
    /// # Safety
    /// `len <= capacity`, and the first `len` values were written since the list was made.
    #[inline(always)]
    pub unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.buf.len());
        self.len = len;
    }

    /// Appends `v`. The caller pushes each node at most once between clears.
    #[inline]
    pub fn push(&mut self, v: u32) {
        self.push_if(v, true);
    }

    /// Appends distinct nodes gathered elsewhere (a parallel hop's participants).
    pub fn extend_from_slice(&mut self, vs: &[u32]) {
        self.buf[self.len..self.len + vs.len()].copy_from_slice(vs);
        self.len += vs.len();
    }

    #[inline]
    pub fn as_slice(&self) -> &[u32] {
        &self.buf[..self.len]
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// See [`NodeList::appender`].
pub struct Appender<'a> {
    ptr: *mut u32,
    len: usize,
    cap: usize,
    list: &'a mut NodeList,
}

impl Appender<'_> {
    /// [`NodeList::push_if_unchecked`] through the appender.
    ///
    /// # Safety
    /// As for [`NodeList::push_if_unchecked`]: fewer than `capacity` values were kept since
    /// the list's last clear.
    #[inline(always)]
    pub unsafe fn push_if_unchecked(&mut self, v: u32, keep: bool) {
        debug_assert!(self.len < self.cap);
        // SAFETY: `len < cap == buf.len()` by the caller's contract, and `ptr` is the
        // buffer's, borrowed mutably through `list` for the appender's life.
        unsafe { self.ptr.add(self.len).write(v) };
        self.len += keep as usize;
    }
}

impl Drop for Appender<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.list.len = self.len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_state_is_32_bytes_and_the_array_is_line_aligned() {
        assert_eq!(std::mem::size_of::<NodeState>(), 32);
        assert_eq!(std::mem::align_of::<NodeState>(), 32);
        let s = SpreadScratch::new(100);
        assert_eq!(s.states.as_ptr() as usize % 64, 0);
    }

    #[test]
    fn node_list_keeps_only_what_it_is_told() {
        let mut l = NodeList::for_nodes(3);
        l.push_if(5, false);
        l.push_if(1, true);
        l.push_if(9, false);
        l.push_if(2, true);
        l.push_if(0, true);
        assert_eq!(l.as_slice(), &[1, 2, 0]);
        l.clear();
        assert!(l.is_empty());
        l.extend_from_slice(&[4, 5]);
        assert_eq!(l.as_slice(), &[4, 5]);
        {
            let mut a = l.appender();
            // SAFETY: 2 + 1 kept values, capacity 4.
            unsafe {
                a.push_if_unchecked(7, false);
                a.push_if_unchecked(8, true);
                a.push_if_unchecked(9, false);
            }
        }
        assert_eq!(l.as_slice(), &[4, 5, 8]);
    }
}
