//! The latency budget manager (issue 11): decisions against a scripted model and clock,
//! truncation through the stand-in gated spread (equal to a shallower spread), the seeds-only
//! fallback, and every bad duration.

use spreadbench::engine::budget::{format_duration, seeds_only, spread_gated, Clock};
use spreadbench::engine::{
    parse_duration, Admission, HopFeatures, HopGate, LatencyBudgetManager, LatencyModel, NoGate,
    RequestFeatures, Seed, SpreadConfig, SpreadResult, SpreadScratch, Spreader,
};
use spreadbench::graph::generate::{generate, GraphParams, Topology};
use spreadbench::graph::{EdgeKind, EdgeSpec, Graph, Tier};
use std::cell::Cell;
use std::rc::Rc;

#[test]
fn durations_parse_to_nanoseconds() {
    for (text, ns) in [
        ("25us", 25_000),
        ("25µs", 25_000),
        ("25μs", 25_000),
        ("1ms", 1_000_000),
        ("250000ns", 250_000),
        ("1.5ms", 1_500_000),
        ("2s", 2_000_000_000),
        ("0.5us", 500),
        ("1.000ms", 1_000_000),
        (" 3 ms ", 3_000_000),
        ("007us", 7_000),
        ("1ns", 1),
        ("18446744073709551615ns", u64::MAX),
        ("18446744073.709551615s", u64::MAX),
    ] {
        assert_eq!(parse_duration(text), Ok(ns), "{text}");
    }
}

#[test]
fn every_bad_duration_is_refused_with_its_reason() {
    for (text, why) in [
        ("", "empty"),
        ("   ", "empty"),
        ("25", "no unit"),
        ("25xs", "unknown unit 'xs'"),
        ("25 m", "unknown unit 'm'"),
        ("25msx", "unknown unit 'msx'"),
        ("ms", "no number"),
        ("0ms", "zero"),
        ("0.0s", "zero"),
        ("0ns", "zero"),
        ("-1ms", "negative"),
        ("-0.5s", "negative"),
        ("1.5ns", "finer than 1 ns"),
        ("0.0000000001s", "finer than 1 ns"),
        ("1.2.3ms", "not a number"),
        ("1.ms", "not a number"),
        (".5ms", "not a number"),
        ("1e3us", "unknown unit 'e3us'"),
        ("+1ms", "no number"),
        ("nan", "no number"),
        ("inf", "no number"),
        ("18446744073709551616ns", "too large"),
        ("99999999999s", "too large"),
        ("99999999999999999999999999999999999999999s", "too large"),
    ] {
        let e = parse_duration(text).expect_err(text).0;
        assert!(e.contains(why), "{text:?}: {e}");
        assert!(e.starts_with(&format!("'{text}' is not a duration")), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}

#[test]
fn durations_format_for_people() {
    assert_eq!(format_duration(800), "800 ns");
    assert_eq!(format_duration(25_000), "25 µs");
    assert_eq!(format_duration(1_500_000), "1.5 ms");
    assert_eq!(format_duration(2_000_000_000), "2 s");
    assert_eq!(format_duration(1_234_567), "1.235 ms");
}

/// Time moves only when the test says so.
#[derive(Clone, Default)]
struct ScriptedClock(Rc<Cell<u64>>);

impl ScriptedClock {
    fn advance(&self, ns: u64) {
        self.0.set(self.0.get() + ns);
    }
}

impl Clock for ScriptedClock {
    fn now_ns(&self) -> u64 {
        self.0.get()
    }
}

/// Predicts `request_ns` for every request and `ns_per_edge` × edges for every hop.
struct Scripted {
    request_ns: f64,
    ns_per_edge: f64,
}

impl LatencyModel for Scripted {
    fn predict_request(&self, _: &RequestFeatures) -> f64 {
        self.request_ns
    }
    fn predict_hop(&self, f: &HopFeatures) -> f64 {
        self.ns_per_edge * f.frontier_edges as f64
    }
}

fn hop(edges: u64) -> HopFeatures {
    HopFeatures {
        hop: 1,
        frontier_edges: edges,
        ..HopFeatures::default()
    }
}

#[test]
fn manager_falls_back_only_past_one_and_a_half_budgets() {
    let clock = ScriptedClock::default();
    let model = Scripted {
        request_ns: 150.0,
        ns_per_edge: 1.0,
    };
    let mut m = LatencyBudgetManager::with_clock(100, model, clock.clone());
    let f = RequestFeatures::default();
    // Exactly 1.5 × the budget still runs.
    assert_eq!(
        m.admit(&f),
        Admission::Run {
            predicted_ns: 150.0
        }
    );
    let o = m.finish(90);
    assert!(!o.fallback && !o.truncated && !o.over_budget);
    m.model_mut().request_ns = 150.5;
    assert_eq!(
        m.admit(&f),
        Admission::Fallback {
            predicted_ns: 150.5
        }
    );
    let o = m.finish(5);
    assert!(o.fallback && !o.over_budget);
    let s = m.stats();
    assert_eq!(
        (s.budget_ns, s.requests, s.fallbacks, s.truncated),
        (100, 2, 1, 0)
    );
}

#[test]
fn manager_stops_before_a_hop_that_would_pass_the_budget() {
    let clock = ScriptedClock::default();
    clock.advance(1_000_000); // the clock's origin is not the request's
    let model = Scripted {
        request_ns: 50.0,
        ns_per_edge: 1.0,
    };
    let mut m = LatencyBudgetManager::with_clock(100, model, clock.clone());
    assert!(matches!(
        m.admit(&RequestFeatures::default()),
        Admission::Run { .. }
    ));
    clock.advance(60);
    assert_eq!(m.elapsed_ns(), 60);
    // 60 elapsed + 40 predicted = 100: ends exactly at the budget, runs.
    assert!(m.before_hop(1, &hop(40)));
    // 60 + 41 = 101: would pass it, stops.
    assert!(!m.before_hop(2, &hop(41)));
    clock.advance(30);
    let o = m.finish(m.elapsed_ns());
    assert!(o.truncated && !o.fallback && !o.over_budget, "{o:?}");

    // A request the manager let run that still ended late counts as over budget.
    m.admit(&RequestFeatures::default());
    assert!(m.before_hop(1, &hop(10)));
    clock.advance(250);
    let o = m.finish(m.elapsed_ns());
    assert!(o.over_budget && !o.truncated);
    let s = m.stats();
    assert_eq!(
        (s.requests, s.truncated, s.fallbacks, s.over_budget),
        (2, 1, 0, 1)
    );
    assert_eq!(s.over_budget_share, 0.5);
    let json = serde_json::to_value(s).unwrap();
    for key in [
        "budget_ns",
        "requests",
        "truncated",
        "fallbacks",
        "over_budget",
        "over_budget_share",
    ] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }
}

fn ba(nodes: usize) -> Graph {
    generate(&GraphParams {
        topology: Topology::BarabasiAlbert { m: 3 },
        nodes,
        directed: false,
        weight_min: 0.3,
        weight_max: 1.0,
        inhibitory_share: 0.1,
        modulatory_share: 0.1,
        tier_shares: [0.3, 0.4, 0.3],
        seed: 9,
    })
    .unwrap()
}

fn with_depth(depth: u32) -> Spreader {
    Spreader::new(SpreadConfig {
        max_depth: depth,
        decay: spreadbench::engine::Decay::Exponential { rate: 0.1 },
        ..SpreadConfig::default()
    })
    .unwrap()
}

/// Refuses hop `stop_at` and records the features it was shown.
struct StopAt {
    stop_at: u32,
    seen: Vec<HopFeatures>,
}

impl HopGate for StopAt {
    fn before_hop(&mut self, hop: u32, f: &HopFeatures) -> bool {
        assert_eq!(hop, f.hop);
        self.seen.push(*f);
        hop < self.stop_at
    }
}

#[test]
fn a_spread_stopped_before_hop_h_equals_a_spread_of_depth_h_minus_1() {
    let g = ba(400);
    let full = with_depth(6);
    let seeds = [Seed::new(3, 1.0), Seed::new(77, 0.6)];
    let mut scratch = SpreadScratch::new(g.node_count());
    let mut out = SpreadResult::default();
    let whole = full.spread(&g, &seeds, &mut scratch).unwrap();
    assert!(whole.work.hops >= 4, "the case needs a deep spread");

    assert!(!spread_gated(&full, &g, &seeds, &mut scratch, &mut out, &mut NoGate).unwrap());
    assert_eq!(out, whole);

    for h in 1..=whole.work.hops {
        let mut gate = StopAt {
            stop_at: h,
            seen: Vec::new(),
        };
        let stopped = spread_gated(&full, &g, &seeds, &mut scratch, &mut out, &mut gate).unwrap();
        assert!(stopped, "{h}");
        let want = if h == 1 {
            seeds_only(&full, &g, &seeds).unwrap()
        } else {
            with_depth(h - 1).spread(&g, &seeds, &mut scratch).unwrap()
        };
        // Exactly, cycle penalties included (they are applied when the next hop is admitted).
        assert_eq!(out, want, "stopped before hop {h}");
        // The gate saw each hop's exact frontier and edges, as the full spread counted them.
        assert_eq!(gate.seen.len(), h as usize);
        for (i, f) in gate.seen.iter().enumerate() {
            assert_eq!(f.frontier_size, whole.work.frontier_sizes[i], "{h}/{i}");
            assert!(f.tier_mix.iter().sum::<u32>() <= f.frontier_size);
        }
        let edges: u64 = gate.seen[..h as usize - 1]
            .iter()
            .map(|f| f.frontier_edges)
            .sum();
        assert_eq!(edges, out.work.edges_relaxed, "{h}");
    }
}

#[test]
fn the_budget_manager_as_gate_truncates_a_spread_deterministically() {
    let g = ba(400);
    let full = with_depth(6);
    let seeds = [Seed::new(3, 1.0), Seed::new(77, 0.6)];
    let mut scratch = SpreadScratch::new(g.node_count());
    let whole = full.spread(&g, &seeds, &mut scratch).unwrap();
    let hop_edges: Vec<u64> = {
        // Edges of hop i: the difference of spreads one hop apart.
        let mut prev = 0;
        (1..=whole.work.hops)
            .map(|h| {
                let e = with_depth(h)
                    .spread(&g, &seeds, &mut scratch)
                    .unwrap()
                    .work
                    .edges_relaxed;
                let d = e - prev;
                prev = e;
                d
            })
            .collect()
    };
    // Time does not move; 1 ns per predicted edge; a budget of hops 1 and 2 exactly.
    let budget = hop_edges[0] + hop_edges[1];
    let model = Scripted {
        request_ns: 0.0,
        ns_per_edge: 1.0,
    };
    /// Charges each hop its predicted cost on the clock, as if the prediction were exact.
    struct Charging<'a> {
        m: &'a mut LatencyBudgetManager<Scripted, ScriptedClock>,
        clock: ScriptedClock,
    }
    impl HopGate for Charging<'_> {
        fn before_hop(&mut self, hop: u32, f: &HopFeatures) -> bool {
            self.m.before_hop(hop, f)
        }
        fn after_hop(&mut self, _hop: u32, f: &HopFeatures) {
            self.clock.advance(f.frontier_edges);
        }
    }
    let clock = ScriptedClock::default();
    let mut m = LatencyBudgetManager::with_clock(budget, model, clock.clone());
    m.admit(&RequestFeatures::default());
    let mut out = SpreadResult::default();
    let mut gate = Charging {
        m: &mut m,
        clock: clock.clone(),
    };
    assert!(spread_gated(&full, &g, &seeds, &mut scratch, &mut out, &mut gate).unwrap());
    assert_eq!(out, with_depth(2).spread(&g, &seeds, &mut scratch).unwrap());
    let o = m.finish(m.elapsed_ns());
    assert!(o.truncated && !o.over_budget, "{o:?}");
    assert_eq!(m.elapsed_ns(), budget);
}

#[test]
fn seeds_only_is_a_spread_that_reaches_nothing() {
    // Nodes 0..4 without edges except 4 → 3: a spread from 0, 1, 2 reaches nothing, so its
    // result is the seeds alone — which is what the fallback must give.
    let tiers = [Tier::Hot, Tier::Warm, Tier::Cold, Tier::Warm, Tier::Warm];
    let g = Graph::from_edges(
        &tiers,
        vec![EdgeSpec {
            src: 4,
            dst: 3,
            weight: 1.0,
            kind: EdgeKind::Excitatory,
        }],
    )
    .unwrap();
    let seeds = [
        Seed::new(2, 0.5),
        Seed::new(1, 0.3),
        Seed::new(2, 0.7),
        Seed::new(0, 0.3),
    ];
    for config in [
        SpreadConfig::default(),
        SpreadConfig {
            tier_policy: spreadbench::engine::TierPolicy::HopDepth,
            ..SpreadConfig::default()
        },
        SpreadConfig {
            top_k: Some(2),
            ..SpreadConfig::default()
        },
    ] {
        let sp = Spreader::new(config).unwrap();
        let want = sp
            .spread(&g, &seeds, &mut SpreadScratch::new(g.node_count()))
            .unwrap();
        let got = seeds_only(&sp, &g, &seeds).unwrap();
        assert_eq!(got.nodes, want.nodes);
        assert_eq!(got.work.nodes_activated, want.work.nodes_activated);
    }
    // By hand: node 2 at min(1, 0.5 + 0.7) = 1 (cold, κ 0.9), then 0 and 1 at 0.3, by id.
    let got = seeds_only(&Spreader::new(SpreadConfig::default()).unwrap(), &g, &seeds).unwrap();
    let ids: Vec<u32> = got.nodes.iter().map(|n| n.id).collect();
    assert_eq!(ids, [2, 0, 1]);
    assert_eq!(got.nodes[0].activation_f64(), 1.0);
    assert!((got.nodes[0].confidence - 0.9).abs() < 1e-12);
    let sp = Spreader::new(SpreadConfig::default()).unwrap();
    assert!(seeds_only(&sp, &g, &[]).is_err());
    assert!(seeds_only(&sp, &g, &[Seed::new(5, 1.0)]).is_err());
    assert!(seeds_only(&sp, &g, &[Seed::new(0, 0.0)]).is_err());
}

/// The manager learns from the hops it times: hops that take twice their prediction raise
/// the margin toward 2 (its 98th percentile), so a hop predicted to fit only at 1× is not
/// started; and what follows the last hop (collect, rank) is reserved per edge relaxed.
#[test]
fn the_manager_learns_a_hop_margin_and_a_collect_reserve() {
    let clock = ScriptedClock::default();
    let model = Scripted {
        request_ns: 10.0,
        ns_per_edge: 1.0,
    };
    let mut m = LatencyBudgetManager::with_clock(10_000, model, clock.clone());
    assert_eq!(m.margin(), 1.0);
    assert_eq!(m.collect_ns_per_edge(), 0.0);
    // 200 requests of one 2,000-edge hop that takes 4,000 ns, then 1,000 ns of collect.
    for _ in 0..200 {
        m.admit(&RequestFeatures::default());
        assert!(m.before_hop(1, &hop(2000)));
        clock.advance(4000);
        m.after_hop(1, &hop(2000));
        clock.advance(1000);
        let o = m.finish(m.elapsed_ns());
        assert!(!o.truncated && !o.over_budget);
    }
    // The quantile estimate climbs 0.98 × 0.01 per hop toward ln 2 and then hovers there.
    assert!((m.margin() - 2.0).abs() < 0.03, "margin {}", m.margin());
    assert!((m.collect_ns_per_edge() - 0.5).abs() < 1e-6);
    // Now a hop of 3,000 edges predicted 3,000 ns: alone it fits in 10,000, but at the
    // margin (≈ 6,000) plus the reserve for 3,000 edges (1,500) after 3,000 elapsed it does
    // not (10,500 > 10,000); one of 2,500 edges does (3,000 + 5,000 + 1,250 = 9,250).
    m.admit(&RequestFeatures::default());
    clock.advance(3000);
    assert!(!m.before_hop(1, &hop(3000)));
    assert!(m.before_hop(1, &hop(2500)));
    let o = m.finish(m.elapsed_ns());
    assert!(o.truncated, "the refused hop counts: {o:?}");
}
