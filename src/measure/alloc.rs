//! Allocation accounting: a counting global allocator, cheap enough to stay on.
//!
//! The binary installs [`CountingAllocator`] as its global allocator; it forwards to the
//! system allocator and counts allocations and bytes per thread (thread-local cells: no shared
//! cache line, no atomics on the allocation path). A measurement reads its own thread's
//! counters around the work it measures, so other threads' allocations never leak in.
//!
//! A program that did not install the allocator (a library user, the test harness) reads
//! zeros; [`counting_active`] tells the two apart, so a report can say "unsupported" instead
//! of a misleading zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

/// Allocations and bytes allocated by the current thread so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AllocCount {
    pub allocs: u64,
    pub bytes: u64,
}

impl std::ops::Sub for AllocCount {
    type Output = AllocCount;
    fn sub(self, o: AllocCount) -> AllocCount {
        AllocCount {
            allocs: self.allocs.wrapping_sub(o.allocs),
            bytes: self.bytes.wrapping_sub(o.bytes),
        }
    }
}

impl std::ops::AddAssign for AllocCount {
    fn add_assign(&mut self, o: AllocCount) {
        self.allocs += o.allocs;
        self.bytes += o.bytes;
    }
}

/// The current thread's counters.
#[inline]
pub fn thread_count() -> AllocCount {
    AllocCount {
        allocs: ALLOCS.with(Cell::get),
        bytes: BYTES.with(Cell::get),
    }
}

/// Whether the counting allocator is installed (one probe allocation).
pub fn counting_active() -> bool {
    let before = thread_count();
    let probe = std::hint::black_box(Box::new(0u64));
    drop(probe);
    thread_count().allocs > before.allocs
}

#[inline]
fn count(bytes: usize) {
    // `try_with`: during thread teardown the cells may already be gone; such allocations are
    // simply not counted.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
    let _ = BYTES.try_with(|c| c.set(c.get() + bytes as u64));
}

/// Counts allocations (and reallocations, as one allocation of the new size) per thread.
pub struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        System.realloc(ptr, layout, new_size)
    }
}
