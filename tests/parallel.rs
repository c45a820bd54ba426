//! The parallel hop executor gives bit-identical results to one thread, for every thread count
//! and batch size: random graphs and configurations (with every hop forced parallel), and the
//! warm-10k request stream.

use proptest::prelude::*;
use spreadbench::engine::{
    Decay, FanEffect, HopExecutor, Seed, SpreadConfig, SpreadResult, SpreadScratch, Spreader,
    TierPolicy,
};
use spreadbench::graph::generate::generate;
use spreadbench::graph::{EdgeKind, EdgeSpec, Graph, Tier};
use spreadbench::workload::Workload;
use std::sync::{Arc, OnceLock};

/// One executor per thread count, shared by all cases (threads are persistent by design).
fn executor(threads: usize) -> Arc<HopExecutor> {
    static POOLS: OnceLock<Vec<Arc<HopExecutor>>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| (1..=4).map(|t| Arc::new(HopExecutor::new(t))).collect());
    Arc::clone(&pools[threads - 1])
}

fn spreader(config: &SpreadConfig, threads: usize, batch: usize) -> Spreader {
    Spreader::new(config.clone())
        .expect("valid config")
        .with_executor(Some(executor(threads)))
        .with_batch_size(batch)
        .with_parallel_min_edges(0)
}

#[derive(Debug, Clone)]
struct Case {
    tiers: Vec<Tier>,
    edges: Vec<EdgeSpec>,
    seeds: Vec<Seed>,
    config: SpreadConfig,
}

fn case() -> impl Strategy<Value = Case> {
    (2usize..300).prop_flat_map(|n| {
        let nu = n as u32;
        let edge =
            (0..nu, 0..nu, 0.05f32..=1.0, 0u8..10).prop_map(|(src, dst, weight, k)| EdgeSpec {
                src,
                dst,
                weight,
                kind: match k {
                    0 => EdgeKind::Inhibitory,
                    1 => EdgeKind::Modulatory,
                    _ => EdgeKind::Excitatory,
                },
            });
        (
            prop::collection::vec(0u8..3, n),
            prop::collection::vec(edge, 0..(8 * n)),
            prop::collection::vec(
                (0..nu, 0.01f64..=1.0).prop_map(|(v, a)| Seed::new(v, a)),
                1..6,
            ),
            (1u32..6, 0.0f64..1.0, 0u8..3, any::<bool>(), 0.0f64..=1.0),
        )
            .prop_map(
                |(tiers, edges, seeds, (depth, rate, fan, hop_depth, penalty))| Case {
                    tiers: tiers
                        .into_iter()
                        .map(|t| Tier::from_u8(t).expect("0..3"))
                        .collect(),
                    edges,
                    seeds,
                    config: SpreadConfig {
                        max_depth: depth,
                        decay: Decay::Exponential { rate },
                        fan_effect: [
                            FanEffect::None,
                            FanEffect::OutDegree,
                            FanEffect::SqrtOutDegree,
                        ][fan as usize],
                        tier_policy: if hop_depth {
                            TierPolicy::HopDepth
                        } else {
                            TierPolicy::Storage
                        },
                        cycle_penalty: penalty,
                        ..SpreadConfig::default()
                    },
                },
            )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn parallel_hops_match_one_thread(case in case(), threads in 2usize..=4, batch in 1usize..64) {
        let g = Graph::from_edges(&case.tiers, case.edges.clone()).expect("valid graph");
        let one = Spreader::new(case.config.clone()).expect("valid config");
        let want = one.spread(&g, &case.seeds, &mut SpreadScratch::new(g.node_count())).expect("valid seeds");
        let par = spreader(&case.config, threads, batch);
        // Reused scratch: run twice so stale per-participant buffers would show.
        let mut scratch = SpreadScratch::new(g.node_count());
        for _ in 0..2 {
            let got = par.spread(&g, &case.seeds, &mut scratch).expect("valid seeds");
            prop_assert_eq!(&got, &want);
        }
    }
}

#[test]
fn warm_10k_stream_is_identical_for_1_2_and_4_threads() {
    let w = Workload::load("warm-10k").expect("built-in");
    let g = generate(&w.graph).expect("built-in graph");
    let spreaders: Vec<Spreader> = [(1, 64), (2, 64), (2, 3), (4, 16)]
        .iter()
        .map(|&(t, b)| spreader(&w.spread, t, b))
        .collect();
    let mut scratches: Vec<SpreadScratch> = spreaders
        .iter()
        .map(|_| SpreadScratch::new(g.node_count()))
        .collect();
    let mut requests = w.requests(g.node_count());
    let mut seeds = Vec::new();
    let mut results = vec![SpreadResult::default(); spreaders.len()];
    for _ in 0..150 {
        requests.next_into(&mut seeds);
        for ((sp, sc), out) in spreaders.iter().zip(&mut scratches).zip(&mut results) {
            sp.spread_into(&g, &seeds, sc, out).expect("valid request");
        }
        for r in &results[1..] {
            assert_eq!(r, &results[0], "seeds {seeds:?}");
        }
    }
}
