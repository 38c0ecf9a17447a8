//! # sockeye
//!
//! A strict, fast WebSocket (RFC 6455) library built on a sans-IO engine that tells you *why*
//! a connection ended.
//!
//! This facade re-exports the engine, [`sockeye_core`]; the adapters for blocking `std::io`,
//! tokio and `embedded-io-async` join it behind features.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use sockeye_core::*;
