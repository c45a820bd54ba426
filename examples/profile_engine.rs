//! Runs a fixed number of spreads of a workload's seeded request stream on one thread, for
//! `scripts/profile-engine.sh` to count instructions and cache misses per phase under valgrind
//! (hardware counters are not available on the development VM; simulated counts are
//! repeatable where timings are not).
//!
//! `cargo run --release --example profile_engine -- [WORKLOAD] [SPREADS] [WARMUP]`
//!
//! Prints the work of the measured spreads and a hash of every result, so that a change to the
//! engine can be checked for bit-identical results at the same time as it is profiled.

use spreadbench::engine::{SpreadResult, SpreadScratch, Spreader};
use spreadbench::graph::generate::generate;
use spreadbench::workload::{RequestList, Workload};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("warm-10k", String::as_str);
    let spreads: usize = args.get(1).map_or(Ok(2000), |s| s.parse())?;
    let warmup: usize = args.get(2).map_or(Ok(200), |s| s.parse())?;
    let w = Workload::load(name)?;
    let g = generate(&w.graph)?;
    let requests = RequestList::draw(&mut w.requests(g.node_count()), spreads + warmup);
    let sp = Spreader::new(w.spread.clone())?;
    let mut scratch = SpreadScratch::new(g.node_count());
    let mut out = SpreadResult::with_capacity(g.node_count());
    for i in 0..warmup {
        sp.spread_into(&g, requests.get(i), &mut scratch, &mut out)?;
    }
    let (mut edges, mut nodes, mut rejected, mut touched_hash) = (0u64, 0u64, 0u64, 0u64);
    // Only the spreads are timed: hashing their results costs more than they do.
    let mut elapsed = std::time::Duration::ZERO;
    for i in warmup..warmup + spreads {
        let start = std::time::Instant::now();
        measured(&sp, &g, requests.get(i), &mut scratch, &mut out)?;
        elapsed += start.elapsed();
        edges += out.work.edges_relaxed;
        nodes += u64::from(out.work.nodes_activated);
        rejected += out.work.rejected;
        for n in &out.nodes {
            touched_hash = fnv(touched_hash, n.id as u64);
            touched_hash = fnv(touched_hash, n.activation as u64);
            touched_hash = fnv(touched_hash, n.confidence.to_bits());
            touched_hash = fnv(touched_hash, u64::from(n.first_hop) << 8 | n.tier as u64);
        }
        touched_hash = fnv(touched_hash, out.work.cycle_penalties);
        touched_hash = fnv(touched_hash, u64::from(out.work.hops));
    }
    let n = spreads as f64;
    println!(
        "{name}: {spreads} spreads; per spread {:.1} edges relaxed, {:.1} nodes activated, {:.1} rejected; {:.2} µs mean ({:.2} ns per edge); result hash {touched_hash:016x}",
        edges as f64 / n,
        nodes as f64 / n,
        rejected as f64 / n,
        elapsed.as_secs_f64() * 1e6 / n,
        elapsed.as_secs_f64() * 1e9 / edges.max(1) as f64,
    );
    Ok(())
}

/// The measured spread, a function of its own so that callgrind's `--toggle-collect` can
/// leave out the set-up and warm-up.
#[inline(never)]
fn measured(
    sp: &Spreader,
    g: &spreadbench::graph::Graph,
    seeds: &[spreadbench::engine::Seed],
    scratch: &mut SpreadScratch,
    out: &mut SpreadResult,
) -> anyhow::Result<()> {
    sp.spread_into(g, seeds, scratch, out)?;
    Ok(())
}

fn fnv(h: u64, v: u64) -> u64 {
    let mut h = if h == 0 { 0xcbf2_9ce4_8422_2325 } else { h };
    for b in v.to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
