//! Deterministic fault injection: a client engine and a server engine talk through a simulated
//! transport with a virtual clock and a seeded fault plan.
//!
//! The transport models what real networks do to a WebSocket: short writes, a bounded socket
//! buffer, a peer that stops reading, a reset, a half-open link that silently drops everything,
//! and an intermediary (proxy, NAT, load balancer) that cuts connections after a period of
//! silence. For every fault the tests check that each side ends with exactly one `Closure` with
//! the expected code and cause, that messages received before the fault arrive intact and in
//! order, that the sender knows which of its messages were handed to the transport, and that
//! memory stays bounded.

mod support;

use std::collections::VecDeque;
use std::time::Duration;

use sockeye_core::frame::{Decoded, FrameHeader};
use sockeye_core::{
    AbnormalCause, CloseCode, Closure, ClosureKind, Config, Connection, Frame, Instant, Keepalive,
    Message, MessageAssembler, OpCode, Phase, TransportError,
};

/// SplitMix64, so that every plan is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What the plan does to the connection.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    /// The client's transport is reset at this time (both ends see ECONNRESET).
    Reset(Duration),
    /// From this time on the link drops everything, both ways, without telling anyone.
    HalfOpen(Duration),
    /// The server stops reading at this time (its application is stuck).
    StalledServer(Duration),
    /// An intermediary closes the connection after this much silence in both directions.
    IdleCut(Duration),
}

/// One end: engine, outgoing frame queue, what it received, how it ended.
struct End {
    conn: Connection,
    asm: MessageAssembler,
    /// Encoded frames not yet accepted by the transport; the head may be partly written.
    frames: VecDeque<Vec<u8>>,
    head_written: usize,
    /// Bytes of frames accepted by the transport, and the stream offset at which each of our
    /// messages ends — together they tell which messages were handed over.
    written: u64,
    encoded: u64,
    message_ends: Vec<u64>,
    sent: Vec<Message>,
    received: Vec<Message>,
    closures: Vec<Closure>,
    transport_done: bool,
    /// The closure was taken: shut the transport down once the queue is written.
    closing: bool,
    reading: bool,
    max_queued: usize,
}

impl End {
    fn new(conn: Connection) -> End {
        End {
            conn,
            asm: MessageAssembler::new(),
            frames: VecDeque::new(),
            head_written: 0,
            written: 0,
            encoded: 0,
            message_ends: Vec::new(),
            sent: Vec::new(),
            received: Vec::new(),
            closures: Vec::new(),
            transport_done: false,
            closing: false,
            reading: true,
            max_queued: 0,
        }
    }

    fn queued(&self) -> usize {
        self.frames.iter().map(Vec::len).sum::<usize>() - self.head_written
    }

    /// Pings and Pongs go first, but never into the middle of a partly written frame; a Close
    /// goes after the data queued before it.
    fn queue_control(&mut self, now: Instant) {
        let mut out = vec![0u8; 512];
        let n = self.conn.poll_transmit(&mut out, now);
        let mut at = 0;
        while at < n {
            let Ok(Decoded::Header(h, len)) = FrameHeader::decode(&out[at..n]) else {
                panic!("poll_transmit wrote a broken frame");
            };
            let end = at + len + h.payload_len as usize;
            let frame = out[at..end].to_vec();
            if h.opcode == OpCode::Close {
                self.frames.push_back(frame);
            } else {
                let pos = if self.head_written > 0 { 1 } else { 0 };
                self.frames.insert(pos.min(self.frames.len()), frame);
            }
            at = end;
        }
        self.encoded += n as u64;
    }

    fn send(&mut self, msg: Message) -> bool {
        let frame = match &msg {
            Message::Text(s) => Frame::Text(s),
            Message::Binary(b) => Frame::Binary(b),
            _ => unreachable!(),
        };
        let mut out = vec![0u8; self.conn.frame_len(msg.as_bytes().len())];
        match self.conn.encode(frame, &mut out) {
            Ok(n) => {
                out.truncate(n);
                self.encoded += n as u64;
                self.frames.push_back(out);
                self.message_ends.push(self.encoded);
                self.sent.push(msg);
                true
            }
            Err(_) => false,
        }
    }

    /// Messages whose last byte the transport accepted. Control frames move offsets too, but
    /// only ever before a message's end is recorded, so the offsets stay exact upper bounds.
    fn handed_over(&self) -> usize {
        self.message_ends
            .iter()
            .filter(|end| **end <= self.written)
            .count()
    }

    /// Writes at most `budget` bytes into `link` (bounded by `room`).
    fn write(&mut self, link: &mut VecDeque<u8>, budget: usize, room: usize) -> usize {
        let mut left = budget.min(room);
        let mut total = 0;
        while left > 0 {
            let Some(head) = self.frames.front() else {
                break;
            };
            let n = (head.len() - self.head_written).min(left);
            link.extend(&head[self.head_written..self.head_written + n]);
            self.head_written += n;
            left -= n;
            total += n;
            if self.head_written == head.len() {
                self.frames.pop_front();
                self.head_written = 0;
            }
        }
        self.written += total as u64;
        total
    }

    fn read(&mut self, bytes: &mut [u8], now: Instant) {
        support::feed(
            &mut self.conn,
            &mut self.asm,
            &mut self.received,
            bytes,
            now,
        );
    }

    fn data(&self) -> Vec<Message> {
        support::data(&self.received)
    }
}

struct Sim {
    client: End,
    server: End,
    c2s: VecDeque<u8>,
    s2c: VecDeque<u8>,
    now: Instant,
    rng: Rng,
    fault: Fault,
    last_traffic: Instant,
    /// Socket buffer size per direction.
    link_capacity: usize,
    /// Largest write the transport accepts per tick (short writes when small).
    max_write: usize,
    /// Largest message the workload sends.
    max_message: usize,
    dead: bool,
}

const TICK: Duration = Duration::from_millis(10);

impl Sim {
    fn new(seed: u64, fault: Fault, client: Config, server: Config) -> Sim {
        Sim {
            client: End::new(Connection::client(client, Instant::ZERO, seed)),
            server: End::new(Connection::server(server, Instant::ZERO)),
            c2s: VecDeque::new(),
            s2c: VecDeque::new(),
            now: Instant::ZERO,
            rng: Rng(seed),
            fault,
            last_traffic: Instant::ZERO,
            link_capacity: 64 * 1024,
            max_write: 16 * 1024,
            max_message: 135_000,
            dead: false,
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - Instant::ZERO
    }

    fn random_message(&mut self) -> Message {
        let len = match self.rng.below(10) {
            0 => 0,
            1..=6 => self.rng.below(200) as usize,
            7 | 8 => self.rng.below(5000) as usize,
            _ => 65536 + self.rng.below(70_000) as usize,
        }
        .min(self.max_message);
        if self.rng.below(2) == 0 {
            let s: String = (0..len)
                .map(|i| if i % 7 == 3 { 'é' } else { 'a' })
                .collect();
            Message::Text(s)
        } else {
            Message::Binary((0..len).map(|i| (i * 31 % 251) as u8).collect())
        }
    }

    /// One tick of virtual time: applications send, engines run timers, transports move bytes.
    fn tick(&mut self, workload: bool) {
        self.now = self.now + TICK;
        let now = self.now;
        if workload {
            let server_stuck =
                matches!(self.fault, Fault::StalledServer(at) if self.elapsed() >= at);
            for client in [true, !server_stuck] {
                if self.rng.below(4) == 0 {
                    let msg = self.random_message();
                    let end = if client {
                        &mut self.client
                    } else {
                        &mut self.server
                    };
                    // Backpressure, as an adapter applies it: don't queue more than 256 KiB.
                    if end.queued() < 256 * 1024 {
                        end.send(msg);
                    }
                }
            }
        }
        match self.fault {
            Fault::Reset(at) if !self.dead && self.elapsed() >= at => {
                self.dead = true;
                self.client
                    .conn
                    .handle_transport_error(TransportError::ConnectionReset, now);
                self.server
                    .conn
                    .handle_transport_error(TransportError::ConnectionReset, now);
                self.client.transport_done = true;
                self.server.transport_done = true;
            }
            // The server's application is stuck for 20 s: it neither reads nor runs timers.
            Fault::StalledServer(at) => {
                self.server.reading = !(at..at + Duration::from_secs(20)).contains(&self.elapsed())
            }
            Fault::IdleCut(idle) if !self.dead && now - self.last_traffic >= idle => {
                self.dead = true;
                self.c2s.clear();
                self.s2c.clear();
                for end in [&mut self.client, &mut self.server] {
                    end.conn.handle_eof(now);
                    end.transport_done = true;
                }
            }
            _ => {}
        }
        let blackhole = matches!(self.fault, Fault::HalfOpen(at) if self.elapsed() >= at);
        for client in [true, false] {
            let (end, link) = if client {
                (&mut self.client, &mut self.c2s)
            } else {
                (&mut self.server, &mut self.s2c)
            };
            if !end.reading {
                continue;
            }
            end.conn.handle_timeout(now);
            end.queue_control(now);
            if !end.transport_done {
                let budget = 1 + self.rng.below(self.max_write as u64) as usize;
                let room = self.link_capacity.saturating_sub(link.len());
                let n = end.write(link, budget, room);
                if n > 0 {
                    self.last_traffic = now;
                }
                if end.closing && end.frames.is_empty() {
                    end.transport_done = true;
                }
                if blackhole {
                    link.clear();
                }
            }
            end.max_queued = end.max_queued.max(end.queued());
        }
        for to_server in [true, false] {
            let (end, link, peer_done) = if to_server {
                (&mut self.server, &mut self.c2s, self.client.transport_done)
            } else {
                (&mut self.client, &mut self.s2c, self.server.transport_done)
            };
            if end.transport_done || !end.reading {
                continue;
            }
            if !link.is_empty() {
                let n = 1 + self.rng.below(link.len() as u64) as usize;
                let mut bytes: Vec<u8> = link.drain(..n).collect();
                end.read(&mut bytes, now);
                self.last_traffic = now;
            } else if peer_done && !self.dead && !blackhole {
                end.conn.handle_eof(now);
                end.transport_done = true;
            }
        }
        for end in [&mut self.client, &mut self.server] {
            if let Some(c) = end.conn.poll_closure() {
                end.closures.push(c);
                end.closing = true;
            }
        }
    }

    /// Runs the workload for `busy`, then lets the connection settle for up to `settle`.
    fn run(&mut self, busy: Duration, settle: Duration) {
        while self.elapsed() < busy {
            self.tick(true);
        }
        let end = self.elapsed() + settle;
        while self.elapsed() < end
            && (self.client.closures.is_empty() || self.server.closures.is_empty())
        {
            self.tick(false);
        }
    }

    /// Invariants that hold whatever the fault.
    fn check_common(&self) {
        for (name, end, peer) in [
            ("client", &self.client, &self.server),
            ("server", &self.server, &self.client),
        ] {
            assert_eq!(
                end.closures.len(),
                1,
                "{name}: exactly one closure, got {:?}",
                end.closures
            );
            // What arrived is what the peer sent, in order and intact: a prefix of its messages.
            let got = end.data();
            assert!(got.len() <= peer.sent.len(), "{name}");
            for (i, m) in got.iter().enumerate() {
                assert!(*m == peer.sent[i], "{name}: message {i} differs");
            }
            // Nothing arrives that the peer had not handed to the transport.
            assert!(got.len() <= peer.handed_over(), "{name}");
            // Memory: the sender's queue is bounded by its backpressure limit plus one message.
            assert!(
                end.max_queued < 256 * 1024 + 140_000,
                "{name}: queue grew to {}",
                end.max_queued
            );
        }
    }
}

fn keepalive(interval_ms: u64, timeout_ms: u64) -> Config {
    Config::default().with_keepalive(Some(Keepalive {
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
    }))
}

fn abnormal(c: &Closure) -> (AbnormalCause, Phase) {
    match c.kind() {
        ClosureKind::Abnormal { cause, phase } => (*cause, *phase),
        other => panic!("expected an abnormal closure, got {other:?}"),
    }
}

#[test]
fn short_writes_and_random_reads_lose_nothing() {
    for seed in 0..20 {
        // A slow link: give the closing handshake all the time it needs.
        let slow = Config::default().with_close_timeout(Duration::from_secs(600));
        let mut sim = Sim::new(seed, Fault::None, slow, slow);
        // Writes of 1 to 7 bytes at a time, and messages small enough to get through.
        sim.max_write = 1 + (seed as usize % 7);
        sim.max_message = 40;
        sim.run(Duration::from_secs(2), Duration::ZERO);
        sim.client
            .conn
            .close(CloseCode::NORMAL, "done", sim.now)
            .unwrap();
        sim.run(Duration::ZERO, Duration::from_secs(600));
        sim.check_common();
        assert!(
            sim.server.data() == sim.client.sent,
            "seed {seed}: client to server: {} of {} messages, closures {:?} / {:?}",
            sim.server.data().len(),
            sim.client.sent.len(),
            sim.client.closures,
            sim.server.closures
        );
        assert!(
            sim.client.data() == sim.server.sent,
            "seed {seed}: server to client"
        );
        assert_eq!(sim.client.handed_over(), sim.client.sent.len());
        assert!(
            sim.client.closures[0].is_clean() && sim.server.closures[0].is_clean(),
            "seed {seed}"
        );
    }
}

#[test]
fn reset_gives_1006_with_the_transport_error_on_both_sides() {
    for seed in 0..20 {
        let at = Duration::from_millis(100 + seed * 37);
        let mut sim = Sim::new(seed, Fault::Reset(at), Config::default(), Config::default());
        sim.run(Duration::from_secs(2), Duration::from_secs(1));
        sim.check_common();
        for end in [&sim.client, &sim.server] {
            let (cause, _) = abnormal(&end.closures[0]);
            assert_eq!(
                cause,
                AbnormalCause::Transport(TransportError::ConnectionReset)
            );
            assert_eq!(end.closures[0].code().as_u16(), 1006);
        }
    }
}

#[test]
fn keepalive_detects_a_half_open_link() {
    // interval 2 s + timeout 1 s: detection within 3 s of the last byte received.
    for seed in 0..10 {
        let at = Duration::from_millis(500 + seed * 111);
        let mut sim = Sim::new(
            seed,
            Fault::HalfOpen(at),
            keepalive(2000, 1000),
            keepalive(2000, 1000),
        );
        sim.run(at + Duration::from_secs(1), Duration::from_secs(10));
        sim.check_common();
        for end in [&sim.client, &sim.server] {
            let c = &end.closures[0];
            assert_eq!(abnormal(c).0, AbnormalCause::KeepaliveTimeout);
            assert!(
                c.idle() <= Duration::from_millis(3000) + TICK,
                "idle {:?}",
                c.idle()
            );
            assert!(
                c.idle() >= Duration::from_millis(2000),
                "idle {:?}",
                c.idle()
            );
            println!(
                "seed {seed}: link went silent at {at:?}; detected {:?} after the last inbound byte",
                c.idle()
            );
        }
    }
}

#[test]
fn without_keepalive_an_idle_cutting_proxy_fires_and_the_closure_says_so() {
    let mut sim = Sim::new(
        1,
        Fault::IdleCut(Duration::from_secs(60)),
        Config::default(),
        Config::default(),
    );
    sim.run(Duration::from_secs(1), Duration::from_secs(120));
    sim.check_common();
    for end in [&sim.client, &sim.server] {
        let c = &end.closures[0];
        assert_eq!(abnormal(c).0, AbnormalCause::Eof);
        let idle = c.idle().as_secs();
        assert!((59..=61).contains(&idle), "{idle}");
        assert!(c.to_string().contains("idle timeout"), "{c}");
    }
}

#[test]
fn keepalive_shorter_than_the_proxy_timeout_keeps_the_connection_up() {
    let mut sim = Sim::new(
        2,
        Fault::IdleCut(Duration::from_secs(30)),
        keepalive(20_000, 5000),
        Config::default(),
    );
    sim.run(Duration::from_secs(1), Duration::from_secs(300));
    assert!(sim.client.closures.is_empty() && sim.server.closures.is_empty());
    assert!(!sim.dead);
}

#[test]
fn a_stalled_reader_bounds_memory_and_the_close_times_out() {
    for seed in 0..5 {
        let mut sim = Sim::new(
            seed,
            Fault::StalledServer(Duration::from_millis(300)),
            keepalive(2000, 1000),
            Config::default(),
        );
        sim.run(Duration::from_millis(1500), Duration::ZERO);
        sim.client
            .conn
            .close(CloseCode::GOING_AWAY, "", sim.now)
            .unwrap();
        sim.run(Duration::ZERO, Duration::from_secs(60));
        sim.check_common();
        // The client's Close never gets an answer: once closing, the close timeout (not the
        // keepalive) bounds the wait.
        let (cause, phase) = abnormal(&sim.client.closures[0]);
        assert_eq!(
            (cause, phase),
            (AbnormalCause::CloseTimeout, Phase::AfterCloseSent)
        );
        // When the server's application wakes up, it reads what was buffered: the client's
        // Close if it fit in the socket buffer (and answers it; the server needs nothing more),
        // else the data and then the EOF.
        let server = sim.server.closures[0];
        assert!(
            server.code() == CloseCode::GOING_AWAY
                || matches!(
                    server.kind(),
                    ClosureKind::Abnormal {
                        cause: AbnormalCause::Eof,
                        ..
                    }
                ),
            "{server:?}"
        );
    }
}

#[test]
fn keepalive_does_not_misfire_under_load() {
    // Large messages both ways through a slow link (about 1 MB/s): pings and pongs may wait
    // behind a frame being written, but every inbound byte proves the peer alive.
    let mut sim = Sim::new(7, Fault::None, keepalive(300, 200), keepalive(300, 200));
    sim.max_write = 20_000;
    sim.run(Duration::from_secs(20), Duration::ZERO);
    assert!(sim.client.closures.is_empty() && sim.server.closures.is_empty());
    assert!(sim.server.data().len() > 20);
}
