//! The connection engine: one WebSocket connection after the opening handshake.
//!
//! [`Connection`] is a sans-IO state machine. The driver (an adapter, a test, a fuzzer) calls:
//!
//! - [`read`](Connection::read) with bytes received from the transport; it returns how many
//!   it consumed and at most one [`Event`] borrowing from those bytes (payload is unmasked in
//!   place and never copied). Call it again with the rest until it returns no event: at that
//!   point all input has been consumed.
//! - [`encode`](Connection::encode) / [`encode_fragment`](Connection::encode_fragment) to turn
//!   application data into frames in a caller buffer, and [`close`](Connection::close) to start
//!   the closing handshake.
//! - [`poll_transmit`](Connection::poll_transmit) after every `read`, `close` and
//!   `handle_timeout`, to take the frames the engine itself must send (Pong replies, keepalive
//!   Pings, Close frames) — before any further data frames, so control frames are not stuck
//!   behind a queue.
//! - [`poll_timeout`](Connection::poll_timeout) for the next deadline, and
//!   [`handle_timeout`](Connection::handle_timeout) when it passes.
//! - [`handle_eof`](Connection::handle_eof) / [`handle_transport_error`](Connection::handle_transport_error)
//!   when the transport ends.
//! - [`poll_closure`](Connection::poll_closure) after each of the above: it yields the
//!   connection's single [`Closure`] once the connection is over, and from then on the driver
//!   closes the transport.
//!
//! # Failing the connection
//!
//! A peer that breaks RFC 6455 gets one Close frame with the code below (§7.1.7, §7.4.1), and
//! nothing more of its input is delivered. What happens next depends on one question: *are
//! frame boundaries still known?* If they are, the engine keeps reading only to find the peer's
//! Close, dropping everything else, for at most the close timeout. If they are not — or the
//! frame is larger than the engine ever reads — there is nothing to wait for: the connection
//! ends as soon as our Close has been handed to the transport ([`poll_transmit`]), and the
//! driver writes it out and closes the transport (a server at once, a client too, since no
//! reply could be recognised). The [`Closure`] is [`ClosureKind::Failed`] with the violation,
//! the code we sent and a [`FailureEnd`] saying which way it went.
//!
//! | violation | code sent | framing | then |
//! |---|---|---|---|
//! | header rule (§5.2 reserved opcode or RSV bit, non-minimal length; §5.1 masking; §5.5 control frame fragmented or > 125 bytes; §5.4 continuation out of order) | 1002 | intact | skip the frame, drain until the peer's Close or the close timeout |
//! | 64-bit length with the top bit set (§5.2) | 1002 | lost | end once our Close is written (`FramingLost`) |
//! | frame longer than [`Config::max_frame_payload`] (also while draining) | 1009 | lost (not read past) | end once our Close is written (`FramingLost`) |
//! | message longer than [`Config::max_message_size`], frame within the frame limit | 1009 | intact | skip the frame, drain as above |
//! | text that is not UTF-8 (§8.1, fail-fast, also split across frames) | 1007 | intact | skip the rest of the frame, drain as above |
//! | the peer's Close: 1-byte payload, code not allowed on the wire (§7.4), reason over 123 bytes, fragmented | 1002 | — | it is the peer's Close: ours completes the handshake (`PeerCloseInvalid`); a server then closes the transport at once, a client waits for the server's EOF (close timeout) |
//! | the peer's Close with a reason that is not UTF-8 | 1007 | — | as the row above |
//! | any of the above after our own Close went out ([`close`](Connection::close)) | none: our Close stands | as in its row | the same handling; [`Closure::code`] reports the code we sent |
//! | a second violation while draining | none | as in its row | the first violation is reported; the frame is skipped or framing is lost as in its row |
//!
//! A message being received when the connection fails is abandoned: chunks already delivered
//! stay delivered, the rest is dropped (permessage-deflate, when negotiated, is no exception:
//! compressed frames after a failure are skipped without being inflated).
//!
//! [`poll_transmit`]: Connection::poll_transmit
//!
//! ```
//! use sockeye_core::{Config, Connection, Event, Frame, Instant};
//!
//! let now = Instant::ZERO;
//! let mut client = Connection::client(Config::default(), now, 0x5eed);
//! let mut server = Connection::server(Config::default(), now);
//!
//! // The client encodes a masked text frame...
//! let mut wire = [0u8; 64];
//! let n = client.encode(Frame::Text("hello"), &mut wire).unwrap();
//!
//! // ...and the server reads it, unmasking in place.
//! let read = server.read(&mut wire[..n], now);
//! assert_eq!(read.consumed, n);
//! match read.event {
//!     Some(Event::Data(chunk)) => {
//!         assert_eq!(chunk.payload, b"hello");
//!         assert!(chunk.first && chunk.last);
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```

use core::time::Duration;

use crate::close::{
    AbnormalCause, CloseCode, CloseFrame, Closure, ClosureKind, FailureEnd, Initiator, Phase,
    TransportError, MAX_REASON_LEN,
};
use crate::config::{Config, Role};
use crate::error::{ProtocolError, SendError};
use crate::frame::{header_len, Decoded, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::mask::{apply_mask, mask_copy};
use crate::time::Instant;
use crate::utf8::Utf8Validator;

/// The two kinds of data message (§5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text, validated by the engine.
    Text,
    /// Arbitrary bytes.
    Binary,
}

impl MessageKind {
    const fn opcode(self) -> OpCode {
        match self {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        }
    }
}

/// A piece of a data message's payload, borrowed from the caller's read buffer.
///
/// Messages arrive as one or more chunks: the first has `first` set, the last has `last` set
/// (a short message is one chunk with both). Chunks of a text message are each a piece of valid
/// UTF-8 *together*; a single chunk may end in the middle of a code point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataChunk<'a> {
    /// Text or binary, from the message's first frame.
    pub kind: MessageKind,
    /// The unmasked payload bytes.
    pub payload: &'a [u8],
    /// This is the first chunk of the message.
    pub first: bool,
    /// This chunk completes the message.
    pub last: bool,
    /// This chunk ends a frame (a fragment boundary in the peer's framing).
    pub frame_end: bool,
    /// RSV bits of the message's first frame that a negotiated extension claimed
    /// ([`Config::extension_rsv`]); 0 without extensions.
    pub rsv: u8,
}

/// The payload of a Ping or Pong (at most 125 bytes), copied out of the stream.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ControlPayload {
    buf: [u8; MAX_CONTROL_PAYLOAD],
    len: u8,
}

impl ControlPayload {
    const EMPTY: ControlPayload = ControlPayload {
        buf: [0; MAX_CONTROL_PAYLOAD],
        len: 0,
    };

    fn from_slice(data: &[u8]) -> ControlPayload {
        let mut p = ControlPayload::EMPTY;
        let n = data.len().min(MAX_CONTROL_PAYLOAD);
        p.buf[..n].copy_from_slice(&data[..n]);
        p.len = n as u8;
        p
    }

    /// The payload bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

impl core::ops::Deref for ControlPayload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl core::fmt::Debug for ControlPayload {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("ControlPayload")
            .field(&self.as_slice())
            .finish()
    }
}

/// Something the peer sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Message payload.
    Data(DataChunk<'a>),
    /// A Ping; the engine has already queued the Pong (answering the latest ping, §5.5.3).
    Ping(ControlPayload),
    /// A Pong, solicited or not (§5.5.3).
    Pong(ControlPayload),
    /// The peer's Close frame. If we had not sent Close, our reply (echoing the code, §5.5.1) is
    /// queued; no more data can be sent.
    Close(CloseFrame),
}

/// The result of [`Connection::read`].
#[derive(Debug)]
pub struct Read<'a> {
    /// How many input bytes were consumed (the event's payload lies within them).
    pub consumed: usize,
    /// The next event, or `None` when all input was consumed without completing one.
    pub event: Option<Event<'a>>,
}

/// An outgoing frame for [`Connection::encode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete text message in one frame.
    Text(&'a str),
    /// A complete binary message in one frame.
    Binary(&'a [u8]),
    /// A Ping (≤ 125 bytes).
    Ping(&'a [u8]),
    /// An unsolicited Pong (≤ 125 bytes), e.g. a unidirectional heartbeat.
    Pong(&'a [u8]),
}

/// Where the connection is in its life; see the theory of operation on [`Connection`]'s
/// closing handshake (module `connection`, `State`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Messages flow both ways.
    Open,
    /// We started the closing handshake (or failed the connection) and wait for the peer's Close.
    CloseSent,
    /// The peer sent Close; our reply is queued.
    CloseReceived,
    /// Both Close frames were exchanged; the client waits for the server to close the transport.
    AwaitingTransportClose,
    /// The connection is over; the [`Closure`] is available from `poll_closure`.
    Closed,
}

// Theory of operation: the closing handshake (RFC 6455 §5.5.1, §7).
//
// A connection starts Open. It leaves Open in one of four ways:
//
// - We close (the user calls `close`, or the peer broke the protocol and we fail the connection,
//   §7.1.7): our Close is queued and we move to CloseSent. Data may still arrive and is
//   delivered (or, after a failure, drained unread) until the peer's Close comes.
// - The peer's Close arrives: we queue a reply echoing its code and move to CloseReceived.
//   Nothing but that reply is sent from now on, and further input is discarded.
// - The transport ends (EOF or error) or a keepalive times out: the connection is Closed at
//   once with an abnormal closure (1006) that records the phase it was in.
//
// The handshake is complete once our Close has been handed to the transport AND the peer's
// Close has been received, whichever came last. Then a server is Closed and closes the
// transport first (§7.1.1); a client moves to AwaitingTransportClose and waits for the server's
// EOF, closing the transport itself after the close timeout. In CloseSent and CloseReceived the
// close timeout bounds the wait for the other half of the handshake.
//
// Entering Closed produces the connection's single Closure, taken with `poll_closure`. Every
// path ends there exactly once; later EOFs, errors and timeouts are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    CloseSent {
        since: Instant,
    },
    CloseReceived {
        since: Instant,
    },
    AwaitingTransportClose {
        since: Instant,
        initiator: Initiator,
    },
    Closed,
}

/// What the receive side expects next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rx {
    /// A frame header; `header_len` bytes of it are buffered in `control`.
    Header,
    /// Payload of a data frame, delivered as it arrives.
    Data,
    /// Payload of a control frame, collected in `control`.
    Control,
    /// Payload of a frame we drop unread (draining after failing the connection).
    Skip,
    /// Nothing more is read: the peer's Close arrived.
    Discard,
    /// Nothing more is read: frame boundaries are unknown, or the frame is beyond the limit.
    /// Once our Close is out, the connection is over.
    Lost,
}

/// Whether the peer's Close frame arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeerClose {
    None,
    /// Its payload stays in `control`.
    Valid,
    /// Malformed; it counts as the peer's Close all the same (it sends no other).
    Invalid,
}

/// The inbound frame being received.
#[derive(Clone, Copy, Debug)]
struct InFrame {
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    len: u64,
    done: u64,
}

/// The inbound message being received.
#[derive(Clone, Copy, Debug)]
struct InMessage {
    kind: MessageKind,
    rsv: u8,
    /// Sum of the payload lengths of its frames so far (for the size limit).
    len: u64,
    /// A chunk of it has been delivered (so the next one is not `first`).
    delivered: bool,
}

/// How the connection ended, kept small; the full [`Closure`] is built when it is polled.
#[derive(Clone, Copy, Debug)]
enum Ending {
    Clean {
        initiator: Initiator,
        kept_open: bool,
    },
    /// The error is in `failure`, the code we sent in `outbox`.
    Failed { end: FailureEnd },
    /// The phase is derived when the closure is built: the receive state is kept as it was.
    Abnormal {
        cause: AbnormalCause,
        closing: Closing,
    },
}

/// How far the closing handshake had got when the transport ended.
#[derive(Clone, Copy, Debug)]
enum Closing {
    No,
    Sent,
    Received,
}

/// One WebSocket connection's protocol state, after the opening handshake.
///
/// Holds only fixed-size state (no buffers for data), see the module documentation for how to
/// drive it. Its size is reported by a test and in the README.
#[derive(Clone, Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    rx: Rx,
    /// Buffered header bytes (in `control`) while `rx == Header`.
    header_len: u8,
    frame: InFrame,
    /// Header bytes, then the payload of an inbound control frame; after the peer's Close, its
    /// payload (the receive side stops there, so it is never overwritten).
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_len: u8,
    message: Option<InMessage>,
    utf8: Utf8Validator,
    received_any: bool,
    peer_close: PeerClose,
    failure: Option<ProtocolError>,

    /// Kind of the fragmented message we are sending, if any.
    sending: Option<MessageKind>,
    send_utf8: Utf8Validator,
    /// Payload of the control frame we owe the peer: the Pong for its latest Ping while open,
    /// then our Close (a Close drops any Pong, so one buffer serves both).
    outbox: [u8; MAX_CONTROL_PAYLOAD],
    outbox_len: u8,
    pong_due: bool,
    ping_due: bool,
    close_queued: bool,
    close_sent: bool,

    last_inbound: Instant,
    /// When the outstanding keepalive ping was queued; cleared by any inbound byte.
    ping_outstanding: Option<Instant>,
    /// The last keepalive ping, whose payload is its timestamp, for the round-trip time.
    last_ping: Option<Instant>,
    rtt: Option<Duration>,

    ending: Option<(Ending, Instant)>,
    closure_taken: bool,
    rng: u64,
}

/// An internal event whose payload is a range of the input, so that the borrow of the input can
/// be taken once, after the loop in `read`. Control payloads stay in `control` until `read`
/// builds the event, so this stays small on the stack.
enum Step {
    Data {
        start: usize,
        end: usize,
        last: bool,
        frame_end: bool,
        first: bool,
        kind: MessageKind,
        rsv: u8,
    },
    Ping,
    Pong,
    Close,
}

impl Step {
    /// The same step with its payload range moved `by` bytes later in the input.
    fn shifted(mut self, by: usize) -> Step {
        if let Step::Data { start, end, .. } = &mut self {
            *start += by;
            *end += by;
        }
        self
    }
}

/// What [`Connection::read_whole_message`] did.
enum Whole {
    /// Not its case: take the general path.
    No,
    /// A whole message, `len` bytes of input with its header.
    Message { len: usize, step: Step },
    /// A whole text message that was not UTF-8: the connection failed; `len` bytes consumed.
    Failed { len: usize },
}

impl Connection {
    /// A client connection (masks what it sends). `mask_seed` seeds the generator of masking
    /// keys: take it from a CSPRNG (the OS on `std`, the chip's RNG on embedded), so that keys
    /// are unpredictable to scripts that choose payloads (§10.3).
    pub fn client(config: Config, now: Instant, mask_seed: u64) -> Connection {
        Connection::new(Role::Client, config, now, mask_seed)
    }

    /// A server connection.
    pub fn server(config: Config, now: Instant) -> Connection {
        Connection::new(Role::Server, config, now, 0)
    }

    /// A connection playing `role`; `mask_seed` is only used by clients (see [`client`](Self::client)).
    pub fn new(role: Role, config: Config, now: Instant, mask_seed: u64) -> Connection {
        Connection {
            role,
            config,
            state: State::Open,
            rx: Rx::Header,
            header_len: 0,
            frame: InFrame {
                opcode: OpCode::Binary,
                fin: true,
                mask: None,
                len: 0,
                done: 0,
            },
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
            message: None,
            utf8: Utf8Validator::new(),
            received_any: false,
            peer_close: PeerClose::None,
            failure: None,
            sending: None,
            send_utf8: Utf8Validator::new(),
            outbox: [0; MAX_CONTROL_PAYLOAD],
            outbox_len: 0,
            pong_due: false,
            ping_due: false,
            close_queued: false,
            close_sent: false,
            last_inbound: now,
            ping_outstanding: None,
            last_ping: None,
            rtt: None,
            ending: None,
            closure_taken: false,
            rng: mask_seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// The role this connection plays.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> ConnectionState {
        match self.state {
            State::Open => ConnectionState::Open,
            State::CloseSent { .. } => ConnectionState::CloseSent,
            State::CloseReceived { .. } => ConnectionState::CloseReceived,
            State::AwaitingTransportClose { .. } => ConnectionState::AwaitingTransportClose,
            State::Closed => ConnectionState::Closed,
        }
    }

    /// Whether data can still be sent.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// The protocol violation we failed the connection for, if any.
    pub fn failure(&self) -> Option<ProtocolError> {
        self.failure
    }

    /// Round-trip time measured by the last answered keepalive ping.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// When the last byte arrived from the peer (the connection's start before any did).
    pub fn last_inbound(&self) -> Instant {
        self.last_inbound
    }

    // ---------------------------------------------------------------- receiving

    /// Processes bytes received from the transport.
    ///
    /// Returns how many bytes were consumed and at most one event. Data payload is unmasked in
    /// place in `input` and the event borrows it, so call `read` again with
    /// `&mut input[consumed..]` after handling the event, until the event is `None` — which
    /// means every byte was consumed (partial headers and control frames are kept inside the
    /// engine). Protocol violations fail the connection: the engine queues a Close with the
    /// right code (see [`failure`](Self::failure)) and drains input until the peer answers.
    pub fn read<'a>(&mut self, input: &'a mut [u8], now: Instant) -> Read<'a> {
        if self.state == State::Closed {
            return Read {
                consumed: input.len(),
                event: None,
            };
        }
        if !input.is_empty() && !matches!(self.rx, Rx::Discard | Rx::Lost) {
            self.last_inbound = now;
            self.received_any = true;
            self.ping_outstanding = None;
        }
        let (consumed, step) = self.read_step(input, now);
        let event = step.map(|step| match step {
            Step::Data {
                start,
                end,
                last,
                frame_end,
                first,
                kind,
                rsv,
            } => Event::Data(DataChunk {
                kind,
                payload: &input[start..end],
                first,
                last,
                frame_end,
                rsv,
            }),
            Step::Ping => Event::Ping(self.control_payload()),
            Step::Pong => Event::Pong(self.control_payload()),
            Step::Close => Event::Close(self.peer_close()),
        });
        Read { consumed, event }
    }

    fn read_step(&mut self, input: &mut [u8], now: Instant) -> (usize, Option<Step>) {
        let mut pos = 0;
        loop {
            match self.rx {
                Rx::Discard | Rx::Lost => return (input.len(), None),
                Rx::Header => {
                    if pos == input.len() {
                        return (pos, None);
                    }
                    if self.header_len == 0 {
                        match self.read_whole_message(&mut input[pos..], now) {
                            Whole::Message { len, step } => {
                                return (pos + len, Some(step.shifted(pos)));
                            }
                            Whole::Failed { len } => {
                                pos += len;
                                continue;
                            }
                            Whole::No => {}
                        }
                    }
                    // The first header byte, for the opcode of a header that fails.
                    let first = if self.header_len == 0 {
                        input[pos]
                    } else {
                        self.control[0]
                    };
                    let decoded = if self.header_len == 0 {
                        match FrameHeader::decode(&input[pos..]) {
                            Ok(Decoded::Header(h, n)) => {
                                pos += n;
                                Ok(h)
                            }
                            Ok(Decoded::Incomplete { .. }) => {
                                let rest = &input[pos..];
                                self.control[..rest.len()].copy_from_slice(rest);
                                self.header_len = rest.len() as u8;
                                return (input.len(), None);
                            }
                            Err(e) => {
                                let skip = skip_len(&input[pos..]);
                                if let Some((hlen, _)) = skip {
                                    pos += hlen;
                                }
                                Err((e, skip))
                            }
                        }
                    } else {
                        let have = self.header_len as usize;
                        let needed = if have < 2 {
                            2
                        } else {
                            header_len([self.control[0], self.control[1]])
                        };
                        let take = (needed - have).min(input.len() - pos);
                        self.control[have..have + take].copy_from_slice(&input[pos..pos + take]);
                        self.header_len += take as u8;
                        pos += take;
                        if (self.header_len as usize) < needed {
                            continue;
                        }
                        let buffered = &self.control[..self.header_len as usize];
                        match FrameHeader::decode(buffered) {
                            Ok(Decoded::Header(h, _)) => {
                                self.header_len = 0;
                                Ok(h)
                            }
                            // The first two bytes just arrived and call for more.
                            Ok(Decoded::Incomplete { .. }) => continue,
                            Err(e) => {
                                let skip = skip_len(buffered);
                                self.header_len = 0;
                                Err((e, skip))
                            }
                        }
                    };
                    let result = decoded.and_then(|h| {
                        self.begin_frame(h)
                            .map_err(|e| (e, Some((0, h.payload_len))))
                    });
                    if let Err((e, skip)) = result {
                        self.fail(e, now);
                        if first & 0x0F == OpCode::Close.as_u8() {
                            // A Close too long or fragmented is still the peer's Close: it
                            // sends no other, as in `control_complete`.
                            self.peer_close_was_invalid(now);
                            continue;
                        }
                        match skip {
                            // Framing intact: drop the frame unread, look for the peer's Close.
                            Some((_, len)) if len <= self.config.max_frame_payload => {
                                self.skip(len)
                            }
                            // An unusable length, or more than we ever read in one frame.
                            _ => self.lose_framing(now),
                        }
                        continue;
                    }
                    if self.frame.len == 0 {
                        if let Some(step) = self.frame_complete(pos, pos, now) {
                            return (pos, Some(step));
                        }
                    }
                }
                Rx::Data => {
                    let avail = input.len() - pos;
                    if avail == 0 {
                        return (pos, None);
                    }
                    let n = (self.frame.len - self.frame.done).min(avail as u64) as usize;
                    let start = pos;
                    let chunk = &mut input[start..start + n];
                    if let Some(key) = self.frame.mask {
                        apply_mask(chunk, key, (self.frame.done % 4) as usize);
                    }
                    pos += n;
                    self.frame.done += n as u64;
                    let message = self.message.unwrap_or(InMessage {
                        kind: MessageKind::Binary,
                        rsv: 0,
                        len: 0,
                        delivered: false,
                    });
                    if message.kind == MessageKind::Text
                        && message.rsv == 0
                        && self.utf8.feed(chunk).is_err()
                    {
                        self.fail(ProtocolError::InvalidUtf8, now);
                        self.skip(self.frame.len - self.frame.done);
                        continue;
                    }
                    if self.frame.done == self.frame.len {
                        if let Some(step) = self.frame_complete(start, pos, now) {
                            return (pos, Some(step));
                        }
                        continue;
                    }
                    if let Some(m) = &mut self.message {
                        m.delivered = true;
                    }
                    return (
                        pos,
                        Some(Step::Data {
                            start,
                            end: pos,
                            last: false,
                            frame_end: false,
                            first: !message.delivered,
                            kind: message.kind,
                            rsv: message.rsv,
                        }),
                    );
                }
                Rx::Control => {
                    let avail = input.len() - pos;
                    if avail == 0 {
                        return (pos, None);
                    }
                    let have = self.control_len as usize;
                    let n = (self.frame.len as usize - have).min(avail);
                    self.control[have..have + n].copy_from_slice(&input[pos..pos + n]);
                    if let Some(key) = self.frame.mask {
                        apply_mask(&mut self.control[have..have + n], key, have);
                    }
                    self.control_len += n as u8;
                    self.frame.done += n as u64;
                    pos += n;
                    if self.frame.done == self.frame.len {
                        if let Some(step) = self.frame_complete(pos, pos, now) {
                            return (pos, Some(step));
                        }
                    }
                }
                Rx::Skip => {
                    let avail = (input.len() - pos) as u64;
                    let n = (self.frame.len - self.frame.done).min(avail);
                    pos += n as usize;
                    self.frame.done += n;
                    if self.frame.done == self.frame.len {
                        self.rx = Rx::Header;
                    } else {
                        return (pos, None);
                    }
                }
            }
        }
    }

    /// The fast path for the common case, taken at a frame boundary: a whole message in one
    /// frame (FIN, text or binary, no RSV bits, 7- or 16-bit length, masked as the role
    /// requires) whose payload is all in `input`, within the size limits, outside a fragmented
    /// message and with no failure pending. It leaves the connection exactly as the general
    /// path (`FrameHeader::decode`, `begin_frame`, `Rx::Data`, `frame_complete`) would, in one
    /// pass and without its per-frame bookkeeping; every other case returns [`Whole::No`] and
    /// takes the general path, which handles them all.
    #[inline(always)]
    fn read_whole_message(&mut self, input: &mut [u8], now: Instant) -> Whole {
        let [b0, b1, ..] = *input else {
            return Whole::No;
        };
        let opcode = b0 & 0x0F;
        // FIN set, RSV clear (0x8_), a data opcode; a new message; not draining.
        if b0 & 0xF0 != 0x80
            || !(opcode == 0x1 || opcode == 0x2)
            || self.message.is_some()
            || self.failure.is_some()
        {
            return Whole::No;
        }
        let masked = b1 & 0x80 != 0;
        if masked != (self.role == Role::Server) {
            return Whole::No;
        }
        let (len, at) = match (b1 & 0x7F, input.get(2..4)) {
            (126, Some(&[hi, lo])) => (u16::from_be_bytes([hi, lo]) as usize, 4),
            (n, _) if n < 126 => (n as usize, 2),
            _ => return Whole::No,
        };
        // A 16-bit length must be at least 126 (§5.2, minimal encoding): else the general
        // path reports it.
        if at == 4 && len < 126
            || len as u64 > self.config.max_frame_payload
            || len as u64 > self.config.max_message_size
        {
            return Whole::No;
        }
        let (mask, start) = match (masked, input.get(at..at + 4)) {
            (true, Some(&[k0, k1, k2, k3])) => (Some([k0, k1, k2, k3]), at + 4),
            (false, _) => (None, at),
            _ => return Whole::No,
        };
        let end = start + len;
        let Some(payload) = input.get_mut(start..end) else {
            return Whole::No;
        };
        if let Some(key) = mask {
            apply_mask(payload, key, 0);
        }
        let (kind, opcode) = if opcode == 0x1 {
            (MessageKind::Text, OpCode::Text)
        } else {
            (MessageKind::Binary, OpCode::Binary)
        };
        self.frame = InFrame {
            opcode,
            fin: true,
            mask,
            len: len as u64,
            done: len as u64,
        };
        self.control_len = 0;
        self.utf8.reset();
        if kind == MessageKind::Text && !crate::utf8::is_valid(payload) {
            // As `Rx::Data` does: fail the connection; nothing of the frame is left to skip.
            self.fail(ProtocolError::InvalidUtf8, now);
            self.skip(0);
            return Whole::Failed { len: end };
        }
        Whole::Message {
            len: end,
            step: Step::Data {
                start,
                end,
                last: true,
                frame_end: true,
                first: true,
                kind,
                rsv: 0,
            },
        }
    }

    /// Applies the connection-level rules to a new frame's header (§5.1, §5.2, §5.4, limits)
    /// and prepares to receive its payload.
    fn begin_frame(&mut self, h: FrameHeader) -> Result<(), ProtocolError> {
        self.frame = InFrame {
            opcode: h.opcode,
            fin: h.fin,
            mask: h.mask,
            len: h.payload_len,
            done: 0,
        };
        self.control_len = 0;
        if self.failure.is_some() {
            // Draining after we failed the connection: only a Close matters now. A data frame
            // beyond the limit is not drained either: the caller then gives up on the framing.
            if h.opcode.is_control() {
                self.rx = Rx::Control;
            } else if h.payload_len > self.config.max_frame_payload {
                return Err(ProtocolError::FrameTooLarge {
                    len: h.payload_len,
                    max: self.config.max_frame_payload,
                });
            } else {
                self.rx = Rx::Skip;
            }
            return Ok(());
        }
        let allowed = if h.opcode == OpCode::Text || h.opcode == OpCode::Binary {
            self.config.extension_rsv
        } else {
            0
        };
        if h.rsv & !allowed != 0 {
            return Err(ProtocolError::ReservedBits(h.rsv & !allowed));
        }
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if h.opcode.is_control() {
            self.rx = Rx::Control;
            return Ok(());
        }
        if h.payload_len > self.config.max_frame_payload {
            return Err(ProtocolError::FrameTooLarge {
                len: h.payload_len,
                max: self.config.max_frame_payload,
            });
        }
        let so_far = match (h.opcode, self.message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Continuation, Some(m)) => m.len,
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (_, None) => 0,
        };
        let total = so_far.saturating_add(h.payload_len);
        if total > self.config.max_message_size {
            return Err(ProtocolError::MessageTooLarge {
                max: self.config.max_message_size,
            });
        }
        match &mut self.message {
            Some(m) => m.len = total,
            None => {
                let kind = if h.opcode == OpCode::Text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                self.message = Some(InMessage {
                    kind,
                    rsv: h.rsv,
                    len: total,
                    delivered: false,
                });
                self.utf8.reset();
            }
        }
        self.rx = Rx::Data;
        Ok(())
    }

    /// A frame's payload is complete: `start..end` is its last chunk in the input (data frames).
    fn frame_complete(&mut self, start: usize, end: usize, now: Instant) -> Option<Step> {
        self.rx = Rx::Header;
        match self.frame.opcode {
            OpCode::Ping | OpCode::Pong | OpCode::Close => self.control_complete(now),
            _ => {
                let message = self.message?;
                if self.frame.fin {
                    if message.kind == MessageKind::Text
                        && message.rsv == 0
                        && !self.utf8.is_complete()
                    {
                        self.fail(ProtocolError::InvalidUtf8, now);
                        return None;
                    }
                    self.message = None;
                } else if start == end {
                    // An empty fragment that does not end the message: nothing to report.
                    return None;
                } else if let Some(m) = &mut self.message {
                    m.delivered = true;
                }
                Some(Step::Data {
                    start,
                    end,
                    last: self.frame.fin,
                    frame_end: true,
                    first: !message.delivered,
                    kind: message.kind,
                    rsv: message.rsv,
                })
            }
        }
    }

    /// The payload of the control frame just completed.
    fn control_payload(&self) -> ControlPayload {
        ControlPayload::from_slice(&self.control[..self.control_len as usize])
    }

    fn control_complete(&mut self, now: Instant) -> Option<Step> {
        let payload = &self.control[..self.control_len as usize];
        match self.frame.opcode {
            OpCode::Ping => {
                if self.failure.is_some() {
                    return None;
                }
                if self.state == State::Open {
                    self.outbox[..payload.len()].copy_from_slice(payload);
                    self.outbox_len = payload.len() as u8;
                    self.pong_due = true;
                }
                Some(Step::Ping)
            }
            OpCode::Pong => {
                if self.failure.is_some() {
                    return None;
                }
                if let (Some(sent), Ok(stamp)) = (self.last_ping, <[u8; 8]>::try_from(payload)) {
                    if u64::from_be_bytes(stamp) == sent.as_nanos() {
                        self.rtt = Some(now - sent);
                        self.last_ping = None;
                    }
                }
                Some(Step::Pong)
            }
            _ => {
                // The frame stays in `control`; `read` and the closure take it from there.
                let code = match CloseFrame::check_payload(payload) {
                    Ok(code) => code,
                    Err(e) => {
                        // Failing the connection if it was open; after our own Close, the
                        // violation is recorded and our Close stands.
                        self.fail(e, now);
                        self.peer_close_was_invalid(now);
                        return None;
                    }
                };
                self.peer_close = PeerClose::Valid;
                self.rx = Rx::Discard;
                if self.state == State::Open {
                    // §5.5.1: reply with a Close, echoing the status code.
                    self.queue_close(code, "", State::CloseReceived { since: now });
                }
                self.check_handshake(now);
                Some(Step::Close)
            }
        }
    }

    /// Fails the connection (§7.1.7): records the first violation and, if the connection is
    /// open, queues a Close with its code. The caller then says what becomes of the input:
    /// framing intact, the frame is skipped and input drained until the peer's Close
    /// ([`skip`](Self::skip)); framing lost, [`lose_framing`](Self::lose_framing); the frame was
    /// the peer's Close, [`peer_close_was_invalid`](Self::peer_close_was_invalid). The same
    /// rules apply whether the violation came before or after our own Close.
    fn fail(&mut self, error: ProtocolError, now: Instant) {
        self.message = None;
        self.failure.get_or_insert(error);
        if self.state == State::Open {
            self.queue_close(
                Some(error.close_code()),
                error.reason(),
                State::CloseSent { since: now },
            );
        }
    }

    /// Frame boundaries are unknown, or the frame is larger than we ever read: nothing more
    /// can be understood. The connection ends as soon as our Close is handed to the transport
    /// (at once if it already was), with no wait for a reply that could not be found.
    fn lose_framing(&mut self, now: Instant) {
        self.rx = Rx::Lost;
        self.check_handshake(now);
    }

    /// The peer's Close frame was malformed (the violation is recorded by `fail`). It is the
    /// peer's Close all the same — it sends no other — so our Close completes the handshake,
    /// after which a server closes the transport at once (§7.1.1, §7.1.7).
    fn peer_close_was_invalid(&mut self, now: Instant) {
        self.control_len = 0;
        self.peer_close = PeerClose::Invalid;
        self.rx = Rx::Discard;
        self.check_handshake(now);
    }

    /// Queues our Close with `code` (none: an empty Close) and `reason`, both checked by the
    /// caller (a sendable code, at most 123 bytes), written straight into the outbox.
    fn queue_close(&mut self, code: Option<CloseCode>, reason: &str, state: State) {
        self.outbox_len = match code {
            None => 0,
            Some(code) => {
                let reason = &reason.as_bytes()[..reason.len().min(MAX_REASON_LEN)];
                self.outbox[..2].copy_from_slice(&code.as_u16().to_be_bytes());
                self.outbox[2..2 + reason.len()].copy_from_slice(reason);
                2 + reason.len() as u8
            }
        };
        self.close_queued = true;
        self.state = state;
        self.pong_due = false;
        self.ping_due = false;
        self.sending = None;
    }

    fn skip(&mut self, remaining: u64) {
        self.frame.len = remaining;
        self.frame.done = 0;
        self.rx = if remaining == 0 { Rx::Header } else { Rx::Skip };
    }

    // ---------------------------------------------------------------- sending

    /// Bytes a frame with `payload_len` bytes of payload takes on the wire in this role.
    pub fn frame_len(&self, payload_len: usize) -> usize {
        let ext = if payload_len < 126 {
            0
        } else if payload_len <= u16::MAX as usize {
            2
        } else {
            8
        };
        let mask = if self.role == Role::Client { 4 } else { 0 };
        2 + ext + mask + payload_len
    }

    /// Encodes a complete message or a Ping/Pong into `out`, returning the bytes written.
    ///
    /// Clients mask the payload as they copy it. Fails without changing any state if the
    /// connection is closing, a fragmented message is in progress (for Text/Binary), a control
    /// payload exceeds 125 bytes, or `out` is too small ([`frame_len`](Self::frame_len) says
    /// how much is needed).
    pub fn encode(&mut self, frame: Frame<'_>, out: &mut [u8]) -> Result<usize, SendError> {
        self.check_can_send()?;
        let (opcode, payload) = match frame {
            Frame::Text(s) => (OpCode::Text, s.as_bytes()),
            Frame::Binary(b) => (OpCode::Binary, b),
            Frame::Ping(p) => (OpCode::Ping, p),
            Frame::Pong(p) => (OpCode::Pong, p),
        };
        if opcode.is_control() {
            if payload.len() > MAX_CONTROL_PAYLOAD {
                return Err(SendError::ControlPayloadTooLong { len: payload.len() });
            }
        } else if self.sending.is_some() {
            return Err(SendError::MessageInProgress);
        }
        self.write_frame(opcode, true, payload, out)
    }

    /// Encodes one fragment of a message (§5.4): the first call starts a `kind` message, the
    /// call with `fin` ends it. Control frames may be sent between fragments. For text, the
    /// fragments together must be valid UTF-8; a code point may be split across them.
    pub fn encode_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.check_can_send()?;
        let (opcode, mut utf8) = match self.sending {
            None => (kind.opcode(), Utf8Validator::new()),
            Some(k) if k == kind => (OpCode::Continuation, self.send_utf8),
            Some(_) => return Err(SendError::MessageInProgress),
        };
        if kind == MessageKind::Text
            && (utf8.feed(payload).is_err() || (fin && !utf8.is_complete()))
        {
            return Err(SendError::InvalidUtf8);
        }
        let n = self.write_frame(opcode, fin, payload, out)?;
        self.sending = if fin { None } else { Some(kind) };
        self.send_utf8 = utf8;
        Ok(n)
    }

    /// Starts the closing handshake (§7.1.2) with `code` and a reason of at most 123 bytes.
    ///
    /// The Close frame comes out of [`poll_transmit`](Self::poll_transmit); after this no data
    /// can be sent. Calling it when the handshake is already under way does nothing and
    /// returns `Ok`: the handshake in progress completes as it is.
    pub fn close(&mut self, code: CloseCode, reason: &str, now: Instant) -> Result<(), SendError> {
        CloseFrame::check(code, reason)?;
        if self.state == State::Open {
            self.queue_close(Some(code), reason, State::CloseSent { since: now });
        }
        Ok(())
    }

    /// Writes the frames the engine itself must send — a Pong for the latest Ping, a keepalive
    /// Ping, our Close — into `out`, returning the bytes written (0 when there is nothing).
    ///
    /// Call it after every `read`, `close` and `handle_timeout`, and write its output before
    /// any further data frames. Frames are never split: give it at least
    /// [`MAX_CONTROL_FRAME_LEN`](crate::frame::MAX_CONTROL_FRAME_LEN) bytes per frame, and call
    /// again if it filled `out`.
    pub fn poll_transmit(&mut self, out: &mut [u8], now: Instant) -> usize {
        let mut n = 0;
        if self.state == State::Open {
            if self.pong_due {
                match self.write_outbox(OpCode::Pong, &mut out[n..]) {
                    Ok(w) => {
                        n += w;
                        self.pong_due = false;
                    }
                    Err(_) => return n,
                }
            }
            if self.ping_due {
                let stamp = self.ping_outstanding.unwrap_or(now);
                match self.write_frame(
                    OpCode::Ping,
                    true,
                    &stamp.as_nanos().to_be_bytes(),
                    &mut out[n..],
                ) {
                    Ok(w) => {
                        n += w;
                        self.ping_due = false;
                        self.last_ping = Some(stamp);
                    }
                    Err(_) => return n,
                }
            }
        }
        if self.close_queued && !self.close_sent && self.state != State::Closed {
            if let Ok(w) = self.write_outbox(OpCode::Close, &mut out[n..]) {
                n += w;
                self.close_sent = true;
                self.check_handshake(now);
            }
        }
        n
    }

    /// Whether `poll_transmit` has something to write.
    pub fn wants_transmit(&self) -> bool {
        (self.state == State::Open && (self.pong_due || self.ping_due))
            || (self.close_queued && !self.close_sent && self.state != State::Closed)
    }

    fn check_can_send(&self) -> Result<(), SendError> {
        if self.state == State::Open {
            Ok(())
        } else {
            Err(SendError::Closing)
        }
    }

    fn write_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let needed = self.frame_len(payload.len());
        let out = out
            .get_mut(..needed)
            .ok_or(SendError::BufferTooSmall { needed })?;
        let mask = self.client_mask();
        encode_frame(opcode, fin, mask, payload, out);
        Ok(needed)
    }

    /// Writes the control frame whose payload waits in the outbox (our Pong or Close).
    fn write_outbox(&mut self, opcode: OpCode, out: &mut [u8]) -> Result<usize, SendError> {
        let len = self.outbox_len as usize;
        let needed = self.frame_len(len);
        let out = out
            .get_mut(..needed)
            .ok_or(SendError::BufferTooSmall { needed })?;
        let mask = self.client_mask();
        encode_frame(opcode, true, mask, &self.outbox[..len], out);
        Ok(needed)
    }

    /// A fresh masking key for a client's frame (§5.3); servers do not mask.
    fn client_mask(&mut self) -> Option<[u8; 4]> {
        match self.role {
            Role::Client => Some(self.next_mask()),
            Role::Server => None,
        }
    }

    /// SplitMix64: fast, and unpredictable to a script that cannot see the seed (§10.3 asks
    /// that masks not be predictable by the application choosing payloads).
    fn next_mask(&mut self) -> [u8; 4] {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z as u32).to_ne_bytes()
    }

    // ---------------------------------------------------------------- closing

    /// Completes the handshake once our Close went out and the peer's came in — or, when
    /// framing was lost, as soon as our Close went out.
    fn check_handshake(&mut self, now: Instant) {
        if !self.close_sent {
            return;
        }
        if self.rx == Rx::Lost {
            self.finish(
                Ending::Failed {
                    end: FailureEnd::FramingLost,
                },
                now,
            );
            return;
        }
        if self.peer_close == PeerClose::None {
            return;
        }
        let initiator = match self.state {
            State::CloseSent { .. } => Initiator::Local,
            State::CloseReceived { .. } => Initiator::Peer,
            _ => return,
        };
        match self.role {
            Role::Server => self.finish(self.handshake_ending(initiator, false), now),
            Role::Client => {
                self.state = State::AwaitingTransportClose {
                    since: now,
                    initiator,
                }
            }
        }
    }

    fn handshake_ending(&self, initiator: Initiator, kept_open: bool) -> Ending {
        match self.failure {
            Some(_) if self.peer_close == PeerClose::Invalid => Ending::Failed {
                end: FailureEnd::PeerCloseInvalid,
            },
            Some(_) => Ending::Failed {
                end: FailureEnd::Acknowledged,
            },
            None => Ending::Clean {
                initiator,
                kept_open,
            },
        }
    }

    fn finish(&mut self, ending: Ending, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        // `rx` stays as it was so that `phase` can tell where the stream stopped; `read`
        // ignores input once Closed.
        self.state = State::Closed;
        self.pong_due = false;
        self.ping_due = false;
        self.ending = Some((ending, now));
    }

    /// The transport reached end of stream (a read returned 0 bytes).
    ///
    /// Process every byte received before it with [`read`](Self::read) first, so complete
    /// messages are delivered before the closure. Outside the end of a closing handshake this is
    /// an abnormal closure (1006) recording where the stream stopped.
    pub fn handle_eof(&mut self, now: Instant) {
        self.transport_ended(AbnormalCause::Eof, now);
    }

    /// The transport failed (reset, broken pipe, …). Like [`handle_eof`](Self::handle_eof).
    pub fn handle_transport_error(&mut self, error: TransportError, now: Instant) {
        self.transport_ended(AbnormalCause::Transport(error), now);
    }

    fn transport_ended(&mut self, cause: AbnormalCause, now: Instant) {
        let ending = match self.state {
            State::Closed => return,
            State::AwaitingTransportClose { initiator, .. } => {
                self.handshake_ending(initiator, false)
            }
            _ => match self.failure {
                Some(_) => Ending::Failed {
                    end: FailureEnd::TransportEnded,
                },
                None => Ending::Abnormal {
                    cause,
                    closing: self.closing(),
                },
            },
        };
        self.finish(ending, now);
    }

    fn closing(&self) -> Closing {
        match self.state {
            State::CloseSent { .. } => Closing::Sent,
            State::CloseReceived { .. } => Closing::Received,
            _ => Closing::No,
        }
    }

    /// Where the connection was, for an abnormal closure. The receive state is left as it was
    /// when the connection closed, so this can be derived afterwards.
    fn phase(&self, closing: Closing) -> Phase {
        match closing {
            Closing::Sent => return Phase::AfterCloseSent,
            Closing::Received => {
                return Phase::AfterCloseReceived {
                    code: self.peer_close().code(),
                }
            }
            Closing::No => {}
        }
        if !self.received_any {
            return Phase::BeforeFirstFrame;
        }
        match self.rx {
            Rx::Header if self.header_len > 0 => Phase::FrameHeader {
                received: self.header_len,
            },
            Rx::Data | Rx::Control | Rx::Skip => Phase::FramePayload {
                opcode: self.frame.opcode,
                received: self.frame.done,
                expected: self.frame.len,
            },
            _ => match self.message {
                Some(m) => Phase::BetweenFragments {
                    message_bytes: m.len,
                },
                None => Phase::FrameBoundary,
            },
        }
    }

    /// The code of the Close we queued or sent, if any (it stays in the outbox: once a Close
    /// is queued, nothing else is written there).
    fn sent_close_code(&self) -> Option<CloseCode> {
        match (self.close_queued, &self.outbox[..self.outbox_len as usize]) {
            (true, [hi, lo, ..]) => Some(CloseCode::new(u16::from_be_bytes([*hi, *lo]))),
            _ => None,
        }
    }

    fn peer_close(&self) -> CloseFrame {
        let len = if self.peer_close == PeerClose::Valid {
            self.control_len as usize
        } else {
            0
        };
        CloseFrame::parse_or_empty(&self.control[..len])
    }

    // ---------------------------------------------------------------- timers

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) must be called, if any.
    ///
    /// Ask again after every call into the engine: deadlines move as bytes arrive.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Open => {
                let ka = self.config.keepalive?;
                Some(match self.ping_outstanding {
                    Some(sent) => sent + ka.timeout,
                    None => self.last_inbound + ka.interval,
                })
            }
            State::CloseSent { since }
            | State::CloseReceived { since }
            | State::AwaitingTransportClose { since, .. } => {
                Some(since + self.config.close_timeout)
            }
            State::Closed => None,
        }
    }

    /// Advances the timers to `now`: queues a keepalive Ping, or ends the connection when the
    /// keepalive or close timeout expired. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        match self.state {
            State::Open => {
                if self.ping_outstanding.is_some() {
                    self.finish(
                        Ending::Abnormal {
                            cause: AbnormalCause::KeepaliveTimeout,
                            closing: Closing::No,
                        },
                        now,
                    );
                } else {
                    self.ping_outstanding = Some(now);
                    self.ping_due = true;
                }
            }
            State::AwaitingTransportClose { initiator, .. } => {
                self.finish(self.handshake_ending(initiator, true), now);
            }
            State::CloseSent { .. } | State::CloseReceived { .. } => {
                let ending = match self.failure {
                    Some(_) => Ending::Failed {
                        end: FailureEnd::CloseTimeout,
                    },
                    None => Ending::Abnormal {
                        cause: AbnormalCause::CloseTimeout,
                        closing: self.closing(),
                    },
                };
                self.finish(ending, now);
            }
            State::Closed => {}
        }
    }

    // ---------------------------------------------------------------- the end

    /// The connection's [`Closure`], exactly once, as soon as the connection is over.
    ///
    /// When it returns `Some`, the driver closes the transport (a server at once, §7.1.1; a
    /// client got here after the server closed or the close timeout passed).
    pub fn poll_closure(&mut self) -> Option<Closure> {
        if self.closure_taken {
            return None;
        }
        let closure = self.closure()?;
        self.closure_taken = true;
        Some(closure)
    }

    /// The connection's [`Closure`] once it is over, as often as asked (`None` before).
    ///
    /// Unlike [`poll_closure`](Self::poll_closure), this does not mark the closure as taken:
    /// it lets a driver report the end again without keeping its own copy.
    pub fn closure(&self) -> Option<Closure> {
        let (ending, at) = self.ending?;
        let kind = match ending {
            Ending::Clean {
                initiator,
                kept_open,
            } => ClosureKind::Clean {
                initiator,
                received: self.peer_close(),
                peer_kept_transport_open: kept_open,
            },
            Ending::Failed { end } => match self.failure {
                Some(error) => ClosureKind::Failed {
                    error,
                    sent: self.sent_close_code().unwrap_or(error.close_code()),
                    end,
                },
                // Failed is only recorded with a failure; keep the closure honest regardless.
                None => ClosureKind::Abnormal {
                    cause: AbnormalCause::Eof,
                    phase: self.phase(Closing::No),
                },
            },
            Ending::Abnormal { cause, closing } => ClosureKind::Abnormal {
                cause,
                phase: self.phase(closing),
            },
        };
        Some(Closure::new(kind, at - self.last_inbound))
    }

    /// Whether the connection is over and its closure was taken: nothing more will happen.
    pub fn is_finished(&self) -> bool {
        self.closure_taken
    }
}

/// Encodes a frame with `payload` into `out`, which is exactly as long as the frame.
fn encode_frame(opcode: OpCode, fin: bool, mask: Option<[u8; 4]>, payload: &[u8], out: &mut [u8]) {
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let limit = MAX_HEADER_LEN.min(out.len());
    let h = header.encode(&mut out[..limit]);
    let body = &mut out[h..];
    match mask {
        // One pass: mask while copying.
        Some(key) => mask_copy(body, payload, key),
        None => body.copy_from_slice(payload),
    }
}

/// Header and payload length of a frame whose header failed validation, so that its payload
/// can be skipped while draining. `None` when the length itself is unusable.
fn skip_len(buf: &[u8]) -> Option<(usize, u64)> {
    let (b0, b1) = match buf {
        [b0, b1, ..] => (*b0, *b1),
        _ => return None,
    };
    let len = header_len([b0, b1]);
    if buf.len() < len {
        return None;
    }
    let payload = match b1 & 0x7F {
        126 => u16::from_be_bytes([buf[2], buf[3]]) as u64,
        127 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            let v = u64::from_be_bytes(b);
            if v >> 63 != 0 {
                return None;
            }
            v
        }
        n => n as u64,
    };
    Some((len, payload))
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
