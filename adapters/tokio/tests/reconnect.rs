//! The reconnecting client over loopback TCP: abrupt drops, close codes that do and do not
//! invite a retry, refused connections, handshake rejections, stopping, and sending while
//! connected. Delays are milliseconds and nothing asserts on timing; every wait for an event
//! has a generous guard so that a bug fails the test instead of hanging it.

use std::time::Duration;

use sockeye_tokio::{
    AbnormalCause, BackoffConfig, ClientOptions, CloseCode, Closure, ClosureKind, Config, Decision,
    EngineConfig, Error, GiveUpReason, HandshakeError, Initiator, Message, ReconnectConfig,
    ReconnectEvent, ReconnectingClient, WebSocket,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the test server does with each connection it accepts, in order.
#[derive(Clone, Debug)]
enum Plan {
    /// Completes the opening handshake, then drops the TCP connection without a Close frame.
    DropAfterHandshake,
    /// Drops the TCP connection before answering the opening handshake.
    DropBeforeHandshake,
    /// Refuses the upgrade with this HTTP status.
    Reject(u16),
    /// Closes with this code at once.
    Close(u16),
    /// Sends these texts, then closes with 1000.
    Serve(&'static [&'static str]),
    /// Echoes until the connection ends.
    Echo,
}

/// A server on an ephemeral loopback port that follows `plan`, one connection per step, then
/// stops listening. Returns the URL and, at the end, the server side's closures.
async fn server(plan: Vec<Plan>) -> (String, JoinHandle<Vec<Closure>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        let mut closures = Vec::new();
        for step in plan {
            let (stream, _) = listener.accept().await.unwrap();
            let accepted = match step {
                Plan::DropBeforeHandshake => continue,
                Plan::Reject(status) => {
                    let refused =
                        WebSocket::accept_with(stream, Config::new(), |_| Decision::reject(status))
                            .await;
                    assert!(refused.is_err());
                    continue;
                }
                _ => WebSocket::accept(stream).await,
            };
            let mut ws = accepted.unwrap();
            let closure = match step {
                Plan::DropAfterHandshake => continue,
                Plan::Close(code) => ws.close(CloseCode::new(code), "").await.unwrap(),
                Plan::Serve(texts) => {
                    for text in texts {
                        ws.send_text(text).await.unwrap();
                    }
                    ws.close(CloseCode::NORMAL, "done").await.unwrap()
                }
                Plan::Echo => loop {
                    match ws.recv().await {
                        Ok(message) => {
                            let _ = ws.send(message).await;
                        }
                        Err(Error::Closed(closure)) => break *closure,
                        Err(e) => panic!("echo: {e}"),
                    }
                },
                Plan::DropBeforeHandshake | Plan::Reject(_) => unreachable!(),
            };
            closures.push(closure);
        }
        closures
    });
    (url, handle)
}

/// Backoff bounds of 10, 20, 40 … ms, capped at 1 s.
fn fast() -> ReconnectConfig {
    let mut backoff = BackoffConfig::new();
    backoff.first = Duration::from_millis(10);
    backoff.max = Duration::from_secs(1);
    ReconnectConfig::new().with_backoff(backoff)
}

fn client(url: &str, config: ReconnectConfig) -> ReconnectingClient {
    ReconnectingClient::with_options(url, &Default::default(), config).unwrap()
}

/// The next event; fails the test instead of hanging if none comes.
async fn next(client: &mut ReconnectingClient) -> Option<ReconnectEvent> {
    tokio::time::timeout(Duration::from_secs(20), client.next())
        .await
        .expect("no event within 20 s")
}

async fn expect_connected(client: &mut ReconnectingClient, attempt: u32) {
    match next(client).await {
        Some(ReconnectEvent::Connected { attempt: a }) => assert_eq!(a, attempt),
        other => panic!("expected Connected {{ attempt: {attempt} }}, got {other:?}"),
    }
}

async fn expect_disconnected(client: &mut ReconnectingClient) -> Closure {
    match next(client).await {
        Some(ReconnectEvent::Disconnected { closure, .. }) => closure,
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

async fn expect_connect_failed(client: &mut ReconnectingClient, attempt: u32) -> Error {
    match next(client).await {
        Some(ReconnectEvent::ConnectFailed { error, attempt: a }) => {
            assert_eq!(a, attempt, "{error}");
            error
        }
        other => panic!("expected ConnectFailed {{ attempt: {attempt} }}, got {other:?}"),
    }
}

async fn expect_retrying(client: &mut ReconnectingClient, attempt: u32) -> Duration {
    match next(client).await {
        Some(ReconnectEvent::Retrying { attempt: a, delay }) => {
            assert_eq!(a, attempt);
            delay
        }
        other => panic!("expected Retrying {{ attempt: {attempt} }}, got {other:?}"),
    }
}

async fn expect_gave_up(client: &mut ReconnectingClient, reason: GiveUpReason) {
    match next(client).await {
        Some(ReconnectEvent::GaveUp { reason: r }) => assert_eq!(r, reason),
        other => panic!("expected GaveUp {{ {reason:?} }}, got {other:?}"),
    }
    assert!(next(client).await.is_none(), "the stream ends after GaveUp");
}

async fn expect_text(client: &mut ReconnectingClient, text: &str) {
    match next(client).await {
        Some(ReconnectEvent::Message(Message::Text(t))) => assert_eq!(t, text),
        other => panic!("expected the text {text:?}, got {other:?}"),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn reconnects_after_each_abrupt_drop_then_delivers_messages() {
    let (url, server) = server(vec![
        Plan::DropAfterHandshake,
        Plan::DropAfterHandshake,
        Plan::DropAfterHandshake,
        Plan::Serve(&["one", "two"]),
    ])
    .await;
    let mut client = client(&url, fast());
    // A connection that drops at once does not reset the backoff: the bounds keep growing.
    for bound in [ms(10), ms(20), ms(40)] {
        expect_connected(&mut client, 1).await;
        let closure = expect_disconnected(&mut client).await;
        assert!(closure.is_abnormal(), "{closure}");
        assert_eq!(closure.code(), CloseCode::ABNORMAL);
        assert!(expect_retrying(&mut client, 1).await <= bound);
    }
    expect_connected(&mut client, 1).await;
    expect_text(&mut client, "one").await;
    expect_text(&mut client, "two").await;
    let closure = expect_disconnected(&mut client).await;
    assert!(closure.is_clean(), "{closure}");
    assert_eq!(
        (closure.code(), closure.reason()),
        (CloseCode::NORMAL, "done")
    );
    expect_gave_up(&mut client, GiveUpReason::Closure).await;
    assert_eq!(server.await.unwrap().len(), 1);
}

#[tokio::test]
async fn closes_that_say_done_or_broken_are_not_retried() {
    for code in [1000, 1003, 1008, 4000] {
        let (url, server) = server(vec![Plan::Close(code)]).await;
        let mut client = client(&url, fast());
        expect_connected(&mut client, 1).await;
        let closure = expect_disconnected(&mut client).await;
        assert!(closure.is_clean(), "{closure}");
        assert_eq!(closure.code().as_u16(), code);
        expect_gave_up(&mut client, GiveUpReason::Closure).await;
        server.await.unwrap();
    }
}

#[tokio::test]
async fn closes_that_say_come_back_later_are_retried() {
    // 1001 going away, 1011 internal error, 1012 restart, 1013 try again later, 1014 bad
    // gateway: each is followed by a reconnect; the final 1000 ends the loop.
    let codes = [1001, 1011, 1012, 1013, 1014];
    let mut plan: Vec<Plan> = codes.iter().map(|&code| Plan::Close(code)).collect();
    plan.push(Plan::Close(1000));
    let (url, server) = server(plan).await;
    let mut client = client(&url, fast());
    for code in codes {
        expect_connected(&mut client, 1).await;
        let closure = expect_disconnected(&mut client).await;
        assert_eq!(closure.code().as_u16(), code, "{closure}");
        expect_retrying(&mut client, 1).await;
    }
    expect_connected(&mut client, 1).await;
    assert_eq!(
        expect_disconnected(&mut client).await.code(),
        CloseCode::NORMAL
    );
    expect_gave_up(&mut client, GiveUpReason::Closure).await;
    server.await.unwrap();
}

#[tokio::test]
async fn refused_connections_are_retried_with_growing_bounds_until_max_attempts() {
    // A port nothing listens on: bind one, then let it go.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    drop(listener);

    let mut client = client(&url, fast().with_max_attempts(Some(5)));
    for attempt in 1..=4u32 {
        let error = expect_connect_failed(&mut client, attempt).await;
        assert!(matches!(error, Error::Io(_)), "{error}");
        let delay = expect_retrying(&mut client, attempt + 1).await;
        // The delay was drawn below 10 ms × 2^(attempt-1); the bound has grown since.
        assert!(delay <= ms(10) * 2u32.pow(attempt - 1), "{delay:?}");
        assert_eq!(client.backoff().attempt(), attempt);
        assert_eq!(client.backoff().bound(), ms(10) * 2u32.pow(attempt));
    }
    expect_connect_failed(&mut client, 5).await;
    expect_gave_up(&mut client, GiveUpReason::MaxAttempts).await;
}

#[tokio::test]
async fn handshake_failures_are_retried_except_4xx_other_than_408_and_429() {
    let (url, server) = server(vec![
        Plan::DropBeforeHandshake,
        Plan::Reject(503),
        Plan::Reject(429),
        Plan::Reject(408),
        Plan::Reject(403),
    ])
    .await;
    let mut client = client(&url, fast());
    // Dropped before the response: the server closed (EOF) or reset the connection.
    let error = expect_connect_failed(&mut client, 1).await;
    assert!(
        matches!(error, Error::Handshake(HandshakeError::Eof) | Error::Io(_)),
        "{error}"
    );
    expect_retrying(&mut client, 2).await;
    for (attempt, status) in [(2, 503), (3, 429), (4, 408)] {
        let error = expect_connect_failed(&mut client, attempt).await;
        assert!(error.to_string().contains(&status.to_string()), "{error}");
        expect_retrying(&mut client, attempt + 1).await;
    }
    let error = expect_connect_failed(&mut client, 5).await;
    assert!(error.to_string().contains("403"), "{error}");
    expect_gave_up(&mut client, GiveUpReason::ConnectError).await;
    server.await.unwrap();
}

#[tokio::test]
async fn a_successful_connection_restarts_the_attempt_count() {
    let (url, server) = server(vec![
        Plan::Reject(503),
        Plan::Close(1012),
        Plan::Reject(503),
        Plan::Close(1000),
    ])
    .await;
    let mut client = client(&url, fast());
    expect_connect_failed(&mut client, 1).await;
    expect_retrying(&mut client, 2).await;
    expect_connected(&mut client, 2).await;
    expect_disconnected(&mut client).await;
    expect_retrying(&mut client, 1).await;
    expect_connect_failed(&mut client, 1).await;
    expect_retrying(&mut client, 2).await;
    expect_connected(&mut client, 2).await;
    expect_disconnected(&mut client).await;
    expect_gave_up(&mut client, GiveUpReason::Closure).await;
    server.await.unwrap();
}

#[tokio::test]
async fn stop_handle_ends_the_stream_while_waiting_to_retry() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    drop(listener);
    // Delays below an hour: the client is still waiting when the stop comes.
    let mut backoff = BackoffConfig::new();
    backoff.first = Duration::from_secs(3600);
    backoff.max = Duration::from_secs(3600);
    let mut client = client(&url, ReconnectConfig::new().with_backoff(backoff));
    expect_connect_failed(&mut client, 1).await;
    expect_retrying(&mut client, 2).await;

    // The clock stands still from here: the client's delay (random, and with full jitter
    // possibly a few nanoseconds) cannot pass while the stopper is runnable, because a paused
    // clock only moves when every task is idle. So the stop always lands during the wait.
    tokio::time::pause();
    let handle = client.stop_handle();
    let stopper = tokio::spawn(async move {
        tokio::task::yield_now().await;
        handle.stop();
    });
    assert!(next(&mut client).await.is_none());
    assert!(client.stop_handle().is_stopped());
    stopper.await.unwrap();
}

#[tokio::test]
async fn stop_ends_the_stream_while_connecting() {
    // A server that accepts TCP and never answers the opening handshake.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let silent = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        // Hold the connection until the client gives up on it.
        let mut buf = [0u8; 1024];
        loop {
            stream.readable().await.unwrap();
            match stream.try_read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    });
    let mut client = client(&url, fast());
    let handle = client.stop_handle();
    let stopper = tokio::spawn(async move {
        // Let the client reach the handshake; the stop comes whenever it comes.
        tokio::time::sleep(ms(50)).await;
        handle.stop();
    });
    assert!(next(&mut client).await.is_none());
    stopper.await.unwrap();
    // The abandoned attempt's socket was closed: the server sees EOF.
    tokio::time::timeout(Duration::from_secs(20), silent)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn sends_while_connected_and_stop_closes_cleanly_with_1000_delivering_messages_in_flight() {
    let (url, server) = server(vec![Plan::Echo]).await;
    let mut client = client(&url, fast());
    assert!(!client.is_connected());
    expect_connected(&mut client, 1).await;
    let ws = client.connection_mut().expect("connected");
    ws.send_text("hello").await.unwrap();
    ws.send(Message::Binary(vec![1, 2, 3])).await.unwrap();
    expect_text(&mut client, "hello").await;
    match next(&mut client).await {
        Some(ReconnectEvent::Message(Message::Binary(b))) => assert_eq!(b, [1, 2, 3]),
        other => panic!("expected the binary echo, got {other:?}"),
    }

    // The echo of a message sent just before the stop is on its way while we close: it is
    // still delivered, before the closure.
    client
        .connection_mut()
        .expect("connected")
        .send_text("last")
        .await
        .unwrap();
    client.stop();
    expect_text(&mut client, "last").await;
    let closure = expect_disconnected(&mut client).await;
    match closure.kind() {
        ClosureKind::Clean { initiator, .. } => assert_eq!(*initiator, Initiator::Local),
        _ => panic!("not clean: {closure}"),
    }
    assert_eq!(closure.code(), CloseCode::NORMAL);
    assert!(
        next(&mut client).await.is_none(),
        "no reconnect after a stop"
    );
    assert!(!client.is_connected());

    let server_side = server.await.unwrap();
    assert_eq!(server_side.len(), 1);
    assert!(server_side[0].is_clean(), "{}", server_side[0]);
    assert_eq!(server_side[0].code(), CloseCode::NORMAL);
}

#[tokio::test]
async fn stop_is_bounded_by_the_close_timeout_against_a_peer_that_never_answers() {
    // A server that completes the handshake, then holds the TCP connection and never reads.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let ws = WebSocket::accept(listener.accept().await.unwrap().0)
            .await
            .unwrap();
        let _stream = ws.into_inner();
        let _ = held.await;
    });
    let engine = EngineConfig::default().with_close_timeout(ms(50));
    let options = ClientOptions::new().with_config(Config::default().with_engine(engine));
    let mut client = ReconnectingClient::with_options(&url, &options, fast()).unwrap();
    expect_connected(&mut client, 1).await;
    client.stop();
    let closure = expect_disconnected(&mut client).await;
    match closure.kind() {
        ClosureKind::Abnormal { cause, .. } => assert_eq!(*cause, AbnormalCause::CloseTimeout),
        _ => panic!("expected a close timeout: {closure}"),
    }
    assert!(
        next(&mut client).await.is_none(),
        "no reconnect after a stop"
    );
    release.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn the_client_is_a_stream_usable_in_select() {
    use futures_util::StreamExt;

    let (url, server) = server(vec![Plan::Serve(&["a", "b", "c"])]).await;
    let mut client = client(&url, fast());
    let mut texts = Vec::new();
    // A ticking timer in the same select: the client's next() is cancelled over and over
    // without losing events.
    let mut tick = tokio::time::interval(Duration::from_micros(100));
    loop {
        tokio::select! {
            event = StreamExt::next(&mut client) => match event {
                Some(ReconnectEvent::Message(Message::Text(t))) => texts.push(t),
                Some(_) => {}
                None => break,
            },
            _ = tick.tick() => {}
        }
    }
    assert_eq!(texts, ["a", "b", "c"]);
    assert!(futures_util::stream::FusedStream::is_terminated(&client));
    assert!(client.next().await.is_none());
    server.await.unwrap();
}
