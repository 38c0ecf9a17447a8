//! # sockeye-tokio
//!
//! Async WebSockets (RFC 6455) for tokio, driven by the sans-IO [`sockeye_core`] engine.
//!
//! - [`WebSocket::connect`] opens a `ws://` connection over TCP; [`WebSocket::client`] runs the
//!   client handshake over any `AsyncRead + AsyncWrite` stream (a TLS stream for `wss://`);
//!   [`WebSocket::accept`] and [`WebSocket::accept_with`] run the server handshake, the latter
//!   letting you inspect the request and pick a subprotocol or reject it.
//! - Receive with [`WebSocket::recv`] (cancel-safe) or as a `futures` [`Stream`]; send with
//!   [`WebSocket::send`] or as a [`Sink`]; [`WebSocket::split`] gives a [`ReadHalf`] and a
//!   [`WriteHalf`] for different tasks.
//! - Outgoing frames are batched into one write buffer, flushed once per burst; a bounded
//!   buffer makes senders wait for a slow peer instead of growing memory.
//! - Keepalive, the close timeout and the handshake timeout run on `tokio::time` (the runtime
//!   needs its time driver, which `#[tokio::main]` enables); the engine answers pings and
//!   completes the closing handshake.
//! - Every connection ends with one [`Closure`] that says how and why: after the last message,
//!   `recv` returns [`Error::Closed`].
//! - [`ReconnectingClient`] reconnects after a connection ends or an attempt fails, with the
//!   core's exponential backoff and jitter ([`BackoffConfig`]), and reports each closure,
//!   attempt and delay as a [`ReconnectEvent`] (see [`reconnect`]).
//!
//! ```
//! use sockeye_tokio::{CloseCode, Error, Message, WebSocket};
//! use tokio::net::TcpListener;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let server = tokio::spawn(async move {
//!     let (stream, _) = listener.accept().await?;
//!     let mut ws = WebSocket::accept(stream).await?;
//!     loop {
//!         match ws.recv().await {
//!             Ok(message) => ws.send(message).await?,
//!             Err(Error::Closed(closure)) => return Ok::<_, Error>(*closure),
//!             Err(e) => return Err(e),
//!         }
//!     }
//! });
//!
//! let mut ws = WebSocket::connect(&format!("ws://{addr}/")).await?;
//! ws.send_text("hello").await?;
//! assert_eq!(ws.recv().await?, Message::Text("hello".into()));
//! let closure = ws.close(CloseCode::NORMAL, "bye").await?;
//! assert!(closure.is_clean());
//! println!("client: {closure}");
//! println!("server: {}", server.await??);
//! # Ok(()) }
//! ```
//!
//! [`Stream`]: futures_core::Stream
//! [`Sink`]: futures_sink::Sink
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod handshake;
mod inner;
mod pool;
pub mod reconnect;
mod split;
pub mod tls;
mod websocket;

pub use reconnect::{
    default_retry_connect, GiveUpReason, ReconnectConfig, ReconnectEvent, ReconnectingClient,
    StopHandle,
};
pub use sockeye_core::adapter::tls::TlsError;
#[cfg(feature = "rustls")]
pub use sockeye_core::adapter::tls::{TlsAcceptor, TlsConnector};
pub use split::{ReadHalf, ReuniteError, WriteHalf};
pub use tls::MaybeTlsStream;
pub use websocket::WebSocket;

pub use sockeye_core;
pub use sockeye_core::adapter::proxy::{ProxyError, ProxySetting};
#[cfg(feature = "deflate")]
pub use sockeye_core::adapter::Compression;
pub use sockeye_core::adapter::{ClientOptions, Config, Decision, Error, HandshakeError};
pub use sockeye_core::backoff::{Backoff, BackoffConfig};
pub use sockeye_core::handshake::Request;
pub use sockeye_core::{
    AbnormalCause, CloseCode, CloseFrame, Closure, ClosureKind, Config as EngineConfig, DataChunk,
    Event, FailureEnd, Frame, Initiator, Keepalive, Message, MessageKind, Phase, Role, SendError,
    TransportError,
};
