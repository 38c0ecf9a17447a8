//! The example of `adapters/embedded/README.md`, kept here so that it is type-checked:
//! `cargo check --features readme --example readme` (it is not run: it needs a network
//! driver and a time driver). Keep the two in sync.
#![no_std]
#![no_main]
#![allow(dead_code)] // the task is never spawned: there is no network here

use panic_semihosting as _;

// --- README example begins ---
use core::time::Duration;

use embassy_futures::select::{select, Either};
use embassy_net::tcp::TcpSocket;
use embassy_net::{Ipv4Address, Stack};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::channel::Receiver;
use sockeye_embedded::{
    connect, ClientRequest, CloseCode, Config, EmbassyClock, Error, Keepalive, Message, Storage,
    Url,
};
use static_cell::ConstStaticCell;

/// Buffers (2 KiB in, 512 B out) and engine state, placed in RAM at build time.
static STORAGE: ConstStaticCell<Storage<2048, 512>> = ConstStaticCell::new(Storage::new());

#[embassy_executor::task]
async fn telemetry(
    stack: Stack<'static>,
    readings: Receiver<'static, NoopRawMutex, f32, 4>,
    random: [u8; 24], // from the chip's RNG: the handshake key and the masking seed
) {
    let (mut rx, mut tx) = ([0; 1024], [0; 1024]);
    let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
    if socket
        .connect((Ipv4Address::new(192, 168, 1, 10), 8080))
        .await
        .is_err()
    {
        return;
    }
    let url = Url::parse("ws://192.168.1.10:8080/telemetry").unwrap();
    let config = Config::new()
        .with_max_message_size(2048) // larger messages are refused with 1009
        .with_keepalive(Some(Keepalive {
            interval: Duration::from_secs(20), // below any proxy's idle timeout
            timeout: Duration::from_secs(10),
        }));
    let storage = STORAGE.take();
    let request = ClientRequest::new(&url);
    let Ok((mut ws, _)) =
        connect(&mut socket, EmbassyClock, storage, request, random, config).await
    else {
        return; // refused, not a WebSocket server, or the network failed
    };
    loop {
        // Keeping `receive` pending runs the keepalive and answers the server's pings.
        match select(ws.receive(), readings.receive()).await {
            Either::First(Ok(Message::Text(command))) => handle(command),
            Either::First(Ok(Message::Binary(_))) => {}
            Either::First(Err(Error::Closed)) => break,
            Either::First(Err(_)) => {} // a message too large for the buffer was dropped
            Either::Second(celsius) => {
                let mut text = [0u8; 16];
                if ws.send_text(format(celsius, &mut text)).await.is_err() {
                    break;
                }
            }
        }
    }
    // How it ended: clean (with the server's code and reason), failed, or 1006 with its cause
    // (EOF, reset, keepalive timeout) and where in the protocol it happened.
    if let Some(closure) = ws.closure() {
        report(closure.code(), closure.is_clean());
    } else {
        let _ = ws.close(CloseCode::GOING_AWAY, "shutting down").await;
    }
    socket.close();
    // Dropped at once, the socket would leave the stack with its FIN unsent: wait until the
    // server has acknowledged it (embassy-net's flush covers the FIN after close).
    let _ = socket.flush().await;
}
// --- README example ends ---

fn handle(_command: &str) {}

fn report(_code: CloseCode, _clean: bool) {}

fn format(celsius: f32, out: &mut [u8; 16]) -> &str {
    let tenths = (celsius * 10.0) as i32;
    let mut n = 0;
    for b in [
        b'0' + (tenths / 100 % 10) as u8,
        b'0' + (tenths / 10 % 10) as u8,
        b'.',
        b'0' + (tenths % 10) as u8,
    ] {
        out[n] = b;
        n += 1;
    }
    core::str::from_utf8(&out[..n]).unwrap_or("")
}

#[embassy_executor::main]
async fn main(_spawner: embassy_executor::Spawner) {}
