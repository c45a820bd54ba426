//! The spread itself: level-synchronous spreading activation over a [`Graph`], exactly as
//! DESIGN §2 states it, on one thread or — for hops with enough work — on the persistent
//! threads of a [`HopExecutor`].
//!
//! Per hop `d`, every frontier node `u` with increment `Δ` pushes along each out-edge
//! `c = round((Δ · D(d) [/ fan(u)]) · 2³² · w_signed)` — evaluated left to right in f64 and
//! rounded once, to nearest with ties to even, to fixed point. Contributions to one target
//! are summed in integers (atomic adds when the hop is parallel), then applied once per target:
//! first-contact threshold, clamp to [0, 1], visit count, and either the next frontier
//! (carrying only the increment) or the cycle penalty. Integer sums and per-target application
//! make the result independent of the order of work, so every thread count and batch size
//! gives the same bits.

use super::executor::{BatchCursor, HopExecutor};
use super::fixed::{self, ONE};
use super::model::{FanEffect, SpreadConfig, TierPolicy};
use super::prefetch::prefetch;
use super::rank;
use super::result::{ActivatedNode, SpreadResult};
use super::scratch::{NodeState, ParticipantBuf, SpreadScratch};
use crate::graph::{Edge, Graph, Tier};
use std::hint::select_unpredictable;
use std::sync::{Arc, MutexGuard};

/// A seed of a spread: a node and its initial activation a₀ ∈ (0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seed {
    pub node: u32,
    pub activation: f64,
}

impl Seed {
    pub fn new(node: u32, activation: f64) -> Self {
        Seed { node, activation }
    }

    /// Whether `a` is a valid seed activation: in [2⁻³², 1]. Below one fixed-point unit a seed
    /// would round to zero activation and vanish from the result while still being expanded.
    pub fn valid_activation(a: f64) -> bool {
        (MIN_SEED_ACTIVATION..=1.0).contains(&a)
    }
}

/// The smallest seed activation: one fixed-point unit, 2⁻³² (DESIGN §2).
pub const MIN_SEED_ACTIVATION: f64 = 1.0 / crate::engine::fixed::SCALE;

/// Why a spread could not run. These are caller errors; a valid request never fails.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpreadError {
    #[error("seed node {node} is outside the graph (nodes 0..{nodes})")]
    SeedOutOfRange { node: u32, nodes: usize },
    #[error("seed node {node} has activation {activation}; it must be in (0, 1] and at least 2^-32, one fixed-point unit")]
    SeedActivation { node: u32, activation: f64 },
    #[error("a spread needs at least one seed")]
    NoSeeds,
    #[error("invalid spread configuration: {0}")]
    Config(String),
}

/// Default prefetch distance (items ahead). Chosen from side-by-side measurements; see README.
pub const DEFAULT_PREFETCH_DISTANCE: usize = 8;
/// Default frontier nodes per batch of a parallel push.
pub const DEFAULT_BATCH_SIZE: usize = 256;
/// A hop goes parallel only when its frontier has at least this many out-edges: below it, the
/// cost of waking the workers is larger than what they save.
pub const DEFAULT_PARALLEL_MIN_EDGES: u64 = 32_768;
/// Touched targets per batch of a parallel apply.
const APPLY_BATCH: usize = 2048;

/// A validated spread configuration with its lookup tables derived once, and how to execute
/// it (prefetch distance, hop executor, batch size). Execution settings never change results.
#[derive(Debug, Clone)]
pub struct Spreader {
    config: SpreadConfig,
    /// `D(d)` for d = 0..=H (index 0 unused).
    decay: Vec<f64>,
    /// θ per tier in fixed point; four entries so `tier & 3` needs no bounds check.
    threshold: [i64; 4],
    visit_budget: [u32; 4],
    confidence: [f64; 4],
    /// How many items ahead to prefetch frontier adjacency and target state; 0 = off.
    prefetch_distance: usize,
    executor: Option<Arc<HopExecutor>>,
    batch_size: usize,
    parallel_min_edges: u64,
}

/// What one participant computes in one parallel stage.
#[derive(Clone, Copy)]
struct HopCtx<'a> {
    graph: &'a Graph,
    states: &'a [NodeState],
    d: u32,
    spread_epoch: u32,
}

impl Spreader {
    pub fn new(config: SpreadConfig) -> Result<Self, SpreadError> {
        config.validate().map_err(SpreadError::Config)?;
        let decay = (0..=config.max_depth).map(|d| config.decay.at(d)).collect();
        let t = Tier::ALL.map(|t| fixed::to_fixed(config.tier(t).threshold));
        let b = Tier::ALL.map(|t| config.tier(t).visit_budget);
        let k = Tier::ALL.map(|t| config.tier(t).confidence);
        Ok(Spreader {
            config,
            decay,
            threshold: [t[0], t[1], t[2], t[2]],
            visit_budget: [b[0], b[1], b[2], b[2]],
            confidence: [k[0], k[1], k[2], k[2]],
            prefetch_distance: DEFAULT_PREFETCH_DISTANCE,
            executor: None,
            batch_size: DEFAULT_BATCH_SIZE,
            parallel_min_edges: DEFAULT_PARALLEL_MIN_EDGES,
        })
    }

    /// Sets how far ahead the spreading loop prefetches (0 turns prefetch off).
    pub fn with_prefetch_distance(mut self, distance: usize) -> Self {
        self.prefetch_distance = distance;
        self
    }

    /// Runs hops with enough work on `executor`'s threads (`None`, or one thread: all inline).
    pub fn with_executor(mut self, executor: Option<Arc<HopExecutor>>) -> Self {
        self.executor = executor.filter(|e| e.threads() > 1);
        self
    }

    /// Frontier nodes per batch of a parallel push (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Out-edges a hop's frontier needs before the hop goes parallel.
    pub fn with_parallel_min_edges(mut self, edges: u64) -> Self {
        self.parallel_min_edges = edges;
        self
    }

    pub fn prefetch_distance(&self) -> usize {
        self.prefetch_distance
    }

    /// Threads a parallel hop uses (1 when there is no executor).
    pub fn threads(&self) -> usize {
        self.executor.as_ref().map_or(1, |e| e.threads())
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    pub fn parallel_min_edges(&self) -> u64 {
        self.parallel_min_edges
    }

    pub fn config(&self) -> &SpreadConfig {
        &self.config
    }

    /// Runs one spread and returns a fresh result. Convenient; allocates. Use
    /// [`Spreader::spread_into`] in loops.
    pub fn spread(
        &self,
        graph: &Graph,
        seeds: &[Seed],
        scratch: &mut SpreadScratch,
    ) -> Result<SpreadResult, SpreadError> {
        let mut out = SpreadResult::default();
        self.spread_into(graph, seeds, scratch, &mut out)?;
        Ok(out)
    }

    /// Runs one spread into `out`, reusing its buffers and those of `scratch`.
    pub fn spread_into(
        &self,
        graph: &Graph,
        seeds: &[Seed],
        scratch: &mut SpreadScratch,
        out: &mut SpreadResult,
    ) -> Result<(), SpreadError> {
        let n = graph.node_count();
        if seeds.is_empty() {
            return Err(SpreadError::NoSeeds);
        }
        for s in seeds {
            if s.node as usize >= n {
                return Err(SpreadError::SeedOutOfRange {
                    node: s.node,
                    nodes: n,
                });
            }
            if !Seed::valid_activation(s.activation) {
                return Err(SpreadError::SeedActivation {
                    node: s.node,
                    activation: s.activation,
                });
            }
        }
        scratch.bind(graph);
        out.clear();
        scratch.begin_spread();
        self.seed(graph, seeds, scratch);
        if let Some(ex) = &self.executor {
            scratch.ensure_participants(ex.threads());
        }

        let max_depth = self.config.max_depth;
        for d in 1..=max_depth {
            if scratch.frontier.is_empty() {
                break;
            }
            out.work.frontier_sizes.push(scratch.frontier.len() as u32);
            out.work.hops += 1;
            scratch.begin_hop();
            let parallel = match &self.executor {
                Some(ex) if scratch.frontier_edges >= self.parallel_min_edges => Some(ex.as_ref()),
                _ => None,
            };
            match parallel {
                Some(ex) => {
                    out.work.edges_relaxed += self.push_parallel(graph, d, scratch, ex);
                    self.apply_parallel(graph, d, scratch, out, ex);
                }
                None => {
                    out.work.edges_relaxed += self.push_hop(graph, d, scratch);
                    self.apply_hop(graph, d, scratch, out);
                }
            }
            std::mem::swap(&mut scratch.frontier, &mut scratch.next);
            scratch.next.clear();
        }
        self.collect(scratch, out);
        Ok(())
    }

    /// The tier whose parameters apply to a node of `storage_tier` first activated at `hop`.
    #[inline(always)]
    fn tier_for(&self, storage_tier: u8, hop: u32) -> u8 {
        match self.config.tier_policy {
            TierPolicy::Storage => storage_tier,
            TierPolicy::HopDepth => SpreadConfig::hop_depth_tier(hop) as u8,
        }
    }

    /// Hop 0: each seed's activation is min(1, Σ a₀) over its entries; distinct seeds form the
    /// first frontier, in order of first appearance.
    fn seed(&self, graph: &Graph, seeds: &[Seed], s: &mut SpreadScratch) {
        let epoch = s.spread_epoch;
        for seed in seeds {
            let st = &s.states[seed.node as usize];
            if st.spread_epoch() != epoch {
                st.activate(epoch, 0, self.tier_for(st.storage_tier(), 0));
                s.activated.push(seed.node);
            }
            st.set_activation((st.activation() + fixed::to_fixed(seed.activation)).min(ONE));
        }
        for &node in &s.activated {
            s.frontier
                .push((node, s.states[node as usize].activation()));
            s.frontier_edges += graph.out_degree(node) as u64;
        }
    }

    /// `Δ · D(d)`, divided by the fan, scaled to fixed point: multiplied by an edge's signed
    /// weight and rounded, it is that edge's contribution.
    #[inline(always)]
    fn scaled_push(&self, delta: i64, d: u32, degree: usize) -> f64 {
        let mut base = fixed::to_f64(delta) * self.decay[d as usize];
        match self.config.fan_effect {
            FanEffect::None => {}
            FanEffect::OutDegree => base /= degree.max(1) as f64,
            FanEffect::SqrtOutDegree => base /= (degree.max(1) as f64).sqrt(),
        }
        base * fixed::SCALE
    }

    /// Computes every contribution of hop `d` and sums them per target. Returns the number of
    /// edges relaxed.
    ///
    /// This is the innermost loop of the engine, so it is written without branches on data
    /// and without bounds checks; the safety argument is the same for every unchecked access:
    /// a [`Graph`] only holds targets `< node_count` (checked when it is built), `spread_into`
    /// bound `states` and the node lists to `node_count`, and the hop stamp lets each target
    /// into `touched` at most once per hop.
    #[inline(never)]
    fn push_hop(&self, graph: &Graph, d: u32, s: &mut SpreadScratch) -> u64 {
        let hop_epoch = s.hop_epoch;
        let pd = self.prefetch_distance;
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
            let scaled = self.scaled_push(delta, d, degree);
            let edges = &all_edges[first..first + degree];
            for (j, e) in edges.iter().enumerate() {
                if pd > 0 {
                    prefetch_target(all_edges, states, (first + j + pd).min(last_edge));
                }
                let c = fixed::round_scaled(scaled * e.weight as f64);
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

    /// The parallel push: participants take batches of frontier nodes, add contributions
    /// with atomic adds, and list the targets whose hop stamp they were first to set.
    #[inline(never)]
    fn push_parallel(&self, graph: &Graph, d: u32, s: &mut SpreadScratch, ex: &HopExecutor) -> u64 {
        let bs = self.batch_size;
        let pd = self.prefetch_distance;
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
                    let scaled = self.scaled_push(delta, d, degree);
                    for (j, e) in all_edges[first..first + degree].iter().enumerate() {
                        if pd > 0 {
                            prefetch_target(all_edges, states, (first + j + pd).min(last_edge));
                        }
                        let c = fixed::round_scaled(scaled * e.weight as f64);
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

    /// First-contact test for one target of hop `d`: true if its sum is rejected. A rejected
    /// sum is discarded here (pending reset); an accepted one is kept for [`Self::apply_one`].
    #[inline(always)]
    fn reject_one(&self, st: &NodeState, c: HopCtx<'_>) -> bool {
        // Selects, not branches: whether a target is already active is unpredictable.
        let active = st.spread_epoch() == c.spread_epoch;
        let old = select_unpredictable(active, st.activation(), 0);
        let fresh_tier = match self.config.tier_policy {
            TierPolicy::Storage => st.storage_tier(),
            TierPolicy::HopDepth => SpreadConfig::hop_depth_tier(c.d) as u8,
        };
        let tier = select_unpredictable(active, st.tier(), fresh_tier);
        let pending = st.pending();
        let reject = (old == 0) & (pending < self.threshold[(tier & 3) as usize]);
        st.set_pending(select_unpredictable(reject, 0, pending));
        reject
    }

    /// Applies one accepted target's sum (DESIGN §2): activation on first contact, clamp,
    /// visit count, then the next frontier or the cycle penalty. Returns
    /// (joins next frontier with Δ, newly activated, took the penalty).
    #[inline(always)]
    fn apply_one(&self, v: u32, c: HopCtx<'_>) -> (Option<i64>, bool, bool) {
        let st = &c.states[v as usize];
        let mut newly = false;
        if st.spread_epoch() != c.spread_epoch {
            st.activate(
                c.spread_epoch,
                c.d as u8,
                self.tier_for(st.storage_tier(), c.d),
            );
            newly = true;
        }
        let old = st.activation();
        let new = (old + st.pending()).clamp(0, ONE);
        st.set_pending(0);
        let delta = new - old;
        st.set_activation(new);
        let visits = st.add_visit();
        if delta > 0 && c.d < self.config.max_depth {
            if u32::from(visits) <= self.visit_budget[(st.tier() & 3) as usize] {
                return (Some(delta), newly, false);
            }
            st.set_activation(fixed::round_scaled(new as f64 * self.config.cycle_penalty));
            return (None, newly, true);
        }
        (None, newly, false)
    }

    /// Applies each target's summed contribution once and builds the next frontier.
    ///
    /// Two passes: the first filters out, without branches, the sums rejected at first contact
    /// (most targets in a typical spread); the second applies the rest.
    #[inline(never)]
    fn apply_hop(&self, graph: &Graph, d: u32, s: &mut SpreadScratch, out: &mut SpreadResult) {
        let c = HopCtx {
            graph,
            states: &s.states,
            d,
            spread_epoch: s.spread_epoch,
        };
        let mut rejected = 0u64;
        for &v in s.touched.as_slice() {
            // SAFETY: touched holds targets of this graph's edges: v < node_count ==
            // states.len(); and each appears once, so `accepted` cannot overflow.
            let reject = self.reject_one(unsafe { c.states.get_unchecked(v as usize) }, c);
            rejected += reject as u64;
            unsafe { s.accepted.push_if_unchecked(v, !reject) };
        }
        let mut penalties = 0u64;
        let mut next_edges = 0u64;
        for &v in s.accepted.as_slice() {
            let (next, newly, penalty) = self.apply_one(v, c);
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

    /// The parallel apply: the touched targets are split into batches; each participant tests
    /// and applies its batches' targets (each target belongs to exactly one batch, so no two
    /// threads write one node's state) and gathers its share of the next frontier.
    #[inline(never)]
    fn apply_parallel(
        &self,
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
                    if self.reject_one(&c.states[v as usize], c) {
                        buf.rejected += 1;
                        continue;
                    }
                    let (next, newly, penalty) = self.apply_one(v, c);
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
    /// Gathers the nodes with activation > 0, ranks them (activation descending, then id
    /// ascending) and cuts to top-k.
    ///
    /// Ranking sorts one u64 key per node — `(ONE − activation) << id_bits | id` — rather than
    /// the 32-byte result records: activation is in (0, ONE], so `ONE − activation` fits in 32
    /// bits and the key's natural order is the rank order. On a large result the gathering of
    /// keys and the filling of records run on the hop executor too.
    #[inline(never)]
    fn collect(&self, s: &mut SpreadScratch, out: &mut SpreadResult) {
        let id_bits = u64::BITS - (s.states.len().max(2) as u64 - 1).leading_zeros();
        let parallel = self
            .executor
            .as_deref()
            .filter(|_| s.activated.len() as u64 >= self.parallel_min_edges / 2);
        s.rank_keys.clear();
        match parallel {
            None => {
                for &v in s.activated.iter() {
                    let a = s.states[v as usize].activation();
                    if a > 0 {
                        s.rank_keys
                            .push(((ONE - a) as u64) << id_bits | u64::from(v));
                    }
                }
            }
            Some(ex) => self.gather_keys_parallel(s, id_bits, ex),
        }
        out.work.nodes_activated = s.rank_keys.len() as u32;
        match self.config.top_k {
            Some(k) if k < s.rank_keys.len() => {
                s.rank_keys.select_nth_unstable(k);
                s.rank_keys.truncate(k);
                s.rank_keys.sort_unstable();
            }
            _ => rank::sort_keys(&mut s.rank_keys, &mut s.rank_buf, 32 + id_bits),
        }
        let id_mask = (1u64 << id_bits) - 1;
        match parallel {
            None => {
                for &key in s.rank_keys.iter() {
                    out.nodes
                        .push(self.ranked_node(&s.states, (key & id_mask) as u32));
                }
            }
            Some(ex) => {
                let keys = &s.rank_keys;
                let states: &[NodeState] = &s.states;
                let placeholder = ActivatedNode {
                    id: 0,
                    activation: 0,
                    confidence: 0.0,
                    first_hop: 0,
                    tier: Tier::Hot,
                };
                out.nodes.resize(keys.len(), placeholder);
                let slots = SharedSlots(out.nodes.as_mut_ptr());
                let cursor = BatchCursor::new(keys.len().div_ceil(APPLY_BATCH));
                ex.broadcast(&|_| {
                    while let Some(b) = cursor.take() {
                        let start = b * APPLY_BATCH;
                        let batch = &keys[start..(start + APPLY_BATCH).min(keys.len())];
                        for (i, &key) in (start..).zip(batch) {
                            let node = self.ranked_node(states, (key & id_mask) as u32);
                            // SAFETY: `i < keys.len() == out.nodes.len()`, and the cursor hands
                            // each batch (so each index) to exactly one participant.
                            unsafe { slots.write(i, node) };
                        }
                    }
                });
            }
        }
    }

    /// Keys of the nodes with activation > 0, gathered by all participants.
    fn gather_keys_parallel(&self, s: &mut SpreadScratch, id_bits: u32, ex: &HopExecutor) {
        let activated = &s.activated;
        let states: &[NodeState] = &s.states;
        let participants = &s.participants;
        let cursor = BatchCursor::new(activated.len().div_ceil(APPLY_BATCH));
        ex.broadcast(&|p| {
            let mut buf = lock(&participants[p]);
            buf.keys.clear();
            while let Some(b) = cursor.take() {
                for &v in &activated[b * APPLY_BATCH..((b + 1) * APPLY_BATCH).min(activated.len())]
                {
                    let a = states[v as usize].activation();
                    if a > 0 {
                        buf.keys.push(((ONE - a) as u64) << id_bits | u64::from(v));
                    }
                }
            }
        });
        for part in &s.participants {
            s.rank_keys.extend_from_slice(&lock(part).keys);
        }
    }

    /// The result record of node `id`.
    #[inline(always)]
    fn ranked_node(&self, states: &[NodeState], id: u32) -> ActivatedNode {
        let st = &states[id as usize];
        let a = st.activation();
        ActivatedNode {
            id,
            activation: a,
            confidence: fixed::to_f64(a) * self.confidence[(st.tier() & 3) as usize],
            first_hop: u32::from(st.first_hop()),
            tier: Tier::from_u8(st.tier()).unwrap_or(Tier::Cold),
        }
    }
}

/// The result records being filled by a parallel collect, each index by one participant.
struct SharedSlots(*mut ActivatedNode);
// SAFETY: participants write disjoint indices (see `collect`), and the broadcast's join orders
// the writes before the caller reads them.
unsafe impl Sync for SharedSlots {}

impl SharedSlots {
    /// # Safety
    /// `i` is in bounds of the buffer and no other participant writes or reads index `i`.
    #[inline(always)]
    unsafe fn write(&self, i: usize, node: ActivatedNode) {
        self.0.add(i).write(node)
    }
}

/// Hints the state of the target `ahead` edges on (clamped to the edge array) into cache.
#[inline(always)]
fn prefetch_target(all_edges: &[Edge], states: &[NodeState], ahead: usize) {
    // SAFETY: callers pass `ahead <= last index` of a non-empty edge array; the state address
    // is only prefetched, never dereferenced.
    let t = unsafe { all_edges.get_unchecked(ahead) }.target;
    prefetch(states.as_ptr().wrapping_add(t as usize));
}

/// Locks a participant's buffer. A poisoned lock (a panic in another participant, which the
/// executor re-raises) still holds usable buffers, so it is taken over rather than unwrapped.
fn lock(m: &std::sync::Mutex<ParticipantBuf>) -> MutexGuard<'_, ParticipantBuf> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::generate::{generate, GraphParams, Topology};

    #[test]
    fn epoch_wraparound_does_not_leak_state_between_spreads() {
        let g = generate(&GraphParams {
            topology: Topology::BarabasiAlbert { m: 3 },
            nodes: 300,
            directed: false,
            weight_min: 0.1,
            weight_max: 1.0,
            inhibitory_share: 0.1,
            modulatory_share: 0.1,
            tier_shares: [0.3, 0.4, 0.3],
            seed: 5,
        })
        .unwrap();
        let sp = Spreader::new(SpreadConfig::default()).unwrap();
        let requests: Vec<Vec<Seed>> = (0..20u32)
            .map(|i| vec![Seed::new(i * 7 % 300, 1.0), Seed::new(i * 13 % 300, 0.5)])
            .collect();
        let fresh: Vec<SpreadResult> = requests
            .iter()
            .map(|r| sp.spread(&g, r, &mut SpreadScratch::new(300)).unwrap())
            .collect();
        let mut scratch = SpreadScratch::new(300);
        scratch.force_epochs(u32::MAX - 3, u32::MAX - 5);
        for (r, want) in requests.iter().zip(&fresh) {
            assert_eq!(&sp.spread(&g, r, &mut scratch).unwrap(), want);
        }
    }
}
