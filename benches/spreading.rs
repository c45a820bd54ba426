//! `cargo bench --bench spreading`: the warm-10k spread as criterion measures it, and the
//! engine's options side by side — pool on/off, prefetch on/off, threads 1/2; and warm-10k's
//! recall: the seed phase alone (exact f32 scan and int8 pass, each with its exact re-score)
//! and the whole seed → spread → rank request.
//!
//! Each iteration runs the next request of the workload's seeded stream, so every benchmark
//! covers the same mix of small and large spreads as `spreadbench run`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spreadbench::engine::{ActivationRecord, ActivationRecordPool, HopExecutor, Spreader};
use spreadbench::graph::generate::generate;
use spreadbench::graph::Graph;
use spreadbench::recall::{
    CueList, CueStream, Embeddings, RecallConfig, RecallScratch, Recaller, SeedIndex,
    SimilarityMode,
};
use spreadbench::workload::{RequestList, Workload};
use std::sync::Arc;

/// Requests cycled through by every benchmark.
const REQUESTS: usize = 4096;

fn setup(name: &str) -> (Workload, Graph, RequestList) {
    let w = Workload::load(name).expect("built-in workload");
    let g = generate(&w.graph).expect("built-in graph");
    let requests = RequestList::draw(&mut w.requests(g.node_count()), REQUESTS);
    (w, g, requests)
}

/// Benchmarks `spreader` on the request list, with or without the pool.
fn bench_spreads(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    g: &Graph,
    requests: &RequestList,
    spreader: &Spreader,
    pool: bool,
) {
    let pool = pool.then(|| ActivationRecordPool::new(g.node_count(), 16));
    let mut handle = pool.as_ref().map(|p| p.handle());
    let mut i = 0usize;
    group.bench_function(id, |b| {
        b.iter(|| {
            let seeds = requests.get(i % requests.len());
            i += 1;
            let mut rec = match handle.as_mut() {
                Some(h) => h.acquire(),
                None => Box::new(ActivationRecord::new(g.node_count())),
            };
            let ActivationRecord { scratch, result } = &mut *rec;
            spreader
                .spread_into(g, seeds, scratch, result)
                .expect("valid request");
            let activated = result.work.nodes_activated;
            if let Some(h) = handle.as_mut() {
                h.release(rec);
            }
            activated
        })
    });
}

fn warm_10k(c: &mut Criterion) {
    let (w, g, requests) = setup("warm-10k");
    let mut group = c.benchmark_group("warm-10k");
    group.throughput(Throughput::Elements(1));

    let base = Spreader::new(w.spread.clone()).expect("built-in config");
    for pool in [true, false] {
        let id = BenchmarkId::new("pool", if pool { "on" } else { "off" });
        bench_spreads(&mut group, id, &g, &requests, &base, pool);
    }
    for pd in [0usize, 8] {
        let sp = base.clone().with_prefetch_distance(pd);
        bench_spreads(
            &mut group,
            BenchmarkId::new("prefetch", pd),
            &g,
            &requests,
            &sp,
            true,
        );
    }
    for threads in [1usize, 2] {
        let sp = base
            .clone()
            .with_executor(Some(Arc::new(HopExecutor::new(threads))));
        bench_spreads(
            &mut group,
            BenchmarkId::new("threads", threads),
            &g,
            &requests,
            &sp,
            true,
        );
    }
    group.finish();
}

fn recall_warm_10k(c: &mut Criterion) {
    let (w, g, _) = setup("warm-10k");
    let spec = w.embeddings.expect("warm-10k has embeddings");
    let emb = Embeddings::generate(&g, &spec)
        .expect("valid spec")
        .embeddings;
    let index = SeedIndex::new(emb, true);
    let cues = CueList::draw(
        &mut CueStream::new(w.seed, spec.cue_noise),
        index.embeddings(),
        256,
    );
    let mut group = c.benchmark_group("recall-warm-10k");
    group.throughput(Throughput::Elements(1));
    for sim in [SimilarityMode::Exact, SimilarityMode::Quantized] {
        let config = RecallConfig {
            similarity: sim,
            ..w.recall
        };
        let spreader = Spreader::new(config.spread_config(&w.spread)).expect("built-in config");
        let recaller = Recaller::new(config, spreader).expect("built-in recall config");
        let mut s = RecallScratch::for_config(&config);
        let mut hits = Vec::new();
        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("seed", sim.name()), |b| {
            b.iter(|| {
                let (cue, _) = cues.get(i % cues.len());
                i += 1;
                index.top_k(
                    sim,
                    config.rerank_factor,
                    cue,
                    config.max_candidates,
                    &mut s,
                    &mut hits,
                );
                hits.len()
            })
        });
        let mut rec = ActivationRecord::new(g.node_count());
        group.bench_function(BenchmarkId::new("recall", sim.name()), |b| {
            b.iter(|| {
                let (cue, _) = cues.get(i % cues.len());
                i += 1;
                let ActivationRecord { scratch, result } = &mut rec;
                recaller
                    .recall_into(&g, &index, cue, &mut s, scratch, result)
                    .expect("valid cue");
                s.results.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, warm_10k, recall_warm_10k);
criterion_main!(benches);
