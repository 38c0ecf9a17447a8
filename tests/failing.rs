//! Failing a connection, end to end, over real loopback sockets: for every row of the failure
//! table (`sockeye_core::connection`, "Failing the connection"), a raw peer that speaks bytes,
//! not a WebSocket library, checks the exact Close frame it receives and when the TCP
//! connection closes.
//!
//! Server role: the `echo_server` (tokio) and `echo_server_std` (blocking) examples, run as the
//! processes a user would run (built by `cargo test`), with their log line checked too.
//! Client role: our std and tokio clients against a raw server.

use std::io::{Read, Write};
use std::time::Duration;

use sockeye_test_support::{
    frame, frame_header, masked_frame, raw_server, read_close_then_eof, ExampleServer, KEY, WAIT,
};

/// A server that closes the transport "at once" does it this fast: far below the 5 s close
/// timeout that a server waiting for a Close it cannot find would take. (The measured times
/// are printed; the bar is 100 ms.)
const AT_ONCE: Duration = Duration::from_secs(2);

// ------------------------------------------------------------------------- server role

const SERVERS: [&str; 2] = ["echo_server", "echo_server_std"];

/// Every Close a peer may not send gets our Close (1002, or 1007 for a reason that is not
/// UTF-8), and the server closes TCP at once: the peer sends no other Close.
#[test]
fn an_invalid_close_gets_our_close_then_the_server_closes_tcp() {
    let mut cases: Vec<(Vec<u8>, u16)> = vec![(vec![0x03], 1002)];
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        cases.push((code.to_be_bytes().to_vec(), 1002));
    }
    cases.push((b"\x03\xe8bad \xff utf-8".to_vec(), 1007));
    for name in SERVERS {
        let server = ExampleServer::start(name);
        for (payload, expected) in &cases {
            let mut stream = server.connect();
            stream.write_all(&masked_frame(0x88, payload)).unwrap();
            let got = read_close_then_eof(&mut stream, WAIT);
            println!("{name}: Close {payload:02x?} -> {got:?}");
            assert_eq!(
                got.close_code,
                Some(*expected),
                "{name}: Close {payload:02x?}"
            );
            let eof = got.close_to_eof.expect("the server closes TCP");
            assert!(eof < AT_ONCE, "{name}: TCP closed {eof:?} after the Close");
            let line = server.log_line();
            assert!(line.contains(&format!("code={expected}")), "{line}");
            assert!(line.contains("Close frame was itself invalid"), "{line}");
        }
    }
}

/// A length the server will not read past (1 TiB, above the frame limit) or cannot use (the
/// top bit set): our Close with 1009/1002, then TCP closes at once, and the log says that
/// framing was lost — not that the peer stayed silent.
#[test]
fn a_lost_framing_gets_our_close_then_the_server_closes_tcp_at_once() {
    let mut msb = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1];
    msb.extend_from_slice(&KEY);
    let cases = [(frame_header(0x82, 1 << 40, true), 1009), (msb, 1002)];
    for name in SERVERS {
        let server = ExampleServer::start(name);
        for (header, expected) in &cases {
            let mut stream = server.connect();
            stream.write_all(header).unwrap();
            // The start of the payload, as a real sender would write it.
            stream.write_all(&[0x5a; 1000]).unwrap();
            let got = read_close_then_eof(&mut stream, WAIT);
            println!("{name}: header {header:02x?} -> {got:?}");
            assert_eq!(got.close_code, Some(*expected), "{name}");
            let eof = got.close_to_eof.expect("the server closes TCP");
            assert!(eof < AT_ONCE, "{name}: TCP closed {eof:?} after the Close");
            let line = server.log_line();
            assert!(line.contains(&format!("code={expected}")), "{line}");
            assert!(line.contains("frame boundaries were lost"), "{line}");
            assert!(!line.contains("never answered"), "{line}");
        }
    }
}

/// Framing intact (a reserved opcode, text that is not UTF-8): our Close, then the server
/// keeps reading only to find the peer's Close, dropping data; the peer's Close ends it.
#[test]
fn an_intact_framing_failure_waits_for_the_peers_close() {
    let cases = [
        (masked_frame(0x83, b"reserved"), 1002),
        (masked_frame(0x81, b"abc\xff"), 1007),
    ];
    for name in SERVERS {
        let server = ExampleServer::start(name);
        for (frame, expected) in &cases {
            let mut stream = server.connect();
            stream.write_all(frame).unwrap();
            let got = read_close_then_eof(&mut stream, Duration::from_millis(300));
            assert_eq!(got.close_code, Some(*expected), "{name}");
            assert_eq!(
                got.close_to_eof, None,
                "{name}: the server waits for our Close"
            );
            // Data is dropped; our Close completes the handshake.
            stream.write_all(&masked_frame(0x82, b"dropped")).unwrap();
            stream
                .write_all(&masked_frame(0x88, &1000u16.to_be_bytes()))
                .unwrap();
            let mut rest = Vec::new();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            let _ = stream.read_to_end(&mut rest);
            assert!(
                rest.is_empty(),
                "{name}: nothing after our Close: {rest:02x?}"
            );
            let line = server.log_line();
            assert!(line.contains(&format!("code={expected}")), "{line}");
            assert!(line.contains("the peer answered our Close"), "{line}");
        }
    }
}

// ------------------------------------------------------------------------- client role

#[derive(Clone, Copy, Debug)]
enum Client {
    Std,
    Tokio,
}

/// Connects with `client`, receives until the connection ends, and returns the closure.
fn run_client(client: Client, url: &str) -> sockeye::Closure {
    match client {
        Client::Std => {
            let mut ws = sockeye_std::WebSocket::connect(url).unwrap();
            loop {
                match ws.recv() {
                    Ok(_) => {}
                    Err(sockeye_std::Error::Closed(closure)) => return *closure,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        Client::Tokio => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let mut ws = sockeye_tokio::WebSocket::connect(url).await.unwrap();
                loop {
                    match ws.recv().await {
                        Ok(_) => {}
                        Err(sockeye_std::Error::Closed(closure)) => return *closure,
                        Err(e) => panic!("{e}"),
                    }
                }
            }),
    }
}

/// The client fails the connection: its masked Close carries the code, and after a lost
/// framing the client closes TCP at once; after an invalid Close it waits for the server to
/// close first (§7.1.1), which the raw server does as soon as it has read the Close.
#[test]
fn our_clients_send_the_close_they_owe_before_closing_tcp() {
    let cases: [(&str, Vec<u8>, u16, bool); 5] = [
        ("one-byte Close", frame(0x8, b"\x03"), 1002, false),
        (
            "close code 1005",
            frame(0x8, &1005u16.to_be_bytes()),
            1002,
            false,
        ),
        (
            "close reason not UTF-8",
            frame(0x8, b"\x03\xe8\xc0"),
            1007,
            false,
        ),
        (
            "1 TiB frame",
            {
                let mut h = vec![0x82, 127];
                h.extend_from_slice(&(1u64 << 40).to_be_bytes());
                h
            },
            1009,
            true,
        ),
        (
            "length MSB set",
            vec![0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1],
            1002,
            true,
        ),
    ];
    for client in [Client::Std, Client::Tokio] {
        for (what, bytes, expected, framing_lost) in &cases {
            let (bytes, framing_lost) = (bytes.clone(), *framing_lost);
            let (url, server) = raw_server(move |mut stream| {
                stream.write_all(&bytes).unwrap();
                if framing_lost {
                    // The client closes TCP on its own, at once.
                    read_close_then_eof(&mut stream, WAIT)
                } else {
                    let got = read_close_then_eof(&mut stream, Duration::from_millis(300));
                    // It waits for us to close first: do it now.
                    drop(stream);
                    got
                }
            });
            let closure = run_client(client, &url);
            let got = server.join().unwrap();
            println!("{client:?} / {what}: {got:?}; {closure}");
            assert_eq!(got.close_code, Some(*expected), "{client:?} / {what}");
            assert_eq!(closure.code().as_u16(), *expected, "{client:?} / {what}");
            if framing_lost {
                let eof = got.close_to_eof.expect("the client closes TCP");
                assert!(eof < AT_ONCE, "{client:?} / {what}: {eof:?}");
                assert!(closure.to_string().contains("frame boundaries were lost"));
            } else {
                assert_eq!(
                    got.close_to_eof, None,
                    "{client:?} / {what}: the server closes first"
                );
                assert!(closure
                    .to_string()
                    .contains("Close frame was itself invalid"));
            }
        }
    }
}
