//! The feature `close-reasons` (default): the Close we send when the peer breaks the protocol
//! carries the violation's reason text with it, and the code alone without it. Either way the
//! code is the one RFC 6455 asks for and the connection fails the same way.

use sockeye_core::{Config, Connection, Instant, ProtocolError};

#[test]
fn failure_close_carries_the_reason_text_only_with_the_feature() {
    let mut conn = Connection::client(Config::new(), Instant::ZERO, 7);
    // A server frame with reserved opcode 0x3: RFC 6455 §5.2, fail with 1002.
    let mut input = [0x83, 0x00];
    let _ = conn.read(&mut input, Instant::ZERO);
    assert_eq!(conn.failure(), Some(ProtocolError::ReservedOpcode(3)));
    let mut out = [0u8; 64];
    let n = conn.poll_transmit(&mut out, Instant::ZERO);
    // Client frames are masked: unmask the payload to read the code and reason.
    assert_eq!(out[0], 0x88, "a Close frame");
    let len = usize::from(out[1] & 0x7F);
    assert_eq!(n, 2 + 4 + len);
    let key = [out[2], out[3], out[4], out[5]];
    let payload: Vec<u8> = out[6..n]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ key[i % 4])
        .collect();
    assert_eq!(payload[..2], [0x03, 0xEA], "1002");
    let reason = &payload[2..];
    if cfg!(feature = "close-reasons") {
        assert_eq!(reason, ProtocolError::ReservedOpcode(3).reason().as_bytes());
    } else {
        assert!(reason.is_empty(), "{reason:?}");
    }
}
