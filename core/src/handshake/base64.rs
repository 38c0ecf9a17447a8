//! Base64 with the standard alphabet and padding (RFC 4648 §4), only as far as the opening
//! handshake needs it: encoding the key and the accept value, and checking that a received key
//! is canonical base64 of 16 bytes (RFC 6455 §4.2.1 item 5).
//!
//! A general-purpose base64 crate brings decoding tables and engine configuration that a
//! microcontroller pays for in flash; these few functions are all the handshake uses.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The length of the padded encoding of `len` bytes.
pub(crate) const fn encoded_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}

/// Encodes `input` with padding into the start of `out` and returns the length written, or
/// `None` (writing nothing useful) when `out` is shorter than [`encoded_len`].
pub(crate) fn encode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = encoded_len(input.len());
    let mut slots = out.get_mut(..len)?.iter_mut();
    // Bits not yet written, most significant first: `held` of them in the low end of `acc`.
    let (mut acc, mut held) = (0u32, 0u32);
    for &byte in input {
        acc = (acc << 8) | u32::from(byte);
        held += 8;
        while held >= 6 {
            held -= 6;
            if let Some(slot) = slots.next() {
                *slot = ALPHABET[((acc >> held) & 63) as usize];
            }
        }
    }
    if held > 0 {
        if let Some(slot) = slots.next() {
            *slot = ALPHABET[((acc << (6 - held)) & 63) as usize];
        }
    }
    // What is left of the last group of four is padding.
    for slot in slots {
        *slot = b'=';
    }
    Some(len)
}

/// The padded encoding of `input` as a string (the proxy's Basic credentials).
#[cfg(feature = "std")]
pub(crate) fn encode_string(input: &[u8]) -> alloc::string::String {
    let mut out = alloc::vec![0u8; encoded_len(input.len())];
    let n = encode(input, &mut out).unwrap_or(0);
    out.truncate(n);
    // The alphabet and '=' are ASCII.
    alloc::string::String::from_utf8(out).unwrap_or_default()
}

/// The value of one base64 character, or `None` for a byte outside the alphabet.
fn value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// The number of bytes `text` decodes to, if it is canonical padded base64: a multiple of
/// four characters from the alphabet, `=` only as the last one or two, and the bits the
/// padding leaves over all zero (so that each byte string has exactly one encoding).
pub(crate) fn decoded_len(text: &[u8]) -> Option<usize> {
    if text.len() & 3 != 0 {
        return None;
    }
    let pad = match text {
        [.., b'=', b'='] => 2,
        [.., b'='] => 1,
        _ => 0,
    };
    let body = &text[..text.len() - pad];
    let mut last = 0;
    for &c in body {
        last = value(c)?;
    }
    // One '=' leaves 2 unused bits in the last character, two leave 4.
    let unused = [0, 2, 4][pad];
    if last & ((1 << unused) - 1) != 0 {
        return None;
    }
    Some(text.len() / 4 * 3 - pad)
}

#[cfg(test)]
mod tests {
    use super::{decoded_len, encode, encoded_len};

    fn enc(input: &[u8]) -> ([u8; 64], usize) {
        let mut out = [0u8; 64];
        let n = encode(input, &mut out).unwrap();
        (out, n)
    }

    #[test]
    fn rfc4648_section_10_vectors() {
        for (plain, coded) in [
            (&b""[..], &b""[..]),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg=="),
            (b"fooba", b"Zm9vYmE="),
            (b"foobar", b"Zm9vYmFy"),
        ] {
            let (out, n) = enc(plain);
            assert_eq!(&out[..n], coded);
            assert_eq!(encoded_len(plain.len()), coded.len());
            assert_eq!(decoded_len(coded), Some(plain.len()));
        }
    }

    #[test]
    fn the_whole_alphabet_round_trips() {
        // 48 bytes whose 6-bit groups are 0, 1, 2, ... 63 encode to the alphabet in order.
        let mut bytes = [0u8; 48];
        for (k, group) in bytes.chunks_exact_mut(3).enumerate() {
            let v = (0..4).fold(0u32, |acc, j| (acc << 6) | (4 * k as u32 + j));
            group.copy_from_slice(&v.to_be_bytes()[1..]);
        }
        let (out, n) = enc(&bytes);
        assert_eq!(&out[..n], &super::ALPHABET[..]);
        assert_eq!(decoded_len(&out[..n]), Some(48));
    }

    #[test]
    fn short_output_is_refused() {
        assert_eq!(encode(b"abc", &mut [0u8; 3]), None);
    }

    #[test]
    fn non_canonical_text_is_refused() {
        for bad in [
            &b"dGhlIHNhbXBsZSBub25jZQ"[..], // padding missing
            b"dGhlIHNhbXBsZSBub25jZR==",    // leftover bits set
            b"Zm9=",                        // leftover bits set (one '=')
            b"Zm=v",                        // '=' inside
            b"Z===",                        // three '='
            b"Zm9v!A==",                    // outside the alphabet
            b"Zm9vYmFy ",                   // whitespace
        ] {
            assert_eq!(decoded_len(bad), None, "{:?}", core::str::from_utf8(bad));
        }
    }
}
