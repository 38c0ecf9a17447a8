//! The load side of the scale bench: many lightweight WebSocket clients on one current-thread
//! runtime, written by hand over tokio's `TcpStream` — a raw handshake, pre-encoded masked
//! frames, byte-exact checks of what comes back. The client is not what is measured; it just
//! has to be cheap and strict.
//!
//! Each client socket is bound to one of the source addresses (round robin) with
//! `IP_BIND_ADDRESS_NO_PORT`, so that the kernel picks the port at `connect` time and a source
//! address offers its whole ephemeral port range to each server port.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::{stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{sleep_until, timeout, timeout_at, Instant};

/// What the load does, from the environment (see `scale.rs`).
#[derive(Clone, Debug)]
pub struct Plan {
    /// Connections per server.
    pub n: usize,
    /// Source addresses the client sockets are bound to, round robin.
    pub sources: Vec<Ipv4Addr>,
    /// Ping rounds, and the time between two pings of one connection.
    pub rounds: u32,
    pub interval: Duration,
    /// Messages per connection in the burst, and their size.
    pub burst_msgs: usize,
    pub burst_size: usize,
    /// Wait before reading the idle RSS, and after the burst.
    pub settle: Duration,
    /// Connections being opened (connect + handshake) at once.
    pub parallel: usize,
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Opens `plan.n` WebSocket connections to 127.0.0.1:`port` (or TCP connections, `raw`: the
/// floor does not speak WebSocket). Returns the connections, the number that failed and the
/// first error.
pub async fn open(port: u16, plan: &Plan, raw: bool) -> (Vec<TcpStream>, usize, Option<String>) {
    let accept = sockeye_core::handshake::accept_key(KEY.as_bytes())
        .as_str()
        .to_ascii_lowercase();
    let accept = accept.as_str();
    let results: Vec<Result<TcpStream, String>> = stream::iter(0..plan.n)
        .map(|i| {
            let src = plan.sources[i % plan.sources.len()];
            async move {
                match timeout(Duration::from_secs(20), connect(src, port, raw, accept)).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("{src} → :{port}: connect + handshake timed out")),
                }
            }
        })
        .buffer_unordered(plan.parallel.max(1))
        .collect()
        .await;
    let mut conns = Vec::with_capacity(plan.n);
    let mut failed = 0;
    let mut first = None;
    for r in results {
        match r {
            Ok(s) => conns.push(s),
            Err(e) => {
                failed += 1;
                first.get_or_insert(e);
            }
        }
    }
    (conns, failed, first)
}

async fn connect(src: Ipv4Addr, port: u16, raw: bool, accept: &str) -> Result<TcpStream, String> {
    let ctx = |what: &str, e: std::io::Error| format!("{src} → 127.0.0.1:{port}: {what}: {e}");
    let socket = TcpSocket::new_v4().map_err(|e| ctx("socket", e))?;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket fd and a c_int option value of the right length.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    socket
        .bind(SocketAddr::new(src.into(), 0))
        .map_err(|e| ctx("bind", e))?;
    let mut s = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .map_err(|e| ctx("connect", e))?;
    s.set_nodelay(true).map_err(|e| ctx("nodelay", e))?;
    if raw {
        return Ok(s);
    }
    let req = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| ctx("handshake write", e))?;
    // The server sends nothing after its response until we do: read until the head's end and
    // require that nothing follows it.
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    let end = loop {
        if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s
            .read(&mut buf)
            .await
            .map_err(|e| ctx("handshake read", e))?;
        if n == 0 || head.len() > 8192 {
            return Err(format!(
                "{src} → :{port}: handshake: EOF or oversized response"
            ));
        }
        head.extend_from_slice(&buf[..n]);
    };
    if end != head.len() {
        return Err(format!("{src} → :{port}: bytes after the 101 response"));
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if !head.starts_with("http/1.1 101") || !head.contains(accept) {
        return Err(format!("{src} → :{port}: handshake: bad response {head:?}"));
    }
    Ok(s)
}

/// A client frame: FIN, `opcode`, masked with `key`.
pub fn masked_frame(opcode: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let len = payload.len();
    let mut out = vec![0x80 | opcode];
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
    out
}

/// A server frame: FIN, `opcode`, unmasked.
pub fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = vec![0x80 | opcode];
    if len < 126 {
        out.push(len as u8);
    } else if len <= 0xFFFF {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// Keepalive from the client side: `plan.rounds` rounds, `plan.interval` apart; connection `i`
/// pings at offset `interval · i / n` in each round (spread as independent keepalive timers
/// are), with an 8-byte payload (connection, round), and expects that Pong — exactly those
/// bytes, nothing else — within 10 s. Returns how many connections got every Pong.
pub async fn ping_rounds(conns: &mut [TcpStream], plan: &Plan, raw: bool) -> usize {
    let start = Instant::now() + Duration::from_millis(10);
    let n = conns.len();
    let pings = conns.iter_mut().enumerate().map(|(i, s)| {
        let offset = plan.interval.mul_f64(i as f64 / n.max(1) as f64);
        async move {
            for r in 0..plan.rounds {
                sleep_until(start + plan.interval * r + offset).await;
                let mut payload = [0u8; 8];
                payload[..4].copy_from_slice(&(i as u32).to_be_bytes());
                payload[4..].copy_from_slice(&r.to_be_bytes());
                let key = ((i as u32).wrapping_mul(0x9e37_79b9) | 0x0101_0101).to_ne_bytes();
                let ping = masked_frame(0x9, &payload, key);
                // The floor echoes bytes: it sends the Ping back as it came.
                let want = if raw {
                    ping.clone()
                } else {
                    server_frame(0xA, &payload)
                };
                if s.write_all(&ping).await.is_err() {
                    return false;
                }
                let mut got = [0u8; 16];
                let got = &mut got[..want.len()];
                match timeout(Duration::from_secs(10), s.read_exact(got)).await {
                    Ok(Ok(_)) if *got == *want => {}
                    _ => return false,
                }
            }
            true
        }
    });
    join_all(pings).await.into_iter().filter(|ok| *ok).count()
}

/// The burst's bytes: what a client sends (masked binary frames) and what a WebSocket server
/// sends back (the same payloads, unmasked).
pub struct Burst {
    pub sent: Vec<u8>,
    pub echoed: Vec<u8>,
}

impl Burst {
    pub fn new(msgs: usize, size: usize) -> Burst {
        let mut rng = super::common::Rng(0x5ca1_e5ee_d000 ^ size as u64);
        let (mut sent, mut echoed) = (Vec::new(), Vec::new());
        for _ in 0..msgs {
            let payload = rng.bytes(size);
            let key = (rng.next() as u32 | 0x0101_0101).to_ne_bytes();
            sent.extend_from_slice(&masked_frame(0x2, &payload, key));
            echoed.extend_from_slice(&server_frame(0x2, &payload));
        }
        Burst { sent, echoed }
    }
}

/// Every connection at once writes the whole burst in one `write_all` while reading the
/// echoes, which must be exactly the expected bytes, within 60 s. Returns how many
/// connections got every echo.
pub async fn burst(conns: &mut [TcpStream], b: &Burst, raw: bool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let expect: &[u8] = if raw { &b.sent } else { &b.echoed };
    let sent: &[u8] = &b.sent;
    let all = conns.iter_mut().map(|s| async move {
        let (mut rd, mut wr) = s.split();
        let write = async { wr.write_all(sent).await.is_ok() };
        let read = async {
            let mut buf = vec![0u8; 4096];
            let mut at = 0;
            while at < expect.len() {
                let want = (expect.len() - at).min(buf.len());
                let n = match timeout_at(deadline, rd.read(&mut buf[..want])).await {
                    Ok(Ok(n)) if n > 0 => n,
                    _ => return false,
                };
                if buf[..n] != expect[at..at + n] {
                    return false;
                }
                at += n;
            }
            true
        };
        let (w, r) = tokio::join!(timeout_at(deadline, write), read);
        w.unwrap_or(false) && r
    });
    join_all(all).await.into_iter().filter(|ok| *ok).count()
}
