//! Opening handshakes whose HTTP an HTTP library already parsed: RFC 6455 §4.2.1 over
//! HTTP/1.1 and RFC 8441 (extended `CONNECT`) over HTTP/2.
//!
//! A server built on an HTTP library (hyper, axum, ...) receives the request as a method, a
//! version and header pairs rather than bytes. [`check_request`] runs the same checks as
//! [`ServerHandshake::read_request`](super::ServerHandshake::read_request) on those parts —
//! the same code, fed pairs instead of an `httparse` head — and [`UpgradeRequest::respond`]
//! checks the server's choice of subprotocol and extensions with the same rules as
//! [`Request::accept`](super::Request::accept) and says which fields the response carries.
//! On the client side, [`check_client_request`] validates what an HTTP/2 client is about to
//! offer and [`check_http2_response`] checks the server's answer (RFC 6455 §4.1 items 5–6).
//!
//! What HTTP/2 changes (RFC 8441 §4–5): the request is `CONNECT` with the pseudo-header
//! `:protocol: websocket`; `Upgrade`, `Connection`, `Sec-WebSocket-Key` and
//! `Sec-WebSocket-Accept` are not used; `Sec-WebSocket-Version: 13`, the subprotocol and the
//! extensions are negotiated as over HTTP/1.1; success is any 2xx status (servers send 200),
//! and the stream then carries the WebSocket frames.
//!
//! ```
//! use sockeye_core::handshake::parts::{check_request, HttpVersion};
//! use sockeye_core::handshake::Accept;
//!
//! let headers = [
//!     ("sec-websocket-version", &b"13"[..]),
//!     ("sec-websocket-protocol", &b"chat, superchat"[..]),
//! ];
//! let request =
//!     check_request(HttpVersion::Http2, "CONNECT", Some("websocket"), headers.iter().copied())
//!         .unwrap();
//! assert!(request.protocols().eq(["chat", "superchat"]));
//! let response = request.respond(&Accept::new().with_protocol("superchat")).unwrap();
//! assert_eq!(response.status(), 200);
//! assert!(response.fields().eq([("Sec-WebSocket-Protocol", &b"superchat"[..])]));
//! ```

use super::client::verify_fields;
use super::deflate::DeflateParams;
use super::headers::ListSplit;
use super::server::Fields;
use super::{
    accept_key, Accept, AcceptKey, ClientRequest, RequestError, ResponseError, WriteError,
};

/// The HTTP version a request arrived with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HttpVersion {
    /// HTTP/1.0: it has no `Upgrade` mechanism, so it is refused with
    /// [`RequestError::UnsupportedHttpVersion`].
    Http10,
    /// HTTP/1.1: a `GET` with `Upgrade: websocket` (RFC 6455 §4.2.1).
    Http11,
    /// HTTP/2: an extended `CONNECT` with `:protocol: websocket` (RFC 8441 §4).
    Http2,
}

impl core::fmt::Display for HttpVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            HttpVersion::Http10 => "HTTP/1.0",
            HttpVersion::Http11 => "HTTP/1.1",
            HttpVersion::Http2 => "HTTP/2",
        })
    }
}

/// Checks a request given as parts: its HTTP `version`, its `method`, the value of its
/// `:protocol` pseudo-header (HTTP/2 only; `None` when absent) and its header fields as
/// `(name, value)` pairs in the order received.
///
/// Over HTTP/1.1 the checks are those of RFC 6455 §4.2.1 (`GET`, `Host`, `Upgrade`,
/// `Connection`, `Sec-WebSocket-Version`, `Sec-WebSocket-Key`, no body); over HTTP/2 those of
/// RFC 8441 §4–5 (`CONNECT`, `:protocol: websocket`, `Sec-WebSocket-Version`, no body). Every
/// failure is a [`RequestError`] that knows its HTTP status.
///
/// `headers` is iterated once here and again by [`UpgradeRequest::protocols`],
/// [`extensions`](UpgradeRequest::extensions) and [`header`](UpgradeRequest::header); it is
/// typically a cheap iterator over the HTTP library's header map.
pub fn check_request<'b, H>(
    version: HttpVersion,
    method: &str,
    protocol: Option<&str>,
    headers: H,
) -> Result<UpgradeRequest<'b, H>, RequestError>
where
    H: Iterator<Item = (&'b str, &'b [u8])> + Clone,
{
    match version {
        // RFC 6455 §4.2.1 item 1, the method checked before the version as the raw parser
        // does (so that both give the same answer).
        HttpVersion::Http10 | HttpVersion::Http11 if method != "GET" => {
            return Err(RequestError::MethodNotAllowed)
        }
        HttpVersion::Http10 => return Err(RequestError::UnsupportedHttpVersion),
        HttpVersion::Http11 => {}
        // RFC 8441 §4: "a CONNECT request ... the :protocol pseudo-header field".
        HttpVersion::Http2 if method != "CONNECT" => {
            return Err(RequestError::Http2MethodNotConnect)
        }
        HttpVersion::Http2 => {
            if !protocol.is_some_and(|p| p.eq_ignore_ascii_case("websocket")) {
                return Err(RequestError::Http2ProtocolNotWebSocket);
            }
        }
    }
    let fields = Fields::check(headers.clone(), version)?;
    Ok(UpgradeRequest {
        version,
        key: fields.key,
        host: fields.host,
        headers,
    })
}

/// A valid opening handshake request given as parts (see [`check_request`]).
#[derive(Clone, Debug)]
pub struct UpgradeRequest<'b, H> {
    version: HttpVersion,
    key: &'b str,
    host: &'b str,
    headers: H,
}

impl<'b, H> UpgradeRequest<'b, H>
where
    H: Iterator<Item = (&'b str, &'b [u8])> + Clone,
{
    /// The HTTP version of the request: [`HttpVersion::Http11`] or [`HttpVersion::Http2`].
    pub fn version(&self) -> HttpVersion {
        self.version
    }

    /// The `Sec-WebSocket-Key` (HTTP/1.1 only; HTTP/2 does not use it).
    pub fn key(&self) -> Option<&'b str> {
        (self.version == HttpVersion::Http11).then_some(self.key)
    }

    /// The `Sec-WebSocket-Accept` value answering the key (HTTP/1.1 only).
    pub fn accept_key(&self) -> Option<AcceptKey> {
        self.key().map(|key| accept_key(key.as_bytes()))
    }

    /// The `Host` field (HTTP/1.1 only: over HTTP/2 the host is the `:authority`, which the
    /// HTTP library keeps in the request URI).
    pub fn host(&self) -> Option<&'b str> {
        (self.version == HttpVersion::Http11).then_some(self.host)
    }

    /// The value of the first header field called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers
            .clone()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The `Origin` field, if present and UTF-8 (RFC 6455 §10.2: refuse unexpected origins
    /// when only your own pages should connect).
    pub fn origin(&self) -> Option<&'b str> {
        self.header("origin")
            .and_then(|v| core::str::from_utf8(v).ok())
    }

    /// The subprotocols the client offers, in its order of preference, across all
    /// `Sec-WebSocket-Protocol` fields.
    pub fn protocols(&self) -> PartsList<'b, H> {
        PartsList::new(self.headers.clone(), "sec-websocket-protocol")
    }

    /// The extensions the client offers, one item per offer with its parameters, across all
    /// `Sec-WebSocket-Extensions` fields.
    pub fn extensions(&self) -> PartsList<'b, H> {
        PartsList::new(self.headers.clone(), "sec-websocket-extensions")
    }

    /// Checks the server's decision and returns what the success response carries.
    ///
    /// The subprotocol must be one the client offered and every accepted extension must be
    /// named in the client's offers — the same rules, by the same code, as
    /// [`Request::accept`](super::Request::accept). The extra headers of `accept` are not
    /// used: set them with the HTTP library, which validates them.
    pub fn respond<'a>(&self, accept: &Accept<'a>) -> Result<UpgradeResponse<'a>, WriteError> {
        accept.check_against(self.protocols(), self.extensions())?;
        Ok(UpgradeResponse {
            version: self.version,
            accept: self.accept_key(),
            protocol: accept.protocol(),
            extensions: accept.extensions(),
        })
    }
}

/// What the success response to an [`UpgradeRequest`] carries: its status and fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpgradeResponse<'a> {
    version: HttpVersion,
    accept: Option<AcceptKey>,
    protocol: Option<&'a str>,
    extensions: Option<&'a str>,
}

impl<'a> UpgradeResponse<'a> {
    /// `101` (Switching Protocols) over HTTP/1.1, `200` over HTTP/2 (RFC 8441 §5).
    pub fn status(&self) -> u16 {
        match self.version {
            HttpVersion::Http2 => 200,
            _ => 101,
        }
    }

    /// The subprotocol selected, always one the client offered.
    pub fn protocol(&self) -> Option<&'a str> {
        self.protocol
    }

    /// The header fields of the response, in order: over HTTP/1.1 `Upgrade`, `Connection`
    /// and `Sec-WebSocket-Accept`, then (both versions) `Sec-WebSocket-Protocol` and
    /// `Sec-WebSocket-Extensions` when chosen.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &[u8])> {
        let h1 = self.version == HttpVersion::Http11;
        [
            h1.then_some(("Upgrade", &b"websocket"[..])),
            h1.then_some(("Connection", &b"Upgrade"[..])),
            self.accept
                .as_ref()
                .map(|key| ("Sec-WebSocket-Accept", &key.as_bytes()[..])),
            self.protocol
                .map(|p| ("Sec-WebSocket-Protocol", p.as_bytes())),
            self.extensions
                .map(|e| ("Sec-WebSocket-Extensions", e.as_bytes())),
        ]
        .into_iter()
        .flatten()
    }
}

/// Iterator over the list elements of every header field with one name, across repeated
/// fields, from header pairs (the counterpart of [`ListItems`](super::ListItems)).
#[derive(Clone, Debug)]
pub struct PartsList<'b, H> {
    headers: H,
    name: &'static str,
    current: ListSplit<'b>,
}

impl<'b, H> PartsList<'b, H> {
    fn new(headers: H, name: &'static str) -> Self {
        PartsList {
            headers,
            name,
            current: ListSplit::new(&[]),
        }
    }
}

impl<'b, H> Iterator for PartsList<'b, H>
where
    H: Iterator<Item = (&'b str, &'b [u8])>,
{
    type Item = &'b str;

    fn next(&mut self) -> Option<&'b str> {
        loop {
            for item in self.current.by_ref() {
                if let Ok(s) = core::str::from_utf8(item) {
                    return Some(s);
                }
            }
            let name = self.name;
            let (_, value) = self
                .headers
                .by_ref()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))?;
            self.current = ListSplit::new(value);
        }
    }
}

/// Checks what a client is about to offer — host, resource, `Origin`, subprotocols and
/// extensions — by the rules [`ClientHandshake::write_request`](super::ClientHandshake::write_request)
/// applies, for a client whose HTTP library writes the request (an HTTP/2 extended `CONNECT`).
pub fn check_client_request(request: &ClientRequest<'_>) -> Result<(), WriteError> {
    request.validate()
}

/// Checks a server's answer to an HTTP/2 extended `CONNECT` sent for `request` (RFC 8441 §5
/// and RFC 6455 §4.1 items 5–6): a 2xx `status`, extensions that were offered, at most one
/// subprotocol and only one that was offered. Returns the subprotocol and, when `request`
/// offered permessage-deflate ([`ClientRequest::with_deflate`]) and the server took it, its
/// parameters.
pub fn check_http2_response<'b>(
    request: &ClientRequest<'_>,
    status: u16,
    headers: impl Iterator<Item = (&'b str, &'b [u8])>,
) -> Result<(Option<&'b str>, Option<DeflateParams>), ResponseError> {
    if !(200..300).contains(&status) {
        return Err(ResponseError::Http2Status(status));
    }
    verify_fields(request, None, headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::Url;

    type Pairs<'a> = core::iter::Copied<core::slice::Iter<'a, (&'a str, &'a [u8])>>;

    fn check<'a>(
        version: HttpVersion,
        method: &str,
        protocol: Option<&str>,
        headers: &'a [(&'a str, &'a [u8])],
    ) -> Result<UpgradeRequest<'a, Pairs<'a>>, RequestError> {
        check_request(version, method, protocol, headers.iter().copied())
    }

    const H1: &[(&str, &[u8])] = &[
        ("host", b"example.com"),
        ("upgrade", b"websocket"),
        ("connection", b"keep-alive, Upgrade"),
        ("sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", b"13"),
        ("sec-websocket-protocol", b"chat"),
        ("sec-websocket-protocol", b"superchat, v3"),
        (
            "sec-websocket-extensions",
            b"permessage-deflate; client_max_window_bits",
        ),
    ];

    #[test]
    fn http1_parts_pass_the_same_checks_as_raw_heads() {
        let req = check(HttpVersion::Http11, "GET", None, H1).unwrap();
        assert_eq!(req.key(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(
            req.accept_key().unwrap().as_str(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(req.host(), Some("example.com"));
        assert!(req.protocols().eq(["chat", "superchat", "v3"]));
        assert!(req
            .extensions()
            .eq(["permessage-deflate; client_max_window_bits"]));
        let resp = req.respond(&Accept::new().with_protocol("v3")).unwrap();
        assert_eq!(resp.status(), 101);
        assert!(resp.fields().eq([
            ("Upgrade", &b"websocket"[..]),
            ("Connection", b"Upgrade"),
            ("Sec-WebSocket-Accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ("Sec-WebSocket-Protocol", b"v3"),
        ]));
        // Each missing or wrong field is the raw parser's error.
        for (drop, error) in [
            ("host", RequestError::MissingHost),
            ("upgrade", RequestError::MissingUpgrade),
            ("connection", RequestError::MissingConnection),
            ("sec-websocket-key", RequestError::MissingKey),
            ("sec-websocket-version", RequestError::MissingVersion),
        ] {
            let mut fewer: [(&str, &[u8]); 8] = [("x-empty", b""); 8];
            for (slot, field) in fewer.iter_mut().zip(H1.iter().filter(|f| f.0 != drop)) {
                *slot = *field;
            }
            assert_eq!(
                check(HttpVersion::Http11, "GET", None, &fewer).err(),
                Some(error),
                "{drop}"
            );
        }
        assert_eq!(
            check(HttpVersion::Http11, "POST", None, H1).err(),
            Some(RequestError::MethodNotAllowed)
        );
        assert_eq!(
            check(HttpVersion::Http10, "GET", None, H1).err(),
            Some(RequestError::UnsupportedHttpVersion)
        );
    }

    const H2: &[(&str, &[u8])] = &[
        ("sec-websocket-version", b"13"),
        ("sec-websocket-protocol", b"chat, superchat"),
        ("origin", b"https://example.com"),
    ];

    #[test]
    fn http2_extended_connect() {
        let req = check(HttpVersion::Http2, "CONNECT", Some("websocket"), H2).unwrap();
        assert_eq!(req.key(), None);
        assert_eq!(req.accept_key(), None);
        assert_eq!(req.host(), None);
        assert_eq!(req.origin(), Some("https://example.com"));
        let resp = req.respond(&Accept::new()).unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.fields().count(), 0);
        assert_eq!(
            check(HttpVersion::Http2, "GET", None, H2).err(),
            Some(RequestError::Http2MethodNotConnect)
        );
        for protocol in [None, Some("webtransport")] {
            assert_eq!(
                check(HttpVersion::Http2, "CONNECT", protocol, H2).err(),
                Some(RequestError::Http2ProtocolNotWebSocket)
            );
        }
        for (fields, error) in [
            (
                &[("sec-websocket-protocol", &b"chat"[..])][..],
                RequestError::MissingVersion,
            ),
            (
                &[("sec-websocket-version", &b"8"[..])][..],
                RequestError::UnsupportedVersion,
            ),
            (
                &[
                    ("sec-websocket-version", &b"13"[..]),
                    ("content-length", b"5"),
                ][..],
                RequestError::UnexpectedBody,
            ),
        ] {
            assert_eq!(
                check(HttpVersion::Http2, "CONNECT", Some("websocket"), fields).err(),
                Some(error)
            );
        }
        assert_eq!(RequestError::Http2MethodNotConnect.status(), 405);
        assert_eq!(RequestError::Http2ProtocolNotWebSocket.status(), 400);
    }

    #[test]
    fn unoffered_choices_are_refused_for_both_versions() {
        for (version, method, protocol, headers) in [
            (HttpVersion::Http11, "GET", None, H1),
            (HttpVersion::Http2, "CONNECT", Some("websocket"), H2),
        ] {
            let req = check(version, method, protocol, headers).unwrap();
            assert_eq!(
                req.respond(&Accept::new().with_protocol("other")).err(),
                Some(WriteError::ProtocolNotOffered)
            );
            assert_eq!(
                req.respond(&Accept::new().with_extensions("x-unoffered"))
                    .err(),
                Some(WriteError::ExtensionNotOffered)
            );
        }
    }

    #[test]
    fn http2_responses_are_checked() {
        let url = Url::parse("wss://example.com/chat").unwrap();
        let offered = ["chat", "superchat"];
        let request = ClientRequest::new(&url).with_protocols(&offered);
        assert_eq!(check_client_request(&request), Ok(()));
        let none: [(&str, &[u8]); 0] = [];
        assert_eq!(
            check_http2_response(&request, 200, none.iter().copied()),
            Ok((None, None))
        );
        let chosen = [("sec-websocket-protocol", &b"superchat"[..])];
        assert_eq!(
            check_http2_response(&request, 200, chosen.iter().copied()),
            Ok((Some("superchat"), None))
        );
        let bad = [("sec-websocket-protocol", &b"v9"[..])];
        assert_eq!(
            check_http2_response(&request, 200, bad.iter().copied()),
            Err(ResponseError::ProtocolNotOffered)
        );
        let ext = [("sec-websocket-extensions", &b"permessage-deflate"[..])];
        assert_eq!(
            check_http2_response(&request, 200, ext.iter().copied()),
            Err(ResponseError::ExtensionNotOffered)
        );
        assert_eq!(
            check_http2_response(&request, 404, none.iter().copied()),
            Err(ResponseError::Http2Status(404))
        );
        // With an offer, the answer's permessage-deflate parameters are checked and returned.
        let offering = request.with_deflate(super::super::deflate::DeflateOffer::new());
        let deflate = [(
            "sec-websocket-extensions",
            &b"permessage-deflate; client_max_window_bits=10"[..],
        )];
        let (_, params) = check_http2_response(&offering, 200, deflate.iter().copied()).unwrap();
        assert_eq!(params.map(|p| p.client_max_window_bits), Some(10));
        let bad_protocol = ["a b"];
        assert_eq!(
            check_client_request(&ClientRequest::new(&url).with_protocols(&bad_protocol)),
            Err(WriteError::InvalidProtocol { index: 0 })
        );
    }

    /// The verdict of the parts path on a raw request: parsed by httparse into method and
    /// header pairs, then checked by `check_request`.
    fn via_parts(raw: &str) -> Result<(), RequestError> {
        let mut storage = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut storage);
        assert!(request.parse(raw.as_bytes()).unwrap().is_complete());
        let version = match request.version {
            Some(1) => HttpVersion::Http11,
            _ => HttpVersion::Http10,
        };
        let pairs: std::vec::Vec<(&str, &[u8])> =
            request.headers.iter().map(|h| (h.name, h.value)).collect();
        check_request(
            version,
            request.method.unwrap(),
            None,
            pairs.iter().copied(),
        )
        .map(|_| ())
    }

    #[test]
    fn parts_and_raw_heads_reach_the_same_verdict() {
        let base = [
            "Host: a",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ];
        let variants: &[(&str, &[&str], &[&str])] = &[
            ("GET / HTTP/1.1", &[], &[]),
            ("POST / HTTP/1.1", &[], &[]),
            ("GET / HTTP/1.0", &[], &[]),
            ("POST / HTTP/1.0", &[], &[]),
            ("GET / HTTP/1.1", &["Host"], &[]),
            ("GET / HTTP/1.1", &[], &["Host: b"]),
            ("GET / HTTP/1.1", &["Upgrade"], &["Upgrade: h2c"]),
            (
                "GET / HTTP/1.1",
                &["Connection"],
                &["Connection: keep-alive"],
            ),
            ("GET / HTTP/1.1", &["Connection"], &[]),
            (
                "GET / HTTP/1.1",
                &["Sec-WebSocket-Version"],
                &["Sec-WebSocket-Version: 8"],
            ),
            ("GET / HTTP/1.1", &[], &["Sec-WebSocket-Version: 13"]),
            (
                "GET / HTTP/1.1",
                &["Sec-WebSocket-Key"],
                &["Sec-WebSocket-Key: abc"],
            ),
            (
                "GET / HTTP/1.1",
                &["Sec-WebSocket-Key"],
                &["Sec-WebSocket-Key: !!!!"],
            ),
            ("GET / HTTP/1.1", &[], &["Content-Length: 3"]),
            ("GET / HTTP/1.1", &[], &["Transfer-Encoding: chunked"]),
            ("GET / HTTP/1.1", &[], &["Sec-WebSocket-Protocol: a, b"]),
        ];
        for (start, drop, add) in variants {
            let mut raw = std::string::String::from(*start);
            raw.push_str("\r\n");
            for field in base {
                if !drop.iter().any(|d| field.starts_with(d)) {
                    raw.push_str(field);
                    raw.push_str("\r\n");
                }
            }
            for field in *add {
                raw.push_str(field);
                raw.push_str("\r\n");
            }
            raw.push_str("\r\n");
            let direct = super::super::ServerHandshake::new()
                .read_request(raw.as_bytes())
                .map(|r| {
                    assert!(r.is_some());
                });
            assert_eq!(via_parts(&raw), direct, "{raw}");
        }
    }
}
