//! The server's half of the opening handshake: RFC 6455 §4.2.
//!
//! 1. Append everything received to one buffer and call [`ServerHandshake::read_request`]
//!    after every read until it returns `Ok(Some(request))` or an error.
//! 2. On error, send the bytes of [`RequestError::write_response`] and close the connection.
//! 3. Otherwise look at the [`Request`] (path, `Origin`, offered subprotocols, ...) and answer
//!    with [`Request::accept`] or, to refuse it, [`Reject::write`].
//! 4. After accepting, feed [`Request::remainder`] to the WebSocket engine before any byte
//!    read later.

use super::deflate::{negotiate, Accepted, DeflateConfig};
use super::headers::{extension_name, is_field_value, is_token, trim_ows, ListSplit};
use super::parts::HttpVersion;
use super::scan::{HeadScanner, Scan};
use super::write::{put_extra_headers, reason_phrase, Writer};
use super::{
    accept_key, AcceptKey, Headers, ListItems, SyntaxError, WriteError, DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_HEAD_SIZE,
};

/// Header fields the 101 response writes itself; extra headers may not repeat them.
const ACCEPT_RESERVED: &[&str] = &[
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Content-Length",
    "Transfer-Encoding",
];

/// Header fields a rejection writes itself.
const REJECT_RESERVED: &[&str] = &["Connection", "Content-Length", "Transfer-Encoding"];

/// Limits for reading a client's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Largest request head accepted, in bytes ([`DEFAULT_MAX_HEAD_SIZE`] by default). A
    /// request whose head does not end within this many bytes fails with
    /// [`RequestError::TooLarge`] (431) as soon as that many bytes have arrived, so a client
    /// cannot make the server buffer more.
    pub max_request_size: usize,
}

impl ServerConfig {
    /// The default limits.
    pub const fn new() -> Self {
        ServerConfig {
            max_request_size: DEFAULT_MAX_HEAD_SIZE,
        }
    }

    /// Sets [`max_request_size`](Self::max_request_size).
    pub const fn with_max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// The server's side of one opening handshake: reads and validates the client's request.
///
/// `MAX_HEADERS` bounds the header fields a request may have (default
/// [`DEFAULT_MAX_HEADERS`]); it sizes the `httparse::Header` array placed on the stack while
/// the complete request is parsed. Choose another bound with the type parameter:
/// `ServerHandshake::<64>::with_config(config)`.
///
/// ```
/// use sockeye_core::handshake::{Accept, ServerHandshake};
///
/// let mut handshake = ServerHandshake::new();
/// let received = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n";
/// let mut out = [0u8; 256];
/// let len = match handshake.read_request(received) {
///     Ok(None) => return, // read more, then call again with the longer buffer
///     Ok(Some(request)) => {
///         assert_eq!(request.path(), "/chat");
///         request.accept(&Accept::new().with_protocol("chat"), &mut out).unwrap()
///     }
///     Err(e) => e.write_response(&mut out).unwrap(), // then close the connection
/// };
/// assert!(out[..len].starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// ```
#[derive(Clone, Debug)]
pub struct ServerHandshake<const MAX_HEADERS: usize = DEFAULT_MAX_HEADERS> {
    max_request_size: usize,
    scanner: HeadScanner,
}

impl ServerHandshake {
    /// A handshake with the default limits: 8 KiB and 32 header fields.
    pub const fn new() -> Self {
        Self::with_config(ServerConfig::new())
    }
}

impl<const MAX_HEADERS: usize> Default for ServerHandshake<MAX_HEADERS> {
    fn default() -> Self {
        Self::with_config(ServerConfig::new())
    }
}

impl<const MAX_HEADERS: usize> ServerHandshake<MAX_HEADERS> {
    /// A handshake with explicit limits.
    pub const fn with_config(config: ServerConfig) -> Self {
        ServerHandshake {
            max_request_size: config.max_request_size,
            scanner: HeadScanner::new(),
        }
    }

    /// Reads the client's opening handshake from `buf`, the bytes received so far.
    ///
    /// Call it after every read with the same buffer, grown: `Ok(None)` means the request head
    /// is not complete yet. Only the new bytes are examined on each call; the head is parsed
    /// once, when its blank line has arrived. Both CRLF and bare LF line endings are accepted,
    /// as RFC 7230 §3.5 recommends, since the result is unambiguous either way.
    ///
    /// The request must satisfy RFC 6455 §4.2.1: `GET`, HTTP/1.1, exactly one `Host`,
    /// `Upgrade` containing `websocket`, `Connection` containing `Upgrade`, exactly one
    /// `Sec-WebSocket-Key` that decodes to 16 bytes, and `Sec-WebSocket-Version: 13`. It must
    /// also carry no body, since bytes after the head are WebSocket frames. Every violation is
    /// its own [`RequestError`], which knows the HTTP status to answer with.
    ///
    /// A client may pipeline its first frame behind the request; those bytes are
    /// [`Request::remainder`].
    pub fn read_request<'b>(&mut self, buf: &'b [u8]) -> Result<Option<Request<'b>>, RequestError> {
        let end = match self.scanner.scan(buf, self.max_request_size) {
            Scan::Partial => return Ok(None),
            Scan::Complete(end) => end,
            Scan::TooLarge => {
                return Err(RequestError::TooLarge {
                    limit: self.max_request_size,
                })
            }
            Scan::InvalidByte => return Err(RequestError::Malformed(SyntaxError::InvalidByte)),
        };
        let head = buf.get(..end).unwrap_or(buf);
        let mut storage: [httparse::Header<'b>; MAX_HEADERS] =
            [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut storage);
        let consumed = match request.parse(head) {
            Ok(httparse::Status::Complete(len)) => len,
            // The head ends in a blank line, so httparse cannot need more of it.
            Ok(httparse::Status::Partial) => {
                return Err(RequestError::Malformed(SyntaxError::StartLine))
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(RequestError::TooManyHeaders { limit: MAX_HEADERS })
            }
            Err(e) => return Err(RequestError::Malformed(SyntaxError::from_httparse(e))),
        };
        // RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
        if request.method != Some("GET") {
            return Err(RequestError::MethodNotAllowed);
        }
        if request.version != Some(1) {
            return Err(RequestError::UnsupportedHttpVersion);
        }
        let (path, query) =
            split_target(request.path.unwrap_or("")).ok_or(RequestError::InvalidTarget)?;
        let fields = Fields::check(
            request.headers.iter().map(|h| (h.name, h.value)),
            HttpVersion::Http11,
        )?;
        Ok(Some(Request {
            buf,
            consumed,
            path,
            query,
            host: fields.host,
            key: fields.key,
        }))
    }
}

/// Splits a request target into path and query.
///
/// RFC 6455 §4.2.1 item 1 allows the origin-form (`/path?query`) and an absolute URI
/// (RFC 7230 §5.3.2), from which only path and query are kept. A fragment is never part of a
/// request target (RFC 7230 §5.3, RFC 6455 §3).
fn split_target(target: &str) -> Option<(&str, Option<&str>)> {
    let origin_form = if target.starts_with('/') {
        target
    } else {
        let (scheme, rest) = target.split_once("://")?;
        if !["http", "https", "ws", "wss"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scheme))
        {
            return None;
        }
        let start = rest.find(['/', '?']).unwrap_or(rest.len());
        if start == 0 {
            return None;
        }
        rest.get(start..)?
    };
    if origin_form.contains('#') {
        return None;
    }
    let (path, query) = match origin_form.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (origin_form, None),
    };
    Some((if path.is_empty() { "/" } else { path }, query))
}

/// The header fields RFC 6455 §4.2.1 requires, after validation.
pub(super) struct Fields<'b> {
    pub(super) host: &'b str,
    pub(super) key: &'b str,
}

impl<'b> Fields<'b> {
    /// Checks the fields in the order of RFC 6455 §4.2.1, except that the version (item 6) is
    /// checked before the key (item 5): a client speaking another protocol version may use
    /// another key scheme, and the 426 answer tells it which version to retry with (§4.4).
    ///
    /// Over HTTP/2 (RFC 8441 §5) only the version and the absence of a body are checked:
    /// `Host` is the `:authority` pseudo-header, `Upgrade` and `Connection` do not exist, and
    /// `Sec-WebSocket-Key` is not used; `host` and `key` are then empty.
    pub(super) fn check(
        headers: impl Iterator<Item = (&'b str, &'b [u8])>,
        http: HttpVersion,
    ) -> Result<Self, RequestError> {
        let mut hosts = 0usize;
        let mut host: Option<&'b [u8]> = None;
        let mut upgrade_seen = false;
        let mut upgrade_websocket = false;
        let mut connection_seen = false;
        let mut connection_upgrade = false;
        let mut versions = 0usize;
        let mut version: Option<&[u8]> = None;
        let mut keys = 0usize;
        let mut key: Option<&'b [u8]> = None;
        let mut body = false;
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("host") {
                hosts += 1;
                host = Some(value);
            } else if name.eq_ignore_ascii_case("upgrade") {
                upgrade_seen = true;
                upgrade_websocket |=
                    ListSplit::new(value).any(|t| t.eq_ignore_ascii_case(b"websocket"));
            } else if name.eq_ignore_ascii_case("connection") {
                connection_seen = true;
                connection_upgrade |=
                    ListSplit::new(value).any(|t| t.eq_ignore_ascii_case(b"upgrade"));
            } else if name.eq_ignore_ascii_case("sec-websocket-version") {
                versions += 1;
                version = Some(value);
            } else if name.eq_ignore_ascii_case("sec-websocket-key") {
                keys += 1;
                key = Some(value);
            } else if name.eq_ignore_ascii_case("content-length") {
                body |= value.is_empty() || value.iter().any(|&b| b != b'0');
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                body = true;
            }
        }
        if http == HttpVersion::Http2 {
            // RFC 8441 §5: the version is still 13; there is no key to check.
            check_version(versions, version)?;
            if body {
                return Err(RequestError::UnexpectedBody);
            }
            return Ok(Fields { host: "", key: "" });
        }

        // Item 2: exactly one Host (RFC 7230 §5.4 also requires 400 for several).
        let host = match (hosts, host) {
            (0, _) | (_, None) => return Err(RequestError::MissingHost),
            (1, Some(value)) => value,
            _ => return Err(RequestError::DuplicateHost),
        };
        let host = core::str::from_utf8(host)
            .ok()
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or(RequestError::InvalidHost)?;
        // Item 3: Upgrade includes "websocket".
        if !upgrade_seen {
            return Err(RequestError::MissingUpgrade);
        }
        if !upgrade_websocket {
            return Err(RequestError::UpgradeNotWebSocket);
        }
        // Item 4: Connection includes "Upgrade".
        if !connection_seen {
            return Err(RequestError::MissingConnection);
        }
        if !connection_upgrade {
            return Err(RequestError::ConnectionNotUpgrade);
        }
        // Item 6: Sec-WebSocket-Version is 13.
        check_version(versions, version)?;
        // Item 5: one Sec-WebSocket-Key that base64-decodes to 16 bytes.
        let key = match (keys, key) {
            (0, _) | (_, None) => return Err(RequestError::MissingKey),
            (1, Some(value)) => value,
            _ => return Err(RequestError::DuplicateKey),
        };
        match super::base64::decoded_len(key) {
            Some(16) => {}
            Some(_) => return Err(RequestError::KeyWrongLength),
            None => return Err(RequestError::KeyNotBase64),
        }
        // Valid base64 is ASCII.
        let key = core::str::from_utf8(key).map_err(|_| RequestError::KeyNotBase64)?;
        // Bytes after the head are WebSocket frames; a body would be read as frames.
        if body {
            return Err(RequestError::UnexpectedBody);
        }
        Ok(Fields { host, key })
    }
}

/// `Sec-WebSocket-Version` must appear once, with 13 (RFC 6455 §4.2.1 item 6).
fn check_version(count: usize, value: Option<&[u8]>) -> Result<(), RequestError> {
    match (count, value) {
        (0, _) | (_, None) => Err(RequestError::MissingVersion),
        (1, Some(b"13")) => Ok(()),
        (1, Some(_)) => Err(RequestError::UnsupportedVersion),
        _ => Err(RequestError::DuplicateVersion),
    }
}

/// A valid opening handshake request, borrowing the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'b> {
    buf: &'b [u8],
    consumed: usize,
    path: &'b str,
    query: Option<&'b str>,
    host: &'b str,
    key: &'b str,
}

impl<'b> Request<'b> {
    /// The path of the request target, `/` if it had none (RFC 6455 §3 "resource name").
    pub fn path(&self) -> &'b str {
        self.path
    }

    /// The query of the request target, without `?`.
    pub fn query(&self) -> Option<&'b str> {
        self.query
    }

    /// The `Host` field (RFC 6455 §4.2.1 item 2), e.g. `example.com:8080`.
    pub fn host(&self) -> &'b str {
        self.host
    }

    /// The `Origin` field, if present and UTF-8. RFC 6455 §10.2: a server that only expects
    /// connections from its own pages should refuse other origins (with [`Reject`], 403),
    /// because browsers let any page open a WebSocket to any server.
    pub fn origin(&self) -> Option<&'b str> {
        self.header("origin")
            .and_then(|v| core::str::from_utf8(v).ok())
    }

    /// The `Sec-WebSocket-Key`, as sent (24 base64 characters).
    pub fn key(&self) -> &'b str {
        self.key
    }

    /// The `Sec-WebSocket-Accept` value answering this request's key.
    pub fn accept_key(&self) -> AcceptKey {
        accept_key(self.key.as_bytes())
    }

    /// The subprotocols the client offers, in its order of preference, across all
    /// `Sec-WebSocket-Protocol` fields (RFC 6455 §4.2.1 item 8).
    pub fn protocols(&self) -> ListItems<'b> {
        ListItems::new(self.head(), "sec-websocket-protocol")
    }

    /// The extensions the client offers, one item per offer with its parameters, across all
    /// `Sec-WebSocket-Extensions` fields (RFC 6455 §4.2.1 item 9).
    pub fn extensions(&self) -> ListItems<'b> {
        ListItems::new(self.head(), "sec-websocket-extensions")
    }

    /// The first permessage-deflate offer of the client's that `config` accepts (RFC 7692 §5),
    /// to pass to [`Accept::with_deflate`]; `None` to go on without compression. Offers that
    /// cannot be taken are declined, never an error.
    pub fn negotiate_deflate(&self, config: &DeflateConfig) -> Option<Accepted> {
        negotiate(self.extensions(), config)
    }

    /// The value of the first header field called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers().first_value(name)
    }

    /// All header fields, in the order received.
    pub fn headers(&self) -> Headers<'b> {
        Headers::new(self.head())
    }

    /// Length of the request head at the start of the buffer.
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// The request head: the first [`consumed`](Self::consumed) bytes of the buffer.
    pub fn head(&self) -> &'b [u8] {
        self.buf.get(..self.consumed).unwrap_or(self.buf)
    }

    /// Bytes received after the request head.
    ///
    /// Nothing is lost: a client may send its first frame without waiting for the 101, so
    /// once the request is accepted these bytes are WebSocket data and must be fed to the
    /// engine before any byte read afterwards.
    pub fn remainder(&self) -> &'b [u8] {
        self.buf.get(self.consumed..).unwrap_or(&[])
    }

    /// Writes the `101 Switching Protocols` response (RFC 6455 §4.2.2 step 5) into `out` and
    /// returns its length.
    ///
    /// The chosen subprotocol must be one the client offered and the accepted extensions must
    /// all be named in the client's offers, or the client would have to fail the connection
    /// (§4.1); both are checked here, as are the extra headers.
    pub fn accept(&self, response: &Accept<'_>, out: &mut [u8]) -> Result<usize, WriteError> {
        response.check_against(self.protocols(), self.extensions())?;
        let mut w = Writer::new(out);
        w.put(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
        w.put_header("Sec-WebSocket-Accept", self.accept_key().as_bytes());
        if let Some(protocol) = response.protocol {
            w.put_header("Sec-WebSocket-Protocol", protocol.as_bytes());
        }
        match (response.deflate, response.extensions) {
            (None, None) => {}
            (None, Some(extensions)) => {
                w.put_header("Sec-WebSocket-Extensions", extensions.as_bytes())
            }
            (Some(accepted), extensions) => {
                // At most 124 bytes: every parameter, each once.
                let mut item = [0u8; 128];
                let n = accepted.write_response(&mut item)?;
                w.put(b"Sec-WebSocket-Extensions: ");
                w.put(item.get(..n).unwrap_or(&[]));
                if let Some(extensions) = extensions {
                    w.put(b", ");
                    w.put(extensions.as_bytes());
                }
                w.put(b"\r\n");
            }
        }
        put_extra_headers(&mut w, response.headers, ACCEPT_RESERVED)?;
        w.put(b"\r\n");
        w.finish()
    }
}

/// How to accept a request: the subprotocol and extensions chosen, and extra headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accept<'a> {
    protocol: Option<&'a str>,
    extensions: Option<&'a str>,
    deflate: Option<Accepted>,
    headers: &'a [(&'a str, &'a str)],
}

impl<'a> Accept<'a> {
    /// Checks the subprotocol and the extensions against the client's offers (`protocols` and
    /// `extensions` as [`Request::protocols`] and [`Request::extensions`] yield them): the
    /// chosen subprotocol must be a token the client offered, and every accepted extension
    /// must be named in an offer (RFC 6455 §4.2.2 step 5.5–5.6). [`Request::accept`] and
    /// [`UpgradeRequest::respond`](super::parts::UpgradeRequest::respond) call it; so does a
    /// server that kept the offers and answers later.
    ///
    /// ```
    /// use sockeye_core::handshake::{Accept, WriteError};
    ///
    /// let offered = ["chat", "superchat"];
    /// let ok = Accept::new().with_protocol("chat");
    /// assert_eq!(ok.check_against(offered.into_iter(), [].into_iter()), Ok(()));
    /// let bad = Accept::new().with_protocol("other");
    /// assert_eq!(
    ///     bad.check_against(offered.into_iter(), [].into_iter()),
    ///     Err(WriteError::ProtocolNotOffered)
    /// );
    /// ```
    pub fn check_against<'o>(
        &self,
        mut protocols: impl Iterator<Item = &'o str>,
        extensions: impl Iterator<Item = &'o str> + Clone,
    ) -> Result<(), WriteError> {
        if let Some(protocol) = self.protocol {
            if !is_token(protocol.as_bytes()) {
                return Err(WriteError::InvalidProtocol { index: 0 });
            }
            if !protocols.any(|offered| offered == protocol) {
                return Err(WriteError::ProtocolNotOffered);
            }
        }
        if let Some(accepted) = self.extensions {
            let bytes = accepted.as_bytes();
            if trim_ows(bytes).is_empty() || !is_field_value(bytes) {
                return Err(WriteError::InvalidExtension { index: 0 });
            }
            for item in ListSplit::new(bytes) {
                let name = extension_name(item);
                if !extensions
                    .clone()
                    .any(|offer| extension_name(offer.as_bytes()) == name)
                {
                    return Err(WriteError::ExtensionNotOffered);
                }
            }
        }
        Ok(())
    }

    /// The chosen subprotocol, if any.
    pub const fn protocol(&self) -> Option<&'a str> {
        self.protocol
    }

    /// The accepted extensions (a `Sec-WebSocket-Extensions` value), if any.
    pub const fn extensions(&self) -> Option<&'a str> {
        self.extensions
    }

    /// The extra header fields.
    pub const fn headers(&self) -> &'a [(&'a str, &'a str)] {
        self.headers
    }

    /// Accept without subprotocol, extensions or extra headers.
    pub const fn new() -> Self {
        Accept {
            protocol: None,
            extensions: None,
            deflate: None,
            headers: &[],
        }
    }

    /// Selects one of the subprotocols from [`Request::protocols`] (RFC 6455 §4.2.2 step 5.5
    /// `/subprotocol/`).
    pub const fn with_protocol(mut self, protocol: &'a str) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Sends a `Sec-WebSocket-Extensions` value accepting some of the offered extensions,
    /// e.g. `"permessage-deflate; server_no_context_takeover"` (RFC 6455 §9.1).
    pub const fn with_extensions(mut self, extensions: &'a str) -> Self {
        self.extensions = Some(extensions);
        self
    }

    /// Accepts permessage-deflate with the offer [`Request::negotiate_deflate`] chose: the
    /// response names it first in `Sec-WebSocket-Extensions`, with the parameters the client
    /// must know (RFC 7692 §7.1).
    pub const fn with_deflate(mut self, accepted: Accepted) -> Self {
        self.deflate = Some(accepted);
        self
    }

    /// Adds header fields such as `Set-Cookie`.
    pub const fn with_headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }
}

/// A refusal of a well-formed request, with a status chosen by the application (RFC 6455
/// §4.2.2 step 4: "the server MAY ... a 401, a 3xx redirect ..."; §10.2: 403 for an
/// unwanted `Origin`).
///
/// The response always carries `Content-Length` and `Connection: close`; close the connection
/// after sending it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reject<'a> {
    status: u16,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
}

impl<'a> Reject<'a> {
    /// A rejection with `status`, which must be 200–599, and an empty body.
    pub const fn new(status: u16) -> Self {
        Reject {
            status,
            headers: &[],
            body: &[],
        }
    }

    /// Adds header fields, e.g. `Location` for a redirect or `WWW-Authenticate` for 401.
    pub const fn with_headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the body. Add a `Content-Type` header to describe it.
    pub const fn with_body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// Writes the response into `out` and returns its length.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, WriteError> {
        if !(200..=599).contains(&self.status) {
            return Err(WriteError::InvalidStatus {
                status: self.status,
            });
        }
        let mut w = Writer::new(out);
        put_status_line(&mut w, self.status);
        put_extra_headers(&mut w, self.headers, REJECT_RESERVED)?;
        put_body(&mut w, "close", &[self.body]);
        w.finish()
    }
}

fn put_status_line(w: &mut Writer<'_>, status: u16) {
    w.put(b"HTTP/1.1 ");
    w.put_decimal(usize::from(status));
    w.put(b" ");
    w.put_str(reason_phrase(status));
    w.put(b"\r\n");
}

/// Ends a final response: `Content-Length` for the concatenated `body` parts, `Connection`,
/// the blank line and the body.
fn put_body(w: &mut Writer<'_>, connection: &str, body: &[&[u8]]) {
    w.put(b"Content-Length: ");
    w.put_decimal(body.iter().map(|part| part.len()).sum());
    w.put(b"\r\n");
    w.put_header("Connection", connection.as_bytes());
    w.put(b"\r\n");
    for part in body {
        w.put(part);
    }
}

/// Why a client's request is not a valid opening handshake.
///
/// RFC 6455 §4.2.1: the server must stop processing and answer with an HTTP error. Each
/// variant knows its [`status`](Self::status), and
/// [`write_response`](Self::write_response) produces the complete answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestError {
    /// The request head did not end within [`ServerConfig::max_request_size`] bytes.
    /// Status 431 (RFC 6585 §5).
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The request has more header fields than the handshake's `MAX_HEADERS`. Status 431.
    TooManyHeaders {
        /// The `MAX_HEADERS` of the [`ServerHandshake`].
        limit: usize,
    },
    /// The request is not well-formed HTTP/1.1. Status 400.
    Malformed(SyntaxError),
    /// The method is not `GET` (§4.2.1 item 1). Status 405, with `Allow: GET` as RFC 7231
    /// §6.5.5 requires, so the client learns what would have worked.
    MethodNotAllowed,
    /// The request is HTTP/1.0; §4.2.1 item 1 requires HTTP/1.1 or higher, and HTTP/1.0 has
    /// no `Upgrade` mechanism. Status 400. (Versions above 1.1 cannot be expressed in an
    /// HTTP/1.x request line and are reported as [`SyntaxError::Version`].)
    UnsupportedHttpVersion,
    /// The request target is neither a path nor an absolute `http(s)`/`ws(s)` URI, or it
    /// contains a fragment. Status 400.
    InvalidTarget,
    /// No `Host` field (§4.2.1 item 2). Status 400.
    MissingHost,
    /// More than one `Host` field (RFC 7230 §5.4). Status 400.
    DuplicateHost,
    /// The `Host` field is empty or contains whitespace or non-ASCII characters. Status 400.
    InvalidHost,
    /// No `Upgrade` field (§4.2.1 item 3): typically a plain HTTP request. Status 400.
    MissingUpgrade,
    /// `Upgrade` does not contain `websocket`. Status 400.
    UpgradeNotWebSocket,
    /// No `Connection` field (§4.2.1 item 4). Status 400.
    MissingConnection,
    /// `Connection` does not contain the token `Upgrade`. Status 400.
    ConnectionNotUpgrade,
    /// No `Sec-WebSocket-Version` field (§4.2.1 item 6). Status 426 with
    /// `Sec-WebSocket-Version: 13` (§4.4).
    MissingVersion,
    /// `Sec-WebSocket-Version` is not 13. Status 426 with `Sec-WebSocket-Version: 13`, which
    /// tells the client which version to retry with (§4.4).
    UnsupportedVersion,
    /// More than one `Sec-WebSocket-Version` field. Status 400.
    DuplicateVersion,
    /// No `Sec-WebSocket-Key` field (§4.2.1 item 5). Status 400.
    MissingKey,
    /// More than one `Sec-WebSocket-Key` field. Status 400.
    DuplicateKey,
    /// `Sec-WebSocket-Key` is not base64 with padding (RFC 4648 §4). Status 400.
    KeyNotBase64,
    /// `Sec-WebSocket-Key` does not decode to 16 bytes. Status 400.
    KeyWrongLength,
    /// The request announces a body (`Content-Length` other than 0, or `Transfer-Encoding`).
    /// Bytes after the head are read as WebSocket frames, so a body would be misread as
    /// frames: an opening for request smuggling. Status 400.
    UnexpectedBody,
    /// An HTTP/2 request that is not a `CONNECT` (RFC 8441 §4: a WebSocket over HTTP/2 is an
    /// extended `CONNECT`). Status 405.
    Http2MethodNotConnect,
    /// An HTTP/2 `CONNECT` without the `:protocol` pseudo-header `websocket` (RFC 8441 §4):
    /// a plain tunnel request, or another protocol. Status 400.
    Http2ProtocolNotWebSocket,
}

impl RequestError {
    /// The HTTP status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::TooLarge { .. } | RequestError::TooManyHeaders { .. } => 431,
            RequestError::MethodNotAllowed | RequestError::Http2MethodNotConnect => 405,
            RequestError::MissingVersion | RequestError::UnsupportedVersion => 426,
            _ => 400,
        }
    }

    /// A one-line explanation, also used as the body of the error response.
    fn message(&self) -> &'static str {
        match self {
            RequestError::TooLarge { .. } => "request head too large",
            RequestError::TooManyHeaders { .. } => "too many header fields",
            RequestError::Malformed(e) => match e {
                SyntaxError::InvalidByte => "malformed request: invalid byte",
                SyntaxError::StartLine => "malformed request line",
                SyntaxError::Version => "malformed request: unknown HTTP version",
                SyntaxError::HeaderName => "malformed request: invalid header name",
                SyntaxError::HeaderValue => "malformed request: invalid header value",
                SyntaxError::NewLine => "malformed request: invalid line ending",
            },
            RequestError::MethodNotAllowed => "WebSocket handshake must use GET",
            RequestError::UnsupportedHttpVersion => "WebSocket handshake requires HTTP/1.1",
            RequestError::InvalidTarget => "invalid request target",
            RequestError::MissingHost => "missing Host header",
            RequestError::DuplicateHost => "more than one Host header",
            RequestError::InvalidHost => "invalid Host header",
            RequestError::MissingUpgrade => "missing Upgrade header (not a WebSocket request)",
            RequestError::UpgradeNotWebSocket => "Upgrade header does not contain \"websocket\"",
            RequestError::MissingConnection => "missing Connection header",
            RequestError::ConnectionNotUpgrade => "Connection header does not contain \"Upgrade\"",
            RequestError::MissingVersion => "missing Sec-WebSocket-Version header",
            RequestError::UnsupportedVersion => "unsupported Sec-WebSocket-Version (only 13)",
            RequestError::DuplicateVersion => "more than one Sec-WebSocket-Version header",
            RequestError::MissingKey => "missing Sec-WebSocket-Key header",
            RequestError::DuplicateKey => "more than one Sec-WebSocket-Key header",
            RequestError::KeyNotBase64 => "Sec-WebSocket-Key is not valid base64",
            RequestError::KeyWrongLength => "Sec-WebSocket-Key does not decode to 16 bytes",
            RequestError::UnexpectedBody => "WebSocket handshake request must not have a body",
            RequestError::Http2MethodNotConnect => {
                "a WebSocket over HTTP/2 must be opened with an extended CONNECT (RFC 8441)"
            }
            RequestError::Http2ProtocolNotWebSocket => {
                "HTTP/2 CONNECT without the :protocol pseudo-header \"websocket\" (RFC 8441)"
            }
        }
    }

    /// Writes the complete HTTP error response into `out` and returns its length: status
    /// line, the headers the status calls for (`Allow: GET` for 405; `Upgrade: websocket` and
    /// `Sec-WebSocket-Version: 13` for 426, per RFC 7231 §6.5.15 and RFC 6455 §4.4),
    /// `Content-Type`, `Content-Length`, `Connection: close` and a one-line text body.
    ///
    /// Close the connection after sending it: the rest of the client's bytes cannot be
    /// trusted to be in sync.
    pub fn write_response(&self, out: &mut [u8]) -> Result<usize, WriteError> {
        let status = self.status();
        let mut w = Writer::new(out);
        put_status_line(&mut w, status);
        let mut connection = "close";
        match status {
            405 if *self == RequestError::Http2MethodNotConnect => w.put(b"Allow: CONNECT\r\n"),
            405 => w.put(b"Allow: GET\r\n"),
            426 => {
                w.put(b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
                // RFC 7230 §6.7: whoever sends Upgrade also sends the "upgrade" option.
                connection = "Upgrade, close";
            }
            _ => {}
        }
        w.put(b"Content-Type: text/plain; charset=utf-8\r\n");
        put_body(&mut w, connection, &[self.message().as_bytes(), b"\n"]);
        w.finish()
    }
}

impl core::fmt::Display for RequestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            RequestError::TooLarge { limit } => {
                write!(f, "handshake request head exceeds {limit} bytes")
            }
            RequestError::TooManyHeaders { limit } => {
                write!(f, "handshake request has more than {limit} header fields")
            }
            RequestError::Malformed(e) => write!(f, "malformed handshake request: {e}"),
            _ => f.write_str(self.message()),
        }
    }
}

impl core::error::Error for RequestError {}

#[cfg(test)]
mod tests {

    use super::*;
    use std::format;
    use std::string::{String, ToString};
    use std::vec::Vec;

    /// What a request parses to, minus the buffer it borrows (which differs between whole
    /// and byte-at-a-time delivery only in the bytes after the head).
    type Verdict<'b> =
        Result<Option<(usize, &'b str, Option<&'b str>, &'b str, &'b str)>, RequestError>;

    fn summary(r: Request<'_>) -> (usize, &str, Option<&str>, &str, &str) {
        (r.consumed(), r.path(), r.query(), r.host(), r.key())
    }

    fn whole<const N: usize>(config: ServerConfig, buf: &[u8]) -> Verdict<'_> {
        ServerHandshake::<N>::with_config(config)
            .read_request(buf)
            .map(|r| r.map(summary))
    }

    /// Feeds `buf` one byte at a time, calling after each byte, until a verdict.
    fn bytewise<const N: usize>(config: ServerConfig, buf: &[u8]) -> Verdict<'_> {
        let mut hs = ServerHandshake::<N>::with_config(config);
        for n in 0..=buf.len() {
            match hs.read_request(&buf[..n]) {
                Ok(None) => {}
                other => return other.map(|r| r.map(summary)),
            }
        }
        Ok(None)
    }

    /// Parses `buf` whole and byte by byte, asserts both give the same verdict, returns it.
    fn check_with<const N: usize>(config: ServerConfig, buf: &[u8]) -> Verdict<'_> {
        let a = whole::<N>(config, buf);
        let b = bytewise::<N>(config, buf);
        assert_eq!(
            a,
            b,
            "whole vs byte-at-a-time for {:?}",
            String::from_utf8_lossy(buf)
        );
        a
    }

    fn check(buf: &[u8]) -> Verdict<'_> {
        check_with::<DEFAULT_MAX_HEADERS>(ServerConfig::new(), buf)
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    /// A valid request with `lines` replacing the standard fields named in `drop`.
    fn request(start: &str, drop: &[&str], lines: &[&str], eol: &str) -> String {
        let mut out = String::from(start);
        out.push_str(eol);
        for field in [
            "Host: server.example.com",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ] {
            let name = field.split(':').next().unwrap();
            if !drop.iter().any(|d| d.eq_ignore_ascii_case(name)) {
                out.push_str(field);
                out.push_str(eol);
            }
        }
        for line in lines {
            out.push_str(line);
            out.push_str(eol);
        }
        out.push_str(eol);
        out
    }

    fn std_request(drop: &[&str], lines: &[&str]) -> String {
        request("GET /chat HTTP/1.1", drop, lines, "\r\n")
    }

    #[derive(Debug)]
    enum Expect {
        Accept,
        NeedMore,
        Fail(RequestError),
    }
    use Expect::{Accept as Ok_, Fail, NeedMore};

    #[test]
    fn request_table() {
        let many_headers: Vec<String> = (0..28).map(|i| format!("X-H{i}: v")).collect();
        let many: Vec<&str> = many_headers.iter().map(String::as_str).collect();
        let long_value = format!("X-Long: {}", "a".repeat(8200));
        let table: Vec<(&str, String, Expect)> = std::vec![
            ("valid", std_request(&[], &[]), Ok_),
            (
                "connection keep-alive, Upgrade",
                std_request(&["connection"], &["Connection: keep-alive, Upgrade"]),
                Ok_
            ),
            (
                "connection split over two fields",
                std_request(
                    &["connection"],
                    &["Connection: keep-alive", "Connection: upgrade"]
                ),
                Ok_
            ),
            (
                "upgrade list",
                std_request(&["upgrade"], &["Upgrade: h2c, WebSocket"]),
                Ok_
            ),
            (
                "mixed-case names and values",
                request(
                    "GET /chat HTTP/1.1",
                    &[
                        "host",
                        "upgrade",
                        "connection",
                        "sec-websocket-key",
                        "sec-websocket-version"
                    ],
                    &[
                        "HOST: server.example.com",
                        "upgrade: WebSocket",
                        "CONNECTION: UPGRADE",
                        "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==",
                        "SEC-WEBSOCKET-VERSION: 13"
                    ],
                    "\r\n"
                ),
                Ok_,
            ),
            (
                "LF-only line endings",
                request("GET /chat HTTP/1.1", &[], &[], "\n"),
                Ok_
            ),
            (
                "leading empty line",
                format!("\r\n{}", std_request(&[], &[])),
                Ok_
            ),
            (
                "content-length 0",
                std_request(&[], &["Content-Length: 0"]),
                Ok_
            ),
            (
                "absolute-form target",
                request(
                    "GET ws://server.example.com/chat?x=1 HTTP/1.1",
                    &[],
                    &[],
                    "\r\n"
                ),
                Ok_
            ),
            (
                "28 extra headers (33 total)",
                std_request(&[], &many[..27]),
                Ok_
            ),
            (
                "incomplete",
                String::from("GET /chat HTTP/1.1\r\nHost: a\r\n"),
                NeedMore
            ),
            ("empty", String::new(), NeedMore),
            (
                "missing Host",
                std_request(&["host"], &[]),
                Fail(RequestError::MissingHost)
            ),
            (
                "duplicate Host",
                std_request(&[], &["Host: other"]),
                Fail(RequestError::DuplicateHost)
            ),
            (
                "empty Host",
                std_request(&["host"], &["Host:"]),
                Fail(RequestError::InvalidHost)
            ),
            (
                "missing Upgrade",
                std_request(&["upgrade"], &[]),
                Fail(RequestError::MissingUpgrade)
            ),
            (
                "Upgrade not websocket",
                std_request(&["upgrade"], &["Upgrade: h2c"]),
                Fail(RequestError::UpgradeNotWebSocket)
            ),
            (
                "missing Connection",
                std_request(&["connection"], &[]),
                Fail(RequestError::MissingConnection)
            ),
            (
                "Connection keep-alive only",
                std_request(&["connection"], &["Connection: keep-alive"]),
                Fail(RequestError::ConnectionNotUpgrade)
            ),
            (
                "missing version",
                std_request(&["sec-websocket-version"], &[]),
                Fail(RequestError::MissingVersion)
            ),
            (
                "version 8",
                std_request(&["sec-websocket-version"], &["Sec-WebSocket-Version: 8"]),
                Fail(RequestError::UnsupportedVersion)
            ),
            (
                "version list",
                std_request(
                    &["sec-websocket-version"],
                    &["Sec-WebSocket-Version: 13, 8"]
                ),
                Fail(RequestError::UnsupportedVersion)
            ),
            (
                "duplicate version",
                std_request(&[], &["Sec-WebSocket-Version: 13"]),
                Fail(RequestError::DuplicateVersion)
            ),
            (
                "missing key",
                std_request(&["sec-websocket-key"], &[]),
                Fail(RequestError::MissingKey)
            ),
            (
                "duplicate key",
                std_request(&[], &["Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="]),
                Fail(RequestError::DuplicateKey)
            ),
            (
                "key of 12 bytes",
                std_request(
                    &["sec-websocket-key"],
                    &["Sec-WebSocket-Key: AAAAAAAAAAAAAAAA"]
                ),
                Fail(RequestError::KeyWrongLength)
            ),
            (
                "key of 20 bytes",
                std_request(
                    &["sec-websocket-key"],
                    &["Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAAAAA="]
                ),
                Fail(RequestError::KeyWrongLength)
            ),
            (
                "key not base64",
                std_request(
                    &["sec-websocket-key"],
                    &["Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="]
                ),
                Fail(RequestError::KeyNotBase64)
            ),
            (
                "key without padding",
                std_request(
                    &["sec-websocket-key"],
                    &["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"]
                ),
                Fail(RequestError::KeyNotBase64)
            ),
            (
                "empty key",
                std_request(&["sec-websocket-key"], &["Sec-WebSocket-Key:"]),
                Fail(RequestError::KeyWrongLength)
            ),
            (
                "POST",
                request("POST /chat HTTP/1.1", &[], &[], "\r\n"),
                Fail(RequestError::MethodNotAllowed)
            ),
            (
                "lower-case get",
                request("get /chat HTTP/1.1", &[], &[], "\r\n"),
                Fail(RequestError::MethodNotAllowed)
            ),
            (
                "HTTP/1.0",
                request("GET /chat HTTP/1.0", &[], &[], "\r\n"),
                Fail(RequestError::UnsupportedHttpVersion)
            ),
            (
                "HTTP/2.0",
                request("GET /chat HTTP/2.0", &[], &[], "\r\n"),
                Fail(RequestError::Malformed(SyntaxError::Version))
            ),
            (
                "asterisk target",
                request("GET * HTTP/1.1", &[], &[], "\r\n"),
                Fail(RequestError::InvalidTarget)
            ),
            (
                "fragment in target",
                request("GET /chat#x HTTP/1.1", &[], &[], "\r\n"),
                Fail(RequestError::InvalidTarget)
            ),
            (
                "body by length",
                std_request(&[], &["Content-Length: 5"]),
                Fail(RequestError::UnexpectedBody)
            ),
            (
                "chunked body",
                std_request(&[], &["Transfer-Encoding: chunked"]),
                Fail(RequestError::UnexpectedBody)
            ),
            (
                "too many headers",
                std_request(&[], &many),
                Fail(RequestError::TooManyHeaders { limit: 32 })
            ),
            (
                "oversized",
                std_request(&[], &[&long_value]),
                Fail(RequestError::TooLarge { limit: 8192 })
            ),
            (
                "endless header",
                format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(9000)),
                Fail(RequestError::TooLarge { limit: 8192 })
            ),
            (
                "binary garbage (TLS ClientHello)",
                String::from("\u{16}\u{3}\u{1}\u{2}\u{0}\u{1}\u{0}"),
                Fail(RequestError::Malformed(SyntaxError::InvalidByte))
            ),
            (
                "NUL in a value",
                std_request(&[], &["X-A: a\0b"]),
                Fail(RequestError::Malformed(SyntaxError::InvalidByte))
            ),
            (
                "bare CR",
                String::from("GET / HTTP/1.1\rHost: a\r\n\r\n"),
                Fail(RequestError::Malformed(SyntaxError::InvalidByte))
            ),
            (
                "text garbage",
                String::from("hello\r\n\r\n"),
                Fail(RequestError::Malformed(SyntaxError::StartLine))
            ),
            (
                "no version",
                String::from("GET /\r\n\r\n"),
                Fail(RequestError::Malformed(SyntaxError::StartLine))
            ),
            (
                "header without colon",
                std_request(&[], &["NoColon"]),
                Fail(RequestError::Malformed(SyntaxError::HeaderName))
            ),
            (
                "space before colon",
                std_request(&[], &["X-A : b"]),
                Fail(RequestError::Malformed(SyntaxError::HeaderName))
            ),
            (
                "obsolete line folding",
                std_request(&[], &["X-A: b", " folded"]),
                Fail(RequestError::Malformed(SyntaxError::HeaderName))
            ),
        ];
        for (name, bytes, expect) in &table {
            let got = check(bytes.as_bytes());
            match (expect, &got) {
                (Ok_, Ok(Some(_))) | (NeedMore, Ok(None)) => {}
                (Fail(e), Err(g)) if e == g => {}
                _ => panic!("{name}: expected {expect:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn valid_request_exposes_its_fields() {
        let text = std_request(
            &[],
            &[
                "Origin: http://example.com",
                "Sec-WebSocket-Protocol: chat, superchat",
                "Sec-WebSocket-Protocol: v3.chat",
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo",
                "X-Custom:   spaced value  ",
            ],
        );
        let mut hs = ServerHandshake::new();
        let req = hs.read_request(text.as_bytes()).unwrap().unwrap();
        assert_eq!(req.path(), "/chat");
        assert_eq!(req.query(), None);
        assert_eq!(req.host(), "server.example.com");
        assert_eq!(req.key(), KEY);
        assert_eq!(req.accept_key().as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(req.origin(), Some("http://example.com"));
        assert!(req.protocols().eq(["chat", "superchat", "v3.chat"]));
        assert!(req
            .extensions()
            .eq(["permessage-deflate; client_max_window_bits", "x-foo"]));
        assert_eq!(req.header("x-custom"), Some(&b"spaced value"[..]));
        assert_eq!(req.header("X-CUSTOM"), Some(&b"spaced value"[..]));
        assert_eq!(req.header("missing"), None);
        assert_eq!(req.headers().count(), 10);
        assert_eq!(req.headers().next().unwrap().name, "Host");
        assert_eq!(req.consumed(), text.len());
        assert_eq!(req.head(), text.as_bytes());
        assert!(req.remainder().is_empty());
    }

    #[test]
    fn query_and_absolute_targets() {
        for (start, path, query) in [
            ("GET /a/b?x=1&y HTTP/1.1", "/a/b", Some("x=1&y")),
            ("GET /? HTTP/1.1", "/", Some("")),
            ("GET http://h/p HTTP/1.1", "/p", None),
            ("GET HTTPS://h:1?q HTTP/1.1", "/", Some("q")),
            ("GET wss://h HTTP/1.1", "/", None),
        ] {
            let text = request(start, &[], &[], "\r\n");
            let got = check(text.as_bytes()).unwrap().unwrap();
            assert_eq!((got.1, got.2), (path, query), "{start}");
        }
        for start in [
            "GET ftp://h/ HTTP/1.1",
            "GET http:///p HTTP/1.1",
            "GET x HTTP/1.1",
        ] {
            let text = request(start, &[], &[], "\r\n");
            assert_eq!(
                check(text.as_bytes()),
                Err(RequestError::InvalidTarget),
                "{start}"
            );
        }
    }

    #[test]
    fn pipelined_frame_is_handed_back() {
        let mut text = std_request(&[], &[]).into_bytes();
        let head_len = text.len();
        text.extend_from_slice(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        let mut hs = ServerHandshake::new();
        let req = hs.read_request(&text).unwrap().unwrap();
        assert_eq!(req.consumed(), head_len);
        assert_eq!(req.remainder(), &text[head_len..]);
        // Header lookups never look past the head.
        assert_eq!(req.headers().count(), 5);
    }

    #[test]
    fn limits_are_configurable() {
        let text = std_request(&[], &[]);
        let len = text.len();
        let exact = ServerConfig::new().with_max_request_size(len);
        assert!(matches!(
            check_with::<32>(exact, text.as_bytes()),
            Ok(Some(_))
        ));
        let short = ServerConfig::new().with_max_request_size(len - 1);
        assert_eq!(
            check_with::<32>(short, text.as_bytes()),
            Err(RequestError::TooLarge { limit: len - 1 })
        );
        assert_eq!(
            check_with::<4>(ServerConfig::new(), text.as_bytes()),
            Err(RequestError::TooManyHeaders { limit: 4 })
        );
        assert!(matches!(
            check_with::<5>(ServerConfig::new(), text.as_bytes()),
            Ok(Some(_))
        ));
        assert_eq!(
            check_with::<0>(ServerConfig::new(), text.as_bytes()),
            Err(RequestError::TooManyHeaders { limit: 0 })
        );
    }

    #[test]
    fn oversized_request_fails_as_soon_as_the_limit_is_reached() {
        let config = ServerConfig::new().with_max_request_size(64);
        let mut hs = ServerHandshake::<32>::with_config(config);
        let junk = [b'a'; 64];
        assert_eq!(hs.read_request(&junk[..63]), Ok(None));
        assert_eq!(
            hs.read_request(&junk),
            Err(RequestError::TooLarge { limit: 64 })
        );
    }

    fn accept_text(req: &Request<'_>, accept: &Accept<'_>) -> Result<String, WriteError> {
        let mut out = [0u8; 512];
        let len = req.accept(accept, &mut out)?;
        Ok(String::from_utf8(out[..len].to_vec()).unwrap())
    }

    #[test]
    fn accept_writes_the_rfc_response() {
        let text = std_request(&[], &["Sec-WebSocket-Protocol: chat, superchat"]);
        let mut hs = ServerHandshake::new();
        let req = hs.read_request(text.as_bytes()).unwrap().unwrap();
        assert_eq!(
            accept_text(&req, &Accept::new().with_protocol("chat")).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Sec-WebSocket-Protocol: chat\r\n\r\n"
        );
        assert_eq!(
            accept_text(&req, &Accept::new().with_headers(&[("Set-Cookie", "a=b")])).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Set-Cookie: a=b\r\n\r\n"
        );
    }

    #[test]
    fn accept_refuses_what_the_client_did_not_offer() {
        let text = std_request(
            &[],
            &[
                "Sec-WebSocket-Protocol: chat",
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
            ],
        );
        let mut hs = ServerHandshake::new();
        let req = hs.read_request(text.as_bytes()).unwrap().unwrap();
        for (accept, err) in [
            (
                Accept::new().with_protocol("superchat"),
                WriteError::ProtocolNotOffered,
            ),
            (
                Accept::new().with_protocol("chat\r\nX: y"),
                WriteError::InvalidProtocol { index: 0 },
            ),
            (
                Accept::new().with_protocol(""),
                WriteError::InvalidProtocol { index: 0 },
            ),
            (
                Accept::new().with_extensions("x-other"),
                WriteError::ExtensionNotOffered,
            ),
            (
                Accept::new().with_extensions("permessage-deflate, x-other"),
                WriteError::ExtensionNotOffered,
            ),
            (
                Accept::new().with_extensions(" "),
                WriteError::InvalidExtension { index: 0 },
            ),
            (
                Accept::new().with_extensions("permessage-deflate\r\nX: y"),
                WriteError::InvalidExtension { index: 0 },
            ),
            (
                Accept::new().with_headers(&[("Sec-WebSocket-Accept", "forged")]),
                WriteError::ReservedHeader { index: 0 },
            ),
            (
                Accept::new().with_headers(&[("X-A", "1"), ("X-B", "2\r\n\r\n")]),
                WriteError::InvalidHeaderValue { index: 1 },
            ),
        ] {
            assert_eq!(accept_text(&req, &accept), Err(err), "{accept:?}");
        }
        let ok = accept_text(
            &req,
            &Accept::new()
                .with_protocol("chat")
                .with_extensions("permessage-deflate; server_no_context_takeover"),
        )
        .unwrap();
        assert!(ok.contains(
            "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
        ));
    }

    #[test]
    fn accept_reports_the_size_it_needs() {
        let text = std_request(&[], &[]);
        let mut hs = ServerHandshake::new();
        let req = hs.read_request(text.as_bytes()).unwrap().unwrap();
        let mut small = [0u8; 10];
        let needed = match req.accept(&Accept::new(), &mut small) {
            Err(WriteError::BufferTooSmall { needed }) => needed,
            other => panic!("{other:?}"),
        };
        let mut exact = std::vec![0u8; needed];
        assert_eq!(req.accept(&Accept::new(), &mut exact), Ok(needed));
    }

    fn error_response(e: RequestError) -> String {
        let mut out = [0u8; 512];
        let len = e.write_response(&mut out).unwrap();
        String::from_utf8(out[..len].to_vec()).unwrap()
    }

    #[test]
    fn version_mismatch_answers_426_with_the_supported_version() {
        let e = RequestError::UnsupportedVersion;
        assert_eq!(e.status(), 426);
        let body = "unsupported Sec-WebSocket-Version (only 13)\n";
        assert_eq!(
            error_response(e),
            format!(
                "HTTP/1.1 426 Upgrade Required\r\n\
                 Upgrade: websocket\r\n\
                 Sec-WebSocket-Version: 13\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\n\
                 Connection: Upgrade, close\r\n\r\n{body}",
                body.len()
            )
        );
        assert_eq!(RequestError::MissingVersion.status(), 426);
    }

    #[test]
    fn error_responses_carry_their_status_and_a_body() {
        for (e, status, line) in [
            (
                RequestError::MethodNotAllowed,
                405,
                "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n",
            ),
            (
                RequestError::TooLarge { limit: 1 },
                431,
                "HTTP/1.1 431 Request Header Fields Too Large\r\n",
            ),
            (
                RequestError::TooManyHeaders { limit: 1 },
                431,
                "HTTP/1.1 431 ",
            ),
            (
                RequestError::MissingKey,
                400,
                "HTTP/1.1 400 Bad Request\r\nContent-Type",
            ),
            (
                RequestError::Malformed(SyntaxError::InvalidByte),
                400,
                "HTTP/1.1 400 ",
            ),
        ] {
            assert_eq!(e.status(), status);
            let text = error_response(e);
            assert!(text.starts_with(line), "{text}");
            assert!(text.contains("\r\nConnection: close\r\n") || status == 426);
            // Content-Length matches the body.
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let declared = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap();
            assert_eq!(declared.parse::<usize>().unwrap(), body.len());
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn reject_writes_a_caller_chosen_status() {
        let mut out = [0u8; 256];
        let len = Reject::new(403)
            .with_headers(&[("Content-Type", "text/plain")])
            .with_body(b"origin not allowed")
            .write(&mut out)
            .unwrap();
        assert_eq!(
            &out[..len],
            b"HTTP/1.1 403 Forbidden\r\n\
              Content-Type: text/plain\r\n\
              Content-Length: 18\r\n\
              Connection: close\r\n\r\n\
              origin not allowed"
        );
        let len = Reject::new(302)
            .with_headers(&[("Location", "/elsewhere")])
            .write(&mut out)
            .unwrap();
        assert!(out[..len].starts_with(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\n"));
        let len = Reject::new(599).write(&mut out).unwrap();
        assert!(out[..len].starts_with(b"HTTP/1.1 599 Server Error\r\n"));
        for status in [0, 101, 199, 600, 1000] {
            assert_eq!(
                Reject::new(status).write(&mut out),
                Err(WriteError::InvalidStatus { status })
            );
        }
        assert_eq!(
            Reject::new(400)
                .with_headers(&[("content-length", "3")])
                .write(&mut out),
            Err(WriteError::ReservedHeader { index: 0 })
        );
        assert_eq!(
            Reject::new(400).write(&mut out[..5]),
            Err(WriteError::BufferTooSmall { needed: 66 })
        );
    }

    #[test]
    fn default_and_new_agree() {
        let a: ServerHandshake = ServerHandshake::default();
        let b = ServerHandshake::new();
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(ServerConfig::default(), ServerConfig::new());
    }
}
