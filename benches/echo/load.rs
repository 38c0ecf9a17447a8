//! The load generator: WebSocket clients over loopback TCP that keep a window of messages in
//! flight per connection and check every echoed byte.
//!
//! Frames are encoded before the run (a few distinct payloads and masking keys per size), so
//! sending is a write of ready bytes; small frames that are ready together go out in one write
//! (up to 64 KiB). The reader compares the byte stream with the frames the server must send
//! back — for message `i`, the unmasked single frame of payload `i % K` (or, against the plain
//! TCP echo, the masked frame as sent) — so a wrong byte, length, opcode, mask or framing is
//! an error. After the measured window the generator waits for every echo, sends Close(1000)
//! and expects the server's Close and then EOF.

use std::cell::{Cell as StdCell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::common::process_cpu_ns;

/// One cell of the matrix.
#[derive(Clone, Copy, Debug)]
pub struct Cell {
    pub size: usize,
    pub conns: usize,
    pub window: usize,
}

/// How long a run lasts.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// Warm up, then measure for the given time.
    Timed { warmup: Duration, measure: Duration },
    /// Each connection sends this many messages; all are measured.
    Count(u64),
}

#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Echoes completed inside the measured window.
    pub msgs: u64,
    pub secs: f64,
    /// Round trips of the measured echoes, nanoseconds.
    pub p50_ns: u64,
    pub p99_ns: u64,
    /// Server CPU time (all threads) during the measured window.
    pub server_cpu_ns: u64,
    pub errors: u64,
    /// Connections whose Close was answered and whose TCP the server then closed.
    pub clean_closes: usize,
}

impl Outcome {
    pub fn msgs_per_s(&self) -> f64 {
        self.msgs as f64 / self.secs
    }
    pub fn server_us_per_msg(&self) -> f64 {
        self.server_cpu_ns as f64 / 1e3 / self.msgs.max(1) as f64
    }
}

/// Encoded frames for one message size.
pub struct Frames {
    /// What the client sends: masked frames.
    sent: Vec<Vec<u8>>,
    /// What a WebSocket server sends back: the same payloads in unmasked frames.
    echoed: Vec<Vec<u8>>,
}

impl Frames {
    pub fn new(size: usize) -> Frames {
        let k = if size >= 1 << 20 { 4 } else { 16 };
        let mut rng = super::common::Rng(0xec40_5eed ^ size as u64);
        let mut sent = Vec::new();
        let mut echoed = Vec::new();
        for _ in 0..k {
            let payload = rng.bytes(size);
            let key = (rng.next() as u32 | 0x0101_0101).to_ne_bytes();
            sent.push(frame(&payload, Some(key)));
            echoed.push(frame(&payload, None));
        }
        Frames { sent, echoed }
    }
}

fn frame(payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let len = payload.len();
    let m = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![0x82];
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= 0xFFFF {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i & 3]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// State shared by the tasks of one run (single-threaded runtime).
struct Shared {
    start: Instant,
    window_start: Instant,
    window_end: Instant,
    stop: StdCell<bool>,
    measured: StdCell<u64>,
    errors: StdCell<u64>,
    latencies: RefCell<Vec<u64>>,
}

/// Runs `cell` against the server on `port`; `raw` for the plain TCP echo.
pub fn run(
    port: u16,
    raw: bool,
    cell: Cell,
    limit: Limit,
    frames: &Rc<Frames>,
    server_pid: u32,
) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let mut streams = Vec::with_capacity(cell.conns);
        for _ in 0..cell.conns {
            streams.push(connect(port, raw).await);
        }
        let now = Instant::now();
        let (window_start, window_end) = match limit {
            Limit::Timed { warmup, measure } => (now + warmup, now + warmup + measure),
            Limit::Count(_) => (now, now + Duration::from_secs(3600)),
        };
        let shared = Rc::new(Shared {
            start: now,
            window_start,
            window_end,
            stop: StdCell::new(false),
            measured: StdCell::new(0),
            errors: StdCell::new(0),
            latencies: RefCell::new(Vec::new()),
        });
        let count = match limit {
            Limit::Count(n) => n,
            Limit::Timed { .. } => u64::MAX,
        };
        let mut tasks = Vec::new();
        for s in streams {
            tasks.push(tokio::task::spawn_local(connection(
                s,
                raw,
                cell,
                count,
                frames.clone(),
                shared.clone(),
            )));
        }
        let mut cpu = (0, 0);
        if let Limit::Timed { .. } = limit {
            tokio::time::sleep_until(window_start.into()).await;
            cpu.0 = process_cpu_ns(server_pid);
            tokio::time::sleep_until(window_end.into()).await;
            cpu.1 = process_cpu_ns(server_pid);
            shared.stop.set(true);
        }
        let mut clean = 0;
        for t in tasks {
            clean += t.await.unwrap_or(false) as usize;
        }
        let secs = match limit {
            Limit::Timed { measure, .. } => measure.as_secs_f64(),
            Limit::Count(_) => shared.start.elapsed().as_secs_f64(),
        };
        let mut lat = shared.latencies.take();
        lat.sort_unstable();
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        Outcome {
            msgs: shared.measured.get(),
            secs,
            p50_ns: pct(0.50),
            p99_ns: pct(0.99),
            server_cpu_ns: cpu.1.saturating_sub(cpu.0),
            errors: shared.errors.get(),
            clean_closes: clean,
        }
    })
}

async fn connect(port: u16, raw: bool) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.set_nodelay(true).expect("nodelay");
    if raw {
        return s;
    }
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let req = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("handshake write");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    // Byte by byte, so that nothing after the response head is consumed.
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut b).await.expect("handshake read");
        assert!(n == 1 && head.len() < 8192, "handshake: bad response");
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let accept = sockeye_core::handshake::accept_key(key.as_bytes());
    assert!(
        head.starts_with("http/1.1 101") && head.contains(&accept.as_str().to_ascii_lowercase()),
        "handshake: {head}"
    );
    assert!(
        !head.contains("sec-websocket-extensions"),
        "no extension may be negotiated"
    );
    s
}

/// One connection: a writer keeping `window` messages in flight and a reader checking the
/// echoes. Returns whether the connection closed cleanly.
async fn connection(
    s: TcpStream,
    raw: bool,
    cell: Cell,
    count: u64,
    frames: Rc<Frames>,
    sh: Rc<Shared>,
) -> bool {
    let (mut rd, mut wr) = s.into_split();
    let sem = Rc::new(tokio::sync::Semaphore::new(cell.window));
    let sent_at: Rc<RefCell<VecDeque<Instant>>> = Rc::new(RefCell::new(VecDeque::new()));
    let sent = Rc::new(StdCell::new(0u64));
    let writer_done = Rc::new(StdCell::new(false));
    let k = frames.sent.len();

    let writer = {
        let (sem, sent_at, sent, sh, frames, writer_done) = (
            sem.clone(),
            sent_at.clone(),
            sent.clone(),
            sh.clone(),
            frames.clone(),
            writer_done.clone(),
        );
        tokio::task::spawn_local(async move {
            let mut batch = Vec::with_capacity(64 * 1024);
            while !sh.stop.get() && sent.get() < count {
                let Ok(p) = sem.acquire().await else { break };
                p.forget();
                if sh.stop.get() {
                    sem.add_permits(1);
                    break;
                }
                // This frame, and more while permits are free and the batch is small.
                let mut n = 1;
                batch.clear();
                loop {
                    let f = &frames.sent[(sent.get() as usize) % k];
                    if n == 1 && f.len() >= 64 * 1024 {
                        sent_at.borrow_mut().push_back(Instant::now());
                        sent.set(sent.get() + 1);
                        if wr.write_all(f).await.is_err() {
                            sh.errors.set(sh.errors.get() + 1);
                            writer_done.set(true);
                            return wr;
                        }
                        break;
                    }
                    batch.extend_from_slice(f);
                    sent_at.borrow_mut().push_back(Instant::now());
                    sent.set(sent.get() + 1);
                    let next = &frames.sent[(sent.get() as usize) % k];
                    if batch.len() + next.len() > 64 * 1024 || sent.get() >= count {
                        break;
                    }
                    match sem.try_acquire() {
                        Ok(p) => {
                            p.forget();
                            n += 1;
                        }
                        Err(_) => break,
                    }
                }
                if !batch.is_empty() && wr.write_all(&batch).await.is_err() {
                    sh.errors.set(sh.errors.get() + 1);
                    break;
                }
            }
            writer_done.set(true);
            wr
        })
    };

    // Reader: compare the stream with the expected frames, message after message.
    let expected = if raw { &frames.sent } else { &frames.echoed };
    let mut buf = vec![0u8; 256 * 1024];
    let (mut seq, mut at) = (0u64, 0usize);
    let mut ok = true;
    let drain_deadline = StdCell::new(None::<Instant>);
    loop {
        if (sh.stop.get() || sent.get() >= count) && seq == sent.get() {
            // Every echo is in: let the writer see that it is done (it has all its permits).
            while !writer_done.get() && seq == sent.get() {
                tokio::task::yield_now().await;
            }
        }
        if writer_done.get() && seq == sent.get() {
            break;
        }
        if sh.stop.get() && drain_deadline.get().is_none() {
            drain_deadline.set(Some(Instant::now() + Duration::from_secs(20)));
        }
        let read = match drain_deadline.get() {
            Some(d) => match tokio::time::timeout_at(d.into(), rd.read(&mut buf)).await {
                Ok(r) => r,
                Err(_) => {
                    sh.errors.set(sh.errors.get() + (sent.get() - seq));
                    ok = false;
                    break;
                }
            },
            None => {
                // Wake up now and then to notice the end of the window.
                match tokio::time::timeout(Duration::from_millis(50), rd.read(&mut buf)).await {
                    Ok(r) => r,
                    Err(_) => continue,
                }
            }
        };
        let n = match read {
            Ok(0) | Err(_) => {
                sh.errors.set(sh.errors.get() + 1 + (sent.get() - seq));
                ok = false;
                break;
            }
            Ok(n) => n,
        };
        let mut data = &buf[..n];
        while !data.is_empty() {
            let want = &expected[(seq as usize) % k];
            let take = (want.len() - at).min(data.len());
            if data[..take] != want[at..at + take] {
                sh.errors.set(sh.errors.get() + 1);
                ok = false;
            }
            at += take;
            data = &data[take..];
            if at == want.len() {
                let t = Instant::now();
                let t0 = sent_at.borrow_mut().pop_front();
                if t >= sh.window_start && t <= sh.window_end {
                    sh.measured.set(sh.measured.get() + 1);
                    if let Some(t0) = t0 {
                        sh.latencies.borrow_mut().push((t - t0).as_nanos() as u64);
                    }
                }
                seq += 1;
                at = 0;
                sem.add_permits(1);
            }
        }
        if !ok {
            break;
        }
    }
    let Ok(mut wr) = writer.await else {
        return false;
    };
    if !ok {
        return false;
    }
    // Closing: Close(1000) and the server's reply, then EOF; the raw echo gets a half-close.
    let close = [0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2];
    if wr.write_all(&close).await.is_err() {
        return false;
    }
    if raw {
        let _ = wr.shutdown().await;
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match tokio::time::timeout_at(deadline.into(), rd.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            _ => return false,
        }
    }
    if raw {
        got == close
    } else {
        got.starts_with(&[0x88, 0x02, 0x03, 0xe8])
    }
}
