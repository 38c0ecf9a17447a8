//! The axum example (`examples/axum_echo.rs`), run as the process a user would run, against
//! real clients: our tokio client over HTTP/1.1; our HTTP/2 client (RFC 8441) over h2c with
//! several WebSockets on one connection, one of them dropped while the others go on, then the
//! server killed under two of them, and over TLS (ALPN h2) with certificate files; Python `websockets` and Node `ws` over HTTP/1.1; and
//! headless Chromium loading the page over HTTP/1.1 and over HTTPS with HTTP/2, with the
//! server's log showing which HTTP version carried each WebSocket.
//!
//! Needs the feature `axum-example` (`cargo test --workspace --all-features`). The browser
//! tests need Chromium (`apt-get install chromium`) and fail without it; the peer tests install
//! the pinned peers with `tests/peers/setup.sh` like `tests/real_peers.rs`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use sockeye::hyper::connect_h2;
use sockeye::{Message, TransportError};
use sockeye_test_support::browser::{Chromium, LineLog};
use sockeye_tokio::{AbnormalCause, ClientOptions, CloseCode, ClosureKind, Error, WebSocket};

const WAIT: Duration = Duration::from_secs(20);

/// The example server as its own process; killed when dropped.
struct AxumEcho {
    child: Child,
    log: LineLog,
    addr: String,
}

impl AxumEcho {
    fn start(extra: &[&str]) -> AxumEcho {
        let mut child = Command::new(example_path("axum_echo"))
            .arg("127.0.0.1:0")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the axum_echo example");
        let mut log = LineLog::capture(&mut child);
        let line = log
            .wait_for(WAIT, |l| l.starts_with("axum_echo: listening on "))
            .unwrap_or_else(|e| panic!("axum_echo did not start: {e}"));
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("an address in the listening line")
            .to_string();
        AxumEcho { child, log, addr }
    }

    /// Waits for the server's line about a WebSocket that ended. In an async test it blocks
    /// its worker thread only (`block_in_place`: the tests run on the multi-threaded runtime),
    /// so that the client's connection task keeps running meanwhile.
    fn closure_line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let mut wait = || {
            self.log
                .wait_for(WAIT, |l| l.contains(" code=") && wanted(l))
                .unwrap_or_else(|e| panic!("no such closure line: {e}"))
        };
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(wait),
            Err(_) => wait(),
        }
    }
}

impl Drop for AxumEcho {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/<profile>/examples/<name>`, built by `cargo test` with the tests.
fn example_path(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test --all-features` builds it with the tests",
        path.display()
    );
    path
}

fn binary_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

async fn echo_round<S>(ws: &mut WebSocket<S>, message: Message)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(message.clone()).await.expect("send");
    assert_eq!(ws.recv().await.expect("the echo"), message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_over_http1() {
    let mut server = AxumEcho::start(&[]);
    let protocols = ["other", "echo"];
    let options = ClientOptions::new().with_protocols(&protocols);
    let mut ws = WebSocket::connect_with(&format!("ws://{}/ws", server.addr), &options)
        .await
        .expect("connect");
    assert_eq!(ws.protocol(), Some("echo"));
    echo_round(&mut ws, Message::Text("hello".into())).await;
    echo_round(&mut ws, Message::Binary(binary_of(200_000))).await;
    let closure = ws.close(CloseCode::NORMAL, "done").await.expect("close");
    assert!(closure.is_clean(), "{closure}");
    let line = server.closure_line(|l| l.contains("HTTP/1.1"));
    assert!(line.contains("HTTP/1.1 code=1000"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_request_to_the_endpoint_is_refused_with_its_status() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = AxumEcho::start(&[]);
    let mut tcp = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("missing Upgrade header"), "{answer}");
    let mut tcp = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    tcp.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tcp.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_lowercase();
    assert!(answer.starts_with("http/1.1 426 "), "{answer}");
    assert!(answer.contains("sec-websocket-version: 13"), "{answer}");
}

/// An HTTP/2 connection with prior knowledge (h2c) to `addr`.
async fn h2c(
    addr: &str,
) -> hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    sender
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_http2_client_multiplexes_and_survives_one_stream_ending() {
    let mut server = AxumEcho::start(&[]);
    let mut sender = h2c(&server.addr).await;
    let url = format!("ws://{}/ws", server.addr);
    let protocols = ["echo"];
    let options = ClientOptions::new().with_protocols(&protocols);
    let mut sockets = Vec::new();
    for _ in 0..4 {
        let ws = connect_h2(&mut sender, &url, &options)
            .await
            .expect("extended CONNECT");
        assert_eq!(ws.protocol(), Some("echo"));
        sockets.push(ws);
    }
    // All four at once, interleaved on the one connection.
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            tokio::spawn(async move {
                for round in 0..20 {
                    echo_round(&mut ws, Message::Text(format!("{i}:{round}"))).await;
                    echo_round(&mut ws, Message::Binary(binary_of(1000 + 997 * round))).await;
                }
                ws
            })
        })
        .collect();
    let mut sockets = Vec::new();
    for task in tasks {
        sockets.push(task.await.expect("a stream's echo task"));
    }
    // One WebSocket goes away without a Close (its stream ends); the others go on.
    drop(sockets.remove(1));
    let line = server.closure_line(|l| l.contains("code=1006"));
    assert!(line.contains("HTTP/2 code=1006"), "{line}");
    for ws in &mut sockets {
        echo_round(ws, Message::Text("still here".into())).await;
    }
    for mut ws in sockets {
        let closure = ws.close(CloseCode::NORMAL, "done").await.expect("close");
        assert!(closure.is_clean(), "{closure}");
    }
    for _ in 0..3 {
        server.closure_line(|l| l.contains("HTTP/2 code=1000"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_http2_connection_going_away_ends_every_stream_with_that_cause() {
    let mut server = AxumEcho::start(&[]);
    let mut sender = h2c(&server.addr).await;
    let url = format!("ws://{}/ws", server.addr);
    let mut a = connect_h2(&mut sender, &url, &ClientOptions::new())
        .await
        .expect("first stream");
    let mut b = connect_h2(&mut sender, &url, &ClientOptions::new())
        .await
        .expect("second stream");
    echo_round(&mut a, Message::Text("a".into())).await;
    echo_round(&mut b, Message::Text("b".into())).await;
    // The server process dies: the TCP connection under both streams ends.
    let _ = server.child.kill();
    let _ = server.child.wait();
    for ws in [&mut a, &mut b] {
        let closure = match ws.recv().await {
            Err(Error::Closed(closure)) => closure,
            other => panic!("expected the end of the connection, got {other:?}"),
        };
        assert!(
            matches!(
                closure.kind(),
                ClosureKind::Abnormal {
                    cause: AbnormalCause::Transport(TransportError::Http2ConnectionLost),
                    ..
                }
            ),
            "{closure}"
        );
        let text = closure.to_string();
        assert!(
            text.contains("HTTP/2 connection carrying the WebSocket went away"),
            "{text}"
        );
    }
}

/// A certificate for `localhost` written as PEM files into a fresh directory (for the
/// example's `--tls CERT KEY`), and the certificate to trust.
fn test_certificate() -> (PathBuf, PathBuf, rcgen::CertifiedKey) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = std::env::temp_dir().join(format!("sockeye-axum-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    (cert, key, certified)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_http2_client_over_tls_with_the_examples_certificate_files() {
    use std::sync::Arc;
    use tokio_rustls::rustls;
    let (cert, key, certified) = test_certificate();
    let mut server = AxumEcho::start(&["--tls", cert.to_str().unwrap(), key.to_str().unwrap()]);
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    // Trust exactly the test certificate; offer only h2 (ALPN).
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    #[allow(deprecated)] // ring, as in the example
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the example");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake::<_, _, http_body_util::Empty<bytes::Bytes>>(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .expect("HTTP/2 over TLS");
    tokio::spawn(connection);
    let url = format!("wss://localhost:{port}/ws");
    let protocols = ["echo"];
    let options = ClientOptions::new().with_protocols(&protocols);
    let mut a = connect_h2(&mut sender, &url, &options)
        .await
        .expect("first");
    let mut b = connect_h2(&mut sender, &url, &options)
        .await
        .expect("second");
    echo_round(&mut a, Message::Binary(binary_of(100_000))).await;
    echo_round(&mut b, Message::Text("over TLS".into())).await;
    for ws in [&mut a, &mut b] {
        let closure = ws
            .close(CloseCode::NORMAL, "tls done")
            .await
            .expect("close");
        assert!(closure.is_clean(), "{closure}");
    }
    for _ in 0..2 {
        server.closure_line(|l| l.contains("HTTP/2 code=1000"));
    }
    let _ = std::fs::remove_dir_all(cert.parent().unwrap());
}

// ------------------------------------------------------------------ Python and Node peers

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Installs the pinned peers with `tests/peers/setup.sh` once if they are missing (as
/// `tests/real_peers.rs` does); panics with the script's output when that fails.
fn ensure_peers() {
    static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
    let peers = root().join("tests/peers");
    let result = SETUP.get_or_init(|| {
        if peers.join(".installed").exists() {
            return Ok(());
        }
        let output = Command::new("bash")
            .arg(peers.join("setup.sh"))
            .arg("--no-system")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run bash for tests/peers/setup.sh: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "tests/peers/setup.sh failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(e) = result {
        panic!("the real peers are not installed: {e}");
    }
}

const PYTHON_CLIENT: &str = r#"
import asyncio, sys
from websockets.asyncio.client import connect
async def main(url):
    async with connect(url, subprotocols=["echo"], max_size=None) as ws:
        assert ws.subprotocol == "echo", ws.subprotocol
        await ws.send("hello")
        assert await ws.recv() == "hello"
        data = bytes(i % 251 for i in range(70000))
        await ws.send(data)
        assert await ws.recv() == data
        await ws.close(1000, "py done")
    print("ok", ws.close_code)
asyncio.run(main(sys.argv[1]))
"#;

const NODE_CLIENT: &str = r#"
// With `node -e`, the arguments start at process.argv[1].
const WebSocket = require(process.argv[1]);
const ws = new WebSocket(process.argv[2], ["echo"]);
const data = Buffer.from(Array.from({ length: 70000 }, (_, i) => i % 251));
let step = 0;
ws.on("open", () => {
  if (ws.protocol !== "echo") { console.log("bad protocol " + ws.protocol); process.exit(1); }
  ws.send("hello");
});
ws.on("message", (m, isBinary) => {
  if (step === 0 && !isBinary && m.toString() === "hello") { step = 1; ws.send(data); }
  else if (step === 1 && isBinary && Buffer.compare(m, data) === 0) { step = 2; ws.close(1000, "node done"); }
  else { console.log("unexpected message"); process.exit(1); }
});
ws.on("close", (code) => { console.log(step === 2 ? "ok " + code : "FAILED " + code); process.exit(step === 2 ? 0 : 1); });
ws.on("error", (e) => { console.log("error " + e.message); process.exit(1); });
"#;

fn run_peer(mut command: Command, server: &mut AxumEcho, reason: &str) {
    let output = command.stdin(Stdio::null()).output().expect("run the peer");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.trim() == "ok 1000",
        "peer failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = server.closure_line(|l| l.contains(reason));
    assert!(line.contains("HTTP/1.1 code=1000"), "{line}");
}

#[test]
fn python_websockets_over_http1() {
    ensure_peers();
    let mut server = AxumEcho::start(&[]);
    let mut command = Command::new(root().join("tests/peers/python/venv/bin/python"));
    command
        .args(["-c", PYTHON_CLIENT])
        .arg(format!("ws://{}/ws", server.addr));
    run_peer(command, &mut server, "py done");
}

#[test]
fn node_ws_over_http1() {
    ensure_peers();
    let mut server = AxumEcho::start(&[]);
    let mut command = Command::new("node");
    command
        .args(["-e", NODE_CLIENT])
        .arg(root().join("tests/peers/node/node_modules/ws"))
        .arg(format!("ws://{}/ws", server.addr));
    run_peer(command, &mut server, "node done");
}

// ------------------------------------------------------------------------------ the browser

/// Chromium loads the page from `url`; the page's WebSocket exchange must report `ok`, and
/// the server must log its WebSocket as carried by `version`.
fn browser_run(server: &mut AxumEcho, url: &str, version: &str) {
    let mut browser = Chromium::open(url);
    let report = server
        .log
        .wait_for(Duration::from_secs(60), |l| l.starts_with("report: "));
    let report = report.unwrap_or_else(|e| {
        let _ = browser.log.wait_for(Duration::from_millis(100), |_| false);
        panic!(
            "the page did not report: {e}\nChromium said:\n{}",
            browser.log.seen().join("\n")
        )
    });
    assert!(report.starts_with("report: ok code=1000"), "{report}");
    let line = server
        .log
        .seen()
        .iter()
        .find(|l| l.contains(" code=") && !l.starts_with("report: "))
        .cloned()
        .unwrap_or_else(|| server.closure_line(|_| true));
    assert!(line.contains(&format!("{version} code=1000")), "{line}");
    assert!(
        line.contains("the peer closed the connection with 1000")
            || line.contains("closed cleanly"),
        "{line}"
    );
}

#[test]
fn chromium_over_http1() {
    let mut server = AxumEcho::start(&[]);
    let url = format!("http://{}/", server.addr);
    browser_run(&mut server, &url, "HTTP/1.1");
}

#[test]
fn chromium_over_https_and_http2() {
    let mut server = AxumEcho::start(&["--tls-self-signed"]);
    let url = format!("https://{}/", server.addr);
    browser_run(&mut server, &url, "HTTP/2");
}
