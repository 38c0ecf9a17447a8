//! embedded-websocket 0.9: frames only (state forced Open): encode masked text + decode.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use embedded_websocket as ws;
use sockeye_footprint::*;

fn run() {
    let mut client = ws::WebSocketClient::new_client(XorShift(black_box(SEED)));
    client.state = ws::WebSocketState::Open; // skip handshake

    let mut frame = [0u8; 64];
    let Ok(n) = client.write(
        ws::WebSocketSendMessageType::Text,
        true,
        black_box(TEXT),
        &mut frame,
    ) else {
        fail(line!())
    };
    check!(n == 2 + 4 + TEXT.len() && frame[0] == 0x81 && frame[1] == 0x80 | TEXT.len() as u8);
    for i in 0..TEXT.len() {
        check!(frame[6 + i] ^ frame[2 + i % 4] == TEXT[i]);
    }

    let mut out = [0u8; 32];
    let Ok(r) = client.read(black_box(SERVER_FRAME), &mut out) else {
        fail(line!())
    };
    check!(r.end_of_message && r.message_type == ws::WebSocketReceiveMessageType::Text);
    check!(&out[..r.len_to] == b"world" && r.len_from == SERVER_FRAME.len());
}

#[entry]
fn main() -> ! {
    measure("ew_frames", run);
    exit(true)
}
