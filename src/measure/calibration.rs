//! Calibration: how fast this machine is right now, measured on a fixed piece of work that
//! has nothing to do with the engine under test.
//!
//! On a shared VM two runs of the same build differ by 10–30% because the machine's speed
//! drifts (neighbours, frequency, cache pressure), so a diff against a stored baseline sees
//! drift as change. Every run therefore also times a **reference kernel** — the same
//! deterministic work in every run and every version — and records its median time per rep;
//! `diff --calibrate` divides NEW's latencies by the ratio of the two runs' figures.
//!
//! The kernel resembles a spread without being the engine's code (a change to the engine
//! must never be divided out): a frozen, straightforward spread — f64 sums, a first-contact
//! threshold, three hops from three seeds — over a fixed random graph of 8,192 nodes with 8
//! out-edges each (about 300 KB with its state), built once from a fixed seed. Its seeds depend
//! only on the rep's number, so every run does the same work on every machine. It was chosen
//! over a plain pointer chase because it tracks this VM's drift: over ten back-to-back pairs of
//! warm-10k runs the pointer chase's median moved by a third of the spreads' mean latency (or
//! not at all), this kernel's by nearly the same ratio (README, "Regression gates").
//!
//! A rep is short (about 20 µs here, about half a warm-10k spread) and the machine's speed changes
//! within seconds, so reps are taken interleaved with the measurement — a few before it and a
//! few between every measured block or soak interval — and the figure is the median of all,
//! which follows the machine over the same period as the latencies it calibrates.

use super::LatencyHistogram;
use crate::rng::SeededRng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The kernel's identity, recorded with every figure: change it whenever the kernel changes.
pub const KERNEL: &str = "frozen-spread-8Ki-d8-s3-h3-v1";

/// Nodes of the kernel's fixed graph.
const ENTRIES: usize = 1 << 13;

/// Out-edges per node.
const DEGREE: usize = 8;

/// Seeds and hops per rep.
const SEEDS: usize = 3;
const HOPS: usize = 3;

/// Fixed: the graph must be the same in every run.
const CYCLE_SEED: u64 = 0x5b_ca1b;

/// Reps timed before the measurement starts.
pub const REPS_BEFORE: usize = 8;

/// Reps timed between measured blocks (or soak intervals).
pub const REPS_BETWEEN: usize = 4;

/// The calibration figure of one run: the fixed kernel's time per rep, sampled between the
/// measured blocks (or intervals) of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The kernel's identity; figures of different kernels are not comparable.
    pub kernel: String,
    /// Median nanoseconds per rep over all reps.
    pub median_rep_ns: f64,
    pub min_rep_ns: u64,
    pub max_rep_ns: u64,
    /// Reps timed.
    pub reps: u64,
}

/// Times the reference kernel. Memory is allocated once, up front; timing a rep allocates
/// nothing (the reps go into a fixed-size histogram).
pub struct Calibrator {
    /// Fixed CSR graph: `DEGREE` out-edges per node, targets and weights.
    targets: Vec<u32>,
    weights: Vec<f32>,
    activation: Vec<f64>,
    stamp: Vec<u32>,
    frontier: Vec<(u32, f64)>,
    next_frontier: Vec<(u32, f64)>,
    touched: Vec<u32>,
    epoch: u32,
    rep_index: u32,
    reps: LatencyHistogram,
    checksum: u32,
}

impl Default for Calibrator {
    fn default() -> Self {
        Self::new()
    }
}

impl Calibrator {
    pub fn new() -> Calibrator {
        let mut rng = SeededRng::new(CYCLE_SEED);
        let edges = ENTRIES * DEGREE;
        let targets: Vec<u32> = (0..edges)
            .map(|_| rng.below(ENTRIES as u64) as u32)
            .collect();
        let weights: Vec<f32> = (0..edges).map(|_| 0.2 + 0.8 * rng.unit() as f32).collect();
        let mut c = Calibrator {
            targets,
            weights,
            activation: vec![0.0; ENTRIES],
            stamp: vec![0; ENTRIES],
            frontier: Vec::with_capacity(ENTRIES),
            next_frontier: Vec::with_capacity(ENTRIES),
            touched: Vec::with_capacity(ENTRIES),
            epoch: 0,
            rep_index: 0,
            reps: LatencyHistogram::new(),
            checksum: 0,
        };
        // Untimed: fault the pages in and warm the caches.
        for _ in 0..4 {
            c.rep();
        }
        c
    }

    /// One rep: a frozen, straightforward spread (f64 sums, first-contact threshold, three
    /// hops) over the fixed graph from seeds that depend only on the rep's number; returns a
    /// checksum so the work cannot be optimised away.
    fn rep(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        let epoch = self.epoch;
        self.rep_index = self.rep_index.wrapping_add(1);
        self.frontier.clear();
        self.touched.clear();
        for k in 0..SEEDS as u32 {
            let seed = (self
                .rep_index
                .wrapping_mul(2_654_435_761)
                .wrapping_add(k * 40_503)) as usize
                % ENTRIES;
            self.stamp[seed] = epoch;
            self.activation[seed] = 1.0;
            self.frontier.push((seed as u32, 1.0));
        }
        let mut decay = 1.0f64;
        let mut acc = 0u32;
        for _hop in 0..HOPS {
            decay *= 0.6;
            self.next_frontier.clear();
            for &(u, delta) in &self.frontier {
                let first = u as usize * DEGREE;
                for e in first..first + DEGREE {
                    let v = self.targets[e] as usize;
                    let c = delta * decay * f64::from(self.weights[e]);
                    if self.stamp[v] != epoch {
                        if c < 0.05 {
                            acc = acc.wrapping_add(1);
                            continue;
                        }
                        self.stamp[v] = epoch;
                        self.activation[v] = 0.0;
                        self.touched.push(v as u32);
                    }
                    let old = self.activation[v];
                    let new = (old + c).min(1.0);
                    self.activation[v] = new;
                    if new > old {
                        self.next_frontier.push((v as u32, new - old));
                    }
                }
            }
            std::mem::swap(&mut self.frontier, &mut self.next_frontier);
        }
        for &v in &self.touched {
            acc = acc.wrapping_add((self.activation[v as usize] * 1e6) as u32);
        }
        std::hint::black_box(acc)
    }

    /// Times `reps` reps.
    pub fn sample(&mut self, reps: usize) {
        for _ in 0..reps {
            let t0 = Instant::now();
            let sum = self.rep();
            let ns = t0.elapsed().as_nanos() as u64;
            self.checksum = self.checksum.wrapping_add(sum);
            self.reps.record(ns);
        }
    }

    /// Reps timed so far.
    pub fn reps(&self) -> u64 {
        self.reps.len()
    }

    /// The figure for the snapshot; `None` before any rep was timed.
    pub fn figure(&self) -> Option<Calibration> {
        if self.reps.is_empty() {
            return None;
        }
        let h = self.reps.inner();
        Some(Calibration {
            kernel: KERNEL.to_string(),
            median_rep_ns: h.value_at_quantile(0.5) as f64,
            min_rep_ns: h.min(),
            max_rep_ns: h.max(),
            reps: h.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The graph is the same every time, and a rep does real spreading work.
    #[test]
    fn the_graph_is_fixed_and_a_rep_spreads() {
        let a = Calibrator::new();
        let b = Calibrator::new();
        assert_eq!(
            a.targets, b.targets,
            "the kernel's graph is the same in every run"
        );
        assert_eq!(a.weights, b.weights);
        let mut c = Calibrator::new();
        c.rep();
        // Three seeds, three hops of fan-out 8 with a threshold: hundreds of nodes reached.
        assert!(
            (100..ENTRIES).contains(&c.touched.len()),
            "{}",
            c.touched.len()
        );
    }

    #[test]
    fn reps_are_deterministic_work_and_are_counted() {
        let (mut a, mut b) = (Calibrator::new(), Calibrator::new());
        assert_eq!(a.figure(), None);
        assert_eq!(a.rep(), b.rep());
        a.sample(5);
        b.sample(5);
        assert_eq!(a.checksum, b.checksum);
        let f = a.figure().unwrap();
        assert_eq!(f.reps, 5);
        assert_eq!(f.kernel, KERNEL);
        assert!(f.min_rep_ns as f64 <= f.median_rep_ns && f.median_rep_ns <= f.max_rep_ns as f64);
        assert!(f.min_rep_ns > 0);
    }
}
