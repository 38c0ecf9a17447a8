//! The blocking adapter over real loopback TCP: echo, fragmentation, ping/pong, the closing
//! handshake from either side, timers against silent raw peers, abrupt ends, subprotocols.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use sockeye_core::handshake::{accept_key, ResponseError};
use sockeye_core::OpCode;
use sockeye_std::{
    AbnormalCause, ClientOptions, CloseCode, Closure, ClosureKind, Config, Decision, EngineConfig,
    Error, Event, FailureEnd, HandshakeError, Initiator, Keepalive, Message, MessageKind, Phase,
    WebSocket,
};
use sockeye_test_support::{frame, header, payload, server_handshake, short_timers, spawn_server};

/// Echoes every message until the connection ends; returns its closure.
fn echo(ws: &mut WebSocket<TcpStream>) -> Closure {
    loop {
        match ws.recv() {
            Ok(message) => match ws.send(message) {
                Ok(()) | Err(Error::Send(_)) => {}
                Err(Error::Closed(closure)) => return *closure,
                Err(e) => panic!("echo send: {e}"),
            },
            Err(Error::Closed(closure)) => return *closure,
            Err(e) => panic!("echo recv: {e}"),
        }
    }
}

fn echo_server() -> (String, JoinHandle<Closure>) {
    spawn_server(|stream| echo(&mut WebSocket::accept(stream).unwrap()))
}

fn assert_clean(closure: &Closure, initiator: Initiator, code: u16) {
    match closure.kind() {
        ClosureKind::Clean { initiator: i, .. } => assert_eq!(*i, initiator, "{closure}"),
        _ => panic!("not clean: {closure}"),
    }
    assert_eq!(closure.code().as_u16(), code, "{closure}");
}

#[test]
fn echoes_messages_of_every_size_then_closes_cleanly() {
    let (url, server) = echo_server();
    let mut ws = WebSocket::connect(&url).unwrap();
    for len in [0, 125, 126, 65535, 65536, 1 << 20] {
        ws.send_binary(&payload(len)).unwrap();
        assert_eq!(ws.recv().unwrap(), Message::Binary(payload(len)), "{len}");
        let text = "é".repeat(len / 2);
        ws.send(Message::Text(text.clone())).unwrap();
        assert_eq!(ws.recv().unwrap(), Message::Text(text), "{len}");
    }
    let closure = ws.close(CloseCode::NORMAL, "done").unwrap();
    assert_clean(&closure, Initiator::Local, 1000);
    let server_closure = server.join().unwrap();
    assert_clean(&server_closure, Initiator::Peer, 1000);
    assert_eq!(server_closure.reason(), "done");
    // Every later call reports the same end.
    assert!(matches!(ws.recv(), Err(Error::Closed(c)) if *c == closure));
    assert!(matches!(ws.send_text("late"), Err(Error::Closed(c)) if *c == closure));
    assert_eq!(ws.close(CloseCode::NORMAL, "").unwrap(), closure);
}

#[test]
fn many_small_messages_sent_in_a_burst_all_come_back() {
    let (url, server) = echo_server();
    let mut ws = WebSocket::connect(&url).unwrap();
    for i in 0..1000 {
        ws.feed(Message::Text(format!("message {i}"))).unwrap();
    }
    ws.flush().unwrap();
    for i in 0..1000 {
        assert_eq!(ws.recv().unwrap(), Message::Text(format!("message {i}")));
    }
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[test]
fn fragmented_messages_are_assembled_both_ways() {
    let (url, server) = spawn_server(|stream| {
        let mut ws = WebSocket::accept(stream).unwrap();
        let got = ws.recv().unwrap();
        ws.send_fragment(MessageKind::Binary, b"one ", false)
            .unwrap();
        ws.ping(b"between").unwrap();
        ws.send_fragment(MessageKind::Binary, b"two ", false)
            .unwrap();
        ws.send_fragment(MessageKind::Binary, b"three", true)
            .unwrap();
        (got, echo(&mut ws))
    });
    let mut ws = WebSocket::connect(&url).unwrap();
    // "héllo" split inside the two-byte "é".
    let text = "héllo".as_bytes();
    ws.send_fragment(MessageKind::Text, &text[..2], false)
        .unwrap();
    ws.send_fragment(MessageKind::Text, &text[2..], true)
        .unwrap();
    assert_eq!(
        ws.recv().unwrap(),
        Message::Binary(b"one two three".to_vec())
    );
    ws.close(CloseCode::NORMAL, "").unwrap();
    let (got, closure) = server.join().unwrap();
    assert_eq!(got, Message::Text("héllo".into()));
    assert!(closure.is_clean());
}

#[test]
fn pings_are_answered_with_pongs() {
    let (url, server) = echo_server();
    let mut ws = WebSocket::connect(&url).unwrap();
    ws.ping(b"are you there").unwrap();
    match ws.recv_event().unwrap() {
        Event::Pong(p) => assert_eq!(&p[..], b"are you there"),
        other => panic!("{other:?}"),
    }
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[test]
fn a_pong_leaves_before_the_application_gets_the_message() {
    // The client's Ping and a message arrive in one read. The server application takes the
    // message and then sits on it: the Pong must already be on its way.
    let (released_tx, released_rx) = std::sync::mpsc::channel::<()>();
    let (url, server) = spawn_server(move |stream| {
        let mut ws = WebSocket::accept(stream).unwrap();
        assert_eq!(ws.recv().unwrap(), Message::Text("work".into()));
        // Busy until the client has its pong (or 10 s pass, and the client's assertion fails).
        let _ = released_rx.recv_timeout(Duration::from_secs(10));
        echo(&mut ws)
    });
    let mut ws = WebSocket::connect(&url).unwrap();
    ws.feed(Message::Ping(b"alive?".to_vec())).unwrap();
    ws.feed(Message::Text("work".into())).unwrap();
    ws.flush().unwrap();
    let started = std::time::Instant::now();
    match ws.recv_event().unwrap() {
        Event::Pong(p) => assert_eq!(&p[..], b"alive?"),
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the pong waited for the application"
    );
    released_tx.send(()).unwrap();
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert!(server.join().unwrap().is_clean());
}

#[test]
fn server_initiated_close_is_clean_on_both_sides() {
    let (url, server) = spawn_server(|stream| {
        let mut ws = WebSocket::accept(stream).unwrap();
        assert_eq!(ws.recv().unwrap(), Message::Text("last".into()));
        ws.close(CloseCode::new(4001), "maintenance").unwrap()
    });
    let mut ws = WebSocket::connect(&url).unwrap();
    ws.send_text("last").unwrap();
    let closure = match ws.recv() {
        Err(Error::Closed(closure)) => *closure,
        other => panic!("{other:?}"),
    };
    assert_clean(&closure, Initiator::Peer, 4001);
    assert_eq!(closure.reason(), "maintenance");
    assert_clean(&server.join().unwrap(), Initiator::Local, 4001);
}

#[test]
fn close_times_out_against_a_peer_that_never_answers() {
    let (url, server) = spawn_server(|mut stream| {
        server_handshake(&mut stream);
        // Read whatever comes (the Close) and never answer, until the client gives up.
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
        sink
    });
    let mut ws = WebSocket::connect_with(&url, &short_timers(300, None)).unwrap();
    let closure = ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(
        *closure.kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::CloseTimeout,
            phase: Phase::AfterCloseSent,
        },
        "{closure}"
    );
    assert_eq!(closure.code(), CloseCode::ABNORMAL);
    // The client closed the transport, and its Close frame had reached the peer.
    let received = server.join().unwrap();
    assert_eq!(received[0], 0x88);
}

#[test]
fn keepalive_detects_a_silent_peer() {
    let (url, server) = spawn_server(|mut stream| {
        server_handshake(&mut stream);
        // Swallow the pings, answer nothing.
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
        sink
    });
    let keepalive = Keepalive {
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(200),
    };
    let mut ws = WebSocket::connect_with(&url, &short_timers(5000, Some(keepalive))).unwrap();
    let closure = match ws.recv() {
        Err(Error::Closed(closure)) => *closure,
        other => panic!("{other:?}"),
    };
    assert!(
        matches!(
            closure.kind(),
            ClosureKind::Abnormal {
                cause: AbnormalCause::KeepaliveTimeout,
                ..
            }
        ),
        "{closure}"
    );
    let pings = server.join().unwrap();
    assert_eq!(pings[0], 0x89, "a keepalive Ping was sent");
}

#[test]
fn abrupt_drop_mid_message_is_1006_in_the_frame_payload_after_complete_messages() {
    let (url, server) = spawn_server(|mut stream| {
        server_handshake(&mut stream);
        let mut wire = frame(0x1, b"first");
        wire.extend(frame(0x2, b"second"));
        wire.extend(header(0x2, 4096));
        wire.extend(payload(512));
        stream.write_all(&wire).unwrap();
        // Dropped here: FIN in the middle of the third frame.
    });
    let mut ws = WebSocket::connect(&url).unwrap();
    server.join().unwrap();
    assert_eq!(ws.recv().unwrap(), Message::Text("first".into()));
    assert_eq!(ws.recv().unwrap(), Message::Binary(b"second".to_vec()));
    let closure = match ws.recv() {
        Err(Error::Closed(closure)) => *closure,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        *closure.kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::Eof,
            phase: Phase::FramePayload {
                opcode: OpCode::Binary,
                received: 512,
                expected: 4096,
            },
        },
        "{closure}"
    );
    assert!(closure.to_string().contains("512 of 4096"), "{closure}");
}

#[test]
fn bytes_sent_right_behind_the_handshake_are_not_lost() {
    let (url, server) = spawn_server(|mut stream| {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let text = String::from_utf8(head).unwrap();
        let key = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        // Response and first message in one write.
        let mut wire = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(key.as_bytes())
        )
        .into_bytes();
        wire.extend(frame(0x1, b"welcome"));
        stream.write_all(&wire).unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    });
    let mut ws = WebSocket::connect(&url).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::Text("welcome".into()));
    drop(ws);
    server.join().unwrap();
}

#[test]
fn subprotocol_is_negotiated_by_the_accept_callback() {
    let (url, server) = spawn_server(|stream| {
        let mut path = String::new();
        let mut ws = WebSocket::accept_with(stream, Config::default(), |request| {
            path = request.path().to_owned();
            match request.protocols().find(|p| *p == "chat") {
                Some(p) => Decision::accept().with_protocol(p),
                None => Decision::reject(400),
            }
        })
        .unwrap();
        let protocol = ws.protocol().map(String::from);
        echo(&mut ws);
        (path, protocol)
    });
    let url = format!("{url}room/1");
    let options = ClientOptions::new().with_protocols(&["superchat", "chat"]);
    let mut ws = WebSocket::connect_with(&url, &options).unwrap();
    assert_eq!(ws.protocol(), Some("chat"));
    ws.close(CloseCode::NORMAL, "").unwrap();
    let (path, protocol) = server.join().unwrap();
    assert_eq!(path, "/room/1");
    assert_eq!(protocol.as_deref(), Some("chat"));
}

#[test]
fn rejected_and_invalid_requests_get_http_errors() {
    let (url, server) = spawn_server(|stream| {
        WebSocket::accept_with(stream, Config::default(), |_| {
            Decision::reject(403).with_body(b"go away\n")
        })
        .map(|_| ())
    });
    match WebSocket::connect(&url) {
        Err(Error::Handshake(HandshakeError::Response(ResponseError::Status(403)))) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        server.join().unwrap(),
        Err(Error::Handshake(HandshakeError::Rejected { status: 403 }))
    ));

    let (url, server) = spawn_server(|stream| WebSocket::accept(stream).map(|_| ()));
    let addr: SocketAddr = url["ws://".len()..url.len() - 1].parse().unwrap();
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut response = String::new();
    raw.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    assert!(matches!(
        server.join().unwrap(),
        Err(Error::Handshake(HandshakeError::Request(_)))
    ));
}

#[test]
fn huge_messages_can_be_received_in_chunks() {
    let big = payload(1 << 20);
    let sent = big.clone();
    let (url, server) = spawn_server(move |stream| {
        let mut ws = WebSocket::accept(stream).unwrap();
        ws.send_binary(&sent).unwrap();
        echo(&mut ws)
    });
    let options =
        ClientOptions::new().with_config(Config::default().with_read_buffer_size(16 * 1024));
    let mut ws = WebSocket::connect_with(&url, &options).unwrap();
    let mut got = Vec::new();
    let mut chunks = 0;
    loop {
        if let Event::Data(chunk) = ws.recv_event().unwrap() {
            assert!(chunk.payload.len() <= 16 * 1024);
            assert_eq!(chunk.first, chunks == 0);
            got.extend_from_slice(chunk.payload);
            chunks += 1;
            if chunk.last {
                break;
            }
        }
    }
    assert!(chunks >= 64, "{chunks}");
    assert_eq!(got, big);
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert!(server.join().unwrap().is_clean());
}

#[test]
fn a_message_over_the_limit_fails_the_connection_with_1009() {
    let (url, server) = spawn_server(|stream| {
        let config =
            Config::default().with_engine(EngineConfig::default().with_max_message_size(1000));
        let mut ws = WebSocket::accept_with(stream, config, |_| Decision::accept()).unwrap();
        echo(&mut ws)
    });
    let mut ws = WebSocket::connect(&url).unwrap();
    ws.send_binary(&payload(1001)).unwrap();
    let closure = match ws.recv() {
        Err(Error::Closed(closure)) => *closure,
        other => panic!("{other:?}"),
    };
    // The server failed the connection with 1009, which the client received cleanly.
    assert_clean(&closure, Initiator::Peer, 1009);
    let server_closure = server.join().unwrap();
    assert!(matches!(
        server_closure.kind(),
        ClosureKind::Failed {
            end: FailureEnd::Acknowledged,
            ..
        }
    ));
    assert_eq!(server_closure.code().as_u16(), 1009);
}

#[test]
fn a_reset_is_reported_as_a_transport_error() {
    let (url, server) = spawn_server(|mut stream| {
        server_handshake(&mut stream);
        // Unread input at close makes the kernel send RST instead of FIN.
        let mut first = [0u8; 1];
        stream.read_exact(&mut first).unwrap();
    });
    let mut ws = WebSocket::connect(&url).unwrap();
    ws.send_text("this is not read by the peer").unwrap();
    server.join().unwrap();
    let closure = match ws.recv() {
        Err(Error::Closed(closure)) => *closure,
        other => panic!("{other:?}"),
    };
    assert!(closure.is_abnormal(), "{closure}");
    // Depending on timing the kernel reports the reset or an end of stream; never a panic.
    assert!(matches!(
        closure.kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::Transport(_) | AbnormalCause::Eof,
            ..
        }
    ));
}

#[test]
fn an_idle_connection_outlives_the_handshake_timeout() {
    let (url, server) = spawn_server(|stream| {
        let config = Config::default().with_handshake_timeout(Some(Duration::from_millis(100)));
        let mut ws = WebSocket::accept_with(stream, config, |_| Decision::accept()).unwrap();
        // Stay silent for longer than the handshake timeout, then talk.
        thread::sleep(Duration::from_millis(300));
        ws.send_text("still here").unwrap();
        echo(&mut ws)
    });
    let options = ClientOptions::new()
        .with_config(Config::default().with_handshake_timeout(Some(Duration::from_millis(100))));
    let mut ws = WebSocket::connect_with(&url, &options).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::Text("still here".into()));
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert!(server.join().unwrap().is_clean());
}

#[test]
fn timers_bound_the_wait_for_a_peer_that_stopped_reading() {
    // Fill the kernel buffers towards a peer that reads nothing, then: close() ends with the
    // close timeout; a blocked send ends with the keepalive timeout.
    for closing in [true, false] {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let (url, server) = spawn_server(move |mut stream| {
            server_handshake(&mut stream);
            // Read nothing; hold the connection until the test is over.
            let _ = done_rx.recv();
        });
        let keepalive = Keepalive {
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(200),
        };
        let mut options = short_timers(300, (!closing).then_some(keepalive));
        // Room to queue more than the kernel takes without writing.
        options.config = options.config.with_write_high_water(64 << 20);
        let mut ws = WebSocket::connect_with(&url, &options).unwrap();
        let chunk = payload(64 * 1024);
        let closure = if closing {
            // Far more than the kernel takes: the Close has to wait behind it.
            for _ in 0..512 {
                ws.feed(Message::Binary(chunk.clone())).unwrap();
            }
            ws.close(CloseCode::NORMAL, "").unwrap()
        } else {
            loop {
                match ws.send_binary(&chunk) {
                    Ok(()) => {}
                    Err(Error::Closed(closure)) => break *closure,
                    Err(e) => panic!("{e}"),
                }
            }
        };
        let expected = if closing {
            AbnormalCause::CloseTimeout
        } else {
            AbnormalCause::KeepaliveTimeout
        };
        match closure.kind() {
            ClosureKind::Abnormal { cause, .. } => assert_eq!(*cause, expected, "{closure}"),
            _ => panic!("{closure}"),
        }
        drop(ws);
        done_tx.send(()).unwrap();
        server.join().unwrap();
    }
}
