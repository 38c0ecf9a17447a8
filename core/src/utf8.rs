//! Incremental UTF-8 validation that fails fast (RFC 6455 §8.1).
//!
//! Text payload arrives in chunks that may split a code point anywhere, across reads and across
//! fragments. The validator carries the state of an unfinished code point (how many bytes are
//! still due, and which ranges they may take) from one chunk to the next and reports an error
//! in the chunk where a byte can no longer begin or continue valid UTF-8 — not at the end of
//! the message — so that a connection carrying invalid text is failed as soon as the evidence
//! arrives.

/// The input is not valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Error;

impl core::fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("invalid UTF-8 in text")
    }
}

impl core::error::Error for Utf8Error {}

/// State of an incremental UTF-8 check: where the last code point stands (complete, or how
/// much of it is still due), as a state of the DFA below.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    /// The DFA state: a bit offset into the transition words (only the low 6 bits count).
    state: u64,
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub const fn new() -> Self {
        Utf8Validator { state: ACCEPT }
    }

    /// Checks the next chunk of the text.
    ///
    /// Returns an error as soon as the bytes seen so far cannot be a prefix of valid UTF-8.
    /// After an error the validator's state is unspecified; call [`reset`](Self::reset) to reuse it.
    pub fn feed(&mut self, input: &[u8]) -> Result<(), Utf8Error> {
        self.state = run(self.state, input);
        if self.state & 63 == REJECT {
            Err(Utf8Error)
        } else {
            Ok(())
        }
    }

    /// Whether the text so far ends on a code point boundary (it is complete, valid UTF-8).
    pub const fn is_complete(&self) -> bool {
        self.state & 63 == ACCEPT
    }

    /// Forgets any partial code point, ready for a new text.
    pub fn reset(&mut self) {
        self.state = ACCEPT;
    }
}

/// Whether `input` is complete, valid UTF-8: the same answer as `core::str::from_utf8`.
#[inline]
pub fn is_valid(input: &[u8]) -> bool {
    run(ACCEPT, input) & 63 == ACCEPT
}

// A shift-based DFA for UTF-8 (the well-formed byte sequences of Unicode Table 3-7).
//
// Each state is a bit offset (a multiple of 6) into a 64-bit word; `TRANSITIONS[byte]` holds,
// at each state's offset, the offset of the state that byte leads to. One step is then a table
// load and a shift — `TRANSITIONS[byte] >> state` — whose count the CPU takes modulo 64, so
// the bits above the low six never need clearing: one byte costs about a cycle of latency,
// about three times faster than a per-code-point decode on non-ASCII text. Runs of ASCII at a
// code point boundary are skipped 16 bytes at a time. REJECT leads only to itself, so an error
// sticks; "as soon as the evidence arrives" is per chunk, as before.
const ACCEPT: u64 = 0;
const REJECT: u64 = 6;
/// One continuation byte (80..BF) still due.
const CONT1: u64 = 12;
/// Two continuation bytes due.
const CONT2: u64 = 18;
/// Three continuation bytes due.
const CONT3: u64 = 24;
/// After E0: A0..BF, then one continuation (no overlong 3-byte forms).
const AFTER_E0: u64 = 30;
/// After ED: 80..9F, then one continuation (no surrogates).
const AFTER_ED: u64 = 36;
/// After F0: 90..BF, then two continuations (no overlong 4-byte forms).
const AFTER_F0: u64 = 42;
/// After F4: 80..8F, then two continuations (nothing above U+10FFFF).
const AFTER_F4: u64 = 48;

const fn next(state: u64, byte: u8) -> u64 {
    match (state, byte) {
        (ACCEPT, 0x00..=0x7F) => ACCEPT,
        (ACCEPT, 0xC2..=0xDF) => CONT1,
        (ACCEPT, 0xE0) => AFTER_E0,
        (ACCEPT, 0xE1..=0xEC | 0xEE..=0xEF) => CONT2,
        (ACCEPT, 0xED) => AFTER_ED,
        (ACCEPT, 0xF0) => AFTER_F0,
        (ACCEPT, 0xF1..=0xF3) => CONT3,
        (ACCEPT, 0xF4) => AFTER_F4,
        (CONT1, 0x80..=0xBF) => ACCEPT,
        (CONT2, 0x80..=0xBF) => CONT1,
        (CONT3, 0x80..=0xBF) => CONT2,
        (AFTER_E0, 0xA0..=0xBF) => CONT1,
        (AFTER_ED, 0x80..=0x9F) => CONT1,
        (AFTER_F0, 0x90..=0xBF) => CONT2,
        (AFTER_F4, 0x80..=0x8F) => CONT2,
        _ => REJECT,
    }
}

#[cfg(any(feature = "std", test))]
const STATES: [u64; 9] = [
    ACCEPT, REJECT, CONT1, CONT2, CONT3, AFTER_E0, AFTER_ED, AFTER_F0, AFTER_F4,
];

#[cfg(any(feature = "std", test))]
static TRANSITIONS: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut i = 0;
        while i < STATES.len() {
            t[b] |= next(STATES[i], b as u8) << STATES[i];
            i += 1;
        }
        b += 1;
    }
    t
};

/// Runs the DFA from `state` over `input`; the result's low 6 bits are the state.
///
/// With `std` (servers and desktops) the 2 KiB transition table runs the whole input; without
/// it (microcontrollers, where flash is scarce) `core::str::from_utf8` checks the bulk and the
/// table-free [`next`] only steps over a code point split across chunks. Both give the same
/// states; the tests run both.
#[inline]
fn run(state: u64, input: &[u8]) -> u64 {
    #[cfg(feature = "std")]
    return run_simd(state, input);
    #[cfg(not(feature = "std"))]
    return run_compact(state, input);
}

/// Below this many bytes the DFA (16 ASCII bytes per step) beats setting up the SIMD validator.
#[cfg(feature = "std")]
const SIMD_MIN: usize = 64;

/// With std: a code point left unfinished by the previous chunk is completed with the DFA,
/// the rest is validated by `simdutf8` (AVX2/SSE4.2/NEON, detected at run time) at memory
/// speed, and an incomplete code point at the end goes back to the DFA, whose state carries it
/// into the next chunk. The verdict is the DFA's, byte for byte (tested against it).
#[cfg(feature = "std")]
#[inline]
fn run_simd(mut state: u64, input: &[u8]) -> u64 {
    let mut i = 0;
    while state & 63 != ACCEPT {
        if state & 63 == REJECT || i == input.len() {
            return state & 63;
        }
        state = TRANSITIONS[input[i] as usize].wrapping_shr(state as u32);
        i += 1;
    }
    let rest = &input[i..];
    if rest.len() < SIMD_MIN {
        return run_serial(ACCEPT, rest);
    }
    match simdutf8::compat::from_utf8(rest) {
        Ok(_) => ACCEPT,
        // Valid up to an unfinished code point at the very end: the DFA takes it from there.
        Err(e) if e.error_len().is_none() => run_serial(ACCEPT, &rest[e.valid_up_to()..]),
        Err(_) => REJECT,
    }
}

/// The flash-lean path: step byte by byte only while a code point is unfinished.
#[cfg(any(not(feature = "std"), test))]
fn run_compact(mut state: u64, input: &[u8]) -> u64 {
    let mut i = 0;
    while state & 63 != ACCEPT {
        if state & 63 == REJECT || i == input.len() {
            return state & 63;
        }
        state = next(state & 63, input[i]);
        i += 1;
    }
    let rest = &input[i..];
    match core::str::from_utf8(rest) {
        Ok(_) => ACCEPT,
        // A valid prefix cut short: carry its state into the next chunk.
        Err(e) if e.error_len().is_none() => rest[e.valid_up_to()..]
            .iter()
            .fold(ACCEPT, |state, &b| next(state, b)),
        Err(_) => REJECT,
    }
}

/// The table-driven path.
///
/// Long inputs are cut in two at a code point boundary near the middle and both halves run
/// interleaved: two independent chains of dependent steps keep the CPU twice as busy. The
/// first half must end on a boundary (the byte after it starts a code point), so the result
/// is the second half's state — exactly what one pass would give.
#[cfg(test)]
#[inline]
fn run_table(state: u64, input: &[u8]) -> u64 {
    if input.len() < 256 {
        return run_serial(state, input);
    }
    let mut m = input.len() / 2;
    // Move to the start of a code point: at most 3 continuation bytes follow a lead.
    for _ in 0..3 {
        if input[m] & 0xC0 != 0x80 {
            break;
        }
        m += 1;
    }
    if input[m] & 0xC0 == 0x80 {
        // Four continuation bytes in a row: invalid, as one pass finds.
        return run_serial(state, input);
    }
    let (a, b) = input.split_at(m);
    let (mut s1, mut s2) = (state, ACCEPT);
    // Both halves in lockstep over as many whole blocks as the shorter one has.
    let n = a.len().min(b.len()) / 16 * 16;
    for (x, y) in a[..n].chunks_exact(16).zip(b[..n].chunks_exact(16)) {
        if (s1 | s2) & 63 == ACCEPT && x.iter().chain(y).fold(0, |acc, b| acc | b) < 0x80 {
            continue;
        }
        for i in 0..16 {
            s1 = TRANSITIONS[x[i] as usize].wrapping_shr(s1 as u32);
            s2 = TRANSITIONS[y[i] as usize].wrapping_shr(s2 as u32);
        }
        if s1 & 63 == REJECT || s2 & 63 == REJECT {
            return REJECT;
        }
    }
    s1 = run_serial(s1, &a[n..]);
    if s1 & 63 != ACCEPT {
        return REJECT;
    }
    run_serial(s2, &b[n..])
}

/// One chain: 16-byte blocks, skipping runs of ASCII at a code point boundary.
#[cfg(any(feature = "std", test))]
#[inline]
fn run_serial(mut state: u64, input: &[u8]) -> u64 {
    let mut blocks = input.chunks_exact(16);
    for block in &mut blocks {
        if state & 63 == ACCEPT && block.iter().fold(0, |acc, b| acc | b) < 0x80 {
            continue;
        }
        for &b in block {
            state = TRANSITIONS[b as usize].wrapping_shr(state as u32);
        }
        if state & 63 == REJECT {
            return REJECT;
        }
    }
    for &b in blocks.remainder() {
        state = TRANSITIONS[b as usize].wrapping_shr(state as u32);
    }
    state
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

    proptest! {
        #[test]
        fn table_and_compact_paths_agree_chunk_by_chunk(
            data in proptest::collection::vec(prop_oneof![any::<u8>(), 0x80u8..0xC0, 0xE0u8..0xF5], 0..600),
            cuts in proptest::collection::vec(0usize..600, 0..6),
        ) {
            let mut cuts: std::vec::Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort();
            let (mut table, mut compact, mut simd) = (ACCEPT, ACCEPT, ACCEPT);
            let mut prev = 0;
            for c in cuts.into_iter().chain(core::iter::once(data.len())) {
                table = run_table(table, &data[prev..c]) & 63;
                compact = run_compact(compact, &data[prev..c]) & 63;
                simd = run(simd, &data[prev..c]) & 63;
                prop_assert!((table == REJECT) == (compact == REJECT));
                prop_assert!((table == REJECT) == (simd == REJECT));
                if table == REJECT {
                    break;
                }
                prop_assert_eq!(table, compact);
                prop_assert_eq!(table, simd);
                prev = c;
            }
            let whole = core::str::from_utf8(&data).is_ok();
            prop_assert_eq!(table == ACCEPT, whole);
            prop_assert_eq!(compact == ACCEPT, whole);
            prop_assert_eq!(simd == ACCEPT, whole);
        }
    }

    proptest! {
        /// Long, mostly valid text (where the SIMD path does the work), possibly with one byte
        /// changed, cut anywhere: the same verdicts as the DFA and `from_utf8`, chunk by chunk.
        #[test]
        fn simd_path_agrees_on_long_text(
            text in "\\PC{0,700}",
            flip in proptest::option::of((0usize..4000, any::<u8>())),
            cuts in proptest::collection::vec(0usize..4000, 0..5),
        ) {
            let mut data = std::vec::Vec::from(text.as_bytes());
            if let (Some((at, byte)), false) = (flip, data.is_empty()) {
                let at = at % data.len();
                data[at] = byte;
            }
            let mut cuts: std::vec::Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort();
            let (mut simd, mut compact) = (ACCEPT, ACCEPT);
            let mut prev = 0;
            for c in cuts.into_iter().chain(core::iter::once(data.len())) {
                simd = run(simd, &data[prev..c]) & 63;
                compact = run_compact(compact, &data[prev..c]) & 63;
                prop_assert_eq!(simd, compact);
                if simd == REJECT {
                    break;
                }
                prev = c;
            }
            prop_assert_eq!(simd == ACCEPT, core::str::from_utf8(&data).is_ok());
        }
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

    #[test]
    fn every_sequence_of_up_to_three_bytes_agrees_with_from_utf8() {
        // Two bytes exhaustively; three bytes for every lead and second byte, with the third
        // byte from each class boundary.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(
                    is_valid(&[a, b]),
                    core::str::from_utf8(&[a, b]).is_ok(),
                    "{a:x} {b:x}"
                );
                for c in [
                    0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xF4,
                    0xFF,
                ] {
                    let v = [a, b, c];
                    assert_eq!(is_valid(&v), core::str::from_utf8(&v).is_ok(), "{v:x?}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn long_text_with_a_corrupted_byte_agrees_with_from_utf8(s in ".{0,400}", at in any::<usize>(), byte in any::<u8>(), corrupt in any::<bool>(), split in any::<usize>()) {
            let mut data = std::vec::Vec::from(s.as_bytes());
            if corrupt && !data.is_empty() {
                let i = at % data.len();
                data[i] = byte;
            }
            let expected = core::str::from_utf8(&data).is_ok();
            prop_assert_eq!(is_valid(&data), expected);
            let split = if data.is_empty() { 0 } else { split % data.len() };
            let mut v = Utf8Validator::new();
            let ok = v.feed(&data[..split]).is_ok() && v.feed(&data[split..]).is_ok();
            prop_assert_eq!(ok && v.is_complete(), expected);
        }

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
