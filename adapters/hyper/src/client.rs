//! The client side over HTTP/2 (RFC 8441): a WebSocket as an extended `CONNECT` stream on a
//! hyper HTTP/2 client connection, several of them multiplexed on one connection.

use std::io;

use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Version};
use hyper::client::conn::http2::SendRequest;
use sockeye_core::adapter::upgrade::Upgraded;
use sockeye_core::adapter::{ClientOptions, Error, HandshakeError};
use sockeye_core::handshake::parts::{check_client_request, check_http2_response, HttpVersion};
use sockeye_core::handshake::{ClientRequest, ResponseError, WEBSOCKET_VERSION};
use sockeye_core::url::Url;
use sockeye_core::Role;
use sockeye_tokio::WebSocket;

use crate::stream::UpgradedStream;

/// Opens a WebSocket to `url` as an extended `CONNECT` stream (RFC 8441) on the HTTP/2
/// connection behind `sender`, and runs the engine in the client role over that stream.
///
/// `url` is `ws://` or `wss://`; its host, port and resource become `:authority` and `:path`
/// (`:scheme` is `http` or `https`). The connection's TLS is the caller's: `sender` came from
/// [`hyper::client::conn::http2::handshake`] over whatever stream the caller opened (with ALPN
/// `h2` for TLS). Call it again with the same `sender` (or a clone) for more WebSockets on the
/// same connection. `options` gives the subprotocols, the extra headers, the `Origin` and the
/// configuration (its handshake timeout bounds the exchange); its proxy setting is not used.
///
/// The response is checked by the core ([`check_http2_response`]): a 2xx status, and a
/// subprotocol and extensions the client offered. A server without RFC 8441 support is
/// [`ResponseError::Http2ExtendedConnectDisabled`] (or an error status); a failure of the
/// HTTP/2 connection is [`Error::Io`] with hyper's error.
///
/// ```no_run
/// use sockeye_hyper::connect_h2;
/// use sockeye_tokio::ClientOptions;
/// use hyper_util::rt::{TokioExecutor, TokioIo};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tcp = tokio::net::TcpStream::connect("127.0.0.1:9001").await?; // h2c: prior knowledge
/// let (mut sender, connection) = hyper::client::conn::http2::handshake::<_, _, http_body_util::Empty<bytes::Bytes>>(
///     TokioExecutor::new(),
///     TokioIo::new(tcp),
/// )
/// .await?;
/// tokio::spawn(connection);
/// let mut a = connect_h2(&mut sender, "ws://127.0.0.1:9001/ws", &ClientOptions::new()).await?;
/// let mut b = connect_h2(&mut sender, "ws://127.0.0.1:9001/ws", &ClientOptions::new()).await?;
/// a.send_text("one").await?;
/// b.send_text("two").await?;
/// # Ok(()) }
/// ```
pub async fn connect_h2<B>(
    sender: &mut SendRequest<B>,
    url: &str,
    options: &ClientOptions<'_>,
) -> Result<WebSocket<UpgradedStream>, Error>
where
    B: hyper::body::Body + Default + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let parsed = Url::parse(url).map_err(Error::Url)?;
    let work = async {
        let mut request = ClientRequest::new(&parsed)
            .with_protocols(options.protocols)
            .with_headers(options.headers);
        if let Some(origin) = options.origin {
            request = request.with_origin(origin);
        }
        #[cfg(feature = "deflate")]
        if let Some(compression) = options.config.compression {
            request = request.with_deflate(compression.offer);
        }
        check_client_request(&request).map_err(|e| Error::Handshake(HandshakeError::Write(e)))?;
        let http_request = build_request::<B>(&parsed, &request)?;
        sender
            .ready()
            .await
            .map_err(|e| Error::Io(io::Error::other(e)))?;
        let mut response = match sender.send_request(http_request).await {
            Ok(response) => response,
            // A server that did not enable extended CONNECT resets the request with
            // PROTOCOL_ERROR (RFC 8441 §4: "MUST NOT send a CONNECT request with :protocol
            // ... unless the peer sent SETTINGS_ENABLE_CONNECT_PROTOCOL"): say so.
            Err(e) if reset_with_protocol_error(&e) => {
                return Err(Error::Handshake(HandshakeError::Response(
                    ResponseError::Http2ExtendedConnectDisabled,
                )))
            }
            Err(e) => return Err(Error::Io(io::Error::other(e))),
        };
        let (protocol, deflate) = check_http2_response(
            &request,
            response.status().as_u16(),
            response
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes())),
        )
        .map_err(|e| Error::Handshake(HandshakeError::Response(e)))?;
        let agreed = Upgraded {
            leftover: Vec::new(),
            protocol: protocol.map(String::from),
            deflate,
        };
        let upgraded = hyper::upgrade::on(&mut response)
            .await
            .map_err(|e| Error::Io(io::Error::other(e)))?;
        Ok::<_, Error>((upgraded, agreed))
    };
    let (upgraded, agreed) = match options.config.handshake_timeout {
        Some(limit) => tokio::time::timeout(limit, work)
            .await
            .map_err(|_| Error::Handshake(HandshakeError::Timeout))??,
        None => work.await?,
    };
    let stream = UpgradedStream::new(upgraded, HttpVersion::Http2);
    Ok(WebSocket::from_handshake(
        stream,
        Role::Client,
        options.config,
        agreed,
    ))
}

/// Whether hyper's error is the peer's `RST_STREAM(PROTOCOL_ERROR)` of the request.
fn reset_with_protocol_error(error: &hyper::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return h2.is_remote() && h2.reason() == Some(h2::Reason::PROTOCOL_ERROR);
        }
        source = e.source();
    }
    false
}

/// The extended `CONNECT` for `request` (already validated by the core).
fn build_request<B: Default>(
    url: &Url<'_>,
    request: &ClientRequest<'_>,
) -> Result<Request<B>, Error> {
    let scheme = if url.is_secure() { "https" } else { "http" };
    let uri = format!("{scheme}://{}{}", url.host_header(), url.resource());
    let invalid = |e: http::Error| Error::Io(io::Error::new(io::ErrorKind::InvalidInput, e));
    let mut builder = Request::builder()
        .method(Method::CONNECT)
        .version(Version::HTTP_2)
        .uri(uri)
        .extension(hyper::ext::Protocol::from_static("websocket"))
        .header(http::header::SEC_WEBSOCKET_VERSION, WEBSOCKET_VERSION);
    if !request.protocols().is_empty() {
        builder = builder.header(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            request.protocols().join(", "),
        );
    }
    // permessage-deflate's offer first (written by the core, at most 124 bytes), then the rest.
    let mut item = [0u8; 128];
    let offer = request
        .deflate()
        .and_then(|offer| offer.write(&mut item).ok())
        .and_then(|n| std::str::from_utf8(&item[..n]).ok());
    let extensions: Vec<&str> = offer
        .into_iter()
        .chain(request.extensions().iter().copied())
        .collect();
    if !extensions.is_empty() {
        builder = builder.header(
            http::header::SEC_WEBSOCKET_EXTENSIONS,
            extensions.join(", "),
        );
    }
    if let Some(origin) = request.origin() {
        builder = builder.header(http::header::ORIGIN, origin);
    }
    for (name, value) in request.headers() {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(http::Error::from(e)))?;
        let value = HeaderValue::from_str(value).map_err(|e| invalid(http::Error::from(e)))?;
        builder = builder.header(name, value);
    }
    builder.body(B::default()).map_err(invalid)
}
