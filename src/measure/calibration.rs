//! Calibration: how fast this machine is right now, measured on a fixed piece of work that
//! has nothing to do with the engine under test.
//!
//! On a shared VM two runs of the same build differ by 10–30% because the machine's speed
//! drifts (neighbours, frequency, cache pressure), so a diff against a stored baseline sees
//! drift as change. Every run therefore also times a **reference kernel** — the same
//! deterministic work in every run and every version — and records its median time per rep;
//! `diff --calibrate` divides NEW's latencies by the ratio of the two runs' figures.
//!
//! The kernel resembles a spread's access pattern without being engine code (a change to the
//! engine must never be divided out): a dependent pointer chase through a fixed random cycle
//! over 64 Ki `u32` links (256 KiB), with a read-modify-write of a second 256 KiB array at
//! each stop — dependent loads and scattered stores over a working set of a few hundred KB,
//! like a spread's frontier walk over node state. The cycle is built once from a fixed seed
//! (Sattolo's algorithm, so it is one cycle through every entry), so the addresses touched
//! are identical in every run on every machine.
//!
//! A rep is short (8,192 steps, tens of µs, about one spread) and the machine's speed changes
//! within seconds, so reps are taken interleaved with the measurement — a few before it and a
//! few between every measured block or soak interval — and the figure is the median of all,
//! which follows the machine over the same period as the latencies it calibrates.

use super::LatencyHistogram;
use crate::report::snapshot::Calibration;
use crate::rng::SeededRng;
use std::time::Instant;

/// The kernel's identity, recorded with every figure: change it whenever the kernel changes.
pub const KERNEL: &str = "chase-u32-64Ki-rmw-8192-v1";

/// Links in the cycle (and entries in the state array).
const ENTRIES: usize = 1 << 16;

/// Dependent steps per rep.
const STEPS: usize = 8192;

/// Fixed: the cycle must be the same in every run.
const CYCLE_SEED: u64 = 0x5b_ca1b;

/// Reps timed before the measurement starts.
pub const REPS_BEFORE: usize = 8;

/// Reps timed between measured blocks (or soak intervals).
pub const REPS_BETWEEN: usize = 4;

/// Times the reference kernel. Memory is allocated once, up front; timing a rep allocates
/// nothing (the reps go into a fixed-size histogram).
pub struct Calibrator {
    next: Vec<u32>,
    state: Vec<u32>,
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
        let mut next: Vec<u32> = (0..ENTRIES as u32).collect();
        // Sattolo: a uniformly random single cycle through all entries.
        for i in (1..ENTRIES).rev() {
            let j = rng.below(i as u64) as usize;
            next.swap(i, j);
        }
        let mut c = Calibrator {
            next,
            state: vec![0; ENTRIES],
            reps: LatencyHistogram::new(),
            checksum: 0,
        };
        // Untimed: fault the pages in and warm the caches.
        for _ in 0..2 {
            c.rep();
        }
        c
    }

    /// One rep of the kernel; returns a checksum so the work cannot be optimised away.
    fn rep(&mut self) -> u32 {
        let mut i = 0usize;
        let mut acc: u32 = 0x9e37_79b9;
        for _ in 0..STEPS {
            i = self.next[i] as usize;
            let s = &mut self.state[i];
            *s = s.wrapping_mul(0x0100_0193) ^ acc;
            acc = acc.rotate_left(5).wrapping_add(*s);
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

    /// The links form one cycle through every entry, and it is the same every time.
    #[test]
    fn the_cycle_is_fixed_and_covers_every_entry() {
        let a = Calibrator::new();
        let b = Calibrator::new();
        assert_eq!(
            a.next, b.next,
            "the kernel's addresses are the same in every run"
        );
        let mut seen = vec![false; ENTRIES];
        let mut i = 0usize;
        for _ in 0..ENTRIES {
            assert!(!seen[i], "entry {i} visited twice: not a single cycle");
            seen[i] = true;
            i = a.next[i] as usize;
        }
        assert_eq!(i, 0);
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
