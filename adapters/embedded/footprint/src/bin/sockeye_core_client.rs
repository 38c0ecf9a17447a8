//! sockeye-core alone, the same job as `ew_client` (no I/O): build the request, validate the
//! 101 response and its Sec-WebSocket-Accept, encode one masked text frame, decode one server
//! frame — with the engine's UTF-8 validation and state machine.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use rand_core::RngCore;
use sockeye_core::handshake::{ClientHandshake, ClientRequest};
use sockeye_core::{Config, Connection, Event, Frame, Instant, MessageKind};
use sockeye_footprint::*;

fn run() {
    let mut rng = XorShift(black_box(SEED));
    let mut nonce = [0u8; 16];
    rng.fill_bytes(&mut nonce);
    let request = ClientRequest::from_parts(black_box("localhost"), black_box("/chat"))
        .with_origin(black_box("http://localhost"));
    let mut handshake: ClientHandshake = ClientHandshake::new(request, nonce);
    let mut buf = [0u8; 256];
    let Ok(req_len) = handshake.write_request(&mut buf) else {
        fail(line!())
    };
    black_box(&buf[..req_len]);
    check!(handshake.key() == "pVqYh6MkWxXE9CBImKyzgQ==");
    check!(buf.starts_with(b"GET /chat HTTP/1.1\r\n"));
    let Ok(Some(response)) = handshake.read_response(black_box(RESPONSE)) else {
        fail(line!())
    };
    check!(response.protocol().is_none() && response.remainder().is_empty());

    let mut conn = Connection::client(Config::new(), Instant::ZERO, rng.next_u64());
    // encode one text frame (client => masked)
    let mut frame = [0u8; 64];
    let Ok(n) = conn.encode(Frame::Text(black_box(TEXT_STR)), &mut frame) else {
        fail(line!())
    };
    check!(n == 2 + 4 + TEXT.len() && frame[0] == 0x81 && frame[1] == 0x80 | TEXT.len() as u8);
    for i in 0..TEXT.len() {
        check!(frame[6 + i] ^ frame[2 + i % 4] == TEXT[i]);
    }

    // decode one server frame (unmasked in place, so it is read from a mutable copy)
    let mut input = [0u8; 32];
    input[..SERVER_FRAME.len()].copy_from_slice(black_box(SERVER_FRAME));
    let read = conn.read(&mut input[..SERVER_FRAME.len()], Instant::ZERO);
    check!(read.consumed == SERVER_FRAME.len());
    let Some(Event::Data(chunk)) = read.event else {
        fail(line!())
    };
    check!(
        chunk.kind == MessageKind::Text && chunk.first && chunk.last && chunk.payload == b"world"
    );
}

#[entry]
fn main() -> ! {
    measure("sockeye_core_client", run);
    exit(true)
}
