//! The server side: an incoming `http::Request` — an HTTP/1.1 `GET` upgrade or an HTTP/2
//! extended `CONNECT` — checked by the core's handshake code, answered with `101` or `200`,
//! and a future that yields the [`WebSocket`] once hyper hands over the stream.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::HeaderValue;
use http::{Method, Request, Response, StatusCode, Version};
use hyper::upgrade::OnUpgrade;
use sockeye_core::adapter::upgrade::Upgraded;
use sockeye_core::adapter::{negotiate_extensions, Config, Error};
use sockeye_core::handshake::deflate::Accepted;
use sockeye_core::handshake::parts::{check_request, HttpVersion};
use sockeye_core::handshake::{Accept, RequestError};
use sockeye_core::Role;
use sockeye_tokio::WebSocket;

use crate::stream::UpgradedStream;

/// Why a request cannot become a WebSocket. Each variant has the HTTP status to answer with
/// ([`status`](Self::status)); [`response`](Self::response) builds the whole answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum UpgradeError {
    /// The request is not a valid opening handshake (RFC 6455 §4.2.1 over HTTP/1.1, RFC 8441
    /// §4–5 over HTTP/2); the error names the rule and knows its status (400, 405, 426).
    Request(RequestError),
    /// The request is valid but the connection cannot be upgraded: hyper put no upgrade
    /// handle in the request. Serve HTTP/1.1 with `serve_connection_with_upgrades` (or
    /// `.with_upgrades()`), and HTTP/2 with `enable_connect_protocol()`. Status 426.
    NotUpgradable,
}

impl UpgradeError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            UpgradeError::Request(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            UpgradeError::NotUpgradable => StatusCode::UPGRADE_REQUIRED,
        }
    }

    /// The error response: the status, the headers it calls for (`Allow` for 405;
    /// `Sec-WebSocket-Version: 13` for 426, RFC 6455 §4.4) and a one-line text body.
    pub fn response<B: From<String>>(&self) -> Response<B> {
        let mut response = Response::new(B::from(format!("{self}\n")));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        match self {
            UpgradeError::Request(RequestError::MethodNotAllowed) => {
                headers.insert(http::header::ALLOW, HeaderValue::from_static("GET"));
            }
            UpgradeError::Request(RequestError::Http2MethodNotConnect) => {
                headers.insert(http::header::ALLOW, HeaderValue::from_static("CONNECT"));
            }
            _ => {}
        }
        if self.status() == StatusCode::UPGRADE_REQUIRED {
            headers.insert(
                http::header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        response
    }
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpgradeError::Request(e) => write!(f, "not a WebSocket handshake: {e}"),
            UpgradeError::NotUpgradable => f.write_str(
                "the connection cannot be upgraded: serve HTTP/1.1 with upgrades enabled \
                 (hyper's serve_connection_with_upgrades) and HTTP/2 with \
                 enable_connect_protocol()",
            ),
        }
    }
}

impl std::error::Error for UpgradeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UpgradeError::Request(e) => Some(e),
            UpgradeError::NotUpgradable => None,
        }
    }
}

impl From<RequestError> for UpgradeError {
    fn from(e: RequestError) -> Self {
        UpgradeError::Request(e)
    }
}

/// A checked WebSocket request, not answered yet: choose the subprotocol and the
/// configuration, then [`into_response`](Self::into_response).
///
/// ```no_run
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use bytes::Bytes;
/// use sockeye_hyper::Upgrade;
///
/// async fn handle(mut request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
///     let upgrade = match Upgrade::from_request(&mut request) {
///         Ok(upgrade) => upgrade.protocols(["chat.v2", "chat.v1"]),
///         Err(e) => return e.response(),
///     };
///     let (response, websocket) = upgrade.into_response();
///     tokio::spawn(async move {
///         let Ok(mut ws) = websocket.await else { return };
///         while let Ok(message) = ws.recv().await {
///             if ws.send(message).await.is_err() {
///                 break;
///             }
///         }
///     });
///     response
/// }
/// ```
#[derive(Debug)]
pub struct Upgrade {
    version: HttpVersion,
    on_upgrade: OnUpgrade,
    accept: Option<HeaderValue>,
    offered: Vec<HeaderValue>,
    extensions: Vec<String>,
    selected: Option<usize>,
    config: Config,
}

/// The request's header fields as the pairs the core checks, in order (values that are not
/// visible ASCII are still passed, as bytes).
fn pairs(headers: &http::HeaderMap) -> Vec<(&str, &[u8])> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect()
}

impl Upgrade {
    /// Checks `request` and takes hyper's upgrade handle out of it.
    pub fn from_request<B>(request: &mut Request<B>) -> Result<Upgrade, UpgradeError> {
        let protocol = request
            .extensions()
            .get::<hyper::ext::Protocol>()
            .map(|p| p.as_str().to_owned());
        let on_upgrade = request.extensions_mut().remove::<OnUpgrade>();
        Upgrade::check(
            request.method(),
            request.version(),
            protocol.as_deref(),
            request.headers(),
            on_upgrade,
        )
    }

    /// [`from_request`](Self::from_request) for a request taken apart (what an axum
    /// extractor sees).
    pub fn from_parts(parts: &mut http::request::Parts) -> Result<Upgrade, UpgradeError> {
        let protocol = parts
            .extensions
            .get::<hyper::ext::Protocol>()
            .map(|p| p.as_str().to_owned());
        let on_upgrade = parts.extensions.remove::<OnUpgrade>();
        Upgrade::check(
            &parts.method,
            parts.version,
            protocol.as_deref(),
            &parts.headers,
            on_upgrade,
        )
    }

    /// The core's checks on the request's method, version, `:protocol` and headers; then
    /// hyper's upgrade handle must be there.
    fn check(
        method: &Method,
        version: Version,
        protocol: Option<&str>,
        headers: &http::HeaderMap,
        on_upgrade: Option<OnUpgrade>,
    ) -> Result<Upgrade, UpgradeError> {
        let version = match version {
            Version::HTTP_2 => HttpVersion::Http2,
            Version::HTTP_11 => HttpVersion::Http11,
            // HTTP/0.9, 1.0 (no Upgrade) and HTTP/3 (RFC 9220 is not supported).
            _ => HttpVersion::Http10,
        };
        let pairs = pairs(headers);
        let checked = check_request(version, method.as_str(), protocol, pairs.iter().copied())?;
        let accept = checked
            .accept_key()
            .map(|key| HeaderValue::from_bytes(key.as_bytes()))
            .transpose()
            .map_err(|_| RequestError::KeyNotBase64)?;
        let offered = checked
            .protocols()
            .filter_map(|p| HeaderValue::from_str(p).ok())
            .collect();
        let extensions = checked.extensions().map(String::from).collect();
        let on_upgrade = on_upgrade.ok_or(UpgradeError::NotUpgradable)?;
        Ok(Upgrade {
            version,
            on_upgrade,
            accept,
            offered,
            extensions,
            selected: None,
            config: Config::default(),
        })
    }

    /// The HTTP version of the request: HTTP/1.1 (`GET` + `Upgrade`) or HTTP/2 (extended
    /// `CONNECT`, RFC 8441).
    pub fn http_version(&self) -> HttpVersion {
        self.version
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn requested_protocols(&self) -> impl Iterator<Item = &str> {
        self.offered.iter().filter_map(|p| p.to_str().ok())
    }

    /// The extensions the client offered, one item per offer with its parameters.
    pub fn requested_extensions(&self) -> impl Iterator<Item = &str> {
        self.extensions.iter().map(String::as_str)
    }

    /// Selects the subprotocol: the first of `known` (in the server's order of preference)
    /// that the client offered, or none if the client offered none of them. Only an offered
    /// subprotocol can ever be selected (RFC 6455 §4.2.2 step 5.5).
    pub fn protocols<I>(mut self, known: I) -> Upgrade
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.selected = known.into_iter().find_map(|k| {
            self.offered
                .iter()
                .position(|offered| offered.as_bytes() == k.as_ref().as_bytes())
        });
        self
    }

    /// The subprotocol selected by [`protocols`](Self::protocols), if any.
    pub fn selected_protocol(&self) -> Option<&HeaderValue> {
        self.selected.and_then(|i| self.offered.get(i))
    }

    /// The limits, buffers and timers of the connection (the tokio adapter's [`Config`];
    /// its handshake fields do not apply: hyper reads the request).
    pub fn config(mut self, config: Config) -> Upgrade {
        self.config = config;
        self
    }

    /// The configuration the connection will use.
    pub fn get_config(&self) -> &Config {
        &self.config
    }

    /// Changes the configuration in place.
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// The success response — `101 Switching Protocols` over HTTP/1.1, `200` over HTTP/2 —
    /// and the future that yields the WebSocket once hyper has sent it and handed over the
    /// stream.
    ///
    /// The fields come from the core ([`UpgradeRequest::respond`](sockeye_core::handshake::parts::UpgradeRequest::respond)),
    /// which checks the subprotocol against the client's offer once more; extensions are
    /// decided by [`negotiate_extensions`], the same function as the plain adapters use.
    pub fn into_response<B: Default>(self) -> (Response<B>, Upgrading) {
        let protocol = self
            .selected_protocol()
            .and_then(|p| p.to_str().ok())
            .map(String::from);
        let accepted =
            negotiate_extensions(self.extensions.iter().map(String::as_str), &self.config);
        let response = self.response(protocol.as_deref(), accepted);
        let upgraded = Upgraded {
            leftover: Vec::new(),
            protocol,
            deflate: accepted.map(|a| a.params()),
        };
        let upgrading = Upgrading {
            inner: Box::pin(finish(self.on_upgrade, self.version, self.config, upgraded)),
        };
        (response, upgrading)
    }

    fn response<B: Default>(
        &self,
        protocol: Option<&str>,
        deflate: Option<Accepted>,
    ) -> Response<B> {
        let mut response = Response::new(B::default());
        let mut accept = Accept::new();
        if let Some(protocol) = protocol {
            accept = accept.with_protocol(protocol);
        }
        // permessage-deflate's answer, written by the core (at most 124 bytes).
        let mut item = [0u8; 128];
        let extensions = deflate
            .and_then(|a| a.write_response(&mut item).ok())
            .and_then(|n| std::str::from_utf8(&item[..n]).ok());
        if let Some(extensions) = extensions {
            accept = accept.with_extensions(extensions);
        }
        // The core's check of the decision against the client's offer (the same as
        // `Request::accept`). `protocols` only selects from the offer, so this fails only if
        // the offered item was not a token; answer as the raw server does for a decision it
        // cannot send.
        if accept
            .check_against(
                self.requested_protocols(),
                self.extensions.iter().map(String::as_str),
            )
            .is_err()
        {
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return response;
        }
        *response.status_mut() = match self.version {
            HttpVersion::Http2 => StatusCode::OK,
            _ => StatusCode::SWITCHING_PROTOCOLS,
        };
        let headers = response.headers_mut();
        if let Some(key) = &self.accept {
            headers.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(
                http::header::CONNECTION,
                HeaderValue::from_static("upgrade"),
            );
            headers.insert(http::header::SEC_WEBSOCKET_ACCEPT, key.clone());
        }
        for (name, value) in [
            (http::header::SEC_WEBSOCKET_PROTOCOL, protocol),
            (http::header::SEC_WEBSOCKET_EXTENSIONS, extensions),
        ] {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, value);
            }
        }
        response
    }
}

async fn finish(
    on_upgrade: OnUpgrade,
    version: HttpVersion,
    config: Config,
    agreed: Upgraded,
) -> Result<WebSocket<UpgradedStream>, Error> {
    let upgraded = on_upgrade
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))?;
    let stream = UpgradedStream::new(upgraded, version);
    Ok(WebSocket::from_handshake(
        stream,
        Role::Server,
        config,
        agreed,
    ))
}

/// The future of [`Upgrade::into_response`]: resolves to the WebSocket once hyper has sent the
/// response and handed over the connection (HTTP/1.1) or the stream (HTTP/2), or to
/// [`Error::Io`] if hyper could not (the client went away first).
#[must_use = "the WebSocket is only available by awaiting this"]
pub struct Upgrading {
    inner: Pin<Box<dyn Future<Output = Result<WebSocket<UpgradedStream>, Error>> + Send>>,
}

impl fmt::Debug for Upgrading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrading").finish_non_exhaustive()
    }
}

impl Future for Upgrading {
    type Output = Result<WebSocket<UpgradedStream>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h1_request(version: &str) -> Request<()> {
        Request::builder()
            .uri("/chat")
            .header("host", "example.com")
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", version)
            .body(())
            .unwrap()
    }

    #[test]
    fn the_cores_verdict_comes_first_then_the_upgrade_handle() {
        // Valid, but hyper put no upgrade handle in it (a server without upgrades).
        let e = Upgrade::from_request(&mut h1_request("13")).unwrap_err();
        assert!(matches!(e, UpgradeError::NotUpgradable), "{e}");
        assert_eq!(e.status(), StatusCode::UPGRADE_REQUIRED);
        assert!(e.to_string().contains("enable_connect_protocol"), "{e}");
        // Invalid: the core's error and status.
        let e = Upgrade::from_request(&mut h1_request("8")).unwrap_err();
        assert!(
            matches!(e, UpgradeError::Request(RequestError::UnsupportedVersion)),
            "{e}"
        );
        let response = e.response::<String>();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()["sec-websocket-version"], "13");
        let mut post = h1_request("13");
        *post.method_mut() = Method::POST;
        let e = Upgrade::from_request(&mut post).unwrap_err();
        let response = e.response::<String>();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "GET");
    }

    /// A valid request that hyper could upgrade (an upgrade handle that will never resolve:
    /// the selection is all this test looks at).
    fn upgradable(protocols: &str) -> Upgrade {
        let mut request = h1_request("13");
        request.headers_mut().insert(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(protocols).unwrap(),
        );
        let handle = hyper::upgrade::on(Request::new(()));
        request.extensions_mut().insert(handle);
        Upgrade::from_request(&mut request).unwrap()
    }

    #[test]
    fn only_an_offered_subprotocol_can_be_selected() {
        let upgrade = upgradable("chat.v1, chat.v2");
        assert!(upgrade.requested_protocols().eq(["chat.v1", "chat.v2"]));
        // The server's order of preference decides among the offered ones.
        let chosen = upgrade.protocols(["chat.v3", "chat.v2", "chat.v1"]);
        assert_eq!(chosen.selected_protocol().unwrap(), "chat.v2");
        let (response, _) = chosen.into_response::<String>();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v2");
        assert_eq!(
            response.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        // Nothing in common: no subprotocol, and no header.
        let none = upgradable("chat.v1").protocols(["other"]);
        assert_eq!(none.selected_protocol(), None);
        let (response, _) = none.into_response::<String>();
        assert!(!response.headers().contains_key("sec-websocket-protocol"));
    }
}
