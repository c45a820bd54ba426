//! Hand-computed cases of the spreading model v1 (DESIGN §2).
//!
//! Every expected activation below is worked out by hand in the comment next to it, from the
//! contract alone: `c = Δ · w · type_factor · D(d)` (optionally divided by the fan), summed per
//! target per hop, first-contact threshold θ(tier), clamp to [0, 1], visit budget and cycle
//! penalty, forwarding only the increment. The engine rounds every contribution once to fixed
//! point (2⁻³²), so activations are compared with a tolerance of 1e-9; counters are exact.
//!
//! Edge weights are stored as f32, so the weights used here are dyadic (0.25, 0.5, 0.75, 1.0)
//! and exactly representable: a weight like 0.8 would be stored as 0.800000011920929 and a
//! hand-computed 0.8 would be off by ~1.2e-8, more than the tolerance.

use spreadbench::engine::fixed::ONE;
use spreadbench::engine::{
    Decay, FanEffect, Seed, SpreadConfig, SpreadError, SpreadResult, SpreadScratch, Spreader,
    TierPolicy, WorkCounters,
};
use spreadbench::graph::{EdgeKind, EdgeSpec, Graph, Tier};

const TOL: f64 = 1e-9;

fn edge(src: u32, dst: u32, weight: f32, kind: EdgeKind) -> EdgeSpec {
    EdgeSpec {
        src,
        dst,
        weight,
        kind,
    }
}

fn exc(src: u32, dst: u32, weight: f32) -> EdgeSpec {
    edge(src, dst, weight, EdgeKind::Excitatory)
}

fn inh(src: u32, dst: u32, weight: f32) -> EdgeSpec {
    edge(src, dst, weight, EdgeKind::Inhibitory)
}

fn modu(src: u32, dst: u32, weight: f32) -> EdgeSpec {
    edge(src, dst, weight, EdgeKind::Modulatory)
}

fn graph(tiers: &[Tier], edges: Vec<EdgeSpec>) -> Graph {
    Graph::from_edges(tiers, edges).expect("valid test graph")
}

/// `D(d) = 1` for every hop: linear decay with slope 0 (allowed: slope ≥ 0).
fn no_decay() -> Decay {
    Decay::Linear { slope: 0.0 }
}

fn cfg(max_depth: u32, decay: Decay) -> SpreadConfig {
    SpreadConfig {
        max_depth,
        decay,
        ..SpreadConfig::default()
    }
}

fn spread(g: &Graph, cfg: SpreadConfig, seeds: &[(u32, f64)]) -> SpreadResult {
    let seeds: Vec<Seed> = seeds.iter().map(|&(n, a)| Seed::new(n, a)).collect();
    Spreader::new(cfg)
        .expect("valid config")
        .spread(g, &seeds, &mut SpreadScratch::new(g.node_count()))
        .expect("valid spread")
}

/// Activation of `id` in the result, or `None` if it is not there.
fn act(r: &SpreadResult, id: u32) -> Option<f64> {
    r.nodes
        .iter()
        .find(|n| n.id == id)
        .map(|n| n.activation_f64())
}

#[track_caller]
fn assert_act(r: &SpreadResult, id: u32, expected: f64) {
    let got = act(r, id).unwrap_or_else(|| panic!("node {id} not in result {:?}", r.nodes));
    assert!(
        (got - expected).abs() <= TOL,
        "node {id}: activation {got:.17} but hand-computed {expected:.17} (diff {:e})",
        got - expected
    );
}

#[track_caller]
fn assert_absent(r: &SpreadResult, id: u32) {
    assert!(
        act(r, id).is_none(),
        "node {id} should not be activated: {:?}",
        r.nodes
    );
}

fn first_hop(r: &SpreadResult, id: u32) -> u32 {
    r.nodes.iter().find(|n| n.id == id).unwrap().first_hop
}

fn ids(r: &SpreadResult) -> Vec<u32> {
    r.nodes.iter().map(|n| n.id).collect()
}

fn work(
    hops: u32,
    frontier_sizes: &[u32],
    edges_relaxed: u64,
    nodes_activated: u32,
    rejected: u64,
    cycle_penalties: u64,
) -> WorkCounters {
    WorkCounters {
        hops,
        frontier_sizes: frontier_sizes.to_vec(),
        edges_relaxed,
        nodes_activated,
        rejected,
        cycle_penalties,
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Chain
// ---------------------------------------------------------------------------------------------

#[test]
fn chain_exponential_decay_exact_per_hop() {
    // 0 →(0.75) 1 →(0.5) 2 →(1.0) 3 →(1.0) 4, all warm (θ 0.05, κ 0.95), H = 3,
    // D(d) = exp(−0.25·d): D1 = 0.7788007830714049, D2 = 0.6065306597126334,
    // D3 = 0.4723665527410147. Seed 0 with 1.0.
    //   hop 1: c(0→1) = 1.0 · 0.75 · D1                = 0.5841005873035536  ≥ θ → accepted
    //   hop 2: c(1→2) = 0.5841005873035536 · 0.5 · D2  = 0.17713745727788052 ≥ θ → accepted
    //   hop 3: c(2→3) = 0.17713745727788052 · 1 · D3   = 0.08367381005566119 ≥ θ → accepted
    //   hop 3 is the last (d = H), so node 3 does not expand and 3 → 4 is never relaxed.
    let g = graph(
        &[Tier::Warm; 5],
        vec![
            exc(0, 1, 0.75),
            exc(1, 2, 0.5),
            exc(2, 3, 1.0),
            exc(3, 4, 1.0),
        ],
    );
    let r = spread(&g, cfg(3, Decay::Exponential { rate: 0.25 }), &[(0, 1.0)]);
    assert_act(&r, 0, 1.0);
    assert_act(&r, 1, 0.5841005873035536);
    assert_act(&r, 2, 0.17713745727788052);
    assert_act(&r, 3, 0.08367381005566119);
    assert_absent(&r, 4);
    assert_eq!(ids(&r), vec![0, 1, 2, 3]);
    for id in 0..4 {
        assert_eq!(first_hop(&r, id), id, "first_hop of node {id}");
        assert_eq!(r.nodes[id as usize].tier, Tier::Warm);
    }
    // confidence = activation × κ(warm) = activation × 0.95
    for n in &r.nodes {
        assert_eq!(n.confidence, n.activation_f64() * 0.95);
    }
    // one frontier node per hop, one edge each; 4 nodes active; nothing rejected or penalised
    assert_eq!(r.work, work(3, &[1, 1, 1], 3, 4, 0, 0));
}

// ---------------------------------------------------------------------------------------------
// 2. Fan
// ---------------------------------------------------------------------------------------------

#[test]
fn fan_effect_divides_by_out_degree_or_its_root() {
    // Hub 0 → leaves 1..=4, each w = 0.5, all hot (θ 0.01), H = 1, power-law α = 1:
    // D(1) = (1+1)^−1 = 0.5. Seed 0 with 1.0.
    //   none:            c = 1.0 · 0.5 · 0.5       = 0.25
    //   out-degree:      c = 1.0 · 0.5 / 4 · 0.5   = 0.0625
    //   sqrt-out-degree: c = 1.0 · 0.5 / √4 · 0.5 = 0.125
    let g = graph(&[Tier::Hot; 5], (1..=4).map(|v| exc(0, v, 0.5)).collect());
    for (fan, leaf) in [
        (FanEffect::None, 0.25),
        (FanEffect::OutDegree, 0.0625),
        (FanEffect::SqrtOutDegree, 0.125),
    ] {
        let c = SpreadConfig {
            fan_effect: fan,
            ..cfg(1, Decay::PowerLaw { exponent: 1.0 })
        };
        let r = spread(&g, c, &[(0, 1.0)]);
        assert_act(&r, 0, 1.0);
        for v in 1..=4 {
            assert_act(&r, v, leaf);
            assert_eq!(first_hop(&r, v), 1);
        }
        // all leaves equal: ranked by id ascending after the hub
        assert_eq!(ids(&r), vec![0, 1, 2, 3, 4], "{fan:?}");
        let a: Vec<i64> = r.nodes[1..].iter().map(|n| n.activation).collect();
        assert!(a.iter().all(|&x| x == a[0]), "{fan:?}: {a:?}");
        assert_eq!(r.work, work(1, &[1], 4, 5, 0, 0), "{fan:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Two paths summing into one node
// ---------------------------------------------------------------------------------------------

#[test]
fn two_paths_sum_in_the_same_hop() {
    // 0 → 1, 0 → 2, 1 → 3, 2 → 3, every w = 0.5, D = 1, warm, H = 2. Seed 0 with 1.0.
    //   hop 1: n1 = 1.0 · 0.5 = 0.5, n2 = 0.5
    //   hop 2: n3 = 0.5 · 0.5 + 0.5 · 0.5 = 0.25 + 0.25 = 0.5 (the SUM, not the max 0.25)
    let g = graph(
        &[Tier::Warm; 4],
        vec![
            exc(0, 1, 0.5),
            exc(0, 2, 0.5),
            exc(1, 3, 0.5),
            exc(2, 3, 0.5),
        ],
    );
    let r = spread(&g, cfg(2, no_decay()), &[(0, 1.0)]);
    assert_act(&r, 1, 0.5);
    assert_act(&r, 2, 0.5);
    assert_act(&r, 3, 0.5);
    assert_eq!(first_hop(&r, 3), 2);
    assert_eq!(ids(&r), vec![0, 1, 2, 3]);
    assert_eq!(r.work, work(2, &[1, 2], 4, 4, 0, 0));
}

#[test]
fn two_paths_each_below_theta_sum_above_is_accepted() {
    // Nodes 1, 2 hot (θ 0.01), node 3 warm (θ 0.05). D = 1, H = 2. Seed 0 with 0.25.
    // 0 →(0.5) 1, 0 →(0.5) 2, 1 →(0.25) 3, 2 →(0.25) 3.
    //   hop 1: n1 = n2 = 0.25 · 0.5 = 0.125 (≥ 0.01)
    //   hop 2: each path gives 0.125 · 0.25 = 0.03125 < 0.05, the sum 0.0625 ≥ 0.05 → accepted
    let tiers = [Tier::Hot, Tier::Hot, Tier::Hot, Tier::Warm];
    let g = graph(
        &tiers,
        vec![
            exc(0, 1, 0.5),
            exc(0, 2, 0.5),
            exc(1, 3, 0.25),
            exc(2, 3, 0.25),
        ],
    );
    let r = spread(&g, cfg(2, no_decay()), &[(0, 0.25)]);
    assert_act(&r, 1, 0.125);
    assert_act(&r, 2, 0.125);
    assert_act(&r, 3, 0.0625);
    assert_eq!(r.work, work(2, &[1, 2], 4, 4, 0, 0));

    // Control: one path alone gives 0.03125 < 0.05 → rejected.
    let g1 = graph(&tiers, vec![exc(0, 1, 0.5), exc(1, 3, 0.25)]);
    let r1 = spread(&g1, cfg(2, no_decay()), &[(0, 0.25)]);
    assert_act(&r1, 1, 0.125);
    assert_absent(&r1, 3);
    assert_eq!(r1.work, work(2, &[1, 1], 2, 2, 1, 0));
}

#[test]
fn two_paths_sum_below_theta_is_rejected_once() {
    // Same as above but node 3 is cold (θ 0.10): the sum 0.0625 < 0.10 → rejected.
    // Two contributions, one summed value: rejected counts 1, not 2.
    let tiers = [Tier::Hot, Tier::Hot, Tier::Hot, Tier::Cold];
    let g = graph(
        &tiers,
        vec![
            exc(0, 1, 0.5),
            exc(0, 2, 0.5),
            exc(1, 3, 0.25),
            exc(2, 3, 0.25),
        ],
    );
    let r = spread(&g, cfg(2, no_decay()), &[(0, 0.25)]);
    assert_act(&r, 1, 0.125);
    assert_act(&r, 2, 0.125);
    assert_absent(&r, 3);
    assert_eq!(r.work, work(2, &[1, 2], 4, 3, 1, 0));
}

// ---------------------------------------------------------------------------------------------
// 4. First-contact threshold, per tier
// ---------------------------------------------------------------------------------------------

#[test]
fn first_contact_below_theta_is_rejected() {
    // 0 →(0.25) 1, node 1 warm (θ 0.05), D = 1, H = 1, seed 0 with 0.125:
    //   c = 0.125 · 0.25 = 0.03125 < 0.05 → rejected
    let g = graph(&[Tier::Warm; 2], vec![exc(0, 1, 0.25)]);
    let r = spread(&g, cfg(1, no_decay()), &[(0, 0.125)]);
    assert_act(&r, 0, 0.125);
    assert_absent(&r, 1);
    assert_eq!(r.work, work(1, &[1], 1, 1, 1, 0));
}

#[test]
fn threshold_is_per_tier() {
    // The same contribution 0.125 · 0.25 = 0.03125 into node 1 of each tier:
    //   hot  θ 0.01 → accepted (0.03125); warm θ 0.05 → rejected; cold θ 0.10 → rejected.
    for (tier, accepted) in [(Tier::Hot, true), (Tier::Warm, false), (Tier::Cold, false)] {
        let g = graph(&[Tier::Hot, tier], vec![exc(0, 1, 0.25)]);
        let r = spread(&g, cfg(1, no_decay()), &[(0, 0.125)]);
        if accepted {
            assert_act(&r, 1, 0.03125);
            assert_eq!(r.nodes[1].tier, tier);
            assert_eq!(r.work, work(1, &[1], 1, 2, 0, 0));
        } else {
            assert_absent(&r, 1);
            assert_eq!(r.work, work(1, &[1], 1, 1, 1, 0), "{tier:?}");
        }
    }
    // A contribution of 0.0625 is accepted by warm (≥ 0.05) and rejected by cold (< 0.10).
    for (tier, accepted) in [(Tier::Warm, true), (Tier::Cold, false)] {
        let g = graph(&[Tier::Hot, tier], vec![exc(0, 1, 0.25)]);
        let r = spread(&g, cfg(1, no_decay()), &[(0, 0.25)]);
        assert_eq!(act(&r, 1).is_some(), accepted, "{tier:?}");
    }
}

#[test]
fn threshold_is_reached_not_exceeded() {
    // "accepts the sum only if the sum reaches θ": a sum exactly equal to θ is accepted.
    // Seed a₀ = θ, w = 1, D = 1: c = round(fixed(θ)/2³² · 1 · 2³² · 1) = fixed(θ) exactly.
    for (tier, theta) in [(Tier::Hot, 0.01), (Tier::Warm, 0.05), (Tier::Cold, 0.10)] {
        let g = graph(&[Tier::Hot, tier], vec![exc(0, 1, 1.0)]);
        let r = spread(&g, cfg(1, no_decay()), &[(0, theta)]);
        assert_act(&r, 1, theta);
        assert_eq!(r.work.rejected, 0, "{tier:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Clamp at 1
// ---------------------------------------------------------------------------------------------

#[test]
fn clamp_at_one() {
    // Seeds 0, 1, 2 with 1.0 each, all → 3 with w = 0.5, D = 1, H = 1:
    //   sum = 0.5 + 0.5 + 0.5 = 1.5 → clamped to exactly 1.0
    let g = graph(
        &[Tier::Warm; 4],
        vec![exc(0, 3, 0.5), exc(1, 3, 0.5), exc(2, 3, 0.5)],
    );
    let r = spread(&g, cfg(1, no_decay()), &[(0, 1.0), (1, 1.0), (2, 1.0)]);
    let n3 = r.nodes.iter().find(|n| n.id == 3).unwrap();
    assert_eq!(n3.activation, ONE);
    assert_eq!(n3.activation_f64(), 1.0);
    // all four at 1.0: ranked by id
    assert_eq!(ids(&r), vec![0, 1, 2, 3]);
    assert_eq!(r.work, work(1, &[3], 3, 4, 0, 0));
}

// ---------------------------------------------------------------------------------------------
// 6. Inhibitory and modulatory edges
// ---------------------------------------------------------------------------------------------

#[test]
fn inhibitory_edge_reduces_an_active_node_in_a_later_hop() {
    // 0 →(1.0) 1, 0 →(0.5) 2, 2 ⊣(0.5) 1 (inhibitory), warm, D = 1, H = 2. Seed 0 with 0.5.
    //   hop 1: n1 = 0.5 · 1.0 = 0.5, n2 = 0.5 · 0.5 = 0.25
    //   hop 2: 1 gets 0.25 · 0.5 · (−1) = −0.125 → n1 = 0.5 − 0.125 = 0.375 (Δ < 0, no expansion)
    let g = graph(
        &[Tier::Warm; 3],
        vec![exc(0, 1, 1.0), exc(0, 2, 0.5), inh(2, 1, 0.5)],
    );
    let r = spread(&g, cfg(2, no_decay()), &[(0, 0.5)]);
    assert_act(&r, 0, 0.5);
    assert_act(&r, 1, 0.375);
    assert_act(&r, 2, 0.25);
    assert_eq!(first_hop(&r, 1), 1);
    assert_eq!(ids(&r), vec![0, 1, 2]);
    // hop 2 expands 1 (no out-edges) and 2 (one edge)
    assert_eq!(r.work, work(2, &[1, 2], 3, 3, 0, 0));
}

#[test]
fn inhibitory_edge_can_clamp_a_node_to_zero() {
    // 0 →(0.25) 1, 0 →(1.0) 2, 2 ⊣(1.0) 1, warm, D = 1, H = 2. Seed 0 with 1.0.
    //   hop 1: n1 = 0.25, n2 = 1.0
    //   hop 2: 1 gets −1.0 → clamp(0.25 − 1.0) = 0 → no longer in the result
    let g = graph(
        &[Tier::Warm; 3],
        vec![exc(0, 1, 0.25), exc(0, 2, 1.0), inh(2, 1, 1.0)],
    );
    let r = spread(&g, cfg(2, no_decay()), &[(0, 1.0)]);
    assert_absent(&r, 1);
    assert_eq!(ids(&r), vec![0, 2]);
    assert_eq!(r.work, work(2, &[1, 2], 3, 2, 0, 0));
}

#[test]
fn node_driven_to_zero_faces_the_threshold_again() {
    // DESIGN §2 says the threshold applies to "a node whose activation is still 0 in this
    // spread". The engine reads that as "activation == 0", so a node clamped back to 0 by
    // inhibition is treated like an inactive one: a later positive sum must reach θ again
    // (and a rejected sum counts in `rejected`); if it does, the node keeps its first_hop.
    // 0 →(0.25) 1, 0 →(1.0) 2, 2 ⊣(1.0) 1, 2 →(1.0) 3, 3 →(w) 1; warm, D = 1, H = 3, seed 0: 1.0
    //   hop 1: n1 = 0.25, n2 = 1.0
    //   hop 2: n1 = clamp(0.25 − 1.0) = 0; n3 = 1.0
    //   hop 3: 1 gets w · 1.0:
    //     w = 0.03125 < θ 0.05 → rejected (n1 stays 0, absent; rejected = 1)
    //     w = 0.0625  ≥ θ      → n1 = 0.0625, first_hop still 1
    let tiers = [Tier::Warm; 4];
    let edges = |w| {
        vec![
            exc(0, 1, 0.25),
            exc(0, 2, 1.0),
            inh(2, 1, 1.0),
            exc(2, 3, 1.0),
            exc(3, 1, w),
        ]
    };
    let r = spread(
        &graph(&tiers, edges(0.03125)),
        cfg(3, no_decay()),
        &[(0, 1.0)],
    );
    assert_absent(&r, 1);
    assert_eq!(ids(&r), vec![0, 2, 3]);
    assert_eq!(r.work, work(3, &[1, 2, 1], 5, 3, 1, 0));

    let r = spread(
        &graph(&tiers, edges(0.0625)),
        cfg(3, no_decay()),
        &[(0, 1.0)],
    );
    assert_act(&r, 1, 0.0625);
    assert_eq!(first_hop(&r, 1), 1);
    assert_eq!(r.work, work(3, &[1, 2, 1], 5, 4, 0, 0));
}

#[test]
fn inhibitory_and_excitatory_in_the_same_hop_net_positive() {
    // Seeds 0, 1 with 1.0; 0 →(0.75) 2, 1 ⊣(0.25) 2; warm, D = 1, H = 1.
    //   hop 1: sum into 2 = 0.75 − 0.25 = 0.5 ≥ θ → n2 = 0.5
    let g = graph(&[Tier::Warm; 3], vec![exc(0, 2, 0.75), inh(1, 2, 0.25)]);
    let r = spread(&g, cfg(1, no_decay()), &[(0, 1.0), (1, 1.0)]);
    assert_act(&r, 2, 0.5);
    assert_eq!(r.work, work(1, &[2], 2, 3, 0, 0));

    // Net still positive but below θ: 0.25 − 0.21875 = 0.03125 < 0.05 → rejected.
    let g = graph(&[Tier::Warm; 3], vec![exc(0, 2, 0.25), inh(1, 2, 0.21875)]);
    let r = spread(&g, cfg(1, no_decay()), &[(0, 1.0), (1, 1.0)]);
    assert_absent(&r, 2);
    assert_eq!(r.work, work(1, &[2], 2, 2, 1, 0));
}

#[test]
fn negative_sum_at_first_contact_is_rejected() {
    // 0 ⊣(0.5) 1, seed 0 with 1.0: sum = −0.5 < θ → rejected, node 1 stays inactive.
    let g = graph(&[Tier::Hot; 2], vec![inh(0, 1, 0.5)]);
    let r = spread(&g, cfg(1, no_decay()), &[(0, 1.0)]);
    assert_absent(&r, 1);
    assert_eq!(r.work, work(1, &[1], 1, 1, 1, 0));
}

#[test]
fn modulatory_edge_has_factor_one_half() {
    // 0 ~(0.5) 1 (modulatory), 0 →(0.5) 2 (excitatory), warm, D = 1, H = 1. Seed 0 with 1.0.
    //   n1 = 1.0 · 0.5 · 0.5 = 0.25; n2 = 1.0 · 0.5 · 1 = 0.5
    let g = graph(&[Tier::Warm; 3], vec![modu(0, 1, 0.5), exc(0, 2, 0.5)]);
    let r = spread(&g, cfg(1, no_decay()), &[(0, 1.0)]);
    assert_act(&r, 1, 0.25);
    assert_act(&r, 2, 0.5);
    assert_eq!(ids(&r), vec![0, 2, 1]);
}

// ---------------------------------------------------------------------------------------------
// 7. Visit budget and cycle penalty
// ---------------------------------------------------------------------------------------------

#[test]
fn three_cycle_single_seed_hits_the_visit_budget() {
    // 0 → 1 → 2 → 0, w = 1, all hot (visit budget 2), D = 1, H = 10. Seed 0 with 0.25.
    // Every accepted sum is +0.25, Δ = 0.25 travels round the cycle.
    //   hop 1: n1 = 0.25 (visits 1) → frontier
    //   hop 2: n2 = 0.25 (v 1)      → frontier
    //   hop 3: n0 = 0.25 + 0.25 = 0.5 (v 1; seeding is not a visit) → frontier
    //   hop 4: n1 = 0.5  (v 2 ≤ 2)  → frontier
    //   hop 5: n2 = 0.5  (v 2)      → frontier
    //   hop 6: n0 = 0.75 (v 2; would be 3 if seeding counted, and be penalised here) → frontier
    //   hop 7: n1 = 0.75 (v 3 > 2)  → penalty: 0.75 · 0.93 = 0.6975, no expansion
    //   hop 8: frontier empty → stop. hops = 7, one penalty.
    let g = graph(
        &[Tier::Hot; 3],
        vec![exc(0, 1, 1.0), exc(1, 2, 1.0), exc(2, 0, 1.0)],
    );
    let r = spread(&g, cfg(10, no_decay()), &[(0, 0.25)]);
    assert_act(&r, 0, 0.75);
    assert_act(&r, 1, 0.6975);
    assert_act(&r, 2, 0.5);
    assert_eq!(ids(&r), vec![0, 1, 2]);
    assert_eq!(first_hop(&r, 0), 0);
    assert_eq!(first_hop(&r, 1), 1);
    assert_eq!(first_hop(&r, 2), 2);
    assert_eq!(r.work, work(7, &[1; 7], 7, 3, 0, 1));
}

#[test]
fn three_cycle_all_seeded_penalises_every_node_at_once() {
    // Same cycle, seeds 0, 1, 2 with 0.125 each: every node gets +0.125 per hop.
    //   hop 1: each 0.25  (v 1) → frontier (3)
    //   hop 2: each 0.375 (v 2) → frontier (3)
    //   hop 3: each 0.5   (v 3 > 2) → penalty: 0.5 · 0.93 = 0.465, no expansion; stop.
    let g = graph(
        &[Tier::Hot; 3],
        vec![exc(0, 1, 1.0), exc(1, 2, 1.0), exc(2, 0, 1.0)],
    );
    let seeds = [(0, 0.125), (1, 0.125), (2, 0.125)];
    let r = spread(&g, cfg(10, no_decay()), &seeds);
    for v in 0..3 {
        assert_act(&r, v, 0.465);
    }
    assert_eq!(r.work, work(3, &[3, 3, 3], 9, 3, 0, 3));

    // With H = 3, hop 3 is the last: no penalty (only when d < H), each ends at 0.5.
    let r = spread(&g, cfg(3, no_decay()), &seeds);
    for v in 0..3 {
        assert_act(&r, v, 0.5);
    }
    assert_eq!(r.work, work(3, &[3, 3, 3], 9, 3, 0, 0));

    // Warm tier: visit budget 3, so hop 3 still expands (0.5); hop 4: 0.625, v 4 > 3 →
    // 0.625 · 0.93 = 0.58125.
    let g = graph(
        &[Tier::Warm; 3],
        vec![exc(0, 1, 1.0), exc(1, 2, 1.0), exc(2, 0, 1.0)],
    );
    let r = spread(&g, cfg(10, no_decay()), &seeds);
    for v in 0..3 {
        assert_act(&r, v, 0.58125);
    }
    assert_eq!(r.work, work(4, &[3, 3, 3, 3], 12, 3, 0, 3));

    // Cold tier: visit budget 4: hop 4 expands (0.625); hop 5: 0.75, v 5 > 4 → 0.6975.
    let g = graph(
        &[Tier::Cold; 3],
        vec![exc(0, 1, 1.0), exc(1, 2, 1.0), exc(2, 0, 1.0)],
    );
    let r = spread(&g, cfg(10, no_decay()), &seeds);
    for v in 0..3 {
        assert_act(&r, v, 0.6975);
    }
    assert_eq!(r.work, work(5, &[3; 5], 15, 3, 0, 3));
}

#[test]
fn cycle_penalty_is_configurable() {
    // Hot 3-cycle, all seeded with 0.125, cycle_penalty 0.5: hop 3 gives 0.5 · 0.5 = 0.25.
    let g = graph(
        &[Tier::Hot; 3],
        vec![exc(0, 1, 1.0), exc(1, 2, 1.0), exc(2, 0, 1.0)],
    );
    let c = SpreadConfig {
        cycle_penalty: 0.5,
        ..cfg(10, no_decay())
    };
    let r = spread(&g, c, &[(0, 0.125), (1, 0.125), (2, 0.125)]);
    for v in 0..3 {
        assert_act(&r, v, 0.25);
    }
    assert_eq!(r.work.cycle_penalties, 3);
}

// ---------------------------------------------------------------------------------------------
// 8. Depth limit
// ---------------------------------------------------------------------------------------------

#[test]
fn depth_limit_stops_the_chain() {
    // Chain 0 → 1 → … → 9, w = 1, D = 1, H = 3, seed 0 with 1.0:
    //   nodes 1, 2, 3 at 1.0 (hops 1, 2, 3); nodes 4..9 never reached.
    let edges = (0..9).map(|u| exc(u, u + 1, 1.0)).collect();
    let g = graph(&[Tier::Warm; 10], edges);
    let r = spread(&g, cfg(3, no_decay()), &[(0, 1.0)]);
    assert_eq!(ids(&r), vec![0, 1, 2, 3]);
    for v in 0..4 {
        assert_act(&r, v, 1.0);
        assert_eq!(first_hop(&r, v), v);
    }
    for v in 4..10 {
        assert_absent(&r, v);
    }
    assert_eq!(r.work, work(3, &[1, 1, 1], 3, 4, 0, 0));
}

// ---------------------------------------------------------------------------------------------
// 9. Decay families
// ---------------------------------------------------------------------------------------------

#[test]
fn decay_families_on_a_chain() {
    // Chain 0 → 1 → 2 → 3, w = 1, hot (θ 0.01), H = 3, seed 0 with 1.0: n_d = Π_{k ≤ d} D(k).
    let g = graph(
        &[Tier::Hot; 4],
        vec![exc(0, 1, 1.0), exc(1, 2, 1.0), exc(2, 3, 1.0)],
    );
    let cases = [
        // exponential r = 0.5: e^−0.5, e^−0.5·e^−1 = e^−1.5, e^−1.5·e^−1.5 = e^−3
        (
            Decay::Exponential { rate: 0.5 },
            [
                0.6065306597126334,
                0.22313016014842982,
                0.049787068367863944,
            ],
        ),
        // power law α = 1: D = 1/2, 1/3, 1/4 → 1/2, 1/6, 1/24
        (
            Decay::PowerLaw { exponent: 1.0 },
            [0.5, 0.16666666666666666, 0.041666666666666664],
        ),
        // power law α = 2: D = 1/4, 1/9, 1/16 → 1/4, 1/36, 1/576 = 0.001736 < θ 0.01: rejected
        // (checked separately below)
        // linear s = 0.25: D = 0.75, 0.5, 0.25 → 0.75, 0.375, 0.09375
        (Decay::Linear { slope: 0.25 }, [0.75, 0.375, 0.09375]),
    ];
    for (decay, expected) in cases {
        let r = spread(&g, cfg(3, decay), &[(0, 1.0)]);
        for (i, &e) in expected.iter().enumerate() {
            assert_act(&r, i as u32 + 1, e);
        }
        assert_eq!(r.work, work(3, &[1, 1, 1], 3, 4, 0, 0), "{decay:?}");
    }

    // power law α = 2: hop 3 contribution 1/36 · 1/16 = 1/576 ≈ 0.001736 < 0.01 → rejected.
    let r = spread(&g, cfg(3, Decay::PowerLaw { exponent: 2.0 }), &[(0, 1.0)]);
    assert_act(&r, 1, 0.25);
    assert_act(&r, 2, 0.027777777777777776);
    assert_absent(&r, 3);
    assert_eq!(r.work, work(3, &[1, 1, 1], 3, 3, 1, 0));

    // linear s = 0.5: D(2) = 0 → node 2's sum is 0 < θ → rejected at first contact; the
    // frontier is then empty, so hop 3 never runs.
    let r = spread(&g, cfg(3, Decay::Linear { slope: 0.5 }), &[(0, 1.0)]);
    assert_act(&r, 1, 0.5);
    assert_absent(&r, 2);
    assert_eq!(r.work, work(2, &[1, 1], 2, 2, 1, 0));
}

// ---------------------------------------------------------------------------------------------
// 10. Early stop on an empty frontier
// ---------------------------------------------------------------------------------------------

#[test]
fn early_stop_when_the_frontier_empties() {
    // Chain 0 → 1 → 2, w = 1, D = 1, H = 10, seed 0 with 1.0.
    //   hop 1: n1 = 1.0 → frontier [1]
    //   hop 2: n2 = 1.0, Δ > 0 and 2 < H → frontier [2] (joining does not depend on out-degree)
    //   hop 3: frontier [2] is not empty, so the hop runs, relaxing 0 edges; next frontier
    //          empty → stop. hops = 3, frontier_sizes = [1, 1, 1], edges_relaxed = 2.
    let g = graph(&[Tier::Warm; 3], vec![exc(0, 1, 1.0), exc(1, 2, 1.0)]);
    let r = spread(&g, cfg(10, no_decay()), &[(0, 1.0)]);
    assert_eq!(ids(&r), vec![0, 1, 2]);
    assert_eq!(r.work, work(3, &[1, 1, 1], 2, 3, 0, 0));

    // A seed with no out-edges: hop 1 runs with nothing to relax, then the frontier is empty.
    let r = spread(&g, cfg(10, no_decay()), &[(2, 1.0)]);
    assert_eq!(ids(&r), vec![2]);
    assert_eq!(r.work, work(1, &[1], 0, 1, 0, 0));

    // Every sum rejected at hop 1: the frontier is empty after hop 1.
    let r = spread(&g, cfg(10, no_decay()), &[(0, 0.03125)]);
    assert_eq!(ids(&r), vec![0]);
    assert_eq!(r.work, work(1, &[1], 1, 1, 1, 0));
}

// ---------------------------------------------------------------------------------------------
// 11. Duplicate seeds
// ---------------------------------------------------------------------------------------------

#[test]
fn duplicate_seeds_merge() {
    // 0 →(1.0) 1, warm, D = 1, H = 1.
    let g = graph(&[Tier::Warm; 2], vec![exc(0, 1, 1.0)]);
    // (0, 0.4) + (0, 0.3) → 0.7, one frontier entry carrying Δ = 0.7 → n1 = 0.7
    let r = spread(&g, cfg(1, no_decay()), &[(0, 0.4), (0, 0.3)]);
    assert_act(&r, 0, 0.7);
    assert_act(&r, 1, 0.7);
    assert_eq!(r.work, work(1, &[1], 1, 2, 0, 0));
    // (0, 0.8) + (0, 0.5) → min(1, 1.3) = 1.0 exactly; n1 = 1.0
    let r = spread(&g, cfg(1, no_decay()), &[(0, 0.8), (0, 0.5)]);
    assert_eq!(r.nodes[0].id, 0);
    assert_eq!(r.nodes[0].activation, ONE);
    assert_act(&r, 1, 1.0);
    assert_eq!(r.work.frontier_sizes[0], 1);
    assert_eq!(r.work.edges_relaxed, 1);
    // Merging is per node across the whole list: (0, 0.25), (1, 0.5), (0, 0.25) → n0 = 0.5;
    // n1 = 0.5 (seed) + 0.5 (from 0 at hop 1) = 1.0; frontier of 2 distinct seeds.
    let r = spread(&g, cfg(1, no_decay()), &[(0, 0.25), (1, 0.5), (0, 0.25)]);
    assert_act(&r, 0, 0.5);
    assert_act(&r, 1, 1.0);
    assert_eq!(first_hop(&r, 1), 0);
    assert_eq!(r.work, work(1, &[2], 1, 2, 0, 0));
}

// ---------------------------------------------------------------------------------------------
// 12. top_k
// ---------------------------------------------------------------------------------------------

#[test]
fn top_k_cuts_and_ties_rank_by_id() {
    // Hub 0 → 1..=5 with w = 0.5, 0.25, 0.5, 0.25, 0.5; D = 1, H = 1, seed 0 with 1.0:
    //   n0 = 1.0; n1 = n3 = n5 = 0.5; n2 = n4 = 0.25.
    //   full ranking: 0, 1, 3, 5, 2, 4 (ties by id ascending)
    let g = graph(
        &[Tier::Warm; 6],
        vec![
            exc(0, 1, 0.5),
            exc(0, 2, 0.25),
            exc(0, 3, 0.5),
            exc(0, 4, 0.25),
            exc(0, 5, 0.5),
        ],
    );
    let full = spread(&g, cfg(1, no_decay()), &[(0, 1.0)]);
    assert_eq!(ids(&full), vec![0, 1, 3, 5, 2, 4]);
    for (k, expected) in [
        (1, vec![0]),
        (3, vec![0, 1, 3]),
        (5, vec![0, 1, 3, 5, 2]),
        (6, vec![0, 1, 3, 5, 2, 4]),
        (100, vec![0, 1, 3, 5, 2, 4]),
    ] {
        let c = SpreadConfig {
            top_k: Some(k),
            ..cfg(1, no_decay())
        };
        let r = spread(&g, c, &[(0, 1.0)]);
        assert_eq!(ids(&r), expected, "top_k {k}");
        assert_eq!(r.nodes[..], full.nodes[..expected.len()]);
        // counters describe the whole spread, not the cut
        assert_eq!(r.work, full.work, "top_k {k}");
        assert_eq!(r.work.nodes_activated, 6);
    }
}

// ---------------------------------------------------------------------------------------------
// 13. Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn seed_and_config_errors() {
    let g = graph(&[Tier::Warm; 3], vec![exc(0, 1, 1.0)]);
    let s = Spreader::new(SpreadConfig::default()).unwrap();
    let mut scratch = SpreadScratch::new(3);
    let run = |seeds: &[Seed], scratch: &mut SpreadScratch| s.spread(&g, seeds, scratch);

    assert_eq!(
        run(&[Seed::new(3, 0.5)], &mut scratch),
        Err(SpreadError::SeedOutOfRange { node: 3, nodes: 3 })
    );
    assert_eq!(
        run(&[Seed::new(0, 0.5), Seed::new(7, 0.5)], &mut scratch),
        Err(SpreadError::SeedOutOfRange { node: 7, nodes: 3 })
    );
    assert_eq!(
        run(&[Seed::new(1, 0.0)], &mut scratch),
        Err(SpreadError::SeedActivation {
            node: 1,
            activation: 0.0
        })
    );
    assert_eq!(
        run(&[Seed::new(2, 1.5)], &mut scratch),
        Err(SpreadError::SeedActivation {
            node: 2,
            activation: 1.5
        })
    );
    assert_eq!(
        run(&[Seed::new(0, -0.25)], &mut scratch),
        Err(SpreadError::SeedActivation {
            node: 0,
            activation: -0.25
        })
    );
    assert!(matches!(
        run(&[Seed::new(0, f64::NAN)], &mut scratch),
        Err(SpreadError::SeedActivation { node: 0, activation }) if activation.is_nan()
    ));
    assert_eq!(run(&[], &mut scratch), Err(SpreadError::NoSeeds));
    // a₀ = 1 is allowed (closed upper bound)
    assert!(run(&[Seed::new(0, 1.0)], &mut scratch).is_ok());
    // and the scratch still works after errors
    let r = run(&[Seed::new(0, 1.0)], &mut scratch).unwrap();
    assert_eq!(ids(&r), vec![0, 1]);

    // Config errors come from Spreader::new.
    for bad in [
        SpreadConfig {
            max_depth: 0,
            ..SpreadConfig::default()
        },
        SpreadConfig {
            cycle_penalty: 1.5,
            ..SpreadConfig::default()
        },
        SpreadConfig {
            decay: Decay::Linear { slope: -0.1 },
            ..SpreadConfig::default()
        },
        SpreadConfig {
            top_k: Some(0),
            ..SpreadConfig::default()
        },
    ] {
        assert!(
            matches!(Spreader::new(bad.clone()), Err(SpreadError::Config(_))),
            "{bad:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 14. Tier policy HopDepth
// ---------------------------------------------------------------------------------------------

#[test]
fn hop_depth_tier_policy() {
    // All nodes stored hot (θ 0.01), chain 0 → 1 → 2 → 3, w = 1, D = 1, H = 3.
    let g = graph(
        &[Tier::Hot; 4],
        vec![exc(0, 1, 1.0), exc(1, 2, 1.0), exc(2, 3, 1.0)],
    );
    let hop_depth = SpreadConfig {
        tier_policy: TierPolicy::HopDepth,
        ..cfg(3, no_decay())
    };

    // (a) seed 0.03125: under Storage every node is hot and accepts 0.03125 ≥ 0.01; under
    //     HopDepth node 1 is first reached at hop 1 → warm θ 0.05 > 0.03125 → rejected.
    let r = spread(&g, cfg(3, no_decay()), &[(0, 0.03125)]);
    assert_eq!(ids(&r), vec![0, 1, 2, 3]);
    let r = spread(&g, hop_depth.clone(), &[(0, 0.03125)]);
    assert_eq!(ids(&r), vec![0]);
    assert_eq!(r.work, work(1, &[1], 1, 1, 1, 0));

    // (b) seed 0.0625: hops 1, 2 (warm θ 0.05) accept 0.0625; hop 3 (cold θ 0.10) rejects it.
    let r = spread(&g, hop_depth.clone(), &[(0, 0.0625)]);
    assert_eq!(ids(&r), vec![0, 1, 2]);
    assert_eq!(r.work, work(3, &[1, 1, 1], 3, 3, 1, 0));
    // the tier reported and used for κ: seed hot (κ 1.0), hop 1–2 warm (κ 0.95)
    assert_eq!(r.nodes[0].tier, Tier::Hot);
    assert_eq!(r.nodes[0].confidence, 0.0625);
    assert_eq!(r.nodes[1].tier, Tier::Warm);
    assert_eq!(r.nodes[1].confidence, 0.0625 * 0.95);
    assert_eq!(r.nodes[2].tier, Tier::Warm);

    // (c) seed 0.125: everything accepted; node 3 is cold (κ 0.9): confidence 0.1125.
    let r = spread(&g, hop_depth, &[(0, 0.125)]);
    assert_eq!(ids(&r), vec![0, 1, 2, 3]);
    let n3 = r.nodes.iter().find(|n| n.id == 3).unwrap();
    assert_eq!(n3.tier, Tier::Cold);
    assert_eq!(n3.first_hop, 3);
    assert!((n3.confidence - 0.1125).abs() <= TOL);

    // Storage policy on the same graph reports every node hot.
    let r = spread(&g, cfg(3, no_decay()), &[(0, 0.125)]);
    assert!(r.nodes.iter().all(|n| n.tier == Tier::Hot));
}

#[test]
fn hop_depth_policy_sets_visit_budgets_by_first_hop() {
    // 3-cycle stored cold (budget 4) but seeded at 0 only, under HopDepth: node 0 is hot
    // (budget 2), nodes 1 and 2 are first reached at hops 1, 2 → warm (budget 3).
    // w = 1, D = 1, H = 20, seed 0 with 0.125; Δ = 0.125 goes round:
    //   hop 1: n1 = 0.125 (v1)   hop 2: n2 = 0.125 (v1)   hop 3: n0 = 0.25 (v1)
    //   hop 4: n1 = 0.25 (v2)    hop 5: n2 = 0.25 (v2)    hop 6: n0 = 0.375 (v2 ≤ 2)
    //   hop 7: n1 = 0.375 (v3 ≤ 3)  hop 8: n2 = 0.375 (v3)
    //   hop 9: n0 = 0.5 (v3 > 2, hot) → 0.5 · 0.93 = 0.465, stop. hops = 9, one penalty.
    // (Under Storage, cold budget 4, it would go on to hop 12.)
    let g = graph(
        &[Tier::Cold; 3],
        vec![exc(0, 1, 1.0), exc(1, 2, 1.0), exc(2, 0, 1.0)],
    );
    let c = SpreadConfig {
        tier_policy: TierPolicy::HopDepth,
        ..cfg(20, no_decay())
    };
    let r = spread(&g, c, &[(0, 0.125)]);
    assert_act(&r, 0, 0.465);
    assert_act(&r, 1, 0.375);
    assert_act(&r, 2, 0.375);
    assert_eq!(r.work, work(9, &[1; 9], 9, 3, 0, 1));

    // Storage: cold budget 4 everywhere.
    //   hops 1..=12: each node visited 4 times → n0 = 0.625 (v4 at hop 12) …
    //   hop 10: n1 = 0.5 (v4) hop 11: n2 = 0.5 (v4) hop 12: n0 = 0.625 (v4) → frontier
    //   hop 13: n1 = 0.625 (v5 > 4) → 0.625 · 0.93 = 0.58125, stop.
    let r = spread(&g, cfg(20, no_decay()), &[(0, 0.125)]);
    assert_act(&r, 0, 0.625);
    assert_act(&r, 1, 0.58125);
    assert_act(&r, 2, 0.5);
    assert_eq!(r.work, work(13, &[1; 13], 13, 3, 0, 1));
}

// ---------------------------------------------------------------------------------------------
// Golden: the default workload's first request
// ---------------------------------------------------------------------------------------------

#[test]
fn golden_warm_10k_first_request() {
    use spreadbench::graph::generate::generate;
    use spreadbench::workload::Workload;

    // These literals pin BOTH the graph generator (via the fingerprint and the request stream)
    // and the spreading model (via the counters and the ranking). A change to either must
    // update them knowingly, with the reason in the commit message.
    let w = Workload::load("warm-10k").unwrap();
    let g = generate(&w.graph).unwrap();
    let mut seeds = Vec::new();
    w.requests(g.node_count()).next_into(&mut seeds);
    let s = Spreader::new(w.spread.clone()).unwrap();
    let r = s
        .spread(&g, &seeds, &mut SpreadScratch::new(g.node_count()))
        .unwrap();
    let top3: Vec<u32> = r.nodes.iter().take(3).map(|n| n.id).collect();
    println!(
        "fingerprint {:#018x} seeds {:?} work {:?} top3 {:?}",
        g.fingerprint(),
        seeds,
        r.work,
        top3
    );
    assert_eq!(g.fingerprint(), GOLDEN_FINGERPRINT);
    let seed_ids: Vec<u32> = seeds.iter().map(|s| s.node).collect();
    assert_eq!(seed_ids, GOLDEN_SEEDS);
    assert!(seeds.iter().all(|s| s.activation == 1.0));
    assert_eq!(
        r.work,
        WorkCounters {
            hops: GOLDEN_HOPS,
            frontier_sizes: GOLDEN_FRONTIER.to_vec(),
            edges_relaxed: GOLDEN_EDGES_RELAXED,
            nodes_activated: GOLDEN_NODES_ACTIVATED,
            rejected: GOLDEN_REJECTED,
            cycle_penalties: GOLDEN_CYCLE_PENALTIES,
        }
    );
    assert_eq!(top3, GOLDEN_TOP3);
}

const GOLDEN_FINGERPRINT: u64 = 0x8a6b_3f09_e51c_d852;
const GOLDEN_SEEDS: [u32; 3] = [382, 452, 6387];
const GOLDEN_HOPS: u32 = 3;
const GOLDEN_FRONTIER: [u32; 3] = [3, 51, 491];
const GOLDEN_EDGES_RELAXED: u64 = 10364;
const GOLDEN_NODES_ACTIVATED: u32 = 1051;
const GOLDEN_REJECTED: u64 = 5013;
const GOLDEN_CYCLE_PENALTIES: u64 = 0;
const GOLDEN_TOP3: [u32; 3] = [5, 9, 27];

// ---------------------------------------------------------------------------------------------
// The exact points of DESIGN §2
// ---------------------------------------------------------------------------------------------

#[test]
fn seed_below_one_fixed_point_unit_is_refused() {
    // A seed below 2⁻³² would round to activation 0, vanish from the result and still be
    // expanded; it is bad input. Exactly one unit is the smallest valid seed.
    let g = graph(&[Tier::Hot; 2], vec![exc(0, 1, 1.0)]);
    let s = Spreader::new(SpreadConfig::default()).unwrap();
    let mut scratch = SpreadScratch::new(2);
    let tiny = 2f64.powi(-33);
    assert_eq!(
        s.spread(&g, &[Seed::new(0, tiny)], &mut scratch),
        Err(SpreadError::SeedActivation {
            node: 0,
            activation: tiny
        })
    );
    let unit = 2f64.powi(-32);
    let r = s.spread(&g, &[Seed::new(0, unit)], &mut scratch).unwrap();
    assert_eq!(ids(&r), vec![0]);
    assert_eq!(r.nodes[0].activation, 1);
    // Its one-unit push to node 1 is far below θ: rejected, not activated.
    assert_eq!(r.work.rejected, 1);
}

#[test]
fn theta_is_compared_in_fixed_point() {
    // Warm θ 0.05 rounds to 0.05 · 2³² = 214748364.8 → 214748365 units. Chain 0 → 1 (w 1),
    // seed 1.0, H = 1, decay exp(−r) chosen so that the contribution is just below 0.05 as a
    // real number:
    //   0.05 − 1e-11: 2³² · c = 214748364.757 → 214748365 units = θ → accepted;
    //   0.05 − 2e-10: 2³² · c = 214748363.941 → 214748364 units < θ → rejected.
    let g = graph(&[Tier::Warm; 2], vec![exc(0, 1, 1.0)]);
    let at = |c: f64| {
        spread(
            &g,
            cfg(1, Decay::Exponential { rate: -c.ln() }),
            &[(0, 1.0)],
        )
    };
    let r = at(0.05 - 1e-11);
    assert_eq!(ids(&r), vec![0, 1]);
    assert_eq!(r.nodes[1].activation, 214_748_365);
    assert!(r.nodes[1].activation_f64() > 0.05 - 1e-11);
    let r = at(0.05 - 2e-10);
    assert_eq!(ids(&r), vec![0]);
    assert_eq!(r.work.rejected, 1);
}

#[test]
fn contributions_round_to_nearest_ties_to_even() {
    // Chain 0 → 1 (w 1), seed 1.0 (2³² units), H = 1, linear decay D(1) = 1 − s = x with
    // x = (2k + 1) / 2³³, so the contribution is exactly k + ½ units:
    //   k = 2³⁰ (even)     → 2³⁰ units, activation exactly 0.25 (half-up would give 2³⁰ + 1);
    //   k = 2³⁰ + 1 (odd)  → 2³⁰ + 2 units.
    let g = graph(&[Tier::Warm; 2], vec![exc(0, 1, 1.0)]);
    let at = |k: i64| {
        let x = (2 * k + 1) as f64 / 2f64.powi(33);
        let r = spread(&g, cfg(1, Decay::Linear { slope: 1.0 - x }), &[(0, 1.0)]);
        r.nodes.iter().find(|n| n.id == 1).unwrap().activation
    };
    assert_eq!(at(1 << 30), 1 << 30);
    assert_eq!(at((1 << 30) + 1), (1 << 30) + 2);
    assert_eq!(at((1 << 30) + 2), (1 << 30) + 2);
}

#[test]
fn hop_depth_tier_is_fixed_at_first_activation() {
    // Stored hot; HopDepth policy. 0 →(0.25) 1, 0 →(1) 2, 2 ⊣(1) 1, 2 →(1) 3, 3 →(0.0625) 1,
    // D = 1, H = 3, seed 0: 1.0.
    //   hop 1: n1 = 0.25, first reached at hop 1 → warm (θ 0.05, κ 0.95); n2 = 1.0 (warm)
    //   hop 2: n1 = clamp(0.25 − 1) = 0; n3 = 1.0 (warm, hop 2)
    //   hop 3: n1 at 0 faces θ again — its own, warm θ 0.05, fixed at hop 1 (not cold 0.10,
    //          the tier of hop 3) — and accepts 0.0625; reported warm, κ 0.95, first hop 1.
    let g = graph(
        &[Tier::Hot; 4],
        vec![
            exc(0, 1, 0.25),
            exc(0, 2, 1.0),
            inh(2, 1, 1.0),
            exc(2, 3, 1.0),
            exc(3, 1, 0.0625),
        ],
    );
    let c = SpreadConfig {
        tier_policy: TierPolicy::HopDepth,
        ..cfg(3, no_decay())
    };
    let r = spread(&g, c, &[(0, 1.0)]);
    assert_act(&r, 1, 0.0625);
    let n1 = r.nodes.iter().find(|n| n.id == 1).unwrap();
    assert_eq!((n1.tier, n1.first_hop), (Tier::Warm, 1));
    assert_eq!(n1.confidence, 0.0625 * 0.95);
    assert_eq!(r.work.rejected, 0);
}

#[test]
fn nodes_activated_counts_positive_nodes_at_the_end_before_top_k() {
    // 0 →(0.25) 1, 0 →(1) 2, 2 ⊣(1) 1, 0 →(0.5) 3; D = 1, H = 2, seed 0: 1.0.
    //   hop 1: n1 = 0.25, n2 = 1.0, n3 = 0.5;  hop 2: n1 = clamp(0.25 − 1) = 0.
    // Activated at some point: 4 nodes; with activation > 0 at the end: 0, 2, 3 → 3.
    // top_k = 1 keeps node 0 only, and nodes_activated is still 3.
    let g = graph(
        &[Tier::Warm; 4],
        vec![
            exc(0, 1, 0.25),
            exc(0, 2, 1.0),
            inh(2, 1, 1.0),
            exc(0, 3, 0.5),
        ],
    );
    let r = spread(&g, cfg(2, no_decay()), &[(0, 1.0)]);
    assert_eq!(ids(&r), vec![0, 2, 3]);
    assert_eq!(r.work.nodes_activated, 3);
    let top1 = SpreadConfig {
        top_k: Some(1),
        ..cfg(2, no_decay())
    };
    let r = spread(&g, top1, &[(0, 1.0)]);
    assert_eq!(ids(&r), vec![0]);
    assert_eq!(r.work.nodes_activated, 3);
}

#[test]
fn undirected_self_loop_is_stored_once() {
    use spreadbench::graph::csv_io::{read_edge_list, CsvImport};
    // CSV 0,0,0.5 and 0,1,1.0 read undirected: 0 → 0 once, 0 → 1 and 1 → 0 — three edges,
    // so a spread from 0 relaxes two edges at hop 1 (not three).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loop.csv");
    std::fs::write(&path, "src,dst,weight\n0,0,0.5\n0,1,1.0\n").unwrap();
    let opts = CsvImport {
        undirected: true,
        tier_shares: [0.0, 1.0, 0.0],
        seed: 1,
    };
    let g = read_edge_list(&path, &opts).unwrap();
    assert_eq!(g.edge_count(), 3);
    let r = spread(&g, cfg(1, no_decay()), &[(0, 1.0)]);
    assert_eq!(r.work.edges_relaxed, 2);
    assert_act(&r, 1, 1.0);
}
