//! Lists the marked entries of a byte array of marks: the scan that turns a dense hop's
//! one-byte-per-node marks back into a list of the nodes it reached.
//!
//! A scan reads every node of the graph, so it is written for width: 16 marks per step with
//! AVX-512 (a compress of their ids by the mask of nonzero marks), 8 with AVX2 (a permute
//! from a table of 256 lane orders), 8 per word in portable code; none branches on the marks
//! (a branch per word on "any mark here" mispredicted at every density between sparse and
//! full). Every kernel gives the same list, ascending, and zeroes the marks it read. The
//! kernel is chosen once per process from what the CPU has ([`MarkScan::best`]).

/// The kernels of [`list_marked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkScan {
    /// 16 marks per step (x86-64 with AVX-512F and POPCNT, compilers from 1.89 on). Also
    /// asks for AVX-512BW and VL, which the dense filter that comes with this scan uses.
    Avx512,
    /// 8 marks per step (x86-64 with AVX2 and POPCNT).
    Avx2,
    /// 8 marks per 64-bit word; runs everywhere.
    Portable,
}

/// Marks per step of the widest kernel: a mark array's length is a multiple of this, and a
/// list has this many slots of slack past its last possible entry.
pub const MARK_BLOCK: usize = 16;

impl MarkScan {
    pub const ALL: [MarkScan; 3] = [MarkScan::Avx512, MarkScan::Avx2, MarkScan::Portable];

    /// True if this CPU (and this compiler) can run the kernel.
    pub fn available(self) -> bool {
        match self {
            MarkScan::Portable => true,
            #[cfg(target_arch = "x86_64")]
            // POPCNT too: without it, the count of kept lanes each step was a dozen
            // instructions of table lookups (the crate is built for baseline x86-64). BW
            // and VL for the dense filter's byte masks, which this kernel chooses.
            MarkScan::Avx512 => {
                crate::simd::avx512f()
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("popcnt")
            }
            #[cfg(target_arch = "x86_64")]
            MarkScan::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("popcnt")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The widest kernel this CPU can run.
    pub fn best() -> MarkScan {
        MarkScan::ALL
            .into_iter()
            .find(|k| k.available())
            .unwrap_or(MarkScan::Portable)
    }
}

/// Room a list needs for [`list_marked`] over `marks` marks: one slot per mark and the
/// widest step's slack.
pub fn list_capacity(marks: usize) -> usize {
    marks + MARK_BLOCK
}

/// Writes the index of every nonzero mark of `marks` into `list`, ascending, zeroes the
/// marks, and returns how many there were. Marks are 0 or 1.
///
/// # Panics
/// If `marks.len()` is not a multiple of [`MARK_BLOCK`], `list` has fewer than
/// [`list_capacity`]`(marks.len())` slots, or `kernel` is not available on this CPU.
pub fn list_marked(kernel: MarkScan, marks: &mut [u8], list: &mut [u32]) -> usize {
    assert!(marks.len().is_multiple_of(MARK_BLOCK) && list.len() >= list_capacity(marks.len()));
    assert!(
        kernel.available(),
        "{kernel:?} is not available on this CPU"
    );
    assert!(u32::try_from(marks.len()).is_ok());
    match kernel {
        MarkScan::Portable => list_portable(marks, list),
        // SAFETY: checked above: the CPU has the kernel's features, the lengths fit.
        #[cfg(target_arch = "x86_64")]
        MarkScan::Avx512 => unsafe { x86::list_avx512(marks, list) },
        #[cfg(target_arch = "x86_64")]
        MarkScan::Avx2 => unsafe { x86::list_avx2(marks, list) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("checked by available()"),
    }
}

/// Eight marks per word: each index written to the next slot, which is kept by the mark's
/// value, so nothing branches on a mark.
fn list_portable(marks: &mut [u8], list: &mut [u32]) -> usize {
    let mut len = 0usize;
    for (w, word) in marks.chunks_exact_mut(8).enumerate() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        word.fill(0);
        let bits = u64::from_le_bytes(bytes);
        let base = (w * 8) as u32;
        for j in 0..8u32 {
            // `len` is at most the marks before this one: within `list` (checked by the
            // caller: one slot per mark and more).
            list[len] = base + j;
            len += ((bits >> (8 * j)) & 1) as usize;
        }
    }
    len
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Stands in for the kernel on compilers that cannot build it; never called, since
    /// `available()` is false there.
    #[rustversion::before(1.89)]
    pub unsafe fn list_avx512(_: &mut [u8], _: &mut [u32]) -> usize {
        unreachable!("the AVX-512 kernel is not built with this compiler")
    }

    /// # Safety
    /// The CPU has AVX-512F and POPCNT; `marks.len()` is a multiple of 16 and below 2³²;
    /// `list` has `marks.len() + 16` slots.
    #[rustversion::since(1.89)]
    #[allow(clippy::incompatible_msrv)]
    #[target_feature(enable = "avx512f,popcnt")]
    pub unsafe fn list_avx512(marks: &mut [u8], list: &mut [u32]) -> usize {
        let (m, out) = (marks.as_mut_ptr(), list.as_mut_ptr());
        let mut len = 0usize;
        let mut ids = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let step = _mm512_set1_epi32(16);
        for i in (0..marks.len()).step_by(16) {
            // SAFETY: `i + 16 <= marks.len()`; `len <= i`, so the 16 slots written from
            // `len` on are within the `marks.len() + 16` of `list`.
            unsafe {
                let p = m.add(i).cast::<__m128i>();
                let v = _mm512_cvtepu8_epi32(_mm_loadu_si128(p));
                _mm_storeu_si128(p, _mm_setzero_si128());
                let k = _mm512_test_epi32_mask(v, v);
                let kept = _mm512_maskz_compress_epi32(k, ids);
                _mm512_storeu_si512(out.add(len).cast(), kept);
                len += k.count_ones() as usize;
            }
            ids = _mm512_add_epi32(ids, step);
        }
        len
    }

    /// For each 8-bit mask, the lanes of its set bits, in order, one per byte (the rest 0):
    /// the permutation that moves the kept ids of 8 to the front.
    const LANES: [u64; 256] = {
        let mut t = [0u64; 256];
        let mut m = 0;
        while m < 256 {
            let (mut packed, mut at, mut lane) = (0u64, 0, 0);
            while lane < 8 {
                if m >> lane & 1 == 1 {
                    packed |= (lane as u64) << (8 * at);
                    at += 1;
                }
                lane += 1;
            }
            t[m] = packed;
            m += 1;
        }
        t
    };

    /// # Safety
    /// The CPU has AVX2 and POPCNT; `marks.len()` is a multiple of 8 and below 2³²; `list`
    /// has `marks.len() + 8` slots.
    #[target_feature(enable = "avx2,popcnt")]
    pub unsafe fn list_avx2(marks: &mut [u8], list: &mut [u32]) -> usize {
        let (m, out) = (marks.as_mut_ptr(), list.as_mut_ptr());
        let mut len = 0usize;
        let mut ids = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let step = _mm256_set1_epi32(8);
        let zero = _mm_setzero_si128();
        for i in (0..marks.len()).step_by(8) {
            // SAFETY: `i + 8 <= marks.len()`; `len <= i`, so the 8 slots written from `len`
            // on are within the `marks.len() + 8` of `list`.
            unsafe {
                let p = m.add(i);
                let word = p.cast::<u64>().read_unaligned();
                p.cast::<u64>().write_unaligned(0);
                let bytes = _mm_cvtsi64_si128(word as i64);
                let k = (_mm_movemask_epi8(_mm_cmpgt_epi8(bytes, zero)) & 0xFF) as usize;
                let lanes = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(LANES[k] as i64));
                let kept = _mm256_permutevar8x32_epi32(ids, lanes);
                _mm256_storeu_si256(out.add(len).cast(), kept);
                len += k.count_ones() as usize;
            }
            ids = _mm256_add_epi32(ids, step);
        }
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    /// The marks at density `p` (in 1/256) of `n` nodes, rounded up to whole blocks.
    fn marks(n: usize, p: u32, seed: u64) -> Vec<u8> {
        let mut rng = SeededRng::new(seed);
        let mut m = vec![0u8; n.next_multiple_of(MARK_BLOCK)];
        for x in m.iter_mut().take(n) {
            *x = u8::from((rng.next_u64() & 255) < u64::from(p));
        }
        m
    }

    #[test]
    fn every_kernel_lists_the_marked_nodes_ascending_and_clears_them() {
        for (n, p) in [
            (0, 0),
            (16, 256),
            (37, 0),
            (1000, 3),
            (1000, 100),
            (10_000, 250),
        ] {
            let m = marks(n, p, n as u64 + u64::from(p));
            let want: Vec<u32> = (0..m.len() as u32)
                .filter(|&i| m[i as usize] == 1)
                .collect();
            for kernel in MarkScan::ALL.into_iter().filter(|k| k.available()) {
                let mut mk = m.clone();
                let mut list = vec![u32::MAX; list_capacity(mk.len())];
                let len = list_marked(kernel, &mut mk, &mut list);
                assert_eq!(
                    &list[..len],
                    &want[..],
                    "{kernel:?}, {n} nodes, density {p}"
                );
                assert!(mk.iter().all(|&x| x == 0), "{kernel:?} left marks set");
            }
        }
    }

    #[test]
    fn the_best_kernel_is_available() {
        assert!(MarkScan::best().available());
    }
}
