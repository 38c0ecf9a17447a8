//! Our clients through a real HTTP proxy: tinyproxy (Debian package `tinyproxy`, which
//! `.ci/run` installs), started by each test on an ephemeral port with its own configuration.
//! A plain tunnel, Basic authentication (accepted, and refused without credentials), and a
//! CONNECT the proxy refuses — each failure a typed error that says what to do.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;

use sockeye_test_support::Tinyproxy;

use sockeye_std::{ClientOptions, CloseCode, Error, Message, ProxyError, ProxySetting};

/// A sockeye echo server for one connection; returns its `ws://` URL.
fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/chat", listener.local_addr().unwrap());
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = sockeye_std::WebSocket::accept(stream).unwrap();
        while let Ok(message) = ws.recv() {
            if ws.send(message).is_err() {
                break;
            }
        }
    });
    url
}

fn echo_through(options: &ClientOptions<'_>, url: &str) {
    let mut ws =
        sockeye_std::WebSocket::connect_with(url, options).expect("connect through the proxy");
    ws.send_text("through the tunnel").unwrap();
    assert_eq!(
        ws.recv().unwrap(),
        Message::Text("through the tunnel".into())
    );
    let closure = ws.close(CloseCode::NORMAL, "").unwrap();
    assert!(closure.is_clean(), "{closure}");
}

#[test]
fn std_and_tokio_clients_tunnel_through_tinyproxy() {
    let proxy = Tinyproxy::start("");
    let proxy_url = proxy.url("");
    let options = ClientOptions::new().with_proxy(ProxySetting::Url(&proxy_url));
    echo_through(&options, &echo_server());
    let url = echo_server();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut ws = sockeye_tokio::WebSocket::connect_with(&url, &options)
                .await
                .expect("tokio: connect through the proxy");
            ws.send_text("async tunnel").await.unwrap();
            assert_eq!(
                ws.recv().await.unwrap(),
                Message::Text("async tunnel".into())
            );
            assert!(ws.close(CloseCode::NORMAL, "").await.unwrap().is_clean());
        });
}

#[test]
fn proxy_authentication_is_sent_and_its_absence_is_a_typed_error() {
    let proxy = Tinyproxy::start("BasicAuth alice s3cret");
    let with = proxy.url("alice:s3cret@");
    echo_through(
        &ClientOptions::new().with_proxy(ProxySetting::Url(&with)),
        &echo_server(),
    );
    for userinfo in ["", "alice:wrong@"] {
        let url = proxy.url(userinfo);
        let options = ClientOptions::new().with_proxy(ProxySetting::Url(&url));
        match sockeye_std::WebSocket::connect_with(&echo_server(), &options) {
            Err(Error::Proxy(ProxyError::AuthenticationRequired)) => {}
            other => panic!("{userinfo:?}: expected 407 as a typed error, got {other:?}"),
        }
    }
    let e = Error::Proxy(ProxyError::AuthenticationRequired).to_string();
    assert!(e.contains("user:password@"), "{e}");
}

#[test]
fn a_refused_connect_is_reported_with_its_status() {
    // Only port 443 may be tunnelled to: our server's port is refused (403).
    let proxy = Tinyproxy::start("ConnectPort 443");
    let url = proxy.url("");
    let options = ClientOptions::new().with_proxy(ProxySetting::Url(&url));
    match sockeye_std::WebSocket::connect_with(&echo_server(), &options) {
        Err(Error::Proxy(ProxyError::Refused { status: 403 })) => {}
        other => panic!("expected a 403 refusal, got {other:?}"),
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url2 = echo_server();
    match rt.block_on(sockeye_tokio::WebSocket::connect_with(&url2, &options)) {
        Err(Error::Proxy(ProxyError::Refused { status: 403 })) => {}
        other => panic!("tokio: expected a 403 refusal, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_proxy_that_is_not_http_or_closes_early_is_a_typed_error() {
    // A "proxy" that answers like an SSH server, and one that hangs up.
    for (reply, expected) in [
        (&b"SSH-2.0-OpenSSH_9.2\r\n\r\n"[..], ProxyError::Malformed),
        (&b""[..], ProxyError::Eof),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            let _ = BufReader::new(stream.try_clone().unwrap()).read_line(&mut line);
            let _ = stream.write_all(reply);
        });
        let url = format!("http://127.0.0.1:{port}");
        let options = ClientOptions::new().with_proxy(ProxySetting::Url(&url));
        match sockeye_std::WebSocket::connect_with("ws://example.invalid:9/", &options) {
            Err(Error::Proxy(e)) => assert_eq!(e, expected),
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }
}
