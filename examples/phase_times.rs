//! Where a spread's time goes, by phase, in wall-clock time: seeding, each hop, and the
//! collect (gather, rank, records), measured with a [`HopGate`] that reads the clock before
//! and after every hop. Complements `scripts/profile-engine.sh` (instruction counts on one
//! thread) for parallel hops, whose cost is waiting and memory, not instructions.
//!
//! `cargo run --release --example phase_times -- [WORKLOAD] [SPREADS] [THREADS,...] [MIN_EDGES]`
//!
//! MIN_EDGES is the parallel threshold (out-edges a hop needs to go parallel; default the
//! engine's).
//!
//! Settings are interleaved spread by spread (every request runs once under each thread
//! count, in turn, each setting on its own scratch), so a shared machine's drift falls on
//! all of them alike; medians per phase are printed side by side.

use spreadbench::engine::{
    HopExecutor, HopFeatures, HopGate, SpreadResult, SpreadScratch, Spreader,
};
use spreadbench::graph::generate::generate;
use spreadbench::workload::{RequestList, Workload};
use std::sync::Arc;
use std::time::Instant;

/// Records the clock at each hop's start and end.
struct PhaseClock {
    origin: Instant,
    marks: Vec<(u64, u64)>,
    /// Per hop: (out-edges, ran parallel).
    hops: Vec<(u64, bool)>,
}

impl HopGate for PhaseClock {
    fn before_hop(&mut self, _hop: u32, features: &HopFeatures) -> bool {
        self.hops.push((features.frontier_edges, features.parallel));
        self.marks
            .push((self.origin.elapsed().as_nanos() as u64, 0));
        true
    }
    fn after_hop(&mut self, _hop: u32, _features: &HopFeatures) {
        if let Some(m) = self.marks.last_mut() {
            m.1 = self.origin.elapsed().as_nanos() as u64;
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("warm-10k", String::as_str);
    let spreads: usize = args.get(1).map_or(Ok(2000), |s| s.parse())?;
    let threads: Vec<usize> = args
        .get(2)
        .map_or("1,2", String::as_str)
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let min_edges: u64 = args.get(3).map_or(
        Ok(spreadbench::engine::spreader::DEFAULT_PARALLEL_MIN_EDGES),
        |s| s.parse(),
    )?;
    let w = Workload::load(name)?;
    let g = generate(&w.graph)?;
    let warmup = (spreads / 10).max(1);
    let requests = RequestList::draw(&mut w.requests(g.node_count()), spreads + warmup);
    let spreaders: Vec<Spreader> = threads
        .iter()
        .map(|&t| {
            let ex = (t > 1).then(|| Arc::new(HopExecutor::new(t)));
            Ok(Spreader::new(w.spread.clone())?
                .with_executor(ex)
                .with_parallel_min_edges(min_edges))
        })
        .collect::<anyhow::Result<_>>()?;
    // A scratch per setting, as `spreadbench run` has a pool per setting: shared, the
    // second setting found the states the first had just written for the same request in
    // cache, and looked faster for it (scale-free-1m-deep, 2 threads after 1: ×1.65–1.71 on
    // the total median, where `run` measured ×1.40).
    let mut scratches: Vec<SpreadScratch> = threads
        .iter()
        .map(|_| SpreadScratch::new(g.node_count()))
        .collect();
    let mut out = SpreadResult::with_capacity(g.node_count());
    let depth = w.spread.max_depth as usize;
    // Per setting: (seed, per-hop, collect, total) samples in ns.
    let mut samples: Vec<[Vec<u64>; 3]> = vec![Default::default(); threads.len()];
    let mut hop_samples: Vec<Vec<Vec<u64>>> = vec![vec![Vec::new(); depth]; threads.len()];
    // Per setting and hop: frontier nodes, out-edges and parallel hops, summed.
    let mut frontier = vec![vec![(0u64, 0u64, 0u64); depth]; threads.len()];
    for i in 0..spreads + warmup {
        for (k, (sp, scratch)) in spreaders.iter().zip(&mut scratches).enumerate() {
            let mut clock = PhaseClock {
                origin: Instant::now(),
                marks: Vec::with_capacity(depth),
                hops: Vec::with_capacity(depth),
            };
            sp.spread_gated_into(&g, requests.get(i), scratch, &mut out, &mut clock)?;
            let total = clock.origin.elapsed().as_nanos() as u64;
            if i < warmup {
                continue;
            }
            let seed = clock.marks.first().map_or(total, |m| m.0);
            let end = clock.marks.last().map_or(seed, |m| m.1);
            samples[k][0].push(seed);
            samples[k][1].push(total - end);
            samples[k][2].push(total);
            for (h, m) in clock.marks.iter().enumerate() {
                hop_samples[k][h].push(m.1 - m.0);
            }
            for (h, &f) in out.work.frontier_sizes.iter().enumerate() {
                frontier[k][h].0 += u64::from(f);
            }
            for (h, &(edges, parallel)) in clock.hops.iter().enumerate() {
                frontier[k][h].1 += edges;
                frontier[k][h].2 += u64::from(parallel);
            }
        }
    }
    println!("{name}: {spreads} spreads per setting, medians in µs (each phase's own median)");
    print!("{:<10} {:>8}", "threads", "seed");
    for h in 1..=depth {
        print!(" {:>8}", format!("hop {h}"));
    }
    println!(" {:>8} {:>8}", "collect", "total");
    for (k, t) in threads.iter().enumerate() {
        print!("{:<10} {:>8.2}", t, median(&mut samples[k][0]));
        for hop in hop_samples[k].iter_mut() {
            print!(" {:>8.2}", median(hop));
        }
        println!(
            " {:>8.2} {:>8.2}",
            median(&mut samples[k][1]),
            median(&mut samples[k][2])
        );
    }
    let n = (spreads + warmup) as f64;
    for (k, t) in threads.iter().enumerate() {
        print!("threads {t}, per hop: mean frontier nodes / out-edges / share parallel:");
        for &(nodes, edges, parallel) in &frontier[k] {
            print!(
                "  {:.0} / {:.0} / {:.2}",
                nodes as f64 / n,
                edges as f64 / n,
                parallel as f64 / n
            );
        }
        println!();
    }
    Ok(())
}

/// The median of `v` in µs (0 when empty).
fn median(v: &mut [u64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    v[v.len() / 2] as f64 / 1000.0
}
