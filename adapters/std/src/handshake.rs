//! The opening handshake over a blocking [`Transport`]: [`sockeye_core::adapter::upgrade`] plus the reads,
//! the writes and the handshake timeout.

use std::io;
use std::time::{Duration, Instant};

use sockeye_core::handshake::Request;
use sockeye_core::url::Url;

use crate::transport::Transport;
use sockeye_core::adapter::proxy::{Proxy, ProxyError, TunnelResponse};
use sockeye_core::adapter::upgrade::{self, ClientUpgrade, ServerUpgrade, Upgraded};
use sockeye_core::adapter::{ClientOptions, Config, Decision, Error, HandshakeError};

/// One read for the handshake into `space`, bounded by `deadline`. `Ok(None)`: nothing yet,
/// read again.
fn read_some<S: Transport>(
    stream: &mut S,
    space: &mut [u8],
    deadline: Option<Instant>,
) -> Result<Option<usize>, Error> {
    let timeout = match deadline {
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HandshakeError::Timeout.into());
            }
            Some(left.max(Duration::from_millis(1)))
        }
        None => None,
    };
    // A transport without timeouts simply waits.
    let timed = stream.set_read_timeout(timeout).is_ok() && timeout.is_some();
    match stream.read(space) {
        Ok(0) => Err(HandshakeError::Eof.into()),
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(e)
            if timed
                && matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
        {
            Ok(None)
        }
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(HandshakeError::Eof.into()),
        Err(e) => Err(Error::Io(e)),
    }
}

fn send_all<S: Transport>(stream: &mut S, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes)?;
    stream.flush()
}

fn deadline(config: &Config) -> Option<Instant> {
    config.handshake_timeout.map(|t| Instant::now() + t)
}

/// Runs the client's handshake: sends the request for `url`, reads and checks the response.
/// Opens a tunnel to `host:port` through the HTTP proxy at the other end of `stream`: the
/// `CONNECT` request, then the proxy's answer read a byte at a time (nothing past its head is
/// consumed: that belongs to the tunnel), bounded in size and by the handshake timeout.
pub(crate) fn tunnel<S: Transport>(
    stream: &mut S,
    proxy: &Proxy,
    (host, port): (&str, u16),
    config: &Config,
) -> Result<(), Error> {
    let deadline = deadline(config);
    send_all(stream, &proxy.connect_request(host, port))?;
    let mut answer = TunnelResponse::new();
    let mut byte = [0u8; 1];
    loop {
        match read_some(stream, &mut byte, deadline) {
            Ok(Some(_)) => {
                if answer.push(&byte)? {
                    return Ok(());
                }
            }
            Ok(None) => {}
            Err(Error::Handshake(HandshakeError::Eof)) => return Err(ProxyError::Eof.into()),
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn client<S: Transport>(
    stream: &mut S,
    url: &Url<'_>,
    options: &ClientOptions<'_>,
) -> Result<Upgraded, Error> {
    let deadline = deadline(&options.config);
    let mut upgrade = ClientUpgrade::new(url, options);
    send_all(stream, &upgrade.request()?)?;
    loop {
        if let Some(n) = read_some(stream, upgrade.read_space(), deadline)? {
            if let Some(upgraded) = upgrade.received(n)? {
                return Ok(upgraded);
            }
        }
    }
}

/// Runs the server's handshake: reads the request, lets `decide` answer it, and writes the
/// 101 or the error response. After an error response the transport is shut down.
pub(crate) fn server<S, F>(stream: &mut S, config: &Config, decide: F) -> Result<Upgraded, Error>
where
    S: Transport,
    F: for<'r> FnOnce(&Request<'r>) -> Decision<'r>,
{
    let deadline = deadline(config);
    let mut upgrade = ServerUpgrade::new(config);
    let answer = loop {
        if let Some(n) = read_some(stream, upgrade.read_space(), deadline)? {
            match upgrade.received(n) {
                Ok(None) => {}
                Ok(Some(request)) => break upgrade::answer(&request, decide(&request), config),
                Err(e) => break upgrade::refuse(e),
            }
        }
    };
    send_all(stream, &answer.response)?;
    answer.outcome.map_err(|e| {
        // The peer's remaining bytes cannot be trusted to be in sync: close.
        let _ = stream.shutdown();
        Error::Handshake(e)
    })
}
