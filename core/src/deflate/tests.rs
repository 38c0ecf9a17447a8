//! The compressor and inflater against each other and against zlib-rs used directly.

use std::vec;
use std::vec::Vec;

use super::*;

fn params(server_bits: u8, client_bits: u8, server_nct: bool, client_nct: bool) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: server_nct,
        client_no_context_takeover: client_nct,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    }
}

/// A server compressing and a client inflating with `p`.
fn pair(p: DeflateParams) -> (PerMessageDeflate, PerMessageDeflate) {
    let s = PerMessageDeflate::new(p, Role::Server, DeflateSettings::default());
    let c = PerMessageDeflate::new(p, Role::Client, DeflateSettings::default());
    (s, c)
}

/// Inflates one message from `wire` (compressed payload) with `out_chunk`-byte outputs.
fn inflate_message(
    d: &mut PerMessageDeflate,
    wire: &[u8],
    out_chunk: usize,
) -> Result<Vec<u8>, InvalidDeflateData> {
    let mut got = Vec::new();
    let mut out = vec![0; out_chunk];
    let mut input = wire;
    loop {
        let (used, n) = d.inflate(input, &mut out)?;
        got.extend_from_slice(&out[..n]);
        input = &input[used..];
        if input.is_empty() && n < out.len() {
            break;
        }
    }
    loop {
        let (n, done) = d.finish_inflate(&mut out)?;
        got.extend_from_slice(&out[..n]);
        if done {
            return Ok(got);
        }
    }
}

fn json(n: usize) -> Vec<u8> {
    let mut s = Vec::new();
    let mut i = 0u32;
    while s.len() < n {
        s.extend_from_slice(
            std::format!(
                "{{\"id\":{i},\"name\":\"user{}\",\"active\":true}},",
                i % 97
            )
            .as_bytes(),
        );
        i = i.wrapping_mul(2_654_435_761).wrapping_add(12345);
    }
    s.truncate(n);
    s
}

#[test]
fn round_trips_with_context_takeover_and_later_messages_shrink() {
    let (mut s, mut c) = pair(params(15, 15, false, false));
    let message = json(2000);
    let mut sizes = Vec::new();
    for _ in 0..3 {
        let mut wire = Vec::new();
        s.compress(&message, true, &mut wire);
        assert!(!wire.ends_with(&FLUSH_TAIL), "the tail is removed (§7.2.1)");
        sizes.push(wire.len());
        assert_eq!(inflate_message(&mut c, &wire, 100).unwrap(), message);
    }
    // The second message refers back to the first: far smaller.
    assert!(sizes[1] * 4 < sizes[0], "{sizes:?}");
}

#[test]
fn no_context_takeover_makes_every_message_independent() {
    let (mut s, _) = pair(params(15, 15, true, false));
    let message = json(2000);
    for _ in 0..3 {
        let mut wire = Vec::new();
        s.compress(&message, true, &mut wire);
        // A fresh inflater decodes each message on its own.
        let (_, mut fresh) = pair(params(15, 15, true, false));
        assert_eq!(inflate_message(&mut fresh, &wire, 64).unwrap(), message);
        // And the compressor holds no state between messages.
        assert!(s.compressor.state.is_none());
    }
}

#[test]
fn fragments_compressed_one_by_one_inflate_as_one_message() {
    let (mut s, mut c) = pair(params(15, 15, false, false));
    let message = json(10_000);
    let mut wire = Vec::new();
    let parts: Vec<&[u8]> = message.chunks(3000).collect();
    for (i, part) in parts.iter().enumerate() {
        s.compress(part, i + 1 == parts.len(), &mut wire);
    }
    assert_eq!(inflate_message(&mut c, &wire, 333).unwrap(), message);
}

#[test]
fn the_empty_message_is_one_byte_or_nothing_and_inflates_to_nothing() {
    // RFC 7692 §7.2.3.6: an empty message compresses to a single 0x00 byte.
    let (mut s, mut c) = pair(params(15, 15, false, false));
    let mut wire = Vec::new();
    s.compress(b"", true, &mut wire);
    assert_eq!(wire, [0x00]);
    assert_eq!(inflate_message(&mut c, &wire, 16).unwrap(), b"");
    // A second empty message: zlib has nothing to flush, the compressor still sends 0x00.
    let mut wire = Vec::new();
    s.compress(b"", true, &mut wire);
    assert_eq!(wire, [0x00]);
    assert_eq!(inflate_message(&mut c, &wire, 16).unwrap(), b"");
    // And the stream goes on.
    let mut wire = Vec::new();
    s.compress(b"after", true, &mut wire);
    assert_eq!(inflate_message(&mut c, &wire, 16).unwrap(), b"after");
    // A fragmented message whose last fragment is empty ends with 0x00 too.
    let mut wire = Vec::new();
    s.compress(b"first part", false, &mut wire);
    let at = wire.len();
    s.compress(b"", true, &mut wire);
    assert_eq!(&wire[at..], [0x00]);
    assert_eq!(inflate_message(&mut c, &wire, 16).unwrap(), b"first part");
}

#[test]
fn a_window_of_2_pow_8_is_honoured_by_compressing_with_2_pow_9() {
    // The peer asked for server_max_window_bits=8. Inflate with an inflater whose window is
    // exactly 256 bytes, one small output at a time, so that only the window holds history:
    // a distance beyond 256 would be an error ("invalid distance too far back").
    let (mut s, _) = pair(params(8, 15, false, false));
    assert_eq!(s.compressor.window_bits, 9);
    // Repeats at distances of 251 to 400 bytes, which a 2^9 window could otherwise reach.
    let mut message = Vec::new();
    let mut seed = 7u32;
    for _ in 0..40 {
        let block: Vec<u8> = (0..300)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b"abcdefghij"[(seed >> 16) as usize % 10]
            })
            .collect();
        message.extend_from_slice(&block);
        message.extend_from_slice(&block);
    }
    let mut wire = Vec::new();
    s.compress(&message, true, &mut wire);
    wire.extend_from_slice(&FLUSH_TAIL);
    let mut exact = zlib_rs::Inflate::new(false, 8);
    let mut got = Vec::new();
    let mut out = [0u8; 16];
    let mut input = &wire[..];
    loop {
        let (i, o) = (exact.total_in(), exact.total_out());
        exact
            .decompress(input, &mut out, zlib_rs::InflateFlush::NoFlush)
            .expect("within a 256-byte window");
        let used = (exact.total_in() - i) as usize;
        let n = (exact.total_out() - o) as usize;
        got.extend_from_slice(&out[..n]);
        input = &input[used..];
        if input.is_empty() && n < out.len() {
            break;
        }
    }
    assert_eq!(got, message);
    // The same data compressed with a 2^15 window does reach farther back, so the test
    // would notice a compressor that ignored the limit.
    let (mut wide, _) = pair(params(15, 15, false, false));
    let mut wire = Vec::new();
    wide.compress(&message, true, &mut wire);
    wire.extend_from_slice(&FLUSH_TAIL);
    let mut exact = zlib_rs::Inflate::new(false, 8);
    let mut failed = false;
    let mut input = &wire[..];
    for _ in 0..100_000 {
        let (i, o) = (exact.total_in(), exact.total_out());
        if exact
            .decompress(input, &mut out, zlib_rs::InflateFlush::NoFlush)
            .is_err()
        {
            failed = true;
            break;
        }
        input = &input[(exact.total_in() - i) as usize..];
        if input.is_empty() && ((exact.total_out() - o) as usize) < out.len() {
            break;
        }
    }
    assert!(failed, "a 2^15 window should exceed 256-byte distances");
}

#[test]
fn data_that_does_not_inflate_is_an_error() {
    let (_, mut c) = pair(params(15, 15, false, false));
    // BTYPE 11 is reserved: an invalid block.
    assert_eq!(
        inflate_message(&mut c, &[0xff, 0xff, 0xff], 64),
        Err(InvalidDeflateData)
    );
}

#[test]
fn a_final_block_ends_the_message_and_nothing_may_follow_it() {
    // Compressed with BFINAL (Z_FINISH), as some peers do: valid, and the next message starts
    // a fresh stream.
    let message = json(500);
    let mut z = zlib_rs::Deflate::new(6, false, 15);
    let mut wire = vec![0u8; 1000];
    z.compress(&message, &mut wire, zlib_rs::DeflateFlush::Finish)
        .unwrap();
    wire.truncate(z.total_out() as usize);
    let (_, mut c) = pair(params(15, 15, false, false));
    assert_eq!(inflate_message(&mut c, &wire, 64).unwrap(), message);
    assert_eq!(inflate_message(&mut c, &wire, 64).unwrap(), message);
    // Bytes behind the final block are not a DEFLATE stream.
    let mut behind = wire.clone();
    behind.extend_from_slice(&[0x00, 0x01]);
    assert_eq!(
        inflate_message(&mut c, &behind, 64),
        Err(InvalidDeflateData)
    );
}

#[test]
fn inflating_into_small_outputs_gives_the_same_bytes() {
    let (mut s, _) = pair(params(15, 15, false, false));
    let message = json(50_000);
    let mut wire = Vec::new();
    s.compress(&message, true, &mut wire);
    for out_chunk in [1, 5, 100, 16 * 1024] {
        let (_, mut c) = pair(params(15, 15, false, false));
        assert_eq!(inflate_message(&mut c, &wire, out_chunk).unwrap(), message);
    }
}

#[test]
fn incompressible_data_round_trips() {
    let (mut s, mut c) = pair(params(15, 15, false, false));
    let mut seed = 1u64;
    let message: Vec<u8> = (0..100_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let mut wire = Vec::new();
    s.compress(&message, true, &mut wire);
    // Level 1 (zlib-ng's quick strategy, fixed codes) may grow random data by up to ~5.5%.
    assert!(
        wire.len() < message.len() + message.len() * 6 / 100,
        "{}",
        wire.len()
    );
    let mut stored = PerMessageDeflate::new(
        params(15, 15, false, false),
        Role::Server,
        DeflateSettings::default().with_level(2),
    );
    let mut wire2 = Vec::new();
    stored.compress(&message, true, &mut wire2);
    assert!(
        wire2.len() < message.len() + message.len() / 1000,
        "{}",
        wire2.len()
    );
    assert_eq!(inflate_message(&mut c, &wire, 4096).unwrap(), message);
}
