//! How far two threads can speed up memory-bound work on this machine, apart from the
//! engine: the ceiling of a parallel hop on a graph larger than the caches.
//!
//! `cargo run --release --example memory_scaling -- [MB] [OPS_MILLIONS] [ROUNDS]`
//!
//! Three kernels, each run on one thread over all of its work and on two threads over half
//! of it each, interleaved round by round (a shared machine's drift falls on both alike),
//! medians printed with the ratio one thread / two threads:
//!
//! - `random-add`: an add into an `i64` array of MB megabytes at an index drawn from a
//!   fixed pseudo-random stream, with the index 16 ahead prefetched, as the dense last hop
//!   adds a contribution into its sums (each thread adds into its own half of the array, as
//!   an owner adds into its own range of targets);
//! - `random-read`: the same without the write back, as a gather of rank keys reads node
//!   states;
//! - `stream`: a sequential read of the array, summing it, as a scan of the marks and sums.
//!
//! A kernel that two threads cannot speed up by 1.8× here bounds a parallel hop made of it.

use std::hint::black_box;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mb: usize = args.first().map_or(Ok(32), |s| s.parse())?;
    let ops: usize = args.get(1).map_or(Ok(4), |s| s.parse::<usize>())? * 1_000_000;
    let rounds: usize = args.get(2).map_or(Ok(7), |s| s.parse())?;
    let len = (mb << 20) / 8;
    anyhow::ensure!(
        len >= 2 && ops >= 2,
        "the array and the work must not be empty"
    );
    let mut data = vec![1i64; len];
    println!(
        "memory_scaling: {mb} MB array, {} M operations per kernel, {rounds} rounds (medians)",
        ops / 1_000_000
    );
    println!(
        "{:<12} {:>12} {:>12} {:>8}",
        "kernel", "1 thread ms", "2 threads ms", "ratio"
    );
    for kernel in [Kernel::RandomAdd, Kernel::RandomRead, Kernel::Stream] {
        let (mut one, mut two) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            one.push(timed(|| kernel.run(&mut data, ops, 1)));
            two.push(timed(|| kernel.run(&mut data, ops, 2)));
        }
        let (a, b) = (median(&mut one), median(&mut two));
        println!(
            "{:<12} {:>12.2} {:>12.2} {:>8.2}",
            kernel.name(),
            a,
            b,
            a / b
        );
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Kernel {
    RandomAdd,
    RandomRead,
    Stream,
}

impl Kernel {
    fn name(self) -> &'static str {
        match self {
            Kernel::RandomAdd => "random-add",
            Kernel::RandomRead => "random-read",
            Kernel::Stream => "stream",
        }
    }

    /// `ops` operations over `data`, split between `threads` threads, each on its own
    /// contiguous part of the array.
    fn run(self, data: &mut [i64], ops: usize, threads: usize) {
        let part = data.len() / threads;
        std::thread::scope(|s| {
            for (t, chunk) in data.chunks_mut(part).take(threads).enumerate() {
                s.spawn(move || self.on(chunk, ops / threads, t as u64));
            }
        });
    }

    fn on(self, chunk: &mut [i64], ops: usize, seed: u64) {
        match self {
            Kernel::RandomAdd | Kernel::RandomRead => {
                let n = chunk.len() as u64;
                let index = |i: u64| (mix(i ^ (seed << 40)) % n) as usize;
                let ptr = chunk.as_mut_ptr();
                let mut acc = 0i64;
                for i in 0..ops as u64 {
                    let ahead = index(i + 16);
                    // A hint only: never dereferenced.
                    prefetch(ptr.wrapping_add(ahead));
                    let j = index(i);
                    if matches!(self, Kernel::RandomAdd) {
                        chunk[j] += 1;
                    } else {
                        acc = acc.wrapping_add(chunk[j]);
                    }
                }
                black_box(acc);
            }
            Kernel::Stream => {
                let mut acc = 0i64;
                let mut done = 0;
                while done < ops {
                    let take = (ops - done).min(chunk.len());
                    acc = acc.wrapping_add(chunk[..take].iter().sum::<i64>());
                    done += take;
                }
                black_box(acc);
            }
        }
    }
}

/// A 64-bit finalizer (splitmix64's): a fixed pseudo-random index stream.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[inline(always)]
fn prefetch(p: *const i64) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch hint never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

fn timed(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64() * 1e3
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
