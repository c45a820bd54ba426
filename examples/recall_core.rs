//! Measures the recall core on warm-10k: embedding generation time, the similarity scan's
//! ns per vector and GB/s beside a plain sequential read of the same bytes (every kernel this
//! CPU has), and how well the chosen settings keep a cue's hits in its own cell.
//!
//! `cargo run --release --example recall_core [-- CLUSTERS NOISE CUE_NOISE]`
//!
//! Timings depend on what else the machine runs; say so beside any figure quoted from here.

use spreadbench::graph::generate::generate;
use spreadbench::recall::similarity::{scan_bandwidth, top_k_with};
use spreadbench::recall::{CueStream, EmbeddingSpec, Embeddings, Kernel};
use spreadbench::workload::Workload;
use std::time::Instant;

/// Engram's seeding defaults (DESIGN §7).
const K: usize = 100;
const THETA_SIM: f32 = 0.4;

fn main() -> anyhow::Result<()> {
    let w = Workload::load("warm-10k")?;
    let graph = generate(&w.graph)?;
    let mut spec = EmbeddingSpec::warm_10k(w.seed);
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [c, n, q] = &args[..] {
        spec.clusters = c.parse()?;
        spec.noise = n.parse()?;
        spec.cue_noise = q.parse()?;
    }
    println!(
        "warm-10k: {} nodes; dim {}, clusters {}, noise {}, cue_noise {}",
        graph.node_count(),
        spec.dim,
        spec.clusters,
        spec.noise,
        spec.cue_noise
    );

    let mut gen_ms = Vec::new();
    let mut gen = None;
    for _ in 0..5 {
        let t = Instant::now();
        gen = Some(Embeddings::generate(&graph, &spec)?);
        gen_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let gen = gen.unwrap_or_else(|| unreachable!());
    gen_ms.sort_by(f64::total_cmp);
    println!(
        "generation ({} x {}): min {:.1} ms, median {:.1} ms, max {:.1} ms (5 runs)",
        graph.node_count(),
        spec.dim,
        gen_ms[0],
        gen_ms[2],
        gen_ms[4]
    );
    let mut sizes = vec![0usize; spec.clusters];
    gen.cells.iter().for_each(|&c| sizes[c as usize] += 1);
    sizes.sort_unstable();
    println!(
        "cell sizes: min {}, median {}, max {}",
        sizes[0],
        sizes[sizes.len() / 2],
        sizes[sizes.len() - 1]
    );

    let e = &gen.embeddings;
    let mut cues = CueStream::new(w.seed, spec.cue_noise);
    let mut cue = Vec::new();
    cues.next_cue(e, &mut cue);
    for kernel in Kernel::ALL.into_iter().filter(|k| k.available()) {
        let t = scan_bandwidth(e, kernel, &cue, K, 50);
        println!(
            "scan {:>9}: {:.2} ns/vector, {:.1} GB/s; sequential read {:.1} GB/s; scan/read {:.0}%",
            kernel.name(),
            t.ns_per_vector(),
            t.scan_gbps(),
            t.read_gbps(),
            100.0 * t.ratio()
        );
    }

    // Quality: of a cue's top-100 hits above θ_sim, the share in the cue node's own cell.
    let cue_count = 2000;
    let (mut above, mut own, mut none_above) = (0usize, 0usize, 0usize);
    let mut own_cell_above = 0usize;
    let mut own_cell_total = 0usize;
    let mut hits = Vec::new();
    for _ in 0..cue_count {
        let node = cues.next_cue(e, &mut cue).unwrap_or(0) as usize;
        top_k_with(Kernel::best(), e, &cue, K, &mut hits);
        let cell = gen.cells[node];
        let kept: Vec<_> = hits.iter().filter(|h| h.1 >= THETA_SIM).collect();
        if kept.is_empty() {
            none_above += 1;
        }
        above += kept.len();
        own += kept
            .iter()
            .filter(|h| gen.cells[h.0 as usize] == cell)
            .count();
        let size = sizes_of(&gen.cells, cell);
        own_cell_total += size.min(K);
        own_cell_above += kept
            .iter()
            .filter(|h| gen.cells[h.0 as usize] == cell)
            .count();
    }
    println!(
        "{cue_count} cues: {:.1} hits above θ_sim = {THETA_SIM} per cue (of top-{K}); \
         {:.2}% of them in the cue's own cell; cues with no hit above θ_sim: {none_above}; \
         own-cell recall (own-cell hits above θ / min(cell size, {K})): {:.2}%",
        above as f64 / cue_count as f64,
        100.0 * own as f64 / above.max(1) as f64,
        100.0 * own_cell_above as f64 / own_cell_total.max(1) as f64
    );
    Ok(())
}

fn sizes_of(cells: &[u32], cell: u32) -> usize {
    cells.iter().filter(|&&c| c == cell).count()
}
