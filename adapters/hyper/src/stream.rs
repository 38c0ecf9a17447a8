//! [`UpgradedStream`]: hyper's upgraded connection (an HTTP/1.1 connection after `101`, or an
//! HTTP/2 stream after an extended `CONNECT`) as a tokio stream whose errors say which of the
//! two ended.

use std::error::Error as StdError;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use sockeye_core::adapter::TransportFailure;
use sockeye_core::handshake::parts::HttpVersion;
use sockeye_core::{Http2ErrorCode, TransportError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The duplex stream a WebSocket runs over once hyper has upgraded the request: a
/// [`WebSocket<UpgradedStream>`](sockeye_tokio::WebSocket).
///
/// Over HTTP/2 the WebSocket is one stream among others on a connection, and the errors it
/// meets are classified for the engine's closure ([`TransportFailure`]):
///
/// - an `RST_STREAM` of this stream (seen as an error, or when writing after it) is
///   [`TransportError::Http2StreamReset`] with its error code: this WebSocket ended, the
///   connection and its other streams may live on;
/// - a `GOAWAY`, or the failure or end of the TCP/TLS connection underneath, is
///   [`TransportError::Http2ConnectionLost`]: every stream on it ended.
///
/// hyper hands a reset with `NO_ERROR` or `CANCEL` to the reader as the end of the stream,
/// exactly like the peer's `END_STREAM`, so those two read as the peer closing the
/// transport (the closure's `Eof` cause), not as a reset.
///
/// Over HTTP/1.1 the errors are those of the TCP connection and are passed through.
#[derive(Debug)]
pub struct UpgradedStream {
    io: TokioIo<Upgraded>,
    version: HttpVersion,
}

impl UpgradedStream {
    pub(crate) fn new(upgraded: Upgraded, version: HttpVersion) -> UpgradedStream {
        UpgradedStream {
            io: TokioIo::new(upgraded),
            version,
        }
    }

    /// The HTTP version that carries the WebSocket: [`HttpVersion::Http11`] or
    /// [`HttpVersion::Http2`].
    pub fn http_version(&self) -> HttpVersion {
        self.version
    }

    /// hyper's upgraded connection.
    pub fn into_inner(self) -> Upgraded {
        self.io.into_inner()
    }

    fn map<T>(&self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(Err(e)) if self.version == HttpVersion::Http2 => {
                Poll::Ready(Err(classify_h2(e)))
            }
            other => other,
        }
    }
}

/// What ended an HTTP/2 stream, from the error hyper reports for it.
fn h2_cause(error: &io::Error) -> TransportError {
    // The h2 error is the io::Error's payload (reads) or the source of hyper's error inside it
    // (writes, after the stream's sending task ended).
    let mut source: Option<&(dyn StdError + 'static)> =
        error.get_ref().map(|e| e as &(dyn StdError + 'static));
    while let Some(e) = source {
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            if h2.is_go_away() || h2.is_io() {
                return TransportError::Http2ConnectionLost;
            }
            if let Some(reason) = h2.reason() {
                return TransportError::Http2StreamReset {
                    code: Http2ErrorCode::from_u32(reason.into()),
                };
            }
            return TransportError::Http2ConnectionLost;
        }
        source = e.source();
    }
    // No h2 error inside: the I/O error of the connection underneath (h2 hands it to every
    // stream: a broken pipe when the connection hit end of file, or the socket's own error),
    // or the stream's sending task gone with the connection.
    TransportError::Http2ConnectionLost
}

fn classify_h2(error: io::Error) -> io::Error {
    if error
        .get_ref()
        .is_some_and(|e| e.downcast_ref::<TransportFailure>().is_some())
    {
        return error;
    }
    io::Error::other(TransportFailure(h2_cause(&error)))
}

impl AsyncRead for UpgradedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        self.map(result)
    }
}

impl AsyncWrite for UpgradedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, buf);
        self.map(result)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.io).poll_flush(cx);
        self.map(result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.io).poll_shutdown(cx);
        self.map(result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.map(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockeye_core::adapter::{transport_end, TransportEnd};

    fn end(error: io::Error) -> TransportEnd {
        transport_end(&classify_h2(error))
    }

    #[test]
    fn h2_errors_are_told_apart() {
        let reset = h2::Error::from(h2::Reason::INTERNAL_ERROR);
        assert_eq!(
            end(io::Error::other(reset)),
            TransportEnd::Error(TransportError::Http2StreamReset {
                code: Http2ErrorCode::InternalError
            })
        );
        let refused = h2::Error::from(h2::Reason::REFUSED_STREAM);
        assert_eq!(
            end(io::Error::new(io::ErrorKind::BrokenPipe, refused)),
            TransportEnd::Error(TransportError::Http2StreamReset {
                code: Http2ErrorCode::RefusedStream
            })
        );
        for kind in [io::ErrorKind::BrokenPipe, io::ErrorKind::ConnectionReset] {
            assert_eq!(
                end(io::Error::from(kind)),
                TransportEnd::Error(TransportError::Http2ConnectionLost)
            );
        }
    }
}
