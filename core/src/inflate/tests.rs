//! The no-alloc inflater against a real deflater: zlib-rs compressing raw DEFLATE with the
//! small windows a microcontroller client asks for (2^9, 2^10), as a server would.

use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;

/// A server's compressor: raw DEFLATE with a 2^`bits` window, sync flush per message and the
/// flush tail removed (RFC 7692 §7.2.1).
struct Deflater {
    z: zlib_rs::Deflate,
}

impl Deflater {
    fn new(bits: u8) -> Deflater {
        Deflater {
            z: zlib_rs::Deflate::new_with_config(zlib_rs::DeflateConfig {
                level: 6,
                window_bits: -i32::from(bits),
                mem_level: 8,
                ..zlib_rs::DeflateConfig::default()
            }),
        }
    }

    fn message(&mut self, plain: &[u8]) -> Vec<u8> {
        let mut out = vec![0; plain.len() * 2 + 64];
        let before_in = self.z.total_in();
        let before_out = self.z.total_out();
        let _ = self
            .z
            .compress(plain, &mut out, zlib_rs::DeflateFlush::SyncFlush);
        assert_eq!((self.z.total_in() - before_in) as usize, plain.len());
        out.truncate((self.z.total_out() - before_out) as usize);
        assert!(out.ends_with(&FLUSH_TAIL));
        out.truncate(out.len() - 4);
        out
    }
}

/// Inflates one message whose payload arrives in `chunk`-byte pieces.
fn inflate(
    inf: &mut Inflater<'_>,
    kind: MessageKind,
    payload: &[u8],
    chunk: usize,
) -> Result<Vec<u8>, ProtocolError> {
    let mut got = Vec::new();
    let pieces: Vec<&[u8]> = if payload.is_empty() {
        vec![&[][..]]
    } else {
        payload.chunks(chunk.max(1)).collect()
    };
    let n = pieces.len();
    for (i, piece) in pieces.into_iter().enumerate() {
        let last = i + 1 == n;
        let mut input = piece;
        loop {
            let step = inf.inflate(kind, input, last)?;
            assert!(step.output.end <= inf.window.len());
            got.extend_from_slice(inf.output(step.output.clone()));
            input = &input[step.consumed..];
            if step.complete {
                assert!(last && input.is_empty());
                return Ok(got);
            }
            if step.input_done {
                assert!(input.is_empty());
                break;
            }
        }
    }
    unreachable!("the last chunk completes the message")
}

/// JSON-like text, repetitive across messages (what context takeover exploits).
fn json(seed: u32, len: usize) -> Vec<u8> {
    let mut s = Vec::new();
    let mut i = seed;
    while s.len() < len {
        s.extend_from_slice(
            std::format!(
                "{{\"sensor\":{},\"temp\":{}.5,\"ok\":true}},",
                i % 7,
                i % 40
            )
            .as_bytes(),
        );
        i += 1;
    }
    s.truncate(len);
    s
}

#[test]
fn context_takeover_keeps_the_window_across_messages() {
    let mut d = Deflater::new(9);
    let (mut state, mut window) = (InflateState::new(), [0u8; 512]);
    let mut inf = Inflater::new(&mut state, &mut window, 9, false, 1 << 20).unwrap();
    // 200 bytes: zlib reaches back at most the window minus 262 bytes (250 here).
    let first = json(0, 200);
    assert_eq!(
        inflate(&mut inf, MessageKind::Text, &d.message(&first), 64).unwrap(),
        first
    );
    // The same text again: with the window carried over it is a few back references.
    let again = d.message(&first);
    assert!(again.len() < 20, "{} bytes", again.len());
    assert_eq!(
        inflate(&mut inf, MessageKind::Text, &again, 64).unwrap(),
        first
    );
    // Messages longer than the window: output wraps around it many times.
    for seed in 1..6 {
        let plain = json(seed, 2000 + seed as usize * 97);
        let wire = d.message(&plain);
        assert_eq!(
            inflate(&mut inf, MessageKind::Binary, &wire, 100).unwrap(),
            plain
        );
    }
}

#[test]
fn a_message_fragmented_anywhere_inflates_the_same() {
    for chunk in [1, 2, 3, 7, 64, 511, 4096] {
        let mut d = Deflater::new(10);
        let (mut state, mut window) = (InflateState::new(), [0u8; 1024]);
        let mut inf = Inflater::new(&mut state, &mut window, 10, false, 1 << 20).unwrap();
        for seed in 0..3 {
            let plain = json(seed, 1500);
            let wire = d.message(&plain);
            assert_eq!(
                inflate(&mut inf, MessageKind::Text, &wire, chunk).unwrap(),
                plain,
                "chunk {chunk}"
            );
        }
    }
}

#[test]
fn server_no_context_takeover_resets_after_each_message() {
    let (mut state, mut window) = (InflateState::new(), [0u8; 512]);
    let mut inf = Inflater::new(&mut state, &mut window, 9, true, 1 << 20).unwrap();
    for seed in 0..4 {
        // A fresh compressor per message, as a server without context takeover compresses.
        let plain = json(seed, 700);
        let wire = Deflater::new(9).message(&plain);
        assert_eq!(
            inflate(&mut inf, MessageKind::Text, &wire, 50).unwrap(),
            plain
        );
    }
}

#[test]
fn empty_and_uncompressible_messages() {
    let mut d = Deflater::new(9);
    let (mut state, mut window) = (InflateState::new(), [0u8; 512]);
    let mut inf = Inflater::new(&mut state, &mut window, 9, false, 1 << 20).unwrap();
    // An empty message: the sender's flush of nothing is `00` (RFC 7692 §7.2.3.6).
    assert_eq!(
        inflate(&mut inf, MessageKind::Text, &[0x00], 1).unwrap(),
        b""
    );
    let noise: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let wire = d.message(&noise);
    assert_eq!(
        inflate(&mut inf, MessageKind::Binary, &wire, 333).unwrap(),
        noise
    );
    assert_eq!(
        inflate(&mut inf, MessageKind::Text, &d.message(b"after"), 2).unwrap(),
        b"after"
    );
}

#[test]
fn inflated_text_is_validated_as_utf8() {
    let mut d = Deflater::new(9);
    let (mut state, mut window) = (InflateState::new(), [0u8; 512]);
    let mut inf = Inflater::new(&mut state, &mut window, 9, false, 1 << 20).unwrap();
    let text = "Grüße, 東京 🦀 — ünïcödé".repeat(20);
    // Fed a byte at a time: code points split across every chunk boundary.
    assert_eq!(
        inflate(&mut inf, MessageKind::Text, &d.message(text.as_bytes()), 1).unwrap(),
        text.as_bytes()
    );
    // Invalid UTF-8 fails fast: before the rest of the message is inflated.
    let mut bad = b"ok ".to_vec();
    bad.push(0xc0);
    bad.extend_from_slice(&[b'x'; 2000]);
    let wire = d.message(&bad);
    let step = inf.inflate(MessageKind::Text, &wire, true);
    assert_eq!(step, Err(ProtocolError::InvalidUtf8));
    // The same bytes as binary are fine (a fresh stream: the failure reset the inflater).
    let mut d = Deflater::new(9);
    assert_eq!(
        inflate(&mut inf, MessageKind::Binary, &d.message(&bad), 100).unwrap(),
        bad
    );
    // A text that ends inside a code point fails when the message completes.
    let cut = &"é".as_bytes()[..1];
    assert_eq!(
        inflate(&mut inf, MessageKind::Text, &d.message(cut), 10),
        Err(ProtocolError::InvalidUtf8)
    );
}

#[test]
fn data_that_does_not_inflate_fails_with_1007() {
    let (mut state, mut window) = (InflateState::new(), [0u8; 512]);
    let mut inf = Inflater::new(&mut state, &mut window, 9, false, 1 << 20).unwrap();
    // Block type 3 is reserved (RFC 1951 §3.2.3).
    let err = inflate(&mut inf, MessageKind::Binary, &[0xff, 0xff, 0xff], 3);
    assert_eq!(err, Err(ProtocolError::InvalidCompressedData));
    assert_eq!(err.unwrap_err().close_code().as_u16(), 1007);
    // A stored block whose length check (NLEN) is wrong.
    let err = inflate(
        &mut inf,
        MessageKind::Binary,
        &[0x00, 0x05, 0x00, 0x00, 0x00],
        5,
    );
    assert_eq!(err, Err(ProtocolError::InvalidCompressedData));
}

#[test]
fn bytes_after_the_final_block_fail_and_a_final_block_starts_a_new_stream() {
    let (mut state, mut window) = (InflateState::new(), [0u8; 512]);
    let mut inf = Inflater::new(&mut state, &mut window, 9, false, 1 << 20).unwrap();
    // "hi" in a final stored block, then a stray byte.
    let final_block = [0x01, 0x02, 0x00, 0xfd, 0xff, b'h', b'i'];
    let mut wire = final_block.to_vec();
    wire.push(0x00);
    assert_eq!(
        inflate(&mut inf, MessageKind::Text, &wire, 100),
        Err(ProtocolError::InvalidCompressedData)
    );
    // Without the stray byte the message is fine, and the next message is a new stream.
    assert_eq!(
        inflate(&mut inf, MessageKind::Text, &final_block, 3).unwrap(),
        b"hi"
    );
    let mut d = Deflater::new(9);
    assert_eq!(
        inflate(&mut inf, MessageKind::Text, &d.message(b"next"), 100).unwrap(),
        b"next"
    );
}

#[test]
fn inflating_past_max_message_size_fails_with_1009() {
    let mut d = Deflater::new(9);
    let (mut state, mut window) = (InflateState::new(), [0u8; 512]);
    let mut inf = Inflater::new(&mut state, &mut window, 9, false, 1000).unwrap();
    let ok = vec![b'a'; 1000];
    assert_eq!(
        inflate(&mut inf, MessageKind::Binary, &d.message(&ok), 100).unwrap(),
        ok
    );
    // A bomb: 100 KB of zeros in a few hundred bytes, stopped within one window of output.
    let bomb = d.message(&[0u8; 100_000]);
    assert!(bomb.len() < 1000);
    let mut produced = 0;
    let mut input = &bomb[..];
    let err = loop {
        match inf.inflate(MessageKind::Binary, input, true) {
            Ok(step) => {
                produced += step.output.len();
                input = &input[step.consumed..];
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err, ProtocolError::MessageTooLarge { max: 1000 });
    assert_eq!(err.close_code().as_u16(), 1009);
    assert!(produced <= 1000, "{produced}");
}

#[test]
fn windows_are_checked() {
    let mut state = InflateState::new();
    let mut w = [0u8; 500];
    assert_eq!(
        Inflater::new(&mut state, &mut w, 9, false, 10).unwrap_err(),
        WindowError::NotPowerOfTwo
    );
    let mut w = [0u8; 512];
    assert_eq!(
        Inflater::new(&mut state, &mut w, 10, false, 10).unwrap_err(),
        WindowError::TooSmall { needed: 1024 }
    );
    assert!(Inflater::new(&mut state, &mut w, 8, false, 10).is_ok());
    assert_eq!(window_bits_for(512), Some(9));
    assert_eq!(window_bits_for(1 << 20), Some(15));
    assert_eq!(window_bits_for(128), None);
    assert_eq!(window_bits_for(1000), None);
}

#[test]
fn state_size_is_what_the_docs_say() {
    // Documented in the README's memory table and InflateState's docs (64-bit here; the
    // 32-bit size is measured on the target by the footprint firmware).
    const { assert!(InflateState::SIZE > 10_000 && InflateState::SIZE < 12_000) };
}

proptest! {
    /// No input panics, every call ends (a message completes or fails), and every output
    /// range lies in the window — twice in a row, so also on a window the first left.
    #[test]
    fn arbitrary_compressed_data_never_panics(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        chunk in 1usize..64,
        text in any::<bool>(),
        nct in any::<bool>(),
    ) {
        let kind = if text { MessageKind::Text } else { MessageKind::Binary };
        let (mut state, mut window) = (InflateState::new(), [0u8; 256]);
        let mut inf = Inflater::new(&mut state, &mut window, 8, nct, 4096).unwrap();
        let _ = inflate(&mut inf, kind, &data, chunk);
        let _ = inflate(&mut inf, kind, &data, chunk);
    }
}
