//! Helpers shared by sockeye's tests: a *raw* peer that speaks bytes, not a WebSocket library,
//! over loopback TCP. It answers or sends the opening handshake by hand, builds frames (masked
//! or not, with any length encoding) and reads back what our side wrote, so a test can check the
//! exact bytes and when TCP closed. Used by the std, tokio and embedded adapters' loopback tests
//! and by `tests/failing.rs`; never published.

pub mod browser;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sockeye_core::adapter::{ClientOptions, Config};
use sockeye_core::handshake::accept_key;
use sockeye_core::Keepalive;

/// The masking key of every frame [`masked_frame`] builds.
pub const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// The longest a raw peer waits for anything before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------------- handshakes

/// Reads an HTTP head (up to the blank line) byte by byte, so nothing after it is consumed.
pub fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream
            .read_exact(&mut byte)
            .expect("the HTTP head was cut short");
        head.push(byte[0]);
    }
    String::from_utf8(head).expect("an ASCII head")
}

/// The server half of the opening handshake, by hand: reads the request, answers 101.
pub fn server_handshake(stream: &mut TcpStream) {
    let request = read_head(stream);
    let key = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a Sec-WebSocket-Key")
        .trim();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key.as_bytes())
    );
    stream.write_all(response.as_bytes()).unwrap();
}

/// The client half of the opening handshake, by hand, to a server at `addr` (`host:port`):
/// sends the request, checks the answer is a 101.
pub fn client_handshake(stream: &mut TcpStream, addr: &str) {
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let head = read_head(stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{head:?}");
}

/// Runs `serve` on the first connection accepted on an ephemeral loopback port, on a thread;
/// returns the `ws://` URL to connect to.
pub fn spawn_server<R: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> R + Send + 'static,
) -> (String, JoinHandle<R>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || serve(listener.accept().unwrap().0));
    (format!("ws://{addr}/"), handle)
}

/// A raw server: answers the opening handshake by hand, then runs `script` on the stream.
pub fn raw_server<R: Send + 'static>(
    script: impl FnOnce(TcpStream) -> R + Send + 'static,
) -> (String, JoinHandle<R>) {
    spawn_server(|mut stream| {
        server_handshake(&mut stream);
        script(stream)
    })
}

// ------------------------------------------------------------------------------ frames

/// A frame header with first byte `b0` (FIN, RSV, opcode) for `len` payload bytes, in the
/// shortest length encoding, masked with [`KEY`] if `masked`.
pub fn frame_header(b0: u8, len: u64, masked: bool) -> Vec<u8> {
    let m = if masked { 0x80 } else { 0 };
    let mut h = vec![b0];
    if len < 126 {
        h.push(m | len as u8);
    } else if len <= 0xFFFF {
        h.push(m | 126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(m | 127);
        h.extend_from_slice(&len.to_be_bytes());
    }
    if masked {
        h.extend_from_slice(&KEY);
    }
    h
}

/// An unmasked (server) frame header with FIN for `len` payload bytes.
pub fn header(opcode: u8, len: usize) -> Vec<u8> {
    frame_header(0x80 | opcode, len as u64, false)
}

/// An unmasked (server) frame with FIN.
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = header(opcode, payload.len());
    f.extend_from_slice(payload);
    f
}

/// A masked (client) frame whose first byte is `b0`, masked with [`KEY`].
pub fn masked_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = frame_header(b0, payload.len() as u64, true);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    f
}

/// `len` bytes of a recognisable pattern.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// Adapter options with a short close timeout and the given keepalive, for timer tests.
pub fn short_timers(close_timeout_ms: u64, keepalive: Option<Keepalive>) -> ClientOptions<'static> {
    ClientOptions::new().with_config(
        Config::default().with_engine(
            sockeye_core::Config::default()
                .with_close_timeout(Duration::from_millis(close_timeout_ms))
                .with_keepalive(keepalive),
        ),
    )
}

// ------------------------------------------------------------------- reading it back

/// A Close frame received by a raw peer, and what followed it.
#[derive(Debug)]
pub struct Received {
    /// The Close frame's code (1005 for an empty one; `None`: no Close arrived).
    pub close_code: Option<u16>,
    /// From the Close frame's arrival to the end of the TCP stream (EOF or reset); `None` if
    /// it had not ended within the wait.
    pub close_to_eof: Option<Duration>,
}

/// Reads frames until a Close arrives, then until the stream ends or `eof_wait` passes.
pub fn read_close_then_eof(stream: &mut TcpStream, eof_wait: Duration) -> Received {
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut close: Option<(u16, Instant)> = None;
    let mut chunk = [0u8; 4096];
    loop {
        if close.is_none() {
            close = parse_close(&buf).map(|code| (code, Instant::now()));
        }
        let limit = match close {
            Some((_, at)) => at + eof_wait,
            None => start + WAIT,
        };
        if Instant::now() > limit {
            return Received {
                close_code: close.map(|c| c.0),
                close_to_eof: None,
            };
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A reset ends the stream as surely as a FIN.
            Err(_) => break,
        }
    }
    if close.is_none() {
        close = parse_close(&buf).map(|code| (code, Instant::now()));
    }
    Received {
        close_code: close.map(|c| c.0),
        close_to_eof: close.map(|(_, at)| at.elapsed()),
    }
}

/// The code of the first Close frame in `buf` (masked or not), once it is complete; 1005 for
/// an empty one.
pub fn parse_close(mut buf: &[u8]) -> Option<u16> {
    loop {
        let [b0, b1, ..] = *buf else { return None };
        let (len, mut at) = match b1 & 0x7F {
            126 => (
                u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
                4,
            ),
            127 => (
                u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        let key = if b1 & 0x80 != 0 {
            let k: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
            at += 4;
            Some(k)
        } else {
            None
        };
        let payload = buf.get(at..at.checked_add(len)?)?;
        if b0 & 0x0F == 0x8 {
            let unmask = |i: usize| payload[i] ^ key.map_or(0, |k| k[i % 4]);
            return Some(if len >= 2 {
                u16::from_be_bytes([unmask(0), unmask(1)])
            } else {
                1005
            });
        }
        buf = &buf[at + len..];
    }
}

// ------------------------------------------------------------------------------ a real proxy

/// A tinyproxy process (Debian package `tinyproxy`, which `.ci/run` installs) on an ephemeral
/// loopback port, with its own configuration; killed, and its files removed, on drop.
pub struct Tinyproxy {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Tinyproxy {
    /// Starts tinyproxy with `extra` configuration lines (e.g. `BasicAuth user pass`,
    /// `ConnectPort 443`) and waits until it listens. Its log goes to `log` in its directory.
    pub fn start(extra: &str) -> Tinyproxy {
        let exe = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!("tinyproxy is not installed: apt-get install tinyproxy (.ci/run does)")
            });
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("sockeye-tinyproxy-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nAllow 127.0.0.1\n\
                 LogLevel Connect\n{extra}\n"
            ),
        )
        .unwrap();
        let child = std::process::Command::new(exe)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(dir.join("log")).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting tinyproxy");
        let proxy = Tinyproxy { child, port, dir };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < WAIT, "tinyproxy did not listen");
            thread::sleep(Duration::from_millis(20));
        }
        proxy
    }

    /// The proxy's URL, with `userinfo` (`""` or `"user:pass@"`).
    pub fn url(&self, userinfo: &str) -> String {
        format!("http://{userinfo}127.0.0.1:{}", self.port)
    }

    /// What tinyproxy logged so far (connections, CONNECT requests).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
