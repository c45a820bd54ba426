//! The model's side of a [`Spreader`](super::Spreader): the lookup tables derived once from a
//! [`SpreadConfig`], and the rules that read them, shared by the serial and the parallel
//! kernels so that both compute the same bits by construction: the contribution of an edge,
//! the tier that applies to a node, the per-target application of a hop's sum (DESIGN §2) and
//! the rank key.
//!
//! Nothing here knows how a spread is executed (threads, batches, prefetch): that is
//! [`ExecutionPolicy`](super::policy::ExecutionPolicy)'s, and it never changes a result.

use crate::engine::fixed::{self, ONE};
use crate::engine::model::{FanEffect, SpreadConfig, TierPolicy};
use crate::engine::result::ActivatedNode;
use crate::engine::scratch::{plain, NodeState, PlainState};
use crate::graph::{Graph, Tier};
use std::hint::select_unpredictable;

/// A validated [`SpreadConfig`] with its per-hop and per-tier tables.
#[derive(Debug, Clone)]
pub(super) struct ModelTables {
    config: SpreadConfig,
    /// `D(d)` for d = 0..=H (index 0 unused).
    decay: Vec<f64>,
    /// θ per tier in fixed point; four entries so `tier & 3` needs no bounds check.
    threshold: [i64; 4],
    visit_budget: [u32; 4],
    confidence: [f64; 4],
}

/// What one participant computes in one stage of a hop's apply.
#[derive(Clone, Copy)]
pub(super) struct HopCtx<'a> {
    pub(super) graph: &'a Graph,
    pub(super) states: &'a [NodeState],
    pub(super) d: u32,
    pub(super) spread_epoch: u32,
    /// The tier a node first contacted at this hop gets, by storage tier
    /// ([`ModelTables::tier_for`], looked up once per hop instead of once per target).
    pub(super) fresh_tier: [u8; 4],
    /// θ of that tier, by storage tier.
    pub(super) fresh_threshold: [i64; 4],
}

/// [`Tier::from_u8`] as a table (a node's tier is always 0..=2; 3 maps as the tables do).
const TIERS: [Tier; 4] = [Tier::Hot, Tier::Warm, Tier::Cold, Tier::Cold];

impl ModelTables {
    /// Derives the tables of `config`, which the caller has validated.
    pub(super) fn new(config: SpreadConfig) -> Self {
        let decay = (0..=config.max_depth).map(|d| config.decay.at(d)).collect();
        let t = Tier::ALL.map(|t| fixed::to_fixed(config.tier(t).threshold));
        let b = Tier::ALL.map(|t| config.tier(t).visit_budget);
        let k = Tier::ALL.map(|t| config.tier(t).confidence);
        ModelTables {
            config,
            decay,
            threshold: [t[0], t[1], t[2], t[2]],
            visit_budget: [b[0], b[1], b[2], b[2]],
            confidence: [k[0], k[1], k[2], k[2]],
        }
    }

    pub(super) fn config(&self) -> &SpreadConfig {
        &self.config
    }

    /// The context of hop `d`'s apply.
    pub(super) fn hop_ctx<'a>(
        &self,
        graph: &'a Graph,
        states: &'a [NodeState],
        d: u32,
        spread_epoch: u32,
    ) -> HopCtx<'a> {
        let fresh_tier = [0u8, 1, 2, 3].map(|s| self.tier_for(s, d));
        HopCtx {
            graph,
            states,
            d,
            spread_epoch,
            fresh_tier,
            fresh_threshold: fresh_tier.map(|t| self.threshold[(t & 3) as usize]),
        }
    }

    /// The tier whose parameters apply to a node of `storage_tier` first activated at `hop`.
    #[inline(always)]
    pub(super) fn tier_for(&self, storage_tier: u8, hop: u32) -> u8 {
        match self.config.tier_policy {
            TierPolicy::Storage => storage_tier,
            TierPolicy::HopDepth => SpreadConfig::hop_depth_tier(hop) as u8,
        }
    }

    /// `Δ · D(d)`, divided by the fan, scaled to fixed point: passed to [`contribution`] with
    /// an edge's signed weight, it gives that edge's contribution.
    #[inline(always)]
    pub(super) fn scaled_push(&self, delta: i64, d: u32, degree: usize) -> f64 {
        let mut base = fixed::to_f64(delta) * self.decay[d as usize];
        match self.config.fan_effect {
            FanEffect::None => {}
            FanEffect::OutDegree => base /= degree.max(1) as f64,
            FanEffect::SqrtOutDegree => base /= (degree.max(1) as f64).sqrt(),
        }
        base * fixed::SCALE
    }

    /// Whether a node's tier in a spread is always its storage tier
    /// ([`TierPolicy::Storage`]). Then the first-contact threshold of a target is that of its
    /// storage tier whether it is active or not: one lookup instead of two and a select.
    #[inline(always)]
    pub(super) fn storage_tiers(&self) -> bool {
        self.config.tier_policy == TierPolicy::Storage
    }

    /// First-contact test for one target of hop `d`: true if its sum is rejected (and so
    /// discarded: a pending sum is only read in the hop that stamped it). `STORAGE` is
    /// [`Self::storage_tiers`].
    #[inline(always)]
    pub(super) fn reject_one<const STORAGE: bool>(&self, st: &PlainState, c: &HopCtx<'_>) -> bool {
        self.reject_sum::<STORAGE>(st, st.pending, c)
    }

    /// [`Self::reject_one`] of a target whose hop sum is `sum` (held apart from its state).
    #[inline(always)]
    pub(super) fn reject_sum<const STORAGE: bool>(
        &self,
        st: &PlainState,
        sum: i64,
        c: &HopCtx<'_>,
    ) -> bool {
        // A node not activated in this spread has activation 0 (the collect of the spread
        // before zeroed it), so `activation == 0` is the model's "activation is 0" without
        // a look at the spread stamp. Selects, not branches: whether a target is already
        // active is unpredictable.
        let threshold = if STORAGE {
            // The tier a node gets is its storage tier, at every hop.
            c.fresh_threshold[(st.storage_tier & 3) as usize]
        } else {
            select_unpredictable(
                st.spread_epoch == c.spread_epoch,
                self.threshold[(st.tier & 3) as usize],
                c.fresh_threshold[(st.storage_tier & 3) as usize],
            )
        };
        (st.activation == 0) & (sum < threshold)
    }

    /// Applies one accepted target's sum at a hop before the last (d < H, DESIGN §2):
    /// activation on first contact, clamp, visit count, then the next frontier or — past the
    /// visit budget — the cycle penalty, which the caller defers to [`Self::penalize`] when
    /// the next hop is admitted. No branch on data: on first contact the stamp, first hop,
    /// tier, visits and activation are selected, not reset in a branch (whether an accepted
    /// target is new is close to a coin flip), and the outcome comes back as flags for
    /// branch-free appends. Returns (Δ, newly activated, joins the next frontier with Δ, is
    /// due the penalty); Δ means something only when the node joins.
    #[inline(always)]
    pub(super) fn apply_inner_one(
        &self,
        st: &mut PlainState,
        c: HopCtx<'_>,
    ) -> (i64, bool, bool, bool) {
        debug_assert!(c.d < self.config.max_depth);
        let (newly, old) = Self::contact(st, c);
        let visits = select_unpredictable(newly, 0, st.visits).saturating_add(1);
        let new = (old + st.pending).clamp(0, ONE);
        let delta = new - old;
        st.activation = new;
        st.visits = visits;
        let within = u32::from(visits) <= self.visit_budget[(st.tier & 3) as usize];
        let up = delta > 0;
        (delta, newly, up & within, up & !within)
    }

    /// The cycle penalty (activation × penalty, rounded once to fixed point) of a node that
    /// passed its visit budget in the hop before.
    #[inline(always)]
    pub(super) fn penalize(&self, st: &mut PlainState) {
        st.activation = fixed::round_scaled(st.activation as f64 * self.config.cycle_penalty);
    }

    /// [`Self::apply_inner_one`] of the last hop (d = H): no next frontier and no cycle
    /// penalty follow, so an accepted sum only sets the activation (and, on first contact,
    /// the node's stamp, first hop and tier). The visit count is not kept: nothing reads it after
    /// the last hop, and the next spread resets it on first contact. Returns whether the node
    /// was newly activated.
    ///
    /// Selects, not a branch: whether an accepted target of the last hop is new or already
    /// active is close to a coin flip.
    #[inline(always)]
    pub(super) fn apply_last(&self, st: &mut PlainState, c: HopCtx<'_>) -> bool {
        self.apply_last_sum(st, st.pending, c)
    }

    /// [`Self::apply_last`] of a target whose hop sum is `sum` (held apart from its state).
    #[inline(always)]
    pub(super) fn apply_last_sum(&self, st: &mut PlainState, sum: i64, c: HopCtx<'_>) -> bool {
        let (newly, old) = Self::contact(st, c);
        st.activation = (old + sum).clamp(0, ONE);
        newly
    }

    /// An accepted target's contact in hop `c.d`, without a branch: on the first of the
    /// spread its stamp, first hop and tier are set. Returns (newly activated, the activation
    /// the hop's sum adds to: 0 when new).
    #[inline(always)]
    fn contact(st: &mut PlainState, c: HopCtx<'_>) -> (bool, i64) {
        let newly = st.spread_epoch != c.spread_epoch;
        st.spread_epoch = c.spread_epoch;
        st.first_hop = select_unpredictable(newly, c.d as u8, st.first_hop);
        st.tier =
            select_unpredictable(newly, c.fresh_tier[(st.storage_tier & 3) as usize], st.tier);
        (newly, select_unpredictable(newly, 0, st.activation))
    }

    /// The result record of node `id` with activation `a`, tier `tier` and first hop
    /// `first_hop` (a rank key's, or its state's).
    #[inline(always)]
    pub(super) fn record(&self, id: u32, a: i64, tier: u8, first_hop: u8) -> ActivatedNode {
        let tier = (tier & 3) as usize;
        ActivatedNode {
            id,
            activation: a,
            confidence: fixed::to_f64(a) * self.confidence[tier],
            first_hop: u32::from(first_hop),
            tier: TIERS[tier],
        }
    }

    /// The result record of the node a rank key made by `keys` names.
    ///
    /// # Safety
    /// The key was made by `keys` from a node of `states`, and no thread writes that node's
    /// state during the call (the spread's hops are over; a parallel collect only reads).
    /// When the key does not carry the node's tier and first hop, they are read through its
    /// state's plain view: relaxed atomic loads may not be merged, and the tier was loaded
    /// twice.
    #[inline(always)]
    pub(super) unsafe fn ranked_node(
        &self,
        states: &[NodeState],
        keys: RankKeys,
        key: u64,
    ) -> ActivatedNode {
        let id = keys.node(key);
        let (tier, first_hop) = if keys.carries() {
            RankKeys::carried_of(key)
        } else {
            // SAFETY: in bounds, and read while nothing writes it (the caller's contract).
            let st = unsafe { &*plain(states, id) };
            (st.tier, st.first_hop)
        };
        self.record(id, keys.activation(key), tier, first_hop)
    }
}

/// One edge's contribution: `scaled` (from [`ModelTables::scaled_push`]) times the edge's
/// signed weight, rounded once to fixed point (to nearest, ties to even).
#[inline(always)]
pub(super) fn contribution(scaled: f64, weight: f32) -> i64 {
    fixed::round_scaled(scaled * weight as f64)
}

/// Bits a rank key needs for a node id of a graph of `node_count` nodes.
#[inline(always)]
pub(super) fn id_bits(node_count: usize) -> u32 {
    u64::BITS - (node_count.max(2) as u64 - 1).leading_zeros()
}

/// The rank key of node `v` with activation `a` in (0, ONE]: `(ONE − a) << id_bits | v`.
/// `ONE − a` fits in 32 bits, so the key's natural order is the rank order (activation
/// descending, then id ascending), and sorting one u64 per node is cheaper than sorting the
/// 32-byte result records.
#[inline(always)]
pub(super) fn rank_key(a: i64, v: u32, id_bits: u32) -> u64 {
    ((ONE - a) as u64) << id_bits | u64::from(v)
}

/// The node id in a rank key made with `id_bits`.
#[inline(always)]
pub(super) fn key_node(key: u64, id_bits: u32) -> u32 {
    (key & ((1u64 << id_bits) - 1)) as u32
}

/// Where the node's tier (2 bits) and first hop (8 bits) ride in a rank key, above the bits
/// that order it: filling the result records then reads no node state again, which on a
/// large spread is a cache miss per result.
const CARRIED_SHIFT: u32 = 54;

/// How the rank keys of one graph's spreads are laid out: the [`rank_key`] in the low
/// `32 + id_bits` bits, which alone decide the order, and — when they leave room, on graphs
/// up to 2²² nodes — `tier << 8 | first_hop` from bit 54 on, carried along by the sort.
#[derive(Debug, Clone, Copy)]
pub(super) struct RankKeys {
    id_bits: u32,
    /// The low `32 + id_bits` bits, which decide the order.
    order: u64,
    /// All ones when the key carries the tier and first hop, else 0.
    carried: u64,
}

impl RankKeys {
    pub(super) fn for_nodes(node_count: usize) -> Self {
        let id_bits = id_bits(node_count);
        RankKeys {
            id_bits,
            order: (1u64 << (32 + id_bits)) - 1,
            carried: if 32 + id_bits <= CARRIED_SHIFT {
                u64::MAX
            } else {
                0
            },
        }
    }

    /// The key of node `v` with activation `a` in (0, ONE] and the state `st` (its tier and
    /// first hop, carried when there is room).
    #[inline(always)]
    pub(super) fn key(self, a: i64, v: u32, st: &PlainState) -> u64 {
        let carried = (u64::from(st.tier & 3) << 8 | u64::from(st.first_hop)) << CARRIED_SHIFT;
        rank_key(a, v, self.id_bits) | carried & self.carried
    }

    /// The low bits of a key that decide its rank; the bits above them are carried along.
    pub(super) fn order_bits(self) -> u32 {
        32 + self.id_bits
    }

    /// The low bits of a key that hold the node id, which decides only between equal
    /// activations.
    pub(super) fn id_bits(self) -> u32 {
        self.id_bits
    }

    #[inline(always)]
    pub(super) fn node(self, key: u64) -> u32 {
        key_node(key, self.id_bits)
    }

    #[inline(always)]
    pub(super) fn activation(self, key: u64) -> i64 {
        ONE - ((key & self.order) >> self.id_bits) as i64
    }

    /// Whether keys carry the tier and first hop ([`Self::carried_of`]).
    #[inline(always)]
    pub(super) fn carries(self) -> bool {
        self.carried != 0
    }

    /// The (tier, first hop) a key carries, when [`Self::carries`].
    #[inline(always)]
    pub(super) fn carried_of(key: u64) -> (u8, u8) {
        (
            (key >> (CARRIED_SHIFT + 8)) as u8 & 3,
            (key >> CARRIED_SHIFT) as u8,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_keys_order_by_activation_descending_then_id() {
        // 10,000 nodes: ids 0..=9999 need 14 bits (2^13 = 8192 < 9999 < 16384).
        let bits = id_bits(10_000);
        assert_eq!(bits, 14);
        // Activation 1.0 leaves ONE − a = 0: the key is the id alone.
        assert_eq!(rank_key(ONE, 9_999, bits), 9_999);
        // Activation 0.5 leaves 2^31 above the id bits.
        assert_eq!(rank_key(ONE / 2, 3, bits), (1u64 << 45) | 3);
        assert!(rank_key(ONE, 9_999, bits) < rank_key(ONE / 2, 3, bits));
        assert!(rank_key(ONE / 2, 3, bits) < rank_key(ONE / 2, 4, bits));
        assert_eq!(key_node((1u64 << 45) | 3, bits), 3);
        // The smallest graphs still get one id bit.
        assert_eq!(id_bits(1), 1);
        assert_eq!(id_bits(2), 1);
        assert_eq!(id_bits(3), 2);
    }

    fn state(tier: u8, first_hop: u8) -> PlainState {
        PlainState {
            activation: 0,
            pending: 0,
            spread_epoch: 0,
            hop_epoch: 0,
            visits: 0,
            first_hop,
            tier,
            storage_tier: 0,
        }
    }

    #[test]
    fn rank_keys_carry_tier_and_first_hop_above_the_bits_that_order_them() {
        let keys = RankKeys::for_nodes(10_000);
        assert!(keys.carries());
        assert_eq!(keys.order_bits(), 46);
        let k = keys.key(ONE / 2, 9_999, &state(2, 250));
        assert_eq!(keys.node(k), 9_999);
        assert_eq!(keys.activation(k), ONE / 2);
        assert_eq!(RankKeys::carried_of(k), (2, 250));
        // The payload is outside the order bits: the order is the bare rank key's.
        let order = (1u64 << keys.order_bits()) - 1;
        assert_eq!(k & order, rank_key(ONE / 2, 9_999, 14));
        let hot_later = keys.key(ONE / 4, 3, &state(0, 0));
        assert!(k & order < hot_later & order && k > hot_later);
        // Activation 1 and the smallest, one unit.
        assert_eq!(keys.activation(keys.key(ONE, 0, &state(1, 1))), ONE);
        assert_eq!(keys.activation(keys.key(1, 7, &state(1, 1))), 1);
        // 2^22 nodes still leave room; above it, the key is the bare rank key.
        assert!(RankKeys::for_nodes(1 << 22).carries());
        let big = RankKeys::for_nodes((1 << 22) + 1);
        assert!(!big.carries());
        let k = big.key(ONE / 3, 1 << 22, &state(2, 9));
        assert_eq!(k, rank_key(ONE / 3, 1 << 22, 23));
        assert_eq!(big.activation(k), ONE / 3);
        assert_eq!(big.node(k), 1 << 22);
    }

    #[test]
    fn a_record_reads_its_tier_from_the_state_when_the_key_cannot_carry_it() {
        let t = ModelTables::new(SpreadConfig::default());
        let states: Vec<NodeState> = (0..4).map(|_| NodeState::default()).collect();
        states[3].activate(1, 5, 2);
        let big = RankKeys::for_nodes(1 << 23);
        // SAFETY: node 3 is in `states`, and nothing else touches them.
        let node = unsafe { t.ranked_node(&states, big, big.key(ONE / 2, 3, &state(0, 0))) };
        assert_eq!((node.id, node.activation, node.first_hop), (3, ONE / 2, 5));
        assert_eq!(node.tier, Tier::Cold);
        let small = RankKeys::for_nodes(4);
        // SAFETY: as above.
        let node = unsafe { t.ranked_node(&states, small, small.key(ONE, 3, &state(1, 2))) };
        assert_eq!((node.first_hop, node.tier), (2, Tier::Warm), "from the key");
        assert_eq!(
            node.confidence,
            SpreadConfig::default().tier(Tier::Warm).confidence
        );
    }
}
