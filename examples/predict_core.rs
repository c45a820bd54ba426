//! Measures the latency predictor's core on warm-10k: how long the cost profile takes to
//! compute and to load from its cache file, how well the per-request model fitted on 2,000
//! requests of the workload's stream predicts 2,000 requests of a different seed (each run
//! `R` times, beside the noise ceiling of the same observations), and what a prediction
//! costs.
//!
//! `cargo run --release --example predict_core [-- TRAIN TEST REPEATS]`
//!
//! Timings depend on what else the machine runs; say so beside any figure quoted from here.
//! Per-hop figures need the spreader to call a hop gate (not there yet), so only the
//! per-request model is measured.

use spreadbench::engine::predictor::{OnlineRidge, REQUEST_FEATURES};
use spreadbench::engine::{
    noise_ceiling, CostProfile, ErrorTally, LatencyPredictor, RequestFeatures, Seed, SpreadResult,
    SpreadScratch, Spreader,
};
use spreadbench::graph::generate::generate;
use spreadbench::workload::{RequestStream, Workload};
use std::hint::black_box;
use std::time::Instant;

const WARMUP: usize = 1000;

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let (train, test, repeats) = match args[..] {
        [a, b, c] => (a, b, c.max(1)),
        [] => (2000, 2000, 5),
        _ => anyhow::bail!("usage: predict_core [TRAIN TEST REPEATS]"),
    };
    let w = Workload::load("warm-10k")?;
    let graph = generate(&w.graph)?;
    let spreader = Spreader::new(w.spread.clone())?;
    let n = graph.node_count();
    println!(
        "warm-10k: {n} nodes, {} edges, depth {}",
        graph.edge_count(),
        w.spread.max_depth
    );

    let t = Instant::now();
    let profile = CostProfile::compute(&graph, &spreader);
    let compute_ms = t.elapsed().as_secs_f64() * 1e3;
    let dir = tempfile::tempdir()?;
    let path = dir
        .path()
        .join(CostProfile::file_name(&graph, spreader.config()));
    profile.save(&path)?;
    let t = Instant::now();
    let loaded = CostProfile::load(&path)?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(loaded == profile && loaded.matches(&graph, spreader.config()));
    println!(
        "cost profile: computed in {compute_ms:.0} ms ({} threads), {} bytes on disk, loaded in {load_ms:.2} ms",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        std::fs::metadata(&path)?.len()
    );
    let mut by_edges = profile.edges.clone();
    by_edges.sort_unstable();
    println!(
        "  single-seed edges relaxed: median {}, p99 {}, max {}",
        by_edges[n / 2],
        by_edges[n * 99 / 100],
        by_edges[n - 1]
    );

    let depth = w.spread.max_depth;
    let mut scratch = SpreadScratch::new(n);
    let mut out = SpreadResult::with_capacity(n);
    let mut seeds = Vec::new();
    // Returns the latency and the spread's own work (known only after it ran): an oracle
    // fit on the work says how much of the error is the features' and how much the clock's.
    let mut time = |seeds: &[Seed]| -> anyhow::Result<(f64, [f64; 4])> {
        let t = Instant::now();
        spreader.spread_into(&graph, seeds, &mut scratch, &mut out)?;
        let ns = t.elapsed().as_nanos() as f64;
        let wk = &out.work;
        let expanded: u32 = wk.frontier_sizes.iter().sum();
        Ok((
            ns,
            [
                wk.edges_relaxed as f64,
                wk.nodes_activated as f64,
                expanded as f64,
                wk.rejected as f64,
            ],
        ))
    };

    // Fit on the workload's own stream, after a warm-up of its first requests.
    let mut stream = w.requests(n);
    for _ in 0..WARMUP {
        stream.next_into(&mut seeds);
        time(&seeds)?;
    }
    let mut predictor = LatencyPredictor::new().with_refit_every(0);
    let mut absolute = OnlineRidge::new(&REQUEST_FEATURES, 1e-6, false);
    let mut degree_only = OnlineRidge::new(&["seed_degree"], 1e-6, true);
    let mut oracle = OnlineRidge::new(&["edges", "activated", "expanded", "rejected"], 1e-6, true);
    for _ in 0..train {
        stream.next_into(&mut seeds);
        let f = profile.request_features(&graph, &seeds, depth);
        let (ns, work) = time(&seeds)?;
        predictor.observe_request(&f, ns);
        absolute.add(&f.vector(), ns);
        degree_only.add(&[f.seed_degree], ns);
        oracle.add(&work, ns);
    }
    predictor.fit();
    absolute.fit();
    degree_only.fit();
    oracle.fit();

    // Test on a disjoint stream: a different seed.
    let test_seed = w.seed.wrapping_add(1);
    let mut test_stream = RequestStream::new(test_seed, n, &w.requests);
    let mut single = ErrorTally::new();
    let mut vs_median = ErrorTally::new();
    let mut abs_single = ErrorTally::new();
    let mut deg_single = ErrorTally::new();
    let mut oracle_single = ErrorTally::new();
    let mut first = ErrorTally::new();
    let mut oracle_first = ErrorTally::new();
    let mut obs = Vec::with_capacity(test);
    let mut all_ns = Vec::with_capacity(test * repeats);
    for _ in 0..test {
        test_stream.next_into(&mut seeds);
        let f = profile.request_features(&graph, &seeds, depth);
        let p = predictor.predict_latency(&f);
        let pa = absolute.predict(&f.vector());
        let pd = degree_only.predict(&[f.seed_degree]);
        let mut r = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let (ns, work) = time(&seeds)?;
            if r.is_empty() {
                first.record(p, ns);
                oracle_first.record(oracle.predict(&work), ns);
            }
            oracle_single.record(oracle.predict(&work), ns);
            single.record(p, ns);
            abs_single.record(pa, ns);
            deg_single.record(pd, ns);
            r.push(ns);
            all_ns.push(ns);
        }
        let mut sorted = r.clone();
        sorted.sort_by(f64::total_cmp);
        vs_median.record(p, sorted[sorted.len() / 2]);
        obs.push(r);
    }
    all_ns.sort_by(f64::total_cmp);
    let ceiling = noise_ceiling(&obs);
    println!(
        "request model: trained on {train} requests (seed {}), tested on {test} (seed {test_seed}) x {repeats} runs; p50 {:.1} µs, p90 {:.1} µs",
        w.seed,
        all_ns[all_ns.len() / 2] / 1e3,
        all_ns[all_ns.len() * 9 / 10] / 1e3
    );
    let line = |name: &str, t: &ErrorTally| {
        let s = t.stats();
        println!(
            "  {name:<34} within 10% {:5.1}%  20% {:5.1}%  50% {:5.1}%  p50 err {:5.1}%  p95 err {:5.1}%",
            100.0 * s.within_10pct,
            100.0 * s.within_20pct,
            100.0 * s.within_50pct,
            100.0 * s.p50_rel_err,
            100.0 * s.p95_rel_err
        );
    };
    line("profiles, relative fit, first run", &first);
    line("oracle (own work), first run", &oracle_first);
    line("profiles, relative fit, single", &single);
    line("profiles, relative fit, vs median", &vs_median);
    line("profiles, absolute fit, single", &abs_single);
    line("seed degree only, single", &deg_single);
    line("oracle: the spread's own work, single", &oracle_single);
    println!(
        "  noise ceiling (single runs within 20% of their request's median of {repeats}): {:.1}% (10%: {:.1}%)",
        100.0 * ceiling.within_20pct,
        100.0 * ceiling.within_10pct
    );
    for c in predictor.request_stats().coefficients {
        println!("    {:<24} {:>12.4}", c.feature, c.value);
    }

    // The cost of a prediction: the dot product alone, and with building the features.
    let features: Vec<RequestFeatures> = (0..1024)
        .map(|_| {
            test_stream.next_into(&mut seeds);
            profile.request_features(&graph, &seeds, depth)
        })
        .collect();
    let requests: Vec<Vec<Seed>> = (0..1024)
        .map(|_| {
            test_stream.next_into(&mut seeds);
            seeds.clone()
        })
        .collect();
    let rounds = 2_000_000;
    let t = Instant::now();
    let mut acc = 0.0;
    for i in 0..rounds {
        acc += predictor.predict_latency(black_box(&features[i & 1023]));
    }
    let predict_ns = t.elapsed().as_nanos() as f64 / rounds as f64;
    black_box(acc);
    let t = Instant::now();
    for i in 0..rounds {
        let f = profile.request_features(&graph, black_box(&requests[i & 1023]), depth);
        acc += predictor.predict_latency(&f);
    }
    let with_features_ns = t.elapsed().as_nanos() as f64 / rounds as f64;
    black_box(acc);
    let p50 = all_ns[all_ns.len() / 2];
    println!(
        "predict_latency: {predict_ns:.1} ns per call; with the seeds' features: {with_features_ns:.1} ns ({:.2}% of the p50)",
        100.0 * with_features_ns / p50
    );
    Ok(())
}
