//! What a typical device does, with sockeye-embedded over an `embedded-io-async` transport:
//! client handshake (build the request, validate the 101 and its Sec-WebSocket-Accept), send
//! one text message, receive one, close with the full closing handshake — with UTF-8
//! validation, the close state machine and the timers linked in.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use rand_core::RngCore;
use sockeye_embedded::{connect, ClientRequest, CloseCode, Config, Message, Storage};
use sockeye_footprint::*;

async fn run() {
    let mut rng = XorShift(black_box(SEED));
    let mut random = [0u8; 24]; // Sec-WebSocket-Key nonce + mask seed, from the "RNG"
    rng.fill_bytes(&mut random);
    let mut io = Script::new(black_box(&SERVER_SCRIPT));
    let mut storage = Storage::<256, 256>::new(); // receive + transmit buffers, engine state
    let request = ClientRequest::from_parts(black_box("localhost"), black_box("/chat"))
        .with_origin(black_box("http://localhost"));
    let Ok((mut ws, protocol)) = connect(
        &mut io,
        IdleClock,
        &mut storage,
        request,
        random,
        Config::new(),
    )
    .await
    else {
        fail(line!())
    };
    check!(protocol.is_none());

    let Ok(()) = ws.send_text(black_box(TEXT_STR)).await else {
        fail(line!())
    };
    let Ok(Message::Text(reply)) = ws.receive().await else {
        fail(line!())
    };
    check!(reply == "world");
    let Ok(closure) = ws.close(CloseCode::NORMAL, "").await else {
        fail(line!())
    };
    check!(closure.is_clean() && closure.code() == CloseCode::NORMAL);
    drop(ws);

    // On the wire: the request, one masked text frame, one masked Close with code 1000.
    check!(io.count == 3);
    check!(io.writes[0].starts_with(b"GET /chat HTTP/1.1\r\n"));
    let frame = &io.writes[1];
    check!(io.lens[1] == 6 + TEXT.len() && frame[0] == 0x81 && frame[1] == 0x80 | TEXT.len() as u8);
    for i in 0..TEXT.len() {
        check!(frame[6 + i] ^ frame[2 + i % 4] == TEXT[i]);
    }
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
            "size_of Connection = {}",
            size_of::<sockeye_core::Connection>()
        );
        hprintln!(
            "size_of WebSocket<&mut Script, IdleClock> = {}",
            size_of::<Ws<'static>>()
        );
        hprintln!(
            "size_of Storage<256, 256> = {}",
            size_of::<sockeye_embedded::Storage<256, 256>>()
        );
        hprintln!("size_of Closure = {}", size_of::<sockeye_core::Closure>());
        hprintln!(
            "size_of future run() (whole workload, incl. its Storage<256, 256>) = {}",
            core::mem::size_of_val(&run())
        );
    }
    measure("sockeye_client", || block_on(run()));
    exit(true)
}
