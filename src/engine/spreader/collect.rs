//! The end of a spread: gathering the nodes with activation > 0, ranking them (activation
//! descending, then id ascending), cutting to top-k and filling the result records.
//!
//! Ranking sorts one u64 key per node ([`RankKeys`]) rather than the 32-byte result records;
//! the key carries what a record needs (activation, id, tier, first hop), so filling the
//! records reads no node state again. Gathering the keys also zeroes each activated node's
//! activation: a node not activated in a spread then has activation 0 without a look at its
//! spread stamp, which is what the next spread's first-contact test reads.
//! On a large result ([`ExecutionPolicy::parallel_collect`]) each participant gathers and
//! sorts the keys of a share of the activated nodes, then two participants merge the sorted
//! runs from both ends at once, each filling its half of the result records: no sequential
//! sort of the whole result. Keys are distinct (the node id is part of each), so the two
//! halves meet exactly.

use super::lock;
use super::policy::ExecutionPolicy;
use super::tables::{ModelTables, RankKeys};
use crate::engine::executor::HopExecutor;
use crate::engine::prefetch::prefetch;
use crate::engine::rank;
use crate::engine::result::{ActivatedNode, SpreadResult};
use crate::engine::scratch::{plain, NodeState, SpreadScratch};

/// Gathers, ranks and cuts the result of the spread held in `s` into `out`, and counts the
/// nodes activated (before the cut).
#[inline(never)]
pub(super) fn collect(
    t: &ModelTables,
    policy: &ExecutionPolicy,
    s: &mut SpreadScratch,
    out: &mut SpreadResult,
) {
    let keys = RankKeys::for_nodes(s.states.len());
    if let Some(ex) = policy.parallel_collect(s.activated.len()) {
        gather_sort_parallel(s, keys, ex);
        let total: usize = s.participants.iter().map(|p| lock(p).keys.len()).sum();
        out.work.nodes_activated = total as u32;
        match t.config().top_k {
            Some(k) if k < total => {
                s.rank_keys.clear();
                for part in &s.participants {
                    s.rank_keys.extend_from_slice(&lock(part).keys);
                }
                cut_to_top_k(&mut s.rank_keys, k, keys);
                fill_records(t, &s.states, &s.rank_keys, keys, out);
            }
            _ => merge_records_parallel(t, s, out, total, keys, ex),
        }
        return;
    }
    gather_keys(&s.states, s.activated.as_slice(), keys, &mut s.rank_keys);
    out.work.nodes_activated = s.rank_keys.len() as u32;
    match t.config().top_k {
        Some(k) if k < s.rank_keys.len() => cut_to_top_k(&mut s.rank_keys, k, keys),
        _ => sort_ranked(&mut s.rank_keys, &mut s.rank_buf, keys),
    }
    fill_records(t, &s.states, &s.rank_keys, keys, out);
}

/// Sorts rank keys into rank order, `buf` the sort's scratch. Equal activations are rare
/// (seeds and nodes clamped at 1), so the radix passes skip the id bits below them. Among
/// the few hundred keys of a typical spread, activations that agree in their top 24 bits
/// (within 2⁻²⁴ of each other) are rare too, so the 8-bit passes also skip the lowest
/// activation digit, and each run of keys that agree above it is sorted whole afterwards:
/// three passes instead of four (warm-10k, `compare`, 100 rounds: p50 0.970 [0.952, 0.989],
/// p95 0.955 [0.931, 0.979]). With 11-bit digits (many keys, so many more near ties) the
/// activation takes three passes either way, so nothing is skipped there.
fn sort_ranked(keys: &mut Vec<u64>, buf: &mut Vec<u64>, layout: RankKeys) {
    let tie_bits = if keys.len() < rank::WIDE_DIGITS_MIN {
        NEAR_TIE_BITS
    } else {
        0
    };
    let low = layout.id_bits() + tie_bits;
    rank::sort_keys_rarely_tied_below(keys, buf, low, layout.order_bits());
}

/// The low activation bits that [`sort_ranked`]'s 8-bit radix passes leave to the tied runs.
const NEAR_TIE_BITS: u32 = 8;

/// Replaces `keys` with the `k` smallest, ascending: a partial selection, then a sort of
/// only those.
fn cut_to_top_k(keys: &mut Vec<u64>, k: usize, layout: RankKeys) {
    if k == 0 {
        keys.clear();
        return;
    }
    let order = rank::order_mask(layout.order_bits());
    keys.select_nth_unstable_by_key(k - 1, |&key| key & order);
    keys.truncate(k);
    keys.sort_unstable_by_key(|&key| key & order);
}

/// The rank keys of the nodes of `activated` with activation > 0, into `keys` (cleared
/// first), zeroing each one's activation (see the module comment). Whether a node was
/// inhibited back to 0 is data, so the append has no branch.
///
/// The caller is the only thread that touches the states of `activated` during the call.
#[inline(always)]
fn gather_keys(states: &[NodeState], activated: &[u32], layout: RankKeys, keys: &mut Vec<u64>) {
    keys.clear();
    // The branch-free append writes one slot past the last key it keeps.
    keys.reserve(activated.len() + 1);
    let base = keys.as_mut_ptr();
    let mut len = 0usize;
    for (i, &v) in activated.iter().enumerate() {
        // On a large spread each node's state is a cache miss: ask for it a few nodes ahead.
        if let Some(&ahead) = activated.get(i + GATHER_AHEAD) {
            prefetch(states.as_ptr().wrapping_add(ahead as usize));
        }
        assert!((v as usize) < states.len());
        // SAFETY: in bounds (checked above), and only this thread touches `states[v]`.
        let st = unsafe { &mut *plain(states, v) };
        let a = st.activation;
        st.activation = 0;
        // SAFETY: `len` counts the keys kept, at most the nodes seen so far, so
        // `len <= activated.len() < capacity`.
        unsafe { base.add(len).write(layout.key(a, v, st)) };
        len += (a > 0) as usize;
    }
    // SAFETY: the first `len` slots were written above.
    unsafe { keys.set_len(len) };
}

/// How many activated nodes ahead the gather prefetches their state.
const GATHER_AHEAD: usize = 8;

/// The result records of the ranked `keys`, appended to `out.nodes`.
#[inline(always)]
fn fill_records(
    t: &ModelTables,
    states: &[NodeState],
    keys: &[u64],
    layout: RankKeys,
    out: &mut SpreadResult,
) {
    // A moved copy of the layout: borrowed, its fields were reloaded at every record (the
    // compiler cannot tell them apart from the records being written).
    out.nodes.extend(keys.iter().map(move |&key| {
        // SAFETY: each key was made by `layout` from a node of `states` (`gather_keys`),
        // and the spread's hops are over.
        unsafe { t.ranked_node(states, layout, key) }
    }));
}

/// Most sorted runs a parallel collect merges; participants beyond it gather nothing.
const MAX_RUNS: usize = 64;

/// Participant `p` gathers the keys of the `p`-th contiguous share of the activated nodes
/// into its buffer and sorts them.
fn gather_sort_parallel(s: &mut SpreadScratch, layout: RankKeys, ex: &HopExecutor) {
    let activated = s.activated.as_slice();
    let states: &[NodeState] = &s.states;
    let participants = &s.participants;
    let share = activated.len().div_ceil(ex.threads().min(MAX_RUNS)).max(1);
    ex.broadcast(&|p| {
        let mut buf = lock(&participants[p]);
        let buf = &mut *buf;
        buf.keys.clear();
        if p < MAX_RUNS {
            let part = &activated
                [(p * share).min(activated.len())..((p + 1) * share).min(activated.len())];
            // Shares of `activated` are disjoint: each node's state is this participant's.
            gather_keys(states, part, layout, &mut buf.keys);
            sort_ranked(&mut buf.keys, &mut buf.key_buf, layout);
        }
    });
}

/// Two participants merge the participants' sorted runs, one from the front and one from
/// the back, each writing the result records of its half in place.
fn merge_records_parallel(
    t: &ModelTables,
    s: &mut SpreadScratch,
    out: &mut SpreadResult,
    total: usize,
    layout: RankKeys,
    ex: &HopExecutor,
) {
    // Borrowed, not locked: the scratch is borrowed mutably, so no participant runs. A
    // fixed array, so that collecting allocates nothing.
    let mut runs: [&[u64]; MAX_RUNS] = [&[]; MAX_RUNS];
    let n_runs = s.participants.len().min(MAX_RUNS);
    for (run, part) in runs.iter_mut().zip(s.participants.iter_mut()) {
        *run = &part.get_mut().unwrap_or_else(|p| p.into_inner()).keys;
    }
    let runs = &runs[..n_runs];
    let states: &[NodeState] = &s.states;
    // Written in place, not first filled with placeholders: on a large result that fill was
    // a sequential pass of its own over every record.
    debug_assert!(out.nodes.is_empty());
    out.nodes.reserve(total);
    let slots = SharedSlots(out.nodes.as_mut_ptr());
    let front = total.div_ceil(2);
    let order = rank::order_mask(layout.order_bits());
    ex.broadcast(&|p| {
        let emit = |i: usize, key: u64| {
            // SAFETY: `i < total == out.nodes.len()`; the front merge writes the indices
            // below `front` and the back merge those from `front` on, each exactly once.
            // `ranked_node`'s contract: the key was made by `layout` from a node of
            // `states`, and the participants only read the states.
            unsafe { slots.write(i, t.ranked_node(states, layout, key)) }
        };
        match p {
            0 => rank::merge_front_by(runs, order, front, emit),
            1 => rank::merge_back_by(runs, order, total - front, emit),
            _ => {}
        }
    });
    // SAFETY: the runs hold `total` keys, so the two merges wrote every index below `total`
    // (within the capacity reserved above) exactly once; a panic in either is re-raised by
    // the broadcast before this line.
    unsafe { out.nodes.set_len(total) };
}

/// The result records being filled by a parallel collect, each index by one participant.
struct SharedSlots(*mut ActivatedNode);
// SAFETY: participants write disjoint indices (see `merge_records_parallel`), and the
// broadcast's join orders the writes before the caller reads them.
unsafe impl Sync for SharedSlots {}

impl SharedSlots {
    /// # Safety
    /// `i` is in bounds of the buffer and no other participant writes or reads index `i`.
    #[inline(always)]
    unsafe fn write(&self, i: usize, node: ActivatedNode) {
        self.0.add(i).write(node)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tables::{rank_key, RankKeys};
    use super::*;
    use crate::engine::fixed::ONE;
    use crate::rng::SeededRng;

    /// Keys whose activations crowd into a few values of their top 24 bits — near ties that
    /// only the lowest activation digit orders, and exact ties that only the id orders —
    /// come out of `sort_ranked` in the order a comparison sort gives, at sizes on both
    /// sides of the switch to 11-bit digits.
    #[test]
    fn near_and_exact_ties_of_activation_come_out_in_rank_order() {
        let nodes = 50_000usize;
        let layout = RankKeys::for_nodes(nodes);
        let order = rank::order_mask(layout.order_bits());
        let mut rng = SeededRng::new(7);
        for n in [64usize, 65, 500, 8191, 8192, 20_000] {
            let mut ids: Vec<u32> = (0..nodes as u32).collect();
            for i in 0..n {
                let j = i + (rng.next_u64() as usize) % (nodes - i);
                ids.swap(i, j);
            }
            let mut keys: Vec<u64> = ids[..n]
                .iter()
                .map(|&v| {
                    let r = rng.next_u64();
                    // One of four bands 256 units wide (the lowest digit), half of the keys
                    // on an exact value shared with others.
                    let band = ONE / 2 + (r % 4) as i64 * (1 << 20);
                    let a = if r & 8 == 0 {
                        band
                    } else {
                        band + ((r >> 8) % 256) as i64
                    };
                    rank_key(a, v, layout.id_bits())
                })
                .collect();
            let mut want = keys.clone();
            want.sort_unstable_by_key(|&k| k & order);
            let mut buf = Vec::new();
            sort_ranked(&mut keys, &mut buf, layout);
            assert_eq!(keys, want, "{n} keys");
        }
    }
}
