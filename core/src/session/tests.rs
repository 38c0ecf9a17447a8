//! The session driver, without a network: buffers, batching, the end-of-connection rule.

use std::string::String;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::close::{AbnormalCause, ClosureKind, Initiator, Phase};
use crate::config::{Config, Keepalive};
use crate::frame::OpCode;

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn pair(config: SessionConfig) -> (Session, Session) {
    let c = Connection::client(Config::default(), t(0), 99);
    let s = Connection::server(Config::default(), t(0));
    (Session::new(c, config), Session::new(s, config))
}

/// One read: moves at most `chunk` and `max` pending bytes from `from` to `to` (bounded by
/// `to`'s read space too); returns how many moved.
fn pump(from: &mut Session, to: &mut Session, chunk: usize, max: usize, now: Instant) -> usize {
    let space = to.read_space();
    let wire = from.pending_write();
    let n = wire.len().min(chunk).min(space.len()).min(max);
    space[..n].copy_from_slice(&wire[..n]);
    from.written(n);
    to.received(n, now);
    n
}

/// Delivers everything `from` has pending to `to`, `chunk` bytes per read, collecting
/// the messages `to` decodes.
fn deliver(from: &mut Session, to: &mut Session, chunk: usize, now: Instant) -> Vec<Message> {
    let mut got = Vec::new();
    while !from.pending_write().is_empty() {
        pump(from, to, chunk, usize::MAX, now);
        // Decode everything before reading again, as drivers must.
        while let Some(m) = to.poll_message() {
            got.push(m);
        }
    }
    got
}

fn text(s: &str) -> Message {
    Message::Text(s.into())
}

#[test]
fn echoes_messages_of_every_size_through_small_buffers() {
    for (read_buf, chunk) in [(7, 3), (64, 1000), (1 << 16, 1 << 20)] {
        let config = SessionConfig::default().with_read_buffer_size(read_buf);
        let (mut c, mut s) = pair(config);
        let sizes = [0usize, 1, 125, 126, 65535, 65536, 200_000];
        let sent: Vec<Message> = sizes
            .iter()
            .map(|&n| Message::Binary((0..n).map(|i| i as u8).collect()))
            .chain([text("héllo wörld")])
            .collect();
        for m in &sent {
            c.send_message(m, t(0)).unwrap();
        }
        assert_eq!(deliver(&mut c, &mut s, chunk, t(1)), sent);
        for m in &sent {
            s.send_message(m, t(1)).unwrap();
        }
        assert_eq!(deliver(&mut s, &mut c, chunk, t(2)), sent);
    }
}

#[test]
fn decodes_every_buffered_frame_before_asking_for_more_input() {
    let (mut c, mut s) = pair(SessionConfig::default());
    for i in 0..10 {
        c.send(Frame::Text(&std::format!("m{i}"))).unwrap();
    }
    // One write carries all ten frames, and one read takes them in.
    let wire_len = c.pending_write().len();
    assert_eq!(pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0)), wire_len);
    for i in 0..10 {
        assert!(s.has_ready_input());
        assert_eq!(s.poll_message(), Some(text(&std::format!("m{i}"))));
        // Replies queue while more input is ready, and are flushed after the last.
        s.send(Frame::Text("ack")).unwrap();
        assert_eq!(s.should_flush(), i == 9, "after message {i}");
    }
    assert!(!s.has_ready_input());
    assert_eq!(s.poll_message(), None);
    assert_eq!(deliver(&mut s, &mut c, usize::MAX, t(1)).len(), 10);
}

#[test]
fn a_partial_frame_is_not_ready_input() {
    let (mut c, mut s) = pair(SessionConfig::default());
    c.send(Frame::Text("one")).unwrap();
    c.send(Frame::Binary(&[0; 300])).unwrap();
    let first = c.connection().frame_len(3);
    pump(&mut c, &mut s, usize::MAX, first + 5, t(0));
    assert!(s.has_ready_input(), "unpolled input may hold a frame");
    assert_eq!(s.poll_message(), Some(text("one")));
    assert_eq!(s.buffered_input(), 5);
    assert!(!s.has_ready_input(), "5 bytes of a 308-byte frame");
    s.send(Frame::Text("reply")).unwrap();
    assert!(s.should_flush(), "nothing more to do right now: flush");
    assert_eq!(s.poll_message(), None);
    assert_eq!(deliver(&mut c, &mut s, usize::MAX, t(1)).len(), 1);
}

#[test]
fn high_water_mark_asks_for_a_flush_even_mid_batch() {
    let config = SessionConfig::default().with_write_high_water(1000);
    let (mut c, mut s) = pair(config);
    for _ in 0..3 {
        c.send(Frame::Text("x")).unwrap();
    }
    pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
    assert!(s.poll_message().is_some());
    assert!(s.has_ready_input());
    s.send(Frame::Binary(&[0; 600])).unwrap();
    assert!(!s.is_write_full() && !s.should_flush());
    s.send(Frame::Binary(&[0; 600])).unwrap();
    assert!(s.is_write_full() && s.should_flush());
    let pending = s.pending_write().len();
    s.written(pending);
    assert!(!s.is_write_full() && !s.should_flush());
}

#[test]
fn pongs_and_close_replies_are_queued_as_frames_are_decoded() {
    let (mut c, mut s) = pair(SessionConfig::default());
    c.send(Frame::Ping(b"1")).unwrap();
    c.send(Frame::Ping(b"2")).unwrap();
    c.send(Frame::Text("after")).unwrap();
    pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
    assert_eq!(s.poll_message(), Some(text("after")));
    // Each ping got its pong (none was coalesced), in order.
    let mut events = Vec::new();
    pump(&mut s, &mut c, usize::MAX, usize::MAX, t(1));
    while let Some(ev) = c.poll_event() {
        events.push(std::format!("{ev:?}"));
    }
    assert_eq!(events.len(), 2);
    assert!(events[0].starts_with("Pong") && events[0].contains("[49]"));
    assert!(events[1].starts_with("Pong") && events[1].contains("[50]"));
}

#[test]
fn control_frames_go_out_ahead_of_later_data() {
    let (mut c, mut s) = pair(SessionConfig::default());
    c.send(Frame::Ping(b"p")).unwrap();
    pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
    assert_eq!(s.poll_message(), None);
    s.send(Frame::Text("data")).unwrap();
    assert_eq!(s.pending_write()[0], 0x8A, "the Pong comes first");
}

#[test]
fn a_pong_owed_is_urgent_until_written() {
    let (mut c, mut s) = pair(SessionConfig::default());
    c.send(Frame::Text("before")).unwrap();
    c.send(Frame::Ping(b"p")).unwrap();
    c.send(Frame::Text("after")).unwrap();
    pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
    assert!(!s.has_urgent_write());
    s.send(Frame::Text("reply")).unwrap();
    assert!(!s.has_urgent_write(), "data alone waits for the batch");
    assert_eq!(s.poll_message(), Some(text("before")));
    // Decoding past the ping queued the pong: it must not wait for the application.
    assert_eq!(s.poll_message(), Some(text("after")));
    assert!(s.has_urgent_write());
    let n = s.pending_write().len();
    s.written(n - 1);
    assert!(
        s.has_urgent_write(),
        "one byte of the pong is still unwritten"
    );
    s.written(1);
    assert!(!s.has_urgent_write());
}

/// Runs the closing handshake to the end: both sides exchange bytes, and the client gets
/// EOF once the server closed its transport.
fn finish_close(c: &mut Session, s: &mut Session, now: Instant) -> (Closure, Closure) {
    for _ in 0..4 {
        deliver(c, s, usize::MAX, now);
        deliver(s, c, usize::MAX, now);
    }
    let server = s
        .closure()
        .expect("the server is closed after the handshake");
    assert!(s.pending_write().is_empty());
    c.handle_eof(now);
    (c.closure().expect("EOF ends the client"), server)
}

#[test]
fn close_from_either_side_is_clean_with_the_right_initiator() {
    for client_initiates in [true, false] {
        let (mut c, mut s) = pair(SessionConfig::default());
        let (closer, code) = if client_initiates {
            (&mut c, CloseCode::GOING_AWAY)
        } else {
            (&mut s, CloseCode::new(4000))
        };
        closer.close(code, "bye", t(5)).unwrap();
        assert_eq!(closer.send(Frame::Text("late")), Err(SendError::Closing));
        let (cc, sc) = finish_close(&mut c, &mut s, t(6));
        let (ci, si) = if client_initiates {
            (Initiator::Local, Initiator::Peer)
        } else {
            (Initiator::Peer, Initiator::Local)
        };
        for (closure, initiator) in [(cc, ci), (sc, si)] {
            match closure.kind() {
                ClosureKind::Clean { initiator: i, .. } => assert_eq!(*i, initiator),
                other => panic!("{other:?}"),
            }
            assert_eq!(closure.code(), code);
        }
    }
}

#[test]
fn messages_before_eof_come_before_the_closure() {
    let (mut c, mut s) = pair(SessionConfig::default());
    c.send(Frame::Text("a")).unwrap();
    c.send(Frame::Text("b")).unwrap();
    c.send(Frame::Binary(&[7; 1000])).unwrap();
    let full = c.connection().frame_len(1) * 2;
    // The whole of a and b, and 100 bytes of the third frame, then EOF.
    pump(&mut c, &mut s, usize::MAX, full + 100, t(0));
    s.handle_eof(t(3));
    assert_eq!(s.closure(), None, "input is still buffered");
    assert_eq!(s.poll_message(), Some(text("a")));
    assert_eq!(s.poll_message(), Some(text("b")));
    assert_eq!(s.closure(), None);
    assert_eq!(s.poll_message(), None);
    let closure = s.closure().expect("closed once drained");
    assert_eq!(closure.code(), CloseCode::ABNORMAL);
    assert_eq!(
        *closure.kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::Eof,
            phase: Phase::FramePayload {
                opcode: OpCode::Binary,
                received: 100 - 4 - 4,
                expected: 1000,
            },
        }
    );
    // Nothing more, and nothing can be sent.
    assert_eq!(s.poll_message(), None);
    assert_eq!(s.send(Frame::Text("x")), Err(SendError::Closing));
}

#[test]
fn transport_error_is_an_abnormal_closure() {
    let (_, mut s) = pair(SessionConfig::default());
    s.handle_transport_error(TransportError::ConnectionReset, t(1));
    assert_eq!(
        *s.closure().unwrap().kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::Transport(TransportError::ConnectionReset),
            phase: Phase::BeforeFirstFrame,
        }
    );
    // Later ends are ignored.
    s.handle_eof(t(2));
    assert!(matches!(
        s.closure().unwrap().kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::Transport(_),
            ..
        }
    ));
}

#[test]
fn keepalive_pings_then_times_out() {
    let ka = Keepalive {
        interval: core::time::Duration::from_millis(200),
        timeout: core::time::Duration::from_millis(100),
    };
    let conn = Connection::server(Config::default().with_keepalive(Some(ka)), t(0));
    let mut s = Session::new(conn, SessionConfig::default());
    assert_eq!(s.poll_timeout(), Some(t(200)));
    s.handle_timeout(t(200));
    assert_eq!(s.pending_write()[0], 0x89, "a Ping is queued");
    assert!(s.should_flush());
    assert_eq!(s.poll_timeout(), Some(t(300)));
    s.handle_timeout(t(300));
    let closure = s.closure().unwrap();
    assert!(matches!(
        closure.kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::KeepaliveTimeout,
            ..
        }
    ));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn close_timeout_against_a_silent_peer() {
    let (_, mut s) = pair(SessionConfig::default());
    s.close(CloseCode::NORMAL, "", t(10)).unwrap();
    assert_eq!(s.pending_write()[0], 0x88);
    let deadline = s.poll_timeout().unwrap();
    assert_eq!(deadline, t(10) + Config::default().close_timeout);
    s.handle_timeout(deadline);
    assert!(matches!(
        s.closure().unwrap().kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::CloseTimeout,
            phase: Phase::AfterCloseSent,
        }
    ));
}

#[test]
fn chunk_level_events_borrow_the_read_buffer() {
    let config = SessionConfig::default().with_read_buffer_size(1000);
    let (mut c, mut s) = pair(config);
    let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    c.send_fragment(MessageKind::Binary, &big[..4000], false)
        .unwrap();
    c.send(Frame::Ping(b"mid")).unwrap();
    c.send_fragment(MessageKind::Binary, &big[4000..], true)
        .unwrap();
    let mut got = Vec::new();
    let mut pings = 0;
    let mut chunks = 0;
    let mut last = false;
    while !c.pending_write().is_empty() {
        pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::Data(chunk) => {
                    assert!(chunk.payload.len() <= 1000);
                    assert_eq!(chunk.first, got.is_empty());
                    got.extend_from_slice(chunk.payload);
                    last = chunk.last;
                    chunks += 1;
                }
                Event::Ping(p) => {
                    assert_eq!(&p[..], b"mid");
                    pings += 1;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(last && chunks >= 10);
    assert_eq!(pings, 1);
    assert_eq!(got, big);
}

#[test]
fn handshake_leftovers_are_decoded_first() {
    let (mut c, mut s) = pair(SessionConfig::default().with_read_buffer_size(8));
    c.send(Frame::Text("leftover message")).unwrap();
    let wire = c.pending_write().to_vec();
    // Larger than the read buffer: the buffer grows rather than lose bytes.
    s.push_received(&wire, t(0));
    assert_eq!(s.poll_message(), Some(text("leftover message")));
    assert_eq!(s.poll_message(), None);
    assert_eq!(s.read_space().len(), wire.len());
}

#[test]
fn protocol_violation_fails_with_its_code_and_drops_the_partial_message() {
    let (mut c, mut s) = pair(SessionConfig::default());
    c.send_fragment(MessageKind::Text, b"fine ", false).unwrap();
    // Invalid UTF-8 in the second fragment, sent as binary bytes of a text message is
    // refused by the encoder, so forge it: a continuation whose payload is 0xFF.
    let mut wire = c.pending_write().to_vec();
    let n = wire.len();
    c.written(n);
    wire.extend_from_slice(&[0x80, 0x81, 0, 0, 0, 0, 0xFF]);
    s.push_received(&wire, t(0));
    assert_eq!(s.poll_message(), None);
    assert_eq!(s.pending_write()[0], 0x88, "our Close goes out");
    assert_eq!(
        u16::from_be_bytes([s.pending_write()[2], s.pending_write()[3]]),
        1007
    );
    assert_eq!(s.assembler.pending(), 0);
    let (_, sc) = finish_close(&mut c, &mut s, t(1));
    assert!(matches!(
        sc.kind(),
        ClosureKind::Failed {
            end: FailureEnd::Acknowledged,
            ..
        }
    ));
    assert_eq!(sc.code().as_u16(), 1007);
}

#[test]
fn write_buffer_never_holds_much_more_than_pending() {
    let (mut c, _) = pair(SessionConfig::default().with_write_high_water(4096));
    for _ in 0..1000 {
        c.send(Frame::Binary(&[1; 100])).unwrap();
        let half = c.pending_write().len() / 2 + 1;
        c.written(half);
        assert!(c.core.wbuf.len() <= 2 * c.pending_write().len() + 200);
    }
    c.send(Frame::Binary(&vec![0; 1 << 20])).unwrap();
    let n = c.pending_write().len();
    c.written(n);
    assert!(c.core.wbuf.capacity() <= 2 * 64 * 1024);
}

#[test]
fn send_message_close_starts_the_handshake() {
    let (mut c, mut s) = pair(SessionConfig::default());
    let frame = crate::CloseFrame::new(CloseCode::new(3001), "done").unwrap();
    c.send_message(&Message::Close(frame), t(0)).unwrap();
    assert!(!c.is_open());
    let (cc, _) = finish_close(&mut c, &mut s, t(1));
    assert_eq!(cc.code().as_u16(), 3001);
    assert_eq!(s.closure().unwrap().reason(), "done");
}

#[test]
fn has_event_decodes_ahead_and_keeps_the_event_for_poll_event() {
    let (mut c, mut s) = pair(SessionConfig::default());
    c.send(Frame::Text("abc")).unwrap();
    c.send(Frame::Ping(b"p")).unwrap();
    pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
    assert!(s.has_event());
    assert!(s.has_event(), "asking twice decodes nothing more");
    assert!(s.has_ready_input());
    // A read here would not move the stashed payload.
    assert!(!s.read_space().is_empty());
    s.handle_eof(t(1));
    match s.poll_event() {
        Some(Event::Data(chunk)) => assert_eq!(chunk.payload, b"abc"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.closure(), None, "the ping is still buffered");
    assert!(matches!(s.poll_event(), Some(Event::Ping(_))));
    assert_eq!(s.closure(), None);
    assert!(!s.has_event());
    assert!(matches!(
        s.closure().unwrap().kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::Eof,
            phase: Phase::FrameBoundary,
        }
    ));
    assert!(s.poll_event().is_none());
}

#[test]
fn stashed_control_events_keep_their_payloads() {
    // A Ping, a Pong and a Close decoded ahead by `has_event` come back with their payloads,
    // fetched from the engine when taken (the stash keeps no copy of them).
    let (mut c, mut s) = pair(SessionConfig::default());
    c.send(Frame::Ping(b"ping payload")).unwrap();
    c.send(Frame::Pong(b"pong payload")).unwrap();
    c.close(CloseCode::new(4001), "reason", t(0)).unwrap();
    pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
    assert!(s.has_event());
    assert_eq!(
        s.poll_event()
            .map(|e| matches!(e, Event::Ping(p) if p.as_slice() == b"ping payload")),
        Some(true)
    );
    assert!(s.has_event());
    assert_eq!(
        s.poll_event()
            .map(|e| matches!(e, Event::Pong(p) if p.as_slice() == b"pong payload")),
        Some(true)
    );
    assert!(s.has_event());
    match s.poll_event() {
        Some(Event::Close(frame)) => {
            assert_eq!(frame.code(), Some(CloseCode::new(4001)));
            assert_eq!(frame.reason(), "reason");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn nothing_can_be_sent_once_the_transport_ended() {
    let (mut c, mut s) = pair(SessionConfig::default());
    c.send(Frame::Text("unread")).unwrap();
    pump(&mut c, &mut s, usize::MAX, usize::MAX, t(0));
    s.handle_transport_error(TransportError::BrokenPipe, t(1));
    assert!(!s.is_open());
    assert_eq!(s.send(Frame::Text("x")), Err(SendError::Closing));
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.poll_message(), Some(text("unread")));
    assert_eq!(s.poll_message(), None);
    assert!(s.closure().unwrap().is_abnormal());
}

#[test]
fn a_malformed_close_from_the_peer_ends_the_connection_once_our_close_is_sent() {
    // A client Close with code 1005, which may not be sent (masking key 0: plain payload).
    let (_, mut s) = pair(SessionConfig::default());
    s.push_received(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xED], t(0));
    assert_eq!(s.poll_message(), None);
    let wire = s.pending_write();
    assert_eq!(
        wire[..4],
        [0x88, wire[1], 0x03, 0xEA],
        "our Close says 1002"
    );
    // The peer sent its Close already and will send no other: the server is done, and
    // closes the transport right after writing its Close.
    let closure = s.closure().expect("over once our Close is handed out");
    assert!(matches!(
        closure.kind(),
        ClosureKind::Failed {
            error: crate::ProtocolError::InvalidCloseCode(1005),
            end: FailureEnd::PeerCloseInvalid,
            ..
        }
    ));
    assert_eq!(closure.code().as_u16(), 1002);
}

#[test]
fn at_the_end_only_what_the_peer_waits_for_stays_pending_within_the_linger_deadline() {
    // Failed, framing lost: our Close stays pending for the driver to write, bounded.
    let (_, mut s) = pair(SessionConfig::default());
    let mut wire = std::vec![0x82, 0xFF];
    wire.extend_from_slice(&(1u64 << 40).to_be_bytes());
    wire.extend_from_slice(&[0; 4]);
    s.push_received(&wire, t(0));
    assert_eq!(s.poll_message(), None);
    assert!(matches!(
        s.closure().map(|c| *c.kind()),
        Some(ClosureKind::Failed {
            end: FailureEnd::FramingLost,
            ..
        })
    ));
    // 1009 and "frame too large" (the code alone without the feature `close-reasons`).
    let len = if cfg!(feature = "close-reasons") {
        0x11
    } else {
        0x02
    };
    assert_eq!(s.pending_write()[..4], [0x88, len, 0x03, 0xF1]);
    let linger = s.poll_timeout().expect("a deadline for the final write");
    assert_eq!(linger, t(0) + s.connection().config().close_timeout);
    s.handle_timeout(t(1));
    assert!(!s.pending_write().is_empty(), "not yet");
    s.handle_timeout(linger);
    assert!(s.pending_write().is_empty(), "dropped at the deadline");
    assert_eq!(s.poll_timeout(), None);

    // Abnormal (the transport ended): nobody reads, so nothing stays pending.
    let (_, mut s) = pair(SessionConfig::default());
    s.send(Frame::Text("never written")).unwrap();
    s.handle_eof(t(1));
    assert!(s.closure().unwrap().is_abnormal());
    assert!(s.pending_write().is_empty());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn an_idle_session_gives_its_buffers_back_and_takes_one_again() {
    let (mut c, mut s) = pair(SessionConfig::default().with_read_buffer_size(4096));
    assert!(s.needs_read_buffer(), "nothing read yet, nothing held");
    c.send(Frame::Text("hello")).unwrap();
    // Half a frame: the partial frame pins the read buffer.
    let wire = c.pending_write().to_vec();
    c.written(wire.len());
    s.read_space()[..3].copy_from_slice(&wire[..3]);
    s.received(3, t(0));
    assert_eq!(s.poll_message(), None);
    // The engine took the partial header into its own state: the buffer is free.
    let buf = s.release_idle_buffers().expect("every byte was decoded");
    assert_eq!(buf.len(), 4096);
    assert!(s.needs_read_buffer());
    // A pooled buffer (dirty contents do not matter) serves the rest of the frame.
    s.provide_read_buffer(std::vec![0xAA; 4096]);
    let rest = &wire[3..];
    s.read_space()[..rest.len()].copy_from_slice(rest);
    s.received(rest.len(), t(1));
    assert_eq!(s.poll_message(), Some(text("hello")));
    // A buffered, undecoded byte keeps the buffer; a pending write keeps the write buffer.
    s.send(Frame::Text("reply")).unwrap();
    s.read_space()[0] = 0x81;
    s.received(1, t(2));
    assert_eq!(s.release_idle_buffers(), None);
    assert!(!s.pending_write().is_empty());
}

#[test]
fn a_close_frame_too_long_is_still_the_peers_close() {
    // A client Close with 126 bytes of payload (§5.5 allows 125), masking key 0.
    let (_, mut s) = pair(SessionConfig::default());
    let mut wire = std::vec![0x88, 0xFE, 0, 126, 0, 0, 0, 0, 0x03, 0xE8];
    wire.extend_from_slice(&[b'*'; 124]);
    s.push_received(&wire, t(0));
    assert_eq!(s.poll_message(), None);
    assert_eq!(
        s.pending_write()[..4],
        [0x88, s.pending_write()[1], 0x03, 0xEA]
    );
    let closure = s.closure().expect("over once our Close is handed out");
    assert!(matches!(
        closure.kind(),
        ClosureKind::Failed {
            error: crate::ProtocolError::ControlFrameTooLong,
            end: FailureEnd::PeerCloseInvalid,
            ..
        }
    ));
}

proptest! {
    /// The same messages come out whatever the read buffer size and the read chunking.
    #[test]
    fn messages_survive_any_chunking(
        sizes in prop::collection::vec(0usize..3000, 1..12),
        read_buf in 1usize..600,
        chunk in 1usize..900,
    ) {
        let (mut c, mut s) = pair(SessionConfig::default().with_read_buffer_size(read_buf));
        let sent: Vec<Message> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| if i % 2 == 0 {
                Message::Binary(vec![i as u8; n])
            } else {
                Message::Text(String::from("é").repeat(n / 2))
            })
            .collect();
        for m in &sent {
            c.send_message(m, t(0)).unwrap();
            c.send(Frame::Ping(b"x")).unwrap();
        }
        prop_assert_eq!(deliver(&mut c, &mut s, chunk, t(1)), sent);
    }

    #[test]
    fn owned_sends_interleave_with_everything_else(
        sizes in prop::collection::vec(prop_oneof![0usize..200, 16_000usize..40_000], 1..8),
        owned in prop::collection::vec(any::<bool>(), 8),
        pings in prop::collection::vec(any::<bool>(), 8),
        partial in prop::collection::vec(0usize..50_000, 8),
        chunk in 1usize..70_000,
    ) {
        // Either side's owned sends, copied sends and Pings in any order, with part of what
        // is pending written between sends (so a send lands behind a half-written tail).
        for (from_client, read_buf) in [(true, 4096), (false, 1 << 16)] {
            let (mut c, mut s) = pair(SessionConfig::default().with_read_buffer_size(read_buf));
            let (from, to) = if from_client { (&mut c, &mut s) } else { (&mut s, &mut c) };
            let sent: Vec<Message> = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| if i % 2 == 0 {
                    Message::Binary((0..n).map(|j| (i + j) as u8).collect())
                } else {
                    Message::Text(String::from("é").repeat(n / 2))
                })
                .collect();
            let mut got = Vec::new();
            for (i, m) in sent.iter().enumerate() {
                if owned[i] {
                    from.send_owned(m.clone(), || t(0)).unwrap();
                } else {
                    from.send_message(m, t(0)).unwrap();
                }
                if pings[i] {
                    from.send(Frame::Ping(b"x")).unwrap();
                }
                let mut left = partial[i].min(from.pending_write_len());
                while left > 0 {
                    let moved = pump(from, to, left, left, t(1));
                    got.extend(core::iter::from_fn(|| to.poll_message()));
                    if moved == 0 {
                        break;
                    }
                    left -= moved;
                }
            }
            got.extend(deliver(from, to, chunk, t(1)));
            prop_assert_eq!(got, sent.clone());
            prop_assert_eq!(from.pending_write_len(), 0);
        }
    }
}

#[test]
fn a_large_owned_message_goes_out_from_its_own_buffer_in_order() {
    for chunk in [1, 4093, 1 << 20] {
        let (mut c, mut s) = pair(SessionConfig::default().with_read_buffer_size(8192));
        let big = |n: usize, seed: u8| -> Vec<u8> { (0..n).map(|i| (i as u8) ^ seed).collect() };
        // Client (masks the owned payload in place), then a small message, a Ping and a
        // second large one queued behind a large one not written yet: order is kept.
        c.send_owned(Message::Binary(big(70_000, 1)), || t(0))
            .unwrap();
        assert_eq!(
            c.pending_write_parts().1.len(),
            70_000,
            "payload not copied"
        );
        assert_eq!(c.pending_write_len(), 70_000 + 14);
        c.send_owned(text("between"), || t(0)).unwrap();
        c.send_owned(Message::Text("é".repeat(20_000)), || t(0))
            .unwrap();
        let expected = std::vec![
            Message::Binary(big(70_000, 1)),
            text("between"),
            Message::Text("é".repeat(20_000)),
        ];
        assert_eq!(deliver(&mut c, &mut s, chunk, t(1)), expected);
        assert_eq!(c.pending_write_len(), 0);
        // Server: echoes them back the same way; part of the payload written, then a Pong
        // owed to the peer's Ping queues after it.
        s.send_owned(Message::Binary(big(50_000, 2)), || t(1))
            .unwrap();
        let header = s.pending_write_parts().0.len();
        assert_eq!(header, 4);
        let mut wire = Vec::new();
        wire.extend_from_slice(s.pending_write_parts().0);
        wire.extend_from_slice(&s.pending_write_parts().1[..100]);
        s.written(header + 100);
        c.send(Frame::Ping(b"p")).unwrap();
        deliver(&mut c, &mut s, chunk, t(2));
        assert!(s.has_urgent_write());
        let mut got = Vec::new();
        let sp = c.read_space();
        sp[..wire.len()].copy_from_slice(&wire);
        c.received(wire.len(), t(3));
        got.extend(core::iter::from_fn(|| c.poll_message()));
        got.extend(deliver(&mut s, &mut c, chunk, t(3)));
        assert_eq!(got, std::vec![Message::Binary(big(50_000, 2))]);
        assert!(!s.has_urgent_write());
    }
}

#[test]
fn a_vectored_write_may_end_anywhere_in_the_two_parts() {
    let (mut c, mut s) = pair(SessionConfig::default());
    s.send_owned(Message::Binary(std::vec![7; 20_000]), || t(0))
        .unwrap();
    s.send_owned(Message::Binary(std::vec![8; 30_000]), || t(0))
        .unwrap();
    let total = s.pending_write_len();
    assert_eq!(total, 4 + 20_000 + 4 + 30_000);
    let (a, b) = s.pending_write_parts();
    let alen = a.len();
    assert_eq!(alen, 4 + 20_000 + 4, "the first tail joined the buffer");
    let mut wire: Vec<u8> = a.iter().chain(b).copied().collect();
    s.written(alen + 5);
    assert_eq!(s.pending_write_len(), total - alen - 5);
    s.written(usize::MAX);
    assert_eq!(s.pending_write_len(), 0);
    assert!(s.release_idle_buffers().is_none(), "no read buffer yet");
    let sp = c.read_space();
    let n = wire.len().min(sp.len());
    sp[..n].copy_from_slice(&wire[..n]);
    c.received(n, t(1));
    wire.drain(..n);
    let mut got: Vec<Message> = core::iter::from_fn(|| c.poll_message()).collect();
    let sp = c.read_space();
    sp[..wire.len()].copy_from_slice(&wire);
    c.received(wire.len(), t(1));
    got.extend(core::iter::from_fn(|| c.poll_message()));
    assert_eq!(
        got,
        std::vec![
            Message::Binary(std::vec![7; 20_000]),
            Message::Binary(std::vec![8; 30_000])
        ]
    );
}

#[test]
fn an_owned_message_is_refused_like_any_other_once_closing() {
    let (mut c, _s) = pair(SessionConfig::default());
    c.close(CloseCode::NORMAL, "", t(0)).unwrap();
    let before = c.pending_write_len();
    assert_eq!(
        c.send_owned(Message::Binary(std::vec![0; 40_000]), || t(0)),
        Err(SendError::Closing)
    );
    assert_eq!(c.pending_write_len(), before);
}

#[test]
fn send_owned_asks_for_the_time_only_for_a_close() {
    let (mut c, _s) = pair(SessionConfig::default());
    let no_clock = || -> Instant { panic!("a data message read the clock") };
    c.send_owned(text("small"), no_clock).unwrap();
    c.send_owned(Message::Binary(std::vec![1; 20_000]), no_clock)
        .unwrap();
    c.send_owned(Message::Ping(std::vec![1]), no_clock).unwrap();
    let mut asked = false;
    let close = crate::CloseFrame::new(CloseCode::NORMAL, "").unwrap();
    c.send_owned(Message::Close(close), || {
        asked = true;
        t(5)
    })
    .unwrap();
    assert!(asked);
}
