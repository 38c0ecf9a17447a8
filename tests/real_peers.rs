//! Sockeye against WebSocket implementations we did not write: Node `ws` and Python
//! `websockets` (installed at pinned versions by `tests/peers/setup.sh`; their small `cmd:`
//! protocol is in `tests/peers/README.md`), each as server and as client, against both our
//! blocking (`sockeye-std`) and async (`sockeye-tokio`) adapters.
//!
//! Every test starts its own peer process on an ephemeral port (so the tests run in parallel),
//! talks to it, reads what it prints on stdout, and kills it when done — also when an assertion
//! fails ([`PeerProcess`] kills on drop). Every wait is bounded by [`WAIT`], so a peer that stops
//! answering fails the test instead of hanging it; nothing asserts on how long anything took.
//!
//! The peers install themselves: the first test to need them runs `tests/peers/setup.sh`
//! (pinned versions, one process at a time). Without Node.js/npm or Python's venv on the
//! machine the tests fail with what to install — they never pass without running.

use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sockeye_core::handshake::deflate::DeflateParams;
use sockeye_core::OpCode;
use sockeye_std::{
    AbnormalCause, ClientOptions, CloseCode, CloseFrame, Closure, ClosureKind, Compression, Config,
    Decision, EngineConfig, Error, Event, FailureEnd, Initiator, MaybeTlsStream, Message,
    MessageKind, Phase, Request, TransportError,
};

/// The longest any single wait may take: for a line from the peer, a message, a handshake.
const WAIT: Duration = Duration::from_secs(10);

/// Message sizes at the edges of the frame length encodings (RFC 6455 §5.2: 7-bit up to 125,
/// 16-bit up to 65535, 64-bit beyond), and a large one.
const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 1 << 20];

// ---------------------------------------------------------------------------------- the matrix

/// Which implementation the peer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeerKind {
    Node,
    Python,
}

/// Which end the peer plays; we play the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeerRole {
    Server,
    Client,
}

/// Which of our adapters plays our end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Adapter {
    Std,
    Tokio,
}

/// One peer, in one role, against one adapter.
#[derive(Clone, Copy, Debug)]
struct Case {
    peer: PeerKind,
    role: PeerRole,
    adapter: Adapter,
}

macro_rules! peer_suite {
    ($($module:ident: $peer:ident as $role:ident against $adapter:ident;)*) => {$(
        mod $module {
            use super::*;

            const CASE: Case = Case {
                peer: PeerKind::$peer,
                role: PeerRole::$role,
                adapter: Adapter::$adapter,
            };

            #[test]
            fn echoes_messages_of_every_length_encoding() {
                run(CASE, scenario::echo);
            }

            #[test]
            fn fragmented_messages_both_ways() {
                run(CASE, scenario::fragments);
            }

            #[test]
            fn ping_pong_both_ways() {
                run(CASE, scenario::ping_pong);
            }

            #[test]
            fn we_close_with_code_and_reason() {
                run(CASE, scenario::we_close);
            }

            #[test]
            fn peer_closes_with_code_and_reason() {
                run(CASE, scenario::peer_closes);
            }

            #[test]
            fn subprotocol_negotiation() {
                run(CASE, scenario::subprotocol);
            }

            #[test]
            fn peer_process_dies_mid_frame() {
                run(CASE, scenario::peer_dies_mid_frame);
            }

            #[test]
            fn we_cut_the_transport_without_close() {
                run(CASE, scenario::we_cut_the_transport);
            }

            #[test]
            fn peer_sends_close_and_keeps_tcp_open() {
                run(CASE, scenario::peer_keeps_tcp_open);
            }

            #[test]
            fn we_fail_the_connection_and_the_peer_gets_our_close() {
                run(CASE, scenario::we_fail_the_connection);
            }

            #[test]
            fn deflate_with_context_takeover() {
                run(CASE, |case| scenario::deflate(case, "on"));
            }

            #[test]
            fn deflate_without_context_takeover() {
                run(CASE, |case| scenario::deflate(case, "nct"));
            }

            #[test]
            fn deflate_with_small_windows() {
                run(CASE, |case| scenario::deflate(case, "bits"));
            }
        }
    )*};
}

peer_suite! {
    node_server_std_client: Node as Server against Std;
    node_server_tokio_client: Node as Server against Tokio;
    node_client_std_server: Node as Client against Std;
    node_client_tokio_server: Node as Client against Tokio;
    python_server_std_client: Python as Server against Std;
    python_server_tokio_client: Python as Server against Tokio;
    python_client_std_server: Python as Client against Std;
    python_client_tokio_server: Python as Client against Tokio;
}

/// Runs `scenario` for `case`, unless the peer is not installed.
fn run(case: Case, scenario: fn(Case)) {
    case.peer.ensure_installed();
    let start = Instant::now();
    scenario(case);
    let name = thread::current().name().unwrap_or("?").to_owned();
    println!("{name}: passed in {:?}", start.elapsed());
}

// --------------------------------------------------------------------------------- scenarios

mod scenario {
    use super::*;

    /// permessage-deflate (RFC 7692) in the peer's `mode` (see `tests/peers/README.md`):
    /// negotiated with the parameters the mode asks for, then hundreds of compressible
    /// messages (the compressor's context carried over each of them, unless the mode turns
    /// it off) and incompressible ones, text and binary, 0 B to 1 MiB, both ways, and a
    /// clean close.
    pub fn deflate(case: Case, mode: &'static str) {
        let setup = Setup {
            config: Config::new().with_compression(Some(Compression::new())),
            deflate: Some(mode),
            ..Setup::default()
        };
        let mut c = case.open(setup);
        assert!(
            c.peer_extensions.starts_with("permessage-deflate"),
            "the peer printed extensions {:?}",
            c.peer_extensions
        );
        let params = c.ws.deflate().expect("permessage-deflate negotiated");
        match mode {
            "on" => {
                assert!(!params.server_no_context_takeover && !params.client_no_context_takeover);
            }
            "nct" => {
                assert!(params.server_no_context_takeover && params.client_no_context_takeover);
            }
            _ => {
                assert_eq!(
                    (params.server_max_window_bits, params.client_max_window_bits),
                    (10, 9),
                    "{params:?}"
                );
            }
        }
        // Many small messages, each like the one before: context takeover pays here.
        for i in 0..300 {
            let text = format!(
                "{{\"seq\":{i},\"kind\":\"update\",\"body\":\"{}\"}}",
                text_of(i % 200)
            );
            c.ws.send_text(&text).expect("send text");
            expect_message(&mut *c.ws, &Message::Text(text));
        }
        for len in [0, 1, 125, 126, 65535, 65536, 1 << 20] {
            let text = text_of(len);
            c.ws.send_text(&text).expect("send text");
            expect_message(&mut *c.ws, &Message::Text(text));
            let data = binary_of(len);
            c.ws.send_binary(&data).expect("send binary");
            expect_message(&mut *c.ws, &Message::Binary(data));
            let noise = noise(len);
            c.ws.send_binary(&noise).expect("send incompressible");
            expect_message(&mut *c.ws, &Message::Binary(noise));
        }
        c.close_normally();
    }

    /// Text and binary messages of every length encoding come back intact.
    pub fn echo(case: Case) {
        let mut c = case.open(Setup::default());
        assert_eq!(c.peer_protocol, "", "no subprotocol was offered");
        assert_eq!(c.ws.protocol(), None);
        for len in SIZES {
            let text = text_of(len);
            c.ws.send_text(&text).expect("send text");
            expect_message(&mut *c.ws, &Message::Text(text));
            let data = binary_of(len);
            c.ws.send_binary(&data).expect("send binary");
            expect_message(&mut *c.ws, &Message::Binary(data));
        }
        c.close_normally();
    }

    /// The peer's fragmented message arrives whole, frame by frame; ours (a Ping
    /// between the fragments, a code point split across fragments, an empty last fragment)
    /// come back whole.
    pub fn fragments(case: Case) {
        let mut c = case.open(Setup::default());

        c.ws.send_text("cmd:fragment").expect("send cmd:fragment");
        let (kind, payload, frames) = recv_chunked_message(&mut *c.ws);
        assert_eq!(kind, MessageKind::Text);
        assert_eq!(payload, b"fragmented");
        // Three fragments; `websockets` ends a fragmented message with an empty fourth frame.
        let expected_frames = match case.peer {
            PeerKind::Node => 3,
            PeerKind::Python => 4,
        };
        assert_eq!(frames, expected_frames, "frames of the peer's `fragmented`");

        // RFC 6455 §5.4: control frames may be injected between the fragments of a message.
        c.ws.send_fragment(MessageKind::Text, b"frag", false)
            .expect("first fragment");
        c.ws.ping(b"between-fragments")
            .expect("ping between fragments");
        c.ws.send_fragment(MessageKind::Text, b"men", false)
            .expect("middle fragment");
        c.ws.send_fragment(MessageKind::Text, b"ted", true)
            .expect("last fragment");
        assert_eq!(
            next_event(&mut *c.ws),
            Ev::Pong(b"between-fragments".to_vec())
        );
        expect_message(&mut *c.ws, &Message::Text("fragmented".into()));
        if case.peer.reports_pings() {
            c.peer.expect("ping between-fragments");
        }

        // Text fragments need only be valid UTF-8 together: split "grüße" inside the ü.
        c.ws.send_fragment(MessageKind::Text, b"gr\xc3", false)
            .expect("fragment ending inside a code point");
        c.ws.send_fragment(MessageKind::Text, b"\xbc\xc3\x9fe", true)
            .expect("fragment finishing the code point");
        expect_message(&mut *c.ws, &Message::Text("grüße".into()));

        // A binary message with a fragment beyond 65535 bytes and an empty last fragment.
        let mut whole = binary_of(70_000);
        c.ws.send_fragment(MessageKind::Binary, &whole, false)
            .expect("large fragment");
        c.ws.send_fragment(MessageKind::Binary, &[0xff], false)
            .expect("one-byte fragment");
        c.ws.send_fragment(MessageKind::Binary, &[], true)
            .expect("empty last fragment");
        whole.push(0xff);
        expect_message(&mut *c.ws, &Message::Binary(whole));

        c.close_normally();
    }

    /// Our Ping gets the peer's Pong; the peer's Ping reaches us and the peer gets our Pong.
    pub fn ping_pong(case: Case) {
        let mut c = case.open(Setup::default());

        c.ws.ping(b"from-sockeye").expect("ping");
        assert_eq!(next_event(&mut *c.ws), Ev::Pong(b"from-sockeye".to_vec()));
        if case.peer.reports_pings() {
            c.peer.expect("ping from-sockeye");
        }

        let data = format!("from-{}", case.peer.name());
        c.ws.send_text(&format!("cmd:ping:{data}"))
            .expect("send cmd:ping");
        assert_eq!(next_event(&mut *c.ws), Ev::Ping(data.clone().into_bytes()));
        // The engine queued the Pong; it goes out with the next write.
        c.ws.send_text("after the pong").expect("send");
        c.peer.expect(&format!("pong {data}"));
        expect_message(&mut *c.ws, &Message::Text("after the pong".into()));

        c.close_normally();
    }

    /// We close with 4001 "bye": the peer sees exactly that, and answers with the same.
    pub fn we_close(case: Case) {
        let mut c = case.open(Setup::default());
        let closure =
            c.ws.close(CloseCode::new(4001), "bye")
                .expect("close with 4001");
        println!("{case:?}: {closure}");
        // Both peers echo the code (RFC 6455 §5.5.1) and the reason.
        let expected = ClosureKind::Clean {
            initiator: Initiator::Local,
            received: CloseFrame::new(CloseCode::new(4001), "bye").unwrap(),
            peer_kept_transport_open: false,
        };
        assert_eq!(closure.kind(), &expected, "{closure}");
        assert_eq!(closure.code().as_u16(), 4001);
        c.peer.expect("closed code=4001 reason=bye");
        // Every later call reports the same closure.
        match c.ws.recv() {
            Err(Error::Closed(again)) => assert_eq!(*again, closure),
            other => panic!("expected the closure again, got {other:?}"),
        }
    }

    /// The peer closes with 4002 "later": our closure is clean, with its code and reason.
    pub fn peer_closes(case: Case) {
        let mut c = case.open(Setup::default());
        c.ws.send_text("cmd:close:4002:later")
            .expect("send cmd:close");
        let closure = expect_closure(&mut *c.ws);
        println!("{case:?}: {closure}");
        let expected = ClosureKind::Clean {
            initiator: Initiator::Peer,
            received: CloseFrame::new(CloseCode::new(4002), "later").unwrap(),
            peer_kept_transport_open: false,
        };
        assert_eq!(closure.kind(), &expected, "{closure}");
        assert_eq!((closure.code().as_u16(), closure.reason()), (4002, "later"));
        // Our reply echoes the code (§5.5.1).
        c.peer.expect_prefix("closed code=4002 ");
    }

    /// Offered `chat.v2`, `chat`: a peer server picks `chat.v2`; our server, supporting only
    /// `chat`, picks it from the peer client's offer.
    pub fn subprotocol(case: Case) {
        let mut c = case.open(Setup {
            offer: &["chat.v2", "chat"],
            support: &["chat"],
            ..Setup::default()
        });
        let expected = match case.role {
            PeerRole::Server => "chat.v2",
            PeerRole::Client => "chat",
        };
        assert_eq!(c.ws.protocol(), Some(expected));
        assert_eq!(
            c.peer_protocol, expected,
            "the subprotocol the peer reported"
        );
        c.ws.send_text("hello").expect("send");
        expect_message(&mut *c.ws, &Message::Text("hello".into()));
        c.close_normally();
    }

    /// The peer breaks the protocol (frames written behind its library's back): we send the
    /// Close the failure calls for, and the peer's library reports exactly that code. An
    /// invalid Close is the peer's Close (we answer and close), text that is not UTF-8 leaves
    /// framing intact (the peer answers our Close), a 1 TiB frame loses it (we close at once).
    pub fn we_fail_the_connection(case: Case) {
        let cases = [
            ("8802", "03e7", 1002, FailureEnd::PeerCloseInvalid),
            ("8102", "c328", 1007, FailureEnd::Acknowledged),
            ("827f0000010000000000", "", 1009, FailureEnd::FramingLost),
        ];
        for (header, payload, code, end) in cases {
            let mut c = case.open(Setup::default());
            c.ws.send_text(&format!("cmd:raw:{header}:{payload}"))
                .expect("send cmd:raw");
            let closure = expect_closure(&mut *c.ws);
            println!("{case:?}: {closure}");
            assert_eq!(closure.code().as_u16(), code, "{closure}");
            match closure.kind() {
                ClosureKind::Failed { end: got, .. } => assert_eq!(*got, end, "{closure}"),
                other => panic!("expected a failed connection, got {other:?}"),
            }
            c.peer.expect_prefix(&format!("closed code={code} "));
        }
    }

    /// The peer writes the header and 3 bytes of a 4096-byte frame, and its process exits: we
    /// report 1006 with the cause and exactly where in the frame it happened.
    pub fn peer_dies_mid_frame(case: Case) {
        let mut c = case.open(Setup::default());
        c.ws.send_text("cmd:kill-mid-message")
            .expect("send cmd:kill-mid-message");
        let closure = expect_closure(&mut *c.ws);
        println!("{case:?}: {closure}");
        match closure.kind() {
            ClosureKind::Abnormal {
                cause: AbnormalCause::Eof | AbnormalCause::Transport(TransportError::ConnectionReset),
                phase:
                    Phase::FramePayload {
                        opcode: OpCode::Binary,
                        received: 3,
                        expected: 4096,
                    },
            } => {}
            other => panic!(
                "expected 1006 by EOF or reset 3 bytes into a 4096-byte binary frame, got {other:?}: {closure}"
            ),
        }
        assert_eq!(closure.code(), CloseCode::ABNORMAL);
        let status = c.peer.wait_exit();
        assert!(status.success(), "the peer exited by itself: {status}");
    }

    /// We end the transport without a Close (std: shut the socket down; tokio: drop the
    /// connection): the peer reports 1006.
    pub fn we_cut_the_transport(case: Case) {
        let mut c = case.open(Setup::default());
        c.ws.send_text("still here").expect("send");
        expect_message(&mut *c.ws, &Message::Text("still here".into()));
        c.ws.cut();
        c.peer.expect_prefix("closed code=1006 ");
    }

    /// The peer writes a Close behind its library's back, stops reading and never closes TCP.
    /// Our client replies, waits the close timeout for the server to close the transport
    /// (RFC 6455 §7.1.1), then closes it itself: a clean closure that says so. Our server
    /// closes the transport right after replying, and waits for nothing.
    pub fn peer_keeps_tcp_open(case: Case) {
        let mut c = case.open(Setup {
            config: Config::new()
                .with_engine(EngineConfig::new().with_close_timeout(Duration::from_millis(500))),
            ..Setup::default()
        });
        c.ws.send_text("cmd:close-keep-tcp")
            .expect("send cmd:close-keep-tcp");
        let closure = expect_closure(&mut *c.ws);
        println!("{case:?}: {closure}");
        let expected = ClosureKind::Clean {
            initiator: Initiator::Peer,
            received: CloseFrame::new(CloseCode::NORMAL, "").unwrap(),
            peer_kept_transport_open: case.role == PeerRole::Server,
        };
        assert_eq!(closure.kind(), &expected, "{closure}");
        if case.role == PeerRole::Server {
            assert!(
                closure
                    .to_string()
                    .contains("did not close the TCP connection"),
                "the Display says what happened: {closure}"
            );
        }
    }
}

// ------------------------------------------------------------------- helpers for scenarios

/// `len` bytes of UTF-8 text with multi-byte characters.
fn text_of(len: usize) -> String {
    let mut text = String::with_capacity(len);
    for c in "sockeye grüßt die Welt ✓ ".chars().cycle() {
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(c);
    }
    while text.len() < len {
        text.push('.');
    }
    text
}

/// `len` bytes of every value.
/// `len` bytes that do not compress (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn binary_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A message in a few words, for failure messages (not megabytes of payload).
fn summary(message: &Message) -> String {
    let kind = match message {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "ping",
        Message::Pong(_) => "pong",
        Message::Close(_) => "close",
    };
    format!("{kind} of {} bytes", message.as_bytes().len())
}

/// Receives the next message and checks it is `expected`.
fn expect_message(ws: &mut dyn Ws, expected: &Message) {
    let got = match ws.recv() {
        Ok(message) => message,
        Err(e) => panic!("expected the echo of a {}, got {e}", summary(expected)),
    };
    if &got != expected {
        let first_difference = got
            .as_bytes()
            .iter()
            .zip(expected.as_bytes())
            .position(|(a, b)| a != b);
        panic!(
            "expected a {}, got a {} (first differing byte: {first_difference:?})",
            summary(expected),
            summary(&got)
        );
    }
}

/// Receives until the connection ends, which must happen before any message arrives.
fn expect_closure(ws: &mut dyn Ws) -> Closure {
    match ws.recv() {
        Err(Error::Closed(closure)) => *closure,
        Ok(message) => panic!(
            "expected the connection to end, got a {}",
            summary(&message)
        ),
        Err(e) => panic!("expected the connection to end with a closure, got {e}"),
    }
}

fn next_event(ws: &mut dyn Ws) -> Ev {
    ws.recv_event()
        .unwrap_or_else(|e| panic!("expected an event, got {e}"))
}

/// Receives one message chunk by chunk: its kind, payload and number of frames.
fn recv_chunked_message(ws: &mut dyn Ws) -> (MessageKind, Vec<u8>, usize) {
    let mut payload = Vec::new();
    let mut frames = 0;
    loop {
        match next_event(ws) {
            Ev::Data {
                kind,
                payload: chunk,
                last,
                frame_end,
            } => {
                payload.extend_from_slice(&chunk);
                frames += usize::from(frame_end);
                if last {
                    return (kind, payload, frames);
                }
            }
            other => panic!("expected message data, got {other:?}"),
        }
    }
}

// ------------------------------------------------------------------------------- the peers

/// The package root, where `tests/peers` lives.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

impl PeerKind {
    fn name(self) -> &'static str {
        match self {
            PeerKind::Node => "node",
            PeerKind::Python => "python",
        }
    }

    /// What `tests/peers/setup.sh` installs for this peer.
    fn install_marker(self) -> PathBuf {
        root().join(match self {
            PeerKind::Node => "tests/peers/node/node_modules/ws",
            PeerKind::Python => "tests/peers/python/venv",
        })
    }

    /// Makes sure the pinned peers are installed, running `tests/peers/setup.sh` once (per
    /// process, and one process at a time: the script holds a lock) when they are not. Panics
    /// with what to install when Node.js or Python is missing: a peer test never passes
    /// without its peer.
    fn ensure_installed(self) {
        static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
        let peers = root().join("tests/peers");
        let result = SETUP.get_or_init(|| {
            if peers.join(".installed").exists() {
                return Ok(());
            }
            // Straight to stderr, past the test harness's capture, so that it shows.
            let _ = writeln!(
                std::io::stderr(),
                "real peers: installing the pinned Node ws and Python websockets (tests/peers/setup.sh)"
            );
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
            panic!("the {} peer is not installed: {e}", self.name());
        }
        let marker = self.install_marker();
        assert!(
            marker.exists(),
            "{} is missing after tests/peers/setup.sh",
            marker.display()
        );
    }

    fn command(self) -> Command {
        let peers = root().join("tests/peers");
        match self {
            PeerKind::Node => {
                let mut command = Command::new("node");
                command.arg(peers.join("node/peer.js"));
                command
            }
            PeerKind::Python => {
                let mut command = Command::new(peers.join("python/venv/bin/python"));
                command.arg(peers.join("python/peer.py"));
                command
            }
        }
    }

    /// Whether the peer prints the Pings it receives (`ping DATA`): the asyncio API of
    /// `websockets` has no hook for them.
    fn reports_pings(self) -> bool {
        self == PeerKind::Node
    }
}

/// A running peer process and the lines it printed. Killed when dropped, so that a failing
/// test leaves no process behind.
struct PeerProcess {
    kind: PeerKind,
    child: Child,
    lines: Receiver<String>,
    /// The lines read so far, for failure messages.
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl PeerProcess {
    /// Starts the peer with `args` and extra environment variables (its TLS and
    /// permessage-deflate modes).
    fn start_with_env(kind: PeerKind, args: &[&str], env: &[(&str, &str)]) -> PeerProcess {
        let mut child = kind
            .command()
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {} peer: {e}", kind.name()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().expect("piped stderr");
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut all = lock(&sink);
                all.push_str(&line);
                all.push('\n');
            }
        });
        PeerProcess {
            kind,
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    /// The next line the peer prints, within [`WAIT`].
    fn next_line(&mut self, waiting_for: &str) -> String {
        match self.lines.recv_timeout(WAIT) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "no line from the {} peer within {WAIT:?}, waiting for {waiting_for:?}\n{}",
                self.kind.name(),
                self.describe()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.try_wait().ok().flatten();
                panic!(
                    "the {} peer closed its stdout (exit status {status:?}), waiting for {waiting_for:?}\n{}",
                    self.kind.name(),
                    self.describe()
                )
            }
        }
    }

    /// Checks the next line is `expected`.
    fn expect(&mut self, expected: &str) {
        let line = self.next_line(expected);
        assert_eq!(line, expected, "\n{}", self.describe());
    }

    /// Checks the next line starts with `prefix`; returns the rest.
    fn expect_prefix(&mut self, prefix: &str) -> String {
        let line = self.next_line(prefix);
        match line.strip_prefix(prefix) {
            Some(rest) => rest.to_owned(),
            None => panic!(
                "expected a line starting with {prefix:?}, got {line:?}\n{}",
                self.describe()
            ),
        }
    }

    /// Waits (within [`WAIT`]) for the process to exit by itself.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) => panic!(
                    "the {} peer did not exit within {WAIT:?}\n{}",
                    self.kind.name(),
                    self.describe()
                ),
                Err(e) => panic!("waiting for the {} peer: {e}", self.kind.name()),
            }
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} peer stdout so far: {:?}\nstderr: {:?}",
            self.kind.name(),
            self.seen,
            *lock(&self.stderr)
        )
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ------------------------------------------------------------------------ opening a connection

/// How to open a connection.
#[derive(Clone, Copy)]
struct Setup {
    /// Subprotocols the client offers (we, or the peer client).
    offer: &'static [&'static str],
    /// Subprotocols our server supports, in order of preference.
    support: &'static [&'static str],
    /// Our configuration.
    config: Config,
    /// The peer's permessage-deflate mode (`PEER_DEFLATE`, see `tests/peers/README.md`);
    /// `None` leaves the peer's default.
    deflate: Option<&'static str>,
}

impl Setup {
    /// The peer's environment for this setup (`PEER_DEFLATE`).
    fn peer_env(&self) -> Vec<(&'static str, &'static str)> {
        self.deflate
            .map(|mode| ("PEER_DEFLATE", mode))
            .into_iter()
            .collect()
    }
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            offer: &[],
            support: &[],
            config: Config::new(),
            deflate: None,
        }
    }
}

/// An open connection to a peer.
struct Connection {
    // Dropped first: our end goes away before the peer is killed.
    ws: Box<dyn Ws>,
    peer: PeerProcess,
    /// The subprotocol the peer printed on `open protocol=P`.
    peer_protocol: String,
    /// The extensions the peer printed (`extensions E`), with a deflate mode set.
    peer_extensions: String,
}

impl Connection {
    /// Closes with 1000 "done" and checks both ends saw a clean close.
    fn close_normally(&mut self) {
        let closure = self
            .ws
            .close(CloseCode::NORMAL, "done")
            .expect("close with 1000");
        assert!(
            matches!(
                closure.kind(),
                ClosureKind::Clean {
                    initiator: Initiator::Local,
                    peer_kept_transport_open: false,
                    ..
                }
            ),
            "{closure}"
        );
        assert_eq!(closure.code(), CloseCode::NORMAL, "{closure}");
        self.peer.expect("closed code=1000 reason=done");
    }
}

impl Case {
    /// Starts the peer and connects our end to it.
    fn open(self, setup: Setup) -> Connection {
        let (mut peer, ws) = match self.role {
            PeerRole::Server => {
                let mut peer =
                    PeerProcess::start_with_env(self.peer, &["server", "0"], &setup.peer_env());
                let port = peer.expect_prefix("listening ");
                let url = format!("ws://127.0.0.1:{port}/");
                let options = ClientOptions::new()
                    .with_protocols(setup.offer)
                    .with_config(setup.config);
                let ws = match self.adapter {
                    Adapter::Std => StdWs::connect(&url, &options),
                    Adapter::Tokio => TokioWs::connect(&url, &options),
                };
                (peer, ws)
            }
            PeerRole::Client => {
                let start = |port: u16| {
                    let url = format!("ws://127.0.0.1:{port}/");
                    let mut args = vec!["client", url.as_str()];
                    args.extend_from_slice(setup.offer);
                    PeerProcess::start_with_env(self.peer, &args, &setup.peer_env())
                };
                match self.adapter {
                    Adapter::Std => StdWs::accept(start, setup),
                    Adapter::Tokio => TokioWs::accept(start, setup),
                }
            }
        };
        let peer_protocol = peer.expect_prefix("open protocol=");
        let peer_extensions = match setup.deflate {
            Some(_) => peer.expect_prefix("extensions "),
            None => String::new(),
        };
        Connection {
            ws,
            peer,
            peer_protocol,
            peer_extensions,
        }
    }
}

/// Our server's choice among the subprotocols the client offered.
fn choose<'r>(request: &Request<'r>, support: &[&str]) -> Decision<'r> {
    let chosen = support
        .iter()
        .find_map(|wanted| request.protocols().find(|offered| offered == wanted));
    match chosen {
        Some(protocol) => Decision::accept().with_protocol(protocol),
        None => Decision::accept(),
    }
}

// ------------------------------------------------------------- one interface, both adapters

/// An event, owned, so that it can leave the adapter's buffer.
#[derive(Debug, PartialEq, Eq)]
enum Ev {
    Data {
        kind: MessageKind,
        payload: Vec<u8>,
        last: bool,
        frame_end: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(CloseFrame),
}

impl From<Event<'_>> for Ev {
    fn from(event: Event<'_>) -> Ev {
        match event {
            Event::Data(chunk) => Ev::Data {
                kind: chunk.kind,
                payload: chunk.payload.to_vec(),
                last: chunk.last,
                frame_end: chunk.frame_end,
            },
            Event::Ping(p) => Ev::Ping(p.to_vec()),
            Event::Pong(p) => Ev::Pong(p.to_vec()),
            Event::Close(frame) => Ev::Close(frame),
        }
    }
}

/// Our end of a connection, whichever adapter runs it; every call is bounded by [`WAIT`].
trait Ws {
    fn send_text(&mut self, text: &str) -> Result<(), Error>;
    fn send_binary(&mut self, data: &[u8]) -> Result<(), Error>;
    fn send_fragment(&mut self, kind: MessageKind, payload: &[u8], fin: bool) -> Result<(), Error>;
    fn ping(&mut self, payload: &[u8]) -> Result<(), Error>;
    fn recv(&mut self) -> Result<Message, Error>;
    fn recv_event(&mut self) -> Result<Ev, Error>;
    fn close(&mut self, code: CloseCode, reason: &str) -> Result<Closure, Error>;
    fn protocol(&self) -> Option<&str>;
    fn deflate(&self) -> Option<DeflateParams>;
    /// Ends the transport without a Close frame.
    fn cut(&mut self);
}

/// Accepts one connection on a blocking listener, within [`WAIT`].
fn accept_tcp(listener: &TcpListener, peer: &PeerProcess) -> TcpStream {
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let deadline = Instant::now() + WAIT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking stream");
                return stream;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!(
                "no connection from the peer client within {WAIT:?} ({e})\n{}",
                peer.describe()
            ),
        }
    }
}

// ----- std

/// The blocking adapter, with a [`Watchdog`] bounding every call.
struct StdWs {
    ws: sockeye_std::WebSocket<MaybeTlsStream>,
    watchdog: Watchdog,
}

impl StdWs {
    fn boxed(ws: sockeye_std::WebSocket<MaybeTlsStream>) -> Box<dyn Ws> {
        let socket = ws.get_ref().tcp().try_clone().expect("clone the socket");
        Box::new(StdWs {
            ws,
            watchdog: Watchdog::new(socket),
        })
    }

    fn connect(url: &str, options: &ClientOptions<'_>) -> Box<dyn Ws> {
        // The handshake timeout (10 s by default) bounds connecting and the handshake.
        let ws = sockeye_std::WebSocket::connect_with(url, options)
            .unwrap_or_else(|e| panic!("std: connecting to {url}: {e}"));
        StdWs::boxed(ws)
    }

    fn accept(
        start_peer: impl FnOnce(u16) -> PeerProcess,
        setup: Setup,
    ) -> (PeerProcess, Box<dyn Ws>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let peer = start_peer(port);
        let stream = accept_tcp(&listener, &peer);
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let stream = MaybeTlsStream::Plain(stream);
        let ws = sockeye_std::WebSocket::accept_with(stream, setup.config, |request| {
            choose(request, setup.support)
        })
        .unwrap_or_else(|e| panic!("std: server handshake: {e}\n{}", peer.describe()));
        (peer, StdWs::boxed(ws))
    }

    /// Runs `op` on the connection; fails if it took longer than [`WAIT`].
    fn timed<T>(
        &mut self,
        what: &str,
        op: impl FnOnce(&mut sockeye_std::WebSocket<MaybeTlsStream>) -> T,
    ) -> T {
        self.watchdog.arm();
        let out = op(&mut self.ws);
        let fired = self.watchdog.disarm();
        assert!(
            !fired,
            "std: {what} took longer than {WAIT:?} (the watchdog shut the socket down to end it)"
        );
        out
    }
}

impl Ws for StdWs {
    fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.timed("send_text", |ws| ws.send_text(text))
    }

    fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.timed("send_binary", |ws| ws.send_binary(data))
    }

    fn send_fragment(&mut self, kind: MessageKind, payload: &[u8], fin: bool) -> Result<(), Error> {
        self.timed("send_fragment", |ws| ws.send_fragment(kind, payload, fin))
    }

    fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.timed("ping", |ws| ws.ping(payload))
    }

    fn recv(&mut self) -> Result<Message, Error> {
        self.timed("recv", |ws| ws.recv())
    }

    fn recv_event(&mut self) -> Result<Ev, Error> {
        self.timed("recv_event", |ws| ws.recv_event().map(Ev::from))
    }

    fn close(&mut self, code: CloseCode, reason: &str) -> Result<Closure, Error> {
        self.timed("close", |ws| ws.close(code, reason))
    }

    fn protocol(&self) -> Option<&str> {
        self.ws.protocol()
    }

    fn deflate(&self) -> Option<DeflateParams> {
        self.ws.deflate()
    }

    fn cut(&mut self) {
        // A shutdown, not a drop: the watchdog holds a clone of the socket, which a drop
        // would leave open.
        self.ws
            .get_ref()
            .tcp()
            .shutdown(Shutdown::Both)
            .expect("shut the socket down");
    }
}

/// Bounds the blocking calls of the std adapter, which sets its own socket timeouts: when a
/// call runs longer than [`WAIT`], shuts the socket down (through a clone), which ends any
/// blocked read or write, and remembers that it did.
struct Watchdog {
    state: Arc<(Mutex<Alarm>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Alarm {
    deadline: Option<Instant>,
    fired: bool,
    stop: bool,
}

impl Watchdog {
    fn new(socket: TcpStream) -> Watchdog {
        let state = Arc::new((Mutex::new(Alarm::default()), Condvar::new()));
        let shared = state.clone();
        let thread = thread::spawn(move || {
            let (alarm, changed) = &*shared;
            let mut alarm = lock(alarm);
            while !alarm.stop {
                alarm = match alarm.deadline {
                    None => changed.wait(alarm).unwrap_or_else(PoisonError::into_inner),
                    Some(deadline) => {
                        let now = Instant::now();
                        if now >= deadline {
                            alarm.fired = true;
                            alarm.deadline = None;
                            let _ = socket.shutdown(Shutdown::Both);
                            alarm
                        } else {
                            changed
                                .wait_timeout(alarm, deadline - now)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0
                        }
                    }
                };
            }
        });
        Watchdog {
            state,
            thread: Some(thread),
        }
    }

    fn arm(&self) {
        let (alarm, changed) = &*self.state;
        let mut alarm = lock(alarm);
        alarm.deadline = Some(Instant::now() + WAIT);
        alarm.fired = false;
        changed.notify_one();
    }

    /// Whether it fired since [`arm`](Self::arm).
    fn disarm(&self) -> bool {
        let (alarm, changed) = &*self.state;
        let mut alarm = lock(alarm);
        alarm.deadline = None;
        changed.notify_one();
        alarm.fired
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (alarm, changed) = &*self.state;
        lock(alarm).stop = true;
        changed.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ----- tokio

/// The async adapter on a current-thread runtime of its own; every call is bounded by
/// `tokio::time::timeout`.
struct TokioWs {
    runtime: tokio::runtime::Runtime,
    ws: Option<sockeye_tokio::WebSocket<sockeye_tokio::MaybeTlsStream>>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `work` on `runtime`; fails if it took longer than [`WAIT`].
fn block<F: Future>(runtime: &tokio::runtime::Runtime, what: &str, work: F) -> F::Output {
    runtime
        .block_on(async { tokio::time::timeout(WAIT, work).await })
        .unwrap_or_else(|_| panic!("tokio: {what} took longer than {WAIT:?}"))
}

impl TokioWs {
    fn connect(url: &str, options: &ClientOptions<'_>) -> Box<dyn Ws> {
        let runtime = runtime();
        let ws = block(
            &runtime,
            "connecting",
            sockeye_tokio::WebSocket::connect_with(url, options),
        )
        .unwrap_or_else(|e| panic!("tokio: connecting to {url}: {e}"));
        Box::new(TokioWs {
            runtime,
            ws: Some(ws),
        })
    }

    fn accept(
        start_peer: impl FnOnce(u16) -> PeerProcess,
        setup: Setup,
    ) -> (PeerProcess, Box<dyn Ws>) {
        let runtime = runtime();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let peer = start_peer(port);
        let (stream, _) = block(
            &runtime,
            "accepting the peer's connection",
            listener.accept(),
        )
        .unwrap_or_else(|e| panic!("tokio: accept: {e}\n{}", peer.describe()));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let stream = sockeye_tokio::MaybeTlsStream::Plain(stream);
        let ws = block(
            &runtime,
            "the server handshake",
            sockeye_tokio::WebSocket::accept_with(stream, setup.config, |request| {
                choose(request, setup.support)
            }),
        )
        .unwrap_or_else(|e| panic!("tokio: server handshake: {e}\n{}", peer.describe()));
        let ws = TokioWs {
            runtime,
            ws: Some(ws),
        };
        (peer, Box::new(ws))
    }

    fn parts(
        &mut self,
    ) -> (
        &tokio::runtime::Runtime,
        &mut sockeye_tokio::WebSocket<sockeye_tokio::MaybeTlsStream>,
    ) {
        let ws = self.ws.as_mut().expect("the connection was cut");
        (&self.runtime, ws)
    }
}

impl Ws for TokioWs {
    fn send_text(&mut self, text: &str) -> Result<(), Error> {
        let (runtime, ws) = self.parts();
        block(runtime, "send_text", ws.send_text(text))
    }

    fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        let (runtime, ws) = self.parts();
        block(runtime, "send_binary", ws.send_binary(data))
    }

    fn send_fragment(&mut self, kind: MessageKind, payload: &[u8], fin: bool) -> Result<(), Error> {
        let (runtime, ws) = self.parts();
        block(
            runtime,
            "send_fragment",
            ws.send_fragment(kind, payload, fin),
        )
    }

    fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        let (runtime, ws) = self.parts();
        block(runtime, "ping", ws.ping(payload))
    }

    fn recv(&mut self) -> Result<Message, Error> {
        let (runtime, ws) = self.parts();
        block(runtime, "recv", ws.recv())
    }

    fn recv_event(&mut self) -> Result<Ev, Error> {
        let (runtime, ws) = self.parts();
        block(runtime, "recv_event", async {
            ws.recv_event().await.map(Ev::from)
        })
    }

    fn close(&mut self, code: CloseCode, reason: &str) -> Result<Closure, Error> {
        let (runtime, ws) = self.parts();
        block(runtime, "close", ws.close(code, reason))
    }

    fn protocol(&self) -> Option<&str> {
        self.ws.as_ref().and_then(|ws| ws.protocol())
    }

    fn deflate(&self) -> Option<DeflateParams> {
        self.ws.as_ref().and_then(|ws| ws.deflate())
    }

    fn cut(&mut self) {
        // Dropping the stream closes the socket.
        let _inside = self.runtime.enter();
        self.ws = None;
    }
}

impl Drop for TokioWs {
    fn drop(&mut self) {
        let _inside = self.runtime.enter();
        self.ws = None;
    }
}

// ------------------------------------------------------------------------------- over TLS

/// The same peers over TLS (`wss://`, Node through `https`), with certificates made by the test
/// (rcgen): each peer as a TLS server for both our clients and as a TLS client of both our TLS
/// servers, and a peer process that dies in the middle of a frame — which cuts the TLS session
/// without `close_notify`, as our closure must say.
mod tls {
    use super::*;
    use sockeye_std::{TlsAcceptor, TlsConnector};
    use sockeye_test_support::TestPki;

    /// Starts `kind` as a TLS server; returns it and its port.
    fn tls_server(kind: PeerKind, pki: &TestPki) -> (PeerProcess, u16) {
        kind.ensure_installed();
        let (cert, key) = (pki.path("cert.pem"), pki.path("key.pem"));
        let mut peer = PeerProcess::start_with_env(
            kind,
            &["server", "0"],
            &[("PEER_TLS_CERT", &cert), ("PEER_TLS_KEY", &key)],
        );
        let port = peer.expect_prefix("listening ").parse().expect("a port");
        (peer, port)
    }

    fn talk_and_close(peer: &mut PeerProcess, ws: &mut dyn Ws) {
        peer.expect_prefix("open protocol=");
        ws.send_text("over TLS").expect("send");
        expect_message(ws, &Message::Text("over TLS".into()));
        let big = binary_of(1 << 20);
        ws.send_binary(&big).expect("send 1 MiB");
        expect_message(ws, &Message::Binary(big));
        let closure = ws.close(CloseCode::NORMAL, "bye").expect("close");
        assert!(closure.is_clean(), "{closure}\n{}", peer.describe());
        peer.expect("closed code=1000 reason=bye");
    }

    fn peer_serves_both_clients(kind: PeerKind) {
        let pki = TestPki::new();
        let (mut peer, port) = tls_server(kind, &pki);
        let connector = TlsConnector::with_ca_pem(pki.ca_pem.as_bytes()).unwrap();
        let options = ClientOptions::new().with_tls(&connector);
        let url = format!("wss://localhost:{port}/");
        talk_and_close(&mut peer, &mut *StdWs::connect(&url, &options));
        talk_and_close(&mut peer, &mut *TokioWs::connect(&url, &options));
    }

    fn peer_dies_mid_frame(kind: PeerKind) {
        let pki = TestPki::new();
        let connector = TlsConnector::with_ca_pem(pki.ca_pem.as_bytes()).unwrap();
        let options = ClientOptions::new().with_tls(&connector);
        for adapter in [Adapter::Std, Adapter::Tokio] {
            let (mut peer, port) = tls_server(kind, &pki);
            let url = format!("wss://localhost:{port}/");
            let mut ws = match adapter {
                Adapter::Std => StdWs::connect(&url, &options),
                Adapter::Tokio => TokioWs::connect(&url, &options),
            };
            peer.expect_prefix("open protocol=");
            ws.send_text("cmd:kill-mid-message").expect("send");
            let closure = expect_closure(&mut *ws);
            match closure.kind() {
                ClosureKind::Abnormal {
                    cause: AbnormalCause::Transport(TransportError::TlsTruncated),
                    phase:
                        Phase::FramePayload {
                            received: 3,
                            expected: 4096,
                            ..
                        },
                } => {}
                other => panic!(
                    "{adapter:?}: expected a TLS session cut without close_notify mid-frame, got {other:?}: {closure}"
                ),
            }
            let line = closure.to_string();
            assert!(line.contains("without close_notify"), "{line}");
            peer.wait_exit();
        }
    }

    fn peer_client_against_our_servers(kind: PeerKind) {
        kind.ensure_installed();
        let pki = TestPki::new();
        let acceptor =
            TlsAcceptor::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
        let ca = pki.path("ca.pem");
        let start = |port: u16| {
            let url = format!("wss://localhost:{port}/");
            PeerProcess::start_with_env(kind, &["client", &url], &[("PEER_TLS_CA", &ca)])
        };

        // std
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut peer = start(listener.local_addr().unwrap().port());
        let tcp = accept_tcp(&listener, &peer);
        let tls = sockeye_std::tls::tls_accept(tcp, &acceptor, &Config::default())
            .unwrap_or_else(|e| panic!("std: TLS accept: {e}\n{}", peer.describe()));
        let mut ws = sockeye_std::WebSocket::accept(tls)
            .unwrap_or_else(|e| panic!("std: accept: {e}\n{}", peer.describe()));
        peer.expect_prefix("open protocol=");
        ws.send_text("hello over TLS").unwrap();
        assert_eq!(ws.recv().unwrap(), Message::Text("hello over TLS".into()));
        let closure = ws.close(CloseCode::NORMAL, "bye").unwrap();
        assert!(closure.is_clean(), "{closure}");
        peer.expect("closed code=1000 reason=bye");

        // tokio
        let runtime = runtime();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let mut peer = start(listener.local_addr().unwrap().port());
        let (tcp, _) = block(&runtime, "accept", listener.accept()).unwrap();
        let tls = block(
            &runtime,
            "TLS accept",
            sockeye_tokio::tls::tls_accept(tcp, &acceptor, &Config::default()),
        )
        .unwrap_or_else(|e| panic!("tokio: TLS accept: {e}\n{}", peer.describe()));
        let mut ws = block(&runtime, "accept", sockeye_tokio::WebSocket::accept(tls))
            .unwrap_or_else(|e| panic!("tokio: accept: {e}\n{}", peer.describe()));
        peer.expect_prefix("open protocol=");
        block(&runtime, "send", ws.send_text("hello over TLS")).unwrap();
        assert_eq!(
            block(&runtime, "recv", ws.recv()).unwrap(),
            Message::Text("hello over TLS".into())
        );
        let closure = block(&runtime, "close", ws.close(CloseCode::NORMAL, "bye")).unwrap();
        assert!(closure.is_clean(), "{closure}");
        peer.expect("closed code=1000 reason=bye");
    }

    #[test]
    fn python_tls_server_serves_std_and_tokio_clients() {
        peer_serves_both_clients(PeerKind::Python);
    }

    #[test]
    fn node_https_server_serves_std_and_tokio_clients() {
        peer_serves_both_clients(PeerKind::Node);
    }

    #[test]
    fn python_tls_client_against_our_std_and_tokio_tls_servers() {
        peer_client_against_our_servers(PeerKind::Python);
    }

    #[test]
    fn node_wss_client_against_our_std_and_tokio_tls_servers() {
        peer_client_against_our_servers(PeerKind::Node);
    }

    #[test]
    fn python_tls_server_dying_mid_frame_is_a_tls_truncation() {
        peer_dies_mid_frame(PeerKind::Python);
    }

    #[test]
    fn node_https_server_dying_mid_frame_is_a_tls_truncation() {
        peer_dies_mid_frame(PeerKind::Node);
    }
}
