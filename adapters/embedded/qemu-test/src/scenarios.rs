//! End-to-end scenarios for `sockeye-embedded`: a client and a server (or a scripted peer)
//! over the in-memory [`duplex`](crate::duplex) stream, on the virtual [`TickClock`].
//!
//! Each scenario is an `async fn` that panics on failure. The same functions run on the host
//! (`adapters/embedded/tests/scenarios.rs`, `cargo test -p sockeye-embedded`) and on an
//! emulated Cortex-M (`qemu-test/tests/adapter.rs`), so the adapter is checked on the target
//! it is written for, not only on x86.

use core::time::Duration;

use embedded_io_async::ErrorKind;
use sockeye_core::close::{AbnormalCause, FailureEnd, Phase, TransportError};
use sockeye_core::frame::OpCode;
use sockeye_core::handshake::{RequestError, ResponseError};
use sockeye_core::{Initiator, ProtocolError};
use sockeye_embedded::{
    accept, connect, Accept, ClientRequest, Clock, CloseCode, Closure, ClosureKind, Config,
    Connection, Error, Event, HandshakeError, Keepalive, Message, MessageKind, OwnedMessage,
    Reject, Storage, Url, WebSocket,
};

use crate::duplex::{Channel, End};
use crate::sim::{join, TickClock};

/// Bytes in flight per direction.
pub const PIPE: usize = 512;
/// Buffer sizes used by most scenarios.
pub const RX: usize = 256;
/// Transmit buffer size used by most scenarios.
pub const TX: usize = 256;

type Ws<'b> = WebSocket<'b, End<'b, PIPE>, &'b TickClock>;

/// A virtual clock ticking 1 ms per idle poll.
pub fn clock() -> TickClock {
    TickClock::new(Duration::from_millis(1))
}

fn client<'b, const R: usize, const T: usize>(
    io: End<'b, PIPE>,
    clock: &'b TickClock,
    config: Config,
    storage: &'b mut Storage<R, T>,
) -> Ws<'b> {
    let conn = Connection::client(config, clock.now(), 0x5eed);
    storage.attach(io, clock, conn)
}

fn server<'b, const R: usize, const T: usize>(
    io: End<'b, PIPE>,
    clock: &'b TickClock,
    config: Config,
    storage: &'b mut Storage<R, T>,
) -> Ws<'b> {
    let conn = Connection::server(config, clock.now());
    storage.attach(io, clock, conn)
}

/// Receives until the connection ends and returns its closure (a server then closes the
/// transport, as §7.1.1 asks).
async fn until_closed(ws: &mut Ws<'_>) -> Closure {
    loop {
        match ws.receive().await {
            Ok(_) => {}
            Err(Error::Closed) => return ws.closure().unwrap(),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

/// Echoes every message back until the connection ends; returns the closure and how many
/// messages were echoed. Closes the transport at the end.
async fn echo_server(mut ws: Ws<'_>) -> (Closure, usize) {
    let mut echoed = 0;
    loop {
        let mut copy = [0u8; RX];
        let (kind, len) = match ws.receive().await {
            Ok(Message::Text(t)) => {
                copy[..t.len()].copy_from_slice(t.as_bytes());
                (MessageKind::Text, t.len())
            }
            Ok(Message::Binary(b)) => {
                copy[..b.len()].copy_from_slice(b);
                (MessageKind::Binary, b.len())
            }
            Err(Error::Closed) => {
                let closure = ws.closure().unwrap();
                ws.into_transport().shutdown();
                return (closure, echoed);
            }
            Err(e) => panic!("server: {e:?}"),
        };
        let sent = match kind {
            MessageKind::Text => {
                ws.send_text(core::str::from_utf8(&copy[..len]).unwrap())
                    .await
            }
            MessageKind::Binary => ws.send_binary(&copy[..len]).await,
        };
        sent.unwrap();
        echoed += 1;
    }
}

fn assert_clean(c: &Closure, initiator: Initiator, code: u16) {
    match c.kind() {
        ClosureKind::Clean {
            initiator: i,
            peer_kept_transport_open,
            ..
        } => {
            assert_eq!(*i, initiator);
            assert!(!peer_kept_transport_open);
        }
        other => panic!("expected a clean closure, got {other:?}"),
    }
    assert_eq!(c.code().as_u16(), code);
}

fn assert_abnormal(c: &Closure, cause: AbnormalCause) -> Phase {
    assert_eq!(c.code(), CloseCode::ABNORMAL);
    match *c.kind() {
        ClosureKind::Abnormal { cause: got, phase } => {
            assert_eq!(got, cause);
            phase
        }
        other => panic!("expected an abnormal closure, got {other:?}"),
    }
}

/// A client sends text, binary and an empty message; the server echoes; the client closes
/// with 1000 and both see a clean closure (the server closes TCP first, §7.1.1).
pub async fn echo_then_clean_close() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce, se) = End::pair(&a, &b);
    let (mut cs, mut ss) = (Storage::<RX, TX>::new(), Storage::<RX, TX>::new());
    let mut c = client(ce, &clock, Config::new(), &mut cs);
    let s = server(se, &clock, Config::new(), &mut ss);
    let client_side = async {
        c.send_text("hello, sockeye").await.unwrap();
        assert_eq!(c.receive().await.unwrap(), Message::Text("hello, sockeye"));
        c.send_binary(&[0, 1, 2, 0xff]).await.unwrap();
        assert_eq!(
            c.receive().await.unwrap(),
            Message::Binary(&[0, 1, 2, 0xff])
        );
        c.send_text("").await.unwrap();
        assert_eq!(c.receive().await.unwrap(), Message::Text(""));
        c.close(CloseCode::NORMAL, "bye").await.unwrap()
    };
    let (closure, (server_closure, echoed)) = join(client_side, echo_server(s)).await;
    assert_eq!(echoed, 3);
    assert_clean(&closure, Initiator::Local, 1000);
    assert_clean(&server_closure, Initiator::Peer, 1000);
    assert_eq!(server_closure.reason(), "bye");
    // Later calls report the same closure.
    assert_eq!(c.send_text("late").await, Err(Error::Closed));
    assert_eq!(c.receive().await, Err(Error::Closed));
    assert_eq!(c.closure(), Some(closure));
    assert_eq!(c.close(CloseCode::NORMAL, "again").await, Ok(closure));
}

/// `receive_owned` assembles whole messages — also fragmented ones larger than the receive
/// buffer — into heapless storage; a message over its capacity closes the connection with
/// 1009, which the peer sees.
pub async fn receive_owned_fits_or_closes_with_1009() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce, se) = End::pair(&a, &b);
    let (mut cs, mut ss) = (Storage::<RX, TX>::new(), Storage::<RX, TX>::new());
    let mut c = client(ce, &clock, Config::new(), &mut cs);
    let mut s = server(se, &clock, Config::new(), &mut ss);
    let client_side = async {
        c.send_text("grüße").await.unwrap();
        // 600 bytes: more than RX, sent as fragments.
        c.send_fragment(MessageKind::Binary, &[7; 300], false)
            .await
            .unwrap();
        c.send_fragment(MessageKind::Binary, &[8; 300], true)
            .await
            .unwrap();
        c.send_binary(&[9; 200]).await.unwrap();
        until_closed(&mut c).await
    };
    let server_side = async move {
        match s.receive_owned::<1024>().await.unwrap() {
            OwnedMessage::Text(t) => assert_eq!(t.as_str(), "grüße"),
            other => panic!("{other:?}"),
        }
        match s.receive_owned::<1024>().await.unwrap() {
            OwnedMessage::Binary(b) => {
                assert_eq!(b.len(), 600);
                assert_eq!((b[0], b[299], b[300], b[599]), (7, 7, 8, 8));
            }
            other => panic!("{other:?}"),
        }
        // 200 bytes into 100: the server closes with 1009.
        assert_eq!(s.receive_owned::<100>().await, Err(Error::Closed));
        let closure = s.closure().unwrap();
        s.into_transport().shutdown();
        closure
    };
    let (client_closure, server_closure) = join(client_side, server_side).await;
    assert_clean(&client_closure, Initiator::Peer, 1009);
    assert_clean(&server_closure, Initiator::Local, 1009);
}

/// The server closes with 1001; the client answers, waits for the server's EOF and reports a
/// clean closure initiated by the peer.
pub async fn server_initiated_close() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce, se) = End::pair(&a, &b);
    let (mut cs, mut ss) = (Storage::<RX, TX>::new(), Storage::<RX, TX>::new());
    let mut c = client(ce, &clock, Config::new(), &mut cs);
    let mut s = server(se, &clock, Config::new(), &mut ss);
    let server_side = async {
        s.send_text("going away soon").await.unwrap();
        let closure = s.close(CloseCode::GOING_AWAY, "restart").await.unwrap();
        s.into_transport().shutdown();
        closure
    };
    let client_side = async {
        assert_eq!(c.receive().await.unwrap(), Message::Text("going away soon"));
        until_closed(&mut c).await
    };
    let (sc, cc) = join(server_side, client_side).await;
    assert_clean(&sc, Initiator::Local, 1001);
    assert_clean(&cc, Initiator::Peer, 1001);
    assert_eq!(cc.reason(), "restart");
}

/// Messages larger than the transmit buffer go out as fragments and are reassembled in the
/// receiver's buffer; every byte moves one at a time (partial reads and writes).
pub async fn fragments_and_partial_io() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    a.set_max_chunk(1);
    b.set_max_chunk(3);
    let (ce, se) = End::pair(&a, &b);
    let (mut cs, mut ss) = (Storage::<RX, 140>::new(), Storage::<1024, TX>::new());
    let mut c = client(ce, &clock, Config::new(), &mut cs);
    let mut s = server(se, &clock, Config::new(), &mut ss);
    let mut big = [0u8; 700];
    for (i, b) in big.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    // 300 bytes of text in 2-byte code points: the fragments split some of them.
    let mut text = [0u8; 300];
    for pair in text.chunks_exact_mut(2) {
        pair.copy_from_slice("é".as_bytes());
    }
    let text = core::str::from_utf8(&text).unwrap();
    let client_side = async {
        c.send_binary(&big).await.unwrap();
        c.send_text(text).await.unwrap();
        c.send_fragment(MessageKind::Binary, b"abc", false)
            .await
            .unwrap();
        c.send_ping(b"between").await.unwrap();
        c.send_fragment(MessageKind::Binary, b"def", true)
            .await
            .unwrap();
        c.close(CloseCode::NORMAL, "").await.unwrap()
    };
    let server_side = async {
        assert_eq!(s.receive().await.unwrap(), Message::Binary(&big));
        assert_eq!(s.receive().await.unwrap(), Message::Text(text));
        assert_eq!(s.receive().await.unwrap(), Message::Binary(b"abcdef"));
        let closure = until_closed(&mut s).await;
        s.into_transport().shutdown();
        closure
    };
    let (cc, sc) = join(client_side, server_side).await;
    assert_clean(&cc, Initiator::Local, 1000);
    assert_clean(&sc, Initiator::Peer, 1000);
}

/// A message larger than any buffer is streamed as chunks with `receive_event`; with
/// `receive` it is reported as too large, dropped, and the connection goes on.
pub async fn large_messages_stream_as_chunks() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce, se) = End::pair(&a, &b);
    let (mut cs, mut ss) = (Storage::<RX, TX>::new(), Storage::<64, TX>::new());
    let mut c = client(ce, &clock, Config::new(), &mut cs);
    let mut s = server(se, &clock, Config::new(), &mut ss);
    let big = [0x5au8; 1000];
    let client_side = async {
        c.send_binary(&big).await.unwrap();
        c.send_binary(&big).await.unwrap();
        c.send_text("small").await.unwrap();
        c.close(CloseCode::NORMAL, "").await.unwrap()
    };
    let server_side = async {
        // Streamed: chunks borrow the 64-byte buffer.
        let (mut total, mut chunks, mut saw_first) = (0, 0, false);
        loop {
            match s.receive_event().await.unwrap() {
                Event::Data(chunk) => {
                    assert_eq!(chunk.kind, MessageKind::Binary);
                    assert!(chunk.payload.len() <= 64);
                    assert!(chunk.payload.iter().all(|&b| b == 0x5a));
                    saw_first |= chunk.first;
                    total += chunk.payload.len();
                    chunks += 1;
                    if chunk.last {
                        break;
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(saw_first && total == 1000 && chunks > 15);
        // Assembled: does not fit, dropped; the next message arrives intact.
        assert_eq!(s.receive().await, Err(Error::MessageTooLarge));
        assert_eq!(s.receive().await.unwrap(), Message::Text("small"));
        let closure = until_closed(&mut s).await;
        s.into_transport().shutdown();
        closure
    };
    let (cc, sc) = join(client_side, server_side).await;
    assert_clean(&cc, Initiator::Local, 1000);
    assert!(sc.is_clean());
}

/// A Ping is answered by the engine with a Pong carrying the same payload.
pub async fn ping_is_answered() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce, se) = End::pair(&a, &b);
    let (mut cs, mut ss) = (Storage::<RX, TX>::new(), Storage::<RX, TX>::new());
    let mut c = client(ce, &clock, Config::new(), &mut cs);
    let s = server(se, &clock, Config::new(), &mut ss);
    let client_side = async {
        c.send_ping(b"are you there").await.unwrap();
        match c.receive_event().await.unwrap() {
            Event::Pong(p) => assert_eq!(&p[..], b"are you there"),
            other => panic!("{other:?}"),
        }
        c.close(CloseCode::NORMAL, "").await.unwrap()
    };
    let (cc, (sc, _)) = join(client_side, echo_server(s)).await;
    assert!(cc.is_clean() && sc.is_clean());
}

/// The peer's transport ends in the middle of a frame: 1006, cause EOF, and the phase says
/// how much of the frame had arrived. A clean close is a different outcome (see above).
pub async fn eof_mid_frame_is_abnormal() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce, _peer) = End::pair(&a, &b);
    let mut st = Storage::<RX, TX>::new();
    let mut c = client(ce, &clock, Config::new(), &mut st);
    // A complete text frame, then 2 of the 5 payload bytes of the next, then EOF.
    b.push(&[0x81, 0x02, b'h', b'i', 0x81, 0x05, b'w', b'o']);
    b.shutdown();
    assert_eq!(c.receive().await.unwrap(), Message::Text("hi"));
    assert_eq!(c.receive().await, Err(Error::Closed));
    let closure = c.closure().unwrap();
    let phase = assert_abnormal(&closure, AbnormalCause::Eof);
    assert_eq!(
        phase,
        Phase::FramePayload {
            opcode: OpCode::Text,
            received: 2,
            expected: 5
        }
    );
    assert!(!closure.is_clean());
}

/// EOF between frames, right after the connection opened.
pub async fn eof_before_first_frame_is_abnormal() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (se, _peer) = End::pair(&a, &b);
    let mut st = Storage::<RX, TX>::new();
    let mut s = server(se, &clock, Config::new(), &mut st);
    b.shutdown();
    assert_eq!(s.receive().await, Err(Error::Closed));
    let closure = s.closure().unwrap();
    assert_eq!(
        assert_abnormal(&closure, AbnormalCause::Eof),
        Phase::BeforeFirstFrame
    );
}

/// A transport error (connection reset) becomes 1006 with the transport error as its cause.
pub async fn transport_error_is_abnormal() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce, _peer) = End::pair(&a, &b);
    let mut st = Storage::<RX, TX>::new();
    let mut c = client(ce, &clock, Config::new(), &mut st);
    b.fail(ErrorKind::ConnectionReset);
    assert_eq!(c.receive().await, Err(Error::Closed));
    let closure = c.closure().unwrap();
    assert_abnormal(
        &closure,
        AbnormalCause::Transport(TransportError::ConnectionReset),
    );
    // A write failure ends the connection the same way.
    let (a2, b2) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce2, _peer2) = End::pair(&a2, &b2);
    let mut st2 = Storage::<RX, TX>::new();
    let mut c2 = client(ce2, &clock, Config::new(), &mut st2);
    a2.fail(ErrorKind::BrokenPipe);
    assert_eq!(c2.send_text("lost").await, Err(Error::Closed));
    let closure = c2.closure().unwrap();
    assert_abnormal(
        &closure,
        AbnormalCause::Transport(TransportError::BrokenPipe),
    );
}

/// Keepalive: a silent but alive peer is pinged and answers; a dead one (nobody reading the
/// other end) ends the connection with 1006, cause keepalive timeout.
pub async fn keepalive_pings_and_times_out() {
    let keepalive = Config::new().with_keepalive(Some(Keepalive {
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(100),
    }));
    // Alive: the client answers pings while it waits for a message that comes late.
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce, se) = End::pair(&a, &b);
    let (mut cs, mut ss) = (Storage::<RX, TX>::new(), Storage::<RX, TX>::new());
    let mut c = client(ce, &clock, Config::new(), &mut cs);
    let mut s = server(se, &clock, keepalive, &mut ss);
    let server_side = async {
        let mut pongs = 0;
        while pongs < 3 {
            match s.receive_event().await.unwrap() {
                Event::Pong(_) => pongs += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(s.connection().rtt().is_some());
        s.send_text("still here").await.unwrap();
        let closure = until_closed(&mut s).await;
        s.into_transport().shutdown();
        closure
    };
    let client_side = async {
        assert_eq!(c.receive().await.unwrap(), Message::Text("still here"));
        c.close(CloseCode::NORMAL, "").await.unwrap()
    };
    let (sc, cc) = join(server_side, client_side).await;
    assert!(sc.is_clean() && cc.is_clean());

    // Dead: nobody reads or answers on the other end.
    let clock = self::clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (se, _dead) = End::pair(&a, &b);
    let mut st = Storage::<RX, TX>::new();
    let mut s = server(se, &clock, keepalive, &mut st);
    assert_eq!(s.receive().await, Err(Error::Closed));
    let closure = s.closure().unwrap();
    assert_abnormal(&closure, AbnormalCause::KeepaliveTimeout);
    assert!(closure.idle() >= Duration::from_millis(300));
    // The ping did go out on the wire: 0x89, length 8 (its timestamp).
    let mut wire = [0u8; 2];
    a.peek(&mut wire);
    assert_eq!(wire, [0x89, 0x08]);
}

/// We close and the peer never answers: after the close timeout the closure is 1006, cause
/// close timeout, phase "after we sent Close".
pub async fn close_timeout_when_peer_is_silent() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce, _silent) = End::pair(&a, &b);
    let mut st = Storage::<RX, TX>::new();
    let config = Config::new().with_close_timeout(Duration::from_millis(500));
    let mut c = client(ce, &clock, config, &mut st);
    let closure = c.close(CloseCode::GOING_AWAY, "").await.unwrap();
    assert_eq!(
        assert_abnormal(&closure, AbnormalCause::CloseTimeout),
        Phase::AfterCloseSent
    );
    let mut wire = [0u8; 8];
    let n = a.peek(&mut wire);
    assert_eq!((n, wire[0], wire[1]), (8, 0x88, 0x82)); // masked Close, 2-byte payload
}

/// The peer breaks the protocol: the engine fails the connection with the right code, the
/// adapter sends its Close, and the closure says why.
pub async fn protocol_violations_fail_fast() {
    // A server receiving an unmasked frame fails with 1002 (§5.1).
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (se, _peer) = End::pair(&a, &b);
    let mut st = Storage::<RX, TX>::new();
    let mut s = server(se, &clock, Config::new(), &mut st);
    b.push(&[0x81, 0x02, b'h', b'i']);
    b.shutdown();
    assert_eq!(s.receive().await, Err(Error::Closed));
    let closure = s.closure().unwrap();
    assert_eq!(closure.code(), CloseCode::PROTOCOL_ERROR);
    assert!(matches!(
        closure.kind(),
        ClosureKind::Failed {
            error: ProtocolError::UnmaskedFrame,
            end: FailureEnd::TransportEnded,
            ..
        }
    ));
    let mut wire = [0u8; 4];
    a.peek(&mut wire);
    assert_eq!(wire, [0x88, 0x19, 0x03, 0xea]); // our Close: 1002 + reason

    // A client receiving invalid UTF-8 fails at the first bad byte (1007), even though the
    // frame announced more payload that never comes.
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce, _peer) = End::pair(&a, &b);
    let mut st = Storage::<RX, TX>::new();
    let mut c = client(ce, &clock, Config::new(), &mut st);
    b.push(&[0x81, 0x7e, 0x10, 0x00, b'o', b'k', 0xc0]); // 4096-byte text, 3 bytes sent
    assert_eq!(c.receive().await, Err(Error::Closed));
    let closure = c.closure().unwrap();
    assert_eq!(closure.code(), CloseCode::INVALID_PAYLOAD);
    let mut wire = [0u8; 4];
    a.peek(&mut wire);
    assert_eq!(&wire[..2], &[0x88, 0x80 | 15]); // masked Close: 1007 + "invalid UTF-8"
}

/// Bytes that arrived with the handshake response are given to the engine first.
pub async fn received_bytes_are_processed_first() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce, _peer) = End::pair(&a, &b);
    // A handshake done by hand: the response and a first frame arrived in one read.
    let (mut rx, mut tx) = ([0u8; RX], [0u8; TX]);
    rx[..10].copy_from_slice(b"HTTP/1.1..");
    rx[10..17].copy_from_slice(&[0x81, 0x05, b'f', b'i', b'r', b's', b't']);
    let mut conn = Connection::client(Config::new(), clock.now(), 1);
    let mut c = WebSocket::new(ce, &clock, &mut conn, &mut rx, &mut tx).with_received(10..17);
    b.push(&[0x81, 0x06, b's', b'e', b'c', b'o', b'n', b'd']);
    assert_eq!(c.receive().await.unwrap(), Message::Text("first"));
    assert_eq!(c.receive().await.unwrap(), Message::Text("second"));
}

/// Dropping a `receive` future while it waits loses nothing.
pub async fn receive_is_cancel_safe() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce, _peer) = End::pair(&a, &b);
    let mut st = Storage::<RX, TX>::new();
    let mut c = client(ce, &clock, Config::new(), &mut st);
    // Half a fragmented message, then the receive is abandoned.
    b.push(&[0x01, 0x03, b'o', b'n', b'e']);
    {
        let pending = core::pin::pin!(c.receive());
        assert!(poll_once(pending).await.is_none());
    }
    b.push(&[0x80, 0x03, b't', b'w', b'o']);
    assert_eq!(c.receive().await.unwrap(), Message::Text("onetwo"));
}

/// Polls a future once; `Some` if it completed.
async fn poll_once<F: core::future::Future>(mut f: core::pin::Pin<&mut F>) -> Option<F::Output> {
    core::future::poll_fn(|cx| {
        core::task::Poll::Ready(match f.as_mut().poll(cx) {
            core::task::Poll::Ready(v) => Some(v),
            core::task::Poll::Pending => None,
        })
    })
    .await
}

/// Randomness for the client handshakes (a real device takes it from its RNG).
const RANDOM: [u8; 24] = *b"0123456789abcdef-masks!!";

/// Both opening handshakes, client and server, over the pipe: the server selects one of the
/// offered subprotocols and sends its first message right behind the 101 response (the client
/// reads both in one go, and the message is not lost); then an echo and a clean close.
pub async fn handshakes_then_echo_and_close() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (ce, se) = End::pair(&a, &b);
    let (mut cs, mut ss) = (Storage::<RX, TX>::new(), Storage::<RX, TX>::new());
    let url = Url::parse("ws://device.local:8080/telemetry?v=2").unwrap();
    let request = ClientRequest::new(&url).with_protocols(&["v2.telemetry", "v1.telemetry"]);
    let client_side = async {
        let (mut ws, protocol) = connect(ce, &clock, &mut cs, request, RANDOM, Config::new())
            .await
            .unwrap();
        assert_eq!(protocol, Some("v2.telemetry"));
        assert_eq!(ws.receive().await.unwrap(), Message::Text("welcome"));
        ws.send_text("reading: 21.5 C").await.unwrap();
        assert_eq!(
            ws.receive().await.unwrap(),
            Message::Text("reading: 21.5 C")
        );
        ws.close(CloseCode::NORMAL, "done").await.unwrap()
    };
    let server_side = async {
        let mut ws = accept(se, &clock, &mut ss, Config::new(), |req| {
            assert_eq!(
                (req.path(), req.query(), req.host()),
                ("/telemetry", Some("v=2"), "device.local:8080")
            );
            assert!(req.protocols().any(|p| p == "v1.telemetry"));
            Ok(Accept::new().with_protocol("v2.telemetry"))
        })
        .await
        .unwrap();
        ws.send_text("welcome").await.unwrap();
        echo_server(ws).await
    };
    let (cc, (sc, echoed)) = join(client_side, server_side).await;
    assert_eq!(echoed, 1);
    assert_clean(&cc, Initiator::Local, 1000);
    assert_clean(&sc, Initiator::Peer, 1000);
    assert_eq!(sc.reason(), "done");
}

/// A client that pipelines its first frame right behind the request: the server's engine
/// gets it after the handshake.
pub async fn server_keeps_pipelined_frame() {
    let clock = clock();
    let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
    let (se, _client) = End::pair(&a, &b);
    let mut st = Storage::<RX, TX>::new();
    b.push(
        b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n",
    );
    // "Hello", masked (RFC 6455 §5.7).
    b.push(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    let mut ws = accept(se, &clock, &mut st, Config::new(), |_| Ok(Accept::new()))
        .await
        .unwrap();
    assert_eq!(ws.receive().await.unwrap(), Message::Text("Hello"));
    let mut head = [0u8; 129];
    let n = a.peek(&mut head);
    assert_eq!(
        &head[..n],
        &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
           Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"[..]
    );
}

/// Handshake failures are reported as such, not as a connection: a refusal by the server,
/// an invalid request, a forged accept key, and EOF in the middle of the handshake.
pub async fn handshake_failures() {
    let clock = clock();
    let url = Url::parse("ws://device.local/").unwrap();
    // The server refuses (403); the client sees the status.
    {
        let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
        let (ce, se) = End::pair(&a, &b);
        let (mut cs, mut ss) = (Storage::<RX, TX>::new(), Storage::<RX, TX>::new());
        let client_side = connect(
            ce,
            &clock,
            &mut cs,
            ClientRequest::new(&url),
            RANDOM,
            Config::new(),
        );
        let server_side = accept(se, &clock, &mut ss, Config::new(), |_| {
            Err(Reject::new(403))
        });
        let (c, s) = join(client_side, server_side).await;
        assert_eq!(
            c.err(),
            Some(HandshakeError::Response(ResponseError::Status(403)))
        );
        assert_eq!(s.err(), Some(HandshakeError::Rejected));
    }
    // Not a WebSocket request: the server answers 400 and reports why.
    {
        let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
        let (se, _client) = End::pair(&a, &b);
        let mut st = Storage::<RX, TX>::new();
        b.push(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = accept(se, &clock, &mut st, Config::new(), |_| Ok(Accept::new())).await;
        assert_eq!(
            r.err(),
            Some(HandshakeError::Request(RequestError::MissingUpgrade))
        );
        let mut status = [0u8; 12];
        a.peek(&mut status);
        assert_eq!(&status, b"HTTP/1.1 400");
    }
    // A response whose accept key does not match our key.
    {
        let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
        let (ce, _server) = End::pair(&a, &b);
        let mut st = Storage::<RX, TX>::new();
        b.push(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        );
        let r = connect(
            ce,
            &clock,
            &mut st,
            ClientRequest::new(&url),
            RANDOM,
            Config::new(),
        )
        .await;
        assert_eq!(
            r.err(),
            Some(HandshakeError::Response(ResponseError::AcceptMismatch))
        );
    }
    // EOF halfway through the response.
    {
        let (a, b) = (Channel::<PIPE>::new(), Channel::<PIPE>::new());
        let (ce, _server) = End::pair(&a, &b);
        let mut st = Storage::<RX, TX>::new();
        b.push(b"HTTP/1.1 101 Switching Protocols\r\nUpgr");
        b.shutdown();
        let r = connect(
            ce,
            &clock,
            &mut st,
            ClientRequest::new(&url),
            RANDOM,
            Config::new(),
        )
        .await;
        assert_eq!(r.err(), Some(HandshakeError::Eof));
    }
}
