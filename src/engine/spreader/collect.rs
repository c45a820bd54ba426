//! The end of a spread: gathering the nodes with activation > 0, ranking them (activation
//! descending, then id ascending), cutting to top-k and filling the result records.
//!
//! Ranking sorts one u64 key per node ([`rank_key`]) rather than the 32-byte result records.
//! On a large result ([`ExecutionPolicy::parallel_collect`]) the gathering of keys and the
//! filling of records run on the hop executor too; the sort stays on the calling thread.

use super::lock;
use super::policy::{ExecutionPolicy, APPLY_BATCH};
use super::tables::{id_bits, key_node, rank_key, ModelTables};
use crate::engine::executor::{BatchCursor, HopExecutor};
use crate::engine::rank;
use crate::engine::result::{ActivatedNode, SpreadResult};
use crate::engine::scratch::{NodeState, SpreadScratch};
use crate::graph::Tier;

/// Gathers, ranks and cuts the result of the spread held in `s` into `out`, and counts the
/// nodes activated (before the cut).
#[inline(never)]
pub(super) fn collect(
    t: &ModelTables,
    policy: &ExecutionPolicy,
    s: &mut SpreadScratch,
    out: &mut SpreadResult,
) {
    let id_bits = id_bits(s.states.len());
    let parallel = policy.parallel_collect(s.activated.len());
    s.rank_keys.clear();
    match parallel {
        None => {
            for &v in s.activated.iter() {
                let a = s.states[v as usize].activation();
                if a > 0 {
                    s.rank_keys.push(rank_key(a, v, id_bits));
                }
            }
        }
        Some(ex) => gather_keys_parallel(s, id_bits, ex),
    }
    out.work.nodes_activated = s.rank_keys.len() as u32;
    match t.config().top_k {
        Some(k) if k < s.rank_keys.len() => {
            s.rank_keys.select_nth_unstable(k);
            s.rank_keys.truncate(k);
            s.rank_keys.sort_unstable();
        }
        _ => rank::sort_keys(&mut s.rank_keys, &mut s.rank_buf, 32 + id_bits),
    }
    match parallel {
        None => {
            for &key in s.rank_keys.iter() {
                out.nodes
                    .push(t.ranked_node(&s.states, key_node(key, id_bits)));
            }
        }
        Some(ex) => fill_records_parallel(t, s, out, id_bits, ex),
    }
}

/// Keys of the nodes with activation > 0, gathered by all participants.
fn gather_keys_parallel(s: &mut SpreadScratch, id_bits: u32, ex: &HopExecutor) {
    let activated = &s.activated;
    let states: &[NodeState] = &s.states;
    let participants = &s.participants;
    let cursor = BatchCursor::new(activated.len().div_ceil(APPLY_BATCH));
    ex.broadcast(&|p| {
        let mut buf = lock(&participants[p]);
        buf.keys.clear();
        while let Some(b) = cursor.take() {
            for &v in &activated[b * APPLY_BATCH..((b + 1) * APPLY_BATCH).min(activated.len())] {
                let a = states[v as usize].activation();
                if a > 0 {
                    buf.keys.push(rank_key(a, v, id_bits));
                }
            }
        }
    });
    for part in &s.participants {
        s.rank_keys.extend_from_slice(&lock(part).keys);
    }
}

/// The result records of the ranked keys, filled by all participants in place.
fn fill_records_parallel(
    t: &ModelTables,
    s: &SpreadScratch,
    out: &mut SpreadResult,
    id_bits: u32,
    ex: &HopExecutor,
) {
    let keys = &s.rank_keys;
    let states: &[NodeState] = &s.states;
    let placeholder = ActivatedNode {
        id: 0,
        activation: 0,
        confidence: 0.0,
        first_hop: 0,
        tier: Tier::Hot,
    };
    out.nodes.resize(keys.len(), placeholder);
    let slots = SharedSlots(out.nodes.as_mut_ptr());
    let cursor = BatchCursor::new(keys.len().div_ceil(APPLY_BATCH));
    ex.broadcast(&|_| {
        while let Some(b) = cursor.take() {
            let start = b * APPLY_BATCH;
            let batch = &keys[start..(start + APPLY_BATCH).min(keys.len())];
            for (i, &key) in (start..).zip(batch) {
                let node = t.ranked_node(states, key_node(key, id_bits));
                // SAFETY: `i < keys.len() == out.nodes.len()`, and the cursor hands each
                // batch (so each index) to exactly one participant.
                unsafe { slots.write(i, node) };
            }
        }
    });
}

/// The result records being filled by a parallel collect, each index by one participant.
struct SharedSlots(*mut ActivatedNode);
// SAFETY: participants write disjoint indices (see `fill_records_parallel`), and the
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
