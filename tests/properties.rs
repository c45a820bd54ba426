//! Property tests of the spreading engine on random small graphs, seeds and configurations.
//!
//! Besides the invariants of the result (range, ranking, confidence, counters, determinism,
//! scratch reuse, top-k), every random case is also checked bit for bit against a slow,
//! straightforward reference implementation of DESIGN §2 written here from the contract
//! (`reference_spread`), using the same single rounding per contribution.

use proptest::prelude::*;
use spreadbench::engine::fixed::ONE;
use spreadbench::engine::{
    ActivatedNode, Decay, FanEffect, Seed, SpreadConfig, SpreadResult, SpreadScratch, Spreader,
    TierPolicy, WorkCounters,
};
use spreadbench::graph::{EdgeKind, EdgeSpec, Graph, Tier};
use std::collections::BTreeMap;

const SCALE: f64 = ONE as f64;

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Case {
    tiers: Vec<Tier>,
    edges: Vec<EdgeSpec>,
    seeds: Vec<Seed>,
    config: SpreadConfig,
}

impl Case {
    fn graph(&self) -> Graph {
        Graph::from_edges(&self.tiers, self.edges.clone()).expect("valid random graph")
    }
}

fn tier() -> impl Strategy<Value = Tier> {
    prop_oneof![Just(Tier::Hot), Just(Tier::Warm), Just(Tier::Cold)]
}

fn kind() -> impl Strategy<Value = EdgeKind> {
    // Mostly excitatory, so spreads go somewhere.
    prop_oneof![
        6 => Just(EdgeKind::Excitatory),
        2 => Just(EdgeKind::Inhibitory),
        2 => Just(EdgeKind::Modulatory),
    ]
}

fn weight() -> impl Strategy<Value = f32> {
    // (0, 1], biased towards strong edges; includes exactly 1.0.
    prop_oneof![
        1 => Just(1.0f32),
        3 => 0.5f32..=1.0f32,
        2 => (1u32..=1_000_000).prop_map(|k| k as f32 / 1_000_000.0),
    ]
}

fn decay() -> impl Strategy<Value = Decay> {
    prop_oneof![
        (0.0f64..1.5).prop_map(|rate| Decay::Exponential { rate }),
        (0.0f64..2.0).prop_map(|exponent| Decay::PowerLaw { exponent }),
        (0.0f64..0.4).prop_map(|slope| Decay::Linear { slope }),
        // no decay at all (D = 1): long spreads, clamping and cycles
        Just(Decay::Linear { slope: 0.0 }),
    ]
}

fn fan() -> impl Strategy<Value = FanEffect> {
    prop_oneof![
        Just(FanEffect::None),
        Just(FanEffect::OutDegree),
        Just(FanEffect::SqrtOutDegree),
    ]
}

fn config() -> impl Strategy<Value = SpreadConfig> {
    (
        1u32..=6,
        decay(),
        fan(),
        prop_oneof![Just(0.93f64), 0.0f64..=1.0],
        prop_oneof![Just(TierPolicy::Storage), Just(TierPolicy::HopDepth)],
        any::<bool>(),
        // per tier: threshold, visit budget
        prop::collection::vec((0.001f64..0.2, 0u32..=4), 3),
    )
        .prop_map(
            |(max_depth, decay, fan_effect, cycle_penalty, tier_policy, defaults, tiers)| {
                let mut c = SpreadConfig {
                    max_depth,
                    decay,
                    fan_effect,
                    cycle_penalty,
                    tier_policy,
                    ..SpreadConfig::default()
                };
                if !defaults {
                    for (p, &(threshold, visit_budget)) in c.tiers.iter_mut().zip(&tiers) {
                        p.threshold = threshold;
                        p.visit_budget = visit_budget;
                    }
                }
                c
            },
        )
}

fn case() -> impl Strategy<Value = Case> {
    (2usize..60)
        .prop_flat_map(|n| {
            let nu = n as u32;
            (
                prop::collection::vec(tier(), n),
                prop::collection::vec(
                    (0..nu, 0..nu, weight(), kind()).prop_map(|(src, dst, weight, kind)| {
                        EdgeSpec {
                            src,
                            dst,
                            weight,
                            kind,
                        }
                    }),
                    0..(4 * n),
                ),
                prop::collection::vec(
                    (0..nu, prop_oneof![Just(1.0f64), 0.001f64..=1.0])
                        .prop_map(|(node, a)| Seed::new(node, a)),
                    1..=5,
                ),
                config(),
            )
        })
        .prop_map(|(tiers, edges, seeds, config)| Case {
            tiers,
            edges,
            seeds,
            config,
        })
}

// ---------------------------------------------------------------------------------------------
// Reference implementation of DESIGN §2
// ---------------------------------------------------------------------------------------------

/// Rounds once to fixed point, to nearest with ties to even.
fn round_fixed(x: f64) -> i64 {
    x.round_ties_even() as i64
}

fn decay_at(d: &Decay, hop: u32) -> f64 {
    let h = hop as f64;
    match *d {
        Decay::Exponential { rate } => (-rate * h).exp(),
        Decay::PowerLaw { exponent } => (h + 1.0).powf(-exponent),
        Decay::Linear { slope } => (1.0 - slope * h).max(0.0),
    }
}

fn hop_tier(hop: u32) -> Tier {
    match hop {
        0 => Tier::Hot,
        1 | 2 => Tier::Warm,
        _ => Tier::Cold,
    }
}

#[derive(Clone, Copy)]
struct RefState {
    activation: i64,
    visits: u32,
    first_hop: u32,
    tier: Tier,
}

/// A slow, obvious spread straight from the contract. Where DESIGN §2 leaves room it follows
/// the engine's documented choices: contributions are `round((Δ · D(d) [/ fan]) · 2³² · w)`
/// evaluated left to right; a node whose activation is 0 (never activated, or driven back to 0
/// by inhibition) is subject to the first-contact threshold of the tier it has (or would get).
fn reference_spread(g: &Graph, seeds: &[Seed], c: &SpreadConfig) -> SpreadResult {
    let mut state: BTreeMap<u32, RefState> = BTreeMap::new();
    let tier_for = |v: u32, hop: u32| match c.tier_policy {
        TierPolicy::Storage => g.tier(v),
        TierPolicy::HopDepth => hop_tier(hop),
    };
    let mut frontier: Vec<(u32, i64)> = Vec::new();
    let mut order = Vec::new();
    for s in seeds {
        let st = state.entry(s.node).or_insert_with(|| {
            order.push(s.node);
            RefState {
                activation: 0,
                visits: 0,
                first_hop: 0,
                tier: tier_for(s.node, 0),
            }
        });
        st.activation = (st.activation + round_fixed(s.activation * SCALE)).min(ONE);
    }
    for &v in &order {
        frontier.push((v, state[&v].activation));
    }
    let mut work = WorkCounters::default();
    for d in 1..=c.max_depth {
        if frontier.is_empty() {
            break;
        }
        work.hops += 1;
        work.frontier_sizes.push(frontier.len() as u32);
        let dd = decay_at(&c.decay, d);
        let mut pending: BTreeMap<u32, i64> = BTreeMap::new();
        for &(u, delta) in &frontier {
            let out = g.out_edges(u);
            work.edges_relaxed += out.len() as u64;
            let mut base = (delta as f64 / SCALE) * dd;
            let deg = out.len().max(1) as f64;
            match c.fan_effect {
                FanEffect::None => {}
                FanEffect::OutDegree => base /= deg,
                FanEffect::SqrtOutDegree => base /= deg.sqrt(),
            }
            for e in out {
                // e.weight is w × type factor (exact in f32)
                let contrib = round_fixed(base * SCALE * e.weight as f64);
                *pending.entry(e.target).or_insert(0) += contrib;
            }
        }
        let mut next = Vec::new();
        for (v, sum) in pending {
            let existing = state.get(&v).copied();
            let old = existing.map_or(0, |s| s.activation);
            if old == 0 {
                let t = existing.map_or_else(|| tier_for(v, d), |s| s.tier);
                let theta = round_fixed(c.tier(t).threshold * SCALE);
                if sum < theta {
                    work.rejected += 1;
                    continue;
                }
            }
            let st = state.entry(v).or_insert_with(|| RefState {
                activation: 0,
                visits: 0,
                first_hop: d,
                tier: tier_for(v, d),
            });
            let new = (old + sum).clamp(0, ONE);
            let delta = new - old;
            st.activation = new;
            st.visits += 1;
            if delta > 0 && d < c.max_depth {
                if st.visits <= c.tier(st.tier).visit_budget {
                    next.push((v, delta));
                } else {
                    st.activation = round_fixed(new as f64 * c.cycle_penalty);
                    work.cycle_penalties += 1;
                }
            }
        }
        frontier = next;
    }
    let mut nodes: Vec<ActivatedNode> = state
        .iter()
        .filter(|(_, s)| s.activation > 0)
        .map(|(&id, s)| ActivatedNode {
            id,
            activation: s.activation,
            confidence: (s.activation as f64 / SCALE) * c.tier(s.tier).confidence,
            first_hop: s.first_hop,
            tier: s.tier,
        })
        .collect();
    nodes.sort_by(|a, b| b.activation.cmp(&a.activation).then(a.id.cmp(&b.id)));
    work.nodes_activated = nodes.len() as u32;
    if let Some(k) = c.top_k {
        nodes.truncate(k);
    }
    SpreadResult { nodes, work }
}

fn run(g: &Graph, seeds: &[Seed], c: &SpreadConfig, scratch: &mut SpreadScratch) -> SpreadResult {
    Spreader::new(c.clone())
        .expect("valid random config")
        .spread(g, seeds, scratch)
        .expect("valid random seeds")
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn check_invariants(case: &Case, g: &Graph, r: &SpreadResult) -> Result<(), TestCaseError> {
    let c = &case.config;
    let mut seen = std::collections::HashSet::new();
    for n in &r.nodes {
        prop_assert!(seen.insert(n.id), "node {} twice", n.id);
        prop_assert!(n.activation > 0 && n.activation <= ONE, "{n:?}");
        let a = n.activation_f64();
        prop_assert!(a > 0.0 && a <= 1.0, "{n:?}");
        let kappa = c.tier(n.tier).confidence;
        prop_assert_eq!(n.confidence, a * kappa, "{:?}", n);
        prop_assert!(n.first_hop <= c.max_depth, "{n:?}");
        let is_seed = case.seeds.iter().any(|s| s.node == n.id);
        prop_assert_eq!(n.first_hop == 0, is_seed, "{:?}", n);
        let expected_tier = match c.tier_policy {
            TierPolicy::Storage => g.tier(n.id),
            TierPolicy::HopDepth => hop_tier(n.first_hop),
        };
        prop_assert_eq!(n.tier, expected_tier, "{:?}", n);
    }
    for w in r.nodes.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        prop_assert!(
            a.activation > b.activation || (a.activation == b.activation && a.id < b.id),
            "ranking: {a:?} before {b:?}"
        );
    }
    let work = &r.work;
    prop_assert!(work.hops >= 1 && work.hops <= c.max_depth);
    prop_assert_eq!(work.frontier_sizes.len(), work.hops as usize);
    let distinct_seeds = {
        let mut s: Vec<u32> = case.seeds.iter().map(|s| s.node).collect();
        s.sort_unstable();
        s.dedup();
        s.len() as u32
    };
    prop_assert_eq!(work.frontier_sizes[0], distinct_seeds);
    prop_assert!(work.frontier_sizes.iter().all(|&f| f > 0));
    match c.top_k {
        None => prop_assert_eq!(work.nodes_activated as usize, r.nodes.len()),
        Some(k) => {
            prop_assert!(r.nodes.len() <= k);
            prop_assert!(r.nodes.len() <= work.nodes_activated as usize);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Range, distinctness, confidence, ranking, first hop, tiers and counters.
    #[test]
    fn result_invariants(case in case()) {
        let g = case.graph();
        let r = run(&g, &case.seeds, &case.config, &mut SpreadScratch::new(g.node_count()));
        check_invariants(&case, &g, &r)?;
    }

    /// The engine agrees bit for bit with the reference implementation of the contract.
    #[test]
    fn matches_reference_model(case in case()) {
        let g = case.graph();
        let r = run(&g, &case.seeds, &case.config, &mut SpreadScratch::new(g.node_count()));
        let expected = reference_spread(&g, &case.seeds, &case.config);
        prop_assert_eq!(&r.work, &expected.work);
        prop_assert_eq!(&r.nodes, &expected.nodes);
    }

    /// Identical inputs give identical results: fresh scratch twice, and a scratch reused after
    /// unrelated spreads (other seeds, other config, another graph of the same size and one of
    /// another size) — the epoch-stamped scratch must not leak state between spreads.
    #[test]
    fn deterministic_and_scratch_reuse_is_clean(
        case in case(),
        other in case(),
        other_seed_a in 0.001f64..=1.0,
    ) {
        let g = case.graph();
        let n = g.node_count();
        let a = run(&g, &case.seeds, &case.config, &mut SpreadScratch::new(n));
        let b = run(&g, &case.seeds, &case.config, &mut SpreadScratch::new(n));
        prop_assert_eq!(&a, &b);

        let mut scratch = SpreadScratch::new(n);
        // same graph, other seeds and config
        let other_seeds: Vec<Seed> = other
            .seeds
            .iter()
            .map(|s| Seed::new(s.node % n as u32, other_seed_a.max(s.activation)))
            .collect();
        let _ = run(&g, &other_seeds, &other.config, &mut scratch);
        prop_assert_eq!(&run(&g, &case.seeds, &case.config, &mut scratch), &a);
        // the same spread again, back to back
        prop_assert_eq!(&run(&g, &case.seeds, &case.config, &mut scratch), &a);
        // another graph with the same node count (the scratch is kept as is)
        let mut tiers2 = case.tiers.clone();
        tiers2.reverse();
        let edges2: Vec<EdgeSpec> = case
            .edges
            .iter()
            .map(|e| EdgeSpec { src: e.dst, dst: e.src, ..*e })
            .collect();
        let g2 = Graph::from_edges(&tiers2, edges2).unwrap();
        let _ = run(&g2, &case.seeds, &other.config, &mut scratch);
        prop_assert_eq!(&run(&g, &case.seeds, &case.config, &mut scratch), &a);
        // another graph of another size (the scratch is resized)
        let g3 = other.graph();
        let _ = run(&g3, &other.seeds, &other.config, &mut scratch);
        prop_assert_eq!(&run(&g, &case.seeds, &case.config, &mut scratch), &a);
        // spread_into with a reused, dirty result
        let spreader = Spreader::new(case.config.clone()).unwrap();
        let mut out = run(&g3, &other.seeds, &other.config, &mut SpreadScratch::new(1));
        spreader.spread_into(&g, &case.seeds, &mut scratch, &mut out).unwrap();
        prop_assert_eq!(&out, &a);
    }

    /// The result does not depend on the order of seeds, the order of edges, or prefetching.
    #[test]
    fn independent_of_input_order_and_prefetch(case in case(), rot in 0usize..8) {
        let g = case.graph();
        let n = g.node_count();
        let a = run(&g, &case.seeds, &case.config, &mut SpreadScratch::new(n));

        let mut seeds = case.seeds.clone();
        seeds.reverse();
        let r = seeds.len();
        seeds.rotate_left(rot % r);
        prop_assert_eq!(&run(&g, &seeds, &case.config, &mut SpreadScratch::new(n)), &a);

        let mut edges = case.edges.clone();
        edges.reverse();
        let g_rev = Graph::from_edges(&case.tiers, edges).unwrap();
        prop_assert_eq!(&g_rev, &g);
        prop_assert_eq!(&run(&g_rev, &case.seeds, &case.config, &mut SpreadScratch::new(n)), &a);

        for pd in [0usize, 1, 3, 64] {
            let s = Spreader::new(case.config.clone()).unwrap().with_prefetch_distance(pd);
            let r = s.spread(&g, &case.seeds, &mut SpreadScratch::new(n)).unwrap();
            prop_assert_eq!(&r, &a, "prefetch distance {}", pd);
        }
    }

    /// top_k gives a prefix of the full ranking, with the same counters.
    #[test]
    fn top_k_is_a_prefix(case in case(), k in 1usize..20) {
        let g = case.graph();
        let n = g.node_count();
        let full_cfg = SpreadConfig { top_k: None, ..case.config.clone() };
        let full = run(&g, &case.seeds, &full_cfg, &mut SpreadScratch::new(n));
        let cut_cfg = SpreadConfig { top_k: Some(k), ..case.config.clone() };
        let cut = run(&g, &case.seeds, &cut_cfg, &mut SpreadScratch::new(n));
        let len = k.min(full.nodes.len());
        prop_assert_eq!(&cut.nodes[..], &full.nodes[..len]);
        prop_assert_eq!(&cut.work, &full.work);
    }
}

/// The random cases are only worth something if they reach the interesting parts of the
/// model: check that a sample of them does (penalties, rejections, clamping at 1, inhibition
/// lowering an active node, deep spreads, early stops).
#[test]
fn random_cases_exercise_the_model() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = case();
    let (mut penalties, mut rejected, mut clamped, mut deep, mut early, mut multi_hop_nodes) =
        (0, 0, 0, 0, 0, 0);
    let samples = 300;
    for _ in 0..samples {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let g = case.graph();
        let r = run(
            &g,
            &case.seeds,
            &case.config,
            &mut SpreadScratch::new(g.node_count()),
        );
        penalties += (r.work.cycle_penalties > 0) as u32;
        rejected += (r.work.rejected > 0) as u32;
        clamped += r
            .nodes
            .iter()
            .any(|n| n.activation == ONE && n.first_hop > 0) as u32;
        deep += (r.work.hops >= 4) as u32;
        early += (r.work.hops < case.config.max_depth) as u32;
        multi_hop_nodes += r.nodes.iter().any(|n| n.first_hop >= 2) as u32;
    }
    eprintln!(
        "of {samples}: penalties {penalties}, rejected {rejected}, clamped {clamped}, \
         hops>=4 {deep}, early stop {early}, reached hop>=2 {multi_hop_nodes}"
    );
    for (what, count) in [
        ("cycle penalties", penalties),
        ("rejections", rejected),
        ("clamping at 1", clamped),
        ("hops >= 4", deep),
        ("early stops", early),
        ("nodes first reached at hop >= 2", multi_hop_nodes),
    ] {
        assert!(
            count >= samples / 20,
            "only {count}/{samples} random cases show {what}"
        );
    }
}

/// The reference model agrees with the engine on the golden request of `tests/model.rs` (the
/// first request of the default workload), so those pinned numbers follow the contract.
#[test]
fn reference_agrees_on_warm_10k_first_request() {
    use spreadbench::graph::generate::generate;
    use spreadbench::workload::Workload;
    let w = Workload::load("warm-10k").unwrap();
    let g = generate(&w.graph).unwrap();
    let mut seeds = Vec::new();
    w.requests(g.node_count()).next_into(&mut seeds);
    let r = run(
        &g,
        &seeds,
        &w.spread,
        &mut SpreadScratch::new(g.node_count()),
    );
    let expected = reference_spread(&g, &seeds, &w.spread);
    assert_eq!(r.work, expected.work);
    assert!(r.nodes == expected.nodes, "node lists differ");
    assert!(
        r.nodes.len() > 100,
        "the golden request reaches hundreds of nodes"
    );
}
