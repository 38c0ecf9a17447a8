//! [`WebSocket`]: a [`Connection`] driven over an `embedded-io-async` transport.
//!
//! The adapter only moves bytes and time. Every protocol decision — what a frame means, when
//! to answer a Ping, what to send in a Close, when a timer ends the connection, how it ended —
//! is the engine's.
//!
//! # Buffers
//!
//! Two caller-provided slices, sized for the application:
//!
//! - `rx` receives bytes from the transport. The engine unmasks payload in place and
//!   [`receive_event`](WebSocket::receive_event) hands out chunks that borrow it, so a message
//!   of any size can be read through a small buffer. [`receive`](WebSocket::receive) returns a
//!   message that arrived in one piece where it lies, and assembles a fragmented one in place
//!   at the start of `rx` (payload moved down over the frame headers), so it delivers messages
//!   of up to `rx.len()` bytes without a second buffer.
//! - `tx` holds frames on their way out: at least [`MIN_TX_BUFFER`] bytes, so that any control
//!   frame fits. A message larger than `tx` is sent as several fragments (§5.4).
//!
//! # Cancellation
//!
//! Progress lives in the `WebSocket`, not in its futures: dropping a `receive`,
//! `receive_event` or `close` future (for example in a `select` with other work) loses nothing,
//! provided the transport's `read` and `write` are cancel-safe, as embassy-net's `TcpSocket`'s
//! are. A cancelled `send_*` finishes writing its current frame at the start of the next
//! operation; if it was sending a message in several fragments, the rest of that message is
//! not sent and the next `send_*` of a new message fails with
//! [`SendError::MessageInProgress`](sockeye_core::SendError::MessageInProgress).
//!
//! # Timers
//!
//! The close timeout and keepalive run whenever one of the `WebSocket`'s futures is being
//! awaited (see [`Clock`]). To keep them running while the application waits for other things,
//! keep a [`receive`](WebSocket::receive) pending in a `select`.

use core::ops::Range;
use core::pin::pin;

use embedded_io_async::{Error as _, Read, Write};
use sockeye_core::frame::{MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN};
use sockeye_core::{
    CloseCode, Closure, Connection, ConnectionState, DataChunk, Event, Frame, MessageKind,
    TransportError,
};

use crate::clock::Clock;
use crate::error::{transport_error, Error};
use crate::timer::{race, Raced};

#[cfg(feature = "deflate")]
mod inflate;

/// The smallest `tx` buffer: one control frame (a masked header and 125 bytes of payload).
pub const MIN_TX_BUFFER: usize = MAX_CONTROL_FRAME_LEN;

/// A complete message, borrowed from the receive buffer until the next call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Message<'a> {
    /// A text message (validated as UTF-8 by the engine, §8.1).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

/// A complete message in fixed-capacity storage of `N` bytes that the caller owns
/// ([`heapless`] types, which firmware often keeps its data in already): the result of
/// [`WebSocket::receive_owned`]. Unlike [`Message`], it outlives the next call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedMessage<const N: usize> {
    /// A text message (validated as UTF-8 by the engine, §8.1).
    Text(heapless::String<N>),
    /// A binary message.
    Binary(heapless::Vec<u8, N>),
}

/// A WebSocket connection over an `embedded-io-async` transport `T` (e.g. embassy-net's
/// `TcpSocket`), with timers from the clock `C` and buffers borrowed for `'b`.
///
/// Get one from [`connect`](crate::connect) or [`accept`](crate::accept), or wrap a
/// [`Connection`] whose opening handshake was done elsewhere with [`WebSocket::new`].
///
/// Every connection ends with one [`Closure`]: once an operation returns [`Error::Closed`],
/// [`closure`](Self::closure) says how it ended, and the transport should be closed.
pub struct WebSocket<'b, T, C> {
    transport: T,
    clock: C,
    conn: &'b mut Connection,
    rx: &'b mut [u8],
    /// `rx[..msg_len]`: the fragmented message `receive` is assembling.
    msg_len: usize,
    /// `rx[rx_pos..rx_end]`: received bytes the engine has not consumed yet.
    rx_pos: usize,
    rx_end: usize,
    /// `receive` is skipping the rest of a message that did not fit.
    discarding: bool,
    tx: &'b mut [u8],
    /// `tx[tx_pos..tx_end]`: encoded bytes not yet written to the transport.
    tx_pos: usize,
    tx_end: usize,
    /// Something was written since the transport was last flushed.
    unflushed: bool,
    /// permessage-deflate, when the handshake agreed on it ([`with_inflater`](Self::with_inflater)).
    #[cfg(feature = "deflate")]
    inflate: Option<inflate::Receiving<'b>>,
}

impl<'b, T: Read + Write, C: Clock> WebSocket<'b, T, C> {
    /// Drives `conn` (a [`Connection`] after an opening handshake done by the caller) over
    /// `transport`. [`connect`](crate::connect) and [`accept`](crate::accept) do the
    /// handshake and call this.
    ///
    /// If bytes that followed the handshake were already read into `rx`, say where with
    /// [`with_received`](Self::with_received) so the engine sees them first.
    ///
    /// # Panics
    ///
    /// If `rx` is empty or `tx` is shorter than [`MIN_TX_BUFFER`].
    pub fn new(
        transport: T,
        clock: C,
        conn: &'b mut Connection,
        rx: &'b mut [u8],
        tx: &'b mut [u8],
    ) -> Self {
        assert!(!rx.is_empty() && tx.len() >= MIN_TX_BUFFER);
        WebSocket {
            transport,
            clock,
            conn,
            rx,
            msg_len: 0,
            rx_pos: 0,
            rx_end: 0,
            discarding: false,
            tx,
            tx_pos: 0,
            tx_end: 0,
            unflushed: false,
            #[cfg(feature = "deflate")]
            inflate: None,
        }
    }

    /// Declares that `rx[range]` holds bytes already received from the peer (what followed
    /// the handshake response in the same read); they are processed before anything else.
    /// A range outside `rx` is clamped to it.
    pub fn with_received(mut self, range: Range<usize>) -> Self {
        self.rx_end = range.end.min(self.rx.len());
        self.rx_pos = range.start.min(self.rx_end);
        self
    }

    /// The engine: state, round-trip time, the failure if any.
    pub fn connection(&self) -> &Connection {
        self.conn
    }

    /// How the connection ended — clean, failed with the code we sent, or abnormal (1006)
    /// with its cause and phase — once it has (after [`Error::Closed`]); `None` before.
    pub fn closure(&self) -> Option<Closure> {
        self.conn.closure()
    }

    /// The transport, e.g. to close a `TcpSocket` after the connection ended. Bytes not yet
    /// written are dropped.
    pub fn into_transport(self) -> T {
        self.transport
    }

    // ------------------------------------------------------------------ receiving

    /// Receives the next complete message.
    ///
    /// A message that arrived in one frame is returned where it lies in the receive buffer; a
    /// fragmented one is assembled at the start of it. Pings are answered and Pongs absorbed
    /// on the way. When the peer closes, the closing handshake is completed and the result is
    /// [`Error::Closed`]; a message larger than the receive buffer gives
    /// [`Error::MessageTooLarge`] (see there).
    pub async fn receive(&mut self) -> Result<Message<'_>, Error> {
        loop {
            let (chunk, range) = self.next::<Messages>().await?;
            #[cfg(feature = "deflate")]
            if chunk.rsv & sockeye_core::frame::RSV1 != 0 && self.inflate.is_some() {
                match self.assemble_inflated(&chunk, range) {
                    inflate::Assembled::Window(r) => {
                        return Ok(message(chunk.kind, self.inflated(r)))
                    }
                    inflate::Assembled::Message(r) => {
                        return Ok(message(chunk.kind, self.assembled(r)))
                    }
                    inflate::Assembled::NotYet => continue,
                }
            }
            if self.discarding {
                self.discarding = !chunk.last;
                continue;
            }
            let range = if chunk.first && chunk.last {
                range
            } else {
                move_down(self.rx, range.start, self.msg_len, range.len());
                self.msg_len += range.len();
                if !chunk.last {
                    continue;
                }
                0..core::mem::take(&mut self.msg_len)
            };
            let payload = &self.rx[range];
            return Ok(match chunk.kind {
                // The engine validated it (§8.1); the check only satisfies the type.
                MessageKind::Text => Message::Text(core::str::from_utf8(payload).unwrap_or("")),
                MessageKind::Binary => Message::Binary(payload),
            });
        }
    }

    /// Receives the next complete message into an [`OwnedMessage`] of at most `N` bytes,
    /// assembled chunk by chunk (so `N` may exceed the receive buffer). Pings are answered
    /// and Pongs absorbed on the way.
    ///
    /// A message longer than `N` closes the connection with 1009 (message too big, RFC 6455
    /// §7.4.1): the closing handshake is completed and the call returns [`Error::Closed`],
    /// with [`closure`](Self::closure) telling the code. To refuse such messages before a
    /// byte of them arrives, set [`Config::max_message_size`](sockeye_core::Config) to `N`:
    /// the engine then fails the connection with 1009 from the frame header.
    pub async fn receive_owned<const N: usize>(&mut self) -> Result<OwnedMessage<N>, Error> {
        let mut buf = heapless::Vec::<u8, N>::new();
        let mut kind = MessageKind::Binary;
        loop {
            let (fits, last) = match self.receive_event().await? {
                Event::Data(chunk) => {
                    if chunk.first {
                        buf.clear();
                        kind = chunk.kind;
                    }
                    (buf.extend_from_slice(chunk.payload).is_ok(), chunk.last)
                }
                _ => continue,
            };
            if !fits {
                self.close(CloseCode::MESSAGE_TOO_BIG, "message too big")
                    .await?;
                return Err(Error::Closed);
            }
            if last {
                return Ok(match kind {
                    // The engine validated it (§8.1); the check only satisfies the type.
                    MessageKind::Text => OwnedMessage::Text(
                        heapless::String::from_utf8(buf)
                            .unwrap_or_else(|_| heapless::String::new()),
                    ),
                    MessageKind::Binary => OwnedMessage::Binary(buf),
                });
            }
        }
    }

    /// Receives the next event as the engine reports it: a chunk of a data message (borrowing
    /// the receive buffer, so messages of any size can be streamed), a Ping (already answered),
    /// a Pong, or the peer's Close. Keep calling after a Close: the closing handshake completes
    /// and the call returns [`Error::Closed`].
    ///
    /// A message that [`receive`](Self::receive) was assembling is abandoned.
    pub async fn receive_event(&mut self) -> Result<Event<'_>, Error> {
        self.msg_len = 0;
        self.discarding = false;
        let (event, range) = self.next::<Events>().await?;
        Ok(match event {
            Event::Data(chunk) => Event::Data(DataChunk {
                payload: self.payload(chunk.rsv, range),
                ..chunk
            }),
            other => other,
        })
    }

    /// Runs the connection until the engine reports an event that `K` keeps; a data chunk's
    /// payload is given as its range in `rx`.
    async fn next<K: Keep>(&mut self) -> Result<(K::Out, Range<usize>), Error> {
        loop {
            self.transmit().await;
            self.check_open()?;
            if self.has_input() {
                if let Some(kept) = self.read_event::<K>() {
                    return Ok(kept);
                }
                continue;
            }
            // All input consumed: receive into the space after the message being assembled.
            self.rx_pos = self.msg_len;
            self.rx_end = self.msg_len;
            if self.msg_len == self.rx.len() {
                self.msg_len = 0;
                self.rx_pos = 0;
                self.rx_end = 0;
                self.discarding = true;
                return Err(Error::MessageTooLarge);
            }
            self.fill().await;
        }
    }

    /// Gives the engine the unconsumed input, returning the event if `K` keeps it.
    ///
    /// Not inlined, on purpose: the engine's event (up to 136 bytes, with a Close frame or a
    /// control payload inside) then lives in this short-lived frame rather than in the frame
    /// of the caller's whole async state machine, which stays on the stack while it waits.
    #[inline(never)]
    fn read_event<K: Keep>(&mut self) -> Option<(K::Out, Range<usize>)> {
        #[cfg(feature = "deflate")]
        if self.inflating() {
            return self.inflate_step::<K>();
        }
        let base = self.rx.as_ptr() as usize;
        let read = self
            .conn
            .read(&mut self.rx[self.rx_pos..self.rx_end], self.clock.now());
        self.rx_pos += read.consumed;
        // No event: every byte was consumed without completing one.
        let event = read.event?;
        let range = match &event {
            Event::Data(chunk) => {
                let start = chunk.payload.as_ptr() as usize - base;
                start..start + chunk.payload.len()
            }
            _ => 0..0,
        };
        #[cfg(feature = "deflate")]
        let event = match event {
            Event::Data(chunk) if chunk.rsv != 0 => {
                let chunk = DataChunk {
                    payload: &[],
                    ..chunk
                };
                match self.take_chunk::<K>(&chunk, range.clone()) {
                    Some(inflated) => return inflated,
                    None => Event::Data(chunk),
                }
            }
            other => other,
        };
        K::keep(event).map(|out| (out, range))
    }

    /// Received bytes the engine has not consumed yet, or (permessage-deflate) a compressed
    /// chunk still being inflated, whose input must stay where it is in `rx`.
    #[inline(always)]
    fn has_input(&self) -> bool {
        #[cfg(feature = "deflate")]
        if self.inflating() {
            return true;
        }
        self.rx_pos < self.rx_end
    }

    /// A data chunk's payload: in `rx`, or in the inflate window when it was compressed.
    #[inline(always)]
    fn payload(&self, _rsv: u8, range: Range<usize>) -> &[u8] {
        #[cfg(feature = "deflate")]
        if _rsv & sockeye_core::frame::RSV1 != 0 && self.inflate.is_some() {
            return self.inflated(range);
        }
        &self.rx[range]
    }

    /// Reads from the transport into `rx[rx_end..]`, running the timers meanwhile; the end of
    /// the transport goes to the engine.
    async fn fill(&mut self) {
        let WebSocket {
            transport,
            clock,
            conn,
            rx,
            rx_end,
            ..
        } = self;
        let read = pin!(transport.read(&mut rx[*rx_end..]));
        match race(conn, clock, read, true).await {
            Raced::Done(Ok(0)) => conn.handle_eof(clock.now()),
            Raced::Done(Ok(n)) => *rx_end += n,
            Raced::Done(Err(e)) => {
                conn.handle_transport_error(transport_error(e.kind()), clock.now())
            }
            Raced::Timer => {}
        }
    }

    // ------------------------------------------------------------------ sending

    /// Sends a text message. Larger than the `tx` buffer, it goes out in several fragments.
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send_data(MessageKind::Text, text.as_bytes(), true)
            .await
    }

    /// Sends a binary message. Larger than the `tx` buffer, it goes out in several fragments.
    pub async fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send_data(MessageKind::Binary, data, true).await
    }

    /// Sends one piece of a message whose whole is not in memory at once (§5.4): the first call
    /// starts a `kind` message, the call with `last` ends it. For text, the pieces together
    /// must be valid UTF-8 (a code point may be split between them). Pings, Pongs and Close may
    /// be sent between pieces; other messages may not.
    pub async fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
    ) -> Result<(), Error> {
        self.send_data(kind, data, last).await
    }

    /// Sends a Ping with up to 125 bytes of payload; the Pong comes back as an
    /// [`Event::Pong`] from [`receive_event`](Self::receive_event).
    pub async fn send_ping(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send_frame(Frame::Ping(data)).await
    }

    /// Sends an unsolicited Pong (a one-way heartbeat, §5.5.3) with up to 125 bytes of payload.
    pub async fn send_pong(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send_frame(Frame::Pong(data)).await
    }

    async fn send_frame(&mut self, frame: Frame<'_>) -> Result<(), Error> {
        self.ready_to_send().await?;
        self.tx_end = self.conn.encode(frame, self.tx)?;
        self.transmit().await;
        self.check_open()
    }

    /// Sends `data` as frames that fit `tx`, the last with FIN if `fin`.
    async fn send_data(&mut self, kind: MessageKind, data: &[u8], fin: bool) -> Result<(), Error> {
        // The largest payload that fits `tx` with the largest header.
        let max = self.tx.len() - MAX_HEADER_LEN;
        let mut rest = data;
        loop {
            let (piece, after) = rest.split_at(rest.len().min(max));
            let last = after.is_empty();
            self.ready_to_send().await?;
            self.tx_end = self
                .conn
                .encode_fragment(kind, piece, fin && last, self.tx)?;
            self.transmit().await;
            self.check_open()?;
            if last {
                return Ok(());
            }
            rest = after;
        }
    }

    /// Writes what is pending (the engine's control frames come before new data) and checks
    /// the connection is still there; `tx` is then free.
    async fn ready_to_send(&mut self) -> Result<(), Error> {
        self.transmit().await;
        self.check_open()?;
        self.tx_pos = 0;
        self.tx_end = 0;
        Ok(())
    }

    /// `Err(Closed)` once the connection is over.
    fn check_open(&mut self) -> Result<(), Error> {
        if self.conn.state() != ConnectionState::Closed {
            return Ok(());
        }
        #[cfg(feature = "defmt")]
        if let Some(c) = self.conn.poll_closure() {
            defmt::info!(
                "websocket closed: {=u16} ({=str})",
                c.code().as_u16(),
                crate::error::closure_name(&c)
            );
        }
        Err(Error::Closed)
    }

    /// Writes the pending bytes of `tx`, then the frames the engine must send, and flushes the
    /// transport. A transport failure is handed to the engine, which ends the connection.
    async fn transmit(&mut self) {
        loop {
            if self.tx_pos == self.tx_end {
                self.tx_pos = 0;
                self.tx_end = self.conn.poll_transmit(self.tx, self.clock.now());
                if self.tx_end == 0 {
                    break;
                }
            }
            if !self.write_pending().await {
                return;
            }
        }
        if self.unflushed {
            let WebSocket {
                transport,
                clock,
                conn,
                ..
            } = self;
            let flush = pin!(async { transport.flush().await.map(|()| 0) });
            if let Raced::Done(Err(e)) = race(conn, clock, flush, false).await {
                conn.handle_transport_error(transport_error(e.kind()), clock.now());
            }
            self.unflushed = false;
        }
    }

    /// Writes `tx[tx_pos..tx_end]`. False if the connection ended meanwhile (the rest of the
    /// bytes are then dropped).
    async fn write_pending(&mut self) -> bool {
        let WebSocket {
            transport,
            clock,
            conn,
            tx,
            tx_pos,
            tx_end,
            unflushed,
            ..
        } = self;
        while *tx_pos < *tx_end {
            let write = pin!(transport.write(&tx[*tx_pos..*tx_end]));
            let failed = match race(conn, clock, write, false).await {
                Raced::Done(Ok(n)) if n > 0 => {
                    *tx_pos += n;
                    *unflushed = true;
                    continue;
                }
                // `write` must not return 0 for a non-empty buffer: the transport is unusable.
                Raced::Done(Ok(_)) => Some(TransportError::BrokenPipe),
                Raced::Done(Err(e)) => Some(transport_error(e.kind())),
                Raced::Timer => None,
            };
            if let Some(error) = failed {
                conn.handle_transport_error(error, clock.now());
            }
            *tx_pos = *tx_end;
            return false;
        }
        true
    }

    // ------------------------------------------------------------------ closing

    /// Closes the connection with `code` and a reason of at most 123 bytes, doing the whole
    /// closing handshake (§7.1.2): our Close goes out, data still arriving is dropped, and the
    /// call returns when the peer's Close came back and — for a client — the server closed the
    /// transport, or when the close timeout passed.
    ///
    /// Returns the connection's [`Closure`]: clean if the handshake completed, otherwise
    /// abnormal with its cause. If the connection had already ended, returns that closure.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<Closure, Error> {
        if self.conn.state() == ConnectionState::Open {
            let now = self.clock.now();
            self.conn.close(code, reason, now)?;
        }
        self.msg_len = 0;
        self.discarding = false;
        loop {
            // Data still arriving is dropped; the engine answers Pings until the peer's Close.
            if let Err(Error::Closed) = self.next::<Messages>().await {
                if let Some(closure) = self.conn.closure() {
                    return Ok(closure);
                }
            }
        }
    }
}

/// Which engine events `WebSocket::next` hands back, and in what form.
trait Keep {
    type Out;
    fn keep(event: Event<'_>) -> Option<Self::Out>;
}

/// Data chunks only (payload left in `rx`): `receive` and `close`.
struct Messages;

impl Keep for Messages {
    type Out = DataChunk<'static>;
    fn keep(event: Event<'_>) -> Option<DataChunk<'static>> {
        match event {
            Event::Data(chunk) => Some(DataChunk {
                payload: &[],
                ..chunk
            }),
            _ => None,
        }
    }
}

/// Every event: `receive_event`.
struct Events;

impl Keep for Events {
    type Out = Event<'static>;
    fn keep(event: Event<'_>) -> Option<Event<'static>> {
        Some(match event {
            Event::Data(chunk) => Event::Data(DataChunk {
                payload: &[],
                ..chunk
            }),
            Event::Ping(p) => Event::Ping(p),
            Event::Pong(p) => Event::Pong(p),
            Event::Close(c) => Event::Close(c),
        })
    }
}

/// A whole message's bytes as a [`Message`]: text was validated (after inflation, for a
/// compressed one); the check only satisfies the type.
#[cfg(feature = "deflate")]
fn message(kind: MessageKind, payload: &[u8]) -> Message<'_> {
    match kind {
        MessageKind::Text => Message::Text(core::str::from_utf8(payload).unwrap_or("")),
        MessageKind::Binary => Message::Binary(payload),
    }
}

/// Moves `buf[src..src + len]` down to `dst` (`dst <= src`).
///
/// The regions may overlap, so this copies in steps of at most `src - dst` bytes, each between
/// disjoint halves of the buffer: a `copy_within` would link a 1.5 KB `memmove` into the
/// firmware for this one use. The gap is at least one frame header (2 bytes); it is usually the
/// headers of all the fragments so far.
fn move_down(buf: &mut [u8], mut src: usize, mut dst: usize, len: usize) {
    let end = src + len;
    while src < end && dst < src {
        let step = (src - dst).min(end - src);
        let (low, high) = buf.split_at_mut(src);
        low[dst..dst + step].copy_from_slice(&high[..step]);
        src += step;
        dst += step;
    }
}

impl<T, C> core::fmt::Debug for WebSocket<'_, T, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebSocket")
            .field("state", &self.conn.state())
            .field("rx_len", &self.rx.len())
            .field("tx_len", &self.tx.len())
            .finish_non_exhaustive()
    }
}
