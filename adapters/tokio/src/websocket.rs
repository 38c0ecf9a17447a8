//! [`WebSocket`]: one connection over an async stream.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::{FusedStream, Stream};
use futures_sink::Sink;
use sockeye_core::adapter::proxy::Route;
use sockeye_core::adapter::upgrade::Upgraded;
use sockeye_core::adapter::{random, ClientOptions, Config, Decision, Error};
use sockeye_core::handshake::Request;
use sockeye_core::url::Url;
use sockeye_core::{CloseCode, Closure, Connection, Event, Frame, Message, MessageKind, Role};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::tls::MaybeTlsStream;

use crate::handshake;
use crate::inner::{poll_next_message, Half, Inner};
use crate::split::{self, ReadHalf, WriteHalf};

/// A WebSocket connection over an async stream (a `TcpStream`, a TLS stream, …).
///
/// Receive with [`recv`](Self::recv) or as a [`Stream`] of messages; send with
/// [`send`](Self::send) and friends or as a [`Sink`] of messages; [`split`](Self::split) it
/// to read and write from different tasks. Pings are answered, keepalive pings sent and the
/// closing handshake completed while the connection is being read.
///
/// # Batching and backpressure
///
/// Reading decodes every frame a read brought in before reading again. Sending encodes into
/// one write buffer, written out when no complete frame waits to be received — so the replies
/// to a burst of messages leave in one write — or when the buffer reaches its high-water mark,
/// where [`send`](Self::send) waits for it to drain: a peer that does not read makes the
/// sender wait, not memory grow. If you stop receiving while messages are already buffered,
/// call [`flush`](Self::flush) to push out what you sent.
///
/// # Cancel safety
///
/// - [`recv`](Self::recv), [`recv_event`](Self::recv_event), [`flush`](Self::flush) and
///   polling the [`Stream`] are cancel-safe: dropping the future loses nothing, a message
///   half received stays buffered and the next call returns it whole (use them in
///   `tokio::select!`).
/// - [`send`](Self::send), [`send_text`](Self::send_text), [`send_binary`](Self::send_binary),
///   [`send_fragment`](Self::send_fragment), [`feed`](Self::feed) and [`ping`](Self::ping) are
///   not: a dropped future may or may not have queued its frame — but never half of it. A
///   frame that was queued goes out with the next flush.
/// - [`close`](Self::close) is not: once it ran, the closing handshake has started; calling
///   `close` or `recv` again completes it.
///
/// # How it ends
///
/// After the last message, [`recv`](Self::recv) returns `Err(Error::Closed(closure))` and keeps
/// doing so; the [`Stream`] yields that error once, then ends. See [`Error`] for the design.
/// The transport is shut down as soon as the closure is known (by a server right after the
/// closing handshake, RFC 6455 §7.1.1).
///
/// ```no_run
/// use sockeye_tokio::{CloseCode, Error, Message, WebSocket};
///
/// # async fn run() -> Result<(), Error> {
/// let mut ws = WebSocket::connect("ws://127.0.0.1:9001/").await?;
/// ws.send_text("hello").await?;
/// match ws.recv().await {
///     Ok(Message::Text(text)) => println!("got {text}"),
///     Ok(other) => println!("got {other:?}"),
///     Err(Error::Closed(closure)) => println!("{closure}"),
///     Err(e) => return Err(e),
/// }
/// let closure = ws.close(CloseCode::NORMAL, "done").await?;
/// println!("{closure}");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct WebSocket<S> {
    inner: Inner<S>,
    protocol: Option<String>,
    /// The stream yielded the closure and ended.
    terminated: bool,
}

impl WebSocket<MaybeTlsStream> {
    /// Connects to a `ws://` or `wss://` URL over TCP and performs the opening handshake, with
    /// default options.
    pub async fn connect(url: &str) -> Result<WebSocket<MaybeTlsStream>, Error> {
        WebSocket::connect_with(url, &ClientOptions::new()).await
    }

    /// Connects to a `ws://` or `wss://` URL over TCP with `options` (subprotocols, headers,
    /// config, proxy, TLS).
    ///
    /// Connecting, the TLS handshake and the WebSocket handshake are each bounded by the
    /// handshake timeout. Through an HTTP proxy when `options.proxy` says so. `wss://` runs
    /// TLS over the TCP stream (or the tunnel) with the feature `rustls` ([`tls`](crate::tls):
    /// SNI, ALPN `http/1.1`, [`Error::Tls`] with the cause of a failure); built without it,
    /// `wss://` fails with [`Error::TlsRequired`].
    pub async fn connect_with(
        url: &str,
        options: &ClientOptions<'_>,
    ) -> Result<WebSocket<MaybeTlsStream>, Error> {
        let parsed = Url::parse(url)?;
        #[cfg(not(feature = "rustls"))]
        if parsed.is_secure() {
            return Err(Error::TlsRequired);
        }
        let route = Route::new(&options.proxy, &parsed)?;
        let (host, port) = route.connect_to();
        let connect = async { TcpStream::connect((host, port)).await.map_err(Error::Io) };
        let mut stream = match options.config.handshake_timeout {
            Some(limit) => tokio::time::timeout(limit, connect)
                .await
                .unwrap_or_else(|_| Err(Error::Io(io::ErrorKind::TimedOut.into())))?,
            None => connect.await?,
        };
        // Frames are written whole, batched by the session: Nagle's delay only adds latency.
        stream.set_nodelay(true)?;
        if let Some(proxy) = route.proxy() {
            handshake::tunnel(&mut stream, proxy, route.server(), &options.config).await?;
        }
        #[cfg(feature = "rustls")]
        if parsed.is_secure() {
            let tls = crate::tls::connect(stream, &parsed, options).await?;
            let stream = MaybeTlsStream::Rustls(Box::new(tls));
            return WebSocket::client_with(stream, url, options).await;
        }
        WebSocket::client_with(MaybeTlsStream::Plain(stream), url, options).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Performs the client's opening handshake for `url` over `stream` (already connected,
    /// and wrapped in TLS for `wss://`), with default options.
    pub async fn client(stream: S, url: &str) -> Result<WebSocket<S>, Error> {
        WebSocket::client_with(stream, url, &ClientOptions::new()).await
    }

    /// Performs the client's opening handshake for `url` over `stream` with `options`.
    /// Bytes the server sent right behind its response are kept for the connection.
    pub async fn client_with(
        mut stream: S,
        url: &str,
        options: &ClientOptions<'_>,
    ) -> Result<WebSocket<S>, Error> {
        let url = Url::parse(url)?;
        let origin = tokio::time::Instant::now();
        // Boxed, as in `accept_with`: the handshake's state is not kept in the caller's task.
        let upgraded = Box::pin(handshake::client(&mut stream, &url, options)).await?;
        let now = sockeye_core::Instant::from_duration(origin.elapsed());
        let connection = Connection::client(options.config.engine, now, random::u64());
        Ok(WebSocket::upgraded(
            stream,
            connection,
            &options.config,
            origin,
            upgraded,
        ))
    }

    /// Performs the server's opening handshake on an accepted `stream` with the default
    /// [`Config`], accepting any valid request (choosing no subprotocol).
    pub async fn accept(stream: S) -> Result<WebSocket<S>, Error> {
        WebSocket::accept_with(stream, Config::new(), |_| Decision::accept()).await
    }

    /// Performs the server's opening handshake with `config`, letting `decide` look at the
    /// request (path, subprotocols, headers, `Origin`) and accept it — choosing a subprotocol
    /// — or reject it with an HTTP status.
    ///
    /// An invalid request is answered with the status the engine gives it (400, 405, 426,
    /// 431); then, as after a rejection, the stream is shut down and the error returned.
    ///
    /// ```no_run
    /// use sockeye_tokio::{Config, Decision, WebSocket};
    ///
    /// # async fn serve(stream: tokio::net::TcpStream) -> Result<(), sockeye_tokio::Error> {
    /// let ws = WebSocket::accept_with(stream, Config::default(), |request| {
    ///     match request.protocols().find(|p| *p == "chat") {
    ///         Some(protocol) if request.path() == "/chat" => Decision::accept().with_protocol(protocol),
    ///         _ => Decision::reject(404),
    ///     }
    /// })
    /// .await?;
    /// assert_eq!(ws.protocol(), Some("chat"));
    /// # Ok(()) }
    /// ```
    pub async fn accept_with<F>(
        mut stream: S,
        config: Config,
        decide: F,
    ) -> Result<WebSocket<S>, Error>
    where
        F: for<'r> FnOnce(&Request<'r>) -> Decision<'r>,
    {
        let origin = tokio::time::Instant::now();
        // Boxed: the handshake's state (parser, timer, response) lives on the heap only while
        // it runs, instead of inside every connection's task for the connection's lifetime —
        // an async fn's future is as large as its largest state, and a task holding the
        // handshake inline kept ~0.8 KB per idle connection (benches/README.md, scale).
        let upgraded = Box::pin(handshake::server(&mut stream, &config, decide)).await?;
        let now = sockeye_core::Instant::from_duration(origin.elapsed());
        let connection = Connection::server(config.engine, now);
        Ok(WebSocket::upgraded(
            stream, connection, &config, origin, upgraded,
        ))
    }

    /// A connection over a `stream` whose opening handshake was done elsewhere (e.g. by an
    /// HTTP server), playing `role`. `leftover` are bytes already read past the peer's
    /// handshake; they are processed before anything read from `stream`.
    pub fn from_upgraded(stream: S, role: Role, config: Config, leftover: &[u8]) -> WebSocket<S> {
        let upgraded = Upgraded {
            leftover: leftover.to_vec(),
            protocol: None,
            deflate: None,
        };
        WebSocket::from_handshake(stream, role, config, upgraded)
    }

    /// A connection over a `stream` whose opening handshake was done elsewhere, with what that
    /// handshake agreed on: the subprotocol, permessage-deflate's parameters (run with
    /// [`Config::compression`]'s settings, feature `deflate`) and the bytes read past the
    /// peer's head. For integrations such as `sockeye-hyper`.
    pub fn from_handshake(
        stream: S,
        role: Role,
        config: Config,
        upgraded: Upgraded,
    ) -> WebSocket<S> {
        let origin = tokio::time::Instant::now();
        let connection = Connection::new(
            role,
            config.engine,
            sockeye_core::Instant::ZERO,
            random::u64(),
        );
        WebSocket::upgraded(stream, connection, &config, origin, upgraded)
    }

    /// Records the subprotocol that a handshake done elsewhere agreed on (see
    /// [`from_upgraded`](Self::from_upgraded)), so that [`protocol`](Self::protocol) reports it.
    pub fn with_protocol(mut self, protocol: Option<String>) -> WebSocket<S> {
        self.protocol = protocol;
        self
    }

    fn upgraded(
        stream: S,
        connection: Connection,
        config: &Config,
        origin: tokio::time::Instant,
        upgraded: Upgraded,
    ) -> WebSocket<S> {
        let protocol = upgraded.protocol.clone();
        WebSocket {
            inner: Inner::new(stream, connection, config, origin, upgraded),
            protocol,
            terminated: false,
        }
    }

    // ------------------------------------------------------------------ receiving

    /// The next text or binary message. Cancel-safe.
    ///
    /// Waits until one is complete (at most [`max_message_size`] bytes: a larger one fails the
    /// connection with 1009), answering Pings, sending keepalive Pings, flushing pending
    /// writes and advancing the closing handshake meanwhile. Control frames are not returned
    /// (see [`recv_event`](Self::recv_event)). After the last message it returns
    /// `Err(Error::Closed(closure))`, and keeps doing so.
    ///
    /// [`max_message_size`]: sockeye_core::Config::max_message_size
    pub async fn recv(&mut self) -> Result<Message, Error> {
        poll_fn(|cx| self.inner.poll_recv(cx)).await
    }

    /// The next event, zero-copy: a chunk of a message's payload borrowed from the read
    /// buffer, or a Ping, Pong or Close frame. For messages too large to hold in memory.
    /// Cancel-safe.
    ///
    /// A message arrives as one or more [`Event::Data`] chunks, at most a read buffer's worth
    /// each, delimited by [`DataChunk::first`](sockeye_core::DataChunk::first) and
    /// [`last`](sockeye_core::DataChunk::last). Ends like [`recv`](Self::recv).
    pub async fn recv_event(&mut self) -> Result<Event<'_>, Error> {
        poll_fn(|cx| self.inner.poll_event_ready(cx)).await?;
        self.inner.take_event()
    }

    // ------------------------------------------------------------------ sending

    /// Sends a message: text, binary, ping or pong; [`Message::Close`] starts the closing
    /// handshake (prefer [`close`](Self::close), which also waits for it to complete).
    ///
    /// Waits while the write buffer is above its high-water mark, then encodes the frame, and
    /// writes the buffer out unless frames already received wait to be processed (the next
    /// [`recv`](Self::recv) flushes then). Not cancel-safe, see the type's documentation.
    ///
    /// A text or binary payload from 16 KiB up is not copied: it is written from the
    /// message's own buffer, behind its header, so echoing a large message received with
    /// `recv` costs no copy on the way out.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_ready(cx, Half::Reader)).await?;
        self.inner.encode_message(message)?;
        self.flush_if_idle().await
    }

    /// Sends a text message from a borrowed string, like [`send`](Self::send).
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_ready(cx, Half::Reader)).await?;
        self.inner
            .encode(|session| session.send(Frame::Text(text)))?;
        self.flush_if_idle().await
    }

    /// Sends a binary message from a borrowed slice, like [`send`](Self::send).
    pub async fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_ready(cx, Half::Reader)).await?;
        self.inner
            .encode(|session| session.send(Frame::Binary(data)))?;
        self.flush_if_idle().await
    }

    /// Sends a text or binary message (or a Ping/Pong) like [`send`](Self::send), never
    /// compressed even when permessage-deflate is in use: for messages that mix secrets with
    /// data an attacker controls (CRIME-style attacks read compressed lengths).
    pub async fn send_uncompressed(&mut self, frame: Frame<'_>) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_ready(cx, Half::Reader)).await?;
        self.inner
            .encode(|session| session.send_uncompressed(frame))?;
        self.flush_if_idle().await
    }

    /// Sends one fragment of a message (RFC 6455 §5.4), for messages too large to hold
    /// whole: the first call starts a `kind` message, the call with `fin` ends it. Text
    /// fragments must form valid UTF-8 together. Flushed like [`send`](Self::send).
    pub async fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_ready(cx, Half::Reader)).await?;
        self.inner
            .encode(|session| session.send_fragment(kind, payload, fin))?;
        self.flush_if_idle().await
    }

    /// Sends a Ping (at most 125 bytes of payload) and writes it out at once.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_ready(cx, Half::Reader)).await?;
        self.inner
            .encode(|session| session.send(Frame::Ping(payload)))?;
        self.flush().await
    }

    /// Queues a message, waiting only while the write buffer is above its high-water mark;
    /// [`flush`](Self::flush) writes it out. For sending a batch in as few writes as possible.
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_ready(cx, Half::Reader)).await?;
        self.inner.encode_message(message)
    }

    /// Writes out everything queued. Cancel-safe.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_flush(cx, Half::Reader)).await
    }

    async fn flush_if_idle(&mut self) -> Result<(), Error> {
        if self.inner.session.should_flush() {
            self.flush().await?;
        }
        Ok(())
    }

    // ------------------------------------------------------------------ closing

    /// Performs the closing handshake (RFC 6455 §7.1.2): sends a Close frame with `code` and
    /// `reason` (at most 123 bytes), waits for the peer's Close — discarding messages that
    /// arrive meanwhile — and for the transport to close, bounded by the close timeout.
    /// Returns the connection's [`Closure`].
    ///
    /// If the connection is already over, returns its closure; if a closing handshake is under
    /// way, completes it. Fails only for a code that may not be sent (1005, 1006, 1015,
    /// unassigned) or a reason that is too long, leaving the connection as it was.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<Closure, Error> {
        self.inner.start_close(code, reason)?;
        poll_fn(|cx| self.inner.poll_closed(cx)).await
    }

    /// Queues a Close frame and starts the close timer, without waiting: `recv` then returns
    /// the messages still arriving, then the closure (for the reconnecting client's stop).
    pub(crate) fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.inner.start_close(code, reason)
    }

    // ------------------------------------------------------------------ split and state

    /// Splits the connection into a reading and a writing half, usable from different tasks.
    ///
    /// The halves share the connection behind a mutex held only while one of them is polled
    /// (never across an `.await`). The read half answers Pings, sends keepalive Pings and
    /// replies to the peer's Close on its own, so keep it polled; the write half flushes after
    /// every send. [`ReadHalf::reunite`] puts them back together.
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        split::split(self.inner, self.protocol)
    }

    pub(crate) fn from_parts(inner: Inner<S>, protocol: Option<String>) -> WebSocket<S> {
        WebSocket {
            inner,
            protocol,
            terminated: false,
        }
    }

    /// The subprotocol agreed in the opening handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The permessage-deflate parameters agreed on in the opening handshake, if compression
    /// is in use (feature `deflate`, [`Config::compression`]).
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<sockeye_core::handshake::deflate::DeflateParams> {
        self.inner.session.deflate().map(|d| d.params())
    }

    /// How the connection ended, once it has.
    pub fn closure(&self) -> Option<Closure> {
        self.inner.session.closure()
    }

    /// The engine: state, role, configuration, round-trip time of the last keepalive ping.
    pub fn connection(&self) -> &Connection {
        self.inner.session.connection()
    }

    /// Bytes queued and not yet written to the transport.
    pub fn buffered_amount(&self) -> usize {
        self.inner.session.pending_write_len()
    }

    /// The I/O error that ended the transport, if one did (the closure records its kind).
    pub fn transport_error(&self) -> Option<&io::Error> {
        self.inner.transport_error.as_ref()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.inner.stream
    }

    /// The underlying stream, mutably. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner.stream
    }

    /// Gives the stream back, dropping the connection's state (nothing is flushed).
    pub fn into_inner(self) -> S {
        self.inner.stream
    }
}

/// Text and binary messages, then `Err(Error::Closed(closure))` once, then the end.
impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        poll_next_message(&mut this.terminated, || this.inner.poll_recv(cx))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> FusedStream for WebSocket<S> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

/// Messages to send. `poll_ready` waits while the write buffer is above its high-water mark,
/// `poll_flush` writes it out, and `poll_close` performs the whole closing handshake with
/// 1000 (discarding messages that arrive meanwhile), like [`WebSocket::close`].
impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_ready(cx, Half::Reader)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().inner.encode_message(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_flush(cx, Half::Reader)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let inner = &mut self.get_mut().inner;
        inner.start_close(CloseCode::NORMAL, "")?;
        ready!(inner.poll_closed(cx))?;
        Poll::Ready(Ok(()))
    }
}
