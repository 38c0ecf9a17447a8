//! One test per RFC rule the engine enforces, driven with hand-built frames.

use std::string::{String, ToString};
use std::vec::Vec;

use super::*;
use crate::close::{
    AbnormalCause, CloseCode, ClosureKind, FailureEnd, Initiator, Phase, TransportError,
};
use crate::config::Keepalive;
use crate::error::SendError;
use crate::mask::apply_mask;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// A frame as a peer would put it on the wire.
fn frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut b0 = opcode | (rsv << 4);
    if fin {
        b0 |= 0x80;
    }
    let mut out = std::vec![b0];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= 0xFFFF {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let mut body = payload.to_vec();
    if let Some(k) = mask {
        out.extend_from_slice(&k);
        apply_mask(&mut body, k, 0);
    }
    out.extend_from_slice(&body);
    out
}

/// A frame from a client (masked).
fn cf(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, Some(KEY), payload)
}

#[derive(Debug, PartialEq, Eq, Clone)]
enum Ev {
    /// A chunk: kind, bytes, first, last.
    Chunk(MessageKind, Vec<u8>, bool, bool),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

/// Feeds `bytes` (in one read) and collects the events.
fn feed(conn: &mut Connection, bytes: &[u8], now: Instant) -> Vec<Ev> {
    let mut buf = bytes.to_vec();
    let mut pos = 0;
    let mut evs = Vec::new();
    loop {
        let r = conn.read(&mut buf[pos..], now);
        pos += r.consumed;
        match r.event {
            None => break,
            Some(Event::Data(c)) => {
                evs.push(Ev::Chunk(c.kind, c.payload.to_vec(), c.first, c.last))
            }
            Some(Event::Ping(p)) => evs.push(Ev::Ping(p.to_vec())),
            Some(Event::Pong(p)) => evs.push(Ev::Pong(p.to_vec())),
            Some(Event::Close(c)) => {
                evs.push(Ev::Close(c.code().map(|c| c.as_u16()), c.reason().into()))
            }
        }
    }
    assert_eq!(pos, buf.len(), "no event means all input consumed");
    evs
}

fn transmit(conn: &mut Connection, now: Instant) -> Vec<u8> {
    let mut out = [0u8; 512];
    let n = conn.poll_transmit(&mut out, now);
    out[..n].to_vec()
}

fn server() -> Connection {
    Connection::server(Config::default(), t(0))
}

fn client() -> Connection {
    Connection::client(Config::default(), t(0), 7)
}

/// Asserts the server failed with `code`, and that its Close on the wire says so.
fn assert_failed(conn: &mut Connection, error: ProtocolError, code: u16) {
    assert_eq!(conn.failure(), Some(error));
    assert_eq!(conn.state(), ConnectionState::CloseSent);
    let wire = transmit(conn, t(1));
    assert_eq!(wire[0], 0x88, "a Close frame goes out");
    assert_eq!(u16::from_be_bytes([wire[2], wire[3]]), code);
}

#[test]
fn rfc6455_5_1_server_fails_on_unmasked_frame() {
    let mut s = server();
    assert!(feed(&mut s, &frame(true, 0, 1, None, b"hi"), t(0)).is_empty());
    assert_failed(&mut s, ProtocolError::UnmaskedFrame, 1002);
}

#[test]
fn rfc6455_5_1_client_fails_on_masked_frame() {
    let mut c = client();
    assert!(feed(&mut c, &cf(true, 2, b"hi"), t(0)).is_empty());
    assert_eq!(c.failure(), Some(ProtocolError::MaskedFrame));
}

#[test]
fn rfc6455_5_2_reserved_bits_fail_without_extension() {
    let mut s = server();
    feed(&mut s, &frame(true, 0b100, 1, Some(KEY), b"x"), t(0));
    assert_failed(&mut s, ProtocolError::ReservedBits(0b100), 1002);
    // With an extension claiming RSV1, the bit passes through and text is left to it.
    let mut s = Connection::server(Config::default().with_extension_rsv(0b100), t(0));
    let mut buf = frame(true, 0b100, 1, Some(KEY), &[0xff, 0x00]);
    let r = s.read(&mut buf, t(0));
    match r.event {
        Some(Event::Data(c)) => assert_eq!((c.rsv, c.payload), (0b100, &[0xff, 0x00][..])),
        other => panic!("{other:?}"),
    }
    // Control frames never carry extension bits.
    feed(&mut s, &frame(true, 0b100, 9, Some(KEY), b""), t(0));
    assert_eq!(s.failure(), Some(ProtocolError::ReservedBits(0b100)));
}

#[test]
fn rfc6455_5_2_reserved_opcode_fails_then_drains_to_peer_close() {
    let mut s = server();
    let mut wire = cf(true, 3, b"junk");
    wire.extend(cf(true, 1, b"ignored"));
    wire.extend(cf(true, 8, b"\x03\xea"));
    let evs = feed(&mut s, &wire, t(0));
    assert_eq!(evs, std::vec![Ev::Close(Some(1002), String::new())]);
    assert_failed(&mut s, ProtocolError::ReservedOpcode(3), 1002);
    // Our Close went out and theirs came in: the server is done and closes TCP.
    let closure = s.poll_closure().expect("closure");
    assert_eq!(
        *closure.kind(),
        ClosureKind::Failed {
            error: ProtocolError::ReservedOpcode(3),
            sent: CloseCode::PROTOCOL_ERROR,
            end: FailureEnd::Acknowledged,
        }
    );
    assert_eq!(closure.code().as_u16(), 1002);
    assert!(s.poll_closure().is_none(), "exactly one closure");
    // `closure` reports the same end again without taking it.
    assert_eq!(s.closure(), Some(closure));
    assert_eq!(s.closure(), Some(closure));
}

#[test]
fn closure_is_none_while_open_and_not_taken_by_peeking() {
    let mut s = server();
    assert_eq!(s.closure(), None);
    s.handle_eof(t(5));
    let peeked = s.closure().expect("closure after EOF");
    assert!(!s.is_finished(), "peeking does not take the closure");
    assert_eq!(s.poll_closure(), Some(peeked));
    assert!(s.is_finished());
}

#[test]
fn rfc6455_5_2_length_msb_set_fails() {
    let mut s = server();
    let mut wire = std::vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
    wire.extend_from_slice(&KEY);
    feed(&mut s, &wire, t(0));
    assert_failed(&mut s, ProtocolError::LengthMsbSet, 1002);
}

#[test]
fn rfc6455_5_4_continuation_without_message_fails() {
    let mut s = server();
    feed(&mut s, &cf(true, 0, b"x"), t(0));
    assert_failed(&mut s, ProtocolError::UnexpectedContinuation, 1002);
}

#[test]
fn rfc6455_5_4_new_message_inside_fragmented_message_fails() {
    let mut s = server();
    let mut wire = cf(false, 1, b"a");
    wire.extend(cf(true, 1, b"b"));
    let evs = feed(&mut s, &wire, t(0));
    assert_eq!(
        evs,
        std::vec![Ev::Chunk(MessageKind::Text, b"a".to_vec(), true, false)]
    );
    assert_failed(&mut s, ProtocolError::ExpectedContinuation, 1002);
}

#[test]
fn rfc6455_5_4_control_frames_interleave_with_fragments() {
    let mut s = server();
    let mut wire = cf(false, 1, b"Hel");
    wire.extend(cf(true, 9, b"p1"));
    wire.extend(cf(false, 0, b""));
    wire.extend(cf(true, 10, b"unsolicited"));
    wire.extend(cf(true, 0, b"lo"));
    let evs = feed(&mut s, &wire, t(0));
    assert_eq!(
        evs,
        std::vec![
            Ev::Chunk(MessageKind::Text, b"Hel".to_vec(), true, false),
            Ev::Ping(b"p1".to_vec()),
            Ev::Pong(b"unsolicited".to_vec()),
            Ev::Chunk(MessageKind::Text, b"lo".to_vec(), false, true),
        ]
    );
    assert_eq!(transmit(&mut s, t(0)), frame(true, 0, 10, None, b"p1"));
}

#[test]
fn rfc6455_5_5_control_frame_rules() {
    let mut s = server();
    feed(&mut s, &cf(false, 9, b""), t(0));
    assert_failed(&mut s, ProtocolError::FragmentedControlFrame, 1002);
    let mut s = server();
    feed(&mut s, &cf(true, 9, &[0u8; 126]), t(0));
    assert_failed(&mut s, ProtocolError::ControlFrameTooLong, 1002);
}

#[test]
fn rfc6455_5_5_2_ping_answered_with_latest_payload() {
    let mut s = server();
    let mut wire = cf(true, 9, b"first");
    wire.extend(cf(true, 9, b"second"));
    let evs = feed(&mut s, &wire, t(0));
    assert_eq!(
        evs,
        std::vec![Ev::Ping(b"first".to_vec()), Ev::Ping(b"second".to_vec())]
    );
    assert_eq!(transmit(&mut s, t(0)), frame(true, 0, 10, None, b"second"));
    assert!(transmit(&mut s, t(0)).is_empty());
    // A client masks its pong.
    let mut c = client();
    feed(&mut c, &frame(true, 0, 9, None, &[1; 125]), t(0));
    let pong = transmit(&mut c, t(0));
    assert_eq!(
        (pong[0], pong[1], pong.len()),
        (0x8A, 0x80 | 125, 2 + 4 + 125)
    );
}

#[test]
fn rfc6455_5_5_3_unsolicited_pong_is_accepted() {
    let mut s = server();
    assert_eq!(
        feed(&mut s, &cf(true, 10, b"hb"), t(0)),
        std::vec![Ev::Pong(b"hb".to_vec())]
    );
    assert!(s.is_open());
}

#[test]
fn rfc6455_5_5_1_close_is_echoed_and_ends_sending() {
    let mut s = server();
    let evs = feed(&mut s, &cf(true, 8, b"\x03\xe9bye"), t(0));
    assert_eq!(evs, std::vec![Ev::Close(Some(1001), "bye".into())]);
    assert_eq!(s.state(), ConnectionState::CloseReceived);
    assert_eq!(
        s.encode(Frame::Text("late"), &mut [0; 64]),
        Err(SendError::Closing)
    );
    assert_eq!(transmit(&mut s, t(0)), frame(true, 0, 8, None, b"\x03\xe9"));
    // The server closes the transport first (§7.1.1): the closure is ready now.
    let closure = s.poll_closure().unwrap();
    assert!(closure.is_clean());
    assert_eq!((closure.code().as_u16(), closure.reason()), (1001, "bye"));
    // Input after the peer's Close is ignored.
    assert!(feed(&mut s, &cf(true, 1, b"more"), t(0)).is_empty());
}

#[test]
fn rfc6455_5_5_1_empty_close_is_answered_with_empty_close() {
    let mut s = server();
    feed(&mut s, &cf(true, 8, b""), t(0));
    assert_eq!(transmit(&mut s, t(0)), std::vec![0x88, 0x00]);
    assert_eq!(s.poll_closure().unwrap().code(), CloseCode::NO_STATUS);
}

#[test]
fn rfc6455_5_5_1_one_byte_close_payload_fails() {
    let mut s = server();
    feed(&mut s, &cf(true, 8, b"\x03"), t(0));
    assert_failed(&mut s, ProtocolError::InvalidClosePayload, 1002);
}

#[test]
fn rfc6455_7_4_invalid_close_codes_fail() {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let mut s = server();
        feed(&mut s, &cf(true, 8, &code.to_be_bytes()), t(0));
        assert_failed(&mut s, ProtocolError::InvalidCloseCode(code), 1002);
    }
    for code in [1000u16, 1003, 1007, 1011, 1014, 3000, 4999] {
        let mut s = server();
        feed(&mut s, &cf(true, 8, &code.to_be_bytes()), t(0));
        assert_eq!(s.failure(), None, "{code}");
    }
}

#[test]
fn rfc6455_8_1_close_reason_must_be_utf8() {
    let mut s = server();
    feed(
        &mut s,
        &cf(
            true,
            8,
            b"\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
        ),
        t(0),
    );
    assert_failed(&mut s, ProtocolError::InvalidUtf8, 1007);
}

#[test]
fn rfc6455_8_1_invalid_utf8_fails_fast() {
    // The message is announced as 1000 bytes; the invalid byte comes first. The engine must
    // fail as soon as it sees it, not after the rest arrives.
    let mut s = server();
    let mut payload = std::vec![b'a'; 1000];
    payload[3] = 0xC0;
    let wire = cf(true, 1, &payload);
    let evs = feed(&mut s, &wire[..2 + 4 + 2 + 10], t(0));
    assert!(evs.is_empty());
    assert_failed(&mut s, ProtocolError::InvalidUtf8, 1007);
}

#[test]
fn rfc6455_8_1_utf8_across_fragments_and_reads() {
    let text = "€𝄞ö";
    let b = text.as_bytes();
    let mut s = server();
    let mut wire = cf(false, 1, &b[..1]);
    wire.extend(cf(false, 0, &b[1..5]));
    wire.extend(cf(true, 0, &b[5..]));
    let mut got = Vec::new();
    for byte in &wire {
        for ev in feed(&mut s, core::slice::from_ref(byte), t(0)) {
            if let Ev::Chunk(_, data, ..) = ev {
                got.extend(data);
            }
        }
    }
    assert_eq!(got, b);
    assert!(s.is_open());
    // A message that ends inside a code point is invalid.
    let mut s = server();
    feed(&mut s, &cf(true, 1, &b[..2]), t(0));
    assert_failed(&mut s, ProtocolError::InvalidUtf8, 1007);
}

#[test]
fn limits_fail_with_1009_at_the_header() {
    let cfg = Config::default()
        .with_max_frame_payload(100)
        .with_max_message_size(150);
    let mut s = Connection::server(cfg, t(0));
    // Only the header arrives: the engine need not wait for the payload to refuse it.
    feed(&mut s, &cf(true, 2, &[0; 101])[..8], t(0));
    assert_failed(
        &mut s,
        ProtocolError::FrameTooLarge { len: 101, max: 100 },
        1009,
    );
    let mut s = Connection::server(cfg, t(0));
    let mut wire = cf(false, 2, &[0; 100]);
    wire.extend(cf(true, 0, &[0; 51]));
    feed(&mut s, &wire, t(0));
    assert_failed(&mut s, ProtocolError::MessageTooLarge { max: 150 }, 1009);
}

#[test]
fn large_frame_streams_through_a_small_buffer() {
    // 16 MiB of payload, read through a 512-byte window, delivered as borrowed chunks.
    let mut c = client();
    let payload: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut wire = std::vec![0u8; c.frame_len(payload.len())];
    let n = c.encode(Frame::Binary(&payload), &mut wire).unwrap();
    assert_eq!(n, wire.len());
    let mut s = server();
    let mut received = 0usize;
    let mut last = false;
    for window in wire.chunks_mut(512) {
        let mut pos = 0;
        loop {
            let r = s.read(&mut window[pos..], t(0));
            pos += r.consumed;
            match r.event {
                Some(Event::Data(chunk)) => {
                    assert!(chunk.payload.len() <= 512);
                    assert_eq!(
                        chunk.payload,
                        &payload[received..received + chunk.payload.len()]
                    );
                    received += chunk.payload.len();
                    last = chunk.last;
                }
                None => break,
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!((received, last), (payload.len(), true));
}

#[test]
fn headers_split_at_every_byte() {
    for len in [0usize, 5, 125, 126, 65535, 65536] {
        let payload = std::vec![7u8; len];
        let wire = cf(true, 2, &payload);
        let mut s = server();
        let mut total = Vec::new();
        let mut ends = 0;
        for byte in &wire {
            for ev in feed(&mut s, core::slice::from_ref(byte), t(0)) {
                if let Ev::Chunk(_, data, _, last) = ev {
                    total.extend(data);
                    ends += last as usize;
                }
            }
        }
        assert_eq!((total.len(), ends), (len, 1), "len {len}");
    }
}

#[test]
fn send_errors_leave_state_unchanged() {
    let mut c = client();
    let mut small = [0u8; 8];
    assert_eq!(
        c.encode(Frame::Binary(b"0123456789"), &mut small),
        Err(SendError::BufferTooSmall { needed: 16 })
    );
    assert_eq!(
        c.encode(Frame::Ping(&[0; 126]), &mut [0; 256]),
        Err(SendError::ControlPayloadTooLong { len: 126 })
    );
    let mut out = [0u8; 64];
    c.encode_fragment(
        MessageKind::Text,
        "€".as_bytes().get(..1).unwrap(),
        false,
        &mut out,
    )
    .unwrap();
    assert_eq!(
        c.encode(Frame::Text("x"), &mut out),
        Err(SendError::MessageInProgress)
    );
    assert_eq!(
        c.encode_fragment(MessageKind::Binary, b"x", true, &mut out),
        Err(SendError::MessageInProgress)
    );
    // A ping may go between fragments.
    assert!(c.encode(Frame::Ping(b"p"), &mut out).is_ok());
    assert_eq!(
        c.encode_fragment(MessageKind::Text, b"x", true, &mut out),
        Err(SendError::InvalidUtf8)
    );
    assert!(c
        .encode_fragment(MessageKind::Text, &"€".as_bytes()[1..], true, &mut out)
        .is_ok());
    assert_eq!(
        c.close(CloseCode::ABNORMAL, "", t(0)),
        Err(SendError::InvalidCloseCode(1006))
    );
    assert!(c.is_open());
    c.close(CloseCode::NORMAL, "bye", t(0)).unwrap();
    assert_eq!(
        c.encode(Frame::Binary(b"x"), &mut out),
        Err(SendError::Closing)
    );
}

#[test]
fn server_frames_are_unmasked_and_client_frames_masked() {
    let mut s = server();
    let mut out = [0u8; 16];
    let n = s.encode(Frame::Text("Hello"), &mut out).unwrap();
    assert_eq!(&out[..n], &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
    let mut c = client();
    let n = c.encode(Frame::Text("Hello"), &mut out).unwrap();
    assert_eq!((n, out[1]), (11, 0x85));
    let mut body = out[6..11].to_vec();
    apply_mask(&mut body, [out[2], out[3], out[4], out[5]], 0);
    assert_eq!(body, b"Hello");
    // Masks change from frame to frame.
    let mut out2 = [0u8; 16];
    c.encode(Frame::Text("Hello"), &mut out2).unwrap();
    assert_ne!(out[2..6], out2[2..6]);
}

#[test]
fn rfc6455_7_1_1_client_waits_for_server_to_close_transport() {
    let mut c = client();
    c.close(CloseCode::NORMAL, "done", t(0)).unwrap();
    let wire = transmit(&mut c, t(0));
    assert_eq!(wire[0], 0x88);
    assert_eq!(c.state(), ConnectionState::CloseSent);
    feed(&mut c, &frame(true, 0, 8, None, b"\x03\xe8"), t(10));
    assert_eq!(c.state(), ConnectionState::AwaitingTransportClose);
    assert!(c.poll_closure().is_none());
    assert_eq!(c.poll_timeout(), Some(t(10) + Duration::from_secs(5)));
    c.handle_eof(t(20));
    let closure = c.poll_closure().unwrap();
    assert_eq!(
        *closure.kind(),
        ClosureKind::Clean {
            initiator: Initiator::Local,
            received: CloseFrame::new(CloseCode::NORMAL, "").unwrap(),
            peer_kept_transport_open: false
        }
    );
}

#[test]
fn client_gives_up_on_a_server_that_keeps_tcp_open() {
    let mut c = client();
    feed(&mut c, &frame(true, 0, 8, None, b"\x03\xe8"), t(0));
    transmit(&mut c, t(0));
    c.handle_timeout(t(4999));
    assert!(c.poll_closure().is_none());
    c.handle_timeout(t(5000));
    let closure = c.poll_closure().unwrap();
    assert!(closure.is_clean());
    assert!(matches!(
        closure.kind(),
        ClosureKind::Clean {
            peer_kept_transport_open: true,
            ..
        }
    ));
}

#[test]
fn close_timeout_when_peer_never_answers() {
    let mut s = server();
    s.close(CloseCode::GOING_AWAY, "", t(100)).unwrap();
    transmit(&mut s, t(100));
    assert_eq!(s.poll_timeout(), Some(t(5100)));
    s.handle_timeout(t(5100));
    let closure = s.poll_closure().unwrap();
    assert_eq!(
        *closure.kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::CloseTimeout,
            phase: Phase::AfterCloseSent
        }
    );
    assert_eq!(closure.code().as_u16(), 1006);
}

#[test]
fn keepalive_pings_then_times_out_on_silence() {
    let ka = Keepalive {
        interval: Duration::from_secs(20),
        timeout: Duration::from_secs(10),
    };
    let mut c = Connection::client(Config::default().with_keepalive(Some(ka)), t(0), 1);
    assert_eq!(c.poll_timeout(), Some(t(20_000)));
    c.handle_timeout(t(20_000));
    let ping = transmit(&mut c, t(20_000));
    assert_eq!(ping[0], 0x89);
    assert_eq!(c.poll_timeout(), Some(t(30_000)));
    c.handle_timeout(t(30_000));
    let closure = c.poll_closure().unwrap();
    assert_eq!(
        *closure.kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::KeepaliveTimeout,
            phase: Phase::BeforeFirstFrame
        }
    );
    assert_eq!(closure.idle(), Duration::from_secs(30));
}

#[test]
fn keepalive_does_not_misfire_while_data_flows() {
    let ka = Keepalive {
        interval: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
    };
    let mut c = Connection::client(Config::default().with_keepalive(Some(ka)), t(0), 1);
    // A 1 MiB message trickles in at one chunk per 500 ms for 60 s: never a ping, never a timeout.
    let wire = frame(true, 0, 2, None, &std::vec![0; 1 << 20]);
    let mut now = 0;
    for chunk in wire.chunks(wire.len() / 120 + 1) {
        now += 500;
        c.handle_timeout(t(now));
        feed(&mut c, chunk, t(now));
        assert!(
            transmit(&mut c, t(now)).is_empty(),
            "no ping while data flows"
        );
    }
    assert!(c.is_open());
    // The pong to a ping carries the ping's timestamp and gives a round-trip time.
    c.handle_timeout(t(now + 2000));
    let ping = transmit(&mut c, t(now + 2000));
    let mut payload = ping[6..].to_vec();
    apply_mask(&mut payload, [ping[2], ping[3], ping[4], ping[5]], 0);
    feed(&mut c, &frame(true, 0, 10, None, &payload), t(now + 2030));
    assert_eq!(c.rtt(), Some(Duration::from_millis(30)));
}

#[test]
fn rfc6455_7_1_5_eof_reports_1006_with_phase() {
    let cases: [(&[u8], Phase); 5] = [
        (b"", Phase::BeforeFirstFrame),
        (&[0x82, 0xFE, 0x01], Phase::FrameHeader { received: 3 }),
        (
            &[0x82, 0x8A, 1, 2, 3, 4, 5, 6, 7],
            Phase::FramePayload {
                opcode: OpCode::Binary,
                received: 3,
                expected: 10,
            },
        ),
        (
            &[0x01, 0x81, 1, 2, 3, 4, 5],
            Phase::BetweenFragments { message_bytes: 1 },
        ),
        (&[0x82, 0x80, 1, 2, 3, 4], Phase::FrameBoundary),
    ];
    for (bytes, phase) in cases {
        let mut s = server();
        feed(&mut s, bytes, t(1000));
        s.handle_eof(t(3500));
        let closure = s.poll_closure().unwrap();
        assert_eq!(
            *closure.kind(),
            ClosureKind::Abnormal {
                cause: AbnormalCause::Eof,
                phase
            },
            "{bytes:?}"
        );
        assert_eq!(
            closure.idle(),
            if bytes.is_empty() {
                Duration::from_millis(3500)
            } else {
                Duration::from_millis(2500)
            }
        );
        assert!(s.poll_closure().is_none());
        s.handle_eof(t(4000));
        s.handle_timeout(t(100_000));
        assert!(s.poll_closure().is_none(), "exactly one closure");
    }
}

#[test]
fn eof_after_close_received_before_reply_flushed() {
    let mut s = server();
    feed(&mut s, &cf(true, 8, b"\x03\xe8"), t(0));
    s.handle_transport_error(TransportError::ConnectionReset, t(1));
    assert_eq!(
        *s.poll_closure().unwrap().kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::Transport(TransportError::ConnectionReset),
            phase: Phase::AfterCloseReceived {
                code: Some(CloseCode::NORMAL)
            }
        }
    );
    assert!(
        transmit(&mut s, t(2)).is_empty(),
        "nothing is sent after the end"
    );
}

#[test]
fn simultaneous_close_completes() {
    let mut s = server();
    s.close(CloseCode::NORMAL, "", t(0)).unwrap();
    // The peer's Close arrives before ours went out.
    feed(&mut s, &cf(true, 8, b"\x03\xe8"), t(0));
    assert!(s.poll_closure().is_none());
    assert_eq!(transmit(&mut s, t(0)), frame(true, 0, 8, None, b"\x03\xe8"));
    let closure = s.poll_closure().unwrap();
    assert!(closure.is_clean());
}

#[test]
fn engine_state_is_small() {
    let size = core::mem::size_of::<Connection>();
    std::println!("size_of::<Connection>() = {size} bytes");
    assert!(size <= 512, "{size}");
}

/// Events with each message's chunks joined, so that reads of different sizes compare equal;
/// messages that never complete are left out (a byte-at-a-time reader sees the start of a
/// message that a later byte fails, a whole-frame reader does not).
fn joined(evs: Vec<Ev>) -> Vec<Ev> {
    let mut out: Vec<Ev> = Vec::new();
    let mut open = false;
    for ev in evs {
        match ev {
            Ev::Chunk(kind, data, first, last) => {
                match out.last_mut() {
                    Some(Ev::Chunk(_, acc, _, l)) if open && !first => {
                        acc.extend(data);
                        *l = last;
                    }
                    _ => out.push(Ev::Chunk(kind, data, first, last)),
                }
                open = !last;
            }
            other => out.push(other),
        }
    }
    out.retain(|ev| !matches!(ev, Ev::Chunk(_, _, _, false)));
    out
}

use proptest::strategy::Strategy as _;

proptest::proptest! {
    /// The fast path for whole messages (`read_whole_message`) leaves the engine exactly where
    /// the general path does: the same events, failure, state, frames to send and closure,
    /// whether the frames arrive in one read (fast path where it applies) or a byte at a time
    /// (general path only). Frames are random: valid and invalid opcodes, RSV bits, masking,
    /// lengths around the limits, fragments, and text that is or is not UTF-8.
    #[test]
    fn fast_path_and_general_path_agree(
        frames in proptest::collection::vec(
            (
                proptest::bool::weighted(0.8),
                proptest::prop_oneof![8 => proptest::strategy::Just(0u8), 1 => 0u8..8],
                proptest::sample::select(&[0u8, 1, 1, 2, 2, 2, 3, 8, 9, 10][..]),
                proptest::bool::weighted(0.9),
                proptest::prop_oneof![
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 120..300),
                    "[a-zé€𝄞 ]{0,60}".prop_map(String::into_bytes),
                ],
            ),
            0..8,
        ),
        max_frame in proptest::prop_oneof![proptest::strategy::Just(16u64 << 20), 100u64..260],
        role_client in proptest::bool::weighted(0.2),
    ) {
        let mut wire = Vec::new();
        for (fin, rsv, opcode, masked, payload) in &frames {
            let payload = if [8u8, 9, 10].contains(opcode) { &payload[..payload.len().min(125)] } else { &payload[..] };
            wire.extend(frame(*fin, *rsv, *opcode, masked.then_some(KEY), payload));
        }
        let config = Config::default().with_max_frame_payload(max_frame).with_max_message_size(max_frame + 50);
        let make = || if role_client {
            Connection::client(config, t(0), 7)
        } else {
            Connection::server(config, t(0))
        };
        let (mut whole, mut bytewise) = (make(), make());
        let a = joined(feed(&mut whole, &wire, t(1)));
        let mut b = Vec::new();
        for byte in &wire {
            b.extend(feed(&mut bytewise, core::slice::from_ref(byte), t(1)));
        }
        proptest::prop_assert_eq!(a, joined(b));
        proptest::prop_assert_eq!(whole.failure(), bytewise.failure());
        proptest::prop_assert_eq!(whole.state(), bytewise.state());
        proptest::prop_assert_eq!(transmit(&mut whole, t(2)).len(), transmit(&mut bytewise, t(2)).len());
        whole.handle_eof(t(3));
        bytewise.handle_eof(t(3));
        proptest::prop_assert_eq!(whole.poll_closure(), bytewise.poll_closure());
    }
}

// ------------------------------------------------ failing the connection (module docs' table)

/// The closure of `conn`, which must be over.
fn closure_of(conn: &mut Connection) -> Closure {
    conn.poll_closure().expect("the connection is over")
}

#[test]
fn failing_with_framing_intact_drains_to_the_peers_close() {
    let mut s = server();
    // A reserved opcode with a 5-byte payload: the frame is skipped whole.
    let mut wire = cf(true, 3, b"hello");
    wire.extend(cf(true, 2, b"dropped"));
    feed(&mut s, &wire, t(0));
    assert_failed(&mut s, ProtocolError::ReservedOpcode(3), 1002);
    assert_eq!(s.poll_closure(), None, "still waiting for the peer's Close");
    assert_eq!(s.poll_timeout(), Some(t(0) + s.config().close_timeout));
    // Data after the violation is dropped; the peer's Close ends it.
    assert_eq!(feed(&mut s, &cf(true, 2, b"more"), t(2)), []);
    feed(&mut s, &cf(true, 8, b"\x03\xea"), t(3));
    let closure = closure_of(&mut s);
    assert_eq!(
        *closure.kind(),
        ClosureKind::Failed {
            error: ProtocolError::ReservedOpcode(3),
            sent: CloseCode::PROTOCOL_ERROR,
            end: FailureEnd::Acknowledged,
        }
    );
}

#[test]
fn failing_with_framing_intact_times_out_without_an_answer() {
    let mut s = server();
    feed(&mut s, &cf(true, 1, b"\xff"), t(0));
    assert_failed(&mut s, ProtocolError::InvalidUtf8, 1007);
    let deadline = s.poll_timeout().expect("the close timeout runs");
    s.handle_timeout(deadline);
    let closure = closure_of(&mut s);
    assert!(
        matches!(
            closure.kind(),
            ClosureKind::Failed {
                end: FailureEnd::CloseTimeout,
                ..
            }
        ),
        "{closure}"
    );
    assert!(closure.to_string().contains("never answered"), "{closure}");
}

#[test]
fn a_length_with_the_top_bit_set_loses_framing_and_ends_once_our_close_is_out() {
    for mut conn in [server(), client()] {
        let masked = conn.role() == Role::Server;
        let mut wire = std::vec![
            0x82,
            if masked { 0xFF } else { 0x7F },
            0x80,
            0,
            0,
            0,
            0,
            0,
            0,
            0
        ];
        if masked {
            wire.extend_from_slice(&KEY);
        }
        wire.extend_from_slice(&[1, 2, 3]);
        feed(&mut conn, &wire, t(0));
        assert_eq!(conn.failure(), Some(ProtocolError::LengthMsbSet));
        // Nothing more is read, and nothing is waited for once our Close is handed out.
        assert_eq!(feed(&mut conn, &cf(true, 8, b"\x03\xe8"), t(1)), []);
        assert_eq!(conn.poll_closure(), None, "our Close is not out yet");
        let wire = transmit(&mut conn, t(1));
        assert_eq!(wire[0], 0x88);
        let closure = closure_of(&mut conn);
        assert_eq!(
            *closure.kind(),
            ClosureKind::Failed {
                error: ProtocolError::LengthMsbSet,
                sent: CloseCode::PROTOCOL_ERROR,
                end: FailureEnd::FramingLost,
            },
            "{:?}",
            conn.role()
        );
        assert!(closure.to_string().contains("frame boundaries were lost"));
        assert!(!closure.to_string().contains("never answered"));
    }
}

#[test]
fn a_frame_beyond_the_limit_is_not_read_past() {
    let mut s = server();
    // 1 TiB announced; only the header and a few payload bytes arrive.
    let mut wire = std::vec![0x82, 0xFF];
    wire.extend_from_slice(&(1u64 << 40).to_be_bytes());
    wire.extend_from_slice(&KEY);
    wire.extend_from_slice(&[0; 16]);
    feed(&mut s, &wire, t(0));
    let error = ProtocolError::FrameTooLarge {
        len: 1 << 40,
        max: s.config().max_frame_payload,
    };
    assert_failed(&mut s, error, 1009);
    let closure = closure_of(&mut s);
    assert_eq!(
        *closure.kind(),
        ClosureKind::Failed {
            error,
            sent: CloseCode::MESSAGE_TOO_BIG,
            end: FailureEnd::FramingLost,
        }
    );
    assert!(
        closure.to_string().contains("max_frame_payload"),
        "{closure}"
    );
}

#[test]
fn a_message_beyond_the_limit_in_small_frames_drains_to_the_peers_close() {
    let cfg = Config::default().with_max_message_size(150);
    let mut s = Connection::server(cfg, t(0));
    let mut wire = cf(false, 2, &[0; 100]);
    wire.extend(cf(false, 0, &[0; 100]));
    wire.extend(cf(true, 0, &[0; 100]));
    feed(&mut s, &wire, t(0));
    assert_failed(&mut s, ProtocolError::MessageTooLarge { max: 150 }, 1009);
    feed(&mut s, &cf(true, 8, b""), t(2));
    assert!(matches!(
        closure_of(&mut s).kind(),
        ClosureKind::Failed {
            end: FailureEnd::Acknowledged,
            ..
        }
    ));
}

#[test]
fn a_malformed_close_is_answered_and_reported_as_the_peers_invalid_close() {
    let cases: [(&[u8], ProtocolError, u16); 4] = [
        (b"\x03", ProtocolError::InvalidClosePayload, 1002),
        (b"\x03\xe7", ProtocolError::InvalidCloseCode(999), 1002),
        (b"\x13\x88", ProtocolError::InvalidCloseCode(5000), 1002),
        (b"\x03\xe8\xff", ProtocolError::InvalidUtf8, 1007),
    ];
    for (payload, error, code) in cases {
        let mut s = server();
        feed(&mut s, &cf(true, 8, payload), t(0));
        assert_failed(&mut s, error, code);
        // A server closes the transport at once: nothing more can come.
        let closure = closure_of(&mut s);
        assert_eq!(
            *closure.kind(),
            ClosureKind::Failed {
                error,
                sent: CloseCode::new(code),
                end: FailureEnd::PeerCloseInvalid,
            }
        );
        assert_eq!(closure.code().as_u16(), code);
        assert!(
            closure
                .to_string()
                .contains("Close frame was itself invalid"),
            "{closure}"
        );
        // A client waits for the server to close the transport, as after any handshake.
        let mut c = client();
        feed(&mut c, &frame(true, 0, 8, None, payload), t(0));
        let wire = transmit(&mut c, t(1));
        let (key, body) = (&wire[2..6], &wire[6..8]);
        let sent = [body[0] ^ key[0], body[1] ^ key[1]];
        assert_eq!(u16::from_be_bytes(sent), code, "our masked Close");
        assert_eq!(c.state(), ConnectionState::AwaitingTransportClose);
        c.handle_eof(t(2));
        assert!(matches!(
            closure_of(&mut c).kind(),
            ClosureKind::Failed {
                end: FailureEnd::PeerCloseInvalid,
                ..
            }
        ));
    }
}

#[test]
fn a_violation_after_our_close_drains_the_same_way_and_reports_the_code_we_sent() {
    // Header-level (reserved opcode) and payload-level (UTF-8) violations alike: the frame is
    // skipped and the peer's Close still completes the handshake.
    let violations: [(Vec<u8>, ProtocolError); 2] = [
        (cf(true, 3, b"abc"), ProtocolError::ReservedOpcode(3)),
        (cf(true, 1, b"\xff\xfe"), ProtocolError::InvalidUtf8),
    ];
    for (bad, error) in violations {
        let mut s = server();
        s.close(CloseCode::NORMAL, "bye", t(0)).unwrap();
        let wire = transmit(&mut s, t(0));
        assert_eq!(u16::from_be_bytes([wire[2], wire[3]]), 1000);
        feed(&mut s, &bad, t(1));
        assert_eq!(s.failure(), Some(error));
        assert_eq!(transmit(&mut s, t(1)), [], "no second Close");
        feed(&mut s, &cf(true, 8, b"\x03\xe8"), t(2));
        let closure = closure_of(&mut s);
        assert_eq!(
            *closure.kind(),
            ClosureKind::Failed {
                error,
                sent: CloseCode::NORMAL,
                end: FailureEnd::Acknowledged,
            }
        );
        assert_eq!(closure.code().as_u16(), 1000, "the code we sent");
        assert!(closure.to_string().contains("we had sent Close with 1000"));
    }
    // Framing lost after our Close went out: over at once.
    let mut s = server();
    s.close(CloseCode::NORMAL, "", t(0)).unwrap();
    transmit(&mut s, t(0));
    let mut wire = std::vec![0x82, 0xFF];
    wire.extend_from_slice(&(1u64 << 40).to_be_bytes());
    wire.extend_from_slice(&KEY);
    feed(&mut s, &wire, t(1));
    let closure = closure_of(&mut s);
    assert!(matches!(
        closure.kind(),
        ClosureKind::Failed {
            sent: CloseCode::NORMAL,
            end: FailureEnd::FramingLost,
            ..
        }
    ));
    // A malformed Close as the reply to ours.
    let mut s = server();
    s.close(CloseCode::NORMAL, "", t(0)).unwrap();
    transmit(&mut s, t(0));
    feed(&mut s, &cf(true, 8, b"\x03\xe7"), t(1));
    assert_eq!(
        *closure_of(&mut s).kind(),
        ClosureKind::Failed {
            error: ProtocolError::InvalidCloseCode(999),
            sent: CloseCode::NORMAL,
            end: FailureEnd::PeerCloseInvalid,
        }
    );
}

#[test]
fn a_frame_beyond_the_limit_while_draining_loses_framing() {
    let mut s = server();
    feed(&mut s, &cf(true, 3, b""), t(0));
    assert_failed(&mut s, ProtocolError::ReservedOpcode(3), 1002);
    let mut wire = std::vec![0x82, 0xFF];
    wire.extend_from_slice(&(1u64 << 40).to_be_bytes());
    wire.extend_from_slice(&KEY);
    feed(&mut s, &wire, t(1));
    let closure = closure_of(&mut s);
    assert_eq!(
        *closure.kind(),
        ClosureKind::Failed {
            error: ProtocolError::ReservedOpcode(3),
            sent: CloseCode::PROTOCOL_ERROR,
            end: FailureEnd::FramingLost,
        },
        "the first violation is reported"
    );
}

#[test]
fn the_transport_ending_before_the_answer_is_reported_as_such() {
    let mut s = server();
    feed(&mut s, &cf(true, 3, b""), t(0));
    transmit(&mut s, t(0));
    s.handle_eof(t(1));
    let closure = closure_of(&mut s);
    assert!(matches!(
        closure.kind(),
        ClosureKind::Failed {
            end: FailureEnd::TransportEnded,
            ..
        }
    ));
    assert!(closure.to_string().contains("transport ended before"));
}

#[cfg(feature = "std")]
#[test]
fn a_failed_closure_is_an_error_whose_source_is_the_violation() {
    let mut s = server();
    feed(&mut s, &cf(true, 8, b"\x03"), t(0));
    transmit(&mut s, t(0));
    let closure = closure_of(&mut s);
    let source = std::error::Error::source(&closure).expect("a source");
    assert_eq!(
        source.to_string(),
        ProtocolError::InvalidClosePayload.to_string()
    );
}
