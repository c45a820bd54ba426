//! The persistent worker pool that runs a large hop on several threads.
//!
//! Spawning threads per spread would cost more than most spreads, so the pool's threads live
//! as long as the [`HopExecutor`]. [`HopExecutor::broadcast`] runs one closure on every
//! participant — the calling thread as participant 0 and each worker as 1.. — and returns when
//! all have finished, so the closure may borrow the caller's data. Participants share the work
//! by taking batch indices from an atomic counter (see [`BatchCursor`]), which balances a hop
//! whose frontier mixes hubs and leaves.
//!
//! Workers spin briefly after a job before parking, so the hops of one spread, which follow
//! each other within microseconds, do not pay a futex wake each.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins for the next job before parking.
const SPIN: Duration = Duration::from_micros(50);

type Job = dyn Fn(usize) + Sync;

struct Shared {
    /// The current job, valid while `remaining > 0`. A raw pointer because the closure only
    /// lives for the duration of `broadcast`, which waits for every worker before returning.
    job: Mutex<Option<JobPtr>>,
    /// Bumped once per job; workers run a job when they see a generation they have not run.
    generation: AtomicU64,
    /// Workers still running the current job.
    remaining: AtomicUsize,
    wake: Condvar,
    done_lock: Mutex<()>,
    done: Condvar,
    shutdown: AtomicBool,
    worker_panicked: AtomicBool,
}

#[derive(Clone, Copy)]
struct JobPtr(*const Job);
// SAFETY: the pointee is `Sync` (a `dyn Fn + Sync`) and outlives every use: `broadcast` does
// not return until all workers have finished calling it.
unsafe impl Send for JobPtr {}

/// A fixed set of worker threads for parallel hops. `threads` counts the caller too:
/// `HopExecutor::new(1)` has no workers and runs everything inline.
pub struct HopExecutor {
    threads: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Serialises `broadcast` calls from different threads sharing one executor.
    busy: Mutex<()>,
}

impl HopExecutor {
    pub fn new(threads: usize) -> HopExecutor {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            job: Mutex::new(None),
            generation: AtomicU64::new(0),
            remaining: AtomicUsize::new(0),
            wake: Condvar::new(),
            done_lock: Mutex::new(()),
            done: Condvar::new(),
            shutdown: AtomicBool::new(false),
            worker_panicked: AtomicBool::new(false),
        });
        let workers = (1..threads)
            .map(|idx| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("spreadbench-hop-{idx}"))
                    .spawn(move || worker_loop(&shared, idx))
                    .unwrap_or_else(|e| panic!("cannot start hop worker thread: {e}"))
            })
            .collect();
        HopExecutor {
            threads,
            shared,
            workers,
            busy: Mutex::new(()),
        }
    }

    /// Participants, the calling thread included.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f(participant)` on every participant and returns when all are done.
    pub fn broadcast(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.threads == 1 {
            f(0);
            return;
        }
        let _busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: erases the borrow's lifetime; the pointer is only dereferenced by workers
        // between the generation bump below and their `remaining` decrement, and this function
        // waits for `remaining == 0` before returning (even if `f` panics here, see below).
        let ptr: *const Job =
            unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static Job>(f) };
        {
            let mut job = self.shared.job.lock().unwrap_or_else(|p| p.into_inner());
            *job = Some(JobPtr(ptr));
            self.shared
                .remaining
                .store(self.threads - 1, Ordering::Release);
            self.shared.generation.fetch_add(1, Ordering::AcqRel);
            self.shared.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| f(0)));
        self.wait_done();
        // Cleared before re-raising the caller's own panic, so a later broadcast does not
        // report this job's worker panic.
        let worker_panicked = self.shared.worker_panicked.swap(false, Ordering::AcqRel);
        if let Err(p) = mine {
            std::panic::resume_unwind(p);
        }
        if worker_panicked {
            panic!("a hop worker panicked");
        }
    }

    fn wait_done(&self) {
        let start = Instant::now();
        while self.shared.remaining.load(Ordering::Acquire) != 0 {
            if start.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            let guard = self
                .shared
                .done_lock
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if self.shared.remaining.load(Ordering::Acquire) != 0 {
                drop(
                    self.shared
                        .done
                        .wait_timeout(guard, Duration::from_millis(1))
                        .unwrap_or_else(|p| p.into_inner()),
                );
            }
        }
    }
}

fn worker_loop(shared: &Shared, idx: usize) {
    let mut seen = 0u64;
    loop {
        // Wait for a new generation: spin first, then park.
        let start = Instant::now();
        let job = loop {
            if shared.shutdown.load(Ordering::Acquire) {
                return;
            }
            let g = shared.generation.load(Ordering::Acquire);
            if g != seen {
                seen = g;
                let job = *shared.job.lock().unwrap_or_else(|p| p.into_inner());
                break job;
            }
            if start.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            let guard = shared.job.lock().unwrap_or_else(|p| p.into_inner());
            if shared.generation.load(Ordering::Acquire) == seen
                && !shared.shutdown.load(Ordering::Acquire)
            {
                drop(shared.wake.wait(guard).unwrap_or_else(|p| p.into_inner()));
            }
        };
        if let Some(JobPtr(ptr)) = job {
            // SAFETY: see `JobPtr` and `broadcast`: the closure is alive until we decrement.
            let f = unsafe { &*ptr };
            if catch_unwind(AssertUnwindSafe(|| f(idx))).is_err() {
                shared.worker_panicked.store(true, Ordering::Release);
            }
        }
        if shared.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _g = shared.done_lock.lock().unwrap_or_else(|p| p.into_inner());
            shared.done.notify_all();
        }
    }
}

impl Drop for HopExecutor {
    fn drop(&mut self) {
        {
            let _job = self.shared.job.lock().unwrap_or_else(|p| p.into_inner());
            self.shared.shutdown.store(true, Ordering::Release);
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl std::fmt::Debug for HopExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HopExecutor")
            .field("threads", &self.threads)
            .finish()
    }
}

/// Hands out batch indices `0..batches` to whichever participant asks first.
pub struct BatchCursor {
    next: AtomicUsize,
    batches: usize,
}

impl BatchCursor {
    pub fn new(batches: usize) -> Self {
        BatchCursor {
            next: AtomicUsize::new(0),
            batches,
        }
    }

    #[inline]
    pub fn take(&self) -> Option<usize> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.batches).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_participant_runs_and_borrows_work() {
        for threads in 1..=4 {
            let ex = HopExecutor::new(threads);
            let data: Vec<u64> = (1..=1000).collect();
            for _ in 0..50 {
                let total = AtomicU64::new(0);
                let seen = AtomicUsize::new(0);
                let cursor = BatchCursor::new(data.len().div_ceil(16));
                ex.broadcast(&|_idx| {
                    seen.fetch_add(1, Ordering::Relaxed);
                    while let Some(b) = cursor.take() {
                        let s: u64 = data[b * 16..((b + 1) * 16).min(data.len())].iter().sum();
                        total.fetch_add(s, Ordering::Relaxed);
                    }
                });
                assert_eq!(total.load(Ordering::Relaxed), 500_500);
                assert_eq!(seen.load(Ordering::Relaxed), threads);
            }
        }
    }
}
