//! sockeye-core frames only, the same job as `ew_frames`: encode a masked text frame and
//! decode a server frame on an open connection (no handshake).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use sockeye_core::{Config, Connection, Event, Frame, Instant, MessageKind};
use sockeye_footprint::*;

fn run() {
    let mut conn = Connection::client(Config::new(), Instant::ZERO, black_box(SEED) as u64);
    let mut frame = [0u8; 64];
    let Ok(n) = conn.encode(Frame::Text(black_box(TEXT_STR)), &mut frame) else {
        fail(line!())
    };
    check!(n == 2 + 4 + TEXT.len() && frame[0] == 0x81 && frame[1] == 0x80 | TEXT.len() as u8);
    for i in 0..TEXT.len() {
        check!(frame[6 + i] ^ frame[2 + i % 4] == TEXT[i]);
    }

    let mut input = [0u8; 32];
    input[..SERVER_FRAME.len()].copy_from_slice(black_box(SERVER_FRAME));
    let read = conn.read(&mut input[..SERVER_FRAME.len()], Instant::ZERO);
    check!(read.consumed == SERVER_FRAME.len());
    let Some(Event::Data(chunk)) = read.event else {
        fail(line!())
    };
    check!(chunk.kind == MessageKind::Text && chunk.last && chunk.payload == b"world");
}

#[entry]
fn main() -> ! {
    measure("sockeye_frames", run);
    exit(true)
}
