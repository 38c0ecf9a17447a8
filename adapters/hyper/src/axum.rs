//! An axum extractor shaped like `axum::extract::ws::WebSocketUpgrade` (feature `axum`), over
//! HTTP/1.1 and HTTP/2 (RFC 8441), for routes registered with `any(...)` (or `get` for
//! HTTP/1.1 only: HTTP/2 WebSockets arrive as `CONNECT`).
//!
//! ```
//! use axum_core::response::Response;
//! use sockeye_hyper::axum::{WebSocket, WebSocketUpgrade};
//! use sockeye_tokio::Error;
//!
//! async fn ws_handler(ws: WebSocketUpgrade) -> Response {
//!     ws.protocols(["chat.v2"])
//!         .max_message_size(1 << 20)
//!         .on_upgrade(echo)
//! }
//!
//! async fn echo(mut socket: WebSocket) {
//!     loop {
//!         match socket.recv().await {
//!             Ok(message) => {
//!                 if socket.send(message).await.is_err() {
//!                     return;
//!                 }
//!             }
//!             Err(Error::Closed(closure)) => return println!("{closure}"),
//!             Err(_) => return,
//!         }
//!     }
//! }
//! // Router::new().route("/ws", any(ws_handler))
//! ```
//!
//! # Migrating from `axum::extract::ws`
//!
//! Change the import from `axum::extract::ws::{WebSocket, WebSocketUpgrade}` to
//! `sockeye_hyper::axum::{WebSocket, WebSocketUpgrade}`; the extractor's methods keep their
//! names (`protocols`, `requested_protocols`, `selected_protocol`, `max_message_size`,
//! `max_frame_size`, `read_buffer_size`, `max_write_buffer_size`, `on_failed_upgrade`,
//! `on_upgrade`). What differs:
//!
//! - The socket is [`sockeye_tokio::WebSocket`]: `recv()` returns `Result<Message, Error>`
//!   instead of `Option<Result<..>>`, and the end of the connection is
//!   `Err(Error::Closed(closure))` with the [`Closure`](sockeye_core::Closure) that says how
//!   and why it ended. Pings are answered and the closing handshake is completed by the
//!   engine; `Message` has `Text` and `Binary` only.
//! - `requested_protocols` yields `&str` items (the client's list split at commas), not
//!   whole header values.
//! - There is no `set_selected_protocol`: a subprotocol can only be selected from the
//!   client's offer, with [`protocols`](WebSocketUpgrade::protocols).
//! - No `accept_unmasked_frames`: unmasked client frames always fail the connection with
//!   1002 (RFC 6455 §5.1).
//! - Extensions (permessage-deflate) are negotiated by sockeye's core, as for its other
//!   adapters.

use std::future::Future;

use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::header::HeaderValue;
use http::request::Parts;
use sockeye_core::adapter::{Config, Error};
use sockeye_core::handshake::parts::HttpVersion;

use crate::server::{Upgrade, UpgradeError};
use crate::stream::UpgradedStream;

/// The WebSocket handed to [`WebSocketUpgrade::on_upgrade`]'s callback.
pub type WebSocket = sockeye_tokio::WebSocket<UpgradedStream>;

/// The rejection of [`WebSocketUpgrade`]: the request is not a WebSocket handshake (with the
/// status the core assigns: 400, 405, 426) or cannot be upgraded (426).
pub type WebSocketUpgradeRejection = UpgradeError;

impl IntoResponse for UpgradeError {
    fn into_response(self) -> Response {
        self.response::<Body>()
    }
}

/// What to do when the upgrade fails after the response was sent (the client went away
/// before hyper handed over the connection).
pub trait OnFailedUpgrade: Send + 'static {
    /// Called with the error.
    fn call(self, error: Error);
}

impl<F> OnFailedUpgrade for F
where
    F: FnOnce(Error) + Send + 'static,
{
    fn call(self, error: Error) {
        self(error)
    }
}

/// The default [`OnFailedUpgrade`]: ignores the error.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct DefaultOnFailedUpgrade;

impl OnFailedUpgrade for DefaultOnFailedUpgrade {
    fn call(self, _error: Error) {}
}

/// Extractor for a WebSocket handshake over HTTP/1.1 (`GET` + `Upgrade`) or HTTP/2
/// (extended `CONNECT`, RFC 8441). All checks are the core's; see the [module](self) docs.
#[derive(Debug)]
#[must_use = "answer with `on_upgrade`"]
pub struct WebSocketUpgrade<F = DefaultOnFailedUpgrade> {
    upgrade: Upgrade,
    on_failed_upgrade: F,
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade<DefaultOnFailedUpgrade> {
    type Rejection = WebSocketUpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(WebSocketUpgrade {
            upgrade: Upgrade::from_parts(parts)?,
            on_failed_upgrade: DefaultOnFailedUpgrade,
        })
    }
}

impl<F> WebSocketUpgrade<F> {
    /// Selects the subprotocol: the first of `protocols` (in the server's order of preference)
    /// that the client offered, or none. An unoffered subprotocol cannot be selected.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.upgrade = self.upgrade.protocols(protocols);
        self
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn requested_protocols(&self) -> impl Iterator<Item = &str> {
        self.upgrade.requested_protocols()
    }

    /// The subprotocol selected by [`protocols`](Self::protocols), if any.
    pub fn selected_protocol(&self) -> Option<&HeaderValue> {
        self.upgrade.selected_protocol()
    }

    /// The HTTP version the WebSocket will run over.
    pub fn http_version(&self) -> HttpVersion {
        self.upgrade.http_version()
    }

    /// The whole configuration of the connection (limits, buffers, timers).
    pub fn config(mut self, config: Config) -> Self {
        self.upgrade = self.upgrade.config(config);
        self
    }

    /// The largest message accepted, in bytes (default 64 MiB); a larger one fails the
    /// connection with 1009.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        let engine = &mut self.upgrade.config_mut().engine;
        engine.max_message_size = bytes as u64;
        self
    }

    /// The largest frame payload accepted, in bytes (default 16 MiB); a larger one fails the
    /// connection with 1009.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        let engine = &mut self.upgrade.config_mut().engine;
        engine.max_frame_payload = bytes as u64;
        self
    }

    /// The most one read of the stream takes in (default 64 KiB).
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.upgrade.config_mut().read_buffer_size = bytes;
        self
    }

    /// The write buffer's high-water mark: above it, sending waits for the peer to read
    /// (default 128 KiB).
    pub fn max_write_buffer_size(mut self, bytes: usize) -> Self {
        self.upgrade.config_mut().write_high_water = bytes;
        self
    }

    /// What to do if the upgrade fails after the response went out.
    pub fn on_failed_upgrade<C: OnFailedUpgrade>(self, callback: C) -> WebSocketUpgrade<C> {
        WebSocketUpgrade {
            upgrade: self.upgrade,
            on_failed_upgrade: callback,
        }
    }

    /// The response (`101` over HTTP/1.1, `200` over HTTP/2); `callback` runs on a new task
    /// with the WebSocket once hyper has handed over the stream.
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
        F: OnFailedUpgrade,
    {
        let (response, upgrading) = self.upgrade.into_response::<Body>();
        let on_failed_upgrade = self.on_failed_upgrade;
        tokio::spawn(async move {
            match upgrading.await {
                Ok(socket) => callback(socket).await,
                Err(error) => on_failed_upgrade.call(error),
            }
        });
        response
    }
}
