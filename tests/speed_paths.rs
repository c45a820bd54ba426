//! The paths the speed work (issue 13) added, held to the one-thread result: the parallel
//! collect with a top-k cut (the parallel hop and the two-ended merge are covered by
//! tests/parallel.rs), and an executor with more threads than a collect merges runs for.

use spreadbench::engine::{HopExecutor, SpreadResult, SpreadScratch, Spreader};
use spreadbench::graph::generate::generate;
use spreadbench::workload::Workload;
use std::sync::Arc;

fn check(top_k: Option<usize>, threads: usize, requests: usize) {
    let w = Workload::load("warm-10k").expect("built-in");
    let g = generate(&w.graph).expect("built-in graph");
    let mut config = w.spread.clone();
    config.top_k = top_k;
    let one = Spreader::new(config.clone()).expect("valid config");
    let par = Spreader::new(config)
        .expect("valid config")
        .with_executor(Some(Arc::new(HopExecutor::new(threads))))
        .with_parallel_min_edges(0);
    let (mut s1, mut s2) = (
        SpreadScratch::new(g.node_count()),
        SpreadScratch::new(g.node_count()),
    );
    let (mut r1, mut r2) = (SpreadResult::default(), SpreadResult::default());
    let mut stream = w.requests(g.node_count());
    let mut seeds = Vec::new();
    for _ in 0..requests {
        stream.next_into(&mut seeds);
        one.spread_into(&g, &seeds, &mut s1, &mut r1)
            .expect("valid");
        par.spread_into(&g, &seeds, &mut s2, &mut r2)
            .expect("valid");
        assert_eq!(r1, r2, "seeds {seeds:?}");
        if let Some(k) = top_k {
            assert!(r1.nodes.len() <= k);
        }
    }
}

#[test]
fn parallel_collect_with_top_k_matches_one_thread() {
    check(Some(25), 2, 40);
    check(Some(1), 3, 10);
}

#[test]
fn more_threads_than_merge_runs_match_one_thread() {
    // 70 participants: more than the 64 owner ranges and sorted runs a hop and a collect use.
    check(None, 70, 5);
}
