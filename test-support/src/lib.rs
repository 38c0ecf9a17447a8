//! Helpers shared by sockeye's tests: a *raw* peer that speaks bytes, not a WebSocket library,
//! over loopback TCP. It answers or sends the opening handshake by hand, builds frames (masked
//! or not, with any length encoding) and reads back what our side wrote, so a test can check the
//! exact bytes and when TCP closed. Used by the std, tokio and embedded adapters' loopback tests
//! and by `tests/failing.rs`; never published.

pub mod browser;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
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

// ------------------------------------------------------------------------- example servers

/// One of the example servers (`echo_server`, `echo_server_std`), running as the process a
/// user would run: built by `cargo test` with the tests, on an ephemeral port. Killed on drop.
pub struct ExampleServer {
    child: Child,
    /// The `host:port` it listens on.
    pub addr: String,
    lines: Receiver<String>,
}

impl ExampleServer {
    /// Starts example `name` on `127.0.0.1:0`.
    pub fn start(name: &str) -> ExampleServer {
        ExampleServer::start_with(name, &[])
    }

    /// Starts example `name` on `127.0.0.1:0` with extra command-line `args`.
    pub fn start_with(name: &str, args: &[&str]) -> ExampleServer {
        let exe = example_path(name);
        let mut child = Command::new(&exe)
            .arg("127.0.0.1:0")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .rsplit("ws://")
            .next()
            .unwrap_or_else(|| panic!("{name} printed {line:?}"))
            .to_owned();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ExampleServer { child, addr, lines }
    }

    /// A raw TCP connection that completed the opening handshake.
    pub fn connect(&self) -> TcpStream {
        self.connect_with("").0
    }

    /// A raw TCP connection that completed the opening handshake with `extra` header lines
    /// (each ending in CRLF) in the request; returns it with the server's response head.
    pub fn connect_with(&self, extra: &str) -> (TcpStream, String) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_nodelay(true).unwrap();
        write!(
            stream,
            "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n",
            self.addr
        )
        .unwrap();
        let head = read_head(&mut stream);
        assert!(head.starts_with("HTTP/1.1 101"), "{head:?}");
        (stream, head)
    }

    /// The server's next log line (one per closure).
    pub fn log_line(&self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .expect("the server logs the closure")
    }

    /// The process id, e.g. to read its memory use from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/<profile>/examples/<name>`, built by `cargo test` with the tests.
pub fn example_path(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples with the tests (or run `cargo build --examples`)",
        path.display()
    );
    path
}
// ------------------------------------------------------------------------ certificates (TLS)

/// Certificates made at test time (rcgen): a private CA (named uniquely, so that two CAs of
/// one test are told apart by name as real ones are) and, signed by it, a server
/// certificate for `localhost` and `127.0.0.1`, plus an expired one and one for another name.
/// Everything is PEM, and written to a directory of its own for programs that take files
/// (the Python and Node peers, the example servers); removed on drop.
pub struct TestPki {
    /// The CA's certificate.
    pub ca_pem: String,
    /// The server certificate (for `localhost` and `127.0.0.1`), valid now.
    pub cert_pem: String,
    /// The private key of every server certificate here.
    pub key_pem: String,
    /// A server certificate for the same names that expired in 2020.
    pub expired_pem: String,
    /// A server certificate for `other.example` only.
    pub other_name_pem: String,
    /// The directory holding `ca.pem`, `cert.pem`, `key.pem`, `expired.pem`, `other.pem`.
    pub dir: std::path::PathBuf,
}

impl TestPki {
    /// Makes the CA and the certificates, and writes them out.
    pub fn new() -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}-{n}", std::process::id());
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("sockeye test CA {id}"));
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = |names: &[&str], expired: bool| {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let mut params = CertificateParams::new(names).unwrap();
            params
                .distinguished_name
                .push(DnType::CommonName, "sockeye test server");
            if expired {
                params.not_before = rcgen::date_time_ymd(2019, 1, 1);
                params.not_after = rcgen::date_time_ymd(2020, 1, 1);
            }
            params.signed_by(&key, &issuer).unwrap().pem()
        };
        let pki = TestPki {
            ca_pem: ca_cert.pem(),
            cert_pem: leaf(&["localhost", "127.0.0.1"], false),
            key_pem: key.serialize_pem(),
            expired_pem: leaf(&["localhost", "127.0.0.1"], true),
            other_name_pem: leaf(&["other.example"], false),
            dir: std::env::temp_dir().join(format!("sockeye-pki-{id}")),
        };
        std::fs::create_dir_all(&pki.dir).unwrap();
        for (name, pem) in [
            ("ca.pem", &pki.ca_pem),
            ("cert.pem", &pki.cert_pem),
            ("key.pem", &pki.key_pem),
            ("expired.pem", &pki.expired_pem),
            ("other.pem", &pki.other_name_pem),
        ] {
            std::fs::write(pki.dir.join(name), pem).unwrap();
        }
        pki
    }

    /// The path of one of the files (`ca.pem`, `cert.pem`, `key.pem`, …).
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }
}

impl Default for TestPki {
    fn default() -> TestPki {
        TestPki::new()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
