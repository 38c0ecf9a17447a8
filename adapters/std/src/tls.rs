//! `wss://` over blocking TCP: the stream [`WebSocket::connect`](crate::WebSocket::connect)
//! returns ([`MaybeTlsStream`]), and — with the feature `rustls` — the TLS handshake of a
//! client and of a server (`tls_accept`) over `rustls::StreamOwned`.
//!
//! The TLS handshake runs to its end before the WebSocket handshake starts, bounded by the
//! same [`Config::handshake_timeout`](crate::Config::handshake_timeout), so that its failures come back as
//! [`Error::Tls`](crate::Error::Tls) with their cause rather than as an I/O error in the middle
//! of the upgrade. Once the connection runs, a TLS failure ends it like any transport failure:
//! a bad record or alert is [`TransportError::Tls`](crate::TransportError::Tls), and a socket
//! that ends without the peer's `close_notify` is
//! [`TransportError::TlsTruncated`](crate::TransportError::TlsTruncated), with the phase the
//! connection was in. Closing the transport sends our `close_notify` first.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::transport::Transport;

/// The stream of a connection opened by [`WebSocket::connect`](crate::WebSocket::connect):
/// plain TCP for `ws://`, TLS over TCP for `wss://` (feature `rustls`).
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// `ws://`: the TCP stream itself.
    Plain(TcpStream),
    /// `wss://`: a rustls client session over TCP.
    #[cfg(feature = "rustls")]
    Rustls(Box<TlsStream>),
}

impl MaybeTlsStream {
    /// The TCP stream underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(s) => s,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => &s.sock,
        }
    }
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.read(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.read(buf),
        }
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write_vectored(bufs),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.flush(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.flush(),
        }
    }
}

impl Transport for MaybeTlsStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => Transport::shutdown(s),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Transport::shutdown(&mut **s),
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
    use std::io;
    use std::net::TcpStream;
    use std::ops::{Deref, DerefMut};
    use std::time::{Duration, Instant};

    use sockeye_core::adapter::tls::rustls::{
        ClientConnection, ConnectionCommon, ServerConnection, SideData, StreamOwned,
    };
    use sockeye_core::adapter::tls::{handshake_error, TlsAcceptor, TlsConnector};
    use sockeye_core::adapter::{ClientOptions, Config, Error, HandshakeError};
    use sockeye_core::url::Url;

    use crate::transport::Transport;

    /// A client's TLS stream over TCP.
    pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

    /// A server's TLS stream over TCP, as [`tls_accept`] returns it; a
    /// [`WebSocket`](crate::WebSocket) runs over it like over a `TcpStream`.
    pub type TlsServerStream = StreamOwned<ServerConnection, TcpStream>;

    /// A rustls stream over any [`Transport`]: timeouts go to the transport underneath, and
    /// closing sends the TLS `close_notify` before closing the transport.
    impl<C, D, S> Transport for StreamOwned<C, S>
    where
        C: Deref<Target = ConnectionCommon<D>> + DerefMut,
        D: SideData,
        S: Transport,
    {
        fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
            self.sock.set_read_timeout(timeout)
        }

        fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
            self.sock.set_write_timeout(timeout)
        }

        fn shutdown(&mut self) -> io::Result<()> {
            self.conn.send_close_notify();
            while self.conn.wants_write() {
                if self.conn.write_tls(&mut self.sock)? == 0 {
                    break;
                }
            }
            self.sock.flush()?;
            self.sock.shutdown()
        }
    }

    /// Runs the TLS handshake of `conn` over `sock` to its end, within `timeout`.
    fn complete<C, D>(
        mut conn: C,
        mut sock: TcpStream,
        timeout: Option<Duration>,
    ) -> Result<StreamOwned<C, TcpStream>, Error>
    where
        C: Deref<Target = ConnectionCommon<D>> + DerefMut,
        D: SideData,
    {
        let deadline = timeout.map(|t| Instant::now() + t);
        while conn.is_handshaking() || conn.wants_write() {
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(HandshakeError::Timeout.into());
                }
                let left = left.max(Duration::from_millis(1));
                sock.set_read_timeout(Some(left))?;
                sock.set_write_timeout(Some(left))?;
            }
            match conn.complete_io(&mut sock) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(handshake_error(e)),
            }
        }
        sock.set_read_timeout(None)?;
        sock.set_write_timeout(None)?;
        Ok(StreamOwned::new(conn, sock))
    }

    /// The client's TLS handshake for `url` over `sock` (already connected, through the proxy
    /// tunnel if there is one), with the connector of `options` or the default one.
    pub(crate) fn connect(
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
        let conn = connector.session(url.host())?;
        complete(conn, sock, options.config.handshake_timeout)
    }

    /// The server's TLS handshake over an accepted `sock`, within `config`'s handshake
    /// timeout. Run [`WebSocket::accept`](crate::WebSocket::accept) (or `accept_with`) over
    /// the stream it returns.
    ///
    /// ```no_run
    /// use std::net::TcpListener;
    /// use sockeye_std::tls::{tls_accept, TlsAcceptor};
    /// use sockeye_std::{Config, WebSocket};
    ///
    /// let acceptor = TlsAcceptor::from_pem(&std::fs::read("cert.pem")?, &std::fs::read("key.pem")?)?;
    /// let listener = TcpListener::bind("127.0.0.1:9443")?;
    /// let (tcp, _) = listener.accept()?;
    /// let tls = tls_accept(tcp, &acceptor, &Config::default())?;
    /// let mut ws = WebSocket::accept(tls)?;
    /// let message = ws.recv()?;
    /// ws.send(message)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls_accept(
        sock: TcpStream,
        acceptor: &TlsAcceptor,
        config: &Config,
    ) -> Result<TlsServerStream, Error> {
        let conn = acceptor.session()?;
        complete(conn, sock, config.handshake_timeout)
    }
}
