//! Bulk copies of payloads, in pieces of at most [`PIECE`] bytes.
//!
//! Why not one `memcpy`: glibc 2.36 (Debian 12) copies anything above a few KiB with
//! `rep movsb`, and AMD Zen 3 and Zen 4 CPUs run `rep movsb` up to 16× slower when the
//! destination starts a few bytes after the source modulo 4 KiB — a lottery on where the
//! allocator put two buffers. Measured on the project's Zen 4 machine (`benches/README.md`):
//! 64 KiB copied in 18.8 µs (3.5 GB/s) instead of 1.15 µs, which made the echo server's
//! receive path cost twice the whole kernel round trip for 64 KiB messages. Below the
//! threshold memcpy uses vector loads and stores at full speed on every CPU, and pieces of
//! 2 KiB stay below it on every x86-64 (the smallest threshold, for 16-byte vectors, is
//! 2 KiB); one call per 2 KiB costs nothing measurable. Only x86-64 with `std` (a hosted
//! libc) copies in pieces: elsewhere — microcontrollers above all — a copy is one call, and
//! no flash is spent on the loop.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

/// The largest piece copied at once.
pub(crate) const PIECE: usize = 2048;

/// Whether copies go in pieces: on x86-64 with a hosted libc.
const PIECEWISE: bool = cfg!(all(feature = "std", target_arch = "x86_64"));

/// Copies `src` into `dst`, which has the same length.
#[inline]
pub(crate) fn copy(dst: &mut [u8], src: &[u8]) {
    if !PIECEWISE || src.len() <= PIECE {
        dst.copy_from_slice(src);
        return;
    }
    for (d, s) in dst.chunks_mut(PIECE).zip(src.chunks(PIECE)) {
        d.copy_from_slice(s);
    }
}

/// Appends `src` to `buf`.
#[cfg(feature = "alloc")]
#[inline]
pub(crate) fn extend(buf: &mut Vec<u8>, src: &[u8]) {
    if !PIECEWISE {
        buf.extend_from_slice(src);
        return;
    }
    buf.reserve(src.len());
    for piece in src.chunks(PIECE) {
        buf.extend_from_slice(piece);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn copies_and_extends_every_length_exactly() {
        let src: Vec<u8> = (0..3 * PIECE + 17).map(|i| (i * 7) as u8).collect();
        for len in [0, 1, PIECE - 1, PIECE, PIECE + 1, 2 * PIECE, src.len()] {
            let mut dst = std::vec![0u8; len];
            copy(&mut dst, &src[..len]);
            assert_eq!(dst, &src[..len]);
            #[cfg(feature = "alloc")]
            {
                let mut buf = std::vec![9u8; 3];
                extend(&mut buf, &src[..len]);
                assert_eq!(&buf[..3], &[9, 9, 9]);
                assert_eq!(&buf[3..], &src[..len]);
            }
        }
    }
}
