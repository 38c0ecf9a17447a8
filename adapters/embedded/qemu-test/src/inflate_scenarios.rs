//! permessage-deflate on the device (feature `deflate`): a client made with `connect_deflate`
//! receives compressed messages from a scripted server whose frames a real deflater produced
//! on the host ([`inflate_frames`](crate::inflate_frames): zlib, raw DEFLATE, 2^9 window).
//!
//! The server is a scripted transport ([`Scripted`]) rather than a second `WebSocket` over a
//! pipe, so that the scenarios fit a Cortex-M0 with 16 KiB of RAM next to the inflater's
//! 10.5 KB of state: it checks the request's offer, hands out the canned `101` and frames in
//! pieces, and keeps the client's Close.
//! Like [`scenarios`](crate::scenarios), each `async fn` panics on failure and runs both on the
//! host (`tests/inflate.rs`) and under QEMU (`qemu-test/tests/inflate.rs`).

use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
use sockeye_core::{Initiator, ProtocolError};
use sockeye_embedded::{
    connect_deflate, ClientRequest, CloseCode, Closure, ClosureKind, Config, Error, Event,
    InflateStorage, Message, MessageKind, Storage, Url, WebSocket,
};

use crate::inflate_frames::{
    BAD_UTF8, BIG, FIRST, FIRST_FRAME, FRAGMENTED, GARBAGE, OVER_LIMIT, PLAIN, RESPONSE,
    RSV1_ON_CONTINUATION, SESSION, UTF8,
};
use crate::sim::TickClock;

/// The client's receive buffer.
pub const RX: usize = 256;
/// The client's transmit buffer (the request with the offer fits).
pub const TX: usize = 256;
/// The inflate window: 512 bytes, so the client offers `server_max_window_bits=9`.
pub const WINDOW: usize = 512;
/// The message buffer `receive` assembles multi-piece inflated messages in.
pub const MESSAGE: usize = 256;
/// The client's random bytes (the key the canned response answers).
const RANDOM: [u8; 24] = *b"0123456789abcdef-masks!!";
/// The offer `connect_deflate` must make for a 512-byte window.
const OFFER: &[u8] =
    b"permessage-deflate; client_no_context_takeover; server_max_window_bits=9\r\n";
/// A server's Close with 1000, its answer to the client's.
pub const CLOSE_1000: &[u8] = &[0x88, 0x02, 0x03, 0xe8];

/// The client.
pub type Ws<'b, 's> = WebSocket<'b, &'b mut Scripted<'s>, &'b TickClock>;

/// A virtual clock ticking 1 ms per idle poll.
pub fn clock() -> TickClock {
    TickClock::new(core::time::Duration::from_millis(1))
}

/// The scripted server as a transport: reads give the client `parts` one after the other (the
/// canned `101`, frames, the server's Close), at most `chunk` bytes at a time, then EOF; writes
/// are checked as they come — the request must carry the offer — and the first bytes the
/// client writes after its request head (its Close frame) are kept.
///
/// No second `WebSocket` and no pipe buffers: next to the inflater's 10.5 KB of state this is
/// what fits a Cortex-M0 with 16 KiB of RAM.
pub struct Scripted<'s> {
    parts: [&'s [u8]; 4],
    part: usize,
    pos: usize,
    chunk: usize,
    /// How much of `OFFER` the request matched so far (`OFFER.len()`: all of it).
    offer: usize,
    /// How much of the head's final `\r\n\r\n` the request matched (4: the head is over).
    head: usize,
    /// The first bytes written after the head.
    after: [u8; 8],
    after_len: usize,
}

impl<'s> Scripted<'s> {
    /// A server that sends `parts` in pieces of at most `chunk` bytes.
    pub fn new(parts: [&'s [u8]; 4], chunk: usize) -> Self {
        Scripted {
            parts,
            part: 0,
            pos: 0,
            chunk,
            offer: 0,
            head: 0,
            after: [0; 8],
            after_len: 0,
        }
    }

    /// The code of the Close frame the client wrote after its request (masked, §5.3), after
    /// checking that the request offered permessage-deflate with a 2^9 window.
    pub fn close_code(&self) -> u16 {
        assert_eq!(
            self.offer,
            OFFER.len(),
            "the request offers permessage-deflate, 2^9"
        );
        assert_eq!(self.after_len, 8, "the client's Close frame");
        let a = &self.after;
        assert_eq!(a[0], 0x88, "a Close frame with FIN");
        assert!(a[1] & 0x80 != 0 && a[1] & 0x7f >= 2, "masked, with a code");
        u16::from_be_bytes([a[6] ^ a[2], a[7] ^ a[3]])
    }
}

impl ErrorType for Scripted<'_> {
    type Error = ErrorKind;
}

impl Read for Scripted<'_> {
    async fn read(&mut self, out: &mut [u8]) -> Result<usize, ErrorKind> {
        while let Some(part) = self.parts.get(self.part) {
            let rest = part.get(self.pos..).unwrap_or(&[]);
            if rest.is_empty() {
                self.part += 1;
                self.pos = 0;
                continue;
            }
            let n = rest.len().min(out.len()).min(self.chunk);
            out[..n].copy_from_slice(&rest[..n]);
            self.pos += n;
            return Ok(n);
        }
        Ok(0)
    }
}

impl Write for Scripted<'_> {
    async fn write(&mut self, data: &[u8]) -> Result<usize, ErrorKind> {
        for &b in data {
            if self.head == 4 {
                if self.after_len < self.after.len() {
                    self.after[self.after_len] = b;
                    self.after_len += 1;
                }
                continue;
            }
            self.head = match (b, self.head) {
                (b'\r', 0 | 2) | (b'\n', 1 | 3) => self.head + 1,
                (b'\r', _) => 1,
                _ => 0,
            };
            if self.offer < OFFER.len() {
                // `p` occurs once in OFFER: restarting the match at it cannot miss one.
                self.offer = if b == OFFER[self.offer] {
                    self.offer + 1
                } else {
                    usize::from(b == OFFER[0])
                };
            }
        }
        Ok(data.len())
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

/// `connect_deflate` with the scenarios' URL and randomness; the server must accept.
pub async fn connect<'b, 's>(
    io: &'b mut Scripted<'s>,
    clock: &'b TickClock,
    storage: &'b mut Storage<RX, TX>,
    inflate: &'b mut InflateStorage<WINDOW, MESSAGE>,
    config: Config,
) -> Ws<'b, 's> {
    let url = Url::parse("ws://device.local/feed").unwrap();
    let (ws, protocol) = connect_deflate(
        io,
        clock,
        storage,
        inflate,
        ClientRequest::new(&url),
        RANDOM,
        config,
    )
    .await
    .unwrap();
    assert_eq!(protocol, None);
    assert!(ws.inflates(), "the server accepted permessage-deflate");
    ws
}

/// Receives the next message with `receive_event`, checking its chunks against `expected`
/// as they come (no buffer for the whole message); returns how many chunks it came in.
async fn stream_and_compare(ws: &mut Ws<'_, '_>, kind: MessageKind, expected: &[u8]) -> usize {
    let (mut at, mut chunks) = (0, 0);
    loop {
        let Event::Data(chunk) = ws.receive_event().await.unwrap() else {
            continue;
        };
        assert_eq!(chunk.kind, kind);
        assert_eq!(chunk.first, at == 0);
        assert_eq!(chunk.rsv, 0b100, "delivered as compressed (RSV1)");
        assert!(chunk.payload.len() <= WINDOW);
        assert_eq!(chunk.payload, &expected[at..at + chunk.payload.len()]);
        at += chunk.payload.len();
        chunks += 1;
        if chunk.last {
            assert_eq!(at, expected.len());
            return chunks;
        }
    }
}

/// Several compressed messages with context takeover (the second is 6 bytes on the wire: back
/// references into the first), one three windows long, an uncompressed one between them, a
/// compressed message in three frames, and text with multi-byte UTF-8 twice; then a clean
/// close, the client's Close with 1000 on the wire.
///
/// `inflate` is the caller's (on a Cortex-M0 with 16 KiB of RAM it is built in place in the
/// firmware's `main`: 11.3 KB).
pub async fn inflate_messages_with_context_takeover(inflate: &mut InflateStorage<WINDOW, MESSAGE>) {
    let clock = clock();
    let mut server = Scripted::new([RESPONSE, SESSION, CLOSE_1000, &[]], 37);
    let mut storage = Storage::<RX, TX>::new();
    let config = Config::new().with_max_message_size(2048);
    let mut ws = connect(&mut server, &clock, &mut storage, inflate, config).await;
    // In one piece from the window: `receive` hands it out where it lies.
    assert_eq!(ws.receive().await.unwrap(), Message::Text(FIRST));
    // The same message again, inflated from 6 bytes through the carried-over window.
    assert_eq!(ws.receive().await.unwrap(), Message::Text(FIRST));
    // 1500 bytes through a 512-byte window: several chunks, never wrapped.
    assert!(stream_and_compare(&mut ws, MessageKind::Binary, BIG).await >= 3);
    // Uncompressed (RSV1 clear) between compressed messages: allowed per message.
    assert_eq!(ws.receive().await.unwrap(), Message::Text(PLAIN));
    // Three frames, RSV1 on the first only.
    stream_and_compare(&mut ws, MessageKind::Text, FRAGMENTED.as_bytes()).await;
    // Multi-byte UTF-8, validated after inflation. It starts 452 bytes into the window, so it
    // comes out in two pieces: `receive` assembles them in the message buffer.
    assert_eq!(ws.receive().await.unwrap(), Message::Text(UTF8));
    // The same again, inflated from where the previous one wrapped to.
    assert_eq!(ws.receive().await.unwrap(), Message::Text(UTF8));
    let closure = ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(server.close_code(), 1000);
    assert!(closure.is_clean());
    assert!(matches!(
        closure.kind(),
        ClosureKind::Clean {
            initiator: Initiator::Local,
            ..
        }
    ));
}

/// One connection that receives FIRST, then `frames`, and must fail with `error`: the client's
/// Close with the error's code goes out on the wire, and the closure says so.
async fn fails_with(
    inflate: &mut InflateStorage<WINDOW, MESSAGE>,
    frames: &[u8],
    max_message_size: u64,
    error: ProtocolError,
    code: u16,
) {
    let clock = clock();
    // The server's answer to the client's Close, with the same code.
    let [hi, lo] = code.to_be_bytes();
    let reply = [0x88, 0x02, hi, lo];
    let mut server = Scripted::new([RESPONSE, FIRST_FRAME, frames, &reply], 29);
    let mut storage = Storage::<RX, TX>::new();
    let config = Config::new().with_max_message_size(max_message_size);
    let mut ws = connect(&mut server, &clock, &mut storage, inflate, config).await;
    // The good message first: failures come after inflating worked.
    assert_eq!(ws.receive().await.unwrap(), Message::Text(FIRST));
    assert_eq!(ws.receive().await, Err(Error::Closed));
    let closure: Closure = ws.closure().unwrap();
    assert_eq!(server.close_code(), code, "the code on the wire");
    assert_eq!(closure.code().as_u16(), code);
    match closure.kind() {
        ClosureKind::Failed { error: e, .. } => assert_eq!(*e, error),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Compressed data that is not DEFLATE fails with 1007; a message inflating past
/// `max_message_size` with 1009, and one that inflates past the message buffer `receive`
/// assembles in also with 1009; inflated text that is not UTF-8 with 1007; RSV1 on a
/// continuation frame with 1002 — each with our Close on the wire and the server's answer.
///
/// The same `inflate` serves every connection (a new connection starts a new stream).
pub async fn inflate_failures_close_with_the_right_code(
    inflate: &mut InflateStorage<WINDOW, MESSAGE>,
) {
    let error = ProtocolError::InvalidCompressedData;
    fails_with(inflate, GARBAGE, 1024, error, 1007).await;
    // 22 bytes on the wire, 4000 inflated: stopped by the limit on inflated bytes.
    let error = ProtocolError::MessageTooLarge { max: 200 };
    fails_with(inflate, OVER_LIMIT, 200, error, 1009).await;
    // Within the limit, but more than `receive`'s message buffer holds.
    let error = ProtocolError::MessageTooLarge {
        max: MESSAGE as u64,
    };
    fails_with(inflate, OVER_LIMIT, 8192, error, 1009).await;
    fails_with(inflate, BAD_UTF8, 1024, ProtocolError::InvalidUtf8, 1007).await;
    let error = ProtocolError::ReservedBits(0b100);
    fails_with(inflate, RSV1_ON_CONTINUATION, 1024, error, 1002).await;
}
