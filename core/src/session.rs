//! A buffered driver for one connection (feature `alloc`): the part every I/O adapter shares.
//!
//! [`Connection`] is allocation-free and works on caller buffers. An adapter over a byte stream
//! (blocking `std::io`, tokio, …) always needs the same buffering around it: a read buffer, the
//! loop that turns bytes into events, message assembly, one write buffer where outgoing frames
//! queue behind the engine's own control frames, and a rule for when to write. [`Session`] is
//! that buffering, still sans-IO: it never touches a socket or a clock, so both adapters get the
//! same behaviour and this module tests it without a network.
//!
//! # Driving a session
//!
//! Reading:
//!
//! 1. Take messages with [`poll_message`](Session::poll_message) (or events, zero-copy, with
//!    [`poll_event`](Session::poll_event)) until it returns `None`: every frame already
//!    received has then been decoded.
//! 2. Write out [`pending_write`](Session::pending_write) (Pongs and Close replies may be
//!    waiting) and report what went out with [`written`](Session::written).
//! 3. If [`closure`](Session::closure) is `Some`, the connection is over: write out what is
//!    still pending (the session keeps only what the peer waits for, such as the Close that
//!    fails the connection; [`poll_timeout`](Session::poll_timeout) bounds the wait), then close
//!    the transport. Every adapter follows this one rule. Otherwise wait for the transport to become readable or for
//!    [`poll_timeout`](Session::poll_timeout) to pass, whichever comes first; read into
//!    [`read_space`](Session::read_space) and report it with
//!    [`received`](Session::received), or call [`handle_timeout`](Session::handle_timeout),
//!    [`handle_eof`](Session::handle_eof) or
//!    [`handle_transport_error`](Session::handle_transport_error); then go to 1.
//!
//! Writing: [`send`](Session::send) and friends encode into the write buffer. Write it out when
//! [`should_flush`](Session::should_flush) says so, which is the batching rule:
//!
//! - *Decode everything before reading again* (step 1 above): one read of the transport yields
//!   as many messages as it carried.
//! - *Encode into one buffer, flush when there is nothing more to do right now*: while a complete
//!   frame is still waiting in the read buffer ([`has_ready_input`](Session::has_ready_input)),
//!   the application is about to get another message and will likely answer it, so replies
//!   accumulate and go out in one write. As soon as no complete frame waits, the buffer is
//!   flushed — data is never held back while the connection would otherwise sit idle.
//! - *Or at a threshold*: above the high-water mark
//!   ([`SessionConfig::write_high_water`]) the buffer is flushed regardless, and a sender
//!   waits until it drains, so a peer that does not read cannot make memory grow without bound.
//!
//! Memory is bounded: the read buffer has a fixed size, a message being assembled is bounded by
//! [`Config::max_message_size`](crate::Config::max_message_size), and the write buffer holds at
//! most the high-water mark plus the frame being sent.
//!
//! ```
//! use sockeye_core::session::{Session, SessionConfig};
//! use sockeye_core::{Config, Connection, Frame, Instant, Message};
//!
//! let now = Instant::ZERO;
//! let mut client = Session::new(Connection::client(Config::default(), now, 7), SessionConfig::default());
//! let mut server = Session::new(Connection::server(Config::default(), now), SessionConfig::default());
//!
//! client.send(Frame::Text("hello")).unwrap();
//! client.send(Frame::Binary(&[1, 2, 3])).unwrap();
//!
//! // "The transport": copy the client's pending bytes into the server's read buffer.
//! let wire = client.pending_write();
//! let space = server.read_space();
//! space[..wire.len()].copy_from_slice(wire);
//! let n = wire.len();
//! client.written(n);
//! server.received(n, now);
//!
//! assert_eq!(server.poll_message(), Some(Message::Text("hello".into())));
//! assert_eq!(server.poll_message(), Some(Message::Binary(vec![1, 2, 3])));
//! assert_eq!(server.poll_message(), None);
//! ```

use alloc::vec;
use alloc::vec::Vec;

use crate::close::{CloseCode, CloseFrame, Closure, ClosureKind, FailureEnd, TransportError};
use crate::connection::{
    Connection, ConnectionState, ControlPayload, DataChunk, Event, Frame, MessageKind,
};
use crate::error::SendError;
use crate::frame::{Decoded, FrameHeader, MAX_CONTROL_FRAME_LEN};
use crate::message::{Message, MessageAssembler};
use crate::time::Instant;

/// Buffer sizes of a [`Session`].
///
/// ```
/// use sockeye_core::session::SessionConfig;
/// let config = SessionConfig::default().with_read_buffer_size(16 * 1024);
/// assert_eq!(config.read_buffer_size, 16 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Size of the read buffer: the most one read of the transport takes in. Messages larger
    /// than this are assembled separately, up to the engine's maximum message size. At least 1;
    /// default 64 KiB.
    pub read_buffer_size: usize,
    /// High-water mark of the write buffer: above it, [`Session::should_flush`] asks for a
    /// flush and [`Session::is_write_full`] tells senders to wait until the buffer drains.
    /// Default 128 KiB.
    pub write_high_water: usize,
}

impl SessionConfig {
    /// The defaults: a 64 KiB read buffer and a 128 KiB write high-water mark.
    pub const fn new() -> SessionConfig {
        SessionConfig {
            read_buffer_size: 64 * 1024,
            write_high_water: 128 * 1024,
        }
    }

    /// Sets [`read_buffer_size`](Self::read_buffer_size) (0 is taken as 1).
    pub const fn with_read_buffer_size(mut self, size: usize) -> SessionConfig {
        self.read_buffer_size = if size == 0 { 1 } else { size };
        self
    }

    /// Sets [`write_high_water`](Self::write_high_water).
    pub const fn with_write_high_water(mut self, bytes: usize) -> SessionConfig {
        self.write_high_water = bytes;
        self
    }
}

impl Default for SessionConfig {
    fn default() -> SessionConfig {
        SessionConfig::new()
    }
}

/// The most a message's frame header makes [`Session::poll_message`] reserve before its
/// payload arrives; a larger message grows from there.
const RESERVE_CAP: u64 = 4 << 20;

/// How the transport ended, when it ended with input still undecoded.
#[derive(Clone, Copy, Debug)]
enum TransportEnd {
    Eof,
    Error(TransportError),
}

/// A decoded event whose payload is a range of the read buffer rather than a borrow of it.
#[derive(Clone, Copy, Debug)]
enum Stashed {
    Data(ChunkAt),
    Ping(ControlPayload),
    Pong(ControlPayload),
    Close(CloseFrame),
}

/// A [`DataChunk`] with its payload at `start..end` in the read buffer.
#[derive(Clone, Copy, Debug)]
struct ChunkAt {
    start: usize,
    end: usize,
    kind: MessageKind,
    first: bool,
    last: bool,
    frame_end: bool,
    rsv: u8,
}

impl Stashed {
    /// `base` is the address of the read buffer the event borrows from.
    fn new(event: Event<'_>, base: usize) -> Stashed {
        match event {
            Event::Data(c) => {
                // The payload is a subslice of the read buffer: its offset is the difference
                // of the addresses (no pointer is dereferenced).
                let start = (c.payload.as_ptr() as usize).wrapping_sub(base);
                Stashed::Data(ChunkAt {
                    start,
                    end: start.wrapping_add(c.payload.len()),
                    kind: c.kind,
                    first: c.first,
                    last: c.last,
                    frame_end: c.frame_end,
                    rsv: c.rsv,
                })
            }
            Event::Ping(p) => Stashed::Ping(p),
            Event::Pong(p) => Stashed::Pong(p),
            Event::Close(c) => Stashed::Close(c),
        }
    }

    fn event(self, rbuf: &[u8]) -> Event<'_> {
        match self {
            Stashed::Data(at) => Event::Data(at.chunk(rbuf)),
            Stashed::Ping(p) => Event::Ping(p),
            Stashed::Pong(p) => Event::Pong(p),
            Stashed::Close(c) => Event::Close(c),
        }
    }
}

impl ChunkAt {
    fn chunk(self, rbuf: &[u8]) -> DataChunk<'_> {
        DataChunk {
            kind: self.kind,
            // Always in bounds (the range came from a subslice); never panic regardless.
            payload: rbuf.get(self.start..self.end).unwrap_or(&[]),
            first: self.first,
            last: self.last,
            frame_end: self.frame_end,
            rsv: self.rsv,
        }
    }
}

/// Everything but the read buffer, so that an event can borrow the read buffer while the
/// engine and the write buffer are used.
#[derive(Debug)]
struct Core {
    conn: Connection,
    /// Encoded frames; `wbuf[wpos..]` is not written yet.
    wbuf: Vec<u8>,
    wpos: usize,
    /// `wbuf[..urgent_end]` ends with control frames the engine owes the peer (a Pong, a
    /// Close): they should leave now, not when the application next calls in.
    urgent_end: usize,
    high_water: usize,
    /// A transport end reported while input was still buffered: applied once it is decoded,
    /// so that the messages it completes come before the closure.
    pending_end: Option<(TransportEnd, Instant)>,
    closure: Option<Closure>,
    /// After the closure, the deadline for writing out what the peer still waits for.
    linger_until: Option<Instant>,
}

impl Core {
    /// Takes the control frames the engine owes the peer (Pong, keepalive Ping, Close) into
    /// the write buffer, then the closure if the connection just ended.
    fn transmit(&mut self, now: Instant) {
        while self.conn.wants_transmit() {
            // Room for a Pong, a Ping and a Close, the most the engine queues at once.
            let start = self.reserve(3 * MAX_CONTROL_FRAME_LEN);
            let n = self.conn.poll_transmit(&mut self.wbuf[start..], now);
            self.wbuf.truncate(start + n);
            if n == 0 {
                break;
            }
            self.urgent_end = start + n;
        }
        if self.closure.is_none() {
            self.closure = self.conn.poll_closure();
            if let Some(closure) = self.closure {
                self.connection_over(closure, now);
            }
        }
    }

    /// The one rule every driver follows at the end: *write out what is pending, then close
    /// the transport*. What is pending is decided here: when the peer waits for our final
    /// Close (the handshake completed, or we failed the connection and it is reading) it stays,
    /// to be written within the close timeout; after a transport end or a timeout nobody reads
    /// it, and it is dropped, so that a peer that stopped reading cannot hold us.
    fn connection_over(&mut self, closure: Closure, now: Instant) {
        let peer_reads = match closure.kind() {
            ClosureKind::Clean {
                peer_kept_transport_open,
                ..
            } => !peer_kept_transport_open,
            ClosureKind::Failed { end, .. } => matches!(
                end,
                FailureEnd::Acknowledged | FailureEnd::PeerCloseInvalid | FailureEnd::FramingLost
            ),
            _ => false,
        };
        if peer_reads && self.wpos < self.wbuf.len() {
            self.linger_until = Some(now + self.conn.config().close_timeout);
        } else {
            self.discard_pending();
        }
    }

    fn discard_pending(&mut self) {
        self.wbuf.clear();
        self.wpos = 0;
        self.urgent_end = 0;
    }

    /// Grows the write buffer by `len` zeroed bytes, returning where they start. Bytes already
    /// written are dropped first when they make up half of the buffer, so the buffer never
    /// holds more than twice what is pending.
    fn reserve(&mut self, len: usize) -> usize {
        if self.wpos > 0 && self.wpos >= self.wbuf.len() / 2 {
            self.wbuf.drain(..self.wpos);
            self.urgent_end = self.urgent_end.saturating_sub(self.wpos);
            self.wpos = 0;
        }
        let start = self.wbuf.len();
        self.wbuf.resize(start.saturating_add(len), 0);
        start
    }

    /// Encodes one frame of `payload_len` bytes with `encode`.
    fn encode(
        &mut self,
        payload_len: usize,
        encode: impl FnOnce(&mut Connection, &mut [u8]) -> Result<usize, SendError>,
    ) -> Result<(), SendError> {
        if !self.is_open() {
            return Err(SendError::Closing);
        }
        let start = self.reserve(self.conn.frame_len(payload_len));
        match encode(&mut self.conn, &mut self.wbuf[start..]) {
            Ok(n) => {
                self.wbuf.truncate(start + n);
                Ok(())
            }
            Err(e) => {
                self.wbuf.truncate(start);
                Err(e)
            }
        }
    }

    /// Whether data can still be sent: no Close sent or received, and the transport is up.
    fn is_open(&self) -> bool {
        self.conn.is_open() && self.pending_end.is_none()
    }

    /// Whether a message in progress can no longer complete: we failed the connection (the
    /// rest is drained unread) or the peer's Close arrived.
    fn message_abandoned(&self) -> bool {
        self.conn.failure().is_some()
            || matches!(
                self.conn.state(),
                ConnectionState::CloseReceived
                    | ConnectionState::AwaitingTransportClose
                    | ConnectionState::Closed
            )
    }

    /// All input was decoded: a transport end reported meanwhile takes effect now.
    fn drained(&mut self) {
        if let Some((end, at)) = self.pending_end.take() {
            self.end_transport(end, at);
        }
    }

    fn end_transport(&mut self, end: TransportEnd, now: Instant) {
        match end {
            TransportEnd::Eof => self.conn.handle_eof(now),
            TransportEnd::Error(e) => self.conn.handle_transport_error(e, now),
        }
        self.transmit(now);
    }
}

/// One connection with its buffers: the sans-IO driver the `std` and tokio adapters share.
///
/// See the [module documentation](self) for how to drive it and for the batching rule.
#[derive(Debug)]
pub struct Session {
    core: Core,
    /// `rbuf[rstart..rend]` holds received bytes not yet decoded.
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// When the undecoded bytes arrived, for the engine's idle and keepalive accounting.
    rx_time: Instant,
    /// Bytes were received and not polled since: the engine may be in the middle of a frame,
    /// so the buffer cannot be read as starting with a frame header.
    fresh_input: bool,
    assembler: MessageAssembler,
    /// An event decoded by `has_event` and not taken yet; its payload stays in `rbuf`.
    stash: Option<Stashed>,
    read_buffer_size: usize,
}

impl Session {
    /// A session driving `connection` (fresh from the opening handshake) with buffers sized
    /// by `config`. The read buffer is allocated on the first read (or provided by the driver),
    /// the write buffer grows as frames queue; both are let go when idle
    /// ([`release_idle_buffers`](Self::release_idle_buffers)).
    pub fn new(connection: Connection, config: SessionConfig) -> Session {
        let size = config.read_buffer_size.max(1);
        Session {
            rx_time: connection.last_inbound(),
            core: Core {
                conn: connection,
                wbuf: Vec::new(),
                wpos: 0,
                urgent_end: 0,
                high_water: config.write_high_water,
                pending_end: None,
                closure: None,
                linger_until: None,
            },
            // Allocated when first read into (or provided by the driver): an idle connection
            // holds no read buffer, see `release_idle_buffers`.
            rbuf: Vec::new(),
            rstart: 0,
            rend: 0,
            fresh_input: false,
            assembler: MessageAssembler::new(),
            stash: None,
            read_buffer_size: size,
        }
    }

    /// The engine, for its state, configuration, role and round-trip time.
    pub fn connection(&self) -> &Connection {
        &self.core.conn
    }

    /// The buffer configuration this session runs with.
    pub fn config(&self) -> SessionConfig {
        SessionConfig {
            read_buffer_size: self.read_buffer_size,
            write_high_water: self.core.high_water,
        }
    }

    // ------------------------------------------------------------------ receiving

    /// Free space at the end of the read buffer: read from the transport into it, then call
    /// [`received`](Self::received) with the number of bytes read.
    ///
    /// Decode what was received first ([`poll_message`](Self::poll_message) until `None`):
    /// then the whole buffer is free. It is empty only if undecoded input fills the buffer, and
    /// a read into an empty slice must not be mistaken for end of stream.
    pub fn read_space(&mut self) -> &mut [u8] {
        if self.rbuf.is_empty() {
            self.rbuf = vec![0; self.read_buffer_size];
            self.rstart = 0;
            self.rend = 0;
        }
        if self.stash.is_some() {
            // The stashed event's payload lies before `rstart`: move nothing.
        } else if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        } else if self.rend == self.rbuf.len() && self.rstart > 0 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        &mut self.rbuf[self.rend..]
    }

    /// `n` bytes were read into [`read_space`](Self::read_space) at `now`.
    ///
    /// `n` is capped at the space there was. End of stream is [`handle_eof`](Self::handle_eof),
    /// not `received(0, …)`, which does nothing.
    pub fn received(&mut self, n: usize, now: Instant) {
        let n = n.min(self.rbuf.len() - self.rend);
        if n > 0 {
            self.rend += n;
            self.rx_time = now;
            self.fresh_input = true;
        }
    }

    /// Copies `data` into the read buffer, as if read from the transport at `now`: for bytes
    /// that arrived with the opening handshake's response or request (they belong to the
    /// connection and must not be lost). Grows the read buffer if `data` does not fit.
    pub fn push_received(&mut self, data: &[u8], now: Instant) {
        if data.is_empty() {
            return;
        }
        let free = self.read_space().len();
        if free < data.len() {
            let grow = data.len() - free;
            self.rbuf.resize(self.rbuf.len() + grow, 0);
        }
        self.rbuf[self.rend..self.rend + data.len()].copy_from_slice(data);
        self.rend += data.len();
        self.rx_time = now;
        self.fresh_input = true;
    }

    /// Whether the session holds no read buffer (it released it, or never read): the next
    /// [`read_space`](Self::read_space) allocates one unless the driver provides one with
    /// [`provide_read_buffer`](Self::provide_read_buffer).
    pub fn needs_read_buffer(&self) -> bool {
        self.rbuf.is_empty()
    }

    /// Gives the session a read buffer, typically one that another connection released (a
    /// per-thread pool in the driver): it is resized to the configured size, its contents do
    /// not matter. Ignored if the session holds a buffer already.
    pub fn provide_read_buffer(&mut self, mut buf: Vec<u8>) {
        if self.rbuf.is_empty() {
            buf.resize(self.read_buffer_size, 0);
            self.rbuf = buf;
            self.rstart = 0;
            self.rend = 0;
        }
    }

    /// Lets an idle connection cost almost nothing: call it when the transport has nothing to
    /// read right now, before waiting. The write buffer is dropped if nothing is pending, and the
    /// read buffer is handed back — for the driver to pool or drop — if every byte received
    /// was decoded (no partial frame is buffered; the engine itself keeps a partial header or
    /// control frame in its own fixed state). Returns `None` when it must keep the read buffer.
    pub fn release_idle_buffers(&mut self) -> Option<Vec<u8>> {
        if self.core.wpos == self.core.wbuf.len() {
            self.core.wbuf = Vec::new();
            self.core.wpos = 0;
            self.core.urgent_end = 0;
        }
        if self.rbuf.is_empty() || self.rstart != self.rend || self.stash.is_some() {
            return None;
        }
        self.rstart = 0;
        self.rend = 0;
        Some(core::mem::take(&mut self.rbuf))
    }

    /// Bytes received and not yet decoded.
    pub fn buffered_input(&self) -> usize {
        self.rend - self.rstart
    }

    /// Whether there is more to do before reading the transport again: a complete frame waits
    /// in the read buffer (polling yields a message, a control frame or a protocol error), an
    /// event was decoded ahead by [`has_event`](Self::has_event), or bytes were received and
    /// not polled yet. Flush decisions use it: see [`should_flush`](Self::should_flush).
    pub fn has_ready_input(&self) -> bool {
        if self.stash.is_some() {
            return true;
        }
        if self.core.closure.is_some() || self.rstart == self.rend {
            return false;
        }
        if self.fresh_input {
            return true;
        }
        // Input is left over only after an event that ended a frame (a chunk that ends before
        // its frame does consumed all input), so it starts with a frame header.
        let input = &self.rbuf[self.rstart..self.rend];
        match FrameHeader::decode(input) {
            Ok(Decoded::Header(h, len)) => (input.len() - len) as u64 >= h.payload_len,
            Ok(Decoded::Incomplete { .. }) => false,
            // A broken header fails the connection as soon as it is decoded.
            Err(_) => true,
        }
    }

    /// The next complete text or binary message, or `None` once every received byte was
    /// decoded (or the connection is over).
    ///
    /// Pings are answered and the closing handshake advances as their frames are decoded; the
    /// replies land in [`pending_write`](Self::pending_write). Control frames themselves are not
    /// returned: use [`poll_event`](Self::poll_event) to see them. If a message was started
    /// with `poll_event`, this returns the rest of it.
    pub fn poll_message(&mut self) -> Option<Message> {
        loop {
            let Some(next) = self.stash.take().or_else(|| self.decode()) else {
                if self.core.message_abandoned() {
                    self.assembler.clear();
                }
                return None;
            };
            if let Stashed::Data(at) = next {
                if at.first && !at.last {
                    // A message larger than what one read brought: reserve it from its frame
                    // header (up to a cap, so that a header alone cannot claim much memory).
                    let rest = self.core.conn.incoming_frame_remaining().min(RESERVE_CAP);
                    self.assembler.reserve(at.end - at.start + rest as usize);
                }
                let message = self.assembler.push_chunk(at.chunk(&self.rbuf));
                if message.is_some() {
                    return message;
                }
            }
            if self.core.message_abandoned() {
                self.assembler.clear();
            }
        }
    }

    /// The next event, borrowing its payload from the read buffer: the zero-copy, chunk-level
    /// way to receive, for messages too large to hold whole.
    ///
    /// A message arrives as one or more [`Event::Data`] chunks (see
    /// [`DataChunk`]), at most a read buffer's worth each; Ping, Pong and
    /// Close frames arrive as their own events. Returns `None` once every received byte was
    /// decoded (or the connection is over). If a message was started with
    /// [`poll_message`](Self::poll_message), its first chunks were already taken there.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        let next = self.stash.take().or_else(|| self.decode())?;
        Some(next.event(&self.rbuf))
    }

    /// Decodes ahead to the next event without returning it: whether
    /// [`poll_event`](Self::poll_event) will return `Some`. For driver loops, which cannot hold
    /// the event's borrow while they read more input:
    ///
    /// ```
    /// # use sockeye_core::{session::*, *};
    /// # fn read_more(_: &mut Session) {}
    /// fn next_event(session: &mut Session) -> Option<Event<'_>> {
    ///     while !session.has_event() {
    ///         if session.closure().is_some() {
    ///             return None;
    ///         }
    ///         read_more(session); // flush, then read the transport into `read_space`
    /// #       return None;
    ///     }
    ///     session.poll_event()
    /// }
    /// ```
    pub fn has_event(&mut self) -> bool {
        if self.stash.is_none() {
            self.stash = self.decode();
        }
        self.stash.is_some()
    }

    /// Runs the engine over the buffered input up to its next event, which is returned with
    /// its payload as a range of the read buffer (so that no borrow is held).
    fn decode(&mut self) -> Option<Stashed> {
        if self.rstart >= self.rend {
            self.core.drained();
            return None;
        }
        let base = self.rbuf.as_ptr() as usize;
        let read = self
            .core
            .conn
            .read(&mut self.rbuf[self.rstart..self.rend], self.rx_time);
        self.rstart += read.consumed;
        self.fresh_input = false;
        let next = read.event.map(|event| Stashed::new(event, base));
        self.core.transmit(self.rx_time);
        if next.is_none() {
            // No event means every byte was consumed.
            self.core.drained();
        }
        next
    }

    // ------------------------------------------------------------------ sending

    /// Encodes a complete message or a Ping/Pong into the write buffer.
    ///
    /// Fails, queuing nothing, with [`SendError::Closing`] once the closing handshake started,
    /// or for the reasons [`Connection::encode`] gives.
    pub fn send(&mut self, frame: Frame<'_>) -> Result<(), SendError> {
        let len = match frame {
            Frame::Text(s) => s.len(),
            Frame::Binary(b) | Frame::Ping(b) | Frame::Pong(b) => b.len(),
        };
        self.core.encode(len, |conn, out| conn.encode(frame, out))
    }

    /// Encodes a [`Message`]: text, binary, ping and pong like [`send`](Self::send); a
    /// [`Message::Close`] starts the closing handshake like [`close`](Self::close) with its
    /// code and reason (1000 if it has no code, which cannot be sent).
    pub fn send_message(&mut self, message: &Message, now: Instant) -> Result<(), SendError> {
        match message {
            Message::Text(s) => self.send(Frame::Text(s)),
            Message::Binary(b) => self.send(Frame::Binary(b)),
            Message::Ping(p) => self.send(Frame::Ping(p)),
            Message::Pong(p) => self.send(Frame::Pong(p)),
            Message::Close(frame) => self.close(
                frame.code().unwrap_or(CloseCode::NORMAL),
                frame.reason(),
                now,
            ),
        }
    }

    /// Encodes one fragment of a message (§5.4), like [`Connection::encode_fragment`]: the
    /// first call starts a `kind` message, the call with `fin` ends it.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), SendError> {
        self.core.encode(payload.len(), |conn, out| {
            conn.encode_fragment(kind, payload, fin, out)
        })
    }

    /// Starts the closing handshake (§7.1.2): the Close frame is queued behind what is already
    /// in the write buffer. Does nothing if the handshake is under way; fails only for a code
    /// that cannot be sent or a reason over 123 bytes.
    pub fn close(&mut self, code: CloseCode, reason: &str, now: Instant) -> Result<(), SendError> {
        self.core.conn.close(code, reason, now)?;
        self.core.transmit(now);
        Ok(())
    }

    /// Encoded bytes waiting to be written to the transport, in order.
    pub fn pending_write(&self) -> &[u8] {
        &self.core.wbuf[self.core.wpos..]
    }

    /// `n` bytes of [`pending_write`](Self::pending_write) were written (capped at its length).
    pub fn written(&mut self, n: usize) {
        let core = &mut self.core;
        core.wpos = (core.wpos + n).min(core.wbuf.len());
        if core.wpos == core.wbuf.len() {
            core.wbuf.clear();
            core.wpos = 0;
            core.urgent_end = 0;
            // Give back what one large message took.
            let keep = core.high_water.max(64 * 1024);
            if core.wbuf.capacity() > 2 * keep {
                core.wbuf.shrink_to(keep);
            }
        }
    }

    /// Whether the write buffer holds control frames the engine owes the peer (a Pong for its
    /// Ping, a Close reply) that are not written yet. Drivers write them out before handing a
    /// message to the application, so that a slow application cannot hold back the peer's
    /// keepalive answer (the data queued before them goes out with them, in order).
    pub fn has_urgent_write(&self) -> bool {
        self.core.urgent_end > self.core.wpos
    }

    /// Whether the write buffer reached the high-water mark: write it out before queuing more.
    pub fn is_write_full(&self) -> bool {
        let pending = self.pending_write().len();
        pending > 0 && pending >= self.core.high_water
    }

    /// Whether to write [`pending_write`](Self::pending_write) out now: something is pending
    /// and either no complete frame waits in the read buffer (nothing more to do right now) or
    /// the high-water mark is reached. See the [module documentation](self).
    pub fn should_flush(&self) -> bool {
        !self.pending_write().is_empty() && (self.is_write_full() || !self.has_ready_input())
    }

    // ------------------------------------------------------------------ transport and time

    /// The transport reached end of stream. Input still buffered is decoded first: the
    /// messages it completes come before the closure.
    pub fn handle_eof(&mut self, now: Instant) {
        self.end_transport(TransportEnd::Eof, now);
    }

    /// The transport failed. Like [`handle_eof`](Self::handle_eof).
    pub fn handle_transport_error(&mut self, error: TransportError, now: Instant) {
        self.end_transport(TransportEnd::Error(error), now);
    }

    fn end_transport(&mut self, end: TransportEnd, now: Instant) {
        if self.core.pending_end.is_some() {
            return;
        }
        if self.rstart < self.rend || self.stash.is_some() {
            self.core.pending_end = Some((end, now));
        } else {
            self.core.end_transport(end, now);
            if self.core.message_abandoned() {
                self.assembler.clear();
            }
        }
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) must be called, if
    /// any (keepalive or close timeout). Ask again after every call: deadlines move as bytes
    /// arrive.
    ///
    /// Once the connection is over, this is the deadline for writing out what is still
    /// pending (our final Close): past it, `handle_timeout` drops it.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.core.closure.is_some() {
            return self
                .core
                .linger_until
                .filter(|_| !self.pending_write().is_empty());
        }
        if self.core.pending_end.is_some() {
            return None;
        }
        self.core.conn.poll_timeout()
    }

    /// Advances the engine's timers to `now`: may queue a keepalive Ping, or end the
    /// connection (keepalive or close timeout). Decode buffered input first: bytes waiting in
    /// the read buffer prove the peer alive only once the engine has seen them.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.core.closure.is_some() {
            if self.core.linger_until.is_some_and(|t| now >= t) {
                self.core.discard_pending();
            }
            return;
        }
        if self.core.pending_end.is_some() {
            return;
        }
        self.core.conn.handle_timeout(now);
        self.core.transmit(now);
        if self.core.message_abandoned() {
            self.assembler.clear();
        }
    }

    /// How the connection ended, once it has. From then on the driver writes out
    /// [`pending_write`](Self::pending_write) — it holds only what the peer still waits for,
    /// usually our final Close, and is bounded by [`poll_timeout`](Self::poll_timeout) — and
    /// then closes the transport. Stays available.
    pub fn closure(&self) -> Option<Closure> {
        self.core.closure
    }

    /// Whether data can still be sent: no Close was sent or received, and the transport has
    /// not ended.
    pub fn is_open(&self) -> bool {
        self.core.is_open()
    }
}

#[cfg(test)]
mod tests {
    use std::string::String;
    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::close::{AbnormalCause, ClosureKind, Initiator, Phase};
    use crate::config::{Config, Keepalive};
    use crate::frame::OpCode;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn pair(config: SessionConfig) -> (Session, Session) {
        let c = Connection::client(Config::default(), t(0), 99);
        let s = Connection::server(Config::default(), t(0));
        (Session::new(c, config), Session::new(s, config))
    }

    /// One read: moves at most `chunk` and `max` pending bytes from `from` to `to` (bounded by
    /// `to`'s read space too); returns how many moved.
    fn pump(from: &mut Session, to: &mut Session, chunk: usize, max: usize, now: Instant) -> usize {
        let space = to.read_space();
        let wire = from.pending_write();
        let n = wire.len().min(chunk).min(space.len()).min(max);
        space[..n].copy_from_slice(&wire[..n]);
        from.written(n);
        to.received(n, now);
        n
    }

    /// Delivers everything `from` has pending to `to`, `chunk` bytes per read, collecting
    /// the messages `to` decodes.
    fn deliver(from: &mut Session, to: &mut Session, chunk: usize, now: Instant) -> Vec<Message> {
        let mut got = Vec::new();
        while !from.pending_write().is_empty() {
            pump(from, to, chunk, usize::MAX, now);
            // Decode everything before reading again, as drivers must.
            while let Some(m) = to.poll_message() {
                got.push(m);
            }
        }
        got
    }

    fn text(s: &str) -> Message {
        Message::Text(s.into())
    }

    #[test]
    fn echoes_messages_of_every_size_through_small_buffers() {
        for (read_buf, chunk) in [(7, 3), (64, 1000), (1 << 16, 1 << 20)] {
            let config = SessionConfig::default().with_read_buffer_size(read_buf);
            let (mut c, mut s) = pair(config);
            let sizes = [0usize, 1, 125, 126, 65535, 65536, 200_000];
            let sent: Vec<Message> = sizes
                .iter()
                .map(|&n| Message::Binary((0..n).map(|i| i as u8).collect()))
                .chain([text("héllo wörld")])
                .collect();
            for m in &sent {
                c.send_message(m, t(0)).unwrap();
            }
            assert_eq!(deliver(&mut c, &mut s, chunk, t(1)), sent);
            for m in &sent {
                s.send_message(m, t(1)).unwrap();
            }
            assert_eq!(deliver(&mut s, &mut c, chunk, t(2)), sent);
        }
    }

    #[test]
    fn decodes_every_buffered_frame_before_asking_for_more_input() {
        let (mut c, mut s) = pair(SessionConfig::default());
        for i in 0..10 {
            c.send(Frame::Text(&std::format!("m{i}"))).unwrap();
        }
        // One write carries all ten frames, and one read takes them in.
        let wire_len = c.pending_write().len();
        assert_eq!(pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0)), wire_len);
        for i in 0..10 {
            assert!(s.has_ready_input());
            assert_eq!(s.poll_message(), Some(text(&std::format!("m{i}"))));
            // Replies queue while more input is ready, and are flushed after the last.
            s.send(Frame::Text("ack")).unwrap();
            assert_eq!(s.should_flush(), i == 9, "after message {i}");
        }
        assert!(!s.has_ready_input());
        assert_eq!(s.poll_message(), None);
        assert_eq!(deliver(&mut s, &mut c, usize::MAX, t(1)).len(), 10);
    }

    #[test]
    fn a_partial_frame_is_not_ready_input() {
        let (mut c, mut s) = pair(SessionConfig::default());
        c.send(Frame::Text("one")).unwrap();
        c.send(Frame::Binary(&[0; 300])).unwrap();
        let first = c.connection().frame_len(3);
        pump(&mut c, &mut s, usize::MAX, first + 5, t(0));
        assert!(s.has_ready_input(), "unpolled input may hold a frame");
        assert_eq!(s.poll_message(), Some(text("one")));
        assert_eq!(s.buffered_input(), 5);
        assert!(!s.has_ready_input(), "5 bytes of a 308-byte frame");
        s.send(Frame::Text("reply")).unwrap();
        assert!(s.should_flush(), "nothing more to do right now: flush");
        assert_eq!(s.poll_message(), None);
        assert_eq!(deliver(&mut c, &mut s, usize::MAX, t(1)).len(), 1);
    }

    #[test]
    fn high_water_mark_asks_for_a_flush_even_mid_batch() {
        let config = SessionConfig::default().with_write_high_water(1000);
        let (mut c, mut s) = pair(config);
        for _ in 0..3 {
            c.send(Frame::Text("x")).unwrap();
        }
        pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
        assert!(s.poll_message().is_some());
        assert!(s.has_ready_input());
        s.send(Frame::Binary(&[0; 600])).unwrap();
        assert!(!s.is_write_full() && !s.should_flush());
        s.send(Frame::Binary(&[0; 600])).unwrap();
        assert!(s.is_write_full() && s.should_flush());
        let pending = s.pending_write().len();
        s.written(pending);
        assert!(!s.is_write_full() && !s.should_flush());
    }

    #[test]
    fn pongs_and_close_replies_are_queued_as_frames_are_decoded() {
        let (mut c, mut s) = pair(SessionConfig::default());
        c.send(Frame::Ping(b"1")).unwrap();
        c.send(Frame::Ping(b"2")).unwrap();
        c.send(Frame::Text("after")).unwrap();
        pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
        assert_eq!(s.poll_message(), Some(text("after")));
        // Each ping got its pong (none was coalesced), in order.
        let mut events = Vec::new();
        pump(&mut s, &mut c, usize::MAX, usize::MAX, t(1));
        while let Some(ev) = c.poll_event() {
            events.push(std::format!("{ev:?}"));
        }
        assert_eq!(events.len(), 2);
        assert!(events[0].starts_with("Pong") && events[0].contains("[49]"));
        assert!(events[1].starts_with("Pong") && events[1].contains("[50]"));
    }

    #[test]
    fn control_frames_go_out_ahead_of_later_data() {
        let (mut c, mut s) = pair(SessionConfig::default());
        c.send(Frame::Ping(b"p")).unwrap();
        pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
        assert_eq!(s.poll_message(), None);
        s.send(Frame::Text("data")).unwrap();
        assert_eq!(s.pending_write()[0], 0x8A, "the Pong comes first");
    }

    #[test]
    fn a_pong_owed_is_urgent_until_written() {
        let (mut c, mut s) = pair(SessionConfig::default());
        c.send(Frame::Text("before")).unwrap();
        c.send(Frame::Ping(b"p")).unwrap();
        c.send(Frame::Text("after")).unwrap();
        pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
        assert!(!s.has_urgent_write());
        s.send(Frame::Text("reply")).unwrap();
        assert!(!s.has_urgent_write(), "data alone waits for the batch");
        assert_eq!(s.poll_message(), Some(text("before")));
        // Decoding past the ping queued the pong: it must not wait for the application.
        assert_eq!(s.poll_message(), Some(text("after")));
        assert!(s.has_urgent_write());
        let n = s.pending_write().len();
        s.written(n - 1);
        assert!(
            s.has_urgent_write(),
            "one byte of the pong is still unwritten"
        );
        s.written(1);
        assert!(!s.has_urgent_write());
    }

    /// Runs the closing handshake to the end: both sides exchange bytes, and the client gets
    /// EOF once the server closed its transport.
    fn finish_close(c: &mut Session, s: &mut Session, now: Instant) -> (Closure, Closure) {
        for _ in 0..4 {
            deliver(c, s, usize::MAX, now);
            deliver(s, c, usize::MAX, now);
        }
        let server = s
            .closure()
            .expect("the server is closed after the handshake");
        assert!(s.pending_write().is_empty());
        c.handle_eof(now);
        (c.closure().expect("EOF ends the client"), server)
    }

    #[test]
    fn close_from_either_side_is_clean_with_the_right_initiator() {
        for client_initiates in [true, false] {
            let (mut c, mut s) = pair(SessionConfig::default());
            let (closer, code) = if client_initiates {
                (&mut c, CloseCode::GOING_AWAY)
            } else {
                (&mut s, CloseCode::new(4000))
            };
            closer.close(code, "bye", t(5)).unwrap();
            assert_eq!(closer.send(Frame::Text("late")), Err(SendError::Closing));
            let (cc, sc) = finish_close(&mut c, &mut s, t(6));
            let (ci, si) = if client_initiates {
                (Initiator::Local, Initiator::Peer)
            } else {
                (Initiator::Peer, Initiator::Local)
            };
            for (closure, initiator) in [(cc, ci), (sc, si)] {
                match closure.kind() {
                    ClosureKind::Clean { initiator: i, .. } => assert_eq!(*i, initiator),
                    other => panic!("{other:?}"),
                }
                assert_eq!(closure.code(), code);
            }
        }
    }

    #[test]
    fn messages_before_eof_come_before_the_closure() {
        let (mut c, mut s) = pair(SessionConfig::default());
        c.send(Frame::Text("a")).unwrap();
        c.send(Frame::Text("b")).unwrap();
        c.send(Frame::Binary(&[7; 1000])).unwrap();
        let full = c.connection().frame_len(1) * 2;
        // The whole of a and b, and 100 bytes of the third frame, then EOF.
        pump(&mut c, &mut s, usize::MAX, full + 100, t(0));
        s.handle_eof(t(3));
        assert_eq!(s.closure(), None, "input is still buffered");
        assert_eq!(s.poll_message(), Some(text("a")));
        assert_eq!(s.poll_message(), Some(text("b")));
        assert_eq!(s.closure(), None);
        assert_eq!(s.poll_message(), None);
        let closure = s.closure().expect("closed once drained");
        assert_eq!(closure.code(), CloseCode::ABNORMAL);
        assert_eq!(
            *closure.kind(),
            ClosureKind::Abnormal {
                cause: AbnormalCause::Eof,
                phase: Phase::FramePayload {
                    opcode: OpCode::Binary,
                    received: 100 - 4 - 4,
                    expected: 1000,
                },
            }
        );
        // Nothing more, and nothing can be sent.
        assert_eq!(s.poll_message(), None);
        assert_eq!(s.send(Frame::Text("x")), Err(SendError::Closing));
    }

    #[test]
    fn transport_error_is_an_abnormal_closure() {
        let (_, mut s) = pair(SessionConfig::default());
        s.handle_transport_error(TransportError::ConnectionReset, t(1));
        assert_eq!(
            *s.closure().unwrap().kind(),
            ClosureKind::Abnormal {
                cause: AbnormalCause::Transport(TransportError::ConnectionReset),
                phase: Phase::BeforeFirstFrame,
            }
        );
        // Later ends are ignored.
        s.handle_eof(t(2));
        assert!(matches!(
            s.closure().unwrap().kind(),
            ClosureKind::Abnormal {
                cause: AbnormalCause::Transport(_),
                ..
            }
        ));
    }

    #[test]
    fn keepalive_pings_then_times_out() {
        let ka = Keepalive {
            interval: core::time::Duration::from_millis(200),
            timeout: core::time::Duration::from_millis(100),
        };
        let conn = Connection::server(Config::default().with_keepalive(Some(ka)), t(0));
        let mut s = Session::new(conn, SessionConfig::default());
        assert_eq!(s.poll_timeout(), Some(t(200)));
        s.handle_timeout(t(200));
        assert_eq!(s.pending_write()[0], 0x89, "a Ping is queued");
        assert!(s.should_flush());
        assert_eq!(s.poll_timeout(), Some(t(300)));
        s.handle_timeout(t(300));
        let closure = s.closure().unwrap();
        assert!(matches!(
            closure.kind(),
            ClosureKind::Abnormal {
                cause: AbnormalCause::KeepaliveTimeout,
                ..
            }
        ));
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn close_timeout_against_a_silent_peer() {
        let (_, mut s) = pair(SessionConfig::default());
        s.close(CloseCode::NORMAL, "", t(10)).unwrap();
        assert_eq!(s.pending_write()[0], 0x88);
        let deadline = s.poll_timeout().unwrap();
        assert_eq!(deadline, t(10) + Config::default().close_timeout);
        s.handle_timeout(deadline);
        assert!(matches!(
            s.closure().unwrap().kind(),
            ClosureKind::Abnormal {
                cause: AbnormalCause::CloseTimeout,
                phase: Phase::AfterCloseSent,
            }
        ));
    }

    #[test]
    fn chunk_level_events_borrow_the_read_buffer() {
        let config = SessionConfig::default().with_read_buffer_size(1000);
        let (mut c, mut s) = pair(config);
        let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        c.send_fragment(MessageKind::Binary, &big[..4000], false)
            .unwrap();
        c.send(Frame::Ping(b"mid")).unwrap();
        c.send_fragment(MessageKind::Binary, &big[4000..], true)
            .unwrap();
        let mut got = Vec::new();
        let mut pings = 0;
        let mut chunks = 0;
        let mut last = false;
        while !c.pending_write().is_empty() {
            pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
            while let Some(ev) = s.poll_event() {
                match ev {
                    Event::Data(chunk) => {
                        assert!(chunk.payload.len() <= 1000);
                        assert_eq!(chunk.first, got.is_empty());
                        got.extend_from_slice(chunk.payload);
                        last = chunk.last;
                        chunks += 1;
                    }
                    Event::Ping(p) => {
                        assert_eq!(&p[..], b"mid");
                        pings += 1;
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        assert!(last && chunks >= 10);
        assert_eq!(pings, 1);
        assert_eq!(got, big);
    }

    #[test]
    fn handshake_leftovers_are_decoded_first() {
        let (mut c, mut s) = pair(SessionConfig::default().with_read_buffer_size(8));
        c.send(Frame::Text("leftover message")).unwrap();
        let wire = c.pending_write().to_vec();
        // Larger than the read buffer: the buffer grows rather than lose bytes.
        s.push_received(&wire, t(0));
        assert_eq!(s.poll_message(), Some(text("leftover message")));
        assert_eq!(s.poll_message(), None);
        assert_eq!(s.read_space().len(), wire.len());
    }

    #[test]
    fn protocol_violation_fails_with_its_code_and_drops_the_partial_message() {
        let (mut c, mut s) = pair(SessionConfig::default());
        c.send_fragment(MessageKind::Text, b"fine ", false).unwrap();
        // Invalid UTF-8 in the second fragment, sent as binary bytes of a text message is
        // refused by the encoder, so forge it: a continuation whose payload is 0xFF.
        let mut wire = c.pending_write().to_vec();
        let n = wire.len();
        c.written(n);
        wire.extend_from_slice(&[0x80, 0x81, 0, 0, 0, 0, 0xFF]);
        s.push_received(&wire, t(0));
        assert_eq!(s.poll_message(), None);
        assert_eq!(s.pending_write()[0], 0x88, "our Close goes out");
        assert_eq!(
            u16::from_be_bytes([s.pending_write()[2], s.pending_write()[3]]),
            1007
        );
        assert_eq!(s.assembler.pending(), 0);
        let (_, sc) = finish_close(&mut c, &mut s, t(1));
        assert!(matches!(
            sc.kind(),
            ClosureKind::Failed {
                end: FailureEnd::Acknowledged,
                ..
            }
        ));
        assert_eq!(sc.code().as_u16(), 1007);
    }

    #[test]
    fn write_buffer_never_holds_much_more_than_pending() {
        let (mut c, _) = pair(SessionConfig::default().with_write_high_water(4096));
        for _ in 0..1000 {
            c.send(Frame::Binary(&[1; 100])).unwrap();
            let half = c.pending_write().len() / 2 + 1;
            c.written(half);
            assert!(c.core.wbuf.len() <= 2 * c.pending_write().len() + 200);
        }
        c.send(Frame::Binary(&vec![0; 1 << 20])).unwrap();
        let n = c.pending_write().len();
        c.written(n);
        assert!(c.core.wbuf.capacity() <= 2 * 64 * 1024);
    }

    #[test]
    fn send_message_close_starts_the_handshake() {
        let (mut c, mut s) = pair(SessionConfig::default());
        let frame = crate::CloseFrame::new(CloseCode::new(3001), "done").unwrap();
        c.send_message(&Message::Close(frame), t(0)).unwrap();
        assert!(!c.is_open());
        let (cc, _) = finish_close(&mut c, &mut s, t(1));
        assert_eq!(cc.code().as_u16(), 3001);
        assert_eq!(s.closure().unwrap().reason(), "done");
    }

    #[test]
    fn has_event_decodes_ahead_and_keeps_the_event_for_poll_event() {
        let (mut c, mut s) = pair(SessionConfig::default());
        c.send(Frame::Text("abc")).unwrap();
        c.send(Frame::Ping(b"p")).unwrap();
        pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
        assert!(s.has_event());
        assert!(s.has_event(), "asking twice decodes nothing more");
        assert!(s.has_ready_input());
        // A read here would not move the stashed payload.
        assert!(!s.read_space().is_empty());
        s.handle_eof(t(1));
        match s.poll_event() {
            Some(Event::Data(chunk)) => assert_eq!(chunk.payload, b"abc"),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.closure(), None, "the ping is still buffered");
        assert!(matches!(s.poll_event(), Some(Event::Ping(_))));
        assert_eq!(s.closure(), None);
        assert!(!s.has_event());
        assert!(matches!(
            s.closure().unwrap().kind(),
            ClosureKind::Abnormal {
                cause: AbnormalCause::Eof,
                phase: Phase::FrameBoundary,
            }
        ));
        assert!(s.poll_event().is_none());
    }

    #[test]
    fn nothing_can_be_sent_once_the_transport_ended() {
        let (mut c, mut s) = pair(SessionConfig::default());
        c.send(Frame::Text("unread")).unwrap();
        pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
        s.handle_transport_error(TransportError::BrokenPipe, t(1));
        assert!(!s.is_open());
        assert_eq!(s.send(Frame::Text("x")), Err(SendError::Closing));
        assert_eq!(s.poll_timeout(), None);
        assert_eq!(s.poll_message(), Some(text("unread")));
        assert_eq!(s.poll_message(), None);
        assert!(s.closure().unwrap().is_abnormal());
    }

    #[test]
    fn a_malformed_close_from_the_peer_ends_the_connection_once_our_close_is_sent() {
        // A client Close with code 1005, which may not be sent (masking key 0: plain payload).
        let (_, mut s) = pair(SessionConfig::default());
        s.push_received(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xED], t(0));
        assert_eq!(s.poll_message(), None);
        let wire = s.pending_write();
        assert_eq!(
            wire[..4],
            [0x88, wire[1], 0x03, 0xEA],
            "our Close says 1002"
        );
        // The peer sent its Close already and will send no other: the server is done, and
        // closes the transport right after writing its Close.
        let closure = s.closure().expect("over once our Close is handed out");
        assert!(matches!(
            closure.kind(),
            ClosureKind::Failed {
                error: crate::ProtocolError::InvalidCloseCode(1005),
                end: FailureEnd::PeerCloseInvalid,
                ..
            }
        ));
        assert_eq!(closure.code().as_u16(), 1002);
    }

    #[test]
    fn at_the_end_only_what_the_peer_waits_for_stays_pending_within_the_linger_deadline() {
        // Failed, framing lost: our Close stays pending for the driver to write, bounded.
        let (_, mut s) = pair(SessionConfig::default());
        let mut wire = std::vec![0x82, 0xFF];
        wire.extend_from_slice(&(1u64 << 40).to_be_bytes());
        wire.extend_from_slice(&[0; 4]);
        s.push_received(&wire, t(0));
        assert_eq!(s.poll_message(), None);
        assert!(matches!(
            s.closure().map(|c| *c.kind()),
            Some(ClosureKind::Failed {
                end: FailureEnd::FramingLost,
                ..
            })
        ));
        assert_eq!(
            s.pending_write()[..4],
            [0x88, 0x11, 0x03, 0xF1],
            "1009, \"frame too large\""
        );
        let linger = s.poll_timeout().expect("a deadline for the final write");
        assert_eq!(linger, t(0) + s.connection().config().close_timeout);
        s.handle_timeout(t(1));
        assert!(!s.pending_write().is_empty(), "not yet");
        s.handle_timeout(linger);
        assert!(s.pending_write().is_empty(), "dropped at the deadline");
        assert_eq!(s.poll_timeout(), None);

        // Abnormal (the transport ended): nobody reads, so nothing stays pending.
        let (_, mut s) = pair(SessionConfig::default());
        s.send(Frame::Text("never written")).unwrap();
        s.handle_eof(t(1));
        assert!(s.closure().unwrap().is_abnormal());
        assert!(s.pending_write().is_empty());
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn an_idle_session_gives_its_buffers_back_and_takes_one_again() {
        let (mut c, mut s) = pair(SessionConfig::default().with_read_buffer_size(4096));
        assert!(s.needs_read_buffer(), "nothing read yet, nothing held");
        c.send(Frame::Text("hello")).unwrap();
        // Half a frame: the partial frame pins the read buffer.
        let wire = c.pending_write().to_vec();
        c.written(wire.len());
        s.read_space()[..3].copy_from_slice(&wire[..3]);
        s.received(3, t(0));
        assert_eq!(s.poll_message(), None);
        // The engine took the partial header into its own state: the buffer is free.
        let buf = s.release_idle_buffers().expect("every byte was decoded");
        assert_eq!(buf.len(), 4096);
        assert!(s.needs_read_buffer());
        // A pooled buffer (dirty contents do not matter) serves the rest of the frame.
        s.provide_read_buffer(std::vec![0xAA; 4096]);
        let rest = &wire[3..];
        s.read_space()[..rest.len()].copy_from_slice(rest);
        s.received(rest.len(), t(1));
        assert_eq!(s.poll_message(), Some(text("hello")));
        // A buffered, undecoded byte keeps the buffer; a pending write keeps the write buffer.
        s.send(Frame::Text("reply")).unwrap();
        s.read_space()[0] = 0x81;
        s.received(1, t(2));
        assert_eq!(s.release_idle_buffers(), None);
        assert!(!s.pending_write().is_empty());
    }

    #[test]
    fn a_close_frame_too_long_is_still_the_peers_close() {
        // A client Close with 126 bytes of payload (§5.5 allows 125), masking key 0.
        let (_, mut s) = pair(SessionConfig::default());
        let mut wire = std::vec![0x88, 0xFE, 0, 126, 0, 0, 0, 0, 0x03, 0xE8];
        wire.extend_from_slice(&[b'*'; 124]);
        s.push_received(&wire, t(0));
        assert_eq!(s.poll_message(), None);
        assert_eq!(
            s.pending_write()[..4],
            [0x88, s.pending_write()[1], 0x03, 0xEA]
        );
        let closure = s.closure().expect("over once our Close is handed out");
        assert!(matches!(
            closure.kind(),
            ClosureKind::Failed {
                error: crate::ProtocolError::ControlFrameTooLong,
                end: FailureEnd::PeerCloseInvalid,
                ..
            }
        ));
    }

    proptest! {
        /// The same messages come out whatever the read buffer size and the read chunking.
        #[test]
        fn messages_survive_any_chunking(
            sizes in prop::collection::vec(0usize..3000, 1..12),
            read_buf in 1usize..600,
            chunk in 1usize..900,
        ) {
            let (mut c, mut s) = pair(SessionConfig::default().with_read_buffer_size(read_buf));
            let sent: Vec<Message> = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| if i % 2 == 0 {
                    Message::Binary(vec![i as u8; n])
                } else {
                    Message::Text(String::from("é").repeat(n / 2))
                })
                .collect();
            for m in &sent {
                c.send_message(m, t(0)).unwrap();
                c.send(Frame::Ping(b"x")).unwrap();
            }
            prop_assert_eq!(deliver(&mut c, &mut s, chunk, t(1)), sent);
        }
    }
}
