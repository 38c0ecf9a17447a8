//! A client engine and a server engine wired together in memory with a virtual clock.
//!
//! These tests drive whole sessions without sockets: echo, fragmentation with interleaved
//! pings, the closing handshake from either side and from both at once, close and keepalive
//! timeouts, and a transport that ends at every byte offset of a scripted session.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use sockeye_core::{
    AbnormalCause, CloseCode, Closure, ClosureKind, Config, Connection, ConnectionState, Event,
    Frame, Initiator, Instant, Keepalive, Message, MessageAssembler, MessageKind, OpCode, Phase,
};

/// One end: its engine, what it received, and its transport's state.
struct Side {
    conn: Connection,
    asm: MessageAssembler,
    received: Vec<Message>,
    closures: Vec<Closure>,
    /// Our transport was closed by us (after the closure) — the peer sees EOF.
    transport_closed: bool,
    /// We saw EOF.
    eof_seen: bool,
}

impl Side {
    fn new(conn: Connection) -> Side {
        Side {
            conn,
            asm: MessageAssembler::new(),
            received: Vec::new(),
            closures: Vec::new(),
            transport_closed: false,
            eof_seen: false,
        }
    }

    fn feed(&mut self, bytes: &mut [u8], now: Instant) {
        support::feed(
            &mut self.conn,
            &mut self.asm,
            &mut self.received,
            bytes,
            now,
        );
    }

    fn data(&self) -> Vec<Message> {
        support::data(&self.received)
    }
}

struct Pair {
    client: Side,
    server: Side,
    now: Instant,
    /// Bytes in flight client → server and server → client.
    c2s: Vec<u8>,
    s2c: Vec<u8>,
    /// A half-open link: everything sent is silently dropped.
    blackhole: bool,
}

impl Pair {
    fn new(config: Config) -> Pair {
        Pair::with(config, config)
    }

    fn with(client: Config, server: Config) -> Pair {
        Pair {
            client: Side::new(Connection::client(client, Instant::ZERO, 42)),
            server: Side::new(Connection::server(server, Instant::ZERO)),
            now: Instant::ZERO,
            c2s: Vec::new(),
            s2c: Vec::new(),
            blackhole: false,
        }
    }

    fn send(&mut self, from_client: bool, frame: Frame<'_>) {
        let side = if from_client {
            &mut self.client
        } else {
            &mut self.server
        };
        let mut buf = vec![0u8; side.conn.frame_len(frame_payload_len(&frame))];
        let n = side.conn.encode(frame, &mut buf).expect("encode");
        if !self.blackhole {
            if from_client {
                &mut self.c2s
            } else {
                &mut self.s2c
            }
            .extend_from_slice(&buf[..n]);
        }
    }

    /// Moves bytes until nothing changes, like two well-behaved drivers.
    fn drive(&mut self) {
        for _ in 0..100 {
            let mut progress = false;
            for from_client in [true, false] {
                let now = self.now;
                let (side, wire) = if from_client {
                    (&mut self.client, &mut self.c2s)
                } else {
                    (&mut self.server, &mut self.s2c)
                };
                if !side.transport_closed {
                    let mut out = [0u8; 1024];
                    let n = side.conn.poll_transmit(&mut out, now);
                    if n > 0 && !self.blackhole {
                        wire.extend_from_slice(&out[..n]);
                    }
                    progress |= n > 0;
                }
                if let Some(c) = side.conn.poll_closure() {
                    side.closures.push(c);
                    side.transport_closed = true;
                    progress = true;
                }
            }
            for to_server in [true, false] {
                let now = self.now;
                let (wire, side, peer_closed) = if to_server {
                    (
                        &mut self.c2s,
                        &mut self.server,
                        self.client.transport_closed,
                    )
                } else {
                    (
                        &mut self.s2c,
                        &mut self.client,
                        self.server.transport_closed,
                    )
                };
                if !wire.is_empty() {
                    let mut bytes = std::mem::take(wire);
                    if !side.transport_closed {
                        side.feed(&mut bytes, now);
                    }
                    progress = true;
                } else if peer_closed && !side.eof_seen && !self.blackhole {
                    side.eof_seen = true;
                    side.conn.handle_eof(now);
                    progress = true;
                }
            }
            if !progress {
                return;
            }
        }
        panic!("drive did not settle");
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        self.client.conn.handle_timeout(self.now);
        self.server.conn.handle_timeout(self.now);
        self.drive();
    }

    /// Advances in steps of `step` until both sides produced their closure, or `limit` passes.
    fn run_until_closed(&mut self, step: Duration, limit: Duration) {
        let end = self.now + limit;
        while (self.client.closures.is_empty() || self.server.closures.is_empty()) && self.now < end
        {
            self.advance(step);
        }
    }
}

fn frame_payload_len(frame: &Frame<'_>) -> usize {
    match frame {
        Frame::Text(s) => s.len(),
        Frame::Binary(b) | Frame::Ping(b) | Frame::Pong(b) => b.len(),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn echo_both_ways() {
    let mut p = Pair::new(Config::default());
    let big = vec![0xA5u8; 70_000];
    p.send(true, Frame::Text("hello"));
    p.send(true, Frame::Binary(&big));
    p.send(false, Frame::Text(""));
    p.drive();
    assert_eq!(
        p.server.data(),
        vec![Message::Text("hello".into()), Message::Binary(big.clone())]
    );
    assert_eq!(p.client.data(), vec![Message::Text(String::new())]);
}

#[test]
fn fragmented_message_with_interleaved_pings() {
    let mut p = Pair::new(Config::default());
    let mut buf = [0u8; 256];
    let text = "fragmented ünïcödé text";
    let bytes = text.as_bytes();
    for (i, piece) in bytes.chunks(5).enumerate() {
        let fin = (i + 1) * 5 >= bytes.len();
        let n = p
            .client
            .conn
            .encode_fragment(MessageKind::Text, piece, fin, &mut buf)
            .unwrap();
        p.c2s.extend_from_slice(&buf[..n]);
        p.send(true, Frame::Ping(&[i as u8]));
    }
    p.drive();
    assert_eq!(p.server.data(), vec![Message::Text(text.into())]);
    let pings = p
        .server
        .received
        .iter()
        .filter(|m| matches!(m, Message::Ping(_)))
        .count();
    let pongs = p
        .client
        .received
        .iter()
        .filter(|m| matches!(m, Message::Pong(_)))
        .count();
    assert_eq!(pings, bytes.chunks(5).count());
    // The server answers at least the latest ping of each batch it read (§5.5.2 allows
    // answering only the latest).
    assert!(pongs >= 1);
}

#[test]
fn client_initiated_close_is_clean_on_both_sides() {
    let mut p = Pair::new(Config::default());
    p.client
        .conn
        .close(CloseCode::NORMAL, "bye", p.now)
        .unwrap();
    p.drive();
    let (c, s) = (&p.client.closures, &p.server.closures);
    assert_eq!((c.len(), s.len()), (1, 1));
    assert!(c[0].is_clean() && s[0].is_clean());
    assert_eq!(s[0].reason(), "bye");
    assert!(matches!(
        c[0].kind(),
        ClosureKind::Clean {
            initiator: Initiator::Local,
            peer_kept_transport_open: false,
            ..
        }
    ));
    assert!(matches!(
        s[0].kind(),
        ClosureKind::Clean {
            initiator: Initiator::Peer,
            ..
        }
    ));
    // The server closed the transport first (§7.1.1) and the client saw the EOF.
    assert!(p.client.eof_seen);
}

#[test]
fn server_initiated_close_is_clean_on_both_sides() {
    let mut p = Pair::new(Config::default());
    p.send(false, Frame::Text("last words"));
    p.server
        .conn
        .close(CloseCode::GOING_AWAY, "restart", p.now)
        .unwrap();
    p.drive();
    assert_eq!(p.client.data(), vec![Message::Text("last words".into())]);
    assert_eq!(p.client.closures[0].code(), CloseCode::GOING_AWAY);
    assert_eq!(p.server.closures[0].code(), CloseCode::GOING_AWAY);
    assert!(p.client.closures[0].is_clean() && p.server.closures[0].is_clean());
}

#[test]
fn simultaneous_close() {
    let mut p = Pair::new(Config::default());
    p.client.conn.close(CloseCode::NORMAL, "", p.now).unwrap();
    p.server.conn.close(CloseCode::NORMAL, "", p.now).unwrap();
    p.drive();
    for side in [&p.client, &p.server] {
        assert_eq!(side.closures.len(), 1);
        assert!(matches!(
            side.closures[0].kind(),
            ClosureKind::Clean {
                initiator: Initiator::Local,
                ..
            }
        ));
    }
}

#[test]
fn close_timeout_when_the_link_goes_silent() {
    let mut p = Pair::new(Config::default().with_close_timeout(Duration::from_secs(3)));
    p.blackhole = true;
    p.client.conn.close(CloseCode::NORMAL, "", p.now).unwrap();
    while p.client.closures.is_empty() {
        p.advance(ms(500));
    }
    let c = &p.client.closures[0];
    assert_eq!(
        *c.kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::CloseTimeout,
            phase: Phase::AfterCloseSent
        }
    );
    assert_eq!(p.now, Instant::from_millis(3000));
}

#[test]
fn keepalive_detects_a_half_open_link_within_interval_plus_timeout() {
    let ka = Keepalive {
        interval: Duration::from_secs(20),
        timeout: Duration::from_secs(5),
    };
    let mut p = Pair::new(Config::default().with_keepalive(Some(ka)));
    p.send(false, Frame::Text("hi"));
    p.send(true, Frame::Text("hello"));
    p.drive();
    p.advance(Duration::from_secs(1));
    // From now on the link silently drops everything.
    p.blackhole = true;
    let cut = p.now;
    p.run_until_closed(ms(100), Duration::from_secs(60));
    for side in [&p.client, &p.server] {
        let c = &side.closures[0];
        assert_eq!(
            *c.kind(),
            ClosureKind::Abnormal {
                cause: AbnormalCause::KeepaliveTimeout,
                phase: Phase::FrameBoundary
            }
        );
        assert!(c.idle() <= ka.interval + ka.timeout, "{:?}", c.idle());
    }
    assert!(p.now - cut <= ka.interval + ka.timeout);
}

#[test]
fn keepalive_keeps_an_idle_cutting_intermediary_from_firing() {
    // A proxy cuts connections after 30 s without traffic; a 20 s ping interval keeps it alive.
    let ka = Keepalive {
        interval: Duration::from_secs(20),
        timeout: Duration::from_secs(5),
    };
    let mut p = Pair::with(
        Config::default().with_keepalive(Some(ka)),
        Config::default(),
    );
    let mut last_traffic = p.now;
    for _ in 0..3000 {
        p.now = p.now + ms(100);
        p.client.conn.handle_timeout(p.now);
        p.server.conn.handle_timeout(p.now);
        let before = (p.client.received.len(), p.server.received.len());
        p.drive();
        if (p.client.received.len(), p.server.received.len()) != before {
            last_traffic = p.now;
        }
        assert!(
            p.now - last_traffic < Duration::from_secs(30),
            "the proxy would have cut at {:?}",
            p.now
        );
    }
    assert!(p.client.closures.is_empty() && p.server.closures.is_empty());
    assert!(p.client.conn.rtt().is_some());
}

/// A scripted session's frames as one side sends them, with where each frame starts and ends.
struct Script {
    wire: Vec<u8>,
    /// (start, header length, payload length, opcode, fin, message index completed by this frame)
    frames: Vec<(usize, usize, usize, OpCode, bool, Option<usize>)>,
    messages: Vec<Message>,
}

fn script(conn: &mut Connection) -> Script {
    let mut s = Script {
        wire: Vec::new(),
        frames: Vec::new(),
        messages: Vec::new(),
    };
    let mut buf = vec![0u8; 80_000];
    let push = |s: &mut Script,
                n: usize,
                buf: &[u8],
                op: OpCode,
                fin: bool,
                payload: usize,
                done: Option<Message>| {
        let start = s.wire.len();
        s.wire.extend_from_slice(&buf[..n]);
        let done = done.map(|m| {
            s.messages.push(m);
            s.messages.len() - 1
        });
        s.frames.push((start, n - payload, payload, op, fin, done));
    };
    let n = conn.encode(Frame::Text("hello"), &mut buf).unwrap();
    push(
        &mut s,
        n,
        &buf,
        OpCode::Text,
        true,
        5,
        Some(Message::Text("hello".into())),
    );
    let bin: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
    for (i, piece) in bin.chunks(100).enumerate() {
        let n = conn
            .encode_fragment(MessageKind::Binary, piece, i == 2, &mut buf)
            .unwrap();
        let op = if i == 0 {
            OpCode::Binary
        } else {
            OpCode::Continuation
        };
        push(
            &mut s,
            n,
            &buf,
            op,
            i == 2,
            100,
            (i == 2).then(|| Message::Binary(bin.clone())),
        );
        if i == 0 {
            let n = conn.encode(Frame::Ping(b"between"), &mut buf).unwrap();
            push(&mut s, n, &buf, OpCode::Ping, true, 7, None);
        }
    }
    let big = "x".repeat(70_000);
    let n = conn.encode(Frame::Text(&big), &mut buf).unwrap();
    push(
        &mut s,
        n,
        &buf,
        OpCode::Text,
        true,
        70_000,
        Some(Message::Text(big.clone())),
    );
    let n = conn.encode(Frame::Binary(b""), &mut buf).unwrap();
    push(
        &mut s,
        n,
        &buf,
        OpCode::Binary,
        true,
        0,
        Some(Message::Binary(Vec::new())),
    );
    s
}

/// The phase a receiver is in after `k` bytes of the script.
fn expected_phase(s: &Script, k: usize) -> Phase {
    if k == 0 {
        return Phase::BeforeFirstFrame;
    }
    let mut in_message = 0u64;
    for &(start, hlen, plen, op, fin, _) in &s.frames {
        let end = start + hlen + plen;
        if k < start + hlen {
            return Phase::FrameHeader {
                received: (k - start) as u8,
            };
        }
        if k < end {
            return Phase::FramePayload {
                opcode: op,
                received: (k - start - hlen) as u64,
                expected: plen as u64,
            };
        }
        if !op.is_control() {
            in_message = if fin { 0 } else { in_message + plen as u64 };
        }
        if k == end {
            return if in_message > 0 {
                Phase::BetweenFragments {
                    message_bytes: in_message,
                }
            } else {
                Phase::FrameBoundary
            };
        }
    }
    Phase::FrameBoundary
}

fn check_eof_at_every_offset(client_sends: bool) {
    let mut sender = if client_sends {
        Connection::client(Config::default(), Instant::ZERO, 9)
    } else {
        Connection::server(Config::default(), Instant::ZERO)
    };
    let s = script(&mut sender);
    // Every offset in the small frames, and a sample inside the large one.
    let offsets: Vec<usize> = (0..=s.wire.len())
        .filter(|k| *k < 600 || *k % 997 == 0 || *k + 600 > s.wire.len())
        .collect();
    for k in offsets {
        let receiver = if client_sends {
            Connection::server(Config::default(), Instant::ZERO)
        } else {
            Connection::client(Config::default(), Instant::ZERO, 1)
        };
        let mut side = Side::new(receiver);
        let mut bytes = s.wire[..k].to_vec();
        // Deliver in uneven reads.
        let mut pos = 0;
        let mut step = 1;
        while pos < bytes.len() {
            let end = (pos + step).min(bytes.len());
            side.feed(&mut bytes[pos..end], Instant::from_millis(1000));
            pos = end;
            step = step * 3 + 1;
        }
        side.conn.handle_eof(Instant::from_millis(61_000));
        let closure = side.conn.poll_closure().expect("a closure");
        assert!(side.conn.poll_closure().is_none(), "exactly one closure");
        let want = ClosureKind::Abnormal {
            cause: AbnormalCause::Eof,
            phase: expected_phase(&s, k),
        };
        assert_eq!(*closure.kind(), want, "offset {k}");
        assert_eq!(closure.code().as_u16(), 1006);
        let idle = if k == 0 { 61_000 } else { 60_000 };
        assert_eq!(closure.idle(), ms(idle), "offset {k}");
        // Every message whose last frame was complete was delivered, intact and in order.
        let complete: Vec<Message> = s
            .frames
            .iter()
            .filter(|f| f.0 + f.1 + f.2 <= k)
            .filter_map(|f| f.5.map(|i| s.messages[i].clone()))
            .collect();
        assert_eq!(side.data(), complete, "offset {k}");
    }
}

#[test]
fn eof_at_every_offset_client_to_server() {
    check_eof_at_every_offset(true);
}

#[test]
fn eof_at_every_offset_server_to_client() {
    check_eof_at_every_offset(false);
}

#[test]
fn closure_display_is_actionable() {
    let mut p = Pair::new(Config::default());
    p.send(true, Frame::Text("x"));
    p.drive();
    p.now = p.now + Duration::from_secs(60);
    p.server.conn.handle_eof(p.now);
    let c = p.server.conn.poll_closure().unwrap();
    let text = c.to_string();
    assert!(
        text.contains("1006") && text.contains("60.0 s") && text.contains("idle timeout"),
        "{text}"
    );
    assert_eq!(p.server.conn.state(), ConnectionState::Closed);
}

/// Logical events: what a user observes, independent of how the input was chunked.
#[derive(Debug, PartialEq, Eq)]
enum Logical {
    Message(Message),
    Failed(Option<sockeye_core::ProtocolError>),
}

fn logical(conn: &mut Connection, input: &[u8], cuts: &[usize]) -> Vec<Logical> {
    let mut side = Side::new(conn.clone());
    let mut bytes = input.to_vec();
    let mut prev = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts.into_iter().chain(std::iter::once(input.len())) {
        side.feed(&mut bytes[prev..c], Instant::ZERO);
        prev = c;
    }
    let mut out: Vec<Logical> = side.received.into_iter().map(Logical::Message).collect();
    out.push(Logical::Failed(side.conn.failure()));
    out
}

fn arb_frames() -> impl Strategy<Value = Vec<(u8, Vec<u8>, bool)>> {
    proptest::collection::vec(
        (
            0u8..5,
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<bool>(),
        ),
        0..12,
    )
}

/// Encodes a random but valid client session.
fn encode_session(frames: &[(u8, Vec<u8>, bool)]) -> Vec<u8> {
    let mut c = Connection::client(Config::default(), Instant::ZERO, 5);
    let mut wire = Vec::new();
    let mut buf = vec![0u8; 1024];
    let mut text_open = false;
    for (kind, payload, fin) in frames {
        let n = match kind {
            0 => c.encode(Frame::Ping(&payload[..payload.len().min(125)]), &mut buf),
            1 => c.encode(Frame::Pong(&payload[..payload.len().min(20)]), &mut buf),
            2 => {
                let s = String::from_utf8_lossy(payload).into_owned();
                let s = &s[..s.char_indices().map(|(i, _)| i).nth(40).unwrap_or(s.len())];
                if text_open {
                    continue;
                }
                c.encode(Frame::Text(s), &mut buf)
            }
            _ => {
                let r = c.encode_fragment(MessageKind::Binary, payload, *fin, &mut buf);
                if r.is_err() {
                    continue;
                }
                text_open = !*fin;
                r
            }
        }
        .unwrap();
        wire.extend_from_slice(&buf[..n]);
    }
    wire
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_chunking_gives_the_same_logical_events(frames in arb_frames(), cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let wire = encode_session(&frames);
        let mut server = Connection::server(Config::default(), Instant::ZERO);
        let whole = logical(&mut server, &wire, &[]);
        prop_assert_eq!(whole.last(), Some(&Logical::Failed(None)));
        prop_assert_eq!(logical(&mut server, &wire, &cuts), whole);
    }

    #[test]
    fn garbage_never_panics_and_chunking_never_matters(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                                      cuts in proptest::collection::vec(any::<usize>(), 0..8),
                                                      client in any::<bool>()) {
        let cfg = Config::default().with_max_frame_payload(1000).with_max_message_size(2000);
        let mut conn = if client { Connection::client(cfg, Instant::ZERO, 1) } else { Connection::server(cfg, Instant::ZERO) };
        let whole = logical(&mut conn, &bytes, &[]);
        prop_assert_eq!(logical(&mut conn, &bytes, &cuts), whole);
        // Whatever happened, the engine can still be ended, once.
        conn.handle_eof(Instant::ZERO);
        prop_assert!(conn.poll_closure().is_some());
        prop_assert!(conn.poll_closure().is_none());
    }

    #[test]
    fn events_borrow_within_the_input(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut conn = Connection::server(Config::default(), Instant::ZERO);
        let mut buf = bytes.clone();
        let base = buf.as_ptr() as usize;
        let len = buf.len();
        let mut pos = 0;
        loop {
            let r = conn.read(&mut buf[pos..], Instant::ZERO);
            prop_assert!(r.consumed <= len - pos);
            let consumed_to = pos + r.consumed;
            match r.event {
                None => { prop_assert_eq!(consumed_to, len); break }
                Some(Event::Data(c)) => {
                    let at = c.payload.as_ptr() as usize;
                    prop_assert!(at >= base + pos && at + c.payload.len() <= base + consumed_to);
                }
                Some(_) => {}
            }
            pos = consumed_to;
        }
    }
}
