//! What this build can compile of the x86-64 SIMD kernels: the one switch every AVX-512
//! kernel (the mark scan, the dense filter, the similarity scans) is gated on, beside the
//! CPU features each one checks for itself.

/// AVX-512 intrinsics and `#[target_feature(enable = "avx512f")]` are stable from Rust 1.89,
/// one release past the crate's MSRV (1.88): older compilers build without the AVX-512
/// kernels, which are then never chosen (each module keeps a stub that is never called).
#[rustversion::since(1.89)]
pub const AVX512_BUILT: bool = true;
#[rustversion::before(1.89)]
pub const AVX512_BUILT: bool = false;

/// True if this build has the AVX-512F kernels and this CPU can run them.
#[cfg(target_arch = "x86_64")]
pub fn avx512f() -> bool {
    AVX512_BUILT && std::arch::is_x86_feature_detected!("avx512f")
}
