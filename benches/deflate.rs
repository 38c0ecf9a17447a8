//! permessage-deflate (RFC 7692): what compression costs through sockeye, next to the
//! compression library alone and to Node `ws` and Python `websockets`.
//!
//! 1. **In process** (harness groups, `SOCKEYE_BENCH=table` or criterion): a stream of
//!    JSON-like text messages (1 KiB and 64 KiB, each different, with context takeover) goes
//!    client → server. `sockeye` is a pair of `Session`s with permessage-deflate — the client
//!    compresses, frames and masks; the server unmasks, inflates, validates UTF-8 and assembles
//!    the message. `zlib-rs alone` is the same compression and inflation calls with nothing
//!    around them (the ceiling: the engine's overhead is sockeye ÷ it); `miniz_oxide alone`
//!    is the same with the other candidate library (level 1, sync flush), for the choice.
//! 2. **Compressed echo over loopback** (table mode only): one connection, 64 messages in
//!    flight, the same JSON-like messages, against our tokio echo server with compression
//!    (this binary, re-executed), Node `ws` (`perMessageDeflate`, every message compressed)
//!    and Python `websockets` (its defaults: compression on, 12-bit windows, memLevel 5), the
//!    peers of `tests/peers/` (installed by `tests/peers/setup.sh`). The client is ours
//!    (tokio, compression on) for all three; it checks every echo. Reported: messages per
//!    second and the server's CPU time per message (`/proc/PID/task/*/schedstat`).
//! 3. **Memory per connection** (table mode only): 1 000 server sessions that each received
//!    and sent one compressed message, for each mode, counted by a global allocator.

#[path = "common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use common::{Group, Harness, Kind};
use sockeye_core::deflate::{DeflateSettings, PerMessageDeflate};
use sockeye_core::handshake::deflate::DeflateParams;
use sockeye_core::session::{Session, SessionConfig};
use sockeye_core::{Config, Connection, Frame, Message, Role};

/// Live heap bytes, for the memory table.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as `realloc` requires, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MESSAGES_PER_ITER: usize = 64;

fn main() {
    if let Ok(port) = std::env::var("SOCKEYE_DEFLATE_SERVER") {
        serve(port.parse().expect("port"));
    }
    let mut harness = Harness::from_env("deflate");
    for size in [1024usize, 64 * 1024] {
        in_process(&mut harness, size);
    }
    let table = harness.is_table();
    harness.finish();
    if table {
        let mut md = String::new();
        echo_table(&mut md);
        memory_table(&mut md);
        println!("{md}");
        common::write_table("deflate-echo", &md);
    }
}

/// JSON-like text of about `size` bytes, different for each `seed`: the kind of message
/// WebSocket applications compress.
fn json(size: usize, seed: u64) -> String {
    let mut rng = common::Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let names = ["alice", "bob", "carol", "dave", "eve", "mallory", "trent"];
    let kinds = ["update", "join", "leave", "message", "typing"];
    let mut s = String::from("[");
    while s.len() < size {
        let r = rng.next();
        let _ = write!(
            s,
            "{{\"id\":{},\"user\":\"{}\",\"kind\":\"{}\",\"ts\":{},\"score\":{:.3},\"ok\":{}}},",
            r % 100_000,
            names[(r >> 20) as usize % names.len()],
            kinds[(r >> 30) as usize % kinds.len()],
            1_700_000_000 + (r >> 40) % 1_000_000,
            (r % 10_000) as f64 / 7.0,
            r & 1 == 0
        );
    }
    s.truncate(size - 1);
    s.push(']');
    s
}

fn params() -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    }
}

/// A session in `role`, with permessage-deflate when `deflate` is given.
fn session(role: Role, deflate: Option<(DeflateParams, DeflateSettings)>) -> Session {
    let connection = match role {
        Role::Client => Connection::client(Config::default(), sockeye_core::Instant::ZERO, 1),
        Role::Server => Connection::server(Config::default(), sockeye_core::Instant::ZERO),
    };
    let s = Session::new(connection, SessionConfig::default());
    match deflate {
        Some((p, settings)) => s.with_deflate(PerMessageDeflate::new(p, role, settings)),
        None => s,
    }
}

fn in_process(harness: &mut Harness, size: usize) {
    let messages: Vec<String> = (0..MESSAGES_PER_ITER as u64)
        .map(|i| json(size, i))
        .collect();
    let bytes = (size * MESSAGES_PER_ITER) as u64;
    let mut group = Group::new(
        format!("text/{}", common::size_name(size)),
        bytes,
        MESSAGES_PER_ITER as u64,
    );

    // sockeye: a client Session compressing, a server Session inflating; then the same pair
    // in the low-memory mode (no context takeover, state freed after each message).
    let nct = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..params()
    };
    for (name, kind, p, settings) in [
        (
            "sockeye (Session pair)",
            Kind::Sockeye,
            params(),
            DeflateSettings::default(),
        ),
        (
            "sockeye, low-memory mode",
            Kind::Info,
            nct,
            DeflateSettings::low_memory(),
        ),
    ] {
        let mut client = session(Role::Client, Some((p, settings)));
        let mut server = session(Role::Server, Some((p, settings)));
        let msgs = messages.clone();
        group.add(name, kind, move || {
            let mut n = 0;
            for m in &msgs {
                client.send(Frame::Text(m)).unwrap();
                let wire = client.pending_write();
                let len = wire.len();
                server.push_received(wire, sockeye_core::Instant::ZERO);
                client.written(len);
                match server.poll_message() {
                    Some(Message::Text(t)) => n += t.len(),
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(n, bytes as usize);
            n
        });
    }

    // zlib-rs alone: the same calls, nothing around them.
    let mut deflate = zlib_rs::Deflate::new(1, false, 15);
    let mut inflate = zlib_rs::Inflate::new(false, 15);
    let mut compressed = vec![0u8; size + size / 8 + 64];
    let mut inflated = vec![0u8; size + 64];
    let msgs = messages.clone();
    group.add("zlib-rs alone", Kind::Ceiling, move || {
        let mut n = 0;
        for m in &msgs {
            let before = deflate.total_out();
            deflate
                .compress(
                    m.as_bytes(),
                    &mut compressed,
                    zlib_rs::DeflateFlush::SyncFlush,
                )
                .unwrap();
            let c = (deflate.total_out() - before) as usize;
            let before = inflate.total_out();
            inflate
                .decompress(
                    &compressed[..c],
                    &mut inflated,
                    zlib_rs::InflateFlush::SyncFlush,
                )
                .unwrap();
            n += (inflate.total_out() - before) as usize;
        }
        assert_eq!(n, bytes as usize);
        n
    });

    // miniz_oxide alone, level 1, sync flush.
    let mut mz_deflate = Box::new(miniz_oxide::deflate::core::CompressorOxide::new(
        miniz_oxide::deflate::core::create_comp_flags_from_zip_params(1, -15, 0),
    ));
    let mut mz_inflate =
        miniz_oxide::inflate::stream::InflateState::new_boxed(miniz_oxide::DataFormat::Raw);
    let mut compressed = vec![0u8; size + size / 8 + 64];
    let mut inflated = vec![0u8; size + 64];
    group.add("miniz_oxide alone", Kind::Info, move || {
        let mut n = 0;
        for m in &messages {
            let r = miniz_oxide::deflate::stream::deflate(
                &mut mz_deflate,
                m.as_bytes(),
                &mut compressed,
                miniz_oxide::MZFlush::Sync,
            );
            let c = r.bytes_written;
            let r = miniz_oxide::inflate::stream::inflate(
                &mut mz_inflate,
                &compressed[..c],
                &mut inflated,
                miniz_oxide::MZFlush::Sync,
            );
            n += r.bytes_written;
        }
        assert_eq!(n, bytes as usize);
        n
    });
    harness.run(group);
}

// ---------------------------------------------------------------------- compressed echo

/// Our server: the plain echo loop of `examples/echo_server.rs`, compression on.
fn serve(port: u16) -> ! {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        println!("listening {port}");
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let config = sockeye_tokio::Config::default()
                    .with_compression(Some(sockeye_tokio::Compression::new()));
                let Ok(mut ws) = sockeye_tokio::WebSocket::accept_with(stream, config, |_| {
                    sockeye_tokio::Decision::accept()
                })
                .await
                else {
                    return;
                };
                while let Ok(m) = ws.recv().await {
                    if ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    std::process::exit(0)
}

/// A server process, killed on drop.
struct Peer {
    child: Child,
    port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn start(name: &str) -> Option<Peer> {
    let peers = root().join("tests/peers");
    let mut command = match name {
        "sockeye" => {
            let mut c = Command::new(std::env::current_exe().unwrap());
            c.env("SOCKEYE_DEFLATE_SERVER", "19480");
            c
        }
        "node ws" => {
            let mut c = Command::new("node");
            c.arg(peers.join("node/peer.js")).args(["server", "0"]);
            c.env("PEER_DEFLATE", "on");
            c
        }
        _ => {
            let python = peers.join("python/venv/bin/python");
            if !python.exists() {
                return None;
            }
            let mut c = Command::new(python);
            // Its defaults: compression on, 12-bit windows, memLevel 5.
            c.arg(peers.join("python/peer.py")).args(["server", "0"]);
            c
        }
    };
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).ok()?;
    let port = line.trim().strip_prefix("listening ")?.parse().ok()?;
    // Keep reading its output so that it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Some(Peer { child, port })
}

/// One measurement: messages per second and server CPU µs per message.
fn echo_once(peer: &Peer, size: usize, secs: f64) -> (f64, f64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pid = peer.child.id();
    let url = format!("ws://127.0.0.1:{}/", peer.port);
    let pool: Vec<String> = (0..256).map(|i| json(size, i)).collect();
    runtime.block_on(async move {
        let options = sockeye_tokio::ClientOptions::new().with_config(
            sockeye_tokio::Config::default()
                .with_compression(Some(sockeye_tokio::Compression::new())),
        );
        let mut ws = sockeye_tokio::WebSocket::connect_with(&url, &options)
            .await
            .expect("connect");
        assert!(
            ws.deflate().is_some(),
            "the server did not take permessage-deflate"
        );
        let window = 64;
        let mut sent = 0usize;
        let mut got = 0usize;
        let mut warm = true;
        let (mut start, mut cpu0) = (Instant::now(), 0);
        let mut counted = 0usize;
        for _ in 0..window {
            ws.send_text(&pool[sent % pool.len()]).await.unwrap();
            sent += 1;
        }
        loop {
            match ws.recv().await.expect("echo") {
                Message::Text(t) => assert!(t == pool[got % pool.len()], "echo {got} differs"),
                other => panic!("{other:?}"),
            }
            got += 1;
            if warm && got == 200 {
                warm = false;
                start = Instant::now();
                cpu0 = common::process_cpu_ns(pid);
                counted = got;
            }
            if !warm && start.elapsed().as_secs_f64() >= secs {
                let elapsed = start.elapsed().as_secs_f64();
                let cpu = common::process_cpu_ns(pid) - cpu0;
                let n = (got - counted) as f64;
                // Drain what is in flight, then close.
                while got < sent {
                    ws.recv().await.expect("echo");
                    got += 1;
                }
                let _ = ws.close(sockeye_core::CloseCode::NORMAL, "").await;
                return (n / elapsed, cpu as f64 / 1000.0 / n);
            }
            ws.send_text(&pool[sent % pool.len()]).await.unwrap();
            sent += 1;
        }
    })
}

fn echo_table(md: &mut String) {
    let secs: f64 = std::env::var("SOCKEYE_DEFLATE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0);
    let _ = writeln!(
        md,
        "\n## Compressed echo: 1 connection, 64 in flight, JSON-like text (load {})\n",
        common::loadavg()
    );
    let _ = writeln!(
        md,
        "| size | server | msg/s | server µs/msg | sockeye msg/s ÷ it | its server µs ÷ sockeye's |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for size in [1024usize, 64 * 1024] {
        let mut rows = Vec::new();
        for name in ["sockeye", "node ws", "python websockets"] {
            let Some(peer) = start(name) else {
                let _ = writeln!(
                    md,
                    "| {} | {name} | not installed (tests/peers/setup.sh) | | | |",
                    common::size_name(size)
                );
                continue;
            };
            // Median of three.
            let mut runs: Vec<(f64, f64)> = (0..3).map(|_| echo_once(&peer, size, secs)).collect();
            runs.sort_by(|a, b| a.0.total_cmp(&b.0));
            rows.push((name, runs[1]));
        }
        let ours = rows.iter().find(|r| r.0 == "sockeye").map(|r| r.1);
        for (name, (rate, cpu)) in &rows {
            let (r1, r2) = match ours {
                Some((our_rate, our_cpu)) if *name != "sockeye" => (
                    format!("{:.2}×", our_rate / rate),
                    format!("{:.2}×", cpu / our_cpu),
                ),
                _ => (String::new(), String::new()),
            };
            let _ = writeln!(
                md,
                "| {} | {name} | {:.0} | {:.1} | {r1} | {r2} |",
                common::size_name(size),
                rate,
                cpu
            );
        }
    }
}

// ---------------------------------------------------------------------- memory

fn memory_table(md: &mut String) {
    let _ = writeln!(
        md,
        "\n## Memory per connection: 1 000 server sessions, one compressed message each way\n"
    );
    let _ = writeln!(md, "| mode | heap per connection |");
    let _ = writeln!(md, "|---|---|");
    let modes: [(&str, DeflateParams, DeflateSettings); 5] = [
        ("no compression", params(), DeflateSettings::default()),
        (
            "best ratio (default): context takeover, 2^15 windows, memLevel 8",
            params(),
            DeflateSettings::default(),
        ),
        (
            "Python websockets' defaults: context takeover, 2^12 windows, memLevel 5",
            DeflateParams {
                server_max_window_bits: 12,
                client_max_window_bits: 12,
                ..params()
            },
            DeflateSettings::default().with_mem_level(5),
        ),
        (
            "server_no_context_takeover: the client's context kept (browsers), ours freed after each message",
            DeflateParams {
                server_no_context_takeover: true,
                ..params()
            },
            DeflateSettings::default(),
        ),
        (
            "low memory: no context takeover either way",
            DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                ..params()
            },
            DeflateSettings::low_memory(),
        ),
    ];
    for (i, (name, p, settings)) in modes.into_iter().enumerate() {
        let text = json(1024, 1);
        let deflate = (i > 0).then_some((p, settings));
        let mut held = Vec::new();
        let before = LIVE.load(Ordering::Relaxed);
        for _ in 0..1000 {
            // A fresh client per server: its compression context is per connection.
            let mut peer = session(Role::Client, deflate);
            let mut s = session(Role::Server, deflate);
            peer.send(Frame::Text(&text)).unwrap();
            s.push_received(peer.pending_write(), sockeye_core::Instant::ZERO);
            drop(peer);
            let m = s.poll_message().expect("a message");
            s.send_message(&m, sockeye_core::Instant::ZERO).unwrap();
            let n = s.pending_write().len();
            s.written(n);
            let _ = s.release_idle_buffers();
            held.push(s);
        }
        let per = (LIVE.load(Ordering::Relaxed) - before) as f64 / 1000.0;
        let _ = writeln!(md, "| {name} | {:.1} KiB |", per / 1024.0);
        drop(held);
    }
    let _ = writeln!(
        md,
        "\nPython websockets documents 64 KiB per connection with its defaults (asyncio, \
         compression on: \"Memory and buffers\"), for the whole connection."
    );
}
