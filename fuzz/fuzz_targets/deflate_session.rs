//! `deflate_session`: compressed traffic (RFC 7692) into a server `Session` with
//! permessage-deflate, in two chunkings.
//!
//! The input describes frames: each is a header byte (FIN, RSV1, opcode bits), a length byte,
//! and that many bytes that are either sent as they are (arbitrary "compressed" data) or,
//! with the top bit of the length byte, first compressed by a real client compressor — so
//! both garbage and valid streams with context takeover reach the inflater.
//!
//! Invariants:
//! - no panic, whatever the input;
//! - limits honoured: no message above `max_message_size` is delivered, and memory stays bounded
//!   (libFuzzer's RSS limit);
//! - the same messages and the same closure for any chunking of the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockeye_core::deflate::{DeflateSettings, PerMessageDeflate};
use sockeye_core::frame::FrameHeader;
use sockeye_core::handshake::deflate::DeflateParams;
use sockeye_core::session::{Session, SessionConfig};
use sockeye_core::{Config, Connection, Instant, Message, OpCode, Role};

const MAX_MESSAGE: u64 = 4096;

fn params(bits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: bits & 1 != 0,
        client_no_context_takeover: bits & 2 != 0,
        server_max_window_bits: 9 + (bits >> 2) % 7,
        client_max_window_bits: 9 + (bits >> 5) % 7,
    }
}

/// The wire bytes a client would send for the frames `data` describes.
fn wire(p: DeflateParams, mut data: &[u8]) -> Vec<u8> {
    let mut client = PerMessageDeflate::new(p, Role::Client, DeflateSettings::default());
    let mut out = Vec::new();
    while let [b0, len, rest @ ..] = data {
        let n = usize::from(len & 0x7F).min(rest.len());
        let (body, tail) = rest.split_at(n);
        data = tail;
        let fin = b0 & 0x80 != 0;
        let payload = if len & 0x80 != 0 {
            let mut compressed = Vec::new();
            client.compress(body, fin, &mut compressed);
            compressed
        } else {
            body.to_vec()
        };
        let opcode = match b0 & 0x03 {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            _ => OpCode::Ping,
        };
        let key = [*b0, *len, 7, 9];
        let header = FrameHeader {
            fin,
            rsv: b0 & 0x70,
            opcode,
            mask: Some(key),
            payload_len: payload.len() as u64,
        };
        let mut h = [0u8; 14];
        let hl = header.encode(&mut h);
        out.extend_from_slice(&h[..hl]);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    }
    out
}

/// Feeds `bytes` in reads of `chunk` bytes; returns the messages and the close code sent.
fn run(p: DeflateParams, bytes: &[u8], chunk: usize) -> (Vec<Message>, Option<u16>) {
    let config = Config::default()
        .with_max_message_size(MAX_MESSAGE)
        .with_max_frame_payload(MAX_MESSAGE);
    let mut s = Session::new(
        Connection::server(config, Instant::ZERO),
        SessionConfig::default().with_read_buffer_size(512),
    )
    .with_deflate(PerMessageDeflate::new(p, Role::Server, DeflateSettings::default()));
    let mut messages = Vec::new();
    for part in bytes.chunks(chunk.max(1)) {
        s.push_received(part, Instant::ZERO);
        while let Some(m) = s.poll_message() {
            if let Message::Text(t) = &m {
                assert!(t.len() as u64 <= MAX_MESSAGE);
            }
            if let Message::Binary(b) = &m {
                assert!(b.len() as u64 <= MAX_MESSAGE);
            }
            messages.push(m);
        }
    }
    let close = s.connection().failure().map(|e| e.close_code().as_u16());
    (messages, close)
}

fuzz_target!(|data: &[u8]| {
    let [bits, chunk, rest @ ..] = data else {
        return;
    };
    let p = params(*bits);
    let bytes = wire(p, rest);
    let whole = run(p, &bytes, bytes.len());
    let pieces = run(p, &bytes, usize::from(*chunk) + 1);
    assert_eq!(whole, pieces, "chunking changed the outcome");
});
