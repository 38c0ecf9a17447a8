//! # sockeye-embedded
//!
//! The [sockeye](sockeye_core) WebSocket engine on microcontrollers: `no_std`, no allocator,
//! over any `embedded-io-async` transport — embassy-net's `TcpSocket`, a TLS stream on top of
//! it, a UART.
//!
//! - [`connect`] (client) and [`accept`] (server) do the opening handshake in a caller-owned
//!   [`Storage`] (buffers and engine state, on the stack or in a `static`) and return a
//!   [`WebSocket`] borrowing it; bytes that followed the handshake in the same read are kept
//!   for the engine.
//! - [`WebSocket::receive`] returns whole messages assembled in the receive buffer;
//!   [`WebSocket::receive_event`] streams messages of any size as chunks.
//! - [`WebSocket::send_text`], [`send_binary`](WebSocket::send_binary),
//!   [`send_ping`](WebSocket::send_ping), [`send_fragment`](WebSocket::send_fragment).
//! - [`WebSocket::close`] does the full closing handshake and returns the [`Closure`].
//! - The close timeout and keepalive of [`Config`] run on a [`Clock`]; feature `embassy-time`
//!   provides `EmbassyClock`.
//! - Every connection ends with exactly one [`Closure`], reported as [`Error::Closed`]: clean,
//!   failed with the code we sent, or 1006 with its cause — transport EOF, transport error,
//!   close or keepalive timeout — and where in the protocol it happened.
//! - The end follows the rule every sockeye adapter follows: *write what is pending, then
//!   close*. The Close frame that fails a connection (1002, 1007, 1009, …) is written before
//!   [`Error::Closed`] is returned; then drop the transport (or take it back with
//!   [`WebSocket::into_transport`]) to close it.
//!
//! The adapter only moves bytes and time; all protocol decisions are the engine's
//! ([`sockeye_core::Connection`]).
//!
//! # Example
//!
//! A device that reports a reading and waits for the answer, over any transport (embassy-net's
//! `TcpSocket` in practice, see the README) and any [`Clock`]:
//!
//! ```no_run
//! use embedded_io_async::{Read, Write};
//! use sockeye_embedded::{connect, ClientRequest, Clock, CloseCode, Config, Error, Message, Storage, Url};
//!
//! async fn report<T: Read + Write, C: Clock>(socket: T, clock: C, random: [u8; 24]) {
//!     // Buffers and engine state: on this task's stack here, or in a `static`.
//!     let mut storage = Storage::<1024, 512>::new();
//!     let url = Url::parse("ws://192.168.1.10:8080/telemetry").unwrap();
//!     let config = Config::new().with_max_message_size(1024); // refuse (1009) what cannot fit
//!     let Ok((mut ws, _protocol)) =
//!         connect(socket, clock, &mut storage, ClientRequest::new(&url), random, config).await
//!     else {
//!         return; // HandshakeError: refused, not a WebSocket server, EOF...
//!     };
//!     ws.send_text("{\"temperature\": 21.5}").await.ok();
//!     match ws.receive().await {
//!         Ok(Message::Text(reply)) => { /* act on it */ let _ = reply; }
//!         Ok(Message::Binary(_)) => {}
//!         Err(Error::Closed) => {
//!             // Clean, failed, or 1006 with its cause (EOF, reset, timeout) and phase.
//!             let closure = ws.closure().unwrap();
//!             let _ = (closure.code(), closure.kind());
//!             return;
//!         }
//!         Err(_) => {}
//!     }
//!     let closure = ws.close(CloseCode::NORMAL, "").await;
//!     let _ = closure; // Ok(clean closure), or how it ended otherwise
//! }
//! ```
//!
//! Feature `defmt`: `defmt::Format` for the adapter's types, and a log line when a connection
//! opens and when it ends.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod error;
mod handshake;
#[cfg(feature = "deflate")]
mod inflate;
mod storage;
mod timer;
mod websocket;

pub use clock::Clock;
#[cfg(feature = "embassy-time")]
pub use clock::EmbassyClock;
pub use error::Error;
#[cfg(feature = "deflate")]
pub use handshake::connect_deflate;
pub use handshake::{accept, connect, HandshakeError, MAX_REQUEST_HEADERS, MAX_RESPONSE_HEADERS};
#[cfg(feature = "deflate")]
pub use inflate::InflateStorage;
pub use storage::Storage;
pub use websocket::{Message, OwnedMessage, WebSocket, MIN_TX_BUFFER};

pub use heapless;

/// The README's examples that are not `ignore`d — the permessage-deflate one — compiled as
/// doc tests (`cargo test -p sockeye-embedded --features deflate --doc`).
#[cfg(all(doctest, feature = "deflate"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use sockeye_core;
pub use sockeye_core::handshake::{Accept, ClientRequest, Reject, Request};
pub use sockeye_core::url::Url;
pub use sockeye_core::{
    CloseCode, Closure, ClosureKind, Config, Connection, DataChunk, Event, FailureEnd, Instant,
    Keepalive, MessageKind,
};
