//! # sockeye-hyper
//!
//! WebSockets inside hyper 1.x and axum applications, over HTTP/1.1 and over HTTP/2
//! (RFC 8441), run by the sockeye engine through the tokio adapter
//! ([`sockeye_tokio::WebSocket`]).
//!
//! - **Server**: [`Upgrade::from_request`] checks an incoming `http::Request` — an HTTP/1.1
//!   `GET` with `Upgrade: websocket`, or an HTTP/2 `CONNECT` with `:protocol: websocket` —
//!   with the core's handshake code ([`sockeye_core::handshake::parts`]); you pick the
//!   subprotocol among the client's offers ([`Upgrade::protocols`]); [`Upgrade::into_response`]
//!   gives the response (`101` with `Sec-WebSocket-Accept`, or `200`) and a future that yields
//!   the WebSocket over hyper's upgraded stream.
//! - **axum** (feature `axum`): `axum::WebSocketUpgrade`, an extractor shaped like axum's
//!   own, with a migration note.
//! - **HTTP/2 client**: [`connect_h2`] opens a WebSocket as an extended `CONNECT` stream on a
//!   hyper HTTP/2 client connection; several share one connection.
//! - **Closures over HTTP/2**: the stream ([`UpgradedStream`]) tells the engine whether the
//!   HTTP/2 *stream* was reset ([`TransportError::Http2StreamReset`], other WebSockets on the
//!   connection live on) or the whole *connection* went away
//!   ([`TransportError::Http2ConnectionLost`]).
//!
//! A hyper server must enable upgrades: `serve_connection_with_upgrades` (hyper-util's auto
//! builder) or `.with_upgrades()` for HTTP/1.1, and `http2().enable_connect_protocol()` for
//! HTTP/2 (browsers only try RFC 8441 when the server's SETTINGS allow it).
//!
//! [`TransportError::Http2StreamReset`]: sockeye_core::TransportError::Http2StreamReset
//! [`TransportError::Http2ConnectionLost`]: sockeye_core::TransportError::Http2ConnectionLost
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
mod client;
mod server;
mod stream;

pub use client::connect_h2;
pub use server::{Upgrade, UpgradeError, Upgrading};
pub use sockeye_core::handshake::parts::HttpVersion;
pub use stream::UpgradedStream;

pub use sockeye_core;
pub use sockeye_tokio;
