//! What a [`WebSocket`](crate::WebSocket) operation can end with besides success.

use core::fmt;

use embedded_io_async::ErrorKind;
#[cfg(feature = "defmt")]
use sockeye_core::{AbnormalCause, Closure, ClosureKind};
use sockeye_core::{SendError, TransportError};

/// Why an operation on a [`WebSocket`](crate::WebSocket) did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The connection is over. [`WebSocket::closure`](crate::WebSocket::closure) says how it
    /// ended — the engine's [`Closure`](sockeye_core::Closure):
    /// [`is_clean`](sockeye_core::Closure::is_clean) after a completed closing
    /// handshake, a failure with the close code we sent when the peer broke the protocol, or
    /// code 1006 with its cause (transport EOF, transport error, close or keepalive timeout)
    /// and the protocol phase it happened in.
    ///
    /// Every later call returns the same. Close the transport now (a server at once, RFC 6455
    /// §7.1.1): get it back with [`WebSocket::into_transport`](crate::WebSocket::into_transport).
    Closed,
    /// The engine refused to send: the closing handshake has started, another fragmented
    /// message is in progress, a control payload is over 125 bytes, a close code may not be
    /// sent… Nothing was sent and the connection is unchanged.
    Send(SendError),
    /// A message did not fit in the receive buffer. It is dropped: its remaining chunks are
    /// skipped by the next [`receive`](crate::WebSocket::receive) and the connection stays open.
    /// Set [`Config::max_message_size`](sockeye_core::Config::max_message_size) to the buffer
    /// size to have the engine refuse such messages with 1009 instead, or read large messages
    /// as chunks with [`receive_event`](crate::WebSocket::receive_event).
    MessageTooLarge,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => f.write_str("the WebSocket connection is closed"),
            Error::Send(e) => e.fmt(f),
            Error::MessageTooLarge => {
                f.write_str("a message did not fit in the receive buffer and was dropped")
            }
        }
    }
}

impl core::error::Error for Error {}

impl From<SendError> for Error {
    fn from(e: SendError) -> Error {
        Error::Send(e)
    }
}

/// Maps the transport's error to the engine's [`TransportError`], which the 1006
/// [`Closure`](sockeye_core::Closure)
/// reports as its cause.
pub(crate) fn transport_error(kind: ErrorKind) -> TransportError {
    match kind {
        ErrorKind::ConnectionReset => TransportError::ConnectionReset,
        ErrorKind::ConnectionAborted | ErrorKind::NotConnected => TransportError::ConnectionAborted,
        ErrorKind::BrokenPipe | ErrorKind::WriteZero => TransportError::BrokenPipe,
        ErrorKind::TimedOut => TransportError::TimedOut,
        _ => TransportError::Other,
    }
}

/// A one-word name for how a connection ended, for logs.
#[cfg(feature = "defmt")]
pub(crate) fn closure_name(closure: &Closure) -> &'static str {
    match closure.kind() {
        ClosureKind::Clean { .. } => "clean",
        ClosureKind::Failed { .. } => "failed",
        ClosureKind::Abnormal { cause, .. } => match cause {
            AbnormalCause::Eof => "abnormal: transport EOF",
            AbnormalCause::Transport(_) => "abnormal: transport error",
            AbnormalCause::CloseTimeout => "abnormal: close timeout",
            AbnormalCause::KeepaliveTimeout => "abnormal: keepalive timeout",
            _ => "abnormal",
        },
        _ => "other",
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Error {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Error::Closed => defmt::write!(f, "Closed"),
            Error::Send(_) => defmt::write!(f, "Send"),
            Error::MessageTooLarge => defmt::write!(f, "MessageTooLarge"),
        }
    }
}
