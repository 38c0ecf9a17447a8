//! Opening a `wss://` connection over loopback: TCP connect, the TLS handshake and the
//! WebSocket upgrade, until the client can send — sockeye's tokio client next to
//! tokio-tungstenite's (its rustls support), against one server, with one client configuration.
//!
//! - **Server**: sockeye's tokio TLS server (`tls_accept` + `WebSocket::accept`) on a runtime
//!   of its own thread, for every contender: the server's share of the time is the same for
//!   both, so differences come from the clients.
//! - **Client configuration**: one `rustls::ClientConfig` (ring provider, the test CA made here
//!   with rcgen, ALPN `http/1.1`) given to both clients, with TLS session resumption off, so
//!   every connection is a full TLS 1.3 handshake (ECDHE + certificate verification), as a
//!   first connection is. A group with resumption on shows the reconnect case.
//! - **Wall time** per connection (not CPU time: the work is split between two threads and the
//!   kernel), the closing handshake excluded; each connection is closed cleanly before the next.
//! - `ws://` (the upgrade alone, no TLS) is the reference.
//!
//! `cargo bench -p sockeye-benches --bench handshake`, or `SOCKEYE_BENCH=table` for the table.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Group, Harness, Kind};
use sockeye_core::adapter::tls::rustls;
use sockeye_core::adapter::tls::{TlsAcceptor, TlsConnector};
use sockeye_tokio::{ClientOptions, CloseCode, Config, WebSocket};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

/// A CA and a certificate for `localhost` signed by it, in PEM: (ca, cert, key).
fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "sockeye bench CA");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_pem, cert.pem(), key.serialize_pem())
}

/// Starts sockeye's tokio server (TLS when `tls` is given) on its own thread; returns the port.
fn server(tls: Option<TlsAcceptor>) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            let Ok(stream) =
                                sockeye_tokio::tls::tls_accept(tcp, &acceptor, &Config::default())
                                    .await
                            else {
                                return;
                            };
                            let Ok(mut ws) = WebSocket::accept(stream).await else {
                                return;
                            };
                            while ws.recv().await.is_ok() {}
                        }
                        None => {
                            let Ok(mut ws) = WebSocket::accept(tcp).await else {
                                return;
                            };
                            while ws.recv().await.is_ok() {}
                        }
                    }
                });
            }
        });
    });
    rx.recv().unwrap()
}

fn client_config(ca_pem: &str, resumption: bool) -> Arc<rustls::ClientConfig> {
    let connector = TlsConnector::with_ca_pem(ca_pem.as_bytes()).unwrap();
    let mut config = (**connector.config()).clone();
    if !resumption {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Arc::new(config)
}

/// Times `iters` connections of sockeye's client to `url`.
fn sockeye_connects(rt: &Runtime, url: &str, tls: Option<&TlsConnector>, iters: u64) -> Duration {
    rt.block_on(async {
        let mut options = ClientOptions::new();
        if let Some(tls) = tls {
            options = options.with_tls(tls);
        }
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            let mut ws = WebSocket::connect_with(url, &options).await.unwrap();
            total += start.elapsed();
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        }
        total
    })
}

/// Times `iters` connections of tokio-tungstenite's client to `url`.
fn tungstenite_connects(
    rt: &Runtime,
    url: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
    iters: u64,
) -> Duration {
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let connector = tls.map(|c| tokio_tungstenite::Connector::Rustls(c.clone()));
            let start = Instant::now();
            let (mut ws, _) =
                tokio_tungstenite::connect_async_tls_with_config(url, None, true, connector)
                    .await
                    .unwrap();
            total += start.elapsed();
            ws.close(None).await.unwrap();
            // Drain to the server's Close, as sockeye's close does.
            use futures_util::StreamExt;
            while let Some(Ok(_)) = ws.next().await {}
        }
        total
    })
}

fn main() {
    let (ca, cert, key) = certificates();
    let acceptor = TlsAcceptor::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let wss_port = server(Some(acceptor));
    let ws_port = server(None);
    let wss = format!("wss://localhost:{wss_port}/");
    let ws = format!("ws://localhost:{ws_port}/");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut h = Harness::from_env("handshake");
    for resumption in [false, true] {
        let config = client_config(&ca, resumption);
        let connector = TlsConnector::new(config.clone());
        let name = if resumption {
            "handshake/wss (TLS 1.3 resumed) + upgrade"
        } else {
            "handshake/wss (full TLS 1.3) + upgrade"
        };
        let mut g = Group::new(name, 0, 1);
        let (rt1, rt2, url1, url2) = (&rt, &rt, &wss, &wss);
        let connector = &connector;
        let config2 = config.clone();
        g.add_timed("sockeye-tokio", Kind::Sockeye, move |iters| {
            sockeye_connects(rt1, url1, Some(connector), iters)
        });
        g.add_timed("tokio-tungstenite (rustls)", Kind::Other, move |iters| {
            tungstenite_connects(rt2, url2, Some(&config2), iters)
        });
        h.run(g);
    }
    let mut g = Group::new("handshake/ws upgrade only (reference)", 0, 1);
    let (rt1, rt2, url1, url2) = (&rt, &rt, &ws, &ws);
    g.add_timed("sockeye-tokio", Kind::Sockeye, move |iters| {
        sockeye_connects(rt1, url1, None, iters)
    });
    g.add_timed("tokio-tungstenite", Kind::Other, move |iters| {
        tungstenite_connects(rt2, url2, None, iters)
    });
    h.run(g);
    h.finish();
}
