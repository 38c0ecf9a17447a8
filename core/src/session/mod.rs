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
//! Writing: [`send`](Session::send) and friends encode into the write buffer;
//! [`send_owned`](Session::send_owned) queues a large message's payload from its own buffer
//! behind its header instead of copying it, so pending output may come in two parts
//! ([`pending_write_parts`](Session::pending_write_parts), for a vectored write). Write it out
//! when [`should_flush`](Session::should_flush) says so, which is the batching rule:
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

use crate::close::{CloseCode, Closure, ClosureKind, FailureEnd, TransportError};
use crate::connection::{Connection, ConnectionState, DataChunk, Event, Frame, MessageKind};
use crate::error::SendError;
use crate::frame::{Decoded, FrameHeader, MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN};
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

/// From this length, [`Session::send_owned`] writes a payload from the message's own buffer
/// rather than copying it into the write buffer (below it, the copy costs less than a second
/// write).
const OWNED_SEND_MIN: usize = 16 * 1024;

/// The most a message's frame header makes [`Session::poll_message`] reserve before its
/// payload arrives; a larger message grows from there.
const RESERVE_CAP: u64 = 4 << 20;

#[cfg(feature = "deflate")]
mod deflate;
#[cfg(all(test, feature = "deflate"))]
mod deflate_tests;
mod output;
mod stash;

use output::{Core, TransportEnd};
use stash::Stashed;

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
    /// permessage-deflate, when the opening handshake agreed on it.
    #[cfg(feature = "deflate")]
    deflate: Option<alloc::boxed::Box<deflate::Deflate>>,
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
                tail: Vec::new(),
                tpos: 0,
                urgent_end: 0,
                high_water: config.write_high_water,
                pending_end: None,
                over: false,
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
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }

    /// Runs permessage-deflate (RFC 7692) on this session, with the state for the parameters
    /// the opening handshake agreed on (feature `deflate`): the engine then accepts RSV1 on a
    /// message's first frame, compressed messages are inflated before they are returned, and
    /// messages sent are compressed (see [`send_uncompressed`](Self::send_uncompressed)).
    ///
    /// ```
    /// use sockeye_core::deflate::{DeflateSettings, PerMessageDeflate};
    /// use sockeye_core::handshake::deflate::{negotiate, DeflateConfig};
    /// use sockeye_core::session::{Session, SessionConfig};
    /// use sockeye_core::{Config, Connection, Instant, Role};
    ///
    /// let offers = ["permessage-deflate; client_max_window_bits"];
    /// let accepted = negotiate(offers.into_iter(), &DeflateConfig::default()).unwrap();
    /// let connection = Connection::server(Config::default(), Instant::ZERO);
    /// let session = Session::new(connection, SessionConfig::default()).with_deflate(
    ///     PerMessageDeflate::new(accepted.params(), Role::Server, DeflateSettings::default()),
    /// );
    /// assert!(session.deflate().is_some());
    /// ```
    #[cfg(feature = "deflate")]
    pub fn with_deflate(mut self, deflate: crate::deflate::PerMessageDeflate) -> Session {
        self.core.conn.allow_extension_rsv(crate::frame::RSV1);
        self.deflate = Some(alloc::boxed::Box::new(deflate::Deflate::new(deflate)));
        self
    }

    /// The permessage-deflate state, if the extension is in use (feature `deflate`).
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<&crate::deflate::PerMessageDeflate> {
        self.deflate.as_ref().map(|d| &d.pmd)
    }

    /// The bytes an inflated event borrows (empty without permessage-deflate).
    fn inflated(&self) -> &[u8] {
        #[cfg(feature = "deflate")]
        if let Some(d) = &self.deflate {
            return &d.out;
        }
        &[]
    }

    /// Whether a compressed chunk is still being inflated (its input stays in the read buffer).
    fn inflating(&self) -> bool {
        #[cfg(feature = "deflate")]
        return self.deflate.as_ref().is_some_and(|d| d.pending.is_some());
        #[cfg(not(feature = "deflate"))]
        false
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
        if self.stash.is_some() || self.inflating() {
            // The stashed event's payload (or the compressed input being inflated) lies
            // before `rstart`: move nothing.
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
        if self.core.pending_len() == 0 {
            self.core.wbuf = Vec::new();
            self.core.wpos = 0;
            self.core.urgent_end = 0;
        }
        #[cfg(feature = "deflate")]
        if let Some(d) = &mut self.deflate {
            d.release_buffers();
        }
        if self.rbuf.is_empty()
            || self.rstart != self.rend
            || self.stash.is_some()
            || self.inflating()
        {
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
        if self.stash.is_some() || self.inflating() {
            return true;
        }
        if self.core.over || self.rstart == self.rend {
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
                if at.first && !at.last && !at.inflated {
                    // A message larger than what one read brought: reserve it from its frame
                    // header (up to a cap, so that a header alone cannot claim much memory).
                    let rest = self.core.conn.incoming_frame_remaining().min(RESERVE_CAP);
                    self.assembler.reserve(at.end - at.start + rest as usize);
                }
                let inflated = {
                    #[cfg(feature = "deflate")]
                    {
                        self.deflate.as_ref().map_or(&[][..], |d| &d.out[..])
                    }
                    #[cfg(not(feature = "deflate"))]
                    {
                        &[][..]
                    }
                };
                let message = self.assembler.push_chunk(at.chunk(&self.rbuf, inflated));
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
        Some(next.event(&self.rbuf, self.inflated(), &self.core.conn))
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
    // The loop only loops for a compressed chunk that inflated to nothing yet.
    #[cfg_attr(not(feature = "deflate"), allow(clippy::never_loop))]
    fn decode(&mut self) -> Option<Stashed> {
        #[cfg(feature = "deflate")]
        if self.inflating() {
            if let Some(next) = self.inflate_next() {
                return Some(next);
            }
        }
        loop {
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
            #[cfg(feature = "deflate")]
            if let Some(Stashed::Data(at)) = next {
                if at.rsv & crate::frame::RSV1 != 0 && self.deflate.is_some() {
                    // Compressed: what the application gets is the inflated bytes. A chunk
                    // may yield nothing yet; then decode on.
                    match self.start_inflating(at) {
                        Some(inflated) => return Some(inflated),
                        None => continue,
                    }
                }
            }
            if next.is_none() {
                // No event means every byte was consumed.
                self.core.drained();
            }
            return next;
        }
    }

    // ------------------------------------------------------------------ sending

    /// Encodes a complete message or a Ping/Pong into the write buffer.
    ///
    /// Fails, queuing nothing, with [`SendError::Closing`] once the closing handshake started,
    /// or for the reasons [`Connection::encode`] gives.
    ///
    /// With permessage-deflate, a text or binary message of at least
    /// [`DeflateSettings::min_size`](crate::deflate::DeflateSettings::min_size) bytes is
    /// compressed.
    pub fn send(&mut self, frame: Frame<'_>) -> Result<(), SendError> {
        #[cfg(feature = "deflate")]
        if let (Frame::Text(_) | Frame::Binary(_), Some(d)) = (frame, &self.deflate) {
            let (kind, plain) = match frame {
                Frame::Text(s) => (MessageKind::Text, s.as_bytes()),
                Frame::Binary(b) | Frame::Ping(b) | Frame::Pong(b) => (MessageKind::Binary, b),
            };
            if d.pmd.compresses(plain.len()) {
                return self.send_compressed(kind, plain, true);
            }
        }
        self.send_uncompressed(frame)
    }

    /// Encodes a complete message or a Ping/Pong like [`send`](Self::send), never compressed:
    /// for a message that mixes secrets with data an attacker controls, whose compressed
    /// length would leak the secret (CRIME-style; RFC 7692 §10 allows any message to go out
    /// uncompressed). Without permessage-deflate, the same as `send`.
    pub fn send_uncompressed(&mut self, frame: Frame<'_>) -> Result<(), SendError> {
        let len = match frame {
            Frame::Text(s) => s.len(),
            Frame::Binary(b) | Frame::Ping(b) | Frame::Pong(b) => b.len(),
        };
        self.core.encode(len, |conn, out| conn.encode(frame, out))
    }

    /// Like [`send_message`](Self::send_message), taking the message: a large text or binary
    /// payload (from 16 KiB) is then written from the message's own buffer instead of being
    /// copied into the write buffer (a client masks it in place), so that echoing a message
    /// just received copies it no more. With permessage-deflate, a message to be compressed
    /// goes the usual way.
    ///
    /// `now` is called only for a [`Message::Close`] (its close timer starts then): a driver
    /// reads no clock to send data.
    pub fn send_owned(
        &mut self,
        message: Message,
        now: impl FnOnce() -> Instant,
    ) -> Result<(), SendError> {
        let (kind, owned) = match message {
            Message::Text(s) if s.len() >= OWNED_SEND_MIN => (MessageKind::Text, s.into_bytes()),
            Message::Binary(b) if b.len() >= OWNED_SEND_MIN => (MessageKind::Binary, b),
            other => return self.send_any(&other, now),
        };
        #[cfg(feature = "deflate")]
        if let Some(d) = &self.deflate {
            if d.pmd.compresses(owned.len()) {
                return self.send_compressed(kind, &owned, true);
            }
        }
        self.core.encode_owned(kind, owned)
    }

    /// Encodes a [`Message`]: text, binary, ping and pong like [`send`](Self::send); a
    /// [`Message::Close`] starts the closing handshake like [`close`](Self::close) with its
    /// code and reason (1000 if it has no code, which cannot be sent) at `now`.
    pub fn send_message(&mut self, message: &Message, now: Instant) -> Result<(), SendError> {
        self.send_any(message, || now)
    }

    /// [`send_message`](Self::send_message), asking for the time only for a Close.
    fn send_any(
        &mut self,
        message: &Message,
        now: impl FnOnce() -> Instant,
    ) -> Result<(), SendError> {
        match message {
            Message::Text(s) => self.send(Frame::Text(s)),
            Message::Binary(b) => self.send(Frame::Binary(b)),
            Message::Ping(p) => self.send(Frame::Ping(p)),
            Message::Pong(p) => self.send(Frame::Pong(p)),
            Message::Close(frame) => self.close(
                frame.code().unwrap_or(CloseCode::NORMAL),
                frame.reason(),
                now(),
            ),
        }
    }

    /// Encodes one fragment of a message (§5.4), like [`Connection::encode_fragment`]: the
    /// first call starts a `kind` message, the call with `fin` ends it.
    ///
    /// With permessage-deflate, each fragment is compressed as it is sent (a sync flush per
    /// fragment, so the peer can inflate it on arrival).
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), SendError> {
        #[cfg(feature = "deflate")]
        if self.deflate.is_some() {
            return self.send_compressed(kind, payload, fin);
        }
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

    /// Encoded bytes waiting to be written to the transport: the first of at most two
    /// contiguous parts (see [`pending_write_parts`](Self::pending_write_parts)), empty when
    /// nothing is pending. Write it, report with [`written`](Self::written), ask again.
    pub fn pending_write(&self) -> &[u8] {
        let (first, second) = self.pending_write_parts();
        if first.is_empty() {
            second
        } else {
            first
        }
    }

    /// Everything waiting to be written, in order, as two parts for a vectored write: the
    /// write buffer, then the payload of a large message sent with
    /// [`send_owned`](Self::send_owned) (often empty).
    pub fn pending_write_parts(&self) -> (&[u8], &[u8]) {
        let core = &self.core;
        (&core.wbuf[core.wpos..], &core.tail[core.tpos..])
    }

    /// Bytes waiting to be written, in both parts.
    pub fn pending_write_len(&self) -> usize {
        self.core.pending_len()
    }

    /// `n` bytes of what is pending were written, in order (from
    /// [`pending_write`](Self::pending_write) or a vectored write of
    /// [`pending_write_parts`](Self::pending_write_parts); capped at what is pending).
    pub fn written(&mut self, n: usize) {
        let core = &mut self.core;
        let in_buf = n.min(core.wbuf.len() - core.wpos);
        core.wpos += in_buf;
        core.tpos = core.tpos.saturating_add(n - in_buf).min(core.tail.len());
        if core.tpos == core.tail.len() && !core.tail.is_empty() {
            core.tail = Vec::new();
            core.tpos = 0;
        }
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
        let pending = self.pending_write_len();
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
        if self.core.over {
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
    /// the read buffer prove the peer alive only once the engine has seen them. Calling it
    /// before a deadline does nothing, so drivers may call it on every send.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.core.over {
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
        // The engine builds it again on demand: the session keeps no 150-byte copy.
        if self.core.over {
            self.core.conn.closure()
        } else {
            None
        }
    }

    /// Whether data can still be sent: no Close was sent or received, and the transport has
    /// not ended.
    pub fn is_open(&self) -> bool {
        self.core.is_open()
    }
}

#[cfg(test)]
mod tests;
