//! The tokio adapter over real loopback TCP: echo, fragmentation, ping/pong, the closing
//! handshake from either side, timers against silent raw peers, abrupt ends, subprotocols,
//! split halves in different tasks, cancel safety and backpressure.

use std::future::poll_fn;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use futures_util::sink::Sink;
use futures_util::{FutureExt, SinkExt, StreamExt};
use sockeye_core::handshake::accept_key;
use sockeye_core::OpCode;
use sockeye_test_support::{frame, header, payload, raw_server, short_timers};
use sockeye_tokio::{
    AbnormalCause, ClientOptions, CloseCode, Closure, ClosureKind, Config, Decision, Error, Event,
    HandshakeError, Initiator, Keepalive, Message, MessageKind, Phase, WebSocket,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Runs `serve` on the first connection accepted on an ephemeral loopback port.
async fn spawn_server<F, Fut>(serve: F) -> (String, JoinHandle<Fut::Output>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move { serve(listener.accept().await.unwrap().0).await });
    (format!("ws://{addr}/"), handle)
}

/// Echoes every message until the connection ends; returns its closure.
async fn echo(ws: &mut WebSocket<TcpStream>) -> Closure {
    loop {
        match ws.recv().await {
            Ok(message) => match ws.send(message).await {
                Ok(()) | Err(Error::Send(_)) => {}
                Err(Error::Closed(closure)) => return *closure,
                Err(e) => panic!("echo send: {e}"),
            },
            Err(Error::Closed(closure)) => return *closure,
            Err(e) => panic!("echo recv: {e}"),
        }
    }
}

async fn echo_server() -> (String, JoinHandle<Closure>) {
    spawn_server(|stream| async move { echo(&mut WebSocket::accept(stream).await.unwrap()).await })
        .await
}

fn assert_clean(closure: &Closure, initiator: Initiator, code: u16) {
    match closure.kind() {
        ClosureKind::Clean { initiator: i, .. } => assert_eq!(*i, initiator, "{closure}"),
        _ => panic!("not clean: {closure}"),
    }
    assert_eq!(closure.code().as_u16(), code, "{closure}");
}

fn closed<T: std::fmt::Debug>(result: Result<T, Error>) -> Closure {
    match result {
        Err(Error::Closed(closure)) => *closure,
        other => panic!("expected the closure, got {other:?}"),
    }
}

#[tokio::test]
async fn echoes_messages_of_every_size_then_closes_cleanly() {
    let (url, server) = echo_server().await;
    let mut ws = WebSocket::connect(&url).await.unwrap();
    for len in [0, 125, 126, 65535, 65536, 1 << 20] {
        ws.send_binary(&payload(len)).await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Message::Binary(payload(len)),
            "{len}"
        );
        let text = "é".repeat(len / 2);
        ws.send(Message::Text(text.clone())).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Text(text), "{len}");
    }
    let closure = ws.close(CloseCode::NORMAL, "done").await.unwrap();
    assert_clean(&closure, Initiator::Local, 1000);
    let server_closure = server.await.unwrap();
    assert_clean(&server_closure, Initiator::Peer, 1000);
    assert_eq!(server_closure.reason(), "done");
    // Every later call reports the same end.
    assert_eq!(closed(ws.recv().await), closure);
    assert_eq!(closed(ws.send_text("late").await), closure);
    assert_eq!(ws.close(CloseCode::NORMAL, "").await.unwrap(), closure);
}

#[tokio::test]
async fn stream_and_sink_carry_a_burst_and_the_stream_ends_after_the_closure() {
    let (url, server) = echo_server().await;
    let mut ws = WebSocket::connect(&url).await.unwrap();
    let mut burst =
        futures_util::stream::iter((0..500).map(|i| Ok(Message::Text(format!("m{i}")))));
    ws.send_all(&mut burst).await.unwrap();
    for i in 0..500 {
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Text(format!("m{i}"))
        );
    }
    // Sink::close performs the closing handshake.
    SinkExt::close(&mut ws).await.unwrap();
    assert!(ws.closure().unwrap().is_clean());
    assert!(matches!(ws.next().await, Some(Err(Error::Closed(_)))));
    assert!(ws.next().await.is_none());
    assert!(futures_util::stream::FusedStream::is_terminated(&ws));
    server.await.unwrap();
}

#[tokio::test]
async fn a_pong_leaves_before_the_application_gets_the_message() {
    // The client's Ping and a message arrive in one read. The server application takes the
    // message and then sits on it: the Pong must already be on its way.
    let (released_tx, released_rx) = tokio::sync::oneshot::channel::<()>();
    let (url, server) = spawn_server(|stream| async move {
        let mut ws = WebSocket::accept(stream).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Text("work".into()));
        // Busy until the client has its pong (or 10 s pass, and the client's assertion fails).
        let _ = tokio::time::timeout(Duration::from_secs(10), released_rx).await;
        echo(&mut ws).await
    })
    .await;
    let mut ws = WebSocket::connect(&url).await.unwrap();
    ws.feed(Message::Ping(b"alive?".to_vec())).await.unwrap();
    ws.feed(Message::Text("work".into())).await.unwrap();
    ws.flush().await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), ws.recv_event()).await;
    match event.expect("the pong waited for the application").unwrap() {
        Event::Pong(p) => assert_eq!(&p[..], b"alive?"),
        other => panic!("{other:?}"),
    }
    released_tx.send(()).unwrap();
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(server.await.unwrap().is_clean());
}

#[tokio::test]
async fn fragmented_messages_are_assembled_both_ways() {
    let (url, server) = spawn_server(|stream| async move {
        let mut ws = WebSocket::accept(stream).await.unwrap();
        let got = ws.recv().await.unwrap();
        ws.send_fragment(MessageKind::Binary, b"one ", false)
            .await
            .unwrap();
        ws.ping(b"between").await.unwrap();
        ws.send_fragment(MessageKind::Binary, b"two ", false)
            .await
            .unwrap();
        ws.send_fragment(MessageKind::Binary, b"three", true)
            .await
            .unwrap();
        (got, echo(&mut ws).await)
    })
    .await;
    let mut ws = WebSocket::connect(&url).await.unwrap();
    let text = "héllo".as_bytes();
    ws.send_fragment(MessageKind::Text, &text[..2], false)
        .await
        .unwrap();
    ws.send_fragment(MessageKind::Text, &text[2..], true)
        .await
        .unwrap();
    assert_eq!(
        ws.recv().await.unwrap(),
        Message::Binary(b"one two three".to_vec())
    );
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    let (got, closure) = server.await.unwrap();
    assert_eq!(got, Message::Text("héllo".into()));
    assert!(closure.is_clean());
}

#[tokio::test]
async fn pings_are_answered_with_pongs() {
    let (url, server) = echo_server().await;
    let mut ws = WebSocket::connect(&url).await.unwrap();
    ws.ping(b"are you there").await.unwrap();
    match ws.recv_event().await.unwrap() {
        Event::Pong(p) => assert_eq!(&p[..], b"are you there"),
        other => panic!("{other:?}"),
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn server_initiated_close_is_clean_on_both_sides() {
    let (url, server) = spawn_server(|stream| async move {
        let mut ws = WebSocket::accept(stream).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Text("last".into()));
        ws.close(CloseCode::new(4001), "maintenance").await.unwrap()
    })
    .await;
    let mut ws = WebSocket::connect(&url).await.unwrap();
    ws.send_text("last").await.unwrap();
    let closure = closed(ws.recv().await);
    assert_clean(&closure, Initiator::Peer, 4001);
    assert_eq!(closure.reason(), "maintenance");
    assert_clean(&server.await.unwrap(), Initiator::Local, 4001);
}

#[tokio::test]
async fn close_times_out_against_a_peer_that_never_answers() {
    let (url, server) = raw_server(|mut stream| {
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
        sink
    });
    let mut ws = WebSocket::connect_with(&url, &short_timers(300, None))
        .await
        .unwrap();
    let closure = ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert_eq!(
        *closure.kind(),
        ClosureKind::Abnormal {
            cause: AbnormalCause::CloseTimeout,
            phase: Phase::AfterCloseSent,
        },
        "{closure}"
    );
    drop(ws);
    assert_eq!(
        server.join().unwrap()[0],
        0x88,
        "the Close frame reached the peer"
    );
}

#[tokio::test]
async fn keepalive_detects_a_silent_peer() {
    let (url, server) = raw_server(|mut stream| {
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
        sink
    });
    let keepalive = Keepalive {
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(200),
    };
    let mut ws = WebSocket::connect_with(&url, &short_timers(5000, Some(keepalive)))
        .await
        .unwrap();
    let closure = closed(ws.recv().await);
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
    drop(ws);
    assert_eq!(server.join().unwrap()[0], 0x89, "a keepalive Ping was sent");
}

/// A producer that only sends (telemetry) and never calls `recv`: the timers run on the send
/// path, so it pings after the interval of silence and learns of the dead peer within
/// interval + timeout, as a 1006 with its cause — from `send`. Also split: only the write half
/// is polled.
#[tokio::test]
async fn a_send_only_client_pings_and_detects_a_silent_peer() {
    for split in [false, true] {
        let (url, server) = raw_server(|mut stream| {
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink);
            sink
        });
        let keepalive = Keepalive {
            interval: Duration::from_millis(300),
            timeout: Duration::from_millis(300),
        };
        let ws = WebSocket::connect_with(&url, &short_timers(5000, Some(keepalive)))
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let (mut whole, mut halves) = if split {
            (None, Some(ws.split()))
        } else {
            (Some(ws), None)
        };
        let mut sent = 0;
        let closure = loop {
            let result = match (&mut whole, &mut halves) {
                (Some(ws), _) => ws.send_text("reading: 21.5 C").await,
                (_, Some((_read, write))) => write.send_text("reading: 21.5 C").await,
                _ => unreachable!(),
            };
            match result {
                Ok(()) => sent += 1,
                Err(e) => break closed::<()>(Err(e)),
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "split={split}: no closure after {sent} sends"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let took = started.elapsed();
        println!("split={split}: {closure} after {took:?} and {sent} messages");
        assert!(
            matches!(
                closure.kind(),
                ClosureKind::Abnormal {
                    cause: AbnormalCause::KeepaliveTimeout,
                    ..
                }
            ),
            "split={split}: {closure}"
        );
        // interval + timeout = 600 ms, plus one send period; far below the 5 s close timeout.
        assert!(took < Duration::from_secs(3), "split={split}: {took:?}");
        drop((whole, halves));
        let received = server.join().unwrap();
        assert!(
            received.windows(2).any(|w| w == [0x89, 0x88]),
            "split={split}: a keepalive Ping (8-byte payload, masked) was sent"
        );
    }
}

#[tokio::test]
async fn abrupt_drop_mid_message_is_1006_in_the_frame_payload_after_complete_messages() {
    let (url, server) = raw_server(|mut stream| {
        let mut wire = frame(0x1, b"first");
        wire.extend(frame(0x2, b"second"));
        wire.extend(header(0x2, 4096));
        wire.extend(payload(512));
        stream.write_all(&wire).unwrap();
    });
    let mut ws = WebSocket::connect(&url).await.unwrap();
    server.join().unwrap();
    assert_eq!(ws.recv().await.unwrap(), Message::Text("first".into()));
    assert_eq!(
        ws.recv().await.unwrap(),
        Message::Binary(b"second".to_vec())
    );
    let closure = closed(ws.recv().await);
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
}

#[tokio::test]
async fn subprotocol_is_negotiated_and_rejections_are_reported() {
    let (url, server) = spawn_server(|stream| async move {
        let mut ws = WebSocket::accept_with(stream, Config::default(), |request| {
            match request.protocols().find(|p| *p == "chat") {
                Some(p) => Decision::accept().with_protocol(p),
                None => Decision::reject(400),
            }
        })
        .await
        .unwrap();
        let protocol = ws.protocol().map(String::from);
        echo(&mut ws).await;
        protocol
    })
    .await;
    let options = ClientOptions::new().with_protocols(&["superchat", "chat"]);
    let mut ws = WebSocket::connect_with(&url, &options).await.unwrap();
    assert_eq!(ws.protocol(), Some("chat"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(server.await.unwrap().as_deref(), Some("chat"));

    let (url, server) = spawn_server(|stream| async move {
        WebSocket::accept_with(stream, Config::default(), |_| Decision::reject(401))
            .await
            .map(|_| ())
    })
    .await;
    assert!(matches!(
        WebSocket::connect(&url).await,
        Err(Error::Handshake(HandshakeError::Response(_)))
    ));
    assert!(matches!(
        server.await.unwrap(),
        Err(Error::Handshake(HandshakeError::Rejected { status: 401 }))
    ));
}

#[tokio::test]
async fn split_halves_work_from_different_tasks() {
    let (url, server) = echo_server().await;
    let ws = WebSocket::connect(&url).await.unwrap();
    let (mut read, mut write) = ws.split();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        loop {
            match read.recv().await {
                Ok(m) => got.push(m),
                Err(Error::Closed(closure)) => return (got, *closure, read),
                Err(e) => panic!("{e}"),
            }
        }
    });
    let writer = tokio::spawn(async move {
        for i in 0..200 {
            write.send(Message::Binary(payload(i * 100))).await.unwrap();
        }
        // The echoes come back before the server's reply to this Close, and the read half
        // receives them all, then completes the handshake.
        write.close(CloseCode::NORMAL, "done").await.unwrap();
        write
    });
    let write = writer.await.unwrap();
    let (got, closure, read) = reader.await.unwrap();
    assert_eq!(got.len(), 200);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(*m, Message::Binary(payload(i * 100)));
    }
    assert_clean(&closure, Initiator::Local, 1000);
    assert_clean(&server.await.unwrap(), Initiator::Peer, 1000);
    assert_eq!(write.closure(), Some(closure));
    let ws = read.reunite(write).unwrap();
    assert_eq!(ws.closure(), Some(closure));
}

#[tokio::test]
async fn the_read_half_alone_answers_pings_and_the_peers_close() {
    let (url, server) = spawn_server(|stream| async move {
        let mut ws = WebSocket::accept(stream).await.unwrap();
        ws.ping(b"heartbeat").await.unwrap();
        let pong = match ws.recv_event().await.unwrap() {
            Event::Pong(p) => p.to_vec(),
            other => panic!("{other:?}"),
        };
        (
            pong,
            ws.close(CloseCode::GOING_AWAY, "restart").await.unwrap(),
        )
    })
    .await;
    let ws = WebSocket::connect(&url).await.unwrap();
    let (mut read, write) = ws.split();
    // Only the read half is polled; the write half sits idle.
    let closure = closed(read.recv().await);
    assert_clean(&closure, Initiator::Peer, 1001);
    let (pong, server_closure) = server.await.unwrap();
    assert_eq!(pong, b"heartbeat");
    assert_clean(&server_closure, Initiator::Local, 1001);
    assert_eq!(write.closure(), Some(closure));
}

#[tokio::test]
async fn recv_is_cancel_safe_in_the_middle_of_a_message() {
    let message = payload(4000);
    let mut wire = header(0x2, message.len());
    wire.extend_from_slice(&message);
    let pieces: Vec<Vec<u8>> = wire.chunks(1000).map(<[u8]>::to_vec).collect();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (url, server) = raw_server(move |mut stream| {
        for piece in pieces {
            go_rx.recv().unwrap();
            stream.write_all(&piece).unwrap();
        }
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    });
    let mut ws = WebSocket::connect(&url).await.unwrap();
    for _ in 0..4 {
        go_tx.send(()).unwrap();
        // Wait until the piece is readable, then start a recv and cancel it: biased, the
        // recv is polled first and takes the piece in, then the other branch wins.
        ws.get_ref().tcp().peek(&mut [0u8; 1]).await.unwrap();
        tokio::select! {
            biased;
            got = ws.recv() => panic!("a partial message was returned: {got:?}"),
            () = std::future::ready(()) => {}
        }
        assert_eq!(
            ws.get_ref()
                .tcp()
                .try_read(&mut [0u8; 1])
                .map_err(|e| e.kind()),
            Err(std::io::ErrorKind::WouldBlock),
            "the cancelled recv consumed the piece"
        );
    }
    go_tx.send(()).unwrap();
    assert_eq!(ws.recv().await.unwrap(), Message::Binary(message));
    drop(ws);
    server.join().unwrap();
}

#[tokio::test]
async fn a_peer_that_does_not_read_makes_the_sender_wait_not_the_buffer_grow() {
    const HIGH_WATER: usize = 64 * 1024;
    const MESSAGE: usize = 16 * 1024;
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (url, server) = raw_server(move |mut stream| {
        // Read nothing until told to, then count the bytes until the client closes.
        go_rx.recv().unwrap();
        let mut all = Vec::new();
        let _ = stream.read_to_end(&mut all);
        all.len()
    });
    let options =
        ClientOptions::new().with_config(Config::default().with_write_high_water(HIGH_WATER));
    let mut ws = WebSocket::connect_with(&url, &options).await.unwrap();
    let frame_len = MESSAGE + 8 + 6; // header and mask of a 16 KiB client frame
    let mut sent = 0usize;
    loop {
        // Poll readiness once: Pending means the sender would have to wait.
        let ready = poll_fn(|cx| Pin::new(&mut ws).poll_ready(cx)).now_or_never();
        match ready {
            Some(result) => result.unwrap(),
            None => break,
        }
        Pin::new(&mut ws)
            .start_send(Message::Binary(payload(MESSAGE)))
            .unwrap();
        sent += 1;
        assert!(ws.buffered_amount() <= HIGH_WATER + frame_len);
        assert!(sent < 100_000, "the sender was never held back");
    }
    // The kernel buffers are full: the sender waits (poll_ready is only pending with a full
    // buffer that cannot be written), and the session holds at most the high-water mark.
    assert!(ws.buffered_amount() > 0);
    assert!(ws.buffered_amount() <= HIGH_WATER + frame_len);
    assert!(
        sent * MESSAGE > HIGH_WATER,
        "the kernel took some before the sender waited"
    );
    // Once the peer reads, everything goes out.
    go_tx.send(()).unwrap();
    ws.flush().await.unwrap();
    assert_eq!(ws.buffered_amount(), 0);
    drop(ws);
    let received = server.join().unwrap();
    assert_eq!(received, sent * (MESSAGE + 8));
}

#[tokio::test]
async fn timers_bound_the_wait_for_a_peer_that_stopped_reading() {
    // Fill the kernel buffers towards a peer that reads nothing, then:
    // close() ends with the close timeout; a blocked send ends with the keepalive timeout.
    for closing in [true, false] {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let (url, server) = raw_server(move |stream| {
            // Read nothing; hold the connection until the test is over.
            let _ = done_rx.recv();
            drop(stream);
        });
        let keepalive = Keepalive {
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(200),
        };
        let options = short_timers(300, (!closing).then_some(keepalive));
        let mut ws = WebSocket::connect_with(&url, &options).await.unwrap();
        // Queue until the sender would wait (or, on a slow machine, until the keepalive
        // already ended the connection: the send paths run the timers too).
        while let Some(Ok(())) = poll_fn(|cx| Pin::new(&mut ws).poll_ready(cx)).now_or_never() {
            Pin::new(&mut ws)
                .start_send(Message::Binary(payload(64 * 1024)))
                .unwrap();
        }
        let closure = if closing {
            ws.close(CloseCode::NORMAL, "").await.unwrap()
        } else {
            closed(ws.send(Message::Binary(payload(1024))).await)
        };
        let cause = match closure.kind() {
            ClosureKind::Abnormal { cause, .. } => *cause,
            _ => panic!("{closure}"),
        };
        let expected = if closing {
            AbnormalCause::CloseTimeout
        } else {
            AbnormalCause::KeepaliveTimeout
        };
        assert_eq!(cause, expected, "{closure}");
        drop(ws);
        done_tx.send(()).unwrap();
        server.join().unwrap();
    }
}

#[tokio::test]
async fn bytes_sent_right_behind_the_handshake_are_not_lost() {
    // The server's response and its first message arrive in one segment.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut stream = listener.accept().unwrap().0;
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
    let mut ws = WebSocket::connect(&format!("ws://{addr}/")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Message::Text("welcome".into()));
    drop(ws);
    server.join().unwrap();
}
