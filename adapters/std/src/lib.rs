//! # sockeye-std
//!
//! Blocking WebSockets (RFC 6455) over any `std::io` stream, driven by the sans-IO
//! [`sockeye_core`] engine.
//!
//! - [`WebSocket::connect`] opens a `ws://` connection over TCP, or a `wss://` one with the
//!   feature `rustls` (roots from `webpki-roots` or `platform-verifier`, or your own
//!   [`TlsConnector`](tls) in the options; see [`tls`]); [`WebSocket::client`] runs the client
//!   handshake over a stream you opened (any TLS stream, see [`GenericTransport`]); [`WebSocket::accept`] and [`WebSocket::accept_with`] run the server
//!   handshake, the latter letting you inspect the request and pick a subprotocol or reject it.
//! - [`WebSocket::recv`] returns whole messages, [`WebSocket::recv_event`] zero-copy chunks of
//!   arbitrarily large ones; [`WebSocket::send`] and friends encode into one write buffer that
//!   is flushed once per burst, not once per message.
//! - Keepalive and the close timeout run on the stream's read timeout; the engine answers
//!   pings and completes the closing handshake.
//! - Every connection ends with one [`Closure`] that says how and why: after the last message,
//!   `recv` returns [`Error::Closed`]. An abrupt end reads like
//!   `closed abnormally (1006): the peer closed the transport without a Close frame in the
//!   middle of a binary frame (512 of 4096 payload bytes received), …`.
//!
//! ```
//! use std::net::TcpListener;
//! use sockeye_std::{CloseCode, Error, Message, WebSocket};
//!
//! // A server thread that echoes one connection...
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = std::thread::spawn(move || -> Result<(), Error> {
//!     let (stream, _) = listener.accept()?;
//!     let mut ws = WebSocket::accept(stream)?;
//!     loop {
//!         match ws.recv() {
//!             Ok(message) => ws.send(message)?,
//!             Err(Error::Closed(closure)) => {
//!                 println!("server: {closure}");
//!                 return Ok(());
//!             }
//!             Err(e) => return Err(e),
//!         }
//!     }
//! });
//!
//! // ...and a client.
//! let mut ws = WebSocket::connect(&format!("ws://{addr}/"))?;
//! ws.send_text("hello")?;
//! assert_eq!(ws.recv()?, Message::Text("hello".into()));
//! let closure = ws.close(CloseCode::NORMAL, "bye")?;
//! assert!(closure.is_clean());
//! server.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod handshake;
pub mod tls;
mod transport;
mod websocket;

// The configuration, the error type, the owned-buffer handshake and key randomness live in the
// core (`sockeye_core::adapter`), below every adapter; re-exported here under their old paths.
pub use sockeye_core::adapter::proxy::{ProxyError, ProxySetting};
pub use sockeye_core::adapter::tls::TlsError;
#[cfg(feature = "rustls")]
pub use sockeye_core::adapter::tls::{TlsAcceptor, TlsConnector};
#[cfg(feature = "deflate")]
pub use sockeye_core::adapter::Compression;
pub use sockeye_core::adapter::{
    random, transport_end, upgrade, ClientOptions, Config, Decision, Error, HandshakeError,
    TransportEnd,
};
pub use tls::MaybeTlsStream;
pub use transport::{GenericTransport, SetTimeout, Transport};
pub use websocket::WebSocket;

pub use sockeye_core;
pub use sockeye_core::handshake::Request;
pub use sockeye_core::{
    AbnormalCause, CloseCode, CloseFrame, Closure, ClosureKind, Config as EngineConfig, DataChunk,
    Event, FailureEnd, Frame, Initiator, Keepalive, Message, MessageKind, Phase, Role, SendError,
    TransportError,
};
