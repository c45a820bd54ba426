//! The int8 pass of quantized seeding: every row stored as signed bytes with one scale, scored
//! against a quantized cue with integer dot products, to pick the candidates that the exact
//! re-rank ([`super::exact`]) then scores.
//!
//! Why int8: the exact f32 scan of warm-10k reads 30 MB per request, which at this machine's
//! memory bandwidth is most of a millisecond; the same rows as bytes are 7.7 MB, a quarter of
//! the traffic, and they stay in the last-level cache between requests. Integer dot products are
//! exact, so every kernel (AVX-512 VNNI, AVX2, portable) gives the same scores bit for bit and
//! the candidates do not depend on the machine.
//!
//! Row `i` is `q_i = round(x_i · 127 / max|x_i|)` with scale `max|x_i| / 127`; the cue likewise.
//! The approximate score is `dot(q_row, q_cue) · scale_row · scale_cue` (one f32 product, the
//! same on every machine). Its error against the exact cosine is a few 10⁻³ on 768-dim unit
//! vectors, so a candidate list a few times `k` long holds the exact top-k (measured as
//! `recall_at_k` over the request stream, never assumed).

use super::Embeddings;
use crate::aligned::CacheAligned;

/// The rows of an [`Embeddings`] as int8, with one scale per row.
#[derive(Clone)]
pub struct QuantizedRows {
    n: usize,
    dim: usize,
    /// Row stride in bytes: `dim` rounded up to 64, zero-padded, so kernels read whole vectors.
    stride: usize,
    data: CacheAligned<i8>,
    scales: Vec<f32>,
    /// Σ of each row's bytes, for the VNNI kernel's unsigned-cue correction.
    sums: Vec<i32>,
}

/// A cue quantized for [`QuantizedRows::scores`]: bytes (padded like the rows) and its scale.
#[derive(Debug, Clone, Default)]
pub struct QuantizedCue {
    bytes: Vec<i8>,
    /// The cue's bytes + 128, for VNNI's unsigned × signed products.
    unsigned: Vec<u8>,
    scale: f32,
}

/// The quantized kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantKernel {
    /// AVX-512 VNNI: 64 byte products per instruction.
    Avx512Vnni,
    /// AVX2: bytes widened to i16, multiplied and added in pairs.
    Avx2,
    /// Plain Rust; runs everywhere.
    Portable,
}

impl QuantKernel {
    pub const ALL: [QuantKernel; 3] = [
        QuantKernel::Avx512Vnni,
        QuantKernel::Avx2,
        QuantKernel::Portable,
    ];

    /// True if this CPU (and this compiler) can run the kernel.
    pub fn available(self) -> bool {
        match self {
            QuantKernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            QuantKernel::Avx512Vnni => {
                crate::simd::AVX512_BUILT
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            QuantKernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest kernel this CPU can run.
    pub fn best() -> QuantKernel {
        QuantKernel::ALL
            .into_iter()
            .find(|k| k.available())
            .unwrap_or(QuantKernel::Portable)
    }

    pub fn name(self) -> &'static str {
        match self {
            QuantKernel::Avx512Vnni => "avx512-vnni",
            QuantKernel::Avx2 => "avx2",
            QuantKernel::Portable => "portable",
        }
    }
}

/// Largest byte magnitude: symmetric, so −x quantizes to −q.
const QMAX: f32 = 127.0;

/// Quantizes `v` into `out` (resized to `stride`, zero-padded); returns the scale.
fn quantize_into(v: &[f32], stride: usize, out: &mut Vec<i8>) -> f32 {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    out.clear();
    out.resize(stride, 0);
    if max == 0.0 {
        return 0.0;
    }
    let inv = QMAX / max;
    for (o, &x) in out.iter_mut().zip(v) {
        // `round` is IEEE-exact, so the bytes are the same on every machine.
        *o = (x * inv).round().clamp(-QMAX, QMAX) as i8;
    }
    max / QMAX
}

impl QuantizedRows {
    /// Quantizes every row of `emb` (about 30 ms for 10k × 768 here).
    pub fn new(emb: &Embeddings) -> QuantizedRows {
        let (n, dim) = (emb.len(), emb.dim());
        let stride = dim.div_ceil(64) * 64;
        let mut data = CacheAligned::<i8>::new_default(n * stride);
        let mut scales = Vec::with_capacity(n);
        let mut sums = Vec::with_capacity(n);
        let mut row = Vec::with_capacity(stride);
        for i in 0..n {
            let s = quantize_into(emb.row(i), stride, &mut row);
            data[i * stride..(i + 1) * stride].copy_from_slice(&row);
            scales.push(s);
            sums.push(row.iter().map(|&b| i32::from(b)).sum());
        }
        QuantizedRows {
            n,
            dim,
            stride,
            data,
            scales,
            sums,
        }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Bytes one pass reads (rows and scales).
    pub fn bytes(&self) -> u64 {
        (self.data.len() + self.scales.len() * 4) as u64
    }

    /// Quantizes a cue of `dim` components into `out`, reusing its buffers.
    pub fn quantize_cue(&self, cue: &[f32], out: &mut QuantizedCue) {
        assert_eq!(cue.len(), self.dim, "cue has the wrong dimension");
        out.scale = quantize_into(cue, self.stride, &mut out.bytes);
        out.unsigned.clear();
        out.unsigned
            .extend(out.bytes.iter().map(|&b| (i16::from(b) + 128) as u8));
    }

    /// The approximate score of rows `start..start + out.len()`.
    pub fn scores(&self, kernel: QuantKernel, cue: &QuantizedCue, start: usize, out: &mut [f32]) {
        assert!(kernel.available(), "kernel {} not available", kernel.name());
        assert!(start + out.len() <= self.n && cue.bytes.len() == self.stride);
        let rows = &self.data[start * self.stride..(start + out.len()) * self.stride];
        let mut dots = [0i32; BLOCK];
        let dots = &mut dots[..out.len()];
        match kernel {
            // SAFETY: `available()` was checked, and the slices hold `out.len()` rows of
            // `stride` bytes and a cue of `stride` bytes.
            #[cfg(target_arch = "x86_64")]
            QuantKernel::Avx512Vnni => unsafe {
                x86::dots_vnni(
                    rows,
                    self.stride,
                    &cue.unsigned,
                    &self.sums[start..start + out.len()],
                    dots,
                )
            },
            #[cfg(target_arch = "x86_64")]
            QuantKernel::Avx2 => unsafe { x86::dots_avx2(rows, self.stride, &cue.bytes, dots) },
            _ => dots_portable(rows, self.stride, &cue.bytes, dots),
        }
        for ((o, &d), &s) in out.iter_mut().zip(dots.iter()).zip(&self.scales[start..]) {
            *o = d as f32 * (s * cue.scale);
        }
    }

    /// The `c` best rows by approximate score (ties to the lower id), as ids in `out`, in no
    /// particular order. `buf` is a reusable buffer (it grows to 2·c).
    ///
    /// A buffer of 2·c, compacted to the best c by selection whenever it fills, rather than a
    /// heap: with c in the hundreds a heap pays a sift of ~9 levels for each of the ~c·ln(n/c)
    /// rows that beat the running threshold, while a compaction is linear and rare.
    pub fn candidates(
        &self,
        kernel: QuantKernel,
        cue: &QuantizedCue,
        c: usize,
        buf: &mut Vec<(u32, f32)>,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        buf.clear();
        let c = c.min(self.n);
        if c == 0 {
            return;
        }
        let cap = 2 * c;
        let mut scores = [0f32; BLOCK];
        let mut threshold = f32::NEG_INFINITY;
        for start in (0..self.n).step_by(BLOCK) {
            let len = BLOCK.min(self.n - start);
            self.scores(kernel, cue, start, &mut scores[..len]);
            for (j, &s) in scores[..len].iter().enumerate() {
                // Ids arrive in increasing order: a score equal to the threshold ranks below
                // the row that set it.
                if s > threshold {
                    buf.push(((start + j) as u32, s));
                    if buf.len() == cap {
                        keep_best(buf, c);
                        threshold = buf[c - 1].1;
                    }
                }
            }
        }
        if buf.len() > c {
            keep_best(buf, c);
        }
        out.extend(buf.iter().map(|&(id, _)| id));
    }
}

/// Keeps the best `c` of `buf` (score descending, then id), the c-th best last.
fn keep_best(buf: &mut Vec<(u32, f32)>, c: usize) {
    buf.select_nth_unstable_by(c - 1, super::similarity::ranked);
    buf.truncate(c);
}

/// Rows scored per kernel call.
const BLOCK: usize = 256;

fn dots_portable(rows: &[i8], stride: usize, cue: &[i8], out: &mut [i32]) {
    for (i, o) in out.iter_mut().enumerate() {
        let row = &rows[i * stride..(i + 1) * stride];
        *o = row
            .iter()
            .zip(cue)
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum();
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The x86-64 int8 kernels. Rows are padded to a multiple of 64 bytes with zeros, so every
    //! load is a whole vector and the padding adds nothing.

    use std::arch::x86_64::*;

    #[rustversion::before(1.89)]
    pub unsafe fn dots_vnni(_: &[i8], _: usize, _: &[u8], _: &[i32], _: &mut [i32]) {
        unreachable!("the VNNI kernel is not built with this compiler")
    }

    /// `Σ (c+128)·r − 128·Σ r = Σ c·r`: VNNI multiplies unsigned by signed bytes, so the cue
    /// is offset by 128 and the offset taken back with each row's byte sum.
    ///
    /// # Safety
    /// The CPU must support AVX-512F/BW/VNNI; `rows` holds `out.len()` rows of `stride` bytes,
    /// `stride` a multiple of 64, `cue.len() == stride`, `sums.len() >= out.len()`.
    #[rustversion::since(1.89)]
    #[allow(clippy::incompatible_msrv)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn dots_vnni(rows: &[i8], stride: usize, cue: &[u8], sums: &[i32], out: &mut [i32]) {
        let chunks = stride / 64;
        let q = cue.as_ptr();
        for (i, o) in out.iter_mut().enumerate() {
            // SAFETY: row `i` lies in `rows`; offsets stay below `stride`.
            unsafe {
                let p = rows.as_ptr().add(i * stride);
                let mut a0 = _mm512_setzero_si512();
                let mut a1 = _mm512_setzero_si512();
                let mut c = 0;
                while c + 1 < chunks {
                    let r0 = _mm512_loadu_si512(p.add(c * 64).cast());
                    let r1 = _mm512_loadu_si512(p.add(c * 64 + 64).cast());
                    a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(q.add(c * 64).cast()), r0);
                    a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512(q.add(c * 64 + 64).cast()), r1);
                    c += 2;
                }
                if c < chunks {
                    let r0 = _mm512_loadu_si512(p.add(c * 64).cast());
                    a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(q.add(c * 64).cast()), r0);
                }
                *o = _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1)) - 128 * sums[i];
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2; `rows` holds `out.len()` rows of `stride` bytes, `stride` a
    /// multiple of 64, `cue.len() == stride`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn dots_avx2(rows: &[i8], stride: usize, cue: &[i8], out: &mut [i32]) {
        let chunks = stride / 16;
        let q = cue.as_ptr();
        for (i, o) in out.iter_mut().enumerate() {
            // SAFETY: row `i` lies in `rows`; offsets stay below `stride`.
            unsafe {
                let p = rows.as_ptr().add(i * stride);
                let ld = |b: *const i8, c: usize| {
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(b.add(c * 16).cast()))
                };
                let mut a0 = _mm256_setzero_si256();
                let mut a1 = _mm256_setzero_si256();
                let mut c = 0;
                while c + 1 < chunks {
                    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(ld(p, c), ld(q, c)));
                    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(ld(p, c + 1), ld(q, c + 1)));
                    c += 2;
                }
                if c < chunks {
                    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(ld(p, c), ld(q, c)));
                }
                let s = _mm256_add_epi32(a0, a1);
                let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
                let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
                let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
                *o = _mm_cvtsi128_si32(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    fn random_rows(n: usize, dim: usize, seed: u64) -> Embeddings {
        let mut rng = SeededRng::derive(seed, "test.rows");
        let data = (0..n * dim).map(|_| rng.unit() as f32 - 0.5).collect();
        Embeddings::from_rows(dim, data).unwrap()
    }

    /// Integer dot products are exact: every kernel gives the same bits, for dims that are and
    /// are not multiples of 16 or 64.
    #[test]
    fn every_kernel_scores_bit_identically() {
        for dim in [1, 15, 16, 63, 64, 65, 100, 768] {
            let emb = random_rows(300, dim, dim as u64);
            let q = QuantizedRows::new(&emb);
            let mut cue = QuantizedCue::default();
            q.quantize_cue(emb.row(7), &mut cue);
            let mut want = vec![0f32; 200];
            q.scores(QuantKernel::Portable, &cue, 50, &mut want);
            for k in QuantKernel::ALL.into_iter().filter(|k| k.available()) {
                let mut got = vec![0f32; 200];
                q.scores(k, &cue, 50, &mut got);
                assert_eq!(got, want, "{} dim {dim}", k.name());
            }
        }
    }

    /// The approximate score tracks the cosine: within 0.01 on 768-dim unit vectors.
    #[test]
    fn approximate_scores_are_close_to_the_cosine() {
        let emb = random_rows(200, 768, 3);
        let q = QuantizedRows::new(&emb);
        let mut cue = QuantizedCue::default();
        q.quantize_cue(emb.row(0), &mut cue);
        let mut s = vec![0f32; 200];
        q.scores(QuantKernel::best(), &cue, 0, &mut s);
        for (i, &a) in s.iter().enumerate() {
            let exact: f32 = emb.row(i).iter().zip(emb.row(0)).map(|(x, y)| x * y).sum();
            assert!((a - exact).abs() < 0.01, "row {i}: {a} vs {exact}");
        }
    }

    /// The compacting buffer keeps exactly the best c by (score, then lower id), checked
    /// against sorting every score, with duplicate rows making ties.
    #[test]
    fn candidates_are_the_best_c_with_ties_to_the_lower_id() {
        let base = random_rows(700, 40, 9);
        let mut data = Vec::new();
        for i in 0..1000 {
            data.extend_from_slice(base.row(i % 700));
        }
        let emb = Embeddings::from_rows(40, data).unwrap();
        let q = QuantizedRows::new(&emb);
        let mut cue = QuantizedCue::default();
        q.quantize_cue(emb.row(3), &mut cue);
        let mut all = vec![0f32; 1000];
        for start in (0..1000).step_by(250) {
            q.scores(
                QuantKernel::Portable,
                &cue,
                start,
                &mut all[start..start + 250],
            );
        }
        for c in [1, 7, 100, 333, 999, 1000, 5000] {
            let mut want: Vec<(u32, f32)> = all
                .iter()
                .enumerate()
                .map(|(i, &s)| (i as u32, s))
                .collect();
            want.sort_by(crate::recall::similarity::ranked);
            let mut want: Vec<u32> = want.iter().take(c).map(|&(i, _)| i).collect();
            want.sort_unstable();
            let (mut buf, mut got) = (Vec::new(), Vec::new());
            q.candidates(QuantKernel::best(), &cue, c, &mut buf, &mut got);
            got.sort_unstable();
            assert_eq!(got, want, "c = {c}");
        }
    }

    #[test]
    fn a_row_quantizes_symmetrically_and_exactly_at_its_maximum() {
        let mut out = Vec::new();
        let s = quantize_into(&[0.5, -0.25, 0.0, -0.5], 64, &mut out);
        assert_eq!(&out[..4], &[127, -64, 0, -127]);
        assert!(out[4..].iter().all(|&b| b == 0));
        assert_eq!(s, 0.5 / 127.0);
    }
}
