//! `cargo bench --bench spreading`: the warm-10k spread, as criterion measures it.
//!
//! Each iteration runs the next request of the workload's seeded stream, so the benchmark
//! covers the same mix of small and large spreads as `spreadbench run`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spreadbench::engine::{SpreadResult, SpreadScratch, Spreader};
use spreadbench::graph::generate::generate;
use spreadbench::workload::Workload;

fn warm_10k(c: &mut Criterion) {
    let w = Workload::load("warm-10k").expect("built-in workload");
    let g = generate(&w.graph).expect("built-in graph");
    let mut group = c.benchmark_group("warm-10k");
    group.throughput(Throughput::Elements(1));
    for pd in [0usize, 8] {
        let spreader = Spreader::new(w.spread.clone())
            .expect("built-in config")
            .with_prefetch_distance(pd);
        let mut scratch = SpreadScratch::new(g.node_count());
        let mut out = SpreadResult::default();
        let mut requests = w.requests(g.node_count());
        let mut seeds = Vec::new();
        group.bench_function(BenchmarkId::new("spread/prefetch", pd), |b| {
            b.iter(|| {
                requests.next_into(&mut seeds);
                spreader
                    .spread_into(&g, &seeds, &mut scratch, &mut out)
                    .expect("valid request");
                out.work.nodes_activated
            })
        });
    }
    group.finish();
}

criterion_group!(benches, warm_10k);
criterion_main!(benches);
