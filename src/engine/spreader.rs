//! The spread itself: level-synchronous spreading activation over a [`Graph`], exactly as
//! DESIGN §2 states it.
//!
//! Per hop `d`, every frontier node `u` with increment `Δ` pushes along each out-edge
//! `c = round((Δ · D(d) [/ fan(u)]) · 2³² · w_signed)` — evaluated left to right in f64 and
//! rounded once, to nearest with ties to even, to fixed point. Contributions to one target are summed
//! in integers, then applied once per target: first-contact threshold, clamp to [0, 1],
//! visit count, and either the next frontier (carrying only the increment) or the cycle
//! penalty.

use super::fixed::{self, ONE};
use super::model::{FanEffect, SpreadConfig, TierPolicy};
use super::prefetch::prefetch;
use super::rank;
use super::result::{ActivatedNode, SpreadResult};
use super::scratch::SpreadScratch;
use crate::graph::{Graph, Tier};
use std::hint::select_unpredictable;

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
}

/// Why a spread could not run. These are caller errors; a valid request never fails.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpreadError {
    #[error("seed node {node} is outside the graph (nodes 0..{nodes})")]
    SeedOutOfRange { node: u32, nodes: usize },
    #[error("seed node {node} has activation {activation}; it must be in (0, 1]")]
    SeedActivation { node: u32, activation: f64 },
    #[error("a spread needs at least one seed")]
    NoSeeds,
    #[error("invalid spread configuration: {0}")]
    Config(String),
}

/// A validated spread configuration with its lookup tables derived once.
#[derive(Debug, Clone)]
pub struct Spreader {
    config: SpreadConfig,
    /// `D(d)` for d = 0..=H (index 0 unused).
    decay: Vec<f64>,
    /// θ per tier in fixed point.
    threshold: [i64; 4],
    visit_budget: [u32; 3],
    confidence: [f64; 3],
    /// How many items ahead to prefetch frontier adjacency and target state; 0 = off.
    prefetch_distance: usize,
}

/// Default prefetch distance (items ahead). Chosen from side-by-side measurements; see README.
pub const DEFAULT_PREFETCH_DISTANCE: usize = 8;

impl Spreader {
    pub fn new(config: SpreadConfig) -> Result<Self, SpreadError> {
        config.validate().map_err(SpreadError::Config)?;
        let decay = (0..=config.max_depth).map(|d| config.decay.at(d)).collect();
        let t = Tier::ALL.map(|t| fixed::to_fixed(config.tier(t).threshold));
        // Four entries so that a tier index masked with `& 3` needs no bounds check.
        let threshold = [t[0], t[1], t[2], t[2]];
        let visit_budget = Tier::ALL.map(|t| config.tier(t).visit_budget);
        let confidence = Tier::ALL.map(|t| config.tier(t).confidence);
        Ok(Spreader {
            config,
            decay,
            threshold,
            visit_budget,
            confidence,
            prefetch_distance: DEFAULT_PREFETCH_DISTANCE,
        })
    }

    /// Sets how far ahead the spreading loop prefetches (0 turns prefetch off). Results do not
    /// depend on it.
    pub fn with_prefetch_distance(mut self, distance: usize) -> Self {
        self.prefetch_distance = distance;
        self
    }

    pub fn prefetch_distance(&self) -> usize {
        self.prefetch_distance
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
            if !(s.activation > 0.0 && s.activation <= 1.0) {
                return Err(SpreadError::SeedActivation {
                    node: s.node,
                    activation: s.activation,
                });
            }
        }
        scratch.bind(graph);
        out.clear();
        scratch.begin_spread();
        self.seed(seeds, scratch);
        out.work.frontier_sizes.push(scratch.frontier.len() as u32);

        let max_depth = self.config.max_depth;
        for d in 1..=max_depth {
            if scratch.frontier.is_empty() {
                break;
            }
            if d > 1 {
                out.work.frontier_sizes.push(scratch.frontier.len() as u32);
            }
            out.work.hops += 1;
            scratch.begin_hop();
            out.work.edges_relaxed += self.push_hop(graph, d, scratch);
            self.apply_hop(d, scratch, out);
            std::mem::swap(&mut scratch.frontier, &mut scratch.next);
            scratch.next.clear();
        }
        self.collect(scratch, out);
        Ok(())
    }

    /// The tier whose parameters apply to a node of `storage_tier` first activated at `hop`.
    fn tier_for(&self, storage_tier: u8, hop: u32) -> u8 {
        match self.config.tier_policy {
            TierPolicy::Storage => storage_tier,
            TierPolicy::HopDepth => SpreadConfig::hop_depth_tier(hop) as u8,
        }
    }

    /// Hop 0: each seed's activation is min(1, Σ a₀) over its entries; distinct seeds form the
    /// first frontier, in order of first appearance.
    fn seed(&self, seeds: &[Seed], s: &mut SpreadScratch) {
        let epoch = s.spread_epoch;
        for seed in seeds {
            let st = &mut s.states[seed.node as usize];
            if st.spread_epoch != epoch {
                st.spread_epoch = epoch;
                st.activation = 0;
                st.visits = 0;
                st.first_hop = 0;
                st.tier = self.tier_for(st.storage_tier, 0);
                s.activated.push(seed.node);
            }
            st.activation = (st.activation + fixed::to_fixed(seed.activation)).min(ONE);
        }
        for &node in &s.activated {
            s.frontier.push((node, s.states[node as usize].activation));
        }
    }

    /// Computes every contribution of hop `d` and sums them per target. Returns the number of
    /// edges relaxed.
    ///
    /// This is the innermost loop of the engine, so it is written without branches on data
    /// and without bounds checks; the safety argument is the same for every unchecked access:
    /// a [`Graph`] only holds targets `< node_count` (checked when it is built), `spread_into`
    /// sized `states` and the node lists to `node_count`, and the hop stamp lets each target
    /// into `touched` at most once per hop.
    #[inline(never)]
    fn push_hop(&self, graph: &Graph, d: u32, s: &mut SpreadScratch) -> u64 {
        let decay = self.decay[d as usize];
        let hop_epoch = s.hop_epoch;
        let fan = self.config.fan_effect;
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
        let states_ptr = states.as_mut_ptr();
        for (i, &(u, delta)) in frontier.iter().enumerate() {
            let rec = graph.node(u);
            if pd > 0 {
                if let Some(&(ahead, _)) = frontier.get(i + pd) {
                    prefetch(
                        all_edges
                            .as_ptr()
                            .wrapping_add(graph.node(ahead).first_edge()),
                    );
                }
            }
            let (first, degree) = (rec.first_edge(), rec.degree());
            relaxed += degree as u64;
            let mut base = fixed::to_f64(delta) * decay;
            match fan {
                FanEffect::None => {}
                FanEffect::OutDegree => base /= degree.max(1) as f64,
                FanEffect::SqrtOutDegree => base /= (degree.max(1) as f64).sqrt(),
            }
            let scaled = base * fixed::SCALE;
            let edges = &all_edges[first..first + degree];
            for (j, e) in edges.iter().enumerate() {
                if pd > 0 {
                    // Reads an edge up to `pd` ahead, possibly in the next adjacency list
                    // (harmless: only a hint), clamped to the array.
                    let ahead = (first + j + pd).min(last_edge);
                    // SAFETY: `ahead <= last_edge < all_edges.len()` (the loop runs only when
                    // there is at least one edge); the state pointer is only prefetched.
                    let t = unsafe { all_edges.get_unchecked(ahead) }.target;
                    prefetch(states_ptr.wrapping_add(t as usize));
                }
                let c = fixed::round_scaled(scaled * e.weight as f64);
                // SAFETY: see the function comment (target < node_count == states.len()).
                let st = unsafe { &mut *states_ptr.add(e.target as usize) };
                // A select, not a branch: whether this is the target's first touch in the hop
                // is a coin flip the branch predictor would lose.
                let fresh = st.hop_epoch != hop_epoch;
                st.pending = c + select_unpredictable(fresh, 0, st.pending);
                st.hop_epoch = hop_epoch;
                // SAFETY: see the function comment (each target kept at most once per hop).
                unsafe { touched.push_if_unchecked(e.target, fresh) };
            }
        }
        relaxed
    }

    /// Applies each target's summed contribution once (DESIGN §2) and builds the next frontier.
    ///
    /// Two passes: the first filters out, without branches, the sums rejected at first contact
    /// (most targets in a typical spread); the second applies the rest.
    #[inline(never)]
    fn apply_hop(&self, d: u32, s: &mut SpreadScratch, out: &mut SpreadResult) {
        let epoch = s.spread_epoch;
        let last_hop = d >= self.config.max_depth;
        let SpreadScratch {
            states,
            next,
            touched,
            accepted,
            activated,
            ..
        } = s;
        let hop_tier = SpreadConfig::hop_depth_tier(d) as usize;
        let by_storage = self.config.tier_policy == TierPolicy::Storage;
        let mut rejected = 0u64;
        for &v in touched.as_slice() {
            // SAFETY: touched holds targets of this graph's edges: v < node_count ==
            // states.len(); and each appears once, so `accepted` cannot overflow.
            let st = unsafe { states.get_unchecked(v as usize) };
            // Selects, not branches: whether a target is already active is unpredictable.
            let active = st.spread_epoch == epoch;
            let old = select_unpredictable(active, st.activation, 0);
            let fresh_tier = if by_storage {
                st.storage_tier as usize
            } else {
                hop_tier
            };
            let tier = select_unpredictable(active, st.tier as usize, fresh_tier);
            let reject = (old == 0) & (st.pending < self.threshold[tier & 3]);
            rejected += reject as u64;
            unsafe { accepted.push_if_unchecked(v, !reject) };
        }
        let mut penalties = 0u64;
        for &v in accepted.as_slice() {
            let st = &mut states[v as usize];
            if st.spread_epoch != epoch {
                st.spread_epoch = epoch;
                st.activation = 0;
                st.visits = 0;
                st.first_hop = d as u8;
                st.tier = self.tier_for(st.storage_tier, d);
                activated.push(v);
            }
            let old = st.activation;
            let new = (old + st.pending).clamp(0, ONE);
            let delta = new - old;
            st.activation = new;
            st.visits = st.visits.saturating_add(1);
            if delta > 0 && !last_hop {
                if u32::from(st.visits) <= self.visit_budget[st.tier as usize] {
                    next.push((v, delta));
                } else {
                    st.activation = fixed::round_scaled(new as f64 * self.config.cycle_penalty);
                    penalties += 1;
                }
            }
        }
        out.work.rejected += rejected;
        out.work.cycle_penalties += penalties;
    }

    /// Gathers the nodes with activation > 0, ranks them (activation descending, then id
    /// ascending) and cuts to top-k.
    ///
    /// Ranking sorts one u64 key per node — `(ONE − activation) << id_bits | id` — rather than
    /// the 32-byte result records: activation is in (0, ONE], so `ONE − activation` fits in 32
    /// bits and the key's natural order is the rank order.
    #[inline(never)]
    fn collect(&self, s: &mut SpreadScratch, out: &mut SpreadResult) {
        let id_bits = u64::BITS - (s.states.len().max(2) as u64 - 1).leading_zeros();
        let SpreadScratch {
            states,
            activated,
            rank_keys,
            rank_buf,
            ..
        } = s;
        rank_keys.clear();
        for &v in activated.iter() {
            let a = states[v as usize].activation;
            if a > 0 {
                rank_keys.push(((ONE - a) as u64) << id_bits | u64::from(v));
            }
        }
        out.work.nodes_activated = rank_keys.len() as u32;
        match self.config.top_k {
            Some(k) if k < rank_keys.len() => {
                rank_keys.select_nth_unstable(k);
                rank_keys.truncate(k);
                rank_keys.sort_unstable();
            }
            _ => rank::sort_keys(rank_keys, rank_buf, 32 + id_bits),
        }
        let id_mask = (1u64 << id_bits) - 1;
        out.nodes.reserve(rank_keys.len());
        for &key in rank_keys.iter() {
            let id = (key & id_mask) as u32;
            let st = &states[id as usize];
            out.nodes.push(ActivatedNode {
                id,
                activation: st.activation,
                confidence: fixed::to_f64(st.activation) * self.confidence[st.tier as usize],
                first_hop: u32::from(st.first_hop),
                tier: Tier::from_u8(st.tier).unwrap_or(Tier::Cold),
            });
        }
    }
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
