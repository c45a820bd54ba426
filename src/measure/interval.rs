//! The few figures of one soak interval that outlive it: what the leak and drift verdicts
//! read, kept per interval so that nothing per request is kept.

/// The figures of one interval that the verdicts use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalPoint {
    /// Spreads done at the end of the interval (cumulative).
    pub spreads_done: u64,
    pub spreads: u64,
    pub p99_ns: u64,
    pub rss_bytes: Option<u64>,
    pub allocs: u64,
}
