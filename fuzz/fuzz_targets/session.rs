//! `session`: a client engine and a server engine wired together in memory, driven by a
//! structured sequence of operations (`arbitrary`): user sends of every kind, closes from either
//! side, time advancing, partial delivery, truncation and transport end at chosen points, and
//! garbage injected into either direction.
//!
//! The driver follows the engine's contract: `poll_transmit` after every call and before any
//! data frame, `poll_timeout`/`handle_timeout` when time passes, and when a side yields its
//! `Closure` it closes its transport (what it wrote still reaches the peer, then end of stream;
//! what the peer writes afterwards is lost).
//!
//! Invariants:
//! - no panic;
//! - every side yields exactly one `Closure` once both transports have ended, and none after;
//! - every byte either engine emits is a valid frame for the other (checked by an independent
//!   strict parser), nothing follows a side's Close, and the receiver never fails the connection
//!   unless garbage was injected in its direction (so a `Failed` closure needs garbage);
//! - every message, ping, pong and Close whose last byte reached the receiver before any garbage
//!   and before the receiver was closed is received intact and in order; without garbage the
//!   receiver gets exactly those;
//! - a `Clean` closure means the side sent its Close and received the peer's, the one reported;
//! - timers converge: after `handle_timeout(now)` no deadline at or before `now` is left
//!   pending for long.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sockeye_core::{
    AbnormalCause, CloseCode, ClosureKind, Config, Connection, ConnectionState, Frame, Instant,
    Keepalive, MessageKind, Phase, ProtocolError, Role, TransportError,
};
use sockeye_fuzz::{read_all, Collector, Item, Partial, WireChecker};

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

impl Side {
    fn idx(self) -> usize {
        self as usize
    }
    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Text(Side, String),
    Binary(Side, Vec<u8>),
    /// A text message cut into fragments at the given byte offsets (possibly inside a code
    /// point); `finish: false` leaves it unfinished.
    TextFragments(Side, String, Vec<u8>, bool),
    BinaryFragment(Side, Vec<u8>, bool),
    Ping(Side, Vec<u8>),
    Pong(Side, Vec<u8>),
    /// Close with a code chosen from the sendable ones (or a raw one when the flag is set).
    Close(Side, u16, bool, String),
    /// Delivers at most this many bytes to the side.
    Deliver(Side, u16),
    DeliverAll,
    Advance(u16),
    /// Delivers at most this many bytes to the side, drops the rest; the direction's transport
    /// reaches end of stream.
    Truncate(Side, u16),
    /// The transport in the direction of the side fails (everything in flight is lost).
    TransportError(Side),
    /// Bytes injected on the way to the side.
    Garbage(Side, Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    keepalive: Option<(u8, u8)>,
    close_timeout_ms: u8,
    small_limits: bool,
    seed: u64,
    ops: Vec<Op>,
}

/// The bytes on their way from one side to the other.
struct Direction {
    /// Bytes written but not yet delivered.
    queue: Vec<u8>,
    /// Stream offset of `queue[0]`.
    delivered: usize,
    /// Total written (stream offset of the end of `queue`).
    written: usize,
    /// Stream offset of the first injected garbage byte.
    garbage_at: Option<usize>,
    /// Stream offset up to which the receiver, still open, took the bytes.
    received_live: usize,
    /// The stream ends after what is queued (the sender closed its transport, or a
    /// truncation).
    closing: bool,
    /// The stream ended (the receiver was told, or is itself closed).
    ended: bool,
    /// The sender's bytes, parsed strictly.
    checker: WireChecker,
}

struct End {
    conn: Connection,
    sink: Collector,
    abandoned: Option<Partial>,
    closures: Vec<sockeye_core::Closure>,
}

struct Pair {
    ends: [End; 2],
    /// `dirs[i]`: bytes on their way *to* side i.
    dirs: [Direction; 2],
    now: Instant,
    /// Time passed, or a transport was cut or fed garbage: closures may then be abnormal.
    disturbed: bool,
    /// A side started the closing handshake.
    close_started: bool,
}

const CODES: [u16; 16] = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
];

impl Pair {
    fn new(input: &Input) -> Pair {
        let mut config = Config::default()
            .with_close_timeout(Duration::from_millis(input.close_timeout_ms as u64 * 10));
        if input.small_limits {
            config = config
                .with_max_frame_payload(300)
                .with_max_message_size(1000);
        }
        if let Some((interval, timeout)) = input.keepalive {
            config = config.with_keepalive(Some(Keepalive {
                interval: Duration::from_millis(interval as u64 * 10),
                timeout: Duration::from_millis(timeout as u64 * 10),
            }));
        }
        let now = Instant::ZERO;
        let end = |conn: Connection| End {
            sink: Collector::new(&config),
            conn,
            abandoned: None,
            closures: Vec::new(),
        };
        let dir = |sender| Direction {
            queue: Vec::new(),
            delivered: 0,
            written: 0,
            garbage_at: None,
            received_live: 0,
            closing: false,
            ended: false,
            checker: WireChecker::new(sender).with_limits(&config),
        };
        Pair {
            ends: [
                end(Connection::client(config, now, input.seed)),
                end(Connection::server(config, now)),
            ],
            // To the client: from the server, and the other way round.
            dirs: [dir(Role::Server), dir(Role::Client)],
            now,
            disturbed: false,
            close_started: false,
        }
    }

    /// The sender's bytes go on the wire toward its peer (lost if that transport is gone).
    fn write(&mut self, from: Side, bytes: &[u8]) {
        let dir = &mut self.dirs[from.other().idx()];
        dir.checker.push(bytes, dir.written);
        if dir.ended || dir.closing {
            // The transport is gone (a side that closed its own never writes: see `service`).
            return;
        }
        dir.queue.extend_from_slice(bytes);
        dir.written += bytes.len();
    }

    /// Flushes what `side` must send and takes its closure if it has one.
    fn service(&mut self, side: Side) {
        let mut out = [0u8; 3 * sockeye_core::frame::MAX_CONTROL_FRAME_LEN];
        for _ in 0..4 {
            let n = self.ends[side.idx()].conn.poll_transmit(&mut out, self.now);
            if n == 0 {
                break;
            }
            // A side that already closed its transport cannot send: the engine must know.
            assert!(
                self.ends[side.idx()].closures.is_empty(),
                "{side:?} transmits after its closure"
            );
            self.write(side, &out[..n]);
        }
        assert!(
            !self.ends[side.idx()].conn.wants_transmit(),
            "transmit not drained"
        );
        if let Some(closure) = self.ends[side.idx()].conn.poll_closure() {
            let end = &mut self.ends[side.idx()];
            assert!(
                end.closures.is_empty(),
                "{side:?}: second closure {closure:?}"
            );
            assert_eq!(end.conn.state(), ConnectionState::Closed);
            end.closures.push(closure);
            // The driver closes the transport: our bytes still arrive, then end of stream;
            // the peer's bytes are lost.
            self.dirs[side.other().idx()].closing = true;
            let incoming = &mut self.dirs[side.idx()];
            incoming.queue.clear();
            incoming.ended = true;
        }
        assert!(self.ends[side.idx()].conn.poll_closure().is_none());
    }

    fn service_both(&mut self) {
        self.service(Side::Client);
        self.service(Side::Server);
    }

    /// Delivers up to `max` queued bytes to `to`; then end of stream if the sender closed.
    fn deliver(&mut self, to: Side, max: usize) {
        let dir = &mut self.dirs[to.idx()];
        if dir.ended {
            return;
        }
        let n = max.min(dir.queue.len());
        let mut chunk: Vec<u8> = dir.queue.drain(..n).collect();
        let start = dir.delivered;
        dir.delivered += n;
        let end = &mut self.ends[to.idx()];
        if n > 0 {
            let live = read_all(
                &mut end.conn,
                &mut chunk,
                self.now,
                &mut end.sink,
                &mut end.abandoned,
            );
            if live > 0 {
                self.dirs[to.idx()].received_live = start + live;
            }
        }
        let dir = &mut self.dirs[to.idx()];
        if dir.closing && dir.queue.is_empty() && !dir.ended {
            dir.ended = true;
            self.ends[to.idx()].conn.handle_eof(self.now);
        }
        self.service(to);
    }

    /// Delivers everything in both directions until nothing moves.
    fn settle(&mut self) {
        for _ in 0..32 {
            let before = (self.dirs[0].written, self.dirs[1].written);
            for side in [Side::Client, Side::Server] {
                self.deliver(side, usize::MAX);
            }
            let idle = self
                .dirs
                .iter()
                .all(|d| d.queue.is_empty() && (d.ended || !d.closing));
            if idle && before == (self.dirs[0].written, self.dirs[1].written) {
                return;
            }
        }
        panic!("the pair does not settle");
    }

    fn advance(&mut self, ms: u16) {
        self.now = self.now + Duration::from_millis(ms as u64);
        for side in [Side::Client, Side::Server] {
            let mut rounds = 0;
            while let Some(deadline) = self.ends[side.idx()].conn.poll_timeout() {
                if deadline > self.now {
                    break;
                }
                rounds += 1;
                assert!(
                    rounds <= 4,
                    "{side:?}: timer does not converge at {deadline:?}"
                );
                self.ends[side.idx()].conn.handle_timeout(self.now);
                self.service(side);
            }
        }
    }

    fn send(&mut self, from: Side, frame: Frame<'_>) {
        self.service(from);
        let conn = &mut self.ends[from.idx()].conn;
        let mut out = vec![0u8; conn.frame_len(frame_payload_len(&frame))];
        let open = conn.is_open();
        match conn.encode(frame, &mut out) {
            Ok(n) => {
                assert!(open, "{from:?} encoded a frame while closing");
                assert_eq!(n, out.len());
                self.write(from, &out);
            }
            Err(e) => assert!(
                !open
                    || matches!(
                        e,
                        sockeye_core::SendError::MessageInProgress
                            | sockeye_core::SendError::ControlPayloadTooLong { .. }
                    ),
                "{from:?}: unexpected {e:?}"
            ),
        }
    }

    fn fragment(&mut self, from: Side, kind: MessageKind, payload: &[u8], fin: bool) {
        self.service(from);
        let conn = &mut self.ends[from.idx()].conn;
        let mut out = vec![0u8; conn.frame_len(payload.len())];
        let open = conn.is_open();
        match conn.encode_fragment(kind, payload, fin, &mut out) {
            Ok(n) => {
                assert!(open, "{from:?} encoded a fragment while closing");
                self.write(from, &out[..n]);
            }
            Err(e) => assert!(
                !open
                    || matches!(
                        e,
                        sockeye_core::SendError::MessageInProgress
                            | sockeye_core::SendError::InvalidUtf8
                    ),
                "{from:?}: unexpected {e:?}"
            ),
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Text(from, s) => self.send(from, Frame::Text(&s)),
            Op::Binary(from, b) => self.send(from, Frame::Binary(&b)),
            Op::Ping(from, p) => self.send(from, Frame::Ping(&p)),
            Op::Pong(from, p) => self.send(from, Frame::Pong(&p)),
            Op::TextFragments(from, s, cuts, finish) => {
                let bytes = s.as_bytes();
                let mut cuts: Vec<usize> = cuts
                    .iter()
                    .map(|&c| c as usize % (bytes.len() + 1))
                    .collect();
                cuts.sort_unstable();
                let mut at = 0;
                for cut in cuts {
                    self.fragment(from, MessageKind::Text, &bytes[at..cut], false);
                    at = cut;
                }
                self.fragment(from, MessageKind::Text, &bytes[at..], finish);
            }
            Op::BinaryFragment(from, b, fin) => self.fragment(from, MessageKind::Binary, &b, fin),
            Op::Close(from, code, raw, reason) => {
                let code = if raw {
                    code
                } else {
                    CODES[code as usize % CODES.len()]
                };
                let open = self.ends[from.idx()].conn.is_open();
                let r = self.ends[from.idx()]
                    .conn
                    .close(CloseCode::new(code), &reason, self.now);
                match r {
                    Ok(()) => assert!(
                        sockeye_core::CloseCode::new(code).is_sendable() && reason.len() <= 123,
                        "close({code}, {} bytes) accepted",
                        reason.len()
                    ),
                    Err(_) => assert!(
                        !sockeye_core::CloseCode::new(code).is_sendable() || reason.len() > 123
                    ),
                }
                if r.is_ok() && open {
                    assert!(!self.ends[from.idx()].conn.is_open());
                    self.close_started = true;
                }
                self.service(from);
            }
            Op::Deliver(to, max) => self.deliver(to, max as usize),
            Op::DeliverAll => self.settle(),
            Op::Advance(ms) => {
                self.disturbed = true;
                self.advance(ms)
            }
            Op::Truncate(to, keep) => {
                self.disturbed = true;
                let dir = &mut self.dirs[to.idx()];
                if dir.ended {
                    return;
                }
                let keep = (keep as usize).min(dir.queue.len());
                dir.queue.truncate(keep);
                dir.closing = true;
                self.deliver(to, keep);
            }
            Op::TransportError(to) => {
                self.disturbed = true;
                let dir = &mut self.dirs[to.idx()];
                if dir.ended {
                    return;
                }
                dir.queue.clear();
                dir.ended = true;
                self.ends[to.idx()]
                    .conn
                    .handle_transport_error(TransportError::ConnectionReset, self.now);
                self.service(to);
            }
            Op::Garbage(to, bytes) => {
                self.disturbed = true;
                let dir = &mut self.dirs[to.idx()];
                if dir.ended || dir.closing || bytes.is_empty() {
                    return;
                }
                dir.garbage_at.get_or_insert(dir.written);
                dir.queue.extend_from_slice(&bytes);
                dir.written += bytes.len();
            }
        }
    }

    /// Both transports end; then checks the invariants.
    fn finish(mut self) {
        self.settle();
        for side in [Side::Client, Side::Server] {
            let dir = &mut self.dirs[side.idx()];
            if !dir.ended {
                dir.ended = true;
                self.ends[side.idx()].conn.handle_eof(self.now);
            }
        }
        self.service_both();
        for side in [Side::Client, Side::Server] {
            let end = &self.ends[side.idx()];
            assert_eq!(
                end.closures.len(),
                1,
                "{side:?}: closures {:?}",
                end.closures
            );
            assert!(end.conn.is_finished());
            let dir = &self.dirs[side.idx()];
            let peer_dir = &self.dirs[side.other().idx()];
            // What the peer sent that reached us while we were open, before the first fault:
            // garbage, or a message beyond our limits (which the sender cannot know).
            let fault = match (dir.garbage_at, dir.checker.over_limit_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let cutoff = dir.received_live.min(fault.unwrap_or(usize::MAX));
            let expected: Vec<&Item> = dir
                .checker
                .items
                .iter()
                .filter(|(_, end)| *end <= cutoff)
                .map(|(item, _)| item)
                .collect();
            let received: Vec<&Item> = end.sink.items.iter().collect();
            if fault.is_none() {
                assert_eq!(received, expected, "{side:?} received");
                assert_eq!(end.conn.failure(), None, "{side:?} failed without garbage");
            } else {
                if dir.garbage_at.is_none() {
                    assert!(
                        matches!(
                            end.conn.failure(),
                            None | Some(
                                ProtocolError::FrameTooLarge { .. }
                                    | ProtocolError::MessageTooLarge { .. }
                            )
                        ),
                        "{side:?} failed with {:?} on valid frames",
                        end.conn.failure()
                    );
                }
                assert!(
                    received.len() >= expected.len() && received[..expected.len()] == expected[..],
                    "{side:?} received {received:?}, expected to start with {expected:?}"
                );
            }
            match end.closures[0].kind() {
                ClosureKind::Failed { .. } => {
                    assert!(fault.is_some(), "{side:?} Failed without a fault")
                }
                ClosureKind::Clean { received, .. } => {
                    let code = received.code().map(|c| c.as_u16());
                    let reason = received.reason().to_owned();
                    assert!(
                        end.sink.items.last() == Some(&Item::Close(code, reason)),
                        "{side:?} clean without receiving that Close"
                    );
                    assert!(
                        peer_dir.checker.closed(),
                        "{side:?} clean without sending Close"
                    );
                }
                ClosureKind::Abnormal { .. } => {}
                other => panic!("unknown closure {other:?}"),
            }
            // Undisturbed (no time, no cut, no garbage, no message beyond a limit): a closing
            // handshake that was started completes cleanly on both sides; without one, both
            // sides see the transport end between frames or fragments.
            let undisturbed =
                !self.disturbed && self.dirs.iter().all(|d| d.checker.over_limit_at.is_none());
            if undisturbed {
                let kind = end.closures[0].kind();
                if self.close_started {
                    assert!(
                        matches!(
                            kind,
                            ClosureKind::Clean {
                                peer_kept_transport_open: false,
                                ..
                            }
                        ),
                        "{side:?}: undisturbed close ended {kind:?}"
                    );
                } else {
                    assert!(
                        matches!(
                            kind,
                            ClosureKind::Abnormal {
                                cause: AbnormalCause::Eof,
                                phase: Phase::BeforeFirstFrame
                                    | Phase::FrameBoundary
                                    | Phase::BetweenFragments { .. }
                            }
                        ),
                        "{side:?}: undisturbed end without close was {kind:?}"
                    );
                }
            }
        }
    }
}

fn frame_payload_len(frame: &Frame<'_>) -> usize {
    match frame {
        Frame::Text(s) => s.len(),
        Frame::Binary(b) | Frame::Ping(b) | Frame::Pong(b) => b.len(),
    }
}

fuzz_target!(|input: Input| {
    let mut pair = Pair::new(&input);
    let mut ops = input.ops;
    ops.truncate(64);
    for op in ops {
        pair.apply(op);
    }
    pair.finish();
});
