//! The spread itself: level-synchronous spreading activation over a [`Graph`], exactly as
//! DESIGN §2 states it, on one thread or — for hops with enough work — on the persistent
//! threads of a [`HopExecutor`].
//!
//! Per hop `d`, every frontier node `u` with increment `Δ` pushes along each out-edge
//! `c = round((Δ · D(d) [/ fan(u)]) · 2³² · w_signed)` — evaluated left to right in f64 and
//! rounded once, to nearest with ties to even, to fixed point. Contributions to one target
//! are summed in integers (by the one thread that owns the target when the hop is parallel),
//! then applied once per target:
//! first-contact threshold, clamp to [0, 1], visit count, and either the next frontier
//! (carrying only the increment) or the cycle penalty. Integer sums and per-target application
//! make the result independent of the order of work, so every thread count and batch size
//! gives the same bits.
//!
//! The parts live apart so that each can be read alone: `tables` holds what the model derives
//! from a [`SpreadConfig`] and the rules both kernels share (contribution, tier, per-target
//! application, rank key); `policy` how a spread is executed, which never changes a result;
//! `serial` and `parallel` the kernels of one hop; `collect` the ranking at the end. This file
//! holds the public API, seeding and the hop loop.

mod collect;
mod dense;
mod dense_avx512;
mod parallel;
mod policy;
mod serial;
mod tables;

pub use policy::{DEFAULT_BATCH_SIZE, DEFAULT_PARALLEL_MIN_EDGES, DEFAULT_PREFETCH_DISTANCE};

use super::batcher::BatchSetting;
use super::budget::{HopGate, NoGate};
use super::executor::HopExecutor;
use super::fixed::{self, ONE};
use super::model::SpreadConfig;
use super::predictor::HopFeatures;
use super::prefetch::prefetch;
use super::result::SpreadResult;
use super::scratch::{NodeState, SpreadScratch};
use crate::graph::{Edge, Graph};
use policy::ExecutionSettings;
use std::sync::{Arc, MutexGuard};
use tables::ModelTables;

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

/// A validated spread configuration with its lookup tables derived once, and how to execute
/// it (prefetch distance, hop executor, batch size). Execution settings never change results.
#[derive(Debug, Clone)]
pub struct Spreader {
    tables: ModelTables,
    exec: ExecutionSettings,
}

impl Spreader {
    pub fn new(config: SpreadConfig) -> Result<Self, SpreadError> {
        config.validate().map_err(SpreadError::Config)?;
        Ok(Spreader {
            tables: ModelTables::new(config),
            exec: ExecutionSettings::default(),
        })
    }

    /// Sets how far ahead the spreading loop prefetches (0 turns prefetch off).
    pub fn with_prefetch_distance(mut self, distance: usize) -> Self {
        self.exec.set_prefetch_distance(distance);
        self
    }

    /// Runs hops with enough work on `executor`'s threads (`None`, or one thread: all inline).
    pub fn with_executor(mut self, executor: Option<Arc<HopExecutor>>) -> Self {
        self.exec.set_executor(executor);
        self
    }

    /// Frontier nodes per batch of a parallel push (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.exec.set_batch_size(batch_size);
        self
    }

    /// Out-edges a hop's frontier needs before the hop goes parallel (on a graph larger than
    /// the caches, from 2²⁰ edges, each edge counts four times: an edge there is a miss).
    pub fn with_parallel_min_edges(mut self, edges: u64) -> Self {
        self.exec.set_parallel_min_edges(edges);
        self
    }

    pub fn prefetch_distance(&self) -> usize {
        self.exec.prefetch_distance()
    }

    /// Threads a parallel hop uses (1 when there is no executor).
    pub fn threads(&self) -> usize {
        self.exec.threads()
    }

    /// The batch size a spread runs under unless it is given a [`BatchSetting`].
    pub fn batch_size(&self) -> usize {
        self.exec.setting().batch_size
    }

    /// The parallel threshold a spread runs under unless it is given a [`BatchSetting`].
    pub fn parallel_min_edges(&self) -> u64 {
        self.exec.setting().parallel_min_edges
    }

    /// The batch setting a spread runs under unless it is given another.
    pub fn batch_setting(&self) -> BatchSetting {
        self.exec.setting()
    }

    pub fn config(&self) -> &SpreadConfig {
        self.tables.config()
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
    #[inline]
    pub fn spread_into(
        &self,
        graph: &Graph,
        seeds: &[Seed],
        scratch: &mut SpreadScratch,
        out: &mut SpreadResult,
    ) -> Result<(), SpreadError> {
        self.spread_gated_into(graph, seeds, scratch, out, &mut NoGate)
            .map(|_| ())
    }

    /// [`Spreader::spread_into`] with `gate` asked before each hop (a latency budget, or a
    /// timer that trains the hop model). Before hop `d` the gate sees what is known of it:
    /// the frontier's size and out-degree sum (exactly the edges the hop relaxes), the hop,
    /// threads, batch size, whether it runs parallel, and — only when
    /// [`HopGate::needs_tier_mix`] — the frontier's tiers. When the gate refuses, the spread
    /// stops there and the result holds what was spread so far, ranked; returns true then
    /// (truncated). With [`NoGate`] it is `spread_into`, bit for bit.
    ///
    /// A spread stopped before hop `h` equals a spread of depth `h − 1`, bit for bit, work
    /// counters included: the cycle penalty that hop `d` earns a node past its visit budget is
    /// applied only once hop `d + 1` is admitted (or the frontier is found empty), and dropped
    /// when the gate refuses it, as the last hop of a depth-`h − 1` spread applies none.
    /// Nothing reads those nodes' activation in between: they are not in the frontier.
    pub fn spread_gated_into<G: HopGate + ?Sized>(
        &self,
        graph: &Graph,
        seeds: &[Seed],
        scratch: &mut SpreadScratch,
        out: &mut SpreadResult,
        gate: &mut G,
    ) -> Result<bool, SpreadError> {
        self.spread_gated_into_with(graph, seeds, scratch, out, gate, self.exec.setting())
    }

    /// [`Spreader::spread_into`] under `setting` instead of the spreader's own batch size and
    /// parallel threshold: how the adaptive batcher runs each spread on a shared spreader.
    /// Same bits for every setting.
    #[inline]
    pub fn spread_into_with(
        &self,
        graph: &Graph,
        seeds: &[Seed],
        scratch: &mut SpreadScratch,
        out: &mut SpreadResult,
        setting: BatchSetting,
    ) -> Result<(), SpreadError> {
        self.spread_gated_into_with(graph, seeds, scratch, out, &mut NoGate, setting)
            .map(|_| ())
    }

    /// [`Spreader::spread_gated_into`] under `setting` (see [`Spreader::spread_into_with`]).
    pub fn spread_gated_into_with<G: HopGate + ?Sized>(
        &self,
        graph: &Graph,
        seeds: &[Seed],
        scratch: &mut SpreadScratch,
        out: &mut SpreadResult,
        gate: &mut G,
        setting: BatchSetting,
    ) -> Result<bool, SpreadError> {
        check_seeds(graph, seeds)?;
        scratch.bind(graph);
        out.clear();
        scratch.begin_spread();
        self.seed(graph, seeds, scratch);
        if let Some(ex) = self.exec.executor() {
            scratch.ensure_participants(ex.threads());
        }

        let policy = self.exec.policy(setting);
        let (t, policy) = (&self.tables, &policy);
        let mut truncated = false;
        let far = far_prefetch(graph);
        for d in 1..=t.config().max_depth {
            if scratch.frontier.is_empty() {
                // The model applies the last hop's cycle penalties when the spread ends here.
                serial::apply_penalties(t, scratch, out);
                break;
            }
            let parallel = policy.parallel_hop(scratch.frontier_edges, far);
            let features = HopFeatures {
                hop: d,
                frontier_size: scratch.frontier.len() as u32,
                frontier_edges: scratch.frontier_edges,
                tier_mix: if gate.needs_tier_mix() {
                    tier_mix(scratch)
                } else {
                    [0; 3]
                },
                threads: policy.threads() as u32,
                batch_size: policy.batch_size() as u32,
                parallel: parallel.is_some(),
            };
            if !gate.before_hop(d, &features) {
                // Stopped before hop d: hop d − 1 becomes the last hop, which applies no
                // cycle penalty, so its deferred ones are dropped.
                scratch.penalized.clear();
                truncated = true;
                break;
            }
            serial::apply_penalties(t, scratch, out);
            out.work.frontier_sizes.push(scratch.frontier.len() as u32);
            out.work.hops += 1;
            scratch.begin_hop();
            match parallel {
                Some(ex) => {
                    out.work.edges_relaxed += parallel::hop(t, policy, graph, d, scratch, out, ex);
                }
                None if d == t.config().max_depth
                    && dense::worth_it(scratch.frontier_edges, graph.node_count()) =>
                {
                    out.work.edges_relaxed += dense::push_last(t, policy, graph, d, scratch);
                    dense::apply_last(t, graph, d, scratch, out);
                }
                None => {
                    out.work.edges_relaxed += serial::push_hop(t, policy, graph, d, scratch);
                    serial::apply_hop(t, graph, d, scratch, out);
                }
            }
            std::mem::swap(&mut scratch.frontier, &mut scratch.next);
            scratch.next.clear();
            gate.after_hop(d, &features);
        }
        collect::collect(t, policy, scratch, out);
        scratch.end_spread();
        Ok(truncated)
    }

    /// Hop 0: each seed's activation is min(1, Σ a₀) over its entries; distinct seeds form the
    /// first frontier, in order of first appearance.
    fn seed(&self, graph: &Graph, seeds: &[Seed], s: &mut SpreadScratch) {
        let epoch = s.spread_epoch;
        for seed in seeds {
            let st = &s.states[seed.node as usize];
            if st.spread_epoch() != epoch {
                st.activate(epoch, 0, self.tables.tier_for(st.storage_tier(), 0));
                s.activated.push(seed.node);
            }
            st.set_activation((st.activation() + fixed::to_fixed(seed.activation)).min(ONE));
        }
        for &node in s.activated.as_slice() {
            s.frontier
                .push((node, s.states[node as usize].activation()));
            s.frontier_edges += graph.out_degree(node) as u64;
        }
    }
}

/// The frontier's nodes per tier (hot, warm, cold) as the spread applies them: one pass
/// over the frontier, made only for a gate that asks.
fn tier_mix(s: &SpreadScratch) -> [u32; 3] {
    let mut mix = [0u32; 3];
    for &(node, _) in &s.frontier {
        let tier = s.states[node as usize].tier() as usize;
        mix[tier.min(2)] += 1;
    }
    mix
}

/// Checks a request's seeds against the graph before any state is touched.
fn check_seeds(graph: &Graph, seeds: &[Seed]) -> Result<(), SpreadError> {
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
    Ok(())
}

/// Hints the state of the target `ahead` edges on (clamped to the edge array) into cache.
///
/// # Safety
/// `ahead` is an index of `all_edges` (`ahead < all_edges.len()`): the edge is read without a
/// bounds check. The state address is only prefetched, never dereferenced, so it needs no
/// bound.
#[inline(always)]
unsafe fn prefetch_target(all_edges: &[Edge], states: &[NodeState], ahead: usize) {
    // SAFETY: the caller guarantees `ahead < all_edges.len()`.
    let t = unsafe { all_edges.get_unchecked(ahead) }.target;
    prefetch(states.as_ptr().wrapping_add(t as usize));
}

/// Hints the out-edges of the frontier node `pd` places after `i` into cache (nothing when
/// `pd` is 0 or there is none): shared by the serial pushes and a parallel hop's binning.
///
/// `far` ([`far_prefetch`]) on a graph larger than the caches: then the node record of the
/// frontier node twice as far ahead is asked for too (reading the record for the edges'
/// address was itself a miss, in the way of the prefetch), and up to [`EDGE_LINES_AHEAD`]
/// lines of a long edge list, not only its first. Side by side on scale-free-1m-deep
/// (`phase_times`, 4 rounds of 80 spreads): two-thread spread p50 7.15 → 6.04 ms; on
/// warm-10k, whose graph is in cache, the same hints cost 9% (6 rounds), so they are off.
#[inline(always)]
fn prefetch_edges_ahead(graph: &Graph, frontier: &[(u32, i64)], i: usize, pd: usize, far: bool) {
    if pd == 0 {
        return;
    }
    if far {
        if let Some(&(record, _)) = frontier.get(i + 2 * pd) {
            prefetch(graph.nodes().as_ptr().wrapping_add(record as usize));
        }
    }
    if let Some(&(ahead, _)) = frontier.get(i + pd) {
        let rec = graph.node(ahead);
        let edges = graph.edges().as_ptr().wrapping_add(rec.first_edge());
        prefetch(edges);
        if far {
            for line in 1..=(rec.degree() / EDGES_PER_LINE).min(EDGE_LINES_AHEAD - 1) {
                prefetch(edges.wrapping_add(EDGES_PER_LINE * line));
            }
        }
    }
}

/// Edges per 64-byte cache line (an [`Edge`] is 8 bytes).
const EDGES_PER_LINE: usize = 64 / std::mem::size_of::<Edge>();

/// The most lines of one frontier node's edge list [`prefetch_edges_ahead`] asks for.
const EDGE_LINES_AHEAD: usize = 4;

/// Edges from which a graph is taken to be larger than the caches (8 MB of edges, and node
/// records and states in proportion), so that a spread's hops prefetch further
/// ([`prefetch_edges_ahead`], [`dense::apply_kept`]).
const FAR_PREFETCH_MIN_EDGES: usize = 1 << 20;

/// Whether spreads over `graph` prefetch for a graph larger than the caches.
#[inline]
fn far_prefetch(graph: &Graph) -> bool {
    graph.edges().len() >= FAR_PREFETCH_MIN_EDGES
}

/// Locks a participant's buffer. A poisoned lock (a panic in another participant, which the
/// executor re-raises) still holds usable buffers, so it is taken over rather than unwrapped.
fn lock<T>(m: &std::sync::Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::generate::{generate, GraphParams, Topology};

    /// An undirected Barabási–Albert graph (m = 3) with every edge type and tier.
    pub(super) fn mixed_ba_graph(nodes: usize, seed: u64) -> Graph {
        generate(&GraphParams {
            topology: Topology::BarabasiAlbert { m: 3 },
            nodes,
            directed: false,
            weight_min: 0.1,
            weight_max: 1.0,
            inhibitory_share: 0.1,
            modulatory_share: 0.1,
            tier_shares: [0.3, 0.4, 0.3],
            seed,
        })
        .unwrap()
    }

    #[test]
    fn epoch_wraparound_does_not_leak_state_between_spreads() {
        let g = mixed_ba_graph(300, 5);
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

    /// A spread that did not reach its collect (it panicked) leaves activations set; the
    /// next spread must not read them as "already active".
    #[test]
    fn a_spread_after_an_unfinished_one_starts_from_zero_activations() {
        let g = mixed_ba_graph(200, 8);
        let sp = Spreader::new(SpreadConfig::default()).unwrap();
        let seeds = [Seed::new(3, 1.0)];
        let want = sp.spread(&g, &seeds, &mut SpreadScratch::new(200)).unwrap();
        let mut scratch = SpreadScratch::new(200);
        sp.spread(&g, &[Seed::new(150, 1.0)], &mut scratch).unwrap();
        // What a spread stopped half-way leaves: stale activations everywhere.
        scratch.begin_spread();
        for st in scratch.states.iter() {
            st.set_activation(ONE / 3);
        }
        assert_eq!(sp.spread(&g, &seeds, &mut scratch).unwrap(), want);
    }
}
