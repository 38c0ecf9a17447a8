//! The echo servers the echo bench measures, each run in a fresh process (the bench binary
//! re-executed with `SOCKEYE_ECHO_SERVER=NAME:PORT`).
//!
//! Every server binds 127.0.0.1, sets TCP_NODELAY on accepted sockets, echoes each text and
//! binary message with its opcode, answers Close and closes TCP. The other crates come in two
//! forms: *plain* (receive, send — the loop their documentation shows) and *batched* (written
//! the way an expert would batch them: write every reply, flush once no further message is
//! ready). sockeye runs the plain loop of `examples/echo_server.rs` only: batching is the
//! adapter's job. tokio servers use tokio's default worker count (one per CPU the process may
//! use, so one under `taskset -c N`).

use std::io::{self, IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Name, and whether it is the plain TCP baseline.
pub const SERVERS: &[(&str, Role)] = &[
    ("raw-tcp", Role::Baseline),
    ("sockeye", Role::Sockeye),
    ("tungstenite", Role::Other),
    ("tokio-tungstenite", Role::Other),
    ("tokio-websockets", Role::Other),
    ("fastwebsockets", Role::Other),
    ("tungstenite-batched", Role::Other),
    ("tokio-tungstenite-batched", Role::Other),
    ("tokio-websockets-batched", Role::Other),
    ("fastwebsockets-batched", Role::Other),
    // Inside axum over HTTP/1.1 (issue 15): sockeye through sockeye-hyper's extractor, and
    // axum's own `extract::ws` (tungstenite), both served by hyper-util's auto builder.
    ("sockeye-axum", Role::Variant),
    ("axum-ws", Role::Other),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Baseline,
    Sockeye,
    Other,
    /// sockeye behind another front end (axum): listed, but not one of the "other crates".
    Variant,
}

/// Runs server `name` on `port` until killed.
pub fn serve(name: &str, port: u16) -> ! {
    match name {
        "tungstenite" => tungstenite_server(port, false),
        "tungstenite-batched" => tungstenite_server(port, true),
        _ => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(tokio_server(name, port));
        }
    }
    std::process::exit(0)
}

async fn tokio_server(name: &str, port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    loop {
        let Ok((s, _)) = listener.accept().await else {
            continue;
        };
        let _ = s.set_nodelay(true);
        match name {
            "raw-tcp" => tokio::spawn(raw(s)),
            "sockeye" => tokio::spawn(sockeye(s)),
            "tokio-tungstenite" => tokio::spawn(tokio_tungstenite_plain(s)),
            "tokio-tungstenite-batched" => tokio::spawn(tokio_tungstenite_batched(s)),
            "tokio-websockets" => tokio::spawn(tokio_websockets_plain(s)),
            "tokio-websockets-batched" => tokio::spawn(tokio_websockets_batched(s)),
            "fastwebsockets" => tokio::spawn(fastwebsockets(s, false)),
            "fastwebsockets-batched" => tokio::spawn(fastwebsockets(s, true)),
            "sockeye-axum" => tokio::spawn(axum_connection(s, sockeye_axum_router())),
            "axum-ws" => tokio::spawn(axum_connection(s, axum_ws_router())),
            other => panic!("unknown server {other}"),
        };
    }
}

/// One connection served by hyper-util's auto builder (HTTP/1.1 with upgrades, HTTP/2 with
/// extended CONNECT), the way `examples/axum_echo.rs` serves its router.
async fn axum_connection(s: tokio::net::TcpStream, router: axum::Router) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tower_service::Service;
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            router.clone().call(request.map(axum::body::Body::new))
        });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http2().enable_connect_protocol();
    let _ = builder
        .serve_connection_with_upgrades(TokioIo::new(s), service)
        .await;
}

/// sockeye inside axum: `sockeye_hyper::axum::WebSocketUpgrade` and the plain loop.
fn sockeye_axum_router() -> axum::Router {
    use sockeye_hyper::axum::WebSocketUpgrade;
    use sockeye_tokio::Error;
    let handler = |ws: WebSocketUpgrade| async move {
        ws.on_upgrade(|mut ws| async move {
            while let Ok(message) = ws.recv().await {
                match ws.send(message).await {
                    Ok(()) => {}
                    Err(Error::Closed(_)) => break,
                    Err(_) => {}
                }
            }
        })
    };
    axum::Router::new().route("/", axum::routing::any(handler))
}

/// axum's own `extract::ws` (tokio-tungstenite inside), the plain loop of axum's docs.
fn axum_ws_router() -> axum::Router {
    use axum::extract::ws::{Message, WebSocketUpgrade};
    let handler = |ws: WebSocketUpgrade| async move {
        ws.max_message_size(64 << 20)
            .max_frame_size(16 << 20)
            .on_upgrade(|mut socket| async move {
                while let Some(Ok(message)) = socket.recv().await {
                    if matches!(message, Message::Text(_) | Message::Binary(_))
                        && socket.send(message).await.is_err()
                    {
                        break;
                    }
                }
            })
    };
    axum::Router::new().route("/", axum::routing::any(handler))
}

/// Plain TCP echo: every byte back as it came. The ceiling for any WebSocket echo.
async fn raw(mut s: tokio::net::TcpStream) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if s.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = s.shutdown().await;
}

/// sockeye: the plain loop of `examples/echo_server.rs` — receive, send back.
pub async fn sockeye(s: tokio::net::TcpStream) {
    use sockeye_tokio::{Error, WebSocket};
    let Ok(mut ws) = WebSocket::accept(s).await else {
        return;
    };
    while let Ok(message) = ws.recv().await {
        match ws.send(message).await {
            Ok(()) => {}
            Err(Error::Closed(_)) => break,
            // The peer's Close arrived meanwhile: `recv` reports the end next.
            Err(_) => {}
        }
    }
}

pub async fn tokio_tungstenite_plain(s: tokio::net::TcpStream) {
    tokio_tungstenite_with_config(s, None).await
}

/// The plain loop with a [`WebSocketConfig`](tokio_tungstenite::tungstenite::protocol::WebSocketConfig)
/// (`None`: the defaults, as `accept_async`).
pub async fn tokio_tungstenite_with_config(
    s: tokio::net::TcpStream,
    config: Option<tokio_tungstenite::tungstenite::protocol::WebSocketConfig>,
) {
    use futures_util::{SinkExt, StreamExt};
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(s, config).await else {
        return;
    };
    while let Some(Ok(m)) = ws.next().await {
        if (m.is_binary() || m.is_text()) && ws.send(m).await.is_err() {
            break;
        }
    }
}

/// The crate's own example echo loop: `forward` feeds each reply and flushes when the stream
/// has nothing more ready.
async fn tokio_tungstenite_batched(s: tokio::net::TcpStream) {
    use futures_util::{future, StreamExt, TryStreamExt};
    let Ok(ws) = tokio_tungstenite::accept_async(s).await else {
        return;
    };
    let (tx, rx) = ws.split();
    let _ = rx
        .try_filter(|m| future::ready(m.is_binary() || m.is_text()))
        .forward(tx)
        .await;
}

pub async fn tokio_websockets_plain(s: tokio::net::TcpStream) {
    use futures_util::{SinkExt, StreamExt};
    let Ok((_, mut ws)) = tokio_websockets::ServerBuilder::new().accept(s).await else {
        return;
    };
    while let Some(Ok(m)) = ws.next().await {
        if (m.is_binary() || m.is_text()) && ws.send(m).await.is_err() {
            break;
        }
    }
}

/// Collect what is ready (`now_or_never`, ≤ 256 messages / 256 KiB), feed it all, flush once,
/// on a 128 KiB `BufWriter` (its vectored flush of two slices per frame is slower for small
/// frames), with the flush threshold raised above the batch.
async fn tokio_websockets_batched(mut s: tokio::net::TcpStream) {
    use futures_util::{FutureExt, SinkExt, StreamExt};
    const MAX_BATCH: usize = 256;
    const MAX_BATCH_BYTES: usize = 256 * 1024;
    if server_handshake(&mut s).await.is_err() {
        return;
    }
    let config = tokio_websockets::Config::default().flush_threshold(2 * MAX_BATCH_BYTES);
    let mut ws = tokio_websockets::ServerBuilder::new()
        .config(config)
        .serve(tokio::io::BufWriter::with_capacity(128 * 1024, s));
    let mut batch = Vec::with_capacity(MAX_BATCH);
    'conn: while let Some(Ok(m)) = ws.next().await {
        let mut bytes = 0;
        let mut ended = false;
        if m.is_binary() || m.is_text() {
            bytes += m.as_payload().len();
            batch.push(m);
        }
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match ws.next().now_or_never() {
                Some(Some(Ok(m))) => {
                    if m.is_binary() || m.is_text() {
                        bytes += m.as_payload().len();
                        batch.push(m);
                    }
                }
                Some(_) => {
                    ended = true;
                    break;
                }
                None => break,
            }
        }
        for m in batch.drain(..) {
            if ws.feed(m).await.is_err() {
                break 'conn;
            }
        }
        if ended || ws.flush().await.is_err() {
            break;
        }
    }
}

/// `FragmentCollector` over the socket (plain), or over [`FlushWhenIdle`] (batched: frames
/// are buffered and written when the reader finds no input ready).
pub async fn fastwebsockets(mut s: tokio::net::TcpStream, batched: bool) {
    if server_handshake(&mut s).await.is_err() {
        return;
    }
    if batched {
        let s = FlushWhenIdle::new(s, 128 * 1024, 16 * 1024);
        let mut ws = fastwebsockets_loop(s).await;
        let _ = ws.flush().await;
    } else {
        fastwebsockets_loop(s).await;
    }
}

#[allow(clippy::collapsible_match)] // the same echo loop shape as the other servers
async fn fastwebsockets_loop<S: AsyncRead + AsyncWrite + Unpin>(s: S) -> S {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    let mut ws = WebSocket::after_handshake(s, Role::Server);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let Ok(frame) = ws.read_frame().await else {
            break;
        };
        match frame.opcode {
            OpCode::Close => break,
            OpCode::Text | OpCode::Binary => {
                if ws.write_frame(frame).await.is_err() {
                    break;
                }
            }
            _ => {}
        }
    }
    ws.into_inner()
}

/// Reads the upgrade request and answers 101 (no extensions), for crates that leave the HTTP
/// upgrade to the application.
async fn server_handshake(s: &mut tokio::net::TcpStream) -> io::Result<()> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let mut buf = Vec::with_capacity(1024);
    let mut tmp = [0u8; 2048];
    let end = loop {
        let n = s.read(&mut tmp).await?;
        if n == 0 {
            return Err(bad("eof in handshake"));
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > 16 * 1024 {
            return Err(bad("request head too large"));
        }
    };
    if end + 4 != buf.len() {
        return Err(bad("data before the handshake completed"));
    }
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("head not UTF-8"))?;
    let key = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, v)| v.trim().to_string())
        .ok_or_else(|| bad("no key"))?;
    let accept = sockeye_core::handshake::accept_key(key.as_bytes());
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept.as_str()
    );
    s.write_all(resp.as_bytes()).await
}

/// Buffers writes until the reader finds no input ready (or `cap` is reached; single writes of
/// `direct` bytes or more pass straight through after what is buffered).
pub struct FlushWhenIdle<S> {
    inner: S,
    out: Vec<u8>,
    pos: usize,
    cap: usize,
    direct: usize,
}

impl<S> FlushWhenIdle<S> {
    pub fn new(inner: S, cap: usize, direct: usize) -> Self {
        FlushWhenIdle {
            inner,
            out: Vec::with_capacity(cap),
            pos: 0,
            cap,
            direct: direct.min(cap),
        }
    }
}

impl<S: AsyncWrite + Unpin> FlushWhenIdle<S> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pos < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pos += n;
        }
        self.out.clear();
        self.pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for FlushWhenIdle<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Poll::Ready(r) = Pin::new(&mut this.inner).poll_read(cx, buf) {
            return Poll::Ready(r);
        }
        if this.pos < this.out.len() {
            if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Pending
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FlushWhenIdle<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() + data.len() > this.cap || data.len() >= this.direct {
            ready!(this.poll_drain(cx))?;
        }
        if data.len() >= this.direct {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        this.out.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if this.out.len() + total > this.cap || total >= this.direct {
            ready!(this.poll_drain(cx))?;
        }
        if total >= this.direct {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        for b in bufs {
            this.out.extend_from_slice(b);
        }
        Poll::Ready(Ok(total))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// tungstenite: std::net, a thread per connection; `read` → `send` (plain), or `write` every
/// reply and `flush` when no input is ready (batched, through [`Probe`]).
fn tungstenite_server(port: u16, batched: bool) {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    for s in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = s.set_nodelay(true);
            let Ok(mut ws) = tungstenite::accept(Probe { s, probe: false }) else {
                return;
            };
            loop {
                match ws.read() {
                    Ok(m @ (tungstenite::Message::Binary(_) | tungstenite::Message::Text(_))) => {
                        let r = if batched {
                            ws.get_mut().probe = true;
                            ws.write(m)
                        } else {
                            ws.send(m)
                        };
                        if r.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        if ws.flush().is_err() {
                            break;
                        }
                        ws.get_mut().probe = false;
                    }
                    Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
    }
}

/// A blocking socket whose reads do not block while `probe` is set (`recv(MSG_DONTWAIT)`), so
/// that tungstenite reports `WouldBlock` when no more input is ready.
struct Probe {
    s: TcpStream,
    probe: bool,
}

impl Read for Probe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.probe {
            return self.s.read(buf);
        }
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes; the fd is open.
        let n = unsafe {
            libc::recv(
                self.s.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl Write for Probe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.s.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.s.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.s.flush()
    }
}
