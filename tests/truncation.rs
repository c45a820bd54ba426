//! A spread stopped before hop `h` is exactly a spread of depth `h − 1` (issue 11, task A of
//! issue 13): same nodes, same activations bit for bit, same work counters — also on graphs
//! where nodes pass their visit budget, whose cycle penalty an inner hop earns and a last hop
//! never applies. Held on one thread and on a parallel executor, on a hand-made dense graph
//! and on random ones.

use proptest::prelude::*;
use spreadbench::engine::budget::seeds_only;
use spreadbench::engine::{
    Decay, HopExecutor, HopFeatures, HopGate, NoGate, Seed, SpreadConfig, SpreadResult,
    SpreadScratch, Spreader,
};
use spreadbench::graph::{EdgeKind, EdgeSpec, Graph, Tier};
use std::sync::Arc;

/// Refuses hop `stop_at` and every later one.
struct StopAt(u32);

impl HopGate for StopAt {
    fn before_hop(&mut self, hop: u32, _f: &HopFeatures) -> bool {
        hop < self.0
    }
}

fn config(depth: u32, visit_budget: u32) -> SpreadConfig {
    let mut c = SpreadConfig {
        max_depth: depth,
        // No decay: activation keeps flowing round the cycles, so nodes are reached again and
        // again and pass their visit budget.
        decay: Decay::Linear { slope: 0.0 },
        ..SpreadConfig::default()
    };
    for t in c.tiers.iter_mut() {
        t.threshold = 0.01;
        t.visit_budget = visit_budget;
    }
    c
}

/// The spreader of `c`, on one thread or on a two-thread executor that runs every hop and
/// collect in parallel.
fn spreader(c: SpreadConfig, parallel: bool) -> Spreader {
    let sp = Spreader::new(c).expect("valid config");
    if parallel {
        sp.with_executor(Some(Arc::new(HopExecutor::new(2))))
            .with_parallel_min_edges(0)
    } else {
        sp
    }
}

/// `seeds` spread to depth `depth` and stopped before hop `h`, against the same spread of
/// depth `h − 1` (the seeds alone for `h = 1`), bit for bit.
fn check_cut(g: &Graph, seeds: &[Seed], c: &SpreadConfig, h: u32, parallel: bool) {
    let full = spreader(c.clone(), parallel);
    let mut scratch = SpreadScratch::new(g.node_count());
    let mut got = SpreadResult::default();
    let stopped = full
        .spread_gated_into(g, seeds, &mut scratch, &mut got, &mut StopAt(h))
        .expect("valid seeds");
    let want = if h == 1 {
        seeds_only(&full, g, seeds).expect("valid seeds")
    } else {
        let shallow = spreader(
            SpreadConfig {
                max_depth: h - 1,
                ..c.clone()
            },
            parallel,
        );
        shallow.spread(g, seeds, &mut scratch).expect("valid seeds")
    };
    // A gate that refuses a hop the spread never reaches does not stop it.
    if stopped {
        assert_eq!(got, want, "stopped before hop {h} (parallel {parallel})");
    } else {
        assert!(
            got.work.hops < h,
            "{h}: not stopped yet ran {}",
            got.work.hops
        );
    }
}

/// Every node linked both ways to the next three (mod 8), all warm: dense and full of cycles.
fn ring8() -> Graph {
    let n = 8u32;
    let mut edges = Vec::new();
    for u in 0..n {
        for k in 1..=3 {
            edges.push(EdgeSpec {
                src: u,
                dst: (u + k) % n,
                weight: 0.5,
                kind: EdgeKind::Excitatory,
            });
            edges.push(EdgeSpec {
                src: (u + k) % n,
                dst: u,
                weight: 0.5,
                kind: EdgeKind::Excitatory,
            });
        }
    }
    Graph::from_edges(&[Tier::Warm; 8], edges).expect("valid graph")
}

#[test]
fn a_cut_after_a_hop_with_cycle_penalties_equals_the_shallower_spread() {
    let g = ring8();
    let c = config(6, 1);
    let seeds = [Seed::new(0, 1.0)];
    // The case is what it claims: hops 2 and later, run as inner hops, earn penalties (the
    // deeper spread counts more of them than the one that ends at that hop).
    let penalties = |depth| {
        Spreader::new(config(depth, 1))
            .unwrap()
            .spread(&g, &seeds, &mut SpreadScratch::new(8))
            .unwrap()
            .work
            .cycle_penalties
    };
    assert_eq!(penalties(1), 0);
    assert!(penalties(3) > penalties(2), "hop 2 earns penalties");
    for parallel in [false, true] {
        for h in 1..=6 {
            check_cut(&g, &seeds, &c, h, parallel);
        }
    }
}

#[test]
fn an_ungated_spread_still_applies_the_last_inner_hops_penalties() {
    // The penalties are deferred to the next hop; when there is none because the frontier
    // is empty, the model still applies them.
    let g = ring8();
    let c = config(6, 0);
    let seeds = [Seed::new(0, 1.0)];
    let sp = Spreader::new(c).unwrap();
    let r = sp.spread(&g, &seeds, &mut SpreadScratch::new(8)).unwrap();
    // Visit budget 0: every node hop 1 reaches (0's six neighbours) takes the penalty at once
    // and none expands, so hop 1 is the only hop.
    assert_eq!(r.work.hops, 1);
    assert_eq!(r.work.cycle_penalties, 6);
    // Each neighbour got 1.0 · 0.5, rounded to fixed point, then × 0.93, rounded once.
    let half = 1i64 << 31;
    let penalised = (half as f64 * 0.93).round_ties_even() as i64;
    for n in r.nodes.iter().filter(|n| n.id != 0) {
        assert_eq!(n.activation, penalised, "node {}", n.id);
    }
    let mut out = SpreadResult::default();
    let mut scratch = SpreadScratch::new(8);
    assert!(!sp
        .spread_gated_into(&g, &seeds, &mut scratch, &mut out, &mut NoGate)
        .unwrap());
    assert_eq!(out, r);
}

fn random_graph() -> impl Strategy<Value = (Graph, Vec<Seed>)> {
    (3usize..24).prop_flat_map(|n| {
        let nu = n as u32;
        (
            prop::collection::vec(
                (
                    0..nu,
                    0..nu,
                    0.2f32..=1.0,
                    prop_oneof![
                        8 => Just(EdgeKind::Excitatory),
                        1 => Just(EdgeKind::Inhibitory),
                        1 => Just(EdgeKind::Modulatory),
                    ],
                )
                    .prop_map(|(src, dst, weight, kind)| EdgeSpec {
                        src,
                        dst,
                        weight,
                        kind,
                    }),
                // Dense: three to six out-edges per node on average.
                (3 * n)..(6 * n),
            ),
            prop::collection::vec(
                (0..nu, 0.05f64..=1.0).prop_map(|(v, a)| Seed::new(v, a)),
                1..=3,
            ),
            prop::collection::vec(
                prop_oneof![Just(Tier::Hot), Just(Tier::Warm), Just(Tier::Cold)],
                n,
            ),
        )
            .prop_map(|(edges, seeds, tiers)| {
                (
                    Graph::from_edges(&tiers, edges).expect("valid random graph"),
                    seeds,
                )
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn a_spread_stopped_before_any_hop_equals_the_shallower_spread(
        (g, seeds) in random_graph(),
        depth in 2u32..=8,
        cut in 1u32..=8,
        visit_budget in 0u32..=2,
        rate in prop_oneof![Just(0.0f64), 0.0f64..0.5],
        penalty in prop_oneof![Just(0.93f64), 0.0f64..=1.0],
    ) {
        let mut c = config(depth, visit_budget);
        c.decay = Decay::Exponential { rate };
        c.cycle_penalty = penalty;
        let h = cut.min(depth);
        check_cut(&g, &seeds, &c, h, false);
        check_cut(&g, &seeds, &c, h, true);
    }
}
