//! `sockeye_client` receiving compressed messages (feature `deflate`): `connect_deflate`
//! offers permessage-deflate with a 512-byte window (`server_max_window_bits=9`,
//! `client_no_context_takeover`), the server accepts, sends two compressed text messages —
//! the second 6 bytes on the wire, back references into the first through the window kept
//! across messages — and the client inflates them without an allocator, sends one text
//! message (uncompressed) and closes. The `InflateStorage` (decompressor state, window,
//! message buffer) is on the stack of the measured closure, so the stack figure includes it.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use rand_core::RngCore;
use sockeye_embedded::{
    connect_deflate, ClientRequest, CloseCode, Config, InflateStorage, Message, Storage,
};
use sockeye_footprint::*;

/// The `101` for the key of `XorShift(SEED)`, accepting the offer.
const RESPONSE_DEFLATE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: yiWTyZ5TYfn3nqZRB0hK8Pd7XaU=\r\n\
Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9; \
client_no_context_takeover\r\n\r\n";

/// What the server sends twice, compressed.
const COMMAND: &str =
    "{\"cmd\":\"set\",\"target\":21.5,\"unit\":\"celsius\",\"ok\":true,\"note\":\"target temperature set\"}";

/// COMMAND twice, compressed by zlib 1.2.13 (Python: `compressobj(6, DEFLATED, -9, 8)`, sync
/// flush, `00 00 ff ff` removed), in two frames with RSV1: 76 bytes, then 6.
const COMPRESSED: &[u8] = &[
    0xc1, 0x4c, 0x24, 0x8c, 0x41, 0x0a, 0x80, 0x30, 0x0c, 0x04, 0xbf, 0x52, //
    0xf6, 0x5c, 0x04, 0x05, 0x2f, 0xf9, 0x4d, 0xa9, 0x41, 0x8a, 0xb6, 0x95, //
    0x34, 0x39, 0x89, 0x7f, 0x37, 0xe2, 0x6d, 0x60, 0x86, 0xb9, 0x91, 0xeb, //
    0x06, 0xc2, 0x60, 0x45, 0x84, 0x26, 0xd9, 0x1d, 0x68, 0x99, 0xa7, 0x35, //
    0xc2, 0x5a, 0x71, 0x46, 0xe6, 0x73, 0x14, 0x1b, 0xae, 0xfb, 0x01, 0x52, //
    0x31, 0x8e, 0x68, 0x5d, 0xd9, 0xd5, 0xdf, 0x07, 0xe5, 0x7a, 0xb1, 0x24, //
    0x35, 0xe1, 0xf0, 0x8d, 0x9e, 0x17, 0xc1, 0x06, 0xaa, 0xa6, 0x89, 0xa9, //
    0x00, 0x00,
];

const SCRIPT_LEN: usize = RESPONSE_DEFLATE.len() + COMPRESSED.len() + SERVER_CLOSE.len();
static SCRIPT: [u8; SCRIPT_LEN] = concat3(RESPONSE_DEFLATE, COMPRESSED, SERVER_CLOSE);

/// The window (512 B: `server_max_window_bits=9`) and the buffer `receive` assembles a
/// message that came out in two pieces in (256 B).
type Inflate = InflateStorage<512, 256>;

async fn run(inflate: &mut Inflate) {
    let mut rng = XorShift(black_box(SEED));
    let mut random = [0u8; 24]; // Sec-WebSocket-Key nonce + mask seed, from the "RNG"
    rng.fill_bytes(&mut random);
    let mut io = Script::new(black_box(&SCRIPT));
    // Receive + transmit buffers, engine state: the request with the offer is 278 bytes.
    let mut storage = Storage::<256, 320>::new();
    let request = ClientRequest::from_parts(black_box("localhost"), black_box("/chat"))
        .with_origin(black_box("http://localhost"));
    let Ok((mut ws, protocol)) = connect_deflate(
        &mut io,
        IdleClock,
        &mut storage,
        inflate,
        request,
        random,
        Config::new(),
    )
    .await
    else {
        fail(line!())
    };
    check!(protocol.is_none() && ws.inflates());

    for _ in 0..2 {
        let Ok(Message::Text(command)) = ws.receive().await else {
            fail(line!())
        };
        check!(command == COMMAND);
    }
    let Ok(()) = ws.send_text(black_box(TEXT_STR)).await else {
        fail(line!())
    };
    let Ok(closure) = ws.close(CloseCode::NORMAL, "").await else {
        fail(line!())
    };
    check!(closure.is_clean() && closure.code() == CloseCode::NORMAL);
    drop(ws);

    // On the wire: the request, one masked text frame without RSV1, a Close with 1000.
    check!(io.count == 3);
    check!(io.writes[0].starts_with(b"GET /chat HTTP/1.1\r\n"));
    let frame = &io.writes[1];
    check!(io.lens[1] == 6 + TEXT.len() && frame[0] == 0x81 && frame[1] == 0x80 | TEXT.len() as u8);
    let close = &io.writes[2];
    check!(io.lens[2] == 8 && close[0] == 0x88 && close[1] == 0x82);
    check!(close[6] ^ close[2] == 0x03 && close[7] ^ close[3] == 0xe8);
}

#[entry]
fn main() -> ! {
    #[cfg(feature = "report")]
    {
        use core::mem::size_of;
        use cortex_m_semihosting::hprintln;
        type Ws<'b> = sockeye_embedded::WebSocket<'b, &'b mut Script, IdleClock>;
        hprintln!(
            "size_of InflateState (decompressor) = {}",
            sockeye_core::inflate::InflateState::SIZE
        );
        hprintln!(
            "size_of InflateStorage<512, 256> (state + window + message buffer) = {}",
            size_of::<Inflate>()
        );
        hprintln!(
            "size_of WebSocket<&mut Script, IdleClock> with deflate = {}",
            size_of::<Ws<'static>>()
        );
    }
    measure("sockeye_client_inflate", || {
        // Built in place in this frame (`new` returns it in its slot): measured with the rest.
        let mut inflate = Inflate::new();
        block_on(run(&mut inflate))
    });
    exit(true)
}
