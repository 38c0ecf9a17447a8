//! # sockeye-core
//!
//! A sans-IO, `no_std`, allocation-free RFC 6455 WebSocket engine.
//!
//! The engine never touches a socket or a clock: the caller hands in received bytes and the
//! current time, and takes out events and bytes to transmit. That makes the same protocol logic
//! usable from blocking `std::io`, from tokio, and from `embedded-io-async` on a microcontroller,
//! and makes every transition testable without a network.
//!
//! - [`handshake`] and [`url`]: the HTTP/1.1 upgrade, client and server (§4).
//! - [`Connection`]: the protocol after the upgrade — frames, messages, UTF-8, limits, ping/pong,
//!   the closing handshake, keepalive and close timers, and the [`Closure`] that says how the
//!   connection ended.
//! - [`frame`], [`mask`], [`utf8`], [`close`]: the building blocks, usable on their own.
//! - With `alloc`: `session`, the buffered driver every adapter over a byte stream shares,
//!   and `Message`; with `std`: `adapter`, their configuration, owned-buffer handshake and
//!   error type. The adapters depend on the core alone.
//!
//! # Buffers and `heapless`
//!
//! The engine holds fixed-size state only (`size_of::<Connection>()` ≤ 512 bytes, a test says
//! so): events borrow the caller's buffer, and only control payloads (≤ 125 bytes) are copied.
//! [`heapless`](https://docs.rs/heapless) is used where a bounded vector is what the code
//! means: the outbox of the control payload the engine owes the peer is a
//! `heapless::Vec<u8, 125, u8>` (the bound in the type, a one-byte length), and the embedded
//! adapter receives whole messages into `heapless::Vec`/`String`. It is not used for the types
//! applications copy around — [`ControlPayload`] and [`CloseFrame`] (and so [`Event`] and
//! [`Closure`]) are `Copy`, which a `heapless::Vec` cannot be since it implements `Drop` — nor
//! for the scratch buffer into which a frame header trickles byte by byte at known offsets.
#![no_std]
#![deny(unsafe_code)] // one exception, `mask::simd`: a benchmark showed it pays
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

#[cfg(feature = "std")]
pub mod adapter;
pub mod backoff;
pub mod close;
pub mod config;
pub mod connection;
mod copy;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
#[cfg(feature = "inflate")]
pub mod inflate;
pub mod mask;
#[cfg(feature = "alloc")]
pub mod message;
#[cfg(feature = "alloc")]
pub mod session;
pub mod time;
pub mod url;
pub mod utf8;

pub use close::{
    AbnormalCause, CloseCode, CloseFrame, Closure, ClosureKind, FailureEnd, Http2ErrorCode,
    Initiator, Phase, TransportError,
};
pub use config::{Config, Keepalive, Role};
pub use connection::{
    Connection, ConnectionState, ControlPayload, DataChunk, Event, Frame, MessageKind, Read,
};
pub use error::{ProtocolError, SendError};
pub use frame::OpCode;
#[cfg(feature = "alloc")]
pub use message::{Message, MessageAssembler};
#[cfg(feature = "alloc")]
pub use session::{Session, SessionConfig};
pub use time::Instant;

/// The example in the crate's README.md, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
