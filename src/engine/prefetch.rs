//! Software prefetch: a hint to pull a cache line in before the spreading loop needs it.
//!
//! A spread's memory access is data-dependent (a frontier node's adjacency list, then each
//! target's state), so the hardware prefetcher cannot guess it; the loop can, a few items
//! ahead. On x86-64 this is `_mm_prefetch` with the T0 hint; elsewhere it compiles to nothing.

/// Hints that the cache line holding `*p` will be read soon. Never faults, even for a pointer
/// one past the end, and has no effect on results.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it does not dereference and cannot fault (SSE, x86-64 baseline).
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
