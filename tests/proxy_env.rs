//! `ProxySetting::FromEnv` over the real process environment, in its own test binary (a
//! single test: nothing else reads the environment while it is changed). tinyproxy as in
//! `tests/proxy.rs`.

use std::net::TcpListener;
use std::thread;

use sockeye_test_support::Tinyproxy;

use sockeye_std::{ClientOptions, CloseCode, Message, ProxySetting, WebSocket};

fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = WebSocket::accept(stream).unwrap();
        while let Ok(message) = ws.recv() {
            if ws.send(message).is_err() {
                break;
            }
        }
    });
    url
}

fn round_trip(url: &str) {
    let options = ClientOptions::new().with_proxy(ProxySetting::FromEnv);
    let mut ws = WebSocket::connect_with(url, &options).expect("connect");
    ws.send_text("env").unwrap();
    assert_eq!(ws.recv().unwrap(), Message::Text("env".into()));
    assert!(ws.close(CloseCode::NORMAL, "").unwrap().is_clean());
}

#[test]
fn the_environment_chooses_the_proxy_and_no_proxy_exempts_hosts() {
    // Only tunnels: a connection that reached it for the wrong reason would show in its log.
    let proxy = Tinyproxy::start("");
    for name in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        std::env::remove_var(name);
    }
    // Through the proxy, named by HTTP_PROXY (ws:// uses the http proxy).
    std::env::set_var("HTTP_PROXY", proxy.url(""));
    round_trip(&echo_server());
    // A dead proxy, but no_proxy exempts the host: a direct connection works.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::env::set_var("HTTP_PROXY", format!("http://127.0.0.1:{dead}"));
    std::env::set_var("no_proxy", "localhost,127.0.0.1");
    round_trip(&echo_server());
    // Without the exemption the dead proxy is used, and connecting to it fails.
    std::env::remove_var("no_proxy");
    let options = ClientOptions::new().with_proxy(ProxySetting::FromEnv);
    assert!(WebSocket::connect_with(&echo_server(), &options).is_err());

    let log = proxy.log();
    assert!(
        log.contains("CONNECT"),
        "the first connection went through tinyproxy:\n{log}"
    );
}
