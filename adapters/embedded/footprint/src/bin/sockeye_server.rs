//! The server role with sockeye-embedded: accept a client (read and validate its upgrade
//! request, answer 101 with the Sec-WebSocket-Accept), receive one text message, send one,
//! and answer the client's Close — what the client firmwares leave out.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use sockeye_embedded::{accept, Accept, CloseCode, Config, Error, Message, Storage};
use sockeye_footprint::*;

/// The client's upgrade request, with the key of RFC 6455 §1.3.
const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\nOrigin: http://localhost\r\n\r\n";
/// A masked text frame "Hello, WebSocket!" (with an all-zero key, so the payload reads as is).
const CLIENT_FRAME: &[u8] = &[
    0x81, 0x91, 0, 0, 0, 0, b'H', b'e', b'l', b'l', b'o', b',', b' ', b'W', b'e', b'b', b'S',
    b'o', b'c', b'k', b'e', b't', b'!',
];
/// A masked Close frame with code 1000.
const CLIENT_CLOSE: &[u8] = &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];
static CLIENT_SCRIPT: [u8; LEN] = concat3(REQUEST, CLIENT_FRAME, CLIENT_CLOSE);
const LEN: usize = REQUEST.len() + CLIENT_FRAME.len() + CLIENT_CLOSE.len();

async fn run() {
    let mut io = Script::new(black_box(&CLIENT_SCRIPT));
    let mut storage = Storage::<256, 256>::new();
    let Ok(mut ws) = accept(&mut io, IdleClock, &mut storage, Config::new(), |request| {
        if request.path() == "/chat" {
            Ok(Accept::new())
        } else {
            fail(line!())
        }
    })
    .await
    else {
        fail(line!())
    };
    let Ok(Message::Text(text)) = ws.receive().await else {
        fail(line!())
    };
    check!(text == TEXT_STR);
    let Ok(()) = ws.send_text(black_box("world")).await else {
        fail(line!())
    };
    let Err(Error::Closed) = ws.receive().await else {
        fail(line!())
    };
    let Some(closure) = ws.closure() else {
        fail(line!())
    };
    check!(closure.is_clean() && closure.code() == CloseCode::NORMAL);

    // On the wire: the 101 response, one unmasked text frame, the Close echoed.
    check!(io.count == 3);
    check!(io.writes[0].starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"[..32].as_ref()));
    check!(io.lens[1] == 7 && io.writes[1][..7] == SERVER_FRAME[..]);
    check!(io.lens[2] == 4 && io.writes[2][..4] == [0x88, 0x02, 0x03, 0xe8]);
}

#[entry]
fn main() -> ! {
    measure("sockeye_server", || block_on(run()));
    exit(true)
}
