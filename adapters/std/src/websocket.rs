//! [`WebSocket`]: one connection over a blocking stream.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use sockeye_core::handshake::Request;
use sockeye_core::session::Session;
use sockeye_core::url::Url;
use sockeye_core::{
    CloseCode, Closure, Connection, Event, Frame, Instant, Message, MessageKind, Role, SendError,
};

use sockeye_core::adapter::proxy::Route;
use sockeye_core::adapter::upgrade::Upgraded;
use sockeye_core::adapter::{random, transport_end, ClientOptions, Config, Decision, Error};

use crate::handshake;
use crate::tls::MaybeTlsStream;
use crate::transport::Transport;

/// The engine's clock: time since the connection started.
#[derive(Clone, Copy, Debug)]
struct Clock(std::time::Instant);

impl Clock {
    fn start() -> Clock {
        Clock(std::time::Instant::now())
    }

    fn now(&self) -> Instant {
        Instant::from_duration(self.0.elapsed())
    }
}

/// Shortest read timeout set: `set_read_timeout` refuses zero, and the engine only needs
/// millisecond precision.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// A WebSocket connection over a blocking stream.
///
/// Receiving decodes every frame a read brought in before reading again; sending encodes into
/// one write buffer that is written out when nothing more is ready to be processed, or when it
/// reaches the high-water mark (see [`send`](Self::send)). Pings are answered, keepalive pings
/// sent and the closing handshake completed by the engine, while any method that reads
/// ([`recv`](Self::recv), [`recv_event`](Self::recv_event), [`close`](Self::close)) runs.
///
/// # How it ends
///
/// After the last message, [`recv`](Self::recv) returns `Err(Error::Closed(closure))`, and every
/// later call does too (see [`Error`] for the whole design). The transport is shut down as
/// soon as the closure is known — for a server right after the closing handshake, as
/// RFC 6455 §7.1.1 asks. Dropping a `WebSocket` without [`close`](Self::close) drops the
/// stream: the peer sees the transport end without a Close frame.
///
/// ```no_run
/// use sockeye_std::{Error, Message, WebSocket};
///
/// let mut ws = WebSocket::connect("ws://127.0.0.1:9001/")?;
/// ws.send_text("hello")?;
/// match ws.recv() {
///     Ok(Message::Text(text)) => println!("got {text}"),
///     Ok(other) => println!("got {other:?}"),
///     Err(Error::Closed(closure)) => println!("{closure}"),
///     Err(e) => return Err(e.into()),
/// }
/// let closure = ws.close(sockeye_std::CloseCode::NORMAL, "done")?;
/// println!("{closure}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct WebSocket<S> {
    stream: S,
    session: Session,
    clock: Clock,
    protocol: Option<String>,
    /// The read and write timeouts set on the stream, `None` when unknown.
    read_timeout: Option<Option<Duration>>,
    write_timeout: Option<Option<Duration>>,
    /// Whether the stream takes read and write timeouts (until it refuses one).
    read_timers: bool,
    write_timers: bool,
    /// The transport was shut down after the closure.
    shut_down: bool,
    /// The I/O error that ended the transport, if one did.
    transport_error: Option<io::Error>,
}

impl WebSocket<MaybeTlsStream> {
    /// Connects to a `ws://` or `wss://` URL over TCP and performs the opening handshake, with
    /// default options.
    pub fn connect(url: &str) -> Result<WebSocket<MaybeTlsStream>, Error> {
        WebSocket::connect_with(url, &ClientOptions::new())
    }

    /// Connects to a `ws://` or `wss://` URL over TCP with `options` (subprotocols, headers,
    /// config, proxy, TLS).
    ///
    /// Connecting is bounded by the handshake timeout, tried on each address the host
    /// resolves to. Through an HTTP proxy when `options.proxy` says so (a `CONNECT` tunnel;
    /// [`Error::Proxy`] says why a proxy would not open it). `wss://` runs TLS over the TCP
    /// stream (or the tunnel) with the feature `rustls` ([`tls`](crate::tls): SNI, ALPN
    /// `http/1.1`, [`Error::Tls`] with the cause of a failure); built without it, `wss://`
    /// fails with [`Error::TlsRequired`].
    pub fn connect_with(
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
        let mut stream = tcp_connect(host, port, options.config.handshake_timeout)?;
        // Frames are written whole, batched by the session: Nagle's delay only adds latency.
        stream.set_nodelay(true)?;
        if let Some(proxy) = route.proxy() {
            handshake::tunnel(&mut stream, proxy, route.server(), &options.config)?;
        }
        #[cfg(feature = "rustls")]
        if parsed.is_secure() {
            let tls = crate::tls::connect(stream, &parsed, options)?;
            return WebSocket::client_with(MaybeTlsStream::Rustls(Box::new(tls)), url, options);
        }
        WebSocket::client_with(MaybeTlsStream::Plain(stream), url, options)
    }
}

fn tcp_connect(host: &str, port: u16, timeout: Option<Duration>) -> io::Result<TcpStream> {
    let Some(timeout) = timeout else {
        return TcpStream::connect((host, port));
    };
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout.max(MIN_TIMEOUT)) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "the host name resolved to no address",
        )
    }))
}

impl<S: Transport> WebSocket<S> {
    /// Performs the client's opening handshake for `url` over `stream` (already connected,
    /// and wrapped in TLS for `wss://`), with default options.
    pub fn client(stream: S, url: &str) -> Result<WebSocket<S>, Error> {
        WebSocket::client_with(stream, url, &ClientOptions::new())
    }

    /// Performs the client's opening handshake for `url` over `stream` with `options`.
    ///
    /// Bytes the server sent right behind its response are kept for the connection.
    pub fn client_with(
        mut stream: S,
        url: &str,
        options: &ClientOptions<'_>,
    ) -> Result<WebSocket<S>, Error> {
        let url = Url::parse(url)?;
        let clock = Clock::start();
        let upgraded = handshake::client(&mut stream, &url, options)?;
        let connection = Connection::client(options.config.engine, clock.now(), random::u64());
        Ok(WebSocket::upgraded(
            stream,
            connection,
            options.config,
            clock,
            upgraded,
        ))
    }

    /// Performs the server's opening handshake on an accepted `stream` with the default
    /// [`Config`], accepting any valid request (choosing no subprotocol).
    ///
    /// ```no_run
    /// use std::net::TcpListener;
    /// use sockeye_std::{Error, WebSocket};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:9001")?;
    /// for stream in listener.incoming() {
    ///     std::thread::spawn(move || -> Result<(), Error> {
    ///         let mut ws = WebSocket::accept(stream?)?;
    ///         loop {
    ///             match ws.recv() {
    ///                 Ok(message) => ws.send(message)?,
    ///                 Err(Error::Closed(closure)) => return Ok(println!("{closure}")),
    ///                 Err(e) => return Err(e),
    ///             }
    ///         }
    ///     });
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn accept(stream: S) -> Result<WebSocket<S>, Error> {
        WebSocket::accept_with(stream, Config::new(), |_| Decision::accept())
    }

    /// Performs the server's opening handshake with `config`, letting `decide` look at the
    /// request (path, subprotocols, headers, `Origin`) and accept it — choosing a subprotocol
    /// — or reject it with an HTTP status.
    ///
    /// An invalid request is answered with the status the engine gives it (400, 405, 426,
    /// 431); then, as after a rejection, the transport is shut down and the error returned.
    ///
    /// ```no_run
    /// # use std::net::TcpStream;
    /// use sockeye_std::{Config, Decision, WebSocket};
    ///
    /// # fn serve(stream: TcpStream) -> Result<(), sockeye_std::Error> {
    /// let mut path = String::new();
    /// let mut ws = WebSocket::accept_with(stream, Config::default(), |request| {
    ///     path = request.path().to_owned();
    ///     match request.protocols().find(|p| *p == "chat") {
    ///         Some(protocol) => Decision::accept().with_protocol(protocol),
    ///         None => Decision::reject(400),
    ///     }
    /// })?;
    /// assert_eq!(ws.protocol(), Some("chat"));
    /// # Ok(()) }
    /// ```
    pub fn accept_with<F>(mut stream: S, config: Config, decide: F) -> Result<WebSocket<S>, Error>
    where
        F: for<'r> FnOnce(&Request<'r>) -> Decision<'r>,
    {
        let clock = Clock::start();
        let upgraded = handshake::server(&mut stream, &config, decide)?;
        let connection = Connection::server(config.engine, clock.now());
        Ok(WebSocket::upgraded(
            stream, connection, config, clock, upgraded,
        ))
    }

    /// A connection over a `stream` whose opening handshake was done elsewhere (e.g. by an
    /// HTTP server), playing `role`. `leftover` are bytes already read past the peer's
    /// handshake; they are processed before anything read from `stream`.
    pub fn from_upgraded(stream: S, role: Role, config: Config, leftover: &[u8]) -> WebSocket<S> {
        let clock = Clock::start();
        let connection = Connection::new(role, config.engine, clock.now(), random::u64());
        let upgraded = Upgraded {
            leftover: leftover.to_vec(),
            protocol: None,
            deflate: None,
        };
        WebSocket::upgraded(stream, connection, config, clock, upgraded)
    }

    fn upgraded(
        stream: S,
        connection: Connection,
        config: Config,
        clock: Clock,
        upgraded: Upgraded,
    ) -> WebSocket<S> {
        let protocol = upgraded.protocol.clone();
        let session = upgraded.into_session(connection, &config, clock.now());
        WebSocket {
            stream,
            session,
            clock,
            protocol,
            read_timeout: None,
            write_timeout: None,
            read_timers: true,
            write_timers: true,
            shut_down: false,
            transport_error: None,
        }
    }

    // ------------------------------------------------------------------ receiving

    /// The next text or binary message.
    ///
    /// Blocks until one is complete (at most [`max_message_size`] bytes: a larger one fails
    /// the connection with 1009). Meanwhile Pings are answered, keepalive Pings sent, pending
    /// writes flushed and the closing handshake advanced. Control frames are not returned (see
    /// [`recv_event`](Self::recv_event)). After the last message it returns
    /// `Err(Error::Closed(closure))`, and keeps doing so.
    ///
    /// [`max_message_size`]: sockeye_core::Config::max_message_size
    pub fn recv(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(message) = self.session.poll_message() {
                self.write_urgent();
                return Ok(message);
            }
            if let Some(closure) = self.advance()? {
                return Err(Error::closed(closure));
            }
        }
    }

    /// The next event, zero-copy: a chunk of a message's payload borrowed from the read
    /// buffer, or a Ping, Pong or Close frame. For messages too large to hold in memory.
    ///
    /// A message arrives as one or more [`Event::Data`] chunks, at most a read buffer's worth
    /// each; [`DataChunk::first`](sockeye_core::DataChunk::first) and
    /// [`last`](sockeye_core::DataChunk::last) delimit it, and text chunks are valid UTF-8
    /// together (a chunk may end inside a code point). Ends like [`recv`](Self::recv).
    ///
    /// ```no_run
    /// # use std::io::Write;
    /// # fn f(mut ws: sockeye_std::WebSocket<std::net::TcpStream>, mut file: std::fs::File) -> Result<(), Box<dyn std::error::Error>> {
    /// use sockeye_std::Event;
    /// loop {
    ///     if let Event::Data(chunk) = ws.recv_event()? {
    ///         file.write_all(chunk.payload)?;
    ///         if chunk.last {
    ///             break;
    ///         }
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn recv_event(&mut self) -> Result<Event<'_>, Error> {
        while !self.session.has_event() {
            if let Some(closure) = self.advance()? {
                return Err(Error::closed(closure));
            }
        }
        match self.session.poll_event() {
            Some(event) => Ok(event),
            // `has_event` just decoded it; kept for completeness rather than a panic.
            None => Err(Error::Io(io::ErrorKind::WouldBlock.into())),
        }
    }

    /// Writes out what is pending, then, unless the connection is over, waits for input or the
    /// next deadline and hands what happened to the engine. Returns the closure once known.
    fn advance(&mut self) -> Result<Option<Closure>, Error> {
        if let Some(closure) = self.session.closure() {
            self.shut_down();
            return Ok(Some(closure));
        }
        self.write_pending();
        if self.session.closure().is_none() {
            self.read_once()?;
        }
        Ok(None)
    }

    /// One read of the transport, bounded by the engine's next deadline.
    fn read_once(&mut self) -> Result<(), Error> {
        let deadline = self.session.poll_timeout();
        let now = self.clock.now();
        if deadline.is_some_and(|d| d <= now) {
            self.session.handle_timeout(now);
            return Ok(());
        }
        let timeout = deadline.map(|d| (d - now).max(MIN_TIMEOUT));
        // Set even when there is no deadline: a timeout left from the handshake must go.
        let timed = self.set_read_timeout(timeout) && timeout.is_some();
        let space = self.session.read_space();
        if space.is_empty() {
            // Only if undecoded input filled the buffer, which `recv` never leaves behind.
            return Ok(());
        }
        let result = self.stream.read(space);
        let now = self.clock.now();
        match result {
            Ok(0) => self.session.handle_eof(now),
            Ok(n) => self.session.received(n, now),
            Err(e) => match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut if timed => {
                    self.session.handle_timeout(now)
                }
                io::ErrorKind::WouldBlock => return Err(Error::Io(e)),
                _ => self.transport_failed(e, now),
            },
        }
        if !timed && deadline.is_some_and(|d| d <= now) {
            self.session.handle_timeout(now);
        }
        Ok(())
    }

    /// Sets the read timeout if it changed; whether the stream honours it.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> bool {
        if !self.read_timers {
            return false;
        }
        if self.read_timeout != Some(timeout) {
            match self.stream.set_read_timeout(timeout) {
                Ok(()) => self.read_timeout = Some(timeout),
                Err(_) => {
                    self.read_timers = false;
                    return false;
                }
            }
        }
        true
    }

    /// Sets the write timeout if it changed; whether the stream honours it.
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> bool {
        if !self.write_timers {
            return false;
        }
        if self.write_timeout != Some(timeout) {
            match self.stream.set_write_timeout(timeout) {
                Ok(()) => self.write_timeout = Some(timeout),
                Err(_) => {
                    self.write_timers = false;
                    return false;
                }
            }
        }
        true
    }

    fn transport_failed(&mut self, error: io::Error, now: Instant) {
        transport_end(&error).report_to(&mut self.session, now);
        if self.transport_error.is_none() {
            self.transport_error = Some(error);
        }
    }

    // ------------------------------------------------------------------ sending

    /// Sends a message: text, binary, ping or pong; [`Message::Close`] starts the closing
    /// handshake (prefer [`close`](Self::close), which also waits for it to complete).
    ///
    /// The frame is encoded into the write buffer, which is written out now unless frames
    /// already received are waiting to be processed — then the next [`recv`](Self::recv)
    /// flushes, so that replies to a burst of messages leave in one write. A buffer above the
    /// high-water mark is written out first, blocking while the peer does not read.
    ///
    /// A text or binary payload from 16 KiB up is not copied: it is written from the
    /// message's own buffer, behind its header, so echoing a large message received with
    /// `recv` costs no copy on the way out.
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.queue_message(message)?;
        self.flush_if_idle()
    }

    /// Sends a text message from a borrowed string, like [`send`](Self::send).
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.queue(|session| session.send(Frame::Text(text)))?;
        self.flush_if_idle()
    }

    /// Sends a binary message from a borrowed slice, like [`send`](Self::send).
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.queue(|session| session.send(Frame::Binary(data)))?;
        self.flush_if_idle()
    }

    /// Sends a text or binary message (or a Ping/Pong) like [`send`](Self::send), never
    /// compressed even when permessage-deflate is in use: for messages that mix secrets with
    /// data an attacker controls (CRIME-style attacks read compressed lengths).
    pub fn send_uncompressed(&mut self, frame: Frame<'_>) -> Result<(), Error> {
        self.queue(|session| session.send_uncompressed(frame))?;
        self.flush_if_idle()
    }

    /// Sends a Ping (at most 125 bytes of payload) and writes it out at once.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.queue(|session| session.send(Frame::Ping(payload)))?;
        self.flush()
    }

    /// Sends one fragment of a message (RFC 6455 §5.4), for messages too large to hold
    /// whole: the first call starts a `kind` message, the call with `fin` ends it. Text
    /// fragments must form valid UTF-8 together. Other messages cannot be sent in between;
    /// Pings and Pongs can. Flushed like [`send`](Self::send).
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        self.queue(|session| session.send_fragment(kind, payload, fin))?;
        self.flush_if_idle()
    }

    /// Queues a message without writing it unless the write buffer reached its high-water
    /// mark; [`flush`](Self::flush) writes it out. For sending a batch in as few writes as
    /// possible.
    pub fn feed(&mut self, message: Message) -> Result<(), Error> {
        self.queue_message(message)
    }

    /// Writes out everything queued, and flushes the stream.
    pub fn flush(&mut self) -> Result<(), Error> {
        // Timers run on the send paths too: a sender that never reads still pings and learns
        // that its peer is gone (`handle_timeout` before a deadline does nothing).
        self.session.handle_timeout(self.clock.now());
        self.check_closed()?;
        self.write_pending_or_fail()?;
        match self.stream.flush() {
            Ok(()) => Ok(()),
            Err(e) => Err(self.write_failed(e)),
        }
    }

    fn queue(
        &mut self,
        encode: impl FnOnce(&mut Session) -> Result<(), SendError>,
    ) -> Result<(), Error> {
        // Timers run on the send paths too: a sender that never reads still pings and learns
        // that its peer is gone. The clock is read only when a timer is armed.
        if self.session.poll_timeout().is_some() {
            self.session.handle_timeout(self.clock.now());
        }
        self.check_closed()?;
        if self.session.is_write_full() {
            self.write_pending_or_fail()?;
        }
        encode(&mut self.session).map_err(|e| self.send_error(e))
    }

    /// Queues a [`Message`], a large payload without copying it ([`Session::send_owned`]);
    /// the clock is read only for a Close.
    fn queue_message(&mut self, message: Message) -> Result<(), Error> {
        let clock = self.clock;
        self.queue(|session| session.send_owned(message, || clock.now()))
    }

    /// Writes out a Pong or Close reply the engine owes the peer (and the data queued before
    /// it) before a message goes to the application, which may take its time: the peer's
    /// keepalive must not wait for it. A failure ends the transport; `recv` reports it after
    /// the messages already received.
    fn write_urgent(&mut self) {
        if self.session.has_urgent_write() {
            self.write_pending();
        }
    }

    fn flush_if_idle(&mut self) -> Result<(), Error> {
        if self.session.should_flush() {
            self.write_pending_or_fail()?;
        }
        Ok(())
    }

    fn check_closed(&mut self) -> Result<(), Error> {
        match self.session.closure() {
            Some(closure) => {
                self.shut_down();
                Err(Error::closed(closure))
            }
            None => Ok(()),
        }
    }

    fn send_error(&mut self, error: SendError) -> Error {
        match (error, self.session.closure()) {
            (SendError::Closing, Some(closure)) => Error::closed(closure),
            _ => Error::Send(error),
        }
    }

    /// Writes all pending bytes. A failure ends the transport, reported to the engine; the
    /// connection's closure (once received input is delivered) tells the rest.
    fn write_pending(&mut self) {
        let _ = self.write_pending_or_fail();
    }

    fn write_pending_or_fail(&mut self) -> Result<(), Error> {
        self.write_out()?;
        self.check_closed()
    }

    /// Writes out what is pending, the wait bounded by the session's deadlines (a keepalive
    /// or close timeout while the connection runs, the linger deadline once it is over); the
    /// timers run meanwhile. Never shuts the transport down itself.
    fn write_out(&mut self) -> Result<(), Error> {
        while !self.session.pending_write().is_empty() {
            if self.transport_error.is_some() || self.shut_down {
                // The transport is gone: what is pending can never be written.
                let n = self.session.pending_write().len();
                self.session.written(n);
                break;
            }
            let deadline = self.session.poll_timeout();
            let now = self.clock.now();
            if deadline.is_some_and(|d| d <= now) {
                self.session.handle_timeout(now);
                continue;
            }
            let timeout = deadline.map(|d| (d - now).max(MIN_TIMEOUT));
            let timed = self.set_write_timeout(timeout) && timeout.is_some();
            let result = match self.session.pending_write_parts() {
                // A large message sent from its own buffer: its header and payload in one write.
                (header, payload) if !header.is_empty() && !payload.is_empty() => self
                    .stream
                    .write_vectored(&[io::IoSlice::new(header), io::IoSlice::new(payload)]),
                _ => self.stream.write(self.session.pending_write()),
            };
            match result {
                Ok(0) => return Err(self.write_failed(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.session.written(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if timed
                        && matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                {
                    let now = self.clock.now();
                    self.session.handle_timeout(now);
                }
                Err(e) => return Err(self.write_failed(e)),
            }
        }
        Ok(())
    }

    /// Reports a write error to the engine, and what to tell the caller.
    fn write_failed(&mut self, error: io::Error) -> Error {
        if error.kind() == io::ErrorKind::WouldBlock {
            return Error::Io(error);
        }
        let kind = error.kind();
        let now = self.clock.now();
        self.transport_failed(error, now);
        match self.session.closure() {
            Some(closure) => Error::closed(closure),
            None => Error::Io(kind.into()),
        }
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
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<Closure, Error> {
        if self.session.closure().is_none() {
            let now = self.clock.now();
            self.session.close(code, reason, now).map_err(Error::Send)?;
        }
        loop {
            while self.session.poll_message().is_some() {}
            if let Some(closure) = self.advance()? {
                return Ok(closure);
            }
        }
    }

    /// Writes out pending frames and closes the transport, once.
    fn shut_down(&mut self) {
        if self.shut_down {
            return;
        }
        // Write what is pending, then close (the session's rule): it holds only what the peer
        // waits for — our final Close after a closing handshake or when we failed the
        // connection — and the session's linger deadline bounds the wait.
        if self.write_out().is_ok() {
            let _ = self.stream.flush();
        }
        let _ = self.stream.shutdown();
        self.shut_down = true;
    }

    // ------------------------------------------------------------------ state

    /// The subprotocol agreed in the opening handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The permessage-deflate parameters agreed on in the opening handshake, if compression
    /// is in use (feature `deflate`, [`Config::compression`]).
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<sockeye_core::handshake::deflate::DeflateParams> {
        self.session.deflate().map(|d| d.params())
    }

    /// How the connection ended, once it has.
    pub fn closure(&self) -> Option<Closure> {
        self.session.closure()
    }

    /// The engine: state, role, configuration, round-trip time of the last keepalive ping.
    pub fn connection(&self) -> &Connection {
        self.session.connection()
    }

    /// Bytes queued and not yet written to the transport.
    pub fn buffered_amount(&self) -> usize {
        self.session.pending_write_len()
    }

    /// The I/O error that ended the transport, if one did (the closure records its kind).
    pub fn transport_error(&self) -> Option<&io::Error> {
        self.transport_error.as_ref()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream, mutably. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Gives the stream back, dropping the connection's state (nothing is flushed).
    pub fn into_inner(self) -> S {
        self.stream
    }
}
