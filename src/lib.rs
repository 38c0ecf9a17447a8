//! # sockeye
//!
//! A strict, fast WebSocket (RFC 6455) library built on a sans-IO engine that tells you *why*
//! a connection ended.
//!
//! This facade re-exports the engine, [`sockeye_core`], and the adapters behind features:
//! `std` (default) as [`blocking`], `tokio` as `sockeye::tokio`, `embedded` as
//! `sockeye::embedded`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use sockeye_core::*;

/// The blocking `std::io` adapter ([`sockeye_std`]).
#[cfg(feature = "std")]
pub use sockeye_std as blocking;

/// The tokio adapter ([`sockeye_tokio`]).
#[cfg(feature = "tokio")]
pub use sockeye_tokio as tokio;

/// The `embedded-io-async` adapter ([`sockeye_embedded`]).
#[cfg(feature = "embedded")]
pub use sockeye_embedded as embedded;

/// hyper 1.x and axum integration: HTTP/1.1 upgrades and WebSockets over HTTP/2 (RFC 8441)
/// (feature `hyper`; the axum extractor with `axum`).
#[cfg(feature = "hyper")]
pub use sockeye_hyper as hyper;

/// The examples in README.md, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
