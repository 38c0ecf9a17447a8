//! The opening handshake with owned buffers, still sans-IO: the part of the handshake that the
//! blocking and the async adapters share (and that another adapter can reuse).
//!
//! [`ClientUpgrade`] writes the request and reads the response; [`ServerUpgrade`] reads the
//! request, and [`answer`] / [`refuse`] produce the response. The caller moves the bytes:
//! read into [`read_space`](ClientUpgrade::read_space), report with
//! [`received`](ClientUpgrade::received), until the head is complete. Both keep what arrived
//! behind the peer's head ([`Upgraded::leftover`]): the first WebSocket bytes.

use std::string::String;
use std::vec;
use std::vec::Vec;

use crate::handshake::deflate::DeflateParams;
use crate::handshake::{
    Accept, ClientConfig, ClientHandshake, ClientRequest, Reject, Request, RequestError,
    ServerConfig, ServerHandshake, WriteError,
};
use crate::session::Session;
use crate::url::Url;
use crate::{Connection, Instant};

use super::config::{ClientOptions, Config, Decision};
use super::error::{Error, HandshakeError};
use super::random;

/// Header fields accepted in a request or response head. Browsers send about 15; the parser's
/// array of this many entries (2 KiB) lives on the stack only while a complete head is parsed.
pub const MAX_HEADERS: usize = 64;

/// Bytes offered per read while the head is incomplete.
pub const READ_CHUNK: usize = 2048;

/// What a completed opening handshake hands to the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upgraded {
    /// Bytes that arrived behind the peer's head: the first WebSocket bytes, to be fed to the
    /// engine before anything read later.
    pub leftover: Vec<u8>,
    /// The subprotocol agreed on, if any.
    pub protocol: Option<String>,
    /// The permessage-deflate parameters agreed on, if any (only offered or accepted with
    /// [`Config::compression`], feature `deflate`).
    pub deflate: Option<DeflateParams>,
}

impl Upgraded {
    /// The session for `connection` after this handshake: the bytes that arrived behind the
    /// peer's head go in first (at `now`), and permessage-deflate runs if it was agreed.
    pub fn into_session(self, connection: Connection, config: &Config, now: Instant) -> Session {
        let mut session = Session::new(connection, config.session());
        #[cfg(feature = "deflate")]
        if let (Some(params), Some(compression)) = (self.deflate, config.compression) {
            let role = session.connection().role();
            session = session.with_deflate(crate::deflate::PerMessageDeflate::new(
                params,
                role,
                compression.settings,
            ));
        }
        session.push_received(&self.leftover, now);
        session
    }
}

/// The received bytes of a head, growing a chunk at a time (at most the head limit plus one
/// chunk).
#[derive(Clone, Debug, Default)]
struct Received {
    buf: Vec<u8>,
    filled: usize,
}

impl Received {
    fn space(&mut self) -> &mut [u8] {
        if self.buf.len() < self.filled + READ_CHUNK {
            self.buf.resize(self.filled + READ_CHUNK, 0);
        }
        &mut self.buf[self.filled..]
    }

    fn add(&mut self, n: usize) -> &[u8] {
        self.filled = (self.filled + n).min(self.buf.len());
        &self.buf[..self.filled]
    }
}

/// Renders a message produced by `write`, which reports the size it needs when `out` is too
/// small.
fn render(write: impl Fn(&mut [u8]) -> Result<usize, WriteError>) -> Result<Vec<u8>, WriteError> {
    let mut out = vec![0; 512];
    let len = match write(&mut out) {
        Err(WriteError::BufferTooSmall { needed }) => {
            out.resize(needed, 0);
            write(&mut out)?
        }
        other => other?,
    };
    out.truncate(len);
    Ok(out)
}

/// The client's side of the opening handshake.
///
/// ```
/// use sockeye_core::url::Url;
/// use sockeye_core::adapter::upgrade::ClientUpgrade;
/// use sockeye_core::adapter::ClientOptions;
///
/// let url = Url::parse("ws://example.com/chat").unwrap();
/// let options = ClientOptions::new();
/// let mut upgrade = ClientUpgrade::new(&url, &options);
/// let request = upgrade.request().unwrap();
/// assert!(request.starts_with(b"GET /chat HTTP/1.1\r\n"));
/// // Write `request`, then read into `upgrade.read_space()` and call `upgrade.received(n)`
/// // until it returns `Ok(Some(upgraded))`.
/// ```
#[derive(Clone, Debug)]
pub struct ClientUpgrade<'a> {
    handshake: ClientHandshake<'a, MAX_HEADERS>,
    received: Received,
}

impl<'a> ClientUpgrade<'a> {
    /// A handshake for `url` with the subprotocols, headers, `Origin` and head limit of
    /// `options`, and a fresh random key.
    pub fn new(url: &Url<'a>, options: &ClientOptions<'a>) -> ClientUpgrade<'a> {
        let mut request = ClientRequest::new(url)
            .with_protocols(options.protocols)
            .with_headers(options.headers);
        if let Some(origin) = options.origin {
            request = request.with_origin(origin);
        }
        #[cfg(feature = "deflate")]
        if let Some(compression) = options.config.compression {
            request = request.with_deflate(compression.offer);
        }
        let limits = ClientConfig::new().with_max_response_size(options.config.max_handshake_size);
        ClientUpgrade {
            handshake: ClientHandshake::with_config(request, random::nonce(), limits),
            received: Received::default(),
        }
    }

    /// The request to send. Fails if a subprotocol, header or the origin is invalid.
    pub fn request(&self) -> Result<Vec<u8>, Error> {
        render(|out| self.handshake.write_request(out))
            .map_err(|e| Error::Handshake(HandshakeError::Write(e)))
    }

    /// Where to read the response into.
    pub fn read_space(&mut self) -> &mut [u8] {
        self.received.space()
    }

    /// `n` bytes were read into [`read_space`](Self::read_space). Returns `Ok(None)` while the
    /// response head is incomplete, and the upgrade once it is valid.
    pub fn received(&mut self, n: usize) -> Result<Option<Upgraded>, Error> {
        let buf = self.received.add(n);
        match self.handshake.read_response(buf) {
            Ok(None) => Ok(None),
            Ok(Some(response)) => Ok(Some(Upgraded {
                leftover: response.remainder().to_vec(),
                protocol: response.protocol().map(String::from),
                deflate: response.deflate(),
            })),
            Err(e) => Err(Error::Handshake(HandshakeError::Response(e))),
        }
    }
}

/// The server's side of the opening handshake: reads the request. Answer it with [`answer`]
/// or, when it is invalid, [`refuse`].
#[derive(Clone, Debug)]
pub struct ServerUpgrade {
    handshake: ServerHandshake<MAX_HEADERS>,
    received: Received,
}

impl ServerUpgrade {
    /// A handshake with the head limit of `config`.
    pub fn new(config: &Config) -> ServerUpgrade {
        let limits = ServerConfig::new().with_max_request_size(config.max_handshake_size);
        ServerUpgrade {
            handshake: ServerHandshake::with_config(limits),
            received: Received::default(),
        }
    }

    /// Where to read the request into.
    pub fn read_space(&mut self) -> &mut [u8] {
        self.received.space()
    }

    /// `n` bytes were read into [`read_space`](Self::read_space). Returns `Ok(None)` while the
    /// request head is incomplete, the request once it is valid, or why it is not.
    pub fn received(&mut self, n: usize) -> Result<Option<Request<'_>>, RequestError> {
        let buf = self.received.add(n);
        self.handshake.read_request(buf)
    }
}

/// A server's response, and what follows once it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP response to send.
    pub response: Vec<u8>,
    /// `Ok` after a 101: the connection starts. `Err` after an error response: close the
    /// transport and report the error.
    pub outcome: Result<Upgraded, HandshakeError>,
}

/// The response to a valid `request` that the application decided on, under `config`: when
/// accepting, extensions are negotiated by [`negotiate_extensions`](super::negotiate_extensions)
/// (permessage-deflate if [`Config::compression`] allows, feature `deflate`). A decision that
/// cannot be sent (a subprotocol the client did not offer, an invalid header or status) is
/// answered with 500 and reported as [`HandshakeError::Write`].
pub fn answer(request: &Request<'_>, decision: Decision<'_>, config: &Config) -> Answer {
    let rendered = match decision {
        Decision::Accept { protocol, headers } => {
            let mut accept = Accept::new().with_headers(headers);
            // Extensions are negotiated in one place for every adapter.
            let accepted = super::negotiate_extensions(request.extensions(), config);
            if let Some(accepted) = accepted {
                accept = accept.with_deflate(accepted);
            }
            if let Some(protocol) = protocol {
                accept = accept.with_protocol(protocol);
            }
            render(|out| request.accept(&accept, out)).map(|response| Answer {
                response,
                outcome: Ok(Upgraded {
                    leftover: request.remainder().to_vec(),
                    protocol: protocol.map(String::from),
                    deflate: accepted.map(|a| a.params()),
                }),
            })
        }
        Decision::Reject {
            status,
            headers,
            body,
        } => {
            let reject = Reject::new(status).with_headers(headers).with_body(body);
            render(|out| reject.write(out)).map(|response| Answer {
                response,
                outcome: Err(HandshakeError::Rejected { status }),
            })
        }
    };
    rendered.unwrap_or_else(|e| Answer {
        response: render(|out| Reject::new(500).write(out)).unwrap_or_default(),
        outcome: Err(HandshakeError::Write(e)),
    })
}

/// The error response to an invalid request (400, 405, 426 or 431, see
/// [`RequestError::status`]).
pub fn refuse(error: RequestError) -> Answer {
    Answer {
        response: render(|out| error.write_response(out)).unwrap_or_default(),
        outcome: Err(HandshakeError::Request(error)),
    }
}

#[cfg(test)]
mod tests {
    use std::format;

    use super::*;
    use crate::handshake::accept_key;

    fn request_bytes(protocols: &str) -> String {
        format!(
            "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             {protocols}\r\n"
        )
    }

    /// Feeds `bytes` to a server upgrade in reads of `chunk` bytes, until it answers; returns
    /// the answer and how many bytes were fed.
    fn feed(up: &mut ServerUpgrade, bytes: &[u8], chunk: usize) -> Option<(Answer, usize)> {
        let mut decide = Some(|r: &Request<'_>| match r.protocols().next() {
            Some(p) => answer(r, Decision::accept().with_protocol(p), &Config::default()),
            None => answer(r, Decision::reject(403), &Config::default()),
        });
        let mut fed = 0;
        for part in bytes.chunks(chunk) {
            let space = up.read_space();
            space[..part.len()].copy_from_slice(part);
            fed += part.len();
            match up.received(part.len()) {
                Ok(None) => {}
                Ok(Some(request)) => return decide.take().map(|d| (d(&request), fed)),
                Err(e) => return Some((refuse(e), fed)),
            }
        }
        None
    }

    #[test]
    fn server_answers_with_the_chosen_protocol_and_keeps_leftovers() {
        let mut bytes = request_bytes("Sec-WebSocket-Protocol: chat\r\n").into_bytes();
        bytes.extend_from_slice(b"\x81\x80abcd");
        for chunk in [1, 7, 4096] {
            let mut up = ServerUpgrade::new(&Config::default());
            let (a, fed) = feed(&mut up, &bytes, chunk).unwrap();
            let text = String::from_utf8(a.response).unwrap();
            assert!(text.starts_with("HTTP/1.1 101 "), "{text}");
            assert!(text.contains("Sec-WebSocket-Protocol: chat\r\n"));
            let upgraded = a.outcome.unwrap();
            assert_eq!(upgraded.protocol.as_deref(), Some("chat"));
            // What arrived behind the head is kept; the rest is read later.
            let mut tail = upgraded.leftover;
            tail.extend_from_slice(&bytes[fed..]);
            assert_eq!(tail, b"\x81\x80abcd", "chunk {chunk}");
        }
    }

    #[test]
    fn server_rejects_and_refuses() {
        let mut up = ServerUpgrade::new(&Config::default());
        let (a, _) = feed(&mut up, request_bytes("").as_bytes(), 100).unwrap();
        assert!(a.response.starts_with(b"HTTP/1.1 403 "));
        assert_eq!(a.outcome, Err(HandshakeError::Rejected { status: 403 }));

        let mut up = ServerUpgrade::new(&Config::default());
        let (a, _) = feed(&mut up, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", 100).unwrap();
        assert!(a.response.starts_with(b"HTTP/1.1 405 "));
        assert_eq!(
            a.outcome,
            Err(HandshakeError::Request(RequestError::MethodNotAllowed))
        );

        let limit = Config::default().with_max_handshake_size(64);
        let mut up = ServerUpgrade::new(&limit);
        let (a, _) = feed(&mut up, &[b'a'; 200], 10).unwrap();
        assert!(a.response.starts_with(b"HTTP/1.1 431 "));
    }

    #[test]
    fn an_unsendable_decision_is_answered_with_500() {
        let bytes = request_bytes("Sec-WebSocket-Protocol: chat\r\n");
        let mut up = ServerUpgrade::new(&Config::default());
        let space = up.read_space();
        space[..bytes.len()].copy_from_slice(bytes.as_bytes());
        let request = up.received(bytes.len()).unwrap().unwrap();
        let a = answer(
            &request,
            Decision::accept().with_protocol("other"),
            &Config::default(),
        );
        assert!(a.response.starts_with(b"HTTP/1.1 500 "));
        assert_eq!(
            a.outcome,
            Err(HandshakeError::Write(WriteError::ProtocolNotOffered))
        );
        let a = answer(&request, Decision::reject(101), &Config::default());
        assert!(a.response.starts_with(b"HTTP/1.1 500 "));
    }

    #[test]
    fn client_reads_the_response_in_pieces() {
        let url = Url::parse("ws://example.com/chat").unwrap();
        let options = ClientOptions::new().with_protocols(&["chat"]);
        let mut up = ClientUpgrade::new(&url, &options);
        let request = String::from_utf8(up.request().unwrap()).unwrap();
        let key = request
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let mut response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
            accept_key(key.as_bytes())
        )
        .into_bytes();
        response.extend_from_slice(b"\x81\x02hi");
        let mut done = None;
        let mut fed = 0;
        for part in response.chunks(5) {
            let space = up.read_space();
            space[..part.len()].copy_from_slice(part);
            fed += part.len();
            if let Some(u) = up.received(part.len()).unwrap() {
                done = Some(u);
                break;
            }
        }
        let upgraded = done.unwrap();
        assert_eq!(upgraded.protocol.as_deref(), Some("chat"));
        let mut tail = upgraded.leftover;
        tail.extend_from_slice(&response[fed..]);
        assert_eq!(tail, b"\x81\x02hi");
    }

    #[test]
    fn client_rejects_a_non_101() {
        let url = Url::parse("ws://example.com/").unwrap();
        let options = ClientOptions::new();
        let mut up = ClientUpgrade::new(&url, &options);
        let reply = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        up.read_space()[..reply.len()].copy_from_slice(reply);
        assert!(matches!(
            up.received(reply.len()),
            Err(Error::Handshake(HandshakeError::Response(
                crate::handshake::ResponseError::Status(404)
            )))
        ));
    }
}
