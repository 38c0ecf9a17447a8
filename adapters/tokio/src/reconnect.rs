//! [`ReconnectingClient`]: a client that opens a new connection after the last one ended, when
//! and as often as the core's [`Backoff`] policy says.
//!
//! # Theory of operation
//!
//! The client is a [`Stream`] of [`ReconnectEvent`]s, with no task of its own: it connects,
//! reconnects and waits only while it is polled (with [`next`](ReconnectingClient::next) or
//! as a `Stream`). One loop, each step an event:
//!
//! ```text
//!   attempt ──ok──► Connected ─► Message … ─► Disconnected{closure} ──┐
//!      ▲   └─error─► ConnectFailed{error} ─────────────────────────────┤ retry?
//!      │                                                               │
//!      └──── after delay ◄── Retrying{attempt, delay} ◄───── yes ──────┤
//!                                 end of stream ◄── GaveUp{reason} ◄── no
//! ```
//!
//! - **After a connection ends**, [`Backoff::after_closure`] decides from its [`Closure`] and
//!   how long it was up. With [`BackoffConfig::retry`] left at
//!   [`default_retry`](sockeye_core::backoff::default_retry) it reconnects after an abnormal
//!   closure (1006: EOF, reset, keepalive or close timeout) and after 1001, 1011, 1012, 1013
//!   and 1014 from the peer, and gives up after 1000, 1002, 1003, 1007–1010, application codes
//!   (3000–4999), a closing handshake we started, and a connection we failed for a protocol
//!   violation. A connection that stayed up
//!   [`reset_after`](BackoffConfig::reset_after) resets the delays; one that drops at once
//!   does not, so a server that accepts and immediately drops is not hammered.
//! - **After a connect attempt fails**, [`ReconnectConfig::retry_connect`] decides (default
//!   [`default_retry_connect`]: retry unless the server refused the upgrade with 3xx or 4xx
//!   other than 408 and 429, or our own request is invalid), then
//!   [`max_attempts`](ReconnectConfig::max_attempts), and the delay is
//!   [`Backoff::next_delay`].
//! - Delays are exponential with full jitter (RFC 6455 §7.2.3 asks clients to randomise the
//!   first reconnect delay, so that a crowd of clients does not come back at once); the jitter
//!   is seeded from the operating system's random source. The first connection is attempted at
//!   once.
//!
//! # Stopping
//!
//! [`stop`](ReconnectingClient::stop), or [`StopHandle::stop`] from another task, ends the loop
//! at any time. While connected, the client closes the connection with 1000 — messages already
//! on their way still arrive as events, and the close timeout bounds the wait — reports it with
//! `Disconnected`, then the stream ends. While connecting or waiting, the stream ends at once
//! (an attempt in progress is abandoned and its socket closed). Dropping the client drops the
//! connection without a closing handshake: the peer sees 1006.
//!
//! ```
//! use std::time::Duration;
//! use sockeye_tokio::{
//!     BackoffConfig, CloseCode, Message, ReconnectConfig, ReconnectEvent, ReconnectingClient,
//!     WebSocket,
//! };
//! use tokio::net::TcpListener;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A server that is restarting (1012) the first time, then greets and closes with 1000.
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("ws://{}/", listener.local_addr()?);
//! tokio::spawn(async move {
//!     let mut ws = WebSocket::accept(listener.accept().await?.0).await?;
//!     ws.close(CloseCode::SERVICE_RESTART, "restarting").await?;
//!     let mut ws = WebSocket::accept(listener.accept().await?.0).await?;
//!     ws.send_text("welcome").await?;
//!     ws.close(CloseCode::NORMAL, "").await?;
//!     Ok::<_, sockeye_tokio::Error>(())
//! });
//!
//! let mut backoff = BackoffConfig::new();
//! backoff.first = Duration::from_millis(10);
//! let config = ReconnectConfig::new().with_backoff(backoff);
//! let mut client = ReconnectingClient::with_options(&url, &Default::default(), config)?;
//! let mut log = Vec::new();
//! while let Some(event) = client.next().await {
//!     log.push(match event {
//!         ReconnectEvent::Connected { .. } => "connected".to_string(),
//!         ReconnectEvent::Message(Message::Text(text)) => text,
//!         ReconnectEvent::Disconnected { closure, .. } => format!("code={}", closure.code().as_u16()),
//!         ReconnectEvent::Retrying { .. } => "retrying".into(),
//!         ReconnectEvent::GaveUp { reason } => format!("gave up: {reason}"),
//!         other => format!("{other:?}"),
//!     });
//! }
//! assert_eq!(
//!     log,
//!     [
//!         "connected", "code=1012", "retrying",
//!         "connected", "welcome", "code=1000", "gave up: the closure does not invite a retry",
//!     ]
//! );
//! # Ok(()) }
//! ```
//!
//! [`Stream`]: futures_core::Stream

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use futures_core::{FusedStream, Stream};
use sockeye_core::adapter::proxy::ProxySetting;
use sockeye_core::adapter::tls::TlsError;
use sockeye_core::adapter::{random, ClientOptions, Config, Error, HandshakeError};
use sockeye_core::backoff::{Backoff, BackoffConfig, Decision};
use sockeye_core::handshake::ResponseError;
use sockeye_core::url::Url;
use sockeye_core::{CloseCode, Closure, Message};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

use crate::tls::MaybeTlsStream;
use crate::WebSocket;

/// When to reconnect: the core's [`BackoffConfig`] (retry rule for closures, delays), plus the
/// rule for failed connect attempts and an optional limit on them.
///
/// ```
/// use std::time::Duration;
/// use sockeye_tokio::{BackoffConfig, ReconnectConfig};
///
/// let mut backoff = BackoffConfig::new();
/// backoff.first = Duration::from_millis(500);
/// backoff.max = Duration::from_secs(30);
/// let config = ReconnectConfig::new()
///     .with_backoff(backoff)
///     .with_max_attempts(Some(10));
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ReconnectConfig {
    /// Delays (first ~1 s, factor 2, cap 60 s, full jitter, reset after 30 s up) and which
    /// closures invite a retry. Default [`BackoffConfig::new`].
    pub backoff: BackoffConfig,
    /// Whether a failed connect attempt (connecting, the opening handshake) is worth repeating.
    /// Default [`default_retry_connect`].
    pub retry_connect: fn(&Error) -> bool,
    /// Give up after this many consecutive failed connect attempts (`Some(0)` acts as
    /// `Some(1)`); `None` (the default) never does.
    pub max_attempts: Option<u32>,
}

impl ReconnectConfig {
    /// The defaults listed on each field.
    pub const fn new() -> ReconnectConfig {
        ReconnectConfig {
            backoff: BackoffConfig::new(),
            retry_connect: default_retry_connect,
            max_attempts: None,
        }
    }

    /// Sets [`backoff`](Self::backoff).
    pub const fn with_backoff(mut self, backoff: BackoffConfig) -> ReconnectConfig {
        self.backoff = backoff;
        self
    }

    /// Sets [`retry_connect`](Self::retry_connect).
    pub const fn with_retry_connect(mut self, retry: fn(&Error) -> bool) -> ReconnectConfig {
        self.retry_connect = retry;
        self
    }

    /// Sets [`max_attempts`](Self::max_attempts).
    pub const fn with_max_attempts(mut self, max: Option<u32>) -> ReconnectConfig {
        self.max_attempts = max;
        self
    }
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        ReconnectConfig::new()
    }
}

/// The default rule for failed connect attempts: retry unless repeating the same request
/// cannot succeed.
///
/// - Retried: I/O errors (connection refused, reset, unreachable, name resolution, connect
///   timeout), the handshake timeout, the server closing during the handshake, `408 Request
///   Timeout`, `429 Too Many Requests`, any 5xx, and a response that is not a valid upgrade
///   (malformed, missing fields, wrong `Sec-WebSocket-Accept`): often a proxy or a server that
///   is restarting.
/// - Not retried: any other status — 4xx (wrong path, authentication, forbidden), 3xx
///   (redirects are not followed), 1xx/2xx other than 101 — our own request being invalid
///   (a bad header or subprotocol), an invalid URL or `wss://` without TLS.
/// - TLS: the server closing during the TLS handshake is retried like the server closing during
///   the WebSocket handshake; every other TLS failure (an untrusted or expired certificate, a
///   name mismatch, a refused handshake) is not: it fails the same way until someone changes a
///   certificate or a setting.
pub fn default_retry_connect(error: &Error) -> bool {
    match error {
        Error::Io(_) => true,
        Error::Handshake(HandshakeError::Response(ResponseError::Status(status))) => {
            matches!(status, 408 | 429 | 500..=599)
        }
        Error::Handshake(HandshakeError::Response(_))
        | Error::Handshake(HandshakeError::Timeout)
        | Error::Handshake(HandshakeError::Eof)
        | Error::Tls(TlsError::HandshakeEof) => true,
        _ => false,
    }
}

/// What happened, in order. See the [module documentation](self) for the loop.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReconnectEvent {
    /// Connection attempt `attempt` (counted from 1 since the start or since the last
    /// connection ended) succeeded. Until the next event is polled,
    /// [`connection_mut`](ReconnectingClient::connection_mut) returns it, e.g. to subscribe.
    Connected {
        /// Which attempt succeeded.
        attempt: u32,
    },
    /// A text or binary message arrived on the current connection.
    Message(Message),
    /// The current connection ended; the closure says how and why (its `Display` is a
    /// diagnosis). Followed by [`Retrying`](Self::Retrying) or [`GaveUp`](Self::GaveUp), or,
    /// after a stop, by the end of the stream.
    Disconnected {
        /// How the connection ended.
        closure: Closure,
        /// How long it was open (from the end of the opening handshake).
        connected_for: Duration,
    },
    /// Connection attempt `attempt` failed: connecting or the opening handshake. Followed by
    /// [`Retrying`](Self::Retrying) or [`GaveUp`](Self::GaveUp).
    ConnectFailed {
        /// What failed.
        error: Error,
        /// Which attempt it was.
        attempt: u32,
    },
    /// Connection attempt `attempt` will start after `delay`.
    Retrying {
        /// The attempt that will start.
        attempt: u32,
        /// The wait before it (random, below the backoff bound).
        delay: Duration,
    },
    /// The policy says not to reconnect; the stream ends.
    GaveUp {
        /// Which rule said so.
        reason: GiveUpReason,
    },
}

/// Why a [`ReconnectingClient`] stopped reconnecting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The last connection's closure does not invite a retry ([`BackoffConfig::retry`]): the
    /// peer closed with 1000, or with a code saying a retry would fail the same way.
    Closure,
    /// The last connect attempt failed in a way a retry would repeat
    /// ([`ReconnectConfig::retry_connect`]), e.g. the server refused the upgrade with 403.
    ConnectError,
    /// [`ReconnectConfig::max_attempts`] consecutive connect attempts failed.
    MaxAttempts,
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GiveUpReason::Closure => "the closure does not invite a retry",
            GiveUpReason::ConnectError => "the connect error would repeat on a retry",
            GiveUpReason::MaxAttempts => "too many failed connect attempts",
        })
    }
}

/// Stops a [`ReconnectingClient`] from another task; see
/// [`ReconnectingClient::stop`]. Cloneable; stopping twice does nothing more.
#[derive(Clone, Debug)]
pub struct StopHandle {
    signal: Arc<StopSignal>,
}

impl StopHandle {
    /// Asks the client to stop: close the current connection with 1000, or end at once while
    /// connecting or waiting. Wakes the task polling it.
    pub fn stop(&self) {
        self.signal.stop();
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.signal.stopped.load(Ordering::Acquire)
    }
}

/// The stop flag and the waker of the task polling the client.
#[derive(Debug, Default)]
struct StopSignal {
    stopped: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl StopSignal {
    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Registers `cx` to be woken by [`stop`](Self::stop), then reads the flag (in that order,
    /// so that a stop in between is not missed).
    fn poll_stopped(&self, cx: &Context<'_>) -> bool {
        {
            let mut slot = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
        }
        self.stopped.load(Ordering::Acquire)
    }
}

type Connect<S> = Pin<Box<dyn Future<Output = Result<WebSocket<S>, Error>> + Send>>;
type Connector<S> = Box<dyn FnMut() -> Connect<S> + Send>;

enum State<S> {
    /// Waiting before connection attempt `attempt`; no timer: start it at once.
    Waiting {
        attempt: u32,
        sleep: Option<Pin<Box<Sleep>>>,
    },
    Connecting {
        attempt: u32,
        future: Connect<S>,
    },
    Connected {
        /// Boxed: a connection's state is large, the other states small.
        ws: Box<WebSocket<S>>,
        since: Instant,
        /// Stopping: the closing handshake (1000) is under way.
        closing: bool,
    },
    Done,
}

/// A WebSocket client that reconnects with exponential backoff and reports every step.
///
/// Poll it for [`ReconnectEvent`]s with [`next`](Self::next) (cancel-safe: use it in
/// `tokio::select!`) or as a [`Stream`]; nothing happens between polls. Send on the current
/// connection through [`connection_mut`](Self::connection_mut) — a send that fails because
/// the connection just ended is reported by the next `Disconnected`. See the
/// [module documentation](self) for the retry and stop rules.
///
/// Keepalive (set in the [`Config`] of the options) is what turns a silently dead peer into a
/// closure, and so into a reconnect; without it, a half-open connection stays "connected".
///
/// ```no_run
/// use std::time::Duration;
/// use sockeye_tokio::{
///     BackoffConfig, ClientOptions, Config, EngineConfig, Keepalive, ReconnectConfig,
///     ReconnectEvent, ReconnectingClient,
/// };
///
/// # async fn run() -> Result<(), sockeye_tokio::Error> {
/// // Keepalive: a ping after 20 s of silence, 1006 if nothing answers within 10 s.
/// let engine = EngineConfig::default().with_keepalive(Some(Keepalive {
///     interval: Duration::from_secs(20),
///     timeout: Duration::from_secs(10),
/// }));
/// let options = ClientOptions::new().with_config(Config::default().with_engine(engine));
/// let mut backoff = BackoffConfig::new(); // first ~1 s, ×2, cap 60 s, full jitter
/// backoff.max = Duration::from_secs(30);
/// let config = ReconnectConfig::new().with_backoff(backoff);
///
/// let mut client = ReconnectingClient::with_options("ws://127.0.0.1:9001/feed", &options, config)?;
/// while let Some(event) = client.next().await {
///     match event {
///         ReconnectEvent::Connected { .. } => {
///             if let Some(ws) = client.connection_mut() {
///                 let _ = ws.send_text("subscribe").await; // a failure shows up as Disconnected
///             }
///         }
///         ReconnectEvent::Message(message) => println!("{message:?}"),
///         ReconnectEvent::Disconnected { closure, .. } => {
///             eprintln!("code={} {closure}", closure.code().as_u16())
///         }
///         ReconnectEvent::ConnectFailed { error, attempt } => eprintln!("attempt {attempt}: {error}"),
///         ReconnectEvent::Retrying { attempt, delay } => eprintln!("attempt {attempt} in {delay:?}"),
///         ReconnectEvent::GaveUp { reason } => eprintln!("giving up: {reason}"),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
///
/// [`Stream`]: futures_core::Stream
pub struct ReconnectingClient<S = MaybeTlsStream> {
    connect: Connector<S>,
    config: ReconnectConfig,
    backoff: Backoff,
    state: State<S>,
    /// The second event of a step: `Retrying` or `GaveUp` after `Disconnected` or
    /// `ConnectFailed`.
    queued: Option<ReconnectEvent>,
    stop: Arc<StopSignal>,
}

impl ReconnectingClient<MaybeTlsStream> {
    /// A client for a `ws://` (or, with the feature `rustls`, `wss://`) URL with default
    /// options and [`ReconnectConfig`]. It connects when first polled.
    pub fn new(url: &str) -> Result<ReconnectingClient<MaybeTlsStream>, Error> {
        ReconnectingClient::with_options(url, &ClientOptions::new(), ReconnectConfig::new())
    }

    /// A client for a `ws://` or `wss://` URL, each connection opened with `options` (copied:
    /// subprotocols, headers, `Origin`, proxy, TLS connector, [`Config`]) like
    /// [`WebSocket::connect_with`].
    ///
    /// Fails at once for an invalid URL ([`Error::Url`]), or a `wss://` one in a build without
    /// the feature `rustls` ([`Error::TlsRequired`]: use
    /// [`with_connector`](ReconnectingClient::with_connector) with a TLS stream of your own).
    pub fn with_options(
        url: &str,
        options: &ClientOptions<'_>,
        config: ReconnectConfig,
    ) -> Result<ReconnectingClient<MaybeTlsStream>, Error> {
        #[cfg(not(feature = "rustls"))]
        if Url::parse(url)?.is_secure() {
            return Err(Error::TlsRequired);
        }
        #[cfg(feature = "rustls")]
        Url::parse(url)?;
        let target = Arc::new(Target::new(url, options));
        Ok(ReconnectingClient::with_connector(config, move || {
            let target = target.clone();
            async move { target.connect().await }
        }))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReconnectingClient<S> {
    /// A client whose connections `connect` opens, over any stream — e.g. TLS for `wss://`:
    /// open TCP, wrap it, then [`WebSocket::client_with`]. The errors it returns go through
    /// [`ReconnectConfig::retry_connect`].
    pub fn with_connector<F, Fut>(config: ReconnectConfig, mut connect: F) -> ReconnectingClient<S>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<WebSocket<S>, Error>> + Send + 'static,
    {
        ReconnectingClient {
            connect: Box::new(move || Box::pin(connect())),
            config,
            backoff: Backoff::new(config.backoff, random::u64()),
            state: State::Waiting {
                attempt: 1,
                sleep: None,
            },
            queued: None,
            stop: Arc::default(),
        }
    }

    /// The next event; `None` after [`GaveUp`](ReconnectEvent::GaveUp) or a stop. Cancel-safe:
    /// an attempt in progress, a wait or a message half received carries on at the next call.
    pub async fn next(&mut self) -> Option<ReconnectEvent> {
        poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Stops reconnecting: closes the current connection with 1000 (reported by a last
    /// `Disconnected`), or ends the stream at once while connecting or waiting. Keep polling
    /// until the stream ends for the closing handshake to complete.
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// A handle to [`stop`](Self::stop) the client from another task.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            signal: self.stop.clone(),
        }
    }

    /// The current connection, if one is open.
    pub fn connection(&self) -> Option<&WebSocket<S>> {
        match &self.state {
            State::Connected { ws, .. } => Some(ws.as_ref()),
            _ => None,
        }
    }

    /// The current connection, to send on. Receive through [`next`](Self::next): messages
    /// read from the connection directly do not appear as events. Closing it yourself ends it
    /// like any closure: the policy decides whether to reconnect.
    pub fn connection_mut(&mut self) -> Option<&mut WebSocket<S>> {
        match &mut self.state {
            State::Connected { ws, .. } => Some(ws.as_mut()),
            _ => None,
        }
    }

    /// Whether a connection is open.
    pub fn is_connected(&self) -> bool {
        self.connection().is_some()
    }

    /// The backoff state: failed attempts since the last reset and the current bound.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<ReconnectEvent>> {
        if let Some(event) = self.queued.take() {
            return Poll::Ready(Some(event));
        }
        loop {
            let stopped = self.stop.poll_stopped(cx);
            match &mut self.state {
                State::Done => return Poll::Ready(None),
                State::Waiting { .. } | State::Connecting { .. } if stopped => {
                    self.state = State::Done;
                    return Poll::Ready(None);
                }
                State::Waiting { attempt, sleep } => {
                    if let Some(sleep) = sleep {
                        ready!(sleep.as_mut().poll(cx));
                    }
                    let attempt = *attempt;
                    self.state = State::Connecting {
                        attempt,
                        future: (self.connect)(),
                    };
                }
                State::Connecting { attempt, future } => {
                    let attempt = *attempt;
                    match ready!(future.as_mut().poll(cx)) {
                        Ok(ws) => {
                            self.state = State::Connected {
                                ws: Box::new(ws),
                                since: Instant::now(),
                                closing: false,
                            };
                            return Poll::Ready(Some(ReconnectEvent::Connected { attempt }));
                        }
                        Err(error) => {
                            self.queued = Some(self.after_failed_attempt(&error, attempt));
                            return Poll::Ready(Some(ReconnectEvent::ConnectFailed {
                                error,
                                attempt,
                            }));
                        }
                    }
                }
                State::Connected { ws, since, closing } => {
                    if stopped && !*closing {
                        *closing = true;
                        // Queues Close (1000) and arms the close timer, which bounds the rest;
                        // messages already on their way are still delivered below. (It fails
                        // only for an unsendable code, and does nothing once closing.)
                        let _ = ws.start_close(CloseCode::NORMAL, "");
                    }
                    let ended = match ready!(Pin::new(ws.as_mut()).poll_next(cx)) {
                        Some(Ok(message)) => {
                            return Poll::Ready(Some(ReconnectEvent::Message(message)))
                        }
                        Some(Err(Error::Closed(closure))) => Some(*closure),
                        // `recv` ends with the closure and reports nothing else; were it to,
                        // the closure would follow.
                        _ => ws.closure(),
                    };
                    let Some(closure) = ended else { continue };
                    let connected_for = since.elapsed();
                    let closing = *closing;
                    self.state = State::Done;
                    if !closing {
                        self.queued = Some(self.after_closure(&closure, connected_for));
                    }
                    return Poll::Ready(Some(ReconnectEvent::Disconnected {
                        closure,
                        connected_for,
                    }));
                }
            }
        }
    }

    /// Decides after a connection ended: `Retrying` or `GaveUp`.
    fn after_closure(&mut self, closure: &Closure, connected_for: Duration) -> ReconnectEvent {
        match self.backoff.after_closure(closure, connected_for) {
            Decision::Retry(delay) => self.wait(1, delay),
            Decision::Stop => self.give_up(GiveUpReason::Closure),
        }
    }

    /// Decides after connection attempt `attempt` failed: `Retrying` or `GaveUp`.
    fn after_failed_attempt(&mut self, error: &Error, attempt: u32) -> ReconnectEvent {
        if !(self.config.retry_connect)(error) {
            return self.give_up(GiveUpReason::ConnectError);
        }
        if self.config.max_attempts.is_some_and(|max| attempt >= max) {
            return self.give_up(GiveUpReason::MaxAttempts);
        }
        let delay = self.backoff.next_delay();
        self.wait(attempt.saturating_add(1), delay)
    }

    fn wait(&mut self, attempt: u32, delay: Duration) -> ReconnectEvent {
        self.state = State::Waiting {
            attempt,
            sleep: Some(Box::pin(tokio::time::sleep(delay))),
        };
        ReconnectEvent::Retrying { attempt, delay }
    }

    fn give_up(&mut self, reason: GiveUpReason) -> ReconnectEvent {
        self.state = State::Done;
        ReconnectEvent::GaveUp { reason }
    }
}

/// Events until the policy gives up or the client is stopped, then the end.
impl<S: AsyncRead + AsyncWrite + Unpin> Stream for ReconnectingClient<S> {
    type Item = ReconnectEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ReconnectEvent>> {
        self.get_mut().poll_event(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> FusedStream for ReconnectingClient<S> {
    fn is_terminated(&self) -> bool {
        matches!(self.state, State::Done) && self.queued.is_none()
    }
}

impl<S> fmt::Debug for ReconnectingClient<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } => "waiting",
            State::Connecting { .. } => "connecting",
            State::Connected { closing: false, .. } => "connected",
            State::Connected { closing: true, .. } => "closing",
            State::Done => "done",
        };
        f.debug_struct("ReconnectingClient")
            .field("state", &state)
            .field("config", &self.config)
            .field("backoff", &self.backoff)
            .field("stopped", &self.stop.stopped.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

/// What each connection of [`ReconnectingClient::with_options`] is opened with, owned.
#[derive(Debug)]
struct Target {
    url: String,
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
    origin: Option<String>,
    /// The proxy setting, owned: `None` for `FromEnv` (read again at every connect, so a
    /// changed environment takes effect), `Some(None)` direct, `Some(Some(url))` explicit.
    proxy: Option<Option<String>>,
    config: Config,
    #[cfg(feature = "rustls")]
    tls: Option<sockeye_core::adapter::tls::TlsConnector>,
}

impl Target {
    fn new(url: &str, options: &ClientOptions<'_>) -> Target {
        Target {
            url: url.to_owned(),
            protocols: options.protocols.iter().map(|p| (*p).to_owned()).collect(),
            headers: options
                .headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            origin: options.origin.map(str::to_owned),
            proxy: match options.proxy {
                ProxySetting::Direct => Some(None),
                ProxySetting::FromEnv => None,
                ProxySetting::Url(url) => Some(Some(url.to_owned())),
            },
            config: options.config,
            #[cfg(feature = "rustls")]
            tls: options.tls.cloned(),
        }
    }

    async fn connect(&self) -> Result<WebSocket<MaybeTlsStream>, Error> {
        let protocols: Vec<&str> = self.protocols.iter().map(String::as_str).collect();
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let mut options = ClientOptions::new()
            .with_config(self.config)
            .with_protocols(&protocols)
            .with_headers(&headers);
        if let Some(origin) = &self.origin {
            options = options.with_origin(origin);
        }
        options = options.with_proxy(match &self.proxy {
            None => ProxySetting::FromEnv,
            Some(None) => ProxySetting::Direct,
            Some(Some(url)) => ProxySetting::Url(url),
        });
        #[cfg(feature = "rustls")]
        if let Some(tls) = &self.tls {
            options = options.with_tls(tls);
        }
        WebSocket::connect_with(&self.url, &options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockeye_core::handshake::WriteError;
    use sockeye_core::url::UrlError;
    use std::io;

    fn status(code: u16) -> Error {
        Error::Handshake(HandshakeError::Response(ResponseError::Status(code)))
    }

    #[test]
    fn connect_errors_are_retried_unless_a_retry_would_repeat_them() {
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::TimedOut,
            io::ErrorKind::Other,
        ] {
            assert!(default_retry_connect(&Error::Io(kind.into())), "{kind:?}");
        }
        for code in [408, 429, 500, 502, 503, 504, 599] {
            assert!(default_retry_connect(&status(code)), "{code}");
        }
        for code in [200, 204, 301, 302, 307, 400, 401, 403, 404, 426, 499] {
            assert!(!default_retry_connect(&status(code)), "{code}");
        }
        for retried in [
            HandshakeError::Timeout,
            HandshakeError::Eof,
            HandshakeError::Response(ResponseError::AcceptMismatch),
            HandshakeError::Response(ResponseError::MissingUpgrade),
        ] {
            assert!(
                default_retry_connect(&Error::Handshake(retried)),
                "{retried:?}"
            );
        }
        let own_request = HandshakeError::Write(WriteError::InvalidResource);
        assert!(!default_retry_connect(&Error::Handshake(own_request)));
        assert!(!default_retry_connect(&Error::TlsRequired));
        assert!(!default_retry_connect(&Error::Url(UrlError::MissingScheme)));
    }

    #[test]
    fn invalid_urls_and_wss_without_tls_fail_at_construction() {
        assert!(matches!(
            ReconnectingClient::new("http://example.com/"),
            Err(Error::Url(_))
        ));
        // Built without the feature `rustls`, wss:// cannot be served; with it, it can.
        let secure = ReconnectingClient::new("wss://example.com/");
        if cfg!(feature = "rustls") {
            assert!(secure.is_ok());
        } else {
            assert!(matches!(secure, Err(Error::TlsRequired)));
        }
    }

    #[test]
    fn a_tls_handshake_cut_short_is_retried_and_a_bad_certificate_is_not() {
        assert!(default_retry_connect(&Error::Tls(TlsError::HandshakeEof)));
        assert!(!default_retry_connect(&Error::Tls(TlsError::UnknownIssuer)));
        assert!(!default_retry_connect(&Error::Tls(TlsError::Expired)));
    }
}
