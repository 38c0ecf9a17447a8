//! `frame_decoder`: arbitrary bytes from the peer, in both roles, cut into chunks where the
//! fuzzer says.
//!
//! Input: `[flags] [n] [n chunk lengths] [wire bytes...]`.
//! - `flags` bit 0: server role (else client); bits 1–2: limits preset; bit 3: RSV1 claimed by
//!   an extension.
//! - the chunk lengths (0–255 each, used in turn) cut the wire bytes for the chunked run.
//!
//! Invariants:
//! - no panic, whatever the bytes;
//! - `read`'s contract: `consumed <= input.len()`, an event consumes at least one byte and its
//!   payload lies within the consumed bytes, no event means all input consumed;
//! - memory bounded by configuration: no frame or message delivered beyond the limits, text
//!   messages are valid UTF-8, control payloads at most 125 bytes;
//! - after a failure only a Close is reported; nothing after the peer's Close;
//! - what the engine transmits is valid for the peer, Pongs echo a received Ping, at most one
//!   Close and nothing after it;
//! - the logical result — complete messages (kind, frame sizes, payload), pings, pongs, the
//!   peer's Close, the failure, the Close we sent, and the closure after `handle_eof` — is the
//!   same for the whole input in one read, byte by byte, and in the fuzzer's chunks. A message
//!   cut short by a failure or the end of input may be delivered further in one run than in
//!   another (fail-fast UTF-8 reports the error before the chunk that holds it), so only the
//!   prefix relation is required there.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockeye_core::frame::RSV1;
use sockeye_core::{Closure, Config, Connection, Instant, ProtocolError, Role};
use sockeye_fuzz::{read_all, Collector, Item, Partial, WireChecker};

#[derive(Debug, PartialEq)]
struct Outcome {
    items: Vec<Item>,
    failure: Option<ProtocolError>,
    /// Frames we sent other than Pongs (whose number depends on how often we polled).
    sent: Vec<Item>,
    closure: Closure,
}

fn config(flags: u8) -> Config {
    let c = match (flags >> 1) & 3 {
        0 => Config::default(),
        1 => Config::default()
            .with_max_frame_payload(64)
            .with_max_message_size(200),
        2 => Config::default()
            .with_max_frame_payload(0)
            .with_max_message_size(0),
        _ => Config::default()
            .with_max_frame_payload(300)
            .with_max_message_size(100),
    };
    if flags & 8 != 0 {
        c.with_extension_rsv(RSV1)
    } else {
        c
    }
}

fn run(flags: u8, wire: &[u8], chunks: &mut dyn Iterator<Item = usize>) -> (Outcome, Partial) {
    let role = if flags & 1 != 0 {
        Role::Server
    } else {
        Role::Client
    };
    let config = config(flags);
    let now = Instant::ZERO;
    let mut conn = Connection::new(role, config, now, 7);
    let mut sink = Collector::new(&config);
    let mut abandoned = None;
    let mut sent = WireChecker::new(role);
    let mut sent_len = 0;
    let mut buf = wire.to_vec();
    let mut out = [0u8; 512];
    let mut pos = 0;
    while pos < buf.len() {
        let n = chunks.next().unwrap().min(buf.len() - pos);
        read_all(
            &mut conn,
            &mut buf[pos..pos + n],
            now,
            &mut sink,
            &mut abandoned,
        );
        pos += n;
        loop {
            let w = conn.poll_transmit(&mut out, now);
            if w == 0 {
                break;
            }
            sent.push(&out[..w], sent_len);
            sent_len += w;
        }
        assert!(!conn.wants_transmit());
    }
    conn.handle_eof(now);
    assert_eq!(conn.poll_transmit(&mut out, now), 0, "transmit after EOF");
    let closure = conn.poll_closure().expect("no closure after EOF");
    assert!(conn.poll_closure().is_none(), "second closure");
    assert!(conn.is_finished());
    // Closed: further input is ignored.
    let mut more = [0x81u8, 0x00];
    let r = conn.read(&mut more, now);
    assert!(r.event.is_none() && r.consumed == 2);

    let mut items_sent = Vec::new();
    for (item, _) in sent.items {
        match item {
            Item::Pong(p) => assert!(
                sink.pings.contains(&p),
                "Pong {p:?} answers no Ping received"
            ),
            other => items_sent.push(other),
        }
    }
    if let Some(failure) = conn.failure() {
        // We failed the connection: our Close carries the error's code (§7.1.7), unless the peer
        // had closed first.
        let code = failure.close_code().as_u16();
        assert!(
            matches!(items_sent.as_slice(), [Item::Close(Some(c), _)] if *c == code)
                || sink.saw_close(),
            "failed with {failure:?} but sent {items_sent:?}"
        );
    }
    let partial = abandoned.unwrap_or_else(|| sink.partial());
    (
        Outcome {
            items: sink.items,
            failure: conn.failure(),
            sent: items_sent,
            closure,
        },
        partial,
    )
}

fn prefix_related(a: &Partial, b: &Partial) -> bool {
    let (short, long) = if a.payload.len() <= b.payload.len() {
        (a, b)
    } else {
        (b, a)
    };
    long.payload.starts_with(&short.payload)
        && (short.kind.is_none() || short.payload.is_empty() || short.kind == long.kind)
}

fuzz_target!(|data: &[u8]| {
    let [flags, n, rest @ ..] = data else {
        return;
    };
    let n = (*n as usize % 32).min(rest.len());
    let (lens, wire) = rest.split_at(n);
    let mut lens: Vec<usize> = lens.iter().map(|&b| b as usize).collect();
    if lens.iter().all(|&l| l == 0) {
        lens.push(wire.len().max(1));
    }

    let (whole, whole_partial) = run(*flags, wire, &mut std::iter::repeat(usize::MAX));
    let (bytewise, bytewise_partial) = run(*flags, wire, &mut std::iter::repeat(1));
    let (chunked, chunked_partial) = run(*flags, wire, &mut lens.iter().copied().cycle());

    assert_eq!(whole, bytewise, "one read vs byte by byte");
    assert_eq!(whole, chunked, "one read vs chunks {lens:?}");
    assert!(prefix_related(&whole_partial, &bytewise_partial));
    assert!(prefix_related(&whole_partial, &chunked_partial));
});
