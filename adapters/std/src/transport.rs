//! The byte streams a [`WebSocket`](crate::WebSocket) runs over.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A blocking byte stream for a [`WebSocket`](crate::WebSocket): `Read + Write`, plus the two
/// controls the engine's timers and the closing handshake need.
///
/// Implemented for [`TcpStream`], `UnixStream` (on Unix), and for `&mut T` and `Box<T>` of a
/// transport. For other streams — a TLS stream, say — wrap them in [`GenericTransport`], giving
/// it the function that sets the read timeout of the socket underneath.
pub trait Transport: Read + Write {
    /// Sets how long a read may block before it fails with `WouldBlock` or `TimedOut`
    /// (`None`: indefinitely). The engine's keepalive and close timers rely on it; a transport
    /// that returns an error (e.g. `Unsupported`) runs without them, checking deadlines only
    /// when a read returns.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;

    /// Sets how long a write may block before it fails with `WouldBlock` or `TimedOut`
    /// (`None`: indefinitely), so that the timers also bound the wait for a peer that stopped
    /// reading. The default returns `Unsupported`: writes then block until the peer reads or
    /// the operating system gives up on the connection.
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Closes the transport once the connection is over (for TCP, a shutdown of both
    /// directions; the server does this first after the closing handshake, RFC 6455 §7.1.1).
    /// The default does nothing: the stream closes when it is dropped.
    fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        TcpStream::shutdown(self, Shutdown::Both)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, Shutdown::Both)
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        (**self).shutdown()
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        (**self).shutdown()
    }
}

/// Function setting the read or write timeout of a wrapped stream.
pub type SetTimeout<S> = fn(&mut S, Option<Duration>) -> io::Result<()>;

/// Any `Read + Write` stream as a [`Transport`], e.g. a TLS stream over a `TcpStream`.
///
/// ```no_run
/// # use std::net::TcpStream;
/// # struct TlsStream { sock: TcpStream }
/// # impl std::io::Read for TlsStream { fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> { Ok(0) } }
/// # impl std::io::Write for TlsStream {
/// #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { Ok(b.len()) }
/// #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// # }
/// # fn tls_connect(sock: TcpStream) -> TlsStream { TlsStream { sock } }
/// use sockeye_std::{GenericTransport, WebSocket};
///
/// let tls: TlsStream = tls_connect(TcpStream::connect("example.com:443")?);
/// // Timers (keepalive, close timeout) work through the socket under the TLS layer.
/// let stream = GenericTransport::new(tls)
///     .with_read_timeout(|s, t| s.sock.set_read_timeout(t))
///     .with_write_timeout(|s, t| s.sock.set_write_timeout(t));
/// let mut ws = WebSocket::client(stream, "wss://example.com/feed")?;
/// ws.send_text("hello")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct GenericTransport<S> {
    stream: S,
    set_read_timeout: Option<SetTimeout<S>>,
    set_write_timeout: Option<SetTimeout<S>>,
}

impl<S: Read + Write> GenericTransport<S> {
    /// Wraps `stream`, without read timeouts: the engine's timers are then checked only when
    /// a read returns, so keepalive and the close timeout cannot interrupt a silent peer.
    pub fn new(stream: S) -> GenericTransport<S> {
        GenericTransport {
            stream,
            set_read_timeout: None,
            set_write_timeout: None,
        }
    }

    /// Gives the function that sets the read timeout of the stream, which enables the timers.
    pub fn with_read_timeout(mut self, set: SetTimeout<S>) -> GenericTransport<S> {
        self.set_read_timeout = Some(set);
        self
    }

    /// Gives the function that sets the write timeout of the stream, so that the timers also
    /// bound writes to a peer that stopped reading.
    pub fn with_write_timeout(mut self, set: SetTimeout<S>) -> GenericTransport<S> {
        self.set_write_timeout = Some(set);
        self
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The wrapped stream, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: Read> Read for GenericTransport<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl<S: Write> Write for GenericTransport<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.stream.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl<S: Read + Write> Transport for GenericTransport<S> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self.set_read_timeout {
            Some(set) => set(&mut self.stream, timeout),
            None => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self.set_write_timeout {
            Some(set) => set(&mut self.stream, timeout),
            None => Err(io::ErrorKind::Unsupported.into()),
        }
    }
}
