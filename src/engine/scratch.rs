//! Per-spread working state, sized for a graph and reused across spreads.
//!
//! Clearing O(n) state before every spread would cost more than the spread itself on a large
//! graph, so each entry carries epoch stamps instead: an entry belongs to the current spread
//! only if its `spread_epoch` matches, and its pending hop sum only if its `hop_epoch` matches.
//! Starting a spread or a hop is then one increment; a full reset happens only when a 32-bit
//! epoch wraps.
//!
//! Layout of [`NodeState`] (32 bytes, two nodes per 64-byte cache line): everything a hop reads
//! or writes for one target — pending sum, its stamp, activation, visits — sits in one line.
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
//! The node's storage tier is copied into its state when the scratch is bound to a graph, so
//! the first-contact test reads one cache line per target instead of two.

use crate::graph::Graph;

/// Per-node state of the current spread.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(32))]
pub struct NodeState {
    /// Fixed-point activation; valid when `spread_epoch` is current.
    pub activation: i64,
    /// This hop's summed contributions; valid when `hop_epoch` is current.
    pub pending: i64,
    pub spread_epoch: u32,
    pub hop_epoch: u32,
    /// Accepted sums so far in this spread (seeding excluded).
    pub visits: u16,
    pub first_hop: u8,
    /// `Tier as u8` of the parameters that apply to this node in this spread.
    pub tier: u8,
    /// `Tier as u8` of the node's storage tier in the bound graph.
    pub storage_tier: u8,
}

/// Reusable state for one spread at a time. Not shared between threads: keep one per thread
/// (or take one from a pool).
#[derive(Debug, Clone)]
pub struct SpreadScratch {
    pub(crate) states: Vec<NodeState>,
    /// [`Graph::instance`] whose storage tiers `states` hold; 0 = none yet.
    pub(crate) bound_graph: u64,
    pub(crate) spread_epoch: u32,
    pub(crate) hop_epoch: u32,
    /// Frontier being expanded: (node, Δ).
    pub(crate) frontier: Vec<(u32, i64)>,
    /// Frontier being built for the next hop.
    pub(crate) next: Vec<(u32, i64)>,
    /// Targets with a pending sum in the current hop, in first-touch order.
    pub(crate) touched: NodeList,
    /// Targets of the current hop whose sum was not rejected at first contact.
    pub(crate) accepted: NodeList,
    /// Nodes activated (stamped) in the current spread.
    pub(crate) activated: Vec<u32>,
    /// Sort keys used to rank the result, and the radix sort's buffer.
    pub(crate) rank_keys: Vec<u64>,
    pub(crate) rank_buf: Vec<u64>,
}

impl SpreadScratch {
    /// Scratch for a graph of `node_count` nodes.
    pub fn new(node_count: usize) -> Self {
        SpreadScratch {
            states: vec![NodeState::default(); node_count],
            bound_graph: 0,
            spread_epoch: 0,
            hop_epoch: 0,
            frontier: Vec::new(),
            next: Vec::new(),
            touched: NodeList::for_nodes(node_count),
            accepted: NodeList::for_nodes(node_count),
            activated: Vec::new(),
            rank_keys: Vec::new(),
            rank_buf: Vec::new(),
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
            for (st, rec) in self.states.iter_mut().zip(graph.nodes()) {
                st.storage_tier = rec.tier() as u8;
            }
            self.bound_graph = graph.instance();
        }
    }

    /// Starts a new spread: one increment, unless the epoch wraps.
    pub(crate) fn begin_spread(&mut self) {
        if self.spread_epoch == u32::MAX {
            for s in &mut self.states {
                s.spread_epoch = 0;
            }
            self.spread_epoch = 0;
        }
        self.spread_epoch += 1;
        self.frontier.clear();
        self.next.clear();
        self.touched.clear();
        self.accepted.clear();
        self.activated.clear();
    }

    /// Starts a new hop: one increment, unless the epoch wraps.
    #[inline]
    pub(crate) fn begin_hop(&mut self) {
        if self.hop_epoch == u32::MAX {
            for s in &mut self.states {
                s.hop_epoch = 0;
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

/// A list of distinct node ids with room for every node of the graph, appended to without a
/// branch: [`NodeList::push_if`] always writes and advances only when asked. Whether a target
/// is new in this hop is close to a coin flip, so a branch there would mispredict often.
#[derive(Debug, Clone)]
pub struct NodeList {
    /// Capacity n + 1: a list of distinct nodes holds at most n, and `push_if` writes one past
    /// the end when it does not keep the value.
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
        *self.buf.get_unchecked_mut(self.len) = v;
        self.len += keep as usize;
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

    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_state_is_32_bytes_and_aligned() {
        assert_eq!(std::mem::size_of::<NodeState>(), 32);
        assert_eq!(std::mem::align_of::<NodeState>(), 32);
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
    }
}
