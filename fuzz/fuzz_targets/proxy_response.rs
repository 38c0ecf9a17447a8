//! `proxy_response`: arbitrary bytes as an HTTP proxy's answer to `CONNECT`
//! (`sockeye_core::adapter::proxy::TunnelResponse`), delivered whole and byte by byte.
//!
//! Invariants:
//! - no panic;
//! - memory is bounded: no verdict is still pending past `MAX_RESPONSE_HEAD` bytes;
//! - whole and byte-by-byte deliveries reach the same verdict (open, or the same error), and
//!   byte by byte the tunnel opens exactly at the head's last byte (nothing of the tunnel is
//!   consumed);
//! - the tunnel opens only on a 2xx status line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockeye_core::adapter::proxy::{TunnelResponse, MAX_RESPONSE_HEAD};

fuzz_target!(|data: &[u8]| {
    let whole = TunnelResponse::new().push(data);
    let mut bytewise = TunnelResponse::new();
    let mut verdict = Ok(false);
    let mut at = 0;
    for (i, b) in data.iter().enumerate() {
        verdict = bytewise.push(core::slice::from_ref(b));
        at = i + 1;
        if verdict != Ok(false) {
            break;
        }
    }
    if verdict == Ok(false) {
        assert!(data.len() <= MAX_RESPONSE_HEAD + 4, "pending past the bound");
        assert_eq!(whole, Ok(false));
        return;
    }
    assert!(at <= MAX_RESPONSE_HEAD + 4);
    assert!(bytewise.leftover().is_empty());
    match (&whole, &verdict) {
        (Ok(true), Ok(true)) => {
            // httparse, like RFC 9112 §2.2 recipients, skips empty lines before the status line.
            let start = data.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(0);
            let line = &data[start..];
            assert!(line.starts_with(b"HTTP/1.") && line.get(9) == Some(&b'2'), "{data:?}");
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        other => panic!("whole and byte by byte disagree: {other:?}"),
    }
});
