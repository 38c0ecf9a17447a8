//! Decoding masked client frames from memory, server role: ~16 MiB of pre-encoded frames of
//! 16 B, 1 KiB and 64 KiB (binary, and text for the UTF-8 cost), a different masking key per
//! frame.
//!
//! - sockeye: the engine is fed the stream in 128 KiB reads (`Read::read` into one buffer, as
//!   an adapter does) and hands out each payload unmasked in place, borrowed from that buffer.
//! - the other crates read the same bytes from the same in-memory stream (std `Read` for
//!   tungstenite, tokio `AsyncRead` on a current-thread runtime for the rest).
//! - ceiling: a minimal header parse + one-pass unmask-copy straight from the buffer (every
//!   byte touched once, no stream); context: the bare stream read in 128 KiB reads, and a
//!   minimal streamed decoder (128 KiB reads, header parse, in-place unmask, nothing else).
//!
//! Every decoder is first checked to return exactly the encoded payloads; the allocations per
//! message of each are counted (sockeye must make none).

mod common;

use std::hint::black_box;
use std::io::Read;

use common::wire::{count_allocs, xor_copy, Corpus, CountingAlloc, MemStream, DISTINCT, READ_SIZE};
use common::{size_name, CpuTimer, Group, Harness, Kind};
use sockeye_core::{Config, Connection, Event, Instant, MessageKind};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Receives every payload (possibly in pieces) as it is decoded; `last` marks a message's end.
type Sink<'s> = &'s mut dyn FnMut(&[u8], bool);

/// A decoder: reads every message of the corpus, hands the payloads to the sink, returns the
/// number of messages.
type Decoder<'a> = Box<dyn FnMut(&Corpus, Sink) -> u64 + 'a>;

fn decode_sockeye(c: &Corpus, buf: &mut [u8], sink: Sink) -> u64 {
    let mut stream = MemStream::new(&c.wire);
    let mut conn = Connection::server(Config::default(), Instant::ZERO);
    let want = if c.text {
        MessageKind::Text
    } else {
        MessageKind::Binary
    };
    let mut count = 0;
    loop {
        let n = stream.read(buf).unwrap();
        if n == 0 {
            break;
        }
        let mut pos = 0;
        loop {
            let read = conn.read(&mut buf[pos..n], Instant::ZERO);
            pos += read.consumed;
            match read.event {
                Some(Event::Data(chunk)) => {
                    assert!(chunk.kind == want);
                    sink(chunk.payload, chunk.last);
                    count += chunk.last as u64;
                }
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            }
        }
    }
    count
}

fn decode_tungstenite(c: &Corpus, sink: Sink) -> u64 {
    use tungstenite::protocol::{Role, WebSocket};
    let mut ws = WebSocket::from_raw_socket(MemStream::new(&c.wire), Role::Server, None);
    for _ in 0..c.n {
        match ws.read().expect("tungstenite read") {
            tungstenite::Message::Binary(b) => sink(&b, true),
            tungstenite::Message::Text(t) => sink(t.as_bytes(), true),
            m => panic!("unexpected {m:?}"),
        }
    }
    c.n
}

fn decode_tokio_tungstenite(rt: &tokio::runtime::Runtime, c: &Corpus, sink: Sink) -> u64 {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::{protocol::Role, Message};
    rt.block_on(async {
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            MemStream::new(&c.wire),
            Role::Server,
            None,
        )
        .await;
        for _ in 0..c.n {
            match ws
                .next()
                .await
                .expect("ended")
                .expect("tokio-tungstenite read")
            {
                Message::Binary(b) => sink(&b, true),
                Message::Text(t) => sink(t.as_bytes(), true),
                m => panic!("unexpected {m:?}"),
            }
        }
    });
    c.n
}

fn decode_tokio_websockets(rt: &tokio::runtime::Runtime, c: &Corpus, sink: Sink) -> u64 {
    use futures_util::StreamExt;
    rt.block_on(async {
        let mut ws = tokio_websockets::ServerBuilder::new().serve(MemStream::new(&c.wire));
        for _ in 0..c.n {
            let m = ws
                .next()
                .await
                .expect("ended")
                .expect("tokio-websockets read");
            if c.text {
                sink(m.as_text().expect("text").as_bytes(), true);
            } else {
                assert!(m.is_binary());
                sink(m.as_payload(), true);
            }
        }
    });
    c.n
}

fn decode_fastwebsockets(
    rt: &tokio::runtime::Runtime,
    c: &Corpus,
    collector: bool,
    sink: Sink,
) -> u64 {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    let want = if c.text { OpCode::Text } else { OpCode::Binary };
    rt.block_on(async {
        let ws = WebSocket::after_handshake(MemStream::new(&c.wire), Role::Server);
        if collector {
            let mut ws = FragmentCollector::new(ws);
            for _ in 0..c.n {
                let f = ws.read_frame().await.expect("fastwebsockets read");
                assert!(f.opcode == want);
                sink(&f.payload, true);
            }
        } else {
            let mut ws = ws;
            for _ in 0..c.n {
                let f = ws.read_frame().await.expect("fastwebsockets read");
                assert!(f.opcode == want && f.fin);
                sink(&f.payload, true);
            }
        }
    });
    c.n
}

/// Header of a masked single-frame message at the start of `w`: (header length with the key,
/// payload length, key).
#[inline(always)]
fn parse_header(w: &[u8]) -> Option<(usize, usize, [u8; 4])> {
    let b1 = *w.get(1)?;
    let (len, hl) = match b1 & 0x7f {
        126 => (u16::from_be_bytes([*w.get(2)?, *w.get(3)?]) as usize, 4),
        127 => (
            u64::from_be_bytes(w.get(2..10)?.try_into().unwrap()) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let key = w.get(hl..hl + 4)?;
    Some((hl + 4, len, [key[0], key[1], key[2], key[3]]))
}

/// The ceiling: header parse straight on the corpus and one pass that writes the unmasked
/// payload into a reusable buffer — the least work any decoder has to do.
fn decode_direct(c: &Corpus, out: &mut Vec<u8>, sink: Sink) -> u64 {
    let w = &c.wire[..];
    let mut p = 0;
    let mut count = 0;
    while let Some((hl, len, key)) = parse_header(&w[p..]) {
        let start = p + hl;
        out.resize(len, 0);
        xor_copy(out, &w[start..start + len], key);
        sink(out, true);
        p = start + len;
        count += 1;
    }
    count
}

/// A minimal streamed decoder: 128 KiB reads, header parse, in-place unmask (sockeye's
/// `apply_mask`), nothing else — no validation, no UTF-8, no control frames.
fn decode_minimal(c: &Corpus, buf: &mut [u8], sink: Sink) -> u64 {
    let mut s = MemStream::new(&c.wire);
    let (mut start, mut end) = (0, 0);
    let (mut rem, mut off, mut key) = (0usize, 0usize, [0u8; 4]);
    let mut count = 0;
    loop {
        if rem == 0 {
            if let Some((hl, len, k)) = parse_header(&buf[start..end]) {
                if len == 0 {
                    sink(&[], true);
                    count += 1;
                }
                (start, rem, off, key) = (start + hl, len, 0, k);
                continue;
            }
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
            let n = s.read(&mut buf[end..]).unwrap();
            if n == 0 {
                return count;
            }
            end += n;
            continue;
        }
        if start == end {
            start = 0;
            end = s.read(buf).unwrap();
            if end == 0 {
                return count;
            }
        }
        let n = rem.min(end - start);
        sockeye_core::mask::apply_mask(&mut buf[start..start + n], key, off);
        rem -= n;
        sink(&buf[start..start + n], rem == 0);
        start += n;
        off += n;
        count += (rem == 0) as u64;
    }
}

/// The data-movement ceiling for stream-fed decoders: pull the stream through 128 KiB reads.
fn read_only(c: &Corpus, buf: &mut [u8]) -> u64 {
    let mut s = MemStream::new(&c.wire);
    let mut total = 0;
    loop {
        let n = s.read(buf).unwrap();
        if n == 0 {
            return total;
        }
        total += black_box(&buf[..n]).len() as u64;
    }
}

/// Checks a decoder against the encoded payloads; returns its allocations per message.
fn verify(name: &str, c: &Corpus, d: &mut Decoder) -> f64 {
    let mut i = 0usize;
    let mut bad = 0usize;
    let mut partial: Vec<u8> = Vec::with_capacity(c.size);
    let mut sink = |p: &[u8], last: bool| {
        if !last || !partial.is_empty() {
            partial.extend_from_slice(p);
            if !last {
                return;
            }
            if partial[..] != c.payloads[i % DISTINCT][..] {
                bad += 1;
            }
            partial.clear();
        } else if p != &c.payloads[i % DISTINCT][..] {
            bad += 1;
        }
        i += 1;
    };
    let n = d(c, &mut sink);
    assert_eq!(n, c.n, "{name}: message count");
    assert_eq!(i as u64, c.n, "{name}: payloads seen");
    assert_eq!(
        bad, 0,
        "{name}: {bad} payloads differ from what was encoded"
    );
    // A second, counted run, with a sink that does not allocate.
    let (_, allocs) = count_allocs(|| {
        d(c, &mut |p, _| {
            black_box(p);
        })
    });
    allocs as f64 / c.n as f64
}

fn main() {
    let mut h = Harness::from_env("decode");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let rt = &rt;
    let mut alloc_rows = Vec::new();
    for text in [false, true] {
        for size in [16usize, 1024, 64 << 10] {
            let c = &Corpus::new(size, 16 << 20, text);
            let kind = if text { "text" } else { "binary" };
            let group_name = format!("decode/{kind}/{}", size_name(size));
            let mut b1 = vec![0u8; READ_SIZE];
            let mut b2 = vec![0u8; READ_SIZE];
            let mut b3 = vec![0u8; READ_SIZE];
            let mut out = Vec::with_capacity(size);
            let mut decoders: Vec<(&str, Kind, Decoder)> = vec![
                (
                    "sockeye (128 KiB reads, payload borrowed)",
                    Kind::Sockeye,
                    Box::new(|c: &Corpus, s: Sink| decode_sockeye(c, &mut b1, s)),
                ),
                ("tungstenite", Kind::Other, Box::new(decode_tungstenite)),
                (
                    "tokio-tungstenite",
                    Kind::Other,
                    Box::new(|c: &Corpus, s: Sink| decode_tokio_tungstenite(rt, c, s)),
                ),
                (
                    "tokio-websockets",
                    Kind::Other,
                    Box::new(|c: &Corpus, s: Sink| decode_tokio_websockets(rt, c, s)),
                ),
                (
                    "fastwebsockets (WebSocket)",
                    Kind::Other,
                    Box::new(|c: &Corpus, s: Sink| decode_fastwebsockets(rt, c, false, s)),
                ),
                (
                    "fastwebsockets (FragmentCollector)",
                    Kind::Other,
                    Box::new(|c: &Corpus, s: Sink| decode_fastwebsockets(rt, c, true, s)),
                ),
                (
                    "minimal streamed decoder: 128 KiB reads, header, in-place unmask",
                    Kind::Info,
                    Box::new(|c: &Corpus, s: Sink| decode_minimal(c, &mut b2, s)),
                ),
                (
                    "one-pass header parse + unmask-copy, no stream",
                    Kind::Ceiling,
                    Box::new(|c: &Corpus, s: Sink| decode_direct(c, &mut out, s)),
                ),
            ];
            let mut g = Group::new(group_name.clone(), c.bytes(), c.n);
            g.add("stream read only, 128 KiB reads", Kind::Info, move || {
                read_only(c, &mut b3)
            });
            decoders.retain(|(name, _, _)| h.selected(&group_name, name));
            if decoders.is_empty() {
                continue;
            }
            for (name, kind, d) in &mut decoders {
                let allocs = verify(name, c, d);
                alloc_rows.push(format!("| {group_name} | {name} | {allocs:.3} |"));
                if *kind == Kind::Sockeye {
                    assert_eq!(allocs, 0.0, "sockeye allocated while decoding");
                }
            }
            for (name, kind, mut d) in decoders {
                g.add_timed(name, kind, move |iters| {
                    let mut acc = 0u64;
                    let mut sink = |p: &[u8], _last: bool| {
                        acc = acc
                            .wrapping_add(p.len() as u64 + p.first().copied().unwrap_or(0) as u64)
                    };
                    let t = CpuTimer::start();
                    for _ in 0..iters {
                        black_box(d(c, &mut sink));
                    }
                    let e = t.elapsed();
                    black_box(acc);
                    e
                });
            }
            h.run(g);
        }
    }
    h.notes.push(format!(
        "Allocations per message (a counting global allocator, second run of each decoder; setup included):\n\n| group | decoder | allocs/msg |\n|---|---|---:|\n{}",
        alloc_rows.join("\n")
    ));
    h.finish();
}
