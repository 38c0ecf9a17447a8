//! `wss://` end to end over loopback, with certificates made by the test (rcgen): our std and
//! tokio clients against our std and tokio TLS servers, through a real tinyproxy, and every
//! failure the issue names as a typed error — a CA we do not trust, a certificate for another
//! name, an expired one, a port that does not speak TLS — plus a peer that cuts the TLS session
//! without `close_notify` in the middle of a message (the closure says so, with the phase).
//!
//! No test installs a process-level rustls `CryptoProvider`: each checks that none is installed,
//! so every handshake here proves that sockeye never needs one.

use std::io::Write;
use std::net::{Shutdown, TcpListener};
use std::sync::Arc;
use std::thread;

use sockeye_core::adapter::tls::rustls::crypto::CryptoProvider;
use sockeye_std::tls::tls_accept;
use sockeye_std::{
    AbnormalCause, ClientOptions, CloseCode, ClosureKind, Config, Error, Message, Phase,
    ProxySetting, TlsAcceptor, TlsConnector, TlsError, TransportError,
};
use sockeye_test_support::{header, payload, TestPki, Tinyproxy};

fn no_process_provider() {
    assert!(
        CryptoProvider::get_default().is_none(),
        "a process-level CryptoProvider is installed: these tests must run without one"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A blocking TLS echo server for `connections` connections with `cert`; returns its port.
fn std_echo_server(pki: &TestPki, cert: &str, connections: usize) -> u16 {
    let acceptor = TlsAcceptor::from_pem(cert.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for _ in 0..connections {
            let (tcp, _) = listener.accept().unwrap();
            let Ok(tls) = tls_accept(tcp, &acceptor, &Config::default()) else {
                continue;
            };
            let Ok(mut ws) = sockeye_std::WebSocket::accept(tls) else {
                continue;
            };
            while let Ok(message) = ws.recv() {
                if ws.send(message).is_err() {
                    break;
                }
            }
        }
    });
    port
}

fn std_echo(url: &str, options: &ClientOptions<'_>) {
    let mut ws = sockeye_std::WebSocket::connect_with(url, options).expect("wss connect");
    ws.send_text("over TLS").unwrap();
    assert_eq!(ws.recv().unwrap(), Message::Text("over TLS".into()));
    let big = payload(300_000);
    ws.send_binary(&big).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::Binary(big));
    let closure = ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert!(closure.is_clean(), "{closure}");
}

async fn tokio_echo(url: &str, options: &ClientOptions<'_>) {
    let mut ws = sockeye_tokio::WebSocket::connect_with(url, options)
        .await
        .expect("tokio wss connect");
    ws.send_text("async TLS").await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Message::Text("async TLS".into()));
    let big = payload(300_000);
    ws.send_binary(&big).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Message::Binary(big));
    let closure = ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert!(closure.is_clean(), "{closure}");
}

#[test]
fn std_and_tokio_clients_talk_to_the_std_tls_server() {
    no_process_provider();
    let pki = TestPki::new();
    let connector = TlsConnector::with_ca_pem(pki.ca_pem.as_bytes()).unwrap();
    let options = ClientOptions::new().with_tls(&connector);
    let port = std_echo_server(&pki, &pki.cert_pem, 3);
    std_echo(&format!("wss://localhost:{port}/echo"), &options);
    // An IP address is verified against the certificate's IP addresses.
    std_echo(&format!("wss://127.0.0.1:{port}/echo"), &options);
    runtime().block_on(tokio_echo(
        &format!("wss://localhost:{port}/echo"),
        &options,
    ));
    no_process_provider();
}

#[test]
fn std_and_tokio_clients_talk_to_the_tokio_tls_server() {
    no_process_provider();
    let pki = TestPki::new();
    let acceptor = TlsAcceptor::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let tls = sockeye_tokio::tls::tls_accept(tcp, &acceptor, &Config::default())
                    .await
                    .unwrap();
                let mut ws = sockeye_tokio::WebSocket::accept(tls).await.unwrap();
                while let Ok(message) = ws.recv().await {
                    if ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let connector = TlsConnector::with_ca_pem(pki.ca_pem.as_bytes()).unwrap();
    let options = ClientOptions::new().with_tls(&connector);
    let url = format!("wss://localhost:{port}/echo");
    std_echo(&url, &options);
    runtime().block_on(tokio_echo(&url, &options));
    no_process_provider();
}

/// Connects with both clients and returns both errors.
fn connect_errors(url: &str, options: &ClientOptions<'_>) -> [Error; 2] {
    let std_error =
        sockeye_std::WebSocket::connect_with(url, options).expect_err("the std client must fail");
    let tokio_error = runtime()
        .block_on(sockeye_tokio::WebSocket::connect_with(url, options))
        .expect_err("the tokio client must fail");
    [std_error, tokio_error]
}

fn assert_tls_error(errors: [Error; 2], expected: TlsError, says: &str) {
    for error in errors {
        match &error {
            Error::Tls(e) if *e == expected => {}
            other => panic!("expected Error::Tls({expected:?}), got {other:?}"),
        }
        let line = error.to_string();
        assert!(line.contains(says), "{line:?} should say {says:?}");
    }
}

#[test]
fn a_server_signed_by_a_ca_we_do_not_trust_is_unknown_issuer() {
    no_process_provider();
    let pki = TestPki::new();
    let port = std_echo_server(&pki, &pki.cert_pem, 4);
    let url = format!("wss://localhost:{port}/");
    // Another CA of our own...
    let stranger = TestPki::new();
    let connector = TlsConnector::with_ca_pem(stranger.ca_pem.as_bytes()).unwrap();
    let options = ClientOptions::new().with_tls(&connector);
    assert_tls_error(
        connect_errors(&url, &options),
        TlsError::UnknownIssuer,
        "not signed by a CA we trust",
    );
    // ...and the bundled public roots (the default without a connector in the options).
    assert_tls_error(
        connect_errors(&url, &ClientOptions::new()),
        TlsError::UnknownIssuer,
        "--ca",
    );
    no_process_provider();
}

#[test]
fn a_certificate_for_another_name_is_a_name_mismatch() {
    let pki = TestPki::new();
    let port = std_echo_server(&pki, &pki.other_name_pem, 2);
    let connector = TlsConnector::with_ca_pem(pki.ca_pem.as_bytes()).unwrap();
    let options = ClientOptions::new().with_tls(&connector);
    assert_tls_error(
        connect_errors(&format!("wss://localhost:{port}/"), &options),
        TlsError::NameMismatch,
        "not valid for the host",
    );
}

#[test]
fn an_expired_certificate_is_expired() {
    let pki = TestPki::new();
    let port = std_echo_server(&pki, &pki.expired_pem, 2);
    let connector = TlsConnector::with_ca_pem(pki.ca_pem.as_bytes()).unwrap();
    let options = ClientOptions::new().with_tls(&connector);
    assert_tls_error(
        connect_errors(&format!("wss://localhost:{port}/"), &options),
        TlsError::Expired,
        "expired",
    );
}

#[test]
fn a_port_that_does_not_speak_tls_is_reported_as_such() {
    // A plain WebSocket server: it reads our ClientHello as an HTTP request and answers 400.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for _ in 0..2 {
            let (tcp, _) = listener.accept().unwrap();
            let _ = sockeye_std::WebSocket::accept(tcp);
        }
    });
    let pki = TestPki::new();
    let connector = TlsConnector::with_ca_pem(pki.ca_pem.as_bytes()).unwrap();
    let options = ClientOptions::new().with_tls(&connector);
    for error in connect_errors(&format!("wss://127.0.0.1:{port}/"), &options) {
        match &error {
            Error::Tls(TlsError::NotTls { .. } | TlsError::HandshakeEof) => {}
            other => {
                panic!("expected a TLS error saying the peer does not speak TLS, got {other:?}")
            }
        }
    }
}

/// A TLS server that accepts the upgrade, sends the header and the first 512 bytes of a
/// 4096-byte binary frame, then closes TCP under TLS: no close_notify. Returns its port.
fn truncating_server(pki: &TestPki, connections: usize) -> u16 {
    let acceptor = TlsAcceptor::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for _ in 0..connections {
            let (tcp, _) = listener.accept().unwrap();
            let tls = tls_accept(tcp, &acceptor, &Config::default()).unwrap();
            let ws = sockeye_std::WebSocket::accept(tls).unwrap();
            let mut tls = ws.into_inner();
            let mut partial = header(0x2, 4096);
            partial.extend_from_slice(&payload(512));
            tls.write_all(&partial).unwrap();
            tls.flush().unwrap();
            tls.sock.shutdown(Shutdown::Both).unwrap();
        }
    });
    port
}

fn assert_truncated_mid_frame(closure: &sockeye_std::Closure) {
    match closure.kind() {
        ClosureKind::Abnormal {
            cause: AbnormalCause::Transport(TransportError::TlsTruncated),
            phase: Phase::FramePayload { received: 512, .. },
        } => {}
        other => panic!("expected a TLS truncation in the middle of a frame, got {other:?}"),
    }
    let line = closure.to_string();
    assert!(line.contains("without close_notify"), "{line}");
    assert!(line.contains("512 of 4096"), "{line}");
}

#[test]
fn a_tls_session_cut_without_close_notify_mid_message_says_so_with_the_phase() {
    let pki = TestPki::new();
    let port = truncating_server(&pki, 2);
    let url = format!("wss://localhost:{port}/");
    let connector = TlsConnector::with_ca_pem(pki.ca_pem.as_bytes()).unwrap();
    let options = ClientOptions::new().with_tls(&connector);

    let mut ws = sockeye_std::WebSocket::connect_with(&url, &options).unwrap();
    match ws.recv() {
        Err(Error::Closed(closure)) => assert_truncated_mid_frame(&closure),
        other => panic!("std: expected the closure, got {other:?}"),
    }
    runtime().block_on(async {
        let mut ws = sockeye_tokio::WebSocket::connect_with(&url, &options)
            .await
            .unwrap();
        match ws.recv().await {
            Err(Error::Closed(closure)) => assert_truncated_mid_frame(&closure),
            other => panic!("tokio: expected the closure, got {other:?}"),
        }
    });
}

#[test]
fn wss_goes_through_tinyproxy_for_both_clients() {
    let pki = TestPki::new();
    let port = std_echo_server(&pki, &pki.cert_pem, 2);
    let proxy = Tinyproxy::start("");
    let proxy_url = proxy.url("");
    let connector = TlsConnector::with_ca_pem(pki.ca_pem.as_bytes()).unwrap();
    let options = ClientOptions::new()
        .with_tls(&connector)
        .with_proxy(ProxySetting::Url(&proxy_url));
    let url = format!("wss://localhost:{port}/through");
    std_echo(&url, &options);
    runtime().block_on(tokio_echo(&url, &options));
    let log = proxy.log();
    assert!(
        log.matches(&format!("localhost:{port}")).count() >= 2,
        "tinyproxy did not log both CONNECTs: {log}"
    );
}

#[test]
fn a_caller_supplied_client_config_is_used_as_is() {
    // A ClientConfig of the caller's own (here: our CA, and an ALPN list of its own), built on
    // an explicit provider like sockeye's.
    use sockeye_core::adapter::tls::rustls::{self, pki_types::pem::PemObject};
    let pki = TestPki::new();
    let port = std_echo_server(&pki, &pki.cert_pem, 1);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let mut config =
        rustls::ClientConfig::builder_with_provider(sockeye_core::adapter::tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = TlsConnector::new(Arc::new(config));
    std_echo(
        &format!("wss://localhost:{port}/"),
        &ClientOptions::new().with_tls(&connector),
    );
}
