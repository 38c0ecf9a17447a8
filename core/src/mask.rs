//! Payload masking (RFC 6455 §5.3).
//!
//! Masking XORs every payload byte with one of four key bytes, chosen by the byte's position in
//! the frame's payload. Because payload arrives in chunks, callers pass the position of the first
//! byte of the chunk (`offset`); the key is rotated once and the bulk of the work is done a word
//! at a time, which the compiler turns into SIMD on targets that have it.

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
    let o = offset % 4;
    let key = [key[o], key[(o + 1) % 4], key[(o + 2) % 4], key[(o + 3) % 4]];
    if buf.len() < 16 {
        apply_mask_bytes(buf, key);
        return;
    }
    let k4 = u32::from_ne_bytes(key) as u64;
    let k8 = k4 | (k4 << 32);
    let k16 = (k8 as u128) | ((k8 as u128) << 64);
    let mut chunks = buf.chunks_exact_mut(64);
    for chunk in &mut chunks {
        for word in chunk.chunks_exact_mut(16) {
            let w = u128::from_ne_bytes(word.try_into().unwrap_or([0; 16])) ^ k16;
            word.copy_from_slice(&w.to_ne_bytes());
        }
    }
    let rest = chunks.into_remainder();
    let mut words = rest.chunks_exact_mut(8);
    for word in &mut words {
        let w = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8])) ^ k8;
        word.copy_from_slice(&w.to_ne_bytes());
    }
    // Every chunk above is a multiple of 4 bytes long, so the key phase is unchanged here.
    apply_mask_bytes(words.into_remainder(), key);
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

    proptest! {
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
