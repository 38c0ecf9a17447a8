//! The servers the scale bench holds idle connections on, each run in a fresh process (the
//! bench binary re-executed with `SOCKEYE_SCALE_SERVER=NAME:PORT`).
//!
//! All of them are tokio servers (tokio's default multi-threaded runtime: one worker per CPU)
//! listening on 127.0.0.1 with a backlog of 4096, setting TCP_NODELAY on accepted sockets and
//! spawning one task per connection. The WebSocket servers are the *plain* echo loops of the
//! echo bench (`echo/servers.rs`, the same functions): receive, send back, with each crate's
//! own answer to Ping. None of them sends keepalive Pings: the clients do.

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

use super::echo_servers;

/// Name, and what it stands for in the table.
pub const SERVERS: &[(&str, Role)] = &[
    ("tcp-floor", Role::Floor),
    ("sockeye", Role::Sockeye),
    ("tokio-tungstenite", Role::Other),
    ("tokio-tungstenite-4KiB", Role::Other),
    ("tokio-websockets", Role::Other),
    ("fastwebsockets", Role::Other),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A task holding the `TcpStream` and nothing else: the least any tokio server can use.
    Floor,
    Sockeye,
    Other,
}

/// Runs server `name` on `port` until killed; prints `ready` on stdout once it listens.
pub fn serve(name: &str, port: u16) -> ! {
    assert!(
        SERVERS.iter().any(|(n, _)| *n == name),
        "unknown server {name}"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(accept_loop(name, port));
    std::process::exit(0)
}

async fn accept_loop(name: &str, port: u16) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(([127, 0, 0, 1], port).into())
        .unwrap_or_else(|e| panic!("{name}: bind 127.0.0.1:{port}: {e}"));
    let listener = socket.listen(4096).expect("listen");
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready");
        let _ = out.flush();
    }
    let mut reported = false;
    loop {
        let s = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of file descriptors, most likely: say it once, keep the others.
                if !reported {
                    eprintln!("{name}: accept failed: {e}");
                    reported = true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = s.set_nodelay(true);
        match name {
            "tcp-floor" => tokio::spawn(floor(s)),
            "sockeye" => tokio::spawn(echo_servers::sockeye(s)),
            "tokio-tungstenite" => tokio::spawn(echo_servers::tokio_tungstenite_plain(s)),
            "tokio-tungstenite-4KiB" => {
                let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                    .read_buffer_size(4 * 1024);
                tokio::spawn(echo_servers::tokio_tungstenite_with_config(s, Some(config)))
            }
            "tokio-websockets" => tokio::spawn(echo_servers::tokio_websockets_plain(s)),
            "fastwebsockets" => tokio::spawn(echo_servers::fastwebsockets(s, false)),
            other => unreachable!("unknown server {other}"),
        };
    }
}

/// The floor: the task holds the `TcpStream` and waits for it to become readable — to see the
/// peer close. What it reads it writes back, so that the load's pings and burst run the same
/// way against it (the client accepts its own frames back from the floor); the buffer exists
/// only while there is something to read.
async fn floor(mut s: TcpStream) {
    loop {
        if s.readable().await.is_err() {
            return;
        }
        let mut buf = vec![0u8; 4096];
        loop {
            match s.try_read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return,
            }
        }
    }
}
