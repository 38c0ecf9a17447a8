//! `sockeye-embedded` through embassy-net (smoltcp): a client on one TCP/IP stack and a server
//! on another, joined by the in-memory link of this crate, in virtual time. What the QEMU
//! scenarios check over an in-memory pipe is checked here through real TCP segments,
//! retransmissions and FINs: the opening handshake, messages both ways (one larger than a TCP
//! segment), the keepalive on an idle connection, the closing handshake with the TCP teardown
//! that follows it, and a cut link that each side reports as 1006 with its cause.
//!
//! The addresses are from TEST-NET-1 (RFC 5737, for documentation); the packets never leave
//! this process.

use std::sync::Mutex;

use core::time::Duration;
use embassy_futures::join::join;
use embassy_futures::select::{select, Either};
use embassy_net::tcp::TcpSocket;
use embassy_net::{Ipv4Address, Ipv4Cidr, Runner, Stack, StackResources, StaticConfigV4};
use embassy_time::Timer;
use sockeye_embedded::sockeye_core::{AbnormalCause, Initiator};
use sockeye_embedded::{
    accept, connect, Accept, ClientRequest, CloseCode, ClosureKind, Config, EmbassyClock, Error,
    Event, Keepalive, Message, Storage, Url,
};
use sockeye_embedded_net_test::{link, run_virtual, Cut, End};

const CLIENT_IP: Ipv4Address = Ipv4Address::new(192, 0, 2, 1);
const SERVER_IP: Ipv4Address = Ipv4Address::new(192, 0, 2, 2);
const PORT: u16 = 8080;
const URL: &str = "ws://192.0.2.2:8080/chat";

/// The mock clock is one per process: one scenario at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn stack(end: End, ip: Ipv4Address, seed: u64) -> (Stack<'static>, Runner<'static, End>) {
    let resources = Box::leak(Box::new(StackResources::<2>::new()));
    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(ip, 24),
        gateway: None,
        dns_servers: Default::default(),
    });
    embassy_net::new(end, config, resources, seed)
}

/// Runs `client` on one stack and `server` on the other, with both stacks' runners, for at
/// most a minute of virtual time; panics if the scenario hangs.
fn scenario<C, S, CO, SO>(client: C, server: S) -> (CO, SO)
where
    C: AsyncFnOnce(Stack<'static>, Cut) -> CO,
    S: AsyncFnOnce(Stack<'static>) -> SO,
{
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (a, b, cut) = link();
    let (client_stack, mut client_runner) = stack(a, CLIENT_IP, 1);
    let (server_stack, mut server_runner) = stack(b, SERVER_IP, 2);
    let run = async {
        let runners = select(client_runner.run(), server_runner.run());
        match select(
            runners,
            join(client(client_stack, cut), server(server_stack)),
        )
        .await
        {
            Either::First(Either::First(never) | Either::Second(never)) => never,
            Either::Second(outputs) => outputs,
        }
    };
    run_virtual(embassy_time::Duration::from_secs(60), run).expect("scenario hung")
}

fn random(seed: u8) -> [u8; 24] {
    core::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7))
}

fn keepalive(interval_ms: u64, timeout_ms: u64) -> Config {
    Config::new().with_keepalive(Some(Keepalive {
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
    }))
}

/// Opens the TCP connection from the client stack.
async fn dial<'a>(stack: Stack<'a>, rx: &'a mut [u8], tx: &'a mut [u8]) -> TcpSocket<'a> {
    let mut socket = TcpSocket::new(stack, rx, tx);
    socket
        .connect((SERVER_IP, PORT))
        .await
        .expect("TCP connect");
    socket
}

/// Accepts the TCP connection on the server stack.
async fn listen<'a>(stack: Stack<'a>, rx: &'a mut [u8], tx: &'a mut [u8]) -> TcpSocket<'a> {
    let mut socket = TcpSocket::new(stack, rx, tx);
    socket.accept(PORT).await.expect("TCP accept");
    socket
}

/// Ends the TCP connection: sends our FIN, waits until the peer acknowledged it (a socket
/// dropped earlier is removed from the stack with its FIN unsent), then reads until the peer's
/// FIN. Returns whether the peer's FIN came (rather than a reset or data).
async fn shutdown(socket: &mut TcpSocket<'_>) -> bool {
    socket.close();
    let _ = socket.flush().await;
    let mut byte = [0u8; 1];
    matches!(
        embedded_io_async::Read::read(socket, &mut byte).await,
        Ok(0)
    )
}

#[test]
fn handshake_messages_both_ways_and_the_closing_handshake() {
    let big: String = (0..3000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let big = big.as_str();
    let (client, server) = scenario(
        async |stack, _cut| {
            let (mut rx, mut tx) = ([0; 4096], [0; 4096]);
            let mut socket = dial(stack, &mut rx, &mut tx).await;
            let mut storage = Storage::<4096, 1024>::new();
            let url = Url::parse(URL).unwrap();
            let protocols = ["chat.v2"];
            let request = ClientRequest::new(&url).with_protocols(&protocols);
            let (mut ws, protocol) = connect(
                &mut socket,
                EmbassyClock,
                &mut storage,
                request,
                random(1),
                Config::new(),
            )
            .await
            .expect("client handshake");
            assert_eq!(protocol, Some("chat.v2"));
            ws.send_text("hello over smoltcp").await.unwrap();
            // Larger than the transmit buffer and than one TCP segment: fragments and segments.
            ws.send_text(big).await.unwrap();
            match ws.receive().await {
                Ok(Message::Binary(data)) => assert_eq!(data, &[1, 2, 3][..]),
                other => panic!("client expected the binary echo, got {other:?}"),
            }
            match ws.receive().await {
                Ok(Message::Text(text)) => assert_eq!(text.len(), 3000),
                other => panic!("client expected the long echo, got {other:?}"),
            }
            let closure = ws.close(CloseCode::NORMAL, "done").await.expect("close");
            let eof = shutdown(&mut socket).await;
            (closure, eof)
        },
        async |stack| {
            let (mut rx, mut tx) = ([0; 4096], [0; 4096]);
            let mut socket = listen(stack, &mut rx, &mut tx).await;
            let mut storage = Storage::<4096, 1024>::new();
            let mut ws = accept(
                &mut socket,
                EmbassyClock,
                &mut storage,
                Config::new(),
                |request| {
                    assert_eq!(request.path(), "/chat");
                    Ok(Accept::new().with_protocol("chat.v2"))
                },
            )
            .await
            .expect("server handshake");
            match ws.receive().await {
                Ok(Message::Text(text)) => assert_eq!(text, "hello over smoltcp"),
                other => panic!("server expected the greeting, got {other:?}"),
            }
            ws.send_binary(&[1, 2, 3]).await.unwrap();
            let echo = match ws.receive().await {
                Ok(Message::Text(text)) => {
                    assert_eq!(text, big);
                    text.len()
                }
                other => panic!("server expected the long text, got {other:?}"),
            };
            let mut copy = [0u8; 3000];
            copy.copy_from_slice(&big.as_bytes()[..echo]);
            ws.send_text(core::str::from_utf8(&copy).unwrap())
                .await
                .unwrap();
            // The client's Close: receive ends, the engine has answered it.
            assert!(matches!(ws.receive().await, Err(Error::Closed)));
            let closure = ws.closure().expect("a closure");
            // RFC 6455 §7.1.1: the server closes TCP first.
            let eof = shutdown(&mut socket).await;
            (closure, eof)
        },
    );
    let (client, client_eof) = client;
    let (server, server_eof) = server;
    assert!(
        client.is_clean() && server.is_clean(),
        "{client} / {server}"
    );
    assert_eq!(client.code(), CloseCode::NORMAL);
    assert_eq!(
        (server.code(), server.reason()),
        (CloseCode::NORMAL, "done")
    );
    assert!(matches!(
        client.kind(),
        ClosureKind::Clean {
            initiator: Initiator::Local,
            ..
        }
    ));
    assert!(matches!(
        server.kind(),
        ClosureKind::Clean {
            initiator: Initiator::Peer,
            ..
        }
    ));
    assert!(
        client_eof && server_eof,
        "both TCP ends saw the other's FIN"
    );
}

#[test]
fn keepalive_pings_an_idle_connection_and_the_server_answers() {
    let (pings, received) = scenario(
        async |stack, _cut| {
            let (mut rx, mut tx) = ([0; 2048], [0; 2048]);
            let mut socket = dial(stack, &mut rx, &mut tx).await;
            let mut storage = Storage::<1024, 512>::new();
            let url = Url::parse(URL).unwrap();
            // A ping after 100 ms of silence, 1006 if nothing answers within 300 ms.
            let (mut ws, _) = connect(
                &mut socket,
                EmbassyClock,
                &mut storage,
                ClientRequest::new(&url),
                random(2),
                keepalive(100, 300),
            )
            .await
            .expect("client handshake");
            // Idle for a second with a receive pending: the keepalive runs inside it.
            match select(ws.receive(), Timer::after_millis(1000)).await {
                Either::First(other) => panic!("nothing was sent, got {other:?}"),
                Either::Second(()) => {}
            }
            assert!(
                ws.closure().is_none(),
                "the answered keepalive keeps it open"
            );
            ws.send_text("still here").await.unwrap();
            let closure = ws.close(CloseCode::NORMAL, "").await.expect("close");
            assert!(closure.is_clean(), "{closure}");
            shutdown(&mut socket).await;
        },
        async |stack| {
            let (mut rx, mut tx) = ([0; 2048], [0; 2048]);
            let mut socket = listen(stack, &mut rx, &mut tx).await;
            let mut storage = Storage::<1024, 512>::new();
            let mut ws = accept(
                &mut socket,
                EmbassyClock,
                &mut storage,
                Config::new(),
                |_| Ok(Accept::new()),
            )
            .await
            .expect("server handshake");
            let mut pings = 0;
            let received = loop {
                match ws.receive_event().await {
                    Ok(Event::Ping(_)) => pings += 1, // the engine answers it
                    Ok(Event::Data(chunk)) => break chunk.payload == b"still here",
                    other => panic!("server got {other:?}"),
                }
            };
            assert!(matches!(ws.receive().await, Err(Error::Closed)));
            shutdown(&mut socket).await;
            (pings, received)
        },
    )
    .1;
    // One ping per 100 ms of silence over a second (each answer restarts the interval).
    assert!((8..=10).contains(&pings), "{pings} pings");
    assert!(received);
}

#[test]
fn a_cut_link_ends_as_1006_keepalive_timeout_on_both_sides() {
    let (client, server) = scenario(
        async |stack, cut| {
            let (mut rx, mut tx) = ([0; 2048], [0; 2048]);
            let mut socket = dial(stack, &mut rx, &mut tx).await;
            let mut storage = Storage::<1024, 512>::new();
            let url = Url::parse(URL).unwrap();
            let (mut ws, _) = connect(
                &mut socket,
                EmbassyClock,
                &mut storage,
                ClientRequest::new(&url),
                random(3),
                keepalive(200, 500),
            )
            .await
            .expect("client handshake");
            ws.send_text("before the cut").await.unwrap();
            match ws.receive().await {
                Ok(Message::Text(text)) => assert_eq!(text, "ack"),
                other => panic!("client expected the ack, got {other:?}"),
            }
            // The last bytes from the server: the keepalive counts from here.
            let started = embassy_time::Instant::now();
            // Long enough for TCP to acknowledge the ack (embassy-net's flush waits for that).
            Timer::after_millis(50).await;
            cut.cut();
            assert!(matches!(ws.receive().await, Err(Error::Closed)));
            let waited = embassy_time::Instant::now() - started;
            (ws.closure().expect("a closure"), waited, cut.dropped())
        },
        async |stack| {
            let (mut rx, mut tx) = ([0; 2048], [0; 2048]);
            let mut socket = listen(stack, &mut rx, &mut tx).await;
            let mut storage = Storage::<1024, 512>::new();
            let mut ws = accept(
                &mut socket,
                EmbassyClock,
                &mut storage,
                keepalive(300, 500),
                |_| Ok(Accept::new()),
            )
            .await
            .expect("server handshake");
            match ws.receive().await {
                Ok(Message::Text(text)) => assert_eq!(text, "before the cut"),
                other => panic!("server expected the text, got {other:?}"),
            }
            if let Err(e) = ws.send_text("ack").await {
                panic!(
                    "server: {e:?} {:?} at {:?}",
                    ws.closure(),
                    embassy_time::Instant::now()
                );
            }
            assert!(matches!(ws.receive().await, Err(Error::Closed)));
            ws.closure().expect("a closure")
        },
    );
    let (client, waited, dropped) = client;
    for (side, closure) in [("client", &client), ("server", &server)] {
        assert_eq!(closure.code(), CloseCode::ABNORMAL, "{side}: {closure}");
        assert!(
            matches!(
                closure.kind(),
                ClosureKind::Abnormal {
                    cause: AbnormalCause::KeepaliveTimeout,
                    ..
                }
            ),
            "{side}: {closure}"
        );
    }
    // Silence for the interval, then no answer within the timeout: 0.7 s after the last bytes
    // arrived, never the minutes TCP would take to give up.
    assert!(
        waited >= embassy_time::Duration::from_millis(700)
            && waited <= embassy_time::Duration::from_millis(720),
        "the client noticed after {waited:?}"
    );
    assert!(dropped > 0, "the keepalive pings were lost on the cut link");
}
