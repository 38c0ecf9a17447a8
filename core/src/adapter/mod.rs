//! What every adapter over a `std` byte stream shares (feature `std`), below all of them: the
//! configuration ([`Config`], [`ClientOptions`], the server's [`Decision`]), the opening
//! handshake with owned buffers ([`upgrade`]), the common [`Error`], how an `io::Error` ends a
//! transport ([`transport_end`]), unpredictable numbers for keys ([`random`]), and HTTP
//! CONNECT proxies ([`proxy`]), and TLS ([`tls`]: what its failures mean; with the feature
//! `rustls`, the configurations).
//!
//! It is sans-IO like the rest of the core — nothing here reads, writes or sleeps — so the
//! blocking adapter (`sockeye-std`), the tokio adapter (`sockeye-tokio`) and any future one
//! (a hyper integration, say) build on it without depending on each other. It needs `std`
//! rather than just an allocator because the error type carries `std::io::Error` and the key
//! generator seeds itself from std's OS-keyed hasher; the allocation-only parts
//! ([`Session`](crate::Session), [`Message`](crate::Message)) stay under `alloc`, and the
//! embedded adapter, which has neither, uses the allocation-free core directly.

mod config;
mod error;
mod extensions;
pub mod proxy;
pub mod random;
pub mod tls;
pub mod upgrade;

#[cfg(feature = "deflate")]
pub use config::Compression;
pub use config::{ClientOptions, Config, Decision};
pub use error::{transport_end, Error, HandshakeError, TransportEnd, TransportFailure};
pub use extensions::negotiate_extensions;
