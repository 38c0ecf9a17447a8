//! `sockeye-core` on the emulated chip: the RFC 6455 §5.7 frame examples and other frame
//! vectors, masking, fail-fast UTF-8, close codes, and the closing handshake between two
//! engines — the protocol rules checked on a 32-bit Cortex-M, not only on the host.
#![no_std]
#![no_main]

use core::fmt::Write as _;

use cortex_m_rt::entry;
use panic_semihosting as _;
use sockeye_core::close::{AbnormalCause, CloseFrame, Phase};
use sockeye_core::frame::{header_len, Decoded, FrameHeader, OpCode, MAX_HEADER_LEN};
use sockeye_core::mask::apply_mask;
use sockeye_core::utf8::Utf8Validator;
use sockeye_core::{
    CloseCode, ClosureKind, Config, Connection, Event, Frame, Initiator, Instant, MessageKind,
    ProtocolError, SendError,
};
use sockeye_qemu_test::{hprintln, run_tests, tests};

const NOW: Instant = Instant::ZERO;
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Feeds `input` to `conn` and calls `each` for every event, checking that no event means
/// all input was consumed.
fn feed(conn: &mut Connection, input: &mut [u8], mut each: impl FnMut(Event<'_>)) {
    let mut pos = 0;
    loop {
        let read = conn.read(&mut input[pos..], NOW);
        pos += read.consumed;
        match read.event {
            Some(event) => each(event),
            None => break,
        }
    }
    assert_eq!(pos, input.len());
}

/// Takes what the engine must send.
fn transmit(conn: &mut Connection, out: &mut [u8]) -> usize {
    conn.poll_transmit(out, NOW)
}

/// The single-frame examples of RFC 6455 §5.7, decoded by the side that receives them.
fn rfc6455_5_7_single_frames() {
    // Unmasked text "Hello" (server -> client).
    let mut client = Connection::client(Config::new(), NOW, 1);
    let mut wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let mut got = 0;
    feed(&mut client, &mut wire, |e| match e {
        Event::Data(c) => {
            assert!(c.first && c.last && c.kind == MessageKind::Text);
            assert_eq!(c.payload, b"Hello");
            got += 1;
        }
        other => panic!("{other:?}"),
    });
    assert_eq!(got, 1);

    // Masked text "Hello" (client -> server), unmasked in place.
    let mut server = Connection::server(Config::new(), NOW);
    let mut wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    feed(&mut server, &mut wire, |e| match e {
        Event::Data(c) => assert_eq!(c.payload, b"Hello"),
        other => panic!("{other:?}"),
    });

    // Unmasked Ping "Hello": the engine queues the Pong with the same payload.
    let mut wire = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    feed(&mut client, &mut wire, |e| match e {
        Event::Ping(p) => assert_eq!(&p[..], b"Hello"),
        other => panic!("{other:?}"),
    });
    let mut out = [0u8; 32];
    let n = transmit(&mut client, &mut out);
    assert_eq!((n, out[0], out[1]), (11, 0x8a, 0x85)); // masked Pong, 5 bytes
    let mut pong = [0u8; 5];
    pong.copy_from_slice(&out[6..11]);
    apply_mask(&mut pong, [out[2], out[3], out[4], out[5]], 0);
    assert_eq!(&pong, b"Hello");

    // Masked Pong "Hello" (client -> server).
    let mut wire = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    feed(&mut server, &mut wire, |e| match e {
        Event::Pong(p) => assert_eq!(&p[..], b"Hello"),
        other => panic!("{other:?}"),
    });
}

/// §5.7: a fragmented unmasked text message, and the 256-byte and 64 KiB binary frames with
/// 16- and 64-bit lengths (the big one streamed through a 256-byte buffer).
fn rfc6455_5_7_fragments_and_long_lengths() {
    let mut client = Connection::client(Config::new(), NOW, 1);
    let mut wire = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let mut text = [0u8; 5];
    let mut len = 0;
    let mut last = false;
    feed(&mut client, &mut wire, |e| match e {
        Event::Data(c) => {
            assert_eq!(c.first, len == 0);
            text[len..len + c.payload.len()].copy_from_slice(c.payload);
            len += c.payload.len();
            last = c.last;
        }
        other => panic!("{other:?}"),
    });
    assert!(last && &text[..len] == b"Hello");

    let mut frame = [0u8; 4 + 256];
    frame[..4].copy_from_slice(&[0x82, 0x7e, 0x01, 0x00]);
    let mut total = 0;
    feed(&mut client, &mut frame, |e| match e {
        Event::Data(c) => total += c.payload.len(),
        other => panic!("{other:?}"),
    });
    assert_eq!(total, 256);

    let mut header = [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
    let (mut total, mut last) = (0usize, false);
    feed(&mut client, &mut header, |_| panic!("no payload yet"));
    let mut chunk = [0xa5u8; 256];
    for _ in 0..256 {
        feed(&mut client, &mut chunk, |e| match e {
            Event::Data(c) => {
                total += c.payload.len();
                last = c.last;
            }
            other => panic!("{other:?}"),
        });
        chunk.fill(0xa5);
    }
    assert!(total == 65536 && last);
}

/// Header encoding at every length boundary, and decoding it back byte by byte.
fn frame_header_round_trip_at_length_boundaries() {
    for len in [0u64, 1, 125, 126, 127, 65535, 65536, 1 << 40] {
        for mask in [None, Some(KEY)] {
            let h = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Binary,
                mask,
                payload_len: len,
            };
            let mut out = [0u8; MAX_HEADER_LEN];
            let n = h.encode(&mut out);
            assert_eq!(n, h.encoded_len());
            assert_eq!(n, header_len([out[0], out[1]]));
            assert_eq!(FrameHeader::decode(&out[..n]), Ok(Decoded::Header(h, n)));
            for short in 0..n {
                let partial = FrameHeader::decode(&out[..short]);
                assert!(matches!(partial, Ok(Decoded::Incomplete { .. })));
            }
        }
    }
    // Invalid headers carry their close code.
    let bad: [(&[u8], ProtocolError); 5] = [
        (&[0x83, 0x00], ProtocolError::ReservedOpcode(3)),
        (&[0x82, 0x7e, 0x00, 0x7d], ProtocolError::NonMinimalLength),
        (
            &[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0],
            ProtocolError::LengthMsbSet,
        ),
        (&[0x09, 0x00], ProtocolError::FragmentedControlFrame),
        (
            &[0x89, 0x7e, 0x00, 0x7e],
            ProtocolError::ControlFrameTooLong,
        ),
    ];
    for (bytes, error) in bad {
        assert_eq!(FrameHeader::decode(bytes), Err(error));
        assert_eq!(error.close_code(), CloseCode::PROTOCOL_ERROR);
    }
}

/// Encoding: servers send unmasked frames, clients masked ones with fresh keys.
fn encode_vectors() {
    let mut server = Connection::server(Config::new(), NOW);
    let mut out = [0u8; 300];
    let n = server.encode(Frame::Text("Hello"), &mut out).unwrap();
    assert_eq!(&out[..n], &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    let big = [7u8; 200];
    let n = server.encode(Frame::Binary(&big), &mut out).unwrap();
    assert_eq!((n, &out[..4]), (204, &[0x82, 0x7e, 0x00, 0xc8][..]));

    let mut client = Connection::client(Config::new(), NOW, 42);
    let n = client.encode(Frame::Text("Hello"), &mut out).unwrap();
    assert_eq!((n, out[0], out[1]), (11, 0x81, 0x85));
    let key = [out[2], out[3], out[4], out[5]];
    let n2 = client.encode(Frame::Text("Hello"), &mut out[20..]).unwrap();
    assert_eq!(n2, 11);
    assert_ne!(
        key,
        [out[22], out[23], out[24], out[25]],
        "a fresh key per frame"
    );
    apply_mask(&mut out[6..11], key, 0);
    assert_eq!(&out[6..11], b"Hello");
}

/// Masking in arbitrary chunks equals masking at once (payload arrives in pieces).
fn masking_in_chunks() {
    let mut whole = [0u8; 300];
    for (i, b) in whole.iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut pieces = whole;
    apply_mask(&mut whole, KEY, 0);
    let mut at = 0;
    for step in [1, 3, 7, 16, 64, 100, 109] {
        apply_mask(&mut pieces[at..at + step], KEY, at);
        at += step;
    }
    assert_eq!(at, 300);
    assert_eq!(whole, pieces);
}

/// §8.1: invalid UTF-8 is caught at the first byte that cannot continue valid text, across
/// chunk boundaries, and a text message fails with 1007 before its frame is complete.
fn utf8_fails_fast() {
    let euro = "€".as_bytes(); // e2 82 ac
    let mut v = Utf8Validator::new();
    assert!(v.feed(&euro[..1]).is_ok() && !v.is_complete());
    assert!(v.feed(&euro[1..2]).is_ok() && !v.is_complete());
    assert!(v.feed(&euro[2..]).is_ok() && v.is_complete());
    for bad in [
        &[0xc0, 0x80][..],       // overlong NUL
        &[0xed, 0xa0, 0x80][..], // UTF-16 surrogate
        &[0xf4, 0x90][..],       // above U+10FFFF
        &[0xff][..],
        &[b'o', b'k', 0x80][..], // stray continuation
    ] {
        let mut v = Utf8Validator::new();
        assert!(v.feed(bad).is_err(), "{bad:?}");
    }
    let mut v = Utf8Validator::new();
    assert!(v.feed(&[0xf4]).is_ok());
    assert!(
        v.feed(&[0x90]).is_err(),
        "fails on the second byte, in a new chunk"
    );

    // The engine: a 100-byte text frame whose 3rd byte is invalid fails at once with 1007.
    let mut client = Connection::client(Config::new(), NOW, 1);
    let mut wire = [0x81, 100, b'o', b'k', 0xc0];
    feed(&mut client, &mut wire, |e| panic!("{e:?}"));
    assert_eq!(client.failure(), Some(ProtocolError::InvalidUtf8));
    let mut out = [0u8; 131];
    let n = transmit(&mut client, &mut out);
    assert!(n > 8 && out[0] == 0x88);
    let mut code = [out[6], out[7]];
    apply_mask(&mut code, [out[2], out[3], out[4], out[5]], 0);
    assert_eq!(u16::from_be_bytes(code), 1007);
}

/// §7.4: which codes may be sent, how Close payloads are parsed, and what a bad one does.
fn close_codes() {
    for ok in [1000u16, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
        assert!(CloseCode::new(ok).is_sendable(), "{ok}");
    }
    for bad in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        assert!(!CloseCode::new(bad).is_sendable(), "{bad}");
    }
    let f = CloseFrame::parse(b"\x03\xe8bye").unwrap();
    assert_eq!((f.code(), f.reason()), (Some(CloseCode::NORMAL), "bye"));
    assert_eq!(
        CloseFrame::parse(&[]).unwrap().reported_code(),
        CloseCode::NO_STATUS
    );
    assert_eq!(
        CloseFrame::parse(&[3]),
        Err(ProtocolError::InvalidClosePayload)
    );
    assert_eq!(
        CloseFrame::parse(&[0x03, 0xed]),
        Err(ProtocolError::InvalidCloseCode(1005))
    );
    assert_eq!(
        CloseFrame::parse(b"\x03\xe8\xff"),
        Err(ProtocolError::InvalidUtf8)
    );

    // A peer's Close with a code that may not be sent fails the connection with 1002.
    let mut client = Connection::client(Config::new(), NOW, 1);
    let mut wire = [0x88, 0x02, 0x03, 0xee]; // 1006
    feed(&mut client, &mut wire, |e| panic!("{e:?}"));
    assert_eq!(
        client.failure(),
        Some(ProtocolError::InvalidCloseCode(1006))
    );

    // Our own close refuses codes that may not be sent.
    let mut server = Connection::server(Config::new(), NOW);
    assert_eq!(
        server.close(CloseCode::ABNORMAL, "", NOW),
        Err(SendError::InvalidCloseCode(1006))
    );
    assert!(server.is_open());
}

/// The closing handshake between two engines in memory: the client closes, the server
/// echoes, the server's closure is clean at once and the client's after the server's EOF.
fn closing_handshake_between_engines() {
    let mut client = Connection::client(Config::new(), NOW, 7);
    let mut server = Connection::server(Config::new(), NOW);
    let mut wire = [0u8; 131];
    client.close(CloseCode::GOING_AWAY, "bye", NOW).unwrap();
    let n = transmit(&mut client, &mut wire);
    let mut peer_close = None;
    feed(&mut server, &mut wire[..n], |e| {
        if let Event::Close(f) = e {
            peer_close = Some(f);
        }
    });
    let f = peer_close.expect("the server saw the Close");
    assert_eq!((f.code(), f.reason()), (Some(CloseCode::GOING_AWAY), "bye"));
    let n = transmit(&mut server, &mut wire);
    assert_eq!(&wire[..n], &[0x88, 0x02, 0x03, 0xe9]); // the echo, unmasked
    let sc = server
        .poll_closure()
        .expect("server closes at once (§7.1.1)");
    assert!(matches!(
        sc.kind(),
        ClosureKind::Clean {
            initiator: Initiator::Peer,
            ..
        }
    ));
    feed(&mut client, &mut wire[..n], |_| {});
    assert!(
        client.poll_closure().is_none(),
        "the client waits for the server's EOF"
    );
    client.handle_eof(NOW);
    let cc = client.poll_closure().unwrap();
    assert!(cc.is_clean() && cc.code() == CloseCode::GOING_AWAY);
    assert!(client.poll_closure().is_none(), "exactly one closure");
}

/// An abnormal end on the chip: EOF in the middle of a payload is 1006 with its phase, and
/// the closure's `Display` (core::fmt on the target) says so.
fn eof_is_1006_with_phase_and_display() {
    let mut client = Connection::client(Config::new(), NOW, 1);
    let mut wire = [0x82, 0x10, 1, 2, 3];
    feed(&mut client, &mut wire, |_| {});
    client.handle_eof(Instant::from_millis(1500));
    let c = client.poll_closure().unwrap();
    assert_eq!(c.code(), CloseCode::ABNORMAL);
    assert_eq!(
        *c.kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::Eof,
            phase: Phase::FramePayload {
                opcode: OpCode::Binary,
                received: 3,
                expected: 16
            }
        }
    );
    let mut text = Text::<400>::new();
    write!(text, "{c}").unwrap();
    let s = text.as_str();
    assert!(
        s.contains("1006") && s.contains("3 of 16") && s.contains("1.5 s"),
        "{s}"
    );
}

/// Reports the engine's size on this target.
fn engine_size() {
    hprintln!(
        "\n  size_of Connection = {} B, Closure = {} B, Event = {} B",
        core::mem::size_of::<Connection>(),
        core::mem::size_of::<sockeye_core::Closure>(),
        core::mem::size_of::<Event<'static>>()
    );
    assert!(core::mem::size_of::<Connection>() <= 600);
}

/// A fixed-capacity `fmt::Write` target.
struct Text<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    fn new() -> Self {
        Text {
            buf: [0; N],
            len: 0,
        }
    }
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap()
    }
}

impl<const N: usize> core::fmt::Write for Text<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        if end > N {
            return Err(core::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[entry]
fn main() -> ! {
    run_tests(tests![
        rfc6455_5_7_single_frames,
        rfc6455_5_7_fragments_and_long_lengths,
        frame_header_round_trip_at_length_boundaries,
        encode_vectors,
        masking_in_chunks,
        utf8_fails_fast,
        close_codes,
        closing_handshake_between_engines,
        eof_is_1006_with_phase_and_display,
        engine_size,
    ])
}
