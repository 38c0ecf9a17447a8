//! `wss://` over tokio: the stream [`WebSocket::connect`](crate::WebSocket::connect) returns
//! ([`MaybeTlsStream`]), and — with the feature `rustls` — the TLS handshake of a client and of
//! a server (`tls_accept`) with `tokio-rustls`.
//!
//! The TLS handshake runs to its end before the WebSocket handshake starts, bounded by the
//! same [`Config::handshake_timeout`](crate::Config::handshake_timeout), so its failures come
//! back as [`Error::Tls`](crate::Error::Tls) with their cause. Once the connection runs, a
//! TLS failure ends it like any transport failure: a bad record or alert is
//! [`TransportError::Tls`](crate::TransportError::Tls), and a socket that ends without the
//! peer's `close_notify` is [`TransportError::TlsTruncated`](crate::TransportError::TlsTruncated),
//! with the phase the connection was in. Closing the transport sends our `close_notify` first
//! (tokio-rustls' `poll_shutdown`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The stream of a connection opened by [`WebSocket::connect`](crate::WebSocket::connect):
/// plain TCP for `ws://`, TLS over TCP for `wss://` (feature `rustls`).
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// `ws://`: the TCP stream itself.
    Plain(TcpStream),
    /// `wss://`: a tokio-rustls client stream over TCP.
    #[cfg(feature = "rustls")]
    Rustls(Box<TlsStream>),
}

impl MaybeTlsStream {
    /// The TCP stream underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(s) => s,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(s) => s.is_write_vectored(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

#[cfg(feature = "rustls")]
pub use with_rustls::*;

pub use sockeye_core::adapter::tls::TlsError;
/// The configurations (`TlsConnector`, `TlsAcceptor`), the error, and the rustls crate they
/// are built on, here as at the crate root.
#[cfg(feature = "rustls")]
pub use sockeye_core::adapter::tls::{rustls, TlsAcceptor, TlsConnector};

#[cfg(feature = "rustls")]
mod with_rustls {
    use sockeye_core::adapter::tls::rustls::pki_types::ServerName;
    use sockeye_core::adapter::tls::{handshake_error, TlsAcceptor, TlsConnector, TlsError};
    use sockeye_core::adapter::{ClientOptions, Config, Error};
    use sockeye_core::url::Url;
    use tokio::io::{AsyncRead, AsyncWrite};
    use tokio::net::TcpStream;

    use crate::handshake::timed;

    /// A client's TLS stream over TCP.
    pub type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

    /// A server's TLS stream over `S`, as [`tls_accept`] returns it; a
    /// [`WebSocket`](crate::WebSocket) runs over it like over a `TcpStream`.
    pub type TlsServerStream<S = TcpStream> = tokio_rustls::server::TlsStream<S>;

    /// The client's TLS handshake for `url` over `sock` (already connected, through the proxy
    /// tunnel if there is one), with the connector of `options` or the default one.
    pub(crate) async fn connect(
        sock: TcpStream,
        url: &Url<'_>,
        options: &ClientOptions<'_>,
    ) -> Result<TlsStream, Error> {
        let default;
        let connector = match options.tls {
            Some(connector) => connector,
            None => {
                default = TlsConnector::with_default_roots()?;
                &default
            }
        };
        let name = ServerName::try_from(url.host().to_owned())
            .map_err(|_| Error::Tls(TlsError::InvalidServerName))?;
        let tls = tokio_rustls::TlsConnector::from(connector.config().clone());
        timed(&options.config, async {
            tls.connect(name, sock).await.map_err(handshake_error)
        })
        .await
    }

    /// The server's TLS handshake over an accepted `sock`, within `config`'s handshake
    /// timeout. Run [`WebSocket::accept`](crate::WebSocket::accept) (or `accept_with`) over
    /// the stream it returns.
    ///
    /// ```no_run
    /// use sockeye_tokio::tls::{tls_accept, TlsAcceptor};
    /// use sockeye_tokio::{Config, WebSocket};
    /// use tokio::net::TcpListener;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let acceptor = TlsAcceptor::from_pem(&std::fs::read("cert.pem")?, &std::fs::read("key.pem")?)?;
    /// let listener = TcpListener::bind("127.0.0.1:9443").await?;
    /// loop {
    ///     let (tcp, _) = listener.accept().await?;
    ///     let acceptor = acceptor.clone();
    ///     tokio::spawn(async move {
    ///         let Ok(tls) = tls_accept(tcp, &acceptor, &Config::default()).await else { return };
    ///         let Ok(mut ws) = WebSocket::accept(tls).await else { return };
    ///         while let Ok(message) = ws.recv().await {
    ///             if ws.send(message).await.is_err() {
    ///                 break;
    ///             }
    ///         }
    ///     });
    /// }
    /// # }
    /// ```
    pub async fn tls_accept<S: AsyncRead + AsyncWrite + Unpin>(
        sock: S,
        acceptor: &TlsAcceptor,
        config: &Config,
    ) -> Result<TlsServerStream<S>, Error> {
        let tls = tokio_rustls::TlsAcceptor::from(acceptor.config().clone());
        timed(config, async {
            tls.accept(sock).await.map_err(handshake_error)
        })
        .await
    }
}
