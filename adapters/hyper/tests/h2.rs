//! sockeye-hyper over real HTTP/2 connections on loopback: a hyper server with extended
//! CONNECT and our [`connect_h2`] client; and a raw h2 server (the `h2` crate) that resets one
//! stream with an error code, to check that the closure tells a stream reset from the whole
//! connection going away.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sockeye_core::{AbnormalCause, ClosureKind, Http2ErrorCode, Message, TransportError};
use sockeye_hyper::{connect_h2, HttpVersion, Upgrade};
use sockeye_tokio::{ClientOptions, CloseCode, Error};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

/// A hyper HTTP/2 server (h2c) with extended CONNECT whose WebSockets echo; each one's
/// closure (as text) and HTTP version are sent on the returned channel.
async fn hyper_server() -> (String, mpsc::UnboundedReceiver<(HttpVersion, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |mut request| {
                    let tx = tx.clone();
                    async move {
                        let upgrade = match Upgrade::from_request(&mut request) {
                            Ok(upgrade) => upgrade.protocols(["echo"]),
                            Err(e) => return Ok::<_, Infallible>(e.response::<String>()),
                        };
                        let version = upgrade.http_version();
                        let (response, upgrading) = upgrade.into_response::<String>();
                        tokio::spawn(async move {
                            let mut ws = upgrading.await.expect("the upgraded stream");
                            let closure = loop {
                                match ws.recv().await {
                                    Ok(m) => {
                                        let _ = ws.send(m).await;
                                    }
                                    Err(Error::Closed(c)) => break c,
                                    Err(e) => panic!("{e}"),
                                }
                            };
                            let _ = tx.send((version, closure.to_string()));
                        });
                        Ok(response)
                    }
                });
                let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                builder.enable_connect_protocol();
                let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
            });
        }
    });
    (addr, rx)
}

async fn h2c(addr: &str) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

#[tokio::test]
async fn hyper_server_and_client_over_h2() {
    let (addr, mut closures) = hyper_server().await;
    let mut sender = h2c(&addr).await;
    let url = format!("ws://{addr}/chat");
    let protocols = ["x", "echo"];
    let options = ClientOptions::new().with_protocols(&protocols);
    let mut a = connect_h2(&mut sender, &url, &options).await.unwrap();
    let mut b = connect_h2(&mut sender, &url, &options).await.unwrap();
    assert_eq!(a.protocol(), Some("echo"));
    a.send_text("a").await.unwrap();
    b.send_text("b").await.unwrap();
    assert_eq!(b.recv().await.unwrap(), Message::Text("b".into()));
    assert_eq!(a.recv().await.unwrap(), Message::Text("a".into()));
    for round in 0..20usize {
        let data = vec![round as u8; 1000 + 997 * round];
        a.send(Message::Binary(data.clone())).await.unwrap();
        assert_eq!(a.recv().await.unwrap(), Message::Binary(data));
    }
    drop(a);
    let (version, closure) = tokio::time::timeout(WAIT, closures.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(version, HttpVersion::Http2);
    assert!(closure.contains("1006"), "{closure}");
    b.send_text("still").await.unwrap();
    assert_eq!(b.recv().await.unwrap(), Message::Text("still".into()));
    let closure = b.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert!(closure.is_clean(), "{closure}");
}

/// The frame `Text("hi")` as a server sends it (unmasked).
const HI: &[u8] = b"\x81\x02hi";

/// A raw HTTP/2 server (the `h2` crate, extended CONNECT enabled) that answers three
/// WebSocket streams with 200 and a `Text("hi")` frame each; on `reset` it resets the second
/// stream with `INTERNAL_ERROR` and sends another frame on the others; on `drop` it drops the
/// connection.
async fn raw_h2_server(mut commands: mpsc::UnboundedReceiver<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut conn = h2::server::Builder::new()
            .enable_connect_protocol()
            .handshake::<_, Bytes>(tcp)
            .await
            .unwrap();
        let mut streams = Vec::new();
        loop {
            tokio::select! {
                accepted = conn.accept() => {
                    let Some(Ok((request, mut respond))) = accepted else { return };
                    assert_eq!(request.method(), http::Method::CONNECT);
                    let protocol = request.extensions().get::<h2::ext::Protocol>().unwrap();
                    assert_eq!(protocol.as_str(), "websocket");
                    let response = http::Response::builder().status(200).body(()).unwrap();
                    let mut send = respond.send_response(response, false).unwrap();
                    send.send_data(Bytes::from_static(HI), false).unwrap();
                    // Keep the receiving half too, or h2 would cancel the stream.
                    streams.push((send, request.into_body()));
                }
                command = commands.recv() => match command {
                    Some("reset") => {
                        for (i, (send, _)) in streams.iter_mut().enumerate() {
                            if i == 1 {
                                send.send_reset(h2::Reason::INTERNAL_ERROR);
                            } else {
                                send.send_data(Bytes::from_static(HI), false).unwrap();
                            }
                        }
                    }
                    _ => return, // drops the connection and every stream
                },
            }
        }
    });
    addr
}

fn abnormal_cause(closure: &sockeye_core::Closure) -> Option<AbnormalCause> {
    match closure.kind() {
        ClosureKind::Abnormal { cause, .. } => Some(*cause),
        _ => None,
    }
}

async fn closure_of<S>(ws: &mut sockeye_tokio::WebSocket<S>) -> sockeye_core::Closure
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(WAIT, ws.recv())
        .await
        .expect("the end in time")
    {
        Err(Error::Closed(closure)) => *closure,
        other => panic!("expected the end of the WebSocket, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stream_reset_and_the_connection_going_away_are_told_apart() {
    let (commands, rx) = mpsc::unbounded_channel();
    let addr = raw_h2_server(rx).await;
    let mut sender = h2c(&addr).await;
    let url = format!("ws://{addr}/");
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let mut ws = connect_h2(&mut sender, &url, &ClientOptions::new())
            .await
            .unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Text("hi".into()));
        sockets.push(ws);
    }
    commands.send("reset").unwrap();
    let reset = closure_of(&mut sockets[1]).await;
    assert_eq!(
        abnormal_cause(&reset),
        Some(AbnormalCause::Transport(TransportError::Http2StreamReset {
            code: Http2ErrorCode::InternalError
        })),
        "{reset}"
    );
    let text = reset.to_string();
    assert!(
        text.contains(
            "stream carrying the WebSocket was reset (RST_STREAM) with error code INTERNAL_ERROR"
        ),
        "{text}"
    );
    // The other streams on the connection are unaffected.
    for i in [0, 2] {
        assert_eq!(sockets[i].recv().await.unwrap(), Message::Text("hi".into()));
    }
    commands.send("drop").unwrap();
    for i in [0, 2] {
        let lost = closure_of(&mut sockets[i]).await;
        assert_eq!(
            abnormal_cause(&lost),
            Some(AbnormalCause::Transport(
                TransportError::Http2ConnectionLost
            )),
            "{lost}"
        );
        assert!(
            lost.to_string()
                .contains("HTTP/2 connection carrying the WebSocket went away"),
            "{lost}"
        );
    }
}

#[tokio::test]
async fn requests_that_are_not_websocket_handshakes_get_the_cores_status() {
    let (addr, _closures) = hyper_server().await;
    let mut sender = h2c(&addr).await;
    // A plain HTTP/2 GET: not an extended CONNECT.
    let request = http::Request::builder()
        .uri(format!("http://{addr}/chat"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "CONNECT");
    // An extended CONNECT without Sec-WebSocket-Version.
    let request = http::Request::builder()
        .method("CONNECT")
        .uri(format!("http://{addr}/chat"))
        .extension(hyper::ext::Protocol::from_static("websocket"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 426);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
}

/// A raw HTTP/2 server that answers every request with `status` and ends the stream; with
/// `connect_protocol` false it does not announce extended CONNECT.
async fn answering_server(status: u16, connect_protocol: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut builder = h2::server::Builder::new();
        if connect_protocol {
            builder.enable_connect_protocol();
        }
        let mut conn = builder.handshake::<_, Bytes>(tcp).await.unwrap();
        while let Some(Ok((_request, mut respond))) = conn.accept().await {
            let response = http::Response::builder().status(status).body(()).unwrap();
            let _ = respond.send_response(response, true);
        }
    });
    addr
}

#[tokio::test]
async fn a_refusal_is_the_status_and_a_server_without_rfc8441_is_an_error_not_a_hang() {
    let addr = answering_server(403, true).await;
    let mut sender = h2c(&addr).await;
    let result = connect_h2(&mut sender, &format!("ws://{addr}/"), &ClientOptions::new()).await;
    match result {
        Err(Error::Handshake(sockeye_tokio::HandshakeError::Response(
            sockeye_core::handshake::ResponseError::Http2Status(403),
        ))) => {}
        other => panic!("expected Http2Status(403), got {other:?}"),
    }

    // No SETTINGS_ENABLE_CONNECT_PROTOCOL: the server refuses the stream, and the error says
    // why.
    let addr = answering_server(200, false).await;
    let mut sender = h2c(&addr).await;
    let result = tokio::time::timeout(
        WAIT,
        connect_h2(&mut sender, &format!("ws://{addr}/"), &ClientOptions::new()),
    )
    .await
    .expect("an answer, not a hang");
    let error = result.expect_err("no WebSocket without extended CONNECT");
    assert!(
        matches!(
            error,
            Error::Handshake(sockeye_tokio::HandshakeError::Response(
                sockeye_core::handshake::ResponseError::Http2ExtendedConnectDisabled
            ))
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("connect over HTTP/1.1"),
        "{error}"
    );
}
