//! Regression tests from the fuzz targets in `fuzz/` (see `fuzz/README.md`).
//!
//! Each test replays an input that a target flagged, or pins a behaviour where the `differential`
//! target found sockeye and tungstenite to disagree and sockeye follows RFC 6455 (the target
//! documents and normalises each such difference; these tests keep sockeye's side of it).

use sockeye_core::{
    AbnormalCause, ClosureKind, Config, Connection, Event, FailureEnd, Instant, ProtocolError, Role,
};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const NOW: Instant = Instant::ZERO;

/// A frame as a peer puts it on the wire, with the length in `len_bytes` (2, 4 or 10) header
/// bytes and masked when `mask` is set.
fn frame(b0: u8, payload: &[u8], mask: bool, len_bytes: usize) -> Vec<u8> {
    let m = if mask { 0x80 } else { 0 };
    let n = payload.len();
    let mut out = vec![b0];
    match len_bytes {
        2 => out.push(m | n as u8),
        4 => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if mask {
        out.extend_from_slice(&KEY);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Text, binary, ping, pong and close events in a simple owned form.
#[derive(Debug, PartialEq, Eq)]
enum Ev {
    Data(Vec<u8>, bool),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

fn feed(conn: &mut Connection, bytes: &[u8]) -> Vec<Ev> {
    let mut buf = bytes.to_vec();
    let mut pos = 0;
    let mut evs = Vec::new();
    loop {
        let r = conn.read(&mut buf[pos..], NOW);
        pos += r.consumed;
        match r.event {
            None => break,
            Some(Event::Data(c)) => evs.push(Ev::Data(c.payload.to_vec(), c.last)),
            Some(Event::Ping(p)) => evs.push(Ev::Ping(p.to_vec())),
            Some(Event::Pong(p)) => evs.push(Ev::Pong(p.to_vec())),
            Some(Event::Close(c)) => evs.push(Ev::Close(
                c.code().map(|c| c.as_u16()),
                c.reason().to_owned(),
            )),
        }
    }
    assert_eq!(pos, buf.len());
    evs
}

fn server(config: Config) -> Connection {
    Connection::new(Role::Server, config, NOW, 0)
}

/// `differential`, difference 2: tungstenite accepts a 3-byte payload in a 16-bit length;
/// RFC 6455 §5.2 requires the minimal encoding.
#[test]
fn differential_non_minimal_length_fails_the_connection() {
    let mut conn = server(Config::default());
    let evs = feed(&mut conn, &frame(0x82, b"abc", true, 4));
    assert!(evs.is_empty());
    assert_eq!(conn.failure(), Some(ProtocolError::NonMinimalLength));
}

/// `differential`, difference 3: 1014 (Bad Gateway) is in the IANA registry and may be sent;
/// tungstenite replaces it with 1002.
#[test]
fn differential_close_code_1014_is_accepted_and_echoed() {
    let mut conn = server(Config::default());
    let evs = feed(&mut conn, &frame(0x88, b"\x03\xf6gw", true, 2));
    assert_eq!(evs, [Ev::Close(Some(1014), "gw".into())]);
    assert_eq!(conn.failure(), None);
    let mut out = [0u8; 64];
    let n = conn.poll_transmit(&mut out, NOW);
    assert_eq!(
        &out[..n],
        b"\x88\x02\x03\xf6",
        "the reply echoes the code (§5.5.1)"
    );
}

/// `differential`, difference 3: a Close with a code that may not be sent (1005) fails the
/// connection with 1002; tungstenite reports it as a Close 1002 instead of an error.
#[test]
fn differential_disallowed_close_code_fails_with_1002() {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let mut conn = server(Config::default());
        let evs = feed(&mut conn, &frame(0x88, &code.to_be_bytes(), true, 2));
        assert!(evs.is_empty(), "{code}: {evs:?}");
        assert_eq!(conn.failure(), Some(ProtocolError::InvalidCloseCode(code)));
        assert_eq!(conn.failure().unwrap().close_code().as_u16(), 1002);
    }
}

/// `differential`, difference 4: what follows the peer's Close is ignored (a client does not
/// fail on it, unlike tungstenite's client).
#[test]
fn differential_bytes_after_peer_close_are_ignored() {
    let mut conn = Connection::new(Role::Client, Config::default(), NOW, 1);
    let mut wire = frame(0x88, b"\x03\xe8", false, 2);
    wire.extend_from_slice(&frame(0x81, b"late", false, 2));
    wire.extend_from_slice(&[0xff, 0xff, 0xff]);
    let evs = feed(&mut conn, &wire);
    assert_eq!(evs, [Ev::Close(Some(1000), String::new())]);
    assert_eq!(conn.failure(), None);
}

/// `differential`, difference 5: `max_frame_payload` limits data frames; control frames are
/// bounded by §5.5's 125 bytes only (tungstenite applies its frame limit to them too).
#[test]
fn differential_control_frames_are_not_subject_to_the_frame_limit() {
    let config = Config::default()
        .with_max_frame_payload(16)
        .with_max_message_size(16);
    let mut conn = server(config);
    let ping = vec![b'p'; 100];
    let evs = feed(&mut conn, &frame(0x89, &ping, true, 2));
    assert_eq!(evs, [Ev::Ping(ping)]);
    assert_eq!(conn.failure(), None);
    let evs = feed(&mut conn, &frame(0x82, &[0; 17], true, 2));
    assert!(evs.is_empty());
    assert!(matches!(
        conn.failure(),
        Some(ProtocolError::FrameTooLarge { len: 17, max: 16 })
    ));
}

/// `differential`, difference 1: violations visible in a header fail the connection as soon as
/// the header is complete, before any of the payload (tungstenite waits for the whole frame).
#[test]
fn differential_header_violations_fail_before_the_payload_arrives() {
    // A 126-byte ping: only its 8-byte header (with mask) arrives.
    let mut conn = server(Config::default());
    let wire = frame(0x89, &[0; 126], true, 4);
    assert!(feed(&mut conn, &wire[..8]).is_empty());
    assert_eq!(conn.failure(), Some(ProtocolError::ControlFrameTooLong));
    // An unmasked frame to a server.
    let mut conn = server(Config::default());
    assert!(feed(&mut conn, &[0x82, 0x7e, 0x01, 0x00]).is_empty());
    assert_eq!(conn.failure(), Some(ProtocolError::UnmaskedFrame));
    conn.handle_eof(NOW);
    let closure = conn.poll_closure().unwrap();
    assert!(matches!(
        closure.kind(),
        ClosureKind::Failed {
            error: ProtocolError::UnmaskedFrame,
            end: FailureEnd::TransportEnded,
            ..
        }
    ));
}

/// `differential`, difference 1 (UTF-8): invalid text fails at the first impossible byte, even
/// when the rest of the frame has not arrived.
#[test]
fn differential_invalid_utf8_fails_fast_within_a_frame() {
    let mut conn = server(Config::default());
    let wire = frame(0x81, b"ok \xf4\x90 and the rest", true, 2);
    // Header (6 bytes) and "ok \xf4\x90": the chunk before the bad byte may be delivered.
    let evs = feed(&mut conn, &wire[..11]);
    assert!(
        evs.iter().all(|e| matches!(e, Ev::Data(_, false))),
        "{evs:?}"
    );
    assert_eq!(conn.failure(), Some(ProtocolError::InvalidUtf8));
    conn.handle_eof(NOW);
    assert!(!matches!(
        conn.poll_closure().unwrap().kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::Eof,
            ..
        }
    ));
}
