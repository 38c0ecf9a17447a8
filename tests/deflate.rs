//! permessage-deflate's failures over real sockets, against the `echo_server` and
//! `echo_server_std` example processes: a raw client (bytes, not a WebSocket library) that
//! negotiates the extension by hand and sends compressed frames built with the core's
//! compressor. A frame of about a megabyte that inflates to a gibibyte must end in 1009 with the
//! server's memory bounded; inflated text that is not UTF-8 and data that does not inflate in
//! 1007. Interoperation (context takeover, window sizes, both roles) is `tests/real_peers.rs`.

use std::io::Write;
use std::net::TcpStream;

use sockeye_core::deflate::{DeflateSettings, PerMessageDeflate};
use sockeye_core::handshake::deflate::DeflateParams;
use sockeye_core::Role;
use sockeye_test_support::{masked_frame, ExampleServer};

const SERVERS: [&str; 2] = ["echo_server", "echo_server_std"];

/// The offer a browser makes.
const OFFER: &str = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/// A connection to `server` with permessage-deflate negotiated.
fn connect(server: &ExampleServer) -> TcpStream {
    let (stream, head) = server.connect_with(OFFER);
    assert!(
        head.contains("Sec-WebSocket-Extensions: permessage-deflate"),
        "{head}"
    );
    stream
}

/// A client's compressor, with no context takeover (each message its own stream).
fn compressor(level: u8) -> PerMessageDeflate {
    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: true,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    PerMessageDeflate::new(
        params,
        Role::Client,
        DeflateSettings::default().with_level(level),
    )
}

/// Peak resident memory of process `pid`, in KiB (Linux `/proc`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
fn a_megabyte_that_inflates_to_a_gibibyte_gets_1009_and_memory_stays_bounded() {
    // One MiB of zeros compressed (its own stream, ending byte-aligned with a sync flush),
    // repeated 1024 times: a valid DEFLATE stream of about a megabyte for 1 GiB.
    let mut one = Vec::new();
    compressor(9).compress(&vec![0u8; 1 << 20], false, &mut one);
    let mut bomb = one.repeat(1024);
    bomb.truncate(bomb.len() - 4);
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    let frame = masked_frame(0x82 | 0x40, &bomb);
    for name in SERVERS {
        let server = ExampleServer::start(name);
        let mut stream = connect(&server);
        let before = peak_rss_kib(server.pid());
        // The server skips the rest of the frame once it failed (framing is intact) and
        // waits for our Close.
        stream.write_all(&frame).unwrap();
        let mut close = [0u8; 4];
        std::io::Read::read_exact(&mut stream, &mut close).unwrap();
        assert_eq!(close[0], 0x88, "{name}: {close:?}");
        assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1009, "{name}");
        stream
            .write_all(&masked_frame(0x88, &1009u16.to_be_bytes()))
            .unwrap();
        let line = server.log_line();
        assert!(line.contains("code=1009"), "{name}: {line}");
        // The limits are 16 MiB per frame and 64 MiB per message, inflated (the defaults):
        // the server may hold that much, never the gibibyte.
        let grown = peak_rss_kib(server.pid()).saturating_sub(before);
        println!("{name}: peak memory grew by {grown} KiB for a 1 GiB bomb");
        assert!(grown < 160 * 1024, "{name}: grew by {grown} KiB");
    }
}

#[test]
fn inflated_text_that_is_not_utf8_and_undecodable_data_get_1007() {
    let mut invalid_text = Vec::new();
    compressor(6).compress(b"compressed text with \xff in it", true, &mut invalid_text);
    let cases: [(&str, Vec<u8>); 2] = [
        ("invalid UTF-8", masked_frame(0x81 | 0x40, &invalid_text)),
        // BTYPE 11 (reserved): not a DEFLATE stream.
        (
            "undecodable",
            masked_frame(0x82 | 0x40, &[0xff, 0xff, 0xff]),
        ),
    ];
    for name in SERVERS {
        let server = ExampleServer::start(name);
        for (what, frame) in &cases {
            let mut stream = connect(&server);
            stream.write_all(frame).unwrap();
            // Our Close first; the server waits for the client's Close (framing is intact).
            let mut close = [0u8; 4];
            std::io::Read::read_exact(&mut stream, &mut close).unwrap();
            assert_eq!(close[0], 0x88, "{name}, {what}: {close:?}");
            assert_eq!(
                u16::from_be_bytes([close[2], close[3]]),
                1007,
                "{name}, {what}"
            );
            stream
                .write_all(&masked_frame(0x88, &1007u16.to_be_bytes()))
                .unwrap();
            let line = server.log_line();
            assert!(line.contains("code=1007"), "{name}, {what}: {line}");
            // The closure says the extension was in use.
            assert!(
                line.ends_with("[permessage-deflate]"),
                "{name}, {what}: {line}"
            );
        }
    }
}

#[test]
fn rsv1_on_a_continuation_frame_gets_1002() {
    let mut first = Vec::new();
    let mut c = compressor(6);
    c.compress(b"first half, ", false, &mut first);
    let mut second = Vec::new();
    c.compress(b"second half", true, &mut second);
    let mut wire = masked_frame(0x01 | 0x40, &first);
    wire.extend(masked_frame(0x80 | 0x40, &second));
    for name in SERVERS {
        let server = ExampleServer::start(name);
        let mut stream = connect(&server);
        stream.write_all(&wire).unwrap();
        let mut close = [0u8; 4];
        std::io::Read::read_exact(&mut stream, &mut close).unwrap();
        assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1002, "{name}");
    }
}
