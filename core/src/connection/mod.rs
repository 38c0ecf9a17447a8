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
//! [`FailureEnd`]: crate::close::FailureEnd
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

// One `impl Connection` per concern, each in its own file; the state they share is the
// `Connection` struct below, whose private fields the child modules can all reach.
mod closing;
mod read;
mod timers;
mod write;

use core::time::Duration;

use crate::close::{AbnormalCause, CloseFrame, Closure, ClosureKind};
use crate::config::{Config, Role};
use crate::error::ProtocolError;
use crate::frame::{OpCode, MAX_CONTROL_PAYLOAD};
use crate::time::Instant;
use crate::utf8::Utf8Validator;

use closing::{Closing, Ending, PeerClose, State};
use read::{InFrame, InMessage, Rx};

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
/// closing handshake (module `connection::closing`, `State`).
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

/// A control frame's payload that the engine owes the peer (at most 125 bytes, §5.5).
type Outbox = heapless::Vec<u8, MAX_CONTROL_PAYLOAD, u8>;

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
    /// then our Close (a Close drops any Pong, so one buffer serves both). A `heapless::Vec`
    /// with a `u8` length: the 125-byte bound in the type, one byte of length.
    outbox: Outbox,
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
            outbox: Outbox::new(),
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

    /// Lets frames carry `rsv` (RSV1 for permessage-deflate) once the opening handshake agreed
    /// on an extension that defines it: the same as [`Config::extension_rsv`], for a driver
    /// that learns the outcome after creating the connection.
    pub fn allow_extension_rsv(&mut self, rsv: u8) {
        self.config.extension_rsv |= rsv & 0b111;
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

    /// Payload bytes of the inbound data frame still to come after the last chunk delivered
    /// (0 between frames). A driver assembling a message can reserve its buffer from it once,
    /// instead of growing it chunk by chunk.
    pub fn incoming_frame_remaining(&self) -> u64 {
        match self.rx {
            read::Rx::Data => self.frame.len - self.frame.done,
            _ => 0,
        }
    }

    /// When the last byte arrived from the peer (the connection's start before any did).
    pub fn last_inbound(&self) -> Instant {
        self.last_inbound
    }

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
        let deflate = self.config.extension_rsv & crate::frame::RSV1 != 0;
        Some(Closure::new(kind, at - self.last_inbound).with_permessage_deflate(deflate))
    }

    /// Whether the connection is over and its closure was taken: nothing more will happen.
    pub fn is_finished(&self) -> bool {
        self.closure_taken
    }
}

#[cfg(test)]
mod tests;
