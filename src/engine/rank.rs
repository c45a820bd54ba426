//! Ranking a spread's result: sorting one u64 key per activated node.
//!
//! A spread on warm-10k ranks hundreds of nodes per request, and a comparison sort of keys
//! whose order is close to random mispredicts about every other comparison. An LSD radix sort
//! on 8-bit digits does a fixed amount of branch-free work per key and digit, and skips the
//! digits every key shares (the high bits of small activations' complements, say).

/// Below this many keys a comparison sort is cheaper than the radix passes' fixed costs.
const RADIX_MIN: usize = 64;
/// From this many keys on, 11-bit digits (fewer passes over more buckets) win over 8-bit ones.
const WIDE_DIGITS_MIN: usize = 8192;

/// Sorts `keys` ascending, using `buf` as scratch (its contents are overwritten). Only the
/// low `bits` bits of each key may be non-zero.
pub fn sort_keys(keys: &mut Vec<u64>, buf: &mut Vec<u64>, bits: u32) {
    if keys.len() < RADIX_MIN {
        keys.sort_unstable();
        return;
    }
    if keys.len() >= WIDE_DIGITS_MIN {
        radix_passes::<11, 2048>(keys, buf, bits);
    } else {
        radix_passes::<8, 256>(keys, buf, bits);
    }
}

/// LSD passes of `DIGIT` bits (`BUCKETS` = 2^DIGIT); counts live on the stack, so sorting
/// allocates nothing once `buf` has grown to size.
fn radix_passes<const DIGIT: u32, const BUCKETS: usize>(
    keys: &mut Vec<u64>,
    buf: &mut Vec<u64>,
    bits: u32,
) {
    debug_assert_eq!(BUCKETS, 1 << DIGIT);
    let mask = (1u64 << DIGIT) - 1;
    buf.clear();
    buf.resize(keys.len(), 0);
    let mut counts = [0usize; BUCKETS];
    let mut shift = 0;
    while shift < bits {
        counts.iter_mut().for_each(|c| *c = 0);
        for &k in keys.iter() {
            counts[((k >> shift) & mask) as usize] += 1;
        }
        // Every key has the same digit here: this pass would not move anything.
        if counts.contains(&keys.len()) {
            shift += DIGIT;
            continue;
        }
        let mut sum = 0;
        for c in counts.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        for &k in keys.iter() {
            let d = ((k >> shift) & mask) as usize;
            buf[counts[d]] = k;
            counts[d] += 1;
        }
        std::mem::swap(keys, buf);
        shift += DIGIT;
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
}
