//! An axum app with a WebSocket echo endpoint, over HTTP/1.1 and HTTP/2 (RFC 8441).
//!
//! ```text
//! cargo run --release --features axum-example --example axum_echo -- [ADDR] [--tls CERT KEY | --tls-self-signed]
//! ```
//!
//! `ADDR` defaults to `127.0.0.1:9001`. It serves, on one port:
//!
//! - `GET /`: a small HTML page that opens a WebSocket to `/ws`, exchanges a few messages,
//!   closes, and posts what it saw to `/report`;
//! - `/ws` (any method: `GET` for HTTP/1.1, `CONNECT` for HTTP/2): the echo, through
//!   [`sockeye_hyper::axum::WebSocketUpgrade`], with the subprotocol `echo` if offered;
//! - `POST /report`: prints `report: <body>` (how the page's run went).
//!
//! Without TLS it speaks HTTP/1.1 and HTTP/2 with prior knowledge (h2c). With `--tls CERT
//! KEY` (PEM files) or `--tls-self-signed` (a certificate for `localhost` and `127.0.0.1`,
//! made at start) it speaks TLS with ALPN `h2` and `http/1.1`. HTTP/2 has extended CONNECT
//! enabled, so browsers carry the WebSocket on the page's HTTP/2 connection.
//!
//! Each WebSocket prints one line when it ends: the peer, the HTTP version, `code=<N>` and
//! the closure's diagnosis. permessage-deflate is accepted when the client offers it (the
//! line then ends in `[permessage-deflate]`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use sockeye::hyper::axum::{WebSocket, WebSocketUpgrade};
use sockeye::hyper::HttpVersion;
use sockeye_tokio::{Compression, Config, Error};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

/// The peer's address, put in each request's extensions by the accept loop.
#[derive(Clone, Copy)]
struct Peer(SocketAddr);

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>sockeye axum echo</title></head>
<body><pre id="log"></pre>
<script>
const log = (line) => { document.getElementById("log").textContent += line + "\n"; };
const report = (text) => fetch("/report", { method: "POST", body: text });
const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const ws = new WebSocket(scheme + "//" + location.host + "/ws", ["echo"]);
ws.binaryType = "arraybuffer";
const got = [];
let echoed = false;
const big = new Uint8Array(70000).map((_, i) => i % 251);
ws.onopen = () => {
  log("open, protocol " + ws.protocol);
  ws.send("hello");
  ws.send("héllo wörld");
  ws.send(big);
};
ws.onmessage = (e) => {
  got.push(e.data);
  if (got.length === 3) {
    const bin = new Uint8Array(got[2]);
    const ok = got[0] === "hello" && got[1] === "héllo wörld" && bin.length === big.length
      && bin.every((b, i) => b === big[i]);
    echoed = ok;
    ws.close(1000, ok ? "ok" : "mismatch");
  }
};
ws.onerror = () => log("error");
ws.onclose = (e) => {
  const ok = echoed && e.code === 1000 && e.wasClean && ws.protocol === "echo";
  const text = (ok ? "ok" : "FAILED") + " code=" + e.code + " clean=" + e.wasClean
    + " protocol=" + ws.protocol + " messages=" + got.length + " echoed=" + echoed;
  log(text);
  report(text);
};
</script></body></html>
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    let addr = match args.peek() {
        Some(a) if !a.starts_with("--") => args.next().unwrap_or_default(),
        _ => "127.0.0.1:9001".into(),
    };
    let tls = match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => None,
        (Some("--tls"), Some(cert), Some(key)) => Some(tls_from_files(&cert, &key)?),
        (Some("--tls-self-signed"), None, None) => Some(tls_self_signed()?),
        _ => {
            return Err("usage: axum_echo [ADDR] [--tls CERT KEY | --tls-self-signed]".into());
        }
    };
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/ws", any(upgrade))
        .route("/report", post(report));
    let listener = TcpListener::bind(&addr).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "axum_echo: listening on {scheme}://{} (page at /, WebSocket at /ws)",
        listener.local_addr()?
    );
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("axum_echo: accept failed: {e}");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut request: Request<_>| {
                request.extensions_mut().insert(Peer(peer));
                app.clone().call(request.map(axum::body::Body::new))
            });
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http2().enable_connect_protocol();
            let served = match tls {
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(stream) => {
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await
                    }
                    Err(e) => return eprintln!("{peer} TLS handshake failed: {e}"),
                },
                None => {
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                        .await
                }
            };
            if let Err(e) = served {
                eprintln!("{peer} connection error: {e}");
            }
        });
    }
}

async fn upgrade(ws: WebSocketUpgrade, request: Request) -> Response {
    let peer = request.extensions().get::<Peer>().map(|p| p.0);
    let version = ws.http_version();
    // permessage-deflate is accepted when offered, as in the other echo servers: browsers
    // offer it on HTTP/1.1 and HTTP/2 alike.
    let config = Config::default().with_compression(Some(Compression::new()));
    ws.protocols(["echo"])
        .config(config)
        .on_upgrade(move |socket| echo(socket, peer, version))
        .into_response()
}

async fn echo(mut ws: WebSocket, peer: Option<SocketAddr>, version: HttpVersion) {
    let peer = peer.map_or_else(|| "?".into(), |p| p.to_string());
    let closure = loop {
        match ws.recv().await {
            Ok(message) => match ws.send(message).await {
                Ok(()) => {}
                Err(Error::Closed(closure)) => break *closure,
                // The peer's Close arrived meanwhile: `recv` reports the end next.
                Err(_) => {}
            },
            Err(Error::Closed(closure)) => break *closure,
            Err(e) => return println!("{peer} {version} error: {e}"),
        }
    };
    println!(
        "{peer} {version} code={} {closure}",
        closure.code().as_u16()
    );
}

async fn report(body: String) -> &'static str {
    println!("report: {}", body.trim());
    "thanks\n"
}

fn server_config(
    certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<TlsAcceptor, Box<dyn std::error::Error>> {
    // ring, as the other TLS tests use (rustls 0.23.48 deprecates its default provider for
    // lacking post-quantum key exchange, which a loopback test certificate does not need).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn tls_from_files(cert: &str, key: &str) -> Result<TlsAcceptor, Box<dyn std::error::Error>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    server_config(certs, key)
}

fn tls_self_signed() -> Result<TlsAcceptor, Box<dyn std::error::Error>> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    server_config(vec![cert], key)
}
