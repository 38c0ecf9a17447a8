//! `differential`: the same bytes decoded by sockeye and by tungstenite (0.30, its
//! `WebSocket::from_raw_socket` over an in-memory stream), which must agree on accept vs reject
//! and on the messages produced.
//!
//! Input: `[flags] [wire bytes...]`; `flags` bit 0: server role (else client), bits 1–2: the
//! limits preset, the same for both implementations.
//!
//! Known differences, each normalised here (and each a place where sockeye follows RFC 6455 and
//! the oracle is laxer, or the two differ by design):
//!
//! 1. **Input that ends inside a frame.** sockeye checks a header as soon as it is complete
//!    (control-frame length, masking, RSV bits, limits) and fails fast on UTF-8 in the middle of
//!    a payload; tungstenite checks most of this only once the whole frame is buffered, so on
//!    truncated input it reports end of stream where sockeye already failed. The harness cuts the
//!    input after the last complete frame (read with a lax frame splitter), except when the last
//!    frame's header is complete and declares more than the frame limit, which both reject from
//!    the header alone.
//! 2. **Non-minimal length encoding** (§5.2 "the minimal number of bytes MUST be used"):
//!    sockeye fails the connection, tungstenite accepts. When sockeye fails with
//!    `NonMinimalLength`, only require that the messages before it match.
//! 3. **Close codes.** tungstenite reports a Close with a code it does not allow as a Close
//!    `1002 "Protocol violation"` (and answers 1002) instead of an error; sockeye fails the
//!    connection with 1002 (`InvalidCloseCode`). Both end the connection with a 1002, so that
//!    pair counts as a rejection by both. And tungstenite does not know 1014 (Bad Gateway,
//!    registered with IANA after RFC 6455), which sockeye accepts as sendable: a Close 1014 in
//!    sockeye against tungstenite's substituted 1002 is an agreement.
//! 4. **After the peer's Close.** sockeye ignores what follows the peer's Close (§5.5.1: the
//!    peer sends nothing after it; a server closes the transport); tungstenite as a client keeps
//!    reading and errors on a further frame. Both are compared up to the first Close.
//! 5. **Limits on control frames.** sockeye's `max_frame_payload` limits data frames; control
//!    frames are bounded by §5.5's 125 bytes. tungstenite applies `max_frame_size` to every
//!    frame, so the presets keep the frame limit at 125 bytes or more.
#![no_main]

use std::io::{self, Cursor, Read, Write};

use libfuzzer_sys::fuzz_target;
use sockeye_core::{Config, Connection, Instant, MessageKind, ProtocolError, Role};
use sockeye_fuzz::{read_all, Collector, Item};
use tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};
use tungstenite::{Error as TError, Message};

/// What one implementation made of the input: the messages, then how the stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Msg {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

#[derive(Debug)]
struct Outcome {
    messages: Vec<Msg>,
    /// Why the input was rejected, if it was.
    rejected: Option<String>,
}

/// The limits: (max frame payload, max message size); the frame limit is at least 125 (see 5.).
fn limits(flags: u8) -> (u64, u64) {
    match (flags >> 1) & 3 {
        0 => (16 << 20, 64 << 20),
        1 => (200, 1000),
        2 => (125, 125),
        _ => (1000, 300),
    }
}

/// The length of the frame at the start of `b` per the lax reading both share (any opcode,
/// any length encoding), or `None` if its header is incomplete; with the declared length.
fn lax_frame(b: &[u8]) -> Option<(u64, u64)> {
    let [_, b1, ..] = b else { return None };
    let (len, at) = match b1 & 0x7F {
        126 => (
            u16::from_be_bytes(b.get(2..4)?.try_into().unwrap()) as u64,
            4,
        ),
        127 => (u64::from_be_bytes(b.get(2..10)?.try_into().unwrap()), 10),
        n => (n as u64, 2),
    };
    let header = at + if b1 & 0x80 != 0 { 4 } else { 0 };
    if b.len() < header {
        return None;
    }
    Some((header as u64 + len.min(u64::MAX - header as u64), len))
}

/// Cuts `wire` after its last complete frame (see 1.).
fn whole_frames(wire: &[u8], max_frame: u64) -> &[u8] {
    let mut at = 0;
    while at < wire.len() {
        match lax_frame(&wire[at..]) {
            Some((total, _)) if total <= (wire.len() - at) as u64 => at += total as usize,
            Some((_, len)) if len > max_frame => return wire,
            _ => return &wire[..at],
        }
    }
    wire
}

fn sockeye(
    role: Role,
    (frame, message): (u64, u64),
    wire: &[u8],
) -> (Outcome, Option<ProtocolError>) {
    let config = Config::default()
        .with_max_frame_payload(frame)
        .with_max_message_size(message);
    let mut conn = Connection::new(role, config, Instant::ZERO, 1);
    let mut sink = Collector::new(&config);
    let mut buf = wire.to_vec();
    let mut abandoned = None;
    read_all(
        &mut conn,
        &mut buf,
        Instant::ZERO,
        &mut sink,
        &mut abandoned,
    );
    let mut messages = Vec::new();
    for item in sink.items {
        messages.push(match item {
            Item::Message { kind, payload, .. } => match kind {
                MessageKind::Text => Msg::Text(payload),
                MessageKind::Binary => Msg::Binary(payload),
            },
            Item::Ping(p) => Msg::Ping(p),
            Item::Pong(p) => Msg::Pong(p),
            Item::Close(code, reason) => Msg::Close(code, reason),
        });
    }
    if conn.failure().is_some() && matches!(messages.last(), Some(Msg::Close(..))) {
        // After a failure only the peer's Close is reported: it answers ours, after the error.
        messages.pop();
    }
    let failure = conn.failure();
    (
        Outcome {
            messages,
            rejected: failure.map(|e| format!("{e:?}")),
        },
        failure,
    )
}

/// An in-memory transport: reads from the input, swallows what tungstenite writes.
struct Stream {
    input: Cursor<Vec<u8>>,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tungstenite(role: Role, (frame, message): (u64, u64), wire: &[u8]) -> Outcome {
    let config = WebSocketConfig::default()
        .max_frame_size(Some(frame as usize))
        .max_message_size(Some(message as usize));
    let role = match role {
        Role::Client => TRole::Client,
        Role::Server => TRole::Server,
    };
    let stream = Stream {
        input: Cursor::new(wire.to_vec()),
    };
    let mut ws = WebSocket::from_raw_socket(stream, role, Some(config));
    let mut messages = Vec::new();
    let rejected = loop {
        match ws.read() {
            Ok(m) => {
                let close = matches!(m, Message::Close(_));
                messages.push(match m {
                    Message::Text(t) => Msg::Text(t.as_bytes().to_vec()),
                    Message::Binary(b) => Msg::Binary(b.to_vec()),
                    Message::Ping(p) => Msg::Ping(p.to_vec()),
                    Message::Pong(p) => Msg::Pong(p.to_vec()),
                    Message::Close(None) => Msg::Close(None, String::new()),
                    Message::Close(Some(c)) => {
                        Msg::Close(Some(u16::from(c.code)), c.reason.as_str().to_owned())
                    }
                    Message::Frame(_) => unreachable!("read never yields raw frames"),
                });
                if close {
                    break None;
                }
            }
            Err(TError::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            )) => break None,
            Err(TError::Io(e)) => panic!("tungstenite I/O error on an in-memory stream: {e}"),
            Err(e @ (TError::ConnectionClosed | TError::AlreadyClosed)) => {
                panic!("tungstenite closed before a Close: {e}")
            }
            Err(e) => break Some(format!("{e}")),
        }
    };
    Outcome { messages, rejected }
}

fuzz_target!(|data: &[u8]| {
    let [flags, wire @ ..] = data else { return };
    let role = if flags & 1 != 0 {
        Role::Server
    } else {
        Role::Client
    };
    let limits = limits(*flags);
    let wire = whole_frames(wire, limits.0);

    let (ours, failure) = sockeye(role, limits, wire);
    let mut theirs = tungstenite(role, limits, wire);

    // 2. Non-minimal lengths: tungstenite is laxer; compare what came before.
    if failure == Some(ProtocolError::NonMinimalLength) {
        assert!(
            theirs.messages.starts_with(&ours.messages),
            "messages before a non-minimal length differ:\nsockeye {ours:?}\ntungstenite {theirs:?}"
        );
        return;
    }

    // 3. Close codes.
    let substituted = Msg::Close(Some(1002), "Protocol violation".to_owned());
    if theirs.rejected.is_none() && theirs.messages.last() == Some(&substituted) {
        match (failure, ours.messages.last()) {
            (Some(ProtocolError::InvalidCloseCode(code)), _)
                if !TCloseCode::from(code).is_allowed() =>
            {
                theirs.messages.pop();
                theirs.rejected = Some(format!("close code {code} replaced by 1002"));
            }
            (None, Some(Msg::Close(Some(1014), _))) => {
                *theirs.messages.last_mut().unwrap() = ours.messages.last().unwrap().clone();
            }
            _ => {}
        }
    }

    assert_eq!(
        ours.rejected.is_some(),
        theirs.rejected.is_some(),
        "accept/reject disagree:\nsockeye {ours:?}\ntungstenite {theirs:?}"
    );
    assert_eq!(
        ours.messages, theirs.messages,
        "messages differ:\nsockeye {ours:?}\ntungstenite {theirs:?}"
    );
});
