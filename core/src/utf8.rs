//! Incremental UTF-8 validation that fails fast (RFC 6455 §8.1).
//!
//! Text payload arrives in chunks that may split a code point anywhere, across reads and across
//! fragments. The validator carries the (at most three) bytes of an unfinished code point from
//! one chunk to the next and reports an error at the first byte that can no longer begin or
//! continue valid UTF-8 — not at the end of the message — so that a connection carrying invalid
//! text is failed as soon as the evidence arrives.

/// The input is not valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Error;

impl core::fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("invalid UTF-8 in text")
    }
}

impl core::error::Error for Utf8Error {}

/// State of an incremental UTF-8 check: the bytes of a code point still waiting for the rest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    partial: [u8; 4],
    len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub const fn new() -> Self {
        Utf8Validator {
            partial: [0; 4],
            len: 0,
        }
    }

    /// Checks the next chunk of the text.
    ///
    /// Returns an error as soon as the bytes seen so far cannot be a prefix of valid UTF-8.
    /// After an error the validator's state is unspecified; call [`reset`](Self::reset) to reuse it.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), Utf8Error> {
        if self.len > 0 {
            let want = sequence_len(self.partial[0]) - self.len as usize;
            let take = want.min(input.len());
            let len = self.len as usize;
            self.partial[len..len + take].copy_from_slice(&input[..take]);
            self.len += take as u8;
            input = &input[take..];
            match core::str::from_utf8(&self.partial[..self.len as usize]) {
                Ok(_) => self.len = 0,
                // Still a valid prefix: `input` is exhausted, wait for more.
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(Utf8Error),
            }
        }
        match core::str::from_utf8(input) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &input[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(Utf8Error),
        }
    }

    /// Whether the text so far ends on a code point boundary (it is complete, valid UTF-8).
    pub const fn is_complete(&self) -> bool {
        self.len == 0
    }

    /// Forgets any partial code point, ready for a new text.
    pub fn reset(&mut self) {
        self.len = 0;
    }
}

/// Length of the sequence a lead byte starts. Only called on bytes `from_utf8` accepted as the
/// start of an incomplete sequence, which are always multi-byte leads.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_bytewise(input: &[u8]) -> Result<bool, usize> {
        let mut v = Utf8Validator::new();
        for (i, b) in input.iter().enumerate() {
            v.feed(core::slice::from_ref(b)).map_err(|_| i)?;
        }
        Ok(v.is_complete())
    }

    #[test]
    fn rfc6455_8_1_code_point_split_across_chunks_is_fine() {
        let text = "κόσμε € 𝄞".as_bytes();
        for split in 0..=text.len() {
            let mut v = Utf8Validator::new();
            v.feed(&text[..split]).unwrap();
            v.feed(&text[split..]).unwrap();
            assert!(v.is_complete(), "split at {split}");
        }
        assert_eq!(check_bytewise(text), Ok(true));
    }

    #[test]
    fn rfc6455_8_1_fails_fast_at_first_impossible_byte() {
        // Autobahn 6.4.1: "κόσμε" + F4 90 80 80 (beyond U+10FFFF) + "edited".
        let mut bad = std::vec::Vec::from("κόσμε".as_bytes());
        let first_bad = bad.len() + 1; // F4 is a valid lead; 90 makes it impossible.
        bad.extend_from_slice(&[0xF4, 0x90, 0x80, 0x80]);
        bad.extend_from_slice(b"edited");
        assert_eq!(check_bytewise(&bad), Err(first_bad));
        assert!(Utf8Validator::new().feed(&bad).is_err());
    }

    #[test]
    fn truncated_sequence_is_incomplete_not_error() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xE2, 0x82]).unwrap();
        assert!(!v.is_complete());
        v.feed(&[0xAC]).unwrap();
        assert!(v.is_complete());
    }

    #[test]
    fn surrogates_and_overlongs_rejected() {
        for bad in [
            &[0xED, 0xA0, 0x80][..],
            &[0xC0, 0xAF],
            &[0xE0, 0x80, 0xAF],
            &[0xFF],
        ] {
            assert!(check_bytewise(bad).is_err(), "{bad:x?}");
        }
    }

    proptest! {
        #[test]
        fn any_chunking_agrees_with_from_utf8(data in proptest::collection::vec(any::<u8>(), 0..64),
                                              cuts in proptest::collection::vec(0usize..64, 0..6)) {
            let expected = core::str::from_utf8(&data).is_ok();
            let mut cuts: std::vec::Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort();
            let mut v = Utf8Validator::new();
            let mut prev = 0;
            let mut ok = true;
            for c in cuts.into_iter().chain(core::iter::once(data.len())) {
                if v.feed(&data[prev..c]).is_err() { ok = false; break; }
                prev = c;
            }
            prop_assert_eq!(ok && v.is_complete(), expected);
        }

        #[test]
        fn valid_strings_always_pass(s in ".{0,40}", split in 0usize..200) {
            let b = s.as_bytes();
            let split = split.min(b.len());
            let mut v = Utf8Validator::new();
            v.feed(&b[..split]).unwrap();
            v.feed(&b[split..]).unwrap();
            prop_assert!(v.is_complete());
        }
    }
}
