//! Exact cosine top-k over all rows: the seeding step of recall (DESIGN §7).
//!
//! Rows are unit vectors, so cosine similarity is a dot product. The scan is memory-bound
//! (10k × 768 f32 is 30 MB), so the kernels aim to read each row once at full bandwidth and do
//! nothing else in the inner loop: scores are computed a block at a time into a small buffer,
//! and only scores that beat the current k-th best touch the bounded min-heap, which is how
//! top-k avoids sorting all n.
//!
//! Kernels are chosen at run time ([`Kernel::best`]): AVX-512F, AVX2+FMA, or a portable one,
//! and each can be forced for tests ([`top_k_with`]). They sum in different orders, so their
//! scores differ in the last bits. The stated bound ([`score_bound`]) holds for every kernel
//! against the exact (f64) dot product of the stored rows: for unit vectors, with `dim`
//! products each rounded at most once and every summation path at most `dim` additions long,
//! `|s − exact| ≤ (dim + 2)·2⁻²⁴`. Two kernels therefore agree within twice that, and their
//! rankings differ only between scores that close (near-ties). Within one kernel the score of a
//! row does not depend on where it sits in a block, so equal rows score bit-identically and
//! ties break by lower id.

use super::Embeddings;
use std::time::Instant;

/// A similarity kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// 16 lanes of f32 with FMA (x86-64 with AVX-512F).
    Avx512,
    /// 8 lanes of f32 with FMA (x86-64 with AVX2 and FMA).
    Avx2Fma,
    /// Plain Rust with eight independent partial sums; runs everywhere.
    Portable,
}

impl Kernel {
    pub const ALL: [Kernel; 3] = [Kernel::Avx512, Kernel::Avx2Fma, Kernel::Portable];

    /// True if this CPU can run the kernel.
    pub fn available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => crate::simd::avx512f(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest kernel this CPU can run.
    pub fn best() -> Kernel {
        Kernel::ALL
            .into_iter()
            .find(|k| k.available())
            .unwrap_or(Kernel::Portable)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512",
            Kernel::Avx2Fma => "avx2+fma",
            Kernel::Portable => "portable",
        }
    }

    /// `out[i] = rows[i·dim..][..dim] · cue` for every `i < out.len()`.
    fn dots(self, rows: &[f32], dim: usize, cue: &[f32], out: &mut [f32]) {
        assert!(rows.len() >= out.len() * dim && cue.len() == dim);
        match self {
            // SAFETY: the slices were checked above; `top_k_with` checks `available()`, so
            // the CPU has the kernel's features.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { x86::dots_avx512(rows, dim, cue, out) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => unsafe { x86::dots_avx2(rows, dim, cue, out) },
            _ => dots_portable(rows, dim, cue, out),
        }
    }
}

/// The bound on `|score − exact dot product|` of every kernel, for unit rows and a unit cue
/// (see the module documentation).
pub fn score_bound(dim: usize) -> f32 {
    (dim as f32 + 2.0) * f32::EPSILON / 2.0
}

/// Rows scored per kernel call: 1 KB of scores, small enough to stay in L1 beside the cue.
const BLOCK: usize = 256;

/// The `k` rows most similar to `cue` (a unit vector of `emb.dim()` components), with their
/// scores, ranked by score descending then id ascending, using the fastest kernel.
/// `out` is cleared first; its capacity is reused.
pub fn top_k(emb: &Embeddings, cue: &[f32], k: usize, out: &mut Vec<(u32, f32)>) {
    top_k_with(Kernel::best(), emb, cue, k, out)
}

/// [`top_k`] with a chosen kernel. Panics if the kernel is not [`Kernel::available`] or
/// `cue.len() != emb.dim()` (callers check both once, not per request).
pub fn top_k_with(
    kernel: Kernel,
    emb: &Embeddings,
    cue: &[f32],
    k: usize,
    out: &mut Vec<(u32, f32)>,
) {
    assert!(kernel.available(), "kernel {} not available", kernel.name());
    assert_eq!(cue.len(), emb.dim(), "cue has the wrong dimension");
    out.clear();
    let n = emb.len();
    let k = k.min(n);
    if k == 0 {
        return;
    }
    let dim = emb.dim();
    let rows = emb.as_slice();
    let mut scores = [0f32; BLOCK];
    let mut best = BoundedTopK::new(out, k);
    for start in (0..n).step_by(BLOCK) {
        let len = BLOCK.min(n - start);
        kernel.dots(&rows[start * dim..], dim, cue, &mut scores[..len]);
        best.offer_block(start as u32, &scores[..len]);
    }
    best.into_slice().sort_unstable_by(ranked);
}

/// Score descending, then id ascending: the order of every ranked list of hits.
pub fn ranked(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// The best `k` of a stream of scored ids, offered in increasing id order: a bounded min-heap
/// whose root is the worst kept, so a score that does not beat it costs one comparison and
/// the whole stream is never sorted.
pub struct BoundedTopK<'a> {
    heap: &'a mut Vec<(u32, f32)>,
    k: usize,
    threshold: f32,
}

impl<'a> BoundedTopK<'a> {
    /// Keeps the best `k` in `heap` (cleared first; its capacity is reused).
    pub fn new(heap: &'a mut Vec<(u32, f32)>, k: usize) -> Self {
        heap.clear();
        BoundedTopK {
            heap,
            k,
            threshold: f32::NEG_INFINITY,
        }
    }

    /// Offers ids `first..first + scores.len()` with their scores.
    #[inline]
    pub fn offer_block(&mut self, first: u32, scores: &[f32]) {
        if self.k == 0 {
            return;
        }
        // Filling first, then a loop that only compares with a threshold kept in a register:
        // once the heap is full nearly every score fails that one comparison.
        let mut j = 0;
        while self.heap.len() < self.k && j < scores.len() {
            self.heap.push((first + j as u32, scores[j]));
            let last = self.heap.len() - 1;
            sift_up(self.heap, last);
            if self.heap.len() == self.k {
                self.threshold = self.heap[0].1;
            }
            j += 1;
        }
        let mut threshold = self.threshold;
        for (i, &s) in scores.iter().enumerate().skip(j) {
            if s > threshold {
                // Ids arrive in increasing order, so an equal score is never better.
                self.heap[0] = (first + i as u32, s);
                sift_down(self.heap, 0);
                threshold = self.heap[0].1;
            }
        }
        self.threshold = threshold;
    }

    /// What was kept, in heap order.
    pub fn into_slice(self) -> &'a mut Vec<(u32, f32)> {
        self.heap
    }
}

/// True if `a` ranks below `b`.
#[inline]
fn worse(a: (u32, f32), b: (u32, f32)) -> bool {
    match a.1.total_cmp(&b.1) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => a.0 > b.0,
    }
}

fn sift_up(h: &mut [(u32, f32)], mut i: usize) {
    while i > 0 {
        let p = (i - 1) / 2;
        if !worse(h[i], h[p]) {
            break;
        }
        h.swap(i, p);
        i = p;
    }
}

fn sift_down(h: &mut [(u32, f32)], mut i: usize) {
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut m = i;
        if l < h.len() && worse(h[l], h[m]) {
            m = l;
        }
        if r < h.len() && worse(h[r], h[m]) {
            m = r;
        }
        if m == i {
            return;
        }
        h.swap(i, m);
        i = m;
    }
}

/// Eight partial sums, one per lane of a chunk of eight, added pairwise at the end: a fixed
/// order the compiler may vectorise without changing a bit.
fn dots_portable(rows: &[f32], dim: usize, cue: &[f32], out: &mut [f32]) {
    for (i, o) in out.iter_mut().enumerate() {
        let row = &rows[i * dim..(i + 1) * dim];
        let mut acc = [0f32; 8];
        let mut rc = row.chunks_exact(8);
        let mut cc = cue.chunks_exact(8);
        for (r, c) in (&mut rc).zip(&mut cc) {
            for l in 0..8 {
                acc[l] += r[l] * c[l];
            }
        }
        let mut tail = 0f32;
        for (r, c) in rc.remainder().iter().zip(cc.remainder()) {
            tail += r * c;
        }
        let s4 = [
            acc[0] + acc[4],
            acc[1] + acc[5],
            acc[2] + acc[6],
            acc[3] + acc[7],
        ];
        *o = ((s4[0] + s4[2]) + (s4[1] + s4[3])) + tail;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The x86-64 kernels. Each reads one row after another (a single sequential stream, which
    //! the hardware prefetcher follows best) and splits a row over four accumulators, so four
    //! independent FMA chains hide the FMA latency. Every row goes through the same operation
    //! order, so a row's score never depends on its position.

    use std::arch::x86_64::*;

    /// Stands in for the kernel on compilers that cannot build it; never called, since
    /// `available()` is false there.
    #[rustversion::before(1.89)]
    pub unsafe fn dots_avx512(_: &[f32], _: usize, _: &[f32], _: &mut [f32]) {
        unreachable!("the AVX-512 kernel is not built with this compiler")
    }

    /// # Safety
    /// The CPU must support AVX-512F; `rows.len() >= out.len()·dim`, `cue.len() == dim`.
    // Clippy checks against the MSRV; this item exists only on compilers ≥ 1.89.
    #[rustversion::since(1.89)]
    #[allow(clippy::incompatible_msrv)]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dots_avx512(rows: &[f32], dim: usize, cue: &[f32], out: &mut [f32]) {
        const W: usize = 16;
        let full = dim / W;
        let quads = full / 4 * 4;
        let rem = dim % W;
        let mask: __mmask16 = ((1u32 << rem) - 1) as u16;
        let q = cue.as_ptr();
        for (i, o) in out.iter_mut().enumerate() {
            // SAFETY: row `i < out.len()` lies in `rows`; every offset is below `dim`, and
            // the masked loads touch only the `rem` lanes the mask selects.
            unsafe {
                let p = rows.as_ptr().add(i * dim);
                let ld = |c: usize| _mm512_loadu_ps(p.add(c * W));
                let lq = |c: usize| _mm512_loadu_ps(q.add(c * W));
                let mut a = [_mm512_setzero_ps(); 4];
                let mut c = 0;
                while c < quads {
                    a[0] = _mm512_fmadd_ps(ld(c), lq(c), a[0]);
                    a[1] = _mm512_fmadd_ps(ld(c + 1), lq(c + 1), a[1]);
                    a[2] = _mm512_fmadd_ps(ld(c + 2), lq(c + 2), a[2]);
                    a[3] = _mm512_fmadd_ps(ld(c + 3), lq(c + 3), a[3]);
                    c += 4;
                }
                for (j, c) in (quads..full).enumerate() {
                    a[j] = _mm512_fmadd_ps(ld(c), lq(c), a[j]);
                }
                if rem > 0 {
                    let x = _mm512_maskz_loadu_ps(mask, p.add(full * W));
                    let y = _mm512_maskz_loadu_ps(mask, q.add(full * W));
                    a[3] = _mm512_fmadd_ps(x, y, a[3]);
                }
                let s = _mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3]));
                *o = _mm512_reduce_add_ps(s);
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA; `rows.len() >= out.len()·dim`, `cue.len() == dim`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dots_avx2(rows: &[f32], dim: usize, cue: &[f32], out: &mut [f32]) {
        const W: usize = 8;
        let full = dim / W;
        let quads = full / 4 * 4;
        let q = cue.as_ptr();
        for (i, o) in out.iter_mut().enumerate() {
            // SAFETY: row `i < out.len()` lies in `rows`, and the vector loads stop at
            // `full·8 ≤ dim`.
            unsafe {
                let p = rows.as_ptr().add(i * dim);
                let ld = |c: usize| _mm256_loadu_ps(p.add(c * W));
                let lq = |c: usize| _mm256_loadu_ps(q.add(c * W));
                let mut a = [_mm256_setzero_ps(); 4];
                let mut c = 0;
                while c < quads {
                    a[0] = _mm256_fmadd_ps(ld(c), lq(c), a[0]);
                    a[1] = _mm256_fmadd_ps(ld(c + 1), lq(c + 1), a[1]);
                    a[2] = _mm256_fmadd_ps(ld(c + 2), lq(c + 2), a[2]);
                    a[3] = _mm256_fmadd_ps(ld(c + 3), lq(c + 3), a[3]);
                    c += 4;
                }
                for (j, c) in (quads..full).enumerate() {
                    a[j] = _mm256_fmadd_ps(ld(c), lq(c), a[j]);
                }
                let s = _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3]));
                let mut t = hsum256(s);
                let row = &rows[i * dim..(i + 1) * dim];
                for (x, y) in row[full * W..].iter().zip(&cue[full * W..]) {
                    t += x * y;
                }
                *o = t;
            }
        }
    }

    /// Sum of the eight lanes in a fixed order.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum256(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }
}

/// One timed pass of the scan and of a plain read over the same rows, for the bench's
/// "ns per vector, GB/s beside a sequential read" figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanTiming {
    pub kernel: Kernel,
    pub vectors: usize,
    pub bytes: u64,
    /// Best of the repetitions, in nanoseconds: one full [`top_k_with`].
    pub scan_ns: u64,
    /// Best of the repetitions, in nanoseconds: one [`sequential_read`] of the same rows.
    pub read_ns: u64,
}

impl ScanTiming {
    pub fn ns_per_vector(&self) -> f64 {
        self.scan_ns as f64 / self.vectors.max(1) as f64
    }

    pub fn scan_gbps(&self) -> f64 {
        self.bytes as f64 / self.scan_ns.max(1) as f64
    }

    pub fn read_gbps(&self) -> f64 {
        self.bytes as f64 / self.read_ns.max(1) as f64
    }

    /// The scan's share of the plain read's bandwidth.
    pub fn ratio(&self) -> f64 {
        self.scan_gbps() / self.read_gbps()
    }
}

/// Times `reps` full top-`k` scans with `cue` and `reps` plain sequential reads of the same
/// bytes, interleaved so both see the same machine, and keeps the best of each (the least
/// disturbed by other work on the machine).
pub fn scan_bandwidth(
    emb: &Embeddings,
    kernel: Kernel,
    cue: &[f32],
    k: usize,
    reps: usize,
) -> ScanTiming {
    let mut out = Vec::with_capacity(k);
    let (mut scan_ns, mut read_ns) = (u64::MAX, u64::MAX);
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        top_k_with(kernel, emb, std::hint::black_box(cue), k, &mut out);
        std::hint::black_box(&out);
        scan_ns = scan_ns.min(t.elapsed().as_nanos() as u64);

        let t = Instant::now();
        std::hint::black_box(sequential_read(std::hint::black_box(emb.as_slice())));
        read_ns = read_ns.min(t.elapsed().as_nanos() as u64);
    }
    ScanTiming {
        kernel,
        vectors: emb.len(),
        bytes: emb.bytes(),
        scan_ns,
        read_ns,
    }
}

/// A plain sequential read of `data`: the wrapping sum of its bit patterns in sixteen
/// independent lanes (so the compiler vectorises it and nothing but the loads limits it).
pub fn sequential_read(data: &[f32]) -> u32 {
    let mut acc = [0u32; 16];
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        for l in 0..16 {
            acc[l] = acc[l].wrapping_add(c[l].to_bits());
        }
    }
    let mut s = chunks
        .remainder()
        .iter()
        .fold(0u32, |s, x| s.wrapping_add(x.to_bits()));
    for a in acc {
        s = s.wrapping_add(a);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    /// Random unit rows (uniform components, normalised).
    fn random_rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = SeededRng::new(seed);
        (0..n * dim)
            .map(|_| rng.range_f64(-1.0, 1.0) as f32)
            .collect()
    }

    fn random_unit(dim: usize, seed: u64) -> Vec<f32> {
        let mut v = random_rows(1, dim, seed);
        assert!(super::super::embeddings::normalise(&mut v));
        v
    }

    fn exact(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
    }

    /// The plain scalar reference: every score with `kernel`, fully sorted.
    fn full_sort(kernel: Kernel, e: &Embeddings, cue: &[f32], k: usize) -> Vec<(u32, f32)> {
        let mut s = vec![0f32; e.len()];
        for (i, o) in s.iter_mut().enumerate() {
            kernel.dots(e.row(i), e.dim(), cue, std::slice::from_mut(o));
        }
        let mut all: Vec<(u32, f32)> = s
            .into_iter()
            .enumerate()
            .map(|(i, x)| (i as u32, x))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    fn kernels() -> Vec<Kernel> {
        let ks: Vec<Kernel> = Kernel::ALL.into_iter().filter(|k| k.available()).collect();
        for k in Kernel::ALL.into_iter().filter(|k| !k.available()) {
            eprintln!(
                "kernel {} not available on this CPU: not tested here",
                k.name()
            );
        }
        assert!(ks.contains(&Kernel::Portable));
        ks
    }

    #[test]
    fn top_k_matches_a_full_sort_on_random_data() {
        for kernel in kernels() {
            for (n, dim) in [(1000, 17), (601, 768), (5, 3), (259, 16)] {
                let e = Embeddings::from_rows(dim, random_rows(n, dim, n as u64)).unwrap();
                let cue = random_unit(dim, 99);
                let mut out = Vec::new();
                for k in [0, 1, 10, 100, n, n + 5] {
                    top_k_with(kernel, &e, &cue, k, &mut out);
                    assert_eq!(
                        out,
                        full_sort(kernel, &e, &cue, k),
                        "{kernel:?} n={n} dim={dim} k={k}"
                    );
                }
            }
        }
    }

    #[test]
    fn duplicates_and_ties_rank_by_lower_id() {
        for kernel in kernels() {
            for dim in [17, 768] {
                // 300 rows drawn from 7 distinct vectors: many exact ties, across blocks and
                // across the 4-row groups and their leftovers.
                let base = random_rows(7, dim, 3);
                let mut rows = Vec::new();
                let mut rng = SeededRng::new(4);
                let mut which = Vec::new();
                for _ in 0..300 {
                    let w = rng.below(7) as usize;
                    which.push(w);
                    rows.extend_from_slice(&base[w * dim..(w + 1) * dim]);
                }
                let e = Embeddings::from_rows(dim, rows).unwrap();
                let cue = e.row(0).to_vec();
                let mut out = Vec::new();
                top_k_with(kernel, &e, &cue, 50, &mut out);
                assert_eq!(out, full_sort(kernel, &e, &cue, 50));
                // Duplicates score bit-identically, whatever their position.
                for w in 0..7 {
                    let ids: Vec<usize> = (0..300).filter(|&i| which[i] == w).collect();
                    let mut s = vec![0f32; 300];
                    kernel.dots(e.as_slice(), dim, &cue, &mut s);
                    assert!(ids.iter().all(|&i| s[i].to_bits() == s[ids[0]].to_bits()));
                }
                // The first rows are copies of row 0's vector, in id order.
                let copies: Vec<u32> = (0..300u32)
                    .filter(|&i| which[i as usize] == which[0])
                    .collect();
                let got: Vec<u32> = out.iter().take(copies.len().min(50)).map(|p| p.0).collect();
                assert_eq!(got, copies[..got.len()]);
            }
        }
    }

    #[test]
    fn every_kernel_is_within_the_bound_of_the_exact_dot() {
        for kernel in kernels() {
            for dim in [1, 7, 8, 15, 16, 17, 33, 768, 1000] {
                let e = Embeddings::from_rows(dim, random_rows(37, dim, dim as u64)).unwrap();
                let cue = random_unit(dim, 5);
                let mut s = vec![0f32; 37];
                kernel.dots(e.as_slice(), dim, &cue, &mut s);
                for (i, &x) in s.iter().enumerate() {
                    let err = (x as f64 - exact(e.row(i), &cue)).abs();
                    assert!(
                        err <= score_bound(dim) as f64,
                        "{kernel:?} dim {dim}: {err}"
                    );
                }
            }
        }
    }

    #[test]
    fn simd_rankings_match_portable_up_to_near_ties() {
        let dim = 768;
        let n = 3000;
        let e = Embeddings::from_rows(dim, random_rows(n, dim, 11)).unwrap();
        let tol = 2.0 * score_bound(dim) as f64;
        for kernel in kernels() {
            for seed in 0..5 {
                let cue = random_unit(dim, 100 + seed);
                let (mut a, mut p) = (Vec::new(), Vec::new());
                top_k_with(kernel, &e, &cue, 100, &mut a);
                top_k_with(Kernel::Portable, &e, &cue, 100, &mut p);
                assert_eq!(a.len(), p.len());
                for (x, y) in a.iter().zip(&p) {
                    assert!(
                        ((x.1 - y.1) as f64).abs() <= tol,
                        "{kernel:?}: {x:?} vs {y:?}"
                    );
                    if x.0 != y.0 {
                        let (ex, ey) = (
                            exact(e.row(x.0 as usize), &cue),
                            exact(e.row(y.0 as usize), &cue),
                        );
                        assert!(
                            (ex - ey).abs() <= tol,
                            "{kernel:?}: rank swap beyond a near-tie"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn best_kernel_is_available_and_sequential_read_sums_the_bits() {
        assert!(Kernel::best().available());
        let data: Vec<f32> = (0..37).map(|i| f32::from_bits(i * 3)).collect();
        let want = (0..37u32).map(|i| i * 3).sum::<u32>();
        assert_eq!(sequential_read(&data), want);
        let e = Embeddings::from_rows(4, random_rows(64, 4, 1)).unwrap();
        let t = scan_bandwidth(&e, Kernel::Portable, e.row(0), 10, 2);
        assert_eq!((t.vectors, t.bytes), (64, 64 * 4 * 4));
        assert!(t.scan_ns > 0 && t.read_ns > 0);
    }
}
