//! Client-side encoding: ~16 MiB of binary messages of 16 B, 1 KiB and 64 KiB, each framed and
//! masked (a fresh key per frame) into an output buffer that goes to an in-memory stream.
//!
//! - sockeye: `Connection::encode` into a caller buffer of 128 KiB, handed to the stream
//!   (`Write::write_all`, which counts and drops) whenever the next frame does not fit.
//! - tungstenite: `write` into its write buffer (flushed to the stream as it fills), `flush`
//!   at the end; tokio-tungstenite and tokio-websockets: `Sink::feed`, `flush` at the end;
//!   fastwebsockets: `write_frame` with a borrowed payload (it copies it to mask it).
//! - ceiling: header + one-pass mask-copy of the payload into the buffer, nothing else.
//!
//! Every encoder is first checked to produce exactly the expected number of bytes, sockeye's
//! output is decoded back, and the allocations per message are counted.

mod common;

use std::hint::black_box;
use std::io::Write;

use common::wire::{count_allocs, xor_copy, CountingAlloc, MemStream, DISTINCT, READ_SIZE};
use common::{size_name, CpuTimer, Group, Harness, Kind, Rng};
use sockeye_core::{Config, Connection, Event, Frame, Instant};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct Input {
    payloads: Vec<Vec<u8>>,
    bytes: Vec<tungstenite::Bytes>,
    n: u64,
    size: usize,
}

impl Input {
    fn new(size: usize, total: usize) -> Input {
        let mut rng = Rng(0x5eed_f00d_1234_5678);
        let payloads: Vec<Vec<u8>> = (0..DISTINCT).map(|_| rng.bytes(size)).collect();
        let bytes = payloads.iter().map(|p| p.clone().into()).collect();
        Input {
            payloads,
            bytes,
            n: (total / size).max(16) as u64,
            size,
        }
    }

    /// Bytes on the wire for all the messages, as a client frames them.
    fn wire_len(&self) -> u64 {
        self.n * (self.size + common::payload_offset(self.size)) as u64
    }
}

/// An encoder: frames every message, returns the bytes that reached the stream.
type Encoder<'a> = Box<dyn FnMut(&Input) -> u64 + 'a>;

fn encode_sockeye(inp: &Input, buf: &mut [u8], seed: u64) -> u64 {
    let mut conn = Connection::client(Config::default(), Instant::ZERO, seed);
    let mut stream = MemStream::new(&[]);
    let mut at = 0;
    for i in 0..inp.n as usize {
        let payload = &inp.payloads[i % DISTINCT];
        let n = match conn.encode(Frame::Binary(payload), &mut buf[at..]) {
            Ok(n) => n,
            Err(_) => {
                stream.write_all(&buf[..at]).unwrap();
                at = 0;
                conn.encode(Frame::Binary(payload), buf).unwrap()
            }
        };
        at += n;
    }
    stream.write_all(&buf[..at]).unwrap();
    stream.written
}

fn encode_tungstenite(inp: &Input) -> u64 {
    use tungstenite::protocol::{Role, WebSocket};
    let mut ws = WebSocket::from_raw_socket(MemStream::new(&[]), Role::Client, None);
    for i in 0..inp.n as usize {
        let m = tungstenite::Message::Binary(inp.bytes[i % DISTINCT].clone());
        ws.write(m).unwrap();
    }
    ws.flush().unwrap();
    ws.get_ref().written
}

fn encode_tokio_tungstenite(rt: &tokio::runtime::Runtime, inp: &Input) -> u64 {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::{protocol::Role, Message};
    rt.block_on(async {
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            MemStream::new(&[]),
            Role::Client,
            None,
        )
        .await;
        for i in 0..inp.n as usize {
            let m = Message::Binary(inp.bytes[i % DISTINCT].clone());
            ws.feed(m).await.unwrap();
        }
        ws.flush().await.unwrap();
        ws.get_ref().written
    })
}

fn encode_tokio_websockets(rt: &tokio::runtime::Runtime, inp: &Input) -> u64 {
    use futures_util::SinkExt;
    rt.block_on(async {
        let mut ws = tokio_websockets::ClientBuilder::new().take_over(MemStream::new(&[]));
        for i in 0..inp.n as usize {
            let m = tokio_websockets::Message::binary(inp.bytes[i % DISTINCT].clone());
            ws.feed(m).await.unwrap();
        }
        ws.flush().await.unwrap();
        ws.get_ref().written
    })
}

fn encode_fastwebsockets(rt: &tokio::runtime::Runtime, inp: &Input) -> u64 {
    use fastwebsockets::{Frame, Payload, Role, WebSocket};
    rt.block_on(async {
        let mut ws = WebSocket::after_handshake(MemStream::new(&[]), Role::Client);
        ws.set_auto_close(false);
        for i in 0..inp.n as usize {
            let p = Payload::Borrowed(&inp.payloads[i % DISTINCT]);
            ws.write_frame(Frame::binary(p)).await.unwrap();
        }
        ws.flush().await.unwrap();
        ws.into_inner().written
    })
}

/// The ceiling: the header and a one-pass mask-copy of the payload, straight into the buffer.
fn encode_direct(inp: &Input, buf: &mut [u8]) -> u64 {
    let mut stream = MemStream::new(&[]);
    let mut at = 0;
    let mut key = 0x9e37_79b9u32;
    for i in 0..inp.n as usize {
        let payload = &inp.payloads[i % DISTINCT];
        let len = payload.len();
        let hl = common::payload_offset(len);
        if at + hl + len > buf.len() {
            stream.write_all(&buf[..at]).unwrap();
            at = 0;
        }
        let h = &mut buf[at..at + hl];
        h[0] = 0x82;
        if len < 126 {
            h[1] = 0x80 | len as u8;
        } else if len <= 0xFFFF {
            h[1] = 0x80 | 126;
            h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        } else {
            h[1] = 0x80 | 127;
            h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        }
        key = key.wrapping_mul(0x0101_0101).wrapping_add(0x6d2b_79f5);
        let k = key.to_ne_bytes();
        h[hl - 4..].copy_from_slice(&k);
        let body = &mut buf[at + hl..at + hl + len];
        xor_copy(body, payload, k);
        at += hl + len;
    }
    stream.write_all(&buf[..at]).unwrap();
    stream.written
}

/// Decodes sockeye's output back, as a server, and compares every payload.
fn check_sockeye_round_trip(inp: &Input) {
    let mut conn = Connection::client(Config::default(), Instant::ZERO, 42);
    let mut server = Connection::server(Config::default(), Instant::ZERO);
    let mut wire = vec![0u8; conn.frame_len(inp.size)];
    for i in 0..inp.n.min(2 * DISTINCT as u64) as usize {
        let n = conn
            .encode(Frame::Binary(&inp.payloads[i % DISTINCT]), &mut wire)
            .unwrap();
        let r = server.read(&mut wire[..n], Instant::ZERO);
        match r.event {
            Some(Event::Data(c)) if c.last => {
                assert_eq!(c.payload, &inp.payloads[i % DISTINCT][..])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.consumed, n);
    }
}

fn main() {
    let mut h = Harness::from_env("encode");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let rt = &rt;
    let mut alloc_rows = Vec::new();
    for size in [16usize, 1024, 64 << 10] {
        let inp = &Input::new(size, 16 << 20);
        check_sockeye_round_trip(inp);
        let group_name = format!("encode/binary/{}", size_name(size));
        let mut b1 = vec![0u8; READ_SIZE + 14];
        let mut b2 = vec![0u8; READ_SIZE + 14];
        let mut seed = 1u64;
        let mut encoders: Vec<(&str, Kind, Encoder)> = vec![
            (
                "sockeye (encode into a 128 KiB caller buffer)",
                Kind::Sockeye,
                Box::new(|inp: &Input| {
                    seed += 1;
                    encode_sockeye(inp, &mut b1, seed)
                }),
            ),
            ("tungstenite", Kind::Other, Box::new(encode_tungstenite)),
            (
                "tokio-tungstenite",
                Kind::Other,
                Box::new(|inp: &Input| encode_tokio_tungstenite(rt, inp)),
            ),
            (
                "tokio-websockets",
                Kind::Other,
                Box::new(|inp: &Input| encode_tokio_websockets(rt, inp)),
            ),
            (
                "fastwebsockets",
                Kind::Other,
                Box::new(|inp: &Input| encode_fastwebsockets(rt, inp)),
            ),
            (
                "header + one-pass mask-copy into the buffer",
                Kind::Ceiling,
                Box::new(|inp: &Input| encode_direct(inp, &mut b2)),
            ),
        ];
        encoders.retain(|(name, _, _)| h.selected(&group_name, name));
        if encoders.is_empty() {
            continue;
        }
        let mut g = Group::new(group_name.clone(), inp.n * size as u64, inp.n);
        for (name, kind, e) in &mut encoders {
            assert_eq!(e(inp), inp.wire_len(), "{name}: bytes written");
            let (_, allocs) = count_allocs(|| e(inp));
            let per = allocs as f64 / inp.n as f64;
            alloc_rows.push(format!("| {group_name} | {name} | {per:.3} |"));
            if *kind == Kind::Sockeye {
                assert_eq!(allocs, 0, "sockeye allocated while encoding");
            }
        }
        for (name, kind, mut e) in encoders {
            g.add_timed(name, kind, move |iters| {
                let t = CpuTimer::start();
                for _ in 0..iters {
                    black_box(e(inp));
                }
                t.elapsed()
            });
        }
        h.run(g);
    }
    h.notes.push(format!(
        "Allocations per message (a counting global allocator, one counted run of each encoder; setup included):\n\n| group | encoder | allocs/msg |\n|---|---|---:|\n{}",
        alloc_rows.join("\n")
    ));
    h.finish();
}
