//! SHA-1 (FIPS 180-4 §6.1), only for `Sec-WebSocket-Accept` (RFC 6455 §4.2.2 step 5.4).
//!
//! The opening handshake hashes one short string — a 24-character key and the 36-character
//! GUID — so this is the plain rolled form of the algorithm: one loop of 80 rounds over a
//! 16-word circular message schedule. It is a few hundred bytes of code on a Cortex-M, where an
//! unrolled implementation is about 2.5 KB, and speed does not matter for 64 bytes per
//! connection. SHA-1 is not used here for security: RFC 6455 §10.3 only needs the accept value
//! to prove that the server read the key.

/// The SHA-1 digest of the concatenation of `parts`.
pub(crate) fn digest(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Hasher {
        state: [
            0x6745_2301,
            0xEFCD_AB89,
            0x98BA_DCFE,
            0x1032_5476,
            0xC3D2_E1F0,
        ],
        block: [0; 64],
        total: 0,
    };
    for &part in parts {
        for &byte in part {
            h.push(byte);
        }
    }
    // Padding (§5.1.1): a 1 bit, zeros up to 8 bytes before a block boundary, then the length
    // in bits as a 64-bit big-endian number.
    let bits = (h.total as u64).wrapping_mul(8);
    h.push(0x80);
    while h.total % 64 != 56 {
        h.push(0);
    }
    for shift in (0..8).rev() {
        h.push((bits >> (8 * shift)) as u8);
    }
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (h.state[i / 4] >> (24 - 8 * (i % 4))) as u8;
    }
    out
}

/// The running hash: message bytes and padding go through the same one-byte step.
struct Hasher {
    state: [u32; 5],
    block: [u8; 64],
    total: usize,
}

impl Hasher {
    /// Adds one byte, compressing each block as it fills. Not inlined: its three callers share
    /// one copy (the point of this module is flash).
    #[inline(never)]
    fn push(&mut self, byte: u8) {
        self.block[self.total % 64] = byte;
        self.total += 1;
        if self.total & 63 == 0 {
            compress(&mut self.state, &self.block);
        }
    }
}

/// One application of the compression function (§6.1.2) to a 64-byte block.
fn compress(state: &mut [u32; 5], block: &[u8; 64]) {
    let mut w = [0u32; 16];
    let [mut a, mut b, mut c, mut d, mut e] = *state;
    for t in 0..80 {
        let i = t & 15;
        w[i] = if t < 16 {
            let at = 4 * i;
            u32::from_be_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]])
        } else {
            // W[t] = ROTL1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]), kept in a 16-word ring.
            (w[(t + 13) & 15] ^ w[(t + 8) & 15] ^ w[(t + 2) & 15] ^ w[i]).rotate_left(1)
        };
        let (f, k) = match t / 20 {
            0 => ((b & c) | (!b & d), 0x5A82_7999),
            1 => (b ^ c ^ d, 0x6ED9_EBA1),
            2 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
            _ => (b ^ c ^ d, 0xCA62_C1D6),
        };
        let temp = a
            .rotate_left(5)
            .wrapping_add(f)
            .wrapping_add(e)
            .wrapping_add(k)
            .wrapping_add(w[i]);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = temp;
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e]) {
        *s = s.wrapping_add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::digest;

    fn hex(d: [u8; 20]) -> [u8; 40] {
        let mut out = [0u8; 40];
        for (i, b) in d.iter().enumerate() {
            out[2 * i] = b"0123456789abcdef"[usize::from(b >> 4)];
            out[2 * i + 1] = b"0123456789abcdef"[usize::from(b & 15)];
        }
        out
    }

    #[test]
    fn fips_180_examples() {
        // FIPS 180 / RFC 3174 test vectors: one block, two blocks, and the empty message.
        assert_eq!(
            &hex(digest(&[b"abc"])),
            b"a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            &hex(digest(&[
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            ])),
            b"84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            &hex(digest(&[])),
            b"da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }

    #[test]
    fn a_million_a_crosses_many_blocks() {
        let chunk = [b'a'; 1000];
        let parts = [&chunk[..]; 1000];
        assert_eq!(
            &hex(digest(&parts)),
            b"34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[test]
    fn parts_are_concatenated_at_every_padding_boundary() {
        // Lengths 0..=130 cross the 55/56/64-byte padding edges; splitting must not matter.
        let data: [u8; 130] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        for len in 0..=data.len() {
            let whole = digest(&[&data[..len]]);
            for cut in [0, len / 3, len / 2, len] {
                let (a, b) = data[..len].split_at(cut);
                assert_eq!(digest(&[a, b]), whole, "len {len} cut {cut}");
            }
        }
    }
}
