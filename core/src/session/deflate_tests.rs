//! permessage-deflate through two sessions wired together in memory: every chunking, both
//! roles, the bounds, and the failures with their close codes.

use std::string::String;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::deflate::{DeflateSettings, PerMessageDeflate};
use crate::frame::{FrameHeader, OpCode, RSV1};
use crate::handshake::deflate::DeflateParams;
use crate::{Config, ProtocolError, Role};

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn params(client_nct: bool, server_nct: bool) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: server_nct,
        client_no_context_takeover: client_nct,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    }
}

fn pair_with(p: DeflateParams, config: Config, session: SessionConfig) -> (Session, Session) {
    let c = Session::new(Connection::client(config, t(0), 5), session).with_deflate(
        PerMessageDeflate::new(p, Role::Client, DeflateSettings::default()),
    );
    let s = Session::new(Connection::server(config, t(0)), session).with_deflate(
        PerMessageDeflate::new(p, Role::Server, DeflateSettings::default()),
    );
    (c, s)
}

fn pair() -> (Session, Session) {
    pair_with(
        params(false, false),
        Config::default(),
        SessionConfig::default(),
    )
}

/// Moves everything pending from `from` to `to`, `chunk` bytes per read, decoding everything
/// after each read.
fn deliver(from: &mut Session, to: &mut Session, chunk: usize) -> Vec<Message> {
    let mut got = Vec::new();
    while !from.pending_write().is_empty() {
        let space = to.read_space();
        let wire = from.pending_write();
        let n = wire.len().min(chunk).min(space.len());
        space[..n].copy_from_slice(&wire[..n]);
        from.written(n);
        to.received(n, t(1));
        while let Some(m) = to.poll_message() {
            got.push(m);
        }
    }
    got
}

fn json(n: usize) -> String {
    let mut s = String::new();
    let mut i = 0u32;
    while s.len() < n {
        s.push_str(&std::format!("{{\"id\":{i},\"v\":\"é{}\"}},", i % 13));
        i += 1;
    }
    while s.len() > n {
        s.pop();
    }
    s
}

#[test]
fn messages_of_every_size_round_trip_compressed_in_both_directions_and_any_chunking() {
    for chunk in [1, 3, 1000, usize::MAX] {
        let (mut c, mut s) = pair_with(
            params(false, false),
            Config::default(),
            SessionConfig::default().with_read_buffer_size(4096),
        );
        let sizes = [0usize, 1, 31, 32, 200, 20_000, 300_000];
        for direction in 0..2 {
            let (from, to) = if direction == 0 {
                (&mut c, &mut s)
            } else {
                (&mut s, &mut c)
            };
            let mut want = Vec::new();
            for &n in &sizes {
                let text = json(n);
                from.send(Frame::Text(&text)).unwrap();
                want.push(Message::Text(text.clone()));
                from.send(Frame::Binary(text.as_bytes())).unwrap();
                want.push(Message::Binary(text.into_bytes()));
            }
            assert_eq!(deliver(from, to, chunk), want, "chunk {chunk}");
        }
    }
}

#[test]
fn compressed_frames_carry_rsv1_on_the_first_frame_only_and_shrink_the_wire() {
    let (mut c, mut s) = pair();
    let text = json(10_000);
    s.send(Frame::Text(&text)).unwrap();
    let wire = s.pending_write().to_vec();
    let Ok(crate::frame::Decoded::Header(h, _)) = FrameHeader::decode(&wire) else {
        panic!("a frame header");
    };
    assert_eq!((h.rsv, h.opcode, h.fin), (RSV1, OpCode::Text, true));
    assert!(wire.len() < text.len() / 3, "{} bytes", wire.len());
    // Fragments: RSV1 on the first, none on the continuations.
    s.send_fragment(MessageKind::Binary, b"part one, part one, part one", false)
        .unwrap();
    let at = s.pending_write().len();
    s.send_fragment(MessageKind::Binary, b" and part two", true)
        .unwrap();
    let wire2 = s.pending_write().to_vec();
    let Ok(crate::frame::Decoded::Header(h1, _)) = FrameHeader::decode(&wire2[wire.len()..]) else {
        panic!()
    };
    let Ok(crate::frame::Decoded::Header(h2, _)) = FrameHeader::decode(&wire2[at..]) else {
        panic!()
    };
    assert_eq!((h1.rsv, h1.opcode, h1.fin), (RSV1, OpCode::Binary, false));
    assert_eq!((h2.rsv, h2.opcode, h2.fin), (0, OpCode::Continuation, true));
    let got = deliver(&mut s, &mut c, 7);
    assert_eq!(
        got,
        [
            Message::Text(text),
            Message::Binary(b"part one, part one, part one and part two".to_vec())
        ]
    );
}

#[test]
fn short_messages_and_send_uncompressed_go_out_without_rsv1() {
    let (mut c, mut s) = pair();
    s.send(Frame::Text("short")).unwrap();
    let secret = json(1000);
    s.send_uncompressed(Frame::Text(&secret)).unwrap();
    let wire = s.pending_write().to_vec();
    assert_eq!(wire[0], 0x81, "FIN, no RSV, text");
    assert_eq!(wire[7], 0x81, "FIN, no RSV, text");
    assert_eq!(
        deliver(&mut s, &mut c, 100),
        [Message::Text("short".into()), Message::Text(secret)]
    );
}

#[test]
fn the_server_decodes_a_client_context_takeover_stream_over_many_messages() {
    let (mut c, mut s) = pair();
    let mut total_wire = 0;
    let mut total_plain = 0;
    for i in 0..500 {
        let text = std::format!(
            "{{\"event\":\"tick\",\"seq\":{i},\"payload\":\"{}\"}}",
            json(300)
        );
        c.send(Frame::Text(&text)).unwrap();
        total_wire += c.pending_write().len();
        total_plain += text.len();
        assert_eq!(deliver(&mut c, &mut s, 4096), [Message::Text(text)]);
    }
    // Context takeover at work: later messages refer to earlier ones.
    assert!(
        total_wire * 10 < total_plain,
        "{total_wire} of {total_plain}"
    );
}

#[test]
fn events_deliver_inflated_chunks_with_first_and_last() {
    let (mut c, mut s) = pair();
    let text = json(100_000);
    c.send(Frame::Text(&text)).unwrap();
    let wire = c.pending_write().to_vec();
    s.push_received(&wire, t(1));
    let mut got = Vec::new();
    let mut firsts = 0;
    let mut lasts = 0;
    while let Some(event) = s.poll_event() {
        let Event::Data(chunk) = event else { panic!() };
        assert!(chunk.payload.len() <= 16 * 1024);
        firsts += chunk.first as usize;
        lasts += chunk.last as usize;
        got.extend_from_slice(chunk.payload);
    }
    assert_eq!((firsts, lasts), (1, 1));
    assert_eq!(got, text.as_bytes());
}

/// A compressed message that inflates to `mib` MiB of zeros, as a client would send it: one
/// MiB compressed (best level, its own stream, ending byte-aligned with a sync flush) repeated
/// — a valid DEFLATE stream, made in no time.
fn bomb(mib: usize) -> Vec<u8> {
    let mut d = PerMessageDeflate::new(
        params(true, true),
        Role::Client,
        DeflateSettings::default().with_level(9),
    );
    let mut one = Vec::new();
    d.compress(&vec![0u8; 1 << 20], false, &mut one);
    let mut out = one.repeat(mib);
    // The flush tail of the last piece is the receiver's to add.
    out.truncate(out.len() - 4);
    out
}

/// A masked client frame with `rsv` and `payload`.
fn client_frame(opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) -> Vec<u8> {
    let key = [1, 2, 3, 4];
    let h = FrameHeader {
        fin,
        rsv,
        opcode,
        mask: Some(key),
        payload_len: payload.len() as u64,
    };
    let mut out = vec![0u8; 14];
    let n = h.encode(&mut out);
    out.truncate(n);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

fn close_code_sent(s: &Session) -> Option<u16> {
    let wire = s.pending_write();
    let i = wire.iter().position(|&b| b == 0x88)?;
    Some(u16::from_be_bytes([wire[i + 2], wire[i + 3]]))
}

#[test]
fn a_message_that_inflates_past_the_limit_fails_with_1009_after_one_bounded_chunk() {
    // 1 GiB of zeros compresses to about 1 MB; the limit is 1 MiB.
    let config = Config::default().with_max_message_size(1 << 20);
    let (_, mut s) = pair_with(params(true, true), config, SessionConfig::default());
    let compressed = bomb(1024);
    assert!(compressed.len() < 2 << 20, "{}", compressed.len());
    let frame = client_frame(OpCode::Binary, true, RSV1, &compressed);
    let mut delivered = 0usize;
    let mut fed = 0;
    while fed < frame.len() && s.closure().is_none() {
        let space = s.read_space();
        let n = space.len().min(frame.len() - fed);
        space[..n].copy_from_slice(&frame[fed..fed + n]);
        fed += n;
        s.received(n, t(1));
        while let Some(event) = s.poll_event() {
            if let Event::Data(chunk) = event {
                delivered += chunk.payload.len();
            }
        }
        if close_code_sent(&s).is_some() {
            break;
        }
    }
    assert_eq!(close_code_sent(&s), Some(1009));
    // At most the limit plus one chunk was ever inflated, long before the frame was read.
    assert!(delivered <= (1 << 20) + 16 * 1024, "{delivered}");
    assert!(
        fed < frame.len(),
        "stopped after {fed} of {} bytes",
        frame.len()
    );
}

#[test]
fn inflated_text_that_is_not_utf8_fails_with_1007() {
    let (_, mut s) = pair();
    let mut d = PerMessageDeflate::new(
        params(false, false),
        Role::Client,
        DeflateSettings::default(),
    );
    let mut payload = Vec::new();
    d.compress(b"valid start \xff\xfe then garbage", true, &mut payload);
    s.push_received(&client_frame(OpCode::Text, true, RSV1, &payload), t(1));
    assert_eq!(s.poll_message(), None);
    assert_eq!(close_code_sent(&s), Some(1007));
    // A code point cut at the message's end is invalid too.
    let (_, mut s) = pair();
    let mut d = PerMessageDeflate::new(
        params(false, false),
        Role::Client,
        DeflateSettings::default(),
    );
    let mut payload = Vec::new();
    d.compress(
        "ends in a cut é".as_bytes().split_last().unwrap().1,
        true,
        &mut payload,
    );
    s.push_received(&client_frame(OpCode::Text, true, RSV1, &payload), t(1));
    assert_eq!(s.poll_message(), None);
    assert_eq!(close_code_sent(&s), Some(1007));
}

#[test]
fn data_that_does_not_inflate_fails_with_1007_and_rsv1_elsewhere_with_1002() {
    let (_, mut s) = pair();
    s.push_received(
        &client_frame(OpCode::Binary, true, RSV1, &[0xff, 0xff, 0xff]),
        t(1),
    );
    assert_eq!(s.poll_message(), None);
    assert_eq!(close_code_sent(&s), Some(1007));
    match s.connection().failure() {
        Some(ProtocolError::InvalidCompressedData) => {}
        other => panic!("{other:?}"),
    }
    // RSV1 on a continuation frame, or on a control frame: 1002 (RFC 7692 §6.1).
    for frames in [
        [
            client_frame(OpCode::Binary, false, RSV1, b"\x00"),
            client_frame(OpCode::Continuation, true, RSV1, b"\x00"),
        ],
        [
            client_frame(OpCode::Ping, true, RSV1, b""),
            client_frame(OpCode::Ping, true, 0, b""),
        ],
    ] {
        let (_, mut s) = pair();
        s.push_received(&frames.concat(), t(1));
        while s.poll_event().is_some() {}
        assert_eq!(close_code_sent(&s), Some(1002));
    }
    // Without the extension, RSV1 is 1002 as before.
    let mut plain = Session::new(
        Connection::server(Config::default(), t(0)),
        SessionConfig::default(),
    );
    plain.push_received(&client_frame(OpCode::Binary, true, RSV1, b"\x00"), t(1));
    assert_eq!(plain.poll_message(), None);
    assert_eq!(close_code_sent(&plain), Some(1002));
}

#[test]
fn a_flood_of_empty_and_tiny_compressed_fragments_is_bounded() {
    // 100 000 fragments of one message, empty or one byte: accepted, delivered as one message,
    // nothing grows but the message.
    let (_, mut s) = pair();
    let mut d = PerMessageDeflate::new(
        params(false, false),
        Role::Client,
        DeflateSettings::default(),
    );
    let mut wire = Vec::new();
    let mut first = Vec::new();
    d.compress(b"x", false, &mut first);
    wire.extend(client_frame(OpCode::Text, false, RSV1, &first));
    let mut want = String::from("x");
    for i in 0..100_000 {
        if i % 2 == 0 {
            wire.extend(client_frame(OpCode::Continuation, false, 0, b""));
        } else {
            let mut p = Vec::new();
            d.compress(b"y", false, &mut p);
            wire.extend(client_frame(OpCode::Continuation, false, 0, &p));
            want.push('y');
        }
    }
    let mut last = Vec::new();
    d.compress(b"", true, &mut last);
    wire.extend(client_frame(OpCode::Continuation, true, 0, &last));
    let got = {
        let mut got = Vec::new();
        for part in wire.chunks(60_000) {
            s.push_received(part, t(1));
            while let Some(m) = s.poll_message() {
                got.push(m);
            }
        }
        got
    };
    assert_eq!(got, [Message::Text(want)]);
}

#[test]
fn low_memory_mode_keeps_no_state_and_idle_sessions_hold_no_buffers() {
    let (mut c, mut s) = pair_with(
        params(true, true),
        Config::default(),
        SessionConfig::default(),
    );
    let text = json(5000);
    c.send(Frame::Text(&text)).unwrap();
    assert_eq!(deliver(&mut c, &mut s, 1 << 20), [Message::Text(text)]);
    let debug = std::format!("{:?}", s.deflate().unwrap());
    assert!(debug.contains("compressor_allocated: false"), "{debug}");
    assert!(debug.contains("inflater_allocated: false"), "{debug}");
    assert!(s.release_idle_buffers().is_some());
    let d = s.deflate.as_ref().unwrap();
    assert_eq!((d.out.capacity(), d.pending.is_none()), (0, true));
}
