//! The client's half of the opening handshake: RFC 6455 §4.1.
//!
//! 1. Describe the request with a [`ClientRequest`] (usually from a [`Url`]).
//! 2. Create a [`ClientHandshake`] from it and 16 random bytes, and send the bytes that
//!    [`ClientHandshake::write_request`] produces.
//! 3. Append everything received to one buffer and call [`ClientHandshake::read_response`]
//!    after every read until it returns `Ok(Some(response))` or an error.
//! 4. Feed [`ClientResponse::remainder`] to the WebSocket engine before any byte read later.

use super::deflate::{DeflateError, DeflateOffer, DeflateParams, PERMESSAGE_DEFLATE};
use super::headers::{extension_name, is_field_value, is_token, trim_ows, ListSplit};
use super::scan::{HeadScanner, Scan};
use super::status::HeadError;
use super::write::{put_extra_headers, Writer};
use super::{
    accept_key, AcceptKey, Headers, ListItems, SyntaxError, WriteError, DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_HEAD_SIZE,
};
use crate::url::{HostHeader, Url};

/// Header fields the request writes itself; extra headers may not repeat them.
const RESERVED: &[&str] = &[
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Origin",
    // A body would be read by the server as WebSocket frames.
    "Content-Length",
    "Transfer-Encoding",
];

/// What the client asks for: target, `Origin`, subprotocols, extensions, extra headers.
///
/// All fields borrow from the caller, so a request is cheap to build on the stack:
///
/// ```
/// use sockeye_core::handshake::ClientRequest;
/// use sockeye_core::url::Url;
///
/// let url = Url::parse("ws://example.com/chat").unwrap();
/// let request = ClientRequest::new(&url)
///     .with_origin("http://example.com")
///     .with_protocols(&["chat.v2", "chat"])
///     .with_headers(&[("Authorization", "Bearer abc")]);
/// # let _ = request;
/// ```
///
/// Nothing is validated until the request is written; then every caller-supplied string is
/// checked so that none of them can break out of its line (see [`WriteError`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientRequest<'a> {
    host: HostHeader<'a>,
    path: &'a str,
    query: Option<&'a str>,
    origin: Option<&'a str>,
    protocols: &'a [&'a str],
    extensions: &'a [&'a str],
    deflate: Option<DeflateOffer>,
    headers: &'a [(&'a str, &'a str)],
}

impl<'a> ClientRequest<'a> {
    /// A request for the resource and host of `url` (RFC 6455 §4.1 items 3 and 4).
    pub fn new(url: &Url<'a>) -> Self {
        let resource = url.resource();
        ClientRequest {
            host: url.host_header(),
            path: resource.path(),
            query: resource.query(),
            origin: None,
            protocols: &[],
            extensions: &[],
            deflate: None,
            headers: &[],
        }
    }

    /// A request from an already formatted `Host` value (such as `"example.com:8080"`) and
    /// request target (such as `"/chat?room=1"`), for callers that have no [`Url`].
    pub fn from_parts(host: &'a str, resource: &'a str) -> Self {
        ClientRequest {
            host: HostHeader::verbatim(host),
            path: resource,
            query: None,
            origin: None,
            protocols: &[],
            extensions: &[],
            deflate: None,
            headers: &[],
        }
    }

    /// Sends `Origin` (RFC 6455 §4.1 item 8, RFC 6454). Browsers always send it; servers use
    /// it to refuse cross-site connections. Non-browser clients may leave it out.
    pub fn with_origin(mut self, origin: &'a str) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Offers subprotocols in order of preference (RFC 6455 §4.1 item 10). Each must be an
    /// HTTP token and appear once; the server may pick one of them.
    pub fn with_protocols(mut self, protocols: &'a [&'a str]) -> Self {
        self.protocols = protocols;
        self
    }

    /// Offers extensions (RFC 6455 §4.1 item 11, §9.1), each written as given, for example
    /// `"permessage-deflate; client_max_window_bits"`. The response may only accept
    /// extensions named here.
    pub fn with_extensions(mut self, extensions: &'a [&'a str]) -> Self {
        self.extensions = extensions;
        self
    }

    /// Offers permessage-deflate (RFC 7692) with `offer`'s parameters, first in
    /// `Sec-WebSocket-Extensions`; the server's answer is checked against it and its outcome
    /// is [`ClientResponse::deflate`].
    pub fn with_deflate(mut self, offer: DeflateOffer) -> Self {
        self.deflate = Some(offer);
        self
    }

    /// The permessage-deflate offer, if any.
    pub fn deflate(&self) -> Option<DeflateOffer> {
        self.deflate
    }

    /// Adds header fields such as `Authorization` or `Cookie` (RFC 6455 §4.1 item 12). Names
    /// must be tokens, values may not contain control characters, and fields the handshake
    /// writes itself are refused.
    pub fn with_headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// The subprotocols offered.
    pub fn protocols(&self) -> &'a [&'a str] {
        self.protocols
    }

    /// The extensions offered.
    pub fn extensions(&self) -> &'a [&'a str] {
        self.extensions
    }

    /// The `Origin` to send, if any.
    pub fn origin(&self) -> Option<&'a str> {
        self.origin
    }

    /// The extra header fields to send.
    pub fn headers(&self) -> &'a [(&'a str, &'a str)] {
        self.headers
    }

    /// Checks every caller-supplied string before anything is written.
    pub(super) fn validate(&self) -> Result<(), WriteError> {
        let visible = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
        if self.host.host().is_empty() || !visible(self.host.host()) {
            return Err(WriteError::InvalidHost);
        }
        // RFC 7230 §5.3.1 origin-form; a fragment is never sent (RFC 6455 §3).
        let target_ok = |s: &str| visible(s) && !s.contains('#');
        if !self.path.starts_with('/') || !target_ok(self.path) || !self.query.is_none_or(target_ok)
        {
            return Err(WriteError::InvalidResource);
        }
        if !self.origin.is_none_or(|o| is_field_value(o.as_bytes())) {
            return Err(WriteError::InvalidOrigin);
        }
        for (index, protocol) in self.protocols.iter().enumerate() {
            if !is_token(protocol.as_bytes()) {
                return Err(WriteError::InvalidProtocol { index });
            }
            if self
                .protocols
                .get(..index)
                .unwrap_or(&[])
                .contains(protocol)
            {
                return Err(WriteError::DuplicateProtocol { index });
            }
        }
        for (index, extension) in self.extensions.iter().enumerate() {
            let bytes = extension.as_bytes();
            let names_ok = ListSplit::new(bytes).all(|item| is_token(extension_name(item)));
            if trim_ows(bytes).is_empty() || !is_field_value(bytes) || !names_ok {
                return Err(WriteError::InvalidExtension { index });
            }
        }
        Ok(())
    }

    fn offered_extension(&self, name: &[u8]) -> bool {
        if self.deflate.is_some() && name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE.as_bytes()) {
            return true;
        }
        self.extensions
            .iter()
            .any(|offer| ListSplit::new(offer.as_bytes()).any(|item| extension_name(item) == name))
    }
}

/// Limits for reading the server's response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Largest response head accepted, in bytes ([`DEFAULT_MAX_HEAD_SIZE`] by default). A
    /// server whose head does not end within this many bytes fails with
    /// [`ResponseError::TooLarge`], which bounds the receive buffer the caller must provide.
    pub max_response_size: usize,
}

impl ClientConfig {
    /// The default limits.
    pub const fn new() -> Self {
        ClientConfig {
            max_response_size: DEFAULT_MAX_HEAD_SIZE,
        }
    }

    /// Sets [`max_response_size`](Self::max_response_size).
    pub const fn with_max_response_size(mut self, bytes: usize) -> Self {
        self.max_response_size = bytes;
        self
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// The client's side of one opening handshake.
///
/// `MAX_HEADERS` bounds the header fields a response may have; it sizes the
/// `httparse::Header` array placed on the stack while the complete response is parsed.
///
/// ```
/// use sockeye_core::handshake::{ClientHandshake, ClientRequest};
/// use sockeye_core::url::Url;
///
/// let url = Url::parse("ws://example.com/chat").unwrap();
/// # let nonce_from_rng = [7u8; 16];
/// let mut handshake = ClientHandshake::new(ClientRequest::new(&url), nonce_from_rng);
/// let mut out = [0u8; 256];
/// let len = handshake.write_request(&mut out).unwrap();
/// assert!(out[..len].starts_with(b"GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
///
/// let mut received = [0u8; 1024];
/// let mut filled = 0;
/// // ... read from the socket into `received[filled..]`, add to `filled`, and then:
/// # let reply = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
/// #     Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n", handshake.expected_accept());
/// # received[..reply.len()].copy_from_slice(reply.as_bytes()); filled = reply.len();
/// match handshake.read_response(&received[..filled]) {
///     Ok(None) => { /* read more and call again with the longer buffer */ }
///     Ok(Some(response)) => {
///         // Connected. `response.remainder()` are the first WebSocket bytes.
///         assert!(response.remainder().is_empty());
///     }
///     Err(e) => panic!("handshake failed: {e}"),
/// }
/// ```
#[derive(Clone, Debug)]
pub struct ClientHandshake<'a, const MAX_HEADERS: usize = DEFAULT_MAX_HEADERS> {
    request: ClientRequest<'a>,
    key: [u8; 24],
    accept: AcceptKey,
    max_response_size: usize,
    scanner: HeadScanner,
}

impl<'a> ClientHandshake<'a> {
    /// Starts a handshake with the default limits.
    ///
    /// `nonce` becomes the `Sec-WebSocket-Key`. RFC 6455 §4.1 item 7 requires it to be
    /// randomly selected for each connection, and §10.3 explains why it must be unpredictable:
    /// take it from a cryptographically secure generator (`getrandom` on hosted targets, the
    /// chip's hardware RNG on embedded ones), never from a counter or a fixed value.
    pub fn new(request: ClientRequest<'a>, nonce: [u8; 16]) -> Self {
        Self::with_config(request, nonce, ClientConfig::new())
    }
}

impl<'a, const MAX_HEADERS: usize> ClientHandshake<'a, MAX_HEADERS> {
    /// Starts a handshake with explicit limits. See [`ClientHandshake::new`] for `nonce`.
    pub fn with_config(request: ClientRequest<'a>, nonce: [u8; 16], config: ClientConfig) -> Self {
        let mut key = [0u8; 24];
        // 16 bytes always encode to exactly 24 padded characters, so the buffer fits.
        let written = super::base64::encode(&nonce, &mut key);
        debug_assert_eq!(written, Some(24));
        ClientHandshake {
            request,
            accept: accept_key(&key),
            key,
            max_response_size: config.max_response_size,
            scanner: HeadScanner::new(),
        }
    }

    /// The `Sec-WebSocket-Key` sent with the request.
    pub fn key(&self) -> &str {
        // Base64 output is ASCII, so this never falls back.
        core::str::from_utf8(&self.key).unwrap_or("")
    }

    /// The `Sec-WebSocket-Accept` value a genuine server will answer with.
    pub fn expected_accept(&self) -> &AcceptKey {
        &self.accept
    }

    /// The request being made.
    pub fn request(&self) -> &ClientRequest<'a> {
        &self.request
    }

    /// The exact length of the request [`write_request`](Self::write_request) produces, for
    /// sizing the output buffer.
    pub fn request_len(&self) -> Result<usize, WriteError> {
        match self.write_request(&mut []) {
            Err(WriteError::BufferTooSmall { needed }) => Ok(needed),
            other => other,
        }
    }

    /// Writes the upgrade request (RFC 6455 §4.1) into `out` and returns its length.
    ///
    /// The request is `GET <resource> HTTP/1.1` with `Host`, `Upgrade: websocket`,
    /// `Connection: Upgrade`, `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13`, then `Origin`,
    /// `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` when set, then the extra
    /// headers. Fails without writing a usable request if any caller-supplied string is
    /// invalid, or with [`WriteError::BufferTooSmall`] giving the exact size needed.
    pub fn write_request(&self, out: &mut [u8]) -> Result<usize, WriteError> {
        let r = &self.request;
        r.validate()?;
        let mut w = Writer::new(out);
        w.put(b"GET ");
        w.put_str(r.path);
        if let Some(query) = r.query {
            w.put(b"?");
            w.put_str(query);
        }
        w.put(b" HTTP/1.1\r\nHost: ");
        if r.host.is_bracketed() {
            w.put(b"[");
            w.put_str(r.host.host());
            w.put(b"]");
        } else {
            w.put_str(r.host.host());
        }
        if let Some(port) = r.host.port() {
            w.put(b":");
            w.put_decimal(usize::from(port));
        }
        w.put(b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
        w.put_header("Sec-WebSocket-Key", &self.key);
        w.put(b"Sec-WebSocket-Version: 13\r\n");
        if let Some(origin) = r.origin {
            w.put_header("Origin", origin.as_bytes());
        }
        put_list(&mut w, "Sec-WebSocket-Protocol", r.protocols);
        match r.deflate {
            None => put_list(&mut w, "Sec-WebSocket-Extensions", r.extensions),
            Some(offer) => {
                // At most 124 bytes: every parameter, each once.
                let mut item = [0u8; 128];
                let n = offer.write(&mut item)?;
                w.put(b"Sec-WebSocket-Extensions: ");
                w.put(item.get(..n).unwrap_or(&[]));
                for extension in r.extensions {
                    w.put(b", ");
                    w.put_str(extension);
                }
                w.put(b"\r\n");
            }
        }
        put_extra_headers(&mut w, r.headers, RESERVED)?;
        w.put(b"\r\n");
        w.finish()
    }

    /// Reads the server's response from `buf`, the bytes received so far.
    ///
    /// Call it after every read with the same buffer, grown: `Ok(None)` means the response
    /// head is not complete yet. Only the new bytes are examined on each call, and the head
    /// is parsed once, when its blank line (CRLF CRLF or LF LF) has arrived. A head longer
    /// than [`ClientConfig::max_response_size`] or with more than `MAX_HEADERS` fields is an
    /// error, as is every violation of RFC 6455 §4.1's checks on the response, each reported
    /// as its own [`ResponseError`] variant.
    ///
    /// On success the connection is open. `buf` may already hold WebSocket bytes behind the
    /// response, for example the server's first message: they are
    /// [`ClientResponse::remainder`], and must be handed to the WebSocket engine first.
    pub fn read_response<'b>(
        &mut self,
        buf: &'b [u8],
    ) -> Result<Option<ClientResponse<'b>>, ResponseError> {
        let end = match self.scanner.scan(buf, self.max_response_size) {
            Scan::Partial => return Ok(None),
            Scan::Complete(end) => end,
            Scan::TooLarge => {
                return Err(ResponseError::TooLarge {
                    limit: self.max_response_size,
                })
            }
            Scan::InvalidByte => return Err(ResponseError::Malformed(SyntaxError::InvalidByte)),
        };
        let head = buf.get(..end).unwrap_or(buf);
        let consumed = head.len();
        let status = match super::status::check_response(head, MAX_HEADERS) {
            Ok(status) => status,
            Err(HeadError::TooManyHeaders) => {
                return Err(ResponseError::TooManyHeaders { limit: MAX_HEADERS })
            }
            Err(HeadError::Syntax(e)) => return Err(ResponseError::Malformed(e)),
        };
        // RFC 6455 §4.1: "If the status code received from the server is not 101, the client
        // handles the response per HTTP procedures" - i.e. this is not a WebSocket.
        if status.code != 101 {
            return Err(ResponseError::Status(status.code));
        }
        if status.minor != 1 {
            return Err(ResponseError::UnsupportedHttpVersion);
        }
        let (protocol, deflate) = self.verify(Headers::new(head))?;
        Ok(Some(ClientResponse {
            buf,
            consumed,
            protocol,
            deflate,
        }))
    }

    /// RFC 6455 §4.1, the numbered checks on a 101 response, in the RFC's order.
    fn verify<'b>(
        &self,
        headers: Headers<'b>,
    ) -> Result<(Option<&'b str>, Option<DeflateParams>), ResponseError> {
        verify_fields(
            &self.request,
            Some(&self.accept),
            headers.map(|h| (h.name, h.value)),
        )
    }
}

/// RFC 6455 §4.1, the numbered checks on a response's fields, in the RFC's order, for the
/// response to `request`. With `accept` (HTTP/1.1) checks 2–6; without (HTTP/2, RFC 8441
/// §5, where `Upgrade`, `Connection` and `Sec-WebSocket-Accept` do not exist) checks 5–6.
/// Returns the subprotocol and, when the request offered permessage-deflate and the server
/// took it, the parameters (checked against the offer, RFC 7692 §7.1).
pub(super) fn verify_fields<'b>(
    request: &ClientRequest<'_>,
    accept_key: Option<&AcceptKey>,
    headers: impl Iterator<Item = (&'b str, &'b [u8])>,
) -> Result<(Option<&'b str>, Option<DeflateParams>), ResponseError> {
    {
        let mut upgrade: Option<&[u8]> = None;
        let mut upgrades = 0usize;
        let mut connection_seen = false;
        let mut connection_upgrade = false;
        let mut accept: Option<&[u8]> = None;
        let mut accepts = 0usize;
        let mut unoffered_extension = false;
        let mut deflate = None;
        let mut deflate_error = None;
        let mut protocol: Option<&'b [u8]> = None;
        let mut protocols = 0usize;
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("upgrade") {
                upgrades += 1;
                upgrade = Some(value);
            } else if name.eq_ignore_ascii_case("connection") {
                connection_seen = true;
                connection_upgrade |=
                    ListSplit::new(value).any(|t| t.eq_ignore_ascii_case(b"upgrade"));
            } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
                accepts += 1;
                accept = Some(value);
            } else if name.eq_ignore_ascii_case("sec-websocket-extensions") {
                for item in ListSplit::new(value) {
                    let name = extension_name(item);
                    unoffered_extension |= !request.offered_extension(name);
                    if let (Some(offer), true) = (
                        request.deflate,
                        name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE.as_bytes()),
                    ) {
                        // RFC 7692 §5: the server accepts at most one offer. The first
                        // problem is reported after the RFC 6455 checks below.
                        let checked = match (deflate, core::str::from_utf8(item)) {
                            (Some(_), _) => Err(DeflateError::DuplicateParameter),
                            (None, Ok(item)) => offer.check_response(item),
                            (None, Err(_)) => Err(DeflateError::Malformed),
                        };
                        match checked {
                            Ok(params) => deflate = Some(params),
                            Err(e) => {
                                deflate_error.get_or_insert(e);
                            }
                        }
                    }
                }
            } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
                for item in ListSplit::new(value) {
                    protocols += 1;
                    protocol.get_or_insert(item);
                }
            }
        }
        if let Some(expected) = accept_key {
            // 2. Upgrade must be "websocket", compared ASCII case-insensitively.
            match (upgrades, upgrade) {
                (0, _) | (_, None) => return Err(ResponseError::MissingUpgrade),
                (1, Some(value)) if value.eq_ignore_ascii_case(b"websocket") => {}
                (1, Some(_)) => return Err(ResponseError::UpgradeNotWebSocket),
                _ => return Err(ResponseError::DuplicateUpgrade),
            }
            // 3. Connection must contain the token "Upgrade", ASCII case-insensitively.
            if !connection_seen {
                return Err(ResponseError::MissingConnection);
            }
            if !connection_upgrade {
                return Err(ResponseError::ConnectionNotUpgrade);
            }
            // 4. Sec-WebSocket-Accept must be base64(SHA-1(key ++ GUID)).
            match (accepts, accept) {
                (0, _) | (_, None) => return Err(ResponseError::MissingAccept),
                (1, Some(value)) if value == expected.as_bytes() => {}
                (1, Some(_)) => return Err(ResponseError::AcceptMismatch),
                _ => return Err(ResponseError::DuplicateAccept),
            }
        }
        // 5. Every extension in use must have been requested.
        if unoffered_extension {
            return Err(ResponseError::ExtensionNotOffered);
        }
        // RFC 7692 §7.1: a permessage-deflate response the offer does not allow.
        if let Some(e) = deflate_error {
            return Err(ResponseError::Deflate(e));
        }
        // 6. The subprotocol, if any, must be one that was offered; there can be only one.
        if protocols > 1 {
            return Err(ResponseError::MultipleProtocols);
        }
        let protocol = match protocol {
            None => None,
            Some(chosen) => Some(
                request
                    .protocols
                    .iter()
                    .find(|offered| offered.as_bytes() == chosen)
                    .and_then(|_| core::str::from_utf8(chosen).ok())
                    .ok_or(ResponseError::ProtocolNotOffered)?,
            ),
        };
        Ok((protocol, deflate))
    }
}

/// Writes `name: a, b, c\r\n`, or nothing for an empty list.
fn put_list(w: &mut Writer<'_>, name: &str, items: &[&str]) {
    if items.is_empty() {
        return;
    }
    w.put_str(name);
    w.put(b": ");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            w.put(b", ");
        }
        w.put_str(item);
    }
    w.put(b"\r\n");
}

/// A server's successful `101 Switching Protocols` response, borrowing the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientResponse<'b> {
    buf: &'b [u8],
    consumed: usize,
    protocol: Option<&'b str>,
    deflate: Option<DeflateParams>,
}

impl<'b> ClientResponse<'b> {
    /// Length of the HTTP response head at the start of the buffer. The WebSocket connection
    /// starts at this offset.
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// The response head: the first [`consumed`](Self::consumed) bytes of the buffer.
    pub fn head(&self) -> &'b [u8] {
        self.buf.get(..self.consumed).unwrap_or(self.buf)
    }

    /// Bytes received after the response head: the first WebSocket bytes the server sent.
    ///
    /// Nothing is lost: a server may write its first frame in the same packet as the
    /// handshake, so this can be non-empty, and these bytes must be fed to the WebSocket
    /// engine before any byte read afterwards.
    pub fn remainder(&self) -> &'b [u8] {
        self.buf.get(self.consumed..).unwrap_or(&[])
    }

    /// The subprotocol the server selected, always one the client offered
    /// (RFC 6455 §4.1, response rule 6). `None` means no subprotocol is in use.
    pub fn protocol(&self) -> Option<&'b str> {
        self.protocol
    }

    /// The permessage-deflate parameters in use, if the request offered it
    /// ([`ClientRequest::with_deflate`]) and the server accepted; the response was checked
    /// against the offer (RFC 7692 §7.1).
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.deflate
    }

    /// The extensions the server accepted, one item per extension with its parameters (e.g.
    /// `"permessage-deflate; server_no_context_takeover"`), across all
    /// `Sec-WebSocket-Extensions` fields. Every name was offered by the client.
    pub fn extensions(&self) -> ListItems<'b> {
        ListItems::new(self.head(), "sec-websocket-extensions")
    }

    /// The value of the first header field called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers().first_value(name)
    }

    /// All header fields, in the order received.
    pub fn headers(&self) -> Headers<'b> {
        Headers::new(self.head())
    }
}

/// Why the server's response did not complete the handshake.
///
/// Per RFC 6455 §4.1 the client must _Fail the WebSocket Connection_ on any of these: close
/// the TCP connection without sending a Close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResponseError {
    /// The response head did not end within the configured number of bytes.
    TooLarge {
        /// The configured [`ClientConfig::max_response_size`].
        limit: usize,
    },
    /// The response has more header fields than the handshake's `MAX_HEADERS`.
    TooManyHeaders {
        /// The `MAX_HEADERS` of the [`ClientHandshake`].
        limit: usize,
    },
    /// The response is not well-formed HTTP/1.1.
    Malformed(SyntaxError),
    /// The server answered with a status other than `101 Switching Protocols`: it refused the
    /// upgrade (e.g. 401, 403, 404), redirected (3xx) or failed (5xx).
    Status(u16),
    /// The status line is not `HTTP/1.1` (an upgrade cannot happen over HTTP/1.0).
    UnsupportedHttpVersion,
    /// The response has no `Upgrade` field.
    MissingUpgrade,
    /// The response has more than one `Upgrade` field.
    DuplicateUpgrade,
    /// `Upgrade` is not `websocket`.
    UpgradeNotWebSocket,
    /// The response has no `Connection` field.
    MissingConnection,
    /// `Connection` does not contain the token `Upgrade`.
    ConnectionNotUpgrade,
    /// The response has no `Sec-WebSocket-Accept` field.
    MissingAccept,
    /// The response has more than one `Sec-WebSocket-Accept` field.
    DuplicateAccept,
    /// `Sec-WebSocket-Accept` is not derived from this handshake's key: the server is not a
    /// WebSocket server, or the response was meant for another request (e.g. a cache).
    AcceptMismatch,
    /// The server selected a subprotocol the client did not offer.
    ProtocolNotOffered,
    /// The server selected more than one subprotocol.
    MultipleProtocols,
    /// The server accepted an extension the client did not offer.
    ExtensionNotOffered,
    /// The server answered an HTTP/2 extended `CONNECT` (RFC 8441 §5) with a status outside
    /// 2xx: it refused the WebSocket (e.g. 401, 403, 404), or does not support RFC 8441.
    Http2Status(u16),
    /// The HTTP/2 server reset the extended `CONNECT` with `PROTOCOL_ERROR`: what a server does
    /// when it has not enabled extended CONNECT (`SETTINGS_ENABLE_CONNECT_PROTOCOL`, RFC 8441
    /// §3), so it cannot carry a WebSocket on a stream.
    Http2ExtendedConnectDisabled,
    /// The server's permessage-deflate response is not one the offer allows (RFC 7692 §7.1):
    /// the client must fail the connection.
    Deflate(DeflateError),
}

impl core::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            ResponseError::TooLarge { limit } => {
                write!(f, "handshake response head exceeds {limit} bytes")
            }
            ResponseError::TooManyHeaders { limit } => {
                write!(f, "handshake response has more than {limit} header fields")
            }
            ResponseError::Malformed(e) => write!(f, "malformed handshake response: {e}"),
            ResponseError::Status(status) => write!(
                f,
                "server answered with HTTP status {status} instead of 101 Switching Protocols"
            ),
            ResponseError::UnsupportedHttpVersion => {
                f.write_str("handshake response is not HTTP/1.1")
            }
            ResponseError::MissingUpgrade => f.write_str("response has no Upgrade header"),
            ResponseError::DuplicateUpgrade => {
                f.write_str("response has more than one Upgrade header")
            }
            ResponseError::UpgradeNotWebSocket => {
                f.write_str("response Upgrade header is not \"websocket\"")
            }
            ResponseError::MissingConnection => f.write_str("response has no Connection header"),
            ResponseError::ConnectionNotUpgrade => {
                f.write_str("response Connection header does not contain \"Upgrade\"")
            }
            ResponseError::MissingAccept => {
                f.write_str("response has no Sec-WebSocket-Accept header")
            }
            ResponseError::DuplicateAccept => {
                f.write_str("response has more than one Sec-WebSocket-Accept header")
            }
            ResponseError::AcceptMismatch => {
                f.write_str("response Sec-WebSocket-Accept does not match the key sent")
            }
            ResponseError::ProtocolNotOffered => {
                f.write_str("server selected a subprotocol the client did not offer")
            }
            ResponseError::MultipleProtocols => {
                f.write_str("server selected more than one subprotocol")
            }
            ResponseError::ExtensionNotOffered => {
                f.write_str("server accepted an extension the client did not offer")
            }
            ResponseError::Http2Status(status) => write!(
                f,
                "server answered the HTTP/2 extended CONNECT with status {status} instead of 2xx \
                 (does it support WebSockets over HTTP/2, RFC 8441, on this path?)"
            ),
            ResponseError::Http2ExtendedConnectDisabled => f.write_str(
                "the HTTP/2 server refused the extended CONNECT with PROTOCOL_ERROR: it has not \
                 enabled WebSockets over HTTP/2 (RFC 8441); connect over HTTP/1.1 instead",
            ),
            ResponseError::Deflate(e) => write!(f, "invalid permessage-deflate response: {e}"),
        }
    }
}

impl core::error::Error for ResponseError {}

#[cfg(test)]
mod tests {

    use super::*;
    use std::format;
    use std::string::{String, ToString};
    use std::vec::Vec;

    /// The nonce whose base64 is the key of RFC 6455 §1.3.
    const NONCE: [u8; 16] = *b"the sample nonce";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn written(hs: &ClientHandshake<'_>) -> String {
        let mut out = [0u8; 1024];
        let len = hs.write_request(&mut out).unwrap();
        String::from_utf8(out[..len].to_vec()).unwrap()
    }

    #[test]
    fn key_comes_from_the_nonce() {
        let url = Url::parse("ws://h").unwrap();
        let hs = ClientHandshake::new(ClientRequest::new(&url), NONCE);
        assert_eq!(hs.key(), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(hs.expected_accept().as_str(), ACCEPT);
    }

    #[test]
    fn writes_the_minimal_request() {
        let url = Url::parse("ws://server.example.com/chat").unwrap();
        let hs = ClientHandshake::new(ClientRequest::new(&url), NONCE);
        assert_eq!(
            written(&hs),
            "GET /chat HTTP/1.1\r\n\
             Host: server.example.com\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        assert_eq!(hs.request_len(), Ok(written(&hs).len()));
    }

    #[test]
    fn writes_every_optional_field() {
        let url = Url::parse("wss://[::1]:9001/x?y=1").unwrap();
        let request = ClientRequest::new(&url)
            .with_origin("http://example.com")
            .with_protocols(&["chat", "superchat"])
            .with_extensions(&["permessage-deflate; client_max_window_bits", "x-foo"])
            .with_headers(&[("Authorization", "Bearer t0k3n"), ("Cookie", "a=b; c=d")]);
        let hs = ClientHandshake::new(request, NONCE);
        assert_eq!(
            written(&hs),
            "GET /x?y=1 HTTP/1.1\r\n\
             Host: [::1]:9001\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\
             Origin: http://example.com\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo\r\n\
             Authorization: Bearer t0k3n\r\n\
             Cookie: a=b; c=d\r\n\r\n"
        );
    }

    #[test]
    fn from_parts_uses_host_and_resource_verbatim() {
        let hs = ClientHandshake::new(ClientRequest::from_parts("h:8080", "/a?b=c"), NONCE);
        assert!(written(&hs).starts_with("GET /a?b=c HTTP/1.1\r\nHost: h:8080\r\n"));
    }

    #[test]
    fn buffer_too_small_says_how_much_is_needed() {
        let url = Url::parse("ws://h/").unwrap();
        let hs = ClientHandshake::new(ClientRequest::new(&url), NONCE);
        let len = hs.request_len().unwrap();
        let mut out = std::vec![0u8; len];
        assert_eq!(
            hs.write_request(&mut out[..len - 1]),
            Err(WriteError::BufferTooSmall { needed: len })
        );
        assert_eq!(hs.write_request(&mut out), Ok(len));
    }

    #[test]
    fn caller_strings_cannot_inject_headers() {
        let url = Url::parse("ws://h/").unwrap();
        let base = ClientRequest::new(&url);
        for (request, err) in [
            (ClientRequest::from_parts("", "/"), WriteError::InvalidHost),
            (
                ClientRequest::from_parts("h\r\nX: y", "/"),
                WriteError::InvalidHost,
            ),
            (
                ClientRequest::from_parts("h", "no-slash"),
                WriteError::InvalidResource,
            ),
            (
                ClientRequest::from_parts("h", "/a b"),
                WriteError::InvalidResource,
            ),
            (
                ClientRequest::from_parts("h", "/a\r\n"),
                WriteError::InvalidResource,
            ),
            (
                ClientRequest::from_parts("h", "/a#frag"),
                WriteError::InvalidResource,
            ),
            (
                base.with_origin("http://x\r\nEvil: 1"),
                WriteError::InvalidOrigin,
            ),
            (
                base.with_protocols(&["chat", "bad proto"]),
                WriteError::InvalidProtocol { index: 1 },
            ),
            (
                base.with_protocols(&["a,b"]),
                WriteError::InvalidProtocol { index: 0 },
            ),
            (
                base.with_protocols(&[""]),
                WriteError::InvalidProtocol { index: 0 },
            ),
            (
                base.with_protocols(&["chat", "x", "chat"]),
                WriteError::DuplicateProtocol { index: 2 },
            ),
            (
                base.with_extensions(&["ok", ""]),
                WriteError::InvalidExtension { index: 1 },
            ),
            (
                base.with_extensions(&["a\r\nX: y"]),
                WriteError::InvalidExtension { index: 0 },
            ),
            (
                base.with_extensions(&["; no name"]),
                WriteError::InvalidExtension { index: 0 },
            ),
            (
                base.with_headers(&[("X-Ok", "1"), ("X\r\nEvil", "1")]),
                WriteError::InvalidHeaderName { index: 1 },
            ),
            (
                base.with_headers(&[("X-A", "1\r\nEvil: 1")]),
                WriteError::InvalidHeaderValue { index: 0 },
            ),
            (
                base.with_headers(&[("X-A", "1\nEvil: 1")]),
                WriteError::InvalidHeaderValue { index: 0 },
            ),
            (
                base.with_headers(&[("sec-websocket-key", "x")]),
                WriteError::ReservedHeader { index: 0 },
            ),
            (
                base.with_headers(&[("HOST", "x")]),
                WriteError::ReservedHeader { index: 0 },
            ),
            (
                base.with_headers(&[("Content-Length", "4")]),
                WriteError::ReservedHeader { index: 0 },
            ),
        ] {
            let hs = ClientHandshake::new(request, NONCE);
            assert_eq!(hs.write_request(&mut [0u8; 1024]), Err(err), "{request:?}");
            // Validation wins over buffer size, so the error is the same with no buffer.
            assert_eq!(hs.request_len(), Err(err));
            assert!(!err.to_string().is_empty());
        }
    }

    /// What a response parses to, minus the buffer it borrows.
    type Verdict<'b> = Result<Option<(usize, Option<&'b str>)>, ResponseError>;

    fn summary(r: ClientResponse<'_>) -> (usize, Option<&str>) {
        (r.consumed(), r.protocol())
    }

    fn new_handshake<'a, const N: usize>(config: ClientConfig) -> ClientHandshake<'a, N> {
        // `ClientRequest` borrows the URL's string, not the `Url`, so a temporary is fine.
        let url = Url::parse("ws://server.example.com/chat").unwrap();
        let request = ClientRequest::new(&url)
            .with_protocols(&["chat", "superchat"])
            .with_extensions(&["permessage-deflate; client_max_window_bits"]);
        ClientHandshake::with_config(request, NONCE, config)
    }

    /// Parses `buf` whole and one byte at a time; asserts the verdicts agree and returns it.
    fn check_with<const N: usize>(config: ClientConfig, buf: &[u8]) -> Verdict<'_> {
        let whole = new_handshake::<N>(config)
            .read_response(buf)
            .map(|r| r.map(summary));
        let mut hs = new_handshake::<N>(config);
        let mut bytewise = Ok(None);
        for n in 0..=buf.len() {
            bytewise = hs.read_response(&buf[..n]).map(|r| r.map(summary));
            if bytewise != Ok(None) {
                break;
            }
        }
        assert_eq!(
            whole,
            bytewise,
            "whole vs byte-at-a-time for {:?}",
            String::from_utf8_lossy(buf)
        );
        whole
    }

    fn check(buf: &[u8]) -> Verdict<'_> {
        check_with::<DEFAULT_MAX_HEADERS>(ClientConfig::new(), buf)
    }

    fn response(status_line: &str, drop: &[&str], lines: &[&str], eol: &str) -> String {
        let mut out = String::from(status_line);
        out.push_str(eol);
        for field in [
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
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

    fn std_response(drop: &[&str], lines: &[&str]) -> String {
        response("HTTP/1.1 101 Switching Protocols", drop, lines, "\r\n")
    }

    /// A complete response and the subprotocol it selected, "need more", or an error.
    type Expected<'s> = Result<Option<Option<&'s str>>, ResponseError>;

    #[test]
    fn response_table() {
        use ResponseError as E;
        let many_headers: Vec<String> = (0..30).map(|i| format!("X-H{i}: v")).collect();
        let many: Vec<&str> = many_headers.iter().map(String::as_str).collect();
        let long = format!("X-Long: {}", "a".repeat(8200));
        let ok = |protocol| Ok(Some(protocol));
        let table: Vec<(&str, String, Expected<'_>)> = std::vec![
            ("valid", std_response(&[], &[]), ok(None)),
            (
                "LF-only",
                response("HTTP/1.1 101 Switching Protocols", &[], &[], "\n"),
                ok(None)
            ),
            (
                "no reason phrase",
                response("HTTP/1.1 101", &[], &[], "\r\n"),
                ok(None)
            ),
            (
                "offered protocol",
                std_response(&[], &["Sec-WebSocket-Protocol: superchat"]),
                ok(Some("superchat"))
            ),
            (
                "empty protocol field",
                std_response(&[], &["Sec-WebSocket-Protocol:"]),
                ok(None)
            ),
            (
                "offered extension",
                std_response(
                    &[],
                    &["Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"]
                ),
                ok(None)
            ),
            (
                "mixed case",
                response(
                    "HTTP/1.1 101 Switching Protocols",
                    &["upgrade", "connection"],
                    &["UPGRADE: WebSocket", "connection: keep-alive, upgrade"],
                    "\r\n"
                ),
                ok(None),
            ),
            (
                "29 extra headers (32 total)",
                std_response(&[], &many[..29]),
                ok(None)
            ),
            (
                "incomplete",
                String::from("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"),
                Ok(None)
            ),
            (
                "200",
                response("HTTP/1.1 200 OK", &[], &[], "\r\n"),
                Err(E::Status(200))
            ),
            (
                "301",
                response(
                    "HTTP/1.1 301 Moved Permanently",
                    &[],
                    &["Location: /x"],
                    "\r\n"
                ),
                Err(E::Status(301))
            ),
            (
                "401",
                response("HTTP/1.1 401 Unauthorized", &[], &[], "\r\n"),
                Err(E::Status(401))
            ),
            (
                "404",
                response("HTTP/1.1 404 Not Found", &[], &[], "\r\n"),
                Err(E::Status(404))
            ),
            (
                "500",
                response("HTTP/1.1 500 Internal Server Error", &[], &[], "\r\n"),
                Err(E::Status(500))
            ),
            (
                "HTTP/1.0 101",
                response("HTTP/1.0 101 Switching Protocols", &[], &[], "\r\n"),
                Err(E::UnsupportedHttpVersion)
            ),
            (
                "missing accept",
                std_response(&["sec-websocket-accept"], &[]),
                Err(E::MissingAccept)
            ),
            (
                "wrong accept",
                std_response(
                    &["sec-websocket-accept"],
                    &["Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ=="]
                ),
                Err(E::AcceptMismatch)
            ),
            (
                "accept in wrong case",
                std_response(
                    &["sec-websocket-accept"],
                    &["Sec-WebSocket-Accept: S3PPLMBITXAQ9KYGZZHZRBK+XOO="]
                ),
                Err(E::AcceptMismatch)
            ),
            (
                "duplicate accept",
                std_response(&[], &["Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]),
                Err(E::DuplicateAccept)
            ),
            (
                "missing Upgrade",
                std_response(&["upgrade"], &[]),
                Err(E::MissingUpgrade)
            ),
            (
                "Upgrade h2c",
                std_response(&["upgrade"], &["Upgrade: h2c"]),
                Err(E::UpgradeNotWebSocket)
            ),
            (
                "Upgrade list",
                std_response(&["upgrade"], &["Upgrade: websocket, h2c"]),
                Err(E::UpgradeNotWebSocket)
            ),
            (
                "duplicate Upgrade",
                std_response(&[], &["Upgrade: websocket"]),
                Err(E::DuplicateUpgrade)
            ),
            (
                "missing Connection",
                std_response(&["connection"], &[]),
                Err(E::MissingConnection)
            ),
            (
                "Connection close",
                std_response(&["connection"], &["Connection: close"]),
                Err(E::ConnectionNotUpgrade)
            ),
            (
                "unoffered protocol",
                std_response(&[], &["Sec-WebSocket-Protocol: other"]),
                Err(E::ProtocolNotOffered)
            ),
            (
                "protocol in wrong case",
                std_response(&[], &["Sec-WebSocket-Protocol: CHAT"]),
                Err(E::ProtocolNotOffered)
            ),
            (
                "two protocols in one field",
                std_response(&[], &["Sec-WebSocket-Protocol: chat, superchat"]),
                Err(E::MultipleProtocols)
            ),
            (
                "two protocol fields",
                std_response(
                    &[],
                    &[
                        "Sec-WebSocket-Protocol: chat",
                        "Sec-WebSocket-Protocol: chat"
                    ]
                ),
                Err(E::MultipleProtocols)
            ),
            (
                "unoffered extension",
                std_response(&[], &["Sec-WebSocket-Extensions: x-webkit-deflate-frame"]),
                Err(E::ExtensionNotOffered)
            ),
            (
                "one offered, one not",
                std_response(
                    &[],
                    &["Sec-WebSocket-Extensions: permessage-deflate, x-foo"]
                ),
                Err(E::ExtensionNotOffered)
            ),
            (
                "too many headers",
                std_response(&[], &many),
                Err(E::TooManyHeaders { limit: 32 })
            ),
            (
                "oversized",
                std_response(&[], &[&long]),
                Err(E::TooLarge { limit: 8192 })
            ),
            (
                "binary garbage",
                String::from("\u{81}\u{5}hello"),
                Err(E::Malformed(SyntaxError::InvalidByte))
            ),
            (
                "text garbage",
                String::from("SSH-2.0-OpenSSH_9.6\r\n\r\n"),
                Err(E::Malformed(SyntaxError::Version))
            ),
            (
                "bad status",
                String::from("HTTP/1.1 1o1 Switching\r\n\r\n"),
                Err(E::Malformed(SyntaxError::StartLine))
            ),
            (
                "bad header",
                std_response(&[], &["Bad Header: x"]),
                Err(E::Malformed(SyntaxError::HeaderName))
            ),
        ];
        for (name, bytes, expect) in &table {
            let got = check(bytes.as_bytes());
            let got = got.map(|r| {
                r.map(|(consumed, protocol)| {
                    assert_eq!(consumed, bytes.len(), "{name}");
                    protocol
                })
            });
            assert_eq!(&got, expect, "{name}");
        }
    }

    #[test]
    fn response_exposes_extensions_headers_and_remainder() {
        let mut bytes = std_response(
            &[],
            &[
                "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover",
                "X-Server: test",
            ],
        )
        .into_bytes();
        let head_len = bytes.len();
        bytes.extend_from_slice(b"\x81\x05hello");
        let mut hs = new_handshake::<32>(ClientConfig::new());
        let r = hs.read_response(&bytes).unwrap().unwrap();
        assert_eq!(r.consumed(), head_len);
        assert_eq!(r.head(), &bytes[..head_len]);
        assert_eq!(r.remainder(), b"\x81\x05hello");
        assert_eq!(r.protocol(), None);
        assert!(r
            .extensions()
            .eq(["permessage-deflate; server_no_context_takeover"]));
        assert_eq!(r.header("x-server"), Some(&b"test"[..]));
        assert_eq!(r.headers().count(), 5);
    }

    #[test]
    fn limits_are_configurable() {
        let text = std_response(&[], &[]);
        let len = text.len();
        let exact = ClientConfig::new().with_max_response_size(len);
        assert!(matches!(
            check_with::<32>(exact, text.as_bytes()),
            Ok(Some(_))
        ));
        let short = ClientConfig::new().with_max_response_size(len - 1);
        assert_eq!(
            check_with::<32>(short, text.as_bytes()),
            Err(ResponseError::TooLarge { limit: len - 1 })
        );
        assert_eq!(
            check_with::<2>(ClientConfig::new(), text.as_bytes()),
            Err(ResponseError::TooManyHeaders { limit: 2 })
        );
        assert_eq!(ClientConfig::default(), ClientConfig::new());
    }

    #[test]
    fn without_offers_any_protocol_or_extension_is_refused() {
        let url = Url::parse("ws://h/").unwrap();
        for (line, err) in [
            (
                "Sec-WebSocket-Protocol: chat",
                ResponseError::ProtocolNotOffered,
            ),
            (
                "Sec-WebSocket-Extensions: permessage-deflate",
                ResponseError::ExtensionNotOffered,
            ),
        ] {
            let mut hs = ClientHandshake::new(ClientRequest::new(&url), NONCE);
            let text = std_response(&[], &[line]);
            assert_eq!(hs.read_response(text.as_bytes()), Err(err));
        }
    }

    #[test]
    fn errors_display_what_was_wrong() {
        assert_eq!(
            ResponseError::Status(404).to_string(),
            "server answered with HTTP status 404 instead of 101 Switching Protocols"
        );
        assert_eq!(
            ResponseError::Malformed(SyntaxError::HeaderName).to_string(),
            "malformed handshake response: an invalid header name"
        );
    }
}
