//! embedded-websocket 0.9: client handshake (build request + validate 101 response),
//! encode one masked text frame, decode one server text frame.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use embedded_websocket as ws;
use sockeye_footprint::*;

const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: yiWTyZ5TYfn3nqZRB0hK8Pd7XaU=\r\n\r\n";

fn run() {
    let mut client = ws::WebSocketClient::new_client(XorShift(black_box(SEED)));
    let opts = ws::WebSocketOptions {
        path: black_box("/chat"),
        host: black_box("localhost"),
        origin: black_box("http://localhost"),
        sub_protocols: None,
        additional_headers: None,
    };
    let mut buf = [0u8; 256];
    let Ok((req_len, key)) = client.client_connect(&opts, &mut buf) else {
        fail(line!())
    };
    black_box(&buf[..req_len]);
    check!(key.as_str() == "pVqYh6MkWxXE9CBImKyzgQ==");
    check!(buf.starts_with(b"GET /chat HTTP/1.1\r\n"));

    let Ok((_, proto)) = client.client_accept(&key, black_box(RESPONSE)) else {
        fail(line!())
    };
    check!(proto.is_none() && client.state == ws::WebSocketState::Open);

    // encode one text frame (client => masked)
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

    // decode one server frame
    let mut out = [0u8; 32];
    let Ok(r) = client.read(black_box(SERVER_FRAME), &mut out) else {
        fail(line!())
    };
    check!(r.end_of_message && r.message_type == ws::WebSocketReceiveMessageType::Text);
    check!(&out[..r.len_to] == b"world" && r.len_from == SERVER_FRAME.len());
}

#[entry]
fn main() -> ! {
    #[cfg(feature = "report")]
    {
        use core::mem::size_of;
        use cortex_m_semihosting::hprintln;
        hprintln!(
            "size_of WebSocketClient<XorShift> = {}",
            size_of::<ws::WebSocketClient<XorShift>>()
        );
        hprintln!(
            "size_of WebSocketServer           = {}",
            size_of::<ws::WebSocketServer>()
        );
        hprintln!(
            "size_of framer::Framer<XorShift,Client> = {}",
            size_of::<ws::framer::Framer<XorShift, ws::Client>>()
        );
        hprintln!(
            "size_of framer_async::Framer<XorShift,Client> = {}",
            size_of::<ws::framer_async::Framer<XorShift, ws::Client>>()
        );
        hprintln!(
            "size_of WebSocketReadResult       = {}",
            size_of::<ws::WebSocketReadResult>()
        );
        hprintln!(
            "size_of WebSocketKey (String<24>) = {}",
            size_of::<ws::WebSocketKey>()
        );
    }
    measure("ew_client", run);
    exit(true)
}
