//! Ranking a spread's result: sorting one u64 key per activated node.
//!
//! A spread on warm-10k ranks hundreds of nodes per request, and a comparison sort of keys
//! whose order is close to random mispredicts about every other comparison. An LSD radix sort
//! on 8-bit digits does a fixed amount of branch-free work per key and digit, and skips the
//! digits every key shares (the high bits of small activations' complements, say).

use std::hint::select_unpredictable;

/// Below this many keys a comparison sort is cheaper than the radix passes' fixed costs.
const RADIX_MIN: usize = 64;
/// From this many keys on, 11-bit digits (fewer passes over more buckets) win over 8-bit ones.
pub const WIDE_DIGITS_MIN: usize = 8192;

/// Sorts `keys` ascending by their low `bits` bits, using `buf` as scratch (its contents are
/// overwritten). Bits above those are a payload carried along, which takes no part in the
/// order: keys must differ in their low `bits` bits (the spreader's rank keys carry a node's
/// tier and first hop there).
pub fn sort_keys(keys: &mut Vec<u64>, buf: &mut Vec<u64>, bits: u32) {
    sort_keys_rarely_tied_below(keys, buf, 0, bits)
}

/// [`sort_keys`] for keys that rarely share their bits `low..bits` (a rank key's
/// activation, above the node id that only breaks ties): the radix passes sort by those bits
/// alone — on warm-10k four 8-bit passes instead of six — and then each run of keys that do
/// share them, left in input order by the stable passes, is sorted by the bits below.
/// Same result as `sort_keys` for any keys; only the cost moves: many ties (a spread that
/// saturates hundreds of nodes at activation 1) cost a comparison sort of each run.
pub fn sort_keys_rarely_tied_below(keys: &mut Vec<u64>, buf: &mut Vec<u64>, low: u32, bits: u32) {
    let order = order_mask(bits);
    if keys.len() < RADIX_MIN {
        keys.sort_unstable_by_key(|&k| k & order);
        return;
    }
    let low = low.min(bits);
    if keys.len() >= WIDE_DIGITS_MIN {
        radix_passes::<11, 2048>(keys, buf, low, bits);
    } else {
        radix_passes::<8, 256>(keys, buf, low, bits);
    }
    if low > 0 {
        sort_tied_runs(keys, order, low);
    }
}

/// Sorts by `k & order` each run of consecutive keys that agree in their order bits from
/// `low` on. Runs are rare, so the scan is one xor and test per key, and a branch that is
/// hardly ever taken.
fn sort_tied_runs(keys: &mut [u64], order: u64, low: u32) {
    let high = order & !order_mask(low);
    let n = keys.len();
    let mut i = 1;
    while i < n {
        if (keys[i] ^ keys[i - 1]) & high != 0 {
            i += 1;
            continue;
        }
        let start = i - 1;
        let mut end = i + 1;
        while end < n && (keys[end] ^ keys[start]) & high == 0 {
            end += 1;
        }
        keys[start..end].sort_unstable_by_key(|&k| k & order);
        i = end + 1;
    }
}

/// The mask of a key's low `bits` bits, which decide its order.
#[inline(always)]
pub fn order_mask(bits: u32) -> u64 {
    if bits >= u64::BITS {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Most digits a key has (8-bit digits of a 64-bit key).
const MAX_DIGITS: usize = 8;

/// LSD passes of `DIGIT` bits (`BUCKETS` = 2^DIGIT) over bits `low..bits`: dispatches to
/// [`radix_digits`] with the digit count as a constant, so that its counting loop is
/// unrolled and only the counts it uses are zeroed.
fn radix_passes<const DIGIT: u32, const BUCKETS: usize>(
    keys: &mut Vec<u64>,
    buf: &mut Vec<u64>,
    low: u32,
    bits: u32,
) {
    debug_assert_eq!(BUCKETS, 1 << DIGIT);
    match ((bits - low).div_ceil(DIGIT) as usize).min(MAX_DIGITS) {
        0 | 1 => radix_digits::<DIGIT, BUCKETS, 1>(keys, buf, low, bits),
        2 => radix_digits::<DIGIT, BUCKETS, 2>(keys, buf, low, bits),
        3 => radix_digits::<DIGIT, BUCKETS, 3>(keys, buf, low, bits),
        4 => radix_digits::<DIGIT, BUCKETS, 4>(keys, buf, low, bits),
        5 => radix_digits::<DIGIT, BUCKETS, 5>(keys, buf, low, bits),
        6 => radix_digits::<DIGIT, BUCKETS, 6>(keys, buf, low, bits),
        7 => radix_digits::<DIGIT, BUCKETS, 7>(keys, buf, low, bits),
        _ => radix_digits::<DIGIT, BUCKETS, 8>(keys, buf, low, bits),
    }
}

/// `D` LSD passes of `DIGIT` bits from bit `low` on; counts live on the stack, so sorting
/// allocates nothing once `buf` has grown to size. The counts of every digit are taken in
/// one pass over the keys (reading the keys once instead of once per digit), and a digit
/// every key shares is skipped without a pass. `buf` is never zero-filled: each pass writes
/// every slot.
fn radix_digits<const DIGIT: u32, const BUCKETS: usize, const D: usize>(
    keys: &mut Vec<u64>,
    buf: &mut Vec<u64>,
    low: u32,
    bits: u32,
) {
    // Each digit's mask: the last one is cut at `bits`, so that a payload above takes no
    // part; the others are constants once the digit loops are unrolled.
    let top = ((1u64 << DIGIT) - 1) & (order_mask(bits) >> (low + (D as u32 - 1) * DIGIT));
    let masks: [u64; D] =
        std::array::from_fn(|d| if d + 1 == D { top } else { (1u64 << DIGIT) - 1 });
    let n = keys.len();
    buf.clear();
    buf.reserve(n);
    let mut counts = [[0u32; BUCKETS]; D];
    for &k in keys.iter() {
        // Shifted once, so that each digit's shift is a constant.
        let k = k >> low;
        for (d, c) in counts.iter_mut().enumerate() {
            c[((k >> (d as u32 * DIGIT)) & masks[d]) as usize] += 1;
        }
    }
    for (d, c) in counts.iter_mut().enumerate() {
        let (shift, mask) = (low + d as u32 * DIGIT, masks[d]);
        // Every key has the same digit here: this pass would not move anything.
        if c[((keys[0] >> shift) & mask) as usize] == n as u32 {
            continue;
        }
        let mut sum = 0;
        for c in c.iter_mut() {
            let m = *c;
            *c = sum;
            sum += m;
        }
        let dst = buf.as_mut_ptr();
        for &k in keys.iter() {
            let b = ((k >> shift) & mask) as usize;
            // SAFETY: `c[b]` starts at the number of keys with a smaller digit and is bumped
            // once per key with this digit, so it stays below `n`, within `buf`'s capacity;
            // the offsets of the `n` keys are distinct, so every slot `0..n` is written.
            unsafe { dst.add(c[b] as usize).write(k) };
            c[b] += 1;
        }
        // SAFETY: the loop above wrote all `n` slots.
        unsafe { buf.set_len(n) };
        std::mem::swap(keys, buf);
    }
}

/// Merges the sorted runs `runs` (of distinct keys) and hands `emit` the position and key
/// of each of the smallest `count` keys, ascending. With [`merge_back`] for the rest, two
/// threads merge one result from both ends at once.
pub fn merge_front(runs: &[&[u64]], count: usize, emit: impl FnMut(usize, u64)) {
    merge_front_by(runs, u64::MAX, count, emit)
}

/// [`merge_front`] of keys ordered by their bits in `order` (the rest is a payload).
pub fn merge_front_by(runs: &[&[u64]], order: u64, count: usize, mut emit: impl FnMut(usize, u64)) {
    if let [a, b] = runs {
        return merge_two_front(a, b, order, count, emit);
    }
    let mut heads = [0usize; 64];
    debug_assert!(runs.len() <= heads.len());
    for pos in 0..count {
        let mut best = usize::MAX;
        let mut key = u64::MAX;
        for (r, run) in runs.iter().enumerate() {
            if let Some(&k) = run.get(heads[r]) {
                if best == usize::MAX || k & order < key & order {
                    best = r;
                    key = k;
                }
            }
        }
        if best == usize::MAX {
            return;
        }
        heads[best] += 1;
        emit(pos, key);
    }
}

/// [`merge_front_by`] of two runs (a two-thread collect's), without a branch on the keys:
/// which run holds the next key is a coin flip, and a mispredicted branch per key cost more
/// than the rest of the merge. (The branches on a run running out go one way until the end.)
fn merge_two_front(
    a: &[u64],
    b: &[u64],
    order: u64,
    count: usize,
    mut emit: impl FnMut(usize, u64),
) {
    let (mut i, mut j) = (0usize, 0usize);
    for pos in 0..count.min(a.len() + b.len()) {
        let (x, y) = (a.get(i).copied(), b.get(j).copied());
        let take_a = match (x, y) {
            (Some(x), Some(y)) => x & order < y & order,
            (x, _) => x.is_some(),
        };
        let key = select_unpredictable(take_a, x, y).unwrap_or_default();
        i += take_a as usize;
        j += !take_a as usize;
        emit(pos, key);
    }
}

/// Merges the sorted runs `runs` (of distinct keys) from the back and hands `emit` the
/// position and key of each of the largest `count` keys, descending (positions counted in the
/// whole merged order).
pub fn merge_back(runs: &[&[u64]], count: usize, emit: impl FnMut(usize, u64)) {
    merge_back_by(runs, u64::MAX, count, emit)
}

/// [`merge_back`] of keys ordered by their bits in `order` (the rest is a payload).
pub fn merge_back_by(runs: &[&[u64]], order: u64, count: usize, mut emit: impl FnMut(usize, u64)) {
    if let [a, b] = runs {
        return merge_two_back(a, b, order, count, emit);
    }
    let total: usize = runs.iter().map(|r| r.len()).sum();
    let mut tails = [0usize; 64];
    debug_assert!(runs.len() <= tails.len());
    for (t, run) in tails.iter_mut().zip(runs) {
        *t = run.len();
    }
    for i in 0..count.min(total) {
        let mut best = usize::MAX;
        let mut key = 0;
        for (r, run) in runs.iter().enumerate() {
            if tails[r] > 0 {
                let k = run[tails[r] - 1];
                if best == usize::MAX || k & order > key & order {
                    best = r;
                    key = k;
                }
            }
        }
        tails[best] -= 1;
        emit(total - 1 - i, key);
    }
}

/// [`merge_back_by`] of two runs, without a branch on the keys (see [`merge_two_front`]).
fn merge_two_back(
    a: &[u64],
    b: &[u64],
    order: u64,
    count: usize,
    mut emit: impl FnMut(usize, u64),
) {
    let total = a.len() + b.len();
    let (mut i, mut j) = (a.len(), b.len());
    for n in 0..count.min(total) {
        let (x, y) = (
            i.checked_sub(1).map(|i| a[i]),
            j.checked_sub(1).map(|j| b[j]),
        );
        let take_a = match (x, y) {
            (Some(x), Some(y)) => x & order > y & order,
            (x, _) => x.is_some(),
        };
        let key = select_unpredictable(take_a, x, y).unwrap_or_default();
        i -= take_a as usize;
        j -= !take_a as usize;
        emit(total - 1 - n, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    #[test]
    fn matches_a_comparison_sort() {
        let mut rng = SeededRng::new(9);
        for len in [0usize, 1, 5, 63, 64, 65, 500, 5000, 8192, 20_000] {
            for bits in [8u32, 20, 46, 64] {
                let mask = if bits == 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                };
                let mut keys: Vec<u64> = (0..len).map(|_| rng.next_u64() & mask).collect();
                // Some duplicates and shared high digits.
                for i in (0..len).step_by(7) {
                    keys[i] = keys[i / 2];
                }
                let mut want = keys.clone();
                want.sort_unstable();
                let mut buf = Vec::new();
                sort_keys(&mut keys, &mut buf, bits);
                assert_eq!(keys, want, "len {len} bits {bits}");
            }
        }
    }

    #[test]
    fn a_payload_above_the_order_bits_takes_no_part_and_rides_along() {
        let mut rng = SeededRng::new(11);
        for len in [5usize, 63, 64, 500, 9000] {
            for bits in [20u32, 46, 52] {
                let order = order_mask(bits);
                // Distinct order bits (the index is part of them), random payload above.
                let keys: Vec<u64> = (0..len as u64)
                    .map(|i| (rng.next_u64() << 14 | i) & order | rng.next_u64() << bits.max(54))
                    .collect();
                let mut want = keys.clone();
                want.sort_unstable_by_key(|&k| k & order);
                let mut got = keys.clone();
                sort_keys(&mut got, &mut Vec::new(), bits);
                assert_eq!(got, want, "len {len} bits {bits}");
                // Merging two sorted halves by the order bits, from both ends.
                let (a, b): (Vec<u64>, Vec<u64>) = want.iter().partition(|&&k| k % 3 == 0);
                let runs = [a.as_slice(), b.as_slice()];
                let mut merged = vec![0u64; len];
                merge_front_by(&runs, order, len / 2, |i, k| merged[i] = k);
                merge_back_by(&runs, order, len - len / 2, |i, k| merged[i] = k);
                assert_eq!(merged, want, "merge len {len} bits {bits}");
            }
        }
    }

    /// Keys whose bits above `low` are often shared (few distinct activations), with a
    /// payload above the order bits: the radix passes over the upper bits and the sorting of
    /// tied runs by the lower ones give the order a full comparison sort gives.
    #[test]
    fn sorting_above_the_tie_bits_then_each_tied_run_gives_the_full_order() {
        let mut rng = SeededRng::new(17);
        for len in [0usize, 1, 2, 63, 64, 500, 767, 768, 769, 5000, 8192, 9000] {
            for (low, bits) in [(0u32, 46u32), (14, 46), (20, 52), (46, 46)] {
                let order = order_mask(bits);
                for distinct in [1u64, 3, 50, u64::MAX] {
                    // Distinct order bits: a shuffled index fills the bits below `low` (with
                    // `low` 0, bits 32 on), so that tied keys do not arrive in order.
                    let mut index: Vec<u64> = (0..len as u64).collect();
                    for i in (1..len).rev() {
                        index.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
                    }
                    let keys: Vec<u64> = index
                        .iter()
                        .map(|&i| {
                            let upper = (rng.next_u64() % distinct) << low;
                            let lower = if low >= 14 { i } else { i << 32 };
                            (upper | lower) & order | rng.next_u64() << 54.max(bits)
                        })
                        .collect();
                    let mut want = keys.clone();
                    want.sort_unstable_by_key(|&k| k & order);
                    let mut got = keys.clone();
                    sort_keys_rarely_tied_below(&mut got, &mut Vec::new(), low, bits);
                    assert_eq!(
                        got.iter().map(|k| k & order).collect::<Vec<_>>(),
                        want.iter().map(|k| k & order).collect::<Vec<_>>(),
                        "len {len} low {low} bits {bits} distinct {distinct}"
                    );
                    // The payload travels with its key.
                    assert_eq!(
                        got, want,
                        "payload: len {len} low {low} distinct {distinct}"
                    );
                }
            }
        }
    }

    #[test]
    fn merging_from_both_ends_gives_the_sorted_whole() {
        let mut rng = SeededRng::new(3);
        for runs in [1usize, 2, 3, 5] {
            let mut all: Vec<u64> = (0..997).map(|_| rng.next_u64() >> 8).collect();
            all.sort_unstable();
            all.dedup();
            let mut parts: Vec<Vec<u64>> = vec![Vec::new(); runs];
            for (i, &k) in all.iter().enumerate() {
                parts[(k as usize ^ i) % runs].push(k);
            }
            let refs: Vec<&[u64]> = parts.iter().map(|p| p.as_slice()).collect();
            for front in [0, 1, all.len() / 2, all.len()] {
                let mut got = vec![0u64; all.len()];
                merge_front(&refs, front, |i, k| got[i] = k);
                merge_back(&refs, all.len() - front, |i, k| got[i] = k);
                assert_eq!(got, all, "runs {runs} front {front}");
            }
        }
    }
}
