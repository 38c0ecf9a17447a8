//! The opening handshake over an async stream: [`sockeye_core::adapter::upgrade`] plus the reads, the
//! writes and the handshake timeout.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{ready, Poll};

use sockeye_core::adapter::proxy::{Proxy, ProxyError, TunnelResponse};
use sockeye_core::adapter::upgrade::{self, ClientUpgrade, ServerUpgrade, Upgraded};
use sockeye_core::adapter::{ClientOptions, Config, Decision, Error, HandshakeError};
use sockeye_core::handshake::Request;
use sockeye_core::url::Url;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub(crate) async fn write_all<S: AsyncWrite + Unpin>(
    stream: &mut S,
    mut buf: &[u8],
) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, buf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    poll_fn(|cx| Pin::new(&mut *stream).poll_flush(cx)).await
}

async fn read_some<S: AsyncRead + Unpin>(stream: &mut S, space: &mut [u8]) -> Result<usize, Error> {
    let n = poll_fn(|cx| {
        let mut buf = ReadBuf::new(&mut *space);
        ready!(Pin::new(&mut *stream).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok::<_, io::Error>(buf.filled().len()))
    })
    .await;
    match n {
        Ok(0) => Err(HandshakeError::Eof.into()),
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(HandshakeError::Eof.into()),
        Err(e) => Err(Error::Io(e)),
    }
}

/// Runs `work` within the handshake timeout of `config`.
pub(crate) async fn timed<T>(
    config: &Config,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match config.handshake_timeout {
        Some(limit) => tokio::time::timeout(limit, work)
            .await
            .unwrap_or(Err(HandshakeError::Timeout.into())),
        None => work.await,
    }
}

/// Opens a tunnel to `host:port` through the HTTP proxy at the other end of `stream`: the
/// `CONNECT` request, then the proxy's answer read a byte at a time (nothing past its head is
/// consumed: that belongs to the tunnel), bounded in size and by the handshake timeout.
pub(crate) async fn tunnel<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    proxy: &Proxy,
    (host, port): (&str, u16),
    config: &Config,
) -> Result<(), Error> {
    timed(config, async {
        write_all(stream, &proxy.connect_request(host, port)).await?;
        let mut answer = TunnelResponse::new();
        let mut byte = [0u8; 1];
        loop {
            match read_some(stream, &mut byte).await {
                Ok(_) => {
                    if answer.push(&byte)? {
                        return Ok(());
                    }
                }
                Err(Error::Handshake(HandshakeError::Eof)) => return Err(ProxyError::Eof.into()),
                Err(e) => return Err(e),
            }
        }
    })
    .await
}

/// Runs the client's handshake: sends the request for `url`, reads and checks the response.
pub(crate) async fn client<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    url: &Url<'_>,
    options: &ClientOptions<'_>,
) -> Result<Upgraded, Error> {
    timed(&options.config, async {
        let mut upgrade = ClientUpgrade::new(url, options);
        write_all(stream, &upgrade.request()?).await?;
        loop {
            let n = read_some(stream, upgrade.read_space()).await?;
            if let Some(upgraded) = upgrade.received(n)? {
                return Ok(upgraded);
            }
        }
    })
    .await
}

/// Runs the server's handshake: reads the request, lets `decide` answer it, and writes the
/// 101 or the error response. After an error response the stream is shut down.
pub(crate) async fn server<S, F>(
    stream: &mut S,
    config: &Config,
    decide: F,
) -> Result<Upgraded, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: for<'r> FnOnce(&Request<'r>) -> Decision<'r>,
{
    timed(config, async {
        let mut upgrade = ServerUpgrade::new(config);
        let answer = loop {
            let n = read_some(stream, upgrade.read_space()).await?;
            match upgrade.received(n) {
                Ok(None) => {}
                Ok(Some(request)) => break upgrade::answer(&request, decide(&request), config),
                Err(e) => break upgrade::refuse(e),
            }
        };
        write_all(stream, &answer.response).await?;
        match answer.outcome {
            Ok(upgraded) => Ok(upgraded),
            Err(e) => {
                // The peer's remaining bytes cannot be trusted to be in sync: close.
                let _ = poll_fn(|cx| Pin::new(&mut *stream).poll_shutdown(cx)).await;
                Err(Error::Handshake(e))
            }
        }
    })
    .await
}
