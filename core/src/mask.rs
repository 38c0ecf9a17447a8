//! Payload masking (RFC 6455 §5.3).
//!
//! Masking XORs every payload byte with one of four key bytes, chosen by the byte's position in
//! the frame's payload. Because payload arrives in chunks, callers pass the position of the first
//! byte of the chunk (`offset`); the key is rotated once and the bulk of the work is done a word
//! at a time, which the compiler turns into SIMD (SSE2 on any x86_64). With `std` on x86_64,
//! buffers of 128 bytes and more use the same code compiled for AVX2 when the CPU has it — the
//! crate's only `unsafe`, in the `simd` module, because `benches/mask.rs` shows it pays.
//!
//! The word-at-a-time paths belong to the default feature `fast-paths`. Without it masking is
//! the byte loop of the RFC's definition: about 0.7 KB less flash on a Cortex-M, where the
//! network is far slower than even the byte loop (a few cycles per byte).

/// XORs `buf` in place with `key`, as if `buf` started at byte `offset` of the frame payload.
///
/// Masking and unmasking are the same operation.
///
/// ```
/// use sockeye_core::mask::apply_mask;
/// let key = [1, 2, 3, 4];
/// let mut data = *b"Hello";
/// apply_mask(&mut data, key, 0);
/// // Unmask in two chunks: positions 0..2 and 2..5.
/// let (a, b) = data.split_at_mut(2);
/// apply_mask(a, key, 0);
/// apply_mask(b, key, 2);
/// assert_eq!(&data, b"Hello");
/// ```
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    #[cfg(not(feature = "fast-paths"))]
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[offset.wrapping_add(i) % 4];
    }
    #[cfg(feature = "fast-paths")]
    apply_mask_fast(buf, key, offset);
}

/// [`apply_mask`] a word at a time (feature `fast-paths`).
#[cfg(feature = "fast-paths")]
#[inline]
fn apply_mask_fast(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // The key for a chunk that starts `offset` bytes into the payload: its bytes rotated left
    // by `offset % 4` (a right rotation of the little-endian word).
    let key = u32::from_le_bytes(key)
        .rotate_right(8 * (offset % 4) as u32)
        .to_le_bytes();
    // Short payloads (most messages) stay inline in the caller, in 8-byte words; longer ones
    // pay one call and get vectors. Below 128 bytes the call and the AVX2 detection cost more
    // than the vectors save (`benches/mask.rs`, 125 B).
    if buf.len() < 128 {
        mask_short(buf, key);
    } else {
        mask_long(buf, key);
    }
}

/// At least 128 bytes: AVX2 where the CPU has it, else the portable word loop.
///
/// From 256 bytes on, the bytes up to a 32-byte boundary are done apart, so that the vector
/// stores that follow never straddle two cache lines (a payload sits at an odd offset in a
/// read buffer): 1.3–1.5× faster from 1 KiB up (`benches/mask.rs`).
#[cfg(feature = "fast-paths")]
#[inline(never)]
fn mask_long(buf: &mut [u8], key: [u8; 4]) {
    let head = (buf.as_ptr() as usize).wrapping_neg() % 32;
    if buf.len() >= 256 && head != 0 {
        let (head, rest) = buf.split_at_mut(head);
        mask_short(head, key);
        let key = u32::from_le_bytes(key)
            .rotate_right(8 * (head.len() % 4) as u32)
            .to_le_bytes();
        mask_blocks(rest, key);
    } else {
        mask_blocks(buf, key);
    }
}

#[cfg(feature = "fast-paths")]
#[inline(always)]
fn mask_blocks(buf: &mut [u8], key: [u8; 4]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if simd::mask_avx2(buf, key) {
        return;
    }
    mask_words(buf, key);
}

/// The portable path: 64-byte blocks, then [`mask_short`]. A block is a run of 4-byte words
/// XORed with the key, which the compiler turns into vector loads, XORs and stores (SSE2 on any
/// x86_64; AVX2 in [`simd`] or when the target has it at compile time).
#[cfg(feature = "fast-paths")]
#[inline(always)]
fn mask_words(buf: &mut [u8], key: [u8; 4]) {
    let k4 = u32::from_ne_bytes(key);
    let mut blocks = buf.chunks_exact_mut(64);
    for block in &mut blocks {
        xor_words(block, k4);
    }
    // Every block is a multiple of 4 bytes long, so the key phase is unchanged here.
    mask_short(blocks.into_remainder(), key);
}

/// Short buffers (and the tails of long ones): 8-byte words, then a 4-byte word where it
/// fits, then single bytes.
#[cfg(feature = "fast-paths")]
#[inline(always)]
fn mask_short(mut buf: &mut [u8], key: [u8; 4]) {
    let k4 = u32::from_ne_bytes(key);
    let k8 = u64::from(k4) | (u64::from(k4) << 32);
    while buf.len() >= 8 {
        let (w, rest) = core::mem::take(&mut buf).split_at_mut(8);
        let v = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ k8;
        w.copy_from_slice(&v.to_ne_bytes());
        buf = rest;
    }
    if buf.len() >= 4 {
        let (w, rest) = core::mem::take(&mut buf).split_at_mut(4);
        let v = u32::from_ne_bytes([w[0], w[1], w[2], w[3]]) ^ k4;
        w.copy_from_slice(&v.to_ne_bytes());
        buf = rest;
    }
    for (b, k) in buf.iter_mut().zip(key) {
        *b ^= k;
    }
}

/// XORs each whole 4-byte word of `block` with `k4` (`block.len()` is a multiple of 4).
#[cfg(feature = "fast-paths")]
#[inline(always)]
fn xor_words(block: &mut [u8], k4: u32) {
    for w in block.chunks_exact_mut(4) {
        let v = u32::from_ne_bytes([w[0], w[1], w[2], w[3]]) ^ k4;
        w.copy_from_slice(&v.to_ne_bytes());
    }
}

/// AVX2, detected at run time (so it needs `std`).
///
/// The body is the same safe [`mask_words`], compiled a second time with AVX2 enabled so that
/// its blocks become 32-byte vector operations: on the x86_64 baseline (SSE2) that masks a
/// cache-resident buffer about 1.3–1.5× faster from 1 KiB up (`benches/mask.rs`). The only
/// unsafe operation is calling that copy, after the CPU said it has AVX2. (Built with AVX2
/// enabled at compile time, the detection is a constant and both copies are the same code.)
#[cfg(all(feature = "std", feature = "fast-paths", target_arch = "x86_64"))]
#[allow(unsafe_code)]
mod simd {
    #![deny(clippy::undocumented_unsafe_blocks)]

    /// Masks `buf` with [`super::mask_words`] compiled for AVX2 and returns `true`, or returns
    /// `false` without touching `buf` when the CPU lacks AVX2 (std caches the detection).
    #[inline]
    pub(super) fn mask_avx2(buf: &mut [u8], key: [u8; 4]) -> bool {
        if !std::is_x86_feature_detected!("avx2") {
            return false;
        }
        // SAFETY: `mask_words_avx2` is safe code compiled with AVX2 enabled; calling it is
        // sound on a CPU that has AVX2, which was just checked.
        unsafe { mask_words_avx2(buf, key) };
        true
    }

    #[target_feature(enable = "avx2")]
    unsafe fn mask_words_avx2(buf: &mut [u8], key: [u8; 4]) {
        super::mask_words(buf, key);
    }

    /// [`super::mask_copy_words`] compiled for AVX2, as [`mask_avx2`].
    #[inline]
    pub(super) fn mask_copy_avx2(dst: &mut [u8], src: &[u8], key: [u8; 4]) -> bool {
        if !std::is_x86_feature_detected!("avx2") {
            return false;
        }
        // SAFETY: `mask_copy_words_avx2` is safe code compiled with AVX2 enabled; calling it
        // is sound on a CPU that has AVX2, which was just checked.
        unsafe { mask_copy_words_avx2(dst, src, key) };
        true
    }

    #[target_feature(enable = "avx2")]
    unsafe fn mask_copy_words_avx2(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
        super::mask_copy_words(dst, src, key);
    }
}

/// Writes `src` masked with `key` (from payload offset 0) into `dst`, in one pass: what a
/// client does to send a frame, instead of copying first and masking in place after.
///
/// `dst` and `src` must have the same length.
#[inline]
pub(crate) fn mask_copy(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len());
    #[cfg(not(feature = "fast-paths"))]
    for (i, (d, s)) in dst.iter_mut().zip(src).enumerate() {
        *d = s ^ key[i % 4];
    }
    #[cfg(feature = "fast-paths")]
    if src.len() < 64 {
        mask_copy_short(dst, src, key);
    } else {
        mask_copy_long(dst, src, key);
    }
}

/// At least 64 bytes: AVX2 where the CPU has it, else the portable word loop.
#[cfg(feature = "fast-paths")]
#[inline(never)]
fn mask_copy_long(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if simd::mask_copy_avx2(dst, src, key) {
        return;
    }
    mask_copy_words(dst, src, key);
}

/// [`mask_words`], copying: 64-byte blocks of 4-byte words, then [`mask_copy_short`].
#[cfg(feature = "fast-paths")]
#[inline(always)]
fn mask_copy_words(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    let k4 = u32::from_ne_bytes(key);
    let mut d = dst.chunks_exact_mut(64);
    let mut s = src.chunks_exact(64);
    for (d, s) in (&mut d).zip(&mut s) {
        for (d, s) in d.chunks_exact_mut(4).zip(s.chunks_exact(4)) {
            let v = u32::from_ne_bytes([s[0], s[1], s[2], s[3]]) ^ k4;
            d.copy_from_slice(&v.to_ne_bytes());
        }
    }
    mask_copy_short(d.into_remainder(), s.remainder(), key);
}

/// [`mask_short`], copying (`dst` and `src` of the same length).
#[cfg(feature = "fast-paths")]
#[inline(always)]
fn mask_copy_short(mut dst: &mut [u8], mut src: &[u8], key: [u8; 4]) {
    let k4 = u32::from_ne_bytes(key);
    let k8 = u64::from(k4) | (u64::from(k4) << 32);
    while src.len() >= 8 && dst.len() >= 8 {
        let (d, d_rest) = core::mem::take(&mut dst).split_at_mut(8);
        let (s, s_rest) = src.split_at(8);
        let v = u64::from_ne_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]) ^ k8;
        d.copy_from_slice(&v.to_ne_bytes());
        (dst, src) = (d_rest, s_rest);
    }
    if src.len() >= 4 && dst.len() >= 4 {
        let (d, d_rest) = core::mem::take(&mut dst).split_at_mut(4);
        let (s, s_rest) = src.split_at(4);
        let v = u32::from_ne_bytes([s[0], s[1], s[2], s[3]]) ^ k4;
        d.copy_from_slice(&v.to_ne_bytes());
        (dst, src) = (d_rest, s_rest);
    }
    for ((d, s), k) in dst.iter_mut().zip(src).zip(key) {
        *d = s ^ k;
    }
}

/// The byte-at-a-time reference: the definition of §5.3, used for short inputs and tails.
#[inline]
pub fn apply_mask_bytes(buf: &mut [u8], key: [u8; 4]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc6455_5_7_masked_hello() {
        // RFC 6455 §5.7: a masked "Hello" with key 37 fa 21 3d.
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }

    /// The §5.3 definition, for comparisons.
    fn reference(data: &[u8], key: [u8; 4], offset: usize) -> std::vec::Vec<u8> {
        data.iter()
            .enumerate()
            .map(|(i, b)| b ^ key[(i + offset) % 4])
            .collect()
    }

    /// Every length across the block boundaries (0..=200, and past 256 where the long path
    /// aligns its stores) at every key phase and start alignment, through the dispatching
    /// `apply_mask` and `mask_copy` (AVX2 where the CPU has it) and through the portable paths
    /// directly, so the fallback stays tested on machines with AVX2. Small enough for Miri:
    /// `cargo +nightly miri test -p sockeye-core --features std mask::`, and with
    /// `RUSTFLAGS="-C target-feature=+avx2"` for the AVX2 calls.
    #[test]
    fn all_paths_match_definition_at_every_length_phase_and_alignment() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let lens = (0..=if cfg!(miri) { 140 } else { 200 }).chain([255, 256, 257, 300, 333]);
        for len in lens {
            for offset in 0..4 {
                for align in 0..if cfg!(miri) { 3 } else { 33 } {
                    let data: std::vec::Vec<u8> =
                        (0..align + len).map(|i| (i * 7 + 3) as u8).collect();
                    let want = reference(&data[align..], key, offset);
                    let mut got = data.clone();
                    apply_mask(&mut got[align..], key, offset);
                    assert_eq!(
                        &got[align..],
                        &want[..],
                        "apply_mask len {len} offset {offset}"
                    );
                    let mut got = data.clone();
                    let k = u32::from_le_bytes(key)
                        .rotate_right(8 * offset as u32)
                        .to_le_bytes();
                    #[cfg(feature = "fast-paths")]
                    mask_words(&mut got[align..], k);
                    #[cfg(not(feature = "fast-paths"))]
                    apply_mask(&mut got[align..], k, 0);
                    assert_eq!(
                        &got[align..],
                        &want[..],
                        "mask_words len {len} offset {offset}"
                    );
                    let mut got = std::vec![0u8; len];
                    mask_copy(&mut got, &data[align..], k);
                    assert_eq!(&got[..], &want[..], "mask_copy len {len} offset {offset}");
                    let mut got = std::vec![0u8; len];
                    #[cfg(feature = "fast-paths")]
                    mask_copy_words(&mut got, &data[align..], k);
                    #[cfg(not(feature = "fast-paths"))]
                    mask_copy(&mut got, &data[align..], k);
                    assert_eq!(&got[..], &want[..], "mask_copy_words {len} {offset}");
                }
            }
        }
    }

    proptest! {
        // Under Miri, the exhaustive test above covers the same ground (proptest needs files).
        #[cfg_attr(miri, ignore)]
        #[test]
        fn word_path_matches_byte_path(data in proptest::collection::vec(any::<u8>(), 0..600),
                                       key in any::<[u8; 4]>(), offset in 0usize..8, split in 0usize..600) {
            let mut expected = data.clone();
            for (i, b) in expected.iter_mut().enumerate() {
                *b ^= key[(i + offset) % 4];
            }
            let mut whole = data.clone();
            apply_mask(&mut whole, key, offset);
            prop_assert_eq!(&whole, &expected);
            let split = split.min(data.len());
            let mut parts = data.clone();
            let (a, b) = parts.split_at_mut(split);
            apply_mask(a, key, offset);
            apply_mask(b, key, offset + split);
            prop_assert_eq!(&parts, &expected);
        }
    }
}
