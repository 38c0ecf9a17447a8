//! Errors of the adapters, and how a connection's end is reported.

use std::boxed::Box;
use std::fmt;
use std::io;

use crate::handshake::{RequestError, ResponseError, WriteError};
use crate::url::UrlError;

use super::proxy::ProxyError;
use super::tls::TlsError;
use crate::{Closure, Instant, SendError, Session, TransportError};

/// What went wrong, or how the connection ended.
///
/// # How a connection ends
///
/// Every connection ends with exactly one [`Closure`] from the engine — a clean closing
/// handshake, a protocol violation we failed the connection for, or an abnormal end (1006)
/// with its cause and the protocol phase it happened in. The adapters never turn an ending
/// into a bare I/O error:
///
/// - `recv` returns every message that was completely received, then `Err(Error::Closed(closure))`;
///   end of stream and transport errors (reset, broken pipe, …) are handed to the engine,
///   which turns them into that closure.
/// - From then on every call that needs the connection (`recv`, `send`, `flush`, …) returns
///   `Err(Error::Closed(closure))` again, with the same closure; `close` returns `Ok(closure)`.
/// - [`Error::Send`] with [`SendError::Closing`] means the closing handshake has started (or the
///   transport failed while received input was still being delivered): nothing more can be
///   sent, but `recv` still returns what arrived, then the closure.
///
/// The other variants are failures outside an open connection (URL, connecting, the opening
/// handshake) or misuse.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The connection is over; the closure says how and why. Returned after the last message,
    /// and by every call after that. (Boxed: a closure carries the peer's close reason inline,
    /// and keeping `Error` small keeps every `Result` that can carry it small.)
    Closed(Box<Closure>),
    /// The engine refused to encode a message: the closing handshake has started, a control
    /// payload exceeds 125 bytes, a close code may not be sent, … The connection is unchanged.
    Send(SendError),
    /// The URL is not a valid `ws://` or `wss://` URL.
    Url(UrlError),
    /// `connect` was given a `wss://` URL but was built without TLS (the feature `rustls` and
    /// one with roots). Enable them, or wrap a TLS stream yourself and use `client`.
    TlsRequired,
    /// The TLS session could not be set up: the server's certificate was not trusted, the peer
    /// refused the handshake, … (the [`TlsError`] says which, and what to check).
    Tls(TlsError),
    /// The opening handshake failed.
    Handshake(HandshakeError),
    /// The HTTP proxy could not be used: its URL, its refusal (with the status), or its
    /// demand for credentials.
    Proxy(ProxyError),
    /// An I/O error outside an open connection: connecting, or the opening handshake. Also a
    /// write that failed while received input is still being delivered (`recv` then returns it
    /// and the closure), and `WouldBlock` from a non-blocking stream.
    Io(io::Error),
}

impl Error {
    /// [`Error::Closed`] with `closure`.
    pub fn closed(closure: Closure) -> Error {
        Error::Closed(Box::new(closure))
    }

    /// The closure, if this error reports the end of the connection.
    pub fn closure(&self) -> Option<&Closure> {
        match self {
            Error::Closed(c) => Some(c),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed(c) => write!(f, "connection closed: {c}"),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::Url(e) => write!(f, "invalid WebSocket URL: {e}"),
            Error::TlsRequired => f.write_str(
                "wss:// needs TLS, which this build of connect() does not do: enable the feature \
                 tls-platform-verifier or tls-webpki-roots, or open a TLS stream and use client()",
            ),
            Error::Tls(e) => write!(f, "TLS: {e}"),
            Error::Handshake(e) => write!(f, "opening handshake failed: {e}"),
            Error::Proxy(e) => write!(f, "proxy: {e}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Send(e) => Some(e),
            Error::Url(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Proxy(e) => Some(e),
            Error::Tls(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::Closed(_) | Error::TlsRequired => None,
        }
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Error {
        Error::Handshake(e)
    }
}

impl From<ProxyError> for Error {
    fn from(e: ProxyError) -> Error {
        Error::Proxy(e)
    }
}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Error {
        Error::Tls(e)
    }
}

impl From<UrlError> for Error {
    fn from(e: UrlError) -> Error {
        Error::Url(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

/// Why the opening handshake failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Client: the server's response is not a valid `101 Switching Protocols` (it refused
    /// with another status, or broke a rule of RFC 6455 §4.1).
    Response(ResponseError),
    /// Server: the client's request is not a valid opening handshake; it was answered with the
    /// error's HTTP status ([`RequestError::status`]) and the connection closed.
    Request(RequestError),
    /// Server: the application rejected the request with this HTTP status.
    Rejected {
        /// The status sent.
        status: u16,
    },
    /// Our own request or response could not be written: an invalid subprotocol, header or
    /// status was given, or the server chose a subprotocol the client had not offered. A
    /// server answers 500 and closes.
    Write(WriteError),
    /// The peer closed the connection before the handshake completed.
    Eof,
    /// The handshake did not complete within [`Config::handshake_timeout`](super::Config::handshake_timeout).
    Timeout,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Response(e) => write!(f, "invalid server response: {e}"),
            HandshakeError::Request(e) => {
                write!(f, "invalid client request (answered {}): {e}", e.status())
            }
            HandshakeError::Rejected { status } => {
                write!(
                    f,
                    "the application rejected the request with status {status}"
                )
            }
            HandshakeError::Write(e) => write!(f, "cannot write the handshake: {e}"),
            HandshakeError::Eof => {
                f.write_str("the peer closed the connection during the opening handshake")
            }
            HandshakeError::Timeout => f.write_str("the opening handshake timed out"),
        }
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HandshakeError::Response(e) => Some(e),
            HandshakeError::Request(e) => Some(e),
            HandshakeError::Write(e) => Some(e),
            _ => None,
        }
    }
}

/// How a failed read or write of the transport is reported to the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportEnd {
    /// The stream ended.
    Eof,
    /// The transport failed.
    Error(TransportError),
}

impl TransportEnd {
    /// Tells the session the transport ended this way.
    pub fn report_to(self, session: &mut Session, now: Instant) {
        match self {
            TransportEnd::Eof => session.handle_eof(now),
            TransportEnd::Error(e) => session.handle_transport_error(e, now),
        }
    }
}

/// An `io::Error` payload by which a stream says exactly how it failed, when its
/// [`io::ErrorKind`] cannot: a stream that carries a WebSocket over an HTTP/2 stream returns
/// `io::Error::other(TransportFailure(TransportError::Http2StreamReset { .. }))`, and
/// [`transport_end`] reports that cause instead of guessing from the kind.
///
/// ```
/// use std::io;
/// use sockeye_core::adapter::{transport_end, TransportEnd, TransportFailure};
/// use sockeye_core::TransportError;
///
/// let e = io::Error::other(TransportFailure(TransportError::Http2ConnectionLost));
/// assert_eq!(transport_end(&e), TransportEnd::Error(TransportError::Http2ConnectionLost));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportFailure(pub TransportError);

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            TransportError::Http2StreamReset { code } => write!(
                f,
                "the HTTP/2 stream was reset with error code {code}; the connection may still be up"
            ),
            TransportError::Http2ConnectionLost => f.write_str(
                "the HTTP/2 connection went away; every stream on it ended, open a new connection",
            ),
            other => write!(f, "the transport failed: {other:?}"),
        }
    }
}

impl std::error::Error for TransportFailure {}

/// Maps an I/O error that ended the transport to what the engine records: a
/// [`TransportFailure`] inside the error says it exactly, otherwise the error's kind decides.
pub fn transport_end(error: &io::Error) -> TransportEnd {
    use io::ErrorKind as K;
    if let Some(TransportFailure(cause)) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TransportFailure>())
    {
        return TransportEnd::Error(*cause);
    }
    TransportEnd::Error(match error.kind() {
        // A read of a plain stream reports its end as `Ok(0)`; `UnexpectedEof` comes from a TLS
        // layer (rustls, tokio-rustls) whose socket ended without the peer's close_notify.
        K::UnexpectedEof => TransportError::TlsTruncated,
        K::ConnectionReset => TransportError::ConnectionReset,
        K::ConnectionAborted => TransportError::ConnectionAborted,
        K::BrokenPipe => TransportError::BrokenPipe,
        K::TimedOut => TransportError::TimedOut,
        // TLS libraries (rustls, native-tls) report bad records and alerts as InvalidData.
        K::InvalidData => TransportError::Tls,
        _ => TransportError::Other,
    })
}

#[cfg(test)]
mod tests {
    use std::string::ToString;

    use super::*;

    #[test]
    fn io_errors_map_to_transport_ends() {
        let cases = [
            (
                io::ErrorKind::UnexpectedEof,
                TransportEnd::Error(TransportError::TlsTruncated),
            ),
            (
                io::ErrorKind::ConnectionReset,
                TransportEnd::Error(TransportError::ConnectionReset),
            ),
            (
                io::ErrorKind::BrokenPipe,
                TransportEnd::Error(TransportError::BrokenPipe),
            ),
            (
                io::ErrorKind::ConnectionAborted,
                TransportEnd::Error(TransportError::ConnectionAborted),
            ),
            (
                io::ErrorKind::TimedOut,
                TransportEnd::Error(TransportError::TimedOut),
            ),
            (
                io::ErrorKind::InvalidData,
                TransportEnd::Error(TransportError::Tls),
            ),
            (
                io::ErrorKind::PermissionDenied,
                TransportEnd::Error(TransportError::Other),
            ),
        ];
        for (kind, end) in cases {
            assert_eq!(transport_end(&io::Error::from(kind)), end, "{kind:?}");
        }
    }

    #[test]
    fn errors_display_and_chain() {
        let e = Error::Handshake(HandshakeError::Response(ResponseError::Status(404)));
        assert!(e.to_string().contains("404"), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        assert!(Error::TlsRequired.to_string().contains("client()"));
    }
}
